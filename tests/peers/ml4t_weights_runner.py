"""Run ml4t-backtest 0.2.0's ``TargetWeightExecutor`` itself on scenario folders (a peer for
``test_ml4t_weights.py``).

Runs under Python >= 3.12 with ``ml4t-backtest==0.2.0``, polars and pyarrow installed; it
imports nothing from ml4t_vec (ml4t-backtest is used as a library only, never copied).

    python ml4t_weights_runner.py DIR

Every subfolder of DIR holding ``prices.parquet`` and ``settings.json`` is one scenario:

- ``prices.parquet``: long frame ``timestamp, asset, open, high, low, close, volume, w``; ``w`` is
  the target weight (null = none). Assets may skip bars, start late or end early.
- ``settings.json``: ``init_cash``, ``fees`` (fraction of notional), ``fixed_fees`` (cash per
  order), ``commission_per_share``, ``slippage`` (fraction), ``slippage_per_share`` (cash),
  ``rebalance`` (ISO timestamps of the decision bars), ``lot_size`` (null or whole shares),
  ``min_weight_change``, ``min_trade_value``, optional ``fractional`` (``share_type``
  FRACTIONAL; see ``FollowWeights`` for its zero weights).

The strategy: on a decision bar, the weights of the assets that have a bar and a non-null weight
go to ``TargetWeightExecutor(RebalanceConfig(allow_short=True, ...)).execute`` in asset order;
held assets left out (no bar, or a null weight) are closed by the executor. Everything else is
ml4t-backtest's default: next bar's open fills, integer shares, exits first then entries in
submission order, an account that may short without leverage (``allow_short_selling=True``),
its own commission and slippage models (``ml4t_runner.commission_model`` /
``slippage_model``).

Writes per scenario ``fills.parquet`` (one row per fill), ``trades.parquet``
(``to_trades_dataframe()``), ``equity.parquet`` (``to_equity_dataframe()``) and ``meta.json``
(the run time and the orders that did not fill).
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import polars as pl
from ml4t.backtest import DataFeed, RebalanceConfig, Strategy, TargetWeightExecutor
from ml4t.backtest.config import ShareType
from ml4t_runner import main, read_scenario, run_engine


class FollowWeights(Strategy):
    """``avoid_residue`` (fractional shares, no thresholds): a weight of exactly 0 is left out of
    the dict, so the executor closes the position with ``close_position`` (its exact quantity).
    Passed as 0, ``_process_asset`` sizes the close as ``E * (0 - q * p / E) / p``, which can
    exceed ``|q|`` by a rounding error; the order is then a reversal to a short of ~1e-14 shares
    that the cash check refuses whole, and the position stays open (ml4t-backtest 0.2.0 with
    fractional shares; ml4t_vec closes exactly). Without thresholds the two are the same order."""

    def __init__(self, weights: dict, rebalance: set, config: RebalanceConfig, avoid_residue: bool = False):
        self.weights = weights  # (timestamp, asset) -> weight
        self.rebalance = rebalance
        self.executor = TargetWeightExecutor(config)
        self.avoid_residue = avoid_residue

    def on_data(self, timestamp, data, context, broker):
        if timestamp not in self.rebalance:
            return
        target = {}
        for asset in sorted(data):
            w = self.weights.get((timestamp, asset))
            if w is not None and not (self.avoid_residue and w == 0.0):
                target[asset] = w
        self.executor.execute(target, data, broker)


def run_one(folder: Path) -> dict:
    s, df, prices = read_scenario(folder)
    weights = {(t, a): w for t, a, w in df.select("timestamp", "asset", "w").iter_rows() if w is not None}
    lot = s.get("lot_size")
    rebalance_config = RebalanceConfig(
        allow_short=True,
        round_lots=lot is not None,
        lot_size=int(lot) if lot is not None else 100,
        min_weight_change=float(s.get("min_weight_change", 0.0)),
        min_trade_value=float(s.get("min_trade_value", 0.0)),
    )
    rebalance = {dt.datetime.fromisoformat(x) for x in s["rebalance"]}
    strategy = FollowWeights(weights, rebalance, rebalance_config, avoid_residue=bool(s.get("fractional")))
    share_type = ShareType.FRACTIONAL if s.get("fractional") else ShareType.INTEGER
    engine, result, elapsed = run_engine(s, DataFeed(prices_df=prices), strategy, share_type=share_type)
    fills = pl.DataFrame(
        [
            dict(
                timestamp=f.timestamp,
                asset=f.asset,
                side=f.side.value,
                quantity=float(f.quantity),
                price=float(f.price),
                fees=float(f.commission),
            )
            for f in result.fills
        ],
        schema=dict(
            timestamp=pl.Datetime("us"),
            asset=pl.String,
            side=pl.String,
            quantity=pl.Float64,
            price=pl.Float64,
            fees=pl.Float64,
        ),
    )
    fills.write_parquet(folder / "fills.parquet")
    result.to_trades_dataframe().write_parquet(folder / "trades.parquet")
    result.to_equity_dataframe().write_parquet(folder / "equity.parquet")
    unfilled = [
        {
            "timestamp": str(o.created_at),
            "asset": o.asset,
            "side": o.side.value,
            "quantity": float(o.quantity),
            "status": o.status.value,
            "code": o.rejection_code,
        }
        for o in engine.broker.orders
        if o.status.value != "filled"
    ]
    return {"seconds": elapsed, "unfilled": unfilled}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], run_one))
