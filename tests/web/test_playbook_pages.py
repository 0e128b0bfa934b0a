"""The Backtest and Playbook pages and the runs API over generated TeamFlow history: stored
backtests drawn with the core's numbers, backtests started from the page and the API, the
playbook's validation, versions and their diff, and the dry run."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from typer.testing import CliRunner

from headroom.backtest import backtest
from headroom.backtest.sweep import parse_sweep, sweep
from headroom.cli.main import app
from headroom.playbook.model import Playbook, load_playbook
from headroom.plays import deciding, runs, versions
from headroom.signals.registry import types
from headroom.sources import Source, load
from headroom.store.database import Store
from headroom.usecases import backtest as backtests
from headroom.users import add_user, create_token
from headroom.web.app import create_app
from headroom.web.parts import Serve, own_source
from tests.triggers import seats as scenario
from tests.web.helpers import HTML, PASSWORD, csrf_of, sign_in

AS_OF = dt.date(2026, 9, 30)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SWEEP = "seat_expansion_proactive.threshold=0.8:0.9:0.05"
#: login, role
PEOPLE = [("root", "admin"), ("boss", "manager"), ("ana", "csm"), ("ed", "ae")]


@pytest.fixture(scope="module")
def teamflow(teamflow: Callable[..., Path]) -> Iterator[Source]:
    """The session's generated TeamFlow (300 accounts, 455 days), loaded."""
    folder = teamflow(accounts=300, days=455, end=AS_OF)
    source = load(folder, today=AS_OF + dt.timedelta(days=1))
    yield source
    source.close()


@pytest.fixture
def book(tmp_path: Path) -> Playbook:
    """The TeamFlow playbook with its templates, copied so that a test may edit it."""
    folder = tmp_path / "playbook"
    shutil.copytree(EXAMPLES / "teamflow", folder)
    return load_playbook(folder / "playbook.yaml", types())


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'state.sqlite'}")
    for login, role in PEOPLE:
        add_user(s, login, role, PASSWORD)
    yield s
    s.close()


@pytest.fixture
def client(store: Store, teamflow: Source, book: Playbook) -> Iterator[TestClient]:
    with TestClient(create_app(Serve(store, [], source=teamflow, as_of=AS_OF,
                                     playbook=book))) as c:  # fmt: skip
        yield c


def finished(store: Store, run_id: int, seconds: float = 240) -> runs.RunInfo:
    """The run once it is no longer running (the backtest runs in a thread of the app)."""
    deadline = time.monotonic() + seconds
    while (run := runs.get_run(store, run_id)).status == "running":
        assert time.monotonic() < deadline, f"backtest {run_id} did not finish"
        time.sleep(0.2)
    return run


def cells(html: str, row_id: str) -> list[str]:
    """The texts of the cells of the table row with this id (tags as spaces)."""
    m = re.search(rf'<tr id="{re.escape(row_id)}"[^>]*>(.*?)</tr>', html, re.S)
    assert m, row_id
    found = re.findall(r"<td[^>]*>(.*?)</td>", m[1], re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", c).split()) for c in found]


def pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1%}"


def start_form(client: TestClient, **fields: str) -> Any:
    csrf = csrf_of(client.get("/backtest", headers=HTML).text)
    return client.post("/backtest", data={"csrf": csrf, **fields}, headers=HTML,
                       follow_redirects=False)  # fmt: skip


# -- the Backtest page ----------------------------------------------------------------------------


def test_with_nothing_stored_the_page_says_how_to_make_a_backtest(client: TestClient) -> None:
    sign_in(client, "ana")
    page = client.get("/backtest", headers=HTML).text
    assert "No backtest has been stored yet" in page
    # the defaults end where the data still shows 90 days ahead
    assert ("headroom backtest SOURCE --playbook PLAYBOOK --start 2026-04-04 --end 2026-07-02 "
            "--horizon-days 90") in page  # fmt: skip
    assert 'id="start"' not in page  # a CSM looks; managers and admins start backtests
    sign_in(client, "boss")
    page = client.get("/backtest", headers=HTML).text
    assert 'id="start"' in page and 'name="start" type="date" value="2026-04-04"' in page


