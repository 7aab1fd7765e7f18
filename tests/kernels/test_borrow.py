"""Borrow fees on shorts (``borrow_rate``), hand-computed: a short pays |quantity| x its last close
x the rate / 360 for each calendar day since the previous bar of the time axis (a weekend counts
three), debited from cash before the bar starts, at the rate read at the asset's last bar. Each
trade row carries its share (``borrow_cost``) and its ``pnl`` is net of it."""

import datetime as dt

import polars as pl
import pytest

import ml4t_vec as vec
from ml4t_vec import ConfigError, DataError

# Thu 4 Jan 2024, Fri 5, Mon 8, Tue 9, Wed 10: nights before each bar 0, 1, 3, 1, 1
DAYS = [dt.date(2024, 1, 4), dt.date(2024, 1, 5), dt.date(2024, 1, 8), dt.date(2024, 1, 9), dt.date(2024, 1, 10)]
CLOSE = [100.0, 100.0, 110.0, 105.0, 100.0]


def frame(assets=("X",), rate=None) -> pl.DataFrame:
    rows = []
    for a in assets:
        for i, (d, c) in enumerate(zip(DAYS, CLOSE, strict=True)):
            rows.append(dict(timestamp=d, asset=a, open=c, high=c * 1.01, low=c * 0.99, close=c, se=i == 0, sx=i == 3,
                             rate=None if rate is None else rate[i]))  # fmt: skip
    return pl.DataFrame(rows, schema_overrides={"rate": pl.Float64})


pytestmark = pytest.mark.filterwarnings("ignore::ml4t_vec.LookAheadWarning")

KW = dict(short_entries="se", short_exits="sx", size=10, size_type="shares", fill="same_close", init_cash=10_000)


@pytest.mark.parametrize("cash_sharing", [True, False])
def test_weekend_counts_three_nights(cash_sharing):
    """Short 10 at Thursday's close 100, covered at Tuesday's close 105, 36% a year (0.1% a day):
    Fri 10 x 100 x 0.001 = 1.0; Mon 3 nights x 10 x 100 x 0.001 = 3.0; Tue 10 x 110 x 0.001 =
    1.1: 5.1 in all, and pnl = (100 - 105) x 10 - 5.1 = -55.1."""
    res = vec.backtest(frame(), borrow_rate=0.36, cash_sharing=cash_sharing, **KW)
    t = res.trades.row(0, named=True)
    assert t["borrow_cost"] == pytest.approx(5.1, rel=1e-12)
    assert t["pnl"] == pytest.approx(-55.1, rel=1e-12)
    cash = res.equity.get_column("cash").to_list()
    assert cash == pytest.approx([11_000.0, 10_999.0, 10_996.0, 10_996.0 - 1.1 - 1050.0, 9944.9], rel=1e-12)
    stats = res.stats().row(0, named=True)
    assert stats["total_borrow_cost"] == pytest.approx(5.1, rel=1e-12)
    assert stats["total_costs"] == pytest.approx(5.1, rel=1e-12)


@pytest.mark.parametrize("fill", ["next_open", "next_close", "same_close"])
def test_a_short_pays_for_the_nights_it_is_held_over(fill):
    """Entered on Friday's bar (signal Thursday, next_*) or at Thursday's close: what it pays is
    the nights between the bar it was held at and the next, nothing for the night before its
    entry bar. Exit on Wednesday's bar (next_*) or at Tuesday's close."""
    res = vec.backtest(frame(), borrow_rate=0.36, **(KW | dict(fill=fill)))
    t = res.trades.row(0, named=True)
    if fill == "same_close":  # held over Thu->Fri, Fri->Mon, Mon->Tue
        want = 1.0 + 3.0 + 1.1
    elif fill == "next_open":  # opened at Friday's open: Fri->Mon, Mon->Tue, Tue->Wed (closed at Wed's open)
        want = 3.0 + 1.1 + 10 * 105 * 0.001
    else:  # opened at Friday's close: the same nights
        want = 3.0 + 1.1 + 10 * 105 * 0.001
    assert t["borrow_cost"] == pytest.approx(want, rel=1e-12)
    eq = res.equity.get_column("equity")[-1]
    assert res.trades.get_column("pnl").sum() == pytest.approx(eq - 10_000, rel=1e-12)


