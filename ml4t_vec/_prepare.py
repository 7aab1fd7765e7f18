"""Polars -> kernel inputs. The only module that knows both Polars and NumPy.

Steps, in order (each documented in README "Data"):

1. load: DataFrame, LazyFrame or Parquet path (file or hive-partitioned directory); only the
   columns the backtest needs are collected;
2. join the optional ``signals`` frame on (timestamp, asset), refusing misaligned keys;
3. validate every price and key column in one pass; locate the first bad row only on failure;
4. sort by (asset, timestamp) unless it already is; refuse duplicate (timestamp, asset) rows;
5. evaluate every signal expression in one ``select`` over the sorted frame (so ``.over("asset")``
   windows see each asset in time order); nulls mean False;
6. place rows on a dense asset x bar grid: a zero-copy reshape for complete panels, a scatter by
   integer codes for ragged ones (a cell with no row is a bar the asset does not trade).
"""

from __future__ import annotations

import functools
import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from ml4t_vec._kernels import grid
from ml4t_vec._kernels.codes import (
    SIG_ENTRY,
    SIG_EXIT,
    SIG_SESSION_CLOSED,
    SIG_SESSION_EXIT,
    SIG_SHORT_ENTRY,
    SIG_SHORT_EXIT,
    SIG_VALID,
)
from ml4t_vec.errors import ConfigError, DataError, LookAheadWarning, did_you_mean

ASSET_CANDIDATES = ("asset", "symbol", "ticker", "product")
PRICE_COLS = ("open", "high", "low", "close")
SIGNAL_PARAMS = (
    ("entries", SIG_ENTRY),
    ("exits", SIG_EXIT),
    ("short_entries", SIG_SHORT_ENTRY),
    ("short_exits", SIG_SHORT_EXIT),
)
_PRICE_ALIAS = "__ml4t_fill_price"


@dataclass(frozen=True, slots=True)
class Prepared:
    """Kernel-ready arrays plus what the frames layer needs to decode indices.

    Arrays are (n_assets, n_bars) float64 C-order; ``sig`` is (n_cols, n_bars) uint8 with
    ``SIG_VALID`` set where the asset has a row. For a complete panel sorted by (asset,
    timestamp) the price arrays are views of the input frame's memory (no copy).
    """

    timestamps: pl.Series  # (n_bars,) sorted unique timestamps, the input dtype
    symbols: pl.Series  # (n_assets,) sorted asset names, the input dtype
    asset_col: str
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    fill_price: np.ndarray
    sig: np.ndarray
    col_asset: np.ndarray  # (n_cols,) int64
    dense: bool
    rule_values: dict  # rule name -> (n_assets, n_bars) float64 per-bar rule values (NaN = no value)
    # kept only with ``prepare(..., keep_frame=True)`` (sweeps evaluate more signals later):
    frame: pl.DataFrame | None = None  # the validated frame sorted by (asset, timestamp)
    starts: np.ndarray | None = None  # row offset of each asset's block (n_assets + 1)
    bar: np.ndarray | None = None  # bar index of each row on the time axis (ragged panels; None if dense)
    session: tuple = ()  # (expression, bit) session flags packed with every signal

    @property
    def n_bars(self) -> int:
        return self.timestamps.len()

    @property
    def n_assets(self) -> int:
        return self.symbols.len()


# ---------------------------------------------------------------------------------------------
# 1. load
# ---------------------------------------------------------------------------------------------
def _as_lazy(prices) -> pl.LazyFrame:
    if isinstance(prices, pl.DataFrame):
        return prices.lazy()
    if isinstance(prices, pl.LazyFrame):
        return prices
    if isinstance(prices, (str, Path)):
        path = Path(prices)
        if not path.exists():
            raise DataError(f"`prices` path does not exist: {str(path)!r}.")
        if path.is_dir():
            return pl.scan_parquet(path / "**/*.parquet", hive_partitioning=True)
        return pl.scan_parquet(path)
    raise DataError(
        "`prices` must be a polars DataFrame, LazyFrame or a path to Parquet; "
        f"got {type(prices).__name__}. Convert pandas with pl.from_pandas(df)."
    )


