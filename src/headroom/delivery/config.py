"""``delivery.yaml`` beside the playbook: the channels, who each play's messages go to, retries.

::

    channels:
      mail:
        kind: email
        host: smtp.teamflow.example
        username: headroom
        password: ${SMTP_PASSWORD}       # read from the environment when the worker starts
        sender: TeamFlow <success@teamflow.example>
      ops: {kind: webhook, url: "https://ops.teamflow.example/hooks", secret: "${OPS_SECRET}"}
    send:
      self_serve: {channel: mail, to: "{{ account.id }}@customers.teamflow.example"}
      csm: {channel: mail, to: "{{ account.csm }}"}
      ae_alert: {channel: ops}
    retry: {attempts: 8, first_seconds: 30, most_seconds: 3600}

``send`` names the play's owner (its draft: an email to the customer for a self-serve owner,
a brief for a person) and the routing's ``notify`` names (an alert each). ``to`` is a template
over ``account`` and ``play``. A name with no entry sends nothing; ``headroom check`` lists them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from headroom.config import environ
from headroom.delivery.channels import Channel, kinds
from headroom.errors import ConfigError
from headroom.playbook.model import PlaybookFiles
from headroom.yamldoc import Document, load_document, parse_model

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: Renders ``to`` templates (checked here, rendered by the outbox): built once.
RECIPIENTS = ImmutableSandboxedEnvironment(undefined=StrictUndefined)


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: str
    to: str | None = Field(default=None, description="template of the recipient")
    approve: bool = Field(
        default=False,
        description="hold each draft for its play's owner to edit and approve in the web app",
    )


class RetryPolicy(BaseModel):
    """Attempts before a delivery is dead-lettered; the wait doubles from ``first_seconds`` up to
    ``most_seconds``, with jitter, unless the receiver says how long (Retry-After)."""

    model_config = ConfigDict(extra="forbid")
    attempts: int = Field(default=8, ge=1, le=100)
    first_seconds: float = Field(default=30.0, gt=0)
    most_seconds: float = Field(default=3600.0, ge=0)
    lease_seconds: float = Field(
        default=120.0, gt=0, description="how long a claimed delivery is left to its worker"
    )


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = 1
    channels: dict[str, dict[str, Any]] = Field(default_factory=dict)
    send: dict[str, Target] = Field(default_factory=dict)
    retry: RetryPolicy = RetryPolicy()


@dataclass
class DeliveryConfig:
    """A checked ``delivery.yaml``: channel settings stay unexpanded until :meth:`channels`."""

    doc: Document | None
    send: dict[str, Target]
    retry: RetryPolicy
    raw_channels: dict[str, dict[str, Any]]

    def channels(self) -> dict[str, Channel]:
        """Every channel, built with its secrets read from the environment."""
        out: dict[str, Channel] = {}
        registry = kinds()
        for name, raw in self.raw_channels.items():
            cls = registry[str(raw["kind"])]
            values = {k: self._expand(("channels", name, k), v) for k, v in raw.items()}
            values.pop("kind")
            try:
                settings = cls.Settings.model_validate(values)
            except ValidationError as exc:
                # Said without the values: an expanded setting may be a secret.
                first = exc.errors(include_input=False)[0]
                loc = ("channels", name, *(str(x) for x in first["loc"]))
                raise self._error(
                    loc[:3],
                    f"channel {name}: {'.'.join(loc[2:])}: {first['msg']} (after reading the "
                    "environment)",
                    "check the environment variable the setting names",
                ) from None
            out[name] = cls(name, settings)
        return out

    def _expand(self, loc: tuple[str, ...], value: Any) -> Any:
        if not isinstance(value, str):
            return value

        def var(m: re.Match[str]) -> str:
            found = environ(m.group(1))  # or the file ${NAME}_FILE names
            if found is None:
                raise self._error(
                    loc,
                    f"{'.'.join(loc)} reads ${{{m.group(1)}}}, which is not set",
                    f"set {m.group(1)} in the environment of headroom deliver and headroom serve",
                )
            return found

        return _ENV.sub(var, value)

    def _error(self, loc: tuple[str, ...], message: str, fix: str) -> ConfigError:
        if self.doc is None:
            return ConfigError(message, fix=fix)
        return self.doc.error(loc, message, fix)


def _sub(doc: Document, prefix: tuple[str, ...]) -> Document:
    """The part of ``doc`` under ``prefix``, as a document of its own (for its positions)."""
    n = len(prefix)
    positions = {k[n:]: v for k, v in doc.positions.items() if k[:n] == prefix}
    keys = {k[n:]: v for k, v in doc.keys.items() if k[:n] == prefix}
    data: Any = doc.data
    for part in prefix:
        data = data[part]
    return Document(doc.path, data, positions, keys)


def load_delivery(path: Path) -> DeliveryConfig:
    """Read and check ``delivery.yaml``; the first problem is a ConfigError with line and
    column. Secrets (``${VAR}``) are read later, by the worker."""
    doc = load_document(path)
    model = parse_model(doc, _File)
    registry = kinds()
    for name, raw in model.channels.items():
        loc = ("channels", name)
        kind = raw.get("kind")
        if kind not in registry:
            raise doc.error(
                (*loc, "kind") if "kind" in raw else loc,
                f"channel {name}: kind {kind!r} is not a channel kind",
                fix=f"use one of {', '.join(sorted(registry))}",
            )
        # Secrets are checked for shape with a placeholder; their values come later.
        shaped = {k: _placeholder(v) for k, v in raw.items() if k != "kind"}
        sub = _sub(doc, loc)
        try:
            registry[kind].Settings.model_validate(shaped)
        except ValidationError:
            try:
                parse_model(
                    Document(sub.path, shaped, sub.positions, sub.keys), registry[kind].Settings
                )
            except ConfigError as err:  # said as the channel's, at the same spot
                where, _, what = err.message.partition(": ")
                raise ConfigError(f"{where}: channel {name}: {what}", fix=err.fix) from None
    for target, t in model.send.items():
        if t.to is not None:
            try:
                RECIPIENTS.parse(t.to)
            except TemplateError as exc:
                raise doc.error(
                    ("send", target, "to"),
                    f"send.{target}.to is not a template: {exc}",
                    fix='write e.g. "{{ account.csm }}" or a fixed address',
                ) from None
        if t.channel not in model.channels:
            raise doc.error(
                ("send", target, "channel"),
                f"send.{target}: no channel named {t.channel!r}",
                fix=f"use one of {', '.join(sorted(model.channels)) or '(none defined)'}",
            )
    return DeliveryConfig(doc, model.send, model.retry, model.channels)


def _placeholder(value: Any) -> Any:
    """``value`` with each ``${VAR}`` standing for a valid secret (for checking shapes)."""
    if isinstance(value, str) and _ENV.search(value):
        return _ENV.sub("whsec_c2VjcmV0", value)
    return value


def delivery_beside(playbook: Path) -> DeliveryConfig | None:
    """The playbook's ``delivery.yaml`` (where :class:`~headroom.playbook.model.PlaybookFiles`
    says), checked (None: there is none)."""
    path = PlaybookFiles.of(playbook).delivery
    return load_delivery(path) if path.is_file() else None
