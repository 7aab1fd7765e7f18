"""Signal-mode fills (numba): where the signal driver's orders land on a position.

Each function takes the column's position record (``book.POSITION_DT``, read and written by
field name) and the record sink (``book.Sink``), applies one order, and returns the cash it
moved:

- ``exit_nb``: close a position (signal exits, position rules, forced exits), under the
  default cash rule (``close_nb``) or vectorbt's, where a cover may be cut or refused
  (``apply_order_nb`` of an ``orders.order_nb`` result);
- ``apply_order_nb``: an ``orders.order_nb`` result, i.e. vectorbt's order model (a one-order
  reversal, a cover cut by cash) with its rejected rows;
- ``enter_nb``: an entry order (from flat, or an increase of a held position under
  ``accumulate``), sized against the account's equity, buying power and limits, or refused,
  with its rejected rows;
- ``fill_one_nb``: the waiting order of a one-column account without portfolio limits (its
  exit, then its entry), the lean call the signal driver makes instead of its group phases.

Every fill goes through ``book.apply_fill_nb``, as the target-weight driver's do.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ml4t_vec._kernels.book import apply_fill_nb, open_position_nb, write_reject_nb
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
    EFFECT_EXIT,
    EFFECT_INCREASE,
    ORDER_MARKET,
    PEAK_FROM_FIRST_BAR,
    PERCENT_OF_CASH,
    REASON_SCALE_OUT,
    REASON_SIGNAL,
    REASON_TAKE_PROFIT,
    REASON_TIME_STOP,
    REJ_INSUFFICIENT_CASH,
    REJ_MAX_GROSS_LEVERAGE,
    REJ_MAX_POSITION_WEIGHT,
    REJ_POSITION_CLOSED,
    REJ_REDUCED_CASH,
    REJ_SESSION_END,
    REJ_ZERO_QUANTITY,
    REVERSAL_ONE_ORDER,
    SIG_SESSION_CLOSED,
    SIG_VALID,
)
from ml4t_vec._kernels.orders import (
    ENTRY_CAP_NONE,
    ENTRY_CAPPED,
    ENTRY_NO_CASH,
    ENTRY_OK,
    ENTRY_REDUCED,
    ENTRY_ZERO,
    cost_of_nb,
    entry_direction_nb,
    entry_fill_nb,
    entry_request_nb,
    exit_fill_nb,
    is_exit_action_nb,
    order_nb,
    size_at_nb,
    spread_of_nb,
    whole_nb,
)
from ml4t_vec._kernels.resting import is_resting_nb
from ml4t_vec._kernels.risk import fraction_at_nb, level_at_nb


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def open_rules_nb(book, c, signal_bar, signal_close, cs, levels):
    """Column c's new position's rule state: its anchor, trailing peak, stop / target / trailing
    fractions and absolute stop / target levels, all read at the bar whose signal opened it
    (its close is ``signal_close``). ``cs``: the column's settings (``columns.COLUMN_DT``);
    ``levels``: RiskParams' (stop_loss, take_profit, trailing_stop, stop_loss_price,
    take_profit_price, scale_out); the first scale-out step waits (``step_gain``)."""
    b = book[c]
    anchor = b["avg_price"] if cs["stop_anchor"] == ANCHOR_FILL else signal_close
    b["anchor"] = anchor
    b["peak"] = anchor
    if cs["trailing_start"] == PEAK_FROM_FIRST_BAR:  # no peak until a bar is held through
        b["peak"] = -np.inf if b["qty"] > 0.0 else np.inf
    b["sl"] = fraction_at_nb(levels[0], c, signal_bar)
    b["tp"] = fraction_at_nb(levels[1], c, signal_bar)
    b["tsl"] = fraction_at_nb(levels[2], c, signal_bar)
    b["slp"] = level_at_nb(levels[3], c, signal_bar)
    b["tpp"] = level_at_nb(levels[4], c, signal_bar)
    b["steps_done"] = 0
    b["step_gain"] = next_step_nb(levels[5], c, np.int64(0))


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def next_step_nb(steps, c, k):
    """The gain of column c's scale-out step k (``steps``: RiskParams.scale_out), inf if none."""
    if k >= steps.shape[1] // 2:
        return np.inf
    g = steps[c, k]
    return g if g == g else np.inf


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def step_is_nearer_nb(b):
    """The position's next scale-out step (``b["step_gain"]``) lies strictly before its full
    take-profit target (the nearer of the ``take_profit`` fraction and ``take_profit_price``)."""
    a = b["anchor"]
    if b["qty"] > 0.0:
        full = a * (1.0 + b["tp"])
        if b["tpp"] < full:
            full = b["tpp"]
        return a * (1.0 + b["step_gain"]) < full
    full = a * (1.0 - b["tp"])
    if b["tpp"] > full:
        full = b["tpp"]
    return a * (1.0 - b["step_gain"]) > full


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def rule_fired_nb(book, c, t, reason, ref, cs, steps, bar_costs, vbt, cash, sink, order_model):
    """A position rule of column c fired on bar t (``reason``, reference price ``ref``, from
    ``risk.check_exit_nb`` with the next scale-out step as a nearer take-profit). Returns (cash,
    whether the rest of the bar is to be checked again from ``ref``).

    - A take-profit at the next scale-out step's level (strictly before the full target): the
      step sells its fraction of the largest quantity the position reached (whole shares unless
      ``fractional``) at ``ref`` with ``stop_slippage``, a reduce fill and a ``partial`` row
      (exit reason ``scale_out``); a step that covers what is left closes it (a rule exit). The
      next step waits; the rest of the bar is checked again unless the position closed.
    - Anything else closes the position (``rule_exit_nb``); the bar's signals are then ignored
      (``rule_exit_bar``), even if vectorbt's cash rule refuses or cuts the exit.
    """
    b = book[c]
    if order_model is not None and reason == REASON_TAKE_PROFIT and step_is_nearer_nb(b):
        k = b["steps_done"]
        frac = steps[c, steps.shape[1] // 2 + k]
        b["steps_done"] = k + 1
        b["step_gain"] = next_step_nb(steps, c, k + 1)
        q = frac * b["max_qty"]
        if not cs["fractional"]:
            q = whole_nb(q)
        held = abs(b["qty"])
        if q < held * (1.0 - 1e-12):
            if q > 0.0:
                signed = q if b["qty"] > 0.0 else -q
                hs = spread_of_nb(bar_costs, cs, c, t, ref, order_model)
                _, px, fee, ip, _ = exit_fill_nb(signed, ref, (cs["stop_slippage"], cs["exit_slippage_per_share"], hs),
                                                 cost_of_nb(cs, book, c, order_model, bar_costs, t))  # fmt: skip
                dcash, _ = apply_fill_nb(book, c, t, -signed, px, ref, hs, ip, fee, np.int64(REASON_SCALE_OUT),
                                         np.int64(-1), sink, bool(0))  # fmt: skip
                cash += dcash
            return cash, True
        reason = REASON_SCALE_OUT
    b["rule_exit_bar"] = t  # this bar's signals are ignored, even if the exit is refused
    cash += rule_exit_nb(book, c, t, reason, ref, cs, bar_costs, vbt, cash, sink, order_model)
    return cash, False


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def close_nb(book, c, t, ref, slip_f, cost, reason, sink):
    """Close column c's whole position at reference price ``ref``: one exit fill, one closed
    trade (``book.apply_fill_nb``, as the target-weight driver's closes; signal mode numbers its
    positions after the run). ``cost``: ``orders.cost_of_nb``; ``slip_f``: the slippage (fraction,
    per share) and half the spread per share. Returns the cash change."""
    q = book[c]["qty"]
    _, px, fee, ip, _ = exit_fill_nb(q, ref, slip_f, cost)
    dcash, _ = apply_fill_nb(book, c, t, -q, px, ref, slip_f[2], ip, fee, reason, np.int64(-1), sink, bool(0))
    return dcash


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def apply_order_nb(book, c, t, reason, o, ref, hs, lev_set, cap_reason, sink):
    """Record one ``orders.order_nb`` result ``o`` of column c on bar t (reference price ``ref``,
    half the spread per share ``hs``).

    - rejected rows: a closing part cut or refused by the cash rule (``reduced_cash`` /
      ``insufficient_cash``, effect exit), a new part reduced or refused (as for any entry;
      ``cap_reason`` names the binding portfolio limit);
    - the closing part: one exit fill and one closed trade for the shares it closes, with the
      position's entry fees and slippage pro rata (a partial cover leaves the rest open with its
      entry bar and price);
    - the new part: one entry fill, or an increase of a held position (a one-order reversal is
      reported as its exit and entry fills, at one price, its fees split by shares).
    vectorbt's order model pays no market impact (``impact`` with it: ``ConfigError``).
    Both parts fill through ``book.apply_fill_nb``.
    Returns (cash change, whether a position opened).
    """
    side, px, qx, fee_x, st_x, qn, fee_n, req, st_n = o
    b = book[c]
    pos = b["qty"]
    exit_ = np.int64(EFFECT_EXIT)  # not literals: one compiled copy of each writer
    side = np.int64(side)
    entry = np.int64(EFFECT_INCREASE if pos * side > 0.0 else EFFECT_ENTRY)  # adding to the side held
    if st_x == ENTRY_REDUCED or st_x == ENTRY_NO_CASH:
        why = np.int64(REJ_REDUCED_CASH if st_x == ENTRY_REDUCED else REJ_INSUFFICIENT_CASH)
        write_reject_nb(sink, c, t, side, exit_, why, abs(pos), qx, ref)
    if st_n > ENTRY_OK:
        if st_n == ENTRY_CAPPED or st_n == ENTRY_CAP_NONE:
            why = cap_reason
        elif st_n == ENTRY_ZERO:
            why = REJ_ZERO_QUANTITY
        elif lev_set:
            why = REJ_MAX_GROSS_LEVERAGE
        else:
            why = REJ_REDUCED_CASH if st_n == ENTRY_REDUCED else REJ_INSUFFICIENT_CASH
        write_reject_nb(sink, c, t, side, entry, np.int64(why), req, qn, ref)
    dcash = 0.0
    none = np.int64(-1)
    if qx > 0.0:  # a partial cover is recorded as vectorbt reports it (an exit, a closed row)
        q = qx if pos > 0.0 else -qx
        dcash, _ = apply_fill_nb(book, c, t, -q, px, ref, hs, 0.0, fee_x, reason, none, sink, bool(1))
    if qn > 0.0:  # an entry from flat, or an increase (``accumulate``)
        d, _ = apply_fill_nb(book, c, t, side * qn, px, ref, hs, 0.0, fee_n, np.int64(REASON_SIGNAL), none, sink,
                             bool(0))  # fmt: skip
        dcash += d
    return dcash, qn > 0.0


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def exit_nb(book, c, t, reason, ref, slip_f, cost, frac, vbt, cash, sink, order_model):
    """Close column c's position by one order at reference price ``ref``; returns the cash change.
    Under vectorbt's cash rule (``vbt``, compiled only when ``order_model`` is not None) a cover
    may be cut or refused, and a sale whose proceeds do not pay its fees is refused: the rest
    stays open."""
    if order_model is not None and vbt:
        pos = book[c]["qty"]
        # np.int64() / bool(), not literals: numba compiles a callee once per literal argument value
        o = order_nb(pos, pos != 0.0, 0.0, ref, 0.0, np.int64(0), bool(0), cost, slip_f, frac, vbt, cash, cash, 0.0,
                     0.0, np.inf)  # fmt: skip
        dcash, _ = apply_order_nb(book, c, t, reason, o, ref, slip_f[2], bool(0), np.int64(0), sink)
        return dcash
    return close_nb(book, c, t, ref, slip_f, cost, reason, sink)


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def rule_exit_nb(book, c, t, reason, ref, cs, bar_costs, vbt, cash, sink, order_model):
    """A position rule's exit of column c (``reason``) at ``ref``: time stops pay the exits'
    slippage, price rules ``stop_slippage``, both half the spread (``orders.spread_of_nb``);
    ``cs``: the column's settings; ``vbt``: the group's cash rule is vectorbt's. Returns the
    cash change."""
    slip_x = (cs["exit_slippage"] if reason == REASON_TIME_STOP else cs["stop_slippage"], cs["exit_slippage_per_share"],
              spread_of_nb(bar_costs, cs, c, t, ref, order_model))  # fmt: skip
    return exit_nb(book, c, t, reason, ref, slip_x, cost_of_nb(cs, book, c, order_model, bar_costs, t),
                   cs["fractional"], vbt, cash, sink, order_model)  # fmt: skip


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def refuse_entry_nb(book, sink, c, t, d, add, reason, cs, ref, slip, bar_costs, size, equity, pct, cash, free,
                    order_model):  # fmt: skip
    """Column c's entry in direction ``d`` (``add``: an increase of the position held) refused
    with ``reason`` (breaker, daily loss, session end, max positions) at reference price ``ref``
    (``slip``: its slippage fraction, per share, and half the spread per share): its rejected
    row, with the shares it asked for (``orders.entry_request_nb``)."""
    side, _, req = entry_request_nb(d, ref, size, cs["size_type"], cost_of_nb(cs, book, c, order_model, bar_costs, t),
                                    slip, cs["fractional"], equity, pct, cash, free)  # fmt: skip
    write_reject_nb(sink, c, t, np.int64(side), np.int64(EFFECT_INCREASE if add else EFFECT_ENTRY), reason, req, 0.0,
                    ref)  # fmt: skip


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def enter_nb(book, c, t, d, reason, cs, ref, slip, bar_costs, size, equity, avail, cap, cap_reason, lev_set, cash,
             free, sink, order_model):  # fmt: skip
    """Column c enters in direction ``d`` (+1 long, -1 short) at reference price ``ref`` (``slip``:
    its slippage fraction, per share, and half the spread per share; a market entry's are the
    column's, a resting order's its fill's, ``resting.py``),
    ``size`` read at the signal bar, under the column's settings ``cs``: from flat, or adding to
    a position on the same side (``accumulate``; an increase at average cost).

    The account: ``equity`` (sizing), ``avail`` (buying power), ``cap`` (largest notional the
    portfolio limits allow, ``cap_reason`` the binding one), ``cash`` and ``free`` cash (percent
    of cash sizes, vectorbt's short sales); ``lev_set``: the user set a gross leverage cap (a cut
    is recorded as ``max_gross_leverage``). ``reason`` >= 0 refuses the entry with that reason
    (breaker, daily loss, session end, max positions). Every refusal or cut leaves a rejected
    row, effect ``entry`` or ``increase`` (README "Cash limit", "Portfolio limits"). The fill
    goes through ``book.apply_fill_nb``. Returns (cash change, shares, executed price before
    market impact, fees plus the impact paid: what the entry took of the buying power is shares x
    that price + those costs, as its sizing counted it); shares 0 when nothing filled.
    """
    cost = cost_of_nb(cs, book, c, order_model, bar_costs, t)
    hs = slip[2]
    pct = cs["percent_of"] == PERCENT_OF_CASH
    entry = np.int64(EFFECT_INCREASE if book[c]["qty"] != 0.0 else EFFECT_ENTRY)
    if reason >= 0:
        refuse_entry_nb(book, sink, c, t, d, book[c]["qty"] != 0.0, np.int64(reason), cs, ref, slip, bar_costs, size,
                        equity, pct, cash, free, order_model)  # fmt: skip
        return 0.0, 0.0, 0.0, 0.0
    status, side, px, q, req, fee, ip, dcash = entry_fill_nb(
        d, ref, size, cs["size_type"], cost, slip, cs["fractional"], equity, avail, cap, cs["cash_rule"],
        cs["size_rule"], pct, cash, free,
    )  # fmt: skip
    why = np.int64(-1)
    if status == ENTRY_REDUCED or status == ENTRY_NO_CASH:
        why = REJ_MAX_GROSS_LEVERAGE if lev_set else (REJ_REDUCED_CASH if status == ENTRY_REDUCED
                                                      else REJ_INSUFFICIENT_CASH)  # fmt: skip
    elif status == ENTRY_CAPPED or status == ENTRY_CAP_NONE:
        why = cap_reason
    elif status == ENTRY_ZERO:
        why = REJ_ZERO_QUANTITY
    if status >= ENTRY_NO_CASH:
        write_reject_nb(sink, c, t, np.int64(side), entry, np.int64(why), req, 0.0, ref)
        return 0.0, 0.0, 0.0, 0.0
    if status != ENTRY_OK:
        write_reject_nb(sink, c, t, np.int64(side), entry, np.int64(why), req, q, ref)
    if book[c]["qty"] == 0.0:  # apply_fill_nb's own entry step, called directly: one call level less on
        # the most common fill (scenario B's kernel 31.6 -> 29.5 ms, benchmarks/bench_kernel.py)
        adverse = abs(px - ref - d * (hs + ip))  # (as apply_fill_nb: a spread alone leaves rounding, not slippage)
        slip = q * adverse if adverse > 1e-12 * abs(px) else 0.0
        open_position_nb(book, c, t, d * q, px, fee, slip, q * hs, q * ip, np.int64(REASON_SIGNAL), sink)
    else:
        apply_fill_nb(book, c, t, d * q, px, ref, hs, ip, fee, np.int64(REASON_SIGNAL), np.int64(-1), sink, bool(0))
    return dcash, q, px - d * ip, fee + q * ip


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def free_cash_nb(cash, book, c0, c1):
    """Free cash of a group (vectorbt): cash minus twice the short positions at their entry prices."""
    debt = 0.0
    for c in range(c0, c1):
        q = book[c]["qty"]
        if q < 0.0:
            debt += -q * book[c]["avg_price"]
    return cash - 2.0 * debt


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def fill_one_nb(book, orders, c, t, cs, ref, bits, size_a, bar_costs, lev, cash, sink, order_model):
    """The waiting order of a one-column account without portfolio limits at reference price
    ``ref`` of bar t (signal bits ``bits``), as the signal driver's group phases
    (``simulate._phase_nb``, ``_entries_nb``) fill it for a group of one: its exit
    (``exit_nb``), then its entry (``enter_nb``), sized on the account's equity (the position
    marked at ``ref``), its buying power (``lev`` x equity - gross, or the cash under
    ``cash_rule="ml4t"``) and its free cash. With ``order_model`` not None also an increase
    (``accumulate``) and vectorbt's order model: a one-order reversal and vectorbt's cash rule
    (``orders.order_nb``, ``apply_order_nb``; a cover the cash rule cuts drops the entry). A call
    with a dozen arguments instead of the phases' two dozen: scenario A's kernel 38 -> 29 ms,
    and 51 -> 30 ms under ``preset="vectorbt"``. Returns (cash, orders still waiting)."""
    o = orders[c]
    act = o["action"]
    if act == ACT_NONE:
        return cash, 0
    if (bits & SIG_VALID) == 0 or is_resting_nb(o, cs, order_model):  # (a resting entry: the resting phase's)
        return cash, 1
    o["action"] = ACT_NONE
    vbt = cs["cash_rule"] == CASH_VECTORBT
    exits = is_exit_action_nb(act)
    q = book[c]["qty"]
    hs = spread_of_nb(bar_costs, cs, c, t, ref, order_model)
    # a one-order reversal is one order with the entry below, any other exit fills first
    whole = order_model is not None and exits and q != 0.0 and act != ACT_CLOSE and cs["reversal"] == REVERSAL_ONE_ORDER
    if exits and q != 0.0 and not whole:
        cash += exit_nb(book, c, t, o["reason"], ref, (cs["exit_slippage"], cs["exit_slippage_per_share"], hs),
                        cost_of_nb(cs, book, c, order_model, bar_costs, t), cs["fractional"], vbt, cash, sink,
                        order_model)  # fmt: skip
        if order_model is not None and act != ACT_CLOSE and book[c]["qty"] != 0.0:  # the cash rule cut the cover
            o["reason"] = REASON_SIGNAL
            write_reject_nb(sink, c, t, np.int64(1 if entry_direction_nb(act) > 0.0 else -1), np.int64(EFFECT_ENTRY),
                            np.int64(REJ_INSUFFICIENT_CASH), np.nan, 0.0, ref)  # fmt: skip
            return cash, 0
    if not whole:
        o["reason"] = REASON_SIGNAL
    if act == ACT_CLOSE:
        return cash, 0
    if order_model is not None and exits and cs["order_type"] != ORDER_MARKET:  # a reversal's entry rests now
        o["action"] = ACT_OPEN_LONG if entry_direction_nb(act) > 0.0 else ACT_OPEN_SHORT
        return cash, 1
    d = entry_direction_nb(act)
    reason = np.int64(REJ_SESSION_END) if (bits & SIG_SESSION_CLOSED) != 0 else np.int64(-1)
    size = size_at_nb(size_a, c, o["bar"])  # read at the signal bar
    equity = cash
    avail = cash if cs["cash_rule"] == CASH_ML4T else lev * cash
    free = cash
    if order_model is not None:
        q = book[c]["qty"]
        if act >= ACT_ADD_LONG and q == 0.0:  # an increase whose position a rule closed first
            write_reject_nb(sink, c, t, np.int64(1 if d > 0.0 else -1), np.int64(EFFECT_INCREASE),
                            np.int64(REJ_POSITION_CLOSED), np.nan, 0.0, ref)  # fmt: skip
            return cash, 0
        if q != 0.0:  # an increase, or a one-order reversal: the position marked at ``ref``
            equity = cash + q * ref
            avail = cash if cs["cash_rule"] == CASH_ML4T else lev * equity - abs(q) * ref
        pct = cs["percent_of"] == PERCENT_OF_CASH
        if d < 0.0 and (pct or vbt):
            free = free_cash_nb(cash, book, c, c + 1)
        if whole or vbt:  # vectorbt's order model
            add = q * d > 0.0
            cost = cost_of_nb(cs, book, c, order_model, bar_costs, t)
            slip = (cs["slippage"], cs["slippage_per_share"], hs)
            if reason >= 0:  # the new part is refused; a reversal's closing part still fills
                refuse_entry_nb(book, sink, c, t, d, add, reason, cs, ref, slip, bar_costs, size, equity, pct, cash,
                                free, order_model)  # fmt: skip
                if not whole:
                    return cash, 0
            od = order_nb(q, whole, 0.0 if reason >= 0 else d, ref, size, cs["size_type"], pct, cost, slip,
                          cs["fractional"], vbt, cash, free, equity, avail, np.inf)  # fmt: skip
            dcash, _ = apply_order_nb(book, c, t, o["reason"], od, ref, hs, bool(0),
                                      np.int64(REJ_MAX_POSITION_WEIGHT), sink)  # fmt: skip
            o["reason"] = REASON_SIGNAL
            return cash + dcash, 0
    # no limit (cap inf, named as the group phases' entry_cap_nb names it), no leverage cap set
    slip = (cs["slippage"], cs["slippage_per_share"], hs)
    dcash, _, _, _ = enter_nb(book, c, t, d, reason, cs, ref, slip, bar_costs, size, equity, avail, np.inf,
                              np.int64(REJ_MAX_POSITION_WEIGHT), bool(0), cash, free, sink, order_model)  # fmt: skip
    return cash + dcash, 0
