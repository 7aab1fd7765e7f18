"""Resting entry orders of the reference engine: limit, stop and stop-limit entries, spelled out
(the contract both engines implement: issue 11's "Resting entry orders"). Imports nothing from
ml4t_vec.

With ``Config.order_type`` other than "market", an entry decided at signal bar s (from flat, or
the new side of a reversal) places a ``Resting`` order of direction d (+1 buy, -1 sell) with its
levels fixed at s (``levels``): the limit L (``Bar.lmt``, or close_s x (1 - d x limit_offset))
and the stop S (``Bar.stp``, or close_s x (1 + d x stop_offset)). The engine tests it on the
asset's later bars while the account holds no position in the asset (``try_fill``): a fill is a
``Quote`` (reference price, slippage, half spread, executed price) that the engine's entry loop
sizes, caps and books like a market entry's. A sell mirrors a buy: the high and the low swap
roles and every inequality flips, so the functions below compare d x (a - b).

- limit: O <= L fills at the open, priced as a market order at O and clipped at L (``clip``);
  else the low reaching L (``reaches``: below it with limit_touch="through") fills at L, with
  no slippage and no spread (fees only).
- stop: O >= S fills at the open as a market order; else the high reaching S fills at reference
  S with ``stop_slippage`` (default: the slippage), the per-share slippage and half the spread.
- stop-limit: triggered at the open (O >= S: then as a limit order on the whole bar) or inside
  the bar (O < S <= H: a fill at S as a stop, clipped at L, when S <= L; when S > L the low must
  reach L after the high reached S, which ``Config.intrabar`` decides: "optimistic" fills at L,
  "ohlc_path" fills at L when the path visits the high first, the other modes do not fill).
  Triggered and not filled, it stays triggered: a limit order at L from its next test.

A fill inside the bar at F (L or S, its reference price) opens a position whose rules see the
rest of the bar (``rest_of_bar``): a bar opening at F with the extreme the fill came from kept
and the other kept or pulled in to max / min(F, close) by ``intrabar``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass


@dataclass
class Resting:
    """A resting entry order of direction d placed at ``signal_time`` with its limit and stop
    levels (None: a level its type does not use); ``tests`` counts the bars it was tested on,
    ``triggered`` a stop-limit whose stop was reached."""

    d: float
    signal_time: object
    limit: float | None
    stop: float | None
    tests: int = 0
    triggered: bool = False


@dataclass
class Quote:
    """How an entry fills: its reference price ``ref``, slippage (``frac`` of the reference, then
    ``per_share``), half the spread per share ``hs`` and the executed price before market impact
    ``px``. ``extreme``: for a fill inside the bar, the side of the bar it came from ("limit": the
    low for a buy, the high for a sell; "stop": the other); None for a fill at the open."""

    ref: float
    frac: float
    per_share: float
    hs: float
    px: float
    extreme: str | None = None


def market(ref: float, d: float, frac: float, per_share: float, hs: float, extreme: str | None = None) -> Quote:
    """A market order's price at ``ref``: moved against the trader by the slippage fraction, the
    per-share slippage and the half spread (the engine's entry loop prices market entries so)."""
    return Quote(ref, frac, per_share, hs, ref * (1 + d * frac) + d * (per_share + hs), extreme)


def clip(q: Quote, d: float, limit: float | None) -> Quote:
    """A marketable fill (at the open, or a stop-limit's at its trigger) no worse than the limit:
    when its price passes L it fills at L, the distance e = d x (L - ref) >= 0 charged as spread
    first (min(hs, e)), the rest as per-share slippage, no fraction. No limit (a stop): as it is."""
    if limit is None or not d * (q.px - limit) > 0:
        return q
    e = d * (limit - q.ref)
    hs = min(q.hs, e)
    return Quote(q.ref, 0.0, e - hs, hs, limit, q.extreme)


def levels(cfg, d: float, bar) -> tuple[float | None, float | None] | None:
    """(L, S) of an order of direction d signalled on ``bar`` (None for a level its type does not
    use); None when a level it uses is null or NaN (the entry is refused: ``no_level``)."""
    limit = stop = None
    if cfg.order_type in ("limit", "stop_limit"):
        limit = bar.lmt if cfg.limit_levels else bar.close * (1 - d * cfg.limit_offset)
    if cfg.order_type in ("stop", "stop_limit"):
        stop = bar.stp if cfg.stop_levels else bar.close * (1 + d * cfg.stop_offset)
    used = [v for v, on in ((limit, cfg.order_type != "stop"), (stop, cfg.order_type != "limit")) if on]
    if any(v is None or math.isnan(v) for v in used):
        return None
    return limit, stop


def cancelled(cfg, r: Resting, bar) -> str | None:
    """Why the raw signals of ``bar`` cancel resting order ``r`` (None: they do not): its side's
    exit signal, else the other side's entry signal, else (on_signal_off="cancel") its own entry
    signal off."""
    own_exit, other_entry, own_entry = (bar.exit, bar.short_entry, bar.entry) if r.d > 0 else (
        bar.short_exit, bar.entry, bar.short_entry)  # fmt: skip
    if own_exit:
        return "cancelled_exit"
    if other_entry:
        return "cancelled_opposite"
    return "cancelled_signal_off" if cfg.on_signal_off == "cancel" and not own_entry else None


def stop_side_first(bar, d: float) -> bool:
    """The bar's path (ohlc_path) visits the stop side's extreme (the high for a buy, the low for
    a sell) before the other: the nearer one to the open first, a tie taking the limit side."""
    toward_stop, toward_limit = (bar.high, bar.low) if d > 0 else (bar.low, bar.high)
    return d * (toward_stop - bar.open) < d * (bar.open - toward_limit)


def try_fill(cfg, c, r: Resting, bar, half_spread) -> Quote | None:
    """Resting order ``r`` tested on ``bar``: its fill's ``Quote``, or None (a stop-limit may
    become triggered). ``c`` is the config with the asset's costs (its slippage), ``half_spread``
    the half spread per share of a fill at a reference price on this bar."""
    d, limit, stop, o = r.d, r.limit, r.stop, bar.open
    toward_stop, toward_limit = (bar.high, bar.low) if d > 0 else (bar.low, bar.high)
    gap = d * (limit - toward_limit) if limit is not None else 0.0
    reaches = gap > 0 if cfg.limit_touch == "through" else gap >= 0  # the bar reaches L

    def at_open():  # a market order at the open (clipped at L)
        return clip(market(o, d, c.slippage, c.slippage_per_share, half_spread(o)), d, limit)

    def at_stop():  # a market order at reference S with the stop slippage (clipped at L)
        frac = c.slippage if c.stop_slippage is None else c.stop_slippage
        return clip(market(stop, d, frac, c.slippage_per_share, half_spread(stop), "stop"), d, limit)

    def as_limit():
        if d * (o - limit) <= 0:
            return at_open()
        return Quote(limit, 0.0, 0.0, 0.0, limit, "limit") if reaches else None  # resting: fees only

    if cfg.order_type == "limit" or r.triggered:
        return as_limit()
    if d * (o - stop) >= 0:  # the open is at or through the stop
        if cfg.order_type == "stop":
            return at_open()
        r.triggered = True
        return as_limit()
    if d * (toward_stop - stop) < 0:  # the bar does not reach the stop
        return None
    if cfg.order_type == "stop":
        return at_stop()
    r.triggered = True  # a stop-limit triggered inside the bar
    if d * (stop - limit) <= 0:
        return at_stop()
    if reaches and (cfg.intrabar == "optimistic" or (cfg.intrabar == "ohlc_path" and stop_side_first(bar, d))):
        return Quote(limit, 0.0, 0.0, 0.0, limit, "limit")
    return None


def rest_of_bar(cfg, bar, d: float, q: Quote):
    """The bar the position rules (and the excursions, the trailing peak) of a position opened
    inside ``bar`` at F = ``q.ref`` see: it opens at F; the extreme the fill came from follows
    the fill; the other is kept, or pulled in to max(F, close) (a high) / min(F, close) (a low):
    "optimistic" keeps it iff it is favourable to the position (the stop side's: the high of a
    long), "ohlc_path" iff the path visits it after the fill's extreme, the other modes iff it
    is adverse."""
    f = q.ref
    from_limit = q.extreme == "limit"  # then the other extreme is the stop side's, favourable
    if cfg.intrabar == "optimistic":
        keep = from_limit
    elif cfg.intrabar == "ohlc_path":
        keep = stop_side_first(bar, d) != from_limit
    else:
        keep = not from_limit
    if keep:
        return dataclasses.replace(bar, open=f)
    if (d > 0) == from_limit:  # the other extreme is the high
        return dataclasses.replace(bar, open=f, high=max(f, bar.close))
    return dataclasses.replace(bar, open=f, low=min(f, bar.close))
