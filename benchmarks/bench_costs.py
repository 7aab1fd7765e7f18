"""Cost models against flat fees, end to end (issue 12: every cost model on within 1.3x of the
flat-fee run, 2,520 x 1,000).

    python benchmarks/bench_costs.py                       # both workloads, 2,520 bars x 1,000 assets
    python benchmarks/bench_costs.py --bars 500 --assets 200 --repeat 3

Two workloads, each run under every cost model in one process (each model warmed up once, then
the median of ``--repeat`` runs; ratios against the flat-fee run of the same process):

- ``signals``: ``bench_core``'s shared-cash next-open run (random 5% entries / exits, 2% of
  equity per entry, fees 0.1% and slippage 0.05% in the flat run), the trades frame out;
- ``weights``: ``bench_weights``' daily decile long/short book (fees 0.05% in the flat run,
  same-close fills sized at the fill), the trades and fills frames out.

The cost models replace or add to the flat fees: IB's fixed and tiered commission schedules, a
spread of 5 bps, a spread per bar (0.1 x the asset's 20-bar volatility of returns, precomputed
as a column, as a model's output would be), market impact (signals only: the square-root law
with k = 0.1 on its default inputs, the 20-bar volatility and mean ``volume`` evaluated in the
run, or on precomputed ``sig`` / ``adv`` columns), and everything at once (IB tiered, the
per-bar spread, borrow fees on shorts, interest on cash, and for signals the impact on its
default inputs). A synthetic ``volume`` (20,000 shares a bar, lognormal) feeds the impact.
Prints a markdown table and one JSON line per run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_core import MODES, workload  # noqa: E402
from bench_weights import data as weight_data  # noqa: E402

FINANCING = dict(borrow_rate=0.03, cash_rate=0.06, credit_rate=0.02)


def models() -> dict:
    """name -> (the keywords over the flat run, the workloads it applies to)."""
    import ml4t_vec as vec

    both, signals = ("signals", "weights"), ("signals",)
    impact = vec.SquareRootImpact(k=0.1)
    return {
        "flat fees": ({}, both),
        "IB fixed": (dict(commission="ibkr_fixed"), both),
        "IB tiered": (dict(commission="ibkr_tiered"), both),
        "spread 5 bps": (dict(spread=0.0005), both),
        "spread per bar": (dict(spread="spr"), both),
        "impact, default inputs": (dict(impact=impact), signals),
        "impact, input columns": (dict(impact=vec.SquareRootImpact(k=0.1, sigma="sig", adv="adv")), signals),
        "all: IB tiered + spread per bar + borrow + interest (+ impact)": (
            dict(commission="ibkr_tiered", spread="spr", **FINANCING), both),
    }  # fmt: skip


def with_spread(df):
    """The frame with ``spr``: 0.1 x the asset's 20-bar volatility of close-to-close returns up
    to the bar before (known at the open; 2% before there are 20 bars), clipped to [0, 5%]; a
    synthetic ``volume`` (lognormal about 20,000 shares, seeded) and the impact's inputs as
    columns, ``sig`` (that volatility, 20-bar) and ``adv`` (the 20-bar mean volume)."""
    import numpy as np
    import polars as pl

    vol = pl.col("close").pct_change().rolling_std(20).shift(1).over("asset").fill_null(0.02)
    volume = 20_000.0 * np.exp(np.random.default_rng(7).normal(0.0, 0.5, df.height))
    df = df.with_columns(spr=(0.1 * vol).clip(0.0, 0.05), volume=pl.Series(volume))
    by = dict(order_by="timestamp")
    ret = pl.col("close") / pl.col("close").shift(1) - 1.0
    return df.with_columns(sig=ret.rolling_std(20).over("asset", **by),
                           adv=pl.col("volume").rolling_mean(20).over("asset", **by))  # fmt: skip


def workloads(bars: int, assets: int) -> dict:
    """name -> (frame, the flat run's keywords, what to materialise)."""
    _, sdf = workload(bars, assets)
    sig_kw = dict(MODES["shared_next_open"][0])
    wdf, wexpr = weight_data(bars, assets)
    wdf = wdf.with_columns(w=wexpr)
    w_kw = dict(weights="w", rebalance="every_bar", fees=0.0005, fill="same_close", size_at="fill", init_cash=1e6)
    return {"signals": (with_spread(sdf), sig_kw, ("trades",)),
            "weights": (with_spread(wdf), w_kw, ("trades", "fills"))}  # fmt: skip


def main() -> int:
    import warnings

    import ml4t_vec as vec

    warnings.simplefilter("ignore")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bars", type=int, default=2520)
    ap.add_argument("--assets", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--only", choices=["signals", "weights"], default=None)
    args = ap.parse_args()
    rows = []
    for name, (df, base, out) in workloads(args.bars, args.assets).items():
        if args.only and name != args.only:
            continue
        flat = None
        for model, (extra, where) in models().items():
            if name not in where:
                continue
            kw = dict(base) | extra
            if model.startswith("all") and name == "signals":
                kw["impact"] = models()["impact, default inputs"][0]["impact"]
            if "commission" in extra:  # a schedule replaces the flat commission; fees stay on top
                kw.pop("commission_per_share", None)

            def once(kw=kw, df=df, out=out):
                res = vec.backtest(df, **kw)
                for o in out:
                    getattr(res, o)
                return res

            once()
            times, kern = [], []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                res = once()
                times.append(time.perf_counter() - t0)
                kern.append(res.timings["kernel_s"])
            s = res.stats().row(0, named=True)
            row = dict(workload=name, model=model, median_s=statistics.median(times),
                       kernel_s=statistics.median(kern), fills=res.fills.height, total_costs=s["total_costs"],
                       total_spread_cost=s["total_spread_cost"], total_impact_cost=s["total_impact_cost"])  # fmt: skip
            flat = flat or row["median_s"]
            row["ratio"] = row["median_s"] / flat
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(f"\n{args.bars:,} bars x {args.assets:,} assets, medians of {args.repeat}\n")
    print("| workload | cost model | end to end | vs flat fees | kernel | fills |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['workload']} | {r['model']} | {1e3 * r['median_s']:.1f} ms | {r['ratio']:.2f}x | "
              f"{1e3 * r['kernel_s']:.1f} ms | {r['fills']:,} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
