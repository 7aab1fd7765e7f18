"""Dense asset x bar grid from long data sorted by (asset, timestamp) (numba, no Polars)."""

from __future__ import annotations

import numpy as np
from numba import njit

from ml4t_vec._kernels.codes import SIG_VALID

BLOCKS_OK = 0
BLOCKS_UNSORTED = 1  # a timestamp goes backwards inside an asset's block
BLOCKS_DUPLICATE = 2  # a timestamp repeats inside an asset's block


@njit(cache=True, nogil=True)
def scan_blocks_nb(ts, starts):
    """Check each asset block ``ts[starts[k]:starts[k+1]]`` is strictly increasing.

    Returns (status BLOCKS_*, row of the first offence or -1, dense) where ``dense`` means every
    block holds exactly the same timestamps (a complete panel: the grid is a reshape).
    """
    n_blocks = starts.shape[0] - 1
    for k in range(n_blocks):
        for i in range(starts[k] + 1, starts[k + 1]):
            if ts[i] < ts[i - 1]:
                return BLOCKS_UNSORTED, i, False
            if ts[i] == ts[i - 1]:
                return BLOCKS_DUPLICATE, i, False
    n0 = starts[1] - starts[0] if n_blocks > 0 else 0
    for k in range(1, n_blocks):
        if starts[k + 1] - starts[k] != n0:
            return BLOCKS_OK, -1, False
        s = starts[k]
        for i in range(n0):
            if ts[s + i] != ts[i]:
                return BLOCKS_OK, -1, False
    return BLOCKS_OK, -1, True


@njit(cache=True, nogil=True)
def bar_index_nb(ts, starts, union):
    """Position of every row's timestamp in the sorted ``union`` (a merge walk per block)."""
    out = np.empty(ts.shape[0], dtype=np.int64)
    for k in range(starts.shape[0] - 1):
        j = 0
        for i in range(starts[k], starts[k + 1]):
            while union[j] < ts[i]:
                j += 1
            out[i] = j
    return out


@njit(cache=True, nogil=True)
def scatter_nb(values, starts, bar, n_bars, fill):
    """Place row values on a (n_blocks, n_bars) grid; cells without a row get ``fill``."""
    n_blocks = starts.shape[0] - 1
    out = np.full((n_blocks, n_bars), fill, dtype=values.dtype)
    for k in range(n_blocks):
        for i in range(starts[k], starts[k + 1]):
            out[k, bar[i]] = values[i]
    return out


@njit(cache=True, nogil=True)
def scatter_sig_nb(bits, starts, bar, n_bars):
    """Signal bits on the grid, with SIG_VALID set on every cell that has a row."""
    n_blocks = starts.shape[0] - 1
    out = np.zeros((n_blocks, n_bars), dtype=np.uint8)
    for k in range(n_blocks):
        for i in range(starts[k], starts[k + 1]):
            out[k, bar[i]] = bits[i] | SIG_VALID
    return out
