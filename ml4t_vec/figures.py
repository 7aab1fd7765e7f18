"""Plotly figures of a backtest (optional extra ``ml4t-vec[plot]``). Polars in, no pandas.

Every function takes a ``BacktestResult`` (or the frames it names) and returns a
``plotly.graph_objects.Figure``: show it in a notebook, ``fig.write_html(...)``, or let
``res.report(...)`` put them all in one file. Long series are thinned for display only
(``MAX_POINTS`` per trace: each bucket of bars keeps its first, lowest and highest point, so
drawdowns and peaks stay visible), and a trade chart shows at most ``MAX_TRADES`` trades,
evenly spaced in pnl order (excursions) or in time (one asset's fills); the title says so.
Every number in tables and metrics uses all bars and trades.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from ml4t_vec.errors import ConfigError, did_you_mean

MAX_POINTS = 4000  # per trace, after thinning
MAX_TRADES = 5000  # points of a trade scatter
GREEN, RED, BLUE, GREY, ORANGE = "#1a9850", "#d73027", "#2c7fb8", "#969696", "#fd8d3c"


def _go():
    try:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots
    except ImportError:
        raise ImportError("figures need plotly: pip install 'ml4t-vec[plot]'") from None
    return go, make_subplots


def thin(n: int, y: np.ndarray | None = None, max_points: int = MAX_POINTS) -> np.ndarray:
    """Indices of the points to draw of a series of ``n``: all when ``n <= max_points``, else per
    bucket its first point and (with ``y``) its lowest and highest, in time order."""
    if n <= max_points:
        return np.arange(n)
    buckets = max(1, max_points // 3)
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    keep = [edges[:-1], [n - 1]]
    if y is not None:  # each bucket's lowest and highest point: one pass over all buckets
        y = np.nan_to_num(np.asarray(y, dtype=np.float64), nan=0.0)
        seg = np.repeat(np.arange(buckets), np.diff(edges))
        for extreme in (np.minimum, np.maximum):
            value = extreme.reduceat(y, edges[:-1])
            hit = np.flatnonzero(y == value[seg])
            keep.append(hit[np.unique(seg[hit], return_index=True)[1]])  # the first such point per bucket
    return np.unique(np.concatenate([np.asarray(k, dtype=np.int64) for k in keep]))


def _xy(ts: pl.Series, y: np.ndarray):
    idx = thin(ts.len(), y)
    return _times(ts.gather(idx)), np.asarray(y)[idx]


def _times(ts: pl.Series) -> np.ndarray:
    """Timestamps as a numpy array for plotly (fast and compact; a zone's wall-clock time)."""
    if isinstance(ts.dtype, pl.Datetime) and ts.dtype.time_zone is not None:
        ts = ts.dt.replace_time_zone(None)
    return ts.to_numpy()


# a small white template: plotly's named templates cost ~30 ms per figure to apply
_GRID = dict(gridcolor="#ebebeb", zerolinecolor="#d0d0d0", linecolor="#d0d0d0")
TEMPLATE = dict(layout=dict(plot_bgcolor="white", paper_bgcolor="white", font=dict(color="#2a3f5f"), xaxis=_GRID,
                            yaxis=_GRID, colorway=[BLUE, ORANGE, GREEN, RED, GREY]))  # fmt: skip


def _layout(fig, title: str, height: int = 420):
    fig.update_layout(title=title, height=height, template=TEMPLATE, margin=dict(l=60, r=20, t=50, b=40),
                      legend=dict(orientation="h", y=1.02, yanchor="bottom", x=1, xanchor="right"))  # fmt: skip
    return fig


def equity_figure(res, benchmark=None):
    """Equity (and the benchmark, scaled to the initial cash) above a drawdown panel."""
    go, make_subplots = _go()
    eq = res.equity
    ts = eq.get_column("timestamp")
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.04)
    x, y = _xy(ts, eq.get_column("equity").to_numpy())
    fig.add_trace(go.Scatter(x=x, y=y, name="equity", line=dict(color=BLUE, width=1.6)), row=1, col=1)
    b = res._bench(benchmark)
    if b is not None:
        x, y = _xy(ts, res.init_cash_total * np.cumprod(1.0 + b.returns))
        fig.add_trace(go.Scatter(x=x, y=y, name=f"benchmark ({b.name})", line=dict(color=GREY, width=1.2)), row=1,
                      col=1)  # fmt: skip
    x, y = _xy(ts, eq.get_column("drawdown").to_numpy())
    fig.add_trace(go.Scatter(x=x, y=y, name="drawdown", fill="tozeroy", line=dict(color=RED, width=1)), row=2, col=1)
    fig.update_yaxes(title_text="equity", row=1, col=1)
    fig.update_yaxes(title_text="drawdown", tickformat=".0%", row=2, col=1)
    return _layout(fig, "Equity and drawdown", 520)


