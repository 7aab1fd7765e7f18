"""The metric set of ``stats()``, the benchmark rules, rolling metrics and periodic returns:
hand-worked numbers and independent loops (the oracles empyrical, quantstats and
backtesting.py are in tests/peers/test_metric_oracles.py)."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest
from panels import flat_prices

import ml4t_vec as vec
from ml4t_vec.metrics import STATS_DOC, drawdown_episodes, relative_metrics, return_metrics, trade_metrics

pytestmark = pytest.mark.filterwarnings("ignore::ml4t_vec.LookAheadWarning")
D0 = dt.date(2024, 1, 1)


def test_drawdown_episodes_by_hand():
    """Peak at the initial cash (bar -1); episodes end at the bar that regains the peak, or
    at the last bar: lengths from the peak's bar."""
    dd = np.array([-0.1, -0.2, 0.0, 0.0, -0.05, 0.0, -0.3, -0.1])
    depth, length = drawdown_episodes(dd)
    assert depth.tolist() == [-0.2, -0.05, -0.3]
    assert length.tolist() == [3, 2, 2]  # bar -1 -> 2, bar 3 -> 5, bar 5 -> 7 (the end)
    assert [a.tolist() for a in drawdown_episodes(np.zeros(4))] == [[], []]
    # a drawdown that starts on the last bar is an episode of one bar (backtesting.py drops it)
    assert [a.tolist() for a in drawdown_episodes(np.array([0.0, 0.0, -0.1]))] == [[-0.1], [1]]
    assert [a.tolist() for a in drawdown_episodes(np.array([-0.1]))] == [[-0.1], [1]]
    assert [a.tolist() for a in drawdown_episodes(np.array([0.0, -0.1, 0.0, -0.2]))] == [[-0.1, -0.2], [2, 1]]


def test_return_metrics_by_hand():
    r = np.array([0.1, -0.1, 0.05, -0.02])
    eq = 100.0 * np.cumprod(1 + r)
    dd = eq / np.maximum.accumulate(np.maximum(eq, 100.0)) - 1
    m = return_metrics(r, eq, dd, 100.0, 4.0)  # four bars a year: one year
    assert math.isclose(m["total_return"], eq[-1] / 100 - 1)
    assert math.isclose(m["cagr"], eq[-1] / 100 - 1)
    assert math.isclose(m["omega"], 0.15 / 0.12)
    assert m["best_return"] == 0.1 and m["worst_return"] == -0.1
    assert math.isclose(m["max_drawdown"], -0.1)  # peak 110 at bar 0, 99 at bar 1, never regained
    assert m["max_drawdown_duration"] == 3 and m["avg_drawdown_duration"] == 3.0
    assert math.isclose(m["var_95"], np.percentile(r, 5))
    assert math.isclose(m["cvar_95"], -0.1)  # int(3 * 0.05) + 1 = 1 worst return


def _trades(pnls, pcts, bars, status=None):
    n = len(pnls)
    t = [D0 + dt.timedelta(days=i) for i in range(n)]
    return pl.DataFrame(
        {
            "symbol": ["A"] * n,
            "entry_time": t,
            "exit_time": t,
            "entry_price": [10.0] * n,
            "quantity": [10.0] * n,
            "pnl": pnls,
            "pnl_percent": pcts,
            "gross_pnl": [p + 1.0 for p in pnls],
            "fees": [1.0] * n,
            "entry_slippage": [0.5] * n,
            "exit_slippage": [0.5] * n,
            "bars_held": bars,
            "status": status or ["closed"] * n,
        }
    )


def _fills(n):
    return pl.DataFrame({"fees": [1.0] * n, "slippage": [0.5] * n, "quantity": [10.0] * n, "price": [10.0] * n,
                         "effect": ["entry"] * n})  # fmt: skip


def test_trade_metrics_by_hand():
    """pnl +10, +20, -5, 0, +5, -10, -10 (in exit order): 3 wins, 3 losses, one flat trade."""
    pnl = [10.0, 20.0, -5.0, 0.0, 5.0, -10.0, -10.0]
    m = trade_metrics(_trades(pnl, [p / 100 for p in pnl], [1, 2, 3, 4, 5, 6, 7]), _fills(14))
    assert (m["winning_trades"], m["losing_trades"], m["n_trades"]) == (3, 3, 7)
    assert m["max_win_streak"] == 2 and m["max_loss_streak"] == 2  # the flat trade ends the first run
    assert math.isclose(m["payoff_ratio"], (35 / 3) / (25 / 3))
    assert math.isclose(m["kelly"], 3 / 7 - (4 / 7) / ((35 / 3) / (25 / 3)))
    assert math.isclose(m["sqn"], math.sqrt(7) * np.mean(pnl) / np.std(pnl, ddof=1))
    assert (m["largest_win"], m["largest_loss"]) == (20.0, -10.0)
    assert m["avg_winning_bars"] == (1 + 2 + 5) / 3 and m["avg_losing_bars"] == (3 + 6 + 7) / 3
    assert math.isclose(m["avg_cost_drag"], 2.0 / 100.0)  # fees 1 + slippage 0.5 + 0.5 on 100 notional
    assert m["total_costs"] == 14 * 1.5 and m["traded_notional"] == 14 * 100.0


