"""Run backtesting.py 0.6.6 on ml4t_vec's signal columns and compare the two, trade by trade.

Imported by the peer tests after they have checked that backtesting.py is installed (it is
AGPL-3.0: an optional test dependency, never vendored; nothing of its code is copied here).

A ``Strategy`` replays the precomputed signal columns s0..s3 (entries, exits, short entries,
short exits) of the current bar in ``next()`` the way a user writes it: flat, a long entry is
``buy(size, sl=close * (1 - x), tp=close * (1 + y))``; long, an exit is ``position.close()``; a
short entry reverses with ``position.close()`` then ``sell(...)`` (with
``exclusive_orders=True``: ``sell()`` alone, which closes the position itself); shorts mirror
it. These are ml4t_vec's ``signal_rules="reverse"``: an entry and its own exit on one bar
cancel, so do opposite entries; an entry while already in that direction is ignored.

Settings (a dict ``s``) and their ml4t_vec keywords:
- ``size``: a fraction in (0, 1) of the available cash (``size=``, percent), or whole units
  >= 1 (``size=n, size_type="shares"``);
- ``commission`` / ``fixed``: ``commission=(fixed, commission)`` (``fees=``, ``fixed_fees=``);
- ``spread``: ``spread=`` (``slippage=``; the preset charges it on entries only);
- ``sl`` / ``tp``: fractions of the signal bar's close (``stop_loss=``, ``take_profit=``);
- ``cash``: ``cash=`` (``init_cash=``; None: both defaults, 10,000);
- ``exclusive``: ``exclusive_orders=`` (no ml4t_vec keyword: the same trades either way);
- ``trade_on_close`` (optional): ``trade_on_close=`` (``fill="same_close"``);
- ``shorts``: pass the short signal columns.
"""

from __future__ import annotations

import math
import sys
import warnings

import numpy as np
import pandas as pd
import polars as pl
from backtesting import Backtest, Strategy

import ml4t_vec as vec

FULL = 1 - sys.float_info.epsilon  # backtesting.py's default size (Strategy._FULL_EQUITY)
SIGNALS = ("s0", "s1", "s2", "s3")


class Replay(Strategy):
    """Replays the signal columns of the current bar (see the module doc)."""

    size = FULL
    sl = None  # fraction below (long) / above (short) the signal bar's close
    tp = None
    exclusive = False  # Backtest(exclusive_orders=True): a new order closes the position itself

    def init(self):
        pass

    def _open(self, d: int, close: float) -> None:
        sl = None if self.sl is None else close * (1.0 - d * self.sl)
        tp = None if self.tp is None else close * (1.0 + d * self.tp)
        (self.buy if d > 0 else self.sell)(size=self.size, sl=sl, tp=tp)

    def next(self):
        data = self.data
        e, x, se, sx = (bool(data[c][-1]) for c in SIGNALS)
        le, lx, sen, sxn = e and not x, x and not e, se and not sx, sx and not se
        if le and sen:
            le = sen = False
        close = data.Close[-1]
        pos = self.position.size
        if pos == 0:
            if le:
                self._open(1, close)
            elif sen:
                self._open(-1, close)
        elif pos > 0:
            if sen:
                if not self.exclusive:
                    self.position.close()
                self._open(-1, close)
            elif lx:
                self.position.close()
        else:
            if le:
                if not self.exclusive:
                    self.position.close()
                self._open(1, close)
            elif sxn:
                self.position.close()


