"""Figures and the HTML report (optional extra ``plot``: plotly), checked as a person would.

The report is opened in headless Chromium (Debian's ``chromium``; ``.ci/run`` installs it): the
page records on ``<body>`` how many figures it drew, how many have no data point, and every
JavaScript error. The test fails on any error, any empty figure or a missing figure, and saves
a screenshot. Two doctored copies of the page (a script that throws, a figure without data)
show the check can fail. Without plotly or Chromium the tests skip, unless
``ML4T_VEC_REQUIRE_EXTRAS`` is set (CI's extras step).
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import ml4t_vec as vec

pytestmark = pytest.mark.filterwarnings("ignore::ml4t_vec.LookAheadWarning")
REQUIRED = bool(os.environ.get("ML4T_VEC_REQUIRE_EXTRAS"))
N_FIGURES = 7  # equity, rolling, monthly, returns, exposure, one asset's fills, excursions


def need(module: str):
    if REQUIRED:
        return importlib.import_module(module)
    return pytest.importorskip(module, reason=f"{module} not installed: pip install -e '.[plot]'")


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if exe is None:
        if REQUIRED:
            pytest.fail("no Chromium: apt-get install -y chromium")
        pytest.skip("no Chromium (apt-get install -y chromium)")
    return exe


@pytest.fixture(scope="module")
def result():
    prices = vec.synthetic_prices(n_assets=8, n_bars=700, seed=11)
    return vec.backtest(prices, entries=pl.col("pred") > 0.6, exits=pl.col("pred") < 0.45, fees=0.001,
                        stop_loss=0.05, benchmark=prices.get_column("asset")[0])  # fmt: skip


def browser_health(page: Path, shot: Path | None = None) -> dict:
    """Open ``page`` in headless Chromium; the attributes the page set on <body> once loaded."""
    base = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--virtual-time-budget=20000", "--window-size=1400,5200"]  # fmt: skip
    dom = subprocess.run([*base, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=180).stdout
    body = re.search(r"<body([^>]*)>", dom)
    assert body, f"no <body> in Chromium's DOM dump ({len(dom)} characters)"
    attrs = dict(re.findall(r'data-([a-z]+)="([^"]*)"', body.group(1)))
    if shot is not None:
        subprocess.run([*base, f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=180)
    return attrs


def test_report_renders_in_chromium(result, tmp_path):
    need("plotly")
    page = result.report(tmp_path / "report.html")
    shot = tmp_path / "report.png"
    health = browser_health(page, shot)
    assert json.loads(health["errors"].replace("&quot;", '"')) == [], health
    assert int(health["figures"]) == N_FIGURES, health
    assert int(health["empty"]) == 0, health
    assert shot.exists() and shot.stat().st_size > 100_000, "the screenshot is (nearly) blank"


def test_the_browser_check_can_fail(result, tmp_path):
    need("plotly")
    page = result.report(tmp_path / "report.html").read_text()
    broken = tmp_path / "broken.html"
    broken.write_text(page.replace("</body>", "<script>undefinedFunction();</script></body>"))
    assert "undefinedFunction" in browser_health(broken)["errors"]
    empty = tmp_path / "empty.html"
    empty.write_text(page.replace("</body>", '<div id="e"></div><script>Plotly.newPlot("e", [{x: [], y: []}]);'
                                             "</script></body>"))  # fmt: skip
    health = browser_health(empty)
    assert int(health["empty"]) == 1 and int(health["figures"]) == N_FIGURES + 1


def test_report_contents(result, tmp_path):
    need("plotly")
    from plotly.offline import get_plotlyjs

    page = result.report(tmp_path / "r.html", title="My <strategy>").read_text()
    assert page.count(get_plotlyjs()[:200]) == 1, "plotly.js must be embedded exactly once"
    assert "https://cdn" not in page.split("</head>")[1][:2000]
    for text in (result.config_hash, result.fingerprint, "sharpe", "information_ratio", "worst 10 by pnl",
                 "by exit reason", "polars", "numba", "My &lt;strategy&gt;"):  # fmt: skip
        assert text in page, text
    assert not list(tmp_path.glob("*.tmp")), "the report is written atomically"


def test_report_size_and_thinning(tmp_path):
    """A long run: every series is thinned for display (extremes kept), so the file stays small."""
    need("plotly")
    from ml4t_vec.figures import MAX_POINTS, thin

    y = np.sin(np.linspace(0, 60, 50_000))
    y[12_345] = -5.0
    idx = thin(y.shape[0], y)
    assert idx.shape[0] <= MAX_POINTS + 2 and 12_345 in idx and idx[0] == 0 and idx[-1] == y.shape[0] - 1
    prices = vec.synthetic_prices(n_assets=3, n_bars=12_000, seed=2)
    res = vec.backtest(prices, entries=pl.col("pred") > 0.7, exits=pl.col("pred") < 0.3)
    page = res.report(tmp_path / "long.html")
    assert page.stat().st_size < 10_000_000


def test_plot_kinds_and_errors(result):
    need("plotly")
    for kind in ("equity", "trades", "returns", "monthly", "excursions", "exposure", "rolling"):
        fig = result.plot(kind)
        assert fig.data and any(len(t.x if t.x is not None else t.z) for t in fig.data), kind
    assert len(result.plot("equity").data) == 3  # equity, benchmark, drawdown
    fig = result.plot("trades")  # the run has stop_loss=0.05 anchored at the fill: one segment per trade
    stops = next(t for t in fig.data if t.name == "stop_loss 0.05")
    trades = result.trades.filter(pl.col("symbol") == fig.layout.title.text.split(":")[0])
    assert len(stops.y) == 3 * trades.height
    assert stops.y[0] == pytest.approx(trades.item(0, "entry_price") * (0.95 if trades.item(0, "direction") == "long"
                                                                        else 1.05))  # fmt: skip
    assert result.plot("trades", symbol="A3").layout.title.text.startswith("A3")
    with pytest.raises(vec.ConfigError, match="`kind` must be one of"):
        result.plot("equty")
    with pytest.raises(vec.ConfigError, match="not an asset of the panel"):
        result.plot("trades", symbol="ZZZ")


def test_signal_report_figures_in_the_report(tmp_path):
    """signal_report's IC and quantile figures, alone and in the report (two more figures, drawn)."""
    need("plotly")
    prices = vec.synthetic_prices(n_assets=30, n_bars=300, seed=5)
    rep = vec.signal_report(prices, "pred", horizons=(1, 5), quantiles=5)
    ic = rep.plot("ic", horizon=5)
    assert len(ic.data) == 4 and len(ic.data[0].x) == rep.ic.filter(pl.col("horizon") == 5)["rank_ic"].count()
    q = rep.plot("quantiles")
    assert [t.name for t in q.data] == ["1 bars", "5 bars"] and len(q.data[0].y) == 5
    with pytest.raises(vec.ConfigError, match="`horizon` must be one of"):
        rep.plot("ic", horizon=3)
    res = vec.backtest(prices, entries=pl.col("pred") > 0.6, exits=pl.col("pred") < 0.45)
    page = res.report(tmp_path / "with_signal.html", signal_report=rep)
    assert "Prediction quality" in page.read_text()
    health = browser_health(page)
    assert int(health["figures"]) == N_FIGURES + 2 and int(health["empty"]) == 0, health


