"""``preset="backtesting"`` reproduces backtesting.py 0.6.6 trade for trade, by running it.

backtesting.py is AGPL-3.0: an optional test dependency, never vendored; without it these tests
are skipped (with ``ML4T_VEC_REQUIRE_PEERS`` set they fail instead).

backtesting.py handles one asset. ``backtesting_replay.Replay`` replays the precomputed signal
columns in ``next()`` the way a user writes it, and ``compare`` checks every trade (closed and
still open) and the equity of every bar (the module doc there maps each setting).

backtesting.py calls ``next()`` from the second bar on, so signals on the first bar are never
seen; the drawn frames have none there.
"""

from __future__ import annotations

import datetime as dt
import os

import numpy as np
import polars as pl
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import ml4t_vec as vec

if os.environ.get("ML4T_VEC_REQUIRE_PEERS"):  # CI: a missing peer is a failure, not a skip
    import backtesting  # noqa: F401
else:
    pytest.importorskip("backtesting", reason="backtesting.py not installed: pip install -e '.[peers]' to run")
from backtesting_replay import FULL, compare  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    "ignore::UserWarning", "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::ml4t_vec.LookAheadWarning"
)

T0 = dt.datetime(2021, 1, 4)


# --- drawn scenarios ---------------------------------------------------------------------------
def frame(o, h, lo, c, sig) -> pl.DataFrame:
    n = len(c)
    return pl.DataFrame(
        {
            "timestamp": [T0 + dt.timedelta(days=i) for i in range(n)],
            "asset": ["X"] * n,
            "open": np.asarray(o, float),
            "high": np.asarray(h, float),
            "low": np.asarray(lo, float),
            "close": np.asarray(c, float),
            **{f"s{k}": np.asarray(sig[k], bool) for k in range(4)},
        },
        schema_overrides={"timestamp": pl.Datetime("us")},
    )


@st.composite
def scenarios(draw, shorts: bool):
    """(one-asset frame, settings). Random-walk OHLC with overnight gaps (some large enough to
    jump over stop and target levels), sparse signals, none on the first bar."""
    n = draw(st.integers(2, 40))
    seed = draw(st.integers(0, 2**32 - 1))
    vol = draw(st.sampled_from([0.01, 0.03]))
    gap = draw(st.sampled_from([0.0, 0.01, 0.04]))
    p_sig = draw(st.sampled_from([0.1, 0.25, 0.5]))
    rng = np.random.default_rng(seed)
    close = rng.uniform(20, 200) * np.exp(np.cumsum(rng.normal(0, vol, n)))
    prev = np.concatenate([[close[0]], close[:-1]])
    open_ = prev * np.exp(rng.normal(0, gap, n) + rng.normal(0, 0.002, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, vol, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, vol, n)))
    sig = rng.random((4, n)) < p_sig
    sig[:, 0] = False  # backtesting.py's next() starts on the second bar
    if not shorts:
        sig[2:] = False
    size = draw(st.sampled_from([0.1, 0.5, 0.95, FULL, FULL, 1.0, 7.0, 60.0]))
    settings = dict(
        size=size,
        commission=draw(st.sampled_from([0.0, 0.001, 0.01])),
        fixed=draw(st.sampled_from([0.0, 0.0, 1.5])),
        spread=draw(st.sampled_from([0.0, 0.0, 0.0005, 0.003])),
        sl=draw(st.sampled_from([None, 0.02, 0.05])),
        tp=draw(st.sampled_from([None, 0.03, 0.1])),  # > spread: backtesting.py rejects a target inside it
        cash=draw(st.sampled_from([None, None, 2_500.0, 100_000.0])),  # None: both defaults (10,000)
        exclusive=draw(st.booleans()) if shorts else False,
        shorts=shorts,
    )
    return frame(open_, high, low, close, sig), settings


@given(scenarios(shorts=False))
def test_long_only_matches_backtesting(case):
    compare(*case, require=assume)


@given(scenarios(shorts=True))
def test_long_short_matches_backtesting(case):
    compare(*case, require=assume)


@settings(max_examples=25)
@given(scenarios(shorts=True))
def test_trade_on_close_is_same_close(case):
    """``Backtest(trade_on_close=True)`` is ``fill="same_close"``, trade for trade, with two
    differences: backtesting.py never fills an order placed on the last bar (it would fill on a
    bar that does not come), and its equity curve books a close fill's commission and spread one
    bar late (the order is processed on the next bar). So: no last-bar signals, trades only."""
    df, s = case
    df = df.with_columns(pl.when(pl.int_range(pl.len()) < df.height - 1).then(pl.col(c)).otherwise(False)
                         for c in ("s0", "s1", "s2", "s3"))  # fmt: skip
    compare(df, s | {"trade_on_close": True}, require=assume, equity=False)


# --- one rule per case: the documented conventions, each against backtesting.py ----------------
def _sig(n, e=(), x=(), se=(), sx=()):
    sig = np.zeros((4, n), bool)
    for k, bars in enumerate((e, x, se, sx)):
        sig[k, list(bars)] = True
    return sig


FLAT = [100.0, 101.0, 99.0, 100.0]  # open, high, low, close


def _bars(rows):
    a = np.array(rows, float)
    return a[:, 0], a[:, 1], a[:, 2], a[:, 3]


def _s(**kw):
    base = dict(size=0.5, commission=0.0, fixed=0.0, spread=0.0, sl=None, tp=None, cash=None, exclusive=False,
                shorts=True)  # fmt: skip
    return base | kw


