"""``preset="vectorbt"`` reproduces vectorbt 1.2 ``Portfolio.from_signals`` trade for trade.

vectorbt is an optional test dependency (Apache-2.0 + Commons Clause: never vendored). Without
it these tests are skipped; run them in a venv that has it (README "Development").

Every draw covers vectorbt's three size types (amount, value, percent; ``inf`` = all available
cash), one size or a size per bar (vectorbt's size array; ml4t_vec's ``size=`` expression),
fees, fixed fees and slippage, stop-loss / trailing stop / take-profit, and (on panels with
short signals) shorts and one-order reversals. The preset supplies vectorbt's conventions; the
drawn settings are passed as the ml4t_vec keywords they map to (``_vec_kwargs``):

- vectorbt ``size_type="amount"``  -> ``size_type="shares"`` (``size=inf``: ``"notional"``, inf)
- vectorbt ``size_type="value"``   -> ``size_type="notional"``: quantity = size / reference price
  (the fill price before slippage; fees and slippage come on top, then the cash limit)
- vectorbt ``size_type="percent"`` -> ``size_type="percent"`` with the preset's
  ``percent_of="cash"`` (long: size x cash committed fees included; short: size x the largest
  short the free cash pays for)

and the preset must set ``reversal="one_order"`` (one order of |position| + new size at one
price, fixed fees once, fees split between the two trades by shares) and
``cash_rule="vectorbt"`` (vectorbt's cash / free-cash model: buys and covers limited by cash,
short-sale proceeds included; finite shorts unlimited; ``inf`` / percent shorts limited by free
cash = cash - 2 x short debt). ``test_preset_defaults_and_overrides`` checks those conventions.

vectorbt raises instead of reversing a percent-sized position; such draws are rejected (not
comparable), so percent sizes with shorts are compared on panels where no reversal happens.
"""

import math
import os

import numpy as np
import polars as pl
import pytest
from hypothesis import given, reject
from hypothesis import strategies as st
from panels import panels

import ml4t_vec as vec

if os.environ.get("ML4T_VEC_REQUIRE_PEERS"):  # CI: a missing peer is a failure, not a skip
    import vectorbt as vbt
else:
    vbt = pytest.importorskip("vectorbt", reason="vectorbt not installed: pip install -e '.[peers]' to run")
pd = pytest.importorskip("pandas")  # vectorbt's own dependency, there whenever vectorbt is
pytestmark = pytest.mark.filterwarnings("ignore::ml4t_vec.LookAheadWarning", "ignore::DeprecationWarning")

PAD = "~pad"  # vectorbt's idle padding column (see _wide)
VEC_SIZE_TYPE = {"amount": "shares", "value": "notional", "percent": "percent"}
# vectorbt size -> values drawn. init_cash is 100 and prices 20-200: amount 2.0 and value 250
# do not fit the cash (partial fills), amount 0.3 and value 40 usually do; percent 1.0 = all in.
SIZES = {"amount": [math.inf, 0.3, 2.0], "value": [math.inf, 40.0, 250.0], "percent": [0.25, 0.5, 1.0]}


def _wide(df: pl.DataFrame, col: str, fill=None, pad=1.0):
    """Bars x assets pandas frame of ``col``, indexed by bar number, laid out for vectorbt (see
    ``_vbt_portfolio``): an idle padding column of ``pad`` values, and on a one-bar panel an idle
    padding bar (index -1) before it."""
    w = df.pivot(on="asset", index="timestamp", values=col, sort_columns=True).sort("timestamp")
    if fill is not None:
        w = w.fill_null(fill)
    a = w.drop("timestamp").to_numpy()
    a = np.column_stack([a, np.full(a.shape[0], pad, dtype=a.dtype)])
    index = np.arange(a.shape[0])
    if a.shape[0] == 1:
        a = np.vstack([np.full_like(a, pad), a])
        index = np.array([-1, 0])
    return pd.DataFrame(np.asfortranarray(a), index=index, columns=[*w.columns[1:], PAD])


