"""Target-weight portfolios: one shared-cash account holds, after each rebalance, the signed
fraction of its equity the weights ask for (numba; README "Target weights").

Per bar, in this order:

1. open phase   - targets decided on an earlier bar fill at this bar's fill price
                  (``fill="next_open"``), reductions of every asset first, then increases;
2. intrabar     - position rules (stops, targets, trailing, time stops; anchored at the
                  average cost, levels read at the entry's decision bar) close what they hit;
                  the rest sees the bar's high / low (MFE / MAE) and moves its trailing peak;
3. close phase  - the same for ``fill="next_close"``;
4. decision     - on a rebalance bar, equity and each asset's close give its target holding
                  (``size_at="decision"``; with ``"fill"`` the weight waits and is sized at the
                  fill); a new target replaces one still waiting; ``fill="same_close"`` fills it
                  at once (another close phase);
5. valuation    - positions marked at the close (the last close carries over missing bars).

Increases that do not fit the buying power (``lev x equity - gross``, after the reductions)
are cut by ``shortfall``: one common factor on all of them (``"scale"``, independent of asset
order), in priority order each getting what still fits (``"priority"``), or rejected whole
(``"reject"``). ``cash_rule="vectorbt"`` and ``"ml4t"`` replace these two steps by the peers'
order models (``_vectorbt_orders_nb``, ``_ml4t_orders_nb``; ml4t-backtest's sizing in
``target_qty_nb``). Every fill goes through ``book.apply_fill_nb``. The reference engine is
``tests/reference/portfolio.py``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from ml4t_vec._kernels import BOOL, F64, I64
from ml4t_vec._kernels.book import (
    apply_fill_inline_nb,
    apply_fill_nb,
    close_open_nb,
    month_start_nb,
    nights_nb,
    write_reject_nb,
)
from ml4t_vec._kernels.codes import (
    CASH_ML4T,
    CASH_VECTORBT,
    EFFECT_ENTRY,
    EFFECT_EXIT,
    EFFECT_INCREASE,
    EFFECT_REDUCE,
    MISSING_HOLD,
    NO_EXIT,
    PEAK_FROM_FIRST_BAR,
    REASON_END_OF_DATA,
    REASON_LIQUIDATION,
    REASON_REBALANCE,
    REASON_TIME_STOP,
    REJ_DAILY_LOSS_LIMIT,
    REJ_INSUFFICIENT_CASH,
    REJ_MAX_DRAWDOWN,
    REJ_MAX_POSITIONS,
    REJ_NO_NEXT_BAR,
    REJ_REDUCED_CASH,
    REJ_ZERO_QUANTITY,
    ROUND_NEAREST,
    SHORTFALL_PRIORITY,
    SHORTFALL_SCALE,
    SIG_VALID,
    SIZE_AT_FILL,
    TIMING_NEXT_CLOSE,
    TIMING_NEXT_OPEN,
    TIMING_SAME_CLOSE,
)
from ml4t_vec._kernels.limits import NEVER, new_limit_state_nb
from ml4t_vec._kernels.orders import (
    ENTRY_NO_CASH,
    ENTRY_ZERO,
    cash_buy_nb,
    cash_sell_nb,
    exec_price_nb,
    fee_nb,
    flat_nb,
    half_spread_nb,
    max_affordable_nb,
    unit_cost_nb,
)
from ml4t_vec._kernels.risk import check_exit_nb, fraction_at_nb, next_peak_nb
from ml4t_vec._kernels.sort import stable_argsort_nb

TOL = 1e-9  # slack of whole-share rounding (0.999999999 shares is 1)
# a target within this fraction of the holding is no change: the rounding dust of equity / price
# (an all-in holding re-targeted at the same weight), not an order of 1e-15 shares paying fees
SAME = 1e-12
DUST = 1e-9  # buying power at or below this fraction of equity is none


class WeightParams(NamedTuple):
    """Per-column arrays (length n_cols) and run-wide settings (length 1), through ``kernel_tuple``."""

    fees: F64  # (n_cols, 1), or (n_cols, n_bars) read per bar (NaN: none)
    fixed_fees: F64  # likewise
    # (n_cols, 4 + 2 * MAX_TIERS) the commission schedule: per-share rate (NaN: read per bar,
    # ``per_share_bar``), its minimum per order (0: none), its cap as a fraction of the trade
    # value (inf: none), the number of tiers (0: the flat rate), then the tiers' monthly-share
    # bounds and their rates. One array: each field read in the fill phase's loops costs an
    # incref / decref pair (six of them made the daily rebalance's kernel 2.6x slower)
    commission: F64
    slippage: F64
    slippage_per_share: F64
    spread: F64  # (n_cols, 1 | n_bars) the full bid-ask spread, read at the fill bar (NaN: none)
    spread_price: BOOL  # the spread is in price units (else a fraction of the price)
    per_share_bar: F64  # (n_cols, n_bars) the per-share commission read per bar where the table's rate is NaN
    lot: F64  # lot size; 0: none (fractional, or whole shares)
    fractional: BOOL  # (1,)
    missing: I64  # (1,) MISSING_*
    size_at: I64  # (1,) SIZE_AT_*
    shortfall: I64  # (1,) SHORTFALL_*
    rounding: I64  # (1,) ROUND_*
    min_weight_change: F64  # (1,)
    min_trade_value: F64  # (1,)
    leverage: F64  # (1,) buying power = leverage x equity - gross exposure
    drift_band: F64  # (1,) relative drift of a held weight that makes a bar a decision bar; <= 0: off
    cash_rule: I64  # (1,) CASH_EQUITY (reductions first, buying power), CASH_VECTORBT (``_vectorbt_orders_nb``)
    # or CASH_ML4T (``_ml4t_orders_nb``, and ml4t-backtest's sizing in ``target_qty_nb``)
    select: I64  # (3,) k, short_k, buffer of a hold-aware top_k (``hold_aware_nb``; the weights hold ranks); k = 0: off
    max_weight: F64  # (1,) each target weight within +-this (``max_position_weight``); inf: off
    max_drawdown: F64  # (1,) the breaker trips at equity <= high-water mark x (1 - this); inf: off
    liquidate: BOOL  # (1,) a tripped breaker also orders every position closed
    cooldown: I64  # (1,) bars until the breaker resets (NEVER: stays tripped)
    daily_loss: F64  # (1,) increases refused for the rest of a day once its loss reaches this; inf: off
    day: I64  # (n_bars,) calendar day number of each bar (daily_loss)
    max_positions: I64  # (1,) open positions after an entry fills (entries in priority order); NEVER: off
    borrow: F64  # (n_cols, 1 | n_bars) annual borrow rate of a short, read at the asset's last bar
    borrow_on: BOOL  # (1,) shorts pay borrow fees (``book.borrow_nb``)
    cash_rate: F64  # (1,) annual interest negative cash pays (``book.interest_nb``); 0: none
    credit_rate: F64  # (1,) annual interest positive cash earns; 0: none
    nights: F64  # (n_bars,) calendar days from the previous bar of the time axis
    month: I64  # (n_bars,) calendar month of each bar (commission tiers count shares per month)


@njit(cache=True, nogil=True, error_model="numpy")
def _trunc_nb(x, unit):
    """``x`` toward zero to a multiple of ``unit`` (0: unchanged); a hair's slack for 0.999999999."""
    if unit <= 0.0:
        return x
    n = np.floor(abs(x) / unit + TOL)
    return n * unit if x > 0.0 else -n * unit


