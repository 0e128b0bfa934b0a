"""The Metrics page over generated TeamFlow history: the MRR bridge and trailing NRR/GRR, the
same numbers as the revenue commands."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from headroom.cli.main import app
from headroom.metrics.overview import overview
from headroom.plays.store import Store
from headroom.sources import Source, load
from headroom.users import add_user
from headroom.web.app import Serve, create_app
from tests.web.test_app import HTML, PASSWORD, sign_in

AS_OF = dt.date(2026, 9, 30)


@pytest.fixture(scope="module")
def teamflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Source]:
    folder = tmp_path_factory.mktemp("metrics") / "teamflow"
    made = CliRunner().invoke(app, ["generate", "teamflow", str(folder), "--accounts", "300",
                                    "--days", "455", "--end", str(AS_OF)])  # fmt: skip
    assert made.exit_code == 0, made.output
    source = load(folder, today=AS_OF + dt.timedelta(days=1))
    yield source
    source.close()


def test_the_metrics_page_shows_the_bridge_and_retention(teamflow: Source, tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'state.sqlite'}")
    try:
        add_user(store, "boss", "manager", PASSWORD)
        with TestClient(create_app(Serve(store, [], source=teamflow, as_of=AS_OF))) as c:
            sign_in(c, "boss")
            page = c.get("/metrics", headers=HTML)
    finally:
        store.close()
    assert page.status_code == 200, page.text
    html = page.text
    o = overview(teamflow, AS_OF)
    months = re.findall(r"<tr><td>(\d{4}-\d{2})</td>", html)
    assert months == [r["month"].strftime("%Y-%m") for r in o.bridge]
    assert months[0] == "2025-10" and months[-1] == "2026-09"
    assert f'<dd id="mrr">{o.bridge[-1]["ending_mrr"]:,.0f}</dd>' in html
    assert f'<dd id="nrr">{o.retention[-1]["nrr"]:.1%}</dd>' in html
    for label in ("ending MRR", "NRR, trailing twelve months", "GRR, trailing twelve months"):
        assert f'aria-label="{label}"' in html
    # each month's bridge adds up
    for r in o.bridge:
        moved = r["new"] + r["expansion"] + r["reactivation"] - r["contraction"] - r["churn"]
        assert abs(r["starting_mrr"] + moved - r["ending_mrr"]) < 0.01
