"""Order arithmetic of the reference engine: sizing, the two cash rules and one-order reversals.
Plain functions of floats and the ``Config`` (README "Fill rules": Sizing, Cash limit,
Reversals). Imports nothing from ml4t_vec.

Market impact (``Config.impact`` = (k, exponent)): an order of q shares whose executed price
before impact is P moves by I(q) = kappa x P x q ** exponent per share against the trader
(``impact``), kappa = k x sigma / adv ** exponent read by the caller at the asset's previous bar
(``kappa_at``); the functions that size or test cash take that ``kappa`` (0: none, the closed forms
of old) and count the impact as a cost on top of the notional and the fees (``order_cash``);
the fees stay on P.

An order closes a held position, opens a new one, or both at once (a one-order reversal). Its
result is an ``Order``: the closing part (``qx`` shares, status ``st_x``) and the new part
(``qn`` shares, status ``st_n``) at one executed price. A status is ``"ok"``, ``"reduced"``,
``"capped"`` (cut), or ``"no_cash"``, ``"zero"``, ``"cap_none"`` (refused); None when the order
has no such part.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

DUST = 1e-9  # equity rule: buying power at or below this fraction of equity is none
MIN_SIZE = 1e-8  # vectorbt rule: smaller orders are refused
REFUSED = ("no_cash", "zero", "cap_none")


@dataclass
class Order:
    side: int  # +1 buy, -1 sell
    px: float  # executed price
    qx: float = 0.0  # shares of the held position closed
    fee_x: float = 0.0
    st_x: str | None = None
    qn: float = 0.0  # shares of the new position
    fee_n: float = 0.0
    req: float = 0.0  # shares the new part asked for
    st_n: str | None = None
    imp: float = 0.0  # market impact per share of the order's qx + qn shares (``impact``)

    @property
    def price(self) -> float:
        """The fill price: ``px`` moved against the trader by the market impact."""
        return self.px + self.side * self.imp


def close_to(a: float, b: float) -> bool:
    """Equal within 1e-9 relative or 1e-12 absolute (the vectorbt rule's tolerance)."""
    if a == b:
        return True
    if math.isinf(a) or math.isinf(b):
        return False
    return abs(a - b) <= max(1e-9 * max(abs(a), abs(b)), 1e-12)


def below_min(q: float) -> bool:
    return q < MIN_SIZE and not close_to(q, MIN_SIZE)


def whole(q: float) -> float:
    return math.floor(q + 1e-9)


COSTS = ("fees", "fixed_fees", "commission_per_share", "commission_min", "commission_max", "slippage",
         "slippage_per_share", "borrow_rate", "spread")  # fmt: skip


BAR_FEES = ("fees", "fixed_fees", "commission_per_share")  # the fees that may be read per bar (``PerBar``)


@dataclass(frozen=True)
class PerBar:
    """A cost read per bar (``Config.spread``, and the fees in ``BAR_FEES``): the bar's ``rulev``
    x ``scale`` (a null: none)."""

    scale: float = 1.0


def for_asset(cfg, a, volume: float = 0.0, bar=None):
    """``cfg`` with the costs of asset ``a``: a cost given as a dict by asset is that asset's
    number (README "Costs": per-asset costs); a fee in ``BAR_FEES`` given as a ``PerBar`` is
    ``bar``'s value (the asset's bar at the fill; no bar, a null or NaN value: 0); with commission
    tiers, the per-share rate of an account that traded ``volume`` shares this month
    (``tier_rate``). The spread is left as it is (``half_spread`` reads it)."""
    per = {k: v[a] for k in COSTS if isinstance(v := getattr(cfg, k), dict)}
    for k in BAR_FEES:
        if isinstance(v := per.get(k, getattr(cfg, k)), PerBar):
            per[k] = 0.0 if bar is None or bar.rulev is None or math.isnan(bar.rulev) else bar.rulev * v.scale
    if cfg.commission_tiers:
        per["commission_per_share"] = tier_rate(cfg.commission_tiers, volume)
    return dataclasses.replace(cfg, **per) if per else cfg


def tier_rate(tiers: tuple, volume: float) -> float:
    """The rate of the first tier ((up_to, rate), ...) whose bound is above ``volume``."""
    for up_to, rate in tiers:
        if volume < up_to:
            return rate
    return tiers[-1][1]


def month_of(day) -> tuple | None:
    """The calendar month of a bar's ``day`` (a date) that commission tiers count an account's
    shares in (None: a panel without calendar days, one month)."""
    return None if day is None else (day.year, day.month)


def borrow_fee(cfg, a, qty: float, close: float, bar, nights: int) -> float:
    """The borrow fee a position of ``qty`` signed shares in asset ``a`` pays for ``nights``
    calendar days (README "Costs"): a short pays |qty| x close x rate / 360 per day, the rate
    being ``borrow_rate`` (a number, a dict by asset, or "rulev": the ``bar``'s per-bar value,
    the asset's last bar before the nights); None, null or 0: nothing."""
    rate = for_asset(cfg, a).borrow_rate
    if rate == "rulev":
        rate = bar.rulev
    if qty >= 0 or rate is None or not rate > 0:
        return 0.0
    return -qty * close * rate * nights / 360.0


def half_spread(cfg, a, bar, ref: float) -> float:
    """Half the bid-ask spread, per share, that a fill of asset ``a`` at reference price ``ref``
    pays (README "Costs"); ``bar`` is the asset's bar at the fill (None: no bar). ``spread`` is
    the full spread: a number, a dict by asset, or a ``PerBar`` (the bar's value); None, NaN or
    a null bar value: none. A fraction of ``ref``, or (``spread_price``) in price units. It moves
    the executed price against the trader like a per-share slippage: every fill pays it, whatever
    ``slippage_on`` or ``stop_slippage`` say."""
    s = cfg.spread
    if isinstance(s, dict):
        s = s[a]
    if isinstance(s, PerBar):
        s = None if bar is None or bar.rulev is None else bar.rulev * s.scale
    if s is None or math.isnan(s):
        return 0.0
    return s / 2.0 if cfg.spread_price else ref * s / 2.0


def interest(cfg, cash: float, nights: int) -> float:
    """Interest on an account's ``cash`` for ``nights`` calendar days (README "Costs"), /360 a
    day: negative cash pays ``cash_rate``, positive cash earns ``credit_rate`` (None: 0). The
    change to the cash."""
    rate = (cfg.cash_rate if cash < 0 else cfg.credit_rate) or 0.0
    return cash * rate * nights / 360.0


def flat(cfg) -> bool:
    """The commission is linear in the shares: no minimum, no cap."""
    return cfg.commission_min == 0 and cfg.commission_max == math.inf


def times(q: float, rate: float) -> float:
    """q x a rate; no rate costs nothing, even for an all-in request (q = inf: not inf x 0)."""
    return q * rate if rate else 0.0


def commission(cfg, q: float, px: float) -> float:
    """One order's per-share commission: rate x shares, at least the minimum, at most the cap x
    trade value (the cap wins); nothing for no shares."""
    c = times(q, cfg.commission_per_share)
    if q > 0 and not flat(cfg):
        c = min(max(c, cfg.commission_min), cfg.commission_max * q * px)
    return c


def fee(cfg, q: float, px: float) -> float:
    """One order's fees at ``px``, the executed price before market impact: a fraction of the
    notional, the fixed fee, the commission."""
    return times(q * px, cfg.fees) + cfg.fixed_fees + commission(cfg, q, px)


def kappa_at(cfg, bar) -> float:
    """The market impact coefficient of a fill (``Config.impact`` = (k, exponent); None: none):
    k x sigma / adv ** exponent at ``bar``, the asset's latest bar before the fill (None: no such
    bar). A null or NaN sigma or adv there, or a coefficient that is not a positive finite
    number (adv <= 0, sigma <= 0): no impact, 0."""
    if cfg.impact is None or bar is None or bar.sigma is None or bar.adv is None:
        return 0.0
    k, e = cfg.impact
    if not (bar.sigma > 0 and bar.adv > 0):  # NaN, 0 or below
        return 0.0
    x = k * bar.sigma / bar.adv**e
    return x if 0 < x < math.inf else 0.0


def impact(cfg, kappa: float, q: float, px: float) -> float:
    """Market impact per share of one order of q >= 0 shares at ``px``, its executed price before
    impact (slippage and half the spread in): kappa x px x q ** exponent (``Config.impact``'s
    exponent); none without a kappa > 0 or shares. A buy fills at px + it, a sell at px - it; it
    is paid on every fill, whatever ``slippage_on`` says, and the fees stay on px."""
    if not (kappa > 0 and q > 0):
        return 0.0
    e = cfg.impact[1]
    return kappa * px * (math.sqrt(q) if e == 0.5 else q**e)  # (a square root as the kernels take it)


def order_cash(cfg, q: float, px: float, kappa: float = 0.0) -> float:
    """The cash an order of q shares at ``px`` (before impact) needs: notional, fees and market
    impact, q x px + fee + q x impact (a buy pays it all; a short sale's buying power counts the
    same)."""
    return q * px + fee(cfg, q, px) + q * impact(cfg, kappa, q, px)


def unit_cost(cfg, px: float) -> float:
    """Cash one more share costs or a short needs, fees included (a flat commission)."""
    return px * (1 + cfg.fees) + cfg.commission_per_share


def affordable(cfg, available: float, px: float, kappa: float = 0.0) -> float:
    """The most shares whose notional and fees (and, kappa > 0, market impact) fit in
    ``available`` (<= 0: none). Without impact a closed form (``fee_affordable``). With it the
    largest q with ``order_cash(q)`` <= available: that cash increases in q and the answer
    without impact bounds q from above, so bisect [0, that answer] down to adjacent floats (the
    lower end always fits)."""
    q = fee_affordable(cfg, available, px)
    if not kappa > 0 or not 0 < q < math.inf:
        return q
    lo, hi = 0.0, q
    for _ in range(2000):
        mid = 0.5 * (lo + hi)
        if not lo < mid < hi:
            break
        if order_cash(cfg, mid, px, kappa) <= available:
            lo = mid
        else:
            hi = mid
    return lo


def fee_affordable(cfg, available: float, px: float) -> float:
    """The most shares whose notional and fees fit in ``available`` (<= 0: none). With a minimum
    or a cap the commission is piecewise linear in the shares: walk its pieces from the smallest
    order up, between the shares where the per-share rate meets the minimum and where the cap
    meets it, and solve the piece the cash runs out in."""
    if flat(cfg):
        return (available - cfg.fixed_fees) / unit_cost(cfg, px)
    a = available - cfg.fixed_fees
    u = px * (1 + cfg.fees)
    r, m, k = cfg.commission_per_share, cfg.commission_min, cfg.commission_max * px
    bounds = sorted(b for b in {m / k if k > 0 else math.inf, m / r if r > 0 else math.inf} if 0 < b < math.inf)
    edges = [0.0, *bounds, math.inf]
    for lo, hi in zip(edges, edges[1:], strict=False):
        mid = (lo + hi) / 2 if hi < math.inf else lo + 1.0
        if k * mid <= max(r * mid, m):  # the cap holds on this piece
            alpha, beta = 0.0, k
        elif r * mid >= m:  # the per-share rate
            alpha, beta = 0.0, r
        else:  # the minimum
            alpha, beta = m, 0.0
        q = (a - alpha) / (u + beta)
        if lo * (1 - 1e-12) <= q <= hi * (1 + 1e-12) and q > 0:
            return q
    return min(a / (u + r), 0.0)


def requested(cfg, d: float, ref: float, px: float, equity: float, cash: float, free: float,
              kappa: float = 0.0) -> float:  # fmt: skip
    """Shares an entry in direction d asks for (README "Sizing"); inf = all available cash. A
    percent or value size is the cash committed, fees and market impact (``kappa``) included;
    shares and notional sizes ask for the same shares with or without impact."""
    if cfg.size_type == "shares":
        req = cfg.size
    elif cfg.size_type == "notional":  # size / the price before slippage
        req = cfg.size / ref
    elif cfg.size_type == "percent" and cfg.percent_of == "cash":
        if d > 0:  # size x cash, fees included
            req = affordable(cfg, cfg.size * cash, px, kappa)
        else:  # size x the largest short the free cash pays for
            req = cfg.size * affordable(cfg, free, px, kappa)
    else:
        target = cfg.size * equity if cfg.size_type == "percent" else cfg.size
        req = math.inf if math.isinf(target) else affordable(cfg, target, px, kappa)
    if not cfg.fractional and not math.isinf(req):
        req = whole(req)
    return max(req, 0.0)  # nothing to ask for (no equity, a size below the fixed fee): 0, not < 0


def equity_limit(cfg, req: float, px: float, equity: float, available: float, cap: float,
                 kappa: float = 0.0) -> tuple[str, float]:  # fmt: skip
    """The equity rule for an entry: notional + fees (+ market impact, ``kappa``) within the
    buying power, notional (at px, before impact) within the portfolio limits' cap."""
    qmax = affordable(cfg, available, px, kappa)
    qcap = cap / px
    if not cfg.fractional:
        qmax = whole(qmax)
        qcap = qcap if math.isinf(qcap) else whole(qcap)
    if qmax <= 0 or qmax * px <= DUST * abs(equity):  # dust is no buying power
        return "no_cash", 0.0
    if qcap <= 0 or qcap * px <= DUST * abs(equity):
        return "cap_none", 0.0
    if req <= 0:
        return "zero", 0.0
    if qcap < qmax and req > qcap:
        return ("capped" if req > qcap * (1 + 1e-9) else "ok"), qcap
    if req > qmax:
        return ("reduced" if not math.isinf(req) and req > qmax * (1 + 1e-9) else "ok"), qmax
    return "ok", req


def cash_buy(cfg, q: float, px: float, cash: float) -> tuple[str, float]:
    """The vectorbt rule for a buy of q shares: it must fit in cash, else it is cut to what the
    cash pays for."""
    if cash <= 0 or close_to(cash, 0.0):
        return "no_cash", 0.0
    if q <= 0 or below_min(q):
        return "zero", 0.0
    need = (
        q * px * (1 + cfg.fees) + times(q, cfg.commission_per_share) + cfg.fixed_fees
        if flat(cfg)
        else q * px + fee(cfg, q, px)
    )
    if need <= cash or close_to(need, cash):
        return "ok", q
    cut = affordable(cfg, cash, px)
    if not cfg.fractional:
        cut = whole(cut)
    if cut <= 0 or below_min(cut):
        return "no_cash", 0.0
    return "reduced", cut


def cash_sell(cfg, q: float, px: float) -> str:
    """The vectorbt rule for a sell: refused below the minimum size or when the proceeds do not
    pay the fees."""
    if q <= 0 or close_to(q, 0.0) or below_min(q):
        return "zero"
    proceeds = q * px
    if proceeds < fee(cfg, q, px) and not close_to(proceeds, fee(cfg, q, px)):
        return "no_cash"
    return "ok"


def order(cfg, pos: float, close_part: bool, d: float, ref: float, slippage: tuple, cash: float, free: float,
          equity: float, available: float, cap: float, kappa: float = 0.0, px=None) -> Order:  # fmt: skip
    """One order: close ``pos`` (close_part) and / or open direction d (+1, -1; 0 = none), at
    ``ref`` moved against the trader by ``slippage`` = (fraction, cash per share; the callers
    add the half spread, ``half_spread``, to the cash per share), then by the market impact of
    all its shares (``kappa``; ``Order.price``). ``px`` given: the executed price before impact
    (a resting entry clipped at its limit, ``resting.clip``). Market impact never meets the
    vectorbt cash rule or a one-order reversal (a ConfigError in ml4t_vec)."""
    vbt = cfg.cash_rule == "vectorbt"
    closing = abs(pos) if close_part else 0.0
    assert not kappa > 0 or not (vbt or (closing > 0 and d != 0)), "market impact: equity / ml4t rules, two orders"
    if closing > 0:
        side = -1 if pos > 0 else 1
    else:
        side = 1 if d > 0 else -1
    if px is None:
        px = ref * (1 + side * slippage[0]) + side * slippage[1]
    o = Order(side, px, qx=closing, st_x="ok" if closing > 0 else None)
    new, capped = 0.0, False
    if d != 0:
        # the new part is sized after the closing part, which pays its proportional fees (the
        # order's fixed fee is paid once, by the new part's sizing)
        fx = closing * px * cfg.fees + closing * cfg.commission_per_share
        if not flat(cfg) and closing > 0:  # a minimum or cap: the closing part's commission on its own
            fx = closing * px * cfg.fees + commission(cfg, closing, px)
        held = pos if close_part else 0.0
        cash_after = cash + held * px - fx
        free_after = free + held * px - fx if held > 0 else free
        available_after = available + closing * ref - closing * abs(px - ref) - fx
        o.req = requested(cfg, d, ref, px, equity, cash_after, free_after, kappa)
        if not vbt:
            o.st_n, new = equity_limit(cfg, o.req, px, equity, available_after, cap, kappa)
        else:
            qcap = cap / px
            if not cfg.fractional and not math.isinf(qcap):
                qcap = whole(qcap)
            if qcap <= 0 or qcap * px <= DUST * abs(equity):
                o.st_n = "cap_none"
            elif d < 0 and math.isinf(o.req):  # all that the free cash pays for
                if free_after <= 0 or close_to(free_after, 0.0):
                    o.st_n = "no_cash"
                else:  # below the fixed fee this is < 0: the order then sells less than the long
                    new = affordable(cfg, free_after, px)
                    if not cfg.fractional:
                        new = whole(new)
            elif o.req <= 0 or below_min(o.req):
                o.st_n = "zero"
            else:
                new = o.req
            if o.st_n is None and new > qcap:
                new, capped = qcap, qcap * (1 + 1e-9) < o.req
    if not vbt:
        o.qn = new if o.st_n not in REFUSED else 0.0
    else:
        q_req = closing + new
        if side > 0:
            st, q = cash_buy(cfg, q_req, px, cash)
        else:
            st, q = cash_sell(cfg, q_req, px), q_req
        if st in REFUSED:
            o.qx = 0.0
            if closing > 0:
                o.st_x = "no_cash"
            if o.st_n is None and d != 0:
                o.st_n = st
        elif q < closing or close_to(q, closing):  # closes (part of) the position only
            o.qx = closing if close_to(q, closing) else q
            if o.qx < closing:
                o.st_x = "reduced"
            if o.st_n is None and d != 0:
                o.st_n = "no_cash"
        else:
            o.qn = q - closing
            if o.st_n is None:
                if capped:
                    o.st_n = "capped"
                elif st == "reduced" and not math.isinf(o.req) and o.req > o.qn * (1 + 1e-9):
                    o.st_n = "reduced"
                else:
                    o.st_n = "ok"
    total = o.qx + o.qn
    if total > 0:  # one order, one fee; split between the parts by shares
        f = fee(cfg, total, px)
        o.fee_x = o.qx / total * f
        o.fee_n = f - o.fee_x
        o.imp = impact(cfg, kappa, total, px)
    return o
