"""Resting entry orders (``order_type="limit" | "stop" | "stop_limit"``, ``tif``, the lifecycle),
worked by hand on one asset (README "Order types"). The reference engine draws them in the
Hypothesis parity tests (tests/property/test_parity.py)."""

import datetime as dt

import polars as pl
import pytest

import ml4t_vec as vec
from ml4t_vec.errors import ConfigError


def bars(ohlc, entries=None, exits=None, short_entries=None, **extra) -> pl.DataFrame:
    """Asset "A" on consecutive days: (open, high, low, close) per bar and its signals."""
    n = len(ohlc)
    col = lambda v: [False] * n if v is None else v  # noqa: E731
    return pl.DataFrame(
        {
            "timestamp": [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(n)],
            "asset": ["A"] * n,
            "open": [float(b[0]) for b in ohlc],
            "high": [float(b[1]) for b in ohlc],
            "low": [float(b[2]) for b in ohlc],
            "close": [float(b[3]) for b in ohlc],
            "e": col(entries),
            "x": col(exits),
            "se": col(short_entries),
            **extra,
        }
    )


ONE = dict(entries="e", exits="x", short_entries="se", size=10, size_type="shares")


def test_limit_buy_fills_at_its_level_inside_the_bar_without_slippage():
    """Signal at bar 0's close 100, a buy limit 2% below: 98. Bar 1 (open 100, low 97) reaches it:
    10 shares at 98, no slippage, no spread, fees on 98."""
    df = bars([(100, 101, 99, 100), (100, 102, 97, 99), (99, 100, 98, 99)], entries=[True, False, False])
    r = vec.backtest(df, **ONE, order_type="limit", limit_offset=0.02, slippage=0.01, spread=0.02, fees=0.001)
    f = r.fills.row(0, named=True)
    assert (f["timestamp"], f["price"], f["slippage"], f["spread_cost"]) == (dt.date(2024, 1, 2), 98.0, 0.0, 0.0)
    assert f["fees"] == pytest.approx(10 * 98 * 0.001)
    # "through" needs the low strictly below: a low of exactly 98 does not fill
    df2 = bars([(100, 101, 99, 100), (100, 102, 98, 99), (99, 100, 98, 99)], entries=[True, False, False])
    assert vec.backtest(df2, **ONE, order_type="limit", limit_offset=0.02).fills.height == 1
    assert vec.backtest(df2, **ONE, order_type="limit", limit_offset=0.02, limit_touch="through").fills.height == 0


def test_limit_buy_on_a_gap_fills_at_the_open_priced_as_a_market_order_and_clipped_at_its_limit():
    """Bar 1 opens at 96, through the 98 limit: a market order at the open, 96 x 1.01 = 96.96.
    With 5% slippage the market price 100.8 is clipped at the limit: 98, the 2 per share slippage."""
    df = bars([(100, 101, 99, 100), (96, 97, 95, 96), (96, 97, 95, 96)], entries=[True, False, False])
    r = vec.backtest(df, **ONE, order_type="limit", limit_offset=0.02, slippage=0.01)
    assert r.fills["price"].to_list() == pytest.approx([96.96])
    r = vec.backtest(df, **ONE, order_type="limit", limit_offset=0.02, slippage=0.05, spread=0.01)
    f = r.fills.row(0, named=True)
    assert f["price"] == pytest.approx(98.0)
    assert (f["spread_cost"], f["slippage"]) == pytest.approx((10 * 0.48, 10 * (2.0 - 0.48)))


def test_tif_expires_an_order_after_its_bars_with_a_rejected_row():
    """A limit at 98 the bars never reach: tested on bars 1 and 2, expired at bar 2 (tif=2)."""
    df = bars([(100, 101, 99, 100)] * 4 + [(97, 98, 96, 97)], entries=[True, False, False, False, False])
    r = vec.backtest(df, **ONE, order_type="limit", limit_offset=0.02, tif=2)
    assert r.fills.height == 0
    rej = r.rejected.row(0, named=True)
    assert (rej["timestamp"], rej["reason"], rej["side"]) == (dt.date(2024, 1, 3), "expired", "buy")
    # good till cancelled: it fills at bar 4's open (97 <= 98)
    assert vec.backtest(df, **ONE, order_type="limit", limit_offset=0.02).fills["price"].to_list() == [97.0]


