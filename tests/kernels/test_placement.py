"""A ragged panel's price columns on their grid: block copies of runs of rows, or a scatter,
equal a plain per-row scatter, in both grid orientations and any row order."""

from datetime import datetime, timedelta

import numpy as np
import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from ml4t_vec import _layout
from ml4t_vec._kernels import kernel_array


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


@given(ragged_frames(), st.sampled_from([_layout.RUN_ROWS, 1]))
def test_columns_equal_a_per_row_scatter(drawn, run_rows):
    """RUN_ROWS = 1 takes the block copies whenever the rows rise through the grid."""
    df, n_assets, n_bars = drawn
    old, _layout.RUN_ROWS = _layout.RUN_ROWS, run_rows
    try:
        df, symbols, _, where = _layout.place(df, "timestamp", "asset")
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
