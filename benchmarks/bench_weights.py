"""Target-weight portfolios: ml4t_vec ``backtest(weights=...)`` vs vectorbt ``Portfolio.from_orders``
with ``size_type="targetpercent"`` on the same data, in the same run (issue 10 §6).

    python benchmarks/bench_weights.py                          # 2,520 bars x 1,000 assets
    python benchmarks/bench_weights.py --bars 500 --assets 200  # quicker

Workload: seeded random-walk OHLC (``bench_core.workload``), a random score per (asset, bar), and
top / bottom decile weights from it (+0.5 / -0.5 of equity split equally, a long/short book at
gross 1), precomputed as a column for both engines; the cost of the weight expression
(``vec.weights.quantile``) is reported on its own. One shared-cash portfolio, fees 0.05%,
orders filled at the decision bar's close and sized on the fill price (vectorbt's default:
``fill="same_close"``, ``size_at="fill"``), fractional shares. Rebalanced monthly (the last bar
of each month) and daily. ml4t_vec gets the long frame sorted by (timestamp, asset), the common
layout; vectorbt gets wide pandas frames built beforehand (its best case). End to end: the
frame in, the orders / trades out (``res.trades`` and ``res.fills``; vectorbt's
``orders.records_readable`` and ``trades.records_readable``).

Every figure is the median of ``--repeat`` runs after one warm-up, each engine in its own fresh
process; peak RSS (VmHWM) is measured around one run after the warm-up.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_core import _reset_hwm, _status_mb, _trim, workload  # noqa: E402


def data(bars: int, assets: int):
    """(long frame sorted by (timestamp, asset) with a score, the weight expression)."""
    import numpy as np
    import polars as pl

    import ml4t_vec as vec

    _, df = workload(bars, assets)
    rng = np.random.default_rng(7)
    df = df.drop("entry", "exit").with_columns(score=pl.Series(rng.normal(size=df.height)))
    return df.sort("timestamp", "asset"), vec.weights.quantile(pl.col("score"), q=10)


def run_ours(bars: int, assets: int, rebalance: str, repeat: int) -> dict:
    import gc
    import warnings

    import ml4t_vec as vec

    warnings.simplefilter("ignore")
    df, wexpr = data(bars, assets)
    t0 = time.perf_counter()
    df = df.with_columns(w=wexpr)
    helper_s = time.perf_counter() - t0
    kw = dict(weights="w", rebalance="M" if rebalance == "monthly" else "every_bar", fees=0.0005, fill="same_close",
              size_at="fill", init_cash=1e6)  # fmt: skip

    def once():
        res = vec.backtest(df, **kw)
        return res, res.trades, res.fills

    once()
    times, kern = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        res, trades, fills = once()
        times.append(time.perf_counter() - t0)
        kern.append(res.timings["kernel_s"])
    res = trades = fills = None
    gc.collect()
    _trim()
    base = _status_mb("VmRSS")
    _reset_hwm()
    res, trades, fills = once()
    peak = _status_mb("VmHWM") - base
    eq = res.equity.get_column("equity")
    return dict(engine="ml4t_vec", rebalance=rebalance, median_s=statistics.median(times),
                kernel_s=statistics.median(kern), helper_s=helper_s, fills=fills.height, trades=trades.height,
                final_equity=float(eq[-1]), peak_rss_added_mb=peak,
                price_arrays_mb=4 * 8 * bars * assets / 2**20,
                total_fees=float(fills.get_column("fees").sum()))  # fmt: skip


def run_vectorbt(bars: int, assets: int, rebalance: str, repeat: int) -> dict:
    import gc
    import warnings

    import numpy as np
    import pandas as pd
    import polars as pl
    import vectorbt as vbt

    warnings.simplefilter("ignore")
    df, wexpr = data(bars, assets)
    df = df.with_columns(w=wexpr)
    wide = lambda col: df.pivot(on="asset", index="timestamp", values=col).sort("timestamp")  # noqa: E731
    close_w = wide("close")
    idx = pd.DatetimeIndex(close_w.get_column("timestamp").to_numpy())
    close = pd.DataFrame(close_w.drop("timestamp").to_numpy(), index=idx, columns=close_w.columns[1:])
    w = wide("w").drop("timestamp").to_numpy().copy()
    if rebalance == "monthly":  # orders on the last bar of each month only (NaN: no order)
        month = pl.Series(idx.to_numpy()).dt.truncate("1mo").to_numpy()
        last = np.ones(len(idx), dtype=bool)
        last[:-1] = month[1:] != month[:-1]
        w[~last] = np.nan
    size = pd.DataFrame(w, index=idx, columns=close.columns)

    def once():
        pf = vbt.Portfolio.from_orders(close, size=size, size_type="targetpercent", fees=0.0005, init_cash=1e6,
                                       cash_sharing=True, group_by=True, call_seq="auto", freq="1D")  # fmt: skip
        return pf, pf.orders.records_readable, pf.trades.records_readable

    once()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        pf, orders, trades = once()
        times.append(time.perf_counter() - t0)
    pf = orders = trades = None
    gc.collect()
    _trim()
    base = _status_mb("VmRSS")
    _reset_hwm()
    pf, orders, trades = once()
    peak = _status_mb("VmHWM") - base
    return dict(engine="vectorbt", rebalance=rebalance, median_s=statistics.median(times), fills=len(orders),
                trades=len(trades), final_equity=float(pf.value().iloc[-1]), peak_rss_added_mb=peak,
                total_fees=float(orders["Fees"].sum()))  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bars", type=int, default=2520)
    ap.add_argument("--assets", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--peers-python", default=sys.executable, help="python of a venv with vectorbt 1.2")
    ap.add_argument("--run", default=None, help=argparse.SUPPRESS)  # internal: engine:rebalance in a subprocess
    a = ap.parse_args()
    if a.run:
        engine, rebalance = a.run.split(":")
        fn = run_ours if engine == "ml4t_vec" else run_vectorbt
        print(json.dumps(fn(a.bars, a.assets, rebalance, a.repeat)))
        return 0
    size = ["--bars", str(a.bars), "--assets", str(a.assets), "--repeat", str(a.repeat)]
    rows = {}
    for rebalance in ("monthly", "daily"):
        for engine, py in (("ml4t_vec", sys.executable), ("vectorbt", a.peers_python)):
            out = subprocess.run([py, __file__, "--run", f"{engine}:{rebalance}", *size], capture_output=True,
                                 text=True)  # fmt: skip
            if out.returncode:
                print(out.stderr[-3000:], file=sys.stderr)
                if engine == "ml4t_vec":
                    return out.returncode
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(json.dumps(r))
            rows[(engine, rebalance)] = r
    print(f"\n### {a.bars:,} bars x {a.assets:,} assets, top/bottom decile weights (median of {a.repeat})\n")
    print("| rebalance | ml4t_vec end-to-end | kernel | vectorbt from_orders | ratio | fills (ours / vbt) | "
          "peak RSS added (ours / vbt) | / price arrays | final equity (ours / vbt) |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for rebalance in ("monthly", "daily"):
        o = rows[("ml4t_vec", rebalance)]
        v = rows.get(("vectorbt", rebalance))
        vs = f"{v['median_s'] * 1e3:.0f} ms" if v else "-"
        ratio = f"{v['median_s'] / o['median_s']:.1f}x" if v else "-"
        vf = v["fills"] if v else "-"
        vm = f"{v['peak_rss_added_mb']:.0f}" if v else "-"
        ve = f"{v['final_equity']:,.2f}" if v else "-"
        print(f"| {rebalance} | {o['median_s'] * 1e3:.0f} ms | {o['kernel_s'] * 1e3:.0f} ms | {vs} | {ratio} | "
              f"{o['fills']:,} / {vf} | {o['peak_rss_added_mb']:.0f} / {vm} MB | "
              f"{o['peak_rss_added_mb'] / o['price_arrays_mb']:.2f}x | {o['final_equity']:,.2f} / {ve} |")  # fmt: skip
    o = rows[("ml4t_vec", "monthly")]
    print(f"\nweights expression (vec.weights.quantile, q=10) on the long frame: {o['helper_s'] * 1e3:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
