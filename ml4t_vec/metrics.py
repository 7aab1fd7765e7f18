"""Return and trade metrics over result frames.

Annualisation (``periods_per_year``): given explicitly, or inferred from the timestamps:
the median spacing of bars gives bars per calendar day; daily or slower data with no weekend
bars counts 252 trading days a year, data with weekend bars 365 (crypto); intraday data counts
the median number of bars per day times 252 (or 365 with weekend bars).
Sharpe, Sortino and alpha use ``risk_free`` (an annual rate, 0 by default) as a per-bar rate
``(1 + risk_free) ** (1 / periods_per_year) - 1`` (quantstats' conversion) subtracted from the
bar returns, annualised by sqrt(periods); the Sortino's downside is that of the excess returns.

Whose definitions (the peers differ; ``STATS_DOC`` states each formula):
- Return and risk metrics follow empyrical (arithmetic per-bar statistics annualised by
  ``periods_per_year``): sharpe, sortino, volatility, cagr, calmar, omega (threshold 0),
  tail_ratio, stability, var_95 and cvar_95 (historical), alpha, beta, up/down capture.
  backtesting.py instead compounds its Sharpe, Sortino and volatility from geometric daily
  means, and vectorbt annualises with 365 days: their numbers differ from these by definition.
- skew and kurtosis are pandas' sample-adjusted estimators (what quantstats reports).
- Drawdown episodes (avg_drawdown, the durations) follow backtesting.py: from the last bar at a
  peak to the bar that regains it, or to the last bar; durations are counted in bars.
- Trade metrics follow ml4t-backtest's names where the concept matches (winning_trades,
  losing_trades, payoff_ratio, largest_win, largest_loss, avg_cost_drag, total_gross_pnl), on
  closed round trips; ``sqn`` and ``kelly`` follow backtesting.py (on cash pnl), best/worst
  trade backtesting.py and vectorbt (on pnl_percent). Three older names stay: ``init_cash``,
  ``final_equity`` and ``n_trades`` (ml4t-backtest: initial_cash, final_value, num_trades),
  matching the ``init_cash`` setting and the sweeps' result columns.
- information_ratio and tracking_error are annualised by sqrt(periods) (quantstats reports the
  information ratio per bar: ours / sqrt(periods_per_year)).

Portfolio metrics. One-sided turnover of a bar: half its traded notional (sum of quantity x
executed price of its fills, buys and sells) over the portfolio equity at the previous bar's
close (initial cash on the first bar; with ``cash_sharing=False`` the sum of the accounts), i.e.
the fraction of the book replaced. ``turnover`` sums it over the run and divides by the years
(bars / periods_per_year); ``turnover_per_rebalance`` averages it over the bars with fills (a
rebalance that fills on one bar counts once; one whose orders wait for some assets' next bars
counts on each of those bars). Holdings are read at each bar's close: an asset is held when its
position is not zero (an asset without a row on the bar keeps its position, marked at its last
close); ``effective_n`` is 1 / sum of w_i^2 with gross-normalised weights w_i = |value_i| /
sum_j |value_j| (the inverse Herfindahl index: n for n equal positions, long or short).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import polars as pl

from ml4t_vec.errors import ConfigError, DataWarning

STATS_DOC = {
    # period
    "start": "first timestamp",
    "end": "last timestamp",
    "bars": "number of bars on the time axis",
    "periods_per_year": "bars per year used to annualise",
    "risk_free": "annual risk-free rate of sharpe, sortino and alpha (0 unless given)",
    # returns
    "init_cash": "initial cash (all accounts)",
    "final_equity": "equity at the last bar",
    "peak_equity": "highest equity at a close",
    "total_return": "final_equity / init_cash - 1",
    "cagr": "compound annual growth rate: (final_equity / init_cash) ** (1 / years) - 1, "
    "years = bars / periods_per_year",
    "best_return": "best bar return",
    "worst_return": "worst bar return",
    # risk
    "volatility": "annualised standard deviation of bar returns (ddof 1)",
    "sharpe": "annualised mean / std of bar excess returns r - rf (rf: risk_free per bar)",
    "sortino": "annualised mean / downside deviation sqrt(mean(min(r - rf, 0)^2)) of bar excess returns",
    "calmar": "cagr / |max_drawdown|",
    "omega": "sum of positive bar returns / |sum of negative bar returns| (threshold 0)",
    "tail_ratio": "|95th percentile| / |5th percentile| of bar returns (linear interpolation)",
    "stability": "R^2 of a straight line fitted to the cumulative log returns",
    "skew": "skewness of bar returns (sample-adjusted, as pandas)",
    "kurtosis": "excess kurtosis of bar returns (sample-adjusted, as pandas)",
    "var_95": "historical value at risk: the 5th percentile of bar returns (linear interpolation)",
    "cvar_95": "conditional value at risk: mean of the int((bars - 1) * 0.05) + 1 worst bar returns",
    "max_drawdown": "largest peak-to-trough fall, a fraction <= 0 (the peak starts at the initial cash)",
    "avg_drawdown": "mean depth of the drawdown episodes (peak to recovery, or to the end), a fraction <= 0",
    "max_drawdown_duration": "longest drawdown episode in bars, from the peak's bar to the recovery bar "
    "(or the last bar)",
    "avg_drawdown_duration": "mean length of the drawdown episodes in bars",
    "exposure": "fraction of bars with an open position",
    "avg_gross_exposure": "mean over bars of gross exposure / equity at the close",
    "max_gross_exposure": "largest gross exposure / equity at a close",
    # trades
    "n_trades": "closed round trips",
    "n_open": "positions still open at the end",
    "n_positions": "positions opened, flat to flat (rows of res.positions, open ones included)",
    "n_trade_rows": "rows of res.trades: closed, partial (a resized position's reductions) and open",
    "winning_trades": "closed trades with pnl > 0",
    "losing_trades": "closed trades with pnl < 0",
    "win_rate": "share of closed trades with pnl > 0",
    "profit_factor": "gross profits / gross losses of closed trades",
    "expectancy": "mean pnl per closed trade",
    "avg_win": "mean pnl of winning closed trades",
    "avg_loss": "mean pnl of losing closed trades",
    "payoff_ratio": "avg_win / |avg_loss|",
    "position_win_rate": "share of closed positions (a closed row and the partial rows before it: a resized or "
    "scaled-out position's whole pnl) with pnl > 0",
    "position_profit_factor": "gross profits / gross losses of closed positions",
    "avg_position_pnl": "mean pnl per closed position",
    "largest_win": "largest pnl of a closed trade",
    "largest_loss": "smallest (most negative) pnl of a closed trade",
    "best_trade": "largest pnl_percent of a closed trade",
    "worst_trade": "smallest pnl_percent of a closed trade",
    "avg_trade_return": "mean pnl_percent of closed trades",
    "avg_bars_held": "mean bars_held of closed trades",
    "avg_winning_bars": "mean bars_held of winning closed trades",
    "avg_losing_bars": "mean bars_held of losing closed trades",
    "max_bars_held": "longest bars_held of a closed trade",
    "max_win_streak": "most consecutive winning closed trades (ordered by exit time, then symbol)",
    "max_loss_streak": "most consecutive losing closed trades (a trade with pnl 0 ends both streaks)",
    "sqn": "system quality number: sqrt(n) * mean(pnl) / std(pnl, ddof 1) of closed trades",
    "kelly": "Kelly fraction: win_rate - (1 - win_rate) / (avg_win / |avg_loss|)",
    "open_pnl": "pnl of the positions open at the end (marked at the last close, entry fees deducted)",
    # costs
    "total_fees": "fees paid on all fills",
    "total_slippage": "slippage cost of all fills",
    "total_spread_cost": "half-spreads paid on all fills (spread / spread_price)",
    "total_impact_cost": "market impact paid on all fills (impact)",
    "total_borrow_cost": "borrow fees shorts paid (all trade rows, open ones included)",
    "total_costs": "total_fees + total_slippage + total_spread_cost + total_impact_cost + total_borrow_cost",
    "total_interest": "net interest the cash paid (cash_rate on negative cash) less what it earned (credit_rate)",
    "avg_cost_drag": "mean over closed trades of (fees + slippage + spread + impact) / (|quantity| * entry_price)",
    "total_gross_pnl": "gross pnl (before fees) of all trade rows, open ones included",
    # portfolio
    "n_fills": "fills (executed orders)",
    "n_rejected": "orders rejected outright (reduced orders are not counted)",
    "traded_notional": "sum of quantity * executed price over all fills",
    "turnover": "one-sided turnover per year: sum over bars of traded notional / 2 / equity at the previous close, "
    "divided by the years",
    "turnover_per_rebalance": "mean one-sided turnover of the bars with fills (traded notional / 2 / equity at "
    "the previous close)",
    "avg_names_held": "mean over bars of the number of assets held (a position not zero) at the close",
    "max_names_held": "largest number of assets held at a close",
    "effective_n": "mean over bars with a holding of 1 / sum w_i^2, w_i = |position value_i| / gross exposure "
    "(gross-normalised weights)",
    # benchmark (NaN without one)
    "benchmark_return": "total return of the benchmark over the bars: prod(1 + b) - 1",
    "excess_return": "total_return - benchmark_return",
    "alpha": "annualised Jensen alpha: (1 + mean(r - rf - beta * (b - rf))) ** periods_per_year - 1",
    "beta": "cov(r, b) / var(b) of bar returns",
    "correlation": "Pearson correlation of bar returns r and b",
    "tracking_error": "annualised std of r - b (ddof 1)",
    "information_ratio": "annualised mean / std of r - b (ddof 1)",
    "up_capture": "annualised return of r over the bars with b > 0 / that of b over them",
    "down_capture": "annualised return of r over the bars with b < 0 / that of b over them",
}


def check_periods_per_year(value) -> float:
    """``periods_per_year`` as a float: a finite number > 0 (numpy scalars too, not a bool)."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if not ok or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"`periods_per_year` must be a finite number > 0 (252 for daily bars); got {value!r}.")
    return float(value)


