"""An account's page end to end: a run holds the CSM's brief as a draft; the CSM signs in,
opens the account (usage against the plan limit with its projection, seat utilisation, the
decisions), edits and approves the brief, the worker sends it as edited to a real webhook
receiver, and the CSM records the play won."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from headroom.cli.main import app
from headroom.config import settings
from headroom.delivery.worker import deliveries
from headroom.sources import load
from headroom.store.database import Store
from headroom.usecases.account import account_view
from headroom.users import add_user
from headroom.web.app import create_app
from headroom.web.parts import Serve
from tests.delivery.helpers import DAY
from tests.delivery.receivers import Hook
from tests.web.helpers import HTML, PASSWORD, csrf_of, sign_in


def test_a_csm_edits_and_approves_the_draft_and_records_the_win(
    ran: tuple[Path, Path, Hook], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, book, hook = ran
    store = Store()
    src = load(folder)
    try:
        add_user(store, "csm.a2@example.com", "csm", PASSWORD)
        add_user(store, "csm.a1@example.com", "csm", PASSWORD)
        (play,) = [p for p in store.plays() if p.account_id == "a2"]
        (draft,) = [d for d in deliveries(store) if d.play_id == play.play_id]
        assert (draft.status, draft.kind) == ("draft", "brief")  # held: not sent
        with TestClient(create_app(Serve(store, [], source=src, as_of=DAY))) as c:
            sign_in(c, "csm.a2@example.com")
            queue = c.get("/queue", headers=HTML).text
            assert 'href="/accounts/a2"' in queue
            page = c.get("/accounts/a2", headers=HTML)
            assert page.status_code == 200, page.text
            html = page.text
            # usage against the plan's limit, with the projected day and its interval
            storage = html[html.index('id="usage-storage_gb"') :]
            storage = storage[: storage.index("</div>")]
            for part in ('class="series"', 'class="limit"', 'class="projection"',
                         'class="band"', "limit 500", "Reaches the limit in about"):  # fmt: skip
                assert part in storage, part
            assert 'aria-label="seat utilisation"' in html
            # a fired decision says why, as a skipped one does: the play's own words
            fired = re.search(r"<td>2026-03-07</td><td>seat_expansion_proactive</td>"
                              r'<td class="fired">fired</td>\s*<td><a href="#play-([^"]+)">'
                              r"([^<]+)</a></td>", html)  # fmt: skip
            assert fired is not None
            assert fired.group(1) == play.play_id
            assert fired.group(2).startswith("seat utilisation 90% for 15 days")
            assert "<dt>Plan</dt><dd>Business</dd>" in html
            # the JSON API gives the same account, with the same projection
            view = account_view(src, "a2", DAY)
            api = c.get("/api/v1/accounts/a2").json()
            (usage,) = [u for u in api["usage"] if u["metric"] == "storage_gb"]
            (want,) = [u for u in view.usage if u.metric == "storage_gb"]
            assert (usage["limit"], usage["status"], usage["days_to_limit"]) == (
                500.0, "projected", want.days)  # fmt: skip
            assert usage["projected_on"] == str(want.on(want.days, DAY))
            assert usage["points"][-1] == [str(want.points[-1][0]), want.points[-1][1]]
            assert api["facts"]["seats"] == view.facts["seats"]
            assert [p["play_id"] for p in api["plays"]] == [play.play_id]
            assert play.segment == "smb"  # recorded when it fired
            # edit and approve the brief
            edited = {"subject": "Seats for a2", "body": "Call them on Monday."}
            r = c.post(f"/deliveries/{draft.delivery_id}", headers=HTML, follow_redirects=False,
                       data={"csrf": csrf_of(html), "back": "/accounts/a2", "action": "approve",
                             **edited})  # fmt: skip
            assert (r.status_code, r.headers["location"]) == (303, "/accounts/a2")
            after = c.get("/accounts/a2", headers=HTML).text
            assert f'action="/deliveries/{draft.delivery_id}"' not in after  # no longer a draft

            # another CSM may look, not edit or record; where their role may not switch to
            # everyone's, not even look
            with TestClient(c.app) as other:
                sign_in(other, "csm.a1@example.com")
                seen = other.get("/accounts/a2", headers=HTML).text
                assert "Approve and send" not in seen and 'value="won"' not in seen
                r = other.post("/plays/" + draft.play_id + "/outcome", headers=HTML,
                               data={"csrf": csrf_of(seen), "outcome": "lost"})  # fmt: skip
                assert r.status_code == 403
                monkeypatch.setenv("HEADROOM_SWITCH_TO_ALL", "ae")
                settings.cache_clear()
                try:
                    refused = other.get("/api/v1/accounts/a2")
                    page = other.get("/accounts/a2", headers=HTML)
                finally:
                    monkeypatch.delenv("HEADROOM_SWITCH_TO_ALL")
                    settings.cache_clear()
                assert (refused.status_code, refused.json()["error"]["message"]) == (
                    403, "account 'a2' is not yours, and a csm sees only their own accounts here"
                )  # fmt: skip
                assert page.status_code == 403

            r = c.post(f"/plays/{draft.play_id}/outcome", headers=HTML, follow_redirects=False,
                       data={"csrf": csrf_of(after), "outcome": "won", "amount_mrr": "300",
                             "back": "/accounts/a2"})  # fmt: skip
            assert r.status_code == 303
            won = c.get("/accounts/a2", headers=HTML).text
            assert '<span class="status won">won</span> · +300.00 MRR' in won

        sent = CliRunner().invoke(app, ["deliver", str(book.parent / "delivery.yaml"), "--format",
                                        "json"])  # fmt: skip
        assert sent.exit_code == 0, sent.output
        assert json.loads(sent.output)["sent"] == 1
        ((_, data),) = hook.accepted.items()
        assert (data["data"]["subject"], data["data"]["body"]) == (
            edited["subject"], edited["body"])  # fmt: skip
    finally:
        src.close()
        store.close()
        hook.down()