@njit(cache=True, nogil=True, error_model="numpy")
def _round_away_nb(x, unit):
    """``x`` to the nearest multiple of ``unit``, half away from zero."""
    n = np.floor(abs(x) / unit + 0.5)
    return n * unit if x > 0.0 else -n * unit


@njit(cache=True, nogil=True, error_model="numpy")
def close_to_nb(a, b):
    """Equal within 1e-9 relative or 1e-12 absolute."""
    return a == b or abs(a - b) <= max(1e-9 * max(abs(a), abs(b)), 1e-12)


@njit(cache=True, nogil=True, error_model="numpy")
def _round_even_nb(x):
    """``x`` to the nearest integer, half to even (Python's ``round``)."""
    f = np.floor(x)
    r = x - f
    if r > 0.5 or (r == 0.5 and f % 2.0 != 0.0):
        return f + 1.0
    return f


SIZE_OWN = 0  # target_qty_nb: ml4t_vec's sizing
SIZE_ML4T = 1  # ml4t-backtest's TargetWeightExecutor, whole shares half away from zero
SIZE_ML4T_LOTS = 2  # the same with lots: Python's round(shares / lot), half to even


@njit(cache=True, nogil=True, error_model="numpy")
def target_qty_nb(w, forced, equity, price, q, unit, rounding, min_weight_change, min_trade_value, model):
    """The holding weight ``w`` asks for, or NaN for no order (README "Target weights").

    ``unit``: the quantum (a lot, 1 share, or 0 for fractional shares). ``rounding``: the
    target toward zero (floor), or the change to the nearest quantum, half away from zero
    (nearest). A weight of 0 targets exactly 0. No order when the change is below the
    thresholds (``forced``, the close of a null weight, is never held back) or nothing changes
    (within ``SAME`` of the holding).

    ``model`` SIZE_ML4T / SIZE_ML4T_LOTS (``cash_rule="ml4t"``): ml4t-backtest 0.2.0's
    ``TargetWeightExecutor._process_asset``: ``w`` clipped to [-1, 1] (its default
    ``max_single_weight``), the change in value ``equity * (w - current weight)`` is what
    ``min_trade_value`` tests (before rounding), and with lots the change is rounded half to
    even (Python's ``round``; whole shares stay half away from zero). A weight of 0 is a change
    like any other: with lots, -79 shares round to -80 and leave a short of 1 (the engine's
    arithmetic, kept); a null weight's close (``forced``) is exact."""
    if model != SIZE_OWN:
        w = min(max(w, -1.0), 1.0)
        cur = q * price / equity
        dv = equity * (w - cur)
        if not forced and (abs(w - cur) < min_weight_change or abs(dv) < min_trade_value):
            return np.nan
        if forced or (w == 0.0 and unit == 0.0):
            tq = 0.0  # close_position, or fractional shares: exactly flat (a rounded change may not be)
        else:
            d = dv / price
            if unit > 0.0 and rounding == ROUND_NEAREST:
                d = _round_even_nb(d / unit) * unit if model == SIZE_ML4T_LOTS else _round_away_nb(d, unit)
                tq = q + d
            else:
                tq = _trunc_nb(q + d, unit)
        return np.nan if abs(tq - q) <= SAME * abs(q) else tq
    if w == 0.0:
        tq = 0.0
    else:
        tq = w * equity / price
        if unit > 0.0:
            tq = q + _round_away_nb(tq - q, unit) if rounding == ROUND_NEAREST else _trunc_nb(tq, unit)
    if not forced:
        if abs(w - q * price / equity) < min_weight_change:
            return np.nan
        if abs(tq - q) * price < min_trade_value:
            return np.nan
    if abs(tq - q) <= SAME * abs(q):
        return np.nan
    return tq


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _mark_nb(book, c, t, price, off, step, col_asset, sig):
    if (sig[c, t] & SIG_VALID) != 0:
        return price[off[col_asset[c]] + t * step]
    return book[c]["last_close"]


@njit(cache=True, nogil=True, error_model="numpy")
def _equity_nb(t, c0, c1, price, off, step, col_asset, sig, book, cash):
    """Cash plus columns c0..c1 marked at ``price`` on bar t (the last close where no row)."""
    equity = cash
    for c in range(c0, c1):
        q = book[c]["qty"]
        if q != 0.0:
            equity += q * _mark_nb(book, c, t, price, off, step, col_asset, sig)
    return equity


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _unit_nb(wp, c):
    if wp.lot[c] > 0.0:
        return wp.lot[c]
    return 0.0 if wp.fractional[0] else 1.0


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _cost_nb(wp, c, t, volume):
    """Column c's fee schedule for a fill on bar t as ``orders.fee_nb`` takes it: the fees read
    per bar where given (``_at_nb``), a tiered rate by ``volume``, the portfolio's
    shares this month (every fill of this driver reads it here, as the signal drivers'
    ``orders.cost_of_nb``). The callers pass ``book[0]["mvol"]``, not the book: the book as an
    argument of this inlined helper made the daily rebalance's kernel 2.5x slower."""
    cm = wp.commission
    rate = cm[c, 0]
    if rate != rate:  # the per-share commission is read per bar (NaN in the table)
        rate = _at_nb(wp.per_share_bar, c, t)
    if cm[c, 3] > 0.0:  # tiers
        rate = _tier_rate_nb(cm, c, volume)
    return (_at_nb(wp.fees, c, t), _at_nb(wp.fixed_fees, c, t), rate, cm[c, 1], cm[c, 2])  # (no impact)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _at_nb(values, c, t):
    """Column c's value at bar t of a cost that may be read per bar ((n_cols, 1) or (n_cols,
    n_bars)); NaN (a null): 0. The fees and fixed fees are such arrays, so a run with none per
    bar reads as many fields as before (each field read in the fill loops costs an incref /
    decref pair; three more made the daily rebalance's kernel 2.6x slower)."""
    x = values[c, t if values.shape[1] > 1 else 0]
    return x if x == x else 0.0


@njit(cache=True, nogil=True, error_model="numpy")
def _tier_rate_nb(cm, c, volume):
    """Column c's tiered per-share rate (``WeightParams.commission``): the first tier whose bound is
    above ``volume``, the shares the portfolio traded this month."""
    k = (cm.shape[1] - 4) // 2
    for i in range(k):
        if volume < cm[c, 4 + i]:
            return cm[c, 4 + k + i]
    return cm[c, 3 + 2 * k]


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _sizing_nb(wp, c):
    """``target_qty_nb``'s model for column c."""
    if wp.cash_rule[0] != CASH_ML4T:
        return SIZE_OWN
    return SIZE_ML4T_LOTS if wp.lot[c] > 0.0 else SIZE_ML4T


