"""Run ml4t-backtest 0.2.0 itself on scenario folders (a peer for ``test_ml4t_preset.py``).

Runs under Python >= 3.12 with ``ml4t-backtest==0.2.0``, polars and pyarrow installed; it
imports nothing from ml4t_vec (ml4t-backtest is used as a library only, never copied).

    python ml4t_runner.py DIR

Every subfolder of DIR holding ``prices.parquet`` and ``settings.json`` is one scenario:

- ``prices.parquet``: long frame ``timestamp, asset, open, high, low, close, volume`` plus the
  signal columns ``s0`` (long entry), ``s1`` (long exit), ``s2`` (short entry), ``s3`` (short
  exit). Assets may skip bars, start late or end early.
- ``settings.json``: ``init_cash``, ``size`` (shares per entry), ``fees`` (fraction of notional),
  ``fixed_fees`` (cash per fill), ``commission_per_share``, ``slippage`` (fraction),
  ``slippage_per_share`` (cash), ``stop_loss`` / ``take_profit`` / ``trailing_stop`` (fractions
  or null); optional ``keep_defect`` (see ``FollowSignals``).

The strategy follows the signals the way ml4t-backtest's ``SignalFollowingStrategy`` template
does (``strategies/templates.py``): flat -> a long entry opens a long, else a short entry opens a
short; long -> a long exit closes (``broker.close_position``); short -> a short exit closes.
Orders are fixed whole-share market orders, filled with the engine's defaults (next bar's open,
exits before entries, integer shares, a non-leveraged account that allows shorts). Stops are
ml4t-backtest's own ``StopLoss`` / ``TakeProfit`` / ``TrailingStop`` in a ``RuleChain`` (in that
order, as its documentation and parity scenarios chain them), costs its own commission and
slippage models. One deviation steers around a defect of 0.2.0 (``FollowSignals``).

Writes ``trades.parquet`` (``result.to_trades_dataframe()``: closed and open trades) and
``meta.json`` per scenario: the run time, the rule-exit orders that did not close a position
(ml4t-backtest defect, see ``phantom_entries``) and the rejected orders, so the test can leave out
what the defect changed.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path

import polars as pl
from ml4t.backtest import BacktestConfig, DataFeed, Engine, RuleChain, StopLoss, Strategy, TakeProfit, TrailingStop
from ml4t.backtest.models import (
    FixedSlippage,
    NoCommission,
    NoSlippage,
    PercentageSlippage,
    PerOrderCommission,
)

SIGNALS = ("s0", "s1", "s2", "s3")


class SumSlippage:
    """ml4t-backtest's ``SlippageModel`` protocol: the sum of its own percentage and fixed
    (per-share) slippage models. It has no built-in model with both, and its config keeps only
    one of ``slippage_rate`` / ``slippage_fixed`` (``Broker.from_config``)."""

    def __init__(self, rate: float, amount: float):
        self.parts = (PercentageSlippage(rate=rate), FixedSlippage(amount=amount))

    def calculate(self, asset, quantity, price, volume):
        return sum(p.calculate(asset, quantity, price, volume) for p in self.parts)


def slippage_model(s: dict):
    rate, amount = s["slippage"], s["slippage_per_share"]
    if rate and amount:
        return SumSlippage(rate, amount)
    if rate:
        return PercentageSlippage(rate=rate)
    if amount:
        return FixedSlippage(amount=amount)
    return NoSlippage()


def commission_model(s: dict):
    """PerOrderCommission: per share + rate x notional + a fixed fee per order (one fill here)."""
    if not (s["fees"] or s["fixed_fees"] or s["commission_per_share"]):
        return NoCommission()
    return PerOrderCommission(per_share=s["commission_per_share"], rate=s["fees"], per_trade=s["fixed_fees"])


def position_rules(s: dict):
    rules = []
    if s.get("stop_loss") is not None:
        rules.append(StopLoss(pct=s["stop_loss"]))
    if s.get("take_profit") is not None:
        rules.append(TakeProfit(pct=s["take_profit"]))
    if s.get("trailing_stop") is not None:
        rules.append(TrailingStop(pct=s["trailing_stop"]))
    return RuleChain(rules) if rules else None


class FollowSignals(Strategy):
    """The signal template's decisions, with fixed share sizes.

    ``avoid_defect`` (default): while a signal exit waits for the asset's next open, the asset's
    position rules are switched off (``set_position_rules(None, asset=...)``); the next entry
    order switches them back on. The exit then fills at that open and no rule sees the position
    in the rest of the bar, which is what a position closed at the open means. Without this,
    ml4t-backtest 0.2.0 also fills the rule's exit of that bar, as a new opposite position
    (``run_one``). Nothing else changes: rules are never checked on a bar that opens flat."""

    def __init__(self, size: float, rules, avoid_defect: bool = True):
        self.size = size
        self.rules = rules
        self.avoid_defect = avoid_defect and rules is not None

    def on_start(self, broker):
        if self.rules is not None:
            broker.set_position_rules(self.rules)

    def enter(self, broker, asset, quantity):
        if self.avoid_defect:
            broker.set_position_rules(self.rules, asset=asset)
        broker.submit_order(asset, quantity)

    def close(self, broker, asset):
        broker.close_position(asset)
        if self.avoid_defect:
            broker.set_position_rules(None, asset=asset)

    def on_data(self, timestamp, data, context, broker):
        for asset, bar in data.items():
            sig = bar.get("signals") or {}
            pos = broker.get_position(asset)
            if pos is None:
                if sig.get("s0"):
                    self.enter(broker, asset, self.size)
                elif sig.get("s2"):
                    self.enter(broker, asset, -self.size)
            elif pos.quantity > 0:
                if sig.get("s1"):
                    self.close(broker, asset)
            elif sig.get("s3"):
                self.close(broker, asset)


def read_scenario(folder: Path) -> tuple[dict, pl.DataFrame, pl.DataFrame]:
    """A scenario folder's (settings, frame sorted by time then asset, OHLCV prices)."""
    s = json.loads((folder / "settings.json").read_text())
    df = pl.read_parquet(folder / "prices.parquet").sort("timestamp", "asset")
    return s, df, df.select("timestamp", "asset", "open", "high", "low", "close", "volume")


