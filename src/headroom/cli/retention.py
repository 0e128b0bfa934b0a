"""``headroom retention fit``: the shifted-beta-geometric model of a cohort's survival."""

from __future__ import annotations

import typer

from headroom.cli.main import app, new_app
from headroom.cli.output import Format, console, emit_rows, print_json
from headroom.errors import UsageError
from headroom.metrics.retention import fit_sbg

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
    fmt: Format = typer.Option(Format.table, "--format", help="table, json or csv."),
) -> None:
    """Fit alpha and beta by maximum likelihood; project survival beyond the data."""
    if periods < 0:
        raise UsageError(f"--periods {periods} is negative", fix="pass 0 or more, e.g. 12")
    if discount_rate is not None and not 0 <= discount_rate < 1:
        raise UsageError(
            f"--discount-rate {discount_rate} is outside 0 to 1", fix="e.g. --discount-rate 0.10"
        )
    fit = fit_sbg(_shares(survival))
    body = fit.to_dict(periods, discount_rate)
    if fmt == Format.json:
        print_json(body)
        return
    n = len(fit.observed)
    rows = [
        {"period": t, "observed": o, "fitted": round(f, 4)}
        for t, (o, f) in enumerate(zip(fit.observed, fit.fitted(), strict=True), 1)
    ] + [{"period": n + t, "observed": None, "fitted": round(p, 4)} for t, p in
         enumerate(fit.projected(periods), 1)]  # fmt: skip
    if fmt == Format.table:
        line = (
            f"alpha {fit.alpha:.4f}, beta {fit.beta:.4f}, log-likelihood {fit.log_likelihood:.4f}"
        )
        if discount_rate is not None:
            line += f"; expected residual lifetime {body['expected_residual_lifetime']:.3f} periods"
        console().print(line)
    emit_rows(rows, fmt, ["period", "observed", "fitted"], title="Survival")
