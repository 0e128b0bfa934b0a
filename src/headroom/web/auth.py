"""Who is asking, for the pages (a session cookie) and the JSON API (a bearer token, or the
page's own session with its CSRF token in a header), and the CSRF checks of every form.

A session cookie is HttpOnly and SameSite=Lax, and Secure when the request came over TLS (run
behind a proxy with ``--proxy-headers`` so that the scheme is seen). Every form carries the
session's CSRF token; the login form, before there is a session, carries one that must match a
short-lived cookie (double submit).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from urllib.parse import parse_qs

from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool

from headroom.errors import ForbiddenError, HeadroomError, UnauthorizedError
from headroom.store.database import Store
from headroom.users import Person, SignedIn, session_user, token_user

SESSION_COOKIE = "headroom_session"
LOGIN_COOKIE = "headroom_login_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
#: The largest form body read (a draft message is the largest field).
MAX_FORM_BYTES = 64 * 1024
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


class SignInRequiredError(UnauthorizedError):
    """A page asked for without a live session: the pages answer with the login page."""


def bad_csrf() -> ForbiddenError:
    return ForbiddenError(
        "the form's CSRF token is missing or wrong", fix="reload the page and send it again"
    )


def secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(request: Request, response: Response, name: str, value: str, hours: float) -> None:
    response.set_cookie(
        name,
        value,
        max_age=int(hours * 3600),
        httponly=True,
        samesite="lax",
        secure=secure(request),
        path="/",
    )


async def bounded_body(
    request: Request, limit: int, too_large: Callable[[int | None], HeadroomError]
) -> bytes:
    """The request body, never more than ``limit`` bytes of it in memory: a Content-Length over
    the limit is refused before reading (``too_large(declared)``), a body that grows past it
    while streaming as soon as it does (``too_large(None)``)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(int(declared))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(None)
        chunks.append(chunk)
    return b"".join(chunks)


def same_token(given: str, expected: str) -> bool:
    """Whether a CSRF token matches, in constant time (an empty expected token never does)."""
    return bool(expected) and secrets.compare_digest(given.encode(), expected.encode())


async def form(request: Request) -> dict[str, str]:
    """An urlencoded form body, bounded (one value per field: the last)."""

    def too_large(_: int | None) -> HeadroomError:
        return HeadroomError(
            f"the form is over {MAX_FORM_BYTES:,} bytes", fix="send a shorter message"
        )

    body = await bounded_body(request, MAX_FORM_BYTES, too_large)
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[-1] for k, v in fields.items()}


def page_user(store: Store, request: Request) -> SignedIn:
    """The signed-in person of a page request (else :class:`SignInRequiredError`)."""
    signed = session_user(store, request.cookies.get(SESSION_COOKIE, ""))
    if signed is None:
        raise SignInRequiredError("sign in first", fix="go to /login")
    return signed


def check_form(signed: SignedIn, fields: dict[str, str]) -> None:
    if not same_token(fields.get(CSRF_FIELD, ""), signed.csrf):
        raise bad_csrf()


def api_user(store: Store, request: Request) -> Person:
    """The person of an API request: ``Authorization: Bearer hr_...``, or the page's session
    (whose unsafe requests must carry its CSRF token in ``X-CSRF-Token``)."""
    auth = request.headers.get("authorization", "")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer":
            raise UnauthorizedError(
                "the API takes a bearer token", fix="send Authorization: Bearer hr_..."
            )
        return token_user(store, token.strip())
    signed = session_user(store, request.cookies.get(SESSION_COOKIE, ""))
    if signed is None:
        raise UnauthorizedError(
            "no API token and no session",
            fix="send Authorization: Bearer with a token from headroom users token",
        )
    given = request.headers.get(CSRF_HEADER, "")
    if request.method in UNSAFE and not same_token(given, signed.csrf):
        raise bad_csrf()
    return signed.person


async def posted(store: Store, request: Request) -> tuple[dict[str, str], SignedIn]:
    """A form post's fields and who sent it (signed in, with the session's CSRF token)."""
    fields = await form(request)
    # a read of the state store: in the thread pool, not on the event loop every request shares
    signed = await run_in_threadpool(page_user, store, request)
    check_form(signed, fields)
    return fields, signed