def run_backtesting(df: pl.DataFrame, s: dict) -> pd.Series:
    """backtesting.py on a one-asset frame (timestamp, open, high, low, close, s0..s3); its stats."""
    pdf = pd.DataFrame(
        {
            "Open": df["open"].to_numpy(),
            "High": df["high"].to_numpy(),
            "Low": df["low"].to_numpy(),
            "Close": df["close"].to_numpy(),
            **{c: df[c].fill_null(False).to_numpy() & (s["shorts"] or c in ("s0", "s1")) for c in SIGNALS},
        },
        index=pd.DatetimeIndex(df["timestamp"].to_list()),
    )
    strategy = type("ReplayRun", (Replay,), {"size": s["size"], "sl": s["sl"], "tp": s["tp"],
                                             "exclusive": s["exclusive"]})  # fmt: skip
    bt = Backtest(
        pdf,
        strategy,
        cash=s["cash"] or 10_000,
        commission=(s["fixed"], s["commission"]),
        spread=s["spread"],
        exclusive_orders=s["exclusive"],
        trade_on_close=s.get("trade_on_close", False),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bt.run()


def vec_kwargs(s: dict) -> dict:
    """ml4t_vec keywords for settings ``s`` (with ``preset="backtesting"``)."""
    kw = dict(
        preset="backtesting",
        entries="s0",
        exits="s1",
        size=s["size"],
        fees=s["commission"],
        fixed_fees=s["fixed"],
        slippage=s["spread"],
        stop_loss=s["sl"],
        take_profit=s["tp"],
        init_cash=s["cash"],
    )
    if s["size"] >= 1:
        kw["size_type"] = "shares"
    if s["shorts"]:
        kw.update(short_entries="s2", short_exits="s3")
    if s.get("trade_on_close"):
        kw["fill"] = "same_close"
    return kw


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def _ts(x) -> pd.Timestamp:
    return pd.Timestamp(x)


def assert_same(got: pl.DataFrame, equity: np.ndarray | None, stats: pd.Series, s: dict, last_close: float) -> None:
    """ml4t_vec's trades of one asset (``got``) and its account equity per bar of that asset
    (None: not compared) equal backtesting.py's closed trades (``stats._trades``), still open
    trades and equity curve."""
    got = got.sort("entry_time")
    closed = stats._trades.sort_values(["EntryBar", "ExitBar"]).reset_index(drop=True)
    still_open = sorted(stats._strategy.trades, key=lambda t: t.entry_bar)
    ctx = f"\n{s}\nml4t_vec:\n{got}\nbacktesting.py closed:\n{closed.to_string()}\nopen: {still_open}"
    g_closed = got.filter(pl.col("status") == "closed")
    g_open = got.filter(pl.col("status") == "open")
    assert (g_closed.height, g_open.height) == (len(closed), len(still_open)), "trade counts" + ctx
    for i, w in closed.iterrows():
        g = g_closed.row(i, named=True)
        assert _ts(g["entry_time"]) == _ts(w["EntryTime"]), f"entry time of closed trade {i}" + ctx
        assert _ts(g["exit_time"]) == _ts(w["ExitTime"]), f"exit time of closed trade {i}" + ctx
        for name, ours, theirs in (
            ("quantity", g["quantity"], float(w["Size"])),
            ("entry_price", g["entry_price"], w["EntryPrice"]),
            ("exit_price", g["exit_price"], w["ExitPrice"]),
            ("pnl", g["pnl"], w["PnL"]),
            ("fees", g["fees"], w["Commission"]),
            ("pnl_percent", g["pnl_percent"], w["ReturnPct"]),
        ):
            assert _close(ours, theirs), f"{name} of closed trade {i}: {ours!r} != {theirs!r}" + ctx
    for g, t in zip(g_open.iter_rows(named=True), still_open, strict=True):
        # backtesting.py's open Trade.pl leaves out commissions (booked when the trade closes);
        # ml4t_vec's open pnl is net of the entry fees
        entry_fee = s["fixed"] + abs(t.size) * t.entry_price * s["commission"]
        assert _ts(g["entry_time"]) == _ts(t.entry_time), "entry time of the open trade" + ctx
        for name, ours, theirs in (
            ("quantity", g["quantity"], float(t.size)),
            ("entry_price", g["entry_price"], t.entry_price),
            ("exit_price", g["exit_price"], last_close),
            ("fees", g["fees"], entry_fee),
            ("pnl", g["pnl"], t.pl - entry_fee),
        ):
            assert _close(ours, theirs), f"{name} of the open trade: {ours!r} != {theirs!r}" + ctx
    if equity is None:
        return
    eq_bt = stats._equity_curve["Equity"].to_numpy()
    assert equity.shape == eq_bt.shape, f"{equity.shape} bars, backtesting.py {eq_bt.shape}" + ctx
    bad = [i for i in range(eq_bt.shape[0]) if not _close(equity[i], eq_bt[i])]
    assert not bad, f"equity differs from bar {bad[0]}: {equity[bad[0]]!r} != {eq_bt[bad[0]]!r}" + ctx


def compare(df: pl.DataFrame, s: dict, require=None, equity: bool = True) -> None:
    """Run both on a one-asset frame and assert they agree. ``require(condition)`` rejects a
    drawn case (Hypothesis ``assume``) where backtesting.py stopped because equity reached 0,
    which ml4t_vec does not model. ``equity=False``: trades only."""
    stats = run_backtesting(df, s)
    ok = bool(stats._equity_curve["Equity"].min() > 0)
    if require is not None:
        require(ok)
    else:
        assert ok, "backtesting.py ran out of money"
    res = vec.backtest(df, **vec_kwargs(s))
    eq = res.equity["equity"].to_numpy() if equity else None
    assert_same(res.trades, eq, stats, s, float(df["close"][-1]))
