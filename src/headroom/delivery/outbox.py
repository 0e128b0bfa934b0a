"""The outbox: each play's messages and alerts, written with the play in one transaction.

A run that records a play also records what must be sent about it (see
:func:`headroom.store.database.Store.record_run`); a worker sends them later (see
:mod:`headroom.delivery.worker`). Nothing is sent from inside a run, so a run never waits on a
receiver and a receiver that is down never loses a play's message.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from jinja2 import TemplateError

from headroom.delivery.config import RECIPIENTS, DeliveryConfig, Target
from headroom.messages.queued import Queued
from headroom.messages.templates import Message, Templates
from headroom.playbook.model import Playbook
from headroom.sources import Source
from headroom.store.models import Play
from headroom.triggers.decisions import Decision, PlayDraft

#: The accounts columns a message can read.
ACCOUNT_COLUMNS = ("name", "segment", "csm", "ae", "timezone")


def delivery_id(play_id: str, target: str) -> str:
    """The delivery's id, also its idempotency key: the same for the same play and target.

    >>> delivery_id("p-1", "csm")
    'dlv_8f7dd4496f6f6034f25890cdc54ba3b6'
    """
    return "dlv_" + hashlib.sha256(f"{play_id}\n{target}".encode()).hexdigest()[:32]


def render_recipient(template: str | None, values: Mapping[str, Any]) -> str | None:
    if template is None:
        return None
    try:
        out = RECIPIENTS.from_string(template).render(values).strip()
    except TemplateError:
        return None  # said when the channel refuses it: dead-lettered with the reason
    return out if out and out != "None" else None


def play_fields(p: PlayDraft | Play) -> dict[str, Any]:
    """A play (drafted by a run, or from the store) as templates and payloads see it."""
    return {
        "play_id": p.play_id,
        "account_id": p.account_id,
        "trigger": p.trigger,
        "offer": p.offer,
        "owner": p.owner,
        "role": p.role,
        "fired_on": p.fired_on.isoformat(),
        "due_at": p.due_at,
        "priority": p.priority,
        "evidence": p.evidence,
        "sla_due_at": p.sla_due_at,
    }


def plan(
    playbook: Playbook,
    templates: Templates,
    config: DeliveryConfig,
    plays: Sequence[PlayDraft],
    accounts: Mapping[str, Mapping[str, Any]],
    now: dt.datetime,
) -> list[Queued]:
    """The deliveries of ``plays``: the owner's draft (an email to the customer for a
    self-serve owner, else a brief), and an alert per routing ``notify`` name; each only where
    ``delivery.yaml`` says where it goes. ``accounts``: rows of the accounts table by id."""
    out: list[Queued] = []
    for p in plays:
        fields = play_fields(p)
        account = dict(accounts.get(p.account_id) or {"account_id": p.account_id})
        trigger = playbook.trigger(p.trigger)
        role = p.role or p.owner
        wanted = [(role, templates.name_for(trigger, role))]
        wanted += [(n, None) for n in p.notify if n != role]
        for target, name in wanted:
            t = config.send.get(target)
            if t is not None:
                message = templates.render(name, fields, account)
                out.append(queued(fields, account, target, t, message, now))
    return out


def queued(
    fields: Mapping[str, Any],
    account: Mapping[str, Any],
    target_key: str,
    to: Target,
    message: Message,
    now: dt.datetime,
    **extra: Any,
) -> Queued:
    """The delivery of ``message`` about a play (its :func:`play_fields`) to ``target_key``,
    with the payload a channel sends (``extra`` added to it, or overriding it)."""
    play_id = str(fields["play_id"])
    values = {"account": {"id": fields["account_id"], **account}, "play": fields}
    payload = {
        "play": {"id": play_id, **{k: v for k, v in fields.items() if k != "play_id"}},
        "account": dict(account),
        "target": target_key,
        "created_at": now.isoformat(),
        **extra,
    }
    return Queued(
        delivery_id(play_id, target_key),
        play_id,
        target_key,
        to.channel,
        render_recipient(to.to, values),
        message,
        payload,
        approve=to.approve,
    )


def account_rows(source: Source, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The accounts table's rows of ``ids`` (the columns a message can use that it has)."""
    if not ids:
        return {}
    t = source.table("accounts")
    wanted = [c for c in ("account_id", *ACCOUNT_COLUMNS) if c in t.columns]
    rows = t.filter(t.account_id.isin(list(ids))).select(*wanted).to_pyarrow().to_pylist()
    return {str(r["account_id"]): r for r in rows}


def outbox_for(
    source: Source,
    playbook: Playbook,
    templates: Templates,
    config: DeliveryConfig | None,
    decisions: Sequence[Decision],
    now: dt.datetime,
) -> list[Queued]:
    """The deliveries of a run's plays (none without a ``delivery.yaml``)."""
    plays = [d.play for d in decisions if d.play is not None and d.action == "fired"]
    if config is None or not plays:  # held-out plays are controls: never delivered
        return []
    accounts = account_rows(source, sorted({p.account_id for p in plays}))
    return plan(playbook, templates, config, plays, accounts, now)
