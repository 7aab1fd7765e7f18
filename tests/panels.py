"""Random panels for property tests: one draw feeds both ml4t_vec (a long Polars frame) and the
reference engine (tests/reference), plus the comparison helpers."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from types import SimpleNamespace

import numpy as np
import polars as pl
from hypothesis import strategies as st
from reference.engine import Bar, Config, Panel
from reference.orders import COSTS, PerBar

T0 = dt.datetime(2021, 1, 30)  # the bars cross a month end from bar 6 on (commission tiers restart)
# a Tiered commission whose bounds the draws' orders reach (shares this month, rate)
TIERS = ((60.0, 0.03), (600.0, 0.012), (math.inf, 0.004))
STEP = dt.timedelta(hours=8)  # three bars a day (00:00, 08:00, 16:00): days and sessions matter


def same_metric(a, b) -> bool:
    """Two metric values agree: both None, both NaN, equal infinities, or within 1e-9."""
    if a is None or b is None:
        return a is None and b is None
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def flat_prices(closes: dict, start: dt.date = dt.date(2024, 1, 1)) -> pl.DataFrame:
    """Flat daily bars (open = high = low = close) from {asset: closes}; None = no row for that
    asset on that bar."""
    rows = [dict(timestamp=start + dt.timedelta(days=t), asset=a, open=c, high=c, low=c, close=c)
            for a, cs in closes.items() for t, c in enumerate(cs) if c is not None]  # fmt: skip
    return pl.DataFrame(rows)


def ts_of(i: int) -> dt.datetime:
    return T0 + i * STEP


@st.composite
def panels(draw, max_assets: int = 4, max_bars: int = 24, shorts: bool | None = None, gaps: bool | None = None):
    """(Panel, Polars frame). Prices are random walks with consistent OHLC; assets may start late,
    stop early and skip bars; signal columns hold random True/False/null. Market impact's inputs
    per bar: ``sigma`` in [0.005, 0.05] and ``adv`` in [20, 5000] shares, each null one time in
    ten (drawn from a stream of their own: the other columns are those of the same seed without
    them; no NaN, which ml4t_vec reads as null with a DataWarning). Resting entry orders' absolute
    levels per bar: ``lmt`` and ``stp`` in close x [0.97, 1.03], each null one time in ten (a
    third stream)."""
    n_assets = draw(st.integers(1, max_assets))
    n_bars = draw(st.integers(1, max_bars))
    p_gap = draw(st.sampled_from([0.0, 0.0, 0.15, 0.4])) if gaps is None else (0.25 if gaps else 0.0)
    p_sig = draw(st.sampled_from([0.1, 0.3, 0.6]))
    with_shorts = draw(st.booleans()) if shorts is None else shorts
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    rng_impact = np.random.default_rng([seed, 1])
    rng_level = np.random.default_rng([seed, 2])
    assets = [f"S{i}" for i in range(n_assets)]
    bars: dict = {}
    rows = []
    for a in assets:
        present = rng.random(n_bars) >= p_gap
        present[rng.integers(n_bars)] = True
        close = rng.uniform(20, 200) * np.exp(np.cumsum(rng.normal(0, 0.05, n_bars)))
        open_ = close * np.exp(rng.normal(0, 0.02, n_bars))
        high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.02, n_bars)))
        low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.02, n_bars)))
        vwap = low + (high - low) * rng.random(n_bars)
        rulev = rng.uniform(0.01, 0.08, n_bars)
        rulev_null = rng.random(n_bars) < 0.1
        slp = close * (1 - rng.uniform(0.01, 0.06, n_bars) * rng.choice([1, 1, 1, -1], n_bars))
        tpp = close * (1 + rng.uniform(0.01, 0.1, n_bars) * rng.choice([1, 1, 1, -1], n_bars))
        level_null = rng.random((2, n_bars)) < 0.15
        prio = rng.choice([0.0, 1.0, 2.0, 3.0, np.nan], n_bars)  # ties and nulls on purpose
        szm = np.where(rng.random(n_bars) < 0.08, np.nan, rng.uniform(0.2, 1.5, n_bars))  # size multipliers
        sig = rng.random((4, n_bars)) < p_sig
        null = rng.random((4, n_bars)) < 0.05
        sigma = rng_impact.uniform(0.005, 0.05, n_bars)
        adv = rng_impact.uniform(20.0, 5000.0, n_bars)
        impact_null = rng_impact.random((2, n_bars)) < 0.1
        lmt, stp = close * rng_level.uniform(0.97, 1.03, (2, n_bars))
        order_null = rng_level.random((2, n_bars)) < 0.1
        if not with_shorts:
            sig[2:] = False
        bars[a] = {}
        for i in range(n_bars):
            if not present[i]:
                continue
            val = [bool(sig[k, i]) and not null[k, i] for k in range(4)]
            rv = None if rulev_null[i] else float(rulev[i])
            sp = None if level_null[0, i] else float(slp[i])
            tp = None if level_null[1, i] else float(tpp[i])
            pr = None if np.isnan(prio[i]) else float(prio[i])
            sz = None if np.isnan(szm[i]) else float(szm[i])
            sg = None if impact_null[0, i] else float(sigma[i])
            av = None if impact_null[1, i] else float(adv[i])
            lm = None if order_null[0, i] else float(lmt[i])
            sx = None if order_null[1, i] else float(stp[i])
            ohlc = (open_[i], high[i], low[i], close[i])
            bars[a][i] = Bar(*ohlc, *val, price=vwap[i], rulev=rv, slp=sp, tpp=tp, prio=pr, szm=sz, sigma=sg, adv=av,
                             lmt=lm, stp=sx)  # fmt: skip
            rows.append(
                dict(
                    timestamp=ts_of(i),
                    asset=a,
                    open=open_[i],
                    high=high[i],
                    low=low[i],
                    close=close[i],
                    vwap=vwap[i],
                    rulev=rv,
                    slp=sp,
                    tpp=tp,
                    prio=pr,
                    szm=sz,
                    sigma=sg,
                    adv=av,
                    lmt=lm,
                    stp=sx,
                    **{f"s{k}": (None if null[k, i] else bool(sig[k, i])) for k in range(4)},
                )
            )
    times = sorted({i for a in assets for i in bars[a]})
    schema = {
        "timestamp": pl.Datetime("us"),
        "asset": pl.String,
        "open": pl.Float64,
        "high": pl.Float64,
        "low": pl.Float64,
        "close": pl.Float64,
        "vwap": pl.Float64,
        "rulev": pl.Float64,
        "slp": pl.Float64,
        "tpp": pl.Float64,
        "prio": pl.Float64,
        "szm": pl.Float64,
        "sigma": pl.Float64,
        "adv": pl.Float64,
        "lmt": pl.Float64,
        "stp": pl.Float64,
        **{f"s{k}": pl.Boolean for k in range(4)},
    }
    df = pl.DataFrame(rows, schema=schema)
    # shuffle the rows: the engine must sort them itself
    df = df.sample(fraction=1.0, shuffle=True, seed=seed % 1000)
    day = {i: ts_of(i).date() for i in times}
    time_of_day = {i: ts_of(i).time() for i in times}
    return Panel(times, assets, bars, day, time_of_day), df


@st.composite
def configs(
    draw,
    cash_sharing: bool | None = None,
    fill: str | None = None,
    limits: bool | None = None,
    size_by_bar: bool | None = None,
    accumulate: bool | None = None,
    scale_out: bool | None = None,
    asset_costs: bool | None = False,
    borrow: bool | None = None,
    impact: bool | None = None,
    resting: bool | None = None,
):
    """A reference ``Config``. ``asset_costs`` (None: drawn): each cost may be a tuple, one value
    per asset in turn (``by_asset`` turns it into the dict by asset both engines take).
    ``borrow`` (None: drawn): a borrow rate on shorts, a number, one per asset or per bar ("rulev").
    The bid-ask spread (``draw_spread``): none half the time. ``impact`` (None: drawn half the
    time): market impact (k, exponent), k in {0.1, 0.5, 2}, exponent in {0.5, 1, 0.3}; never with
    cash_rule="vectorbt", reversal="one_order" or size_rule="backtesting" (a ConfigError): drawn,
    it is off with them; True steers clear of them (vectorbt's rule is then "equity", backtesting.py's
    sizing "fees_included", reversals two orders). ``resting`` (None: market orders, as before it
    existed): resting entry orders (``resting_orders``) with the default order model they are
    offered with: no accumulate, impact or vectorbt cash rule ("equity"), exits first,
    fees-included sizing, two-order reversals."""
    if resting:
        accumulate, impact = False, False
    size_type = draw(st.sampled_from(["shares", "value", "percent", "notional"]))
    if size_type == "shares":
        size = draw(st.sampled_from([1.0, 7.0, 33.5, 400.0]))
    elif size_type in ("value", "notional"):
        size = draw(st.sampled_from([500.0, 4000.0, 25000.0, math.inf]))
    else:
        size = draw(st.sampled_from([0.1, 0.35, 0.5, 1.0]))
    cash_sharing = draw(st.booleans()) if cash_sharing is None else cash_sharing
    with_limits = cash_sharing and (draw(st.booleans()) if limits is None else limits)
    fill_order = draw(st.sampled_from(["exits_first", "exits_first", "asset", "ml4t"]))
    cash_rule = draw(st.sampled_from(["equity", "equity", "ml4t", "vectorbt"]))
    fractional = draw(st.booleans())
    percent_of = draw(st.sampled_from(["equity", "cash"]))
    size_rule = draw(st.sampled_from(["fees_included", "fees_included", "backtesting"]))
    if resting:  # resting entry orders: the default order model only (a ConfigError otherwise)
        fill_order, size_rule = "exits_first", "fees_included"
        cash_rule = "equity" if cash_rule == "vectorbt" else cash_rule
    if impact:  # market impact is not offered with vectorbt's cash rule or backtesting.py's sizing
        cash_rule = "equity" if cash_rule == "vectorbt" else cash_rule
        size_rule = "fees_included"
    if size_rule == "backtesting":  # whole units of a fraction in (0, 1), or a whole number of shares
        fractional = False
        size_type = "percent" if size_type in ("value", "notional") else size_type
        size = min(size, 0.9999999) if size_type == "percent" else float(int(size))
        percent_of = "equity"  # its own rule: a fraction of the buying power
        cash_rule = "equity" if cash_rule == "vectorbt" else cash_rule  # vectorbt's order model is apart
    # a size per bar (a column times the drawn size; its nulls request nothing)
    if size_by_bar:  # always: a finite size, not backtesting.py's sizing (which takes one number)
        size = 5000.0 if math.isinf(size) else size
        size_rule, fractional = "fees_included", draw(st.booleans())
    by_bar = draw(st.sampled_from([False, False, True])) if size_by_bar is None else size_by_bar
    size_by_bar = size_rule != "backtesting" and math.isfinite(size) and by_bar
    slippage_on = draw(st.sampled_from(["all", "all", "entries"]))
    reversal = draw(st.sampled_from(["two_orders", "one_order"]))
    if (cash_rule == "ml4t" or size_rule == "backtesting" or slippage_on == "entries" or fill_order == "ml4t" or impact
            or resting):  # fmt: skip
        reversal = "two_orders"  # one order at one price is vectorbt's (ConfigError with these)
    accumulate = draw(st.sampled_from([False, False, True])) if accumulate is None else accumulate
    max_entries = draw(st.sampled_from([None, 2, 3])) if accumulate else None
    limits = draw(portfolio_limits(fill_order)) if with_limits else {}
    if cash_rule != "equity":  # no borrowing under the cash rules (ConfigError)
        limits["max_gross_leverage"] = None
    if scale_out and cash_rule == "vectorbt":
        cash_rule = "equity"
    rules = draw(risk_rules())
    if scale_out and rules["scale_out"] is None:
        rules["scale_out"] = [(0.01, 0.3), (0.03, 0.5), (0.06, 1.0)]
    if cash_rule == "vectorbt":  # a scale-out step is not cut by cash (ConfigError)
        rules["scale_out"] = None
    per_asset = draw(st.booleans()) if asset_costs is None else asset_costs

    def cost(values):  # one value, or (per_asset) one per asset in turn
        one = st.sampled_from(values)
        return st.tuples(one, one, one) if per_asset else one

    cash_rate, credit_rate = draw(st.sampled_from([(None, None), (None, None), (0.5, None), (None, 0.1), (3.0, 0.4)]))
    # the commission: a flat rate, or a schedule with a minimum and a cap per order, or tiers (not
    # with backtesting.py's sizing, which takes its flat commission only)
    schedule = "flat" if size_rule == "backtesting" else draw(st.sampled_from(["flat", "flat", "per_share", "tiered"]))
    commission = dict(commission_per_share=draw(cost([0.0, 0.0, 0.01])))
    if schedule == "per_share":
        commission = dict(commission_per_share=draw(cost([0.0, 0.005, 0.02])),
                          commission_min=draw(cost([0.0, 1.0, 6.0])),
                          commission_max=draw(cost([math.inf, 0.01, 0.001])))  # fmt: skip
    elif schedule == "tiered":
        commission = dict(commission_tiers=TIERS, commission_min=draw(st.sampled_from([0.0, 1.0])),
                          commission_max=draw(st.sampled_from([math.inf, 0.005])))  # fmt: skip
    with_borrow = draw(st.booleans()) if borrow is None else borrow
    borrow_rate = draw(st.sampled_from([0.05, 2.0, "rulev"])) if with_borrow else None
    if with_borrow and per_asset and borrow_rate != "rulev":
        borrow_rate = draw(cost([0.0, 0.3, 5.0]))
    # the bid-ask spread (the signal panels' prices stay above about 10, their rulev is in [0.01, 0.08])
    spread_number = lambda values: draw(cost([0.0, *values] if per_asset else list(values)))  # noqa: E731
    spread, spread_price = draw_spread(draw, spread_number, (0.001, 0.02), (0.5, 2.0), (0.01, 0.2), (1.0, 5.0))
    fees = dict(fees=draw(cost([0.0, 0.001, 0.01])), fixed_fees=draw(cost([0.0, 0.0, 2.5])))
    # fees read per bar (rulev x a scale: 0.0005-0.01 of the notional, 0.2-3.2 a fill, 0.001-0.04 a share);
    # not with backtesting.py's sizing, a per-bar commission only without a schedule
    if size_rule != "backtesting":
        fees.update(draw_bar_fees(draw, (0.05, 0.12), (20.0, 40.0), (0.1, 0.5), commission=schedule == "flat"))
    if isinstance(fees.get("commission_per_share"), PerBar):
        commission = dict(commission, commission_per_share=fees.pop("commission_per_share"))
    # market impact: a coefficient k and an exponent (read with the panels' sigma and adv)
    with_impact = draw(st.booleans()) if impact is None else impact
    impact_ke = (draw(st.sampled_from([0.1, 0.5, 2.0])), draw(st.sampled_from([0.5, 1.0, 0.3])))
    if not with_impact or cash_rule == "vectorbt" or reversal == "one_order" or size_rule == "backtesting":
        impact_ke = None
    return Config(
        size=size,
        size_type=size_type,
        percent_of=percent_of,
        fractional=fractional,
        size_rule=size_rule,
        size_by_bar=size_by_bar,
        accumulate=accumulate,
        max_entries=max_entries,
        slippage_on=slippage_on,
        **fees,
        **commission,
        slippage_per_share=draw(cost([0.0, 0.0, 0.05])),
        signal_rules=draw(st.sampled_from(["reverse", "reverse", "flat_only"])),
        fill_order=fill_order,
        reversal=reversal,
        cash_rule=cash_rule,
        slippage=draw(cost([0.0, 0.0005, 0.01])),
        borrow_rate=borrow_rate,
        spread=spread,
        spread_price=spread_price,
        impact=impact_ke,
        cash_rate=cash_rate,
        credit_rate=credit_rate,
        init_cash=draw(st.sampled_from([1_000.0, 10_000.0, 100_000.0])),
        cash_sharing=cash_sharing,
        fill=draw(st.sampled_from(["next_open", "next_close", "same_close"])) if fill is None else fill,
        custom_price=draw(st.sampled_from([False, False, True])),
        **rules,
        **limits,
        **(draw(resting_orders()) if resting else {}),
    )


@st.composite
def resting_orders(draw) -> dict:
    """Resting entry orders' settings: a limit, stop or stop-limit type, each level an offset from
    the signal bar's close or (half the time) the bar's absolute ``lmt`` / ``stp``, a time in force
    and every option drawn."""
    order_type = draw(st.sampled_from(["limit", "stop", "stop_limit"]))
    out = dict(order_type=order_type, tif=draw(st.sampled_from([None, 1, 2, 5, "day"])),
               on_new_signal=draw(st.sampled_from(["replace", "keep"])),
               on_signal_off=draw(st.sampled_from(["keep", "cancel"])),
               limit_touch=draw(st.sampled_from(["touch", "through"])))  # fmt: skip
    for level, used in (("limit", order_type != "stop"), ("stop", order_type != "limit")):
        if used and draw(st.booleans()):
            out[f"{level}_levels"] = True
        elif used:
            out[f"{level}_offset"] = draw(st.sampled_from([0.0, 0.005, 0.02]))
    return out


def draw_spread(draw, number, fractions: tuple, fraction_scales: tuple, prices: tuple, price_scales: tuple):
    """(spread, spread_price) for a reference config: no spread half the time (0.0, False); else
    in price units (spread_price=True) a third of the time, and ``number(values)`` two times in
    three (the caller's draw of one of ``values``, or of one per asset with 0 among the choices),
    or a ``PerBar`` (the fill bar's rulev x a scale) one time in three; from ``fractions`` /
    ``fraction_scales``, or ``prices`` / ``price_scales`` in price units."""
    kind = draw(st.sampled_from(["none", "none", "none", "number", "number", "per_bar"]))
    if kind == "none":
        return 0.0, False
    price = draw(st.sampled_from([False, False, True]))
    values, scales = (prices, price_scales) if price else (fractions, fraction_scales)
    if kind == "per_bar":
        return PerBar(draw(st.sampled_from(scales))), price
    return number(values), price


def draw_bar_fees(draw, fees: tuple, fixed_fees: tuple, per_share: tuple, commission: bool = True) -> dict:
    """Fees read per bar: each of ``fees``, ``fixed_fees`` and (``commission``) ``commission_per_share``
    one time in six a ``PerBar`` (the fill bar's rulev x one of the given scales); the others are
    left out (the caller's own draws)."""
    out = {}
    for name, scales in (("fees", fees), ("fixed_fees", fixed_fees), ("commission_per_share", per_share)):
        if name == "commission_per_share" and not commission:
            continue
        if draw(st.sampled_from([False, False, False, False, False, True])):
            out[name] = PerBar(draw(st.sampled_from(scales)))
    return out


def per_bar(value):
    """A reference cost as a ``backtest`` keyword's value: a ``PerBar`` is its column times its scale."""
    return pl.col("rulev") * value.scale if isinstance(value, PerBar) else value


def spread_kwargs(spread, price: bool) -> dict:
    """A reference spread as a ``backtest`` keyword: ``spread=`` (a fraction of the price) or
    ``spread_price=`` (price units), a number, a dict by asset or ``PerBar``'s column times its
    scale; no keyword for no spread."""
    if isinstance(spread, PerBar):
        value = pl.col("rulev") * spread.scale
    elif isinstance(spread, dict):
        value = spread if any(spread.values()) else None
    else:
        value = spread or None
    if value is None:
        return {}
    return {"spread_price" if price else "spread": value}


def by_asset(cfg, assets: list):
    """``cfg`` with every tuple-valued cost (``configs(asset_costs=...)``) as a dict by asset:
    asset i takes the tuple's value i mod its length."""
    per = {k: {a: v[i % len(v)] for i, a in enumerate(assets)} for k in COSTS
           if isinstance(v := getattr(cfg, k), tuple)}  # fmt: skip
    return dataclasses.replace(cfg, **per) if per else cfg


@st.composite
def portfolio_limits(draw, fill_order: str = "exits_first"):
    """Portfolio limits (shared cash): each on about half the time."""
    maybe = lambda values: draw(st.sampled_from([None, *values]))  # noqa: E731
    return dict(
        max_positions=maybe([1, 2, 3]),
        max_position_weight=maybe([0.2, 0.5]),
        max_gross_leverage=maybe([0.5, 1.0, 2.0]),
        max_net_exposure=maybe([0.0, 0.3, 1.0]),
        max_drawdown=maybe([0.02, 0.05, 0.1]),
        drawdown_action=draw(st.sampled_from(["halt", "liquidate"])),
        drawdown_cooldown=maybe([2, 5]),
        daily_loss_limit=maybe([0.005, 0.02]),
        priority=False if fill_order == "asset" else draw(st.booleans()),
    )


@st.composite
def risk_rules(draw):
    """Position rules: each on about half the time, with every option drawn."""
    maybe = lambda values: draw(st.sampled_from([None, *values]))  # noqa: E731
    return dict(
        stop_loss=maybe([0.02, 0.05, 0.1, "rulev", {"S0": 0.03}]),
        take_profit=maybe([0.03, 0.08, 0.2, "rulev"]),
        trailing_stop=maybe([0.02, 0.05, "rulev", {"S0": 0.04}]),
        trailing_activation=draw(st.sampled_from([0.0, 0.0, 0.02])),
        trailing_source=draw(st.sampled_from(["close", "extreme"])),
        max_bars=maybe([1, 2, 5]),
        stop_anchor=draw(st.sampled_from(["fill", "signal_close"])),
        intrabar=draw(st.sampled_from(["pessimistic", "optimistic", "ohlc_path", "stop_first", "rule_chain"])),
        trailing_start=draw(st.sampled_from(["anchor", "first_bar"])),
        stop_on_entry_bar=draw(st.booleans()),
        stop_slippage=maybe([0.0, 0.002]),
        reenter_on_stop_bar=draw(st.booleans()),
        price_levels=draw(st.booleans()),
        session_exit=draw(st.sampled_from([None, None, dt.time(8), dt.time(12), dt.time(16)])),
        scale_out=maybe([[(0.01, 0.5)], [(0.01, 0.3), (0.03, 0.5), (0.06, 1.0)], [(0.02, 0.25), (0.05, 0.25)]]),
    )


def commission_kwargs(cfg) -> dict:
    """The reference's commission settings as ``backtest`` keywords: ``commission_per_share``
    for a flat rate, else ``commission=`` a ``vec.PerShare`` (a dict of them by asset) or a
    ``vec.Tiered``."""
    import ml4t_vec as vec

    rate, lo, cap = cfg.commission_per_share, cfg.commission_min, cfg.commission_max
    if cfg.commission_tiers:
        return dict(commission=vec.Tiered(cfg.commission_tiers, min=lo, max_pct=None if math.isinf(cap) else cap))
    if not any(isinstance(v, dict) for v in (lo, cap)) and lo == 0 and math.isinf(cap):
        return dict(commission_per_share=per_bar(rate))

    def one(r, m, k):
        return vec.PerShare(r, min=m, max_pct=None if math.isinf(k) else k)

    if isinstance(rate, dict) or isinstance(lo, dict) or isinstance(cap, dict):
        assets = next(v for v in (rate, lo, cap) if isinstance(v, dict))
        pick = lambda v, a: v[a] if isinstance(v, dict) else v  # noqa: E731
        return dict(commission={a: one(pick(rate, a), pick(lo, a), pick(cap, a)) for a in assets})
    return dict(commission=one(rate, lo, cap))


def impact_kwargs(impact) -> dict:
    """A reference market impact (k, exponent) as the ``impact=`` keyword: a
    ``vec.SquareRootImpact`` reading the panels' ``sigma`` and ``adv`` columns; no keyword for
    None."""
    if impact is None:
        return {}
    import ml4t_vec as vec

    k, e = impact
    return dict(impact=vec.SquareRootImpact(k=k, exponent=e, sigma=pl.col("sigma"), adv=pl.col("adv")))


def vec_kwargs(cfg: Config) -> dict:
    return dict(
        entries="s0",
        exits="s1",
        short_entries="s2",
        short_exits="s3",
        size=pl.col("szm") * cfg.size if cfg.size_by_bar else cfg.size,
        size_type=cfg.size_type,
        percent_of=cfg.percent_of,
        fractional=cfg.fractional,
        size_rule=cfg.size_rule,
        accumulate=cfg.accumulate or None,
        max_entries=cfg.max_entries,
        slippage_on=cfg.slippage_on,
        fees=per_bar(cfg.fees),
        fixed_fees=per_bar(cfg.fixed_fees),
        **commission_kwargs(cfg),
        slippage_per_share=cfg.slippage_per_share,
        **spread_kwargs(cfg.spread, cfg.spread_price),
        **impact_kwargs(cfg.impact),
        borrow_rate=cfg.borrow_rate,  # "rulev": the column, read per bar
        cash_rate=cfg.cash_rate,
        credit_rate=cfg.credit_rate,
        signal_rules=cfg.signal_rules,
        fill_order=cfg.fill_order,
        reversal=cfg.reversal,
        cash_rule=cfg.cash_rule,
        trailing_start=cfg.trailing_start,
        slippage=cfg.slippage,
        init_cash=cfg.init_cash,
        cash_sharing=cfg.cash_sharing,
        fill=cfg.fill,
        price="vwap" if cfg.custom_price else None,
        stop_loss=cfg.stop_loss,
        take_profit=cfg.take_profit,
        trailing_stop=cfg.trailing_stop,
        trailing_activation=cfg.trailing_activation,
        trailing_source=cfg.trailing_source,
        max_bars=cfg.max_bars,
        stop_anchor=cfg.stop_anchor,
        intrabar=cfg.intrabar,
        stop_on_entry_bar=cfg.stop_on_entry_bar,
        stop_slippage=cfg.stop_slippage,
        reenter_on_stop_bar=cfg.reenter_on_stop_bar,
        stop_loss_price="slp" if cfg.price_levels else None,
        take_profit_price="tpp" if cfg.price_levels else None,
        session_exit=cfg.session_exit,
        scale_out=cfg.scale_out,
        max_positions=cfg.max_positions,
        max_position_weight=cfg.max_position_weight,
        max_gross_leverage=cfg.max_gross_leverage,
        max_net_exposure=cfg.max_net_exposure,
        max_drawdown=cfg.max_drawdown,
        drawdown_action=cfg.drawdown_action if cfg.cash_sharing else None,
        drawdown_cooldown=cfg.drawdown_cooldown,
        daily_loss_limit=cfg.daily_loss_limit,
        priority="prio" if cfg.priority else None,
        **resting_kwargs(cfg),
    )


def resting_kwargs(cfg: Config) -> dict:
    """A reference config's resting entry orders as ``backtest`` keywords (none for market orders)."""
    if cfg.order_type == "market":
        return {}
    return dict(order_type=cfg.order_type, limit_offset=cfg.limit_offset, stop_offset=cfg.stop_offset,
                limit_price="lmt" if cfg.limit_levels else None, stop_price="stp" if cfg.stop_levels else None,
                tif=cfg.tif, on_new_signal=cfg.on_new_signal, on_signal_off=cfg.on_signal_off,
                limit_touch=cfg.limit_touch)  # fmt: skip


def _close(a, b, rel=1e-9, abs_=1e-7) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) and (math.isnan(a) or math.isinf(a)):
        return (math.isnan(a) and math.isnan(b)) or a == b
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


def assert_rows_match(got: pl.DataFrame, want: list[dict], keys: list[str], what: str) -> None:
    """Every reference row has an equal row in ``got`` (same order after sorting by keys)."""
    assert got.height == len(want), f"{what}: {got.height} rows, reference has {len(want)}\n{got}\n{want}"
    if not want:
        return
    ref = pl.DataFrame(want, infer_schema_length=None)
    if "timestamp" in ref.columns or "entry_time" in ref.columns:
        for c in ("timestamp", "entry_time", "exit_time"):
            if c in ref.columns:
                ref = ref.with_columns(
                    (pl.lit(T0, dtype=pl.Datetime("us")) + pl.col(c).cast(pl.Int64) * pl.lit(STEP)).alias(c)
                )
    g = got.with_columns(pl.col(pl.Enum).cast(pl.String)).sort(keys, maintain_order=True)
    r = ref.sort(keys, maintain_order=True)
    for col in ref.columns:
        for i, (x, y) in enumerate(zip(g.get_column(col).to_list(), r.get_column(col).to_list(), strict=True)):
            ok = _close(x, y) if isinstance(y, float) or isinstance(x, float) else x == y
            assert ok, f"{what}: column {col!r} row {i}: ml4t_vec {x!r} != reference {y!r}\n{g.row(i)}\n{r.row(i)}"


@st.composite
def weight_cases(draw, gaps: bool = True, costs: bool = True, rules: bool = True, limits: bool | None = None):
    """(panel, weights, rebalance, config kwargs) for the target-weight reference
    (tests/reference/portfolio.py) on a random small panel: timestamps are bar numbers, weights
    hold None, NaN, 0 and missing keys."""
    n_assets = draw(st.integers(1, 4))
    n_bars = draw(st.integers(2, 10))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    p_gap = draw(st.sampled_from([0.0, 0.2, 0.4])) if gaps else 0.0
    assets = [f"S{i}" for i in range(n_assets)]
    bars, weights = {}, {}
    for a in assets:
        present = rng.random(n_bars) >= p_gap
        present[rng.integers(n_bars)] = True
        close = rng.uniform(5, 300) * np.exp(np.cumsum(rng.normal(0, 0.06, n_bars)))
        open_ = close * np.exp(rng.normal(0, 0.03, n_bars))
        high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.02, n_bars)))
        low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.02, n_bars)))
        px = low + (high - low) * rng.random(n_bars)  # a custom fill price within the bar (price=)
        rate = np.where(rng.random(n_bars) < 0.15, np.nan, rng.uniform(0.0, 4.0, n_bars))  # a borrow rate per bar
        bars[a] = {t: Bar(open_[t], high[t], low[t], close[t], price=px[t], rulev=None if np.isnan(rate[t]) else
                          float(rate[t])) for t in range(n_bars) if present[t]}  # fmt: skip
        weights[a] = {}
        for t in bars[a]:
            kind = rng.integers(10)
            if kind == 0:
                continue  # a missing key
            weights[a][t] = (None, math.nan, 0.0)[kind - 1] if kind <= 3 else float(rng.uniform(-0.7, 0.9))
    times = sorted({t for a in assets for t in bars[a]})
    rebalance = sorted(t for t in times if rng.random() < 0.6)
    maybe = lambda *values: draw(st.sampled_from(values))  # noqa: E731
    cfg = dict(
        init_cash=maybe(1_000.0, 100_000.0),
        fill=maybe("next_open", "next_close", "same_close"),
        fractional=draw(st.booleans()),
        missing=maybe("flat", "hold"),
        size_at=maybe("decision", "fill"),
        shortfall=maybe("scale", "priority", "reject"),
        priority=maybe(None, {assets[-1]: 2.0, assets[0]: 1.0}),
        rounding=maybe("floor", "nearest"),
        lot_size=maybe(None, None, 5, {assets[0]: 0.5}),
        drift_band=maybe(None, None, 0.05, 0.3),
        cash_rule=maybe("equity", "equity", "vectorbt", "ml4t"),
        max_gross_leverage=maybe(None, 0.5, 1.5),
        # the weights as scores of a top_k (k, short_k, buffer); buffer 0 is the plain expression
        top_k=maybe(None, None, None, (1, 0, 1), (2, 0, 2), (1, 1, 1), (2, 1, 0), (2, 1, 3)),
        custom_price=maybe(False, False, True),
        max_position_weight=maybe(None, None, 0.3),
    )
    if rules and draw(st.booleans()):  # position rules on the held positions (anchored at the average cost)
        cfg.update(
            stop_loss=maybe(None, 0.03, 0.1),
            take_profit=maybe(None, 0.05, 0.2),
            trailing_stop=maybe(None, None, 0.04),
            trailing_activation=maybe(0.0, 0.0, 0.02),
            trailing_source=maybe("close", "extreme"),
            trailing_start=maybe("anchor", "first_bar"),
            max_bars=maybe(None, None, 2, 4),
            intrabar=maybe("pessimistic", "optimistic", "ohlc_path", "stop_first", "rule_chain"),
            stop_on_entry_bar=draw(st.booleans()),
            stop_slippage=maybe(None, 0.0, 0.01),
            reenter_on_stop_bar=draw(st.booleans()),
        )
    if costs:
        per_asset = draw(st.booleans())  # each cost one number, or a dict by asset

        def cost(*values):
            return {a: maybe(*values) for a in assets} if per_asset else maybe(*values)

        cfg.update(
            fees=cost(0.0, 0.001, 0.01),
            fixed_fees=cost(0.0, 1.5),
            commission_per_share=cost(0.0, 0.01),
            slippage=cost(0.0, 0.002, 0.02),
            slippage_per_share=cost(0.0, 0.05),
            borrow_rate=maybe(None, None, 0.1, 3.0, "rulev") if not per_asset else maybe(None, cost(0.0, 0.5, 4.0)),
            cash_rate=maybe(None, None, 0.5, 3.0),
            credit_rate=maybe(None, None, 0.1, 0.8),
            min_weight_change=maybe(0.0, 0.0, 0.03),
            min_trade_value=maybe(0.0, 0.0, 50.0),
        )
        schedule = maybe("flat", "flat", "per_share", "tiered")  # a commission minimum and cap, or tiers
        if schedule == "per_share":
            cfg.update(commission_per_share=cost(0.005, 0.02), commission_min=cost(0.0, 1.0, 6.0),
                       commission_max=cost(math.inf, 0.01, 0.001))  # fmt: skip
        elif schedule == "tiered":
            cfg.update(commission_per_share=0.0, commission_tiers=TIERS, commission_min=maybe(0.0, 1.0),
                       commission_max=maybe(math.inf, 0.005))  # fmt: skip
        # fees read per bar (these panels' rulev is in [0, 4] or null: at most 0.004-0.01 of the notional,
        # 1-3 a fill, 0.008-0.04 a share); a per-bar commission only without a schedule
        cfg.update(draw_bar_fees(draw, (0.001, 0.0025), (0.25, 0.75), (0.002, 0.01), commission=schedule == "flat"))
        # the bid-ask spread (these panels' prices stay above about 2.5, their rulev is in [0, 4])
        number = lambda values: cost(0.0, *values) if per_asset else maybe(*values)  # noqa: E731
        spread, spread_price = draw_spread(draw, number, (0.001, 0.02), (0.01, 0.1), (0.02, 0.2), (0.01, 0.05))
        if spread != 0.0:
            cfg.update(spread=spread, spread_price=spread_price)
    if cfg["cash_rule"] != "equity":  # the cash rules of vectorbt and ml4t-backtest have no leverage
        cfg["max_gross_leverage"] = None
    if cfg["cash_rule"] == "ml4t":  # its own order sequence; a cut order gets whole shares (else ConfigError)
        cfg["priority"] = None
        if cfg["shortfall"] == "scale" or cfg["fractional"]:
            cfg["shortfall"] = "reject" if cfg["fractional"] else "priority"
    if limits:
        cfg.update(cash_rule="equity", priority=None)
    if cfg["cash_rule"] == "equity" and (limits or (limits is None and draw(st.booleans()))):
        cfg.update(  # the breaker and the daily loss limit
            max_drawdown=maybe(0.005, 0.02) if limits else maybe(None, 0.01, 0.03, 0.1),
            drawdown_action=maybe("halt", "liquidate", "liquidate"),
            drawdown_cooldown=maybe(None, 1, 3),
            daily_loss_limit=maybe(None, None, 0.02),
            max_positions=maybe(None, 1, 2),
        )
    return Panel(times, assets, bars, {i: ts_of(i).date() for i in times}), weights, rebalance, cfg


