"""Polars -> kernel inputs. The only module that knows both Polars and NumPy.

Steps, in order (each documented in README "Data"):

1. load: DataFrame, LazyFrame or Parquet path (file or hive-partitioned directory); only the
   columns the backtest needs are collected;
2. join the optional ``signals`` frame on (timestamp, asset), refusing misaligned keys;
3. validate every price and key column in one pass; locate the first bad row only on failure;
   NaN in other columns the expressions read counts as missing (null), with a ``DataWarning``;
4. find where every row sits on the asset x bar grid (``_layout.place``): any row order in which
   each asset's rows are in time order is used as it is. Otherwise, if every expression reads
   each row alone (``_order_free``: columns, literals, arithmetic, comparisons, when/then...)
   the frame is still used as it is and its rows are scattered to their cells; else it is put
   in (asset, timestamp) order. Duplicate (timestamp, asset) rows are refused;
5. evaluate ``price=`` and every signal expression over that frame (so ``.over("asset")``
   windows see each asset in time order); nulls mean False;
6. hand the kernels the price columns in place for complete panels (asset-major or
   timestamp-major), a grid for ragged ones (a cell with no row is a bar the asset does not
   trade), and signal bits and rule values on the (n_assets, n_bars) grid.
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

from ml4t_vec._kernels import grid, kernel_array
from ml4t_vec._kernels.codes import (
    SIG_ENTRY,
    SIG_EXIT,
    SIG_SESSION_CLOSED,
    SIG_SESSION_EXIT,
    SIG_SHORT_ENTRY,
    SIG_SHORT_EXIT,
    SIG_VALID,
)
from ml4t_vec._kernels.simulate import Prices
from ml4t_vec._layout import Placement, place
from ml4t_vec.config import expr_key
from ml4t_vec.errors import ConfigError, DataError, DataWarning, LookAheadWarning, did_you_mean
from ml4t_vec.impact import Precomputed, SquareRootImpact

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

    ``prices`` are the price columns as the kernels read them (``simulate.Prices``): for a
    complete panel, views of the input frame's memory in its own row order (no copy); ``sig``
    is (n_cols, n_bars) uint8 with ``SIG_VALID`` set where the asset has a row.
    """

    timestamps: pl.Series  # (n_bars,) sorted unique timestamps, the input dtype
    symbols: pl.Series  # (n_assets,) asset names in asset order, the input dtype
    asset_col: str
    prices: Prices
    sig: np.ndarray
    col_asset: np.ndarray  # (n_cols,) int64
    placement: Placement | None  # where each row of ``frame`` sits on the grid (``keep_frame=True`` only)
    rule_values: dict  # rule name -> (n_assets, n_bars) float64 per-bar rule values (NaN = no value)
    frame: pl.DataFrame | None = None  # the validated frame (``keep_frame=True``: sweeps evaluate more signals)
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
def _parquet_error(name: str, path: Path, what: str) -> DataError:
    return DataError(
        f"`{name}` path {str(path)!r} {what}. Pass a Parquet file, a directory of Parquet files (hive "
        "partitioning allowed), or a polars DataFrame / LazyFrame (e.g. pl.scan_csv(path) for a CSV file)."
    )


