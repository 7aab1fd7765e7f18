"""The target-weight reference engine (tests/reference/portfolio.py): hand-worked scenarios, each
number worked out in the comments from the rules in the module's docstring, then properties on
random panels. Timestamps are bar numbers. No ml4t_vec here: this fixes the semantics the
kernel's ``weights=`` mode will be built to match."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from panels import weight_cases as cases
from reference import portfolio
from reference.engine import Bar, Panel
from reference.portfolio import WeightConfig

approx = pytest.approx


def make_panel(prices: dict) -> Panel:
    """prices: asset -> one entry per bar: a price (open = close), (open, close), or None (no row)."""
    n = max(len(v) for v in prices.values())
    bars = {}
    for a, seq in prices.items():
        bars[a] = {}
        for t, x in enumerate(seq):
            if x is None:
                continue
            o, c = (x, x) if not isinstance(x, tuple) else x
            bars[a][t] = Bar(float(o), float(max(o, c)), float(min(o, c)), float(c))
    return Panel(list(range(n)), sorted(prices), bars)


# the base panel: flat bars (open = high = low = close)
#   t:   0    1    2    3    4    5
#   A:  100  100  125  150  150  160
#   B:   50   50   50   40   40   40
#   C:   20   20   20   20   20   25
P = make_panel(
    dict(
        A=[100, 100, 125, 150, 150, 160],
        B=[50, 50, 50, 40, 40, 40],
        C=[20, 20, 20, 20, 20, 25],
    )
)


def run(panel, weights, rebalance, **cfg):
    cfg.setdefault("init_cash", 10_000.0)
    return portfolio.run(panel, WeightConfig(**cfg), weights, rebalance)


def fills(res, *cols):
    cols = cols or ("timestamp", "symbol", "side", "effect", "quantity", "price")
    return [tuple(f[c] for c in cols) for f in res["fills"]]


def rejected(res):
    cols = ("timestamp", "symbol", "side", "effect", "reason", "requested_quantity", "filled_quantity", "price")
    return [tuple(r[c] for c in cols) for r in res["rejected"]]


def trade(res, symbol, status):
    rows = [t for t in res["trades"] if t["symbol"] == symbol and t["status"] == status]
    assert len(rows) == 1, rows
    return rows[0]


def check_identity(res, init=10_000.0):
    final = res["equity"][-1]["equity"]
    assert sum(t["pnl"] for t in res["trades"]) == approx(final - init, rel=0, abs=1e-9 * init)


# -- scenarios ---------------------------------------------------------------------------------


def test_rebalance_with_drift():
    """Rebalance at bars 0 and 3 to A .3 / B .3 / C .4, whole shares, next open, no costs."""
    w = {"A": {0: 0.3, 3: 0.3}, "B": {0: 0.3, 3: 0.3}, "C": {0: 0.4, 3: 0.4}}
    res = run(P, w, [0, 3], init_cash=30_000.0, fractional=False)
    # bar 0: E = 30,000: A .3*30000/100 = 90, B 9000/50 = 180, C 12000/20 = 600; they fill at
    # bar 1's open (100/50/20): 9000 + 9000 + 12000 = 30,000 = the buying power, cash 0.
    # bar 3 (closes 150/40/20): E = 90*150 + 180*40 + 600*20 = 13500 + 7200 + 12000 = 32,700;
    # drifted weights A .413, B .220, C .367. Targets: A 9810/150 = 65.4 -> 65 (sell 25),
    # B 9810/40 = 245.25 -> 245 (buy 65), C 13080/20 = 654 (buy 54). Bar 4's open: the sale
    # first (+3750 cash), then the buys 65*40 + 54*20 = 3680 <= 3750 available.
    assert fills(res) == [
        (1, "A", "buy", "entry", 90, 100),
        (1, "B", "buy", "entry", 180, 50),
        (1, "C", "buy", "entry", 600, 20),
        (4, "A", "sell", "reduce", 25, 150),
        (4, "B", "buy", "increase", 65, 40),
        (4, "C", "buy", "increase", 54, 20),
    ]
    assert [f["position_id"] for f in res["fills"]] == [0, 1, 2, 0, 1, 2]
    assert res["rejected"] == []
    # A's partial row: 25 shares 100 -> 150 = 1250, entered on A's bar 2 (count 2), sold on its
    # bar 5 -> bars_held 3
    a = trade(res, "A", "partial")
    assert (a["quantity"], a["entry_price"], a["exit_price"], a["pnl"], a["bars_held"]) == (25, 100, 150, 1250, 3)
    assert a["entry_time"] == 1 and a["exit_time"] == 4
    # B's average cost (180*50 + 65*40) / 245 = 11600/245; open at 40: 9800 - 11600 = -1800
    b = trade(res, "B", "open")
    assert b["entry_price"] == approx(11600 / 245)
    assert b["pnl"] == approx(-1800)
    assert b["entry_time"] == 1  # the first fill's
    assert trade(res, "A", "open")["pnl"] == approx(65 * 60)  # 65 shares 100 -> 160
    assert trade(res, "C", "open")["pnl"] == approx(654 * 5)  # 20 -> 25
    # final: cash 3750 - 3680 = 70 + 65*160 + 245*40 + 654*25 = 36,620 = 30,000 + 1250 + 3900 - 1800 + 3270
    assert res["equity"][-1]["equity"] == approx(36_620)
    assert res["equity"][-1]["cash"] == approx(70)
    check_identity(res, 30_000.0)
    pos = {p["symbol"]: p for p in res["positions"]}
    assert pos["A"]["realized_pnl"] == approx(1250) and pos["A"]["pnl"] == approx(1250 + 3900)
    assert pos["A"]["max_quantity"] == 90 and pos["A"]["status"] == "open" and pos["A"]["exit_time"] is None


def test_partial_reduction_fees_pro_rata():
    """A .5 at bar 0, .25 at bar 2; fees 0.1 % + 1 fixed, slippage 1 %, whole shares."""
    res = run(P, {"A": {0: 0.5, 2: 0.25}}, [0, 2], fractional=False, fees=0.001, fixed_fees=1.0, slippage=0.01)
    # bar 0: 5000/100 = 50 shares; bar 1's open 100 -> buy at 101: fee 50*101*.001 + 1 = 6.05,
    # slippage 50; cash 10000 - 5050 - 6.05 = 4943.95.
    # bar 2 (close 125): E = 4943.95 + 6250 = 11193.95; target 2798.4875/125 = 22.39 -> 22: sell 28
    # at bar 3's open 150 -> 148.5: fee 28*148.5*.001 + 1 = 5.158, slippage 42.
    assert fills(res, "timestamp", "effect", "quantity", "price", "fees", "slippage") == [
        (1, "entry", 50, 101, approx(6.05), approx(50)),
        (3, "reduce", 28, 148.5, approx(5.158), approx(42)),
    ]
    p = trade(res, "A", "partial")
    # entry fees pro rata 6.05 * 28/50 = 3.388; fees 3.388 + 5.158 = 8.546;
    # pnl (148.5 - 101) * 28 - 8.546 = 1330 - 8.546 = 1321.454
    assert p["quantity"] == 28 and p["entry_price"] == 101 and p["exit_price"] == 148.5
    assert p["fees"] == approx(8.546)
    assert p["gross_pnl"] == approx(1330)
    assert p["pnl"] == approx(1321.454)
    assert p["entry_slippage"] == approx(28) and p["exit_slippage"] == approx(42)
    # range since the entry: fill 101, bar 1 (100), bar 2 (125), the exit 148.5
    assert p["mfe"] == approx(148.5 / 101 - 1) and p["mae"] == approx(100 / 101 - 1)
    assert p["bars_held"] == 2
    # the rest: 22 shares with 6.05 - 3.388 = 2.662 entry fees and 22 of slippage, open at 160:
    # (160 - 101) * 22 - 2.662 = 1295.338
    o = trade(res, "A", "open")
    assert (o["quantity"], o["fees"], o["entry_slippage"]) == (22, approx(2.662), approx(22))
    assert o["pnl"] == approx(1295.338)
    # cash 4943.95 + 4158 - 5.158 = 9096.792; + 22*160 = 12,616.792
    assert res["equity"][-1]["equity"] == approx(12_616.792)
    check_identity(res)
    (pos,) = res["positions"]
    assert pos["realized_pnl"] == approx(1321.454) and pos["pnl"] == approx(2616.792)
    assert pos["fees"] == approx(6.05 + 5.158)  # every fee the position paid
    assert pos["max_quantity"] == 50 and pos["status"] == "open"


def test_flip_splits_the_order_fee():
    """Long A, then a short target: one order, two fills, fees split by quantity."""
    res = run(P, {"A": {0: 0.5, 2: -0.2}}, [0, 2], fractional=False, fees=0.001, fixed_fees=2.0)
    # bar 0: 50 shares at bar 1's open 100, fee 5 + 2 = 7, cash 4993.
    # bar 2 (close 125): E = 4993 + 6250 = 11243; target -2248.6/125 = -17.99 -> -17 (toward zero).
    # bar 3's open 150: sell 50 + 17 = 67; the order's fee 67*150*.001 + 2 = 12.05, split 50/67 and 17/67
    fx, fn = 12.05 * 50 / 67, 12.05 * 17 / 67
    assert fills(res, "timestamp", "side", "effect", "quantity", "price", "fees", "position_id") == [
        (1, "buy", "entry", 50, 100, approx(7), 0),
        (3, "sell", "exit", 50, 150, approx(fx), 0),
        (3, "sell", "entry", 17, 150, approx(fn), 1),
    ]
    closed = trade(res, "A", "closed")
    # (150 - 100) * 50 - (7 + 8.9925) = 2484.0075
    assert closed["pnl"] == approx(2500 - 7 - fx)
    assert closed["mfe"] == approx(0.5) and closed["mae"] == approx(0.0)  # range 100 .. 150
    short = trade(res, "A", "open")
    # -17 from 150, open at 160: -170 - 3.0575
    assert short["quantity"] == -17 and short["entry_time"] == 3 and short["position_id"] == 1
    assert short["pnl"] == approx(-170 - fn)
    assert short["bars_held"] == 2 and short["mae"] == approx(1 - 160 / 150) and short["mfe"] == approx(0.0)
    # cash 4993 + 7500 + 2550 - 12.05 = 15,030.95; equity 15030.95 - 17*160 = 12,310.95
    assert res["equity"][-1]["equity"] == approx(12_310.95)
    check_identity(res)
    assert [(p["position_id"], p["direction"], p["status"], p["exit_time"]) for p in res["positions"]] == [
        (0, "long", "closed", 3),
        (1, "short", "open", None),
    ]


W_SHORT = {"A": {0: 0.5}, "B": {0: 0.3}, "C": {0: 0.2}}  # the research note's example (§2.4)


@pytest.mark.parametrize(
    "shortfall, priority, expected, rows",
    [
        # need 50*100.1 + 60*50.05 + 100*20.02 = 5005 + 3003 + 2002 = 10,010 > 10,000.
        # scale: s = 10000/10010; A 49.95 -> 49, B 59.94 -> 59, C 99.9 -> 99 (bt's result; 160.17 left)
        (
            "scale",
            None,
            [49, 59, 99],
            [("A", "reduced_cash", 50, 49), ("B", "reduced_cash", 60, 59), ("C", "reduced_cash", 100, 99)],
        ),
        # priority in asset order: A 5005, B 3003, then (10000 - 8008)/20.02 = 99.5 -> 99 (ml4t's result)
        ("priority", None, [50, 60, 99], [("C", "reduced_cash", 100, 99)]),
        # priority C, B, A: C 2002, B 3003, then 4995/100.1 = 49.9 -> 49 (vectorbt's call_seq="auto")
        ("priority", {"C": 3, "B": 2, "A": 1}, [49, 60, 100], [("A", "reduced_cash", 50, 49)]),
        # reject: A and B fit, C (2002 > 1992 left) is refused whole
        ("reject", None, [50, 60, 0], [("C", "insufficient_cash", 100, 0)]),
        ("reject", {"C": 3, "B": 2}, [0, 60, 100], [("A", "insufficient_cash", 50, 0)]),
    ],
)
def test_shortfall(shortfall, priority, expected, rows):
    res = run(P, W_SHORT, [0], fractional=False, fees=0.001, fill="same_close", shortfall=shortfall,
              priority=priority)  # fmt: skip
    got = {f["symbol"]: f["quantity"] for f in res["fills"]}
    assert [got.get(a, 0) for a in "ABC"] == expected
    assert [(r[1], r[4], r[5], r[6]) for r in rejected(res)] == rows
    assert all(r["effect"] == "entry" and r["timestamp"] == 0 and r["side"] == "buy" for r in res["rejected"])
    spent = sum(q * p * 1.001 for q, p in zip(expected, (100, 50, 20), strict=True))
    assert res["equity"][0]["cash"] == approx(10_000 - spent)
    if priority is not None:  # fills listed in the order they were processed
        order = [f["symbol"] for f in res["fills"]]
        assert order == sorted(order, key=lambda a: -priority.get(a, -1))


def test_reject_tries_the_next_increase():
    # A .5 (5005) fits, B .5 (5005 > 4995 left) is refused, C .04 = 20 shares (400.4) still fits
    w = {"A": {0: 0.5}, "B": {0: 0.5}, "C": {0: 0.04}}
    res = run(P, w, [0], fractional=False, fees=0.001, fill="same_close", shortfall="reject")
    assert fills(res, "symbol", "quantity") == [("A", 50), ("C", 20)]
    assert rejected(res) == [(0, "B", "buy", "entry", "insufficient_cash", 100, 0, 50)]


def test_flip_new_side_cut_by_cash():
    """A flip's closing part always fills; its new side competes for the cash like any increase.
    Same close, no proportional fees, a fixed fee of 1 per order."""
    w = {"A": {0: 0.5, 1: -0.5}, "B": {1: 1.0}}
    # bar 0: A 50 at 100, fee 1: cash 4999. Bar 1: E = 4999 + 5000 = 9999: A -49.995 -> -49,
    # B 199.98 -> 199. Step (a): sell 50 A at 100, fee 1 (the order's fixed fee): cash 9998 = buying power.
    # priority B first: 199*50 + 1 = 9951 fits, 47 left; A's short 49*100 > 47, 47/100 -> 0 shares.
    res = run(P, w, [0, 1], fractional=False, fixed_fees=1.0, fill="same_close", shortfall="priority",
              priority={"B": 1})  # fmt: skip
    assert fills(res, "timestamp", "symbol", "effect", "quantity", "fees") == [
        (0, "A", "entry", 50, 1),
        (1, "A", "exit", 50, 1),  # keeps the whole fee: the new side got nothing
        (1, "B", "entry", 199, 1),
    ]
    assert rejected(res) == [(1, "A", "sell", "entry", "insufficient_cash", 49, 0, 100)]
    # scale: s = (9998 - 1) / (199*50 + 49*100) = 9997/14850; B 133.97 -> 133, A 32.99 -> 32.
    # The flip's order pays 1 fixed fee for 50 + 32 shares: 50/82 to the exit, 32/82 to the entry.
    res = run(P, w, [0, 1], fractional=False, fixed_fees=1.0, fill="same_close")
    assert fills(res, "timestamp", "symbol", "effect", "quantity", "fees") == [
        (0, "A", "entry", 50, 1),
        (1, "A", "exit", 50, approx(50 / 82)),
        (1, "A", "entry", 32, approx(32 / 82)),
        (1, "B", "entry", 133, 1),
    ]
    assert rejected(res) == [
        (1, "A", "sell", "entry", "reduced_cash", 49, 32, 100),
        (1, "B", "buy", "entry", "reduced_cash", 199, 133, 50),
    ]
    # cash 9998 + 3200 - 6650 - 1 = 6547
    assert res["equity"][1]["cash"] == approx(6547)
    check_identity(res)


@pytest.mark.parametrize(
    "rounding, lot, expected",
    [
        # raw targets: A .337*10000/100 = 33.7, B -.213*10000/50 = -42.6, C .251*10000/20 = 125.5
        ("floor", None, [33, -42, 125]),  # toward zero
        ("nearest", None, [34, -43, 126]),  # the delta from 0, half away from zero
        ("floor", 10, [30, -40, 120]),
        ("nearest", 10, [30, -40, 130]),  # 3.37 -> 3, 4.26 -> 4, 12.55 -> 13 lots
        ("floor", {"A": 5}, [30, -42, 125]),  # A: 6.74 -> 6 lots of 5; B, C whole shares
        ("nearest", {"A": 5}, [35, -43, 126]),  # A: 6.74 -> 7 lots
    ],
)
def test_rounding_and_lots(rounding, lot, expected):
    w = {"A": {0: 0.337, 1: 0.0}, "B": {0: -0.213, 1: 0.0}, "C": {0: 0.251, 1: 0.0}}
    res = run(P, w, [0, 1], fractional=False, fill="same_close", rounding=rounding, lot_size=lot)
    got = {f["symbol"]: (1 if f["side"] == "buy" else -1) * f["quantity"] for f in res["fills"] if f["timestamp"] == 0}
    assert [got[a] for a in "ABC"] == expected
    # a target of 0 closes exactly, whatever the quantum
    assert all(f["effect"] == "exit" for f in res["fills"] if f["timestamp"] == 1)
    assert [res["equity"][1]["gross_exposure"], len(res["positions"])] == [0.0, 3]


def test_nearest_rounds_the_delta_not_the_target():
    # bar 0 (A 100, E 10,000): .03 -> 3 shares. Bar 1 (E 10,000): .005 -> raw target 0.5, the delta
    # -2.5 rounds half away from zero to -3: flat (rounding the target would keep 1; floor keeps 0).
    # Bar 2 (A 125, E 10,000): .03125 -> raw 2.5 from 0 -> 3.
    w = {"A": {0: 0.03, 1: 0.005, 2: 0.03125}}
    res = run(P, w, [0, 1, 2], fractional=False, fill="same_close", rounding="nearest")
    assert fills(res, "timestamp", "effect", "quantity") == [(0, "entry", 3), (1, "exit", 3), (2, "entry", 3)]
    res = run(P, w, [0, 1, 2], fractional=False, fill="same_close")  # floor: 3, then 0, then 2
    assert fills(res, "timestamp", "effect", "quantity") == [(0, "entry", 3), (1, "exit", 3), (2, "entry", 2)]


@pytest.mark.parametrize(
    "thresholds, c_at_2", [(dict(min_weight_change=0.05), 0.0), (dict(min_trade_value=450.0), 0.01)]
)
def test_thresholds(thresholds, c_at_2):
    """Fractional shares, same close, no costs."""
    w = {"A": {0: 0.5, 2: 0.5, 3: 0.6}, "B": {0: 0.45, 2: 0.42, 3: 0.3}, "C": {0: 0.05, 2: c_at_2}}
    res = run(P, w, [0, 2, 3], fill="same_close", **thresholds)
    # bar 0: A 50, B 90, C 25 (5000 + 4500 + 500 = 10,000, each >= 450). Bar 2 (125/50/20):
    # E = 6250 + 4500 + 500 = 11,250; weights now A .556, B .400, C .044.
    #  A -> .5: |dw| .056 >= .05; 45 shares, sell 5 = 625 >= 450: trades.
    #  B -> .42: |dw| .02 < .05; 94.5 shares, +4.5*50 = 225 < 450: skipped.
    #  C -> 0, an explicit weight: |dw| .044 < .05: skipped (ml4t tests a weight; only an absent
    #  name is closed unconditionally). C -> .01: 5.625 shares, 19.375*20 = 387.5 < 450: skipped.
    # Bar 3 (150/40/20): E = 625 + 6750 + 3600 + 500 = 11,475; A .588 -> .6: |dw| .012, 45.9 shares
    #  (135); B .314 -> .3: |dw| .014, 86.06 shares (157.5): skipped. C null -> closed, whatever the thresholds.
    assert fills(res, "timestamp", "symbol", "effect", "quantity") == [
        (0, "A", "entry", 50),
        (0, "B", "entry", 90),
        (0, "C", "entry", 25),
        (2, "A", "reduce", 5),
        (3, "C", "exit", 25),
    ]
    # without thresholds everything trades
    res = run(P, w, [0, 2, 3], fill="same_close")
    assert {(f["timestamp"], f["symbol"]) for f in res["fills"]} >= {(2, "B"), (2, "C"), (3, "A"), (3, "B")}
    # a trade below min_trade_value is no entry either: C's 500 at bar 0 under 600
    res = run(P, w, [0], fill="same_close", min_trade_value=600.0)
    assert fills(res, "symbol") == [("A",), ("B",)]


# C has no row at bar 2 (flat bars otherwise)
GAP = make_panel(dict(A=[100] * 5, B=[50] * 5, C=[20, 20, None, 25, 25]))


def test_missing_flat_closes_hold_keeps():
    w = {"A": {0: 0.4, 2: 0.4}, "B": {0: 0.3, 2: 0.3}, "C": {0: 0.3}}
    # bar 0: A 40, B 60, C 150, all filled at bar 1's open (10,000). Bar 2: E = 10,000 (C at its
    # last close 20); A and B are at target (no order); C has no row: null.
    flat = run(GAP, w, [0, 2], fractional=False)
    # flat: C is closed at its next row's open (bar 3, 25): +750
    assert fills(flat)[3:] == [(3, "C", "sell", "exit", 150, 25)]
    assert trade(flat, "C", "closed")["pnl"] == approx(750)
    hold = run(GAP, w, [0, 2], fractional=False, missing="hold")
    assert len(hold["fills"]) == 3
    assert trade(hold, "C", "open")["pnl"] == approx(750)  # held to the last close, 25
    for res in (flat, hold):
        assert res["equity"][-1]["equity"] == approx(10_750)
        check_identity(res)


def test_missing_hold_keeps_a_pending_order():
    # C has no row at bar 1: bar 0's order for C waits. Bar 1's decision (C null):
    # flat cancels it (C is flat and stays flat); hold leaves it, and it fills at bar 2's open.
    panel = make_panel(dict(A=[100] * 4, B=[50] * 4, C=[20, None, 20, 20]))
    w = {"A": {0: 0.4, 1: 0.4}, "B": {0: 0.3, 1: 0.3}, "C": {0: 0.3}}
    flat = run(panel, w, [0, 1], fractional=False)
    assert fills(flat, "timestamp", "symbol", "quantity") == [(1, "A", 40), (1, "B", 60)]
    hold = run(panel, w, [0, 1], fractional=False, missing="hold")
    # bar 2: buying power 10,000 - 7,000 = 3,000 = 150 * 20
    assert fills(hold, "timestamp", "symbol", "quantity") == [(1, "A", 40), (1, "B", 60), (2, "C", 150)]
    assert flat["rejected"] == hold["rejected"] == []


def test_no_next_bar():
    # C's data ends at bar 2
    panel = make_panel(dict(A=[100, 100, 125, 150, 150, 160], B=[50] * 6, C=[20, 20, 20]))
    w = {"A": {0: 0.5, 2: 0.5, 5: 0.5}, "C": {0: 0.5, 2: -0.2}}
    res = run(panel, w, [0, 2, 5], fractional=False, missing="hold")
    # bar 0: A 50, C 250 (bar 1). Bar 2 (125, 20): E = 6250 + 5000 = 11,250: A 45 (sell 5 at bar
    # 3's open 150); C -2250/20 = -112.5 -> -112: a flip that never fills (C has no bar 3).
    # Bar 5 (A 160): E = 750 + 7200 + 5000 = 12,950: A 6475/160 = 40.47 -> 40, sell 5: no bar 6.
    # C is null at bar 5 (no row) and missing="hold": its flip stays pending to the end.
    assert rejected(res) == [
        (5, "A", "sell", "reduce", "no_next_bar", 5, 0, None),
        (2, "C", "sell", "exit", "no_next_bar", 250, 0, None),
        (2, "C", "sell", "entry", "no_next_bar", 112, 0, None),
    ]
    # the positions are kept: A 45 open at 160 (2700), C 250 at its last close 20 (bar 2)
    assert trade(res, "A", "open")["quantity"] == 45
    c = trade(res, "C", "open")
    assert (c["quantity"], c["exit_time"], c["exit_price"], c["pnl"]) == (250, 2, 20, 0)
    assert res["equity"][-1]["equity"] == approx(12_950)
    check_identity(res)


# opens differ from the decision's close
#   A: close 100, then open 110; B: close 50, then open 40
S = make_panel(dict(A=[100, 110, 110], B=[50, 40, 40], C=[20, 20, 20]))


def test_size_at_decision_vs_fill():
    w = {"A": {0: 0.5}, "B": {0: 0.5}}
    # decision: 5000/100 = 50 A, 5000/50 = 100 B, filled at 110 and 40: 5500 + 4000, weights .55 / .40
    res = run(S, w, [0], fractional=False)
    assert fills(res, "symbol", "quantity", "price") == [("A", 50, 110), ("B", 100, 40)]
    # fill: E at the open = 10,000; 5000/110 = 45.45 -> 45 A, 5000/40 = 125 B: weights .495 / .5
    res = run(S, w, [0], fractional=False, size_at="fill")
    assert fills(res, "symbol", "quantity", "price") == [("A", 45, 110), ("B", 125, 40)]
    # fractional: exactly .5 / .5 of the equity at the fill
    res = run(S, w, [0], size_at="fill")
    assert [f["quantity"] * f["price"] for f in res["fills"]] == [approx(5000), approx(5000)]


def test_fill_timing_and_same_close():
    # A: close 100; then open 104, close 108; C has no row at bar 1
    panel = make_panel(dict(A=[100, (104, 108), 110], B=[50, 50, 50], C=[20, None, (22, 24)]))
    w = {"A": {0: 0.5, 1: 0.5}, "C": {0: 0.5}}
    timing = {}
    for fill in ("next_open", "next_close", "same_close"):
        res = run(panel, w, [0], fractional=False, fill=fill)
        timing[fill] = [f[:2] + f[4:] for f in fills(res) if f[1] == "A"]
    assert timing == {
        "next_open": [(1, "A", 50, 104)],  # sized at the decision close 100, filled at bar 1's open
        "next_close": [(1, "A", 50, 108)],
        "same_close": [(0, "A", 50, 100)],
    }
    # same_close with a decision at bar 1, where C has no row: E = 5400 + 5000 = 10,400; A 5200/108
    # = 48.1 -> 48 (sell 2 at 108); C null -> closed at the close of its next row (bar 2, 24), not its open
    res = run(panel, w, [0, 1], fractional=False, fill="same_close")
    assert fills(res) == [
        (0, "A", "buy", "entry", 50, 100),
        (0, "C", "buy", "entry", 250, 20),
        (1, "A", "sell", "reduce", 2, 108),
        (2, "C", "sell", "exit", 250, 24),
    ]
    assert trade(res, "C", "closed")["pnl"] == approx(1000)


def test_bad_inputs():
    with pytest.raises(ValueError, match="rebalance"):
        run(P, {}, [7])
    with pytest.raises(ValueError, match="shortfall"):
        run(P, {}, [0], shortfall="allow")


# -- properties --------------------------------------------------------------------------------


def engine(case):
    panel, weights, rebalance, cfg = case
    ref = portfolio.WeightReference(panel, WeightConfig(**cfg), weights, rebalance)
    return ref, ref.run()


@given(cases())
def test_pnl_identity_and_positions(case):
    ref, res = engine(case)
    init = case[3]["init_cash"]
    final = res["equity"][-1]["equity"]
    tol = 1e-9 * init
    # every row's pnl sums to the equity change, less the net interest the cash paid
    assert sum(t["pnl"] for t in res["trades"]) - res["interest"] == approx(final - init, rel=0, abs=tol)
    assert sum(t["fees"] for t in res["trades"]) == approx(sum(f["fees"] for f in res["fills"]), rel=0, abs=tol)
    assert sum(p["pnl"] for p in res["positions"]) - res["interest"] == approx(final - init, rel=0, abs=tol)
    # one position per entry fill, each closed one with exactly one closed row, each open one with one open row
    assert len(res["positions"]) == sum(f["effect"] == "entry" for f in res["fills"])
    for p in res["positions"]:
        legs = [t["status"] for t in res["trades"] if t["position_id"] == p["position_id"]]
        assert legs.count("closed" if p["status"] == "closed" else "open") == 1
        assert set(legs) <= {"partial", p["status"]}
    for t in res["trades"]:
        assert t["mfe"] >= -1e-12 and t["mae"] <= 1e-12 and t["bars_held"] >= 0
    for e in res["equity"]:
        assert e["equity"] == approx(e["cash"] + e["net_exposure"], rel=1e-12, abs=1e-9)


@given(cases())
def test_fills_add_up_to_the_position(case):
    ref, res = engine(case)
    panel = case[0]
    running = dict.fromkeys(panel.assets, 0.0)
    by_time = {}
    for f in res["fills"]:
        assert f["quantity"] > 0
        by_time.setdefault(f["timestamp"], []).append(f)
    for t in panel.timestamps:
        for f in by_time.get(t, []):
            running[f["symbol"]] += f["quantity"] if f["side"] == "buy" else -f["quantity"]
        for a in panel.assets:
            assert running[a] == approx(ref.holdings[(a, t)], rel=1e-12, abs=1e-9)
    open_rows = {t["symbol"]: t["quantity"] for t in res["trades"] if t["status"] == "open"}
    for a in panel.assets:
        assert running[a] == approx(open_rows.get(a, 0.0), rel=1e-12, abs=1e-9)
    for r in res["rejected"]:
        assert r["reason"] in ("reduced_cash", "insufficient_cash", "no_next_bar", "max_drawdown", "daily_loss_limit",
                               "max_positions")  # fmt: skip
        if r["reason"] == "reduced_cash":
            assert 0 < r["filled_quantity"] < r["requested_quantity"]


@given(cases(), st.randoms(use_true_random=False))
def test_scale_does_not_depend_on_asset_order(case, rnd):
    panel, weights, rebalance, cfg = case
    # vectorbt's call order is by value; a top_k breaks ties by asset name and max_positions admits new
    # names in asset order, both of which the renaming changes; so do commission tiers (the orders
    # filled before another count toward its tier)
    cfg = dict(cfg, shortfall="scale", priority=None, cash_rule="equity", top_k=None, max_positions=None)
    cfg.pop("commission_tiers", None)
    names = [f"T{i}" for i in range(len(panel.assets))]
    rnd.shuffle(names)
    rename = dict(zip(panel.assets, names, strict=True))
    back = {v: k for k, v in rename.items()}
    permuted = Panel(panel.timestamps, sorted(names), {rename[a]: b for a, b in panel.bars.items()}, panel.day)
    w2 = {rename[a]: w for a, w in weights.items()}
    # settings by asset (lot sizes, costs) follow the renamed assets
    cfg2 = {k: {rename[a]: x for a, x in v.items()} if isinstance(v, dict) else v for k, v in cfg.items()}
    _, a = engine((panel, weights, rebalance, cfg))
    _, b = engine((permuted, w2, rebalance, cfg2))

    def rows(res, key, cols, rename=None):
        out = []
        for r in res[key]:
            sym = rename[r["symbol"]] if rename else r["symbol"]
            values = (-1.0 if r[c] is None else r[c] for c in cols)  # None: an order never sized
            out.append((r["timestamp"], sym, r.get("effect"), r.get("reason"), *values))
        return sorted(out, key=lambda x: x[:4])

    for key, cols in (
        ("fills", ("quantity", "price", "fees")),
        ("rejected", ("requested_quantity", "filled_quantity")),
    ):
        x, y = rows(a, key, cols), rows(b, key, cols, back)
        assert [r[:4] for r in x] == [r[:4] for r in y]
        for r, s in zip(x, y, strict=True):
            assert list(r[4:]) == approx(list(s[4:]), rel=1e-9, abs=1e-9)
    assert [e["equity"] for e in a["equity"]] == approx([e["equity"] for e in b["equity"]], rel=1e-9)


@given(cases(gaps=False, costs=False, rules=False, limits=False))
def test_exact_weights_when_sized_at_the_fill(case):
    """Zero costs, fractional shares, sized at the next open, every asset trading every bar,
    gross target weight <= 1: after the open's fills each asset holds exactly its target weight."""
    panel, weights, rebalance, cfg = case
    for t in panel.timestamps:  # scale each bar's weights down to a gross of at most 1
        ws = {a: weights[a][t] for a in panel.assets if weights[a].get(t) is not None and not math.isnan(weights[a][t])}
        gross = sum(abs(w) for w in ws.values())
        if gross > 1:
            for a, w in ws.items():
                weights[a][t] = w / gross
    cfg = dict(cfg, fractional=True, size_at="fill", fill="next_open", missing="flat", lot_size=None,
               max_gross_leverage=None, top_k=None, custom_price=False, max_position_weight=None)  # fmt: skip
    if cfg["cash_rule"] == "ml4t":  # ml4t-backtest sizes whole shares, rounded to the nearest: not exact weights
        cfg.update(cash_rule="equity", shortfall="scale")
    ref, res = engine((panel, weights, rebalance, cfg))
    assert {r["reason"] for r in res["rejected"]} <= {"no_next_bar"}
    bars = panel.bars
    for t in rebalance:
        if t == panel.timestamps[-1]:
            continue
        f = t + 1
        cash = next(e["cash"] for e in res["equity"] if e["timestamp"] == f)
        equity = cash + sum(ref.holdings[(a, f)] * bars[a][f].open for a in panel.assets)
        if equity <= 0:
            continue
        for a in panel.assets:
            w = weights[a].get(t)
            w = 0.0 if w is None or math.isnan(w) else w
            assert ref.holdings[(a, f)] * bars[a][f].open / equity == approx(w, rel=1e-9, abs=1e-12), (a, t)


