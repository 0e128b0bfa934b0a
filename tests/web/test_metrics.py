"""The Revenue page and the metrics API over generated TeamFlow history: the MRR bridge and
trailing NRR/GRR, expansion ARR by segment, owner and cohort, time to expansion and the funnel
per trigger, the same numbers as the commands that compute them."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from headroom.cli.main import app
from headroom.config import settings
from headroom.metrics.expansion import expansion_arr, expansions_between
from headroom.metrics.overview import overview
from headroom.metrics.time_to_expansion import time_to_expansion
from headroom.playbook.model import load_playbook
from headroom.plays.conversion import funnel
from headroom.signals.registry import types
from headroom.sources import Source, load
from headroom.store.database import Store
from headroom.store.models import Play
from headroom.users import add_user, create_token
from headroom.web import metrics_cache
from headroom.web.app import create_app
from headroom.web.parts import Serve
from tests.web.helpers import HTML, PASSWORD, sign_in

AS_OF = dt.date(2026, 9, 30)
#: The default period: the twelve months ending on the as-of day.
YEAR = ("2025-10-01", "2026-09-30")
PLAYBOOK = Path(__file__).resolve().parents[2] / "examples" / "teamflow" / "playbook.yaml"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("metrics") / "teamflow"
    made = CliRunner().invoke(app, ["generate", "teamflow", str(out), "--accounts", "300",
                                    "--days", "455", "--end", str(AS_OF)])  # fmt: skip
    assert made.exit_code == 0, made.output
    return out


@pytest.fixture(scope="module")
def teamflow(folder: Path) -> Iterator[Source]:
    source = load(folder, today=AS_OF + dt.timedelta(days=1))
    yield source
    source.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """The workspace's default store, the one the commands read too."""
    s = Store(settings().state_url)
    add_user(s, "boss", "manager", PASSWORD)
    add_user(s, "ana", "csm", PASSWORD, "Ana Lima")
    yield s
    s.close()


@pytest.fixture
def client(store: Store, teamflow: Source) -> Iterator[TestClient]:
    book = load_playbook(PLAYBOOK, types())
    with TestClient(create_app(Serve(store, [], source=teamflow, as_of=AS_OF,
                                     playbook=book))) as c:  # fmt: skip
        yield c


def cli(*args: str) -> Any:
    """``headroom ARGS --format json``, parsed."""
    result = CliRunner().invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def page(client: TestClient, path: str = "/revenue") -> str:
    sign_in(client, "boss")
    r = client.get(path, headers=HTML)
    assert r.status_code == 200, r.text
    return str(r.text)


def rows(html: str, anchor: str, key: str = "group") -> dict[str, list[str]]:
    """The cells of each ``<tr data-KEY>`` row of the table after ``id="ANCHOR"``."""
    start = html.index(f'id="{anchor}"')
    table = html[start : html.index("</table>", start)]
    found = re.findall(rf'<tr data-{key}="([^"]*)">(.*?)</tr>', table, re.S)
    return {
        unescape(name): [unescape(re.sub(r"<[^>]+>", "", c)).strip()
                         for c in re.findall(r"<td[^>]*>(.*?)</td>", cells, re.S)]
        for name, cells in found
    }  # fmt: skip


def bearer(store: Store, login: str) -> dict[str, str]:
    return {"authorization": f"Bearer {create_token(store, login)[1]}"}


def test_the_metrics_page_shows_the_bridge_and_retention(teamflow: Source, tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'state.sqlite'}")
    try:
        add_user(store, "boss", "manager", PASSWORD)
        with TestClient(create_app(Serve(store, [], source=teamflow, as_of=AS_OF))) as c:
            sign_in(c, "boss")
            page = c.get("/revenue", headers=HTML)
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


