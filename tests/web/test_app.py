"""The web app through an ASGI client: signing in, sessions, CSRF, the queue, the JSON API and
who may do what, on a real state store."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from html import escape
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from headroom.cli.main import app as cli
from headroom.config import settings
from headroom.playbook.model import Playbook, load_playbook
from headroom.plays import runs
from headroom.plays.pipeline import pipeline
from headroom.signals.registry import types
from headroom.sources import Source, load
from headroom.store.database import Store
from headroom.store.models import Delivery, Play
from headroom.users import LoginThrottle, create_token, revoke_token
from headroom.web.app import create_app
from headroom.web.parts import Serve
from tests.web.helpers import HTML, NOW, PASSWORD, csrf_of, play_row, sign_in

EXAMPLE = Path(__file__).parents[2] / "examples" / "teamflow" / "playbook.yaml"
#: An account of the generated source the matrix opens.
ACCOUNT = "acc_00001"


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    throttle = LoginThrottle(attempts=3, window=60)
    with TestClient(create_app(Serve(store, [], throttle=throttle))) as c:
        yield c


def test_signing_in_sets_a_guarded_session_cookie_and_signing_out_ends_it(
    client: TestClient,
) -> None:
    assert client.get("/queue", headers=HTML, follow_redirects=False).headers["location"] == (
        "/login?next=%2Fqueue"
    )
    r = sign_in(client, "ana")
    assert (r.status_code, r.headers["location"]) == (303, "/queue")
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("headroom_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=43200" in cookie
    assert "Secure" not in cookie  # plain http here; over https the cookie is Secure
    page = client.get("/queue", headers=HTML)
    assert page.status_code == 200 and "ana · csm" in page.text
    r = client.post("/logout", data={"csrf": csrf_of(page.text)}, headers=HTML,
                    follow_redirects=False)  # fmt: skip
    assert (r.status_code, r.headers["location"]) == (303, "/login")
    assert client.get("/queue", headers=HTML, follow_redirects=False).status_code == 303


def _users_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    """``headroom users ...`` in-process, on the store the app serves."""
    monkeypatch.setenv("HEADROOM_DATABASE_URL", f"sqlite:///{tmp_path / 'state.sqlite'}")
    settings.cache_clear()
    result = CliRunner().invoke(cli, ["users", *args], input="a brand new passphrase\n")
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_a_new_password_ends_the_sessions_opened_with_the_old_one(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sign_in(client, "ana")
    assert client.get("/queue", headers=HTML).status_code == 200
    out = _users_cli(tmp_path, monkeypatch, "password", "ana", "--password-stdin")
    assert out == "changed the password of ana; their sessions have ended"
    assert client.get("/queue", headers=HTML, follow_redirects=False).status_code == 303
    assert sign_in(client, "ana").status_code == 401  # the old password: the form again
    assert sign_in(client, "ana", "a brand new passphrase").status_code == 303


def test_a_disabled_user_is_stopped_at_once_everywhere(
    client: TestClient, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = {"authorization": f"Bearer {create_token(store, 'ana')[1]}"}
    create_token(store, "ana", "second")
    sign_in(client, "ana")
    assert client.get("/api/v1/plays", headers=token).status_code == 200
    out = _users_cli(tmp_path, monkeypatch, "disable", "ana")
    assert out == "disabled ana: sessions ended, 2 API tokens revoked"
    assert client.get("/queue", headers=HTML, follow_redirects=False).status_code == 303
    r = client.get("/api/v1/plays", headers=token)
    assert (r.status_code, r.json()["error"]["message"]) == (
        401, "the API token is unknown or revoked"
    )  # fmt: skip
    page = sign_in(client, "ana")
    assert page.status_code == 401 and "user &#39;ana&#39; is disabled" in page.text
    listed = _users_cli(tmp_path, monkeypatch, "list", "--format", "csv")
    assert "ana,csm,Ana Lima,True" in listed.splitlines()
    assert _users_cli(tmp_path, monkeypatch, "enable", "ana") == "enabled ana"
    assert sign_in(client, "ana").status_code == 303
    assert client.get("/api/v1/plays", headers=token).status_code == 401  # tokens stay revoked


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_a_token_is_printed_in_the_format_asked(
    client: TestClient, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    import csv
    import json

    out = _users_cli(tmp_path, monkeypatch, "token", "ana", "--name", "ci", "--format", fmt)
    row = json.loads(out) if fmt == "json" else next(csv.DictReader(out.splitlines()))
    assert set(row) == {"token_id", "login", "name", "token"}
    assert (row["login"], row["name"]) == ("ana", "ci")
    assert row["token"].startswith(f"hr_{row['token_id']}_")
    r = client.get("/api/v1/me", headers={"authorization": f"Bearer {row['token']}"})
    assert r.json()["login"] == "ana"


#: A ``headroom run`` killed outright: it recorded itself running, then SIGKILL.
KILLED = """
import os, signal, sys
from headroom.plays import runs
from headroom.store.database import Store
store = Store(sys.argv[1])
with runs.recording(store, "run", "v-killed", source="teamflow"):
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_run_whose_process_was_killed_is_marked_failed(
    client: TestClient, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    killed = subprocess.run([sys.executable, "-c", KILLED, url], capture_output=True)
    assert killed.returncode == -9, killed.stderr
    token = {"authorization": f"Bearer {create_token(store, 'root')[1]}"}
    with runs.recording(store, "run", "v-live", source="teamflow"):
        (live, dead) = client.get("/api/v1/runs", headers=token).json()
        assert (live["status"], dead["status"]) == ("running", "running")  # both just started
        # a while later: the live run keeps saying it is alive, the killed one said nothing
        monkeypatch.setattr(runs, "STALE", dt.timedelta(seconds=1))
        time.sleep(1.5)
        runs.beat(store, live["id"])
        (live, dead) = client.get("/api/v1/runs", headers=token).json()
    assert live["status"] == "running"
    assert dead["status"] == "failed"
    assert dead["error"].startswith("stopped without finishing: its process last said it was ")
    assert dead["error"].endswith("(it was killed, or its machine went down); start it again")


def test_every_response_forbids_framing_and_scripts_from_elsewhere(client: TestClient) -> None:
    """The approve and outcome buttons cannot be framed by another site, and no page loads a
    script or style from anywhere but headroom (the API docs included: no CDN)."""
    sign_in(client, "boss")
    for path in ("/login", "/queue", "/docs", "/api/v1/plays", "/openapi.json", "/nowhere",
                 "/static/headroom.css"):  # fmt: skip
        r = client.get(path, headers=HTML)
        policy = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy, path
        assert (r.headers["x-frame-options"], r.headers["x-content-type-options"]) == (
            "DENY", "nosniff"
        ), path  # fmt: skip
    docs = client.get("/docs", headers=HTML)
    assert docs.status_code == 200
    assert "<code>POST /api/v1/plays/{play_id}/outcome</code>" in docs.text
    assert "cdn" not in docs.text.lower()
    found = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert found and all(u.startswith("/") for u in found), found
    assert client.get("/redoc").status_code == 404


def test_over_https_the_session_cookie_is_secure(store: Store) -> None:
    with TestClient(create_app(Serve(store, [])), base_url="https://testserver") as c:
        r = sign_in(c, "ana")
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("headroom_session="))
    assert "Secure" in cookie


