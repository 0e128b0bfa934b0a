"""Source configuration: where the tables are and how their names map onto ours.

A source is a folder of ``<table>.csv`` / ``<table>.parquet`` files, or a YAML file that names
a folder or a database and maps other table and column names onto the contract::

    # examples/sources/mrr-playbook.yaml
    tables:
      subscriptions:
        from: subscription_periods.csv
        columns: {account_id: customer_id, mrr: monthly_amount}

Columns are written ``ours: theirs``. A mapping without ``path`` or ``database`` can be laid
over any folder with ``--mapping``, which is how the shipped examples are used on data that
lives elsewhere.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from headroom.errors import ConfigError
from headroom.sources.billing import Billing
from headroom.sources.schema import TABLES, Kind
from headroom.yamldoc import Document, load_document, parse_model


class Lookup(BaseModel):
    """Fill a column from another table of the source, joined on a shared column."""

    model_config = ConfigDict(extra="forbid")
    table: str
    on: str


#: How an export writes a column where it does not write it as the contract does (``read:``):
#: ``timestamp``, a date written with its time (the date as written is the day);
#: ``unix``, seconds since 1970-01-01 UTC; ``minor_units``, an amount in cents (or the
#: currency's own smallest unit). See :mod:`headroom.sources.reading`.
Form = Literal["timestamp", "unix", "minor_units"]


def _as_text(value: Any) -> Any:
    """A YAML scalar as a CSV file writes it: ``true``, ``3``, ``2.5``."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    return value


class TableMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    source: str | None = Field(default=None, alias="from")
    columns: dict[str, str] = Field(default_factory=dict)
    lookup: dict[str, Lookup] = Field(default_factory=dict)
    combine: Literal["reject", "sum", "first"] = "reject"
    #: subscriptions: ``monthly`` rates (the contract's), or amounts ``per_period`` (invoices)
    amounts: Literal["monthly", "per_period"] = "monthly"
    #: subscriptions: ``end_date`` is the first day out (``exclusive``) or the last day in
    end: Literal["exclusive", "inclusive"] = "exclusive"
    #: columns (ours) the export writes in another form: ``{start_date: unix}``
    read: dict[str, Form] = Field(default_factory=dict)
    #: rows left out: a column of the file (as it names it) and the values that leave a row out
    skip: dict[str, list[str]] = Field(default_factory=dict)
    #: the only rows read: a column of the file and the values a row must hold
    keep: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("skip", "keep", mode="before")
    @classmethod
    def _as_written(cls, value: Any) -> Any:
        """Values as a file writes them: ``[true, 3]`` is ``["true", "3"]`` (anything else is
        left for the model to refuse)."""
        if not isinstance(value, dict):
            return value
        return {
            column: [_as_text(v) for v in values] if isinstance(values, list) else values
            for column, values in value.items()
        }

    #: subscriptions per period: a file of credit notes whose amounts are written positive
    credits: str | None = None

    @property
    def filters(self) -> list[str]:
        """The file's columns that choose which rows are read (``skip`` and ``keep``)."""
        return list(dict.fromkeys([*self.skip, *self.keep]))

    @property
    def billing(self) -> Billing:
        return Billing(
            inclusive_end=self.end == "inclusive", per_period=self.amounts == "per_period"
        )


class DatabaseConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str
    schema_: str | None = Field(default=None, alias="schema")


class SourceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str | None = None
    database: DatabaseConfig | None = None
    tables: dict[str, TableMapping] = Field(default_factory=dict)
    #: The last day the data covers, when it runs past its latest date (reports end there).
    data_through: dt.date | None = None
    #: The currency reports are in, when the subscriptions hold several (ISO code).
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")


@dataclass(frozen=True)
class SourceSpec:
    """A resolved source: a folder or a database, plus the mapping to apply."""

    folder: Path | None
    database: DatabaseConfig | None
    config: SourceConfig
    config_text: str  # part of the cache key: a changed mapping is a changed source
    label: str

    def mapping(self, table: str) -> TableMapping:
        return self.config.tables.get(table) or TableMapping()


