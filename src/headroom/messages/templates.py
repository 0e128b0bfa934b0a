"""Message templates beside the playbook, checked against what each play can supply.

A playbook's ``templates/`` folder holds, per offer, the self-serve email to the customer
(``<offer>.email.j2``: a ``Subject:`` line, a blank line, the body) and the conversation brief
for a person who owns the play (``<offer>.brief.j2``); a trigger's ``message:`` names its own
template of either kind instead, used for its owners of that kind. Routing alerts use
``alert.j2`` when the folder has one, else a built-in.

Templates are Jinja2 rendered in a sandbox with undefined names refused: a template naming a
figure the play does not carry fails ``headroom check`` with the file, line and column, and can
never blank a customer's email. What a template can use:

* ``account``: ``id, name, segment, csm, ae, timezone`` (name falls back to the id);
* ``play``: ``id, trigger, offer, owner, fired_on, due_at, priority, why`` (the evidence in words);
* the evidence figures by name (``seat_utilisation``, ``days_held``, ...), also as ``evidence``;
* ``next_step_on``: the day to propose for the next step (two business days after the play is due);
* filters ``percent`` (0.91 -> 91%), ``number`` (1234.5 -> 1,235), ``day`` (a date in words).
"""

from __future__ import annotations

import datetime as dt
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from headroom.errors import ConfigError, HeadroomError
from headroom.playbook.model import Playbook, Trigger
from headroom.triggers.evidence import describe, evidence_names

#: Owners that are not people: their plays go to the customer as an email, not as a brief.
SELF_SERVE = frozenset({"self_serve", "automated_nurture"})
#: The names every play supplies, besides its evidence.
ALWAYS = frozenset({"account", "play", "evidence", "next_step_on"})
#: What a template may call on ``evidence`` itself.
DICT_METHODS = frozenset({"items", "keys", "values", "get"})
#: What ``account`` and ``play`` have.
FIELDS = {
    "account": frozenset({"id", "name", "segment", "csm", "ae", "timezone"}),
    "play": frozenset({"id", "trigger", "offer", "owner", "fired_on", "due_at", "priority", "why"}),
}

ALERT = """{{ play.trigger }} fired for {{ account.name }} ({{ account.id }}): {{ play.why }}.
Owner: {{ play.owner }}; due {{ play.due_at }}. Offer: {{ play.offer }}."""


@dataclass(frozen=True)
class Message:
    """A rendered message: ``kind`` is ``email``, ``brief`` or ``alert``."""

    kind: str
    subject: str
    body: str


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 or value == int(value) else f"{value:,.2f}"


def _day(value: dt.date | str | None) -> str:
    if value is None:
        return "-"
    day = dt.date.fromisoformat(value[:10]) if isinstance(value, str) else value
    return f"{day:%A} {day.day} {day:%B %Y}"


#: A message is an email or a brief, not a program: the most text a template may make (or
#: build on the way), the largest exponent, and the longest it may take.
MAX_TEXT = 100_000
MAX_EXPONENT = 64
MAX_SECONDS = 2.0


class _Bounded(ImmutableSandboxedEnvironment):
    """The sandbox, with text and numbers bounded: ``'a' * 10**10`` is refused before it
    takes the machine's memory."""

    intercepted_binops = frozenset(["*", "**", "+"])

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
            raise SecurityError(f"an exponent of {right} is over the limit of {MAX_EXPONENT}")
        sized = (str, list, tuple)
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, sized) and isinstance(n, int) and len(seq) * n > MAX_TEXT:
                    raise SecurityError(f"repeating makes over {MAX_TEXT:,} characters")
        joined = isinstance(left, sized) and isinstance(right, sized)
        if operator == "+" and joined and len(left) + len(right) > MAX_TEXT:
            raise SecurityError(f"joining makes over {MAX_TEXT:,} characters")
        return super().call_binop(context, operator, left, right)


class _TooLongError(TemplateError):
    pass


def _bounded_render(template: Any, values: dict[str, Any]) -> str:
    """Render within :data:`MAX_TEXT` characters and :data:`MAX_SECONDS`.

    Time is kept by tracing the template's own code only (Jinja compiles a template to Python
    named ``<template>``): a loop of loops is stopped between two of its lines. Other code runs
    untraced, at full speed.
    """
    # The thread's own CPU time: a busy machine that pauses the render does not count.
    deadline = time.thread_time() + MAX_SECONDS

    def local(frame: Any, event: str, arg: Any) -> Any:
        if event == "line" and time.thread_time() > deadline:
            raise _TooLongError(f"it ran for over {MAX_SECONDS:g} s")
        return local

    def calls(frame: Any, event: str, arg: Any) -> Any:
        return local if frame.f_code.co_filename == "<template>" else None

    previous = sys.gettrace()
    sys.settrace(calls)
    try:
        parts: list[str] = []
        size = 0
        for part in template.generate(values):
            size += len(part)
            if size > MAX_TEXT:
                raise _TooLongError(f"it makes over {MAX_TEXT:,} characters")
            parts.append(part)
        return "".join(parts)
    finally:
        sys.settrace(previous)