def default_symbol(res) -> str | None:
    """The symbol whose trades made the largest absolute pnl (None without trades)."""
    t = res.trades
    if t.height == 0:
        return None
    by = t.group_by("symbol").agg(pl.col("pnl").sum().abs().alias("v")).sort("v", "symbol", descending=[True, False])
    return by.item(0, "symbol")


def trades_figure(res, symbol: str | None = None):
    """One asset's close with its entry (triangles: up long, down short) and exit (circles) fills, coloured by the
    trade's pnl (green profit, red loss, grey open), and each trade's stop-loss and take-profit
    levels where the run set them as a fraction anchored at the fill."""
    go, _ = _go()
    symbols = res._prep.symbols.cast(pl.String).to_list()
    symbol = symbol if symbol is not None else default_symbol(res) or symbols[0]
    if symbol not in symbols:
        raise ConfigError(f"`symbol` {symbol!r} is not an asset of the panel.{did_you_mean(symbol, symbols)}")
    from ml4t_vec.benchmark import asset_close

    close, has_row = asset_close(res._prep, symbols.index(symbol))
    ts = res._prep.timestamps
    fig = go.Figure()
    x, y = _xy(ts.filter(pl.Series(has_row)), close[has_row])
    fig.add_trace(go.Scatter(x=x, y=y, name=f"{symbol} close", line=dict(color=GREY, width=1.2)))
    t = res.trades.filter(pl.col("symbol") == symbol)
    n_all = t.height
    if n_all > MAX_TRADES:  # for display: evenly spaced in time (the tables and metrics keep all)
        t = t.gather(np.unique(np.linspace(0, n_all - 1, MAX_TRADES).astype(np.int64)))
    t = t.with_columns(
        pl.when(pl.col("status") == "open").then(pl.lit(GREY))
        .when(pl.col("pnl") > 0).then(pl.lit(GREEN)).otherwise(pl.lit(RED)).alias("colour"),
        pl.format("{} {} pnl {} ({})", "direction", pl.col("quantity").round(4), pl.col("pnl").round(2),
                  "exit_reason").alias("text"),
    )  # fmt: skip
    done = t.filter(pl.col("status") != "open")
    up = (t.get_column("direction") == "long").to_list()
    entry_marker = ["triangle-up" if u else "triangle-down" for u in up]  # a long's entry buys, a short's sells
    for frame, when, price, name, marker in ((t, "entry_time", "entry_price", "entry", entry_marker),
                                             (done, "exit_time", "exit_price", "exit", "circle")):  # fmt: skip
        fig.add_trace(go.Scatter(
            x=_times(frame.get_column(when)), y=frame.get_column(price).to_numpy(), mode="markers", name=name,
            text=frame.get_column("text").to_list(),
            marker=dict(symbol=marker, size=9, color=frame.get_column("colour").to_list(), line=dict(width=0.5)),
        ))  # fmt: skip
    _levels(fig, go, res, t)
    shown = f" ({t.height:,} of {n_all:,} trades, evenly spaced in time)" if t.height < n_all else ""
    return _layout(fig, f"{symbol}: fills coloured by trade pnl{shown}")


