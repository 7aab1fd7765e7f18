"""Position rules checked on every bar a position is held: time stop, stop-loss, trailing stop,
take-profit (numba). Scalar functions; the drivers in ``simulate.py`` own the state.

A rule that is off has an infinite fraction (or ``max_bars`` = int64 max): its level is never
reached, so the checks need no "enabled" branches.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from ml4t_vec._kernels import BOOL, F64, I64
from ml4t_vec._kernels.codes import (
    INTRABAR_OHLC_PATH,
    INTRABAR_OPTIMISTIC,
    INTRABAR_RULE_CHAIN,
    INTRABAR_STOP_FIRST,
    NO_EXIT,
    REASON_STOP_LOSS,
    REASON_TAKE_PROFIT,
    REASON_TIME_STOP,
    REASON_TRAILING_STOP,
    TRAIL_CLOSE,
)


class RiskParams(NamedTuple):
    """Per-column position rules, each an array of length n_cols (Prepare broadcasts scalars).

    The three fractions are 2-D: (n_cols, 1) for one value per column, (n_cols, n_bars) for a
    value per bar (an expression such as an ATR stop). A position reads them from the bar whose
    signal opened it (``fraction_at_nb``); NaN or inf = no level.
    """

    stop_loss: F64  # fraction of the anchor
    take_profit: F64  # fraction of the anchor
    trailing_stop: F64  # fraction of the peak
    stop_loss_price: F64  # absolute stop level (2-D like the fractions; NaN = none)
    take_profit_price: F64  # absolute target level
    trailing_activation: F64  # trail once the peak is this far in favour (0 = at once)
    trailing_source: I64  # TRAIL_*: peak from closes or from bar extremes (high / low)
    trailing_start: I64  # PEAK_*: the peak starts at the anchor or with the first bar held
    max_bars: I64  # bars held before a time exit; int64 max = off
    stop_anchor: I64  # ANCHOR_*
    intrabar: I64  # INTRABAR_*
    stop_on_entry_bar: BOOL  # an entry filled at a bar's open may stop out in that bar
    stop_slippage: F64  # slippage of stop-loss, trailing and take-profit exits
    reenter_on_stop_bar: BOOL  # entry signals on the bar of a rule exit are acted on
    session_exit: BOOL  # close positions at the session exit time (signal bit SIG_SESSION_EXIT)
    rules_on: BOOL  # the column has any rule at all (else the checks are skipped)
    scale_out: F64  # (n_cols, 2 x SCALE_OUT_STEPS): the scale-out steps' gains, then their fractions (NaN: none)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def stop_levels_nb(d, anchor, peak, sl, tp, tsl, ta, slp, tpp):
    """(stop level, its reason, take-profit level) of a position in direction ``d``.

    The stop is the tightest of the stop-loss fraction, the absolute stop price ``slp`` and the
    trailing stop (once the peak has moved ``ta`` in favour); the target is the nearer of the
    take-profit fraction and the absolute target ``tpp`` (NaN = no absolute level).
    Longs: stop below, target above; shorts: the mirror image.
    """
    if d > 0.0:
        stop = anchor * (1.0 - sl)
        if slp > stop:  # False for NaN
            stop = slp
        reason = REASON_STOP_LOSS
        if peak >= anchor * (1.0 + ta):
            trail = peak * (1.0 - tsl)
            if trail > stop:
                stop = trail
                reason = REASON_TRAILING_STOP
        target = anchor * (1.0 + tp)
        return stop, reason, tpp if tpp < target else target
    stop = anchor * (1.0 + sl)
    if slp < stop:
        stop = slp
    reason = REASON_STOP_LOSS
    if peak <= anchor * (1.0 - ta):
        trail = peak * (1.0 + tsl)
        if trail < stop:
            stop = trail
            reason = REASON_TRAILING_STOP
    target = anchor * (1.0 - tp)
    return stop, reason, tpp if tpp > target else target


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def price_stop_nb(d, anchor, peak, o, h, lo, sl, tp, tsl, ta, slp, tpp, intrabar):
    """Did a price rule trigger on this bar? Returns (reason or NO_EXIT, reference exit price).

    - The bar opens through a level: exit at the open. This includes the bar a position was
      filled at the open, when the level is anchored elsewhere (``signal_close``) and the open
      already lies beyond it: a stop order placed after the fill triggers at once. Exits never
      fill outside the bar's range (tests/property/test_invariants.py).
    - ``stop_first`` (vectorbt's rule): a stop reached anywhere in the bar wins, filled at the
      stop or at the open if the bar opened beyond it; only then the target, likewise.
    - Else a level inside [low, high] fills at the level. Stop and target both inside the bar:
      ``pessimistic`` takes the stop, ``optimistic`` the target, ``ohlc_path`` whichever the
      path open -> nearer extreme -> farther extreme reaches first (a tie takes the stop).
    """
    if intrabar == INTRABAR_RULE_CHAIN:
        return rule_chain_nb(d, anchor, peak, o, h, lo, sl, tp, tsl, ta, slp, tpp)
    stop, stop_reason, target = stop_levels_nb(d, anchor, peak, sl, tp, tsl, ta, slp, tpp)
    if intrabar == INTRABAR_STOP_FIRST:  # vectorbt: the stop anywhere in the bar wins, then the target
        if d > 0.0:
            if lo <= stop:
                return stop_reason, min(o, stop)
            if h >= target:
                return REASON_TAKE_PROFIT, max(o, target)
        else:
            if h >= stop:
                return stop_reason, max(o, stop)
            if lo <= target:
                return REASON_TAKE_PROFIT, min(o, target)
        return NO_EXIT, 0.0
    if d > 0.0:
        if o <= stop:
            return stop_reason, o
        if o >= target:
            return REASON_TAKE_PROFIT, o
        hit_stop = lo <= stop
        hit_target = h >= target
        stop_side_first = (o - lo) <= (h - o)  # the low is nearer the open
    else:
        if o >= stop:
            return stop_reason, o
        if o <= target:
            return REASON_TAKE_PROFIT, o
        hit_stop = h >= stop
        hit_target = lo <= target
        stop_side_first = (h - o) <= (o - lo)  # the high is nearer the open
    if hit_stop and hit_target:
        if intrabar == INTRABAR_OPTIMISTIC or (intrabar == INTRABAR_OHLC_PATH and not stop_side_first):
            return REASON_TAKE_PROFIT, target
        return stop_reason, stop
    if hit_stop:
        return stop_reason, stop
    if hit_target:
        return REASON_TAKE_PROFIT, target
    return NO_EXIT, 0.0


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def rule_chain_nb(d, anchor, peak, o, h, lo, sl, tp, tsl, ta, slp, tpp):
    """ml4t-backtest's rule chain: stop-loss (the tighter of the fraction and ``slp``), then
    take-profit, then the trailing stop; the first whose level the bar reaches exits, at the
    level or at the open when the bar opened beyond it. Returns (reason or NO_EXIT, price)."""
    if d > 0.0:
        stop = anchor * (1.0 - sl)
        if slp > stop:
            stop = slp
        if lo <= stop:
            return REASON_STOP_LOSS, min(o, stop)
        target = anchor * (1.0 + tp)
        if tpp < target:
            target = tpp
        if h >= target:
            return REASON_TAKE_PROFIT, max(o, target)
        if peak >= anchor * (1.0 + ta):
            trail = peak * (1.0 - tsl)
            if lo <= trail:
                return REASON_TRAILING_STOP, min(o, trail)
        return NO_EXIT, 0.0
    stop = anchor * (1.0 + sl)
    if slp < stop:
        stop = slp
    if h >= stop:
        return REASON_STOP_LOSS, max(o, stop)
    target = anchor * (1.0 - tp)
    if tpp > target:
        target = tpp
    if lo <= target:
        return REASON_TAKE_PROFIT, min(o, target)
    if peak <= anchor * (1.0 - ta):
        trail = peak * (1.0 + tsl)
        if h >= trail:
            return REASON_TRAILING_STOP, max(o, trail)
    return NO_EXIT, 0.0


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def next_peak_nb(d, peak, c, h, lo, source):
    """The favourable extreme after a bar held through: highest close/high (long), lowest (short)."""
    if d > 0.0:
        x = c if source == TRAIL_CLOSE else h
        return x if x > peak else peak
    x = c if source == TRAIL_CLOSE else lo
    return x if x < peak else peak


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def check_exit_nb(d, anchor, peak, bars_held, max_bars, session_exit, o, h, lo, entered_now, on_entry_bar, sl, tp, tsl,
                  ta, slp, tpp, intrabar):  # fmt: skip
    """All position rules for one held position on one bar, in order.

    1. time stops: ``bars_held`` (the asset's bars since entry) reached ``max_bars``, or the bar
       is the day's first at/after the session exit time (``session_exit``) -> exit at the open;
    2. price rules (``price_stop_nb``), skipped on the bar the position was filled at the open
       unless ``on_entry_bar``.
    Returns (reason or NO_EXIT, reference exit price).
    """
    if bars_held >= max_bars or session_exit:
        return REASON_TIME_STOP, o
    if entered_now and not on_entry_bar:
        return NO_EXIT, 0.0
    return price_stop_nb(d, anchor, peak, o, h, lo, sl, tp, tsl, ta, slp, tpp, intrabar)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def fraction_at_nb(arr, c, t):
    """Column c's rule fraction for an entry signalled on bar t; NaN (no value) means off."""
    x = arr[c, t] if arr.shape[1] > 1 else arr[c, 0]
    return x if x == x else np.inf


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def level_at_nb(arr, c, t):
    """Column c's absolute rule level for an entry signalled on bar t; NaN means none."""
    return arr[c, t] if arr.shape[1] > 1 else arr[c, 0]
