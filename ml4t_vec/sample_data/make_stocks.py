"""Rebuild ``stocks.parquet`` from the PyPI package ``bokeh-sampledata`` (reproducible, offline).

Run from the repository root (``pip install "bokeh-sampledata>=2024.2"`` first; it comes with the
``peers`` extra)::

    python ml4t_vec/sample_data/make_stocks.py          # rewrites ml4t_vec/sample_data/stocks.parquet
    python ml4t_vec/sample_data/make_stocks.py --check  # fails unless the committed file is the same data

Source: ``bokeh_sampledata.package_path("stocks.csv.gz")``: daily prices of AAPL, FB, GOOG, IBM
and MSFT from Quandl WIKI Prices, 2000-03-01 to 2013-03-01 (GOOG from 2004-08-19, FB from
2012-05-18). The package records the licence of this file as "Public domain" (its
``datasets.json``: "The archived Quandl publisher page declares the WIKI data public domain and
explicitly permits copying, distribution and inclusion in commercial or noncommercial
products."; its ``stocks`` module: "Quandl declared the data public domain and permitted
redistribution in its publisher notice."). README.md beside this file has the details.

Transformations, all here:
- open, high, low, close are multiplied by ``k = adj_close / close`` of the same row (Quandl's
  split- and dividend-adjusted close, adjustments after 2013 included), so every bar keeps
  low <= open, close <= high;
- volume is divided by ``k`` (shares on the adjusted scale: ``close * volume`` is the day's
  traded value, and splits leave no step in it), a Float64;
- columns renamed to ``timestamp`` (Date), ``asset`` (String); rows sorted by (asset, timestamp);
- written with zstd (level 19), statistics on, one row group.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import polars as pl

OUT = Path(__file__).with_name("stocks.parquet")
# sha256 of the package's file (bokeh-sampledata's datasets.json records the same value)
SOURCE_SHA256 = "5abadf99b2d394f920120a27de6f0df129859d71d4cfb0bf661bcc99446ab1fd"
SCHEMA = {"timestamp": pl.Date, "asset": pl.String, "open": pl.Float64, "high": pl.Float64, "low": pl.Float64,
          "close": pl.Float64, "volume": pl.Float64}  # fmt: skip


def build() -> pl.DataFrame:
    """The adjusted long frame, read from the installed ``bokeh-sampledata``."""
    import bokeh_sampledata

    src = Path(bokeh_sampledata.package_path("stocks.csv.gz"))
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    if digest != SOURCE_SHA256:
        sys.exit(f"{src} has sha256 {digest}, not {SOURCE_SHA256}: another bokeh-sampledata release changed it.")
    raw = pl.read_csv(src, try_parse_dates=True)
    raw = raw.rename({c: c.lower().replace(" ", "_") for c in raw.columns})
    k = pl.col("adj_close") / pl.col("close")
    df = (
        raw.select(
            pl.col("date").alias("timestamp"),
            pl.col("ticker").alias("asset"),
            *[(pl.col(c) * k).alias(c) for c in ("open", "high", "low", "close")],
            (pl.col("volume") / k).alias("volume"),
        )
        .cast(SCHEMA)
        .sort("asset", "timestamp")
    )
    bad = df.filter(
        (pl.col("low") > pl.min_horizontal("open", "close")) | (pl.col("high") < pl.max_horizontal("open", "close"))
    )
    if bad.height or df.null_count().sum_horizontal().item():
        sys.exit(f"unexpected bars (nulls or open/close outside [low, high]):\n{bad.head()}")
    return df


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with the committed file instead of writing it")
    args = ap.parse_args(argv)
    df = build()
    if args.check:
        same = OUT.exists() and pl.read_parquet(OUT).equals(df)
        print(f"{OUT}: {'same data' if same else 'DIFFERENT'}")
        return 0 if same else 1
    df.write_parquet(OUT, compression="zstd", compression_level=19, statistics=True, row_group_size=len(df))
    print(f"wrote {OUT}: {df.height} rows, {OUT.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
