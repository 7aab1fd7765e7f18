"""The ``.vec`` namespace on ``pl.DataFrame`` and ``pl.LazyFrame``, registered on import.

``prices.vec.backtest(**kw)`` is ``ml4t_vec.backtest(prices, **kw)``, ``prices.vec.sweep(**kw)``
is ``ml4t_vec.sweep(prices, **kw)`` and ``prices.vec.signal_report(score, ...)`` is
``ml4t_vec.signal_report(prices, score, ...)``: the same functions, the same arguments, the same
results, so a method chain can end in a backtest::

    res = pl.scan_parquet("prices/").filter(pl.col("timestamp").dt.year() >= 2015).vec.backtest(entries=...)

Importing ``ml4t_vec`` imports this module. Registering is idempotent: a second import (or
``importlib.reload``) re-registers the namespace without Polars' "overriding existing custom
namespace" warning. The name ``vec`` is not a Polars attribute or namespace; if another package
has already registered a ``vec`` namespace, that one is kept and a ``UserWarning`` says so (the
functions ``ml4t_vec.backtest``, ``sweep`` and ``signal_report`` work the same).
"""

from __future__ import annotations

import warnings

import polars as pl

from ml4t_vec import api, prediction, sweeps

NAME = "vec"


class VecFrame:
    """``frame.vec``: ml4t_vec's functions with this frame as ``prices``.

    The frame may be a ``pl.DataFrame`` or a ``pl.LazyFrame`` (collected by the function, reading
    only the columns it uses). Every keyword is passed on unchanged.

    Example:
        >>> import polars as pl
        >>> import ml4t_vec.namespace  # done by ``import ml4t_vec``
        >>> from ml4t_vec.data import synthetic_prices
        >>> prices = synthetic_prices(n_assets=3, n_bars=100, seed=0)
        >>> res = prices.vec.backtest(entries=pl.col("pred") > 0.6, exits=pl.col("pred") < 0.4, fees=0.001)
        >>> res.trades.height > 0
        True
    """

    def __init__(self, frame: pl.DataFrame | pl.LazyFrame) -> None:
        self._frame = frame

    def backtest(self, **kwargs) -> api.BacktestResult:
        """``ml4t_vec.backtest(frame, **kwargs)``: signals (``entries=``, ...) or ``weights=``,
        and any other keyword of ``backtest``. Returns its ``BacktestResult``."""
        return api.backtest(self._frame, **kwargs)

    def sweep(self, **kwargs) -> sweeps.SweepResult:
        """``ml4t_vec.sweep(frame, **kwargs)``: ``params=``, the signals or weights (expressions
        or callables of the parameter set) and fixed settings. Returns its ``SweepResult``."""
        return sweeps.sweep(self._frame, **kwargs)

    def signal_report(self, score, horizons=(1, 5, 21), quantiles: int = 5, **kwargs) -> prediction.SignalReport:
        """``ml4t_vec.signal_report(frame, score, horizons, quantiles, **kwargs)``: IC, rank IC,
        quantile returns, turnover and decay of ``score`` (a column name or expression)."""
        return prediction.signal_report(self._frame, score, horizons, quantiles, **kwargs)

    def __repr__(self) -> str:
        return f"<ml4t_vec namespace of a {type(self._frame).__name__}: backtest, sweep, signal_report>"


def _ours(existing) -> bool:
    """Whether a class attribute ``vec`` is this module's namespace (this import or an earlier one)."""
    return getattr(existing, "__module__", None) == __name__ and getattr(existing, "__qualname__", None) == "VecFrame"


def register() -> None:
    """Register ``VecFrame`` as ``.vec`` on ``pl.DataFrame`` and ``pl.LazyFrame`` (idempotent)."""
    for cls, reg in ((pl.DataFrame, pl.api.register_dataframe_namespace),
                     (pl.LazyFrame, pl.api.register_lazyframe_namespace)):  # fmt: skip
        existing = getattr(cls, NAME, None)  # a registered namespace's class attribute is its class
        if existing is VecFrame:
            continue
        if existing is not None and not _ours(existing):
            owner = getattr(existing, "__module__", type(existing).__name__)
            warnings.warn(
                f"`pl.{cls.__name__}.{NAME}` is already taken (by {owner}); ml4t_vec leaves it alone. "
                f"Call `ml4t_vec.backtest(frame, ...)` instead of `frame.{NAME}.backtest(...)`.",
                UserWarning,
                stacklevel=2,
            )
            continue
        with warnings.catch_warnings():  # an earlier copy of this module (reload): replace it quietly
            warnings.filterwarnings("ignore", message="overriding existing custom namespace", category=UserWarning)
            reg(NAME)(VecFrame)


register()
