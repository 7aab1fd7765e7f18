"""Configs -> kernel parameters (the prepare layer): build a ``BacktestConfig`` from keyword
settings and a preset, and lower it, with the prepared data, to the kernels' parameter
NamedTuples (``OrderParams``, ``RiskParams``, ``LimitParams``), every array through
``kernel_tuple``. Used by ``backtest`` and by every batch of a ``sweep``.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from ml4t_vec._kernels import kernel_tuple
from ml4t_vec._kernels.codes import (
    CASH_RULE,
    DRAWDOWN_ACTION,
    FILL_ORDER,
    INTRABAR,
    LIMIT_TOUCH,
    MAX_TIERS,
    ON_NEW_SIGNAL,
    ON_SIGNAL_OFF,
    ORDER_TYPE,
    PERCENT_OF,
    REVERSAL,
    SIGNAL_RULES,
    SIZE_RULE,
    SIZE_TYPE,
    STOP_ANCHOR,
    TIF_DAY,
    TIF_GTC,
    TRAILING_SOURCE,
    TRAILING_START,
)
from ml4t_vec._kernels.limits import NEVER, LimitParams
from ml4t_vec._kernels.orders import OrderParams
from ml4t_vec._kernels.risk import RiskParams
from ml4t_vec._prepare import Prepared, check_assets_known
from ml4t_vec.commission import PerShare, Tiered, resolve
from ml4t_vec.config import (
    BAR_FEES,
    PER_BAR_COSTS,
    PRESETS,
    SCALE_OUT_STEPS,
    BacktestConfig,
    CostConfig,
    ExecutionConfig,
    LimitsConfig,
    PortfolioConfig,
    RebalanceConfig,
    RiskConfig,
    SizingConfig,
)
from ml4t_vec.errors import ConfigError, check_choice

# target weights: vectorbt 1.2 Portfolio.from_orders(size_type="targetpercent", cash_sharing=True,
# group_by=True, call_seq="auto"): fills and sizing at the bar's close, NaN = no order, its call
# order and cash rule (tests/peers/test_vectorbt_weights.py)
WEIGHT_PRESETS = {
    "vectorbt": {
        "fill": "same_close",
        "size_at": "fill",
        "missing": "hold",
        "cash_rule": "vectorbt",
        "fractional": True,
        "init_cash": 100.0,
        "cash_sharing": True,
    },
    # ml4t-backtest 0.2.0 TargetWeightExecutor(RebalanceConfig(allow_short=True)) on an account that
    # may short without leverage (allow_short_selling=True), its defaults otherwise: sized at the
    # decision close, next-open fills, the change rounded to the nearest whole share, weights
    # clipped to +-1, null / absent names closed; its broker's order sequence and cash check
    # (cash_rule="ml4t": exits, then sells, then buys in asset order, each cut to what still fits)
    # (tests/peers/test_ml4t_weights.py)
    "ml4t": {
        "fill": "next_open",
        "size_at": "decision",
        "missing": "flat",
        "rounding": "nearest",
        "shortfall": "priority",
        "cash_rule": "ml4t",
        "fractional": False,
        "init_cash": 100_000.0,
        "cash_sharing": True,
    },
}

# the keyword settings of `backtest`, by config section
CONFIG_KEYS = {
    "sizing": ("size", "size_type", "fractional", "size_rule", "percent_of", "accumulate", "max_entries"),
    "costs": (
        "fees",
        "fixed_fees",
        "slippage",
        "commission_per_share",
        "commission",
        "slippage_per_share",
        "slippage_on",
        "borrow_rate",
        "spread",
        "spread_price",
        "impact",
    ),
    "execution": (
        "fill",
        "price",
        "signal_rules",
        "fill_order",
        "reversal",
        "order_type",
        "limit_offset",
        "limit_price",
        "stop_offset",
        "stop_price",
        "tif",
        "on_new_signal",
        "on_signal_off",
        "limit_touch",
    ),
    "portfolio": ("init_cash", "cash_sharing", "cash_rule", "cash_rate", "credit_rate"),
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
        "scale_out",
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
    "rebalance": (
        "rebalance",
        "rebalance_at",
        "missing",
        "size_at",
        "shortfall",
        "min_weight_change",
        "min_trade_value",
        "lot_size",
        "rounding",
        "drift_band",
    ),
}
SECTIONS = {
    "sizing": SizingConfig,
    "costs": CostConfig,
    "execution": ExecutionConfig,
    "portfolio": PortfolioConfig,
    "risk": RiskConfig,
    "limits": LimitsConfig,
    "rebalance": RebalanceConfig,
}


def build_config(config: BacktestConfig | None, kwargs: dict, preset: str | None = None,
                 presets: dict = PRESETS) -> BacktestConfig:  # fmt: skip
    """The config from keyword settings over a preset (``presets``: the signal-mode ones, or
    ``WEIGHT_PRESETS`` for target weights)."""
    given = {k: v for k, v in kwargs.items() if v is not None}
    if preset is not None:
        check_choice("preset", preset, tuple(PRESETS))
        if config is not None:
            raise ConfigError("pass either `config=` or `preset=`, not both; a config already holds every setting.")
        if preset not in presets:
            raise ConfigError(
                f"preset={preset!r} is not available with `weights` yet; use {' or '.join(map(repr, presets))} or none."
            )
        given = presets[preset] | given  # the caller's settings win
    if config is not None:
        if not isinstance(config, BacktestConfig):
            raise ConfigError(f"`config` must be a BacktestConfig; got {type(config).__name__}.")
        if given:
            raise ConfigError(
                f"pass either `config=` or keyword settings, not both; got config and {sorted(given)}. "
                "Use dataclasses.replace(config, ...) to change a config."
            )
        return config
    parts = {name: SECTIONS[name](**{k: given[k] for k in keys if k in given}) for name, keys in CONFIG_KEYS.items()}
    return BacktestConfig(**parts, preset=preset)


def order_params(cfg: BacktestConfig, n_cols: int, prep: Prepared | None = None) -> OrderParams:
    """Lower the order settings to per-column arrays; ``size`` is (n_cols, 1), or (n_cols,
    n_bars) for a size expression (``prep``'s rule value; NaN without ``prep``: a caller that
    only reads the order model)."""
    full = lambda v: np.full(n_cols, v)  # noqa: E731
    size = cfg.sizing.size
    if isinstance(size, (pl.Expr, str)):
        size = per_bar(prep, "size", n_cols, np.nan) if prep is not None else np.full((n_cols, 1), np.nan)
    else:
        size = np.full((n_cols, 1), size)
    return kernel_tuple(
        OrderParams,
        size=size,
        size_type=full(SIZE_TYPE[cfg.sizing.size_type]),
        fees=cost(cfg, "fees", n_cols, prep),
        fixed_fees=cost(cfg, "fixed_fees", n_cols, prep),
        slippage=cost(cfg, "slippage", n_cols, prep),
        fractional=full(bool(cfg.sizing.fractional)),
        **commission(cfg, n_cols, prep),
        slippage_per_share=cost(cfg, "slippage_per_share", n_cols, prep),
        **spread(cfg, n_cols, prep),
        **bar_fees(cfg, n_cols, prep),
        signal_rules=full(SIGNAL_RULES[cfg.execution.signal_rules]),
        fill_order=full(FILL_ORDER[cfg.execution.fill_order]),
        cash_rule=full(CASH_RULE[cfg.portfolio.cash_rule]),
        size_rule=full(SIZE_RULE[cfg.sizing.size_rule]),
        exit_slippage=exit_slippage(cfg, n_cols, prep),
        exit_slippage_per_share=exit_slippage(cfg, n_cols, prep, "slippage_per_share"),
        percent_of=full(PERCENT_OF[cfg.sizing.percent_of]),
        reversal=full(REVERSAL[cfg.execution.reversal]),
        accumulate=full(bool(cfg.sizing.accumulate)),
        max_entries=full(NEVER if cfg.sizing.max_entries is None else int(cfg.sizing.max_entries)),
        **order_levels(cfg, n_cols, prep),
    )


def order_levels(cfg: BacktestConfig, n_cols: int, prep: Prepared | None) -> dict:
    """The entry order type's fields of ``OrderParams`` (README "Order types"): its code, the
    levels as fractions of the signal close (NaN: none, or given as prices), as prices per bar
    (``per_bar``: (n_cols, n_bars) from an expression, else (n_cols, 1) NaN) and the lifecycle."""
    e = cfg.execution
    full = lambda v: np.full(n_cols, v)  # noqa: E731
    offset = lambda v: full(np.nan if v is None else float(v))  # noqa: E731

    def price(name):
        if getattr(e, name) is None or prep is None:
            return np.full((n_cols, 1), np.nan)
        return per_bar(prep, name, n_cols, np.nan)

    stop_slip = cfg.risk.stop_slippage
    return dict(
        order_type=full(ORDER_TYPE[e.order_type]),
        stop_entry_slippage=cost(cfg, "slippage", n_cols, prep) if stop_slip is None else full(float(stop_slip)),
        limit_offset=offset(e.limit_offset),
        stop_offset=offset(e.stop_offset),
        limit_price=price("limit_price"),
        stop_price=price("stop_price"),
        tif=full(TIF_GTC if e.tif is None else TIF_DAY if e.tif == "day" else int(e.tif)),
        on_new_signal=full(ON_NEW_SIGNAL[e.on_new_signal]),
        on_signal_off=full(ON_SIGNAL_OFF[e.on_signal_off]),
        limit_touch=full(LIMIT_TOUCH[e.limit_touch]),
    )


def by_asset(name: str, v: dict, n_cols: int, prep: Prepared) -> tuple[list, np.ndarray]:
    """A setting given as a dict by asset: (its value per asset of the data, in the data's
    order; the columns' assets). The dict must name every asset of the data and no other."""
    check_assets_known(name, v, prep.symbols)
    names = prep.symbols.cast(pl.String).to_list()
    given = {str(k): x for k, x in v.items()}
    missing = [a for a in names if a not in given]
    if missing:
        raise ConfigError(
            f"`{name}` has no value for {len(missing)} of the {len(names)} assets: {missing[:5]!r}"
            f"{' ...' if len(missing) > 5 else ''}. Give every asset a value (an asset left out would trade "
            f"without it), e.g. {{a: 0.0 for a in assets}} | {{{missing[0]!r}: ...}}."
        )
    col_asset = prep.col_asset if prep.col_asset.shape[0] == n_cols else np.arange(n_cols) % len(names)
    return [given[a] for a in names], col_asset


def cost(cfg: BacktestConfig, name: str, n_cols: int, prep: Prepared | None) -> np.ndarray:
    """One cost of ``CostConfig`` per column: a number for every column, or a dict by asset
    mapped through the columns' assets (``by_asset``). Without ``prep`` (a caller that only
    reads the order model) a dict lowers to 0."""
    v = getattr(cfg.costs, name)
    if isinstance(v, (pl.Expr, str)):  # read per bar (``bar_fees``, ``spread``): none per column
        return np.zeros(n_cols)
    if not isinstance(v, dict):
        return np.full(n_cols, float(v))
    if prep is None:
        return np.zeros(n_cols)
    values, col_asset = by_asset(name, v, n_cols, prep)
    return np.array([float(x) for x in values])[col_asset]


def cost_grid(cfg: BacktestConfig, name: str, n_cols: int, prep: Prepared) -> np.ndarray:
    """A cost that may be read per bar, as the kernels read it: (n_cols, n_bars) from an
    expression (``per_bar``; NaN: none), else (n_cols, 1), the number or the dict by asset per
    column (``cost``; None: 0)."""
    v = getattr(cfg.costs, name)
    if isinstance(v, (pl.Expr, str)):
        return per_bar(prep, name, n_cols, np.nan)
    return cost(cfg, name, n_cols, prep)[:, None] if v is not None else np.zeros((n_cols, 1))


def spread(cfg: BacktestConfig, n_cols: int, prep: Prepared | None) -> dict:
    """The spread fields of ``OrderParams`` and ``WeightParams``: ``spread``, the full bid-ask
    spread per column, (n_cols, 1) for a number or a dict by asset, (n_cols, n_bars) from an
    expression (NaN: none; without ``prep``, 1 where some spread is set: the order model's
    test, ``launch.order_model``), and ``spread_price`` (it is in price units:
    ``spread_price=``, else a fraction of the price)."""
    in_price = cfg.costs.spread_price is not None
    name = "spread_price" if in_price else "spread"
    v = getattr(cfg.costs, name)
    if prep is None:  # a caller that only reads the order model: some spread is on, or none
        on = isinstance(v, (pl.Expr, str, dict)) or bool(v)
        return dict(spread=np.full((n_cols, 1), 1.0 if on else 0.0), spread_price=np.full(n_cols, in_price))
    return dict(spread=cost_grid(cfg, name, n_cols, prep), spread_price=np.full(n_cols, in_price))


def bar_fees(cfg: BacktestConfig, n_cols: int, prep: Prepared | None) -> dict:
    """The fee components read per bar, as ``OrderParams`` / ``WeightParams`` fields
    ``fees_bar``, ``fixed_fees_bar``, ``per_share_bar``: (n_cols, n_bars) from an expression
    (NaN: none), (n_cols, 0) for a number or a dict by asset (the per-column field holds it);
    without ``prep`` (1, 1) where one is read per bar (the order model's test); and their
    ``*_slot`` in ``launch.bar_costs`` (-1: not read per bar). Then the market impact's fields
    ``impact`` (its coefficient per bar, ``impact.SquareRootImpact.coefficient``; (n_cols, 0):
    none), ``impact_slot`` and ``impact_exp``."""
    out = {}
    slot = 1  # (slot 0 of ``launch.bar_costs`` is the spread)
    for name, field in zip(BAR_FEES, ("fees", "fixed_fees", "per_share"), strict=True):
        by_bar = isinstance(getattr(cfg.costs, name), (pl.Expr, str))
        if prep is None:
            out[f"{field}_bar"] = np.ones((n_cols, 1)) if by_bar else np.empty((n_cols, 0))
        else:
            out[f"{field}_bar"] = per_bar(prep, name, n_cols, np.nan) if by_bar else np.empty((n_cols, 0))
        out[f"{field}_slot"] = np.full(n_cols, slot if by_bar else -1)
        slot += by_bar
    model = cfg.costs.impact  # market impact: its coefficient per bar in the next slot (``launch.bar_costs``)
    if model is None:
        out["impact"] = np.empty((n_cols, 0))
    else:
        out["impact"] = per_bar(prep, "impact", n_cols, np.nan) if prep is not None else np.ones((n_cols, 1))
    out["impact_slot"] = np.full(n_cols, -1 if model is None else slot)
    out["impact_exp"] = np.full(n_cols, 0.0 if model is None else model.exponent)
    return out


def _schedule_row(s) -> np.ndarray:
    """One schedule as the kernels' commission fields: per_share, comm_min, comm_max, n_tiers,
    then the tiers' bounds and rates (padded: bound inf, the last rate)."""
    row = np.zeros(4 + 2 * MAX_TIERS)
    row[2] = np.inf if s.max_pct is None else s.max_pct
    row[1] = s.min
    if isinstance(s, Tiered):
        n = len(s.tiers)
        row[0] = s.tiers[0][1]
        row[3] = n
        row[4 : 4 + MAX_TIERS] = np.inf
        row[4 + MAX_TIERS :] = s.tiers[-1][1]
        row[4 : 4 + n] = [u for u, _ in s.tiers]
        row[4 + MAX_TIERS : 4 + MAX_TIERS + n] = [r for _, r in s.tiers]
    else:
        row[0] = s.rate
    return row


def commission(cfg: BacktestConfig, n_cols: int, prep: Prepared | None) -> dict:
    """The commission fields of ``OrderParams`` per column: ``per_share``
    (``commission_per_share``, or a schedule's rate), ``comm_min``, ``comm_max`` (inf: none),
    ``n_tiers`` and ``tiers`` (``commission=``: a schedule, its name, or a dict by asset)."""
    rows = commission_table(cfg, n_cols, prep)
    return dict(per_share=rows[:, 0], comm_min=rows[:, 1], comm_max=rows[:, 2], n_tiers=rows[:, 3].astype(np.int64),
                tiers=rows[:, 4:])  # fmt: skip


def commission_table(cfg: BacktestConfig, n_cols: int, prep: Prepared | None) -> np.ndarray:
    """The commission schedule per column as one (n_cols, 4 + 2 * MAX_TIERS) table
    (``WeightParams.commission``; ``commission`` splits it into ``OrderParams``' fields)."""
    v = cfg.costs.commission
    if v is None:
        rows = np.zeros((n_cols, 4 + 2 * MAX_TIERS))
        rows[:, 0] = cost(cfg, "commission_per_share", n_cols, prep)
        rows[:, 2] = np.inf
    elif isinstance(v, dict):
        if prep is None:
            rows = np.tile(_schedule_row(PerShare(0.0)), (n_cols, 1))
        else:
            values, col_asset = by_asset("commission", v, n_cols, prep)
            rows = np.stack([_schedule_row(resolve(x)) for x in values])[col_asset]
    else:
        rows = np.tile(_schedule_row(resolve(v)), (n_cols, 1))
    return rows


def months(prep: Prepared) -> np.ndarray:
    """Calendar month of each bar of the time axis (year * 12 + month): commission tiers count an
    account's shares per month."""
    ts = prep.timestamps
    return (ts.dt.year().cast(pl.Int64) * 12 + ts.dt.month().cast(pl.Int64)).to_numpy()


def exit_slippage(cfg: BacktestConfig, n_cols: int, prep: Prepared | None, name: str = "slippage") -> np.ndarray:
    """Slippage (the fraction, or per share with ``name``) of signal exits, time stops and forced
    exits, per column (``slippage_on``: none with "entries"); the fraction is also the default
    of ``stop_slippage``."""
    return np.zeros(n_cols) if cfg.costs.slippage_on == "entries" else cost(cfg, name, n_cols, prep)


def ml4t_cycle(cfg: BacktestConfig) -> bool:
    """ml4t-backtest's bar cycle is on: ``fill_order="ml4t"`` with fills at the next open."""
    return cfg.execution.fill_order == "ml4t" and cfg.execution.fill == "next_open"


RULE_EXPRS = ("stop_loss", "take_profit", "trailing_stop", "stop_loss_price", "take_profit_price")
# every setting that may be an expression, a column name or a dict by asset (``rule_exprs``)
# (costs: also a number or a dict by asset)
PER_BAR = (*RULE_EXPRS, "size", "priority", "limit_price", "stop_price", *PER_BAR_COSTS)


def rule_exprs(cfg: BacktestConfig) -> dict:
    """Per-bar rule values given as expressions or column names (Prepare evaluates them)."""
    out = {k: v for k in RULE_EXPRS if isinstance(v := getattr(cfg.risk, k), (pl.Expr, str, dict))}
    if isinstance(cfg.sizing.size, (pl.Expr, str)):
        out["size"] = cfg.sizing.size
    if cfg.limits.priority is not None:
        out["priority"] = cfg.limits.priority
    for k in PER_BAR_COSTS:
        if isinstance(v := getattr(cfg.costs, k), (pl.Expr, str)):
            out[k] = v
    for k in ("limit_price", "stop_price"):  # resting orders' levels
        if isinstance(v := getattr(cfg.execution, k), (pl.Expr, str)):
            out[k] = v
    if cfg.costs.impact is not None:  # its coefficient per row (Prepare builds it with the key columns)
        out["impact"] = cfg.costs.impact
    return out


def per_bar(prep: Prepared, name: str, n_cols: int, default: float) -> np.ndarray:
    """A rule value per (column, bar) from an expression, else one ``default`` per column."""
    if name in prep.rule_values:
        v = prep.rule_values[name]
        ca = prep.col_asset
        if ca.shape[0] == v.shape[0] and (ca == np.arange(ca.shape[0])).all():  # one column per asset: no copy
            return v
        return v[ca]
    return np.full((n_cols, 1), default)


def risk_params(cfg: BacktestConfig, n_cols: int, prep: Prepared) -> RiskParams:
    """Lower RiskConfig to per-column arrays; a rule that is off becomes an unreachable level.

    Fractions are (n_cols, 1) for a number and (n_cols, n_bars) for an expression."""
    r = cfg.risk
    full = lambda v: np.full(n_cols, v)  # noqa: E731

    def fraction(name):
        v = getattr(r, name)
        return per_bar(prep, name, n_cols, np.inf if v is None or isinstance(v, (pl.Expr, str, dict)) else float(v))

    sl, tp, tsl = (fraction(k) for k in RULE_EXPRS[:3])
    slp, tpp = (per_bar(prep, k, n_cols, np.nan) for k in RULE_EXPRS[3:])
    max_bars = full(NEVER if r.max_bars is None else int(r.max_bars))
    session = r.session_exit is not None
    steps = np.full((n_cols, 2 * SCALE_OUT_STEPS), np.nan)  # gains, then fractions; NaN: no step
    if r.scale_out is not None:
        k = len(r.scale_out)
        steps[:, :k] = [g for g, _ in r.scale_out]
        steps[:, SCALE_OUT_STEPS : SCALE_OUT_STEPS + k] = [f for _, f in r.scale_out]
    rules_on = (np.isfinite(sl).any(axis=1) | np.isfinite(tp).any(axis=1) | np.isfinite(tsl).any(axis=1)
                | ~np.isnan(slp).all(axis=1) | ~np.isnan(tpp).all(axis=1) | (max_bars < NEVER)
                | session | (r.scale_out is not None))  # fmt: skip
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
        # fill_order="ml4t" at the open: entries fill after the position rules, so a new position is
        # not checked against its entry bar; said here, it holds in both drivers (the one-column
        # driver has no bar cycle to reorder)
        stop_on_entry_bar=full(bool(r.stop_on_entry_bar) and not ml4t_cycle(cfg)),
        stop_slippage=exit_slippage(cfg, n_cols, prep) if r.stop_slippage is None else full(float(r.stop_slippage)),
        reenter_on_stop_bar=full(bool(r.reenter_on_stop_bar)),
        session_exit=full(session),
        rules_on=rules_on,
        scale_out=steps,
    )


