"""Real prices, three independent checks.

Data: the public-domain daily stock prices shipped by the PyPI package ``bokeh-sampledata``
(``stocks.csv.gz``: AAPL, FB, GOOG, IBM, MSFT, 2000-03-01 to 2013-03-01, Quandl WIKI). Read
offline from the installed package. OHLC are split- and dividend-adjusted with the file's
``adj_close / close``. The panel is ragged: GOOG starts in 2004, FB in 2012, and IBM is cut to
end in 2011.

Signal: a moving-average crossover per ticker (20 / 60 closes), no model.

1. backtesting.py 0.6.6 per ticker vs ml4t_vec on the whole panel (``preset="backtesting"``,
   one account per ticker): trades, open trades and each ticker's equity per bar.
2. vectorbt 1.2 on the wide panel (NaN where a ticker has no bar) vs ml4t_vec
   (``preset="vectorbt"``, independent columns): trades and each column's value per bar.
3. empyrical-reloaded's metrics of ml4t_vec's own equity returns vs ``res.stats()``, where the
   definitions match (all at ``periods_per_year`` bars a year, zero risk-free rate):
   ``sharpe`` = ``sharpe_ratio`` (mean / std(ddof=1) * sqrt(ppy)), ``sortino`` =
   ``sortino_ratio`` (mean / sqrt(mean(min(r, 0)^2)) * sqrt(ppy)), ``volatility`` =
   ``annual_volatility``, ``max_drawdown`` = ``max_drawdown`` (the peak starts at the initial
   cash), ``cagr`` = ``cagr`` (years = bars / ppy), ``calmar`` = ``calmar_ratio``. And
   backtesting.py's own stats per ticker where they mean the same: final equity, return, max
   drawdown, number of closed trades, win rate (and each trade's ``ReturnPct`` is ml4t_vec's
   ``pnl_percent``). Not compared, because defined differently: its Sharpe, Sortino and
   volatility (geometric mean of daily returns, compounded variance), CAGR (calendar years of
   365.25 days), exposure (entry-to-exit bars of closed trades, both ends counted), profit factor
   and expectancy (on trade returns, not cash).

Each peer is optional: a missing package skips its test (fails with ``ML4T_VEC_REQUIRE_PEERS``).
"""

from __future__ import annotations

import datetime as dt
import importlib
import math
import os

import numpy as np
import polars as pl
import pytest

import ml4t_vec as vec

pytestmark = pytest.mark.filterwarnings(
    "ignore::UserWarning", "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::ml4t_vec.LookAheadWarning"
)

FAST, SLOW = 20, 60
IBM_END = dt.date(2011, 12, 30)


def need(module: str):
    """Import an optional peer; skip the test without it (unless peers are required)."""
    if os.environ.get("ML4T_VEC_REQUIRE_PEERS"):
        return importlib.import_module(module)
    return pytest.importorskip(module, reason=f"{module} not installed: pip install -e '.[peers]' to run")


@pytest.fixture(scope="module")
def stocks() -> pl.DataFrame:
    """Long frame: timestamp (Date), ticker, adjusted OHLC, volume, and the signal columns
    s0 (MA cross up), s1 (cross down), s2 = s1, s3 = s0 (short on the cross down)."""
    sampledata = need("bokeh_sampledata")
    raw = pl.read_csv(sampledata.package_path("stocks.csv.gz"), try_parse_dates=True)
    raw = raw.rename({c: c.lower().replace(" ", "_") for c in raw.columns})
    k = pl.col("adj_close") / pl.col("close")
    df = (
        raw.select(
            pl.col("date").alias("timestamp"),
            "ticker",
            *[(pl.col(c) * k).alias(c) for c in ("open", "high", "low", "close")],
            "volume",
        )
        .filter((pl.col("ticker") != "IBM") | (pl.col("timestamp") <= IBM_END))
        .sort("ticker", "timestamp")
    )
    above = pl.col("close").rolling_mean(FAST) > pl.col("close").rolling_mean(SLOW)
    prev = above.shift(1)
    up = (above & ~prev).fill_null(False).over("ticker")
    down = (~above & prev).fill_null(False).over("ticker")
    return df.with_columns(s0=up, s1=down, s2=down, s3=up)


