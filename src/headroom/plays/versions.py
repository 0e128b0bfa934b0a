"""The playbook's versions as the state store keeps them: each version (its content hash, which
plays, decisions and runs carry) kept with its text the first time it is used, so that the
Playbook page can list them, show one and compare it with the one before."""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from headroom.errors import NotFoundError
from headroom.playbook.model import Playbook
from headroom.store.database import Store, aware
from headroom.store.models import Play, PlaybookVersion
from headroom.store.models import Run as RunRow


@dataclass(frozen=True)
class VersionInfo:
    """A version of the playbook, with how many runs and plays carry it (``text`` only when
    one version is asked for)."""

    version: str
    name: str
    file_name: str
    first_seen_at: dt.datetime
    runs: int
    plays: int
    text: str | None = None


@dataclass(frozen=True)
class VersionDiff:
    """A version against the one first seen before it (None: it is the first)."""

    version: VersionInfo
    previous: VersionInfo | None
    lines: list[str]  # a unified diff, previous to this


def record_version(store: Store, book: Playbook, now: dt.datetime | None = None) -> str:
    """Keep the playbook's text under its version, if this version is new; its version.

    The file is read again here: if it changed since it was loaded (its hash is no longer the
    version) or is gone, nothing is kept, rather than a text under a version it does not have
    (the run goes on: its plays carry the version all the same)."""
    try:
        raw = book.path.read_bytes()
    except OSError:
        return book.version
    if hashlib.sha256(raw).hexdigest()[:12] != book.version:
        return book.version
    with store.session() as s:
        if s.get(PlaybookVersion, book.version) is not None:
            return book.version
    try:
        with store.session() as s:
            s.add(
                PlaybookVersion(
                    version=book.version,
                    name=book.model.name[:200],
                    file_name=book.path.name[:500],
                    text=raw.decode("utf-8"),
                    first_seen_at=now or dt.datetime.now(dt.UTC),
                )
            )
    except IntegrityError:  # another process kept the same version first: that is the record
        pass
    return book.version


def texts(store: Store) -> dict[str, str]:
    """Every kept version's playbook text, by version."""
    with store.session() as s:
        rows = s.execute(select(PlaybookVersion.version, PlaybookVersion.text)).all()
    return {str(v): str(t) for v, t in rows}


def _per_version(s: Session, model: type[RunRow] | type[Play]) -> dict[str, int]:
    """How many rows of ``model`` (runs, plays) each playbook version has."""
    q = select(model.playbook_version, func.count()).group_by(model.playbook_version)
    return {str(v): int(n) for v, n in s.execute(q)}


def versions(store: Store) -> list[VersionInfo]:
    """Every kept version of the playbook, newest first, with its runs and plays counted."""
    with store.session() as s:
        runs, plays = _per_version(s, RunRow), _per_version(s, Play)
        rows = s.execute(
            select(
                PlaybookVersion.version,
                PlaybookVersion.name,
                PlaybookVersion.file_name,
                PlaybookVersion.first_seen_at,
            ).order_by(PlaybookVersion.first_seen_at.desc(), PlaybookVersion.version)
        ).all()
    return [
        VersionInfo(v, name, file_name, aware(seen), runs.get(v, 0), plays.get(v, 0))
        for v, name, file_name, seen in rows
    ]


def get_version(store: Store, version: str) -> VersionInfo:
    """One kept version with its text."""
    with store.session() as s:
        row = s.get(PlaybookVersion, version)
        if row is None:
            raise NotFoundError(
                f"no playbook version {version!r}",
                fix="the Playbook page lists the versions kept",
            )
        runs = s.scalar(select(func.count()).where(RunRow.playbook_version == version)) or 0
        plays = s.scalar(select(func.count()).where(Play.playbook_version == version)) or 0
        return VersionInfo(
            row.version, row.name, row.file_name, aware(row.first_seen_at), runs, plays, row.text
        )


def version_diff(store: Store, version: str) -> VersionDiff:
    """A version against the one kept before it, as a unified diff."""
    this = get_version(store, version)
    with store.session() as s:
        before = s.scalars(
            select(PlaybookVersion.version)
            .where(PlaybookVersion.first_seen_at < this.first_seen_at)
            .order_by(PlaybookVersion.first_seen_at.desc())
            .limit(1)
        ).first()
    previous = get_version(store, before) if before is not None else None
    old = previous.text or "" if previous is not None else ""
    lines = difflib.unified_diff(
        old.splitlines(),
        (this.text or "").splitlines(),
        fromfile=f"{previous.file_name} ({previous.version})" if previous else "(nothing)",
        tofile=f"{this.file_name} ({this.version})",
        lineterm="",
    )
    return VersionDiff(this, previous, list(lines))
