"""Public surface, code tables, layering and docs stay as declared."""

import ast
import contextlib
import io
import re
from pathlib import Path

import ml4t_vec
from ml4t_vec import _lower, schema
from ml4t_vec.__main__ import schema_docs
from ml4t_vec._kernels import codes

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "ml4t_vec"


def test_public_all_is_exact():
    assert sorted(ml4t_vec.__all__) == sorted(
        [
            "BacktestConfig",
            "BacktestResult",
            "ConfigError",
            "CostConfig",
            "DataError",
            "DataWarning",
            "ExecutionConfig",
            "LimitsConfig",
            "LookAheadWarning",
            "Params",
            "PerShare",
            "PortfolioConfig",
            "RebalanceConfig",
            "RiskConfig",
            "SignalReport",
            "SizingConfig",
            "SquareRootImpact",
            "SweepResult",
            "Tiered",
            "WalkForwardResult",
            "__version__",
            "analysis",
            "backtest",
            "load_sample",
            "round_trips",
            "signal_report",
            "splits",
            "sweep",
            "synthetic_prices",
            "walk_forward",
            "weights",
        ]
    )
    for name in ml4t_vec.__all__:
        assert hasattr(ml4t_vec, name)


def test_code_tables_are_one_to_one():
    for name, table in codes.CODE_TABLES.items():
        inverse = codes.decode(table)
        assert len(inverse) == len(table), f"{name}: two strings share a code"
        assert {v: k for k, v in inverse.items()} == table, name


def test_timing_codes_are_bar_cycle_phases():
    # simulate._run_group_nb's fill sites are in this order (open, close, same bar's close)
    assert codes.TIMING == {"next_open": 0, "next_close": 1, "same_close": 2}


