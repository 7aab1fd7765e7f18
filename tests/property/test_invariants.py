"""Properties that hold for every panel and config."""

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from panels import by_asset, configs, impact_kwargs, panels, vec_kwargs
from reference.orders import COSTS

import ml4t_vec as vec
from ml4t_vec import schema

pytestmark = pytest.mark.filterwarnings("ignore::ml4t_vec.LookAheadWarning")


@given(panels(), configs(), st.data())
def test_prefix_causality(panel_df, cfg, data):
    """Changing everything after bar k never changes fills, rejections or equity up to bar k."""
    panel, df = panel_df
    times = df.get_column("timestamp").unique().sort()
    k = data.draw(st.integers(0, times.len() - 1))
    cut = times[k]
    rng = np.random.default_rng(k)
    later = pl.col("timestamp") > cut
    # different prices (consistent OHLC) and different signals after the cut
    f = pl.lit(rng.uniform(0.5, 2.0))
    prices = ("open", "high", "low", "close", "vwap", "sigma", "adv")  # (and market impact's inputs)
    signals = ("s0", "s1", "s2", "s3")
    changed = df.with_columns(
        [pl.when(later).then(pl.col(c) * f).otherwise(pl.col(c)).alias(c) for c in prices]
        + [pl.when(later).then(~pl.col(c).fill_null(False)).otherwise(pl.col(c)).alias(c) for c in signals]
    )
    a = vec.backtest(df, **vec_kwargs(cfg))
    b = vec.backtest(changed, **vec_kwargs(cfg))
    # a fill on the cut bar at the close (same_close) is decided by that bar's data: unchanged too
    for name in ("fills", "rejected"):
        x = getattr(a, name).filter(pl.col("timestamp") <= cut)
        y = getattr(b, name).filter(pl.col("timestamp") <= cut)
        if name == "rejected":  # a no_next_bar record depends on whether a later bar exists
            x, y = (z.filter(pl.col("reason") != "no_next_bar") for z in (x, y))
        assert x.equals(y), name
    ea = a.equity.filter(pl.col("timestamp") <= cut)
    eb = b.equity.filter(pl.col("timestamp") <= cut)
    assert ea.equals(eb)


@given(panels(), configs())
def test_accounting_identities(panel_df, cfg):
    _, df = panel_df
    res = vec.backtest(df, **vec_kwargs(cfg))
    eq = res.equity
    # equity = cash + positions at every bar
    np.testing.assert_allclose(eq["equity"], eq["cash"] + eq["net_exposure"], rtol=1e-12, atol=1e-6)
    # initial cash + sum of trade pnl (closed and open at the last close) - net interest = final equity
    init = res.init_cash_total
    interest = res.stats()["total_interest"][0]
    assert init + res.trades["pnl"].sum() - interest == pytest.approx(eq["equity"][-1], rel=1e-9, abs=1e-6)
    if not (cfg.cash_rate or cfg.credit_rate):
        assert interest == 0.0
    # per-asset values add up to the portfolio exposure
    tot = res.asset_equity.group_by("timestamp").agg(pl.col("position_value").sum()).sort("timestamp")
    np.testing.assert_allclose(tot["position_value"], eq["net_exposure"], rtol=1e-12, atol=1e-6)
    # fees, spread and market impact in trades equal those in fills (open trades carry their entry costs only)
    for cost in ("fees", "spread_cost", "impact_cost"):
        assert res.trades[cost].sum() == pytest.approx(res.fills[cost].sum(), rel=1e-9, abs=1e-9), cost
    assert (res.fills["impact_cost"] >= 0).all()
    if cfg.impact is None:
        assert (res.fills["impact_cost"] == 0).all()
    # signal fills at the bar's own prices lie inside [low, high] before slippage, spread and market impact
    # (rule exits have their own slippage and their own test below)
    if not cfg.custom_price:
        f = res.fills.filter(pl.col("reason") == "signal").join(
            df.select("timestamp", pl.col("asset").alias("symbol"), "low", "high"), on=["timestamp", "symbol"]
        )
        # slippage on entries only: exits slip none; every fill pays half the spread (spread_cost) and its
        # market impact (impact_cost), both per share on top of the executed price
        slipped = ~((pl.col("effect") == "exit") & (cfg.slippage_on == "entries"))
        s = pl.when(slipped).then(cfg.slippage).otherwise(0.0)
        paid = (pl.col("spread_cost") + pl.col("impact_cost")) / pl.col("quantity")
        sps = pl.when(slipped).then(cfg.slippage_per_share).otherwise(0.0) + paid
        ref = (
            pl.when(pl.col("side") == "buy")
            .then((pl.col("price") - sps) / (1 + s))
            .otherwise((pl.col("price") + sps) / (1 - s))
        )
        assert f.filter((ref < pl.col("low") * (1 - 1e-12)) | (ref > pl.col("high") * (1 + 1e-12))).height == 0


