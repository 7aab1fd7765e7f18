"""Commission schedules: per-share with a minimum and a cap per order, and tiers on the
account's monthly share volume (README "Costs": commission schedules).

``backtest(..., commission=...)`` takes one of these objects, a schedule's name
(``"ibkr_fixed"``, ``"ibkr_tiered"``), a number (a flat per-share rate), or a dict by asset of
those (not of ``Tiered``: its volume is the account's). The flat one-liners (``fees=``,
``fixed_fees=``) still apply on top: exchange fees or a percentage, say.

The commission of one order of ``q`` shares at executed price ``P``::

    min(max(rate * q, min), max_pct * q * P)

the minimum and the cap per order (one order: one fill, or the two fills of a one-order
reversal, whose commission is split by shares). ``Tiered`` takes ``rate`` from the account's
shares traded this calendar month before the order (every fill counts, buys and sells, of
every asset; the count restarts at the first bar of each month).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ml4t_vec._kernels.codes import MAX_TIERS
from ml4t_vec.errors import ConfigError, did_you_mean


def _number(name: str, v, *, lo: float = 0.0, hi: float = math.inf, allow_inf: bool = False) -> float:
    if not isinstance(v, (int, float)) or isinstance(v, bool) or math.isnan(v):
        raise ConfigError(f"`{name}` must be a number; got {v!r}.")
    if (math.isinf(v) and not allow_inf) or v < lo or v > hi:
        raise ConfigError(f"`{name}` must be in [{lo}, {hi}]; got {v!r}.")
    return float(v)


def _check_bounds(owner: str, minimum, max_pct) -> None:
    _number(f"{owner}.min", minimum, hi=1e6)
    if max_pct is not None:
        _number(f"{owner}.max_pct", max_pct, hi=1.0)
        if max_pct <= 0.0:
            raise ConfigError(f"`{owner}.max_pct` caps the commission at a fraction of the trade value; "
                              f"it must be > 0 (None: no cap); got {max_pct!r}.")  # fmt: skip


@dataclass(frozen=True, slots=True)
class PerShare:
    """``rate`` cash per share, at least ``min`` and at most ``max_pct`` x trade value per order.

    ``PerShare(0.005, min=1.0, max_pct=0.01)`` is Interactive Brokers' fixed US-stock schedule
    (``"ibkr_fixed"``): 100 shares @ 25 pay 1.00, 1,000 @ 25 pay 5.00, 1,000 @ 0.25 pay 2.50.
    The cap wins over the minimum on a small order of a cheap stock.
    """

    rate: float
    min: float = 0.0
    max_pct: float | None = None

    def __post_init__(self):
        _number("PerShare.rate", self.rate, hi=100.0)
        _check_bounds("PerShare", self.min, self.max_pct)


@dataclass(frozen=True, slots=True)
class Tiered:
    """A per-share rate by the account's shares traded this calendar month, with a minimum and a
    cap per order.

    ``tiers``: ``((up_to, rate), ...)``: an order whose account has traded ``v`` shares this
    month before it pays the rate of the first tier with ``v < up_to`` (the last tier's
    ``up_to`` is ``inf``; rates fall as volume grows). The month's count restarts at its first
    bar. An independent account (``cash_sharing=False``) counts its own asset's shares.
    ``"ibkr_tiered"`` is Interactive Brokers' tiered US-stock schedule (commission only; the
    exchange, clearing and regulatory pass-throughs are not included).
    """

    tiers: tuple
    min: float = 0.0
    max_pct: float | None = None

    def __post_init__(self):
        tiers = self.tiers
        if not isinstance(tiers, (tuple, list)) or not tiers:
            raise ConfigError(f"`Tiered.tiers` must be ((up_to, rate), ...); got {tiers!r}.")
        if len(tiers) > MAX_TIERS:
            raise ConfigError(f"`Tiered.tiers` takes at most {MAX_TIERS} tiers; got {len(tiers)}.")
        norm = []
        for i, tier in enumerate(tiers):
            if not isinstance(tier, (tuple, list)) or len(tier) != 2:
                raise ConfigError(f"`Tiered.tiers[{i}]` must be (up_to, rate); got {tier!r}.")
            up_to = math.inf if tier[0] is None else _number(f"Tiered.tiers[{i}] up_to", tier[0], allow_inf=True)
            norm.append((up_to, _number(f"Tiered.tiers[{i}] rate", tier[1], hi=100.0)))
        for (u0, r0), (u1, r1) in zip(norm, norm[1:], strict=False):
            if not u1 > u0:
                raise ConfigError(f"`Tiered.tiers` must rise in volume; got up_to {u0!r} then {u1!r}.")
            if r1 > r0:
                raise ConfigError(
                    f"`Tiered.tiers` rates must fall (or stay) as volume grows; got {r0!r} then {r1!r}. "
                    "(An order is sized at the rate it starts at; a higher rate later could overdraw the cash.)"
                )
        if not math.isinf(norm[-1][0]):
            raise ConfigError(f"`Tiered.tiers`' last tier has no upper bound: (inf or None, rate); got {tiers[-1]!r}.")
        object.__setattr__(self, "tiers", tuple(norm))
        _check_bounds("Tiered", self.min, self.max_pct)


SCHEDULES = {
    # interactivebrokers.com "Commissions: stocks, ETFs and warrants", US, fixed and tiered
    "ibkr_fixed": PerShare(0.005, min=1.0, max_pct=0.01),
    "ibkr_tiered": Tiered(
        ((300_000, 0.0035), (3_000_000, 0.002), (20_000_000, 0.0015), (100_000_000, 0.001), (math.inf, 0.0005)),
        min=0.35,
        max_pct=0.01,
    ),
}


def resolve(v, where: str = "commission") -> PerShare | Tiered:
    """A schedule from what ``commission=`` (or one asset's value of a dict) accepts."""
    if isinstance(v, (PerShare, Tiered)):
        return v
    if isinstance(v, str):
        if v not in SCHEDULES:
            raise ConfigError(
                f"`{where}` names no schedule: {v!r}; known: {sorted(SCHEDULES)}.{did_you_mean(v, SCHEDULES)}"
            )
        return SCHEDULES[v]
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return PerShare(v)
    raise ConfigError(
        f"`{where}` must be a vec.PerShare, a vec.Tiered, a schedule name ({', '.join(map(repr, SCHEDULES))}), a "
        f"per-share rate, or a dict by asset of those; got {v!r}."
    )


def check(v) -> None:
    """Validate a ``commission=`` setting (None: off)."""
    if v is None:
        return
    if isinstance(v, dict):
        if not v:
            raise ConfigError("`commission` as a dict needs one schedule per asset; got {}.")
        for asset, x in v.items():
            if isinstance(resolve(x, f"commission[{asset!r}]"), Tiered):
                raise ConfigError(
                    f"`commission[{asset!r}]` is a Tiered schedule; its tiers count the account's monthly shares, "
                    "so it applies to every asset: pass commission=vec.Tiered(...) itself."
                )
        return
    resolve(v)