def test_enum_dtypes_match_code_tables():
    assert list(schema.Side.categories) == list(codes.SIDE)
    assert list(schema.ExitReason.categories) == list(codes.EXIT_REASON)
    assert list(schema.RejectReason.categories) == list(codes.REJECT_REASON)
    assert list(schema.Status.categories) == list(codes.STATUS)
    assert list(schema.Direction.categories) == list(codes.DIRECTION)
    assert list(schema.Effect.categories) == list(codes.EFFECT)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (imports inside functions too): ``from a import
    b`` counts as both ``a`` and ``a.b`` (``b`` may be a module)."""
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


def _module(f: Path) -> str:
    rel = f.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def test_kernels_import_no_polars():
    for f in (PKG / "_kernels").glob("*.py"):
        mods = _imports(f)
        assert not any(m.split(".")[0] == "polars" for m in mods), f"{f.name} imports polars"
        assert not any(m.startswith("ml4t_vec.") and not m.startswith("ml4t_vec._kernels") for m in mods), f.name


# the frontend: entry points that call the layers in order (they may import each other)
FRONTEND = {"ml4t_vec", "ml4t_vec.__main__", "ml4t_vec.api", "ml4t_vec.sweeps", "ml4t_vec.pipeline",
            "ml4t_vec.namespace", "ml4t_vec.walkforward"}  # fmt: skip


def test_layers_import_downwards_only():
    """Frontend -> prepare -> kernels -> frames: lower layers never import the frontend, however
    they spell it (``from ml4t_vec import api`` included), not even inside a function."""
    for f in PKG.rglob("*.py"):
        mod = _module(f)
        if mod in FRONTEND:
            continue
        up = {m for m in _imports(f) if m in FRONTEND - {"ml4t_vec"}}
        assert not up, f"{mod} imports the frontend {sorted(up)}"


def test_no_import_cycles():
    """The package's modules import each other without a cycle (lazy imports inside functions
    count: a cycle there is a layering mistake waiting for an import-order bug)."""
    mods = {_module(f): f for f in PKG.rglob("*.py")}
    graph = {m: {i for i in _imports(f) if i in mods and i != m and i != "ml4t_vec"} for m, f in mods.items()}
    state: dict = {}

    def visit(m, path):
        if state.get(m) == 1:
            raise AssertionError(f"import cycle: {' -> '.join([*path, m])}")
        if state.get(m) == 2:
            return
        state[m] = 1
        for n in sorted(graph[m]):
            visit(n, [*path, m])
        state[m] = 2

    for m in sorted(graph):
        visit(m, [])


def test_every_jitted_function_is_cached_and_named_nb():
    for f in (PKG / "_kernels").glob("*.py"):
        tree = ast.parse(f.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef):
                decos = [ast.unparse(d) for d in node.decorator_list]
                jitted = [d for d in decos if d.startswith("njit")]
                if jitted:
                    assert node.name.endswith("_nb") or node.name.startswith("_bar_ok"), node.name
                    assert "cache=True" in jitted[0] and "nogil=True" in jitted[0], (f.name, node.name)


def test_readme_output_tables_match_schema():
    readme = (ROOT / "README.md").read_text()
    for name, spec in schema.SCHEMAS.items():
        m = re.search(rf"<!-- schema:{name} -->(.*?)<!-- /schema:{name} -->", readme, re.S)
        assert m, f"README has no table for {name}"
        rows = re.findall(r"^\| `([^`]+)` \|", m.group(1), re.M)
        assert rows == list(spec), f"README table {name} is out of date: run python -m ml4t_vec schema-docs"
    # types (enum categories) and meanings too: the generated block appears verbatim
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        schema_docs()
    assert out.getvalue().strip() in readme, "README output tables are out of date: run python -m ml4t_vec schema-docs"


def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    m = re.search(r"<!-- test-command -->\s*```bash\n(.*?)```", readme, re.S)
    assert m, "README lost its test command block"
    for line in m.group(1).strip().splitlines():
        assert line.strip() in ci, f"CI does not run the README line: {line}"


def test_stale_kernel_caches_are_dropped_when_sources_change(tmp_path):
    from ml4t_vec import _kernels

    (tmp_path / "orders.py").write_text("x = 1\n")
    cache = tmp_path / "__pycache__"
    cache.mkdir()
    _kernels._drop_stale_caches(tmp_path)  # first sight: stamp written
    entry = cache / "simulate.simulate_nb-1.py311.nbi"
    entry.write_text("compiled")
    _kernels._drop_stale_caches(tmp_path)  # sources unchanged: the cache is kept
    assert entry.exists()
    (tmp_path / "orders.py").write_text("x = 2\n")  # a kernel file edited: inlined copies are stale
    _kernels._drop_stale_caches(tmp_path)
    assert not entry.exists()


def test_every_setting_keyword_reaches_its_config_section():
    """Each keyword of backtest() that is a setting is routed to the config field of that name,
    and every config field has a keyword (a keyword silently ignored was a real bug)."""
    import dataclasses
    import inspect

    from ml4t_vec import api

    not_settings = {
        "prices",
        "entries",
        "exits",
        "short_entries",
        "short_exits",
        "weights",
        "signals",
        "asset_col",
        "timestamp_col",
        "config",
        "preset",  # BacktestConfig.preset, routed by _build_config
        "benchmark",  # analysis only: kept by the result, changes no trade
        "unknown",
    }
    keywords = set(inspect.signature(api.backtest).parameters) - not_settings
    routed = {k for keys in _lower.CONFIG_KEYS.values() for k in keys}
    assert keywords == routed
    for section, keys in _lower.CONFIG_KEYS.items():
        fields = {f.name for f in dataclasses.fields(_lower.SECTIONS[section])}
        assert fields == set(keys), section


def test_summary_shows_every_stat_once():
    from ml4t_vec.metrics import STATS_DOC, SUMMARY_SECTIONS

    shown = [m for names in SUMMARY_SECTIONS.values() for m in names]
    assert sorted(shown) == sorted(STATS_DOC), "res.summary() must list every metric of stats() once"


def test_readme_lists_every_stat():
    from ml4t_vec.metrics import STATS_DOC

    outputs = (ROOT / "README.md").read_text().split("## Outputs", 1)[1].split("\n## ", 1)[0]
    missing = [m for m in STATS_DOC if f"`{m}`" not in outputs]
    assert not missing, f"README 'Outputs' does not list these metrics of stats(): {missing}"
