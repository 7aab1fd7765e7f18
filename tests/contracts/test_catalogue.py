"""A catalogue of bad and awkward inputs, each with the outcome it must get.

Complements ``test_validation.py`` (which it does not repeat). Every case is one call with one
bad or awkward input and one expected outcome:

- ``Raises(exc, *fragments, forbid=...)``: ``exc`` (``DataError`` / ``ConfigError``) whose message
  holds every fragment (the argument's name, the column, the symbol, the first bad timestamp)
  and none of ``forbid`` (e.g. blaming `prices` for a `signals` problem);
- ``Same(ref, key=..., warns=...)``: a documented policy, "the result equals the result of
  ``ref``" (e.g. NaN in a prediction column behaves as null), optionally with a warning;
- ``Check(fn, warns=...)``: a policy checked by ``fn(result)``.

A failure message starts with its class, so a run can be summarised by class:
[RAW] a raw Polars / numba / OS / Python exception; [WRONG-CLASS] DataError instead of
ConfigError or back; [WRONG-ARG] the message blames another argument; [MESSAGE] a fragment is
missing; [SILENT] no error at all; [NO-WARNING] the warning is missing; [POLICY] the result
breaks the policy; [REJECTED] valid input refused.
``ML4T_CATALOGUE_REPORT=failures.jsonl pytest tests/contracts/test_catalogue.py`` also writes
one JSON line (id, problems) per failing case.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import ml4t_vec as vec
from ml4t_vec import ConfigError, DataError

NAN, INF = float("nan"), float("inf")

# 3 assets (A0, A1, A2) x 30 business days from 2015-01-02, sorted by (asset, timestamp)
P = vec.synthetic_prices(n_assets=3, n_bars=30, seed=7)
P1 = P.filter(pl.col("asset") == "A0")  # one asset


def loc(i: int) -> tuple[str, str]:
    """(symbol, timestamp) of row ``i`` of P, as a message must print them."""
    r = P.row(i, named=True)
    return r["asset"], str(r["timestamp"])


R = 45  # the bad row of most cases: A1, its 16th bar
SYM, TS = loc(R)


def setv(df: pl.DataFrame, col: str, rows, value, dtype=None) -> pl.DataFrame:
    """``df`` with ``col`` set to ``value`` at the given row positions."""
    rows = [rows] if isinstance(rows, int) else list(rows)
    lit = pl.lit(value, dtype=dtype) if dtype is not None else pl.lit(value)
    expr = pl.when(pl.int_range(pl.len()).is_in(rows)).then(lit).otherwise(pl.col(col))
    return df.with_columns(expr.alias(col))


def bt(df=None, **kw):
    kw.setdefault("entries", pl.col("pred") > 0.6)
    kw.setdefault("exits", pl.col("pred") < 0.4)
    return vec.backtest(P if df is None else df, **kw)


def sw(df=None, **kw):
    kw.setdefault("entries", lambda p: pl.col("pred") > p.t)
    kw.setdefault("exits", pl.col("pred") < 0.4)
    kw.setdefault("params", {"t": [0.55, 0.65]})
    return vec.sweep(P if df is None else df, **kw)


def stats_of(ppy):
    return bt().stats(periods_per_year=ppy)


# ---------------------------------------------------------------------------------------------
# expected outcomes
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Raises:
    exc: type | tuple
    fragments: tuple = ()
    forbid: tuple = ()

    def __init__(self, exc, *fragments, forbid=()):
        object.__setattr__(self, "exc", exc)
        object.__setattr__(self, "fragments", fragments)
        object.__setattr__(self, "forbid", tuple(forbid))


def trades_key(res):
    return res.trades


def results_key(grid):
    return grid.results


@dataclass(frozen=True)
class Same:
    """Policy: the result equals ``ref(ctx)``'s, compared through ``key``."""

    ref: Callable
    key: Callable = trades_key
    warns: tuple | None = None  # (warning class name in ml4t_vec, *message fragments)


@dataclass(frozen=True)
class Check:
    """Policy: ``fn(result)`` passes (asserts)."""

    fn: Callable
    warns: tuple | None = None


@dataclass(frozen=True)
class Case:
    id: str
    run: Callable  # ctx -> result
    expect: Raises | Same | Check
    needs: str | None = None  # an optional module the case builds its input with


class Ctx:
    """Per-module scratch space (paths for file-based cases)."""

    def __init__(self, root: Path):
        self.root = root

    def dir(self, name: str) -> Path:
        d = self.root / name
        d.mkdir(parents=True, exist_ok=True)
        return d


def _fmt(e: BaseException) -> str:
    return f"{type(e).__module__}.{type(e).__name__}: {str(e)[:600]}"


def _check_raises(case: Case, ctx: Ctx) -> list[str]:
    exp = case.expect
    want = exp.exc if isinstance(exp.exc, tuple) else (exp.exc,)
    names = "/".join(c.__name__ for c in want)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            case.run(ctx)
        except want as e:
            msg = str(e)
            problems = []
            blamed = [f for f in exp.forbid if f in msg]
            if blamed:
                problems.append(f"[WRONG-ARG] message blames {blamed}: {msg[:600]}")
            missing = [f for f in exp.fragments if f not in msg]
            if missing:
                problems.append(f"[MESSAGE] {type(e).__name__} lacks {missing}: {msg[:600]}")
            return problems
        except (DataError, ConfigError) as e:
            return [f"[WRONG-CLASS] expected {names}, got {_fmt(e)}"]
        except Exception as e:  # noqa: BLE001 - the point is to classify it
            return [f"[RAW] expected {names}, got {_fmt(e)}"]
    return [f"[SILENT] expected {names} with {list(exp.fragments)}; the call returned normally"]


def _run_recording(case: Case, ctx: Ctx):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = case.run(ctx)
    return out, rec


def _check_warning(spec, rec) -> list[str]:
    if spec is None:
        return []
    cls_name, *fragments = spec
    cls = getattr(vec, cls_name, None)
    if cls is None:
        got = [f"{w.category.__name__}: {w.message}" for w in rec]
        return [f"[NO-WARNING] ml4t_vec.{cls_name} does not exist (warnings seen: {got})"]
    hits = [w for w in rec if issubclass(w.category, cls)]
    if not hits:
        return [f"[NO-WARNING] no {cls_name} was emitted"]
    msgs = [str(w.message) for w in hits]
    if not any(all(f in m for f in fragments) for m in msgs):
        return [f"[MESSAGE] {cls_name} lacks some of {fragments}: {msgs}"]
    return []


def _check_policy(case: Case, ctx: Ctx) -> list[str]:
    exp = case.expect
    try:
        out, rec = _run_recording(case, ctx)
    except (DataError, ConfigError) as e:
        return [f"[REJECTED] valid input refused: {_fmt(e)}"]
    except AssertionError:
        raise
    except Exception as e:  # noqa: BLE001
        return [f"[RAW] {_fmt(e)}"]
    problems = []
    try:
        if isinstance(exp, Same):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ref = exp.ref(ctx)
            assert_frame_equal(exp.key(out), exp.key(ref), check_exact=False, rel_tol=1e-9, abs_tol=1e-9)
        else:
            exp.fn(out)
    except AssertionError as e:
        problems.append(f"[POLICY] {str(e)[:800]}")
    except Exception as e:  # noqa: BLE001
        problems.append(f"[RAW] while checking the policy: {_fmt(e)}")
    return problems + _check_warning(exp.warns, rec)


CASES: list[Case] = []


def case(id: str, run: Callable, expect, needs: str | None = None) -> None:
    assert id not in {c.id for c in CASES}, id
    CASES.append(Case(id, run, expect, needs))


