"""Benchmarks: what a result is compared with, as one return per bar of its time axis.

A benchmark is given as
- an asset of the panel (its symbol): bought and held from the first bar's close, so its return
  is 0 on the first bar and close-to-close after that. A bar where the asset has no row keeps its
  last close (0 return); bars before its first row are 0 (the money waits in cash);
- a returns column or expression of the panel (``pl.col("spy_ret")``, on ``backtest`` only: the
  frame is needed to evaluate it): one return per timestamp, the same on every asset's row (rows
  that disagree are an error naming the timestamp and two symbols); a bar where no row has a
  value counts as 0 return and is reported by a ``DataWarning``;
- a frame with ``timestamp`` and one numeric column of returns (e.g. an index's daily returns):
  joined on the timestamps; a bar it lacks counts as 0 return (``DataWarning``);
- another ``BacktestResult``: its equity returns, joined on the timestamps in the same way.

The return of a bar is the simple return over the previous bar of the result's axis (the
strategy's first-bar return is over the initial cash), so strategy and benchmark returns are
aligned bar for bar and every relative metric in ``metrics`` uses the same pairs.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import polars as pl

from ml4t_vec._kernels.codes import SIG_VALID
from ml4t_vec.errors import ConfigError, DataError, DataWarning, did_you_mean


@dataclass(frozen=True, slots=True)
class Benchmark:
    """A benchmark resolved on a result's time axis: ``name`` and ``returns`` (n_bars,) float64."""

    name: str
    returns: np.ndarray

    def frame(self, timestamps: pl.Series) -> pl.DataFrame:
        """(timestamp, return, equity) with equity as the growth of 1."""
        return pl.DataFrame({"timestamp": timestamps, "return": self.returns, "equity": np.cumprod(1.0 + self.returns)})


def asset_close(prep, a: int) -> tuple[np.ndarray, np.ndarray]:
    """(close per bar, has a row) of asset ``a`` of a prepared panel, on its time axis."""
    p = prep.prices
    close = p.close[p.off[a] + np.arange(prep.n_bars, dtype=np.int64) * p.step[0]]
    cols = np.flatnonzero(prep.col_asset == a)
    valid = (prep.sig[cols[0]] & SIG_VALID) != 0 if cols.shape[0] else np.isfinite(close)
    return close, valid


def asset_returns(prep, symbol: str) -> np.ndarray:
    """Buy-and-hold returns of one asset of a prepared panel (module doc)."""
    symbols = prep.symbols.cast(pl.String).to_list()
    if symbol not in symbols:
        raise ConfigError(f"`benchmark` {symbol!r} is not an asset of the panel.{did_you_mean(symbol, symbols)}")
    close, valid = asset_close(prep, symbols.index(symbol))
    n_bars = prep.n_bars
    idx = np.where(valid, np.arange(n_bars), -1)
    np.maximum.accumulate(idx, out=idx)  # the last bar with a row, -1 before the first
    held = np.where(idx >= 0, close[np.maximum(idx, 0)], np.nan)
    out = np.zeros(n_bars)
    prev, cur = held[:-1], held[1:]
    ok = np.isfinite(prev) & np.isfinite(cur) & (prev != 0)
    np.divide(cur, prev, out=out[1:], where=ok)
    out[1:] = np.where(ok, out[1:] - 1.0, 0.0)
    return out


def collapse_per_bar(grid: np.ndarray, prep, name: str = "benchmark") -> np.ndarray:
    """One value per bar from an (n_assets, n_bars) grid of a per-timestamp column (NaN = no
    row or null): the rows of a bar must agree; a bar with none is 0 (warned)."""
    n_assets, n_bars = grid.shape
    have = np.isfinite(grid)
    first = np.where(have.any(axis=0), np.argmax(have, axis=0), -1)
    value = np.where(first >= 0, grid[np.maximum(first, 0), np.arange(n_bars)], 0.0)
    differs = have & (np.abs(grid - value[None, :]) > 1e-12 * np.maximum(1.0, np.abs(value[None, :])))
    if differs.any():
        a, t = (int(v[0]) for v in np.nonzero(differs))
        other = int(first[t])
        raise DataError(
            f"`{name}` must be one return per timestamp (the same on every asset's row); at "
            f"{prep.timestamps[t]} it is {grid[other, t]!r} for {prep.symbols[other]!r} and {grid[a, t]!r} for "
            f"{prep.symbols[a]!r}. Pass a per-timestamp returns column, or a frame (timestamp, return)."
        )
    _warn_missing(first < 0, prep.timestamps, name)
    return value