@st.composite
def vbt_settings(draw):
    size_type = draw(st.sampled_from(list(SIZES)))
    stop = draw(st.sampled_from([None, 0.02, 0.05]))
    return dict(
        size_type=size_type,
        size=draw(st.sampled_from(SIZES[size_type])),
        fees=draw(st.sampled_from([0.0, 0.001, 0.01])),
        fixed_fees=draw(st.sampled_from([0.0, 0.5])),
        slippage=draw(st.sampled_from([0.0, 0.001, 0.01])),
        stop=stop,
        trail=draw(st.booleans()) if stop is not None else False,
        tp=draw(st.sampled_from([None, 0.03, 0.1])),
        by_bar=draw(st.booleans()),  # a size per bar (finite sizes): ml4t_vec's size expression
    )


def _size_expr(s: dict) -> pl.Expr | None:
    """The per-bar size of a draw (None: one size): the panel's multiplier column times the drawn
    size, nulls as 1, a percent capped at 1.0 (vectorbt's maximum)."""
    if not s["by_bar"] or math.isinf(s["size"]):
        return None
    e = pl.col("szm").fill_null(1.0) * s["size"]
    return e.clip(upper_bound=1.0) if s["size_type"] == "percent" else e


def _vec_kwargs(s: dict) -> dict:
    """The ml4t_vec keywords a drawn vectorbt setting maps to (the preset supplies the rest)."""
    if math.isinf(s["size"]):  # amount inf == value inf in vectorbt: all available cash
        sizing = dict(size=math.inf, size_type="notional")
    else:
        by_bar = _size_expr(s)
        sizing = dict(size=s["size"] if by_bar is None else by_bar, size_type=VEC_SIZE_TYPE[s["size_type"]])
    kw = dict(sizing, fees=s["fees"], fixed_fees=s["fixed_fees"], slippage=s["slippage"])
    if s["stop"] is not None:
        kw["trailing_stop" if s["trail"] else "stop_loss"] = s["stop"]
    if s["tp"] is not None:
        kw["take_profit"] = s["tp"]
    return kw


def _vbt_portfolio(df: pl.DataFrame, s: dict, cash_sharing: bool):
    """vectorbt on the same panel. vectorbt's simulator is not cached and compiles once per
    argument signature (30-60 s each), so every argument always has the same type and memory
    layout: the short signals are always passed (all False on long-only panels, which vectorbt
    treats exactly like long-only signals), the stops always (NaN = off), init_cash as an array
    per cash group, and the frames are always column-major with several rows and columns (an
    idle padding column, and a padding bar before a one-bar panel: no signals, so no orders and
    no effect on the real columns, in shared cash either)."""
    close = _wide(df, "close")
    sig = [_wide(df, f"s{k}", False, pad=False).astype(bool) for k in range(4)]
    by_bar = _size_expr(s)  # a size array always (one compiled signature), constant or per bar
    if by_bar is None:
        const = np.asfortranarray(np.full(close.shape, s["size"]))
        size = pd.DataFrame(const, index=close.index, columns=close.columns)
    else:
        size = _wide(df.with_columns(size=by_bar), "size")
    vkw = dict(
        size=size,
        size_type=s["size_type"],
        fees=s["fees"],
        fixed_fees=s["fixed_fees"],
        slippage=s["slippage"],
        open=_wide(df, "open"),
        high=_wide(df, "high"),
        low=_wide(df, "low"),
        sl_stop=np.nan if s["stop"] is None else s["stop"],
        sl_trail=s["trail"],
        tp_stop=np.nan if s["tp"] is None else s["tp"],
        short_entries=sig[2],
        short_exits=sig[3],
        init_cash=np.full(1 if cash_sharing else close.shape[1], 100.0),
    )
    if cash_sharing:  # one portfolio, vectorbt's default call order (columns left to right)
        vkw.update(group_by=True, cash_sharing=True)
    try:
        return vbt.Portfolio.from_signals(close, sig[0], sig[1], **vkw)
    except ValueError as e:  # vectorbt refuses to reverse a percent-sized position: not comparable
        if "does not support position reversal" in str(e):
            reject()
        raise


