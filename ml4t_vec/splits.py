"""Purged and embargoed cross-validation splits over timestamps, for training ML models on a panel.

``PurgedKFold`` and ``WalkForward`` follow scikit-learn's splitter protocol (``split(X, y,
groups)`` yields ``(train_idx, test_idx)``; ``get_n_splits``), so they work as ``cv=`` in
``cross_val_score``, ``GridSearchCV``, ... (scikit-learn is not a dependency). After López de
Prado, *Advances in Financial Machine Learning* (2018), ch. 7 (``PurgedKFold``, ``getTrainTimes``,
``getEmbargoTimes``). Definitions:

- Timeline: the sorted DISTINCT timestamps t_0 < ... < t_{T-1} of the input. A long panel has
  one row per (timestamp, asset); folds are cut on the timeline, so all rows of a timestamp go to
  the same side (train, test, or neither). Rows may come in any order; ``split`` yields sorted
  int64 ROW positions of the input, so any row order gives the same timestamp sets. "Bars" below
  are positions on this timeline (the panel's timestamps, not one asset's own bars).
- Label window of t_k: [t_k, E_k], closed. ``label_horizon=h`` (int) ends it at the h-th next
  timestamp (t_{k+h}, the last timestamp if none); a duration ("5d", "1mo", ``timedelta``) ends it
  at t_k + h (calendar arithmetic, Polars ``dt.offset_by``); ``label_end_col`` gives each row's
  label end time (López de Prado's ``t1``, e.g. a triple-barrier exit) and a timestamp's window
  ends at the latest end among its rows (purging is decided per timestamp, so this is the
  conservative choice). A forward return from the close of t to the close of t + h bars has
  ``label_horizon=h``; ``label_horizon=0`` (default) means labels known at t: no purging.
- Purging: a training timestamp is dropped when its label window overlaps the label window of
  any test timestamp. The test fold covers t_a..t_b and its labels end at M = max E over the fold,
  so t_k before the fold is purged when E_k >= t_a, and t_k after it when t_k <= M. Intervals are
  closed (López de Prado's ``getTrainTimes``): a label ending exactly at t_a shares that point
  with the test labels, so ``label_horizon=h`` bars purges the h timestamps before each test fold
  and the h after it.
- Embargo (``PurgedKFold``): after purging, the training timestamps right after a test fold's
  labels end are dropped too: an int g drops the next g timestamps after M, a float f in [0, 1)
  drops ceil(f * T) timestamps (López de Prado's ``pctEmbargo``, which truncates; rounding up
  means any positive fraction embargoes at least one), a duration d drops those in (M, M + d].
  Training data before a test fold needs no embargo (its features cannot see the test period).
- ``WalkForward``: train strictly precedes test. Test windows of ``test_size``, ``step`` apart,
  from the start of the data (the last may be shorter); the training window is the ``train_size``
  timestamps right before the test window (rolling) or every timestamp from the first
  (``anchored=True``). Purging drops the training timestamps whose labels end at or after the
  test start (E_k >= t_a); the embargo then drops those whose labels end within ``embargo`` of it
  (the g timestamps before the purged ones; for a duration d, E_k + d >= t_a), a gap as in
  scikit-learn's ``TimeSeriesSplit(gap=...)``. The sizes count timestamps, so a fold trains on
  ``train_size - n_purged - n_embargoed`` timestamps (``describe`` shows them).

Inputs of ``split`` / ``describe``: the timestamps come from ``groups`` when given (one per row of
X; this is how they travel through ``cross_val_score(model, X, y, groups=timestamps, cv=...)``
when X is a feature matrix), else from X: a Polars DataFrame / LazyFrame with ``timestamp_col``
(and ``label_end_col``), a Polars Series, or a 1-D NumPy array of datetime64 or integers (any row
order). Timestamps must be Date, Datetime or integers without nulls; durations need Date /
Datetime timestamps.
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import KW_ONLY, dataclass
from datetime import timedelta

import numpy as np
import polars as pl

from ml4t_vec._prepare import _collect
from ml4t_vec.errors import ConfigError, DataError, did_you_mean

__all__ = ["PurgedKFold", "WalkForward"]

_UNIT = re.compile(r"(\d+)(ns|us|ms|mo|s|m|h|d|w|q|y)")  # Polars duration units ("mo" before "m")
_SUB_DAY_US = {"ns": 1e-3, "us": 1, "ms": 1_000, "s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000}
_DAY_US = 86_400_000_000
_MAX_WINDOWS = 100_000  # duration walk-forward: more (mostly empty) windows than this means a tiny `step`
_DURATION_HELP = "a Polars duration string such as '5d', '3mo', '1y6mo', or a datetime.timedelta"


# ---------------------------------------------------------------------------------------------
# parameters
# ---------------------------------------------------------------------------------------------
def rolling_windows(n: int, train: int, test: int, step: int) -> list[tuple[int, int, int]]:
    """(train start, test start, test end exclusive) of rolling windows over ``n`` timestamps:
    ``train`` then ``test`` timestamps, moved on by ``step``, laid out from the start; a last
    test window shorter than ``test`` is kept. Shared with ``vec.walk_forward``."""
    out, s = [], 0
    while s + train < n:
        out.append((s, s + train, min(s + train + test, n)))
        s += step
    return out


def _duration(param: str, value, *, positive: bool) -> list[tuple[int, str]] | None:
    """``value`` as [(count, unit), ...] if it is a duration (str, timedelta, np.timedelta64), else None."""
    if isinstance(value, np.timedelta64):
        if np.isnat(value):
            raise ConfigError(f"`{param}` must be {_DURATION_HELP}; got {value!r}.")
        value = timedelta(microseconds=int(value.astype("timedelta64[us]").astype(np.int64)))
    if isinstance(value, timedelta):
        us = value // timedelta(microseconds=1)
        parts = [(us, "us")]
    elif isinstance(value, str):
        parts = [(int(n), u) for n, u in _UNIT.findall(value)]
        if not parts or "".join(f"{n}{u}" for n, u in _UNIT.findall(value)) != value:
            raise ConfigError(f"`{param}` must be {_DURATION_HELP}; got {value!r}.")
    else:
        return None
    total = sum(n for n, _ in parts)
    if total < 0 or (positive and total == 0):
        raise ConfigError(f"`{param}` must be a {'positive' if positive else 'non-negative'} duration; got {value!r}.")
    return parts


def _count(param: str, value, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ConfigError(f"`{param}` must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def _horizon(value) -> int | list[tuple[int, str]]:
    parts = _duration("label_horizon", value, positive=False)
    if parts is not None:
        return parts
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ConfigError(
            f"`label_horizon` must be a number of bars >= 0 or {_DURATION_HELP} (the label of t ends at t + "
            f"label_horizon); got {value!r}."
        )
    return int(value)


def _embargo(value) -> int | float | list[tuple[int, str]]:
    parts = _duration("embargo", value, positive=False)
    if parts is not None:
        return parts
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0:
        return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and 0.0 <= value < 1.0:  # NaN fails
        return float(value)
    raise ConfigError(
        "`embargo` must be a fraction of the timestamps in [0, 1) (0.01 = 1%), a number of timestamps >= 0, or "
        f"{_DURATION_HELP}; got {value!r}."
    )


def _size(param: str, value, *, allow_none: bool = False) -> int | list[tuple[int, str]] | None:
    if value is None and allow_none:
        return None
    parts = _duration(param, value, positive=True)
    if parts is not None:
        return parts
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ConfigError(f"`{param}` must be a number of timestamps >= 1 or {_DURATION_HELP}; got {value!r}.")
    return int(value)


def _column_name(param: str, value, allow_none: bool = False) -> None:
    if not (isinstance(value, str) or (allow_none and value is None)):
        raise ConfigError(f"`{param}` must be a column name; got {value!r}.")


def _offset(parts: list[tuple[int, str]], dtype: pl.DataType, param: str, times: int = 1) -> str:
    """The Polars ``offset_by`` string for ``parts`` scaled by ``times``; Date timestamps take whole days."""
    if dtype == pl.Date:
        sub = sum(n * _SUB_DAY_US[u] for n, u in parts if u in _SUB_DAY_US)
        if sub % _DAY_US:
            raise ConfigError(f"`{param}` must be whole days for Date timestamps; got {_show(parts)!r}.")
        parts = [(n, u) for n, u in parts if u not in _SUB_DAY_US] + ([(int(sub // _DAY_US), "d")] if sub else [])
    return "".join(f"{n * times}{u}" for n, u in parts) or "0d"


def _show(parts: list[tuple[int, str]]) -> str:
    return "".join(f"{n}{u}" for n, u in parts)


# ---------------------------------------------------------------------------------------------
# the timeline
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Timeline:
    times: pl.Series  # the T distinct timestamps, sorted, in the input's dtype
    phys: np.ndarray  # their physical int64 values
    codes: np.ndarray  # per row: position of its timestamp on the timeline
    end_pos: np.ndarray  # per timestamp: position of the last timestamp <= its label end (>= own position)
    end_phys: np.ndarray  # per timestamp: its label end time (physical)

    @property
    def n(self) -> int:
        return self.phys.shape[0]

    def position(self, phys: np.ndarray, side: str) -> np.ndarray:
        return np.searchsorted(self.phys, phys, side=side).astype(np.int64)

    def shifted(self, phys: np.ndarray, by: str) -> np.ndarray:
        return _shift(phys, self.times.dtype, by)


def _shift(phys: np.ndarray, dtype: pl.DataType, by: str) -> np.ndarray:
    """Physical times ``phys`` of ``dtype`` moved forward by the duration ``by`` (``dt.offset_by``)."""
    s = pl.Series(phys, dtype=pl.Int64).cast(dtype)
    return s.dt.offset_by(by).to_physical().cast(pl.Int64).to_numpy()


def _kind(value) -> str:
    return type(value).__module__.split(".")[0] + "." + type(value).__name__


def _from_numpy(arr: np.ndarray, name: str) -> pl.Series:
    if arr.dtype.kind == "M":
        unit = np.datetime_data(arr.dtype)[0]
        if unit not in ("D", "ms", "us", "ns"):  # Polars reads these four; the others convert exactly
            arr = arr.astype("datetime64[D]" if unit in ("Y", "M", "W") else "datetime64[ms]")
        return pl.Series(name, arr)
    if arr.dtype.kind in "iu":
        return pl.Series(name, arr)
    if arr.dtype == object:  # a list of dates or datetimes, pandas' tz-aware timestamps
        try:
            return pl.Series(name, arr.tolist())
        except (pl.exceptions.PolarsError, TypeError, ValueError):
            pass
    raise DataError(
        f"`{name}` must hold timestamps (datetime64 or integers, one per row); got a NumPy array of {arr.dtype}. "
        "A feature matrix has no timestamps: pass them as `groups` (cross_val_score(..., groups=timestamps))."
    )


def _missing_column(schema: pl.Schema, param: str, col: str, name: str):
    columns = schema.names()
    temporal = [c for c, d in schema.items() if d == pl.Date or isinstance(d, pl.Datetime)]
    raise DataError(
        f"`{param}` {col!r} is not a column of `{name}` (columns: {columns}).{did_you_mean(col, columns)}"
        + (f" Date/Datetime columns: {temporal}." if temporal else "")
    )


def _sources(src, name: str, ts_col: str, end_col: str | None) -> tuple[pl.Series, pl.Series | None]:
    """(timestamps, label ends or None) per row of ``src``."""
    if isinstance(src, (pl.DataFrame, pl.LazyFrame)):
        schema = src.collect_schema()
        for param, col in (("timestamp_col", ts_col), ("label_end_col", end_col)):
            if col is not None and col not in schema:
                _missing_column(schema, param, col, name)
        if isinstance(src, pl.LazyFrame):
            src = _collect(src.select([c for c in (ts_col, end_col) if c is not None]))
        return src.get_column(ts_col), None if end_col is None else src.get_column(end_col)
    if end_col is not None:
        raise ConfigError(
            f"`label_end_col` needs `{name}` to be a Polars DataFrame or LazyFrame with that column; got {_kind(src)}."
        )
    if isinstance(src, pl.Series):
        return src, None
    if hasattr(src, "columns") and hasattr(src, "__getitem__"):  # pandas and other frames
        if ts_col not in list(src.columns):
            cols = [str(c) for c in src.columns]
            raise DataError(
                f"`timestamp_col` {ts_col!r} is not a column of `{name}` (columns: {cols}).{did_you_mean(ts_col, cols)}"
            )
        src = src[ts_col]
    arr = np.asarray(src)
    if arr.ndim != 1:
        raise DataError(
            f"`{name}` must be a Polars DataFrame/LazyFrame with column {ts_col!r}, a Series or a 1-D array of "
            f"timestamps; got a {arr.ndim}-D {_kind(src)}. A feature matrix has no timestamps: pass them as "
            "`groups` (cross_val_score(model, X, y, groups=timestamps, cv=...))."
        )
    return _from_numpy(arr, name), None


def _check_times(s: pl.Series, what: str) -> None:
    d = s.dtype
    if not (d == pl.Date or isinstance(d, pl.Datetime) or d.is_integer()):
        raise DataError(f"{what} must be Date, Datetime or integers; got {d}.")
    if s.null_count():
        row = int(s.is_null().arg_true()[0])
        raise DataError(f"{what} has a null at row {row}; every row needs one (drop or fill those rows first).")


def _label_ends(ts: pl.Series, end: pl.Series, what: str) -> np.ndarray:
    """Physical label end per row, in the timestamps' dtype; checked: no nulls, never before the timestamp."""
    _check_times(end, what)
    try:
        end = end.cast(ts.dtype, strict=True)
    except pl.exceptions.PolarsError:
        raise DataError(f"{what} must have the timestamps' dtype {ts.dtype}; got {end.dtype}.") from None
    e = end.to_physical().cast(pl.Int64).to_numpy()
    t = ts.to_physical().cast(pl.Int64).to_numpy()
    bad = np.flatnonzero(e < t)
    if bad.size:
        r = int(bad[0])
        raise DataError(
            f"{what} must not be before the row's timestamp; row {r} has timestamp {ts[r]} and label end {end[r]}."
        )
    return e


