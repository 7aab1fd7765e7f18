"""Running the signal drivers (numpy): record room, state, the driver a run needs, compact records.

``simulate`` sizes the record buffers from the signals (``count_entries_nb``), allocates the
state records (``book.new_book`` / ``new_orders``) and the column settings
(``columns.column_settings``), runs the driver ``driver`` picks (``simulate.py``: the bar loop
and its phases), repeats once with exact room if a column ran out, and returns the records.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np
from numba import njit

from ml4t_vec._kernels import kernel_array
from ml4t_vec._kernels.book import new_book, new_orders, record_columns, slice_sink
from ml4t_vec._kernels.codes import (
    CASH_VECTORBT,
    ORDER_MARKET,
    REASON_SIGNAL,
    REVERSAL_ONE_ORDER,
    SIG_ENTRY,
    SIG_EXIT,
    SIG_SHORT_ENTRY,
    SIG_SHORT_EXIT,
)
from ml4t_vec._kernels.columns import COLUMN_DT, column_settings
from ml4t_vec._kernels.limits import LimitParams
from ml4t_vec._kernels.orders import OrderParams
from ml4t_vec._kernels.risk import RiskParams
from ml4t_vec._kernels.simulate import Prices, simulate_columns_nb, simulate_group_nb, simulate_groups_nb


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


def order_model(params: OrderParams, scale_out: bool, financed: bool):
    """The drivers' last argument: None for the default order model, so numba prunes vectorbt's
    (one-order reversals, covers cut by cash), pyramiding (``accumulate``), scale-out steps,
    the nights' financing (interest on cash, borrow fees: ``financed``), the monthly share
    count of commission tiers, the bid-ask spread, fees read per bar, market impact and resting entry
    orders (limit / stop), and compiles a run
    without them; else 1. A run with any of them compiles its own copy of the driver, once.
    (A runtime ``accumulate`` test on every signal bar made scenario A's kernel 19.3 -> 22.4
    ms; pyramiding and scale-out written into the default copy made the demo's first-run
    compile about 1.1 s longer; the financing's test in the one-column quiet-bar loop made
    scenario A's kernel 5% slower on runs that pay nothing; so did the monthly share count of
    commission tiers, ``tiered``, and so did reading the spread at every fill.)"""
    vbt = bool((params.cash_rule == CASH_VECTORBT).any() or (params.reversal == REVERSAL_ONE_ORDER).any())
    tiered = bool((params.n_tiers > 0).any())
    spread = bool(np.fmax.reduce(params.spread, axis=None) > 0.0)  # (NaN: none; no copy of a per-bar spread)
    by_bar = any(getattr(params, f).shape[1] > 0 for f in BAR_COSTS)
    on = resting_of(params) is not None or vbt or scale_out or financed or tiered or spread or by_bar
    on = on or bool(params.accumulate.any())
    return np.int64(1) if on else None


def resting_of(params: OrderParams):
    """The drivers' very last argument: np.int64(1) when some column's entries are resting orders
    (limit / stop, README "Order types"), else None, so numba leaves the resting phase and the
    orders' lifecycle out of every other run (they made the order model's first compile 7 s
    longer). Resting orders also need the order model's copy (``order_model``)."""
    return np.int64(1) if (params.order_type != ORDER_MARKET).any() else None


def bar_costs(params: OrderParams) -> np.ndarray:
    """The signal drivers' costs read at each fill (``orders.bar_cost_nb``), one (n_cols, 1 or
    n_bars, k) array: the spread, then each fee read per bar and the market impact's
    coefficient, at its ``*_slot``. One array, not
    a tuple: passing a tuple of four arrays down the fill calls made scenario A's kernel 2.3x
    slower, two arrays 1.25x. A spread alone is its own array seen as 3-D (no copy: a copy of
    four costs per bar made a per-bar spread 1.4x slower than flat fees end to end)."""
    fees = [a for f in BAR_COSTS if (a := getattr(params, f)).shape[1] > 0]
    if not fees:
        return kernel_array(params.spread[:, :, None], np.float64)
    per = [params.spread, *fees]
    out = np.empty((params.fees.shape[0], max(a.shape[1] for a in per), len(per)))
    for k, a in enumerate(per):
        out[:, :, k] = a
    return kernel_array(out, np.float64)


# the costs read per bar after the spread in ``bar_costs``, in their slots' order (``_lower.bar_fees``)
BAR_COSTS = ("fees_bar", "fixed_fees_bar", "per_share_bar", "impact")


def financed(limits: LimitParams) -> bool:
    """Some account pays or earns interest, or some short pays a borrow fee."""
    return bool(limits.borrow_on.any() or (limits.cash_rate > 0.0).any() or (limits.credit_rate > 0.0).any())


def driver(n_groups: int, n_cols: int):
    """The driver a run uses: one-column groups (independent accounts) run in parallel over
    chunks of columns; one shared-cash group runs serially; many run in parallel."""
    if n_groups == n_cols:
        return simulate_columns_nb
    return simulate_group_nb if n_groups == 1 else simulate_groups_nb


