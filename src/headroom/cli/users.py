"""``headroom users``: who may sign in to the web app, their roles and API tokens."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING

import typer

from headroom.cli.main import app, new_app
from headroom.cli.output import Format, FormatOption, console, emit_rows, print_json
from headroom.errors import UsageError

if TYPE_CHECKING:
    from headroom.store.database import Store

users_app = new_app("Users of the web app: roles, passwords and API tokens.")
app.add_typer(users_app, name="users")


PASSWORD_STDIN = typer.Option(
    False, "--password-stdin", help="Read the password from standard input (else asked twice)."
)


class Role(StrEnum):
    admin = "admin"
    manager = "manager"
    csm = "csm"
    ae = "ae"


@contextmanager
def _store() -> Iterator[Store]:
    """The state store, closed after the command (imported here: the command line starts
    quick)."""
    from headroom.store.database import Store

    with Store() as store:
        yield store


def _password(from_stdin: bool) -> str:
    """The password from standard input (scripts) or asked for twice, hidden (people)."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise UsageError(
            "no password given and no terminal to ask on",
            fix="pipe it in with --password-stdin",
        )
    first: str = typer.prompt("Password", hide_input=True)
    again: str = typer.prompt("Again", hide_input=True)
    if first != again:
        raise UsageError("the two passwords differ", fix="type the same password twice")
    return first


@users_app.command("add")
def add_command(
    login: str = typer.Argument(..., help="What they sign in with (an email address works)."),
    role: Role = typer.Option(..., "--role", help="admin, manager, csm or ae."),
    owner: str | None = typer.Option(
        None, "--owner", help="The name plays carry for them (accounts' csm/ae); default: login."
    ),
    password_stdin: bool = PASSWORD_STDIN,
) -> None:
    """Add a user who can sign in to the web app."""
    password = _password(password_stdin)
    from headroom import users as core

    with _store() as store:
        person = core.add_user(store, login, role.value, password, owner)
    console().print(f"added {person.login} ({person.role}, owner {person.owner})")


@users_app.command("password")
def password_command(
    login: str = typer.Argument(...),
    password_stdin: bool = PASSWORD_STDIN,
) -> None:
    """Change a user's password."""
    password = _password(password_stdin)
    from headroom import users as core

    with _store() as store:
        core.set_password(store, login, password)
    console().print(f"changed the password of {login}; their sessions have ended")


@users_app.command("disable")
def disable_command(login: str = typer.Argument(...)) -> None:
    """Stop a user at once: no sign-in, sessions ended, API tokens revoked."""
    from headroom import users as core

    with _store() as store:
        revoked = core.disable_user(store, login)
    tokens = f"{revoked} API token{'' if revoked == 1 else 's'}"
    console().print(f"disabled {login}: sessions ended, {tokens} revoked")


@users_app.command("enable")
def enable_command(login: str = typer.Argument(...)) -> None:
    """Let a disabled user sign in again (their old API tokens stay revoked)."""
    from headroom import users as core

    with _store() as store:
        core.enable_user(store, login)
    console().print(f"enabled {login}")


@users_app.command("list")
def list_command(
    fmt: FormatOption = Format.table,
) -> None:
    """The users, by login."""
    from headroom import users as core

    with _store() as store:
        rows = [
            {"login": p.login, "role": p.role, "owner": p.owner, "disabled": p.disabled}
            for p in core.users(store)
        ]
    emit_rows(rows, fmt, ["login", "role", "owner", "disabled"], title="Users")


@users_app.command("token")
def token_command(
    login: str = typer.Argument(..., help="Whose token: it acts with their role."),
    name: str = typer.Option("", "--name", help="What the token is for."),
    fmt: Format = typer.Option(
        Format.table, "--format", help="table (the token alone), json or csv."
    ),
) -> None:
    """Make an API token for the JSON API (printed once: keep it)."""
    from headroom import users as core

    with _store() as store:
        token_id, token = core.create_token(store, login, name)
    if fmt == Format.table:
        typer.echo(token)  # alone, as scripts capture it
        return
    row = {"token_id": token_id, "login": login, "name": name, "token": token}
    if fmt == Format.json:
        print_json(row)
    else:
        emit_rows([row], fmt, list(row))


@users_app.command("tokens")
def tokens_command(
    fmt: FormatOption = Format.table,
) -> None:
    """The API tokens (ids, users, names and dates; never the secret)."""
    from headroom import users as core

    with _store() as store:
        rows = [
            {
                "token_id": t.token_id,
                "login": t.login,
                "name": t.name,
                "created_at": t.created_at,
                "revoked_at": t.revoked_at,
            }
            for t in core.tokens(store)
        ]
    emit_rows(rows, fmt, ["token_id", "login", "name", "created_at", "revoked_at"], title="Tokens")


@users_app.command("revoke")
def revoke_command(
    token_id: str = typer.Argument(..., help="The token's id (headroom users tokens)."),
) -> None:
    """Refuse an API token from now on."""
    from headroom import users as core

    with _store() as store:
        core.revoke_token(store, token_id)
    console().print(f"revoked token {token_id}")