@given(panels(), configs(cash_sharing=False))
def test_higher_costs_never_raise_pnl(panel_df, cfg):
    """Per independent account with share sizing, each trade's pnl only falls as costs rise.

    Costs must not move the exits for the trades to stay the same: with position rules off any
    cost may rise (market impact: a larger k, where it is drawn); with rules on and levels
    anchored on the signal close, fees may (slippage would move a fill-anchored level, and a stop
    exit's price, legitimately)."""
    _, df = panel_df
    kw = vec_kwargs(cfg) | dict(size_type="shares", size=5.0, init_cash=1e9)
    no_rules = dict(stop_loss=None, take_profit=None, trailing_stop=None, max_bars=None, scale_out=None)
    borrow = kw["borrow_rate"] if isinstance(kw["borrow_rate"], str) else (kw["borrow_rate"] or 0.0) + 0.5
    # a wider spread (a number: one more bp; per bar or by asset: as drawn)
    key = "spread_price" if "spread_price" in kw else "spread"
    wider = {key: kw.get(key, 0.0) + 0.0001 * (100.0 if key == "spread_price" else 1.0)}
    if not isinstance(kw.get(key, 0.0), float | int):
        wider = {}
    # a larger market impact coefficient (the same shares: the cash is ample)
    steeper = impact_kwargs((2 * cfg.impact[0] + 0.1, cfg.impact[1])) if cfg.impact is not None else {}

    def up(v, d):  # a fee raised by d: a number, or a per-bar expression (its nulls: none, so d)
        return v.fill_null(0.0) + d if isinstance(v, pl.Expr) else v + d

    cps = kw.get("commission_per_share")
    dearer = {"commission_per_share": up(cps, 0.01)} if isinstance(cps, pl.Expr | float | int) else {}
    cases = [
        (
            kw | no_rules,
            dict(
                fees=up(kw["fees"], 0.002),
                fixed_fees=up(kw["fixed_fees"], 1),
                **dearer,
                slippage=kw["slippage"] + 0.001,
                borrow_rate=borrow,
                **wider,
                **steeper,
            ),
        ),
        (kw | dict(stop_anchor="signal_close"), dict(fees=up(kw["fees"], 0.002), fixed_fees=up(kw["fixed_fees"], 1))),
    ]
    for base, more in cases:
        low = vec.backtest(df, **base).trades
        high = vec.backtest(df, **(base | more)).trades
        assert low.select("symbol", "entry_time", "exit_time").equals(high.select("symbol", "entry_time", "exit_time"))
        assert (high["pnl"] <= low["pnl"] + 1e-9).all()


