"""``preset="vectorbt"`` reproduces vectorbt 1.2 ``Portfolio.from_signals`` trade for trade.

vectorbt is an optional test dependency (Apache-2.0 + Commons Clause: never vendored). Without
it these tests are skipped; run them in a venv that has it (README "Development")."""

import math
import os

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from panels import panels

import ml4t_vec as vec

if os.environ.get("ML4T_VEC_REQUIRE_PEERS"):  # CI: a missing peer is a failure, not a skip
    import vectorbt as vbt
else:
    vbt = pytest.importorskip("vectorbt", reason="vectorbt not installed: pip install -e '.[peers]' to run")
pytestmark = pytest.mark.filterwarnings("ignore::ml4t_vec.LookAheadWarning", "ignore::DeprecationWarning")


def _wide(df: pl.DataFrame, col: str, fill=None):
    w = df.pivot(on="asset", index="timestamp", values=col, sort_columns=True).sort("timestamp")
    if fill is not None:
        w = w.fill_null(fill)
    return w.drop("timestamp").to_pandas()


@st.composite
def vbt_settings(draw, shorts: bool):
    stop = draw(st.sampled_from([None, 0.02, 0.05]))
    return dict(
        fees=draw(st.sampled_from([0.0, 0.001, 0.01])),
        # a reversal is one vectorbt order paying fixed_fees once; ml4t_vec fills an exit and an
        # entry, each paying them (LIMITATIONS.md): fixed fees only without shorts
        fixed_fees=0.0 if shorts else draw(st.sampled_from([0.0, 0.5])),
        slippage=draw(st.sampled_from([0.0, 0.001, 0.01])),
        stop=stop,
        trail=draw(st.booleans()) if stop is not None else False,
        tp=draw(st.sampled_from([None, 0.03, 0.1])),
        shorts=shorts,
    )


def _compare(panel_df, s, cash_sharing=False):
    _, df = panel_df
    df = df.sort("asset", "timestamp")
    close = _wide(df, "close")
    sig = {k: _wide(df, c, False).astype(bool) for k, c in (("e", "s0"), ("x", "s1"), ("se", "s2"), ("sx", "s3"))}
    kw = dict(fees=s["fees"], fixed_fees=s["fixed_fees"], slippage=s["slippage"])
    vkw = dict(kw, open=_wide(df, "open"), high=_wide(df, "high"), low=_wide(df, "low"))
    if s["stop"] is not None:
        vkw.update(sl_stop=s["stop"], sl_trail=s["trail"])
        kw["trailing_stop" if s["trail"] else "stop_loss"] = s["stop"]
    if s["tp"] is not None:
        vkw["tp_stop"] = s["tp"]
        kw["take_profit"] = s["tp"]
    if cash_sharing:  # one portfolio; vectorbt's default call order (fill_order="asset")
        vkw.update(group_by=True, cash_sharing=True)
        kw["cash_sharing"] = True
    if s["shorts"]:
        vkw.update(short_entries=sig["se"], short_exits=sig["sx"])
        kw.update(short_entries="s2", short_exits="s3")
    pf = vbt.Portfolio.from_signals(close, sig["e"], sig["x"], **vkw)
    want = pf.trades.records_readable.sort_values(["Column", "Entry Timestamp"]).reset_index(drop=True)
    got = vec.backtest(df, entries="s0", exits="s1", preset="vectorbt", **kw).trades.sort("symbol", "entry_time")
    assert got.height == len(want), f"{got.height} trades, vectorbt {len(want)}\n{got}\n{want}"
    times = close.index  # bar index -> timestamp
    ts = df.get_column("timestamp").unique().sort().to_list()
    for i, w in want.iterrows():
        g = got.row(i, named=True)
        assert g["symbol"] == w["Column"]
        assert g["entry_time"] == ts[times.get_loc(w["Entry Timestamp"])]
        assert g["exit_time"] == ts[times.get_loc(w["Exit Timestamp"])]
        sign = 1 if w["Direction"] == "Long" else -1
        for name, ours, theirs in (
            ("quantity", g["quantity"], sign * w["Size"]),
            ("entry_price", g["entry_price"], w["Avg Entry Price"]),
            ("exit_price", g["exit_price"], w["Avg Exit Price"]),
            ("pnl", g["pnl"], w["PnL"]),
            ("fees", g["fees"], w["Entry Fees"] + w["Exit Fees"]),
        ):
            assert math.isclose(ours, theirs, rel_tol=1e-9, abs_tol=1e-9), (name, i, s, got, want.to_string())
        assert g["status"] == w["Status"].lower()


@given(panels(max_assets=3, max_bars=30, gaps=False, shorts=False), vbt_settings(shorts=False))
def test_long_only_matches_vectorbt(panel_df, s):
    _compare(panel_df, s)


@given(panels(max_assets=3, max_bars=30, gaps=False, shorts=True), vbt_settings(shorts=True))
def test_long_short_matches_vectorbt(panel_df, s):
    _compare(panel_df, s)


@given(panels(max_assets=4, max_bars=30, gaps=False, shorts=False), vbt_settings(shorts=False))
def test_shared_cash_long_only_matches_vectorbt(panel_df, s):
    _compare(panel_df, s, cash_sharing=True)


def test_preset_defaults_and_overrides():
    df = vec.synthetic_prices(n_assets=2, n_bars=50, seed=2)
    res = vec.backtest(df, entries=pl.col("pred") > 0.6, preset="vectorbt", init_cash=1000.0)
    assert res.config.preset == "vectorbt" and res.config.portfolio.init_cash == 1000.0
    assert res.config.execution.fill == "same_close" and np.isinf(res.config.sizing.size)
