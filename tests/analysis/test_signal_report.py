"""``signal_report``: a hand-worked panel, a plain per-date scipy loop on random ragged panels,
row-order independence, fill timing (no look-ahead), alphalens as an oracle, and the errors."""

from __future__ import annotations

import datetime as dt
import doctest
import importlib
import math
import os
import warnings
from collections import defaultdict

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import ml4t_vec.prediction
from ml4t_vec import ConfigError, DataError
from ml4t_vec.prediction import SignalReport, signal_report

D0 = dt.date(2024, 1, 1)
FRAMES = ("ic", "summary", "quantile_returns", "spread", "turnover", "autocorrelation")


def need(module: str):
    """An optional oracle (scipy, pandas, alphalens-reloaded): skipped without it, unless CI's extras
    step requires the peers (``ML4T_VEC_REQUIRE_PEERS``)."""
    if os.environ.get("ML4T_VEC_REQUIRE_PEERS"):
        return importlib.import_module(module)
    return pytest.importorskip(module, reason=f"{module} not installed: pip install -e '.[peers]' to run")


def day(t: int) -> dt.date:
    return D0 + dt.timedelta(days=t)


def frame(rows) -> pl.DataFrame:
    """(t, symbol, open, score) rows -> a long frame; close = open * 1.01 (never read with price="open")."""
    return pl.DataFrame(
        [dict(timestamp=day(t), symbol=s, open=float(o), close=float(o) * 1.01, score=sc) for t, s, o, sc in rows],
        schema={"timestamp": pl.Date, "symbol": pl.String, "open": pl.Float64, "close": pl.Float64,
                "score": pl.Float64},
    )  # fmt: skip


def same(a, b, tol: float = 1e-10) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


def assert_rows(df: pl.DataFrame, expected: list[tuple], tol: float = 1e-10) -> None:
    got = df.rows()
    assert len(got) == len(expected), (got, expected)
    for g, e in zip(got, expected, strict=True):
        ok = len(g) == len(e) and all(
            same(x, y, tol) if isinstance(y, float) else x == y for x, y in zip(g, e, strict=True)
        )
        assert ok, (g, e)


# ---------------------------------------------------------------------------------------------
# hand-worked
# ---------------------------------------------------------------------------------------------
# Opens of bars 0..4 for A, B, C, D; scores on bars 0 and 1 only (the scored dates).
# h=1 at bar 0: open[2] / open[1] - 1 = (.1, 0, -.1, .5); at bar 1: open[3] / open[2] - 1 = (.1, -.05, .2, -.2).
# h=3 at bar 0: open[4] / open[1] - 1 = (.3, -.1, 0, 0); at bar 1 bar 5 does not exist: null.
OPENS = {"A": (50, 100, 110, 121, 130), "B": (50, 100, 100, 95, 90), "C": (50, 100, 90, 108, 100),
         "D": (50, 100, 150, 120, 100)}  # fmt: skip
SCORES = {"A": (1, 1), "B": (2, 3), "C": (3, 2), "D": (4, 4)}


def hand_panel() -> pl.DataFrame:
    rows = [(t, s, OPENS[s][t], float(SCORES[s][t]) if t < 2 else None) for s in OPENS for t in range(5)]
    return frame(rows)


