"""Market impact: the price an order moves by its own size (README "Costs": market impact).

``backtest(..., impact=vec.SquareRootImpact(k=0.1))`` charges every fill of ``q`` shares

    impact per share = k * sigma * (q / adv) ** exponent * P

where ``P`` is the fill's executed price before impact (the reference price moved by slippage
and half the spread): a buy executes at ``P + impact``, a sell at ``P - impact``. ``sigma`` (a
volatility, a fraction per bar) and ``adv`` (an average volume, in shares) are expressions
evaluated per row and read at **the asset's bar before the fill** (its previous row): the last
completed bar when an order is decided, so no fill ever sees its own bar's volume or move. A
fill on an asset's first bar, or where ``sigma`` or ``adv`` is null or NaN there (a warm-up
window: the defaults' first ``window`` + 1 bars of each asset), pays no impact.

The impact is one order's: its size is the order's shares (an entry, an exit, an increase, a
scale-out step). Every sizing rule counts it as a cost: a percent or value size is the cash
committed including fees *and* impact, and the cash / buying-power limit cuts an order to what
its notional, fees and impact fit in (solved numerically: the cost is not linear in the
shares). Fees are charged on ``P``. Fills and trades report it as ``impact_cost``, apart from
``slippage`` and ``spread_cost``.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import polars as pl

from ml4t_vec.errors import ConfigError


@dataclass(frozen=True, slots=True)
class SquareRootImpact:
    """The square-root law of market impact (Almgren et al. 2005; Torre's BARRA model):
    ``k * sigma * (q / adv) ** exponent`` of the price per share for an order of ``q`` shares.

    Args:
        k: the impact coefficient, in [0, 1e6] (of order 0.1-1 in the literature: 0.1 with ``sigma``
            a daily volatility moves the price by 0.1 sigma for an order of one day's volume).
        exponent: the power of the participation ``q / adv``, in (0, 2] (0.5: the square root;
            1.0: linear impact).
        sigma: the volatility per bar as a Polars expression or column name, evaluated per row
            (a fraction, e.g. 0.02). None: the sample standard deviation of the asset's close-to-
            close returns over its last ``window`` bars.
        adv: the average volume per bar in shares, an expression or column name. None: the mean
            of the asset's ``volume`` column over its last ``window`` bars.
        window: the bars of the default ``sigma`` and ``adv``, an int >= 2.

    Both are read at the asset's previous bar (module doc), so a trailing window is the right
    input and a centred one would look ahead.

    Example:
        >>> import ml4t_vec as vec
        >>> vec.SquareRootImpact(k=0.1)
        SquareRootImpact(k=0.1, exponent=0.5, sigma=None, adv=None, window=20)
    """

    k: float
    exponent: float = 0.5
    sigma: object = None
    adv: object = None
    window: int = 20

    def __post_init__(self):
        for name, v, hi in (("k", self.k, 1e6), ("exponent", self.exponent, 2.0)):
            if not isinstance(v, numbers.Real) or isinstance(v, bool) or not math.isfinite(v) or not 0.0 <= v <= hi:
                raise ConfigError(f"`SquareRootImpact.{name}` must be a number in [0, {hi:g}]; got {v!r}.")
            object.__setattr__(self, name, float(v))
        if self.exponent <= 0.0:
            raise ConfigError(f"`SquareRootImpact.exponent` must be > 0 (0.5: square root); got {self.exponent!r}.")
        w = self.window
        if isinstance(w, bool) or not isinstance(w, numbers.Integral) or w < 2:
            raise ConfigError(f"`SquareRootImpact.window` must be an int >= 2 (bars); got {w!r}.")
        for name in ("sigma", "adv"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, (pl.Expr, str)):
                raise ConfigError(
                    f"`SquareRootImpact.{name}` must be a Polars expression or a column name (None: the "
                    f"default over `window` bars); got {type(v).__name__} {v!r}."
                )
        object.__setattr__(self, "window", int(w))

    def columns(self) -> list[str]:
        """The columns the default inputs read (``volume`` for the default ``adv``)."""
        return ["close"] * (self.sigma is None) + ["volume"] * (self.adv is None)

    def coefficient(self, asset: str, timestamp: str) -> pl.Expr:
        """``k * sigma / adv ** exponent`` per row (a fill reads its asset's previous row's:
        Prepare shifts it on the grid, ``grid.previous_row_nb``); the kernels multiply it by ``P
        * q ** exponent``. Null where an input is null or NaN; inf on a row whose ``adv`` is <= 0
        or ``sigma`` < 0, or either infinite (refused with that row named, never read as no
        impact). A constant ``sigma`` or ``adv`` is that value on every row. The defaults'
        windows run over each asset's rows in time order (Prepare orders them for a window,
        README "Data policy"; ``order_by=timestamp``, and the windows nested in a shift's
        window, took 1.3 s on 2.5 million rows)."""
        rows = pl.col(timestamp).is_not_null()  # (a constant sigma or adv becomes one value per row)
        if self.sigma is None:
            close = pl.col("close").cast(pl.Float64)
            sigma = (close / close.shift(1) - 1.0).rolling_std(self.window).over(asset)
        else:
            sigma = _expr(self.sigma)
        if self.adv is None:
            adv = pl.col("volume").cast(pl.Float64).rolling_mean(self.window).over(asset)
        else:
            adv = _expr(self.adv)
        sigma, adv = sigma.cast(pl.Float64), adv.cast(pl.Float64)
        bad = (adv <= 0.0) | (sigma < 0.0) | sigma.is_infinite() | adv.is_infinite()
        return pl.when(rows & bad).then(float("inf")).when(rows).then(self.k * sigma / adv**self.exponent)


@dataclass(frozen=True, slots=True)
class Precomputed(SquareRootImpact):
    """A ``SquareRootImpact`` whose coefficient is already a column of the frame, each row
    holding its asset's previous row's (``column``: ``SquareRootImpact.coefficient`` shifted
    over a longer frame; Prepare does not shift it again): ``walk_forward`` evaluates it over
    the whole data, so each test window's first bars keep their warm-up."""

    column: str = ""

    def columns(self) -> list[str]:
        return []

    def coefficient(self, asset: str, timestamp: str) -> pl.Expr:
        return pl.col(self.column)


def _expr(v) -> pl.Expr:
    return pl.col(v) if isinstance(v, str) else v


def check(v) -> None:
    """``impact=`` is None or a ``SquareRootImpact``."""
    if v is not None and not isinstance(v, SquareRootImpact):
        raise ConfigError(
            f"`impact` must be a market impact model, e.g. vec.SquareRootImpact(k=0.1), or None; got "
            f"{type(v).__name__} {v!r}."
        )