def _levels(fig, go, res, t: pl.DataFrame) -> None:
    """Stop-loss and take-profit levels of each trade, from entry to exit, where the run set
    them as one fraction anchored at the fill (the default ``stop_anchor``): dotted segments."""
    risk = res.config.risk
    if risk.stop_anchor != "fill" or t.height == 0:
        return
    sign = pl.when(pl.col("direction") == "long").then(1.0).otherwise(-1.0)
    for name, frac, side, colour in (("stop_loss", risk.stop_loss, -1.0, RED),
                                     ("take_profit", risk.take_profit, 1.0, GREEN)):  # fmt: skip
        if not isinstance(frac, (int, float)) or isinstance(frac, bool):
            continue
        lv = t.select("entry_time", "exit_time", (pl.col("entry_price") * (1.0 + side * sign * frac)).alias("v"))
        n = lv.height
        x = np.empty(3 * n, dtype=object)
        y = np.full(3 * n, np.nan)
        x[0::3], x[1::3] = _times(lv.get_column("entry_time")), _times(lv.get_column("exit_time"))
        x[2::3] = None
        y[0::3] = y[1::3] = lv.get_column("v").to_numpy()
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=f"{name} {frac:g}", connectgaps=False,
                                 line=dict(color=colour, width=1, dash="dot")))  # fmt: skip


def returns_figure(res):
    """Histogram of bar returns with the mean and the 5% value at risk marked."""
    go, _ = _go()
    r = res.equity.get_column("return").to_numpy()
    fig = go.Figure(go.Histogram(x=r, nbinsx=80, name="bar returns", marker_color=BLUE))
    if r.shape[0]:
        for v, name, c in ((float(r.mean()), "mean", GREEN), (float(np.percentile(r, 5)), "VaR 95%", RED)):
            fig.add_vline(x=v, line=dict(color=c, dash="dash"), annotation_text=name)
    fig.update_xaxes(tickformat=".1%")
    return _layout(fig, "Distribution of bar returns")


def monthly_figure(res):
    """Monthly returns heatmap (years x months), with each year's return on the right."""
    go, _ = _go()
    from ml4t_vec.rolling import MONTHS

    tab = res.monthly_returns()
    z = tab.select(MONTHS).to_numpy().astype(np.float64)
    years = [str(y) for y in tab.get_column("year").to_list()]
    text = [["" if not np.isfinite(v) else f"{v:.1%}" for v in row] for row in z]
    lim = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 1.0
    fig = go.Figure(go.Heatmap(z=z, x=[m.title() for m in MONTHS], y=years, text=text, texttemplate="%{text}",
                               colorscale="RdYlGn", zmin=-lim, zmax=lim, colorbar=dict(tickformat=".0%")))  # fmt: skip
    yr = tab.get_column("year_return").to_list()
    fig.add_trace(go.Scatter(x=["Year"] * len(years), y=years, mode="text", text=[f"{v:.1%}" for v in yr],
                             showlegend=False))  # fmt: skip
    fig.update_yaxes(autorange="reversed", type="category")
    return _layout(fig, "Monthly returns", 160 + 28 * max(len(years), 1))


def excursions_figure(res):
    """MFE against MAE of closed and partial trade rows, coloured by pnl."""
    go, _ = _go()
    t = res.trades.filter(pl.col("status") != "open")
    n = t.height
    if n > MAX_TRADES:  # for display: evenly spaced in pnl order, so the best, the worst and the shape stay
        t = t.sort("pnl").gather(np.unique(np.linspace(0, n - 1, MAX_TRADES).astype(np.int64)))
    fig = go.Figure(go.Scattergl(
        x=t.get_column("mae").to_numpy(), y=t.get_column("mfe").to_numpy(), mode="markers", name="trades",
        marker=dict(color=t.get_column("pnl").to_numpy(), colorscale="RdYlGn", cmid=0.0, size=6, opacity=0.7,
                    colorbar=dict(title="pnl")),
        text=[f"{s} pnl {v:,.2f}" for s, v in t.select("symbol", "pnl").iter_rows()],
    ))  # fmt: skip
    fig.update_xaxes(title_text="MAE (adverse excursion)", tickformat=".0%")
    fig.update_yaxes(title_text="MFE (favourable excursion)", tickformat=".0%")
    shown = f" ({t.height:,} of {n:,} trades, evenly spaced in pnl)" if t.height < n else ""
    return _layout(fig, "Trade excursions" + shown)


