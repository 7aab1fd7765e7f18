"""Integer codes and record dtypes shared by the kernels and the frames layer.

Kernels see only these module-level ints; the public API speaks strings. Each code table maps
a public string to one int and back (``tests/contracts`` checks the tables are one-to-one).
"""

from __future__ import annotations

import numpy as np

# --- signal bits (one uint8 per (column, bar)) -------------------------------------------------
SIG_ENTRY = np.uint8(1)  # long entry
SIG_EXIT = np.uint8(2)  # long exit
SIG_SHORT_ENTRY = np.uint8(4)
SIG_SHORT_EXIT = np.uint8(8)
SIG_SESSION_EXIT = np.uint8(16)  # first bar of its day at/after the session exit time: positions close at its open
SIG_SESSION_CLOSED = np.uint8(32)  # at/after the session exit time: no entry fills on this bar
SIG_VALID = np.uint8(128)  # the asset has a row (a bar) at this timestamp
SIG_ORDERS = np.uint8(15)  # the four order bits

# --- fill timing (the values are the bar-cycle phases the group driver loops over, in order) ---
TIMING_NEXT_OPEN = 0
TIMING_NEXT_CLOSE = 1
TIMING_SAME_CLOSE = 2
TIMING = {"next_open": TIMING_NEXT_OPEN, "next_close": TIMING_NEXT_CLOSE, "same_close": TIMING_SAME_CLOSE}

# --- size types --------------------------------------------------------------------------------
# commission schedules (ml4t_vec.commission.Tiered): room for this many tiers per column
MAX_TIERS = 8

SIZE_SHARES = 0
SIZE_VALUE = 1
SIZE_PERCENT = 2
SIZE_NOTIONAL = 3  # size / reference price; fees and slippage on top (vectorbt's size_type="value")
SIZE_TYPE = {"shares": SIZE_SHARES, "value": SIZE_VALUE, "percent": SIZE_PERCENT, "notional": SIZE_NOTIONAL}
PERCENT_OF_EQUITY = 0
PERCENT_OF_CASH = 1  # long: size x cash; short: size x the largest short the free cash pays for (vectorbt)
PERCENT_OF = {"equity": PERCENT_OF_EQUITY, "cash": PERCENT_OF_CASH}
# how a size becomes a quantity (orders.entry_fill_nb)
SIZE_FEES_INCLUDED = 0  # the size is the cash committed, fees included; reduced to what fits
SIZE_BACKTESTING = 1  # backtesting.py 0.6.6: whole units of (buying power x fraction) // unit cost; shares all or none
SIZE_RULE = {"fees_included": SIZE_FEES_INCLUDED, "backtesting": SIZE_BACKTESTING}
SLIPPAGE_ON = {"all": 0, "entries": 1}  # lowered to exit slippage values, no kernel code

# --- how an opposite entry reverses a position (orders.order_nb) -------------------------------
REVERSAL_TWO_ORDERS = 0  # an exit, then an entry; each pays fees
REVERSAL_ONE_ORDER = 1  # one order of |position| + new size at one price, fixed fees once (vectorbt)
REVERSAL = {"two_orders": REVERSAL_TWO_ORDERS, "one_order": REVERSAL_ONE_ORDER}

# --- how signals become actions (orders.decide_nb) ---------------------------------------------
RULES_REVERSE = 0  # conflicting signals cancel; an opposite entry reverses the position
RULES_FLAT_ONLY = 1  # entries only when flat (long wins a tie), exits close their side (ml4t-backtest)
SIGNAL_RULES = {"reverse": RULES_REVERSE, "flat_only": RULES_FLAT_ONLY}

# --- order of fills within a phase of a shared-cash group ---------------------------------------
ORDER_EXITS_FIRST = 0  # every exit, then the entries (asset or priority order)
ORDER_BY_ASSET = 1  # asset by asset, each one's exit then its entry (vectorbt's default call order)
ORDER_ML4T = 2  # ml4t-backtest: at the open, signal exits, then position rules, then entries (older signal first)
FILL_ORDER = {"exits_first": ORDER_EXITS_FIRST, "asset": ORDER_BY_ASSET, "ml4t": ORDER_ML4T}

# --- what limits an order by cash (README "Cash limit") ----------------------------------------
CASH_EQUITY = 0  # gross exposure + the entry's notional and fees <= leverage x equity; reduced to fit; exits unlimited
CASH_ML4T = 1  # ml4t-backtest: notional + fees at the worse of reference / executed price <= cash + 0.01, else rejected
CASH_VECTORBT = 2  # vectorbt: buys (covers included) limited by cash, inf / percent-of-cash shorts by free cash
CASH_RULE = {"equity": CASH_EQUITY, "ml4t": CASH_ML4T, "vectorbt": CASH_VECTORBT}

