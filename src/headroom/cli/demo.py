"""``headroom demo``: generate TeamFlow data, validate it and summarise it.

Each step from data to plays adds its part here, so that one command shows the whole job.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from headroom.cli.backtest import table_rows
from headroom.cli.generate import run_generate
from headroom.cli.main import app
from headroom.cli.output import (
    Format,
    FormatOption,
    console,
    emit_rows,
    load_source,
    percent,
    print_json,
)
from headroom.generate.options import VERSION, Options

if TYPE_CHECKING:
    from headroom.backtest import Backtest


def _generated(out: Path, options: Options, quiet: bool) -> None:
    """Generate unless ``out`` already holds exactly this generation (it takes seconds)."""
    stamp = out / ".generated.json"
    wanted = json.dumps(
        dataclasses.asdict(options) | {"version": VERSION}, default=str, sort_keys=True
    )
    if stamp.exists() and stamp.read_text() == wanted:
        return
    stamp.unlink(missing_ok=True)
    run_generate(out, options, quiet=quiet)
    stamp.write_text(wanted)


QUEUE_SHOWN = 15


def examples() -> Path:
    """The examples folder: the checkout's, or the one an installed wheel put under
    ``<prefix>/share/headroom/examples``."""
    checkout = Path(__file__).resolve().parents[3] / "examples"
    if checkout.is_dir():
        return checkout
    return Path(sys.prefix) / "share" / "headroom" / "examples"


PLAYBOOK = examples() / "teamflow" / "playbook.yaml"


def _queue(folder: Path, as_of: dt.date) -> list[dict[str, Any]]:
    """The TeamFlow playbook's plays as of the last day, ranked (nothing is recorded)."""
    if not PLAYBOOK.exists():
        return []
    from headroom.playbook.model import load_playbook
    from headroom.signals.registry import types
    from headroom.triggers.decisions import History
    from headroom.triggers.evaluate import evaluate
    from headroom.triggers.evidence import describe

    book = load_playbook(PLAYBOOK, types())
    source = load_source(folder, today=as_of + dt.timedelta(days=1))
    try:
        decisions = evaluate(source, book, as_of, History())
    finally:
        source.close()
    plays = sorted(
        (d.play for d in decisions if d.play and d.action == "fired"),
        key=lambda p: (p.priority, dt.datetime.fromisoformat(p.due_at), p.account_id),
    )
    return [
        {"account": p.account_id, "trigger": p.trigger, "why": describe(p.evidence),
         "owner": p.owner, "due": p.due_at}
        for p in plays
    ]  # fmt: skip


#: The demo's backtest: a year of days, each judged over the 90 days after it (within the data).
BACKTEST_HORIZON = 90


def _backtest(folder: Path, as_of: dt.date) -> Backtest | None:
    """The TeamFlow playbook replayed over the year that ends a horizon before the last day."""
    if not PLAYBOOK.exists():
        return None
    from headroom.backtest import backtest
    from headroom.playbook.model import load_playbook
    from headroom.signals.registry import types

    book = load_playbook(PLAYBOOK, types())
    end = as_of - dt.timedelta(days=BACKTEST_HORIZON)
    source = load_source(folder, today=as_of + dt.timedelta(days=1))
    try:
        return backtest(source, book, end - dt.timedelta(days=364), end, BACKTEST_HORIZON)
    finally:
        source.close()


