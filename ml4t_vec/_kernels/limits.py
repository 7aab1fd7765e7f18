"""Portfolio limits of a shared-cash group (numba): entry caps, the drawdown circuit breaker,
the daily loss limit and forced exits when gross leverage is above its cap at a close.

README "Portfolio limits" states every rule; ``tests/reference/engine.py`` spells them out
plainly and ``tests/property`` checks the kernel against it and that the limits hold.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from ml4t_vec._kernels import BOOL, F64, I64
from ml4t_vec._kernels.codes import (
    ACT_ADD_LONG,
    ACT_CLOSE,
    ACT_NONE,
    DD_LIQUIDATE,
    REASON_LIQUIDATION,
    REASON_RISK_LIMIT,
    REASON_SIGNAL,
    REJ_MAX_NET_EXPOSURE,
    REJ_MAX_POSITION_WEIGHT,
)
from ml4t_vec._kernels.sort import stable_argsort_nb

NEVER = np.iinfo(np.int64).max  # an int64 rule or limit that is off (max_bars, max_positions, cooldown)


class LimitParams(NamedTuple):
    """Limits and account rules per group (arrays of length n_groups), the entry priority and
    the borrow rate per column.

    A limit that is off is unreachable (inf, or int64 max), so the checks need no switches.
    """

    max_positions: I64  # open positions after an entry fills
    max_position_weight: F64  # entry notional <= this * equity
    max_gross_leverage: F64  # gross exposure + entry notional + fees <= this * equity
    leverage_set: BOOL  # the user set the cap (its reason codes; forced exits above it)
    max_net_exposure: F64  # |net exposure| after an entry <= this * equity
    max_drawdown: F64  # breaker trips when the close-to-close equity drawdown reaches it
    drawdown_action: I64  # DD_*
    drawdown_cooldown: I64  # bars until the breaker resets (NEVER = stays tripped)
    daily_loss_limit: F64  # entries halted for the day once equity is down this much
    priority: F64  # (n_cols, 1 | n_bars): higher fills first; NaN last
    priority_on: BOOL  # per group
    on: BOOL  # per group: any limit or a priority (one-column groups then take the group path)
    day: I64  # (n_bars,): day number of each bar (daily loss limit)
    borrow: F64  # (n_cols, 1 | n_bars): annual borrow rate of a short, read at the asset's last bar
    borrow_on: BOOL  # per group: shorts pay borrow fees (``book.borrow_nb``)
    cash_rate: F64  # per group: annual interest negative cash pays (``book.interest_nb``); 0: none
    credit_rate: F64  # per group: annual interest positive cash earns; 0: none
    nights: F64  # (n_bars,): calendar days from the previous bar of the time axis (0 at bar 0)
    month: I64  # (n_bars,): calendar month of each bar (commission tiers count shares per month)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def entry_cap_nb(d, equity, net, w_cap, net_cap, held):
    """(largest entry notional the limits allow, the reason code of the binding limit).

    The weight cap allows ``w_cap * equity - held`` (``held``: the notional of the position an
    increase adds to, else 0); the net cap allows what keeps
    ``|net + d * notional| <= net_cap * equity`` (``d`` = +1 long, -1 short). Ties name the weight.
    A limit that is off allows any notional, also at equity <= 0 (``inf * equity`` would be -inf
    there: cash_rule="vectorbt" buys with negative equity when short proceeds pay for them).
    """
    by_weight = w_cap * equity - held if w_cap < np.inf else np.inf
    by_net = net_cap * equity - d * net if net_cap < np.inf else np.inf
    if by_weight <= by_net:
        return by_weight, REJ_MAX_POSITION_WEIGHT
    return by_net, REJ_MAX_NET_EXPOSURE


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _force_exit_nb(c, t, reason, orders):
    """Order column c's position closed on its next bar with ``reason``; returns 1 if a new order.
    A pending increase (``accumulate``) is replaced by the close."""
    o = orders[c]
    o["reason"] = reason
    if o["action"] == ACT_NONE or o["action"] >= ACT_ADD_LONG:
        new = 1 if o["action"] == ACT_NONE else 0
        o["action"] = ACT_CLOSE
        o["bar"] = t
        return new
    return 0  # a pending close or reversal: its exit takes the forced reason


@njit(cache=True, nogil=True, error_model="numpy")
def close_of_bar_nb(t, c0, c1, eq, gross, values, book, orders, day, lev, lev_set, max_dd, dd_action, cooldown,
                    daily_loss, state):  # fmt: skip
    """Limit checks on the group's equity ``eq`` and gross exposure ``gross`` at bar t's close.

    ``state`` (float64[7]): high-water mark, halted flag, bar the breaker tripped, current day,
    the day's starting equity, day whose entries are halted (-1 none), equity at the previous
    close (``new_limit_state``); ``values[c - c0]`` holds
    column c's position value at the close; ``book`` / ``orders`` the position and order records.
    Places forced exit orders; returns how many new orders.

    - daily loss: ``eq <= day start * (1 - daily_loss)`` halts entries for the rest of the day;
      the day starts with the equity at the previous bar's close.
    - breaker: once ``eq <= high-water mark * (1 - max_dd)`` entries are halted (``halt``), and
      with ``liquidate`` every position is also ordered closed (exit reason ``liquidation``).
      After ``cooldown`` bars it resets and the high-water mark restarts at that close.
    - gross leverage (only when the user set the cap): above ``lev * eq`` the largest positions
      are ordered closed (exit reason ``risk_limit``) until the rest fits (all of them if eq <= 0).
    """
    n_new = 0
    if day[t] != state[3]:
        state[3] = day[t]
        state[4] = state[6]  # equity at the previous close
    state[6] = eq
    if eq <= state[4] * (1.0 - daily_loss):
        state[5] = day[t]
    if state[1] != 0.0 and t - state[2] >= cooldown:
        state[1] = 0.0
        state[0] = eq
    if eq > state[0]:
        state[0] = eq
    if state[1] == 0.0 and eq <= state[0] * (1.0 - max_dd):
        state[1] = 1.0
        state[2] = t
        if dd_action == DD_LIQUIDATE:
            for c in range(c0, c1):
                if book[c]["qty"] != 0.0:
                    n_new += _force_exit_nb(c, t, REASON_LIQUIDATION, orders)
    if lev_set and gross > lev * eq * (1.0 + 1e-12):
        # largest first (ties in column order); positions already ordered closed count as gone
        n = c1 - c0
        keys = np.empty(n)
        for i in range(n):
            held = book[c0 + i]["qty"] != 0.0
            forced = orders[c0 + i]["reason"] != REASON_SIGNAL
            keys[i] = -abs(values[i]) if (held and not forced) else 0.0
            if held and forced:
                gross -= abs(values[i])
        order = stable_argsort_nb(keys, n)
        for i in range(n):
            if gross <= lev * eq * (1.0 + 1e-12) and eq > 0.0:
                break
            c = c0 + order[i]
            if keys[order[i]] == 0.0:
                break
            n_new += _force_exit_nb(c, t, REASON_RISK_LIMIT, orders)
            gross -= abs(values[order[i]])
    return n_new


@njit(cache=True, nogil=True, error_model="numpy")
def new_limit_state_nb(init_cash):
    """``close_of_bar_nb`` state before the first bar."""
    s = np.empty(7)
    s[0] = init_cash
    s[1] = 0.0
    s[2] = 0.0
    s[3] = -1.0
    s[4] = init_cash
    s[5] = -1.0
    s[6] = init_cash
    return s
