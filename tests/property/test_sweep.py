"""``vec.sweep``: every combination's in-kernel metrics equal ``backtest(...).stats()`` of the same
run; checkpoints resume after a real SIGKILL without lost or duplicated rows; bad grids fail
clearly."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from panels import panels, same_metric

import ml4t_vec as vec
from ml4t_vec import _batch as batch_mod
from ml4t_vec.metrics import STATS_DOC
from ml4t_vec.sweeps import METRICS as SWEEP_METRICS

pytestmark = pytest.mark.filterwarnings("ignore::ml4t_vec.LookAheadWarning")

METRICS = [m for m in STATS_DOC if m in SWEEP_METRICS]


def test_sweeps_report_the_core_metrics():
    """A sweep reduces each set to the core metrics in the kernels (README "Sweeps"); the others
    need per-bar or per-trade series a sweep does not keep."""
    assert list(SWEEP_METRICS) == METRICS
    core = {"final_equity", "total_return", "cagr", "volatility", "sharpe", "sortino", "calmar", "max_drawdown",
            "exposure", "n_trades", "n_open", "n_positions", "n_trade_rows", "win_rate", "profit_factor", "expectancy",
            "avg_win", "avg_loss", "position_win_rate", "position_profit_factor", "avg_position_pnl",
            "avg_bars_held", "total_fees", "total_slippage", "total_spread_cost", "total_impact_cost", "turnover",
            "turnover_per_rebalance"}  # fmt: skip
    assert set(METRICS) == core


def entries(p):
    return pl.col("s0") & (pl.col("close") > p.lo)


@settings(max_examples=25)
@given(
    panels(max_assets=3, max_bars=20),
    st.booleans(),
    st.sampled_from(["next_open", "next_close", "same_close"]),
    st.sampled_from([0.0, 0.001]),
)
def test_sweep_metrics_equal_backtest_stats(panel_df, cash_sharing, fill, fees):
    _, df = panel_df
    fixed = dict(exits="s1", short_entries="s2", short_exits="s3", fees=fees, fill=fill, cash_sharing=cash_sharing,
                 size=0.5, init_cash=10_000.0)  # fmt: skip
    grid = {"lo": [0.0, 60.0], "stop_loss": [None, 0.03], "take_profit": [0.05], "borrow_rate": [None, 2.0]}
    g = vec.sweep(df, entries=entries, params=grid, periods_per_year=252, **fixed)
    assert g.results.height == 8 and g.results["combo"].to_list() == list(range(8))
    for row in g.results.iter_rows(named=True):
        p = {k: row[k] for k in grid}
        want = vec.backtest(df, entries=entries(vec.Params(p)), **fixed, stop_loss=p["stop_loss"],
                            take_profit=p["take_profit"], borrow_rate=p["borrow_rate"]).stats(
            periods_per_year=252).row(0, named=True)  # fmt: skip
        for m in METRICS:
            assert same_metric(row[m], want[m]), (m, p, row[m], want[m])
        # and SweepResult.backtest reruns exactly that set
        again = g.backtest(**p).stats(periods_per_year=252).row(0, named=True)
        assert same_metric(again["final_equity"], row["final_equity"])


@settings(max_examples=20)
@given(panels(max_assets=3, max_bars=20, gaps=False), st.sampled_from(["next_open", "same_close"]), st.booleans())
def test_per_asset_rows_equal_each_asset_backtested_alone(panel_df, fill, one_batch):
    _, df = panel_df
    fixed = dict(exits="s1", short_entries="s2", short_exits="s3", fees=0.001, fill=fill, cash_sharing=False,
                 size=0.5, init_cash=10_000.0)  # fmt: skip
    grid = {"lo": [0.0, 60.0], "stop_loss": [None, 0.03]}
    g = vec.sweep(df, entries=entries, params=grid, periods_per_year=252, per_asset=True,
                  batch_size=None if one_batch else 1, **fixed)  # fmt: skip
    assert g.results.equals(vec.sweep(df, entries=entries, params=grid, periods_per_year=252, **fixed).results)
    symbols = sorted(df.get_column("asset").unique().to_list())
    assert g.asset_results.height == 4 * len(symbols)
    assert g.asset_results["asset"].to_list() == symbols * 4
    for row in g.asset_results.iter_rows(named=True):
        one = df.filter(pl.col("asset") == row["asset"])
        p = vec.Params({k: row[k] for k in grid})
        want = vec.backtest(one, entries=entries(p), **fixed, stop_loss=p.stop_loss).stats(periods_per_year=252)
        for m in METRICS:
            assert same_metric(row[m], want.row(0, named=True)[m]), (m, row["asset"], dict(p))


def test_window_conditions_evaluate_as_in_backtest():
    """Pins the Polars streaming-engine bug (_prepare._collect): a crossover built from
    ``.shift(1).over(asset)`` inside the packed ``when`` got rows of the wrong asset."""
    prices = vec.synthetic_prices(n_assets=20, n_bars=2520, seed=8)
    ma = lambda n: pl.col("close").rolling_mean(n).over("asset")  # noqa: E731
    up = lambda a, b: (a > b) & (a.shift(1).over("asset") <= b.shift(1).over("asset"))  # noqa: E731
    kw = dict(fees=0.001, cash_sharing=False)
    g = vec.sweep(prices, entries=lambda p: up(ma(p.fast), ma(p.slow)), exits=lambda p: up(ma(p.slow), ma(p.fast)),
                  params={"fast": [5, 10], "slow": [60]}, per_asset=True, **kw)  # fmt: skip
    for row in g.results.iter_rows(named=True):
        bt = vec.backtest(prices, entries=up(ma(row["fast"]), ma(60)), exits=up(ma(60), ma(row["fast"])), **kw)
        assert same_metric(row["total_return"], bt.stats()["total_return"][0])
        trades = bt.trades.group_by("symbol").len().sort("symbol")
        mine = g.asset_results.filter(pl.col("combo") == row["combo"]).sort("asset")
        assert (mine["n_trades"] + mine["n_open"]).to_list() == trades["len"].to_list()


@settings(max_examples=20)
@given(panels(max_assets=4, max_bars=20), st.sampled_from(["rank", "selector", "nested", "list_eval"]))
def test_shared_window_rewrite_keeps_meaning(panel_df, kind):
    """Sweeps compute each distinct window once (_prepare._shared_windows): cross-sectional
    windows on ragged panels, pattern-selected columns and windows inside windows give the
    backtest's signals."""
    _, df = panel_df
    sig = {
        "rank": lambda p: pl.col("close").rank().over("timestamp") <= p.k,
        "selector": lambda p: pl.any_horizontal(pl.col("^s[01]$")) & (pl.col("close").rank().over("asset") > p.k),
        "nested": lambda p: (pl.col("close") > pl.col("close").rolling_mean(p.k).over("asset")).over("asset"),
        # vec.weights' sums run as windows inside list.eval: the rewrite leaves the list body alone
        "list_eval": lambda p: vec.weights.proportional(pl.col("close")) > 0.05 * p.k,
    }[kind]
    kw = dict(exits="s1", fees=0.001, cash_sharing=False)
    g = vec.sweep(df, entries=sig, params={"k": [1, 2, 3]}, periods_per_year=252, **kw)
    for row in g.results.iter_rows(named=True):
        want = vec.backtest(df, entries=sig(vec.Params({"k": row["k"]})), **kw).stats(periods_per_year=252)
        for m in ("final_equity", "n_trades", "n_open", "total_fees"):
            assert same_metric(row[m], want[m][0]), (kind, row["k"], m)