def exposure_figure(res):
    """Gross and net exposure as fractions of equity, and the number of assets held."""
    go, make_subplots = _go()
    eq = res.equity
    ts = eq.get_column("timestamp")
    e = eq.get_column("equity").to_numpy()
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.6, 0.4], vertical_spacing=0.05)
    for col, c in (("gross_exposure", BLUE), ("net_exposure", ORANGE)):
        v = np.divide(eq.get_column(col).to_numpy(), e, out=np.full(e.shape[0], np.nan), where=e > 0)
        x, y = _xy(ts, v)
        fig.add_trace(go.Scatter(x=x, y=y, name=col.replace("_", " "), line=dict(color=c, width=1.2)), row=1, col=1)
    x, y = _xy(ts, res._holdings[0].astype(np.float64))
    fig.add_trace(go.Scatter(x=x, y=y, name="names held", line=dict(color=GREY, width=1.2, shape="hv")), row=2, col=1)
    fig.update_yaxes(title_text="of equity", tickformat=".0%", row=1, col=1)
    fig.update_yaxes(title_text="names", row=2, col=1)
    return _layout(fig, "Exposure and positions", 460)


def rolling_figure(res, window: int = 63, benchmark=None, risk_free: float = 0.0):
    """Rolling Sharpe (over ``risk_free``, an annual rate) and, with a benchmark, beta over
    ``window`` bars."""
    go, make_subplots = _go()
    roll = res.rolling(window, benchmark=benchmark, risk_free=risk_free)
    ts = roll.get_column("timestamp")
    beta = "rolling_beta" in roll.columns
    fig = make_subplots(rows=2 if beta else 1, cols=1, shared_xaxes=True, vertical_spacing=0.06)
    x, y = _xy(ts, roll.get_column("rolling_sharpe").fill_null(np.nan).to_numpy())
    fig.add_trace(go.Scatter(x=x, y=y, name=f"Sharpe ({window} bars)", line=dict(color=BLUE, width=1.2)), row=1, col=1)
    if beta:
        x, y = _xy(ts, roll.get_column("rolling_beta").fill_null(np.nan).to_numpy())
        fig.add_trace(go.Scatter(x=x, y=y, name=f"beta ({window} bars)", line=dict(color=ORANGE, width=1.2)), row=2,
                      col=1)  # fmt: skip
    return _layout(fig, f"Rolling metrics ({window} bars)", 460 if beta else 360)


def ic_figure(report, horizon: int | None = None, smooth: int = 21):
    """A ``signal_report``'s rank IC per date for one horizon (default the first), with its
    mean over the last ``smooth`` dates, above the IC decay across horizons (mean IC and mean
    rank IC per horizon)."""
    go, make_subplots = _go()
    h = report.horizons[0] if horizon is None else horizon
    if h not in report.horizons:
        raise ConfigError(f"`horizon` must be one of the report's horizons {list(report.horizons)}; got {h!r}.")
    ic = report.ic.filter(pl.col("horizon") == h).drop_nulls("rank_ic")
    ts, v = ic.get_column("timestamp"), ic.get_column("rank_ic").to_numpy()
    fig = make_subplots(rows=2, cols=1, row_heights=[0.62, 0.38], vertical_spacing=0.12,
                        subplot_titles=(f"rank IC per date, horizon {h}", "IC decay: mean over dates"))  # fmt: skip
    x, y = _xy(ts, v)
    fig.add_trace(go.Bar(x=x, y=y, name="rank IC", marker_color=GREY, opacity=0.6), row=1, col=1)
    rolled = ic.select(pl.col("rank_ic").rolling_mean(smooth, min_samples=1)).to_series().to_numpy()
    x, y = _xy(ts, rolled)
    fig.add_trace(go.Scatter(x=x, y=y, name=f"mean of {smooth} dates", line=dict(color=BLUE, width=1.6)), row=1,
                  col=1)  # fmt: skip
    s = report.summary
    hs = [str(v) for v in s.get_column("horizon").to_list()]
    for col, name, c in (("mean_ic", "IC", ORANGE), ("mean_rank_ic", "rank IC", BLUE)):
        fig.add_trace(go.Bar(x=hs, y=s.get_column(col).to_numpy(), name=f"mean {name}", marker_color=c), row=2,
                      col=1)  # fmt: skip
    fig.update_xaxes(title_text="horizon (bars)", type="category", row=2, col=1)
    return _layout(fig, "Information coefficient", 560)


