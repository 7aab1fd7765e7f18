"""Hand-computed 3-6 bar cases. Each number in here was worked out on paper (comments show how)."""

import datetime as dt

import polars as pl
import pytest

import ml4t_vec as vec

D = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(10)]
OHLC4 = [(10, 11, 9, 10), (11, 12, 10, 12), (12, 13, 11, 12), (13, 14, 12, 13)]


def frame(asset_bars: dict) -> pl.DataFrame:
    """asset -> list of (day index, (o, h, l, c), signals dict)."""
    rows = []
    for a, bars in asset_bars.items():
        for i, (o, h, lo, c), sig in bars:
            rows.append(
                dict(
                    timestamp=D[i],
                    asset=a,
                    open=float(o),
                    high=float(h),
                    low=float(lo),
                    close=float(c),
                    e=sig.get("e", False),
                    x=sig.get("x", False),
                    se=sig.get("se", False),
                    sx=sig.get("sx", False),
                )
            )
    return pl.DataFrame(rows)


def one(sigs: dict[int, dict], bars=OHLC4) -> pl.DataFrame:
    return frame({"A": [(i, b, sigs.get(i, {})) for i, b in enumerate(bars)]})


KW = dict(entries="e", exits="x", short_entries="se", short_exits="sx", size=10, size_type="shares", init_cash=1000)


def test_next_open_default():
    res = vec.backtest(one({0: {"e": True}, 2: {"x": True}}), **KW)
    t = res.trades.row(0, named=True)
    # signal bar 0 -> buy 10 at bar 1 open (11); exit signal bar 2 -> sell at bar 3 open (13)
    assert (t["entry_time"], t["exit_time"]) == (D[1], D[3])
    assert (t["entry_price"], t["exit_price"], t["quantity"]) == (11.0, 13.0, 10.0)
    assert t["pnl"] == pytest.approx(20.0) and t["bars_held"] == 2
    assert t["mfe"] == pytest.approx(13 / 11 - 1) and t["mae"] == pytest.approx(10 / 11 - 1)
    assert t["status"] == "closed" and t["exit_reason"] == "signal"
    # cash 1000 -> 890 after the buy; equity marks 10 shares at the close
    assert res.equity.get_column("equity").to_list() == pytest.approx([1000, 1010, 1010, 1020])
    assert res.equity.get_column("cash").to_list() == pytest.approx([1000, 890, 890, 1020])


def test_next_close():
    res = vec.backtest(one({0: {"e": True}, 2: {"x": True}}), fill="next_close", **KW)
    t = res.trades.row(0, named=True)
    # buy at bar 1 close 12, sell at bar 3 close 13; the entry bar's range is before the fill
    assert (t["entry_price"], t["exit_price"], t["pnl"]) == (12.0, 13.0, pytest.approx(10.0))
    assert t["mae"] == pytest.approx(11 / 12 - 1)  # bar 2 low 11


def test_same_close_warns_and_fills_on_signal_bar():
    with pytest.warns(vec.LookAheadWarning):
        res = vec.backtest(one({0: {"e": True}, 2: {"x": True}}), fill="same_close", **KW)
    t = res.trades.row(0, named=True)
    assert (t["entry_time"], t["exit_time"], t["entry_price"], t["exit_price"]) == (D[0], D[2], 10.0, 12.0)


def test_fees_fixed_fees_and_slippage():
    res = vec.backtest(one({0: {"e": True}, 2: {"x": True}}), fees=0.01, fixed_fees=1.0, slippage=0.01, **KW)
    t = res.trades.row(0, named=True)
    # buy at 11 * 1.01 = 11.11, fee 10 * 11.11 * 0.01 + 1 = 2.111
    # sell at 13 * 0.99 = 12.87, fee 10 * 12.87 * 0.01 + 1 = 2.287
    assert t["entry_price"] == pytest.approx(11.11) and t["exit_price"] == pytest.approx(12.87)
    assert t["fees"] == pytest.approx(2.111 + 2.287)
    assert t["gross_pnl"] == pytest.approx(17.6) and t["pnl"] == pytest.approx(17.6 - 4.398)
    assert t["entry_slippage"] == pytest.approx(1.1) and t["exit_slippage"] == pytest.approx(1.3)
    assert t["pnl_percent"] == pytest.approx((17.6 - 4.398) / 111.1)
    assert res.equity.get_column("equity")[-1] == pytest.approx(1000 + 13.202)