def test_wrong_passwords_are_refused_then_throttled(client: TestClient) -> None:
    for _ in range(3):
        r = sign_in(client, "ana", "not the password")
        assert r.status_code == 401
        assert "the login or the password is wrong" in r.text
    r = sign_in(client, "ana")  # the right password, too late
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 0
    assert "too many failed logins; try again in" in r.text
    assert sign_in(client, "boss").status_code == 429  # the same address is held up too


def test_a_login_post_without_its_token_is_refused(client: TestClient) -> None:
    r = client.post("/login", data={"login": "ana", "password": PASSWORD}, headers=HTML)
    assert r.status_code == 403
    assert "the form&#39;s CSRF token is missing or wrong" in r.text


def test_the_queue_ranks_open_plays_and_shows_each_person_theirs(client: TestClient) -> None:
    sign_in(client, "ana")
    page = client.get("/queue", headers=HTML).text
    assert re.findall(r'id="play-(\w+)"', page) == ["p2", "p1"]  # priority, then due time
    assert 'class="badge overdue"' in page and "Assign</button>" not in page
    page = client.get("/queue?scope=all", headers=HTML).text
    assert re.findall(r'id="play-(\w+)"', page) == ["p2", "p3", "p1"]
    assert 'class="badge soon"' in page
    assert page.count('action="/plays/p3/outcome"') == 0  # Ed's: Ana may look, not act
    page = client.get("/queue?scope=all&due=overdue", headers=HTML).text
    assert re.findall(r'id="play-(\w+)"', page) == ["p2"]
    page = client.get("/queue?scope=all&trigger=tier_upgrade_usage", headers=HTML).text
    assert re.findall(r'id="play-(\w+)"', page) == ["p3"]


