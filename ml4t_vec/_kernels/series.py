"""Portfolio time series from per-column kernel outputs (numba)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, error_model="numpy")
def drawdown_nb(equity, start):
    """equity / running peak - 1, the peak starting at ``start`` (the initial cash)."""
    out = np.empty_like(equity)
    peak = start
    for t in range(equity.shape[0]):
        if equity[t] > peak:
            peak = equity[t]
        out[t] = equity[t] / peak - 1.0 if peak > 0.0 else 0.0
    return out
