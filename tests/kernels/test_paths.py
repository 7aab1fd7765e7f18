"""The two kernel paths agree: a shared-cash group (arrays of state, inner loop over columns)
and single-column accounts (state in locals) give the same records when cash never binds."""

import dataclasses

import polars as pl
import pytest
from hypothesis import given
from panels import configs, panels, vec_kwargs

import ml4t_vec as vec

pytestmark = pytest.mark.filterwarnings("ignore::ml4t_vec.LookAheadWarning")


@given(panels(max_assets=5), configs(cash_sharing=False))
def test_group_path_equals_column_path(panel_df, cfg):
    _, df = panel_df
    # (interest on the cash would differ: one account holds all the accounts' cash; so would commission
    # tiers: one account counts every asset's shares)
    cfg = dataclasses.replace(cfg, commission_tiers=())
    kw = vec_kwargs(cfg) | dict(size_type="shares", size=3.0, init_cash=1e12, cash_rate=None, credit_rate=None)
    shared = vec.backtest(df, **(kw | dict(cash_sharing=True)))
    indep = vec.backtest(df, **(kw | dict(cash_sharing=False)))
    assert shared.trades.equals(indep.trades)
    assert shared.fills.equals(indep.fills)
    assert shared.rejected.equals(indep.rejected)
    a = shared.asset_equity.select("timestamp", "symbol", "position_value")
    b = indep.asset_equity.select("timestamp", "symbol", "position_value")
    assert a.equals(b)
    # net exposure is the same; cash differs only by the number of accounts' initial cash
    n = df["asset"].n_unique()
    assert shared.equity["net_exposure"].equals(indep.equity["net_exposure"])
    diff = (indep.equity["cash"] - shared.equity["cash"]).to_list()
    assert diff == pytest.approx([(n - 1) * 1e12] * len(diff), rel=1e-12)


@given(panels(max_assets=1), configs(cash_sharing=False))
def test_one_column_account_fills_as_the_group_phases(panel_df, cfg):
    """One traded asset, cash binding or not, every order model: an independent account fills
    through the lean call (``fills.fill_one_nb``) and skips quiet bars; the same asset in a
    shared-cash portfolio beside an asset that never trades fills through the group phases
    (``simulate._phase_nb``, ``_entries_nb``) on every bar. Same records, same equity."""
    _, df = panel_df
    idle = df.with_columns(pl.lit("ZZ").alias("asset"), *(pl.lit(False).alias(s) for s in ("s0", "s1", "s2", "s3")))
    kw = vec_kwargs(cfg)
    indep = vec.backtest(df, **(kw | dict(cash_sharing=False)))
    group = vec.backtest(pl.concat([df, idle]), **(kw | dict(cash_sharing=True)))
    assert group.trades.equals(indep.trades)
    assert group.fills.equals(indep.fills)
    assert group.rejected.equals(indep.rejected)
    assert group.equity.equals(indep.equity)


def test_one_asset_shared_equals_independent():
    p = vec.synthetic_prices(n_assets=1, n_bars=300, seed=5)
    kw = dict(
        entries=pl.col("pred") > 0.6,
        exits=pl.col("pred") < 0.45,
        short_entries=pl.col("pred") < 0.3,
        fees=0.001,
        size=0.7,
    )
    a = vec.backtest(p, cash_sharing=True, **kw)
    b = vec.backtest(p, cash_sharing=False, **kw)
    assert a.trades.equals(b.trades) and a.equity.equals(b.equity)
