"""The signal driver's phases (numba): fills at a phase's price, resting orders, position rules.

``simulate._run_group_nb`` runs the bar cycle and calls these once per bar that has something
to do (README "Fill rules", "Order types", "Position rules"):

- ``phase_nb``: the orders pending for a fill phase (the open or the close): exits, then the
  market entries (``entries_nb``: sized on the account after the exits, cut by its buying power
  and portfolio limits, in asset or priority order);
- ``resting_phase_nb``: resting entry orders (limit, stop, stop-limit) tested on the bar
  (``resting.test_nb``), those that fill sized and filled by the same ``entries_nb``;
- ``start_rules_nb``: the rule levels of the positions a phase opened;
- ``rules_nb``: the position rules of the bar, then the excursions and trailing peaks.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ml4t_vec._kernels.book import write_reject_nb
from ml4t_vec._kernels.codes import (
    ACT_ADD_LONG,
    ACT_CLOSE,
    ACT_NONE,
    ACT_OPEN_LONG,
    ACT_OPEN_SHORT,
    ANCHOR_FILL,
    CASH_ML4T,
    CASH_VECTORBT,
    EFFECT_ENTRY,
    EFFECT_INCREASE,
    NO_EXIT,
    ORDER_MARKET,
    ORDER_ML4T,
    PERCENT_OF_CASH,
    REASON_SIGNAL,
    REJ_INSUFFICIENT_CASH,
    REJ_MAX_POSITION_WEIGHT,
    REJ_MAX_POSITIONS,
    REJ_POSITION_CLOSED,
    REJ_SESSION_END,
    REVERSAL_ONE_ORDER,
    SIG_SESSION_CLOSED,
    SIG_SESSION_EXIT,
    SIG_VALID,
    TIF_DAY,
)
from ml4t_vec._kernels.fills import (
    apply_order_nb,
    enter_nb,
    exit_nb,
    free_cash_nb,
    open_rules_nb,
    refuse_entry_nb,
    rule_fired_nb,
)
from ml4t_vec._kernels.limits import entry_cap_nb
from ml4t_vec._kernels.orders import (
    cost_of_nb,
    entry_direction_nb,
    is_exit_action_nb,
    order_nb,
    size_at_nb,
    spread_of_nb,
)
from ml4t_vec._kernels.resting import (
    FILL_LEVEL,
    FILL_MARKET,
    NO_FILL,
    clip_nb,
    expire_nb,
    is_resting_nb,
    side_nb,
    test_nb,
)
from ml4t_vec._kernels.risk import check_exit_nb, fraction_at_nb, next_peak_nb
from ml4t_vec._kernels.sort import stable_argsort_nb

# which part of a fill phase ``phase_nb`` runs
PHASE_ALL = 0
PHASE_EXITS = 1
PHASE_ENTRIES = 2


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def reorder_nb(order, keys, n):
    """Sort ``order[:n]`` stably by ``keys[:n]`` (the key of ``order[i]`` is ``keys[i]``)."""
    perm = stable_argsort_nb(keys, n)
    was = order[:n].copy()
    for i in range(n):
        order[i] = was[perm[i]]


@njit(cache=True, nogil=True, error_model="numpy")
def phase_nb(t, c0, c1, e0, e1, price, off, step, col_asset, sig, cols, size_a, bar_costs, cash, book, orders, lim,
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
    positions this phase opened (``start_rules_nb``, from the ``close`` / ``high`` / ``low``
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
            if order_model is not None and cs["order_type"] != ORDER_MARKET:  # its entry rests from here
                o["action"] = ACT_OPEN_LONG if entry_direction_nb(act) > 0.0 else ACT_OPEN_SHORT
                continue
        elif is_resting_nb(o, cols[c], order_model):  # tested in the resting phase
            continue
        has_entry = True
    if has_entry and part != PHASE_EXITS:
        cash = entries_nb(t, c0, c1, e0, e1, price, off, step, col_asset, sig, cols, size_a, bar_costs, cash, book,
                          orders, lim, block, prio, prio_on, sink, order, vbt, None, order_model)  # fmt: skip
    if rules > 0:
        start_rules_nb(t, e0, e1, col_asset, close, high, low, off, step, cols, levels, book, orders, rules == 2)
    return cash, count_pending_nb(orders, c0, c1)


@njit(cache=True, nogil=True, error_model="numpy")
def entries_nb(t, c0, c1, e0, e1, price, off, step, col_asset, sig, cols, size_a, bar_costs, cash, book, orders, lim,
               block, prio, prio_on, sink, order, vbt, rest, order_model):  # fmt: skip
    """The entries of ``phase_nb`` (after its exits); returns the cash. Its own function: the
    phase in one piece took numba's optimizer longer (the first run's compile).

    ``rest`` None: the phase's market entries at ``price``. Else the resting orders whose test
    found a fill on this bar (``resting_phase_nb``: order field ``fill``), each at its own
    reference price and costs (order fields ``ref``, ``frac``, ``per_share``, ``half``), the
    account marked at ``price`` (the bar's open)."""
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
        oc = orders[c]
        if rest is not None:
            if oc["fill"] != 0:
                order[n_e] = c
                n_e += 1
        elif oc["action"] != ACT_NONE and (sig[c, t] & SIG_VALID) != 0 and not is_resting_nb(oc, cols[c], order_model):
            order[n_e] = c
            n_e += 1
    if prio_on and n_e > 1:
        keys = np.empty(n_e)
        for i in range(n_e):
            x = fraction_at_nb(prio, order[i], orders[order[i]]["bar"])  # NaN -> inf
            keys[i] = -x if x < np.inf else np.inf
        reorder_nb(order, keys, n_e)
    elif cols[c0]["fill_order"] == ORDER_ML4T and n_e > 1:  # submission order: older signals first, then asset order
        keys = np.empty(n_e)
        for i in range(n_e):
            keys[i] = orders[order[i]]["bar"]
        reorder_nb(order, keys, n_e)

    for i in range(n_e):
        c = order[i]
        oc = orders[c]
        cs = cols[c]
        act = oc["action"]
        d = entry_direction_nb(act)
        oc["action"] = ACT_NONE
        if rest is not None:  # a resting order: its fill's reference price and costs (resting_phase_nb)
            ref = oc["ref"]
            slip = (oc["frac"], oc["per_share"], oc["half"])
        else:
            ref = price[off[col_asset[c]] + t * step]
            slip = (cs["slippage"], cs["slippage_per_share"], spread_of_nb(bar_costs, cs, c, t, ref, order_model))
        hs = slip[2]
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
            pct = cs["percent_of"] == PERCENT_OF_CASH
            if reason >= 0:  # the new part is refused; a reversal's closing part still fills
                refuse_entry_nb(book, sink, c, t, d, add, np.int64(reason), cs, ref, slip, bar_costs, size, equity,
                                pct, cash, free, order_model)  # fmt: skip
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
        dcash, q, px, costs = enter_nb(book, c, t, d, reason, cs, ref, slip, bar_costs, size, equity, avail, cap,
                                       np.int64(cap_reason), lev_set, cash, free, sink, order_model)  # fmt: skip
        if q > 0.0:  # (px before market impact; costs: fees and impact, as the entry's sizing counted them)
            cash += dcash
            avail = cash if cs["cash_rule"] == CASH_ML4T else avail - (q * px + costs)
            gross += q * px
            net += d * q * px
            n_open += 0 if add else 1
    return cash


@njit(cache=True, nogil=True, error_model="numpy")
def resting_phase_nb(t, c0, c1, open_, high, low, close, off, step, col_asset, sig, cols, size_a, bar_costs, cash, book,
                     orders, lim, block, prio, prio_on, sink, order, levels, any_rules, day, order_model):  # fmt: skip
    """Bar t's resting entry orders of group c0..c1 (README "Order types"): each order placed
    before t, on a column with a bar at t and no position, is tested on the bar
    (``resting.test_nb``; at its ``tif``-th test without a fill it expires; ``tif="day"``: on
    the asset's first bar of a later calendar day, ``day``: LimitParams' day numbers). Those that fill
    are entries at their fill's reference price and costs (a marketable fill priced as a market
    order and clipped at its limit, ``resting.clip_nb``; a resting fill at its limit without
    slippage or spread; a stop's with ``stop_entry_slippage``), sized and cut by
    ``entries_nb`` as the phases' entries are, the account marked at the bar's open. The
    positions they open get their rule levels (``any_rules``) and, filled inside the bar, the
    rest of it for the position rules (``book`` fields ``from_*``). Compiled only into the
    drivers' copy for resting orders (``launch.resting_of``). Returns (cash, the group's columns with an order
    still waiting)."""
    n_fill = 0
    for c in range(c0, c1):
        o = orders[c]
        cs = cols[c]
        if not is_resting_nb(o, cs, order_model) or o["bar"] >= t or (sig[c, t] & SIG_VALID) == 0:
            continue
        if book[c]["qty"] != 0.0:
            continue
        i = off[col_asset[c]] + t * step
        if _tested_nb(o, cs, c, t, open_[i], high[i], low[i], close[i], bar_costs, sink, day, order_model):
            n_fill += 1
    if n_fill > 0:
        cash = entries_nb(t, c0, c1, c0, c1, open_, off, step, col_asset, sig, cols, size_a, bar_costs, cash, book,
                          orders, lim, block, prio, prio_on, sink, order, bool(0), np.int64(1),
                          order_model)  # fmt: skip
        for c in range(c0, c1):
            o = orders[c]
            if o["fill"] == 0:
                continue
            o["fill"] = 0
            b = book[c]
            if b["qty"] != 0.0 and b["entry_bar"] == t:  # (not refused)
                _opened_nb(b, o, c, t, close[off[col_asset[c]] + o["bar"] * step], cols[c], levels, any_rules, book)
    return cash, count_pending_nb(orders, c0, c1)


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def _tested_nb(o, cs, c, t, op, hi, lo, cl, bar_costs, sink, day, order_model):
    """Test column c's resting order ``o`` on bar t (open, high, low, close): expired (``tif``, or
    ``tif="day"`` past its day: its row), no fill, or a fill whose reference price, costs (a
    marketable fill's clipped at the limit) and rest of the bar go into ``o`` (``fill`` 1).
    Returns whether it fills."""
    d = side_nb(o)
    day_over = cs["tif"] == TIF_DAY and day[t] != day[o["bar"]]  # tif="day": not tested on a later day
    if day_over:
        expire_nb(o, cs, c, t, sink, day_over)
        return False
    o["tests"] += 1
    how, ref, f_o, f_h, f_l = test_nb(o, cs, d, op, hi, lo, cl)
    if how == NO_FILL:
        expire_nb(o, cs, c, t, sink, day_over)
        return False
    frac, per_share, half = 0.0, 0.0, 0.0
    if how != FILL_LEVEL:  # marketable at the open, or a stop at its level: the market's costs, clipped
        half = spread_of_nb(bar_costs, cs, c, t, ref, order_model)
        frac = cs["slippage"] if how == FILL_MARKET else cs["stop_entry_slippage"]
        frac, per_share, half = clip_nb(d, ref, frac, cs["slippage_per_share"], half, o["limit"])
    o["fill"] = 1
    o["ref"] = ref
    o["frac"] = frac
    o["per_share"] = per_share
    o["half"] = half
    o["from_open"] = f_o
    o["from_high"] = f_h
    o["from_low"] = f_l
    return True


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def _opened_nb(b, o, c, t, close_s, cs, levels, any_rules, book):
    """The position column c's resting order ``o`` opened on bar t: the rest of its fill bar for
    the rules (``from_*``; ``from_open`` NaN: filled at the open) and its rule levels, read at
    the signal bar (close ``close_s``)."""
    b["from_bar"] = t  # (its rules start here, not again after a later phase of the bar)
    b["from_open"] = o["from_open"]
    b["from_high"] = o["from_high"]
    b["from_low"] = o["from_low"]
    if any_rules:
        open_rules_nb(book, c, o["bar"], close_s, cs, levels)


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def rest_one_nb(book, orders, c, t, cs, op, hi, lo, cl, close_s, bits, size_a, bar_costs, lev, cash, sink, levels,
                any_rules, day, order_model):  # fmt: skip
    """The resting order of a one-column account without portfolio limits on bar t (open, high,
    low, close; its signal bar's close ``close_s``; signal bits ``bits``), as ``resting_phase_nb``
    tests and fills it for a group of one (an entry from flat: equity and free cash are the cash,
    the buying power ``lev`` x cash, or the cash under cash_rule="ml4t"), the lean call the
    signal driver makes instead (as ``fills.fill_one_nb`` for market orders). Returns (cash,
    orders still waiting)."""
    o = orders[c]
    if not is_resting_nb(o, cs, order_model) or o["bar"] >= t or (bits & SIG_VALID) == 0 or book[c]["qty"] != 0.0:
        return cash, 0 if o["action"] == ACT_NONE else 1
    if not _tested_nb(o, cs, c, t, op, hi, lo, cl, bar_costs, sink, day, order_model):
        return cash, 0 if o["action"] == ACT_NONE else 1
    d = side_nb(o)
    o["fill"] = 0
    o["action"] = ACT_NONE
    reason = np.int64(REJ_SESSION_END) if (bits & SIG_SESSION_CLOSED) != 0 else np.int64(-1)
    avail = cash if cs["cash_rule"] == CASH_ML4T else lev * cash
    slip = (o["frac"], o["per_share"], o["half"])
    dcash, q, _, _ = enter_nb(book, c, t, d, reason, cs, o["ref"], slip, bar_costs, size_at_nb(size_a, c, o["bar"]),
                              cash, avail, np.inf, np.int64(REJ_MAX_POSITION_WEIGHT), bool(0), cash, cash, sink,
                              order_model)  # fmt: skip
    if q > 0.0:
        _opened_nb(book[c], o, c, t, close_s, cs, levels, any_rules, book)
    return cash + dcash, 0


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def start_rules_nb(t, e0, e1, col_asset, close, high, low, off, step, cols, levels, book, orders, held):
    """Positions of columns e0..e1 entered at bar t: anchor, trailing peak and rule levels, read
    at their signal bar; with ``held`` (entries at the open under fill_order="ml4t") also the
    bar they are held through. A position increased at bar t (``accumulate``) keeps its rule
    fractions, levels, trailing peak and time stop; its anchor moves to the share-weighted
    average of its entries' anchors (the average cost under ``stop_anchor="fill"``)."""
    for c in range(e0, e1):
        b = book[c]
        if b["qty"] == 0.0:
            continue
        if b["entry_bar"] != t or b["from_bar"] == t:  # (a resting order's fill: started in its phase)
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
def count_pending_nb(orders, c0, c1):
    if c1 - c0 == 1:
        return 1 if orders[c0]["action"] != ACT_NONE else 0
    n = 0
    for c in range(c0, c1):
        if orders[c]["action"] != ACT_NONE:
            n += 1
    return n


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def rules_nb(t, e0, e1, col_asset, open_, high, low, close, off, step, sig, cols, book, vbt, cash, sink, order_model,
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
        op, hi, lo = open_[i], high[i], low[i]
        if order_model is not None and b["from_bar"] == t and b["from_open"] == b["from_open"]:
            op, hi, lo = b["from_open"], b["from_high"], b["from_low"]  # a resting order filled inside the bar
        if cs["rules_on"]:
            d = 1.0 if q > 0.0 else -1.0
            fresh = from_px != from_px  # the whole bar (not the rest of it after a scale-out step)
            o = op if fresh else from_px
            session = fresh and cs["session_exit"] and (sig[c, t] & SIG_SESSION_EXIT) != 0
            while True:
                reason, ref = check_exit_nb(
                    d, b["anchor"], b["peak"], b["bars_seen"] - b["entry_count"], cs["max_bars"], session, o, hi,
                    lo, b["entry_bar"] == t, cs["stop_on_entry_bar"], b["sl"],
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
            b["peak"] = next_peak_nb(d, b["peak"], close[i], hi, lo, cs["trailing_source"])
        b["hi"] = max(b["hi"], hi)
        b["lo"] = min(b["lo"], lo)
    return cash
