"""Pyramiding (``accumulate=True``, ``max_entries``): hand-computed cases, the settings' errors,
and a sweep over ``max_entries``. The random cases are in tests/property/test_parity.py
(``test_accumulate_matches_reference``)."""

import dataclasses

import polars as pl
import pytest
from test_golden import KW, D, frame, one

import ml4t_vec as vec
from ml4t_vec.errors import ConfigError

# bar i: open 10 + i, high open + 1, low open - 1, close open + 0.5
BARS = [(10 + i, 11 + i, 9 + i, 10.5 + i) for i in range(8)]


def test_adds_at_average_cost_up_to_max_entries():
    # entry signals on bars 0, 1, 2, 3 -> buy 10 at bar 1's open (11), add 10 at bar 2's open (12);
    # max_entries=2 ignores bars 2 and 3; the exit signal on bar 5 sells 20 at bar 6's open (16)
    res = vec.backtest(
        one({0: {"e": True}, 1: {"e": True}, 2: {"e": True}, 3: {"e": True}, 5: {"x": True}}, BARS),
        fees=0.01, accumulate=True, max_entries=2, **KW,
    )  # fmt: skip
    f = res.fills
    assert f.get_column("effect").cast(pl.String).to_list() == ["entry", "increase", "exit"]
    assert f.get_column("timestamp").to_list() == [D[1], D[2], D[6]]
    assert f.get_column("quantity").to_list() == [10.0, 10.0, 20.0]
    assert f.get_column("position_id").to_list() == [0, 0, 0]
    t = res.trades.row(0, named=True)
    assert res.trades.height == 1 and t["status"] == "closed"
    assert (t["entry_time"], t["exit_time"], t["quantity"]) == (D[1], D[6], 20.0)
    assert t["entry_price"] == pytest.approx(11.5)  # (10 x 11 + 10 x 12) / 20
    # fees: 1.1 + 1.2 at entry, 3.2 at the exit; pnl = 20 x (16 - 11.5) - 5.5
    assert t["fees"] == pytest.approx(5.5)
    assert t["pnl"] == pytest.approx(84.5)
    assert t["bars_held"] == 5  # from the first entry
    assert res.equity.get_column("equity")[-1] == pytest.approx(1000 + 84.5)
    assert res.positions.row(0, named=True)["max_quantity"] == 20.0


def test_without_accumulate_a_repeated_entry_is_ignored():
    res = vec.backtest(one({0: {"e": True}, 1: {"e": True}, 5: {"x": True}}, BARS), **KW)
    assert res.fills.get_column("effect").cast(pl.String).to_list() == ["entry", "exit"]


def test_unlimited_entries_and_short_side():
    # short entries on bars 0..3: sell 10 at the opens of bars 1..4 (11, 12, 13, 14); no exit:
    # an open row of 40 shares at 12.5, marked at the last close (17.5)
    res = vec.backtest(one({i: {"se": True} for i in range(4)}, BARS), accumulate=True, **KW)
    f = res.fills
    assert f.get_column("effect").cast(pl.String).to_list() == ["entry"] + ["increase"] * 3
    assert f.get_column("side").cast(pl.String).to_list() == ["sell"] * 4
    t = res.trades.row(0, named=True)
    assert (t["status"], t["quantity"]) == ("open", -40.0)
    assert t["entry_price"] == pytest.approx(12.5)
    assert t["pnl"] == pytest.approx(-40 * (17.5 - 12.5))


def test_stop_anchor_moves_to_the_average_cost():
    # long 10 at 11, add 10 at 12 (average 11.5); a 10% stop sits at 10.35 after the add. Bar 4's
    # low (10) reaches it: sold at 10.35. Without the add, the first entry's stop (9.9) holds.
    bars = [*BARS[:4], (11, 11.5, 10, 10.2), (10.2, 10.5, 10, 10.3)]
    kw = dict(KW, stop_loss=0.1, accumulate=True)
    res = vec.backtest(one({0: {"e": True}, 1: {"e": True}}, bars), **kw)
    t = res.trades.row(0, named=True)
    assert (t["exit_reason"], t["exit_time"], t["quantity"]) == ("stop_loss", D[4], 20.0)
    assert t["exit_price"] == pytest.approx(11.5 * 0.9)
    alone = vec.backtest(one({0: {"e": True}}, bars), **dict(kw, accumulate=False))
    assert alone.trades.row(0, named=True)["status"] == "open"


def test_weight_cap_counts_what_is_held():
    # shared cash, max_position_weight 0.3 of equity (~1000): the entry buys 20 at 11 (220); the add
    # may buy what keeps the position within 300 at the add's price (12): (300 - 20 x 12) / 12 = 5
    res = vec.backtest(
        one({0: {"e": True}, 1: {"e": True}}, BARS),
        **dict(KW, size=20, accumulate=True, max_position_weight=0.3),
    )
    f = res.fills.filter(pl.col("effect") == "increase").row(0, named=True)
    eq = 1000 - 20 * 11 + 20 * 12  # cash + the position at the add's price
    assert f["quantity"] == pytest.approx((0.3 * eq - 20 * 12) / 12)
    r = res.rejected.row(0, named=True)
    assert (r["effect"], r["reason"], r["requested_quantity"]) == ("increase", "max_position_weight", 20.0)


