"""ml4t_vec.weights: target-weight expressions.

Hand-worked frames pin each helper's numbers; Hypothesis checks gross, signs, counts and a small
pure-Python reference on random ragged panels with ties, nulls and NaNs, that shuffling the rows
changes no row's weight (eager and lazy), and that inverse_vol never looks ahead. A score that
holds a window of its own (``.over("asset")``) must give what the same score gives as a column.
"""

from __future__ import annotations

import datetime as dt
import doctest
import math
import statistics

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ml4t_vec import weights as W
from ml4t_vec.errors import ConfigError

NAN = float("nan")
ASSETS = ["A", "B", "C", "D", "E"]


def frame(rows, cols=("timestamp", "asset", "s")) -> pl.DataFrame:
    schema = {"timestamp": pl.Int64, "asset": pl.String, "s": pl.Float64, "close": pl.Float64, "m": pl.Boolean}
    return pl.DataFrame(rows, schema={c: schema[c] for c in cols}, orient="row")


def weights_of(df: pl.DataFrame, expr: pl.Expr, lazy: bool = False) -> dict:
    """{(timestamp, asset): weight}, None for null."""
    out = df.lazy().with_columns(w=expr).collect() if lazy else df.with_columns(w=expr)
    return {(t, a): w for t, a, w in out.select("timestamp", "asset", "w").iter_rows()}


def column(df: pl.DataFrame, expr: pl.Expr) -> list:
    return df.with_columns(w=expr)["w"].to_list()


def by_timestamp(d: dict) -> dict:
    out: dict = {}
    for (t, a), w in d.items():
        out.setdefault(t, {})[a] = w
    return out


def valid(x) -> bool:
    return x is not None and not math.isnan(x)


# --- hand-worked frames -------------------------------------------------------------------------


def test_top_k_long_only():
    df = frame([(1, "A", 3.0), (1, "B", 1.0), (1, "C", 2.0), (1, "D", None),
                (2, "A", 5.0), (2, "B", NAN)])  # fmt: skip
    assert column(df, W.top_k("s", 2)) == [0.5, 0.0, 0.5, None, 1.0, None]  # t=2: one valid name of k=2


def test_top_k_long_short_and_small_cross_sections():
    rows = [(1, a, s) for a, s in zip("ABCDE", [5.0, 4.0, 3.0, 2.0, 1.0], strict=True)]
    rows += [(2, "A", 2.0), (2, "B", 1.0)]  # n=2 < k + short_k: one long, one short
    rows += [(3, "A", 3.0), (3, "B", 2.0), (3, "C", 1.0)]  # n=3, k=2, short_k=1: enough
    rows += [(4, "A", 7.0)]  # a single name is no long/short book
    df = frame(rows)
    w = column(df, W.top_k("s", 2, short_k=1))
    assert w == [0.25, 0.25, 0.0, 0.0, -0.5, 0.5, -0.5, 0.25, 0.25, -0.5, 0.0]
    # k=2, short_k=2, n=3: round_half_up(3 * 2 / 4) = 2 longs, 1 short
    assert column(frame(rows[7:10]), W.top_k("s", 2, short_k=2)) == [0.25, 0.25, -0.5]
    # k=1, short_k=3, n=3: round_half_up(0.75) = 1 long, 2 shorts
    assert column(frame(rows[7:10]), W.top_k("s", 1, short_k=3)) == [0.5, -0.25, -0.25]
    # k=3, short_k=1, n=2: round_half_up(1.5) = 2 is clamped to n - 1 = 1: both sides keep a name
    assert column(frame(rows[5:7]), W.top_k("s", 3, short_k=1)) == [0.5, -0.5]


