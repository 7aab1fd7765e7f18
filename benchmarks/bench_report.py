"""Analysis benchmark: ``stats()``, ``analyze()``, ``signal_report`` and the HTML report.

    python benchmarks/bench_report.py                 # 2,520 bars x 1,000 assets (stats), x 500 (report)
    python benchmarks/bench_report.py --base ../old   # + stats() of another checkout, same data, same run

Workloads: bench_core's scenario A (random 5% entries / 5% exits, fees 0.1%) on 2,520 x 1,000
for ``stats()``; a score-threshold strategy with a 5% stop on 2,520 x 500 synthetic prices for
the report (issue 13: <= 3 s, <= 10 MB). Every figure is the median of ``--repeat`` runs after a
warm-up; "first" timings build the result's frames too (what a user meets on the first call).
``--base`` runs the same stats() timing with another checkout's ml4t_vec in a subprocess, so
the ratio is taken on the same machine state.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def time_stats(bars: int, assets: int, repeat: int) -> dict:
    sys.path.insert(0, str(HERE))
    from bench_core import workload

    import ml4t_vec as vec

    _, df = workload(bars, assets)
    vec.backtest(df.head(1000), entries="entry", exits="exit", fees=0.001).stats()  # warm-up
    first, warm = [], []
    for _ in range(repeat):
        res = vec.backtest(df, entries="entry", exits="exit", fees=0.001)
        t0 = time.perf_counter()
        res.stats()
        first.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        res.stats()
        warm.append(time.perf_counter() - t0)
    return {"stats_first_s": statistics.median(first), "stats_warm_s": statistics.median(warm),
            "trades": res.trades.height, "module": vec.__file__}  # fmt: skip


def time_report(bars: int, assets: int, repeat: int) -> dict:
    import polars as pl

    import ml4t_vec as vec

    prices = vec.synthetic_prices(n_assets=assets, n_bars=bars, seed=3)
    kw = dict(entries=pl.col("pred") > 0.6, exits=pl.col("pred") < 0.45, stop_loss=0.05, fees=0.0005,
              benchmark=prices.get_column("asset")[0])  # fmt: skip
    out = {}
    with tempfile.TemporaryDirectory() as d:
        vec.backtest(prices.head(2000), **kw).report(Path(d) / "warm.html")
        times, analyze = [], []
        for i in range(repeat):
            res = vec.backtest(prices, **kw)
            res.trades, res.equity  # noqa: B018  the frames exist before the report's own work is timed
            t0 = time.perf_counter()
            path = res.report(Path(d) / f"r{i}.html")
            times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            res.analyze()
            analyze.append(time.perf_counter() - t0)
        out["report_s"] = statistics.median(times)
        out["report_mb"] = path.stat().st_size / 1e6
        out["analyze_s"] = statistics.median(analyze)
        out["trade_rows"] = res.trades.height
        if hasattr(vec, "signal_report"):
            sr = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                vec.signal_report(prices, pl.col("pred"), horizons=(1, 5, 21), quantiles=5)
                sr.append(time.perf_counter() - t0)
            out["signal_report_s"] = statistics.median(sr)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bars", type=int, default=2520)
    ap.add_argument("--assets", type=int, default=1000)
    ap.add_argument("--report-assets", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--base", help="another checkout: its stats() timed on the same data")
    ap.add_argument("--stats-only", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    stats = time_stats(a.bars, a.assets, a.repeat)
    if a.stats_only:
        print(json.dumps(stats))
        return
    rows = {"stats": stats}
    if a.base:
        env = dict(os.environ, PYTHONPATH=str(Path(a.base).resolve()))
        cmd = [sys.executable, __file__, "--stats-only", "--bars", str(a.bars), "--assets", str(a.assets),
               "--repeat", str(a.repeat)]  # fmt: skip
        rows["base"] = json.loads(subprocess.run(cmd, env=env, capture_output=True, text=True,
                                                 check=True).stdout.strip().splitlines()[-1])  # fmt: skip
    rows["report"] = time_report(a.bars, a.report_assets, a.repeat)
    s, r = rows["stats"], rows["report"]
    print(f"| what | {a.bars} x {a.assets} (stats) / x {a.report_assets} (report) |")
    print("|---|---:|")
    print(f"| stats(), first call (builds trades/fills/equity frames) | {s['stats_first_s'] * 1e3:.0f} ms |")
    print(f"| stats(), again | {s['stats_warm_s'] * 1e3:.1f} ms |")
    if "base" in rows:
        b = rows["base"]
        print(f"| stats() of --base, first / again | {b['stats_first_s'] * 1e3:.0f} ms / "
              f"{b['stats_warm_s'] * 1e3:.1f} ms |")  # fmt: skip
        print(f"| ratio first / again | {s['stats_first_s'] / b['stats_first_s']:.2f}x / "
              f"{s['stats_warm_s'] / b['stats_warm_s']:.2f}x |")  # fmt: skip
    print(f"| report ({r['trade_rows']:,} trade rows) | {r['report_s']:.2f} s, {r['report_mb']:.1f} MB |")
    print(f"| analyze() | {r['analyze_s'] * 1e3:.0f} ms |")
    if "signal_report_s" in r:
        print(f"| signal_report, 3 horizons, 5 quantiles | {r['signal_report_s'] * 1e3:.0f} ms |")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