@njit(cache=True, nogil=True, error_model="numpy")
def _fill_phase_nb(t, c0, c1, fill_px, off, step, col_asset, sig, wp, book, orders, cash, next_pid, sink, block,
                   peer):  # fmt: skip
    """Fill every order of columns c0..c1 whose asset has a row on bar t, at ``fill_px``:
    reductions first (a reversal's closing part included), then the increases, cut by
    ``shortfall`` to the buying power, or all refused with reason ``block`` (a REJ_* code, 0:
    none) while the drawdown breaker or the daily loss limit holds. ``peer`` None (the default
    cash rule): the peers' order models are pruned at compile time (a first run compiles less).
    Returns (cash, next position id)."""
    n = np.int64(0)
    due = np.empty(c1 - c0, dtype=np.int64)
    for c in range(c0, c1):
        if orders[c]["bar"] >= 0 and (sig[c, t] & SIG_VALID) != 0:
            due[n] = c
            n += 1
    if n == 0:
        return cash, next_pid
    sized_at_fill = wp.size_at[0] == SIZE_AT_FILL
    equity = cash
    if sized_at_fill:  # one snapshot for the phase, before any fill
        equity = _equity_nb(t, c0, c1, fill_px, off, step, col_asset, sig, book, cash)
    tq = np.full(n, np.nan)
    prio = np.empty(n)
    rsn = np.empty(n, dtype=np.int64)  # each order's fill reason
    for i in range(n):
        c = due[i]
        o = orders[c]
        book[c]["decided"] = o["bar"]  # the entry's rule levels are read at it
        o["bar"] = -1
        prio[i] = o["priority"]
        rsn[i] = o["reason"]
        q = book[c]["qty"]
        if sized_at_fill:
            if equity <= 0.0:
                continue
            tq[i] = target_qty_nb(o["target"], o["forced"] != 0, equity, fill_px[off[col_asset[c]] + t * step], q,
                                  _unit_nb(wp, c), wp.rounding[0], wp.min_weight_change[0], wp.min_trade_value[0],
                                  _sizing_nb(wp, c))  # fmt: skip
        else:
            tq[i] = o["target"]
        if tq[i] == q:
            tq[i] = np.nan
    if peer is not None:  # the peers' order models (no breaker with them)
        if wp.cash_rule[0] == CASH_VECTORBT:
            return _vectorbt_orders_nb(t, due, n, tq, fill_px, off, step, col_asset, wp, book, cash, next_pid, sink)
        if wp.cash_rule[0] == CASH_ML4T:
            return _ml4t_orders_nb(t, due, n, tq, fill_px, off, step, col_asset, wp, book, cash, next_pid, sink)
    # (a) reductions: toward the target, or to flat before a reversal (which pays the fixed fee)
    flip_fill = np.full(n, -1, dtype=np.int64)  # a reversal's closing fill / trade record, its shares and fee
    flip_trade = np.full(n, -1, dtype=np.int64)
    flip_q = np.zeros(n)
    flip_fee = np.zeros(n)
    for i in range(n):
        c = due[i]
        q = book[c]["qty"]
        if np.isnan(tq[i]) or q == 0.0 or ((tq[i] > 0.0) == (q > 0.0) and abs(tq[i]) > abs(q)):
            continue
        flip = tq[i] != 0.0 and (tq[i] > 0.0) != (q > 0.0)
        keep = 0.0 if flip else tq[i]
        dq = keep - q
        ref = fill_px[off[col_asset[c]] + t * step]
        slip = _slip_nb(wp, c, t, ref)
        px = exec_price_nb(ref, np.int64(1 if dq > 0.0 else -1), slip)
        fee = fee_nb(dq, px, _cost_nb(wp, c, t, book[0]["mvol"]))
        d, next_pid = apply_fill_inline_nb(book, c, t, dq, px, ref, slip[2], 0.0, fee, rsn[i], next_pid, sink, bool(0))
        cash += d
        book[c]["qty"] = keep  # exactly the target (q - (q - keep) may differ in the last bit)
        if flip:
            flip_fill[i] = sink.n[0] - 1
            flip_trade[i] = sink.n[1] - 1
            flip_q[i] = abs(dq)
            flip_fee[i] = fee
    # (b) increases, against the buying power left after the reductions
    inc = np.zeros(n)  # signed shares wanted
    px_of = np.zeros(n)
    unit_cost = np.zeros(n)
    fixed = np.zeros(n)
    n_inc = 0
    need = 0.0
    flat = True  # every increase's commission is linear (no minimum, no cap): the closed forms
    for i in range(n):
        c = due[i]
        q = book[c]["qty"]
        if np.isnan(tq[i]) or abs(tq[i]) <= abs(q):
            continue
        inc[i] = tq[i] - q
        ref = fill_px[off[col_asset[c]] + t * step]
        px_of[i] = exec_price_nb(ref, np.int64(1 if inc[i] > 0.0 else -1), _slip_nb(wp, c, t, ref))
        cost = _cost_nb(wp, c, t, book[0]["mvol"])
        unit_cost[i] = unit_cost_nb(px_of[i], cost)  # per share (the fixed fee is fixed[i])
        fixed[i] = 0.0 if flip_q[i] > 0.0 else cost[1]  # a reversal paid it in (a)
        flat = flat and flat_nb(cost)
        need += _inc_cost_nb(abs(inc[i]), px_of[i], cost, unit_cost[i], fixed[i], flip_q[i], flip_fee[i])
        n_inc += 1
    if n_inc == 0:
        return cash, next_pid
    if block != 0:  # the breaker or the day's loss limit: no increase fills
        for i in range(n):
            if inc[i] != 0.0:
                c = due[i]
                effect = np.int64(EFFECT_ENTRY if book[c]["qty"] == 0.0 else EFFECT_INCREASE)
                write_reject_nb(sink, c, t, np.int64(1 if inc[i] > 0.0 else -1), effect, block, abs(inc[i]), 0.0,
                                fill_px[off[col_asset[c]] + t * step])  # fmt: skip
        return cash, next_pid
    if wp.max_positions[0] < NEVER:  # new positions (from flat), in priority order, while there is room
        held = 0
        for c in range(c0, c1):
            if book[c]["qty"] != 0.0:
                held += 1
        keys = np.empty(n)
        for i in range(n):
            keys[i] = np.inf if np.isinf(prio[i]) or np.isnan(prio[i]) else -prio[i]
        by_prio = stable_argsort_nb(keys, n)
        for j in range(n):
            i = by_prio[j]
            c = due[i]
            if inc[i] == 0.0 or book[c]["qty"] != 0.0:
                continue
            if held < wp.max_positions[0]:
                held += 1
                continue
            ref = fill_px[off[col_asset[c]] + t * step]
            write_reject_nb(sink, c, t, np.int64(1 if inc[i] > 0.0 else -1), np.int64(EFFECT_ENTRY),
                            np.int64(REJ_MAX_POSITIONS), abs(inc[i]), 0.0, ref)  # fmt: skip
            ci = _cost_nb(wp, c, t, book[0]["mvol"])
            need -= _inc_cost_nb(abs(inc[i]), px_of[i], ci, unit_cost[i], fixed[i], flip_q[i], flip_fee[i])
            inc[i] = 0.0
            n_inc -= 1
        if n_inc == 0:
            return cash, next_pid
    equity = cash
    gross = 0.0
    for c in range(c0, c1):
        q = book[c]["qty"]
        if q != 0.0:
            m = _mark_nb(book, c, t, fill_px, off, step, col_asset, sig)
            equity += q * m
            gross += abs(q) * m
    avail = wp.leverage[0] * equity - gross
    no_power = avail <= DUST * abs(equity)
    mode = wp.shortfall[0]
    got = np.zeros(n)
    fits_all = need <= avail or close_to_nb(need, avail)
    if fits_all:
        for i in range(n):
            got[i] = abs(inc[i])
    elif mode == SHORTFALL_SCALE:
        if flat:
            fix = 0.0
            var = 0.0
            for i in range(n):
                if inc[i] != 0.0:
                    fix += fixed[i]
                    var += abs(inc[i]) * unit_cost[i]
            s = 0.0 if no_power else min(1.0, max(0.0, (avail - fix) / var))
        else:  # a commission minimum or cap: the largest s whose orders fit (``_scale_nb``)
            s = 0.0 if no_power else _scale_nb(n, inc, px_of, unit_cost, fixed, flip_q, flip_fee, due, wp,
                                               t, book[0]["mvol"], avail)  # fmt: skip
        for i in range(n):
            if inc[i] != 0.0:
                got[i] = max(abs(_trunc_nb(s * abs(inc[i]), _unit_nb(wp, due[i]))), 0.0)
    order = np.arange(n)
    if mode != SHORTFALL_SCALE:  # higher priority first, none last, ties in asset order
        keys = np.empty(n)
        for i in range(n):
            keys[i] = np.inf if np.isinf(prio[i]) or np.isnan(prio[i]) else -prio[i]
        order = stable_argsort_nb(keys, n)
        if not fits_all:
            room = 0.0 if no_power else avail
            for j in range(n):
                i = order[j]
                if inc[i] == 0.0:
                    continue
                ci = _cost_nb(wp, due[i], t, book[0]["mvol"])
                cost = _inc_cost_nb(abs(inc[i]), px_of[i], ci, unit_cost[i], fixed[i], flip_q[i], flip_fee[i])
                if cost <= room or close_to_nb(cost, room):
                    got[i] = abs(inc[i])
                    room -= cost
                elif mode == SHORTFALL_PRIORITY and room > fixed[i]:
                    if flat_nb(ci):
                        fit = (room - fixed[i]) / unit_cost[i]
                    elif flip_q[i] > 0.0:  # the order's shares that fit, less its closing part's
                        fit = max_affordable_nb(room + flip_fee[i] + flip_q[i] * px_of[i], px_of[i], ci) - flip_q[i]
                    else:
                        fit = max_affordable_nb(room, px_of[i], ci)
                    got[i] = max(abs(_trunc_nb(fit, _unit_nb(wp, due[i]))), 0.0)
                    if got[i] > 0.0:
                        room -= _inc_cost_nb(got[i], px_of[i], ci, unit_cost[i], fixed[i], flip_q[i], flip_fee[i])
    for j in range(n):
        i = order[j]
        if inc[i] == 0.0:
            continue
        c = due[i]
        ref = fill_px[off[col_asset[c]] + t * step]
        want = abs(inc[i])
        side = np.int64(1) if inc[i] > 0.0 else np.int64(-1)
        effect = np.int64(EFFECT_ENTRY if book[c]["qty"] == 0.0 else EFFECT_INCREASE)
        if got[i] < want:
            why = REJ_REDUCED_CASH if got[i] > 0.0 else REJ_INSUFFICIENT_CASH
            write_reject_nb(sink, c, t, side, effect, np.int64(why), want, got[i], ref)
        if got[i] <= 0.0:
            continue
        dq = got[i] if inc[i] > 0.0 else -got[i]
        cost = _cost_nb(wp, c, t, book[0]["mvol"])
        flip = flip_q[i] > 0.0
        closing_fee = 0.0  # a reversal's closing part paid flip_fee[i] in (a): the order owes total - that
        if flip:  # one order: its fee on both parts, split by shares
            total = fee_nb(flip_q[i] + got[i], px_of[i], cost)
            share_x = flip_q[i] / (flip_q[i] + got[i]) * total
            _set_exit_fee_nb(sink, flip_fill[i], flip_trade[i], share_x)
            fee = total - share_x
            closing_fee = total - flip_fee[i]
        else:
            fee = fee_nb(dq, px_of[i], cost)
        hs = half_spread_nb(wp.spread, wp.spread_price[c], c, t, ref)
        d, next_pid = apply_fill_inline_nb(book, c, t, dq, px_of[i], ref, hs, 0.0, fee, rsn[i], next_pid, sink, bool(0))
        cash += (d + fee - closing_fee) if flip else d  # (d + fee) - closing_fee: the bits of the two-call form
    return cash, next_pid