def _resolve_asset_col(columns: list[str], asset_col: str | None) -> str:
    if asset_col is not None:
        if asset_col not in columns:
            raise DataError(
                f"`asset_col` {asset_col!r} is not a column of `prices` (columns: {columns})."
                f"{did_you_mean(asset_col, columns)}"
            )
        return asset_col
    for c in ASSET_CANDIDATES:
        if c in columns:
            return c
    raise DataError(
        f"`prices` has no asset column: expected one of {list(ASSET_CANDIDATES)} or pass asset_col=; "
        f"columns are {columns}."
    )


def _require(columns: list[str], needed, frame: str = "prices") -> None:
    for c in needed:
        if c not in columns:
            raise DataError(
                f"required column {c!r} is missing from `{frame}` (columns: {columns}).{did_you_mean(c, columns)}"
            )


def _as_expr(name: str, value) -> pl.Expr | None:
    if value is None:
        return None
    if isinstance(value, str):
        return pl.col(value)
    if isinstance(value, pl.Expr):
        return value
    if isinstance(value, pl.Series):
        raise DataError(
            f"`{name}` must be a polars expression or a column name, not a Series: add the Series as a "
            "column of `prices` (or of `signals=`) and pass its name."
        )
    raise DataError(f"`{name}` must be a polars expression or a column name; got {type(value).__name__}.")


def _per_asset_expr(asset_col: str, mapping: dict) -> pl.Expr:
    """A per-asset rule value as an expression (assets not in ``mapping`` get null: no level)."""
    return (
        pl.col(asset_col)
        .cast(pl.String)
        .replace_strict({str(k): v for k, v in mapping.items()}, default=None, return_dtype=pl.Float64)
    )


def _check_assets_known(name: str, mapping: dict, symbols: pl.Series) -> None:
    known = set(symbols.cast(pl.String).to_list())
    unknown = [k for k in mapping if str(k) not in known]
    if unknown:
        raise DataError(
            f"`{name}` names assets that are not in the data: {unknown[:5]!r}."
            f"{did_you_mean(str(unknown[0]), sorted(known))} Assets look like {sorted(known)[:5]!r}."
        )


def _check_expr_columns(name: str, expr: pl.Expr, columns: list[str]) -> None:
    for root in expr.meta.root_names():
        if root not in columns:
            raise DataError(
                f"`{name}` uses column {root!r}, which is not in `prices` or `signals` "
                f"(columns: {columns}).{did_you_mean(root, columns)}"
            )


# ---------------------------------------------------------------------------------------------
# 2. signals frame
# ---------------------------------------------------------------------------------------------
def _join_signals(lf: pl.LazyFrame, signals, ts_col: str, asset_col: str) -> pl.LazyFrame:
    sig = _as_lazy(signals)
    s_schema = sig.collect_schema()
    p_schema = lf.collect_schema()
    _require(list(s_schema.names()), (ts_col, asset_col), frame="signals")
    for k in (ts_col, asset_col):
        if s_schema[k] != p_schema[k]:
            raise DataError(
                f"`signals` key column {k!r} has dtype {s_schema[k]}, `prices` has {p_schema[k]}; "
                "cast one to the other (time zones and time units must match too)."
            )
    clash = [c for c in s_schema.names() if c in p_schema.names() and c not in (ts_col, asset_col)]
    if clash:
        raise DataError(f"`signals` columns {clash} also exist in `prices`; rename them (ambiguous which to use).")
    keys = [ts_col, asset_col]
    sdf = _collect(sig)
    dup = sdf.select(keys).is_duplicated()
    if dup.any():
        row = sdf.filter(dup).row(0, named=True)
        raise DataError(
            f"`signals` has duplicate ({ts_col}, {asset_col}) rows, first at {asset_col}={row[asset_col]!r}, "
            f"{ts_col}={row[ts_col]}; keep one row per key."
        )
    orphans = _collect(sdf.lazy().join(lf.select(keys), on=keys, how="anti"))
    if orphans.height:
        row = orphans.row(0, named=True)
        raise DataError(
            f"`signals` is misaligned with `prices`: {orphans.height} of its rows have no price row, first "
            f"{asset_col}={row[asset_col]!r}, {ts_col}={row[ts_col]}. Align the keys (same timestamps, same "
            "asset names); price rows without a signal row are allowed (their signals are null = False)."
        )
    return lf.join(sdf.lazy(), on=keys, how="left", maintain_order="left")


