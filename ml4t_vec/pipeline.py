"""Batch research pipelines: a strategy or a sweep from a config file to a results directory.

``ml4t-vec run strategy.toml --out results/``, ``ml4t-vec sweep sweep.toml --out results/`` and
``ml4t-vec report results/`` (README "Batch pipelines" lists every key). TOML needs nothing
(``tomllib``); YAML works where ``pyyaml`` is installed.

A config names the data (``[data]``), the signals or weights as **Polars SQL expressions**
(``pl.sql_expr``: never Python ``eval``, never pickle), the backtest settings (``[backtest]``,
any ``backtest`` keyword) and what to write (``[output]``). ``[[strategies]]`` runs several,
each over the top-level tables. A sweep adds ``[sweep]`` and ``[sweep.params]``; parameters
enter the expressions as named placeholders (``{fast}``), replaced only by validated numbers.

Each strategy writes ``<out>/<name>/``: ``trades``, ``fills``, ``rejected``, ``positions``,
``equity`` and ``stats`` as Parquet, ``stats.json``, ``config.json`` (the strategy's resolved
section and the backtest's full ``BacktestConfig``), ``manifest.json`` (run key, fingerprint,
versions, timings, files) and ``report.html`` where plotly is installed. The directory is built
under a temporary name and renamed into place when complete: a crash never leaves a directory
that looks complete. The run key hashes the strategy's resolved section and the data (file
contents, or the generator's settings); a directory whose manifest has the same key is up to
date, and running again does nothing unless ``--force``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import shutil
import string
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from ml4t_vec.commission import PerShare, Tiered
from ml4t_vec.errors import ConfigError, did_you_mean
from ml4t_vec.impact import SquareRootImpact
from ml4t_vec.report import versions

SIGNAL_KEYS = ("entries", "exits", "short_entries", "short_exits")
TOP_KEYS = ("name", "data", "signals", "weights", "backtest", "output", "strategies", "sweep")
DATA_KEYS = ("source", "n_assets", "n_bars", "seed", "asset_col", "timestamp_col", "start", "end")
OUTPUT_KEYS = ("report", "benchmark", "periods_per_year", "risk_free", "title")
SWEEP_KEYS = ("params", "where", "metric", "top", "batch_size", "checkpoint", "executor", "n_jobs", "sample", "seed")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


class ConfigFileError(ConfigError):
    """A config file problem, naming the file, the key and its line."""


@dataclass(frozen=True)
class Source:
    """A config file's text, for line numbers in errors."""

    path: Path
    text: str

    def line_of(self, table: tuple, key: str | None = None, index: int = 0) -> int | None:
        """The line of ``key`` in ``[table]`` (the ``index``-th ``[[table]]``), or of the table's header."""
        header, seen, current = ".".join(table), -1, None
        for no, raw in enumerate(self.text.splitlines(), 1):
            line = raw.strip()
            m = re.match(r"^\[\[?\s*([^\]]+?)\s*\]\]?", line)
            if m:
                current = m.group(1).replace('"', "").replace(" ", "")
                if key is not None and current == ".".join((*table, key)):  # the key is a table: its header
                    return no
                if current == header:
                    seen += 1
                    if key is None and seen == index:
                        return no
                continue
            if key is not None and (current or "") == header and seen == index or (not table and current is None):
                if re.match(rf'^"?{re.escape(key)}"?\s*[=:]', line):
                    return no
        return None

    def fail(self, msg: str, table: tuple = (), key: str | None = None, index: int = 0) -> ConfigFileError:
        line = self.line_of(table, key, index) or (self.line_of(table, None, index) if table else None)
        where = f"{self.path}" + (f", line {line}" if line else "")
        return ConfigFileError(f"{where}: {msg}")


