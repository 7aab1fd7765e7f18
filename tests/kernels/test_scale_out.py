"""Take-profit in steps (``scale_out``): hand-computed cases and the setting's errors. The random
cases are in tests/property/test_parity.py (``test_scale_out_matches_reference``)."""

import math

import polars as pl
import pytest
from test_golden import KW, D, one

import ml4t_vec as vec
from ml4t_vec.errors import ConfigError

# bar i: open 10 + i, high open + 1, low open - 1, close open + 0.5
BARS = [(10 + i, 11 + i, 9 + i, 10.5 + i) for i in range(6)]
STEPS = [(0.05, 0.5), (0.10, 1.0)]


def rows(res, name, *cols):
    return res.__getattribute__(name).with_columns(pl.col(pl.Enum).cast(pl.String)).select(cols).rows()


def test_half_then_the_rest():
    # buy 10 at bar 1's open (11): steps at 11.55 and 12.1. Bar 1 reaches 12: sell 5 at 11.55, the
    # rest of the bar (from 11.55 to the high 12) stays below 12.1. Bar 2 opens at 12 and reaches
    # 13: sell the last 5 at 12.1.
    res = vec.backtest(one({0: {"e": True}}, BARS), scale_out=STEPS, **KW)
    assert rows(res, "fills", "timestamp", "effect", "quantity", "price", "reason") == [
        (D[1], "entry", 10.0, 11.0, "signal"),
        (D[1], "reduce", 5.0, pytest.approx(11.55), "scale_out"),
        (D[2], "exit", 5.0, pytest.approx(12.1), "scale_out"),
    ]
    assert rows(res, "trades", "status", "quantity", "entry_price", "exit_reason") == [
        ("partial", 5.0, 11.0, "scale_out"),
        ("closed", 5.0, 11.0, "scale_out"),
    ]
    assert res.trades.get_column("pnl").sum() == pytest.approx(5 * 0.55 + 5 * 1.1)
    assert res.equity.get_column("equity")[-1] == pytest.approx(1000 + 8.25)
    assert res.positions.height == 1


def test_one_bar_takes_every_step_it_reaches():
    # bar 2 gaps to 14: both steps fill at its open
    bars = [*BARS[:2], (14, 14.5, 13.5, 14), *BARS[3:]]
    res = vec.backtest(one({0: {"e": True}}, bars), scale_out=[(0.05, 0.5), (0.10, 1.0)],
                       **dict(KW, size=10))  # fmt: skip
    # bar 1 (high 12) takes the first step at 11.55; bar 2 opens beyond the second: at 14
    got = rows(res, "fills", "timestamp", "effect", "price")
    assert got == [(D[1], "entry", 11.0), (D[1], "reduce", pytest.approx(11.55)), (D[2], "exit", 14.0)]
    bars = [*BARS[:1], (11, 11.2, 10.8, 11), (14, 14.5, 13.5, 14), *BARS[3:]]
    res = vec.backtest(one({0: {"e": True}}, bars), scale_out=STEPS, **KW)
    got = rows(res, "fills", "timestamp", "effect", "quantity", "price")
    assert got == [(D[1], "entry", 10.0, 11.0), (D[2], "reduce", 5.0, 14.0), (D[2], "exit", 5.0, 14.0)]


def test_whole_shares_round_down():
    # 3 shares: the first step sells floor(1.5) = 1, the second the rest (2)
    res = vec.backtest(one({0: {"e": True}}, BARS), scale_out=STEPS, **dict(KW, size=3, fractional=False))
    assert rows(res, "fills", "effect", "quantity") == [("entry", 3.0), ("reduce", 1.0), ("exit", 2.0)]


def test_fractions_are_of_the_largest_quantity():
    # (0.05, 0.5), (0.10, 0.5): half, then the other half (of 10, not of what is left)
    res = vec.backtest(one({0: {"e": True}}, BARS), scale_out=[(0.05, 0.5), (0.10, 0.5)], **KW)
    assert rows(res, "fills", "effect", "quantity") == [("entry", 10.0), ("reduce", 5.0), ("exit", 5.0)]
    # (0.05, 0.25): a quarter; the rest stays open
    res = vec.backtest(one({0: {"e": True}}, BARS), scale_out=[(0.05, 0.25)], **KW)
    assert rows(res, "trades", "status", "quantity") == [("partial", 2.5), ("open", 7.5)]


def test_a_step_beyond_the_target_never_fires():
    # take_profit 4% (11.44) is nearer than the 5% step: the whole position closes there
    res = vec.backtest(one({0: {"e": True}}, BARS), scale_out=STEPS, take_profit=0.04, **KW)
    assert rows(res, "trades", "status", "quantity", "exit_reason") == [("closed", 10.0, "take_profit")]
    assert res.trades.get_column("exit_price")[0] == pytest.approx(11.44)


