"""Model predictions in their own frame, cross-sectional ranks, long/short, both account modes.

Run: python examples/ml_signals.py
"""

import polars as pl

import ml4t_vec as vec

prices = vec.synthetic_prices(n_assets=40, n_bars=756, seed=11)

# predictions usually come from a separate pipeline: keep them in their own long frame
preds = prices.select("timestamp", "asset", score=pl.col("pred"))
prices = prices.drop("pred")

# rank the score across assets on each day; trade the top and bottom decile
pct = pl.col("score").rank().over("timestamp") / pl.len().over("timestamp")
common = dict(
    signals=preds,
    entries=pct > 0.9,
    exits=pct < 0.6,
    short_entries=pct < 0.1,
    short_exits=pct > 0.4,
    size=0.05,  # 5% of equity per position
    fees=0.0005,
    slippage=0.0002,
)

shared = vec.backtest(prices, **common)  # one portfolio, entries compete for cash
indep = vec.backtest(prices, **common, cash_sharing=False)  # one account per asset

print(shared)
print(shared.trades.group_by("direction").agg(pl.len(), pl.col("pnl").sum(), pl.col("bars_held").mean()))
print(shared.stats().select("total_return", "sharpe", "max_drawdown", "n_trades", "win_rate"))
print(indep.stats().select("total_return", "sharpe", "max_drawdown", "n_trades", "win_rate"))

# the per-account view of the independent run
print(indep.asset_equity.filter(pl.col("timestamp") == pl.col("timestamp").max()).sort("equity").head(5))

# realistic costs on the shared run: half a 5 bps spread per fill and square-root market impact
# (k = 0.1 x the 20-bar return volatility x sqrt(shares / 20-bar mean volume), read at the bar
# before each fill); each is reported apart from the fees
costly = vec.backtest(prices, **common, spread=0.0005, impact=vec.SquareRootImpact(k=0.1))
print(costly.stats().select("total_return", "total_fees", "total_slippage", "total_spread_cost", "total_impact_cost"))

# entry timing: the same signals as limit orders half a percent inside the signal close, good for
# three bars (README "Order types"): a fill at the limit pays no slippage or spread, an order the
# market never reaches expires, and each order's fate is in `rejected`
limits = vec.backtest(prices, **common, spread=0.0005, order_type="limit", limit_offset=0.005, tif=3)
print(limits.stats().select("total_return", "n_trades", "total_slippage", "total_spread_cost"))
print(limits.rejected.group_by("reason").len().sort("len", descending=True))
