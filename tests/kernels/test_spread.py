"""The bid-ask spread (``spread=``, ``spread_price=``), worked by hand: every fill pays half of it
per share, reported apart from slippage; sizing sees it; its errors. The reference engines
draw it in the Hypothesis parity tests (tests/property)."""

import numpy as np
import polars as pl
import pytest
from panels import one_asset

import ml4t_vec as vec
from ml4t_vec.errors import ConfigError, DataError

DF = one_asset([100.0, 100.0, 110.0, 120.0], [100.0, 105.0, 115.0, 120.0], [True, False, False, False],
               [False, True, False, False])  # fmt: skip


def test_a_round_trip_pays_half_the_spread_each_way_apart_from_slippage():
    """Buy 10 at bar 1's open 100 and sell at bar 2's open 110, 1% slippage and a 2% spread:
    buy at 100 x (1 + 0.01) + 1.00 = 102, sell at 110 x (1 - 0.01) - 1.10 = 107.8."""
    r = vec.backtest(DF, entries="e", exits="x", size=10, size_type="shares", slippage=0.01, spread=0.02)
    f = r.fills
    assert f["price"].to_list() == pytest.approx([102.0, 107.8])
    assert f["slippage"].to_list() == pytest.approx([10.0, 11.0])
    assert f["spread_cost"].to_list() == pytest.approx([10.0, 11.0])
    ref = np.array([100.0, 110.0])
    assert (f["slippage"] + f["spread_cost"]).to_numpy() == pytest.approx(10 * np.abs(f["price"].to_numpy() - ref))
    t = r.trades.row(0, named=True)
    assert (t["entry_slippage"], t["exit_slippage"], t["spread_cost"]) == pytest.approx((10.0, 11.0, 21.0))
    assert t["pnl"] == pytest.approx((107.8 - 102.0) * 10)
    s = r.stats().row(0, named=True)
    assert (s["total_slippage"], s["total_spread_cost"], s["total_costs"]) == pytest.approx((21.0, 21.0, 42.0))
    # costs never raise pnl: the same shares without the spread earn exactly its cost more
    r0 = vec.backtest(DF, entries="e", exits="x", size=10, size_type="shares", slippage=0.01)
    assert r0.trades["pnl"].sum() - r.trades["pnl"].sum() == pytest.approx(s["total_spread_cost"])


def test_spread_in_price_units_per_bar_and_its_nulls():
    """``spread_price`` from a column read at the fill bar: 0.5 at bar 1 (buy at 100.25), null at
    bar 2 (the sale pays none)."""
    df = DF.with_columns(q=pl.Series([9.0, 0.5, None, 3.0]))
    r = vec.backtest(df, entries="e", exits="x", size=10, size_type="shares", spread_price="q")
    assert r.fills["price"].to_list() == pytest.approx([100.25, 110.0])
    assert r.fills["spread_cost"].to_list() == pytest.approx([2.5, 0.0])
    assert r.fills["slippage"].to_list() == pytest.approx([0.0, 0.0])
    # the same as an expression; quoted bid and ask
    quotes = DF.with_columns(bid=pl.col("open") - 0.25, ask=pl.col("open") + 0.25)
    r2 = vec.backtest(quotes, entries="e", exits="x", size=10, size_type="shares",
                      spread_price=pl.col("ask") - pl.col("bid"))  # fmt: skip
    assert r2.fills["price"].to_list() == pytest.approx([100.25, 109.75])


def test_spread_by_asset_and_on_shorts():
    """A dict by asset; a short sells half the spread below and covers half above."""
    df = pl.concat([DF, DF.with_columns(asset=pl.lit("B"))])
    r = vec.backtest(df, short_entries="e", short_exits="x", size=10, size_type="shares",
                     spread={"A": 0.02, "B": 0.0}, cash_sharing=False)  # fmt: skip
    fa = r.fills.filter(pl.col("symbol") == "A")
    assert fa["price"].to_list() == pytest.approx([99.0, 111.1])
    assert r.fills.filter(pl.col("symbol") == "B")["price"].to_list() == pytest.approx([100.0, 110.0])
    assert r.trades.filter(pl.col("symbol") == "A")["spread_cost"].item() == pytest.approx(10.0 + 11.0)


