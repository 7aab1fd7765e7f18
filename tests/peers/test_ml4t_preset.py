"""``preset="ml4t"`` reproduces ml4t-backtest 0.2.0 trade for trade, checked against the engine itself.

ml4t-backtest needs Python >= 3.12 and this suite runs on 3.11, so the peer runs in its own
interpreter: ``tests/peers/ml4t_runner.py`` (ml4t-backtest used as a library, never copied). Set
``ML4T_VEC_PY312`` to a python that has ``ml4t-backtest==0.2.0`` and pyarrow; without it the test
is skipped (a failure when ``ML4T_VEC_REQUIRE_PEERS`` is set). To build one:

    python3.12 -m venv .venv-ml4t && .venv-ml4t/bin/pip install ml4t-backtest==0.2.0 pyarrow
    ML4T_VEC_PY312=.venv-ml4t/bin/python pytest tests/peers/test_ml4t_preset.py

Scenarios are drawn with numpy from a seed: ``ML4T_VEC_PEER_EXAMPLES`` (default 30) scenarios from
``ML4T_VEC_PEER_SEED`` (default below). Each has 1-5 assets on random walks with gaps (missing
bars, late starts, early ends), sparse random long / short entries and exits, a whole-share size,
fees, fixed fees, per-share commission, slippage (fraction and per share), a cash amount that
sometimes binds, and one of the eight on/off combinations of stop-loss, take-profit and trailing
stop. The runner runs all of them in one interpreter start; each scenario is then one test case
comparing every trade: entry / exit time, entry / exit price, quantity, pnl, fees, exit reason and
status, to 1e-9 relative.

Mapping ml4t-backtest's trades frame (``BacktestResult.to_trades_dataframe``) to ml4t_vec's:
- ``exit_reason``: the same names, except open trades: ``end_of_backtest`` -> ``end_of_data``.
- ``fees``: both are entry commission + exit commission (open trades: entry only); ml4t-backtest's
  ``PerOrderCommission(per_share, rate, per_trade)`` is ml4t_vec's ``commission_per_share``,
  ``fees``, ``fixed_fees`` (one fill per order here).
- ``quantity``: both signed (shorts negative); ``pnl`` both net of fees.
- ``exit_time`` of an open trade: ml4t-backtest stamps the last timestamp of the whole feed,
  ml4t_vec the asset's own last bar (they differ only for an asset that ends early); the price
  is the asset's last close in both.

A defect ml4t_vec does not copy: ml4t-backtest 0.2.0 fills both a signal exit pending for bar t's
open and a position rule triggering on bar t; the rule's order, no longer an exit, opens an
opposite position ("phantom" entry). The runner avoids it by switching an asset's position rules
off while its signal exit waits for the open (``ml4t_runner.FollowSignals``). With
``ML4T_VEC_PEER_KEEP_DEFECT=1`` it lets the defect happen instead and reports the bars; the trades
they can have changed are then left out (``without_defect``).
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

N = int(os.environ.get("ML4T_VEC_PEER_EXAMPLES", "30"))
SEED = int(os.environ.get("ML4T_VEC_PEER_SEED", "20261201"))
PY312 = os.environ.get("ML4T_VEC_PY312")
KEEP_DEFECT = bool(os.environ.get("ML4T_VEC_PEER_KEEP_DEFECT"))
RUNNER = Path(__file__).with_name("ml4t_runner.py")
T0 = dt.datetime(2024, 1, 1)
KEYS = ("entry_time", "exit_time", "entry_price", "exit_price", "quantity", "pnl", "fees", "exit_reason", "status")

if not PY312:
    if os.environ.get("ML4T_VEC_REQUIRE_PEERS"):  # CI: a missing peer is a failure, not a skip
        raise RuntimeError("ML4T_VEC_REQUIRE_PEERS is set but ML4T_VEC_PY312 (a python with ml4t-backtest) is not")
    pytest.skip("ML4T_VEC_PY312 not set: no python with ml4t-backtest 0.2.0 to compare with", allow_module_level=True)


def draw_scenario(rng: np.random.Generator, k: int) -> tuple[pl.DataFrame, dict]:
    """One random scenario: a long price frame with signal columns s0..s3, and its settings."""
    n_assets = int(rng.integers(1, 6))
    n_bars = int(rng.integers(15, 90))
    p_sig = float(rng.choice([0.05, 0.1, 0.2]))
    rows = []
    for a in range(n_assets):
        start = int(rng.integers(0, n_bars // 3)) if rng.random() < 0.3 else 0
        end = int(rng.integers(2 * n_bars // 3, n_bars + 1)) if rng.random() < 0.3 else n_bars
        present = rng.random(n_bars) >= float(rng.choice([0.0, 0.05, 0.2]))
        vol = float(rng.choice([0.01, 0.02, 0.04]))
        close = rng.uniform(20, 300) * np.exp(np.cumsum(rng.normal(0, vol, n_bars)))
        open_ = np.r_[close[0], close[:-1]] * np.exp(rng.normal(0, vol / 2, n_bars))
        high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, vol / 2, n_bars)))
        low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, vol / 2, n_bars)))
        sig = rng.random((4, n_bars)) < p_sig
        for i in range(start, end):
            if present[i]:
                rows.append(dict(timestamp=T0 + dt.timedelta(days=i), asset=f"A{a}", open=open_[i], high=high[i],
                                 low=low[i], close=close[i], volume=1e6,
                                 **{f"s{j}": bool(sig[j, i]) for j in range(4)}))  # fmt: skip
    combo = k % 8  # every on/off combination of stop-loss, take-profit, trailing stop
    settings = dict(
        init_cash=float(rng.choice([100_000.0, 20_000.0, 5_000.0])),
        size=float(rng.integers(1, 200)),
        fees=float(rng.choice([0.0, 0.001, 0.01])),
        fixed_fees=float(rng.choice([0.0, 0.0, 1.0])),
        commission_per_share=float(rng.choice([0.0, 0.0, 0.005])),
        slippage=float(rng.choice([0.0, 0.001, 0.01])),
        slippage_per_share=float(rng.choice([0.0, 0.0, 0.01, 0.05])),
        stop_loss=float(rng.choice([0.02, 0.05, 0.1])) if combo & 1 else None,
        take_profit=float(rng.choice([0.03, 0.1])) if combo & 2 else None,
        trailing_stop=float(rng.choice([0.02, 0.03, 0.05])) if combo & 4 else None,
    )
    return pl.DataFrame(rows), settings


@pytest.fixture(scope="module")
def peer_runs(tmp_path_factory):
    """Draw the N scenarios, write them, run ml4t-backtest on all of them in one process."""
    root = tmp_path_factory.mktemp("ml4t_peer")
    rng = np.random.default_rng(SEED)
    scenarios = []
    for k in range(N):
        df, settings = draw_scenario(rng, k)
        folder = root / f"s{k:04d}"
        folder.mkdir()
        df.write_parquet(folder / "prices.parquet")
        (folder / "settings.json").write_text(json.dumps(settings | {"keep_defect": KEEP_DEFECT}))
        scenarios.append((folder, df, settings))
    t0 = time.perf_counter()
    proc = subprocess.run([PY312, str(RUNNER), str(root)], capture_output=True, text=True, timeout=3600)
    print(f"ml4t-backtest runner: {N} scenarios in {time.perf_counter() - t0:.1f} s (seed {SEED})", file=sys.stderr)
    assert proc.returncode == 0 or all((f / "meta.json").exists() for f, _, _ in scenarios), proc.stderr
    return scenarios


def peer_trades(folder: Path) -> pl.DataFrame:
    t = pl.read_parquet(folder / "trades.parquet")
    return t.select(
        "symbol",
        "entry_time",
        # open trades: ml4t-backtest stamps the feed's last timestamp (mapped in `compare`)
        "exit_time",
        "entry_price",
        "exit_price",
        "quantity",
        "pnl",
        "fees",
        pl.col("exit_reason").replace({"end_of_backtest": "end_of_data"}),
        "status",
    ).sort("symbol", "entry_time")


def our_run(df: pl.DataFrame, s: dict) -> tuple[pl.DataFrame, pl.DataFrame]:
    """ml4t_vec's trades (in the compared columns) and its rejected orders."""
    res = vec.backtest(
        df, entries="s0", exits="s1", short_entries="s2", short_exits="s3", preset="ml4t", size=s["size"],
        size_type="shares", fees=s["fees"], fixed_fees=s["fixed_fees"], commission_per_share=s["commission_per_share"],
        slippage=s["slippage"], slippage_per_share=s["slippage_per_share"], stop_loss=s["stop_loss"],
        take_profit=s["take_profit"], trailing_stop=s["trailing_stop"], init_cash=s["init_cash"],
    )  # fmt: skip
    trades = res.trades.select(
        "symbol", *KEYS[:-2], pl.col("exit_reason").cast(pl.String), pl.col("status").cast(pl.String)
    ).sort("symbol", "entry_time")
    return trades, res.rejected