def check_risk_free(value) -> float:
    """``risk_free`` as a float: an annual rate, a finite number > -1 (0.04 for 4% a year)."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if not ok or not math.isfinite(value) or value <= -1:
        raise ConfigError(f"`risk_free` must be an annual rate, a finite number > -1 (0.04 for 4%); got {value!r}.")
    return float(value)


def per_bar_rate(risk_free: float, ppy: float) -> float:
    """An annual rate as a rate per bar: (1 + rate) ** (1 / periods_per_year) - 1."""
    return (1.0 + risk_free) ** (1.0 / ppy) - 1.0


def infer_periods_per_year(timestamps: pl.Series) -> float:
    """Bars per year from the timestamps (see module doc)."""
    if timestamps.len() < 2:
        return 252.0
    ts = timestamps.cast(pl.Datetime("us")) if timestamps.dtype == pl.Date else timestamps
    step_days = ts.diff().drop_nulls().median().total_seconds() / 86400.0  # type: ignore[union-attr]
    weekend = bool((ts.dt.weekday() >= 6).any())
    days = 365.0 if weekend else 252.0
    if step_days >= 1.0 - 1e-9:
        # daily bars on trading days -> 252; weekly ~ 52; monthly ~ 12
        return days / step_days if step_days < 1.5 else 365.25 / step_days
    per_day = ts.dt.date().value_counts().get_column("count").median()
    return float(per_day) * days


def _safe_div(a: float, b: float) -> float:
    return a / b if b != 0 else (math.inf if a > 0 else (0.0 if a == 0 else -math.inf))


def turnover_stats(notional: np.ndarray, equity: np.ndarray, init_cash: np.ndarray, ppy: float) -> np.ndarray:
    """(annualised turnover, mean turnover per bar with fills) of n portfolios (module doc).

    ``notional`` and ``equity`` are (n, n_bars): traded notional and equity at the close per
    bar; ``init_cash`` (n,). A bar that trades after an equity <= 0 makes both inf. Returns (n, 2)."""
    notional = np.asarray(notional, dtype=np.float64)
    equity = np.asarray(equity, dtype=np.float64)
    n, n_bars = notional.shape
    prev = np.empty_like(equity)
    prev[:, :1] = init_cash.reshape(n, 1)
    prev[:, 1:] = equity[:, :-1]
    traded = notional > 0.0
    per_bar = np.zeros_like(notional)
    np.divide(0.5 * notional, prev, out=per_bar, where=traded & (prev > 0.0))
    per_bar[traded & (prev <= 0.0)] = math.inf
    n_traded = traded.sum(axis=1)
    total = per_bar.sum(axis=1)
    out = np.empty((n, 2))
    out[:, 0] = total / (n_bars / ppy) if n_bars else 0.0
    out[:, 1] = np.divide(total, n_traded, out=np.full(n, np.nan), where=n_traded > 0)
    return out


def _nan_if_empty(f, x: np.ndarray) -> float:
    return float(f(x)) if x.shape[0] else math.nan


def return_metrics(r: np.ndarray, eq: np.ndarray, dd: np.ndarray, init_cash: float, ppy: float,
                   rf: float = 0.0) -> dict:  # fmt: skip
    """Metrics of bar returns ``r``, equity ``eq`` and drawdown ``dd`` (STATS_DOC: returns, risk);
    ``rf``: the risk-free rate per bar of the Sharpe and Sortino."""
    n = r.shape[0]
    final = float(eq[-1]) if n else init_cash
    years = n / ppy
    cagr = (final / init_cash) ** (1.0 / years) - 1.0 if years > 0 and final > 0 else -1.0
    sd = float(np.std(r, ddof=1)) if n > 1 else 0.0
    mean = float(np.mean(r)) if n else 0.0
    excess = float(np.mean(r - rf)) if n else 0.0
    downside = float(np.sqrt(np.mean(np.minimum(r - rf, 0.0) ** 2))) if n else 0.0
    mdd = float(dd.min()) if n else 0.0
    gains, losses = float(r[r > 0].sum()), float(-r[r < 0].sum())
    if n:
        p5, p95 = np.percentile(r, [5.0, 95.0])
        cut = int((n - 1) * 0.05)
        cvar = float(np.mean(np.partition(r, cut)[: cut + 1]))
    else:
        p5 = p95 = cvar = math.nan
    m2 = float(np.mean((r - mean) ** 2)) if n else 0.0
    if n > 2 and m2 > 0:
        g1 = float(np.mean((r - mean) ** 3)) / m2**1.5
        skew = g1 * math.sqrt(n * (n - 1)) / (n - 2)
    else:
        skew = math.nan
    if n > 3 and m2 > 0:
        g2 = float(np.mean((r - mean) ** 4)) / m2**2 - 3.0
        kurt = ((n + 1) * g2 + 6.0) * (n - 1) / ((n - 2) * (n - 3))
    else:
        kurt = math.nan
    stability = math.nan
    if n > 1 and np.all(r > -1.0):
        cum = np.cumsum(np.log1p(r))
        if np.std(cum) > 0:
            stability = float(np.corrcoef(np.arange(n), cum)[0, 1] ** 2)
    depth, length = drawdown_episodes(dd)
    return {
        "final_equity": final,
        "peak_equity": _nan_if_empty(np.max, eq),
        "total_return": final / init_cash - 1.0,
        "cagr": cagr,
        "best_return": _nan_if_empty(np.max, r),
        "worst_return": _nan_if_empty(np.min, r),
        "volatility": sd * math.sqrt(ppy),  # 0 for a one-bar run, as the sweeps reduce it
        "sharpe": excess / sd * math.sqrt(ppy) if sd > 0 else math.nan,
        "sortino": excess / downside * math.sqrt(ppy) if downside > 0 else math.nan,
        "calmar": cagr / abs(mdd) if mdd < 0 else math.nan,
        "omega": gains / losses if losses > 0 else math.nan,
        "tail_ratio": abs(float(p95)) / abs(float(p5)) if n and p5 != 0 else math.nan,
        "stability": stability,
        "skew": skew,
        "kurtosis": kurt,
        "var_95": float(p5),
        "cvar_95": cvar,
        "max_drawdown": mdd,
        "avg_drawdown": float(depth.mean()) if depth.shape[0] else 0.0,
        "max_drawdown_duration": int(length.max()) if length.shape[0] else 0,
        "avg_drawdown_duration": float(length.mean()) if length.shape[0] else 0.0,
    }


def drawdown_episodes(dd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(depth, length in bars) of each drawdown episode of a drawdown series (<= 0, the peak
    starting at the initial cash, a virtual bar -1): an episode runs from the last bar at a
    peak to the bar that reaches the peak again, or to the last bar when it never does."""
    n = dd.shape[0]
    at_peak = np.flatnonzero(dd >= 0.0)
    tail = [n] if n and dd[-1] < 0.0 else []  # a virtual bar n ends a drawdown still open
    ends = np.concatenate(([-1], at_peak, tail)).astype(np.int64)
    gap = np.flatnonzero(ends[1:] > ends[:-1] + 1)
    if gap.shape[0] == 0:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    peak, recover = ends[gap], ends[gap + 1]
    # min over dd[p + 1 : q] of each episode: reduceat over (start, end) pairs, every other slice
    bounds = np.column_stack((peak + 1, recover)).ravel()
    depth = np.minimum.reduceat(np.append(dd, 0.0), bounds)[::2]
    return depth, np.minimum(recover, n - 1) - peak