def test_hand_worked_panel():
    """Scores (1, 2, 3, 4) vs fwd (.1, 0, -.1, .5) on day 0: deviations (-1.5, -.5, .5, 1.5) and
    (-.025, -.125, -.225, .375): IC = .55 / sqrt(5 * .2075); ranks (1, 2, 3, 4) vs (3, 2, 1, 4): rank
    IC = 1 / 5. Day 1: scores (1, 3, 2, 4) vs (.1, -.05, .2, -.2): IC = -.575 / sqrt(5 * .091875);
    ranks vs (3, 2, 4, 1): rank IC = -4 / 5. h=3 day 0: fwd (.3, -.1, 0, 0), tied ranks (4, 1, 2.5,
    2.5): IC = -.4 / sqrt(5 * .09), rank IC = -1.5 / sqrt(5 * 4.5).
    Two quantiles: day 0 {A, B} / {C, D}, day 1 {A, C} / {B, D}; turnover 1/2 each; rank
    autocorrelation of (1, 2, 3, 4) and (1, 3, 2, 4) = 4 / 5."""
    rep = signal_report(hand_panel(), "score", horizons=(1, 3), quantiles=2)
    ic0, ic1 = 0.55 / math.sqrt(5 * 0.2075), -0.575 / math.sqrt(5 * 0.091875)
    ic3 = (-0.4 / math.sqrt(0.45), -1.5 / math.sqrt(22.5))
    assert_rows(rep.ic, [(day(0), 1, 4, ic0, 0.2), (day(1), 1, 4, ic1, -0.8), (day(0), 3, 4, *ic3),
                         (day(1), 3, 0, None, None)])  # fmt: skip
    # quantile means: h=1 day 0 (.05, .2), day 1 (.15, -.125); h=3 day 0 (.1, 0); date means .125, .0125, .05
    assert_rows(rep.quantile_returns, [(1, 1, 0.1, (0.05 - 0.125 + 0.15 - 0.0125) / 2, 2),
                                       (1, 2, 0.0375, (0.2 - 0.125 - 0.125 - 0.0125) / 2, 2),
                                       (3, 1, 0.1, 0.05, 1), (3, 2, 0.0, -0.05, 1)])  # fmt: skip
    assert_rows(rep.spread, [(day(0), 1, 0.15), (day(1), 1, -0.275), (day(0), 3, -0.1), (day(1), 3, None)])
    assert_rows(rep.turnover, [(day(0), 1, 2, None), (day(0), 2, 2, None), (day(1), 1, 2, 0.5), (day(1), 2, 2, 0.5)])
    assert_rows(rep.autocorrelation, [(day(0), 0, None), (day(1), 4, 0.8)])
    s1 = rep.summary.row(0, named=True)
    mean, std = (ic0 + ic1) / 2, abs(ic0 - ic1) / math.sqrt(2)
    assert s1["n_dates"] == 2 and same(s1["mean_ic"], mean) and same(s1["std_ic"], std)
    assert same(s1["ic_ir"], mean / std) and same(s1["ic_t_stat"], mean / std * math.sqrt(2))
    assert s1["ic_hit_rate"] == 0.5 and same(s1["mean_rank_ic"], -0.3) and s1["rank_ic_hit_rate"] == 0.5
    assert same(s1["mean_spread"], (0.15 - 0.275) / 2) and same(s1["std_spread"], 0.425 / math.sqrt(2))
    s3 = rep.summary.row(1, named=True)  # one date: no std, IR or t-stat
    assert s3["n_dates"] == 1 and same(s3["mean_ic"], -0.4 / math.sqrt(0.45)) and s3["std_ic"] is None
    assert s3["ic_ir"] is None and s3["ic_t_stat"] is None


def test_degenerate_dates():
    """A constant score has no IC; one scored asset has no quantile and no IC;
    ties share the quantile of their lowest rank (as pd.qcut on the values)."""
    rows = [(t, s, 100 + t * (i + 1), sc) for i, s in enumerate("ABCD") for t, sc in
            [(0, 1.0), (1, [5.0, 1.0, 1.0, 2.0][i]), (2, 3.0 if s == "A" else None), (3, None), (4, None)]]  # fmt: skip
    rep = signal_report(frame(rows), "score", horizons=1, quantiles=2)
    assert_rows(rep.ic.select("n", "ic"), [(4, None), (4, rep.ic["ic"][1]), (1, None)])
    assert rep.ic["ic"][1] is not None
    # day 0: all tied -> quantile 1 (min rank 1); day 1: ranks min (4, 1, 1, 3) -> (2, 1, 1, 2); day 2: none
    assert rep.turnover.select("timestamp", "quantile", "n").rows() == [(day(0), 1, 4), (day(1), 1, 2), (day(1), 2, 2)]
    assert rep.turnover["turnover"].to_list() == [None, 0.0, 1.0]  # {B, C} were in 1; quantile 2 was empty


