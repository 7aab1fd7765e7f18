"""The kernels' stable argsort equals numpy's stable argsort on any keys (ties keep their order)."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from ml4t_vec._kernels.sort import stable_argsort_nb


@given(st.lists(st.sampled_from([0.0, 1.0, 2.5, -3.0, np.inf, -np.inf]), max_size=70))
def test_stable_argsort_equals_numpy(values):
    keys = np.array(values, dtype=np.float64)
    assert stable_argsort_nb(keys, keys.shape[0]).tolist() == np.argsort(keys, kind="stable").tolist()