def test_the_queue_filters_by_segment_and_lists_what_it_can_filter_by(
    client: TestClient,
) -> None:
    sign_in(client, "boss")
    page = client.get("/queue?segment=enterprise", headers=HTML).text
    assert re.findall(r'id="play-(\w+)"', page) == ["p3"]
    assert '<option value="enterprise" selected>enterprise</option>' in page
    assert '<option value="smb" >smb</option>' in page
    assert '<option value="tier_upgrade_usage" >' in page  # the open plays' triggers
    plays = client.get("/api/v1/plays?segment=smb", headers={"x-csrf-token": csrf_of(page)})
    assert [p["play_id"] for p in plays.json()] == ["p2", "p1"]
    assert {p["segment"] for p in plays.json()} == {"smb"}


@pytest.fixture
def own_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """CSMs and AEs may not switch to everyone's plays on this server."""
    monkeypatch.setenv("HEADROOM_SWITCH_TO_ALL", "")
    settings.cache_clear()
    yield
    monkeypatch.delenv("HEADROOM_SWITCH_TO_ALL")
    settings.cache_clear()


def test_a_role_not_allowed_to_switch_sees_only_its_own(client: TestClient, own_only: None) -> None:
    sign_in(client, "ana")
    page = client.get("/queue", headers=HTML).text
    assert re.findall(r'id="play-(\w+)"', page) == ["p2", "p1"]
    assert 'name="scope"' not in page  # nothing to switch to
    r = client.get("/queue?scope=all", headers=HTML)
    assert r.status_code == 403
    assert "a csm sees only their own plays here" in r.text
    r = client.get("/api/v1/plays?scope=all", headers={"x-csrf-token": csrf_of(page)})
    assert (r.status_code, r.json()["error"]["message"]) == (
        403,
        "a csm sees only their own plays here",
    )
    assert r.json()["error"]["fix"] == "ask an admin to add csm to HEADROOM_SWITCH_TO_ALL"
    assert client.get("/api/v1/me").json()["may_see_all"] is False
    with TestClient(client.app) as boss:  # managers always see everyone's
        sign_in(boss, "boss")
        assert boss.get("/queue?scope=all", headers=HTML).status_code == 200


def test_a_role_not_allowed_to_switch_reads_no_other_play_by_its_id(
    client: TestClient, store: Store, own_only: None
) -> None:
    """A CSM's token read any play by id (evidence and all) where the account route answered
    403: every read of a play keeps the same rule, and another's play is not found, as one
    that does not exist (the answer tells nothing of it)."""
    token = {"authorization": f"Bearer {create_token(store, 'ana')[1]}"}
    assert client.get("/api/v1/plays/p1", headers=token).status_code == 200  # hers
    for play in ("p3", "nope"):  # Ed's, and none at all: the same answer
        r = client.get(f"/api/v1/plays/{play}", headers=token)
        assert (r.status_code, r.json()["error"]) == (404, {
            "code": "not_found", "message": f"no play {play!r}",
            "fix": "the queue lists the open plays"})  # fmt: skip
    r = client.post("/api/v1/plays/p3/outcome", headers=token, json={"outcome": "lost"})
    assert r.status_code == 404
    boss = {"authorization": f"Bearer {create_token(store, 'boss')[1]}"}
    assert client.get("/api/v1/plays/p3", headers=boss).status_code == 200


def test_a_page_form_sent_by_htmx_gets_its_error_as_a_page(client: TestClient) -> None:
    sign_in(client, "ana")
    page = client.get("/queue", headers=HTML).text
    r = client.post("/plays/p3/outcome", headers={"hx-request": "true"},
                    data={"csrf": csrf_of(page), "outcome": "lost"})  # fmt: skip
    assert r.status_code == 403 and r.headers["content-type"].startswith("text/html")
    assert "<main>" in r.text and "play p3 is Ed Park&#39;s, not yours" in r.text