# ---------------------------------------------------------------------------------------------
# a plain per-date loop (scipy) on random ragged panels
# ---------------------------------------------------------------------------------------------
def random_rows(seed: int, n_assets: int, n_bars: int, p_gap: float, ties: bool, delist: bool = True):
    """Random walks; assets may list late, delist early and skip bars; scores null / NaN at times."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_assets):
        start = int(rng.integers(0, max(n_bars // 2, 1))) if rng.random() < 0.4 else 0
        end = n_bars - int(rng.integers(0, max(n_bars // 3, 1))) if delist and rng.random() < 0.3 else n_bars
        px = 100 * np.exp(np.cumsum(rng.normal(0, 0.03, n_bars)))
        for t in range(start, max(end, start + 1)):
            if t > start and rng.random() < p_gap:
                continue
            u = rng.random()
            sc = None if u < 0.05 else float("nan") if u < 0.1 else float(rng.normal())
            if ties and sc == sc and sc is not None:
                sc = float(round(sc))
            rows.append((t, f"S{i:02d}", float(px[t]), sc))
    return rows


def reference_fwd(rows, horizons) -> dict:
    """(t, symbol, h) -> open[j + 1 + h] / open[j + 1] - 1 over the symbol's own bars j (None past the end)."""
    bars = defaultdict(list)
    for t, s, o, _ in rows:
        bars[s].append((t, o))
    out = {}
    for s, rs in bars.items():
        rs.sort()
        for j, (t, _) in enumerate(rs):
            for h in horizons:
                out[t, s, h] = rs[j + 1 + h][1] / rs[j + 1][1] - 1 if j + 1 + h < len(rs) else None
    return out


def reference(rows, horizons, q):
    """Every frame of the report from a per-date loop over plain dicts (scipy for the correlations)."""
    from scipy import stats

    def corr(x, y, spearman=False):
        if len(x) < 3:  # the report's _MIN_PAIRS
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = (stats.spearmanr if spearman else stats.pearsonr)(x, y)[0]
        return None if math.isnan(r) else float(r)

    fwd, scores = reference_fwd(rows, horizons), defaultdict(dict)
    for t, s, _, sc in rows:
        if sc is not None and not math.isnan(sc):
            scores[t][s] = sc
    dates = sorted(scores)
    quant = {}
    for t in dates:
        x, n = scores[t], len(scores[t])
        for s, v in x.items():
            lo = sum(w < v for w in x.values())  # qcut on the values: first k with lo <= k (n - 1) / q
            quant[t, s] = next(k for k in range(1, q + 1) if lo * q <= k * (n - 1)) if n >= 2 else None
    ic, qmeans, spread = [], defaultdict(list), []
    for h in horizons:
        for t in dates:
            pairs = [(v, fwd[t, s, h]) for s, v in scores[t].items() if fwd[t, s, h] is not None]
            x, y = [p[0] for p in pairs], [p[1] for p in pairs]
            ic.append((day(t), h, len(pairs), corr(x, y), corr(x, y, True)))
            date_mean = np.mean(y) if y else None
            by_q = {}
            for k in range(1, q + 1):
                r = [fwd[t, s, h] for s in scores[t] if quant[t, s] == k and fwd[t, s, h] is not None]
                if r:
                    by_q[k] = float(np.mean(r))
                    qmeans[h, k].append((by_q[k], by_q[k] - date_mean))
            spread.append((day(t), h, by_q[q] - by_q[1] if q in by_q and 1 in by_q else None))
    qret = []
    for h in horizons:
        for k in range(1, q + 1):
            v = qmeans[h, k]
            qret.append((h, k, float(np.mean([a for a, _ in v])) if v else None,
                         float(np.mean([b for _, b in v])) if v else None, len(v)))  # fmt: skip
    turnover, autocorr = [], []
    for i, t in enumerate(dates):
        for k in range(1, q + 1):
            now = {s for s in scores[t] if quant[t, s] == k}
            if now:
                was = {s for s in scores[dates[i - 1]] if quant[dates[i - 1], s] == k} if i else set()
                turnover.append((day(t), k, len(now), len(now - was) / len(now) if i else None))
        common = sorted(set(scores[t]) & set(scores[dates[i - 1]])) if i else []
        rank = lambda d: dict(zip(scores[d], stats.rankdata(list(scores[d].values())), strict=True))  # noqa: E731
        ra, rb = (rank(t), rank(dates[i - 1])) if i else ({}, {})
        autocorr.append((day(t), len(common), corr([ra[s] for s in common], [rb[s] for s in common])))
    summary = []
    for h in horizons:
        out = [h]
        cols = {"ic": [r[3] for r in ic if r[1] == h], "rank_ic": [r[4] for r in ic if r[1] == h],
                "spread": [r[2] for r in spread if r[1] == h]}  # fmt: skip
        out.append(sum(v is not None for v in cols["ic"]))
        for c, v in cols.items():
            v = np.array([a for a in v if a is not None])
            m = float(v.mean()) if v.size else None
            sd = float(v.std(ddof=1)) if v.size > 1 else None
            ok = sd is not None and sd > 0
            out += [m, sd] + ([m / sd if ok else None] if c != "spread" else [])
            out += [m / sd * math.sqrt(v.size) if ok else None] + ([float((v > 0).mean()) if v.size else None]
                                                                      if c != "spread" else [])  # fmt: skip
        summary.append(tuple(out))
    return {"ic": ic, "summary": summary, "quantile_returns": qret, "spread": spread, "turnover": turnover,
            "autocorrelation": autocorr}  # fmt: skip


