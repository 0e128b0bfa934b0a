"""``headroom store backup|restore``: copy the state store aside, and put a copy back."""

from __future__ import annotations

from pathlib import Path

import typer

from headroom.cli.main import app, new_app
from headroom.cli.output import console

store_app = new_app("The state store (plays, decisions, deliveries, users, runs): back it up.")
app.add_typer(store_app, name="store")


@store_app.command("backup")
def backup_command(
    target: Path = typer.Argument(..., help="The new file to write the backup to."),
) -> None:
    """Copy the state store (HEADROOM_DATABASE_URL, else the workspace's) into a new file, as
    it is now, even while headroom serve writes to it (SQLite; PostgreSQL: pg_dump)."""
    from headroom.store.backup import backup
    from headroom.store.database import Store

    with Store() as store:
        size = backup(store, target)
    console(stderr=True).print(f"backed up the state store to {target} ({size:,} bytes)")


@store_app.command("restore")
def restore_command(
    backup_file: Path = typer.Argument(..., help="A file headroom store backup wrote."),
    yes: bool = typer.Option(False, "--yes", help="Replace the store without asking."),
) -> None:
    """Replace the state store's contents with a backup's (the plays, decisions, deliveries
    and users recorded since the backup are lost; an older backup is migrated forward)."""
    from headroom.store.backup import restore
    from headroom.store.database import Store

    if not yes and not typer.confirm(
        f"Replace the state store with {backup_file}? What was recorded since is lost"
    ):
        raise typer.Abort()
    with Store() as store:
        restore(store, backup_file)
    with Store():  # opening it migrates a backup of an older headroom to this one's schema
        pass
    console(stderr=True).print(f"restored the state store from {backup_file}")
