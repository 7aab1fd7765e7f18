"""``stats()`` against three oracles run on the same returns and trades, where the definitions
match (``ml4t_vec.metrics`` says whose definition each metric follows):

- empyrical-reloaded: sharpe, sortino, volatility, cagr, calmar, max_drawdown, omega, tail ratio,
  stability, historical VaR and CVaR, alpha, beta, up/down capture;
- quantstats: skew, kurtosis (pandas' sample-adjusted estimators), Sharpe, information ratio
  (per bar there: ours / sqrt(periods_per_year)), tail ratio;
- backtesting.py's own ``compute_stats`` fed our trades and equity: SQN, Kelly, win rate,
  best/worst trade, average drawdown, the longest and the mean drawdown duration, max drawdown.

Each scenario is a random synthetic panel with fees, stops and a benchmark asset; every metric
must agree to 1e-9 (relative). Each oracle is optional: a missing one skips its test (fails with
``ML4T_VEC_REQUIRE_PEERS``).
"""

from __future__ import annotations

import importlib
import math
import os

import numpy as np
import polars as pl
import pytest

import ml4t_vec as vec

pytestmark = pytest.mark.filterwarnings(
    "ignore::UserWarning", "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::RuntimeWarning"
)

SEEDS = (1, 2, 3, 4, 5, 6)


def need(module: str):
    """Import an optional oracle; skip the test without it (unless peers are required)."""
    if os.environ.get("ML4T_VEC_REQUIRE_PEERS"):
        return importlib.import_module(module)
    return pytest.importorskip(module, reason=f"{module} not installed: pip install -e '.[peers]' to run")


def scenario(seed: int):
    """(result, stats row, strategy returns, benchmark returns, periods per year)."""
    rng = np.random.default_rng(seed)
    prices = vec.synthetic_prices(n_assets=int(rng.integers(2, 6)), n_bars=int(rng.integers(200, 700)), seed=seed)
    lo, hi = sorted(rng.uniform(0.3, 0.7, 2))
    res = vec.backtest(
        prices,
        entries=pl.col("pred") > hi,
        exits=pl.col("pred") < lo,
        short_entries=(pl.col("pred") < lo) if seed % 2 else None,
        fees=float(rng.uniform(0, 0.002)),
        stop_loss=float(rng.uniform(0.02, 0.1)),
        benchmark=prices.get_column("asset").unique().sort()[0],
    )
    row = res.stats().row(0, named=True)
    r = res.equity.get_column("return").to_numpy()
    b = res.benchmark.get_column("return").to_numpy()
    return res, row, r, b, row["periods_per_year"]


def close(a: float, b: float, what: str) -> None:
    assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), f"{what}: ml4t_vec {a!r} vs oracle {b!r}"


@pytest.mark.parametrize("seed", SEEDS)
def test_empyrical(seed):
    ep = need("empyrical")
    _, row, r, b, ppy = scenario(seed)
    assert ppy == 252.0
    pairs = {
        "sharpe": ep.sharpe_ratio(r, annualization=ppy),
        "sortino": ep.sortino_ratio(r, annualization=ppy),
        "volatility": ep.annual_volatility(r, annualization=ppy),
        "cagr": ep.cagr(r, annualization=ppy),
        "calmar": ep.calmar_ratio(r, annualization=ppy),
        "max_drawdown": ep.max_drawdown(r),
        "omega": ep.omega_ratio(r, required_return=0.0, annualization=ppy),
        "tail_ratio": ep.tail_ratio(r),
        "stability": ep.stability_of_timeseries(r),
        "var_95": ep.value_at_risk(r, cutoff=0.05),
        "cvar_95": ep.conditional_value_at_risk(r, cutoff=0.05),
        "alpha": ep.alpha(r, b, annualization=ppy),
        "beta": ep.beta(r, b),
        "up_capture": ep.up_capture(r, b),  # empyrical's capture takes a period, not an annualization:
        "down_capture": ep.down_capture(r, b),  # daily, 252 a year, which is ppy here (asserted)
    }
    for name, want in pairs.items():
        close(row[name], float(want), name)


@pytest.mark.parametrize("seed", SEEDS)
def test_quantstats(seed):
    qs = need("quantstats")
    pd = need("pandas")
    res, row, r, b, ppy = scenario(seed)
    idx = pd.DatetimeIndex(res.equity.get_column("timestamp").cast(pl.Datetime("ns")).to_numpy())
    rs, bs = pd.Series(r, index=idx), pd.Series(b, index=idx)
    close(row["skew"], float(qs.stats.skew(rs)), "skew")
    close(row["kurtosis"], float(qs.stats.kurtosis(rs)), "kurtosis")
    close(row["sharpe"], float(qs.stats.sharpe(rs, periods=ppy, annualize=True)), "sharpe")
    close(row["tail_ratio"], float(qs.stats.tail_ratio(rs)), "tail_ratio")
    close(row["information_ratio"] / math.sqrt(ppy), float(qs.stats.information_ratio(rs, bs)), "information_ratio")
    close(row["correlation"], float(rs.corr(bs)), "correlation")


