"""``load_sample``: the shipped ``stocks`` panel (shape, schema, clean ragged bars), its errors, a
backtest on it, the wheel's package data, and (with ``bokeh-sampledata``) a rebuild from source."""

from __future__ import annotations

import datetime as dt
import doctest
import fnmatch
import importlib
import importlib.util
import os
import tomllib
from pathlib import Path

import polars as pl
import pytest

import ml4t_vec as vec
import ml4t_vec.samples
from ml4t_vec.samples import SAMPLES, load_sample, sample_path

ROOT = Path(__file__).resolve().parents[2]
COLUMNS = {"timestamp": pl.Date, "asset": pl.String, "open": pl.Float64, "high": pl.Float64, "low": pl.Float64,
           "close": pl.Float64, "volume": pl.Float64}  # fmt: skip
FIRST = {"AAPL": dt.date(2000, 3, 1), "FB": dt.date(2012, 5, 18), "GOOG": dt.date(2004, 8, 19),
         "IBM": dt.date(2000, 3, 1), "MSFT": dt.date(2000, 3, 1)}  # fmt: skip
LAST = dt.date(2013, 3, 1)


@pytest.fixture(scope="module")
def stocks() -> pl.DataFrame:
    return load_sample("stocks")


def test_shape_columns_and_dtypes(stocks):
    assert stocks.shape == (12_154, 7)
    assert dict(stocks.schema) == COLUMNS
    assert sample_path("stocks").stat().st_size < 1_000_000  # commit-ready


def test_clean_bars(stocks):
    assert stocks.null_count().sum_horizontal().item() == 0
    prices = pl.col("open", "high", "low", "close")
    assert stocks.select((prices.is_finite() & (prices > 0)).all()).row(0) == (True,) * 4
    assert stocks.select((pl.col("volume") >= 0).all()).item()
    lo, hi = pl.min_horizontal("open", "close"), pl.max_horizontal("open", "close")
    assert stocks.filter((pl.col("low") > lo) | (pl.col("high") < hi)).height == 0
    assert stocks.select(pl.struct("asset", "timestamp").is_unique().all()).item()


def test_sorted_by_asset_then_time(stocks):
    assert stocks.equals(stocks.sort("asset", "timestamp"))


def test_ragged_spans(stocks):
    ts = pl.col("timestamp")
    span = stocks.group_by("asset").agg(ts.min().alias("first"), ts.max().alias("last"))
    assert {r["asset"]: r["first"] for r in span.iter_rows(named=True)} == FIRST
    assert set(span["last"]) == {LAST}
    assert stocks["timestamp"].n_unique() == 3_270
    assert stocks.filter(pl.col("asset") == "FB").height == 196


def test_adjusted_for_splits(stocks):
    """AAPL split 2:1 on 2005-02-28: unadjusted closes halve overnight, adjusted ones do not."""
    days = pl.col("timestamp").is_between(dt.date(2005, 2, 25), dt.date(2005, 2, 28))
    aapl = stocks.filter((pl.col("asset") == "AAPL") & days)
    before, after = aapl["close"].to_list()
    assert 0.9 < after / before < 1.1


def test_lazy(stocks):
    lf = load_sample("stocks", lazy=True)
    assert isinstance(lf, pl.LazyFrame)
    assert lf.collect().equals(stocks)
    assert lf.filter(pl.col("asset") == "FB").select(pl.len()).collect().item() == 196


def test_errors_list_the_names():
    listed = r"`name` must be one of \['stocks'\]; got 'stock'. Did you mean 'stocks'"
    with pytest.raises(vec.ConfigError, match=listed):
        load_sample("stock")
    with pytest.raises(vec.ConfigError, match="`name` must be one of"):
        load_sample("crypto")
    with pytest.raises(vec.ConfigError, match="`lazy` must be True or False"):
        load_sample("stocks", lazy="yes")


def test_missing_file_says_so(monkeypatch, tmp_path):
    monkeypatch.setattr(ml4t_vec.samples, "_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="installed without its data files"):
        load_sample("stocks")


def test_backtest_on_ragged_panel(stocks):
    above = pl.col("close").rolling_mean(20).over("asset") > pl.col("close").rolling_mean(60).over("asset")
    res = vec.backtest(stocks, entries=above, exits=~above, fees=0.001)
    assert res.equity.height == 3_270
    trades = res.trades
    assert set(trades["symbol"]) == set(FIRST)
    first = trades.group_by("symbol").agg(pl.col("entry_time").min())
    for sym, t in first.iter_rows():
        assert t > FIRST[sym]  # next-open fills after the first signal, never before the asset is listed
    fb = res.fills.filter(pl.col("symbol") == "FB")
    assert fb.height > 0 and fb["timestamp"].min() > FIRST["FB"]
    pnl = trades["pnl"].sum()
    assert res.equity["equity"][-1] == pytest.approx(res.init_cash_total + pnl, rel=1e-9)


def test_doctest():
    assert doctest.testmod(ml4t_vec.samples, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0


def test_every_sample_file_is_package_data():
    """The wheel carries the data and its README: ``[tool.setuptools.package-data]`` matches them."""
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = conf.get("tool", {}).get("setuptools", {}).get("package-data", {}).get("ml4t_vec", [])
    shipped = [f"sample_data/{file}" for file, _ in SAMPLES.values()] + ["sample_data/README.md"]
    for rel in shipped:
        assert (ROOT / "ml4t_vec" / rel).is_file(), rel
        assert any(fnmatch.fnmatch(rel, p) for p in patterns), f"{rel} is not in [tool.setuptools.package-data]"


def test_rebuild_from_bokeh_sampledata_is_the_same_data(stocks):
    """``make_stocks.py`` rebuilds the committed file from the installed ``bokeh-sampledata``."""
    if os.environ.get("ML4T_VEC_REQUIRE_PEERS"):
        importlib.import_module("bokeh_sampledata")
    else:
        pytest.importorskip("bokeh_sampledata", reason="bokeh-sampledata not installed: pip install -e '.[peers]'")
    spec = importlib.util.spec_from_file_location("make_stocks", ROOT / "ml4t_vec" / "sample_data" / "make_stocks.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    assert make.build().equals(stocks)
