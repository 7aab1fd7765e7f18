"""Purged / embargoed K-fold and walk-forward splits (ml4t_vec.splits).

Golden cases: 10 timestamps x 3 assets in a shuffled literal row order; the expected train/test
TIMESTAMP sets are literals worked out by hand, mapped to rows through the literal row order.
Properties (Hypothesis): split equals a brute-force reference written from the definitions
(pairwise label-window overlap, embargo counted timestamp by timestamp) on ragged panels in any
row order, with int, Date and Datetime timestamps, bar / duration / per-row label horizons.
"""

from __future__ import annotations

import doctest
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ml4t_vec.splits
from ml4t_vec.errors import ConfigError, DataError
from ml4t_vec.splits import PurgedKFold, WalkForward

# row i holds timestamp ROW_TS[i] (0..9, each three times: assets A, B, C in that order of appearance)
ROW_TS = [7, 2, 9, 0, 4, 4, 1, 8, 3, 6, 5, 0, 9, 2, 7, 1, 6, 3, 8, 5, 0, 5, 2, 9, 4, 1, 6, 3, 7, 8]  # fmt: skip
DAYS = [date(2024, 1, 1) + timedelta(days=i) for i in range(10)]  # consecutive calendar days


def _panel(days=DAYS) -> pl.DataFrame:
    seen: dict[int, int] = {}
    symbols = []
    for t in ROW_TS:
        symbols.append("ABC"[seen.get(t, 0)])
        seen[t] = seen.get(t, 0) + 1
    return pl.DataFrame({"timestamp": [days[t] for t in ROW_TS], "symbol": symbols, "x": np.arange(30.0)})


def _rows(ts: set[int]) -> list[int]:
    return [i for i, t in enumerate(ROW_TS) if t in ts]


def _check_golden(cv, expected: list[tuple[set[int], set[int]]], X=None):
    folds = list(cv.split(_panel() if X is None else X))
    assert len(folds) == len(expected) == cv.get_n_splits(_panel())
    for (train, test), (want_train, want_test) in zip(folds, expected, strict=True):
        assert train.dtype == np.int64 and test.dtype == np.int64
        assert train.tolist() == _rows(want_train), (sorted({ROW_TS[i] for i in train}), sorted(want_train))
        assert test.tolist() == _rows(want_test)


ALL = set(range(10))


# ---------------------------------------------------------------------------------------------
# golden cases
# ---------------------------------------------------------------------------------------------
def test_kfold_plain():
    tests = [{0, 1}, {2, 3}, {4, 5}, {6, 7}, {8, 9}]
    _check_golden(PurgedKFold(5), [(ALL - t, t) for t in tests])


def test_kfold_uneven_sizes_first_folds_larger():
    tests = [{0, 1, 2, 3}, {4, 5, 6}, {7, 8, 9}]  # 10 = 4 + 3 + 3, as np.array_split / sklearn KFold
    _check_golden(PurgedKFold(3), [(ALL - t, t) for t in tests])


# label_horizon=1: the timestamp before a test fold (its label ends at the fold's first timestamp) and
# the one after it (inside the last test label) are purged; embargo=1 drops one more after that.
KFOLD_H1_E1 = [
    ({4, 5, 6, 7, 8, 9}, {0, 1}),  # purge 2, embargo 3
    ({0, 6, 7, 8, 9}, {2, 3}),  # purge 1 and 4, embargo 5
    ({0, 1, 2, 8, 9}, {4, 5}),  # purge 3 and 6, embargo 7
    ({0, 1, 2, 3, 4}, {6, 7}),  # purge 5 and 8, embargo 9
    ({0, 1, 2, 3, 4, 5, 6}, {8, 9}),  # purge 7; nothing after the last fold
]


@pytest.mark.parametrize(
    "horizon, embargo",
    [(1, 1), (1, 0.1), (1, 0.05), ("1d", 1), (timedelta(days=1), "1d"), ("24h", timedelta(hours=24))],
)
def test_kfold_purge_and_embargo(horizon, embargo):
    # 0.1 and 0.05 of 10 timestamps both round up to 1; on consecutive days 1 bar = "1d"
    _check_golden(PurgedKFold(5, label_horizon=horizon, embargo=embargo), KFOLD_H1_E1)