def load(path) -> tuple[dict, Source]:
    """A config file as a dict (TOML, or YAML with pyyaml) and its source."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist.")
    text = path.read_text(encoding="utf-8")
    src = Source(path, text)
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ConfigError(f"{path}: YAML configs need pyyaml (pip install pyyaml); TOML needs nothing.") from None
        try:
            raw = yaml.safe_load(text) or {}
        except yaml.YAMLError as err:
            raise ConfigFileError(f"{path}: not valid YAML: {err}") from None
    else:
        import tomllib

        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise ConfigFileError(f"{path}: not valid TOML: {err}") from None
    if not isinstance(raw, dict):
        raise ConfigFileError(f"{path}: the top level must be a table of keys.")
    return raw, src


def _check_keys(src: Source, table: dict, known, where: tuple, index: int = 0) -> None:
    for k in table:
        if k not in known:
            name = ".".join((*where, k)) if where else k
            raise src.fail(f"unknown key {name!r}.{did_you_mean(k, list(known))}", where, k, index)


def _settings() -> tuple[str, ...]:
    """The keys of ``[backtest]``: every backtest setting (``_lower.SETTINGS``) and ``preset``."""
    from ml4t_vec._lower import SETTINGS

    return (*SETTINGS, "preset")


def strategies(raw: dict, src: Source, sweep: bool = False) -> list[dict]:
    """The resolved strategies of a config: each ``[[strategies]]`` entry over the top-level
    tables (``data``, ``backtest``, ``output`` merged key by key), checked."""
    _check_keys(src, raw, TOP_KEYS, ())
    base = {k: v for k, v in raw.items() if k != "strategies"}
    entries = raw.get("strategies")
    if entries is None:
        entries = [{}]
    elif not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise src.fail("`strategies` must be an array of tables ([[strategies]]).", (), "strategies")
    out, names = [], set()
    settings = _settings()
    for i, entry in enumerate(entries):
        where = ("strategies",) if raw.get("strategies") is not None else ()
        _check_keys(src, entry, [k for k in TOP_KEYS if k not in ("strategies", "data")], where, i)
        s = {"name": entry.get("name", base.get("name", Path(src.path).stem if len(entries) == 1 else None))}
        if not isinstance(s["name"], str) or not NAME.match(s["name"]):
            raise src.fail(f"`name` must be a short name of letters, digits, '_', '-' or '.'; got {s['name']!r}.",
                           where, "name", i)  # fmt: skip
        if s["name"] in names:
            raise src.fail(f"two strategies are named {s['name']!r}; each needs its own name (its directory).",
                           where, "name", i)  # fmt: skip
        names.add(s["name"])
        for table in ("data", "backtest", "output", "sweep"):
            merged = dict(base.get(table) or {}) | dict(entry.get(table) or {})
            s[table] = merged
        for k in ("signals", "weights"):
            v = entry.get(k, base.get(k))
            if v is not None:
                s[k] = v
        _check_keys(src, s["data"], DATA_KEYS, ("data",))
        _check_keys(src, s["backtest"], settings, ("backtest",))
        _check_keys(src, s["output"], OUTPUT_KEYS, ("output",))
        if sweep:
            if not s["sweep"]:
                raise src.fail("a sweep config needs a [sweep] table with [sweep.params].", ())
            _check_keys(src, s["sweep"], SWEEP_KEYS, ("sweep",))
        elif s["sweep"]:
            raise src.fail("this config has a [sweep] table: run it with `ml4t-vec sweep`.", ("sweep",))
        _check_signals(src, s, where, i)
        out.append(s)
    return out


def _check_signals(src: Source, s: dict, where: tuple, i: int) -> None:
    sig, w = s.get("signals"), s.get("weights")
    if (sig is None) == (w is None):
        raise src.fail("give either [signals] (entries, exits, ...) or `weights` (one expression).", where, None, i)
    if sig is not None:
        if not isinstance(sig, dict):
            raise src.fail("`signals` must be a table of SQL expressions.", where, "signals", i)
        _check_keys(src, sig, SIGNAL_KEYS, ("signals",))
        if "entries" not in sig and "short_entries" not in sig:
            raise src.fail("[signals] needs `entries` or `short_entries`.", ("signals",))
        for k, v in sig.items():
            if not isinstance(v, str):
                raise src.fail(f"`signals.{k}` must be a Polars SQL expression (a string); got {v!r}.", ("signals",), k)
    elif not isinstance(w, str):
        raise src.fail(f"`weights` must be a Polars SQL expression (a string); got {w!r}.", where, "weights", i)


def placeholders(text: str) -> list[str]:
    return [f for _, f, _, _ in string.Formatter().parse(text) if f]


def sql(src: Source, text: str, table: tuple, key: str, params: dict | None = None) -> pl.Expr:
    """A Polars expression from SQL text; ``{name}`` placeholders take validated numbers."""
    names = placeholders(text)
    if names and params is None:
        raise src.fail(f"`{key}` has placeholders {names} but this is not a sweep: only [sweep.params] fill them.",
                       table, key)  # fmt: skip
    if params is not None:
        unknown = [n for n in names if n not in params]
        if unknown:
            hint = did_you_mean(unknown[0], list(params))
            raise src.fail(f"`{key}` uses {{{unknown[0]}}}, which is not in [sweep.params].{hint}", table, key)
        text = text.format_map({n: _number(src, params[n], n) for n in names})
    try:
        return pl.sql_expr(text)
    except Exception as err:
        raise src.fail(f"`{key}` is not a Polars SQL expression: {type(err).__name__}: {err}", table, key) from None


def _number(src: Source, v, name: str) -> str:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise src.fail(f"sweep parameter {name!r} enters an expression: its values must be finite numbers; got {v!r}.",
                       ("sweep", "params"), name)  # fmt: skip
    return repr(v)


# ------------------------------------------------------------------------------------------ data
def data_files(source: str, base: Path) -> list[Path]:
    """The files behind a Parquet source (a file, a glob or a directory), sorted."""
    p = Path(source)
    p = p if p.is_absolute() else base / p
    if any(ch in source for ch in "*?["):
        files = sorted(
            Path(p.anchor or ".").glob(str(p.relative_to(p.anchor))) if p.is_absolute() else base.glob(source)
        )
    elif p.is_dir():
        files = sorted(f for f in p.rglob("*.parquet"))
    else:
        files = [p] if p.exists() else []
    return files


def load_data(src: Source, data: dict) -> tuple[pl.DataFrame | pl.LazyFrame, str]:
    """(prices, data key): the frame, and a digest of what it is (file contents or generator settings)."""
    source = data.get("source", "synthetic")
    if not isinstance(source, str):
        raise src.fail(f"`data.source` must be 'synthetic' or a Parquet path; got {source!r}.", ("data",), "source")
    h = hashlib.sha256()
    if source == "synthetic":
        import ml4t_vec as vec

        kw = {k: data[k] for k in ("n_assets", "n_bars", "seed") if k in data}
        try:
            prices = vec.synthetic_prices(**kw)
        except (TypeError, ValueError) as err:
            raise src.fail(f"`data` for the synthetic source: {err}", ("data",)) from None
        h.update(json.dumps({"synthetic": kw}, sort_keys=True).encode())
    else:
        files = data_files(source, src.path.parent)
        if not files:
            raise src.fail(f"`data.source` {source!r} matches no Parquet file (relative paths start at the config's "
                           f"folder {str(src.path.parent)!r}).", ("data",), "source")  # fmt: skip
        for f in files:
            h.update(str(f.relative_to(files[0].parent) if len(files) > 1 else f.name).encode())
            with open(f, "rb") as fh:
                for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                    h.update(block)
        where = Path(source) if Path(source).is_absolute() else src.path.parent / source
        prices = pl.scan_parquet(where if where.is_dir() or any(c in source for c in "*?[") else files[0],
                                 hive_partitioning=where.is_dir())  # fmt: skip
    ts = data.get("timestamp_col", "timestamp")
    for bound, op in (("start", "ge"), ("end", "le")):
        if bound in data:
            prices = prices.filter(getattr(pl.col(ts), op)(pl.lit(data[bound])))
            h.update(f"{bound}={data[bound]}".encode())
    return prices, h.hexdigest()


# ------------------------------------------------------------------------------------------ writing
def run_key(s: dict, data_key: str) -> str:
    blob = json.dumps({k: s[k] for k in sorted(s) if k != "output"}, sort_keys=True, default=str)
    return hashlib.sha256((blob + data_key).encode()).hexdigest()[:24]


def up_to_date(target: Path, key: str) -> bool:
    m = target / "manifest.json"
    if not m.is_file():
        return False
    try:
        return json.loads(m.read_text()).get("run_key") == key
    except (OSError, ValueError):
        return False


def publish(tmp: Path, target: Path) -> None:
    """Move a complete results directory into place (an old one goes only after the new is whole)."""
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, target)


def _start(src: Source, s: dict, out: Path, force: bool):
    """(prices, run key, target directory) of a strategy, or None when its results are up to
    date (and not ``force``)."""
    prices, data_key = load_data(src, s["data"])
    key = run_key(s, data_key)
    target = out / s["name"]
    if up_to_date(target, key) and not force:
        _say(f"{s['name']}: up to date ({target}); --force runs it again")
        return None
    return prices, key, target


def _keywords(s: dict) -> dict:
    """The ``backtest`` / ``sweep`` keywords of a strategy: ``[backtest]`` and the data's key
    columns; a ``commission`` table with a schedule's keys is that schedule (``PerShare`` or
    ``Tiered``; a table of asset names stays a dict by asset)."""
    kw = dict(s["backtest"])
    c = kw.get("commission")
    if isinstance(c, dict) and c and set(c) <= {"rate", "min", "max_pct", "tiers"}:
        if ("tiers" in c) == ("rate" in c):
            raise ConfigError(
                f"`commission` as a schedule table takes `rate` (per share) or `tiers`, one of them; got {c}."
            )
        kw["commission"] = Tiered(**c) if "tiers" in c else PerShare(**c)
    if isinstance(m := kw.get("impact"), dict):
        kw["impact"] = _impact(m)
    return kw | {k: s["data"][k] for k in ("asset_col", "timestamp_col") if k in s["data"]}


def _impact(m: dict) -> SquareRootImpact:
    """An ``impact`` table: ``SquareRootImpact``'s keys, ``sigma`` / ``adv`` as SQL expressions."""
    unknown = [k for k in m if k not in ("k", "exponent", "sigma", "adv", "window")]
    if unknown or "k" not in m:
        raise ConfigError(
            f"`impact` is a table of SquareRootImpact's keys: k (required), exponent, sigma, adv, window; got "
            f"{sorted(m)}.{did_you_mean(unknown[0], ['k', 'exponent', 'sigma', 'adv', 'window']) if unknown else ''}"
        )
    m = dict(m)
    for k in ("sigma", "adv"):
        if isinstance(m.get(k), str):
            try:
                m[k] = pl.sql_expr(m[k])
            except Exception as err:
                raise ConfigError(f"`impact.{k}` is not a Polars SQL expression: {type(err).__name__}: {err}") from None
    return SquareRootImpact(**m)


