"""A ragged panel's price columns on their grid: block copies of runs of rows, or a scatter,
equal a plain per-row scatter, in both grid orientations and any row order; the counting sort
that orders an unsorted frame, the duplicate-cell checks and the asset codes, against NumPy."""

from datetime import datetime, timedelta

import numpy as np
import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from ml4t_vec import _layout
from ml4t_vec._kernels import grid, kernel_array


@st.composite
def ragged_frames(draw):
    n_assets = draw(st.integers(2, 5))
    n_bars = draw(st.integers(2, 12))
    cells = [(a, t) for a in range(n_assets) for t in range(n_bars)]
    keep = draw(st.lists(st.booleans(), min_size=len(cells), max_size=len(cells)))
    rows = [c for c, k in zip(cells, keep, strict=True) if k]
    # every bar and every asset keeps at least one row, one cell at least is missing (ragged)
    rows = sorted(set(rows) | {(t % n_assets, t) for t in range(n_bars)} | {(a, a % n_bars) for a in range(n_assets)})
    if len(rows) == len(cells):
        rows = rows[1:] if rows[0] != (0, 0) else [r for r in rows if r != (1, 0)]
    order = draw(st.sampled_from(["asset", "timestamp", "shuffled"]))
    if order == "timestamp":
        rows.sort(key=lambda r: (r[1], r[0]))
    elif order == "shuffled":
        rows = draw(st.permutations(rows))
    df = pl.DataFrame(
        {
            "timestamp": [datetime(2024, 1, 1) + timedelta(days=t) for _, t in rows],
            "asset": [f"a{a}" for a, _ in rows],
            "close": [100.0 + 10 * a + t for a, t in rows],
        }
    )
    return df, n_assets, n_bars


@given(ragged_frames(), st.sampled_from([_layout.RUN_ROWS, 1]), st.booleans())
def test_columns_equal_a_per_row_scatter(drawn, run_rows, reorder):
    """RUN_ROWS = 1 takes the block copies whenever the rows rise through the grid; without
    ``reorder`` a shuffled frame keeps its row order and is scattered."""
    df, n_assets, n_bars = drawn
    old, _layout.RUN_ROWS = _layout.RUN_ROWS, run_rows
    try:
        df, symbols, _, where = _layout.place(df, "timestamp", "asset", reorder=reorder)
    finally:
        _layout.RUN_ROWS = old
    assert not where.complete and where.n_assets == n_assets
    close = kernel_array(df.get_column("close").to_numpy(), np.float64)
    (got,) = where.columns([close])
    want = np.full(n_assets * n_bars, np.nan)
    want[where.off[where.codes] + where.bars * where.step] = close
    np.testing.assert_array_equal(got, want)
    # cell (a, t) holds asset a's close at bar t whatever the orientation
    for a in range(n_assets):
        for t in range(n_bars):
            v = got[where.off[a] + t * where.step]
            assert np.isnan(v) or v == 100.0 + 10 * int(symbols[a][1:]) + t


def test_timestamp_major_rows_get_a_timestamp_major_grid_copied_by_runs():
    rows = [(a, t) for t in range(50) for a in range(4) if not (a == 3 and t < 10)]
    df = pl.DataFrame(
        {"timestamp": [t for _, t in rows], "asset": [f"a{a}" for a, _ in rows], "close": [1.0] * len(rows)}
    )
    _, _, _, where = _layout.place(df, "timestamp", "asset")
    assert where.step == 4 and where.off.tolist() == [0, 1, 2, 3]
    assert 0 < where.runs.shape[0] <= 12  # one run per bar with a missing cell, then one to the end


def _first_repeat(codes, bars):
    seen = set()
    for i, cell in enumerate(zip(codes.tolist(), bars.tolist(), strict=True)):
        if cell in seen:
            return i
        seen.add(cell)
    return -1


@given(st.integers(1, 6), st.integers(1, 40), st.data())
def test_cell_order_is_a_stable_lexsort_and_finds_the_first_repeat(n_assets, n_bars, data):
    n = data.draw(st.integers(1, 3 * n_assets * n_bars))
    codes = np.array(data.draw(st.lists(st.integers(0, n_assets - 1), min_size=n, max_size=n)), dtype=np.int64)
    bars = np.array(data.draw(st.lists(st.integers(0, n_bars - 1), min_size=n, max_size=n)), dtype=np.int64)
    order, sorted_bars = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    dup = grid.cell_order_nb(codes, bars, n_assets, n_bars, np.empty(n, dtype=np.int64), order, sorted_bars)
    np.testing.assert_array_equal(order, np.lexsort((bars, codes)))
    np.testing.assert_array_equal(sorted_bars, bars[order])
    assert dup == _first_repeat(codes, bars)
    seen, cells = np.zeros((n_assets * n_bars + 7) // 8, dtype=np.uint8), np.full(n, -1, dtype=np.int64)
    assert grid.first_repeat_cell_nb(codes, bars, n_bars, seen, cells) == dup
    k = n if dup < 0 else dup
    np.testing.assert_array_equal(cells[:k], codes[:k] * n_bars + bars[:k])
    resets = int(np.sum(bars[1:] <= bars[:-1]))
    assert grid.time_resets_nb(bars) == resets


@given(st.lists(st.sampled_from(["b", "a", "c10", "c9", "zz", ""]), min_size=1, max_size=60))
def test_asset_codes_rank_the_symbols_and_the_exact_fallback_agrees(symbols):
    """Codes rank the distinct symbols in sort order; the path taken when two symbols share the
    first hash (forced here) gives the same codes."""
    a = pl.Series("asset", symbols)
    codes, reps = _layout._codes(a)
    want = sorted(set(symbols))
    assert reps.to_list() == want
    assert codes.tolist() == [want.index(x) for x in symbols]
    real, grid.rank_codes_nb = grid.rank_codes_nb, lambda *args: False
    try:
        codes2, reps2 = _layout._codes(a)
    finally:
        grid.rank_codes_nb = real
    assert reps2.to_list() == want and codes2.tolist() == codes.tolist()


@given(st.integers(1, 6000), st.integers(0, 2**32 - 1))
def test_first_seen_codes_grow_and_rehash_like_a_dict(n_keys, seed):
    """Codes in order of first appearance, past the table's growth points (16 codes, 1,024 keys
    per 4,096 slots), with keys that collide in the low bits."""
    rng = np.random.default_rng(seed)
    distinct = rng.choice(2**62, n_keys, replace=False).astype(np.uint64) << np.uint64(rng.integers(0, 2))
    keys = distinct[rng.integers(0, n_keys, 3 * n_keys)]
    out = np.empty(keys.shape[0], dtype=np.int64)
    first = grid.first_seen_codes_nb(keys, out)
    seen: dict[int, int] = {}
    want = [seen.setdefault(int(k), len(seen)) for k in keys]
    assert out.tolist() == want
    firsts = {}
    for i, c in enumerate(want):
        firsts.setdefault(c, i)
    assert first.tolist() == [firsts[c] for c in range(len(seen))]