def _as_shown(cli_rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    return {r["group"]: [f"{r['expansions']:,}", f"{r['accounts']:,}", f"{r['expansion_mrr']:,.2f}",
                         f"{r['expansion_arr']:,.2f}"] for r in cli_rows}  # fmt: skip


@pytest.mark.parametrize(
    ("query", "period"),
    [("", YEAR), ("?start=2026-04-01&end=2026-06-30", ("2026-04-01", "2026-06-30"))],
)
def test_expansion_arr_by_segment_owner_and_cohort_is_the_commands(
    client: TestClient, folder: Path, query: str, period: tuple[str, str]
) -> None:
    html = page(client, f"/revenue{query}")
    assert f"<small>{period[0]} to {period[1]}</small>" in html
    total = 0.0
    for by in ("segment", "owner", "cohort"):
        expected = cli("expansions", str(folder), "--since", period[0], "--through", period[1],
                       "--by", by)  # fmt: skip
        assert expected, by
        shown = rows(html, f"expansion-by-{by}")
        assert {g: cells[0] for g, cells in shown.items()} == {g: g for g in shown}
        assert {g: cells[1:] for g, cells in shown.items()} == _as_shown(expected), by
        assert f'aria-label="expansion ARR by {by}"' in html
        total = sum(r["expansion_arr"] for r in expected)
    assert total > 0
    assert f'<dd id="expansion-arr">{total:,.0f}</dd>' in html
    # the period is what the commands' --since selects: a later start drops expansions
    everything = cli("expansions", str(folder), "--through", period[1], "--by", "segment")
    assert sum(r["expansions"] for r in everything) > sum(
        int(c[1].replace(",", "")) for c in rows(html, "expansion-by-segment").values()
    )


def test_the_time_to_expansion_curve_is_the_commands(
    client: TestClient, folder: Path, teamflow: Source
) -> None:
    html = page(client, "/revenue?curve_by=segment")
    expected = cli("time-to-expansion", str(folder), "--through", str(AS_OF), "--by", "segment")
    groups = expected["groups"]
    assert [g["group"] for g in groups] == ["all", "enterprise", "mid_market", "smb"]
    shown = rows(html, "time-to-expansion-summary")
    assert list(shown) == [g["group"] for g in groups]
    for g in groups:
        median = f"{g['median_days']:g}" if g["median_days"] is not None else "not reached"
        marks = [f"{g[f'expanded_by_{d}d']:.1%}" if g[f"expanded_by_{d}d"] is not None else "—"
                 for d in (90, 180, 365)]  # fmt: skip
        assert shown[g["group"]] == [g["group"], f"{g['accounts']:,}", f"{g['expanded']:,}",
                                     f"{g['censored']:,}", median, *marks]  # fmt: skip
    # the whole base's curve, month by month, as shares expanded with their 95% interval
    start = html.index('id="time-to-expansion-curve"')
    table = html[start : html.index("</table>", start)]
    points = [[unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)]
              for r in re.findall(r"<tr>(.*?)</tr>", table, re.S)[1:]]  # fmt: skip
    curve = groups[0]["curve"]
    band = time_to_expansion(teamflow, AS_OF, step=30)[0].band  # the CLI does not print it
    assert len(points) == len(curve) == len(band) > 12
    for shown_point, p, (days, low, high) in zip(points, curve, band, strict=True):
        assert days == p["days"] and low <= p["not_yet_expanded"] <= high
        assert shown_point == [
            str(p["days"] // 30), str(p["days"]), f"{1 - p['not_yet_expanded']:.1%}",
            f"{1 - high:.1%} to {1 - low:.1%}",
        ]  # fmt: skip
    assert any(high - low > 0.01 for _, low, high in band)  # a band, not a line
    chart = html[html.index('aria-label="share of accounts expanded"') :]
    chart = chart[: chart.index("</svg>")]
    assert chart.count('<polygon class="ci"') == 1
    assert [unescape(t) for t in re.findall(r'<path class="series s\d"[^>]*><title>([^<]*)',
                                            chart)] == [g["group"] for g in groups]  # fmt: skip


PLAYS = [  # trigger, status, amount_mrr
    ("seat_expansion_proactive", "open", None), ("seat_expansion_proactive", "contacted", None),
    ("seat_expansion_proactive", "won", 150), ("seat_expansion_proactive", "won", 99.5),
    ("seat_expansion_proactive", "lost", None), ("seat_expansion_proactive", "declined", None),
    ("tier_upgrade_usage", "won", 400), ("tier_upgrade_usage", "declined", None),
    ("tier_upgrade_usage", "open", None), ("retired_trigger", "won", 75),
]  # fmt: skip


def _add_plays(store: Store) -> None:
    now = dt.datetime.now(dt.UTC)
    with store.session() as s:
        s.add_all(
            Play(
                play_id=f"f{i}", account_id=f"acct_{i}", trigger=trigger, fired_on=AS_OF,
                due_at=now.isoformat(), owner="Ana Lima", offer="seats", priority=1,
                evidence={}, playbook_version="v1", status=status, created_at=now, notify=[],
                escalate=[], amount_mrr=amount,
                outcome_on=AS_OF + dt.timedelta(days=3) if status != "open" else None,
            )
            for i, (trigger, status, amount) in enumerate(PLAYS)
        )  # fmt: skip


def test_the_funnel_per_trigger_is_the_stores_counted_afresh(
    client: TestClient, store: Store
) -> None:
    _add_plays(store)
    html = page(client)
    expected = {c["trigger"]: c for c in cli("conversion", "--playbook", str(PLAYBOOK))}
    shown = rows(html, "funnel-table", "trigger")
    book = [t.id for t in load_playbook(PLAYBOOK, types()).model.triggers]
    assert list(shown) == [*book, "retired_trigger"]  # a trigger since retired still shows
    declined = {t: sum(1 for p in PLAYS if p[:2] == (t, "declined")) for t in shown}
    for trigger in book:
        c = expected[trigger]
        closed = c["won"] + c["lost"]
        rate = f"{c['opportunity_to_close']:.1%}" if closed else "—"
        assert shown[trigger] == [
            trigger, str(c["plays"]), str(c["opportunities"]), str(c["plays"] - c["opportunities"]),
            str(c["won"]), str(c["lost"] - declined[trigger]), str(declined[trigger]),
            f"{rate} ({c['won']} of {closed})", f"{c['expansion_mrr']:,.2f}",
        ], trigger  # fmt: skip
    assert shown["seat_expansion_proactive"][1:] == ["6", "5", "1", "2", "1", "1",
                                                     "50.0% (2 of 4)", "249.50"]  # fmt: skip
    # an outcome recorded now shows on the next request: the funnel is never cached
    r = client.post("/api/v1/plays/f0/outcome", json={"outcome": "won", "amount_mrr": "20"},
                    headers=bearer(store, "boss"))  # fmt: skip
    assert r.status_code == 200, r.text
    after = rows(page(client), "funnel-table", "trigger")["seat_expansion_proactive"]
    assert after[1:] == ["6", "6", "0", "3", "1", "1", "60.0% (3 of 5)", "269.50"]


def test_the_api_gives_the_pages_numbers(
    client: TestClient, store: Store, folder: Path, teamflow: Source
) -> None:
    _add_plays(store)
    token = bearer(store, "ana")  # a CSM may read the metrics, as the page
    body = client.get("/api/v1/metrics", headers=token).json()
    o = overview(teamflow, AS_OF)
    assert body["as_of"] == str(AS_OF)
    assert [m["month"] for m in body["bridge"]] == [str(r["month"]) for r in o.bridge]
    assert body["bridge"][-1]["ending_mrr"] == float(o.bridge[-1]["ending_mrr"])
    assert [m["nrr"] for m in body["retention"]] == [r["nrr"] for r in o.retention]
    assert [m["grr"] for m in body["retention"]] == [r["grr"] for r in o.retention]

    r = client.get("/api/v1/metrics/expansion?by=owner&start=2026-01-01", headers=token)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["by"], body["start"], body["end"]) == ("owner", "2026-01-01", str(AS_OF))
    assert body["groups"] == cli("expansions", str(folder), "--since", "2026-01-01",
                                 "--through", str(AS_OF), "--by", "owner")  # fmt: skip
    default = client.get("/api/v1/metrics/expansion", headers=token).json()
    assert (default["by"], default["start"], default["end"]) == ("segment", *YEAR)

    r = client.get("/api/v1/metrics/time-to-expansion?by=plan&step=60", headers=token)
    assert r.status_code == 200, r.text
    body = r.json()
    expected = cli("time-to-expansion", str(folder), "--through", str(AS_OF), "--by", "plan",
                   "--step", "60")  # fmt: skip
    assert (body["by"], body["step"]) == ("plan", 60)
    fits = time_to_expansion(teamflow, AS_OF, "plan", step=60)
    for g, fit in zip(body["groups"], fits, strict=True):
        band = [(q["days"], q["low"], q["high"]) for q in g["curve"]]
        assert band == [(d, round(lo, 6), round(hi, 6)) for d, lo, hi in fit.band]
        for q in g["curve"]:
            del q["low"], q["high"]
    assert body["groups"] == [{"median_note": None, **g} for g in expected["groups"]]

    body = client.get("/api/v1/metrics/funnel", headers=token).json()
    by_trigger = {f["trigger"]: f for f in body["triggers"]}
    conversion = {c["trigger"]: c for c in cli("conversion", "--playbook", str(PLAYBOOK))}
    assert set(conversion) < set(by_trigger)
    for trigger, c in conversion.items():
        f = by_trigger[trigger]
        assert (f["fired"], f["contacted"], f["won"], f["lost"] + f["declined"]) == (
            c["plays"],
            c["opportunities"],
            c["won"],
            c["lost"],
        )
        assert f["win_rate"] == c["opportunity_to_close"]
        assert f["won_mrr"] == pytest.approx(c["expansion_mrr"])
    core = funnel(store, list(by_trigger)[:-1])
    assert body["triggers"] == [f.to_dict() for f in core]


