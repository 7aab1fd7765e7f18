"""A stable argsort for the kernels (numba).

The drivers rank a phase's entries (by priority, by signal age) and the positions a leverage
breach closes (largest first). ``np.argsort(kind="mergesort")`` does that too, but its generic
implementation and the shape-checked fancy indexing around it cost several seconds of every
cold compile (measured with numba's compile events); this bottom-up merge sort compiles in a
fraction of that.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, error_model="numpy")
def stable_argsort_nb(keys, n):
    """Indices that sort ``keys[:n]`` ascending; equal keys keep their order (a merge sort)."""
    idx = np.arange(n)
    tmp = np.empty(n, dtype=np.int64)
    width = 1
    while width < n:
        for lo in range(0, n, 2 * width):
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            i, j, k = lo, mid, lo
            while i < mid and j < hi:
                if keys[idx[j]] < keys[idx[i]]:  # strictly smaller only: stable
                    tmp[k] = idx[j]
                    j += 1
                else:
                    tmp[k] = idx[i]
                    i += 1
                k += 1
            while i < mid:
                tmp[k] = idx[i]
                i += 1
                k += 1
            while j < hi:
                tmp[k] = idx[j]
                j += 1
                k += 1
        idx, tmp = tmp, idx
        width *= 2
    return idx
