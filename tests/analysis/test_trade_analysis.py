"""``ml4t_vec.analysis.analyze_trades``: hand-worked literal trades, real backtest results (group
sums equal the totals), empty frames with full schemas, and random frames against a plain Python
loop."""

import datetime as dt
import doctest
import math
import statistics
import zoneinfo

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from panels import same_metric

import ml4t_vec as vec
import ml4t_vec.analysis
from ml4t_vec.analysis import EXCURSIONS, METRICS, R_SUMMARY, TradeAnalysis, analyze_trades
from ml4t_vec.schema import TRADES, polars_schema

pytestmark = pytest.mark.filterwarnings("ignore::ml4t_vec.LookAheadWarning", "ignore::ml4t_vec.DataWarning")

D0 = dt.date(2024, 1, 1)  # a Monday
GROUPS = {
    "by_exit_reason": "exit_reason",
    "by_symbol": "symbol",
    "by_direction": "direction",
    "by_holding_period": "holding_period",
    "by_entry_month": "entry_month",
    "by_entry_weekday": "entry_weekday",
    "by_entry_hour": "entry_hour",
}


def _row(symbol, entry, pnl, *, qty=10.0, price=100.0, bars=1, mfe=0.0, mae=0.0, fees=0.0, reason="signal",
         status="closed", pid=0):  # fmt: skip
    """One trades row; pnl_percent and gross_pnl follow schema.TRADES from pnl, fees and size."""
    exit_ = entry + dt.timedelta(days=bars)
    return dict(symbol=symbol, position_id=pid, entry_time=entry, exit_time=exit_, entry_price=price,
                exit_price=price, quantity=qty, direction="long" if qty > 0 else "short", pnl=pnl,
                pnl_percent=pnl / (abs(qty) * price), gross_pnl=pnl + fees, fees=fees, entry_slippage=0.0,
                exit_slippage=0.0, bars_held=bars, mfe=mfe, mae=mae, exit_reason=reason, status=status)  # fmt: skip


def _frame(rows, time_dtype=pl.Date):
    return pl.DataFrame(rows, schema=polars_schema(TRADES, time_dtype))


def _day(n):
    return D0 + dt.timedelta(days=n)


HAND = [
    _row("A", _day(0), 100.0, bars=1, pid=0),  # Mon Jan
    _row("A", _day(1), -50.0, bars=5, reason="stop_loss", pid=1),  # Tue Jan
    _row("B", dt.date(2024, 2, 3), 30.0, qty=-10.0, bars=6, reason="take_profit", pid=2),  # Sat Feb
    _row("B", dt.date(2024, 2, 5), -20.0, qty=-10.0, bars=300, pid=3),  # Mon Feb
    _row("B", dt.date(2024, 3, 6), 0.0, bars=0, status="partial", pid=4),  # Wed Mar
    _row("A", dt.date(2024, 3, 7), 999.0, bars=2, reason="end_of_data", status="open", pid=5),  # Thu Mar
]


def _table(frame, key):
    """{key: (n_trades, n_wins, total_pnl, profit_factor)}."""
    cols = ["n_trades", "n_wins", "total_pnl", "profit_factor"]
    return {r[key]: tuple(r[c] for c in cols) for r in frame.iter_rows(named=True)}


