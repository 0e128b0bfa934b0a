"""``headroom retention fit`` and ``cohorts``: the shifted-beta-geometric retention model.

The maths is in :mod:`headroom.metrics.retention`; this module parses options and prints.
"""

from __future__ import annotations

import typer

from headroom.cli.main import app, new_app, parse_date
from headroom.cli.output import (
    DAY,
    Format,
    FormatOption,
    MappingOption,
    SourceArgument,
    console,
    emit_rows,
    load_source,
    print_json,
    report_end,
)
from headroom.errors import UsageError
from headroom.metrics.options import COHORT_SIZE

retention_app = new_app("Retention: fit and project cohort survival (shifted-beta-geometric).")
app.add_typer(retention_app, name="retention")


def _shares(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(
            f"--survival {text!r} is not a list of numbers",
            fix="write shares separated by commas, e.g. --survival 0.869,0.743,0.653",
        ) from None


@retention_app.command("fit")
def fit_command(
    survival: str = typer.Option(
        ..., "--survival", help="Share still a customer after period 1, 2, ... (comma-separated)."
    ),
    periods: int = typer.Option(12, "--periods", help="Periods to project after the data."),
    discount_rate: float | None = typer.Option(
        None,
        "--discount-rate",
        help="Per-period discount rate: adds the expected residual lifetime.",
    ),
    cohort_size: int = typer.Option(
        COHORT_SIZE,
        "--cohort-size",
        help="Customers the shares are shares of (scales the log-likelihood only).",
    ),
    fmt: FormatOption = Format.table,
) -> None:
    """Fit alpha and beta by maximum likelihood; project survival beyond the data."""
    from headroom.metrics.retention import check_discount_rate, check_periods, fit_sbg

    shares = _shares(survival)
    check_periods(periods)
    if discount_rate is not None:
        check_discount_rate(discount_rate)
    fit = fit_sbg(shares, cohort_size)
    body = fit.to_dict(periods, discount_rate)
    if fmt == Format.json:
        print_json(body)
        return
    n = len(fit.observed)
    rows = [
        {"period": t, "observed": o, "fitted": round(f, 4)}
        for t, (o, f) in enumerate(zip(fit.observed, fit.fitted(), strict=True), 1)
    ] + [
        {"period": n + t, "observed": None, "fitted": round(p, 4)}
        for t, p in enumerate(fit.projected(periods), 1)
    ]
    if fmt == Format.table:
        out = console()
        out.print(
            f"alpha {fit.alpha:.4f}, beta {fit.beta:.4f}, log-likelihood "
            f"{fit.log_likelihood:,.4f} (cohort of {cohort_size:,g})"
        )
        if "note" in body:
            out.print(body["note"])
        if discount_rate is not None:
            out.print(
                f"expected residual lifetime of a customer still there after period {n}: "
                f"{body['expected_residual_lifetime']:.3f} periods at {discount_rate:g} a period"
            )
    emit_rows(rows, fmt, ["period", "observed", "fitted"], title="Survival")


@retention_app.command("cohorts")
def cohorts_command(
    source: SourceArgument,
    mapping: MappingOption = None,
    through: str | None = typer.Option(
        None,
        "--through",
        metavar=DAY,
        help="Last day of history (YYYY-MM-DD). Default: where the data ends.",
    ),
    periods: int = typer.Option(12, "--periods", help="Months to project per cohort."),
    min_accounts: int = typer.Option(10, "--min-accounts", help="Smallest cohort to fit."),
    fmt: FormatOption = Format.table,
) -> None:
    """Fit the sBG model per signup cohort (month of first payment) of a source."""
    from headroom.metrics.retention import check_periods, cohort_survival, fit_cohorts

    check_periods(periods)
    asked = parse_date(through, "--through")
    src = load_source(source, mapping)
    try:
        last = report_end(src, asked, "--through")
        cohorts = cohort_survival(src.table("subscriptions"), src.table("plans"), last)
    finally:
        src.close()
    fits = [f.to_dict(periods) for f in fit_cohorts(cohorts, min_accounts)]
    if fmt == Format.json:
        print_json({"through": last, "cohorts": fits})
        return
    rows = [
        {
            "cohort": f["cohort"],
            "accounts": f["accounts"],
            "months": len(f["observed_survival"]),
            "survival_now": f["observed_survival"][-1] if f["observed_survival"] else None,
            "alpha": f["alpha"],
            "beta": f["beta"],
            f"survival_in_{periods}m": (f.get("projected_survival") or [None])[-1],
            "note": f.get("reason") or "",
        }
        for f in fits
    ]
    emit_rows(rows, fmt, title="Shifted-beta-geometric fit per signup cohort")