RULES = {
    # percent sizing: floor(f * cash / (open * (1 + spread) + commission(f, open) / f)), entry at the
    # spread-adjusted open, exit at the plain open; commission on both
    "sizing_spread_commission": (
        [FLAT, FLAT, [102, 104, 101, 103], [103, 105, 102, 104], [104, 106, 103, 105], FLAT],
        _sig(6, e=[1], x=[3]),
        _s(commission=0.01, spread=0.002),
    ),
    # a fixed commission enters the per-unit cost as fixed / f: 44 shares here, not 48
    "fixed_commission_sizing": (
        [FLAT, FLAT, [102, 104, 101, 103], [103, 105, 102, 104], [104, 106, 103, 105], FLAT],
        _sig(6, e=[1], x=[3]),
        _s(commission=0.01, fixed=5.0),
    ),
    # the default size is 1 - eps of the available cash
    "default_size": (
        [FLAT, FLAT, [102, 104, 101, 103], [103, 105, 102, 104], [104, 106, 103, 105], FLAT],
        _sig(6, e=[1], x=[3]),
        _s(size=FULL, commission=0.001, spread=0.001),
    ),
    # a whole-unit order that does not fit is cancelled, not reduced
    "shares_do_not_fit": ([FLAT] * 5, _sig(5, e=[1]), _s(size=150.0)),
    "shares_fit": ([FLAT] * 5, _sig(5, e=[1], x=[2]), _s(size=60.0, commission=0.01, fixed=1.0)),
    # the entry bar is stop-checked; it opened below the stop: out at that open
    "stop_on_entry_bar_gap": ([FLAT, FLAT, [90, 92, 89, 91], [91, 92, 90, 91]], _sig(4, e=[1]), _s(sl=0.05)),
    # stop and target in one bar that opened above the target: the stop wins, at the stop
    "stop_before_target": ([FLAT, FLAT, FLAT, [112, 113, 90, 100], FLAT], _sig(5, e=[1]), _s(sl=0.05, tp=0.1)),
    # the entry bar opened above the target (the stop not reached): out at that open
    "target_gap_on_entry_bar": (
        [FLAT, FLAT, [112, 113, 108, 110], [110, 111, 109, 110]],
        _sig(4, e=[1]),
        _s(sl=0.05, tp=0.1),
    ),
    # a later bar gaps through the stop: out at its open
    "stop_gap": ([FLAT, FLAT, FLAT, [90, 91, 88, 89], FLAT], _sig(5, e=[1]), _s(sl=0.05, commission=0.001)),
    # a stop exit, and an entry signal on that same bar: acted on (fills at the next open)
    "reentry_on_stop_bar": (
        [FLAT, FLAT, FLAT, [99, 100, 90, 95], [96, 97, 95, 96], [96, 97, 95, 96]],
        _sig(6, e=[1, 3]),
        _s(sl=0.05),
    ),
    # a reversal signal on a stop bar opens the short from flat
    "reversal_on_stop_bar": (
        [FLAT, FLAT, FLAT, [99, 100, 90, 95], [96, 97, 95, 96], [96, 97, 95, 96]],
        _sig(6, e=[1], se=[3]),
        _s(sl=0.05),
    ),
    # an exit signal fills at the next open, before that bar's stop
    "exit_before_stop": ([FLAT, FLAT, FLAT, [94, 95, 90, 92], [92, 93, 91, 92]], _sig(5, e=[1], x=[2]), _s(sl=0.05)),
    # short: stop above and target below in one bar: the stop
    "short_stop_before_target": ([FLAT, FLAT, FLAT, [100, 106, 89, 100], FLAT], _sig(5, se=[1]), _s(sl=0.05, tp=0.1)),
    # short gapping through the stop, with spread and commission
    "short_stop_gap_costs": (
        [FLAT, FLAT, FLAT, [108, 109, 107, 108], FLAT],
        _sig(5, se=[1]),
        _s(sl=0.05, tp=0.1, commission=0.01, spread=0.001),
    ),
    # reversal: close at the open, then a short sized on the cash after the close
    "reversal": (
        [FLAT, FLAT, [102, 104, 101, 103], [103, 105, 102, 104], [104, 106, 103, 105], FLAT],
        _sig(6, e=[1], se=[3]),
        _s(commission=0.01),
    ),
    "reversal_exclusive_orders": (
        [FLAT, FLAT, [102, 104, 101, 103], [103, 105, 102, 104], [104, 106, 103, 105], FLAT],
        _sig(6, e=[1], se=[3]),
        _s(commission=0.01, exclusive=True),
    ),
    # a signal on the last bar has no bar to fill on; the position stays open
    "last_bar_signal_and_open_trade": (
        [FLAT, FLAT, [102, 104, 101, 103], [103, 105, 102, 104]],
        _sig(4, e=[1], x=[3]),
        _s(commission=0.01),
    ),
}


@pytest.mark.parametrize("name", list(RULES))
def test_rule_matches_backtesting(name):
    rows, sig, s = RULES[name]
    compare(frame(*_bars(rows), sig), s)


def test_preset_defaults_and_overrides():
    df = frame(*_bars([FLAT] * 5), _sig(5, e=[1]))
    res = vec.backtest(df, entries="s0", preset="backtesting", fees=0.001)
    cfg = res.config
    assert cfg.preset == "backtesting" and cfg.portfolio.init_cash == 10_000.0
    assert cfg.execution.fill == "next_open" and not cfg.sizing.fractional and cfg.sizing.size == FULL
    assert cfg.risk.intrabar == "stop_first" and cfg.risk.stop_on_entry_bar and cfg.risk.reenter_on_stop_bar
    assert vec.backtest(df, entries="s0", preset="backtesting", init_cash=500.0).config.portfolio.init_cash == 500.0