@njit(cache=True, nogil=True, error_model="numpy")
def _scaled_cost_nb(s, n, inc, px_of, unit_cost, fixed, flip_q, flip_fee, due, wp, t, volume):
    """What the increases cost, each scaled to ``s`` x its shares."""
    total = 0.0
    for i in range(n):
        if inc[i] != 0.0:
            cost = _cost_nb(wp, due[i], t, volume)
            total += _inc_cost_nb(s * abs(inc[i]), px_of[i], cost, unit_cost[i], fixed[i], flip_q[i], flip_fee[i])
    return total


@njit(cache=True, nogil=True, error_model="numpy")
def _scale_nb(n, inc, px_of, unit_cost, fixed, flip_q, flip_fee, due, wp, t, volume, avail):
    """``shortfall="scale"`` under a commission minimum or cap: the largest s in [0, 1] whose
    increases, each scaled to s x its shares, cost at most ``avail`` (they do not all fit at 1).

    Their cost T(s) rises with s, linearly between the points where an order's commission
    changes piece (its per-share rate meets the minimum, or the cap meets it). The points, sorted,
    are searched by bisection for the piece where T passes ``avail``, and T is solved on it:
    about 2 log2(2n) evaluations of T where a bisection on s took 64 (a daily rebalance short of
    cash at each bar: 270 -> 180 ms of kernel)."""
    pts = np.empty(2 * n + 1)
    m = 0
    for i in range(n):
        if inc[i] != 0.0:
            cost = _cost_nb(wp, due[i], t, volume)
            q = abs(inc[i])
            k = cost[4] * px_of[i]
            for b in (cost[3] / k if k > 0.0 else np.inf, cost[3] / cost[2] if cost[2] > 0.0 else np.inf):
                g = b - flip_q[i]  # a reversal's commission is on its closing part plus g
                if 0.0 < g < q:
                    pts[m] = g / q
                    m += 1
    pts[m] = 1.0
    m += 1
    pts = np.sort(pts[:m])
    lo = 0  # the first point where T > avail (T(1) > avail)
    hi = m - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if _scaled_cost_nb(pts[mid], n, inc, px_of, unit_cost, fixed, flip_q, flip_fee, due, wp, t, volume) > avail:
            hi = mid
        else:
            lo = mid + 1
    right = pts[lo]
    left = pts[lo - 1] if lo > 0 else 0.0
    inner = 0.5 * (left + right)  # T is linear on (left, right]: its line through two points of it
    t_r = _scaled_cost_nb(right, n, inc, px_of, unit_cost, fixed, flip_q, flip_fee, due, wp, t, volume)
    t_i = _scaled_cost_nb(inner, n, inc, px_of, unit_cost, fixed, flip_q, flip_fee, due, wp, t, volume)
    slope = (t_r - t_i) / (right - inner)
    if not slope > 0.0:
        return left
    return min(right, max(left, right - (t_r - avail) / slope))


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _slip_nb(wp, c, t, ref):
    """Column c's slippage (fraction, per share) and half the spread per share
    (``orders.half_spread_nb``) for a fill on bar t at reference price ``ref``."""
    return (wp.slippage[c], wp.slippage_per_share[c], half_spread_nb(wp.spread, wp.spread_price[c], c, t, ref))


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _inc_cost_nb(g, px, cost, unit, fixed, flip_q, flip_fee):
    """Cash an increase of ``g`` shares at ``px`` takes: its notional and fees, ``g * unit +
    fixed`` under a flat commission; with a minimum or cap the order's fee, and for a reversal
    (``flip_q`` shares closed in (a), paying ``flip_fee``) the fee of the whole order less what
    its closing part paid."""
    if flat_nb(cost):
        return g * unit + fixed
    if g <= 0.0:
        return 0.0
    if flip_q > 0.0:
        return g * px + fee_nb(flip_q + g, px, cost) - flip_fee
    return g * px + fee_nb(g, px, cost)


