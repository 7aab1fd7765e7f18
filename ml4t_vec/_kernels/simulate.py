"""Simulation drivers: one kernel family for independent columns and shared-cash groups.

A *column* is one (asset, parameter set) pair; columns are split into *groups* that share
cash. ``cash_sharing=False`` is one group per column (run in parallel with ``prange``);
``cash_sharing=True`` is one group holding every column (a serial bar loop with an inner
loop over columns). Each group is simulated by ``_run_group_nb``.

Per bar, in this order (the fill rules documented in README "Fill rules"):

1. open phase   - orders pending from an earlier bar fill at this bar's fill price
                  (``fill="next_open"``): exits of the whole group first, then entries;
2. intrabar     - held positions see the bar's high/low (MFE/MAE);
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

import numba
import numpy as np
from numba import njit, prange

from ml4t_vec._kernels import F64, I64, kernel_array
from ml4t_vec._kernels.codes import (
    ACT_CLOSE,
    ACT_NONE,
    ACT_REVERSE_TO_LONG,
    ANCHOR_FILL,
    CASH_ML4T,
    CASH_VECTORBT,
    EFFECT_ENTRY,
    EFFECT_EXIT,
    FILL_DT,
    NO_EXIT,
    ORDER_BY_ASSET,
    ORDER_ML4T,
    PEAK_FROM_FIRST_BAR,
    PERCENT_OF_CASH,
    REASON_END_OF_DATA,
    REASON_SIGNAL,
    REASON_TIME_STOP,
    REJ_DAILY_LOSS_LIMIT,
    REJ_INSUFFICIENT_CASH,
    REJ_MAX_DRAWDOWN,
    REJ_MAX_GROSS_LEVERAGE,
    REJ_MAX_POSITIONS,
    REJ_NO_NEXT_BAR,
    REJ_REDUCED_CASH,
    REJ_SESSION_END,
    REJ_ZERO_QUANTITY,
    REJECT_DT,
    REVERSAL_ONE_ORDER,
    SIG_ENTRY,
    SIG_EXIT,
    SIG_ORDERS,
    SIG_SESSION_CLOSED,
    SIG_SESSION_EXIT,
    SIG_SHORT_ENTRY,
    SIG_SHORT_EXIT,
    SIG_VALID,
    STATUS_CLOSED,
    STATUS_OPEN,
    TIMING_NEXT_CLOSE,
    TIMING_NEXT_OPEN,
    TIMING_SAME_CLOSE,
    TRADE_DT,
)
from ml4t_vec._kernels.grid import gather_assets_nb, readonly_nb
from ml4t_vec._kernels.limits import LimitParams, close_of_bar_nb, entry_cap_nb, new_limit_state_nb
from ml4t_vec._kernels.orders import (
    ENTRY_CAP_NONE,
    ENTRY_CAPPED,
    ENTRY_NO_CASH,
    ENTRY_OK,
    ENTRY_REDUCED,
    ENTRY_ZERO,
    OrderParams,
    decide_nb,
    entry_direction_nb,
    entry_fill_nb,
    entry_request_nb,
    exit_fill_nb,
    is_exit_action_nb,
    order_nb,
    size_at_nb,
)
from ml4t_vec._kernels.risk import RiskParams, check_exit_nb, fraction_at_nb, level_at_nb, next_peak_nb
from ml4t_vec._kernels.sort import stable_argsort_nb
from ml4t_vec._kernels.state import (
    F_ANCHOR,
    F_ENTRY_FEES,
    F_ENTRY_PRICE,
    F_ENTRY_SLIP,
    F_HI,
    F_LAST_CLOSE,
    F_LO,
    F_PEAK,
    F_SL,
    F_SLP,
    F_TP,
    F_TPP,
    F_TSL,
    I_ENTRY_BAR,
    I_ENTRY_CNT,
    I_FORCE,
    I_LAST_BAR,
    I_NVALID,
    I_PENDING_BAR,
    I_RULE_EXIT_BAR,
    N_F,
    N_I,
    ColState,
)


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


class Records(NamedTuple):
    fills: np.ndarray  # FILL_DT, column c writes from fill_off[c]
    trades: np.ndarray  # TRADE_DT
    rejected: np.ndarray  # REJECT_DT
    fill_off: np.ndarray  # int64 (n_cols + 1)
    trade_off: np.ndarray
    rej_off: np.ndarray


# The helpers below take plain arrays, never the NamedTuples: reading an array out of a tuple
# inside the bar loop costs an atomic incref/decref pair per access, which made the kernel 5x
# slower (measured with benchmarks/bench_core.py). The drivers unpack the tuples once per
# group. What runs on every bar (the position-rule checks, the trailing peak) is inlined:
# LLVM does not inline numba's calls by itself, and a call there made scenario B's kernel 1.6x
# slower. What runs once per fill (the record writers, the order arithmetic) is a plain call:
# each inlined copy costs cold-compile time and buys no measurable speed.


@njit(cache=True, nogil=True, error_model="numpy")
def _write_fill_nb(fills, fill_off, n_fill, c, t, side, effect, reason, q, px, fee, slip):
    # Every writer counts its record and writes it only where column c has room: ``simulate``
    # runs again with exact room if a count passed its capacity (never a write out of bounds).
    k = fill_off[c] + n_fill[c]
    n_fill[c] += 1
    if k >= fill_off[c + 1]:
        return
    r = fills[k]
    r["col"] = c
    r["bar"] = t
    r["side"] = side
    r["effect"] = effect
    r["reason"] = reason
    r["quantity"] = q
    r["price"] = px
    r["fees"] = fee
    r["slippage"] = slip
    r["position_id"] = -1


@njit(cache=True, nogil=True, error_model="numpy")
def _write_reject_nb(rejected, rej_off, n_rej, c, t, side, effect, reason, req, filled, px):
    k = rej_off[c] + n_rej[c]
    n_rej[c] += 1
    if k >= rej_off[c + 1]:  # no room (a sweep keeps no rejected orders: capacity 0)
        return
    r = rejected[k]
    r["col"] = c
    r["bar"] = t
    r["side"] = side
    r["effect"] = effect
    r["reason"] = reason
    r["requested_quantity"] = req
    r["filled_quantity"] = filled
    r["price"] = px


@njit(cache=True, nogil=True, error_model="numpy")
def _write_trade_nb(
    trades,
    trade_off,
    n_trade,
    c,
    q,
    ep,
    entry_fee,
    entry_slip,
    hi,
    lo,
    entry_bar,
    bars_held,
    exit_bar,
    exit_px,
    exit_fee,
    exit_slip,
    reason,
    status,
):
    """Write column c's round trip: q signed shares entered at ep, price range [lo, hi] seen."""
    k = trade_off[c] + n_trade[c]
    n_trade[c] += 1
    if k >= trade_off[c + 1]:
        return
    hi = max(hi, exit_px)
    lo = min(lo, exit_px)
    r = trades[k]
    r["col"] = c
    r["entry_bar"] = entry_bar
    r["exit_bar"] = exit_bar
    r["bars_held"] = bars_held
    r["quantity"] = q
    r["entry_price"] = ep
    r["exit_price"] = exit_px
    r["entry_fees"] = entry_fee
    r["exit_fees"] = exit_fee
    r["entry_slippage"] = entry_slip
    r["exit_slippage"] = exit_slip
    if q > 0.0:
        r["mfe"] = hi / ep - 1.0
        r["mae"] = lo / ep - 1.0
    else:
        r["mfe"] = 1.0 - lo / ep
        r["mae"] = 1.0 - hi / ep
    r["exit_reason"] = reason
    r["status"] = status
    r["position_id"] = -1


@njit(cache=True, nogil=True, error_model="numpy")
def _close_nb(c, t, q, ref, slip_f, cost, reason, ep, efee, eslip, hi, lo, entry_bar, bars_held, fills, fill_off,
              n_fill, trades, trade_off, n_trade):  # fmt: skip
    """Close column c's position of q shares at reference price ``ref``: one fill, one trade.
    ``cost`` = (fees, fixed fees, per-share commission). Returns the cash change."""
    side, px, fee, slip, dcash = exit_fill_nb(q, ref, slip_f, cost)
    _write_fill_nb(fills, fill_off, n_fill, c, t, side, np.int64(EFFECT_EXIT), reason, abs(q), px, fee, slip)
    _write_trade_nb(trades, trade_off, n_trade, c, q, ep, efee, eslip, hi, lo, entry_bar, bars_held, t, px, fee,
                    slip, reason, np.int64(STATUS_CLOSED))  # fmt: skip
    return dcash


@njit(cache=True, nogil=True, error_model="numpy")
def _open_rules_nb(entry_price, pos_sign, anchor_mode, signal_close, c, signal_bar, rp):
    """A new position's rule state: (anchor, trailing peak, stop / target / trailing fractions,
    absolute stop / target levels), all read from the bar whose signal opened it (its close is
    ``signal_close``)."""
    anchor = entry_price if anchor_mode == ANCHOR_FILL else signal_close
    peak = anchor
    if rp.trailing_start[c] == PEAK_FROM_FIRST_BAR:  # no peak until a bar is held through
        peak = -np.inf if pos_sign > 0.0 else np.inf
    return (anchor, peak, fraction_at_nb(rp.stop_loss, c, signal_bar), fraction_at_nb(rp.take_profit, c, signal_bar),
            fraction_at_nb(rp.trailing_stop, c, signal_bar), level_at_nb(rp.stop_loss_price, c, signal_bar),
            level_at_nb(rp.take_profit_price, c, signal_bar))  # fmt: skip


