"""Batch pipelines from config files (``ml4t_vec.pipeline``, ``ml4t-vec run / sweep / report``):
the shipped examples run, results are complete and written atomically, an up-to-date run does
nothing, and every bad config gets an error naming the key and its line."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import polars as pl
import pytest

import ml4t_vec as vec
from ml4t_vec import pipeline
from ml4t_vec.__main__ import main
from ml4t_vec.errors import ConfigError

pytestmark = pytest.mark.filterwarnings("ignore::ml4t_vec.LookAheadWarning", "ignore::ml4t_vec.DataWarning")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FILES = {"trades.parquet", "fills.parquet", "rejected.parquet", "positions.parquet", "equity.parquet",
         "stats.parquet", "stats.json", "config.json", "manifest.json"}  # fmt: skip


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


SMALL = """
    [data]
    source = "synthetic"
    n_assets = 4
    n_bars = 200
    seed = 1

    [signals]
    entries = "pred > 0.6"
    exits = "pred < 0.45"

    [backtest]
    fees = 0.001
    stop_loss = 0.05

    [output]
    report = false
"""


def test_run_writes_a_complete_directory_and_matches_backtest(tmp_path):
    cfg = write(tmp_path, SMALL)
    [d] = pipeline.run(cfg, tmp_path / "out")
    assert d.name == "s" and FILES <= {p.name for p in d.iterdir()}
    prices = vec.synthetic_prices(n_assets=4, n_bars=200, seed=1)
    res = vec.backtest(prices, entries=pl.sql_expr("pred > 0.6"), exits=pl.sql_expr("pred < 0.45"), fees=0.001,
                       stop_loss=0.05)  # fmt: skip
    assert pl.read_parquet(d / "trades.parquet").equals(res.trades)
    assert json.loads((d / "stats.json").read_text())["total_return"] == pytest.approx(
        res.stats().item(0, "total_return")
    )
    m = json.loads((d / "manifest.json").read_text())
    assert m["fingerprint"] == res.fingerprint and m["kind"] == "backtest" and "polars" in m["versions"]
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")], "no temporary directory left"


@pytest.mark.parametrize(
    ("table", "schedule"),
    [
        ('"ibkr_fixed"', "ibkr_fixed"),
        ("{ rate = 0.005, min = 1.0, max_pct = 0.01 }", vec.PerShare(0.005, min=1.0, max_pct=0.01)),
        (
            "{ tiers = [[300, 0.01], [inf, 0.002]], min = 0.35 }",
            vec.Tiered(((300, 0.01), (float("inf"), 0.002)), min=0.35),
        ),
    ],
)
def test_a_commission_schedule_from_a_config_file(tmp_path, table, schedule):
    """``commission`` takes a schedule's name, or a table with a schedule's keys (a table of
    asset names stays a dict by asset)."""
    cfg = write(tmp_path, SMALL.replace("fees = 0.001", f"commission = {table}"))
    [d] = pipeline.run(cfg, tmp_path / "out")
    prices = vec.synthetic_prices(n_assets=4, n_bars=200, seed=1)
    res = vec.backtest(prices, entries=pl.sql_expr("pred > 0.6"), exits=pl.sql_expr("pred < 0.45"), stop_loss=0.05,
                       commission=schedule)  # fmt: skip
    assert pl.read_parquet(d / "fills.parquet").equals(res.fills)
    assert res.fills["fees"].min() > 0


def test_a_spread_from_a_config_file(tmp_path):
    """``spread`` in ``[backtest]``: every fill pays half of it, reported as ``spread_cost``."""
    cfg = write(tmp_path, SMALL.replace("fees = 0.001", "fees = 0.001\n    spread = 0.002"))
    [d] = pipeline.run(cfg, tmp_path / "out")
    fills = pl.read_parquet(d / "fills.parquet")
    prices = vec.synthetic_prices(n_assets=4, n_bars=200, seed=1)
    res = vec.backtest(prices, entries=pl.sql_expr("pred > 0.6"), exits=pl.sql_expr("pred < 0.45"), fees=0.001,
                       stop_loss=0.05, spread=0.002)  # fmt: skip
    assert fills.equals(res.fills) and fills["spread_cost"].min() > 0
    assert json.loads((d / "stats.json").read_text())["total_spread_cost"] == pytest.approx(fills["spread_cost"].sum())


def test_market_impact_from_a_config_file(tmp_path):
    """``impact`` as a table of ``SquareRootImpact``'s keys, ``sigma`` / ``adv`` as SQL expressions;
    a bad key names the table's keys."""
    table = 'impact = { k = 0.3, exponent = 0.5, window = 10, adv = "volume * 2" }'
    cfg = write(tmp_path, SMALL.replace("fees = 0.001", f"fees = 0.001\n    {table}"))
    [d] = pipeline.run(cfg, tmp_path / "out")
    fills = pl.read_parquet(d / "fills.parquet")
    prices = vec.synthetic_prices(n_assets=4, n_bars=200, seed=1)
    imp = vec.SquareRootImpact(k=0.3, window=10, adv=pl.col("volume") * 2)
    res = vec.backtest(prices, entries=pl.sql_expr("pred > 0.6"), exits=pl.sql_expr("pred < 0.45"), fees=0.001,
                       stop_loss=0.05, impact=imp)  # fmt: skip
    assert fills.equals(res.fills) and fills["impact_cost"].max() > 0
    assert json.loads((d / "stats.json").read_text())["total_impact_cost"] == pytest.approx(fills["impact_cost"].sum())
    bad = write(tmp_path, SMALL.replace("fees = 0.001", "impact = { kk = 0.3 }"))
    with pytest.raises(ConfigError, match="Did you mean 'k'"):
        pipeline.run(bad, tmp_path / "out2")