def test_kfold_longer_horizon_and_fraction():
    expected = [
        ({7, 8, 9}, {0, 1, 2, 3}),  # labels of 0..3 end by 5: purge 4, 5; embargo ceil(0.1 * 10) = 1: 6
        ({0, 1}, {4, 5, 6}),  # purge 2, 3 (labels reach 4) and 7, 8 (inside the labels of 6); embargo 9
        ({0, 1, 2, 3, 4}, {7, 8, 9}),  # purge 5, 6
    ]
    _check_golden(PurgedKFold(3, label_horizon=2, embargo=0.1), expected)


def test_kfold_duration_horizon_respects_calendar_gaps():
    # two business weeks: Mon 1 .. Fri 5, Mon 8 .. Fri 12 January 2024
    weekdays = [date(2024, 1, d) for d in (1, 2, 3, 4, 5, 8, 9, 10, 11, 12)]
    X = pl.Series(weekdays)
    lo, hi = set(range(5)), set(range(5, 10))
    # "1d": Friday's label ends on Saturday, before Monday: nothing to purge
    assert [({*t}, {*s}) for t, s in _ts_sets(PurgedKFold(2, label_horizon="1d"), X)] == [(hi, lo), (lo, hi)]
    # one bar: Friday's label ends on Monday; "3d" too
    for h in (1, "3d"):
        assert [({*t}, {*s}) for t, s in _ts_sets(PurgedKFold(2, label_horizon=h), X)] == [
            (hi - {5}, lo),
            (lo - {4}, hi),
        ]


def _ts_sets(cv, X):
    """Per fold: (train timestamps, test timestamps) as sorted positions of X's values."""
    v = np.asarray(X.to_physical() if isinstance(X, pl.Series) else X)
    uniq = np.unique(v)
    return [
        (np.searchsorted(uniq, np.unique(v[tr])).tolist(), np.searchsorted(uniq, np.unique(v[te])).tolist())
        for tr, te in cv.split(X)
    ]


def test_kfold_label_end_column_takes_each_timestamps_latest_label():
    # every label ends at its own timestamp, except asset B at timestamp 2, whose label ends at 5
    df = _panel()
    end = pl.when((pl.col("timestamp") == DAYS[2]) & (pl.col("symbol") == "B")).then(pl.lit(DAYS[5]))
    df = df.with_columns(t1=end.otherwise(pl.col("timestamp")))
    expected = [
        (ALL - {0, 1}, {0, 1}),  # [2, 5] does not reach back to the test fold
        (ALL - {2, 3, 4, 5}, {2, 3}),  # the test labels end at 5: purge 4, 5
        (ALL - {2, 4, 5}, {4, 5}),  # timestamp 2's label reaches 4: purged (all three assets)
        (ALL - {6, 7}, {6, 7}),
        (ALL - {8, 9}, {8, 9}),
    ]
    _check_golden(PurgedKFold(5, label_end_col="t1"), expected, X=df)
    got = PurgedKFold(5, label_end_col="t1").describe(df)
    assert got["n_purged"].to_list() == [0, 2, 1, 0, 0]


def test_walk_forward_rolling_and_anchored():
    tests = [{4, 5}, {6, 7}, {8, 9}]
    rolling = [{0, 1, 2, 3}, {2, 3, 4, 5}, {4, 5, 6, 7}]
    _check_golden(WalkForward(train_size=4, test_size=2), list(zip(rolling, tests, strict=True)))
    anchored = [{0, 1, 2, 3}, {0, 1, 2, 3, 4, 5}, {0, 1, 2, 3, 4, 5, 6, 7}]
    _check_golden(WalkForward(train_size=4, test_size=2, anchored=True), list(zip(anchored, tests, strict=True)))
    # purge the last training timestamp (label reaches the test start), embargo one more
    purged = [{0, 1}, {2, 3}, {4, 5}]
    cv = WalkForward(train_size=4, test_size=2, label_horizon=1, embargo=1)
    _check_golden(cv, list(zip(purged, tests, strict=True)))
    # the most recent two folds
    _check_golden(WalkForward(2, train_size=4, test_size=2), list(zip(rolling[1:], tests[1:], strict=True)))


