"""Every bad input gets a clear error that names the problem (column, symbol, timestamp)."""

import datetime as dt
import re

import numpy as np
import polars as pl
import pytest

import ml4t_vec as vec
from ml4t_vec import ConfigError, DataError


@pytest.fixture
def prices():
    return vec.synthetic_prices(n_assets=3, n_bars=30, seed=7)


def bt(df, **kw):
    kw.setdefault("entries", pl.col("pred") > 0.6)
    return vec.backtest(df, **kw)


def raises(exc, *patterns):
    """pytest.raises that also checks several regexes against the message."""

    class _Ctx:
        def __enter__(self):
            self.ctx = pytest.raises(exc)
            self.info = self.ctx.__enter__()
            return self.info

        def __exit__(self, *a):
            out = self.ctx.__exit__(*a)
            msg = str(self.info.value)
            for p in patterns:
                assert re.search(p, msg), f"{p!r} not in: {msg}"
            return out

    return _Ctx()


def test_missing_column_did_you_mean(prices):
    with raises(DataError, "'close' is missing", "Did you mean 'closee'"):
        bt(prices.rename({"close": "closee"}))


def test_no_asset_column(prices):
    with raises(DataError, "no asset column", "asset_col="):
        bt(prices.rename({"asset": "name"}))
    with raises(DataError, "`asset_col` 'nme'", "Did you mean 'name'"):
        bt(prices.rename({"asset": "name"}), asset_col="nme")
    assert bt(prices.rename({"asset": "name"}), asset_col="name").trades.height > 0
    assert bt(prices.rename({"asset": "ticker"})).trades.height > 0  # detected


def test_duplicate_rows(prices):
    dup = pl.concat([prices, prices.slice(40, 1)])
    row = prices.row(40, named=True)
    with raises(DataError, "duplicate", f"asset='{row['asset']}'", str(row["timestamp"]), "unique"):
        bt(dup)


def test_unsorted_input_is_sorted(prices):
    shuffled = prices.sample(fraction=1.0, shuffle=True, seed=1)
    a, b = bt(prices), bt(shuffled)
    assert a.trades.equals(b.trades) and a.equity.equals(b.equity)


@pytest.mark.parametrize("bad", [np.nan, np.inf, 0.0, -5.0])
def test_bad_prices_name_column_symbol_time(prices, bad):
    i = 33
    row = prices.row(i, named=True)
    df = prices.with_columns(pl.when(pl.int_range(pl.len()) == i).then(bad).otherwise(pl.col("low")).alias("low"))
    with raises(DataError, "'low'", "finite prices > 0", f"asset='{row['asset']}'", str(row["timestamp"])):
        bt(df)


def test_null_price(prices):
    row = prices.row(5, named=True)
    df = prices.with_columns(pl.when(pl.int_range(pl.len()) == 5).then(None).otherwise(pl.col("open")).alias("open"))
    with raises(DataError, "'open' has 1 null", f"asset='{row['asset']}'", str(row["timestamp"])):
        bt(df)


def test_high_below_low_and_close_outside(prices):
    df = prices.with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(pl.col("low") - 1).otherwise(pl.col("high")).alias("high")
    )
    with raises(DataError, "'high' is below 'low'"):
        bt(df)
    df = prices.with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(pl.col("high") * 1.1).otherwise(pl.col("close")).alias("close")
    )
    with raises(DataError, "'close' lies outside \\[low, high\\]", "repair"):
        bt(df)


def test_null_keys(prices):
    df = prices.with_columns(pl.when(pl.int_range(pl.len()) == 2).then(None).otherwise(pl.col("asset")).alias("asset"))
    with raises(DataError, "'asset' has 1 null"):
        bt(df)


def test_timestamp_must_be_temporal(prices):
    with raises(DataError, "'timestamp' must be Date or Datetime", "to_datetime"):
        bt(prices.with_columns(pl.col("timestamp").cast(pl.String)))


def test_signal_must_be_boolean(prices):
    with raises(DataError, "`exits` must evaluate to Boolean", "Float64"):
        bt(prices, exits=pl.col("pred"))


def test_signal_unknown_column_did_you_mean(prices):
    with raises(DataError, "`entries` uses column 'prd'", "Did you mean 'pred'"):
        bt(prices, entries=pl.col("prd") > 0.5)


def test_signal_nulls_mean_false(prices):
    nulled = prices.with_columns(sig=pl.when(pl.col("pred") > 0.6).then(True).otherwise(None))
    a = bt(nulled, entries="sig", exits=pl.col("pred") < 0.4)
    b = bt(prices, entries=pl.col("pred") > 0.6, exits=pl.col("pred") < 0.4)
    assert a.trades.equals(b.trades)


