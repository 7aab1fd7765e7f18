"""Return and trade metrics over result frames.

Annualisation (``periods_per_year``): given explicitly, or inferred from the timestamps:
the median spacing of bars gives bars per calendar day; daily or slower data with no weekend
bars counts 252 trading days a year, data with weekend bars 365 (crypto); intraday data counts
the median number of bars per day times 252 (or 365 with weekend bars).
Sharpe and Sortino use a zero risk-free rate on per-bar returns, annualised by sqrt(periods).

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

import numpy as np
import polars as pl

from ml4t_vec.errors import ConfigError

STATS_DOC = {
    "start": "first timestamp",
    "end": "last timestamp",
    "bars": "number of bars on the time axis",
    "periods_per_year": "bars per year used to annualise",
    "init_cash": "initial cash (all accounts)",
    "final_equity": "equity at the last bar",
    "total_return": "final_equity / init_cash - 1",
    "cagr": "compound annual growth rate",
    "volatility": "annualised standard deviation of bar returns",
    "sharpe": "annualised mean / std of bar returns (risk-free 0)",
    "sortino": "annualised mean / downside deviation of bar returns",
    "max_drawdown": "largest peak-to-trough fall, a fraction <= 0",
    "calmar": "cagr / |max_drawdown|",
    "exposure": "fraction of bars with an open position",
    "n_trades": "closed round trips",
    "n_open": "positions still open at the end",
    "n_positions": "positions opened, flat to flat (rows of res.positions, open ones included)",
    "n_trade_rows": "rows of res.trades: closed, partial (a resized position's reductions) and open",
    "win_rate": "share of closed trades with pnl > 0",
    "profit_factor": "gross profits / gross losses of closed trades",
    "expectancy": "mean pnl per closed trade",
    "avg_win": "mean pnl of winning closed trades",
    "avg_loss": "mean pnl of losing closed trades",
    "avg_bars_held": "mean bars_held of closed trades",
    "total_fees": "fees paid on all fills",
    "total_slippage": "slippage cost of all fills",
    "turnover": "one-sided turnover per year: sum over bars of traded notional / 2 / equity at the previous close, "
    "divided by the years",
    "turnover_per_rebalance": "mean one-sided turnover of the bars with fills (traded notional / 2 / equity at "
    "the previous close)",
    "avg_names_held": "mean over bars of the number of assets held (a position not zero) at the close",
    "effective_n": "mean over bars with a holding of 1 / sum w_i^2, w_i = |position value_i| / gross exposure "
    "(gross-normalised weights)",
}


def check_periods_per_year(value) -> float:
    """``periods_per_year`` as a float: a finite number > 0 (numpy scalars too, not a bool)."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if not ok or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"`periods_per_year` must be a finite number > 0 (252 for daily bars); got {value!r}.")
    return float(value)


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


