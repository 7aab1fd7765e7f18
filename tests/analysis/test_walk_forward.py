"""Walk-forward evaluation (``vec.walk_forward``): the fold windows by hand, the in-sample choice
equals each training window's sweep, the stitched out-of-sample run equals one backtest of the
chosen expressions evaluated on the whole frame (the warm-up before each test window is used,
nothing after it), and ``carry=False`` closes every position at its fold's end."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import ml4t_vec as vec
from ml4t_vec.walkforward import fold_windows

pytestmark = pytest.mark.filterwarnings("ignore::ml4t_vec.LookAheadWarning")


def ma(n):
    return pl.col("close").rolling_mean(n).over("asset")


def test_fold_windows_by_hand():
    assert fold_windows(10, 4, 2, None, False) == [(0, 4, 4, 6), (2, 6, 6, 8), (4, 8, 8, 10)]
    assert fold_windows(11, 4, 2, None, True) == [(0, 4, 4, 6), (0, 6, 6, 8), (0, 8, 8, 10), (0, 10, 10, 11)]
    assert fold_windows(10, 4, 3, 2, False) == [(0, 4, 4, 7), (2, 6, 6, 9), (4, 8, 8, 10)]
    for kw, name in (
        (dict(train=1, test=2), "train"),
        (dict(train=4, test=0), "test"),
        (dict(train=10, test=1), "train"),
    ):
        with pytest.raises(vec.ConfigError, match=f"`{name}`"):
            fold_windows(10, kw["train"], kw["test"], None, False)


@pytest.fixture(scope="module")
def prices():
    return vec.synthetic_prices(n_assets=4, n_bars=420, seed=9)


def test_choice_and_stitching(prices):
    grid = {"fast": [5, 10], "slow": [20, 40], "stop_loss": [0.03, 0.07]}
    wf = vec.walk_forward(prices, entries=lambda p: ma(p.fast) > ma(p.slow), exits=lambda p: ma(p.fast) < ma(p.slow),
                          params=grid, train=150, test=90, fees=0.001)  # fmt: skip
    stamps = prices.get_column("timestamp").unique().sort()
    assert wf.folds.get_column("test_start").to_list() == [stamps[150], stamps[240], stamps[330]]
    # fold 1's choice is the best set of a sweep over its training bars alone
    train = prices.filter(pl.col("timestamp").is_between(stamps[90], stamps[239]))
    g = vec.sweep(train, entries=lambda p: ma(p.fast) > ma(p.slow), exits=lambda p: ma(p.fast) < ma(p.slow),
                  params=grid, fees=0.001)  # fmt: skip
    best = g.best("sharpe", 1).row(0, named=True)
    assert {k: wf.folds.item(1, k) for k in grid} == {k: best[k] for k in grid}
    # the stitched run: each fold's expressions on the whole frame, rows from their own fold
    folds = wf.folds.rows(named=True)
    frame = prices.sort("asset", "timestamp")
    ent, ext, stop = pl.lit(False), pl.lit(False), pl.lit(None, dtype=pl.Float64)
    for f in reversed(folds):
        inside = pl.col("timestamp").is_between(f["test_start"], f["test_end"])
        ent = pl.when(inside).then(ma(f["fast"]) > ma(f["slow"])).otherwise(ent)
        ext = pl.when(inside).then(ma(f["fast"]) < ma(f["slow"])).otherwise(ext)
        stop = pl.when(inside).then(pl.lit(f["stop_loss"])).otherwise(stop)
    frame = frame.with_columns(e=ent, x=ext, sl=stop).filter(pl.col("timestamp") >= folds[0]["test_start"])
    manual = vec.backtest(frame, entries="e", exits="x", stop_loss="sl", fees=0.001)
    assert wf.result.trades.drop("position_id").equals(manual.trades.drop("position_id"))
    assert wf.result.equity.get_column("equity").to_list() == pytest.approx(
        manual.equity.get_column("equity").to_list()
    )
    # the warm-up: the first test bar's slow average uses the 39 bars before the test window
    assert frame.filter(pl.col("timestamp") == folds[0]["test_start"]).get_column("e").null_count() == 0
    oos = wf.folds.get_column("oos_return").to_numpy()
    assert np.prod(1 + oos) - 1 == pytest.approx(wf.stats().item(0, "total_return"), rel=1e-9)


def test_carry_false_closes_at_fold_ends(prices):
    wf = vec.walk_forward(prices, entries=lambda p: ma(p.fast) > ma(40), exits=lambda p: ma(p.fast) < ma(40),
                          params={"fast": [5, 10]}, train=150, test=90, carry=False)  # fmt: skip
    starts = wf.folds.get_column("test_start").to_list()
    closed = wf.result.trades.filter(pl.col("status") == "closed")
    assert closed.height > 0
    for entry, exit_ in closed.select("entry_time", "exit_time").iter_rows():
        k = max(i for i, s in enumerate(starts) if s <= entry)
        nxt = starts[k + 1] if k + 1 < len(starts) else None
        assert nxt is None or exit_ <= nxt, (entry, exit_)  # filled at the next fold's first bar at the latest


def test_errors(prices):
    kw = dict(entries=lambda p: ma(p.fast) > ma(40), train=150, test=90)
    with pytest.raises(vec.ConfigError, match="swept setting must be one of"):
        vec.walk_forward(prices, params={"fast": [5], "fees": [0.001, 0.002]}, **kw)
    with pytest.raises(vec.ConfigError, match="`carry=False` applies to signals"):
        vec.walk_forward(prices, weights=lambda p: vec.weights.top_k(pl.col("pred"), p.k), params={"k": [1]},
                         train=150, test=90, carry=False)  # fmt: skip
    with pytest.raises(vec.ConfigError, match="`train`"):
        vec.walk_forward(prices, params={"fast": [5]}, entries=kw["entries"], train=500, test=10)


def test_weights_walk_forward(prices):
    wf = vec.walk_forward(prices, weights=lambda p: vec.weights.top_k(pl.col("pred"), p.k), params={"k": [1, 2]},
                          train=150, test=90, rebalance="W")  # fmt: skip
    assert wf.folds.height == 3 and wf.result.fills.height > 0
    assert set(wf.folds.get_column("k").to_list()) <= {1, 2}