@given(panels(), st.sampled_from([True, False]), st.sampled_from(["next_open", "next_close", "same_close"]))
def test_no_signals_gives_empty_frames_with_full_schema(panel_df, cash_sharing, fill):
    _, df = panel_df
    res = vec.backtest(df, entries=pl.lit(False), cash_sharing=cash_sharing, fill=fill, init_cash=5000)
    tdt = pl.Datetime("us")
    for name in ("trades", "fills", "rejected"):
        frame = getattr(res, name)
        assert frame.height == 0
        assert frame.schema == schema.polars_schema(schema.SCHEMAS[name], tdt)
    assert res.equity.schema == schema.polars_schema(schema.EQUITY, tdt)
    expected = 5000.0 * (1 if cash_sharing else df["asset"].n_unique())
    assert (res.equity["equity"] == expected).all()


@given(panels(max_assets=4), configs(cash_sharing=False))
def test_permuting_asset_names_permutes_results(panel_df, cfg):
    """Renaming assets (which reorders them) permutes independent results; shared-cash results
    depend on symbol order only through the entry priority, so compare independent mode."""
    _, df = panel_df
    kw = vec_kwargs(cfg) | dict(cash_sharing=False)
    a = vec.backtest(df, **kw)
    rename = {f"S{i}": f"Z{9 - i}" for i in range(10)}
    kw_b = {k: ({rename[a]: x for a, x in v.items()} if isinstance(v, dict) else v) for k, v in kw.items()}
    b = vec.backtest(df.with_columns(pl.col("asset").replace(rename)), **kw_b)
    back = b.trades.with_columns(pl.col("symbol").replace({v: k for k, v in rename.items()}))
    # position ids number entries of one bar in asset order: renamed assets renumber them; a
    # position's rows (scale-out's partial rows) share its entry time: every column sorts
    same = back.drop("position_id")
    assert same.sort(same.columns).equals(a.trades.drop("position_id").sort(same.columns))


@given(panels(max_assets=4), configs(cash_sharing=False, asset_costs=True))
def test_costs_by_asset_equal_each_assets_own_run(panel_df, cfg):
    """Costs given as a dict by asset: in independent accounts, each asset's trades, fills and
    equity are those of a run on that asset alone with its own numbers."""
    panel, df = panel_df
    cfg = by_asset(cfg, panel.assets)
    # (interest on the cash would accrue from the start of the whole panel's time axis, alone from the asset's)
    kw = vec_kwargs(cfg) | dict(cash_rate=None, credit_rate=None)
    res = vec.backtest(df, **kw)
    for a in panel.assets:
        alone = {k: v if not isinstance(v, dict) else v[a] if k in COSTS else {a: v[a]} if a in v else None
                 for k, v in kw.items()}  # a cost: the asset's number; a rule by asset: its own, or none  # fmt: skip
        one = vec.backtest(df.filter(pl.col("asset") == a), **alone)
        mine = res.trades.filter(pl.col("symbol") == a).drop("position_id")
        assert mine.equals(one.trades.drop("position_id")), a
        fills = res.fills.filter(pl.col("symbol") == a).drop("position_id")
        assert fills.equals(one.fills.drop("position_id")), a
        eq = res.asset_equity.filter(pl.col("symbol") == a).get_column("equity")
        assert np.allclose(eq.to_numpy()[-1], one.equity.get_column("equity").to_numpy()[-1], rtol=1e-12), a


def test_timestamp_dtypes_and_time_zones_are_kept():
    """Date, Datetime and tz-aware Datetime inputs give the same trades with the input's dtype."""
    base = vec.synthetic_prices(n_assets=2, n_bars=40, seed=3)
    kw = dict(entries=pl.col("pred") > 0.6, exits=pl.col("pred") < 0.4, size=0.3)
    a = vec.backtest(base, **kw).trades
    for unit, tz in (("ns", None), ("ms", "America/New_York")):
        dtype = pl.Datetime(unit, tz)
        df = base.with_columns(pl.col("timestamp").cast(pl.Datetime(unit)).dt.replace_time_zone(tz))
        t = vec.backtest(df, **kw).trades
        assert t.schema["entry_time"] == dtype
        assert t.drop("entry_time", "exit_time").equals(a.drop("entry_time", "exit_time"))
        assert t["entry_time"].dt.date().to_list() == a["entry_time"].to_list()
    assert a.schema["entry_time"] == pl.Date