def _magic(name: str, path: Path) -> bytes:
    """First and last 4 bytes of a file (b"PAR1" twice for Parquet)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
            f.seek(-4, 2)
            tail = f.read(4)
    except OSError as e:
        if path.stat().st_size < 8:  # too short to seek back: not Parquet
            return b""
        raise DataError(f"`{name}` path {str(path)!r} cannot be read: {e}.") from None
    return head if head == tail else b""


def _schema_names(lf: pl.LazyFrame, name: str) -> list[str]:
    try:
        return list(lf.collect_schema().names())
    except (pl.exceptions.PolarsError, OSError) as e:
        raise DataError(f"`{name}` could not be read: {type(e).__name__}: {e}") from None


def _as_lazy(value, name: str) -> pl.LazyFrame:
    """``value`` (``prices`` or ``signals``) as a LazyFrame; a path must hold Parquet."""
    if isinstance(value, pl.DataFrame):
        return value.lazy()
    if isinstance(value, pl.LazyFrame):
        return value
    if isinstance(value, (str, Path)):
        path = Path(value)
        if not path.exists():
            raise DataError(f"`{name}` path does not exist: {str(path)!r}.")
        files = sorted(path.rglob("*.parquet")) if path.is_dir() else [path]
        if not files:
            raise _parquet_error(name, path, "is a directory with no .parquet files")
        for f in files:
            if _magic(name, f) != b"PAR1":
                where = (
                    "is not a Parquet file" if f == path else f"holds {str(f.relative_to(path))!r}, not a Parquet file"
                )
                raise _parquet_error(name, path, where)
        if path.is_dir():
            return pl.scan_parquet(path / "**/*.parquet", hive_partitioning=True)
        return pl.scan_parquet(path)
    kind = type(value).__module__.split(".")[0] + "." + type(value).__name__
    raise DataError(
        f"`{name}` must be a polars DataFrame, LazyFrame or a path to Parquet; got {kind}. Convert pandas with "
        "pl.from_pandas(df), a dict of columns with pl.DataFrame(d)."
    )


def _read(lf: pl.LazyFrame, name: str) -> pl.DataFrame:
    """Collect ``lf``; a file that fails to read is a DataError naming the argument."""
    try:
        return _collect(lf)
    except (pl.exceptions.PolarsError, OSError) as e:
        raise DataError(f"`{name}` could not be read: {type(e).__name__}: {e}") from None


def _load(prices, lf: pl.LazyFrame, needed: list[str], name: str) -> pl.DataFrame:
    """The ``needed`` columns as a DataFrame (an in-memory frame: its own columns, no copy)."""
    if isinstance(prices, pl.DataFrame) and name == "prices":
        return prices.select(needed)
    return _read(lf.select(needed), name)


def _close_only(columns: list[str]) -> list[str]:
    """The price columns to copy from ``close``: all three of open/high/low when none is given (a
    close-only frame: every bar is one price), else none (a partial set is an error)."""
    missing = [c for c in PRICE_COLS[:3] if c not in columns]
    if missing and len(missing) < 3:
        raise DataError(
            f"`prices` is missing {missing} (it has {[c for c in PRICE_COLS[:3] if c in columns]}): give all of open, "
            f"high, low and close, or only close (then every bar is one price: open = high = low = close). "
            f"Columns: {columns}.{did_you_mean(missing[0], columns)}"
        )
    return missing


def _resolve_keys(columns: list[str], asset_col, ts_col) -> str:
    """The asset column (given or detected); both key columns checked. Returns the asset column."""
    if not isinstance(ts_col, str):
        raise ConfigError(f"`timestamp_col` must be a column name; got {ts_col!r}.")
    if ts_col not in columns:
        raise DataError(
            f"`timestamp_col` {ts_col!r} is not a column of `prices` (columns: {columns})."
            f"{did_you_mean(ts_col, columns)}"
        )
    if ts_col in PRICE_COLS:
        raise ConfigError(f"`timestamp_col` must name the timestamp column, not the price column {ts_col!r}.")
    if asset_col is not None and not isinstance(asset_col, str):
        raise ConfigError(f"`asset_col` must be a column name; got {asset_col!r}.")
    if asset_col in (*PRICE_COLS, ts_col):
        raise ConfigError(
            f"`asset_col` must name the asset (symbol) column, not {asset_col!r} (a price or the timestamp column)."
        )
    return _resolve_asset_col(columns, asset_col)


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
    missing = [c for c in needed if c not in columns]
    if not missing:
        return
    if "close" in missing:  # name every missing price column (often all four, capitalised)
        missing = list(dict.fromkeys([*(c for c in PRICE_COLS if c not in columns), *missing]))
    hints = [f"{close!r} (for {c!r})" for c in missing if (close := _closest(c, columns))]
    hint = f" Did you mean {', '.join(hints)}?" if hints else ""
    what = f"column {missing[0]!r} is" if len(missing) == 1 else f"columns {missing} are"
    raise DataError(f"required {what} missing from `{frame}` (columns: {columns}).{hint}")


def _closest(name: str, options: list[str]) -> str | None:
    same = [o for o in options if o.lower() == name.lower()]
    if same:
        return same[0]
    hint = did_you_mean(name, options)
    return hint.split("'")[1] if hint else None


def _impact_expr(model: SquareRootImpact, columns: list[str], asset_col: str, ts_col: str) -> pl.Expr:
    """The market impact's coefficient per row (``SquareRootImpact.coefficient``); its default
    inputs need a ``close`` / ``volume`` column."""
    for col in model.columns():
        if col not in columns:
            raise DataError(
                f"`impact`'s default {'adv' if col == 'volume' else 'sigma'} reads the column {col!r}, which is not "
                f"in `prices`; add it, or pass SquareRootImpact({'adv' if col == 'volume' else 'sigma'}=...) as an "
                "expression."
            )
    return model.coefficient(asset_col, ts_col)


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
    raise ConfigError(f"`{name}` must be a polars expression or a column name; got {type(value).__name__} {value!r}.")


# plan nodes that read each row alone, whatever the other rows and their order
_ROW_FUNCTIONS = {"Abs", "FillNull", "Negate", "ReplaceStrict", "Replace"}
_ROW_BOOLEAN = {"IsNull", "IsNotNull", "IsNan", "IsNotNan", "Not", "IsFinite", "IsInfinite", "AnyHorizontal",
                "AllHorizontal", "IsBetween", "IsIn"}  # fmt: skip


def _order_free(expr: pl.Expr) -> bool:
    """Does ``expr`` give each row a value from that row alone (columns, scalar literals,
    arithmetic, comparisons, casts, when/then, null and NaN tests, ...)? Then the row order of
    the frame does not matter and an unsorted frame need not be put in time order. Walks the
    serialized plan against an allow-list: anything else (windows, shifts, aggregations, Python
    functions, a plan this Polars serializes differently) counts as needing the order."""
    try:
        tree = json.loads(expr.meta.serialize(format="json"))
    except Exception:  # not serializable (a Python function)
        return False

    def ok(node) -> bool:
        if not isinstance(node, dict) or len(node) != 1:
            return False
        ((kind, body),) = node.items()
        if kind == "Column":
            return isinstance(body, str)
        if kind == "Literal":
            return isinstance(body, dict) and set(body) <= {"Dyn", "Scalar"}
        if kind == "BinaryExpr":
            return ok(body["left"]) and ok(body["right"])
        if kind == "Cast":
            return ok(body["expr"])
        if kind == "Alias":
            return ok(body[0])
        if kind == "Ternary":
            return ok(body["predicate"]) and ok(body["truthy"]) and ok(body["falsy"])
        if kind == "Function":
            f = body["function"]
            name = f if isinstance(f, str) else next(iter(f)) if isinstance(f, dict) and len(f) == 1 else None
            if name == "Boolean":
                b = f["Boolean"]
                name = b if isinstance(b, str) else next(iter(b)) if isinstance(b, dict) and len(b) == 1 else None
                allowed = name in _ROW_BOOLEAN
            else:
                allowed = name in _ROW_FUNCTIONS
            return allowed and all(ok(x) for x in body["input"])
        return False

    try:
        return ok(tree)
    except (KeyError, TypeError, IndexError, StopIteration):
        return False


def _per_asset_expr(asset_col: str, mapping: dict) -> pl.Expr:
    """A per-asset rule value as an expression (assets not in ``mapping`` get null: no level)."""
    return (
        pl.col(asset_col)
        .cast(pl.String)
        .replace_strict({str(k): v for k, v in mapping.items()}, default=None, return_dtype=pl.Float64)
    )


def check_assets_known(name: str, mapping: dict, symbols: pl.Series) -> None:
    """A setting given as a dict by asset names only assets of the data (``DataError`` naming the others)."""
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
    sig = _as_lazy(signals, "signals")
    _schema_names(sig, "signals")
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
    sdf = _read(sig, "signals")
    for k in keys:
        n_null = sdf.get_column(k).null_count()
        if n_null:
            where = _where(sdf, pl.col(k).is_null(), ts_col, asset_col)
            raise DataError(f"`signals` key column {k!r} has {n_null} null value(s): {where}. Drop or fill them.")
    dup = sdf.select(keys).is_duplicated()
    if dup.any():
        row = sdf.filter(dup).row(0, named=True)
        raise DataError(
            f"`signals` has duplicate ({ts_col}, {asset_col}) rows, first at {asset_col}={row[asset_col]!r}, "
            f"{ts_col}={row[ts_col]}; keep one row per key."
        )
    orphans = _read(sdf.lazy().join(lf.select(keys), on=keys, how="anti"), "prices")
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
    a = schema[asset_col]
    if not (a == pl.String or a.is_integer() or isinstance(a, (pl.Categorical, pl.Enum))):
        raise DataError(
            f"asset column {asset_col!r} must hold strings, integers, a Categorical or an Enum; got {a}. "
            "Cast it, e.g. pl.col(...).cast(pl.String)."
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
            where = _where(df, pl.col(c).is_null(), ts_col, asset_col)
            row = int(df.get_column(c).is_null().arg_true()[0])
            raise DataError(
                f"{_label(c)} has {n} null value(s): {where} (row {row}). Fill or drop them before backtesting."
            )
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


def _float_column(df: pl.DataFrame, col: str) -> np.ndarray:
    """A column as a read-only float64 array: a view of the frame's memory unless it must be
    cast or rechunked."""
    return kernel_array(df.get_column(col).cast(pl.Float64).rechunk().to_numpy(), np.float64)


def _nan_as_missing(df: pl.DataFrame, columns: list[str], ts_col: str, asset_col: str) -> pl.DataFrame:
    """NaN in a column the expressions read counts as missing (null), with a ``DataWarning``.

    In Polars ``NaN > 0.6`` is True: a NaN prediction would open positions silently. As null it
    makes a signal False and a rule value "no level" (README "Data policy")."""
    floats = [c for c in columns if df.schema[c] in (pl.Float32, pl.Float64)]
    if not floats:
        return df
    counts = df.select(pl.col(c).is_nan().sum() for c in floats).row(0, named=True)
    bad = [c for c in floats if counts[c]]
    for c in bad:
        where = _where(df, pl.col(c).is_nan(), ts_col, asset_col)
        warnings.warn(
            f"column {c!r} holds NaN in {where}; ml4t_vec treats NaN as missing (null): a signal reading it is "
            "False there and a rule value is no level. Replace them (e.g. pl.col(...).fill_nan(...)) to silence this.",
            DataWarning,
            stacklevel=4,
        )
    return df.with_columns(pl.col(c).fill_nan(None) for c in bad) if bad else df


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
    for name, e in exprs.items():
        try:
            dtype = df.lazy().select(e.alias("__sig")).collect_schema().dtypes()[0]
        except Exception as err:  # a plan Polars refuses (e.g. a string method on a float column)
            raise DataError(f"`{name}`{where} is invalid: {type(err).__name__}: {err}") from None
        if dtype != pl.Boolean:
            raise DataError(
                f"`{name}`{where} must evaluate to Boolean; got {dtype} from {e}. Compare it with something, "
                "e.g. pl.col('pred') > 0.6."
            )


def _blame(df: pl.DataFrame, exprs: dict[str, pl.Expr], what: str, where: str = "") -> DataError:
    """The error naming which of ``exprs`` fails to evaluate, or gives other than one value per
    row, each evaluated alone (called once the joint evaluation failed)."""
    for name, e in exprs.items():
        try:
            n = df.select(e.alias("__x")).height
        except Exception as err:  # Polars errors and exceptions raised inside Python UDFs
            return DataError(f"`{name}`{where} failed to evaluate: {type(err).__name__}: {err}")
        if n not in (1, df.height):
            return DataError(
                f"`{name}`{where} gave {n} values for {df.height} rows; {what} needs one value per row (a window "
                "function over an asset or a timestamp keeps the rows: .over(...))."
            )
    return DataError(f"the {what} expressions{where} failed to evaluate together.")


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
    except Exception:  # name the signal that fails
        raise _blame(df, exprs, "a signal") from None
    if bits.len() == 1:  # only literals / aggregates: one value for every row
        return np.full(df.height, bits[0], dtype=np.uint8)
    if bits.len() != df.height:
        raise _blame(df, exprs, "a signal")
    return np.ascontiguousarray(bits.to_numpy())


# Allowed per-bar rule values (as the scalar forms in config.RiskConfig); null / NaN = no level.
# (low, high, low open?): fractions of the anchor, price levels, and priorities (any number).
# what a bad market impact coefficient comes from
IMPACT_HINT = (" The impact's coefficient is k * sigma / adv ** exponent per row; the row named has an adv of 0 or"
               " below, or a negative sigma, or an infinite one.")  # fmt: skip
RULE_RANGES = {
    "stop_loss": (0.0, 1.0, True),
    "trailing_stop": (0.0, 1.0, True),
    "take_profit": (0.0, 100.0, True),
    "stop_loss_price": (0.0, np.inf, True),
    "take_profit_price": (0.0, np.inf, True),
    "limit_price": (0.0, np.inf, True),  # a resting order's levels, read at its signal bar
    "stop_price": (0.0, np.inf, True),
    "size": (0.0, np.inf, True),  # an entry's size per bar (finite; null: no shares)
    "priority": (-np.inf, np.inf, False),
    "weights": (-np.inf, np.inf, False),  # signed fractions of equity; infinite values are refused
    "rebalance": (0.0, 1.0, False),  # a boolean per timestamp (True = 1)
    "benchmark": (-1.0, np.inf, True),  # a return per timestamp (ml4t_vec.benchmark), finite
    "borrow_rate": (0.0, 100.0, False),  # an annual rate per asset and bar (null: no fee)
    "fees": (0.0, 0.5, False),  # a fee per bar, a fraction of notional (null: none)
    "fixed_fees": (0.0, np.inf, False),  # cash per fill (finite; null: none)
    "commission_per_share": (0.0, 100.0, False),  # cash per share (null: none)
    "spread": (0.0, 0.5, False),  # the full bid-ask spread, a fraction of the price (null: none)
    "spread_price": (0.0, np.inf, False),  # the full spread in price units (finite; null: none)
    "impact": (0.0, np.inf, False),  # k x sigma / adv ** exponent (finite; null: none), read at the previous row
}


def _rule_values(df: pl.DataFrame, rules: dict[str, pl.Expr], ts_col: str, asset_col: str,
                 kind: str | None = None) -> dict:  # fmt: skip
    """Per-row rule values from expressions, each checked against ``RULE_RANGES`` (of its name,
    or of ``kind`` for all: a sweep's many weights, named after their sets); null / NaN mean no
    value (no level, or last in priority)."""
    if not rules:
        return {}
    for k, e in rules.items():
        try:
            dtype = df.lazy().select(e.alias("__x")).collect_schema().dtypes()[0]
        except Exception as err:
            raise DataError(f"`{k}` is invalid: {type(err).__name__}: {err}") from None
        if (kind or k) == "rebalance" and dtype not in (pl.Boolean, pl.Null):
            raise DataError(f"`rebalance` must evaluate to booleans (True on a rebalance bar); got {dtype} from {e}.")
        if not dtype.is_numeric() and dtype != pl.Null and (kind or k) != "rebalance":
            raise DataError(f"`{k}` must evaluate to numbers (a fraction, a price or a rank); got {dtype} from {e}.")
    try:
        # lazy: a window the expressions share is evaluated once (the impact's inputs appear three
        # times in its coefficient; eagerly 400 ms on 2.5 million rows, lazily 100 ms)
        out = df.lazy().select([e.cast(pl.Float64).alias(k) for k, e in rules.items()]).collect()
    except Exception:
        raise _blame(df, rules, "a rule value") from None
    if out.height not in (1, df.height):
        raise _blame(df, rules, "a rule value")
    values = {}
    for k in rules:
        col = out.get_column(k)
        if col.len() == 1:
            col = pl.repeat(col[0], df.height, dtype=pl.Float64, eager=True)
        lo, hi, lo_open = RULE_RANGES[kind or k]
        x = pl.col("__rule")
        bad = ((x <= lo) if lo_open else (x < lo)) | (x > hi) | (x.is_infinite() & (hi < np.inf))
        finite = (kind or k).endswith("_price") or (kind or k) in ("weights", "benchmark", "size", "fixed_fees",
                                                                    "impact")  # fmt: skip
        if finite:
            bad = bad | x.is_infinite()
        bad = bad.fill_null(False) & ~x.is_nan()
        if col.to_frame("__rule").select(bad.any()).item():
            where = _where(df.with_columns(col.alias("__rule")), bad, ts_col, asset_col)
            span = f"{'(' if lo_open else '['}{lo}, {hi}{')' if finite and hi == np.inf else ']'}"
            why = IMPACT_HINT if k == "impact" else ""
            raise DataError(
                f"`{k}` must lie in {span} at every bar (null or NaN: no value); found values outside in {where}.{why}"
            )
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
    lf = _as_lazy(prices, "prices")
    columns = _schema_names(lf, "prices")
    if not columns:
        raise DataError("`prices` has no columns.")
    asset_col = _resolve_keys(columns, asset_col, timestamp_col)
    _require(columns, ("close",))
    synthetic = _close_only(columns)  # open / high / low copied from close
    if signals is not None:
        lf = _join_signals(lf, signals, timestamp_col, asset_col)
        columns = list(lf.collect_schema().names())

    given = {"entries": entries, "exits": exits, "short_entries": short_entries, "short_exits": short_exits}
    exprs = {k: e for k, v in given.items() if (e := _as_expr(k, v)) is not None}
    price_expr = _as_expr("price", price)
    per_asset = {k: v for k, v in (rule_exprs or {}).items() if isinstance(v, dict)}
    rules = {
        k: _per_asset_expr(asset_col, v)
        if k in per_asset
        else _impact_expr(v, columns, asset_col, timestamp_col)
        if isinstance(v, SquareRootImpact)
        else _as_expr(k, v)
        for k, v in (rule_exprs or {}).items()
    }
    checked = [*exprs.items(), *rules.items(), *([("price", price_expr)] if price_expr is not None else []),
               *(extra_exprs or {}).items()]  # fmt: skip
    for k, e in checked:
        _check_expr_columns(k, e, columns)
    # every column once, however often the expressions read it (extra_exprs: sweeps' later signals)
    read = list(dict.fromkeys(r for _, e in checked for r in e.meta.root_names()))
    needed = list(dict.fromkeys([timestamp_col, asset_col, *(c for c in PRICE_COLS if c not in synthetic), *read]))
    df = _load(prices, lf, needed, "prices" if signals is None else "prices` or `signals")
    if synthetic:
        df = df.with_columns(pl.col("close").alias(c) for c in synthetic)

    _check_schema(df, timestamp_col, asset_col, None)
    key_and_prices = [timestamp_col, asset_col, *PRICE_COLS]
    if sum(df.select(pl.col(key_and_prices).null_count()).row(0)):  # O(1): Arrow keeps null counts
        _explain_bad_rows(df, timestamp_col, asset_col, None)
    df = _nan_as_missing(df, [c for c in read if c not in key_and_prices], timestamp_col, asset_col)
    # an unsorted frame is put in (asset, timestamp) order only if some expression needs it
    order_free = not keep_frame and session_exit is None and all(_order_free(e) for _, e in checked)
    df, symbols, timestamps, where = place(df, timestamp_col, asset_col, reorder=not order_free)
    extra = _PRICE_ALIAS if price_expr is not None else None
    if price_expr is not None:  # evaluated on rows in time order per asset (it may have windows)
        try:
            df = df.with_columns(price_expr.cast(pl.Float64).alias(_PRICE_ALIAS))
        except pl.exceptions.PolarsError as e:
            raise DataError(f"`price` failed to evaluate: {e}") from None
        if df.get_column(extra).null_count():
            _explain_bad_rows(df, timestamp_col, asset_col, extra)
    for k, mapping in per_asset.items():
        check_assets_known(k, mapping, symbols)
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

    src = {c: _float_column(df, c) for c in dict.fromkeys(PRICE_COLS)}
    src["fill"] = _float_column(df, extra) if extra else src["open" if fill == "next_open" else "close"]
    if (
        grid.first_bad_bar_nb(src["open"], src["high"], src["low"], src["close"], src["fill"] if extra else _NO_ROWS)
        >= 0
    ):
        _explain_bad_rows(df, timestamp_col, asset_col, extra)
    # Complete panels: the kernels read the frame's columns in place, in its row order; ragged
    # panels: grids in the placement's orientation. Sweeps, which run every asset once per
    # parameter set, get asset-major grids.
    distinct = list({v.ctypes.data: v for v in src.values()}.values())  # fill is usually open or close
    if keep_frame and not where.asset_major:
        arrays = [where.grid(v, np.nan).ravel() for v in distinct]
        off, step = np.arange(where.n_assets) * where.n_bars, 1
    else:
        arrays, off, step = where.columns(distinct), where.off, where.step
    by_src = {v.ctypes.data: kernel_array(a, np.float64) for v, a in zip(distinct, arrays, strict=True)}
    placed = {k: by_src[v.ctypes.data] for k, v in src.items()}
    px = Prices(placed["open"], placed["high"], placed["low"], placed["close"], placed["fill"],
                kernel_array(off, np.int64), kernel_array([step], np.int64))  # fmt: skip
    sig = kernel_array(where.grid(bits, 0), np.uint8)
    rule_values = {k: kernel_array(where.grid(v, np.nan), np.float64) for k, v in rule_rows.items()}
    if "impact" in rules and not isinstance(rule_exprs["impact"], Precomputed):  # read at the previous row
        rule_values["impact"] = grid.previous_row_nb(rule_values["impact"], sig, np.uint8(SIG_VALID))
    return Prepared(
        timestamps=timestamps.alias(timestamp_col),
        symbols=symbols.rename(asset_col),
        asset_col=asset_col,
        prices=px,
        sig=sig,
        col_asset=np.arange(where.n_assets, dtype=np.int64),
        placement=where if keep_frame else None,  # its per-row arrays go with the frame
        rule_values=rule_values,
        frame=df if keep_frame else None,
        session=session,
    )


_NO_ROWS = kernel_array(np.empty(0), np.float64)


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
            ev = node.get("Eval")
            if len(node) == 1 and isinstance(ev, dict):  # list.eval: its body runs per list, not per row
                return {"Eval": {k: walk(v) if k == "expr" else v for k, v in ev.items()}}
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


def weight_grids(prep: Prepared, exprs: list[pl.Expr], labels: list[str]) -> list[np.ndarray]:
    """Target weights of many parameter sets on a frame kept by ``prepare(keep_frame=True)``:
    each distinct expression evaluated once, all in one Polars pass, checked as ``backtest``
    checks ``weights=`` (an error names the set by its label). Returns one (n_assets, n_bars)
    float64 grid per expression, NaN where null or without a row."""
    first: dict[str, int] = {}
    for i, e in enumerate(exprs):
        first.setdefault(expr_key(e), i)
    names = {i: f"weights (combination {labels[i]})" for i in first.values()}
    rows = _rule_values(prep.frame, {names[i]: exprs[i] for i in first.values()}, prep.timestamps.name,
                        prep.asset_col, kind="weights")  # fmt: skip
    grids = {i: kernel_array(prep.placement.grid(rows[names[i]], np.nan), np.float64) for i in first.values()}
    return [grids[first[expr_key(e)]] for e in exprs]


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
    except Exception as e:  # find the combination and the signal that fail, each evaluated alone
        for i, x in enumerate(packed):
            try:
                ok = df.select(x).height in (1, df.height)
            except Exception:
                ok = False
            if not ok:
                raise _blame(df, exprs[i], "a signal", f" (combination {labels[i]})") from None
        raise DataError(f"signal expressions failed to evaluate: {type(e).__name__}: {e}") from None
    sig = np.empty((len(combos) * n_assets, n_bars), dtype=np.uint8)
    for i in range(len(combos)):
        bits = out.get_column(f"__c{i}")
        if bits.len() == 1:  # only literals / aggregates: one value for every row
            bits = pl.repeat(bits[0], df.height, dtype=pl.UInt8, eager=True)
        sig[i * n_assets : (i + 1) * n_assets] = prep.placement.grid(bits.to_numpy(), 0)
    return kernel_array(sig, np.uint8)
