"""``headroom store backup|restore``: a consistent copy of the state store, even while another
process writes to it, put back whole; PostgreSQL is sent to its own tools, saying how."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from headroom.cli.main import app
from headroom.config import settings
from headroom.store.database import Store
from headroom.users import add_user, users

PASSWORD = "correct horse battery staple"


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stderr


@pytest.fixture
def sqlite_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "state.sqlite"
    monkeypatch.setenv("HEADROOM_DATABASE_URL", f"sqlite:///{path}")
    settings.cache_clear()
    return path


def logins() -> list[str]:
    with Store() as store:
        return sorted(u.login for u in users(store))


def test_a_backup_taken_while_another_writes_restores_what_it_held(
    sqlite_store: Path, tmp_path: Path
) -> None:
    with Store() as store:
        add_user(store, "ana", "csm", PASSWORD)
    stop = threading.Event()
    busy = Store()  # opened (and migrated) first: Alembic's migration state is per process

    def write() -> None:  # another writer, going on while the backup is taken
        n = 0
        while not stop.is_set() and n < 200:
            add_user(busy, f"busy{n}", "ae", PASSWORD)
            n += 1

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert cli("store", "backup", str(tmp_path / "b.sqlite"))[0] == 0
    finally:
        stop.set()
        writer.join()
        busy.close()
    with sqlite3.connect(tmp_path / "b.sqlite") as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        kept = {r[0] for r in copy.execute("SELECT login FROM users")}
    assert "ana" in kept
    with Store() as store:
        add_user(store, "late", "ae", PASSWORD)  # after the backup: gone once it is restored
    assert cli("store", "restore", str(tmp_path / "b.sqlite"), "--yes")[0] == 0
    assert set(logins()) == kept


def test_refusals_say_what_and_how(sqlite_store: Path, tmp_path: Path) -> None:
    with Store():
        pass
    (tmp_path / "taken").write_text("x")
    assert cli("store", "backup", str(tmp_path / "taken")) == (1, (
        f"error: {tmp_path / 'taken'} already exists; name a new file; a backup never "
        "overwrites one\n"
    ))  # fmt: skip
    assert cli("store", "restore", str(tmp_path / "taken"), "--yes") == (1, (
        f"error: {tmp_path / 'taken'} is not a backup of a headroom store (it has no plays); "
        "name a file headroom store backup made\n"
    ))  # fmt: skip
    (tmp_path / "noise").write_bytes(b"not a database, " * 64)
    assert cli("store", "restore", str(tmp_path / "noise"), "--yes") == (1, (
        f"error: {tmp_path / 'noise'} is not an SQLite database (file is not a database); name "
        "a file headroom store backup made\n"
    ))  # fmt: skip
    with sqlite3.connect(tmp_path / "other.sqlite") as other:
        other.execute("CREATE TABLE t (x)")
    other.close()
    assert cli("store", "restore", str(tmp_path / "other.sqlite"), "--yes") == (1, (
        f"error: {tmp_path / 'other.sqlite'} is not a backup of a headroom store (it has no "
        "plays); name a file headroom store backup made\n"
    ))  # fmt: skip


def test_an_sqlite_store_is_copied_and_postgresql_sent_to_its_own_tools(
    store_url: str, tmp_path: Path
) -> None:
    code, err = cli("store", "backup", str(tmp_path / "b"))
    if store_url.startswith("sqlite"):
        assert code == 0 and err.startswith(f"backed up the state store to {tmp_path / 'b'} (")
        return
    assert (code, err) == (1, (
        "error: headroom store backup copies an SQLite store; this one is postgresql+psycopg; "
        "back up PostgreSQL with pg_dump -Fc and restore it with pg_restore (see docs/deploy.md)\n"
    ))  # fmt: skip
