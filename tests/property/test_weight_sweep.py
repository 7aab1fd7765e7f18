"""``vec.sweep(weights=...)``: every set's metrics equal ``backtest(weights=...).stats()`` of the same
run (random panels with gaps; swept schedules, thresholds, lots, shortfall, hold-aware buffers
and costs; one thread and several); a checkpoint resumes; bad grids fail clearly."""

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from panels import frame, same_metric, weight_cases, weight_keywords

import ml4t_vec as vec
from ml4t_vec.sweeps import METRICS

pytestmark = pytest.mark.filterwarnings("ignore::ml4t_vec.LookAheadWarning", "ignore::ml4t_vec.DataWarning")


def weights_of(p):
    if p.k == 0:
        return pl.col("w") * p.scale
    return vec.weights.top_k("w", p.k, 1, buffer=p.buffer)


@settings(max_examples=25, deadline=None)
@given(weight_cases(), st.sampled_from([1, 2]), st.data())
def test_weight_sweep_metrics_equal_backtest_stats(case, n_jobs, data):
    panel, weights, _, cfg = case
    df = frame(panel, weights, None)
    swept = ("priority", "top_k", "shortfall", "min_weight_change", "lot_size", "drift_band")
    fixed = weight_keywords({k: v for k, v in cfg.items() if k not in swept and k != "custom_price"})
    if cfg["custom_price"]:
        fixed["price"] = "px"
    if fixed["cash_rule"] == "ml4t":
        fixed["fractional"] = False
    grid = {
        "k": [0, 2],
        "scale": [1.0, 0.5],
        "buffer": [0, 1],
        "rebalance": data.draw(st.sampled_from([["every_bar", 2], [3]])),
        "min_weight_change": [0.0, 0.05],
        "lot_size": data.draw(st.sampled_from([[None], [None, 5]])),
        "shortfall": ["reject"] + ([] if fixed["cash_rule"] == "ml4t" else ["scale"]),
    }
    g = vec.sweep(df, weights=weights_of, params=grid, periods_per_year=252, n_jobs=n_jobs, progress=False,
                  batch_size=data.draw(st.sampled_from([None, 3])), **fixed)  # fmt: skip
    assert g.results["combo"].to_list() == list(range(g.results.height))
    for row in g.results.iter_rows(named=True):
        p = {k: row[k] for k in grid}
        swept = {k: p[k] for k in ("rebalance", "min_weight_change", "lot_size", "shortfall")}
        if isinstance(swept["rebalance"], str) and swept["rebalance"].isdigit():
            swept["rebalance"] = int(swept["rebalance"])
        want = vec.backtest(df, weights=weights_of(vec.Params(p)), **fixed, **swept).stats(periods_per_year=252)
        want = want.row(0, named=True)
        for m in METRICS:
            assert same_metric(row[m], want[m]), (m, p, row[m], want[m])


def test_rerun_and_best():
    prices = vec.synthetic_prices(n_assets=12, n_bars=260, seed=4)
    score = pl.col("close").pct_change(10).over("asset")
    g = vec.sweep(prices, weights=lambda p: vec.weights.top_k(score, p.k, buffer=p.b),
                  params={"k": [2, 4], "b": [0, 3]}, rebalance="W", fees=0.001, progress=False)  # fmt: skip
    best = g.best("sharpe", n=1).row(0, named=True)
    again = g.backtest(k=best["k"], b=best["b"]).stats().row(0, named=True)
    assert again["sharpe"] == pytest.approx(best["sharpe"], rel=1e-12)
    # a buffer cuts turnover for each k
    r = g.results.sort("k", "b")
    assert r.filter(pl.col("b") == 3)["turnover"].to_list() < r.filter(pl.col("b") == 0)["turnover"].to_list()


def test_position_rules_as_dimensions():
    prices = vec.synthetic_prices(n_assets=8, n_bars=200, seed=6)
    grid = {"stop_loss": [None, 0.02], "trailing_stop": [None, 0.05], "max_bars": [None, 10]}
    g = vec.sweep(prices, weights=vec.weights.top_k("pred", 3), params=grid, rebalance="W", fees=0.001, progress=False)
    for row in g.results.iter_rows(named=True):
        p = {k: row[k] for k in grid}
        want = vec.backtest(prices, weights=vec.weights.top_k("pred", 3), rebalance="W", fees=0.001, **p).stats()
        for m in METRICS:
            assert same_metric(row[m], want.row(0, named=True)[m]), (m, p)
    assert g.results.filter(pl.col("stop_loss").is_null() & pl.col("trailing_stop").is_null()
                            & pl.col("max_bars").is_null())["n_trades"][0] < g.results["n_trades"].max()  # fmt: skip


def test_checkpoint_resumes(tmp_path):
    prices = vec.synthetic_prices(n_assets=6, n_bars=120, seed=5)
    kw = dict(weights=lambda p: vec.weights.top_k("pred", p.k), params={"k": [1, 2, 3]}, batch_size=1,
              checkpoint=tmp_path, progress=False)  # fmt: skip
    first = vec.sweep(prices, **kw)
    (tmp_path / "part-00001.parquet").unlink()
    again = vec.sweep(prices, **kw)
    assert again.timings["batches_resumed"] == 2 and again.timings["batches_run"] == 1
    assert again.results.equals(first.results)


def test_bad_weight_grids_fail_clearly():
    prices = vec.synthetic_prices(n_assets=3, n_bars=60, seed=3)
    with pytest.raises(vec.ConfigError, match="either `weights=` or signals"):
        vec.sweep(prices, weights="pred", entries="pred", params={"fees": [0.0, 0.001]})
    with pytest.raises(vec.ConfigError, match="`rebalance` as a sweep dimension"):
        vec.sweep(prices, weights="pred", params={"rebalance": [pl.col("pred") > 0.5, "M"]})
    with pytest.raises(vec.ConfigError, match=r"combination 1 .*max_net_exposure .*not available"):
        vec.sweep(prices, weights="pred", params={"max_net_exposure": [None, 0.5]})
    with pytest.raises(vec.ConfigError, match=r"`weights` must return .*combination 0"):
        vec.sweep(prices, weights=lambda p: p.k, params={"k": [1, 2]})
    with pytest.raises(vec.DataError, match=r"weights \(combination 1 .*must lie"):
        vec.sweep(prices, weights=lambda p: pl.col("pred") / p.d, params={"d": [1.0, 0.0]})
