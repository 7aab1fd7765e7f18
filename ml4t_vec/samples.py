"""Small real data sets shipped with the package (``ml4t_vec/sample_data/``, no network needed).

``load_sample("stocks")``: daily split- and dividend-adjusted OHLCV of AAPL, FB, GOOG, IBM and
MSFT, 2000-03-01 to 2013-03-01, a ragged long frame (GOOG from 2004, FB from 2012). Public
domain (Quandl WIKI Prices, via the PyPI package ``bokeh-sampledata``);
``ml4t_vec/sample_data/README.md`` has the provenance, the licence statement and the
transformations, and ``make_stocks.py`` beside it rebuilds the file.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ml4t_vec.errors import ConfigError, check_choice

_DIR = Path(__file__).with_name("sample_data")

# name -> (file in sample_data/, one-line description)
SAMPLES: dict[str, tuple[str, str]] = {
    "stocks": (
        "stocks.parquet",
        "daily adjusted OHLCV, AAPL FB GOOG IBM MSFT, 2000-03-01 to 2013-03-01, ragged (Quandl WIKI, public domain)",
    ),
}


def sample_path(name: str) -> Path:
    """The Parquet file behind ``load_sample(name)``.

    Raises:
        ConfigError: ``name`` is not one of ``SAMPLES`` (with a "did you mean").
        FileNotFoundError: the package was installed without its data files.
    """
    check_choice("name", name, list(SAMPLES))
    path = _DIR / SAMPLES[name][0]
    if not path.is_file():
        raise FileNotFoundError(
            f"sample data {name!r} is missing: {path} does not exist (the package was installed without its data "
            "files; reinstall ml4t-vec from a wheel or a full source checkout)."
        )
    return path


def load_sample(name: str, *, lazy: bool = False) -> pl.DataFrame | pl.LazyFrame:
    """A sample data set as a long frame ready for ``backtest``, ``sweep`` and ``signal_report``.

    Available names (``ml4t_vec.samples.SAMPLES``):

    - ``"stocks"``: 12,154 rows ``timestamp`` (Date), ``asset`` (String), ``open``, ``high``,
      ``low``, ``close`` (split- and dividend-adjusted, Float64) and ``volume`` (Float64, on the
      adjusted scale), sorted by (asset, timestamp). Daily bars 2000-03-01 to 2013-03-01 for
      AAPL, IBM and MSFT; GOOG from 2004-08-19, FB from 2012-05-18.

    Args:
        name: which data set.
        lazy: return a ``pl.LazyFrame`` scanning the file (only the columns and rows a query
            uses are read) instead of a ``pl.DataFrame``.

    Returns:
        ``pl.DataFrame`` (or ``pl.LazyFrame`` with ``lazy=True``).

    Raises:
        ConfigError: unknown ``name``; the message lists the available ones.

    Example:
        >>> import polars as pl
        >>> from ml4t_vec.samples import load_sample
        >>> stocks = load_sample("stocks")
        >>> stocks.group_by("asset").agg(pl.col("timestamp").min().alias("first"), pl.len()).sort("asset")
        shape: (5, 3)
        ┌───────┬────────────┬──────┐
        │ asset ┆ first      ┆ len  │
        │ ---   ┆ ---        ┆ ---  │
        │ str   ┆ date       ┆ u32  │
        ╞═══════╪════════════╪══════╡
        │ AAPL  ┆ 2000-03-01 ┆ 3270 │
        │ FB    ┆ 2012-05-18 ┆ 196  │
        │ GOOG  ┆ 2004-08-19 ┆ 2148 │
        │ IBM   ┆ 2000-03-01 ┆ 3270 │
        │ MSFT  ┆ 2000-03-01 ┆ 3270 │
        └───────┴────────────┴──────┘
    """
    if not isinstance(lazy, bool):
        raise ConfigError(f"`lazy` must be True or False; got {lazy!r}.")
    path = sample_path(name)
    return pl.scan_parquet(path) if lazy else pl.read_parquet(path)