# --- entry order types (README "Order types"): market fills at the phase's price; the others rest ---
ORDER_MARKET = 0
ORDER_LIMIT = 1
ORDER_STOP = 2
ORDER_STOP_LIMIT = 3
ORDER_TYPE = {"market": ORDER_MARKET, "limit": ORDER_LIMIT, "stop": ORDER_STOP, "stop_limit": ORDER_STOP_LIMIT}
ON_NEW_SIGNAL = {"replace": 0, "keep": 1}  # a same-side entry signal while an order rests
ON_SIGNAL_OFF = {"keep": 0, "cancel": 1}  # the order's entry signal turning off
LIMIT_TOUCH = {"touch": 0, "through": 1}  # a limit fills when the bar reaches it, or trades through it
TIF_GTC = 2**62  # good till cancelled (no time in force)
TIF_DAY = -1  # tif="day": expires at the end of its signal bar's calendar day

# --- pending actions (kernel-internal) ---------------------------------------------------------
ACT_NONE = 0
ACT_OPEN_LONG = 1
ACT_OPEN_SHORT = 2
ACT_CLOSE = 3
ACT_REVERSE_TO_LONG = 4
ACT_REVERSE_TO_SHORT = 5
ACT_ADD_LONG = 6  # accumulate: add to the long held
ACT_ADD_SHORT = 7

# --- sides and position direction --------------------------------------------------------------
SIDE_BUY = 1
SIDE_SELL = -1
SIDE = {"buy": SIDE_BUY, "sell": SIDE_SELL}
DIRECTION = {"long": 1, "short": -1}

# --- what a fill does to the position ----------------------------------------------------------
EFFECT_ENTRY = 0  # opens a position (from flat)
EFFECT_EXIT = 1  # closes it (to flat)
EFFECT_INCREASE = 2  # adds to a held position (same side)
EFFECT_REDUCE = 3  # takes part of it off
EFFECT = {"entry": EFFECT_ENTRY, "exit": EFFECT_EXIT, "increase": EFFECT_INCREASE, "reduce": EFFECT_REDUCE}

# --- reasons: why a fill happened / why a position was closed ---------------------------------
REASON_SIGNAL = 0
REASON_END_OF_DATA = 1
REASON_STOP_LOSS = 2
REASON_TAKE_PROFIT = 3
REASON_TRAILING_STOP = 4
REASON_TIME_STOP = 5
REASON_RISK_LIMIT = 6  # forced by a portfolio limit (gross leverage above its cap at a close)
REASON_LIQUIDATION = 7  # the drawdown circuit breaker closed everything
REASON_REBALANCE = 8  # a target-weight rebalance
REASON_SCALE_OUT = 9  # a step of a take-profit in steps (``scale_out``)
EXIT_REASON = {
    "signal": REASON_SIGNAL,
    "end_of_data": REASON_END_OF_DATA,
    "stop_loss": REASON_STOP_LOSS,
    "take_profit": REASON_TAKE_PROFIT,
    "trailing_stop": REASON_TRAILING_STOP,
    "time_stop": REASON_TIME_STOP,
    "risk_limit": REASON_RISK_LIMIT,
    "liquidation": REASON_LIQUIDATION,
    "rebalance": REASON_REBALANCE,
    "scale_out": REASON_SCALE_OUT,
}
NO_EXIT = -1  # a risk check that did not trigger