@njit(cache=True, nogil=True, error_model="numpy")
def _fill_order_nb(book, c, t, side, got, closing, px, ref, hs, cost, reason, next_pid, sink):
    """One order of column c: ``got`` shares on ``side`` at ``px`` (reference ``ref``, half the
    spread per share ``hs``), the first ``closing`` of them
    closing the position (a reversal is two fills at one price, its fee split by shares).
    Returns (cash change, next position id)."""
    fee = fee_nb(got, px, cost)
    if closing <= 0.0:
        return apply_fill_nb(book, c, t, side * got, px, ref, hs, 0.0, fee, reason, next_pid, sink, bool(0))
    whole = closing == abs(book[c]["qty"])
    fee_x = closing / got * fee
    d, next_pid = apply_fill_nb(book, c, t, side * closing, px, ref, hs, 0.0, fee_x, reason, next_pid, sink, bool(0))
    if whole:
        book[c]["qty"] = 0.0  # exactly flat (q - q may differ from 0 in the last bit)
    if got > closing:
        d2, next_pid = apply_fill_nb(
            book, c, t, side * (got - closing), px, ref, hs, 0.0, fee - fee_x, reason, next_pid, sink, bool(0)
        )
        d += d2
    return d, next_pid


@njit(cache=True, nogil=True, error_model="numpy")
def _vectorbt_orders_nb(t, due, n, tq, fill_px, off, step, col_asset, wp, book, cash, next_pid, sink):
    """vectorbt 1.2's ``from_orders(size_type="targetpercent", call_seq="auto")``: one order per
    column, sorted by its value (target - held) * reference price, ascending (sells first,
    biggest first, then buys, smallest first; ties in column order). Each is one fill at one
    price (a reversal: two fills of one order, its fee split by shares). A buy, a cover
    included, is limited by the cash (short proceeds included, ``cash_buy_nb``); a sell whose
    proceeds do not pay its fees is refused (``cash_sell_nb``). Returns (cash, next id)."""
    keys = np.empty(n)
    for i in range(n):
        c = due[i]
        keys[i] = np.inf if np.isnan(tq[i]) else (tq[i] - book[c]["qty"]) * fill_px[off[col_asset[c]] + t * step]
    order = stable_argsort_nb(keys, n)
    reason = np.int64(REASON_REBALANCE)
    for j in range(n):
        i = order[j]
        if np.isnan(tq[i]):
            continue
        c = due[i]
        q = book[c]["qty"]
        dq = tq[i] - q
        side = np.int64(1 if dq > 0.0 else -1)
        ref = fill_px[off[col_asset[c]] + t * step]
        cost = _cost_nb(wp, c, t, book[0]["mvol"])
        slip = _slip_nb(wp, c, t, ref)
        px = exec_price_nb(ref, side, slip)
        want = abs(dq)
        if side > 0:
            status, got = cash_buy_nb(want, px, cost, cash, wp.fractional[0])
        else:
            status = cash_sell_nb(want, px, cost)
            got = want
        if status >= ENTRY_NO_CASH:
            got = 0.0
        closing = min(abs(q), got) if q * side < 0.0 else 0.0
        if got < want:
            if q == 0.0 or (q * side < 0.0 and got > abs(q)):
                effect = EFFECT_ENTRY if q == 0.0 or q * side < 0.0 else EFFECT_INCREASE
            elif q * side > 0.0:
                effect = EFFECT_INCREASE
            else:
                effect = EFFECT_EXIT if tq[i] * q <= 0.0 else EFFECT_REDUCE
            why = REJ_REDUCED_CASH if got > 0.0 else (REJ_ZERO_QUANTITY if status == ENTRY_ZERO else
                                                       REJ_INSUFFICIENT_CASH)  # fmt: skip
            write_reject_nb(sink, c, t, side, np.int64(effect), np.int64(why), want, got, ref)
        if got <= 0.0:
            continue
        d, next_pid = _fill_order_nb(book, c, t, side, got, closing, px, ref, slip[2], cost, reason, next_pid, sink)
        cash += d
    return cash, next_pid


ML4T_CASH_TOLERANCE = 0.01  # ml4t-backtest's gatekeeper: an order may exceed the cash by a cent


@njit(cache=True, nogil=True, error_model="numpy")
def ml4t_fits_nb(m, d, price, q, cash, cost):
    """ml4t-backtest 0.2.0's gatekeeper (``accounting/gatekeeper.py``, ``policy.py``, an account
    that may short without leverage, short proceeds credited to the cash): may an order of ``m``
    shares in direction ``d`` (+1 buy, -1 sell) fill at ``price`` while holding ``q``? Taking
    off at most the position always may; otherwise the new exposure's notional, the order's
    fee and, for a reversal, the closing part (its proceeds in, or the cover paid out), valued
    at ``price``, must fit in the cash plus 0.01. A short needs its notional in cash too."""
    opposite = q * d < 0.0
    if opposite and m <= abs(q):
        return True
    fee = fee_nb(m, price, cost)
    if opposite:  # a reversal: the cash after the close pays for the new side
        after = cash + abs(q) * price if q > 0.0 else cash - abs(q) * price
        after -= fee
        return not ((m - abs(q)) * price > after + ML4T_CASH_TOLERANCE)
    return not (m * price > (cash - fee) + ML4T_CASH_TOLERANCE)


@njit(cache=True, nogil=True, error_model="numpy")
def ml4t_affordable_nb(want, d, price, q, cash, cost):
    """The largest whole number of shares up to ``want`` that ``ml4t_fits_nb`` at ``price``:
    ml4t-backtest's binary search (``FillEngine.get_max_affordable_quantity``)."""
    lo = 0
    hi = np.int64(np.floor(want + TOL))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if ml4t_fits_nb(float(mid), d, price, q, cash, cost):
            lo = mid
        else:
            hi = mid - 1
    return float(lo)