def _streak(flags: np.ndarray) -> int:
    """Longest run of True."""
    if not flags.any():
        return 0
    x = np.concatenate(([0], flags.astype(np.int8), [0]))
    edges = np.flatnonzero(np.diff(x))
    return int((edges[1::2] - edges[::2]).max())


def trade_metrics(trades: pl.DataFrame, fills: pl.DataFrame) -> dict:
    """Metrics of the trade rows and fills (STATS_DOC: trades, costs): one Polars aggregation
    over the closed rows, one over all rows, one over the fills, and the closed rows' pnl signs
    in exit-time order for the streaks (a stable sort: the frame's symbol, entry order within a
    bar), all run together."""
    is_closed, is_open = pl.col("status") == "closed", pl.col("status") == "open"
    pnl, bars = pl.col("pnl"), pl.col("bars_held")
    win, loss = pnl > 0, pnl < 0
    # (frames saved before the spread or the impact existed have no such column: none paid)
    t_spread = sum(pl.col(k) if k in trades.columns else pl.lit(0.0) for k in ("spread_cost", "impact_cost"))
    drag = (pl.col("fees") + pl.col("entry_slippage") + pl.col("exit_slippage") + t_spread) / (
        pl.col("quantity").abs() * pl.col("entry_price"))  # fmt: skip
    closed = trades.lazy().filter(is_closed)
    agg = closed.select(
        n=pl.len(), n_win=win.sum(), n_loss=loss.sum(), win_sum=pnl.filter(win).sum(),
        loss_sum=pnl.filter(loss).sum(), mean=pnl.mean(), std=pnl.std(), max=pnl.max(), min=pnl.min(),
        pct_max=pl.col("pnl_percent").max(), pct_min=pl.col("pnl_percent").min(),
        pct_mean=pl.col("pnl_percent").mean(), bars_mean=bars.mean(), bars_max=bars.max(),
        bars_win=bars.filter(win).mean(), bars_loss=bars.filter(loss).mean(), drag=drag.mean(),
    )  # fmt: skip
    signs = closed.select(pnl.sign().cast(pl.Int8).sort_by("exit_time", maintain_order=True).alias("sign"))
    # closed positions: per symbol, in row order, a closed row and the partial rows before it
    whole = (
        trades.lazy()
        .filter(pl.col("status") != "open")
        .with_columns(seg=is_closed.cum_sum().shift(1, fill_value=0).over("symbol"))
        .group_by("symbol", "seg", maintain_order=True)  # sums in row order: the same bits every call
        .agg(pnl.sum(), done=is_closed.last())
        .filter(pl.col("done"))
        .select(n=pl.len(), n_win=(pnl > 0).sum(), win_sum=pnl.filter(pnl > 0).sum(),
                loss_sum=pnl.filter(pnl < 0).sum(), mean=pnl.mean())
    )  # fmt: skip
    rows = trades.lazy().select(
        n_open=is_open.sum(),
        open_pnl=pnl.filter(is_open).sum(),
        gross=pl.col("gross_pnl").sum(),
        # (a trades frame saved before borrow fees existed has no such column: none paid)
        borrow=pl.col("borrow_cost").sum() if "borrow_cost" in trades.columns else pl.lit(0.0),
    )
    fsum = fills.lazy().select(
        fees=pl.col("fees").sum(), slippage=pl.col("slippage").sum(),
        spread=pl.col("spread_cost").sum() if "spread_cost" in fills.columns else pl.lit(0.0),
        impact=pl.col("impact_cost").sum() if "impact_cost" in fills.columns else pl.lit(0.0),
        notional=(pl.col("quantity") * pl.col("price")).sum(), entries=(pl.col("effect") == "entry").sum(),
    )  # fmt: skip
    a, s, t, f, w = (x.row(0, named=True) if i != 1 else x for i, x in
                     enumerate(pl.collect_all([agg, signs, rows, fsum, whole], engine="in-memory")))  # fmt: skip
    n_pos = int(w["n"])
    n = int(a["n"])
    sign = s.get_column("sign").to_numpy()
    nan = lambda v: math.nan if v is None else float(v)  # noqa: E731
    n_win, n_loss = int(a["n_win"] or 0), int(a["n_loss"] or 0)
    avg_win = a["win_sum"] / n_win if n_win else math.nan
    avg_loss = a["loss_sum"] / n_loss if n_loss else math.nan
    win_rate = n_win / n if n else math.nan
    payoff = avg_win / abs(avg_loss) if n_win and n_loss else math.nan
    sd = nan(a["std"]) if n > 1 else 0.0
    return {
        "n_trades": n,
        "n_open": int(t["n_open"]),  # not partial rows
        "n_positions": int(f["entries"]),
        "n_trade_rows": int(trades.height),
        "winning_trades": n_win,
        "losing_trades": n_loss,
        "win_rate": win_rate,
        "profit_factor": _safe_div(float(a["win_sum"] or 0.0), -float(a["loss_sum"] or 0.0)) if n else math.nan,
        "expectancy": nan(a["mean"]),
        "avg_win": avg_win,
        "avg_loss": avg_loss,
        "payoff_ratio": payoff,
        "position_win_rate": int(w["n_win"] or 0) / n_pos if n_pos else math.nan,
        "position_profit_factor": _safe_div(float(w["win_sum"] or 0.0), -float(w["loss_sum"] or 0.0))
        if n_pos
        else math.nan,
        "avg_position_pnl": nan(w["mean"]),
        "largest_win": nan(a["max"]),
        "largest_loss": nan(a["min"]),
        "best_trade": nan(a["pct_max"]),
        "worst_trade": nan(a["pct_min"]),
        "avg_trade_return": nan(a["pct_mean"]),
        "avg_bars_held": nan(a["bars_mean"]),
        "avg_winning_bars": nan(a["bars_win"]),
        "avg_losing_bars": nan(a["bars_loss"]),
        "max_bars_held": a["bars_max"],
        "max_win_streak": _streak(sign > 0),
        "max_loss_streak": _streak(sign < 0),
        "sqn": math.sqrt(n) * float(a["mean"]) / sd if sd > 0 else math.nan,
        "kelly": win_rate - (1.0 - win_rate) / (avg_win / -avg_loss) if payoff == payoff else math.nan,
        "open_pnl": float(t["open_pnl"] or 0.0),
        "total_fees": float(f["fees"] or 0.0),
        "total_slippage": float(f["slippage"] or 0.0),
        "total_spread_cost": float(f["spread"] or 0.0),
        "total_impact_cost": float(f["impact"] or 0.0),
        "total_borrow_cost": float(t["borrow"] or 0.0),
        "total_costs": float(sum(x or 0.0 for x in (f["fees"], f["slippage"], f["spread"], f["impact"], t["borrow"]))),
        "avg_cost_drag": nan(a["drag"]),
        "total_gross_pnl": float(t["gross"] or 0.0),
        "n_fills": int(fills.height),
        "traded_notional": float(f["notional"] or 0.0),
    }