def compute_stats(
    equity: pl.DataFrame,
    trades: pl.DataFrame,
    fills: pl.DataFrame,
    init_cash: float,
    periods_per_year: float | None = None,
    holdings: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> pl.DataFrame:
    """One-row frame of the metrics in ``STATS_DOC``.

    ``holdings``: per bar at the close, the number of assets held, the sum of |position value|
    and the sum of position value squared (``_frames.holdings``); without it ``avg_names_held``
    and ``effective_n`` are NaN."""
    if periods_per_year is None:
        ppy = infer_periods_per_year(equity.get_column("timestamp"))
    else:
        ppy = check_periods_per_year(periods_per_year)
    eq = equity.get_column("equity").to_numpy()
    r = equity.get_column("return").to_numpy()
    n = eq.shape[0]
    final = float(eq[-1]) if n else init_cash
    total = final / init_cash - 1.0
    years = n / ppy
    cagr = (final / init_cash) ** (1.0 / years) - 1.0 if years > 0 and final > 0 else -1.0
    sd = float(np.std(r, ddof=1)) if n > 1 else 0.0
    mean = float(np.mean(r)) if n else 0.0
    downside = float(np.sqrt(np.mean(np.minimum(r, 0.0) ** 2))) if n else 0.0
    mdd = float(equity.get_column("drawdown").min()) if n else 0.0
    closed = trades.filter(pl.col("status") == "closed")
    pnl = closed.get_column("pnl").to_numpy()
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    ts = equity.get_column("timestamp")
    traded = fills.group_by("timestamp").agg(n=(pl.col("quantity") * pl.col("price")).sum())
    notional = ts.to_frame().join(traded, on="timestamp", how="left").get_column("n").fill_null(0.0).to_numpy()
    turnover, per_rebalance = turnover_stats(notional[None, :], eq[None, :], np.array([init_cash]), ppy)[0]
    if holdings is not None:
        names, gross, sumsq = holdings
        held = sumsq > 0.0
        avg_names = float(names.mean()) if n else float("nan")
        eff_n = float(np.mean(gross[held] ** 2 / sumsq[held])) if held.any() else float("nan")
    else:
        avg_names = eff_n = float("nan")
    row = {
        "start": equity.get_column("timestamp").first(),
        "end": equity.get_column("timestamp").last(),
        "bars": n,
        "periods_per_year": ppy,
        "init_cash": float(init_cash),
        "final_equity": final,
        "total_return": total,
        "cagr": cagr,
        "volatility": sd * math.sqrt(ppy),
        "sharpe": mean / sd * math.sqrt(ppy) if sd > 0 else float("nan"),
        "sortino": mean / downside * math.sqrt(ppy) if downside > 0 else float("nan"),
        "max_drawdown": mdd,
        "calmar": cagr / abs(mdd) if mdd < 0 else float("nan"),
        "exposure": float((equity.get_column("gross_exposure") > 0).mean()) if n else 0.0,
        "n_trades": int(pnl.shape[0]),
        "n_open": int((trades.get_column("status") == "open").sum()),  # not partial rows
        "n_positions": int((fills.get_column("effect") == "entry").sum()),
        "n_trade_rows": int(trades.height),
        "win_rate": float(wins.shape[0] / pnl.shape[0]) if pnl.shape[0] else float("nan"),
        "profit_factor": _safe_div(float(wins.sum()), float(-losses.sum())) if pnl.shape[0] else float("nan"),
        "expectancy": float(pnl.mean()) if pnl.shape[0] else float("nan"),
        "avg_win": float(wins.mean()) if wins.shape[0] else float("nan"),
        "avg_loss": float(losses.mean()) if losses.shape[0] else float("nan"),
        "avg_bars_held": float(closed.get_column("bars_held").mean()) if closed.height else float("nan"),
        "total_fees": float(fills.get_column("fees").sum()),
        "total_slippage": float(fills.get_column("slippage").sum()),
        "turnover": float(turnover),
        "turnover_per_rebalance": float(per_rebalance),
        "avg_names_held": avg_names,
        "effective_n": eff_n,
    }
    return pl.DataFrame([row])


# res.summary(): the metrics of stats(), grouped, one per line
SUMMARY_SECTIONS = {
    "period": ("start", "end", "bars", "periods_per_year"),
    "returns": ("init_cash", "final_equity", "total_return", "cagr"),
    "risk": ("volatility", "sharpe", "sortino", "max_drawdown", "calmar", "exposure"),
    "trades": (
        "n_trades",
        "n_open",
        "n_positions",
        "n_trade_rows",
        "win_rate",
        "profit_factor",
        "expectancy",
        "avg_win",
        "avg_loss",
        "avg_bars_held",
    ),  # fmt: skip
    "costs": ("total_fees", "total_slippage"),
    "portfolio": ("turnover", "turnover_per_rebalance", "avg_names_held", "effective_n"),
}
_PERCENT = {"total_return", "cagr", "volatility", "max_drawdown", "exposure", "win_rate", "turnover",
            "turnover_per_rebalance"}  # fmt: skip
_CASH = {"init_cash", "final_equity", "expectancy", "avg_win", "avg_loss", "total_fees", "total_slippage"}


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
        self.frame = pl.DataFrame(
            [(sec, m, _fmt(m, row[m])) for sec, names in SUMMARY_SECTIONS.items() for m in names],
            schema={"section": pl.String, "metric": pl.String, "value": pl.String},
            orient="row",
        )

    def __repr__(self) -> str:
        w = max(self.frame.get_column("metric").str.len_chars().max(), 8)
        v = max(self.frame.get_column("value").str.len_chars().max(), 8)
        lines = []
        for sec in SUMMARY_SECTIONS:
            lines.append(sec)
            for _, m, val in self.frame.filter(pl.col("section") == sec).iter_rows():
                lines.append(f"  {m:<{w}}  {val:>{v}}")
        return "\n".join(lines)

    def _repr_pretty_(self, printer, cycle) -> None:  # IPython / Jupyter
        printer.text(repr(self))
