"""Target-weight runs (the prepare layer): the rebalance schedule on the time axis, the lowering
of ``RebalanceConfig`` and the costs to ``WeightParams``, and one run of the target-weight
driver (``_kernels/rebalance.py``) with room for its records. Used by ``backtest(weights=...)``.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from ml4t_vec._kernels import kernel_array, kernel_tuple
from ml4t_vec._kernels.book import column_order, new_book, new_orders, new_sink, record_columns, room_nb
from ml4t_vec._kernels.codes import CASH_RULE, MISSING, ROUNDING, SHORTFALL, SIZE_AT
from ml4t_vec._kernels.launch import SimResult
from ml4t_vec._kernels.limits import NEVER
from ml4t_vec._kernels.rebalance import WeightParams, rebalance_nb
from ml4t_vec._lower import commission_table, cost, cost_grid, day_numbers, financing, months, risk_params, spread
from ml4t_vec._prepare import Prepared
from ml4t_vec.config import BacktestConfig
from ml4t_vec.errors import ConfigError
from ml4t_vec.weights import HoldAwareTopK

_TRUNCATE = {"W": "1w", "M": "1mo", "Q": "1q", "Y": "1y"}


def check(cfg: BacktestConfig, given: dict) -> None:
    """Settings that have no meaning (yet) for a target-weight portfolio are refused."""
    if not cfg.portfolio.cash_sharing:
        raise ConfigError("`weights` describe one portfolio: they need cash_sharing=True (the default).")
    if cfg.portfolio.cash_rule == "ml4t":
        _check_ml4t(cfg)
    sizing = [k for k in ("size", "size_type", "percent_of", "size_rule", "max_entries") if given.get(k) is not None]
    sizing += ["accumulate"] if given.get("accumulate") else []  # (accumulate=False is what weights do)
    if sizing:
        raise ConfigError(f"`weights` set every position's size; {sizing} do not apply. Remove them.")
    if cfg.execution.resting:
        raise ConfigError(
            f"order_type={cfg.execution.order_type!r}: resting orders are entry orders of signal mode; a "
            "rebalance's orders are market orders (`weights` with limit / stop orders is not available yet: "
            "LIMITATIONS.md). Remove it."
        )
    r, lim = cfg.risk, cfg.limits
    rules = [
        k for k in ("stop_loss_price", "take_profit_price", "session_exit", "scale_out") if getattr(r, k) is not None
    ]
    limits = [k for k in ("max_net_exposure",) if getattr(lim, k) is not None]
    limits += ["impact"] if cfg.costs.impact is not None else []
    breakers = [k for k in ("max_drawdown", "daily_loss_limit", "max_positions") if getattr(lim, k) is not None]
    if breakers and cfg.portfolio.cash_rule != "equity":
        raise ConfigError(
            f"{breakers} with `weights` need cash_rule='equity' (the default order model); the peers' order models "
            f"(cash_rule={cfg.portfolio.cash_rule!r}) have no such limits."
        )
    if rules or limits:
        raise ConfigError(
            "absolute stop / target levels, session exits, max_net_exposure and market impact are not available with "
            "`weights` yet; "
            f"got {rules + limits}. See LIMITATIONS.md."
        )
    if r.stop_anchor != "fill":
        raise ConfigError(
            "with `weights` the position rules are anchored at the position's average cost; stop_anchor="
            f"{r.stop_anchor!r} does not apply. Remove it."
        )


def _check_ml4t(cfg: BacktestConfig) -> None:
    """cash_rule='ml4t' (ml4t-backtest's broker, README "Presets"): its order sequence and cash
    check decide who fills; a cut order gets whole shares, or the order is rejected."""
    rb = cfg.rebalance
    if rb.shortfall == "scale":
        raise ConfigError(
            "cash_rule='ml4t' fills orders one by one against the cash (ml4t-backtest); shortfall='scale' does "
            "not apply. Use shortfall='priority' (a cut order gets the whole shares that still fit, as "
            "ml4t-backtest's rebalance orders) or 'reject', or preset='ml4t'."
        )
    if rb.shortfall == "priority" and cfg.sizing.fractional:
        raise ConfigError(
            "cash_rule='ml4t' with shortfall='priority' cuts an order to whole shares (ml4t-backtest cuts rebalance "
            "orders only with integer shares; with fractional shares it rejects them whole): pass fractional=False "
            "or shortfall='reject'."
        )
    if cfg.limits.priority is not None:
        raise ConfigError(
            "`priority` does not apply with cash_rule='ml4t': ml4t-backtest fills the sells, then the buys, each "
            "in asset order. Remove `priority` or use cash_rule='equity'."
        )


def schedule(cfg: BacktestConfig, prep: Prepared) -> np.ndarray:
    """The rebalance bars (bool, n_bars) from ``RebalanceConfig.rebalance`` on the time axis."""
    r = cfg.rebalance.rebalance
    ts = prep.timestamps
    n = ts.len()
    if isinstance(r, str) and r == "every_bar":
        return np.ones(n, dtype=np.bool_)
    if isinstance(r, int):
        out = np.zeros(n, dtype=np.bool_)
        out[::r] = True
        return out
    if isinstance(r, str):  # calendar periods of the data's own timeline
        if not ts.dtype.is_temporal():
            raise ConfigError(f"`rebalance={r!r}` needs Date or Datetime timestamps; got {ts.dtype}.")
        period = ts.dt.truncate(_TRUNCATE[r]).to_physical().to_numpy()
        out = np.ones(n, dtype=np.bool_)
        if cfg.rebalance.rebalance_at == "end":  # the last bar of each period
            out[:-1] = period[1:] != period[:-1]
        else:  # the first bar of each period
            out[1:] = period[1:] != period[:-1]
        return out
    if isinstance(r, pl.Expr):
        v = prep.rule_values["rebalance"]  # (n_assets, n_bars): 1 / 0 / NaN
        return np.nan_to_num(v, nan=0.0).max(axis=0) > 0.0 if v.size else np.zeros(n, dtype=np.bool_)
    want = pl.Series(list(r)).cast(ts.dtype, strict=False)
    missing = want.filter(~want.is_in(ts.implode()) | want.is_null())
    if missing.len():
        raise ConfigError(
            f"`rebalance` lists timestamps that are not in the data: {missing.head(3).to_list()}"
            f"{' ...' if missing.len() > 3 else ''} ({missing.len()} of {want.len()}). Use timestamps of the "
            "price frame."
        )
    return ts.is_in(want.implode()).to_numpy()


def weight_params(cfg: BacktestConfig, prep: Prepared, select: HoldAwareTopK | None = None) -> WeightParams:
    n_cols = prep.sig.shape[0]
    full = lambda v: np.full(n_cols, v)  # noqa: E731
    lot = cfg.rebalance.lot_size
    if isinstance(lot, dict):
        names = prep.symbols.cast(pl.String).to_list()
        unknown = sorted(str(k) for k in lot if str(k) not in names)
        if unknown:
            raise ConfigError(f"`lot_size` names assets not in the data: {unknown[:5]}.")
        lots = np.array([float(lot.get(a, 0.0) or 0.0) for a in names])[prep.col_asset]
    else:
        lots = full(0.0 if lot is None else float(lot))
    lim = cfg.limits
    lev = lim.max_gross_leverage
    rb = cfg.rebalance
    n_bars = prep.sig.shape[1]
    per_share_bar = np.empty((n_cols, 0))
    table = commission_table(cfg, n_cols, prep)
    if isinstance(cfg.costs.commission_per_share, (pl.Expr, str)):  # read per bar (``rebalance._cost_nb``)
        per_share_bar = cost_grid(cfg, "commission_per_share", n_cols, prep)
        table[:, 0] = np.nan
    return kernel_tuple(
        WeightParams,
        fees=cost_grid(cfg, "fees", n_cols, prep),
        fixed_fees=cost_grid(cfg, "fixed_fees", n_cols, prep),
        commission=table,
        slippage=cost(cfg, "slippage", n_cols, prep),
        slippage_per_share=cost(cfg, "slippage_per_share", n_cols, prep),
        **spread(cfg, n_cols, prep),
        per_share_bar=per_share_bar,
        lot=lots,
        fractional=[bool(cfg.sizing.fractional)],
        missing=[MISSING[rb.missing]],
        size_at=[SIZE_AT[rb.size_at]],
        shortfall=[SHORTFALL[rb.shortfall]],
        rounding=[ROUNDING[rb.rounding]],
        min_weight_change=[rb.min_weight_change],
        min_trade_value=[rb.min_trade_value],
        leverage=[1.0 if lev is None else float(lev)],
        drift_band=[0.0 if rb.drift_band is None else float(rb.drift_band)],
        cash_rule=[CASH_RULE[cfg.portfolio.cash_rule]],
        select=[0, 0, 0] if select is None else [select.k, select.short_k, select.buffer],
        max_weight=[np.inf if lim.max_position_weight is None else float(lim.max_position_weight)],
        max_drawdown=[np.inf if lim.max_drawdown is None else float(lim.max_drawdown)],
        liquidate=[lim.drawdown_action == "liquidate"],
        cooldown=[NEVER if lim.drawdown_cooldown is None else int(lim.drawdown_cooldown)],
        daily_loss=[np.inf if lim.daily_loss_limit is None else float(lim.daily_loss_limit)],
        day=day_numbers(prep) if lim.daily_loss_limit is not None else np.zeros(n_bars),
        max_positions=[NEVER if lim.max_positions is None else int(lim.max_positions)],
        **financing(cfg, n_cols, 1, prep),
        month=months(prep),
    )


def _room(w: np.ndarray, rebal: np.ndarray, hold: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per column, about how many orders the run makes (rebalance bars whose weight, or the
    previous rebalance's, is nonzero: a held position is resized at every rebalance) and how
    many of them reverse the position (the weight's sign flips: two fills). One pass over the
    weights (``room_nb``)."""
    orders, flips = np.empty(w.shape[0], dtype=np.int64), np.empty(w.shape[0], dtype=np.int64)
    room_nb(kernel_array(w, np.float64), kernel_array(rebal, np.bool_), hold, orders, flips)
    return orders, flips


def variant(cfg: BacktestConfig, prep: Prepared) -> tuple:
    """``rebalance_nb``'s last two arguments: the position rules (``RiskParams``; None without
    any) and the peers' order model (None under the default cash rule, else an int). A None
    compiles a smaller kernel (the code it would run is pruned)."""
    rp = risk_params(cfg, prep.sig.shape[0], prep)
    peer = None if cfg.portfolio.cash_rule == "equity" else np.int64(CASH_RULE[cfg.portfolio.cash_rule])
    return (rp if rp.rules_on.any() else None), peer


def _per_column(x: np.ndarray, col_asset: np.ndarray) -> np.ndarray:
    """Rows of an (n_assets, n_bars) grid in column order: the grid itself (no copy) when the
    columns are the assets in order, as in every target-weight run."""
    if col_asset.shape[0] == x.shape[0] and np.array_equal(col_asset, np.arange(x.shape[0])):
        return x
    return x[col_asset]


def _selectable(rank: np.ndarray, select: HoldAwareTopK) -> np.ndarray:
    """For ``_room``: +1 / -1 where a hold-aware top_k might hold a long / short (within k +
    buffer of either end), 0 elsewhere, NaN where there is no score."""
    n = (~np.isnan(rank)).sum(axis=0)
    w = np.where(rank < select.k + select.buffer, 1.0, 0.0)
    if select.short_k > 0:
        w = np.where(rank >= n - select.short_k - select.buffer, -1.0, w)
    return np.where(np.isnan(rank), np.nan, w)


def simulate_weights(prep: Prepared, cfg: BacktestConfig, timing: int, rebal: np.ndarray,
                     per_column_series: bool = False, select: HoldAwareTopK | None = None,
                     weights: np.ndarray | None = None, compact: bool = True,
                     kernel_variant: tuple | None = None) -> SimResult:  # fmt: skip
    """One run of the target-weight driver; records sized by ``_room`` (an order writes at most
    one trade row and one rejected row, a reversal two fills) and, if a column made more (a
    reversal against an older target, no_next_bar rows), run again with the exact room. With a
    hold-aware ``select``, the weights are ranks and the kernel chooses the names. ``weights``
    (n_assets, n_bars): a sweep's set's, instead of the prepared ones; ``compact=False`` keeps
    the raw record buffers (``SimResult.segments``, for the sweep's reductions);
    ``kernel_variant``: ``variant(cfg, prep)`` if the caller has it already."""
    n_cols, n_bars = prep.sig.shape
    w = prep.rule_values["weights"] if weights is None else weights
    w = kernel_array(_per_column(w, prep.col_asset), np.float64)
    prio = prep.rule_values.get("priority")
    prio = kernel_array(_per_column(prio, prep.col_asset) if prio is not None else np.empty((0, 0)), np.float64)
    wp = weight_params(cfg, prep, select)
    rp, peer = variant(cfg, prep) if kernel_variant is None else kernel_variant
    rebal = kernel_array(rebal, np.bool_)
    orders_est, flips_est = _room(w if select is None else _selectable(w, select), rebal,
                                  cfg.rebalance.missing == "hold")  # fmt: skip
    n_orders = int(orders_est.sum())
    room = (n_orders + int(flips_est.sum()), n_orders, n_orders)
    px = prep.prices
    for _ in range(2):
        sink = new_sink(room, n_cols)
        acc = np.zeros((3, n_bars))
        value_out = np.zeros((n_cols, n_bars) if per_column_series else (0, 0))
        init = float(cfg.portfolio.init_cash)
        rebalance_nb(kernel_array(prep.col_asset, np.int64), px.open, px.high, px.low, px.close, px.fill, px.off,
                     np.int64(px.step[0]), prep.sig, w, prio, rebal, np.int64(timing), init, wp, new_book(n_cols),
                     new_orders(n_cols), sink, acc, value_out, rp, peer)  # fmt: skip
        written = tuple(int(n) for n in sink.n)
        if all(n <= r for n, r in zip(written, room, strict=True)):
            break
        room = written
    else:  # pragma: no cover - a deterministic kernel cannot overflow exact counts
        raise RuntimeError("record buffers overflowed twice")
    rejected = sink.rejected[: written[2]]  # in time order (their frame is sorted by time); a sweep reads none
    if compact:  # fills and trade rows grouped by column (the records' layout everywhere else) as columns
        rejected = record_columns(rejected)
        per_col = sink.per_col
        out = [sink.fills, sink.trades]
        sink = None
        for k in range(2):  # one kind at a time, its buffer dropped before the next (peak memory)
            out[k] = record_columns(out[k], per_col[k])
        return SimResult(*out, rejected, acc[0], acc[1], acc[2], None, value_out if per_column_series else None,
                         None, None)  # fmt: skip
    # a sweep's reductions read each column's records as one segment of a grouped buffer
    raw, per_col = list(sink[:2]), sink.per_col
    sink = None
    out, segments = [], []
    for k in range(2):
        rec, off = column_order(raw[k], per_col[k])
        raw[k] = None
        out.append(rec)
        segments += [off, per_col[k]]
    return SimResult(*out, rejected, acc[0], acc[1], acc[2], None, None, None, tuple(segments))