def test_resting_orders_from_a_config_file(tmp_path):
    """``order_type``, ``limit_offset`` and ``tif`` in ``[backtest]``: the same fills as the API."""
    cfg = write(tmp_path, SMALL.replace("fees = 0.001", 'fees = 0.001\n    order_type = "limit"\n'
                                        "    limit_offset = 0.005\n    tif = 3"))  # fmt: skip
    [d] = pipeline.run(cfg, tmp_path / "out")
    fills = pl.read_parquet(d / "fills.parquet")
    prices = vec.synthetic_prices(n_assets=4, n_bars=200, seed=1)
    res = vec.backtest(prices, entries=pl.sql_expr("pred > 0.6"), exits=pl.sql_expr("pred < 0.45"), fees=0.001,
                       stop_loss=0.05, order_type="limit", limit_offset=0.005, tif=3)  # fmt: skip
    assert fills.equals(res.fills) and fills.height > 0
    assert pl.read_parquet(d / "rejected.parquet")["reason"].cast(pl.String).is_in(["expired", "replaced"]).any()


def test_up_to_date_runs_do_nothing_unless_forced(tmp_path, capsys):
    cfg = write(tmp_path, SMALL)
    [d] = pipeline.run(cfg, tmp_path / "out")
    stamp = (d / "trades.parquet").stat().st_mtime_ns
    pipeline.run(cfg, tmp_path / "out")
    assert "up to date" in capsys.readouterr().err and (d / "trades.parquet").stat().st_mtime_ns == stamp
    pipeline.run(cfg, tmp_path / "out", force=True)
    assert (d / "trades.parquet").stat().st_mtime_ns != stamp
    write(tmp_path, SMALL.replace("fees = 0.001", "fees = 0.002"))  # another config: not up to date
    pipeline.run(cfg, tmp_path / "out")
    assert "up to date" not in capsys.readouterr().err