# ---------------------------------------------------------------------------------------------
# 3. validation
# ---------------------------------------------------------------------------------------------
def _where(df: pl.DataFrame, mask: pl.Expr, ts_col: str, asset_col: str) -> str:
    bad = df.filter(mask)
    row = bad.row(0, named=True)
    return f"{bad.height} row(s), first at {asset_col}={row[asset_col]!r}, {ts_col}={row[ts_col]}"


def _check_schema(df: pl.DataFrame, ts_col: str, asset_col: str, extra_price: str | None) -> None:
    schema = df.schema
    if not isinstance(schema[ts_col], (pl.Date, pl.Datetime)):
        raise DataError(
            f"column {ts_col!r} must be Date or Datetime; got {schema[ts_col]}. "
            f"Parse it first, e.g. pl.col({ts_col!r}).str.to_datetime()."
        )
    price_cols = list(PRICE_COLS) + ([extra_price] if extra_price else [])
    for c in price_cols:
        if not schema[c].is_numeric():
            raise DataError(f"price column {c!r} must be numeric; got {schema[c]}.")


def _label(c: str) -> str:
    return "the `price` expression" if c == _PRICE_ALIAS else f"column {c!r}"


def _explain_bad_rows(df: pl.DataFrame, ts_col: str, asset_col: str, extra_price: str | None) -> None:
    """Raise the DataError that names the first problem (column, symbol, timestamp).

    Only called when the cheap checks found something: it re-scans with Polars for the message.
    """
    price_cols = list(PRICE_COLS) + ([extra_price] if extra_price else [])
    checks = {
        f"null:{ts_col}": pl.col(ts_col).null_count(),
        f"null:{asset_col}": pl.col(asset_col).null_count(),
    }
    for c in price_cols:
        col = pl.col(c).cast(pl.Float64)
        checks[f"null:{c}"] = col.null_count()
        checks[f"bad:{c}"] = (~col.is_finite() | (col <= 0)).sum()
    checks["hl"] = (pl.col("high") < pl.col("low")).sum()
    for c in ("open", "close"):
        checks[f"range:{c}"] = ((pl.col(c) > pl.col("high")) | (pl.col(c) < pl.col("low"))).sum()
    res = df.select(**checks).row(0, named=True)
    for key, n in res.items():
        if not n:
            continue
        kind, _, c = key.partition(":")
        if kind == "null":
            where = (
                f"first at row {df.get_column(c).is_null().arg_true()[0]}"
                if c in (ts_col, asset_col)
                else _where(df, pl.col(c).is_null(), ts_col, asset_col)
            )
            raise DataError(f"{_label(c)} has {n} null value(s): {where}. Fill or drop them before backtesting.")
        if kind == "bad":
            col = pl.col(c).cast(pl.Float64)
            where = _where(df, ~col.is_finite() | (col <= 0), ts_col, asset_col)
            raise DataError(
                f"{_label(c)} must hold finite prices > 0; found NaN, inf, zero or negative values in {where}."
            )
        if kind == "hl":
            where = _where(df, pl.col("high") < pl.col("low"), ts_col, asset_col)
            raise DataError(f"'high' is below 'low' in {where}. Fix the bars (swap or drop them).")
        if kind == "range":
            where = _where(df, (pl.col(c) > pl.col("high")) | (pl.col(c) < pl.col("low")), ts_col, asset_col)
            raise DataError(
                f"column {c!r} lies outside [low, high] in {where}. Bars must satisfy low <= open, close <= high; "
                "repair the data (e.g. clip high/low to include open and close) before backtesting."
            )


