"""Order arithmetic: signal decisions, execution prices, costs and sizing (numba).

Every function here is a pure scalar function; the drivers in ``simulate.py`` own the state.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from ml4t_vec._kernels.codes import (
    ACT_CLOSE,
    ACT_NONE,
    ACT_OPEN_LONG,
    ACT_OPEN_SHORT,
    ACT_REVERSE_TO_LONG,
    ACT_REVERSE_TO_SHORT,
    SIG_ENTRY,
    SIG_EXIT,
    SIG_SHORT_ENTRY,
    SIG_SHORT_EXIT,
    SIZE_PERCENT,
    SIZE_SHARES,
)


class OrderParams(NamedTuple):
    """Per-column order parameters, each a float64 / int64 / bool array of length n_cols.

    Prepare broadcasts scalars, so the kernel compiles once for every combination of inputs.
    """

    size: np.ndarray  # float64; shares, cash value, or fraction of equity (see size_type)
    size_type: np.ndarray  # int64 code (codes.SIZE_*)
    fees: np.ndarray  # float64 fraction of notional
    fixed_fees: np.ndarray  # float64 cash per fill
    slippage: np.ndarray  # float64 fraction, adverse
    fractional: np.ndarray  # bool: False -> whole shares, rounded down


@njit(cache=True, nogil=True, error_model="numpy")
def decide_nb(bits, pos):
    """Action for a column whose signal bits are ``bits`` while holding ``pos`` shares.

    Rules (pinned by tests/kernels/test_golden.py):
    - an entry and its own exit on one bar cancel each other (both ignored);
    - a long entry and a short entry on one bar cancel each other (both ignored);
    - flat: an entry opens that side;
    - long: a short entry reverses (close, then open short), else a long exit closes;
      a long entry while long is ignored (no pyramiding);
    - short: mirror image.
    """
    e = (bits & SIG_ENTRY) != 0
    x = (bits & SIG_EXIT) != 0
    se = (bits & SIG_SHORT_ENTRY) != 0
    sx = (bits & SIG_SHORT_EXIT) != 0
    le = e and not x
    lx = x and not e
    sen = se and not sx
    sxn = sx and not se
    if le and sen:
        le = False
        sen = False
    if pos == 0.0:
        if le:
            return ACT_OPEN_LONG
        if sen:
            return ACT_OPEN_SHORT
        return ACT_NONE
    if pos > 0.0:
        if sen:
            return ACT_REVERSE_TO_SHORT
        if lx:
            return ACT_CLOSE
        return ACT_NONE
    if le:
        return ACT_REVERSE_TO_LONG
    if sxn:
        return ACT_CLOSE
    return ACT_NONE


@njit(cache=True, nogil=True, error_model="numpy")
def is_exit_action_nb(act):
    return act == ACT_CLOSE or act >= ACT_REVERSE_TO_LONG


@njit(cache=True, nogil=True, error_model="numpy")
def entry_direction_nb(act):
    if act == ACT_OPEN_LONG or act == ACT_REVERSE_TO_LONG:
        return 1.0
    return -1.0


@njit(cache=True, nogil=True, error_model="numpy")
def exec_price_nb(ref_price, side, slippage):
    """Executed price: the reference price moved against the trader by ``slippage``."""
    return ref_price * (1.0 + side * slippage)


@njit(cache=True, nogil=True, error_model="numpy")
def fee_nb(quantity, price, fees, fixed_fees):
    """Fees of one fill: proportional on notional plus a fixed amount per fill."""
    return abs(quantity) * price * fees + fixed_fees


@njit(cache=True, nogil=True, error_model="numpy")
def requested_quantity_nb(size, size_type, exec_price, fees, fixed_fees, equity):
    """Shares asked for by one entry, before the cash limit.

    ``value`` and ``percent`` sizes are the cash committed to the entry *including* fees:
    quantity * price * (1 + fees) + fixed_fees == size (value) or size * equity (percent).
    ``size=inf`` (value) means all available cash.
    """
    if size_type == SIZE_SHARES:
        return size
    target = size * equity if size_type == SIZE_PERCENT else size
    if math.isinf(target):
        return np.inf
    return (target - fixed_fees) / (exec_price * (1.0 + fees))


@njit(cache=True, nogil=True, error_model="numpy")
def max_affordable_nb(available, exec_price, fees, fixed_fees):
    """Largest quantity whose notional plus fees fits in ``available`` cash (may be <= 0)."""
    return (available - fixed_fees) / (exec_price * (1.0 + fees))


@njit(cache=True, nogil=True, error_model="numpy")
def whole_nb(q):
    """Round a quantity down to whole shares (1e-9 tolerance against 2.9999999 -> 2)."""
    return np.floor(q + 1e-9)


# --- one fill, as pure arithmetic (both drivers call these) ------------------------------------
ENTRY_OK = 0
ENTRY_REDUCED = 1  # filled, fewer shares than requested
ENTRY_NO_CASH = 2  # rejected: nothing fits
ENTRY_ZERO = 3  # rejected: the request rounds to zero shares

# Buying power at or below this fraction of equity counts as none: after an all-in entry it is
# zero up to rounding (+-1e-15), and filling 1e-15 shares would leave dust positions that change
# later decisions (found by the long Hypothesis profile; tests/kernels/test_golden.py pins it).
CASH_DUST = 1e-9


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def exit_fill_nb(q, ref, slippage, fees, fixed_fees):
    """Close ``q`` signed shares at reference price ``ref``.

    Returns (side, executed price, fees, slippage cost, cash change).
    """
    side = -1 if q > 0.0 else 1
    px = exec_price_nb(ref, side, slippage)
    fee = fee_nb(q, px, fees, fixed_fees)
    return side, px, fee, abs(q) * abs(px - ref), q * px - fee


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def entry_fill_nb(d, ref, size, size_type, fees, fixed_fees, slippage, fractional, equity, avail):
    """Size and price one entry in direction ``d`` (+1 long, -1 short).

    ``equity`` is the sizing equity (percent sizes), ``avail`` the buying power: an entry may not
    push gross exposure above equity, so notional + fees must fit in ``avail``.
    Returns (status ENTRY_*, side, executed price, filled quantity >= 0, requested quantity,
    fees, slippage cost, cash change).
    """
    side = 1 if d > 0.0 else -1
    px = exec_price_nb(ref, side, slippage)
    req = requested_quantity_nb(size, size_type, px, fees, fixed_fees, equity)
    qmax = max_affordable_nb(avail, px, fees, fixed_fees)
    if not fractional:
        qmax = whole_nb(qmax)
        if req < np.inf:
            req = whole_nb(req)
    if qmax <= 0.0 or qmax * px <= CASH_DUST * abs(equity):
        return ENTRY_NO_CASH, side, px, 0.0, req, 0.0, 0.0, 0.0
    if req <= 0.0:
        return ENTRY_ZERO, side, px, 0.0, req, 0.0, 0.0, 0.0
    status = ENTRY_OK
    q = req
    if req > qmax:
        q = qmax
        if req < np.inf and req > qmax * (1.0 + 1e-9):
            status = ENTRY_REDUCED
    fee = fee_nb(q, px, fees, fixed_fees)
    return status, side, px, q, req, fee, q * abs(px - ref), -(d * q * px + fee)
