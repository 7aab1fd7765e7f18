"""Walk-forward evaluation: choose parameters in sample, trade them out of sample, stitch.

``walk_forward(prices, entries=lambda p: ..., params={...}, train=504, test=126)``:

1. Folds over the distinct timestamps: fold k trains on ``train`` bars and tests on the next
   ``test`` bars; the next fold starts ``step`` bars later (default ``test``: the test windows
   tile the data). ``anchored=True`` trains every fold from the first bar (expanding window).
   A last test window shorter than ``test`` is kept.
2. In each fold, ``vec.sweep`` runs the grid on the training bars only and the best set by
   ``select`` (``descending`` as in ``SweepResult.best``) is chosen.
3. Out of sample, each fold's chosen expressions are evaluated on the whole frame (so rolling
   windows at the start of a test window see the bars before it: the warm-up its expressions
   need, never bars after), and each row takes the value of the fold whose test window holds it.
   Swept ``stop_loss``, ``take_profit`` and ``trailing_stop`` values become per-bar columns the
   same way, and a market impact's coefficient (``impact=``) is evaluated over the whole frame
   too, so its inputs' windows are warm at a test window's first bar (each fold's training
   sweep evaluates it over the training bars, as its signals). One backtest over the test
   windows then trades the stitched signals, so the out-of-sample equity curve and trades
   frame are one run: with ``carry=True`` (default) a
   position open at a fold's end carries into the next fold; ``carry=False`` adds an exit
   signal on each asset's last bar of every test window (filled at the next bar, as any signal)
   and no entry there.

Result: ``WalkForwardResult`` with ``folds`` (one row per fold: windows, chosen parameters,
in-sample metric and out-of-sample return and Sharpe), ``result`` (the stitched out-of-sample
``BacktestResult``: ``equity``, ``trades``, ``stats()``, ``report()``) and ``sweeps`` (each
fold's ``SweepResult``). ``efficiency`` is the walk-forward efficiency: mean out-of-sample
Sharpe over mean in-sample Sharpe.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from ml4t_vec import api, sweeps
from ml4t_vec._prepare import _as_lazy, _collect, _impact_expr, _resolve_keys, _schema_names
from ml4t_vec.errors import ConfigError
from ml4t_vec.impact import Precomputed, SquareRootImpact
from ml4t_vec.metrics import infer_periods_per_year
from ml4t_vec.splits import rolling_windows

SIGNALS = ("entries", "exits", "short_entries", "short_exits")
PER_BAR = ("stop_loss", "take_profit", "trailing_stop")  # settings a fold can set per bar


@dataclass(frozen=True, slots=True)
class WalkForwardResult:
    """What ``walk_forward`` returns (module doc)."""

    folds: pl.DataFrame
    result: api.BacktestResult
    sweeps: tuple

    @property
    def efficiency(self) -> float:
        """Mean out-of-sample Sharpe / mean in-sample Sharpe of the chosen sets (NaN if undefined)."""
        oos = self.folds.get_column("oos_sharpe").drop_nans().mean()
        ins = self.folds.get_column("is_sharpe").drop_nans().mean()
        return float(oos / ins) if oos is not None and ins else math.nan

    def stats(self, **kw) -> pl.DataFrame:
        """``stats()`` of the stitched out-of-sample run."""
        return self.result.stats(**kw)

    def __repr__(self) -> str:
        return f"WalkForwardResult({self.folds.height} folds, efficiency {self.efficiency:.2f})\n{self.folds}"


def fold_windows(n: int, train: int, test: int, step: int | None, anchored: bool) -> list[tuple[int, int, int, int]]:
    """(train_start, train_end, test_start, test_end) bar indices, ends exclusive (module doc)."""
    for name, v, lo in (("train", train, 2), ("test", test, 1), ("step", step if step is not None else test, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ConfigError(f"`{name}` must be an int >= {lo} (bars); got {v!r}.")
    if train + 1 > n:
        raise ConfigError(f"`train` + 1 test bar must fit in the {n} bars of the data; got train={train}.")
    return [
        (0 if anchored else a, b, b, c) for a, b, c in rolling_windows(n, train, test, test if step is None else step)
    ]


def walk_forward(prices, *, entries=None, exits=None, short_entries=None, short_exits=None, weights=None,
                 params, train: int, test: int, step: int | None = None, anchored: bool = False,
                 select: str = "sharpe", descending: bool | None = None, carry: bool = True, where=None,
                 asset_col: str | None = None, timestamp_col: str = "timestamp",
                 **settings) -> WalkForwardResult:  # fmt: skip
    """Choose parameters on each training window, trade them on the next test window, and stitch
    the out-of-sample runs into one (module doc).

    Args:
        prices: as for ``backtest`` (the whole history; folds cut it by timestamp).
        entries, exits, short_entries, short_exits, weights: as for ``sweep``: expressions, or
            callables of the parameter set.
        params: the grid, as for ``sweep``. Names that are ``backtest`` keywords may be
            ``stop_loss``, ``take_profit`` or ``trailing_stop`` (stitched per bar); other
            settings are fixed for the whole run (``**settings``).
        train, test, step: window lengths in bars (distinct timestamps); ``step`` defaults to
            ``test``. anchored: train from the first bar in every fold.
        select, descending: the metric that picks each fold's set (``SweepResult.best``).
        carry: keep positions across fold boundaries (default), or exit at each test window's end.
        where: as for ``sweep``.
        **settings: any other ``backtest`` keyword, the same in every fold and out of sample.

    Returns:
        ``WalkForwardResult``.
    """
    spec = {k: v for k, v in zip(SIGNALS, (entries, exits, short_entries, short_exits), strict=True) if v is not None}
    if weights is not None:
        if spec:
            raise ConfigError(f"pass either `weights=` or signals, not both; got `weights` and {sorted(spec)}.")
        if not carry:
            raise ConfigError("`carry=False` applies to signals; a weights portfolio re-targets at each rebalance.")
        spec = {"weights": weights}
    if not isinstance(carry, bool):
        raise ConfigError(f"`carry` must be True or False; got {carry!r}.")
    if not isinstance(params, dict) or not params:
        raise ConfigError("`params` must be a non-empty dict of name -> values (the grid of each fold's sweep).")
    fixed_keys = [k for k in params if k in sweeps._SETTINGS and k not in PER_BAR]
    if fixed_keys:
        raise ConfigError(
            f"walk_forward stitches per-bar values only: a swept setting must be one of {list(PER_BAR)}; got "
            f"{fixed_keys[0]!r} (give it once in the settings)."
        )
    lf = _as_lazy(prices, "prices")
    asset = _resolve_keys(_schema_names(lf, "prices"), asset_col, timestamp_col)
    ts = timestamp_col
    df = _collect(lf.sort(asset, ts))
    stamps = df.get_column(ts).unique().sort()
    folds = fold_windows(stamps.len(), train, test, step, anchored)
    keys = dict(asset_col=asset, timestamp_col=ts)

    def window(a: int, b: int) -> pl.DataFrame:
        return df.filter(pl.col(ts).is_between(stamps[a], stamps[b - 1]))

    chosen, grids, rows = [], [], []
    for k, (a, b, c, d) in enumerate(folds):
        g = sweeps.sweep(window(a, b), **spec, params=params, where=where, **keys, **settings)
        best = g.best(select, 1, descending)
        p = {n: best.item(0, n) for n in params}
        chosen.append(p)
        grids.append(g)
        rows.append({"fold": k, "train_start": stamps[a], "train_end": stamps[b - 1], "test_start": stamps[c],
                     "test_end": stamps[d - 1], **p, f"is_{select}": best.item(0, select),
                     "is_sharpe": best.item(0, "sharpe")})  # fmt: skip
    # out of sample: each fold's expressions over the whole frame, each row from its fold
    bar_of_row = np.searchsorted(stamps.to_physical().to_numpy(), df.get_column(ts).to_physical().to_numpy())
    test_fold = np.full(stamps.len(), -1, dtype=np.int64)
    for k, (_, _, c, d) in enumerate(folds):
        test_fold[c:d] = k
    df = df.with_columns(pl.Series("__fold", test_fold[bar_of_row]))
    cols = {}
    for name, v in spec.items():
        per_fold = [(v(sweeps.Params(p)) if callable(v) else v) for p in chosen]
        if name == "weights" and not all(isinstance(e, pl.Expr) for e in per_fold):
            raise ConfigError("walk_forward takes `weights` as expressions (or callables returning them).")
        exprs = [pl.col(e) if isinstance(e, str) else e for e in per_fold]
        stitched = pl.when(pl.col("__fold") == 0).then(exprs[0])
        for k, e in enumerate(exprs[1:], 1):
            stitched = stitched.when(pl.col("__fold") == k).then(e)
        cols[f"__wf_{name}"] = stitched.otherwise(None if name == "weights" else False)
    for name in PER_BAR:
        if name in params:
            stitched = pl.when(pl.col("__fold") == 0).then(pl.lit(float(chosen[0][name])))
            for k, p in enumerate(chosen[1:], 1):
                stitched = stitched.when(pl.col("__fold") == k).then(pl.lit(float(p[name])))
            cols[f"__wf_{name}"] = stitched.otherwise(None)
    oos_settings = dict(settings)
    model = settings.get("impact")
    if isinstance(model, SquareRootImpact):  # over the whole frame too: each test window keeps its warm-up
        cols["__wf_impact"] = _impact_expr(model, df.columns, asset, ts).shift(1).over(asset)  # (df: by asset, time)
        oos_settings["impact"] = Precomputed(k=model.k, exponent=model.exponent, column="__wf_impact")
    df = _collect(df.lazy().with_columns(**cols))
    if not carry:  # exit on each asset's last bar of each test window, no entry there
        last = (pl.col(ts) == pl.col(ts).max().over(asset, "__fold")) & (pl.col("__fold") >= 0)
        fix = {}
        for entry, exit_ in (("entries", "exits"), ("short_entries", "short_exits")):
            if f"__wf_{entry}" in df.columns:
                fix[f"__wf_{entry}"] = pl.col(f"__wf_{entry}") & ~last
                prev = pl.col(f"__wf_{exit_}") if f"__wf_{exit_}" in df.columns else pl.lit(False)
                fix[f"__wf_{exit_}"] = prev | last
        df = df.with_columns(**fix)
    oos = df.filter(pl.col("__fold") >= 0)
    run_kw = {n: f"__wf_{n}" for n in spec if f"__wf_{n}" in oos.columns}
    run_kw |= {n: f"__wf_{n}" for n in ("exits", "short_exits") if f"__wf_{n}" in oos.columns}
    run_kw |= {n: f"__wf_{n}" for n in PER_BAR if n in params}
    res = api.backtest(oos.drop("__fold"), **run_kw, **keys, **oos_settings)
    # out-of-sample metrics per fold, from the stitched equity
    eq = res.equity.select("timestamp", "return")
    ppy = infer_periods_per_year(stamps)
    fold_idx = test_fold[np.searchsorted(stamps.to_physical().to_numpy(),
                                         eq.get_column("timestamp").to_physical().to_numpy())]  # fmt: skip
    per = (
        eq.with_columns(pl.Series("fold", fold_idx))
        .group_by("fold", maintain_order=True)
        .agg(
            ((pl.col("return") + 1.0).product() - 1.0).alias("oos_return"),
            (pl.col("return").mean() / pl.col("return").std() * math.sqrt(ppy)).alias("oos_sharpe"),
        )
    )
    table = pl.DataFrame(rows).join(per, on="fold", how="left").with_columns(pl.col("fold").cast(pl.Int64))
    return WalkForwardResult(folds=table, result=res, sweeps=tuple(grids))