def _annual(x: np.ndarray, ppy: float) -> float:
    return float(np.prod(1.0 + x)) ** (ppy / x.shape[0]) - 1.0 if x.shape[0] else math.nan


def relative_metrics(r: np.ndarray, b: np.ndarray | None, total_return: float, ppy: float, rf: float = 0.0) -> dict:
    """Metrics of bar returns ``r`` against benchmark returns ``b`` (STATS_DOC: benchmark);
    NaN everywhere without a benchmark. Formulas follow empyrical (alpha, beta, capture), with
    ``rf`` the risk-free rate per bar of the alpha; tracking error and information ratio are
    annualised by sqrt(ppy)."""
    names = ("benchmark_return", "excess_return", "alpha", "beta", "correlation", "tracking_error",
             "information_ratio", "up_capture", "down_capture")  # fmt: skip
    out = dict.fromkeys(names, math.nan)
    if b is None:
        return out
    both = np.isfinite(b) & np.isfinite(r)  # bars without a benchmark return are left out (empyrical: NaN pairs)
    bench = float(np.prod(1.0 + b[np.isfinite(b)])) - 1.0
    out["benchmark_return"] = bench
    out["excess_return"] = total_return - bench
    r, b = r[both], b[both]
    if r.shape[0] < 2:
        return out
    vb = float(np.var(b))
    if vb > 0:
        beta = float(np.mean((r - r.mean()) * (b - b.mean()))) / vb
        out["beta"] = beta
        out["alpha"] = (1.0 + float(np.mean(r - rf - beta * (b - rf)))) ** ppy - 1.0
        if np.std(r) > 0:
            out["correlation"] = float(np.corrcoef(r, b)[0, 1])
    active = r - b
    te = float(np.std(active, ddof=1))
    out["tracking_error"] = te * math.sqrt(ppy)
    out["information_ratio"] = float(np.mean(active)) / te * math.sqrt(ppy) if te > 0 else math.nan
    for key, sel in (("up_capture", b > 0), ("down_capture", b < 0)):
        denom = _annual(b[sel], ppy)
        out[key] = _annual(r[sel], ppy) / denom if sel.any() and denom != 0 else math.nan
    return out


