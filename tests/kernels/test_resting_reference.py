"""Resting entry orders in the reference engine, worked by hand (tests/reference/resting.py): one
asset, 10 shares per entry, the expected prices and costs computed in the comments. The parity
tests (tests/property/test_parity.py) then hold the kernels to the same engine."""

import dataclasses
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from panels import by_asset, configs, panels
from reference import engine
from reference.engine import Bar, Config, Panel


def run(bars: list[Bar], **cfg) -> dict:
    """The reference engine on asset "A" with ``bars`` at times 0, 1, ...: 10 shares an entry."""
    panel = Panel(list(range(len(bars))), ["A"], {"A": dict(enumerate(bars))})
    return engine.run(panel, Config(size=10.0, size_type="shares", **cfg))


def entries(out: dict) -> list[dict]:
    return [f for f in out["fills"] if f["effect"] == "entry"]


def signal(close: float, **flags) -> Bar:
    """A signal bar closing at ``close`` (its range one either side)."""
    return Bar(close, close + 1.0, close - 1.0, close, **flags)


def test_limit_buy_gapping_through_its_level_fills_at_the_open_clipped_at_the_limit():
    # L = 100 x (1 - 0.02) = 98. Bar 1 opens at 97.5 <= L: marketable, priced as a market order at
    # the open: half spread 97.5 x 0.004 / 2 = 0.195, P = 97.5 x 1.01 + 0.195 = 98.67 > L, so it
    # fills at 98: e = 98 - 97.5 = 0.5, spread first (0.195 a share), the rest slippage (0.305).
    out = run([signal(100.0, entry=True), Bar(97.5, 99.0, 97.0, 98.5)], order_type="limit", limit_offset=0.02,
              slippage=0.01, spread=0.004, fees=0.001)  # fmt: skip
    [f] = entries(out)
    assert (f["timestamp"], f["side"], f["quantity"], f["reason"]) == (1, "buy", 10.0, "signal")
    assert f["price"] == 98.0
    assert f["spread_cost"] == pytest.approx(1.95)  # 10 x 0.195
    assert f["slippage"] == pytest.approx(3.05)  # 10 x 0.305
    assert f["fees"] == pytest.approx(0.98)  # 10 x 98 x 0.001
    # an open of 96: its market price 96 x 1.01 + 0.192 = 97.152 <= L, not clipped (spread 10 x 0.192,
    # slippage 10 x (97.152 - 96) - 1.92 = 9.6)
    out = run([signal(100.0, entry=True), Bar(96.0, 99.0, 95.0, 98.5)], order_type="limit", limit_offset=0.02,
              slippage=0.01, spread=0.004)  # fmt: skip
    [f] = entries(out)
    assert f["price"] == pytest.approx(97.152)
    assert f["spread_cost"] == pytest.approx(1.92) and f["slippage"] == pytest.approx(9.6)


def test_limit_buy_reached_inside_the_bar_fills_at_its_level_without_slippage_or_spread():
    # L = 98; bar 1 opens above it (99) and its low 97.5 reaches it: a resting fill at 98, fees only
    # (slippage and the spread are a marketable order's).
    bars = [signal(100.0, entry=True), Bar(99.0, 100.0, 97.5, 99.5), Bar(99.5, 100.0, 99.0, 99.8)]
    out = run(bars, order_type="limit", limit_offset=0.02, slippage=0.01, spread=0.004, fees=0.001)
    [f] = entries(out)
    assert (f["timestamp"], f["price"], f["slippage"], f["spread_cost"]) == (1, 98.0, 0.0, 0.0)
    assert f["fees"] == pytest.approx(0.98)
    # limit_touch="through" needs the low below the level: a low of exactly 98 does not fill
    bars[1] = Bar(99.0, 100.0, 98.0, 99.5)
    assert not entries(run(bars, order_type="limit", limit_offset=0.02, limit_touch="through"))
    assert entries(run(bars, order_type="limit", limit_offset=0.02))[0]["price"] == 98.0
    # the position's rules see the rest of the bar from the fill: stop-loss 1.5% of the fill, 96.53;
    # the low (the side the fill came from) follows the fill, so a low of 96 stops it out at 96.53
    bars[1] = Bar(99.0, 100.0, 96.0, 99.5)
    out = run(bars, order_type="limit", limit_offset=0.02, stop_loss=0.015)
    [t] = out["trades"]
    assert (t["entry_time"], t["exit_time"], t["exit_reason"]) == (1, 1, "stop_loss")
    assert t["exit_price"] == pytest.approx(98.0 * 0.985)