# =============================================================================================
# 1. backtest keywords: wrong types, out of range, NaN / inf, bools for numbers, typos
# =============================================================================================
NUMERIC_BAD = [
    ("size", "0.5"), ("size", True), ("size", NAN), ("size", 0), ("size", [0.5]),
    ("fees", "0.001"), ("fees", True), ("fees", -0.001), ("fees", INF),
    ("fixed_fees", -1.0), ("fixed_fees", NAN), ("fixed_fees", "1"), ("fixed_fees", INF),
    ("slippage", -0.01), ("slippage", 0.6), ("slippage", True),
    ("commission_per_share", -0.005), ("commission_per_share", INF), ("commission_per_share", "0.005"),
    ("slippage_per_share", -0.01), ("slippage_per_share", 101.0), ("slippage_per_share", False),
    ("init_cash", -1e5), ("init_cash", INF), ("init_cash", NAN), ("init_cash", "100000"), ("init_cash", True),
    ("trailing_activation", -0.01), ("trailing_activation", NAN), ("trailing_activation", True),
    ("trailing_activation", 101.0),
    ("stop_slippage", -0.01), ("stop_slippage", 0.6), ("stop_slippage", NAN), ("stop_slippage", "0"),
    ("stop_loss", 0), ("stop_loss", -0.05), ("stop_loss", NAN), ("stop_loss", INF), ("stop_loss", True),
    ("stop_loss", [0.05]),
    ("take_profit", 0), ("take_profit", 150.0), ("take_profit", INF), ("take_profit", False),
    ("trailing_stop", 0), ("trailing_stop", NAN), ("trailing_stop", -0.03),
    ("max_bars", 0), ("max_bars", 2.0), ("max_bars", True), ("max_bars", "5"), ("max_bars", INF),
    ("max_positions", 0), ("max_positions", 2.5), ("max_positions", True), ("max_positions", "3"),
    ("max_position_weight", 0), ("max_position_weight", 1.5), ("max_position_weight", NAN),
    ("max_position_weight", True),
    ("max_gross_leverage", 0), ("max_gross_leverage", 11.0), ("max_gross_leverage", INF),
    ("max_net_exposure", -0.1), ("max_net_exposure", NAN), ("max_net_exposure", "0.5"),
    ("max_drawdown", 0), ("max_drawdown", 1.5), ("max_drawdown", NAN), ("max_drawdown", True),
    ("drawdown_cooldown", 0), ("drawdown_cooldown", 1.5), ("drawdown_cooldown", True),
    ("daily_loss_limit", 0), ("daily_loss_limit", 1.5), ("daily_loss_limit", INF),
]  # fmt: skip
for _k, _v in NUMERIC_BAD:
    case(f"kw-{_k}={_v!r}", lambda ctx, k=_k, v=_v: bt(**{k: v}), Raises(ConfigError, f"`{_k}`"))

BOOL_BAD = [("stop_on_entry_bar", "no"), ("reenter_on_stop_bar", 0), ("fractional", "False"), ("cash_sharing", 1)]
for _k, _v in BOOL_BAD:
    case(f"kw-{_k}={_v!r}", lambda ctx, k=_k, v=_v: bt(**{k: v}), Raises(ConfigError, f"`{_k}`", "True or False"))

CHOICE_BAD = [
    ("fill", "Next_Open", "next_open"), ("fill", 1, None), ("signal_rules", "flat-only", "flat_only"),
    ("fill_order", "exit_first", "exits_first"), ("trailing_source", "extremes", "extreme"),
    ("trailing_start", "first", "first_bar"), ("stop_anchor", "signal", "signal_close"),
    ("intrabar", "pesimistic", "pessimistic"), ("drawdown_action", "liquidation", "liquidate"),
    ("size_type", "Percent", "percent"), ("size_type", "notionl", "notional"), ("percent_of", "cahs", "cash"),
    ("reversal", "one-order", "one_order"), ("cash_rule", "vectorbt1", "vectorbt"), ("cash_rule", 2, None),
]  # fmt: skip
for _k, _v, _hint in CHOICE_BAD:
    frags = (f"`{_k}`", f"Did you mean '{_hint}'") if _hint else (f"`{_k}`",)
    case(f"kw-{_k}={_v!r}", lambda ctx, k=_k, v=_v: bt(**{k: v}), Raises(ConfigError, *frags))