def test_ties_go_to_the_asset_that_sorts_first():
    df = frame([(1, "C", 1.0), (1, "A", 1.0), (1, "B", 1.0), (1, "D", 0.0)])
    assert column(df, W.top_k("s", 1, short_k=1)) == [0.0, 0.5, 0.0, -0.5]
    assert column(df, W.top_k("s", 2)) == [0.0, 0.5, 0.5, 0.0]
    # integers numerically (10 after 9), Categoricals lexically, an Enum in its category order
    ints = pl.DataFrame({"timestamp": [1, 1], "asset": [10, 9], "s": [1.0, 1.0]})
    assert column(ints, W.top_k("s", 1)) == [0.0, 1.0]
    cat = df.with_columns(pl.col("asset").cast(pl.Categorical))
    assert column(cat, W.top_k("s", 1, short_k=1)) == [0.0, 0.5, 0.0, -0.5]
    enum = df.with_columns(pl.col("asset").cast(pl.Enum(["C", "B", "A", "D"])))
    assert column(enum, W.top_k("s", 1)) == [1.0, 0.0, 0.0, 0.0]


def test_quantile_buckets():
    # n=7, q=3: bucket = floor(3 * (rank - 1) / 7) for rank 1..7 from the lowest = 0,0,0,1,1,2,2
    df = frame([(1, a, float(i)) for i, a in enumerate("ABCDEFG")])
    assert column(df, W.quantile("s", q=3)) == [-0.5 / 3] * 3 + [0.0, 0.0, 0.25, 0.25]
    assert column(df, W.quantile("s", q=3, short=None)) == [0.0] * 5 + [0.5, 0.5]
    assert column(df, W.quantile("s", q=3, long="bottom", short=None)) == [1 / 3] * 3 + [0.0] * 4
    assert column(df, W.quantile("s", q=3, long="bottom", short="top")) == [0.5 / 3] * 3 + [0.0, 0.0, -0.25, -0.25]
    # n < q: the top bucket is empty, so there is no book (and a null score stays null)
    small = frame([(1, "A", 1.0), (1, "B", 2.0), (1, "C", None)])
    assert column(small, W.quantile("s", q=5)) == [0.0, 0.0, None]
    assert column(small, W.quantile("s", q=5, long="bottom", short=None)) == [1.0, 0.0, None]


