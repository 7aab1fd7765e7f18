"""Market impact (``impact=vec.SquareRootImpact(...)``), worked by hand: every fill's price moves
by ``k * sigma * (q / adv) ** exponent`` of its price before impact, sigma and adv read at the
asset's bar before the fill, reported apart from slippage and the spread; sizing counts it; its
errors. The reference engine draws it in the Hypothesis parity tests (tests/property)."""

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from panels import one_asset

import ml4t_vec as vec
from ml4t_vec._kernels import orders as nb_orders
from ml4t_vec.errors import ConfigError, DataError


def with_inputs(opens, closes, entries, exits, sigma, adv) -> pl.DataFrame:
    """``panels.one_asset`` with the impact's inputs as Float64 columns ``sigma`` and ``adv``."""
    return one_asset(opens, closes, entries, exits).with_columns(
        sigma=pl.Series(sigma, dtype=pl.Float64), adv=pl.Series(adv, dtype=pl.Float64)
    )


# sigma 2% and adv 400 shares at bar 0 (read by bar 1's buy), 1% and 100 at bar 1 (bar 2's sale)
DF = with_inputs([100.0, 100.0, 110.0, 120.0], [100.0, 105.0, 115.0, 120.0], [True, False, False, False],
               [False, True, False, False], [0.02, 0.01, 0.5, 0.5], [400.0, 100.0, 1.0, 1.0])  # fmt: skip
IMPACT = vec.SquareRootImpact(k=0.5, sigma="sigma", adv="adv")


def test_a_round_trip_pays_the_square_root_impact_each_way_apart_from_slippage_and_spread():
    """Buy 100 shares at bar 1's open 100 with 1% slippage and a 2% spread: P = 100 x 1.01 + 1 = 102,
    impact 0.5 x 0.02 x sqrt(100 / 400) x 102 = 0.51 a share. Sell at bar 2's open 110:
    P = 110 x 0.99 - 1.1 = 107.8, impact 0.5 x 0.01 x sqrt(100 / 100) x 107.8 = 0.539. Fees on P."""
    r = vec.backtest(DF, entries="e", exits="x", size=100, size_type="shares", slippage=0.01, spread=0.02,
                     fees=0.001, impact=IMPACT)  # fmt: skip
    f = r.fills
    assert f["price"].to_list() == pytest.approx([102.51, 107.261])
    assert f["impact_cost"].to_list() == pytest.approx([51.0, 53.9])
    assert f["slippage"].to_list() == pytest.approx([100.0, 110.0])
    assert f["spread_cost"].to_list() == pytest.approx([100.0, 110.0])
    assert f["fees"].to_list() == pytest.approx([10.2, 10.78])  # 0.001 x 100 x P
    ref = np.array([100.0, 110.0])
    total = (f["slippage"] + f["spread_cost"] + f["impact_cost"]).to_numpy()
    assert total == pytest.approx(100 * np.abs(f["price"].to_numpy() - ref))
    t = r.trades.row(0, named=True)
    assert t["impact_cost"] == pytest.approx(104.9)
    assert t["pnl"] == pytest.approx((107.261 - 102.51) * 100 - 10.2 - 10.78)
    s = r.stats().row(0, named=True)
    assert s["total_impact_cost"] == pytest.approx(104.9)
    assert s["total_costs"] == pytest.approx(20.98 + 210.0 + 210.0 + 104.9)
    assert r.equity["equity"][-1] == pytest.approx(100_000 + t["pnl"])
    # costs never raise pnl: the same shares without impact earn exactly its cost more
    r0 = vec.backtest(DF, entries="e", exits="x", size=100, size_type="shares", slippage=0.01, spread=0.02,
                      fees=0.001)  # fmt: skip
    assert r0.trades["pnl"].sum() - r.trades["pnl"].sum() == pytest.approx(104.9)


def test_a_short_sells_below_and_covers_above():
    r = vec.backtest(DF, short_entries="e", short_exits="x", size=100, size_type="shares", impact=IMPACT)
    assert r.fills["price"].to_list() == pytest.approx([100.0 - 0.5, 110.0 + 0.55])
    assert r.fills["impact_cost"].to_list() == pytest.approx([50.0, 55.0])
    assert r.fills["slippage"].to_list() == pytest.approx([0.0, 0.0])