def _environment() -> ImmutableSandboxedEnvironment:
    env = _Bounded(undefined=StrictUndefined, keep_trailing_newline=False, autoescape=False)
    env.filters.update(percent=_percent, number=_number, day=_day)
    return env


def kind_of(owner: str) -> str:
    """``email`` for a self-serve owner, ``brief`` for a person."""
    return "email" if owner in SELF_SERVE else "brief"


def owners_of(trigger: Trigger) -> list[str]:
    """Every owner a trigger's plays can have."""
    if isinstance(trigger.owner, str):
        return [trigger.owner]
    return list(dict.fromkeys(rule.owner for rule in trigger.owner))


def business_days_after(day: dt.date, n: int) -> dt.date:
    """The n-th weekday after ``day``.

    >>> business_days_after(dt.date(2026, 11, 27), 2)  # a Friday
    datetime.date(2026, 12, 1)
    """
    while n:
        day += dt.timedelta(days=1)
        n -= day.weekday() < 5
    return day


@dataclass
class Templates:
    """The templates of one playbook, parsed and checked (see the module's text)."""

    folder: Path | None
    sources: dict[str, str]  # file name -> text

    def __post_init__(self) -> None:
        self._env = _environment()

    def name_for(self, trigger: Trigger, owner: str) -> str | None:
        """The template file a play of ``trigger`` for ``owner`` is drafted from (None: no
        templates folder, so no drafts)."""
        if self.folder is None:
            return None
        kind = kind_of(owner)
        if trigger.message and trigger.message.endswith(f".{kind}.j2"):
            return trigger.message
        return f"{trigger.offer}.{kind}.j2"

    def render(
        self,
        name: str | None,
        play: Mapping[str, Any],
        account: Mapping[str, Any],
    ) -> Message:
        """Draft one message. ``name`` None renders the alert; ``play`` has the play's fields
        and ``evidence``; ``account`` its row of the accounts table."""
        if name is None or name == "alert.j2":
            text, kind = self.sources.get("alert.j2", ALERT), "alert"
        else:
            text, kind = self.sources[name], name.rsplit(".", 2)[-2]
        evidence = dict(play.get("evidence") or {})
        due = str(play["due_at"])
        values: dict[str, Any] = {
            **evidence,
            "evidence": evidence,
            "account": {
                "id": account.get("account_id"),
                "name": account.get("name") or account.get("account_id"),
                "segment": account.get("segment"),
                "csm": account.get("csm"),
                "ae": account.get("ae"),
                "timezone": account.get("timezone") or "UTC",
            },
            "play": {
                "id": play["play_id"],
                "trigger": play["trigger"],
                "offer": play["offer"],
                "owner": play["owner"],
                "fired_on": play["fired_on"],
                "due_at": due,
                "priority": play["priority"],
                "why": describe(evidence),
            },
            "next_step_on": business_days_after(dt.date.fromisoformat(due[:10]), 2),
        }
        try:
            out = _bounded_render(self._env.from_string(text), values)
        except (TemplateError, TypeError, ValueError, ArithmeticError) as exc:
            raise HeadroomError(
                f"template {name or 'alert'} cannot be drafted for play {play['play_id']}: {exc}",
                fix="run headroom check on the playbook and mend the template it names",
            ) from None
        subject = ""
        if kind == "email":
            first, _, rest = out.partition("\n")
            subject, out = first.removeprefix("Subject:").strip(), rest.lstrip("\n")
        else:
            subject = out.strip().splitlines()[0] if out.strip() else ""
        return Message(kind, subject, out.strip() + "\n")

    def check(self, playbook: Playbook) -> None:
        """Every template a play of the playbook would be drafted from exists, parses, and uses
        only names the play supplies; the first problem is a ConfigError with file:line:column."""
        if self.folder is None:
            return
        for i, trigger in enumerate(playbook.model.triggers):
            supplied = ALWAYS | set(evidence_names(playbook, i))
            if "alert.j2" in self.sources:
                self._check_names("alert.j2", supplied, f"trigger {trigger.id}")
            for owner in owners_of(trigger):
                name = self.name_for(trigger, owner)
                assert name is not None
                if trigger.message and not trigger.message.endswith((".email.j2", ".brief.j2")):
                    name = trigger.message
                    raise ConfigError(
                        f"trigger {trigger.id}: message {name!r} is neither an email nor a brief",
                        fix="name it <something>.email.j2 (to the customer) or "
                        "<something>.brief.j2 (for the owner)",
                    )
                if name not in self.sources:
                    raise ConfigError(
                        f"trigger {trigger.id}: its plays for {owner} are drafted from "
                        f"templates/{name}, which does not exist",
                        fix=f"add templates/{name} beside the playbook",
                    )
                self._check_names(name, supplied, f"trigger {trigger.id}")

    def _check_names(self, name: str, supplied: set[str] | frozenset[str], who: str) -> None:
        text = self.sources[name]
        try:
            tree = self._env.parse(text)
            # Compiles too: an unknown filter is found here, not in a customer's run.
            unknown = meta.find_undeclared_variables(tree) - supplied
        except TemplateSyntaxError as exc:
            raise ConfigError(
                f"templates/{name}:{exc.lineno}:1: {exc.message}",
                fix="see https://jinja.palletsprojects.com/templates/ for the syntax",
            ) from None
        if name.endswith(".email.j2") and not text.lstrip().startswith("Subject:"):
            raise ConfigError(
                f"templates/{name}:1:1: an email template starts with its Subject: line",
                fix="write 'Subject: ...', a blank line, then the body",
            )
        missing: list[tuple[str, str, int]] = []
        for kind, key, at in _uses(tree, supplied):
            if (kind == "name" and key in unknown) or (kind == "evidence" and key not in supplied):
                missing.append((key, key, at))
            elif kind in FIELDS and key not in FIELDS[kind]:
                missing.append((f"{kind}.{key}", key, at))
        if not missing:
            return
        bad, word, lineno = min(missing, key=lambda m: m[2])
        line = text.splitlines()[lineno - 1]
        hit = re.search(rf"\b{re.escape(bad if '.' in bad else word)}\b", line)
        column = hit.start() + 1 if hit else 1
        if "." in bad:
            kind = bad.split(".")[0]
            raise ConfigError(
                f"templates/{name}:{lineno}:{column}: uses {bad!r}, which no play supplies",
                fix=f"{kind} has {', '.join(sorted(FIELDS[kind]))}",
            )
        others = sorted(supplied - ALWAYS)
        raise ConfigError(
            f"templates/{name}:{lineno}:{column}: uses {bad!r}, which {who} cannot supply",
            fix=f"use account, play, next_step_on or the evidence ({', '.join(others)}), "
            f"or test '{{% if evidence.{bad} is defined %}}' first",
        )


