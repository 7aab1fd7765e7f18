"""numba kernels: numpy arrays in, numpy records out. No Polars here (tests/contracts checks)."""
