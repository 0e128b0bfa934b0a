"""The state store: what headroom keeps between runs (plays, decisions, deliveries, ingested
events, users and their sessions, runs, playbook versions), in SQLite or PostgreSQL.

``models`` holds the tables, ``migrations`` their history (Alembic), ``database`` the
:class:`~headroom.store.database.Store` that opens, migrates and writes them. The queries of
each area live beside that area (``headroom.plays.queue``, ``headroom.users``, ...) and reach
the tables through here: the store itself knows no area.
"""
