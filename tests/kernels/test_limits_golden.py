"""Portfolio limits, priority, absolute levels, session exits and per-share commission on
hand-computed cases (comments show the arithmetic)."""

import datetime as dt

import polars as pl
import pytest
from test_golden import KW, OHLC4, D, frame, one

import ml4t_vec as vec

FLAT = [(10, 10, 10, 10)] * 4


def two(sig_a: dict, sig_b: dict, bars_a=FLAT, bars_b=FLAT) -> pl.DataFrame:
    return frame(
        {
            "A": [(i, b, sig_a.get(i, {})) for i, b in enumerate(bars_a)],
            "B": [(i, b, sig_b.get(i, {})) for i, b in enumerate(bars_b)],
        }
    )


def test_max_positions_rejects_the_extra_entry_and_priority_picks_who_fills():
    score = pl.when(pl.col("asset") == "B").then(2).otherwise(1)
    df = two({0: {"e": True}}, {0: {"e": True}}).with_columns(score=score)
    res = vec.backtest(df, max_positions=1, **KW)
    # both signal at bar 0, fill at bar 1's open; asset order: A fills, B is refused
    assert res.trades["symbol"].to_list() == ["A"]
    r = res.rejected.row(0, named=True)
    assert (r["symbol"], r["reason"], r["requested_quantity"], r["filled_quantity"]) == ("B", "max_positions", 10, 0)
    res = vec.backtest(df, max_positions=1, priority="score", **KW)
    assert res.trades["symbol"].to_list() == ["B"]  # higher score first
    assert res.rejected["symbol"].to_list() == ["A"]


def test_priority_orders_entries_competing_for_cash():
    df = two({0: {"e": True}}, {0: {"e": True}}).with_columns(score=pl.when(pl.col("asset") == "B").then(5.0))
    # 1000 cash, 60 shares at 10 each: the first fills 60, the second only 40 (reduced_cash)
    kw = KW | dict(size=60)
    res = vec.backtest(df, **kw)
    assert res.trades.select("symbol", "quantity").rows() == [("A", 60.0), ("B", 40.0)]
    res = vec.backtest(df, priority="score", **kw)  # A's score is null: ranked last
    assert res.trades.select("symbol", "quantity").rows() == [("A", 40.0), ("B", 60.0)]
    assert res.rejected.select("symbol", "reason").rows() == [("A", "reduced_cash")]


def test_max_position_weight_caps_the_entry():
    # all-in entry (percent 1.0) capped at 25% of equity 1000 -> 250 / 10 = 25 shares
    res = vec.backtest(one({0: {"e": True}}, FLAT), entries="e", init_cash=1000, max_position_weight=0.25)
    assert res.trades["quantity"].to_list() == [25.0]
    r = res.rejected.row(0, named=True)
    assert (r["reason"], r["requested_quantity"], r["filled_quantity"]) == ("max_position_weight", 100, 25)


def test_max_net_exposure_and_gross_leverage():
    df = two({0: {"e": True}}, {0: {"e": True}})
    # net cap 0.5: A buys 50 (500 of 1000 equity), B has no room left
    res = vec.backtest(df, max_net_exposure=0.5, **KW | dict(size=80))
    assert res.trades.select("symbol", "quantity").rows() == [("A", 50.0)]
    assert res.rejected.select("symbol", "reason", "filled_quantity").rows() == [
        ("A", "max_net_exposure", 50.0),
        ("B", "max_net_exposure", 0.0),
    ]
    # leverage 1.5: buying power 1500; A takes 80 (800), B gets the remaining 700 -> 70 shares
    res = vec.backtest(df, max_gross_leverage=1.5, **KW | dict(size=80))
    assert res.trades.select("symbol", "quantity").rows() == [("A", 80.0), ("B", 70.0)]
    assert res.rejected.select("symbol", "reason").rows() == [("B", "max_gross_leverage")]
    assert res.equity["cash"].to_list()[1] == pytest.approx(1000 - 1500)  # borrowed 500


def test_gross_leverage_breach_at_a_close_forces_the_largest_position_out():
    # leverage 2: A and B 100 shares each (1000 + 1000 = buying power 2 * 1000), cash -1000.
    # bar 2: A closes at 7 -> equity -1000 + 700 + 1000 = 700, gross 1700 > 2 * 700: the largest
    # position, B (1000 vs 700), is ordered out and fills at bar 3's open; 700 <= 1400 then.
    bars_a = [(10, 10, 10, 10), (10, 10, 10, 10), (10, 10, 7, 7), (7, 7, 7, 7)]
    df = two({0: {"e": True}}, {0: {"e": True}}, bars_a=bars_a)
    res = vec.backtest(df, max_gross_leverage=2.0, **KW | dict(size=100))
    assert res.trades.select("symbol", "quantity", "exit_reason", "exit_time", "exit_price").rows() == [
        ("A", 100.0, "end_of_data", D[3], 7.0),
        ("B", 100.0, "risk_limit", D[3], 10.0),
    ]