def test_reversal_and_open_trade_at_end():
    res = vec.backtest(one({0: {"e": True}, 1: {"se": True}}), **KW)
    tr = res.trades
    assert tr.get_column("direction").to_list() == ["long", "short"]
    long, short = tr.row(0, named=True), tr.row(1, named=True)
    # long 10 @ 11 (bar 1 open) closed @ 12 (bar 2 open); short 10 @ 12 still open, marked at close 13
    assert long["pnl"] == pytest.approx(10.0) and long["status"] == "closed"
    assert short["quantity"] == -10.0 and short["status"] == "open" and short["exit_reason"] == "end_of_data"
    assert short["exit_price"] == 13.0 and short["pnl"] == pytest.approx(-10.0)
    assert res.fills.get_column("effect").to_list() == ["entry", "exit", "entry"]
    assert res.equity.get_column("equity")[-1] == pytest.approx(1000.0)


def test_conflicting_signals_are_ignored():
    # entry + exit on one bar cancel; long + short entry on one bar cancel
    res = vec.backtest(one({0: {"e": True, "x": True}, 1: {"e": True, "se": True}}), **KW)
    assert res.trades.height == 0 and res.fills.height == 0


def test_entry_while_long_does_not_add():
    res = vec.backtest(one({0: {"e": True}, 1: {"e": True}}), **KW)
    assert res.fills.height == 1 and res.trades.get_column("quantity").to_list() == [10.0]


def test_signal_on_last_bar_is_recorded_as_no_next_bar():
    res = vec.backtest(one({3: {"e": True}}), **KW)
    r = res.rejected.row(0, named=True)
    assert res.trades.height == 0
    assert (r["timestamp"], r["reason"], r["effect"], r["side"]) == (D[3], "no_next_bar", "entry", "buy")


def test_shared_cash_limit_reduces_then_rejects():
    bars = {
        "A": [(0, (10, 10, 10, 10), {"e": True}), (1, (10, 10, 10, 10), {})],
        "B": [(0, (20, 20, 20, 20), {"e": True}), (1, (20, 20, 20, 20), {})],
        "C": [(0, (5, 5, 5, 5), {"e": True}), (1, (5, 5, 5, 5), {})],
    }
    res = vec.backtest(frame(bars), entries="e", size=600, size_type="value", init_cash=1000)
    # in symbol order: A takes 600/10 = 60 shares; B wants 30 but 400 cash buys 20; C gets nothing
    assert res.fills.get_column("quantity").to_list() == pytest.approx([60.0, 20.0])
    rej = res.rejected.select("symbol", "reason", "requested_quantity", "filled_quantity").rows()
    assert rej == [
        ("B", "reduced_cash", pytest.approx(30.0), pytest.approx(20.0)),
        ("C", "insufficient_cash", pytest.approx(120.0), 0.0),
    ]


def test_independent_accounts_each_get_init_cash():
    bars = {
        "A": [(0, (10, 10, 10, 10), {"e": True}), (1, (10, 10, 10, 10), {})],
        "B": [(0, (20, 20, 20, 20), {"e": True}), (1, (20, 20, 20, 20), {})],
    }
    res = vec.backtest(frame(bars), entries="e", size=600, size_type="value", init_cash=1000, cash_sharing=False)
    assert res.fills.get_column("quantity").to_list() == pytest.approx([60.0, 30.0])
    assert res.rejected.height == 0
    assert res.equity.get_column("equity")[0] == 2000.0
    ae = res.asset_equity.filter(pl.col("timestamp") == D[1])
    assert ae.get_column("cash").to_list() == pytest.approx([400.0, 400.0])