def test_panel_is_ragged(stocks):
    span = stocks.group_by("ticker").agg(pl.col("timestamp").min().alias("a"), pl.col("timestamp").max().alias("b"))
    span = {r["ticker"]: (r["a"], r["b"]) for r in span.iter_rows(named=True)}
    assert sorted(span) == ["AAPL", "FB", "GOOG", "IBM", "MSFT"]
    assert len({a for a, _ in span.values()}) == 3 and len({b for _, b in span.values()}) == 2
    assert stocks.height > 10_000 and stocks.select(pl.col("s0").sum()).item() > 50


# --- 1. backtesting.py per ticker --------------------------------------------------------------
BT_CASES = {
    "long_fees": dict(size=0.95, commission=0.001, fixed=0.0, spread=0.0, sl=None, tp=None, cash=None,
                      exclusive=False, shorts=False),
    "default_size_fixed_fee": dict(size=1 - 2.220446049250313e-16, commission=0.0005, fixed=1.0, spread=0.0, sl=None,
                                   tp=None, cash=None, exclusive=False, shorts=False),
    "long_short_stops_spread": dict(size=0.5, commission=0.001, fixed=0.0, spread=0.0005, sl=0.05, tp=0.15,
                                    cash=100_000.0, exclusive=False, shorts=True),
    "shares_exclusive": dict(size=20.0, commission=0.002, fixed=0.0, spread=0.0, sl=0.08, tp=None, cash=None,
                             exclusive=True, shorts=True),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BT_CASES))
def test_backtesting_per_ticker(stocks, case):
    need("backtesting")
    from backtesting_replay import assert_same, run_backtesting, vec_kwargs

    s = BT_CASES[case]
    res = vec.backtest(stocks, **vec_kwargs(s))
    assert res.trades.height > 20
    acct = res.asset_equity
    for ticker, one in stocks.partition_by("ticker", as_dict=True, maintain_order=True).items():
        ticker = ticker[0]
        stats = run_backtesting(one, s)
        assert stats._equity_curve["Equity"].min() > 0
        eq = (
            acct.filter(pl.col("symbol") == ticker)
            .join(one.select("timestamp"), on="timestamp", how="semi")
            .sort("timestamp")["equity"]
            .to_numpy()
        )
        assert_same(res.trades.filter(pl.col("symbol") == ticker), eq, stats, s, float(one["close"][-1]))


def test_backtesting_stats_per_ticker(stocks):
    """backtesting.py's stats that share ml4t_vec's definitions, per ticker."""
    need("backtesting")
    from backtesting_replay import run_backtesting, vec_kwargs

    s = BT_CASES["long_short_stops_spread"]
    for (ticker,), one in stocks.partition_by("ticker", as_dict=True, maintain_order=True).items():
        bt = run_backtesting(one, s)
        ours = vec.backtest(one, **vec_kwargs(s)).stats().row(0, named=True)
        for name, a, b in (
            ("final equity", ours["final_equity"], bt["Equity Final [$]"]),
            ("return %", ours["total_return"] * 100, bt["Return [%]"]),
            ("max drawdown %", ours["max_drawdown"] * 100, bt["Max. Drawdown [%]"]),
            ("closed trades", ours["n_trades"], bt["# Trades"]),
            ("win rate %", ours["win_rate"] * 100, bt["Win Rate [%]"]),
        ):
            assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), (ticker, name, a, b)


# --- 2. vectorbt on the wide panel -------------------------------------------------------------
def _wide(df: pl.DataFrame, col: str, fill=None):
    w = df.pivot(on="ticker", index="timestamp", values=col, sort_columns=True).sort("timestamp")
    if fill is not None:
        w = w.fill_null(fill)
    out = w.drop("timestamp").to_pandas()
    out.index = w["timestamp"].to_pandas()
    return out