# ---------------------------------------------------------------------------------------------
# 4. structure: blocks per asset, sorted, duplicates
# ---------------------------------------------------------------------------------------------
def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def _float_array(df: pl.DataFrame, col: str) -> np.ndarray:
    """Contiguous float64 view of a column (a copy only if it must be cast or rechunked)."""
    return _readonly(np.ascontiguousarray(df.get_column(col).cast(pl.Float64).rechunk().to_numpy()))


def _ts_int(s: pl.Series) -> np.ndarray:
    return np.ascontiguousarray(s.to_physical().cast(pl.Int64).to_numpy())


def _blocks(df: pl.DataFrame, ts_col: str, asset_col: str):
    """Run starts of the asset column and a scan of the timestamps inside each run.

    Returns (starts, run_values, ts_int, status, offending_row, dense) or None when the assets
    are not in sorted contiguous blocks (the caller sorts and tries again).
    """
    a = df.get_column(asset_col)
    if df.height == 0:
        raise DataError("`prices` has no rows.")
    change = a.ne_missing(a.shift(1))
    starts_rows = change.arg_true().cast(pl.Int64).to_numpy()
    run_values = a.gather(starts_rows)
    if run_values.n_unique() != run_values.len() or not run_values.is_sorted():
        return None
    starts = np.append(starts_rows, df.height).astype(np.int64)
    ts = _ts_int(df.get_column(ts_col))
    status, row, dense = grid.scan_blocks_nb(ts, starts)
    if status == grid.BLOCKS_UNSORTED:
        return None
    return starts, run_values, ts, status, row, dense


def _structure(df: pl.DataFrame, ts_col: str, asset_col: str):
    got = _blocks(df, ts_col, asset_col)
    if got is None:  # unsorted input: sort it (documented), don't fail
        df = df.sort([asset_col, ts_col])  # unstable is fine: duplicate keys are an error anyway
        got = _blocks(df, ts_col, asset_col)
    starts, run_values, ts, status, row, dense = got
    if status == grid.BLOCKS_DUPLICATE:
        r = df.row(int(row), named=True)
        raise DataError(
            f"duplicate ({ts_col}, {asset_col}) rows: {asset_col}={r[asset_col]!r} has more than one row at "
            f"{ts_col}={r[ts_col]}. Keep one row per asset and timestamp (e.g. df.unique(subset=[{ts_col!r}, "
            f"{asset_col!r}], keep='last'))."
        )
    return df, starts, run_values, ts, dense


# ---------------------------------------------------------------------------------------------
# 5. signals
# ---------------------------------------------------------------------------------------------
def _session_flags(ts_col: str, asset_col: str, session_exit) -> list[tuple[pl.Expr, int]]:
    """Rows at/after the session exit time, and each (asset, day)'s first such row (rows sorted
    by asset, timestamp)."""
    if session_exit is None:
        return []
    ts = pl.col(ts_col)
    after = ts.dt.time() >= session_exit
    first = after & ~after.shift(1, fill_value=False).over(pl.col(asset_col), ts.dt.date())
    return [(after, int(SIG_SESSION_CLOSED)), (first, int(SIG_SESSION_EXIT))]