def test_a_manager_reassigns_and_the_new_owner_sees_it(client: TestClient) -> None:
    sign_in(client, "boss")
    page = client.get("/queue", headers=HTML).text
    assert re.findall(r'id="play-(\w+)"', page) == ["p2", "p3", "p1"]  # managers see all
    r = client.post("/plays/p1/assign", headers=HTML, follow_redirects=False,
                    data={"csrf": csrf_of(page), "owner": "Ed Park", "back": "/queue"})  # fmt: skip
    assert r.status_code == 303
    with TestClient(client.app) as ed:
        sign_in(ed, "ed")
        assert re.findall(r'id="play-(\w+)"', ed.get("/queue", headers=HTML).text) == ["p3", "p1"]


def test_outcomes_recorded_on_the_page_leave_the_queue(client: TestClient, store: Store) -> None:
    sign_in(client, "ana")
    page = client.get("/queue", headers=HTML).text
    r = client.post("/plays/p1/outcome", headers=HTML, follow_redirects=False,
                    data={"csrf": csrf_of(page), "outcome": "won", "amount_mrr": "250",
                          "back": "/queue"})  # fmt: skip
    assert r.status_code == 303
    (won,) = [p for p in store.plays("won") if p.play_id == "p1"]
    assert float(won.amount_mrr or 0) == 250
    assert "play-p1" not in client.get("/queue", headers=HTML).text
    r = client.post("/plays/p3/outcome", headers=HTML,
                    data={"csrf": csrf_of(page), "outcome": "lost"})  # fmt: skip
    assert r.status_code == 403
    assert "play p3 is Ed Park&#39;s, not yours" in r.text


@pytest.mark.parametrize("path", ["/logout", "/plays/p1/assign", "/plays/p1/outcome"])
def test_form_posts_without_the_session_token_are_refused(client: TestClient, path: str) -> None:
    sign_in(client, "root")
    for data in ({}, {"csrf": "forged", "owner": "x", "outcome": "lost"}):
        r = client.post(path, data=data, headers=HTML)
        assert r.status_code == 403, path
    assert "play-p1" in client.get("/queue", headers=HTML).text  # nothing happened


def test_the_api_takes_tokens_and_refuses_revoked_ones(client: TestClient, store: Store) -> None:
    token_id, token = create_token(store, "ana", "test")
    auth = {"authorization": f"Bearer {token}"}
    assert client.get("/api/v1/me", headers=auth).json() == {
        "login": "ana", "role": "csm", "owner": "Ana Lima", "sees_everything": False,
        "may_see_all": True,
    }  # fmt: skip
    plays = client.get("/api/v1/plays", headers=auth).json()
    assert [(p["play_id"], p["badge"]) for p in plays] == [("p2", "overdue"), ("p1", None)]
    assert plays[0]["why"]
    r = client.post("/api/v1/plays/p1/outcome", headers=auth,
                    json={"outcome": "won", "amount_mrr": "120.50"})  # fmt: skip
    assert (r.status_code, r.json()["status"], r.json()["amount_mrr"]) == (200, "won", 120.5)
    revoke_token(store, token_id)
    r = client.get("/api/v1/plays", headers=auth)
    assert (r.status_code, r.json()) == (401, {"error": {
        "code": "unauthorized", "message": "the API token is unknown or revoked",
        "fix": "make a new one with headroom users token"}})  # fmt: skip


@pytest.mark.parametrize(
    ("amount", "message"),
    [("Infinity", "the request is not valid: amount_mrr: Input should be a finite number"),
     ("NaN", "the request is not valid: amount_mrr: Input should be a finite number"),
     ("1e400", "--amount-mrr 1E+400 is too large (amounts are below 100,000,000,000,000)"),
     (1e23, "--amount-mrr 1E+23 is too large (amounts are below 100,000,000,000,000)"),
     ("-1", "--amount-mrr -1 is negative")],
)  # fmt: skip
def test_an_amount_that_is_not_a_finite_mrr_is_refused_and_the_play_left_alone(
    client: TestClient, store: Store, amount: object, message: str
) -> None:
    token = {"authorization": f"Bearer {create_token(store, 'root')[1]}"}
    r = client.post("/api/v1/plays/p1/outcome", headers=token,
                    json={"outcome": "won", "amount_mrr": amount})  # fmt: skip
    assert (r.status_code, r.json()["error"]["message"]) == (400, message)
    assert client.get("/api/v1/plays/p1", headers=token).json()["status"] == "open"


def test_the_api_from_a_page_session_needs_the_csrf_header(client: TestClient) -> None:
    sign_in(client, "boss")
    csrf = csrf_of(client.get("/queue", headers=HTML).text)
    assert client.get("/api/v1/plays").status_code == 200  # reading needs no token
    body = {"owner": "Ana Lima"}
    r = client.post("/api/v1/plays/p3/assign", json=body)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden")
    r = client.post("/api/v1/plays/p3/assign", json=body, headers={"x-csrf-token": csrf})
    assert (r.status_code, r.json()["owner"]) == (200, "Ana Lima")


