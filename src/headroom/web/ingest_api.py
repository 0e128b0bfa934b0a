"""The ingest API: Segment-compatible ``track`` and ``batch`` calls, authenticated by write key,
bounded in size (gzip included), kept durably before they are answered, and handed to the
playbook's event-triggered plays (:mod:`headroom.ingest`)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import gzip
import secrets
import zlib
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from headroom.errors import HeadroomError, UnauthorizedError
from headroom.ingest.segment import (
    MAX_BATCH_BYTES,
    MAX_CALL_BYTES,
    IngestError,
    PayloadTooLargeError,
    batch_calls,
    parse_body,
    track_calls,
)
from headroom.usecases.react import react_to_events
from headroom.web.auth import bounded_body
from headroom.web.parts import Serve, Served
from headroom.web.prometheus import Telemetry, TelemetryDep

router = APIRouter(tags=["ingest"])


def _write_key(request: Request, body: dict[str, Any] | None) -> str | None:
    """Segment's libraries send the write key as the Basic auth user (``key:``), some in the
    body as ``writeKey``."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        try:
            user = base64.b64decode(auth[6:], validate=True).decode().split(":", 1)[0]
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user or None
    if body is not None and isinstance(body.get("writeKey"), str):
        return str(body["writeKey"])
    return None


async def _read(request: Request, limit: int) -> dict[str, Any]:
    def too_large(declared: int | None) -> HeadroomError:
        fix = "send at most 32 KB per call and 500 KB per batch, as Segment's libraries do"
        if declared is not None:
            return PayloadTooLargeError(
                f"the request body is {declared:,} bytes, over the limit of {limit:,}", fix=fix
            )
        return PayloadTooLargeError(
            f"the request body is over the limit of {limit:,} bytes", fix=fix
        )

    raw = await bounded_body(request, limit, too_large)
    if request.headers.get("content-encoding", "").lower() == "gzip":
        try:
            # Bounded: a small gzip body must not unpack into gigabytes.
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            raw = d.decompress(raw, limit + 1)
        except (zlib.error, gzip.BadGzipFile):
            raise IngestError("the body is not valid gzip", fix="send gzip or plain JSON") from None
    return parse_body(raw, limit)


def _ingest(serve: Serve, request: Request, body: dict[str, Any], batch: bool) -> dict[str, Any]:
    key = _write_key(request, body)
    if not serve.write_keys:
        raise UnauthorizedError(
            "this server accepts no events: no write key is configured",
            fix="start headroom serve with HEADROOM_WRITE_KEYS set",
        )
    given = (key or "").encode()
    if key is None or not any(secrets.compare_digest(given, k.encode()) for k in serve.write_keys):
        raise UnauthorizedError(
            "missing or unknown write key",
            fix="send the write key as the Basic auth user name, as Segment's libraries do",
        )
    now = dt.datetime.now(dt.UTC)
    events = batch_calls(body, now) if batch else track_calls(body, now)
    got = react_to_events(serve.store, serve.reactor, events, now)
    return {"success": True, "accepted": got.accepted, "duplicates": got.duplicates,
            "plays": got.plays}  # fmt: skip


async def _call(
    serve: Serve, telemetry: Telemetry, request: Request, limit: int, batch: bool
) -> JSONResponse:
    try:
        body = await _read(request, limit)
        return JSONResponse(await run_in_threadpool(_ingest, serve, request, body, batch))
    except HeadroomError:
        telemetry.refused.inc()  # answered in the one error shape by the app's handler
        raise


@router.post("/v1/track")
async def track(serve: Served, telemetry: TelemetryDep, request: Request) -> JSONResponse:
    """A Segment ``track`` call."""
    return await _call(serve, telemetry, request, MAX_CALL_BYTES, batch=False)


@router.post("/v1/batch")
async def batch(serve: Served, telemetry: TelemetryDep, request: Request) -> JSONResponse:
    """A Segment ``batch`` of calls (its libraries send these)."""
    return await _call(serve, telemetry, request, MAX_BATCH_BYTES, batch=True)
