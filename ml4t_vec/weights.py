"""Target-weight helpers: model scores in, signed target weights per (timestamp, asset) out.

Every helper returns a ``pl.Expr`` (named ``weight``) that one ``select`` / ``with_columns`` over a
long frame evaluates, one row per (timestamp, asset). Arguments that take data (``score``, ``w``,
``mask``, ``price``) accept a ``pl.Expr`` or a column name.

Conventions:

- **Weights** are signed fractions of equity: +0.25 holds a long position worth 25 % of equity,
  -0.25 a short one of the same size. **Gross** is ``sum(|w|)`` over one timestamp's rows, **net**
  is ``sum(w)``.
- **Gross 1.** A long-only book puts gross 1 on its longs; a long/short book puts +0.5 on its long
  side and -0.5 on its short side (gross 1, net 0), each side in equal weights unless the helper
  says otherwise. A timestamp where nothing is selected gets 0.0 on every valid row (gross 0).
- **Nulls.** A null or NaN input on a row gives a null weight on that row: no target, and the
  backtest's ``missing=`` policy decides what that means. A valid row the helper does not select
  gets 0.0. ``proportional`` and ``normalize`` treat +-inf as null too (it would make every weight
  at that timestamp NaN); the rank-based helpers rank +-inf as the extremes they are.
- **Ties** (equal scores) are broken by the asset column, never by row order: among tied scores the
  asset that sorts first counts as the higher score (strings and Categoricals lexically, integers
  numerically, an Enum in its category order). Shuffling a frame's rows changes no row's weight.
- The frame must hold at most one row per (timestamp, asset), as the backtest requires.

How the cross-section is computed: inputs are never wrapped in ``.over(by)``. Polars evaluates an
expression inside a window once per group, so a window nested in it runs on that group's rows
only: ``pl.col("close").pct_change(20).over("asset")`` inside ``.over("timestamp")`` would see
one row per asset and silently give nulls or wrong numbers (pola-rs/polars#25691). Instead, every
input (``score``, ``mask``, ...) is evaluated on the whole frame, exactly as it would be on its
own, and:

- ranks (``top_k``, ``quantile``) come from ``pl.int_range(pl.len()).over([by, valid],
  order_by=[-score, asset])``: Polars evaluates a window's partition and order keys on the whole
  frame, and the window body sees no input data (the score is evaluated three times);
- sums and counts (the other helpers) pack the inputs into one list of structs
  (``implode``), compute the per-timestamp aggregates with ``.over`` inside ``list.eval`` on plain
  values, and ``explode`` the list back into the frame's rows. Sums add the values in sorted
  order, so they are bit-for-bit the same whatever the row order.

Example:
    >>> import polars as pl
    >>> from ml4t_vec import weights
    >>> df = pl.DataFrame({"timestamp": [1, 1, 1, 1], "asset": ["A", "B", "C", "D"], "score": [4.0, 3.0, None, 1.0]})
    >>> df.with_columns(w=weights.top_k("score", 1, short_k=1))
    shape: (4, 4)
    ┌───────────┬───────┬───────┬──────┐
    │ timestamp ┆ asset ┆ score ┆ w    │
    │ ---       ┆ ---   ┆ ---   ┆ ---  │
    │ i64       ┆ str   ┆ f64   ┆ f64  │
    ╞═══════════╪═══════╪═══════╪══════╡
    │ 1         ┆ A     ┆ 4.0   ┆ 0.5  │
    │ 1         ┆ B     ┆ 3.0   ┆ 0.0  │
    │ 1         ┆ C     ┆ null  ┆ null │
    │ 1         ┆ D     ┆ 1.0   ┆ -0.5 │
    └───────────┴───────┴───────┴──────┘
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import polars as pl

from ml4t_vec.errors import ConfigError, check_choice

__all__ = ["HoldAwareTopK", "clip", "equal", "inverse_vol", "normalize", "proportional", "quantile", "top_k"]

_NAME = "weight"


# --- argument checks --------------------------------------------------------------------------


def _expr(param: str, value) -> pl.Expr:
    if isinstance(value, str):
        return pl.col(value)
    if isinstance(value, pl.Expr):
        return value
    raise ConfigError(f"`{param}` must be a Polars expression or a column name; got {value!r}.")


def _column(param: str, value) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"`{param}` must be a column name (a non-empty str); got {value!r}.")
    return value


def _int(param: str, value, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < lo:
        raise ConfigError(f"`{param}` must be an int >= {lo}; got {value!r}.")
    return int(value)


def _positive(param: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (math.isfinite(value) and value > 0):
        raise ConfigError(f"`{param}` must be a finite number > 0; got {value!r}.")
    return float(value)


def _finite(x: pl.Expr) -> pl.Expr:
    """NaN and +-inf as null (``x`` is Float64)."""
    return pl.when(x.is_finite()).then(x)


# --- cross-sections (see "How the cross-section is computed" in the module docstring) -----------


def _ranked(body, score: pl.Expr, by: str, asset: str) -> pl.Expr:
    """``body(position, n)`` on each timestamp's valid scores; null where the score is null or NaN.

    ``position``: the row's 0-based place among the valid scores, highest first, ties to the asset
    that sorts first; ``n``: how many there are (both Int64). The score enters only the window's
    partition and order keys, which Polars evaluates on the whole frame (three evaluations in all);
    the window body sees no input data.
    """
    s = score.cast(pl.Float64)
    valid = s.is_not_nan()  # True, False (NaN) or null (null): three partitions of a timestamp
    inner = body(pl.int_range(pl.len(), dtype=pl.Int64), pl.len().cast(pl.Int64))
    return pl.when(valid).then(inner.over([pl.col(by), valid], order_by=[-s, pl.col(asset)]))


def _per_timestamp(body: pl.Expr, by: str, **inputs: pl.Expr) -> pl.Expr:
    """Evaluate ``body`` over each timestamp's rows, the ``inputs`` evaluated once on the whole frame.

    The inputs are packed into one list of structs, ``body`` (written with ``_f(name)``, the
    group aggregations used in it are per timestamp) runs inside ``list.eval`` as
    ``body.over(timestamp)`` on plain values, and the list is exploded back into the frame's rows.
    """
    packed = pl.struct(_by=pl.col(by), **inputs).implode()
    # `+ 0.0`: on an empty frame the eager engine would otherwise type some results Null, not
    # Float64 (a cast is dropped as a no-op there); it also turns -0.0 into 0.0
    return packed.list.eval(body.cast(pl.Float64).over(_f("_by"))).explode() + 0.0


def _f(name: str) -> pl.Expr:
    return pl.element().struct.field(name)


def _div(x: pl.Expr, total: pl.Expr) -> pl.Expr:
    """``x / total`` for a finite-or-null ``x`` and a group aggregate ``total``, as a true division.

    Polars divides by a scalar as a multiplication by its reciprocal (pola-rs/polars#23741), which
    is off by an ulp and overflows when the total is below ~5.6e-309 (tiny or subnormal scores
    would get inf / NaN weights); ``total + 0 * x`` is a full-length column, divided row by row."""
    return x / (total + x * 0.0)


def _total(x: pl.Expr) -> pl.Expr:
    """Sum over the group (nulls count as 0), added up in sorted order: the same bits whatever the
    row order. (``x.sort().sum()`` would not do: the lazy optimizer drops a sort before a sum.)"""
    return x.fill_null(0.0).sort().cum_sum().last()


# --- public helpers ---------------------------------------------------------------------------


def top_k(score, k: int, short_k: int = 0, *, buffer: int = 0, by: str = "timestamp",
          asset: str = "asset") -> pl.Expr | HoldAwareTopK:  # fmt: skip
    """Equal weights on the ``k`` highest scores (and -equal on the ``short_k`` lowest) per timestamp.

    Long-only (``short_k=0``): each of the k longs gets +1/k (gross 1). Long/short: each long gets
    +0.5/k and each short -0.5/short_k (gross 1, net 0). Every other valid row gets 0.0, a null or
    NaN score a null weight.

    A timestamp with n valid scores, fewer than needed, uses what it has:

    - long-only, n < k: the n names get 1/n each;
    - long/short, 2 <= n < k + short_k: both sides shrink in proportion, n_long =
      round_half_up(n * k / (k + short_k)) kept within [1, n - 1], n_short = n - n_long, each side
      still at 0.5 gross (so no name is both long and short and the book stays dollar neutral);
    - long/short, n < 2: no book, every valid row gets 0.0.

    **Hold-aware selection** (``buffer=b > 0``; Qlib's TopkDropout idea, vectorbt #409): a held
    long stays in the book while its rank stays within the top ``k + b`` (a held short within the
    bottom ``short_k + b``), and only a name that falls out is replaced, by the best-ranked name
    not in the book. This cuts turnover when ranks jitter around the cut-off. It depends on what
    is held, so the selection runs in the backtest's kernel: ``top_k(..., buffer=b)`` returns a
    ``HoldAwareTopK`` that ``backtest(weights=...)`` accepts, not an expression. The weights are
    those above (1/k each, or +0.5/k and -0.5/short_k).

    Args:
        score: model score per row (``pl.Expr`` or column name); higher means more attractive.
        k: number of longs, an int >= 1.
        short_k: number of shorts, an int >= 0 (0: long-only).
        buffer: ranks of grace for a held name, an int >= 0 (0: a plain cross-section).
        by: the timestamp column; the cross-section is the rows sharing its value.
        asset: the asset column; breaks ties between equal scores (the asset that sorts first wins).

    Returns:
        A Float64 ``pl.Expr`` named ``weight``: signed fraction of equity per row; with
        ``buffer > 0`` a ``HoldAwareTopK`` for ``backtest(weights=...)``.

    Raises:
        ConfigError: ``k``, ``short_k``, ``buffer``, ``score``, ``by`` or ``asset`` is invalid.

    Example:
        >>> df = pl.DataFrame({"timestamp": [1, 1, 1, 2, 2, 2], "asset": ["A", "B", "C"] * 2,
        ...                    "score": [0.3, 0.9, 0.5, 0.7, 0.7, float("nan")]})
        >>> df.with_columns(w=top_k("score", 2))
        shape: (6, 4)
        ┌───────────┬───────┬───────┬──────┐
        │ timestamp ┆ asset ┆ score ┆ w    │
        │ ---       ┆ ---   ┆ ---   ┆ ---  │
        │ i64       ┆ str   ┆ f64   ┆ f64  │
        ╞═══════════╪═══════╪═══════╪══════╡
        │ 1         ┆ A     ┆ 0.3   ┆ 0.0  │
        │ 1         ┆ B     ┆ 0.9   ┆ 0.5  │
        │ 1         ┆ C     ┆ 0.5   ┆ 0.5  │
        │ 2         ┆ A     ┆ 0.7   ┆ 0.5  │
        │ 2         ┆ B     ┆ 0.7   ┆ 0.5  │
        │ 2         ┆ C     ┆ NaN   ┆ null │
        └───────────┴───────┴───────┴──────┘
    """
    s = _expr("score", score)
    k, short_k, buffer = _int("k", k, 1), _int("short_k", short_k, 0), _int("buffer", buffer, 0)
    by, asset = _column("by", by), _column("asset", asset)
    if buffer > 0:
        return HoldAwareTopK(s, k, short_k, buffer, by, asset)

    def book(position: pl.Expr, n: pl.Expr) -> pl.Expr:
        if short_k == 0:
            n_long = pl.min_horizontal(n, pl.lit(k))
            return pl.when(position < n_long).then(1.0 / n_long).otherwise(0.0)
        total = k + short_k
        few = ((2 * n * k + total) // (2 * total)).clip(1, n - 1)  # round half up, both sides >= 1
        n_long = pl.when(n >= total).then(k).when(n >= 2).then(few).otherwise(0)
        n_short = pl.when(n >= total).then(short_k).when(n >= 2).then(n - few).otherwise(0)
        w = pl.when(position < n_long).then(0.5 / n_long).when(position >= n - n_short).then(-0.5 / n_short)
        return w.otherwise(0.0)

    return _ranked(book, s, by, asset).alias(_NAME)


@dataclass(frozen=True)
class HoldAwareTopK:
    """``top_k(score, k, short_k, buffer=b)`` with ``b > 0``: a selection that depends on what is
    held, made by ``backtest(weights=...)`` on each rebalance bar (see ``top_k``).

    On a rebalance bar, among the n names with a valid score (ranked as ``top_k`` ranks them,
    position 0 the highest) and with n_long / n_short as ``top_k`` counts them:

    1. every held long at a position < n_long + b stays long, best first, at most n_long;
    2. every held short at a position >= n - n_short - b stays short, worst first, at most n_short;
    3. the free long places go to the best-ranked names not kept, the free short places to the
       worst-ranked names not chosen.

    "Held" is the position at the decision bar's close (an order still waiting does not count).
    Chosen longs get +1/n_long (long-only) or +0.5/n_long, shorts -0.5/n_short, every other
    valid name 0.0, and a null or NaN score a null weight (``missing=`` decides).
    """

    score: pl.Expr
    k: int
    short_k: int
    buffer: int
    by: str = "timestamp"
    asset: str = "asset"

    def rank(self) -> pl.Expr:
        """Each row's position among its timestamp's valid scores (0: the highest; ties to the
        asset that sorts first), null where the score is null or NaN. What the kernel reads."""
        return _ranked(lambda position, n: position.cast(pl.Float64), self.score, self.by, self.asset).alias("rank")

    def without_buffer(self) -> pl.Expr:
        """The plain ``top_k`` weights (no memory of holdings)."""
        return top_k(self.score, self.k, self.short_k, by=self.by, asset=self.asset)

    def _no_arithmetic(self, *_):
        raise ConfigError(
            "a hold-aware top_k (buffer > 0) is chosen in the backtest's kernel, bar by bar: it is not an expression "
            "and cannot be combined with others. Pass it to backtest(weights=...) as it is, or use top_k without "
            "buffer."
        )

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _no_arithmetic
    __neg__ = __abs__ = _no_arithmetic


def quantile(
    score, q: int = 10, *, long: str = "top", short: str | None = "bottom", by: str = "timestamp", asset: str = "asset"
) -> pl.Expr:
    """Equal weights on one quantile bucket of the scores (and -equal on another) per timestamp.

    With n valid scores at a timestamp ranked r = 1..n from the lowest (ties broken by asset, as
    everywhere), a row's bucket is floor(q * (r - 1) / n): 0 is the lowest bucket, q - 1 the
    highest (alphalens' qcut on ranks). ``"top"`` is bucket q - 1 (it holds floor(n / q) names),
    ``"bottom"`` bucket 0 (ceil(n / q) names). Long-only: each long gets +1/n_long (gross 1).
    Long/short: +0.5/n_long and -0.5/n_short (gross 1, net 0). If a chosen bucket is empty at a
    timestamp (the top bucket is empty whenever n < q) that timestamp has no book: every valid row
    gets 0.0. Null or NaN scores get null weights.

    Args:
        score: model score per row (``pl.Expr`` or column name).
        q: number of buckets, an int >= 2.
        long: the bucket held long, ``"top"`` or ``"bottom"``.
        short: the bucket held short, ``"top"``, ``"bottom"`` (not the same as ``long``) or None
            (long-only).
        by: the timestamp column.
        asset: the asset column (breaks ties).

    Returns:
        A Float64 ``pl.Expr`` named ``weight``.

    Raises:
        ConfigError: an argument is invalid, or ``short == long``.

    Example:
        >>> df = pl.DataFrame({"timestamp": [1] * 5, "asset": list("ABCDE"), "score": [5.0, 1.0, 4.0, 2.0, 3.0]})
        >>> df.with_columns(w=quantile("score", q=2))
        shape: (5, 4)
        ┌───────────┬───────┬───────┬───────────┐
        │ timestamp ┆ asset ┆ score ┆ w         │
        │ ---       ┆ ---   ┆ ---   ┆ ---       │
        │ i64       ┆ str   ┆ f64   ┆ f64       │
        ╞═══════════╪═══════╪═══════╪═══════════╡
        │ 1         ┆ A     ┆ 5.0   ┆ 0.25      │
        │ 1         ┆ B     ┆ 1.0   ┆ -0.166667 │
        │ 1         ┆ C     ┆ 4.0   ┆ 0.25      │
        │ 1         ┆ D     ┆ 2.0   ┆ -0.166667 │
        │ 1         ┆ E     ┆ 3.0   ┆ -0.166667 │
        └───────────┴───────┴───────┴───────────┘
    """
    s = _expr("score", score)
    q = _int("q", q, 2)
    check_choice("long", long, ("top", "bottom"))
    if short is not None:
        check_choice("short", short, ("top", "bottom"))
        if short == long:
            raise ConfigError(f"`short` must be None or a bucket other than `long` ({long!r}); got {short!r}.")

    def book(position: pl.Expr, n: pl.Expr) -> pl.Expr:
        bucket = (q * (n - position - 1)) // n  # rank from the lowest is n - position

        def side(which: str) -> tuple[int, pl.Expr]:  # (bucket, how many names it holds)
            return (q - 1, n // q) if which == "top" else (0, (n + q - 1) // q)

        b_long, n_long = side(long)
        if short is None:
            return pl.when((bucket == b_long) & (n_long > 0)).then(1.0 / n_long).otherwise(0.0)
        b_short, n_short = side(short)
        both = (n_long > 0) & (n_short > 0)
        w = pl.when(both & (bucket == b_long)).then(0.5 / n_long).when(both & (bucket == b_short)).then(-0.5 / n_short)
        return w.otherwise(0.0)

    return _ranked(book, s, _column("by", by), _column("asset", asset)).alias(_NAME)


def proportional(score, *, demean: bool = True, by: str = "timestamp") -> pl.Expr:
    """Weights proportional to the (demeaned) score, at gross 1 per timestamp (alphalens' factor_weights).

    ``demean=True``: w = (s - mean(s)) / sum(|s - mean(s)|) over the timestamp's valid scores, a
    dollar-neutral book (net 0). It is computed side by side, d / (2 * sum of the positive d) and
    d / (2 * sum of |negative d|) with d = s - mean(s), the same numbers in exact arithmetic, so the
    book stays neutral in floating point: a timestamp whose demeaned scores do not have both signs
    (one valid score, all scores equal, or equal up to rounding in the mean) gets 0.0 on every
    valid row. ``demean=False``: w = s / sum(|s|), signed as the scores are; all-zero scores give
    0.0. Null, NaN or +-inf scores get null weights and are left out of the mean and the sums.

    Args:
        score: model score per row (``pl.Expr`` or column name).
        demean: subtract the timestamp's mean score first.
        by: the timestamp column.

    Returns:
        A Float64 ``pl.Expr`` named ``weight``.

    Raises:
        ConfigError: ``score``, ``demean`` or ``by`` is invalid.

    Example:
        >>> df = pl.DataFrame({"timestamp": [1, 1, 1], "asset": ["A", "B", "C"], "score": [3.0, 1.0, 2.0]})
        >>> df.with_columns(w=proportional("score"), raw=proportional("score", demean=False))
        shape: (3, 5)
        ┌───────────┬───────┬───────┬──────┬──────────┐
        │ timestamp ┆ asset ┆ score ┆ w    ┆ raw      │
        │ ---       ┆ ---   ┆ ---   ┆ ---  ┆ ---      │
        │ i64       ┆ str   ┆ f64   ┆ f64  ┆ f64      │
        ╞═══════════╪═══════╪═══════╪══════╪══════════╡
        │ 1         ┆ A     ┆ 3.0   ┆ 0.5  ┆ 0.5      │
        │ 1         ┆ B     ┆ 1.0   ┆ -0.5 ┆ 0.166667 │
        │ 1         ┆ C     ┆ 2.0   ┆ 0.0  ┆ 0.333333 │
        └───────────┴───────┴───────┴──────┴──────────┘
    """
    s = _expr("score", score).cast(pl.Float64)
    by = _column("by", by)
    if not isinstance(demean, bool):
        raise ConfigError(f"`demean` must be True or False; got {demean!r}.")
    x = _finite(_f("s"))
    if demean:
        d = x - _total(x) / x.count()
        up, down = _total(d.clip(lower_bound=0.0)), _total((-d).clip(lower_bound=0.0))
        spread = pl.when(d > 0).then(_div(d, up)).otherwise(_div(d, down)) * 0.5
        body = pl.when((up > 0) & (down > 0)).then(spread).when(d.is_not_null()).then(0.0)
    else:
        gross = _total(x.abs())
        body = pl.when(gross > 0).then(_div(x, gross)).when(x.is_not_null()).then(0.0)
    return _per_timestamp(body, by, s=s).alias(_NAME)


def equal(mask, *, by: str = "timestamp") -> pl.Expr:
    """Weight 1/n on the n rows of a timestamp where ``mask`` is True, 0.0 where it is False.

    A null mask gives a null weight (and the row is not counted). A timestamp with no True row gets
    0.0 everywhere.

    Args:
        mask: a Boolean ``pl.Expr`` or column name (a non-Boolean one fails when evaluated).
        by: the timestamp column.

    Returns:
        A Float64 ``pl.Expr`` named ``weight`` (long-only, gross 1 where anything is selected).

    Raises:
        ConfigError: ``mask`` or ``by`` is invalid.

    Example:
        >>> df = pl.DataFrame({"timestamp": [1, 1, 1, 2], "asset": ["A", "B", "C", "A"],
        ...                    "buy": [True, False, True, None]})
        >>> df.with_columns(w=equal("buy"))
        shape: (4, 4)
        ┌───────────┬───────┬───────┬──────┐
        │ timestamp ┆ asset ┆ buy   ┆ w    │
        │ ---       ┆ ---   ┆ ---   ┆ ---  │
        │ i64       ┆ str   ┆ bool  ┆ f64  │
        ╞═══════════╪═══════╪═══════╪══════╡
        │ 1         ┆ A     ┆ true  ┆ 0.5  │
        │ 1         ┆ B     ┆ false ┆ 0.0  │
        │ 1         ┆ C     ┆ true  ┆ 0.5  │
        │ 2         ┆ A     ┆ null  ┆ null │
        └───────────┴───────┴───────┴──────┘
    """
    m = _f("m")
    body = pl.when(m).then(1.0 / m.sum()).when(~m).then(0.0)  # an integer count: no rounding
    return _per_timestamp(body, _column("by", by), m=_expr("mask", mask)).alias(_NAME)


def inverse_vol(
    window: int,
    *,
    price=pl.col("close"),  # noqa: B008 (an immutable expression)
    mask=None,
    asset: str = "asset",
    by: str = "timestamp",
    min_periods: int | None = None,
) -> pl.Expr:
    """Weights proportional to 1 / volatility, long-only at gross 1 per timestamp.

    Volatility is the sample standard deviation (ddof=1) of the asset's simple returns
    ``price / previous price - 1`` over its last ``window`` returns up to and including the
    current row: trailing, no look-ahead. The returns run over each asset's own rows in timestamp
    order (whatever the frame's row order), so a missing bar makes one return span the gap. A null,
    NaN or inf price makes the two returns that use it null, and so does dividing by a zero price.

    Rows with fewer than ``min_periods`` non-null returns in the window (default ``window``: the
    first ``window`` rows of every asset), or with zero volatility (a price unchanged over the
    window), get null weights. With ``mask``, only rows where it is True are held; False gives
    0.0, null gives null. The selected rows with a volatility share gross 1.

    Args:
        window: number of returns in the rolling window (bars), an int >= 2.
        price: price per row (``pl.Expr`` or column name), default ``pl.col("close")``.
        mask: optional Boolean ``pl.Expr`` or column name choosing the names to hold.
        asset: the asset column (the rolling window runs per asset).
        by: the timestamp column (orders each asset's rows; the cross-section).
        min_periods: fewest non-null returns in a window for a volatility, an int in [2, window];
            None means ``window``.

    Returns:
        A Float64 ``pl.Expr`` named ``weight``.

    Raises:
        ConfigError: an argument is invalid.

    Example:
        >>> df = pl.DataFrame({"timestamp": [1, 1, 2, 2, 3, 3, 4, 4], "asset": ["A", "B"] * 4,
        ...                    "close": [100.0, 10.0, 101.0, 10.2, 100.0, 10.0, 101.0, 10.2]})
        >>> df.with_columns(w=inverse_vol(2))
        shape: (8, 4)
        ┌───────────┬───────┬───────┬──────────┐
        │ timestamp ┆ asset ┆ close ┆ w        │
        │ ---       ┆ ---   ┆ ---   ┆ ---      │
        │ i64       ┆ str   ┆ f64   ┆ f64      │
        ╞═══════════╪═══════╪═══════╪══════════╡
        │ 1         ┆ A     ┆ 100.0 ┆ null     │
        │ 1         ┆ B     ┆ 10.0  ┆ null     │
        │ 2         ┆ A     ┆ 101.0 ┆ null     │
        │ 2         ┆ B     ┆ 10.2  ┆ null     │
        │ 3         ┆ A     ┆ 100.0 ┆ 0.665579 │
        │ 3         ┆ B     ┆ 10.0  ┆ 0.334421 │
        │ 4         ┆ A     ┆ 101.0 ┆ 0.665579 │
        │ 4         ┆ B     ┆ 10.2  ┆ 0.334421 │
        └───────────┴───────┴───────┴──────────┘
    """
    window = _int("window", window, 2)
    min_periods = window if min_periods is None else _int("min_periods", min_periods, 2)
    if min_periods > window:
        raise ConfigError(f"`min_periods` must be None or an int in [2, window={window}]; got {min_periods!r}.")
    p = _expr("price", price).cast(pl.Float64)
    asset, by = _column("asset", asset), _column("by", by)
    r = _finite(p / p.shift(1) - 1.0)  # NaN / inf returns (bad prices, a zero divisor) become null
    vol = r.rolling_std(window, min_samples=min_periods).over(asset, order_by=by)
    inputs = {"v": vol} if mask is None else {"v": vol, "m": _expr("mask", mask)}
    inv = _finite(1.0 / _f("v"))  # null where the volatility is null or 0
    if mask is not None:
        inv = pl.when(_f("m")).then(inv)
    body = _div(inv, _total(inv))
    if mask is not None:
        body = pl.when(_f("m")).then(body).when(~_f("m")).then(0.0)
    return _per_timestamp(body, by, **inputs).alias(_NAME)


def normalize(w, *, gross: float = 1.0, net: float | None = None, by: str = "timestamp") -> pl.Expr:
    """Rescale weights per timestamp to a gross exposure (and optionally a net exposure).

    ``net=None``: every weight is multiplied by gross / sum(|w|). With ``net``, the long side (sum
    of positive weights L) and the short side (sum of |negative weights| S) are scaled separately
    to L' = (gross + net) / 2 and S' = (gross - net) / 2, so that L' + S' = gross and
    L' - S' = net; the relative weights within a side are kept.

    - A timestamp whose weights are all 0 stays 0 (nothing selected).
    - With ``net``, a timestamp that needs a side it does not have (L' > 0 and no positive weight,
      or S' > 0 and no negative weight, e.g. ``net=0`` on an all-long book) cannot be scaled:
      every row of that timestamp gets a null weight, and the backtest's ``missing=`` policy
      decides (flat by default). A side whose target is 0 (``net=+-gross``) is set to 0.
    - Null, NaN and +-inf weights stay null and are left out of the sums.

    Args:
        w: weights per row (``pl.Expr`` or column name).
        gross: target sum(|w|) per timestamp, a finite number > 0.
        net: target sum(w) per timestamp, None (keep the shape) or a number in [-gross, gross].
        by: the timestamp column.

    Returns:
        A Float64 ``pl.Expr`` named ``weight``.

    Raises:
        ConfigError: an argument is invalid, e.g. |net| > gross.

    Example:
        >>> df = pl.DataFrame({"timestamp": [1, 1, 1], "asset": ["A", "B", "C"], "raw": [2.0, 1.0, -1.0]})
        >>> df.with_columns(g=normalize("raw", gross=2.0), n=normalize("raw", net=0.0))
        shape: (3, 5)
        ┌───────────┬───────┬──────┬──────┬──────────┐
        │ timestamp ┆ asset ┆ raw  ┆ g    ┆ n        │
        │ ---       ┆ ---   ┆ ---  ┆ ---  ┆ ---      │
        │ i64       ┆ str   ┆ f64  ┆ f64  ┆ f64      │
        ╞═══════════╪═══════╪══════╪══════╪══════════╡
        │ 1         ┆ A     ┆ 2.0  ┆ 1.0  ┆ 0.333333 │
        │ 1         ┆ B     ┆ 1.0  ┆ 0.5  ┆ 0.166667 │
        │ 1         ┆ C     ┆ -1.0 ┆ -0.5 ┆ -0.5     │
        └───────────┴───────┴──────┴──────┴──────────┘
    """
    x = _expr("w", w).cast(pl.Float64)
    gross = _positive("gross", gross)
    by = _column("by", by)
    v = _finite(_f("w"))
    if net is None:
        total = _total(v.abs())
        return _per_timestamp(pl.when(total > 0).then(_div(v, total) * gross).otherwise(v), by, w=x).alias(_NAME)
    if isinstance(net, bool) or not isinstance(net, numbers.Real) or not abs(net) <= gross:
        raise ConfigError(f"`net` must be None or a number in [-gross, gross] = [{-gross}, {gross}]; got {net!r}.")
    want_long, want_short = (gross + net) / 2.0, (gross - net) / 2.0
    longs, shorts = _total(v.clip(lower_bound=0.0)), _total((-v).clip(lower_bound=0.0))
    stuck = ((longs == 0) & (want_long > 0)) | ((shorts == 0) & (want_short > 0))
    scaled = pl.when(v > 0).then(_div(v, longs) * want_long).when(v < 0).then(_div(v, shorts) * want_short)
    body = pl.when(longs + shorts == 0).then(v).when(stuck).then(None).otherwise(scaled.otherwise(v))
    return _per_timestamp(body, by, w=x).alias(_NAME)


def clip(w, max_abs: float) -> pl.Expr:
    """Clip every weight to [-max_abs, max_abs]; nothing is redistributed (ml4t's max_single_weight).

    The book's gross can fall below its target after clipping; renormalising with ``normalize``
    would push the clipped names back above the cap, so it is left as it is. Null and NaN weights
    give null.

    Args:
        w: weights per row (``pl.Expr`` or column name).
        max_abs: largest |weight|, a finite number > 0 (fraction of equity).

    Returns:
        A Float64 ``pl.Expr`` named ``weight``.

    Raises:
        ConfigError: ``w`` or ``max_abs`` is invalid.

    Example:
        >>> df = pl.DataFrame({"asset": ["A", "B", "C"], "w": [0.6, -0.3, 0.1]})
        >>> df.with_columns(c=clip("w", 0.25))
        shape: (3, 3)
        ┌───────┬──────┬───────┐
        │ asset ┆ w    ┆ c     │
        │ ---   ┆ ---  ┆ ---   │
        │ str   ┆ f64  ┆ f64   │
        ╞═══════╪══════╪═══════╡
        │ A     ┆ 0.6  ┆ 0.25  │
        │ B     ┆ -0.3 ┆ -0.25 │
        │ C     ┆ 0.1  ┆ 0.1   │
        └───────┴──────┴───────┘
    """
    max_abs = _positive("max_abs", max_abs)
    return _expr("w", w).cast(pl.Float64).fill_nan(None).clip(-max_abs, max_abs).alias(_NAME)
