"""headroom running by itself, as whole processes: ``headroom serve`` runs the daily cycle when
it falls due, with no other command; two servers on one store run each day once; a worker
killed mid-cycle is resumed by the next without a play or message twice; its logs are JSON
lines carrying the ids of what they are about; ``/metrics`` agrees with the store; the pages
show the source each cycle loaded.

The source's data runs to yesterday (the cycle runs as of the day before), and the playbook
delivers through a webhook receiver on loopback that counts every request.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from headroom.config import settings
from headroom.delivery.worker import deliveries
from headroom.store.database import Store
from headroom.store.models import Cycle, Delivery, Play, Run
from headroom.users import add_user, create_token
from tests.delivery.receivers import SECRET, Hook, free_port
from tests.usecases.helpers import hook_playbook, source_through

HEADROOM = str(Path(sys.executable).with_name("headroom"))


def yesterday() -> dt.date:
    return dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)


def wait_for(what: Callable[[], bool], seconds: float, why: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if what():
            return
        time.sleep(0.2)
    raise AssertionError(f"waited {seconds} s for {why}")


@contextmanager
def opened(url: str) -> Iterator[Store]:
    store = Store(url)
    try:
        yield store
    finally:
        store.close()


def cycle_of(url: str, day: dt.date) -> Cycle | None:
    with opened(url) as store, store.session() as s:
        return s.get(Cycle, day)


def finished(url: str, day: dt.date) -> bool:
    row = cycle_of(url, day)
    return row is not None and row.status == "finished"


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as err:
        return subprocess.Popen([HEADROOM, *args], env=env, stdout=subprocess.DEVNULL, stderr=err)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def up(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return os.environ | {
        "HEADROOM_WORKSPACE": str(tmp_path / "ws"),
        "TEST_HOOK_SECRET": SECRET,
        "HEADROOM_LOG_FORMAT": "json",
    }


def test_serve_runs_the_cycle_when_it_falls_due_with_no_other_command(
    tmp_path: Path, env: dict[str, str]
) -> None:
    day = yesterday()
    now = dt.datetime.now(dt.UTC)
    if (now + dt.timedelta(seconds=120)).date() != now.date():  # not across midnight
        time.sleep(121)
        day, now = yesterday(), dt.datetime.now(dt.UTC)
    # late enough for the server to be up first on a busy machine
    due = (now + dt.timedelta(seconds=75)).replace(microsecond=0)
    url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    env = env | {"HEADROOM_DATABASE_URL": url}
    port = free_port()
    log = tmp_path / "serve.log"
    with opened(url) as store:  # an API token, to read the account pages' numbers
        add_user(store, "ops", "admin", "correct horse battery", "Ops")
        _, token = create_token(store, "ops")
    auth = {"authorization": f"Bearer {token}"}
    with Hook() as hook:
        # the data runs to the day before yesterday; yesterday's arrives while it serves
        src = source_through(tmp_path / "src", day - dt.timedelta(days=1))
        book = hook_playbook(tmp_path / "book", hook.url)
        proc = start(
            ["serve", str(src), "--playbook", str(book), "--port", str(port),
             "--daily-at", due.time().isoformat(), "--timezone", "UTC", "--check-every", "0.5"],
            env, log,
        )  # fmt: skip
        try:
            wait_for(lambda: up(port), 60, "the server")
            if dt.datetime.now(dt.UTC) >= due:  # the scenario needs the server up before then
                pytest.fail(f"the server was not up before the cycle fell due at {due}")
            # at once: the last day due when it starts, the day before yesterday
            wait_for(lambda: finished(url, day - dt.timedelta(days=1)), 120, "the first cycle")
            assert cycle_of(url, day) is None  # not due yet
            account = f"http://127.0.0.1:{port}/api/v1/accounts/a1"
            assert httpx.get(account, headers=auth).json()["as_of"] == str(day - dt.timedelta(1))
            source_through(tmp_path / "src", day)  # yesterday's data is exported
            wait_for(lambda: finished(url, day), 120, "yesterday's cycle, due at " + str(due))
            row = cycle_of(url, day)
            assert row is not None
            assert row.started_at.replace(tzinfo=dt.UTC) >= due
            with opened(url) as store:
                sent = {d.delivery_id for d in deliveries(store) if d.status == "sent"}
                with store.session() as s:
                    plays = s.scalar(select(func.count()).select_from(Play))
                    runs = s.scalar(select(func.count()).select_from(Run).where(
                        Run.kind == "run", Run.status == "finished"))  # fmt: skip
            run_step = next(s for s in row.steps if s["step"] == "run")
            # a run of its own (the plays fired the day before are in their cooldown now)
            assert (run_step["recorded_earlier"], run_step["decisions"] > 0) == (False, True)
            assert plays and sent and sorted(hook.accepted) == sorted(sent)
            assert len(hook.requests) == len(sent)  # each once
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
            # the pages show what the cycle loaded, not what the server started with
            wait_for(
                lambda: httpx.get(account, headers=auth).json()["as_of"] == str(day), 60,
                "the pages to show the refreshed source",
            )  # fmt: skip
        finally:
            stop(proc)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics)
        for s in family.samples
    }
    assert samples[("headroom_cycles", (("status", "finished"),))] == 2
    assert samples[("headroom_runs_total", (("kind", "run"), ("status", "finished")))] == runs
    assert (
        samples[("headroom_cycle_last_finished_day", ())]
        == dt.datetime.combine(day, dt.time(), dt.UTC).timestamp()
    )
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    said = [line for line in lines if line.get("cycle") == day.isoformat()]
    assert any(line["message"].startswith(f"cycle as of {day} finished") for line in said)
    assert any("run" in line and line["message"].startswith("run ") for line in said)
    sent_lines = [line for line in lines if line["message"].startswith("sent ")]
    assert {line["delivery"] for line in sent_lines} == sent
    assert all(line["play"] for line in sent_lines)


def test_two_servers_on_one_store_run_each_day_once(
    tmp_path: Path, env: dict[str, str], store_url: str
) -> None:
    day = yesterday()
    env = env | {"HEADROOM_DATABASE_URL": store_url}
    with Hook() as hook:
        src = source_through(tmp_path / "src", day)
        book = hook_playbook(tmp_path / "book", hook.url)

        def server(i: int) -> subprocess.Popen[bytes]:
            args = ["serve", str(src), "--playbook", str(book), "--port", str(free_port()),
                    "--daily-at", "00:00", "--check-every", "0.3"]  # fmt: skip
            return start(args, env, tmp_path / f"serve{i}.log")

        procs = [server(i) for i in range(2)]
        try:
            wait_for(lambda: finished(store_url, day), 120, "the cycle")
            with opened(store_url) as store:
                wait_for(
                    lambda: all(d.status == "sent" for d in deliveries(store)), 60,
                    "every delivery",
                )  # fmt: skip
        finally:
            for proc in procs:
                stop(proc)
    with opened(store_url) as store, store.session() as s:
        assert [c.day for c in s.scalars(select(Cycle))] == [day]
        assert list(s.scalars(select(Run.as_of).where(Run.kind == "run"))) == [day]
        plays = s.scalar(select(func.count()).select_from(Play))
        sent = {d.delivery_id for d in deliveries(store)}
    assert plays == 3
    assert sorted(hook.accepted) == sorted(sent)
    assert len(hook.requests) == len(sent)


def test_a_worker_killed_mid_cycle_is_resumed_without_a_play_or_message_twice(
    tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    day = yesterday()
    url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    env = env | {"HEADROOM_DATABASE_URL": url, "HEADROOM_SCHEDULER_LEASE_SECONDS": "2"}
    with Hook(delay=0.5) as hook:  # slow: the kill falls while it delivers
        src = source_through(tmp_path / "src", day)
        book = hook_playbook(tmp_path / "book", hook.url)
        args = ["worker", str(src), "--playbook", str(book), "--daily-at", "00:00",
                "--check-every", "0.3"]  # fmt: skip
        first = start(args, env, tmp_path / "first.log")
        try:
            wait_for(lambda: len(hook.requests) >= 1, 120, "the first delivery")
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait()
        killed = cycle_of(url, day)
        assert killed is not None and killed.status == "running"
        second = start(args, env, tmp_path / "second.log")
        try:
            wait_for(lambda: finished(url, day), 120, "the resumed cycle")
            monkeypatch.setenv("HEADROOM_DATABASE_URL", url)
            settings.cache_clear()
            with opened(url) as store:
                wait_for(
                    lambda: all(d.status == "sent" for d in deliveries(store)), 60,
                    "every delivery",
                )  # fmt: skip
        finally:
            stop(second)
    resumed = cycle_of(url, day)
    assert resumed is not None and resumed.attempts == 2
    with opened(url) as store, store.session() as s:
        plays = s.scalar(select(func.count()).select_from(Play))
        sent = {d.delivery_id for d in deliveries(store)}
    assert plays == 3
    # every delivery reached the receiver, which acted on each id once; one cut off by the
    # kill may have been sent again under its id (the receiver drops the repeat)
    assert sorted(hook.accepted) == sorted(sent)
    assert len(sent) <= len(hook.requests) <= len(sent) + 1


def test_serve_with_one_playbook_dead_letters_a_delivery_whose_channel_is_gone(
    tmp_path: Path, env: dict[str, str]
) -> None:
    # One playbook: its delivery.yaml's worker takes every due delivery, and one whose channel
    # delivery.yaml no longer names is dead-lettered saying so, not left queued for ever.
    url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    env = env | {"HEADROOM_DATABASE_URL": url}
    now = dt.datetime.now(dt.UTC)
    with opened(url) as store, store.session() as s:
        s.add(Delivery(
            delivery_id="dlv_gone", play_id="p1", target="csm", channel="mail",
            recipient="csm@example.com", kind="email", subject="s", body="b", payload={},
            status="queued", attempts=0, next_attempt_at=now, created_at=now,
        ))  # fmt: skip
    with Hook() as hook:
        src = source_through(tmp_path / "src", yesterday())
        book = hook_playbook(tmp_path / "book", hook.url)  # a webhook channel only
        proc = start(
            ["serve", str(src), "--playbook", str(book), "--port", str(free_port())],
            env, tmp_path / "serve.log",
        )  # fmt: skip
        try:
            with opened(url) as store:
                wait_for(lambda: deliveries(store)[0].status == "dead", 60, "the dead letter")
                (gone,) = deliveries(store)
        finally:
            stop(proc)
    assert gone.last_error == "channel 'mail' is not in delivery.yaml any more"
