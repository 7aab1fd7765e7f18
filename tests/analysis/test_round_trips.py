"""``vec.round_trips``: FIFO tax lots from the fills, against hand-worked lots and the trades
frame's pnl."""

import datetime as dt
import doctest

import polars as pl
import pytest
from hypothesis import given, settings
from panels import vec_run, weight_cases

import ml4t_vec as vec
import ml4t_vec.lots

pytestmark = pytest.mark.filterwarnings("ignore::ml4t_vec.LookAheadWarning", "ignore::ml4t_vec.DataWarning")


def _fills(rows):
    d0 = dt.date(2024, 1, 1)
    return pl.DataFrame(
        [
            dict(timestamp=d0 + dt.timedelta(days=t), symbol=s, side=side, effect=e, quantity=q, price=p, fees=f)
            for t, s, side, e, q, p, f in rows
        ]  # fmt: skip
    )


def test_fifo_lots_by_hand():
    """Buy 10 @100 (fee 1) and 10 @110 (fee 2), sell 15 @120 (fee 3), sell 5 @130 (fee 1):
    FIFO closes 10 bought at 100 and 5 at 110 on day 2, the last 5 at 110 on day 3.
    pnl: 10 * 20 - (1 + 3 * 10 / 15) = 197; 5 * 10 - (2 * 5 / 10 + 3 * 5 / 15) = 48;
    5 * 20 - (2 * 5 / 10 + 1) = 98."""
    f = _fills([(0, "A", "buy", "entry", 10, 100.0, 1.0), (1, "A", "buy", "increase", 10, 110.0, 2.0),
                (2, "A", "sell", "reduce", 15, 120.0, 3.0), (3, "A", "sell", "exit", 5, 130.0, 1.0),
                (3, "B", "sell", "entry", 4, 50.0, 0.0)])  # fmt: skip
    lots = vec.round_trips(f)
    a = lots.filter(pl.col("symbol") == "A")
    assert a.select("quantity", "entry_price", "exit_price").rows() == [(10, 100.0, 120.0), (5, 110.0, 120.0),
                                                                       (5, 110.0, 130.0)]  # fmt: skip
    assert a["pnl"].to_list() == pytest.approx([197.0, 48.0, 98.0])
    b = lots.filter(pl.col("symbol") == "B").row(0, named=True)
    assert (b["direction"], b["quantity"], b["exit_time"], b["pnl"]) == ("short", 4.0, None, None)
    with pytest.raises(vec.ConfigError, match="method"):
        vec.round_trips(f, method="lifo")


@settings(max_examples=40, deadline=None)
@given(weight_cases())
def test_lots_add_up_to_the_trades(case):
    """On random target-weight runs (partial reductions, reversals): every opened share is in
    exactly one lot, and once the last weights close everything the lots' pnl is the trades'
    (before borrow fees, which are the trade rows' and not the fills')."""
    panel, weights, rebalance, cfg = case
    last = panel.timestamps[-2] if len(panel.timestamps) > 1 else None
    if last is not None:  # close everything on the last decision that can still fill
        weights = {a: {**w, last: 0.0} for a, w in weights.items()}
        rebalance = sorted(set(rebalance) | {last})
    res = vec_run(panel, weights, rebalance, dict(cfg, missing="flat", fill="next_open"))
    lots = vec.round_trips(res.fills)
    opened = res.fills.filter(pl.col("effect").is_in(["entry", "increase"]))["quantity"].sum()
    assert lots["quantity"].sum() == pytest.approx(opened, rel=1e-9, abs=1e-9)
    if res.trades.filter(pl.col("status") == "open").height == 0:
        before_borrow = res.trades["pnl"].sum() + res.trades["borrow_cost"].sum()
        assert lots["pnl"].sum() == pytest.approx(before_borrow, rel=1e-9, abs=1e-7)


def test_doctests():
    assert doctest.testmod(ml4t_vec.lots).failed == 0
