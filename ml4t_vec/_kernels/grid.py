"""Dense asset x bar grid from long data sorted by (asset, timestamp) (numba, no Polars)."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ml4t_vec._kernels.codes import SIG_VALID

BLOCKS_OK = 0
BLOCKS_UNSORTED = 1  # a timestamp goes backwards inside an asset's block
BLOCKS_DUPLICATE = 2  # a timestamp repeats inside an asset's block


@njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def scan_blocks_nb(ts, starts):
    """Check each asset block ``ts[starts[k]:starts[k+1]]`` is strictly increasing.

    Returns (status BLOCKS_*, row of the first offence or -1, dense) where ``dense`` means every
    block holds exactly the same timestamps (a complete panel: the grid is a reshape). Blocks
    are scanned in parallel; the earliest offence wins.
    """
    n_blocks = starts.shape[0] - 1
    n0 = starts[1] - starts[0] if n_blocks > 0 else 0
    bad_row = np.full(n_blocks, -1, dtype=np.int64)
    same = np.ones(n_blocks, dtype=np.bool_)
    for k in prange(n_blocks):
        s = starts[k]
        e = starts[k + 1]
        eq = e - s == n0
        for i in range(s + 1, e):
            if ts[i] <= ts[i - 1]:
                bad_row[k] = i
                break
            if eq and ts[i] != ts[i - s]:
                eq = False
        same[k] = eq and (e == s or ts[s] == ts[0])
    for k in range(n_blocks):
        i = bad_row[k]
        if i >= 0:
            return (BLOCKS_UNSORTED if ts[i] < ts[i - 1] else BLOCKS_DUPLICATE), i, False
    return BLOCKS_OK, -1, bool(np.all(same))


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _bar_ok(o, h, lo, c):
    # bitwise & (no short circuit) so the loop vectorises; NaN fails every comparison
    return (o > 0.0) & (c > 0.0) & (lo > 0.0) & (h < np.inf) & (lo <= o) & (o <= h) & (lo <= c) & (c <= h)


@njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def first_bad_bar_nb(open_, high, low, close, extra):
    """Row of the first invalid bar, or -1: a price not finite or <= 0, high < low, or open/close
    outside [low, high]. ``extra`` (a custom fill price, or an empty array) must be finite > 0.

    Checks chunks in parallel (a validation pass, not a simulation: no state crosses rows).
    """
    n = close.shape[0]
    chunk = 1 << 14
    n_chunks = (n + chunk - 1) // chunk
    bad = np.zeros(n_chunks, dtype=np.bool_)
    for k in prange(n_chunks):
        ok = True
        for i in range(k * chunk, min(n, (k + 1) * chunk)):
            ok &= _bar_ok(open_[i], high[i], low[i], close[i])
        if extra.shape[0]:
            for i in range(k * chunk, min(n, (k + 1) * chunk)):
                ok &= (extra[i] > 0.0) & (extra[i] < np.inf)
        bad[k] = not ok
    for k in range(n_chunks):
        if bad[k]:
            for i in range(k * chunk, min(n, (k + 1) * chunk)):
                if not _bar_ok(open_[i], high[i], low[i], close[i]):
                    return i
                if extra.shape[0] and not ((extra[i] > 0.0) & (extra[i] < np.inf)):
                    return i
    return -1


@njit(cache=True, nogil=True, error_model="numpy")
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


@njit(cache=True, nogil=True, error_model="numpy")
def scatter_nb(values, starts, bar, n_bars, fill):
    """Place row values on a (n_blocks, n_bars) grid; cells without a row get ``fill``."""
    n_blocks = starts.shape[0] - 1
    out = np.full((n_blocks, n_bars), fill, dtype=values.dtype)
    for k in range(n_blocks):
        for i in range(starts[k], starts[k + 1]):
            out[k, bar[i]] = values[i]
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def scatter_sig_nb(bits, starts, bar, n_bars):
    """Signal bits on the grid, with SIG_VALID set on every cell that has a row."""
    n_blocks = starts.shape[0] - 1
    out = np.zeros((n_blocks, n_bars), dtype=np.uint8)
    for k in range(n_blocks):
        for i in range(starts[k], starts[k + 1]):
            out[k, bar[i]] = bits[i] | SIG_VALID
    return out