def test_whole_shares_round_down_and_percent_sizing():
    res = vec.backtest(
        one({0: {"e": True}}), entries="e", size=1000, size_type="value", fractional=False, init_cash=1000
    )
    assert res.fills.get_column("quantity").to_list() == [90.0]  # 1000 / 11 = 90.9
    res = vec.backtest(one({0: {"e": True}}), entries="e", size=0.5, size_type="percent", init_cash=1000)
    assert res.fills.get_column("quantity").to_list() == pytest.approx([500 / 11])
    # percent is the cash committed including fees: 100% all-in never leaves a "reduced" record
    res = vec.backtest(one({0: {"e": True}}), entries="e", size=1.0, fees=0.01, fixed_fees=2, init_cash=1000)
    assert res.rejected.height == 0
    assert res.equity.get_column("cash")[1] == pytest.approx(0.0, abs=1e-9)


def test_missing_bar_delays_the_fill():
    bars = {
        "A": [(0, OHLC4[0], {"e": True}), (2, OHLC4[2], {}), (3, OHLC4[3], {})],
        "B": [(i, b, {}) for i, b in enumerate(OHLC4)],
    }
    res = vec.backtest(frame(bars), **KW)
    # A has no bar on day 1: the order waits and fills at day 2's open (12); valuation carries closes
    t = res.trades.filter(pl.col("symbol") == "A").row(0, named=True)
    assert (t["entry_time"], t["entry_price"], t["bars_held"]) == (D[2], 12.0, 1)
    ae = res.asset_equity.filter(pl.col("symbol") == "A").get_column("position_value").to_list()
    assert ae == pytest.approx([0.0, 0.0, 120.0, 130.0])


def test_custom_fill_price_column():
    df = one({0: {"e": True}, 2: {"x": True}}).with_columns(vwap=pl.col("low") + 0.5)
    res = vec.backtest(df, price="vwap", **KW)
    t = res.trades.row(0, named=True)
    assert (t["entry_price"], t["exit_price"]) == (10.5, 12.5)  # bar 1 low 10 + .5, bar 3 low 12 + .5


def test_short_sale_proceeds_and_no_leverage():
    # short 10 @ 11 adds 110 cash; buying power for a second entry is equity - gross exposure
    res = vec.backtest(one({0: {"se": True}, 2: {"sx": True}}), **KW)
    t = res.trades.row(0, named=True)
    assert t["quantity"] == -10.0 and t["pnl"] == pytest.approx(-20.0)  # short 11, cover 13
    assert res.equity.get_column("cash").to_list() == pytest.approx([1000, 1110, 1110, 980])


def test_no_dust_positions_after_all_in():
    """After an all-in entry the buying power is zero up to rounding; a second entry on the same
    bar is insufficient_cash, never a 1e-15-share position."""
    bars = {
        "A": [(0, (10, 10, 10, 10), {"e": True}), (1, (10.3, 10.3, 10.3, 10.3), {})],
        "B": [(0, (7, 7, 7, 7), {"e": True}), (1, (7.1, 7.1, 7.1, 7.1), {})],
    }
    res = vec.backtest(frame(bars), entries="e", size=1.0, fees=0.01, slippage=0.0005, init_cash=997.3)
    assert res.fills.height == 1
    assert res.rejected.select("symbol", "reason").rows() == [("B", "insufficient_cash")]


@pytest.mark.parametrize("cash_sharing", [True, False])
def test_ml4t_cycle_no_rule_check_on_the_entry_bar_of_one_column(cash_sharing):
    # buy at bar 1's open 11; stop 5% below the fill = 10.45, and bar 1's low is 10. ml4t-backtest's
    # cycle (fill_order="ml4t") fills the open's entries after the position rules, so the stop is
    # first checked on bar 2 (low 11: held). A one-asset panel and independent accounts run the
    # one-column driver, which has no cycle to reorder (this was missed there).
    kw = KW | dict(stop_loss=0.05, stop_on_entry_bar=True, cash_sharing=cash_sharing)
    ml4t = vec.backtest(one({0: {"e": True}}), fill_order="ml4t", **kw)
    assert ml4t.trades["status"].to_list() == ["open"]
    plain = vec.backtest(one({0: {"e": True}}), **kw)
    assert plain.trades["exit_reason"].to_list() == ["stop_loss"] and plain.trades["exit_time"][0] == D[1]
