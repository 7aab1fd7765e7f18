"""Record buffers never overflow: a run whose records need more room than reserved runs again
with exact room and gives the same result (writers count every record and write only where
the column has room; CI also runs the kernels with NUMBA_BOUNDSCHECK=1)."""

import numpy as np
import polars as pl
import pytest

import ml4t_vec as vec
from ml4t_vec._kernels import launch as sim_mod


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


def test_weights_too_little_room_reruns_with_exact_room(monkeypatch):
    """The target-weight driver appends records in time order and groups them by column after
    the run: with room for one record of each kind, the run repeats once with exact room and
    gives the same frames (the records of a reversal's two fills and of a reduction included)."""
    from ml4t_vec import _rebalance

    prices = vec.synthetic_prices(n_assets=4, n_bars=80, seed=5)
    score = pl.col("pred").rank().over("timestamp")
    w = pl.when(score == 4).then(0.5).when(score == 1).then(-0.4).otherwise(0.1)
    kw = dict(weights=w, rebalance=3, fees=0.001, fixed_fees=0.5)
    want = vec.backtest(prices, **kw)
    real_room, real_kernel = _rebalance._room, _rebalance.rebalance_nb
    runs = []
    monkeypatch.setattr(_rebalance, "_room", lambda *a: tuple(np.zeros_like(x) for x in real_room(*a)))

    def counting(*args):
        runs.append(1)
        return real_kernel(*args)

    counting.signatures = real_kernel.signatures  # the compile notice asks
    monkeypatch.setattr(_rebalance, "rebalance_nb", counting)
    got = vec.backtest(prices, **kw)
    assert len(runs) == 2 and want.trades.height > 10 and (want.fills["effect"] == "reduce").any()
    for name in ("trades", "fills", "rejected", "equity", "positions"):
        assert getattr(got, name).equals(getattr(want, name)), name