@given(
    seed=st.integers(0, 2**32 - 1),
    n_assets=st.integers(1, 9),
    n_bars=st.integers(1, 30),
    p_gap=st.sampled_from([0.0, 0.25]),
    ties=st.booleans(),
    horizons=st.sampled_from([(1,), (1, 3), (2, 5)]),
    q=st.sampled_from([2, 3, 5]),
)
def test_matches_per_date_loop(seed, n_assets, n_bars, p_gap, ties, horizons, q):
    """Every frame equals the scipy loop to 1e-10; shuffled rows (or timestamp-major rows) give
    the identical report."""
    need("scipy")
    rows = random_rows(seed, n_assets, n_bars, p_gap, ties)
    df = frame(rows)
    rep = signal_report(df, "score", horizons, q)
    ref = reference(rows, horizons, q)
    for name in FRAMES:  # the Newey-West t-stats: test_newey_west_t_stats
        assert_rows(getattr(rep, name).drop(pl.selectors.ends_with("_nw_t_stat")), ref[name])
    for other in (df.sample(fraction=1.0, shuffle=True, seed=seed % 1000), df.sort("timestamp", "symbol")):
        again = signal_report(other, "score", horizons, q)
        for name in FRAMES:
            assert_frame_equal(getattr(again, name), getattr(rep, name), check_exact=True)