def without_defect(want: pl.DataFrame, got: pl.DataFrame, meta: dict, rejected: pl.DataFrame):
    """Leave out what ml4t-backtest's phantom entries (module docstring) can have changed.

    The phantom changes its own asset from its bar on. It moves other assets' trades only through
    cash: if neither engine refused or cut an entry for cash from the first phantom bar on, every
    entry filled in full in both and the other assets are compared to the end; else everything
    entered from that bar on is left out."""
    if not meta["phantom_entries"]:
        return want, got
    cut: dict = {}
    for p in meta["phantom_entries"]:
        ts = dt.datetime.fromisoformat(p["timestamp"])
        cut[p["asset"]] = min(ts, cut.get(p["asset"], ts))
    first = min(cut.values())
    coupled = any(dt.datetime.fromisoformat(r["timestamp"]) >= first for r in meta["rejected"]) or (
        rejected.filter(
            pl.col("reason").cast(pl.String).is_in(["insufficient_cash", "reduced_cash"]), pl.col("timestamp") > first
        ).height
        > 0
    )
    if coupled:
        keep = pl.col("entry_time") < first
    else:
        keep = pl.lit(True)
        for asset, ts in cut.items():
            keep = keep & ~((pl.col("symbol") == asset) & (pl.col("entry_time") >= ts))
    return want.filter(keep), got.filter(keep)