@njit(cache=True, nogil=True, error_model="numpy")
def _apply_order_nb(c, t, reason, o, ref, pos, ep, efee, eslip, hi, lo, entry_bar, bars_held, lev_set, cap_reason,
                    fills, fill_off, n_fill, trades, trade_off, n_trade, rejected, rej_off, n_rej):  # fmt: skip
    """Record one ``orders.order_nb`` result ``o`` of column c (holding ``pos`` shares, entered at
    ``ep`` with fees ``efee`` and slippage ``eslip``) on bar t; both drivers call this.

    - rejected rows: a closing part cut or refused by the cash rule (``reduced_cash`` /
      ``insufficient_cash``, effect exit), a new part reduced or refused (as for any entry);
    - the closing part: one exit fill and one closed trade for the shares it closes, with the
      position's entry fees and slippage pro rata (a partial cover leaves the rest open with its
      entry bar and price);
    - the new part: one entry fill (a one-order reversal is reported as its exit and entry fills,
      at one price, its fees split by shares).
    Returns (position, cash change, entry price, entry fees, entry slippage, hi, lo, opened).
    """
    side, px, qx, fee_x, st_x, qn, fee_n, req, st_n = o
    exit_ = np.int64(EFFECT_EXIT)  # not literals: one compiled copy of each writer (see _exit_order_nb)
    entry = np.int64(EFFECT_ENTRY)
    if st_x == ENTRY_REDUCED or st_x == ENTRY_NO_CASH:
        why = np.int64(REJ_REDUCED_CASH if st_x == ENTRY_REDUCED else REJ_INSUFFICIENT_CASH)
        _write_reject_nb(rejected, rej_off, n_rej, c, t, side, exit_, why, abs(pos), qx, ref)
    if st_n > ENTRY_OK:
        if st_n == ENTRY_CAPPED or st_n == ENTRY_CAP_NONE:
            why = cap_reason
        elif st_n == ENTRY_ZERO:
            why = REJ_ZERO_QUANTITY
        elif lev_set:
            why = REJ_MAX_GROSS_LEVERAGE
        else:
            why = REJ_REDUCED_CASH if st_n == ENTRY_REDUCED else REJ_INSUFFICIENT_CASH
        _write_reject_nb(rejected, rej_off, n_rej, c, t, side, entry, why, req, qn, ref)
    dcash = 0.0
    if qx > 0.0:
        slip = qx * abs(px - ref)
        _write_fill_nb(fills, fill_off, n_fill, c, t, side, exit_, reason, qx, px, fee_x, slip)
        a = abs(pos)
        q = qx if pos > 0.0 else -qx
        if qx == a:
            part_fee = efee
            part_slip = eslip
            pos = 0.0
            efee = 0.0
            eslip = 0.0
        else:  # a partial cover: the trade takes its share of the entry costs
            part_fee = qx / a * efee
            part_slip = qx / a * eslip
            efee = efee * ((a - qx) / a)
            eslip = eslip * ((a - qx) / a)
            pos = pos - q
        _write_trade_nb(trades, trade_off, n_trade, c, q, ep, part_fee, part_slip, hi, lo, entry_bar, bars_held, t, px,
                        fee_x, slip, reason, np.int64(STATUS_CLOSED))  # fmt: skip
        dcash = q * px - fee_x
    if qn > 0.0:
        slip = qn * abs(px - ref)
        dcash -= side * qn * px + fee_n
        pos = side * qn
        ep = px
        efee = fee_n
        eslip = slip
        hi = px
        lo = px
        _write_fill_nb(fills, fill_off, n_fill, c, t, side, entry, np.int64(REASON_SIGNAL), qn, px, fee_n, slip)
    return pos, dcash, ep, efee, eslip, hi, lo, qn > 0.0


@njit(cache=True, nogil=True, error_model="numpy")
def _exit_order_nb(c, t, reason, pos, ref, slip_f, cost, frac, vbt, cash, ep, efee, eslip, hi, lo, entry_bar, bars_held,
                   fills, fill_off, n_fill, trades, trade_off, n_trade, rejected, rej_off, n_rej):  # fmt: skip
    """Close column c's ``pos`` shares by one order under the cash rule (``vbt``: vectorbt's, where
    a cover may be partial or refused and a sale whose proceeds do not pay its fees is refused).
    Returns (position left, cash change, entry fees left, entry slippage left)."""
    # np.int64() / bool() / comparisons, not literals: numba compiles a callee once per literal
    # argument value (a cold-compile cost), and these callees are the large ones
    o = order_nb(pos, pos != 0.0, 0.0, ref, 0.0, np.int64(0), bool(0), cost, slip_f, frac, vbt, cash, cash, 0.0, 0.0,
                 np.inf)  # fmt: skip
    pos, dcash, ep, efee, eslip, hi, lo, _ = _apply_order_nb(
        c, t, reason, o, ref, pos, ep, efee, eslip, hi, lo, entry_bar, bars_held, bool(0), np.int64(0), fills,
        fill_off, n_fill, trades, trade_off, n_trade, rejected, rej_off, n_rej,
    )  # fmt: skip
    return pos, dcash, efee, eslip


@njit(cache=True, nogil=True, error_model="numpy")
def _free_cash_nb(cash, pos, fs, c0, c1):
    """Free cash of a group (vectorbt): cash minus twice the short positions at their entry prices."""
    debt = 0.0
    for c in range(c0, c1):
        if pos[c] < 0.0:
            debt += -pos[c] * fs[c, F_ENTRY_PRICE]
    return cash - 2.0 * debt


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _reorder_nb(order, keys, n):
    """Sort ``order[:n]`` stably by ``keys[:n]`` (the key of ``order[i]`` is ``keys[i]``)."""
    perm = stable_argsort_nb(keys, n)
    was = order[:n].copy()
    for i in range(n):
        order[i] = was[perm[i]]