def _run(args, caps, n_bars, per_column_series):
    """One run of the driver with ``caps`` = room for (fills, trades, rejected) per column."""
    group_offsets, chunk_offsets, col_asset, prices, sig, timing, init_cash, params, risk, limits = args
    n_cols = sig.shape[0]
    n_groups = group_offsets.shape[0] - 1
    sink = slice_sink(caps)
    n_chunks = chunk_offsets.shape[0] - 1
    acc = np.zeros((n_chunks, 3, n_bars))
    shape_c, shape_v = ((n_groups, n_bars), (n_cols, n_bars)) if per_column_series else ((0, 0), (0, 0))
    cash_out = np.empty(shape_c)
    value_out = np.empty(shape_v)
    cols = kernel_array(column_settings(params, risk), COLUMN_DT)
    levels = (risk.stop_loss, risk.take_profit, risk.trailing_stop, risk.stop_loss_price, risk.take_profit_price,
              risk.scale_out, params.limit_price, params.stop_price)  # fmt: skip
    run = driver(n_groups, n_cols)
    run(group_offsets, chunk_offsets, col_asset, prices, sig, timing, init_cash, cols, params.size, bar_costs(params),
        levels, limits, new_book(n_cols), new_orders(n_cols, REASON_SIGNAL), sink, acc, cash_out, value_out,
        order_model(params, bool(np.isfinite(risk.scale_out).any()), financed(limits)), resting_of(params))  # fmt: skip
    return sink, acc, cash_out, value_out


class SimResult(NamedTuple):
    # the records: columns (``book.record_columns``: field -> array, grouped by column, each
    # column's in time order; the rejected rows of the target-weight driver in time order), or
    # with ``compact=False`` the raw buffers (``segments``)
    fills: np.ndarray | dict
    trades: np.ndarray | dict
    rejected: np.ndarray | dict
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
    The records come back as columns (``book.record_columns``). ``compact=False`` keeps the raw
    buffers instead: column c's records at ``segments`` = (fill_off, n_fill, trade_off, n_trade)
    ``[off[c], off[c] + n[c])`` (a sweep reduces them in place).
    """
    sig = kernel_array(sig, np.uint8)
    n_cols, n_bars = sig.shape
    n_groups = group_offsets.shape[0] - 1
    group_of = np.repeat(np.arange(n_groups), np.diff(group_offsets))
    n_entry, n_trade_max = count_entries_nb(sig, ~risk.rules_on & ~limits.on[group_of])
    # fills: an entry and an exit per trade, an increase per entry bar of a column that accumulates
    # and a reduce per scale-out step of each trade (each step also writes a partial trade row)
    n_steps = np.isfinite(risk.scale_out[:, : risk.scale_out.shape[1] // 2]).sum(axis=1)
    n_fill_max = (2 + n_steps) * n_trade_max + np.where(params.accumulate, n_entry, 0)
    caps = (n_fill_max, (1 + n_steps) * n_trade_max, n_entry + 2 if record_rejected else np.zeros_like(n_entry))
    # a few chunks per thread balance the load; each chunk owns one row of the accumulators
    keep_chunks = chunk_offsets is not None
    if chunk_offsets is None:
        n_chunks = max(1, min(n_groups, 4 * numba.get_num_threads()))
        chunk_offsets = np.linspace(0, n_groups, n_chunks + 1).round().astype(np.int64)
    args = (kernel_array(group_offsets, np.int64), kernel_array(chunk_offsets, np.int64),
            kernel_array(col_asset, np.int64), prices, sig, np.int64(timing), kernel_array(init_cash, np.float64),
            params, risk, limits)  # fmt: skip
    for _ in range(2):  # the bounds above are exact or generous; a second run gets the exact room
        sink, acc, cash_out, value_out = _run(args, caps, n_bars, per_column_series)
        counts = (sink.per_col[0], sink.per_col[1], sink.per_col[2] if record_rejected else caps[2])
        if all((n <= cap).all() for n, cap in zip(counts, caps, strict=True)):
            break
        caps = tuple(np.maximum(n, cap) for n, cap in zip(counts, caps, strict=True))
    else:  # pragma: no cover - a deterministic kernel cannot overflow exact counts
        raise RuntimeError("record buffers overflowed twice")
    (fill_off, trade_off, rej_off), (n_fill, n_trade, n_rej) = sink.off, sink.per_col
    tot = np.zeros((3, 0)) if keep_chunks else acc.sum(axis=0)  # a sweep keeps the chunks' own series
    if compact:  # each column's slice, one after another, as columns (one pass; the sink is dropped)
        fills = record_columns(sink.fills, n_fill, fill_off)
        trades = record_columns(sink.trades, n_trade, trade_off)
        rejected = record_columns(sink.rejected, np.minimum(n_rej, caps[2]), rej_off)
    else:
        fills, trades, rejected = sink.fills, sink.trades, sink.rejected
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
        None if compact else (fill_off, n_fill, trade_off, n_trade),
    )