ML4T = dict(cash_rule="ml4t", shortfall="priority", rounding="nearest", fractional=False, fees=0.001)


def test_ml4t_sells_fund_the_buys_and_the_last_buy_gets_what_fits():
    """cash_rule="ml4t" (ml4t-backtest 0.2.0's TargetWeightExecutor and broker; every number also
    produced by running the engine on this panel). Bar 0, E = 10,000: A 1.3 is clipped to 1.0 ->
    100 shares, B -0.5 -> -100, C 0.5 -> 250; they fill at bar 1's open. The sell first: B's
    short needs 5000 <= 10000 - 5 + 0.01 in cash, and brings 5000 - 5 in: cash 14995. Then the
    buys in asset order: A 10000 + 10 fits (cash 4985); C 250 * 20.02 = 5005 > 4985.01, so the
    largest whole number that fits: 249 (4984.98), cash 0.02. In asset order without the sells
    first, A would have been cut to 99 and B's short to what 90.1 of cash covers."""
    w = {"A": {0: 1.3}, "B": {0: -0.5}, "C": {0: 0.5}}
    res = run(P, w, [0], **ML4T)
    assert fills(res, "timestamp", "symbol", "side", "quantity", "fees") == [
        (1, "B", "sell", 100, approx(5.0)),
        (1, "A", "buy", 100, approx(10.0)),
        (1, "C", "buy", 249, approx(4.98)),
    ]
    assert rejected(res) == [(1, "C", "buy", "entry", "reduced_cash", 250, 249, 20)]
    assert res["equity"][1]["cash"] == approx(0.02, abs=1e-9)
    check_identity(res)