def test_time_in_force_expires_an_order_after_its_tests():
    # tif=2: bars 1 and 2 stay above L = 98 (lows 98.5), the order expires on bar 2 (a rejected row,
    # no quantity, no price); bar 3 reaches 98 but nothing rests any more.
    bars = [signal(100.0, entry=True), Bar(99.0, 100.0, 98.5, 99.0), Bar(99.0, 100.0, 98.5, 99.0),
            Bar(99.0, 100.0, 97.0, 99.0)]  # fmt: skip
    out = run(bars, order_type="limit", limit_offset=0.02, tif=2)
    assert not out["fills"]
    assert out["rejected"] == [dict(timestamp=2, symbol="A", side="buy", effect="entry", reason="expired",
                                    requested_quantity=None, filled_quantity=0.0, price=None)]  # fmt: skip
    # good till cancelled: it fills on bar 3 at 98; tif=3 too (the third test fills)
    assert entries(run(bars, order_type="limit", limit_offset=0.02))[0]["timestamp"] == 3
    assert entries(run(bars, order_type="limit", limit_offset=0.02, tif=3))[0]["timestamp"] == 3


def test_stop_buy_reached_inside_the_bar_fills_at_its_level_with_the_stop_slippage():
    # S = 100 x 1.01 = 101; bar 1 opens below it (100.5) and its high 102 reaches it: reference 101,
    # the stop slippage 0.002 (not the slippage 0.01), the per-share slippage 0.05:
    # 101 x 1.002 + 0.05 = 101.252; slippage 10 x 0.252 = 2.52.
    bars = [signal(100.0, entry=True), Bar(100.5, 102.0, 100.0, 101.5)]
    out = run(bars, order_type="stop", stop_offset=0.01, slippage=0.01, slippage_per_share=0.05, stop_slippage=0.002)
    [f] = entries(out)
    assert f["timestamp"] == 1 and f["price"] == pytest.approx(101.252)
    assert f["slippage"] == pytest.approx(2.52) and f["spread_cost"] == 0.0
    # a bar opening through the stop fills at the open as a market order: 101.5 x 1.01 + 0.05
    bars[1] = Bar(101.5, 102.0, 101.0, 101.8)
    out = run(bars, order_type="stop", stop_offset=0.01, slippage=0.01, slippage_per_share=0.05, stop_slippage=0.002)
    assert entries(out)[0]["price"] == pytest.approx(101.5 * 1.01 + 0.05)