def test_stop_buy_fills_at_its_level_with_stop_slippage_or_at_a_gap_open():
    """A buy stop 2% above the close 100: 102. Bar 1's high 103 reaches it: 102 x 1.01 (the
    entries' slippage) = 103.02, or 102 x 1.005 with stop_slippage=0.005. A gap open at 104 fills there."""
    df = bars([(100, 101, 99, 100), (100, 103, 99, 102), (102, 103, 101, 102)], entries=[True, False, False])
    r = vec.backtest(df, **ONE, order_type="stop", stop_offset=0.02, slippage=0.01)
    assert r.fills["price"].to_list() == pytest.approx([103.02])
    r = vec.backtest(df, **ONE, order_type="stop", stop_offset=0.02, slippage=0.01, stop_slippage=0.005)
    assert r.fills["price"].to_list() == pytest.approx([102.51])
    gap = bars([(100, 101, 99, 100), (104, 105, 103, 104), (104, 105, 103, 104)], entries=[True, False, False])
    assert vec.backtest(gap, **ONE, order_type="stop", stop_offset=0.02).fills["price"].to_list() == [104.0]


def test_short_entries_mirror_the_levels():
    """A sell limit 2% above the close 100 (102) fills when the high reaches it; a sell stop 2%
    below (98) when the low does."""
    df = bars([(100, 101, 99, 100), (100, 103, 97, 100), (100, 101, 99, 100)], short_entries=[True, False, False])
    r = vec.backtest(df, **ONE, order_type="limit", limit_offset=0.02)
    assert (r.fills["side"].to_list(), r.fills["price"].to_list()) == (["sell"], [102.0])
    r = vec.backtest(df, **ONE, order_type="stop", stop_offset=0.02)
    assert (r.fills["side"].to_list(), r.fills["price"].to_list()) == (["sell"], [98.0])


def test_stop_limit_beyond_its_limit_waits_for_the_bar_path_as_intrabar_says():
    """Buy stop 102, limit 100 (stop_offset 0.02, limit_offset 0). Bar 1 triggers it at 102 and
    its low 99 is below the limit, but whether the low came after the high is unknown:
    pessimistic fills nothing there and, triggered, it fills at bar 2's low side at 100;
    optimistic fills at 100 on bar 1."""
    df = bars([(100, 101, 99, 100), (100.5, 103, 99, 101), (101, 102, 99.5, 101), (101, 102, 100, 101)],
              entries=[True, False, False, False])  # fmt: skip
    kw = dict(ONE, order_type="stop_limit", stop_offset=0.02, limit_offset=0.0)
    r = vec.backtest(df, **kw)
    assert (r.fills["timestamp"].to_list(), r.fills["price"].to_list()) == ([dt.date(2024, 1, 3)], [100.0])
    r = vec.backtest(df, **kw, intrabar="optimistic")
    assert (r.fills["timestamp"].to_list(), r.fills["price"].to_list()) == ([dt.date(2024, 1, 2)], [100.0])
    # the path (ohlc_path): open 100.5 is nearer the low 99 than the high 103, so the low came first: no fill
    assert vec.backtest(df, **kw, intrabar="ohlc_path").fills["timestamp"].to_list() == [dt.date(2024, 1, 3)]


def test_the_rest_of_the_fill_bar_decides_the_position_rules():
    """A buy limit at 98 fills inside bar 1 (open 100, high 110, low 97, close 99). The low comes
    after the fill; whether the high does is unknown. Stop-loss 0.5% (97.51) and take-profit 5%
    (102.9): pessimistic sees the stop only (the high is replaced by max(98, 99)); optimistic
    keeps the high and takes the profit first. A stop-loss alone fires in both."""
    df = bars([(100, 101, 99, 100), (100, 110, 97, 99), (99, 100, 98, 99)], entries=[True, False, False])
    kw = dict(ONE, order_type="limit", limit_offset=0.02, stop_loss=0.005, take_profit=0.05)
    t = vec.backtest(df, **kw).trades.row(0, named=True)
    assert (t["exit_reason"], t["exit_price"], t["exit_time"]) == ("stop_loss", pytest.approx(97.51),
                                                                   dt.date(2024, 1, 2))  # fmt: skip
    t = vec.backtest(df, **kw, intrabar="optimistic").trades.row(0, named=True)
    assert (t["exit_reason"], t["exit_price"]) == ("take_profit", pytest.approx(102.9))
    # MFE sees the rest of the fill bar only (pessimistic: not its high 110), then bar 2's high 100
    t = vec.backtest(df, **dict(kw, stop_loss=None, take_profit=None)).trades.row(0, named=True)
    assert t["mfe"] == pytest.approx(100 / 98 - 1)