def run_engine(s: dict, feed, strategy, **config) -> tuple:
    """Run ml4t-backtest on ``feed`` with ``strategy``: an account that may short without
    leverage ("crypto" account), no exchange calendar (synthetic bars), the scenario's costs.
    Returns (engine, result, run seconds)."""
    cfg = BacktestConfig(initial_cash=float(s["init_cash"]), allow_short_selling=True, calendar=None, **config)
    engine = Engine(feed, strategy, cfg, commission_model=commission_model(s), slippage_model=slippage_model(s))
    t0 = time.perf_counter()
    result = engine.run()
    return engine, result, time.perf_counter() - t0


def run_one(folder: Path) -> dict:
    s, df, prices = read_scenario(folder)
    signals = df.select("timestamp", "asset", *[pl.col(c).fill_null(False).cast(pl.Float64) for c in SIGNALS])
    strategy = FollowSignals(float(s["size"]), position_rules(s), avoid_defect=not s.get("keep_defect", False))
    engine, result, elapsed = run_engine(s, DataFeed(prices_df=prices, signals_df=signals), strategy)
    trades = result.to_trades_dataframe()
    trades.write_parquet(folder / "trades.parquet")
    # ml4t-backtest 0.2.0 defect (FollowSignals avoids it unless settings["keep_defect"]): a signal
    # exit pending for bar t's open and a position rule triggering on bar t are both filled
    # (core/risk_engine.py evaluate_position_rules runs before the open's fills); the rule's order,
    # no longer an exit, is re-classified as an entry (core/execution_engine.py
    # _process_orders_exit_first) and opens an opposite position, or is rejected; either way it
    # blocks re-entry on that bar (core/order_book.py submit_order, stop_exits_this_bar).
    exit_fill = {f.order_id: bool(f.exit_reason) for f in result.fills}
    phantom = [
        {"timestamp": str(o.created_at), "asset": o.asset, "reason": o._risk_exit_reason, "status": o.status.value}
        for o in engine.broker.orders
        if o._risk_exit_reason and not exit_fill.get(o.order_id, False)
    ]
    # entries refused for cash (the test needs them to know whether the defect above can have
    # moved other assets' fills): submission bar, asset, code
    rejected = [
        {"timestamp": str(o.created_at), "asset": o.asset, "code": o.rejection_code}
        for o in engine.broker.orders
        if o.status.value == "rejected"
    ]
    return {"seconds": elapsed, "phantom_entries": phantom, "rejected": rejected}


def main(root: str, run=None) -> int:
    """Run every scenario folder under ``root`` with ``run`` (default ``run_one``); writes each
    one's ``meta.json`` (an error's traceback instead when it fails)."""
    run = run or run_one
    failed = 0
    for folder in sorted(p for p in Path(root).iterdir() if (p / "settings.json").exists()):
        try:
            meta = run(folder)
        except Exception:  # noqa: BLE001 - reported per scenario, the others still run
            meta = {"error": traceback.format_exc()}
            failed += 1
        (folder / "meta.json").write_text(json.dumps(meta))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