def test_walk_forward_partial_last_window_and_step():
    # train 3, test 2 on 10 timestamps: fold i trains on 2i .. 2i + 2; the last test window holds only 9
    tests = [{3, 4}, {5, 6}, {7, 8}, {9}]
    rolling = [{0, 1, 2}, {2, 3, 4}, {4, 5, 6}, {6, 7, 8}]
    _check_golden(WalkForward(train_size=3, test_size=2), list(zip(rolling, tests, strict=True)))
    anchored = [set(range(3)), set(range(5)), set(range(7)), set(range(9))]
    _check_golden(WalkForward(train_size=3, test_size=2, anchored=True), list(zip(anchored, tests, strict=True)))
    # step 3 > test 2: timestamps 5 and 8 are never tested
    expected = [({0, 1, 2}, {3, 4}), ({3, 4, 5}, {6, 7}), ({6, 7, 8}, {9})]
    _check_golden(WalkForward(train_size=3, test_size=2, step=3), expected)
    # step 1 < test 2: overlapping test windows
    got = WalkForward(train_size=6, test_size=2, step=1).describe(_panel())
    assert got["test_start"].to_list() == DAYS[6:10] and got["test_end"].to_list() == [*DAYS[7:10], DAYS[9]]
    assert got["train_start"].to_list() == DAYS[0:4] and got["n_test_rows"].to_list() == [6, 6, 6, 3]


def test_walk_forward_windows_match_vec_walk_forward():
    walkforward = pytest.importorskip("ml4t_vec.walkforward")
    if not hasattr(walkforward, "fold_windows"):
        pytest.skip("ml4t_vec.walkforward.fold_windows is gone")
    ts = np.arange(23)
    for train, test, step, anchored in [(5, 3, None, False), (4, 5, 2, True), (2, 1, 3, False), (20, 5, None, True)]:
        got = WalkForward(train_size=train, test_size=test, step=step, anchored=anchored).describe(ts)
        want = walkforward.fold_windows(23, train, test, step, anchored)
        assert got.select("train_start", "test_start", "test_end").rows() == [(a, c, d - 1) for a, _, c, d in want]
        assert got["train_end"].to_list() == [b - 1 for _, b, _, _ in want]


def test_walk_forward_durations_on_consecutive_days_match_counts():
    a = WalkForward(train_size=4, test_size=2, label_horizon=1, embargo=1).describe(_panel())
    b = WalkForward(train_size="4d", test_size=timedelta(days=2), label_horizon="1d", embargo="1d").describe(_panel())
    assert a.equals(b)


def test_walk_forward_calendar_months():
    mid = [date(2024, m, 15) for m in range(1, 13)]
    got = WalkForward(train_size="3mo", test_size="2mo").describe(pl.Series(mid))
    # fold i trains on [Jan 15 + 2i months, + 3 months) and tests the 2 months after; December is cut short
    assert got["train_start"].to_list() == [date(2024, m, 15) for m in (1, 3, 5, 7, 9)]
    assert got["test_start"].to_list() == [date(2024, m, 15) for m in (4, 6, 8, 10, 12)]
    assert got["n_test_timestamps"].to_list() == [2, 2, 2, 2, 1]
    assert got["n_train_timestamps"].to_list() == [3] * 5
    # month ends: fold i's window is anchored at Jan 31 + i months (scaled, not chained)
    ends = [date(2024, 1, 31), date(2024, 2, 29), date(2024, 3, 31), date(2024, 4, 30), date(2024, 5, 31)]
    got = WalkForward(train_size="1mo", test_size="1mo", anchored=True).describe(pl.Series(ends))
    assert got["test_start"].to_list() == ends[1:]
    assert got["n_train_timestamps"].to_list() == [1, 2, 3, 4]