case("kw-session_exit='25:00'", lambda ctx: bt(session_exit="25:00"), Raises(ConfigError, "`session_exit`"))
case("kw-session_exit=1555", lambda ctx: bt(session_exit=1555), Raises(ConfigError, "`session_exit`"))
case(
    "kw-session_exit-on-daily-dates",
    lambda ctx: bt(session_exit="15:55"),
    Raises(ConfigError, "`session_exit`", "Datetime"),
)
# expression-valued settings given a number / a dict
case("kw-price=5.0", lambda ctx: bt(price=5.0), Raises(ConfigError, "`price`"))
case("kw-priority=5", lambda ctx: bt(priority=5), Raises(ConfigError, "`priority`"))
case("kw-priority=dict", lambda ctx: bt(priority={"A0": 1.0}), Raises(ConfigError, "`priority`"))
case("kw-stop_loss_price=95.0", lambda ctx: bt(stop_loss_price=95.0), Raises(ConfigError, "`stop_loss_price`"))
case(
    "kw-take_profit_price=dict",
    lambda ctx: bt(take_profit_price={"A0": 120.0}),
    Raises(ConfigError, "`take_profit_price`"),
)
case("kw-stop_loss='5%'-is-a-column", lambda ctx: bt(stop_loss="5%"), Raises(DataError, "`stop_loss`", "'5%'"))
case(
    "kw-price-typo",
    lambda ctx: bt(price=pl.col("clsoe")),
    Raises(DataError, "`price`", "'clsoe'", "Did you mean 'close'"),
)
case(
    "kw-priority-typo",
    lambda ctx: bt(priority=pl.col("prd")),
    Raises(DataError, "`priority`", "'prd'", "Did you mean 'pred'"),
)
case(
    "kw-priority-with-fill_order-asset",
    lambda ctx: bt(priority="pred", fill_order="asset"),
    Raises(ConfigError, "`priority`", "fill_order"),
)
case(
    "kw-cash_rule-vectorbt-with-max_gross_leverage",
    lambda ctx: bt(cash_rule="vectorbt", max_gross_leverage=2.0),
    Raises(ConfigError, "`max_gross_leverage`", "cash_rule='vectorbt'"),
)
case(
    "kw-reversal-one_order-with-fill_order-ml4t",
    lambda ctx: bt(reversal="one_order", fill_order="ml4t"),
    Raises(ConfigError, "reversal='one_order'", "fill_order='ml4t'"),
)
case(
    "kw-reversal-one_order-with-cash_rule-ml4t",
    lambda ctx: bt(reversal="one_order", cash_rule="ml4t"),
    Raises(ConfigError, "reversal='one_order'", "cash_rule='ml4t'"),
)
case(
    "kw-size_rule-backtesting-with-cash_rule-vectorbt",
    lambda ctx: bt(size_rule="backtesting", size=0.5, fractional=False, cash_rule="vectorbt"),
    Raises(ConfigError, "size_rule='backtesting'", "cash_rule='vectorbt'"),
)
case("kw-size=-inf-notional", lambda ctx: bt(size=-INF, size_type="notional"), Raises(ConfigError, "`size`"))
case(
    "kw-limits-with-independent-accounts",
    lambda ctx: bt(max_positions=2, cash_sharing=False),
    Raises(ConfigError, "max_positions", "cash_sharing"),
)
# unknown keywords
case("kw-unknown-fee", lambda ctx: bt(fee=0.001), Raises(ConfigError, "'fee'", "Did you mean 'fees'"))
case(
    "kw-unknown-entry",
    lambda ctx: vec.backtest(P, entry=pl.col("pred") > 0.6),
    Raises(ConfigError, "'entry'", "Did you mean 'entries'"),
)
case(
    "kw-unknown-sizetype",
    lambda ctx: bt(sizetype="value"),
    Raises(ConfigError, "'sizetype'", "Did you mean 'size_type'"),
)
# presets
case("preset-misspelt", lambda ctx: bt(preset="vectrobt"), Raises(ConfigError, "`preset`", "Did you mean 'vectorbt'"))
case("preset-wrong-case", lambda ctx: bt(preset="ML4T"), Raises(ConfigError, "`preset`"))
case("preset-not-a-string", lambda ctx: bt(preset=1), Raises(ConfigError, "`preset`"))
case(
    "preset-with-config",
    lambda ctx: bt(preset="ml4t", config=vec.BacktestConfig()),
    Raises(ConfigError, "`config=`", "`preset=`"),
)
# config=
case("config-dict", lambda ctx: bt(config={"fees": 0.001}), Raises(ConfigError, "`config`", "BacktestConfig"))
case(
    "config-section-object", lambda ctx: bt(config=vec.RiskConfig()), Raises(ConfigError, "`config`", "BacktestConfig")
)
case(
    "config-plus-default-valued-keyword",
    lambda ctx: bt(config=vec.BacktestConfig(), init_cash=100_000.0),
    Raises(ConfigError, "init_cash", "config="),
)
case(
    "config-section-as-dict-limits",
    lambda ctx: bt(config=vec.BacktestConfig(limits={"max_positions": 2})),
    Raises(ConfigError, "limits", "LimitsConfig"),
)
case(
    "config-section-as-dict-sizing",
    lambda ctx: bt(config=vec.BacktestConfig(sizing={"size": 0.5})),
    Raises(ConfigError, "sizing", "SizingConfig"),
)
# key column arguments
case("asset_col-not-a-string", lambda ctx: bt(asset_col=5), Raises((DataError, ConfigError), "asset_col"))
case(
    "asset_col-is-a-price-column",
    lambda ctx: bt(asset_col="close"),
    Raises((DataError, ConfigError), "asset_col", "'close'"),
)
case(
    "asset_col-is-the-timestamp",
    lambda ctx: bt(asset_col="timestamp"),
    Raises((DataError, ConfigError), "asset_col", "'timestamp'"),
)
case("timestamp_col-missing", lambda ctx: bt(timestamp_col="date"), Raises(DataError, "timestamp_col", "'date'"))
case("timestamp_col-None", lambda ctx: bt(timestamp_col=None), Raises((DataError, ConfigError), "timestamp_col"))
case(
    "timestamp_col-is-a-price-column",
    lambda ctx: bt(timestamp_col="close"),
    Raises(ConfigError, "`timestamp_col`", "'close'"),
)
case(
    "numpy-scalars-are-numbers",
    lambda ctx: bt(size=np.float32(0.5), fees=np.float64(0.001), max_bars=np.int64(5)),
    Same(lambda ctx: bt(size=0.5, fees=0.001, max_bars=5)),
)


# =============================================================================================
# 2. prices: types, paths, files
# =============================================================================================
def _pandas(ctx):
    return bt(P.to_pandas())


def _write_text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _dir_without_parquet(ctx):
    d = ctx.dir("no_parquet")
    _write_text(d / "readme.txt", "no data here")
    return d


def _not_parquet_file(ctx):
    return _write_text(ctx.dir("not_parquet") / "x.parquet", "timestamp,asset,close\n2015-01-02,A0,100\n")


def _csv_file(ctx):
    f = ctx.dir("csv") / "prices.csv"
    P.write_csv(f)
    return f


def _dir_with_junk(ctx):
    d = ctx.dir("junk_dir")
    P.write_parquet(d / "good.parquet")
    _write_text(d / "junk.parquet", "not parquet")
    return d


case("prices-pandas", _pandas, Raises(DataError, "`prices`", "pl.from_pandas"), needs="pandas")
case("prices-numpy", lambda ctx: bt(P.select("open", "high", "low", "close").to_numpy()), Raises(DataError, "`prices`"))
case("prices-None", lambda ctx: vec.backtest(None, entries=pl.col("pred") > 0.6), Raises(DataError, "`prices`"))
case("prices-series", lambda ctx: bt(P["close"]), Raises(DataError, "`prices`"))
case("prices-bytes-path", lambda ctx: bt(b"/nonexistent/prices.parquet"), Raises(DataError, "`prices`"))
case(
    "prices-missing-str-path",
    lambda ctx: bt(str(ctx.root / "nope" / "prices.parquet")),
    Raises(DataError, "`prices`", "prices.parquet"),
)
case(
    "prices-dir-without-parquet",
    lambda ctx: bt(_dir_without_parquet(ctx)),
    Raises(DataError, "`prices`", "no_parquet"),
)
case("prices-empty-dir", lambda ctx: bt(ctx.dir("empty_dir")), Raises(DataError, "`prices`", "empty_dir"))
case(
    "prices-text-file-named-parquet", lambda ctx: bt(_not_parquet_file(ctx)), Raises(DataError, "`prices`", "x.parquet")
)
case("prices-csv-path", lambda ctx: bt(_csv_file(ctx)), Raises(DataError, "`prices`", "prices.csv"))
case("prices-dir-with-junk-parquet", lambda ctx: bt(_dir_with_junk(ctx)), Raises(DataError, "`prices`", "junk.parquet"))
case(
    "prices-lazy-scan-of-missing-file",
    lambda ctx: bt(pl.scan_parquet(ctx.root / "gone.parquet")),
    Raises(DataError, "`prices`", "gone.parquet"),
)
case(
    "prices-lazy-plan-that-fails",
    lambda ctx: bt(P.lazy().with_columns(pl.col("close").str.to_uppercase())),
    Raises(DataError, "`prices`"),
)
case("prices-no-columns", lambda ctx: bt(pl.DataFrame()), Raises(DataError, "`prices`"))
case("prices-empty-lazy", lambda ctx: bt(P.lazy().filter(pl.lit(False))), Raises(DataError, "`prices`", "no rows"))
case(
    "prices-capitalised-columns",
    lambda ctx: bt(P.rename({c: c.capitalize() for c in ("open", "high", "low", "close")})),
    Raises(DataError, "'open'", "Did you mean 'Open'"),
)


# only close: accepted as open = high = low = close (lead policy)
CLOSE_ONLY = P.drop("open", "high", "low")
case(
    "prices-close-only-accepted",
    lambda ctx: bt(CLOSE_ONLY),
    Same(lambda ctx: bt(P.with_columns(open=pl.col("close"), high=pl.col("close"), low=pl.col("close")))),
)
case(
    "prices-close-and-open-only", lambda ctx: bt(P.drop("high", "low")), Raises(DataError, "'high'", "'low'", "missing")
)
case("prices-no-open", lambda ctx: bt(P.drop("open")), Raises(DataError, "'open'", "missing"))


