"""Message templates: every example renders with the play's own numbers; a template naming
what a play cannot supply fails the check with file, line and column."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from headroom.cli.main import app
from headroom.errors import ConfigError, HeadroomError
from headroom.messages import load_templates
from headroom.messages.templates import owners_of
from headroom.playbook.model import Playbook, load_playbook
from headroom.signals.registry import types
from headroom.triggers.evidence import evidence_names

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "teamflow"
PLAYBOOK = """version: 1
name: one trigger
triggers:
  - id: crowded
    when: "seat_utilisation > 0.85"
    for: 7d
    owner: self_serve
    offer: seats
"""
ACCOUNT = {"account_id": "acc_9", "name": "Birch & Co", "segment": "smb", "csm": "kim@x.example"}


def book_with(tmp_path: Path, templates: dict[str, str], playbook: str = PLAYBOOK) -> Playbook:
    (tmp_path / "playbook.yaml").write_text(playbook)
    (tmp_path / "templates").mkdir()
    for name, text in templates.items():
        (tmp_path / "templates" / name).write_text(text)
    return load_playbook(tmp_path / "playbook.yaml", types())


def play(trigger: str, owner: str, offer: str, evidence: dict[str, Any]) -> dict[str, Any]:
    return {
        "play_id": "p-1", "trigger": trigger, "offer": offer, "owner": owner,
        "fired_on": "2026-09-30", "due_at": "2026-10-01T10:00:00-04:00", "priority": 2,
        "evidence": evidence,
    }  # fmt: skip


def test_every_example_template_renders_with_the_plays_own_numbers() -> None:
    book = load_playbook(EXAMPLE / "playbook.yaml", types())
    templates = load_templates(book)
    figures = {"seat_utilisation": 0.93, "days_held": 9.0, "power_users": 7.0, "acv": 48_000.0,
               "events_invite_blocked_seat_limit_1d": 3.0,
               "events_integration_page_view_30d": 6.0, "tier": "Professional"}  # fmt: skip
    said = {"seat_utilisation": "93%", "days_held": "9", "power_users": "7", "acv": "48,000",
            "events_invite_blocked_seat_limit_1d": "3", "events_integration_page_view_30d": "6",
            "tier": "Professional"}  # fmt: skip
    rendered = 0
    for i, trigger in enumerate(book.model.triggers):
        names = evidence_names(book, i)
        evidence = {n: figures[n] for n in names}
        for owner in owners_of(trigger):
            m = templates.render(
                templates.name_for(trigger, owner),
                play(trigger.id, owner, trigger.offer, evidence),
                ACCOUNT,
            )
            assert m.kind == ("email" if owner in ("self_serve", "automated_nurture") else "brief")
            assert m.subject and "Birch & Co" in m.subject + m.body
            # The account's own figures, the ones that made the trigger fire, are in the text.
            shown = [n for n in names if n not in ("days_held", "tier", "acv")] or names
            for n in shown:
                assert said[n] in m.body, (trigger.id, owner, n, m.body)
            # It closes on one dated next step: two business days after the play is due.
            assert "Monday 5 October 2026" in m.body
            rendered += 1
    assert rendered == 8  # each owner of each trigger


def test_the_alert_has_a_built_in_text(tmp_path: Path) -> None:
    book = book_with(tmp_path, {"seats.email.j2": "Subject: s\n\n{{ seat_utilisation }}"})
    m = load_templates(book).render(
        None, play("crowded", "self_serve", "seats", {"seat_utilisation": 0.9, "days_held": 8.0}),
        ACCOUNT,
    )  # fmt: skip
    assert m.kind == "alert"
    assert m.subject == "crowded fired for Birch & Co (acc_9): seat utilisation 90% for 8 days."


@pytest.mark.parametrize(
    ("templates", "message"),
    [
        (
            {"seats.email.j2": "Subject: hi\n\nYou have {{ power_users }} power users"},
            "templates/seats.email.j2:3:13: uses 'power_users', which trigger crowded cannot "
            "supply; use account, play, next_step_on or the evidence (days_held, "
            "seat_utilisation), or test '{% if evidence.power_users is defined %}' first",
        ),
        (
            {
                "seats.email.j2": "Subject: hi\n\n{{ seat_utilisation | percent }}\n"
                "{{ evidence.acv | number }}"
            },
            "templates/seats.email.j2:4:13: uses 'acv', which trigger crowded cannot supply; "
            "use account, play, next_step_on or the evidence (days_held, seat_utilisation), or "
            "test '{% if evidence.acv is defined %}' first",
        ),
        (
            {"seats.email.j2": "Subject: hi\n\n{% if seat_utilisation > 0.9 %}\nfull\n"},
            "templates/seats.email.j2:3:1: Unexpected end of template. Jinja was looking for the "
            "following tags: 'elif' or 'else' or 'endif'. The innermost block that needs to be "
            "closed is 'if'.; see https://jinja.palletsprojects.com/templates/ for the syntax",
        ),
        (
            {"seats.email.j2": "Hello {{ account.name }}"},
            "templates/seats.email.j2:1:1: an email template starts with its Subject: line; "
            "write 'Subject: ...', a blank line, then the body",
        ),
        (
            {"seats.email.j2": "Subject: hi\n\n{{ seat_utilisation | percnt }}"},
            "templates/seats.email.j2:3:1: No filter named 'percnt'.; see "
            "https://jinja.palletsprojects.com/templates/ for the syntax",
        ),
        (
            {"seats.email.j2": "Subject: hi\n\nYour MRR is {{ account.mrr }}"},
            "templates/seats.email.j2:3:16: uses 'account.mrr', which no play supplies; "
            "account has ae, csm, id, name, segment, timezone",
        ),
        (
            {"seats.brief.j2": "{{ account.name }}"},
            "trigger crowded: its plays for self_serve are drafted from templates/seats.email.j2, "
            "which does not exist; add templates/seats.email.j2 beside the playbook",
        ),
    ],
)
def test_a_template_the_play_cannot_fill_fails_the_check(
    tmp_path: Path, templates: dict[str, str], message: str
) -> None:
    book = book_with(tmp_path, templates)
    with pytest.raises(ConfigError) as err:
        load_templates(book)
    assert str(err.value) == message
    # headroom check says the same, without a traceback.
    result = CliRunner().invoke(app, ["check", str(tmp_path / "playbook.yaml")])
    assert result.exit_code == 1
    assert result.output.strip().replace("\n", " ").endswith(message.replace("\n", " "))


def test_a_branch_for_other_evidence_is_not_held_against_a_trigger(tmp_path: Path) -> None:
    text = ("Subject: hi\n\n{% if evidence.power_users is defined %}{{ evidence.power_users }}"
            "{% elif evidence.seat_utilisation is defined %}{{ seat_utilisation | percent }}"
            "{% else %}{{ evidence.acv }}{% endif %}")  # fmt: skip
    book = book_with(tmp_path, {"seats.email.j2": text})
    templates = load_templates(book)  # the acv branch is never reached: seat_utilisation is
    m = templates.render(
        "seats.email.j2",
        play("crowded", "self_serve", "seats", {"seat_utilisation": 0.91, "days_held": 7.0}),
        ACCOUNT,
    )
    assert m.body == "91%\n"


def test_the_sandbox_keeps_templates_to_their_numbers(tmp_path: Path) -> None:
    # account.__class__ is refused by the check; this reaches it through a value instead.
    text = "Subject: hi\n\n{{ play.why.__class__.__mro__ }}"
    book = book_with(tmp_path, {"seats.email.j2": text})
    refused = r"^template seats\.email\.j2 cannot be drafted for play p-1: "
    with pytest.raises(HeadroomError, match=refused):
        load_templates(book).render(
            "seats.email.j2", play("crowded", "self_serve", "seats", {}), ACCOUNT
        )


def test_no_templates_folder_means_no_drafts(tmp_path: Path) -> None:
    (tmp_path / "playbook.yaml").write_text(PLAYBOOK)
    templates = load_templates(load_playbook(tmp_path / "playbook.yaml", types()))
    assert templates.folder is None
    assert (
        templates.name_for(
            load_playbook(tmp_path / "playbook.yaml", types()).model.triggers[0], "csm"
        )
        is None
    )


def test_the_example_templates_pass_the_check() -> None:
    copy = EXAMPLE / "templates"
    assert sorted(p.name for p in copy.iterdir()) == [
        "enterprise.brief.j2", "seats.brief.j2", "seats.email.j2", "tier.brief.j2",
        "tier.email.j2",
    ]  # fmt: skip
    result = CliRunner().invoke(app, ["check", str(EXAMPLE / "playbook.yaml"), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert '"templates": [' in result.output


def test_a_templates_own_variables_are_its_own(tmp_path: Path) -> None:
    text = ("Subject: hi\n\n{% set share = seat_utilisation | percent %}{{ share }}"
            "{% for k, v in evidence.items() %} {{ k }}={{ v }}{% endfor %}")  # fmt: skip
    book = book_with(tmp_path, {"seats.email.j2": text})
    m = load_templates(book).render(
        "seats.email.j2",
        play("crowded", "self_serve", "seats", {"seat_utilisation": 0.9, "days_held": 8.0}),
        ACCOUNT,
    )
    assert m.body == "90% seat_utilisation=0.9 days_held=8.0\n"