def test_sweep_heatmap_with_a_slider():
    need("plotly")
    from ml4t_vec.figures import sweep_heatmap

    rows = [dict(fast=f, slow=s, stop=st, sharpe=f * 0.1 - s * 0.01 + st) for f in (5, 10) for s in (20, 40, 60)
            for st in (0.02, 0.05)]  # fmt: skip
    fig = sweep_heatmap(pl.DataFrame(rows), "fast", "slow", slider="stop")
    assert len(fig.frames) == 2 and fig.layout.sliders[0].steps[1].label == "0.05"
    z = np.array(fig.frames[1].data[0].z)
    assert z.shape == (3, 2) and z[0, 1] == pytest.approx(10 * 0.1 - 20 * 0.01 + 0.05)
    plain = sweep_heatmap(pl.DataFrame(rows), "fast", "slow", agg="max")
    assert np.array(plain.data[0].z)[2, 0] == pytest.approx(0.5 - 0.6 + 0.05)


def test_png_export_where_kaleido_is_installed(result, tmp_path):
    """``figures.save_png``: kaleido is optional (in no extra); it drives a Chrome/Chromium."""
    need("plotly")
    pytest.importorskip("kaleido", reason="kaleido not installed: pip install kaleido")
    chromium()
    from ml4t_vec.figures import save_png

    save_png(result.plot("equity"), tmp_path / "equity.png", scale=1.0)
    data = (tmp_path / "equity.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
