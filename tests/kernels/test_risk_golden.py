"""Position rules on hand-computed 3-5 bar cases (comments show the arithmetic)."""

import polars as pl
import pytest
from test_golden import KW, OHLC4, D, one

import ml4t_vec as vec


def trade(res, i=0):
    return res.trades.row(i, named=True)


def test_stop_loss_on_entry_bar_and_option_off():
    # entry at bar 1 open 11; 5% stop -> 10.45; bar 1 low 10 touches it (rest of the entry bar counts)
    t = trade(vec.backtest(one({0: {"e": True}}), stop_loss=0.05, **KW))
    assert (t["exit_reason"], t["exit_price"], t["bars_held"]) == ("stop_loss", pytest.approx(10.45), 0)
    assert t["pnl"] == pytest.approx((10.45 - 11) * 10)
    # not on the entry bar: bars 2 (low 11) and 3 (low 12) stay above 10.45 -> open at the end
    t = trade(vec.backtest(one({0: {"e": True}}), stop_loss=0.05, stop_on_entry_bar=False, **KW))
    assert (t["status"], t["exit_reason"]) == ("open", "end_of_data")


def test_gap_through_the_stop_fills_at_the_open():
    bars = [(10, 10, 10, 10), (10, 10.5, 9.9, 10.2), (8, 8.5, 7.5, 8)]
    res = vec.backtest(one({0: {"e": True}}, bars), stop_loss=0.1, **KW)
    t = trade(res)  # stop 9; bar 2 opens at 8, below it: out at 8, not 9
    assert (t["exit_reason"], t["exit_price"]) == ("stop_loss", 8.0)
    assert res.fills.row(1, named=True)["reason"] == "stop_loss"


def test_take_profit():
    t = trade(vec.backtest(one({0: {"e": True}}), take_profit=0.15, **KW))
    # target 11 * 1.15 = 12.65: bar 1 high 12 no, bar 2 high 13 yes -> 12.65
    assert (t["exit_reason"], t["exit_price"], t["exit_time"]) == (
        "take_profit",
        pytest.approx(12.65),
        D[2],
    )


@pytest.mark.parametrize(
    ("bar2", "intrabar", "reason", "price"),
    [
        ((10, 12, 8, 11), "pessimistic", "stop_loss", 9.0),
        ((10, 12, 8, 11), "optimistic", "take_profit", 11.0),
        ((10, 12, 8, 11), "ohlc_path", "stop_loss", 9.0),  # extremes equally far: the stop wins the tie
        ((10, 11.5, 8, 11), "ohlc_path", "take_profit", 11.0),  # high nearer the open: reached first
        ((10, 12, 8.5, 11), "ohlc_path", "stop_loss", 9.0),  # low nearer the open
        ((10, 12, 8, 11), "stop_first", "stop_loss", 9.0),
        ((11.5, 12, 8.5, 11), "pessimistic", "take_profit", 11.5),  # opened through the target: out at the open
        ((11.5, 12, 8.5, 11), "stop_first", "stop_loss", 9.0),  # vectorbt: the stop in the bar wins anyway
        ((8.5, 12, 8, 11), "stop_first", "stop_loss", 8.5),  # opened through the stop: at the open
    ],
)
def test_stop_and_target_in_one_bar(bar2, intrabar, reason, price):
    bars = [(10, 10, 10, 10), (10, 10.2, 9.8, 10), bar2]
    t = trade(vec.backtest(one({0: {"e": True}}, bars), stop_loss=0.1, take_profit=0.1, intrabar=intrabar, **KW))
    assert (t["exit_reason"], t["exit_price"]) == (reason, price)


