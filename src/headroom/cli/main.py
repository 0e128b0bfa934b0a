"""The ``headroom`` command: parse the options, call the core, print the result.

Every bad input reaches the user as one message on stderr and exit status 1, never a
traceback: :class:`HeadroomGroup` catches the one root exception (and click's own usage
errors) for every command and subcommand.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from headroom.errors import HeadroomError, UsageError


def _click_exception() -> type[Exception]:
    # typer re-exports BadParameter but not click's ClickException base (and newer typer releases
    # carry their own copy of click), so find the base class through the one it does export.
    for cls in typer.BadParameter.__mro__:
        if cls.__name__ == "ClickException":
            return cls
    raise RuntimeError("typer without ClickException")  # pragma: no cover


ClickException = _click_exception()


#: Exit status for a bug (BSD sysexits EX_SOFTWARE), apart from 1 for bad input.
INTERNAL_ERROR = 70


class HeadroomGroup(TyperGroup):
    """A command group that turns every user error into a message and exit status 1."""

    def main(  # type: ignore[override]
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except HeadroomError as exc:
            typer.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except typer.Exit as exc:
            sys.exit(exc.exit_code)
        except ClickException as exc:
            typer.echo(f"error: {command_line_error(exc)}", err=True)
            sys.exit(1)
        except typer.Abort:
            typer.echo("aborted", err=True)
            sys.exit(1)
        except Exception as exc:  # a bug in headroom, not the user's input
            from headroom.sources.limits import is_out_of_memory, out_of_memory

            if is_out_of_memory(exc):  # not a bug: the source is larger than the limit allows
                typer.echo(f"error: {out_of_memory()}", err=True)
                sys.exit(1)
            if os.environ.get("HEADROOM_DEBUG"):
                raise
            typer.echo(
                f"error: headroom failed unexpectedly ({type(exc).__name__}: {exc}); this is a "
                "bug in headroom, please report it with the command you ran "
                "(HEADROOM_DEBUG=1 shows the traceback)",
                err=True,
            )
            sys.exit(INTERNAL_ERROR)
        sys.exit(rv if isinstance(rv, int) else 0)

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None and option.default is None:
            # typer coerces a value that is not a bool through pydantic, and a --help flag not
            # given is None: `headroom validate --help` imported pydantic (0.1-0.2 s) for the
            # group's own --help. False is what an absent flag means anyway.
            option.default = False
        return option


def command_line_error(exc: Exception) -> str:
    """click's complaint about a command line (a missing argument, an unknown option, a value
    not among the choices), worded as every other error is: what, then the fix.

    Its exit status stays 1, as for any bad input (CLI.md), not click's 2.
    """
    format_message = getattr(exc, "format_message", None)
    text = format_message() if callable(format_message) else str(exc)
    # typer converts choices through pydantic, whose prefix says nothing to a person
    text = str(text).replace("Value error, ", "").rstrip(".")
    ctx = getattr(exc, "ctx", None)
    # the command's path without the program's own name, which is the script's as run
    path = (getattr(ctx, "command_path", None) or "").split(" ")[1:]
    command = " ".join(["headroom", *path])
    return f"{text[:1].lower()}{text[1:]}; see '{command} --help'"


def new_app(help: str) -> typer.Typer:
    return typer.Typer(
        cls=HeadroomGroup,
        help=help,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )


app = new_app(
    "Find the customers ready to buy more, run the expansion motion, prove what it earned."
)


@app.callback()
def _root() -> None:
    # A callback keeps `headroom` a group even while it has a single command.
    """Find the customers ready to buy more, run the expansion motion, prove what it earned."""


def parse_date(value: str | None, option: str) -> dt.date | None:
    """An ISO date option, or a UsageError that says which option and what was wrong."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"{option} {value!r} is not a date",
            fix=f"write it YYYY-MM-DD, e.g. {option} 2026-03-31",
        ) from None


def _register() -> None:
    # Commands live in their own modules; importing them adds them to `app`. Every command
    # starts here, --help included, so those modules import only typer, the standard library
    # and light headroom modules at the top; the rest inside the command (tests/test_startup.py).
    from headroom.cli import (  # noqa: F401
        backtest,
        calculators,
        deliver,
        demo,
        expansion,
        experiments,
        forecast,
        generate,
        playbook,
        plays,
        retention,
        revenue,
        run,
        score,
        serve,
        store,
        users,
        validate,
    )


def main() -> None:
    """Entry point of the ``headroom`` script."""
    _register()
    app()


_register()