def test_every_exit_pays_the_spread_at_its_own_reference():
    """A stop-loss exit at its level pays the spread even with ``stop_slippage=0`` and
    ``slippage_on="entries"`` (those change slippage only): bought at 100 x 1.01 + 1.00 = 102
    (1% slippage, half a 2% spread), the 5% stop at 102 x 0.95 = 96.9 (anchored at the fill),
    sold at 96.9 less half the spread, 96.9 x 0.99."""
    df = one_asset([100.0, 100.0, 99.0, 90.0], [100.0, 100.0, 97.0, 90.0], [True, False, False, False],
                   [False] * 4)  # fmt: skip
    r = vec.backtest(df, entries="e", size=10, size_type="shares", spread=0.02, slippage=0.01,
                     slippage_on="entries", stop_loss=0.05, stop_slippage=0.0)  # fmt: skip
    f = r.fills
    assert f["reason"].cast(pl.String).to_list() == ["signal", "stop_loss"]
    stop = 102.0 * 0.95
    assert f["price"].to_list() == pytest.approx([102.0, stop * 0.99])
    assert f["slippage"].to_list() == pytest.approx([10.0, 0.0])
    assert f["spread_cost"].to_list() == pytest.approx([10.0, 10 * stop * 0.01])


def test_an_all_in_entry_spends_its_cash_to_the_cent_with_the_spread():
    r = vec.backtest(DF, entries="e", exits="x", size=1.0, init_cash=10_000.0, spread=0.01, fees=0.001)
    buy = r.fills.row(0, named=True)
    assert buy["price"] == pytest.approx(100.5)
    assert buy["quantity"] * buy["price"] + buy["fees"] == pytest.approx(10_000.0, rel=1e-12)
    assert r.equity["cash"][1] == pytest.approx(0.0, abs=1e-9)


def test_target_weights_pay_the_spread_on_every_rebalance():
    df = pl.concat([DF, DF.with_columns(asset=pl.lit("B"), open=pl.col("open") * 2, close=pl.col("close") * 2,
                                        high=pl.col("high") * 2, low=pl.col("low") * 2)])  # fmt: skip
    r = vec.backtest(df, weights=pl.lit(0.4), spread=0.004, init_cash=10_000.0)
    f = r.fills.join(df.select("timestamp", "asset", "open").rename({"asset": "symbol"}), on=["timestamp", "symbol"])
    assert f.height > 2
    half = 0.002 * f["open"] * f["quantity"]
    assert f["spread_cost"].to_numpy() == pytest.approx(half.to_numpy())
    assert (f["price"] - f["open"]).abs().to_numpy() == pytest.approx((0.002 * f["open"]).to_numpy())
    assert f["slippage"].to_numpy() == pytest.approx(np.zeros(f.height), abs=1e-9)
    assert r.stats()["total_spread_cost"].item() == pytest.approx(f["spread_cost"].sum())


def test_a_swept_spread_matches_each_backtest():
    res = vec.sweep(DF, entries="e", exits="x", size=10, size_type="shares", params={"spread": [0.0, 0.01, 0.03]},
                    progress=False).results  # fmt: skip
    assert res.height == 3
    for row in res.iter_rows(named=True):
        one = vec.backtest(DF, entries="e", exits="x", size=10, size_type="shares", spread=row["spread"])
        assert row["total_spread_cost"] == pytest.approx(one.stats()["total_spread_cost"].item())
        assert row["final_equity"] == pytest.approx(one.stats()["final_equity"].item())


def test_bad_spreads_are_refused():
    with pytest.raises(ConfigError, match="either `spread`"):
        vec.backtest(DF, entries="e", exits="x", spread=0.01, spread_price=0.05)
    with pytest.raises(ConfigError, match="spread"):
        vec.backtest(DF, entries="e", exits="x", spread=0.8)
    with pytest.raises(ConfigError, match="spread_price"):
        vec.backtest(DF, entries="e", exits="x", spread_price=-0.01)
    with pytest.raises(ConfigError, match="no value for 1"):
        vec.backtest(pl.concat([DF, DF.with_columns(asset=pl.lit("B"))]), entries="e", exits="x", spread={"A": 0.01})
    bad = DF.with_columns(s=pl.Series([0.01, 0.9, 0.01, 0.01]))
    with pytest.raises(DataError, match=r"`spread` must lie in \[0.0, 0.5\].*A.*2024-01-03"):
        vec.backtest(bad, entries="e", exits="x", spread="s")


def test_a_swept_spread_by_asset_and_a_refused_swept_expression():
    df = pl.concat([DF, DF.with_columns(asset=pl.lit("B"))])
    sets = [{"A": 0.01, "B": 0.0}, {"A": 0.0, "B": 0.03}]
    res = vec.sweep(df, entries="e", exits="x", size=10, size_type="shares", params={"spread": sets},
                    progress=False).results  # fmt: skip
    for row, s in zip(res.iter_rows(named=True), sets, strict=True):
        one = vec.backtest(df, entries="e", exits="x", size=10, size_type="shares", spread=s).stats()
        assert row["total_spread_cost"] == pytest.approx(one["total_spread_cost"].item())
    with pytest.raises(ConfigError, match="`spread` as a sweep dimension takes numbers"):
        vec.sweep(df, entries="e", exits="x", params={"spread": [pl.lit(0.01), 0.0]}, progress=False)