def frame(panel, weights, priority) -> pl.DataFrame:
    """A ``weight_cases`` panel as a long frame with its weights (``w``) and priorities (``prio``)."""
    rows = []
    for a in panel.assets:
        for t, b in panel.bars[a].items():
            w = weights.get(a, {}).get(t)
            p = None if priority is None else priority.get(a)
            rows.append(dict(timestamp=ts_of(t), asset=a, open=b.open, high=b.high, low=b.low, close=b.close,
                             w=None if w is None else float(w), prio=p, px=b.price, rulev=b.rulev))  # fmt: skip
    schema = dict(timestamp=pl.Datetime("us"), asset=pl.String, open=pl.Float64, high=pl.Float64, low=pl.Float64,
                  close=pl.Float64, w=pl.Float64, prio=pl.Float64, px=pl.Float64, rulev=pl.Float64)  # fmt: skip
    return pl.DataFrame(rows, schema=schema)


def vec_run(panel, weights, rebalance, cfg):
    """``backtest(weights=...)`` on a ``weight_cases`` draw (the reference's settings as keywords)."""
    import ml4t_vec as vec

    kw = dict(cfg)
    prio = kw.pop("priority", None)
    df = frame(panel, weights, prio)
    if prio is not None:
        kw["priority"] = "prio"
    kw["rebalance"] = [ts_of(t) for t in rebalance] if rebalance else pl.lit(False)
    if kw.pop("custom_price", False):
        kw["price"] = "px"
    select = kw.pop("top_k", None)
    w = "w" if select is None else vec.weights.top_k("w", select[0], select[1], buffer=select[2])
    return vec.backtest(df, weights=w, **weight_keywords(kw))


