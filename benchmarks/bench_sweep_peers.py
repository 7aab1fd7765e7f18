"""The issue-4 sweeps, ml4t_vec vs vectorbt, on identical data, each engine in a fresh process.

Data: ``make_workload`` of the shared peer harness (``../shared/bench/peers.py``, seed 42), so
both engines see the same prices. Strategy (both): a fast/slow moving-average crossover (entry
when the fast mean crosses above the slow one, exit when it crosses below), filled at the close,
fees 0.1%, slippage 0.05%, 100 cash per asset account, one portfolio per parameter set (vectorbt:
``group_by`` the two windows, so its metrics are per set like ours).

What is timed, for both: signals + simulation + the per-set metrics a researcher reads (total
return, annualised return and volatility, Sharpe, Sortino, max drawdown, Calmar, trade count,
win rate, profit factor, expectancy, fees). Peak RSS is the process peak during that call
(VmHWM reset just before), the data already loaded.

    python benchmarks/bench_sweep_peers.py --peers-python /work/.venv-peers/bin/python
    python benchmarks/bench_sweep_peers.py --only wide --skip-vectorbt

vectorbt's wide sweep peaks near 20 GB: run nothing else alongside it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
from pathlib import Path

from bench_sweep import RSS_HELPERS  # same directory: run as a script

COMMON = RSS_HELPERS + textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    sys.path.insert(0, sys.argv[2])
    from peers import make_workload

    cfg = json.loads(sys.argv[1])
    pairs = [(f, s) for f in cfg["fast"] for s in cfg["slow"] if f < s]
    w = make_workload(cfg["bars"], cfg["assets"], seed=42)
    """
)

ML4T = COMMON + textwrap.dedent(
    """
    import warnings
    import polars as pl
    import ml4t_vec as vec
    warnings.simplefilter("ignore")

    def frame(w):
        n, m = w.close.shape
        ts = pl.datetime_range(pl.datetime(2000, 1, 3), pl.datetime(2000, 1, 3) + pl.duration(days=n - 1), "1d",
                               eager=True)
        return pl.DataFrame({"timestamp": pl.concat([ts] * m), "asset": np.repeat([f"a{j}" for j in range(m)], n),
                             "open": w.open.ravel(order="F"), "high": w.high.ravel(order="F"),
                             "low": w.low.ravel(order="F"), "close": w.close.ravel(order="F")})

    ma = lambda n: pl.col("close").rolling_mean(n).over("asset")
    up = lambda a, b: (a > b) & (a.shift(1).over("asset") <= b.shift(1).over("asset"))
    kw = dict(entries=lambda p: up(ma(p.fast), ma(p.slow)), exits=lambda p: up(ma(p.slow), ma(p.fast)),
              preset="vectorbt", fees=0.001, slippage=0.0005, progress=False)
    vec.sweep(frame(make_workload(300, 2)), params=[{"fast": 5, "slow": 20}], **kw)  # compile / load caches
    prices = frame(w)
    reset_peak()
    t0 = time.perf_counter()
    g = vec.sweep(prices, params=[{"fast": f, "slow": s} for f, s in pairs], **kw)
    dt = time.perf_counter() - t0
    r = g.results
    print(json.dumps(dict(engine="ml4t_vec", seconds=dt, peak_rss_mb=status_mb("VmHWM"), sets=r.height,
                          trades=int(r["n_trades"].sum()), mean_total_return=float(r["total_return"].mean()))))
    """
)

VECTORBT = COMMON + textwrap.dedent(
    """
    import warnings
    import vectorbt as vbt
    warnings.simplefilter("ignore")

    def run(w, pairs):
        fr = w.frames()
        fw = np.array([p[0] for p in pairs]); sw = np.array([p[1] for p in pairs])
        f = vbt.MA.run(fr["close"], fw, short_name="fast")
        s = vbt.MA.run(fr["close"], sw, short_name="slow")
        pf = vbt.Portfolio.from_signals(f.close, f.ma_crossed_above(s), f.ma_crossed_below(s), fees=0.001,
                                        slippage=0.0005, init_cash=100.0, freq="1D",
                                        group_by=["fast_window", "slow_window"])
        tr = pf.trades
        return dict(total_return=pf.total_return(), annualized_return=pf.annualized_return(),
                    volatility=pf.annualized_volatility(), sharpe=pf.sharpe_ratio(), sortino=pf.sortino_ratio(),
                    max_drawdown=pf.max_drawdown(), calmar=pf.calmar_ratio(), n_trades=tr.count(),
                    win_rate=tr.win_rate(), profit_factor=tr.profit_factor(), expectancy=tr.expectancy(),
                    fees=pf.orders.fees.sum())

    run(make_workload(300, 2), [(5, 20)])  # compile / load caches
    reset_peak()
    t0 = time.perf_counter()
    m = run(w, pairs)
    dt = time.perf_counter() - t0
    print(json.dumps(dict(engine="vectorbt", seconds=dt, peak_rss_mb=status_mb("VmHWM"), sets=len(m["total_return"]),
                          trades=int(m["n_trades"].sum()), mean_total_return=float(m["total_return"].mean()))))
    """
)

RUNS = {
    "wide": dict(bars=2_520, assets=1_000, fast=[5, 10, 15, 20, 25, 30, 35, 40, 45, 50],
                 slow=[60, 80, 100, 120, 140, 160, 180, 200, 220, 240]),  # the harness's scenario C 10x10
    "ma": dict(bars=26_000, assets=1, fast=list(range(2, 100)), slow=list(range(2, 100))),  # 4,753 sets
}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=list(RUNS), action="append")
    ap.add_argument("--peers-python", default=str(Path(__file__).resolve().parents[2] / ".venv-peers/bin/python"))
    ap.add_argument("--harness", default=str(Path(__file__).resolve().parents[2] / "shared/bench"))
    ap.add_argument("--repeat", type=int, default=1, help="ml4t_vec runs per workload (median reported)")
    ap.add_argument("--skip-vectorbt", action="store_true")
    a = ap.parse_args()
    for name in a.only or list(RUNS):
        cfg = json.dumps(RUNS[name])
        rows = []
        engines = [("ml4t_vec", sys.executable, ML4T, a.repeat)]
        if not a.skip_vectorbt:
            engines.append(("vectorbt", a.peers_python, VECTORBT, 1))
        for engine, py, code, n in engines:
            runs = []
            for _ in range(n):
                out = subprocess.run([py, "-c", code, cfg, a.harness], capture_output=True, text=True)
                if out.returncode != 0:
                    print(f"{engine} failed (exit {out.returncode}):\n{out.stderr[-2000:]}", file=sys.stderr)
                    break
                runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
            if runs:
                runs.sort(key=lambda r: r["seconds"])
                r = runs[len(runs) // 2] | {"runs_s": [round(x["seconds"], 3) for x in runs], "workload": name}
                rows.append(r)
                print(json.dumps(r), flush=True)
        if len(rows) == 2:
            print(f"{name}: ml4t_vec {rows[0]['seconds']:.2f} s / {rows[0]['peak_rss_mb']:.0f} MB, vectorbt "
                  f"{rows[1]['seconds']:.1f} s / {rows[1]['peak_rss_mb']:.0f} MB: "
                  f"{rows[1]['seconds'] / rows[0]['seconds']:.1f}x faster, "
                  f"{rows[1]['peak_rss_mb'] / rows[0]['peak_rss_mb']:.1f}x less memory")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
