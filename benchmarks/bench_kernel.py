"""Kernel-only timing: one backtest captures the numba driver's arguments, then the driver alone
runs ``--repeat`` times on fresh copies of its state. Prints min, p25 and median.

    python benchmarks/bench_kernel.py --mode indep_A                  # this checkout
    python benchmarks/bench_kernel.py --mode indep_A --against ../old # and another checkout, same machine

Each timed call gets a copy of the arguments as they were before the backtest's own call (state,
record cursors and buffers untouched), and the record counts it leaves must equal the
backtest's (before 2026-11-27 the copy was taken after that call: the cursors were already at
the end and the timed calls wrote no records). End-to-end medians on a noisy machine hide
kernel regressions of 1.5-2x: the minimum of many calls of the kernel alone on fixed inputs does
not (a re-wrapped argument list in the one-column driver made scenario A 27 -> 54 ms; this
found it). ``--against`` runs the same mode in fresh
processes with that checkout first on ``PYTHONPATH``, alternating, and prints the ratio of the
minimums. Modes: ``bench_core.MODES`` (signals, 2,520 x 1,000) and ``weights_daily`` /
``weights_monthly`` (``bench_weights``' decile portfolio). Single-threaded unless ``--threads``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _copy_state(args: tuple) -> tuple:
    """The driver's arguments with every mutable array (state, record buffers) copied."""
    import numpy as np

    def fresh(x):
        if isinstance(x, np.ndarray):
            return x.copy() if x.flags.writeable else x
        if isinstance(x, tuple) and hasattr(x, "_fields"):
            return type(x)(*(fresh(y) for y in x))
        return x

    return tuple(fresh(x) for x in args)


def run_here(mode: str, repeat: int, threads: int) -> list[float]:
    import numba
    import numpy as np

    sys.path.insert(0, str(HERE))
    import bench_core

    import ml4t_vec as vec
    from ml4t_vec import _rebalance
    from ml4t_vec._kernels import warmup

    try:
        from ml4t_vec._kernels import launch  # the driver choice (since 2026-11-27)
    except ImportError:  # an older checkout (--against): it was in simulate
        from ml4t_vec._kernels import simulate as launch

    warnings.simplefilter("ignore")
    warmup.is_compiled = lambda *a, **k: True  # the wrappers below are not dispatchers
    captured = {}

    def capture(real):
        def wrapper(*a):
            captured["call"] = (real, _copy_state(a))  # untouched: the call below fills the state and buffers
            captured["after"] = a
            return real(*a)

        return wrapper

    if mode.startswith("weights_"):
        import bench_weights

        df, wexpr = bench_weights.data(2520, 1000)
        df = df.with_columns(w=wexpr)
        _rebalance.rebalance_nb = capture(_rebalance.rebalance_nb)
        kw = dict(weights="w", rebalance="every_bar" if mode == "weights_daily" else "M", fees=0.0005,
                  fill="same_close", size_at="fill", init_cash=1e6)  # fmt: skip
    else:
        _, df = bench_core.workload(2520, 1000)
        df = bench_core.layout(df, bench_core._layout_of(mode))
        kw = bench_core.MODES[mode][0]
        real_driver = launch.driver
        launch.driver = lambda *a: capture(real_driver(*a))
    vec.backtest(df, **kw)
    kernel, args = captured["call"]
    numba.set_num_threads(threads)
    times = []
    for _ in range(repeat):
        fresh = _copy_state(args)
        t0 = time.perf_counter()
        kernel(*fresh)
        times.append(time.perf_counter() - t0)
    want, got = _record_counts(captured["after"]), _record_counts(fresh)
    if want != got:  # a timed call that wrote other records than the backtest's timed something else
        raise SystemExit(f"{mode}: the timed call's record counts {got} differ from the backtest's {want}")
    return sorted(np.array(times) * 1e3)


def _record_counts(args: tuple) -> list[int]:
    """The record counts a driver call left: the sink's ``n`` / ``per_col`` fields (an older
    checkout's state tuple: its ``n_*`` fields)."""
    import numpy as np

    tuples = [t for t in args if isinstance(t, tuple) and hasattr(t, "_fields")]
    return [int(np.sum(x)) for t in tuples for f, x in zip(t._fields, t, strict=True)
            if (f in ("n", "per_col") or f.startswith("n_")) and isinstance(x, np.ndarray)]  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", default="indep_A")
    ap.add_argument("--repeat", type=int, default=25)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--against", default=None, help="another checkout of ml4t_vec to compare with")
    ap.add_argument("--rounds", type=int, default=2, help="fresh processes per checkout with --against")
    ap.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # internal: one line for --against
    a = ap.parse_args()
    if a.against is None:
        t = run_here(a.mode, a.repeat, a.threads)
        n = len(t)
        if a.json:
            print(f"MIN {t[0]}")
        print(f"{a.mode} ({a.threads} thread(s), {n} calls): min {t[0]:.1f}  p25 {t[n // 4]:.1f}  "
              f"median {t[n // 2]:.1f} ms")  # fmt: skip
        return 0
    here = str(HERE.parent)
    best = {"this": [], "against": []}
    for _ in range(a.rounds):
        for name, root in (("this", here), ("against", str(Path(a.against).resolve()))):
            env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
            out = subprocess.run([sys.executable, __file__, "--mode", a.mode, "--repeat", str(a.repeat),
                                  "--threads", str(a.threads), "--json"], env=env, capture_output=True, text=True,
                                 check=True).stdout  # fmt: skip
            best[name].append(float(next(line for line in out.splitlines() if line.startswith("MIN"))[4:]))
            print(f"{name:8s} {root}: min {best[name][-1]:.1f} ms", flush=True)
    ratio = min(best["this"]) / min(best["against"])
    print(f"{a.mode}: this checkout / the other = {ratio:.2f} (minimums over {a.rounds} processes each)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
