"""The outbox end to end, with real receivers on loopback: a run queues each play's messages,
the worker delivers them (SMTP with STARTTLS and a login; Standard-Webhooks-signed HTTP), and
faults (down, slow, 500 then 200, 429 with Retry-After, a spent budget, SIGKILL) end in exactly
one delivery or a dead letter with the reason."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook, WebhookVerificationError
from typer.testing import CliRunner

from headroom.cli.main import app
from headroom.config import settings
from headroom.delivery.config import RetryPolicy, load_delivery
from headroom.delivery.outbox import delivery_id
from headroom.delivery.webhook import Webhook as WebhookChannel
from headroom.delivery.webhook import sign
from headroom.delivery.worker import Worker, deliveries
from headroom.errors import ConfigError
from headroom.messages.queued import Queued
from headroom.messages.templates import Message
from headroom.store.database import Store
from headroom.store.models import Delivery
from tests.delivery.helpers import DAY, EXAMPLE, playbook_with, source
from tests.delivery.receivers import SECRET, Answer, Hook, Mailbox

NOW = dt.datetime(2026, 3, 8, 9, 0, tzinfo=dt.UTC)


DELIVERY = """channels:
  mail:
    kind: email
    host: 127.0.0.1
    port: {smtp}
    username: headroom
    password: ${{TEST_SMTP_PASSWORD}}
    sender: TeamFlow <success@teamflow.example>
    ca_file: {ca}
  hook: {{kind: webhook, url: "{hook}", secret: "${{TEST_HOOK_SECRET}}", timeout: 5}}
send:
  self_serve: {{channel: mail, to: "owner@{{{{ account.id }}}}.example"}}
  csm: {{channel: mail, to: "{{{{ account.csm }}}}"}}
  ae: {{channel: hook, to: "{{{{ account.ae }}}}"}}
  ae_alert: {{channel: hook}}
  csm_direct_message: {{channel: hook, to: "{{{{ account.csm }}}}"}}