def test_quantiles_are_qcut_of_the_values():
    """Buckets equal pd.qcut(score, q, labels=False) + 1 wherever qcut accepts the date (its bin
    edges are unique), ties included; q=6 shows the one difference: qcut's float edge 5/6 * 18 =
    14.999... puts the 16th lowest of 19 in bucket 6, the exact rule in bucket 5."""
    pd = need("pandas")
    rng = np.random.default_rng(3)
    checked = 0
    for n in range(2, 60):
        for q in (2, 4, 5, 10):
            x = np.round(rng.normal(size=n) * rng.choice([1, 3, 100]))
            try:
                ref = pd.qcut(x, q, labels=False) + 1
            except ValueError:  # duplicate bin edges: alphalens drops the date
                continue
            rows = [(0, f"S{i:02d}", 100.0, float(v)) for i, v in enumerate(x)]
            rep = signal_report(frame(rows), "score", 1, q)
            counts = dict(zip(*np.unique(ref, return_counts=True), strict=True))
            assert dict(rep.turnover.select("quantile", "n").iter_rows()) == counts
            checked += 1
    assert checked > 150
    x = np.arange(19.0)
    assert (pd.qcut(x, 6, labels=False) + 1)[15] == 6
    rep = signal_report(frame([(0, f"S{i:02d}", 100.0, v) for i, v in enumerate(x)]), "score", 1, 6)
    assert rep.turnover["n"].to_list() == [4, 3, 3, 3, 3, 3]  # positions 0-3, 4-6, ..., 13-15, 16-18


# ---------------------------------------------------------------------------------------------
# timing: no look-ahead
# ---------------------------------------------------------------------------------------------
def complete_panel(seed: int, n_assets: int = 6, n_bars: int = 30) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    px = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, (n_assets, n_bars)), axis=1))
    rows = [(t, f"S{a}", px[a, t], float(rng.normal())) for a in range(n_assets) for t in range(n_bars)]
    return frame(rows)


def per_date(rep: SignalReport, ts: dt.date, h: int | None = None) -> list:
    """Everything the report says about one date (and horizon)."""
    out = []
    for name in ("ic", "spread", "turnover", "autocorrelation"):
        f = getattr(rep, name).filter(pl.col("timestamp") == ts)
        if h is not None and "horizon" in f.columns:
            f = f.filter(pl.col("horizon") == h)
        out.append(f.rows())
    return out


@given(seed=st.integers(0, 2**32 - 1), cut=st.integers(3, 28))
def test_prefix_causality(seed, cut):
    """Changing prices and scores of the bars after `cut` never changes what the report says about a
    date t and horizon h with t + 1 + h <= cut (entry at t + 1, exit at t + 1 + h)."""
    df = complete_panel(seed)
    rng = np.random.default_rng(seed + 1)
    later = pl.col("timestamp") > day(cut)
    noise = pl.Series(rng.uniform(0.5, 2.0, df.height))
    changed = df.with_columns(
        pl.when(later).then(pl.col("open") * noise).otherwise(pl.col("open")).alias("open"),
        pl.when(later).then(-pl.col("score")).otherwise(pl.col("score")).alias("score"),
    )
    a, b = (signal_report(x, "score", (1, 3), 3) for x in (df, changed))
    for h in (1, 3):
        for t in range(0, cut - h):
            assert per_date(a, day(t), h) == per_date(b, day(t), h)


def test_fill_timing():
    """With price="open" the close is never read; the open of bar u only enters the returns of the
    scores at u - 1 (entry) and u - 1 - h (exit). price="close" on a close-only frame measures close
    to close from the next bar."""
    df = complete_panel(5, n_bars=20)
    rep = signal_report(df, "score", (1, 4), 3)
    other_close = signal_report(df.with_columns(pl.col("close") * 3.0), "score", (1, 4), 3)
    for name in FRAMES:
        assert_frame_equal(getattr(rep, name), getattr(other_close, name), check_exact=True)
    u, noise = 10, pl.Series(np.random.default_rng(0).uniform(0.5, 2.0, df.height))
    bumped = signal_report(df.with_columns(pl.when(pl.col("timestamp") == day(u)).then(pl.col("open") * noise)
                                           .otherwise(pl.col("open")).alias("open")), "score", (1, 4), 3)  # fmt: skip
    for h in (1, 4):
        hit = {u - 1, u - 1 - h}
        for t in range(20):
            same_ic = per_date(rep, day(t), h)[0] == per_date(bumped, day(t), h)[0]
            assert same_ic != (t in hit), (h, t)
    close_only = df.select("timestamp", "symbol", pl.col("open").alias("close"), "score")
    assert_frame_equal(signal_report(close_only, "score", (1, 4), 3, price="close").ic, rep.ic)


