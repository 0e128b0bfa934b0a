"""Backing up and restoring the state store (plays, decisions, deliveries, users, runs).

An SQLite store is copied with SQLite's online backup, page by page under its own locks, so a
backup taken while ``headroom serve`` writes is a consistent snapshot, and a restore replaces the
store's contents in one step. A PostgreSQL store is backed up with PostgreSQL's own tools
(``pg_dump`` / ``pg_restore``, see docs/deploy.md): they know its roles, its extensions and
their versions, which a copy made here would not.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from headroom.errors import UsageError
from headroom.store.database import Store


def _sqlite_file(store: Store, doing: str) -> Path:
    if not store.url.startswith("sqlite:///"):
        scheme = store.url.split("://", 1)[0]
        raise UsageError(
            f"headroom store {doing} copies an SQLite store; this one is {scheme}",
            fix="back up PostgreSQL with pg_dump -Fc and restore it with pg_restore (see "
            "docs/deploy.md)",
        )
    return Path(store.url.removeprefix("sqlite:///"))


def backup(store: Store, target: Path) -> int:
    """Copy ``store`` into the new file ``target`` as it is now; its size in bytes."""
    source = _sqlite_file(store, "backup")
    if target.exists():
        raise UsageError(
            f"{target} already exists", fix="name a new file; a backup never overwrites one"
        )
    building = target.with_name(f".{target.name}.building")
    building.unlink(missing_ok=True)
    with sqlite3.connect(source) as src, sqlite3.connect(building) as dst:
        src.backup(dst)  # page by page, under SQLite's locks: a consistent snapshot
    dst.close()
    src.close()
    building.replace(target)  # whole or absent: a crash leaves no half backup under the name
    return target.stat().st_size


def restore(store: Store, backup_file: Path) -> None:
    """Replace ``store``'s contents with those of ``backup_file`` (a backup of a store)."""
    target = _sqlite_file(store, "restore")
    if not backup_file.is_file():
        raise UsageError(
            f"{backup_file}: no such file", fix="name a file headroom store backup made"
        )
    try:
        with sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True) as src:
            tables = {r[0] for r in src.execute("SELECT name FROM sqlite_master")}
            if "alembic_version" not in tables or "plays" not in tables:
                raise UsageError(
                    f"{backup_file} is not a backup of a headroom store (it has no plays)",
                    fix="name a file headroom store backup made",
                )
            with sqlite3.connect(target) as dst:
                src.backup(dst)  # under the store's own lock: readers see before or after
            dst.close()
        src.close()
    except sqlite3.DatabaseError as exc:
        raise UsageError(
            f"{backup_file} is not an SQLite database ({exc})",
            fix="name a file headroom store backup made",
        ) from None
