"""Hand-computed cases for the order model settings vectorbt needs: ``size_type="notional"``,
``percent_of="cash"``, ``reversal="one_order"`` and ``cash_rule="vectorbt"`` (README "Fill rules").
Every number is worked out in the comments; both drivers (independent columns, shared cash) must
give them."""

import polars as pl
import pytest
from test_golden import KW, D, frame, one

import ml4t_vec as vec

# bars (open, high, low, close); signals at bar t fill at bar t+1's open (the default timing)
JUMP = [(10, 11, 9, 10), (11, 12, 10, 12), (30, 31, 29, 30), (13, 14, 12, 13)]


@pytest.mark.parametrize("cash_sharing", [False, True])
def test_notional_is_size_over_the_reference_price(cash_sharing):
    res = vec.backtest(one({0: {"e": True}}), **(KW | dict(size=110.0, size_type="notional")), fees=0.01,
                       slippage=0.01, cash_sharing=cash_sharing)  # fmt: skip
    f = res.fills.row(0, named=True)
    # 110 / open 11 = 10 shares; slippage and fees on top: price 11.11, fees 10 * 11.11 * 1% = 1.111
    assert (f["quantity"], f["price"], f["fees"]) == (pytest.approx(10.0), pytest.approx(11.11), pytest.approx(1.111))
    # "value" 110 commits 110 fees included: 110 / (11.11 * 1.01) shares
    value = vec.backtest(one({0: {"e": True}}), **(KW | dict(size=110.0, size_type="value")), fees=0.01,
                         slippage=0.01, cash_sharing=cash_sharing)  # fmt: skip
    assert value.fills["quantity"][0] == pytest.approx(110 / (11.11 * 1.01))


def test_notional_inf_is_all_the_cash():
    res = vec.backtest(one({0: {"e": True}}), **(KW | dict(size=float("inf"), size_type="notional")), fees=0.01)
    # 1000 cash at 11 * 1.01 per share
    assert res.fills["quantity"][0] == pytest.approx(1000 / 11.11)
    assert res.rejected.height == 0  # an inf request is not "reduced"


def two_assets(sig: str):
    return frame({a: [(0, (10, 11, 9, 10), {sig: True}), (1, (11, 12, 10, 11), {}), (2, (11, 12, 10, 11), {})]
                  for a in ("A", "B")})  # fmt: skip


@pytest.mark.parametrize(("sig", "percent_of", "qb"), [
    # long: A commits 0.5 x 1000 = 500 (45.45 shares at 11); B then 0.5 x the 500 cash left = 250
    ("e", "cash", 250 / 11), ("e", "equity", 500 / 11),
    # short: A sells 0.5 x 1000 / 11; cash 1500, short debt 500, free cash 1500 - 2 x 500 = 500:
    # B sells 0.5 x 500 / 11; of equity (1000) B sells 500 / 11 like A
    ("se", "cash", 250 / 11), ("se", "equity", 500 / 11),
])  # fmt: skip
def test_percent_of_cash(sig, percent_of, qb):
    res = vec.backtest(two_assets(sig), **(KW | dict(size=0.5, size_type="percent")), percent_of=percent_of)
    q = dict(zip(res.fills["symbol"], res.fills["quantity"], strict=True))
    assert q["A"] == pytest.approx(500 / 11) and q["B"] == pytest.approx(qb)


@pytest.mark.parametrize("cash_sharing", [False, True])
@pytest.mark.parametrize("reversal", ["two_orders", "one_order"])
def test_reversal_fixed_fees_once(cash_sharing, reversal):
    res = vec.backtest(one({0: {"e": True}, 1: {"se": True}}), **KW, fees=0.01, fixed_fees=1.0, reversal=reversal,
                       cash_sharing=cash_sharing)  # fmt: skip
    # buy 10 at 11 (fee 10 * 11 * 1% + 1 = 2.1); reverse at bar 2's open 12:
    # one order: sell 20 at 12, fee 20 * 12 * 1% + 1 = 3.4, split by shares: 1.7 exit, 1.7 entry
    # two orders: exit 10 (fee 1.2 + 1 = 2.2) and entry 10 (2.2)
    fee = 1.7 if reversal == "one_order" else 2.2
    fills = res.fills.filter(pl.col("timestamp") == D[2])
    assert fills["effect"].to_list() == ["exit", "entry"] and fills["price"].to_list() == [12.0, 12.0]
    assert fills["quantity"].to_list() == [10.0, 10.0] and fills["fees"].to_list() == pytest.approx([fee, fee])
    first = res.trades.row(0, named=True)
    assert first["pnl"] == pytest.approx(10.0 - 2.1 - fee)  # (12 - 11) * 10 - fees
    assert res.trades.row(1, named=True)["fees"] == pytest.approx(fee)  # open short: its entry fees


