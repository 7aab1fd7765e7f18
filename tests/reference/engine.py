"""A slow, obvious, per-bar reference engine. Imports nothing from ml4t_vec.

It implements the fill rules written in README "Fill rules" directly, with dicts and floats, so
that the numba kernels can be checked against it on random panels (tests/property). The order
arithmetic (sizing, cash rules, one-order reversals) is in ``orders.py``, the signal and
position rules in ``rules.py``; this module runs the bar loop and keeps the books.

Input: ``Panel`` — sorted timestamps (any sortable values), sorted asset names, and for each
asset a dict ``timestamp -> Bar``. A timestamp missing from an asset's dict is a bar the asset
does not trade. Output: plain lists of dicts (trades, fills, rejected) and an equity list.

Costs that move a fill's price (README "Costs"): the executed price P is the reference price
moved against the trader by the slippage (a fraction, then cash per share) and half the bid-ask
spread (``orders.half_spread``, paid on every fill whatever ``slippage_on`` says); the fees are
on P. Market impact (``Config.impact`` = (k, exponent)) then moves it further: an order of q
shares fills at P + I (a buy) or P - I (a sell), I = kappa x P x q ** exponent per share,
kappa = k x sigma / adv ** exponent at the asset's previous bar (its latest bar strictly before
the fill's; none, or a null / NaN sigma or adv there: no impact; ``Reference.kappa``), on every
fill (entries, increases, exits of every kind, scale-out steps). Every cash test counts it on
top of the notional and the fees (``orders.order_cash``); portfolio limits' caps stay on the
notional at P. Each fill records ``spread_cost`` (q x the half spread), ``impact_cost`` (q x I)
and ``slippage`` (the rest of q x |P - reference|); a trade row carries its entry fills' spread
and impact pro rata to the quantity it closes plus its exit fill's.

Resting entry orders (``Config.order_type``; their arithmetic in ``resting.py``) are placed and
cancelled at the signal step (``resting_signals``) and tested in each bar's resting phase, after
the open phase (``resting_phase``), whose fills go through the market entries' loop (``enter``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from reference import orders, resting
from reference.rules import decide, rule_exit


@dataclass
class Bar:
    open: float
    high: float
    low: float
    close: float
    entry: bool = False
    exit: bool = False
    short_entry: bool = False
    short_exit: bool = False
    price: float | None = None  # custom fill price (``price=`` option)
    rulev: float | None = None  # a per-bar rule fraction (a rule set to "rulev" reads it)
    slp: float | None = None  # a per-bar absolute stop level
    tpp: float | None = None  # a per-bar absolute target level
    prio: float | None = None  # a per-bar entry priority
    szm: float | None = None  # a per-bar size multiplier (``Config.size_by_bar``)
    sigma: float | None = None  # market impact: the bar's volatility (a fraction of the price)
    adv: float | None = None  # and its average daily volume in shares (both read by the next bar's fills)
    lmt: float | None = None  # a resting entry's absolute limit level (``Config.limit_levels``)
    stp: float | None = None  # and stop level (``Config.stop_levels``), both read at its signal bar


@dataclass
class Panel:
    timestamps: list
    assets: list
    bars: dict  # asset -> {timestamp: Bar}
    day: dict = field(default_factory=dict)  # timestamp -> calendar day (any comparable)
    time_of_day: dict = field(default_factory=dict)  # timestamp -> time of day (comparable to session_exit)


@dataclass
class Config:
    size: float = 1.0
    size_type: str = "percent"  # shares | value | percent | notional
    percent_of: str = "equity"  # equity | cash
    fractional: bool = True
    # the fees: a number, a dict by asset or an ``orders.PerBar`` (the fill bar's rulev x its scale, a null: 0)
    fees: object = 0.0  # a fraction of the notional per fill
    fixed_fees: object = 0.0  # cash per fill
    commission_per_share: object = 0.0  # (a PerBar only without commission_min / _max / _tiers)
    commission_min: float = 0.0  # a commission schedule's minimum per order
    commission_max: float = math.inf  # and its cap, a fraction of the trade value
    commission_tiers: tuple = ()  # ((up_to, rate), ...) on the account's shares this month
    slippage: float = 0.0
    slippage_per_share: float = 0.0
    # the full bid-ask spread: a number, a dict by asset or an ``orders.PerBar`` (the fill bar's rulev x
    # its scale); a fraction of the fill's reference price, or (spread_price) in price units
    spread: object = 0.0
    spread_price: bool = False
    # market impact: None, or (k, exponent): I = kappa x P x q ** exponent per share, kappa = k x sigma /
    # adv ** exponent at the asset's previous bar (``orders.kappa_at``); not with cash_rule="vectorbt",
    # reversal="one_order" or size_rule="backtesting" (ConfigError in ml4t_vec)
    impact: tuple | None = None
    signal_rules: str = "reverse"  # reverse | flat_only
    fill_order: str = "exits_first"  # exits_first | asset | ml4t
    reversal: str = "two_orders"  # two_orders | one_order
    cash_rule: str = "equity"  # equity | ml4t | vectorbt
    size_rule: str = "fees_included"  # fees_included | backtesting
    size_by_bar: bool = False  # an entry's size is size x the signal bar's szm (None: no shares)
    accumulate: bool = False  # an entry on the side held adds to the position
    scale_out: list | None = None  # [(gain, fraction of the largest quantity), ...]: take-profit in steps
    max_entries: int | None = None  # a position's entries under accumulate, its first included
    slippage_on: str = "all"  # all | entries
    borrow_rate: object = None  # None | a number | a dict by asset | "rulev" (the asset's last bar's rulev)
    trailing_start: str = "anchor"  # anchor | first_bar
    init_cash: float = 100_000.0
    cash_rate: float | None = None  # annual interest on negative cash
    credit_rate: float | None = None  # annual interest on positive cash
    cash_sharing: bool = True
    fill: str = "next_open"  # next_open | next_close | same_close
    custom_price: bool = False
    # position rules (None = off; "rulev" = the per-bar value of the signal bar)
    stop_loss: float | None = None
    take_profit: float | None = None
    trailing_stop: float | None = None
    trailing_activation: float = 0.0
    trailing_source: str = "close"  # close | extreme
    max_bars: int | None = None
    stop_anchor: str = "fill"  # fill | signal_close
    intrabar: str = "pessimistic"  # pessimistic | optimistic | ohlc_path
    stop_on_entry_bar: bool = True
    stop_slippage: float | None = None
    reenter_on_stop_bar: bool = False
    price_levels: bool = False  # absolute stop / target levels from the bars' slp / tpp
    session_exit: object = None  # a time of day
    # portfolio limits (shared cash only)
    max_positions: int | None = None
    max_position_weight: float | None = None
    max_gross_leverage: float | None = None
    max_net_exposure: float | None = None
    max_drawdown: float | None = None
    drawdown_action: str = "halt"
    drawdown_cooldown: int | None = None
    daily_loss_limit: float | None = None
    priority: bool = False  # rank competing entries by the signal bar's prio
    # resting entry orders (``resting.py``): the type of every entry order; levels as offsets from the signal
    # bar's close or (limit_levels / stop_levels) the signal bar's lmt / stp; tested on at most tif bars
    order_type: str = "market"  # market | limit | stop | stop_limit
    limit_offset: float | None = None
    stop_offset: float | None = None
    limit_levels: bool = False
    stop_levels: bool = False
    tif: int | str | None = None  # None: good till cancelled; "day": until the end of the signal bar's day
    on_new_signal: str = "replace"  # replace | keep
    on_signal_off: str = "keep"  # keep | cancel
    limit_touch: str = "touch"  # touch | through


@dataclass
class Position:
    qty: float
    entry_time: object
    entry_price: float
    entry_fees: float
    entry_slippage: float
    entry_count: int
    hi: float
    lo: float
    anchor: float = 0.0
    peak: float = 0.0
    sl: float = math.inf  # the position's fractions, fixed at entry
    tp: float = math.inf
    tsl: float = math.inf
    slp: float | None = None  # absolute levels, fixed at entry
    tpp: float | None = None
    entries: int = 1  # its first entry and its increases (accumulate)
    max_qty: float = 0.0  # the largest |quantity| it reached (scale-out fractions are of it)
    steps_done: int = 0  # scale-out steps taken
    borrow: float = 0.0  # borrow fees accrued on the open quantity
    entry_spread: float = 0.0  # the spread its entries paid (like entry_slippage)
    entry_impact: float = 0.0  # the market impact its entries paid (like entry_spread)


@dataclass
class Account:
    assets: list
    cash: float
    pos: dict = field(default_factory=dict)  # asset -> Position
    pending: dict = field(default_factory=dict)  # asset -> (action, signal time)
    last_close: dict = field(default_factory=dict)
    count: dict = field(default_factory=dict)  # bars seen per asset
    last_time: dict = field(default_factory=dict)
    rule_exit_time: dict = field(default_factory=dict)  # asset -> bar of its latest rule exit
    force: dict = field(default_factory=dict)  # asset -> exit reason a limit forced on its pending close
    # limit state
    hwm: float = 0.0
    halted: bool = False
    halt_time_index: int = 0
    day: object = None
    day_start: float = 0.0
    blocked_day: object = None
    prev_equity: float = 0.0
    mvol: float = 0.0  # shares traded in the month mvol_month (commission tiers)
    mvol_month: object = None
    resting: dict = field(default_factory=dict)  # asset -> its resting entry order (``resting.Resting``)


class Reference:
    def __init__(self, panel: Panel, cfg: Config):
        self.p = panel
        self.cfg = cfg
        self.trades: list[dict] = []
        self.fills: list[dict] = []
        self.rejected: list[dict] = []
        self.asset_values: dict = {}  # (asset, t) -> position value at the close
        self.account_cash: dict = {}  # (account index, t) -> cash
        self.interest = 0.0  # net interest the accounts paid (cash_rate less credit_rate)
        self.rest_bar: dict = {}  # (asset, t) -> the rest of bar t after a resting entry filled inside it

    def volume(self, acc: Account, t) -> float:
        """The account's shares traded this calendar month before now (commission tiers)."""
        return acc.mvol if acc.mvol_month == orders.month_of(self.p.day.get(t)) else 0.0

    def add_fill(self, acc: Account, fill: dict) -> None:
        """Record a fill; its shares count toward the account's month (commission tiers)."""
        self.fills.append(fill)
        month = orders.month_of(self.p.day.get(fill["timestamp"]))
        if acc.mvol_month != month:
            acc.mvol_month, acc.mvol = month, 0.0
        acc.mvol += fill["quantity"]

    def costs(self, acc: Account, a, t):
        """The config with the costs of a fill of ``a`` on bar t (``orders.for_asset``): by asset,
        the fees read per bar at t, the commission tier of the account's month before now."""
        return orders.for_asset(self.cfg, a, self.volume(acc, t), self.p.bars[a].get(t))

    def half_spread(self, a, t, ref: float) -> float:
        """Half the spread per share a fill of ``a`` on bar t at reference price ``ref`` pays."""
        return orders.half_spread(self.cfg, a, self.p.bars[a].get(t), ref)

    def kappa(self, a, t) -> float:
        """The market impact coefficient of a fill of ``a`` on bar t (``orders.kappa_at``): read at
        the asset's latest bar strictly before t (none: no impact)."""
        if self.cfg.impact is None:
            return 0.0
        before = [s for s in self.p.bars[a] if s < t]
        return orders.kappa_at(self.cfg, self.p.bars[a][max(before)] if before else None)

    def fill_price(self, bar: Bar) -> float:
        if self.cfg.custom_price:
            return bar.price
        return bar.open if self.cfg.fill == "next_open" else bar.close

    # -- one order -----------------------------------------------------------------------------
    def exit_order(self, acc: Account, a, t, ref: float, reason: str = "signal", slippage=None) -> None:
        """Close the position in ``a`` by one order (vectorbt's rule may cut or refuse it).
        ``slippage`` None: the exits' own (none with slippage_on="entries", which also drops the
        per-share slippage of every exit). The half spread and the market impact are paid in every
        case."""
        c = self.costs(acc, a, t)
        entries_only = c.slippage_on == "entries"
        if slippage is None:
            slippage = 0.0 if entries_only else c.slippage
        sps = (0.0 if entries_only else c.slippage_per_share) + self.half_spread(a, t, ref)
        o = orders.order(c, acc.pos[a].qty, True, 0.0, ref, (slippage, sps), acc.cash, acc.cash, 0.0, 0.0, math.inf,
                         self.kappa(a, t))  # fmt: skip
        self.record(acc, a, t, ref, o, reason, None, None)

    def record(self, acc: Account, a, t, ref: float, o: orders.Order, reason: str, signal_time, cap_reason,
               hs: float | None = None) -> None:  # fmt: skip
        """Book one order: rejected rows for parts cut or refused, the closing part (a closed trade
        for the shares it closes, the entry costs pro rata), the new part (a new position), both
        at the order's price (``o.price``: ``o.px`` moved by the market impact). Each fill's
        ``spread_cost`` is its shares x the half spread, its ``impact_cost`` its shares x the
        impact; its ``slippage`` is the rest of the distance from ``ref`` to ``o.px``. ``hs``: the
        new part's half spread per share (None: ``half_spread`` at ``ref``)."""
        c = self.cfg
        side = "buy" if o.side > 0 else "sell"
        base = dict(timestamp=t, symbol=a, side=side, price=ref)
        if o.st_x in ("reduced", "no_cash"):
            why = "reduced_cash" if o.st_x == "reduced" else "insufficient_cash"
            self.rejected.append(dict(base, effect="exit", reason=why, requested_quantity=abs(acc.pos[a].qty),
                                      filled_quantity=o.qx))  # fmt: skip
        if o.st_n is not None and o.st_n != "ok":
            adds = a in acc.pos and acc.pos[a].qty * o.side > 0  # an increase (accumulate)
            if o.st_n in ("capped", "cap_none"):
                why = cap_reason
            elif o.st_n == "zero":
                why = "zero_quantity"
            elif c.max_gross_leverage is not None:
                why = "max_gross_leverage"
            else:
                why = "reduced_cash" if o.st_n == "reduced" else "insufficient_cash"
            self.rejected.append(dict(base, effect="increase" if adds else "entry", reason=why,
                                      requested_quantity=o.req, filled_quantity=o.qn))  # fmt: skip
        dcash = 0.0
        if o.qx > 0:
            p = acc.pos[a]
            spread = o.qx * self.half_spread(a, t, ref)
            slip = o.qx * abs(o.px - ref) - spread
            imp = o.qx * o.imp
            q = o.qx if p.qty > 0 else -o.qx
            self.add_fill(acc, dict(base, effect="exit", quantity=o.qx, price=o.price, fees=o.fee_x, slippage=slip,
                                   spread_cost=spread, impact_cost=imp, reason=reason))  # fmt: skip
            held = abs(p.qty)
            if o.qx == held:
                closed = acc.pos.pop(a)
            else:  # part of the position: the rest keeps its entry bar and price
                closed = dataclasses.replace(p, qty=q, entry_fees=o.qx / held * p.entry_fees,
                                             entry_slippage=o.qx / held * p.entry_slippage,
                                             entry_spread=o.qx / held * p.entry_spread,
                                             entry_impact=o.qx / held * p.entry_impact,
                                             borrow=o.qx / held * p.borrow)  # fmt: skip
                p.entry_fees = p.entry_fees * ((held - o.qx) / held)
                p.entry_slippage = p.entry_slippage * ((held - o.qx) / held)
                p.entry_spread = p.entry_spread * ((held - o.qx) / held)
                p.entry_impact = p.entry_impact * ((held - o.qx) / held)
                p.borrow -= closed.borrow
                p.qty = p.qty - q
            self.add_trade(a, closed, t, o.price, o.fee_x, slip, acc.count[a] - closed.entry_count, reason, "closed",
                           spread, imp)  # fmt: skip
            dcash = q * o.price - o.fee_x
        if o.qn > 0:
            d = float(o.side)
            dcash -= d * o.qn * o.price + o.fee_n
            self.open_position(acc, a, t, d, o.qn, o.px, ref, signal_time, o.fee_n, o.imp, hs)
        acc.cash += dcash

    def open_position(self, acc: Account, a, t, d: float, q: float, px: float, ref: float, signal_time,
                      fee: float | None = None, imp: float = 0.0, hs: float | None = None) -> None:  # fmt: skip
        """A new position of q shares in direction d at executed price px before market impact
        (reference ref): it fills at px + d x the impact per share. ``fee`` given: its share of
        the order's fee, ``imp`` the order's impact per share, and the caller books the cash;
        else the fee and the impact of this order of q shares. ``hs``: the half spread per share
        it paid (None: ``half_spread`` at ``ref``; a resting fill at its level pays none)."""
        c = self.costs(acc, a, t)
        if fee is None:
            fee = orders.fee(c, q, px)
            imp = orders.impact(c, self.kappa(a, t), q, px)
            acc.cash -= d * q * (px + d * imp) + fee
        spread = q * (self.half_spread(a, t, ref) if hs is None else hs)
        slip = q * abs(px - ref) - spread
        impact = q * imp
        px = px + d * imp  # the fill price
        signal_bar = self.p.bars[a][signal_time]
        side = "buy" if d > 0 else "sell"
        fill = dict(timestamp=t, symbol=a, side=side, quantity=q, price=px, fees=fee, slippage=slip, spread_cost=spread,
                    impact_cost=impact, reason="signal")  # fmt: skip
        if a in acc.pos:  # an increase (accumulate): average cost; the anchor averages the entries' anchors
            p = acc.pos[a]
            held = abs(p.qty)
            p.entry_price = (held * p.entry_price + q * px) / (held + q)
            p.entry_fees += fee
            p.entry_slippage += slip
            p.entry_spread += spread
            p.entry_impact += impact
            p.hi, p.lo = max(p.hi, px), min(p.lo, px)
            p.qty += d * q
            p.max_qty = max(p.max_qty, abs(p.qty))
            p.entries += 1
            w = q / (held + q)
            p.anchor = p.entry_price if c.stop_anchor == "fill" else (1.0 - w) * p.anchor + w * signal_bar.close
            self.add_fill(acc, dict(fill, effect="increase"))
            return
        anchor = px if c.stop_anchor == "fill" else signal_bar.close
        fr = [self.fraction(v, signal_bar, a) for v in (c.stop_loss, c.take_profit, c.trailing_stop)]
        levels = (signal_bar.slp, signal_bar.tpp) if c.price_levels else (None, None)
        peak = anchor if c.trailing_start == "anchor" else -d * math.inf  # first_bar: none until a bar is held
        acc.pos[a] = Position(d * q, t, px, fee, slip, acc.count[a], px, px, anchor, peak, *fr, *levels, max_qty=q,
                              entry_spread=spread, entry_impact=impact)  # fmt: skip
        self.add_fill(acc, dict(fill, effect="entry"))

    def position_rules(self, acc: Account, a, t, p: Position, b: Bar) -> None:
        """Bar t's position rules for ``p``. The next scale-out step is a nearer take-profit: when
        it is what the bar reaches (strictly before the full target), it sells its fraction of
        the largest quantity (all that is left when that covers it), and the rest of the bar is
        checked again from the step's price, for the next step, the target or a stop."""
        c = self.cfg
        steps = c.scale_out or []
        bar, session = b, self.session_flags(a, t)[1]
        while True:
            g = steps[p.steps_done][0] if p.steps_done < len(steps) else math.inf
            hit = rule_exit(c, dataclasses.replace(p, tp=min(p.tp, g)), bar, acc.count[a] - p.entry_count,
                            p.entry_time == t, session)  # fmt: skip
            if hit is None:
                return
            reason, ref = hit
            stop_slip = c.stop_slippage if reason != "time_stop" else None  # None: the exits' own
            if reason == "take_profit" and self.step_is_nearer(p, g):
                frac = steps[p.steps_done][1]
                p.steps_done += 1
                q = frac * p.max_qty
                q = q if c.fractional else orders.whole(q)
                if q >= abs(p.qty) * (1 - 1e-12):  # the step covers what is left: a rule exit
                    acc.rule_exit_time[a] = t
                    self.exit_order(acc, a, t, ref, "scale_out", stop_slip)
                    return
                if q > 0:
                    self.reduce(acc, a, t, ref, q, "scale_out", stop_slip)
                bar, session = dataclasses.replace(b, open=ref), False  # the rest of the bar, from the step
                continue
            acc.rule_exit_time[a] = t  # the bar's signals are ignored, even if the exit is refused
            self.exit_order(acc, a, t, ref, reason, stop_slip)
            return

    @staticmethod
    def step_is_nearer(p: Position, g: float) -> bool:
        """The scale-out step at gain g lies strictly before the position's full target."""
        if p.qty > 0:
            target = p.anchor * (1 + p.tp) if p.tpp is None else min(p.anchor * (1 + p.tp), p.tpp)
            return p.anchor * (1 + g) < target
        target = p.anchor * (1 - p.tp) if p.tpp is None else max(p.anchor * (1 - p.tp), p.tpp)
        return p.anchor * (1 - g) > target

    def reduce(self, acc: Account, a, t, ref: float, q: float, reason: str, slippage) -> None:
        """Sell (or cover) q of the position in ``a`` (less than it holds) at ``ref``: a reduce
        fill and a partial trade row with the entry costs pro rata."""
        c = self.costs(acc, a, t)
        p = acc.pos[a]
        entries_only = c.slippage_on == "entries"
        if slippage is None:
            slippage = 0.0 if entries_only else c.slippage
        sps = 0.0 if entries_only else c.slippage_per_share
        hs = self.half_spread(a, t, ref)
        side = -1 if p.qty > 0 else 1
        px = ref * (1 + side * slippage) + side * (sps + hs)
        fee = orders.fee(c, q, px)
        spread = q * hs
        slip = q * abs(px - ref) - spread
        imp = orders.impact(c, self.kappa(a, t), q, px)
        impact = q * imp
        px += side * imp  # the fill price
        held = abs(p.qty)
        signed = q if p.qty > 0 else -q
        part = dataclasses.replace(p, qty=signed, entry_fees=q / held * p.entry_fees,
                                   entry_slippage=q / held * p.entry_slippage, entry_spread=q / held * p.entry_spread,
                                   entry_impact=q / held * p.entry_impact, borrow=q / held * p.borrow)  # fmt: skip
        p.entry_fees -= part.entry_fees
        p.entry_slippage -= part.entry_slippage
        p.entry_spread -= part.entry_spread
        p.entry_impact -= part.entry_impact
        p.borrow -= part.borrow
        p.qty -= signed
        self.add_fill(acc, dict(timestamp=t, symbol=a, side="buy" if side > 0 else "sell", effect="reduce", quantity=q,
                               price=px, fees=fee, slippage=slip, spread_cost=spread, impact_cost=impact,
                               reason=reason))  # fmt: skip
        self.add_trade(a, part, t, px, fee, slip, acc.count[a] - p.entry_count, reason, "partial", spread, impact)
        acc.cash += signed * px - fee

    def held_through(self, p: Position, b: Bar) -> None:
        """A position held through bar b: its range, then the trailing peak."""
        p.hi = max(p.hi, b.high)
        p.lo = min(p.lo, b.low)
        if p.qty > 0:
            p.peak = max(p.peak, b.close if self.cfg.trailing_source == "close" else b.high)
        else:
            p.peak = min(p.peak, b.close if self.cfg.trailing_source == "close" else b.low)

    def session_flags(self, a, t) -> tuple[bool, bool]:
        """(bar at/after the session exit time, first such bar of the asset's day)."""
        T = self.cfg.session_exit
        if T is None:
            return False, False
        after = self.p.time_of_day[t] >= T
        times = sorted(self.p.bars[a])
        i = times.index(t)
        prev = times[i - 1] if i > 0 else None
        prev_after = prev is not None and self.p.day[prev] == self.p.day[t] and self.p.time_of_day[prev] >= T
        return after, after and not prev_after

    # -- position rules ------------------------------------------------------------------------
    @staticmethod
    def fraction(setting, signal_bar: Bar, asset=None) -> float:
        """A rule's fraction for a position in ``asset`` opened by a signal on ``signal_bar``
        (inf = off); a dict holds one value per asset."""
        if isinstance(setting, dict):
            setting = setting.get(asset)
        if setting is None:
            return math.inf
        if setting == "rulev":
            return math.inf if signal_bar.rulev is None else signal_bar.rulev
        return setting

    def add_trade(self, a, p: Position, t, exit_px, exit_fee, exit_slip, bars_held, reason, status, exit_spread=0.0,
                  exit_impact=0.0):  # fmt: skip
        """A trade row for ``p`` (its quantity and entry costs: the part closed) exiting at
        ``exit_px``; its ``spread_cost`` is its entry spread and the exit fill's, its
        ``impact_cost`` its entry impact and the exit fill's."""
        hi = max(p.hi, exit_px)
        lo = min(p.lo, exit_px)
        if p.qty > 0:
            mfe, mae = hi / p.entry_price - 1, lo / p.entry_price - 1
        else:
            mfe, mae = 1 - lo / p.entry_price, 1 - hi / p.entry_price
        gross = (exit_px - p.entry_price) * p.qty
        fees = p.entry_fees + exit_fee
        net = gross - fees - p.borrow
        self.trades.append(
            dict(
                symbol=a,
                entry_time=p.entry_time,
                exit_time=t,
                entry_price=p.entry_price,
                exit_price=exit_px,
                quantity=p.qty,
                direction="long" if p.qty > 0 else "short",
                pnl=net,
                pnl_percent=net / (abs(p.qty) * p.entry_price),
                gross_pnl=gross,
                fees=fees,
                entry_slippage=p.entry_slippage,
                exit_slippage=exit_slip,
                spread_cost=p.entry_spread + exit_spread,
                impact_cost=p.entry_impact + exit_impact,
                borrow_cost=p.borrow,
                bars_held=bars_held,
                mfe=mfe,
                mae=mae,
                exit_reason=reason,
                status=status,
            )
        )

    def execute_some(self, acc: Account, t, block, assets: list, part: str = "all") -> None:
        """Fill the pending orders of ``assets`` on bar t: all exits first, then entries (asset
        order, or by priority), each checked against the cash and the portfolio limits (the
        account's equity and exposures count every asset). A one-order reversal is one order: it
        fills with the entries. ``part``: "all", "exits" or "entries" (fill_order="ml4t" checks
        the position rules in between)."""
        c = self.cfg
        ready = [a for a in assets if a in acc.pending and t in self.p.bars[a]]
        if not ready:
            return
        for a in ready if part != "entries" else []:
            action, _ = acc.pending[a]
            if action in ("close", "reverse_to_long", "reverse_to_short"):
                if a in acc.pos and action != "close" and c.reversal == "one_order":
                    continue
                reason = acc.force.pop(a, "signal")
                ref = self.fill_price(self.p.bars[a][t])
                if a in acc.pos:
                    self.exit_order(acc, a, t, ref, reason)
                if action == "close":
                    del acc.pending[a]
                elif a in acc.pos:  # the exit was cut or refused by cash: no entry
                    del acc.pending[a]
                    self.rejected.append(dict(timestamp=t, symbol=a, side="buy" if action == "reverse_to_long" else
                                              "sell", effect="entry", reason="insufficient_cash",
                                              requested_quantity=None, filled_quantity=0.0, price=ref))  # fmt: skip
        entries = [a for a in ready if a in acc.pending and acc.pending[a][0] != "close"]
        if entries and part != "exits":
            self.enter(acc, t, block, [(a, *acc.pending.pop(a), None) for a in entries], self.fill_price)

    def enter(self, acc: Account, t, block, items: list, mark) -> None:
        """Fill the entries ``items`` = [(asset, action, signal time, quote)] on bar t, in asset
        order or by priority (read at each one's signal bar), each checked against the cash and
        the portfolio limits. The sizing equity, exposures and buying power are marked once, every
        held position at ``mark(bar)`` (the last close without a bar at t), then follow each
        fill. A quote None: a market order at the phase's price (``fill_price``); else a
        ``resting.Quote`` (a resting order's fill: reference, slippage, half spread, price)."""
        c = self.cfg
        if c.priority:  # higher first, None last; sorted() is stable: ties keep asset order

            def key(item):
                v = self.p.bars[item[0]][item[2]].prio
                return (1, 0.0) if v is None or math.isnan(v) else (0, -v)

            items = sorted(items, key=key)
        elif c.fill_order == "ml4t":  # ml4t-backtest fills pending entries in submission order
            items = sorted(items, key=lambda item: item[2])  # stable: ties keep asset order
        # equity and exposures marked at this phase's prices (last close if no bar now)
        equity, gross, net, n_open = acc.cash, 0.0, 0.0, 0
        for a in acc.assets:  # asset order, like the kernel (same rounding)
            if a not in acc.pos:
                continue
            p = acc.pos[a]
            mark_a = mark(self.p.bars[a][t]) if t in self.p.bars[a] else acc.last_close[a]
            equity += p.qty * mark_a
            gross += abs(p.qty) * mark_a
            net += p.qty * mark_a
            n_open += 1
        lev = 1.0 if c.max_gross_leverage is None else c.max_gross_leverage
        available = lev * equity - gross
        if c.cash_rule == "ml4t":  # the cash, short-sale proceeds included
            available = acc.cash
        for a, action, signal_time, quote in items:
            c = self.costs(acc, a, t)  # this asset's costs, at this fill bar
            d = 1.0 if action in ("open_long", "reverse_to_long", "add_long") else -1.0
            ref = self.fill_price(self.p.bars[a][t]) if quote is None else quote.ref
            if action.startswith("add") and a not in acc.pos:  # a rule closed the position it was to add to
                self.rejected.append(dict(timestamp=t, symbol=a, side="buy" if d > 0 else "sell", effect="increase",
                                          reason="position_closed", requested_quantity=None, filled_quantity=0.0,
                                          price=ref))  # fmt: skip
                continue
            if quote is None:  # a market order
                quote = resting.market(ref, d, c.slippage, c.slippage_per_share, self.half_spread(a, t, ref))
            hs, px = quote.hs, quote.px
            kappa = self.kappa(a, t)  # market impact: px moves by orders.impact(c, kappa, q, px) per share
            q0 = acc.pos[a].qty if a in acc.pos else 0.0
            flip = q0 * d < 0  # a one-order reversal
            add = q0 * d > 0  # an increase (accumulate)
            free = acc.cash
            if d < 0 and (c.percent_of == "cash" or c.cash_rule == "vectorbt"):  # cash - 2 x short debt
                debt = 0.0
                for b in acc.assets:
                    if b in acc.pos and acc.pos[b].qty < 0:
                        debt += -acc.pos[b].qty * acc.pos[b].entry_price
                free = acc.cash - 2.0 * debt
            cs = c  # sized at the signal bar: a size per bar, its null requesting nothing
            if c.size_by_bar:
                m = self.p.bars[a][signal_time].szm
                cs = dataclasses.replace(c, size=0.0 if m is None else c.size * m)
            req = orders.requested(cs, d, ref, px, equity, acc.cash, free, kappa)
            base = dict(timestamp=t, symbol=a, side="buy" if d > 0 else "sell", effect="increase" if add else "entry",
                        requested_quantity=req, price=ref)  # fmt: skip
            refuse = block
            if refuse is None and self.session_flags(a, t)[0]:
                refuse = "session_end"
            if (refuse is None and not add and c.max_positions is not None
                    and n_open - (1 if flip else 0) >= c.max_positions):  # fmt: skip
                refuse = "max_positions"
            cash_reason = ("max_gross_leverage", "max_gross_leverage") if c.max_gross_leverage is not None else (
                "insufficient_cash", "reduced_cash")  # fmt: skip
            held = abs(q0) * ref if add else 0.0  # the weight cap counts what an increase adds to
            by_weight = math.inf if c.max_position_weight is None else c.max_position_weight * equity - held
            by_net = math.inf if c.max_net_exposure is None else (
                c.max_net_exposure * equity - d * (net - (q0 * ref if flip else 0.0)))  # fmt: skip
            cap, cap_reason = (by_weight, "max_position_weight") if by_weight <= by_net else (
                by_net, "max_net_exposure")  # fmt: skip
            if refuse is not None:
                self.rejected.append(dict(base, reason=refuse, filled_quantity=0.0))
                if not flip:
                    continue
            elif c.size_rule == "backtesting":  # backtesting.py: whole units of a fraction of the buying power
                unit = px + (c.fixed_fees + c.size * ref * c.fees + c.size * c.commission_per_share) / c.size
                room = max(available, 0.0)
                q = float(int((room * c.size) // unit)) if c.size_type == "percent" else c.size
                base["requested_quantity"] = q
                if c.size_type != "percent" and q * unit > room:
                    self.rejected.append(dict(base, reason=cash_reason[0], filled_quantity=0.0))
                    continue
                if q <= 0:
                    self.rejected.append(dict(base, reason="zero_quantity", filled_quantity=0.0))
                    continue
                if q * px > cap:
                    self.rejected.append(dict(base, reason=cap_reason, filled_quantity=0.0))
                    continue
                fee = orders.fee(c, q, px)
                self.open_position(acc, a, t, d, q, px, ref, signal_time, hs=hs)
                available = acc.cash if c.cash_rule == "ml4t" else available - (q * px + fee)  # ml4t: the cash
                gross += q * px
                net += d * q * px
                n_open += 0 if add else 1
                continue
            elif c.cash_rule == "ml4t":  # all or nothing at the worse of the reference and executed price
                worse = max(ref, px)  # (the market impact counted at it; the fill moves px by the impact)
                if math.isinf(req):  # all the cash
                    req = max(orders.affordable(c, acc.cash, worse, kappa), 0.0)
                    req = req if c.fractional else math.floor(req + 1e-9)
                    base["requested_quantity"] = req
                    if req <= 0:
                        self.rejected.append(dict(base, reason="insufficient_cash", filled_quantity=0.0))
                        continue
                if req <= 0:
                    self.rejected.append(dict(base, reason="zero_quantity", filled_quantity=0.0))
                    continue
                if orders.order_cash(c, req, worse, kappa) > acc.cash + 0.01:
                    self.rejected.append(dict(base, reason="insufficient_cash", filled_quantity=0.0))
                    continue
                if req * px > cap:
                    self.rejected.append(dict(base, reason=cap_reason, filled_quantity=0.0))
                    continue
                self.open_position(acc, a, t, d, req, px, ref, signal_time, hs=hs)
                gross += req * px
                net += d * req * px
                n_open += 0 if add else 1
                continue
            # the equity and vectorbt rules: one order (a one-order reversal closes and opens)
            slippage = (quote.frac, quote.per_share + hs)
            o = orders.order(cs, q0, flip, 0.0 if refuse is not None else d, ref, slippage, acc.cash, free, equity,
                             available, cap, kappa, px)  # fmt: skip
            self.record(acc, a, t, ref, o, acc.force.pop(a, "signal"), signal_time, cap_reason, hs)
            if o.qx > 0:  # the closing part releases its exposure and pays its costs
                gross -= o.qx * ref
                net -= (o.qx if q0 > 0 else -o.qx) * ref
                available += o.qx * ref - o.qx * abs(o.price - ref) - o.fee_x
                if a not in acc.pos or o.qn > 0:
                    n_open -= 1
            if o.qn > 0:  # its notional at px, its fees and its market impact
                available -= o.qn * (o.px + o.imp) + o.fee_n
                gross += o.qn * o.px
                net += d * o.qn * o.px
                n_open += 0 if add else 1

    # -- resting entry orders ------------------------------------------------------------------
    def refused(self, a, t, d: float, reason: str, effect: str = "entry", requested: float | None = None) -> None:
        """A rejected row of an order of direction d that never reached a fill (no price): a resting
        entry order's (no quantity), or an order left at the end of the data."""
        self.rejected.append(dict(timestamp=t, symbol=a, side="buy" if d > 0 else "sell", effect=effect, reason=reason,
                                  requested_quantity=requested, filled_quantity=0.0, price=None))  # fmt: skip

    def resting_phase(self, acc: Account, t, block, assets: list) -> None:
        """Bar t's resting phase: each resting order of ``assets`` with a bar at t whose account
        holds no position in its asset is tested (``resting.try_fill``; a test that does not fill
        and is the tif-th expires it), then the fills enter in asset order or by priority, the
        account's positions marked at this bar's open (``enter``). A position opened inside the
        bar has its rules check the rest of the bar (``resting.rest_of_bar``)."""
        c = self.cfg
        items = []
        for a in assets:
            r = acc.resting.get(a)
            if r is None or t not in self.p.bars[a] or a in acc.pos:
                continue
            if c.tif == "day" and self.p.day.get(t) != self.p.day.get(r.signal_time):  # its day is over
                del acc.resting[a]
                self.refused(a, t, r.d, "expired")
                continue
            r.tests += 1
            hs = lambda ref, a=a: self.half_spread(a, t, ref)  # noqa: E731
            q = resting.try_fill(c, self.costs(acc, a, t), r, self.p.bars[a][t], hs)
            if q is not None or (isinstance(c.tif, int) and r.tests >= c.tif):
                del acc.resting[a]
            if q is not None:
                items.append((a, "open_long" if r.d > 0 else "open_short", r.signal_time, q))
            elif a not in acc.resting:
                self.refused(a, t, r.d, "expired")
        self.enter(acc, t, block, items, lambda b: b.open)
        for a, action, _, q in items:
            if q.extreme is not None and a in acc.pos:  # filled inside the bar
                d = 1.0 if action == "open_long" else -1.0
                self.rest_bar[(a, t)] = resting.rest_of_bar(c, self.p.bars[a][t], d, q)

    def resting_signals(self, acc: Account, a, t, action: str | None) -> str | None:
        """The signal step of bar t for resting orders: a resting order of ``a`` (its reversal's
        exit filled) is cancelled by its side's exit signal, else the other side's entry signal,
        else (on_signal_off="cancel") its own entry signal off; then an entry ``action`` places a
        new order (levels at t; a null level: ``no_level``), replacing the resting one (a row
        ``replaced``) or, on_new_signal="keep", ignored. Returns what is left for the market:
        a reversal's exit ("close"), else None."""
        c, b, r = self.cfg, self.p.bars[a][t], acc.resting.get(a)
        if r is not None and a not in acc.pos and (why := resting.cancelled(c, r, b)) is not None:
            del acc.resting[a]
            self.refused(a, t, r.d, why)
        if action not in ("open_long", "open_short", "reverse_to_long", "reverse_to_short"):
            return action
        if a in acc.resting:
            if c.on_new_signal == "keep":
                return None
            self.refused(a, t, acc.resting.pop(a).d, "replaced")
        d = 1.0 if action.endswith("long") else -1.0
        lv = resting.levels(c, d, b)
        if lv is None:
            self.refused(a, t, d, "no_level")
        else:
            acc.resting[a] = resting.Resting(d, t, *lv)
        return "close" if action.startswith("reverse") else None

    def force_exit(self, acc: Account, a, t, reason: str) -> None:
        acc.force[a] = reason
        if a not in acc.pending or acc.pending[a][0].startswith("add"):  # a waiting increase gives way
            acc.pending[a] = ("close", t)

    def close_of_bar(self, acc: Account, i: int, t) -> None:
        """Portfolio limits on the closing equity of bar t (index i of the time axis)."""
        c = self.cfg
        values = {a: (acc.pos[a].qty * acc.last_close[a] if a in acc.pos else 0.0) for a in acc.assets}
        eq = acc.cash + sum(values.values())
        gross = sum(abs(v) for v in values.values())
        day = self.p.day.get(t, 0)
        if day != acc.day:
            acc.day, acc.day_start = day, acc.prev_equity
        acc.prev_equity = eq
        if c.daily_loss_limit is not None and eq <= acc.day_start * (1 - c.daily_loss_limit):
            acc.blocked_day = day
        if acc.halted and c.drawdown_cooldown is not None and i - acc.halt_time_index >= c.drawdown_cooldown:
            acc.halted, acc.hwm = False, eq
        acc.hwm = max(acc.hwm, eq)
        if c.max_drawdown is not None and not acc.halted and eq <= acc.hwm * (1 - c.max_drawdown):
            acc.halted, acc.halt_time_index = True, i
            if c.drawdown_action == "liquidate":
                for a in acc.assets:
                    if a in acc.pos:
                        self.force_exit(acc, a, t, "liquidation")
        lev = c.max_gross_leverage
        if lev is not None and gross > lev * eq * (1 + 1e-12):
            gross -= sum(abs(values[a]) for a in acc.pos if a in acc.force)
            held = [a for a in acc.assets if a in acc.pos and a not in acc.force]
            for a in sorted(held, key=lambda a: -abs(values[a])):  # largest first, ties in asset order
                if gross <= lev * eq * (1 + 1e-12) and eq > 0:
                    break
                self.force_exit(acc, a, t, "risk_limit")
                gross -= abs(values[a])

    # -- the bar loop --------------------------------------------------------------------------
    def run_account(self, k: int, acc: Account) -> None:
        fill = self.cfg.fill
        acc.hwm = acc.day_start = acc.prev_equity = acc.cash
        for i, t in enumerate(self.p.timestamps):
            # the calendar days since the previous bar, before the bar starts: interest on the cash,
            # then the shorts' borrow fees
            if i > 0 and (self.cfg.borrow_rate is not None or self.cfg.cash_rate or self.cfg.credit_rate):
                nights = (self.p.day[t] - self.p.day[self.p.timestamps[i - 1]]).days
                paid = orders.interest(self.cfg, acc.cash, nights)
                acc.cash += paid
                self.interest -= paid
                for a, p in acc.pos.items():
                    last = acc.last_time[a]
                    fee = orders.borrow_fee(self.cfg, a, p.qty, acc.last_close[a], self.p.bars[a][last], nights)
                    acc.cash -= fee
                    p.borrow += fee
            live = [a for a in acc.assets if t in self.p.bars[a]]
            for a in live:
                acc.count[a] = acc.count.get(a, 0) + 1
                acc.last_time[a] = t
            block = None  # entries filling on this bar are refused while the breaker or the day's limit holds
            if acc.halted:
                block = "max_drawdown"
            elif acc.blocked_day is not None and acc.blocked_day == self.p.day.get(t, 0):
                block = "daily_loss_limit"
            # fill_order="asset" (vectorbt): each asset runs the whole bar cycle before the next one
            groups = [[a] for a in acc.assets] if self.cfg.fill_order == "asset" else [acc.assets]
            ml4t_order = self.cfg.fill_order == "ml4t" and fill == "next_open"
            for group in groups:
                if fill == "next_open":  # ml4t-backtest's cycle: the open's exits now, its entries after the rules
                    self.execute_some(acc, t, block, group, "exits" if ml4t_order else "all")
                if self.cfg.order_type != "market":
                    self.resting_phase(acc, t, block, group)
                # position rules, then the bar's range and the trailing peak (of a resting entry filled
                # inside the bar: the rest of the bar)
                for a in [x for x in live if x in group]:
                    if a not in acc.pos:
                        continue
                    p, b = acc.pos[a], self.rest_bar.get((a, t), self.p.bars[a][t])
                    self.position_rules(acc, a, t, p, b)
                    if a not in acc.pos:
                        continue
                    self.held_through(p, b)
                if ml4t_order:
                    self.execute_some(acc, t, block, group, "entries")
                    for a in [x for x in live if x in group and x in acc.pos and acc.pos[x].entry_time == t]:
                        self.held_through(acc.pos[a], self.p.bars[a][t])  # no rule check on the entry bar
                if fill == "next_close":
                    self.execute_some(acc, t, block, group)
                for a in [x for x in live if x in group]:
                    p = acc.pos.get(a)
                    me = self.cfg.max_entries
                    can_add = self.cfg.accumulate and p is not None and (me is None or p.entries < me)
                    action = decide(self.p.bars[a][t], p.qty if p is not None else 0.0, self.cfg.signal_rules, can_add)
                    if acc.rule_exit_time.get(a) == t and not self.cfg.reenter_on_stop_bar:
                        action = None  # no re-entry on the bar a position rule closed the position
                    if action is not None and a in acc.force and not action.startswith("reverse"):
                        action = None  # a forced close stays; only a reversal replaces it
                    if self.cfg.order_type != "market":  # entries rest; a reversal's exit is a market order
                        action = self.resting_signals(acc, a, t, action)
                    if action is not None:
                        acc.pending[a] = (action, t)
                if fill == "same_close":
                    self.execute_some(acc, t, block, group)
            for a in live:
                acc.last_close[a] = self.p.bars[a][t].close
            for a in acc.assets:
                q = acc.pos[a].qty if a in acc.pos else 0.0
                self.asset_values[(a, t)] = q * acc.last_close.get(a, 0.0)
            self.account_cash[(k, t)] = acc.cash
            if self.cfg.cash_sharing:
                self.close_of_bar(acc, i, t)
        for a in acc.assets:  # end of data
            if a in acc.pending:
                action, ts = acc.pending.pop(a)
                if action in ("close", "reverse_to_long", "reverse_to_short") and a in acc.pos:
                    q = acc.pos[a].qty
                    self.refused(a, ts, -q, "no_next_bar", "exit", abs(q))
                if action != "close":
                    d = 1.0 if action in ("open_long", "reverse_to_long", "add_long") else -1.0
                    self.refused(a, ts, d, "no_next_bar", "increase" if action.startswith("add") else "entry")
            r = acc.resting.pop(a, None)
            if r is not None and r.tests == 0:  # a resting order never tested (tested: no row)
                self.refused(a, r.signal_time, r.d, "no_next_bar")
            if a in acc.pos:
                p = acc.pos[a]
                self.add_trade(a, p, acc.last_time[a], acc.last_close[a], 0.0, 0.0, acc.count[a] - p.entry_count,
                               "end_of_data", "open")  # fmt: skip

    def run(self) -> dict:
        c = self.cfg
        if c.cash_sharing:
            accounts = [Account(list(self.p.assets), c.init_cash)]
        else:
            accounts = [Account([a], c.init_cash) for a in self.p.assets]
        for k, acc in enumerate(accounts):
            self.run_account(k, acc)
        equity = []
        init_total = c.init_cash * len(accounts)
        peak = init_total
        prev = init_total
        for t in self.p.timestamps:
            cash = sum(self.account_cash[(k, t)] for k in range(len(accounts)))
            values = [self.asset_values[(a, t)] for a in self.p.assets]
            eq = cash + sum(values)
            peak = max(peak, eq)
            equity.append(
                dict(
                    timestamp=t,
                    equity=eq,
                    cash=cash,
                    gross_exposure=sum(abs(v) for v in values),
                    net_exposure=sum(values),
                    ret=eq / prev - 1,
                    drawdown=eq / peak - 1,
                )
            )
            prev = eq
        return dict(trades=self.trades, fills=self.fills, rejected=self.rejected, equity=equity,
                    interest=self.interest)  # fmt: skip


def run(panel: Panel, cfg: Config) -> dict:
    return Reference(panel, cfg).run()