@pytest.mark.parametrize(
    ("query", "message", "fix"),
    [
        ("/expansion?by=region", "by 'region' is not one of the choices",
         "use one of segment, plan, csm, owner, cohort, kind"),
        ("/expansion?start=2026-13-01", "start '2026-13-01' is not a date",
         "write it YYYY-MM-DD, e.g. start=2026-03-31"),
        ("/expansion?end=2026-10-01",
         "end 2026-10-01 is after 2026-09-30, the last day of the data this server shows",
         "pick an end on or before 2026-09-30"),
        ("/expansion?start=2026-06-01&end=2026-05-31", "start 2026-06-01 is after end 2026-05-31",
         "pick a start on or before the end"),
        ("/time-to-expansion?by=kind", "by 'kind' is not one of the choices",
         "use one of all, segment, plan, csm, owner, cohort"),
        ("/time-to-expansion?step=0", "step 0 is not between 1 and 365 days",
         "e.g. step=30 for monthly points"),
        ("/time-to-expansion?step=monthly", "step 'monthly' is not a whole number of days",
         "e.g. step=30 for monthly points"),
    ],
)  # fmt: skip
def test_bad_query_values_answer_in_the_one_error_shape(
    client: TestClient, store: Store, query: str, message: str, fix: str
) -> None:
    r = client.get(f"/api/v1/metrics{query}", headers=bearer(store, "ana"))
    assert (r.status_code, r.json()) == (
        400, {"error": {"code": "bad_option", "message": message, "fix": fix}}
    )  # fmt: skip


