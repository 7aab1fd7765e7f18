"""The book: named state records, the record writers and the fills of a position (numba).

Positions carry a signed quantity and an average cost: an increase and a partial decrease are
ordinary fills. State is held in NumPy structured arrays (one record per column, read and
written by field name: ``book[c]["qty"]``), not in index-addressed columns.

``apply_fill_nb`` is where every fill lands, of either driver (signal entries, increases and
exits, position-rule and forced exits, rebalances); it writes the fill record and, for a fill
that takes quantity off, the trade row of that quantity (README "Target weights", "Outputs"):

- entry (flat -> open): a new position id; the average price is the fill price;
- increase: the average price is size-weighted, entry fees and slippage accumulate, no trade
  row (the entry time stays the first fill's);
- reduce: a ``partial`` trade row for the quantity taken off, at the average price, with the
  entry fees and slippage pro rata (the rest stays with the position);
- exit (to flat): a ``closed`` row for what is left.

The reference: ``tests/reference/portfolio.py`` (target weights) and ``engine.py`` (signals).
The signal driver's orders are sized in ``fills.py`` and filled here. The writers and fills
compile with ``_nrt=False`` (no reference counting of their array arguments; none allocates):
README "Kernel layout".
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from ml4t_vec._kernels.codes import (
    EFFECT_ENTRY,
    EFFECT_EXIT,
    EFFECT_INCREASE,
    EFFECT_REDUCE,
    FILL_DT,
    REASON_REBALANCE,
    REJECT_DT,
    STATUS_CLOSED,
    STATUS_OPEN,
    STATUS_PARTIAL,
    TRADE_DT,
)

POSITION_DT = np.dtype(
    [
        # what every bar reads first (the bookkeeping, the signal decision, the valuation): one
        # cache line, so a shared-cash group's passes over its columns touch one line per column
        ("qty", np.float64),  # signed shares
        ("last_close", np.float64),  # the asset's latest close (marks bars it has no row on)
        ("bars_seen", np.int64),
        ("last_bar", np.int64),
        ("rule_exit_bar", np.int64),  # the bar a rule closed the position on (-1: none)
        ("entry_bar", np.int64),
        ("entry_count", np.int64),  # bars_seen at the entry (bars_held counts the asset's own bars)
        ("position_id", np.int64),
        ("avg_price", np.float64),  # average cost of the open quantity (executed prices)
        ("entry_fees", np.float64),  # entry fees of the open quantity
        ("entry_slippage", np.float64),
        ("borrow", np.float64),  # borrow fees accrued on the open quantity (a short; ``borrow_nb``)
        ("entry_spread", np.float64),  # the half-spread the open quantity's entry fills paid
        ("entry_impact", np.float64),  # and their market impact
        ("hi", np.float64),  # highest / lowest price since the position opened (MFE / MAE)
        ("lo", np.float64),
        # position rules: the trailing peak, the stop / target / trailing fractions read at the
        # entry order's decision bar, that bar (weights=), the anchor (the entry's fill price or
        # its signal bar's close) and the absolute stop / target levels (NaN: none)
        ("peak", np.float64),
        ("sl", np.float64),
        ("tp", np.float64),
        ("tsl", np.float64),
        ("decided", np.int64),
        ("anchor", np.float64),
        ("slp", np.float64),
        ("tpp", np.float64),
        # signal mode's pyramiding (``accumulate``): the position's entries (its first and its
        # increases), the bar of its latest increase and that increase's share of the position
        # after it (the stop anchor is the share-weighted average of the entries' anchors)
        ("entries", np.int64),
        ("added", np.int64),
        ("add_w", np.float64),
        # ``scale_out``: the largest |quantity| the position reached (a step's fraction is of it),
        # the steps taken and the next step's gain (inf: none left)
        ("max_qty", np.float64),
        ("steps_done", np.int64),
        ("step_gain", np.float64),
        # commission tiers (``commission.Tiered``): the column's account (its group's first
        # column, whose record holds the account's shares traded this month and that month)
        ("acct", np.int64),
        ("mvol", np.float64),
        ("mvol_month", np.int64),
        # a resting entry order's fill inside a bar (README "Order types"): that bar, and the rest
        # of it (a bar opening at the fill price) the position rules and excursions see there
        ("from_bar", np.int64),
        ("from_open", np.float64),
        ("from_high", np.float64),
        ("from_low", np.float64),
    ],
    align=True,
)

ORDER_DT = np.dtype(
    [
        ("bar", np.int64),  # decision bar; -1: no order
        ("target", np.float64),  # target shares (sized at the decision) or weight (sized at the fill)
        ("priority", np.float64),  # read at the decision bar; NaN: none (last)
        ("forced", np.int64),  # 1: the close of a null weight (no threshold holds it back)
        ("guess", np.float64),  # the decision's target holding (unrounded when sized at the fill)
        ("weight", np.float64),  # the weight of the column's latest decision (NaN: none; drift_band)
        ("reason", np.int64),  # REASON_REBALANCE, or REASON_LIQUIDATION (the drawdown breaker's close);
        # signal mode: the exit reason a portfolio limit forced on the order (REASON_SIGNAL: none)
        ("action", np.int64),  # signal mode: ACT_* (ACT_NONE: no order)
        # signal mode's resting entry orders (``resting.py``): the limit and stop levels (NaN:
        # none), the bars tested, a stop-limit triggered (1), and the fill the bar's test found (
        # ``fill`` 1): its reference price, slippage fraction, per-share slippage and half spread,
        # and the rest of its bar (``from_open`` NaN: filled at the open, the whole bar)
        ("limit", np.float64),
        ("stop", np.float64),
        ("tests", np.int64),
        ("armed", np.int64),
        ("fill", np.int64),
        ("ref", np.float64),
        ("frac", np.float64),
        ("per_share", np.float64),
        ("half", np.float64),
        ("from_open", np.float64),
        ("from_high", np.float64),
        ("from_low", np.float64),
    ],
    align=True,
)


class Sink(NamedTuple):
    """Record buffers, each written in the order the records happen (bar by bar, a bar's in
    column order); ``n`` (3,) int64: the fills, trade rows and rejected rows written so far, and
    ``per_col`` (3, n_cols) int64 the same per column.
    A record past its buffer's room is counted, never written (the run is repeated with room).

    With ``off`` (3, n_cols + 1) not empty (``slice_sink``), column c writes its records of kind
    k into its own slice ``[off[k, c], off[k, c + 1])`` instead, and ``n`` is not touched: the
    signal drivers run columns on several threads, each owning its columns' slices.

    Appending in order keeps the writes sequential. One slice per column, as the records are
    read later, made each fill write into its own column's slice: a thousand columns, three
    buffers, a cache miss per record; 85 ns per record at daily rebalancing (about 45% of the
    kernel). ``column_order`` makes the per-column layout once, after the run."""

    fills: np.ndarray
    trades: np.ndarray
    rejected: np.ndarray
    n: np.ndarray
    per_col: np.ndarray
    off: np.ndarray


def new_sink(room: tuple[int, int, int], n_cols: int) -> Sink:
    """Empty buffers with ``room`` = (fills, trade rows, rejected rows), appended in order."""
    return Sink(np.empty(room[0], dtype=FILL_DT), np.empty(room[1], dtype=TRADE_DT), np.empty(room[2], dtype=REJECT_DT),
                np.zeros(3, dtype=np.int64), np.zeros((3, n_cols), dtype=np.int64),
                np.zeros((3, 0), dtype=np.int64))  # fmt: skip


def slice_sink(caps: tuple[np.ndarray, np.ndarray, np.ndarray]) -> Sink:
    """Empty buffers with one slice per column: ``caps`` = room per column for (fills, trade
    rows, rejected rows)."""
    n_cols = caps[0].shape[0]
    off = np.zeros((3, n_cols + 1), dtype=np.int64)
    for k in range(3):
        np.cumsum(caps[k], out=off[k, 1:])
    return Sink(np.empty(int(off[0, -1]), dtype=FILL_DT), np.empty(int(off[1, -1]), dtype=TRADE_DT),
                np.empty(int(off[2, -1]), dtype=REJECT_DT), np.zeros(3, dtype=np.int64),
                np.zeros((3, n_cols), dtype=np.int64), off)  # fmt: skip


def new_orders(n_cols: int, reason: int = REASON_REBALANCE) -> np.ndarray:
    """No order in any column (``action`` ACT_NONE = 0, ``bar`` -1); ``reason``: the exit reason
    of an order nothing forced (REASON_REBALANCE, or REASON_SIGNAL in signal mode)."""
    orders = np.zeros(n_cols, dtype=ORDER_DT)
    orders["bar"] = -1
    orders["weight"] = np.nan
    orders["reason"] = reason
    return orders


def new_book(n_cols: int) -> np.ndarray:
    book = np.zeros(n_cols, dtype=POSITION_DT)
    book["last_close"] = np.nan
    book["position_id"] = -1
    book["last_bar"] = -1
    book["decided"] = -1
    book["added"] = -1
    book["step_gain"] = np.inf
    book["rule_exit_bar"] = -1
    book["slp"] = np.nan
    book["tpp"] = np.nan
    book["acct"] = np.arange(n_cols)  # the drivers set a shared-cash group's to its first column
    book["mvol_month"] = np.iinfo(np.int64).min
    book["from_bar"] = -1
    return book


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def _slot_nb(sink, kind, c, room):
    """The buffer index column c's next record of ``kind`` (0 fills, 1 trade rows, 2 rejected)
    goes to, or -1 past the room (the record is counted, not written)."""
    i = sink.per_col[kind, c]
    sink.per_col[kind, c] = i + 1
    if sink.off.shape[1] == 0:
        k = sink.n[kind]
        sink.n[kind] = k + 1
    else:
        k = sink.off[kind, c] + i
        room = sink.off[kind, c + 1]
    return k if k < room else -1


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def write_fill_nb(sink, c, t, side, effect, reason, q, px, fee, slip, spread, imp, pid):
    k = _slot_nb(sink, np.int64(0), c, sink.fills.shape[0])  # not literals: one compiled copy
    if k < 0:
        return
    r = sink.fills[k]
    r["col"] = c
    r["bar"] = t
    r["side"] = side
    r["effect"] = effect
    r["reason"] = reason
    r["quantity"] = q
    r["price"] = px
    r["fees"] = fee
    r["slippage"] = slip
    r["spread"] = spread
    r["impact"] = imp
    r["position_id"] = pid


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def write_reject_nb(sink, c, t, side, effect, reason, req, filled, px):
    k = _slot_nb(sink, np.int64(2), c, sink.rejected.shape[0])
    if k < 0:
        return
    r = sink.rejected[k]
    r["col"] = c
    r["bar"] = t
    r["side"] = side
    r["effect"] = effect
    r["reason"] = reason
    r["requested_quantity"] = req
    r["filled_quantity"] = filled
    r["price"] = px


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def write_trade_nb(sink, c, pos, q, entry_fees, entry_slip, borrow, exit_bar, exit_px, exit_fee, exit_slip, spread,
                   imp, reason, status):  # fmt: skip
    """A trade row of ``q`` signed shares of position ``pos`` (a ``POSITION_DT`` record), with its
    share of the entry costs and of the borrow fees; ``spread`` / ``imp``: its share of the entry
    fills' half-spreads / market impact plus its exit fill's."""
    k = _slot_nb(sink, np.int64(1), c, sink.trades.shape[0])
    if k < 0:
        return
    ep = pos["avg_price"]
    hi = max(pos["hi"], exit_px)
    lo = min(pos["lo"], exit_px)
    r = sink.trades[k]
    r["col"] = c
    r["entry_bar"] = pos["entry_bar"]
    r["exit_bar"] = exit_bar
    r["bars_held"] = pos["bars_seen"] - pos["entry_count"]
    r["quantity"] = q
    r["entry_price"] = ep
    r["exit_price"] = exit_px
    r["entry_fees"] = entry_fees
    r["exit_fees"] = exit_fee
    r["entry_slippage"] = entry_slip
    r["exit_slippage"] = exit_slip
    r["borrow_cost"] = borrow
    r["spread"] = spread
    r["impact"] = imp
    if q > 0.0:
        r["mfe"] = hi / ep - 1.0
        r["mae"] = lo / ep - 1.0
    else:
        r["mfe"] = 1.0 - lo / ep
        r["mae"] = 1.0 - hi / ep
    r["exit_reason"] = reason
    r["status"] = status
    r["position_id"] = pos["position_id"]


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def open_position_nb(book, c, t, q, px, fee, slip, spread, imp, reason, sink):
    """Column c (flat) opens ``q`` signed shares at executed price ``px`` on bar t, paying ``fee``,
    ``slip``, the half-spread ``spread`` and the market impact ``imp``: the position's entry state
    and its entry fill (exit reason ``reason``)."""
    b = book[c]
    b["qty"] = q
    b["avg_price"] = px
    b["entry_fees"] = fee
    b["entry_slippage"] = slip
    b["entry_spread"] = spread
    b["entry_impact"] = imp
    b["borrow"] = 0.0
    b["hi"] = px
    b["lo"] = px
    b["entry_bar"] = t
    b["entry_count"] = b["bars_seen"]
    b["entries"] = 1
    b["max_qty"] = abs(q)
    book[b["acct"]]["mvol"] += abs(q)
    side = np.int64(1) if q > 0.0 else np.int64(-1)
    write_fill_nb(sink, c, t, side, np.int64(EFFECT_ENTRY), reason, abs(q), px, fee, slip, spread, imp,
                  b["position_id"])  # fmt: skip


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def apply_fill_nb(book, c, t, dq, px, ref, hs, ip, fee, reason, next_pid, sink, as_close):
    """Column c buys (``dq`` > 0) or sells ``|dq|`` shares at executed price ``px`` (reference
    ``ref``; of the difference ``hs`` per share is half the spread, ``orders.half_spread_nb``,
    ``ip`` the market impact, ``orders.impact_nb``, the rest slippage), paying ``fee``: every fill
    of both drivers lands here (signal entries,
    increases, exits and position-rule exits, vectorbt's one-order reversals and cut covers,
    rebalances).
    ``dq`` either adds to the position (or opens it from flat) or takes off at most what is
    held: a reversal is two calls. ``next_pid``: the id a new position gets (-1 in signal mode,
    which numbers positions after the run). ``as_close``: a reduction is recorded as vectorbt
    reports a cover its cash rule cut, an exit fill and a ``closed`` trade row for the shares
    it covered (else a reduce fill and a ``partial`` row). Returns (cash change, next position id)."""
    pos = book[c]
    q = pos["qty"]
    a = abs(dq)
    side = np.int64(1) if dq > 0.0 else np.int64(-1)
    spread = a * hs
    imp = a * ip
    adverse = abs(px - ref - side * (hs + ip))  # the slippage per share (a spread alone leaves rounding: none)
    slip = a * adverse if adverse > 1e-12 * abs(px) else 0.0
    if q == 0.0:  # entry
        pos["position_id"] = next_pid
        open_position_nb(book, c, t, dq, px, fee, slip, spread, imp, reason, sink)
        return -(dq * px) - fee, next_pid + 1
    book[pos["acct"]]["mvol"] += a  # the account's shares this month (commission tiers)
    if (q > 0.0) == (dq > 0.0):  # increase
        pos["avg_price"] = (abs(q) * pos["avg_price"] + a * px) / (abs(q) + a)
        pos["entry_fees"] += fee
        pos["entry_slippage"] += slip
        pos["entry_spread"] += spread
        pos["entry_impact"] += imp
        pos["hi"] = max(pos["hi"], px)
        pos["lo"] = min(pos["lo"], px)
        pos["qty"] = q + dq
        pos["max_qty"] = max(pos["max_qty"], abs(q + dq))
        pos["entries"] += 1
        pos["added"] = t
        pos["add_w"] = a / (abs(q) + a)
        write_fill_nb(sink, c, t, side, np.int64(EFFECT_INCREASE), reason, a, px, fee, slip, spread, imp,
                      pos["position_id"])  # fmt: skip
        return -(dq * px) - fee, next_pid
    held = abs(q)
    closes = a >= held * (1.0 - 1e-12)
    if closes:
        a = held
    part_fee = pos["entry_fees"] if closes else a / held * pos["entry_fees"]
    part_slip = pos["entry_slippage"] if closes else a / held * pos["entry_slippage"]
    part_borrow = pos["borrow"] if closes else a / held * pos["borrow"]
    part_spread = pos["entry_spread"] if closes else a / held * pos["entry_spread"]
    part_impact = pos["entry_impact"] if closes else a / held * pos["entry_impact"]
    signed = a if q > 0.0 else -a
    effect = np.int64(EFFECT_EXIT if closes or as_close else EFFECT_REDUCE)
    status = np.int64(STATUS_CLOSED if closes or as_close else STATUS_PARTIAL)
    write_fill_nb(sink, c, t, side, effect, reason, a, px, fee, slip, spread, imp, pos["position_id"])
    write_trade_nb(sink, c, pos, signed, part_fee, part_slip, part_borrow, t, px, fee, slip, part_spread + spread,
                   part_impact + imp, reason, status)  # fmt: skip
    if closes:
        pos["qty"] = 0.0
        pos["entry_fees"] = 0.0
        pos["entry_slippage"] = 0.0
        pos["entry_spread"] = 0.0
        pos["entry_impact"] = 0.0
        pos["borrow"] = 0.0
    else:
        pos["qty"] = q - signed
        pos["entry_fees"] -= part_fee
        pos["entry_slippage"] -= part_slip
        pos["entry_spread"] -= part_spread
        pos["entry_impact"] -= part_impact
        pos["borrow"] -= part_borrow
    return signed * px - fee, next_pid


# ``apply_fill_nb`` inlined into its caller (numba IR) for the target-weight fill phase, which
# makes nearly every fill of a daily rebalance: a call passes about 60 machine words (the book,
# the sink's six arrays), which cost 10% of that phase (``benchmarks/bench_kernel.py --mode
# weights_daily``). Never compiled on its own, so not cached under its own name.
apply_fill_inline_nb = njit(nogil=True, error_model="numpy", _nrt=False, inline="always")(apply_fill_nb.py_func)


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def month_start_nb(book, c0, month):
    """Group c0's account starts counting its shares for commission tiers afresh when ``month``
    (the bar's calendar month) is not the month it counts."""
    b = book[c0]
    if b["mvol_month"] != month:
        b["mvol_month"] = month
        b["mvol"] = 0.0


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def close_open_nb(book, c, reason, sink):
    """An ``open`` trade row for what column c still holds, marked at its last close (no exit costs)."""
    pos = book[c]
    if pos["qty"] != 0.0:
        write_trade_nb(sink, c, pos, pos["qty"], pos["entry_fees"], pos["entry_slippage"], pos["borrow"],
                       pos["last_bar"], pos["last_close"], 0.0, 0.0, pos["entry_spread"], pos["entry_impact"],
                       reason, np.int64(STATUS_OPEN))  # fmt: skip


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False, inline="always")
def borrow_fee_nb(q, close, rate, nights):
    """The borrow fee of ``q`` signed shares held for ``nights`` calendar days at the annual
    ``rate``: ``|q| x close x rate x nights / 360`` for a short, else 0 (also for a rate that is
    0, NaN or negative: no value)."""
    if q < 0.0 and rate > 0.0:
        return -q * close * rate * nights / 360.0
    return 0.0


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False, inline="always")
def rate_at_nb(rates, c, t):
    """Column c's borrow rate at bar t: ``rates`` is (n_cols, 1) for one rate per column, or
    (n_cols, n_bars) per bar."""
    return rates[c, t if rates.shape[1] > 1 else 0]


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False, inline="always")
def borrow_nb(book, c, rates, nights):
    """Column c's borrow fee for the ``nights`` calendar days since the previous bar of the time
    axis, before anything of the new bar happens: a short's |quantity| x its last close x the
    rate read at its last bar, /360. Added to the position's ``borrow`` (its trade rows' share);
    returns it (the cash it costs)."""
    pos = book[c]
    q = pos["qty"]
    if q >= 0.0:
        return 0.0
    fee = borrow_fee_nb(q, pos["last_close"], rate_at_nb(rates, c, pos["last_bar"]), nights)
    pos["borrow"] += fee
    return fee


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False, inline="always")
def interest_nb(cash, debit, credit, nights):
    """Interest on ``cash`` for ``nights`` calendar days, /360 a day: negative cash pays the
    annual ``debit`` rate (``cash_rate``), positive cash earns ``credit`` (``credit_rate``).
    Returns the change to the cash."""
    return cash * (debit if cash < 0.0 else credit) * nights / 360.0


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def nights_nb(book, c0, c1, cash, rates, borrow_on, debit, credit, nights):
    """An account's ``cash`` after the ``nights`` calendar days since the previous bar, before the
    new bar starts: interest on the cash it held, then every short of columns c0..c1 pays its
    borrow fee (``borrow_nb``)."""
    cash += interest_nb(cash, debit, credit, nights)
    if borrow_on:
        for c in range(c0, c1):
            cash -= borrow_nb(book, c, rates, nights)
    return cash


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def quiet_nights_nb(cash, owed, q, close, rates, c, last, borrow_on, debit, credit, nights):
    """``nights_nb`` for the one-column quiet-bar loop, whose position lives in locals (``q``
    signed shares, last close ``close`` at bar ``last``, ``owed`` its borrow fees): returns
    (cash, owed). Out of line, so that loop stays small; only the drivers' non-default copy
    calls it (``launch.order_model``): in the default copy, inlined or called, it made scenario
    A's kernel 5-9% slower on runs that pay nothing (``benchmarks/bench_kernel.py``)."""
    if nights > 0.0:
        cash += interest_nb(cash, debit, credit, nights)
        if borrow_on and q < 0.0:
            fee = borrow_fee_nb(q, close, rate_at_nb(rates, c, last), nights)
            cash -= fee
            owed += fee
    return cash, owed