def quantile_figure(report, demeaned: bool = True):
    """A ``signal_report``'s mean forward return per score quantile, one group of bars per
    horizon (demeaned by the date's mean, as alphalens shows it, unless ``demeaned=False``)."""
    go, _ = _go()
    col = "mean_return_demeaned" if demeaned else "mean_return"
    q = report.quantile_returns
    fig = go.Figure()
    palette = [BLUE, ORANGE, GREEN, RED, GREY]
    for i, h in enumerate(report.horizons):
        part = q.filter(pl.col("horizon") == h)
        fig.add_trace(go.Bar(x=[str(v) for v in part.get_column("quantile").to_list()],
                             y=part.get_column(col).to_numpy(), name=f"{h} bars",
                             marker_color=palette[i % len(palette)]))  # fmt: skip
    fig.update_layout(barmode="group")
    fig.update_xaxes(title_text="quantile (1 = lowest score)", type="category")
    fig.update_yaxes(title_text="mean forward return" + (" (demeaned)" if demeaned else ""), tickformat=".2%")
    return _layout(fig, "Forward return by score quantile")


def sweep_heatmap(results: pl.DataFrame, x: str, y: str, metric: str = "sharpe", *, slider: str | None = None,
                  fixed: dict | None = None, agg: str | None = None):  # fmt: skip
    """A sweep's ``metric`` over the (x, y) grid as a plotly heatmap; with ``slider=`` a third
    parameter gets a slider (one frame per value). Other parameters: ``fixed`` / ``agg`` as in
    ``SweepResult.plot_heatmap``."""
    go, _ = _go()
    from ml4t_vec.plots import heatmap_grid

    if slider is None:
        ys, xs, grid = heatmap_grid(results, x, y, metric, fixed, agg)
        fig = go.Figure(go.Heatmap(z=grid, x=[str(v) for v in xs], y=[str(v) for v in ys], colorscale="RdYlGn",
                                   colorbar=dict(title=metric)))  # fmt: skip
    else:
        if slider not in results.columns:
            raise ConfigError(f"unknown column {slider!r}.{did_you_mean(slider, list(results.columns))}")
        values = results.get_column(slider).unique().sort().to_list()
        grids = [heatmap_grid(results, x, y, metric, {**(fixed or {}), slider: v}, agg) for v in values]
        finite = np.concatenate([g[2][np.isfinite(g[2])] for g in grids]) if grids else np.zeros(0)
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        traces = [go.Heatmap(z=g, x=[str(v) for v in xs], y=[str(v) for v in ys], colorscale="RdYlGn", zmin=lo,
                             zmax=hi, colorbar=dict(title=metric)) for ys, xs, g in grids]  # fmt: skip
        fig = go.Figure(
            data=[traces[0]], frames=[go.Frame(data=[t], name=str(v)) for t, v in zip(traces, values, strict=True)]
        )
        steps = [dict(method="animate", label=str(v), args=[[str(v)], dict(mode="immediate", frame=dict(duration=0))])
                 for v in values]  # fmt: skip
        fig.update_layout(sliders=[dict(steps=steps, currentvalue=dict(prefix=f"{slider} = "))])
    fig.update_xaxes(title_text=x, type="category")
    fig.update_yaxes(title_text=y, type="category")
    return _layout(fig, f"{metric} over {x} x {y}", 480)


def save_png(fig, path, *, scale: float = 2.0) -> None:
    """Write a figure as PNG (needs kaleido and a Chrome/Chromium browser)."""
    try:
        import kaleido  # noqa: F401
    except ImportError:
        raise ImportError("PNG export needs kaleido: pip install kaleido (and a Chrome or Chromium browser)") from None
    fig.write_image(str(path), scale=scale)
