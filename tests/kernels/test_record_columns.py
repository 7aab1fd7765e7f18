"""Record buffers to columns: ``_frames.columns`` (one transposing pass) gives every field exactly
as NumPy's field access does, for every record dtype the kernels write; the target-weight
driver's record room (``room_nb``, one pass) equals its NumPy definition."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ml4t_vec._frames import columns
from ml4t_vec._kernels.book import POSITION_DT
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