def test_drawdown_breaker_halts_entries_and_resumes_after_the_cooldown():
    # long 100 shares at 10; bar 2 closes at 8: equity 1000 -> 800, a 20% drawdown >= 10%
    bars = [(10, 10, 10, 10), (10, 10, 10, 10), (10, 10, 8, 8), (8, 8, 8, 8), (8, 8, 8, 8), (8, 8, 8, 8)]
    sigs = {0: {"e": True}, 2: {"x": True}, 3: {"e": True}, 4: {"e": True}}
    res = vec.backtest(one(sigs, bars), max_drawdown=0.1, **KW | dict(size=100))
    # exit at bar 3's open (signal from bar 2); the entry from bar 3 would fill at bar 4: halted
    # (bar 4's signal: flat again, would fill at bar 5: halted too)
    assert res.trades.height == 1
    assert res.rejected.select("timestamp", "reason").rows() == [(D[4], "max_drawdown"), (D[5], "max_drawdown")]
    # cooldown 2 bars: tripped at bar 2, resets at bar 4's close -> bar 4's signal fills at bar 5
    res = vec.backtest(one(sigs, bars), max_drawdown=0.1, drawdown_cooldown=2, **KW | dict(size=100))
    assert res.trades["entry_time"].to_list() == [D[1], D[5]]
    assert res.rejected.select("timestamp", "reason").rows() == [(D[4], "max_drawdown")]


def test_drawdown_liquidation_closes_every_position():
    bars_a = [(10, 10, 10, 10), (10, 10, 10, 10), (10, 10, 7, 7), (7.5, 8, 7, 7.5)]
    df = two({0: {"e": True}}, {0: {"e": True}}, bars_a=bars_a)
    # A and B 40 shares each; bar 2: A closes at 7 -> equity 1000 - 120 = 880, 12% down
    res = vec.backtest(df, max_drawdown=0.1, drawdown_action="liquidate", **KW | dict(size=40))
    t = res.trades.sort("symbol")
    assert t["exit_reason"].to_list() == ["liquidation", "liquidation"]
    assert t["exit_time"].to_list() == [D[3], D[3]]
    assert t["exit_price"].to_list() == [7.5, 10.0]
    assert res.fills.filter(pl.col("effect") == "exit")["reason"].to_list() == ["liquidation", "liquidation"]


TIMES = ("09:30", "12:00", "15:50")  # three bars a day, two days: bars 0-2 day 1, 3-5 day 2


def intraday(asset_bars: dict) -> pl.DataFrame:
    """asset -> (bars, signals by bar index) on the TIMES grid."""
    ts = [dt.datetime.combine(dt.date(2024, 1, 2) + dt.timedelta(days=d), dt.time.fromisoformat(h))
          for d in range(2) for h in TIMES]  # fmt: skip
    rows = [
        dict(timestamp=ts[i], asset=a, open=float(o), high=float(h), low=float(lo), close=float(c),
             e=sigs.get(i, {}).get("e", False), x=sigs.get(i, {}).get("x", False), se=False, sx=False)
        for a, (bars, sigs) in asset_bars.items()
        for i, (o, h, lo, c) in enumerate(bars)
    ]  # fmt: skip
    return pl.DataFrame(rows)


RISING = [(10 + i, 10 + i, 10 + i, 10 + i) for i in range(6)]  # opens 10, 11, ..., 15


def test_session_exit_closes_at_the_open_and_refuses_entries_after_it():
    # exit time 15:00 -> each day's 15:50 bar (2 and 5). Entry signalled at bar 0 fills at bar 1's
    # open (11) and is closed at bar 2's open (12); bar 3's signal fills at 14, out at 15.
    res = vec.backtest(intraday({"A": (RISING, {0: {"e": True}, 3: {"e": True}})}), session_exit="15:00", **KW)
    assert res.trades.select("entry_price", "exit_price", "exit_reason").rows() == [
        (11.0, 12.0, "time_stop"),
        (14.0, 15.0, "time_stop"),
    ]
    # a signal at bar 1 would fill at bar 2 (15:50): refused; a signal at bar 2 fills next morning
    res = vec.backtest(intraday({"A": (RISING, {1: {"e": True}})}), session_exit="15:00", **KW)
    assert res.rejected.select("timestamp", "reason").rows() == [(dt.datetime(2024, 1, 2, 15, 50), "session_end")]
    res = vec.backtest(intraday({"A": (RISING, {2: {"e": True}})}), session_exit=dt.time(15), **KW)
    assert res.trades.select("entry_price", "exit_price").rows() == [(13.0, 15.0)]
    with pytest.raises(vec.ConfigError, match="session_exit"):
        vec.backtest(one({0: {"e": True}}), session_exit="15:00", **KW)
    with pytest.raises(vec.ConfigError, match="session_exit"):
        vec.backtest(one({0: {"e": True}}), session_exit="quarter past", **KW)