@njit(cache=True, nogil=True, error_model="numpy")
def _phase_nb(t, c0, c1, e0, e1, price, off, step, col_asset, sig, p, slip_a, cash, pos, fs, is_, pending, lim,
              block, prio, prio_on, fills, fill_off, n_fill, trades, trade_off, n_trade, rejected, rej_off, n_rej,
              part, order_model):  # fmt: skip
    """Fill the orders of columns e0..e1 pending for bar t at ``price``: exits, then entries.
    The group is columns c0..c1 (its equity and exposures); ``fill_order="asset"`` calls this
    once per column (e1 = e0 + 1), exits-first once for the whole group.

    Entries fill in column (asset) order, or by descending ``prio`` at their signal bar when
    ``prio_on`` (NaN last, ties in asset order), against the cash left after the exits; each is
    cut to what the buying power and the limits ``lim`` = (max positions, max weight, max gross
    leverage, leverage set, max net exposure) allow (README "Cash limit", "Portfolio limits").
    ``block`` >= 0 rejects every entry with that reason (breaker / daily loss). ``slip_a`` is
    the slippage of signal orders. ``part``: PHASE_ALL, or only the exits (PHASE_EXITS) or only
    the entries (PHASE_ENTRIES) of the phase (``fill_order="ml4t"`` runs the position rules in
    between). Returns the group's new cash.

    A one-order reversal (``reversal="one_order"``) is one order: it fills with the entries, in
    their order. Under ``cash_rule="vectorbt"`` a cover may be cut or refused (the rest of the
    short stays open and a reversal's entry is dropped), and entries are limited by cash / free
    cash instead of the buying power (``orders.order_nb``). Both are compiled only when
    ``order_model`` is not None (see ``order_model``).
    """
    max_pos, w_cap, lev, lev_set, net_cap = lim
    fees_a = p.fees  # bound once: reading arrays out of the tuple in the loops costs increfs
    fixed_a = p.fixed_fees
    cps_a = p.per_share
    size_a = p.size
    stype_a = p.size_type
    frac_a = p.fractional
    sps_a = p.slippage_per_share
    xslip_a = p.exit_slippage
    xsps_a = p.exit_slippage_per_share
    cr_a = p.cash_rule
    sr_a = p.size_rule
    pct_a = p.percent_of
    rev_a = p.reversal
    vbt = cr_a[c0] == CASH_VECTORBT
    has_entry = False
    for c in range(e0, e1):
        act = pending[c]
        if act == ACT_NONE or (sig[c, t] & SIG_VALID) == 0:
            continue
        if part == PHASE_ENTRIES:  # this phase's exits are done
            has_entry = act != ACT_CLOSE
            if has_entry:
                break
            continue
        if is_exit_action_nb(act):
            q = pos[c]
            if order_model is not None and q != 0.0 and act >= ACT_REVERSE_TO_LONG and rev_a[c] == REVERSAL_ONE_ORDER:
                has_entry = True  # one order: its closing part fills with the entries
                continue
            if q != 0.0:
                ref = price[off[col_asset[c]] + t * step]
                if order_model is not None and vbt:  # the cover may be cut or refused
                    pos[c], dcash, fs[c, F_ENTRY_FEES], fs[c, F_ENTRY_SLIP] = _exit_order_nb(
                        c, t, is_[c, I_FORCE], q, ref, (xslip_a[c], xsps_a[c]), (fees_a[c], fixed_a[c], cps_a[c]),
                        frac_a[c], vbt, cash, fs[c, F_ENTRY_PRICE], fs[c, F_ENTRY_FEES], fs[c, F_ENTRY_SLIP],
                        fs[c, F_HI], fs[c, F_LO], is_[c, I_ENTRY_BAR], is_[c, I_NVALID] - is_[c, I_ENTRY_CNT], fills,
                        fill_off, n_fill, trades, trade_off, n_trade, rejected, rej_off, n_rej,
                    )  # fmt: skip
                    cash += dcash
                else:
                    cash += _close_nb(c, t, q, ref, (xslip_a[c], xsps_a[c]), (fees_a[c], fixed_a[c], cps_a[c]),
                                      is_[c, I_FORCE], fs[c, F_ENTRY_PRICE], fs[c, F_ENTRY_FEES], fs[c, F_ENTRY_SLIP],
                                      fs[c, F_HI], fs[c, F_LO], is_[c, I_ENTRY_BAR],
                                      is_[c, I_NVALID] - is_[c, I_ENTRY_CNT], fills, fill_off, n_fill, trades,
                                      trade_off, n_trade)  # fmt: skip
                    pos[c] = 0.0
            is_[c, I_FORCE] = REASON_SIGNAL
            if act == ACT_CLOSE:
                pending[c] = ACT_NONE
                continue
            if pos[c] != 0.0:  # the exit was cut or refused (vectorbt's cash rule): no entry
                side = 1 if entry_direction_nb(act) > 0.0 else -1
                _write_reject_nb(rejected, rej_off, n_rej, c, t, side, np.int64(EFFECT_ENTRY),
                                 np.int64(REJ_INSUFFICIENT_CASH), np.nan, 0.0,
                                 price[off[col_asset[c]] + t * step])  # fmt: skip
                pending[c] = ACT_NONE
                continue
        has_entry = True
    if not has_entry or part == PHASE_EXITS:
        return cash

    # Sizing equity, exposures and buying power after the exits, marked at this phase's prices.
    equity = cash
    gross = 0.0
    net = 0.0
    n_open = 0
    for c in range(c0, c1):
        q = pos[c]
        if q != 0.0:
            m = price[off[col_asset[c]] + t * step] if (sig[c, t] & SIG_VALID) != 0 else fs[c, F_LAST_CLOSE]
            equity += q * m
            gross += abs(q) * m
            net += q * m
            n_open += 1
    avail = lev * equity - gross
    if cr_a[c0] == CASH_ML4T:  # buying power is the cash (short-sale proceeds included)
        avail = cash

    order = np.empty(e1 - e0, dtype=np.int64)
    n_e = np.int64(0)
    for c in range(e0, e1):
        if pending[c] != ACT_NONE and (sig[c, t] & SIG_VALID) != 0:
            order[n_e] = c
            n_e += 1
    if prio_on and n_e > 1:
        keys = np.empty(n_e)
        for i in range(n_e):
            x = fraction_at_nb(prio, order[i], is_[order[i], I_PENDING_BAR])  # NaN -> inf
            keys[i] = -x if x < np.inf else np.inf
        _reorder_nb(order, keys, n_e)
    elif p.fill_order[c0] == ORDER_ML4T and n_e > 1:  # submission order: older signals first, then asset order
        keys = np.empty(n_e)
        for i in range(n_e):
            keys[i] = is_[order[i], I_PENDING_BAR]
        _reorder_nb(order, keys, n_e)

    for i in range(n_e):
        c = order[i]
        d = entry_direction_nb(pending[c])
        pending[c] = ACT_NONE
        ref = price[off[col_asset[c]] + t * step]
        cost = (fees_a[c], fixed_a[c], cps_a[c])
        size = size_at_nb(size_a, c, is_[c, I_PENDING_BAR])  # read at the signal bar
        pct = pct_a[c] == PERCENT_OF_CASH
        q0 = pos[c]  # != 0: a one-order reversal, whose closing part fills here
        free = cash
        if d < 0.0 and (pct or vbt):
            free = _free_cash_nb(cash, pos, fs, c0, c1)
        reason = block
        if reason < 0 and (sig[c, t] & SIG_SESSION_CLOSED) != 0:
            reason = REJ_SESSION_END
        if reason < 0 and n_open - (1 if q0 != 0.0 else 0) >= max_pos:
            reason = REJ_MAX_POSITIONS
        cap, cap_reason = entry_cap_nb(d, equity, net - q0 * ref, w_cap, net_cap)
        if reason >= 0:
            side, px, req = entry_request_nb(d, ref, size, stype_a[c], cost, (slip_a[c], sps_a[c]), frac_a[c],
                                             equity, pct, cash, free)  # fmt: skip
            _write_reject_nb(rejected, rej_off, n_rej, c, t, side, np.int64(EFFECT_ENTRY), reason, req, 0.0, ref)
            if q0 == 0.0:
                continue
        if order_model is not None and (q0 != 0.0 or vbt):  # vectorbt's order model (one order, its cash rule)
            o = order_nb(q0, q0 != 0.0, 0.0 if reason >= 0 else d, ref, size, stype_a[c], pct, cost,
                         (slip_a[c], sps_a[c]), frac_a[c], vbt, cash, free, equity, avail, cap)  # fmt: skip
            (pos[c], dcash, fs[c, F_ENTRY_PRICE], fs[c, F_ENTRY_FEES], fs[c, F_ENTRY_SLIP], fs[c, F_HI], fs[c, F_LO],
             opened) = _apply_order_nb(c, t, is_[c, I_FORCE], o, ref, q0, fs[c, F_ENTRY_PRICE], fs[c, F_ENTRY_FEES],
                                       fs[c, F_ENTRY_SLIP], fs[c, F_HI], fs[c, F_LO], is_[c, I_ENTRY_BAR],
                                       is_[c, I_NVALID] - is_[c, I_ENTRY_CNT], lev_set, cap_reason, fills, fill_off,
                                       n_fill, trades, trade_off, n_trade, rejected, rej_off, n_rej)  # fmt: skip
            is_[c, I_FORCE] = REASON_SIGNAL
            cash += dcash
            px = o[1]
            qx = o[2]
            qn = o[5]
            if qx > 0.0:  # the closing part releases its exposure and pays its costs
                gross -= qx * ref
                net -= (qx if q0 > 0.0 else -qx) * ref
                avail += qx * ref - qx * abs(px - ref) - o[3]
                if pos[c] == 0.0 or opened:
                    n_open -= 1
            if opened:
                avail -= qn * px + o[6]
                gross += qn * px
                net += d * qn * px
                n_open += 1
                is_[c, I_ENTRY_BAR] = t
                is_[c, I_ENTRY_CNT] = is_[c, I_NVALID]
            continue
        status, side, px, q, req, fee, slip, dcash = entry_fill_nb(
            d,
            ref,
            size,
            stype_a[c],
            cost,
            (slip_a[c], sps_a[c]),
            frac_a[c],
            equity,
            avail,
            cap,
            cr_a[c],
            sr_a[c],
            pct,
            cash,
            free,
        )
        if status == ENTRY_REDUCED or status == ENTRY_NO_CASH:
            reason = REJ_MAX_GROSS_LEVERAGE if lev_set else (REJ_REDUCED_CASH if status == ENTRY_REDUCED
                                                             else REJ_INSUFFICIENT_CASH)  # fmt: skip
        elif status == ENTRY_CAPPED or status == ENTRY_CAP_NONE:
            reason = cap_reason
        elif status == ENTRY_ZERO:
            reason = REJ_ZERO_QUANTITY
        if status >= ENTRY_NO_CASH:
            _write_reject_nb(rejected, rej_off, n_rej, c, t, side, np.int64(EFFECT_ENTRY), reason, req, 0.0, ref)
            continue
        if status != ENTRY_OK:
            _write_reject_nb(rejected, rej_off, n_rej, c, t, side, np.int64(EFFECT_ENTRY), reason, req, q, ref)
        cash += dcash
        avail = cash if cr_a[c] == CASH_ML4T else avail - (q * px + fee)
        gross += q * px
        net += d * q * px
        n_open += 1
        pos[c] = d * q
        fs[c, F_ENTRY_PRICE] = px
        fs[c, F_ENTRY_FEES] = fee
        fs[c, F_ENTRY_SLIP] = slip
        fs[c, F_HI] = px
        fs[c, F_LO] = px
        is_[c, I_ENTRY_BAR] = t
        is_[c, I_ENTRY_CNT] = is_[c, I_NVALID]
        _write_fill_nb(
            fills, fill_off, n_fill, c, t, side, np.int64(EFFECT_ENTRY), np.int64(REASON_SIGNAL), q, px, fee, slip
        )
    return cash