def test_ml4t_slippage_recheck_rejects_the_cut_order_whole():
    """Slippage 1%: A 1.5 -> 1.0 -> 100 shares at ref 100: 10,000 + 10 > 10,000.01, cut to 99
    (9909.9 fits at the reference price); at the executed price 101, 99 * 101 * 1.001 =
    10008.999 does not, so the broker rejects the order whole. B 0.3 -> 60 fills at 50.5."""
    w = {"A": {0: 1.5}, "B": {0: 0.3}}
    res = run(P, w, [0], slippage=0.01, **ML4T)
    assert fills(res, "symbol", "quantity", "price", "fees") == [("B", 60, approx(50.5), approx(3.03))]
    assert rejected(res) == [(1, "A", "buy", "entry", "insufficient_cash", 100, 0, 100)]


def test_ml4t_reversal_is_one_order_checked_on_the_cash_after_its_close():
    """Bar 0: A 1.0 -> 100 shares, cut to 99 at bar 1's open (cash 90.1). Bar 1: E = 90.1 + 9900
    = 9990.1, A -1.0 -> -99.901, the change -198.901 rounds to -199 (the change to the nearest
    share). Bar 2's open 125: one order of 199, fee 24.875; the cash after its close, 90.1 +
    99 * 125 - 24.875 = 12440.225, must cover the new short 100 * 125 = 12500: no. The largest
    that fits: 99 + k with 125.125 k <= 12452.735 -> k = 99, 198 shares, fee 24.75 split by
    shares: 12.375 for the close, 12.375 for the new short; cash 24815.35."""
    w = {"A": {0: 1.0, 1: -1.0}}
    res = run(P, w, [0, 1], **ML4T)
    assert fills(res, "timestamp", "side", "effect", "quantity", "price", "fees") == [
        (1, "buy", "entry", 99, 100, approx(9.9)),
        (2, "sell", "exit", 99, 125, approx(12.375)),
        (2, "sell", "entry", 99, 125, approx(12.375)),
    ]
    assert rejected(res)[-1] == (2, "A", "sell", "entry", "reduced_cash", 199, 198, 125)
    assert res["equity"][2]["cash"] == approx(24815.35)
    check_identity(res)


