"""``preset="ml4t"``: ml4t-backtest 0.2.0's parity scenarios (PEERS.md section 3) rebuilt as
regression tests. 100 shares per entry, 100,000 cash, costs off unless noted; every expected
number is worked out in the comments from ml4t-backtest's documented rules:

next-bar open fills, exits before entries, entries only when flat (long wins a tie), no same-bar
reversal, stop levels from the fill price (slippage included), no stop check on the entry bar,
rule chain stop-loss -> take-profit -> trailing, each at its level or at the open on a gap,
trailing level from the highest of the fill price and the closes since, as of the previous bar, slippage also on
stop exits, open positions reported as status "open" at the last close.
"""

import datetime as dt

import numpy as np
import polars as pl
import pytest
from reference import engine

import ml4t_vec as vec

D0 = dt.date(2024, 1, 1)
KW = dict(entries="e", exits="x", short_entries="se", short_exits="sx", size=100, size_type="shares",
          preset="ml4t")  # fmt: skip


def path(bars, sigs=None) -> pl.DataFrame:
    """bars: (open, high, low, close) per day; sigs: bar -> set of signal names."""
    sigs = sigs or {}
    return pl.DataFrame(
        [
            dict(timestamp=D0 + dt.timedelta(days=i), asset="X", open=float(o), high=float(h), low=float(lo),
                 close=float(c), **{k: k in sigs.get(i, ()) for k in ("e", "x", "se", "sx")})
            for i, (o, h, lo, c) in enumerate(bars)
        ]
    )  # fmt: skip


def flat_bar(p):
    return (p, p, p, p)


def rows(res, *cols):
    return res.trades.select(*cols).rows()


def test_long_only():
    bars = [flat_bar(100), flat_bar(101), flat_bar(102), flat_bar(103), flat_bar(104)]
    res = vec.backtest(path(bars, {0: {"e"}, 2: {"x"}}), **KW)
    # buy 100 at bar 1's open (101), sell at bar 3's open (103): pnl 200
    assert rows(res, "entry_price", "exit_price", "quantity", "pnl", "exit_reason") == [
        (101.0, 103.0, 100.0, 200.0, "signal")
    ]


def test_long_short_flat_only_rules():
    bars = [flat_bar(100 + i) for i in range(8)]
    sigs = {0: {"e", "se"}, 1: {"se"}, 2: {"x"}, 3: {"se"}, 5: {"sx", "e"}}
    res = vec.backtest(path(bars, sigs), **KW)
    # bar 0: long wins the tie -> long at 101; bar 1: short entry while long is ignored (no
    # reversal); bar 2: exit -> out at 103; bar 3: short -> sells at 104; bar 5: short exit
    # closes (the long entry is ignored while short) -> buys back at 106
    assert rows(res, "direction", "entry_price", "exit_price", "pnl") == [
        ("long", 101.0, 103.0, 200.0),
        ("short", 104.0, 106.0, -200.0),
    ]


def test_short_only():
    bars = [flat_bar(p) for p in (100, 99, 97, 95, 94)]
    res = vec.backtest(path(bars, {0: {"se"}, 2: {"sx"}}), **KW)
    # short 100 at 99, cover at 95: pnl 400
    assert rows(res, "quantity", "entry_price", "exit_price", "pnl") == [(-100.0, 99.0, 95.0, 400.0)]


def test_stop_loss_5pct_on_a_steady_decline():
    # fill at bar 1's open 102; stop 102 * 0.95 = 96.9. The entry bar's low (96) is not checked.
    # Bar 2 low 97.5, bar 3 low 96.5 <= 96.9, opened at 97.2 above it: out at 96.9
    bars = [flat_bar(102), (102, 102, 96, 99), (99, 99.5, 97.5, 98), (97.2, 97.4, 96.5, 97), flat_bar(96)]
    res = vec.backtest(path(bars, {0: {"e"}}), stop_loss=0.05, **KW)
    t = res.trades.row(0, named=True)
    assert (t["exit_reason"], t["exit_price"], t["exit_time"]) == (
        "stop_loss",
        pytest.approx(96.9),
        D0 + dt.timedelta(3),
    )
    assert t["pnl"] == pytest.approx((96.9 - 102) * 100)


