"""A column's settings as one record (``COLUMN_DT``): what the signal driver reads per column.

``OrderParams`` and ``RiskParams`` hold one array per setting, which suits Prepare, sweeps and
broadcasting. Inside the bar loop and the fill functions the driver reads the one-value-per-
column settings from a structured array instead (``cols[c]["fees"]``): one array to keep at hand
rather than ~25, and a record passed to a helper costs no reference counting. Measured on
scenario A (2,520 x 1,000 independent accounts, the kernel alone): passing the tuples of arrays
to every fill phase took 83 ms, the records 63 ms (the other changes of README "Kernel layout"
then brought it to about 19 ms).
The settings that vary per bar (size, spread, fees read per bar, market impact, rule fractions and
levels, priority) stay 2-D arrays.
"""

from __future__ import annotations

import typing

import numpy as np

from ml4t_vec._kernels.codes import MAX_TIERS
from ml4t_vec._kernels.orders import OrderParams
from ml4t_vec._kernels.risk import RiskParams

# the per-bar settings and the scale-out steps stay arrays; every other field of the two tuples is
# one value per column
PER_BAR = ("size", "spread", "fees_bar", "fixed_fees_bar", "per_share_bar", "impact", "stop_loss", "take_profit",
           "trailing_stop", "stop_loss_price", "take_profit_price", "scale_out", "limit_price",
           "stop_price")  # fmt: skip


# fields with several values per column (a nested array in the record)
NESTED = {"tiers": (2 * MAX_TIERS,)}


def _fields(cls) -> list[tuple]:
    """(name, dtype[, shape]) of ``cls``'s per-column fields, from their declared dtypes."""
    hints = typing.get_type_hints(cls, include_extras=True)
    return [(k, hints[k].__metadata__[0], *((NESTED[k],) if k in NESTED else ())) for k in cls._fields
            if k not in PER_BAR]  # fmt: skip


# the nested fields last: the fields a fill reads stay together in the record's first cache lines
# (measured: moving the 128-byte tier table here changed scenario A's kernel by about 1%)
_ALL = _fields(OrderParams) + _fields(RiskParams)
COLUMN_DT = np.dtype([f for f in _ALL if f[0] not in NESTED] + [f for f in _ALL if f[0] in NESTED], align=True)


def column_settings(p: OrderParams, rp: RiskParams) -> np.ndarray:
    """(n_cols,) ``COLUMN_DT`` records from the per-column arrays of ``p`` and ``rp``."""
    out = np.empty(p.fees.shape[0], dtype=COLUMN_DT)
    for params in (p, rp):
        for name, *_ in _fields(type(params)):
            out[name] = getattr(params, name)
    return out
