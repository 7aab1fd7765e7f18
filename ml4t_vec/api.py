"""Public entry points: ``backtest`` calls the layers in order. No math, no bar loops here."""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import time
from functools import cached_property

import numpy as np
import polars as pl

from ml4t_vec import _frames, _lower, _rebalance
from ml4t_vec import benchmark as _benchmark
from ml4t_vec._kernels import kernel_array
from ml4t_vec._kernels.book import n_records
from ml4t_vec._kernels.codes import (
    TIMING,
)
from ml4t_vec._kernels.grid import first_bad_bar_nb, to_grid_nb
from ml4t_vec._kernels.launch import SimResult, count_entries_nb, driver, order_model, resting_of, simulate
from ml4t_vec._kernels.warmup import CompileNotice
from ml4t_vec._prepare import Prepared, prepare
from ml4t_vec.analysis import TradeAnalysis, analyze_trades
from ml4t_vec.config import (
    BacktestConfig,
    expr_key,
)
from ml4t_vec.errors import ConfigError, did_you_mean
from ml4t_vec.metrics import (
    Summary,
    check_periods_per_year,
    check_risk_free,
    compute_stats,
    infer_periods_per_year,
    per_bar_rate,
)
from ml4t_vec.rolling import monthly_table, periodic_returns, rolling_metrics
from ml4t_vec.weights import HoldAwareTopK

_NO_ROWS = kernel_array(np.empty(0), np.int64)


def fingerprint(prep: Prepared, config: BacktestConfig, signals: dict) -> str:
    """``BacktestResult.fingerprint``: 24 hex digits of a SHA-256 over the config, the signals
    and the kernel inputs in (asset, bar) order, whatever the row order of the input."""
    h = hashlib.sha256()
    h.update(config.hash().encode())
    for name in sorted(signals):
        h.update(f"{name}={expr_key(signals[name])}".encode())
    px = prep.prices
    n_assets, n_bars = prep.n_assets, prep.n_bars
    in_order = px.step[0] == 1 and np.array_equal(px.off, np.arange(n_assets) * n_bars)
    seen = set()
    for a in px[:5]:  # in (asset, bar) order whatever the input's row order; one grid copy at a time
        if a.ctypes.data in seen:
            continue
        seen.add(a.ctypes.data)
        if not in_order:
            g = np.empty((n_assets, n_bars))
            to_grid_nb(a, px.off, px.step[0], _NO_ROWS, _NO_ROWS, 0.0, g)
        else:
            g = a
        h.update(np.ascontiguousarray(g).data)
    h.update(prep.sig.data)
    for k in sorted(set(prep.rule_values) - {"benchmark"}):  # a benchmark changes no trade
        h.update(k.encode())
        h.update(prep.rule_values[k].data)
    h.update(prep.timestamps.to_physical().cast(pl.Int64).to_numpy().tobytes())
    h.update(str(prep.timestamps.dtype).encode())
    h.update("\x00".join(prep.symbols.cast(pl.String).to_list()).encode())
    return h.hexdigest()[:24]


