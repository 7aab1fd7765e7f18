"""Portfolio time series from per-column kernel outputs (numba)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def portfolio_series_nb(cash, value):
    """Sum groups' cash and columns' position values per bar.

    Returns (equity, cash, gross_exposure, net_exposure), each (n_bars,).
    """
    n_bars = cash.shape[1]
    tot_cash = np.zeros(n_bars)
    gross = np.zeros(n_bars)
    net = np.zeros(n_bars)
    for g in range(cash.shape[0]):
        for t in range(n_bars):
            tot_cash[t] += cash[g, t]
    for c in range(value.shape[0]):
        for t in range(n_bars):
            v = value[c, t]
            net[t] += v
            gross[t] += abs(v)
    return tot_cash + net, tot_cash, gross, net


@njit(cache=True, nogil=True)
def drawdown_nb(equity, start):
    """equity / running peak - 1, the peak starting at ``start`` (the initial cash)."""
    out = np.empty_like(equity)
    peak = start
    for t in range(equity.shape[0]):
        if equity[t] > peak:
            peak = equity[t]
        out[t] = equity[t] / peak - 1.0 if peak > 0.0 else 0.0
    return out