@pytest.mark.parametrize(
    ("intrabar", "time", "price"),
    [("pessimistic", 2, 98.0), ("stop_first", 2, 98.0), ("optimistic", 1, 98.0), ("ohlc_path", 1, 98.0)],
)
def test_stop_limit_with_its_stop_above_its_limit(intrabar, time, price):
    # A buy stop-limit: S = 100 x 1.01 = 101, L = 100 x 0.98 = 98. Bar 1 opens at 100 (below S), its
    # high 101.5 triggers the order at 101 > L: it fills only if the low reaches 98 after the high
    # reached 101. Bar 1's low 97.5 reaches L, but the order of the two is unknown: pessimistic (and
    # every mode but two) does not fill on bar 1 and tests the triggered order as a limit at 98 on
    # bar 2 (open 99, low 97.9: at 98); optimistic fills at 98 on bar 1; ohlc_path too, its path
    # visiting the high first (101.5 - 100 = 1.5 < 100 - 97.5 = 2.5).
    bars = [signal(100.0, entry=True), Bar(100.0, 101.5, 97.5, 99.0), Bar(99.0, 99.5, 97.9, 99.0)]
    out = run(bars, order_type="stop_limit", stop_offset=0.01, limit_offset=0.02, intrabar=intrabar, slippage=0.01)
    [f] = entries(out)
    assert (f["timestamp"], f["price"], f["slippage"], f["spread_cost"]) == (time, price, 0.0, 0.0)
    # ohlc_path on a bar whose low is nearer the open (100 - 98 = 2 < 102.5 - 100): no fill on bar 1
    bars[1] = Bar(100.0, 102.5, 98.0, 99.0)
    if intrabar == "ohlc_path":
        assert entries(run(bars, order_type="stop_limit", stop_offset=0.01, limit_offset=0.02,
                           intrabar=intrabar))[0]["timestamp"] == 2  # fmt: skip


def test_an_exit_signal_cancels_a_resting_order():
    # L = 98; bar 1 stays above it and carries an exit signal: the order is cancelled on bar 1
    # (cancelled_exit); bar 2 reaches 98 but nothing rests. Without the exit it fills on bar 2.
    bars = [signal(100.0, entry=True), Bar(99.0, 100.0, 98.5, 99.0, exit=True), Bar(99.0, 100.0, 97.0, 99.0)]
    out = run(bars, order_type="limit", limit_offset=0.02)
    assert not out["fills"]
    assert [(r["timestamp"], r["reason"], r["side"], r["price"]) for r in out["rejected"]] == [
        (1, "cancelled_exit", "buy", None)
    ]
    bars[1] = Bar(99.0, 100.0, 98.5, 99.0)
    assert entries(run(bars, order_type="limit", limit_offset=0.02))[0]["timestamp"] == 2
    # a null absolute level at the signal bar refuses the entry at once (no_level, at bar 0)
    bars[0] = signal(100.0, entry=True, lmt=math.nan)
    out = run(bars, order_type="limit", limit_levels=True)
    assert [(r["timestamp"], r["reason"]) for r in out["rejected"]] == [(0, "no_level")] and not out["fills"]


@given(panels(shorts=False), configs(fill="next_open", resting=True, asset_costs=None),
       st.sampled_from(["limit", "stop", "stop_limit"]))  # fmt: skip
def test_buy_orders_that_always_gap_are_market_orders(panel_df, cfg, order_type):
    """Long only, fill="next_open": a buy limit at +inf and a buy stop at 0 fill at the asset's next
    open as a market order, before any signal could cancel them, and the resting phase marks the
    account at that open as the open phase does: every row equals the market run's."""
    panel, _ = panel_df
    # (tif="day" would expire an order whose asset's next bar is on a later day: not a market order)
    cfg = dataclasses.replace(by_asset(cfg, panel.assets), custom_price=False, limit_offset=None, stop_offset=None,
                              tif=None if cfg.tif == "day" else cfg.tif)  # fmt: skip
    for bars in panel.bars.values():
        for b in bars.values():
            b.lmt, b.stp = math.inf, 0.0
    got = engine.run(panel, dataclasses.replace(cfg, order_type=order_type, limit_levels=True, stop_levels=True))
    want = engine.run(panel, dataclasses.replace(cfg, order_type="market"))
    key = lambda r: tuple(str(r.get(k)) for k in ("symbol", "timestamp", "entry_time", "effect", "reason"))  # noqa: E731
    for name in ("trades", "fills", "rejected"):
        assert sorted(got[name], key=key) == sorted(want[name], key=key), name
    assert got["equity"] == want["equity"]