# =============================================================================================
# 3. timestamp column
# =============================================================================================
case(
    "timestamp-int",
    lambda ctx: bt(P.with_columns(pl.col("timestamp").cast(pl.Int32))),
    Raises(DataError, "'timestamp'", "Date or Datetime", "Int32"),
)
case(
    "timestamp-time-of-day",
    lambda ctx: bt(P.with_columns(pl.col("timestamp").cast(pl.Datetime).dt.time())),
    Raises(DataError, "'timestamp'", "Date or Datetime"),
)
case(
    "timestamp-null",
    lambda ctx: bt(setv(P, "timestamp", R, None, pl.Date)),
    Raises(DataError, "'timestamp'", "null", SYM),
)
case(
    "timestamp-descending-is-sorted",
    lambda ctx: bt(P.sort("asset", "timestamp", descending=[False, True])),
    Same(lambda ctx: bt()),
)
case(
    "timestamp-duplicate-in-ragged-shuffled-panel",
    lambda ctx: bt(
        pl.concat([P.filter(pl.int_range(pl.len()) % 4 != 3), P.slice(R, 1)]).sample(fraction=1.0, shuffle=True, seed=2)
    ),
    Raises(DataError, "duplicate", SYM, TS),
)


def _tz(df, tz, unit="us"):
    return df.with_columns(pl.col("timestamp").cast(pl.Datetime(unit)).dt.replace_time_zone(tz))


def _tz_result(ctx):
    res = bt(_tz(P, "Asia/Tokyo", "ns"))
    assert res.trades.schema["entry_time"] == pl.Datetime("ns", "Asia/Tokyo")
    return res


case(
    "timestamp-tz-aware-prices",
    _tz_result,
    Same(lambda ctx: bt(), key=lambda r: r.trades.drop("entry_time", "exit_time")),
)
SIG = P.select("timestamp", "asset", score=pl.col("pred"))
case(
    "signals-timezone-differs",
    lambda ctx: bt(
        _tz(P.drop("pred"), "UTC"), signals=_tz(SIG, "Europe/London"), entries=pl.col("score") > 0.6, exits=None
    ),
    Raises(DataError, "`signals`", "'timestamp'", "UTC", "Europe/London"),
)
case(
    "signals-naive-vs-aware",
    lambda ctx: bt(_tz(P.drop("pred"), "UTC"), signals=_tz(SIG, None), entries=pl.col("score") > 0.6, exits=None),
    Raises(DataError, "`signals`", "'timestamp'"),
)
case(
    "signals-time-unit-differs",
    lambda ctx: bt(
        _tz(P.drop("pred"), None, "ns"), signals=_tz(SIG, None, "us"), entries=pl.col("score") > 0.6, exits=None
    ),
    Raises(DataError, "`signals`", "'timestamp'"),
)

# =============================================================================================
# 4. asset column
# =============================================================================================
INT_ASSETS = P.with_columns(pl.col("asset").str.slice(1).cast(pl.Int64))
case(
    "asset-int-null",
    lambda ctx: bt(setv(INT_ASSETS, "asset", R, None, pl.Int64)),
    Raises(DataError, "'asset'", "null", TS),
)
case(
    "asset-categorical-null",
    lambda ctx: bt(setv(P, "asset", R, None, pl.String).with_columns(pl.col("asset").cast(pl.Categorical))),
    Raises(DataError, "'asset'", "null", TS),
)
case(
    "asset-enum-null",
    lambda ctx: bt(
        setv(P, "asset", R, None, pl.String).with_columns(pl.col("asset").cast(pl.Enum(["A0", "A1", "A2"])))
    ),
    Raises(DataError, "'asset'", "null", TS),
)
case(
    "asset-string-null-names-timestamp",
    lambda ctx: bt(setv(P, "asset", R, None, pl.String)),
    Raises(DataError, "'asset'", "null", TS),
)
case(
    "asset-list-dtype",
    lambda ctx: bt(P.with_columns(pl.concat_list("asset"))),
    Raises(DataError, "'asset'", "List"),
)
case(
    "asset-int-with-int-dict-keys",
    lambda ctx: bt(INT_ASSETS, stop_loss={1: 0.02}),
    Same(lambda ctx: bt(stop_loss={"A1": 0.02}), key=lambda r: r.trades.drop("symbol")),
)
case(
    "asset-enum-with-dict",
    lambda ctx: bt(
        P.with_columns(pl.col("asset").cast(pl.Enum(["A0", "A1", "A2"]))), stop_loss={"A1": 0.02}, cash_sharing=False
    ),
    Same(lambda ctx: bt(stop_loss={"A1": 0.02}, cash_sharing=False)),
)

# =============================================================================================
# 5. price columns
# =============================================================================================
case(
    "close-string",
    lambda ctx: bt(P.with_columns(pl.col("close").cast(pl.String))),
    Raises(DataError, "'close'", "numeric"),
)
case("high-boolean", lambda ctx: bt(P.with_columns(pl.col("high") > 0)), Raises(DataError, "'high'", "numeric"))


def _decimal_ok(res):
    assert res.trades.height > 0


case(
    "close-decimal-accepted",
    lambda ctx: bt(P.with_columns(pl.col(c).cast(pl.Decimal(18, 6)) for c in ("open", "high", "low", "close"))),
    Check(_decimal_ok),
)
case("close-null", lambda ctx: bt(setv(P, "close", R, None, pl.Float64)), Raises(DataError, "'close'", "null", SYM, TS))
case("high-null", lambda ctx: bt(setv(P, "high", R, None, pl.Float64)), Raises(DataError, "'high'", "null", SYM, TS))
case("close-nan", lambda ctx: bt(setv(P, "close", R, NAN)), Raises(DataError, "'close'", SYM, TS))
case("high-nan", lambda ctx: bt(setv(P, "high", R, NAN)), Raises(DataError, "'high'", SYM, TS))
case("open-inf", lambda ctx: bt(setv(P, "open", R, INF)), Raises(DataError, "'open'", SYM, TS))
case("high-minus-inf", lambda ctx: bt(setv(P, "high", R, -INF)), Raises(DataError, "'high'", SYM, TS))
case("open-zero", lambda ctx: bt(setv(P, "open", R, 0.0)), Raises(DataError, "'open'", SYM, TS))
case("close-negative", lambda ctx: bt(setv(P, "close", R, -1.0)), Raises(DataError, "'close'", SYM, TS))
case(
    "open-above-high",
    lambda ctx: bt(
        P.with_columns(
            pl.when(pl.int_range(pl.len()) == R).then(pl.col("high") * 1.05).otherwise(pl.col("open")).alias("open")
        )
    ),
    Raises(DataError, "'open'", "outside [low, high]", SYM, TS),
)
case(
    "open-below-low",
    lambda ctx: bt(
        P.with_columns(
            pl.when(pl.int_range(pl.len()) == R).then(pl.col("low") * 0.95).otherwise(pl.col("open")).alias("open")
        )
    ),
    Raises(DataError, "'open'", "outside [low, high]", SYM, TS),
)
case(
    "close-below-low",
    lambda ctx: bt(
        P.with_columns(
            pl.when(pl.int_range(pl.len()) == R).then(pl.col("low") * 0.95).otherwise(pl.col("close")).alias("close")
        )
    ),
    Raises(DataError, "'close'", "outside [low, high]", SYM, TS),
)
case(
    "high-below-low-names-row",
    lambda ctx: bt(
        P.with_columns(
            pl.when(pl.int_range(pl.len()) == R).then(pl.col("low") * 0.9).otherwise(pl.col("high")).alias("high")
        )
    ),
    Raises(DataError, "'high'", "'low'", SYM, TS),
)
case("nan-in-unused-column-ignored", lambda ctx: bt(setv(P, "volume", R, NAN)), Same(lambda ctx: bt()))
VWAP = P.with_columns(vwap=(pl.col("high") + pl.col("low")) / 2)
case(
    "price-column-nan", lambda ctx: bt(setv(VWAP, "vwap", R, NAN), price="vwap"), Raises(DataError, "`price`", SYM, TS)
)
case("price-expr-wrong-length", lambda ctx: bt(VWAP, price=pl.col("vwap").head(3)), Raises(DataError, "`price`"))
case("price-expr-string-column", lambda ctx: bt(price="asset"), Raises(DataError, "`price`"))
case(
    "price-expr-reads-column-twice",
    lambda ctx: bt(VWAP, price=(pl.col("vwap") + pl.col("vwap")) / 2),
    Same(lambda ctx: bt(VWAP, price="vwap")),
)

