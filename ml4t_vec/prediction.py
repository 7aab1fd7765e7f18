"""Prediction quality of a score: information coefficients, quantile returns, turnover.

``signal_report(prices, score)`` measures how well a per-(timestamp, asset) score orders the
assets' forward returns. Anchors: alphalens(-reloaded) ``factor_information_coefficient``,
``mean_return_by_quantile``, ``quantile_turnover``, ``factor_rank_autocorrelation``; Qlib's
``calc_ic`` (per-date Pearson IC and Spearman rank IC, ICIR = mean / std). Definitions:

- Forward return of asset a for its score at bar t, horizon h (bars):
  ``fwd_h = price[t + 1 + h] / price[t + 1] - 1`` on a's own bars in time order (a gap in a
  ragged panel skips to a's next bar). With ``price="open"`` (default) a score seen at t trades
  at the next open, as the backtest fills, and is held h bars: no look-ahead. ``price="close"``
  (close-only frames) measures close to close from bar t + 1, one bar later than alphalens
  (which starts at the close of bar t). Null where bar t + 1 + h does not exist.
- Score: null and NaN count as missing (the row takes no part; the asset's bars still time the
  forward returns); infinite scores are refused.
- IC (per timestamp and horizon): Pearson correlation of score and fwd_h over the assets with
  both. Rank IC: Spearman, the Pearson correlation of their average ranks among those pairs
  (``scipy.stats.spearmanr``, alphalens' IC). Null with fewer than 3 pairs (two points always
  give +-1, which scipy and alphalens report) or a constant side (scipy: NaN); ``n`` counts the pairs.
- Summary (one row per horizon: the IC decay table), over the dates with an IC: mean, std
  (ddof=1), IR = mean / std, t-stat = mean / std * sqrt(n_dates), hit rate = share of dates with
  IC > 0; the same for rank IC and the spread. IR and t-stat are null when std is 0 or null.
  The t-stat treats the dates as independent: for h > 1 consecutive dates' windows overlap
  (h - 1 bars shared), which overstates it by up to about sqrt(h). ``*_nw_t_stat`` divides the
  mean by its Newey-West standard error with h - 1 lags (Bartlett weights) instead: the one to
  read for h > 1 (for h = 1 it is the t-stat with a 1/n variance instead of 1/(n - 1)).
- Quantile (per timestamp, over every asset with a score): with n such assets and r the "min"
  rank of its score (ties share the lowest), ``max(1, ceil((r - 1) * q / (n - 1)))``, 1 = lowest
  score, q = highest. This equals alphalens' ``pd.qcut(score, q, labels=False) + 1`` (qcut of
  the values, bins closed on the right), ties included, except that qcut refuses a date whose
  ties make two bin edges equal (alphalens drops that date) while this rule still buckets it, and
  that qcut's float edges can land a hair below an exact edge position (q=6, n=19: 5/6 * 18 =
  14.999..., so qcut puts the 16th lowest in bucket 6; exact integer arithmetic here: 5).
  Quantiles do not depend on the horizon (alphalens first drops rows lacking any forward return).
  A date with one scored asset has no quantiles.
- Quantile returns: per (date, horizon, quantile) the mean fwd_h of its assets that have one,
  then the mean over dates (mean of per-date means, as alphalens ``mean_return_by_quantile``);
  ``mean_return_demeaned`` first subtracts the date's mean fwd_h over all scored assets
  (alphalens' default ``demeaned=True``).
- Spread (per date and horizon): top quantile's mean return minus the bottom's, the full
  difference (a 100% long / 100% short book, as Qlib's long-short and alphalens before 0.5;
  alphalens-reloaded 0.5's ``compute_mean_returns_spread`` halves it).
- Turnover (per date and quantile): share of the quantile's assets that were not in it on the
  previous scored date (a timestamp with at least one score); an asset not scored then counts as
  new (alphalens ``quantile_turnover``). Null on the first date and where the quantile is empty;
  alphalens compares an empty quantile's next date with the last date on which it had names.
- Rank autocorrelation (per date): Pearson correlation of the assets' average score ranks on the
  date and on the previous scored date, each ranked within its own date, over the assets scored
  on both (alphalens ``factor_rank_autocorrelation``: ``corrwith`` of per-date ranks; Spearman on
  a complete panel). Null with fewer than 3 common assets or constant ranks.

Computation: ``_layout.place`` puts the rows on the asset x bar grid in any row order (duplicate
rows refused); forward returns (each asset's own next bars) and the previous-date links are NumPy
shifts on that grid. The scored cells, date-major, then take one ``with_columns`` of per-date ranks
and one ``group_by`` by date for every per-date aggregate of every horizon; the (date, quantile)
sums are ``np.bincount`` over the dense (date, quantile) grid. The report depends on the rows only
through the grid: any row order gives the identical report.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import polars as pl

from ml4t_vec._layout import place
from ml4t_vec._prepare import (
    _as_expr,
    _as_lazy,
    _collect,
    _load,
    _resolve_keys,
    _schema_names,
    _where,
)
from ml4t_vec.errors import ConfigError, DataError, did_you_mean

_S, _Q, _R, _PR, _STAY = "__score", "__quantile", "__rank", "__prev_rank", "__stayed"
_D, _CELL = "__date", "__cell"  # date index among the scored dates; date * n_assets + asset code
_MIN_PAIRS = 3  # a correlation of two points is +-1 whatever they are


@dataclass(frozen=True, slots=True)
class SignalReport:
    """Prediction quality of a score (``signal_report``). ``ic`` and ``spread`` are sorted by
    horizon, then timestamp; the others by their keys in the order listed.

    Attributes:
        ic: per (timestamp, horizon): ``n`` (pairs), ``ic`` (Pearson), ``rank_ic`` (Spearman).
        summary: per horizon (the IC decay): ``n_dates``, ``mean_ic``, ``std_ic``, ``ic_ir``,
            ``ic_t_stat``, ``ic_nw_t_stat``, ``ic_hit_rate``, the same for ``rank_ic``, and
            ``mean_spread``, ``std_spread``, ``spread_t_stat``, ``spread_nw_t_stat``.
        quantile_returns: per (horizon, quantile): ``mean_return``, ``mean_return_demeaned``,
            ``n_dates`` (dates on which the quantile had a return). Returns are fractions per h bars.
        spread: per (timestamp, horizon): ``spread`` = top minus bottom quantile mean return.
        turnover: per (timestamp, quantile): ``n`` (names), ``turnover`` (share new since the previous date).
        autocorrelation: per timestamp: ``n`` (assets scored on both dates), ``autocorrelation``.
        horizons, quantiles, price: the arguments used.
    """

    ic: pl.DataFrame
    summary: pl.DataFrame
    quantile_returns: pl.DataFrame
    spread: pl.DataFrame
    turnover: pl.DataFrame
    autocorrelation: pl.DataFrame
    horizons: tuple[int, ...]
    quantiles: int
    price: str

    def to_dict(self) -> dict:
        """Plain dict: each frame as {column: list of values}, the arguments as they are."""
        return {
            f.name: v.to_dict(as_series=False) if isinstance(v := getattr(self, f.name), pl.DataFrame) else v
            for f in fields(self)
        }

    def plot(self, kind: str = "ic", **kwargs):
        """A plotly figure (extra ``plot``): ``"ic"`` (rank IC over time and the IC decay;
        ``horizon=``, ``smooth=``) or ``"quantiles"`` (mean forward return per quantile and
        horizon; ``demeaned=``). ``ml4t_vec.figures``."""
        from ml4t_vec import figures

        kinds = {"ic": figures.ic_figure, "quantiles": figures.quantile_figure}
        if kind not in kinds:
            raise ConfigError(f"`kind` must be one of {list(kinds)}; got {kind!r}.")
        return kinds[kind](self, **kwargs)

    def __repr__(self) -> str:
        cols = ["horizon", "n_dates", "mean_ic", "ic_ir", "ic_t_stat", "mean_rank_ic", "rank_ic_t_stat", "mean_spread"]
        width = {c: max(len(c), 7) for c in cols}
        head = f"SignalReport(price={self.price!r}, quantiles={self.quantiles}, {self.autocorrelation.height} dates)"
        lines = [head, "  ".join(f"{c:>{width[c]}}" for c in cols)]
        for r in self.summary.iter_rows(named=True):
            cells = [f"{r[c]}" if c in cols[:2] else "null" if r[c] is None else f"{r[c]:.4f}" for c in cols]
            lines.append("  ".join(f"{v:>{width[c]}}" for c, v in zip(cols, cells, strict=True)))
        mean = lambda f, c: f.get_column(c).mean() if f.height else None  # noqa: E731
        fmt = lambda v: "null" if v is None else f"{v:.3f}"  # noqa: E731
        top, bottom = (self.turnover.filter(pl.col("quantile") == k) for k in (self.quantiles, 1))
        lines.append(f"mean turnover: top {fmt(mean(top, 'turnover'))}, bottom {fmt(mean(bottom, 'turnover'))}; "
                     f"mean rank autocorrelation {fmt(mean(self.autocorrelation, 'autocorrelation'))}")  # fmt: skip
        return "\n".join(lines)


def signal_report(
    prices,
    score,
    horizons=(1, 5, 21),
    quantiles: int = 5,
    *,
    price: str = "open",
    asset_col: str | None = None,
    timestamp_col: str = "timestamp",
) -> SignalReport:
    """Per-date IC and rank IC of ``score`` against forward returns, quantile returns and turnover.

    Definitions (timing, ties, anchors) are in the module docstring of ``ml4t_vec.prediction``.

    Args:
        prices: long ``pl.DataFrame``, ``pl.LazyFrame`` or Parquet path with ``timestamp``, an
            asset column (``asset``/``symbol``/``ticker``/``product`` or ``asset_col=``) and the
            ``price`` column; any row order, ragged panels allowed.
        score: a column name or a ``pl.Expr`` evaluated on the frame with each asset's rows in
            time order (``.over(asset)`` windows see them so, as in ``backtest``); numeric, one
            value per row, null/NaN = missing.
        horizons: positive ints, bars held after the next-bar entry (sorted, duplicates dropped).
        quantiles: number of score buckets per date (>= 2).
        price: the column forward returns are measured on: ``"open"`` (next open to the open h
            bars later, as fills), ``"close"`` for close-only frames, or any positive price column.
        asset_col: the asset column, detected when None.
        timestamp_col: the timestamp column.

    Returns:
        A ``SignalReport`` of Polars frames (``ic``, ``summary``, ``quantile_returns``, ``spread``,
        ``turnover``, ``autocorrelation``); returns are fractions over h bars.

    Raises:
        ConfigError: bad ``horizons``, ``quantiles``, ``price`` or ``score`` argument.
        DataError: missing columns, a non-numeric or infinite score, bad prices, duplicate rows.

    Example:
        >>> import polars as pl
        >>> import ml4t_vec as vec
        >>> from ml4t_vec.prediction import signal_report
        >>> rep = signal_report(vec.synthetic_prices(n_assets=30, n_bars=200), "pred", horizons=(1, 5))
        >>> rep.summary.select("horizon", "n_dates", pl.col("mean_ic", "ic_t_stat", "mean_spread").round(4))
        shape: (2, 5)
        ┌─────────┬─────────┬─────────┬───────────┬─────────────┐
        │ horizon ┆ n_dates ┆ mean_ic ┆ ic_t_stat ┆ mean_spread │
        │ ---     ┆ ---     ┆ ---     ┆ ---       ┆ ---         │
        │ i64     ┆ i64     ┆ f64     ┆ f64       ┆ f64         │
        ╞═════════╪═════════╪═════════╪═══════════╪═════════════╡
        │ 1       ┆ 198     ┆ 0.0223  ┆ 1.8116    ┆ 0.0011      │
        │ 5       ┆ 194     ┆ 0.022   ┆ 1.7332    ┆ 0.0017      │
        └─────────┴─────────┴─────────┴───────────┴─────────────┘
    """
    horizons = _check_horizons(horizons)
    if isinstance(quantiles, bool) or not isinstance(quantiles, int) or quantiles < 2:
        raise ConfigError(f"`quantiles` must be an integer >= 2 (number of score buckets per date); got {quantiles!r}.")
    q, ts = quantiles, timestamp_col
    stamps, long, n_assets = _scored_cells(prices, score, price, asset_col, ts, horizons)
    long = long.with_columns(
        pl.col(_S).rank("average").over(_D).alias(_R),
        *(pl.col(f"fwd{h}").rank("average").over(_D).alias(f"fr{h}") for h in horizons),
    )
    n = pl.len().over(_D).cast(pl.Int64)
    r_min = (pl.col(_S).rank("min").over(_D) if _ties(long) else pl.col(_R)).cast(pl.Int64)
    bucket = pl.when(n >= 2).then((((r_min - 1) * q + n - 2) // (n - 1)).clip(lower_bound=1))  # exact ceil
    long = _previous(long.with_columns(bucket.alias(_Q)), n_assets)
    # pl.corr skips rows where either side is null: fwd_h null = no pair, _PR null = not scored the date before.
    # Rank IC pairs the date's score ranks _R with fwd_h's ranks; dates where some scored asset lacks fwd_h (the
    # last h + 1 dates, delistings) rank the scores among the pairs again (_partial_rank_ic).
    per_date = [pl.len().alias("n_all"), pl.col(_PR).count().alias("n_ac"), pl.corr(_R, _PR).alias("autocorrelation")]
    for h in horizons:
        per_date += [pl.col(f"fwd{h}").count().alias(f"n{h}"), pl.corr(_S, f"fwd{h}").alias(f"ic{h}"),
                     pl.corr(_R, f"fr{h}").alias(f"ric{h}"), pl.col(f"fwd{h}").mean().alias(f"m{h}")]  # fmt: skip
    by_date = _partial_rank_ic(long, _collect(long.lazy().group_by(_D).agg(per_date).sort(_D)), horizons)
    by_date = by_date.with_columns(
        stamps.alias(ts),
        pl.col("n_ac", *(f"n{h}" for h in horizons)).cast(pl.Int64),
        *(_valid_corr(f"{c}{h}", f"n{h}") for h in horizons for c in ("ic", "ric")),
        _valid_corr("autocorrelation", "n_ac"),
    )
    by_q = _by_quantile(long, q, horizons, by_date.height).join(
        by_date.select(_D, ts, *(f"m{h}" for h in horizons)), on=_D, maintain_order="left"
    )
    return SignalReport(
        **_tables(by_date, by_q, horizons, q, ts),
        turnover=by_q.select(ts, pl.col(_Q).alias("quantile"), "n", "turnover"),
        autocorrelation=by_date.select(ts, pl.col("n_ac").alias("n"), "autocorrelation"),
        horizons=horizons,
        quantiles=q,
        price=price,
    )


def _tables(by_date: pl.DataFrame, by_q: pl.DataFrame, horizons, q: int, ts: str) -> dict[str, pl.DataFrame]:
    """The per-horizon frames (``ic``, ``spread``, ``quantile_returns``, ``summary``) from the
    wide per-date and per-(date, quantile) aggregates."""
    hz = pl.DataFrame({"horizon": list(horizons)}, schema={"horizon": pl.Int64})
    ic = pl.concat(
        by_date.select(ts, pl.lit(h, pl.Int64).alias("horizon"), pl.col(f"n{h}").alias("n"),
                       pl.col(f"ic{h}").alias("ic"), pl.col(f"ric{h}").alias("rank_ic"))
        for h in horizons
    )  # fmt: skip
    qret = pl.concat(
        by_q.select(ts, pl.lit(h, pl.Int64).alias("horizon"), pl.col(_Q).alias("quantile"),
                    pl.col(f"r{h}").alias("ret"), (pl.col(f"r{h}") - pl.col(f"m{h}")).alias("dm"))
        for h in horizons
    )  # fmt: skip
    leg = lambda k, name: qret.filter(pl.col("quantile") == k).select(ts, "horizon", pl.col("ret").alias(name))  # noqa: E731
    spread = (
        ic.select(ts, "horizon")
        .join(leg(q, "top"), on=[ts, "horizon"], how="left", maintain_order="left")
        .join(leg(1, "bottom"), on=[ts, "horizon"], how="left", maintain_order="left")
        .select(ts, "horizon", (pl.col("top") - pl.col("bottom")).alias("spread"))
    )
    both = ic.join(spread, on=[ts, "horizon"])
    stats = both.group_by("horizon").agg(
        pl.col("ic").count().cast(pl.Int64).alias("n_dates"), *_stats("ic"), *_stats("rank_ic"), *_stats("spread")
    )
    # Newey-West t-stats: each horizon's dates in time order, h - 1 lags (the windows' overlap)
    nw = pl.concat(
        both.filter(pl.col("horizon") == h)
        .sort(ts)
        .select(pl.lit(h, pl.Int64).alias("horizon"), *(_nw_t_stat(c, h - 1) for c in ("ic", "rank_ic", "spread")))
        for h in horizons
    )
    stats = stats.join(nw, on="horizon", how="left")
    means = qret.group_by("horizon", "quantile").agg(
        pl.col("ret").mean().alias("mean_return"),
        pl.col("dm").mean().alias("mean_return_demeaned"),
        pl.col("ret").count().cast(pl.Int64).alias("n_dates"),
    )
    grid = hz.join(pl.DataFrame({"quantile": range(1, q + 1)}, schema={"quantile": pl.Int64}), how="cross")
    return {
        "ic": ic,
        "summary": hz.join(stats, on="horizon", how="left", maintain_order="left").with_columns(
            pl.col("n_dates").fill_null(0)
        ),
        "quantile_returns": grid.join(means, on=["horizon", "quantile"], how="left")
        .with_columns(pl.col("n_dates").fill_null(0))
        .sort("horizon", "quantile"),
        "spread": spread,
    }


def _by_quantile(long: pl.DataFrame, q: int, horizons, n_dates: int) -> pl.DataFrame:
    """Per (date, quantile) with names: ``n``, ``turnover`` (null on the first date) and the mean
    fwd_h ``r{h}``, summed by ``np.bincount`` over the dense (date, quantile) grid."""
    quant = long.get_column(_Q).fill_null(0).to_numpy()
    ok = quant > 0
    key = long.get_column(_D).to_numpy()[ok] * q + quant[ok] - 1
    size = n_dates * q
    n = np.bincount(key, minlength=size)
    new = np.bincount(key, weights=~long.get_column(_STAY).to_numpy()[ok], minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {_D: np.repeat(np.arange(n_dates), q), _Q: np.tile(np.arange(1, q + 1), n_dates), "n": n,
               "turnover": np.where(np.arange(size) >= q, new / n, np.nan)}  # fmt: skip
        for h in horizons:
            fwd = long.get_column(f"fwd{h}").to_numpy()[ok]
            has = ~np.isnan(fwd)
            out[f"r{h}"] = np.bincount(key[has], fwd[has], size) / np.bincount(key[has], minlength=size)
    frame = pl.DataFrame({k: pl.Series(k, v, nan_to_null=True) for k, v in out.items()})
    return frame.filter(pl.col("n") > 0)


def _ties(long: pl.DataFrame) -> bool:
    """Whether some date has tied scores: without ties the average ranks 1..m of a date have
    sum of squares m (m + 1) (2m + 1) / 6; ties lower it (exact in float64: quarter-integers)."""
    m = pl.col("m").cast(pl.Float64)
    by = long.group_by(_D).agg(pl.len().alias("m"), (pl.col(_R) ** 2).sum().alias("r2"))
    return bool(by.select((pl.col("r2") < m * (m + 1) * (2 * m + 1) / 6).any()).item())


def _partial_rank_ic(long: pl.DataFrame, by_date: pl.DataFrame, horizons) -> pl.DataFrame:
    """Rank IC on the dates where some scored asset has no fwd_h: Spearman over the pairs only."""
    for h in horizons:
        part = by_date.filter((pl.col(f"n{h}") < pl.col("n_all")) & (pl.col(f"n{h}") >= _MIN_PAIRS)).get_column(_D)
        if part.len() == 0:
            continue
        has = pl.col(f"fwd{h}").is_not_null()
        redo = (
            long.filter(pl.col(_D).is_in(part.implode()))
            .group_by(_D)
            .agg(pl.corr(pl.col(_S).filter(has), pl.col(f"fwd{h}").filter(has), method="spearman").alias("__redo"))
        )
        by_date = (
            by_date.join(redo, on=_D, how="left", maintain_order="left")
            .with_columns(
                pl.when(pl.col(_D).is_in(part.implode())).then("__redo").otherwise(f"ric{h}").alias(f"ric{h}")
            )
            .drop("__redo")
        )
    return by_date


def _valid_corr(col: str, n: str) -> pl.Expr:
    """A per-date correlation, null with fewer than 3 pairs or a constant side (NaN)."""
    return pl.when(pl.col(n) >= _MIN_PAIRS).then(pl.col(col).fill_nan(None)).alias(col)


def _stats(col: str) -> list[pl.Expr]:
    """Mean, std (ddof=1), IR, t-stat and hit rate of a per-date series (nulls skipped)."""
    x = pl.col(col)
    sd = pl.when(x.std() > 0).then(x.std())
    out = [x.mean().alias(f"mean_{col}"), x.std().alias(f"std_{col}")]
    if col != "spread":
        out.append((x.mean() / sd).alias(f"{col}_ir"))
    out.append((x.mean() / sd * x.count().cast(pl.Float64).sqrt()).alias(f"{col}_t_stat"))
    if col != "spread":
        out.append((x > 0).mean().alias(f"{col}_hit_rate"))
    return out


def _nw_t_stat(col: str, lags: int) -> pl.Expr:
    """mean / its Newey-West standard error over a per-date series in time order (nulls
    skipped): variance of the mean ``(g0 + 2 sum_{l=1..L} (1 - l / (L + 1)) g_l) / n`` with
    autocovariances ``g_l = sum_t d_t d_{t-l} / n`` of the demeaned series (Bartlett weights; no
    small-sample correction: statsmodels' HAC of a regression on a constant). With ``L = h - 1``
    it allows for the h - 1 bars that consecutive dates' forward windows share. Null when the
    variance is not > 0."""
    x = pl.col(col).drop_nulls()
    d = x - x.mean()
    n = x.count().cast(pl.Float64)
    s = (d * d).sum()
    for lag in range(1, lags + 1):
        s = s + 2.0 * (1.0 - lag / (lags + 1)) * (d * d.shift(lag)).sum()
    var = s / n / n
    return pl.when(var > 0).then(x.mean() / var.sqrt()).alias(f"{col}_nw_t_stat")


def _check_horizons(horizons) -> tuple[int, ...]:
    h = (horizons,) if isinstance(horizons, int) and not isinstance(horizons, bool) else horizons
    try:
        h = tuple(h)
    except TypeError:
        h = None
    if not h or any(isinstance(x, bool) or not isinstance(x, int) or x < 1 for x in h):
        raise ConfigError(f"`horizons` must be positive integers (bars held), e.g. (1, 5, 21); got {horizons!r}.")
    return tuple(sorted(set(h)))


def _previous(long: pl.DataFrame, n_assets: int) -> pl.DataFrame:
    """Add each row's average rank on the previous scored date (null if the asset had no score
    then) and whether it stayed in its quantile. ``long`` holds the scored cells of the (date,
    asset) grid in date-major order with their cell numbers: the previous date's cell of the
    same asset is ``cell - n_assets``; a scatter onto the grid finds it in O(cells)."""
    cell = long.get_column(_CELL).to_numpy()
    n_cells = int(cell[-1]) + 1 if cell.shape[0] else 0
    rank, quant = np.full(n_cells, np.nan), np.zeros(n_cells, dtype=np.int64)
    rank[cell] = long.get_column(_R).to_numpy()
    quant[cell] = long.get_column(_Q).fill_null(0).to_numpy()
    prev = cell - n_assets
    ok = prev >= 0
    pr = np.full(cell.shape[0], np.nan)
    pr[ok] = rank[prev[ok]]
    stayed = np.zeros(cell.shape[0], dtype=bool)
    stayed[ok] = quant[prev[ok]] == quant[cell[ok]]
    return long.with_columns(pl.Series(_PR, pr, nan_to_null=True), pl.Series(_STAY, stayed))


def _scored_cells(prices, score, price, asset_col, ts, horizons) -> tuple[pl.Series, pl.DataFrame, int]:
    """(timestamps of the scored dates, the scored cells of the (date, asset) grid, n_assets).

    The cells come in date-major order with their date index ``_D``, cell number ``_CELL``
    (date * n_assets + asset code), score and forward return per horizon (null: none)."""
    if not isinstance(price, str):
        raise ConfigError(f"`price` must be a column name ('open' or 'close'); got {price!r}.")
    if score is None:
        raise ConfigError("`score` must be a polars expression or a column name; got None.")
    lf = _as_lazy(prices, "prices")
    columns = _schema_names(lf, "prices")
    asset = _resolve_keys(columns, asset_col, ts)
    if price not in columns:
        fix = " This frame has 'close': pass price='close' (close to close, from the next bar)." if (
            price == "open" and "close" in columns) else ""  # fmt: skip
        raise DataError(
            f"`price` column {price!r} is not in `prices` (columns: {columns}).{fix}{did_you_mean(price, columns)}"
        )
    if isinstance(score, str) and score not in columns:
        raise DataError(
            f"`score` column {score!r} is not in `prices` (columns: {columns}).{did_you_mean(score, columns)}"
        )
    expr = _as_expr("score", score)
    for root in expr.meta.root_names():
        if root not in columns:
            hint = did_you_mean(root, columns)
            raise DataError(f"`score` uses column {root!r}, which is not in `prices` (columns: {columns}).{hint}")
    df = _load(prices, lf, list(dict.fromkeys([ts, asset, price, *expr.meta.root_names()])), "prices")
    if not isinstance(df.schema[ts], (pl.Date, pl.Datetime)):
        raise DataError(f"column {ts!r} must be Date or Datetime; got {df.schema[ts]}.")
    for c in (ts, asset):
        if df.get_column(c).null_count():
            raise DataError(f"key column {c!r} has null values: {_where(df, pl.col(c).is_null(), ts, asset)}.")
    if not df.schema[price].is_numeric():
        raise DataError(f"`price` column {price!r} must be numeric; got {df.schema[price]}.")
    px = pl.col(price).cast(pl.Float64)
    bad = px.is_null() | ~px.is_finite() | (px <= 0)
    if df.select(bad.any()).item():
        raise DataError(
            f"`price` column {price!r} must hold finite prices > 0; found null, NaN, inf, zero or negative values "
            f"in {_where(df, bad, ts, asset)}. Drop those rows (the asset then has no bar there)."
        )
    try:
        dtype = df.lazy().select(expr.alias(_S)).collect_schema().dtypes()[0]
    except Exception as err:
        raise DataError(f"`score` is invalid: {type(err).__name__}: {err}") from None
    if not (dtype.is_numeric() or dtype == pl.Null):
        raise DataError(f"`score` must be numeric (a model score or prediction); got {dtype} from {expr}.")
    df, _, timestamps, where = place(df, ts, asset)  # duplicates refused; each asset's rows in time order
    try:  # evaluated like backtest's signals: .over(asset) windows see each asset in time order
        df = df.with_columns(expr.cast(pl.Float64).alias(_S))
    except Exception as err:
        raise DataError(f"`score` failed to evaluate: {type(err).__name__}: {err}") from None
    if df.select(pl.col(_S).is_infinite().any()).item():
        where_inf = _where(df, pl.col(_S).is_infinite(), ts, asset)
        raise DataError(f"`score` must be finite (null or NaN: missing); found inf in {where_inf}.")
    prices_g = where.grid(df.get_column(price).cast(pl.Float64).to_numpy(), np.nan)  # (n_assets, n_bars)
    score_g = where.grid(df.get_column(_S).fill_nan(None).to_numpy(), np.nan)
    n_assets, n_bars = prices_g.shape
    # each asset's bars in time order: the asset-major cells with a row; a lead stays in the asset
    rows = np.flatnonzero(~np.isnan(prices_g.ravel()))
    px_rows, code = prices_g.ravel()[rows], rows // n_bars

    def lead(k: int) -> np.ndarray:
        out = np.full(rows.shape[0], np.nan)
        out[:-k] = np.where(code[k:] == code[:-k], px_rows[k:], np.nan)
        return out

    entry = lead(1)
    dates = np.flatnonzero((~np.isnan(score_g)).any(axis=0))  # bars with at least one score
    cell = np.flatnonzero(~np.isnan(score_g.T[dates]))  # scored cells, date-major (n_dates, n_assets)
    src = (cell % n_assets) * n_bars + dates[cell // n_assets]  # the same cells, asset-major
    data = {_D: cell // n_assets, _CELL: cell, _S: score_g.ravel()[src]}
    fwd = np.full(n_assets * n_bars, np.nan)
    for h in horizons:
        ret = lead(1 + h) / entry - 1.0
        if rows.shape[0] == fwd.shape[0]:  # a complete panel: the rows are the cells
            fwd = ret
        else:
            fwd[rows] = ret
        data[f"fwd{h}"] = fwd[src]
    long = pl.DataFrame({k: pl.Series(k, v, nan_to_null=True) for k, v in data.items()})
    return timestamps.gather(dates), long.with_columns(pl.col(_D).set_sorted()), n_assets