def test_describe_columns_and_counts():
    got = PurgedKFold(5, label_horizon=1, embargo=1).describe(_panel())
    assert got.columns == [
        "fold", "train_start", "train_end", "test_start", "test_end", "n_train_timestamps", "n_test_timestamps",
        "n_purged", "n_embargoed", "n_train_rows", "n_test_rows",
    ]  # fmt: skip
    assert got["fold"].to_list() == [0, 1, 2, 3, 4]
    assert got["n_train_timestamps"].to_list() == [len(t) for t, _ in KFOLD_H1_E1]
    assert got["n_train_rows"].to_list() == [3 * len(t) for t, _ in KFOLD_H1_E1]
    assert got["n_test_rows"].to_list() == [6] * 5
    assert got["n_purged"].to_list() == [1, 2, 2, 2, 1] and got["n_embargoed"].to_list() == [1, 1, 1, 1, 0]
    assert got["test_start"].to_list() == DAYS[0::2] and got["test_end"].to_list() == DAYS[1::2]
    assert got["train_start"].dtype == pl.Date
    # an empty training set is shown (null bounds), not refused; split refuses it
    cv = PurgedKFold(2, label_horizon=9)
    assert cv.describe(_panel())["train_start"].to_list() == [None, None]
    with pytest.raises(DataError, match="fold 0 .* no training timestamps"):
        list(cv.split(_panel()))


# ---------------------------------------------------------------------------------------------
# input forms
# ---------------------------------------------------------------------------------------------
def test_input_forms_agree():
    df = _panel()
    cv = PurgedKFold(5, label_horizon=1, embargo=1)
    want = [(tr.tolist(), te.tolist()) for tr, te in cv.split(df)]
    ts = df["timestamp"]
    features = np.zeros((30, 4))
    forms = [
        df.lazy(),
        ts,
        ts.cast(pl.Datetime("ns")).to_numpy(),  # datetime64[ns]
        ts.to_numpy().astype("datetime64[s]"),  # a unit Polars does not read directly
        ts.to_physical().to_numpy(),  # int days
        list(ts),  # python dates
    ]
    for X in forms:
        assert [(tr.tolist(), te.tolist()) for tr, te in cv.split(X)] == want
    # timestamps passed as `groups` with a feature matrix (scikit-learn style); y is ignored
    assert [(tr.tolist(), te.tolist()) for tr, te in cv.split(features, np.ones(30), groups=ts)] == want
    assert [(tr.tolist(), te.tolist()) for tr, te in cv.split(None, groups=df)] == want
    renamed = df.rename({"timestamp": "date"})
    got = PurgedKFold(5, label_horizon=1, embargo=1, timestamp_col="date").split(renamed)
    assert [(tr.tolist(), te.tolist()) for tr, te in got] == want
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"timestamp": pd.to_datetime(ts.to_numpy()), "x": 0.0})
    assert [(tr.tolist(), te.tolist()) for tr, te in cv.split(frame)] == want
    tz = pd.Series(pd.to_datetime(ts.to_numpy())).dt.tz_localize("UTC")
    assert [(tr.tolist(), te.tolist()) for tr, te in cv.split(tz)] == want


def test_timezone_aware_datetimes():
    ts = pl.Series([datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=t) for t in ROW_TS])
    ts = ts.dt.convert_time_zone("America/New_York")
    _check_golden(PurgedKFold(5, label_horizon="1d", embargo="1d"), KFOLD_H1_E1, X=ts)


