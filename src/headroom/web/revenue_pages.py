"""The pages leaders read: the pipeline, the revenue metrics and the calculators.

Each reads the core (:mod:`headroom.plays.pipeline`, :mod:`headroom.metrics`) and draws its
charts on the server (:mod:`headroom.web.charts`).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from headroom.errors import HeadroomError, NotFoundError, UsageError
from headroom.metrics import calculators
from headroom.metrics.time_to_expansion import TimeToExpansion
from headroom.plays.conversion import funnel
from headroom.plays.pipeline import pipeline
from headroom.web import metrics_cache
from headroom.web.api_experiments import experiments_of
from headroom.web.auth import page_user
from headroom.web.charts import bar_chart, line_chart, step_chart
from headroom.web.parts import AsOfDep, PlaybookDep, SourceDep, StoreDep
from headroom.web.render import templates

#: The page's choices of time-to-expansion curves (a curve per cohort or owner would crowd it;
#: the API has them).
PAGE_CURVES = ("all", "segment", "plan")
GROUP_LABELS = {"segment": "segment", "owner": "owner (CSM, else AE)",
                "cohort": "cohort (month of first payment)"}  # fmt: skip


def _expansion_panel(by: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One grouping's bars and table: cohorts in time order, the others largest first."""
    if by != "cohort":
        rows = sorted(rows, key=lambda r: (-r["expansion_arr"], r["group"]))
    bars = [(r["group"], float(r["expansion_arr"])) for r in rows]
    return {"by": by, "label": GROUP_LABELS[by], "rows": rows,
            "chart": bar_chart(f"expansion ARR by {by}", bars)}  # fmt: skip


def _curve_rows(fit: TimeToExpansion) -> list[dict[str, Any]]:
    """The curve's points as shares expanded, each with its 95% interval (None where the fit
    has none)."""
    band = {d: (1 - hi, 1 - lo) for d, lo, hi in fit.band}
    return [
        {"month": d // metrics_cache.MONTH_STEP, "days": d, "expanded": 1 - v,
         "low": band.get(d, (None, None))[0], "high": band.get(d, (None, None))[1]}
        for d, v in fit.curve
    ]  # fmt: skip


def _curve_chart(fits: list[TimeToExpansion]) -> str:
    """Share expanded by month since first payment: the whole base with its 95% interval, then
    each group's curve."""

    def months(days: float) -> float:
        return days / metrics_cache.MONTH_STEP

    series = [(f.group, [(months(d), 1 - v) for d, v in f.curve]) for f in fits]
    band = [(months(d), 1 - hi, 1 - lo) for d, lo, hi in fits[0].band] if fits else None
    return step_chart(
        "share of accounts expanded", series, band,
        x_label=f"months ({metrics_cache.MONTH_STEP} days) since first payment",
    )  # fmt: skip


router = APIRouter(include_in_schema=False)


@router.get("/pipeline", response_class=HTMLResponse)
def pipeline_page(
    store: StoreDep, source: SourceDep, playbook: PlaybookDep, request: Request, target: str = ""
) -> Response:
    signed = page_user(store, request)
    if playbook is None:
        raise NotFoundError(
            "this server has no playbook to value plays by",
            fix="start headroom serve with --playbook",
        )
    target_arr = None
    if target.strip():
        try:
            target_arr = float(target.replace(",", ""))
        except ValueError:
            raise UsageError(
                f"target {target!r} is not a number", fix="give the expansion ARR target"
            ) from None
        if target_arr <= 0:
            raise UsageError(f"target {target} is not positive", fix="e.g. 150000")
    plays = store.plays()
    result = pipeline(playbook, plays, source, target_arr)
    won = sum(float(p.amount_mrr or 0) for p in plays if p.status == "won")
    return templates.TemplateResponse(
        request,
        "pipeline.html",
        {
            "me": signed.person,
            "csrf": signed.csrf,
            "p": result,
            "target": target,
            "won_mrr": won,
            "owners": bar_chart("by owner", [(r["owner"], r["weighted_arr"])
                                             for r in result.by_owner]),
            "segments": bar_chart("by segment", [(r["segment"], r["weighted_arr"])
                                                 for r in result.by_segment]),
        },
    )  # fmt: skip


