"""The data contract (DATA.md) as data: tables, columns, types, keys and references.

Validation, loading, the generator and the docs all read this one description, so a column
added here is checked, typed and documented everywhere at once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum

#: The days a date or timestamp may fall on, in a source and in an ingested event: beyond
#: them a value is a typo or a placeholder (0001-01-01, 9999-12-31), and date arithmetic on
#: it overflows.
EARLIEST = dt.date(1900, 1, 1)
LATEST = dt.date(2199, 12, 31)


class Kind(StrEnum):
    """The logical type of a column, and how its text is checked."""

    TEXT = "text"
    DECIMAL = "decimal"  # money: plain decimal text, stored as DECIMAL(18, 4)
    INTEGER = "integer"
    NUMBER = "number"  # measurements: any finite number
    DATE = "date"
    TIMESTAMP = "timestamp"  # ISO 8601 with an offset, stored in UTC
    JSON_OBJECT = "json"
    TIMEZONE = "timezone"
    CHOICE = "choice"


#: The engine type each kind is stored as once validated.
STORAGE_TYPE: dict[Kind, str] = {
    Kind.TEXT: "string",
    Kind.DECIMAL: "decimal(18, 4)",
    Kind.INTEGER: "int64",
    Kind.NUMBER: "float64",
    Kind.DATE: "date",
    Kind.TIMESTAMP: "timestamp('UTC')",
    Kind.JSON_OBJECT: "string",
    Kind.TIMEZONE: "string",
    Kind.CHOICE: "string",
}


@dataclass(frozen=True)
class Column:
    """One column of a table in the contract."""

    name: str
    kind: Kind
    required: bool = False  # the column must be present in the file
    nullable: bool = True  # a present column may have empty values
    choices: tuple[str, ...] = ()
    minimum: float | None = None  # inclusive lower bound for numbers
    meaning: str = ""

    def describe_valid(self) -> str:
        """What a valid value of this column looks like, for error messages."""
        match self.kind:
            case Kind.DECIMAL:
                bound = " >= 0" if self.minimum == 0 else ""
                return f"{self.name} must be a decimal number{bound} such as 49.50"
            case Kind.INTEGER:
                bound = " >= 0" if self.minimum == 0 else ""
                return f"{self.name} must be a whole number{bound} such as 12"
            case Kind.NUMBER:
                bound = " >= 0" if self.minimum == 0 else ""
                return f"{self.name} must be a number{bound} such as 12 or 3.5"
            case Kind.DATE:
                return f"{self.name} must be a date written YYYY-MM-DD such as 2026-03-31"
            case Kind.TIMESTAMP:
                return (
                    f"{self.name} must be an ISO 8601 timestamp with an offset "
                    "such as 2026-03-31T14:05:00Z or 2026-03-31T16:05:00+02:00"
                )
            case Kind.JSON_OBJECT:
                return f'{self.name} must be a JSON object such as {{"feature": "sso"}}, or empty'
            case Kind.TIMEZONE:
                return f"{self.name} must be an IANA time zone such as Europe/Berlin"
            case Kind.CHOICE:
                return f"{self.name} must be one of {', '.join(self.choices)}"
            case Kind.TEXT:
                return f"{self.name} must not be empty"


@dataclass(frozen=True)
class Reference:
    """A column whose values must exist in another table's key.

    ``severity`` is ``error`` where a dangling value makes the row meaningless (a subscription
    of no account) and ``warning`` where the row is merely unused (an event of an unknown
    account is kept, but no account will ever see it).
    """

    column: str
    table: str
    target_column: str
    severity: str = "error"


@dataclass(frozen=True)
class Table:
    """One table of the contract."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    references: tuple[Reference, ...] = ()
    required: bool = False
    meaning: str = ""
    date_columns_for_future_check: tuple[str, ...] = field(default=())

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)


def _c(
    name: str,
    kind: Kind,
    *,
    req: bool = False,
    null: bool = True,
    choices: tuple[str, ...] = (),
    minimum: float | None = None,
    meaning: str = "",
) -> Column:
    return Column(name, kind, req, null, choices, minimum, meaning)