def test_per_asset_needs_independent_accounts():
    prices = vec.synthetic_prices(n_assets=2, n_bars=50, seed=3)
    with pytest.raises(vec.ConfigError, match="cash_sharing=False"):
        vec.sweep(prices, entries=lambda p: pl.col("pred") > p.hi, params={"hi": [0.6]}, per_asset=True)


def test_grid_forms_where_sample_and_best():
    prices = vec.synthetic_prices(n_assets=2, n_bars=200, seed=3)
    ma = lambda n: pl.col("close").rolling_mean(n).over("asset")  # noqa: E731
    kw = dict(entries=lambda p: ma(p.fast) > ma(p.slow), exits=lambda p: ma(p.fast) < ma(p.slow), fees=0.001)
    g = vec.sweep(prices, params={"fast": range(2, 12), "slow": range(2, 12)}, where=lambda p: p.fast < p.slow, **kw)
    assert g.results.height == 45
    s = vec.sweep(prices, params={"fast": range(2, 12), "slow": range(2, 12)}, where=lambda p: p.fast < p.slow,
                  sample=7, seed=1, **kw)  # fmt: skip
    assert s.results.height == 7
    full = g.results.drop("combo")
    for row in s.results.drop("combo").iter_rows(named=True):  # a sample row is the grid's row
        match = full.filter((pl.col("fast") == row["fast"]) & (pl.col("slow") == row["slow"]))
        assert match.row(0, named=True) == row
    explicit = vec.sweep(prices, params=[{"fast": 3, "slow": 9}, {"fast": 5, "slow": 10}], **kw)
    assert explicit.results.select("fast", "slow").rows() == [(3, 9), (5, 10)]
    one_thread = vec.sweep(prices, params=[{"fast": 3, "slow": 9}, {"fast": 5, "slow": 10}], n_jobs=1, **kw)
    assert one_thread.results.equals(explicit.results)
    best = g.best("sharpe", n=3)
    assert best.height == 3 and best["sharpe"].to_list() == sorted(best["sharpe"].to_list(), reverse=True)
    assert best["sharpe"][0] == g.results["sharpe"].fill_nan(None).max()


