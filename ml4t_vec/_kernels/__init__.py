"""numba kernels: numpy arrays in, numpy records out. No Polars here (tests/contracts checks).

numba's on-disk cache (``cache=True``) is keyed on each function's own source file, but the
kernels inline helpers from sibling modules (``orders.py`` into ``simulate.py``): after editing
one file, another file's cache would still hold the old inlined code. On import we hash all
kernel sources and drop the cached machine code when they changed since it was written.
Unchanged sources keep the warm cache (first call in a fresh process stays fast).

Every array a kernel receives goes through ``kernel_array`` (or ``kernel_tuple`` for the
parameter NamedTuples, whose fields declare their dtype with ``Annotated``): C-contiguous, of
its declared dtype, read-only. numba compiles one machine-code version per combination of
dtypes, layouts and writability, so one stray writable or float32 array costs a second cold
compile of the whole driver (~40 s; tests/contracts/test_no_recompile.py).
"""

from __future__ import annotations

import hashlib
import typing
from pathlib import Path
from typing import Annotated

import numpy as np

F64 = Annotated[np.ndarray, np.float64]
I64 = Annotated[np.ndarray, np.int64]
BOOL = Annotated[np.ndarray, np.bool_]


def kernel_array(a, dtype) -> np.ndarray:
    """``a`` as the kernels take it: C-contiguous, of ``dtype``, read-only (a view, not a copy,
    when it already is contiguous and of that dtype)."""
    v = np.ascontiguousarray(a, dtype=dtype).view()
    v.flags.writeable = False
    return v


def kernel_tuple(cls, **fields):
    """A parameter NamedTuple with every field through ``kernel_array`` at its declared dtype."""
    hints = typing.get_type_hints(cls, include_extras=True)
    return cls(**{k: kernel_array(fields[k], hints[k].__metadata__[0]) for k in cls._fields})


def _drop_stale_caches(src: Path | None = None) -> None:
    """Delete numba cache files under ``src/__pycache__`` if ``src/*.py`` changed since the last call."""
    here = src or Path(__file__).resolve().parent
    digest = hashlib.sha1(b"".join(p.read_bytes() for p in sorted(here.glob("*.py")))).hexdigest()
    cache = here / "__pycache__"
    stamp = cache / "ml4t_kernel_sources.sha1"
    try:
        if stamp.read_text() == digest:
            return
    except OSError:
        pass
    try:  # a read-only install simply keeps what it has
        for f in cache.glob("*.nb[ic]"):
            f.unlink()
        cache.mkdir(exist_ok=True)
        stamp.write_text(digest)
    except OSError:
        pass


_drop_stale_caches()
