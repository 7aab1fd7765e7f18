"""A warm numba cache is used as is: a backtest in a fresh process compiles nothing.

The first process compiles cold, in its own cache: every kernel function, drivers and callees,
is compiled exactly once. Guards against a dtype, memory layout or writability change in an input (float32, F-order, an
int where a float is expected, a writable array where the rest are read-only) that would make
every process compile a driver a second time (~40 s; STYLE.md §3). Every kernel input goes
through ``ml4t_vec._kernels.kernel_array``; this runs every option family that lowers inputs
differently, in every input layout, and a sweep.
"""

import os
import subprocess
import sys

SCRIPT = r"""
import warnings
import polars as pl, ml4t_vec as vec

warnings.simplefilter("ignore")
p = vec.synthetic_prices(n_assets=4, n_bars=60, seed=1).with_columns(
    atr=(pl.col("high") - pl.col("low")).rolling_mean(5).over("asset"), vwap=(pl.col("high") + pl.col("low")) / 2,
    ts=pl.col("timestamp").cast(pl.Datetime("us")) + pl.duration(hours=15, minutes=pl.int_range(pl.len()) % 3 * 30),
)
ragged = p.filter((pl.col("asset") != "A0") | (pl.col("timestamp") > pl.col("timestamp").min()))
layouts = (p, ragged, p.sort("timestamp", "asset"), p.sample(fraction=1.0, shuffle=True, seed=0),
           p.with_columns(pl.col("asset").cast(pl.Categorical)), p.drop("open", "high", "low"))
e, x = pl.col("pred") > 0.6, pl.col("pred") < 0.4
options = [
    {},
    dict(stop_loss=pl.col("atr") / pl.col("close"), take_profit=0.1, trailing_stop={"A1": 0.05}),
    dict(stop_loss_price=pl.col("close") * 0.95, take_profit_price="vwap", max_bars=5),
    dict(price="vwap", priority="pred", max_positions=2, max_gross_leverage=1.5, daily_loss_limit=0.02),
    dict(max_drawdown=0.05, drawdown_action="liquidate", drawdown_cooldown=3, max_net_exposure=0.5,
         max_position_weight=0.3),
    dict(preset="vectorbt"), dict(preset="ml4t", size=10, size_type="shares"),
    dict(fees={"A0": 0.001, "A1": 0.0, "A2": 0.002, "A3": 0.0005}, slippage={"A0": 0.0, "A1": 0.001, "A2": 0.0,
         "A3": 0.01}, borrow_rate=0.05),
    dict(borrow_rate=pl.col("pred") / 10, cash_sharing=False, credit_rate=0.02),
    dict(max_gross_leverage=2.0, cash_rate=0.05, cash_sharing=True),
    dict(order_type="limit", limit_offset=0.01, tif=3, stop_loss=0.05),
    dict(order_type="stop_limit", stop_price=pl.col("close") * 1.01, limit_price="vwap", cash_sharing=True,
         on_signal_off="cancel", max_positions=2),
]
for df in layouts:
    for cs in (True, False):
        for fill in ("next_open", "next_close", "same_close"):
            r = vec.backtest(df, entries=e, exits=x, short_entries=x, short_exits=e, cash_sharing=cs, fill=fill,
                             fees=0.001, size=0.25)
            r.trades, r.fills, r.rejected, r.equity, r.asset_equity, r.stats(), r.fingerprint
for o in options:
    cs = o.pop("cash_sharing", "max_positions" in o or "max_drawdown" in o or "preset" in o)
    kw = dict(fill="next_open", cash_sharing=cs) | o if "preset" not in o else o
    r = vec.backtest(p, entries=e, exits=x, **kw)
    r.trades, r.equity
vec.backtest(p.with_columns(timestamp=pl.col("ts")), entries=e, exits=x, session_exit="15:45").trades
w = pl.col("pred") - pl.col("pred").mean().over("timestamp")
for df in layouts:
    for fill in ("next_open", "next_close", "same_close"):
        r = vec.backtest(df, weights=w, rebalance=5, fill=fill, fees=0.001, fixed_fees=1.0, fractional=False)
        r.trades, r.fills, r.rejected, r.equity, r.asset_equity
for o in (dict(size_at="fill", shortfall="priority", priority="pred", lot_size={"A1": 10}, rebalance="M"),
          dict(shortfall="reject", rounding="nearest", missing="hold", rebalance=pl.col("pred") > 0.5),
          dict(preset="ml4t", slippage=0.001, lot_size=5, rebalance=3),
          dict(commission_per_share={"A0": 0.01, "A1": 0.0, "A2": 0.005, "A3": 0.0}, rebalance=2,
               borrow_rate={"A0": 0.01, "A1": 0.0, "A2": 0.5, "A3": 0.02}),
          dict(borrow_rate="pred", rebalance=4)):
    vec.backtest(p, weights=w, **o).trades
vec.backtest(ragged, weights=vec.weights.top_k("pred", 2, 1, buffer=1), rebalance=3, price="vwap").trades
for o in (dict(stop_loss=0.05, trailing_stop=0.1, max_drawdown=0.1), dict(preset="ml4t", max_bars=4)):
    vec.backtest(p, weights=w, rebalance=3, **o).trades
vec.sweep(p, weights=lambda q: vec.weights.top_k("pred", q.k, buffer=q.b), params={"k": [1, 2], "b": [0, 1]},
          progress=False)
for cs in (True, False):
    vec.sweep(p, entries=lambda q: pl.col("pred") > q.t, exits=x, params={"t": [0.55, 0.6], "stop_loss": [None, 0.05]},
              cash_sharing=cs, progress=False)
vec.sweep(p, entries=lambda q: pl.col("pred") > q.t, exits=x, params={"t": [0.55, 0.6]}, cash_sharing=False,
          per_asset=True, progress=False)
import importlib, pkgutil
from numba.core.dispatcher import Dispatcher
import ml4t_vec._kernels as kernels
misses, signatures, literal = {}, {}, {}
for info in pkgutil.iter_modules(kernels.__path__):
    mod = importlib.import_module(f"ml4t_vec._kernels.{info.name}")
    for name, f in vars(mod).items():
        if not isinstance(f, Dispatcher) or f.py_func.__module__ != mod.__name__:
            continue
        if hasattr(f.stats, "cache_misses"):
            n = sum(f.stats.cache_misses.values())
            if n:
                misses[f"{mod.__name__}.{name}"] = n
        if f.overloads:
            signatures[name] = len(f.overloads)
        lits = {str(a) for sig in f.overloads for a in sig if "Literal" in str(a)}
        if lits:
            literal[name] = sorted(lits)
print(literal)
print(signatures)
print(misses)
"""

