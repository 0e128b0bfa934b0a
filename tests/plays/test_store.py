"""The state store: migrated on open, on SQLite and PostgreSQL; plays listed and recorded."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text
from typer.testing import CliRunner

from headroom.cli.main import app
from headroom.config import settings
from headroom.store.database import Store
from tests.plays.helpers import add_play


def test_opening_migrates_and_reopening_changes_nothing(store_url: str) -> None:
    store = Store()
    try:
        tables = set(inspect(store.engine).get_table_names())
        with store.engine.connect() as con:
            head = con.execute(text("select version_num from alembic_version")).scalar_one()
    finally:
        store.close()
    assert {"plays", "decisions", "deliveries", "users", "api_tokens", "alembic_version"} <= tables
    assert head == "0010"
    Store().close()  # a second open upgrades nothing and fails nothing


def test_list_and_record_through_the_cli(store_url: str) -> None:
    store = Store()
    try:
        add_play(store, "p1", priority=2)
        add_play(store, "p2", priority=1)
    finally:
        store.close()
    runner = CliRunner()
    result = runner.invoke(app, ["plays", "list", "--status", "open", "--format", "json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert [p["play_id"] for p in listed] == ["p2", "p1"]  # highest priority first
    assert listed[0]["evidence"] == {"seat_utilisation": 0.9, "days_above": 7}

    result = runner.invoke(
        app, ["plays", "record", "p1", "--outcome", "won", "--amount-mrr", "250", "--on",
              "2026-03-20", "--format", "json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert (body["status"], body["outcome_on"], body["amount_mrr"]) == ("won", "2026-03-20", 250)
    result = runner.invoke(app, ["plays", "list", "--status", "open", "--format", "json"])
    assert [p["play_id"] for p in json.loads(result.stdout)] == ["p2"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["p9", "--outcome", "won"], "no play 'p9' in the state store; headroom plays list "
         "shows the play ids"),
        (["p1", "--outcome", "maybe"], "--outcome 'maybe' is not an outcome; use one of "
         "contacted, won, lost, declined"),
        (["p1", "--outcome", "lost", "--amount-mrr", "5"], "--amount-mrr goes with a won play, "
         "not lost; leave it out"),
        (["p1", "--outcome", "won", "--amount-mrr", "lots"], "--amount-mrr 'lots' is not a "
         "number; e.g. --amount-mrr 250"),
        (["p1", "--outcome", "won", "--amount-mrr", "Infinity"], "--amount-mrr Infinity is not "
         "a finite number; pass the added MRR"),
        (["p1", "--outcome", "won", "--amount-mrr", "NaN"], "--amount-mrr NaN is not a finite "
         "number; pass the added MRR"),
        (["p1", "--outcome", "won", "--amount-mrr", "1e23"], "--amount-mrr 1E+23 is too large "
         "(amounts are below 100,000,000,000,000); pass the added MRR"),
    ],
)  # fmt: skip
def test_bad_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str],
                     message: str) -> None:  # fmt: skip
    monkeypatch.setenv("HEADROOM_DATABASE_URL", f"sqlite:///{tmp_path / 's.sqlite'}")
    settings.cache_clear()
    store = Store()
    try:
        add_play(store, "p1")
    finally:
        store.close()
    result = CliRunner().invoke(app, ["plays", "record", *args])
    assert result.exit_code == 1
    assert result.stderr == f"error: {message}\n"


def test_an_outcome_is_final(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADROOM_DATABASE_URL", f"sqlite:///{tmp_path / 's.sqlite'}")
    settings.cache_clear()
    store = Store()
    try:
        add_play(store, "p1")
        store.record("p1", "declined")
    finally:
        store.close()
    result = CliRunner().invoke(app, ["plays", "record", "p1", "--outcome", "won"])
    assert result.stderr == (
        "error: play p1 is already declined; outcomes are final once won, lost or declined\n"
    )


def test_an_unreachable_store_is_a_clean_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADROOM_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    settings.cache_clear()
    result = CliRunner().invoke(app, ["plays", "list"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot open the state store at ")
    assert result.stderr.endswith(
        "; check HEADROOM_DATABASE_URL, and that the database server is running\n"
    )


def test_an_old_store_is_upgraded_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from alembic import command

    from headroom.store.database import _alembic

    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    command.upgrade(_alembic(url), "0001")  # a store made by the first release
    with _raw(url) as con:
        con.execute(
            text(
                "insert into plays (play_id, account_id, trigger, fired_on, due_at, owner, "
                "offer, priority, evidence, playbook_version, status, created_at) values "
                "('old', 'a', 't', '2026-01-01', '2026-01-02T09:00:00+09:00', 'csm', 'seats', "
                "1, '{}', 'v0', 'open', '2026-01-01 00:00:00')"
            )
        )
        con.commit()
    monkeypatch.setenv("HEADROOM_DATABASE_URL", url)
    settings.cache_clear()
    store = Store()
    try:
        [play] = store.plays()
    finally:
        store.close()
    assert (play.play_id, play.notify, play.sla_due_at) == ("old", [], None)
    # the queue's UTC deadline, filled in from the due time (09:00 in Tokyo is midnight UTC)
    assert play.deadline_at.replace(tzinfo=None) == dt.datetime(2026, 1, 2, 0, 0)


def _raw(url: str) -> Any:
    from sqlalchemy import create_engine

    return create_engine(url).connect()


def test_the_migrations_build_exactly_the_models(store_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from headroom.store.models import Base

    store = Store()
    try:
        with store.engine.connect() as con:
            diff = compare_metadata(MigrationContext.configure(con), Base.metadata)
    finally:
        store.close()
    assert diff == []