"""


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SMTP_PASSWORD", Mailbox.PASSWORD)
    monkeypatch.setenv("TEST_HOOK_SECRET", SECRET)


def test_a_run_queues_each_plays_messages_and_the_worker_delivers_them(
    tmp_path: Path, secrets: None
) -> None:
    with Mailbox(tmp_path) as mailbox, Hook() as hook:
        config = DELIVERY.format(smtp=mailbox.port, ca=mailbox.ca_file, hook=hook.url)
        book = playbook_with(tmp_path / "book", config)
        src = source(tmp_path / "src")
        run = CliRunner().invoke(
            app, ["run", str(src), "--playbook", str(book), "--as-of", str(DAY), "--format",
                  "json"],
        )  # fmt: skip
        assert run.exit_code == 0, run.output
        fired = {(p["account_id"], p["trigger"]) for p in json.loads(run.output)["plays"]}
        assert fired == {
            ("a1", "seat_expansion_urgent"),
            ("a2", "seat_expansion_proactive"),
            ("a3", "enterprise_expansion"),
        }
        store = Store()
        try:
            queued = {(d.play_id.split("-")[0], d.target, d.channel) for d in deliveries(store)}
        finally:
            store.close()
        # The owner's draft, and an alert per routing name that delivery.yaml knows (a3's
        # routing also names ae, its owner already, csm and manager, which has no entry).
        assert {(t, c) for _, t, c in queued} == {
            ("self_serve", "mail"), ("csm", "mail"), ("ae", "hook"),
            ("csm_direct_message", "hook"), ("ae_alert", "hook"),
        }  # fmt: skip
        assert len(queued) == 6

        sent = CliRunner().invoke(
            app, ["deliver", str(tmp_path / "book" / "delivery.yaml"), "--format", "json"]
        )
        assert sent.exit_code == 0, sent.output
        assert json.loads(sent.output) == {
            "sent": 6, "retrying": 0, "dead": 0, "queued": 0, "next_attempt_at": None,
            "dead_letters": [],
        }  # fmt: skip

        # The emails, parsed: each carries the account's own numbers.
        mails = {str(m["To"]): m for m in mailbox.messages}
        assert sorted(mails) == ["csm.a2@example.com", "csm.a3@example.com", "owner@a1.example"]
        urgent = mails["owner@a1.example"]
        assert urgent["Subject"] == "a1 is growing: keeping room for everyone"
        assert urgent["From"] == "TeamFlow <success@teamflow.example>"
        text = urgent.get_content()
        assert "1 invitation today could not go out" in text
        assert "Could we check in on Tuesday 10 March 2026?" in text
        brief = mails["csm.a2@example.com"].get_content()
        assert "90% of their seats active for 15 days running" in brief
        assert str(urgent["Message-ID"]).startswith("<dlv_")

        # The webhooks, verified by the Standard Webhooks reference library.
        assert not hook.rejected
        assert len(hook.accepted) == len(hook.requests) == 3
        briefs = [a for a in hook.accepted.values() if a["data"]["target"] == "ae"]
        (ae,) = briefs
        assert ae["type"] == "headroom.brief"
        assert ae["data"]["recipient"] == "ae.a3@example.com"
        assert ae["data"]["play"]["evidence"]["acv"] == 36000.0
        assert "85% of seats active on Business, 36,000 a year today" in ae["data"]["body"]


def test_the_reference_library_refuses_a_tampered_body_or_a_stale_timestamp() -> None:
    body = b'{"type":"headroom.alert","data":{"subject":"a3"}}'
    now = int(time.time())
    headers = {
        "webhook-id": "dlv_1",
        "webhook-timestamp": str(now),
        "webhook-signature": sign(SECRET, "dlv_1", now, body),
    }
    assert Webhook(SECRET).verify(body, headers)["data"] == {"subject": "a3"}
    with pytest.raises(WebhookVerificationError, match="No matching signature found"):
        Webhook(SECRET).verify(body.replace(b"a3", b"a4"), headers)
    stale = now - 600
    old = headers | {
        "webhook-timestamp": str(stale),
        "webhook-signature": sign(SECRET, "dlv_1", stale, body),
    }
    with pytest.raises(WebhookVerificationError, match="Message timestamp too old"):
        Webhook(SECRET).verify(body, old)


# -- faults, on a clock the test moves --------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def queue(store: Store, n: int = 1) -> list[str]:
    rows = [
        Queued(
            delivery_id(f"p{i}", "ops"), f"p{i}", "ops", "hook", None,
            Message("alert", f"play p{i}", f"play p{i} fired\n"), {"play": {"id": f"p{i}"}},
        )
        for i in range(n)
    ]  # fmt: skip
    store.record_run(DAY, [], "v1", rows, NOW)
    return [r.delivery_id for r in rows]


def one(store: Store, key: str) -> Delivery:
    with store.session() as s:
        row = s.get(Delivery, key)
        assert row is not None
        return row


@pytest.fixture
def outbox(store_url: str) -> Iterator[Store]:
    store = Store()
    try:
        yield store
    finally:
        store.close()


def worker(store: Store, hook: Hook, clock: Clock, **policy: float) -> Worker:
    channel = WebhookChannel(
        "hook", WebhookChannel.Settings(url=hook.url, secret=SECRET, timeout=0.5)
    )
    return Worker(store, {"hook": channel}, RetryPolicy(**policy), clock)  # type: ignore[arg-type]


def test_a_receiver_that_is_down_gets_it_once_it_is_up(outbox: Store) -> None:
    clock, hook = Clock(), Hook()
    (key,) = queue(outbox)
    w = worker(outbox, hook, clock, first_seconds=30, most_seconds=60)
    t = w.run()
    assert (t.sent, t.retrying, t.dead) == (0, 1, 0)
    row = one(outbox, key)
    assert row.status == "queued" and row.attempts == 1
    assert row.last_error is not None
    assert row.last_error.startswith(f"{hook.url} could not be reached (ConnectError")
    waited = (row.next_attempt_at.replace(tzinfo=dt.UTC) - NOW).total_seconds()
    assert 15 <= waited <= 30  # half to all of the first wait: jitter
    with hook:
        assert w.run().sent == 0  # not due yet
        clock.advance(30)
        assert w.run().sent == 1
    assert one(outbox, key).status == "sent"
    assert list(hook.accepted) == [key] and len(hook.requests) == 1


def test_a_slow_receiver_is_retried_and_acts_once(outbox: Store) -> None:
    clock = Clock()
    (key,) = queue(outbox)
    with Hook(delay=1.5) as hook:
        w = worker(outbox, hook, clock)
        t = w.run()
        assert (t.sent, t.retrying) == (0, 1)
        assert one(outbox, key).last_error == f"{hook.url} did not answer within 0.5 s"
        hook.delay = 0
        clock.advance(60)
        assert w.run().sent == 1
        time.sleep(1.6)  # let the first, slow request finish on the receiver's side
    # Two requests reached it, one id: the receiver acted once.
    assert len(hook.requests) == 2
    assert {h["webhook-id"] for h, _ in hook.requests} == {key}
    assert list(hook.accepted) == [key]


def test_500_then_200_is_delivered_once(outbox: Store) -> None:
    clock = Clock()
    (key,) = queue(outbox)
    with Hook([Answer(500)]) as hook:
        w = worker(outbox, hook, clock)
        assert w.run().retrying == 1
        assert one(outbox, key).last_error == f"{hook.url} answered 500"
        clock.advance(60)
        assert w.run().sent == 1
    assert len(hook.requests) == 2 and list(hook.accepted) == [key]
    assert one(outbox, key).attempts == 2


def test_429_waits_as_long_as_the_receiver_asks(outbox: Store) -> None:
    clock = Clock()
    (key,) = queue(outbox)
    with Hook([Answer(429, {"retry-after": "120"})]) as hook:
        w = worker(outbox, hook, clock, first_seconds=1)
        assert w.run().retrying == 1
        row = one(outbox, key)
        assert row.next_attempt_at.replace(tzinfo=dt.UTC) == NOW + dt.timedelta(seconds=120)
        clock.advance(119)
        assert w.run().sent == 0
        clock.advance(1)
        assert w.run().sent == 1
    assert list(hook.accepted) == [key]


def test_a_spent_retry_budget_dead_letters_with_the_reason(outbox: Store) -> None:
    clock = Clock()
    (key,) = queue(outbox)
    with Hook([Answer(503), Answer(503), Answer(503)]) as hook:
        w = worker(outbox, hook, clock, attempts=3, first_seconds=10)
        for _ in range(3):
            w.run()
            clock.advance(3600)
        row = one(outbox, key)
    assert (row.status, row.attempts) == ("dead", 3)
    assert row.last_error == f"{hook.url} answered 503 (gave up after 3 attempts)"
    assert not hook.accepted
    # Mended and requeued, it goes out.
    requeued = CliRunner().invoke(app, ["deliveries", "requeue", key])
    assert requeued.exit_code == 0 and "requeued 1 deliveries" in requeued.output
    with Hook() as hook2:
        later = Clock()
        later.now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)  # requeued just now
        assert worker(outbox, hook2, later).run().sent == 1


def test_a_refusal_dead_letters_at_once(outbox: Store) -> None:
    (key,) = queue(outbox)
    with Hook([Answer(410)]) as hook:
        t = worker(outbox, hook, Clock()).run()
    assert (t.sent, t.retrying, t.dead) == (0, 0, 1)
    assert t.reasons == [f"{key}: {hook.url} answered 410"]
    listed = CliRunner().invoke(app, ["deliveries", "list", "--status", "dead", "--format", "json"])
    assert listed.exit_code == 0
    (row,) = json.loads(listed.output)
    assert (row["delivery_id"], row["attempts"], row["last_error"]) == (
        key, 1, f"{hook.url} answered 410",
    )  # fmt: skip


# -- a worker killed mid-batch ------------------------------------------------------------------


def test_sigkill_mid_batch_loses_nothing_and_duplicates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    monkeypatch.setenv("HEADROOM_DATABASE_URL", url)
    monkeypatch.setenv("TEST_HOOK_SECRET", SECRET)
    settings.cache_clear()
    store = Store()
    keys = queue(store, 12)
    store.close()
    config = tmp_path / "delivery.yaml"
    with Hook(delay=0.25) as hook:
        config.write_text(
            f'channels:\n  hook: {{kind: webhook, url: "{hook.url}", '
            'secret: "${TEST_HOOK_SECRET}"}\n'
            "retry: {lease_seconds: 2, first_seconds: 0.1}\n"
        )
        headroom = str(Path(sys.executable).with_name("headroom"))
        child = subprocess.Popen(
            [headroom, "deliver", str(config), "--limit", "5"],
            env=os.environ | {"HEADROOM_DATABASE_URL": url},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        while len(hook.requests) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)  # mid-batch, most likely mid-request
        child.wait()
        first = len(hook.requests)
        assert 4 <= first < 12
        time.sleep(2.1)  # the killed worker's lease runs out
        done = CliRunner().invoke(app, ["deliver", str(config), "--format", "json"])
        assert done.exit_code == 0, done.output
    store = Store()
    try:
        statuses = {d.delivery_id: d.status for d in deliveries(store)}
    finally:
        store.close()
    assert statuses == dict.fromkeys(keys, "sent")  # nothing lost
    # Every delivery reached the receiver, which acted on each id once; a request repeated
    # after the kill carries an id it had already seen.
    assert sorted(hook.accepted) == sorted(keys)
    ids = [h["webhook-id"] for h, _ in hook.requests]
    assert len(ids) - len(set(ids)) <= 5  # at most the killed batch again


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "channels:\n  hook: {kind: pager, url: x}\n",
            "delivery.yaml:2:16: channel hook: kind 'pager' is not a channel kind; use one of "
            "email, hubspot, slack, webhook",
        ),
        (
            "channels:\n  hook: {kind: webhook, url: x, secret: nope}\nsend: {}\n",
            "delivery.yaml:2:41: channel hook: secret: a webhook secret is whsec_ followed by "
            "base64, e.g. whsec_YSBsb25nIHJhbmRvbSBzZWNyZXQ=",
        ),
        (
            "channels: {}\nsend:\n  csm: {channel: mail}\n",
            "delivery.yaml:3:18: send.csm: no channel named 'mail'; use one of (none defined)",
        ),
    ],
)
def test_delivery_yaml_errors_say_where(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "delivery.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_delivery(path)
    assert str(err.value) == message


def test_a_secret_missing_from_the_environment_says_which(tmp_path: Path) -> None:
    path = tmp_path / "delivery.yaml"
    path.write_text('channels:\n  hook: {kind: webhook, url: x, secret: "${NOT_SET_ANYWHERE}"}\n')
    config = load_delivery(path)
    with pytest.raises(Exception) as err:
        config.channels()
    assert str(err.value) == (
        "delivery.yaml:2:41: channels.hook.secret reads ${NOT_SET_ANYWHERE}, which is not set; "
        "set NOT_SET_ANYWHERE in the environment of headroom deliver and headroom serve"
    )


def test_a_secret_can_be_read_from_the_file_its_file_variable_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As containers and systemd hand secrets over: ${NAME} reads the file NAME_FILE names."""
    (tmp_path / "hook.secret").write_text("whsec_c2VjcmV0\n")  # an editor's line break
    monkeypatch.setenv("FILED_HOOK_SECRET_FILE", str(tmp_path / "hook.secret"))
    path = tmp_path / "delivery.yaml"
    path.write_text('channels:\n  hook: {kind: webhook, url: x, secret: "${FILED_HOOK_SECRET}"}\n')
    channel = load_delivery(path).channels()["hook"]
    try:
        assert channel.settings.secret == "whsec_c2VjcmV0"
    finally:
        channel.close()


