"""The web app in a real browser (Debian's Chromium driven by Playwright) against
``headroom serve`` as a process: a CSM signs in, opens the queue and an account, sees the usage
chart with the limit and projection, edits and approves the draft, records the play won with
an amount and sees the pipeline change. Every page is saved as a 1280x800 screenshot in
``.headroom/screenshots/`` of the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from headroom.cli.main import app
from headroom.config import settings
from headroom.delivery.worker import deliveries
from headroom.store.database import Store
from tests import parts
from tests.delivery.receivers import free_port
from tests.web.helpers import PASSWORD

SHOTS = Path(__file__).resolve().parents[2] / ".headroom" / "screenshots"


@pytest.fixture
def server(ran: tuple[Path, Path, object], tmp_path: Path) -> Iterator[str]:
    folder, book, _ = ran
    env = os.environ | {"HEADROOM_DATABASE_URL": settings().state_url,
                        "HEADROOM_WORKSPACE": str(tmp_path / "ws")}  # fmt: skip
    for login in ("csm.a2@example.com", "boss"):
        role = "csm" if login.startswith("csm") else "manager"
        added = CliRunner().invoke(app, ["users", "add", login, "--role", role,
                                         "--password-stdin"], input=PASSWORD + "\n")  # fmt: skip
        assert added.exit_code == 0, added.output
    port = free_port()
    headroom = str(Path(sys.executable).with_name("headroom"))
    proc = subprocess.Popen(
        [headroom, "serve", str(folder), "--playbook", str(book), "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError(proc.stderr.read() if proc.stderr else b"") from None
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait()


def test_a_csm_works_a_play_in_the_browser(server: str) -> None:
    executable = parts.chromium()
    from playwright.sync_api import expect, sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        # The pages' Content-Security-Policy allows only headroom's own scripts and styles:
        # anything of theirs it refused (an inline style, say) shows here.
        refused: list[str] = []
        page.on(
            "console",
            lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
        )

        def shot(name: str) -> None:
            page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)

        try:
            page.goto(server + "/queue")
            expect(page).to_have_url(server + "/login?next=%2Fqueue")
            shot("login")
            page.get_by_label("Login").fill("csm.a2@example.com")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            expect(page).to_have_url(server + "/queue")
            expect(page.locator("table.queue tbody tr")).to_have_count(1)  # Ana's own play
            shot("queue")
            # htmx: a filter swaps the list in place (the page is not loaded again)
            page.evaluate("window.stays = true")
            page.get_by_label("Whose plays").select_option("all")
            expect(page.locator("#queue-total")).not_to_have_text("1")  # a4's play too ...
            everyone = int(page.locator("#queue-total").inner_text())
            expect(page.locator("table.queue tbody tr")).to_have_count(everyone)
            expect(page).to_have_url(
                server + "/queue?scope=all&owner=&trigger=&segment=&due=&sort=priority"
            )
            assert page.evaluate("window.stays") is True
            # ranked by expected value: the most first, each with its value
            page.get_by_label("Order").select_option("value")
            expect(page.locator("table.queue th").first).to_have_text("Expected MRR")
            expect(page.locator("td.value")).to_have_count(everyone)
            page.get_by_label("Order").select_option("priority")
            expect(page.locator("td.value")).to_have_count(0)
            page.get_by_label("Whose plays").select_option("mine")
            expect(page.locator("table.queue tbody tr")).to_have_count(1)

            page.get_by_role("link", name="a2").click()
            expect(page).to_have_url(server + "/accounts/a2")
            chart = page.locator("#usage-storage_gb svg")
            expect(chart.locator(".limit")).to_have_count(1)
            expect(chart.locator(".projection")).to_have_count(1)
            expect(chart.locator(".band")).to_have_count(1)
            expect(page.locator("#usage-storage_gb")).to_contain_text("Reaches the limit in")
            shot("account")

            page.goto(server + "/pipeline")
            # a2's and a4's plays share a trigger that has won nothing yet: no size, no value
            expect(page.locator("#weighted-arr")).to_have_text("0")
            expect(page.locator("#won-mrr")).to_have_text("0.00 MRR")
            shot("pipeline-before")

            page.goto(server + "/accounts/a2")
            page.get_by_label("Subject").fill("Seats for a2 before they run out")
            page.get_by_label("Message").fill("Ana: call their admin on Monday about 5 seats.")
            page.get_by_role("button", name="Approve and send").click()
            expect(page.get_by_role("button", name="Approve and send")).to_have_count(0)
            expect(page.locator(".draft")).to_contain_text("Seats for a2 before they run out")
            page.get_by_label("Added MRR").fill("300")
            page.get_by_role("button", name="Won").click()
            expect(page.locator(".status.won")).to_have_text("won")
            shot("account-won")

            page.goto(server + "/pipeline")
            expect(page.locator("#won-mrr")).to_have_text("300.00 MRR")
            # a4's play is now sized by a2's win (300 MRR) at the learned win rate
            assert float(page.locator("#weighted-arr").inner_text().replace(",", "")) > 0
            expect(page.locator("table.queue")).to_contain_text("300.00")
            shot("pipeline-after")

            page.get_by_role("link", name="Revenue").click()
            expect(page.locator("#mrr")).not_to_have_text("—")
            expect(page.locator("svg[aria-label='NRR, trailing twelve months']")).to_have_count(1)
            shot("metrics")

            page.get_by_role("link", name="Calculators").click()
            expect(page.locator("#ltv")).to_have_text("LTV 17,500.00")
            shot("calculators")

            page.get_by_role("link", name="Playbook").click()
            expect(page.locator("#valid")).to_be_visible()
            page.get_by_role("button", name="Dry run as of").click()
            expect(page.locator("#dry-run")).to_be_visible()
            expect(page.locator("#recorded")).to_be_visible()  # the day's run is recorded
            shot("playbook")

            page.get_by_role("link", name="Backtest").click()
            expect(page.locator("#start")).to_have_count(0)  # CSMs look; managers start one
            page.get_by_role("button", name="Sign out").click()
            page.get_by_label("Login").fill("boss")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.goto(server + "/backtest")
            page.get_by_label("First day replayed").fill("2026-02-01")
            page.get_by_label("Last day replayed").fill("2026-03-07")
            page.get_by_role("button", name="Start the backtest").click()
            for _ in range(120):  # it runs in the background; the page says so until done
                if page.locator("#triggers").count():
                    break
                page.wait_for_timeout(500)
                page.reload()
            expect(page.locator("#triggers tbody tr").first).to_be_visible()
            shot("backtest")
            page.goto(server + "/queue")
            expect(page.get_by_label("Reassign", exact=False).first).to_be_visible()
            shot("queue-manager")
            assert refused == []
        finally:
            browser.close()
    store = Store()
    try:
        (d,) = [d for d in deliveries(store) if d.target == "csm" and d.subject.startswith("Seats")]
        assert d.status in ("queued", "sending", "sent")  # approved: the worker has it
        assert d.body == "Ana: call their admin on Monday about 5 seats."
    finally:
        store.close()