@njit(cache=True, nogil=True, error_model="numpy")
def room_nb(w, rebal, hold, orders, flips):
    """Record room of a target-weight run, per column (``_rebalance._room``): ``orders[c]`` =
    2 + the rebalance bars whose weight, or the previous rebalance's, is nonzero (a held
    position is resized at every rebalance); ``flips[c]`` = the rebalance bars where the
    weight's sign flips against the previous rebalance's (a reversal: two fills). ``w``
    (n_cols, n_bars), NaN = null: no order with ``hold``, else a close (a zero weight)."""
    n_cols, n_bars = w.shape
    for c in range(n_cols):
        n = np.int64(2)
        f = np.int64(0)
        prev_nz = False
        prev_sign = 0.0
        for t in range(n_bars):
            if not rebal[t]:
                continue
            x = w[c, t]
            if np.isnan(x):
                x = np.nan if hold else 0.0
            nz = not np.isnan(x) and x != 0.0
            sign = (1.0 if x > 0.0 else -1.0) if nz else 0.0
            if nz or prev_nz:
                n += 1
            if sign * prev_sign < 0.0:
                f += 1
            prev_nz = nz
            prev_sign = sign
        orders[c] = n
        flips[c] = f


@njit(cache=True, nogil=True, error_model="numpy")
def _column_order_nb(src, off, dst):
    pos = off[:-1].copy()
    for i in range(dst.shape[0]):
        c = src[i]["col"]
        dst[pos[c]] = src[i]
        pos[c] += 1