def _check_mapping(doc: Document, config: SourceConfig) -> None:
    """What the model alone cannot check; each error points at the name that is wrong."""
    for table in config.tables:
        if table not in TABLES:
            close = difflib.get_close_matches(table, list(TABLES), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise doc.error(
                ("tables", table),
                f"unknown table {table!r}{hint}; the tables are {', '.join(TABLES)}",
                at_key=True,
            )
    for table, mapping in config.tables.items():
        known = TABLES[table].column_names
        named = (("columns", mapping.columns), ("lookup", mapping.lookup), ("read", mapping.read))
        for setting, names in named:
            for ours in names:
                if ours not in known:
                    close = difflib.get_close_matches(ours, known, n=1)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    theirs = mapping.columns.get(ours)
                    if setting == "read":
                        fix = "name our column under read:, as under columns:"
                    elif setting == "columns" and theirs in known:
                        fix = f"write mappings as ours: theirs, here {theirs}: {ours}"
                    else:
                        fix = "write mappings as ours: theirs"
                    raise doc.error(
                        ("tables", table, setting, ours),
                        f"{table} has no column {ours!r}{hint}; its columns are {', '.join(known)}",
                        fix=fix,
                        at_key=True,
                    )
        for ours, lookup in mapping.lookup.items():
            if lookup.table not in TABLES:
                raise doc.error(
                    ("tables", table, "lookup", ours, "table"),
                    f"unknown table {lookup.table!r} in lookup",
                )
        if mapping.combine != "reject" and table != "usage_daily":
            raise doc.error(
                ("tables", table, "combine"),
                "combine applies to usage_daily only",
            )
        _check_reading(doc, table, mapping)
        for setting, default in (("amounts", "monthly"), ("end", "exclusive")):
            if getattr(mapping, setting) != default and table != "subscriptions":
                raise doc.error(
                    ("tables", table, setting),
                    f"{setting} applies to subscriptions only",
                    fix=f"move {setting}: {getattr(mapping, setting)} under tables: subscriptions",
                )


#: The kinds of column each form can be read into.
_FORM_KINDS = {
    "timestamp": (Kind.DATE,),
    "unix": (Kind.DATE, Kind.TIMESTAMP),
    "minor_units": (Kind.DECIMAL,),
}


def _check_reading(doc: Document, table: str, mapping: TableMapping) -> None:
    """``read``, ``skip``, ``keep`` and ``credits``: what they name must be there to name."""
    spec = TABLES[table]
    for ours, form in mapping.read.items():  # a column of ours: checked with columns:
        kind = spec.column(ours).kind
        if kind not in _FORM_KINDS[form]:
            fits = [c.name for c in spec.columns if c.kind in _FORM_KINDS[form]]
            raise doc.error(
                ("tables", table, "read", ours),
                f"{table}.{ours} cannot be read as {form}: it holds {kind.value}s",
                fix=(
                    f"read {form} into {', '.join(fits)}"
                    if fits
                    else f"{table} has no column {form} applies to"
                ),
            )
    for setting, named in (("skip", mapping.skip), ("keep", mapping.keep)):
        for column, values in named.items():
            if not values:
                raise doc.error(
                    ("tables", table, setting, column),
                    f"{setting} names no values of {column}",
                    fix=f"list the values, as in {setting}: {{{column}: [value]}}",
                )
    if mapping.credits is not None:
        if table != "subscriptions" or mapping.amounts != "per_period":
            raise doc.error(
                ("tables", table, "credits"),
                "credits applies to subscriptions read as amounts per period",
                fix="add amounts: per_period under tables: subscriptions, beside credits",
            )
        if mapping.credits == mapping.source:
            raise doc.error(
                ("tables", table, "credits"),
                f"credits names {mapping.credits!r}, the file the invoices come from",
                fix="name the file of credit notes; negative amounts in one file need no credits",
            )


def resolve(source: Path, mapping: Path | None = None) -> SourceSpec:
    """Turn a SOURCE argument (folder or YAML file) and an optional ``--mapping`` into a spec."""
    if source.is_dir():
        if mapping is None:
            return SourceSpec(source, None, SourceConfig(), "", source.resolve().name)
        doc = load_document(mapping)
        config = parse_model(doc, SourceConfig)
        _check_mapping(doc, config)
        text = mapping.read_text(encoding="utf-8")
        return SourceSpec(source, None, config, text, source.resolve().name)
    if not source.exists():
        raise ConfigError(
            f"{source}: no such folder or file",
            fix="pass a folder of <table>.csv or <table>.parquet files, or a source YAML file",
        )
    if source.suffix.lower() not in (".yaml", ".yml"):
        raise ConfigError(
            f"{source.name}: a source is a folder of tables or a .yaml configuration file",
            fix=f"pass the folder that holds {source.name} instead",
        )
    if mapping is not None:
        raise ConfigError(
            "--mapping applies to a data folder, not to a configuration file",
            fix="put the mapping into the configuration file, or pass the folder",
        )
    doc = load_document(source)
    config = parse_model(doc, SourceConfig)
    _check_mapping(doc, config)
    text = source.read_text(encoding="utf-8")
    if config.database is not None:
        if config.path is not None:
            raise doc.error(("path",), "give either path or database, not both")
        for table, table_mapping in config.tables.items():
            if table_mapping.credits is not None:
                raise doc.error(
                    ("tables", table, "credits"),
                    "credits reads a file of credit notes, and this source is a database",
                    fix="give subscriptions as a view of the invoice lines and the credit "
                    "notes, their amounts negated",
                )
        database = _database_file(doc, config.database, source.parent)
        return SourceSpec(None, database, config, text, source.stem)
    folder = (source.parent / (config.path or ".")).resolve()
    if not folder.is_dir():
        raise doc.error(
            ("path",),
            f"path {config.path!r} is not a folder",
            fix="write the data folder's path relative to this file",
        )
    return SourceSpec(folder, None, config, text, source.stem)


#: URL schemes whose database is a file on this machine.
FILE_DATABASES = ("duckdb", "sqlite")


def database_file(url: str) -> Path | None:
    """The file of a ``duckdb://`` or ``sqlite://`` URL (as ibis reads it), else None.

    >>> database_file("duckdb:///data/crm.duckdb")
    PosixPath('/data/crm.duckdb')
    >>> database_file("duckdb://crm.duckdb"), database_file("postgresql://db/crm")
    (PosixPath('crm.duckdb'), None)
    """
    parsed = urlsplit(url)
    if parsed.scheme not in FILE_DATABASES:
        return None
    parts = [p for p in (parsed.netloc, parsed.path[bool(parsed.netloc) :]) if p]
    if not parts or parts == [":memory:"]:
        return None
    return Path(*parts)


def _database_file(doc: Document, database: DatabaseConfig, base: Path) -> DatabaseConfig:
    """A file database's URL with its path made absolute (relative to the YAML file).

    A missing file is an error here: connecting would quietly create an empty database.
    """
    path = database_file(database.url)
    if path is None:
        return database
    path = (base / path).resolve()
    if not path.is_file():
        raise doc.error(
            ("database", "url"),
            f"the database file {path} does not exist",
            fix="write its path absolute (duckdb:///path/file.duckdb) or relative to this file",
        )
    scheme, _, _, query, _ = urlsplit(database.url)
    url = f"{scheme}://{path.as_posix()}" + (f"?{query}" if query else "")
    return database.model_copy(update={"url": url})


def fingerprint(spec: SourceSpec, files: list[Path]) -> str:
    """A key that changes whenever the files or the mapping change."""
    h = hashlib.sha256(spec.config_text.encode())
    for f in sorted(files):
        st = f.stat()
        h.update(f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:20]