def test_groups_by_hand():
    """Closed and partial rows count, the open one does not. Profit factor: wins / |losses|, inf
    without losses, 0 with neither. Buckets (1, 5, 21, 63, 252): 0 and 1 -> "0-1", 5 -> "2-5",
    6 -> "6-21", 300 -> ">252"."""
    ta = analyze_trades(_frame(HAND), n_best=2)
    o = ta.overall.row(0, named=True)
    assert o == pytest.approx(dict(n_trades=5, n_wins=2, win_rate=0.4, total_pnl=60.0, avg_pnl=12.0,
                                   avg_pnl_percent=0.012, avg_bars_held=62.4, profit_factor=130 / 70))  # fmt: skip
    inf = math.inf
    assert _table(ta.by_exit_reason, "exit_reason") == {
        "signal": (3, 1, 80.0, 5.0), "stop_loss": (1, 0, -50.0, 0.0), "take_profit": (1, 1, 30.0, inf)}  # fmt: skip
    assert _table(ta.by_symbol, "symbol") == {"A": (2, 1, 50.0, 2.0), "B": (3, 1, 10.0, 1.5)}
    assert _table(ta.by_direction, "direction") == {"long": (3, 1, 50.0, 2.0), "short": (2, 1, 10.0, 1.5)}
    assert ta.by_holding_period["holding_period"].to_list() == ["0-1", "2-5", "6-21", ">252"]
    assert ta.by_holding_period.schema["holding_period"] == pl.Enum(["0-1", "2-5", "6-21", "22-63", "64-252", ">252"])
    assert _table(ta.by_holding_period, "holding_period") == {
        "0-1": (2, 1, 100.0, inf),
        "2-5": (1, 0, -50.0, 0.0),
        "6-21": (1, 1, 30.0, inf),
        ">252": (1, 0, -20.0, 0.0),
    }
    assert _table(ta.by_entry_month, "entry_month") == {1: (2, 1, 50.0, 2.0), 2: (2, 1, 10.0, 1.5), 3: (1, 0, 0.0, 0.0)}
    assert ta.by_entry_weekday["entry_weekday"].to_list() == [1, 2, 3, 6]  # Monday = 1
    assert _table(ta.by_entry_weekday, "entry_weekday")[1] == (2, 1, 80.0, 5.0)
    assert ta.by_entry_hour.height == 0 and ta.by_entry_hour.columns == ["entry_hour", *METRICS]  # Date: no hours
    assert ta.best["pnl"].to_list() == [100.0, 30.0] and ta.worst["pnl"].to_list() == [-50.0, -20.0]
    assert ta.best.columns == list(TRADES) and ta.r_multiples is None and ta.r_summary is None
    # other buckets: labels from the bounds, a bound 0 is its own bucket
    tb = analyze_trades(_frame(HAND), holding_buckets=(0, 5))
    assert _table(tb.by_holding_period, "holding_period") == {
        "0": (1, 0, 0.0, 0.0), "1-5": (2, 1, 50.0, 2.0), ">5": (2, 1, 10.0, 1.5)}  # fmt: skip


def test_include_open():
    ta = analyze_trades(_frame(HAND), include_open=True)
    assert ta.overall.row(0, named=True)["n_trades"] == 6 and ta.overall["total_pnl"].item() == 1059.0
    assert _table(ta.by_exit_reason, "exit_reason")["end_of_data"] == (1, 1, 999.0, math.inf)
    assert ta.best["status"].to_list()[0] == "open"
    only_open = analyze_trades(_frame(HAND[-1:]))
    assert only_open.overall["n_trades"].item() == 0 and only_open.by_symbol.height == 0


def test_entry_calendar_is_local_to_the_time_zone():
    """2024-01-02 03:00 UTC is Monday 22:00 in New York; 2024-04-01 03:30 UTC is Sunday 31 March
    23:30 there: weekday, month and hour are read in the column's own zone."""
    ny = "America/New_York"
    utc = [dt.datetime(2024, 1, 2, 3, 0), dt.datetime(2024, 4, 1, 3, 30)]
    local = [t.replace(tzinfo=dt.UTC).astimezone(zoneinfo.ZoneInfo(ny)) for t in utc]
    rows = [_row("A", local[0], 5.0), _row("A", local[1], -1.0)]
    ta = analyze_trades(_frame(rows, pl.Datetime("us", ny)))
    assert _table(ta.by_entry_weekday, "entry_weekday") == {1: (1, 1, 5.0, math.inf), 7: (1, 0, -1.0, 0.0)}
    assert ta.by_entry_month["entry_month"].to_list() == [1, 3]
    assert ta.by_entry_hour["entry_hour"].to_list() == [22, 23]
    assert ta.by_entry_hour.schema["entry_hour"] == pl.Int8
    # naive Datetime: hours as stored; all entries at midnight (daily bars as Datetime): no hour table
    naive = [_row("A", dt.datetime(2024, 1, 1, 9, 30), 1.0), _row("A", dt.datetime(2024, 1, 2), 1.0)]
    assert analyze_trades(_frame(naive, pl.Datetime("ns"))).by_entry_hour["entry_hour"].to_list() == [0, 9]
    midnight = [_row("A", dt.datetime(2024, 1, d), 1.0) for d in (1, 2, 3)]
    assert analyze_trades(_frame(midnight, pl.Datetime("ms"))).by_entry_hour.height == 0