@njit(cache=True, nogil=True, error_model="numpy")
def _rules_pass_nb(t, e0, e1, col_asset, open_, close, high, low, off, step, sig, p, rp, cash, pos, fs, is_, fills,
                   fill_off, n_fill, trades, trade_off, n_trade, rejected, rej_off, n_rej, order_model):  # fmt: skip
    """Bar t's position rules for columns e0..e1 of a shared-cash group: rule exits, then the
    excursions and trailing peak of what is held through the bar. Returns the cash.

    Its own compiled function, called once per bar (per held column under fill_order="asset"):
    kept out of _run_group_nb, whose size numba's optimizer pays for superlinearly at cold
    compile. ``order_model`` None: vectorbt's cut covers are pruned at compile time (``order_model``)."""
    ta_a = rp.trailing_activation
    tsrc_a = rp.trailing_source
    maxb_a = rp.max_bars
    intrabar_a = rp.intrabar
    on_entry_a = rp.stop_on_entry_bar
    stop_slip_a = rp.stop_slippage
    rules_on_a = rp.rules_on
    session_a = rp.session_exit
    xslip_a = p.exit_slippage
    xsps_a = p.exit_slippage_per_share
    fees_a = p.fees
    fixed_a = p.fixed_fees
    cps_a = p.per_share
    frac_a = p.fractional
    vbt = p.cash_rule[e0] == CASH_VECTORBT
    for c in range(e0, e1):
        q = pos[c]
        if q == 0.0 or (sig[c, t] & SIG_VALID) == 0:
            continue
        i = off[col_asset[c]] + t * step
        if not rules_on_a[c]:
            fs[c, F_HI] = max(fs[c, F_HI], high[i])
            fs[c, F_LO] = min(fs[c, F_LO], low[i])
            continue
        d = 1.0 if q > 0.0 else -1.0
        reason, ref = check_exit_nb(
            d, fs[c, F_ANCHOR], fs[c, F_PEAK], is_[c, I_NVALID] - is_[c, I_ENTRY_CNT], maxb_a[c],
            session_a[c] and (sig[c, t] & SIG_SESSION_EXIT) != 0, open_[i], high[i], low[i],
            is_[c, I_ENTRY_BAR] == t, on_entry_a[c], fs[c, F_SL], fs[c, F_TP], fs[c, F_TSL], ta_a[c],
            fs[c, F_SLP], fs[c, F_TPP], intrabar_a[c],
        )  # fmt: skip
        if reason != NO_EXIT:
            slip_x = (xslip_a[c] if reason == REASON_TIME_STOP else stop_slip_a[c], xsps_a[c])
            is_[c, I_RULE_EXIT_BAR] = t  # this bar's signals are ignored, even if the exit is refused
            if order_model is not None and vbt:  # a cover may be cut or refused: the rest is held through the bar
                pos[c], dcash, fs[c, F_ENTRY_FEES], fs[c, F_ENTRY_SLIP] = _exit_order_nb(
                    c, t, reason, q, ref, slip_x, (fees_a[c], fixed_a[c], cps_a[c]), frac_a[c], vbt,
                    cash, fs[c, F_ENTRY_PRICE], fs[c, F_ENTRY_FEES], fs[c, F_ENTRY_SLIP], fs[c, F_HI],
                    fs[c, F_LO], is_[c, I_ENTRY_BAR], is_[c, I_NVALID] - is_[c, I_ENTRY_CNT], fills,
                    fill_off, n_fill, trades, trade_off, n_trade, rejected, rej_off, n_rej,
                )  # fmt: skip
                cash += dcash
                if pos[c] == 0.0:
                    continue
            else:
                cash += _close_nb(c, t, q, ref, slip_x, (fees_a[c], fixed_a[c], cps_a[c]), reason,
                                  fs[c, F_ENTRY_PRICE], fs[c, F_ENTRY_FEES], fs[c, F_ENTRY_SLIP],
                                  fs[c, F_HI], fs[c, F_LO], is_[c, I_ENTRY_BAR],
                                  is_[c, I_NVALID] - is_[c, I_ENTRY_CNT], fills, fill_off, n_fill,
                                  trades, trade_off, n_trade)  # fmt: skip
                pos[c] = 0.0
                continue
        # held through the bar: excursions, then the trailing peak (after the check)
        fs[c, F_HI] = max(fs[c, F_HI], high[i])
        fs[c, F_LO] = min(fs[c, F_LO], low[i])
        fs[c, F_PEAK] = next_peak_nb(d, fs[c, F_PEAK], close[i], high[i], low[i], tsrc_a[c])
    return cash


@njit(cache=True, nogil=True, error_model="numpy")
def _start_rules_nb(t, e0, e1, col_asset, close, high, low, off, step, rp, pos, fs, is_, held):
    """Positions of columns e0..e1 entered at bar t: anchor, trailing peak and rule levels; with
    ``held`` (entries at the open under fill_order="ml4t") also the bar they are held through."""
    for c in range(e0, e1):
        if is_[c, I_ENTRY_BAR] != t or pos[c] == 0.0:
            continue
        (fs[c, F_ANCHOR], fs[c, F_PEAK], fs[c, F_SL], fs[c, F_TP], fs[c, F_TSL], fs[c, F_SLP],
         fs[c, F_TPP]) = _open_rules_nb(fs[c, F_ENTRY_PRICE], pos[c], rp.stop_anchor[c],
                                        close[off[col_asset[c]] + is_[c, I_PENDING_BAR] * step], c,
                                        is_[c, I_PENDING_BAR], rp)  # fmt: skip
        if held:
            i = off[col_asset[c]] + t * step
            d = 1.0 if pos[c] > 0.0 else -1.0
            fs[c, F_HI] = max(fs[c, F_HI], high[i])
            fs[c, F_LO] = min(fs[c, F_LO], low[i])
            fs[c, F_PEAK] = next_peak_nb(d, fs[c, F_PEAK], close[i], high[i], low[i], rp.trailing_source[c])


