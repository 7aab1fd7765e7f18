"""Tax-lot views of the fills: round trips matched first in, first out (``vec.round_trips``).

The trades frame reports positions at average cost (README "Target weights": a reduction
closes part of the position at its average price). A tax lot view matches each closing fill to
the oldest open shares instead (FIFO): a buy of 10 at 100 and 10 at 110, then a sale of 15,
closes 10 bought at 100 and 5 bought at 110. Both views give the same total pnl.

Pure Polars, one pass: opening fills (``entry``, ``increase``) and closing fills (``reduce``,
``exit``) of each (symbol, direction) are laid end to end on a cumulative-quantity axis; a
round trip is where a closing fill's interval overlaps an opening fill's.
"""

from __future__ import annotations

import polars as pl

from ml4t_vec.errors import ConfigError
from ml4t_vec.schema import Direction

_OPEN = ("entry", "increase")
_CLOSE = ("reduce", "exit")
_KEY = ("symbol", "direction")


def round_trips(fills: pl.DataFrame, method: str = "fifo") -> pl.DataFrame:
    """Lot-level round trips from a result's ``fills`` (``res.fills``), matched FIFO.

    Args:
        fills: the fills frame of a ``BacktestResult`` (columns timestamp, symbol, side, effect,
            quantity, price, fees).
        method: ``"fifo"`` (first in, first out; the only method for now).

    Returns:
        One row per (opening fill, closing fill) pair that shares quantity, ordered by symbol,
        exit time and entry time: ``symbol``, ``direction``, ``entry_time``, ``exit_time``
        (null: still open at the end), ``quantity`` (> 0), ``entry_price``, ``exit_price``
        (executed, slippage included; null while open), ``fees`` (each fill's fees pro rata to
        the quantity taken from it), ``pnl`` ((exit - entry) x quantity, signed by direction,
        minus fees; null while open). Once every position is closed, the lots' pnl adds up to
        the trades frame's; while some are open the realized parts differ (FIFO vs average cost).

    Example:
        >>> import polars as pl, ml4t_vec as vec
        >>> p = vec.synthetic_prices(n_assets=3, n_bars=120, seed=4)
        >>> res = vec.backtest(p, weights=vec.weights.proportional(pl.col("pred")), rebalance="M")
        >>> lots = vec.round_trips(res.fills)
        >>> opened = res.fills.filter(pl.col("effect").is_in(["entry", "increase"]))["quantity"].sum()
        >>> bool(abs(lots["quantity"].sum() - opened) < 1e-6)
        True
    """
    if method != "fifo":
        raise ConfigError(f"`method` must be one of ['fifo']; got {method!r}.")
    need = {"timestamp", "symbol", "side", "effect", "quantity", "price", "fees"}
    if not need <= set(fills.columns):
        raise ConfigError(
            f"`fills` must be a result's fills frame; missing columns {sorted(need - set(fills.columns))}."
        )
    eff = pl.col("effect").cast(pl.String)
    side = pl.col("side").cast(pl.String)
    f = fills.with_row_index("_seq").with_columns(
        pl.col("quantity", "price", "fees").cast(pl.Float64),
        # an opening buy is long, an opening sell short; a closing sell closes a long
        direction=pl.when(eff.is_in(_OPEN) == (side == "buy")).then(pl.lit("long")).otherwise(pl.lit("short")),
    )
    order = ["_seq"]  # fills are ordered by symbol, then time (a reversal: its exit first)

    def axis(frame: pl.DataFrame, p: str) -> pl.DataFrame:
        hi = pl.col("quantity").cum_sum().over(_KEY, order_by=order)
        return frame.select(
            *_KEY,
            pl.col("timestamp").alias(f"{p}_time"),
            pl.col("price").alias(f"{p}_price"),
            (pl.col("fees") / pl.col("quantity")).alias(f"{p}_fee_per_share"),
            (hi - pl.col("quantity")).alias(f"{p}_lo"),
            hi.alias(f"{p}_hi"),
        )

    opens = axis(f.filter(eff.is_in(_OPEN)), "entry")
    closes = axis(f.filter(eff.is_in(_CLOSE)), "exit")
    matched = opens.join_where(
        closes,
        pl.col("symbol") == pl.col("symbol_right"),
        pl.col("direction") == pl.col("direction_right"),
        pl.col("entry_lo") < pl.col("exit_hi"),
        pl.col("exit_lo") < pl.col("entry_hi"),
    )
    q = pl.min_horizontal("entry_hi", "exit_hi") - pl.max_horizontal("entry_lo", "exit_lo")
    sign = pl.when(pl.col("direction") == "long").then(1.0).otherwise(-1.0)
    closed = matched.with_columns(quantity=q).filter(pl.col("quantity") > 1e-12 * pl.col("entry_hi").abs())
    closed = closed.select(
        *_KEY,
        "entry_time",
        "exit_time",
        "quantity",
        "entry_price",
        "exit_price",
        fees=pl.col("quantity") * (pl.col("entry_fee_per_share") + pl.col("exit_fee_per_share")),
        pnl=(pl.col("exit_price") - pl.col("entry_price")) * pl.col("quantity") * sign
        - pl.col("quantity") * (pl.col("entry_fee_per_share") + pl.col("exit_fee_per_share")),
    )
    # shares still open: what lies past the last closing fill on each axis
    done = closes.group_by(_KEY).agg(pl.col("exit_hi").max().alias("_closed"))
    still = (
        opens.join(done, on=list(_KEY), how="left")
        .with_columns(pl.col("_closed").fill_null(0.0))
        .filter(pl.col("entry_hi") > pl.col("_closed") + 1e-12 * pl.col("entry_hi").abs())
        .select(
            *_KEY,
            "entry_time",
            pl.lit(None, dtype=opens.schema["entry_time"]).alias("exit_time"),
            (pl.col("entry_hi") - pl.max_horizontal("entry_lo", "_closed")).alias("quantity"),
            "entry_price",
            pl.lit(None, dtype=pl.Float64).alias("exit_price"),
            fees=(pl.col("entry_hi") - pl.max_horizontal("entry_lo", "_closed")) * pl.col("entry_fee_per_share"),
            pnl=pl.lit(None, dtype=pl.Float64),
        )
    )
    out = pl.concat([closed, still.select(closed.columns)])
    return out.with_columns(pl.col("direction").cast(Direction)).sort(
        "symbol", "exit_time", "entry_time", nulls_last=True, maintain_order=True
    )
