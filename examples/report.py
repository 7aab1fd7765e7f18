"""Metrics, trade analysis, figures and the HTML report of a backtest against a benchmark.

    python examples/report.py            # writes report.html next to this script (extra "plot")

Without plotly installed, the figures and the report are skipped and the rest still runs.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import polars as pl

import ml4t_vec as vec

prices = vec.synthetic_prices(n_assets=20, n_bars=1260, seed=7)
market = prices.get_column("asset")[0]  # one asset of the panel, bought and held, as the benchmark
res = vec.backtest(
    prices,
    entries=pl.col("pred") > 0.6,
    exits=pl.col("pred") < 0.45,
    stop_loss=0.05,
    fees=0.0005,
    benchmark=market,
)
print(res.summary())
ta = res.analyze()
print(ta.by_exit_reason)
print(ta.r_summary)
print(res.rolling(63).tail(3))
print(res.monthly_returns())

if importlib.util.find_spec("plotly") is not None:
    fig = res.plot("equity")  # fig.show() in a notebook
    out = res.report(Path(__file__).with_name("report.html"), title="Score > 0.6, 5% stop, vs the first asset")
    print(f"report: {out} ({out.stat().st_size / 1e6:.1f} MB)")