def test_a_backtest_started_on_the_page_shows_the_cores_numbers(
    client: TestClient, store: Store, teamflow: Source, book: Playbook
) -> None:
    sign_in(client, "boss")
    r = start_form(client, start="2026-04-01", end="2026-04-30", horizon_days="30", sweep=SWEEP)
    assert r.status_code == 303, r.text
    run_id = int(r.headers["location"].removeprefix("/backtest?run="))
    run = finished(store, run_id)
    assert (run.status, run.error, run.started_by) == ("finished", None, "boss")

    core = backtest(teamflow, book, dt.date(2026, 4, 1), dt.date(2026, 4, 30), 30)
    rows = sweep(teamflow, book, parse_sweep(SWEEP, book), dt.date(2026, 4, 1),
                 dt.date(2026, 4, 30), 30)  # fmt: skip
    sign_in(client, "ana")  # anyone signed in reads it
    page = client.get("/backtest", headers=HTML).text  # the latest finished one
    assert page == client.get(f"/backtest?run={run_id}", headers=HTML).text
    assert core.triggers[-1].fired > 0 and any(s.precision for s in core.triggers)
    for s in core.triggers:
        assert cells(page, f"trigger-{s.trigger}") == [
            s.trigger, f"{s.fired:,}", f"{s.accounts:,}", pct(s.precision), pct(s.recall),
            "n/a" if s.lift is None else f"{s.lift:.2f}x",
            "n/a" if s.median_lead_days is None else f"{s.median_lead_days:g} d",
            f"{s.revenue_in_gap:,.0f}",
        ]  # fmt: skip
    assert f'<dd id="base-rate">{pct(core.base_rate)}</dd>' in page
    assert f'<dd id="firings">{core.triggers[-1].fired:,}</dd>' in page
    # a chart per trigger of precision and recall by horizon, each point with its value
    for s in core.triggers:
        assert f'aria-label="precision and recall of {s.trigger} by horizon"' in page
    for h in core.by_horizon:
        for measure in ("precision", "recall"):
            if h[measure] is not None:
                title = f"<title>{measure} at {h['horizon_days']}: {h[measure]:.1%}</title>"
                assert title in page, title
    # the sweep: a row per threshold, the best lift marked, and its charts
    shown = re.findall(r"<tr><td class=\"num\">([0-9.]+)</td><td class=\"num\">([0-9,]+)</td>",
                       page)  # fmt: skip
    assert shown == [(f"{r['threshold']:g}", f"{r['fired']:,}") for r in rows]
    assert page.count("best lift</td>") == sum(r["best"] for r in rows) == 1
    assert 'aria-label="precision and recall of seat_expansion_proactive by threshold"' in page
    assert cells(page, f"backtest-{run_id}")[-1] == "finished"


