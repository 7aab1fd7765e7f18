"""Signal-mode simulation: one bar-cycle driver for independent columns and shared-cash groups.

A *column* is one (asset, parameter set) pair; columns are split into *groups* that share
cash. ``cash_sharing=False`` is one group per column (run in parallel with ``prange``);
``cash_sharing=True`` is one group holding every column (a serial bar loop with an inner
loop over columns). Every group, of one column or many, runs ``_run_group_nb``.

State lives in named records (``book``): a position record per column (``POSITION_DT``:
signed quantity, average price, entry costs, excursions, rule levels) and an order record per
column (``ORDER_DT``: the action waiting for the column's next bar, its signal bar, the exit
reason a limit forced on it, a resting order's levels and tests). The phases are in
``phases.py``; every fill lands in ``fills.py`` (``exit_nb``, ``enter_nb``, ``apply_order_nb``)
and every record goes through ``book``'s writers.

Per bar, in this order (the fill rules documented in README "Fill rules"):

1. open phase   - orders pending from an earlier bar fill at this bar's fill price
                  (``fill="next_open"``): exits of the whole group first, then entries;
   resting      - resting entry orders (limit, stop, stop-limit; README "Order types") are
                  tested on the bar, in every fill timing, and those that fill enter
                  (``phases.resting_phase_nb``, ``rest_one_nb``);
2. intrabar     - position rules; held positions see the bar's high/low (MFE/MAE);
3. close phase  - pending orders fill here for ``fill="next_close"``;
4. signals      - each column with a bar decides an action from its signal bits and its
                  position after this bar's fills (a resting order is first cancelled or
                  replaced as its signals say: ``resting.signal_rest_nb``, ``_place_nb``);
                  for ``fill="same_close"`` it fills at once (another close phase), else it
                  waits for the column's next bar;
5. valuation    - positions are marked at the close (the last close carries over missing bars);
                  a group with portfolio limits checks them here (``limits.close_of_bar_nb``):
                  forced exits are orders for the next bar, like signals.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, prange

from ml4t_vec._kernels import F64, I64
from ml4t_vec._kernels.book import close_open_nb, month_start_nb, nights_nb, quiet_nights_nb, write_reject_nb
from ml4t_vec._kernels.codes import (
    ACT_ADD_LONG,
    ACT_CLOSE,
    ACT_NONE,
    CASH_VECTORBT,
    EFFECT_ENTRY,
    EFFECT_EXIT,
    EFFECT_INCREASE,
    NO_EXIT,
    ORDER_BY_ASSET,
    ORDER_MARKET,
    ORDER_ML4T,
    REASON_END_OF_DATA,
    REASON_SIGNAL,
    REJ_DAILY_LOSS_LIMIT,
    REJ_MAX_DRAWDOWN,
    REJ_NO_LEVEL,
    REJ_NO_NEXT_BAR,
    REJ_REPLACED,
    SIG_ORDERS,
    SIG_SESSION_EXIT,
    SIG_VALID,
    TIMING_NEXT_CLOSE,
    TIMING_NEXT_OPEN,
    TIMING_SAME_CLOSE,
)
from ml4t_vec._kernels.fills import (
    fill_one_nb,
    rule_fired_nb,
)
from ml4t_vec._kernels.grid import gather_assets_nb, readonly_nb
from ml4t_vec._kernels.limits import close_of_bar_nb, new_limit_state_nb
from ml4t_vec._kernels.orders import (
    decide_nb,
    entry_direction_nb,
    is_exit_action_nb,
)
from ml4t_vec._kernels.phases import (
    PHASE_ALL,
    PHASE_ENTRIES,
    PHASE_EXITS,
    phase_nb,
    rest_one_nb,
    resting_phase_nb,
    rules_nb,
    start_rules_nb,
)
from ml4t_vec._kernels.resting import is_resting_nb, place_nb, signal_rest_nb
from ml4t_vec._kernels.risk import check_exit_nb, next_peak_nb


class Prices(NamedTuple):
    """Price columns as the kernels read them: cell (asset a, bar t) of each is element
    ``off[a] + t * step`` (``_layout.Placement``: a complete panel's long columns in place, in
    asset-major or timestamp-major order, or a raveled grid for a ragged panel)."""

    open: F64
    high: F64
    low: F64
    close: F64
    fill: F64  # the price orders fill at (open, close or a custom ``price=``)
    off: I64  # (n_assets,)
    step: I64  # (1,)


# What runs on every bar of every column (the bookkeeping, the position-rule check, the signal
# decision, the valuation) is written out in ``_run_group_nb``'s own loops over columns, on
# arrays it bound once: a call per bar with the price and parameter arrays as arguments made a
# one-column account 4x slower (each array is passed as seven words), and reading an array out
# of a NamedTuple inside the bar loop costs an atomic incref/decref pair per access. The rule
# check itself is inlined (``risk.check_exit_nb``, scalars only). What runs once per fill
# (``fills.py``, the phases, the record writers) is a plain call taking the records and tuples.


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def _place_nb(o, cs, c, t, act, keep, close_t, levels, sink):
    """Column c's action ``act`` decided at bar t, entries being resting orders: an entry (or a
    reversal's entry part) places an order at levels from the close ``close_t`` and the price
    arrays (``levels[6]``, ``levels[7]``), replacing a resting one (``replaced``), unless
    ``keep`` (the resting one stays: no action); a null level refuses it (``no_level``: an
    entry is dropped, a reversal only exits). Returns the action to record."""
    if act == ACT_CLOSE or act == ACT_NONE:
        return act
    if keep:
        return ACT_NONE
    d = entry_direction_nb(act)
    side = np.int64(1 if d > 0.0 else -1)
    if is_resting_nb(o, cs, bool(1)):  # (a resting order the signal step left: the same side's)
        write_reject_nb(sink, c, t, side, np.int64(EFFECT_ENTRY), np.int64(REJ_REPLACED), np.nan, 0.0, np.nan)
    if place_nb(o, cs, c, t, d, close_t, levels[6], levels[7]):
        return act
    write_reject_nb(sink, c, t, side, np.int64(EFFECT_ENTRY), np.int64(REJ_NO_LEVEL), np.nan, 0.0, np.nan)
    if is_exit_action_nb(act):
        return ACT_CLOSE
    o["action"] = ACT_NONE  # (a replaced order is gone too)
    return ACT_NONE


@njit(cache=True, nogil=True, error_model="numpy")
def _run_group_nb(g, c0, c1, col_asset, open_, fill_price, close, high, low, off, step, sig, timing, cash, cols, size,
                  bar_costs, levels, lp, book, orders, sink, cash_out, value_out, acc, k, order_buf, one_column,
                  order_model, resting):  # fmt: skip
    """Simulate group g (columns c0..c1, sharing ``cash``) over every bar; returns its final cash.

    ``resting``: None, or (some column's entries are resting orders, README "Order types") any
    int: the resting phase and the orders' lifecycle are compiled into that copy only (in the order
    model's copy they made a first run about 7 s longer).
    ``one_column``: None in the shared-cash drivers, whose groups have several columns (numba
    leaves the one-column paths below out of that compiled copy: the demo's first-run compile
    19.7 -> 16 s), any int in the independent-accounts driver.

    A one-column group (an independent account) runs the same loops, each of one column: the
    records equal a shared-cash group's whenever cash never binds (tests/kernels/test_paths.py).
    """
    vbt = cols[c0]["cash_rule"] == CASH_VECTORBT
    by_asset = cols[c0]["fill_order"] == ORDER_BY_ASSET and c1 - c0 > 1
    # fill_order="ml4t" (ml4t-backtest's bar cycle): the open's signal exits, then the position
    # rules (their exits' cash funds the open's entries), then the entries, older signals first
    ml4t_order = cols[c0]["fill_order"] == ORDER_ML4T and timing == TIMING_NEXT_OPEN
    lim = (lp.max_positions[g], lp.max_position_weight[g], lp.max_gross_leverage[g], lp.leverage_set[g],
           lp.max_net_exposure[g])  # fmt: skip
    lim_on = lp.on[g]
    prio = lp.priority
    prio_on = lp.priority_on[g]
    day = lp.day
    # the nights since the previous bar: interest on the cash, borrow fees on shorts (``book.nights_nb``)
    borrow_on, rates, nights = lp.borrow_on[g], lp.borrow, lp.nights
    debit, credit = lp.cash_rate[g], lp.credit_rate[g]
    accrues = borrow_on or debit > 0.0 or credit > 0.0
    paid = np.int64(-1)  # the bar whose nights the quiet-bar loop paid before it stopped
    lstate = new_limit_state_nb(cash)
    # a Tiered commission (compiled into the order model's copy, launch.order_model): the group's
    # account counts its shares per month in its first column's record
    tiered = False
    if order_model is not None:
        for c in range(c0, c1):
            book[c]["acct"] = c0
            tiered = tiered or cols[c]["n_tiers"] > 0
    month = lp.month
    steps = levels[5]  # RiskParams.scale_out
    values = np.zeros(c1 - c0 if lim_on else 0)
    n_bars = sig.shape[1]
    n_pending = 0
    per_col = value_out.shape[0] > 0
    no_part = np.int64(PHASE_ALL)
    any_rules = False
    for c in range(c0, c1):
        any_rules = any_rules or cols[c]["rules_on"]
    start = np.int64(1) if any_rules else np.int64(0)  # a phase starts the rule levels of its entries
    # a one-column account skips ahead over quiet bars (below); portfolio limits check every close
    skips = one_column is not None and c1 - c0 == 1 and not lim_on
    # and fills its orders through a lean call (``fills.fill_one_nb``, every order model: the group
    # phases made pyramiding and scale-out runs 2.5x, and vectorbt's model 1.9x slower;
    # fill_order="ml4t" runs the position rules between an order's exit and its entry: the group
    # phases do that)
    one = skips and not ml4t_order
    ruled = np.int64(-1)  # the bar whose rules step the quiet-bar loop ran before it stopped
    fired = np.int64(-1)  # the bar the quiet-bar loop found a rule exit on, its reason and price
    fired_reason = np.int64(NO_EXIT)
    fired_ref = 0.0
    t = np.int64(-1)
    while t < n_bars - 1:
        t += 1
        if one_column is not None and skips and orders[c0]["action"] == ACT_NONE:
            # Quiet bars: no order waits, and the bar has no signal to decide on and no rule exit.
            # Such a bar only counts, marks and (if held) moves the excursions and the trailing
            # peak; a tight loop with the state in locals does that until the next bar with
            # anything to do, which then runs the whole cycle below. Most bars of a signal
            # backtest are quiet: the full cycle on every bar made a one-column account 4x slower.
            b = book[c0]
            cs = cols[c0]
            q = b["qty"]
            rules = q != 0.0 and cs["rules_on"]
            d = 1.0 if q > 0.0 else -1.0
            base = off[col_asset[c0]]
            seen = b["bars_seen"]
            last = b["last_bar"]
            lc = b["last_close"]
            hi = b["hi"]
            lo = b["lo"]
            peak = b["peak"]
            anchor, sl, tsl, slp, tpp = b["anchor"], b["sl"], b["tsl"], b["slp"], b["tpp"]
            tp = b["tp"]
            if order_model is not None:  # the next scale-out step is a nearer take-profit
                tp = min(tp, b["step_gain"])
            entered, entry_bar = b["entry_count"], b["entry_bar"]
            owed = b["borrow"]
            max_bars, session, on_entry = cs["max_bars"], cs["session_exit"], cs["stop_on_entry_bar"]
            ta, intrabar, tsrc = cs["trailing_activation"], cs["intrabar"], cs["trailing_source"]
            signal_rules = cs["signal_rules"]
            # pyramiding is compiled only when order_model is not None (a run without it folds this to False;
            # bool(0), not a literal: numba would compile decide_nb once per literal value)
            can_add = bool(0)
            if order_model is not None:
                can_add = cs["accumulate"] and b["entries"] < cs["max_entries"]
            while t < n_bars:
                # the nights before the bar (as nights_nb; the bar cycle skips them on the bar this stops at)
                if order_model is not None and accrues:
                    paid = t
                    cash, owed = quiet_nights_nb(cash, owed, q, lc, rates, c0, last, borrow_on, debit, credit,
                                                 nights[t])  # fmt: skip
                bits = sig[c0, t]
                if (bits & SIG_VALID) != 0:
                    i = base + t * step
                    if rules:  # the bar's rules step (as rules_nb): a rule exit runs the whole cycle
                        reason, ref = check_exit_nb(d, anchor, peak, seen + 1 - entered, max_bars,
                                                  session and (bits & SIG_SESSION_EXIT) != 0, open_[i], high[i], low[i],
                                                  entry_bar == t, on_entry, sl, tp, tsl, ta, slp, tpp,
                                                  intrabar)  # fmt: skip
                        if reason != NO_EXIT:
                            fired, fired_reason, fired_ref = t, reason, ref
                            break
                        peak = next_peak_nb(d, peak, close[i], high[i], low[i], tsrc)
                    if q != 0.0:
                        hi = max(hi, high[i])
                        lo = min(lo, low[i])
                    if (bits & SIG_ORDERS) != 0 and decide_nb(bits, q, signal_rules, can_add) != ACT_NONE:
                        ruled = t  # a signal that orders something: the cycle goes on from its decision
                        break
                    seen += 1
                    last = t
                    lc = close[i]
                v = q * lc if q != 0.0 else 0.0
                acc[k, 0, t] += cash
                acc[k, 1, t] += v
                acc[k, 2, t] += abs(v)
                if per_col:
                    value_out[c0, t] = v
                    cash_out[g, t] = cash
                t += 1
            b["bars_seen"] = seen
            b["last_bar"] = last
            b["last_close"] = lc
            b["hi"] = hi
            b["lo"] = lo
            b["peak"] = peak
            b["borrow"] = owed
            if t >= n_bars:
                break
        # the nights since the previous bar, before it starts (order_model: see launch.order_model)
        if order_model is not None and accrues and nights[t] > 0.0 and paid != t:
            cash = nights_nb(book, c0, c1, cash, rates, borrow_on, debit, credit, nights[t])
        if order_model is not None and tiered:  # (quiet bars fill nothing: the count restarts on the month's
            month_start_nb(book, c0, month[t])  # first bar with a fill)
        for c in range(c0, c1):
            if (sig[c, t] & SIG_VALID) != 0:
                b = book[c]
                b["bars_seen"] += 1
                b["last_bar"] = t
        # entries filling on this bar are refused while the breaker or the daily loss limit holds
        block = -1
        if lim_on:
            if lstate[1] != 0.0:
                block = REJ_MAX_DRAWDOWN
            elif lstate[5] == day[t]:
                block = REJ_DAILY_LOSS_LIMIT
        # fill_order="asset" (vectorbt): each column runs the whole bar cycle before the next one;
        # else every phase runs over the whole group
        n_runs = c1 - c0 if by_asset else 1
        for j in range(n_runs):
            e0 = c0 + j if by_asset else c0
            e1 = e0 + 1 if by_asset else c1
            # by asset, only a column with an order has anything to fill (the phase marks the whole
            # group, so calling it for every column would cost assets^2 per bar). Three explicit
            # fill sites in bar-cycle order (TIMING_* codes 0, 1, 2), not a loop over phases: the
            # loop made fill="next_open" 1.4x slower (benchmarks/bench_kernel.py, 2026-11-27)
            due = n_pending > 0 and (not by_asset or orders[e0]["action"] != ACT_NONE)
            if timing == TIMING_NEXT_OPEN and due and one_column is not None and one:  # 1. the open's fills
                cash, n_pending = fill_one_nb(book, orders, c0, t, cols[c0], fill_price[off[col_asset[c0]] + t * step],
                                              sig[c0, t], size, bar_costs, lim[2], cash, sink, order_model)  # fmt: skip
                if any_rules:
                    start_rules_nb(t, e0, e1, col_asset, close, high, low, off, step, cols, levels, book, orders,
                                    bool(0))  # fmt: skip
            elif timing == TIMING_NEXT_OPEN and due:
                part = np.int64(PHASE_EXITS) if ml4t_order else no_part
                cash, n_pending = phase_nb(t, c0, c1, e0, e1, fill_price, off, step, col_asset, sig, cols, size,
                                            bar_costs, cash, book, orders, lim, block, prio, prio_on, sink, part,
                                            order_buf, close, high, low, levels, start, order_model)  # fmt: skip
            if resting is not None and n_pending > 0 and one_column is not None and one:  # 1b. resting entry orders
                i = off[col_asset[c0]] + t * step  # (any timing; a one-column account's through a lean call)
                cash, n_pending = rest_one_nb(book, orders, c0, t, cols[c0], open_[i], high[i], low[i], close[i],
                                              close[off[col_asset[c0]] + orders[c0]["bar"] * step], sig[c0, t], size,
                                              bar_costs, lim[2], cash, sink, levels, bool(any_rules), day,
                                              order_model)  # fmt: skip
            elif resting is not None and n_pending > 0:
                cash, n_pending = resting_phase_nb(t, c0, c1, open_, high, low, close, off, step, col_asset, sig, cols,
                                                   size, bar_costs, cash, book, orders, lim, block, prio, prio_on, sink,
                                                   order_buf, levels, bool(any_rules), day, order_model)  # fmt: skip
            # 2. position rules, then what is held through the bar sees its range and moves its peak.
            # A one-column account's quiet-bar loop ran this step for the bar it stopped at, or
            # found the rule exit it takes here; without rules the step only moves the excursions.
            if one_column is not None and skips and fired == t:
                b = book[c0]
                cash, more = rule_fired_nb(book, c0, t, fired_reason, fired_ref, cols[c0], steps, bar_costs, vbt, cash,
                                           sink, order_model)  # fmt: skip
                if more:  # a scale-out step: the rest of the bar, from its price
                    cash = rules_nb(t, c0, c0 + 1, col_asset, open_, high, low, close, off, step, sig, cols, book,
                                     vbt, cash, sink, order_model, steps, bar_costs, fired_ref)  # fmt: skip
                elif b["qty"] != 0.0:  # vectorbt's cash rule cut the cover: the rest is held through the bar
                    i = off[col_asset[c0]] + t * step
                    b["peak"] = next_peak_nb(1.0 if b["qty"] > 0.0 else -1.0, b["peak"], close[i], high[i], low[i],
                                             cols[c0]["trailing_source"])  # fmt: skip
                    b["hi"] = max(b["hi"], high[i])
                    b["lo"] = min(b["lo"], low[i])
            elif one_column is not None and skips and not any_rules:
                b = book[c0]
                if b["qty"] != 0.0 and (sig[c0, t] & SIG_VALID) != 0:
                    i = off[col_asset[c0]] + t * step
                    hi, lo = high[i], low[i]
                    if order_model is not None and b["from_bar"] == t and b["from_open"] == b["from_open"]:
                        hi, lo = b["from_high"], b["from_low"]
                    b["hi"] = max(b["hi"], hi)
                    b["lo"] = min(b["lo"], lo)
            elif ruled != t and (not skips or book[c0]["qty"] != 0.0):
                cash = rules_nb(t, e0, e1, col_asset, open_, high, low, close, off, step, sig, cols, book, vbt, cash,
                                 sink, order_model, steps, bar_costs, np.nan)  # fmt: skip
            if ml4t_order and n_pending > 0:  # the open's entries, after the bar's rule exits
                # new positions: rule levels, then the bar they were held through (rules 2)
                cash, n_pending = phase_nb(t, c0, c1, e0, e1, fill_price, off, step, col_asset, sig, cols, size,
                                            bar_costs, cash, book, orders, lim, block, prio, prio_on, sink,
                                            np.int64(PHASE_ENTRIES), order_buf, close, high, low, levels, np.int64(2),
                                            order_model)  # fmt: skip
            due = n_pending > 0 and (not by_asset or orders[e0]["action"] != ACT_NONE)
            if timing == TIMING_NEXT_CLOSE and due and one_column is not None and one:  # 3. the close's fills
                cash, n_pending = fill_one_nb(book, orders, c0, t, cols[c0], fill_price[off[col_asset[c0]] + t * step],
                                              sig[c0, t], size, bar_costs, lim[2], cash, sink, order_model)  # fmt: skip
                if any_rules:
                    start_rules_nb(t, e0, e1, col_asset, close, high, low, off, step, cols, levels, book, orders,
                                    bool(0))  # fmt: skip
            elif timing == TIMING_NEXT_CLOSE and due:
                cash, n_pending = phase_nb(t, c0, c1, e0, e1, fill_price, off, step, col_asset, sig, cols, size,
                                            bar_costs, cash, book, orders, lim, block, prio, prio_on, sink, no_part,
                                            order_buf, close, high, low, levels, start, order_model)  # fmt: skip
            # 4. signals: an action waits for the column's next bar (or fills now at the close)
            for c in range(e0, e1):
                bits = sig[c, t]
                keep = bool(0)  # a resting order stays and the bar's same-side entry is ignored (on_new_signal="keep")
                if resting is not None and (bits & SIG_VALID) != 0:
                    o = orders[c]
                    if o["bar"] < t and is_resting_nb(o, cols[c], order_model):
                        gone, keep = signal_rest_nb(o, cols[c], c, t, bits, sink)
                        n_pending -= 1 if gone else 0
                if (bits & SIG_VALID) != 0 and (bits & SIG_ORDERS) != 0:
                    b = book[c]
                    o = orders[c]
                    cs = cols[c]
                    can_add = bool(0)
                    if order_model is not None:
                        can_add = cs["accumulate"] and b["entries"] < cs["max_entries"]
                    act = decide_nb(bits, b["qty"], cs["signal_rules"], can_add)
                    if act != ACT_NONE and b["rule_exit_bar"] == t and not cols[c]["reenter_on_stop_bar"]:
                        act = ACT_NONE  # no re-entry on the bar a position rule closed (flat now)
                    if (
                        act != ACT_NONE
                        and o["reason"] != REASON_SIGNAL
                        and (act == ACT_CLOSE or not is_exit_action_nb(act))
                    ):
                        act = ACT_NONE  # a forced close stays; only a reversal (exit + entry) replaces it
                    if resting is not None and act != ACT_NONE and cs["order_type"] != ORDER_MARKET:
                        had = o["action"] != ACT_NONE
                        act = _place_nb(o, cs, c, t, act, keep, close[off[col_asset[c]] + t * step], levels, sink)
                        n_pending -= 1 if had and o["action"] == ACT_NONE else 0
                    if act != ACT_NONE:
                        if o["action"] == ACT_NONE:
                            n_pending += 1
                        o["action"] = act
                        o["bar"] = t
            due = n_pending > 0 and (not by_asset or orders[e0]["action"] != ACT_NONE)
            if timing == TIMING_SAME_CLOSE and due and one_column is not None and one:
                cash, n_pending = fill_one_nb(book, orders, c0, t, cols[c0], fill_price[off[col_asset[c0]] + t * step],
                                              sig[c0, t], size, bar_costs, lim[2], cash, sink, order_model)  # fmt: skip
                if any_rules:
                    start_rules_nb(t, e0, e1, col_asset, close, high, low, off, step, cols, levels, book, orders,
                                    bool(0))  # fmt: skip
            elif timing == TIMING_SAME_CLOSE and due:
                cash, n_pending = phase_nb(t, c0, c1, e0, e1, fill_price, off, step, col_asset, sig, cols, size,
                                            bar_costs, cash, book, orders, lim, block, prio, prio_on, sink, no_part,
                                            order_buf, close, high, low, levels, start, order_model)  # fmt: skip
        # 5. valuation at the close
        net_v = 0.0
        gross_v = 0.0
        for c in range(c0, c1):
            b = book[c]
            if (sig[c, t] & SIG_VALID) != 0:
                b["last_close"] = close[off[col_asset[c]] + t * step]
            q = b["qty"]
            v = q * b["last_close"] if q != 0.0 else 0.0
            net_v += v
            gross_v += abs(v)
            if lim_on:
                values[c - c0] = v
            if per_col:
                value_out[c, t] = v
        acc[k, 0, t] += cash
        acc[k, 1, t] += net_v
        acc[k, 2, t] += gross_v
        if per_col:
            cash_out[g, t] = cash
        if lim_on:
            n_pending += close_of_bar_nb(t, c0, c1, cash + net_v, gross_v, values, book, orders, day, lim[2],
                                         lim[3], lp.max_drawdown[g], lp.drawdown_action[g], lp.drawdown_cooldown[g],
                                         lp.daily_loss_limit[g], lstate)  # fmt: skip

    for c in range(c0, c1):
        o = orders[c]
        act = o["action"]
        q = book[c]["qty"]
        if resting is not None and act != ACT_NONE and o["tests"] > 0 and is_resting_nb(o, cols[c], order_model):
            act = ACT_NONE  # a resting order tested and still resting at the end: no row
            o["action"] = ACT_NONE
        if act != ACT_NONE:  # the signal came on the column's last bar: nothing to fill it on
            pb = o["bar"]
            if is_exit_action_nb(act) and q != 0.0:
                side = np.int64(-1) if q > 0.0 else np.int64(1)
                write_reject_nb(sink, c, pb, side, np.int64(EFFECT_EXIT), np.int64(REJ_NO_NEXT_BAR), abs(q), 0.0,
                                np.nan)  # fmt: skip
            if act != ACT_CLOSE:
                side = np.int64(1) if entry_direction_nb(act) > 0.0 else np.int64(-1)
                effect = np.int64(EFFECT_INCREASE if act >= ACT_ADD_LONG else EFFECT_ENTRY)
                write_reject_nb(sink, c, pb, side, effect, np.int64(REJ_NO_NEXT_BAR), np.nan, 0.0, np.nan)
            o["action"] = ACT_NONE
        close_open_nb(book, c, np.int64(REASON_END_OF_DATA), sink)  # still open: at the last close, no exit costs
    return cash


# Three drivers over the same per-group body, so a run compiles only the one it needs (cold
# compile is what a new user waits for; README "Performance"; ``launch.driver`` picks one):
# independent one-column accounts (parallel over chunks of columns), one shared-cash portfolio
# (serial: one group), and many shared-cash groups (a sweep; parallel over chunks of groups).
# Each takes the same arguments: ``px`` the ``Prices`` columns (cell (a, t) at ``off[a] + t *
# step``); sig (n_cols, n_bars) uint8; col_asset (n_cols,) int64; group_offsets (n_groups + 1,);
# chunk_offsets (n_chunks + 1,) over groups; init_cash (n_groups,); ``cols`` the columns'
# settings (``columns.COLUMN_DT``), ``size`` OrderParams' size and ``levels`` RiskParams' five
# rule fractions and levels (2-D, per bar when given as expressions) and its scale-out steps;
# ``lp`` LimitParams, arrays per group; ``book`` / ``orders`` the state records per column;
# ``sink`` the record buffers, one slice per column (``book.slice_sink``), so threads never share
# a slot. ``acc`` (n_chunks, 3, n_bars) accumulates each chunk's cash, net and gross position
# value per bar (the portfolio series, O(bars) memory). ``cash_out`` (n_groups, n_bars) and
# ``value_out`` (n_cols, n_bars) get per-group / per-column series only when they are not empty
# (``asset_equity``).


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _columns_chunk_nb(k, group_offsets, chunk_offsets, col_asset, px, sig, timing, init_cash, cols, size, bar_costs,
                      levels, lp, book, orders, sink, acc, cash_out, value_out, order_model, resting):  # fmt: skip
    """Chunk k of one-column groups (independent accounts).

    Price columns that are not asset-major (``step != 1``: a complete panel read in
    timestamp-major order) are first copied, a few columns at a time, into this thread's own
    asset-major scratch arrays (a few MB): the bar loop then reads memory in order instead of
    jumping a whole row of the panel (8 KB at 1,000 assets) per bar, which made it 3x slower
    (benchmarks/bench_core.py)."""
    open_, high, low, close, fill_price, off = px.open, px.high, px.low, px.close, px.fill, px.off
    step = px.step[0]
    g_lo, g_hi = chunk_offsets[k], chunk_offsets[k + 1]
    n_bars = sig.shape[1]
    order_buf = np.empty(1, dtype=np.int64)  # the phases' scratch
    width = 32 if step != 1 else g_hi - g_lo  # columns per scratch block
    if step != 1:
        scratch = np.empty((5, width * n_bars))
        local = np.zeros(off.shape[0], dtype=np.int64)
        assets = np.empty(width, dtype=np.int64)
    for b0 in range(g_lo, g_hi, max(width, 1)):
        b1 = min(g_hi, b0 + width)
        if step != 1:
            for j in range(b1 - b0):
                assets[j] = col_asset[group_offsets[b0 + j]]
                local[assets[j]] = j * n_bars
            for i, src in enumerate((open_, high, low, close)):
                gather_assets_nb(src, off, step, assets[: b1 - b0], scratch[i], n_bars)
            fill_at = 4  # the fill price is usually the open or the close column itself: not copied twice
            if fill_price.ctypes.data == open_.ctypes.data:
                fill_at = 0
            elif fill_price.ctypes.data == close.ctypes.data:
                fill_at = 3
            else:
                gather_assets_nb(fill_price, off, step, assets[: b1 - b0], scratch[4], n_bars)
            o_, h_, l_, c_, f_ = (readonly_nb(scratch[0]), readonly_nb(scratch[1]), readonly_nb(scratch[2]),
                                  readonly_nb(scratch[3]), readonly_nb(scratch[fill_at]))  # fmt: skip
            off_, step_ = readonly_nb(local), 1
        else:
            o_, h_, l_, c_, f_, off_, step_ = open_, high, low, close, fill_price, off, step
        for g in range(b0, b1):
            c0 = group_offsets[g]
            _run_group_nb(g, c0, c0 + 1, col_asset, o_, f_, c_, h_, l_, off_, step_, sig, timing, init_cash[g], cols,
                          size, bar_costs, levels, lp, book, orders, sink, cash_out, value_out, acc, np.int64(k),
                          order_buf, np.int64(1), order_model, resting)  # fmt: skip


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _groups_chunk_nb(k, group_offsets, chunk_offsets, col_asset, px, sig, timing, init_cash, cols, size, bar_costs,
                     levels, lp, book, orders, sink, acc, cash_out, value_out, order_model, resting):  # fmt: skip
    """Chunk k of shared-cash groups."""
    open_, high, low, close, fill_price, off = px.open, px.high, px.low, px.close, px.fill, px.off
    step = px.step[0]
    width = 1
    for g in range(chunk_offsets[k], chunk_offsets[k + 1]):
        width = max(width, group_offsets[g + 1] - group_offsets[g])
    order_buf = np.empty(width, dtype=np.int64)  # the phases' scratch
    for g in range(chunk_offsets[k], chunk_offsets[k + 1]):
        _run_group_nb(g, group_offsets[g], group_offsets[g + 1], col_asset, open_, fill_price, close, high, low, off,
                      step, sig, timing, init_cash[g], cols, size, bar_costs, levels, lp, book, orders, sink, cash_out,
                      value_out, acc, np.int64(k), order_buf, None, order_model, resting)  # fmt: skip


@njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def simulate_columns_nb(group_offsets, chunk_offsets, col_asset, px, sig, timing, init_cash, cols, size, bar_costs,
                        levels, lp, book, orders, sink, acc, cash_out, value_out, order_model, resting):  # fmt: skip
    """Independent one-column accounts: chunks of columns in parallel."""
    for k in prange(chunk_offsets.shape[0] - 1):
        _columns_chunk_nb(k, group_offsets, chunk_offsets, col_asset, px, sig, timing, init_cash, cols, size, bar_costs,
                          levels, lp, book, orders, sink, acc, cash_out, value_out, order_model, resting)  # fmt: skip


@njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def simulate_groups_nb(group_offsets, chunk_offsets, col_asset, px, sig, timing, init_cash, cols, size, bar_costs,
                       levels, lp, book, orders, sink, acc, cash_out, value_out, order_model, resting):  # fmt: skip
    """Many shared-cash groups (a sweep): chunks of groups in parallel."""
    for k in prange(chunk_offsets.shape[0] - 1):
        _groups_chunk_nb(k, group_offsets, chunk_offsets, col_asset, px, sig, timing, init_cash, cols, size, bar_costs,
                         levels, lp, book, orders, sink, acc, cash_out, value_out, order_model, resting)  # fmt: skip


@njit(cache=True, nogil=True, error_model="numpy")
def simulate_group_nb(group_offsets, chunk_offsets, col_asset, px, sig, timing, init_cash, cols, size, bar_costs,
                      levels, lp, book, orders, sink, acc, cash_out, value_out, order_model, resting):  # fmt: skip
    """One shared-cash portfolio (a serial bar loop: nothing to run in parallel)."""
    for k in range(chunk_offsets.shape[0] - 1):
        _groups_chunk_nb(k, group_offsets, chunk_offsets, col_asset, px, sig, timing, init_cash, cols, size, bar_costs,
                         levels, lp, book, orders, sink, acc, cash_out, value_out, order_model, resting)  # fmt: skip
