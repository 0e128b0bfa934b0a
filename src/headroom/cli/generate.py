"""``headroom generate teamflow OUT``: write a synthetic TeamFlow source."""

from __future__ import annotations

from pathlib import Path

import typer

from headroom.cli.main import app, new_app, parse_date
from headroom.cli.output import DAY, Format, FormatOption, console, emit_rows, print_json
from headroom.generate import Options, Summary, generate
from headroom.generate.options import DEFAULT_END

generate_app = new_app("Write synthetic sources with a known truth.")
app.add_typer(generate_app, name="generate")


def run_generate(out: Path, options: Options, quiet: bool = False) -> Summary:
    """Generate with a progress bar on stderr (hidden when stderr is not a terminal)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    options.check()  # before the bar, so that a bad option leaves a clean stderr
    err = console(stderr=True)
    progress = Progress(
        TextColumn("generating TeamFlow accounts"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=quiet or not err.is_terminal,
    )
    with progress:
        task = progress.add_task("generate", total=options.accounts)
        return generate(out, options, lambda done, _: progress.update(task, completed=done))


@generate_app.command("teamflow")
def teamflow_command(
    out: Path = typer.Argument(..., help="Folder to write the source into (created if needed)."),
    accounts: int = typer.Option(2000, "--accounts", help="Number of accounts."),
    days: int = typer.Option(730, "--days", help="Days of history, ending on --end."),
    seed: int = typer.Option(7, "--seed", help="Same seed, same files."),
    end: str = typer.Option(
        DEFAULT_END.isoformat(), "--end", metavar=DAY, help="Last day of the history (YYYY-MM-DD)."
    ),
    parquet: bool = typer.Option(False, "--parquet", help="Write Parquet instead of CSV."),
    treatment_effect: float | None = typer.Option(
        None,
        "--treatment-effect",
        metavar="SHARE",
        help="Also replay --playbook's holdouts over the history, recording its plays in the "
        "state store, each treated play adding an expansion with this chance.",
    ),
    playbook: Path | None = typer.Option(
        None, "--playbook", help="The playbook (with a holdout) --treatment-effect replays."
    ),
    horizon_days: int = typer.Option(
        90, "--horizon-days", metavar="DAYS", help="Days after a play its expansion comes in."
    ),
    fmt: FormatOption = Format.table,
) -> None:
    """Generate the TeamFlow reference source, with its planted truth in OUT/truth/."""
    last = parse_date(end, "--end")
    assert last is not None
    if (treatment_effect is None) != (playbook is None):
        from headroom.errors import UsageError

        raise UsageError(
            "--treatment-effect and --playbook go together",
            fix="pass both to simulate a holdout experiment, or neither",
        )
    options = Options(accounts=accounts, days=days, seed=seed, end=last, parquet=parquet)
    summary = run_generate(out, options, quiet=fmt != Format.table)
    if treatment_effect is not None and playbook is not None:
        from headroom.playbook.model import load_playbook
        from headroom.signals.registry import types
        from headroom.store.database import Store
        from headroom.usecases.simulate import simulate_holdouts

        book = load_playbook(playbook, types())
        with Store() as store:
            sim = simulate_holdouts(out, book, store, treatment_effect, seed, horizon_days)
        if fmt == Format.table:
            for t in sim.triggers:
                console().print(
                    f"{t.trigger}: {t.treated:,} treated, {t.held_out:,} held out; planted "
                    f"uplift {t.uplift:+.1%} (truth/experiment.json)"
                )
    rows = [{"table": name, "rows": n} for name, n in summary.rows.items()]
    if fmt == Format.json:
        print_json(
            {
                "out": str(out),
                "tables": summary.rows,
                "ready_accounts": summary.ready_accounts,
                "expanded_accounts": summary.expanded_accounts,
                "truth": str(out / "truth" / "readiness.csv"),
            }
        )
        return
    emit_rows(rows, fmt, ["table", "rows"], title=f"TeamFlow source in {out}")
    if fmt == Format.table:
        console().print(
            f"{summary.ready_accounts:,} accounts with a planted readiness moment, "
            f"{summary.expanded_accounts:,} expansions; the truth is in "
            f"{out / 'truth' / 'readiness.csv'}"
        )
