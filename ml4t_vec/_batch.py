"""One batch of a sweep: many parameter sets in one kernel call, reduced to metrics (numba).

``run_batch`` is what a local sweep and an executor's worker (``_distributed``) both run, so
their results are identical. It evaluates every set's signals in one Polars pass, lowers each
distinct setting once, runs the kernels with one column per (asset, set) and one parallel
chunk per set, and reduces each set's portfolio series and records to the metrics of
``backtest(...).stats()`` without building frames.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import polars as pl

from ml4t_vec import _lower
from ml4t_vec._kernels import kernel_array, kernel_tuple
from ml4t_vec._kernels.codes import EFFECT_ENTRY, TIMING
from ml4t_vec._kernels.launch import simulate
from ml4t_vec._kernels.limits import LimitParams
from ml4t_vec._kernels.orders import OrderParams
from ml4t_vec._kernels.reduce import SERIES_METRICS, TRADE_METRICS, series_metrics_nb, trade_metrics_nb
from ml4t_vec._kernels.risk import RiskParams
from ml4t_vec._prepare import signal_grid, weight_grids
from ml4t_vec.errors import DataError
from ml4t_vec.metrics import STATS_DOC, turnover_stats

# reduced here from the kernel's records and series (numpy), as ``stats()`` computes them
PORTFOLIO_METRICS = ("n_positions", "n_trade_rows", "turnover", "turnover_per_rebalance")
# the sweep's metrics, in the order of stats(); not here: avg_names_held and effective_n (they
# need each column's position value per bar, which a sweep does not keep)
METRICS = tuple(m for m in STATS_DOC if m in SERIES_METRICS + TRADE_METRICS + PORTFOLIO_METRICS)


def portfolio_metrics(sim, cols_per: int, equity: np.ndarray, init: np.ndarray, ppy: float) -> dict:
    """``PORTFOLIO_METRICS`` of n portfolios, portfolio k owning columns ``[k * cols_per,
    (k + 1) * cols_per)`` of the kernel's raw record buffers; ``equity`` (n, n_bars)."""
    n, n_bars = equity.shape
    fill_off, n_fill, _, n_trade = sim.segments
    n_cols = n * cols_per
    # indices of the recorded fills, column by column
    idx = np.repeat(fill_off[:n_cols] - np.concatenate(([0], np.cumsum(n_fill[:n_cols])[:-1])), n_fill[:n_cols])
    idx += np.arange(idx.shape[0])
    fills = sim.fills
    owner = np.repeat(np.arange(n_cols) // cols_per, n_fill[:n_cols])
    notional = np.bincount(owner * n_bars + fills["bar"][idx], weights=fills["quantity"][idx] * fills["price"][idx],
                           minlength=n * n_bars)  # fmt: skip
    turnover = turnover_stats(notional.reshape(n, n_bars), equity, init, ppy)
    entries = np.bincount(owner, weights=fills["effect"][idx] == EFFECT_ENTRY, minlength=n)
    return {
        "n_positions": entries.astype(np.int64),
        "n_trade_rows": n_trade[:n_cols].reshape(n, cols_per).sum(axis=1).astype(np.int64),
        "turnover": turnover[:, 0],
        "turnover_per_rebalance": turnover[:, 1],
    }


def stack(parts: list, which: np.ndarray, field: str) -> np.ndarray:
    """One kernel-parameter array for a batch: set i takes the rows of ``parts[which[i]]``."""
    arrs = [getattr(x, field) for x in parts]
    if arrs[0].ndim == 2:  # rule values: (n, 1) or (n, n_bars); broadcast to the widest
        w = max(a.shape[1] for a in arrs)
        arrs = [np.broadcast_to(a, (a.shape[0], w)) for a in arrs]
    n = arrs[0].shape[0]
    if len(arrs) == 1:
        return np.ascontiguousarray(np.tile(arrs[0], (which.shape[0],) + (1,) * (arrs[0].ndim - 1)))
    rows = (which[:, None] * n + np.arange(n)).ravel()
    return np.ascontiguousarray(np.concatenate(arrs)[rows])


def run_batch(prep, combos, cfgs, exprs, index, ppy, timings, per_asset=False) -> pl.DataFrame:
    """One kernel call for a batch of parameter sets; returns their rows of the results.

    ``per_asset`` (independent accounts): each set's row (``asset`` null) is followed by one row
    per asset, the metrics of that asset's own account on the sweep's time axis. Sets given by
    ``weights`` go to ``run_weight_batch``."""
    if "weights" in exprs[0]:
        return run_weight_batch(prep, combos, cfgs, exprs, index, ppy, timings)
    n_assets = prep.n_assets
    k = len(combos)
    t0 = time.perf_counter()
    sig = signal_grid(prep, exprs, [f"{i} {c}" for i, c in zip(index, combos, strict=True)])
    t1 = time.perf_counter()
    shared = cfgs[0].portfolio.cash_sharing
    groups_per = 1 if shared else n_assets
    # lower each distinct setting once (sets that differ only in signal parameters share one)
    swept = [name for name in combos[0] if name in _lower.SETTINGS]
    distinct: dict = {}
    which = np.array([distinct.setdefault(repr([c[n] for n in swept]), (len(distinct), cfg))[0]
                      for c, cfg in zip(combos, cfgs, strict=True)], dtype=np.int64)  # fmt: skip
    uniq = [cfg for _, cfg in distinct.values()]
    parts_o = [_lower.order_params(c, n_assets, prep) for c in uniq]
    parts_r = [_lower.risk_params(c, n_assets, prep) for c in uniq]
    parts_l = [_lower.limit_params(c, groups_per, n_assets, prep) for c in uniq]
    params = kernel_tuple(OrderParams, **{f: stack(parts_o, which, f) for f in OrderParams._fields})
    risk = kernel_tuple(RiskParams, **{f: stack(parts_r, which, f) for f in RiskParams._fields})
    # the time axis' arrays are one for every set; day numbers are computed where a set needs them
    # (a daily loss limit, tif="day") and zeros elsewhere
    shared_axis = {f: getattr(parts_l[0], f) for f in ("nights", "month")}
    shared_axis["day"] = np.max([p.day for p in parts_l], axis=0)
    limits = kernel_tuple(LimitParams, **{f: shared_axis[f] if f in shared_axis else stack(parts_l, which, f)
                                          for f in LimitParams._fields})  # fmt: skip
    col_asset = np.tile(np.arange(n_assets, dtype=np.int64), k)
    if shared:
        groups = np.arange(k + 1, dtype=np.int64) * n_assets
        chunks = np.arange(k + 1, dtype=np.int64)
    else:
        groups = np.arange(k * n_assets + 1, dtype=np.int64)
        chunks = groups if per_asset else np.arange(k + 1, dtype=np.int64) * n_assets
    init = np.repeat(np.array([c.portfolio.init_cash for c in cfgs], dtype=np.float64), groups_per)
    sim = simulate(groups, col_asset, prep.prices, sig,
                   TIMING[cfgs[0].execution.fill], init, params, risk, limits, chunk_offsets=chunks,
                   record_rejected=False, compact=False)  # fmt: skip
    t2 = time.perf_counter()
    init_total = np.array([c.portfolio.init_cash * groups_per for c in cfgs])
    fill_off, n_fill, trade_off, n_trade = sim.segments
    chunk = sim.chunk_series
    set_series = chunk.reshape(k, n_assets, 3, -1).sum(axis=1) if per_asset else chunk
    series = series_metrics_nb(set_series, init_total, ppy)
    trade = trade_metrics_nb(k, n_assets, sim.trades, trade_off, n_trade, sim.fills, fill_off, n_fill)
    extra = portfolio_metrics(sim, n_assets, set_series[:, 0] + set_series[:, 1], init_total, ppy)
    rows = np.arange(k)
    if per_asset:  # each set's row, then its assets' rows
        a_series = series_metrics_nb(chunk, init, ppy)
        a_trade = trade_metrics_nb(k * n_assets, 1, sim.trades, trade_off, n_trade, sim.fills, fill_off, n_fill)
        a_extra = portfolio_metrics(sim, 1, chunk[:, 0] + chunk[:, 1], init, ppy)
        extra = {m: np.concatenate([v[:, None], a_extra[m].reshape(k, n_assets)], axis=1).ravel()
                 for m, v in extra.items()}  # fmt: skip
        series = np.concatenate([series[:, None], a_series.reshape(k, n_assets, -1)], axis=1).reshape(
            k * (n_assets + 1), -1
        )
        trade = np.concatenate([trade[:, None], a_trade.reshape(k, n_assets, -1)], axis=1).reshape(
            k * (n_assets + 1), -1
        )
        rows = np.repeat(rows, n_assets + 1)
    asset = None
    if per_asset:
        asset = pl.concat([pl.Series([None], dtype=pl.String), prep.symbols.cast(pl.String)]).rename("asset")
        asset = pl.concat([asset] * k)
    out = _results(combos, index, rows, asset, series, trade, extra)
    timings["signals_s"] += t1 - t0
    timings["kernel_s"] += t2 - t1
    timings["reduce_s"] += time.perf_counter() - t2
    return out


def _results(combos, index, rows, asset, series, trade, extra) -> pl.DataFrame:
    """The results rows: ``combo``, the parameters, ``asset`` (per_asset), then ``METRICS``
    from the series metrics, the trade metrics and ``extra`` (which take precedence)."""
    cols = {"combo": pl.Series("combo", index, dtype=pl.Int64).gather(rows)}
    for name in combos[0]:
        cols[name] = pl.Series(name, [c[name] for c in combos], strict=False).gather(rows)
    if asset is not None:
        cols["asset"] = asset
    for j, m in enumerate(SERIES_METRICS):
        extra.setdefault(m, series[:, j])
    for j, m in enumerate(TRADE_METRICS):
        extra.setdefault(m, trade[:, j].astype(np.int64) if m in ("n_trades", "n_open") else trade[:, j])
    for m in METRICS:
        cols[m] = extra[m]
    if not np.isfinite(series[:, 0]).all():
        bad = int(rows[np.flatnonzero(~np.isfinite(series[:, 0]))[0]])
        raise DataError(f"combination {index[bad]} {combos[bad]} produced a non-finite equity.")
    return pl.DataFrame(cols)


def run_weight_batch(prep, combos, cfgs, exprs, index, ppy, timings) -> pl.DataFrame:
    """A batch of target-weight parameter sets (``sweep(weights=...)``): each set's weights
    evaluated in one Polars pass, then one target-weight run per set (``_rebalance``), the sets
    spread over numba's thread count (the kernel releases the GIL), and each set's series and
    records reduced to the metrics of ``backtest(weights=...).stats()``."""
    from ml4t_vec._rebalance import schedule, simulate_weights
    from ml4t_vec.weights import HoldAwareTopK

    k = len(combos)
    t0 = time.perf_counter()
    selects = [e["weights"] if isinstance(e["weights"], HoldAwareTopK) else None for e in exprs]
    wexprs = [s.rank() if s is not None else pl.col(e["weights"]) if isinstance(e["weights"], str) else e["weights"]
              for s, e in zip(selects, exprs, strict=True)]  # fmt: skip
    grids = weight_grids(prep, wexprs, [f"{i} {c}" for i, c in zip(index, combos, strict=True)])
    t1 = time.perf_counter()
    by_rule: dict = {}  # each distinct schedule once
    for cfg in cfgs:
        key = repr((cfg.rebalance.rebalance, cfg.rebalance.rebalance_at))
        if key not in by_rule:
            by_rule[key] = kernel_array(schedule(cfg, prep), np.bool_)
    rebal = [by_rule[repr((c.rebalance.rebalance, c.rebalance.rebalance_at))] for c in cfgs]

    def one(i):
        return simulate_weights(prep, cfgs[i], TIMING[cfgs[i].execution.fill], rebal[i], select=selects[i],
                                weights=grids[i], compact=False)  # fmt: skip

    threads = max(1, min(numba.get_num_threads(), k))
    if threads == 1:
        sims = [one(i) for i in range(k)]
    else:
        with ThreadPoolExecutor(threads) as pool:
            sims = list(pool.map(one, range(k)))
    t2 = time.perf_counter()
    n_cols = prep.sig.shape[0]
    init = np.array([c.portfolio.init_cash for c in cfgs], dtype=np.float64)
    series = np.stack([np.stack([s.cash, s.net, s.gross]) for s in sims])
    sm = series_metrics_nb(series, init, ppy)
    trade = np.concatenate([trade_metrics_nb(1, n_cols, s.trades, s.segments[2], s.segments[3], s.fills,
                                             s.segments[0], s.segments[1]) for s in sims])  # fmt: skip
    parts = [portfolio_metrics(s, n_cols, (s.cash + s.net)[None], init[i : i + 1], ppy) for i, s in enumerate(sims)]
    extra = {m: np.concatenate([p[m] for p in parts]) for m in PORTFOLIO_METRICS}
    out = _results(combos, index, np.arange(k), None, sm, trade, extra)
    timings["signals_s"] += t1 - t0
    timings["kernel_s"] += t2 - t1
    timings["reduce_s"] += time.perf_counter() - t2
    return out
