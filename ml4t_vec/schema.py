"""Output schemas, declared once. Every frame the library returns is cast to one of these.

``TIME`` marks a column that takes the input's timestamp dtype (Date or Datetime with its time
unit and zone). README "Outputs" is generated from the docs here (tests/contracts checks it).
"""

from __future__ import annotations

import polars as pl

from ml4t_vec._kernels.codes import DIRECTION, EFFECT, EXIT_REASON, REJECT_REASON, SIDE, STATUS

TIME = "TIME"

Side = pl.Enum(list(SIDE))
Effect = pl.Enum(list(EFFECT))
Direction = pl.Enum(list(DIRECTION))
ExitReason = pl.Enum(list(EXIT_REASON))
Status = pl.Enum(list(STATUS))
RejectReason = pl.Enum(list(REJECT_REASON))

# name -> (dtype, doc)
TRADES = {
    "symbol": (pl.String, "asset of the round trip"),
    "position_id": (pl.Int64, "the position (flat to flat) this row belongs to; a resized position has several rows"),
    "entry_time": (TIME, "timestamp of the entry fill"),
    "exit_time": (TIME, "timestamp of the exit fill; for open trades the asset's last bar"),
    "entry_price": (
        pl.Float64,
        "executed entry price (slippage, spread, impact included); a resized position's average cost",
    ),
    "exit_price": (pl.Float64, "executed exit price, slippage, spread and impact included; open trades: last close"),
    "quantity": (pl.Float64, "signed shares this row closes (partial rows: the part taken off): > 0 long, < 0 short"),
    "direction": (Direction, "long or short"),
    "pnl": (pl.Float64, "net profit: gross_pnl - fees - borrow_cost"),
    "pnl_percent": (pl.Float64, "pnl / (|quantity| * entry_price), a fraction"),
    "gross_pnl": (pl.Float64, "(exit_price - entry_price) * quantity, before fees"),
    "fees": (pl.Float64, "entry fees (pro rata to the quantity) + exit fees (open trades: entry fees only)"),
    "entry_slippage": (pl.Float64, "slippage cost of the entry in cash"),
    "exit_slippage": (pl.Float64, "slippage cost of the exit in cash"),
    "spread_cost": (pl.Float64, "half-spreads paid in cash: the entry fills' (pro rata to the quantity) + the exit's"),
    "impact_cost": (pl.Float64, "market impact paid in cash: the entry fills' (pro rata to the quantity) + the exit's"),
    "borrow_cost": (pl.Float64, "borrow fees these shares paid while short (borrow_rate; pro rata to the quantity)"),
    "bars_held": (pl.Int64, "the asset's own bars from entry to exit"),
    "mfe": (pl.Float64, "maximum favourable excursion vs entry price, a fraction >= 0"),
    "mae": (pl.Float64, "maximum adverse excursion vs entry price, a fraction <= 0"),
    "exit_reason": (
        ExitReason,
        "why the position was closed (or, for a partial row, reduced): signal, stop_loss, take_profit, "
        "trailing_stop, time_stop, scale_out, risk_limit, liquidation, rebalance, end_of_data",
    ),
    "status": (
        Status,
        "closed; partial (part of a position taken off, the rest stays open); open at the end of the data",
    ),
}

FILLS = {
    "timestamp": (TIME, "bar the order filled on"),
    "symbol": (pl.String, "asset"),
    "side": (Side, "buy or sell"),
    "effect": (Effect, "entry (opens a position), increase (adds to it), reduce (takes part off) or exit (closes it)"),
    "position_id": (pl.Int64, "the position the fill belongs to (trades' position_id)"),
    "quantity": (pl.Float64, "shares, > 0"),
    "price": (pl.Float64, "executed price, slippage, half the spread and the market impact included"),
    "fees": (pl.Float64, "fees of this fill"),
    "slippage": (pl.Float64, "slippage cost of this fill in cash"),
    "spread_cost": (pl.Float64, "half the bid-ask spread this fill paid, in cash (quantity x half-spread)"),
    "impact_cost": (pl.Float64, "market impact this fill paid, in cash (quantity x impact per share)"),
    "reason": (
        ExitReason,
        "what triggered the order: signal, rebalance, or the rule or limit that closed the position",
    ),
}

REJECTED = {
    "timestamp": (
        TIME,
        "bar the order was for (for no_next_bar and no_level: the signal's bar; a resting order's "
        "expiry or cancellation: that bar)",
    ),
    "symbol": (pl.String, "asset"),
    "side": (Side, "buy or sell"),
    "effect": (Effect, "entry or exit; increase or reduce for a target-weight order"),
    "reason": (
        RejectReason,
        "insufficient_cash, reduced_cash, zero_quantity, no_next_bar, session_end, position_closed, or the "
        "portfolio limit: max_positions, max_position_weight, max_gross_leverage, max_net_exposure, max_drawdown, "
        'daily_loss_limit; a resting entry order (README "Order types"): no_level, expired, replaced, '
        "cancelled_exit, cancelled_opposite, cancelled_signal_off",
    ),
    "requested_quantity": (pl.Float64, "shares asked for (null when never sized)"),
    "filled_quantity": (pl.Float64, "shares filled: 0 if rejected, > 0 if reduced"),
    "price": (pl.Float64, "reference price of the bar (null when there was no bar)"),
}

POSITIONS = {
    "position_id": (pl.Int64, "the position (trades' and fills' position_id)"),
    "symbol": (pl.String, "asset"),
    "direction": (Direction, "long or short"),
    "entry_time": (TIME, "timestamp of the first fill"),
    "exit_time": (TIME, "timestamp of the fill that closed it; null while open"),
    "max_quantity": (pl.Float64, "the largest holding, signed: > 0 long, < 0 short"),
    "realized_pnl": (pl.Float64, "pnl of its partial and closed trade rows"),
    "pnl": (pl.Float64, "pnl of all its trade rows (the open one marked at the last close)"),
    "fees": (pl.Float64, "fees of all its trade rows"),
    "status": (Status, "closed, or open at the end of the data"),
}

EQUITY = {
    "timestamp": (TIME, "bar"),
    "equity": (pl.Float64, "cash + market value of all positions at the close"),
    "cash": (pl.Float64, "cash (short sale proceeds included)"),
    "gross_exposure": (pl.Float64, "sum of |position value|"),
    "net_exposure": (pl.Float64, "sum of signed position values"),
    "return": (pl.Float64, "equity return over the previous bar (first bar: vs initial cash)"),
    "drawdown": (pl.Float64, "equity / running peak - 1, a fraction <= 0"),
}

ASSET_EQUITY = {
    "timestamp": (TIME, "bar"),
    "symbol": (pl.String, "asset (its own account when cash_sharing=False)"),
    "equity": (pl.Float64, "account cash + position value (cash_sharing=False only; else null)"),
    "cash": (pl.Float64, "account cash (cash_sharing=False only; else null)"),
    "position_value": (pl.Float64, "signed market value of the position at the close"),
}

SCHEMAS = {
    "trades": TRADES,
    "fills": FILLS,
    "rejected": REJECTED,
    "positions": POSITIONS,
    "equity": EQUITY,
    "asset_equity": ASSET_EQUITY,
}


def polars_schema(spec: dict, time_dtype: pl.DataType) -> pl.Schema:
    """Concrete Polars schema for a spec, with TIME columns set to ``time_dtype``."""
    return pl.Schema({k: (time_dtype if d == TIME else d) for k, (d, _) in spec.items()})


def empty(spec: dict, time_dtype: pl.DataType) -> pl.DataFrame:
    return pl.DataFrame(schema=polars_schema(spec, time_dtype))