@pytest.mark.parametrize("cash_sharing", [False, True])
def test_vectorbt_cover_cut_by_cash(cash_sharing):
    df = one({0: {"se": True}, 1: {"sx": True}}, bars=JUMP)
    res = vec.backtest(df, **(KW | dict(init_cash=100.0)), fixed_fees=1.0, cash_rule="vectorbt",
                       cash_sharing=cash_sharing)  # fmt: skip
    # short 10 at 11: cash 100 + 110 - 1 = 209. Cover at bar 2's open 30 needs 301: cut to
    # (209 - 1) / 30 = 6.9333 shares, fee 1; the trade takes 6.9333 / 10 of the entry fee
    q = 208 / 30
    t = res.trades.sort("exit_time")
    closed, rest = t.row(0, named=True), t.row(1, named=True)
    assert closed["quantity"] == pytest.approx(-q) and closed["exit_price"] == 30.0
    assert closed["fees"] == pytest.approx(q / 10 + 1.0)
    assert closed["pnl"] == pytest.approx(-(30 - 11) * q - q / 10 - 1.0)
    # the rest stays short with its entry bar and price, and the rest of the entry fee
    assert (rest["status"], rest["entry_time"], rest["entry_price"]) == ("open", D[1], 11.0)
    assert rest["quantity"] == pytest.approx(-(10 - q)) and rest["fees"] == pytest.approx(1 - q / 10)
    r = res.rejected.row(0, named=True)
    assert (r["effect"], r["reason"], r["requested_quantity"]) == ("exit", "reduced_cash", 10.0)
    assert r["filled_quantity"] == pytest.approx(q)
    assert res.equity["cash"][2] == pytest.approx(0.0, abs=1e-9)
    # the equity rule limits the short entry ((100 - 1) / 11 = 9 shares), never the exit
    plain = vec.backtest(df, **(KW | dict(init_cash=100.0)), fixed_fees=1.0, cash_sharing=cash_sharing)
    assert plain.trades["quantity"].to_list() == [-9.0] and plain.trades["status"][0] == "closed"


def test_vectorbt_refuses_a_sale_whose_proceeds_do_not_pay_the_fees():
    res = vec.backtest(one({0: {"e": True}, 1: {"x": True}}), **(KW | dict(size=1)), fixed_fees=20.0,
                       cash_rule="vectorbt")  # fmt: skip
    # buy 1 at 11 (fee 20); selling 1 at 12 would bring 12 < 20 in fees: refused, still open
    t = res.trades.row(0, named=True)
    assert t["status"] == "open" and res.fills.height == 1
    r = res.rejected.row(0, named=True)
    assert (r["side"], r["effect"], r["reason"], r["filled_quantity"]) == ("sell", "exit", "insufficient_cash", 0.0)


@pytest.mark.parametrize("cash_sharing", [False, True])
def test_vectorbt_stop_cut_by_cash_blocks_the_bar_and_is_checked_again(cash_sharing):
    # short 10 at 11 (cash 210), stop-loss 50% above the fill: 16.5. Bar 2 opens at 30, through the
    # stop: cover at the open, cut to 210 / 30 = 7 shares. Its long entry signal is ignored (a stop
    # bar). Bar 3 (open 13 > 16.5? no: low 12, high 14, stop 16.5 not reached): no exit.
    bars = [*JUMP[:3], (17, 18, 16, 17)]
    df = one({0: {"se": True}, 2: {"e": True}}, bars=bars)
    res = vec.backtest(df, **(KW | dict(init_cash=100.0)), stop_loss=0.5, cash_rule="vectorbt",
                       cash_sharing=cash_sharing)  # fmt: skip
    f = res.fills.sort("timestamp")
    assert f["quantity"].to_list() == pytest.approx([10.0, 7.0]) and f["reason"].to_list() == ["signal", "stop_loss"]
    # bar 3 reaches the stop again (high 18 >= 16.5, opened at 17 beyond it): 3 shares at 17 cost 51,
    # but the cash is 0: refused, recorded, still short
    rej = res.rejected.sort("timestamp")
    assert rej["reason"].to_list() == ["reduced_cash", "insufficient_cash"]
    assert rej["timestamp"].to_list() == [D[2], D[3]]
    assert res.trades.filter(pl.col("status") == "open")["quantity"].to_list() == pytest.approx([-3.0])