SEGMENTS = ("smb", "mid_market", "enterprise")
HEALTH = ("healthy", "neutral", "at_risk")
OUTCOMES = ("contacted", "won", "lost", "declined")
LIMIT_KINDS = ("per_cycle", "gauge")

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "accounts",
            (
                _c("account_id", Kind.TEXT, req=True, null=False, meaning="unique, non-empty"),
                _c("name", Kind.TEXT, meaning="display name"),
                _c("segment", Kind.CHOICE, choices=SEGMENTS, meaning="for routing and reporting"),
                _c("timezone", Kind.TIMEZONE, meaning="the customer's timezone (default UTC)"),
                _c("csm", Kind.TEXT, meaning="customer success owner"),
                _c("ae", Kind.TEXT, meaning="account executive"),
                _c("onboarded_on", Kind.DATE, meaning="onboarding completed; empty = not yet"),
                _c("health", Kind.CHOICE, choices=HEALTH, meaning="current health"),
            ),
            key=("account_id",),
            meaning="one row per customer account; when absent, derived from subscriptions",
            date_columns_for_future_check=("onboarded_on",),
        ),
        Table(
            "subscriptions",
            (
                _c("subscription_id", Kind.TEXT, req=True, null=False),
                _c("account_id", Kind.TEXT, req=True, null=False),
                _c("start_date", Kind.DATE, req=True, null=False),
                _c("end_date", Kind.DATE, meaning="exclusive; empty = still running"),
                _c("mrr", Kind.DECIMAL, req=True, null=False, minimum=0),
                _c("plan", Kind.TEXT),
                _c("seats", Kind.INTEGER, minimum=0),
                _c("renews_on", Kind.DATE),
                _c("currency", Kind.TEXT, meaning="ISO code of mrr's currency; stored converted"),
            ),
            key=("subscription_id",),
            references=(
                Reference("account_id", "accounts", "account_id"),
                Reference("plan", "plans", "plan"),
            ),
            required=True,
            meaning="one row per priced period",
            date_columns_for_future_check=("start_date",),
        ),
        Table(
            "plans",
            (
                _c("plan", Kind.TEXT, req=True, null=False),
                _c("rank", Kind.INTEGER, req=True, null=False, minimum=0),
                _c("seat_price", Kind.DECIMAL, minimum=0),
            ),
            key=("plan",),
            meaning="tier order: a higher rank is a bigger tier",
        ),
        Table(
            "plan_limits",
            (
                _c("plan", Kind.TEXT, req=True, null=False),
                _c("metric", Kind.TEXT, req=True, null=False),
                _c("limit", Kind.NUMBER, req=True, null=False, minimum=0),
                _c("kind", Kind.CHOICE, req=True, null=False, choices=LIMIT_KINDS),
            ),
            key=("plan", "metric"),
            references=(Reference("plan", "plans", "plan"),),
        ),
        Table(
            "plan_features",
            (
                _c("plan", Kind.TEXT, req=True, null=False),
                _c("feature", Kind.TEXT, req=True, null=False),
            ),
            key=("plan", "feature"),
            references=(Reference("plan", "plans", "plan"),),
        ),
        Table(
            "usage_daily",
            (
                _c("account_id", Kind.TEXT, req=True, null=False),
                _c("date", Kind.DATE, req=True, null=False),
                _c("metric", Kind.TEXT, req=True, null=False),
                _c("value", Kind.NUMBER, req=True, null=False, minimum=0),
            ),
            key=("account_id", "date", "metric"),
            references=(Reference("account_id", "accounts", "account_id", "warning"),),
            date_columns_for_future_check=("date",),
        ),
        Table(
            "events",
            (
                _c("event_id", Kind.TEXT, req=True, null=False),
                _c("account_id", Kind.TEXT, req=True, null=False),
                _c("user_id", Kind.TEXT),
                _c("event", Kind.TEXT, req=True, null=False),
                _c("timestamp", Kind.TIMESTAMP, req=True, null=False),
                _c("properties", Kind.JSON_OBJECT),
            ),
            key=("event_id",),
            references=(Reference("account_id", "accounts", "account_id", "warning"),),
            date_columns_for_future_check=("timestamp",),
        ),
        Table(
            "firmographics",
            (
                _c("account_id", Kind.TEXT, req=True, null=False),
                _c("date", Kind.DATE, req=True, null=False),
                _c("headcount", Kind.INTEGER, req=True, null=False, minimum=0),
                _c("funding_round", Kind.TEXT),
            ),
            key=("account_id", "date"),
            references=(Reference("account_id", "accounts", "account_id", "warning"),),
            date_columns_for_future_check=("date",),
        ),
        Table(
            "outcomes",
            (
                _c("account_id", Kind.TEXT, req=True, null=False),
                _c("date", Kind.DATE, req=True, null=False),
                _c("outcome", Kind.CHOICE, req=True, null=False, choices=OUTCOMES),
                _c("trigger", Kind.TEXT),
                _c("amount_mrr", Kind.DECIMAL),
            ),
            references=(Reference("account_id", "accounts", "account_id", "warning"),),
            date_columns_for_future_check=("date",),
        ),
        Table(
            "exchange_rates",
            (
                _c("currency", Kind.TEXT, req=True, null=False),
                _c("date", Kind.DATE, req=True, null=False, meaning="in force from this day"),
                _c(
                    "rate",
                    Kind.NUMBER,
                    req=True,
                    null=False,
                    minimum=0,
                    meaning="the reporting currency per unit of currency",
                ),
            ),
            key=("currency", "date"),
            meaning="what a subscription's currency is worth in the reporting currency",
        ),
    )
}

REQUIRED_TABLES = tuple(name for name, t in TABLES.items() if t.required)