def _compare(panel_df, s, cash_sharing=False):
    _, df = panel_df
    df = df.sort("asset", "timestamp")
    pf = _vbt_portfolio(df, s, cash_sharing)
    res = vec.backtest(df, entries="s0", exits="s1", short_entries="s2", short_exits="s3", preset="vectorbt",
                       cash_sharing=cash_sharing, **_vec_kwargs(s))  # fmt: skip
    ts = df.get_column("timestamp").unique().sort().to_list()  # vectorbt's index is the bar number
    ctx = dict(s, cash_sharing=cash_sharing)

    # orders first (clearer failures): vectorbt's one order per asset and bar against ml4t_vec's
    # fills summed per asset and bar (a reversal may be one fill or an exit and an entry fill)
    want_o = pf.orders.records_readable.sort_values(["Column", "Timestamp"], kind="stable").reset_index(drop=True)
    got_o = (
        res.fills.with_columns(pl.col("symbol").cast(pl.String))
        .group_by("symbol", "timestamp")
        .agg(
            q=pl.when(pl.col("side") == "buy").then(pl.col("quantity")).otherwise(-pl.col("quantity")).sum(),
            price=pl.col("price").first(),
            fees=pl.col("fees").sum(),
        )
        .sort("symbol", "timestamp")
    )
    assert got_o.height == len(want_o), f"{got_o.height} orders, vectorbt {len(want_o)}\n{ctx}\n{got_o}\n{want_o}"
    for i, w in want_o.iterrows():
        g = got_o.row(i, named=True)
        at = (g["symbol"], g["timestamp"]) == (w["Column"], ts[w["Timestamp"]])
        assert at, ("order", i, ctx, got_o, want_o.to_string())
        sign = 1 if w["Side"] == "Buy" else -1
        for name, ours, theirs in (("quantity", g["q"], sign * w["Size"]), ("price", g["price"], w["Price"]),
                                   ("fees", g["fees"], w["Fees"])):  # fmt: skip
            assert math.isclose(ours, theirs, rel_tol=1e-9, abs_tol=1e-9), (name, "order", i, ctx, got_o, want_o)

    want = pf.trades.records_readable.sort_values(
        ["Column", "Entry Timestamp", "Exit Timestamp"], kind="stable"
    ).reset_index(drop=True)
    got = res.trades.sort("symbol", "entry_time", "exit_time")
    assert got.height == len(want), f"{got.height} trades, vectorbt {len(want)}\n{ctx}\n{got}\n{want}"
    for i, w in want.iterrows():
        g = got.row(i, named=True)
        assert g["symbol"] == w["Column"]
        assert g["entry_time"] == ts[w["Entry Timestamp"]], ("entry_time", i, ctx, got, want)
        assert g["exit_time"] == ts[w["Exit Timestamp"]], ("exit_time", i, ctx, got, want)
        sign = 1 if w["Direction"] == "Long" else -1
        for name, ours, theirs in (
            ("quantity", g["quantity"], sign * w["Size"]),
            ("entry_price", g["entry_price"], w["Avg Entry Price"]),
            ("exit_price", g["exit_price"], w["Avg Exit Price"]),
            ("pnl", g["pnl"], w["PnL"]),
            ("fees", g["fees"], w["Entry Fees"] + w["Exit Fees"]),
        ):
            assert math.isclose(ours, theirs, rel_tol=1e-9, abs_tol=1e-9), (name, i, ctx, got, want.to_string())
        assert g["status"] == w["Status"].lower()


@given(panels(max_assets=3, max_bars=30, gaps=False, shorts=False), vbt_settings())
def test_long_only_matches_vectorbt(panel_df, s):
    _compare(panel_df, s)


@given(panels(max_assets=3, max_bars=30, gaps=False, shorts=True), vbt_settings())
def test_long_short_matches_vectorbt(panel_df, s):
    _compare(panel_df, s)


@given(panels(max_assets=4, max_bars=30, gaps=False), vbt_settings())
def test_shared_cash_matches_vectorbt(panel_df, s):
    """One portfolio over all assets, with and without shorts (panels draws both)."""
    _compare(panel_df, s, cash_sharing=True)


def test_preset_defaults_and_overrides():
    df = vec.synthetic_prices(n_assets=2, n_bars=50, seed=2)
    res = vec.backtest(df, entries=pl.col("pred") > 0.6, preset="vectorbt", init_cash=1000.0)
    cfg = res.config
    assert cfg.preset == "vectorbt" and cfg.portfolio.init_cash == 1000.0
    assert cfg.execution.fill == "same_close" and np.isinf(cfg.sizing.size)
    # vectorbt's conventions beyond fills and stops (module docstring)
    assert cfg.sizing.size_type == "notional" and cfg.sizing.percent_of == "cash"
    assert cfg.execution.reversal == "one_order"
    assert cfg.portfolio.cash_rule == "vectorbt"