# Functions compiled for more than one input type on purpose: per-row values of several dtypes
# (uint8 and float64 rows; three record dtypes, two for the weight driver's grouping by column),
# and the drivers and fill functions with the order model's code pruned (None) or in (vectorbt's
# model: one-order reversals, covers cut by cash; pyramiding).
ORDER_MODEL = ("simulate_columns_nb", "simulate_groups_nb", "simulate_group_nb", "_run_group_nb", "phase_nb")
ORDER_MODEL += ("fill_one_nb", "exit_nb", "rule_exit_nb", "rule_fired_nb", "entries_nb", "rules_nb", "enter_nb")
ORDER_MODEL += ("refuse_entry_nb",)  # (commission tiers: their cost reads compile into the order model's copy)
# the target-weight kernel: with or without position rules, and the peers' order models (None prunes them)
WEIGHT_VARIANTS = {"rebalance_nb": 4, "_fill_phase_nb": 2, "_held_through_nb": 2, "_start_rules_nb": 2}
# the order arithmetic on a cost tuple: five numbers in the default copy, seven (the market impact's
# coefficient and exponent) in the order model's (orders.cost_tuple: the impact's solver is not
# compiled into a run without it)
COST_TUPLE = ("close_nb", "commission_nb", "fee_nb", "unit_cost_nb", "requested_quantity_nb", "max_affordable_nb",
              "order_cash_nb", "scheduled_affordable_nb", "backtesting_entry_nb", "exit_fill_nb", "entry_request_nb",
              "limit_entry_nb", "entry_fill_nb", "cash_buy_nb", "cash_sell_nb")  # fmt: skip
MANY = {"to_grid_nb": 2, "_column_order_nb": 2} | dict.fromkeys(ORDER_MODEL + COST_TUPLE, 2) | WEIGHT_VARIANTS
# resting entry orders (README "Order types") compile a third copy of the drivers (``resting`` not None)
MANY |= {"simulate_columns_nb": 3, "simulate_group_nb": 3, "simulate_groups_nb": 3}
MANY["_run_group_nb"] = 6  # also with or without its one-column paths (the independent-accounts driver's copy)
MANY["entries_nb"] = 3  # and in the order model's copy for resting orders' fills (``rest`` not None)


def test_second_process_compiles_nothing(tmp_path):
    # its own numba cache: the first process compiles every kernel the script needs, cold
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    first = subprocess.run([sys.executable, "-c", SCRIPT], check=True, capture_output=True, text=True, env=env)
    *_, literal, signatures, _ = first.stdout.strip().splitlines()
    # one machine-code version per kernel function (drivers and every callee they compile),
    # whatever the options and layouts: no second compile, and no copy per literal argument
    # (numba specializes a callee on a literal int or bool, even a loop variable's literal start
    # value: pass np.int64(...) / bool(...))
    assert literal == "{}", literal
    for name, n in eval(signatures).items():
        assert n <= MANY.get(name, 1), (name, n, signatures)
    second = subprocess.run([sys.executable, "-c", SCRIPT], check=True, capture_output=True, text=True, env=env)
    *_, misses = second.stdout.strip().splitlines()
    assert misses == "{}", second.stdout