def test_signal_series_is_refused(prices):
    with raises(DataError, "not a Series"):
        bt(prices, entries=prices["pred"] > 0.5)


def test_signals_frame_join_and_misalignment(prices):
    sig = prices.select("timestamp", "asset", score=pl.col("pred"))
    good = bt(prices.drop("pred"), signals=sig, entries=pl.col("score") > 0.6)
    assert good.trades.equals(bt(prices, entries=pl.col("pred") > 0.6).trades)
    shifted = sig.with_columns(pl.col("timestamp") + dt.timedelta(days=400))
    with raises(DataError, "misaligned", "no price row", "asset="):
        bt(prices.drop("pred"), signals=shifted, entries=pl.col("score") > 0.6)
    with raises(DataError, "key column 'timestamp' has dtype", "cast"):
        bt(
            prices.drop("pred"),
            signals=sig.with_columns(pl.col("timestamp").cast(pl.Datetime("us"))),
            entries=pl.col("score") > 0.6,
        )
    with raises(DataError, "`signals` has duplicate"):
        bt(prices.drop("pred"), signals=pl.concat([sig, sig.head(1)]), entries=pl.col("score") > 0.6)
    with raises(DataError, "also exist in `prices`"):
        bt(prices, signals=sig.rename({"score": "pred"}), entries=pl.col("pred") > 0.6)
    # price rows without a signal row are allowed: their signals are null = False
    partial = bt(prices.drop("pred"), signals=sig.head(10), entries=pl.col("score") > 0.6)
    assert partial.fills.height <= good.fills.height


@pytest.mark.parametrize(
    ("kw", "patterns"),
    [
        (dict(fill="next_bar"), ["`fill` must be one of", "Did you mean 'next_"]),
        (dict(size_type="precent"), ["`size_type`", "Did you mean 'percent'"]),
        (dict(size=-1.0), ["`size` must be in \\(0"]),
        (dict(size=10.0 * 100, size_type="percent"), ["fraction of equity", "size=0.1"]),
        (dict(size=float("inf"), size_type="shares"), ["`size` must be finite"]),
        (dict(fees=0.9), ["`fees` must be in"]),
        (dict(slippage=float("nan")), ["`slippage` must be a number"]),
        (dict(init_cash=0), ["`init_cash` must be in \\(0"]),
        (dict(cash_sharing="yes"), ["`cash_sharing` must be True or False"]),
        (dict(fractional=1), ["`fractional` must be True or False"]),
    ],
)
def test_absurd_parameters(prices, kw, patterns):
    with raises(ConfigError, *patterns):
        bt(prices, **kw)


def test_costs_by_asset_must_name_every_asset_and_no_other(prices):
    """A cost given as a dict by asset: an asset left out would trade without the cost (a
    ConfigError naming it), an unknown asset is a typo (a DataError naming it), and each
    number is checked like the scalar."""
    full = {"A0": 0.001, "A1": 0.002, "A2": 0.0}
    w = pl.col("pred") - pl.col("pred").mean().over("timestamp")
    for run in (lambda **kw: bt(prices, **kw), lambda **kw: vec.backtest(prices, weights=w, **kw)):
        with raises(ConfigError, "`fees` has no value for 1 of the 3 assets", "'A2'", "trade without it"):
            run(fees={"A0": 0.001, "A1": 0.002})
        with raises(DataError, "`commission_per_share` names assets that are not in the data", "'A7'"):
            run(commission_per_share=full | {"A7": 0.01})
        with raises(ConfigError, r"`slippage\['A1'\]` must be in \[0.0, 0.5\]"):
            run(slippage=full | {"A1": -0.01})
        with raises(ConfigError, r"`fixed_fees\['A0'\]` must be a number"):
            run(fixed_fees=full | {"A0": "1.0"})
        with raises(ConfigError, "`slippage_per_share` as a dict needs one number per asset"):
            run(slippage_per_share={})
        fills = run(fees=full).fills  # each fill pays its own asset's rate
        rate = fills.select("symbol", (pl.col("fees") / (pl.col("quantity") * pl.col("price"))).alias("r"))
        assert fills.height > 0
        assert all(abs(r - full[a]) < 1e-12 for a, r in rate.iter_rows())


def test_config_and_keywords_together(prices):
    with raises(ConfigError, "either `config=` or keyword"):
        bt(prices, config=vec.BacktestConfig(), fees=0.001)