def test_ml4t_sizing_details():
    """ml4t-backtest's _process_asset: min_trade_value tests the unrounded change E * dw (a
    change of 0.4 shares worth 40 passes a 30 threshold and then rounds to 0: no order; 0.6
    shares rounds to 1); with lots the change rounds half to even (round(2.5) = 2 lots); a
    weight of 0 is a change like any other (with lots, -7.9 lots round to -8 and leave -2), a
    null weight closes exactly."""
    ref = portfolio.WeightReference(P, WeightConfig(init_cash=10_000.0, **ML4T), {}, [])
    assert ref.ml4t_target("A", 0.004, False, 0.0, 10_000.0, 100.0) is None  # 0.4 shares -> 0
    assert ref.ml4t_target("A", 0.006, False, 0.0, 10_000.0, 100.0) == 1.0
    ref.c.min_trade_value = 70.0
    assert ref.ml4t_target("A", 0.006, False, 0.0, 10_000.0, 100.0) is None  # 60 < 70
    ref.c.min_trade_value, ref.c.lot_size = 0.0, 20
    assert ref.ml4t_target("A", 0.5, False, 0.0, 10_000.0, 100.0) == 40.0  # 50 / 20 = 2.5 -> 2 lots
    assert ref.ml4t_target("A", 0.7, False, 0.0, 10_000.0, 100.0) == 80.0  # 70 / 20 = 3.5 -> 4 lots
    assert ref.ml4t_target("A", 0.0, False, 158.0, 10_000.0, 100.0) == -2.0  # -158 / 20 = -7.9 -> -8 lots
    assert ref.ml4t_target("A", 0.0, True, 158.0, 10_000.0, 100.0) == 0.0  # a close_position
    assert ref.ml4t_target("A", 3.0, False, 0.0, 10_000.0, 100.0) == 100.0  # clipped to 1.0: 5 lots of 20