def test_inputs_are_read_at_the_bar_before_the_fill_never_at_its_own():
    """Changing sigma and adv on the fill bars changes nothing; on the bars before, the impact."""
    base = vec.backtest(DF, entries="e", exits="x", size=100, size_type="shares", impact=IMPACT)
    own = DF.with_columns(sigma=pl.Series([0.02, 0.01, 9.0, 9.0]), adv=pl.Series([400.0, 100.0, 1e-3, 1e-3]))
    assert vec.backtest(own, entries="e", exits="x", size=100, size_type="shares", impact=IMPACT).fills.equals(
        base.fills
    )
    before = DF.with_columns(sigma=pl.Series([0.04, 0.01, 0.5, 0.5]))
    moved = vec.backtest(before, entries="e", exits="x", size=100, size_type="shares", impact=IMPACT)
    assert moved.fills["impact_cost"].to_list() == pytest.approx([100.0, 55.0])


@pytest.mark.filterwarnings("ignore::ml4t_vec.errors.LookAheadWarning")
def test_no_impact_on_an_assets_first_bar_or_where_an_input_is_null():
    """fill='same_close' reads the bar before too: the first bar's fill pays none; a null sigma or
    adv (a warm-up window) pays none."""
    r = vec.backtest(DF, entries="e", exits="x", size=100, size_type="shares", fill="same_close", impact=IMPACT)
    assert r.fills["impact_cost"].to_list() == pytest.approx([0.0, 0.5 * 0.02 * 0.5 * 105.0 * 100])
    nulls = DF.with_columns(sigma=pl.Series([None, 0.01, 0.5, 0.5], dtype=pl.Float64))
    r = vec.backtest(nulls, entries="e", exits="x", size=100, size_type="shares", impact=IMPACT)
    assert r.fills["impact_cost"].to_list() == pytest.approx([0.0, 55.0])


def test_percent_sizes_commit_the_cash_including_fees_and_impact():
    """All in: quantity x P + fees + quantity x impact == the equity, and the impact is paid; a
    value size likewise; whole shares round down."""
    imp = vec.SquareRootImpact(k=0.5, sigma="sigma", adv=pl.lit(1.0))
    for size, size_type, frac in ((1.0, "percent", True), (30_000.0, "value", True), (1.0, "percent", False)):
        r = vec.backtest(DF, entries="e", exits="x", size=size, size_type=size_type, fractional=frac, fees=0.001,
                         fixed_fees=2.0, impact=imp)  # fmt: skip
        f = r.fills.row(0, named=True)
        q = f["quantity"]
        committed = q * f["price"] + f["fees"]
        target = 100_000.0 if size_type == "percent" else size
        if frac:
            assert committed == pytest.approx(target, rel=1e-11)
        else:  # the largest whole number that fits
            assert committed <= target and q == math.floor(q)
            p = 100.0
            one_more = (q + 1) * p * 1.001 + 2.0 + 0.5 * 0.02 * p * (q + 1) ** 1.5
            assert one_more > target
        assert f["impact_cost"] == pytest.approx(0.5 * 0.02 * 100.0 * q**1.5)
        assert r.rejected.height == 0


def test_the_cash_limit_counts_the_impact():
    """A 1,000-share order in a 100,000 account at 100: its notional fits, with impact it does not;
    it is cut to what notional, fees and impact fit in (a reduced_cash row)."""
    imp = vec.SquareRootImpact(k=0.5, sigma="sigma", adv=pl.lit(1000.0))  # 1% at q = adv: 1.0 a share
    r = vec.backtest(DF, entries="e", exits="x", size=1000, size_type="shares", impact=imp)
    q = r.fills["quantity"][0]
    assert q < 1000
    assert q * 100.0 + 0.01 * 100.0 * q**1.5 / 1000**0.5 == pytest.approx(100_000.0, rel=1e-11)
    assert r.rejected["reason"].to_list() == ["reduced_cash"]
    # cash_rule="ml4t" accepts or rejects whole: rejected
    r = vec.backtest(DF, entries="e", exits="x", size=1000, size_type="shares", impact=imp, cash_rule="ml4t")
    assert r.fills.height == 0 and r.rejected["reason"].to_list() == ["insufficient_cash"]
    r = vec.backtest(DF, entries="e", exits="x", size=990, size_type="shares", impact=imp, cash_rule="ml4t")
    assert r.fills.height == 2