# -- who may do what ----------------------------------------------------------------------------

#: (method, path, body): every page and API route, with a request each role may make or not.
#: Every route of the app that a person or a program signs in for (method, path, body).
ROUTES = [
    ("GET", "/queue", None),
    ("GET", "/queue?scope=all", None),
    ("GET", f"/accounts/{ACCOUNT}", None),
    ("GET", f"/accounts/{ACCOUNT}/readiness", None),
    ("GET", "/pipeline", None),
    ("GET", "/revenue", None),
    ("GET", "/backtest", None),
    ("POST", "/backtest", {"start": "2026-06-29", "end": "2026-06-30", "horizon_days": "30"}),
    ("GET", "/playbook", None),
    ("GET", "/calculators", None),
    ("GET", "/experiments", None),
    ("POST", "/deliveries/d3", {"subject": "Seats", "body": "Call them."}),
    ("POST", "/plays/p3/assign", {"owner": "Ana Lima"}),
    ("POST", "/plays/p3/outcome", {"outcome": "contacted"}),
    ("POST", "/logout", {}),
    ("GET", "/api/v1/me", None),
    ("GET", "/api/v1/plays", None),
    ("GET", "/api/v1/plays?scope=all", None),
    ("GET", "/api/v1/plays/p3", None),
    ("POST", "/api/v1/plays/p3/outcome", {"outcome": "contacted"}),
    ("POST", "/api/v1/plays/p3/assign", {"owner": "Ana Lima"}),
    ("GET", f"/api/v1/accounts/{ACCOUNT}", None),
    ("GET", "/api/v1/metrics", None),
    ("GET", "/api/v1/metrics/expansion", None),
    ("GET", "/api/v1/metrics/time-to-expansion", None),
    ("GET", "/api/v1/metrics/funnel", None),
    ("GET", "/api/v1/experiments", None),
    ("GET", "/api/v1/runs", None),
    ("GET", "/api/v1/runs/1", None),
    ("POST", "/api/v1/runs", {"start": "2026-06-29", "end": "2026-06-30", "horizon_days": 30}),
]
#: Who may: p3 is Ed's (an AE); managers and admins act on every play, assign and backtest.
EVERYONE = {(m, p) for m, p, _ in ROUTES}
MANAGING = {("POST", "/plays/p3/assign"), ("POST", "/api/v1/plays/p3/assign"),
            ("POST", "/api/v1/runs"), ("POST", "/backtest")}  # fmt: skip
ACTING_ON_P3 = {("POST", "/plays/p3/outcome"), ("POST", "/api/v1/plays/p3/outcome"),
                ("POST", "/deliveries/d3")}  # fmt: skip
ALLOWED = {
    "anonymous": set(),
    "admin": EVERYONE,
    "manager": EVERYONE,
    "csm": EVERYONE - MANAGING - ACTING_ON_P3,
    "ae": EVERYONE - MANAGING,
}
LOGIN_OF = {"admin": "root", "manager": "boss", "csm": "ana", "ae": "ed"}
#: Routes outside the matrix: signing in, the ingest API (write keys), the documents.
PUBLIC = {"/", "/login", "/v1/track", "/v1/batch", "/healthz", "/readyz", "/metrics",
          "/openapi.json", "/docs", "/static"}  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Source, Playbook]]:
    """A generated TeamFlow source and the example playbook, for the routes that read them."""
    folder = tmp_path_factory.mktemp("matrix") / "teamflow"
    made = CliRunner().invoke(cli, ["generate", "teamflow", str(folder), "--accounts", "40",
                                    "--days", "200", "--end", "2026-06-30"])  # fmt: skip
    assert made.exit_code == 0, made.output
    source = load(folder, today=dt.date(2026, 7, 1))
    yield source, load_playbook(EXAMPLE, types())
    source.close()


def _draft(store: Store) -> None:
    """A draft of Ed's play p3 held for approval, and a finished run (run 1)."""
    run = runs.start_run(store, "run", "v1", as_of=dt.date(2026, 6, 30))
    runs.finish_run(store, run.id, {"plays": 0}, plays_fired=0, decisions=0)
    with store.session() as db:
        db.add(Delivery(
            delivery_id="d3", play_id="p3", target="ae", channel="hook", recipient=None,
            kind="brief", subject="s", body="b", payload={}, status="draft", attempts=0,
            next_attempt_at=NOW, created_at=NOW,
        ))  # fmt: skip