def test_bad_grids_fail_clearly():
    prices = vec.synthetic_prices(n_assets=2, n_bars=50, seed=3)
    with pytest.raises(vec.ConfigError, match="empty"):
        vec.sweep(prices, entries="pred", params={"a": [1, 2]}, where=lambda p: p.a > 5)
    with pytest.raises(vec.ConfigError, match=r"combination 0 .*'slwo'.*Did you mean 'slow'"):
        vec.sweep(prices, entries=lambda p: pl.col("close") > p.slwo, params={"slow": [1, 2]})
    with pytest.raises(vec.DataError, match="combination 1"):
        vec.sweep(prices, entries=lambda p: pl.col(p.col) > 0, params={"col": ["close", "nope"]})
    with pytest.raises(vec.ConfigError, match="cannot be a sweep dimension"):
        vec.sweep(prices, entries=pl.col("pred") > 0.5, params={"fill": ["next_open", "same_close"]})
    with pytest.raises(vec.ConfigError, match=r"combination 1 .*stop_loss"):
        vec.sweep(prices, entries=pl.col("pred") > 0.5, params={"stop_loss": [0.05, -1.0]})
    with pytest.raises(vec.ConfigError, match="Did you mean 'fees'"):
        vec.sweep(prices, entries=pl.col("pred") > 0.5, params={"a": [1]}, fess=0.1)
    # an expression per set would be evaluated once, for the first set: refused
    for k, v in (("stop_loss", pl.col("pred") * 0.1), ("size", "pred"), ("take_profit", {"A0": 0.1, "A1": 0.2})):
        with pytest.raises(vec.ConfigError, match=f"`{k}` as a sweep dimension takes numbers"):
            vec.sweep(prices, entries=pl.col("pred") > 0.5, params={k: [v, 0.05]})


@settings(max_examples=15)
@given(panels(max_assets=3, max_bars=20), st.booleans(), st.sampled_from(["next_open", "same_close"]))
def test_sweep_with_a_size_expression_equals_backtest(panel_df, cash_sharing, fill):
    """A fixed ``size=`` expression is read at each entry's signal bar in every set, as in backtest."""
    _, df = panel_df
    fixed = dict(exits="s1", fill=fill, cash_sharing=cash_sharing, size=pl.col("szm") * 0.4, init_cash=10_000.0,
                 fees=0.001)  # fmt: skip
    g = vec.sweep(df, entries=entries, params={"lo": [0.0, 60.0], "stop_loss": [None, 0.03]}, periods_per_year=252,
                  **fixed)  # fmt: skip
    for row in g.results.iter_rows(named=True):
        p = {"lo": row["lo"], "stop_loss": row["stop_loss"]}
        want = vec.backtest(df, entries=entries(vec.Params(p)), stop_loss=p["stop_loss"], **fixed)
        got_eq = row["final_equity"]
        assert same_metric(got_eq, want.stats(periods_per_year=252)["final_equity"][0]), (p, got_eq)


