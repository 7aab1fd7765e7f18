"""Record buffers to columns: ``_frames.columns`` (one transposing pass) gives every field exactly
as NumPy's field access does, for every record dtype the kernels write, also grouping records
by column on the way (``book.record_columns``: a buffer written in time order, or a slice
sink's slices); the target-weight driver's record room (``room_nb``, one pass) equals its NumPy
definition."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ml4t_vec._frames import columns
from ml4t_vec._kernels.book import POSITION_DT, record_columns
from ml4t_vec._kernels.codes import FILL_DT, REJECT_DT, TRADE_DT
from ml4t_vec._rebalance import _room


@settings(max_examples=40)
@given(st.sampled_from([FILL_DT, TRADE_DT, REJECT_DT, POSITION_DT]), st.integers(0, 50), st.integers(0, 2**32 - 1))
def test_columns_equal_field_access(dt, n, seed):
    rng = np.random.default_rng(seed)
    rec = np.frombuffer(rng.bytes(n * dt.itemsize), dtype=dt).copy()  # every byte random (NaNs, negatives)
    got = columns(rec)
    assert list(got) == list(dt.names)
    for name in dt.names:
        want = rec[name]
        assert got[name].dtype == want.dtype and got[name].shape == want.shape, name
        assert got[name].tobytes() == np.ascontiguousarray(want).tobytes(), name


def _random_records(rng, dt, n, n_cols):
    rec = np.frombuffer(rng.bytes(n * dt.itemsize), dtype=dt).copy()
    rec["col"] = rng.integers(0, n_cols, n)
    return rec


def _same(got, want):
    assert list(got) == list(want.dtype.names)
    for name in want.dtype.names:
        assert got[name].tobytes() == np.ascontiguousarray(want[name]).tobytes(), name


RECORD_DTS = st.sampled_from([FILL_DT, TRADE_DT, REJECT_DT])


@settings(max_examples=40)
@given(RECORD_DTS, st.integers(0, 60), st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_columns_grouped_by_column_equal_a_stable_sort(dt, n, n_cols, seed):
    rng = np.random.default_rng(seed)
    rec = _random_records(rng, dt, n, n_cols)
    room = np.concatenate([rec, _random_records(rng, dt, 3, n_cols)])  # rows past the counts are not read
    counts = np.bincount(rec["col"], minlength=n_cols).astype(np.int64)
    _same(record_columns(room, counts), rec[np.argsort(rec["col"], kind="stable")])


@settings(max_examples=40)
@given(RECORD_DTS, st.lists(st.integers(0, 6), min_size=1, max_size=5), st.integers(0, 2**32 - 1))
def test_columns_of_a_slice_sink(dt, counts, seed):
    rng = np.random.default_rng(seed)
    caps = np.array(counts) + rng.integers(0, 3, len(counts))  # each slice has room past its records
    off = np.concatenate([[0], np.cumsum(caps)]).astype(np.int64)
    rec = _random_records(rng, dt, int(off[-1]), len(counts))
    counts = np.array(counts, dtype=np.int64)
    want = np.concatenate([rec[off[c] : off[c] + counts[c]] for c in range(len(counts))])
    _same(record_columns(rec, counts, off), want)


def test_other_record_dtypes_group_field_by_field():
    """A dtype the word pass cannot split (a 4-byte field) is grouped and copied field by field."""
    dt = np.dtype([("col", np.int64), ("x", np.float32), ("k", np.int8)], align=True)
    rec = np.zeros(7, dtype=dt)
    rec["col"] = [2, 0, 1, 0, 2, 9, 9]  # the last two: room past the counts
    rec["x"] = np.arange(7)
    got = record_columns(rec, np.array([2, 1, 2], dtype=np.int64))
    assert got["col"].tolist() == [0, 0, 1, 2, 2] and got["x"].tolist() == [1.0, 3.0, 2.0, 0.0, 4.0]
    off = np.array([0, 3, 5], dtype=np.int64)  # slices: column 0 at rows 0.., 1 at 3.., 2 at 5..
    got = record_columns(rec, np.array([2, 1, 1], dtype=np.int64), off)
    assert got["x"].tolist() == [0.0, 1.0, 3.0, 5.0]


def test_columns_of_a_strided_buffer():
    rec = np.zeros(6, dtype=FILL_DT)
    rec["col"] = np.arange(6)
    rec["side"] = [1, -1, 1, -1, 1, -1]
    got = columns(rec[::2])  # not contiguous: field by field
    assert got["col"].tolist() == [0, 2, 4] and got["side"].tolist() == [1, 1, 1]


def _room_numpy(w, rebal, hold):
    wr = w[:, rebal]
    if not hold:
        wr = np.nan_to_num(wr)
    nz = ~np.isnan(wr) & (wr != 0.0)
    prev = np.zeros_like(nz)
    prev[:, 1:] = nz[:, :-1]
    sign = np.sign(np.where(nz, wr, 0.0))
    flips = np.zeros_like(nz)
    flips[:, 1:] = sign[:, 1:] * sign[:, :-1] < 0
    return (nz | prev).sum(axis=1) + 2, flips.sum(axis=1)


@settings(max_examples=60)
@given(st.integers(1, 6), st.integers(0, 25), st.booleans(), st.integers(0, 2**32 - 1))
def test_weight_room_equals_numpy(n_cols, n_bars, hold, seed):
    rng = np.random.default_rng(seed)
    w = rng.choice([np.nan, 0.0, 0.25, -0.5, 5e-324], size=(n_cols, n_bars))
    rebal = rng.random(n_bars) < 0.6
    orders, flips = _room(w, rebal, hold)
    want_orders, want_flips = _room_numpy(w, rebal, hold)
    assert orders.tolist() == want_orders.tolist() and flips.tolist() == want_flips.tolist()