@given(panels(), configs())
def test_rule_exits_fill_inside_the_bar_or_at_the_open(panel_df, cfg):
    """Stop and target exits fill at a price inside their bar's [low, high] (the level), or at the
    open when the bar gapped through; time stops fill at the open. Before slippage."""
    _, df = panel_df
    res = vec.backtest(df, **vec_kwargs(cfg))
    bars = df.select("timestamp", pl.col("asset").alias("symbol"), "open", "high", "low")
    x = res.fills.filter(
        pl.col("reason").cast(pl.String).is_in(["stop_loss", "take_profit", "trailing_stop", "time_stop"])
    ).join(bars, on=["timestamp", "symbol"])
    exit_slip = 0.0 if cfg.slippage_on == "entries" else cfg.slippage  # slippage_on: exits pay none
    slip = exit_slip if cfg.stop_slippage is None else cfg.stop_slippage
    for r in x.iter_rows(named=True):
        s = exit_slip if r["reason"] == "time_stop" else slip
        sps = 0.0 if cfg.slippage_on == "entries" else cfg.slippage_per_share
        sps += (r["spread_cost"] + r["impact_cost"]) / r["quantity"]  # half the spread, the impact: every fill
        ref = (r["price"] - sps) / (1 + s) if r["side"] == "buy" else (r["price"] + sps) / (1 - s)
        if r["reason"] == "time_stop":
            assert ref == pytest.approx(r["open"], rel=1e-12)
        else:
            assert r["low"] * (1 - 1e-12) <= ref <= r["high"] * (1 + 1e-12) or ref == pytest.approx(r["open"])


@given(panels(), configs(cash_sharing=False))
def test_tighter_stop_never_lengthens_a_trade(panel_df, cfg):
    """Per asset, the runs with a loose and a tight stop agree trade by trade until the first trade
    that differs; that trade starts at the same time and ends no later with the tighter stop
    (holding no more shares, under ``accumulate``).
    (After that the histories diverge: later trades are not comparable.)"""
    _, df = panel_df
    kw = vec_kwargs(cfg) | dict(size_type="shares", size=5.0, init_cash=1e9)
    cols = ["symbol", "entry_time", "exit_time", "quantity", "exit_reason", "exit_price"]
    loose = vec.backtest(df, **(kw | dict(stop_loss=0.1))).trades.select(cols)
    tight = vec.backtest(df, **(kw | dict(stop_loss=0.03))).trades.select(cols)
    for sym in df["asset"].unique():
        a = loose.filter(pl.col("symbol") == sym).rows()
        b = tight.filter(pl.col("symbol") == sym).rows()
        for x, y in zip(a, b, strict=False):
            if x == y:
                continue
            assert y[1] == x[1], (x, y)  # same entry
            # same position; with accumulate, the earlier exit may come before some of the adds; with
            # scale_out, the stop may take the whole position where the loose run took a step
            assert y[3] == x[3] or (cfg.accumulate and 0 < y[3] / x[3] < 1) or cfg.scale_out is not None, (x, y)
            assert y[2] <= x[2], (x, y)  # no later exit
            break