@pytest.mark.parametrize("seed", SEEDS)
def test_a_risk_free_rate_against_empyrical_and_quantstats(seed):
    """``risk_free`` (annual) is subtracted per bar as (1 + rf)^(1/ppy) - 1 from the returns of the
    Sharpe, the Sortino and the alpha: empyrical given that per-bar rate, quantstats given the
    annual one (it converts the same way)."""
    ep, qs, pd = need("empyrical"), need("quantstats"), need("pandas")
    res, _, r, b, ppy = scenario(seed)
    rf_year = 0.01 * (seed % 5) + 0.005
    row = res.stats(risk_free=rf_year).row(0, named=True)
    rf = (1.0 + rf_year) ** (1.0 / ppy) - 1.0
    assert row["risk_free"] == rf_year
    close(row["sharpe"], float(ep.sharpe_ratio(r, risk_free=rf, annualization=ppy)), "sharpe")
    close(row["sortino"], float(ep.sortino_ratio(r, required_return=rf, annualization=ppy)), "sortino")
    close(row["alpha"], float(ep.alpha(r, b, risk_free=rf, annualization=ppy)), "alpha")
    idx = pd.DatetimeIndex(res.equity.get_column("timestamp").cast(pl.Datetime("ns")).to_numpy())
    close(row["sharpe"], float(qs.stats.sharpe(pd.Series(r, index=idx), rf=rf_year, periods=ppy)), "sharpe (qs)")
    # the full-window rolling Sharpe is the same number
    last = res.rolling(window=len(r), risk_free=rf_year).get_column("rolling_sharpe")[-1]
    close(last, row["sharpe"], "rolling_sharpe")


@pytest.mark.parametrize("seed", SEEDS)
def test_backtesting_stats(seed):
    """backtesting.py's compute_stats on our closed trades and equity. Its equity starts with
    the initial cash (our drawdown peak starts there too), on a daily index so that its
    durations in days are our durations in bars."""
    need("backtesting")
    pd = need("pandas")
    from backtesting._stats import compute_stats

    res, row, _, _, _ = scenario(seed)
    eq = np.concatenate(([res.init_cash_total], res.equity.get_column("equity").to_numpy()))
    idx = pd.date_range("2000-01-01", periods=eq.shape[0], freq="D")
    closed = res.trades.filter(pl.col("status") == "closed").sort("exit_time", "symbol", "entry_time")
    trades = pd.DataFrame(
        {
            "PnL": closed.get_column("pnl").to_numpy(),
            "ReturnPct": closed.get_column("pnl_percent").to_numpy(),
            "EntryBar": np.zeros(closed.height, dtype=np.int64),
            "ExitBar": np.zeros(closed.height, dtype=np.int64),
            "Duration": pd.to_timedelta(closed.get_column("bars_held").to_numpy(), unit="D"),
        }
    )
    ohlc = pd.DataFrame({"Close": np.linspace(1.0, 2.0, eq.shape[0])}, index=idx)
    s = compute_stats(trades, eq, ohlc, None)
    close(row["sqn"], float(s["SQN"]), "sqn")
    close(row["kelly"], float(s["Kelly Criterion"]), "kelly")
    close(row["win_rate"], float(s["Win Rate [%]"]) / 100, "win_rate")
    close(row["best_trade"], float(s["Best Trade [%]"]) / 100, "best_trade")
    close(row["worst_trade"], float(s["Worst Trade [%]"]) / 100, "worst_trade")
    close(row["max_drawdown"], float(s["Max. Drawdown [%]"]) / 100, "max_drawdown")
    dd = res.equity.get_column("drawdown").to_numpy()
    if dd[-1] < 0 and (dd.shape[0] < 2 or dd[-2] == 0):
        return  # a drawdown starting on the last bar: backtesting.py drops that episode, ml4t_vec counts it
    close(row["avg_drawdown"], float(s["Avg. Drawdown [%]"]) / 100, "avg_drawdown")
    close(row["max_drawdown_duration"], s["Max. Drawdown Duration"].days, "max_drawdown_duration")
    mean_days = s["Avg. Drawdown Duration"]  # rounded up to the data's resolution (a day) by backtesting.py
    assert math.ceil(row["avg_drawdown_duration"] - 1e-9) == mean_days.days + (mean_days.seconds > 0)