@contextlib.contextmanager
def _staging(out: Path, name: str):
    """A temporary directory beside the results, removed whatever happens (``_complete``
    moves it into place first when all went well)."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=out))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _complete(tmp: Path, target: Path, manifest: dict) -> None:
    """Write the manifest (the files written so far, the versions) last, then publish."""
    files = sorted(p.name for p in tmp.iterdir())
    _write_json(tmp / "manifest.json", {**manifest, "versions": versions(), "files": files})
    publish(tmp, target)


def _write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2, default=str, allow_nan=True) + "\n", encoding="utf-8")


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------ run
def run(config, out, *, force: bool = False) -> list[Path]:
    """``ml4t-vec run``: each strategy of the config to ``<out>/<name>/`` (module doc)."""
    import ml4t_vec as vec

    raw, src = load(config)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for s in strategies(raw, src):
        t0 = time.perf_counter()
        started = _start(src, s, out, force)
        if started is None:
            written.append(out / s["name"])
            continue
        prices, key, target = started
        exprs = _signals(src, s)
        t1 = time.perf_counter()
        res = vec.backtest(prices, **exprs, **_keywords(s), benchmark=s["output"].get("benchmark"))
        t2 = time.perf_counter()
        with _staging(out, s["name"]) as tmp:
            frames = {"trades": res.trades, "fills": res.fills, "rejected": res.rejected, "positions": res.positions,
                      "equity": res.equity}  # fmt: skip
            stats = res.stats(s["output"].get("periods_per_year"), risk_free=s["output"].get("risk_free", 0.0))
            t3 = time.perf_counter()
            for name, f in frames.items():
                f.write_parquet(tmp / f"{name}.parquet")
            stats.write_parquet(tmp / "stats.parquet")
            _write_json(tmp / "stats.json", stats.row(0, named=True))
            resolved = {"strategy": s, "backtest_config": res.config.to_dict(), "config_hash": res.config_hash,
                        "config_file": str(src.path)}  # fmt: skip
            _write_json(tmp / "config.json", resolved)
            timings = {"load_s": t1 - t0, "backtest_s": t2 - t1, "frames_and_stats_s": t3 - t2}
            if s["output"].get("report", True) and _has_plotly():
                t4 = time.perf_counter()
                res.report(tmp / "report.html", title=s["output"].get("title") or s["name"],
                           risk_free=s["output"].get("risk_free", 0.0))  # fmt: skip
                timings["report_s"] = time.perf_counter() - t4
            _complete(tmp, target, {"run_key": key, "fingerprint": res.fingerprint, "name": s["name"],
                                    "kind": "backtest", "timings": timings})  # fmt: skip
        row = stats.row(0, named=True)
        _say(f"{s['name']}: {len(res.trades)} trade rows, total return {row['total_return']:.2%}, "
             f"sharpe {row['sharpe']:.2f} -> {target}")  # fmt: skip
        written.append(target)
    return written


def _signals(src: Source, s: dict, params: dict | None = None) -> dict:
    if "weights" in s:
        return {"weights": sql(src, s["weights"], (), "weights", params)}
    return {k: sql(src, v, ("signals",), k, params) for k, v in s["signals"].items()}


def _has_plotly() -> bool:
    import importlib.util

    return importlib.util.find_spec("plotly") is not None


# ------------------------------------------------------------------------------------------ sweep
def sweep(config, out, *, force: bool = False) -> list[Path]:
    """``ml4t-vec sweep``: each strategy's grid to ``<out>/<name>/`` (``results.parquet``, the
    best sets, config, manifest); batches checkpoint under ``<out>/.checkpoints/`` so a killed
    sweep resumes where it stopped."""
    import ml4t_vec as vec

    raw, src = load(config)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for s in strategies(raw, src, sweep=True):
        t0 = time.perf_counter()
        sw = s["sweep"]
        params = sw.get("params")
        if not isinstance(params, dict) or not params or not all(isinstance(v, list) and v for v in params.values()):
            raise src.fail("[sweep.params] must map each parameter to a non-empty array of values.", ("sweep",),
                           "params")  # fmt: skip
        if s["output"].get("risk_free", 0.0) != 0.0:
            raise src.fail("`risk_free` applies to a backtest's stats and report; sweeps rank with a risk-free rate "
                           "of 0.", ("output",), "risk_free")  # fmt: skip
        settings = _settings()
        for name, values in params.items():
            if name not in settings:  # it enters expressions: numbers only
                for v in values:
                    _number(src, v, name)
        texts = {"weights": s["weights"]} if "weights" in s else dict(s["signals"])
        used = {n for t in texts.values() for n in placeholders(t)}
        for k, t in texts.items():
            for n in placeholders(t):
                if n not in params:
                    hint = did_you_mean(n, list(params))
                    raise src.fail(f"`{k}` uses {{{n}}}, which is not in [sweep.params].{hint}",
                                   () if k == "weights" else ("signals",), k)  # fmt: skip
        unused = [n for n in params if n not in used and n not in settings]
        if unused:
            raise src.fail(f"sweep parameter {unused[0]!r} is neither a placeholder of an expression nor a backtest "
                           f"keyword.{did_you_mean(unused[0], list(used) + list(settings))}", ("sweep", "params"),
                           unused[0])  # fmt: skip
        for k, t in texts.items():  # every set's expressions parse: check with the first values
            sql(src, t, (), k, {n: v[0] for n, v in params.items()})
        started = _start(src, s, out, force)
        if started is None:
            written.append(out / s["name"])
            continue
        prices, key, target = started
        where = _where(src, sw.get("where"), params)
        funcs = {k: (lambda p, t=t, k=k: sql(src, t, (), k, dict(p))) for k, t in texts.items()}
        checkpoint = None
        if sw.get("checkpoint", True):
            checkpoint = out / ".checkpoints" / f"{s['name']}-{key[:12]}"
        executor, client = _executor(src, sw.get("executor", "local"))
        try:
            res = vec.sweep(prices, **funcs, params=params, where=where, sample=sw.get("sample"),
                            seed=sw.get("seed", 0), batch_size=sw.get("batch_size"), checkpoint=checkpoint,
                            n_jobs=sw.get("n_jobs"), executor=executor,
                            periods_per_year=s["output"].get("periods_per_year"), **_keywords(s))  # fmt: skip
        finally:
            if client is not None:
                client.close()
        t1 = time.perf_counter()
        metric = sw.get("metric", "sharpe")
        best = res.best(metric, n=int(sw.get("top", 10)))
        with _staging(out, s["name"]) as tmp:
            res.results.write_parquet(tmp / "results.parquet")
            best.write_parquet(tmp / "best.parquet")
            _write_json(tmp / "config.json", {"strategy": s, "config_file": str(src.path)})
            _complete(tmp, target, {"run_key": key, "name": s["name"], "kind": "sweep", "sets": res.results.height,
                                    "metric": metric, "timings": {"sweep_s": t1 - t0, **res.timings}})  # fmt: skip
        if checkpoint is not None:
            shutil.rmtree(checkpoint, ignore_errors=True)
        top = best.row(0, named=True) if best.height else {}
        _say(f"{s['name']}: {res.results.height} sets in {t1 - t0:.1f} s; best {metric} {top.get(metric)} at "
             f"{ {k: top.get(k) for k in params} } -> {target}")  # fmt: skip
        written.append(target)
    return written


def _where(src: Source, text, params: dict):
    """``where = "fast < slow"``: a Polars SQL condition over the parameters, evaluated once on
    the grid (no Python eval)."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise src.fail(f"`sweep.where` must be a Polars SQL condition over the parameters; got {text!r}.",
                       ("sweep",), "where")  # fmt: skip
    from ml4t_vec.sweeps import param_grid

    names = list(params)
    try:
        grid = pl.DataFrame(param_grid(params))  # the sweep's own product of the values
        keep = {tuple(r) for r in grid.filter(pl.sql_expr(text)).select(names).iter_rows()}
    except Exception as err:
        raise src.fail(f"`sweep.where` is not a condition over {list(params)}: {type(err).__name__}: {err}",
                       ("sweep",), "where") from None  # fmt: skip
    return lambda p: tuple(p[n] for n in names) in keep


