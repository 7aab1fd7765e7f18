"""Each row's bar on the time axis, in any row order: the lattice table and the search agree with
numpy's searchsorted (regular bars with gaps, irregular times, one bar, pre-1970 times)."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from ml4t_vec._kernels import kernel_array
from ml4t_vec._kernels.grid import TABLE_SLACK, TABLE_SLOTS_PER_BAR, bar_index_nb

DAY_US = 86_400_000_000


@st.composite
def axes(draw):
    kind = draw(st.sampled_from(["lattice", "irregular", "sparse_lattice"]))
    n = draw(st.integers(1, 40))
    if kind == "lattice":  # daily bars with gaps, possibly before 1970
        step = draw(st.sampled_from([1, 60_000_000, DAY_US]))
        slots = draw(st.lists(st.integers(-500, 500), min_size=n, max_size=n, unique=True))
        union = np.array(sorted(slots), dtype=np.int64) * step
    elif kind == "sparse_lattice":  # two bars far apart on a fine lattice: too many slots, searched
        gap = 3 * (TABLE_SLOTS_PER_BAR * 3 + TABLE_SLACK + 1)
        union = np.array([0, 3, gap], dtype=np.int64)
    else:
        union = np.array(sorted(set(draw(st.lists(st.integers(-(10**15), 10**15), min_size=1, max_size=n)))))
    rows = draw(st.lists(st.integers(0, len(union) - 1), min_size=1, max_size=120))
    return union.astype(np.int64), np.array(rows, dtype=np.int64)


@given(axes(), st.integers(1, 5), st.randoms(use_true_random=False))
def test_bar_index_equals_searchsorted(axis, n_assets, rnd):
    union, rows = axis
    ts = union[rows]
    codes = np.array([rnd.randrange(n_assets) for _ in rows], dtype=np.int64)
    got = bar_index_nb(kernel_array(ts, np.int64), kernel_array(codes, np.int64), kernel_array(union, np.int64),
                       n_assets)  # fmt: skip
    assert got.tolist() == np.searchsorted(union, ts).tolist()
