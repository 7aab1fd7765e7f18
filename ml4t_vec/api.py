"""Public entry points: ``backtest`` calls the layers in order. No math, no bar loops here."""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import time
from functools import cached_property

import numpy as np
import polars as pl

from ml4t_vec import _frames
from ml4t_vec._kernels import kernel_array, kernel_tuple
from ml4t_vec._kernels.codes import (
    DRAWDOWN_ACTION,
    FILL_ORDER,
    INTRABAR,
    SIGNAL_RULES,
    SIZE_TYPE,
    STOP_ANCHOR,
    TIMING,
    TRAILING_SOURCE,
    TRAILING_START,
)
from ml4t_vec._kernels.grid import to_grid_nb
from ml4t_vec._kernels.limits import NEVER, LimitParams
from ml4t_vec._kernels.orders import OrderParams
from ml4t_vec._kernels.risk import RiskParams
from ml4t_vec._kernels.simulate import SimResult, simulate
from ml4t_vec._prepare import Prepared, prepare
from ml4t_vec.config import (
    PRESETS,
    BacktestConfig,
    CostConfig,
    ExecutionConfig,
    LimitsConfig,
    PortfolioConfig,
    RiskConfig,
    SizingConfig,
    expr_key,
)
from ml4t_vec.errors import ConfigError, check_choice, did_you_mean
from ml4t_vec.metrics import compute_stats

_CONFIG_KEYS = {
    "sizing": ("size", "size_type", "fractional"),
    "costs": ("fees", "fixed_fees", "slippage", "commission_per_share", "slippage_per_share"),
    "execution": ("fill", "price", "signal_rules", "fill_order"),
    "portfolio": ("init_cash", "cash_sharing"),
    "risk": (
        "stop_loss",
        "take_profit",
        "trailing_stop",
        "trailing_activation",
        "trailing_source",
        "trailing_start",
        "max_bars",
        "stop_anchor",
        "intrabar",
        "stop_on_entry_bar",
        "stop_slippage",
        "reenter_on_stop_bar",
        "stop_loss_price",
        "take_profit_price",
        "session_exit",
    ),
    "limits": (
        "max_positions",
        "max_position_weight",
        "max_gross_leverage",
        "max_net_exposure",
        "max_drawdown",
        "drawdown_action",
        "drawdown_cooldown",
        "daily_loss_limit",
        "priority",
    ),
}
_SECTIONS = {
    "sizing": SizingConfig,
    "costs": CostConfig,
    "execution": ExecutionConfig,
    "portfolio": PortfolioConfig,
    "risk": RiskConfig,
    "limits": LimitsConfig,
}


def _build_config(config: BacktestConfig | None, kwargs: dict, preset: str | None = None) -> BacktestConfig:
    given = {k: v for k, v in kwargs.items() if v is not None}
    if preset is not None:
        check_choice("preset", preset, tuple(PRESETS))
        if config is not None:
            raise ConfigError("pass either `config=` or `preset=`, not both; a config already holds every setting.")
        given = PRESETS[preset] | given  # the caller's settings win
    if config is not None:
        if not isinstance(config, BacktestConfig):
            raise ConfigError(f"`config` must be a BacktestConfig; got {type(config).__name__}.")
        if given:
            raise ConfigError(
                f"pass either `config=` or keyword settings, not both; got config and {sorted(given)}. "
                "Use dataclasses.replace(config, ...) to change a config."
            )
        return config
    parts = {name: _SECTIONS[name](**{k: given[k] for k in keys if k in given}) for name, keys in _CONFIG_KEYS.items()}
    return BacktestConfig(**parts, preset=preset)


def _order_params(cfg: BacktestConfig, n_cols: int) -> OrderParams:
    full = lambda v: np.full(n_cols, v)  # noqa: E731
    return kernel_tuple(
        OrderParams,
        size=full(cfg.sizing.size),
        size_type=full(SIZE_TYPE[cfg.sizing.size_type]),
        fees=full(cfg.costs.fees),
        fixed_fees=full(cfg.costs.fixed_fees),
        slippage=full(cfg.costs.slippage),
        fractional=full(bool(cfg.sizing.fractional)),
        per_share=full(cfg.costs.commission_per_share),
        slippage_per_share=full(cfg.costs.slippage_per_share),
        signal_rules=full(SIGNAL_RULES[cfg.execution.signal_rules]),
        fill_order=full(FILL_ORDER[cfg.execution.fill_order]),
    )


RULE_EXPRS = ("stop_loss", "take_profit", "trailing_stop", "stop_loss_price", "take_profit_price")


