"""``backtest(weights=..., preset="vectorbt")`` reproduces vectorbt 1.2
``Portfolio.from_orders(close, size=w, size_type="targetpercent", cash_sharing=True,
group_by=True, call_seq="auto")``, order for order, on random panels.

vectorbt's conventions (``_lower.WEIGHT_PRESETS``): orders fill at the decision bar's close and
are sized on it (``fill="same_close"``, ``size_at="fill"``: the group's value once per bar before
its orders), NaN = no order (``missing="hold"``), each bar's orders sorted by value ascending
(sells first), buys (covers included) limited by the cash with short proceeds included
(``cash_rule="vectorbt"``). A reversal is one vectorbt order and two ml4t_vec fills (exit and
entry, the fee split by shares): fills are summed per (bar, asset) before comparing.

vectorbt is an optional test dependency (Apache-2.0 + Commons Clause: never vendored).
"""

import math
import os

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ml4t_vec as vec

if os.environ.get("ML4T_VEC_REQUIRE_PEERS"):  # CI: a missing peer is a failure, not a skip
    import vectorbt as vbt
else:
    vbt = pytest.importorskip("vectorbt", reason="vectorbt not installed: pip install -e '.[peers]' to run")
pd = pytest.importorskip("pandas")  # vectorbt's own dependency
pytestmark = pytest.mark.filterwarnings("ignore::ml4t_vec.LookAheadWarning", "ignore::DeprecationWarning",
                                        "ignore::ml4t_vec.DataWarning")  # fmt: skip


@st.composite
def scenarios(draw):
    n_assets = draw(st.integers(1, 4))
    n_bars = draw(st.integers(2, 14))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    close = rng.uniform(20, 200, n_assets) * np.exp(np.cumsum(rng.normal(0, 0.05, (n_bars, n_assets)), axis=0))
    w = rng.uniform(-0.6, 0.9, (n_bars, n_assets))
    w[rng.random((n_bars, n_assets)) < 0.15] = 0.0
    w[rng.random((n_bars, n_assets)) < 0.15] = np.nan
    w[rng.random(n_bars) < draw(st.sampled_from([0.0, 0.4]))] = np.nan  # bars without a decision
    costs = dict(
        fees=draw(st.sampled_from([0.0, 0.001, 0.01])),
        fixed_fees=draw(st.sampled_from([0.0, 0.0, 1.0])),
        slippage=draw(st.sampled_from([0.0, 0.005])),
    )
    return close, w, costs, draw(st.sampled_from([100.0, 10_000.0]))


def _vectorbt(close, w, costs, init_cash):
    idx = pd.date_range("2024-01-01", periods=close.shape[0], freq="D")
    cols = [f"A{j}" for j in range(close.shape[1])]
    pf = vbt.Portfolio.from_orders(pd.DataFrame(close, index=idx, columns=cols),
                                   size=pd.DataFrame(w, index=idx, columns=cols), size_type="targetpercent",
                                   init_cash=init_cash, cash_sharing=True, group_by=True, call_seq="auto",
                                   freq="1D", **costs)  # fmt: skip
    orders = pf.orders.records_readable
    rows = [(str(o["Column"]), int(idx.get_loc(o["Timestamp"])), o["Side"].lower(), float(o["Size"]),
             float(o["Price"]), float(o["Fees"])) for _, o in orders.iterrows()]  # fmt: skip
    return sorted(rows), pf.value().to_numpy()


def _ours(close, w, costs, init_cash):
    n_bars, n_assets = close.shape
    t0 = np.datetime64("2024-01-01")
    df = pl.DataFrame(
        {
            "timestamp": np.repeat(t0 + np.arange(n_bars).astype("timedelta64[D]"), n_assets),
            "asset": np.tile([f"A{j}" for j in range(n_assets)], n_bars),
            "close": close.ravel(),
            "w": w.ravel(),
        }
    ).with_columns(pl.col("w").fill_nan(None))
    res = vec.backtest(df, weights="w", preset="vectorbt", init_cash=init_cash, **costs)
    f = res.fills.with_columns(bar=(pl.col("timestamp") - df.get_column("timestamp").min()).dt.total_days())
    # a reversal is one order in vectorbt: its two fills summed, at one price
    g = (f.group_by("symbol", "bar", "side", maintain_order=True)
         .agg(pl.col("quantity").sum(), pl.col("price").first(), pl.col("fees").sum()))  # fmt: skip
    rows = [(s, int(b), str(side), q, p, fee) for s, b, side, q, p, fee in g.iter_rows()]
    return sorted(rows), res.equity.get_column("equity").to_numpy(), res


def _close(a, b):
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


@settings(max_examples=int(os.environ.get("ML4T_VEC_PEER_EXAMPLES", "60")), deadline=None)
@given(scenarios())
def test_weights_preset_matches_vectorbt_from_orders(case):
    close, w, costs, init_cash = case
    want, value = _vectorbt(close, w, costs, init_cash)
    got, equity, res = _ours(close, w, costs, init_cash)
    assert len(got) == len(want), (got, want)
    for g, v in zip(got, want, strict=True):
        assert g[:3] == v[:3], (g, v)
        assert all(_close(x, y) for x, y in zip(g[3:], v[3:], strict=True)), (g, v)
    np.testing.assert_allclose(equity, value, rtol=1e-9, atol=1e-9)
    # the records balance: trade rows' pnl adds up to the equity's change
    assert math.isclose(res.trades.get_column("pnl").sum(), equity[-1] - init_cash, rel_tol=0, abs_tol=1e-7)


def test_weights_preset_sets_vectorbt_conventions():
    p = vec.synthetic_prices(n_assets=3, n_bars=30, seed=2)
    res = vec.backtest(p, weights=pl.lit(0.3), preset="vectorbt", rebalance="W")
    rb = res.config.rebalance
    assert (res.config.execution.fill, rb.size_at, rb.missing) == ("same_close", "fill", "hold")
    assert (res.config.portfolio.cash_rule, res.config.portfolio.cash_sharing) == ("vectorbt", True)
    with pytest.raises(vec.ConfigError, match="not available with `weights`"):
        vec.backtest(p, weights=pl.lit(0.3), preset="backtesting")