def test_relative_metrics_by_hand():
    """r = 2 b + 0.001 exactly: beta 2, correlation 1, per-bar alpha 0.001."""
    b = np.array([0.01, -0.02, 0.015, 0.0, -0.005])
    r = 2 * b + 0.001
    m = relative_metrics(r, b, float(np.prod(1 + r) - 1), 252.0)
    assert math.isclose(m["beta"], 2.0) and math.isclose(m["correlation"], 1.0)
    assert math.isclose(m["alpha"], 1.001**252 - 1)
    assert math.isclose(m["benchmark_return"], np.prod(1 + b) - 1)
    active = r - b
    assert math.isclose(m["information_ratio"], active.mean() / active.std(ddof=1) * math.sqrt(252))
    up = b > 0
    ann = lambda x: np.prod(1 + x) ** (252 / x.shape[0]) - 1  # noqa: E731
    assert math.isclose(m["up_capture"], ann(r[up]) / ann(b[up]))
    assert all(math.isnan(v) for v in relative_metrics(r, None, 0.0, 252.0).values())


def test_risk_free_by_hand_and_refused_values():
    """r = 2 b + 0.001 with a per-bar risk-free rate of 0.0004: the alpha is then per bar
    0.001 - 0.0004 + 2 * 0.0004 = 0.0014; the Sharpe and Sortino use r - rf."""
    b = np.array([0.01, -0.02, 0.015, 0.0, -0.005])
    r = 2 * b + 0.001
    m = relative_metrics(r, b, float(np.prod(1 + r) - 1), 252.0, 0.0004)
    assert math.isclose(m["alpha"], 1.0014**252 - 1)
    eq = 100.0 * np.cumprod(1 + r)
    dd = eq / np.maximum.accumulate(np.maximum(eq, 100.0)) - 1
    m = return_metrics(r, eq, dd, 100.0, 252.0, 0.0004)
    x = r - 0.0004
    assert math.isclose(m["sharpe"], x.mean() / r.std(ddof=1) * math.sqrt(252))
    assert math.isclose(m["sortino"], x.mean() / math.sqrt(np.mean(np.minimum(x, 0) ** 2)) * math.sqrt(252))
    res = vec.backtest(flat_prices({"A": [10.0, 11.0, 10.5, 12.0, 11.5, 12.5]}), entries=pl.col("close") > 0,
                       exits=pl.col("close") < 0)  # fmt: skip
    assert res.stats(risk_free=0.0).equals(res.stats())
    row = res.stats(periods_per_year=12, risk_free=0.05).row(0, named=True)
    assert row["risk_free"] == 0.05
    for bad in (-1.0, float("nan"), "0.04", True, None):
        with pytest.raises(vec.ConfigError, match="risk_free"):
            res.stats(risk_free=bad)
        with pytest.raises(vec.ConfigError, match="risk_free"):
            res.rolling(risk_free=bad)


def test_stats_columns_and_an_empty_run():
    """Every metric of STATS_DOC in order; a run without trades gives numbers or NaN, no error."""
    prices = flat_prices({"A": [10, 11, 12, 11], "B": [20, 20, 21, 22]})
    res = vec.backtest(prices, entries=pl.lit(False), benchmark="B")
    s = res.stats()
    assert s.columns == list(STATS_DOC)
    row = s.row(0, named=True)
    assert row["n_trades"] == 0 and math.isnan(row["sqn"]) and row["total_return"] == 0.0
    assert math.isclose(row["benchmark_return"], 0.1)  # bought at the first close 20, worth 22 at the end
    assert "benchmark" in repr(res.summary())
    assert "benchmark" not in repr(vec.backtest(prices, entries=pl.lit(False)).summary())


