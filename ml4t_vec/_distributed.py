"""Sweep batches on an executor: any ``concurrent.futures.Executor``, or a Dask ``Client``.

What a shard carries: the batch's parameter sets, their (already evaluated) signal expressions
and settings, and a reference to the data. The data is the sweep's validated frame, shipped once:
a Parquet file path for a ``concurrent.futures`` executor (workers on this machine, or on a shared
file system when a checkpoint directory is given), or Arrow IPC bytes scattered once to every Dask
worker. No frame is pickled per shard. A worker prepares the frame once per sweep (cached by the
data's fingerprint) and runs the same ``_batch.run_batch`` as a local sweep, so results are identical.

Threads: a shard's kernels use ``threads`` numba threads (the sweep's ``n_jobs``, default 1: the
executor's workers are the parallelism). Batches in one worker process run one at a time (numba's
workqueue threading layer is not thread-safe). Polars' thread pool is fixed when a process starts:
start workers with ``POLARS_MAX_THREADS`` set (the README shows a Dask ``LocalCluster`` that does).
"""

from __future__ import annotations

import concurrent.futures as cf
import io
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import numba
import polars as pl

from ml4t_vec.errors import ConfigError

_LOCK = threading.Lock()  # one batch at a time per worker process
_PREPARED: dict = {}  # data key -> Prepared (the last two sweeps seen by this process)
_TIMING_KEYS = ("signals_s", "kernel_s", "reduce_s")


def is_dask_client(executor) -> bool:
    return type(executor).__module__.split(".")[0] == "distributed" and hasattr(executor, "scatter")


def check_executor(executor) -> None:
    """Refuse what cannot work, before any work is shipped."""
    if is_dask_client(executor):
        return
    if not isinstance(executor, cf.Executor):
        raise ConfigError(
            f"`executor` must be a concurrent.futures.Executor or a dask.distributed Client; got "
            f"{type(executor).__name__}."
        )
    ctx = getattr(executor, "_mp_context", None)  # ProcessPoolExecutor
    if isinstance(executor, cf.ProcessPoolExecutor) and ctx is not None and ctx.get_start_method() == "fork":
        raise ConfigError(
            "a ProcessPoolExecutor that forks cannot run numba's threaded kernels safely (a forked child of a "
            "process using OpenMP can hang). Use ProcessPoolExecutor(mp_context=multiprocessing.get_context('spawn'))."
        )


def _setup(threads: int) -> None:
    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))


def _prepared(data, key: str, prep_kw: dict):
    """The worker's prepared frame for this sweep: read and prepared once per process."""
    from ml4t_vec._prepare import prepare

    if key not in _PREPARED:
        frame = pl.read_parquet(data) if isinstance(data, str) else pl.read_ipc(io.BytesIO(data))
        with warnings.catch_warnings():  # the driver has warned already (look-ahead fill)
            warnings.simplefilter("ignore")
            prep = prepare(frame, keep_frame=True, extra_exprs={c: pl.col(c) for c in frame.columns}, **prep_kw)
        while len(_PREPARED) >= 2:
            _PREPARED.pop(next(iter(_PREPARED)))
        _PREPARED[key] = prep
    return _PREPARED[key]


def run_shard(data, key, prep_kw, combos, cfgs, exprs, index, ppy, threads, per_asset) -> tuple[bytes, dict]:
    """One batch on a worker. Returns the result rows as Arrow IPC bytes, and the timings."""
    from ml4t_vec._batch import run_batch

    with _LOCK:
        _setup(threads)
        prep = _prepared(data, key, prep_kw)
        timings = dict.fromkeys(_TIMING_KEYS, 0.0)
        df = run_batch(prep, combos, cfgs, exprs, index, ppy, timings, per_asset)
    buf = io.BytesIO()
    df.write_ipc(buf)
    return buf.getvalue(), timings


def warm(threads: int) -> float:
    """Set the worker's kernel threads and load (or compile, once per machine) the numba kernels
    with a tiny sweep. Returns the seconds it took."""
    import ml4t_vec as vec

    t0 = time.perf_counter()
    _setup(threads)
    prices = vec.synthetic_prices(n_assets=2, n_bars=40, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vec.sweep(prices, entries=pl.col("close") > pl.col("open"), exits=pl.col("close") < pl.col("open"),
                  params={"fees": [0.0, 0.001]}, progress=False)  # fmt: skip
    return time.perf_counter() - t0


def run(executor, pending, prep, prep_kw, key, combos, cfgs, exprs, ppy, threads, store, per_asset) -> Iterator:
    """Submit every pending batch ``(b, idx)``; yield ``(b, frame, timings)`` as they finish."""
    frame = prep.frame.drop([c for c in prep.frame.columns if c.startswith("__ml4t")])
    tmp = None
    if is_dask_client(executor):
        buf = io.BytesIO()
        frame.write_ipc(buf)
        data = executor.scatter(buf.getvalue(), broadcast=True)  # once per worker, not per shard
        # warm each worker as a task in its own thread pool: ``Client.run`` would execute on the worker's
        # event loop, and a compile of tens of seconds there stalls its heartbeats and comms
        workers = list(executor.nthreads())  # every worker (scheduler_info lists a few in some versions)
        executor.gather([executor.submit(warm, threads, workers=[w], allow_other_workers=False, pure=False)
                         for w in workers])  # fmt: skip
        submit = executor.submit
        done = _dask_as_completed
    else:
        if store is not None:  # next to the results: reachable by workers that can write them
            path = Path(store) / "data.parquet"
        else:
            tmp = tempfile.TemporaryDirectory(prefix="ml4t_vec_sweep_")
            path = Path(tmp.name) / "data.parquet"
        frame.write_parquet(path)
        data = str(path)
        submit = executor.submit
        done = cf.as_completed
    futures = {}
    try:
        for b, idx in pending:
            fut = submit(run_shard, data, key, prep_kw, [combos[i] for i in idx], [cfgs[i] for i in idx],
                         [exprs[i] for i in idx], list(idx), ppy, threads, per_asset)  # fmt: skip
            futures[fut] = b
        for fut in done(list(futures)):
            ipc, timings = fut.result()
            yield futures[fut], pl.read_ipc(io.BytesIO(ipc)), timings
    finally:
        for fut in futures:
            fut.cancel()
        if tmp is not None:
            tmp.cleanup()


def _dask_as_completed(futures):
    from distributed import as_completed

    return as_completed(futures)
