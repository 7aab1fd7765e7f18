"""A slow, obvious, per-bar reference engine. Imports nothing from ml4t_vec.

It implements the fill rules written in README "Fill rules" directly, with dicts and floats, so
that the numba kernels can be checked against it on random panels (tests/property).

Input: ``Panel`` — sorted timestamps (any sortable values), sorted asset names, and for each
asset a dict ``timestamp -> Bar``. A timestamp missing from an asset's dict is a bar the asset
does not trade. Output: plain lists of dicts (trades, fills, rejected) and an equity list.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


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


@dataclass
class Panel:
    timestamps: list
    assets: list
    bars: dict  # asset -> {timestamp: Bar}


@dataclass
class Config:
    size: float = 1.0
    size_type: str = "percent"  # shares | value | percent
    fractional: bool = True
    fees: float = 0.0
    fixed_fees: float = 0.0
    slippage: float = 0.0
    init_cash: float = 100_000.0
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


def decide(bar: Bar, qty: float) -> str | None:
    """The documented signal rules, spelled out."""
    long_entry = bar.entry and not bar.exit
    long_exit = bar.exit and not bar.entry
    short_entry = bar.short_entry and not bar.short_exit
    short_exit = bar.short_exit and not bar.short_entry
    if long_entry and short_entry:  # opposite entries on one bar cancel
        long_entry = short_entry = False
    if qty == 0:
        if long_entry:
            return "open_long"
        if short_entry:
            return "open_short"
        return None
    if qty > 0:
        if short_entry:
            return "reverse_to_short"
        if long_exit:
            return "close"
        return None
    if long_entry:
        return "reverse_to_long"
    if short_exit:
        return "close"
    return None


class Reference:
    def __init__(self, panel: Panel, cfg: Config):
        self.p = panel
        self.cfg = cfg
        self.trades: list[dict] = []
        self.fills: list[dict] = []
        self.rejected: list[dict] = []
        self.asset_values: dict = {}  # (asset, t) -> position value at the close
        self.account_cash: dict = {}  # (account index, t) -> cash

    def fill_price(self, bar: Bar) -> float:
        if self.cfg.custom_price:
            return bar.price
        return bar.open if self.cfg.fill == "next_open" else bar.close

    # -- one fill ------------------------------------------------------------------------------
    def close_position(self, acc: Account, a, t, ref: float, reason: str = "signal", slippage=None) -> None:
        c = self.cfg
        slippage = c.slippage if slippage is None else slippage
        p = acc.pos.pop(a)
        selling = p.qty > 0
        px = ref * (1 - slippage) if selling else ref * (1 + slippage)
        fee = abs(p.qty) * px * c.fees + c.fixed_fees
        slip = abs(p.qty) * abs(px - ref)
        acc.cash += p.qty * px - fee
        side = "sell" if selling else "buy"
        self.fills.append(dict(timestamp=t, symbol=a, side=side, effect="exit", quantity=abs(p.qty), price=px,
                               fees=fee, slippage=slip, reason=reason))  # fmt: skip
        self.add_trade(a, p, t, px, fee, slip, acc.count[a] - p.entry_count, reason, "closed")

    # -- position rules ------------------------------------------------------------------------
    @staticmethod
    def fraction(setting, signal_bar: Bar) -> float:
        """A rule's fraction for a position opened by a signal on ``signal_bar`` (inf = off)."""
        if setting is None:
            return math.inf
        if setting == "rulev":
            return math.inf if signal_bar.rulev is None else signal_bar.rulev
        return setting

    def rule_exit(self, p: Position, b: Bar, held: int, entered_now: bool):
        """(reason, reference exit price) if a position rule closes ``p`` on bar ``b``, else None."""
        c = self.cfg
        if c.max_bars is not None and held >= c.max_bars:
            return "time_stop", b.open
        if entered_now and not c.stop_on_entry_bar:
            return None
        sl, tp, tsl = p.sl, p.tp, p.tsl
        a = p.anchor
        if p.qty > 0:
            stop, stop_reason = a * (1 - sl), "stop_loss"
            if p.peak >= a * (1 + c.trailing_activation) and p.peak * (1 - tsl) > stop:
                stop, stop_reason = p.peak * (1 - tsl), "trailing_stop"
            target = a * (1 + tp)
            gap_stop, gap_target = b.open <= stop, b.open >= target
            hit_stop, hit_target = b.low <= stop, b.high >= target
            stop_side_first = (b.open - b.low) <= (b.high - b.open)
        else:
            stop, stop_reason = a * (1 + sl), "stop_loss"
            if p.peak <= a * (1 - c.trailing_activation) and p.peak * (1 + tsl) < stop:
                stop, stop_reason = p.peak * (1 + tsl), "trailing_stop"
            target = a * (1 - tp)
            gap_stop, gap_target = b.open >= stop, b.open <= target
            hit_stop, hit_target = b.high >= stop, b.low <= target
            stop_side_first = (b.high - b.open) <= (b.open - b.low)
        if gap_stop:  # the bar opens beyond a level (also at an entry filled at this open)
            return stop_reason, b.open
        if gap_target:
            return "take_profit", b.open
        if hit_stop and hit_target:
            target_first = c.intrabar == "optimistic" or (c.intrabar == "ohlc_path" and not stop_side_first)
            return ("take_profit", target) if target_first else (stop_reason, stop)
        if hit_stop:
            return stop_reason, stop
        if hit_target:
            return "take_profit", target
        return None

    def add_trade(self, a, p: Position, t, exit_px, exit_fee, exit_slip, bars_held, reason, status):
        hi = max(p.hi, exit_px)
        lo = min(p.lo, exit_px)
        if p.qty > 0:
            mfe, mae = hi / p.entry_price - 1, lo / p.entry_price - 1
        else:
            mfe, mae = 1 - lo / p.entry_price, 1 - hi / p.entry_price
        gross = (exit_px - p.entry_price) * p.qty
        fees = p.entry_fees + exit_fee
        self.trades.append(
            dict(
                symbol=a,
                entry_time=p.entry_time,
                exit_time=t,
                entry_price=p.entry_price,
                exit_price=exit_px,
                quantity=p.qty,
                direction="long" if p.qty > 0 else "short",
                pnl=gross - fees,
                pnl_percent=(gross - fees) / (abs(p.qty) * p.entry_price),
                gross_pnl=gross,
                fees=fees,
                entry_slippage=p.entry_slippage,
                exit_slippage=exit_slip,
                bars_held=bars_held,
                mfe=mfe,
                mae=mae,
                exit_reason=reason,
                status=status,
            )
        )

    def execute(self, acc: Account, t) -> None:
        """Fill the account's pending orders on bar t: all exits first, then entries in asset order."""
        c = self.cfg
        ready = [a for a in acc.assets if a in acc.pending and t in self.p.bars[a]]
        if not ready:
            return
        for a in ready:
            action, _ = acc.pending[a]
            if action in ("close", "reverse_to_long", "reverse_to_short"):
                if a in acc.pos:
                    self.close_position(acc, a, t, self.fill_price(self.p.bars[a][t]))
                if action == "close":
                    del acc.pending[a]
        entries = [a for a in ready if a in acc.pending]
        if not entries:
            return
        # equity and gross exposure marked at this phase's prices (last close if no bar now)
        equity, gross = acc.cash, 0.0
        for a in acc.assets:  # asset order, like the kernel (same rounding)
            if a not in acc.pos:
                continue
            p = acc.pos[a]
            mark = self.fill_price(self.p.bars[a][t]) if t in self.p.bars[a] else acc.last_close[a]
            equity += p.qty * mark
            gross += abs(p.qty) * mark
        available = equity - gross
        for a in entries:
            action, signal_time = acc.pending.pop(a)
            d = 1.0 if action in ("open_long", "reverse_to_long") else -1.0
            ref = self.fill_price(self.p.bars[a][t])
            px = ref * (1 + d * c.slippage)
            side = "buy" if d > 0 else "sell"
            if c.size_type == "shares":
                req = c.size
            else:
                target = c.size * equity if c.size_type == "percent" else c.size
                req = math.inf if math.isinf(target) else (target - c.fixed_fees) / (px * (1 + c.fees))
            qmax = (available - c.fixed_fees) / (px * (1 + c.fees))
            if not c.fractional:
                qmax = math.floor(qmax + 1e-9)
                if not math.isinf(req):
                    req = math.floor(req + 1e-9)
            base = dict(timestamp=t, symbol=a, side=side, effect="entry", requested_quantity=req, price=ref)
            if qmax <= 0 or qmax * px <= 1e-9 * abs(equity):  # dust is no buying power
                self.rejected.append(dict(base, reason="insufficient_cash", filled_quantity=0.0))
                continue
            if req <= 0:
                self.rejected.append(dict(base, reason="zero_quantity", filled_quantity=0.0))
                continue
            q = min(req, qmax)
            if req > qmax and not math.isinf(req) and req > qmax * (1 + 1e-9):
                self.rejected.append(dict(base, reason="reduced_cash", filled_quantity=q))
            fee = q * px * c.fees + c.fixed_fees
            slip = q * abs(px - ref)
            acc.cash -= d * q * px + fee
            available -= q * px + fee
            signal_bar = self.p.bars[a][signal_time]
            anchor = px if c.stop_anchor == "fill" else signal_bar.close
            fr = [self.fraction(v, signal_bar) for v in (c.stop_loss, c.take_profit, c.trailing_stop)]
            acc.pos[a] = Position(d * q, t, px, fee, slip, acc.count[a], px, px, anchor, anchor, *fr)
            self.fills.append(
                dict(
                    timestamp=t,
                    symbol=a,
                    side=side,
                    effect="entry",
                    quantity=q,
                    price=px,
                    fees=fee,
                    slippage=slip,
                    reason="signal",
                )
            )

    # -- the bar loop --------------------------------------------------------------------------
    def run_account(self, k: int, acc: Account) -> None:
        fill = self.cfg.fill
        for t in self.p.timestamps:
            live = [a for a in acc.assets if t in self.p.bars[a]]
            for a in live:
                acc.count[a] = acc.count.get(a, 0) + 1
                acc.last_time[a] = t
            if fill == "next_open":
                self.execute(acc, t)
            for a in live:  # position rules, then the bar's range and the trailing peak
                if a not in acc.pos:
                    continue
                p, b = acc.pos[a], self.p.bars[a][t]
                hit = self.rule_exit(p, b, acc.count[a] - p.entry_count, p.entry_time == t)
                if hit is not None:
                    reason, ref = hit
                    stop_slip = self.cfg.stop_slippage if reason != "time_stop" else None
                    self.close_position(acc, a, t, ref, reason, stop_slip)
                    acc.rule_exit_time[a] = t
                    continue
                p.hi = max(p.hi, b.high)
                p.lo = min(p.lo, b.low)
                if p.qty > 0:
                    p.peak = max(p.peak, b.close if self.cfg.trailing_source == "close" else b.high)
                else:
                    p.peak = min(p.peak, b.close if self.cfg.trailing_source == "close" else b.low)
            if fill == "next_close":
                self.execute(acc, t)
            for a in live:
                action = decide(self.p.bars[a][t], acc.pos[a].qty if a in acc.pos else 0.0)
                if acc.rule_exit_time.get(a) == t and not self.cfg.reenter_on_stop_bar:
                    action = None  # no re-entry on the bar a position rule closed the position
                if action is not None:
                    acc.pending[a] = (action, t)
            if fill == "same_close":
                self.execute(acc, t)
            for a in live:
                acc.last_close[a] = self.p.bars[a][t].close
            for a in acc.assets:
                q = acc.pos[a].qty if a in acc.pos else 0.0
                self.asset_values[(a, t)] = q * acc.last_close.get(a, 0.0)
            self.account_cash[(k, t)] = acc.cash
        for a in acc.assets:  # end of data
            if a in acc.pending:
                action, ts = acc.pending.pop(a)
                if action in ("close", "reverse_to_long", "reverse_to_short") and a in acc.pos:
                    q = acc.pos[a].qty
                    self.rejected.append(
                        dict(
                            timestamp=ts,
                            symbol=a,
                            side="sell" if q > 0 else "buy",
                            effect="exit",
                            reason="no_next_bar",
                            requested_quantity=abs(q),
                            filled_quantity=0.0,
                            price=None,
                        )
                    )
                if action != "close":
                    d = action in ("open_long", "reverse_to_long")
                    self.rejected.append(
                        dict(
                            timestamp=ts,
                            symbol=a,
                            side="buy" if d else "sell",
                            effect="entry",
                            reason="no_next_bar",
                            requested_quantity=None,
                            filled_quantity=0.0,
                            price=None,
                        )
                    )
            if a in acc.pos:
                p = acc.pos[a]
                self.add_trade(
                    a,
                    p,
                    acc.last_time[a],
                    acc.last_close[a],
                    0.0,
                    0.0,
                    acc.count[a] - p.entry_count,
                    "end_of_data",
                    "open",
                )

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
        return dict(trades=self.trades, fills=self.fills, rejected=self.rejected, equity=equity)


def run(panel: Panel, cfg: Config) -> dict:
    return Reference(panel, cfg).run()