@njit(cache=True, nogil=True, error_model="numpy")
def _ml4t_orders_nb(t, due, n, tq, fill_px, off, step, col_asset, wp, book, cash, next_pid, sink):
    """ml4t-backtest 0.2.0's broker filling ``TargetWeightExecutor``'s orders (``fill_ordering``
    EXIT_FIRST, ``entry_order_priority`` SUBMISSION; ``core/execution_engine.py``): first every
    order that takes off at most the position, in column order; then the others (new positions,
    increases, reversals) in the order the executor submits them: every sell (weight going
    down), then every buy, each in column order. Each one in turn, against the cash as it
    stands (``ml4t_fits_nb``): it fits whole at the reference price, or (``shortfall="priority"``)
    is cut to the largest whole number of shares that fits there, or is rejected; whatever
    passed must fit again at the executed price (slippage) or is rejected whole. A reversal is
    one order: two fills, its fee split by shares. Returns (cash, next position id)."""
    reason = np.int64(REASON_REBALANCE)
    for i in range(n):  # (a) exits and reductions
        if np.isnan(tq[i]):
            continue
        c = due[i]
        q = book[c]["qty"]
        dq = tq[i] - q
        if q == 0.0 or q * dq >= 0.0 or abs(dq) > abs(q):
            continue
        ref = fill_px[off[col_asset[c]] + t * step]
        slip = _slip_nb(wp, c, t, ref)
        px = exec_price_nb(ref, np.int64(1 if dq > 0.0 else -1), slip)
        fee = fee_nb(dq, px, _cost_nb(wp, c, t, book[0]["mvol"]))
        d, next_pid = apply_fill_nb(book, c, t, dq, px, ref, slip[2], 0.0, fee, reason, next_pid, sink, bool(0))
        cash += d
        book[c]["qty"] = tq[i]  # exactly the target
        tq[i] = np.nan
    cut = wp.shortfall[0] == SHORTFALL_PRIORITY
    for sweep in range(2):  # (b) the sells, then the buys
        side = np.int64(-1 if sweep == 0 else 1)
        for i in range(n):
            if np.isnan(tq[i]):
                continue
            c = due[i]
            q = book[c]["qty"]
            dq = tq[i] - q
            if (dq > 0.0) != (side > 0):
                continue
            ref = fill_px[off[col_asset[c]] + t * step]
            cost = _cost_nb(wp, c, t, book[0]["mvol"])
            slip = _slip_nb(wp, c, t, ref)
            px = exec_price_nb(ref, side, slip)
            want = abs(dq)
            got = want
            if not ml4t_fits_nb(want, side, ref, q, cash, cost):
                got = ml4t_affordable_nb(want, side, ref, q, cash, cost) if cut else 0.0
            if got > 0.0 and px != ref and not ml4t_fits_nb(got, side, px, q, cash, cost):
                got = 0.0  # the executed price re-check (fill_executor.py) rejects the order whole
            if got < want:
                if q == 0.0 or (q * side < 0.0 and got > abs(q)):
                    effect = EFFECT_ENTRY
                else:  # an increase, or a reversal refused whole or cut to its close (as vectorbt's rows)
                    effect = EFFECT_INCREASE if q * side > 0.0 else EFFECT_EXIT
                why = REJ_REDUCED_CASH if got > 0.0 else REJ_INSUFFICIENT_CASH
                write_reject_nb(sink, c, t, side, np.int64(effect), np.int64(why), want, got, ref)
            if got <= 0.0:
                continue
            closing = min(abs(q), got) if q * side < 0.0 else 0.0
            d, next_pid = _fill_order_nb(book, c, t, side, got, closing, px, ref, slip[2], cost, reason, next_pid,
                                         sink)  # fmt: skip
            cash += d
    return cash, next_pid


@njit(cache=True, nogil=True, error_model="numpy")
def _set_exit_fee_nb(sink, k_fill, k_trade, fee):
    """A reversal's closing fill (record ``k_fill``) and its trade row (``k_trade``) take the
    closing part's share of the order's fee, known once the new side has filled."""
    if k_fill < sink.fills.shape[0]:
        sink.fills[k_fill]["fees"] = fee
    if k_trade < sink.trades.shape[0]:
        sink.trades[k_trade]["exit_fees"] = fee