# --- risk rule options -------------------------------------------------------------------------
INTRABAR_PESSIMISTIC = 0  # stop-loss / trailing before take-profit when both lie inside a bar
INTRABAR_OPTIMISTIC = 1
INTRABAR_OHLC_PATH = 2  # open -> nearer extreme -> farther extreme -> close
INTRABAR_STOP_FIRST = 3  # the stop on the whole bar first, then the target (vectorbt)
INTRABAR_RULE_CHAIN = 4  # stop-loss, then take-profit, then trailing stop, each on the whole bar (ml4t-backtest)
INTRABAR = {
    "pessimistic": INTRABAR_PESSIMISTIC,
    "optimistic": INTRABAR_OPTIMISTIC,
    "ohlc_path": INTRABAR_OHLC_PATH,
    "stop_first": INTRABAR_STOP_FIRST,
    "rule_chain": INTRABAR_RULE_CHAIN,
}
ANCHOR_FILL = 0
ANCHOR_SIGNAL_CLOSE = 1
STOP_ANCHOR = {"fill": ANCHOR_FILL, "signal_close": ANCHOR_SIGNAL_CLOSE}
TRAIL_CLOSE = 0
TRAIL_EXTREME = 1
TRAILING_SOURCE = {"close": TRAIL_CLOSE, "extreme": TRAIL_EXTREME}
PEAK_FROM_ANCHOR = 0  # the trailing peak starts at the anchor
PEAK_FROM_FIRST_BAR = 1  # it starts with the first bar held (ml4t-backtest: highest close since the fill)
TRAILING_START = {"anchor": PEAK_FROM_ANCHOR, "first_bar": PEAK_FROM_FIRST_BAR}
DD_HALT = 0  # drawdown breaker: reject new entries
DD_LIQUIDATE = 1  # ... and close every position
DRAWDOWN_ACTION = {"halt": DD_HALT, "liquidate": DD_LIQUIDATE}

# --- trade status ------------------------------------------------------------------------------
STATUS_CLOSED = 0
STATUS_OPEN = 1
STATUS_PARTIAL = 2  # part of a position taken off; the rest stays open (average cost)
STATUS = {"closed": STATUS_CLOSED, "open": STATUS_OPEN, "partial": STATUS_PARTIAL}

# --- why an order was rejected or reduced ------------------------------------------------------
REJ_INSUFFICIENT_CASH = 0  # nothing fits in the available cash: order dropped
REJ_REDUCED_CASH = 1  # filled, but with fewer shares than requested (cash limit)
REJ_ZERO_QUANTITY = 2  # the requested size rounds to zero shares
REJ_NO_NEXT_BAR = 3  # the signal came on the asset's last bar: there is no bar to fill on
# portfolio limits (README "Portfolio limits"): an entry rejected, or reduced (filled_quantity > 0)
REJ_MAX_POSITIONS = 4
REJ_MAX_POSITION_WEIGHT = 5
REJ_MAX_GROSS_LEVERAGE = 6
REJ_MAX_NET_EXPOSURE = 7
REJ_MAX_DRAWDOWN = 8  # the drawdown circuit breaker is tripped
REJ_DAILY_LOSS_LIMIT = 9  # the day's loss limit is hit
REJ_SESSION_END = 10  # the bar is at/after the session exit time
REJ_POSITION_CLOSED = 11  # an increase whose position was closed (by a position rule) before it could fill
# resting entry orders (README "Order types")
REJ_NO_LEVEL = 12  # the order's limit or stop level is null at its signal bar: nothing rests
REJ_EXPIRED = 13  # its time in force ran out
REJ_REPLACED = 14  # a new same-side entry signal replaced it (on_new_signal="replace")
REJ_CANCELLED_EXIT = 15  # an exit signal of its side cancelled it
REJ_CANCELLED_OPPOSITE = 16  # an entry signal of the other side cancelled it
REJ_CANCELLED_SIGNAL_OFF = 17  # its entry signal turned off (on_signal_off="cancel")
REJECT_REASON = {
    "insufficient_cash": REJ_INSUFFICIENT_CASH,
    "reduced_cash": REJ_REDUCED_CASH,
    "zero_quantity": REJ_ZERO_QUANTITY,
    "no_next_bar": REJ_NO_NEXT_BAR,
    "max_positions": REJ_MAX_POSITIONS,
    "max_position_weight": REJ_MAX_POSITION_WEIGHT,
    "max_gross_leverage": REJ_MAX_GROSS_LEVERAGE,
    "max_net_exposure": REJ_MAX_NET_EXPOSURE,
    "max_drawdown": REJ_MAX_DRAWDOWN,
    "daily_loss_limit": REJ_DAILY_LOSS_LIMIT,
    "session_end": REJ_SESSION_END,
    "position_closed": REJ_POSITION_CLOSED,
    "no_level": REJ_NO_LEVEL,
    "expired": REJ_EXPIRED,
    "replaced": REJ_REPLACED,
    "cancelled_exit": REJ_CANCELLED_EXIT,
    "cancelled_opposite": REJ_CANCELLED_OPPOSITE,
    "cancelled_signal_off": REJ_CANCELLED_SIGNAL_OFF,
}