@given(panels(max_assets=6), configs(cash_sharing=True, fill="same_close", limits=True))
def test_portfolio_limits_hold(panel_df, cfg):
    """With limits on: open positions <= max_positions at every close; every entry's notional <=
    max_position_weight x the equity it was sized on; gross exposure + entry fees <= leverage x
    that equity after every bar with entries. Fills at the close without slippage or spread, so the equity
    an entry is sized on is the bar's closing equity plus the bar's entry fees (exits-first order:
    with fill_order="asset" later assets' stops move equity after an entry; a one-order reversal
    sizes on the equity before its closing part's fees). The leverage bound is the equity cash
    rule's; "ml4t" and "vectorbt" let short proceeds buy more."""
    _, df = panel_df
    kw = vec_kwargs(cfg) | dict(
        slippage=0.0, slippage_per_share=0.0, stop_slippage=0.0, price=None, fill_order="exits_first",
        reversal="two_orders", spread=None, spread_price=None,
    )  # fmt: skip
    res = vec.backtest(df, **kw)
    tol = 1e-9
    held = res.asset_equity.group_by("timestamp").agg((pl.col("position_value") != 0).sum().alias("n"))
    if cfg.max_positions is not None:
        assert held["n"].max() is None or held["n"].max() <= cfg.max_positions
    entries = res.fills.filter(pl.col("effect") == "entry")
    if entries.is_empty():
        return
    per_bar = entries.group_by("timestamp").agg(
        pl.col("fees").sum().alias("entry_fees"), (pl.col("quantity") * pl.col("price")).max().alias("largest")
    )
    bars = res.equity.join(per_bar, on="timestamp").with_columns(pre=pl.col("equity") + pl.col("entry_fees"))
    lev = 1.0 if cfg.max_gross_leverage is None else cfg.max_gross_leverage
    for row in bars.iter_rows(named=True):
        scale = tol * max(1.0, abs(row["pre"]))
        if cfg.cash_rule == "equity":
            assert row["gross_exposure"] + row["entry_fees"] <= lev * row["pre"] + scale, row
        if cfg.max_position_weight is not None:
            assert row["largest"] <= cfg.max_position_weight * row["pre"] + scale, row


LAYOUTS = {
    "asset_major": lambda df: df.sort("asset", "timestamp"),
    "asset_blocks_reversed": lambda df: df.sort("asset", "timestamp", descending=[True, False]),
    "timestamp_major": lambda df: df.sort("timestamp", "asset"),
    "timestamp_major_assets_reversed": lambda df: df.sort("timestamp", "asset", descending=[False, True]),
    "shuffled": lambda df: df,  # panels() shuffles the rows
    "categorical": lambda df: df.with_columns(pl.col("asset").cast(pl.Categorical)),
    "enum": lambda df: df.with_columns(pl.col("asset").cast(pl.Enum(sorted(df["asset"].unique())))),
    "enum_timestamp_major": lambda df: df.sort("timestamp", "asset").with_columns(
        pl.col("asset").cast(pl.Enum(sorted(df["asset"].unique())))
    ),
    "integer": lambda df: df.with_columns(pl.col("asset").str.slice(1).cast(pl.Int32)),
}


@given(panels(), configs(), st.sampled_from(sorted(LAYOUTS)))
def test_row_order_and_asset_dtype_never_change_results(panel_df, cfg, layout):
    """Any row order and asset dtype (same asset order) gives the same backtest, windows included:
    the kernels read complete panels in place in their own order, ragged ones through a grid."""
    _, df = panel_df
    kw = vec_kwargs(cfg)
    # a window over each asset's previous row: only right if each asset's rows are in time order
    kw["entries"] = pl.col("s0").fill_null(False) & ~pl.col("s0").shift(1).over("asset").fill_null(False)
    base = vec.backtest(df.sort("asset", "timestamp"), **kw)
    if layout == "integer":  # per-asset rule values by the integer names
        kw = {k: ({int(a[1:]): x for a, x in v.items()} if isinstance(v, dict) else v) for k, v in kw.items()}
    other = vec.backtest(LAYOUTS[layout](df), **kw)
    for name in ("trades", "fills", "rejected", "equity"):
        a, b = getattr(base, name), getattr(other, name)
        if name != "equity":
            a, b = a.with_columns(pl.col("symbol").cast(pl.String)), b.with_columns(pl.col("symbol").cast(pl.String))
        if layout == "integer" and name != "equity":
            a = a.with_columns(pl.col("symbol").str.slice(1))
        assert a.equals(b), (layout, name)
    assert base.fingerprint == other.fingerprint or layout in ("categorical", "enum", "enum_timestamp_major",
                                                               "integer")  # fmt: skip


