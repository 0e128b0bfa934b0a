"""``/metrics``: read back with the Prometheus client's own parser, its counts agree with what
the state store holds (runs, plays, skips, deliveries, events, the queue), and this process's
own (request latency per route, refused ingest calls) count what was asked of it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from headroom.plays import runs
from headroom.store.database import OPEN, Store
from headroom.store.models import Decision, Delivery, Play
from headroom.web.app import create_app
from headroom.web.parts import Serve

T0 = dt.datetime(2026, 12, 1, 6, 0, tzinfo=dt.UTC)


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _delivery(delivery_id: str, channel: str, status: str, attempts: int) -> Delivery:
    return Delivery(
        delivery_id=delivery_id, play_id="p1", target="Ana Lima", channel=channel,
        recipient=None, kind="email", subject="s", body="b", payload={}, status=status,
        attempts=attempts, next_attempt_at=T0, created_at=T0,
    )  # fmt: skip


def _decision(account: str, trigger: str, action: str, reason: str | None) -> Decision:
    return Decision(as_of=T0.date(), account_id=account, trigger=trigger, action=action,
                    reason=reason, playbook_version="v1")  # fmt: skip


def test_the_metrics_parse_and_agree_with_the_store(store: Store) -> None:
    decided = [
        _decision("a", "seats", "skipped", "cooldown"),
        _decision("b", "seats", "skipped", "cooldown"),
        _decision("c", "seats", "skipped", "suppressed"),
        _decision("d", "seats", "fired", None),
    ]
    run = runs.start_run(store, "run", "v1", now=T0)
    # the run's summary, as a run records it with its decisions
    summary = runs.summary(T0.date(), decided, ["seats"])  # type: ignore[arg-type]
    runs.finish_run(store, run.id, summary, now=T0 + dt.timedelta(seconds=42))
    runs.start_run(store, "backtest", "v1", now=T0)  # still running
    with store.session() as s:
        s.add_all([
            *decided,
            _delivery("d1", "hook", "sent", 1), _delivery("d2", "hook", "dead", 4),
            _delivery("d3", "mail", "queued", 0),
        ])  # fmt: skip
    with TestClient(create_app(Serve(store, ["k1"]))) as c:
        body: dict[str, Any] = {"messageId": "m1", "userId": "u", "event": "export_clicked",
                                "context": {"groupId": "acct_p1"},
                                "timestamp": "2026-12-01T06:00:00Z"}  # fmt: skip
        assert c.post("/v1/track", json=body, auth=("k1", "")).status_code == 200
        assert c.post("/v1/track", json=body, auth=("k1", "")).status_code == 200  # a duplicate
        assert c.post("/v1/track", json=body, auth=("nope", "")).status_code == 401  # refused
        assert c.get("/healthz").status_code == 200
        r = c.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    got = _samples(r.text)
    with store.session() as s:  # the queue as the store holds it now (the fixture's plays)
        now = dt.datetime.now(dt.UTC)
        open_plays = [p for p in s.query(Play).all() if p.status in OPEN]
        overdue = sum(1 for p in open_plays if p.deadline_at.replace(tzinfo=dt.UTC) < now)
    assert {
        k: v
        for k, v in got.items()
        if not k[0].startswith(("headroom_request", "python", "process"))
        and not k[0].endswith("_created")  # when this process's counters began
    } == {
        ("headroom_runs_total", (("kind", "backtest"), ("status", "running"))): 1,
        ("headroom_runs_total", (("kind", "run"), ("status", "finished"))): 1,
        ("headroom_run_duration_seconds_count", (("kind", "run"),)): 1,
        ("headroom_run_duration_seconds_sum", (("kind", "run"),)): 42.0,
        # the fixture's plays: p1, p2 and p4 of one trigger, p3 of another
        ("headroom_plays_fired_total", (("trigger", "seat_expansion_proactive"),)): 3,
        ("headroom_plays_fired_total", (("trigger", "tier_upgrade_usage"),)): 1,
        ("headroom_decisions_skipped_total", (("reason", "cooldown"), ("trigger", "seats"))): 2,
        ("headroom_decisions_skipped_total", (("reason", "suppressed"), ("trigger", "seats"))): 1,
        ("headroom_deliveries", (("channel", "hook"), ("status", "dead"))): 1,
        ("headroom_deliveries", (("channel", "hook"), ("status", "sent"))): 1,
        ("headroom_deliveries", (("channel", "mail"), ("status", "queued"))): 1,
        ("headroom_delivery_retries_total", (("channel", "hook"),)): 3,
        ("headroom_delivery_retries_total", (("channel", "mail"),)): 0,
        ("headroom_ingest_events_accepted_total", ()): 1,
        ("headroom_ingest_events_refused_total", ()): 1,
        ("headroom_queue_open_plays", ()): len(open_plays),
        ("headroom_queue_overdue_plays", ()): overdue,
    }
    # latency per route, under the route's template; the scrape itself is counted after it
    assert got[("headroom_request_duration_seconds_count",
                (("method", "POST"), ("route", "/v1/track")))] == 3  # fmt: skip
    assert got[("headroom_request_duration_seconds_count",
                (("method", "GET"), ("route", "/healthz")))] == 1  # fmt: skip
