"""``SweepResult.plot_heatmap`` (optional extra ``plot``: matplotlib). The grid it draws is checked
cell by cell against the results; without matplotlib the test is skipped, unless
``ML4T_VEC_REQUIRE_EXTRAS=1`` (CI)."""

import math
import os

import numpy as np
import polars as pl
import pytest

import ml4t_vec as vec
from ml4t_vec.plots import heatmap_grid

pytestmark = pytest.mark.filterwarnings("ignore::ml4t_vec.LookAheadWarning")


def ma(n):
    return pl.col("close").rolling_mean(n).over("asset")


@pytest.fixture(scope="module")
def grid():
    prices = vec.synthetic_prices(n_assets=2, n_bars=400, seed=4)
    return vec.sweep(prices, entries=lambda p: ma(p.fast) > ma(p.slow), exits=lambda p: ma(p.fast) < ma(p.slow),
                     params={"fast": [2, 4, 6, 8], "slow": [5, 10, 20], "stop_loss": [None, 0.05]},
                     where=lambda p: p.fast < p.slow, fees=0.001)  # fmt: skip


def test_heatmap_grid_cells_are_the_results(grid):
    r = grid.results
    ys, xs, g = heatmap_grid(r, "fast", "slow", "sharpe", fixed={"stop_loss": 0.05})
    assert list(xs) == [2, 4, 6, 8] and list(ys) == [5, 10, 20]
    for i, slow in enumerate(ys):
        for j, fast in enumerate(xs):
            rows = r.filter((pl.col("fast") == fast) & (pl.col("slow") == slow) & (pl.col("stop_loss") == 0.05))
            if rows.height == 0:  # fast >= slow: filtered out by `where`, blank
                assert math.isnan(g[i, j])
            else:
                v = rows["sharpe"][0]
                assert (math.isnan(v) and math.isnan(g[i, j])) or g[i, j] == v
    _, _, best = heatmap_grid(r, "fast", "slow", "total_return", agg="max")
    want = r.group_by("fast", "slow").agg(pl.col("total_return").max())
    assert np.nanmax(best) == pytest.approx(want["total_return"].max())


def test_heatmap_refuses_ambiguous_cells_and_unknown_names(grid):
    with pytest.raises(vec.ConfigError, match="other parameters vary"):
        heatmap_grid(grid.results, "fast", "slow", "sharpe")
    with pytest.raises(vec.ConfigError, match="Did you mean 'sharpe'"):
        heatmap_grid(grid.results, "fast", "slow", "sharp", agg="max")
    with pytest.raises(vec.ConfigError, match="agg"):
        heatmap_grid(grid.results, "fast", "slow", "sharpe", agg="sum")


def test_plot_heatmap_draws(grid):
    if not os.environ.get("ML4T_VEC_REQUIRE_EXTRAS"):
        pytest.importorskip("matplotlib", reason="matplotlib not installed: pip install -e '.[plot]'")
    import matplotlib

    matplotlib.use("Agg")
    ax = grid.plot_heatmap("fast", "slow", "sharpe", fixed={"stop_loss": None})
    assert ax.get_xlabel() == "fast" and ax.get_ylabel() == "slow"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2", "4", "6", "8"]
    assert "stop_loss=None" in ax.get_title()
    matplotlib.pyplot.close(ax.figure)