def test_signals_cancel_or_replace_a_resting_order():
    """An exit signal cancels the resting buy; an opposite entry too (and places its own order);
    a new entry replaces it (new levels) or, with on_new_signal="keep", is ignored; with
    on_signal_off="cancel" it goes on the first bar its signal is off."""
    quiet = (100, 101, 99.5, 100)
    df = bars([quiet] * 5, entries=[True, False, False, False, False], exits=[False, False, True, False, False])
    r = vec.backtest(df, **ONE, order_type="limit", limit_offset=0.02)
    assert r.rejected.select("timestamp", "reason").rows() == [(dt.date(2024, 1, 3), "cancelled_exit")]
    df = bars([quiet] * 5, entries=[True, False, False, False, False], short_entries=[False, True, False, False, False])
    r = vec.backtest(df, **ONE, order_type="limit", limit_offset=0.02)
    assert r.rejected.select("timestamp", "side", "reason").rows() == [(dt.date(2024, 1, 2), "buy",
                                                                       "cancelled_opposite")]  # fmt: skip
    df = bars([quiet] * 4, entries=[True, True, False, False])
    r = vec.backtest(df, **ONE, order_type="limit", limit_offset=0.02)
    assert r.rejected.select("timestamp", "reason").rows() == [(dt.date(2024, 1, 2), "replaced")]
    assert vec.backtest(df, **ONE, order_type="limit", limit_offset=0.02, on_new_signal="keep").rejected.height == 0
    r = vec.backtest(df, **ONE, order_type="limit", limit_offset=0.02, on_signal_off="cancel")
    assert r.rejected.select("timestamp", "reason").rows() == [
        (dt.date(2024, 1, 2), "replaced"),
        (dt.date(2024, 1, 3), "cancelled_signal_off"),
    ]


def test_a_null_level_refuses_the_order_and_a_reversal_still_exits():
    """``limit_price`` from a column: null at the signal bar -> ``no_level``, nothing rests."""
    df = bars([(100, 101, 99, 100), (100, 101, 97, 100), (100, 101, 99, 100)], entries=[True, False, False],
              lp=[None, 98.0, 98.0])  # fmt: skip
    r = vec.backtest(df, **ONE, order_type="limit", limit_price="lp")
    assert (r.fills.height, r.rejected["reason"].to_list()) == (0, ["no_level"])
    r = vec.backtest(df.with_columns(lp=pl.lit(98.5)), **ONE, order_type="limit", limit_price="lp")
    assert r.fills["price"].to_list() == [98.5]


def test_a_reversal_exits_at_market_then_its_entry_rests():
    """Long from bar 1's open; a short entry at bar 2 reverses: the long exits at bar 3's open
    (market), the short's sell limit 2% above bar 2's close rests and fills at bar 4's high side."""
    df = bars([(100, 101, 99, 100), (100, 101, 99, 100), (100, 101, 99, 100), (100, 101, 99, 100),
               (100, 103, 99, 100)], entries=[True, False, False, False, False],
              short_entries=[False, False, True, False, False])  # fmt: skip
    r = vec.backtest(df, **ONE, order_type="limit", limit_offset=0.0)
    f = r.fills.select("timestamp", "side", "effect", "price").rows()
    assert f[:2] == [(dt.date(2024, 1, 2), "buy", "entry", 100.0), (dt.date(2024, 1, 4), "sell", "exit", 100.0)]
    assert f[2] == (dt.date(2024, 1, 4), "sell", "entry", 100.0)  # its limit 100 is at the open: marketable


def test_resting_orders_in_a_shared_cash_portfolio_fill_against_the_cash_left():
    """Two assets, all cash each: the first limit to fill (asset order) takes the cash; the second
    is cut to what is left (reduced_cash)."""
    a = bars([(100, 101, 99, 100), (100, 101, 97, 99), (99, 100, 98, 99)], entries=[True, False, False])
    df = pl.concat([a, a.with_columns(asset=pl.lit("B"))])
    r = vec.backtest(df, entries="e", size=1.0, order_type="limit", limit_offset=0.02, fees=0.0)
    assert r.fills.select("symbol", "price").rows() == [("A", 98.0)]
    assert r.rejected.select("symbol", "reason").rows() == [("B", "insufficient_cash")]


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(order_type="limit"), "needs a limit level"),
        (dict(order_type="stop", limit_offset=0.01, stop_offset=0.01), "has none"),
        (dict(order_type="limit", limit_offset=0.01, limit_price="lp"), "both set the limit level"),
        (dict(tif=5), "applies to resting orders"),
        (dict(order_type="limit", limit_offset=0.01, tif=0), "integer >= 1"),
        (dict(order_type="limit", limit_offset=1.5), "must be in"),
        (dict(order_type="limit", limit_offset=0.01, accumulate=True), "accumulate=True"),
        (dict(order_type="limit", limit_offset=0.01, preset="vectorbt"), "does not combine"),
        (dict(order_type="limit", limit_offset=0.01, on_new_signal="add"), "on_new_signal"),
    ],
)
def test_config_errors(kw, match):
    df = bars([(100, 101, 99, 100)] * 3, entries=[True, False, False])
    with pytest.raises(ConfigError, match=match):
        vec.backtest(df, entries="e", **kw)