# -- SLAs ---------------------------------------------------------------------------------------


def run_with_a_manager(tmp_path: Path, hook: Hook) -> dict[str, Any]:
    """The three-account run on DAY, with a manager to escalate to through ``hook``; its plays
    by account."""
    config = (
        "channels:\n"
        f'  hook: {{kind: webhook, url: "{hook.url}", secret: "${{TEST_HOOK_SECRET}}"}}\n'
        "send:\n  manager: {channel: hook, to: lee@teamflow.example}\n"
    )
    book = playbook_with(tmp_path / "book", config)
    src = source(tmp_path / "src")
    run = CliRunner().invoke(app, ["run", str(src), "--playbook", str(book), "--as-of",
                                   str(DAY), "--format", "json"])  # fmt: skip
    assert run.exit_code == 0, run.output
    return {p["account_id"]: p for p in json.loads(run.output)["plays"]}


def test_a_play_past_its_sla_escalates_once_as_the_routing_says(
    tmp_path: Path, secrets: None
) -> None:
    with Hook() as hook:
        plays = run_with_a_manager(tmp_path, hook)
        # a3's ACV routes it with a 4-hour SLA from the end of its day in Los Angeles: four
        # hours of elapsed time, on the night the clocks go forward.
        assert plays["a3"]["sla_due_at"] == "2026-03-08T05:00:00-07:00"
        settings_ = load_delivery(tmp_path / "book" / "delivery.yaml")
        clock = Clock()
        clock.now = dt.datetime(2026, 3, 8, 11, 59, tzinfo=dt.UTC)  # 04:59 in Los Angeles
        store = Store()
        try:
            w = Worker(store, settings_.channels(), settings_.retry, clock, send=settings_.send)
            assert w.run().sent == 0  # not yet overdue: nothing to send
            clock.advance(60)
            assert w.run().sent == 1
            clock.advance(3600)
            assert w.run().sent == 0  # escalated once
            (row,) = [d for d in deliveries(store) if d.target.startswith("escalate:")]
        finally:
            store.close()
    assert (row.target, row.recipient, row.kind) == ("escalate:manager", "lee@teamflow.example",
                                                     "alert")  # fmt: skip
    assert row.subject == (
        "Overdue: enterprise_expansion for a3 (due by 2026-03-08T05:00:00-07:00)"
    )
    (sent,) = hook.accepted.values()
    assert sent["data"]["escalation"] is True
    assert sent["data"]["play"]["id"] == plays["a3"]["play_id"]