@njit(cache=True, nogil=True, error_model="numpy")
def _run_group_nb(g, c0, c1, col_asset, open_, fill_price, close, high, low, off, step, sig, timing, cash, p, rp, lp,
                  pos, fs, is_, pending, fills, fill_off, n_fill, trades, trade_off, n_trade, rejected, rej_off, n_rej,
                  cash_out, value_out, acc, k, order_model):  # fmt: skip
    # risk parameter arrays bound once (never read out of the tuple inside the bar loop)
    reenter_a = rp.reenter_on_stop_bar
    slip_a = p.slippage
    rules_a = p.signal_rules
    by_asset = p.fill_order[c0] == ORDER_BY_ASSET
    # fill_order="ml4t" (ml4t-backtest's bar cycle): the open's signal exits, then the position
    # rules (their exits' cash funds the open's entries), then the entries, older signals first
    ml4t_order = p.fill_order[c0] == ORDER_ML4T and timing == TIMING_NEXT_OPEN
    lim = (lp.max_positions[g], lp.max_position_weight[g], lp.max_gross_leverage[g], lp.leverage_set[g],
           lp.max_net_exposure[g])  # fmt: skip
    lim_on = lp.on[g]
    prio = lp.priority
    prio_on = lp.priority_on[g]
    day = lp.day
    lstate = new_limit_state_nb(cash)
    values = np.zeros(c1)
    n_bars = sig.shape[1]
    n_pending = 0
    per_col = value_out.shape[0] > 0
    for c in range(c0, c1):
        pending[c] = ACT_NONE
        is_[c, I_LAST_BAR] = -1
        is_[c, I_RULE_EXIT_BAR] = -1
        is_[c, I_FORCE] = REASON_SIGNAL
    for t in range(n_bars):
        for c in range(c0, c1):
            if (sig[c, t] & SIG_VALID) != 0:
                is_[c, I_NVALID] += 1
                is_[c, I_LAST_BAR] = t
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
            # phase numbers are the TIMING_* codes, in bar-cycle order (tests/contracts checks it):
            # 0 open fills, 1 risk rules + intrabar + close fills, 2 signals + same-bar close fills
            for phase in range(3):
                if phase == 1:
                    if not by_asset or pos[e0] != 0.0:  # by asset: a flat column has no rule to check
                        cash = _rules_pass_nb(t, e0, e1, col_asset, open_, close, high, low, off, step, sig, p, rp,
                                              cash, pos, fs, is_, fills, fill_off, n_fill, trades, trade_off,
                                              n_trade, rejected, rej_off, n_rej, order_model)  # fmt: skip
                    if ml4t_order and n_pending > 0:  # the open's entries, after the bar's rule exits
                        cash = _phase_nb(t, c0, c1, e0, e1, fill_price, off, step, col_asset, sig, p, slip_a, cash,
                                         pos, fs, is_, pending, lim, block, prio, prio_on, fills, fill_off, n_fill,
                                         trades, trade_off, n_trade, rejected, rej_off, n_rej,
                                         np.int64(PHASE_ENTRIES), order_model)  # fmt: skip
                        n_pending = _count_pending_nb(pending, c0, c1)
                        # new positions: rule levels, then the bar they were held through
                        _start_rules_nb(t, e0, e1, col_asset, close, high, low, off, step, rp, pos, fs, is_, bool(1))
                elif phase == 2:
                    for c in range(e0, e1):
                        bits = sig[c, t]
                        if (bits & SIG_VALID) != 0 and (bits & SIG_ORDERS) != 0:
                            act = decide_nb(bits, pos[c], rules_a[c])
                            if act != ACT_NONE and is_[c, I_RULE_EXIT_BAR] == t and not reenter_a[c]:
                                act = ACT_NONE  # no re-entry on the bar a position rule closed (flat now)
                            if act != ACT_NONE and is_[c, I_FORCE] != REASON_SIGNAL and act < ACT_REVERSE_TO_LONG:
                                act = ACT_NONE  # a forced close stays; only a reversal (exit + entry) replaces it
                            if act != ACT_NONE:
                                if pending[c] == ACT_NONE:
                                    n_pending += 1
                                pending[c] = act
                                is_[c, I_PENDING_BAR] = t
                # by asset: only a column with an order has anything to fill (the phase marks the
                # whole group, so calling it for every column would cost assets^2 per bar)
                if timing == phase and n_pending > 0 and (not by_asset or pending[e0] != ACT_NONE):
                    part = PHASE_EXITS if ml4t_order else PHASE_ALL
                    cash = _phase_nb(t, c0, c1, e0, e1, fill_price, off, step, col_asset, sig, p, slip_a, cash, pos, fs,
                                     is_, pending, lim, block, prio, prio_on, fills, fill_off, n_fill, trades,
                                     trade_off, n_trade, rejected, rej_off, n_rej, part, order_model)  # fmt: skip
                    n_pending = _count_pending_nb(pending, c0, c1)
                    # entries of this phase: anchor, peak and rule levels
                    _start_rules_nb(t, e0, e1, col_asset, close, high, low, off, step, rp, pos, fs, is_, bool(0))
        net_v = 0.0
        gross_v = 0.0
        for c in range(c0, c1):
            if (sig[c, t] & SIG_VALID) != 0:
                fs[c, F_LAST_CLOSE] = close[off[col_asset[c]] + t * step]
            v = pos[c] * fs[c, F_LAST_CLOSE]
            values[c] = v
            net_v += v
            gross_v += abs(v)
            if per_col:
                value_out[c, t] = v
        acc[k, 0, t] += cash
        acc[k, 1, t] += net_v
        acc[k, 2, t] += gross_v
        if per_col:
            cash_out[g, t] = cash
        if lim_on:
            n_pending += close_of_bar_nb(t, c0, c1, cash + net_v, gross_v, values, pos, pending, is_, day, lim[2],
                                         lim[3], lp.max_drawdown[g], lp.drawdown_action[g], lp.drawdown_cooldown[g],
                                         lp.daily_loss_limit[g], lstate)  # fmt: skip

    for c in range(c0, c1):
        act = pending[c]
        q = pos[c]
        if act != ACT_NONE:  # the signal came on the column's last bar: nothing to fill it on
            pb = is_[c, I_PENDING_BAR]
            if is_exit_action_nb(act) and q != 0.0:
                side = -1 if q > 0.0 else 1
                _write_reject_nb(rejected, rej_off, n_rej, c, pb, side, np.int64(EFFECT_EXIT),
                                 np.int64(REJ_NO_NEXT_BAR), abs(q), 0.0, np.nan)  # fmt: skip
            if act != ACT_CLOSE:
                side = 1 if entry_direction_nb(act) > 0.0 else -1
                _write_reject_nb(rejected, rej_off, n_rej, c, pb, side, np.int64(EFFECT_ENTRY),
                                 np.int64(REJ_NO_NEXT_BAR), np.nan, 0.0, np.nan)  # fmt: skip
            pending[c] = ACT_NONE
        if q != 0.0:  # still open: reported at the last close, no exit costs
            _write_trade_nb(trades, trade_off, n_trade, c, q, fs[c, F_ENTRY_PRICE], fs[c, F_ENTRY_FEES],
                            fs[c, F_ENTRY_SLIP], fs[c, F_HI], fs[c, F_LO], is_[c, I_ENTRY_BAR],
                            is_[c, I_NVALID] - is_[c, I_ENTRY_CNT], is_[c, I_LAST_BAR], fs[c, F_LAST_CLOSE], 0.0, 0.0,
                            np.int64(REASON_END_OF_DATA), np.int64(STATUS_OPEN))  # fmt: skip
    return cash


# Not inlined (nor _close_nb): each is called at a few fill sites of both drivers, which numba
# compiles twice (the prange body and its callees); inlining them cost ~10 s of cold compile for
# no measurable speed (fills are rare next to bars; benchmarks/bench_core.py, 2026-11-24).
@njit(cache=True, nogil=True, error_model="numpy")
def _column_order_nb(c, t, act, ref, pos, cash, ep, efee, eslip, hi, lo, entry_bar, entry_cnt, nvalid, size,
                     size_type, cost, slip_f, frac, closed, fills, fill_off, n_fill, trades, trade_off, n_trade,
                     rejected, rej_off, n_rej, modes):  # fmt: skip
    """``_column_fill_nb`` with a one-order reversal or vectorbt's cash rule (``modes``), through
    ``orders.order_nb`` like the group path. A reversal as two orders enters only when its exit
    closed the whole position (under vectorbt's rule a cover can be cut by cash). A one-order
    reversal fills at the entries' slippage (config refuses it with ``slippage_on="entries"``)."""
    vbt = modes[0] == CASH_VECTORBT
    pct = modes[2] == PERCENT_OF_CASH
    one_order = modes[3] == REVERSAL_ONE_ORDER
    slip_e = (slip_f[0], slip_f[1])
    d = 0.0 if act == ACT_CLOSE else entry_direction_nb(act)
    close_part = is_exit_action_nb(act) and pos != 0.0
    if close_part and (d == 0.0 or not one_order):  # the exit alone (two orders)
        pos, dcash, efee, eslip = _exit_order_nb(
            c, t, np.int64(REASON_SIGNAL), pos, ref, (slip_f[2], slip_f[3]), cost, frac, vbt, cash, ep, efee, eslip,
            hi, lo, entry_bar, nvalid - entry_cnt, fills, fill_off, n_fill, trades, trade_off, n_trade, rejected,
            rej_off, n_rej,
        )  # fmt: skip
        cash += dcash
        close_part = False
        if pos != 0.0 and d != 0.0:  # not all closed: no entry
            side = 1 if d > 0.0 else -1
            _write_reject_nb(rejected, rej_off, n_rej, c, t, side, np.int64(EFFECT_ENTRY),
                             np.int64(REJ_INSUFFICIENT_CASH), np.nan, 0.0, ref)  # fmt: skip
            d = 0.0
    if d == 0.0:
        return pos, cash, ep, efee, eslip, hi, lo, entry_bar, entry_cnt
    equity = cash + pos * ref  # pos != 0 only for a one-order reversal
    if closed:  # no entry; a one-order reversal still closes
        side, px, req = entry_request_nb(d, ref, size, size_type, cost, slip_e, frac, equity, pct, cash, cash)
        _write_reject_nb(rejected, rej_off, n_rej, c, t, side, np.int64(EFFECT_ENTRY), np.int64(REJ_SESSION_END), req,
                         0.0, ref)  # fmt: skip
        if not close_part:
            return pos, cash, ep, efee, eslip, hi, lo, entry_bar, entry_cnt
        d = 0.0
    o = order_nb(pos, close_part, d, ref, size, size_type, pct, cost, slip_e, frac, vbt, cash, cash, equity,
                 equity - abs(pos) * ref, np.inf)  # fmt: skip
    pos, dcash, ep, efee, eslip, hi, lo, opened = _apply_order_nb(
        c, t, np.int64(REASON_SIGNAL), o, ref, pos, ep, efee, eslip, hi, lo, entry_bar, nvalid - entry_cnt, bool(0),
        np.int64(0), fills, fill_off, n_fill, trades, trade_off, n_trade, rejected, rej_off, n_rej,
    )  # fmt: skip
    cash += dcash
    if opened:
        entry_bar = t
        entry_cnt = nvalid
    return pos, cash, ep, efee, eslip, hi, lo, entry_bar, entry_cnt


