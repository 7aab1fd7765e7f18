"""Order arithmetic: signal decisions, execution prices, costs and sizing (numba).

Every function here is a pure scalar function; the drivers in ``simulate.py`` own the state.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit, types
from numba.extending import overload

from ml4t_vec._kernels import BOOL, F64, I64
from ml4t_vec._kernels.codes import (
    ACT_ADD_LONG,
    ACT_ADD_SHORT,
    ACT_CLOSE,
    ACT_NONE,
    ACT_OPEN_LONG,
    ACT_OPEN_SHORT,
    ACT_REVERSE_TO_LONG,
    ACT_REVERSE_TO_SHORT,
    CASH_ML4T,
    RULES_FLAT_ONLY,
    SIG_ENTRY,
    SIG_EXIT,
    SIG_SHORT_ENTRY,
    SIG_SHORT_EXIT,
    SIZE_BACKTESTING,
    SIZE_NOTIONAL,
    SIZE_PERCENT,
    SIZE_SHARES,
)


class OrderParams(NamedTuple):
    """Per-column order parameters, each a float64 / int64 / bool array of length n_cols.

    Built with ``kernel_tuple`` (declared dtypes, read-only), so the kernel compiles once.
    """

    size: F64  # (n_cols, 1), or (n_cols, n_bars) for a size expression: shares, cash value or fraction
    size_type: I64  # codes.SIZE_*
    fees: F64  # fraction of notional
    fixed_fees: F64  # cash per fill
    per_share: F64  # commission per share per order (the rate of a flat schedule)
    comm_min: F64  # commission schedule: the per-share commission's minimum per order (0: none)
    comm_max: F64  # and its cap, a fraction of the order's trade value (inf: none)
    n_tiers: I64  # a ``Tiered`` schedule's tiers (0: a flat rate, ``per_share``)
    tiers: F64  # (n_cols, 2 * MAX_TIERS): the tiers' monthly-share bounds, then their rates
    signal_rules: I64  # RULES_*
    fill_order: I64  # ORDER_*: how a shared-cash group orders one phase's fills
    slippage: F64  # fraction, adverse
    slippage_per_share: F64  # cash per share, adverse
    spread: F64  # (n_cols, 1), or (n_cols, n_bars) for an expression: the full bid-ask spread (NaN: none)
    spread_price: BOOL  # the spread is in price units (else a fraction of the price)
    # fees, fixed_fees, commission_per_share read per bar at the fill: (n_cols, n_bars) from an
    # expression (NaN: none), (n_cols, 0) when the per-column field holds them
    fees_bar: F64
    fixed_fees_bar: F64
    per_share_bar: F64
    # where the order model's copy reads each fee at a fill: -1 the column's own number, else
    # the slot k of ``launch.bar_costs``' last axis (slot 0 is the spread)
    fees_slot: I64
    fixed_fees_slot: I64
    per_share_slot: I64
    # market impact (``SquareRootImpact``): its coefficient k x sigma / adv ** exponent per bar, read
    # at the bar before each fill ((n_cols, n_bars), NaN: none; (n_cols, 0): no impact), its slot
    # in ``launch.bar_costs`` (-1: none) and its exponent
    impact: F64
    impact_slot: I64
    impact_exp: F64
    fractional: BOOL  # False -> whole shares, rounded down
    cash_rule: I64  # CASH_*: what limits orders by cash (read from a group's first column)
    percent_of: I64  # PERCENT_OF_*: percent sizes of equity or of cash
    reversal: I64  # REVERSAL_*: an opposite entry as two orders or as one
    size_rule: I64  # SIZE_FEES_INCLUDED or SIZE_BACKTESTING: how a size becomes a quantity
    exit_slippage: F64  # fraction, adverse, of signal exits, time stops and forced exits
    exit_slippage_per_share: F64  # cash per share, adverse, of every exit
    accumulate: BOOL  # an entry on the side held adds to the position (pyramiding)
    max_entries: I64  # a position's entries, its first included, under accumulate (NEVER: no cap)
    # entry order types (README "Order types"): ORDER_* (ORDER_MARKET: no resting order), the
    # levels as fractions of the signal bar's close (NaN: from the price arrays), the levels as
    # prices ((n_cols, n_bars) from an expression, read at the signal bar; (n_cols, 1) NaN: none),
    # the time in force in bars (TIF_GTC: none) and the lifecycle options (ON_NEW_SIGNAL, ...)
    order_type: I64
    stop_entry_slippage: F64  # a stop entry's slippage fraction (``stop_slippage``, else the entries')
    limit_offset: F64
    stop_offset: F64
    limit_price: F64
    stop_price: F64
    tif: I64
    on_new_signal: I64
    on_signal_off: I64
    limit_touch: I64


@njit(cache=True, nogil=True, error_model="numpy")
def decide_nb(bits, pos, rules, can_add):
    """Action for a column whose signal bits are ``bits`` while holding ``pos`` shares.

    ``rules=RULES_FLAT_ONLY`` (ml4t-backtest's templates): flat, a long entry opens a long (it
    wins over a short entry on the same bar), else a short entry opens a short; long, a long exit
    closes; short, a short exit closes; nothing else (no reversal, no conflict cancelling).

    ``RULES_REVERSE`` (pinned by tests/kernels/test_golden.py):
    - an entry and its own exit on one bar cancel each other (both ignored);
    - a long entry and a short entry on one bar cancel each other (both ignored);
    - flat: an entry opens that side;
    - long: a short entry reverses (close, then open short), else a long exit closes;
      a long entry while long is ignored, unless ``can_add``;
    - short: mirror image.

    ``can_add`` (``accumulate=True`` and fewer entries than ``max_entries``): an entry on the
    side already held is an order to add to the position (ACT_ADD_LONG / ACT_ADD_SHORT); under
    flat-only rules that side's exit still wins over it.
    """
    e = (bits & SIG_ENTRY) != 0
    x = (bits & SIG_EXIT) != 0
    se = (bits & SIG_SHORT_ENTRY) != 0
    sx = (bits & SIG_SHORT_EXIT) != 0
    if rules == RULES_FLAT_ONLY:
        if pos == 0.0:
            return ACT_OPEN_LONG if e else (ACT_OPEN_SHORT if se else ACT_NONE)
        if pos > 0.0:
            return ACT_CLOSE if x else (ACT_ADD_LONG if e and can_add else ACT_NONE)
        return ACT_CLOSE if sx else (ACT_ADD_SHORT if se and can_add else ACT_NONE)
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
        return ACT_ADD_LONG if le and can_add else ACT_NONE
    if le:
        return ACT_REVERSE_TO_LONG
    if sxn:
        return ACT_CLOSE
    return ACT_ADD_SHORT if sen and can_add else ACT_NONE


@njit(cache=True, nogil=True, error_model="numpy")
def is_exit_action_nb(act):
    return act == ACT_CLOSE or act == ACT_REVERSE_TO_LONG or act == ACT_REVERSE_TO_SHORT


@njit(cache=True, nogil=True, error_model="numpy")
def entry_direction_nb(act):
    if act == ACT_OPEN_LONG or act == ACT_REVERSE_TO_LONG or act == ACT_ADD_LONG:
        return 1.0
    return -1.0


@njit(cache=True, nogil=True, error_model="numpy")
def exec_price_nb(ref_price, side, slippage):
    """Executed price: the reference price moved against the trader by ``slippage`` =
    (fraction of the price, cash per share, half the spread per share: ``half_spread_nb``)."""
    return ref_price * (1.0 + side * slippage[0]) + side * (slippage[1] + slippage[2])


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def half_spread_nb(spread, in_price, c, t, ref):
    """Half the bid-ask spread per share that column c's fill on bar t at reference price ``ref``
    pays (buys above, sells below): ``spread`` is (n_cols, 1), or (n_cols, n_bars) from an
    expression (NaN: none), the full spread as a fraction of the price, or in price units with
    ``in_price`` (``spread_price=``)."""
    return half_of_nb(spread[c, t] if spread.shape[1] > 1 else spread[c, 0], in_price, ref)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def half_of_nb(x, in_price, ref):
    """Half the full spread ``x`` per share at reference price ``ref``: ``x`` in price units
    (``in_price``) or a fraction of the price; NaN or <= 0: none."""
    if not x > 0.0:
        return 0.0
    return 0.5 * x if in_price else 0.5 * x * ref


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def bar_cost_nb(bar_costs, c, t, k):
    """Cost k of column c's fill on bar t from the signal drivers' ``bar_costs`` ((n_cols, 1 or
    n_bars, 1 + the fees read per bar): the spread, then those fees; ``launch.bar_costs``); NaN
    (a null read per bar): 0."""
    x = bar_costs[c, t if bar_costs.shape[1] > 1 else 0, k]
    return x if x == x else 0.0


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def spread_of_nb(bar_costs, cs, c, t, ref, order_model):
    """Half the spread per share of column c's fill on bar t at ``ref`` for the signal drivers
    (``half_spread_nb``'s rule): compiled only into the order model's copy
    (``launch.order_model``; reading it at every fill made scenario A's kernel 5% slower), 0 in
    the default one."""
    if order_model is None:
        return 0.0
    return half_of_nb(bar_cost_nb(bar_costs, c, t, 0), cs["spread_price"], ref)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def tier_rate_nb(tiers, volume):
    """The per-share rate of a ``Tiered`` schedule (``tiers``: the bounds, then the rates) for an
    account that traded ``volume`` shares this month before the order: the first tier whose
    bound is above it."""
    k = tiers.shape[0] // 2
    for i in range(k):
        if volume < tiers[i]:
            return tiers[k + i]
    return tiers[2 * k - 1]


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def cost_of_nb(cs, book, c, order_model, bar_costs, t):
    """The fee schedule ``fee_nb`` takes for column c's fill on bar t, from its settings
    (``columns.COLUMN_DT``), the fees read per bar (``bar_costs``, ``bar_cost_nb``, at the
    column's ``*_slot``s; its own numbers where a fee is not per bar)
    and its account's shares this month (a tiered rate); the per-bar fees, the tiers and the
    market impact compile into the order model's copy of the drivers only
    (``launch.order_model``): (fraction of notional, fixed cash per order, commission per share,
    its minimum and its cap as a fraction of the trade value per order, and in the order
    model's copy the impact's coefficient and exponent: ``impact_nb``, ``cost_tuple``). Every
    fill of the signal drivers reads it here, so a new fee component is added in one place (and
    in ``rebalance._cost_nb`` for the target-weight driver)."""
    fees = cs["fees"]
    fixed = cs["fixed_fees"]
    rate = cs["per_share"]
    kappa = 0.0
    expo = 0.0
    if order_model is not None:
        if cs["impact_slot"] >= 0:
            kappa = bar_cost_nb(bar_costs, c, t, cs["impact_slot"])
            expo = cs["impact_exp"]
        if cs["fees_slot"] >= 0:
            fees = bar_cost_nb(bar_costs, c, t, cs["fees_slot"])
        if cs["fixed_fees_slot"] >= 0:
            fixed = bar_cost_nb(bar_costs, c, t, cs["fixed_fees_slot"])
        if cs["per_share_slot"] >= 0:
            rate = bar_cost_nb(bar_costs, c, t, cs["per_share_slot"])
        if cs["n_tiers"] > 0:
            rate = tier_rate_nb(cs["tiers"], book[book[c]["acct"]]["mvol"])
    return cost_tuple(fees, fixed, rate, cs["comm_min"], cs["comm_max"], kappa, expo, order_model)


def cost_tuple(fees, fixed, rate, lo, hi, kappa, expo, order_model):
    """The cost tuple: five numbers in the default copy of the drivers (``order_model`` None: no
    market impact, ``kappa_of``, and its solver not compiled), seven in the order model's."""
    return (fees, fixed, rate, lo, hi) if order_model is None else (fees, fixed, rate, lo, hi, kappa, expo)


@overload(cost_tuple, inline="always")
def _cost_tuple(fees, fixed, rate, lo, hi, kappa, expo, order_model):
    if isinstance(order_model, (types.NoneType, types.Omitted)):
        return lambda fees, fixed, rate, lo, hi, kappa, expo, order_model: (fees, fixed, rate, lo, hi)
    return lambda fees, fixed, rate, lo, hi, kappa, expo, order_model: (fees, fixed, rate, lo, hi, kappa, expo)


def kappa_of(cost):
    """The market impact's coefficient of a cost tuple (``cost_of_nb``): its sixth number, none
    (0) in a five-number tuple (a run without market impact, or the target-weight driver's)."""
    return cost[5] if len(cost) > 5 else 0.0


def exponent_of(cost):
    """The market impact's exponent of a cost tuple (0 in a five-number tuple)."""
    return cost[6] if len(cost) > 6 else 0.0


@overload(kappa_of, inline="always")
def _kappa_of(cost):
    return (lambda cost: cost[5]) if len(cost) > 5 else (lambda cost: 0.0)


@overload(exponent_of, inline="always")
def _exponent_of(cost):
    return (lambda cost: cost[6]) if len(cost) > 6 else (lambda cost: 0.0)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def flat_nb(cost):
    """An order's cost is linear in the shares (no commission minimum, no cap, no market
    impact): fees and sizes take the closed forms ``q * unit cost + fixed``."""
    return cost[3] == 0.0 and cost[4] == np.inf and not kappa_of(cost) > 0.0


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def impact_nb(q, price, cost):
    """Market impact per share of one order of ``q`` >= 0 shares whose executed price before
    impact is ``price``: ``kappa * price * q ** exponent`` (``cost[5]``, ``cost[6]``;
    ``SquareRootImpact``: kappa = k x sigma / adv ** exponent, read at the bar before the fill);
    0 without. A buy executes at price + impact, a sell at price - impact; the fees stay on
    ``price``."""
    k = kappa_of(cost)
    if k > 0.0 and q > 0.0:
        e = exponent_of(cost)
        return k * price * (math.sqrt(q) if e == 0.5 else q**e)
    return 0.0


@njit(cache=True, nogil=True, error_model="numpy")
def commission_nb(q, price, cost):
    """The per-share commission of one order of ``q`` >= 0 shares at ``price``: rate x q, at least
    the minimum, at most the cap x trade value (the cap wins over the minimum); 0 for no shares."""
    comm = q * cost[2]
    if q > 0.0 and not flat_nb(cost):
        comm = min(max(comm, cost[3]), cost[4] * q * price)
    return comm


@njit(cache=True, nogil=True, error_model="numpy")
def fee_nb(quantity, price, cost):
    """Fees of one order. ``cost`` = (fraction of notional, fixed cash per order, cash per share,
    its minimum, its cap as a fraction of the trade value)."""
    q = abs(quantity)
    return q * price * cost[0] + cost[1] + commission_nb(q, price, cost)


@njit(cache=True, nogil=True, error_model="numpy")
def unit_cost_nb(exec_price, cost):
    """Cash one more share costs, fees included: price * (1 + fees) + per-share commission
    (a flat schedule; ``max_affordable_nb`` inverts any)."""
    return exec_price * (1.0 + cost[0]) + cost[2]


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def size_at_nb(size, c, t):
    """Column c's entry size for a signal on bar t: ``size`` is (n_cols, 1), or (n_cols, n_bars)
    for a size expression; a null size (NaN) requests nothing (a ``zero_quantity`` rejection)."""
    x = size[c, t] if size.shape[1] > 1 else size[c, 0]
    return x if x == x else 0.0


@njit(cache=True, nogil=True, error_model="numpy")
def requested_quantity_nb(size, size_type, d, ref, exec_price, cost, equity, pct_cash, cash, free):
    """Shares asked for by one entry in direction ``d`` (+1 long, -1 short), before the cash limit.

    ``value`` and ``percent`` sizes are the cash committed to the entry *including* fees:
    quantity * unit cost + fixed_fees == size (value) or size * equity (percent).
    ``notional`` is size / ``ref``, the reference price before slippage (fees on top).
    ``size=inf`` (value, notional) means all available cash. ``pct_cash`` (percent_of="cash"):
    a long commits size * ``cash``, a short sells size x the largest short ``free`` cash pays
    for, fees included (vectorbt's percent; <= 0 when there is none).
    """
    if size_type == SIZE_SHARES:
        return size
    if size_type == SIZE_NOTIONAL:
        return size / ref
    if size_type == SIZE_PERCENT and pct_cash:
        if d > 0.0:
            return max_affordable_nb(size * cash, exec_price, cost)
        return size * max_affordable_nb(free, exec_price, cost)
    target = size * equity if size_type == SIZE_PERCENT else size
    if math.isinf(target):
        return np.inf
    return max_affordable_nb(target, exec_price, cost)


@njit(cache=True, nogil=True, error_model="numpy")
def max_affordable_nb(available, exec_price, cost):
    """Largest quantity whose notional plus fees (plus market impact) fits in ``available`` cash
    (may be <= 0): a flat schedule's (available - fixed) / unit cost, else
    ``scheduled_affordable_nb`` or ``impact_affordable_nb``."""
    if flat_nb(cost):
        return (available - cost[1]) / unit_cost_nb(exec_price, cost)
    if kappa_of(cost) > 0.0:
        return solve_impact(available, exec_price, cost)
    return scheduled_affordable_nb(available, exec_price, cost)


def solve_impact(available, px, cost):
    """``impact_affordable_nb`` for a cost tuple with market impact; never reached (not
    compiled: a first run is about 1 s shorter) for a five-number tuple."""
    return impact_affordable_nb(available, px, cost)


@overload(solve_impact)
def _solve_impact(available, px, cost):
    if len(cost) > 5:
        return lambda available, px, cost: impact_affordable_nb(available, px, cost)
    return lambda available, px, cost: 0.0


@njit(cache=True, nogil=True, error_model="numpy")
def order_cash_nb(q, px, cost):
    """The cash an order of ``q`` >= 0 shares at ``px`` (the executed price before impact)
    needs: notional, fees and market impact (a buy pays it; a short's buying power counts it)."""
    return q * px + fee_nb(q, px, cost) + q * impact_nb(q, px, cost)


@njit(cache=True, nogil=True, error_model="numpy")
def impact_affordable_nb(available, px, cost):
    """``max_affordable_nb`` with market impact: the largest q with ``order_cash_nb(q)`` <=
    ``available``. That cash increases in q; the answer without impact bounds it from above, and
    so does the impact alone (k x px x q ** (1 + exponent) <= the cash less the fixed fee).
    Newton's method from there (with the slope of the commission's piece q is on), each step
    aimed a hair (4e-16 x q) below its root so the iterates end on the side that fits, kept
    inside the bracket of shares known to fit and known not to (bisection where a step leaves
    it), until a fit is a few floats below the root (typically 3-5 steps); then the largest
    float that still fits (a few steps up), as the reference's bisection to adjacent floats
    finds it. 0 or less when nothing fits."""
    if cost[3] == 0.0 and cost[4] == np.inf:
        hi = (available - cost[1]) / unit_cost_nb(px, cost)
    else:
        hi = scheduled_affordable_nb(available, px, cost)  # (its pieces read no impact)
    if not 0.0 < hi < np.inf:  # nothing fits, or infinite cash
        return hi
    lo = 0.0
    k = kappa_of(cost) * px
    e = exponent_of(cost)
    hi = min(hi, ((available - cost[1]) / k) ** (1.0 / (1.0 + e)))  # the impact alone bounds it too
    q = hi
    for _ in range(200):
        qe = math.sqrt(q) if e == 0.5 else q**e  # (one power a step, for the cash and the slope; a root is cheaper)
        f = q * px + fee_nb(q, px, cost) + k * q * qe - available  # order_cash_nb
        if f <= 0.0:
            lo = q
        else:
            hi = q
        if hi - lo <= 4e-16 * hi:
            break
        rate = cost[2]  # the commission's slope on the piece q lies on: the rate,
        if cost[4] * q * px < max(q * cost[2], cost[3]):
            rate = cost[4] * px  # the cap,
        elif q * cost[2] < cost[3]:
            rate = 0.0  # or the minimum
        slope = px * (1.0 + cost[0]) + rate + (1.0 + e) * k * qe
        nq = q - f / slope - 4e-16 * q
        if f <= 0.0 and nq - q <= 2e-15 * q:  # a fit within a few floats below the root
            break
        if not (lo < nq < hi):
            nq = 0.5 * (lo + hi)
        q = nq
    # the largest float that fits: steps up doubling from one float, then bisection to adjacent
    # floats (where the cash rounds alike over a range of shares, tiny orders, that range's top)
    step = np.nextafter(lo, np.inf) - lo
    for _ in range(64):
        up = lo + step
        if up >= hi or order_cash_nb(up, px, cost) > available:
            break
        lo = up
        step *= 2.0
    top = min(lo + step, hi)
    for _ in range(64):
        mid = 0.5 * (lo + top)
        if not lo < mid < top:
            break
        if order_cash_nb(mid, px, cost) <= available:
            lo = mid
        else:
            top = mid
    return lo


@njit(cache=True, nogil=True, error_model="numpy")
def scheduled_affordable_nb(available, exec_price, cost):
    """``max_affordable_nb`` with a commission minimum or cap (apart, so the flat case stays small
    enough to inline). The order's cost ``q * price * (1 + fees) + fixed + commission(q)`` is
    piecewise linear and increasing in q (the commission rises at the capped rate, stays at the
    minimum, then rises at the per-share rate): each piece's line solved for the cash is a
    candidate, every candidate that fits is at most the answer, and the answer is the candidate
    of its own piece, so it is the largest candidate that fits (0 or less when none does)."""
    a = available - cost[1]
    u = exec_price * (1.0 + cost[0])
    slack = 1e-14 * abs(a)  # a few roundings; a looser slack let a too-large candidate pass (a 1e-9 minimum)
    best = -np.inf
    q = a / (u + cost[2])  # the per-share piece
    if q > 0.0 and q * u + commission_nb(q, exec_price, cost) <= a + slack:
        best = q
    q = (a - cost[3]) / u  # the minimum's piece
    if q > best and q * u + commission_nb(q, exec_price, cost) <= a + slack:
        best = q
    if cost[4] < np.inf:  # the cap's piece
        q = a / (u + cost[4] * exec_price)
        if q > best and q * u + commission_nb(q, exec_price, cost) <= a + slack:
            best = q
    return best if best > 0.0 else min(a / (u + cost[2]), 0.0)


@njit(cache=True, nogil=True, error_model="numpy")
def whole_nb(q):
    """Round a quantity down to whole shares (1e-9 tolerance against 2.9999999 -> 2)."""
    return np.floor(q + 1e-9)


# --- one fill, as pure arithmetic (both drivers call these) ------------------------------------
ENTRY_OK = 0
ENTRY_REDUCED = 1  # filled, fewer shares than requested (cash / buying power)
ENTRY_CAPPED = 2  # filled, cut by a portfolio limit (cap_value)
ENTRY_NO_CASH = 3  # rejected: nothing fits (statuses from here on are rejections)
ENTRY_ZERO = 4  # rejected: the request rounds to zero shares
ENTRY_CAP_NONE = 5  # rejected: a portfolio limit leaves no room
NO_PART = -1  # order_nb: the order has no such part


@njit(cache=True, nogil=True, error_model="numpy")
def backtesting_entry_nb(d, ref, size, size_type, cost, slippage, avail, cap_value):
    """backtesting.py 0.6.6's sizing (``_Broker._process_orders``), whole units only.

    The cost of one unit is the executed price plus the commission per unit, computed on the
    reference price with the fixed fee spread over the fraction: ``unit = px + (fixed + size *
    ref * fees + size * per_share) / size``. A fraction ``size`` < 1 (``size_type="percent"``)
    buys ``(buying power * size) // unit`` units (float floor division, no tolerance); a whole
    number of ``"shares"`` fills whole or not at all. Same return values as ``entry_fill_nb``.
    """
    side = 1 if d > 0.0 else -1
    px = exec_price_nb(ref, side, slippage)
    unit = px + (cost[1] + size * ref * cost[0] + size * cost[2]) / size
    room = max(avail, 0.0)
    if size_type == SIZE_PERCENT:
        q = float(int((room * size) // unit))
    else:
        q = size
        if q * unit > room:
            return ENTRY_NO_CASH, side, px, 0.0, q, 0.0, 0.0, 0.0
    if q <= 0.0:
        return ENTRY_ZERO, side, px, 0.0, q, 0.0, 0.0, 0.0
    if q * px > cap_value:
        return ENTRY_CAP_NONE, side, px, 0.0, q, 0.0, 0.0, 0.0
    fee = fee_nb(q, px, cost)
    return ENTRY_OK, side, px, q, q, fee, 0.0, -(d * q * px + fee)  # (no impact: ConfigError with it)


# Buying power at or below this fraction of equity counts as none: after an all-in entry it is
# zero up to rounding (+-1e-15), and filling 1e-15 shares would leave dust positions that change
# later decisions (found by the long Hypothesis profile; tests/kernels/test_golden.py pins it).
CASH_DUST = 1e-9

# cash_rule="vectorbt": orders below this many shares are refused (vectorbt's min_size), and
# cash, sizes and proceeds compare with vectorbt's tolerance (is_close_nb).
MIN_SIZE = 1e-8


@njit(cache=True, nogil=True, error_model="numpy")
def exit_fill_nb(q, ref, slippage, cost):
    """Close ``q`` signed shares at reference price ``ref``.

    Returns (side, executed price (market impact included), fees, market impact per share,
    cash change).
    """
    side = -1 if q > 0.0 else 1
    px = exec_price_nb(ref, side, slippage)
    fee = fee_nb(q, px, cost)
    ip = impact_nb(abs(q), px, cost)
    px += side * ip
    return side, px, fee, ip, q * px - fee


@njit(cache=True, nogil=True, error_model="numpy")
def entry_request_nb(d, ref, size, size_type, cost, slippage, fractional, equity, pct_cash, cash, free):
    """(side, executed price, requested quantity) of an entry in direction ``d`` (+1 long, -1 short)."""
    side = 1 if d > 0.0 else -1
    px = exec_price_nb(ref, side, slippage)
    req = requested_quantity_nb(size, size_type, d, ref, px, cost, equity, pct_cash, cash, free)
    if not fractional and req < np.inf:
        req = whole_nb(req)
    return side, px, max(req, 0.0)  # nothing to ask for (no equity, a size below the fixed fee): 0, not < 0


@njit(cache=True, nogil=True, error_model="numpy")
def limit_entry_nb(req, px, cost, fractional, equity, avail, cap_value):
    """The equity cash rule for an entry of ``req`` shares at ``px``: notional + fees must fit in
    the buying power ``avail``, the notional in ``cap_value`` (portfolio limits; inf = none).
    Returns (status ENTRY_*, filled quantity >= 0). With market impact, a request that fits (no
    dust, whole shares where they must be) is not solved for the largest that would: that solve
    is the costly part of an entry (bench_costs.py's impact runs, 126,000 entry signals)."""
    fits = kappa_of(cost) > 0.0 and req < np.inf and req * px > CASH_DUST * abs(equity)
    if fits and (fractional or req == whole_nb(req)) and order_cash_nb(req, px, cost) <= avail:
        qmax = req
    else:
        qmax = max_affordable_nb(avail, px, cost)
    qcap = cap_value / px
    if not fractional:
        qmax = whole_nb(qmax)
        qcap = whole_nb(qcap)
    if qmax <= 0.0 or qmax * px <= CASH_DUST * abs(equity):
        return ENTRY_NO_CASH, 0.0
    if qcap <= 0.0 or qcap * px <= CASH_DUST * abs(equity):
        return ENTRY_CAP_NONE, 0.0
    if req <= 0.0:
        return ENTRY_ZERO, 0.0
    status = ENTRY_OK
    q = req
    if qcap < qmax and req > qcap:
        q = qcap
        if req > qcap * (1.0 + 1e-9):
            status = ENTRY_CAPPED
    elif req > qmax:
        q = qmax
        if req < np.inf and req > qmax * (1.0 + 1e-9):
            status = ENTRY_REDUCED
    return status, q


@njit(cache=True, nogil=True, error_model="numpy")
def entry_fill_nb(d, ref, size, size_type, cost, slippage, fractional, equity, avail, cap_value, cash_rule,
                  size_rule, pct_cash, cash, free):  # fmt: skip
    """Size and price one entry in direction ``d`` (+1 long, -1 short).

    ``equity`` is the sizing equity (percent sizes), ``avail`` the buying power: notional + fees
    must fit in it. ``cap_value`` caps the notional (quantity * executed price) from portfolio
    limits (inf = none). ``cash_rule=CASH_ML4T`` (ml4t-backtest): ``avail`` is the cash, and an
    entry whose notional plus fees at the worse of the reference and executed price exceeds it
    by more than 0.01 (or exceeds a cap) is rejected whole, never reduced.
    ``size_rule=SIZE_BACKTESTING``: backtesting.py 0.6.6's sizing (``backtesting_size_nb``).
    ``cash`` / ``free`` size percent-of-cash entries (``pct_cash``).
    Market impact (``impact_nb``) counts as a cost in every cash test (``order_cash_nb``;
    under ``CASH_ML4T`` at the worse price) and moves the executed price.
    Returns (status ENTRY_*, side, executed price (impact included), filled quantity >= 0,
    requested quantity, fees, market impact per share, cash change).
    """
    if size_rule == SIZE_BACKTESTING:
        return backtesting_entry_nb(d, ref, size, size_type, cost, slippage, avail, cap_value)
    side, px, req = entry_request_nb(d, ref, size, size_type, cost, slippage, fractional, equity, pct_cash, cash, free)
    if cash_rule == CASH_ML4T:  # all or nothing (ml4t-backtest's gatekeeper, CASH_TOLERANCE 0.01)
        if req <= 0.0:
            return ENTRY_ZERO, side, px, 0.0, req, 0.0, 0.0, 0.0
        worse = max(ref, px)
        if not req < np.inf:  # size=inf: all the cash
            req = max(max_affordable_nb(avail, worse, cost), 0.0)  # (no cash left: 0, not -1e-14)
            req = req if fractional else whole_nb(req)
            if req <= 0.0:
                return ENTRY_NO_CASH, side, px, 0.0, req, 0.0, 0.0, 0.0
        if order_cash_nb(req, worse, cost) > avail + 0.01:
            return ENTRY_NO_CASH, side, px, 0.0, req, 0.0, 0.0, 0.0
        if req * px > cap_value:
            return ENTRY_CAP_NONE, side, px, 0.0, req, 0.0, 0.0, 0.0
        q = req
        status = ENTRY_OK
    else:
        status, q = limit_entry_nb(req, px, cost, fractional, equity, avail, cap_value)
        if status >= ENTRY_NO_CASH:
            return status, side, px, 0.0, req, 0.0, 0.0, 0.0
    fee = fee_nb(q, px, cost)
    ip = impact_nb(q, px, cost)
    px += side * ip
    return status, side, px, q, req, fee, ip, -(d * q * px + fee)


@njit(cache=True, nogil=True, error_model="numpy")
def is_close_nb(a, b):
    """``a == b`` within 1e-9 relative or 1e-12 absolute (vectorbt's tolerance); inf only equals inf."""
    if a == b:
        return True
    if math.isinf(a) or math.isinf(b):
        return False
    return abs(a - b) <= max(1e-9 * max(abs(a), abs(b)), 1e-12)


@njit(cache=True, nogil=True, error_model="numpy")
def below_min_nb(q):
    """Fewer shares than ``MIN_SIZE`` (not within tolerance of it): vectorbt refuses the order."""
    return q < MIN_SIZE and not is_close_nb(q, MIN_SIZE)


@njit(cache=True, nogil=True, error_model="numpy")
def cash_buy_nb(q_req, px, cost, cash, fractional):
    """cash_rule="vectorbt" for a buy of ``q_req`` shares (inf = all the cash) at ``px``:
    (status ENTRY_*, quantity). It fits when notional + fees <= ``cash`` (within tolerance);
    else it is cut to (cash - fixed fees) / unit cost (whole shares if not ``fractional``);
    refused when cash is ~0 or the cut leaves less than ``MIN_SIZE``."""
    if cash <= 0.0 or is_close_nb(cash, 0.0):
        return ENTRY_NO_CASH, 0.0
    if q_req <= 0.0 or below_min_nb(q_req):
        return ENTRY_ZERO, 0.0
    need = q_req * px * (1.0 + cost[0]) + q_req * cost[2] + cost[1] if flat_nb(cost) else order_cash_nb(q_req, px, cost)
    if need <= cash or is_close_nb(need, cash):
        return ENTRY_OK, q_req
    q = max_affordable_nb(cash, px, cost)
    if not fractional:
        q = whole_nb(q)
    if q <= 0.0 or below_min_nb(q):
        return ENTRY_NO_CASH, 0.0
    return ENTRY_REDUCED, q


@njit(cache=True, nogil=True, error_model="numpy")
def cash_sell_nb(q, px, cost):
    """cash_rule="vectorbt" for a sell of ``q`` shares at ``px``: ENTRY_OK, ENTRY_ZERO (below
    ``MIN_SIZE``) or ENTRY_NO_CASH (the proceeds do not pay the fees)."""
    if q <= 0.0 or is_close_nb(q, 0.0) or below_min_nb(q):
        return ENTRY_ZERO
    proceeds = q * px
    fee = fee_nb(q, px, cost)
    if proceeds < fee and not is_close_nb(proceeds, fee):
        return ENTRY_NO_CASH
    return ENTRY_OK


@njit(cache=True, nogil=True, error_model="numpy")
def order_nb(pos, close_part, d, ref, size, size_type, pct_cash, cost, slippage, fractional, vbt, cash, free, equity,
             avail, cap_value):  # fmt: skip
    """One order of a column holding ``pos`` shares: close the position (``close_part``) and/or
    open direction ``d`` (+1 long, -1 short, 0 none), at reference price ``ref``.

    Both parts in one call is a one-order reversal (``reversal="one_order"``, vectorbt): one
    price, the fixed fee once, the fees split between the parts by shares. The new part is sized
    as an entry from flat after the closing part, which pays its proportional fees
    (``requested_quantity_nb`` on the cash / free cash / buying power left by it; ``equity``
    is the sizing equity before the order). Two orders are two calls.

    The cash rule (README "Cash limit"):
    - ``vbt`` False (equity rule): the closing part is never limited; the new part is limited by
      the buying power ``avail`` (``limit_entry_nb``).
    - ``vbt`` True (cash_rule="vectorbt"): a buy (cover and new long together) is limited by
      ``cash`` (``cash_buy_nb``), so a cover can be partial or refused; a sell is not limited,
      except that an ``inf`` short sells what ``free`` cash (after the closing part) pays for,
      and a sell whose proceeds do not pay its fees is refused (``cash_sell_nb``).
    ``cap_value`` caps the new part's notional (portfolio limits).

    Returns (side, executed price, closed shares, their fees, closing status, new shares, their
    fees, requested new shares, new-part status); a status is ENTRY_* or NO_PART.
    """
    qx_full = abs(pos) if close_part else 0.0
    if qx_full > 0.0:
        side = -1 if pos > 0.0 else 1
    else:
        side = 1 if d > 0.0 else -1
    px = exec_price_nb(ref, side, slippage)
    st_x = ENTRY_OK if qx_full > 0.0 else NO_PART
    st_n = NO_PART
    req = 0.0
    new = 0.0
    capped = False
    if d != 0.0:
        # the state after the closing part (proportional fees only: the order pays the fixed fee once)
        fx = qx_full * px * cost[0] + qx_full * cost[2]
        if not flat_nb(cost) and qx_full > 0.0:  # a minimum or cap: the closing part's commission on its own
            fx = qx_full * px * cost[0] + commission_nb(qx_full, px, cost)
        held = pos if close_part else 0.0
        cash1 = cash + held * px - fx
        free1 = free + held * px - fx if held > 0.0 else free
        avail1 = avail + qx_full * ref - qx_full * abs(px - ref) - fx
        req = requested_quantity_nb(size, size_type, d, ref, px, cost, equity, pct_cash, cash1, free1)
        if not fractional and req < np.inf:
            req = whole_nb(req)
        req = max(req, 0.0)
        if not vbt:
            st_n, new = limit_entry_nb(req, px, cost, fractional, equity, avail1, cap_value)
        else:
            qcap = cap_value / px
            if not fractional:
                qcap = whole_nb(qcap)
            if qcap <= 0.0 or qcap * px <= CASH_DUST * abs(equity):
                st_n = ENTRY_CAP_NONE
            elif d < 0.0 and req == np.inf:  # all the free cash, after the closing part
                if free1 <= 0.0 or is_close_nb(free1, 0.0):
                    st_n = ENTRY_NO_CASH
                else:  # (may be < 0 when free cash does not pay the fixed fee: vectorbt then sells less)
                    new = max_affordable_nb(free1, px, cost)
                    if not fractional:
                        new = whole_nb(new)
            elif req <= 0.0 or below_min_nb(req):
                st_n = ENTRY_ZERO
            else:
                new = req
            if st_n == NO_PART and new > qcap:
                new = qcap
                capped = new * (1.0 + 1e-9) < req
    qx = qx_full
    qn = new if st_n < ENTRY_NO_CASH else 0.0
    if vbt:
        q_req = qx_full + new
        if side > 0:
            st, q = cash_buy_nb(q_req, px, cost, cash, fractional)
        else:
            q = q_req
            st = cash_sell_nb(q, px, cost)
        if st >= ENTRY_NO_CASH:
            qx = 0.0
            qn = 0.0
            if qx_full > 0.0:
                st_x = ENTRY_NO_CASH
            if st_n == NO_PART and d != 0.0:
                st_n = st
        elif q < qx_full or is_close_nb(q, qx_full):  # covers (part of) the position, opens nothing
            qx = qx_full if is_close_nb(q, qx_full) else q
            qn = 0.0
            if qx < qx_full:
                st_x = ENTRY_REDUCED
            if st_n == NO_PART and d != 0.0:
                st_n = ENTRY_NO_CASH
        else:
            qn = q - qx_full
            if st_n == NO_PART:
                if capped:
                    st_n = ENTRY_CAPPED
                elif st == ENTRY_REDUCED and req < np.inf and req > qn * (1.0 + 1e-9):
                    st_n = ENTRY_REDUCED
                else:
                    st_n = ENTRY_OK
    q_all = qx + qn
    fee_x = 0.0
    fee_n = 0.0
    if q_all > 0.0:
        fee = fee_nb(q_all, px, cost)
        fee_x = qx / q_all * fee
        fee_n = fee - fee_x
    return side, px, qx, fee_x, st_x, qn, fee_n, req, st_n
