"""Resting entry orders against market orders, end to end (issue 11: limit entries 1% below the
signal close with ``tif=5`` within 1.5x of the market-order run, and >= 10x faster than
vectorbt's market-order run on the same data).

    python benchmarks/bench_orders.py                         # 2,520 bars x 1,000 assets
    python benchmarks/bench_orders.py --bars 500 --assets 200 --repeat 3 --no-vectorbt

Workload: ``bench_core``'s scenario A as independent accounts (random 5% entries / exits, all
cash per entry, fees 0.1%, slippage 0.05%), the trades frame out. Each order type runs in one
process (warmed up once, then the median of ``--repeat`` runs; ratios against the market run of
the same process): market, a limit 1% below the signal close with ``tif=5``, a stop 1% above
with ``tif=5``, a stop-limit (stop 0.5% above, limit 1% above) with ``tif=5``. vectorbt 1.2's
``from_signals`` market run on the same data (the shared harness, ``../shared/bench/peers.py``,
in a subprocess with this python) when it is installed. Prints a markdown table and one JSON
line per run.
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

from bench_core import MODES, SHARED, vectorbt, workload  # noqa: E402

ORDERS = {
    "market": {},
    "limit 1% below, tif=5": dict(order_type="limit", limit_offset=0.01, tif=5),
    "stop 1% above, tif=5": dict(order_type="stop", stop_offset=0.01, tif=5),
    # a buy stop 0.5% above the close, its limit 1% above it (a price: an offset is always in the order's favour)
    "stop-limit 0.5% / 1% above, tif=5": dict(order_type="stop_limit", stop_offset=0.005, limit_price="lim1", tif=5),
}


def main() -> int:
    import ml4t_vec as vec

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bars", type=int, default=2520)
    ap.add_argument("--assets", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-vectorbt", action="store_true")
    args = ap.parse_args()
    _, df = workload(args.bars, args.assets)
    df = df.with_columns(lim1=df["close"] * 1.01)
    base = dict(MODES["indep_A"][0])
    rows = []
    market = None
    for name, extra in ORDERS.items():
        kw = base | extra
        t0 = time.perf_counter()
        _ = vec.backtest(df, **kw).trades
        first = time.perf_counter() - t0
        times, kern = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            res = vec.backtest(df, **kw)
            _ = res.trades
            times.append(time.perf_counter() - t0)
            kern.append(res.timings["kernel_s"])
        row = dict(orders=name, median_s=statistics.median(times), kernel_s=statistics.median(kern), first_s=first,
                   fills=res.fills.height, rejected=res.rejected.height)  # fmt: skip
        market = market or row["median_s"]
        row["ratio"] = row["median_s"] / market
        rows.append(row)
        print(json.dumps(row), flush=True)
    vbt = None
    if not args.no_vectorbt and (SHARED / "peers.py").exists():
        vbt = vectorbt(sys.executable, args.bars, args.assets, args.repeat, "A")
        if vbt:
            print(json.dumps(vbt), flush=True)
    print(f"\n{args.bars:,} bars x {args.assets:,} assets, independent accounts, medians of {args.repeat}\n")
    head = "| entry orders | end to end | vs market | kernel | fills | rejected rows |"
    print(head + (" vs vectorbt (market) |" if vbt else ""))
    print("|---|---:|---:|---:|---:|---:|" + ("---:|" if vbt else ""))
    for r in rows:
        line = (f"| {r['orders']} | {1e3 * r['median_s']:.1f} ms | {r['ratio']:.2f}x | {1e3 * r['kernel_s']:.1f} ms "
                f"| {r['fills']:,} | {r['rejected']:,} |")  # fmt: skip
        print(line + (f" {vbt['end_to_end_s'] / r['median_s']:.1f}x faster |" if vbt else ""))
    if vbt:
        ms = 1e3 * vbt["end_to_end_s"]
        print(f"\nvectorbt 1.2 from_signals + trades.records_readable (market orders): {ms:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
