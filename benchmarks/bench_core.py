"""Core engine benchmark: long Polars frame in -> trades frame out, vs a numba floor loop and vectorbt.

    python benchmarks/bench_core.py                      # 2,520 bars x 1,000 assets
    python benchmarks/bench_core.py --peers-python ../.venv-peers/bin/python   # + vectorbt side by side

Workload: the shared harness's scenario A (``../shared/bench/peers.py``: seeded random-walk OHLC,
random 5% entries / 5% exits, fees 0.1%, slippage 0.05%, init cash 100 per column, all-in
sizing, fill at the signal bar's close), as a long frame sorted by (asset, timestamp) with
string symbols. Without the shared harness a local generator with the same recipe is used.

Every figure is the median of ``--repeat`` runs after one warm-up; ratios are taken in the
same run. Peak RSS is measured per phase in a fresh subprocess (VmHWM, Linux). Prints a
markdown table (paste it into README "Performance") and one JSON line per phase.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("ML4T_SHARED_BENCH", HERE.parent.parent / "shared" / "bench"))


# --------------------------------------------------------------------------- workload
def workload(bars: int, assets: int, seed: int = 42):
    """(harness Workload or None, long frame). Asset j is identical at every size."""
    import numpy as np
    import polars as pl

    if (SHARED / "peers.py").exists():
        sys.path.insert(0, str(SHARED))
        from peers import make_workload

        w = make_workload(bars, assets, seed)
        o, h, lo, c, en, ex = (a.ravel(order="F") for a in (w.open, w.high, w.low, w.close, w.entries, w.exits))
    else:  # same recipe as the harness, local
        w = None
        rng = np.random.default_rng(seed)
        c2 = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, (assets, bars)), axis=1))
        prev = np.concatenate([np.full((assets, 1), 100.0), c2[:, :-1]], axis=1)
        o2 = prev * np.exp(rng.normal(0, 0.0025, (assets, bars)))
        h2 = np.maximum(o2, c2) * np.exp(np.abs(rng.normal(0, 0.005, (assets, bars))))
        l2 = np.minimum(o2, c2) * np.exp(-np.abs(rng.normal(0, 0.005, (assets, bars))))
        e2 = rng.random((assets, bars)) < 0.05
        x2 = (rng.random((assets, bars)) < 0.05) & ~e2
        o, h, lo, c, en, ex = (a.ravel() for a in (o2, h2, l2, c2, e2, x2))
    days = np.datetime64("2000-01-03") + np.arange(bars).astype("timedelta64[D]")
    width = len(str(assets - 1))
    df = pl.DataFrame(
        {
            "timestamp": np.tile(days.astype("datetime64[us]"), assets),
            "asset": np.repeat(np.array([f"a{j:0{width}d}" for j in range(assets)]), bars),
            "open": o,
            "high": h,
            "low": lo,
            "close": c,
            "entry": en,
            "exit": ex,
        }
    )
    return w, df


SCEN_A = dict(
    entries="entry",
    exits="exit",
    fees=0.001,
    slippage=0.0005,
    init_cash=100.0,
    size=float("inf"),
    size_type="value",
    fill="same_close",
)
# scenario B: A + stop-loss 5%, take-profit 10%, trailing 3% on OHLC, set up like the harness's
# floor loop (stops anchored on the signal close, peak from highs, stop exits at the level with
# no slippage, no re-entry on a stop bar) so its mean total return can be checked
SCEN_B = dict(SCEN_A, stop_loss=0.05, take_profit=0.10, trailing_stop=0.03, stop_anchor="signal_close",
              trailing_source="extreme", stop_slippage=0.0)  # fmt: skip
MODES = {
    # name: (backtest kwargs, what is materialised)
    "indep_A": (dict(SCEN_A, cash_sharing=False), "trades"),
    "indep_A_all_frames": (dict(SCEN_A, cash_sharing=False), "all"),
    "indep_B_rules": (dict(SCEN_B, cash_sharing=False), "trades"),
    "indep_next_open": (dict(SCEN_A, cash_sharing=False, fill="next_open"), "trades"),
    "shared_next_open": (
        dict(SCEN_A, cash_sharing=True, fill="next_open", init_cash=1e6, size=0.02, size_type="percent"),
        "trades",
    ),
}
# the same panel in every input layout (README "Performance", issue 9): each asset's rows in time
# order in all of them but the last
LAYOUTS = {
    "asset_major": "sorted by (asset, timestamp), string symbols in lexical order",
    "enum": "asset as an Enum",
    "integer": "asset as integers",
    "numeric_order": 'string symbols not in lexical order ("a0", "a1", ..., "a999"), asset-major',
    "categorical": "asset as a Categorical",
    "timestamp_major": "sorted by (timestamp, asset): ml4t-data's layout, and a join's",
    "asset_major_ragged": "ragged (every 7th asset listed 100 bars late), sorted by (asset, timestamp)",
    "timestamp_major_ragged": "ragged, sorted by (timestamp, asset)",
    "shuffled": "rows fully shuffled",
}
for _lay in LAYOUTS:
    if _lay != "asset_major":
        MODES[f"indep_A_{_lay}"] = (dict(SCEN_A, cash_sharing=False), "trades")


def _windowed_entries():
    """Scenario A's entries through a window over each asset (so a shuffled frame must be put in
    time order before it is evaluated): the entry column where the asset has a previous close."""
    import polars as pl

    return pl.col("entry") & pl.col("close").shift(1).over("asset").is_not_null()


# a signal with a window, asset-major and shuffled: what reordering a shuffled frame costs
MODES["indep_A_window"] = (dict(SCEN_A, cash_sharing=False, entries=_windowed_entries), "trades")
MODES["indep_A_window_shuffled"] = MODES["indep_A_window"]
MODES["shared_next_open_timestamp_major"] = MODES["shared_next_open"]
# issue 12's cost models on the shared next-open run: a tiered commission schedule (a minimum and
# a cap per order, the rate by the month's shares), borrow fees and interest on cash (compare
# with shared_next_open, whose only costs are flat fees and slippage)
MODES["shared_costs"] = (
    dict(MODES["shared_next_open"][0], commission="ibkr_tiered", borrow_rate=0.03, cash_rate=0.06, credit_rate=0.02),
    "trades",
)
MODES["shared_ibkr_fixed"] = (dict(MODES["shared_next_open"][0], commission="ibkr_fixed"), "trades")


def layout(df, name: str):
    """The workload frame in another input layout (same rows)."""
    import polars as pl

    if name == "enum":
        return df.with_columns(pl.col("asset").cast(pl.Enum(df.get_column("asset").unique().sort())))
    if name == "integer":
        return df.with_columns(pl.col("asset").str.slice(1).cast(pl.Int64))
    if name == "numeric_order":
        return df.with_columns(pl.col("asset").str.slice(1).cast(pl.Int64).cast(pl.String).str.replace("^", "a"))
    if name == "categorical":
        return df.with_columns(pl.col("asset").cast(pl.Categorical))
    if name.endswith("ragged"):
        late = pl.col("asset").str.slice(1).cast(pl.Int64) % 7 == 0
        first = pl.col("timestamp").min()
        df = df.filter(~late | (pl.col("timestamp") >= first + pl.duration(days=100)))
    if name.startswith("timestamp_major"):
        return df.sort("timestamp", "asset")
    if name == "shuffled":
        return df.sample(fraction=1.0, shuffle=True, seed=0)
    return df


def _kwargs(mode: str) -> tuple[dict, str]:
    kw, what = MODES[mode]
    return {k: v() if callable(v) else v for k, v in kw.items()}, what


def _layout_of(mode: str) -> str:
    if mode.endswith("timestamp_major"):
        return "timestamp_major"
    return next((lay for lay in LAYOUTS if mode.endswith("_" + lay)), "asset_major")


def _median(xs):
    return statistics.median(xs)


def _status_mb(key: str) -> float:
    """A memory line of /proc/self/status (VmHWM = peak RSS, VmRSS = current) in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _trim() -> None:
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _reset_hwm() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def run_mode(mode: str, bars: int, assets: int, repeat: int) -> dict:
    """One mode in this process: warm-up, timed runs, peak RSS of one more run."""
    import warnings

    import ml4t_vec as vec

    warnings.simplefilter("ignore", vec.LookAheadWarning)
    _, df = workload(bars, assets)
    df = layout(df, _layout_of(mode))
    kw, what = _kwargs(mode)

    def once():
        res = vec.backtest(df, **kw)
        out = res.trades
        if what == "all":
            res.fills, res.rejected, res.equity, res.stats()
        return res, out

    t0 = time.perf_counter()
    res, _ = once()
    first = time.perf_counter() - t0
    times, prep, kern = [], [], []
    for _ in range(repeat):
        res = None
        t0 = time.perf_counter()
        res, _ = once()
        times.append(time.perf_counter() - t0)
        prep.append(res.timings["prepare_s"])
        kern.append(res.timings["kernel_s"])
    price_mb = 4 * 8 * bars * assets / 2**20
    return dict(
        mode=mode,
        bars=bars,
        assets=assets,
        repeat=repeat,
        first_s=first,
        median_s=_median(times),
        prepare_s=_median(prep),
        kernel_s=_median(kern),
        cells_per_s=bars * assets / _median(times),
        n_trades=res.trades.height,
        n_fills=res.fills.height,
        mean_total_return=float(
            (res.asset_equity.group_by("symbol").agg(pl_last_equity()).get_column("e") / kw["init_cash"] - 1).mean()
        )
        if not kw.get("cash_sharing", True)
        else None,
        price_arrays_mb=price_mb,
    )