@app.command("demo")
def demo_command(
    accounts: int = typer.Option(2000, "--accounts", help="Number of TeamFlow accounts."),
    days: int = typer.Option(730, "--days", help="Days of history."),
    seed: int = typer.Option(7, "--seed", help="Generator seed."),
    fmt: FormatOption = Format.table,
) -> None:
    """Generate the TeamFlow example data, validate it, summarise the base and its revenue."""
    from headroom.config import settings
    from headroom.facts import account_snapshot, customers_by_plan_and_segment
    from headroom.metrics.nrr import retention
    from headroom.metrics.revenue import add_months, month_start, mrr_bridge, mrr_movements
    from headroom.metrics.time_to_expansion import account_durations, time_to_expansion

    options = Options(accounts=accounts, days=days, seed=seed)
    options.check()
    out = settings().workspace / "demo" / "teamflow"
    _generated(out, options, quiet=fmt != Format.table)
    as_of = options.end
    # The demo's "today" is the last day of the generated history.
    source = load_source(out, today=as_of + dt.timedelta(days=1))
    last_month = month_start(as_of)
    first_month = add_months(last_month, -11)
    try:
        rows = customers_by_plan_and_segment(account_snapshot(source, as_of)).to_pyarrow()
        table = rows.to_pylist()
        subscriptions = source.table("subscriptions")
        bridge_table = mrr_bridge(mrr_movements(subscriptions, as_of))
        bridge = bridge_table.filter(bridge_table.month >= first_month).to_pyarrow().to_pylist()
        year = retention(subscriptions, add_months(last_month, -12), last_month)[0]
        durations = account_durations(subscriptions, source.table("plans"), as_of)
        rows_d = durations.to_pyarrow().to_pylist()
    finally:
        source.close()
    km = time_to_expansion([("all", r["days"], r["expanded"]) for r in rows_d], step=365)
    queue = _queue(out, as_of)
    tested = _backtest(out, as_of)
    revenue = {
        "bridge": bridge,
        "nrr": year.to_dict(),
        "time_to_expansion": None if km is None else km.to_dict(),
    }
    totals: dict[str, Any] = {
        "accounts": sum(r["accounts"] for r in table),
        "mrr": sum(r["mrr"] for r in table),
        "seats": sum(r["seats"] or 0 for r in table),
        "active_users": sum(r["active_users"] or 0 for r in table),
    }
    if fmt == Format.json:
        print_json(
            {
                "source": str(out),
                "validation": source.report.headline(),
                "as_of": as_of,
                "customers": table,
                "totals": totals,
                "revenue": revenue,
                "queue": queue,
                "backtest": None if tested is None else tested.to_dict(),
            }
        )
        return
    if fmt == Format.csv:
        emit_rows(table, fmt)
        return
    out_console = console()
    out_console.print(
        f"TeamFlow demo data in {out} ({accounts:,} accounts, {days} days, seed {seed})"
    )
    out_console.print(f"validate: {source.report.headline()}")
    out_console.print()
    emit_rows(table, fmt, title=f"Paying customers on {as_of} by plan and segment")
    out_console.print(
        f"total: {totals['accounts']:,} customers, MRR {float(totals['mrr']):,.2f}, "
        f"{totals['seats']:,} seats, {int(totals['active_users']):,} active users"
    )
    out_console.print()
    emit_rows(bridge, fmt, title="MRR bridge, last 12 months")
    nrr, grr = year.nrr, year.grr
    out_console.print(
        f"over the 12 months to {last_month:%Y-%m}: NRR "
        + ("n/a" if nrr is None else f"{nrr:.1%}")
        + ", GRR "
        + ("n/a" if grr is None else f"{grr:.1%}")
        + f" ({year.accounts:,} accounts paying in {add_months(last_month, -12):%Y-%m})"
    )
    if km is not None:
        within_year = 1 - dict(km.curve).get(365, 1.0)
        median = (
            f"{km.median_days:,.0f} days"
            if km.median_days is not None
            else "not reached (fewer than half have expanded)"
        )
        out_console.print(
            f"time from first payment to first expansion: median {median}; "
            f"{within_year:.0%} expand within a year (Kaplan-Meier, {km.accounts:,} accounts)"
        )
    out_console.print()
    if queue:
        emit_rows(
            queue[:QUEUE_SHOWN],
            fmt,
            title=f"Expansion queue on {as_of} (TeamFlow playbook): {len(queue):,} plays, "
            f"top {min(QUEUE_SHOWN, len(queue))}",
        )
        out_console.print(
            "next: headroom run SOURCE --playbook examples/teamflow/playbook.yaml --as-of DAY "
            "records them; headroom plays list shows them"
        )
    if tested is not None:
        out_console.print()
        emit_rows(
            table_rows(tested.triggers),
            fmt,
            title=f"Backtest of the TeamFlow playbook, {tested.start} to {tested.end}: did its "
            f"triggers foretell expansions within {tested.horizon_days} days?",
        )
        out_console.print(
            f"base rate {percent(tested.base_rate)}: the share of eligible account-days followed "
            "by an expansion; lift is precision over it. next: headroom backtest SOURCE "
            "--playbook ... --start ... --end ... (--format json for segments and horizons)"
        )
