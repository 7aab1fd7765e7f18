"""Command line (``ml4t-vec`` or ``python -m ml4t_vec``): a demo, and batch pipelines from config files.

ml4t-vec demo [--assets 500] [--bars 2520] [--seed 42]   # a backtest on generated data, printed
ml4t-vec run strategy.toml --out results/ [--force]       # each strategy to results/<name>/
ml4t-vec sweep sweep.toml --out results/ [--force]        # each grid to results/<name>/ (resumable)
ml4t-vec report results/                                  # one line per results directory
ml4t-vec schema-docs                                      # the README output tables, from ml4t_vec.schema
"""

from __future__ import annotations

import argparse
import sys
import time


def demo(assets: int, bars: int, seed: int) -> None:
    import polars as pl

    import ml4t_vec as vec

    t0 = time.perf_counter()
    prices = vec.synthetic_prices(n_assets=assets, n_bars=bars, seed=seed)
    t1 = time.perf_counter()
    print(
        f"synthetic panel: {prices.height:,} rows ({assets} assets x {bars} daily bars, seed {seed}) in {t1 - t0:.2f} s"
    )
    print(prices.head(3))

    # an ML-style rule: go long the names whose model score ranks in the top 5% of the day,
    # exit when the score falls below the median, or on an 8% stop / 15% target; size 2% of equity
    # per position, one shared account
    rank = pl.col("pred").rank().over("timestamp") / pl.len().over("timestamp")

    def run():
        t = time.perf_counter()
        r = vec.backtest(
            prices,
            entries=rank > 0.95,
            exits=rank < 0.5,
            size=0.02,
            size_type="percent",
            fees=0.0005,
            slippage=0.0005,
            init_cash=1_000_000,
            stop_loss=0.08,  # position rules: README "Position rules"
            take_profit=0.15,
        )
        return r, r.trades, time.perf_counter() - t

    res, trades, first = run()
    res, trades, again = run()
    print(
        f"\nbacktest, long frame in -> trades frame out: {first:.3f} s on the first call of this process "
        f"(loads the compiled kernels from numba's disk cache, or compiles them on the very first run), "
        f"{again:.3f} s again (prepare {res.timings['prepare_s']:.3f} s incl. the rank expressions, "
        f"kernel {res.timings['kernel_s']:.3f} s)"
    )
    print(res)
    print("\ntrades:")
    print(trades.head(8))
    print("\ntrades by exit reason:")
    print(trades.group_by("exit_reason").agg(pl.len(), pl.col("pnl").mean().alias("mean_pnl")).sort("exit_reason"))
    print("\nrejected / reduced orders by reason:")
    print(res.rejected.group_by("reason").len().sort("reason"))
    print("\nequity:")
    print(res.equity.tail(3))
    print("\nsummary (res.summary(); res.stats() is the same as a one-row frame):")
    print(res.summary())


def schema_docs() -> None:
    from ml4t_vec import schema

    for name, spec in schema.SCHEMAS.items():
        print(f"<!-- schema:{name} -->")
        print("| column | type | meaning |\n|---|---|---|")
        for col, (dtype, doc) in spec.items():
            t = "timestamp (input dtype)" if dtype == schema.TIME else str(dtype).replace("|", "/")
            print(f"| `{col}` | {t} | {doc} |")
        print(f"<!-- /schema:{name} -->\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="ml4t-vec", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("demo", help="backtest a seeded synthetic panel and print trades, stats and timing")
    d.add_argument("--assets", type=int, default=500)
    d.add_argument("--bars", type=int, default=2520)
    d.add_argument("--seed", type=int, default=42)
    sub.add_parser("schema-docs", help="print the README output tables")
    for cmd, what in (("run", "backtest each strategy of a config file"), ("sweep", "run each sweep of a config file")):
        p = sub.add_parser(cmd, help=f"{what} into --out/<name>/ (README 'Batch pipelines')")
        p.add_argument("config", help="a .toml file (or .yaml with pyyaml)")
        p.add_argument("--out", required=True, help="the results directory")
        p.add_argument("--force", action="store_true", help="run again even when the results are up to date")
    r = sub.add_parser("report", help="summarise a results directory (one line per strategy or sweep)")
    r.add_argument("results")
    a = ap.parse_args(argv)
    if a.cmd == "demo":
        demo(a.assets, a.bars, a.seed)
    elif a.cmd == "schema-docs":
        schema_docs()
    else:
        from ml4t_vec import pipeline
        from ml4t_vec.errors import ConfigError, DataError

        try:
            if a.cmd == "report":
                import polars as pl

                with pl.Config(tbl_rows=100, tbl_cols=12, fmt_str_lengths=40, tbl_width_chars=200):
                    print(pipeline.report(a.results))
            else:
                getattr(pipeline, a.cmd)(a.config, a.out, force=a.force)
        except (ConfigError, DataError) as err:  # a config or data problem: its message, no traceback
            print(f"ml4t-vec {a.cmd}: {err}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