def day_numbers(prep: Prepared) -> np.ndarray:
    """The calendar day number of each bar of the time axis (``daily_loss_limit``)."""
    return prep.timestamps.dt.date().rle_id().to_numpy()


def limit_params(cfg: BacktestConfig, n_groups: int, n_cols: int, prep: Prepared) -> LimitParams:
    """Lower LimitsConfig to per-group arrays; a limit that is off is unreachable."""
    lim = cfg.limits
    full = lambda v: np.full(n_groups, v)  # noqa: E731
    off = lambda v: np.inf if v is None else float(v)  # noqa: E731
    day = day_numbers(prep) if lim.daily_loss_limit is not None or cfg.execution.tif == "day" else np.zeros(prep.n_bars)
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
        priority=per_bar(prep, "priority", n_cols, np.nan),
        priority_on=full(lim.priority is not None),
        on=full(lim.active),
        day=day,
        **financing(cfg, n_cols, n_groups, prep),
        month=months(prep),
    )


def financing(cfg: BacktestConfig, n_cols: int, n_accounts: int, prep: Prepared) -> dict:
    """The nights' financing fields of ``LimitParams`` and ``WeightParams``: ``borrow``, the
    annual borrow rate per column ((n_cols, 1) for a number or a dict by asset, 0 when off;
    (n_cols, n_bars) from an expression, NaN: no fee), ``borrow_on``, ``cash_rate`` and
    ``credit_rate`` per account (0: none), ``nights`` per bar."""
    p = cfg.portfolio
    return dict(borrow=cost_grid(cfg, "borrow_rate", n_cols, prep),
                borrow_on=np.full(n_accounts, cfg.costs.borrow_rate is not None),
                cash_rate=np.full(n_accounts, float(p.cash_rate or 0.0)),
                credit_rate=np.full(n_accounts, float(p.credit_rate or 0.0)), nights=nights(prep))  # fmt: skip


def nights(prep: Prepared) -> np.ndarray:
    """Calendar days between each bar of the time axis and the one before (a weekend counts
    three; 0 at bar 0 and between bars of one day): the nights a short pays borrow fees for.
    The same for every parameter set of a sweep (``borrow_on`` switches the fees)."""
    out = np.zeros(prep.n_bars)  # (timestamps are Date or Datetime: Prepare says so)
    out[1:] = np.diff(prep.timestamps.dt.date().cast(pl.Int32).to_numpy().astype(np.float64))
    return out


# every keyword setting of `backtest` (and of `sweep`, fixed or swept)
SETTINGS = tuple(k for keys in CONFIG_KEYS.values() for k in keys)
