"""``/metrics`` in the Prometheus text format (the official client writes it).

The counts of runs, plays, decisions, deliveries, events and the queue come from the state
store at each scrape (:mod:`headroom.usecases.watch`), so they agree with the store whichever
process is scraped. What only this process sees is counted here: request latency per route,
and ingest calls refused.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from headroom.store.database import Store
from headroom.usecases.watch import counts


class StoreCollector(Collector):
    """The store's counts as metric families, read at each scrape."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        c = counts(self.store, dt.datetime.now(dt.UTC))
        yield _labelled(
            CounterMetricFamily, "headroom_runs",
            "Runs and backtests recorded, by kind and how they ended.", ["kind", "status"],
            c.runs.items(),
        )  # fmt: skip
        took = SummaryMetricFamily(
            "headroom_run_duration_seconds", "Time finished runs and backtests took.",
            labels=["kind"],
        )  # fmt: skip
        for kind, (seconds, n) in sorted(c.run_seconds.items()):
            took.add_metric([kind], count_value=n, sum_value=seconds)
        yield took
        yield _labelled(
            CounterMetricFamily, "headroom_plays_fired", "Plays fired, by trigger.", ["trigger"],
            c.plays.items(),
        )  # fmt: skip
        yield _labelled(
            CounterMetricFamily, "headroom_decisions_skipped",
            "Decisions not to fire, by trigger and reason.", ["trigger", "reason"],
            c.skipped.items(),
        )  # fmt: skip
        yield _labelled(
            GaugeMetricFamily, "headroom_deliveries",
            "Deliveries by channel and state (queued, sent, dead, ...).", ["channel", "status"],
            c.deliveries.items(),
        )  # fmt: skip
        yield _labelled(
            CounterMetricFamily, "headroom_delivery_retries",
            "Delivery attempts after the first, by channel.", ["channel"], c.retries.items(),
        )  # fmt: skip
        yield CounterMetricFamily(
            "headroom_ingest_events_accepted", "Events the ingest API kept.", value=c.events
        )
        yield GaugeMetricFamily("headroom_queue_open_plays", "Open plays.", value=c.open_plays)
        yield GaugeMetricFamily(
            "headroom_queue_overdue_plays", "Open plays past their deadline.",
            value=c.overdue_plays,
        )  # fmt: skip
        yield _labelled(
            GaugeMetricFamily, "headroom_cycles",
            "Days of the scheduled cycle, by how they ended (or running).", ["status"],
            c.cycles.items(),
        )  # fmt: skip
        if c.last_cycle_day is not None:  # alert when it falls more than a day behind
            midnight = dt.datetime.combine(c.last_cycle_day, dt.time(), dt.UTC)
            yield GaugeMetricFamily(
                "headroom_cycle_last_finished_day",
                "The latest day whose cycle finished, as a Unix time (its midnight, UTC).",
                value=midnight.timestamp(),
            )


def _labelled(
    family: type[CounterMetricFamily] | type[GaugeMetricFamily],
    name: str,
    documentation: str,
    labels: list[str],
    values: Iterable[tuple[str | tuple[str, ...], int]],
) -> Metric:
    """A family with a sample per ``(labels, value)`` of ``values`` (one label, or a tuple of
    them), in the labels' order."""
    made = family(name, documentation, labels=labels)
    for key, n in sorted(values):
        made.add_metric(list(key) if isinstance(key, tuple) else [key], n)
    return made


class Telemetry:
    """One app's metrics: the store's, and this process's own."""

    def __init__(self, store: Store) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(StoreCollector(store))
        self.latency = Histogram(
            "headroom_request_duration_seconds", "Time to answer a request, by route.",
            ["method", "route"], registry=self.registry,
        )  # fmt: skip
        self.refused = Counter(
            "headroom_ingest_events_refused", "Ingest calls refused (bad body, key or size).",
            registry=self.registry,
        )  # fmt: skip

    def observe(self, request: Request, seconds: float) -> None:
        """A request answered: its latency under its route's template (never the raw path,
        which would make a series per play id)."""
        route = request.scope.get("route")
        path = getattr(route, "path", None) or "unmatched"
        self.latency.labels(request.method, path).observe(seconds)


def _telemetry(request: Request) -> Telemetry:
    telemetry = request.app.state.telemetry
    assert isinstance(telemetry, Telemetry)
    return telemetry


TelemetryDep = Annotated[Telemetry, Depends(_telemetry)]

router = APIRouter(include_in_schema=False)


@router.get("/metrics")
def metrics(telemetry: TelemetryDep) -> Response:
    """Every metric, in the Prometheus text format."""
    return Response(generate_latest(telemetry.registry), media_type=CONTENT_TYPE_LATEST)
