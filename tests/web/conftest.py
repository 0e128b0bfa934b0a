"""Fixtures of the web tests: a state store with people and plays; a run with a receiver."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from headroom.cli.main import app
from headroom.store.database import Store
from headroom.users import add_user
from tests.delivery.helpers import DAY, playbook_with, source
from tests.delivery.receivers import SECRET, Hook
from tests.triggers.scenarios import days
from tests.web.helpers import PASSWORD, play_row

#: login, role, owner
PEOPLE = [
    ("root", "admin", "root"),
    ("boss", "manager", "boss"),
    ("ana", "csm", "Ana Lima"),
    ("ed", "ae", "Ed Park"),
]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'state.sqlite'}")
    for login, role, owner in PEOPLE:
        add_user(s, login, role, PASSWORD, owner)
    with s.session() as db:
        db.add_all([
            play_row("p1", "Ana Lima", 2, 48),
            play_row("p2", "Ana Lima", 1, -2),  # overdue
            play_row("p3", "Ed Park", 1, 5, trigger="tier_upgrade_usage", segment="enterprise"),
            play_row("p4", "Ana Lima", 1, 72, status="won"),  # closed: not in the queue
        ])  # fmt: skip
    yield s
    s.close()


DELIVERY = """channels:
  hook: {{kind: webhook, url: "{hook}", secret: "${{TEST_HOOK_SECRET}}", timeout: 5}}
send:
  csm: {{channel: hook, to: "{{{{ account.csm }}}}", approve: true}}
"""


@pytest.fixture
def ran(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Hook]:
    monkeypatch.setenv("TEST_HOOK_SECRET", SECRET)
    hook = Hook().up()
    book = playbook_with(tmp_path / "book", DELIVERY.format(hook=hook.url))
    folder = source(tmp_path / "src")
    # a2 (Business: 500 GB) fills its storage a little more every day
    growth = [(d, 200 + 2 * i) for i, d in enumerate(days(dt.date(2025, 12, 1), DAY))]
    with (folder / "usage_daily.csv").open("a") as f:
        f.writelines(f"a2,{d},storage_gb,{v}\n" for d, v in growth)
        # a4 fires the same trigger as a2: once a2's play is won, a4's has a size and a value
        f.writelines(f"a4,{d},active_users,9\n" for d in days(dt.date(2026, 2, 1), DAY))
    with (folder / "accounts.csv").open("a") as f:
        f.write("a4,smb,healthy,2025-02-01,America/Los_Angeles,csm.a4@example.com,"
                "ae.a4@example.com\n")  # fmt: skip
    with (folder / "subscriptions.csv").open("a") as f:
        f.write("s_a4,a4,2025-01-15,,1500,Business,10,\n")
    run = CliRunner().invoke(app, ["run", str(folder), "--playbook", str(book), "--as-of",
                                   str(DAY)])  # fmt: skip
    assert run.exit_code == 0, run.output
    return folder, book, hook