def _check_boolean(df: pl.DataFrame, exprs: dict[str, pl.Expr], where: str = "") -> None:
    """Every signal expression evaluates to Boolean (checked on the plan, nothing computed)."""
    if not exprs:
        return
    try:
        dtypes = df.lazy().select([e.alias(f"__sig_{k}") for k, e in exprs.items()]).collect_schema().dtypes()
    except pl.exceptions.PolarsError as e:
        raise DataError(f"a signal expression{where} is invalid: {e}") from None
    for (name, e), dtype in zip(exprs.items(), dtypes, strict=True):
        if dtype != pl.Boolean:
            raise DataError(
                f"`{name}`{where} must evaluate to Boolean; got {dtype} from {e}. Compare it with something, "
                "e.g. pl.col('pred') > 0.6."
            )


def _collect(lf: pl.LazyFrame) -> pl.DataFrame:
    """Collect with Polars' in-memory engine. Polars 2.1's default ("auto") runs some plans on
    the streaming engine, which evaluates ``when(<condition using .over()>)`` wrongly: rows of
    one asset get another's values, differently on each run (tests/property/test_sweep.py pins
    it with a crossover signal). The in-memory engine gives the eager results."""
    return lf.collect(engine="in-memory")


def _packed_bits(exprs: dict[str, pl.Expr], flags_extra=()) -> pl.Expr:
    """One uint8 per row: ``SIG_VALID`` plus each signal's bit where it is True (null = False:
    ``when`` treats a null condition as not met) plus the (expression, bit) ``flags_extra``."""
    flags = dict(SIGNAL_PARAMS)
    packed = _u8(int(SIG_VALID))
    for e, bit in [*((e, int(flags[name])) for name, e in exprs.items()), *flags_extra]:
        packed = packed + pl.when(e).then(_u8(bit)).otherwise(_u8(0))
    return packed


@functools.cache
def _u8(v: int) -> pl.Expr:
    """A UInt8 literal, built once (a sweep packs thousands of sets' signals)."""
    return pl.lit(v, dtype=pl.UInt8)


def _signal_bits(df: pl.DataFrame, exprs: dict[str, pl.Expr], flags_extra=()) -> np.ndarray:
    """Evaluate the signal expressions in one pass and pack them, with ``SIG_VALID`` and the
    session flags ``flags_extra`` ((expression, bit) pairs), into one uint8 per row. A null
    signal is False (``when`` treats a null condition as not met)."""
    _check_boolean(df, exprs)
    packed = _packed_bits(exprs, flags_extra)
    try:
        bits = df.select(packed.alias("__bits")).to_series()
    except pl.exceptions.PolarsError as e:
        raise DataError(f"a signal expression failed to evaluate: {e}") from None
    if bits.len() == 1:  # only literals / aggregates: one value for every row
        return np.full(df.height, bits[0], dtype=np.uint8)
    if bits.len() != df.height:
        raise DataError(
            f"signal expressions produced {bits.len()} values for {df.height} rows; they must give one per row."
        )
    return np.ascontiguousarray(bits.to_numpy())


# per-bar rule values that are prices (must be > 0) or rankings (any value); the rest are fractions
_PRICE_RULES = ("stop_loss_price", "take_profit_price")
_FREE_RULES = ("priority",)


def _rule_values(df: pl.DataFrame, rules: dict[str, pl.Expr], ts_col: str, asset_col: str) -> dict:
    """Per-row rule values from expressions: fractions >= 0, price levels > 0, priorities any
    number; null / NaN = no value."""
    if not rules:
        return {}
    try:
        out = df.select([e.cast(pl.Float64).alias(k) for k, e in rules.items()])
    except pl.exceptions.PolarsError as e:
        raise DataError(f"a position-rule expression failed to evaluate: {e}") from None
    values = {}
    for k in rules:
        col = out.get_column(k)
        if col.len() == 1:
            col = pl.repeat(col[0], df.height, dtype=pl.Float64, eager=True)
        if k in _FREE_RULES:
            pass
        elif (col <= 0).any() if k in _PRICE_RULES else (col < 0).any():
            bad = pl.col("__rule") <= 0 if k in _PRICE_RULES else pl.col("__rule") < 0
            where = _where(df.with_columns(col.alias("__rule")), bad, ts_col, asset_col)
            what = ("> 0 (a price level); found values <= 0" if k in _PRICE_RULES
                    else ">= 0 (a fraction); found negative values")  # fmt: skip
            raise DataError(f"`{k}` must be {what} in {where}.")
        values[k] = np.ascontiguousarray(col.fill_null(np.nan).to_numpy())
    return values