# --- target-weight portfolios (README "Target weights") ----------------------------------------
MISSING_FLAT = 0  # a null weight on a rebalance bar: target 0
MISSING_HOLD = 1  # ... no order (vectorbt's NaN)
MISSING = {"flat": MISSING_FLAT, "hold": MISSING_HOLD}
SIZE_AT_DECISION = 0  # target shares from equity and close at the decision bar
SIZE_AT_FILL = 1  # ... from equity and reference prices at the fill (vectorbt)
SIZE_AT = {"decision": SIZE_AT_DECISION, "fill": SIZE_AT_FILL}
SHORTFALL_SCALE = 0  # one common factor on every increase
SHORTFALL_PRIORITY = 1  # increases in priority order, each gets what still fits
SHORTFALL_REJECT = 2  # an increase that does not fit whole is rejected
SHORTFALL = {"scale": SHORTFALL_SCALE, "priority": SHORTFALL_PRIORITY, "reject": SHORTFALL_REJECT}
ROUND_FLOOR = 0  # the target holding toward zero
ROUND_NEAREST = 1  # the change, half away from zero (ml4t-backtest)
ROUNDING = {"floor": ROUND_FLOOR, "nearest": ROUND_NEAREST}

# --- record dtypes -----------------------------------------------------------------------------
FILL_DT = np.dtype(
    [
        ("col", np.int64),
        ("bar", np.int64),
        ("side", np.int8),
        ("effect", np.int8),
        ("reason", np.int8),
        ("quantity", np.float64),  # > 0
        ("price", np.float64),  # executed price, slippage, half the spread and the impact included
        ("fees", np.float64),
        ("slippage", np.float64),  # cost of slippage in cash: quantity * |price - reference| - spread - impact
        ("spread", np.float64),  # cost of the half-spread in cash: quantity * half-spread per share
        ("impact", np.float64),  # cost of the market impact in cash: quantity * impact per share
        ("position_id", np.int64),  # -1: assigned by the frames layer (one position per entry)
    ],
    align=True,
)

TRADE_DT = np.dtype(
    [
        ("col", np.int64),
        ("entry_bar", np.int64),
        ("exit_bar", np.int64),
        ("bars_held", np.int64),
        ("quantity", np.float64),  # signed: > 0 long, < 0 short
        ("entry_price", np.float64),
        ("exit_price", np.float64),
        ("entry_fees", np.float64),
        ("exit_fees", np.float64),
        ("entry_slippage", np.float64),
        ("exit_slippage", np.float64),
        ("borrow_cost", np.float64),  # borrow fees the shares of this row paid while short (pro rata)
        ("spread", np.float64),  # the entry fills' half-spreads (pro rata) + the exit fill's
        ("impact", np.float64),  # the entry fills' market impact (pro rata) + the exit fill's
        ("mfe", np.float64),
        ("mae", np.float64),
        ("exit_reason", np.int8),
        ("status", np.int8),
        ("position_id", np.int64),  # -1: assigned by the frames layer
    ],
    align=True,
)

REJECT_DT = np.dtype(
    [
        ("col", np.int64),
        ("bar", np.int64),
        ("side", np.int8),
        ("effect", np.int8),
        ("reason", np.int8),
        ("requested_quantity", np.float64),
        ("filled_quantity", np.float64),
        ("price", np.float64),  # reference price of the bar the order was for (NaN if none)
    ],
    align=True,
)

CODE_TABLES = {
    "timing": TIMING,
    "size_type": SIZE_TYPE,
    "side": SIDE,
    "direction": DIRECTION,
    "effect": EFFECT,
    "exit_reason": EXIT_REASON,
    "status": STATUS,
    "reject_reason": REJECT_REASON,
    "intrabar": INTRABAR,
    "stop_anchor": STOP_ANCHOR,
    "trailing_source": TRAILING_SOURCE,
    "drawdown_action": DRAWDOWN_ACTION,
    "signal_rules": SIGNAL_RULES,
    "fill_order": FILL_ORDER,
    "cash_rule": CASH_RULE,
    "size_rule": SIZE_RULE,
    "slippage_on": SLIPPAGE_ON,
    "trailing_start": TRAILING_START,
    "percent_of": PERCENT_OF,
    "reversal": REVERSAL,
    "missing": MISSING,
    "size_at": SIZE_AT,
    "shortfall": SHORTFALL,
    "rounding": ROUNDING,
    "order_type": ORDER_TYPE,
    "on_new_signal": ON_NEW_SIGNAL,
    "on_signal_off": ON_SIGNAL_OFF,
    "limit_touch": LIMIT_TOUCH,
}


def decode(table: dict[str, int]) -> dict[int, str]:
    """Invert a code table (int -> public string)."""
    return {v: k for k, v in table.items()}