@router.get("/experiments", response_class=HTMLResponse)
def experiments_page(
    store: StoreDep,
    source: SourceDep,
    playbook: PlaybookDep,
    as_of: AsOfDep,
    request: Request,
    horizon_days: str = "90",
    effect: str = "0.05",
) -> Response:
    signed = page_user(store, request)
    result = experiments_of(store, source, playbook, as_of, horizon_days, effect)
    shown = [*result.triggers]
    if result.overall is not None and len(result.triggers) > 1:
        shown.append(result.overall)
    points = [
        (c.month, c.incremental_arr) for c in result.cumulative if c.incremental_arr is not None
    ]
    return templates.TemplateResponse(
        request,
        "experiments.html",
        {
            "me": signed.person,
            "csrf": signed.csrf,
            "x": result,
            "shown": shown,
            "horizon_days": horizon_days,
            "effect": effect,
            "chart": line_chart("incremental ARR", points),
        },
    )


@router.get("/revenue", response_class=HTMLResponse)
def metrics_page(
    store: StoreDep,
    source: SourceDep,
    as_of: AsOfDep,
    playbook: PlaybookDep,
    request: Request,
    start: str = "",
    end: str = "",
    curve_by: str = "all",
) -> Response:
    signed = page_user(store, request)
    numbers = metrics_cache.of_source(source, as_of)
    period = metrics_cache.parse_period(start, end, as_of)
    curve_by = metrics_cache.parse_choice(curve_by, "curve_by", PAGE_CURVES)
    o = numbers.overview()
    mrr = [(r["month"], float(r["ending_mrr"])) for r in o.bridge]
    nrr = [(r["month"], float(r["nrr"])) for r in o.retention if r["nrr"] is not None]
    grr = [(r["month"], float(r["grr"])) for r in o.retention if r["grr"] is not None]
    expansion = [
        _expansion_panel(by, numbers.expansion(by, period)) for by in metrics_cache.PAGE_GROUPS
    ]
    fits = numbers.time_to_expansion(curve_by, metrics_cache.MONTH_STEP)
    # Fresh on every request: outcomes are recorded while the server runs.
    triggers = [t.id for t in playbook.model.triggers] if playbook is not None else []
    return templates.TemplateResponse(
        request,
        "metrics.html",
        {
            "me": signed.person,
            "csrf": signed.csrf,
            "o": o,
            "latest": o.retention[-1] if o.retention else None,
            "mrr_chart": line_chart("ending MRR", mrr),
            "nrr_chart": line_chart(
                "NRR, trailing twelve months", nrr, 1.0, percent=True, limit_label="keeps"
            ),
            "grr_chart": line_chart(
                "GRR, trailing twelve months", grr, 1.0, percent=True, limit_label="keeps"
            ),
            "period": period,
            "expansion": expansion,
            "curve_by": curve_by,
            "curve_choices": PAGE_CURVES,
            "fits": fits,
            "month_step": metrics_cache.MONTH_STEP,
            "curve_chart": _curve_chart(fits),
            "curve_rows": _curve_rows(fits[0]) if fits else [],
            "funnel": funnel(store, triggers),
        },
    )


@router.get("/calculators", response_class=HTMLResponse)
def calculators_page(
    store: StoreDep,
    request: Request,
    mrr: str = "500",
    months: str = "24",
    expansions: str = "250@3",
    discount_rate: str = "0",
    gross_margin: str = "1",
    arr: str = "10000000",
    nrr: str = "0.85",
    growth: str = "0.40",
) -> Response:
    signed = page_user(store, request)
    context: dict[str, Any] = {"me": signed.person, "csrf": signed.csrf, "q": {
        "mrr": mrr, "months": months, "expansions": expansions,
        "discount_rate": discount_rate, "gross_margin": gross_margin,
        "arr": arr, "nrr": nrr, "growth": growth,
    }}  # fmt: skip
    try:
        context["ltv"] = calculators.ltv(
            _decimal(mrr, "mrr"),
            int(_decimal(months, "months")),
            [calculators.Expansion.parse(e) for e in expansions.split(",") if e.strip()],
            discount_rate=_decimal(discount_rate, "discount_rate"),
            gross_margin=_decimal(gross_margin, "gross_margin"),
        )
    except HeadroomError as err:
        context["ltv_error"] = err
    try:
        planned = calculators.plan(
            _decimal(arr, "arr"), _decimal(nrr, "nrr"), _decimal(growth, "growth")
        )
        context["plan"] = planned
        context["sensitivity"] = bar_chart(
            "new-logo ARR needed by NRR",
            [(f"NRR {r.nrr:.0%}", float(r.new_logo_arr_needed)) for r in planned.sensitivity],
        )
    except HeadroomError as err:
        context["plan_error"] = err
    return templates.TemplateResponse(request, "calculators.html", context)


def _decimal(text: str, name: str) -> Decimal:
    try:
        return Decimal(text.strip().replace(",", ""))
    except InvalidOperation:
        raise UsageError(f"{name} {text!r} is not a number", fix="e.g. 0.85 or 500") from None
