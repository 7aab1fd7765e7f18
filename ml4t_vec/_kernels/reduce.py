"""Per-combination metrics from the kernel's portfolio series and records (numba), for sweeps.

Each formula is the one ``ml4t_vec.metrics.compute_stats`` applies to a backtest's frames
(tests/property/test_sweep.py checks the two agree), computed without building frames.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ml4t_vec._kernels.codes import STATUS_CLOSED, STATUS_OPEN

# columns of the series metrics, in this order
SERIES_METRICS = ("final_equity", "total_return", "cagr", "volatility", "sharpe", "sortino", "max_drawdown",
                  "calmar", "exposure")  # fmt: skip
# columns of the trade metrics, in this order
TRADE_METRICS = ("n_trades", "n_open", "win_rate", "profit_factor", "expectancy", "avg_win", "avg_loss",
                 "avg_bars_held", "total_fees", "total_slippage", "position_win_rate", "position_profit_factor",
                 "avg_position_pnl", "total_spread_cost", "total_impact_cost")  # fmt: skip


@njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def series_metrics_nb(series, init, ppy):
    """``series`` (n, 3, n_bars): cash, net and gross position value per bar of n portfolios;
    ``init`` (n,) their initial cash. Returns (n, len(SERIES_METRICS)) float64."""
    n, _, n_bars = series.shape
    out = np.empty((n, len(SERIES_METRICS)))
    for k in prange(n):
        prev = init[k]
        peak = init[k]
        s = 0.0
        s2 = 0.0
        down = 0.0
        mdd = 0.0
        exposed = 0
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
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def _profit_factor_nb(n, wins, losses):
    """Gross profits / gross losses of n trades (losses <= 0): NaN without trades, inf without losses."""
    if n == 0:
        return np.nan
    if losses != 0:
        return wins / -losses
    return np.inf if wins > 0 else 0.0


@njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def trade_metrics_nb(n, cols_per, trades, trade_off, n_trade, fills, fill_off, n_fill):
    """Trade and cost metrics of n portfolios, portfolio k owning columns
    ``[k * cols_per, (k + 1) * cols_per)``, read in place from the kernel's record buffers (column
    c's trades at ``trades[trade_off[c]:trade_off[c] + n_trade[c]]``, fills likewise). pnl is the
    trades frame's: (exit - entry) x signed quantity - both fees. A closed position's pnl is its
    closed row's plus the partial rows before it in its column (``metrics.trade_metrics``).
    Returns (n, len(TRADE_METRICS))."""
    out = np.zeros((n, len(TRADE_METRICS)))
    for k in prange(n):
        n_closed = 0
        n_open = 0
        wins = 0.0
        n_wins = 0
        losses = 0.0
        n_losses = 0
        pnl_sum = 0.0
        held = 0.0
        fees = 0.0
        slip = 0.0
        spread = 0.0
        impact = 0.0
        n_pos = 0  # closed positions: a closed row and the partial rows before it
        n_pos_wins = 0
        pos_wins = 0.0
        pos_losses = 0.0
        pos_sum = 0.0
        for c in range(k * cols_per, (k + 1) * cols_per):
            part = 0.0  # the pnl of the column's partial rows since its last closed row
            for i in range(trade_off[c], trade_off[c] + n_trade[c]):
                tr = trades[i]
                pnl = (tr.exit_price - tr.entry_price) * tr.quantity - (tr.entry_fees + tr.exit_fees) - tr.borrow_cost
                if tr.status != STATUS_CLOSED:  # open rows; partial rows count in neither (as stats())
                    n_open += tr.status == STATUS_OPEN
                    part = part + pnl if tr.status != STATUS_OPEN else 0.0
                    continue
                whole = part + pnl
                part = 0.0
                n_pos += 1
                pos_sum += whole
                if whole > 0:
                    pos_wins += whole
                    n_pos_wins += 1
                elif whole < 0:
                    pos_losses += whole
                n_closed += 1
                pnl_sum += pnl
                held += tr.bars_held
                if pnl > 0:
                    wins += pnl
                    n_wins += 1
                elif pnl < 0:
                    losses += pnl
                    n_losses += 1
            for i in range(fill_off[c], fill_off[c] + n_fill[c]):
                f = fills[i]
                fees += f.fees
                slip += f.slippage
                spread += f.spread
                impact += f.impact
        c = n_closed
        out[k, 0] = c
        out[k, 1] = n_open
        out[k, 2] = n_wins / c if c else np.nan
        out[k, 3] = _profit_factor_nb(np.int64(c), wins, losses)  # (not a literal: one compiled copy)
        out[k, 4] = pnl_sum / c if c else np.nan
        out[k, 5] = wins / n_wins if n_wins else np.nan
        out[k, 6] = losses / n_losses if n_losses else np.nan
        out[k, 7] = held / c if c else np.nan
        out[k, 8] = fees
        out[k, 9] = slip
        out[k, 10] = n_pos_wins / n_pos if n_pos else np.nan
        out[k, 11] = _profit_factor_nb(np.int64(n_pos), pos_wins, pos_losses)
        out[k, 12] = pos_sum / n_pos if n_pos else np.nan
        out[k, 13] = spread
        out[k, 14] = impact
    return out
