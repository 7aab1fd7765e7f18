"""Position rules on target-weight portfolios, worked by hand: a stop anchored at the average
cost closes the position at its level, the asset stays flat until the next decision (not the
one on the stop's own bar, unless ``reenter_on_stop_bar``), and the order still waiting is
cancelled. The general case is in tests/property/test_weights_parity.py."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

import ml4t_vec as vec

pytestmark = pytest.mark.filterwarnings("ignore::ml4t_vec.LookAheadWarning")

# open, high, low, close per bar; bar 2 trades down through 95 (5 % under the entry at 100)
BARS = [(100, 101, 99, 100), (100, 102, 99, 101), (99, 99.5, 93, 94), (94, 96, 93, 95), (95, 97, 94, 96),
        (96, 98, 95, 97), (97, 99, 96, 98)]  # fmt: skip


def frame(bars=BARS) -> pl.DataFrame:
    t0 = dt.datetime(2024, 1, 1)
    return pl.DataFrame(
        [
            dict(timestamp=t0 + dt.timedelta(days=i), asset="A", open=o, high=h, low=lo, close=c, w=1.0)
            for i, (o, h, lo, c) in enumerate(bars)
        ]  # fmt: skip
    )


def fills(res):
    return [(f["timestamp"].day - 1, f["side"], f["effect"], f["reason"], f["price"])
            for f in res.fills.sort("timestamp").iter_rows(named=True)]  # fmt: skip


def test_a_stop_closes_at_its_level_and_the_asset_waits_for_the_next_decision():
    res = vec.backtest(frame(), weights="w", rebalance=[frame()["timestamp"][i] for i in (0, 4)], stop_loss=0.05,
                       fractional=True, init_cash=1000.0)  # fmt: skip
    assert fills(res) == [
        (1, "buy", "entry", "rebalance", 100.0),  # decided at bar 0, filled at bar 1's open
        (2, "sell", "exit", "stop_loss", 95.0),  # 5 % under the average cost, inside bar 2
        (5, "buy", "entry", "rebalance", 96.0),  # flat until the decision of bar 4
    ]
    assert res.trades["exit_reason"].to_list()[0] == "stop_loss"


def test_no_reentry_on_the_stop_bar_unless_asked():
    every_bar = vec.backtest(frame(), weights="w", stop_loss=0.05, fractional=True, init_cash=1000.0)
    assert [f[:3] for f in fills(every_bar)][:3] == [(1, "buy", "entry"), (2, "sell", "exit"), (4, "buy", "entry")]
    again = vec.backtest(frame(), weights="w", stop_loss=0.05, fractional=True, init_cash=1000.0,
                         reenter_on_stop_bar=True)  # fmt: skip
    assert [f[:3] for f in fills(again)][:3] == [(1, "buy", "entry"), (2, "sell", "exit"), (3, "buy", "entry")]


def test_the_anchor_is_the_average_cost():
    # 5 shares bought at 100 (bar 1); at bar 2's close equity is 1050, so the weight of 1 holds
    # 1050 / 110 shares: 4.545 more at 110 (bar 3), 1000 paid for 9.545 shares, average 104.76;
    # the 5 % stop sits at 99.52, inside bar 4
    bars = [(100, 100, 100, 100), (100, 101, 99, 100), (110, 111, 109, 110), (110, 111, 109, 110),
            (105, 106, 99.5, 100), (100, 101, 99, 100)]  # fmt: skip
    df = frame(bars).with_columns(w=pl.when(pl.col("timestamp").dt.day() <= 2).then(0.5).otherwise(1.0))
    res = vec.backtest(df, weights="w", rebalance=[df["timestamp"][i] for i in (0, 2)], stop_loss=0.05,
                       fractional=True, init_cash=1000.0)  # fmt: skip
    got = fills(res)
    assert [g[:3] for g in got] == [(1, "buy", "entry"), (3, "buy", "increase"), (4, "sell", "exit")]
    assert got[-1][3:] == ("stop_loss", pytest.approx(0.95 * res.trades["entry_price"][0], rel=1e-12))
    assert res.trades["entry_price"][0] == pytest.approx(1000.0 / (1050.0 / 110.0), rel=1e-12)


def test_refused_settings_name_themselves():
    with pytest.raises(vec.ConfigError, match="stop_loss_price"):
        vec.backtest(frame(), weights="w", stop_loss_price="close")
    with pytest.raises(vec.ConfigError, match="average cost"):
        vec.backtest(frame(), weights="w", stop_loss=0.05, stop_anchor="signal_close")


def test_max_position_weight_caps_each_target_weight():
    res = vec.backtest(frame(), weights="w", rebalance=[frame()["timestamp"][0]], max_position_weight=0.25,
                       fractional=True, init_cash=1000.0)  # fmt: skip
    f = res.fills.row(0, named=True)
    assert f["quantity"] * 100.0 == pytest.approx(250.0, rel=1e-12)  # 25 % of the equity at the decision close


def test_the_drawdown_breaker_liquidates_then_refuses_increases_until_its_cooldown():
    # in at 100 (bar 1); bar 2 closes at 94: 6 % under the high-water mark -> tripped at its close
    kw = dict(weights="w", max_drawdown=0.05, drawdown_action="liquidate", fractional=True, init_cash=1000.0)
    res = vec.backtest(frame(), **kw)
    got = [f[:4] for f in fills(res)]
    assert got == [(1, "buy", "entry", "rebalance"), (3, "sell", "exit", "liquidation")]
    refused = res.rejected.sort("timestamp")["reason"].to_list()
    assert refused == ["max_drawdown"] * 3 + ["no_next_bar"]  # bars 4, 5, 6; bar 6's decision has no next bar
    cooled = vec.backtest(frame(), **kw, drawdown_cooldown=2)  # resets at bar 4's close: back in at bar 5
    assert [f[:4] for f in fills(cooled)][:3] == got + [(5, "buy", "entry", "rebalance")]


def test_max_positions_admits_new_names_in_priority_order():
    two = pl.concat([frame().with_columns(w=pl.lit(0.5)), frame().with_columns(asset=pl.lit("B"), w=pl.lit(0.5))])
    res = vec.backtest(two, weights="w", rebalance=[two["timestamp"][0]], max_positions=1, fractional=True)
    assert res.fills["symbol"].to_list() == ["A"]  # asset order
    r = res.rejected.row(0, named=True)
    assert (r["symbol"], r["reason"], r["filled_quantity"]) == ("B", "max_positions", 0.0)
    prio = two.with_columns(score=pl.when(pl.col("asset") == "B").then(1.0).otherwise(0.0))
    res = vec.backtest(prio, weights="w", rebalance=[two["timestamp"][0]], max_positions=1, priority="score")
    assert res.fills["symbol"].to_list() == ["B"]
