"""The web app's pages: sign in and out, the expansion queue, and each account's page.

Server-rendered with Jinja2; forms post back with the session's CSRF token and redirect (303)
to the page they came from.
"""

from __future__ import annotations

import datetime as dt
import secrets
from decimal import Decimal, InvalidOperation
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from headroom.delivery import drafts
from headroom.delivery.outbox import account_rows
from headroom.errors import HeadroomError, UsageError
from headroom.facts.names import account_names
from headroom.plays import queue
from headroom.sources import Source
from headroom.users import (
    SESSION_HOURS,
    authenticate,
    end_session,
    start_session,
)
from headroom.web.auth import (
    CSRF_FIELD,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    bad_csrf,
    form,
    page_user,
    posted,
    same_token,
    set_cookie,
)
from headroom.web.charts import Projection, line_chart
from headroom.web.parts import (
    AsOfDep,
    PlaybookDep,
    SourceDep,
    StoreDep,
    ThrottleDep,
    ViewsDep,
    account_views,
    own_source,
)
from headroom.web.render import templates


def _local(path: str) -> str:
    """Only paths of this site are followed after signing in (no open redirect)."""
    return path if path.startswith("/") and not path.startswith("//") else "/queue"


router = APIRouter(include_in_schema=False)


def login_page(request: Request, error: str | None, status: int, nxt: str) -> Response:
    token = secrets.token_urlsafe(32)
    response = templates.TemplateResponse(
        request, "login.html", {"csrf": token, "error": error, "next": nxt},
        status_code=status,
    )  # fmt: skip
    set_cookie(request, response, LOGIN_COOKIE, token, hours=1)
    return response


def _names(source: Source | None, ids: list[str]) -> dict[str, str]:
    """The page's accounts' names, read on a connection of this thread's own."""
    if source is None or not ids:
        return {}
    own = own_source(source)
    try:
        return account_names(own, ids)
    finally:
        own.close()


@router.get("/login")
def login_form(request: Request, next: str = "/queue") -> Response:
    return login_page(request, None, 200, _local(next))


@router.post("/login")
async def login(store: StoreDep, throttle: ThrottleDep, request: Request) -> Response:
    fields = await form(request)
    nxt = _local(fields.get("next", "/queue"))
    if not same_token(fields.get(CSRF_FIELD, ""), request.cookies.get(LOGIN_COOKIE, "")):
        err = bad_csrf()
        return login_page(request, str(err), err.http_status, nxt)
    login_name = fields.get("login", "").strip()
    address = request.client.host if request.client else "unknown"
    keys = (f"login:{login_name}", f"address:{address}")

    def attempt() -> str:
        throttle.check(*keys)
        try:
            person = authenticate(store, login_name, fields.get("password", ""))
        except HeadroomError:
            throttle.failed(*keys)
            raise
        throttle.succeeded(f"login:{login_name}")
        cookie, _ = start_session(store, person)
        return cookie

    try:
        cookie = await run_in_threadpool(attempt)
    except HeadroomError as err:
        response = login_page(request, str(err), err.http_status, nxt)
        retry = getattr(err, "retry_after", None)
        if retry is not None:
            response.headers["retry-after"] = str(retry)
        return response
    response = RedirectResponse(nxt, status_code=303)
    set_cookie(request, response, SESSION_COOKIE, cookie, hours=SESSION_HOURS)
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