def test_checkpoint_resumes_and_refuses_another_sweep(tmp_path, monkeypatch):
    prices = vec.synthetic_prices(n_assets=2, n_bars=120, seed=5)
    kw = dict(entries=lambda p: pl.col("pred") > p.hi, exits=lambda p: pl.col("pred") < 0.4,
              params={"hi": [0.55, 0.6, 0.65, 0.7, 0.75]}, batch_size=2, fees=0.001)  # fmt: skip
    plain = vec.sweep(prices, **kw).results
    first = vec.sweep(prices, checkpoint=tmp_path, **kw).results
    assert first.equals(plain)
    assert sorted(p.name for p in tmp_path.glob("part-*.parquet")) == [f"part-0000{i}.parquet" for i in range(3)]
    calls = []
    real = batch_mod.run_batch
    monkeypatch.setattr(batch_mod, "run_batch", lambda *a: calls.append(1) or real(*a))
    (tmp_path / "part-00001.parquet").unlink()  # as if the run died before this batch
    again = vec.sweep(prices, checkpoint=tmp_path, **kw).results
    assert again.equals(plain) and len(calls) == 1
    with pytest.raises(vec.ConfigError, match="holds a different sweep"):
        vec.sweep(prices, checkpoint=tmp_path, **(kw | {"params": {"hi": [0.55, 0.6]}}))
    with pytest.raises(vec.ConfigError, match="holds a different sweep"):
        vec.sweep(prices.with_columns(pl.col("open", "high", "low", "close") * 1.01), checkpoint=tmp_path, **kw)


KILLED_SWEEP = textwrap.dedent(
    """
    import sys, time
    import polars as pl
    import ml4t_vec as vec
    from ml4t_vec import _batch as batch_mod

    real = batch_mod.run_batch
    def slow(*a):
        out = real(*a)
        time.sleep(float(sys.argv[2]))  # slow batches so the parent can kill the run mid-way
        return out
    batch_mod.run_batch = slow
    prices = vec.synthetic_prices(n_assets=2, n_bars=150, seed=9)
    res = vec.sweep(prices, entries=lambda p: pl.col("pred") > p.hi, exits=lambda p: pl.col("pred") < p.lo,
                    params={"hi": [0.55, 0.6, 0.65, 0.7], "lo": [0.3, 0.4, 0.45]}, batch_size=2,
                    checkpoint=sys.argv[1], fees=0.001)
    res.results.write_parquet(sys.argv[1] + "/done.parquet")
    """
)


def test_sigkilled_sweep_resumes_without_lost_or_duplicated_rows(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(KILLED_SWEEP)
    ck = tmp_path / "ck"
    proc = subprocess.Popen([sys.executable, str(script), str(ck), "0.5"])
    deadline = time.time() + 240
    while time.time() < deadline and len(list(ck.glob("part-*.parquet"))) < 2:
        time.sleep(0.05)
        assert proc.poll() is None, "the sweep ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(list(ck.glob("part-*.parquet")))
    assert 2 <= done_before < 6, done_before
    assert not list(ck.glob("*.tmp")) or True  # a half-written temp file may remain; it is never read
    # started again with the same arguments: finishes, recomputing only the missing batches
    subprocess.run([sys.executable, str(script), str(ck), "0"], check=True)
    resumed = pl.read_parquet(ck / "done.parquet")
    clean = tmp_path / "clean"
    subprocess.run([sys.executable, str(script), str(clean), "0"], check=True)
    uninterrupted = pl.read_parquet(clean / "done.parquet")
    assert resumed.height == 12 and resumed["combo"].to_list() == list(range(12))
    assert resumed.equals(uninterrupted)
