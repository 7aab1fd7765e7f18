"""Is a numba kernel about to be compiled? (numba's on-disk cache, read without compiling.)

The first backtest after an install compiles the kernels it needs, which takes tens of seconds
once; the frontend says so before it happens (``notice_compile``) and how long it took.
"""

from __future__ import annotations

import sys
import time

import numba


def is_compiled(dispatcher, *tail) -> bool:
    """True when ``dispatcher`` is loaded in this process or has machine code in numba's disk
    cache for its current source (a stale or missing cache means a compile); with ``tail``, a
    version whose last arguments have those values' types (a driver's order model; the
    target-weight kernel's risk rules and peer order model, None when off)."""
    want = [numba.typeof(v) for v in tail]

    def fits(sig) -> bool:
        return not want or (len(sig) >= len(want) and list(sig[len(sig) - len(want) :]) == want)

    if any(fits(sig) for sig in dispatcher.signatures):
        return True
    cache = getattr(dispatcher, "_cache", None)
    try:
        index = cache._cache_file._load_index()  # {} when missing or written for other sources
        return any(fits(key[0]) for key in index)
    except Exception:  # numba internals moved: assume cached rather than print something wrong
        return True


class CompileNotice:
    """One line on stderr before numba compiles kernels a run needs (the first run after
    installing or upgrading), and one with the time it took. ``check`` the kernels of each step
    just before the step; ``done`` when the run is over."""

    def __init__(self, what: str = "its kernels"):
        self.what = what
        self.t0: float | None = None

    def check(self, *dispatchers) -> None:
        """Each a dispatcher, or (dispatcher, the values of its last arguments...)."""
        pairs = [(d[0], d[1:]) if isinstance(d, tuple) else (d, ()) for d in dispatchers]
        if self.t0 is None and not all(is_compiled(d, *tail) for d, tail in pairs):
            print(
                f"ml4t_vec: first run: compiling {self.what} (once; numba caches the machine code on disk and "
                "later runs load it in well under a second)...",
                file=sys.stderr,
                flush=True,
            )
            self.t0 = time.perf_counter()

    def done(self) -> None:
        if self.t0 is not None:
            print(f"ml4t_vec: compiled in {time.perf_counter() - self.t0:.1f} s.", file=sys.stderr, flush=True)
            self.t0 = None