# ---------------------------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------------------------
def prepare(
    prices,
    *,
    signals=None,
    entries=None,
    exits=None,
    short_entries=None,
    short_exits=None,
    fill: str = "next_open",
    price=None,
    asset_col: str | None = None,
    timestamp_col: str = "timestamp",
    rule_exprs: dict | None = None,
    session_exit=None,
    keep_frame: bool = False,
    extra_exprs: dict | None = None,
) -> Prepared:
    """Validate the long frame and signals and build the kernel inputs (see module doc)."""
    lf = _as_lazy(prices)
    columns = list(lf.collect_schema().names())
    asset_col = _resolve_asset_col(columns, asset_col)
    _require(columns, (timestamp_col, *PRICE_COLS))
    if signals is not None:
        lf = _join_signals(lf, signals, timestamp_col, asset_col)
        columns = list(lf.collect_schema().names())

    given = {"entries": entries, "exits": exits, "short_entries": short_entries, "short_exits": short_exits}
    exprs = {k: e for k, v in given.items() if (e := _as_expr(k, v)) is not None}
    price_expr = _as_expr("price", price)
    per_asset = {k: v for k, v in (rule_exprs or {}).items() if isinstance(v, dict)}
    rules = {
        k: _per_asset_expr(asset_col, v) if k in per_asset else _as_expr(k, v) for k, v in (rule_exprs or {}).items()
    }
    for k, e in [*exprs.items(), *rules.items()]:
        _check_expr_columns(k, e, columns)
    if price_expr is not None:
        _check_expr_columns("price", price_expr, columns)

    needed = [timestamp_col, asset_col, *PRICE_COLS]
    for e in [*exprs.values(), *rules.values(), *([price_expr] if price_expr is not None else [])]:
        needed += [r for r in e.meta.root_names() if r not in needed]
    for name, e in (extra_exprs or {}).items():  # kept for signals evaluated later (sweeps)
        _check_expr_columns(name, e, columns)
        needed += [r for r in e.meta.root_names() if r not in needed]
    if isinstance(prices, pl.DataFrame) and signals is None:
        df = prices.select(needed)  # no copy: columns are shared
    else:
        df = _collect(lf.select(needed))

    if price_expr is not None:
        try:
            df = df.with_columns(price_expr.cast(pl.Float64).alias(_PRICE_ALIAS))
        except pl.exceptions.PolarsError as e:
            raise DataError(f"`price` failed to evaluate: {e}") from None
    extra = _PRICE_ALIAS if price_expr is not None else None
    _check_schema(df, timestamp_col, asset_col, extra)
    key_and_prices = [timestamp_col, asset_col, *PRICE_COLS, *([extra] if extra else [])]
    if sum(df.select(pl.col(key_and_prices).null_count()).row(0)):  # O(1): Arrow keeps null counts
        _explain_bad_rows(df, timestamp_col, asset_col, extra)
    df, starts, symbols, ts, dense = _structure(df, timestamp_col, asset_col)
    for k, mapping in per_asset.items():
        _check_assets_known(k, mapping, symbols)
    if fill == "same_close":
        warnings.warn(
            "fill='same_close' fills a signal at the close of the bar it is computed on: this looks ahead "
            "unless the signal only uses data up to the previous bar (lag it with .shift(1).over(asset)).",
            LookAheadWarning,
            stacklevel=3,
        )
    if session_exit is not None and not isinstance(df.schema[timestamp_col], pl.Datetime):
        raise ConfigError(
            f"`session_exit` needs intraday Datetime timestamps; {timestamp_col!r} is {df.schema[timestamp_col]}."
        )
    session = tuple(_session_flags(timestamp_col, asset_col, session_exit))
    bits = _signal_bits(df, exprs, session)
    rule_rows = _rule_values(df, rules, timestamp_col, asset_col)

    n_assets = starts.shape[0] - 1
    src = {c: _float_array(df, c) for c in PRICE_COLS}
    src["fill"] = _float_array(df, extra) if extra else src["open" if fill == "next_open" else "close"]
    if (
        grid.first_bad_bar_nb(src["open"], src["high"], src["low"], src["close"], src["fill"] if extra else np.empty(0))
        >= 0
    ):
        _explain_bad_rows(df, timestamp_col, asset_col, extra)
    if dense:
        n_bars = int(starts[1] - starts[0])
        timestamps = df.get_column(timestamp_col).slice(0, n_bars)
        arrays = {k: np.ascontiguousarray(v).reshape(n_assets, n_bars) for k, v in src.items()}
        sig = bits.reshape(n_assets, n_bars)
        rule_grid = {k: v.reshape(n_assets, n_bars) for k, v in rule_rows.items()}
    else:
        union = np.unique(ts)
        n_bars = union.shape[0]
        bar = grid.bar_index_nb(ts, starts, union)
        ts_dtype = df.schema[timestamp_col]
        phys = pl.Int32 if ts_dtype == pl.Date else pl.Int64
        timestamps = pl.Series(timestamp_col, union).cast(phys).cast(ts_dtype)
        arrays = {}
        for k, v in src.items():
            if k == "fill" and price_expr is None:
                arrays[k] = arrays["open" if fill == "next_open" else "close"]
            else:
                arrays[k] = grid.scatter_nb(np.ascontiguousarray(v), starts, bar, n_bars, np.nan)
        sig = grid.scatter_sig_nb(bits, starts, bar, n_bars)
        rule_grid = {k: grid.scatter_nb(v, starts, bar, n_bars, np.nan) for k, v in rule_rows.items()}
    # Kernels never write their inputs. Zero-copy views of the frame are read-only and numba types
    # read-only and writable arrays differently: make every input read-only so each kernel has
    # one signature (one cold compile, not two; tests/contracts/test_no_recompile.py).
    arrays = {k: _readonly(v) for k, v in arrays.items()}
    sig = _readonly(np.ascontiguousarray(sig))
    return Prepared(
        timestamps=timestamps,
        symbols=symbols.rename(asset_col),
        asset_col=asset_col,
        open=arrays["open"],
        high=arrays["high"],
        low=arrays["low"],
        close=arrays["close"],
        fill_price=arrays["fill"],
        sig=sig,
        col_asset=np.arange(n_assets, dtype=np.int64),
        dense=bool(dense),
        rule_values={k: _readonly(v) for k, v in rule_grid.items()},
        frame=df if keep_frame else None,
        starts=starts if keep_frame else None,
        bar=None if dense or not keep_frame else bar,
        session=session,
    )