def _rule_exprs(cfg: BacktestConfig) -> dict:
    """Per-bar rule values given as expressions or column names (Prepare evaluates them)."""
    out = {k: v for k in RULE_EXPRS if isinstance(v := getattr(cfg.risk, k), (pl.Expr, str, dict))}
    if cfg.limits.priority is not None:
        out["priority"] = cfg.limits.priority
    return out


def _per_bar(prep: Prepared, name: str, n_cols: int, default: float) -> np.ndarray:
    """A rule value per (column, bar) from an expression, else one ``default`` per column."""
    if name in prep.rule_values:
        return prep.rule_values[name][prep.col_asset]
    return np.full((n_cols, 1), default)


def _risk_params(cfg: BacktestConfig, n_cols: int, prep: Prepared) -> RiskParams:
    """Lower RiskConfig to per-column arrays; a rule that is off becomes an unreachable level.

    Fractions are (n_cols, 1) for a number and (n_cols, n_bars) for an expression."""
    r = cfg.risk
    full = lambda v: np.full(n_cols, v)  # noqa: E731

    def fraction(name):
        v = getattr(r, name)
        return _per_bar(prep, name, n_cols, np.inf if v is None or isinstance(v, (pl.Expr, str, dict)) else float(v))

    sl, tp, tsl = (fraction(k) for k in RULE_EXPRS[:3])
    slp, tpp = (_per_bar(prep, k, n_cols, np.nan) for k in RULE_EXPRS[3:])
    max_bars = full(NEVER if r.max_bars is None else int(r.max_bars))
    session = r.session_exit is not None
    rules_on = (np.isfinite(sl).any(axis=1) | np.isfinite(tp).any(axis=1) | np.isfinite(tsl).any(axis=1)
                | ~np.isnan(slp).all(axis=1) | ~np.isnan(tpp).all(axis=1) | (max_bars < NEVER)
                | session)  # fmt: skip
    return kernel_tuple(
        RiskParams,
        stop_loss=sl,
        take_profit=tp,
        trailing_stop=tsl,
        stop_loss_price=slp,
        take_profit_price=tpp,
        trailing_activation=full(float(r.trailing_activation)),
        trailing_source=full(TRAILING_SOURCE[r.trailing_source]),
        trailing_start=full(TRAILING_START[r.trailing_start]),
        max_bars=max_bars,
        stop_anchor=full(STOP_ANCHOR[r.stop_anchor]),
        intrabar=full(INTRABAR[r.intrabar]),
        stop_on_entry_bar=full(bool(r.stop_on_entry_bar)),
        stop_slippage=full(cfg.costs.slippage if r.stop_slippage is None else float(r.stop_slippage)),
        reenter_on_stop_bar=full(bool(r.reenter_on_stop_bar)),
        session_exit=full(session),
        rules_on=rules_on,
    )


def _limit_params(cfg: BacktestConfig, n_groups: int, n_cols: int, prep: Prepared) -> LimitParams:
    """Lower LimitsConfig to per-group arrays; a limit that is off is unreachable."""
    lim = cfg.limits
    full = lambda v: np.full(n_groups, v)  # noqa: E731
    off = lambda v: np.inf if v is None else float(v)  # noqa: E731
    if lim.daily_loss_limit is not None:  # day number of each bar of the time axis
        day = prep.timestamps.dt.date().rle_id().to_numpy()
    else:
        day = np.zeros(prep.n_bars)
    return kernel_tuple(
        LimitParams,
        max_positions=full(NEVER if lim.max_positions is None else int(lim.max_positions)),
        max_position_weight=full(off(lim.max_position_weight)),
        max_gross_leverage=full(1.0 if lim.max_gross_leverage is None else float(lim.max_gross_leverage)),
        leverage_set=full(lim.max_gross_leverage is not None),
        max_net_exposure=full(off(lim.max_net_exposure)),
        max_drawdown=full(off(lim.max_drawdown)),
        drawdown_action=full(DRAWDOWN_ACTION[lim.drawdown_action]),
        drawdown_cooldown=full(NEVER if lim.drawdown_cooldown is None else int(lim.drawdown_cooldown)),
        daily_loss_limit=full(off(lim.daily_loss_limit)),
        priority=_per_bar(prep, "priority", n_cols, np.nan),
        priority_on=full(lim.priority is not None),
        on=full(lim.active),
        day=day,
    )


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
        g = a if in_order else to_grid_nb(a, px.off, px.step[0], n_bars, _NO_ROWS, _NO_ROWS, 0.0)
        h.update(np.ascontiguousarray(g).data)
    h.update(prep.sig.data)
    for k in sorted(prep.rule_values):
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

    def __init__(self, prep: Prepared, sim: SimResult, config: BacktestConfig, timings: dict, rerun, signals: dict):
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

    @cached_property
    def trades(self) -> pl.DataFrame:
        """One row per round trip, ordered by symbol then entry; open positions have status "open"."""
        return self._fb.trades(self._sim.trades)

    @cached_property
    def fills(self) -> pl.DataFrame:
        """One row per executed order, ordered by symbol then time."""
        return self._fb.fills(self._sim.fills)

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

    def stats(self, periods_per_year: float | None = None) -> pl.DataFrame:
        """One-row frame of return and trade metrics (``ml4t_vec.metrics.STATS_DOC``)."""
        return compute_stats(self.equity, self.trades, self.fills, self.init_cash_total, periods_per_year)

    def __repr__(self) -> str:
        p = self._prep
        return (
            f"BacktestResult({p.n_assets} assets x {p.n_bars} bars, {self._sim.trades.shape[0]} trades, "
            f"{self._sim.fills.shape[0]} fills, {self._sim.rejected.shape[0]} rejected, "
            f"config {self.config_hash})"
        )