def run_rss(mode: str, bars: int, assets: int) -> dict:
    """Peak RSS of one backtest in a fresh process: numba functions loaded on a tiny panel first,
    then the baseline is taken with the workload built, then one run."""
    import gc
    import warnings

    import ml4t_vec as vec

    warnings.simplefilter("ignore", vec.LookAheadWarning)
    kw, what = _kwargs(mode)
    _, small = workload(20, 3)
    r = vec.backtest(small, **kw)
    r.trades, r.fills, r.rejected, r.equity, r.stats()
    _, df = workload(bars, assets)
    df = layout(df, _layout_of(mode))
    r = small = None
    gc.collect()
    _trim()  # freed heap memory back to the OS, so the run cannot reuse pages counted in the baseline
    base = _status_mb("VmRSS")
    _reset_hwm()
    res = vec.backtest(df, **kw)
    _ = res.trades
    if what == "all":
        _ = res.fills, res.rejected, res.equity, res.stats()
    peak = _status_mb("VmHWM")
    price_mb = 4 * 8 * bars * assets / 2**20
    frame_mb = df.estimated_size() / 2**20
    return dict(
        mode=mode,
        rss_before_mb=base,
        peak_rss_mb=peak,
        peak_delta_mb=peak - base,
        price_arrays_mb=price_mb,
        input_frame_mb=frame_mb,
        peak_delta_over_prices=(peak - base) / price_mb,
    )