def test_benchmark_asset_with_a_gap():
    """B has no row on bar 2: it keeps its close (0 return), then the return runs from its last close."""
    prices = flat_prices({"A": [10, 11, 12, 13], "B": [20, 22, None, 33]})
    res = vec.backtest(prices, entries=pl.lit(True), benchmark="B")
    assert res.benchmark.get_column("return").to_list() == pytest.approx([0.0, 0.1, 0.0, 0.5])
    with pytest.warns(vec.DataWarning, match="no return on 1 of 4 bars"):
        late = vec.backtest(flat_prices({"A": [10, 11, 12, 13], "B": [None, 20, 22, 22]}), entries=pl.lit(True),
                            benchmark="B")  # fmt: skip
    assert late.benchmark.get_column("return").to_list() == [None, 0.0, pytest.approx(0.1), 0.0]
    assert late.benchmark.get_column("equity").to_list() == pytest.approx([1.0, 1.0, 1.1, 1.1])


def test_relative_metrics_skip_bars_without_a_benchmark_return():
    """Bars before the benchmark lists are left out of beta etc., not counted as 0 returns."""
    r = np.array([0.05, -0.03, 0.01, 0.02, -0.01, 0.03])
    b = np.array([np.nan, np.nan, 0.01, 0.015, -0.004, 0.02])
    m = relative_metrics(r, b, 0.0, 252.0)
    want = relative_metrics(r[2:], b[2:], 0.0, 252.0)
    assert m["beta"] == pytest.approx(want["beta"]) and m["correlation"] == pytest.approx(want["correlation"])
    assert m["benchmark_return"] == pytest.approx(np.prod(1 + b[2:]) - 1)


def test_benchmark_frames_on_other_calendars():
    """A daily returns frame against weekly bars compounds each week's days into the bar (the
    first bar is 0: the benchmark is held from its close); a Date frame against a zoned
    Datetime axis counts at the first bar on or after its date; an intraday frame against a
    Date axis counts on its date."""
    days = [D0 + dt.timedelta(days=i) for i in range(21)]
    daily = pl.DataFrame({"timestamp": days, "ret": [0.01 * ((i % 3) - 1) + 0.002 for i in range(21)]})
    week = [dt.datetime(2024, 1, 1) + dt.timedelta(days=7 * i) for i in range(3)]
    closes = {"A": [10, 11, 12], "B": [5, 5, 6]}
    weekly = pl.DataFrame([dict(timestamp=w, asset=a, open=c, high=c, low=c, close=c)
                           for a, cs in closes.items() for w, c in zip(week, cs, strict=True)])  # fmt: skip
    res = vec.backtest(weekly, entries=pl.lit(True))
    bars = res.equity.get_column("timestamp").cast(pl.Date).to_list()  # 01-01, 01-08, 01-15
    got = res.stats(benchmark=daily).item(0, "benchmark_return")
    want = np.prod([1 + r for d, r in daily.iter_rows() if bars[0] < d <= bars[-1]]) - 1
    assert got == pytest.approx(want, rel=1e-12)
    zoned = weekly.with_columns(pl.col("timestamp").dt.replace_time_zone("America/New_York") + pl.duration(hours=16))
    zres = vec.backtest(zoned, entries=pl.lit(True))
    assert zres.stats(benchmark=daily).item(0, "benchmark_return") == pytest.approx(want, rel=1e-12)
    hourly = pl.DataFrame({"timestamp": [dt.datetime(2024, 1, 2, 10), dt.datetime(2024, 1, 2, 15)], "r": [0.01, 0.02]})
    date_axis = vec.backtest(flat_prices({"A": [10, 11, 12]}), entries=pl.lit(True))
    with pytest.warns(vec.DataWarning):
        rets = date_axis.stats(benchmark=hourly)
    assert rets.item(0, "benchmark_return") == pytest.approx(1.01 * 1.02 - 1)
    with pytest.raises(vec.DataError, match="both have a time zone or both have none"):
        zres.stats(benchmark=hourly)
    with pytest.raises(vec.DataError, match="no row of the `benchmark` frame falls on the backtest's bars"):
        res.stats(benchmark=daily.with_columns(pl.col("timestamp") + pl.duration(days=400)))
    with pytest.raises(vec.DataError, match="repeats timestamp"):
        res.stats(benchmark=pl.concat([daily, daily]))


