"""A warm numba cache is used as is: a backtest in a fresh process compiles nothing.

Guards against a dtype or memory layout change in Prepare (float32, F-order, int where a
float is expected) that would make every process pay a fresh ~1 s compile (STYLE.md §3).
"""

import subprocess
import sys

SCRIPT = r"""
import polars as pl, ml4t_vec as vec
from ml4t_vec._kernels import grid, series, simulate
p = vec.synthetic_prices(n_assets=4, n_bars=60, seed=1)
ragged = p.filter((pl.col("asset") != "A0") | (pl.col("timestamp") > pl.col("timestamp").min()))
for df in (p, ragged):
    for cs in (True, False):
        for fill in ("next_open", "next_close"):
            r = vec.backtest(df, entries=pl.col("pred") > 0.6, exits=pl.col("pred") < 0.4, cash_sharing=cs,
                             fill=fill, fees=0.001)
            r.trades, r.fills, r.rejected, r.equity, r.asset_equity, r.stats()
misses = {}
for mod in (grid, series, simulate):
    for name in dir(mod):
        f = getattr(mod, name)
        if hasattr(f, "stats") and hasattr(f.stats, "cache_misses"):
            n = sum(f.stats.cache_misses.values())
            if n:
                misses[name] = n
print(misses)
"""


def test_second_process_compiles_nothing():
    subprocess.run([sys.executable, "-c", SCRIPT], check=True, capture_output=True)  # warms the cache
    out = subprocess.run([sys.executable, "-c", SCRIPT], check=True, capture_output=True, text=True)
    assert out.stdout.strip().splitlines()[-1] == "{}", out.stdout
