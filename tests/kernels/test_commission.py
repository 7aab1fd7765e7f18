"""Commission schedules, hand-computed: a minimum and a cap per order (Interactive Brokers' own
published examples), tiers on the account's shares this calendar month (restarting each month),
and sizing that inverts the piecewise commission exactly (an all-in order spends the cash to the
cent). The Hypothesis parity tests (tests/property) draw schedules against the reference."""

import datetime as dt
import math
from typing import NamedTuple

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ml4t_vec as vec
from ml4t_vec import ConfigError
from ml4t_vec._kernels.orders import fee_nb
from ml4t_vec._kernels.rebalance import _scale_nb, _scaled_cost_nb

pytestmark = pytest.mark.filterwarnings("ignore::ml4t_vec.LookAheadWarning")


def bars(closes, start=dt.date(2024, 1, 2), entries=None, exits=None, days=None) -> pl.DataFrame:
    """One asset's flat bars (open = high = low = close); ``days``: the bars' dates."""
    days = days or [start + dt.timedelta(days=i) for i in range(len(closes))]
    n = len(closes)
    return pl.DataFrame(dict(timestamp=days, asset=["X"] * n, open=closes, high=closes, low=closes, close=closes,
                             e=entries or [False] * n, x=exits or [False] * n))  # fmt: skip


def one_order_fee(price: float, shares: float, **kw) -> float:
    """The fee of one market buy of ``shares`` at ``price`` (filled at the next bar's open)."""
    r = vec.backtest(bars([price] * 3, entries=[True, False, False]), entries="e", size=shares, size_type="shares",
                     init_cash=1e7, **kw)  # fmt: skip
    assert r.fills.height == 1 and r.fills["quantity"][0] == shares
    return r.fills["fees"][0]


@pytest.mark.parametrize(
    ("price", "shares", "fee"),
    [(25.0, 100, 1.00), (25.0, 1_000, 5.00), (0.25, 1_000, 2.50)],  # IB's examples: the minimum, the rate, the cap
)
def test_ibkr_fixed_matches_the_published_examples(price, shares, fee):
    assert one_order_fee(price, shares, commission="ibkr_fixed") == pytest.approx(fee, abs=1e-12)
    assert one_order_fee(price, shares, commission=vec.PerShare(0.005, min=1.0, max_pct=0.01)) == pytest.approx(fee)


def test_ibkr_tiered_first_tier_and_the_flat_fees_on_top():
    """1,000 @ 25 in the first tier pays 0.0035 x 1,000 = 3.50; ``fees`` (a percentage) and
    ``fixed_fees`` add to the schedule: 3.50 + 25,000 x 0.0001 + 0.10."""
    assert one_order_fee(25.0, 1_000, commission="ibkr_tiered") == pytest.approx(3.50)
    assert one_order_fee(25.0, 1_000, commission="ibkr_tiered", fees=0.0001, fixed_fees=0.1) == pytest.approx(6.10)


def test_the_cap_wins_over_the_minimum():
    """10 shares @ 2: 0.005 x 10 = 0.05 is below the 1.00 minimum, and the 1% cap is 0.20."""
    assert one_order_fee(2.0, 10, commission=vec.PerShare(0.005, min=1.0, max_pct=0.01)) == pytest.approx(0.20)
    assert one_order_fee(2.0, 10, commission=vec.PerShare(0.005, min=1.0)) == pytest.approx(1.00)