def test_trailing_stop_from_closes():
    bars = [(10, 10, 10, 10), (10, 12.2, 9.95, 12), (12, 15.2, 11.9, 15), (15, 15.5, 13, 14)]
    t = trade(vec.backtest(one({0: {"e": True}}, bars), trailing_stop=0.1, **KW))
    # peak (closes, as of the previous bar): 10 -> 12 -> 15; level 9, 10.8, 13.5; bar 3 low 13 hits 13.5
    assert (t["exit_reason"], t["exit_price"]) == ("trailing_stop", pytest.approx(13.5))
    # from bar extremes the peak after bar 2 is 15.2 -> 13.68
    t = trade(vec.backtest(one({0: {"e": True}}, bars), trailing_stop=0.1, trailing_source="extreme", **KW))
    assert t["exit_price"] == pytest.approx(15.2 * 0.9)
    # activation 60%: the peak never reaches 16, trailing never starts
    t = trade(vec.backtest(one({0: {"e": True}}, bars), trailing_stop=0.1, trailing_activation=0.6, **KW))
    assert t["status"] == "open"


def test_time_stop_at_the_open():
    t = trade(vec.backtest(one({0: {"e": True}}), max_bars=2, **KW))
    # entered at bar 1's open; bars_held reaches 2 on bar 3: out at its open, 13
    assert (t["exit_reason"], t["exit_price"], t["bars_held"]) == ("time_stop", 13.0, 2)


def test_stop_anchor_signal_close():
    # anchored on the signal bar's close 10: stop 9.5, bar 1 low 10 does not touch it
    t = trade(vec.backtest(one({0: {"e": True}}), stop_loss=0.05, stop_anchor="signal_close", **KW))
    assert t["status"] == "open"


def test_short_stop_and_stop_slippage():
    # short at bar 1 open 11; stop 11.55; bar 1 high 12 -> buy back at 11.55 * (1 + 0.01)
    res = vec.backtest(one({0: {"se": True}}), stop_loss=0.05, stop_slippage=0.01, **KW)
    t = trade(res)
    assert (t["exit_reason"], t["exit_price"]) == ("stop_loss", pytest.approx(11.55 * 1.01))
    assert res.fills.row(1, named=True)["side"] == "buy"
    assert t["exit_slippage"] == pytest.approx(10 * 11.55 * 0.01)


def test_stop_exit_frees_the_position_for_a_new_signal():
    # stopped on bar 1; an entry signal on bar 2 opens a new position at bar 3's open (13), whose
    # own 5% stop 12.35 is touched by bar 3's low 12 on its entry bar
    res = vec.backtest(one({0: {"e": True}, 2: {"e": True}}), stop_loss=0.05, **KW)
    assert res.trades.select("exit_reason", "status").rows() == [("stop_loss", "closed"), ("stop_loss", "closed")]
    second = res.trades.row(1, named=True)
    assert (second["entry_price"], second["exit_price"]) == (OHLC4[3][0], pytest.approx(12.35))


def test_entry_bar_opening_beyond_a_signal_close_anchored_stop_exits_at_the_open():
    # signal close 10, stop 5% -> 9.5; the entry bar opens at 9 (already through it): out at 9,
    # never at 9.5 (above the bar's high 9.2)
    bars = [(10, 10, 10, 10), (9, 9.2, 8.8, 9.1), (9.1, 9.3, 9, 9.2)]
    t = trade(vec.backtest(one({0: {"e": True}}, bars), stop_loss=0.05, stop_anchor="signal_close", **KW))
    assert (t["exit_reason"], t["entry_price"], t["exit_price"], t["bars_held"]) == ("stop_loss", 9.0, 9.0, 0)


def test_atr_stop_from_an_expression_read_at_the_signal_bar():
    # atr/close on the signal bar 0 is 0.05 -> stop 5% under the fill 11 = 10.45, hit by bar 1's low 10;
    # bar 1's own value (0.5) is ignored: the level is fixed when the position is opened
    df = one({0: {"e": True}}).with_columns(atr=pl.Series([0.5, 5.5, 0.5, 0.5]))
    t = trade(vec.backtest(df, stop_loss=pl.col("atr") / pl.col("close"), **KW))
    assert (t["exit_reason"], t["exit_price"]) == ("stop_loss", pytest.approx(10.45))
    # a null on the signal bar means no stop for that position
    df = df.with_columns(atr=pl.Series([None, 5.5, 0.5, 0.5], dtype=pl.Float64))
    t = trade(vec.backtest(df, stop_loss=pl.col("atr") / pl.col("close"), **KW))
    assert t["status"] == "open"