class BacktestResult:
    """What ``backtest`` returns. Frames are built on first access and cached.

    Attributes:
        config: the ``BacktestConfig`` used; ``config_hash`` its stable digest.
        timings: seconds spent in prepare / kernel (frames are timed on access).
    """

    def __init__(self, prep: Prepared, sim: SimResult, config: BacktestConfig, timings: dict, rerun, signals: dict,
                 benchmark=None):  # fmt: skip
        self._prep = prep
        self._sim = sim
        self._rerun = rerun  # the same simulation with per-column series (asset_equity)
        self._signals = signals  # signal name -> expression or column name, as given
        self.config = config
        self.config_hash = config.hash()
        self.timings = timings
        self._fb = _frames.FrameBuilder(prep.timestamps, prep.symbols, prep.col_asset)
        n_accounts = 1 if config.portfolio.cash_sharing else prep.sig.shape[0]
        self.init_cash_total = float(config.portfolio.init_cash) * n_accounts
        if isinstance(benchmark, pl.Expr):  # evaluated by Prepare with the rule values: one return per bar
            name = benchmark.meta.output_name(raise_if_undetermined=False) or "benchmark"
            benchmark = _benchmark.Benchmark(name, _benchmark.collapse_per_bar(prep.rule_values["benchmark"], prep))
        self._benchmark = _benchmark.resolve(benchmark, self)  # checked now: a bad benchmark fails at once

    @property
    def benchmark(self) -> pl.DataFrame | None:
        """The benchmark given to ``backtest(benchmark=...)`` on this result's time axis:
        (timestamp, return, equity as the growth of 1), or None (``ml4t_vec.benchmark``)."""
        return None if self._benchmark is None else self._benchmark.frame(self._prep.timestamps)

    def _bench(self, spec) -> _benchmark.Benchmark | None:
        """``spec`` resolved on the time axis; the result's own benchmark when None."""
        return self._benchmark if spec is None else _benchmark.resolve(spec, self)

    @cached_property
    def trades(self) -> pl.DataFrame:
        """One row per round trip, ordered by symbol then entry; open positions have status "open"."""
        return self._fb.trades(self._sim.trades, self._sim.fills)

    @cached_property
    def fills(self) -> pl.DataFrame:
        """One row per executed order, ordered by symbol then time."""
        return self._fb.fills(self._sim.fills)

    @cached_property
    def positions(self) -> pl.DataFrame:
        """One row per position, flat to flat (a resized position has several trade rows)."""
        return self._fb.positions(self.trades, self.fills)

    @cached_property
    def rejected(self) -> pl.DataFrame:
        """Orders rejected or reduced, with a reason code, ordered by time then symbol."""
        return self._fb.rejected(self._sim.rejected)

    @cached_property
    def equity(self) -> pl.DataFrame:
        """Portfolio equity per timestamp (the sum of all accounts when cash_sharing=False)."""
        return self._fb.equity(self._sim.cash, self._sim.net, self._sim.gross, self.init_cash_total)

    @cached_property
    def asset_equity(self) -> pl.DataFrame:
        """Per (timestamp, symbol): position value; with cash_sharing=False also account cash and equity.

        The backtest itself keeps only portfolio totals (memory O(bars), not O(assets x bars));
        the first access re-runs the same deterministic simulation with per-column outputs.
        """
        sim = self._rerun()
        independent = not self.config.portfolio.cash_sharing
        return self._fb.asset_equity(sim.group_cash if independent else None, sim.col_value)

    @cached_property
    def fingerprint(self) -> str:
        """Digest of everything that makes this result: the config (``config_hash``), the signal
        expressions (their serialized plans) and the data the kernels ran on (price grids,
        signal bits, per-bar rule values, the time axis, the symbols). Two results with the same
        fingerprint are the same backtest; ``config_hash`` alone ignores signals and data.
        Computed on first access."""
        return fingerprint(self._prep, self.config, self._signals)

    @cached_property
    def _holdings(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per bar: assets held, gross and squared position value (``_frames.holdings``)."""
        p = self._prep
        return _frames.holdings(self._sim.fills, p.prices.close, p.prices.off, int(p.prices.step[0]), p.sig,
                                p.col_asset)  # fmt: skip

    def stats(self, periods_per_year: float | None = None, *, benchmark=None, risk_free: float = 0.0) -> pl.DataFrame:
        """One-row frame of return, risk, trade, cost, portfolio and benchmark metrics
        (``ml4t_vec.metrics.STATS_DOC`` defines each one).

        Args:
            periods_per_year: bars per year to annualise with; inferred from the timestamps by default.
            benchmark: compare with this instead of the result's own benchmark: a symbol of the
                panel (bought and held), a frame (timestamp, return) or another result. Without
                any, the benchmark metrics are NaN.
            risk_free: annual risk-free rate (0.04 for 4%) of the Sharpe, Sortino and alpha, taken
                per bar as ``(1 + risk_free) ** (1 / periods_per_year) - 1``.
        """
        b = self._bench(benchmark)
        return compute_stats(self.equity, self.trades, self.fills, self.init_cash_total, periods_per_year,
                             self._holdings, int((self._sim.rejected["filled_quantity"] == 0).sum()),
                             None if b is None else b.returns, risk_free,
                             self.config.portfolio.interest_on)  # fmt: skip

    def _ppy(self, periods_per_year: float | None) -> float:
        if periods_per_year is None:
            return infer_periods_per_year(self._prep.timestamps)
        return check_periods_per_year(periods_per_year)

    def rolling(self, window: int = 63, periods_per_year: float | None = None, *, benchmark=None,
                risk_free: float = 0.0) -> pl.DataFrame:  # fmt: skip
        """Rolling return, volatility, Sharpe (over ``risk_free``, an annual rate, as in ``stats()``),
        drawdown and (with a benchmark) beta over the last ``window`` bars, one row per bar
        (``ml4t_vec.rolling``)."""
        b = self._bench(benchmark)
        ppy = self._ppy(periods_per_year)
        return rolling_metrics(self.equity, window, ppy, None if b is None else b.returns,
                               per_bar_rate(check_risk_free(risk_free), ppy))  # fmt: skip

    def returns_table(self, period: str = "M", *, benchmark=None) -> pl.DataFrame:
        """Returns compounded per calendar period (``"W"``, ``"M"``, ``"Q"``, ``"Y"``), with the
        benchmark's over the same bars when there is one (``ml4t_vec.rolling``)."""
        b = self._bench(benchmark)
        return periodic_returns(self.equity, period, None if b is None else b.returns)

    def monthly_returns(self) -> pl.DataFrame:
        """Monthly returns as a year x month table with each year's return (``ml4t_vec.rolling``)."""
        return monthly_table(self.equity)

    def analyze(self, **kwargs) -> TradeAnalysis:
        """Trade analysis of ``trades``: pnl, win rate and more by exit reason, symbol, side,
        holding period and entry month / weekday / hour; MFE/MAE; R-multiples; best and worst
        trades (``ml4t_vec.analysis.analyze_trades`` takes the keyword arguments). R-multiples
        use the run's ``stop_loss`` when it is a number or a per-asset dict."""
        _check_keywords("analyze", analyze_trades, kwargs)
        stop = self.config.risk.stop_loss
        kwargs.setdefault("stop_loss", stop if isinstance(stop, (int, float, dict)) else None)
        return analyze_trades(self.trades, **kwargs)

    def plot(self, kind: str = "equity", **kwargs):
        """A plotly figure (extra ``plot``): ``kind`` one of ``"equity"`` (with drawdown and the
        benchmark), ``"trades"`` (``symbol=``), ``"returns"``, ``"monthly"``, ``"excursions"``,
        ``"exposure"``, ``"rolling"`` (``window=``); ``ml4t_vec.figures``."""
        from ml4t_vec import figures

        kinds = {"equity": figures.equity_figure, "trades": figures.trades_figure, "returns": figures.returns_figure,
                 "monthly": figures.monthly_figure, "excursions": figures.excursions_figure,
                 "exposure": figures.exposure_figure, "rolling": figures.rolling_figure}  # fmt: skip
        if kind not in kinds:
            raise ConfigError(f"`kind` must be one of {list(kinds)}; got {kind!r}.{did_you_mean(kind, list(kinds))}")
        _check_keywords(f"plot({kind!r})", kinds[kind], kwargs)
        return kinds[kind](self, **kwargs)

    def report(self, path, *, benchmark=None, symbol: str | None = None, title: str | None = None,
               window: int = 63, signal_report=None, risk_free: float = 0.0):  # fmt: skip
        """Write a self-contained HTML report (summary, figures, trades, config, versions) to
        ``path`` and return its ``Path``; needs the ``plot`` extra (``ml4t_vec.report``).
        ``signal_report``: a ``vec.signal_report(...)`` of the score behind the strategy, shown
        with its IC and quantile figures. ``risk_free``: as for ``stats()`` (the summary and the
        rolling Sharpe)."""
        from ml4t_vec import figures, report

        figures._go()  # a clear ImportError without plotly
        check_risk_free(risk_free)
        return report.build(self, path, benchmark=benchmark, symbol=symbol, title=title, window=window,
                            signal_report=signal_report, risk_free=risk_free)  # fmt: skip

    def summary(self, periods_per_year: float | None = None, *, benchmark=None, risk_free: float = 0.0) -> Summary:
        """The metrics of ``stats()`` grouped (period, returns, risk, trades, costs, portfolio and,
        with a benchmark, benchmark), one per line; ``print(res.summary())`` or its ``.frame``."""
        return Summary(self.stats(periods_per_year, benchmark=benchmark, risk_free=risk_free))

    def __repr__(self) -> str:
        p = self._prep
        return (
            f"BacktestResult({p.n_assets} assets x {p.n_bars} bars, {n_records(self._sim.trades)} trades, "
            f"{n_records(self._sim.fills)} fills, {n_records(self._sim.rejected)} rejected, "
            f"config {self.config_hash})"
        )


def _backtest_weights(prices, weights, cfg, args, signals, asset_col, timestamp_col) -> BacktestResult:
    """``backtest(weights=...)``: a target-weight portfolio (``_rebalance``)."""
    _rebalance.check(cfg, args)
    t0 = time.perf_counter()
    notice = CompileNotice("the target-weight kernels")
    notice.check(first_bad_bar_nb)
    select = weights if isinstance(weights, HoldAwareTopK) else None
    if select is not None:  # the kernel reads ranks and chooses the names (the alias: k and buffer in the fingerprint)
        weights = select.rank().alias(f"hold_aware_top_k_{select.k}_{select.short_k}_{select.buffer}")
    exprs = {"weights": weights} | _lower.rule_exprs(cfg) | _bench_expr(args["benchmark"])
    if isinstance(cfg.rebalance.rebalance, pl.Expr):
        exprs["rebalance"] = cfg.rebalance.rebalance
    prep = prepare(prices, signals=signals, fill=cfg.execution.fill, price=cfg.execution.price, asset_col=asset_col,
                   timestamp_col=timestamp_col, rule_exprs=exprs)  # fmt: skip
    rebal = _rebalance.schedule(cfg, prep)
    t1 = time.perf_counter()
    timing = TIMING[cfg.execution.fill]
    kernel_variant = _rebalance.variant(cfg, prep)
    notice.check((_rebalance.rebalance_nb, *kernel_variant))

    def run(per_column_series: bool = False) -> SimResult:
        return _rebalance.simulate_weights(prep, cfg, timing, rebal, per_column_series, select,
                                           kernel_variant=kernel_variant)  # fmt: skip

    sim = run()
    t2 = time.perf_counter()
    notice.done()
    return BacktestResult(prep, sim, cfg, {"prepare_s": t1 - t0, "kernel_s": t2 - t1}, lambda: run(True),
                          {"weights": weights}, args["benchmark"])  # fmt: skip


def _check_keywords(where: str, func, kwargs: dict) -> None:
    """A ``ConfigError`` with a suggestion for a keyword ``func`` does not take."""
    known = [p for p in inspect.signature(func).parameters if p not in ("res", "trades", "report")]
    for k in kwargs:
        if k not in known:
            raise ConfigError(f"`{where}` got an unknown keyword argument {k!r}.{did_you_mean(k, known)} "
                              f"Known keywords: {', '.join(known)}.")  # fmt: skip


def _bench_expr(benchmark) -> dict:
    """A benchmark expression for Prepare to evaluate with the rule values (``ml4t_vec.benchmark``)."""
    return {"benchmark": benchmark} if isinstance(benchmark, pl.Expr) else {}


def backtest(
    prices,
    *,
    entries=None,
    exits=None,
    short_entries=None,
    short_exits=None,
    weights=None,
    rebalance=None,
    rebalance_at=None,
    missing=None,
    size_at=None,
    shortfall=None,
    min_weight_change=None,
    min_trade_value=None,
    lot_size=None,
    rounding=None,
    drift_band=None,
    signals=None,
    size=None,
    size_type=None,
    fractional=None,
    size_rule=None,
    fill=None,
    price=None,
    signal_rules=None,
    fill_order=None,
    fees=None,
    fixed_fees=None,
    slippage=None,
    init_cash=None,
    cash_sharing=None,
    cash_rule=None,
    cash_rate=None,
    credit_rate=None,
    stop_loss=None,
    take_profit=None,
    trailing_stop=None,
    trailing_activation=None,
    trailing_source=None,
    max_bars=None,
    stop_anchor=None,
    intrabar=None,
    stop_on_entry_bar=None,
    stop_slippage=None,
    reenter_on_stop_bar=None,
    stop_loss_price=None,
    take_profit_price=None,
    session_exit=None,
    scale_out=None,
    commission_per_share=None,
    slippage_per_share=None,
    slippage_on=None,
    borrow_rate=None,
    commission=None,
    spread=None,
    spread_price=None,
    impact=None,
    trailing_start=None,
    max_positions=None,
    max_position_weight=None,
    max_gross_leverage=None,
    max_net_exposure=None,
    max_drawdown=None,
    drawdown_action=None,
    drawdown_cooldown=None,
    daily_loss_limit=None,
    priority=None,
    percent_of=None,
    reversal=None,
    accumulate=None,
    max_entries=None,
    order_type=None,
    limit_offset=None,
    limit_price=None,
    stop_offset=None,
    stop_price=None,
    tif=None,
    on_new_signal=None,
    on_signal_off=None,
    limit_touch=None,
    preset: str | None = None,
    benchmark=None,
    asset_col: str | None = None,
    timestamp_col: str = "timestamp",
    config: BacktestConfig | None = None,
    **unknown,
) -> BacktestResult:
    """Backtest signal expressions over a long price frame.

    Args:
        prices: long ``pl.DataFrame``, ``pl.LazyFrame`` or Parquet path (file or hive directory)
            with ``timestamp`` (Date/Datetime), an asset column (``asset``/``symbol``/``ticker``/
            ``product`` or ``asset_col=``), ``open``, ``high``, ``low``, ``close`` and any extra
            columns. Unsorted input is sorted; ragged panels (late starts, gaps) are allowed.
        entries, exits, short_entries, short_exits: ``pl.Expr`` or column name evaluated per
            (timestamp, asset) over the frame sorted by (asset, timestamp); null means False.
        weights: instead of signals, the signed target fraction of equity per (timestamp, asset)
            (an expression or column; ``vec.weights`` builds common ones): one shared-cash
            portfolio rebalanced to them (README "Target weights"). ``rebalance`` (default every
            bar), ``rebalance_at``, ``missing``, ``size_at``, ``shortfall``,
            ``min_weight_change``, ``min_trade_value``, ``lot_size``, ``rounding``, ``drift_band``:
            ``RebalanceConfig``.
        signals: optional second long frame with the same keys; its columns are joined in.
        size, size_type, fractional, size_rule, percent_of: entry size (default: equal weight,
            ``1 / n_assets`` of equity per entry in a shared-cash panel, else all of it; see
            ``SizingConfig``). ``size`` may be an expression or column, read at the signal bar.
        accumulate, max_entries: pyramiding: an entry signal on the side already held adds
            ``size`` to the position (an ``increase`` fill at average cost), up to
            ``max_entries`` entries per position (``SizingConfig``; README "Fill rules").
        fill: ``"next_open"`` (default), ``"next_close"`` or ``"same_close"``; ``price`` an
            optional column/expression to fill at instead, with the same timing; ``signal_rules``
            how signals become orders (``"reverse"`` default, or ``"flat_only"``); ``fill_order``
            the order of fills in a shared-cash phase (``"exits_first"`` default, ``"asset"`` or
            ``"ml4t"``); ``reversal`` ``"two_orders"`` (default) or ``"one_order"``
            (``ExecutionConfig``).
        order_type, limit_offset, limit_price, stop_offset, stop_price, tif, on_new_signal,
            on_signal_off, limit_touch: entries as resting orders (README "Order types"):
            ``order_type="limit"`` with ``limit_offset=0.01`` buys 1% below the signal bar's
            close (sells above), on the asset's later bars, at the open when it gaps through the
            level; ``"stop"`` and ``"stop_limit"`` likewise; ``tif=5`` expires it after five bars
            (``ExecutionConfig``).
        fees, fixed_fees, slippage, commission_per_share, slippage_per_share, slippage_on: costs
            per fill (``CostConfig``), default 0; each a number or a dict with one number per
            asset; ``slippage_on="entries"`` slips entries only; ``fees``, ``fixed_fees`` and
            ``commission_per_share`` may also be an expression read at each fill's bar (null:
            none). ``borrow_rate``: the annual fee
            for borrowing shares sold short (a number, a dict by asset, or an expression read
            per bar; default None: none), ``|quantity| x last close x rate / 360`` per calendar
            day held, reported per trade row as ``borrow_cost``. ``commission``: a schedule
            instead of ``commission_per_share``: ``vec.PerShare(0.005, min=1.0, max_pct=0.01)``
            (a minimum and a cap per order), ``vec.Tiered(...)`` (the rate by the account's
            shares this month), ``"ibkr_fixed"``, ``"ibkr_tiered"``, or a dict by asset.
            ``spread``: the full bid-ask spread as a fraction of the price (a number, a dict by
            asset, or an expression read at each fill's bar), or ``spread_price`` in price units
            (``pl.col("ask") - pl.col("bid")``): every fill pays half of it per share, reported
            as ``spread_cost`` in fills and trades. ``impact``: market impact,
            ``vec.SquareRootImpact(k, exponent=0.5, sigma=, adv=)``: each fill's price moves by
            ``k * sigma * (q / adv) ** exponent`` of it, ``sigma`` and ``adv`` read at the asset's
            bar before the fill (default: 20-bar return volatility and mean ``volume``),
            reported as ``impact_cost`` (``ml4t_vec.impact``).
        init_cash: default 100_000; cash_sharing: default True (one portfolio); cash_rule: what
            limits orders by cash (``"equity"`` default, ``"ml4t"`` or ``"vectorbt"``;
            ``PortfolioConfig``; README "Cash limit"); cash_rate / credit_rate: annual interest
            negative cash pays / positive cash earns, per calendar day (default None: none).
        stop_loss, take_profit, trailing_stop, trailing_activation, trailing_source, trailing_start, max_bars,
            stop_anchor, intrabar, stop_on_entry_bar, stop_slippage, reenter_on_stop_bar, stop_loss_price,
            take_profit_price, session_exit, scale_out: position rules, all off by default
            (``RiskConfig``; README "Position rules"); ``scale_out=[(0.05, 0.5), (0.10, 1.0)]``
            takes profit in steps (half at +5%, the rest at +10%).
        max_positions, max_position_weight, max_gross_leverage, max_net_exposure, max_drawdown,
            drawdown_action, drawdown_cooldown, daily_loss_limit, priority: portfolio limits of a
            shared-cash portfolio, all off by default (``LimitsConfig``; README "Portfolio limits").
        preset: ``"vectorbt"``, ``"ml4t"`` or ``"backtesting"``: start from that peer's
            conventions (README "Presets"); keywords given override them.
        benchmark: what ``stats()``, ``summary()`` and the plots compare with: a symbol of the
            panel (bought and held from the first close), a per-timestamp returns expression
            (``pl.col("spy_ret")``), a frame (timestamp, return) or another result
            (``ml4t_vec.benchmark``). Not part of the config: it changes no trade.
        config: a ``BacktestConfig`` instead of the keyword settings.

    Returns:
        ``BacktestResult`` with ``trades``, ``fills``, ``rejected``, ``equity``,
        ``asset_equity`` and ``stats()``.

    Example:
        >>> import ml4t_vec as vec
        >>> prices = vec.synthetic_prices(n_assets=2, n_bars=60, seed=1)
        >>> res = vec.backtest(prices, entries=pl.col("pred") > 0.6, exits=pl.col("pred") < 0.4,
        ...                    size=0.5, fees=0.001)
        >>> res.trades.select("symbol", "entry_time", "pnl").height > 0
        True
    """
    if unknown:
        name = next(iter(unknown))
        known = [p for p in inspect.signature(backtest).parameters if p not in ("prices", "unknown")]
        raise ConfigError(
            f"`backtest` got an unknown keyword argument {name!r}.{did_you_mean(name, known)} "
            f"Known keywords: {', '.join(known)}."
        )
    args = locals()
    presets = _lower.WEIGHT_PRESETS if weights is not None else _lower.PRESETS
    kwargs = {k: args[k] for keys in _lower.CONFIG_KEYS.values() for k in keys}
    cfg = _lower.build_config(config, kwargs, preset, presets)
    if weights is not None:
        both = [k for k in ("entries", "exits", "short_entries", "short_exits") if args[k] is not None]
        if both:
            raise ConfigError(f"pass either `weights=` or signals, not both; got `weights` and {both}.")
        return _backtest_weights(prices, weights, cfg, args, signals, asset_col, timestamp_col)
    if entries is None and short_entries is None:
        raise ConfigError("`backtest` needs `entries=` or `short_entries=` (a pl.Expr or a column name).")
    t0 = time.perf_counter()
    notice = CompileNotice("the backtest kernels")  # a first run after installing compiles them: say so
    notice.check(first_bad_bar_nb)
    prep = prepare(
        prices,
        signals=signals,
        entries=entries,
        exits=exits,
        short_entries=short_entries,
        short_exits=short_exits,
        fill=cfg.execution.fill,
        price=cfg.execution.price,
        asset_col=asset_col,
        timestamp_col=timestamp_col,
        rule_exprs=_lower.rule_exprs(cfg) | _bench_expr(benchmark),
        session_exit=cfg.risk.session_exit,
    )
    t1 = time.perf_counter()
    cfg = dataclasses.replace(cfg, sizing=cfg.sizing.resolved(prep.n_assets, cfg.portfolio.cash_sharing))
    n_cols = prep.sig.shape[0]
    if cfg.portfolio.cash_sharing:
        groups = np.array([0, n_cols], dtype=np.int64)
    else:
        groups = np.arange(n_cols + 1, dtype=np.int64)
    init = np.full(groups.shape[0] - 1, float(cfg.portfolio.init_cash))
    params = _lower.order_params(cfg, n_cols, prep)

    risk = _lower.risk_params(cfg, n_cols, prep)
    limits = _lower.limit_params(cfg, groups.shape[0] - 1, n_cols, prep)
    notice.check((driver(groups.shape[0] - 1, n_cols),
                  order_model(params, cfg.risk.scale_out is not None, cfg.financed), resting_of(params)),
                 count_entries_nb)  # fmt: skip

    def run(per_column_series: bool = False) -> SimResult:
        return simulate(groups, prep.col_asset, prep.prices, prep.sig, TIMING[cfg.execution.fill], init, params, risk,
                        limits, per_column_series)  # fmt: skip

    sim = run()
    t2 = time.perf_counter()
    notice.done()
    given = {k: v for k, v in (("entries", entries), ("exits", exits), ("short_entries", short_entries),
                               ("short_exits", short_exits)) if v is not None}  # fmt: skip
    return BacktestResult(prep, sim, cfg, {"prepare_s": t1 - t0, "kernel_s": t2 - t1}, lambda: run(True), given,
                          benchmark)  # fmt: skip