def test_daily_loss_limit_halts_entries_for_the_rest_of_the_day():
    # A: 50 shares at bar 1's open (10); bar 1 closes at 9 -> equity 1000 -> 950, -5% <= -2%:
    # entries are refused for the rest of day 1. B's entry from bar 1 (fill at bar 2) is refused;
    # B's entry from bar 2 fills at bar 3, the next morning.
    a = [(10, 10, 10, 10), (10, 10, 9, 9)] + [(9, 9, 9, 9)] * 4
    res = vec.backtest(
        intraday({"A": (a, {0: {"e": True}}), "B": (FLAT + FLAT[:2], {1: {"e": True}, 2: {"e": True}})}),
        daily_loss_limit=0.02,
        **KW | dict(size=50),
    )
    assert res.rejected.select("symbol", "timestamp", "reason").rows() == [
        ("B", dt.datetime(2024, 1, 2, 15, 50), "daily_loss_limit")
    ]
    assert res.trades.filter(pl.col("symbol") == "B")["entry_time"].to_list() == [dt.datetime(2024, 1, 3, 9, 30)]


def test_absolute_stop_and_target_levels():
    df = one({0: {"e": True}}).with_columns(slp=pl.lit(10.5), tpp=pl.lit(20.0))
    t = vec.backtest(df, stop_loss_price="slp", take_profit_price="tpp", **KW).trades.row(0, named=True)
    # entry 11 at bar 1; bar 1 low 10 <= 10.5 -> out at 10.5
    assert (t["exit_reason"], t["exit_price"]) == ("stop_loss", 10.5)
    # the tighter of 5% (10.45) and 10.5 is 10.5; with 10.0 absolute the 5% stop (10.45) wins
    df = df.with_columns(slp=pl.lit(10.0))
    t = vec.backtest(df, stop_loss_price="slp", stop_loss=0.05, **KW).trades.row(0, named=True)
    assert t["exit_price"] == pytest.approx(10.45)
    # a target of 12.5 (tighter than 50%): bar 2 high 13 -> out at 12.5
    df = one({0: {"e": True}}, OHLC4).with_columns(tpp=pl.lit(12.5))
    t = vec.backtest(df, take_profit_price="tpp", take_profit=0.5, **KW).trades.row(0, named=True)
    assert (t["exit_reason"], t["exit_price"]) == ("take_profit", 12.5)
    with pytest.raises(vec.DataError, match="stop_loss_price"):
        vec.backtest(df.with_columns(slp=pl.lit(-1.0)), stop_loss_price="slp", **KW)


def test_commission_per_share():
    res = vec.backtest(one({0: {"e": True}, 2: {"x": True}}), commission_per_share=0.5, **KW)
    t = res.trades.row(0, named=True)
    assert t["fees"] == pytest.approx(2 * 10 * 0.5)  # 10 shares in, 10 out
    assert t["pnl"] == pytest.approx(20 - 10)
    # a value size includes it: 1000 cash all in at 11 -> q * (11 + 0.5) = 1000
    res = vec.backtest(one({0: {"e": True}}), entries="e", size=1000.0, size_type="value", commission_per_share=0.5)
    assert res.trades["quantity"].to_list() == [pytest.approx(1000 / 11.5)]


def test_limits_need_a_shared_portfolio():
    with pytest.raises(vec.ConfigError, match="cash_sharing"):
        vec.backtest(one({0: {"e": True}}), max_positions=1, cash_sharing=False, **KW)
    with pytest.raises(vec.ConfigError, match="max_position_weight"):
        vec.backtest(one({0: {"e": True}}), max_position_weight=1.5, **KW)
    with pytest.raises(vec.ConfigError, match="drawdown_action"):
        vec.backtest(one({0: {"e": True}}), max_drawdown=0.1, drawdown_action="sell", **KW)


def test_per_asset_rule_values():
    # A: stop 5% -> 10 * 0.95 = 9.5 reached by bar 2's low 9; B: no stop given -> held to the end
    bars = [(10, 10, 10, 10), (10, 10, 10, 10), (10, 10, 9, 9.5), (9.5, 9.5, 9.5, 9.5)]
    df = two({0: {"e": True}}, {0: {"e": True}}, bars_a=bars, bars_b=bars)
    res = vec.backtest(df, stop_loss={"A": 0.05}, **KW)
    assert res.trades.select("symbol", "exit_reason", "exit_price").rows() == [
        ("A", "stop_loss", 9.5),
        ("B", "end_of_data", 9.5),
    ]
    with pytest.raises(vec.DataError, match="Did you mean 'B'"):
        vec.backtest(df, stop_loss={"BB": 0.05}, **KW)
    with pytest.raises(vec.ConfigError, match=r"stop_loss\['A'\]"):
        vec.backtest(df, stop_loss={"A": 5.0}, **KW)
