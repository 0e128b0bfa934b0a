"""A store made by every earlier schema version, with a row in each of its tables, migrates to
the newest one and keeps every row: its plays, decisions, users, deliveries and the rest, read
back through headroom's own functions (on SQLite and PostgreSQL).

The rows are made from the tables as that version had them (reflected, not written here), so a
new version is tested from the moment its migration exists: nothing here names one.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from headroom.delivery.worker import deliveries
from headroom.store.database import Store, _alembic
from headroom.users import users

AT = dt.datetime(2026, 3, 7, 9, 0, tzinfo=dt.UTC)
#: Values that mean something to headroom, by table and column (the rest are made up).
MEANT: dict[tuple[str, str], Any] = {
    ("plays", "status"): "open",
    ("deliveries", "status"): "queued",
    ("decisions", "action"): "fired",
    ("users", "role"): "admin",
    ("runs", "kind"): "run",
    ("runs", "status"): "finished",
    ("cycles", "status"): "finished",
}


def _versions() -> list[str]:
    script = ScriptDirectory.from_config(_alembic("sqlite://"))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def _value(table: str, column: sa.Column[Any]) -> Any:
    if (table, column.name) in MEANT:
        return MEANT[(table, column.name)]
    kind = column.type
    if isinstance(kind, sa.Integer):
        return 1_000_001  # past any sequence's next number
    if isinstance(kind, sa.Numeric):
        return Decimal("12.5000")
    if isinstance(kind, sa.DateTime):
        return AT
    if isinstance(kind, sa.Date):
        return AT.date()
    if isinstance(kind, sa.JSON):
        return [] if column.name in ("notify", "escalate", "steps") else {"kept": column.name}
    if isinstance(kind, sa.String | sa.Text):
        if column.name.endswith("_at"):  # times kept as text, with their offset
            return AT.isoformat()
        length = getattr(kind, "length", None) or 200
        return f"{table}.{column.name}"[:length]
    if isinstance(kind, sa.Boolean):
        return True
    raise AssertionError(f"no test value for {table}.{column.name} ({kind})")


def _url(store_url: str) -> str:
    return (
        "postgresql+psycopg://" + store_url.removeprefix("postgresql://")
        if store_url.startswith("postgresql://")
        else store_url
    )


@pytest.mark.parametrize("version", _versions()[:-1])
def test_a_store_of_each_earlier_version_keeps_its_rows_when_upgraded(
    version: str, store_url: str
) -> None:
    url = _url(store_url)
    command.upgrade(_alembic(url), version)
    engine = sa.create_engine(url)
    made: dict[str, dict[str, Any]] = {}
    try:
        meta = sa.MetaData()
        meta.reflect(engine)
        with engine.begin() as con:
            for table in meta.sorted_tables:
                if table.name == "alembic_version":
                    continue
                row = {c.name: _value(table.name, c) for c in table.columns}
                con.execute(table.insert().values(**row))
                made[table.name] = row
        assert {"plays", "decisions"} <= set(made)
        store = Store(url)  # opening it migrates it to the newest version
        try:
            assert store.unready() is None
            after = sa.MetaData()
            after.reflect(store.engine)
            with store.engine.connect() as con:
                for name, row in made.items():
                    kept = con.execute(sa.select(after.tables[name])).mappings().all()
                    assert len(kept) == 1, name
                    for column, value in row.items():
                        found = kept[0][column]
                        if isinstance(value, dt.datetime) and isinstance(found, dt.datetime):
                            found = found if found.tzinfo else found.replace(tzinfo=dt.UTC)
                        assert found == value, (name, column)
            # read back through headroom itself
            assert [p.play_id for p in store.plays()] == [made["plays"]["play_id"]]
            if "deliveries" in made:
                assert [d.delivery_id for d in deliveries(store)] == [
                    made["deliveries"]["delivery_id"]
                ]
            if "users" in made:
                assert [u.login for u in users(store)] == [made["users"]["login"]]
            recorded = store.recorded(made["decisions"]["as_of"], [made["decisions"]["trigger"]])
            assert [d.account_id for d in recorded[1]] == [made["decisions"]["account_id"]]
        finally:
            store.close()
    finally:
        engine.dispose()
