"""The notebooks in ``notebooks/``: each runs top to bottom without an error or a warning, and
the committed copies carry no outputs.

Execution needs the ``notebooks`` and ``plot`` extras (nbclient, ipykernel, nbformat; plotly for
the figures and reports) and is skipped without them, unless ``ML4T_VEC_REQUIRE_EXTRAS`` is set
(CI's extras step), where a missing package fails. Each notebook runs in a fresh ``python3``
kernel of the interpreter running the tests (a kernelspec written for the test, so no other
Jupyter installation can supply a different Python), in a temporary working directory, with a
time limit per cell (``ML4T_VEC_NOTEBOOK_TIMEOUT`` seconds, default 600: enough for a cold numba
cache to compile the kernels a notebook needs). A warning written to a cell's stderr fails the test
(ml4t_vec's one-line "first run: compiling" notice does not). The time each notebook took is
printed.

The stripped check needs nothing but the standard library: every code cell has no outputs and no
execution count (``jupyter nbconvert --clear-output --inplace notebooks/*.ipynb`` strips them).
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
import time
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
REQUIRED = bool(os.environ.get("ML4T_VEC_REQUIRE_EXTRAS"))
CELL_TIMEOUT = int(os.environ.get("ML4T_VEC_NOTEBOOK_TIMEOUT", "600"))
WARNING = re.compile(r"\b[A-Z]\w*Warning\b")  # how the warnings module prints one: "file:1: DataWarning: ..."
EXPECTED = {"01_quickstart", "02_ml_target_weights", "03_stops_and_intrabar", "04_sweep", "05_report"}


def need(module: str):
    if REQUIRED:
        return importlib.import_module(module)
    return pytest.importorskip(module, reason=f"{module} not installed: pip install -e '.[notebooks,plot]'")


def test_the_notebooks_are_there():
    assert EXPECTED <= {p.stem for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_is_stripped(path):
    book = json.loads(path.read_text(encoding="utf-8"))
    assert book["nbformat"] == 4
    assert book["metadata"].get("kernelspec", {}).get("name") == "python3", "kernel must be python3"
    for i, cell in enumerate(book["cells"]):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, f"{path.name}: cell {i} has outputs"
        assert "attachments" not in cell, f"{path.name}: cell {i} has attachments"


def _kernel_manager(spec_dir: Path):
    """A KernelManager for ``python3`` = this interpreter, whatever kernelspecs are installed."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    kdir = spec_dir / "python3"
    kdir.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (tests)", "language": "python"}  # fmt: skip
    (kdir / "kernel.json").write_text(json.dumps(spec))
    ksm = KernelSpecManager(kernel_dirs=[str(spec_dir)], ensure_native_kernel=False)
    return KernelManager(kernel_name="python3", kernel_spec_manager=ksm)


def _execute(book, workdir: Path) -> float:
    """Run ``book`` in place in a fresh kernel; seconds taken. A cell that raises raises
    ``nbclient.exceptions.CellExecutionError`` naming the cell."""
    nbclient = need("nbclient")
    client = nbclient.NotebookClient(book, km=_kernel_manager(workdir / "kernels"), timeout=CELL_TIMEOUT,
                                     allow_errors=False, resources={"metadata": {"path": str(workdir)}})  # fmt: skip
    t0 = time.perf_counter()
    client.execute()
    return time.perf_counter() - t0


def _problems(name: str, book) -> list[str]:
    """Error outputs and warnings written to stderr, one line per cell that has one."""
    found = []
    for i, cell in enumerate(book.cells):
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                found.append(f"{name}: cell {i} raised {out.ename}")
            elif out.output_type == "stream" and out.name == "stderr" and WARNING.search(out.text):
                found.append(f"{name}: cell {i} warned: {out.text.strip()}")
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, tmp_path, capsys):
    nbformat = need("nbformat")
    need("ipykernel")
    need("plotly")
    book = nbformat.read(path, as_version=4)
    seconds = _execute(book, tmp_path)
    with capsys.disabled():
        print(f"\n[notebook] {path.name}: {seconds:.1f} s ({len(book.cells)} cells)")
    assert _problems(path.name, book) == []


def test_the_check_can_fail(tmp_path):
    """A notebook that warns is caught; one that raises stops with the cell's error; the compile
    notice of a first run is not a warning."""
    nbformat = need("nbformat")
    nbclient = need("nbclient")
    need("ipykernel")
    v4 = nbformat.v4
    book = v4.new_notebook(cells=[
        v4.new_code_cell("import sys, warnings\nwarnings.warn('doctored', UserWarning)"),
        v4.new_code_cell("print('ml4t_vec: first run: compiling the backtest kernels...', file=sys.stderr)"),
    ])  # fmt: skip
    _execute(book, tmp_path / "warns")
    assert [p.split(" warned")[0] for p in _problems("doctored", book)] == ["doctored: cell 0"]
    book = v4.new_notebook(cells=[v4.new_code_cell("1 / 0")])
    with pytest.raises(nbclient.exceptions.CellExecutionError, match="ZeroDivisionError"):
        _execute(book, tmp_path / "raises")