# ---------------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: PurgedKFold(1), "`n_splits` must be an integer >= 2; got 1"),
        (lambda: PurgedKFold(2.0), "`n_splits` must be an integer"),
        (lambda: PurgedKFold(True), "`n_splits` must be an integer"),
        (lambda: PurgedKFold(embargo=-1), "`embargo` must be"),
        (lambda: PurgedKFold(embargo=1.0), "`embargo` must be a fraction of the timestamps in \\[0, 1\\)"),
        (lambda: PurgedKFold(embargo=float("nan")), "`embargo` must be"),
        (lambda: PurgedKFold(embargo=timedelta(days=-1)), "`embargo` must be a non-negative duration"),
        (lambda: PurgedKFold(label_horizon=-1), "`label_horizon` must be a number of bars >= 0"),
        (lambda: PurgedKFold(label_horizon=1.5), "`label_horizon` must be"),
        (lambda: PurgedKFold(label_horizon="5 days"), "`label_horizon` must be a Polars duration string"),
        (lambda: PurgedKFold(label_horizon="5x"), "`label_horizon` must be a Polars duration string"),
        (lambda: PurgedKFold(timestamp_col=1), "`timestamp_col` must be a column name"),
        (lambda: PurgedKFold(label_horizon=2, label_end_col="t1"), "`label_horizon` must be 0 when `label_end_col`"),
        (lambda: WalkForward(train_size=0, test_size=2), "`train_size` must be a number of timestamps >= 1"),
        (lambda: WalkForward(train_size=5, test_size="0d"), "`test_size` must be a positive duration"),
        (lambda: WalkForward(train_size="1y", test_size=21), "must all be numbers of timestamps or all durations"),
        (lambda: WalkForward(train_size=5, test_size=2, step="1d"), "must all be numbers of timestamps or all"),
        (lambda: WalkForward(0, train_size=5, test_size=2), "`n_splits` must be an integer >= 1"),
        (lambda: WalkForward(train_size=5, test_size=2, anchored=1), "`anchored` must be True or False"),
    ],
)
def test_parameter_errors(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


def test_data_errors():
    df = _panel()
    with pytest.raises(ConfigError, match="`n_splits` must be at most the number of distinct timestamps \\(10\\)"):
        list(PurgedKFold(11).split(df))
    with pytest.raises(DataError, match="`timestamp_col` 'timestamps' is not a column .* Did you mean 'timestamp'"):
        list(PurgedKFold(timestamp_col="timestamps").split(df))
    with pytest.raises(DataError, match="'time' is not a column .* Date/Datetime columns: \\['timestamp'\\]"):
        list(PurgedKFold(timestamp_col="time").split(df.lazy()))
    with pytest.raises(DataError, match="`label_end_col` 't1' is not a column"):
        list(PurgedKFold(label_end_col="t1").split(df))
    nulls = df.with_columns(timestamp=pl.when(pl.col("x") == 4).then(None).otherwise(pl.col("timestamp")))
    with pytest.raises(DataError, match="`X` column 'timestamp' has a null at row 4"):
        list(PurgedKFold().split(nulls))
    with pytest.raises(DataError, match="has a null at row 1"):
        list(PurgedKFold(2).split(np.array(["2024-01-01", "NaT", "2024-01-02"], dtype="datetime64[ns]")))
    with pytest.raises(DataError, match="must hold timestamps .* got a NumPy array of float64"):
        list(PurgedKFold(2).split(np.array([1.0, 2.0, 3.0])))
    with pytest.raises(DataError, match="2-D numpy.ndarray. A feature matrix has no timestamps: pass them as `groups`"):
        list(PurgedKFold(2).split(np.zeros((4, 2))))
    with pytest.raises(DataError, match="`X` column 'x' must be Date, Datetime or integers; got Float64"):
        list(PurgedKFold(2, timestamp_col="x").split(df))
    with pytest.raises(DataError, match="`groups` must hold one timestamp per row of `X` \\(4 rows\\); got 30"):
        list(PurgedKFold(2).split(np.zeros((4, 2)), groups=df["timestamp"]))
    with pytest.raises(ConfigError, match="`label_end_col` needs `X` to be a Polars DataFrame"):
        list(PurgedKFold(2, label_end_col="t1").split(df["timestamp"]))
    early = df.with_columns(t1=pl.col("timestamp") - pl.duration(days=(pl.col("x") == 7).cast(pl.Int64)))
    with pytest.raises(DataError, match="column 't1' must not be before the row's timestamp; row 7 has timestamp"):
        list(PurgedKFold(2, label_end_col="t1").split(early))
    ints = np.array(ROW_TS)
    with pytest.raises(ConfigError, match="a duration .* needs Date or Datetime timestamps; got Int64"):
        list(PurgedKFold(2, label_horizon="1d").split(ints))
    with pytest.raises(ConfigError, match="`label_horizon` must be whole days for Date timestamps; got '6h'"):
        list(PurgedKFold(2, label_horizon="6h").split(df))
    with pytest.raises(DataError, match="`n_splits` must be at most the 3 folds that fit"):
        list(WalkForward(4, train_size=4, test_size=2).split(df))
    with pytest.raises(DataError, match="no walk-forward fold fits in the 10 timestamps"):
        list(WalkForward(train_size=10, test_size=2).split(df))
    with pytest.raises(ConfigError, match="`X` must be given to count the folds"):
        WalkForward(train_size=4, test_size=2).get_n_splits()
    with pytest.raises(ConfigError, match="`step` must be large enough"):  # a minute apart over 24 years
        list(WalkForward(train_size="1d", test_size="1d", step="1m").split(np.array(["2000", "2024"], "M8[ms]")))
    assert WalkForward(train_size=4, test_size=2).get_n_splits(df) == 3
    assert WalkForward(2, train_size=4, test_size=2).get_n_splits() == 2
    assert PurgedKFold(4).get_n_splits() == 4


def test_repr_and_doctests():
    assert repr(PurgedKFold(3, embargo=0.01)) == (
        "PurgedKFold(n_splits=3, label_horizon=0, embargo=0.01, timestamp_col='timestamp', label_end_col=None)"
    )
    assert doctest.testmod(ml4t_vec.splits, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0


# ---------------------------------------------------------------------------------------------
# scikit-learn protocol
# ---------------------------------------------------------------------------------------------
def test_scikit_learn_cross_validation():
    pytest.importorskip("sklearn")
    from sklearn.linear_model import LinearRegression
    from sklearn.model_selection import GridSearchCV, check_cv, cross_val_score, cross_validate
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    df = _panel()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2))
    y = X @ np.array([1.0, -2.0]) + 0.01 * rng.normal(size=30)
    for cv in (PurgedKFold(5, label_horizon=1, embargo=1), WalkForward(train_size=4, test_size=2, label_horizon=1)):
        assert check_cv(cv) is cv
        scores = cross_val_score(LinearRegression(), X, y, groups=df["timestamp"], cv=cv)
        assert scores.shape == (cv.get_n_splits(df),) and np.all(scores > 0.9)
        got = cross_validate(LinearRegression(), X, y, groups=df["timestamp"], cv=cv, return_indices=True)
        want = list(cv.split(df))
        assert [a.tolist() for a in got["indices"]["train"]] == [tr.tolist() for tr, _ in want]
        assert [a.tolist() for a in got["indices"]["test"]] == [te.tolist() for _, te in want]
    grid = {"linearregression__fit_intercept": [True, False]}
    search = GridSearchCV(make_pipeline(StandardScaler(), LinearRegression()), grid, cv=PurgedKFold(3, label_horizon=1))
    assert search.fit(X, y, groups=df["timestamp"]).best_score_ > 0.9