def pl_last_equity():
    import polars as pl

    return pl.col("equity").last().alias("e")


def run_kernel_vs_floor(bars: int, assets: int, repeat: int, scenario: str = "A") -> dict:
    """Kernel only (prepared arrays, all threads and one thread) vs the harness's floor loop."""
    import warnings

    import numba
    import numpy as np

    import ml4t_vec as vec
    from ml4t_vec._kernels.codes import TIMING
    from ml4t_vec._kernels.launch import simulate

    warnings.simplefilter("ignore", vec.LookAheadWarning)
    w, df = workload(bars, assets)
    kw = dict(SCEN_A if scenario == "A" else SCEN_B, cash_sharing=False)
    res = vec.backtest(df, **kw)  # a real run: its prepared inputs and lowered parameters are reused
    prep, n = res._prep, res._prep.sig.shape[0]
    groups = np.arange(n + 1, dtype=np.int64)
    init = np.full(n, kw["init_cash"])
    from ml4t_vec._lower import limit_params as _limit_params
    from ml4t_vec._lower import order_params as _order_params
    from ml4t_vec._lower import risk_params as _risk_params

    params, risk = _order_params(res.config, n), _risk_params(res.config, n, prep)
    limits = _limit_params(res.config, n, n, prep)

    def kern():
        return simulate(groups, prep.col_asset, prep.prices, prep.sig, TIMING["same_close"], init, params, risk,
                        limits)  # fmt: skip

    def timed(fn):
        fn()
        ts = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return _median(ts)

    out = dict(mode=f"kernel_{scenario}", bars=bars, assets=assets, threads=numba.get_num_threads())
    out["kernel_s"] = timed(kern)
    numba.set_num_threads(1)
    out["kernel_1thread_s"] = timed(kern)
    numba.set_num_threads(out["threads"])
    sim = kern()
    out["mean_total_return"] = float(np.mean((sim.cash[-1] + sim.net[-1]) / n / kw["init_cash"] - 1.0))
    if w is not None:
        from peers import SCENARIO, _floor_kernels

        K = _floor_kernels()
        final = np.empty(assets)
        dummy = np.empty((1, 1))
        use_stops = scenario == "B"

        def floor():
            rec = np.empty((bars * assets, 6))
            return K["signals_colmajor"](w.close, w.open, w.high, w.low, w.entries, w.exits, SCENARIO["fees"],
                                         SCENARIO["slippage"], SCENARIO["init_cash"], use_stops, SCENARIO["sl"],
                                         SCENARIO["tsl"], SCENARIO["tp"], rec, final, False, dummy)  # fmt: skip

        out["floor_s"] = timed(floor)
        out["floor_mean_total_return"] = float(np.mean(final / 100.0 - 1.0))
        out["kernel_over_floor"] = out["kernel_s"] / out["floor_s"]
        out["kernel_1thread_over_floor"] = out["kernel_1thread_s"] / out["floor_s"]
    return out


