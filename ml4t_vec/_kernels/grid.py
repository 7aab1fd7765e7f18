"""Placing long rows on the asset x bar grid, in any row order (numba, no Polars).

Prepare gives each row an asset code (its rank in asset order) and a bar index (its rank on the
time axis). These functions check that every asset's rows are in time order, find the layout
(asset-major blocks, timestamp-major blocks, or neither), and move per-row values onto a dense
(n_assets, n_bars) grid where a copy is needed. Prices of a complete panel are never copied:
the kernels read cell (asset a, bar t) of a long column at ``off[a] + t * step``.

Per-row and per-cell outputs (``out``, ``slots``...) are allocated by the caller with NumPy,
which backs large arrays with transparent huge pages: a fresh 20 MB array allocated inside a
numba function costs about three times the page faults (measured 18 vs 6 ms on 2.5 M rows).
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic

ORDER_OK = 0
ORDER_UNSORTED = 1  # an asset's timestamp goes backwards
ORDER_DUPLICATE = 2  # an asset's timestamp repeats


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _slot_nb(key, cap):
    h = key * np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing, then fold the high bits down
    h ^= h >> np.uint64(29)
    return np.int64(h & np.uint64(cap - 1))


@njit(cache=True, nogil=True, error_model="numpy")
def first_seen_codes_nb(keys, out):
    """Number distinct ``keys`` (uint64) in order of first appearance: the code of every row
    into ``out``; returns the first row of every code. An open-addressing hash table holding
    each slot's key beside its code (one probe reads one place), kept at most a quarter full
    (few collisions: a shuffled frame's lookups then rarely mispredict); O(rows), no sort."""
    n = keys.shape[0]
    cap = 4096
    slot_key = np.zeros(cap, dtype=np.uint64)
    slot_code = np.full(cap, -1, dtype=np.int64)
    first = np.empty(16, dtype=np.int64)  # code -> first row
    k = 0
    for i in range(n):
        key = keys[i]
        s = _slot_nb(key, cap)
        while True:
            code = slot_code[s]
            if code >= 0 and slot_key[s] == key:
                out[i] = code
                break
            if code < 0:
                if k == first.shape[0]:  # grow the code array
                    first2 = np.empty(2 * k, dtype=np.int64)
                    first2[:k] = first
                    first = first2
                first[k] = i
                slot_key[s] = key
                slot_code[s] = k
                out[i] = k
                k += 1
                if 4 * k > cap:  # rehash into a table twice the size
                    cap *= 2
                    key2 = np.zeros(cap, dtype=np.uint64)
                    code2 = np.full(cap, -1, dtype=np.int64)
                    for j in range(slot_key.shape[0]):
                        if slot_code[j] >= 0:
                            sj = _slot_nb(slot_key[j], cap)
                            while code2[sj] >= 0:
                                sj = (sj + 1) & (cap - 1)
                            key2[sj] = slot_key[j]
                            code2[sj] = slot_code[j]
                    slot_key = key2
                    slot_code = code2
                break
            s = (s + 1) & (cap - 1)
    return first[:k].copy()


@njit(cache=True, nogil=True, error_model="numpy")
def scan_blocks_nb(ts, starts):
    """Rows in contiguous blocks per asset (``starts``): is each block's time strictly increasing?

    Returns (ORDER_*, the first offending row or -1, complete) where ``complete`` means every
    block holds exactly the same timestamps (prices are read in place, no grid is built)."""
    n_blocks = starts.shape[0] - 1
    n0 = starts[1] - starts[0] if n_blocks > 0 else 0
    complete = True
    for k in range(n_blocks):
        s = starts[k]
        e = starts[k + 1]
        same = e - s == n0 and ts[s] == ts[0]
        for i in range(s + 1, e):
            if ts[i] <= ts[i - 1]:
                return (ORDER_DUPLICATE if ts[i] == ts[i - 1] else ORDER_UNSORTED), i, False
            if same and ts[i] != ts[i - s]:
                same = False
        complete = complete and same
    return ORDER_OK, -1, complete


@njit(cache=True, nogil=True, error_model="numpy")
def rank_codes_nb(keys2, seen, first, rank):
    """Codes by first appearance (``seen``) -> codes in asset order (``rank``), in place. Returns
    False (``seen`` then partly rewritten) if a second, independent hash of some row differs
    from that of its code's first row: two strings shared the first 64-bit hash."""
    for i in range(seen.shape[0]):
        c = seen[i]
        if keys2[i] != keys2[first[c]]:
            return False
        seen[i] = rank[c]
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def time_resets_nb(ts):
    """How many rows have a timestamp <= the row before: at most one per block in an asset-major
    frame, nearly every row in a timestamp-major or shuffled one."""
    k = 0
    for i in range(1, ts.shape[0]):
        k += ts[i] <= ts[i - 1]
    return k


@njit(cache=True, nogil=True, error_model="numpy")
def cell_order_nb(codes, bars, n_assets, n_bars, tmp, order, sorted_bars):
    """Rows in (asset, bar) order into ``order`` (and their bars into ``sorted_bars``), without a
    comparison sort: a stable counting sort by bar, then one by asset code (two passes over the
    rows, each writing to n_bars or n_assets sequential streams). The first pass leaves each
    row's code and row number packed in one int64 of ``tmp`` (code << 32 | row: fewer than 2**32
    rows), so the second reads one array in order. O(rows + n_assets + n_bars) whatever the
    number of cells. Returns the first row (in row order) whose (asset, bar) cell another row
    holds already, or -1."""
    n = codes.shape[0]
    by_bar = np.zeros(n_bars + 1, dtype=np.int64)
    by_code = np.zeros(n_assets + 1, dtype=np.int64)
    for i in range(n):
        by_bar[bars[i] + 1] += 1
        by_code[codes[i] + 1] += 1
    for t in range(n_bars):
        by_bar[t + 1] += by_bar[t]
    for a in range(n_assets):
        by_code[a + 1] += by_code[a]
    for i in range(n):
        p = by_bar[bars[i]]
        by_bar[bars[i]] = p + 1
        tmp[p] = (codes[i] << 32) | i
    # the first pass left by_bar[t] at the end of bar t's rows; the second writes (bar << 32 |
    # row) to one stream per code (two arrays there cost 1.5x), unpacked in order after
    low = np.int64(0xFFFFFFFF)
    p = 0
    for t in range(n_bars):
        while p < by_bar[t]:
            v = tmp[p]
            c = v >> 32
            q = by_code[c]
            by_code[c] = q + 1
            order[q] = (np.int64(t) << 32) | (v & low)
            p += 1
    for q in range(n):
        v = order[q]
        sorted_bars[q] = v >> 32
        order[q] = v & low
    # equal cells are adjacent within an asset's segment (by_code[a] is now its end), in row
    # order: the first repeat in row order is the smallest second row of a run
    dup = np.int64(-1)
    start = np.int64(0)
    for a in range(n_assets):
        for q in range(start + 1, by_code[a]):
            if sorted_bars[q] == sorted_bars[q - 1] and (dup < 0 or order[q] < dup):
                dup = order[q]
        start = by_code[a]
    return dup


@njit(cache=True, nogil=True, error_model="numpy")
def first_repeat_cell_nb(codes, bars, n_bars, seen, cells):
    """Each row's cell ``code * n_bars + bar`` of an asset-major grid into ``cells``; returns the
    first row (in row order) whose cell an earlier row holds, or -1: a bitmap of the cells
    (``seen``: zeroed uint8, one bit per cell; 1/64 of a price grid)."""
    for i in range(codes.shape[0]):
        c = codes[i] * n_bars + bars[i]
        byte = c >> 3
        bit = np.uint8(1) << np.uint8(c & 7)
        if seen[byte] & bit:
            return i
        seen[byte] |= bit
        cells[i] = c
    return -1


@njit(cache=True, nogil=True, error_model="numpy")
def time_order_nb(codes, ts, n_assets):
    """Is every asset's sequence of timestamps strictly increasing in row order?

    Returns (ORDER_*, the first offending row or -1)."""
    last = np.full(n_assets, np.iinfo(np.int64).min, dtype=np.int64)
    seen = np.zeros(n_assets, dtype=np.bool_)
    for i in range(codes.shape[0]):
        k = codes[i]
        if seen[k] and ts[i] <= last[k]:
            return (ORDER_DUPLICATE if ts[i] == last[k] else ORDER_UNSORTED), i
        seen[k] = True
        last[k] = ts[i]
    return ORDER_OK, -1


@njit(cache=True, nogil=True, error_model="numpy")
def bar_index_nb(ts, codes, union, n_assets, out):
    """Each row's position in the sorted time axis ``union``, into ``out``.

    Rows of one asset come in time order, so an asset's next bar is usually the one after its
    last (asset-major and timestamp-major layouts both hit that guess); else a binary search."""
    nxt = np.zeros(n_assets, dtype=np.int64)
    n = union.shape[0]
    for i in range(ts.shape[0]):
        k = codes[i]
        j = nxt[k]
        if j >= n or union[j] != ts[i]:
            j = np.searchsorted(union, ts[i])
        out[i] = j
        nxt[k] = j + 1


# A time axis on a regular lattice (every timestamp a whole number of steps from the first, as
# daily, hourly or minute bars with gaps are) is found with a bitmap of the lattice, in O(rows)
# in any row order, if the lattice has at most LATTICE_SLOTS_PER_ROW slots per row (+ slack).
LATTICE_SLOTS_PER_ROW = 4
LATTICE_SLACK = 1 << 20


@njit(cache=True, nogil=True, error_model="numpy")
def _gcd_nb(a, b):
    while b != 0:
        a, b = b, a % b
    return a


@njit(cache=True, nogil=True, error_model="numpy")
def _lattice_slots_nb(ts, lo, step, slots):
    """Each row's slot (ts - lo) / step into ``slots``, by a multiply and a check (no integer
    division); False if some row is off the lattice."""
    inv = 1.0 / step
    for i in range(ts.shape[0]):
        d = ts[i] - lo
        q = np.int64(d * inv)
        r = d - q * step
        if r < 0:
            q -= 1
            r += step
        elif r >= step:
            q += 1
            r -= step
        if r != 0:
            return False
        slots[i] = q
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def lattice_axis_nb(ts, slots):
    """The sorted distinct timestamps, each row's position among them into ``slots``; or an
    empty array when the timestamps are not on a small enough lattice (then sort and search).

    The step is the gcd of a sample of rows' offsets from the first timestamp, checked on every
    row (a multiply each); only if a row is off it is the gcd over all rows."""
    n = ts.shape[0]
    empty = np.empty(0, dtype=np.int64)
    lo = ts[0]
    hi = ts[0]
    for i in range(n):
        lo = min(lo, ts[i])
        hi = max(hi, ts[i])
    if hi - lo < 0:  # int64 overflow: a span of centuries in ns
        return empty
    if hi == lo:  # one timestamp
        slots[:] = 0
        return np.full(1, lo, dtype=np.int64)
    step = np.int64(0)
    for k in range(min(n, 4096)):
        step = _gcd_nb(step, ts[k * n // min(n, 4096)] - lo)
    if (
        step == 0
        or (hi - lo) // step + 1 > LATTICE_SLOTS_PER_ROW * n + LATTICE_SLACK
        or not _lattice_slots_nb(ts, lo, step, slots)
    ):
        step = np.int64(0)
        for i in range(n):
            step = _gcd_nb(step, ts[i] - lo)
        if (hi - lo) // step + 1 > LATTICE_SLOTS_PER_ROW * n + LATTICE_SLACK:
            return empty
        _lattice_slots_nb(ts, lo, step, slots)
    span = (hi - lo) // step + 1
    rank = np.full(span, -1, dtype=np.int64)
    for i in range(n):
        rank[slots[i]] = 0
    k = 0
    for j in range(span):
        if rank[j] == 0:
            rank[j] = k
            k += 1
    union = np.empty(k, dtype=np.int64)
    for j in range(span):
        if rank[j] >= 0:
            union[rank[j]] = lo + j * step
    for i in range(n):
        slots[i] = rank[slots[i]]
    return union


@njit(cache=True, nogil=True, error_model="numpy")
def timestamp_blocks_nb(ts, width):
    """Rows in blocks of ``width`` that each hold one timestamp, increasing from block to block
    (a complete panel sorted by timestamp)?"""
    n = ts.shape[0]
    if width == 0 or n % width != 0:
        return False
    for b in range(n // width):
        s = b * width
        if b > 0 and ts[s] <= ts[s - 1]:
            return False
        for i in range(s + 1, s + width):
            if ts[i] != ts[s]:
                return False
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def first_bad_bar_nb(open_, high, low, close, extra):
    """Row of the first invalid bar, or -1: a price not finite or <= 0, high < low, or open/close
    outside [low, high]. ``extra`` (a custom fill price, or an empty array) must be finite > 0.

    Checks chunks of rows with a branch-free test that vectorises, then looks for the row in
    the first bad chunk. Serial: 5 ms on 2.5 M rows, and a parallel loop cost every first run
    about a second more of compiling (measured 2026-11-27)."""
    n = close.shape[0]
    chunk = 1 << 14
    n_chunks = (n + chunk - 1) // chunk
    bad = np.zeros(n_chunks, dtype=np.bool_)
    for k in range(n_chunks):
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


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _bar_ok(o, h, lo, c):
    # bitwise & (no short circuit) so the loop vectorises; NaN fails every comparison
    return (o > 0.0) & (c > 0.0) & (lo > 0.0) & (h < np.inf) & (lo <= o) & (o <= h) & (lo <= c) & (c <= h)


@njit(cache=True, nogil=True, error_model="numpy")
def to_grid_nb(values, off, step, codes, bars, fill, out):
    """Per-row ``values`` on the (n_assets, n_bars) grid ``out``.

    A complete panel (``codes`` empty): cell (a, t) is row ``off[a] + t * step``. Otherwise
    row i goes to cell (codes[i], bars[i]) and cells without a row get ``fill`` (a scatter in
    row order was faster than writing the grid in order from a timestamp-major input). Every
    row has a cell of its own (``place`` refuses duplicates)."""
    n_assets, n_bars = out.shape
    if codes.shape[0] == 0:
        for a in range(n_assets):
            for t in range(n_bars):
                out[a, t] = values[off[a] + t * step]
        return
    if codes.shape[0] < out.size:  # as many rows as cells (each its own): every cell is written
        out[:] = fill
    for i in range(codes.shape[0]):
        out[codes[i], bars[i]] = values[i]


@njit(cache=True, nogil=True, error_model="numpy")
def cells_nb(codes, bars, off, step, out):
    """Each row's cell ``off[code] + bar * step`` in a flat price grid, into ``out``."""
    for i in range(codes.shape[0]):
        out[i] = off[codes[i]] + bars[i] * step


@njit(cache=True, nogil=True, error_model="numpy")
def runs_nb(codes, bars, off, step, max_runs):
    """Runs of rows that go to consecutive cells (``off[code] + bar * step``), as (first row,
    first cell) per run plus a closing (rows, -1), when the cells rise with the rows and there
    are at most ``max_runs`` runs (an asset-major ragged panel has about one per asset); else
    an empty array (then the rows are scattered by cell)."""
    n = codes.shape[0]
    k = 0
    last = np.int64(-2)
    for i in range(n):
        c = off[codes[i]] + bars[i] * step
        if c != last + 1:
            if c <= last or k == max_runs:
                return np.empty((0, 2), dtype=np.int64)
            k += 1
        last = c
    out = np.empty((k + 1, 2), dtype=np.int64)
    k = 0
    last = np.int64(-2)
    for i in range(n):
        c = off[codes[i]] + bars[i] * step
        if c != last + 1:
            out[k, 0] = i
            out[k, 1] = c
            k += 1
        last = c
    out[k, 0] = n
    out[k, 1] = -1
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def place_column_nb(values, cells, runs, out):
    """Per-row ``values`` into the flat float64 grid ``out``; NaN where no row goes (a bar the
    asset does not trade). With ``runs`` (``runs_nb``) the grid is written once, in order, a
    block copy per run; else row i is scattered to ``cells[i]``. (``out`` comes from NumPy,
    which backs large arrays with huge pages: a fresh 20 MB grid allocated here costs 3x the
    page faults.)"""
    if runs.shape[0] == 0:
        if cells.shape[0] < out.shape[0]:  # as many rows as cells (each its own): every cell is written
            out[:] = np.nan
        for i in range(cells.shape[0]):
            out[cells[i]] = values[i]
        return
    nxt = np.int64(0)
    for k in range(runs.shape[0] - 1):
        r0, c0 = runs[k, 0], runs[k, 1]
        m = runs[k + 1, 0] - r0
        out[nxt:c0] = np.nan
        out[c0 : c0 + m] = values[r0 : r0 + m]
        nxt = c0 + m
    out[nxt:] = np.nan


@intrinsic
def readonly_nb(typingctx, arr):
    """``arr`` typed as a read-only array (the same memory, no copy).

    Every kernel input is read-only (``kernel_array``), and numba compiles a function once per
    combination of argument types, writability included. A kernel that fills a scratch array
    and hands it to a function that otherwise takes inputs passes it through this, so that
    function is compiled once, not twice."""
    if not isinstance(arr, types.Array):
        return None
    sig = arr.copy(readonly=True)(arr)

    def codegen(context, builder, signature, args):
        return impl_ret_borrowed(context, builder, signature.return_type, args[0])

    return sig, codegen


@njit(cache=True, nogil=True, error_model="numpy")
def gather_assets_nb(src, off, step, assets, out, n_bars):
    """Copy the price column ``src`` (cell (a, t) at ``off[a] + t * step``) of ``assets`` into
    ``out`` asset-major: asset j's bar t at ``j * n_bars + t``. Tiles of 64 bars keep both
    sides in cache (a plain transpose loop was 8x slower)."""
    n = assets.shape[0]
    for t0 in range(0, n_bars, 64):
        t1 = min(n_bars, t0 + 64)
        for j in range(n):
            b = off[assets[j]]
            o = j * n_bars
            for t in range(t0, t1):
                out[o + t] = src[b + t * step]


@njit(cache=True, nogil=True, error_model="numpy")
def previous_row_nb(values, sig, valid):
    """Each cell's value from its asset's previous row: ``values`` and ``sig`` are (n_assets,
    n_bars) grids, a row where ``sig & valid``; NaN on an asset's first row and on cells
    without a row. The market impact's coefficient is read so (``impact.SquareRootImpact``): a
    fill never sees its own bar's inputs."""
    out = np.empty_like(values)
    for a in range(values.shape[0]):
        prev = np.nan
        for t in range(values.shape[1]):
            if sig[a, t] & valid:
                out[a, t] = prev
                prev = values[a, t]
            else:
                out[a, t] = np.nan
    return out
