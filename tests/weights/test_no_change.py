"""A target the holding already meets is no order: an all-in holding re-targeted at the same
weight differs from it only by the rounding of equity / price (1e-13 shares), which must not
become a fill paying fixed fees or a rejected row on every bar (found by the long Hypothesis
profile of tests/property/test_weights_parity.py; the reference engine has the same rule)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

import ml4t_vec as vec


def walk(n: int = 300) -> pl.DataFrame:
    c = 100 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, n)))
    ts = pl.date_range(dt.date(2020, 1, 1), dt.date(2020, 1, 1) + dt.timedelta(days=n - 1), eager=True)
    return pl.DataFrame({"timestamp": ts, "asset": "A", "open": c, "high": c * 1.01, "low": c * 0.99, "close": c})


@pytest.mark.parametrize("costs", [{}, {"fixed_fees": 1.0}, {"fees": 0.001, "shortfall": "scale"}])
def test_an_all_in_holding_is_not_re_traded_for_rounding_dust(costs):
    r = vec.backtest(walk(), weights=pl.lit(1.0), **costs)
    assert r.fills["quantity"].min() > 1e-6  # (before: 296 fills of 1.1e-13 shares, each paying the $1 fee)
    assert r.fills.height <= 2
    assert not r.rejected["reason"].cast(pl.String).is_in(["insufficient_cash", "no_next_bar"]).any()


def test_a_small_real_change_still_trades():
    """The tolerance is the rounding's (1e-12 of the holding), not a threshold: a weight raised by
    5e-10 of itself still buys its 2.5e-7 shares (``min_trade_value`` is the threshold)."""
    df = walk(4).with_columns(open=pl.lit(100.0), high=pl.lit(101.0), low=pl.lit(99.0), close=pl.lit(100.0),
                              w=pl.Series([0.5, 0.5 * (1 + 5e-10), 0.5 * (1 + 5e-10), 0.5]))  # fmt: skip
    r = vec.backtest(df, weights="w", init_cash=100_000.0)
    assert r.fills["quantity"].to_list() == pytest.approx([500.0, 2.5e-7], rel=1e-6)
