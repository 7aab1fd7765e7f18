"""Signal-mode simulation: one bar-cycle driver for independent columns and shared-cash groups.

A *column* is one (asset, parameter set) pair; columns are split into *groups* that share
cash. ``cash_sharing=False`` is one group per column (run in parallel with ``prange``);
``cash_sharing=True`` is one group holding every column (a serial bar loop with an inner
loop over columns). Every group, of one column or many, runs ``_run_group_nb``.

State lives in named records (``book``): a position record per column (``POSITION_DT``:
signed quantity, average price, entry costs, excursions, rule levels) and an order record per
column (``ORDER_DT``: the action waiting for the column's next bar, its signal bar, the exit
reason a limit forced on it). Every fill lands in ``fills.py`` (``exit_nb``, ``enter_nb``,
``apply_order_nb``) and every record goes through ``book``'s writers.

Per bar, in this order (the fill rules documented in README "Fill rules"):

1. open phase   - orders pending from an earlier bar fill at this bar's fill price
                  (``fill="next_open"``): exits of the whole group first, then entries;
2. intrabar     - position rules; held positions see the bar's high/low (MFE/MAE);
3. close phase  - pending orders fill here for ``fill="next_close"``;
4. signals      - each column with a bar decides an action from its signal bits and its
                  position after this bar's fills; for ``fill="same_close"`` it fills at once
                  (another close phase), else it waits for the column's next bar;
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
    ANCHOR_FILL,
    CASH_ML4T,
    CASH_VECTORBT,
    EFFECT_ENTRY,
    EFFECT_EXIT,
    EFFECT_INCREASE,
    NO_EXIT,
    ORDER_BY_ASSET,
    ORDER_ML4T,
    PERCENT_OF_CASH,
    REASON_END_OF_DATA,
    REASON_SIGNAL,
    REJ_DAILY_LOSS_LIMIT,
    REJ_INSUFFICIENT_CASH,
    REJ_MAX_DRAWDOWN,
    REJ_MAX_POSITIONS,
    REJ_NO_NEXT_BAR,
    REJ_POSITION_CLOSED,
    REJ_SESSION_END,
    REVERSAL_ONE_ORDER,
    SIG_ORDERS,
    SIG_SESSION_CLOSED,
    SIG_SESSION_EXIT,
    SIG_VALID,
    TIMING_NEXT_CLOSE,
    TIMING_NEXT_OPEN,
    TIMING_SAME_CLOSE,
)
from ml4t_vec._kernels.fills import (
    apply_order_nb,
    enter_nb,
    exit_nb,
    fill_one_nb,
    free_cash_nb,
    open_rules_nb,
    refuse_entry_nb,
    rule_fired_nb,
)
from ml4t_vec._kernels.grid import gather_assets_nb, readonly_nb
from ml4t_vec._kernels.limits import close_of_bar_nb, entry_cap_nb, new_limit_state_nb
from ml4t_vec._kernels.orders import (
    cost_of_nb,
    decide_nb,
    entry_direction_nb,
    is_exit_action_nb,
    order_nb,
    size_at_nb,
    spread_of_nb,
)
from ml4t_vec._kernels.risk import check_exit_nb, fraction_at_nb, next_peak_nb
from ml4t_vec._kernels.sort import stable_argsort_nb


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


# which part of a fill phase ``_phase_nb`` runs
PHASE_ALL = 0
PHASE_EXITS = 1
PHASE_ENTRIES = 2

# What runs on every bar of every column (the bookkeeping, the position-rule check, the signal
# decision, the valuation) is written out in ``_run_group_nb``'s own loops over columns, on
# arrays it bound once: a call per bar with the price and parameter arrays as arguments made a
# one-column account 4x slower (each array is passed as seven words), and reading an array out
# of a NamedTuple inside the bar loop costs an atomic incref/decref pair per access. The rule
# check itself is inlined (``risk.check_exit_nb``, scalars only). What runs once per fill
# (``fills.py``, the phases, the record writers) is a plain call taking the records and tuples.


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _reorder_nb(order, keys, n):
    """Sort ``order[:n]`` stably by ``keys[:n]`` (the key of ``order[i]`` is ``keys[i]``)."""
    perm = stable_argsort_nb(keys, n)
    was = order[:n].copy()
    for i in range(n):
        order[i] = was[perm[i]]


@njit(cache=True, nogil=True, error_model="numpy")
def _phase_nb(t, c0, c1, e0, e1, price, off, step, col_asset, sig, cols, size_a, bar_costs, cash, book, orders, lim,
              block, prio, prio_on, sink, part, order, close, high, low, levels, rules, order_model):  # fmt: skip
    """Fill the orders of columns e0..e1 pending for bar t at ``price``: exits, then entries.
    The group is columns c0..c1 (its equity and exposures); ``fill_order="asset"`` calls this
    once per column (e1 = e0 + 1), exits-first once for the whole group.

    Entries fill in column (asset) order, or by descending ``prio`` at their signal bar when
    ``prio_on`` (NaN last, ties in asset order), against the cash left after the exits; each is
    cut to what the buying power and the limits ``lim`` = (max positions, max weight, max gross
    leverage, leverage set, max net exposure) allow (README "Cash limit", "Portfolio limits").
    ``block`` >= 0 rejects every entry with that reason (breaker / daily loss). ``cols``: the
    columns' settings (``columns.COLUMN_DT``); ``size_a``: OrderParams' size; ``bar_costs``: its
    costs read per bar at the fill (``launch.bar_costs``: the spread, ``orders.half_spread_nb``,
    and the fees, ``orders.cost_of_nb``). ``part``:
    PHASE_ALL, or only the exits (PHASE_EXITS) or only the entries (PHASE_ENTRIES) of the phase
    (``fill_order="ml4t"`` runs the position rules in between). ``order``: scratch room for the
    entries' fill order (at least e1 - e0). ``rules``: 0, or 1 to start the rule levels of the
    positions this phase opened (``_start_rules_nb``, from the ``close`` / ``high`` / ``low``
    columns and RiskParams' fractions and ``levels``), 2 to start them and let the bar's range
    reach them (held through it). Returns (cash, the group's columns with an order still
    waiting).

    A one-order reversal (``reversal="one_order"``) is one order: it fills with the entries, in
    their order. Under ``cash_rule="vectorbt"`` a cover may be cut or refused (the rest of the
    short stays open and a reversal's entry is dropped), and entries are limited by cash / free
    cash instead of the buying power (``orders.order_nb``). Both are compiled only when
    ``order_model`` is not None (see ``order_model``).
    """
    vbt = cols[c0]["cash_rule"] == CASH_VECTORBT
    has_entry = False
    for c in range(e0, e1):
        o = orders[c]
        act = o["action"]
        if act == ACT_NONE or (sig[c, t] & SIG_VALID) == 0:
            continue
        if part == PHASE_ENTRIES:  # this phase's exits are done
            has_entry = act != ACT_CLOSE
            if has_entry:
                break
            continue
        if is_exit_action_nb(act):
            q = book[c]["qty"]
            cs = cols[c]
            one_order = cs["reversal"] == REVERSAL_ONE_ORDER
            if order_model is not None and q != 0.0 and act != ACT_CLOSE and one_order:
                has_entry = True  # one order: its closing part fills with the entries
                continue
            if q != 0.0:
                ref = price[off[col_asset[c]] + t * step]
                slip_x = (cs["exit_slippage"], cs["exit_slippage_per_share"],
                          spread_of_nb(bar_costs, cs, c, t, ref, order_model))  # fmt: skip
                cash += exit_nb(book, c, t, o["reason"], ref, slip_x, cost_of_nb(cs, book, c, order_model, bar_costs,
                                t), cs["fractional"], vbt, cash, sink, order_model)  # fmt: skip
            o["reason"] = REASON_SIGNAL
            if act == ACT_CLOSE:
                o["action"] = ACT_NONE
                continue
            if book[c]["qty"] != 0.0:  # the exit was cut or refused (vectorbt's cash rule): no entry
                side = np.int64(1) if entry_direction_nb(act) > 0.0 else np.int64(-1)
                write_reject_nb(sink, c, t, side, np.int64(EFFECT_ENTRY), np.int64(REJ_INSUFFICIENT_CASH), np.nan, 0.0,
                                price[off[col_asset[c]] + t * step])  # fmt: skip
                o["action"] = ACT_NONE
                continue
        has_entry = True
    if has_entry and part != PHASE_EXITS:
        cash = _entries_nb(t, c0, c1, e0, e1, price, off, step, col_asset, sig, cols, size_a, bar_costs, cash, book,
                           orders, lim, block, prio, prio_on, sink, order, vbt, order_model)  # fmt: skip
    if rules > 0:
        _start_rules_nb(t, e0, e1, col_asset, close, high, low, off, step, cols, levels, book, orders, rules == 2)
    return cash, _count_pending_nb(orders, c0, c1)


@njit(cache=True, nogil=True, error_model="numpy")
def _entries_nb(t, c0, c1, e0, e1, price, off, step, col_asset, sig, cols, size_a, bar_costs, cash, book, orders, lim,
                block, prio, prio_on, sink, order, vbt, order_model):  # fmt: skip
    """The entries of ``_phase_nb`` (after its exits); returns the cash. Its own function: the
    phase in one piece took numba's optimizer longer (the first run's compile)."""
    max_pos, w_cap, lev, lev_set, net_cap = lim
    # Sizing equity, exposures and buying power after the exits, marked at this phase's prices.
    equity = cash
    gross = 0.0
    net = 0.0
    n_open = 0
    for c in range(c0, c1):
        q = book[c]["qty"]
        if q != 0.0:
            m = price[off[col_asset[c]] + t * step] if (sig[c, t] & SIG_VALID) != 0 else book[c]["last_close"]
            equity += q * m
            gross += abs(q) * m
            net += q * m
            n_open += 1
    avail = lev * equity - gross
    if cols[c0]["cash_rule"] == CASH_ML4T:  # buying power is the cash (short-sale proceeds included)
        avail = cash

    n_e = np.int64(0)
    for c in range(e0, e1):
        if orders[c]["action"] != ACT_NONE and (sig[c, t] & SIG_VALID) != 0:
            order[n_e] = c
            n_e += 1
    if prio_on and n_e > 1:
        keys = np.empty(n_e)
        for i in range(n_e):
            x = fraction_at_nb(prio, order[i], orders[order[i]]["bar"])  # NaN -> inf
            keys[i] = -x if x < np.inf else np.inf
        _reorder_nb(order, keys, n_e)
    elif cols[c0]["fill_order"] == ORDER_ML4T and n_e > 1:  # submission order: older signals first, then asset order
        keys = np.empty(n_e)
        for i in range(n_e):
            keys[i] = orders[order[i]]["bar"]
        _reorder_nb(order, keys, n_e)

    for i in range(n_e):
        c = order[i]
        oc = orders[c]
        cs = cols[c]
        act = oc["action"]
        d = entry_direction_nb(act)
        oc["action"] = ACT_NONE
        ref = price[off[col_asset[c]] + t * step]
        hs = spread_of_nb(bar_costs, cs, c, t, ref, order_model)
        size = size_at_nb(size_a, c, oc["bar"])  # read at the signal bar
        q0 = book[c]["qty"]
        if order_model is not None and act >= ACT_ADD_LONG and q0 == 0.0:  # an increase whose position a rule closed
            write_reject_nb(sink, c, t, np.int64(1 if d > 0.0 else -1), np.int64(EFFECT_INCREASE),
                            np.int64(REJ_POSITION_CLOSED), np.nan, 0.0, ref)  # fmt: skip
            continue
        flip = q0 * d < 0.0  # a one-order reversal, whose closing part fills here
        add = order_model is not None and q0 * d > 0.0  # an increase (accumulate): its weight counts what is held
        free = cash
        if d < 0.0 and (cs["percent_of"] == PERCENT_OF_CASH or vbt):
            free = free_cash_nb(cash, book, c0, c1)
        reason = block
        if reason < 0 and (sig[c, t] & SIG_SESSION_CLOSED) != 0:
            reason = REJ_SESSION_END
        if reason < 0 and not add and n_open - (1 if flip else 0) >= max_pos:
            reason = REJ_MAX_POSITIONS
        cap, cap_reason = entry_cap_nb(d, equity, net - (q0 * ref if flip else 0.0), w_cap, net_cap,
                                       abs(q0) * ref if add else 0.0)  # fmt: skip
        if order_model is not None and (flip or vbt):  # vectorbt's order model (one order, its cash rule)
            cost = cost_of_nb(cs, book, c, order_model, bar_costs, t)
            slip = (cs["slippage"], cs["slippage_per_share"], hs)
            pct = cs["percent_of"] == PERCENT_OF_CASH
            if reason >= 0:  # the new part is refused; a reversal's closing part still fills
                refuse_entry_nb(book, sink, c, t, d, add, np.int64(reason), cs, ref, hs, bar_costs, size, equity, pct,
                                cash, free, order_model)  # fmt: skip
                if not flip:
                    continue
            o = order_nb(q0, flip, 0.0 if reason >= 0 else d, ref, size, cs["size_type"], pct, cost, slip,
                         cs["fractional"], vbt, cash, free, equity, avail, cap)  # fmt: skip
            dcash, opened = apply_order_nb(book, c, t, oc["reason"], o, ref, hs, lev_set, np.int64(cap_reason), sink)
            oc["reason"] = REASON_SIGNAL
            cash += dcash
            px = o[1]
            qx = o[2]
            qn = o[5]
            if qx > 0.0:  # the closing part releases its exposure and pays its costs
                gross -= qx * ref
                net -= (qx if q0 > 0.0 else -qx) * ref
                avail += qx * ref - qx * abs(px - ref) - o[3]
                if book[c]["qty"] == 0.0 or opened:
                    n_open -= 1
            if opened:
                avail -= qn * px + o[6]
                gross += qn * px
                net += d * qn * px
                n_open += 0 if add else 1
            continue
        dcash, q, px, costs = enter_nb(book, c, t, d, reason, cs, ref, hs, bar_costs, size, equity, avail, cap,
                                       np.int64(cap_reason), lev_set, cash, free, sink, order_model)  # fmt: skip
        if q > 0.0:  # (px before market impact; costs: fees and impact, as the entry's sizing counted them)
            cash += dcash
            avail = cash if cs["cash_rule"] == CASH_ML4T else avail - (q * px + costs)
            gross += q * px
            net += d * q * px
            n_open += 0 if add else 1
    return cash


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def _start_rules_nb(t, e0, e1, col_asset, close, high, low, off, step, cols, levels, book, orders, held):
    """Positions of columns e0..e1 entered at bar t: anchor, trailing peak and rule levels, read
    at their signal bar; with ``held`` (entries at the open under fill_order="ml4t") also the
    bar they are held through. A position increased at bar t (``accumulate``) keeps its rule
    fractions, levels, trailing peak and time stop; its anchor moves to the share-weighted
    average of its entries' anchors (the average cost under ``stop_anchor="fill"``)."""
    for c in range(e0, e1):
        b = book[c]
        if b["qty"] == 0.0:
            continue
        if b["entry_bar"] != t:
            if b["added"] == t:  # an increase: the anchor becomes the share-weighted average of the entries'
                b["anchor"] = (
                    b["avg_price"]
                    if cols[c]["stop_anchor"] == ANCHOR_FILL
                    else (
                        (1.0 - b["add_w"]) * b["anchor"]
                        + b["add_w"] * close[off[col_asset[c]] + orders[c]["bar"] * step]
                    )
                )
            continue
        sb = orders[c]["bar"]
        open_rules_nb(book, c, sb, close[off[col_asset[c]] + sb * step], cols[c], levels)
        if held:
            i = off[col_asset[c]] + t * step
            d = 1.0 if b["qty"] > 0.0 else -1.0
            b["hi"] = max(b["hi"], high[i])
            b["lo"] = min(b["lo"], low[i])
            b["peak"] = next_peak_nb(d, b["peak"], close[i], high[i], low[i], cols[c]["trailing_source"])


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _count_pending_nb(orders, c0, c1):
    if c1 - c0 == 1:
        return 1 if orders[c0]["action"] != ACT_NONE else 0
    n = 0
    for c in range(c0, c1):
        if orders[c]["action"] != ACT_NONE:
            n += 1
    return n


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def _rules_nb(t, e0, e1, col_asset, open_, high, low, close, off, step, sig, cols, book, vbt, cash, sink, order_model,
              steps, bar_costs, from_px):  # fmt: skip
    """Bar t's position rules for columns e0..e1 (rule exits at their levels, ``risk.py``; the
    next scale-out step is a nearer take-profit, ``fills.rule_fired_nb``, after which the rest of
    the bar is checked again from the step's price), then the excursions and trailing peak of
    what is held through the bar. ``from_px``: NaN, or the price the bar goes on from (the rest
    of a bar whose scale-out step the quiet-bar loop found). Returns the cash.

    Its own function, called once per bar a group runs the whole cycle on: written out in
    ``_run_group_nb`` beside the quiet-bar loop's copy, it made the demo's first-run compile
    about 5 s longer (numba's optimizer pays for a function's size more than linearly)."""
    for c in range(e0, e1):
        b = book[c]
        q = b["qty"]
        if q == 0.0 or (sig[c, t] & SIG_VALID) == 0:
            continue
        i = off[col_asset[c]] + t * step
        cs = cols[c]
        if cs["rules_on"]:
            d = 1.0 if q > 0.0 else -1.0
            fresh = from_px != from_px  # the whole bar (not the rest of it after a scale-out step)
            o = open_[i] if fresh else from_px
            session = fresh and cs["session_exit"] and (sig[c, t] & SIG_SESSION_EXIT) != 0
            while True:
                reason, ref = check_exit_nb(
                    d, b["anchor"], b["peak"], b["bars_seen"] - b["entry_count"], cs["max_bars"], session, o, high[i],
                    low[i], b["entry_bar"] == t, cs["stop_on_entry_bar"], b["sl"],
                    min(b["tp"], b["step_gain"]) if order_model is not None else b["tp"],
                    b["tsl"], cs["trailing_activation"], b["slp"], b["tpp"], cs["intrabar"],
                )  # fmt: skip
                if reason == NO_EXIT:
                    break
                cash, more = rule_fired_nb(book, c, t, reason, ref, cs, steps, bar_costs, vbt, cash, sink, order_model)
                if not more:
                    break
                o = ref  # a scale-out step: the rest of the bar goes on from its price
                session = False
            if b["qty"] == 0.0:  # (vectorbt's cash rule may cut a cover: the rest is held)
                continue
            b["peak"] = next_peak_nb(d, b["peak"], close[i], high[i], low[i], cs["trailing_source"])
        b["hi"] = max(b["hi"], high[i])
        b["lo"] = min(b["lo"], low[i])
    return cash


@njit(cache=True, nogil=True, error_model="numpy")
def _run_group_nb(g, c0, c1, col_asset, open_, fill_price, close, high, low, off, step, sig, timing, cash, cols, size,
                  bar_costs, levels, lp, book, orders, sink, cash_out, value_out, acc, k, order_buf, one_column,
                  order_model):  # fmt: skip
    """Simulate group g (columns c0..c1, sharing ``cash``) over every bar; returns its final cash.

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
                    if rules:  # the bar's rules step (as _rules_nb): a rule exit runs the whole cycle
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
                    _start_rules_nb(t, e0, e1, col_asset, close, high, low, off, step, cols, levels, book, orders,
                                    bool(0))  # fmt: skip
            elif timing == TIMING_NEXT_OPEN and due:
                part = np.int64(PHASE_EXITS) if ml4t_order else no_part
                cash, n_pending = _phase_nb(t, c0, c1, e0, e1, fill_price, off, step, col_asset, sig, cols, size,
                                            bar_costs, cash, book, orders, lim, block, prio, prio_on, sink, part,
                                            order_buf, close, high, low, levels, start, order_model)  # fmt: skip
            # 2. position rules, then what is held through the bar sees its range and moves its peak.
            # A one-column account's quiet-bar loop ran this step for the bar it stopped at, or
            # found the rule exit it takes here; without rules the step only moves the excursions.
            if one_column is not None and skips and fired == t:
                b = book[c0]
                cash, more = rule_fired_nb(book, c0, t, fired_reason, fired_ref, cols[c0], steps, bar_costs, vbt, cash,
                                           sink, order_model)  # fmt: skip
                if more:  # a scale-out step: the rest of the bar, from its price
                    cash = _rules_nb(t, c0, c0 + 1, col_asset, open_, high, low, close, off, step, sig, cols, book,
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
                    b["hi"] = max(b["hi"], high[i])
                    b["lo"] = min(b["lo"], low[i])
            elif ruled != t and (not skips or book[c0]["qty"] != 0.0):
                cash = _rules_nb(t, e0, e1, col_asset, open_, high, low, close, off, step, sig, cols, book, vbt, cash,
                                 sink, order_model, steps, bar_costs, np.nan)  # fmt: skip
            if ml4t_order and n_pending > 0:  # the open's entries, after the bar's rule exits
                # new positions: rule levels, then the bar they were held through (rules 2)
                cash, n_pending = _phase_nb(t, c0, c1, e0, e1, fill_price, off, step, col_asset, sig, cols, size,
                                            bar_costs, cash, book, orders, lim, block, prio, prio_on, sink,
                                            np.int64(PHASE_ENTRIES), order_buf, close, high, low, levels, np.int64(2),
                                            order_model)  # fmt: skip
            due = n_pending > 0 and (not by_asset or orders[e0]["action"] != ACT_NONE)
            if timing == TIMING_NEXT_CLOSE and due and one_column is not None and one:  # 3. the close's fills
                cash, n_pending = fill_one_nb(book, orders, c0, t, cols[c0], fill_price[off[col_asset[c0]] + t * step],
                                              sig[c0, t], size, bar_costs, lim[2], cash, sink, order_model)  # fmt: skip
                if any_rules:
                    _start_rules_nb(t, e0, e1, col_asset, close, high, low, off, step, cols, levels, book, orders,
                                    bool(0))  # fmt: skip
            elif timing == TIMING_NEXT_CLOSE and due:
                cash, n_pending = _phase_nb(t, c0, c1, e0, e1, fill_price, off, step, col_asset, sig, cols, size,
                                            bar_costs, cash, book, orders, lim, block, prio, prio_on, sink, no_part,
                                            order_buf, close, high, low, levels, start, order_model)  # fmt: skip
            # 4. signals: an action waits for the column's next bar (or fills now at the close)
            for c in range(e0, e1):
                bits = sig[c, t]
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
                    _start_rules_nb(t, e0, e1, col_asset, close, high, low, off, step, cols, levels, book, orders,
                                    bool(0))  # fmt: skip
            elif timing == TIMING_SAME_CLOSE and due:
                cash, n_pending = _phase_nb(t, c0, c1, e0, e1, fill_price, off, step, col_asset, sig, cols, size,
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
                      levels, lp, book, orders, sink, acc, cash_out, value_out, order_model):  # fmt: skip
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
                          order_buf, np.int64(1), order_model)  # fmt: skip


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _groups_chunk_nb(k, group_offsets, chunk_offsets, col_asset, px, sig, timing, init_cash, cols, size, bar_costs,
                     levels, lp, book, orders, sink, acc, cash_out, value_out, order_model):  # fmt: skip
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
                      value_out, acc, np.int64(k), order_buf, None, order_model)  # fmt: skip


@njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def simulate_columns_nb(group_offsets, chunk_offsets, col_asset, px, sig, timing, init_cash, cols, size, bar_costs,
                        levels, lp, book, orders, sink, acc, cash_out, value_out, order_model):  # fmt: skip
    """Independent one-column accounts: chunks of columns in parallel."""
    for k in prange(chunk_offsets.shape[0] - 1):
        _columns_chunk_nb(k, group_offsets, chunk_offsets, col_asset, px, sig, timing, init_cash, cols, size, bar_costs,
                          levels, lp, book, orders, sink, acc, cash_out, value_out, order_model)  # fmt: skip


@njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def simulate_groups_nb(group_offsets, chunk_offsets, col_asset, px, sig, timing, init_cash, cols, size, bar_costs,
                       levels, lp, book, orders, sink, acc, cash_out, value_out, order_model):  # fmt: skip
    """Many shared-cash groups (a sweep): chunks of groups in parallel."""
    for k in prange(chunk_offsets.shape[0] - 1):
        _groups_chunk_nb(k, group_offsets, chunk_offsets, col_asset, px, sig, timing, init_cash, cols, size, bar_costs,
                         levels, lp, book, orders, sink, acc, cash_out, value_out, order_model)  # fmt: skip


@njit(cache=True, nogil=True, error_model="numpy")
def simulate_group_nb(group_offsets, chunk_offsets, col_asset, px, sig, timing, init_cash, cols, size, bar_costs,
                      levels, lp, book, orders, sink, acc, cash_out, value_out, order_model):  # fmt: skip
    """One shared-cash portfolio (a serial bar loop: nothing to run in parallel)."""
    for k in range(chunk_offsets.shape[0] - 1):
        _groups_chunk_nb(k, group_offsets, chunk_offsets, col_asset, px, sig, timing, init_cash, cols, size, bar_costs,
                         levels, lp, book, orders, sink, acc, cash_out, value_out, order_model)  # fmt: skip
