"""numba kernels: numpy arrays in, numpy records out. No Polars here (tests/contracts checks).

numba's on-disk cache (``cache=True``) is keyed on each function's own source file, but the
kernels inline helpers from sibling modules (``orders.py`` into ``simulate.py``): after editing
one file, another file's cache would still hold the old inlined code. On import we hash all
kernel sources and drop the cached machine code when they changed since it was written.
Unchanged sources keep the warm cache (first call in a fresh process stays fast).
"""

from __future__ import annotations

import hashlib
from pathlib import Path


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