def test_longs_pay_nothing_and_no_rate_is_no_fee():
    long = vec.backtest(frame(), entries="se", exits="sx", borrow_rate=0.36, size=10, size_type="shares",
                        fill="same_close")  # fmt: skip
    assert long.trades.get_column("borrow_cost").to_list() == [0.0]
    off = vec.backtest(frame(), **KW)
    assert off.trades.get_column("borrow_cost").to_list() == [0.0]
    assert off.trades.get_column("pnl").to_list() == [-50.0]


def test_rate_per_bar_is_read_at_the_assets_last_bar_before_the_nights():
    """A hard-to-borrow rate as data: 36% on Thursday, 72% from Friday, null (no fee) on Monday:
    Fri 1.0 (Thursday's 36%); Mon 3 x 10 x 100 x 0.002 = 6.0 (Friday's 72%); Tue 0 (Monday's
    null)."""
    res = vec.backtest(frame(rate=[0.36, 0.72, None, 0.72, 0.72]), borrow_rate="rate", **KW)
    assert res.trades.get_column("borrow_cost").to_list() == pytest.approx([7.0], rel=1e-12)
    by_asset = vec.backtest(frame(("X", "Y")), borrow_rate={"X": 0.36, "Y": 0.0}, **KW)
    assert by_asset.trades.get_column("borrow_cost").to_list() == pytest.approx([5.1, 0.0], rel=1e-12)


def test_a_partial_cover_takes_its_share_of_the_borrow_fees():
    """A target-weight short resized: each trade row takes the borrow fees of its shares, pro
    rata, and the rows sum to what the account paid."""
    df = frame(("X", "Y")).with_columns(w=pl.when(pl.col("asset") == "X").then(pl.lit(-0.5)).otherwise(0.1))
    res = vec.backtest(df, weights="w", borrow_rate=0.36, fill="same_close", init_cash=10_000)
    rows = res.trades.filter(pl.col("symbol") == "X")
    assert (rows.get_column("borrow_cost") > 0).all()
    paid = res.stats().row(0, named=True)["total_borrow_cost"]
    assert rows.get_column("borrow_cost").sum() == pytest.approx(paid, rel=1e-12)
    eq = res.equity.get_column("equity")[-1]
    assert res.trades.get_column("pnl").sum() == pytest.approx(eq - 10_000, rel=1e-12)


def test_intraday_bars_pay_per_calendar_day_not_per_bar():
    """Hourly bars: the short is held over one night (Thursday 15:00 -> Friday 10:00), so it pays
    one day, whatever the number of bars."""
    ts = [dt.datetime(2024, 1, 4, h) for h in (10, 11, 15)] + [dt.datetime(2024, 1, 5, h) for h in (10, 11)]
    df = frame().with_columns(timestamp=pl.Series(ts))
    res = vec.backtest(df, borrow_rate=0.36, **KW)
    assert res.trades.get_column("borrow_cost").to_list() == pytest.approx([10 * 110 * 0.001], rel=1e-12)


def test_bad_borrow_rates():
    with pytest.raises(ConfigError, match=r"`borrow_rate` must be in \[0.0, 100.0\]"):
        vec.backtest(frame(), borrow_rate=-0.01, **KW)
    with pytest.raises(ConfigError, match="`borrow_rate` has no value for 1 of the 2 assets"):
        vec.backtest(frame(("X", "Y")), borrow_rate={"X": 0.1}, **KW)
    with pytest.raises(DataError, match=r"`borrow_rate` must lie in \[0.0, 100.0\].*X"):
        vec.backtest(frame(rate=[0.1, -0.2, 0.1, 0.1, 0.1]), borrow_rate="rate", **KW)