def _warn_missing(missing: np.ndarray, timestamps: pl.Series, name: str) -> None:
    if missing.any():
        t = int(np.argmax(missing))
        warnings.warn(
            f"`{name}` has no return on {int(missing.sum())} of {missing.shape[0]} bars (first {timestamps[t]}): "
            "they count as 0 return.",
            DataWarning,
            stacklevel=4,
        )


def frame_returns(frame: pl.DataFrame, timestamps: pl.Series, name: str = "benchmark") -> np.ndarray:
    """Returns from a (timestamp, return) frame joined on ``timestamps`` (module doc)."""
    if "timestamp" not in frame.columns:
        raise ConfigError(f"a `{name}` frame needs a `timestamp` column; got columns {frame.columns}.")
    values = [c for c in frame.columns if c != "timestamp"]
    if len(values) != 1 or not frame.schema[values[0]].is_numeric():
        raise ConfigError(
            f"a `{name}` frame must have `timestamp` and one numeric column of returns; got {dict(frame.schema)}."
        )
    col = values[0]
    if frame.get_column("timestamp").is_duplicated().any():
        raise DataError(f"the `{name}` frame repeats timestamps; one return per timestamp.")
    try:
        right = frame.select(pl.col("timestamp").cast(timestamps.dtype), pl.col(col).cast(pl.Float64))
    except Exception as err:
        raise DataError(
            f"the `{name}` frame's timestamps ({frame.schema['timestamp']}) do not match the backtest's "
            f"({timestamps.dtype}): {err}"
        ) from None
    joined = timestamps.to_frame("timestamp").join(right, on="timestamp", how="left", maintain_order="left")
    r = joined.get_column(col).fill_nan(None)
    _warn_missing(r.is_null().to_numpy(), timestamps, name)
    out = r.fill_null(0.0).to_numpy().astype(np.float64)
    if (out <= -1.0).any() or not np.isfinite(out).all():
        t = int(np.argmax((out <= -1.0) | ~np.isfinite(out)))
        raise DataError(f"`{name}` returns must be finite and > -1; got {out[t]!r} at {timestamps[t]}.")
    return out


def resolve(spec, result) -> Benchmark | None:
    """A ``Benchmark`` on ``result``'s time axis from a symbol, a frame, a result or None."""
    if spec is None:
        return None
    if isinstance(spec, Benchmark):
        return spec
    ts = result._prep.timestamps
    if isinstance(spec, str):
        return Benchmark(spec, asset_returns(result._prep, spec))
    if isinstance(getattr(spec, "equity", None), pl.DataFrame):  # another BacktestResult (the frontend's type)
        eq = spec.equity.select("timestamp", "return")
        return Benchmark("strategy", frame_returns(eq, ts, "benchmark"))
    if isinstance(spec, pl.DataFrame):
        return Benchmark([c for c in spec.columns if c != "timestamp"][0] if spec.width == 2 else "benchmark",
                         frame_returns(spec, ts))  # fmt: skip
    if isinstance(spec, pl.Expr):
        raise ConfigError(
            "a `benchmark` expression is evaluated on the price frame: pass it to `backtest(..., benchmark=...)`; "
            "here give a symbol, a frame (timestamp, return) or another result."
        )
    raise ConfigError(
        "`benchmark` must be a symbol of the panel, a returns expression (on `backtest`), a frame "
        f"(timestamp, return) or another BacktestResult; got {type(spec).__name__}."
    )
