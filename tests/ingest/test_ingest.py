"""The ingest API: Segment's own client delivers events to headroom serve; an event-triggered
play and its delivery follow; bad keys and bad payloads are refused in the
one JSON error shape; accepted events survive a restart and reach the batch run."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from segment.analytics import Client  # type: ignore[import-untyped]
from typer.testing import CliRunner

from headroom.cli.main import app
from headroom.config import settings
from headroom.delivery.config import delivery_beside
from headroom.delivery.worker import deliveries
from headroom.ingest.events import ingested
from headroom.ingest.realtime import Reactor, event_triggers
from headroom.messages import load_templates
from headroom.playbook.model import load_playbook
from headroom.signals.registry import types
from headroom.sources import load
from headroom.store.database import Store
from headroom.web.app import create_app
from headroom.web.parts import Serve
from tests.delivery.helpers import playbook_with
from tests.delivery.receivers import SECRET, Hook, free_port
from tests.triggers.scenarios import Scenario, days

KEY = "wk_test_123"


def source(folder: Path) -> Path:
    s = Scenario(folder)
    s.account("a1")
    s.daily("a1", "active_users", [(d, 5) for d in days(dt.date(2026, 2, 1), dt.date(2026, 3, 9))])
    return s.write()


def basic(key: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def call(event: str = "invite_blocked_seat_limit", **kw: Any) -> dict[str, Any]:
    return {"type": "track", "event": event, "userId": "u1", "messageId": "m-1",
            "properties": {"account_id": "a1"},
            "timestamp": "2026-11-20T10:00:00Z"} | kw  # fmt: skip


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """headroom serve's app over the TeamFlow playbook with a webhook delivery, on a small
    source, running under uvicorn on loopback."""
    monkeypatch.setenv("TEST_HOOK_SECRET", SECRET)
    with Hook() as hook:
        book_path = playbook_with(
            tmp_path / "book",
            "channels:\n"
            f'  hook: {{kind: webhook, url: "{hook.url}", secret: "${{TEST_HOOK_SECRET}}"}}\n'
            "send:\n  self_serve: {channel: hook, to: admin@a1.example}\n",
        )
        book = load_playbook(book_path, types())
        src_path = source(tmp_path / "src")
        store, src = Store(), load(src_path)
        delivery = delivery_beside(book_path)
        reactor = Reactor(src, book, load_templates(book), delivery, store)
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(Serve(store, [KEY], reactor, delivery, worker_poll_seconds=0.1)),
                host="127.0.0.1", port=port, log_level="warning",
            )
        )  # fmt: skip
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.02)
        try:
            yield {"url": f"http://127.0.0.1:{port}", "store": store, "hook": hook,
                   "src": src_path, "book": book_path}  # fmt: skip
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            src.close()
            store.close()


def test_segments_client_delivers_an_event_that_becomes_a_play_and_a_delivery(
    served: dict[str, Any],
) -> None:
    """How soon is a speed goal, for a benchmark; here, that it happens (waited for as long
    as a busy machine may take)."""
    store: Store = served["store"]
    client = Client(KEY, host=served["url"], sync_mode=True)
    client.track(
        user_id="u1", event="invite_blocked_seat_limit", properties={"account_id": "a1"},
        message_id="m-blocked-1",
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        plays = store.plays()
        queued = deliveries(store)
        if plays and queued:
            break
        time.sleep(0.02)
    (play,) = plays
    assert (play.account_id, play.trigger, play.fired_on) == (
        "a1", "seat_expansion_urgent", dt.datetime.now(dt.UTC).date(),
    )  # fmt: skip
    assert play.evidence == {"events_invite_blocked_seat_limit_1d": 1.0}
    # "immediately" is the moment of the blocked invite, not the end of the customer's day
    (when,) = ingested(store).column("timestamp").to_pylist()
    assert dt.datetime.fromisoformat(play.due_at) == when
    (delivery,) = queued
    assert (delivery.play_id, delivery.target, delivery.recipient) == (
        play.play_id, "self_serve", "admin@a1.example",
    )  # fmt: skip
    # The worker inside serve sends it.
    hook: Hook = served["hook"]
    deadline = time.monotonic() + 10
    while not hook.accepted and time.monotonic() < deadline:
        time.sleep(0.05)
    (sent,) = hook.accepted.values()
    assert sent["data"]["subject"] == "a1 is growing: keeping room for everyone"
    # The same message again (a client retry) adds nothing.
    client.track(user_id="u1", event="invite_blocked_seat_limit",
                 properties={"account_id": "a1"}, message_id="m-blocked-1")  # fmt: skip
    assert len(ingested(store)) == 1 and len(store.plays()) == 1


def test_accepted_events_survive_a_restart_and_reach_the_batch_run(
    served: dict[str, Any], tmp_path: Path
) -> None:
    url = served["url"]
    body = {"batch": [call(messageId="m-1"), call("integration_page_view", messageId="m-2")]}
    r = httpx.post(url + "/v1/batch", json=body, headers=basic(KEY))
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 2
    # A new process on the same store (a restart) still has them, and so does the run.
    again = Store()
    try:
        kept = ingested(again)
        assert kept.column("event_id").to_pylist() == ["m-1", "m-2"]
    finally:
        again.close()
    day = "2026-11-20"
    run = CliRunner().invoke(app, ["run", str(served["src"]), "--playbook", str(served["book"]),
                                   "--as-of", day, "--format", "json"])  # fmt: skip
    assert run.exit_code == 0, run.output
    (play,) = json.loads(run.output)["plays"]
    assert (play["trigger"], play["evidence"]) == (
        "seat_expansion_urgent", {"events_invite_blocked_seat_limit_1d": 1.0},
    )  # fmt: skip


# -- refusals, through the ASGI app ---------------------------------------------------------------


@pytest.fixture
def api(tmp_path: Path) -> Iterator[httpx.Client]:
    store = Store()
    app_ = create_app(Serve(store, [KEY]))
    from fastapi.testclient import TestClient

    with TestClient(app_) as client:
        yield client
    store.close()


SHAPE = {"error": {"code": str, "message": str, "fix": (str, type(None))}}


def error(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fix"}
    out: dict[str, Any] = body["error"]
    return out


def test_bad_write_keys_are_refused(api: httpx.Client) -> None:
    e = error(api.post("/v1/track", json=call(), headers=basic("nope")), 401)
    assert e == {"code": "unauthorized", "message": "missing or unknown write key",
                 "fix": "send the write key as the Basic auth user name, as Segment's "
                        "libraries do"}  # fmt: skip
    assert error(api.post("/v1/track", json=call()), 401)["code"] == "unauthorized"
    # The key in the body, as some libraries send it, is accepted.
    ok = api.post("/v1/track", json=call() | {"writeKey": KEY})
    assert ok.status_code == 200 and ok.json()["accepted"] == 1


def nested(depth: int) -> object:
    value: object = "deep"
    for _ in range(depth):
        value = {"in": value}
    return value


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (b"{not json", "bad_event", "the request body is not JSON (Expecting property name "
         "enclosed in double quotes: line 1 column 2 (char 1))"),
        (b"[1, 2]", "bad_event", "the request body is not a JSON object"),
        (json.dumps({"batch": [{"type": "track", "event": "x", "messageId": "m",
                                "properties": {}}]}).encode(),
         "bad_event", "batch[0] (x) names no account"),
        (json.dumps({"batch": [{"type": "track", "messageId": "m"}]}).encode(),
         "bad_event", "batch[0].event is missing"),
        (json.dumps({"batch": [call(timestamp="yesterday")]}).encode(),
         "bad_event", "batch[0].timestamp: 'yesterday' is not an ISO 8601 time"),
        (json.dumps({"batch": [call(properties={"account_id": "a1", "blob": "x" * 40_000})]})
         .encode(), "payload_too_large", "batch[0] is over the limit of 32 KB for one call"),
        (b"{" + b'"a": "' + b"x" * 600_000 + b'"}', "payload_too_large",
         "the request body is 600,009 bytes, over the limit of 512,000"),
        # What PostgreSQL would refuse is refused up front, as the same 400 on every store.
        (json.dumps({"batch": [call(messageId="m" * 201)]}).encode(), "bad_event",
         "batch[0].messageId is 201 characters long, over the limit of 200"),
        (b'{"batch": [{"type": "track", "event": "x", "messageId": "m", '
         b'"properties": {"account_id": "a1", "n": NaN}}]}', "bad_event",
         "the request body is not JSON (NaN is not a JSON number)"),
        (json.dumps({"batch": [call(event="in\u0000vite")]}).encode(), "bad_event",
         "batch[0].event holds a NUL character"),
        # Nested past any reason (Python's parser gives up near 1,000 levels) or just past 32.
        (b'{"batch": [' + b"[" * 5_000 + b"]" * 5_000 + b"]}", "bad_event",
         "the request body nests objects or lists more than 32 deep"),
        (json.dumps({"batch": [call(properties={"account_id": "a1", "p": nested(40)})]})
         .encode(), "bad_event", "the request body nests objects or lists more than 32 deep"),
        (b'{"batch": [{"type": "track", "event": "x\\ud800", "messageId": "m", '
         b'"properties": {"account_id": "a1"}}]}', "bad_event",
         "the request body holds '\\ud800', a lone surrogate, which is not Unicode text"),
        (json.dumps({"batch": [call(timestamp="0001-01-01T00:00:00+14:00")]}).encode(),
         "bad_event", "batch[0].timestamp: '0001-01-01T00:00:00+14:00' is outside the times "
         "headroom keeps (1900 to 2199)"),
        (json.dumps({"batch": [call(timestamp="9999-12-31T23:59:59-14:00")]}).encode(),
         "bad_event", "batch[0].timestamp: '9999-12-31T23:59:59-14:00' is outside the times "
         "headroom keeps (1900 to 2199)"),
    ],
)  # fmt: skip
def test_malformed_and_oversized_payloads_are_refused_whole(
    api: httpx.Client, body: bytes, code: str, message: str
) -> None:
    r = api.post(
        "/v1/batch", content=body, headers=basic(KEY) | {"content-type": "application/json"}
    )
    e = error(r, 400)
    assert (e["code"], e["message"]) == (code, message)
    store = Store()
    try:
        assert len(ingested(store)) == 0  # nothing of a refused batch is kept
    finally:
        store.close()


def test_gzip_bodies_and_unknown_routes(api: httpx.Client) -> None:
    packed = gzip.compress(json.dumps({"batch": [call()]}).encode())
    r = api.post("/v1/batch", content=packed,
                 headers=basic(KEY) | {"content-encoding": "gzip"})  # fmt: skip
    assert r.status_code == 200 and r.json()["accepted"] == 1
    e = error(api.get("/v1/nothing"), 404)
    assert e["message"] == "no route /v1/nothing"


def test_event_triggered_triggers_are_found_from_their_conditions() -> None:
    book = load_playbook(Path(__file__).resolve().parents[2] / "examples" / "teamflow" /
                         "playbook.yaml", types())  # fmt: skip
    assert event_triggers(book) == {
        "invite_blocked_seat_limit": {"seat_expansion_urgent"},
        "integration_page_view": {"tier_upgrade_feature_interest"},
    }


def test_headroom_serve_as_a_process_keeps_accepted_events_across_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url_db = f"sqlite:///{tmp_path / 'state.sqlite'}"
    env = os.environ | {"HEADROOM_DATABASE_URL": url_db, "HEADROOM_WRITE_KEYS": f"other,{KEY}",
                        "HEADROOM_WORKSPACE": str(tmp_path / "ws")}  # fmt: skip
    src = source(tmp_path / "src")
    book = Path(__file__).resolve().parents[2] / "examples" / "teamflow" / "playbook.yaml"
    headroom = str(Path(sys.executable).with_name("headroom"))

    def start() -> tuple[subprocess.Popen[bytes], str]:
        port = free_port()
        proc = subprocess.Popen(
            [headroom, "serve", str(src), "--playbook", str(book), "--port", str(port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/healthz").status_code == 200:
                    return proc, base
            except httpx.HTTPError:
                time.sleep(0.1)
        proc.kill()
        raise AssertionError(f"headroom serve did not start: {proc.stderr.read()!r}")  # type: ignore[union-attr]

    proc, base = start()
    try:
        client = Client(KEY, host=base, sync_mode=True)
        for i in range(5):
            client.track(user_id="u1", event="integration_page_view",
                         properties={"account_id": "a1"}, message_id=f"view-{i}")  # fmt: skip
    finally:
        proc.send_signal(signal.SIGKILL)  # no clean shutdown: accepted means committed
        proc.wait()
    proc, base = start()
    try:
        r = httpx.post(base + "/v1/batch", json={"batch": [call(messageId="view-4",
                       event="integration_page_view")]}, headers=basic(KEY))  # fmt: skip
        assert r.json() == {"success": True, "accepted": 0, "duplicates": 1, "plays": []}
    finally:
        proc.terminate()
        proc.wait()
    monkeypatch.setenv("HEADROOM_DATABASE_URL", url_db)
    settings.cache_clear()
    store = Store()
    try:
        assert sorted(ingested(store).column("event_id").to_pylist()) == [
            f"view-{i}" for i in range(5)
        ]
    finally:
        store.close()


def test_what_segment_allows_is_accepted(api: httpx.Client) -> None:
    store = Store()
    try:
        # An offset is kept as the same instant, in UTC, on every store.
        r = api.post("/v1/track", json=call(messageId="tz", timestamp="2026-11-20T10:00:00+02:00"),
                     headers=basic(KEY))  # fmt: skip
        assert r.status_code == 200, r.text
        stamps = dict(zip(*ingested(store).select(["event_id", "timestamp"]).to_pydict().values(),
                          strict=True))  # fmt: skip
        assert stamps["tz"] == dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)
        # The account given once for the whole batch; a call without a messageId, twice.
        bare = {"type": "track", "event": "invite_sent", "userId": "u9",
                "timestamp": "2026-11-20T11:00:00Z"}  # fmt: skip
        body = {"context": {"groupId": "a7"}, "batch": [bare, bare]}
        r = api.post("/v1/batch", json=body, headers=basic(KEY))
        assert r.json() == {"success": True, "accepted": 1, "duplicates": 1, "plays": []}
        # 9,000 characters of Japanese are 27 KB of UTF-8: under the 32 KB a call.
        wide = call(messageId="jp", properties={"account_id": "a1", "note": "\u65e5" * 9_000})
        assert api.post("/v1/batch", json={"batch": [wide]}, headers=basic(KEY)).status_code == 200
        accounts = dict(zip(*ingested(store).select(["event_id", "account_id"]).to_pydict()
                            .values(), strict=True))  # fmt: skip
        assert accounts["jp"] == "a1" and "a7" in accounts.values()
    finally:
        store.close()
    # A write key that is not ASCII is just a wrong key.
    assert error(api.post("/v1/track", json=call(), headers={
        "authorization": "Basic " + base64.b64encode("schl\u00fcssel:".encode()).decode()}),
        401)["code"] == "unauthorized"  # fmt: skip
