"""What the Revenue page and the metrics API show, and the query values that choose it.

The source does not change while the server runs (the ingest API adds events, which none of these
numbers read), so what is computed from it for the server's as-of day and one set of parameters is
computed once and kept: a small least-recently-used cache per source, shared by the page and the
API, safe for the thread pool they are served from (a second request for numbers being computed
waits for them instead of computing them again). The funnel reads the state store, which every
recorded outcome changes: it is counted afresh on every request.
"""

from __future__ import annotations

import datetime as dt
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from headroom.errors import NotFoundError, UsageError
from headroom.metrics.expansion import GROUPS, expansion_arr, expansions_between
from headroom.metrics.overview import Overview, overview
from headroom.metrics.time_to_expansion import SURVIVAL_GROUPS, TimeToExpansion, time_to_expansion
from headroom.sources import Source

T = TypeVar("T")

#: The groupings the page draws expansion ARR by (the API takes any of ``EXPANSION_GROUPS``).
PAGE_GROUPS = ("segment", "owner", "cohort")
EXPANSION_GROUPS = GROUPS
#: ``all``: one curve of every account; else one more per group.
CURVE_GROUPS = ("all", *SURVIVAL_GROUPS)
#: Days between the time-to-expansion curve's points: the page's (a month), and the API's range.
MONTH_STEP = 30
MAX_STEP = 365


@dataclass(frozen=True)
class Period:
    """The days whose expansions count, both included."""

    start: dt.date
    end: dt.date


def trailing_year(end: dt.date) -> Period:
    """The twelve months ending on ``end``: from the day after the same day a year before."""
    if end.year == dt.MINYEAR:  # no year before: from the first day there is
        return Period(dt.date.min, end)
    try:
        year_before = end.replace(year=end.year - 1)
    except ValueError:  # 29 February
        year_before = end.replace(year=end.year - 1, day=28)
    return Period(year_before + dt.timedelta(days=1), end)


def _date(value: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"{name} {value!r} is not a date", fix=f"write it YYYY-MM-DD, e.g. {name}=2026-03-31"
        ) from None


def parse_period(start: str | None, end: str | None, as_of: dt.date) -> Period:
    """The period of ``start`` and ``end`` (YYYY-MM-DD; empty or absent: the twelve months
    ending on ``end``, which defaults to ``as_of``), or a UsageError naming the bad value."""
    last = _date(end.strip(), "end") if end and end.strip() else as_of
    if last > as_of:
        raise UsageError(
            f"end {last} is after {as_of}, the last day of the data this server shows",
            fix=f"pick an end on or before {as_of}",
        )
    if not start or not start.strip():
        return trailing_year(last)
    first = _date(start.strip(), "start")
    if first > last:
        raise UsageError(
            f"start {first} is after end {last}", fix="pick a start on or before the end"
        )
    return Period(first, last)


def parse_choice(value: str, name: str, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices``, else a UsageError that lists them."""
    if value not in choices:
        raise UsageError(
            f"{name} {value!r} is not one of the choices", fix=f"use one of {', '.join(choices)}"
        )
    return value


def parse_step(value: str) -> int:
    """Days between the curve's points, a whole number from 1 to ``MAX_STEP``."""
    try:
        step = int(value.strip())
    except ValueError:
        raise UsageError(
            f"step {value!r} is not a whole number of days", fix="e.g. step=30 for monthly points"
        ) from None
    if not 1 <= step <= MAX_STEP:
        raise UsageError(
            f"step {step} is not between 1 and {MAX_STEP} days",
            fix="e.g. step=30 for monthly points",
        )
    return step


@dataclass
class _Entry:
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: bool = False
    value: Any = None


class SourceMetrics:
    """The source-derived metrics of one source as of one day, each computed once.

    What it returns is shared between requests: read it, never change it.
    """

    def __init__(self, source: Source, as_of: dt.date, size: int = 64) -> None:
        # Weakly: the shared registry must not keep a closed-over source alive.
        self._source = weakref.ref(source)
        self.as_of = as_of
        self.size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._engine_lock = threading.Lock()

    @property
    def source(self) -> Source:
        source = self._source()
        assert source is not None, "the source of these metrics is gone"
        return source

    @contextmanager
    def _engine(self) -> Iterator[Source]:
        """The source on a connection of this computation's own.

        A DuckDB connection refuses a second query while one runs (it does not wait), and the
        pages are served from a thread pool: each computation reads through a cursor of its
        own, which sees the same database. An engine that is not DuckDB is used as it is, one
        computation at a time.
        """
        source = self.source
        own = source.own()
        if own is None:
            with self._engine_lock:
                yield source
            return
        try:
            yield own
        finally:
            own.close()

    def _memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry()
                while len(self._entries) > self.size:  # an evicted entry still serves its waiters
                    self._entries.popitem(last=False)
            else:
                self._entries.move_to_end(key)
        with entry.lock:
            if not entry.done:  # a failure leaves it undone: the next request tries again
                entry.value = compute()
                entry.done = True
            value: T = entry.value
            return value

    def overview(self) -> Overview:
        """The MRR bridge and trailing-twelve-month NRR and GRR of the last twelve months."""

        def compute() -> Overview:
            with self._engine() as source:
                return overview(source, self.as_of)

        return self._memo(("overview",), compute)

    def expansion(self, by: str, period: Period) -> list[dict[str, Any]]:
        """Expansion ARR by ``by`` over ``period``: ``headroom expansions --since START
        --through END --by BY``'s rows."""

        def compute() -> list[dict[str, Any]]:
            with self._engine() as source:
                events = expansions_between(source, period.start, period.end)
                rows: list[dict[str, Any]] = expansion_arr(events, by).to_pyarrow().to_pylist()
                return rows

        return self._memo(("expansion", by, period), compute)

    def time_to_expansion(self, by: str, step: int) -> list[TimeToExpansion]:
        """Kaplan-Meier time to expansion as of the as-of day (``by``: ``all`` for one curve,
        else also one per group): ``headroom time-to-expansion``'s fits."""

        def compute() -> list[TimeToExpansion]:
            with self._engine() as source:
                return time_to_expansion(source, self.as_of, None if by == "all" else by, step=step)

        return self._memo(("time_to_expansion", by, step), compute)


_shared: dict[tuple[int, dt.date], SourceMetrics] = {}
_shared_lock = threading.Lock()


def warm(source: Source, as_of: dt.date) -> None:
    """Compute what the Revenue page shows by default, ahead of its first visit."""
    numbers = shared(source, as_of)
    numbers.overview()
    for by in PAGE_GROUPS:
        numbers.expansion(by, trailing_year(as_of))
    numbers.time_to_expansion("all", MONTH_STEP)


def of_source(source: Source | None, as_of: dt.date) -> SourceMetrics:
    """:func:`shared`, or the error a page and the API both answer when the server was started
    without a source."""
    if source is None:
        raise NotFoundError(
            "this server has no source to measure revenue from",
            fix="start headroom serve with the source",
        )
    return shared(source, as_of)


def shared(source: Source, as_of: dt.date) -> SourceMetrics:
    """The one :class:`SourceMetrics` of ``source`` as of ``as_of`` in this process, so that the
    page and the API compute each number once between them."""
    key = (id(source), as_of)
    with _shared_lock:
        metrics = _shared.get(key)
        if metrics is None:
            metrics = _shared[key] = SourceMetrics(source, as_of)
            # Forgotten with the source, before its id can be given to another object.
            weakref.finalize(source, _shared.pop, key, None)
        return metrics