def test_benchmark_errors_and_policies():
    prices = flat_prices({"A": [10, 11, 12, 13], "B": [20, 22, 21, 23]})
    with pytest.raises(vec.ConfigError, match="not an asset of the panel"):
        vec.backtest(prices, entries=pl.lit(True), benchmark="C")
    bad = pl.when(pl.col("asset") == "A").then(0.01).otherwise(0.02)
    with pytest.raises(vec.DataError, match="one return per timestamp.*2024-01-01"):
        vec.backtest(prices, entries=pl.lit(True), benchmark=bad)
    with pytest.raises(vec.DataError, match="benchmark"):
        vec.backtest(prices, entries=pl.lit(True), benchmark=pl.lit(-1.5))
    res = vec.backtest(prices, entries=pl.lit(True), benchmark=pl.lit(0.01).alias("mkt"))
    assert res.benchmark.get_column("return").to_list() == [0.0, 0.01, 0.01, 0.01]  # held from the first close
    with pytest.raises(vec.ConfigError, match="pass it to `backtest"):
        res.stats(benchmark=pl.col("close"))
    frame = pl.DataFrame({"timestamp": [D0, D0 + dt.timedelta(days=2)], "ret": [0.0, 0.05]})
    with pytest.warns(vec.DataWarning, match="no return on 2 of 4 bars"):
        row = res.stats(benchmark=frame).row(0, named=True)
    assert math.isclose(row["benchmark_return"], 0.05)
    other = vec.backtest(prices, entries=pl.col("asset") == "B")
    row = res.stats(benchmark=other).row(0, named=True)
    assert math.isclose(row["benchmark_return"], other.stats().item(0, "total_return"))


def test_rolling_and_periodic_against_loops():
    prices = vec.synthetic_prices(n_assets=3, n_bars=300, seed=7)
    res = vec.backtest(prices, entries=pl.col("pred") > 0.6, exits=pl.col("pred") < 0.4, fees=0.001,
                       benchmark=prices.get_column("asset")[0])  # fmt: skip
    w, ppy = 20, 252.0
    roll = res.rolling(w, periods_per_year=ppy)
    r = res.equity.get_column("return").to_numpy()
    eq = res.equity.get_column("equity").to_numpy()
    b = res.benchmark.get_column("return").to_numpy()
    assert roll.get_column("rolling_sharpe")[: w - 1].null_count() == w - 1
    for t in (w - 1, 100, 299):
        x, y = r[t - w + 1 : t + 1], b[t - w + 1 : t + 1]
        assert math.isclose(roll.item(t, "rolling_return"), np.prod(1 + x) - 1, rel_tol=1e-9)
        assert math.isclose(roll.item(t, "rolling_sharpe"), x.mean() / x.std(ddof=1) * math.sqrt(ppy), rel_tol=1e-9)
        assert math.isclose(roll.item(t, "rolling_beta"), np.cov(x, y)[0, 1] / np.var(y, ddof=1), rel_tol=1e-7)
        assert math.isclose(roll.item(t, "rolling_drawdown"), eq[t] / eq[t - w + 1 : t + 1].max() - 1, abs_tol=1e-12)
    with pytest.raises(vec.ConfigError, match="`window` must be an int >= 2"):
        res.rolling(1)
    for period in ("W", "M", "Q", "Y"):
        tab = res.returns_table(period)
        assert tab.get_column("bars").sum() == 300
        assert math.isclose(float(np.prod(1 + tab.get_column("return").to_numpy())) - 1,
                            res.stats().item(0, "total_return"), rel_tol=1e-9)  # fmt: skip
        assert math.isclose(float(np.prod(1 + tab.get_column("benchmark_return").to_numpy())) - 1,
                            res.stats().item(0, "benchmark_return"), rel_tol=1e-9)  # fmt: skip
    months = res.monthly_returns()
    assert months.columns[0] == "year" and months.columns[-1] == "year_return" and months.width == 14
    yearly = res.returns_table("Y").get_column("return").to_list()
    assert months.get_column("year_return").to_list() == pytest.approx(yearly, rel=1e-12)
    with pytest.raises(vec.ConfigError, match="`period` must be one of"):
        res.returns_table("D")


def test_ruin_keywords_and_fingerprint():
    """Equity <= 0: return metrics stop at that bar (warned). Unknown keywords of analyze / plot
    get a ConfigError with a suggestion. A benchmark expression does not change the fingerprint."""
    prices = flat_prices({"A": [10, 30, 60, 50, 40]})
    with pytest.warns(vec.DataWarning, match="the equity reaches"):
        s = vec.backtest(prices, short_entries=pl.lit(True), size=1.0, fill="same_close").stats()
    assert s.item(0, "best_return") <= 0.0  # no sign-flipped return after the ruin
    res = vec.backtest(prices, entries=pl.lit(True))
    with pytest.raises(vec.ConfigError, match="unknown keyword argument 'stop_los'.*stop_loss"):
        res.analyze(stop_los=0.05)
    bench = vec.backtest(prices, entries=pl.lit(True), benchmark=pl.lit(0.001))
    assert bench.fingerprint == res.fingerprint
