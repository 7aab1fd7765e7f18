"""``backtest(weights=..., preset="ml4t")`` reproduces ml4t-backtest 0.2.0's
``TargetWeightExecutor`` fill for fill, checked against the engine itself.

ml4t-backtest needs Python >= 3.12 and this suite runs on 3.11, so the peer runs in its own
interpreter: ``tests/peers/ml4t_weights_runner.py`` (ml4t-backtest used as a library, never
copied), as for ``test_ml4t_preset.py``. Set ``ML4T_VEC_PY312`` to a python that has
``ml4t-backtest==0.2.0`` and pyarrow; without it the test is skipped (a failure when
``ML4T_VEC_REQUIRE_PEERS`` is set).

Scenarios are drawn with numpy from a seed: ``ML4T_VEC_PEER_EXAMPLES`` (default 40) scenarios
from ``ML4T_VEC_PEER_SEED`` (default below). Each has 1-6 assets on random walks with gaps
(missing bars, late starts, early ends), random target weights long and short (some null, some
0, a few beyond +-1, a gross that often needs more cash than there is), a random rebalance
schedule (every bar, every n-th bar or random bars), fees, fixed fees, per-share commission,
slippage (fraction and per share), a cash amount small enough that whole-share rounding and the
cash check bite, and sometimes lots or thresholds; one in five runs fractional shares
(ml4t-backtest's ``share_type=FRACTIONAL``, where it rejects an order that does not fit whole:
ml4t_vec's ``shortfall="reject"``; the runner passes a zero weight as a left-out name there,
``ml4t_weights_runner.FollowWeights``, to steer around a float residue). The runner runs all of them in one
interpreter start; each scenario is one test case comparing every fill (time, asset, side,
quantity, price, fees), every trade row (entry / exit time and price, quantity, pnl, fees,
status) and the equity at every bar, to 1e-9 relative.

Mapping ml4t-backtest's records to ml4t_vec's:
- a reversal is one ml4t-backtest fill and two ml4t_vec fills (the close and the new side, the
  order's fee split by shares, as ml4t-backtest splits it in its trade rows): fills are summed
  per (bar, asset, side) before comparing;
- ``exit_time`` of an open trade: ml4t-backtest stamps the last timestamp of the whole feed,
  ml4t_vec the asset's own last bar (the price is the asset's last close in both);
- the equity frame: ``equity`` per timestamp in both.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import ml4t_vec as vec

N = int(os.environ.get("ML4T_VEC_PEER_EXAMPLES", "40"))
SEED = int(os.environ.get("ML4T_VEC_PEER_SEED", "20261207"))
PY312 = os.environ.get("ML4T_VEC_PY312")
RUNNER = Path(__file__).with_name("ml4t_weights_runner.py")
T0 = dt.datetime(2024, 1, 1)
TRADE_KEYS = ("entry_time", "exit_time", "entry_price", "exit_price", "quantity", "pnl", "fees", "status")

if not PY312:
    if os.environ.get("ML4T_VEC_REQUIRE_PEERS"):  # CI: a missing peer is a failure, not a skip
        raise RuntimeError("ML4T_VEC_REQUIRE_PEERS is set but ML4T_VEC_PY312 (a python with ml4t-backtest) is not")
    pytest.skip("ML4T_VEC_PY312 not set: no python with ml4t-backtest 0.2.0 to compare with", allow_module_level=True)


def draw_scenario(rng: np.random.Generator) -> tuple[pl.DataFrame, dict]:
    """One random scenario: a long price frame with a weight column ``w``, and its settings."""
    n_assets = int(rng.integers(1, 7))
    n_bars = int(rng.integers(10, 60))
    p_gap = float(rng.choice([0.0, 0.05, 0.2]))
    gross = rng.uniform(0.3, 1.8, n_bars)  # per bar: often more than the cash buys
    raw = rng.normal(0.0, 1.0, (n_assets, n_bars)) + float(rng.choice([0.0, 0.5]))  # sometimes mostly long
    w = raw / np.maximum(np.abs(raw).sum(axis=0), 1e-9) * gross
    w[rng.random((n_assets, n_bars)) < 0.03] *= 4.0  # beyond +-1 now and then (clipped by ml4t-backtest)
    w[rng.random((n_assets, n_bars)) < 0.1] = 0.0
    null = rng.random((n_assets, n_bars)) < float(rng.choice([0.0, 0.1, 0.3]))
    rows = []
    for a in range(n_assets):
        start = int(rng.integers(0, n_bars // 3)) if rng.random() < 0.3 else 0
        end = int(rng.integers(2 * n_bars // 3, n_bars + 1)) if rng.random() < 0.3 else n_bars
        present = rng.random(n_bars) >= p_gap
        vol = float(rng.choice([0.01, 0.02, 0.04]))
        close = rng.uniform(5, 400) * np.exp(np.cumsum(rng.normal(0, vol, n_bars)))
        open_ = np.r_[close[0], close[:-1]] * np.exp(rng.normal(0, vol / 2, n_bars))
        high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, vol / 2, n_bars)))
        low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, vol / 2, n_bars)))
        for i in range(start, end):
            if present[i]:
                rows.append(dict(timestamp=T0 + dt.timedelta(days=i), asset=f"A{a}", open=open_[i], high=high[i],
                                 low=low[i], close=close[i], volume=1e6,
                                 w=None if null[a, i] else float(w[a, i])))  # fmt: skip
    df = pl.DataFrame(rows, schema_overrides={"w": pl.Float64})
    times = df.get_column("timestamp").unique().sort().to_list()
    kind = rng.integers(3)
    if kind == 0:
        rebalance = times
    elif kind == 1:
        rebalance = times[:: int(rng.integers(2, 8))]
    else:
        rebalance = [t for t in times if rng.random() < 0.4] or times[:1]
    extras = rng.random() < 0.3
    fractional = rng.random() < 0.2  # ml4t-backtest rejects a cut order whole: shortfall="reject"
    settings = dict(
        init_cash=float(rng.choice([100_000.0, 20_000.0, 3_000.0])),
        fees=float(rng.choice([0.0, 0.001, 0.01])),
        fixed_fees=float(rng.choice([0.0, 0.0, 1.0])),
        commission_per_share=float(rng.choice([0.0, 0.0, 0.005])),
        slippage=float(rng.choice([0.0, 0.0, 0.001, 0.01])),
        slippage_per_share=float(rng.choice([0.0, 0.0, 0.01])),
        rebalance=[t.isoformat() for t in rebalance],
        lot_size=int(rng.choice([5, 10])) if rng.random() < 0.2 and not fractional else None,
        min_weight_change=float(rng.choice([0.0, 0.01, 0.05])) if extras and not fractional else 0.0,
        min_trade_value=float(rng.choice([0.0, 100.0, 500.0])) if extras and not fractional else 0.0,
        fractional=fractional,
    )
    return df, settings


@pytest.fixture(scope="module")
def peer_runs(tmp_path_factory):
    """Draw the N scenarios, write them, run ml4t-backtest on all of them in one process."""
    root = tmp_path_factory.mktemp("ml4t_weights_peer")
    rng = np.random.default_rng(SEED)
    scenarios = []
    for k in range(N):
        df, settings = draw_scenario(rng)
        folder = root / f"s{k:04d}"
        folder.mkdir()
        df.write_parquet(folder / "prices.parquet")
        (folder / "settings.json").write_text(json.dumps(settings))
        scenarios.append((folder, df, settings))
    t0 = time.perf_counter()
    proc = subprocess.run([PY312, str(RUNNER), str(root)], capture_output=True, text=True, timeout=3600)
    print(f"ml4t-backtest weights runner: {N} scenarios in {time.perf_counter() - t0:.1f} s (seed {SEED})",
          file=sys.stderr)  # fmt: skip
    assert proc.returncode == 0 or all((f / "meta.json").exists() for f, _, _ in scenarios), proc.stderr
    return scenarios


def our_run(df: pl.DataFrame, s: dict):
    return vec.backtest(
        df, weights="w", preset="ml4t", rebalance=[dt.datetime.fromisoformat(x) for x in s["rebalance"]],
        init_cash=s["init_cash"], fees=s["fees"], fixed_fees=s["fixed_fees"],
        commission_per_share=s["commission_per_share"], slippage=s["slippage"],
        slippage_per_share=s["slippage_per_share"], lot_size=s["lot_size"], min_weight_change=s["min_weight_change"],
        min_trade_value=s["min_trade_value"], fractional=s["fractional"],
        shortfall="reject" if s["fractional"] else "priority",
    )  # fmt: skip


def close(x, y) -> bool:
    if isinstance(x, float) and isinstance(y, float):
        return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9)
    return x == y


def compare_fills(want: pl.DataFrame, got: pl.DataFrame) -> list[str]:
    """Fills summed per (timestamp, asset, side): a reversal is one fill there, two here."""
    g = (
        got.select(
            "timestamp", pl.col("symbol").alias("asset"), pl.col("side").cast(pl.String), "quantity", "price", "fees"
        )
        .group_by("timestamp", "asset", "side", maintain_order=True)
        .agg(pl.col("quantity").sum(), pl.col("price").first(), pl.col("fees").sum())
        .sort("timestamp", "asset", "side")
    )
    w = want.sort("timestamp", "asset", "side")
    if (
        w.height != g.height
        or w.select("timestamp", "asset", "side").rows() != g.select("timestamp", "asset", "side").rows()
    ):
        return [f"fills differ:\nml4t-backtest\n{w}\nml4t_vec\n{g}"]
    problems = []
    for a, b in zip(w.iter_rows(named=True), g.iter_rows(named=True), strict=True):
        bad = [f"{k}: ml4t-backtest {a[k]!r} ml4t_vec {b[k]!r}" for k in ("quantity", "price", "fees")
               if not close(a[k], b[k])]  # fmt: skip
        if bad:
            problems.append(f"fill {a['timestamp']} {a['asset']} {a['side']}: " + "; ".join(bad))
    return problems


def compare_trades(want: pl.DataFrame, got: pl.DataFrame, last_ts, asset_last: dict) -> list[str]:
    w = want.select("symbol", *TRADE_KEYS).with_columns(
        exit_time=pl.when((pl.col("status") == "open") & (pl.col("exit_time") == last_ts))
        .then(pl.col("symbol").replace_strict(asset_last, return_dtype=pl.Datetime("us")))
        .otherwise(pl.col("exit_time"))
    )
    g = got.select("symbol", *TRADE_KEYS).with_columns(pl.col("status").cast(pl.String))
    order = ["symbol", "entry_time", "exit_time", "status", "quantity"]
    w, g = w.sort(order), g.sort(order)
    if w.height != g.height:
        return [f"{w.height} trade rows in ml4t-backtest, {g.height} in ml4t_vec:\n{w}\n{g}"]
    problems = []
    for a, b in zip(w.iter_rows(named=True), g.iter_rows(named=True), strict=True):
        bad = [f"{k}: ml4t-backtest {a[k]!r} ml4t_vec {b[k]!r}" for k in TRADE_KEYS if not close(a[k], b[k])]
        if bad:
            problems.append(f"trade {a['symbol']} entry {a['entry_time']}: " + "; ".join(bad))
    return problems


@pytest.mark.parametrize("k", range(N))
def test_ml4t_weights_preset_matches_target_weight_executor(peer_runs, k):
    folder, df, settings = peer_runs[k]
    meta = json.loads((folder / "meta.json").read_text())
    assert "error" not in meta, f"seed {SEED} scenario {k}: ml4t-backtest failed:\n{meta['error']}"
    res = our_run(df, settings)
    last_ts = df["timestamp"].max()
    asset_last = dict(df.group_by("asset").agg(pl.col("timestamp").max()).rows())
    problems = compare_fills(pl.read_parquet(folder / "fills.parquet"), res.fills)
    problems += compare_trades(pl.read_parquet(folder / "trades.parquet"), res.trades, last_ts, asset_last)
    eq = pl.read_parquet(folder / "equity.parquet").select("timestamp", "equity")
    ours = res.equity.select("timestamp", "equity")
    if eq.get_column("timestamp").to_list() != ours.get_column("timestamp").to_list():
        problems.append("equity timestamps differ")
    else:
        bad = [(t, x, y) for t, x, y in zip(eq["timestamp"], eq["equity"], ours["equity"], strict=True)
               if not close(x, y)]  # fmt: skip
        if bad:
            problems.append(f"equity differs at {len(bad)} bars, first {bad[0]}")
    assert not problems, (
        f"seed {SEED} (ML4T_VEC_PEER_SEED) scenario {k} ({folder}), settings "
        f"{ {k: v for k, v in settings.items() if k != 'rebalance'} }:\n" + "\n".join(problems[:10])
    )
