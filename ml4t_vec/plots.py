"""Plots (optional extra ``ml4t-vec[plot]``: matplotlib). Imported lazily: the core never needs it."""

from __future__ import annotations

import numpy as np
import polars as pl

from ml4t_vec.errors import ConfigError, did_you_mean

AGGS = ("max", "min", "mean", "median")


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plots need matplotlib: pip install 'ml4t-vec[plot]'") from None
    return plt


def heatmap_grid(results: pl.DataFrame, x: str, y: str, metric: str, fixed: dict | None = None, agg: str | None = None):
    """The (y values, x values, grid) a heatmap draws: ``grid[i, j]`` is ``metric`` at
    ``y == ys[i]`` and ``x == xs[j]`` (NaN where no set has those values).

    Other parameters are held at ``fixed`` values, and what still varies is reduced with ``agg``;
    without ``agg`` a repeated (x, y) cell is an error rather than an arbitrary pick."""
    for name in (x, y, metric, *(fixed or {})):
        if name not in results.columns:
            raise ConfigError(f"unknown column {name!r}.{did_you_mean(name, list(results.columns))}")
    df = results
    for k, v in (fixed or {}).items():
        df = df.filter(pl.col(k).is_null() if v is None else pl.col(k) == v)
    if df.height == 0:
        raise ConfigError(f"no parameter set has {fixed}.")
    if agg is not None and agg not in AGGS:
        raise ConfigError(f"`agg` must be one of {AGGS}; got {agg!r}.")
    cells = df.select(x, y, pl.col(metric).cast(pl.Float64).fill_nan(None))
    if agg is None:
        dup = cells.group_by(x, y).len().filter(pl.col("len") > 1)
        if dup.height:
            raise ConfigError(
                f"several rows share ({x}, {y}) = {dup.row(0)[:2]}: other parameters vary. Hold them with "
                f"fixed={{...}} or reduce them with agg= one of {AGGS}."
            )
        agg = "max"
    cells = cells.group_by(x, y).agg(getattr(pl.col(metric), agg)())
    xs = np.sort(cells.get_column(x).unique().drop_nulls().to_numpy())
    ys = np.sort(cells.get_column(y).unique().drop_nulls().to_numpy())
    grid = np.full((ys.shape[0], xs.shape[0]), np.nan)
    xi = np.searchsorted(xs, cells.get_column(x).to_numpy())
    yi = np.searchsorted(ys, cells.get_column(y).to_numpy())
    grid[yi, xi] = cells.get_column(metric).cast(pl.Float64).fill_null(np.nan).to_numpy()
    return ys, xs, grid


def heatmap(results: pl.DataFrame, x: str, y: str, metric: str = "sharpe", *, fixed: dict | None = None,
            agg: str | None = None, ax=None, cmap: str = "RdYlGn", annotate: bool | None = None):  # fmt: skip
    """Draw ``metric`` over the (x, y) parameter grid; returns the matplotlib ``Axes``."""
    ys, xs, grid = heatmap_grid(results, x, y, metric, fixed, agg)
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(min(2 + 0.45 * len(xs), 16), min(1.5 + 0.35 * len(ys), 12)))
    finite = grid[np.isfinite(grid)]
    lim = float(np.abs(finite).max()) if finite.size else 1.0
    diverging = finite.size and finite.min() < 0 < finite.max()
    img = ax.imshow(np.ma.masked_invalid(grid), origin="lower", aspect="auto", cmap=cmap,
                    vmin=-lim if diverging else None, vmax=lim if diverging else None)  # fmt: skip
    ax.figure.colorbar(img, ax=ax, label=metric)
    step = lambda n: max(1, n // 20)  # noqa: E731  at most ~20 tick labels per axis
    ax.set_xticks(range(0, len(xs), step(len(xs))), [str(v) for v in xs[:: step(len(xs))]])
    ax.set_yticks(range(0, len(ys), step(len(ys))), [str(v) for v in ys[:: step(len(ys))]])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    held = ", ".join(f"{k}={v}" for k, v in (fixed or {}).items())
    ax.set_title(f"{metric}" + (f" ({agg} over the other parameters)" if agg else "") + (f" at {held}" if held else ""))
    if annotate if annotate is not None else grid.size <= 150:
        for i in range(grid.shape[0]):
            for j in range(grid.shape[1]):
                if np.isfinite(grid[i, j]):
                    ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", fontsize=7)
    return ax
