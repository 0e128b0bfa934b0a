"""Fixtures of the source tests: a PostgreSQL schema of their own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.parts import database_url, missing


@pytest.fixture
def pg_schema() -> Iterator[tuple[str, str, Any]]:
    """A fresh PostgreSQL schema: (url, schema name, autocommit connection); dropped after."""
    url = database_url()
    try:
        import psycopg
    except ImportError:
        missing("psycopg is not installed (the postgres extra)")
    schema = f"headroom_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as con:
        con.execute(f"create schema {schema}")
        try:
            yield url, schema, con
        finally:
            con.execute(f"drop schema {schema} cascade")