_WINDOW = "__ml4t_w"
# plan nodes that select columns by pattern, type or position (an added column would change them)
_SELECTS = ('"Wildcard"', '"Selector"', '"Nth"', '"Exclude"', '"DtypeColumn"', '"IndexColumn"', '"Columns"',
            '{"Column":"^')  # fmt: skip


def _shared_windows(exprs: list[pl.Expr]) -> tuple[list[pl.Expr], list[pl.Expr]]:
    """Common-subexpression elimination for window functions across many expressions.

    Polars' in-memory engine does not share a window (``rolling_mean(n).over(asset)``) between
    expressions, so a sweep would compute each set's moving averages again. This walks each
    expression's serialized plan, replaces every outermost ``over`` node (row-aligned mapping)
    with a column reference, and returns (the distinct windows, aliased; the rewritten
    expressions). A window evaluated alone in the same select gives the same rows it gives
    inside the larger expression. An expression that cannot be serialized (a Python function)
    is kept as it is. Returns ([], exprs) when nothing is shared."""
    nodes: dict[str, str] = {}

    def walk(node):
        if isinstance(node, dict):
            over = node.get("Over")
            if len(node) == 1 and isinstance(over, dict) and over.get("mapping") == "GroupsToRows":
                key = json.dumps(node, sort_keys=True)
                return {"Column": nodes.setdefault(key, f"{_WINDOW}{len(nodes)}")}
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    out = []
    for e in exprs:
        try:
            text = e.meta.serialize(format="json")
            if any(t in text for t in _SELECTS):  # would also see the added columns: no rewrite
                return [], exprs
            tree = json.loads(text)
            out.append(pl.Expr.deserialize(io.StringIO(json.dumps(walk(tree))), format="json"))
        except Exception:  # not serializable (Python UDF) or an unknown plan: evaluate it as it is
            out.append(e)
    if len(nodes) == 0:
        return [], exprs
    windows = [pl.Expr.deserialize(io.StringIO(k), format="json").alias(name) for k, name in nodes.items()]
    return windows, out


