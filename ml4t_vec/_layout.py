"""Where each row of a long frame sits on the asset x bar grid, for any row order (Prepare layer).

Signal expressions only need each asset's rows in time order (windows over an asset see it in
time order; cross-sections over a timestamp see all its rows). A frame that already has that
order is used as it is: no sort by symbol, no copy of the frame. Asset codes come from the
asset column itself: run starts for asset-major blocks, a hash table for any other order
(``_kernels/grid.py``), ranked in the column's sort order (lexical for strings and
Categoricals, numeric for integers, category order for an Enum).

Complete panels are read without building price grids (the kernels address cell (a, t) of a
long column at ``off[a] + t * step``):
- asset-major blocks (``step = 1``), in any block order;
- timestamp-major blocks, the assets in the same order at every timestamp (``step`` = the
  number of assets): ml4t-data's layout and what a join usually produces.
Any other placement (a ragged panel) is scattered onto a grid by (asset code, bar index).
Only a frame whose rows of some asset go back in time is sorted, into asset-major blocks, by two
counting sorts (by bar, then by asset code) in O(rows); its asset and timestamp columns are then
rebuilt from the distinct symbols and timestamps instead of gathered.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numba
import numpy as np
import polars as pl

from ml4t_vec._kernels import grid, kernel_array
from ml4t_vec.errors import DataError

_EMPTY = np.empty(0, dtype=np.int64)
_NO_RUNS = np.empty((0, 2), dtype=np.int64)
# a ragged panel's price columns are placed by block copies while its rows form runs of at least
# this many on average (an asset-major panel, or a timestamp-major one with few missing cells)
RUN_ROWS = 16


@dataclass(frozen=True, slots=True)
class Placement:
    """Rows -> grid cells. Complete panels in place: cell (a, t) is row ``off[a] + t * step`` and
    ``codes`` / ``bars`` are empty. Otherwise (a ragged panel, or an unsorted frame left as it
    is): row i is cell (codes[i], bars[i]), and price grids are built."""

    n_assets: int
    n_bars: int
    off: np.ndarray  # int64 (n_assets,)
    step: int
    codes: np.ndarray = field(default_factory=lambda: _EMPTY)  # int64 per row (ragged only)
    bars: np.ndarray = field(default_factory=lambda: _EMPTY)  # int64 per row (ragged only)
    runs: np.ndarray = field(default_factory=lambda: _NO_RUNS)  # ragged: ``grid.runs_nb`` or empty
    cells: np.ndarray = field(default_factory=lambda: _EMPTY)  # each row's cell, if found already

    @property
    def complete(self) -> bool:
        return self.codes.shape[0] == 0

    @property
    def asset_major(self) -> bool:
        """Complete, blocks in asset order: the grid is a reshape of the rows (no copy)."""
        return (
            self.complete
            and self.step == 1
            and bool(np.array_equal(self.off, np.arange(self.n_assets, dtype=np.int64) * self.n_bars))
        )

    def columns(self, values: list[np.ndarray]) -> list[np.ndarray]:
        """Price columns as the kernels read them (cell (a, t) at ``off[a] + t * step``): a
        complete panel's columns as they are; a ragged panel's placed on a flat grid in this
        placement's orientation, NaN where an asset has no row. The columns are placed in
        parallel threads (numba's thread count: 1 keeps it serial)."""
        if self.complete:
            return list(values)
        runs, cells = kernel_array(self.runs, np.int64), kernel_array(self.cells, np.int64)
        if runs.shape[0] == 0 and cells.shape[0] == 0:
            cells = np.empty(self.codes.shape[0], dtype=np.int64)
            grid.cells_nb(self.codes, self.bars, self.off, self.step, cells)
            cells = kernel_array(cells, np.int64)
        n_cells = self.n_assets * self.n_bars

        def one(v):
            out = np.empty(n_cells)
            grid.place_column_nb(kernel_array(v, np.float64), cells, runs, out)
            return out

        workers = min(len(values), numba.get_num_threads())
        if workers <= 1:
            return [one(v) for v in values]
        with ThreadPoolExecutor(workers) as pool:  # nogil kernels: the columns' scatters overlap
            return list(pool.map(one, values))

    def grid(self, values: np.ndarray, fill) -> np.ndarray:
        """Per-row values as a C-contiguous (n_assets, n_bars) grid (cells without a row: ``fill``)."""
        values = kernel_array(values, values.dtype)
        if self.asset_major:
            return values.reshape(self.n_assets, self.n_bars)
        i64 = lambda a: kernel_array(a, np.int64)  # noqa: E731
        out = np.empty((self.n_assets, self.n_bars), dtype=values.dtype)
        grid.to_grid_nb(values, i64(self.off), self.step, i64(self.codes), i64(self.bars), values.dtype.type(fill), out)
        return out


def _ts_int(s: pl.Series) -> np.ndarray:
    return kernel_array(s.to_physical().cast(pl.Int64).to_numpy(), np.int64)


def _codes(a: pl.Series) -> tuple[np.ndarray, pl.Series]:
    """(code of every row, the distinct assets in asset order) for any row order."""
    if isinstance(a.dtype, (pl.Categorical, pl.Enum)):
        keys, keys2 = a.to_physical().cast(pl.UInt64).to_numpy(), None
    elif a.dtype.is_integer():
        keys, keys2 = a.cast(pl.Int64).to_numpy().view(np.uint64), None
    else:  # two independent 64-bit hashes, computed side by side; the second checks the first
        h = pl.DataFrame([a]).select(pl.col(a.name).hash(seed=0x6D6C3474).alias("h1"),
                                     pl.col(a.name).hash(seed=0x2545F491).alias("h2"))  # fmt: skip
        keys, keys2 = h.get_column("h1").to_numpy(), kernel_array(h.get_column("h2").to_numpy(), np.uint64)
    seen = np.empty(keys.shape[0], dtype=np.int64)
    first = grid.first_seen_codes_nb(kernel_array(keys, np.uint64), seen)
    reps = a.gather(first)
    order = reps.arg_sort().to_numpy()
    rank = np.empty(order.shape[0], dtype=np.int64)
    rank[order] = np.arange(order.shape[0])
    if keys2 is None:
        return rank[seen], reps.gather(order)
    if grid.rank_codes_nb(keys2, seen, first, kernel_array(rank, np.int64)):
        return seen, reps.gather(order)
    # two symbols share the first 64-bit hash (the second tells them apart): be exact
    reps = a.unique().sort()
    return a.cast(pl.Enum(reps.cast(pl.String))).to_physical().cast(pl.Int64).to_numpy(), reps


def _duplicate(df: pl.DataFrame, row: int, ts_col: str, asset_col: str) -> DataError:
    r = df.row(int(row), named=True)
    return DataError(
        f"duplicate ({ts_col}, {asset_col}) rows: {asset_col}={r[asset_col]!r} has more than one row at "
        f"{ts_col}={r[ts_col]}. Keep one row per asset and timestamp (e.g. df.unique(subset=[{ts_col!r}, "
        f"{asset_col!r}], keep='last'))."
    )


def _time_axis(ts: np.ndarray, s: pl.Series, codes: np.ndarray, n_assets: int):
    """(the sorted distinct timestamps as int64, as a Series of the input dtype, each row's bar)."""
    bars = np.empty(ts.shape[0], dtype=np.int64)
    union = grid.lattice_axis_nb(ts, bars)
    if union.shape[0] == 0:  # not on a small lattice: sort the distinct timestamps, search each row's
        union = kernel_array(np.sort(pl.Series(ts).unique().to_numpy()), np.int64)
        grid.bar_index_nb(ts, kernel_array(codes, np.int64), union, n_assets, bars)
    phys = pl.Int32 if s.dtype == pl.Date else pl.Int64
    return union, pl.Series(s.name, union).cast(phys).cast(s.dtype), bars


def place(
    df: pl.DataFrame, ts_col: str, asset_col: str, reorder: bool = True
) -> tuple[pl.DataFrame, pl.Series, pl.Series, Placement]:
    """(the frame; symbols in asset order; the time axis; where each row goes). The frame is
    returned as given unless some asset's rows go back in time: then, with ``reorder``, its rows
    are put in (asset, timestamp) order (expressions with windows need each asset's rows in time
    order); without it (every expression reads each row alone) the frame stays as it is and each
    row is scattered to its cell."""
    if df.height == 0:
        raise DataError("`prices` has no rows.")
    a = df.get_column(asset_col)
    s_ts = df.get_column(ts_col)
    ts = _ts_int(s_ts)

    # timestamp-major blocks of a complete panel, the same asset order at every timestamp
    width = int(np.argmax(ts != ts[0])) if ts[-1] != ts[0] else df.height
    if width > 1 and grid.timestamp_blocks_nb(ts, width):
        head = a.slice(0, width)
        if head.n_unique() == width and bool((a.slice(width) == a.slice(0, df.height - width)).all()):
            order = head.arg_sort().to_numpy()  # position in each block of the asset ranked a
            timestamps = s_ts.gather(np.arange(0, df.height, width))
            return df, head.gather(order), timestamps, Placement(width, df.height // width, order, width)

    # asset-major blocks (any block order): run starts of the asset column (not looked for when
    # the timestamps fall back at more rows than such blocks could have)
    blocks = df.height < 4 or grid.time_resets_nb(ts) < df.height // 2
    starts_rows = a.ne_missing(a.shift(1)).arg_true().cast(pl.Int64).to_numpy() if blocks else _EMPTY
    if blocks and (starts_rows.shape[0] <= df.height // 2 or df.height < 4):
        run_values = a.gather(starts_rows)
        if run_values.n_unique() == run_values.len():
            starts = np.append(starts_rows, df.height).astype(np.int64)
            status, row, complete = grid.scan_blocks_nb(ts, kernel_array(starts, np.int64))
            if status == grid.ORDER_DUPLICATE:
                raise _duplicate(df, row, ts_col, asset_col)
            if status == grid.ORDER_OK:
                order = run_values.arg_sort().to_numpy()  # block of the asset ranked a
                symbols = run_values.gather(order)
                n_assets = order.shape[0]
                if complete:
                    n_bars = int(starts[1] - starts[0])
                    off = np.ascontiguousarray(starts[order])
                    return df, symbols, s_ts.slice(0, n_bars), Placement(n_assets, n_bars, off, 1)
                rank = np.empty(n_assets, dtype=np.int64)
                rank[order] = np.arange(n_assets)
                codes = np.repeat(rank, np.diff(starts))
                return _ragged(df, symbols, codes, *_time_axis(ts, s_ts, codes, n_assets))

    codes, symbols = _codes(a)
    codes = kernel_array(codes, np.int64)
    n_assets = symbols.len()
    status, row = grid.time_order_nb(codes, ts, n_assets)
    if status == grid.ORDER_DUPLICATE:
        raise _duplicate(df, row, ts_col, asset_col)
    if status == grid.ORDER_UNSORTED:
        union, timestamps, bars = _time_axis(ts, s_ts, codes, n_assets)
        n, n_bars = codes.shape[0], union.shape[0]
        bars = kernel_array(bars, np.int64)
        if not reorder:  # rows stay where they are, each scattered to its cell of an asset-major grid
            cells = np.empty(n, dtype=np.int64)
            dup = grid.first_repeat_cell_nb(codes, bars, n_bars, np.zeros((n_assets * n_bars + 7) // 8, dtype=np.uint8),
                                            cells)  # fmt: skip
            if dup >= 0:
                raise _duplicate(df, dup, ts_col, asset_col)
            off = kernel_array(np.arange(n_assets, dtype=np.int64) * n_bars, np.int64)
            return df, symbols, timestamps, Placement(n_assets, n_bars, off, 1, codes, bars,
                                                      cells=kernel_array(cells, np.int64))  # fmt: skip
        # a sort into asset-major blocks, in O(rows)
        order, sorted_bars = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
        if n >= 2**32:  # the counting sort packs a row number in 32 bits
            raise DataError(f"`prices` has {n:,} rows out of time order; sort it by ({asset_col}, {ts_col}) first.")
        dup = grid.cell_order_nb(codes, bars, n_assets, n_bars, np.empty(n, dtype=np.int64),
                                 order, sorted_bars)  # fmt: skip
        if dup >= 0:
            raise _duplicate(df, dup, ts_col, asset_col)
        codes = np.repeat(np.arange(n_assets, dtype=np.int64), np.bincount(codes, minlength=n_assets))
        df = _reordered(df, order, {asset_col: symbols.gather(codes), ts_col: timestamps.gather(sorted_bars)})
        if n == n_assets * n_bars:  # every asset at every timestamp: read in place
            off = np.arange(n_assets, dtype=np.int64) * n_bars
            return df, symbols, timestamps, Placement(n_assets, n_bars, off, 1)
        return _ragged(df, symbols, codes, union, timestamps, sorted_bars)
    return _ragged(df, symbols, codes, *_time_axis(ts, s_ts, codes, n_assets))


def _reordered(df: pl.DataFrame, order: np.ndarray, keys: dict[str, pl.Series]) -> pl.DataFrame:
    """``df``'s rows in ``order``. The key columns are given already in that order (built from the
    few distinct symbols and timestamps: no gather of a string column); the others are gathered."""
    rest = df.drop(list(keys))[pl.Series(order)] if df.width > len(keys) else None
    cols = {**keys, **({c.name: c for c in rest.get_columns()} if rest is not None else {})}
    return pl.DataFrame([cols[c].alias(c) for c in df.columns])


def _ragged(df, symbols, codes, union, timestamps, bars):
    """A panel where some asset lacks some timestamp: a grid with a cell per (asset, bar) of the
    time axis ``union`` (``timestamps``: as a Series); row i goes to (codes[i], bars[i])."""
    n_assets, n_bars = symbols.len(), union.shape[0]
    codes, bars = kernel_array(codes, np.int64), kernel_array(bars, np.int64)
    # Price grids: asset-major, or timestamp-major (read like a complete timestamp-major panel)
    # when the rows fill that grid in order, so each column is placed by block copies of runs
    # of rows (``grid.runs_nb``); else asset-major, each row scattered to its cell.
    a = np.arange(n_assets, dtype=np.int64)
    for off, step in ((a * n_bars, 1), (a, n_assets)):
        off = kernel_array(off, np.int64)
        runs = grid.runs_nb(codes, bars, off, step, max(codes.shape[0] // RUN_ROWS, 1))
        if runs.shape[0]:
            break
    else:
        off, step = kernel_array(a * n_bars, np.int64), 1
    placement = Placement(n_assets, n_bars, off, step, codes, bars, kernel_array(runs, np.int64))
    return df, symbols, timestamps, placement