def column_order(src: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the records of ``src`` grouped by column, each column's in the order written; each
    column's first record (n_cols + 1,)): a counting sort, O(n). ``counts``: records per column
    (``Sink.per_col``), ``src`` holds their sum."""
    n, n_cols = int(counts.sum()), counts.shape[0]
    off = np.zeros(n_cols + 1, dtype=np.int64)
    np.cumsum(counts, out=off[1:])
    dst = np.empty(n, dtype=src.dtype)
    _column_order_nb(src[:n], off, dst)
    return dst, off


@njit(cache=True, nogil=True, error_model="numpy")
def group_words_nb(src, off, out):
    """``out[j, k] = src[i, j]``: records viewed as (records, 8-byte words), written in time
    order, into (words, records) grouped by column on the way (the column is word 0 of every
    record dtype; ``off``: each column's first place): the buffer read once in order, each
    column's words written where its next record goes."""
    pos = off[:-1].copy()
    n, w = src.shape
    for i in range(n):
        c = src[i, 0]
        k = pos[c]
        pos[c] = k + 1
        for j in range(w):
            out[j, k] = src[i, j]


@njit(cache=True, nogil=True, error_model="numpy")
def slice_words_nb(src, off, counts, out):
    """``out[j, k] = src[i, j]``: records viewed as (records, 8-byte words) into (words,
    records), column c's records ``src[off[c]:off[c] + counts[c]]`` (a slice sink's) one column
    after another, each read once in order (a plain buffer: one column of all its records)."""
    w = src.shape[1]
    k = 0
    for c in range(counts.shape[0]):
        for i in range(off[c], off[c] + counts[c]):
            for j in range(w):
                out[j, k] = src[i, j]
            k += 1


def record_columns(rec: np.ndarray, counts: np.ndarray | None = None, off: np.ndarray | None = None) -> dict:
    """Every field of a kernel record buffer as its own array (name -> array), in one pass.

    ``counts`` (records per column, ``Sink.per_col``) alone: the buffer's first ``counts.sum()``
    records, written in time order, grouped by column (each column's in the order written);
    with ``off`` too: column c's records are ``rec[off[c]:off[c] + counts[c]]`` (a slice sink),
    one column after another; neither: the records as they are.

    Copying the fields one by one reads the whole buffer once per field (a 120-byte trade
    record holds 16 of them): 80-110 ms for 478k trade rows, against about 15 ms for one
    transposing pass into 8-byte words. Grouping by column in the same pass saves a grouped copy
    of the buffer (61 MB for the 957k fills of a daily rebalance, which the run held with the
    buffer). Every record dtype (``codes.py``) is aligned to 8 bytes, its 1-byte codes packed
    into one word: those are strided views of their word's bytes (other dtypes go field by
    field)."""
    dt = rec.dtype
    n = rec.shape[0] if counts is None else int(counts.sum())
    words_ok = dt.itemsize % 8 == 0 and all(dt.fields[f][0].itemsize in (1, 8) for f in dt.names)
    if not words_ok or not rec.flags.c_contiguous:  # field by field (no kernel record is like this)
        if counts is not None and off is None:
            rec = rec[:n][np.argsort(rec["col"][:n], kind="stable")]
        elif counts is not None:
            rec = np.concatenate([rec[off[c] : off[c] + counts[c]] for c in range(counts.shape[0])])
        return {name: np.ascontiguousarray(rec[name]) for name in dt.names}
    w = dt.itemsize // 8
    words = np.empty((w, n), dtype=np.uint64)
    src = rec.view(np.uint64).reshape(rec.shape[0], w)
    if counts is None:  # the records in order: one slice of all of them
        slice_words_nb(src, np.zeros(1, dtype=np.int64), np.full(1, n, dtype=np.int64), words)
    elif off is None:
        first = np.zeros(counts.shape[0] + 1, dtype=np.int64)
        np.cumsum(counts, out=first[1:])
        group_words_nb(src[:n], first, words)
    else:
        slice_words_nb(src, off, counts, words)
    out = {}
    for name in dt.names:
        f, at = dt.fields[name][:2]
        row = words[at // 8]
        out[name] = row.view(f) if f.itemsize == 8 else row.view(np.uint8).reshape(n, 8)[:, at % 8].view(f)
    return out


def n_records(rec: np.ndarray | dict) -> int:
    """Rows of a record buffer or of its columns (``record_columns``)."""
    return rec.shape[0] if isinstance(rec, np.ndarray) else rec["col"].shape[0]
