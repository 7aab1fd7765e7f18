"""``BacktestResult.report(path)``: one self-contained, offline HTML file.

Contents: the metrics of ``summary()`` grouped by section; the figures of ``ml4t_vec.figures``
(equity and drawdown with the benchmark, rolling Sharpe and beta, monthly returns, the return
distribution, exposure and names held, one asset's fills, trade excursions); the trade analysis
of ``res.analyze()`` (all realised rows, by exit reason, by direction, excursions, the best and
worst trades); with ``signal_report=`` the score's IC summary, its rank IC over time and
decay, and the quantile returns; the config, its hash, the data fingerprint, the
signals and the package versions. plotly.js is embedded once (no network needed to open it).

The page marks its own health on ``<body>`` once loaded (``data-figures``: figures drawn,
``data-empty``: figures with no data point, ``data-errors``: JavaScript errors), which the
browser test reads (tests/contracts/test_report.py).
"""

from __future__ import annotations

import datetime as dt
import html
import importlib.metadata
import json
import platform
from pathlib import Path

import polars as pl

from ml4t_vec import figures
from ml4t_vec.metrics import Summary

PACKAGES = ("ml4t-vec", "polars", "numba", "numpy", "pyarrow", "plotly")

_CSS = """
body { font-family: -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif; margin: 24px auto;
       max-width: 1280px; color: #222; }
h1 { font-size: 24px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #ddd; }
.meta { color: #666; font-size: 13px; }
.sections { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; }
.sections table { min-width: 260px; }
table { border-collapse: collapse; font-size: 13px; }
td, th { padding: 3px 8px; border-bottom: 1px solid #eee; text-align: right; }
td:first-child, th:first-child { text-align: left; }
th { background: #f6f6f6; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
pre { background: #f6f6f6; padding: 10px; font-size: 12px; overflow-x: auto; }
.fig { margin: 12px 0; }
"""

_HEALTH = """
<script>
window.__errors = [];
window.addEventListener('error', function (e) { window.__errors.push(String(e.message)); });
window.addEventListener('load', function () {
  var plots = document.querySelectorAll('.js-plotly-plot');
  var empty = 0;
  plots.forEach(function (p) {
    var n = 0;
    (p._fullData || []).forEach(function (t) {  // decoded traces: numpy arrays arrive base64-encoded
      var len = t._length;
      if (len === undefined || len === null) { len = (t.z && t.z.length) || (t.x && t.x.length) || 0; }
      n += len;
    });
    if (n === 0) { empty += 1; }
  });
  document.body.setAttribute('data-figures', String(plots.length));
  document.body.setAttribute('data-empty', String(empty));
  document.body.setAttribute('data-errors', JSON.stringify(window.__errors));
});
</script>
"""


def _number(v: float) -> str:
    if v != v:
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:,.2f}" if abs(v) >= 1 else f"{v:.4g}"


def _table(df: pl.DataFrame, caption: str | None = None) -> str:
    def cell(v) -> str:
        return _number(v) if isinstance(v, float) else html.escape(str(v))

    head = "".join(f"<th>{html.escape(c)}</th>" for c in df.columns)
    rows = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in df.iter_rows())
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _summary_tables(summary: Summary) -> str:
    out = []
    for sec in summary.frame.get_column("section").unique(maintain_order=True):
        part = summary.frame.filter(pl.col("section") == sec).select("metric", "value")
        out.append(_table(part, sec))
    return f'<div class="sections">{"".join(out)}</div>'


def versions() -> dict:
    out = {"python": platform.python_version()}
    for p in PACKAGES:
        try:
            out[p] = importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out


TRADE_COLS = ("symbol", "direction", "entry_time", "exit_time", "entry_price", "exit_price", "quantity", "pnl",
              "pnl_percent", "bars_held", "exit_reason", "status")  # fmt: skip


def build(res, path, *, benchmark=None, symbol: str | None = None, title: str | None = None, window: int = 63,
          n_trades: int = 10, signal_report=None, risk_free: float = 0.0) -> Path:  # fmt: skip
    """Write the report of ``res`` to ``path`` (module doc); returns the path."""
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    path = Path(path)
    summary = Summary(res.stats(benchmark=benchmark, risk_free=risk_free))
    figs = [
        figures.equity_figure(res, benchmark),
        figures.rolling_figure(res, window, benchmark, risk_free),
        figures.monthly_figure(res),
        figures.returns_figure(res),
        figures.exposure_figure(res),
    ]
    if res.trades.height:
        figs += [figures.trades_figure(res, symbol), figures.excursions_figure(res)]
    prediction = ""
    if signal_report is not None:  # the score's own quality: IC over time and decay, quantile returns
        figs += [figures.ic_figure(signal_report), figures.quantile_figure(signal_report)]
        prediction = "<h2>Prediction quality</h2>" + _table(signal_report.summary, "IC summary per horizon")
    blocks = [f'<div class="fig">{pio.to_html(f, full_html=False, include_plotlyjs=False)}</div>' for f in figs]
    analysis = res.analyze(n_best=n_trades)
    best, worst = (f.select(TRADE_COLS).with_columns(pl.col("direction", "exit_reason", "status").cast(pl.String))
                   for f in (analysis.best, analysis.worst))  # fmt: skip
    by_reason = analysis.by_exit_reason.with_columns(pl.col("exit_reason").cast(pl.String))
    by_side = analysis.by_direction.with_columns(pl.col("direction").cast(pl.String))
    p = res._prep
    title = title or f"Backtest: {p.n_assets} assets x {p.n_bars} bars"
    signals = {k: (v if isinstance(v, str) else str(v)) for k, v in res._signals.items()}
    meta = (
        f"{html.escape(str(p.timestamps[0]) if p.n_bars else '')} to "
        f"{html.escape(str(p.timestamps[-1]) if p.n_bars else '')} · config {res.config_hash} · "
        f"data fingerprint {res.fingerprint} · written {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
    )
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_CSS}</style>
<script type="text/javascript">{get_plotlyjs()}</script>
{_HEALTH}
</head><body>
<h1>{html.escape(title)}</h1>
<div class="meta">{meta}</div>
<h2>Summary</h2>
{_summary_tables(summary)}
<h2>Figures</h2>
{"".join(blocks)}
{prediction}
<h2>Trades</h2>
{_table(analysis.overall, "all realised rows (closed and partial)")}
{_table(by_reason, "by exit reason")}
{_table(by_side, "by direction")}
{_table(analysis.excursions, "excursions (MFE / MAE)")}
{_table(best, f"best {n_trades} by pnl")}
{_table(worst, f"worst {n_trades} by pnl")}
<h2>Configuration</h2>
<pre>{html.escape(json.dumps(res.config.to_dict(), indent=2, default=str))}</pre>
<h2>Signals</h2>
<pre>{html.escape(json.dumps(signals, indent=2))}</pre>
<h2>Versions</h2>
{_table(pl.DataFrame({"package": list(versions()), "version": list(versions().values())}))}
</body></html>
"""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)  # a crash never leaves a half-written report under the final name
    return path
