"""YAML files whose every value remembers its line and column.

Configuration files (source mappings now, playbooks later) are validated by pydantic; this
module turns pydantic's error locations back into ``file:line:column`` so that a person can
go straight to the mistake.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from yaml.constructor import SafeConstructor

from headroom.errors import ConfigError

M = TypeVar("M", bound=BaseModel)

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Position:
    line: int  # 1-based
    column: int  # 1-based
    quote: int = 0  # 1 when the value is a quoted string: its text starts one column later


@dataclass
class Document:
    """A parsed YAML file: its data and where each value and key came from."""

    path: Path
    data: Any
    positions: dict[Loc, Position]  # where each value starts
    keys: dict[Loc, Position] = field(default_factory=dict)  # where the key of that value is

    def where(self, loc: Sequence[str | int]) -> Position:
        """The position of the deepest part of ``loc`` that the file has."""
        parts = tuple(loc)
        while parts and parts not in self.positions:
            parts = parts[:-1]
        return self.positions.get(parts, Position(1, 1))

    def where_key(self, loc: Sequence[str | int]) -> Position:
        """The position of the key naming ``loc`` (a value's own position for list items)."""
        return self.keys.get(tuple(loc)) or self.where(loc)

    def error(
        self,
        loc: Sequence[str | int],
        message: str,
        fix: str | None = None,
        *,
        at_key: bool = False,
    ) -> ConfigError:
        """A ConfigError at ``loc``'s value, or at its key (``at_key``: the name is wrong)."""
        pos = self.where_key(loc) if at_key else self.where(loc)
        return ConfigError(f"{self.path.name}:{pos.line}:{pos.column}: {message}", fix=fix)


class DuplicateKeyError(Exception):
    def __init__(self, key: str, first: Position, again: Position) -> None:
        self.key, self.first, self.again = key, first, again


#: A configuration file is a page or two: the most values it may expand to (an alias repeats
#: what it names, and aliases of aliases grow exponentially: a "billion laughs"), and the
#: deepest it may nest.
MAX_VALUES = 100_000
MAX_DEPTH = 50


class TooLargeError(Exception):
    def __init__(self, what: str, node: yaml.Node) -> None:
        self.what, self.node = what, node


def _to_python(
    node: yaml.Node,
    loc: Loc,
    positions: dict[Loc, Position],
    keys: dict[Loc, Position],
) -> Any:
    if len(positions) >= MAX_VALUES:
        raise TooLargeError(f"it expands to over {MAX_VALUES:,} values (aliases?)", node)
    if len(loc) > MAX_DEPTH:
        raise TooLargeError(f"it nests over {MAX_DEPTH} levels deep", node)
    quoted = isinstance(node, yaml.ScalarNode) and node.style in ("'", '"')
    positions[loc] = Position(node.start_mark.line + 1, node.start_mark.column + 1, int(quoted))
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        seen: dict[str, Position] = {}
        for key_node, value_node in node.value:
            # Keys are names: YAML 1.1 would read `on`, `yes` or `no` as booleans.
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            here = Position(key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key in seen:  # YAML keeps the last silently; a repeated setting is a mistake
                raise DuplicateKeyError(str(key), seen[key], here)
            seen[key] = here
            keys[(*loc, str(key))] = here
            out[key] = _to_python(value_node, (*loc, str(key)), positions, keys)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(item, (*loc, i), positions, keys) for i, item in enumerate(node.value)]
    # A scalar: null, bool, number, date or text, as yaml.safe_load would read it.
    return SafeConstructor().construct_object(node, deep=True)


def load_document(path: Path) -> Document:
    """Parse a YAML file, keeping positions; YAML syntax errors carry line and column."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such file", fix="check the path, or pass a data folder instead"
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a YAML file", fix="pass the file") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            f"{path.name}:{line}:{column}: byte 0x{raw[exc.start]:02x} is not UTF-8 text",
            fix="save the file as UTF-8",
        ) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        raise _marked(
            path,
            exc,
            "YAML syntax error: ",
            "check indentation, colons and quotes around that spot",
        ) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (NUL, ...)
        shown = chr(exc.character) if isinstance(exc.character, int) else exc.character
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise ConfigError(
            f"{path.name}:{line}:{column}: character {shown!r} is not allowed in YAML",
            fix="remove it (a NUL byte or another control character)",
        ) from None
    except RecursionError:  # nested thousands of levels deep: the parser gave up
        raise ConfigError(
            f"{path.name}: it nests over {MAX_DEPTH} levels deep",
            fix="a configuration needs a few levels; flatten it",
        ) from None
    positions: dict[Loc, Position] = {}
    keys: dict[Loc, Position] = {}
    try:
        data = {} if node is None else _to_python(node, (), positions, keys)
    except DuplicateKeyError as dup:
        raise ConfigError(
            f"{path.name}:{dup.again.line}:{dup.again.column}: {dup.key!r} is given twice "
            f"(first on line {dup.first.line})",
            fix="keep one of them",
        ) from None
    except yaml.MarkedYAMLError as exc:  # a tag no safe reader constructs (!!python/...)
        fix = "write plain values: text, numbers, lists and mappings, without ! tags"
        raise _marked(path, exc, "", fix) from None
    except TooLargeError as big:
        mark = big.node.start_mark
        raise ConfigError(
            f"{path.name}:{mark.line + 1}:{mark.column + 1}: {big.what}",
            fix="a configuration needs a few levels and a few hundred values; write it out",
        ) from None
    return Document(path, data, positions, keys)


def _marked(path: Path, exc: yaml.MarkedYAMLError, what: str, fix: str) -> ConfigError:
    """A YAML error that knows its place, at ``file:line:column``."""
    mark = exc.problem_mark
    where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
    return ConfigError(f"{path.name}{where}: {what}{exc.problem}", fix=fix)


def parse_model(doc: Document, model: type[M]) -> M:
    """Validate a document against a pydantic model; the first problem becomes a ConfigError."""
    if not isinstance(doc.data, dict):
        raise doc.error((), "expected a mapping of settings at the top of the file")
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        dotted = ".".join(str(p) for p in loc) or "(top level)"
        msg = first["msg"]
        if first["type"] == "extra_forbidden":
            known = _settings_at(model, loc[:-1])
            msg = f"unknown setting {loc[-1]!r}"
            close = difflib.get_close_matches(str(loc[-1]), known, n=1)
            if close:
                msg += f" (did you mean {close[0]!r}?)"
            if known:
                msg += f"; the settings here are {', '.join(known)}"
            raise doc.error(loc, msg, at_key=True) from None  # the name is the mistake
        elif first["type"] == "missing":
            msg = f"missing setting {dotted!r}"
        elif first["type"] == "literal_error":
            msg = f"{dotted}: {first['input']!r} is not a choice; {msg[0].lower()}{msg[1:]}"
        elif first["type"] in _EXPECTED:
            msg = f"{dotted}: expected {_EXPECTED[first['type']]}, got {_shown(first['input'])}"
        else:
            msg = f"{dotted}: {msg.removeprefix('Value error, ')}"
        raise doc.error(loc, msg) from None


#: What a value of the wrong YAML type should have been, by pydantic error type.
_EXPECTED = {
    "dict_type": "a mapping of names to settings (name: value, one per line)",
    "model_type": "a mapping of names to settings (name: value, one per line)",
    "model_attributes_type": "a mapping of names to settings (name: value, one per line)",
    "list_type": "a list ([a, b] or one '- item' per line)",
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
}


def _shown(value: Any) -> str:
    """A YAML value as a message shows it: nothing, a short repr, or its kind."""
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _settings_at(model: type[BaseModel], path: tuple[Any, ...]) -> list[str]:
    """The setting names a model accepts at ``path`` (through nested models and mappings)."""
    current: Any = model
    for part in path:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = next(
                (f for name, f in current.model_fields.items() if part in (name, f.alias)), None
            )
            if field is None:
                return []
            current = field.annotation
        elif typing.get_origin(current) is dict:
            current = typing.get_args(current)[1]
        elif typing.get_origin(current) is list:
            current = typing.get_args(current)[0]
        else:
            return []
        args = [a for a in typing.get_args(current) if a is not type(None)]
        if typing.get_origin(current) in (typing.Union, types.UnionType) and len(args) == 1:
            current = args[0]
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or name for name, f in current.model_fields.items()]
    return []
