"""The ``.vec`` namespace: the same results as the functions, on DataFrames and LazyFrames;
registration is idempotent, warns about nothing, and never takes over someone else's ``vec``."""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import ml4t_vec as vec
import ml4t_vec.namespace as ns

ENTRIES, EXITS = pl.col("pred") > 0.6, pl.col("pred") < 0.4


def ma(n):
    return pl.col("close").rolling_mean(n).over("asset")


@pytest.fixture(scope="module")
def prices() -> pl.DataFrame:
    return vec.synthetic_prices(n_assets=4, n_bars=300, seed=7)


def same_backtest(a: vec.BacktestResult, b: vec.BacktestResult) -> None:
    assert a.fingerprint == b.fingerprint and a.config_hash == b.config_hash
    for name in ("trades", "fills", "rejected", "equity"):
        assert_frame_equal(getattr(a, name), getattr(b, name))
    assert_frame_equal(a.stats(), b.stats())


@pytest.mark.parametrize("lazy", [False, True], ids=["DataFrame", "LazyFrame"])
def test_backtest_is_the_function(prices, lazy):
    frame = prices.lazy() if lazy else prices
    kw = dict(entries=ENTRIES, exits=EXITS, fees=0.001, stop_loss=0.05, size=0.2)
    same_backtest(frame.vec.backtest(**kw), vec.backtest(prices, **kw))


def test_backtest_weights(prices):
    kw = dict(weights=vec.weights.top_k(pl.col("pred"), 2), rebalance="M", fees=0.0005)
    same_backtest(prices.vec.backtest(**kw), vec.backtest(prices, **kw))


def test_errors_are_the_function_errors(prices):
    with pytest.raises(vec.ConfigError, match="Did you mean 'fees'"):
        prices.vec.backtest(entries=ENTRIES, feez=0.001)


@pytest.mark.parametrize("lazy", [False, True], ids=["DataFrame", "LazyFrame"])
def test_sweep_is_the_function(prices, lazy):
    frame = prices.lazy() if lazy else prices
    kw = dict(entries=lambda p: ma(p.fast) > ma(p.slow), exits=lambda p: ma(p.fast) < ma(p.slow),
              params={"fast": [3, 5], "slow": [20], "stop_loss": [None, 0.05]}, fees=0.001)  # fmt: skip
    a, b = frame.vec.sweep(**kw), vec.sweep(prices, **kw)
    assert_frame_equal(a.results, b.results)
    assert a.params == b.params


@pytest.mark.parametrize("lazy", [False, True], ids=["DataFrame", "LazyFrame"])
def test_signal_report_is_the_function(prices, lazy):
    frame = prices.lazy() if lazy else prices
    a = frame.vec.signal_report("pred", horizons=(1, 5), quantiles=3)
    b = vec.signal_report(prices, "pred", (1, 5), 3)
    for name in ("ic", "summary", "quantile_returns", "spread", "turnover", "autocorrelation"):
        assert_frame_equal(getattr(a, name), getattr(b, name))
    assert (a.horizons, a.quantiles, a.price) == (b.horizons, b.quantiles, b.price)
    c = prices.vec.signal_report(pl.col("pred"), (1, 5), 3, price="close")
    assert_frame_equal(c.summary, vec.signal_report(prices, "pred", (1, 5), 3, price="close").summary)


def test_registered_on_both_frame_types():
    assert pl.DataFrame.vec is ns.VecFrame and pl.LazyFrame.vec is ns.VecFrame
    assert "backtest" in repr(pl.DataFrame({"a": [1]}).vec)


def test_register_is_idempotent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ns.register()
        ns.register()
        reloaded = importlib.reload(ns)
    try:
        assert pl.DataFrame.vec is reloaded.VecFrame and pl.LazyFrame.vec is reloaded.VecFrame
    finally:
        reloaded.register()


def test_leaves_another_packages_vec_alone(monkeypatch):
    class Theirs:
        def __init__(self, df):
            self.df = df

    Theirs.__module__ = "someone_else"
    with monkeypatch.context() as m:
        m.setattr(pl.DataFrame, "vec", Theirs)
        with pytest.warns(UserWarning, match=r"`pl.DataFrame.vec` is already taken \(by someone_else\)"):
            ns.register()
        assert pl.DataFrame.vec is Theirs
        assert pl.LazyFrame.vec is ns.VecFrame
    assert isinstance(pl.DataFrame({"a": [1]}).vec, ns.VecFrame)  # the namespace is back


def test_vec_is_free_in_polars_and_import_warns_nothing():
    """In a fresh interpreter: Polars has no ``vec`` of its own, and importing ml4t_vec's namespace
    under ``-W error`` raises no warning."""
    code = (
        "import polars as pl\n"
        "assert not hasattr(pl.DataFrame, 'vec') and not hasattr(pl.LazyFrame, 'vec')\n"
        "import ml4t_vec.namespace as ns\n"
        "assert pl.DataFrame.vec is ns.VecFrame and pl.LazyFrame.vec is ns.VecFrame\n"
    )
    subprocess.run([sys.executable, "-W", "error", "-c", code], check=True, timeout=120)