def test_config_object_equals_keywords(prices):
    cfg = vec.BacktestConfig(costs=vec.CostConfig(fees=0.001), sizing=vec.SizingConfig(size=0.2))
    a = bt(prices, config=cfg)
    b = bt(prices, fees=0.001, size=0.2)
    assert a.trades.equals(b.trades) and a.config_hash == b.config_hash == cfg.hash()
    assert bt(prices, fees=0.002).config_hash != a.config_hash


def test_needs_entries(prices):
    with raises(ConfigError, "needs `entries=` or `short_entries=`"):
        vec.backtest(prices, exits="pred")


def test_prices_type_and_paths(prices, tmp_path):
    with raises(DataError, "must be a polars DataFrame", "pl.from_pandas"):
        bt(prices.to_dict())
    with raises(DataError, "path does not exist"):
        bt(tmp_path / "nope.parquet")
    f = tmp_path / "p.parquet"
    prices.write_parquet(f)
    assert bt(f).trades.equals(bt(prices).trades)
    hive = tmp_path / "hive"
    prices.write_parquet(hive, partition_by="asset")
    assert bt(hive).trades.equals(bt(prices).trades)
    assert bt(prices.lazy()).trades.equals(bt(prices).trades)


def test_empty_frame(prices):
    with raises(DataError, "no rows"):
        bt(prices.clear())


def test_integer_and_float32_prices_are_cast(prices):
    a = bt(prices.with_columns(pl.col("open", "high", "low", "close").cast(pl.Float32)))
    assert a.trades.height > 0
    ints = prices.with_columns((pl.col(c) * 100).round().cast(pl.Int64) for c in ("open", "high", "low", "close"))
    assert bt(ints).trades.height > 0


def test_custom_price_errors_name_the_price_expression(prices):
    df = prices.with_columns(vwap=pl.when(pl.int_range(pl.len()) == 7).then(None).otherwise(pl.col("close")))
    with raises(DataError, "the `price` expression has 1 null", "asset="):
        bt(df, price="vwap")
    with raises(DataError, "the `price` expression must hold finite prices > 0"):
        bt(prices, price=pl.col("close") - 1000)


def test_asset_column_dtypes(prices):
    """String, Categorical, Enum and integer asset columns; symbols come out as strings.
    Assets are ordered as their column sorts (lexical, numeric, or Enum category order), which
    sets the entry priority in a shared-cash portfolio."""
    kw = dict(exits=pl.col("pred") < 0.4, cash_sharing=False)
    base = bt(prices, **kw).trades
    shuffled = prices.sample(fraction=1.0, shuffle=True, seed=3)
    assert bt(shuffled.with_columns(pl.col("asset").cast(pl.Categorical)), **kw).trades.equals(base)
    enum = pl.Enum(sorted(prices["asset"].unique(), reverse=True))
    rev = bt(shuffled.with_columns(pl.col("asset").cast(enum)), **kw).trades
    # the same trades; position ids number one bar's entries in asset order, here reversed
    assert (
        rev.drop("position_id")
        .sort("symbol", "entry_time")
        .equals(base.drop("position_id").sort("symbol", "entry_time"))
    )
    assert rev["symbol"][0] == max(prices["asset"])  # Enum order: reversed
    ints = prices.with_columns(pl.col("asset").str.slice(1).cast(pl.Int32))
    assert bt(ints, **kw).trades["symbol"].unique().sort().to_list() == ["0", "1", "2"]


def test_timestamp_col_and_single_bar(prices):
    base = bt(prices).trades
    assert bt(prices.rename({"timestamp": "date"}), timestamp_col="date").trades.equals(base)
    one = bt(prices.filter(pl.col("timestamp") == pl.col("timestamp").min()))
    assert one.trades.height == 0 and one.equity.height == 1


def test_unknown_keyword_did_you_mean(prices):
    with raises(ConfigError, "unknown keyword argument 'entires'", "Did you mean 'entries'"):
        vec.backtest(prices, entires=pl.col("pred") > 0.5)
    with raises(ConfigError, "'stop_los'"):
        bt(prices, stop_los=0.05)


def test_rule_expressions_are_validated(prices):
    with raises(DataError, r"`stop_loss` must lie in \(0.0, 1.0\]", "asset="):
        bt(prices, stop_loss=pl.col("pred") - 0.5)
    with raises(DataError, "`take_profit` uses column 'atr'"):
        bt(prices, take_profit="atr")
    with raises(ConfigError, "`trailing_stop` must be in"):
        bt(prices, trailing_stop=1.5)


