"""Portfolio metrics of ``stats()`` (turnover, positions vs trade rows, names held, effective N):
hand-worked runs, and on random runs an independent computation from the reference engines
(tests/reference: per-asset holdings, fills and equity of a plain Python loop) and from the
kernel's own per-asset values (``asset_equity``)."""

import datetime as dt
import math

import polars as pl
import pytest
from hypothesis import given, settings
from panels import configs, flat_prices, panels, vec_kwargs, vec_run, weight_cases
from reference import engine, portfolio
from reference.portfolio import WeightConfig

import ml4t_vec as vec

pytestmark = pytest.mark.filterwarnings("ignore::ml4t_vec.LookAheadWarning", "ignore::ml4t_vec.DataWarning")

PORTFOLIO = ("turnover", "turnover_per_rebalance", "avg_names_held", "effective_n")
D0 = dt.date(2024, 1, 1)


def test_weights_by_hand():
    """Three assets, cash 1,000, decisions at bars 0 and 2 filled at the same close; B has no
    row on bar 1, C none on bar 3 (each keeps its position, marked at its last close).

    bar 0: buy A 50 @10 and B 25 @20 (notional 1,000; equity before 1,000): turnover 0.5.
           A 500, B 500: 2 names, effective N 1,000^2 / (500^2 + 500^2) = 2.
    bar 1: nothing trades; 2 names, N 2.
    bar 2: A doubles to 20, equity 1,500; targets A 0.5 (37.5 sh), B 0, C -0.25 (-7.5 sh @50):
           sell A 12.5 (250) and B 25 (500), short C 7.5 (375): notional 1,125 over the
           previous close's equity 1,000: turnover 0.5625. A 750, C -375: 2 names,
           N 1,125^2 / (750^2 + 375^2) = 1.8.
    bar 3: C has no row: still held at 50; 2 names, N 1.8.
    turnover: (0.5 + 0.5625) / (4 / 252) = 66.9375 a year, 0.53125 per rebalance;
    names 2; effective N (2 + 2 + 1.8 + 1.8) / 4 = 1.9.
    Positions A, B, C; trade rows: A's partial and open rows, B closed, C open."""
    prices = flat_prices({"A": [10.0, 10.0, 20.0, 20.0], "B": [20.0, None, 20.0, 10.0], "C": [50.0, 50.0, 50.0, None]})
    w = {0: {"A": 0.5, "B": 0.5, "C": 0.0}, 2: {"A": 0.5, "B": 0.0, "C": -0.25}}
    prices = prices.with_columns(
        w=pl.struct("timestamp", "asset").map_elements(
            lambda r: w.get((r["timestamp"] - D0).days, {}).get(r["asset"]), return_dtype=pl.Float64
        )
    )
    res = vec.backtest(prices, weights="w", rebalance=[D0, D0 + dt.timedelta(days=2)], fill="same_close",
                       fractional=True, init_cash=1_000.0)  # fmt: skip
    assert res.fills.select("symbol", "quantity").rows() == [("A", 50.0), ("A", 12.5), ("B", 25.0), ("B", 25.0),
                                                              ("C", 7.5)]  # fmt: skip
    s = res.stats(periods_per_year=252).row(0, named=True)
    assert s["turnover"] == pytest.approx(66.9375, rel=1e-12)
    assert s["turnover_per_rebalance"] == pytest.approx(0.53125, rel=1e-12)
    assert s["avg_names_held"] == 2.0
    assert s["effective_n"] == pytest.approx(1.9, rel=1e-12)
    assert (s["n_positions"], s["n_trade_rows"], s["n_trades"], s["n_open"]) == (3, 4, 1, 2)
    assert res.positions.height == 3
    summary = res.summary(periods_per_year=252).frame
    assert set(PORTFOLIO) <= set(summary.filter(pl.col("section") == "portfolio")["metric"].to_list())
    assert s["max_names_held"] == 2 and s["n_fills"] == 5


def test_signals_independent_accounts_by_hand():
    """Two accounts of 1,000 (portfolio equity 2,000), all-in entries at the next open.
    X: entry signal bar 0, buys 100 @10 on bar 1; exit signal bar 2, sells 100 on bar 3.
    Y: entry signal bar 1, buys 50 @20 on bar 2, held to the end.
    Traded 1,000 on bars 1, 2 and 3, each over equity 2,000: 0.25 per trading bar, 0.75 in all.
    Names 0, 1, 2, 1: 1 on average; effective N over bars 1-3: (1 + 2 + 1) / 3."""
    prices = flat_prices({"X": [10.0] * 4, "Y": [20.0] * 4}).with_columns(
        e=pl.col("timestamp").dt.day().is_in([1]) & (pl.col("asset") == "X")
        | pl.col("timestamp").dt.day().is_in([2]) & (pl.col("asset") == "Y"),
        x=pl.col("timestamp").dt.day().is_in([3]) & (pl.col("asset") == "X"),
    )
    res = vec.backtest(prices, entries="e", exits="x", cash_sharing=False, init_cash=1_000.0)
    assert res.fills.select("symbol", "quantity").rows() == [("X", 100.0), ("X", 100.0), ("Y", 50.0)]
    s = res.stats(periods_per_year=4).row(0, named=True)  # one year of 4 bars
    assert s["turnover"] == pytest.approx(0.75, rel=1e-12)
    assert s["turnover_per_rebalance"] == pytest.approx(0.25, rel=1e-12)
    assert s["avg_names_held"] == 1.0
    assert s["effective_n"] == pytest.approx(4 / 3, rel=1e-12)
    assert (s["n_positions"], s["n_trade_rows"], s["n_trades"], s["n_open"]) == (2, 2, 1, 1)