def test_position_rule_exits_pay_impact():
    """A stop-loss fill pays the impact of its shares at the stop price."""
    df = with_inputs([100.0, 100.0, 90.0, 90.0], [100.0, 100.0, 90.0, 90.0], [True, False, False, False],
                   [False] * 4, [0.02, 0.02, 0.02, 0.02], [100.0] * 4)  # fmt: skip
    r = vec.backtest(df, entries="e", size=100, size_type="shares", stop_loss=0.05, impact=IMPACT)
    f = r.fills.row(1, named=True)
    assert f["reason"] == "stop_loss"
    px_before = f["price"] + 0.5 * 0.02 * 1.0 * 90.0  # a sale: below its price before impact
    assert f["impact_cost"] == pytest.approx(100 * (px_before - f["price"]))
    assert r.trades["impact_cost"][0] == pytest.approx(r.fills["impact_cost"].sum())


def test_default_inputs_are_trailing_return_volatility_and_mean_volume():
    prices = vec.synthetic_prices(n_assets=3, n_bars=120, seed=4)
    kw = dict(entries=pl.col("pred") > 0.6, exits=pl.col("pred") < 0.4, size=0.3)
    r = vec.backtest(prices, impact=vec.SquareRootImpact(k=0.3, window=10), **kw)
    close, vol = pl.col("close"), pl.col("volume")
    sigma = (close / close.shift(1) - 1).rolling_std(10).over("asset", order_by="timestamp")
    adv = vol.rolling_mean(10).over("asset", order_by="timestamp")
    explicit = vec.SquareRootImpact(k=0.3, sigma=sigma, adv=adv)
    r2 = vec.backtest(prices, impact=explicit, **kw)
    assert r.fills.equals(r2.fills)
    f = r.fills
    assert (f["impact_cost"] > 0).any() and (f["impact_cost"] >= 0).all()
    assert f.filter(pl.col("timestamp") <= prices["timestamp"].unique().sort()[10])["impact_cost"].sum() == 0.0


def test_impact_with_a_sweep_and_per_asset_panels():
    """A sweep with impact as a fixed setting reports the same total_impact_cost as each backtest."""
    prices = vec.synthetic_prices(n_assets=3, n_bars=120, seed=5)
    imp = vec.SquareRootImpact(k=0.3, window=10)
    sw = vec.sweep(prices, entries=lambda p: pl.col("pred") > p.hi, exits=pl.col("pred") < 0.4,
                   params={"hi": [0.55, 0.7]}, impact=imp, cash_sharing=False, size=0.5)  # fmt: skip
    for hi, got in zip(*sw.results.select("hi", "total_impact_cost").to_dict(as_series=False).values(), strict=True):
        r = vec.backtest(prices, entries=pl.col("pred") > hi, exits=pl.col("pred") < 0.4, impact=imp,
                         cash_sharing=False, size=0.5)  # fmt: skip
        assert got == pytest.approx(r.stats()["total_impact_cost"][0], rel=1e-9)


@pytest.mark.parametrize(
    "kw, msg",
    [
        (dict(preset="vectorbt"), "cash_rule='vectorbt'"),
        (dict(reversal="one_order"), "reversal='one_order'"),
        (dict(size_rule="backtesting", fractional=False, size=0.5), "size_rule='backtesting'"),
    ],
)
def test_peer_order_models_refuse_impact(kw, msg):
    with pytest.raises(ConfigError, match=msg):
        vec.backtest(DF, entries="e", exits="x", impact=IMPACT, **kw)


def test_bad_impact_settings_and_data():
    with pytest.raises(ConfigError, match="SquareRootImpact"):
        vec.backtest(DF, entries="e", exits="x", impact=0.1)
    for bad in (dict(k=-1.0), dict(k=float("nan")), dict(k=0.1, exponent=0.0), dict(k=0.1, exponent=3.0),
                dict(k=0.1, window=1), dict(k=0.1, sigma=0.02)):  # fmt: skip
        with pytest.raises(ConfigError, match="SquareRootImpact"):
            vec.SquareRootImpact(**bad)
    with pytest.raises(ConfigError, match="not available with `weights`"):
        vec.backtest(DF, weights=pl.lit(0.5), impact=IMPACT)
    with pytest.raises(ConfigError, match="cannot be a sweep dimension"):
        vec.sweep(DF, entries="e", exits="x", params={"impact": [None, IMPACT]})
    with pytest.raises(DataError, match="'volume'"):
        vec.backtest(DF, entries="e", exits="x", impact=vec.SquareRootImpact(k=0.1, sigma="sigma"))
    zero = DF.with_columns(adv=pl.Series([400.0, 0.0, 1.0, 1.0]))
    with pytest.raises(DataError, match=r"`impact` must lie") as err:  # the row of the bad adv is named
        vec.backtest(zero, entries="e", exits="x", impact=IMPACT)
    assert "1 row(s), first at asset='A', timestamp=2024-01-03" in str(err.value) and "adv of 0" in str(err.value)
    last = DF.with_columns(sigma=pl.Series([0.02, 0.01, 0.5, -0.5]))  # (also on an asset's last row)
    with pytest.raises(DataError, match="timestamp=2024-01-05"):
        vec.backtest(last, entries="e", exits="x", impact=IMPACT)


