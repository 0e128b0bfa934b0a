"""Accounts' display names, for the pages that list accounts by id (the queue)."""

from __future__ import annotations

from collections.abc import Sequence

from headroom.sources import Source


def account_names(source: Source, ids: Sequence[str]) -> dict[str, str]:
    """The name of each of ``ids`` that the source's accounts table gives one (a page's worth:
    the ids are looked up, not the table read whole). ``source`` is used as it is: from another
    thread, pass one of its own (:meth:`Source.own`)."""
    if not ids:
        return {}
    t = source.table("accounts")
    if "name" not in t.columns:
        return {}
    rows = (
        t.filter(t.account_id.isin(sorted(set(ids))) & t.name.notnull())
        .select("account_id", "name")
        .to_pyarrow()
        .to_pylist()
    )
    return {str(r["account_id"]): str(r["name"]) for r in rows if r["name"]}
