"""Target-weight portfolios, spelled out: the reference the kernel's ``weights=`` mode is built to
match (issue 10 §2 and §4; /work/shared/research/portfolio_construction.md §6). Imports nothing
from ml4t_vec. One shared-cash account under the "equity" cash rule of ``orders.py``.

``run(panel, cfg, weights, rebalance)``: ``weights[asset][timestamp]`` is the signed target
fraction of equity (None, NaN or a missing key = null); ``rebalance`` lists the decision bars (a
timestamp not in the panel is an error). ``cfg`` is a ``WeightConfig``.

Bar cycle, per bar f (README "Fill rules"; no position rules here):
1. open phase: orders due at this open fill (``fill="next_open"``);
2. every held position of an asset with a row at f sees the bar's high and low (MFE / MAE);
3. close phase: orders due at this close fill (``"next_close"``);
4. decision, if f is a rebalance bar; then, with ``"same_close"``, a fill phase at this close;
5. valuation at the close (last close carried for an asset without a row).
An order of asset a is due on a's first row after its decision bar (``next_open``,
``next_close``), or on its first row at or after it (``same_close``: the decision bar itself when
a has a row there, which every non-close order has). It waits for that row; if the data ends
first it is recorded in ``rejected`` as ``no_next_bar`` (timestamp = decision bar, price None)
and the position is kept.

Decision at bar t (skipped entirely, pending orders kept, when E <= 0):
* E = cash + sum q_b * mark_b over held assets in asset order, mark = close at t if b has a row at
  t, else its last close.
* Per asset, in asset order: w = weights[a][t] if a has a row at t, else null. A null weight with
  ``missing="flat"`` is a *forced close* (w = 0); with ``missing="hold"`` a has no new order and
  an order of a still pending from an earlier decision stays. Any other decision on a cancels
  a's pending order (silently) and places at most one new order.
* ``size_at="decision"``: target holding q* = (w * E) / close_a(t), rounded (below); the order
  is skipped when (unless a forced close) |w - q * mark / E| < ``min_weight_change`` or
  |q* - q| * mark < ``min_trade_value``, and when q* == q. w == 0 gives q* = 0 exactly.
  A forced close is never held back by a threshold (ml4t-backtest closes an asset absent from
  its weights dict with ``close_position``, no threshold), an explicit weight of 0 is (ml4t's
  ``_process_asset`` tests it).
* ``size_at="fill"``: the order keeps w (no order when w == 0 and q == 0) and is sized in its
  fill phase: E_f = cash + sum q_b * ref_b (ref = this phase's price, open or close, before
  slippage for assets with a row on the fill bar, last close otherwise), computed once per phase
  before any fill; q* = (w * E_f) / ref_a; then rounding and thresholds as above with mark =
  ref_a and E = E_f. With E_f <= 0 the phase's orders sized at the fill are dropped silently.
``drift_band`` (None: off): a bar that is not in ``rebalance`` is a decision bar too when, at its
close, some held asset without an order waiting has drifted from the weight of its latest
decision w* != 0 by more than the band: |q * mark / E / w* - 1| > drift_band (E and marks as
above; nothing when E <= 0). The decision then reads every asset's weight at that bar.
Rounding (quantum Q = ``lot_size`` of the asset if set, else 1 share when not ``fractional``,
else none): ``rounding="floor"`` truncates the target holding toward zero to a multiple of Q
(``orders.whole``: 1e-9 tolerance); ``"nearest"`` rounds the delta q* - q to the nearest
multiple of Q, half away from zero (ml4t-backtest's NEAREST; its half-to-even lots are not
copied): n = floor(|d| / Q + 0.5), q* = q + copysign(n * Q, d).

Fill phase of bar f, its due orders (asset order) in two steps:
(a) reductions: an order with q != 0 and q* nearer zero (same sign) or of the other sign sells
    (buys, for a short) |q| - |q*| shares, or all |q| for a close or a flip, leaving exactly q*
    (0 for a flip). Fee ``orders.fee`` on the fill, the fixed fee included: a flip's order pays
    its fixed fee here, because its closing part always fills.
(b) increases (q == 0, |q*| > |q| with the same sign, and a flip's new side, from 0): dq
    shares in the direction of q*. Buying power: available = lev * equity - gross, marked at
    this phase's reference prices (last close for assets without a row) after step (a), lev =
    ``max_gross_leverage`` (None = 1). An increase costs dq * unit_cost(px) + fixed_fees (a
    flip's new side: no fixed fee, its order paid it in (a)). If the costs sum (asset order) to
    at most the available (or equal within 1e-9, ``orders.close_to``), all fill whole. Else
    ``shortfall``; buying power at or below 1e-9 of equity counts as none (``orders.DUST``):
    - "scale": s = (available - fixed_fees * number of increases that pay one) /
      sum dq * unit_cost(px), clipped to [0, 1]; each increase fills dq' = s * dq re-truncated
      toward zero to Q; dq' < dq gets a ``reduced_cash`` row, dq' == 0 an ``insufficient_cash``
      row. s is one number: the result does not depend on asset order.
    - "priority": increases in priority order (``priority`` dict, higher first; assets missing
      from it or None/NaN last; ties and ``priority=None`` in asset order); each fills whole if
      its cost fits in what is left, else (what is left - fixed) / unit_cost truncated to Q
      (``reduced_cash``), or nothing (``insufficient_cash``); later ones may still fit.
    - "reject": in priority order; one that does not fit whole is ``insufficient_cash``, the
      next one is tried.
    Rejected rows of increases: effect "entry" from flat (a flip's new side included), else
    "increase"; requested = dq, filled = dq', price = reference price.
Executed price px = ref * (1 + side * slippage) + side * (slippage_per_share + hs) (side +1 buy,
-1 sell), hs = half the spread per share at the fill bar (``orders.half_spread``): it enters every
sizing and cash check through px. A fee read per bar (``fees``, ``fixed_fees`` or
``commission_per_share`` given as an ``orders.PerBar``) is its fill bar's value, in the fill's
fee and in every cost above (``WeightReference.of``). Fills are listed in execution order: step
(a) in asset order, then step (b) in asset order ("scale") or priority order ("priority",
"reject"); position ids count entries in that order. A flip is one order: its two fills split
the order's fee fee(|q| + dq', px) by quantity (as both peers do); its closing part keeps
fee(|q|, px) when the new side gets nothing.

Other order models (``cash_rule``): "vectorbt" replaces steps (a) and (b) by ``vectorbt_orders``
(vectorbt's call order and cash rule); "ml4t" replaces them by ``ml4t_orders`` (ml4t-backtest
0.2.0's broker: exits, then sells, then buys, each against the cash) and the sizing above by
``ml4t_target`` (its ``TargetWeightExecutor``: weights clipped to +-1, thresholds on the
unrounded change, lots rounded half to even).

Records, average cost (ml4t-backtest ``fill_executor``, vectorbt exit trades):
* entry: a new position (``position_id``), entry time and bar count of this fill, average price
  px, entry fees, slippage and spread of this fill, price range [px, px] (a fill's
  ``spread_cost`` is its shares x hs, its ``slippage`` the rest of |px - ref| x shares);
* increase: no trade row; average price size-weighted, entry fees, slippage and spread add up,
  the range takes in px (so the average stays inside it: mfe >= 0 >= mae), entry time unchanged;
* reduce: a ``partial`` trade row for the shares sold, at the average price, with the entry fees,
  slippage and spread pro rata (the rest stay with the position), this fill's fee and slippage;
  its ``spread_cost`` is its entry spread and this fill's;
* exit (close, or a flip's closing part): a ``closed`` row for the rest;
* end of data: an ``open`` row per held position at its last close, its remaining entry fees,
  no exit fee (engine.py's rule), its remaining entry spread.
Trade rows follow engine.py (pnl = (exit - average) * signed quantity - fees, bars_held = the
asset's bars since the first entry, mfe / mae against the average price over the position's
range and the exit price) plus ``position_id``. Fills and trade rows carry reason "rebalance"
(``end_of_data`` for open rows). ``positions``: one row per flat-to-flat position
(position_id, symbol, direction, entry_time, exit_time or None, max_quantity = the signed
largest holding, realized_pnl = partial + closed rows, pnl = all its rows, fees = all its rows,
status closed | open). Equity rows as engine.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from reference import orders
from reference.engine import Config, Panel
from reference.rules import rule_exit


@dataclass
class WeightConfig(Config):
    missing: str = "flat"  # flat | hold
    size_at: str = "decision"  # decision | fill
    shortfall: str = "scale"  # scale | priority | reject
    priority: dict | None = None  # asset -> number, higher first; None = asset order
    min_weight_change: float = 0.0
    min_trade_value: float = 0.0
    lot_size: float | dict | None = None
    rounding: str = "floor"  # floor | nearest
    drift_band: float | None = None  # relative drift of a held weight that makes a bar a rebalance bar
    top_k: tuple | None = None  # (k, short_k, buffer): the weights are scores, chosen by ``hold_aware``


def book_sizes(n: int, k: int, short_k: int) -> tuple[int, int]:
    """Longs and shorts of ``top_k(k, short_k)`` among n valid scores: all k and short_k when
    there are enough; long-only min(n, k); else both sides shrink in proportion (round half up,
    each side >= 1), none below two names."""
    if short_k == 0:
        return min(n, k), 0
    if n >= k + short_k:
        return k, short_k
    if n < 2:
        return 0, 0
    n_long = min(max(math.floor(n * k / (k + short_k) + 0.5), 1), n - 1)
    return n_long, n - n_long


def hold_aware(scores: dict, held: dict, k: int, short_k: int, buffer: int) -> dict:
    """``top_k(score, k, short_k, buffer=buffer)`` at one bar: ``scores`` asset -> score (valid
    ones only), ``held`` asset -> signed quantity. Ranked highest first, ties to the asset name
    that sorts first. A held long ranked within n_long + buffer keeps its place (best first, at
    most n_long), a held short ranked within the bottom n_short + buffer too; the free long
    places go to the best-ranked names not kept, the free short places to the worst-ranked
    names left. Returns asset -> weight (+1/n_long long-only, else +0.5/n_long and -0.5/n_short;
    0.0 for the others)."""
    ranked = sorted(scores, key=lambda a: (-scores[a], a))
    n = len(ranked)
    n_long, n_short = book_sizes(n, k, short_k)
    w_long = (1.0 if short_k == 0 else 0.5) / n_long if n_long else 0.0
    w_short = -0.5 / n_short if n_short else 0.0
    longs = [a for p, a in enumerate(ranked) if p < n_long + buffer and held.get(a, 0.0) > 0][:n_long]
    shorts = [a for p, a in enumerate(ranked) if n - 1 - p < n_short + buffer and held.get(a, 0.0) < 0][::-1][:n_short]
    longs += [a for a in ranked if a not in longs and a not in shorts][: n_long - len(longs)]
    shorts += [a for a in reversed(ranked) if a not in longs and a not in shorts][: n_short - len(shorts)]
    return {a: w_long if a in longs else w_short if a in shorts else 0.0 for a in ranked}


@dataclass
class Holding:
    """A position at average cost."""

    pid: int
    qty: float
    avg: float
    entry_time: object
    entry_count: int
    entry_fees: float
    entry_slippage: float
    hi: float
    lo: float
    borrow: float = 0.0  # borrow fees accrued on the open quantity
    entry_spread: float = 0.0  # the spread its entries paid (like entry_slippage)
    # position rules: the trailing peak and the fractions of the entry's decision bar (inf: off)
    peak: float = 0.0
    sl: float = math.inf
    tp: float = math.inf
    tsl: float = math.inf
    slp = None  # no absolute levels with weights
    tpp = None

    @property
    def anchor(self) -> float:
        """Position rules are anchored at the average cost."""
        return self.avg


@dataclass
class Order:
    time: object  # decision bar
    w: float
    forced: bool  # a null weight's close: no threshold
    qty: float | None  # target holding (size_at="decision"); None: sized at the fill
    guess: float  # the decision's unrounded target, for a no_next_bar row of an unsized order
    reason: str = "rebalance"  # or "liquidation": the drawdown breaker's close (no decision replaces it)


def _check(panel: Panel, c: WeightConfig, rebalance) -> None:
    allowed = dict(
        missing=("flat", "hold"),
        size_at=("decision", "fill"),
        shortfall=("scale", "priority", "reject"),
        rounding=("floor", "nearest"),
        fill=("next_open", "next_close", "same_close"),
        cash_rule=("equity", "vectorbt", "ml4t"),
    )
    for name, values in allowed.items():
        if getattr(c, name) not in values:
            raise ValueError(f"{name}={getattr(c, name)!r}: one of {values}")
    if not c.cash_sharing or c.slippage_on != "all":
        raise ValueError("weights: one shared-cash account, slippage on all fills")
    missing = set(rebalance) - set(panel.timestamps)
    if missing:
        raise ValueError(f"rebalance timestamps not in the data: {sorted(missing)}")


class WeightReference:
    def __init__(self, panel: Panel, cfg: WeightConfig, weights: dict, rebalance: list):
        _check(panel, cfg, rebalance)
        self.p = panel
        self.c = cfg
        self.weights = weights
        self.rebalance = set(rebalance)
        self.cash = cfg.init_cash
        self.interest = 0.0  # net interest the cash paid (cash_rate less credit_rate)
        self.pos: dict = {}  # asset -> Holding
        self.pending: dict = {}  # asset -> Order
        self.last_close: dict = {}
        self.last_time: dict = {}
        self.count: dict = {}  # bars seen per asset
        self.next_pid = 0
        self.last_w: dict = {}  # asset -> the weight of its latest decision (drift_band)
        self.rule_exit_time: dict = {}  # asset -> the bar a position rule closed it on (no re-entry then)
        self.block = None  # None, "max_drawdown" or "daily_loss_limit": increases refused in this bar's fills
        self.trades: list[dict] = []
        self.fills: list[dict] = []
        self.rejected: list[dict] = []
        self.entries: dict = {}  # position_id -> (symbol, direction, entry_time, max_quantity)
        self.holdings: dict = {}  # (asset, t) -> quantity at the close of t
        self.now = None  # the bar being run
        self.mvol, self.mvol_month = 0.0, None  # shares traded in that month (commission tiers)

    # -- helpers -------------------------------------------------------------------------------
    def qty(self, a) -> float:
        return self.pos[a].qty if a in self.pos else 0.0

    def weight(self, a, t):
        w = self.weights.get(a, {}).get(t)
        return None if w is None or math.isnan(w) else float(w)

    def quantum(self, a) -> float | None:
        lot = self.c.lot_size
        if isinstance(lot, dict):
            lot = lot.get(a)
        if lot is not None:
            return float(lot)
        return None if self.c.fractional else 1.0

    def truncate(self, a, x: float) -> float:
        """|x| truncated toward zero to the asset's quantum, sign kept."""
        unit = self.quantum(a)
        if unit is None:
            return x
        return math.copysign(orders.whole(abs(x) / unit) * unit, x)

    def rounded(self, a, raw: float, q: float) -> float:
        """The target holding: raw rounded as ``rounding`` says."""
        unit = self.quantum(a)
        if unit is None:
            return raw
        if self.c.rounding == "floor":
            return self.truncate(a, raw)
        d = raw - q
        n = math.floor(abs(d) / unit + 0.5)
        return q + math.copysign(n * unit, d) if n > 0 else q

    def target(self, a, w: float, forced: bool, q: float, equity: float, price: float) -> float | None:
        """The target holding of an order, or None when it is skipped (thresholds, no change)."""
        c = self.c
        if c.cash_rule == "ml4t":
            return self.ml4t_target(a, w, forced, q, equity, price)
        qs = 0.0 if w == 0 else self.rounded(a, w * equity / price, q)
        if not forced:
            if abs(w - q * price / equity) < c.min_weight_change:
                return None
            if abs(qs - q) * price < c.min_trade_value:
                return None
        return None if abs(qs - q) <= 1e-12 * abs(q) else qs  # (within 1e-12 of the holding: no change)

    def ml4t_target(self, a, w: float, forced: bool, q: float, equity: float, price: float) -> float | None:
        """ml4t-backtest 0.2.0 ``TargetWeightExecutor._process_asset`` with its default config:
        w clipped to [-1, 1]; current weight cw = q * price / E; change dv = E * (w - cw);
        skipped (unless forced) when |w - cw| < min_weight_change or |dv| < min_trade_value;
        shares dv / price rounded as ``rounding`` says: "nearest" with a lot is Python's
        ``round(shares / lot) * lot`` (half to even), with whole shares half away from zero,
        fractional unrounded; "floor" truncates the target holding q + shares toward zero. The
        change is rounded even for w = 0 (a lot can leave a share or a few, the other way); only a
        forced close (``close_position``) and w = 0 with fractional shares are exactly flat."""
        c = self.c
        w = min(max(w, -1.0), 1.0)
        cw = q * price / equity
        dv = equity * (w - cw)
        if not forced and (abs(w - cw) < c.min_weight_change or abs(dv) < c.min_trade_value):
            return None
        unit = self.quantum(a)
        if forced or (w == 0 and unit is None):
            qs = 0.0
        else:
            d = dv / price
            if unit is not None and c.rounding == "nearest":
                lot = self.c.lot_size.get(a) if isinstance(self.c.lot_size, dict) else self.c.lot_size
                if lot is not None:
                    d = round(d / unit) * unit  # Python's round: half to even
                else:
                    d = math.copysign(math.floor(abs(d) / unit + 0.5) * unit, d)
                qs = q + d
            else:
                qs = self.truncate(a, q + d)
        return None if abs(qs - q) <= 1e-12 * abs(q) else qs

    def of(self, a):
        """The config with asset ``a``'s costs for a fill on the bar being run (a cost may be a
        dict by asset; a fee read per bar takes a's bar now, which every fill has) and the
        commission tier of the portfolio's shares this month before now."""
        volume = self.mvol if self.mvol_month == orders.month_of(self.p.day.get(self.now)) else 0.0
        return orders.for_asset(self.c, a, volume, self.p.bars[a].get(self.now))

    def add_fill(self, fill: dict) -> None:
        """Record a fill; its shares count toward the portfolio's month (commission tiers)."""
        self.fills.append(fill)
        month = orders.month_of(self.p.day.get(fill["timestamp"]))
        if self.mvol_month != month:
            self.mvol_month, self.mvol = month, 0.0
        self.mvol += fill["quantity"]

    def half_spread(self, a, ref: float) -> float:
        """Half the spread per share a fill of ``a`` on the bar being run at ``ref`` pays."""
        return orders.half_spread(self.of(a), a, self.p.bars[a].get(self.now), ref)

    def px(self, ref: float, side: float, a) -> float:
        c = self.of(a)
        return ref * (1 + side * c.slippage) + side * (c.slippage_per_share + self.half_spread(a, ref))

    def phase_price(self, bar, phase: str) -> float:
        """A fill phase's reference price: the custom price (``price=``) if set, else the open or
        the close."""
        if self.c.custom_price:
            return bar.price
        return bar.open if phase == "open" else bar.close

    def priority_order(self, assets: list) -> list:
        prio = self.c.priority
        if prio is None:
            return list(assets)

        def key(a):  # sorted() is stable: ties keep asset order
            v = prio.get(a)
            return (1, 0.0) if v is None or math.isnan(v) else (0, -v)

        return sorted(assets, key=key)

    # -- records -------------------------------------------------------------------------------
    def trade_row(self, a, h: Holding, signed: float, entry_fees: float, entry_slip: float, borrow: float, t,
                  exit_px: float, exit_fee: float, exit_slip: float, reason: str, status: str,
                  entry_spread: float = 0.0, exit_spread: float = 0.0) -> dict:  # fmt: skip
        hi, lo = max(h.hi, exit_px), min(h.lo, exit_px)
        if signed > 0:
            mfe, mae = hi / h.avg - 1, lo / h.avg - 1
        else:
            mfe, mae = 1 - lo / h.avg, 1 - hi / h.avg
        gross = (exit_px - h.avg) * signed
        fees = entry_fees + exit_fee
        row = dict(
            symbol=a,
            entry_time=h.entry_time,
            exit_time=t,
            entry_price=h.avg,
            exit_price=exit_px,
            quantity=signed,
            direction="long" if signed > 0 else "short",
            pnl=gross - fees - borrow,
            pnl_percent=(gross - fees - borrow) / (abs(signed) * h.avg),
            gross_pnl=gross,
            fees=fees,
            entry_slippage=entry_slip,
            exit_slippage=exit_slip,
            spread_cost=entry_spread + exit_spread,
            borrow_cost=borrow,
            bars_held=self.count[a] - h.entry_count,
            mfe=mfe,
            mae=mae,
            exit_reason=reason,
            status=status,
            position_id=h.pid,
        )
        self.trades.append(row)
        return row

    @staticmethod
    def set_exit_fee(trade: dict, fill: dict, fee: float) -> None:
        """A flip's closing part: its share of the order's fee, known once the new side filled."""
        trade["fees"] += fee - fill["fees"]
        trade["pnl"] = trade["gross_pnl"] - trade["fees"] - trade["borrow_cost"]
        trade["pnl_percent"] = trade["pnl"] / (abs(trade["quantity"]) * trade["entry_price"])
        fill["fees"] = fee

    def reduce(self, a, t, dq: float, new_q: float, ref: float, px: float, fee: float,
               reason: str = "rebalance") -> tuple[dict, dict]:  # fmt: skip
        """Sell (buy back) dq shares of the position in a, leaving exactly new_q (0: closed)."""
        h = self.pos[a]
        held = abs(h.qty)
        signed = dq if h.qty > 0 else -dq
        spread = dq * self.half_spread(a, ref)
        slip = dq * abs(px - ref) - spread
        if new_q == 0:
            ef, es, eb, esp = h.entry_fees, h.entry_slippage, h.borrow, h.entry_spread
        else:
            ef, es, eb = h.entry_fees * (dq / held), h.entry_slippage * (dq / held), h.borrow * (dq / held)
            esp = h.entry_spread * (dq / held)
        self.cash += signed * px - fee
        effect, status = ("exit", "closed") if new_q == 0 else ("reduce", "partial")
        fill = dict(timestamp=t, symbol=a, side="sell" if h.qty > 0 else "buy", effect=effect, quantity=dq,
                    price=px, fees=fee, slippage=slip, spread_cost=spread, reason=reason,
                    position_id=h.pid)  # fmt: skip
        self.add_fill(fill)
        trade = self.trade_row(a, h, signed, ef, es, eb, t, px, fee, slip, reason, status, esp, spread)
        if new_q == 0:
            del self.pos[a]
        else:
            h.qty = new_q
            h.entry_fees -= ef
            h.entry_slippage -= es
            h.entry_spread -= esp
            h.borrow -= eb
        return fill, trade

    def increase(self, a, t, d: float, dq: float, ref: float, px: float, fee: float, cash_fee: float) -> None:
        """Buy (sell short) dq more shares in direction d: an entry from flat, else an increase.
        ``cash_fee``: what this fill takes from the cash (a flip's order paid its fixed fee in
        step (a))."""
        spread = dq * self.half_spread(a, ref)
        slip = dq * abs(px - ref) - spread
        self.cash -= d * dq * px + cash_fee
        if a not in self.pos:
            pid = self.next_pid
            self.next_pid += 1
            h = Holding(pid, d * dq, px, t, self.count[a], fee, slip, px, px, entry_spread=spread)
            h.peak = px if self.c.trailing_start == "anchor" else -d * math.inf  # first_bar: none until a bar held
            h.sl, h.tp, h.tsl = (math.inf if v is None else v for v in (self.c.stop_loss, self.c.take_profit,
                                                                        self.c.trailing_stop))  # fmt: skip
            self.pos[a] = h
            self.entries[pid] = [a, "long" if d > 0 else "short", t, d * dq]
            effect = "entry"
        else:
            h = self.pos[a]
            held = abs(h.qty)
            h.avg = (h.avg * held + px * dq) / (held + dq)
            h.qty += d * dq
            h.entry_fees += fee
            h.entry_slippage += slip
            h.entry_spread += spread
            h.hi, h.lo = max(h.hi, px), min(h.lo, px)
            if abs(h.qty) > abs(self.entries[h.pid][3]):
                self.entries[h.pid][3] = h.qty
            effect = "increase"
        self.add_fill(dict(timestamp=t, symbol=a, side="buy" if d > 0 else "sell", effect=effect, quantity=dq,
                               price=px, fees=fee, slippage=slip, spread_cost=spread, reason="rebalance",
                               position_id=self.pos[a].pid))  # fmt: skip

    def reject(self, t, a, d: float, effect: str, reason: str, req, filled: float, price) -> None:
        self.rejected.append(dict(timestamp=t, symbol=a, side="buy" if d > 0 else "sell", effect=effect,
                                  reason=reason, requested_quantity=req, filled_quantity=filled,
                                  price=price))  # fmt: skip

    # -- decision and fills --------------------------------------------------------------------
    def decide(self, t) -> None:
        c = self.c
        bars = self.p.bars
        equity = self.cash
        for a in self.p.assets:
            if a in self.pos:
                equity += self.pos[a].qty * (bars[a][t].close if t in bars[a] else self.last_close[a])
        if equity <= 0:
            return
        chosen = None
        if c.top_k is not None:  # the weights are scores: the names are chosen knowing what is held
            scores = {a: self.weight(a, t) for a in self.p.assets if t in bars[a]}
            chosen = hold_aware({a: v for a, v in scores.items() if v is not None},
                                {a: h.qty for a, h in self.pos.items()}, *c.top_k)  # fmt: skip
        for a in self.p.assets:
            if self.rule_exit_time.get(a) == t:  # a position rule closed it on this bar: flat until the next decision
                continue
            if a in self.pending and self.pending[a].reason == "liquidation":  # the breaker's close stays
                continue
            has_row = t in bars[a]
            if chosen is not None:
                w = chosen.get(a)
            else:
                w = self.weight(a, t) if has_row else None
            forced = w is None
            if forced:
                if c.missing == "hold":
                    continue
                w = 0.0
            if c.max_position_weight is not None:  # each target weight within +-the cap (nothing redistributed)
                w = min(max(w, -c.max_position_weight), c.max_position_weight)
            self.pending.pop(a, None)  # a new decision replaces an order still waiting
            self.last_w[a] = w
            q = self.qty(a)
            if w == 0 and q == 0:
                continue
            mark = bars[a][t].close if has_row else self.last_close[a]
            if c.size_at == "fill":
                self.pending[a] = Order(t, w, forced, None, w * equity / mark)
                continue
            qs = self.target(a, w, forced, q, equity, mark)
            if qs is not None:
                self.pending[a] = Order(t, w, forced, qs, qs)

    def drifted(self, t) -> bool:
        """``drift_band``: at the close of bar t, has some held asset without an order waiting
        drifted from its latest target weight w* by more than the band, |w / w* - 1| > band
        (w = q * mark / E, marks and E as in ``decide``)?"""
        bars = self.p.bars
        marks = {a: bars[a][t].close if t in bars[a] else self.last_close[a] for a in self.pos}
        equity = self.cash + sum(self.pos[a].qty * marks[a] for a in self.p.assets if a in self.pos)
        if equity <= 0:
            return False
        for a in self.p.assets:
            target = self.last_w.get(a)
            if a not in self.pos or a in self.pending or not target:
                continue
            if abs(self.pos[a].qty * marks[a] / equity / target - 1) > self.c.drift_band:
                return True
        return False

    def fill_phase(self, t, phase: str) -> None:
        c = self.c
        bars = self.p.bars
        due = [a for a in self.p.assets if a in self.pending and t in bars[a]]
        if not due:
            return

        def mark(b):
            return self.phase_price(bars[b][t], phase) if t in bars[b] else self.last_close[b]

        equity = self.cash
        if c.size_at == "fill":
            for b in self.p.assets:
                if b in self.pos:
                    equity += self.pos[b].qty * mark(b)
        work = []  # (asset, position before, target, reference price)
        why = {}  # asset -> its order's reason
        for a in due:
            o = self.pending.pop(a)
            why[a] = o.reason
            ref = mark(a)
            q = self.qty(a)
            if o.qty is None:
                if equity <= 0:
                    continue
                qs = self.target(a, o.w, o.forced, q, equity, ref)
                if qs is None:
                    continue
            else:
                qs = o.qty
            if qs != q:
                work.append((a, q, qs, ref))
        if c.cash_rule == "vectorbt":
            self.vectorbt_orders(t, work)
            return
        if c.cash_rule == "ml4t":
            self.ml4t_orders(t, work)
            return
        # (a) reductions, closes and the closing part of flips
        flips = {}
        for a, q, qs, ref in work:
            if q == 0 or (qs * q > 0 and abs(qs) > abs(q)):
                continue
            side = -1.0 if q > 0 else 1.0
            flip = qs * q < 0
            new_q = 0.0 if flip else qs
            dq = abs(q) - abs(new_q)
            px = self.px(ref, side, a)
            fee = orders.fee(self.of(a), dq, px)
            fill, trade = self.reduce(a, t, dq, new_q, ref, px, fee, why[a])
            if flip:
                flips[a] = (fill, trade, dq, fee)
        # (b) increases: the buying power after the reductions
        equity, gross = self.cash, 0.0
        for b in self.p.assets:
            if b in self.pos:
                m = mark(b)
                equity += self.pos[b].qty * m
                gross += abs(self.pos[b].qty) * m
        lev = 1.0 if c.max_gross_leverage is None else c.max_gross_leverage
        available = lev * equity - gross
        incs = []  # (asset, direction, shares, ref, px, unit cost, fixed fee, effect)
        for a, _, qs, ref in work:
            q_now = self.qty(a)
            if abs(qs) <= abs(q_now):
                continue
            d = 1.0 if qs > 0 else -1.0
            px = self.px(ref, d, a)
            fixed = 0.0 if a in flips else self.of(a).fixed_fees
            effect = "entry" if q_now == 0 else "increase"
            incs.append((a, d, abs(qs) - abs(q_now), ref, px, orders.unit_cost(self.of(a), px), fixed, effect))
        if not incs:
            return
        if self.block is not None:  # the drawdown breaker or the day's loss limit: no increase fills
            for a, d, dq, ref, *_, effect in incs:
                self.reject(t, a, d, effect, self.block, dq, 0.0, ref)
            return
        if c.max_positions is not None:  # new positions (from flat) in priority order while there is room
            held = len(self.pos)
            refused = set()
            by_asset = {inc[0]: inc for inc in incs}
            for a in self.priority_order([inc[0] for inc in incs]):
                if self.qty(a) != 0:
                    continue
                if held < c.max_positions:
                    held += 1
                else:
                    _, d, dq, ref, *_, effect = by_asset[a]
                    self.reject(t, a, d, effect, "max_positions", dq, 0.0, ref)
                    refused.add(a)
            incs = [inc for inc in incs if inc[0] not in refused]
            if not incs:
                return

        def cost_of(a, g, px, unit, fixed):
            """Cash an increase of g shares takes: notional and fees (a flip's: its order's fee less
            what the closing part paid in (a))."""
            ca = self.of(a)
            if orders.flat(ca):
                return g * unit + fixed
            if g <= 0:
                return 0.0
            if a in flips:
                return g * px + orders.fee(ca, flips[a][2] + g, px) - flips[a][3]
            return g * px + orders.fee(ca, g, px)

        flat = all(orders.flat(self.of(inc[0])) for inc in incs)
        need = 0.0
        for inc in incs:
            need += cost_of(inc[0], inc[2], inc[4], inc[5], inc[6])
        no_power = available <= orders.DUST * abs(equity)
        filled = {}  # asset -> shares
        if need <= available or orders.close_to(need, available):
            filled = {inc[0]: inc[2] for inc in incs}
        elif c.shortfall == "scale" and flat:
            fixed_total, variable = 0.0, 0.0
            for inc in incs:
                fixed_total += inc[6]
                variable += inc[2] * inc[5]
            s = 0.0 if no_power else min(1.0, max(0.0, (available - fixed_total) / variable))
            filled = {inc[0]: max(self.truncate(inc[0], s * inc[2]), 0.0) for inc in incs}
        elif c.shortfall == "scale":  # a commission minimum or cap: the largest s that fits, by bisection
            lo, hi = 0.0, 1.0
            for _ in range(0 if no_power else 64):
                mid = 0.5 * (lo + hi)
                if sum(cost_of(inc[0], mid * inc[2], inc[4], inc[5], inc[6]) for inc in incs) <= available:
                    lo = mid
                else:
                    hi = mid
            s = lo
            filled = {inc[0]: max(self.truncate(inc[0], s * inc[2]), 0.0) for inc in incs}
        else:
            room = 0.0 if no_power else available
            by_asset = {inc[0]: inc for inc in incs}
            for a in self.priority_order([inc[0] for inc in incs]):
                _, d, dq, ref, px, unit, fixed, _ = by_asset[a]
                cost = cost_of(a, dq, px, unit, fixed)
                if cost <= room or orders.close_to(cost, room):
                    filled[a] = dq
                    room -= cost
                elif c.shortfall == "priority" and room > fixed:
                    ca = self.of(a)
                    if orders.flat(ca):
                        fit = (room - fixed) / unit
                    elif a in flips:  # the order's shares that fit, less its closing part's
                        qx, fee_x = flips[a][2], flips[a][3]
                        fit = orders.affordable(ca, room + fee_x + qx * px, px) - qx
                    else:
                        fit = orders.affordable(ca, room, px)
                    filled[a] = max(self.truncate(a, fit), 0.0)
                    if filled[a] > 0:
                        room -= cost_of(a, filled[a], px, unit, fixed)
                else:
                    filled[a] = 0.0
        order = [inc[0] for inc in incs] if c.shortfall == "scale" else self.priority_order([i[0] for i in incs])
        by_asset = {inc[0]: inc for inc in incs}
        for a in order:
            _, d, dq, ref, px, unit, fixed, effect = by_asset[a]
            got = filled[a]
            if got < dq:
                reason = "reduced_cash" if got > 0 else "insufficient_cash"
                self.reject(t, a, d, effect, reason, dq, got, ref)
            if got <= 0:
                continue
            if a in flips:
                fill_x, trade_x, qx, fee_x = flips[a]
                total = orders.fee(self.of(a), qx + got, px)
                share_x = qx / (qx + got) * total
                self.set_exit_fee(trade_x, fill_x, share_x)
                self.increase(a, t, d, got, ref, px, total - share_x, total - fee_x)
            else:
                fee = orders.fee(self.of(a), got, px)
                self.increase(a, t, d, got, ref, px, fee, fee)

    def vectorbt_orders(self, t, work: list) -> None:
        """vectorbt 1.2's ``from_orders(size_type="targetpercent", call_seq="auto")``: one order
        per asset, the phase's orders sorted by their value (q* - q) * ref ascending (sells
        first, biggest first; then buys, smallest first; ties in asset order); each order is
        one fill at one price, a reversal two fills of it with its fee split by shares. A buy
        (a cover included) is limited by the cash (short proceeds included): cut to what the
        cash pays for, fees included (``reduced_cash``), or refused (``insufficient_cash``), by
        ``orders.cash_buy``; a sell whose proceeds do not pay its fees is refused
        (``orders.cash_sell``); an order below vectorbt's minimum size is ``zero_quantity``."""
        c = self.c
        for a, q, qs, ref in sorted(work, key=lambda w: (w[2] - w[1]) * w[3]):  # stable: ties keep asset order
            dq = qs - q
            d = 1.0 if dq > 0 else -1.0
            px = self.px(ref, d, a)
            want = abs(dq)
            if d > 0:
                status, got = orders.cash_buy(self.of(a), want, px, self.cash)
            else:
                status, got = orders.cash_sell(self.of(a), want, px), want
            if status in ("no_cash", "zero") or got <= 0:
                got = 0.0
            if not c.fractional and got < want:
                got = orders.whole(got)
            closing = min(abs(q), got) if q * d < 0 else 0.0  # the part that takes the position off
            if got < want:
                opening = q == 0 or q * d > 0 or (q * d < 0 and got > abs(q))
                effect = ("entry" if q == 0 or q * d < 0 else "increase") if opening else (
                    "exit" if qs * q <= 0 else "reduce")  # fmt: skip
                why = "reduced_cash" if got > 0 else ("zero_quantity" if status == "zero" else "insufficient_cash")
                self.reject(t, a, d, effect, why, want, got, ref)
            if got <= 0:
                continue
            fee = orders.fee(self.of(a), got, px)
            if closing > 0:
                fee_x = closing / got * fee
                new_q = 0.0 if closing == abs(q) else q + d * closing
                self.reduce(a, t, closing, new_q, ref, px, fee_x)
                if got > closing:
                    self.increase(a, t, d, got - closing, ref, px, fee - fee_x, fee - fee_x)
            else:
                self.increase(a, t, d, got, ref, px, fee, fee)

    def ml4t_fits(self, a, m: float, d: float, price: float, q: float) -> bool:
        """ml4t-backtest 0.2.0's gatekeeper (an account that may short, no leverage, short
        proceeds credited to the cash): an order of m shares in direction d while holding q,
        valued at ``price``. Taking off at most the position always fits. Otherwise, with the
        order's fee f = fee(m, price): a reversal needs (m - |q|) * price <= cash + |q| * price
        (selling a long; - |q| * price covering a short) - f + 0.01; any other order
        m * price <= cash - f + 0.01 (a short needs its notional in cash too)."""
        if q * d < 0 and m <= abs(q):
            return True
        f = orders.fee(self.of(a), m, price)
        if q * d < 0:
            after = (self.cash + abs(q) * price if q > 0 else self.cash - abs(q) * price) - f
            return (m - abs(q)) * price <= after + 0.01
        return m * price <= self.cash - f + 0.01

    def ml4t_orders(self, t, work: list) -> None:
        """ml4t-backtest 0.2.0's broker on ``TargetWeightExecutor``'s orders (EXIT_FIRST,
        SUBMISSION order): (1) every order that takes off at most the position, asset order;
        (2) the others (entries, increases, reversals) in submission order: every sell, then
        every buy, each in asset order, one at a time against the cash as it stands. An order
        fills whole if it fits at the reference price; else with ``shortfall="priority"`` the
        largest whole number of shares that fits there (at least |q| for a reversal: its close
        always fits), with "reject" nothing; what passed must fit again at the executed price
        (the fill-time re-check) or is rejected whole. Rows: ``reduced_cash`` / ``insufficient_cash``
        (requested = the order, effect "entry" for a new position or a reversal cut past its
        close, "increase", or "exit" for a reversal refused or cut to its close). A reversal is
        two fills of one order, its fee split by shares."""
        c = self.c
        rest = []
        for a, q, qs, ref in work:
            dq = qs - q
            if q != 0 and q * dq < 0 and abs(dq) <= abs(q):
                d = 1.0 if dq > 0 else -1.0
                px = self.px(ref, d, a)
                self.reduce(a, t, abs(dq), qs, ref, px, orders.fee(self.of(a), abs(dq), px))
            else:
                rest.append((a, q, qs, ref))
        for side in (-1.0, 1.0):
            for a, q, qs, ref in rest:
                dq = qs - q
                if (dq > 0) != (side > 0):
                    continue
                px = self.px(ref, side, a)
                want = abs(dq)
                got = want
                if not self.ml4t_fits(a, want, side, ref, q):
                    got = 0.0
                    if c.shortfall == "priority":  # bisection (ml4t's own search): fits is monotone in m
                        lo, hi = 0, int(math.floor(want + 1e-9))
                        while lo < hi:
                            mid = (lo + hi + 1) // 2
                            lo, hi = (mid, hi) if self.ml4t_fits(a, float(mid), side, ref, q) else (lo, mid - 1)
                        got = float(lo)
                if got > 0 and px != ref and not self.ml4t_fits(a, got, side, px, q):
                    got = 0.0
                if got < want:
                    opening = q == 0 or (q * side < 0 and got > abs(q))
                    effect = "entry" if opening else ("increase" if q * side > 0 else "exit")
                    self.reject(t, a, side, effect, "reduced_cash" if got > 0 else "insufficient_cash", want, got, ref)
                if got <= 0:
                    continue
                fee = orders.fee(self.of(a), got, px)
                closing = min(abs(q), got) if q * side < 0 else 0.0
                if closing > 0:
                    fee_x = closing / got * fee
                    self.reduce(a, t, closing, 0.0 if closing == abs(q) else q + side * closing, ref, px, fee_x)
                    if got > closing:
                        self.increase(a, t, side, got - closing, ref, px, fee - fee_x, fee - fee_x)
                else:
                    self.increase(a, t, side, got, ref, px, fee, fee)

    # -- the bar loop --------------------------------------------------------------------------
    def run(self) -> dict:
        c = self.c
        bars = self.p.bars
        equity_rows = []
        peak = prev = c.init_cash
        # drawdown breaker and daily loss limit (README "Portfolio limits"), checked at each close
        hwm, tripped, trip_i, day_now, day_start, blocked_day = c.init_cash, False, 0, None, c.init_cash, None
        for i, t in enumerate(self.p.timestamps):
            self.now = t
            day = self.p.day.get(t, 0)
            self.block = "max_drawdown" if tripped else ("daily_loss_limit" if blocked_day == day else None)
            # the calendar days since the previous bar, before the bar starts: interest on the cash,
            # then the shorts' borrow fees
            if i > 0 and (c.borrow_rate is not None or c.cash_rate or c.credit_rate):
                nights = (day - self.p.day[self.p.timestamps[i - 1]]).days
                paid = orders.interest(c, self.cash, nights)
                self.cash += paid
                self.interest -= paid
                for a, h in self.pos.items():
                    fee = orders.borrow_fee(c, a, h.qty, self.last_close[a], bars[a][self.last_time[a]], nights)
                    self.cash -= fee
                    h.borrow += fee
            live = [a for a in self.p.assets if t in bars[a]]
            for a in live:
                self.count[a] = self.count.get(a, 0) + 1
                self.last_time[a] = t
            if c.fill == "next_open":
                self.fill_phase(t, "open")
            for a in live:  # position rules, then the bar's range and the trailing peak
                if a in self.pos:
                    h, b = self.pos[a], bars[a][t]
                    hit = rule_exit(c, h, b, self.count[a] - h.entry_count, h.entry_time == t)
                    if hit is not None:
                        reason, ref = hit
                        side = -1.0 if h.qty > 0 else 1.0
                        ca = self.of(a)  # this asset's costs
                        slip = ca.slippage if reason == "time_stop" or c.stop_slippage is None else c.stop_slippage
                        px = ref * (1 + side * slip) + side * (ca.slippage_per_share + self.half_spread(a, ref))
                        self.reduce(a, t, abs(h.qty), 0.0, ref, px, orders.fee(ca, abs(h.qty), px), reason)
                        self.pending.pop(a, None)  # the stop cancels an order still waiting
                        if not c.reenter_on_stop_bar:
                            self.rule_exit_time[a] = t
                        continue
                    h.hi, h.lo = max(h.hi, b.high), min(h.lo, b.low)
                    extreme = b.high if h.qty > 0 else b.low
                    x = b.close if c.trailing_source == "close" else extreme
                    h.peak = max(h.peak, x) if h.qty > 0 else min(h.peak, x)
            if c.fill == "next_close":
                self.fill_phase(t, "close")
            if t in self.rebalance or (c.drift_band is not None and self.drifted(t)):
                self.decide(t)
            if c.fill == "same_close":
                self.fill_phase(t, "close")
            for a in live:
                self.last_close[a] = bars[a][t].close
            values = []
            for a in self.p.assets:
                q = self.qty(a)
                self.holdings[(a, t)] = q
                values.append(q * self.last_close.get(a, 0.0))
            eq = self.cash + sum(values)
            if c.max_drawdown is not None or c.daily_loss_limit is not None:
                if day != day_now:  # a day starts with the equity of the previous close
                    day_now, day_start = day, prev
                if c.daily_loss_limit is not None and eq <= day_start * (1 - c.daily_loss_limit):
                    blocked_day = day
                if tripped and c.drawdown_cooldown is not None and i - trip_i >= c.drawdown_cooldown:
                    tripped, hwm = False, eq  # reset: the high-water mark restarts here
                hwm = max(hwm, eq)
                if not tripped and c.max_drawdown is not None and eq <= hwm * (1 - c.max_drawdown):
                    tripped, trip_i = True, i
                    if c.drawdown_action == "liquidate":
                        for a in self.p.assets:
                            if a in self.pos:
                                qty = 0.0 if c.size_at == "decision" else None
                                self.pending[a] = Order(t, 0.0, True, qty, 0.0, "liquidation")
            peak = max(peak, eq)
            equity_rows.append(
                dict(
                    timestamp=t,
                    equity=eq,
                    cash=self.cash,
                    gross_exposure=sum(abs(v) for v in values),
                    net_exposure=sum(values),
                    ret=eq / prev - 1,
                    drawdown=eq / peak - 1,
                )
            )
            prev = eq
        for a in self.p.assets:  # end of data
            if a in self.pending:
                self.no_next_bar(a, self.pending.pop(a))
            if a in self.pos:
                h = self.pos[a]
                self.trade_row(a, h, h.qty, h.entry_fees, h.entry_slippage, h.borrow, self.last_time[a],
                               self.last_close[a], 0.0, 0.0, "end_of_data", "open", h.entry_spread)  # fmt: skip
        return dict(trades=self.trades, fills=self.fills, rejected=self.rejected, equity=equity_rows,
                    positions=self.position_rows(), interest=self.interest)  # fmt: skip

    def no_next_bar(self, a, o: Order) -> None:
        """An order the data ended before: one row per part it would have filled (a flip: two)."""
        q = self.qty(a)
        qs = o.guess
        sized = o.qty is not None
        if q != 0 and (qs * q <= 0 or abs(qs) < abs(q)):
            new_q = 0.0 if qs * q <= 0 else qs
            req = abs(q) - abs(new_q) if sized else None
            effect = "exit" if new_q == 0 else "reduce"
            self.reject(o.time, a, -q, effect, "no_next_bar", req, 0.0, None)
        if qs != 0 and (q == 0 or qs * q < 0 or abs(qs) > abs(q)):
            base = 0.0 if qs * q <= 0 else abs(q)
            req = abs(qs) - base if sized else None
            effect = "entry" if base == 0 else "increase"
            self.reject(o.time, a, qs, effect, "no_next_bar", req, 0.0, None)

    def position_rows(self) -> list[dict]:
        rows = []
        for pid, (a, direction, entry_time, max_q) in self.entries.items():
            legs = [r for r in self.trades if r["position_id"] == pid]
            closed = [r for r in legs if r["status"] == "closed"]
            rows.append(
                dict(
                    position_id=pid,
                    symbol=a,
                    direction=direction,
                    entry_time=entry_time,
                    exit_time=closed[0]["exit_time"] if closed else None,
                    max_quantity=max_q,
                    realized_pnl=sum(r["pnl"] for r in legs if r["status"] != "open"),
                    pnl=sum(r["pnl"] for r in legs),
                    fees=sum(r["fees"] for r in legs),
                    status="closed" if closed else "open",
                )
            )
        return rows


def run(panel: Panel, cfg: WeightConfig, weights: dict, rebalance: list) -> dict:
    return WeightReference(panel, cfg, weights, rebalance).run()