# =============================================================================================
# 6. signals= frame
# =============================================================================================
NOPRED = P.drop("pred")


def bts(signals, **kw):
    kw.setdefault("entries", pl.col("score") > 0.6)
    kw.setdefault("exits", pl.col("score") < 0.4)
    return bt(NOPRED, signals=signals, **kw)


def _sig_dir_without_parquet(ctx):
    d = ctx.dir("sig_no_parquet")
    _write_text(d / "readme.txt", "nothing")
    return d


case(
    "signals-pandas",
    lambda ctx: bts(SIG.to_pandas()),
    Raises(DataError, "`signals`", forbid=("`prices`",)),
    needs="pandas",
)
case(
    "signals-missing-path",
    lambda ctx: bts(ctx.root / "nope_signals.parquet"),
    Raises(DataError, "`signals`", "nope_signals.parquet", forbid=("`prices`",)),
)
case(
    "signals-dict", lambda ctx: bts(SIG.to_dict(as_series=False)), Raises(DataError, "`signals`", forbid=("`prices`",))
)
case(
    "signals-dir-without-parquet",
    lambda ctx: bts(_sig_dir_without_parquet(ctx)),
    Raises(DataError, "`signals`", "sig_no_parquet", forbid=("`prices`",)),
)
case(
    "signals-text-file-named-parquet",
    lambda ctx: bts(_write_text(ctx.dir("sig_txt") / "s.parquet", "nope")),
    Raises(DataError, "`signals`", "s.parquet", forbid=("`prices`",)),
)
case(
    "signals-asset-dtype-differs",
    lambda ctx: bts(SIG.with_columns(pl.col("asset").cast(pl.Categorical))),
    Raises(DataError, "`signals`", "'asset'"),
)
case(
    "signals-int-asset-width-differs",
    lambda ctx: bt(
        INT_ASSETS.drop("pred"),
        signals=SIG.with_columns(pl.col("asset").str.slice(1).cast(pl.Int32)),
        entries=pl.col("score") > 0.6,
        exits=None,
    ),
    Raises(DataError, "`signals`", "'asset'", "Int32", "Int64"),
)
case(
    "signals-duplicate-key-names-row",
    lambda ctx: bts(pl.concat([SIG, SIG.slice(R, 1)])),
    Raises(DataError, "`signals`", "duplicate", SYM, TS),
)
case(
    "signals-orphan-asset",
    lambda ctx: bts(pl.concat([SIG, SIG.slice(R, 1).with_columns(asset=pl.lit("ZZZ"))])),
    Raises(DataError, "`signals`", "'ZZZ'", TS),
)
case(
    "signals-null-timestamp-key",
    lambda ctx: bts(setv(SIG, "timestamp", R, None, pl.Date)),
    Raises(DataError, "`signals`", "null", "'timestamp'"),
)
case(
    "signals-clash-with-price-column",
    lambda ctx: bts(SIG.with_columns(close=pl.lit(1.0))),
    Raises(DataError, "`signals`", "'close'"),
)
case("signals-no-asset-column", lambda ctx: bts(SIG.drop("asset")), Raises(DataError, "`signals`", "'asset'"))
case(
    "signals-keyed-by-other-asset-name",
    lambda ctx: bt(NOPRED.rename({"asset": "symbol"}), signals=SIG, entries=pl.col("score") > 0.6, exits=None),
    Raises(DataError, "`signals`", "'symbol'"),
)
case(
    "signals-empty-frame-means-no-signals",
    lambda ctx: bts(SIG.clear()),
    Check(lambda r: _assert(r.trades.height == 0, f"{r.trades.height} trades from an empty signals frame")),
)


def _sig_path(ctx):
    f = ctx.dir("sig_ok") / "signals.parquet"
    SIG.write_parquet(f)
    return bts(f)


case("signals-parquet-path", _sig_path, Same(lambda ctx: bts(SIG)))
case(
    "signals-lazy-plan-that-fails",
    lambda ctx: bts(SIG.lazy().with_columns(bad=pl.col("score").str.to_uppercase())),
    Raises(DataError, "`signals`", forbid=("`prices`",)),
)
case(
    "signals-column-read-twice",
    lambda ctx: bts(SIG, entries=pl.col("score") > pl.col("score").shift(1), exits=None),
    Same(
        lambda ctx: bts(
            SIG.with_columns(score2=pl.col("score")), entries=pl.col("score") > pl.col("score2").shift(1), exits=None
        )
    ),
)


def _assert(cond, msg=""):
    assert cond, msg


# =============================================================================================
# 7. signal expressions
# =============================================================================================
case("entries-string-column", lambda ctx: bt(entries="asset"), Raises(DataError, "`entries`", "Boolean", "String"))
case(
    "short_entries-float",
    lambda ctx: bt(short_entries=pl.col("pred") * 2),
    Raises(DataError, "`short_entries`", "Boolean"),
)
case(
    "short_exits-int",
    lambda ctx: bt(short_entries=pl.col("pred") > 0.7, short_exits=pl.col("volume").cast(pl.Int64)),
    Raises(DataError, "`short_exits`", "Boolean"),
)
case(
    "exits-unknown-column",
    lambda ctx: bt(exits=pl.col("prd") < 0.4),
    Raises(DataError, "`exits`", "'prd'", "Did you mean 'pred'"),
)
case(
    "short_entries-unknown-column",
    lambda ctx: bt(short_entries=pl.col("score") > 0.4),
    Raises(DataError, "`short_entries`", "'score'"),
)
case("short_exits-unknown-column", lambda ctx: bt(short_entries="x", short_exits="y"), Raises(DataError, "'x'"))
case("entries-python-bool", lambda ctx: bt(entries=True), Raises((DataError, ConfigError), "`entries`"))
case("entries-list", lambda ctx: bt(entries=[True, False]), Raises((DataError, ConfigError), "`entries`"))
case("entries-numpy", lambda ctx: bt(entries=P["pred"].to_numpy() > 0.6), Raises((DataError, ConfigError), "`entries`"))
case("exits-number", lambda ctx: bt(exits=0.4), Raises((DataError, ConfigError), "`exits`"))
case(
    "entries-gather_every-wrong-length",
    lambda ctx: bt(entries=pl.col("pred").gather_every(2) > 0.6),
    Raises(DataError, "`entries`", "rows"),
)
case("entries-head-wrong-length", lambda ctx: bt(entries=pl.col("pred").head(5) > 0.6), Raises(DataError, "`entries`"))
case("exits-unique-wrong-length", lambda ctx: bt(exits=pl.col("asset").unique() == "A0"), Raises(DataError, "`exits`"))
case("entries-schema-error", lambda ctx: bt(entries=pl.col("pred").str.len_chars() > 1), Raises(DataError, "`entries`"))
case("exits-runtime-cast-error", lambda ctx: bt(exits=pl.col("asset").cast(pl.Int64) > 0), Raises(DataError, "`exits`"))
case(
    "entries-python-udf-raises",
    lambda ctx: bt(entries=pl.col("pred").map_batches(lambda s: 1 / 0, return_dtype=pl.Boolean)),
    Raises(DataError, "`entries`", "ZeroDivisionError"),
)
case(
    "entries-aggregate-broadcasts",
    lambda ctx: bt(entries=pl.col("pred").mean() > 0.3, exits=pl.col("pred") < 0.2),
    Same(lambda ctx: bt(entries=pl.lit(True), exits=pl.col("pred") < 0.2)),
)


