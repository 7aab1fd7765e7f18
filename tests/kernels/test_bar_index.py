"""The time axis and each row's bar, in any row order: the lattice bitmap (regular bars with gaps,
pre-1970 times, one timestamp) and the search (irregular times, a lattice too sparse for a bitmap)
agree with numpy's unique and searchsorted."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from ml4t_vec._kernels import kernel_array
from ml4t_vec._kernels.grid import LATTICE_SLACK, LATTICE_SLOTS_PER_ROW, bar_index_nb, lattice_axis_nb

DAY_US = 86_400_000_000


@st.composite
def timestamps(draw):
    kind = draw(st.sampled_from(["lattice", "irregular", "sparse_lattice"]))
    n = draw(st.integers(1, 40))
    if kind == "lattice":  # bars with gaps on a lattice of a microsecond, a minute or a day, around 1970
        step = draw(st.sampled_from([1, 60_000_000, DAY_US]))
        slots = draw(st.lists(st.integers(-500, 500), min_size=n, max_size=n, unique=True))
        axis = np.array(sorted(slots), dtype=np.int64) * step
    elif kind == "sparse_lattice":  # two bars far apart on a fine lattice: too many slots for a bitmap
        axis = np.array([0, 3, 3 * (LATTICE_SLOTS_PER_ROW * 200 + LATTICE_SLACK + 1)], dtype=np.int64)
    else:
        axis = np.array(sorted(set(draw(st.lists(st.integers(-(10**15), 10**15), min_size=1, max_size=n)))))
    rows = draw(st.lists(st.integers(0, len(axis) - 1), min_size=1, max_size=120))
    if kind == "sparse_lattice":
        rows += [0, 1, 2]  # both ends of the span, and the fine step
    return kind, axis.astype(np.int64)[rows]


@given(timestamps(), st.integers(1, 5), st.randoms(use_true_random=False))
def test_time_axis_and_bars_equal_numpy(drawn, n_assets, rnd):
    kind, ts = drawn
    want_axis = np.unique(ts)
    want_bars = np.searchsorted(want_axis, ts)
    bars = np.empty(len(ts), dtype=np.int64)
    axis = lattice_axis_nb(kernel_array(ts, np.int64), bars)
    if kind == "lattice":
        assert axis.shape[0] > 0, "a lattice of a few hundred slots gets a bitmap"
    if kind == "sparse_lattice":
        assert axis.shape[0] == 0, "millions of empty slots per row: no bitmap"
    if axis.shape[0]:
        assert axis.tolist() == want_axis.tolist()
        assert bars.tolist() == want_bars.tolist()
    codes = np.array([rnd.randrange(n_assets) for _ in ts], dtype=np.int64)
    got = np.empty(len(ts), dtype=np.int64)
    bar_index_nb(kernel_array(ts, np.int64), kernel_array(codes, np.int64), kernel_array(want_axis, np.int64),
                 n_assets, got)  # fmt: skip
    assert got.tolist() == want_bars.tolist()


def test_a_row_off_the_sampled_lattice_refines_the_step():
    """The step is first taken from a sample of rows; a row between the sample's lattice points
    (row 1 of 10,000 is not sampled) makes it the gcd over all rows."""
    rng = np.random.default_rng(7)
    ts = rng.integers(0, 3_000, 10_000).astype(np.int64) * DAY_US
    ts[1] = 1_234 * DAY_US + DAY_US // 2  # half a day: the lattice is 12 hours
    bars = np.empty(len(ts), dtype=np.int64)
    axis = lattice_axis_nb(kernel_array(ts, np.int64), bars)
    assert axis.tolist() == np.unique(ts).tolist()
    assert bars.tolist() == np.searchsorted(np.unique(ts), ts).tolist()
