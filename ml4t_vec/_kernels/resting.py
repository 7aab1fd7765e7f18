"""Resting entry orders (numba): levels, the test on a bar, the rest of the bar after a fill.

README "Order types" states the rules; ``phases.resting_phase_nb`` runs them in the bar cycle
and ``simulate._run_group_nb``'s signal step their lifecycle (``signal_rest_nb``). An order's
state lives in the column's order record (``book.ORDER_DT``: ``limit``, ``stop``, ``tests``,
``armed``; a fill found by the test is kept in ``ref``, ``frac``, ``per_share``, ``half`` and
the rest of its bar in ``from_open``, ``from_high``, ``from_low``). Every function is written
for a buy and mirrored for a sell by the direction ``d`` (+1 / -1).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ml4t_vec._kernels.book import write_reject_nb
from ml4t_vec._kernels.codes import (
    ACT_NONE,
    ACT_OPEN_LONG,
    ACT_OPEN_SHORT,
    EFFECT_ENTRY,
    INTRABAR_OHLC_PATH,
    INTRABAR_OPTIMISTIC,
    ORDER_LIMIT,
    ORDER_MARKET,
    ORDER_STOP,
    REJ_CANCELLED_EXIT,
    REJ_CANCELLED_OPPOSITE,
    REJ_CANCELLED_SIGNAL_OFF,
    REJ_EXPIRED,
    SIG_ENTRY,
    SIG_EXIT,
    SIG_SHORT_ENTRY,
    SIG_SHORT_EXIT,
    TIF_DAY,
)
from ml4t_vec._kernels.risk import level_at_nb

# how a tested order fills (``test_nb``)
NO_FILL = 0
FILL_MARKET = 1  # at the open, priced as a market order (a limit's price clipped at it)
FILL_LEVEL = 2  # at its limit, resting: no slippage, no spread
FILL_STOP = 3  # at its stop, with the stop slippage (a stop-limit's price clipped at its limit)


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def place_nb(o, cs, c, t, d, close_t, limit_price, stop_price):
    """Column c's entry order in direction ``d`` decided at bar t (close ``close_t``), under the
    column's settings ``cs``: its levels into the order record ``o`` (from the offsets, or the
    price arrays ``limit_price`` / ``stop_price`` read at t), no test yet. Returns False when a
    level it needs is null (the order is refused, ``no_level``)."""
    kind = cs["order_type"]
    lim = np.nan
    stp = np.nan
    if kind != ORDER_STOP:
        x = cs["limit_offset"]
        lim = close_t * (1.0 - d * x) if x == x else level_at_nb(limit_price, c, t)
    if kind != ORDER_LIMIT:
        x = cs["stop_offset"]
        stp = close_t * (1.0 + d * x) if x == x else level_at_nb(stop_price, c, t)
    o["limit"] = lim
    o["stop"] = stp
    o["tests"] = 0
    o["armed"] = 0
    return (kind == ORDER_STOP or lim == lim) and (kind == ORDER_LIMIT or stp == stp)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _side_first_nb(d, op, xs, xl):
    """The bar's path (open -> nearer extreme -> farther extreme) visits ``xs`` (the extreme on the
    side of a stop of direction d) before ``xl`` (the limit side's); a tie: ``xl`` first."""
    return d * (xs - op) < d * (op - xl)


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def test_nb(o, cs, d, op, hi, lo, cl):
    """Test column c's resting order ``o`` (direction ``d``) on a bar (open, high, low, close).
    Returns (how: NO_FILL / FILL_MARKET / FILL_LEVEL / FILL_STOP, reference price, and the rest
    of the bar after an intrabar fill: its open, high and low, NaN for a fill at the open (the
    whole bar)). A stop-limit's trigger is kept in ``o["armed"]``."""
    lim = o["limit"]
    kind = cs["order_type"]
    xl = lo if d > 0.0 else hi  # the extreme toward a limit
    xs = hi if d > 0.0 else lo  # toward a stop
    through = cs["limit_touch"] == 1
    if kind != ORDER_LIMIT and o["armed"] == 0:
        stp = o["stop"]
        if d * (op - stp) >= 0.0:  # triggered at the open
            if kind == ORDER_STOP:
                return FILL_MARKET, op, np.nan, np.nan, np.nan
            o["armed"] = 1  # a limit from here (below)
        elif d * (xs - stp) >= 0.0:  # triggered inside the bar, at the stop
            if kind != ORDER_STOP:
                o["armed"] = 1
            if kind == ORDER_STOP or d * (stp - lim) <= 0.0:  # a stop, or a stop-limit whose trigger is within it
                f_o, f_h, f_l = rest_of_bar_nb(cs, d, stp, op, hi, lo, cl, bool(0))
                return FILL_STOP, stp, f_o, f_h, f_l
            # the stop beyond the limit: the bar must come back to the limit after its stop side
            reach = d * (xl - lim) < 0.0 if through else d * (xl - lim) <= 0.0
            ib = cs["intrabar"]
            if reach and (ib == INTRABAR_OPTIMISTIC or (ib == INTRABAR_OHLC_PATH and _side_first_nb(d, op, xs, xl))):
                f_o, f_h, f_l = rest_of_bar_nb(cs, d, lim, op, hi, lo, cl, bool(1))
                return FILL_LEVEL, lim, f_o, f_h, f_l
            return NO_FILL, 0.0, np.nan, np.nan, np.nan
        else:
            return NO_FILL, 0.0, np.nan, np.nan, np.nan
    if d * (op - lim) <= 0.0:  # marketable at the open
        return FILL_MARKET, op, np.nan, np.nan, np.nan
    if (d * (xl - lim) < 0.0) if through else (d * (xl - lim) <= 0.0):
        f_o, f_h, f_l = rest_of_bar_nb(cs, d, lim, op, hi, lo, cl, bool(1))
        return FILL_LEVEL, lim, f_o, f_h, f_l
    return NO_FILL, 0.0, np.nan, np.nan, np.nan


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def rest_of_bar_nb(cs, d, f, op, hi, lo, cl, at_limit):
    """The rest of a bar after an intrabar fill at ``f`` of an order of direction d: (open, high,
    low) of a bar that opens at f. The extreme the fill came from (``at_limit``: the limit side,
    else the stop side) follows the fill; the other is kept or replaced by the nearer of f and
    the close as ``intrabar`` says: optimistic keeps it when it is favourable to the new position
    (the other side of a limit fill), ohlc_path when the bar's path visits it after the fill's
    side, every other mode when it is adverse (the other side of a stop fill)."""
    ib = cs["intrabar"]
    xl = lo if d > 0.0 else hi
    xs = hi if d > 0.0 else lo
    if ib == INTRABAR_OPTIMISTIC:
        keep = at_limit
    elif ib == INTRABAR_OHLC_PATH:
        keep = _side_first_nb(d, op, xs, xl) != at_limit
    else:
        keep = not at_limit
    h, lw = hi, lo
    if not keep:
        other_is_high = (d > 0.0) == at_limit  # a buy limit's other side is the high, a buy stop's the low
        if other_is_high:
            h = max(f, cl)
        else:
            lw = min(f, cl)
    return f, h, lw


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def clip_nb(d, ref, frac, per_share, half, lim):
    """A marketable fill's costs (fraction, per share, half spread) at reference ``ref``, clipped
    so its price before impact is no worse than the limit ``lim`` (NaN: none): the distance to
    the limit is charged as spread first, then as per-share slippage."""
    if lim != lim:
        return frac, per_share, half
    px = ref * (1.0 + d * frac) + d * (per_share + half)
    if d * (px - lim) <= 0.0:
        return frac, per_share, half
    e = max(d * (lim - ref), 0.0)
    h = min(half, e)
    return 0.0, e - h, h


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def signal_rest_nb(o, cs, c, t, bits, sink):
    """The signal step of bar t for column c's resting entry order ``o`` (placed at an earlier
    bar; signal bits ``bits``): an exit signal of its side, then an entry signal of the other
    side, then (``on_signal_off="cancel"``) its own entry signal off, cancel it with a rejected
    row. Returns (whether it was cancelled, whether the bar's decision is to be ignored: its
    own entry signal with ``on_new_signal="keep"``)."""
    d = side_nb(o)
    own = SIG_ENTRY if d > 0 else SIG_SHORT_ENTRY
    why = -1
    if (bits & (SIG_EXIT if d > 0 else SIG_SHORT_EXIT)) != 0:
        why = REJ_CANCELLED_EXIT
    elif (bits & (SIG_SHORT_ENTRY if d > 0 else SIG_ENTRY)) != 0:
        why = REJ_CANCELLED_OPPOSITE
    elif cs["on_signal_off"] == 1 and (bits & own) == 0:
        why = REJ_CANCELLED_SIGNAL_OFF
    if why >= 0:
        write_reject_nb(sink, c, t, np.int64(d), np.int64(EFFECT_ENTRY), np.int64(why), np.nan, 0.0, np.nan)
        o["action"] = ACT_NONE
        return True, False
    return False, cs["on_new_signal"] == 1 and (bits & own) != 0


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def is_resting_nb(o, cs, order_model):
    """Column's order ``o`` is a resting entry (a reversal's entry waiting for its exit is not yet)."""
    if order_model is None:
        return False
    return cs["order_type"] != ORDER_MARKET and (o["action"] == ACT_OPEN_LONG or o["action"] == ACT_OPEN_SHORT)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def side_nb(o):
    """The direction of a resting entry order ``o``: +1 a buy, -1 a sell."""
    return 1.0 if o["action"] == ACT_OPEN_LONG else -1.0


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def expire_nb(o, cs, c, t, sink, day_over):
    """Column c's resting order on bar t, not filled: it expires (its rejected row) when its
    day is over (``day_over``: tif="day", a bar of a later day) or at its ``tif``-th test."""
    if day_over or (cs["tif"] != TIF_DAY and o["tests"] >= cs["tif"]):
        write_reject_nb(sink, c, t, np.int64(side_nb(o)), np.int64(EFFECT_ENTRY), np.int64(REJ_EXPIRED), np.nan,
                        0.0, np.nan)  # fmt: skip
        o["action"] = ACT_NONE