def test_tiers_count_the_accounts_shares_this_month_and_restart_each_month():
    """Tiers: 0.01 a share below 500 shares this month, then 0.002; the tier is read before the
    order (its own shares count for the next one). Round trips of 300 shares at 10:
    Jan 29 buy (0 shares so far: 3.00), Jan 30 sell (300: 3.00), Jan 31 buy (600: 0.60);
    February starts again: Feb 1 sell (0: 3.00), Feb 2 buy (300: 3.00), Feb 5 sell (600: 0.60)."""
    days = [dt.date(2024, 1, 29), dt.date(2024, 1, 30), dt.date(2024, 1, 31), dt.date(2024, 2, 1),
            dt.date(2024, 2, 2), dt.date(2024, 2, 5)]  # fmt: skip
    df = bars([10.0] * 6, entries=[True, False, True, False, True, False],
              exits=[False, True, False, True, False, True], days=days)  # fmt: skip
    tiers = vec.Tiered(((500, 0.01), (math.inf, 0.002)))
    for cash_sharing in (True, False):
        r = vec.backtest(df, entries="e", exits="x", size=300, size_type="shares", fill="same_close",
                         commission=tiers, cash_sharing=cash_sharing)  # fmt: skip
        assert r.fills["fees"].to_list() == pytest.approx([3.0, 3.0, 0.6, 3.0, 3.0, 0.6], rel=1e-12)


def test_all_in_orders_spend_the_cash_exactly_under_each_piece():
    """size=inf buys what the cash pays for, the commission included, whichever piece it lands
    on: the minimum (cash 1,000 @ 10, min 5: 99.5 shares), the per-share rate (0.5 a share:
    1,000 / 10.5), the cap (1% of the trade value: 1,000 / 10.1)."""
    for sched, q in [
        (vec.PerShare(0.0, min=5.0), 99.5),
        (vec.PerShare(0.5, min=5.0), 1_000 / 10.5),
        (vec.PerShare(0.5, min=5.0, max_pct=0.01), 1_000 / 10.1),
    ]:
        r = vec.backtest(bars([10.0] * 3, entries=[True, False, False]), entries="e", size=math.inf,
                         size_type="value", init_cash=1_000.0, commission=sched)  # fmt: skip
        f = r.fills.row(0, named=True)
        assert f["quantity"] == pytest.approx(q, rel=1e-12)
        assert f["quantity"] * f["price"] + f["fees"] == pytest.approx(1_000.0, rel=1e-12)


