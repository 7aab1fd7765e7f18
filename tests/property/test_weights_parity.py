"""The target-weight kernel (``backtest(weights=...)``) equals the reference engine
(tests/reference/portfolio.py) on random panels with gaps: trades (partial rows, position ids),
fills, rejected orders and equity, for every fill timing, sizing point, shortfall rule,
rounding, lot size, threshold and cost."""

import math

import polars as pl
import pytest
from hypothesis import given
from panels import assert_rows_match, vec_run, weight_cases
from reference import portfolio
from reference.portfolio import WeightConfig

pytestmark = pytest.mark.filterwarnings("ignore::ml4t_vec.LookAheadWarning", "ignore::ml4t_vec.DataWarning")


@given(weight_cases())
def test_weights_kernel_matches_reference(case):
    _check(*case)


@given(weight_cases(limits=True))
def test_weights_kernel_matches_reference_with_the_breakers(case):
    """The drawdown breaker (halt or liquidate, with or without a cooldown) and the daily loss limit."""
    _check(*case)


def _check(panel, weights, rebalance, cfg):
    want = portfolio.run(panel, WeightConfig(**cfg), weights, rebalance)
    res = vec_run(panel, weights, rebalance, cfg)
    assert_rows_match(res.trades, want["trades"], ["symbol", "position_id", "exit_time", "status"], "trades")
    fills = res.fills.with_columns(pl.col("effect").cast(pl.String).alias("_e"))
    assert_rows_match(fills, [dict(f, _e=f["effect"]) for f in want["fills"]], ["symbol", "timestamp", "_e"], "fills")
    assert_rows_match(res.rejected, want["rejected"], ["symbol", "timestamp", "effect", "reason"], "rejected")
    assert_rows_match(res.positions, want["positions"], ["position_id"], "positions")
    eq = res.equity.rename({"return": "ret"})
    assert_rows_match(eq, want["equity"], ["timestamp"], "equity")
    final = res.equity.get_column("equity")[-1]
    assert math.isclose(res.trades.get_column("pnl").sum() - want["interest"], final - cfg["init_cash"], rel_tol=0,
                        abs_tol=1e-9 * cfg["init_cash"])  # fmt: skip
    assert math.isclose(res.stats().get_column("total_interest")[0], want["interest"], rel_tol=1e-6,
                        abs_tol=1e-9 * cfg["init_cash"])  # fmt: skip