def _executor(src: Source, spec):
    """(executor, client to close): ``"local"`` (this process, the kernel threads) or a Dask
    scheduler address (``"tcp://host:8786"``)."""
    if spec in (None, "local"):
        return None, None
    if isinstance(spec, str) and spec.startswith(("tcp://", "tls://", "inproc://")):
        try:
            from distributed import Client
        except ImportError:
            raise src.fail("a Dask scheduler address needs the dask extra: pip install 'ml4t-vec[dask]'.",
                           ("sweep",), "executor") from None  # fmt: skip
        client = Client(spec)
        return client, client
    raise src.fail(f"`sweep.executor` must be 'local' or a Dask scheduler address (tcp://host:port); got {spec!r}.",
                   ("sweep",), "executor")  # fmt: skip


# ------------------------------------------------------------------------------------------ report
def report(results) -> pl.DataFrame:
    """``ml4t-vec report``: one row per results directory under ``results`` (or ``results``
    itself): name, kind, and the key metrics (a backtest's stats; a sweep's best set)."""
    root = Path(results)
    dirs = [root] if (root / "manifest.json").is_file() else sorted(p for p in root.iterdir() if
                                                                    (p / "manifest.json").is_file())  # fmt: skip
    if not dirs:
        raise ConfigError(f"no results under {str(root)!r}: a results directory has a manifest.json.")
    rows = []
    for d in dirs:
        m = json.loads((d / "manifest.json").read_text())
        if m.get("kind") == "sweep":
            best = pl.read_parquet(d / "best.parquet")
            row = best.row(0, named=True) if best.height else {}
            rows.append({"name": m["name"], "kind": "sweep", "sets": m.get("sets"), **_core(row)})
        else:
            row = pl.read_parquet(d / "stats.parquet").row(0, named=True)
            rows.append({"name": m["name"], "kind": "backtest", "sets": 1, **_core(row)})
    return pl.DataFrame(rows)


def _core(row: dict) -> dict:
    floats = ("total_return", "cagr", "sharpe", "max_drawdown", "turnover")
    out = {k: (float(row[k]) if row.get(k) is not None else None) for k in floats}
    out["n_trades"] = int(row["n_trades"]) if row.get("n_trades") is not None else None
    return out