@njit(cache=True, nogil=True, error_model="numpy")
def book_sizes_nb(n, k, short_k):
    """How many longs and shorts ``top_k(k, short_k)`` holds among n valid names (weights.top_k)."""
    if short_k == 0:
        return min(n, k), 0
    total = k + short_k
    if n >= total:
        return k, short_k
    if n < 2:
        return 0, 0
    few = min(max((2 * n * k + total) // (2 * total), 1), n - 1)  # round half up, both sides >= 1
    return few, n - few


@njit(cache=True, nogil=True, error_model="numpy")
def hold_aware_nb(t, c0, c1, rank, sig, k, short_k, buffer, book, out):
    """``top_k(..., buffer=)`` at decision bar t (``weights.HoldAwareTopK``): ``out[c]`` gets each
    column's weight, from ``rank[c, t]`` (position among the bar's valid scores, NaN: none) and
    the sign of the position held. Held longs ranked within n_long + buffer stay, then held
    shorts within the bottom n_short + buffer, then the free places go to the best (worst) ranked
    names not yet chosen."""
    n_all = c1 - c0
    key = np.empty(n_all)
    col = np.empty(n_all, dtype=np.int64)
    n = np.int64(0)  # not a literal: one compiled copy of the callees
    for c in range(c0, c1):
        out[c] = np.nan
        if (sig[c, t] & SIG_VALID) != 0 and not np.isnan(rank[c, t]):
            key[n] = rank[c, t]
            col[n] = c
            out[c] = 0.0
            n += 1
    by_rank = stable_argsort_nb(key, n)  # ranks are distinct: the asset tie-break is in them
    n_long, n_short = book_sizes_nb(n, k, short_k)
    w_long = (1.0 if short_k == 0 else 0.5) / n_long if n_long > 0 else 0.0
    w_short = -0.5 / n_short if n_short > 0 else 0.0
    got_long = 0
    for p in range(n):  # held longs within the buffer, best first
        c = col[by_rank[p]]
        if got_long < n_long and p < n_long + buffer and book[c]["qty"] > 0.0:
            out[c] = w_long
            got_long += 1
    got_short = 0
    for p in range(n - 1, -1, -1):  # held shorts within the buffer, worst first
        c = col[by_rank[p]]
        if got_short < n_short and n - 1 - p < n_short + buffer and book[c]["qty"] < 0.0:
            out[c] = w_short
            got_short += 1
    for p in range(n):
        c = col[by_rank[p]]
        if got_long < n_long and out[c] == 0.0:
            out[c] = w_long
            got_long += 1
    for p in range(n - 1, -1, -1):
        c = col[by_rank[p]]
        if got_short < n_short and out[c] == 0.0:
            out[c] = w_short
            got_short += 1


@njit(cache=True, nogil=True, error_model="numpy")
def _decide_nb(t, c0, c1, close, off, step, col_asset, sig, weights, prio, wp, book, orders, cash):
    """Rebalance bar t: each column's order from its weight, equity and close at this bar. With
    equity <= 0 nothing is decided (orders waiting stay)."""
    equity = _equity_nb(t, c0, c1, close, off, step, col_asset, sig, book, cash)
    if equity <= 0.0:
        return
    hold_aware = wp.select[0] > 0
    chosen = np.empty(c1 if hold_aware else 0)
    if hold_aware:
        hold_aware_nb(t, c0, c1, weights, sig, wp.select[0], wp.select[1], wp.select[2], book, chosen)
    for c in range(c0, c1):
        if book[c]["rule_exit_bar"] == t:  # a position rule closed it on this bar: flat until the next decision
            continue
        if orders[c]["bar"] >= 0 and orders[c]["reason"] == REASON_LIQUIDATION:  # the breaker's close stays
            continue
        valid = (sig[c, t] & SIG_VALID) != 0
        w = (chosen[c] if hold_aware else weights[c, t]) if valid else np.nan
        forced = np.isnan(w)
        if forced:
            if wp.missing[0] == MISSING_HOLD:
                continue
            w = 0.0
        w = min(max(w, -wp.max_weight[0]), wp.max_weight[0])
        o = orders[c]
        o["bar"] = -1  # a new decision replaces an order still waiting
        o["weight"] = w
        o["reason"] = REASON_REBALANCE
        q = book[c]["qty"]
        if w == 0.0 and q == 0.0:
            continue
        mark = _mark_nb(book, c, t, close, off, step, col_asset, sig)
        o["forced"] = 1 if forced else 0
        o["priority"] = prio[c, t] if prio.shape[0] > 0 and valid else np.nan
        if wp.size_at[0] == SIZE_AT_FILL:
            o["bar"] = t
            o["target"] = w
            o["guess"] = w * equity / mark
            continue
        tq = target_qty_nb(w, forced, equity, mark, q, _unit_nb(wp, c), wp.rounding[0], wp.min_weight_change[0],
                           wp.min_trade_value[0], _sizing_nb(wp, c))  # fmt: skip
        if not np.isnan(tq):
            o["bar"] = t
            o["target"] = tq
            o["guess"] = tq


@njit(cache=True, nogil=True, error_model="numpy")
def _drifted_nb(t, c0, c1, close, off, step, col_asset, sig, band, book, orders, cash):
    """``drift_band``: at bar t's close, has a held column without an order waiting drifted from
    the weight of its latest decision by more than ``band`` (relative)?"""
    equity = _equity_nb(t, c0, c1, close, off, step, col_asset, sig, book, cash)
    if equity <= 0.0:
        return False
    for c in range(c0, c1):
        q = book[c]["qty"]
        target = orders[c]["weight"]
        if q == 0.0 or orders[c]["bar"] >= 0 or np.isnan(target) or target == 0.0:
            continue
        if abs(q * _mark_nb(book, c, t, close, off, step, col_asset, sig) / equity / target - 1.0) > band:
            return True
    return False


@njit(cache=True, nogil=True, error_model="numpy")
def _no_next_bar_nb(c, o, q, sized, sink):
    """An order the data ended before: a row per part it would have filled (a reversal: two),
    dated at its decision bar."""
    g = o["guess"]
    b = o["bar"]
    rej = np.int64(REJ_NO_NEXT_BAR)
    if q != 0.0 and (g * q <= 0.0 or abs(g) < abs(q)):
        new_q = 0.0 if g * q <= 0.0 else g
        req = abs(q) - abs(new_q) if sized else np.nan
        effect = np.int64(EFFECT_EXIT if new_q == 0.0 else EFFECT_REDUCE)
        write_reject_nb(sink, c, b, np.int64(-1 if q > 0.0 else 1), effect, rej, req, 0.0, np.nan)
    if g != 0.0 and (q == 0.0 or g * q < 0.0 or abs(g) > abs(q)):
        base = 0.0 if g * q <= 0.0 else abs(q)
        req = abs(g) - base if sized else np.nan
        effect = np.int64(EFFECT_ENTRY if base == 0.0 else EFFECT_INCREASE)
        write_reject_nb(sink, c, b, np.int64(1 if g > 0.0 else -1), effect, rej, req, 0.0, np.nan)


@njit(cache=True, nogil=True, error_model="numpy")
def _start_rules_nb(t, c0, c1, rp, book):
    """Positions entered on bar t: the trailing peak and the rule fractions of the decision
    bar of the order that opened them (the anchor is the average cost, ``avg_price``). ``rp``
    None: no rules (pruned at compile time)."""
    if rp is None:
        return
    for c in range(c0, c1):
        pos = book[c]
        if pos["qty"] == 0.0 or pos["entry_bar"] != t or not rp.rules_on[c]:
            continue
        d = pos["decided"]
        pos["peak"] = pos["avg_price"]
        if rp.trailing_start[c] == PEAK_FROM_FIRST_BAR:  # no peak until a bar is held through
            pos["peak"] = -np.inf if pos["qty"] > 0.0 else np.inf
        pos["sl"] = fraction_at_nb(rp.stop_loss, c, d)
        pos["tp"] = fraction_at_nb(rp.take_profit, c, d)
        pos["tsl"] = fraction_at_nb(rp.trailing_stop, c, d)


@njit(cache=True, nogil=True, error_model="numpy")
def _held_through_nb(t, c0, c1, open_, high, low, close, off, step, col_asset, sig, wp, rp, book, orders, cash,
                     next_pid, sink):  # fmt: skip
    """Every held position with a row on bar t: its position rules (``risk.check_exit_nb``,
    anchored at the average cost); a rule exit fills at once, cancels the column's order
    still waiting and keeps the column out of this bar's decision (unless
    ``reenter_on_stop_bar``). What is still held sees the bar's range (MFE / MAE), then its
    trailing peak moves. ``rp`` None: no rules (pruned at compile time). Returns (cash, next
    position id)."""
    for c in range(c0, c1):
        pos = book[c]
        q = pos["qty"]
        if q == 0.0 or (sig[c, t] & SIG_VALID) == 0:
            continue
        i = off[col_asset[c]] + t * step
        d = 1.0 if q > 0.0 else -1.0
        if rp is not None and rp.rules_on[c]:
            reason, ref = check_exit_nb(d, pos["avg_price"], pos["peak"], pos["bars_seen"] - pos["entry_count"],
                                        rp.max_bars[c], False, open_[i], high[i], low[i], pos["entry_bar"] == t,
                                        rp.stop_on_entry_bar[c], pos["sl"], pos["tp"], pos["tsl"],
                                        rp.trailing_activation[c], np.nan, np.nan, rp.intrabar[c])  # fmt: skip
            if reason != NO_EXIT:
                side = np.int64(-1 if q > 0.0 else 1)
                slip = wp.slippage[c] if reason == REASON_TIME_STOP else rp.stop_slippage[c]
                hs = half_spread_nb(wp.spread, wp.spread_price[c], c, t, ref)
                px = exec_price_nb(ref, side, (slip, wp.slippage_per_share[c], hs))
                got = abs(q)
                dc, next_pid = _fill_order_nb(book, c, t, side, got, got, px, ref, hs,
                                              _cost_nb(wp, c, t, book[0]["mvol"]), np.int64(reason),
                                              next_pid, sink)  # fmt: skip
                cash += dc
                orders[c]["bar"] = -1
                if not rp.reenter_on_stop_bar[c]:
                    pos["rule_exit_bar"] = t
                continue
        pos["hi"] = max(pos["hi"], high[i])
        pos["lo"] = min(pos["lo"], low[i])
        if rp is not None and rp.rules_on[c]:
            pos["peak"] = next_peak_nb(d, pos["peak"], close[i], high[i], low[i], rp.trailing_source[c])
    return cash, next_pid


@njit(cache=True, nogil=True, error_model="numpy")
def _limits_at_close_nb(t, c0, c1, eq, wp, state, book, orders):
    """The drawdown breaker and the daily loss limit at bar t's close, with equity ``eq``, on the
    signal drivers' state (``limits.new_limit_state_nb``: high-water mark, tripped flag, bar it
    tripped, current day, the day's starting equity, day whose increases are refused, previous
    close's equity) and their rules (README "Portfolio limits"). A trip with ``liquidate`` orders
    every position closed (``REASON_LIQUIDATION``; no decision replaces that order)."""
    if wp.day[t] != state[3]:
        state[3] = wp.day[t]
        state[4] = state[6]
    state[6] = eq
    if wp.daily_loss[0] < np.inf and eq <= state[4] * (1.0 - wp.daily_loss[0]):
        state[5] = wp.day[t]
    if state[1] != 0.0 and t - state[2] >= wp.cooldown[0]:
        state[1] = 0.0
        state[0] = eq
    if eq > state[0]:
        state[0] = eq
    if state[1] == 0.0 and wp.max_drawdown[0] < np.inf and eq <= state[0] * (1.0 - wp.max_drawdown[0]):
        state[1] = 1.0
        state[2] = t
        if wp.liquidate[0]:
            for c in range(c0, c1):
                if book[c]["qty"] != 0.0:
                    o = orders[c]
                    o["bar"] = t
                    o["target"] = 0.0
                    o["guess"] = 0.0
                    o["forced"] = 1
                    o["priority"] = np.nan
                    o["weight"] = 0.0
                    o["reason"] = REASON_LIQUIDATION


@njit(cache=True, nogil=True, error_model="numpy")
def rebalance_nb(col_asset, open_, high, low, close, fill_px, off, step, sig, weights, prio, rebal, timing, init_cash,
                 wp, book, orders, sink, acc, value_out, rp, peer):  # fmt: skip
    """One shared-cash portfolio of every column, rebalanced to ``weights`` (n_cols, n_bars;
    NaN = null) on the bars where ``rebal`` (n_bars,) is set. ``prio`` (n_cols, n_bars, or
    empty): each order's priority, read at its decision bar (NaN: last). ``acc`` (3, n_bars)
    gets the cash, net and gross position value per bar; ``value_out`` (n_cols, n_bars, or
    empty) each column's position value; ``rp``: the position rules (``RiskParams``), None
    without any; ``peer``: None under ``cash_rule="equity"``, else any int. A None leaves its
    code out of the compiled kernel (a first run compiles less). Returns the final cash."""
    n_cols, n_bars = sig.shape
    per_col = value_out.shape[0] > 0
    cash = init_cash
    next_pid = np.int64(0)
    zero = np.int64(0)  # not a literal: one compiled copy of the phase functions
    state = new_limit_state_nb(init_cash)
    limits_on = wp.max_drawdown[0] < np.inf or wp.daily_loss[0] < np.inf
    accrues = wp.borrow_on[0] or wp.cash_rate[0] > 0.0 or wp.credit_rate[0] > 0.0
    tiered = False  # a Tiered commission: the portfolio counts its shares per month (book[0])
    for c in range(n_cols):
        book[c]["acct"] = 0
        tiered = tiered or wp.commission[c, 3] > 0.0
    for t in range(n_bars):
        if tiered:
            month_start_nb(book, zero, wp.month[t])
        block = np.int64(0)
        if state[1] != 0.0:
            block = np.int64(REJ_MAX_DRAWDOWN)
        elif state[5] == wp.day[t]:
            block = np.int64(REJ_DAILY_LOSS_LIMIT)
        if accrues and wp.nights[t] > 0.0:  # the nights since the previous bar, before it starts
            cash = nights_nb(book, zero, n_cols, cash, wp.borrow, wp.borrow_on[0], wp.cash_rate[0], wp.credit_rate[0],
                             wp.nights[t])  # fmt: skip
        for c in range(n_cols):
            if (sig[c, t] & SIG_VALID) != 0:
                book[c]["bars_seen"] += 1
                book[c]["last_bar"] = t
        if timing == TIMING_NEXT_OPEN:
            cash, next_pid = _fill_phase_nb(t, zero, n_cols, fill_px, off, step, col_asset, sig, wp, book, orders, cash,
                                            next_pid, sink, block, peer)  # fmt: skip
            _start_rules_nb(t, zero, n_cols, rp, book)
        # position rules, then what is held through the bar sees its range and moves its peak
        cash, next_pid = _held_through_nb(t, zero, n_cols, open_, high, low, close, off, step, col_asset, sig, wp, rp,
                                          book, orders, cash, next_pid, sink)  # fmt: skip
        if timing == TIMING_NEXT_CLOSE:
            cash, next_pid = _fill_phase_nb(t, zero, n_cols, fill_px, off, step, col_asset, sig, wp, book, orders, cash,
                                            next_pid, sink, block, peer)  # fmt: skip
            _start_rules_nb(t, zero, n_cols, rp, book)
        band = wp.drift_band[0]
        if rebal[t] or (band > 0.0 and _drifted_nb(t, zero, n_cols, close, off, step, col_asset, sig, band, book,
                                                    orders, cash)):  # fmt: skip
            _decide_nb(t, zero, n_cols, close, off, step, col_asset, sig, weights, prio, wp, book, orders, cash)
        if timing == TIMING_SAME_CLOSE:
            cash, next_pid = _fill_phase_nb(t, zero, n_cols, fill_px, off, step, col_asset, sig, wp, book, orders, cash,
                                            next_pid, sink, block, peer)  # fmt: skip
            _start_rules_nb(t, zero, n_cols, rp, book)
        net = 0.0
        gross = 0.0
        for c in range(n_cols):
            if (sig[c, t] & SIG_VALID) != 0:
                book[c]["last_close"] = close[off[col_asset[c]] + t * step]
            q = book[c]["qty"]
            v = q * book[c]["last_close"] if q != 0.0 else 0.0
            net += v
            gross += abs(v)
            if per_col:
                value_out[c, t] = v
        acc[0, t] = cash
        acc[1, t] = net
        acc[2, t] = gross
        if limits_on:
            _limits_at_close_nb(t, zero, n_cols, cash + net, wp, state, book, orders)
    for c in range(n_cols):
        if orders[c]["bar"] >= 0:  # decided on the asset's last bar: nothing to fill it on
            _no_next_bar_nb(c, orders[c], book[c]["qty"], wp.size_at[0] != SIZE_AT_FILL, sink)
            orders[c]["bar"] = -1
        close_open_nb(book, c, np.int64(REASON_END_OF_DATA), sink)
    return cash
