"""Financing, hand-computed, for each calendar day since the previous bar of the time axis (a
weekend counts three), before the bar starts, /360 a day:

- interest on each account's cash (``cash_rate`` on negative cash, ``credit_rate`` on positive
  cash), reported by ``stats()`` as ``total_interest``;
- borrow fees on shorts (``borrow_rate``): |quantity| x the last close x the rate read at the
  asset's last bar. Each trade row carries its share (``borrow_cost``) and its ``pnl`` is net
  of it."""

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


def test_interest_on_borrowed_and_on_idle_cash():
    """150 shares at Thursday's close 100 with 10,000 cash and 2x leverage: cash -5,000 at 36% a
    year (0.1% a day): Fri -5.0, Mon 3 days -15.015, Tue -5.020015 (cash then -5,025.035), sold at
    105 for 15,750: cash 10,724.965; Wed it earns 3.6% a year: +1.0725. Net interest paid 23.9625."""
    kw = dict(entries="se", exits="sx", size=150, size_type="shares", fill="same_close", init_cash=10_000,
              cash_rate=0.36, credit_rate=0.036, max_gross_leverage=2.0)  # fmt: skip
    res = vec.backtest(frame(), **kw)
    cash = res.equity.get_column("cash").to_list()
    assert cash == pytest.approx([-5000.0, -5005.0, -5020.015, 10724.964985, 10726.0374815], rel=1e-10)
    paid = 5.0 + 15.015 + 5.020015 - 1.0724964985
    assert res.stats()["total_interest"][0] == pytest.approx(paid, rel=1e-9)
    assert res.trades.get_column("pnl").to_list() == pytest.approx([750.0], rel=1e-12)  # interest is no trade's


def test_each_independent_account_earns_on_its_own_cash():
    """Independent accounts of 10,000 each, 50 shares at 100: each holds 5,000 of cash, which
    earns 3.6% a year (0.01% a day) from the first bar of the time axis."""
    kw = dict(entries="se", exits="sx", size=50, size_type="shares", fill="same_close", init_cash=10_000,
              credit_rate=0.036, cash_sharing=False)  # fmt: skip
    res = vec.backtest(frame(("X", "Y")), **kw)
    one = 5000 * 0.0001 + 5000.5 * 0.0003 + 5002.00015 * 0.0001 + (5002.00015 * 1.0001 + 5250) * 0.0001
    assert res.stats()["total_interest"][0] == pytest.approx(-2 * one, rel=1e-9)
    assert res.equity.get_column("cash")[1] == pytest.approx(2 * 5000.5, rel=1e-12)


def test_weights_pay_interest_and_borrow_fees_together():
    """A target-weight book long X, short Y: the account earns on its cash and the short pays to
    borrow; every trade row's pnl, less the net interest, sums to the equity change."""
    df = frame(("X", "Y")).with_columns(w=pl.when(pl.col("asset") == "X").then(pl.lit(0.6)).otherwise(-0.4))
    res = vec.backtest(df, weights="w", borrow_rate=0.5, credit_rate=0.05, cash_rate=0.1, fill="same_close",
                       init_cash=10_000)  # fmt: skip
    st = res.stats().row(0, named=True)
    assert st["total_borrow_cost"] > 0 and st["total_interest"] < 0  # short proceeds leave the cash positive
    change = res.equity.get_column("equity")[-1] - 10_000
    assert res.trades.get_column("pnl").sum() - st["total_interest"] == pytest.approx(change, rel=1e-12)


def test_bad_interest_rates():
    with pytest.raises(ConfigError, match=r"`cash_rate` must be in \[0.0, 10.0\]"):
        vec.backtest(frame(), cash_rate=-0.01, **KW)
    with pytest.raises(ConfigError, match="`credit_rate` must be a number"):
        vec.backtest(frame(), credit_rate="5%", **KW)


def test_sweeps_take_the_rates_as_dimensions():
    """Each set's metrics are its own backtest's, whatever rate it sweeps (the nights per bar are
    the same for every set; the rates are the set's)."""
    df = frame(("X", "Y"))
    kw = dict(entries="se", exits="sx", size=150, size_type="shares", fill="same_close", init_cash=10_000,
              max_gross_leverage=2.0)  # fmt: skip
    grid = {"cash_rate": [None, 0.36], "credit_rate": [None, 0.05], "borrow_rate": [None, 1.0]}
    g = vec.sweep(df, params=grid, progress=False, **kw).results
    for row in g.iter_rows(named=True):
        want = vec.backtest(df, **kw, **{k: row[k] for k in grid}).equity.get_column("equity")[-1]
        assert row["final_equity"] == pytest.approx(want, rel=1e-12), row
    assert g.get_column("final_equity").n_unique() > 1