def backtest(
    prices,
    *,
    entries=None,
    exits=None,
    short_entries=None,
    short_exits=None,
    signals=None,
    size=None,
    size_type=None,
    fractional=None,
    fill=None,
    price=None,
    signal_rules=None,
    fill_order=None,
    fees=None,
    fixed_fees=None,
    slippage=None,
    init_cash=None,
    cash_sharing=None,
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
    commission_per_share=None,
    slippage_per_share=None,
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
    preset: str | None = None,
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
        signals: optional second long frame with the same keys; its columns are joined in.
        size, size_type, fractional: entry size (default 1.0 ``"percent"`` = all equity; see
            ``SizingConfig``).
        fill: ``"next_open"`` (default), ``"next_close"`` or ``"same_close"``; ``price`` an
            optional column/expression to fill at instead, with the same timing; ``signal_rules``
            how signals become orders (``"reverse"`` default, or ``"flat_only"``); ``fill_order``
            the order of fills in a shared-cash phase (``"exits_first"`` default, or ``"asset"``).
        fees, fixed_fees, slippage, commission_per_share, slippage_per_share: costs per fill
            (``CostConfig``), default 0.
        init_cash: default 100_000; cash_sharing: default True (one portfolio).
        stop_loss, take_profit, trailing_stop, trailing_activation, trailing_source, trailing_start, max_bars,
            stop_anchor, intrabar, stop_on_entry_bar, stop_slippage, reenter_on_stop_bar, stop_loss_price,
            take_profit_price, session_exit: position rules, all off by default (``RiskConfig``;
            README "Position rules").
        max_positions, max_position_weight, max_gross_leverage, max_net_exposure, max_drawdown,
            drawdown_action, drawdown_cooldown, daily_loss_limit, priority: portfolio limits of a
            shared-cash portfolio, all off by default (``LimitsConfig``; README "Portfolio limits").
        preset: ``"vectorbt"`` or ``"ml4t"``: start from that peer's conventions (README
            "Presets"); keywords given override them.
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
    cfg = _build_config(config, {k: args[k] for keys in _CONFIG_KEYS.values() for k in keys}, preset)
    if entries is None and short_entries is None:
        raise ConfigError("`backtest` needs `entries=` or `short_entries=` (a pl.Expr or a column name).")
    t0 = time.perf_counter()
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
        rule_exprs=_rule_exprs(cfg),
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
    params = _order_params(cfg, n_cols)

    risk = _risk_params(cfg, n_cols, prep)
    limits = _limit_params(cfg, groups.shape[0] - 1, n_cols, prep)

    def run(per_column_series: bool = False) -> SimResult:
        return simulate(groups, prep.col_asset, prep.prices, prep.sig, TIMING[cfg.execution.fill], init, params, risk,
                        limits, per_column_series)  # fmt: skip

    sim = run()
    t2 = time.perf_counter()
    given = {k: v for k, v in (("entries", entries), ("exits", exits), ("short_entries", short_entries),
                               ("short_exits", short_exits)) if v is not None}  # fmt: skip
    return BacktestResult(prep, sim, cfg, {"prepare_s": t1 - t0, "kernel_s": t2 - t1}, lambda: run(True), given)