def test_a_running_backtest_is_shown_and_another_waits_for_it(
    client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = threading.Event()
    real = backtests.compute_backtest

    def held(*args: Any) -> backtests.Backtested:
        assert gate.wait(60)
        return real(*args)

    monkeypatch.setattr(backtests, "compute_backtest", held)
    sign_in(client, "root")
    r = start_form(client, start="2026-04-01", end="2026-04-07", horizon_days="14")
    run_id = int(r.headers["location"].removeprefix("/backtest?run="))
    try:
        page = client.get("/backtest", headers=HTML).text
        assert f'id="running-{run_id}"' in page and "No backtest has been stored yet" in page
        again = start_form(client, start="2026-04-01", end="2026-04-07", horizon_days="14")
        assert again.status_code == 409
        assert "a backtest is running already" in again.text
        token = {"authorization": f"Bearer {create_token(store, 'root')[1]}"}
        r = client.post("/api/v1/runs", json={"start": "2026-04-01", "end": "2026-04-07"},
                        headers=token)  # fmt: skip
        assert (r.status_code, r.json()["error"]) == (409, {
            "code": "busy", "message": "a backtest is running already",
            "fix": "wait for it to finish, then start this one",
        })  # fmt: skip
    finally:
        gate.set()
    assert finished(store, run_id).status == "finished"
    assert runs.list_runs(store)[1] == 1  # the refused ones left no record


@pytest.mark.parametrize(
    ("fields", "message", "fix"),
    [
        ({"start": "2026-04-01", "end": "2026-03-01"},
         "end 2026-03-01 is before start 2026-04-01", "give an end on or after the start"),
        ({"start": "soon", "end": "2026-03-01"},
         "start &#39;soon&#39; is not a date", "write it as YYYY-MM-DD"),
        ({"start": "2026-04-01", "end": "2026-04-30", "horizon_days": "0"},
         "horizon_days 0 is not between 1 and 3650", "use e.g. 90"),
        ({"start": "2026-04-01", "end": "2026-04-30", "horizon_days": "a lot"},
         "horizon_days &#39;a lot&#39; is not a whole number of days", "use e.g. 90"),
        ({"start": "2026-04-01", "end": "2026-04-30", "sweep": "nope.threshold=1:2:1"},
         "--sweep: the playbook has no trigger &#39;nope&#39;",
         "its triggers are seat_expansion_urgent, seat_expansion_proactive, "
         "tier_upgrade_feature_interest, tier_upgrade_usage, enterprise_expansion"),
    ],
)  # fmt: skip
def test_bad_backtest_forms_say_what_is_wrong_and_start_nothing(
    client: TestClient, store: Store, fields: dict[str, str], message: str, fix: str
) -> None:
    sign_in(client, "boss")
    r = start_form(client, **fields)
    assert r.status_code == 400
    assert f"<h1>{message}</h1>" in r.text and f"<p>{fix}</p>" in r.text
    assert runs.list_runs(store)[1] == 0


def test_only_managers_and_admins_start_backtests(client: TestClient, store: Store) -> None:
    sign_in(client, "ed")
    r = start_form(client, start="2026-04-01", end="2026-04-30")
    assert r.status_code == 403
    assert "a ae cannot start backtests" in r.text and "ask a manager or an admin" in r.text
    sign_in(client, "boss")
    r = client.post("/backtest", data={"start": "2026-04-01", "end": "2026-04-30"},
                    headers=HTML)  # fmt: skip
    assert r.status_code == 403 and "the form&#39;s CSRF token is missing or wrong" in r.text
    assert runs.list_runs(store)[1] == 0


def test_asking_for_a_backtest_that_is_not_one(client: TestClient, store: Store) -> None:
    run = runs.start_run(store, "run", "v1", as_of=AS_OF)
    sign_in(client, "ana")
    r = client.get(f"/backtest?run={run.id}", headers=HTML)
    assert r.status_code == 404
    assert f"run {run.id} is a run of the playbook, not a backtest" in r.text
    r = client.get("/backtest?run=99", headers=HTML)
    assert r.status_code == 404 and "no run 99" in r.text
    r = client.get("/backtest?run=last", headers=HTML)
    assert r.status_code == 400 and "run &#39;last&#39; is not a run number" in r.text


def test_a_failed_backtest_says_why(client: TestClient, store: Store) -> None:
    run = runs.start_run(store, "backtest", "v1", start=AS_OF, end=AS_OF, horizon_days=30)
    runs.fail_run(store, run.id, "the source has no usage_daily rows; load usage")
    sign_in(client, "ana")
    page = client.get(f"/backtest?run={run.id}", headers=HTML).text
    assert 'class="status failed">failed' in page
    assert "the source has no usage_daily rows; load usage" in page


# -- the runs API ---------------------------------------------------------------------------------


def test_the_api_lists_and_reads_runs(client: TestClient, store: Store) -> None:
    t0 = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
    made = [
        runs.start_run(store, "run" if i % 2 else "backtest", "v1", now=t0 + dt.timedelta(hours=i),
                       start=AS_OF, end=AS_OF, horizon_days=30)
        for i in range(5)
    ]  # fmt: skip
    runs.finish_run(store, made[4].id, {"triggers": [{"trigger": "(all)", "fired": 3}]}, 3)
    token = {"authorization": f"Bearer {create_token(store, 'ana')[1]}"}  # any role reads
    r = client.get("/api/v1/runs?limit=2&offset=1", headers=token)
    assert r.status_code == 200 and r.headers["x-total-count"] == "5"
    assert [x["id"] for x in r.json()] == [made[3].id, made[2].id]
    assert "result" not in r.json()[0]
    r = client.get("/api/v1/runs?kind=backtest&status=finished", headers=token)
    assert (r.headers["x-total-count"], [x["id"] for x in r.json()]) == ("1", [made[4].id])
    one = client.get(f"/api/v1/runs/{made[4].id}", headers=token).json()
    assert (one["status"], one["plays_fired"], one["result"]) == (
        "finished", 3, {"triggers": [{"trigger": "(all)", "fired": 3}]}
    )  # fmt: skip
    assert one["started_at"].startswith("2026-09-01T04:00:00")
    r = client.get("/api/v1/runs/77", headers=token)
    assert (r.status_code, r.json()["error"]) == (404, {
        "code": "not_found", "message": "no run 77",
        "fix": "the Backtest page and GET /api/v1/runs list the runs",
    })  # fmt: skip
    r = client.get("/api/v1/runs?kind=sweep", headers=token)
    assert (r.status_code, r.json()["error"]["message"]) == (
        400, "the request is not valid: query.kind: Input should be 'run' or 'backtest'"
    )  # fmt: skip
    assert client.get("/api/v1/runs?limit=1001", headers=token).status_code == 400
    assert client.get("/api/v1/runs/{run_id}").status_code == 401  # credentials come first
    paths = client.get("/openapi.json").json()
    assert {"/api/v1/runs", "/api/v1/runs/{run_id}"} <= set(paths["paths"])
    assert {"RunOut", "RunDetail", "BacktestIn"} <= set(paths["components"]["schemas"])


def test_the_api_starts_a_backtest_for_managers(
    client: TestClient, store: Store, teamflow: Source, book: Playbook
) -> None:
    body = {"start": "2026-04-01", "end": "2026-04-10", "horizon_days": 30}
    csm = {"authorization": f"Bearer {create_token(store, 'ana')[1]}"}
    r = client.post("/api/v1/runs", json=body, headers=csm)
    assert (r.status_code, r.json()["error"]) == (403, {
        "code": "forbidden", "message": "a csm cannot start backtests",
        "fix": "ask a manager or an admin",
    })  # fmt: skip
    boss = {"authorization": f"Bearer {create_token(store, 'boss')[1]}"}
    r = client.post("/api/v1/runs", json={**body, "horizon_days": 0}, headers=boss)
    assert (r.status_code, r.json()["error"]["message"]) == (
        400, "the request is not valid: horizon_days: Input should be greater than or equal to 1"
    )  # fmt: skip
    r = client.post("/api/v1/runs", json={**body, "end": "2026-03-01"}, headers=boss)
    assert (r.status_code, r.json()["error"]["message"]) == (
        400, "end 2026-03-01 is before start 2026-04-01"
    )  # fmt: skip
    r = client.post("/api/v1/runs", json=body, headers=boss)
    assert r.status_code == 202
    started = r.json()
    assert (started["kind"], started["status"], started["started_by"]) == (
        "backtest", "running", "boss"
    )  # fmt: skip
    finished(store, started["id"])
    got = client.get(f"/api/v1/runs/{started['id']}", headers=csm).json()
    core = backtest(teamflow, book, dt.date(2026, 4, 1), dt.date(2026, 4, 10), 30)
    assert got["status"] == "finished" and got["playbook_version"] == book.version
    assert got["result"]["triggers"] == [s.to_dict() for s in core.triggers]
    assert got["result"]["by_horizon"] == core.by_horizon
    assert got["plays_fired"] == core.triggers[-1].fired


def test_a_server_without_a_source_or_playbook_shows_empty_pages(store: Store) -> None:
    with TestClient(create_app(Serve(store, []))) as c:
        sign_in(c, "root")
        assert "No backtest has been stored yet" in c.get("/backtest", headers=HTML).text
        assert 'id="no-playbook"' in c.get("/playbook", headers=HTML).text
        r = start_form(c, start="2026-04-01", end="2026-04-30")
        assert r.status_code == 404
        assert "this server has no source to evaluate the playbook on" in r.text
        body = {"start": "2026-04-01", "end": "2026-04-30"}
        for login, status in (("ana", 403), ("boss", 404)):  # who asks is settled first
            token = {"authorization": f"Bearer {create_token(store, login)[1]}"}
            assert c.post("/api/v1/runs", json=body, headers=token).status_code == status
        r = c.get("/playbook?dry_run=1", headers=HTML)
        assert r.status_code == 404 and "this server has no playbook" in r.text


# -- the Playbook page ----------------------------------------------------------------------------


def test_the_playbook_page_shows_the_playbook_valid_and_no_dry_run_unasked(
    client: TestClient, book: Playbook
) -> None:
    sign_in(client, "ed")
    page = client.get("/playbook", headers=HTML).text
    assert f'<code id="version">{book.version}</code>' in page
    for t in book.model.triggers:
        assert f'<tr id="trigger-{t.id}">' in page
        assert f"<code>{escape(t.when)}</code>" in page
    assert cells(page, "trigger-seat_expansion_proactive")[2:5] == [
        "30d group seat_expansion", "next business day 10:00",
        "self_serve when tier in (&#39;Starter&#39;, &#39;Professional&#39;); otherwise csm",
    ]  # fmt: skip
    # the YAML as the file has it, escaped (the served version was not kept: read from disk)
    assert f'<pre class="yaml" id="yaml">{escape(book.path.read_text())}</pre>' in page
    assert "playbook.yaml is valid, and the source feeds every signal it uses." in page
    assert 'id="would-fire"' not in page  # computed only when asked


def test_the_dry_run_shows_what_would_fire_today(
    client: TestClient, store: Store, teamflow: Source, book: Playbook
) -> None:
    own = own_source(teamflow)
    try:
        decisions = deciding.decide(store, own, book, AS_OF)
    finally:
        own.close()
    plays = [d.play for d in decisions if d.play is not None]
    assert plays  # the generated history fires on its last day
    sign_in(client, "ana")
    page = client.get("/playbook?dry_run=1", headers=HTML).text
    assert f'<dd id="would-fire">{len(plays):,}</dd>' in page
    assert f'<dd id="dry-decisions">{len(decisions):,}</dd>' in page
    for reason, n in Counter(d.reason for d in decisions if d.action == "skipped").items():
        assert f'<dd id="skipped-{reason}">{n:,}</dd>' in page
    linked = re.findall(r'<a href="/accounts/([^"]+)">', page)
    assert sorted(linked) == sorted(p.account_id for p in plays)
    assert 'id="recorded"' not in page
    store.record_run(AS_OF, decisions, book.version)
    page = client.get("/playbook?dry_run=1", headers=HTML).text
    assert 'id="recorded"' in page and f'<dd id="would-fire">{len(plays):,}</dd>' in page
    assert runs.list_runs(store)[1] == 0  # a dry run records nothing


def test_versions_are_listed_with_their_runs_and_plays_and_compared(
    store: Store, teamflow: Source, book: Playbook
) -> None:
    t0 = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
    versions.record_version(store, book, now=t0)
    decisions = [d for d in deciding.decide(store, teamflow, book, AS_OF) if d.play is not None]
    store.record_run(AS_OF, decisions, book.version)
    runs.start_run(store, "run", book.version, as_of=AS_OF)
    text = book.path.read_text()
    book.path.write_text(text.replace('when: "seat_utilisation > 0.85"',
                                      'when: "seat_utilisation > 0.8"'))  # fmt: skip
    newer = load_playbook(book.path, types())
    versions.record_version(store, newer, now=t0 + dt.timedelta(days=1))
    with TestClient(create_app(Serve(store, [], source=teamflow, as_of=AS_OF,
                                     playbook=newer))) as c:  # fmt: skip
        sign_in(c, "ana")
        page = c.get("/playbook", headers=HTML).text
        assert cells(page, f"version-{newer.version}") == [
            f"{newer.version} current", "TeamFlow expansion", "playbook.yaml", "2026-09-02 00:00",
            "0", "0", "changes",
        ]  # fmt: skip
        assert cells(page, f"version-{book.version}")[4:6] == ["1", f"{len(decisions):,}"]
        assert f'href="/playbook?diff={newer.version}#diff"' in page
        page = c.get(f"/playbook?diff={newer.version}", headers=HTML).text
    assert f"Changes in {newer.version} since {book.version}" in page
    assert '<span class="del">-    when: &#34;seat_utilisation &gt; 0.85&#34;</span>' in page
    assert '<span class="add">+    when: &#34;seat_utilisation &gt; 0.8&#34;</span>' in page


def test_validation_gives_the_checks_errors_with_line_and_column(
    store: Store, teamflow: Source, book: Playbook
) -> None:
    text = book.path.read_text()
    book.path.write_text(text.replace('"seat_utilisation > 0.85"', '"seat_utilisation >> 0.85"'))
    checked = CliRunner().invoke(app, ["check", str(book.path)])
    assert checked.exit_code == 1
    said = checked.stderr.removeprefix("error: ").strip()  # as headroom check says it
    assert re.match(r"playbook\.yaml:\d+:\d+: ", said), said
    with TestClient(create_app(Serve(store, [], source=teamflow, as_of=AS_OF,
                                     playbook=book))) as c:  # fmt: skip
        sign_in(c, "ana")
        page = c.get("/playbook", headers=HTML).text
    assert f'<li class="finding error">error: {escape(said)}</li>' in page
    assert "as it is now on disk does not load" in page


def test_validation_warns_of_signals_the_source_cannot_feed(store: Store, tmp_path: Path) -> None:
    source = load(scenario.write_source(tmp_path / "small"), today=dt.date(2026, 5, 1))
    path = tmp_path / "small.yaml"
    line = '    when: "seat_utilisation > 0.5 and events_gated_feature_attempt_14d >= 2"'
    path.write_text(f"name: small\ntriggers:\n  - id: gated\n{line}\n    offer: tier\n")
    book = load_playbook(path, types())
    try:
        with TestClient(create_app(Serve(store, [], source=source, as_of=dt.date(2026, 4, 29),
                                         playbook=book))) as c:  # fmt: skip
            sign_in(c, "ana")
            page = c.get("/playbook", headers=HTML).text
    finally:
        source.close()
    column = line.index("events_gated") + 1
    assert (f"warning: small.yaml:4:{column}: events_gated_feature_attempt_14d has no values "
            "from this source: it needs events; add those tables to the source, or leave the "
            "signal out") in page  # fmt: skip
    assert "warning: small.yaml: no templates/ beside the playbook" in page
    assert "small.yaml is valid, with warnings:" in page
