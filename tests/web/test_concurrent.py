"""Account pages asked for at once, through the app as a browser asks for them: the server works
on several at the same time (one batch on each of its engines, the pages asked meanwhile
gathered into the next), and each page is the one its account gets when asked alone: no row of
one account reaches another's page."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from headroom.sources import Source, load
from headroom.store.database import Store
from headroom.usecases.account import ENGINES, AccountViews
from headroom.users import add_user
from headroom.web.app import create_app
from headroom.web.parts import Serve
from tests.web.helpers import HTML, PASSWORD, sign_in

AS_OF = dt.date(2026, 6, 30)


@pytest.fixture(scope="module")
def teamflow(teamflow: Callable[..., Path]) -> Iterator[Source]:
    """The session's generated TeamFlow (30 accounts, 200 days), loaded."""
    folder = teamflow(accounts=30, days=200, end=AS_OF)
    source = load(folder, today=AS_OF + dt.timedelta(days=1))
    yield source
    source.close()


def _until(done: Any, what: str) -> None:
    for _ in range(1200):
        if done():
            return
        time.sleep(0.05)
    raise AssertionError(f"waited a minute for {what}")


def test_pages_asked_at_once_are_served_together_each_with_its_own_rows(
    teamflow: Source, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(f"sqlite:///{tmp_path / 'state.sqlite'}")
    add_user(store, "boss", "manager", PASSWORD)
    ids = teamflow.table("accounts").account_id.to_pyarrow().to_pylist()
    accounts = sorted(ids)[: ENGINES + 6]
    try:
        with TestClient(create_app(Serve(store, [], source=teamflow, as_of=AS_OF))) as c:
            sign_in(c, "boss")
            alone = {}
            for a in accounts:  # one at a time
                page = c.get(f"/accounts/{a}", headers=HTML)
                assert page.status_code == 200, page.text
                alone[a] = page.text
            for a, html in alone.items():  # its own account, no other
                assert [b for b in accounts if b in html] == [a]

            # Hold the engines' first batches until every page has been asked for.
            gate = threading.Event()
            batches: list[list[str]] = []
            held: list[AccountViews] = []
            compute = AccountViews._compute

            def gated(self: AccountViews, engine: Any, batch: list[Any], as_of: dt.date) -> None:
                batches.append([b.account_id for b in batch])
                held.append(self)
                if len(batches) <= ENGINES:
                    assert gate.wait(60)
                compute(self, engine, batch, as_of)

            monkeypatch.setattr(AccountViews, "_compute", gated)
            asked: dict[str, Future[Any]] = {}
            with ThreadPoolExecutor(len(accounts)) as pool:
                for a in accounts[:ENGINES]:  # each taken by an engine at once
                    asked[a] = pool.submit(c.get, f"/accounts/{a}", headers=HTML)
                    _until(lambda n=len(asked): len(batches) == n, f"the page of {a} to start")
                for a in reversed(accounts[ENGINES:]):  # these wait for an engine
                    asked[a] = pool.submit(c.get, f"/accounts/{a}", headers=HTML)
                views = held[0]
                _until(lambda: len(views._asked) == len(accounts) - ENGINES, "every page")
                gate.set()
                together = {a: f.result() for a, f in asked.items()}
    finally:
        store.close()
    for a, page in together.items():
        assert page.status_code == 200, page.text
        assert page.text == alone[a], a
    # the engines worked on their pages at the same time, and then on all the others at once
    assert batches[:ENGINES] == [[a] for a in accounts[:ENGINES]]
    assert sorted(batches[ENGINES]) == sorted(accounts[ENGINES:])
    assert len(batches) == ENGINES + 1