def test_max_positions_does_not_refuse_an_increase():
    df = frame({a: [(i, b, {"e": i < 2}) for i, b in enumerate(BARS)] for a in ("A", "B")})
    res = vec.backtest(df, **dict(KW, size=5, accumulate=True, max_positions=1))
    f = res.fills.select("symbol", "effect", pl.col("timestamp"))
    assert f.filter(pl.col("symbol") == "A").get_column("effect").cast(pl.String).to_list() == ["entry", "increase"]
    assert f.filter(pl.col("symbol") == "B").height == 0
    # B's entries (signal bars 0 and 1) are refused at bars 1 and 2; A's add at bar 2 is not
    assert res.rejected.get_column("symbol").to_list() == ["B", "B"]
    assert res.rejected.get_column("reason").cast(pl.String).to_list() == ["max_positions"] * 2


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(max_entries=2), "accumulate=True"),
        (dict(accumulate=True, max_entries=0), "max_entries"),
        (dict(accumulate=True, max_entries=2.5), "max_entries"),
        (dict(accumulate="yes"), "accumulate"),
    ],
)
def test_bad_settings(kw, match):
    with pytest.raises(ConfigError, match=match):
        vec.backtest(one({0: {"e": True}}, BARS), **KW, **kw)


def test_refused_with_weights():
    df = one({}, BARS).with_columns(w=pl.lit(0.5))
    with pytest.raises(ConfigError, match="accumulate"):
        vec.backtest(df, weights="w", accumulate=True)


def test_sweep_over_max_entries_equals_single_runs():
    prices = vec.synthetic_prices(n_assets=4, n_bars=250, seed=5)
    kw = dict(entries=pl.col("pred") > 0.55, exits=pl.col("pred") < 0.3, size=0.05, fees=0.001, accumulate=True)
    sw = vec.sweep(prices, params={"max_entries": [1, 2, 4]}, **kw)
    for row in sw.results.iter_rows(named=True):
        one_run = vec.backtest(prices, max_entries=row["max_entries"], **kw)
        assert row["total_return"] == pytest.approx(one_run.stats()["total_return"][0], rel=1e-9)
    returns = sw.results.get_column("total_return").to_list()
    assert len(set(returns)) == 3  # the cap changes the run


def test_config_round_trip():
    cfg = vec.backtest(one({0: {"e": True}}, BARS), accumulate=True, max_entries=3, **KW).config
    assert (cfg.sizing.accumulate, cfg.sizing.max_entries) == (True, 3)
    assert dataclasses.replace(cfg.sizing, max_entries=None).max_entries is None


def test_a_forced_exit_replaces_a_waiting_add():
    # entry signals on every bar: buy 5 at bar 1's open (100), add 5 at bar 2's open (100); bar 2
    # closes at 80, a 20% drawdown: the breaker's liquidation replaces the add decided on bar 2,
    # and closes all 10 at bar 3's open; later entries are refused while it holds
    bars = [(100, 100.1, 99.9, 100)] * 2 + [(100, 100, 80, 80)] + [(80, 80.1, 79.9, 80)] * 3
    kw = dict(KW, size=5, accumulate=True, max_drawdown=0.02, drawdown_action="liquidate")
    res = vec.backtest(one({i: {"e": True} for i in range(6)}, bars), **kw)
    f = res.fills.with_columns(pl.col(pl.Enum).cast(pl.String))
    assert f.select("timestamp", "effect", "quantity", "reason").rows() == [
        (D[1], "entry", 5.0, "signal"),
        (D[2], "increase", 5.0, "signal"),
        (D[3], "exit", 10.0, "liquidation"),
    ]
    assert set(res.rejected.get_column("reason").cast(pl.String)) == {"max_drawdown", "no_next_bar"}


@pytest.mark.parametrize("kw", [dict(fill="next_close"), dict(fill_order="ml4t")])
def test_an_add_whose_position_a_stop_closed_is_dropped(kw):
    # long 10 (signal bar 0); the add decided on bar 1 would fill on bar 2 after the bar's stop (at
    # its close, or at its open after the rules under fill_order="ml4t"): a position_closed row
    bars = [(100, 100.5, 99.5, 100), (100, 101, 99.5, 100), (100, 100.5, 90, 91), (91, 92, 90, 91)]
    res = vec.backtest(one({0: {"e": True}, 1: {"e": True}}, bars), **dict(KW, accumulate=True, stop_loss=0.05), **kw)
    assert res.fills.get_column("effect").cast(pl.String).to_list() == ["entry", "exit"]
    assert res.trades.get_column("exit_reason").cast(pl.String).to_list() == ["stop_loss"]
    r = res.rejected.with_columns(pl.col(pl.Enum).cast(pl.String)).row(0, named=True)
    assert (r["timestamp"], r["effect"], r["reason"], r["filled_quantity"]) == (
        D[2],
        "increase",
        "position_closed",
        0.0,
    )


def test_an_add_on_the_last_bar_is_an_increase_without_a_bar():
    res = vec.backtest(one({0: {"e": True}, 3: {"e": True}}, BARS[:4]), **dict(KW, accumulate=True))
    r = res.rejected.with_columns(pl.col(pl.Enum).cast(pl.String)).row(0, named=True)
    assert (r["timestamp"], r["effect"], r["reason"]) == (D[3], "increase", "no_next_bar")