def test_target_weights_pay_the_schedule_and_fit_the_cash():
    """A monthly 99% book of one asset under IB's fixed schedule: every rebalance's fee is the
    schedule's, and the cash never goes below zero (sizing inverts the minimum and cap)."""
    df = bars([10.0, 10.5, 9.8, 10.2, 11.0, 10.7] * 10, start=dt.date(2024, 1, 1))
    r = vec.backtest(df, weights=pl.lit(0.99), rebalance="W", commission="ibkr_fixed", init_cash=2_000.0,
                     shortfall="scale")  # fmt: skip
    fills = r.fills.with_columns(
        want=pl.min_horizontal(
            pl.max_horizontal(pl.col("quantity") * 0.005, pl.lit(1.0)), pl.col("quantity") * pl.col("price") * 0.01
        )  # fmt: skip
    )
    assert fills.height > 3
    assert fills["fees"].to_list() == pytest.approx(fills["want"].to_list(), rel=1e-12)
    assert r.equity["cash"].min() >= -1e-9


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        (dict(commission="ibkr_fixed", commission_per_share=0.01), "either `commission`"),
        (dict(commission="ibkr_fix"), "Did you mean 'ibkr_fixed'"),
        (dict(commission={"X": vec.Tiered(((math.inf, 0.01),))}), "applies to every asset"),
        (dict(commission=vec.PerShare(0.005), size_rule="backtesting", fractional=False), "size_rule='backtesting'"),
        (dict(commission={"Y": 0.01}), "not in the data"),
        (dict(commission="cheap", fees=0.0), "names no schedule"),
    ],
)
def test_bad_commission_settings_get_clear_errors(kw, match):
    with pytest.raises((ConfigError, vec.DataError), match=match):
        vec.backtest(bars([10.0] * 3, entries=[True, False, False]), entries="e", **kw)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: vec.PerShare(-0.01), "PerShare.rate"),
        (lambda: vec.PerShare(0.005, max_pct=0.0), "max_pct"),
        (lambda: vec.Tiered(((100, 0.01), (50, 0.005), (math.inf, 0.001))), "rise in volume"),
        (lambda: vec.Tiered(((100, 0.01), (math.inf, 0.02))), "rates must fall"),
        (lambda: vec.Tiered(((100, 0.01), (1_000, 0.005))), "no upper bound"),
        (lambda: vec.Tiered(tuple((i + 1.0, 0.01) for i in range(8)) + ((math.inf, 0.01),)), "at most 8"),
    ],
)
def test_schedules_validate_themselves(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


class _Costs(NamedTuple):  # the fields of WeightParams that rebalance._cost_nb reads
    fees: np.ndarray  # (n, 1)
    fixed_fees: np.ndarray  # (n, 1)
    commission: np.ndarray
    per_share_bar: np.ndarray = np.empty((1, 0))  # none read per bar


@st.composite
def _short_of_cash(draw):
    """Increases of a target-weight phase under a commission minimum and cap, with the buying
    power below what they all cost."""
    n = draw(st.integers(1, 6))
    floats = lambda lo, hi: st.floats(lo, hi, allow_nan=False)  # noqa: E731
    px = np.array(draw(st.lists(floats(0.5, 500.0), min_size=n, max_size=n)))
    inc = np.array(draw(st.lists(floats(0.5, 5_000.0), min_size=n, max_size=n))) * draw(st.sampled_from([1.0, -1.0]))
    flip_q = np.array(draw(st.lists(st.sampled_from([0.0, 0.0, 3.0, 250.0]), min_size=n, max_size=n)))
    comm = np.zeros((n, 4 + 16))
    comm[:, 0] = draw(st.sampled_from([0.0, 0.005, 0.02]))
    comm[:, 1] = draw(st.sampled_from([0.35, 1.0, 25.0]))
    comm[:, 2] = draw(st.sampled_from([np.inf, 0.01, 0.0005]))
    fees = np.full(n, draw(st.sampled_from([0.0, 0.001])))
    fixed = np.full(n, draw(st.sampled_from([0.0, 1.5])))
    wp = _Costs(fees[:, None], fixed[:, None], comm)
    cost = (fees[0], fixed[0], comm[0, 0], comm[0, 1], comm[0, 2], 0.0, 0.0)  # (no market impact)
    flip_fee = np.array([fee_nb(q, p, cost) if q > 0 else 0.0 for q, p in zip(flip_q, px, strict=True)])
    unit = px * (1 + fees) + comm[:, 0]
    fixed_i = np.where(flip_q > 0, 0.0, fixed)
    total = _scaled_cost_nb(1.0, n, inc, px, unit, fixed_i, flip_q, flip_fee, np.arange(n), wp, 0, 0.0)
    avail = total * draw(st.floats(0.0, 0.999))
    return n, inc, px, unit, fixed_i, flip_q, flip_fee, wp, avail


@given(_short_of_cash())
@settings(max_examples=300)
def test_the_scale_under_a_schedule_is_the_largest_that_fits(case):
    """``rebalance._scale_nb`` (a search over the cost's breakpoints, then the solve on the piece)
    equals a 100-step bisection on the scale, and what it scales fits the buying power."""
    n, inc, px, unit, fixed, flip_q, flip_fee, wp, avail = case
    due = np.arange(n)
    s = _scale_nb(n, inc, px, unit, fixed, flip_q, flip_fee, due, wp, 0, 0.0, avail)
    lo, hi = 0.0, 1.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if _scaled_cost_nb(mid, n, inc, px, unit, fixed, flip_q, flip_fee, due, wp, 0, 0.0) <= avail:
            lo = mid
        else:
            hi = mid
    assert s == pytest.approx(lo, rel=1e-9, abs=1e-12)
    assert _scaled_cost_nb(s, n, inc, px, unit, fixed, flip_q, flip_fee, due, wp, 0, 0.0) <= avail * (1 + 1e-12) + 1e-9