def test_nan_score_is_missing():
    rows = random_rows(11, 6, 25, 0.2, False)
    nan_rows = [(t, s, o, float("nan") if sc is None else sc) for t, s, o, sc in rows]
    a, b = signal_report(frame(rows), "score"), signal_report(frame(nan_rows), "score")
    for name in FRAMES:
        assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True)


# ---------------------------------------------------------------------------------------------
# alphalens as the oracle
# ---------------------------------------------------------------------------------------------
def test_alphalens_oracle():
    """alphalens-reloaded's IC (Spearman), mean return by quantile (raw and demeaned), top-minus-bottom
    spread (from its per-date quantile means: 0.5's compute_mean_returns_spread halves the difference),
    quantile turnover and rank autocorrelation, fed our forward returns and its own quantize_factor,
    on a ragged panel (late listings, gaps) cut before the first date on which a scored asset lacks
    a forward return (alphalens drops such rows)."""
    perf = need("alphalens.performance")
    utils = need("alphalens.utils")
    pd = need("pandas")
    horizons, q = (1, 3), 5
    rows = random_rows(42, 30, 70, 0.1, ties=False, delist=False)
    fwd = reference_fwd(rows, horizons)
    cut = min(t for t, s, _, sc in rows if sc == sc and sc is not None and any(fwd[t, s, h] is None for h in horizons))
    rows = [(t, s, o, sc if t < cut else None) for t, s, o, sc in rows]
    rep = signal_report(frame(rows), "score", horizons, q)

    kept = [(t, s, sc) for t, s, _, sc in rows if sc is not None and sc == sc]
    index = pd.MultiIndex.from_tuples([(pd.Timestamp(day(t)), s) for t, s, _ in kept], names=["date", "asset"])
    fd = pd.DataFrame({f"{h}D": [fwd[t, s, h] for t, s, _ in kept] for h in horizons}, index=index)
    fd["factor"] = [sc for _, _, sc in kept]
    fd = fd.sort_index()
    assert fd.groupby(level="date").size().min() > q  # every quantile has names on every date
    fd["factor_quantile"] = utils.quantize_factor(fd, quantiles=q)

    def ours(f: pl.DataFrame, key: list[str], col: str) -> dict:
        return {tuple(r[:-1]) if len(r) > 2 else r[0]: r[-1] for r in f.select(*key, col).iter_rows()}

    def check(got: dict, want: dict) -> None:
        assert got.keys() == want.keys()
        assert all(same(got[k], want[k], 1e-9) for k in want)

    ts = lambda x: pd.Timestamp(x).date()  # noqa: E731
    al_ic = perf.factor_information_coefficient(fd)
    for h in horizons:
        check(ours(rep.ic.filter(pl.col("horizon") == h), ["timestamp"], "rank_ic"),
              {ts(d): v for d, v in al_ic[f"{h}D"].items()})  # fmt: skip
    for demeaned, col in ((False, "mean_return"), (True, "mean_return_demeaned")):
        mr, _ = perf.mean_return_by_quantile(fd, demeaned=demeaned)
        want = {(h, int(k)): mr.loc[k, f"{h}D"] for k in mr.index for h in horizons}
        check(ours(rep.quantile_returns, ["horizon", "quantile"], col), want)
    by_date, _ = perf.mean_return_by_quantile(fd, by_date=True, demeaned=False)
    diff = by_date.xs(q, level="factor_quantile") - by_date.xs(1, level="factor_quantile")  # the full difference
    want = {(ts(d), h): diff.loc[d, f"{h}D"] for d in diff.index for h in horizons}
    check(ours(rep.spread, ["timestamp", "horizon"], "spread"), want)
    for k in range(1, q + 1):
        al_t = perf.quantile_turnover(fd["factor_quantile"], k, period=1).dropna()
        check(ours(rep.turnover.filter((pl.col("quantile") == k) & pl.col("turnover").is_not_null()), ["timestamp"],
                   "turnover"), {ts(d): v for d, v in al_t.items()})  # fmt: skip
    counts = fd.groupby(["date", "factor_quantile"]).size()
    assert {(ts(d), int(k)): n for (d, k), n in counts.items()} == ours(rep.turnover, ["timestamp", "quantile"], "n")
    al_ac = perf.factor_rank_autocorrelation(fd, period=1).dropna()
    check(ours(rep.autocorrelation.drop_nulls(), ["timestamp"], "autocorrelation"),
          {ts(d): v for d, v in al_ac.items()})  # fmt: skip