def compute_stats(
    equity: pl.DataFrame,
    trades: pl.DataFrame,
    fills: pl.DataFrame,
    init_cash: float,
    periods_per_year: float | None = None,
    holdings: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    n_rejected: int = 0,
    benchmark: np.ndarray | None = None,
    risk_free: float = 0.0,
    interest: bool = False,
) -> pl.DataFrame:
    """One-row frame of the metrics in ``STATS_DOC``, in that order.

    ``holdings``: per bar at the close, the number of assets held, the sum of |position value|
    and the sum of position value squared (``_frames.holdings``); without it ``avg_names_held``,
    ``max_names_held`` and ``effective_n`` are NaN. ``benchmark``: one return per bar (aligned
    with ``equity``), else the benchmark metrics are NaN. ``risk_free``: an annual rate.
    ``interest``: the cash paid or earned interest (``cash_rate`` / ``credit_rate``)."""
    if periods_per_year is None:
        ppy = infer_periods_per_year(equity.get_column("timestamp"))
    else:
        ppy = check_periods_per_year(periods_per_year)
    risk_free = check_risk_free(risk_free)
    rf = per_bar_rate(risk_free, ppy)
    eq = equity.get_column("equity").to_numpy()
    r = equity.get_column("return").to_numpy()
    dd = equity.get_column("drawdown").to_numpy()
    gross = equity.get_column("gross_exposure").to_numpy()
    n = eq.shape[0]
    ts = equity.get_column("timestamp")
    row = {"start": ts.first(), "end": ts.last(), "bars": n, "periods_per_year": ppy, "risk_free": risk_free,
           "init_cash": float(init_cash)}  # fmt: skip
    ruined = np.flatnonzero(eq <= 0.0)
    if ruined.shape[0]:  # a return over a bar that starts at equity <= 0 means nothing (its sign flips)
        k = int(ruined[0])
        warnings.warn(
            f"the equity reaches {eq[k]:,.2f} at {ts[k]}: return and risk metrics use the bars up to then.",
            DataWarning,
            stacklevel=3,
        )
        r = r[: k + 1]
        benchmark = None if benchmark is None else benchmark[: k + 1]
    row |= return_metrics(r, eq, dd, init_cash, ppy, rf)
    lev = np.divide(gross, eq, out=np.full(n, np.nan), where=eq > 0)
    row["exposure"] = float((gross > 0).mean()) if n else 0.0
    row["avg_gross_exposure"] = float(np.nanmean(lev)) if np.isfinite(lev).any() else math.nan
    row["max_gross_exposure"] = float(np.nanmax(lev)) if np.isfinite(lev).any() else math.nan
    row |= trade_metrics(trades, fills)
    # interest is the one change of equity no trade row holds (their pnl, open rows included, sums
    # to the equity change otherwise)
    row["total_interest"] = float(trades.get_column("pnl").sum() - (eq[-1] - init_cash)) if interest and n else 0.0
    row["n_rejected"] = int(n_rejected)
    traded = fills.group_by("timestamp").agg(n=(pl.col("quantity") * pl.col("price")).sum())
    notional = ts.to_frame().join(traded, on="timestamp", how="left").get_column("n").fill_null(0.0).to_numpy()
    turnover, per_rebalance = turnover_stats(notional[None, :], eq[None, :], np.array([init_cash]), ppy)[0]
    row["turnover"], row["turnover_per_rebalance"] = float(turnover), float(per_rebalance)
    if holdings is not None:
        names, gross_h, sumsq = holdings
        held = sumsq > 0.0
        row["avg_names_held"] = float(names.mean()) if n else math.nan
        row["max_names_held"] = int(names.max()) if n else 0
        row["effective_n"] = float(np.mean(gross_h[held] ** 2 / sumsq[held])) if held.any() else math.nan
    else:
        row["avg_names_held"] = row["effective_n"] = math.nan
        row["max_names_held"] = None
    row |= relative_metrics(r, benchmark, row["total_return"], ppy, rf)
    return pl.DataFrame([{k: row[k] for k in STATS_DOC}],
                        schema_overrides={"max_names_held": pl.Int64, "max_bars_held": pl.Int64})  # fmt: skip


