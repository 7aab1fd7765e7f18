"""Per-column simulation state of the shared-cash driver (numpy arrays, one row per column)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

# float fields in ``fs[c, F_*]``, int fields in ``is_[c, I_*]``
(F_ENTRY_PRICE, F_ENTRY_FEES, F_ENTRY_SLIP, F_HI, F_LO, F_LAST_CLOSE, F_ANCHOR, F_PEAK, F_SL, F_TP, F_TSL, F_SLP,
 F_TPP) = range(13)  # fmt: skip
N_F = 13
I_ENTRY_BAR, I_ENTRY_CNT, I_NVALID, I_LAST_BAR, I_PENDING_BAR, I_RULE_EXIT_BAR, I_FORCE = range(7)
N_I = 7


class ColState(NamedTuple):
    """Mutable per-column state, length n_cols on axis 0 (a group uses its own rows).

    ``fs``: entry price/fees/slippage, highest and lowest price since entry (MFE/MAE), last
    close, the stop anchor, the trailing peak, the position's stop / target / trailing
    fractions and absolute stop / target levels (read at entry). ``is_``: entry bar, the
    column's bar count at entry (``bars_held`` counts the asset's own bars), bars seen, latest
    bar, bar of the pending order's signal, bar of the latest position-rule exit, and the exit
    reason a portfolio limit forced on the pending order (REASON_SIGNAL = none).
    """

    pos: np.ndarray  # float64 signed shares
    fs: np.ndarray  # float64 (n_cols, N_F)
    is_: np.ndarray  # int64 (n_cols, N_I)
    pending: np.ndarray  # int64 ACT_* waiting for the column's next bar
    n_fill: np.ndarray  # int64 records written so far
    n_trade: np.ndarray
    n_rej: np.ndarray