def _same_close_warns(res):
    assert res.trades.height > 0


case(
    "fill-same_close-warns",
    lambda ctx: bt(fill="same_close"),
    Check(_same_close_warns, warns=("LookAheadWarning", "same_close")),
)

# a column read twice in one expression (lead: must just work). The other signals read only
# price columns, so the expression under test is the first to read `pred`.
P3 = P.with_columns(pred2=pl.col("pred"), pred3=pl.col("pred"))
OC = dict(entries=pl.col("close") > pl.col("open"), exits=pl.col("close") < pl.col("open"))
TWICE = [
    ("shift", pl.col("pred") > pl.col("pred").shift(1), pl.col("pred") > pl.col("pred2").shift(1)),
    (
        "zscore",
        (pl.col("pred") - pl.col("pred").mean()) / pl.col("pred").std() > 0.5,
        (pl.col("pred") - pl.col("pred2").mean()) / pl.col("pred3").std() > 0.5,
    ),
    (
        "rank",
        pl.col("pred").rank() / pl.col("pred").count() > 0.7,
        pl.col("pred").rank() / pl.col("pred2").count() > 0.7,
    ),
]
for _name, _twice, _copy in TWICE:
    case(
        f"column-twice-entries-{_name}",
        lambda ctx, e=_twice: bt(entries=e),
        Same(lambda ctx, e=_copy: bt(P3, entries=e)),
    )
    case(
        f"column-twice-exits-{_name}",
        lambda ctx, e=_twice: bt(entries=OC["entries"], exits=~e),
        Same(lambda ctx, e=_copy: bt(P3, entries=OC["entries"], exits=~e)),
    )
case(
    "column-twice-short_entries",
    lambda ctx: bt(entries=None, exits=None, short_entries=pl.col("pred") < pl.col("pred").shift(1)),
    Same(lambda ctx: bt(P3, entries=None, exits=None, short_entries=pl.col("pred") < pl.col("pred2").shift(1))),
)
case(
    "column-twice-over-asset",
    lambda ctx: bt(entries=pl.col("pred") > pl.col("pred").rolling_mean(5).over("asset")),
    Same(lambda ctx: bt(P3, entries=pl.col("pred") > pl.col("pred2").rolling_mean(5).over("asset"))),
)
case(
    "column-twice-stop_loss",
    lambda ctx: bt(**OC, stop_loss=0.02 + 0.0 * pl.col("pred") * pl.col("pred")),
    Same(lambda ctx: bt(P3, **OC, stop_loss=0.02 + 0.0 * pl.col("pred") * pl.col("pred2"))),
)
case(
    "column-twice-take_profit_price",
    lambda ctx: bt(**OC, take_profit_price=pl.col("close") * (1.02 + 0.0 * pl.col("pred") * pl.col("pred"))),
    Same(lambda ctx: bt(P3, **OC, take_profit_price=pl.col("close") * (1.02 + 0.0 * pl.col("pred") * pl.col("pred2")))),
)
case(
    "column-twice-priority",
    lambda ctx: bt(**OC, priority=pl.col("pred") - pl.col("pred").mean(), size=0.5),
    Same(lambda ctx: bt(P3, **OC, priority=pl.col("pred") - pl.col("pred2").mean(), size=0.5)),
)

# =============================================================================================
# 8. NaN in prediction columns read by expressions (lead: NaN = null, plus a DataWarning)
# =============================================================================================
NAN_ROWS = list(range(R, 90, 4))  # 12 rows, the first at (A1, TS)
P_NAN = setv(P, "pred", NAN_ROWS, NAN)
P_NULL = setv(P, "pred", NAN_ROWS, None, pl.Float64)
NAN_WARN = ("DataWarning", "'pred'", "NaN", str(len(NAN_ROWS)), SYM, TS)
case(
    "DataWarning-is-a-UserWarning",
    lambda ctx: vec.DataWarning,
    Check(lambda cls: _assert(issubclass(cls, UserWarning) and "DataWarning" in vec.__all__)),
)
case(
    "nan-pred-entries",
    lambda ctx: bt(P_NAN, entries=pl.col("pred") > 0.6, exits=OC["exits"]),
    Same(lambda ctx: bt(P_NULL, entries=pl.col("pred") > 0.6, exits=OC["exits"]), warns=NAN_WARN),
)
case(
    "nan-pred-exits",
    lambda ctx: bt(P_NAN, entries=OC["entries"], exits=pl.col("pred") < 0.4),
    Same(lambda ctx: bt(P_NULL, entries=OC["entries"], exits=pl.col("pred") < 0.4), warns=NAN_WARN),
)
case(
    "nan-pred-short_entries",
    lambda ctx: bt(P_NAN, entries=None, exits=None, short_entries=pl.col("pred") > 0.6, short_exits=OC["entries"]),
    Same(
        lambda ctx: bt(P_NULL, entries=None, exits=None, short_entries=pl.col("pred") > 0.6, short_exits=OC["entries"]),
        warns=NAN_WARN,
    ),
)
case(
    "nan-pred-priority",
    lambda ctx: bt(P_NAN, **OC, priority="pred", size=0.5),
    Same(lambda ctx: bt(P_NULL, **OC, priority="pred", size=0.5), warns=NAN_WARN),
)
SLF = P.with_columns(slf=pl.lit(0.01))
case(
    "nan-rule-column-stop_loss",
    lambda ctx: bt(setv(SLF, "slf", NAN_ROWS, NAN), stop_loss="slf"),
    Same(
        lambda ctx: bt(setv(SLF, "slf", NAN_ROWS, None, pl.Float64), stop_loss="slf"),
        warns=("DataWarning", "'slf'", SYM, TS),
    ),
)
case(
    "nan-signals-frame",
    lambda ctx: bts(setv(SIG, "score", NAN_ROWS, NAN), exits=OC["exits"]),
    Same(
        lambda ctx: bts(setv(SIG, "score", NAN_ROWS, None, pl.Float64), exits=OC["exits"]),
        warns=("DataWarning", "'score'", SYM, TS),
    ),
)
case(
    "nan-pred-sweep",
    lambda ctx: sw(P_NAN, exits=OC["exits"]),
    Same(lambda ctx: sw(P_NULL, exits=OC["exits"]), key=results_key, warns=NAN_WARN),
)

# =============================================================================================
# 9. per-bar rule values (lead: stop_loss / trailing_stop in (0, 1], take_profit in (0, 100],
#    price levels finite > 0; outside: DataError naming rule, symbol, timestamp; null/NaN: no level)
# =============================================================================================
RULE_BAD = [
    ("stop_loss", 0.0), ("stop_loss", 1.5), ("stop_loss", INF), ("trailing_stop", 2.0), ("trailing_stop", 0.0),
    ("trailing_stop", -0.03), ("take_profit", 150.0), ("take_profit", 0.0), ("take_profit", -INF),
    ("stop_loss_price", INF), ("stop_loss_price", -5.0), ("take_profit_price", 0.0),
]  # fmt: skip
for _k, _v in RULE_BAD:
    case(
        f"rule-expr-{_k}={_v!r}-at-one-row",
        lambda ctx, k=_k, v=_v: bt(
            SLF,
            **{
                k: pl.when(pl.int_range(pl.len()) == R)
                .then(pl.lit(v))
                .otherwise(
                    pl.col("close") * 0.9
                    if k == "stop_loss_price"
                    else pl.col("close") * 1.1
                    if k == "take_profit_price"
                    else pl.col("slf")
                )
            },
        ),  # fmt: skip
        Raises(DataError, f"`{_k}`", SYM, TS),
    )