def _evidence_key(node: nodes.Node) -> str | None:
    """``x`` for ``evidence.x``, ``evidence['x']`` or a bare ``x``."""
    found = _attribute(node)
    if found is not None:
        return found[1] if found[0] == "evidence" else None
    return node.name if isinstance(node, nodes.Name) else None


def _attribute(node: nodes.Node) -> tuple[str, str] | None:
    """``(owner, x)`` for ``owner.x`` or ``owner['x']`` where owner is a plain name."""
    if isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name):
        return node.node.name, node.attr
    if (
        isinstance(node, nodes.Getitem)
        and isinstance(node.node, nodes.Name)
        and isinstance(node.arg, nodes.Const)
        and isinstance(node.arg.value, str)
    ):
        return node.node.name, node.arg.value
    return None


def _guards(test: nodes.Node) -> set[str]:
    """The names an ``if`` requires to be defined (``x is defined and y is defined``)."""
    if isinstance(test, nodes.Test) and test.name == "defined":
        key = _evidence_key(test.node)
        return {key} if key is not None else set()
    if isinstance(test, nodes.And):
        return _guards(test.left) | _guards(test.right)
    return set()


def _pure(test: nodes.Node) -> bool:
    """Whether a test only asks whether names are defined."""
    if isinstance(test, nodes.And):
        return _pure(test.left) and _pure(test.right)
    return isinstance(test, nodes.Test) and test.name == "defined"


def _uses(tree: nodes.Node, supplied: set[str] | frozenset[str]) -> list[tuple[str, str, int]]:
    """What a template reads where a play with ``supplied`` can reach, as ``(kind, key,
    line)``: kind ``name`` (a bare name), ``evidence``, ``account`` or ``play`` (an attribute of
    one). A branch under ``if x is defined`` is skipped when x is not supplied, so that one
    template can serve triggers with different evidence."""
    out: list[tuple[str, str, int]] = []

    def visit(node: nodes.Node) -> None:
        if isinstance(node, nodes.If):
            for branch in [node, *node.elif_]:
                visit(branch.test)
                guards = _guards(branch.test)
                if guards <= supplied:
                    for child in branch.body:
                        visit(child)
                    if guards and _pure(branch.test):
                        return  # this branch is taken: the ones after it are not reached
            for child in node.else_:
                visit(child)
            return
        if isinstance(node, nodes.Test) and node.name == "defined":
            return  # asking is not reading
        found = _attribute(node)
        if found == ("evidence", found[1] if found else "") and found[1] in DICT_METHODS:
            return  # evidence.items() and the like: reading the mapping itself
        if found is not None and found[0] in ("evidence", *FIELDS):
            out.append((found[0], found[1], node.lineno))
            return
        if isinstance(node, nodes.Name) and node.ctx == "load":
            out.append(("name", node.name, node.lineno))
        for child in node.iter_child_nodes():
            visit(child)

    visit(tree)
    return out


def load_templates(playbook: Playbook) -> Templates:
    """The templates beside a playbook (none if it has no ``templates/`` folder), checked."""
    folder = playbook.files.templates
    if not folder.is_dir():
        return Templates(None, {})
    sources = {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.j2"))}
    out = Templates(folder, sources)
    out.check(playbook)
    return out
