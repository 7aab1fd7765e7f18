"""Record buffers never overflow: a run whose records need more room than reserved runs again
with exact room and gives the same result (writers count every record and write only where
the column has room; CI also runs the kernels with NUMBA_BOUNDSCHECK=1)."""

import numpy as np
import polars as pl
import pytest

import ml4t_vec as vec
from ml4t_vec._kernels import simulate as sim_mod


@pytest.mark.parametrize("cash_sharing", [True, False])
def test_too_little_room_reruns_with_exact_room(monkeypatch, cash_sharing):
    prices = vec.synthetic_prices(n_assets=3, n_bars=120, seed=3)
    kw = dict(entries=pl.col("pred") > 0.6, exits=pl.col("pred") < 0.4, short_entries=pl.col("pred") < 0.3,
              cash_sharing=cash_sharing, stop_loss=0.02, size=0.3, fees=0.001)  # fmt: skip
    want = vec.backtest(prices, **kw)
    real = sim_mod.count_entries_nb
    runs = []

    def stingy(sig, signal_exits_only):  # bounds far too small: every column overflows
        n_entry, n_trade = real(sig, signal_exits_only)
        runs.append(1)
        return np.minimum(n_entry, 1), np.minimum(n_trade, 1)

    real_run = sim_mod._run
    passes = []
    monkeypatch.setattr(sim_mod, "count_entries_nb", stingy)
    monkeypatch.setattr(sim_mod, "_run", lambda *a: passes.append(1) or real_run(*a))
    got = vec.backtest(prices, **kw)
    assert runs and len(passes) == 2 and want.trades.height > 6  # the first pass ran out of room
    for name in ("trades", "fills", "rejected", "equity"):
        assert getattr(got, name).equals(getattr(want, name)), name
