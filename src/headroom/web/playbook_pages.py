"""The pages that judge the playbook: the Backtest page (stored backtests, and a form to start
one) and the Playbook page (the playbook, its validation, its versions, and a dry run).

Backtests are read from the state store (:mod:`headroom.plays.runs`): computing one takes
seconds to minutes, so a page shows the latest stored one and managers start new ones, which
run in the background and record themselves. The dry run is computed only when asked for.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from headroom.errors import NotFoundError, UsageError
from headroom.ingest.events import ingested
from headroom.playbook.model import Playbook, Trigger
from headroom.plays import deciding, runs, versions
from headroom.sources import Source
from headroom.store.database import Store
from headroom.triggers.decisions import Decision
from headroom.usecases import backtest as backtests
from headroom.usecases.check import check
from headroom.users import Person
from headroom.web.auth import page_user, posted
from headroom.web.charts import bar_chart, xy_chart
from headroom.web.parts import AsOfDep, PlaybookDep, SourceDep, StoreDep, own_source
from headroom.web.render import templates

#: The earlier backtests listed on the page (the API pages through all of them).
LISTED = 20
#: The plays a dry run lists (all of them are counted).
DRY_RUN_SHOWN = 500


def no_source() -> NotFoundError:
    return NotFoundError(
        "this server has no source to evaluate the playbook on",
        fix="start headroom serve with the source",
    )


def no_playbook() -> NotFoundError:
    return NotFoundError("this server has no playbook", fix="start headroom serve with --playbook")


def start_backtest(
    store: Store,
    person: Person,
    source: Source | None,
    playbook: Playbook | None,
    ask: backtests.BacktestAsk,
) -> runs.RunInfo:
    """Start a backtest of the server's playbook on its source, for the page and the API."""
    backtests.may_start(person)  # who asks first: a CSM hears no, not what the server lacks
    if source is None:
        raise no_source()
    if playbook is None:
        raise no_playbook()
    return backtests.launch_backtest(
        store, person, lambda: own_source(source), playbook, ask, source.name
    )


