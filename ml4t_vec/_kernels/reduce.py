"""Per-combination metrics from the kernel's portfolio series and records (numba), for sweeps.

Each formula is the one ``ml4t_vec.metrics.compute_stats`` applies to a backtest's frames
(tests/property/test_sweep.py checks the two agree), computed without building frames.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

# columns of the series metrics, in this order
SERIES_METRICS = ("final_equity", "total_return", "cagr", "volatility", "sharpe", "sortino", "max_drawdown",
                  "calmar", "exposure")  # fmt: skip
# columns of the trade metrics, in this order
TRADE_METRICS = ("n_trades", "n_open", "win_rate", "profit_factor", "expectancy", "avg_win", "avg_loss",
                 "avg_bars_held", "total_fees", "total_slippage", "turnover")  # fmt: skip


@njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def series_metrics_nb(series, init, ppy):
    """``series`` (n, 3, n_bars): cash, net and gross position value per bar of n portfolios;
    ``init`` (n,) their initial cash. Returns (n, len(SERIES_METRICS)) float64 and the mean
    equity per portfolio (for turnover)."""
    n, _, n_bars = series.shape
    out = np.empty((n, len(SERIES_METRICS)))
    mean_eq = np.empty(n)
    for k in prange(n):
        prev = init[k]
        peak = init[k]
        s = 0.0
        s2 = 0.0
        down = 0.0
        mdd = 0.0
        exposed = 0
        eq_sum = 0.0
        rs = np.empty(n_bars)
        eq = init[k]
        for t in range(n_bars):
            eq = series[k, 0, t] + series[k, 1, t]
            r = eq / prev - 1.0 if prev != 0.0 else 0.0
            rs[t] = r
            s += r
            down += min(r, 0.0) ** 2
            if eq > peak:
                peak = eq
            dd = eq / peak - 1.0 if peak > 0.0 else 0.0
            if dd < mdd:
                mdd = dd
            if series[k, 2, t] > 0.0:
                exposed += 1
            eq_sum += eq
            prev = eq
        final = eq if n_bars else init[k]
        mean = s / n_bars if n_bars else 0.0
        for t in range(n_bars):  # two-pass variance, like numpy's std
            s2 += (rs[t] - mean) ** 2
        sd = math.sqrt(s2 / (n_bars - 1)) if n_bars > 1 else 0.0
        downside = math.sqrt(down / n_bars) if n_bars else 0.0
        years = n_bars / ppy
        cagr = (final / init[k]) ** (1.0 / years) - 1.0 if years > 0 and final > 0 else -1.0
        out[k, 0] = final
        out[k, 1] = final / init[k] - 1.0
        out[k, 2] = cagr
        out[k, 3] = sd * math.sqrt(ppy)
        out[k, 4] = mean / sd * math.sqrt(ppy) if sd > 0 else np.nan
        out[k, 5] = mean / downside * math.sqrt(ppy) if downside > 0 else np.nan
        out[k, 6] = mdd
        out[k, 7] = cagr / abs(mdd) if mdd < 0 else np.nan
        out[k, 8] = exposed / n_bars if n_bars else 0.0
        mean_eq[k] = eq_sum / n_bars if n_bars else init[k]
    return out, mean_eq


@njit(cache=True, nogil=True, error_model="numpy")
def trade_metrics_nb(n, trade_combo, pnl, closed, bars_held, fill_combo, fill_fees, fill_slip, fill_notional,
                     mean_eq):  # fmt: skip
    """Trade and cost metrics of n portfolios from their trades and fills (each row tagged with
    its portfolio). Returns (n, len(TRADE_METRICS)) float64."""
    out = np.zeros((n, len(TRADE_METRICS)))
    n_closed = np.zeros(n)
    n_open = np.zeros(n)
    wins = np.zeros(n)
    n_wins = np.zeros(n)
    losses = np.zeros(n)
    n_losses = np.zeros(n)
    pnl_sum = np.zeros(n)
    held = np.zeros(n)
    for i in range(trade_combo.shape[0]):
        k = trade_combo[i]
        if not closed[i]:
            n_open[k] += 1
            continue
        n_closed[k] += 1
        pnl_sum[k] += pnl[i]
        held[k] += bars_held[i]
        if pnl[i] > 0:
            wins[k] += pnl[i]
            n_wins[k] += 1
        elif pnl[i] < 0:
            losses[k] += pnl[i]
            n_losses[k] += 1
    fees = np.zeros(n)
    slip = np.zeros(n)
    notional = np.zeros(n)
    for i in range(fill_combo.shape[0]):
        k = fill_combo[i]
        fees[k] += fill_fees[i]
        slip[k] += fill_slip[i]
        notional[k] += fill_notional[i]
    for k in range(n):
        c = n_closed[k]
        out[k, 0] = c
        out[k, 1] = n_open[k]
        out[k, 2] = n_wins[k] / c if c else np.nan
        if c == 0:
            out[k, 3] = np.nan
        elif losses[k] != 0:
            out[k, 3] = wins[k] / -losses[k]
        else:
            out[k, 3] = np.inf if wins[k] > 0 else 0.0
        out[k, 4] = pnl_sum[k] / c if c else np.nan
        out[k, 5] = wins[k] / n_wins[k] if n_wins[k] else np.nan
        out[k, 6] = losses[k] / n_losses[k] if n_losses[k] else np.nan
        out[k, 7] = held[k] / c if c else np.nan
        out[k, 8] = fees[k]
        out[k, 9] = slip[k]
        if mean_eq[k] != 0:
            out[k, 10] = notional[k] / mean_eq[k]
        else:
            out[k, 10] = np.inf if notional[k] > 0 else 0.0
    return out
