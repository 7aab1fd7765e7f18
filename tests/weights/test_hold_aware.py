"""``top_k(..., buffer=b)``: hold-aware selection, made in the kernel at each rebalance bar.

The kernel's choice (``hold_aware_nb``) equals the reference's (``reference.portfolio.hold_aware``)
on many random cross-sections and holdings; with buffer 0 both equal the plain ``top_k``
expression whatever is held. A hand-worked run pins when a held name is kept and when it is
replaced, and a longer one that the buffer cuts turnover. (The full backtest against the
reference engine is in tests/property/test_weights_parity.py.)
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from reference.portfolio import hold_aware

import ml4t_vec as vec
from ml4t_vec._kernels.codes import SIG_VALID
from ml4t_vec._kernels.rebalance import hold_aware_nb
from ml4t_vec.errors import ConfigError

pytestmark = pytest.mark.filterwarnings("ignore::ml4t_vec.LookAheadWarning")

ASSETS = [f"S{i:02d}" for i in range(12)]


@st.composite
def cross_sections(draw):
    """{asset: score or None (no valid score) or absent (no row)}, {asset: signed quantity held}."""
    n = draw(st.integers(0, len(ASSETS)))
    values = st.one_of(st.none(), st.sampled_from([0.0, 1.0, -1.0]), st.floats(-5, 5, allow_nan=False))
    scores = {a: draw(values) for a in ASSETS[:n] if draw(st.integers(0, 5)) > 0}
    held = {a: draw(st.sampled_from([0.0, 0.0, 3.0, -2.0])) for a in ASSETS[:n]}
    return scores, held


def kernel_choice(scores: dict, held: dict, k: int, short_k: int, buffer: int) -> dict:
    """``hold_aware_nb`` on one bar; ranks as ``HoldAwareTopK.rank`` gives them (highest first,
    ties to the asset name that sorts first), the columns in a shuffled order."""
    valid = sorted((a for a, s in scores.items() if s is not None), key=lambda a: (-scores[a], a))
    cols = list(held) + [a for a in scores if a not in held]
    cols = [cols[i] for i in np.random.default_rng(len(cols)).permutation(len(cols))]
    rank = np.full((len(cols), 1), np.nan)
    sig = np.zeros((len(cols), 1), dtype=np.uint8)
    book = np.zeros(len(cols), dtype=[("qty", np.float64)])
    for c, a in enumerate(cols):
        if a in scores:
            sig[c, 0] = SIG_VALID
        if a in valid:
            rank[c, 0] = valid.index(a)
        book[c]["qty"] = held.get(a, 0.0)
    out = np.empty(len(cols))
    hold_aware_nb(0, 0, len(cols), rank, sig, k, short_k, buffer, book, out)
    return {a: out[c] for c, a in enumerate(cols) if a in valid}


@given(cross_sections(), st.integers(1, 5), st.integers(0, 4), st.integers(0, 4))
def test_kernel_choice_equals_the_reference(case, k, short_k, buffer):
    scores, held = case
    valid = {a: s for a, s in scores.items() if s is not None}
    got = kernel_choice(scores, held, k, short_k, buffer)
    want = hold_aware(valid, held, k, short_k, buffer)
    assert got == want  # the same 1/n values: exact
    longs = [a for a, w in got.items() if w > 0]
    shorts = [a for a, w in got.items() if w < 0]
    assert not set(longs) & set(shorts)
    if got and (longs or shorts):
        assert math.fsum(abs(w) for w in got.values()) == pytest.approx(1.0, abs=1e-12)
    if buffer == 0:  # no grace: exactly the plain top_k, whatever is held
        frame = pl.DataFrame({"timestamp": [0] * len(valid), "asset": list(valid), "s": list(valid.values())},
                             schema={"timestamp": pl.Int64, "asset": pl.String, "s": pl.Float64})  # fmt: skip
        plain = dict(zip(frame["asset"], frame.select(vec.weights.top_k("s", k, short_k))["weight"], strict=True))
        assert got == plain


def _run(scores: list[dict], k: int, buffer: int, **kw) -> vec.BacktestResult:
    rows = []
    for t, bar in enumerate(scores):
        for a, s in bar.items():
            rows.append(dict(timestamp=t, asset=a, open=100.0, high=101.0, low=99.0, close=100.0, score=s))
    df = pl.DataFrame(rows).with_columns(pl.from_epoch("timestamp", time_unit="d"))
    return vec.backtest(df, weights=vec.weights.top_k("score", k, buffer=buffer), fees=0.0, **kw)


def test_a_held_name_stays_while_within_the_buffer_then_is_replaced():
    # k = 1, buffer = 1: A is bought; B overtakes it on bar 1 (A second: kept), C and B on bar 2
    # (A third: replaced by the best, C)
    bars = [dict(A=3.0, B=2.0, C=1.0), dict(A=2.0, B=3.0, C=1.0), dict(A=1.0, B=2.0, C=3.0), dict(A=1.0, B=2.0, C=3.0)]
    fills = _run(bars, k=1, buffer=1).fills.sort("timestamp", "symbol")
    got = [(f["timestamp"].day - 1, f["symbol"], f["side"], f["effect"]) for f in fills.iter_rows(named=True)]
    assert got == [(1, "A", "buy", "entry"), (3, "A", "sell", "exit"), (3, "C", "buy", "entry")]
    plain = _run(bars, k=1, buffer=0).fills.sort("timestamp", "symbol")
    got = [(f["timestamp"].day - 1, f["symbol"], f["effect"]) for f in plain.iter_rows(named=True)]
    assert got == [(1, "A", "entry"), (2, "A", "exit"), (2, "B", "entry"), (3, "B", "exit"), (3, "C", "entry")]


def test_the_buffer_cuts_turnover_on_jittery_scores():
    prices = vec.synthetic_prices(n_assets=30, n_bars=250, seed=3)
    score = pl.col("close").pct_change(20).over("asset") + pl.col("close").pct_change().over("asset")
    turnover = []
    for b in (0, 3, 10):
        res = vec.backtest(prices, weights=vec.weights.top_k(score, 5, 5, buffer=b), rebalance=5, fees=0.0005)
        turnover.append(res.stats()["turnover"][0])
    assert turnover[0] > turnover[1] > turnover[2] > 0


def test_it_is_not_an_expression_and_its_arguments_are_checked():
    sel = vec.weights.top_k("score", 2, 1, buffer=2)
    assert isinstance(sel, vec.weights.HoldAwareTopK)
    assert isinstance(vec.weights.top_k("score", 2, 1, buffer=0), pl.Expr)
    for combine in (lambda: 0.5 * sel, lambda: sel + pl.col("x"), lambda: -sel):
        with pytest.raises(ConfigError, match="hold-aware top_k"):
            combine()
    for bad in (-1, 1.5, True):
        with pytest.raises(ConfigError, match=r"^`buffer` must be an int >= 0"):
            vec.weights.top_k("score", 2, buffer=bad)