def _date(text: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{name} {text!r} is not a date", fix="write it as YYYY-MM-DD") from None


def _days(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise UsageError(
            f"horizon_days {text!r} is not a whole number of days", fix="use e.g. 90"
        ) from None


def _owner(trigger: Trigger) -> str:
    """A trigger's owner as the playbook says it: one role, or rules tried in order."""
    if isinstance(trigger.owner, str):
        return trigger.owner
    return "; ".join(
        f"{r.owner} when {r.when}" if r.when else f"otherwise {r.owner}" for r in trigger.owner
    )


def _series(rows: list[dict[str, Any]], x: str) -> list[tuple[str, list[tuple[float, Any]]]]:
    return [
        ("precision", [(float(r[x]), r["precision"]) for r in rows]),
        ("recall", [(float(r[x]), r["recall"]) for r in rows]),
    ]


def backtest_view(run: runs.RunInfo) -> dict[str, Any]:
    """What the page draws from a stored backtest's result: per-trigger rows, a chart of
    precision and recall by horizon for each trigger, and the sweep."""
    result = run.result or {}
    by_horizon: dict[str, list[dict[str, Any]]] = {}
    for row in result.get("by_horizon", []):
        by_horizon.setdefault(row["trigger"], []).append(row)
    charts = [
        (t, xy_chart(f"precision and recall of {t} by horizon",
                     _series(sorted(rows, key=lambda r: r["horizon_days"]), "horizon_days"),
                     x_label="horizon (days)"))
        for t, rows in by_horizon.items()
    ]  # fmt: skip
    sweep = result.get("sweep")
    sweep_charts: list[str] = []
    if sweep:
        rows = sweep["rows"]
        sweep_charts = [
            xy_chart(f"precision and recall of {sweep['trigger']} by threshold",
                     _series(rows, "threshold"), x_label="threshold"),
            bar_chart(f"firings of {sweep['trigger']} by threshold",
                      [(f"threshold {r['threshold']:g}", float(r["fired"])) for r in rows]),
        ]  # fmt: skip
    expansions = result["triggers"][-1]["expansions"] if result.get("triggers") else None
    return {
        "result": result,
        "expansions": expansions,
        "horizon_charts": charts,
        "sweep": sweep,
        "sweep_charts": sweep_charts,
    }


def would_fire(store: Store, source: Source, playbook: Playbook, as_of: dt.date) -> dict[str, Any]:
    """What a run of the playbook as of ``as_of`` would decide now (nothing recorded): the
    plays it would fire, and its skips counted by reason and by trigger and reason."""
    own = own_source(source)
    try:
        own.add_rows("events", ingested(store))  # as headroom run reads them
        decisions: list[Decision] = deciding.decide(store, own, playbook, as_of)
    finally:
        own.close()
    plays = [d.play for d in decisions if d.play is not None and d.action == "fired"]
    plays.sort(key=lambda p: (p.priority, p.trigger, p.account_id))
    skipped = [d for d in decisions if d.action == "skipped"]
    return {
        "as_of": as_of,
        "plays": plays[:DRY_RUN_SHOWN],
        "fired": len(plays),
        "decisions": len(decisions),
        "by_reason": Counter(d.reason or "unknown" for d in skipped).most_common(),
        "by_trigger": sorted(Counter((d.trigger, d.reason or "unknown") for d in skipped).items()),
        # A run of this day recorded already: these plays are in the queue, not new.
        "recorded": store.run_recorded(as_of, [t.id for t in playbook.model.triggers]),
    }


router = APIRouter(include_in_schema=False)


@router.get("/backtest", response_class=HTMLResponse)
def backtest_page(
    store: StoreDep,
    source: SourceDep,
    as_of: AsOfDep,
    playbook: PlaybookDep,
    request: Request,
    run: str = "",
) -> Response:
    signed = page_user(store, request)
    if run.strip():
        if not run.strip().isdigit() or len(run.strip()) > 9:
            raise UsageError(f"run {run!r} is not a run number", fix="e.g. /backtest?run=3")
        shown: runs.RunInfo | None = runs.get_run(store, int(run))
        if shown is not None and shown.kind != "backtest":
            raise NotFoundError(
                f"run {shown.id} is a run of the playbook, not a backtest",
                fix="the Backtest page lists the backtests",
            )
    else:
        shown = runs.latest_run(store, "backtest")
    listed, total = runs.list_runs(store, kind="backtest", limit=LISTED)
    running, _ = runs.list_runs(store, kind="backtest", status="running", limit=5)
    end = as_of - dt.timedelta(days=90)  # the latest end whose 90 days ahead are known
    context: dict[str, Any] = {
        "me": signed.person,
        "csrf": signed.csrf,
        "run": shown,
        "listed": listed,
        "total": total,
        "running": running,
        "can_start": signed.person.sees_everything and source is not None and playbook is not None,
        "defaults": {"start": end - dt.timedelta(days=89), "end": end, "horizon_days": 90},
        "as_of": as_of,
    }
    if shown is not None and shown.status == "finished":
        context.update(backtest_view(shown))
    return templates.TemplateResponse(request, "backtest.html", context)


@router.post("/backtest")
async def start(
    store: StoreDep, source: SourceDep, playbook: PlaybookDep, request: Request
) -> Response:
    fields, signed = await posted(store, request)
    sweep = fields.get("sweep", "").strip() or None
    ask = backtests.BacktestAsk(
        _date(fields.get("start", ""), "start"),
        _date(fields.get("end", ""), "end"),
        _days(fields.get("horizon_days", "90")),
        sweep,
    )
    run = await run_in_threadpool(start_backtest, store, signed.person, source, playbook, ask)
    return RedirectResponse(f"/backtest?run={run.id}", status_code=303)


@router.get("/playbook", response_class=HTMLResponse)
def playbook_page(
    store: StoreDep,
    source: SourceDep,
    as_of: AsOfDep,
    playbook: PlaybookDep,
    request: Request,
    dry_run: str = "",
    diff: str = "",
) -> Response:
    signed = page_user(store, request)
    context: dict[str, Any] = {
        "me": signed.person,
        "csrf": signed.csrf,
        "book": playbook,
        "as_of": as_of,
        "has_source": source is not None,
        "versions": versions.versions(store),
        "owner_of": _owner,
    }
    if diff.strip():
        context["diff"] = versions.version_diff(store, diff.strip()[:40])
    if playbook is not None:
        checked = check(playbook.path, source)
        context["checked"] = checked
        context["on_disk"] = checked.book.version if checked.book is not None else None
        kept = [v for v in context["versions"] if v.version == playbook.version]
        context["yaml"] = versions.get_version(store, playbook.version).text if kept else None
        if context["yaml"] is None and context["on_disk"] == playbook.version:
            context["yaml"] = playbook.path.read_text(encoding="utf-8")
    if dry_run.strip():
        if playbook is None:
            raise no_playbook()
        if source is None:
            raise no_source()
        context["dry"] = would_fire(store, source, playbook, as_of)
    return templates.TemplateResponse(request, "playbook.html", context)
