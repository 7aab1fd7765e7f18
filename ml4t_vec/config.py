"""Frozen configuration objects behind ``ml4t_vec.backtest``.

A config holds no data, validates itself in ``__post_init__``, speaks strings for enums and
lowers itself to kernel parameters in ``_prepare``. ``BacktestConfig.hash()`` is a stable digest
stored on every result, so a saved result says how it was made.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
import sys
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from ml4t_vec import commission, impact
from ml4t_vec._kernels.codes import (
    CASH_RULE,
    DRAWDOWN_ACTION,
    FILL_ORDER,
    INTRABAR,
    LIMIT_TOUCH,
    MISSING,
    ON_NEW_SIGNAL,
    ON_SIGNAL_OFF,
    ORDER_TYPE,
    PERCENT_OF,
    REVERSAL,
    ROUNDING,
    SHORTFALL,
    SIGNAL_RULES,
    SIZE_AT,
    SIZE_RULE,
    SIZE_TYPE,
    SLIPPAGE_ON,
    STOP_ANCHOR,
    TIMING,
    TRAILING_SOURCE,
    TRAILING_START,
)
from ml4t_vec.errors import ConfigError, check_choice

FILL_TIMINGS = tuple(TIMING)
SIZE_TYPES = tuple(SIZE_TYPE)


def _is_number(x) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


def _check_number(
    name: str, value, *, lo: float, hi: float = math.inf, lo_open: bool = False, allow_inf: bool = False
) -> None:
    if not _is_number(value) or math.isnan(value):
        raise ConfigError(f"`{name}` must be a number; got {value!r}.")
    if math.isinf(value) and not allow_inf:
        raise ConfigError(f"`{name}` must be finite; got {value!r}.")
    below = value <= lo if lo_open else value < lo
    if below or value > hi:
        left = "(" if lo_open else "["
        raise ConfigError(f"`{name}` must be in {left}{lo}, {hi}]; got {value!r}.")


@dataclass(frozen=True, slots=True, kw_only=True)
class CostConfig:
    """Trading costs, charged on every fill.

    Every cost but ``slippage_on`` is a number for all assets or a dict with one number per
    asset (``{"AAPL": 0.0005, "TSLA": 0.001}``: a per-asset commission or a wider spread on
    illiquid names). A dict names every asset of the data (``ConfigError`` listing the missing
    ones: an asset left out would trade for free) and no other (``DataError``). ``fees``,
    ``fixed_fees``, ``commission_per_share``, ``spread`` / ``spread_price`` and ``borrow_rate``
    may also be an expression or column read per bar: the fees and the spread at each fill's bar
    (a null there: none), so a fee schedule that changes over time is data.

    Attributes:
        fees: fraction of notional per fill (0.001 = 10 bps), charged on the executed price.
        fixed_fees: cash per fill.
        slippage: fraction by which the executed price moves against the trader
            (buy at ``price * (1 + slippage)``, sell at ``price * (1 - slippage)``).
        commission_per_share: cash per share per fill (e.g. 0.005), added to the other fees.
        commission: a commission schedule instead of ``commission_per_share`` (None: none):
            ``vec.PerShare(rate, min=, max_pct=)`` (a minimum and a cap per order),
            ``vec.Tiered(tiers, min=, max_pct=)`` (the rate by the account's shares traded this
            calendar month), a schedule's name (``"ibkr_fixed"``, ``"ibkr_tiered"``), a
            per-share rate, or a dict by asset of those (not of ``Tiered``). ``fees`` and
            ``fixed_fees`` still apply on top (``ml4t_vec.commission``).
        slippage_per_share: cash per share by which the executed price moves against the trader,
            on top of ``slippage`` (e.g. 0.01: buy at price + 0.01).
        slippage_on: ``"all"`` (default: every fill) or ``"entries"`` (a spread paid when
            opening only, as backtesting.py's ``spread``: signal exits, time stops and forced
            exits fill at the reference price; stop / target exits take ``stop_slippage``,
            default 0 then).
        borrow_rate: the annual fee for borrowing shares sold short (0.03 = 3% a year; None:
            off): a number, a dict by asset, or an expression / column read at each bar
            (hard-to-borrow names as data; null: no fee). For every calendar day a short is
            held (a weekend counts three) it pays ``|quantity| x last close x rate / 360``,
            debited from cash before the next bar's fills, at the rate of its last bar; each
            trade row reports its ``borrow_cost``.
        spread: the full bid-ask spread as a fraction of the price (0.001 = 10 bps): a number,
            a dict by asset, or an expression / column read at each fill's bar (null: none).
            Every fill pays half of it per share, a buy above the reference price and a sell
            below (``price * (1 + slippage + spread / 2)``), on entries and exits alike
            (``slippage_on`` does not apply to it). Fills and trades report it as
            ``spread_cost``, apart from ``slippage``.
        spread_price: the full spread in price units instead (a number, a dict by asset, or an
            expression / column: quoted spreads, e.g. ``pl.col("ask") - pl.col("bid")``); a
            fill pays half of it per share. At most one of ``spread`` and ``spread_price``.
        impact: market impact (None: none): ``vec.SquareRootImpact(k, exponent=0.5, sigma=,
            adv=)`` moves each fill's price against the trader by ``k * sigma * (q / adv) **
            exponent`` of its price, ``sigma`` and ``adv`` read at the asset's bar before the fill
            (``ml4t_vec.impact``); every sizing rule counts it as a cost. Fills and trades report
            it as ``impact_cost``. Signal mode, not with vectorbt's order model or backtesting.py's
            sizing.
    """

    fees: float | dict = 0.0
    fixed_fees: float | dict = 0.0
    slippage: float | dict = 0.0
    commission_per_share: float | dict = 0.0
    slippage_per_share: float | dict = 0.0
    slippage_on: str = "all"
    borrow_rate: object = None
    commission: object = None
    spread: object = 0.0
    spread_price: object = None
    impact: object = None

    def __post_init__(self):
        check_choice("slippage_on", self.slippage_on, tuple(SLIPPAGE_ON))
        impact.check(self.impact)
        if self.spread_price is not None and (isinstance(self.spread, (dict, pl.Expr, str)) or self.spread):
            raise ConfigError(
                "pass either `spread` (a fraction of the price) or `spread_price` (in price units), not both; "
                f"got spread={self.spread!r} and spread_price={self.spread_price!r}."
            )
        commission.check(self.commission)
        cps = self.commission_per_share
        if self.commission is not None and (isinstance(cps, (dict, pl.Expr, str)) or cps):
            raise ConfigError(
                "pass either `commission` (a schedule) or `commission_per_share` (a flat rate), not both; "
                f"got commission={self.commission!r} and commission_per_share={self.commission_per_share!r}. "
                "A flat rate is commission=vec.PerShare(rate)."
            )
        for name, hi in COST_BOUNDS.items():
            value = getattr(self, name)
            if isinstance(value, dict):
                if not value:
                    raise ConfigError(f"`{name}` as a dict needs one number per asset; got {{}}.")
                for asset, v in value.items():
                    _check_number(f"{name}[{asset!r}]", v, lo=0.0, hi=hi)
            elif isinstance(value, str) and _parses_as_number(value):
                raise ConfigError(
                    f"`{name}` must be a number, or a Polars expression / column name read per bar; got the string "
                    f"{value!r}. For a number pass {name}={float(value)!r}."
                )
            elif isinstance(value, (pl.Expr, str)) and name in PER_BAR_COSTS:
                continue  # read per bar (Prepare checks each value)
            elif not (value is None and name in OPTIONAL_COSTS):
                _check_number(name, value, lo=0.0, hi=hi)


# the costs that take a number or a dict by asset, and their upper bounds
COST_BOUNDS = {"fees": 0.5, "fixed_fees": math.inf, "slippage": 0.5, "commission_per_share": 100.0,
               "slippage_per_share": 100.0, "borrow_rate": 100.0, "spread": 0.5, "spread_price": math.inf}  # fmt: skip
# the costs that may also be an expression / column read per bar (at the fill bar; borrow fees at
# the asset's last bar before each night), and those that may be None (off)
PER_BAR_COSTS = ("fees", "fixed_fees", "commission_per_share", "borrow_rate", "spread", "spread_price")
OPTIONAL_COSTS = ("borrow_rate", "spread_price")
# the fee components of a fill that may be read per bar (``OrderParams.bar_fees``)
BAR_FEES = ("fees", "fixed_fees", "commission_per_share")


@dataclass(frozen=True, slots=True, kw_only=True)
class SizingConfig:
    """How many shares an entry asks for.

    Attributes:
        size: shares (``size_type="shares"``), cash committed including fees (``"value"``),
            cash of notional at the reference price, fees and slippage on top (``"notional"``),
            or a fraction committed including fees (``"percent"``; 1.0 = all in; of equity or of
            cash, see ``percent_of``). ``inf`` (value, notional) = all available cash. None (the
            default, percent sizes only): equal weight, ``1 / n_assets`` of equity per entry in a
            shared-cash panel, else 1.0 (all in); the result's config holds the value used.
        size_type: ``"shares"``, ``"value"``, ``"notional"`` (quantity = size / the fill's
            reference price before slippage: vectorbt's ``size_type="value"``) or ``"percent"``.
        fractional: allow fractional shares; if False, quantities are rounded down to whole shares.
        size_rule: ``"fees_included"`` (default: the size is the cash committed, fees included;
            an entry that does not fit is reduced) or ``"backtesting"`` (backtesting.py 0.6.6:
            a fraction ``size`` < 1 of the buying power buys ``(buying power * size) // unit``
            whole units, ``unit = executed price + (fixed_fees + size * price * fees + size *
            commission_per_share) / size``; a whole number of shares fills whole or not at all;
            needs ``fractional=False``).
        percent_of: what a ``"percent"`` size is a fraction of: ``"equity"`` (default) or
            ``"cash"`` at the moment of the order (vectorbt): a long commits ``size * cash``
            including fees; a short sells ``size`` x the largest short the free cash pays for
            (free cash = cash - 2 x the short positions at their entry prices). Ignored by the
            other size types.
        accumulate: pyramiding (signal mode). False (default): an entry signal on the side
            already held is ignored. True: it adds ``size`` (read at its signal bar, sized as
            an entry against the equity and buying power of its fill) to the position, an
            ``increase`` fill at average cost: no new position, no trade row; the entry time,
            the time stop and the rule fractions and levels stay the first entry's, the stop
            anchor becomes the share-weighted average of the entries' anchors (the average
            cost with ``stop_anchor="fill"``). ``max_position_weight`` counts what is held,
            ``max_positions`` does not refuse an increase.
        max_entries: with ``accumulate``, the most entries a position takes, its first
            included (None: no cap); entry signals past it are ignored. A sweep of pyramiding
            sweeps ``max_entries=[1, 2, ...]`` with ``accumulate=True`` (1: no adds).
    """

    size: float | pl.Expr | str | None = None
    size_type: str = "percent"
    fractional: bool = True
    size_rule: str = "fees_included"
    percent_of: str = "equity"
    accumulate: bool = False
    max_entries: int | None = None

    def __post_init__(self):
        _check_bool("accumulate", self.accumulate)
        v = self.max_entries
        if v is not None:
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"`max_entries` must be a whole number >= 1; got {v!r}.")
            if not self.accumulate:
                raise ConfigError(
                    f"max_entries={v!r} caps the entries of a position that accumulates; pass accumulate=True "
                    "(without it a position has one entry)."
                )
        check_choice("size_type", self.size_type, SIZE_TYPES)
        check_choice("size_rule", self.size_rule, tuple(SIZE_RULE))
        check_choice("percent_of", self.percent_of, tuple(PERCENT_OF))
        if self.size_rule == "backtesting":
            self._check_backtesting_size()
        if self.size is None:
            if self.size_type != "percent":
                raise ConfigError(f"size_type={self.size_type!r} needs `size=` (shares or cash per entry).")
            return _check_bool("fractional", self.fractional)
        if isinstance(self.size, str) and _parses_as_number(self.size):
            raise ConfigError(
                f"`size` must be a number, or a Polars expression / column name for a size per bar; got the string "
                f"{self.size!r}. For a number pass size={float(self.size)!r}."
            )
        if isinstance(self.size, (pl.Expr, str)):  # a size per bar: its values are checked by Prepare
            return _check_bool("fractional", self.fractional)
        _check_number("size", self.size, lo=0.0, lo_open=True, allow_inf=self.size_type in ("value", "notional"))
        if self.size_type == "percent" and self.size > 10:
            raise ConfigError(
                f"`size` with size_type='percent' is a fraction of {self.percent_of} (1.0 = 100%) and must be "
                f"in (0, 10]; got {self.size!r}. For 10% pass size=0.1."
            )
        _check_bool("fractional", self.fractional)

    def _check_backtesting_size(self) -> None:
        if self.size_type in ("value", "notional"):
            raise ConfigError(
                f"size_rule='backtesting' sizes a fraction (percent) or whole shares, not size_type={self.size_type!r}."
            )
        if self.percent_of != "equity":
            raise ConfigError("size_rule='backtesting' sizes a fraction of the buying power; drop percent_of='cash'.")
        if self.fractional:
            raise ConfigError("size_rule='backtesting' trades whole units: pass fractional=False.")
        s = self.size
        if isinstance(s, (pl.Expr, str)):
            raise ConfigError("size_rule='backtesting' takes one number for `size`, not an expression per bar.")
        if s is not None and self.size_type == "percent" and not 0 < s < 1:
            raise ConfigError(f"size_rule='backtesting' takes a fraction of buying power in (0, 1); got size={s!r}.")
        if s is not None and self.size_type == "shares" and (s < 1 or s != int(s)):
            raise ConfigError(f"size_rule='backtesting' takes a whole number of shares >= 1; got size={s!r}.")

    def resolved(self, n_assets: int, cash_sharing: bool) -> SizingConfig:
        """The config with the default size filled in: equal weight for a shared-cash panel."""
        if self.size is not None:
            return self
        size = 1.0 / n_assets if cash_sharing and n_assets > 1 else 1.0
        if self.size_rule == "backtesting":  # a fraction below 1 (backtesting.py's full size is 1 - epsilon)
            size = min(size, 1.0 - sys.float_info.epsilon)
        return dataclasses.replace(self, size=size)


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionConfig:
    """When and at what price signals fill.

    Attributes:
        fill: ``"next_open"`` (default: a signal at bar t fills at bar t+1's open),
            ``"next_close"`` (at bar t+1's close) or ``"same_close"`` (at bar t's close: looks
            ahead unless the signal is lagged; warns once).
        price: optional column name or Polars expression giving the fill price instead of the
            open/close (e.g. a vwap column), used with the same timing.
        signal_rules: ``"reverse"`` (default: an entry and its own exit on one bar cancel, so do
            opposite entries; an opposite entry reverses the position) or ``"flat_only"``
            (ml4t-backtest's templates: entries only when flat, a long entry winning over a
            short one; exits close their side; no reversal).
        fill_order: in a shared-cash portfolio, ``"exits_first"`` (default: every exit of the
            phase, then the entries), ``"asset"`` (asset by asset, each one's exit then its
            entry: vectorbt's default call order; an early entry can use cash a later exit would
            have freed) or ``"ml4t"`` (ml4t-backtest's bar cycle, with ``fill="next_open"``: the
            open's signal exits, then the position rules, whose exits free cash for the open's
            entries, then the entries, older signals first; a new position is not checked
            against its entry bar).
        reversal: how an opposite entry reverses a position: ``"two_orders"`` (default: an exit
            fill, then an entry fill, each paying fees) or ``"one_order"`` (vectorbt: one order of
            |position| + the new size at one price, fixed fees once, the fees split between the
            closed and the new trade by shares; in a shared-cash phase with exits first it fills
            with the entries).
        order_type: the type of every entry order (README "Order types"): ``"market"`` (default:
            fills at the phase's price, as ``fill`` says), or a resting order tested on the
            asset's bars after its signal bar: ``"limit"``, ``"stop"``, ``"stop_limit"``.
        limit_offset, limit_price: the limit level, fixed at the signal bar: a fraction of the
            signal bar's close in the order's favour (a buy limit 2% below: ``0.02``), or an
            absolute price (an expression or column read at the signal bar; null: refused with
            ``no_level``). One of them for "limit" and "stop_limit".
        stop_offset, stop_price: the stop level, the same way against the order (a buy stop 2%
            above the close: ``0.02``). One of them for "stop" and "stop_limit".
        tif: time in force, the most bars a resting order is tested on before it expires, or
            ``"day"`` (it expires at the end of its signal bar's calendar day; None: good till
            cancelled).
        on_new_signal: a same-side entry signal while an order rests: ``"replace"`` (default: a
            new order at the new levels) or ``"keep"`` (the resting order stays).
        on_signal_off: ``"keep"`` (default) or ``"cancel"``: cancel a resting order on the first
            bar its entry signal is off.
        limit_touch: ``"touch"`` (default: a bar reaching the limit fills it) or ``"through"``
            (the bar must trade strictly beyond it).
    """

    fill: str = "next_open"
    price: object = None
    signal_rules: str = "reverse"
    fill_order: str = "exits_first"
    reversal: str = "two_orders"
    order_type: str = "market"
    limit_offset: float | None = None
    limit_price: pl.Expr | str | None = None
    stop_offset: float | None = None
    stop_price: pl.Expr | str | None = None
    tif: int | str | None = None
    on_new_signal: str = "replace"
    on_signal_off: str = "keep"
    limit_touch: str = "touch"

    def __post_init__(self):
        check_choice("fill", self.fill, FILL_TIMINGS)
        check_choice("signal_rules", self.signal_rules, tuple(SIGNAL_RULES))
        check_choice("fill_order", self.fill_order, tuple(FILL_ORDER))
        check_choice("reversal", self.reversal, tuple(REVERSAL))
        check_choice("order_type", self.order_type, tuple(ORDER_TYPE))
        check_choice("on_new_signal", self.on_new_signal, tuple(ON_NEW_SIGNAL))
        check_choice("on_signal_off", self.on_signal_off, tuple(ON_SIGNAL_OFF))
        check_choice("limit_touch", self.limit_touch, tuple(LIMIT_TOUCH))
        for name in ("limit_offset", "stop_offset"):
            if getattr(self, name) is not None:
                _check_number(name, getattr(self, name), lo=0.0, hi=1.0)
        for name in ("limit_price", "stop_price"):
            _check_expression(name, getattr(self, name))
        if self.tif is not None and self.tif != "day" and (isinstance(self.tif, bool) or not isinstance(
                self.tif, (int, np.integer)) or self.tif < 1):  # fmt: skip
            raise ConfigError(f"`tif` is the most bars a resting order is tested on: an integer >= 1, 'day' (until "
                              f"the end of its signal bar's day) or None; got {self.tif!r}.")  # fmt: skip
        self._check_levels()

    def _check_levels(self) -> None:
        """Each order type takes the levels it uses, each given once."""
        uses = {"market": (), "limit": ("limit",), "stop": ("stop",), "stop_limit": ("limit", "stop")}[self.order_type]
        for level in ("limit", "stop"):
            given = [k for k in (f"{level}_offset", f"{level}_price") if getattr(self, k) is not None]
            if len(given) == 2:
                raise ConfigError(f"`{given[0]}` and `{given[1]}` both set the {level} level; pass one of them.")
            if given and level not in uses:
                raise ConfigError(
                    f"`{given[0]}` sets a {level} level; order_type={self.order_type!r} has none. Use "
                    f"order_type={'limit' if level == 'limit' else 'stop'!r} (or 'stop_limit'), or drop it."
                )
            if not given and level in uses:
                raise ConfigError(
                    f"order_type={self.order_type!r} needs a {level} level: `{level}_offset=` (a fraction of the "
                    f"signal bar's close, e.g. 0.01) or `{level}_price=` (an expression or column)."
                )
        if self.order_type == "market":
            odd = [k for k, d in (("tif", None), ("on_new_signal", "replace"), ("on_signal_off", "keep"),
                                  ("limit_touch", "touch")) if getattr(self, k) != d]  # fmt: skip
            if odd:
                raise ConfigError(
                    f"`{odd[0]}` applies to resting orders; order_type='market' fills at the next fill phase. "
                    "Pass order_type='limit', 'stop' or 'stop_limit' with it, or drop it."
                )

    @property
    def resting(self) -> bool:
        """Entries are resting orders (not market orders)."""
        return self.order_type != "market"


def _check_bool(name: str, value) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"`{name}` must be True or False; got {value!r}.")


def _check_optional_fraction(name: str, value, hi: float) -> None:
    """None (off), a number in (0, hi], a Polars expression / column name evaluated per bar, or
    a dict of one number (or None) per asset."""
    if value is None or isinstance(value, (pl.Expr, str)):
        return
    if isinstance(value, dict):
        if not value:
            raise ConfigError(f"`{name}` as a dict needs at least one asset; got {{}}.")
        for asset, v in value.items():
            if v is not None:
                _check_number(f"{name}[{asset!r}]", v, lo=0.0, hi=hi, lo_open=True)
        return
    _check_number(name, value, lo=0.0, hi=hi, lo_open=True)


def _parses_as_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_expression(name: str, value) -> None:
    if value is not None and not isinstance(value, (pl.Expr, str)):
        raise ConfigError(f"`{name}` must be a Polars expression or a column name evaluated per bar; got {value!r}.")


def _parse_time(name: str, value):
    """A time of day from ``datetime.time`` or ``"HH:MM"`` / ``"HH:MM:SS"``."""
    if value is None or isinstance(value, dt.time):
        return value
    if isinstance(value, str):
        try:
            return dt.time.fromisoformat(value)
        except ValueError:
            pass
    raise ConfigError(f'`{name}` must be a time of day such as "15:55" or datetime.time(15, 55); got {value!r}.')


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskConfig:
    """Position rules, checked on every bar a position is held (README "Position rules").

    ``stop_loss``, ``take_profit`` and ``trailing_stop`` are a number, a dict of one number per
    asset (``{"AAPL": 0.03, "TSLA": 0.08}``; assets left out get no level), or a Polars expression
    / column name evaluated per bar (e.g. an ATR stop ``2 * pl.col("atr") / pl.col("close")``): a
    position uses the value of the bar whose signal opened it; a null there means no level.

    Attributes:
        stop_loss: exit when price moves this fraction against the anchor (0.05 = 5%).
        take_profit: exit when price moves this fraction in favour of the anchor.
        trailing_stop: exit when price falls this fraction from the best price since entry.
        trailing_activation: start trailing only once the best price is this fraction in favour.
        trailing_source: best price from ``"close"`` (default) or bar ``"extreme"`` (high/low).
        trailing_start: the best price starts at the ``"anchor"`` (default) or with the
            ``"first_bar"`` held (ml4t-backtest: the highest close since the fill).
        max_bars: time stop: close at the open of the bar on which ``bars_held`` reaches this.
        stop_anchor: level anchor: ``"fill"`` (the entry's executed price, default) or
            ``"signal_close"`` (the close of the bar whose signal opened the position).
        intrabar: when a stop and the target both lie inside one bar: ``"pessimistic"`` (stop,
            default), ``"optimistic"`` (target) or ``"ohlc_path"`` (open -> nearer extreme first);
            ``"stop_first"`` (vectorbt) checks the stop on the whole bar before the target, even
            when the bar opened beyond the target; ``"rule_chain"`` (ml4t-backtest) checks
            stop-loss, then take-profit, then the trailing stop, each on the whole bar.
        stop_on_entry_bar: a position filled at a bar's open may stop out later in that bar
            (default True; fills at a close are first checked on the next bar either way).
        stop_slippage: slippage of stop-loss, trailing-stop and take-profit exits; None = the
            ordinary ``slippage``. Time stops use the ordinary slippage.
        reenter_on_stop_bar: act on an entry signal seen on the bar a position rule closed the
            position (default False, as vectorbt and ml4t-backtest: no re-entry on the stop bar).
        stop_loss_price, take_profit_price: absolute levels (price units) from an expression or
            column, read at the signal bar like the fractions; combined with the fractions the
            tighter stop and the nearer target apply. A level already crossed fills at the open.
        session_exit: time of day (``"15:55"``, local to the timestamps' zone): positions close
            at the open of each day's first bar at or after it (exit reason ``time_stop``), and
            entries do not fill from then until the day ends (rejected ``session_end``).
            Needs Datetime timestamps.
        scale_out: take-profit in steps (signal mode): a list of up to 8 ``(gain, fraction)``
            pairs, gains increasing, e.g. ``[(0.05, 0.5), (0.10, 1.0)]``: sell half at +5% from
            the anchor, the rest at +10%. A step sells ``fraction`` x the largest quantity the
            position reached (rounded down to whole shares unless ``fractional``; all that is
            left when that covers it), a ``reduce`` fill and a ``partial`` trade row with exit
            reason ``scale_out``, at the step's level (the open when the bar opens beyond it),
            with ``stop_slippage``. Each step fires once per position; it is a nearer
            take-profit for the ``intrabar`` rules, and the rest of its bar is checked again
            from the step's price (the next step, the target or a stop). A step at or beyond
            the ``take_profit`` target never fires before it.
    """

    stop_loss: float | pl.Expr | str | dict | None = None
    take_profit: float | pl.Expr | str | dict | None = None
    trailing_stop: float | pl.Expr | str | dict | None = None
    trailing_activation: float = 0.0
    trailing_source: str = "close"
    trailing_start: str = "anchor"
    max_bars: int | None = None
    stop_anchor: str = "fill"
    intrabar: str = "pessimistic"
    stop_on_entry_bar: bool = True
    stop_slippage: float | None = None
    reenter_on_stop_bar: bool = False
    stop_loss_price: pl.Expr | str | None = None
    take_profit_price: pl.Expr | str | None = None
    session_exit: dt.time | str | None = None
    scale_out: list | tuple | None = None

    def __post_init__(self):
        object.__setattr__(self, "scale_out", _check_scale_out(self.scale_out))
        _check_expression("stop_loss_price", self.stop_loss_price)
        _check_expression("take_profit_price", self.take_profit_price)
        object.__setattr__(self, "session_exit", _parse_time("session_exit", self.session_exit))
        _check_optional_fraction("stop_loss", self.stop_loss, 1.0)
        _check_optional_fraction("take_profit", self.take_profit, 100.0)
        _check_optional_fraction("trailing_stop", self.trailing_stop, 1.0)
        _check_number("trailing_activation", self.trailing_activation, lo=0.0, hi=100.0)
        check_choice("trailing_source", self.trailing_source, tuple(TRAILING_SOURCE))
        check_choice("trailing_start", self.trailing_start, tuple(TRAILING_START))
        check_choice("stop_anchor", self.stop_anchor, tuple(STOP_ANCHOR))
        check_choice("intrabar", self.intrabar, tuple(INTRABAR))
        if self.max_bars is not None and (
            not isinstance(self.max_bars, (int, np.integer)) or isinstance(self.max_bars, bool) or self.max_bars < 1
        ):
            raise ConfigError(f"`max_bars` must be a whole number >= 1; got {self.max_bars!r}.")
        if not isinstance(self.stop_on_entry_bar, (bool, np.bool_)):
            raise ConfigError(f"`stop_on_entry_bar` must be True or False; got {self.stop_on_entry_bar!r}.")
        if self.stop_slippage is not None:
            _check_number("stop_slippage", self.stop_slippage, lo=0.0, hi=0.5)
        if not isinstance(self.reenter_on_stop_bar, (bool, np.bool_)):
            raise ConfigError(f"`reenter_on_stop_bar` must be True or False; got {self.reenter_on_stop_bar!r}.")


SCALE_OUT_STEPS = 8  # the most steps a scale-out schedule takes (the kernel's fixed width)


def _check_scale_out(value) -> tuple | None:
    """None, or the steps as a tuple of (gain, fraction) float pairs."""
    if value is None:
        return None
    example = "e.g. scale_out=[(0.05, 0.5), (0.10, 1.0)]"
    if not isinstance(value, (list, tuple)) or not value or len(value) > SCALE_OUT_STEPS:
        raise ConfigError(
            f"`scale_out` must be a list of 1 to {SCALE_OUT_STEPS} (gain, fraction) pairs, {example}; got {value!r}."
        )
    steps = []
    for step in value:
        if not isinstance(step, (list, tuple)) or len(step) != 2:
            raise ConfigError(f"each `scale_out` step is a (gain, fraction) pair, {example}; got {step!r}.")
        gain, frac = step
        _check_number("scale_out gain", gain, lo=0.0, hi=100.0, lo_open=True)
        _check_number("scale_out fraction", frac, lo=0.0, hi=1.0, lo_open=True)
        if steps and gain <= steps[-1][0]:
            raise ConfigError(f"`scale_out` gains must increase step by step; got {gain!r} after {steps[-1][0]!r}.")
        steps.append((float(gain), float(frac)))
    return tuple(steps)


@dataclass(frozen=True, slots=True, kw_only=True)
class PortfolioConfig:
    """Accounts.

    Attributes:
        init_cash: starting cash of the portfolio (``cash_sharing=True``) or of each asset's
            account (``cash_sharing=False``).
        cash_sharing: one portfolio over all assets (exits before entries within a bar, entries
            limited by the shared cash) or one independent account per asset.
        cash_rule: what limits orders by cash (README "Cash limit"): ``"equity"`` (default:
            gross exposure plus the entry's notional and fees at most equity, times
            ``max_gross_leverage``; an entry that does not fit is reduced to what fits; exits are
            never limited), ``"ml4t"`` (ml4t-backtest: notional plus fees at the worse of the
            reference and executed price at most the cash, short-sale proceeds included, plus
            0.01; an entry that does not fit is rejected whole) or ``"vectorbt"`` (every buy,
            covers included, is limited by cash, short-sale proceeds included, and cut to what it
            pays for; finite shorts are not limited, ``inf`` and percent-of-cash shorts by free
            cash; a sell whose proceeds do not pay its fees is refused).
        cash_rate: annual interest on negative cash (borrowed: ``max_gross_leverage`` above 1,
            or fees and borrow fees beyond the cash), 0.06 = 6% a year; None: none.
        credit_rate: annual interest positive cash earns (idle cash, short-sale proceeds
            included); None: none. Both accrue for every calendar day since the previous bar
            (a weekend counts three), ``cash x rate / 360`` a day, on each account's cash
            before the next bar starts; ``stats()`` reports the net ``total_interest``.
    """

    init_cash: float = 100_000.0
    cash_sharing: bool = True
    cash_rule: str = "equity"
    cash_rate: float | None = None
    credit_rate: float | None = None

    def __post_init__(self):
        _check_number("init_cash", self.init_cash, lo=0.0, lo_open=True)
        check_choice("cash_rule", self.cash_rule, tuple(CASH_RULE))
        if not isinstance(self.cash_sharing, (bool, np.bool_)):
            raise ConfigError(f"`cash_sharing` must be True or False; got {self.cash_sharing!r}.")
        for name in ("cash_rate", "credit_rate"):
            if getattr(self, name) is not None:
                _check_number(name, getattr(self, name), lo=0.0, hi=10.0)

    @property
    def interest_on(self) -> bool:
        """Cash earns or pays interest."""
        return bool(self.cash_rate or self.credit_rate)


@dataclass(frozen=True, slots=True, kw_only=True)
class LimitsConfig:
    """Portfolio limits of a shared-cash portfolio, enforced in the kernel (README "Portfolio limits").

    All off by default. Entry limits are checked on every entry with the prices of the fill;
    an entry they cut is filled smaller or rejected and recorded in ``rejected`` with the
    limit's name as reason.

    Attributes:
        max_positions: open positions after an entry fills.
        max_position_weight: an entry's notional at its fill price may be at most this fraction
            of the equity before the bar's entries (caps the entry size; later price moves are
            not trimmed).
        max_gross_leverage: gross exposure plus the entry's notional and fees at most this many
            times equity (None: the no-leverage cash rule, 1.0). When set, a close at which gross
            exposure exceeds the cap orders the largest positions closed (exit reason
            ``risk_limit``) until the rest fits.
        max_net_exposure: |net exposure| after an entry at most this fraction of equity.
        max_drawdown: circuit breaker: when the closing equity is this fraction below its
            high-water mark, new entries are rejected (``"halt"``) and with
            ``drawdown_action="liquidate"`` every position is also ordered closed (exit reason
            ``liquidation``), filled like a signal on each asset's next bar.
        drawdown_action: ``"halt"`` or ``"liquidate"``.
        drawdown_cooldown: bars after the trip at which the breaker resets (the high-water mark
            restarts at that close); None: stays tripped to the end.
        daily_loss_limit: once the closing equity is this fraction below the day's starting
            equity (the previous bar's close), entries are rejected for the rest of that day.
        priority: expression or column ranking entries that compete for room (cash or limits)
            on one bar: higher first, read at the signal bar; null last; ties in asset order.
            Default: asset order.
    """

    max_positions: int | None = None
    max_position_weight: float | None = None
    max_gross_leverage: float | None = None
    max_net_exposure: float | None = None
    max_drawdown: float | None = None
    drawdown_action: str = "halt"
    drawdown_cooldown: int | None = None
    daily_loss_limit: float | None = None
    priority: pl.Expr | str | None = None

    def __post_init__(self):
        for name in ("max_positions", "drawdown_cooldown"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1):
                raise ConfigError(f"`{name}` must be a whole number >= 1; got {v!r}.")
        if self.max_position_weight is not None:
            _check_number("max_position_weight", self.max_position_weight, lo=0.0, hi=1.0, lo_open=True)
        if self.max_gross_leverage is not None:
            _check_number("max_gross_leverage", self.max_gross_leverage, lo=0.0, hi=10.0, lo_open=True)
        if self.max_net_exposure is not None:
            _check_number("max_net_exposure", self.max_net_exposure, lo=0.0, hi=10.0)
        if self.max_drawdown is not None:
            _check_number("max_drawdown", self.max_drawdown, lo=0.0, hi=1.0, lo_open=True)
        check_choice("drawdown_action", self.drawdown_action, tuple(DRAWDOWN_ACTION))
        if self.daily_loss_limit is not None:
            _check_number("daily_loss_limit", self.daily_loss_limit, lo=0.0, hi=1.0, lo_open=True)
        _check_expression("priority", self.priority)

    @property
    def active(self) -> bool:
        """Any limit or a priority set."""
        return any(getattr(self, f.name) is not None for f in dataclasses.fields(self) if f.name != "drawdown_action")


# Named presets: the defaults of a peer, applied to every setting the caller leaves unset.
# README "Presets" documents each entry and tests/peers checks it against the peer.
PRESETS = {
    # backtesting.py 0.6.6 (tests/peers/test_backtesting_preset.py runs it): next-open fills,
    # whole units of (1 - epsilon) of the cash (its default size) by its own sizing rule,
    # 10,000 cash, one account per asset, spread paid on entries only (slippage=), stop / target
    # levels from the signal bar's close, the stop first when a bar holds both, stops checked
    # on the entry bar, action on signals seen on the bar a stop fired, no stop slippage.
    "backtesting": {
        "fill": "next_open",
        "size": 1.0 - sys.float_info.epsilon,
        "size_type": "percent",
        "fractional": False,
        "size_rule": "backtesting",
        "init_cash": 10_000.0,
        "cash_sharing": False,
        "signal_rules": "reverse",
        "slippage_on": "entries",
        "stop_anchor": "signal_close",
        "intrabar": "stop_first",
        "stop_on_entry_bar": True,
        "stop_slippage": 0.0,
        "reenter_on_stop_bar": True,
    },
    # vectorbt 1.2.0 Portfolio.from_signals (PEERS.md section 2): fills at the signal bar's close,
    # size=inf all-in, independent columns, 100 cash; stops anchored on the entry bar's close,
    # SL before TP, no stop on the entry bar, stop exits at the level without slippage, the
    # trailing peak from highs / lows updated after the check, no re-entry on the stop bar;
    # its order model: sizes by value / reference price, percent of cash, one-order reversals,
    # and its cash / free-cash limits (tests/peers/test_vectorbt_preset.py).
    "vectorbt": {
        "fill": "same_close",
        "size": math.inf,
        "size_type": "notional",
        "percent_of": "cash",
        "reversal": "one_order",
        "cash_rule": "vectorbt",
        "fractional": True,
        "init_cash": 100.0,
        "cash_sharing": False,
        "stop_anchor": "signal_close",
        "intrabar": "stop_first",
        "stop_on_entry_bar": False,
        "stop_slippage": 0.0,
        "trailing_source": "extreme",
        "reenter_on_stop_bar": False,
        "fill_order": "asset",
    },
    # ml4t-backtest 0.2.0 defaults and signal templates, checked against ml4t-backtest itself
    # (tests/peers/test_ml4t_preset.py): next-bar open fills, whole shares, one portfolio;
    # entries only when flat (long wins a tie), no same-bar reversal; its bar cycle (signal exits
    # at the open, then position rules, then entries, older signals first) and its cash rule
    # (an entry fits in the cash or is rejected whole); stop levels from the fill price
    # (slippage included), no stop check on the entry bar, rule chain SL -> TP -> trailing, the
    # trailing water mark from the fill price and the closes since (the entry bar's included),
    # ordinary slippage on stop exits, no re-entry on a stop-exit bar.
    "ml4t": {
        "fill": "next_open",
        "fractional": False,
        "cash_sharing": True,
        "init_cash": 100_000.0,
        "signal_rules": "flat_only",
        "stop_anchor": "fill",
        "intrabar": "rule_chain",
        "stop_on_entry_bar": False,
        "trailing_source": "close",
        "trailing_start": "anchor",
        "reenter_on_stop_bar": False,
        "fill_order": "ml4t",
        "cash_rule": "ml4t",
    },
}


REBALANCE_PERIODS = ("W", "M", "Q", "Y")


@dataclass(frozen=True, slots=True, kw_only=True)
class RebalanceConfig:
    """Target-weight portfolios (``weights=``; README "Target weights").

    Attributes:
        rebalance: the decision bars: ``"every_bar"`` (default), an int n (bars 0, n, 2n, ...
            of the time axis), ``"W"``, ``"M"``, ``"Q"`` or ``"Y"`` (the last or first bar of
            each period in the data, ``rebalance_at``), a boolean expression per timestamp, or
            a list of timestamps (each must be in the data).
        rebalance_at: ``"end"`` (default) or ``"start"`` of each period.
        missing: a null weight on a rebalance bar: ``"flat"`` (default: target 0) or ``"hold"``
            (no order, vectorbt's NaN).
        size_at: ``"decision"`` (default: equity and close at the decision bar) or ``"fill"``
            (equity and reference prices at the fill bar, before slippage: vectorbt).
        shortfall: increases that do not fit the buying power: ``"scale"`` (default: one
            common factor on all), ``"priority"`` (in ``priority=`` order, each gets what still
            fits) or ``"reject"`` (each fills whole or not at all).
        min_weight_change: no order while |target weight - current weight| is below this
            (absolute); a close is always allowed.
        min_trade_value: no order for a change worth less than this (cash).
        lot_size: trade whole lots (a number, or a dict by asset); None: whole shares or
            fractional per ``fractional``.
        rounding: whole shares / lots: ``"floor"`` (default: the target holding toward zero,
            a long never exceeds its weight) or ``"nearest"`` (the change, half away from zero:
            ml4t-backtest).
        drift_band: also rebalance on a bar off the schedule when, at its close, some held
            asset's weight has drifted from its latest target w* by more than this, relative:
            |w / w* - 1| > drift_band (None: off).
    """

    rebalance: object = "every_bar"
    rebalance_at: str = "end"
    missing: str = "flat"
    size_at: str = "decision"
    shortfall: str = "scale"
    min_weight_change: float = 0.0
    min_trade_value: float = 0.0
    lot_size: float | dict | None = None
    rounding: str = "floor"
    drift_band: float | None = None

    def __post_init__(self):
        r = self.rebalance
        if isinstance(r, bool) or not isinstance(r, (int, str, pl.Expr, list, tuple)):
            raise ConfigError(
                "`rebalance` must be 'every_bar', an int n (every n-th bar), 'W', 'M', 'Q' or 'Y', a boolean "
                f"expression per timestamp, or a list of timestamps; got {r!r}."
            )
        if isinstance(r, int) and r < 1:
            raise ConfigError(f"`rebalance` must be >= 1 (every n-th bar); got {r!r}.")
        if isinstance(r, str):
            check_choice("rebalance", r, ("every_bar", *REBALANCE_PERIODS))
        if isinstance(r, (list, tuple)) and len(r) == 0:
            raise ConfigError("`rebalance` must list at least one timestamp; got an empty list.")
        check_choice("rebalance_at", self.rebalance_at, ("end", "start"))
        check_choice("missing", self.missing, tuple(MISSING))
        check_choice("size_at", self.size_at, tuple(SIZE_AT))
        check_choice("shortfall", self.shortfall, tuple(SHORTFALL))
        check_choice("rounding", self.rounding, tuple(ROUNDING))
        _check_number("min_weight_change", self.min_weight_change, lo=0.0)
        _check_number("min_trade_value", self.min_trade_value, lo=0.0)
        if self.drift_band is not None:
            _check_number("drift_band", self.drift_band, lo=0.0, lo_open=True)
        lots = self.lot_size.values() if isinstance(self.lot_size, dict) else [self.lot_size]
        for v in lots:
            if v is not None:
                _check_number("lot_size", v, lo=0.0, lo_open=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktestConfig:
    """Everything about a backtest except the data and the signals.

    ``preset`` records the named preset the settings started from (None: library defaults).
    """

    sizing: SizingConfig = field(default_factory=SizingConfig)
    costs: CostConfig = field(default_factory=CostConfig)
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)
    portfolio: PortfolioConfig = field(default_factory=PortfolioConfig)
    risk: RiskConfig = field(default_factory=RiskConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    rebalance: RebalanceConfig = field(default_factory=RebalanceConfig)
    preset: str | None = None

    def __post_init__(self):
        for f in dataclasses.fields(self):
            want = _SECTION_TYPES.get(f.name)
            v = getattr(self, f.name)
            if want is not None and not isinstance(v, want):
                raise ConfigError(
                    f"`{f.name}` of BacktestConfig must be a {want.__name__}; got {type(v).__name__}. "
                    f"Build it as {want.__name__}(...) (e.g. {want.__name__}(**{v!r}) for a dict)."
                )
        if self.preset is not None:
            check_choice("preset", self.preset, tuple(PRESETS))
        if self.limits.priority is not None and self.execution.fill_order == "asset":
            raise ConfigError("`priority` orders entries after the exits; it does not apply with fill_order='asset'.")
        if self.portfolio.cash_rule != "equity" and self.limits.max_gross_leverage is not None:
            raise ConfigError(
                f"cash_rule={self.portfolio.cash_rule!r} limits orders by the cash; it does not combine with "
                "`max_gross_leverage` (use cash_rule='equity')."
            )
        self._check_order_model()
        self._check_resting()
        if self.risk.scale_out is not None and self.portfolio.cash_rule == "vectorbt":
            raise ConfigError(
                "`scale_out` takes part of a position off; cash_rule='vectorbt' may cut a cover by cash, which a "
                "step does not model. Use cash_rule='equity' or 'ml4t'."
            )
        if self.limits.active and not self.portfolio.cash_sharing:
            on = [f.name for f in dataclasses.fields(self.limits) if f.name != "drawdown_action"
                  and getattr(self.limits, f.name) is not None]  # fmt: skip
            raise ConfigError(
                f"portfolio limits and `priority` need one shared-cash portfolio (cash_sharing=True); got {on} "
                "with cash_sharing=False."
            )

    @property
    def financed(self) -> bool:
        """The nights cost or earn something: interest on cash, or borrow fees on shorts."""
        return self.portfolio.interest_on or self.costs.borrow_rate is not None

    def _check_resting(self) -> None:
        """Resting entry orders run with the default order model (README "Order types")."""
        if not self.execution.resting:
            return
        e, t = self.execution, f"order_type={self.execution.order_type!r}"
        clash = ("accumulate=True" if self.sizing.accumulate else
                 "reversal='one_order'" if e.reversal == "one_order" else
                 "cash_rule='vectorbt'" if self.portfolio.cash_rule == "vectorbt" else
                 f"fill_order={e.fill_order!r}" if e.fill_order != "exits_first" else
                 "size_rule='backtesting'" if self.sizing.size_rule == "backtesting" else
                 "impact" if self.costs.impact is not None else None)  # fmt: skip
        if clash is not None:
            raise ConfigError(
                f"{t} (a resting entry order) does not combine with {clash} yet: resting orders run with the "
                "default order model (two-order reversals, cash_rule='equity' or 'ml4t', exits first, "
                "size_rule='fees_included', no market impact, no pyramiding). LIMITATIONS.md says what is next."
            )

    def _check_order_model(self) -> None:
        """vectorbt's order model (one-order reversals, its cash rule) with the other peers'
        sizing and cost rules: combinations with no meaning are refused."""
        one_order = self.execution.reversal == "one_order"
        if one_order and self.portfolio.cash_rule == "ml4t":
            raise ConfigError(
                "reversal='one_order' is vectorbt's order; cash_rule='ml4t' accepts or rejects entries whole. "
                "Use cash_rule='equity' or 'vectorbt', or reversal='two_orders'."
            )
        if one_order and self.execution.fill_order == "ml4t":
            raise ConfigError(
                "reversal='one_order' fills an exit and an entry as one order; fill_order='ml4t' (ml4t-backtest's "
                "bar cycle) fills the open's exits and entries apart, with the position rules between them. "
                "Use reversal='two_orders' or another fill_order."
            )
        if self.sizing.size_rule == "backtesting" and (one_order or self.portfolio.cash_rule == "vectorbt"):
            raise ConfigError(
                "size_rule='backtesting' sizes backtesting.py's entries; it does not combine with "
                "reversal='one_order' or cash_rule='vectorbt' (vectorbt's order model)."
            )
        if self.sizing.size_rule == "backtesting" and self.costs.commission is not None:
            raise ConfigError(
                "size_rule='backtesting' sizes with backtesting.py's flat commission; it does not combine with a "
                "`commission` schedule. Use size_rule='fees_included', or fees= / commission_per_share=."
            )
        per_bar = [k for k in BAR_FEES if isinstance(getattr(self.costs, k), (pl.Expr, str))]
        if self.sizing.size_rule == "backtesting" and per_bar:
            raise ConfigError(
                f"size_rule='backtesting' sizes with backtesting.py's commission, one number; `{per_bar[0]}` is "
                "read per bar. Use size_rule='fees_included', or a number (or a dict by asset)."
            )
        if self.costs.impact is not None:
            peer = ("size_rule='backtesting'" if self.sizing.size_rule == "backtesting" else
                    "cash_rule='vectorbt'" if self.portfolio.cash_rule == "vectorbt" else
                    "reversal='one_order'" if one_order else None)  # fmt: skip
            if peer is not None:
                raise ConfigError(
                    f"`impact` moves an order's price by its size; {peer} reproduces a peer that has no market "
                    "impact. Use the default rules (cash_rule='equity' or 'ml4t', reversal='two_orders', "
                    "size_rule='fees_included') with impact, or drop it."
                )
        if one_order and self.costs.slippage_on == "entries":
            raise ConfigError(
                "reversal='one_order' fills the exit and the entry at one price; slippage_on='entries' prices "
                "them differently. Use slippage_on='all' or reversal='two_orders'."
            )

    def to_dict(self) -> dict:
        """Plain dict; Polars expressions appear as their string form."""

        def conv(v):
            if dataclasses.is_dataclass(v):
                return {f.name: conv(getattr(v, f.name)) for f in dataclasses.fields(v)}
            if v is None or isinstance(v, (bool, int, float, str)):
                return v
            if isinstance(v, tuple):  # scale_out's steps
                return [conv(x) for x in v]
            return str(v)

        return conv(self)

    def hash(self) -> str:
        """Stable 16-hex-digit digest of the configuration (expressions by their serialized plan)."""
        blob = json.dumps(_stable(self), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def expr_key(e) -> str:
    """A stable text for an expression: its serialized plan (``str`` shows only a summary of a
    long one); a plan that cannot be serialized (a Python function) falls back to ``str``."""
    if isinstance(e, pl.Expr):
        try:
            return e.meta.serialize(format="json")
        except Exception:
            return str(e)
    return str(e)


def _stable(v):
    if dataclasses.is_dataclass(v):
        return {f.name: _stable(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if isinstance(v, dict):
        return {str(k): _stable(x) for k, x in v.items()}
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return expr_key(v)


_SECTION_TYPES = {
    "sizing": SizingConfig,
    "costs": CostConfig,
    "execution": ExecutionConfig,
    "portfolio": PortfolioConfig,
    "risk": RiskConfig,
    "limits": LimitsConfig,
    "rebalance": RebalanceConfig,
}