def first_call() -> dict:
    """Import + first backtest in a fresh process (numba cache warm from the runs before)."""
    code = (
        "import time; t0 = time.perf_counter(); import polars as pl, ml4t_vec as vec; t1 = time.perf_counter();"
        "p = vec.synthetic_prices(n_assets=10, n_bars=252);"
        "t2 = time.perf_counter(); r = vec.backtest(p, entries=pl.col('pred') > 0.6, exits=pl.col('pred') < 0.4,"
        " fees=0.001); r.trades; r.equity; t3 = time.perf_counter();"
        "print(t1 - t0, t3 - t2)"
    )
    ts = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        imp, bt = (float(x) for x in out.stdout.split())
        ts.append((imp, bt))
    imp = _median([t[0] for t in ts])
    bt = _median([t[1] for t in ts])
    return dict(mode="first_call", import_s=imp, first_backtest_s=bt, total_s=imp + bt)


def vectorbt(peers_python: str, bars: int, assets: int, repeat: int, scenario: str = "A") -> dict | None:
    cmd = [peers_python, str(SHARED / "peers.py"), "--engine", "vectorbt", "--scenario", scenario, "--bars", str(bars),
           "--assets", str(assets), "--repeat", str(repeat), "--phases", "trades"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True)
    recs = {}
    for line in out.stdout.splitlines():
        r = json.loads(line)
        recs[r["phase"]] = r
    if "simulate" not in recs:
        print(out.stderr[-2000:], file=sys.stderr)
        return None
    return dict(
        mode=f"vectorbt_{scenario}",
        simulate_s=recs["simulate"]["median_s"],
        trades_readable_s=recs["trades_readable"]["median_s"],
        end_to_end_s=recs["simulate"]["median_s"] + recs["trades_readable"]["median_s"],
        first_s=recs["simulate"]["first_s"],
        peak_rss_mb=recs["simulate"]["peak_rss_mb"],
        n_orders=recs["check"]["n_orders"],
        mean_total_return=recs["check"]["mean_total_return"],
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bars", type=int, default=2520)
    ap.add_argument("--assets", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--peers-python", default=None, help="python of a venv with vectorbt 1.2 (shared/bench README)")
    ap.add_argument("--mode", default=None, help=argparse.SUPPRESS)  # internal: one mode in a subprocess
    a = ap.parse_args()
    if a.mode:
        if a.mode.startswith("kernel_"):
            out = run_kernel_vs_floor(a.bars, a.assets, a.repeat, a.mode[-1])
        elif a.mode.startswith("rss:"):
            out = run_rss(a.mode[4:], a.bars, a.assets)
        else:
            out = run_mode(a.mode, a.bars, a.assets, a.repeat)
        print(json.dumps(out))
        return 0
    rows = []
    size = ["--bars", str(a.bars), "--assets", str(a.assets), "--repeat", str(a.repeat)]
    for mode in [*MODES, "kernel_A", "kernel_B", *(f"rss:{m}" for m in MODES)]:
        out = subprocess.run([sys.executable, __file__, "--mode", mode, *size], capture_output=True, text=True)
        if out.returncode:
            print(out.stderr[-3000:], file=sys.stderr)
            return out.returncode
        r = json.loads(out.stdout.strip().splitlines()[-1])
        if mode.startswith("rss:"):  # memory of the same mode, measured in its own fresh process
            next(x for x in rows if x["mode"] == r["mode"]).update(r)
        else:
            rows.append(r)
    rows.append(first_call())
    for scen in ("A", "B") if a.peers_python else ():
        v = vectorbt(a.peers_python, a.bars, a.assets, a.repeat, scen)
        if v:
            rows.append(v)
    for r in rows:
        print(json.dumps(r))
    by = {r["mode"]: r for r in rows}
    threads = by["kernel_A"]["threads"]
    print(f"\n### {a.bars:,} bars x {a.assets:,} assets (median of {a.repeat}; {threads} threads)\n")
    print("| run | end-to-end | prepare | kernel | M bar-assets/s | peak RSS added | / price arrays |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for m in MODES:
        r = by[m]
        print(
            f"| {m} | {r['median_s'] * 1e3:.1f} ms | {r['prepare_s'] * 1e3:.1f} ms | {r['kernel_s'] * 1e3:.1f} ms | "
            f"{r['cells_per_s'] / 1e6:.0f} | {r['peak_delta_mb']:.0f} MB | {r['peak_delta_over_prices']:.2f}x |"
        )
    # ratios to the complete asset-major panel, and for the ragged panel also to its own rows
    # sorted by (asset, timestamp): what the row order costs, apart from what raggedness costs
    print(
        "\n| input layout (scenario A, independent accounts) | end-to-end | vs asset-major | vs same panel "
        "asset-major | peak RSS added | vs asset-major | vs same panel asset-major |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    base, same = by["indep_A"], by["indep_A_asset_major_ragged"]
    for lay, what in LAYOUTS.items():
        r = by["indep_A" if lay == "asset_major" else f"indep_A_{lay}"]
        b = same if lay.endswith("ragged") else base
        mb = r["peak_delta_mb"]
        print(f"| {what} | {r['median_s'] * 1e3:.1f} ms | {r['median_s'] / base['median_s']:.2f}x | "
              f"{r['median_s'] / b['median_s']:.2f}x | {mb:.0f} MB | {mb / base['peak_delta_mb']:.2f}x | "
              f"{mb / b['peak_delta_mb']:.2f}x |")  # fmt: skip
    r, b = by["indep_A_window_shuffled"], by["indep_A_window"]
    print(f"| rows fully shuffled, an entry signal with a window (`.over(\"asset\")`): reordered first | "
          f"{r['median_s'] * 1e3:.1f} ms | {r['median_s'] / base['median_s']:.2f}x | "
          f"{r['median_s'] / b['median_s']:.2f}x (same signal, asset-major) | {r['peak_delta_mb']:.0f} MB | "
          f"{r['peak_delta_mb'] / base['peak_delta_mb']:.2f}x | |")  # fmt: skip
    r = by["shared_next_open_timestamp_major"]
    print(f"| shared cash, 2% per entry, next open: asset-major -> timestamp-major | "
          f"{by['shared_next_open']['median_s'] * 1e3:.1f} -> {r['median_s'] * 1e3:.1f} ms | "
          f"{r['median_s'] / by['shared_next_open']['median_s']:.2f}x | {r['peak_delta_mb']:.0f} MB | |")  # fmt: skip
    r = by["indep_A"]
    print(
        f"\ninput: price arrays {r['price_arrays_mb']:.0f} MB (4 x float64), whole long frame "
        f"{r['input_frame_mb']:.0f} MB; RSS before the run {r['rss_before_mb']:.0f} MB (interpreter, libraries, data)\n"
    )
    for scen, mode in (("A", "indep_A"), ("B", "indep_B_rules")):
        k = by[f"kernel_{scen}"]
        line = (f"scenario {scen} kernel only: {k['kernel_s'] * 1e3:.1f} ms ({threads} threads), "
                f"{k['kernel_1thread_s'] * 1e3:.1f} ms (1 thread)")  # fmt: skip
        if "floor_s" in k:
            line += (f"; floor loop {k['floor_s'] * 1e3:.1f} ms (1 thread) -> kernel/floor "
                     f"{k['kernel_over_floor']:.2f}x ({k['kernel_1thread_over_floor']:.2f}x on one thread); mean total "
                     f"return {k['mean_total_return']:.10f} vs floor {k['floor_mean_total_return']:.10f}")  # fmt: skip
        print(line)
        v = by.get(f"vectorbt_{scen}")
        if v:
            ours = by[mode]["median_s"]
            print(f"  vectorbt 1.2 from_signals + trades.records_readable: {v['end_to_end_s'] * 1e3:.0f} ms (simulate "
                  f"{v['simulate_s'] * 1e3:.0f} ms) -> ml4t_vec end-to-end {ours * 1e3:.1f} ms is "
                  f"{v['end_to_end_s'] / ours:.1f}x faster; orders {v['n_orders']} vs {by[mode]['n_fills']}, mean "
                  f"total return {v['mean_total_return']:.10f}")  # fmt: skip
    on_off = by["indep_B_rules"]["median_s"] / by["indep_A"]["median_s"]
    print(f"rules on vs off (same data): end-to-end {on_off:.2f}x; "
          f"kernel {by['kernel_B']['kernel_s'] / by['kernel_A']['kernel_s']:.2f}x")  # fmt: skip
    fc = by["first_call"]
    print(
        f"fresh process, warm cache: import {fc['import_s']:.2f} s + first backtest {fc['first_backtest_s']:.2f} s "
        f"= {fc['total_s']:.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
