"""Stored runs, backtests and playbook versions (:mod:`headroom.plays.runs`): migration 0005 on
SQLite and PostgreSQL, recording, paging, failures and version diffs."""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text, update

from headroom.errors import NotFoundError, UsageError
from headroom.playbook.model import Playbook, load_playbook
from headroom.plays import runs, versions
from headroom.signals.registry import types
from headroom.store.database import Store, _alembic
from headroom.store.models import Play
from headroom.triggers.decisions import Decision
from tests import parts
from tests.plays.helpers import add_play

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
T0 = dt.datetime(2026, 9, 1, 8, 0, tzinfo=dt.UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.sqlite'}"
        return
    base = parts.database_url()
    import psycopg

    name = f"headroom_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as con:
        con.execute(f"create database {name}")
    try:
        yield base.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(base, autocommit=True) as con:
            con.execute(f"drop database {name} with (force)")


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    s = Store(url)
    yield s
    s.close()


@pytest.fixture
def book(tmp_path: Path) -> Playbook:
    """The TeamFlow playbook, copied so that a test may edit it."""
    folder = tmp_path / "teamflow"
    shutil.copytree(EXAMPLES / "teamflow", folder)
    return load_playbook(folder / "playbook.yaml", types())


def test_migration_0005_adds_the_tables_keeps_the_plays_and_goes_back(url: str) -> None:
    opened = Store(url)  # migrated to head
    sqlalchemy_url = opened.url  # with the driver's name
    opened.close()
    cfg = _alembic(sqlalchemy_url)
    command.downgrade(cfg, "0004")
    engine = create_engine(sqlalchemy_url)
    try:
        assert not {"runs", "playbook_versions"} & set(inspect(engine).get_table_names())
        store = Store(url)  # opening upgrades in place, with a play already kept
        add_play(store, "p1")
        runs.start_run(store, "run", "abc123", as_of=dt.date(2026, 3, 9))
        store.close()
        command.downgrade(cfg, "0004")
        assert "runs" not in inspect(engine).get_table_names()
        command.upgrade(cfg, "head")
        with engine.connect() as con:
            head = con.execute(text("select version_num from alembic_version")).scalar_one()
            plays = con.execute(text("select play_id from plays")).scalars().all()
        columns = {c["name"] for c in inspect(engine).get_columns("runs")}
        indexes = {i["name"] for i in inspect(engine).get_indexes("runs")}
    finally:
        engine.dispose()
    # head: 0005 or a later migration on top of it
    assert head == ScriptDirectory.from_config(cfg).get_current_head() and plays == ["p1"]
    assert {"id", "kind", "status", "started_at", "finished_at", "as_of", "start_date",
            "end_date", "horizon_days", "sweep", "playbook_version", "plays_fired", "decisions",
            "result", "error", "started_by", "source", "heartbeat_at"} == columns  # fmt: skip
    assert {"ix_runs_kind_started", "ix_runs_status", "ix_runs_playbook_version"} <= indexes


def test_runs_are_recorded_listed_newest_first_and_read_back(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # recorded as of T0, long ago, by no process that beats: not taken for dead here
    monkeypatch.setattr(runs, "STALE", dt.timedelta(days=365_000))
    made = []
    for i in range(5):
        kind: runs.Kind = "backtest" if i % 2 == 0 else "run"
        r = runs.start_run(
            store, kind, "v1", "boss", start=dt.date(2026, 3, 1), end=dt.date(2026, 3, 31),
            horizon_days=30, now=T0 + dt.timedelta(minutes=i),
        )  # fmt: skip
        made.append(r)
    assert made[0].status == "running" and made[0].started_at == T0
    result = {"start": dt.date(2026, 3, 1), "triggers": [{"trigger": "(all)", "fired": 7}],
              "base_rate": float("nan")}  # fmt: skip
    done = runs.finish_run(store, made[0].id, result, plays_fired=7, now=T0 + dt.timedelta(hours=1))
    assert (done.status, done.plays_fired, done.finished_at) == (
        "finished", 7, T0 + dt.timedelta(hours=1)
    )  # fmt: skip
    failed = runs.fail_run(store, made[1].id, "the source has no usage; load one")
    assert (failed.status, failed.error) == ("failed", "the source has no usage; load one")

    page, total = runs.list_runs(store, limit=2, offset=1)
    assert total == 5 and [r.id for r in page] == [made[3].id, made[2].id]
    assert all(r.result is None for r in page)  # lists leave the results in the store
    backtests, total = runs.list_runs(store, kind="backtest")
    assert total == 3 and [r.id for r in backtests] == [made[4].id, made[2].id, made[0].id]
    assert [r.id for r in runs.list_runs(store, status="failed")[0]] == [made[1].id]

    got = runs.get_run(store, made[0].id)
    # dates as ISO text and NaN as null: the result is JSON on every database
    assert got.result == {"start": "2026-03-01", "triggers": [{"trigger": "(all)", "fired": 7}],
                          "base_rate": None}  # fmt: skip
    assert (got.start, got.end, got.horizon_days, got.started_by) == (
        dt.date(2026, 3, 1), dt.date(2026, 3, 31), 30, "boss"
    )  # fmt: skip
    latest = runs.latest_run(store, "backtest")
    assert latest is not None and latest.id == made[0].id  # the newest finished one
    assert runs.latest_run(store, "run") is None  # the only run failed; the other runs


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: runs.get_run(s, 42),
         "no run 42; the Backtest page and GET /api/v1/runs list the runs"),
        (lambda s: runs.list_runs(s, kind="sweep"), "kind 'sweep' is not a kind of run; use run "
         "or backtest"),
        (lambda s: runs.list_runs(s, status="done"), "status 'done' is not a status of a run; "
         "use one of running, finished, failed"),
        (lambda s: runs.list_runs(s, limit=0), "limit 0 and offset 0 do not make a page; give a "
         "limit of at least 1 and an offset of at least 0"),
        (lambda s: versions.get_version(s, "nope"), "no playbook version 'nope'; the Playbook page "
         "lists the versions kept"),
    ],
)  # fmt: skip
def test_asking_for_what_is_not_there(store: Store, call: object, message: str) -> None:
    with pytest.raises((NotFoundError, UsageError)) as err:
        call(store)  # type: ignore[operator]
    assert str(err.value) == message