def test_a_play_acted_on_in_time_does_not_escalate(tmp_path: Path, secrets: None) -> None:
    with Hook() as hook:
        a3 = run_with_a_manager(tmp_path, hook)["a3"]
        noted = CliRunner().invoke(app, ["plays", "record", a3["play_id"], "--outcome",
                                         "contacted"])  # fmt: skip
        assert noted.exit_code == 0, noted.output
        settings_ = load_delivery(tmp_path / "book" / "delivery.yaml")
        clock = Clock()
        clock.now = dt.datetime(2026, 3, 9, tzinfo=dt.UTC)
        store = Store()
        try:
            w = Worker(store, settings_.channels(), settings_.retry, clock, send=settings_.send)
            assert w.run().sent == 0
        finally:
            store.close()
    assert not hook.requests


def test_the_example_delivery_file_is_valid() -> None:
    config = load_delivery(EXAMPLE / "delivery.example.yaml")
    assert sorted(config.raw_channels) == ["crm", "customer_email", "ops", "team_slack"]
    assert set(config.send) >= {"self_serve", "csm", "ae", "manager"}
    assert config.retry.attempts == 8


# -- leases -------------------------------------------------------------------------------------


class Recording:
    """A channel that records what it sent and can run code during a send."""

    idempotent = True

    def __init__(self, during: Any = None) -> None:
        self.sent: list[str] = []
        self.during = during

    def send(self, message: Any) -> None:
        if self.during is not None:
            during, self.during = self.during, None
            during()
        self.sent.append(message.key)

    def close(self) -> None:
        pass