# --- the solver: the largest order whose notional, fees and impact fit -------------------------
@given(
    st.floats(1.0, 1e7),
    st.floats(0.5, 5000.0),
    st.sampled_from([0.0, 0.001, 0.01]),
    st.sampled_from([0.0, 1.0, 20.0]),
    st.sampled_from([0.0, 0.005]),
    st.sampled_from([(0.0, np.inf), (1.0, np.inf), (1.0, 0.01), (0.35, 0.005)]),
    st.floats(1e-7, 1e-1),
    st.sampled_from([0.3, 0.5, 1.0, 2.0]),
)
def test_impact_affordable_is_the_largest_order_that_fits(cash, px, fees, fixed, rate, bounds, kappa, expo):
    cost = (fees, fixed, rate, bounds[0], bounds[1], kappa, expo)
    q = nb_orders.max_affordable_nb(cash, px, cost)
    if q <= 0.0:  # nothing fits: not even a sliver
        assert nb_orders.order_cash_nb(1e-9 * cash / px, px, cost) > cash or fixed >= cash
        return
    need = nb_orders.order_cash_nb(q, px, cost)
    assert need <= cash * (1 + 1e-12)
    assert nb_orders.order_cash_nb(q * (1 + 1e-9), px, cost) > cash * (1 - 1e-12) or q * 1e-9 * px < 1e-9 * cash
    no_impact = nb_orders.max_affordable_nb(cash, px, cost[:5] + (0.0, 0.0))
    assert q <= no_impact * (1 + 1e-12)


def test_constant_inputs_are_one_value_per_row():
    """A literal sigma and adv (a model's constant estimate) charge from each asset's second bar."""
    imp = vec.SquareRootImpact(k=0.5, sigma=pl.lit(0.02), adv=pl.lit(400.0))
    r = vec.backtest(DF, entries="e", exits="x", size=100, size_type="shares", impact=imp)
    assert r.fills["impact_cost"].to_list() == pytest.approx([51.0 / 1.02, 0.5 * 0.02 * 0.5 * 110.0 * 100])


def test_nan_inputs_are_no_impact_like_nulls():
    """A NaN sigma or adv (0 / 0 in a user's expression) is no impact there, as a null (README)."""
    nan = DF.with_columns(sigma=pl.Series([float("nan"), 0.01, 0.5, 0.5]))
    with pytest.warns(vec.DataWarning):  # (NaN in a data column is flagged on the way in)
        r = vec.backtest(nan, entries="e", exits="x", size=100, size_type="shares", impact=IMPACT)
    assert r.fills["impact_cost"].to_list() == pytest.approx([0.0, 55.0])


def test_walk_forward_evaluates_the_coefficient_over_the_whole_frame():
    """Out of sample, a test window's first bars pay impact from its default 10-bar inputs (their
    warm-up lies in the training window), the same as one backtest over the whole frame."""
    prices = vec.synthetic_prices(n_assets=3, n_bars=160, seed=6)
    imp = vec.SquareRootImpact(k=0.3, window=10)
    wf = vec.walk_forward(prices, entries=lambda p: pl.col("pred") > p.hi, exits=pl.col("pred") < 0.4,
                          params={"hi": [0.6]}, train=100, test=30, impact=imp, size=0.3)  # fmt: skip
    f = wf.result.fills
    first = f.filter(pl.col("timestamp") <= prices["timestamp"].unique().sort()[110])
    assert first.height > 0 and (first["impact_cost"] > 0).all()
    whole = vec.backtest(prices, entries=pl.col("pred") > 0.6, exits=pl.col("pred") < 0.4, impact=imp, size=0.3)
    w = whole.fills.filter(pl.col("timestamp") == f["timestamp"][0], pl.col("symbol") == f["symbol"][0])
    per = lambda r: r["impact_cost"][0] / r["quantity"][0] ** 1.5 / r["price"][0]  # noqa: E731  (kappa, ~)
    assert per(w) == pytest.approx(per(f), rel=1e-4)