def test_take_profit_10pct_on_a_jump():
    # fill 100; target 110. Bar 2 opens at 115 after a jump: out at the open (115), not 110
    bars = [flat_bar(100), (100, 104, 99, 103), (115, 118, 114, 117), flat_bar(117)]
    t = vec.backtest(path(bars, {0: {"e"}}), take_profit=0.10, **KW).trades.row(0, named=True)
    assert (t["exit_reason"], t["exit_price"], t["pnl"]) == ("take_profit", 115.0, 1500.0)


@pytest.mark.parametrize(
    ("costs", "fees"),
    [
        (dict(fees=0.001), 100 * 101 * 0.001 + 100 * 103 * 0.001),  # 0.1% of each fill's notional
        (dict(commission_per_share=0.005), 2 * 100 * 0.005),  # $0.005 a share, twice
    ],
)
def test_commissions(costs, fees):
    bars = [flat_bar(100), flat_bar(101), flat_bar(102), flat_bar(103)]
    t = vec.backtest(path(bars, {0: {"e"}, 2: {"x"}}), **KW, **costs).trades.row(0, named=True)
    assert t["fees"] == pytest.approx(fees)
    assert t["pnl"] == pytest.approx(200 - fees)


@pytest.mark.parametrize(
    ("costs", "entry", "exit"),
    [
        (dict(slippage_per_share=0.01), 101.01, 102.99),  # $0.01 against the trader each way
        (dict(slippage=0.001), 101 * 1.001, 103 * 0.999),  # 0.1% each way
    ],
)
def test_slippage(costs, entry, exit):
    bars = [flat_bar(100), flat_bar(101), flat_bar(102), flat_bar(103)]
    t = vec.backtest(path(bars, {0: {"e"}, 2: {"x"}}), **KW, **costs).trades.row(0, named=True)
    assert (t["entry_price"], t["exit_price"]) == (pytest.approx(entry), pytest.approx(exit))
    assert t["pnl"] == pytest.approx((exit - entry) * 100)


def test_slippage_applies_to_stop_exits_and_moves_the_stop_level():
    # fill 100 + 0.01 = 100.01; stop 5% of the fill: 95.0095; bar 2 low 94 -> exit at
    # 95.0095 - 0.01 = 94.9995
    bars = [flat_bar(100), (100, 100, 99, 99), (99, 99, 94, 95), flat_bar(95)]
    t = vec.backtest(path(bars, {0: {"e"}}), stop_loss=0.05, slippage_per_share=0.01, **KW).trades.row(0, named=True)
    assert t["exit_price"] == pytest.approx(100.01 * 0.95 - 0.01)


TREND_UP = [flat_bar(100), (100, 101, 99, 100), (101, 106, 100, 105), (106, 111, 105, 110), (110, 110.5, 104, 105),
            flat_bar(105)]  # fmt: skip


def test_trailing_stop_5pct_long():
    # fill 100 (bar 1); closes since the fill: 100, 105, 110. On bar 4 the level is 110 * 0.95 =
    # 104.5 (highest close as of bar 3); bar 4's low 104 reaches it: out at 104.5
    t = vec.backtest(path(TREND_UP, {0: {"e"}}), trailing_stop=0.05, **KW).trades.row(0, named=True)
    assert (t["exit_reason"], t["exit_price"], t["exit_time"]) == (
        "trailing_stop",
        pytest.approx(104.5),
        D0 + dt.timedelta(4),
    )