def compare(want: pl.DataFrame, got: pl.DataFrame, last_ts, asset_last: dict) -> list[str]:
    """Differences between ml4t-backtest's trades (``want``) and ml4t_vec's, as readable lines.
    ``last_ts``: the feed's last timestamp; ``asset_last``: each asset's last bar."""
    problems = []
    for sym in sorted(set(want["symbol"]) | set(got["symbol"])):
        w = want.filter(pl.col("symbol") == sym).rows(named=True)
        g = got.filter(pl.col("symbol") == sym).rows(named=True)
        for i in range(max(len(w), len(g))):
            if i >= len(w) or i >= len(g):
                extra = ("ml4t_vec", g[i]) if i < len(g) else ("ml4t-backtest", w[i])
                problems.append(f"{sym} trade {i}: only in {extra[0]}: {extra[1]}")
                break
            a, b = w[i], g[i]
            bad = []
            for key in KEYS:
                x, y = a[key], b[key]
                if key == "exit_time" and a["status"] == "open" and x == last_ts:
                    x = asset_last[sym]  # open trades: the feed's end -> the asset's last bar
                if isinstance(x, float) and isinstance(y, float):
                    ok = math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9)
                else:
                    ok = x == y
                if not ok:
                    bad.append(f"{key}: ml4t-backtest {x!r} ml4t_vec {y!r}")
            if bad:
                problems.append(f"{sym} trade {i} (entry {a['entry_time']}): " + "; ".join(bad))
                break  # later trades of this asset follow from this one
    return problems


@pytest.mark.parametrize("k", range(N))
def test_ml4t_preset_matches_ml4t_backtest(peer_runs, k):
    folder, df, settings = peer_runs[k]
    meta = json.loads((folder / "meta.json").read_text())
    assert "error" not in meta, f"seed {SEED} scenario {k}: ml4t-backtest failed:\n{meta['error']}"
    assert KEEP_DEFECT or not meta["phantom_entries"], f"the runner did not avoid the defect: {meta}"
    last_ts = df["timestamp"].max()
    asset_last = dict(df.group_by("asset").agg(pl.col("timestamp").max()).rows())
    want = peer_trades(folder)
    got, rejected = our_run(df, settings)
    want, got = without_defect(want, got, meta, rejected)
    problems = compare(want, got, last_ts, asset_last)
    assert not problems, (
        f"seed {SEED} (ML4T_VEC_PEER_SEED) scenario {k} ({folder}), settings {settings}:\n" + "\n".join(problems)
    )