def test_a_failing_block_is_recorded_as_failed_and_the_error_goes_on(store: Store) -> None:
    with pytest.raises(UsageError), runs.recording(store, "backtest", "v1") as run:
        raise UsageError("--end 2026-04-30 is before --start 2026-05-01", fix="swap them")
    assert runs.get_run(store, run.id).error == (
        "--end 2026-04-30 is before --start 2026-05-01; swap them"
    )
    with pytest.raises(ZeroDivisionError), runs.recording(store, "run", "v1") as run:
        _ = 1 / 0
    got = runs.get_run(store, run.id)
    assert (got.status, got.error) == (
        "failed", "headroom failed unexpectedly (ZeroDivisionError); this is a bug in headroom"
    )  # fmt: skip


def test_versions_are_kept_once_counted_and_compared(store: Store, book: Playbook) -> None:
    first = book.path.read_text()
    assert versions.record_version(store, book, now=T0) == book.version
    assert versions.record_version(store, book, now=T0 + dt.timedelta(days=1)) == book.version
    add_play(store, "p1")
    add_play(store, "p2")
    with store.session() as s:  # p1 was fired by this version, p2 by one never kept
        s.execute(update(Play).where(Play.play_id == "p1").values(playbook_version=book.version))
    runs.start_run(store, "run", book.version, as_of=dt.date(2026, 9, 1))
    book.path.write_text(first.replace("> 0.85", "> 0.80"))
    newer = load_playbook(book.path, types())
    versions.record_version(store, newer, now=T0 + dt.timedelta(days=2))

    kept = versions.versions(store)
    assert [(v.version, v.runs, v.plays) for v in kept] == [
        (newer.version, 0, 0), (book.version, 1, 1)
    ]  # fmt: skip
    assert kept[1].first_seen_at == T0 and kept[1].file_name == "playbook.yaml"
    assert versions.get_version(store, book.version).text == first

    d = versions.version_diff(store, newer.version)
    assert d.previous is not None and d.previous.version == book.version
    changed = [line for line in d.lines if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    old_line = next(line for line in first.splitlines() if "> 0.85" in line)
    assert changed == ["-" + old_line, "+" + old_line.replace("> 0.85", "> 0.80")]
    assert versions.version_diff(store, book.version).previous is None


def test_a_file_changed_since_it_was_loaded_is_not_kept_under_the_old_version(
    store: Store, book: Playbook
) -> None:
    book.path.write_text(book.path.read_text() + "\n# edited\n")
    assert versions.record_version(store, book) == book.version
    book.path.unlink()  # gone: the run goes on, and keeps no text either
    assert versions.record_version(store, book) == book.version
    assert versions.versions(store) == []


def test_a_runs_summary_counts_plays_and_skips_by_reason() -> None:
    decisions = [
        Decision("a1", "seat", "fired"),
        Decision("a2", "seat", "skipped", "cooldown"),
        Decision("a3", "seat", "skipped", "cooldown"),
        Decision("a4", "tier", "skipped", "suppressed", dt.date(2026, 12, 1)),
    ]
    assert runs.summary(dt.date(2026, 9, 1), decisions, ["seat", "tier", "quiet"]) == {
        "as_of": dt.date(2026, 9, 1),
        "triggers": [
            {"trigger": "seat", "fired": 1, "skipped": {"cooldown": 2}},
            {"trigger": "tier", "fired": 0, "skipped": {"suppressed": 1}},
            {"trigger": "quiet", "fired": 0, "skipped": {}},
        ],
    }