class _Splitter:
    """``split`` / ``get_n_splits`` / ``describe`` over the folds that a subclass's ``_folds`` lays out."""

    __slots__ = ()

    def _check_labels(self) -> None:
        h = _horizon(self.label_horizon)
        _embargo(self.embargo)
        _column_name("timestamp_col", self.timestamp_col)
        _column_name("label_end_col", self.label_end_col, allow_none=True)
        if self.label_end_col is not None and (h if isinstance(h, int) else sum(n for n, _ in h)):
            raise ConfigError(
                f"`label_horizon` must be 0 when `label_end_col` gives the label ends; got {self.label_horizon!r}."
            )

    def _timeline(self, X, groups) -> _Timeline:
        src, name = (groups, "groups") if groups is not None else (X, "X")
        if src is None:
            raise DataError("`X` must hold the timestamps (or pass them as `groups`); got None.")
        ts, end = _sources(src, name, self.timestamp_col, self.label_end_col)
        framed = isinstance(src, (pl.DataFrame, pl.LazyFrame))
        _check_times(ts, f"`{name}` column {self.timestamp_col!r}" if framed else f"the timestamps in `{name}`")
        if groups is not None and X is not None and hasattr(X, "shape") and X.shape[0] != ts.len():
            raise DataError(f"`groups` must hold one timestamp per row of `X` ({X.shape[0]} rows); got {ts.len()}.")
        v = ts.to_physical().cast(pl.Int64).to_numpy()
        phys, first, codes = np.unique(v, return_index=True, return_inverse=True)
        times = ts.gather(first)
        n = phys.shape[0]
        h = _horizon(self.label_horizon)
        if end is not None:
            ends = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
            np.maximum.at(ends, codes, _label_ends(ts, end, f"`{name}` column {self.label_end_col!r}"))
        elif isinstance(h, int):
            end_pos = np.minimum(np.arange(n, dtype=np.int64) + h, n - 1)
            return _Timeline(times, phys, codes.astype(np.int64), end_pos, phys[end_pos])
        else:
            ends = _shift(phys, ts.dtype, _offset(h, self._temporal(ts), "label_horizon"))
        end_pos = np.searchsorted(phys, ends, side="right").astype(np.int64) - 1
        return _Timeline(times, phys, codes.astype(np.int64), end_pos, ends)

    def _temporal(self, ts: pl.Series) -> pl.DataType:
        if not (ts.dtype == pl.Date or isinstance(ts.dtype, pl.Datetime)):
            raise ConfigError(
                f"a duration (in `label_horizon`, `embargo`, `train_size`, `test_size` or `step`) needs Date or "
                f"Datetime timestamps; got {ts.dtype} timestamps: give numbers of timestamps instead."
            )
        return ts.dtype

    def _embargo_count(self, tl: _Timeline) -> int | str:
        """The embargo as a number of timestamps, or as a ``dt.offset_by`` string."""
        e = _embargo(self.embargo)
        if isinstance(e, list):
            return _offset(e, self._temporal(tl.times), "embargo")
        if isinstance(e, float):
            return math.ceil(round(e * tl.n, 9))  # round first: 0.01 * 300 = 3.0000000000000004
        return e

    def split(self, X, y=None, groups=None):
        """Yield ``(train_idx, test_idx)`` per fold: sorted int64 row positions of ``X`` (or ``groups``).

        Args:
            X: the rows to split: a Polars DataFrame / LazyFrame with ``timestamp_col``, a Polars
                Series or a 1-D NumPy array of timestamps; any row order. With ``groups`` it is
                only counted (a feature matrix is fine).
            y: ignored (scikit-learn protocol).
            groups: the timestamps, one per row of ``X`` (any of the forms ``X`` may take), when
                ``X`` does not hold them.

        Raises:
            DataError: a fold has no training timestamps left after purging and embargo.
        """
        tl = self._timeline(X, groups)
        for i, (a, b, train, purged, embargoed) in enumerate(self._folds(tl)):
            if not train.any():
                raise DataError(
                    f"fold {i} (test {tl.times[a]} .. {tl.times[b]}) has no training timestamps left "
                    f"({int(purged.sum())} purged, {int(embargoed.sum())} embargoed); lower `label_horizon` or "
                    "`embargo`, or use fewer folds (describe(X) shows every fold)."
                )
            test = np.zeros(tl.n, dtype=bool)
            test[a : b + 1] = True
            yield (np.flatnonzero(train[tl.codes]).astype(np.int64), np.flatnonzero(test[tl.codes]).astype(np.int64))

    def describe(self, X, groups=None) -> pl.DataFrame:
        """One row per fold: ``fold``, ``train_start``, ``train_end`` (first and last training
        timestamp; null if none), ``test_start``, ``test_end``, ``n_train_timestamps``,
        ``n_test_timestamps``, ``n_purged``, ``n_embargoed`` (timestamps dropped from training),
        ``n_train_rows``, ``n_test_rows``. Inputs as in ``split``; never raises for an empty
        training set (``split`` does)."""
        tl = self._timeline(X, groups)
        rows = np.bincount(tl.codes, minlength=tl.n)
        cols: dict[str, list] = {k: [] for k in ("tr0", "tr1", "te0", "te1", "ntr", "nte", "np", "ne", "rtr", "rte")}
        for a, b, train, purged, embargoed in self._folds(tl):
            idx = np.flatnonzero(train)
            cols["tr0"].append(int(idx[0]) if idx.size else None)
            cols["tr1"].append(int(idx[-1]) if idx.size else None)
            cols["te0"].append(a)
            cols["te1"].append(b)
            cols["ntr"].append(idx.size)
            cols["nte"].append(b - a + 1)
            cols["np"].append(int(purged.sum()))
            cols["ne"].append(int(embargoed.sum()))
            cols["rtr"].append(int(rows[idx].sum()))
            cols["rte"].append(int(rows[a : b + 1].sum()))
        at = lambda k: tl.times.gather(pl.Series(cols[k], dtype=pl.Int64))  # noqa: E731  (null index -> null)
        n = len(cols["te0"])
        return pl.DataFrame(
            {
                "fold": pl.Series(range(n), dtype=pl.Int64),
                "train_start": at("tr0"), "train_end": at("tr1"), "test_start": at("te0"), "test_end": at("te1"),
                "n_train_timestamps": pl.Series(cols["ntr"], dtype=pl.Int64),
                "n_test_timestamps": pl.Series(cols["nte"], dtype=pl.Int64),
                "n_purged": pl.Series(cols["np"], dtype=pl.Int64),
                "n_embargoed": pl.Series(cols["ne"], dtype=pl.Int64),
                "n_train_rows": pl.Series(cols["rtr"], dtype=pl.Int64),
                "n_test_rows": pl.Series(cols["rte"], dtype=pl.Int64),
            }
        )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# the splitters
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PurgedKFold(_Splitter):
    """K-fold cross-validation over timestamps with purging and embargo (López de Prado, AFML 7.4).

    The distinct timestamps are cut into ``n_splits`` contiguous test folds (sizes differ by at
    most one, the first ones larger, as ``np.array_split`` and scikit-learn's ``KFold``); every
    timestamp is tested exactly once. Each fold trains on the other timestamps, minus those purged
    (their label windows overlap the test labels) and embargoed (right after the test labels end).
    Definitions in the module docstring.

    Args:
        n_splits: number of folds, >= 2 and at most the number of distinct timestamps.
        label_horizon: how far each label looks ahead: a number of timestamps (bars) >= 0, or a
            duration ("5d", "1mo", ``timedelta``). 0 = labels known at their timestamp (no purge).
        embargo: timestamps dropped from training after each test fold's labels end: a fraction
            of all timestamps in [0, 1) (rounded up), an int count, or a duration.
        timestamp_col: the timestamp column when ``X`` (or ``groups``) is a frame.
        label_end_col: column with each row's label end time (López de Prado's ``t1``), instead
            of ``label_horizon``.

    Example:
        >>> import polars as pl
        >>> from datetime import date, timedelta
        >>> from ml4t_vec.splits import PurgedKFold
        >>> days = [date(2024, 1, 1) + timedelta(days=i) for i in range(10)]
        >>> panel = pl.DataFrame({"timestamp": days * 2, "symbol": ["A"] * 10 + ["B"] * 10})
        >>> cv = PurgedKFold(5, label_horizon=1, embargo=1)
        >>> cv.describe(panel).select("fold", "train_start", "train_end", "test_start", "n_purged", "n_embargoed")
        shape: (5, 6)
        ┌──────┬─────────────┬────────────┬────────────┬──────────┬─────────────┐
        │ fold ┆ train_start ┆ train_end  ┆ test_start ┆ n_purged ┆ n_embargoed │
        │ ---  ┆ ---         ┆ ---        ┆ ---        ┆ ---      ┆ ---         │
        │ i64  ┆ date        ┆ date       ┆ date       ┆ i64      ┆ i64         │
        ╞══════╪═════════════╪════════════╪════════════╪══════════╪═════════════╡
        │ 0    ┆ 2024-01-05  ┆ 2024-01-10 ┆ 2024-01-01 ┆ 1        ┆ 1           │
        │ 1    ┆ 2024-01-01  ┆ 2024-01-10 ┆ 2024-01-03 ┆ 2        ┆ 1           │
        │ 2    ┆ 2024-01-01  ┆ 2024-01-10 ┆ 2024-01-05 ┆ 2        ┆ 1           │
        │ 3    ┆ 2024-01-01  ┆ 2024-01-05 ┆ 2024-01-07 ┆ 2        ┆ 1           │
        │ 4    ┆ 2024-01-01  ┆ 2024-01-07 ┆ 2024-01-09 ┆ 1        ┆ 0           │
        └──────┴─────────────┴────────────┴────────────┴──────────┴─────────────┘
        >>> train_idx, test_idx = next(cv.split(panel))
        >>> test_idx.tolist(), train_idx[:4].tolist()
        ([0, 1, 10, 11], [4, 5, 6, 7])
    """

    n_splits: int = 5
    _: KW_ONLY
    label_horizon: int | str | timedelta = 0
    embargo: float | int | str | timedelta = 0
    timestamp_col: str = "timestamp"
    label_end_col: str | None = None

    def __post_init__(self):
        _count("n_splits", self.n_splits, minimum=2)
        self._check_labels()

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        """The number of folds, ``n_splits`` (scikit-learn protocol; the arguments are ignored)."""
        return self.n_splits

    def _folds(self, tl: _Timeline):
        if self.n_splits > tl.n:
            raise ConfigError(
                f"`n_splits` must be at most the number of distinct timestamps ({tl.n}); got {self.n_splits}."
            )
        g = self._embargo_count(tl)
        k = np.arange(tl.n, dtype=np.int64)
        sizes = np.full(self.n_splits, tl.n // self.n_splits, dtype=np.int64)
        sizes[: tl.n % self.n_splits] += 1
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        label_end = [int(tl.end_phys[a : a + s].max()) for a, s in zip(starts, sizes, strict=True)]  # M per fold
        m_pos = tl.position(np.array(label_end, dtype=np.int64), "right") - 1
        if isinstance(g, str):  # (M, M + d]
            emb_end = tl.position(tl.shifted(np.array(label_end, dtype=np.int64), g), "right") - 1
        else:  # the next g timestamps after M
            emb_end = m_pos + g
        for a, s, m, e in zip(starts, sizes, m_pos, emb_end, strict=True):
            a, b = int(a), int(a + s - 1)
            outside = (k < a) | (k > b)
            purged = ((k < a) & (tl.end_pos >= a)) | ((k > b) & (k <= m))
            embargoed = (k > m) & (k <= e)
            yield a, b, outside & ~purged & ~embargoed, purged, embargoed


@dataclass(frozen=True, slots=True)
class WalkForward(_Splitter):
    """Walk-forward splits over timestamps: train on a window, test on the one after it, step on.

    Sizes are either numbers of distinct timestamps (ints) or calendar durations (Polars duration
    strings like "252d", "3mo", "1y", or ``timedelta``); ``train_size``, ``test_size`` and
    ``step`` must be of one kind. Fold i's training window starts at i * ``step`` and holds
    ``train_size``; its test window holds the ``test_size`` right after it; folds continue while
    the test window starts within the data, and the last one may be cut short by the end of the
    data (the same windows as ``vec.walk_forward``'s ``train``, ``test``, ``step``). With
    durations, window i trains on [t_0 + i * step, + train_size) (calendar arithmetic, months
    scaled from t_0, not chained) and a window holding no timestamp is skipped.

    The training window is rolling (``train_size`` before the test window) or ``anchored`` (from
    the first timestamp). Purging and embargo then drop its last timestamps: those whose labels
    reach the test window, and those whose labels end within ``embargo`` before it (a gap as in
    ``TimeSeriesSplit(gap=...)``). Definitions in the module docstring.

    Args:
        n_splits: keep the last (most recent) ``n_splits`` folds; None keeps every fold that fits.
            Fewer folds than ``n_splits`` is a DataError.
        train_size: timestamps (or duration) of the training window; with ``anchored`` its minimum.
        test_size: timestamps (or duration) of each test window.
        step: distance between consecutive folds; default ``test_size`` (the test windows tile
            the data after the first training window: each timestamp there is tested once).
        anchored: expanding training window from the first timestamp (True) or rolling (False).
        label_horizon: as in ``PurgedKFold``: bars >= 0 or a duration.
        embargo: extra gap before each test window, after the purge: an int count of timestamps,
            a fraction of all timestamps in [0, 1) (rounded up), or a duration.
        timestamp_col: the timestamp column when ``X`` (or ``groups``) is a frame.
        label_end_col: column with each row's label end time, instead of ``label_horizon``.

    Example:
        >>> import polars as pl
        >>> from datetime import date, timedelta
        >>> from ml4t_vec.splits import WalkForward
        >>> days = [date(2024, 1, 1) + timedelta(days=i) for i in range(10)]
        >>> cv = WalkForward(train_size=4, test_size=2, label_horizon=1)
        >>> cv.describe(pl.Series(days)).select("fold", pl.col("^(train|test)_.*$"), "n_purged")
        shape: (3, 6)
        ┌──────┬─────────────┬────────────┬────────────┬────────────┬──────────┐
        │ fold ┆ train_start ┆ train_end  ┆ test_start ┆ test_end   ┆ n_purged │
        │ ---  ┆ ---         ┆ ---        ┆ ---        ┆ ---        ┆ ---      │
        │ i64  ┆ date        ┆ date       ┆ date       ┆ date       ┆ i64      │
        ╞══════╪═════════════╪════════════╪════════════╪════════════╪══════════╡
        │ 0    ┆ 2024-01-01  ┆ 2024-01-03 ┆ 2024-01-05 ┆ 2024-01-06 ┆ 1        │
        │ 1    ┆ 2024-01-03  ┆ 2024-01-05 ┆ 2024-01-07 ┆ 2024-01-08 ┆ 1        │
        │ 2    ┆ 2024-01-05  ┆ 2024-01-07 ┆ 2024-01-09 ┆ 2024-01-10 ┆ 1        │
        └──────┴─────────────┴────────────┴────────────┴────────────┴──────────┘
    """

    n_splits: int | None = None
    _: KW_ONLY
    train_size: int | str | timedelta
    test_size: int | str | timedelta
    step: int | str | timedelta | None = None
    anchored: bool = False
    label_horizon: int | str | timedelta = 0
    embargo: float | int | str | timedelta = 0
    timestamp_col: str = "timestamp"
    label_end_col: str | None = None

    def __post_init__(self):
        if self.n_splits is not None:
            _count("n_splits", self.n_splits, minimum=1)
        sizes = [_size("train_size", self.train_size), _size("test_size", self.test_size)]
        sizes.append(_size("step", self.step, allow_none=True))
        kinds = {isinstance(s, int) for s in sizes if s is not None}
        if len(kinds) > 1:
            raise ConfigError(
                "`train_size`, `test_size` and `step` must all be numbers of timestamps or all durations; got "
                f"train_size={self.train_size!r}, test_size={self.test_size!r}, step={self.step!r}."
            )
        if not isinstance(self.anchored, bool):
            raise ConfigError(f"`anchored` must be True or False; got {self.anchored!r}.")
        self._check_labels()

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        """The number of folds: ``n_splits`` if set, else counted on ``X`` / ``groups`` (required then)."""
        if self.n_splits is not None:
            return self.n_splits
        if X is None and groups is None:
            raise ConfigError("`X` must be given to count the folds when `n_splits` is None; got None.")
        return len(self._windows(self._timeline(X, groups)))

    def _windows(self, tl: _Timeline) -> list[tuple[int, int, int]]:
        """(train window start, test start, test end inclusive) per fold, positions on the timeline."""
        train, test = _size("train_size", self.train_size), _size("test_size", self.test_size)
        step = test if self.step is None else _size("step", self.step)
        if isinstance(train, int):  # the windows of vec.walk_forward (walkforward.fold_windows)
            out = [(a, b, c - 1) for a, b, c in rolling_windows(tl.n, train, test, step)]
        else:
            out = self._calendar_windows(tl, train, test, step)
        if self.n_splits is not None:
            if len(out) < self.n_splits:
                raise DataError(
                    f"`n_splits` must be at most the {len(out)} folds that fit in {tl.n} timestamps with train_size="
                    f"{self.train_size!r}, test_size={self.test_size!r}, step={self.step!r}; got {self.n_splits}."
                )
            out = out[len(out) - self.n_splits :]
        if not out:
            raise DataError(
                f"no walk-forward fold fits in the {tl.n} timestamps ({tl.times[0]} .. {tl.times[-1]}) with "
                f"train_size={self.train_size!r}, test_size={self.test_size!r}: make them smaller."
            )
        return out

    def _calendar_windows(self, tl: _Timeline, train, test, step) -> list[tuple[int, int, int]]:
        dtype = self._temporal(tl.times)
        by_train, by_test = _offset(train, dtype, "train_size"), _offset(test, dtype, "test_size")
        out, i, batch = [], 0, 256
        while i < _MAX_WINDOWS:
            # fold j trains from t_0 + j * step: scaling the duration (not chaining offsets) keeps
            # month ends from drifting (Jan 31 + 1mo = Feb 29, + 2mo = Mar 31)
            by = pl.Series([_offset(step, dtype, "step", j) for j in range(i, i + batch)])
            t0 = pl.Series(np.repeat(tl.phys[:1], batch), dtype=pl.Int64).cast(dtype)
            tr0 = pl.DataFrame({"t": t0, "by": by}).select(pl.col("t").dt.offset_by(pl.col("by"))).to_series()
            tr0 = tr0.to_physical().cast(pl.Int64).to_numpy()
            te0 = tl.shifted(tr0, by_train)
            te1 = tl.shifted(te0, by_test)  # exclusive
            ps, pa, pb = tl.position(tr0, "left"), tl.position(te0, "left"), tl.position(te1, "left")
            for j in range(batch):
                if te0[j] > tl.phys[-1]:
                    return out
                if pb[j] > pa[j]:
                    out.append((int(ps[j]), int(pa[j]), int(pb[j]) - 1))
            i += batch
        raise ConfigError(
            f"`step` must be large enough for at most {_MAX_WINDOWS} windows between {tl.times[0]} and "
            f"{tl.times[-1]}; got {self.step!r}."
        )

    def _folds(self, tl: _Timeline):
        g = self._embargo_count(tl)
        k = np.arange(tl.n, dtype=np.int64)
        windows = self._windows(tl)
        if isinstance(g, str):
            reach = tl.shifted(tl.end_phys, g)  # label end + embargo, per timestamp
        for s, a, b in windows:
            s = 0 if self.anchored else s
            window = (k >= s) & (k < a)
            purged = window & (tl.end_pos >= a)
            if isinstance(g, str):
                embargoed = window & ~purged & (reach >= tl.phys[a])
            else:
                embargoed = window & ~purged & (tl.end_pos + g >= a)
            yield a, b, window & ~purged & ~embargoed, purged, embargoed