def test_excursions_by_hand():
    """gross_return = gross_pnl / notional (notional 1000): 0.05, -0.03, -0.04 and 0.02 (a short).
    mfe capture: 0.05 / 0.10, -0.03 / 0.01, (mfe 0: left out), 0.02 / 0.03. MAE recovery of the
    losers: (-0.03 + 0.06) / 0.06 = 0.5 and (-0.04 + 0.04) / 0.04 = 0. Fees make the first row's
    net pnl 45, its excursion numbers stay gross."""
    rows = [
        _row("A", _day(0), 45.0, fees=5.0, mfe=0.10, mae=-0.02),
        _row("A", _day(1), -30.0, mfe=0.01, mae=-0.06),
        _row("B", _day(2), -40.0, mfe=0.0, mae=-0.04),
        _row("B", _day(3), 20.0, qty=-10.0, mfe=0.03, mae=0.0),
    ]
    e = analyze_trades(_frame(rows)).excursions.row(0, named=True)
    assert e == pytest.approx(dict(
        n_trades=4, avg_mfe=0.035, avg_mae=-0.03, median_mfe=0.02, median_mae=-0.03, edge_ratio=0.035 / 0.03,
        mfe_capture=(0.5 - 3.0 + 2 / 3) / 3, avg_mfe_losers=0.005, avg_mae_winners=-0.01, avg_mae_losers=-0.05,
        mae_recovery=0.25), rel=1e-12)  # fmt: skip
    flat = analyze_trades(_frame([_row("A", _day(0), 0.0)])).excursions.row(0, named=True)
    assert flat["edge_ratio"] == 0.0 and flat["mfe_capture"] is None and flat["mae_recovery"] is None


def test_r_multiples_by_hand():
    """Risk = |quantity| * entry_price * stop: 10 * 100 * 0.05 = 50 and 20 * 50 * 0.05 = 50 (short).
    R: 100 / 50 = 2, -1, -1.2 (a gap through the stop), 0.5."""
    rows = [
        _row("A", _day(0), 100.0),
        _row("A", _day(1), -50.0, reason="stop_loss"),
        _row("B", _day(2), -60.0, qty=-20.0, price=50.0),
        _row("B", _day(3), 25.0, qty=-20.0, price=50.0),
    ]
    ta = analyze_trades(_frame(rows), stop_loss=0.05)
    assert ta.r_multiples["risk"].to_list() == pytest.approx([50.0] * 4)
    assert ta.r_multiples["r_multiple"].to_list() == pytest.approx([2.0, -1.0, -1.2, 0.5])
    s = ta.r_summary.row(0, named=True)
    sd = statistics.stdev([2, -1, -1.2, 0.5])
    assert s == pytest.approx(dict(n_trades=4, expectancy_r=0.075, median_r=-0.25, std_r=sd, total_r=0.3, best_r=2.0,
                                   worst_r=-1.2, share_above_1r=0.25, share_below_minus_1r=0.25))  # fmt: skip
    # a stop per symbol (as RiskConfig.stop_loss): symbols without one get a null R
    d = analyze_trades(_frame(rows), stop_loss={"A": 0.1, "C": None})
    assert d.r_multiples["r_multiple"].to_list() == [1.0, -0.5, None, None]
    assert d.r_summary.row(0, named=True)["n_trades"] == 2 and d.r_summary["expectancy_r"].item() == 0.25
    for bad in (0, -0.1, 1.5, math.nan, math.inf, "0.05", True):
        with pytest.raises(vec.ConfigError, match=r"`stop_loss` must be a stop fraction with 0 < x <= 1.*; got"):
            analyze_trades(_frame(rows), stop_loss=bad)
    with pytest.raises(vec.ConfigError, match=r"`stop_loss\['A'\]` must be"):
        analyze_trades(_frame(rows), stop_loss={"A": 2.0})