def test_no_trades():
    prices = flat_prices({"X": [10.0, 11.0, 12.0]}).with_columns(e=pl.lit(False))
    s = vec.backtest(prices, entries="e").stats(periods_per_year=252).row(0, named=True)
    assert s["turnover"] == 0.0 and s["avg_names_held"] == 0.0
    assert math.isnan(s["turnover_per_rebalance"]) and math.isnan(s["effective_n"])
    assert (s["n_positions"], s["n_trade_rows"]) == (0, 0)


# --- the same metrics computed independently ----------------------------------------------------
def _expected(times, assets, held, last_close, fills, equity, init_cash, ppy=252.0) -> dict:
    """Straightforward loops: ``held(a, t)`` the quantity at the close, ``last_close(a, t)``;
    fills and equity rows as the reference engines write them."""
    eq = {r["timestamp"]: r["equity"] for r in equity}
    notional = {}
    for f in fills:
        notional[f["timestamp"]] = notional.get(f["timestamp"], 0.0) + f["quantity"] * f["price"]
    per_bar, prev = [], init_cash
    names, eff = [], []
    for t in times:
        if notional.get(t, 0.0) > 0:
            per_bar.append(0.5 * notional[t] / prev if prev > 0 else math.inf)
        prev = eq[t]
        values = [held(a, t) * last_close(a, t) for a in assets if held(a, t) != 0]
        names.append(len(values))
        if values:
            gross = sum(abs(v) for v in values)
            eff.append(1.0 / sum((v / gross) ** 2 for v in values))
    return dict(
        turnover=sum(per_bar) / (len(times) / ppy),
        turnover_per_rebalance=sum(per_bar) / len(per_bar) if per_bar else math.nan,
        avg_names_held=sum(names) / len(names),
        effective_n=sum(eff) / len(eff) if eff else math.nan,
    )


def _from_kernel_values(res) -> dict:
    """Names held and effective N from the kernel's own per-asset values (``asset_equity``: the
    simulation re-run with per-column series), one bar at a time."""
    names, eff = [], []
    for _, g in res.asset_equity.group_by("timestamp", maintain_order=True):
        values = [v for v in g["position_value"].to_list() if v != 0]
        names.append(len(values))
        if values:
            gross = sum(abs(v) for v in values)
            eff.append(1.0 / sum((v / gross) ** 2 for v in values))
    return dict(avg_names_held=sum(names) / len(names), effective_n=sum(eff) / len(eff) if eff else math.nan)


def _same(got: dict, want: dict) -> None:
    for k, v in want.items():
        if math.isnan(v) or math.isinf(v):
            assert (math.isnan(v) and math.isnan(got[k])) or got[k] == v, (k, got[k], v)
        else:
            assert got[k] == pytest.approx(v, rel=1e-9, abs=1e-12), (k, got[k], v)


def _carried_close(bars: dict):
    """last_close(a, t): the asset's close at its latest bar <= t."""

    def last_close(a, t):
        seen = [u for u in bars[a] if u <= t]
        return bars[a][max(seen)].close if seen else 0.0

    return last_close


@settings(max_examples=60)
@given(weight_cases())
def test_weights_portfolio_metrics_match_the_reference(case):
    panel, weights, rebalance, cfg = case
    ref = portfolio.WeightReference(panel, WeightConfig(**cfg), weights, rebalance)
    want = ref.run()
    res = vec_run(panel, weights, rebalance, cfg)
    got = res.stats(periods_per_year=252).row(0, named=True)
    expected = _expected(panel.timestamps, panel.assets, lambda a, t: ref.holdings[(a, t)], _carried_close(panel.bars),
                         want["fills"], want["equity"], cfg["init_cash"])  # fmt: skip
    _same(got, expected)
    _same(got, _from_kernel_values(res))
    assert got["n_positions"] == len(want["positions"]) == res.positions.height
    assert got["n_trade_rows"] == len(want["trades"])
    assert got["n_open"] == sum(r["status"] == "open" for r in want["trades"])


@settings(max_examples=60)
@given(panels(), configs())
def test_signal_portfolio_metrics_match_the_reference(panel_df, cfg):
    panel, df = panel_df
    ref = engine.Reference(panel, cfg)
    want = ref.run()
    res = vec.backtest(df, **vec_kwargs(cfg))
    got = res.stats(periods_per_year=252).row(0, named=True)
    close = _carried_close(panel.bars)

    def held(a, t):  # the reference keeps position values; a position is held when its value is not 0
        v = ref.asset_values[(a, t)]
        return v / close(a, t) if v != 0 else 0.0

    init_total = cfg.init_cash * (1 if cfg.cash_sharing else len(panel.assets))
    _same(got, _expected(panel.timestamps, panel.assets, held, close, want["fills"], want["equity"], init_total))
    _same(got, _from_kernel_values(res))
    assert got["n_positions"] == res.positions.height
    assert got["n_trade_rows"] == len(want["trades"])