# ---------------------------------------------------------------------------------------------
# errors, inputs, result object
# ---------------------------------------------------------------------------------------------
def test_inputs_and_result_object(tmp_path):
    df = complete_panel(1)
    rep = signal_report(df, "score", horizons=5, quantiles=3)
    assert rep.horizons == (5,) and rep.summary["horizon"].to_list() == [5]
    expr = signal_report(df.rename({"score": "pred"}), pl.col("pred") * 2 + 1, horizons=5, quantiles=3)
    for name in FRAMES:  # a monotone transform changes no rank; Pearson is invariant to it too
        assert_frame_equal(getattr(expr, name), getattr(rep, name), rel_tol=1e-12, abs_tol=1e-12)
    intraday = signal_report(df.with_columns(pl.col("timestamp").cast(pl.Datetime("us", "UTC"))), "score", 5, 3)
    assert_frame_equal(intraday.ic.drop("timestamp"), rep.ic.drop("timestamp"))
    df.write_parquet(tmp_path / "p.parquet")
    assert_frame_equal(signal_report(tmp_path / "p.parquet", "score", 5, 3).ic, rep.ic)
    assert_frame_equal(signal_report(df.lazy().rename({"symbol": "ticker"}), "score", 5, 3).ic, rep.ic)
    lagged = signal_report(df, pl.col("score").shift(1).over("symbol"), 5, 3)  # windows see time order
    shuffled = signal_report(
        df.sample(fraction=1.0, shuffle=True, seed=2), pl.col("score").shift(1).over("symbol"), 5, 3
    )
    assert_frame_equal(lagged.ic, shuffled.ic, check_exact=True)
    d = rep.to_dict()
    assert list(d) == [*FRAMES, "horizons", "quantiles", "price"] and d["summary"]["horizon"] == [5]
    text = repr(rep)
    assert text.startswith("SignalReport(price='open', quantiles=3, 30 dates)") and "mean_rank_ic" in text
    with pytest.raises(AttributeError):
        rep.quantiles = 4


def test_doctest():
    assert doctest.testmod(ml4t_vec.prediction, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(score="scor"), DataError, r"`score` column 'scor' is not in `prices`.*Did you mean 'score'\?"),
        (dict(score=pl.col("pred") > 0), DataError, r"`score` uses column 'pred'"),
        (dict(score="symbol"), DataError, r"`score` must be numeric .*got String"),
        (dict(score=3), ConfigError, r"`score` must be a polars expression or a column name"),
        (dict(score=None), ConfigError, r"`score` must be"),
        (dict(horizons=0), ConfigError, r"`horizons` must be positive integers .*got 0"),
        (dict(horizons=(1, 2.5)), ConfigError, r"`horizons` must be positive integers"),
        (dict(horizons=()), ConfigError, r"`horizons` must be"),
        (dict(horizons=True), ConfigError, r"`horizons` must be"),
        (dict(horizons="5"), ConfigError, r"`horizons` must be"),
        (dict(quantiles=1), ConfigError, r"`quantiles` must be an integer >= 2.*got 1"),
        (dict(quantiles=5.0), ConfigError, r"`quantiles` must be"),
        (dict(price="opn"), DataError, r"`price` column 'opn' is not in `prices`.*Did you mean 'open'\?"),
        (dict(price=1), ConfigError, r"`price` must be a column name"),
        (dict(timestamp_col="date"), DataError, r"`timestamp_col` 'date' is not a column"),
    ],
)
def test_argument_errors(kwargs, error, match):
    args = dict(prices=complete_panel(0, 3, 5), score="score") | kwargs
    with pytest.raises(error, match=match):
        signal_report(**args)


