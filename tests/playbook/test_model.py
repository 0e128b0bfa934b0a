"""Playbook files: a good one loads; bad ones get file, line and column, verbatim."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from headroom.cli.main import app
from headroom.playbook.model import Duration, Timing, load_playbook
from headroom.signals.registry import types

GOOD = """\
name: TeamFlow seats
stage:
  entry: "onboarded and health != 'at_risk' and tenure_days >= 30"
  reenter_after_expansion: 30d
  declined_suppression: 90d
triggers:
  - id: seat_expansion_proactive
    when: "seat_utilisation > 0.85"
    for: 7d
    cooldown: {group: seat_expansion, period: 30d}
    timing: next business day 10:00
    owner:
      - when: "tier in ('Starter', 'Professional')"
        owner: self_serve
      - owner: csm
    offer: seats
    priority: 2
routing:
  - when: "acv >= 25000"
    notify: [csm_dm, ae_alert]
    sla: 4h
"""


def check(tmp_path: Path, text: str, *extra: str) -> tuple[int, str, str]:
    path = tmp_path / "playbook.yaml"
    path.write_text(text)
    result = CliRunner().invoke(app, ["check", str(path), *extra])
    assert "Traceback" not in result.output
    return result.exit_code, result.stdout, result.stderr


def test_a_good_playbook_loads(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(GOOD)
    book = load_playbook(tmp_path / "p.yaml", types())
    trigger = book.trigger("seat_expansion_proactive")
    assert trigger.persistence == Duration(7, "days")
    assert Timing.parse(trigger.timing) == Timing("next_business_day", (10, 0))
    assert book.signals() == {
        "onboarded", "health", "tenure_days", "seat_utilisation", "tier", "acv",
    }  # fmt: skip
    assert len(book.version) == 12


def test_check_reports_what_a_source_cannot_feed(tmp_path: Path) -> None:
    folder = tmp_path / "bare"
    folder.mkdir()
    (folder / "subscriptions.csv").write_text(
        "subscription_id,account_id,start_date,mrr\ns1,a1,2025-01-01,10\n"
    )
    code, out, _ = check(tmp_path, GOOD, str(folder), "--format", "json")
    assert code == 0
    body = json.loads(out)
    assert body["signals_the_source_cannot_feed"] == {
        "seat_utilisation": ["usage_daily"],
        "tier": ["plans"],
    }


def test_check_on_generated_teamflow_data(tmp_path: Path, teamflow: Callable[..., Path]) -> None:
    code, out, _ = check(tmp_path, GOOD, str(teamflow(accounts=30, days=90, seed=2)))
    assert code == 0
    assert out.splitlines()[0].startswith("playbook.yaml: valid (TeamFlow seats, version ")
    assert "has no values from this source" not in out


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            '"seat_utilisation > 0.85"',
            '"seat_utilisaton > 0.85"',
            "playbook.yaml:8:12: trigger seat_expansion_proactive, when: unknown signal "
            "'seat_utilisaton' (did you mean seat_utilisation?); use a signal of the catalogue "
            "(headroom check lists them), or quote text values in single quotes",
        ),
        (
            "\"tier in ('Starter', 'Professional')\"",
            "tier > 3",
            "playbook.yaml:13:15: trigger seat_expansion_proactive, owner.0.when: tier is text "
            "but 3 is a number; compare tier with text such as tier = 'Business', or use "
            "tier_rank > 3",
        ),
        (
            "for: 7d",
            "for: 7 weeks",
            "playbook.yaml:9:10: triggers.0.for: '7 weeks' is not a duration; write a whole "
            "number and a unit, such as 7d, 48h, 30m or 2 cycles",
        ),
        (
            "declined_suppression: 90d",
            "declined_suppression: 12h",
            "playbook.yaml:5:25: stage.declined_suppression: '12h' must be given in days, e.g. 30d",
        ),
        (
            "timing: next business day 10:00",
            "timing: next business day 25:00",
            "playbook.yaml:11:13: triggers.0.timing: 'next business day 25:00' is not a time of "
            "day; write e.g. 10:00",
        ),
        (
            "timing: next business day 10:00",
            "timing: tomorrow-ish",
            "playbook.yaml:11:13: triggers.0.timing: 'tomorrow-ish' is not a timing; use one of: "
            "immediately, next business day 10:00, 48h after threshold, within 24h, within 1-3 "
            "business days, 45-60d before ceiling, 75-90d before renewal",
        ),
        (
            "    priority: 2\n",
            '    priority: 2\n  - id: seat_expansion_proactive\n    when: "mrr > 0"\n'
            "    offer: seats\n",
            "playbook.yaml:18:9: trigger id 'seat_expansion_proactive' is used twice (first on "
            "line 7); give every trigger its own id",
        ),
        (
            "    offer: seats\n",
            "    offer: seats\n    offer: tier\n",
            "playbook.yaml:17:5: 'offer' is given twice (first on line 16); keep one of them",
        ),
        (
            "    notify: [csm_dm, ae_alert]",
            "    notify: [csm_dm, ae_alert",
            "playbook.yaml:21:8: YAML syntax error: expected ',' or ']', but got ':'; check "
            "indentation, colons and quotes around that spot",
        ),
        (
            "    priority: 2\n",
            "    priority: 2\n    message: seats_email.md.j2\n",
            "playbook.yaml:18:14: trigger seat_expansion_proactive: message template "
            "'seats_email.md.j2' does not exist; add templates/seats_email.md.j2 beside the "
            "playbook, or fix the name",
        ),
        (
            "    priority: 2\n",
            "    priority: 2\n    conversion: 80-60%\n",
            "playbook.yaml:18:17: triggers.0.conversion: '80-60%' is not a range of percentages "
            "between 0 and 100, low first, e.g. 40-60%",
        ),
        (
            "    priority: 2",
            "    priorty: 2",
            "playbook.yaml:17:5: unknown setting 'priorty' (did you mean 'priority'?); the "
            "settings here are id, when, for, eligible, cooldown, timing, owner, offer, "
            "priority, message, conversion, holdout",
        ),
    ],
)
def test_bad_playbooks_get_precise_messages(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    assert old in GOOD
    code, out, err = check(tmp_path, GOOD.replace(old, new, 1))
    assert code == 1
    assert out == ""
    assert err == f"error: {message}\n"


def test_an_existing_template_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "seats_nudge.email.j2").write_text("Subject: hi\n\n{{ account }}")
    (tmp_path / "templates" / "seats.brief.j2").write_text("{{ play.why }}")  # for the csm
    text = GOOD.replace("    priority: 2\n", "    priority: 2\n    message: seats_nudge.email.j2\n")
    code, _, err = check(tmp_path, text)
    assert code == 0, err


def test_durations_and_timings() -> None:
    assert Duration.parse("2 cycles") == Duration(2, "cycles")
    assert Duration.parse("48h").timedelta() == dt.timedelta(hours=48)
    assert Timing.parse("45-60d before ceiling") == Timing("before_ceiling", (45, 60))
    assert Timing.parse("75-90d before renewal") == Timing("before_renewal", (75, 90))
    assert Timing.parse("48h after threshold") == Timing("after_threshold", (48,))
    with pytest.raises(ValueError, match="backwards"):
        Timing.parse("60-45d before ceiling")


BOMB = """\
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (BOMB, "playbook.yaml:1:15: it expands to over 100,000 values (aliases?); a "
         "configuration needs a few levels and a few hundred values; write it out"),
        ("a: " + "[" * 10_000 + "]" * 10_000 + "\n", "playbook.yaml: it nests over 50 levels "
         "deep; a configuration needs a few levels; flatten it"),
        ("name: x\x00y\n", "playbook.yaml:1:8: character '\\x00' is not allowed in YAML; "
         "remove it (a NUL byte or another control character)"),
    ],
)  # fmt: skip
def test_hostile_yaml_gets_a_clear_error_in_bounded_time_and_memory(
    tmp_path: Path, text: str, message: str
) -> None:
    """An alias bomb ran for over 60 s and 4.5 GB; 10,000-deep nesting and a NUL byte exited
    70. Each is now an error with its place, exit 1."""
    path = tmp_path / "playbook.yaml"
    path.write_text(text)
    result = CliRunner().invoke(app, ["check", str(path)])
    assert (result.exit_code, result.stderr) == (1, f"error: {message}\n")