def test_size_expressions(prices):
    """A size per bar is read at the signal bar; it must be finite and > 0 where not null; a null
    size at an entry signal requests no shares (a zero_quantity row); backtesting.py's sizing
    takes one number."""
    with raises(DataError, r"`size` must lie in \(0.0, inf\)", "asset="):
        bt(prices, size=pl.col("pred") - 0.5)
    with raises(DataError, r"`size` must lie in", "asset="):
        bt(prices, size=pl.when(pl.col("pred") > 0.5).then(float("inf")).otherwise(0.1))
    with raises(ConfigError, "size_rule='backtesting' takes one number"):
        bt(prices, size=pl.col("pred"), size_rule="backtesting", fractional=False)
    entries = pl.col("pred") > 0.6
    none = vec.backtest(prices, entries=entries, exits=pl.col("pred") < 0.4, size=pl.lit(None, pl.Float64))
    assert none.fills.height == 0 and (none.rejected["reason"] == "zero_quantity").all() and none.rejected.height > 0
    # shares proportional to the score at the signal bar (next-open fills): quantity == 100 * pred
    res = vec.backtest(prices, entries=entries, exits=pl.col("pred") < 0.4, size=pl.col("pred") * 100,
                       size_type="shares", cash_sharing=False, init_cash=1e9)  # fmt: skip
    signal = (
        prices.select("timestamp", "asset", "pred")
        .sort("asset", "timestamp")
        .with_columns(fill_time=pl.col("timestamp").shift(-1).over("asset"))
    )
    entry = res.fills.filter(pl.col("effect") == "entry").join(
        signal, left_on=["symbol", "timestamp"], right_on=["asset", "fill_time"]
    )
    assert entry.height == res.fills.filter(pl.col("effect") == "entry").height > 5
    assert (entry["quantity"] - entry["pred"] * 100).abs().max() < 1e-9
    # one bar, independent accounts: a null size is still refused (it used to fill NaN shares)
    one = prices.filter(pl.col("timestamp") == pl.col("timestamp").min())
    with pytest.warns(vec.LookAheadWarning):
        res = vec.backtest(one, entries=pl.lit(True), size=pl.lit(None, pl.Float64), fill="same_close",
                           cash_sharing=False)  # fmt: skip
    assert res.fills.height == 0 and (res.rejected["reason"] == "zero_quantity").all() and res.rejected.height == 3


@pytest.mark.parametrize(
    "kw, patterns",
    [
        (dict(cash_rule="ml4t"), [r"shortfall='scale' does not apply", r"preset='ml4t'"]),
        (dict(preset="ml4t", fractional=True), [r"pass fractional=False", r"shortfall='reject'"]),
        (dict(preset="ml4t", priority="pred"), [r"`priority` does not apply", r"asset order"]),
        (dict(preset="backtesting"), [r"not available with `weights`", r"'vectorbt' or 'ml4t'"]),
    ],
)
def test_weights_under_ml4t_rules(prices, kw, patterns):
    with raises(ConfigError, *patterns):
        vec.backtest(prices, weights=pl.lit(0.2), **kw)


def test_weights_preset_ml4t_sets_its_conventions(prices):
    """preset='ml4t' with weights: ml4t-backtest's TargetWeightExecutor defaults (README "Presets");
    the caller's settings win, and fractional shares work with shortfall='reject'."""
    res = vec.backtest(prices, weights=pl.lit(0.3), preset="ml4t", rebalance="W")
    c = res.config
    rb = c.rebalance
    assert (c.execution.fill, rb.size_at, rb.missing, rb.rounding, rb.shortfall) == (
        "next_open", "decision", "flat", "nearest", "priority")  # fmt: skip
    assert (c.portfolio.cash_rule, c.portfolio.init_cash, c.sizing.fractional) == ("ml4t", 100_000.0, False)
    assert res.fills.height > 0 and (res.fills["quantity"] % 1 == 0).all()
    frac = vec.backtest(prices, weights=pl.lit(0.3), preset="ml4t", fractional=True, shortfall="reject")
    assert (frac.fills["quantity"] % 1 != 0).any()


def test_requested_quantity_is_never_negative(prices):
    """An entry that asks for nothing (a value size below the fixed fee; percent of an equity at or
    below 0) is a zero_quantity row with requested_quantity 0, not a negative quantity."""
    res = bt(prices, size=1.0, size_type="value", fixed_fees=2.5)
    assert res.fills.height == 0 and res.rejected.height > 0
    assert (res.rejected["reason"] == "zero_quantity").all() and (res.rejected["requested_quantity"] == 0).all()