def test_a_crash_leaves_no_directory_that_looks_complete(tmp_path, monkeypatch):
    cfg = write(tmp_path, SMALL)

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(pipeline, "publish", boom)
    with pytest.raises(OSError, match="disk full"):
        pipeline.run(cfg, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_parquet_sources_and_the_data_key(tmp_path):
    prices = vec.synthetic_prices(n_assets=3, n_bars=150, seed=2)
    prices.write_parquet(tmp_path / "p.parquet")
    hive = tmp_path / "hive"
    prices.with_columns(pl.col("timestamp").dt.year().alias("year")).write_parquet(hive, partition_by="year")
    for i, source in enumerate(("p.parquet", "hive", "*.parquet")):
        cfg = write(tmp_path, SMALL.replace('source = "synthetic"', f'source = "{source}"'))
        [d] = pipeline.run(cfg, tmp_path / f"out{i}")
        assert pl.read_parquet(d / "trades.parquet").height > 0
    cfg = write(tmp_path, SMALL.replace('source = "synthetic"', 'source = "p.parquet"'))
    key = json.loads((tmp_path / "out0" / "s" / "manifest.json").read_text())["run_key"]
    prices.head(100).write_parquet(tmp_path / "p.parquet")  # other data: a new run key
    [d] = pipeline.run(cfg, tmp_path / "out0")
    assert json.loads((d / "manifest.json").read_text())["run_key"] != key


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("fees = 0.001", "fess = 0.001"), r"line 13: unknown key 'backtest.fess'. Did you mean 'fees'"),
        (("[output]", "[outptu]"), r"line 16: unknown key 'outptu'. Did you mean 'output'"),
        (('entries = "pred > 0.6"', 'entries = "pred >> )"'), r"line 9: `entries` is not a Polars SQL expression"),
        (('entries = "pred > 0.6"', 'entries = "pred > {x}"'), r"line 9: `entries` has placeholders \['x'\]"),
        (
            ('source = "synthetic"', 'source = "nowhere/*.parquet"'),
            r"line 3: `data.source` 'nowhere/\*.parquet' matches",
        ),
        (("n_assets = 4", "n_asets = 4"), r"line 4: unknown key 'data.n_asets'. Did you mean 'n_assets'"),
        (("fees = 0.001", "fees = -0.1"), r"fees"),
        (("fees = 0.001", 'fees = "0.001"'), r"`fees` must be a number, or .* pass fees=0.001"),
    ],
)
def test_bad_configs_name_the_key_and_line(tmp_path, change, message):
    cfg = write(tmp_path, SMALL.replace(*change))
    with pytest.raises(vec.ConfigError, match=message):
        pipeline.run(cfg, tmp_path / "out")


def test_cli_reports_errors_without_a_traceback(tmp_path, capsys):
    cfg = write(tmp_path, SMALL.replace("fees = 0.001", "fess = 0.001"))
    assert main(["run", str(cfg), "--out", str(tmp_path / "out")]) == 2
    assert "unknown key 'backtest.fess'" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "missing.toml"), "--out", str(tmp_path / "out")]) == 2