# ---------------------------------------------------------------------------------------------
# properties: the splitters equal a brute-force reference written from the definitions
# ---------------------------------------------------------------------------------------------
@st.composite
def panels(draw):
    """(frame, day of each row, label end day of each row or None, kind) for a ragged panel in random row order.

    Time is counted in days: int timestamps are the day numbers, Date / Datetime (UTC) ones are
    days after 2024-01-01, so a duration of d days adds d to the day number in every kind."""
    n = draw(st.integers(2, 16))
    days = np.cumsum(draw(st.lists(st.integers(1, 3), min_size=n, max_size=n))).tolist()
    rows = []
    for d in days:
        for a in draw(st.sets(st.sampled_from("ABC"), min_size=1)):
            rows.append((d, a))
    rows = draw(st.permutations(rows))
    kind = draw(st.sampled_from(["int", "date", "datetime"]))
    with_ends = kind != "int" and draw(st.booleans())
    ends = [d + draw(st.integers(0, 5)) for d, _ in rows] if with_ends else None
    day = [d for d, _ in rows]
    conv = {
        "int": lambda v: v,
        "date": lambda v: date(2024, 1, 1) + timedelta(days=v),
        "datetime": lambda v: datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=v),
    }[kind]
    cols = {"timestamp": [conv(d) for d in day], "symbol": [a for _, a in rows]}
    if ends is not None:
        cols["t1"] = [conv(e) for e in ends]
    return pl.DataFrame(cols), day, ends, kind