def test_trailing_stop_5pct_short():
    bars = [flat_bar(100), (100, 101, 99, 100), (99, 100, 94, 95), (94, 95, 89, 90), (90, 95, 89.5, 94),
            flat_bar(94)]  # fmt: skip
    # short at 100; lowest close 90 as of bar 3 -> level 94.5 on bar 4; high 95 reaches it
    t = vec.backtest(path(bars, {0: {"se"}}), trailing_stop=0.05, **KW).trades.row(0, named=True)
    assert (t["exit_reason"], t["exit_price"]) == ("trailing_stop", pytest.approx(94.5))


def test_trailing_peak_starts_at_the_fill_and_moves_with_closes():
    # fill at 100, entry bar closes at 96: the peak stays at the fill (max(100, 96)), level 95 on
    # bar 2, whose low 94 reaches it: out at 95 (ml4t-backtest: Position water marks start at the
    # fill price, FillExecutor._get_initial_hwm, and move with closes, Broker._update_water_marks)
    bars = [flat_bar(100), (100, 100, 95.5, 96), (96, 97, 94, 96.5), flat_bar(96.5)]
    res = vec.backtest(path(bars, {0: {"e"}}), trailing_stop=0.05, **KW)
    assert rows(res, "exit_reason", "exit_price", "exit_time") == [
        ("trailing_stop", pytest.approx(95.0), D0 + dt.timedelta(2))
    ]
    # trailing_start="first_bar" starts the peak at the first close held instead (96 -> 91.2)
    res = vec.backtest(path(bars, {0: {"e"}}), trailing_stop=0.05, **KW | dict(trailing_start="first_bar"))
    assert res.trades["status"].to_list() == ["open"]


def test_bracket_stop_loss_and_take_profit():
    # fill 100; SL 95, TP 110. Bar 2 high 111 -> take-profit at 110
    bars = [flat_bar(100), (100, 104, 97, 103), (103, 111, 101, 108), flat_bar(108)]
    res = vec.backtest(path(bars, {0: {"e"}}), stop_loss=0.05, take_profit=0.10, **KW)
    assert rows(res, "exit_reason", "exit_price") == [("take_profit", pytest.approx(110.0))]


def test_rule_chain_order_when_several_trigger_on_one_bar():
    # fill 100; closes 100, 112 -> on bar 3 the trailing level is 112 * 0.95 = 106.4 and the
    # target 110 (TP 10%). Bar 3 (open 108, high 111, low 104) reaches both: take-profit first.
    bars = [flat_bar(100), (100, 101, 99, 100), (100, 112.5, 100, 112), (108, 111, 104, 105), flat_bar(105)]
    res = vec.backtest(path(bars, {0: {"e"}}), trailing_stop=0.05, take_profit=0.10, **KW)
    assert rows(res, "exit_reason", "exit_price") == [("take_profit", pytest.approx(110.0))]
    # trailing + stop-loss: SL 2% (98) and trailing 106.4 both reached by a bar with low 97:
    # stop-loss first, at its level
    bars[3] = (108, 109, 97, 98)
    res = vec.backtest(path(bars, {0: {"e"}}), trailing_stop=0.05, stop_loss=0.02, **KW)
    assert rows(res, "exit_reason", "exit_price") == [("stop_loss", 98.0)]
    # all three: only the trailing level is reached (low 106, above the SL; high below the TP)
    bars[3] = (108, 109, 106, 107)
    res = vec.backtest(path(bars, {0: {"e"}}), trailing_stop=0.05, stop_loss=0.02, take_profit=0.2, **KW)
    assert rows(res, "exit_reason", "exit_price") == [("trailing_stop", pytest.approx(106.4))]