# res.summary(): the metrics of stats(), grouped, one per line
SUMMARY_SECTIONS = {
    "period": ("start", "end", "bars", "periods_per_year", "risk_free"),
    "returns": ("init_cash", "final_equity", "peak_equity", "total_return", "cagr", "best_return", "worst_return"),
    "risk": ("volatility", "sharpe", "sortino", "calmar", "omega", "tail_ratio", "stability", "skew", "kurtosis",
             "var_95", "cvar_95", "max_drawdown", "avg_drawdown", "max_drawdown_duration", "avg_drawdown_duration",
             "exposure", "avg_gross_exposure", "max_gross_exposure"),
    "trades": ("n_trades", "n_open", "n_positions", "n_trade_rows", "winning_trades", "losing_trades", "win_rate",
               "profit_factor", "expectancy", "avg_win", "avg_loss", "payoff_ratio", "position_win_rate",
               "position_profit_factor", "avg_position_pnl", "largest_win", "largest_loss",
               "best_trade", "worst_trade", "avg_trade_return", "avg_bars_held", "avg_winning_bars",
               "avg_losing_bars", "max_bars_held", "max_win_streak", "max_loss_streak", "sqn", "kelly", "open_pnl"),
    "costs": ("total_fees", "total_slippage", "total_spread_cost", "total_impact_cost", "total_borrow_cost",
              "total_costs", "total_interest", "avg_cost_drag", "total_gross_pnl"),
    "portfolio": ("n_fills", "n_rejected", "traded_notional", "turnover", "turnover_per_rebalance", "avg_names_held",
                  "max_names_held", "effective_n"),
    "benchmark": ("benchmark_return", "excess_return", "alpha", "beta", "correlation", "tracking_error",
                  "information_ratio", "up_capture", "down_capture"),
}  # fmt: skip
_PERCENT = {"total_return", "cagr", "best_return", "worst_return", "volatility", "var_95", "cvar_95", "max_drawdown",
            "avg_drawdown", "exposure", "avg_gross_exposure", "max_gross_exposure", "win_rate", "position_win_rate",
            "best_trade", "worst_trade", "avg_trade_return", "avg_cost_drag", "turnover", "turnover_per_rebalance",
            "benchmark_return", "excess_return", "alpha", "tracking_error"}  # fmt: skip
