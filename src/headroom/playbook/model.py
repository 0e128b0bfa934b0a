"""The playbook file: expansion stage, triggers and routing, validated with line and column.

A playbook is YAML, reviewed like code. Its conditions are checked against the signal
catalogue when it is loaded; anything wrong is reported as ``file:line:column: what; fix``.

>>> str(Duration.parse("7d")), Duration.parse("2 cycles").unit, Duration.parse("48h").amount
('7d', 'cycles', 48)
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import ibis
import ibis.expr.types as ir
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from headroom.errors import ConfigError
from headroom.playbook.expressions import ConditionError, Node, SignalType, parse
from headroom.yamldoc import Document, load_document, parse_model

_DURATION = re.compile(
    r"^\s*(\d+)\s*(d|day|days|h|hour|hours|m|min|minutes|cycle|cycles)\s*$", re.IGNORECASE
)
_UNITS = {"d": "days", "day": "days", "days": "days", "h": "hours", "hour": "hours",
          "hours": "hours", "m": "minutes", "min": "minutes", "minutes": "minutes",
          "cycle": "cycles", "cycles": "cycles"}  # fmt: skip


@dataclass(frozen=True)
class Duration:
    """A span written ``7d``, ``48h``, ``30m`` or ``2 cycles`` (billing cycles)."""

    amount: int
    unit: Literal["days", "hours", "minutes", "cycles"]

    @classmethod
    @functools.lru_cache(maxsize=512)  # pure, and asked once per decision of a run
    def parse(cls, text: str) -> Duration:
        m = _DURATION.match(str(text))
        if not m:
            raise ValueError(
                f"{text!r} is not a duration; write a whole number and a unit, such as 7d, "
                "48h, 30m or 2 cycles"
            )
        unit = _UNITS[m.group(2).lower()]
        return cls(int(m.group(1)), unit)  # type: ignore[arg-type]

    def timedelta(self) -> dt.timedelta:
        if self.unit == "cycles":
            raise ValueError("a number of billing cycles has no fixed length")
        return dt.timedelta(**{self.unit: self.amount})

    def __str__(self) -> str:
        short = {"days": "d", "hours": "h", "minutes": "m"}.get(self.unit)
        return f"{self.amount}{short}" if short else f"{self.amount} {self.unit}"


_TIMING = [
    (re.compile(r"^immediately$"), "immediately"),
    (re.compile(r"^next business day (\d{1,2}):(\d{2})$"), "next_business_day"),
    (re.compile(r"^(\d+)\s*h after (?:the )?threshold$"), "after_threshold"),
    (re.compile(r"^within (\d+)\s*h$"), "within"),
    (re.compile(r"^within (\d+)-(\d+) business days$"), "within_business_days"),
    (re.compile(r"^(\d+)-(\d+)\s*d before (?:the )?(?:projected )?ceiling$"), "before_ceiling"),
    (re.compile(r"^(\d+)-(\d+)\s*d before renewal$"), "before_renewal"),
]
TIMING_FORMS = (
    "immediately, next business day 10:00, 48h after threshold, within 24h, within 1-3 "
    "business days, 45-60d before ceiling, 75-90d before renewal"
)


@dataclass(frozen=True)
class Timing:
    """When a fired play is due, relative to the day it fired (in the customer's timezone)."""

    kind: str
    numbers: tuple[int, ...]

    @classmethod
    @functools.lru_cache(maxsize=512)  # pure, and asked once per decision of a run
    def parse(cls, text: str) -> Timing:
        clean = " ".join(str(text).lower().split())
        for pattern, kind in _TIMING:
            m = pattern.match(clean)
            if m:
                numbers = tuple(int(g) for g in m.groups())
                if kind == "next_business_day" and not (numbers[0] < 24 and numbers[1] < 60):
                    raise ValueError(f"{text!r} is not a time of day; write e.g. 10:00")
                if len(numbers) == 2 and kind != "next_business_day" and numbers[0] > numbers[1]:
                    raise ValueError(f"{text!r} gives its range backwards; write the smaller first")
                return cls(kind, numbers)
        raise ValueError(f"{text!r} is not a timing; use one of: {TIMING_FORMS}")


_ID = re.compile(r"^[a-z][a-z0-9_]*$")


def _duration(value: Any) -> Duration | None:
    return None if value is None else Duration.parse(value)


_SHARE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")


def holdout_share(text: str) -> float:
    """A holdout such as ``10%`` as a share: ``0.1``. From 0% (none) to 50%: holding out
    more than half would leave the plays themselves the smaller arm.

    >>> holdout_share("10%"), holdout_share("0%")
    (0.1, 0.0)
    """
    m = _SHARE.match(text)
    share = float(m[1]) / 100 if m else -1.0
    if not 0 <= share <= 0.5:
        raise ValueError(f"{text!r} is not a share from 0% to 50%, e.g. 10%")
    return share


def _holdout_text(value: str | None) -> str | None:
    if value is not None:
        holdout_share(value)
    return value


#: A holdout as written (``10%``), checked where it is read.
HoldoutText = Annotated[str | None, AfterValidator(_holdout_text)]


class Cooldown(BaseModel):
    """No play of the same group for an account within ``period`` of the last one."""

    model_config = ConfigDict(extra="forbid")
    group: str
    period: str = Field(description="e.g. 30d, or 'contract term' for once per contract term")

    @field_validator("period")
    @classmethod
    def _period(cls, value: str) -> str:
        if value.strip().lower() not in ("contract term", "term"):
            Duration.parse(value)
        return value


class OwnerRule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    when: str | None = None
    owner: str


class Trigger(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    id: str
    when: str
    for_: str | None = Field(default=None, alias="for")
    eligible: str | None = None
    cooldown: Cooldown | None = None
    timing: str = "immediately"
    owner: str | list[OwnerRule] = "csm"
    offer: str
    priority: int = Field(default=3, ge=1, le=5)
    message: str | None = None
    conversion: str | None = Field(
        default=None,
        description="benchmark share of plays won, e.g. '60-80%': the prior of the learned "
        "win rate until recorded outcomes outweigh it",
    )
    holdout: HoldoutText = Field(
        default=None,
        description="share of the accounts it fires for that are held out at random, e.g. "
        "'10%': recorded, never delivered, compared with the rest (default: the playbook's)",
    )

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError(
                f"{value!r} is not a trigger id; use lower-case letters, digits and _, "
                "starting with a letter"
            )
        return value

    @field_validator("conversion")
    @classmethod
    def _conversion(cls, value: str | None) -> str | None:
        if value is not None:
            conversion_range(value)
        return value

    @field_validator("for_")
    @classmethod
    def _for(cls, value: str | None) -> str | None:
        _duration(value)
        return value

    @field_validator("timing")
    @classmethod
    def _timing(cls, value: str) -> str:
        Timing.parse(value)
        return value

    @property
    def persistence(self) -> Duration | None:
        return _duration(self.for_)


_RANGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)\s*%\s*$")


def conversion_range(text: str) -> tuple[float, float]:
    """A benchmark rate range such as ``60-80%`` as shares: ``(0.6, 0.8)``.

    >>> conversion_range("60-80%")
    (0.6, 0.8)
    """
    m = _RANGE.match(text)
    low, high = (float(m[1]) / 100, float(m[2]) / 100) if m else (0.0, 0.0)
    if m is None or not 0 < low < high < 1:
        raise ValueError(
            f"{text!r} is not a range of percentages between 0 and 100, low first, e.g. 40-60%"
        )
    return low, high


class Stage(BaseModel):
    """Who is in the expansion stage, and how long a decline or an expansion keeps them out."""

    model_config = ConfigDict(extra="forbid")
    entry: str = "paying"
    reenter_after_expansion: str = "30d"
    declined_suppression: str = "90d"

    @field_validator("reenter_after_expansion", "declined_suppression")
    @classmethod
    def _days(cls, value: str) -> str:
        if Duration.parse(value).unit != "days":
            raise ValueError(f"{value!r} must be given in days, e.g. 30d")
        return value


class Route(BaseModel):
    """Who hears about a play that matches ``when``, and how soon someone must act."""

    model_config = ConfigDict(extra="forbid")
    when: str = "true"
    notify: list[str]
    sla: str | None = None
    escalate: list[str] = Field(
        default_factory=list,
        description="who is alerted when a play is still open once its SLA has passed",
    )

    @model_validator(mode="after")
    def _escalate_needs_sla(self) -> Route:
        if self.escalate and self.sla is None:
            raise ValueError("escalate needs an sla: give the time to act, e.g. sla: 4h")
        return self

    @field_validator("sla")
    @classmethod
    def _sla(cls, value: str | None) -> str | None:
        _duration(value)
        return value


class PlaybookModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Literal[1] = 1
    name: str
    timezone_default: str = "UTC"
    stage: Stage = Stage()
    triggers: list[Trigger] = Field(min_length=1)
    routing: list[Route] = Field(default_factory=list)
    holdout: HoldoutText = Field(
        default=None, description="every trigger's holdout unless it sets its own, e.g. '10%'"
    )
    experiment: str | None = Field(
        default=None,
        description="the name accounts are drawn under (default: the playbook's name); a new "
        "name draws them afresh",
    )

    def holdout_of(self, trigger: Trigger) -> float:
        """The share of ``trigger``'s accounts held out (0: none)."""
        text = trigger.holdout if trigger.holdout is not None else self.holdout
        return 0.0 if text is None else holdout_share(text)

    @property
    def experiment_name(self) -> str:
        """What the random draw is salted with."""
        return self.experiment or self.name


@dataclass(frozen=True)
class PlaybookFiles:
    """Where a playbook's companions are: its message templates in ``templates/`` and its
    channels in ``delivery.yaml``, both beside the playbook file (the one place that says so).

    >>> PlaybookFiles.of(Path("teamflow/playbook.yaml")).delivery.as_posix()
    'teamflow/delivery.yaml'
    """

    playbook: Path
    templates: Path
    delivery: Path

    @classmethod
    def of(cls, playbook: Path) -> PlaybookFiles:
        folder = playbook.parent
        return cls(playbook, folder / "templates", folder / "delivery.yaml")


@dataclass(frozen=True)
class Playbook:
    """A validated playbook with its conditions parsed once, and its version (content hash).

    Its conditions are asked for by what they are (:meth:`when`, :meth:`eligible`,
    :attr:`entry`, :meth:`owner_when`, :meth:`route_when`); each is a checked
    :class:`~headroom.playbook.expressions.Node` that :meth:`~Node.on` compiles over a table.
    """

    path: Path
    model: PlaybookModel
    conditions: dict[tuple[str | int, ...], Node]  # by location in the file
    version: str

    @property
    def files(self) -> PlaybookFiles:
        return PlaybookFiles.of(self.path)

    def signals(self) -> set[str]:
        return set().union(*(node.names() for node in self.conditions.values()))

    def trigger(self, trigger_id: str) -> Trigger:
        return next(t for t in self.model.triggers if t.id == trigger_id)

    @property
    def entry(self) -> Node:
        """The expansion stage's entry condition."""
        return self.conditions[("stage", "entry")]

    def when(self, index: int) -> Node:
        """The condition that fires trigger ``index`` (its place in the file)."""
        return self.conditions[("triggers", index, "when")]

    def eligible(self, index: int) -> Node | None:
        """Trigger ``index``'s eligibility condition (None: every account in the stage)."""
        return self.conditions.get(("triggers", index, "eligible"))

    def eligible_on(self, index: int, table: ir.Table) -> ir.BooleanValue:
        """Trigger ``index``'s eligibility over ``table`` (true where it has none)."""
        node = self.eligible(index)
        return node.on(table) if node is not None else ibis.literal(True)

    def owner_when(self, index: int, rule: int) -> Node | None:
        """The condition of trigger ``index``'s owner rule ``rule`` (None: it always holds)."""
        return self.conditions.get(("triggers", index, "owner", rule, "when"))

    def route_when(self, index: int) -> Node:
        """The condition of routing rule ``index``."""
        return self.conditions[("routing", index, "when")]


def _condition_locations(model: PlaybookModel) -> list[tuple[tuple[str | int, ...], str]]:
    out: list[tuple[tuple[str | int, ...], str]] = [(("stage", "entry"), model.stage.entry)]
    for i, t in enumerate(model.triggers):
        out.append((("triggers", i, "when"), t.when))
        if t.eligible:
            out.append((("triggers", i, "eligible"), t.eligible))
        if isinstance(t.owner, list):
            for j, rule in enumerate(t.owner):
                if rule.when:
                    out.append((("triggers", i, "owner", j, "when"), rule.when))
    for i, r in enumerate(model.routing):
        out.append((("routing", i, "when"), r.when))
    return out


def _label(model: PlaybookModel, loc: tuple[str | int, ...]) -> str:
    """``trigger seat_expansion_proactive, when`` rather than ``triggers.0.when``."""
    if loc[0] == "triggers" and isinstance(loc[1], int):
        rest = ".".join(str(p) for p in loc[2:])
        return f"trigger {model.triggers[loc[1]].id}, {rest}"
    return ".".join(str(p) for p in loc)


def load_playbook(path: Path, catalogue: Mapping[str, SignalType]) -> Playbook:
    """Read, validate and type-check a playbook; the first problem is a ConfigError."""
    doc: Document = load_document(path)
    model = parse_model(doc, PlaybookModel)
    seen: dict[str, int] = {}
    for i, t in enumerate(model.triggers):
        if t.id in seen:
            first = doc.where(("triggers", seen[t.id], "id"))
            raise doc.error(
                ("triggers", i, "id"),
                f"trigger id {t.id!r} is used twice (first on line {first.line})",
                fix="give every trigger its own id",
            )
        seen[t.id] = i
    conditions: dict[tuple[str | int, ...], Node] = {}
    for loc, text in _condition_locations(model):
        try:
            conditions[loc] = parse(text, catalogue)
        except ConditionError as err:
            pos = doc.where(loc)
            column = pos.column + pos.quote + err.column - 1 if loc in doc.positions else 1
            raise ConfigError(
                f"{path.name}:{pos.line}:{column}: {_label(model, loc)}: {err.message}",
                fix=err.fix,
            ) from None
    for i, t in enumerate(model.triggers):
        if t.message is not None and not (PlaybookFiles.of(path).templates / t.message).is_file():
            raise doc.error(
                ("triggers", i, "message"),
                f"trigger {t.id}: message template {t.message!r} does not exist",
                fix=f"add templates/{t.message} beside the playbook, or fix the name",
            )
    version = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return Playbook(path, model, conditions, version)