def test_bad_input():
    good = _frame(HAND)
    with pytest.raises(vec.DataError, match=r"without \['mfe', 'mae'\]"):
        analyze_trades(good.drop("mae", "mfe"))
    with pytest.raises(vec.ConfigError, match="`trades` must be a Polars DataFrame"):
        analyze_trades(good.lazy())
    with pytest.raises(vec.DataError, match="'entry_time' must be Date or Datetime"):
        analyze_trades(good.with_columns(pl.col("entry_time").cast(pl.String)))
    with pytest.raises(vec.DataError, match="dtypes of ml4t_vec.schema.TRADES"):
        analyze_trades(good.with_columns(pl.lit("sideways").alias("direction")))
    strings = good.with_columns(pl.col("direction", "exit_reason", "status").cast(pl.String))
    assert analyze_trades(strings).by_direction.equals(analyze_trades(good).by_direction)  # strings are cast
    bad = [("holding_buckets", (5, 1)), ("holding_buckets", ()), ("holding_buckets", (-1,)),
           ("holding_buckets", (1.5,)), ("n_best", -1), ("n_best", 2.0), ("include_open", "yes")]  # fmt: skip
    for name, value in bad:
        with pytest.raises(vec.ConfigError, match=f"`{name}` must be .*; got"):
            analyze_trades(good, **{name: value})


def _schemas(ta: TradeAnalysis) -> dict:
    return {k: v.schema for k, v in ta.to_dict().items()}


@pytest.mark.parametrize("zone", [None, "Europe/Berlin"])
def test_empty_trades_give_full_schemas(zone):
    hand = _frame(HAND)
    if zone is not None:
        hand = hand.with_columns(pl.col("entry_time", "exit_time").cast(pl.Datetime).dt.replace_time_zone(zone))
    full = analyze_trades(hand, stop_loss=0.05)
    empty = analyze_trades(hand.clear(), stop_loss=0.05)
    assert _schemas(empty) == _schemas(full)
    assert all(v.height == 0 for k, v in empty.to_dict().items() if k not in ("overall", "excursions", "r_summary"))
    nulls = dict.fromkeys(["win_rate", "avg_pnl", "avg_pnl_percent", "avg_bars_held", "profit_factor"])
    assert empty.overall.row(0, named=True) == {**nulls, "n_trades": 0, "n_wins": 0, "total_pnl": 0.0}
    assert empty.excursions.columns == list(EXCURSIONS) and empty.r_summary.columns == list(R_SUMMARY)
    assert empty.r_summary.row(0, named=True)["n_trades"] == 0 and empty.excursions["n_trades"].item() == 0
    assert repr(empty).startswith("TradeAnalysis(0 trades, win_rate n/a")


@pytest.fixture(scope="module")
def results():
    prices = vec.synthetic_prices(n_assets=6, n_bars=400, seed=7)
    up = pl.col("close") > pl.col("close").shift(1).over("asset")
    signals = vec.backtest(prices, entries=up, exits=~up, short_entries=~up, short_exits=up, stop_loss=0.03,
                           take_profit=0.05, fees=0.001)  # fmt: skip
    weights = vec.backtest(prices, weights=vec.weights.quantile(pl.col("pred"), q=3), rebalance="W", fees=0.0005)
    return {"signals": signals, "weights": weights}


