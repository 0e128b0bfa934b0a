"""Real receivers on loopback for the delivery tests: a scripted webhook endpoint that
verifies signatures with the Standard Webhooks reference library, and an SMTP server
(aiosmtpd) that requires STARTTLS and a login."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from standardwebhooks import Webhook, WebhookVerificationError

SECRET = "whsec_" + "c2VjcmV0LWZvci10ZXN0cy1vbmx5LTAxMjM0NTY3ODk="


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(port: int, handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    """An HTTP server on loopback, answering from a thread of its own."""
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@dataclass
class Answer:
    """One scripted answer: status, headers, and seconds to wait before answering."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class Hook:
    """A webhook receiver. Answers follow ``script`` in order, then 200. Every request is kept
    in ``requests``; verified ones in ``accepted`` by webhook-id (a receiver that honours the
    idempotency key acts on each id once)."""

    def __init__(self, script: list[Answer] | None = None, delay: float = 0.0) -> None:
        self.script = list(script or [])
        self.delay = delay
        self.port = free_port()
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.accepted: dict[str, dict[str, Any]] = {}
        self.rejected: list[str] = []
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def up(self) -> Hook:
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with hook.lock:
                    hook.requests.append((headers, body))
                    answer = hook.script.pop(0) if hook.script else Answer(delay=hook.delay)
                time.sleep(answer.delay)
                if answer.status == 200:
                    try:
                        data = Webhook(SECRET).verify(body, headers)
                    except WebhookVerificationError as exc:
                        hook.rejected.append(str(exc))
                        answer = Answer(401)
                    else:
                        with hook.lock:
                            hook.accepted.setdefault(headers["webhook-id"], data)
                self.send_response(answer.status)
                for k, v in answer.headers.items():
                    self.send_header(k, v)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = serve(self.port, Handler)
        return self

    def down(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def __enter__(self) -> Hook:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()


class _Collect:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append(msg)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


class Mailbox:
    """An SMTP server on loopback requiring STARTTLS, then a login (user/password below)."""

    USER, PASSWORD = "headroom", "s3cret-smtp"

    def __init__(self, folder: Path) -> None:
        self.ca = trustme.CA()
        self.ca_file = folder / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        self.handler = _Collect()
        self.port = free_port()

        def login(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
            ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
                self.USER.encode(),
                self.PASSWORD.encode(),
            )
            return AuthResult(success=ok)

        self.controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            tls_context=context,
            require_starttls=True,
            authenticator=login,
            auth_require_tls=True,
        )

    @property
    def messages(self) -> list[EmailMessage]:
        return self.handler.messages

    def __enter__(self) -> Mailbox:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def payload(body: bytes) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(body)
    return out


#: What a route answers: status, JSON body, headers.
Route = tuple[int, Any, dict[str, str]]


class Api:
    """A JSON HTTP API on loopback (Slack's Web API and webhooks, HubSpot's CRM): answers by
    path from ``routes`` (status, JSON body, headers), once each from ``once`` first; keeps
    every request as (method, path with query, headers, body)."""

    def __init__(
        self,
        routes: dict[str, tuple[int, Any, dict[str, str]]],
        once: dict[str, list[tuple[int, Any, dict[str, str]]]] | None = None,
    ) -> None:
        self.routes, self.once = routes, once or {}
        self.port = free_port()
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.server: ThreadingHTTPServer | None = None

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> Api:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                path = self.path.split("?", 1)[0]
                api.requests.append(
                    (self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                queued = api.once.get(path)
                status, data, headers = (
                    queued.pop(0) if queued else api.routes.get(path, (404, {"ok": False}, {}))
                )
                raw = json.dumps(data).encode() if not isinstance(data, bytes) else data
                self.send_response(status)
                self.send_header("content-type", "application/json")
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = _answer  # noqa: N815 - the standard library's names

            def log_message(self, *args: Any) -> None:
                pass

        self.server = serve(self.port, Handler)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()