def test_the_matrix_names_every_route(world: tuple[Source, Playbook], store: Store) -> None:
    app = create_app(Serve(store, [], source=world[0], playbook=world[1]))

    def flat(routes: list[Any]) -> Iterator[Any]:  # included routers hold their own routes
        for r in routes:
            yield from flat(r.original_router.routes) if hasattr(r, "original_router") else [r]

    routes = {(m, r.path) for r in flat(app.routes) for m in getattr(r, "methods", None)
              or {"GET"} if m != "HEAD" and r.path not in PUBLIC}  # fmt: skip
    covered = {(m, re.sub(r"/(p3|d3|1|acc_\w+)(?=/|$)", "/{}", p.split("?")[0]))
               for m, p, _ in ROUTES}  # fmt: skip
    assert {(m, re.sub(r"\{\w+\}", "{}", p)) for m, p in routes} == covered


@pytest.mark.parametrize("role", list(ALLOWED))
@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_the_authorisation_matrix(
    world: tuple[Source, Playbook],
    store: Store,
    role: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    _draft(store)
    source, book = world
    serve = Serve(store, [], source=source, as_of=dt.date(2026, 6, 30), playbook=book)
    with TestClient(create_app(serve)) as c:
        headers: dict[str, str] = {}
        if role != "anonymous":
            sign_in(c, LOGIN_OF[role])
            if path.startswith("/api/"):  # the API by token; pages by session and form token
                headers["authorization"] = f"Bearer {create_token(store, LOGIN_OF[role])[1]}"
        if path.startswith("/api/"):
            r = c.request(method, path, json=body, headers=headers)
            allowed = r.status_code in (200, 202)
            if not allowed:
                assert r.status_code in (401, 403), (r.status_code, r.text)
                assert set(r.json()["error"]) == {"code", "message", "fix"}
        else:
            data = None
            if body is not None:
                page = c.get("/queue", headers=HTML, follow_redirects=False)
                csrf = csrf_of(page.text) if page.status_code == 200 else "none"
                data = {**body, "csrf": csrf}
            r = c.request(method, path, data=data, headers=HTML, follow_redirects=False)
            # refused for want of a session: sent to sign in, coming back here after
            signed_out = r.status_code == 303 and r.headers["location"].startswith("/login?next=")
            allowed = r.status_code in (200, 303) and not signed_out
            if not allowed and not signed_out:
                assert r.status_code == 403, (r.status_code, r.text)
        assert allowed == ((method, path) in ALLOWED[role]), (role, method, path, r.text)
        _settle(store)


def _settle(store: Store) -> None:
    """Wait for a backtest a route started (it runs in the background on the store)."""
    for _ in range(600):
        if not runs.list_runs(store, status="running")[0]:
            return
        time.sleep(0.1)
    raise AssertionError("the backtest did not finish")


def test_every_route_answers_errors_in_the_one_shape(client: TestClient, store: Store) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/plays", "/api/v1/plays/{play_id}/outcome", "/v1/track"} <= set(paths)
    for path, methods in paths.items():
        for method in methods:
            r = client.request(method, path.replace("{play_id}", "p1"), json={})
            if path == "/healthz":
                assert r.status_code == 200
                continue
            assert r.status_code == 401, (method, path)  # nothing answers without credentials
            assert set(r.json()) == {"error"}, (method, path)
            assert set(r.json()["error"]) == {"code", "message", "fix"}, (method, path)
    token = {"authorization": f"Bearer {create_token(store, 'root')[1]}"}
    r = client.get("/api/v1/plays/nope", headers=token)
    assert (r.status_code, r.json()["error"]) == (404, {
        "code": "not_found", "message": "no play 'nope'", "fix": "the queue lists the open plays"
    })  # fmt: skip
    r = client.post("/api/v1/plays/p1/outcome", headers=token, json={"outcome": "maybe"})
    assert (r.status_code, r.json()["error"]["message"]) == (
        400, "the request is not valid: outcome: Input should be 'contacted', 'won', 'lost' "
        "or 'declined'"
    )  # fmt: skip
    r = client.get("/api/v1/plays?due=later", headers=token)
    assert (r.status_code, r.json()["error"]["message"]) == (
        400, "the request is not valid: query.due: Input should be 'overdue' or 'soon'"
    )  # fmt: skip
    r = client.get("/nowhere", headers=token)
    assert (r.status_code, r.json()["error"]["code"]) == (404, "not_found")


def test_the_queue_and_the_api_page_through_many_plays(client: TestClient, store: Store) -> None:
    with store.session() as db:
        db.add_all([play_row(f"q{i:03d}", "Ana Lima", 3, 100 + i) for i in range(120)])
    sign_in(client, "ana")
    first = client.get("/queue", headers=HTML).text
    assert '<span id="queue-total">122</span> open' in first and "page 1 of 3" in first
    assert re.findall(r'id="play-(\w+)"', first)[:3] == ["p2", "p1", "q000"]
    assert len(re.findall(r'id="play-(\w+)"', first)) == 50
    assert 'href="/queue?page=2" rel="next"' in first
    last = client.get("/queue?scope=mine&page=9", headers=HTML).text  # past the end: the last
    assert "page 3 of 3" in last and len(re.findall(r'id="play-(\w+)"', last)) == 22
    assert 'href="/queue?scope=mine&amp;page=2" rel="prev"' in last
    token = {"authorization": f"Bearer {create_token(store, 'ana')[1]}"}
    r = client.get("/api/v1/plays?limit=5&offset=120", headers=token)
    assert r.headers["x-total-count"] == "122"
    assert [p["play_id"] for p in r.json()] == ["q118", "q119"]
    assert client.get("/api/v1/plays?limit=0", headers=token).status_code == 400


def test_the_calculators_give_the_seeds_numbers_and_say_what_is_wrong(client: TestClient) -> None:
    sign_in(client, "ed")
    page = client.get("/calculators", headers=HTML).text
    # PRODUCT.md: $500 MRR for 24 months with +$250 from month 3 earns $17,500; at $10M ARR,
    # 85% NRR and a 40% growth target, $5.5M must come from new logos
    assert '<p class="big" id="ltv">LTV 17,500.00</p>' in page
    assert '<p class="big" id="new-logo">New-logo ARR needed 5,500,000.00</p>' in page
    assert 'aria-label="new-logo ARR needed by NRR"' in page and page.count('class="bar"') == 11
    page = client.get("/calculators?expansions=250@18&nrr=5", headers=HTML).text
    assert '<p class="big" id="ltv">LTV 13,750.00</p>' in page
    assert "--nrr 5 is not a plausible net revenue retention" in page
    page = client.get("/calculators?mrr=lots", headers=HTML).text
    assert "mrr &#39;lots&#39; is not a number; e.g. 0.85 or 500" in page


def test_the_engine_running_out_of_memory_is_a_503_that_says_which_limit(
    client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB's own exception, as the engine raises it when a query outgrows its share: not a
    500 "bug", but the CLI's memory error in the one shape."""
    import duckdb

    from headroom.plays import queue

    def outgrown(*_: Any) -> Any:
        raise duckdb.OutOfMemoryException("Out of Memory Error: failed to allocate 256.0 KiB")

    monkeypatch.setattr(queue, "get_play", outgrown)
    token = {"authorization": f"Bearer {create_token(store, 'root')[1]}"}
    # as a server answers (the test client would raise the exception after the answer)
    with TestClient(client.app, raise_server_exceptions=False) as served:
        r = served.get("/api/v1/plays/p1", headers=token)
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "out_of_memory"
    assert r.json()["error"]["message"].startswith(
        "the work needed more memory than HEADROOM_MEMORY_LIMIT=4GB allows"
    )


def test_ready_when_the_store_answers_at_its_schema_and_the_source_is_loaded(
    store: Store, world: tuple[Source, Playbook]
) -> None:
    with TestClient(create_app(Serve(store, [], source=world[0]))) as c:
        assert (c.get("/readyz").status_code, c.get("/readyz").json()) == (200, {"status": "ready"})
    with store.session() as s:  # as if a newer headroom had migrated the store
        head = s.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        s.execute(text("UPDATE alembic_version SET version_num = 'f00dcafe'"))
    with TestClient(create_app(Serve(store, []))) as c:
        r = c.get("/readyz")
        assert (r.status_code, r.json()) == (503, {"error": {
            "code": "not_ready",
            "message": "not ready: the state store's schema is at f00dcafe, not "
            f"{head}; no source is loaded",
            "fix": "check the state store (HEADROOM_DATABASE_URL) and start headroom serve with "
            "its source",
        }})  # fmt: skip
        assert c.get("/healthz").status_code == 200  # alive all the same: do not restart it


def test_the_queue_names_each_account_beside_its_id(
    world: tuple[Source, Playbook], store: Store
) -> None:
    source, book = world
    accounts = source.table("accounts")
    name = accounts.filter(accounts.account_id == ACCOUNT).name.to_pyarrow().to_pylist()[0]
    assert name
    with store.session() as db:
        db.add(play_row("p9", "Ana Lima", 1, 24, account_id=ACCOUNT))
    with TestClient(create_app(Serve(store, [], source=source, playbook=book))) as c:
        sign_in(c, "ana")
        page = c.get("/queue", headers=HTML).text
    shown = re.search(rf'<a href="/accounts/{ACCOUNT}">([^<]+)</a><br><small>([^<]+)</small>', page)
    assert shown is not None and shown.groups() == (escape(name), ACCOUNT)
    # an account the source does not name keeps its id alone
    assert '<a href="/accounts/acct_p1">acct_p1</a></td>' in page


def test_the_queue_and_the_api_rank_by_expected_value(
    world: tuple[Source, Playbook], store: Store
) -> None:
    source, book = world
    with store.session() as db:
        ready = play_row("p5", "Ana Lima", 3, 100)  # last by priority, first by value
        ready.evidence = {"readiness": 0.95}
        db.add(ready)
        won = db.get(Play, "p4")
        assert won is not None
        won.amount_mrr = 400.0  # what a seat play wins: the size of the others
    worth = {v.play_id: v.weighted_mrr for v in pipeline(book, store.plays(), source, None).plays}
    assert worth["p5"] == 0.95 * 400  # its readiness times the size won plays had
    assert worth["p1"] == worth["p2"] < worth["p5"] and worth["p3"] < worth["p1"]
    by_priority = ["p2", "p3", "p1", "p5"]  # priority, then due time
    by_value = sorted(by_priority, key=lambda p: -worth[p])  # ties stay in that order
    with TestClient(create_app(Serve(store, [], source=source, playbook=book))) as c:
        sign_in(c, "boss")
        page = c.get("/queue?scope=all", headers=HTML).text
        assert re.findall(r'id="play-(\w+)"', page) == by_priority
        assert '<option value="value" >most expected value first</option>' in page
        page = c.get("/queue?scope=all&sort=value", headers=HTML).text
        assert re.findall(r'id="play-(\w+)"', page) == by_value
        shown = re.findall(r'<td class="num value">([^<]+)</td>', page)
        assert shown == [f"{worth[p]:,.0f}" for p in by_value]
        assert '<option value="value" selected>most expected value first</option>' in page
        got = c.get("/api/v1/plays?sort=value&limit=2&offset=1",
                    headers={"x-csrf-token": csrf_of(page)})  # fmt: skip
        assert [p["play_id"] for p in got.json()] == by_value[1:3]
        assert [p["expected_mrr"] for p in got.json()] == [worth[p] for p in by_value[1:3]]
        assert got.headers["x-total-count"] == "4"
        plain = c.get("/api/v1/plays", headers={"x-csrf-token": csrf_of(page)}).json()
        assert {p["expected_mrr"] for p in plain} == {None}
        bad = c.get("/queue?sort=size", headers=HTML)
        assert bad.status_code == 400
        assert (
            "sort &#39;size&#39; is not an order" in bad.text
            and "use priority or value" in bad.text
        )
        bad = c.get("/api/v1/plays?sort=size", headers={"x-csrf-token": csrf_of(page)})
        assert bad.status_code == 400
        assert bad.json()["error"]["message"] == (
            "the request is not valid: query.sort: Input should be 'priority' or 'value'"
        )


def test_ranking_by_value_needs_a_playbook(client: TestClient) -> None:
    sign_in(client, "boss")
    page = client.get("/queue", headers=HTML).text
    assert 'name="sort"' not in page  # nothing to value by
    r = client.get("/queue?sort=value", headers=HTML)
    assert r.status_code == 404
    assert "this server has no playbook to value plays by" in r.text
    r = client.get("/api/v1/plays?sort=value", headers={"x-csrf-token": csrf_of(page)})
    assert r.status_code == 404
    assert r.json()["error"] == {
        "code": "not_found",
        "message": "this server has no playbook to value plays by",
        "fix": "start headroom serve with --playbook, or sort by priority",
    }