@pytest.mark.parametrize("run", ["signals", "weights"])
@pytest.mark.parametrize("include_open", [False, True])
def test_real_result_groups_add_up(results, run, include_open):
    """Every grouping partitions the analysed rows: counts, wins and pnl add up to `overall`; by
    symbol equals the trades grouped by hand; include_open adds exactly the open rows."""
    res = results[run]
    trades = res.trades
    ta = analyze_trades(trades, stop_loss=0.03, include_open=include_open)
    statuses = ["closed", "partial", "open"] if include_open else ["closed", "partial"]
    rows = trades.filter(pl.col("status").is_in(statuses))
    if run == "weights":
        assert {"partial", "open"} <= set(trades["status"]) and set(rows["direction"]) == {"long", "short"}
    o = ta.overall.row(0, named=True)
    assert o["n_trades"] == rows.height and o["total_pnl"] == pytest.approx(rows["pnl"].sum(), rel=1e-12)
    for name, key in GROUPS.items():
        g = getattr(ta, name)
        if name == "by_entry_hour":
            assert g.height == 0  # daily Date data
            continue
        assert g[key].is_sorted() and g[key].n_unique() == g.height
        assert g["n_trades"].sum() == o["n_trades"] and g["n_wins"].sum() == o["n_wins"]
        assert g["total_pnl"].sum() == pytest.approx(o["total_pnl"], rel=1e-9, abs=1e-6)
    by_hand = dict(rows.group_by("symbol").agg(pl.col("pnl").sum()).iter_rows())
    assert dict(ta.by_symbol.select("symbol", "total_pnl").iter_rows()) == pytest.approx(by_hand, rel=1e-12)
    assert ta.r_multiples.height == rows.height
    assert ta.best["pnl"].to_list() == sorted(rows["pnl"].to_list(), reverse=True)[:5]
    assert ta.worst["pnl"].to_list() == sorted(rows["pnl"].to_list())[:5]
    if run == "signals":  # a 3% stop filled at the stop: about -1R plus fees (gaps through it: below)
        stopped = ta.r_multiples.filter(pl.col("exit_reason") == "stop_loss")["r_multiple"]
        assert stopped.len() > 0 and stopped.max() < -0.99


# ---- random frames against a plain Python loop ----------------------------------------------

ZONES = [pl.Date, pl.Datetime("us"), pl.Datetime("us", "Asia/Tokyo")]


@st.composite
def trade_frames(draw):
    time_dtype = draw(st.sampled_from(ZONES))
    intraday = time_dtype != pl.Date and draw(st.booleans())
    rows = []
    for i in range(draw(st.integers(0, 25))):
        day = D0 + dt.timedelta(days=draw(st.integers(0, 500)))
        entry = day
        if time_dtype != pl.Date:
            hour = draw(st.integers(0, 23)) if intraday else 0
            tz = zoneinfo.ZoneInfo(time_dtype.time_zone) if time_dtype.time_zone else None
            entry = dt.datetime(day.year, day.month, day.day, hour, tzinfo=tz)
        pnl = draw(st.sampled_from([0.0, draw(st.floats(-1e3, 1e3, allow_nan=False))]))
        rows.append(_row(draw(st.sampled_from("ABC")), entry, pnl, qty=draw(st.sampled_from([5.0, -3.0, 0.5])),
                         price=draw(st.floats(1.0, 500.0)), bars=draw(st.integers(0, 400)),
                         mfe=draw(st.sampled_from([0.0, draw(st.floats(0.0, 0.5))])),
                         mae=draw(st.sampled_from([0.0, draw(st.floats(-0.5, 0.0))])),
                         fees=draw(st.sampled_from([0.0, 1.5])),
                         reason=draw(st.sampled_from(["signal", "stop_loss", "take_profit", "end_of_data"])),
                         status=draw(st.sampled_from(["closed", "closed", "partial", "open"])), pid=i))  # fmt: skip
    return _frame(rows, time_dtype), draw(st.booleans()), draw(st.sampled_from([None, 0.02, 0.5]))


def _mean(xs):
    return sum(xs) / len(xs) if xs else None


def _div(a, b):
    return a / b if b != 0 else (math.inf if a > 0 else (0.0 if a == 0 else -math.inf))


def _ref_metrics(rows):
    pnl = [r["pnl"] for r in rows]
    wins, losses = sum(p for p in pnl if p > 0), -sum(p for p in pnl if p < 0)
    n_wins = sum(p > 0 for p in pnl)
    return dict(n_trades=len(rows), n_wins=n_wins, win_rate=n_wins / len(rows) if rows else None,
                total_pnl=float(sum(pnl)), avg_pnl=_mean(pnl), avg_pnl_percent=_mean([r["pnl_percent"] for r in rows]),
                avg_bars_held=_mean([r["bars_held"] for r in rows]),
                profit_factor=_div(wins, losses) if rows else None)  # fmt: skip


def _bucket(bars):
    for bound, label in [(1, "0-1"), (5, "2-5"), (21, "6-21"), (63, "22-63"), (252, "64-252")]:
        if bars <= bound:
            return label
    return ">252"


