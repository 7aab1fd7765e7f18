"""Rolling metrics and periodic returns of a result's equity, as Polars frames.

Rolling (over the last ``window`` bars, a bar's value uses that bar and the ``window - 1``
before it; null until ``window`` bars exist):
- ``rolling_return``: compounded return, prod(1 + r) - 1;
- ``rolling_volatility``: std of bar returns (ddof 1) * sqrt(periods_per_year);
- ``rolling_sharpe``: mean / std of bar excess returns (``risk_free``, an annual rate, per bar as
  in ``stats()``) * sqrt(periods_per_year);
- ``rolling_drawdown``: equity / its highest close within the window - 1;
- ``rolling_beta`` (with a benchmark): cov(r, b) / var(b) over the window.

Periodic returns: bar returns compounded within each calendar period (``"W"``, ``"M"``, ``"Q"``,
``"Y"``): prod(1 + r) - 1 over the bars whose timestamp falls in it (a partial first or last
period is what the data covers), with the benchmark's return over the same bars.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from ml4t_vec.errors import ConfigError

PERIODS = {"W": "1w", "M": "1mo", "Q": "1q", "Y": "1y"}
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def rolling_metrics(equity: pl.DataFrame, window: int, ppy: float, benchmark: np.ndarray | None = None,
                    rf: float = 0.0) -> pl.DataFrame:  # fmt: skip
    """(timestamp, rolling_return, rolling_volatility, rolling_sharpe, rolling_drawdown[,
    rolling_beta]) over ``window`` bars (module doc); ``rf``: the risk-free rate per bar."""
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 2:
        raise ConfigError(f"`window` must be an int >= 2 (bars); got {window!r}.")
    r = pl.col("return")
    mean, std = r.rolling_mean(window), r.rolling_std(window, ddof=1)
    cols = [
        pl.col("timestamp"),
        ((r.log1p().rolling_sum(window)).exp() - 1.0).alias("rolling_return"),
        (std * math.sqrt(ppy)).alias("rolling_volatility"),
        pl.when(std > 0).then((mean - rf) / std * math.sqrt(ppy)).alias("rolling_sharpe"),
        (pl.col("equity") / pl.col("equity").rolling_max(window) - 1.0).alias("rolling_drawdown"),
    ]
    df = equity.select("timestamp", "return", "equity")
    if benchmark is not None:
        df = df.with_columns(pl.Series("__b", benchmark, dtype=pl.Float64, nan_to_null=True))
        b = pl.col("__b")
        var_b = b.rolling_var(window, ddof=1)
        cov = (r * b).rolling_mean(window) - mean * b.rolling_mean(window)
        cols.append(pl.when(var_b > 0).then(cov * window / (window - 1) / var_b).alias("rolling_beta"))
    return df.select(cols)


def periodic_returns(equity: pl.DataFrame, period: str = "M", benchmark: np.ndarray | None = None) -> pl.DataFrame:
    """(period_start, bars, return[, benchmark_return]) per calendar period (module doc)."""
    if period not in PERIODS:
        raise ConfigError(f"`period` must be one of {list(PERIODS)}; got {period!r}.")
    df = equity.select("timestamp", "return")
    aggs = [pl.len().alias("bars"), ((pl.col("return") + 1.0).product() - 1.0).alias("return")]
    if benchmark is not None:
        df = df.with_columns(pl.Series("__b", benchmark, dtype=pl.Float64, nan_to_null=True))
        aggs.append(((pl.col("__b") + 1.0).product() - 1.0).alias("benchmark_return"))
    start = pl.col("timestamp").dt.truncate(PERIODS[period]).alias("period_start")
    return df.group_by(start, maintain_order=True).agg(aggs).with_columns(pl.col("bars").cast(pl.Int64))


def monthly_table(equity: pl.DataFrame) -> pl.DataFrame:
    """Wide table of monthly returns: one row per year, a column per month (``jan`` ...
    ``dec``, null where the data has no bar) and ``year_return``, the year's compounded return."""
    monthly = periodic_returns(equity, "M").with_columns(
        pl.col("period_start").dt.year().alias("year"), pl.col("period_start").dt.month().alias("month")
    )
    yearly = monthly.group_by("year", maintain_order=True).agg(
        ((pl.col("return") + 1.0).product() - 1.0).alias("total")
    )
    cols = [pl.col("return").filter(pl.col("month") == m + 1).first().alias(name) for m, name in enumerate(MONTHS)]
    wide = monthly.group_by("year", maintain_order=True).agg(cols)
    return wide.join(yearly, on="year", maintain_order="left").rename({"total": "year_return"})