def test_data_errors():
    df = complete_panel(0, 3, 6)
    with pytest.raises(DataError, match=r"`price` column 'open' is not in `prices`.*pass price='close'"):
        signal_report(df.drop("open"), "score")
    bad = df.with_columns(pl.when((pl.col("symbol") == "S1") & (pl.col("timestamp") == day(2))).then(0.0)
                          .otherwise(pl.col("open")).alias("open"))  # fmt: skip
    with pytest.raises(DataError, match=r"'open' must hold finite prices > 0.*symbol='S1', timestamp=2024-01-03"):
        signal_report(bad, "score")
    inf = df.with_columns(pl.when(pl.col("timestamp") == day(4)).then(float("inf")).otherwise("score").alias("score"))
    with pytest.raises(DataError, match=r"`score` must be finite.*timestamp=2024-01-05"):
        signal_report(inf, "score")
    with pytest.raises(DataError, match=r"duplicate \(timestamp, symbol\) rows"):
        signal_report(pl.concat([df, df.head(1)]), "score")
    with pytest.raises(DataError, match=r"must be Date or Datetime"):
        signal_report(df.with_columns(pl.col("timestamp").cast(pl.String)), "score")


def _nw_t(x: np.ndarray, lags: int) -> float:
    """mean / Newey-West standard error (Bartlett weights, no small-sample correction), by loops."""
    n = x.shape[0]
    d = x - x.mean()
    s = sum(d[t] * d[t] for t in range(n))
    for lag in range(1, lags + 1):
        s += 2.0 * (1.0 - lag / (lags + 1)) * sum(d[t] * d[t - lag] for t in range(lag, n))
    var = s / n / n
    return x.mean() / math.sqrt(var) if var > 0 else float("nan")


@given(seed=st.integers(0, 2**32 - 1), horizons=st.sampled_from([(1,), (2, 5), (3, 8)]))
def test_newey_west_t_stats(seed, horizons):
    """``*_nw_t_stat``: the mean over each horizon's dates (in time order, nulls skipped) divided
    by its Newey-West standard error with h - 1 lags, as a loop computes it and as statsmodels'
    HAC regression on a constant reports it."""
    rows = random_rows(seed, 7, 40, 0.2, False)
    rep = signal_report(frame(rows), "score", horizons, 3)
    series = rep.ic.join(rep.spread, on=["timestamp", "horizon"]).sort("horizon", "timestamp")
    sm = importlib.util.find_spec("statsmodels") is not None
    for h in horizons:
        row = rep.summary.filter(pl.col("horizon") == h).row(0, named=True)
        for col in ("ic", "rank_ic", "spread"):
            x = series.filter(pl.col("horizon") == h)[col].drop_nulls().drop_nans().to_numpy()
            got = row[f"{col}_nw_t_stat"]
            want = _nw_t(x, h - 1) if x.shape[0] else float("nan")
            if got is None or math.isnan(want):
                assert got is None and (math.isnan(want) or x.shape[0] < 2 or np.ptp(x) == 0), (h, col, got, want)
                continue
            assert got == pytest.approx(want, rel=1e-9), (h, col)
            if sm and x.shape[0] > h + 1:
                import statsmodels.api as smapi

                fit = smapi.OLS(x, np.ones_like(x)).fit(
                    cov_type="HAC", cov_kwds={"maxlags": h - 1, "use_correction": False}
                )
                assert got == pytest.approx(float(fit.tvalues[0]), rel=1e-9), (h, col)
