"""The ASGI application of ``headroom serve``: the ingest API, a health check, and the delivery
worker running beside them. Routes parse the request, call the core and translate its errors;
every error, ours or the framework's, answers with the one JSON shape of
:meth:`headroom.errors.HeadroomError.to_dict`.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from headroom.errors import HeadroomError, NotFoundError
from headroom.sources import Source
from headroom.sources.limits import is_out_of_memory, out_of_memory
from headroom.usecases.account import AccountViews
from headroom.web import (
    api_experiments,
    api_metrics,
    api_plays,
    api_runs,
    ingest_api,
    metrics_cache,
    playbook_pages,
    prometheus,
    queue_pages,
    revenue_pages,
)
from headroom.web.auth import SignInRequiredError
from headroom.web.parts import Serve, retire
from headroom.web.render import templates

log = logging.getLogger("headroom.serve")


def _shape(exc: HeadroomError) -> JSONResponse:
    return JSONResponse(exc.to_dict(), status_code=exc.http_status)


def _page(request: Request) -> bool:
    """Whether a person's browser asked for a page (not the APIs, not a script)."""
    path = request.url.path
    if path.startswith(("/api/", "/v1/", "/healthz", "/openapi", "/docs")):
        return False
    # htmx's requests (from the pages' forms) want the page too, whatever they accept
    return "text/html" in request.headers.get("accept", "") or "hx-request" in request.headers


def _problems(exc: RequestValidationError) -> str:
    """Validation errors as ``where: what`` (pydantic's own list is for programs)."""
    parts = []
    for e in exc.errors():
        where = ".".join(str(x) for x in e.get("loc", ()) if x != "body") or "body"
        parts.append(f"{where}: {e.get('msg', 'invalid')}")
    return "; ".join(parts)


#: Sent with every response. Everything a page uses is served from here (no CDN, no inline
#: script or style), and no other site may frame a page: its buttons approve plays and
#: record outcomes.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; "
        "frame-ancestors 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def operations(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The operations of an OpenAPI document as the docs page lists them, in path order."""
    out = []
    for path, methods in sorted(schema.get("paths", {}).items()):
        for method, op in methods.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            ref = body.get("schema", {}).get("$ref", "")
            out.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "parameters": [
                        {
                            "name": p.get("name", ""),
                            "where": p.get("in", ""),
                            "required": bool(p.get("required")),
                            "description": p.get("description", ""),
                        }
                        for p in op.get("parameters", [])
                    ],
                    "body": ref.rsplit("/", 1)[-1] if ref else "",
                }
            )
    return out


def _warm(source: Source, as_of: dt.date, views: AccountViews | None) -> None:
    try:
        if views is not None:
            views.prepare(as_of)
        metrics_cache.warm(source, as_of)
    except Exception:  # the pages compute what they need when asked
        log.exception("headroom serve: warming the pages failed")


def create_app(serve: Serve) -> FastAPI:
    """The app over ``serve``'s parts (its worker starts and stops with the app)."""

    # one set of account-page engines for the app's life (they compile their queries once)
    views = AccountViews(serve.source) if serve.source is not None else None
    telemetry = prometheus.Telemetry(serve.store)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        background = serve.background()
        background.start()
        if serve.warm and serve.source is not None:
            threading.Thread(target=_warm, args=(serve.source, serve.as_of, views),
                             name="headroom-warm", daemon=True).start()  # fmt: skip
        try:
            yield
        finally:
            background.stop()
            current = app.state.views  # the daily cycle may have replaced the first
            if current is not None:
                current.close()

    app = FastAPI(
        title="headroom",
        summary="Expansion plays: the queue and its JSON API, the ingest API (Segment-"
        "compatible) and the delivery worker.",
        lifespan=lifespan,
        # FastAPI's own docs pages load their scripts from a CDN; ours is drawn here (below).
        docs_url=None,
        redoc_url=None,
    )

    @app.middleware("http")
    async def guarded(request: Request, call_next: Any) -> Response:
        started = time.perf_counter()
        response: Response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        telemetry.observe(request, time.perf_counter() - started)
        return response

    @app.get("/docs", include_in_schema=False)
    def api_docs(request: Request) -> Response:
        """The API's operations, from its OpenAPI document, as a page with no script."""
        return templates.TemplateResponse(
            request, "api_docs.html", {"operations": operations(app.openapi())}
        )

    def answer(request: Request, exc: HeadroomError) -> Response:
        """The one JSON shape for the APIs; for a person's browser on a page, the same error as
        a page (or the login page, when they are not signed in)."""
        if _page(request):
            if isinstance(exc, SignInRequiredError):
                return queue_pages.sign_in_redirect(request)
            return queue_pages.error_page(request, exc)
        return _shape(exc)

    @app.exception_handler(HeadroomError)
    async def headroom_error(request: Request, exc: HeadroomError) -> Response:
        return answer(request, exc)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 404:
            return answer(request, NotFoundError(f"no route {request.url.path}", fix="see /docs"))
        err = HeadroomError(str(exc.detail))
        err.http_status = exc.status_code
        return answer(request, err)

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> Response:
        if is_out_of_memory(exc):  # the engine hit HEADROOM_MEMORY_LIMIT: 503, and how to fix
            return answer(request, out_of_memory())
        log.exception("headroom serve: %s %s failed", request.method, request.url.path)
        err = HeadroomError(
            f"headroom failed unexpectedly ({type(exc).__name__}); this is a bug in headroom",
            fix="please report it with the request; the server log has the details",
        )
        err.code, err.http_status = "internal", 500
        return answer(request, err)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        return answer(request, HeadroomError(f"the request is not valid: {_problems(exc)}"))

    # what the routes' dependencies hand over
    app.state.serve, app.state.views, app.state.telemetry = serve, views, telemetry

    def follow(source: Source, as_of: dt.date) -> None:
        """The account pages' views on the refreshed source, warmed before they are shown."""
        old = app.state.views
        fresh = AccountViews(source)
        _warm(source, as_of, fresh)
        app.state.views = fresh
        if old is not None:
            retire(old.close)

    serve.listeners.append(follow)
    for module in (
        api_plays,
        queue_pages,
        revenue_pages,
        playbook_pages,
        api_runs,
        api_metrics,
        api_experiments,
        ingest_api,
        prometheus,
    ):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=Path(__file__).with_name("static")), "static")

    @app.get("/healthz")
    def health() -> dict[str, str]:
        """The process answers (for a liveness probe: restart it when this fails)."""
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)  # a probe, not part of the API
    def ready() -> dict[str, str]:
        """The server can do its work: the state store answers and its schema is current, and
        the source is loaded (for a readiness probe: send it no traffic while this fails,
        503 in the one error shape saying why)."""
        problems = [
            p
            for p in (
                serve.store.unready(),
                None if serve.source is not None else "no source is loaded",
            )
            if p is not None
        ]
        if problems:
            err = HeadroomError(
                "not ready: " + "; ".join(problems),
                fix="check the state store (HEADROOM_DATABASE_URL) and start headroom serve "
                "with its source",
            )
            err.code, err.http_status = "not_ready", 503
            raise err
        return {"status": "ready"}

    return app