_CASH = {"init_cash", "final_equity", "peak_equity", "expectancy", "avg_position_pnl", "avg_win", "avg_loss",
         "largest_win", "largest_loss", "open_pnl", "total_fees", "total_slippage", "total_spread_cost",
         "total_impact_cost", "total_borrow_cost", "total_costs", "total_interest", "total_gross_pnl",
         "traded_notional"}  # fmt: skip


def _fmt(name: str, v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float):
        if name in _PERCENT:
            return f"{v:.2%}"
        if name in _CASH:
            return f"{v:,.2f}"
        return f"{v:,.4g}" if abs(v) < 1e6 else f"{v:,.0f}"
    return str(v)


class Summary:
    """``BacktestResult.summary()``: the metrics of ``stats()`` grouped by section, one per line.

    Printing it shows an aligned table (fractions as percentages, cash with two decimals);
    ``frame`` holds the same as a long Polars frame (section, metric, value as text)."""

    def __init__(self, stats: pl.DataFrame):
        row = stats.row(0, named=True)
        sections = {
            k: v
            for k, v in SUMMARY_SECTIONS.items()
            if k != "benchmark" or row["benchmark_return"] == row["benchmark_return"]
        }
        self.frame = pl.DataFrame(
            [(sec, m, _fmt(m, row[m])) for sec, names in sections.items() for m in names],
            schema={"section": pl.String, "metric": pl.String, "value": pl.String},
            orient="row",
        )

    def __repr__(self) -> str:
        w = max(self.frame.get_column("metric").str.len_chars().max(), 8)
        v = max(self.frame.get_column("value").str.len_chars().max(), 8)
        lines = []
        for sec in self.frame.get_column("section").unique(maintain_order=True):
            lines.append(sec)
            for _, m, val in self.frame.filter(pl.col("section") == sec).iter_rows():
                lines.append(f"  {m:<{w}}  {val:>{v}}")
        return "\n".join(lines)

    def _repr_pretty_(self, printer, cycle) -> None:  # IPython / Jupyter
        printer.text(repr(self))