def test_sweep_and_report(tmp_path, capsys):
    text = SMALL.replace('entries = "pred > 0.6"', 'entries = "pred > {hi}"').replace(
        'exits = "pred < 0.45"', 'exits = "pred < {lo}"') + """
    [sweep]
    metric = "total_return"
    top = 3
    where = "lo < hi"

    [sweep.params]
    hi = [0.55, 0.6, 0.7]
    lo = [0.4, 0.5, 0.6]
    stop_loss = [0.03, 0.05]
    """  # fmt: skip
    text = text.replace("stop_loss = 0.05\n", "")  # a sweep dimension here
    cfg = write(tmp_path, text, "grid.toml")
    [d] = pipeline.sweep(cfg, tmp_path / "out")
    results = pl.read_parquet(d / "results.parquet")
    assert results.height == 2 * sum(lo < hi for lo in (0.4, 0.5, 0.6) for hi in (0.55, 0.6, 0.7))
    best = pl.read_parquet(d / "best.parquet")
    assert best.height == 3 and best.item(0, "total_return") == results.get_column("total_return").max()
    assert not (tmp_path / "out" / ".checkpoints").exists() or not any((tmp_path / "out" / ".checkpoints").iterdir())
    one = best.row(0, named=True)
    again = vec.backtest(vec.synthetic_prices(n_assets=4, n_bars=200, seed=1), entries=pl.col("pred") > one["hi"],
                         exits=pl.col("pred") < one["lo"], fees=0.001, stop_loss=one["stop_loss"])  # fmt: skip
    assert again.stats().item(0, "total_return") == pytest.approx(one["total_return"], rel=1e-9)
    pipeline.run(write(tmp_path, SMALL), tmp_path / "out")
    table = pipeline.report(tmp_path / "out")
    assert table.get_column("name").to_list() == ["grid", "s"] and table.get_column("kind").to_list() == [
        "sweep",
        "backtest",
    ]
    assert main(["report", str(tmp_path / "out")]) == 0 and "grid" in capsys.readouterr().out
    with pytest.raises(vec.ConfigError, match=r"line 9: `entries` uses \{hx\}, which is not in \[sweep.params\]"):
        pipeline.sweep(write(tmp_path, text.replace("{hi}", "{hx}"), "bad.toml"), tmp_path / "out")
    with pytest.raises(vec.ConfigError, match="sweep parameter 'hi' enters an expression"):
        pipeline.sweep(write(tmp_path, text.replace("hi = [0.55, 0.6, 0.7]", 'hi = ["x"]'), "bad2.toml"),
                       tmp_path / "out")  # fmt: skip
    with pytest.raises(vec.ConfigError, match="`risk_free` applies to a backtest's stats"):
        pipeline.sweep(write(tmp_path, text.replace("report = false", "report = false\n    risk_free = 0.03"),
                             "bad3.toml"), tmp_path / "out")  # fmt: skip


def test_risk_free_reaches_the_stats(tmp_path):
    cfg = write(tmp_path, SMALL.replace("report = false", "report = false\n    risk_free = 0.03"))
    [d] = pipeline.run(cfg, tmp_path / "out")
    res = vec.backtest(vec.synthetic_prices(n_assets=4, n_bars=200, seed=1), entries=pl.col("pred") > 0.6,
                       exits=pl.col("pred") < 0.45, fees=0.001, stop_loss=0.05)  # fmt: skip
    got = json.loads((d / "stats.json").read_text())
    assert got["risk_free"] == 0.03 and got["sharpe"] == pytest.approx(res.stats(risk_free=0.03).item(0, "sharpe"))
    assert got["sharpe"] != pytest.approx(res.stats().item(0, "sharpe"))


def test_yaml_configs_where_pyyaml_is_installed(tmp_path):
    yaml = pytest.importorskip("yaml")
    import tomllib

    raw = tomllib.loads(textwrap.dedent(SMALL))
    y = tmp_path / "s.yaml"
    y.write_text(yaml.safe_dump(raw))
    [d] = pipeline.run(y, tmp_path / "out")
    [t] = pipeline.run(write(tmp_path, SMALL), tmp_path / "out2")
    assert pl.read_parquet(d / "trades.parquet").equals(pl.read_parquet(t / "trades.parquet"))


def test_the_shipped_examples_run(tmp_path):
    """examples/strategy.toml (two strategies) and examples/sweep.toml, as CI runs them."""
    out = tmp_path / "results"
    names = [p.name for p in pipeline.run(EXAMPLES / "strategy.toml", out)]
    assert names == ["score_threshold", "top_quintile"]
    [d] = pipeline.sweep(EXAMPLES / "sweep.toml", out)
    assert pl.read_parquet(d / "results.parquet").height == 16
    assert os.path.isdir(out / "score_threshold")