def _label_ends(times, day, ends, horizon):
    """Label end day per distinct timestamp day."""
    if ends is not None:
        out = {}
        for d, e in zip(day, ends, strict=True):
            out[d] = max(out.get(d, e), e)
        return [out[t] for t in times]
    if isinstance(horizon, int):
        return [times[min(k + horizon, len(times) - 1)] for k in range(len(times))]
    return [t + int(horizon[:-1]) for t in times]


def _overlap(t0, e0, t1, e1) -> bool:
    return t0 <= e1 and t1 <= e0


def _embargo_days(embargo, n):
    """('count', g) or ('days', d)."""
    if isinstance(embargo, str):
        return "days", int(embargo[:-1])
    if isinstance(embargo, float):
        return "count", int(np.ceil(round(embargo * n, 9)))
    return "count", embargo


def _ref_kfold(times, ends, n_splits, embargo):
    n = len(times)
    kind, g = _embargo_days(embargo, n)
    out, start = [], 0
    for f in range(n_splits):
        size = n // n_splits + (1 if f < n % n_splits else 0)
        test = list(range(start, start + size))
        start += size
        last_end = max(ends[j] for j in test)
        train = []
        for k in range(n):
            if k in test or any(_overlap(times[k], ends[k], times[j], ends[j]) for j in test):
                continue
            after = [i for i in range(n) if last_end < times[i] <= times[k]]  # timestamps after the test labels
            if times[k] > last_end and (len(after) <= g if kind == "count" else times[k] <= last_end + g):
                continue  # embargoed
            train.append(k)
        out.append((train, test))
    return out


def _ref_walk_forward(times, ends, train_size, test_size, step, anchored, embargo):
    n = len(times)
    kind, g = _embargo_days(embargo, n)
    windows = []  # (train window positions, test positions)
    if isinstance(train_size, int):
        s = 0
        while s + train_size < n:
            a = s + train_size
            windows.append((list(range(0 if anchored else s, a)), list(range(a, min(a + test_size, n)))))
            s += step or test_size
    else:
        tr, te, st_ = (int(s[:-1]) for s in (train_size, test_size, step or test_size))
        i = 0
        while times[0] + i * st_ + tr <= times[-1]:
            lo = times[0] + i * st_
            test = [k for k in range(n) if lo + tr <= times[k] < lo + tr + te]
            if test:
                windows.append(([k for k in range(n) if (anchored or lo <= times[k]) and times[k] < lo + tr], test))
            i += 1
    out = []
    for window, test in windows:
        a = test[0]
        train = []
        for k in window:
            if any(_overlap(times[k], ends[k], times[j], ends[j]) for j in test):
                continue
            between = [i for i in range(n) if ends[k] < times[i] < times[a]]  # timestamps between label end and test
            if len(between) < g if kind == "count" else ends[k] + g >= times[a]:
                continue  # embargoed
            train.append(k)
        out.append((train, test))
    return out


def _compare(cv, df, day, reference):
    """``cv.split(df)`` equals ``reference`` (positions on the timeline) and keeps the invariants."""
    times = sorted(set(day))
    pos = {t: k for k, t in enumerate(times)}
    if any(not train for train, _ in reference):
        with pytest.raises(DataError, match="no training timestamps"):
            list(cv.split(df))
        return
    folds = list(cv.split(df))
    assert len(folds) == len(reference) == cv.get_n_splits(df)
    tested = []
    for (train, test), (want_train, want_test) in zip(folds, reference, strict=True):
        for idx in (train, test):
            assert idx.dtype == np.int64 and np.all(np.diff(idx) > 0)
        assert not set(train.tolist()) & set(test.tolist())
        train_ts = {pos[day[i]] for i in train}
        test_ts = {pos[day[i]] for i in test}
        assert sorted(train_ts) == want_train and sorted(test_ts) == want_test
        # all rows of a timestamp are on one side
        assert train.tolist() == [i for i, d in enumerate(day) if pos[d] in train_ts]
        assert test.tolist() == [i for i, d in enumerate(day) if pos[d] in test_ts]
        tested.extend(test_ts)
    return tested