@njit(cache=True, nogil=True, error_model="numpy")
def _column_fill_nb(c, t, act, ref, pos, cash, ep, efee, eslip, hi, lo, entry_bar, entry_cnt, nvalid, size,
                    size_type, cost, slip_f, frac, closed, fills, fill_off, n_fill, trades, trade_off, n_trade,
                    rejected, rej_off, n_rej, modes, order_model):  # fmt: skip
    """Fill one column's pending action at reference price ``ref``; returns the updated state
    (pos, cash, entry price, entry fees, entry slippage, hi, lo, entry bar, entry count).
    ``closed``: the bar is at/after the session exit time (no entries). ``slip_f`` = (entry
    slippage fraction, per share, exit slippage fraction, per share); ``modes`` = (cash rule,
    size rule, percent_of, reversal) codes: a one-order reversal or vectorbt's cash rule take
    ``_column_order_nb``; the other rules this straight path.

    At most 30 parameters (CPython 3.11 passes more as ``*args``, which numba cannot inline),
    should it be inlined again.
    """
    if order_model is not None and (modes[3] == REVERSAL_ONE_ORDER or modes[0] == CASH_VECTORBT):
        # np.int64(): the callers pass literal 0s on some paths; one compiled copy (see _exit_order_nb)
        return _column_order_nb(c, t, np.int64(act), ref, pos, cash, ep, efee, eslip, hi, lo, np.int64(entry_bar),
                                np.int64(entry_cnt), np.int64(nvalid), size, size_type, cost, slip_f, frac, closed,
                                fills, fill_off, n_fill, trades, trade_off, n_trade, rejected, rej_off,
                                n_rej, modes)  # fmt: skip
    if is_exit_action_nb(act) and pos != 0.0:
        cash += _close_nb(c, t, pos, ref, (slip_f[2], slip_f[3]), cost, np.int64(REASON_SIGNAL), ep, efee, eslip,
                          hi, lo, entry_bar, nvalid - entry_cnt, fills, fill_off, n_fill, trades, trade_off,
                          n_trade)  # fmt: skip
        pos = 0.0
    if act != ACT_CLOSE and closed:
        d = entry_direction_nb(act)
        side, px, req = entry_request_nb(d, ref, size, size_type, cost, (slip_f[0], slip_f[1]), frac, cash,
                                         modes[2] == PERCENT_OF_CASH, cash, cash)  # fmt: skip
        _write_reject_nb(
            rejected, rej_off, n_rej, c, t, side, np.int64(EFFECT_ENTRY), np.int64(REJ_SESSION_END), req, 0.0, ref
        )
    elif act != ACT_CLOSE:
        d = entry_direction_nb(act)
        status, side, px, q, req, fee, slip, dcash = entry_fill_nb(
            d, ref, size, size_type, cost, (slip_f[0], slip_f[1]), frac, cash, cash, np.inf, modes[0], modes[1],
            modes[2] == PERCENT_OF_CASH, cash, cash,
        )  # fmt: skip
        if status >= ENTRY_NO_CASH:
            reason = REJ_INSUFFICIENT_CASH if status == ENTRY_NO_CASH else REJ_ZERO_QUANTITY
            _write_reject_nb(rejected, rej_off, n_rej, c, t, side, np.int64(EFFECT_ENTRY), reason, req, 0.0, ref)
        else:
            if status == ENTRY_REDUCED:
                _write_reject_nb(rejected, rej_off, n_rej, c, t, side, np.int64(EFFECT_ENTRY),
                                 np.int64(REJ_REDUCED_CASH), req, q, ref)  # fmt: skip
            cash += dcash
            pos = d * q
            ep = px
            efee = fee
            eslip = slip
            hi = px
            lo = px
            entry_bar = t
            entry_cnt = nvalid
            _write_fill_nb(
                fills, fill_off, n_fill, c, t, side, np.int64(EFFECT_ENTRY), np.int64(REASON_SIGNAL), q, px, fee, slip
            )
    return pos, cash, ep, efee, eslip, hi, lo, entry_bar, entry_cnt


@njit(cache=True, nogil=True, error_model="numpy")
def _run_column_nb(g, c, col_asset, open_, fill_price, close, high, low, off, step, sig, timing, cash, size, size_type,
                   cost, slip_f, frac, rules, rp, fills, fill_off, n_fill, trades, trade_off, n_trade, rejected,
                   rej_off, n_rej, cash_out, value_out, acc, k, modes, order_model):  # fmt: skip
    """``_run_group_nb`` for a group of one column, with the state in locals (registers).

    Same rules, same order of steps; the group path with one column gives identical records
    (tests/kernels/test_paths.py). A one-column account is flat after an exit, so its sizing
    equity and buying power are both its cash.
    """
    ta = rp.trailing_activation[c]
    tsrc = rp.trailing_source[c]
    maxb = rp.max_bars[c]
    anchor_mode = rp.stop_anchor[c]
    intrabar = rp.intrabar[c]
    on_entry = rp.stop_on_entry_bar[c]
    stop_slip = (rp.stop_slippage[c], slip_f[3])  # stop exits: their own fraction, the exits' cash per share
    reenter = rp.reenter_on_stop_bar[c]
    session = rp.session_exit[c]
    vbt = modes[0] == CASH_VECTORBT
    rule_exit_bar = -1
    rules_on = rp.rules_on[c]  # constant per column: no cost when every rule is off
    sl = np.inf  # the open position's fractions, read at entry
    tp = np.inf
    tsl = np.inf
    slp = np.nan  # absolute levels, read at entry
    tpp = np.nan
    base = off[col_asset[c]]  # the column's bar t is element base + t * step of each price column
    n_bars = sig.shape[1]
    pos = 0.0
    ep = 0.0
    efee = 0.0
    eslip = 0.0
    hi = 0.0
    lo = 0.0
    anchor = 0.0
    peak = 0.0
    last_close = 0.0
    # int64 values, not literals: a literal start value would compile the callees once for it too
    entry_bar = np.int64(0)
    entry_cnt = np.int64(0)
    nvalid = np.int64(0)
    last_bar = np.int64(-1)
    pending = np.int64(ACT_NONE)
    pending_bar = np.int64(0)
    per_col = value_out.shape[0] > 0
    for t in range(n_bars):
        bits = sig[c, t]
        if (bits & SIG_VALID) != 0:
            i = base + t * step
            nvalid += 1
            last_bar = t
            # three explicit fill sites (not a loop over phases as in the group path): straight-line
            # code keeps this, the hot path of every sweep, 15% faster (benchmarks/bench_core.py).
            # Keep their argument lists wrapped as they are: moving `(bits & SIG_SESSION_CLOSED) != 0`
            # to the start of a continuation line made scenario A's kernel 27 -> 54 ms (numba 0.68,
            # Python 3.11; the bytecode's line table changes how numba builds this loop)
            if pending != ACT_NONE and timing == TIMING_NEXT_OPEN:
                pos, cash, ep, efee, eslip, hi, lo, entry_bar, entry_cnt = _column_fill_nb(
                    c, t, pending, fill_price[i], pos, cash, ep, efee, eslip, hi, lo, entry_bar, entry_cnt,
                    nvalid, size, size_type, cost, slip_f, frac, (bits & SIG_SESSION_CLOSED) != 0, fills, fill_off,
                    n_fill, trades, trade_off, n_trade, rejected, rej_off, n_rej, modes, order_model,
                )  # fmt: skip
                if entry_bar == t:  # entered now: anchor the levels, start the trailing peak
                    anchor, peak, sl, tp, tsl, slp, tpp = _open_rules_nb(ep, pos, anchor_mode,
                                                                         close[base + pending_bar * step], c,
                                                                         pending_bar, rp)  # fmt: skip
                pending = ACT_NONE
            if pos != 0.0 and not rules_on:
                hi = max(hi, high[i])
                lo = min(lo, low[i])
            elif pos != 0.0:  # position rules, then intrabar excursions and the trailing peak
                d = 1.0 if pos > 0.0 else -1.0
                reason, ref = check_exit_nb(
                    d, anchor, peak, nvalid - entry_cnt, maxb, session and (bits & SIG_SESSION_EXIT) != 0, open_[i],
                    high[i], low[i], entry_bar == t, on_entry, sl, tp, tsl, ta, slp, tpp, intrabar,
                )  # fmt: skip
                if order_model is not None and reason != NO_EXIT and vbt:  # a cover may be cut or refused
                    slip_x = (slip_f[2], slip_f[3]) if reason == REASON_TIME_STOP else stop_slip
                    pos, dcash, efee, eslip = _exit_order_nb(
                        c, t, reason, pos, ref, slip_x, cost, frac, vbt, cash, ep, efee, eslip, hi, lo, entry_bar,
                        nvalid - entry_cnt, fills, fill_off, n_fill, trades, trade_off, n_trade, rejected, rej_off,
                        n_rej,
                    )  # fmt: skip
                    cash += dcash
                    rule_exit_bar = t  # this bar's signals are ignored, even if the exit was refused
                    if pos != 0.0:
                        hi = max(hi, high[i])
                        lo = min(lo, low[i])
                        peak = next_peak_nb(d, peak, close[i], high[i], low[i], tsrc)
                elif reason != NO_EXIT:
                    slip_x = (slip_f[2], slip_f[3]) if reason == REASON_TIME_STOP else stop_slip
                    cash += _close_nb(c, t, pos, ref, slip_x, cost, reason, ep, efee, eslip, hi, lo, entry_bar,
                                      nvalid - entry_cnt, fills, fill_off, n_fill, trades, trade_off,
                                      n_trade)  # fmt: skip
                    pos = 0.0
                    rule_exit_bar = t
                else:
                    hi = max(hi, high[i])
                    lo = min(lo, low[i])
                    peak = next_peak_nb(d, peak, close[i], high[i], low[i], tsrc)
            if pending != ACT_NONE and timing == TIMING_NEXT_CLOSE:
                pos, cash, ep, efee, eslip, hi, lo, entry_bar, entry_cnt = _column_fill_nb(
                    c, t, pending, fill_price[i], pos, cash, ep, efee, eslip, hi, lo, entry_bar, entry_cnt,
                    nvalid, size, size_type, cost, slip_f, frac, (bits & SIG_SESSION_CLOSED) != 0, fills, fill_off,
                    n_fill, trades, trade_off, n_trade, rejected, rej_off, n_rej, modes, order_model,
                )  # fmt: skip
                if entry_bar == t:  # entered now: anchor the levels, start the trailing peak
                    anchor, peak, sl, tp, tsl, slp, tpp = _open_rules_nb(ep, pos, anchor_mode,
                                                                         close[base + pending_bar * step], c,
                                                                         pending_bar, rp)  # fmt: skip
                pending = ACT_NONE
            if (bits & SIG_ORDERS) != 0:
                act = decide_nb(bits, pos, rules)
                if act != ACT_NONE and rule_exit_bar == t and not reenter:
                    act = ACT_NONE  # no re-entry on the bar a position rule closed (flat now)
                if act != ACT_NONE:
                    pending = act
                    pending_bar = t
                    if timing == TIMING_SAME_CLOSE:
                        pos, cash, ep, efee, eslip, hi, lo, entry_bar, entry_cnt = _column_fill_nb(
                            c, t, pending, fill_price[i], pos, cash, ep, efee, eslip, hi, lo, entry_bar,
                            entry_cnt, nvalid, size, size_type, cost, slip_f, frac, (bits & SIG_SESSION_CLOSED) != 0,
                            fills, fill_off, n_fill, trades, trade_off, n_trade, rejected, rej_off, n_rej,
                            modes, order_model,
                        )  # fmt: skip
                        if entry_bar == t:
                            anchor, peak, sl, tp, tsl, slp, tpp = _open_rules_nb(ep, pos, anchor_mode, close[i], c, t,
                                                                                 rp)  # fmt: skip
                        pending = ACT_NONE
            last_close = close[i]
        v = pos * last_close
        acc[k, 0, t] += cash
        acc[k, 1, t] += v
        acc[k, 2, t] += abs(v)
        if per_col:
            value_out[c, t] = v
            cash_out[g, t] = cash

    if pending != ACT_NONE:  # the signal came on the column's last bar: nothing to fill it on
        if is_exit_action_nb(pending) and pos != 0.0:
            side = -1 if pos > 0.0 else 1
            _write_reject_nb(rejected, rej_off, n_rej, c, pending_bar, side, np.int64(EFFECT_EXIT),
                             np.int64(REJ_NO_NEXT_BAR), abs(pos), 0.0, np.nan)  # fmt: skip
        if pending != ACT_CLOSE:
            side = 1 if entry_direction_nb(pending) > 0.0 else -1
            _write_reject_nb(rejected, rej_off, n_rej, c, pending_bar, side, np.int64(EFFECT_ENTRY),
                             np.int64(REJ_NO_NEXT_BAR), np.nan, 0.0, np.nan)  # fmt: skip
    if pos != 0.0:  # still open: reported at the last close, no exit costs
        _write_trade_nb(trades, trade_off, n_trade, c, pos, ep, efee, eslip, hi, lo, entry_bar, nvalid - entry_cnt,
                        last_bar, last_close, 0.0, 0.0, np.int64(REASON_END_OF_DATA),
                        np.int64(STATUS_OPEN))  # fmt: skip
    return cash


