"""Parameter sweeps: many parameter sets over one prepared frame, metrics reduced per set.

``sweep`` prepares the price frame once. Then, batch by batch, it evaluates the signal
expressions of every parameter set in one Polars pass and runs the kernels with one *column* per
(asset, parameter set) and one parallel chunk per parameter set. Each set's portfolio series
(cash, net, gross per bar) is reduced to metrics in ``_kernels/reduce.py``. Memory is bounded by
the batch size, not by the number of combinations, and finished batches can be checkpointed to
Parquet and resumed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import itertools
import json
import os
import random
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numba
import numpy as np
import polars as pl

from ml4t_vec import _batch, _distributed, _lower, _rebalance, api
from ml4t_vec._kernels.grid import first_bad_bar_nb
from ml4t_vec._kernels.launch import count_entries_nb, driver, order_model, resting_of
from ml4t_vec._kernels.rebalance import rebalance_nb
from ml4t_vec._kernels.reduce import series_metrics_nb, trade_metrics_nb
from ml4t_vec._kernels.warmup import CompileNotice
from ml4t_vec._prepare import prepare
from ml4t_vec.errors import ConfigError, did_you_mean
from ml4t_vec.metrics import check_periods_per_year, infer_periods_per_year
from ml4t_vec.weights import HoldAwareTopK

SIGNALS = ("entries", "exits", "short_entries", "short_exits")
METRICS = _batch.METRICS
# settings that shape the prepared frame: one value for the whole sweep
_FIXED = ("fill", "price", "cash_sharing", "session_exit", "priority", "impact")
_SETTINGS = _lower.SETTINGS


class Params(Mapping):
    """One parameter set: a read-only mapping with attribute access (``p.fast``).

    ``read`` collects the names a callable reads (a sweep refuses a parameter nothing reads)."""

    __slots__ = ("_d", "_read")

    def __init__(self, d: dict, read: set | None = None):
        object.__setattr__(self, "_d", dict(d))
        object.__setattr__(self, "_read", read if read is not None else set())

    def __getattr__(self, name):
        try:
            value = self._d[name]
        except KeyError:
            raise AttributeError(
                f"parameter {name!r} is not in the grid{did_you_mean(name, list(self._d))} "
                f"(parameters: {', '.join(self._d)})"
            ) from None
        self._read.add(name)
        return value

    def __getitem__(self, k):
        value = self._d[k]
        self._read.add(k)
        return value

    def __iter__(self):
        self._read.update(self._d)  # iterated (``**p``, ``dict(p)``): count every name as read
        return iter(self._d)

    def __len__(self):
        return len(self._d)

    def __repr__(self):
        return "Params(" + ", ".join(f"{k}={v!r}" for k, v in self._d.items()) + ")"


def param_grid(params, where: Callable | None = None, sample: int | None = None, seed: int = 0) -> list[dict]:
    """The parameter sets of a sweep.

    ``params``: a dict of name -> values (the full product, in order) or a list of dicts (explicit
    sets). ``where``: keep the sets for which ``where(p)`` is true. ``sample``: a random sample
    of that many sets (seeded, in grid order).
    """
    if isinstance(params, Mapping) and not params:
        raise ConfigError("`params` is empty: nothing to sweep (use `backtest` for one parameter set).")
    if where is not None and not callable(where):
        raise ConfigError(f"`where` must be a callable p -> bool; got {type(where).__name__}.")
    if isinstance(params, Mapping):
        names = list(params)
        values = []
        for k in names:
            v = params[k]
            if isinstance(v, (str, bytes)) or not isinstance(v, Iterable):
                v = [v]
            values.append(list(v))
        combos = [dict(zip(names, c, strict=True)) for c in itertools.product(*values)]
    elif isinstance(params, (list, tuple)) and all(isinstance(c, Mapping) for c in params):
        combos = [dict(c) for c in params]
        if combos and any(set(c) != set(combos[0]) for c in combos):
            raise ConfigError("`params` as a list needs the same parameter names in every set.")
    else:
        raise ConfigError(f"`params` must be a dict of name -> values or a list of dicts; got {type(params).__name__}.")
    if where is not None:
        kept = []
        for i, c in enumerate(combos):
            try:
                ok = where(Params(c))
            except Exception as e:  # a user callable: name the combination
                raise ConfigError(f"`where` failed for combination {i} {c}: {type(e).__name__}: {e}") from None
            if not isinstance(ok, (bool, np.bool_)):
                raise ConfigError(
                    f"`where` must return True or False; got {type(ok).__name__} for combination {i} {c} (compare "
                    "parameters with Python operators, e.g. lambda p: p.fast < p.slow)."
                )
            if ok:
                kept.append(c)
        combos = kept
    if sample is not None:
        if not _whole(sample) or sample < 1:
            raise ConfigError(f"`sample` must be a whole number >= 1; got {sample!r}.")
        if sample < len(combos):
            keep = sorted(random.Random(seed).sample(range(len(combos)), sample))
            combos = [combos[i] for i in keep]
    if not combos:
        raise ConfigError("the parameter grid is empty (after `where` / `sample`): nothing to sweep.")
    return combos


def _whole(x) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _signals_of(spec: dict, p: dict, i: int, read: set | None = None) -> dict:
    """The signal expressions (or weights) of parameter set ``i``; ``read`` collects the
    parameters read."""
    out = {}
    for name, s in spec.items():
        if callable(s) and not isinstance(s, (pl.Expr, HoldAwareTopK)):
            try:
                out[name] = s(Params(p, read))
            except AttributeError as e:
                raise ConfigError(f"`{name}` failed for combination {i} {p}: {e}") from None
            except Exception as e:  # a user callable: name the combination, keep the cause
                raise ConfigError(f"`{name}` failed for combination {i} {p}: {type(e).__name__}: {e}") from e
            if not isinstance(out[name], (pl.Expr, str, HoldAwareTopK if name == "weights" else str)):
                raise ConfigError(
                    f"`{name}` must return a polars expression or a column name; got {type(out[name]).__name__} "
                    f"{out[name]!r} for combination {i} {p}."
                )
        else:
            out[name] = s
    return out


def _data_hash(prep) -> str:
    """Fingerprint of the prepared data: prices, time axis and symbols."""
    h = hashlib.sha256()
    for a in prep.prices:
        h.update(np.ascontiguousarray(a).data)
    h.update(prep.timestamps.cast(pl.Int64).to_numpy().tobytes())
    h.update(json.dumps(prep.symbols.cast(pl.String).to_list()).encode())
    return h.hexdigest()


def _fingerprint(data_hash, combos, exprs, settings, batch_size, ppy) -> str:
    blob = dict(data=data_hash, combos=combos, exprs=[{k: str(v) for k, v in e.items()} for e in exprs],
                settings={k: str(v) for k, v in sorted(settings.items())}, batch=batch_size, ppy=ppy)  # fmt: skip
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()[:24]


class SweepResult:
    """What ``sweep`` returns.

    Attributes:
        results: one row per parameter set: ``combo`` (its index), the parameters, then the
            metrics (``ml4t_vec.metrics.STATS_DOC``; the same numbers ``backtest(...).stats()``
            gives for that set).
        asset_results: with ``per_asset=True``, one row per (set, asset): ``combo``, the
            parameters, ``asset``, then the metrics of that asset's account; else None.
        params: the parameter sets, in order.
        timings: seconds spent preparing, evaluating signals, in the kernels and reducing; and
            how many batches were run and how many were read back from a checkpoint.
    """

    def __init__(self, results: pl.DataFrame, combos: list[dict], rerun: Callable, timings: dict,
                 asset_results: pl.DataFrame | None = None):  # fmt: skip
        self.results = results
        self.asset_results = asset_results
        self.params = combos
        self._rerun = rerun
        self.timings = timings

    def best(self, metric: str = "sharpe", n: int = 10, descending: bool | None = None) -> pl.DataFrame:
        """The ``n`` best parameter sets by ``metric`` (highest first; lowest first for
        ``max_drawdown``-like metrics pass ``descending=False``). NaN ranks last."""
        if metric not in self.results.columns:
            raise ConfigError(f"unknown metric {metric!r}.{did_you_mean(metric, list(self.results.columns))}")
        desc = True if descending is None else descending
        return self.results.sort(pl.col(metric).fill_nan(None), descending=desc, nulls_last=True).head(n)

    def backtest(self, **params) -> api.BacktestResult:
        """The full backtest (trades, fills, equity) of one parameter set, by its values."""
        names = list(self.params[0])
        if set(params) != set(names):
            raise ConfigError(f"give every parameter of the grid: {names}; got {sorted(params)}.")
        for c in self.params:
            if all(c[k] == params[k] for k in names):
                return self._rerun(c)
        raise ConfigError(f"{params} is not a parameter set of this sweep.")

    def plot_heatmap(self, x: str, y: str, metric: str = "sharpe", *, fixed: dict | None = None,
                     agg: str | None = None, ax=None, **kw):  # fmt: skip
        """``metric`` over the (x, y) parameter grid (matplotlib: ``pip install 'ml4t-vec[plot]'``).

        Other parameters are held with ``fixed={"stop_loss": 0.05}`` or reduced with
        ``agg="max" | "min" | "mean" | "median"``; without either, a repeated (x, y) cell is a
        ``ConfigError``. Sets missing from the grid (``where=``) stay blank. Returns the Axes."""
        from ml4t_vec.plots import heatmap

        return heatmap(self.results, x, y, metric, fixed=fixed, agg=agg, ax=ax, **kw)

    def heatmap(self, x: str, y: str, metric: str = "sharpe", *, slider: str | None = None,
                fixed: dict | None = None, agg: str | None = None):  # fmt: skip
        """``metric`` over the (x, y) parameter grid as an interactive plotly heatmap (extra
        ``plot``); ``slider="stop_loss"`` adds a slider over a third parameter. ``fixed`` and
        ``agg`` as in ``plot_heatmap`` (the matplotlib version, kept for static figures)."""
        from ml4t_vec.figures import sweep_heatmap

        return sweep_heatmap(self.results, x, y, metric, slider=slider, fixed=fixed, agg=agg)

    def __repr__(self) -> str:
        return f"SweepResult({self.results.height} parameter sets, metrics {', '.join(METRICS[:4])}, ...)"


def sweep(
    prices,
    *,
    entries=None,
    exits=None,
    short_entries=None,
    short_exits=None,
    weights=None,
    params,
    where: Callable | None = None,
    sample: int | None = None,
    seed: int = 0,
    batch_size: int | None = None,
    checkpoint: str | os.PathLike | None = None,
    progress: bool | None = None,
    periods_per_year: float | None = None,
    n_jobs: int | None = None,
    executor=None,
    per_asset: bool = False,
    asset_col: str | None = None,
    timestamp_col: str = "timestamp",
    **settings,
) -> SweepResult:
    """Backtest every parameter set of a grid; one row of metrics per set.

    Args:
        prices: as for ``backtest``.
        entries, exits, short_entries, short_exits: a ``pl.Expr`` / column name (the same for
            every set), or a callable ``p -> pl.Expr`` of the parameter set (``p.fast``).
        weights: instead of signals, target weights (``backtest(weights=...)``): an expression
            or column, or a callable of the parameter set (``lambda p: vec.weights.top_k(score,
            p.k)``; a hold-aware ``top_k(..., buffer=)`` too). ``rebalance`` (not as an
            expression), ``drift_band``, the thresholds, ``lot_size``, costs and the other
            weight settings can be dimensions. One portfolio run per set, the sets spread over
            the kernel threads.
        params: dict of name -> values (full product) or a list of dicts. A name that is a
            ``backtest`` keyword (``stop_loss``, ``fees``, ``size``...) sets it per combination;
            other names are for the callables.
        where: keep the sets with ``where(p)`` true. sample, seed: a random sample of n sets.
        batch_size: parameter sets per kernel call (default: about 256 MB of working memory).
            Memory grows with it, not with the number of sets.
        checkpoint: a directory. Each finished batch is written there as Parquet; a sweep started
            again with the same arguments recomputes only the missing batches. A directory holding
            another sweep (other data, grid or settings) is refused.
        progress: show a progress bar (tqdm, if installed); default on a terminal, off in CI.
        periods_per_year: annualisation, as for ``stats()``.
        n_jobs: kernel threads for this sweep (default: all of numba's, i.e. every core); with an
            executor, kernel threads per batch (default 1: the executor's workers are the
            parallelism).
        per_asset: also report every asset of every set (``SweepResult.asset_results``): with
            independent accounts (``cash_sharing=False``) each asset's account is a portfolio of
            its own, and gets the same metrics on the sweep's time axis.
        executor: run the batches on a ``concurrent.futures.Executor`` (a process pool made with
            the ``spawn`` context; threads gain nothing) or a Dask ``distributed.Client``. Each
            batch ships its parameter sets and a reference to the data (a Parquet path, or Arrow
            bytes scattered once to each Dask worker), never a pickled frame. Results, checkpoints
            and errors are the same as a local sweep.
        **settings: any other ``backtest`` keyword, the same for every set.

    Returns:
        ``SweepResult`` with ``results``, ``best()`` and ``backtest(**params)``.

    Example:
        >>> import ml4t_vec as vec
        >>> prices = vec.synthetic_prices(n_assets=1, n_bars=300, seed=1)
        >>> ma = lambda n: pl.col("close").rolling_mean(n).over("asset")
        >>> g = vec.sweep(prices, entries=lambda p: ma(p.fast) > ma(p.slow),
        ...               exits=lambda p: ma(p.fast) < ma(p.slow),
        ...               params={"fast": [5, 10], "slow": [20, 50]}, fees=0.001)
        >>> g.results.height
        4
    """
    t0 = time.perf_counter()
    unknown = [k for k in settings if k not in _SETTINGS and k != "preset"]
    if unknown:
        known = [k for k in inspect.signature(sweep).parameters if k not in ("prices", "settings")] + list(_SETTINGS)
        raise ConfigError(f"`sweep` got an unknown keyword argument {unknown[0]!r}.{did_you_mean(unknown[0], known)}")
    ppy_given = None if periods_per_year is None else check_periods_per_year(periods_per_year)
    spec = {k: v for k, v in zip(SIGNALS, (entries, exits, short_entries, short_exits), strict=True) if v is not None}
    if weights is not None:
        if spec:
            raise ConfigError(f"pass either `weights=` or signals, not both; got `weights` and {sorted(spec)}.")
        spec = {"weights": weights}
    elif "entries" not in spec and "short_entries" not in spec:
        raise ConfigError(
            "`sweep` needs `entries=` or `short_entries=` (an expression or a callable of p), or `weights=`."
        )
    combos = param_grid(params, where, sample, seed)
    taken = [k for k in combos[0] if k in ("combo", "asset", *METRICS)]
    if taken:
        raise ConfigError(
            f"parameter {taken[0]!r} clashes with a column of the results (combo, asset and the metrics); rename it."
        )
    swept = [k for k in combos[0] if k in _SETTINGS]
    for k in swept:
        if k in _FIXED:
            raise ConfigError(
                f"`{k}` cannot be a sweep dimension (it shapes the prepared data); run one sweep per value."
            )
        if k in settings:
            raise ConfigError(f"`{k}` is both a sweep parameter and a fixed setting; give it once.")
    # Prepare evaluates one expression per setting, for every set (and a rule's dict by asset is its
    # per-bar values); a cost's dict by asset is one number per column, like a number
    kinds = lambda k: (pl.Expr, str) if k in _lower.PER_BAR_COSTS else (pl.Expr, str, dict)  # noqa: E731
    per_bar = [k for k in swept if k in _lower.PER_BAR and any(isinstance(c[k], kinds(k)) for c in combos)]
    if per_bar:
        what = "an expression or a column name" if per_bar[0] in _lower.PER_BAR_COSTS else (
            "an expression, a column name or a dict by asset")  # fmt: skip
        raise ConfigError(
            f"`{per_bar[0]}` as a sweep dimension takes numbers (or None); {what} can be a fixed setting (one "
            "sweep per expression)."
        )
    if weights is not None and "rebalance" in swept and any(isinstance(c["rebalance"], pl.Expr) for c in combos):
        raise ConfigError(
            "`rebalance` as a sweep dimension takes 'every_bar', ints, 'W'/'M'/'Q'/'Y' or lists of timestamps; "
            "an expression can be a fixed setting."
        )
    preset = settings.pop("preset", None)
    presets = _lower.WEIGHT_PRESETS if weights is not None else _lower.PRESETS
    # every combination's config, validated up front (an error names the combination)
    cfgs, built = [], {}  # sets with the same swept settings share one config
    for i, c in enumerate(combos):
        key = repr([c[k] for k in swept])
        if key not in built:
            given = settings | {k: c[k] for k in swept}
            try:
                built[key] = _lower.build_config(None, given, preset, presets)
                if weights is not None:
                    _rebalance.check(built[key], given)
            except ConfigError as e:
                raise ConfigError(f"combination {i} {c}: {e}") from None
        cfgs.append(built[key])
    base = cfgs[0]
    read: set = set()
    exprs = [_signals_of(spec, c, i, read) for i, c in enumerate(combos)]
    unread = [k for k in combos[0] if k not in read and k not in _SETTINGS]
    if unread:
        k = unread[0]
        raise ConfigError(
            f"parameter {k!r} is read by no signal callable and is not a backtest setting{did_you_mean(k, _SETTINGS)}: "
            "sweeping it would repeat the same backtest. Read it in a callable (p." + k + ") or drop it."
        )

    # the columns every combination's signals use are kept; a missing one names its combination
    extra = {f"{name} (combination {i} {combos[i]})": pl.col(v) if isinstance(v, str) else v.rank()
             if isinstance(v, HoldAwareTopK) else v for i, e in enumerate(exprs) for name, v in e.items()
             if isinstance(v, (pl.Expr, str, HoldAwareTopK))}  # fmt: skip
    if executor is not None:
        _distributed.check_executor(executor)
    if per_asset and base.portfolio.cash_sharing:
        raise ConfigError(
            "`per_asset=True` needs independent accounts (cash_sharing=False): in shared cash an asset has no "
            "equity of its own."
        )
    if per_asset and "asset" in combos[0]:
        raise ConfigError("a parameter named 'asset' clashes with the `asset` column of per_asset results.")
    rules = _lower.rule_exprs(base)
    if weights is not None and isinstance(base.rebalance.rebalance, pl.Expr):
        rules["rebalance"] = base.rebalance.rebalance
    prep_kw = dict(fill=base.execution.fill, price=base.execution.price, asset_col=asset_col,
                   timestamp_col=timestamp_col, rule_exprs=rules, session_exit=base.risk.session_exit)  # fmt: skip
    notice = CompileNotice("the sweep kernels")  # a first run after installing compiles them: say so
    notice.check(first_bad_bar_nb)
    prep = prepare(prices, keep_frame=True, extra_exprs=extra, **prep_kw)
    n_assets, n_bars = prep.n_assets, prep.n_bars
    resolved = {id(c): dataclasses.replace(c, sizing=c.sizing.resolved(n_assets, c.portfolio.cash_sharing))
                for c in built.values()}  # fmt: skip
    cfgs = [resolved[id(c)] for c in cfgs]
    base = cfgs[0]
    ppy = infer_periods_per_year(prep.timestamps) if ppy_given is None else ppy_given
    # ~256 MB per batch: series (24 B/bar) + signals and their evaluation (~2 B/cell). Larger
    # batches share more subexpressions (each batch computes a shared rolling mean once).
    if batch_size is None:  # per_asset keeps every column's series (24 B/bar each)
        per_set = n_bars * ((24 if not per_asset else 24 * n_assets) + 2 * n_assets)
        if weights is not None:  # a weight grid, its kernel copy and about a fill per cell (a daily book)
            per_set = n_bars * n_assets * 24
        batch_size = max(1, min(len(combos), (256 << 20) // max(1, per_set)))
    if not _whole(batch_size) or batch_size < 1:
        raise ConfigError(f"`batch_size` must be a whole number >= 1; got {batch_size!r}.")
    batches = [range(s, min(s + batch_size, len(combos))) for s in range(0, len(combos), batch_size)]

    store = None
    if checkpoint is not None:
        store = Path(checkpoint)
        try:
            store.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError(
                f"`checkpoint` must be a directory (it is created if missing); {str(store)!r} cannot be one: "
                f"{e.strerror or e}."
            ) from None
        data_hash = _data_hash(prep)
        fp = _fingerprint(
            data_hash, combos, exprs, settings | {"preset": preset, "per_asset": per_asset}, batch_size, ppy
        )
        manifest = store / "manifest.json"
        if manifest.exists():
            got = json.loads(manifest.read_text())
            if got.get("fingerprint") != fp:
                raise ConfigError(
                    f"checkpoint directory {str(store)!r} holds a different sweep (the data, the grid or the "
                    "settings changed). Use a new directory, or delete this one to start over."
                )
        else:
            manifest.write_text(json.dumps({"fingerprint": fp, "batches": len(batches), "combos": len(combos)}))
    t1 = time.perf_counter()
    timings = {"prepare_s": t1 - t0, "signals_s": 0.0, "kernel_s": 0.0, "reduce_s": 0.0}

    bar = None
    show = progress if progress is not None else (sys.stderr.isatty() and not os.environ.get("CI"))
    if show and len(batches) > 1:
        try:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(combos), desc="sweep", unit="set")
        except ImportError:  # tqdm is optional
            bar = None

    if n_jobs is not None and (not _whole(n_jobs) or n_jobs < 1):
        raise ConfigError(f"`n_jobs` must be a whole number >= 1; got {n_jobs!r}.")
    if executor is None:

        def compute(pending):
            for b, idx in pending:
                yield b, _batch.run_batch(prep, [combos[i] for i in idx], [cfgs[i] for i in idx],
                                          [exprs[i] for i in idx], list(idx), ppy, timings, per_asset)  # fmt: skip

    else:
        key = (data_hash if store is not None else _data_hash(prep)) + repr(sorted(prep_kw.items()))

        def compute(pending):
            for b, df, t in _distributed.run(executor, pending, prep, prep_kw, key, combos, cfgs, exprs, ppy,
                                             n_jobs or 1, store, per_asset):  # fmt: skip
                for name, v in t.items():
                    timings[name] += v
                yield b, df

    if executor is None and weights is not None:
        distinct = {id(c): c for c in cfgs}.values()  # sets with the same swept settings share one config
        notice.check(*((rebalance_nb, *_rebalance.variant(c, prep)) for c in distinct), series_metrics_nb,
                     trade_metrics_nb)  # fmt: skip
    elif executor is None:  # an executor's workers compile (or load) their own
        k = len(batches[0])
        groups = k if base.portfolio.cash_sharing else k * n_assets
        base_params = _lower.order_params(base, 1)  # the base settings' (a swept cash rule may differ)
        model = order_model(base_params, base.risk.scale_out is not None, base.financed)
        notice.check((driver(groups, k * n_assets), model, resting_of(base_params)),
                     count_entries_nb,
                     series_metrics_nb, trade_metrics_nb)  # fmt: skip
    threads = numba.get_num_threads()
    if n_jobs is not None and executor is None:
        numba.set_num_threads(min(n_jobs, numba.config.NUMBA_NUM_THREADS))
    try:
        frames = _run_batches(batches, store, compute, bar, timings)
        notice.done()
    finally:
        numba.set_num_threads(threads)
    if bar is not None:
        bar.close()
    results = pl.concat(frames, how="vertical_relaxed")  # a batch whose parameter is all None is Null-typed
    asset_results = None
    if per_asset:
        asset_results = results.filter(pl.col("asset").is_not_null())
        results = results.filter(pl.col("asset").is_null()).drop("asset")

    def rerun(c: dict) -> api.BacktestResult:
        kw = settings | {k: c[k] for k in swept} | _signals_of(spec, c, combos.index(c))
        return api.backtest(prices, asset_col=asset_col, timestamp_col=timestamp_col, preset=preset, **kw)

    return SweepResult(results, combos, rerun, timings, asset_results)


def _run_batches(batches, store, compute, bar, timings) -> list[pl.DataFrame]:
    """Every batch's rows, in batch order. ``compute`` runs the pending ``(b, idx)`` batches and
    yields ``(b, frame)`` as each finishes (in any order); with a checkpoint ``store``, finished
    parts are read back, not rerun, and each new part is written as soon as it arrives."""
    frames: dict[int, pl.DataFrame] = {}
    pending = []
    timings["batches_resumed"] = timings["batches_run"] = 0
    for b, idx in enumerate(batches):
        part = store / f"part-{b:05d}.parquet" if store is not None else None
        if part is not None and part.exists():
            frames[b] = pl.read_parquet(part)
            timings["batches_resumed"] += 1
            if bar is not None:
                bar.update(len(idx))
        else:
            pending.append((b, idx))
    for b, df in compute(pending):
        if store is not None:  # atomic: a killed run never leaves a half-written part
            part = store / f"part-{b:05d}.parquet"
            tmp = part.with_suffix(".tmp")
            df.write_parquet(tmp)
            os.replace(tmp, part)
        frames[b] = df
        timings["batches_run"] += 1
        if bar is not None:
            bar.update(len(batches[b]))
    return [frames[b] for b in range(len(batches))]