horizons = st.one_of(st.integers(0, 4), st.sampled_from(["0d", "1d", "2d", "5d"]))
embargoes = st.one_of(st.integers(0, 3), st.sampled_from([0.0, 0.05, 0.1, 0.3]), st.sampled_from(["0d", "1d", "4d"]))


def _numbers_only(kind, horizon, embargo):
    """Integer timestamps take no durations: replace a duration horizon / embargo by 0."""
    if kind != "int":
        return horizon, embargo
    return (0 if isinstance(horizon, str) else horizon), (0 if isinstance(embargo, str) else embargo)


@given(panels(), st.integers(2, 6), horizons, embargoes, st.randoms(use_true_random=False))
def test_kfold_matches_reference(panel, n_splits, horizon, embargo, rnd):
    df, day, ends, kind = panel
    times = sorted(set(day))
    n_splits = min(n_splits, len(times))
    horizon, embargo = _numbers_only(kind, horizon, embargo)
    h = 0 if ends is not None else horizon
    cv = PurgedKFold(n_splits, label_horizon=h, embargo=embargo, label_end_col=None if ends is None else "t1")
    reference = _ref_kfold(times, _label_ends(times, day, ends, h), n_splits, embargo)
    tested = _compare(cv, df, day, reference)
    if tested is not None:
        assert sorted(tested) == list(range(len(times)))  # every timestamp tested exactly once
        # the guarantees, stated directly: no training label overlaps a test label; none in the embargo
        end = _label_ends(times, day, ends, h)
        kind, g = _embargo_days(embargo, len(times))
        for train, test in reference:
            last = max(end[j] for j in test)
            for k in train:
                assert not any(_overlap(times[k], end[k], times[j], end[j]) for j in test)
                if kind == "days":
                    assert not last < times[k] <= last + g
                else:
                    assert sum(last < t <= times[k] for t in times) > g or times[k] < times[test[0]]
        # row order does not matter: a shuffled frame gives the same timestamp sets
        perm = list(range(len(day)))
        rnd.shuffle(perm)
        _compare(cv, df[perm], [day[i] for i in perm], reference)
        # scikit-learn style: a feature matrix with the timestamps as groups
        ts = df["timestamp"]
        assert [(a.tolist(), b.tolist()) for a, b in cv.split(np.zeros((len(day), 2)), groups=df if ends else ts)] == [
            (a.tolist(), b.tolist()) for a, b in cv.split(df)
        ]


@given(
    panels(),
    st.integers(1, 6),
    st.integers(1, 4),
    st.one_of(st.none(), st.integers(1, 4)),
    st.booleans(),
    st.booleans(),
    horizons,
    embargoes,
)
def test_walk_forward_matches_reference(panel, train_size, test_size, step, anchored, durations, horizon, embargo):
    df, day, ends, kind = panel
    times = sorted(set(day))
    horizon, embargo = _numbers_only(kind, horizon, embargo)
    if durations and kind != "int":
        train_size, test_size, step = f"{train_size}d", f"{test_size}d", None if step is None else f"{step}d"
    h = 0 if ends is not None else horizon
    cv = WalkForward(
        train_size=train_size, test_size=test_size, step=step, anchored=anchored, label_horizon=h, embargo=embargo,
        label_end_col=None if ends is None else "t1",
    )  # fmt: skip
    ends_ = _label_ends(times, day, ends, h)
    reference = _ref_walk_forward(times, ends_, train_size, test_size, step, anchored, embargo)
    if not reference:
        with pytest.raises(DataError, match="no walk-forward fold fits"):
            list(cv.split(df))
        return
    _compare(cv, df, day, reference)
    if all(train for train, _ in reference):
        for train, test in cv.split(df):
            assert max(day[i] for i in train) < min(day[i] for i in test)  # train strictly precedes test
        d = cv.describe(df)
        assert d["n_train_timestamps"].to_list() == [len(t) for t, _ in reference]
        assert d["n_test_timestamps"].to_list() == [len(t) for _, t in reference]
