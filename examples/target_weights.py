"""Hold the portfolio a model's scores imply: decile long/short weights rebalanced monthly,
score-proportional weights capped at 20%, and what resizing looks like in the records.

Run: python examples/target_weights.py
"""

import polars as pl

import ml4t_vec as vec

prices = vec.synthetic_prices(n_assets=30, n_bars=756, seed=5)

# long the top decile of the score, short the bottom one, equal weights (gross 1), monthly
deciles = vec.backtest(prices, weights=vec.weights.quantile(pl.col("pred"), q=10), rebalance="M", fees=0.0005)
print(deciles)
print(deciles.summary())

# weights proportional to the demeaned score, each capped at +-20%, rescaled to gross 1; whole
# shares, the target rounded toward zero; tiny changes skipped
capped = vec.weights.normalize(vec.weights.clip(vec.weights.proportional(pl.col("pred")), 0.2))
prop = vec.backtest(prices, weights=capped, rebalance="W", fractional=False, min_weight_change=0.01, fees=0.0005)
print(prop.stats().select("total_return", "sharpe", "max_drawdown", "total_fees", "turnover"))

# a resized position: its entry, increases and reductions share one position_id; each reduction
# wrote a partial trade row at the average cost
pid = prop.trades.filter(pl.col("status") == "partial").get_column("position_id")[0]
print(prop.fills.filter(pl.col("position_id") == pid).select("timestamp", "side", "effect", "quantity", "price"))
print(prop.trades.filter(pl.col("position_id") == pid).select("exit_time", "quantity", "entry_price", "pnl", "status"))
print(prop.positions.filter(pl.col("position_id") == pid))

# the books balance: every trade row's pnl adds up to the equity's change
assert abs(prop.trades["pnl"].sum() - (prop.equity["equity"][-1] - 100_000)) < 1e-6

# hold-aware selection: the 5 best and 5 worst names, but a held name stays while it ranks within
# 3 places of the cut-off; fewer trades when ranks jitter
for b in (0, 3):
    s = vec.backtest(prices, weights=vec.weights.top_k(pl.col("pred"), 5, 5, buffer=b), rebalance="W", fees=0.0005)
    print(f"buffer={b}:", s.stats().select("total_return", "turnover", "total_fees").row(0))

# stops on the held names (anchored at each position's average cost; a stopped name waits for the
# next rebalance) and a drawdown circuit breaker that liquidates and pauses for 20 bars
guarded = vec.backtest(prices, weights=vec.weights.quantile(pl.col("pred"), q=10), rebalance="M", fees=0.0005,
                       stop_loss=0.08, trailing_stop=0.12, max_drawdown=0.1, drawdown_action="liquidate",
                       drawdown_cooldown=20)  # fmt: skip
print(guarded.trades.group_by("exit_reason").len().sort("exit_reason"))

# a sweep over the book size, the buffer and the schedule: one row of metrics per set
grid = vec.sweep(prices, weights=lambda p: vec.weights.top_k(pl.col("pred"), p.k, p.k, buffer=p.b),
                 params={"k": [3, 5], "b": [0, 2], "rebalance": ["W", "M"]}, fees=0.0005)  # fmt: skip
print(grid.best("sharpe", n=3).select("k", "b", "rebalance", "sharpe", "turnover"))
