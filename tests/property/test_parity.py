"""The numba kernels equal the reference engine on random ragged panels (trades, fills,
rejected orders, equity), in both account modes and every fill timing."""

import polars as pl
import pytest
from hypothesis import given
from panels import assert_rows_match, by_asset, configs, panels, ts_of, vec_kwargs
from reference import engine

import ml4t_vec as vec
from ml4t_vec import schema

pytestmark = pytest.mark.filterwarnings("ignore::ml4t_vec.LookAheadWarning", "ignore::ml4t_vec.DataWarning")


def _check(panel_df, cfg):
    panel, df = panel_df
    cfg = by_asset(cfg, panel.assets)
    want = engine.run(panel, cfg)
    res = vec.backtest(df, **vec_kwargs(cfg))
    for name in ("trades", "fills", "rejected", "equity", "asset_equity"):
        assert getattr(res, name).schema == schema.polars_schema(schema.SCHEMAS[name], pl.Datetime("us")), name
    assert_rows_match(res.trades, want["trades"], ["symbol", "entry_time"], "trades")
    fills = res.fills.with_columns(pl.col("effect").cast(pl.String).alias("_e"))
    ref_fills = [dict(f, _e=f["effect"]) for f in want["fills"]]
    assert_rows_match(fills, ref_fills, ["symbol", "timestamp", "_e"], "fills")
    assert_rows_match(res.rejected, want["rejected"], ["symbol", "timestamp", "effect", "reason"], "rejected")
    assert (res.rejected["requested_quantity"].drop_nulls() >= 0).all()  # nothing asked for is 0, never < 0
    # positions: one per entry fill, with the pnl of its trade rows
    pos = res.positions
    assert pos.height == res.fills.filter(pl.col("effect") == "entry").height
    assert pos.get_column("pnl").sum() == pytest.approx(res.trades.get_column("pnl").sum(), rel=1e-9, abs=1e-6)
    assert pos.get_column("position_id").n_unique() == pos.height
    # the pnl identity: every trade row (open ones marked at the last close) sums to the equity
    # change, less the net interest the cash paid (which the reference counts on its own)
    n_accounts = 1 if cfg.cash_sharing else len(panel.assets)
    change = res.equity.get_column("equity")[-1] - cfg.init_cash * n_accounts
    assert res.trades.get_column("pnl").sum() - want["interest"] == pytest.approx(change, rel=1e-9, abs=1e-6)
    interest = res.stats().get_column("total_interest")[0]
    assert interest == pytest.approx(want["interest"], rel=1e-6, abs=1e-6 * cfg.init_cash * n_accounts)
    eq = res.equity.rename({"return": "ret"})
    assert eq.get_column("timestamp").to_list() == [ts_of(t) for t in panel.timestamps]
    assert_rows_match(eq, want["equity"], ["timestamp"], "equity")


@given(panels(), configs(asset_costs=None))
def test_kernel_matches_reference(panel_df, cfg):
    """Every setting drawn; each cost a number, or (``asset_costs``) a dict by asset."""
    _check(panel_df, cfg)


@given(panels(max_assets=6, gaps=True), configs(cash_sharing=True, asset_costs=None))
def test_shared_cash_ragged_matches_reference(panel_df, cfg):
    _check(panel_df, cfg)


@given(panels(), configs(size_by_bar=True))
def test_size_per_bar_matches_reference(panel_df, cfg):
    """``size=`` as an expression, read at each entry's signal bar (nulls request nothing)."""
    _check(panel_df, cfg)


@given(panels(), configs(accumulate=True))
def test_accumulate_matches_reference(panel_df, cfg):
    """``accumulate=True`` (and ``max_entries``): entries on the side held are increases at
    average cost, in every cash rule, order model and fill timing."""
    _check(panel_df, cfg)


@given(panels(), configs(scale_out=True))
def test_scale_out_matches_reference(panel_df, cfg):
    """``scale_out``: take-profit steps (partial rows, the rest of the bar checked again from the
    step's price), with every other rule, intrabar mode, order model and fill timing."""
    _check(panel_df, cfg)


@given(panels(), configs(impact=True, asset_costs=None))
def test_market_impact_matches_reference(panel_df, cfg):
    """``impact=SquareRootImpact(...)`` on every draw (the settings it is not offered with steered
    clear of): every fill moves by k x sigma / adv ** exponent x price x q ** exponent per share,
    read at the asset's previous bar, and every cash test counts it."""
    _check(panel_df, cfg)


@given(panels(), configs(resting=True, asset_costs=None))
def test_resting_orders_match_reference(panel_df, cfg):
    """Resting entry orders (``order_type`` limit, stop, stop_limit; levels as offsets or the
    ``lmt`` / ``stp`` columns; ``tif``, ``on_new_signal``, ``on_signal_off``, ``limit_touch``) in
    both account modes and every fill timing, with the settings they are offered with."""
    _check(panel_df, cfg)


@given(panels(max_assets=6, gaps=True), configs(cash_sharing=True, asset_costs=None, resting=True))
def test_resting_orders_shared_cash_ragged_match_reference(panel_df, cfg):
    """Resting entry orders competing for one account's cash on ragged panels: the resting
    phase's fills in asset order or by priority, marked at the bar's open, with portfolio limits."""
    _check(panel_df, cfg)