def test_no_reentry_on_a_stop_exit_bar_and_open_positions_at_the_end():
    # stop 5% of 100 = 95 hit on bar 2; the entry signal on bar 2 is dropped; bar 3's fills at 4
    bars = [flat_bar(100), (100, 100, 99, 99), (98, 98, 94, 95), flat_bar(96), flat_bar(97)]
    res = vec.backtest(path(bars, {0: {"e"}, 2: {"e"}, 3: {"e"}}), stop_loss=0.05, **KW)
    assert rows(res, "entry_price", "exit_reason", "status") == [
        (100.0, "stop_loss", "closed"),
        (97.0, "end_of_data", "open"),
    ]


def stress_path(n: int = 1500, seed: int = 7) -> pl.DataFrame:
    """1,500 bars through nine regimes (bull, bear, +10% / -10% jumps, crash, high volatility,
    sideways, recovery), with entries every 7 bars and exits every 11."""
    rng = np.random.default_rng(seed)
    drift = np.repeat([0.001, -0.001, 0.0, 0.002, -0.004, 0.0, 0.0005, -0.0005, 0.0015], n // 9 + 1)[:n]
    vol = np.repeat([0.01, 0.015, 0.01, 0.02, 0.04, 0.035, 0.008, 0.02, 0.012], n // 9 + 1)[:n]
    r = drift + vol * rng.standard_normal(n)
    r[[200, 700]] += 0.10  # jumps up
    r[[450, 1000]] -= 0.10  # jumps down
    close = 100 * np.exp(np.cumsum(r))
    open_ = np.r_[100.0, close[:-1]] * np.exp(vol * 0.3 * rng.standard_normal(n))
    high = np.maximum(open_, close) * np.exp(np.abs(vol * 0.5 * rng.standard_normal(n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(vol * 0.5 * rng.standard_normal(n)))
    i = np.arange(n)
    sigs = {k: set() for k in range(n)}
    for k in i[i % 7 == 0]:
        sigs[k].add("e")
    for k in i[i % 11 == 0]:
        sigs[k].add("x")
    return path(list(zip(open_, high, low, close, strict=True)), sigs)


def test_stress_path_1500_bars_matches_the_reference_engine():
    """The long path has no hand answer: it is checked against the plain reference engine with
    the same rules, plus pinned totals that catch any change of behaviour."""
    df = stress_path()
    rules = dict(stop_loss=0.05, take_profit=0.10, trailing_stop=0.03, fees=0.001, slippage_per_share=0.01)
    res = vec.backtest(df, **KW, **rules)
    bars = {i: engine.Bar(r["open"], r["high"], r["low"], r["close"], r["e"], r["x"], r["se"], r["sx"])
            for i, r in enumerate(df.iter_rows(named=True))}  # fmt: skip
    panel = engine.Panel(list(range(df.height)), ["X"], {"X": bars})
    cfg = engine.Config(size=100, size_type="shares", fractional=False, fees=0.001, slippage_per_share=0.01,
                        signal_rules="flat_only", intrabar="rule_chain", stop_on_entry_bar=False,
                        trailing_start="anchor", stop_loss=0.05, take_profit=0.10, trailing_stop=0.03)  # fmt: skip
    want = engine.run(panel, cfg)["trades"]
    keys = ("entry_time", "exit_time", "quantity", "entry_price", "exit_price", "pnl", "fees", "exit_reason")
    got = res.trades.with_columns(
        [(pl.col(c) - pl.lit(D0)).dt.total_days().alias(c) for c in ("entry_time", "exit_time")]
    ).with_columns(pl.col("exit_reason").cast(pl.String))
    assert got.height == len(want)
    for g, w in zip(got.select(keys).rows(), want, strict=True):
        assert g[-1] == w["exit_reason"], (g, w)
        assert g[:-1] == pytest.approx(tuple(w[k] for k in keys[:-1]), rel=1e-9), (g, w)
    reasons = dict(res.trades.group_by("exit_reason").len().with_columns(pl.col("exit_reason").cast(pl.String)).rows())
    assert set(reasons) <= {"signal", "stop_loss", "take_profit", "trailing_stop", "end_of_data"}
    assert res.trades.height == len(want) > 50