def test_the_page_tells_a_bad_value_and_the_api_needs_a_sign_in(client: TestClient) -> None:
    for path in ("", "/expansion", "/time-to-expansion", "/funnel"):
        r = client.get(f"/api/v1/metrics{path}")
        assert r.status_code == 401, path
        assert r.json()["error"]["code"] == "unauthorized"
    sign_in(client, "ana")
    r = client.get("/revenue?curve_by=cohort", headers=HTML)
    assert r.status_code == 400
    assert "curve_by &#39;cohort&#39; is not one of the choices" in r.text
    assert "use one of all, segment, plan" in r.text
    r = client.get("/revenue?end=2026-10-01", headers=HTML)
    assert r.status_code == 400 and "pick an end on or before 2026-09-30" in r.text


def test_without_a_source_the_metrics_say_so(store: Store) -> None:
    with TestClient(create_app(Serve(store, []))) as c:
        r = c.get("/api/v1/metrics/expansion", headers=bearer(store, "boss"))
        assert (r.status_code, r.json()["error"]) == (404, {
            "code": "not_found", "message": "this server has no source to measure revenue from",
            "fix": "start headroom serve with the source",
        })  # fmt: skip
        assert c.get("/api/v1/metrics/funnel", headers=bearer(store, "boss")).status_code == 200