def test_proportional():
    u = 0.40309273233720366  # (u + u + u) / 3 != u in float64
    df = frame([(1, "A", 3.0), (1, "B", 1.0), (1, "C", 2.0), (1, "D", None),
                (2, "A", 4.0), (2, "B", math.inf), (2, "C", -4.0),
                (3, "A", 1.0), (3, "B", 1.0),
                (4, "A", 2.0),
                (5, "A", u), (5, "B", u), (5, "C", u)])  # fmt: skip
    # t=5: equal scores whose computed mean is an ulp off: no spread, not a fully long "neutral" book
    assert column(df, W.proportional("s")) == [0.5, -0.5, 0.0, None, 0.5, None, -0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    raw = column(df, W.proportional("s", demean=False))
    assert raw[:10] == pytest.approx([0.5, 1 / 6, 1 / 3, None, 0.5, None, -0.5, 0.5, 0.5, 1.0])


def test_equal():
    df = frame([(1, "A", True), (1, "B", False), (1, "C", True), (1, "D", None),
                (2, "A", False), (2, "B", False)], cols=("timestamp", "asset", "m"))  # fmt: skip
    assert column(df, W.equal("m")) == [0.5, 0.0, 0.5, None, 0.0, 0.0]
    assert column(df, W.equal(~pl.col("m"))) == [0.0, 1.0, 0.0, None, 0.5, 0.5]


def test_inverse_vol_by_hand():
    a = [100.0, 101.0, 99.0, 100.0, 102.0]
    b = [10.0, 10.5, 10.0, 10.5, 10.0]
    rows = [(t, "A", a[t]) for t in range(5)] + [(t, "B", b[t]) for t in range(5)]
    df = frame(rows, cols=("timestamp", "asset", "close"))
    got = weights_of(df, W.inverse_vol(3))
    ra = [a[i] / a[i - 1] - 1 for i in range(1, 5)]
    rb = [b[i] / b[i - 1] - 1 for i in range(1, 5)]
    for t in range(3):
        assert got[(t, "A")] is None and got[(t, "B")] is None  # 3 returns need 4 prices
    for t in (3, 4):
        ia, ib = 1 / statistics.stdev(ra[t - 3 : t]), 1 / statistics.stdev(rb[t - 3 : t])
        assert got[(t, "A")] == pytest.approx(ia / (ia + ib), rel=1e-12)
        assert got[(t, "B")] == pytest.approx(ib / (ia + ib), rel=1e-12)
    # min_periods=2 starts a bar earlier; a mask keeps only A (B gets 0.0 where A has a weight)
    assert weights_of(df, W.inverse_vol(3, min_periods=2))[(2, "A")] is not None
    masked = weights_of(df, W.inverse_vol(3, mask=pl.col("asset") == "A"))
    assert [masked[(t, "A")] for t in range(5)] == [None, None, None, 1.0, 1.0]
    assert [masked[(t, "B")] for t in range(5)] == [0.0] * 5


def test_inverse_vol_zero_volatility_and_bad_prices_are_null():
    rows = [(t, "A", 100.0) for t in range(4)]  # unchanged price: zero volatility
    rows += [(t, "B", p) for t, p in enumerate([10.0, 11.0, NAN, 10.0])]
    rows += [(t, "C", p) for t, p in enumerate([10.0, 11.0, 10.0, 11.0])]
    df = frame(rows, cols=("timestamp", "asset", "close"))
    got = weights_of(df, W.inverse_vol(2))
    assert got[(3, "A")] is None  # zero volatility
    assert got[(3, "B")] is None  # the NaN at t=2 breaks the returns at t=2 and t=3
    assert got[(3, "C")] == 1.0


def test_inverse_vol_ignores_row_order_within_an_asset():
    prices = {"A": [100.0, 103.0, 99.0, 104.0, 101.0], "B": [50.0, 50.5, 51.5, 50.0, 50.25]}
    rows = [(t, a, p[t]) for a, p in prices.items() for t in range(5)]
    df = frame(rows, cols=("timestamp", "asset", "close"))
    asset_major = weights_of(df, W.inverse_vol(2))
    assert weights_of(df.sort("timestamp", "asset"), W.inverse_vol(2)) == asset_major
    assert weights_of(df.reverse(), W.inverse_vol(2)) == asset_major


def test_normalize_gross():
    df = frame([(1, "A", 2.0), (1, "B", 1.0), (1, "C", -1.0),
                (2, "A", 0.0), (2, "B", 0.0),
                (3, "A", 1.0), (3, "B", NAN), (3, "C", math.inf)])  # fmt: skip
    assert column(df, W.normalize("s", gross=2.0)) == [1.0, 0.5, -0.5, 0.0, 0.0, 2.0, None, None]


def test_normalize_net():
    df = frame([(1, "A", 2.0), (1, "B", 1.0), (1, "C", -1.0),
                (2, "A", 1.0), (2, "B", 3.0),  # all long: net=0 has no short side to scale
                (3, "A", 0.0), (3, "B", None)])  # fmt: skip
    assert column(df, W.normalize("s", net=0.0)) == pytest.approx([1 / 3, 1 / 6, -0.5, None, None, 0.0, None])
    assert column(df, W.normalize("s", gross=1.0, net=1.0)) == pytest.approx([2 / 3, 1 / 3, 0.0, 0.25, 0.75, 0.0, None])
    w = column(df, W.normalize("s", gross=2.0, net=0.5))  # long side 1.25, short side 0.75
    assert w[:3] == pytest.approx([2.5 / 3, 1.25 / 3, -0.75])
    assert w[3:5] == [None, None]  # the short side is needed and missing


def test_tiny_and_huge_values_divide_exactly():
    # Polars would divide by a tiny total through its reciprocal (inf); the helpers divide row by row
    df = frame([(1, "A", 5e-324), (1, "B", 0.0), (2, "A", 1e-310), (2, "B", 3e-310), (3, "A", 1e300), (3, "B", 3e300)])
    assert column(df, W.proportional("s", demean=False)) == [1.0, 0.0, 0.25, 0.75, 0.25, 0.75]
    assert column(df, W.normalize("s")) == [1.0, 0.0, 0.25, 0.75, 0.25, 0.75]
    assert column(df, W.proportional("s"))[2:] == [-0.5, 0.5, -0.5, 0.5]  # (t=1: the mean 2.5e-324 rounds to 0)


def test_clip():
    df = frame([(1, "A", 0.6), (1, "B", -0.3), (1, "C", 0.1), (1, "D", NAN), (1, "E", None)])
    assert column(df, W.clip("s", 0.25)) == [0.25, -0.25, 0.1, None, None]


def test_date_timestamps_and_composition():
    days = [dt.date(2024, 1, 2), dt.date(2024, 1, 3)]
    df = pl.DataFrame({"timestamp": [days[0]] * 3 + [days[1]] * 3, "asset": list("ABC") * 2,
                       "s": [3.0, 2.0, 1.0, 1.0, 2.0, 3.0]})  # fmt: skip
    w = column(df, W.normalize(W.clip(W.top_k("s", 2, short_k=1), 0.2), net=0.0))
    assert w == pytest.approx([0.25, 0.25, -0.5, -0.5, 0.25, 0.25])


def test_output_name_dtype_and_empty_frames():
    df = frame([(1, "A", 1.0, 10.0, True)], cols=("timestamp", "asset", "s", "close", "m"))
    exprs = {"top_k": W.top_k("s", 1), "quantile": W.quantile("s"), "proportional": W.proportional("s"),
             "equal": W.equal("m"), "inverse_vol": W.inverse_vol(2), "normalize": W.normalize("s", net=0.0),
             "clip": W.clip("s", 1.0)}  # fmt: skip
    for name, e in exprs.items():
        assert e.meta.output_name() == "weight", name
        for lazy in (False, True):
            empty = df.head(0).lazy().select(e).collect() if lazy else df.head(0).select(e)
            assert empty.schema == pl.Schema({"weight": pl.Float64}), (name, lazy)


# --- scores with windows of their own (why the helpers do not use .over(by)) -------------------


def test_a_score_with_its_own_window_gives_what_the_column_gives():
    prices = {"A": [10.0, 11.0, 12.0, 11.0], "B": [20.0, 19.0, 21.0, 22.0], "C": [5.0, 5.5, 5.0, 5.2]}
    rows = [(t, a, p[t]) for t in range(4) for a, p in prices.items()]  # timestamp-major
    df = frame(rows, cols=("timestamp", "asset", "close"))
    mom = pl.col("close").pct_change().over("asset")
    pre = df.with_columns(mom=mom)
    makers = [lambda s: W.top_k(s, 1, short_k=1), lambda s: W.quantile(s, q=2), W.proportional,
              lambda s: W.normalize(s, net=0.0), lambda s: W.equal(s > 0), lambda s: W.clip(s, 0.05),
              lambda s: W.inverse_vol(2, mask=s > -0.05)]  # fmt: skip
    for make in makers:
        assert weights_of(df, make(mom)) == weights_of(pre, make(pl.col("mom")))
    # and the numbers are the expected ones: at t=1, A +10 %, B -5 %, C +10 % (tie: A first)
    assert [w for (t, _), w in weights_of(df, W.top_k(mom, 1, short_k=1)).items() if t == 1] == [0.5, -0.5, 0.0]


# --- properties on random panels ---------------------------------------------------------------

SCORES = st.one_of(
    st.none(),
    st.just(NAN),
    st.sampled_from([-1.0, 0.0, 0.5, 1.0, 2.0]),  # ties
    st.floats(-3, 3, allow_nan=False, allow_infinity=False),
)


@st.composite
def panels(draw, values=SCORES):
    """(frame, shuffled copy): 0-4 timestamps, each with a random subset of the assets."""
    rows = []
    for t in range(draw(st.integers(0, 4))):
        for a in draw(st.lists(st.sampled_from(ASSETS), unique=True, max_size=len(ASSETS))):
            rows.append((t, a, draw(values)))
    df = frame(rows)
    order = draw(st.permutations(range(len(rows))))
    return df, df[list(order)] if rows else df


def ref_top_k(scores: dict, k: int, short_k: int) -> dict:
    """Pure-Python top_k for one timestamp ({asset: score} -> {asset: weight})."""
    ranked = sorted((a for a, s in scores.items() if valid(s)), key=lambda a: (-scores[a], a))
    n = len(ranked)
    if short_k == 0:
        nl, ns = min(k, n), 0
    elif n >= k + short_k:
        nl, ns = k, short_k
    elif n >= 2:
        nl = min(max(math.floor(n * k / (k + short_k) + 0.5), 1), n - 1)
        ns = n - nl
    else:
        nl = ns = 0
    out = {a: None for a, s in scores.items() if not valid(s)}
    for i, a in enumerate(ranked):
        long_w = 1.0 / nl if short_k == 0 else 0.5 / max(nl, 1)
        out[a] = long_w if i < nl else (-0.5 / ns if i >= n - ns else 0.0)
    return out


def ref_quantile(scores: dict, q: int, long: str, short: str | None) -> dict:
    best_first = sorted((a for a, s in scores.items() if valid(s)), key=lambda a: (-scores[a], a))
    ranked = best_first[::-1]  # lowest first (of tied scores, the asset that sorts first ranks higher)
    n = len(ranked)
    bucket = {a: q * r // n for r, a in enumerate(ranked)}  # r = rank - 1
    target = {"top": q - 1, "bottom": 0}
    longs = [a for a in ranked if bucket[a] == target[long]]
    shorts = [a for a in ranked if short is not None and bucket[a] == target[short]]
    book = bool(longs) and (short is None or bool(shorts))
    out = {a: None for a, s in scores.items() if not valid(s)}
    for a in ranked:
        w = 0.0
        if book and a in longs:
            w = (1.0 if short is None else 0.5) / len(longs)
        elif book and a in shorts:
            w = -0.5 / len(shorts)
        out[a] = w
    return out


@given(panels(), st.integers(1, 4), st.integers(0, 3))
def test_top_k_matches_reference_and_ignores_row_order(case, k, short_k):
    df, shuffled = case
    got = weights_of(df, W.top_k("s", k, short_k))
    assert weights_of(shuffled, W.top_k("s", k, short_k)) == got
    assert weights_of(shuffled, W.top_k("s", k, short_k), lazy=True) == got
    scores = by_timestamp({key: s for key, s in zip(got, df["s"], strict=True)})
    for t, ws in by_timestamp(got).items():
        assert ws == ref_top_k(scores[t], k, short_k)  # 1/n and 0.5/n: exact
        n = sum(valid(s) for s in scores[t].values())
        longs, shorts = [w for w in ws.values() if w and w > 0], [w for w in ws.values() if w and w < 0]
        if short_k == 0:
            assert len(longs) == min(k, n) and not shorts
        elif n >= k + short_k:
            assert (len(longs), len(shorts)) == (k, short_k)
        else:  # a small cross-section: both sides or neither, never a name on both
            assert len(longs) + len(shorts) == (n if n >= 2 else 0) and bool(longs) == bool(shorts)
        if longs:
            assert math.fsum(abs(w) for w in longs + shorts) == pytest.approx(1.0, abs=1e-12)
            assert math.fsum(longs + shorts) == pytest.approx(0.0 if short_k else 1.0, abs=1e-12)
            worst_long = min(scores[t][a] for a, w in ws.items() if w and w > 0)
            assert all(s <= worst_long for a, s in scores[t].items() if valid(s) and not ws[a])


@given(panels(), st.integers(2, 5), st.sampled_from([("top", "bottom"), ("bottom", "top"), ("top", None)]))
def test_quantile_matches_reference_and_ignores_row_order(case, q, sides):
    df, shuffled = case
    long, short = sides
    e = W.quantile("s", q=q, long=long, short=short)
    got = weights_of(df, e)
    assert weights_of(shuffled, e) == got
    scores = by_timestamp({key: s for key, s in zip(got, df["s"], strict=True)})
    for t, ws in by_timestamp(got).items():
        assert ws == ref_quantile(scores[t], q, long, short)
        held = [w for w in ws.values() if w]
        assert not held or math.fsum(abs(w) for w in held) == pytest.approx(1.0, abs=1e-12)


@given(panels(), st.booleans())
def test_proportional_gross_signs_and_row_order(case, demean):
    df, shuffled = case
    e = W.proportional("s", demean=demean)
    got = weights_of(df, e)
    assert weights_of(shuffled, e) == got  # bit for bit: sums run in sorted order
    assert weights_of(shuffled, e, lazy=True) == got
    scores = by_timestamp({key: s for key, s in zip(got, df["s"], strict=True)})
    for t, ws in by_timestamp(got).items():
        ss = {a: s for a, s in scores[t].items() if valid(s)}
        assert {a for a, w in ws.items() if w is None} == set(scores[t]) - set(ss)
        held = [w for w in ws.values() if w]
        if held:
            assert math.fsum(abs(w) for w in held) == pytest.approx(1.0, abs=1e-12)
        mean = statistics.fmean(ss.values()) if ss and demean else 0.0
        for a, s in ss.items():
            if abs(s - mean) > 1e-9:  # clear of rounding: the sign follows the (demeaned) score
                assert math.copysign(1.0, ws[a]) == math.copysign(1.0, s - mean) and ws[a] != 0.0
        if demean and held:
            assert math.fsum(held) == pytest.approx(0.0, abs=1e-12)


@given(panels(values=st.sampled_from([True, False, None])))
def test_equal_gross_and_row_order(case):
    df, shuffled = case
    df, shuffled = (x.rename({"s": "m"}).with_columns(pl.col("m").cast(pl.Boolean)) for x in (df, shuffled))
    got = weights_of(df, W.equal("m"))
    assert weights_of(shuffled, W.equal("m")) == got
    masks = by_timestamp({key: m for key, m in zip(got, df["m"], strict=True)})
    for t, ws in by_timestamp(got).items():
        n = sum(m is True for m in masks[t].values())
        for a, m in masks[t].items():
            assert ws[a] == (None if m is None else (1.0 / n if m else 0.0))


@given(panels(), st.floats(0.5, 3.0), st.one_of(st.none(), st.floats(-1.0, 1.0)))
def test_normalize_reaches_its_targets_and_ignores_row_order(case, gross, net_share):
    df, shuffled = case
    net = None if net_share is None else net_share * gross
    e = W.normalize("s", gross=gross, net=net)
    got = weights_of(df, e)
    assert weights_of(shuffled, e) == got
    scores = by_timestamp({key: s for key, s in zip(got, df["s"], strict=True)})
    for t, ws in by_timestamp(got).items():
        ss = [s for s in scores[t].values() if valid(s)]
        longs, shorts = any(s > 0 for s in ss), any(s < 0 for s in ss)
        needs_long, needs_short = net is not None and gross + net > 0, net is not None and gross - net > 0
        stuck = (longs or shorts) and ((needs_long and not longs) or (needs_short and not shorts))
        if stuck:
            assert all(w is None for w in ws.values())
            continue
        held = [w for w in ws.values() if w is not None]
        if longs or shorts:
            assert math.fsum(abs(w) for w in held) == pytest.approx(gross, abs=1e-12)
            if net is not None:
                assert math.fsum(held) == pytest.approx(net, abs=1e-12)
        for a, s in scores[t].items():  # signs kept (a side can be scaled to 0), nulls stay null
            assert (ws[a] is None) == (not valid(s))
            if valid(s):
                assert ws[a] * s >= 0


@st.composite
def price_panels(draw):
    n_bars = draw(st.integers(3, 8))
    rows = []
    for a in draw(st.lists(st.sampled_from(ASSETS[:3]), unique=True, min_size=1, max_size=3)):
        p = draw(st.floats(10, 100))
        for t in range(n_bars):
            if draw(st.integers(0, 9)) == 0:  # a missing bar
                continue
            p *= 1 + draw(st.sampled_from([0.0, 0.01, -0.02, 0.03]) | st.floats(-0.05, 0.05))
            rows.append((t, a, p))
    df = frame(rows, cols=("timestamp", "asset", "close"))
    return df, df[list(draw(st.permutations(range(len(rows)))))]


@given(price_panels(), st.integers(2, 3), st.data())
def test_inverse_vol_reference_row_order_and_no_look_ahead(case, window, data):
    df, shuffled = case
    e = W.inverse_vol(window)
    got = weights_of(df, e)
    assert weights_of(shuffled, e) == got
    # reference: 1 / stdev of each asset's last `window` returns, normalised per timestamp
    inv = {}
    for a in df["asset"].unique():
        rows = df.filter(pl.col("asset") == a).sort("timestamp").rows()
        for i in range(window, len(rows)):
            rets = [rows[j][2] / rows[j - 1][2] - 1 for j in range(i - window + 1, i + 1)]
            vol = statistics.stdev(rets)
            inv[(rows[i][0], a)] = 1 / vol if vol > 0 else None
    for t, ws in by_timestamp(got).items():
        total = math.fsum(v for (u, _), v in inv.items() if u == t and v is not None)
        for a, w in ws.items():
            v = inv.get((t, a))
            if v is None:
                assert w is None
            else:
                assert w == pytest.approx(v / total, rel=1e-9)
    # changing every row after `cut` never changes a weight at or before it
    cut = data.draw(st.integers(0, 7))
    bump = data.draw(st.floats(0.5, 2.0))
    later = df.with_columns(pl.when(pl.col("timestamp") > cut).then(pl.col("close") * bump).otherwise(pl.col("close")))
    after = weights_of(later, e)
    assert {k: v for k, v in after.items() if k[0] <= cut} == {k: v for k, v in got.items() if k[0] <= cut}


# --- argument errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "param"),
    [
        (lambda: W.top_k("s", 0), "k"),
        (lambda: W.top_k("s", 2.0), "k"),
        (lambda: W.top_k("s", True), "k"),
        (lambda: W.top_k("s", 2, -1), "short_k"),
        (lambda: W.top_k(3.0, 2), "score"),
        (lambda: W.top_k("s", 2, by=pl.col("timestamp")), "by"),
        (lambda: W.top_k("s", 2, asset=""), "asset"),
        (lambda: W.quantile("s", q=1), "q"),
        (lambda: W.quantile("s", long="middle"), "long"),
        (lambda: W.quantile("s", short="bottm"), "short"),
        (lambda: W.quantile("s", long="top", short="top"), "short"),
        (lambda: W.proportional("s", demean=1), "demean"),
        (lambda: W.proportional(None), "score"),
        (lambda: W.equal(1), "mask"),
        (lambda: W.inverse_vol(1), "window"),
        (lambda: W.inverse_vol(20, min_periods=1), "min_periods"),
        (lambda: W.inverse_vol(20, min_periods=21), "min_periods"),
        (lambda: W.inverse_vol(20, price=1.0), "price"),
        (lambda: W.inverse_vol(20, mask=True), "mask"),
        (lambda: W.normalize("s", gross=0.0), "gross"),
        (lambda: W.normalize("s", gross=math.inf), "gross"),
        (lambda: W.normalize("s", net=1.5), "net"),
        (lambda: W.normalize("s", gross=2.0, net=-2.5), "net"),
        (lambda: W.normalize("s", net=NAN), "net"),
        (lambda: W.clip("s", 0.0), "max_abs"),
        (lambda: W.clip("s", -0.1), "max_abs"),
    ],
)
def test_argument_errors_name_the_parameter(call, param):
    with pytest.raises(ConfigError, match=rf"^`{param}` must be .*; got .*\."):
        call()


def test_did_you_mean():
    with pytest.raises(ConfigError, match="Did you mean 'bottom'"):
        W.quantile("s", short="bottm")


def test_docstring_examples_run():
    result = doctest.testmod(W, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 8 and result.failed == 0