case(
    "rule-expr-all-null-is-no-level",
    lambda ctx: bt(stop_loss=pl.lit(None, dtype=pl.Float64), take_profit_price=pl.lit(None, dtype=pl.Float64)),
    Same(lambda ctx: bt()),
)
case("rule-expr-boolean", lambda ctx: bt(stop_loss=pl.col("pred") > 0.5), Raises(DataError, "`stop_loss`"))
case("rule-expr-string-column", lambda ctx: bt(stop_loss="asset"), Raises(DataError, "`stop_loss`"))
case("rule-expr-wrong-length", lambda ctx: bt(stop_loss=pl.col("pred").head(3) * 0.1), Raises(DataError, "`stop_loss`"))
case("priority-wrong-length", lambda ctx: bt(priority=pl.col("pred").head(3)), Raises(DataError, "`priority`"))
case("priority-string-column", lambda ctx: bt(priority="asset"), Raises(DataError, "`priority`"))
case(
    "rule-expr-raises",
    lambda ctx: bt(take_profit=pl.col("pred").map_batches(lambda s: 1 / 0, return_dtype=pl.Float64)),
    Raises(DataError, "`take_profit`"),
)
# per-asset dicts
case(
    "rule-dict-unknown-asset",
    lambda ctx: bt(stop_loss={"A9": 0.05}),
    Raises(DataError, "`stop_loss`", "'A9'"),
)
case("rule-dict-negative", lambda ctx: bt(stop_loss={"A0": -0.05}), Raises(ConfigError, "`stop_loss", "A0"))
case("rule-dict-string-value", lambda ctx: bt(take_profit={"A0": "0.1"}), Raises(ConfigError, "`take_profit", "A0"))
case("rule-dict-above-one", lambda ctx: bt(trailing_stop={"A1": 1.5}), Raises(ConfigError, "`trailing_stop", "A1"))
case("rule-dict-empty", lambda ctx: bt(stop_loss={}), Raises(ConfigError, "`stop_loss`"))
case("rule-dict-int-key-for-string-assets", lambda ctx: bt(stop_loss={0: 0.05}), Raises(DataError, "`stop_loss`", "0"))
case("rule-dict-all-none-is-no-level", lambda ctx: bt(stop_loss={"A0": None, "A1": None}), Same(lambda ctx: bt()))

# =============================================================================================
# 10. panel sizing (lead: shared cash, no size= -> 1 / n_assets of equity; else all in)
# =============================================================================================
case("default-size-panel-equal-weight", lambda ctx: bt(), Same(lambda ctx: bt(size=1 / 3)))
case("default-size-single-asset-all-in", lambda ctx: bt(P1), Same(lambda ctx: bt(P1, size=1.0)))
case(
    "default-size-independent-all-in",
    lambda ctx: bt(cash_sharing=False),
    Same(lambda ctx: bt(cash_sharing=False, size=1.0)),
)

# =============================================================================================
# 11. sweep
# =============================================================================================
case(
    "sweep-params-empty-dict",
    lambda ctx: sw(params={}, entries=pl.col("pred") > 0.6),
    Raises(ConfigError, "empty"),
)
case("sweep-params-empty-values", lambda ctx: sw(params={"t": []}), Raises(ConfigError, "empty"))
case("sweep-where-drops-all", lambda ctx: sw(where=lambda p: p.t > 1), Raises(ConfigError, "empty"))
case("sweep-params-string", lambda ctx: sw(params="t"), Raises(ConfigError, "`params`"))
case("sweep-params-list-mixed-keys", lambda ctx: sw(params=[{"t": 0.5}, {"u": 0.6}]), Raises(ConfigError, "`params`"))
case("sweep-unused-parameter", lambda ctx: sw(params={"t": [0.6], "unused": [1, 2]}), Raises(ConfigError, "'unused'"))
case(
    "sweep-misspelt-setting-in-grid",
    lambda ctx: sw(params={"t": [0.6], "stop_los": [0.02, 0.05]}),
    Raises(ConfigError, "'stop_los'", "Did you mean 'stop_loss'"),
)
case(
    "sweep-misspelt-setting-keyword",
    lambda ctx: sw(stop_los=0.05),
    Raises(ConfigError, "'stop_los'", "Did you mean 'stop_loss'"),
)
case(
    "sweep-misspelt-signal-keyword",
    lambda ctx: sw(entires=pl.col("pred") > 0.6),
    Raises(ConfigError, "'entires'", "Did you mean 'entries'"),
)
case(
    "sweep-swept-fixed-setting-fill",
    lambda ctx: sw(params={"t": [0.6], "fill": ["next_open", "next_close"]}),
    Raises(ConfigError, "`fill`"),
)
case(
    "sweep-swept-fixed-setting-cash_sharing",
    lambda ctx: sw(params={"t": [0.6], "cash_sharing": [True, False]}),
    Raises(ConfigError, "`cash_sharing`"),
)
case(
    "sweep-setting-swept-and-fixed",
    lambda ctx: sw(params={"t": [0.6], "fees": [0.0, 0.001]}, fees=0.001),
    Raises(ConfigError, "`fees`"),
)
for _v in (0, -252, NAN, INF, "252", True):
    case(
        f"sweep-periods_per_year={_v!r}",
        lambda ctx, v=_v: sw(periods_per_year=v),
        Raises(ConfigError, "`periods_per_year`"),
    )
for _v in (0, 1.5, True, "10"):
    case(f"sweep-batch_size={_v!r}", lambda ctx, v=_v: sw(batch_size=v), Raises(ConfigError, "`batch_size`"))
for _v in (0, -1, True, 1.5):
    case(f"sweep-n_jobs={_v!r}", lambda ctx, v=_v: sw(n_jobs=v), Raises(ConfigError, "`n_jobs`"))
for _v in (0, True, 2.5):
    case(
        f"sweep-sample={_v!r}",
        lambda ctx, v=_v: sw(params={"t": [0.5, 0.6, 0.7]}, sample=v),
        Raises(ConfigError, "`sample`"),
    )


def _checkpoint_file(ctx):
    f = _write_text(ctx.dir("ckpt") / "existing.txt", "a file")
    return sw(checkpoint=f)


def _checkpoint_under_file(ctx):
    f = _write_text(ctx.dir("ckpt2") / "afile", "a file")
    return sw(checkpoint=f / "sub")


case("sweep-checkpoint-is-a-file", _checkpoint_file, Raises(ConfigError, "`checkpoint`", "existing.txt"))
case("sweep-checkpoint-under-a-file", _checkpoint_under_file, Raises(ConfigError, "`checkpoint`", "afile"))
case("sweep-executor-string", lambda ctx: sw(executor="process"), Raises(ConfigError, "`executor`"))
case("sweep-executor-object", lambda ctx: sw(executor=object()), Raises(ConfigError, "`executor`"))


def _fork_pool(ctx):
    pool = cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))
    try:
        return sw(executor=pool)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