def test_a_row_whose_lease_ran_out_in_a_slow_batch_is_left_to_the_worker_that_took_it(
    outbox: Store,
) -> None:
    keys = queue(outbox, 2)
    clock = Clock()
    other = Recording()
    b = Worker(outbox, {"hook": other}, RetryPolicy(lease_seconds=60), clock)  # type: ignore[dict-item]

    def slow_first_send() -> None:
        clock.advance(120)  # the batch's leases run out while the first row is being sent
        b.run_once()  # another worker claims both and sends them

    mine = Recording(slow_first_send)
    a = Worker(outbox, {"hook": mine}, RetryPolicy(lease_seconds=60), clock)  # type: ignore[dict-item]
    a.run_once()
    # The row in flight went out twice (an idempotent receiver drops one); the row after it
    # was not sent again by the worker that had lost it.
    assert sorted(other.sent) == sorted(keys)
    assert len(mine.sent) == 1 and mine.sent[0] in keys


def test_a_delivery_that_keeps_killing_its_worker_is_dead_lettered(outbox: Store) -> None:
    (key,) = queue(outbox)
    clock = Clock()
    w = Worker(outbox, {"hook": Recording()}, RetryPolicy(attempts=2, lease_seconds=10), clock)  # type: ignore[dict-item]
    for _ in range(2):  # claimed, then the worker dies: the lease runs out
        assert len(w.claim(10)[1]) == 1
        clock.advance(11)
    t = w.run_once()
    assert t.dead == 1
    row = one(outbox, key)
    assert (row.status, row.last_error) == (
        "dead", "abandoned mid-send 2 times (a worker stopped each time)",
    )  # fmt: skip


