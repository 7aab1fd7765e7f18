"""Seeded synthetic market data (no network needed): a long OHLCV frame with a prediction column."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl


def synthetic_prices(
    n_assets: int = 50,
    n_bars: int = 2520,
    *,
    seed: int = 42,
    start: dt.date = dt.date(2015, 1, 2),
    sigma: float = 0.015,
    skill: float = 0.05,
) -> pl.DataFrame:
    """Long daily panel: ``timestamp, asset, open, high, low, close, volume, pred``.

    Prices follow geometric random walks (per-bar log volatility ``sigma``) on business days.
    ``pred`` is a model score in (0, 1) that knows the *next* bar's return with correlation
    about ``skill``, so a strategy entering on high scores has a small real edge.

    Example:
        >>> synthetic_prices(n_assets=2, n_bars=3, seed=0).columns
        ['timestamp', 'asset', 'open', 'high', 'low', 'close', 'volume', 'pred']
    """
    if n_assets < 1 or n_bars < 1:
        raise ValueError(f"`n_assets` and `n_bars` must be >= 1; got {n_assets!r}, {n_bars!r}.")
    rng = np.random.default_rng(seed)
    shape = (n_assets, n_bars)
    ret = rng.normal(0.0, sigma, shape)
    close = 100.0 * np.exp(np.cumsum(ret, axis=1))
    prev = np.concatenate([np.full((n_assets, 1), 100.0), close[:, :-1]], axis=1)
    open_ = prev * np.exp(rng.normal(0.0, 0.3 * sigma, shape))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 0.5 * sigma, shape)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 0.5 * sigma, shape)))
    volume = rng.lognormal(13.0, 0.5, shape).round()
    nxt = np.concatenate([ret[:, 1:], np.zeros((n_assets, 1))], axis=1) / sigma
    score = skill * nxt + np.sqrt(1.0 - skill**2) * rng.normal(0.0, 1.0, shape)
    pred = 1.0 / (1.0 + np.exp(-score))
    days = np.busday_offset(np.datetime64(start, "D"), np.arange(n_bars), roll="forward")
    width = len(str(n_assets - 1))
    return pl.DataFrame(
        {
            "timestamp": np.tile(days, n_assets),
            "asset": np.repeat([f"A{i:0{width}d}" for i in range(n_assets)], n_bars),
            "open": open_.ravel(),
            "high": high.ravel(),
            "low": low.ravel(),
            "close": close.ravel(),
            "volume": volume.ravel(),
            "pred": pred.ravel(),
        }
    ).with_columns(pl.col("timestamp").cast(pl.Date))
