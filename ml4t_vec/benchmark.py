"""Benchmarks: what a result is compared with, as one return per bar of its time axis.

A benchmark is given as
- an asset of the panel (its symbol): bought and held from the first bar's close; close-to-close
  returns after that. A bar where the asset has no row keeps its last close (0 return); bars
  before its first row have no return (NaN: the asset did not exist yet);
- a returns column or expression of the panel (``pl.col("spy_ret")``, on ``backtest`` only: the
  frame is needed to evaluate it): one return per timestamp, the same on every asset's row (rows
  that disagree are an error naming the timestamp and two symbols);
- a frame with ``timestamp`` and one numeric column of returns (e.g. an index's daily returns),
  on any calendar: the returns of its rows in (previous bar, bar] are compounded into the bar
  (a Date frame row counts at the first bar on or after that date; against a Date axis a
  Datetime row counts on its date), so a daily benchmark against weekly bars, or one that trades
  on holidays of the panel, loses no return;
- another ``BacktestResult``: its equity returns, as a frame.

The strategy's first-bar return is over the initial cash, before any fill; the benchmark's first
bar is 0 for every kind (held from that bar's close). A bar without a benchmark return is NaN,
reported by a ``DataWarning``: the benchmark's total return compounds the others, and the
relative metrics (beta, alpha, correlation, tracking error, capture) use the bars where both
have a return, as empyrical drops NaN pairs.
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
        """(timestamp, return, equity) with equity as the growth of 1 (a bar without a return,
        null here, leaves it unchanged)."""
        growth = np.cumprod(1.0 + np.nan_to_num(self.returns))
        return pl.DataFrame({"timestamp": timestamps, "return": self.returns, "equity": growth}).with_columns(
            pl.col("return").fill_nan(None)
        )


def asset_close(prep, a: int) -> tuple[np.ndarray, np.ndarray]:
    """(close per bar, has a row) of asset ``a`` of a prepared panel, on its time axis."""
    p = prep.prices
    close = p.close[p.off[a] + np.arange(prep.n_bars, dtype=np.int64) * p.step[0]]
    cols = np.flatnonzero(prep.col_asset == a)
    valid = (prep.sig[cols[0]] & SIG_VALID) != 0 if cols.shape[0] else np.isfinite(close)
    return close, valid


def asset_returns(prep, symbol) -> np.ndarray:
    """Buy-and-hold returns of one asset of a prepared panel (module doc)."""
    symbols = prep.symbols.cast(pl.String).to_list()
    if str(symbol) not in symbols:
        raise ConfigError(f"`benchmark` {symbol!r} is not an asset of the panel.{did_you_mean(str(symbol), symbols)}")
    close, valid = asset_close(prep, symbols.index(str(symbol)))
    n_bars = prep.n_bars
    idx = np.where(valid, np.arange(n_bars), -1)
    np.maximum.accumulate(idx, out=idx)  # the last bar with a row, -1 before the first
    held = np.where(idx >= 0, close[np.maximum(idx, 0)], np.nan)
    out = np.full(n_bars, np.nan)
    if n_bars:
        out[0] = 0.0 if np.isfinite(held[0]) else np.nan
        prev, cur = held[:-1], held[1:]
        listed = np.isfinite(prev)
        np.divide(cur, prev, out=out[1:], where=listed & (prev != 0))
        out[1:] = np.where(listed, out[1:] - 1.0, np.where(np.isfinite(cur), 0.0, np.nan))  # listing bar: 0
    return out


def collapse_per_bar(grid: np.ndarray, prep, name: str = "benchmark") -> np.ndarray:
    """One value per bar from an (n_assets, n_bars) grid of a per-timestamp column (NaN = no
    row or null): the rows of a bar must agree; a bar with none has no return (NaN, warned)."""
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
            f"{prep.timestamps[t]} it is {float(grid[other, t])!r} for {prep.symbols[other]!r} and "
            f"{float(grid[a, t])!r} for "
            f"{prep.symbols[a]!r}. Pass a per-timestamp returns column, or a frame (timestamp, return)."
        )
    value[first < 0] = np.nan
    return _first_bar(value, prep.timestamps, name)


def _first_bar(r: np.ndarray, timestamps: pl.Series, name: str) -> np.ndarray:
    """Bar 0 is 0 (held from its close) where it has a value; warn about bars without one."""
    if r.shape[0] and np.isfinite(r[0]):
        r[0] = 0.0
    missing = ~np.isfinite(r)
    if missing.any():
        t = int(np.argmax(missing))
        warnings.warn(
            f"`{name}` has no return on {int(missing.sum())} of {missing.shape[0]} bars (first {timestamps[t]}): "
            "the relative metrics use the bars where both have one.",
            DataWarning,
            stacklevel=5,
        )
    return r


def frame_returns(frame: pl.DataFrame, timestamps: pl.Series, name: str = "benchmark") -> np.ndarray:
    """Returns from a (timestamp, return) frame compounded into the bars of ``timestamps``
    (module doc)."""
    if "timestamp" not in frame.columns:
        raise ConfigError(f"a `{name}` frame needs a `timestamp` column; got columns {frame.columns}.")
    values = [c for c in frame.columns if c != "timestamp"]
    if len(values) != 1 or not frame.schema[values[0]].is_numeric():
        raise ConfigError(
            f"a `{name}` frame must have `timestamp` and one numeric column of returns; got {dict(frame.schema)}."
        )
    col, have, axis = values[0], frame.schema["timestamp"], timestamps.dtype
    if not have.is_temporal() or have == pl.Time:
        raise DataError(f"the `{name}` frame's `timestamp` must be Date or Datetime; got {have}.")
    df = frame.select("timestamp", pl.col(col).cast(pl.Float64).fill_nan(None).alias("r")).drop_nulls()
    if df.get_column("timestamp").is_duplicated().any():
        dup = df.filter(pl.col("timestamp").is_duplicated()).item(0, "timestamp")
        raise DataError(f"the `{name}` frame repeats timestamp {dup}; one return per timestamp.")
    bad = df.filter((pl.col("r") <= -1.0) | pl.col("r").is_infinite())
    if bad.height:
        raise DataError(
            f"`{name}` returns must be finite and > -1; got {bad.item(0, 'r')} at {bad.item(0, 'timestamp')}."
        )
    # the frame's times and the axis in one comparable form
    zone_of = lambda d: getattr(d, "time_zone", None)  # noqa: E731
    if axis == pl.Date:
        keys, ax = df.get_column("timestamp").cast(pl.Date), timestamps
    else:
        if have != pl.Date and (zone_of(have) is None) != (zone_of(axis) is None):
            raise DataError(
                f"the `{name}` frame's timestamps ({have}) and the backtest's ({axis}) must both have a time zone "
                "or both have none."
            )
        ts = df.get_column("timestamp").cast(pl.Datetime(axis.time_unit))
        keys = ts.dt.replace_time_zone(zone_of(axis)) if have == pl.Date else ts.dt.convert_time_zone(zone_of(axis)) \
            if zone_of(axis) else ts  # fmt: skip
        ax = timestamps
    order = keys.arg_sort()
    keys, r = keys.gather(order), df.get_column("r").gather(order).to_numpy()
    bar = np.searchsorted(ax.to_physical().to_numpy(), keys.to_physical().to_numpy(), side="left")
    inside = bar < timestamps.len()  # rows after the last bar are not in the run
    if not inside.any():
        raise DataError(
            f"no row of the `{name}` frame falls on the backtest's bars ({timestamps[0]} to {timestamps[-1]}); "
            f"its timestamps run from {keys[0]} to {keys[-1]}."
        )
    growth = np.ones(timestamps.len())
    np.multiply.at(growth, bar[inside], 1.0 + r[inside])
    out = np.where(np.bincount(bar[inside], minlength=timestamps.len()) > 0, growth - 1.0, np.nan)
    return _first_bar(out, timestamps, name)


def resolve(spec, result) -> Benchmark | None:
    """A ``Benchmark`` on ``result``'s time axis from a symbol, a frame, a result or None."""
    if spec is None:
        return None
    if isinstance(spec, Benchmark):
        return spec
    ts = result._prep.timestamps
    if isinstance(spec, (str, int)) and not isinstance(spec, bool):
        return Benchmark(str(spec), _first_bar(asset_returns(result._prep, spec), ts, "benchmark"))
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