@router.post("/logout")
async def logout(store: StoreDep, request: Request) -> Response:
    await posted(store, request)  # signed in, with the form token
    await run_in_threadpool(end_session, store, request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/")
def home() -> Response:
    return RedirectResponse("/queue", status_code=303)


@router.get("/queue", response_class=HTMLResponse)
def queue_page(
    store: StoreDep,
    source: SourceDep,
    playbook: PlaybookDep,
    request: Request,
    scope: str | None = None,
    owner: str | None = None,
    trigger: str | None = None,
    due: str | None = None,
    segment: str | None = None,
    sort: str = "priority",
    page: int = 1,
) -> Response:
    signed = page_user(store, request)
    person = signed.person
    now = dt.datetime.now(dt.UTC)
    filters = queue.Filters(
        scope or None, owner or None, trigger or None, due or None, segment or None
    )
    sort = sort or "priority"
    worth = queue.order_values(store, source, playbook, sort)
    shown = queue.queue_page(store, person, filters, now, page, values=worth)
    kept = {k: v for k, v in request.query_params.items() if k != "page" and v}
    return templates.TemplateResponse(
        request,
        "queue.html",
        {
            "me": person,
            "csrf": signed.csrf,
            "entries": shown.entries,
            "names": _names(source, [e.play.account_id for e in shown.entries]),
            "page": shown,
            "page_link": lambda n: "/queue?" + urlencode({**kept, "page": n}),
            "scope": filters.scope or queue.default_scope(person),
            "filters": filters,
            "sort": sort,
            "may_value": playbook is not None,
            "choices": queue.choices(store),
            "may_act": lambda p: queue.may_act(person, p),
            "back": request.url.path + ("?" + request.url.query if request.url.query else ""),
        },
    )


@router.get("/accounts/{account_id}", response_class=HTMLResponse)
def account_page(
    store: StoreDep, views: ViewsDep, as_of: AsOfDep, request: Request, account_id: str
) -> Response:
    signed = page_user(store, request)
    view = account_views(views).view(account_id, as_of)
    plays = queue.account_plays(store, account_id)
    queue.check_account(signed.person, view.account, plays)
    charts = []
    for u in view.usage:
        on = u.on(u.days, as_of)
        proj = None
        if u.limit is not None and on is not None and u.status == "projected":
            proj = Projection(on, u.on(u.low, as_of), u.on(u.high, as_of))
        charts.append((u, line_chart(u.metric, u.points, u.limit, proj)))
    return templates.TemplateResponse(
        request,
        "account.html",
        {
            "me": signed.person,
            "csrf": signed.csrf,
            "view": view,
            "charts": charts,
            "utilisation": line_chart("seat utilisation", view.utilisation, 1.0, percent=True),
            "plays": plays,
            "may_act": lambda p: queue.may_act(signed.person, p),
            "deliveries": drafts.for_plays(store, [p.play_id for p in plays]),
            "decisions": queue.account_decisions(store, account_id),
            "back": request.url.path,
        },
    )


@router.get("/accounts/{account_id}/readiness", response_class=HTMLResponse)
def readiness_part(
    store: StoreDep, source: SourceDep, as_of: AsOfDep, request: Request, account_id: str
) -> Response:
    """The account's readiness over the charted days: asked for by the account page once it
    is shown (a model scores a page's worth of days in about a second)."""
    from headroom.usecases.account import readiness_history

    signed = page_user(store, request)
    if source is None:  # served without a source: nothing to score
        return HTMLResponse('<p class="empty">No source is served.</p>')
    plays = queue.account_plays(store, account_id)
    row = account_rows(source, [account_id]).get(account_id, {"account_id": account_id})
    queue.check_account(signed.person, row, plays)
    points = readiness_history(source, account_id, as_of)
    if points is None:
        html = (
            '<p class="empty">No readiness model yet: <code>headroom score train SOURCE '
            "--through DAY</code> trains one.</p>"
        )
    else:
        html = line_chart("readiness", points, percent=True)
    return HTMLResponse(html)


@router.post("/deliveries/{delivery_id}")
async def draft(store: StoreDep, request: Request, delivery_id: str) -> Response:
    fields, signed = await posted(store, request)

    def save() -> None:
        drafts.edit(
            store, signed.person, delivery_id, fields.get("subject", ""),
            fields.get("body", ""),
        )  # fmt: skip
        if fields.get("action") == "approve":
            drafts.approve(store, signed.person, delivery_id)

    await run_in_threadpool(save)
    return back(fields)


@router.post("/plays/{play_id}/assign")
async def assign(store: StoreDep, request: Request, play_id: str) -> Response:
    fields, signed = await posted(store, request)
    await run_in_threadpool(queue.assign, store, signed.person, play_id, fields.get("owner", ""))
    return back(fields)


@router.post("/plays/{play_id}/outcome")
async def outcome(store: StoreDep, request: Request, play_id: str) -> Response:
    fields, signed = await posted(store, request)
    amount = None
    if fields.get("amount_mrr", "").strip():
        try:
            amount = Decimal(fields["amount_mrr"].strip())
        except InvalidOperation:
            raise UsageError(
                f"amount {fields['amount_mrr']!r} is not a number",
                fix="give the added MRR, e.g. 250",
            ) from None
    await run_in_threadpool(
        queue.record_outcome, store, signed.person, play_id, fields.get("outcome", ""),
        amount,
    )  # fmt: skip
    return back(fields)


def back(fields: dict[str, str]) -> Response:
    """After a form post: to the page it came from (303, so that a reload does not post)."""
    return RedirectResponse(_local(fields.get("back", "/queue")), status_code=303)


def sign_in_redirect(request: Request) -> Response:
    target = request.url.path + ("?" + request.url.query if request.url.query else "")
    return RedirectResponse("/login?" + urlencode({"next": target}, quote_via=quote), 303)


def error_page(request: Request, err: HeadroomError) -> Response:
    return templates.TemplateResponse(
        request, "error.html", {"error": err}, status_code=err.http_status
    )