def test_a_worker_inside_serve_outlives_a_failed_batch(outbox: Store) -> None:
    import threading

    queue(outbox)
    stop = threading.Event()
    w = Worker(outbox, {"hook": Recording()}, RetryPolicy())  # type: ignore[dict-item]
    real, calls = w.run_once, []

    def flaky(limit: int = 50) -> Any:
        calls.append(limit)
        if len(calls) == 1:
            raise RuntimeError("database is locked")
        if len(calls) == 3:
            stop.set()
        return real(limit)

    w.run_once = flaky  # type: ignore[method-assign]
    total = w.run(stop, until_idle=False, poll_seconds=0.01)
    assert total.sent == 1 and len(calls) == 3


def test_delivery_yaml_checks_recipient_templates_and_hides_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "delivery.yaml"
    path.write_text(
        'channels:\n  hook: {kind: webhook, url: x, secret: "${S}"}\n'
        'send:\n  csm: {channel: hook, to: "{{ account.csm "}\n'
    )
    with pytest.raises(Exception) as err:
        load_delivery(path)
    assert str(err.value).startswith("delivery.yaml:4:28: send.csm.to is not a template: ")
    path.write_text('channels:\n  hook: {kind: webhook, url: x, secret: "${S}"}\n')
    monkeypatch.setenv("S", "not-a-secret-format-but-private")
    with pytest.raises(Exception) as err:
        load_delivery(path).channels()
    assert "not-a-secret-format-but-private" not in str(err.value)
    assert str(err.value).startswith(
        "delivery.yaml:2:41: channel hook: secret: Value error, a webhook secret is whsec_"
    )