@given(panels(max_assets=4, max_bars=30), st.booleans(), st.integers(0, 2**32 - 1))
def test_unsorted_frames_scatter_or_sort_the_same(panel_df, dup, seed):
    """A shuffled frame whose expressions read each row alone is left as it is (rows scattered to
    their cells); one with a window expression is put in (asset, timestamp) order first. Both
    give the backtest of the sorted frame, and the same duplicate-row error."""
    _, df = panel_df
    if dup:
        df = pl.concat([df, df.head(1)])
    shuffled = df.sample(fraction=1.0, shuffle=True, seed=seed)
    stop = pl.when(pl.col("s2")).then(0.05)  # a per-bar stop: 5% where s2, else none
    outcomes = []
    windowed = (pl.col("s0").shift(0).over("asset"), stop.shift(0).over("asset"))  # needs the rows in order
    for frame, entries, rule in ((df, "s0", stop), (shuffled, "s0", stop), (shuffled, *windowed)):
        try:
            outcomes.append(vec.backtest(frame, entries=entries, exits="s1", stop_loss=rule, fees=0.001).fills)
        except vec.DataError as e:
            outcomes.append(str(e))
    assert isinstance(outcomes[0], str) == dup or df.height == 1
    for other in outcomes[1:]:
        assert (other == outcomes[0]) if isinstance(outcomes[0], str) else outcomes[0].equals(other)


@given(panels(max_assets=4, max_bars=30), st.integers(0, 2**32 - 1))
def test_a_window_price_expression_sees_each_asset_in_time_order(panel_df, seed):
    """``price=`` with a window is evaluated once the rows are in time order per asset: a shuffled
    frame gives the sorted frame's fills (it was evaluated on the shuffled rows before)."""
    _, df = panel_df
    price = pl.col("close").shift(1).over("asset").fill_null(pl.col("close"))
    kw = dict(entries="s0", exits="s1", price=price, fees=0.001)
    base = vec.backtest(df.sort("asset", "timestamp"), **kw).fills
    assert vec.backtest(df.sample(fraction=1.0, shuffle=True, seed=seed), **kw).fills.equals(base)


@given(panels(), configs(resting=True))
def test_resting_entries_fill_inside_their_bar_after_their_signal_and_before_expiry(panel_df, cfg):
    """Every entry a resting order fills (limit, stop, stop-limit) fills at a reference price inside
    its bar's [low, high] (the open on a gap, else the level the bar reached: the fill price less
    its slippage and spread per share), strictly after an entry signal of its side, and with
    ``tif=n`` no more than n + 1 of the asset's bars after one (n tests; a reversal's entry is not
    tested on the bar its exit waits for)."""
    _, df = panel_df
    res = vec.backtest(df, **vec_kwargs(cfg))
    bars = df.sort("asset", "timestamp").with_columns(k=pl.int_range(pl.len()).over("asset"))
    sig = bars.select(pl.col("asset").alias("symbol"), "k", buy=pl.col("s0").fill_null(False),
                      sell=pl.col("s2").fill_null(False))  # fmt: skip
    ohlc = bars.select("timestamp", pl.col("asset").alias("symbol"), "open", "high", "low", "k")
    x = res.fills.filter(pl.col("effect") == "entry").join(ohlc, on=["timestamp", "symbol"])
    for r in x.iter_rows(named=True):
        d = 1.0 if r["side"] == "buy" else -1.0
        ref = r["price"] - d * (r["slippage"] + r["spread_cost"]) / r["quantity"]
        assert r["low"] * (1 - 1e-12) <= ref <= r["high"] * (1 + 1e-12), r
        before = sig.filter((pl.col("symbol") == r["symbol"]) & (pl.col("k") < r["k"]) & pl.col(r["side"]))
        assert before.height > 0, r  # never on (or before) its signal bar
        if isinstance(cfg.tif, int):
            assert r["k"] - before["k"].max() <= cfg.tif + 1, (r, cfg.tif)
