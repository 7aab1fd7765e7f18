"""Signal and position rules of the reference engine, spelled out (README "Fill rules" and
"Position rules"). Imports nothing from ml4t_vec."""

from __future__ import annotations


def decide(bar, qty: float, rules: str = "reverse", can_add: bool = False) -> str | None:
    """The documented signal rules, spelled out. ``can_add`` (accumulate, entries below
    max_entries): an entry on the side held adds to it ("add_long" / "add_short")."""
    if rules == "flat_only":  # ml4t-backtest's templates
        if qty == 0:
            return "open_long" if bar.entry else ("open_short" if bar.short_entry else None)
        if qty > 0:
            return "close" if bar.exit else ("add_long" if bar.entry and can_add else None)
        return "close" if bar.short_exit else ("add_short" if bar.short_entry and can_add else None)
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
        return "add_long" if long_entry and can_add else None
    if long_entry:
        return "reverse_to_long"
    if short_exit:
        return "close"
    return "add_short" if short_entry and can_add else None


def rule_exit(c, p, b, held: int, entered_now: bool, session_exit: bool = False):
    """(reason, reference exit price) if a position rule closes ``p`` on bar ``b``, else None."""
    if (c.max_bars is not None and held >= c.max_bars) or session_exit:
        return "time_stop", b.open
    if entered_now and not c.stop_on_entry_bar:
        return None
    sl, tp, tsl = p.sl, p.tp, p.tsl
    a = p.anchor
    if c.intrabar == "rule_chain":  # ml4t-backtest: stop-loss, then take-profit, then trailing
        return rule_chain(c, p, b)
    if p.qty > 0:
        stop, stop_reason = a * (1 - sl), "stop_loss"
        if p.slp is not None:
            stop = max(stop, p.slp)
        if p.peak >= a * (1 + c.trailing_activation) and p.peak * (1 - tsl) > stop:
            stop, stop_reason = p.peak * (1 - tsl), "trailing_stop"
        target = a * (1 + tp)
        if p.tpp is not None:
            target = min(target, p.tpp)
        gap_stop, gap_target = b.open <= stop, b.open >= target
        hit_stop, hit_target = b.low <= stop, b.high >= target
        stop_side_first = (b.open - b.low) <= (b.high - b.open)
    else:
        stop, stop_reason = a * (1 + sl), "stop_loss"
        if p.slp is not None:
            stop = min(stop, p.slp)
        if p.peak <= a * (1 - c.trailing_activation) and p.peak * (1 + tsl) < stop:
            stop, stop_reason = p.peak * (1 + tsl), "trailing_stop"
        target = a * (1 - tp)
        if p.tpp is not None:
            target = max(target, p.tpp)
        gap_stop, gap_target = b.open >= stop, b.open <= target
        hit_stop, hit_target = b.high >= stop, b.low <= target
        stop_side_first = (b.high - b.open) <= (b.open - b.low)
    if c.intrabar == "stop_first":  # vectorbt: a stop anywhere in the bar wins, then the target
        if hit_stop:
            return stop_reason, (min if p.qty > 0 else max)(b.open, stop)
        if hit_target:
            return "take_profit", (max if p.qty > 0 else min)(b.open, target)
        return None
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


def rule_chain(c, p, b):
    a = p.anchor
    if p.qty > 0:
        stop = a * (1 - p.sl) if p.slp is None else max(a * (1 - p.sl), p.slp)
        target = a * (1 + p.tp) if p.tpp is None else min(a * (1 + p.tp), p.tpp)
        trail = p.peak * (1 - p.tsl) if p.peak >= a * (1 + c.trailing_activation) else None
        if b.low <= stop:
            return "stop_loss", min(b.open, stop)
        if b.high >= target:
            return "take_profit", max(b.open, target)
        if trail is not None and b.low <= trail:
            return "trailing_stop", min(b.open, trail)
        return None
    stop = a * (1 + p.sl) if p.slp is None else min(a * (1 + p.sl), p.slp)
    target = a * (1 - p.tp) if p.tpp is None else max(a * (1 - p.tp), p.tpp)
    trail = p.peak * (1 + p.tsl) if p.peak <= a * (1 - c.trailing_activation) else None
    if b.high >= stop:
        return "stop_loss", max(b.open, stop)
    if b.low <= target:
        return "take_profit", min(b.open, target)
    if trail is not None and b.high >= trail:
        return "trailing_stop", max(b.open, trail)
    return None
