"""Sweep benchmark: time and peak RSS of ``vec.sweep`` on the issue-4 workloads.

Each run happens in a fresh subprocess: a small warm-up sweep compiles (or loads) the kernels,
then the peak RSS counter is reset (/proc/self/clear_refs) and the measured sweep runs, so the
figure is what the sweep itself adds on top of the loaded data.

    python benchmarks/bench_sweep.py                 # all workloads
    python benchmarks/bench_sweep.py --only ma       # the 4,753-combination MA crossover
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap

# memory readings for the child processes (Linux /proc): VmRSS / VmHWM in MB, and a reset of the
# peak counter so a figure covers one call, not the data generation before it
RSS_HELPERS = textwrap.dedent(
    """
    def status_mb(key):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def reset_peak():
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    """
)

CHILD = RSS_HELPERS + textwrap.dedent(
    """
    import json, sys, time
    import numpy as np, polars as pl
    import ml4t_vec as vec

    def walk(n_assets, n_bars, seed=7):
        rng = np.random.default_rng(seed)
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (n_assets, n_bars)), axis=1))
        open_ = np.concatenate([close[:, :1], close[:, :-1]], axis=1)
        hi = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.003, close.shape)))
        lo = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.003, close.shape)))
        ts = pl.datetime_range(pl.datetime(2000, 1, 3), pl.datetime(2000, 1, 3) + pl.duration(hours=n_bars - 1),
                               "1h", eager=True)
        return pl.DataFrame({
            "timestamp": pl.concat([ts] * n_assets),
            "asset": np.repeat([f"A{i:04d}" for i in range(n_assets)], n_bars),
            "open": open_.ravel(), "high": hi.ravel(), "low": lo.ravel(), "close": close.ravel(),
        })

    ma = lambda n: pl.col("close").rolling_mean(n).over("asset")
    kw = dict(entries=lambda p: ma(p.fast) > ma(p.slow), exits=lambda p: ma(p.fast) < ma(p.slow), fees=0.001,
              cash_sharing=False, fill="same_close", progress=False)
    cfg = json.loads(sys.argv[1])
    vec.sweep(walk(2, 300), params={"fast": [2, 3], "slow": [5, 8]}, **kw)  # warm-up: compile / load caches
    prices = walk(cfg["assets"], cfg["bars"])
    if cfg["grid"] == "ma":
        params, where = {"fast": range(2, 100), "slow": range(2, 100)}, lambda p: p.fast < p.slow
    else:
        params, where = {"fast": range(5, 55, 5), "slow": range(60, 160, 10)}, None
    reset_peak()  # measure the sweep, not the data generation
    base = status_mb("VmRSS")
    t0 = time.perf_counter()
    g = vec.sweep(prices, params=params, where=where, sample=cfg.get("sample"), **kw)
    dt = time.perf_counter() - t0
    print(json.dumps(dict(cfg, seconds=dt, combos=g.results.height, peak_rss_mb=status_mb("VmHWM"),
                          rss_before_mb=base, timings=g.timings,
                          best_sharpe=float(g.results["sharpe"].fill_nan(None).max()))))
    """
)

RUNS = {
    "ma": dict(grid="ma", assets=1, bars=26_000),
    "ma_x1": dict(grid="ma", assets=1, bars=26_000, sample=297),
    "ma_x4": dict(grid="ma", assets=1, bars=26_000, sample=1188),
    "wide": dict(grid="wide", assets=1_000, bars=2_520),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=list(RUNS), action="append")
    a = ap.parse_args()
    rows = []
    for name in a.only or list(RUNS):
        out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(RUNS[name])], capture_output=True, text=True)
        if out.returncode != 0:
            print(out.stderr, file=sys.stderr)
            return 1
        r = json.loads(out.stdout.strip().splitlines()[-1])
        r["name"] = name
        rows.append(r)
        print(json.dumps(r))
    print("\n| run | combinations | assets x bars | time | peak RSS (sweep) | kernel | signals |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        t = r["timings"]
        print(f"| {r['name']} | {r['combos']:,} | {r['assets']:,} x {r['bars']:,} | {r['seconds']:.2f} s | "
              f"{r['peak_rss_mb']:.0f} MB | {t['kernel_s']:.2f} s | {t['signals_s']:.2f} s |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
