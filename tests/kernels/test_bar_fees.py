"""Fees read per bar (``fees=``, ``fixed_fees=``, ``commission_per_share=`` as an expression or
column): each fill pays its own bar's values, worked by hand; their errors. The reference
engines draw them in the Hypothesis parity tests (tests/property)."""

import datetime as dt

import polars as pl
import pytest

import ml4t_vec as vec
from ml4t_vec.errors import ConfigError, DataError

D = [dt.date(2024, 1, d) for d in (2, 3, 4, 5)]
DF = pl.DataFrame(
    {
        "timestamp": D,
        "asset": ["A"] * 4,
        "open": [100.0, 100.0, 110.0, 120.0],
        "high": [130.0] * 4,
        "low": [90.0] * 4,
        "close": [100.0, 105.0, 115.0, 120.0],
        "e": [True, False, False, False],
        "x": [False, True, False, False],
        "f": [0.5, 0.01, None, 0.02],  # a fee per bar (bar 2's null: none)
        "c": [9.0, 0.01, 0.02, 0.0],
        "k": [5.0, 1.0, 2.0, 3.0],
    }
)


def test_each_fill_pays_its_own_bars_fees():
    """Buy 10 at bar 1's open 100: 1% of 1,000 + 0.01 x 10 + 1 = 11.10; sell 10 at bar 2's open
    110: a null fee (none) + 0.02 x 10 + 2 = 2.20. The signal bar's values (0.5, 9, 5) are not used."""
    r = vec.backtest(DF, entries="e", exits="x", size=10, size_type="shares", fees="f", commission_per_share="c",
                     fixed_fees="k")  # fmt: skip
    assert r.fills["fees"].to_list() == pytest.approx([11.1, 2.2])
    assert r.trades["fees"].item() == pytest.approx(13.3)
    same = vec.backtest(DF, entries="e", exits="x", size=10, size_type="shares", fees=pl.col("f"),
                        commission_per_share=pl.col("c") * 1.0, fixed_fees="k")  # fmt: skip
    assert same.fills.equals(r.fills)


def test_an_all_in_entry_is_sized_on_its_fill_bars_fee():
    r = vec.backtest(DF, entries="e", exits="x", size=1.0, init_cash=10_000.0, fees="f")
    buy = r.fills.row(0, named=True)
    assert buy["fees"] == pytest.approx(0.01 * buy["quantity"] * 100.0)
    assert buy["quantity"] * 100.0 + buy["fees"] == pytest.approx(10_000.0, rel=1e-12)


def test_target_weights_pay_the_fill_bars_fees():
    df = pl.concat([DF, DF.with_columns(asset=pl.lit("B"))])
    r = vec.backtest(df, weights=pl.lit(0.3), fees="f", init_cash=10_000.0)
    f = r.fills.join(df.select("timestamp", pl.col("asset").alias("symbol"), "f"), on=["timestamp", "symbol"])
    want = (f["quantity"] * f["price"] * f["f"].fill_null(0.0)).to_list()
    assert f["fees"].to_list() == pytest.approx(want)
    assert f.filter(pl.col("f").is_null()).height > 0  # a fill on the null bar paid none


def test_a_sweep_takes_fees_per_bar_as_a_fixed_setting_not_a_dimension():
    res = vec.sweep(DF, entries="e", exits="x", size=10, size_type="shares", fees="f",
                    params={"fixed_fees": [0.0, 1.0]}, progress=False).results  # fmt: skip
    for row in res.iter_rows(named=True):
        one = vec.backtest(DF, entries="e", exits="x", size=10, size_type="shares", fees="f",
                           fixed_fees=row["fixed_fees"])  # fmt: skip
        assert row["total_fees"] == pytest.approx(one.stats()["total_fees"].item())
    with pytest.raises(ConfigError, match="`fees` as a sweep dimension takes numbers"):
        vec.sweep(DF, entries="e", exits="x", params={"fees": [pl.col("f"), 0.001]}, progress=False)


def test_bad_fees_per_bar_are_refused():
    with pytest.raises(DataError, match=r"`fees` must lie in \[0.0, 0.5\].*A.*2024-01-02"):
        vec.backtest(DF, entries="e", exits="x", fees=pl.col("f") * 2)
    with pytest.raises(DataError, match=r"`fixed_fees` must lie"):
        vec.backtest(DF, entries="e", exits="x", fixed_fees=pl.col("k") - 4)
    with pytest.raises(ConfigError, match="either `commission`"):
        vec.backtest(DF, entries="e", exits="x", commission="ibkr_fixed", commission_per_share="c")
    with pytest.raises(ConfigError, match="size_rule='backtesting'.*`fees` is read per bar"):
        vec.backtest(DF, entries="e", exits="x", preset="backtesting", fees="f")