def weight_keywords(cfg: dict) -> dict:
    """A ``weight_cases`` config's settings as ``backtest`` / ``sweep`` keywords: its commission
    schedule (the reference's ``commission_min`` / ``_max`` / ``_tiers``) as ``commission=``, its
    spread as ``spread=`` or ``spread_price=`` (``spread_kwargs``), its fees read per bar as
    expressions (``per_bar``)."""
    kw = dict(cfg)
    kw.update(spread_kwargs(kw.pop("spread", 0.0), kw.pop("spread_price", False)))
    kw.update({k: per_bar(kw[k]) for k in ("fees", "fixed_fees", "commission_per_share") if k in kw})
    if any(k in kw for k in ("commission_min", "commission_max", "commission_tiers")):
        sched = SimpleNamespace(commission_per_share=kw.pop("commission_per_share", 0.0),
                                commission_min=kw.pop("commission_min", 0.0),
                                commission_max=kw.pop("commission_max", math.inf),
                                commission_tiers=kw.pop("commission_tiers", ()))  # fmt: skip
        kw.update(commission_kwargs(sched))
    return kw


# one asset's daily bars for hand-worked kernel tests (tests/kernels/test_spread.py, test_impact.py)
D = [dt.date(2024, 1, d) for d in (2, 3, 4, 5, 8)]


def one_asset(opens, closes, entries, exits, **extra) -> pl.DataFrame:
    """Asset "A" on the days ``D``: high / low one above / below the bar's open and close, the
    entry and exit signals as columns ``e`` and ``x``, and ``extra`` columns."""
    n = len(opens)
    return pl.DataFrame(
        {
            "timestamp": D[:n],
            "asset": ["A"] * n,
            "open": opens,
            "high": [max(o, c) + 1.0 for o, c in zip(opens, closes, strict=True)],
            "low": [min(o, c) - 1.0 for o, c in zip(opens, closes, strict=True)],
            "close": closes,
            "e": entries,
            "x": exits,
            **extra,
        }
    )