@njit(cache=True, nogil=True, error_model="numpy")
def _count_pending_nb(pending, c0, c1):
    n = 0
    for c in range(c0, c1):
        if pending[c] != ACT_NONE:
            n += 1
    return n


# Three drivers over the same per-group bodies, so a run compiles only the one it needs (cold
# compile is what a new user waits for; README "Performance"): independent one-column accounts
# (parallel over chunks of columns), one shared-cash portfolio (serial: one group), and many
# shared-cash groups (a sweep; parallel over chunks of groups). Each takes the same arguments:
# ``px`` the ``Prices`` columns (cell (a, t) at ``off[a] + t * step``); sig (n_cols, n_bars)
# uint8; col_asset (n_cols,) int64; group_offsets (n_groups + 1,); chunk_offsets (n_chunks + 1,)
# over groups; init_cash (n_groups,); ``p`` OrderParams and ``rp`` RiskParams, arrays per
# column; ``lp`` LimitParams, arrays per group. ``acc`` (n_chunks, 3, n_bars) accumulates each
# chunk's cash, net and gross position value per bar (the portfolio series, O(bars) memory).
# ``cash_out`` (n_groups, n_bars) and ``value_out`` (n_cols, n_bars) get per-group / per-column
# series only when they are not empty (``asset_equity``). Records go to each column's own slice
# of ``rec``, so threads never share a slot.


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _columns_chunk_nb(k, group_offsets, chunk_offsets, col_asset, px, sig, timing, init_cash, p, rp, st, rec, acc,
                      cash_out, value_out, order_model):  # fmt: skip
    """Chunk k of one-column groups (independent accounts without portfolio limits).

    Price columns that are not asset-major (``step != 1``: a complete panel read in
    timestamp-major order) are first copied, a few columns at a time, into this thread's own
    asset-major scratch arrays (a few MB): the bar loop then reads memory in order instead of
    jumping a whole row of the panel (8 KB at 1,000 assets) per bar, which made it 3x slower
    (benchmarks/bench_core.py)."""
    open_, high, low, close, fill_price, off = px.open, px.high, px.low, px.close, px.fill, px.off
    step = px.step[0]
    g_lo, g_hi = chunk_offsets[k], chunk_offsets[k + 1]
    n_bars = sig.shape[1]
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
            _run_column_nb(g, c0, col_asset, o_, f_, c_, h_, l_, off_, step_, sig, timing,
                           init_cash[g], p.size[c0, 0], p.size_type[c0],
                           (p.fees[c0], p.fixed_fees[c0], p.per_share[c0]),
                           (p.slippage[c0], p.slippage_per_share[c0], p.exit_slippage[c0],
                            p.exit_slippage_per_share[c0]), p.fractional[c0], p.signal_rules[c0], rp,
                           rec.fills, rec.fill_off, st.n_fill, rec.trades, rec.trade_off, st.n_trade, rec.rejected,
                           rec.rej_off, st.n_rej, cash_out, value_out, acc, np.int64(k),
                           (p.cash_rule[c0], p.size_rule[c0], p.percent_of[c0], p.reversal[c0]),
                           order_model)  # fmt: skip


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _groups_chunk_nb(k, group_offsets, chunk_offsets, col_asset, px, sig, timing, init_cash, p, rp, lp, st, rec, acc,
                     cash_out, value_out, order_model):  # fmt: skip
    """Chunk k of shared-cash groups (and one-column groups with portfolio limits)."""
    open_, high, low, close, fill_price, off = px.open, px.high, px.low, px.close, px.fill, px.off
    step = px.step[0]
    for g in range(chunk_offsets[k], chunk_offsets[k + 1]):
        c0 = group_offsets[g]
        _run_group_nb(g, c0, group_offsets[g + 1], col_asset, open_, fill_price, close, high, low, off, step,
                      sig, timing, init_cash[g], p, rp, lp, st.pos, st.fs, st.is_, st.pending, rec.fills,
                      rec.fill_off, st.n_fill, rec.trades, rec.trade_off, st.n_trade, rec.rejected, rec.rej_off,
                      st.n_rej, cash_out, value_out, acc, np.int64(k), order_model)  # fmt: skip


@njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def simulate_columns_nb(group_offsets, chunk_offsets, col_asset, px, sig, timing, init_cash, p, rp, lp, st, rec, acc,
                        cash_out, value_out, order_model):  # fmt: skip
    """Independent one-column accounts: chunks of columns in parallel."""
    for k in prange(chunk_offsets.shape[0] - 1):
        _columns_chunk_nb(k, group_offsets, chunk_offsets, col_asset, px, sig, timing, init_cash, p, rp, st, rec, acc,
                          cash_out, value_out, order_model)  # fmt: skip


@njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def simulate_groups_nb(group_offsets, chunk_offsets, col_asset, px, sig, timing, init_cash, p, rp, lp, st, rec, acc,
                       cash_out, value_out, order_model):  # fmt: skip
    """Many shared-cash groups (a sweep): chunks of groups in parallel."""
    for k in prange(chunk_offsets.shape[0] - 1):
        _groups_chunk_nb(k, group_offsets, chunk_offsets, col_asset, px, sig, timing, init_cash, p, rp, lp, st, rec,
                         acc, cash_out, value_out, order_model)  # fmt: skip


@njit(cache=True, nogil=True, error_model="numpy")
def simulate_group_nb(group_offsets, chunk_offsets, col_asset, px, sig, timing, init_cash, p, rp, lp, st, rec, acc,
                      cash_out, value_out, order_model):  # fmt: skip
    """One shared-cash portfolio (a serial bar loop: nothing to run in parallel)."""
    for k in range(chunk_offsets.shape[0] - 1):
        _groups_chunk_nb(k, group_offsets, chunk_offsets, col_asset, px, sig, timing, init_cash, p, rp, lp, st, rec,
                         acc, cash_out, value_out, order_model)  # fmt: skip