def test_the_openapi_document_types_the_metrics(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    paths = doc["paths"]
    for path, model in (("/api/v1/metrics", "MetricsOut"),
                        ("/api/v1/metrics/expansion", "ExpansionOut"),
                        ("/api/v1/metrics/time-to-expansion", "TimeToExpansionOut"),
                        ("/api/v1/metrics/funnel", "FunnelOut")):  # fmt: skip
        ok = paths[path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok == {"$ref": f"#/components/schemas/{model}"}, path
    params = {
        p["name"]: p["schema"] for p in paths["/api/v1/metrics/expansion"]["get"]["parameters"]
    }
    assert params["by"]["enum"] == ["segment", "plan", "csm", "owner", "cohort", "kind"]
    curve = doc["components"]["schemas"]["CurvePoint"]["properties"]
    assert set(curve) == {"days", "not_yet_expanded", "low", "high"}


def test_source_numbers_are_computed_once_for_all_requests(
    teamflow: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, ...]] = []
    real = time_to_expansion

    def counted(*args: Any, **kw: Any) -> Any:
        calls.append(args[1:])
        return real(*args, **kw)

    monkeypatch.setattr("headroom.web.metrics_cache.time_to_expansion", counted)
    # a day nothing else asks for: this test's own cache entries
    day = AS_OF - dt.timedelta(days=1)
    numbers = metrics_cache.shared(teamflow, day)
    assert metrics_cache.shared(teamflow, day) is numbers  # the page's and the API's
    first = numbers.time_to_expansion("segment", 45)
    assert numbers.time_to_expansion("segment", 45) is first
    assert calls == [(day, "segment")]

    # concurrent first requests wait for the one computation
    slow: list[int] = []

    def compute() -> int:
        slow.append(1)
        time.sleep(0.2)
        return 42

    got: list[int] = []
    threads = [threading.Thread(target=lambda: got.append(numbers._memo("k", compute)))
               for _ in range(4)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (got, len(slow)) == ([42] * 4, 1)


def test_cold_requests_at_once_each_get_their_numbers(store: Store, teamflow: Source) -> None:
    """Computations of different numbers run at the same time (a DuckDB connection refuses a
    second query while one runs: each must read through a connection of its own)."""
    day = AS_OF - dt.timedelta(days=2)  # nothing else computes this day's numbers
    paths = [f"/api/v1/metrics/expansion?by={by}" for by in metrics_cache.EXPANSION_GROUPS]
    paths += ["/api/v1/metrics/time-to-expansion?by=segment", "/api/v1/metrics"]
    answers: dict[str, Any] = {}
    with TestClient(create_app(Serve(store, [], source=teamflow, as_of=day))) as c:
        token = bearer(store, "boss")
        threads = [
            threading.Thread(target=lambda p=p: answers.update({p: c.get(p, headers=token)}))
            for p in paths
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert {p: r.status_code for p, r in answers.items()} == dict.fromkeys(paths, 200)
    for by in metrics_cache.EXPANSION_GROUPS:
        period = metrics_cache.trailing_year(day)
        expected = expansion_arr(expansions_between(teamflow, period.start, day), by)
        got = answers[f"/api/v1/metrics/expansion?by={by}"].json()["groups"]
        assert [(g["group"], g["expansions"]) for g in got] == [
            (r["group"], r["expansions"]) for r in expected.to_pyarrow().to_pylist()
        ]


def test_the_expansions_command_takes_a_period(folder: Path) -> None:
    result = CliRunner().invoke(app, ["expansions", str(folder), "--since", "2026-10-01",
                                      "--through", "2026-09-30"])  # fmt: skip
    assert result.exit_code == 1
    assert "--since 2026-10-01 is after --through 2026-09-30; pass a --since on or before " \
        "--through" in result.output  # fmt: skip
    events = cli("expansions", str(folder), "--through", "2026-09-30")
    since = cli("expansions", str(folder), "--since", "2026-06-01", "--through", "2026-09-30")
    assert since == [e for e in events if e["date"] >= "2026-06-01"]
    assert 0 < len(since) < len(events)