def _ref_keys(r):
    t = r["entry_time"]
    keys = dict(exit_reason=r["exit_reason"], symbol=r["symbol"], direction=r["direction"],
                holding_period=_bucket(r["bars_held"]), entry_month=t.month, entry_weekday=t.isoweekday())  # fmt: skip
    if isinstance(t, dt.datetime):
        keys["entry_hour"] = t.hour
    return keys


def _ref_excursions(rows):
    ret = [r["gross_pnl"] / (abs(r["quantity"]) * r["entry_price"]) for r in rows]
    mfe, mae = [r["mfe"] for r in rows], [r["mae"] for r in rows]
    win, lose = [r["pnl"] > 0 for r in rows], [r["pnl"] < 0 for r in rows]
    return dict(
        n_trades=len(rows), avg_mfe=_mean(mfe), avg_mae=_mean(mae),
        median_mfe=statistics.median(mfe) if rows else None, median_mae=statistics.median(mae) if rows else None,
        edge_ratio=_div(_mean(mfe), _mean([abs(m) for m in mae])) if rows else None,
        mfe_capture=_mean([x / f for x, f in zip(ret, mfe, strict=True) if f > 0]),
        avg_mfe_losers=_mean([f for f, lo in zip(mfe, lose, strict=True) if lo]),
        avg_mae_winners=_mean([m for m, w in zip(mae, win, strict=True) if w]),
        avg_mae_losers=_mean([m for m, lo in zip(mae, lose, strict=True) if lo]),
        mae_recovery=_mean([(x - m) / abs(m) for x, m, lo in zip(ret, mae, lose, strict=True) if lo and m < 0]),
    )  # fmt: skip


def _ref_r(rows, stop):
    rs = [r["pnl"] / (abs(r["quantity"]) * r["entry_price"] * stop) for r in rows]
    return dict(n_trades=len(rs), expectancy_r=_mean(rs), median_r=statistics.median(rs) if rs else None,
                std_r=statistics.stdev(rs) if len(rs) > 1 else None, total_r=float(sum(rs)),
                best_r=max(rs, default=None), worst_r=min(rs, default=None),
                share_above_1r=_mean([x > 1 for x in rs]),
                share_below_minus_1r=_mean([x < -1 for x in rs]))  # fmt: skip


def _same_row(got: dict, want: dict) -> bool:
    return got.keys() == want.keys() and all(same_metric(got[k], want[k]) for k in want)


@given(trade_frames())
def test_every_frame_matches_a_python_loop(case):
    """Each group frame, overall, excursions and the R summary equal a dict-based loop to 1e-9."""
    frame, include_open, stop = case
    ta = analyze_trades(frame, include_open=include_open, stop_loss=stop)
    rows = [r for r in frame.iter_rows(named=True) if include_open or r["status"] != "open"]
    assert _same_row(ta.overall.row(0, named=True), _ref_metrics(rows))
    intraday = any(isinstance(r["entry_time"], dt.datetime) and r["entry_time"].time() != dt.time(0) for r in rows)
    for name, key in GROUPS.items():
        want: dict = {}
        if key != "entry_hour" or intraday:
            for r in rows:
                want.setdefault(_ref_keys(r)[key], []).append(r)
        got = {r.pop(key): r for r in getattr(ta, name).iter_rows(named=True)}
        assert got.keys() == want.keys(), name
        assert all(_same_row(got[k], _ref_metrics(v)) for k, v in want.items()), name
    assert _same_row(ta.excursions.row(0, named=True), _ref_excursions(rows))
    if stop is None:
        assert ta.r_summary is None
    else:
        assert _same_row(ta.r_summary.row(0, named=True), _ref_r(rows, stop))
    assert ta.best["pnl"].to_list() == sorted((r["pnl"] for r in rows), reverse=True)[:5]


def test_repr_to_dict_and_doctest():
    ta = analyze_trades(_frame(HAND), stop_loss=0.05)
    assert list(ta.to_dict()) == ["overall", *GROUPS, "excursions", "best", "worst", "r_multiples", "r_summary"]
    assert repr(ta).startswith("TradeAnalysis(5 trades, win_rate 40.0%, total_pnl 60.00, profit_factor 1.86; ")
    assert "by_symbol[2]" in repr(ta)
    with pytest.raises(AttributeError):
        ta.overall = None  # frozen
    assert doctest.testmod(ml4t_vec.analysis, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0
