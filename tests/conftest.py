"""Shared fixtures: every test loads into its own workspace, never the checkout's .headroom."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from headroom.config import settings
from tests import parts


@pytest.fixture(autouse=True)
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """HEADROOM_WORKSPACE in the test's temporary folder (settings are read once, so reset)."""
    monkeypatch.setenv("HEADROOM_WORKSPACE", str(tmp_path / "workspace"))
    settings.cache_clear()
    yield tmp_path / "workspace"
    settings.cache_clear()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.sqlite'}"
        monkeypatch.setenv("HEADROOM_DATABASE_URL", url)
        settings.cache_clear()
        yield url
        return
    base = parts.database_url()
    import psycopg

    name = f"headroom_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as con:
        con.execute(f"create database {name}")
    url = base.rsplit("/", 1)[0] + f"/{name}"
    monkeypatch.setenv("HEADROOM_DATABASE_URL", url)
    settings.cache_clear()
    try:
        yield url
    finally:
        with psycopg.connect(base, autocommit=True) as con:
            con.execute(f"drop database {name} with (force)")


@pytest.fixture(scope="session")
def teamflow(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """A generated TeamFlow source per set of generator options, made once per session (and
    worker) and shared by the tests that ask for the same one: read it, never change it."""
    from headroom.generate import Options, generate

    made: dict[str, Path] = {}

    def get(**options: Any) -> Path:
        key = repr(sorted(options.items()))
        if key not in made:
            folder = tmp_path_factory.mktemp("teamflow") / "tf"
            generate(folder, Options(**options))
            made[key] = folder
        return made[key]

    return get
