"""ml4t_vec: a vectorized dataframe backtester for ML-driven trading research.

Long Polars frames and signal expressions in; trades, fills and equity frames out; numba
kernels in between. Start with ``ml4t_vec.backtest``.
"""

from ml4t_vec import analysis, splits, weights
from ml4t_vec import namespace as _namespace  # noqa: F401  registers `.vec` on Polars frames
from ml4t_vec.api import BacktestResult, backtest
from ml4t_vec.commission import PerShare, Tiered
from ml4t_vec.config import (
    BacktestConfig,
    CostConfig,
    ExecutionConfig,
    LimitsConfig,
    PortfolioConfig,
    RebalanceConfig,
    RiskConfig,
    SizingConfig,
)
from ml4t_vec.data import synthetic_prices
from ml4t_vec.errors import ConfigError, DataError, DataWarning, LookAheadWarning
from ml4t_vec.impact import SquareRootImpact
from ml4t_vec.lots import round_trips
from ml4t_vec.prediction import SignalReport, signal_report
from ml4t_vec.samples import load_sample
from ml4t_vec.sweeps import Params, SweepResult, sweep
from ml4t_vec.walkforward import WalkForwardResult, walk_forward

__version__ = "0.1.0"

__all__ = [
    "BacktestConfig",
    "BacktestResult",
    "ConfigError",
    "CostConfig",
    "DataError",
    "DataWarning",
    "ExecutionConfig",
    "LimitsConfig",
    "LookAheadWarning",
    "Params",
    "PerShare",
    "PortfolioConfig",
    "RebalanceConfig",
    "RiskConfig",
    "SignalReport",
    "SizingConfig",
    "SquareRootImpact",
    "SweepResult",
    "Tiered",
    "WalkForwardResult",
    "__version__",
    "analysis",
    "backtest",
    "load_sample",
    "round_trips",
    "signal_report",
    "splits",
    "sweep",
    "synthetic_prices",
    "walk_forward",
    "weights",
]