@pytest.mark.parametrize("stops", [False, True])
def test_vectorbt_panel(stocks, stops):
    vbt = need("vectorbt")
    kw = dict(fees=0.001, slippage=0.0005)
    vkw = dict(kw, open=_wide(stocks, "open"), high=_wide(stocks, "high"), low=_wide(stocks, "low"))
    if stops:
        kw.update(stop_loss=0.05, take_profit=0.15)
        vkw.update(sl_stop=0.05, tp_stop=0.15)
    sig = {c: _wide(stocks, c, False).astype(bool) for c in ("s0", "s1", "s2", "s3")}
    close = _wide(stocks, "close")
    pf = vbt.Portfolio.from_signals(close, sig["s0"], sig["s1"], short_entries=sig["s2"], short_exits=sig["s3"], **vkw)
    res = vec.backtest(stocks, entries="s0", exits="s1", short_entries="s2", short_exits="s3", preset="vectorbt", **kw)
    want = pf.trades.records_readable.sort_values(["Column", "Entry Timestamp"]).reset_index(drop=True)
    got = res.trades.sort("symbol", "entry_time")
    assert got.height == len(want) > 50
    last_close = stocks.group_by("ticker").agg(pl.col("close").last())
    last_close = dict(last_close.iter_rows())
    for i, w in want.iterrows():
        g = got.row(i, named=True)
        assert g["symbol"] == w["Column"] and g["entry_time"] == w["Entry Timestamp"].date(), (i, g, w)
        sign = 1 if w["Direction"] == "Long" else -1
        checks = [("quantity", g["quantity"], sign * w["Size"]),
                  ("entry_price", g["entry_price"], w["Avg Entry Price"])]  # fmt: skip
        if w["Status"] == "Closed":
            assert g["exit_time"] == w["Exit Timestamp"].date(), (i, g, w)
            checks += [("exit_price", g["exit_price"], w["Avg Exit Price"]), ("pnl", g["pnl"], w["PnL"]),
                       ("fees", g["fees"], w["Entry Fees"] + w["Exit Fees"])]  # fmt: skip
        elif not math.isnan(w["Avg Exit Price"]):
            checks += [("exit_price", g["exit_price"], w["Avg Exit Price"]), ("pnl", g["pnl"], w["PnL"])]
        else:  # the ticker ended before the panel (IBM): vectorbt leaves the open trade unvalued
            checks += [("exit_price", g["exit_price"], last_close[g["symbol"]])]
        for name, ours, theirs in checks:
            assert math.isclose(ours, theirs, rel_tol=1e-9, abs_tol=1e-9), (name, i, ours, theirs)
        assert g["status"] == w["Status"].lower()
    value = pf.value()  # per column, carried forward after a ticker's last bar
    acct = res.asset_equity.pivot(on="symbol", index="timestamp", values="equity", sort_columns=True).sort("timestamp")
    for col in value.columns:
        ours = acct[col].to_numpy()
        np.testing.assert_allclose(ours, value[col].to_numpy(), rtol=1e-9, atol=1e-9, err_msg=col)


# --- 3. empyrical metrics of ml4t_vec's equity ------------------------------------------------
@pytest.mark.parametrize("preset", ["backtesting", "vectorbt", None])
def test_empyrical_metrics(stocks, preset):
    ep = need("empyrical")
    kw = dict(entries="s0", exits="s1", fees=0.001)
    if preset != "vectorbt":
        kw.update(short_entries="s2", short_exits="s3", stop_loss=0.05, size=0.5)
    res = vec.backtest(stocks, preset=preset, **kw)
    st = res.stats().row(0, named=True)
    r = res.equity["return"].to_numpy()
    ppy = st["periods_per_year"]
    assert ppy == 252.0 and r.shape[0] == stocks["timestamp"].n_unique()
    for name, theirs in (
        ("sharpe", ep.sharpe_ratio(r, annualization=ppy)),
        ("sortino", ep.sortino_ratio(r, annualization=ppy)),
        ("volatility", ep.annual_volatility(r, annualization=ppy)),
        ("max_drawdown", ep.max_drawdown(r)),
        ("cagr", ep.cagr(r, annualization=ppy)),
        ("calmar", ep.calmar_ratio(r, annualization=ppy)),
        ("total_return", ep.cum_returns_final(r)),
    ):
        assert math.isclose(st[name], float(theirs), rel_tol=1e-9, abs_tol=1e-12), (preset, name, st[name], theirs)