case("sweep-executor-fork-pool", _fork_pool, Raises(ConfigError, "spawn"))
case("sweep-where-raises", lambda ctx: sw(where=lambda p: 1 / 0), Raises(ConfigError, "`where`", "ZeroDivisionError"))
case("sweep-where-returns-expr", lambda ctx: sw(where=lambda p: pl.col("pred") > p.t), Raises(ConfigError, "`where`"))
case("sweep-where-not-callable", lambda ctx: sw(where=True), Raises(ConfigError, "`where`"))
case(
    "sweep-callable-raises",
    lambda ctx: sw(entries=lambda p: pl.col("pred") > p.t / 0),
    Raises(ConfigError, "entries", "combination 0", "ZeroDivisionError"),
)
case(
    "sweep-callable-parameter-typo",
    lambda ctx: sw(entries=lambda p: pl.col("pred") > p.tt),
    Raises(ConfigError, "'tt'", "Did you mean 't'"),
)
case(
    "sweep-callable-non-boolean",
    lambda ctx: sw(entries=lambda p: pl.col("pred") * p.t),
    Raises(DataError, "entries", "Boolean"),
)
case(
    "sweep-callable-returns-number",
    lambda ctx: sw(entries=lambda p: p.t),
    Raises((DataError, ConfigError), "entries", "combination 0"),
)
case(
    "sweep-callable-wrong-length",
    lambda ctx: sw(entries=lambda p: pl.col("pred").head(5) > p.t),
    Raises(DataError, "entries", "combination 0"),
)
case(
    "sweep-callable-unknown-column",
    lambda ctx: sw(entries=lambda p: pl.col("prd") > p.t),
    Raises(DataError, "entries", "'prd'", "combination 0"),
)
case(
    "sweep-callable-column-twice-shift",
    lambda ctx: sw(exits=OC["exits"], entries=lambda p: pl.col("pred") > pl.col("pred").shift(1) + p.t - 0.6),
    Same(
        lambda ctx: sw(P3, exits=OC["exits"], entries=lambda p: pl.col("pred") > pl.col("pred2").shift(1) + p.t - 0.6),
        key=results_key,
    ),
)
case(
    "sweep-callable-column-twice-zscore",
    lambda ctx: sw(
        exits=OC["exits"], entries=lambda p: (pl.col("pred") - pl.col("pred").mean()) / pl.col("pred").std() > p.t - 0.5
    ),
    Same(
        lambda ctx: sw(
            P3,
            exits=OC["exits"],
            entries=lambda p: (pl.col("pred") - pl.col("pred2").mean()) / pl.col("pred3").std() > p.t - 0.5,
        ),
        key=results_key,
    ),
)
case(
    "sweep-fixed-rule-expr-column-twice",
    lambda ctx: sw(**OC, params={"fees": [0.0, 0.001]}, stop_loss=0.02 + 0.0 * pl.col("pred") * pl.col("pred")),
    Same(
        lambda ctx: sw(
            P3, **OC, params={"fees": [0.0, 0.001]}, stop_loss=0.02 + 0.0 * pl.col("pred") * pl.col("pred2")
        ),
        key=results_key,
    ),
)
case(
    "sweep-fixed-rule-expr-out-of-range",
    lambda ctx: sw(stop_loss=pl.lit(2.0) + 0.0 * pl.col("pred")),
    Raises(DataError, "`stop_loss`"),
)
case(
    "sweep-swept-stop_loss-zero",
    lambda ctx: sw(params={"t": [0.6], "stop_loss": [0.0, 0.05]}),
    Raises(ConfigError, "combination 0", "`stop_loss`"),
)
case("sweep-rule-as-callable", lambda ctx: sw(stop_loss=lambda p: 0.05), Raises(ConfigError, "`stop_loss`"))
case(
    "sweep-preset-misspelt",
    lambda ctx: sw(preset="vectrobt"),
    Raises(ConfigError, "`preset`", "Did you mean 'vectorbt'"),
)
case("sweep-per_asset-shared-cash", lambda ctx: sw(per_asset=True), Raises(ConfigError, "per_asset", "cash_sharing"))
case(
    "sweep-param-named-combo",
    lambda ctx: sw(entries=lambda p: pl.col("pred") > p.combo, params={"combo": [0.5, 0.6]}),
    Raises(ConfigError, "'combo'"),
)
case(
    "sweep-param-named-metric",
    lambda ctx: sw(entries=lambda p: pl.col("pred") > p.sharpe, params={"sharpe": [0.5, 0.6]}),
    Raises(ConfigError, "'sharpe'"),
)
case("sweep-prices-csv", lambda ctx: sw(_csv_file(ctx)), Raises(DataError, "`prices`", "prices.csv"))
case(
    "sweep-best-unknown-metric",
    lambda ctx: sw().best("sharpee"),
    Raises(ConfigError, "'sharpee'", "Did you mean 'sharpe'"),
)
case("sweep-backtest-unknown-set", lambda ctx: sw().backtest(t=0.99), Raises(ConfigError, "0.99"))

# =============================================================================================
# 12. stats()
# =============================================================================================
for _v in (0, -1, NAN, INF, "252", True):
    case(f"stats-periods_per_year={_v!r}", lambda ctx, v=_v: stats_of(v), Raises(ConfigError, "`periods_per_year`"))
case("stats-numpy-int-periods", lambda ctx: stats_of(np.int64(252)), Same(lambda ctx: stats_of(252), key=lambda s: s))
case(
    "stats-numpy-float32-periods",
    lambda ctx: stats_of(np.float32(252)),
    Same(lambda ctx: stats_of(252), key=lambda s: s),
)


# =============================================================================================
# 13. fingerprints (lead: config_hash = config only; fingerprint = signals + settings + data)
# =============================================================================================
def _fingerprints(ctx):
    a = bt(entries=pl.col("pred") > 0.6)
    b = bt(entries=pl.col("pred") > 0.7)
    c = bt(entries=pl.col("pred") > 0.6, exits=pl.col("pred") < 0.3)
    return a, b, c, bt(entries=pl.col("pred") > 0.6)


def _check_strategies(r):
    a, b, c, a2 = r
    assert a.config_hash == b.config_hash == c.config_hash, "config_hash must digest the config only"
    fps = [x.fingerprint for x in (a, b, c)]
    assert len(set(fps)) == 3, f"three strategies, fingerprints {fps}"
    assert a2.fingerprint == a.fingerprint, "the same strategy twice must get the same fingerprint"


def _check_data_and_settings(r):
    base, other_data, other_setting = r
    assert other_data.fingerprint != base.fingerprint, "the data differ"
    assert other_setting.fingerprint != base.fingerprint, "the settings differ"


case("fingerprint-strategies", _fingerprints, Check(_check_strategies))
case(
    "fingerprint-data-and-settings",
    lambda ctx: (bt(), bt(setv(P, "close", 5, P["close"][5] * 1.0001)), bt(fees=0.001)),
    Check(_check_data_and_settings),
)


# =============================================================================================
@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    return Ctx(tmp_path_factory.mktemp("catalogue"))


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_catalogue(c: Case, ctx):
    if c.needs:
        pytest.importorskip(c.needs, reason=f"{c.needs} not installed (the case builds its input with it)")
    problems = _check_raises(c, ctx) if isinstance(c.expect, Raises) else _check_policy(c, ctx)
    if problems and os.environ.get("ML4T_CATALOGUE_REPORT"):  # one JSON line per failing case
        with open(os.environ["ML4T_CATALOGUE_REPORT"], "a") as f:
            f.write(json.dumps({"id": c.id, "problems": problems}) + "\n")
    assert not problems, "\n".join(problems)


def test_catalogue_size():
    assert len(CASES) >= 200, len(CASES)
