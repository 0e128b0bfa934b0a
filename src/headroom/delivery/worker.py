"""The worker that empties the outbox: claim, send, record; retry with backoff; dead-letter.

A delivery is claimed before it is sent: its attempt is counted and it is leased to this worker
for ``lease_seconds``, in a committed transaction. Then it is sent, then marked sent. A worker
killed between sending and marking leaves the delivery claimed; when the lease runs out, another
worker sends it again under the same idempotency key, which a receiver that honours it (a
Standard Webhooks receiver) drops. So nothing is lost, and nothing reaches an idempotent channel
twice; for other channels (SMTP, Slack, HubSpot) a crash in that instant can repeat a message.

Failures are retried after ``first_seconds`` doubling up to ``most_seconds``, each wait between
half and all of that (jitter, so that many deliveries failing together do not retry together),
or after what the receiver asked for (Retry-After). After ``attempts`` tries, or at once for a
refusal (a bad address, a 4xx), the delivery is dead-lettered with the reason.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import and_, func, or_, select, update

from headroom.delivery.channels import (
    Channel,
    DeliveryError,
    Outgoing,
    RefusedError,
    RetryLaterError,
)
from headroom.delivery.config import DeliveryConfig, RetryPolicy, Target
from headroom.delivery.escalation import escalate
from headroom.logs import logged
from headroom.store.database import Store, aware
from headroom.store.models import Delivery

Clock = Callable[[], dt.datetime]
log = logging.getLogger("headroom.deliver")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Tally:
    """What one pass of the worker did."""

    sent: int = 0
    retrying: int = 0
    dead: int = 0
    reasons: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.sent += other.sent
        self.retrying += other.retrying
        self.dead += other.dead
        self.reasons += other.reasons


def backoff(attempt: int, policy: RetryPolicy, rng: random.Random) -> float:
    """Seconds to wait after the ``attempt``-th failure: doubling, capped, between half and
    all of it.

    >>> p = RetryPolicy(first_seconds=30, most_seconds=3600)
    >>> [15 <= backoff(1, p, random.Random(s)) <= 30 for s in range(5)]
    [True, True, True, True, True]
    >>> 1800 <= backoff(20, p, random.Random(1)) <= 3600
    True
    """
    wait = min(policy.most_seconds, policy.first_seconds * 2.0 ** (attempt - 1))
    return float(wait / 2 + rng.uniform(0, wait / 2))


class Worker:
    """Sends what the outbox holds through ``channels`` (by name)."""

    def __init__(
        self,
        store: Store,
        channels: dict[str, Channel],
        policy: RetryPolicy,
        clock: Clock = utcnow,
        rng: random.Random | None = None,
        send: Mapping[str, Target] | None = None,
        own_channels_only: bool = False,
    ) -> None:
        """``send``: delivery.yaml's targets; with them, overdue plays escalate before each
        batch (see :mod:`headroom.delivery.escalation`). ``own_channels_only``: claim only
        the deliveries of ``channels`` (several playbooks, each with its own delivery.yaml,
        share the outbox); otherwise a delivery whose channel is gone is dead-lettered."""
        self.store, self.channels, self.policy = store, channels, policy
        self.own_channels_only = own_channels_only
        self.send = send
        self.clock = clock
        self.rng = rng or random.Random()

    def _due(self, now: dt.datetime) -> object:
        due = or_(
            and_(Delivery.status == "queued", Delivery.next_attempt_at <= now),
            and_(Delivery.status == "sending", Delivery.lease_until < now),
        )
        if self.own_channels_only:
            return and_(due, Delivery.channel.in_(sorted(self.channels)))
        return due

    def claim(self, limit: int) -> tuple[str, list[Delivery]]:
        """Lease up to ``limit`` due deliveries to this pass (committed before any is sent)."""
        now = self.clock()
        token = uuid.uuid4().hex
        due = self._due(now)
        ids = (
            select(Delivery.delivery_id)
            .where(due)  # type: ignore[arg-type]
            .order_by(Delivery.next_attempt_at, Delivery.delivery_id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        lease = now + dt.timedelta(seconds=self.policy.lease_seconds)
        with self.store.session() as s:
            chosen = list(s.scalars(ids))
            if not chosen:
                return token, []
            s.execute(
                update(Delivery)
                .where(Delivery.delivery_id.in_(chosen), due)  # type: ignore[arg-type]
                .values(
                    status="sending",
                    claim=token,
                    lease_until=lease,
                    attempts=Delivery.attempts + 1,
                )
            )
        with self.store.session() as s:
            rows = list(
                s.scalars(
                    select(Delivery)
                    .where(Delivery.claim == token)
                    .order_by(Delivery.next_attempt_at, Delivery.delivery_id)
                )
            )
        return token, rows

    def run_once(self, limit: int = 50) -> Tally:
        """Escalate overdue plays, then claim and send one batch."""
        if self.send:
            escalate(self.store, self.send, self.clock())
        token, rows = self.claim(limit)
        tally = Tally()
        for row in rows:
            if row.attempts > self.policy.attempts:
                # Its leases ran out again and again: whatever sends it kills the worker.
                why = f"abandoned mid-send {row.attempts - 1} times (a worker stopped each time)"
                self._finish(token, row, "dead", why)
                tally.dead += 1
                tally.reasons.append(f"{row.delivery_id}: {why}")
            elif self._renew(token, row):
                self._send(token, row, tally)
        return tally

    def _renew(self, token: str, row: Delivery) -> bool:
        """Lease ``row`` afresh just before sending it, if the claim is still ours: rows late in
        a slow batch would otherwise be claimed and sent by another worker meanwhile."""
        now = self.clock()
        with self.store.session() as s:
            done = s.execute(
                update(Delivery)
                .where(
                    Delivery.delivery_id == row.delivery_id,
                    Delivery.claim == token,
                    Delivery.lease_until > now,
                )
                .values(lease_until=now + dt.timedelta(seconds=self.policy.lease_seconds))
            )
            return bool(done.rowcount)  # type: ignore[attr-defined]

    def _send(self, token: str, row: Delivery, tally: Tally) -> None:
        with logged(delivery=row.delivery_id, play=row.play_id):
            self._send_one(token, row, tally)

    def _send_one(self, token: str, row: Delivery, tally: Tally) -> None:
        channel = self.channels.get(row.channel)
        try:
            if channel is None:
                raise RefusedError(f"channel {row.channel!r} is not in delivery.yaml any more")
            channel.send(
                Outgoing(
                    row.delivery_id, row.recipient, row.kind, row.subject, row.body, row.payload
                )
            )
        except RefusedError as exc:
            self._finish(token, row, "dead", exc.reason)
            tally.dead += 1
            tally.reasons.append(f"{row.delivery_id}: {exc.reason}")
            return
        except DeliveryError as exc:
            after = exc.after if isinstance(exc, RetryLaterError) else None
            self._failed(token, row, exc.reason, after, tally)
            return
        except Exception as exc:  # a channel's own bug: retried, then dead-lettered, not lost
            self._failed(token, row, f"{type(exc).__name__}: {exc}", None, tally)
            return
        self._finish(token, row, "sent", None)
        log.info("sent %s to %s through %s", row.kind, row.target, row.channel)
        tally.sent += 1

    def _failed(
        self, token: str, row: Delivery, reason: str, after: float | None, tally: Tally
    ) -> None:
        if row.attempts >= self.policy.attempts:
            why = f"{reason} (gave up after {row.attempts} attempts)"
            self._finish(token, row, "dead", why)
            tally.dead += 1
            tally.reasons.append(f"{row.delivery_id}: {why}")
            return
        wait = after if after is not None else backoff(row.attempts, self.policy, self.rng)
        when = self.clock() + dt.timedelta(seconds=wait)
        self._finish(token, row, "queued", reason, next_attempt_at=when)
        tally.retrying += 1

    def _finish(
        self,
        token: str,
        row: Delivery,
        status: str,
        error: str | None,
        next_attempt_at: dt.datetime | None = None,
    ) -> None:
        values: dict[str, object] = {
            "status": status,
            "claim": None,
            "lease_until": None,
            "last_error": error,
        }
        if status == "sent":
            values["sent_at"] = self.clock()
        if next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        with self.store.session() as s:
            # Only while the claim is still ours: a lease that ran out belongs to another pass.
            s.execute(
                update(Delivery)
                .where(Delivery.delivery_id == row.delivery_id, Delivery.claim == token)
                .values(**values)
            )

    def next_due(self) -> dt.datetime | None:
        """When the earliest waiting delivery falls due (None: nothing waits)."""
        with self.store.session() as s:
            queued = s.scalar(
                select(func.min(Delivery.next_attempt_at)).where(Delivery.status == "queued")
            )
            leased = s.scalar(
                select(func.min(Delivery.lease_until)).where(Delivery.status == "sending")
            )
        times = [aware(t) for t in (queued, leased) if t is not None]
        return min(times) if times else None

    def run(
        self,
        stop: threading.Event | None = None,
        until_idle: bool = True,
        limit: int = 50,
        poll_seconds: float = 1.0,
        on_batch: Callable[[Tally], None] | None = None,
    ) -> Tally:
        """Send batches until nothing is due (``until_idle``) or until ``stop`` is set."""
        stop = stop or threading.Event()
        total = Tally()
        while not stop.is_set():
            try:
                tally = self.run_once(limit)
            except Exception:
                if until_idle:
                    raise  # headroom deliver says what went wrong and stops
                # A worker inside headroom serve outlives a database blip: log, wait, go on.
                log.exception("delivery worker: a batch failed; trying again")
                stop.wait(poll_seconds)
                continue
            total.add(tally)
            if on_batch is not None:
                on_batch(tally)
            if tally.sent + tally.retrying + tally.dead:
                continue
            if until_idle:
                break
            stop.wait(poll_seconds)
        return total

    def close(self) -> None:
        for channel in self.channels.values():
            channel.close()


def workers_for(store: Store, configs: Sequence[DeliveryConfig]) -> list[Worker]:
    """A worker per delivery.yaml. Several share the outbox: each then claims only the
    deliveries of its own channels (with one, a delivery whose channel is gone dies)."""
    several = len(configs) > 1
    return [
        Worker(store, c.channels(), c.retry, send=c.send, own_channels_only=several)
        for c in configs
    ]


def counts(store: Store) -> dict[str, int]:
    """Deliveries by status."""
    with store.session() as s:
        rows = s.execute(select(Delivery.status, func.count()).group_by(Delivery.status))
        return {str(status): int(n) for status, n in rows}


def deliveries(store: Store, status: str | None = None) -> list[Delivery]:
    """The outbox, newest first (``status``: only those)."""
    with store.session() as s:
        q = select(Delivery).order_by(Delivery.created_at.desc(), Delivery.delivery_id)
        if status:
            q = q.where(Delivery.status == status)
        return list(s.scalars(q))


def requeue(store: Store, ids: Iterable[str] | None, clock: Clock = utcnow) -> int:
    """Put dead-lettered deliveries back in the queue with fresh attempts (``ids`` None: all)."""
    with store.session() as s:
        q = update(Delivery).where(Delivery.status == "dead")
        if ids is not None:
            q = q.where(Delivery.delivery_id.in_(list(ids)))
        done = s.execute(q.values(status="queued", attempts=0, next_attempt_at=clock()))
        return int(done.rowcount)  # type: ignore[attr-defined]