@njit(cache=True, nogil=True, error_model="numpy")
def count_entries_nb(sig, signal_exits_only):
    """Per column: bars carrying an entry bit (bounds the rejected orders), and a bound on its
    round trips (trades; fills are at most twice as many).

    Every trade opens on an entry bar, so the entry bars bound the trades. A column whose
    positions close only on exit signals (``signal_exits_only``: no position rule, no portfolio
    limit) does better: after a position opens, the next one needs an exit bit or an opposite
    entry in between, so a run of entry bars with neither opens at most one position. Level-type
    signals (an MA above another) are entry bits on half the bars but a few hundred trades.
    Serial (3 ms on 1,000 x 2,520): a parallel loop made a first run compile longer.
    """
    n_cols, n_bars = sig.shape
    entries = np.zeros(n_cols, dtype=np.int64)
    trades = np.zeros(n_cols, dtype=np.int64)
    exit_mask = SIG_EXIT | SIG_SHORT_EXIT
    for c in range(n_cols):
        k = 0
        b = 0
        armed = True
        side = 0
        for t in range(n_bars):
            s = sig[c, t]
            long_e = (s & SIG_ENTRY) != 0
            short_e = (s & SIG_SHORT_ENTRY) != 0
            if (s & exit_mask) != 0:
                armed = True
            if long_e or short_e:
                k += 1
                d = 1 if long_e else -1
                if armed or d != side or (long_e and short_e):
                    b += 1
                    armed = False
                    side = d
        entries[c] = k
        trades[c] = b if signal_exits_only[c] else k
    return entries, trades


def _offsets(counts: np.ndarray) -> np.ndarray:
    off = np.zeros(counts.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=off[1:])
    return off


@njit(cache=True, nogil=True, error_model="numpy")
def _compact_nb(src, off, counts, dst):
    k = 0
    for c in range(counts.shape[0]):
        for i in range(counts[c]):
            dst[k] = src[off[c] + i]
            k += 1


def _compact(src: np.ndarray, off: np.ndarray, counts: np.ndarray) -> np.ndarray:
    dst = np.empty(int(counts.sum()), dtype=src.dtype)
    _compact_nb(src, off, counts, dst)
    return dst


def order_model(params: OrderParams):
    """The drivers' last argument: None for the default order model, so numba prunes vectorbt's
    (one-order reversals, covers cut by cash) and compiles a run without it; else 1. A run
    with vectorbt's model compiles its own copy of the driver, once."""
    vbt = bool((params.cash_rule == CASH_VECTORBT).any() or (params.reversal == REVERSAL_ONE_ORDER).any())
    return np.int64(1) if vbt else None


def size_per_bar(size: np.ndarray) -> bool:
    """``OrderParams.size`` comes from a size expression: a grid per bar, or one bar that may
    hold NaN (a null size). One number per column is never NaN (``SizingConfig`` checks it)."""
    return size.shape[1] > 1 or bool(np.isnan(size).any())


def driver(n_groups: int, n_cols: int, limits_on: bool, size_per_bar: bool = False):
    """The driver a run uses: one-column groups without limits (independent accounts) run in
    parallel over columns; one shared-cash group runs serially; many run in parallel.

    A size per bar (``size=`` an expression) takes the group path for one-column groups too:
    the one-column loop keeps its state in registers, and reading a size grid inside it made
    scenario A's kernel 1.8x slower (27 -> 48 ms) even where the size was one number."""
    if n_groups == n_cols and not limits_on and not size_per_bar:
        return simulate_columns_nb
    return simulate_group_nb if n_groups == 1 else simulate_groups_nb


def _run(args, caps, n_bars, per_column_series):
    """One run of the drivers with ``caps`` = room for (fills, trades, rejected) per column."""
    group_offsets, chunk_offsets, col_asset, prices, sig, timing, init_cash, params, risk, limits = args
    n_cols = sig.shape[0]
    n_groups = group_offsets.shape[0] - 1
    fill_off, trade_off, rej_off = (_offsets(c) for c in caps)
    rec = Records(np.empty(int(fill_off[-1]), dtype=FILL_DT), np.empty(int(trade_off[-1]), dtype=TRADE_DT),
                  np.empty(int(rej_off[-1]), dtype=REJECT_DT), fill_off, trade_off, rej_off)  # fmt: skip
    z = lambda: np.zeros(n_cols, dtype=np.int64)  # noqa: E731
    st = ColState(np.zeros(n_cols), np.zeros((n_cols, N_F)), np.zeros((n_cols, N_I), np.int64), z(), z(), z(), z())
    n_chunks = chunk_offsets.shape[0] - 1
    acc = np.zeros((n_chunks, 3, n_bars))
    shape_c, shape_v = ((n_groups, n_bars), (n_cols, n_bars)) if per_column_series else ((0, 0), (0, 0))
    cash_out = np.empty(shape_c)
    value_out = np.empty(shape_v)
    tail = (timing, init_cash, params, risk, limits, st, rec, acc, cash_out, value_out)
    run = driver(n_groups, n_cols, bool(limits.on.any()), size_per_bar(params.size))
    run(group_offsets, chunk_offsets, col_asset, prices, sig, *tail, order_model(params))
    return rec, st, acc, cash_out, value_out


class SimResult(NamedTuple):
    fills: np.ndarray
    trades: np.ndarray
    rejected: np.ndarray
    cash: np.ndarray  # (n_bars,) portfolio cash (all groups; empty when chunk_offsets are given)
    net: np.ndarray  # (n_bars,) sum of signed position values at the close
    gross: np.ndarray  # (n_bars,) sum of |position value|
    group_cash: np.ndarray | None  # (n_groups, n_bars) when per-column series were asked for
    col_value: np.ndarray | None  # (n_cols, n_bars)
    chunk_series: np.ndarray | None  # (n_chunks, 3, n_bars) cash / net / gross per given chunk
    segments: tuple | None  # (fill_off, n_fill, trade_off, n_trade) of raw records (compact=False)


def simulate(
    group_offsets: np.ndarray,
    col_asset: np.ndarray,
    prices: Prices,
    sig: np.ndarray,
    timing: int,
    init_cash: np.ndarray,
    params: OrderParams,
    risk: RiskParams,
    limits: LimitParams,
    per_column_series: bool = False,
    chunk_offsets: np.ndarray | None = None,
    record_rejected: bool = True,
    compact: bool = True,
) -> SimResult:
    """Allocate state and outputs, run a driver and return compact records (numpy only).

    ``chunk_offsets`` (over groups) sets the parallel chunks instead of a few per thread, and the
    per-chunk series come back as ``chunk_series``: a sweep makes one chunk per parameter
    combination, so each combination's portfolio series is its own row (memory O(chunks x bars)).
    ``record_rejected=False`` keeps no rejected orders (a sweep reports none).
    ``compact=False`` skips copying the records into contiguous arrays: ``fills`` and ``trades``
    are the raw buffers, column c's records at ``segments`` = (fill_off, n_fill, trade_off,
    n_trade) ``[off[c], off[c] + n[c])`` (a sweep reduces them in place).
    """
    sig = kernel_array(sig, np.uint8)
    n_cols, n_bars = sig.shape
    n_groups = group_offsets.shape[0] - 1
    group_of = np.repeat(np.arange(n_groups), np.diff(group_offsets))
    n_entry, n_trade_max = count_entries_nb(sig, ~risk.rules_on & ~limits.on[group_of])
    caps = (2 * n_trade_max, n_trade_max, n_entry + 2 if record_rejected else np.zeros_like(n_entry))
    # a few chunks per thread balance the load; each chunk owns one row of the accumulators
    keep_chunks = chunk_offsets is not None
    if chunk_offsets is None:
        n_chunks = max(1, min(n_groups, 4 * numba.get_num_threads()))
        chunk_offsets = np.linspace(0, n_groups, n_chunks + 1).round().astype(np.int64)
    args = (kernel_array(group_offsets, np.int64), kernel_array(chunk_offsets, np.int64),
            kernel_array(col_asset, np.int64), prices, sig, np.int64(timing), kernel_array(init_cash, np.float64),
            params, risk, limits)  # fmt: skip
    for _ in range(2):  # the bounds above are exact or generous; a second run gets the exact room
        rec, st, acc, cash_out, value_out = _run(args, caps, n_bars, per_column_series)
        counts = (st.n_fill, st.n_trade, st.n_rej if record_rejected else caps[2])
        if all((n <= cap).all() for n, cap in zip(counts, caps, strict=True)):
            break
        caps = tuple(np.maximum(n, cap) for n, cap in zip(counts, caps, strict=True))
    else:  # pragma: no cover - a deterministic kernel cannot overflow exact counts
        raise RuntimeError("record buffers overflowed twice")
    fill_off, trade_off, rej_off = rec.fill_off, rec.trade_off, rec.rej_off
    tot = np.zeros((3, 0)) if keep_chunks else acc.sum(axis=0)  # a sweep keeps the chunks' own series
    if compact:
        fills = _compact(rec.fills, fill_off, st.n_fill)
        trades = _compact(rec.trades, trade_off, st.n_trade)
        rejected = _compact(rec.rejected, rej_off, np.minimum(st.n_rej, caps[2]))
    else:
        fills, trades, rejected = rec.fills, rec.trades, rec.rejected
    return SimResult(
        fills,
        trades,
        rejected,
        tot[0],
        tot[1],
        tot[2],
        cash_out if per_column_series else None,
        value_out if per_column_series else None,
        acc if keep_chunks else None,
        None if compact else (fill_off, st.n_fill, trade_off, st.n_trade),
    )