def test_weights_refuse_resting_orders():
    df = bars([(100, 101, 99, 100)] * 3).with_columns(w=pl.lit(0.5))
    with pytest.raises(ConfigError, match="resting orders are entry orders"):
        vec.backtest(df, weights="w", order_type="limit", limit_offset=0.01)


def test_a_sweep_over_levels_and_tif_equals_each_backtest():
    """``limit_offset`` and ``tif`` as sweep dimensions (one value per column in the kernel): each
    set's total return and trade count equal its own backtest's, in both account modes."""
    prices = vec.synthetic_prices(n_assets=3, n_bars=120, seed=5)
    e, x = pl.col("pred") > 0.6, pl.col("pred") < 0.4
    for cs in (True, False):
        sw = vec.sweep(prices, entries=e, exits=x, short_entries=x, params={"limit_offset": [0.0, 0.01], "tif": [1, 4]},
                       order_type="limit", cash_sharing=cs, fees=0.001)  # fmt: skip
        for row in sw.results.iter_rows(named=True):
            r = vec.backtest(prices, entries=e, exits=x, short_entries=x, order_type="limit", cash_sharing=cs,
                             fees=0.001, limit_offset=row["limit_offset"], tif=row["tif"])  # fmt: skip
            s = r.stats().row(0, named=True)
            assert row["total_return"] == pytest.approx(s["total_return"], rel=1e-9, abs=1e-12)
            assert row["n_trades"] == s["n_trades"]


def test_a_replacing_order_with_a_null_level_leaves_nothing_resting():
    """Found by the parity draws: bar 0 places a buy stop at 110; bar 2's entry replaces it but its
    level is null (``replaced`` + ``no_level``: nothing rests); bar 4's entry places a new order,
    with no row for an order that no longer exists (it had become a phantom resting sell)."""
    stp = [110.0, None, None, None, 110.0, None]
    df = bars([(100, 101, 99, 100)] * 6, entries=[True, False, True, False, True, False], stp=stp)
    r = vec.backtest(df, **ONE, order_type="stop", stop_price="stp")
    assert r.rejected.select("timestamp", "side", "reason").rows() == [
        (dt.date(2024, 1, 3), "buy", "replaced"),
        (dt.date(2024, 1, 3), "buy", "no_level"),
    ]


def test_a_scale_out_step_on_the_fill_bar_is_taken_once():
    """Found by the parity draws: A's limit fills at bar 2's open (96 <= 100) and its bar reaches
    the scale-out step (+1%: 96.96): half is sold there. Under fill="next_close" B's exit fills at
    bar 2's close, and that close phase must not re-arm A's step, which bar 3 would take again."""
    a = bars([(100, 101, 99, 100), (100, 101, 99, 100), (96, 98, 95, 97), (97, 99, 96, 98), (98, 99, 97, 98)],
             entries=[False, True, False, False, False])  # fmt: skip
    b = bars([(100, 101, 99, 100), (99, 101, 98, 100), (100, 101, 99, 100), (100, 101, 99, 100), (100, 101, 99, 100)],
             entries=[True, False, False, False, False], exits=[False, True, False, False, False])  # fmt: skip
    df = pl.concat([a, b.with_columns(asset=pl.lit("B"))])
    r = vec.backtest(df, **ONE, order_type="limit", limit_offset=0.0, scale_out=[(0.01, 0.5)], fill="next_close")
    fa = r.fills.filter(pl.col("symbol") == "A")
    assert fa.select("timestamp", "effect", "quantity").rows() == [(dt.date(2024, 1, 3), "entry", 10.0),
                                                                  (dt.date(2024, 1, 3), "reduce", 5.0)]  # fmt: skip
    assert r.fills.filter(pl.col("symbol") == "B")["effect"].to_list() == ["entry", "reduce", "exit"]


def test_tif_day_expires_on_the_first_bar_of_a_later_day():
    """Hourly bars, two a day: a limit signalled on day 1's first bar is tested on its second and
    expires at day 2's first bar (``expired`` there, nothing tested on it: its low reaches the
    level but the order is gone)."""
    ts = [dt.datetime(2024, 1, 1, 10), dt.datetime(2024, 1, 1, 11), dt.datetime(2024, 1, 2, 10)]
    df = bars([(100, 101, 99, 100), (100, 101, 99.5, 100), (97, 98, 96, 97)], entries=[True, False, False])
    df = df.with_columns(timestamp=pl.Series(ts))
    r = vec.backtest(df, **ONE, order_type="limit", limit_offset=0.02, tif="day")
    assert r.fills.height == 0
    assert r.rejected.select("timestamp", "reason").rows() == [(ts[2], "expired")]
    assert vec.backtest(df, **ONE, order_type="limit", limit_offset=0.02).fills["price"].to_list() == [97.0]
    with pytest.raises(ConfigError, match="'day'"):
        vec.backtest(df, **ONE, order_type="limit", limit_offset=0.02, tif="week")