def test_short_side_and_slippage():
    # short 10 at 15 (bar 1's open); steps at 14.25 and 13.5; falling bars
    bars = [(16, 16.5, 15.5, 16), (15, 15.5, 14, 14.5), (14, 14.2, 13, 13.5), (13, 13.5, 12.5, 13)]
    res = vec.backtest(one({0: {"se": True}}, bars), scale_out=STEPS, stop_slippage=0.01, **KW)
    got = rows(res, "fills", "timestamp", "side", "effect", "quantity", "price", "slippage")
    assert got == [
        (D[1], "sell", "entry", 10.0, 15.0, 0.0),
        (D[1], "buy", "reduce", 5.0, pytest.approx(14.25 * 1.01), pytest.approx(5 * 14.25 * 0.01)),
        (D[2], "buy", "exit", 5.0, pytest.approx(13.5 * 1.01), pytest.approx(5 * 13.5 * 0.01)),
    ]


def test_a_step_does_not_block_the_bars_signals():
    # the first step fills on bar 1; the exit signal of bar 1 still closes the rest at bar 2's open
    res = vec.backtest(one({0: {"e": True}, 1: {"x": True}}, BARS), scale_out=[(0.05, 0.5), (0.5, 1.0)], **KW)
    assert rows(res, "fills", "timestamp", "effect", "reason") == [
        (D[1], "entry", "signal"),
        (D[1], "reduce", "scale_out"),
        (D[2], "exit", "signal"),
    ]


@pytest.mark.parametrize(
    "value, match",
    [
        ([], "1 to 8"),
        ([(0.05, 0.5)] * 2, "increase"),
        ([(0.1, 0.5), (0.05, 1.0)], "increase"),
        ([(0.05, 1.5)], "fraction"),
        ([(0.0, 0.5)], "gain"),
        ([(0.05,)], "pair"),
        ([(0.01 * i, 0.1) for i in range(1, 10)], "1 to 8"),
        (0.05, "list"),
    ],
)
def test_bad_schedules(value, match):
    with pytest.raises(ConfigError, match=match):
        vec.backtest(one({0: {"e": True}}, BARS), scale_out=value, **KW)


def test_refused_where_it_has_no_meaning():
    with pytest.raises(ConfigError, match="cash_rule='vectorbt'"):
        vec.backtest(one({0: {"e": True}}, BARS), scale_out=STEPS, cash_rule="vectorbt", **KW)
    df = one({}, BARS).with_columns(w=pl.lit(0.5))
    with pytest.raises(ConfigError, match="scale_out"):
        vec.backtest(df, weights="w", scale_out=STEPS)


def test_config_keeps_the_steps():
    res = vec.backtest(one({0: {"e": True}}, BARS), scale_out=[[0.05, 0.5], [0.1, 1]], **KW)
    assert res.config.risk.scale_out == ((0.05, 0.5), (0.1, 1.0))
    assert res.config.to_dict()["risk"]["scale_out"] == [[0.05, 0.5], [0.1, 1.0]]


def test_sweep_over_schedules_equals_single_runs():
    prices = vec.synthetic_prices(n_assets=4, n_bars=250, seed=5)
    kw = dict(entries=pl.col("pred") > 0.55, exits=pl.col("pred") < 0.3, size=0.2, fees=0.001)
    schedules = [None, [(0.02, 0.5)], [(0.02, 0.5), (0.05, 1.0)]]
    sw = vec.sweep(prices, params={"scale_out": schedules}, progress=False, **kw)
    got = sw.results.get_column("total_return").to_list()
    want = [vec.backtest(prices, scale_out=s, **kw).stats()["total_return"][0] for s in schedules]
    assert got == pytest.approx(want, rel=1e-12)
    assert len(set(got)) == 3


def test_position_metrics_count_the_steps():
    # half sold at +5% (11.55: +2.75), the rest closed by an exit signal at bar 3's open (10.9:
    # -0.5): the closed row loses, the position wins 2.25
    bars = [*BARS[:3], (10.9, 11, 10.5, 10.9), (10.9, 11, 10.5, 10.9)]
    res = vec.backtest(one({0: {"e": True}, 2: {"x": True}}, bars), scale_out=[(0.05, 0.5)], **KW)
    assert res.trades.get_column("pnl").to_list() == pytest.approx([2.75, -0.5])
    s = res.stats().row(0, named=True)
    assert (s["n_trades"], s["win_rate"], s["expectancy"]) == (1, 0.0, pytest.approx(-0.5))
    assert (s["position_win_rate"], s["avg_position_pnl"]) == (1.0, pytest.approx(2.25))
    assert s["position_profit_factor"] == math.inf