def test_drift_band_makes_a_bar_a_rebalance_bar():
    """Targets .5 / .3 / .2 bought at t=0's close (10,000: A 50 @100, B 60 @50, C 100 @20).
    t=2 (A 125): E = 6250 + 3000 + 2000 = 11250, A's weight .5556 (+11%), B .2667 and C .1778
    (-11%): inside a 20% band. t=3 (A 150, B 40): E = 7500 + 2400 + 2000 = 11900, A .6303:
    +26% > 20% (and B .2017: -33%), so t=3 rebalances to A 0.5 * 11900 / 150 = 39.667,
    B 89.25, C 119. Without a band only t=0 trades."""
    w = {a: dict.fromkeys(range(6), x) for a, x in (("A", 0.5), ("B", 0.3), ("C", 0.2))}
    res = run(P, w, [0], fill="same_close", drift_band=0.2)
    times = sorted({f["timestamp"] for f in res["fills"]})
    assert times[:2] == [0, 3]
    at3 = {f["symbol"]: (f["side"], f["quantity"]) for f in res["fills"] if f["timestamp"] == 3}
    assert at3["A"] == ("sell", approx(50 - 0.5 * 11900 / 150))
    assert at3["B"] == ("buy", approx(0.3 * 11900 / 40 - 60))
    assert at3["C"] == ("buy", approx(0.2 * 11900 / 20 - 100))
    assert {f["timestamp"] for f in run(P, w, [0], fill="same_close")["fills"]} == {0}
    check_identity(res)