def signal_grid(prep: Prepared, combos: list[dict], labels: list[str] | None = None) -> np.ndarray:
    """Signals of many parameter combinations on a frame kept by ``prepare(keep_frame=True)``.

    ``combos``: one dict per combination, signal name -> ``pl.Expr`` (or column name). All are
    evaluated in one Polars pass (common subexpressions such as a shared rolling mean are computed
    once) and packed like ``backtest``'s signals. Returns (len(combos) * n_assets, n_bars) uint8,
    combination-major, read-only. A failing combination raises ``DataError`` naming it by its
    entry in ``labels`` (default: its position in ``combos``).
    """
    labels = labels if labels is not None else [str(i) for i in range(len(combos))]
    df = prep.frame
    n_assets, n_bars = prep.n_assets, prep.n_bars
    exprs = [{k: _as_expr(k, v) for k, v in c.items() if v is not None} for c in combos]
    _check_boolean(df, exprs[0], " (first combination)")  # same shape for every set: check one plan
    packed = [_packed_bits(e, prep.session).alias(f"__c{i}") for i, e in enumerate(exprs)]
    try:
        windows, rewritten = _shared_windows(packed)
        if windows:  # each distinct window once, then the cheap row-wise rest of every set
            wdf = _collect(df.lazy().select(windows))
            out = _collect(df.hstack(wdf.get_columns()).lazy().select(rewritten))
        else:
            out = _collect(df.lazy().select(packed))
    except pl.exceptions.PolarsError as e:
        for i, x in enumerate(packed):  # find the combination that fails
            try:
                df.head(2).select(x)
            except pl.exceptions.PolarsError:
                raise DataError(f"the signal expressions of combination {labels[i]} failed to evaluate: {e}") from None
        raise DataError(f"signal expressions failed to evaluate: {e}") from None
    sig = np.empty((len(combos) * n_assets, n_bars), dtype=np.uint8)
    for i in range(len(combos)):
        bits = out.get_column(f"__c{i}")
        if bits.len() != df.height:
            raise DataError(
                f"the signal expressions of combination {labels[i]} gave {bits.len()} values for {df.height} rows."
            )
        b = np.ascontiguousarray(bits.to_numpy())
        block = sig[i * n_assets : (i + 1) * n_assets]
        if prep.bar is None:
            block[:] = b.reshape(n_assets, n_bars)
        else:
            block[:] = grid.scatter_sig_nb(b, prep.starts, prep.bar, n_bars)
    return _readonly(sig)
