"""Fuzzing that stays: generated hostile input at every interface that reads it, within a fixed
budget (derandomized, so a run in CI is a run here), asserting that each answer is a clear
error or a success: never a 500, never exit 70, never a traceback.

The budgets are kept small enough for CI (the whole file takes a minute or two); raise
``HEADROOM_FUZZ_EXAMPLES`` to search longer. Each test counts the cases it tried and what
they came to, printed with ``-s``.
"""

from __future__ import annotations

import base64
import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from headroom.cli.main import app as cli
from headroom.errors import HeadroomError
from headroom.messages.templates import Templates
from headroom.store.database import Store
from headroom.web.app import create_app
from headroom.web.parts import Serve

EXAMPLES = int(os.environ.get("HEADROOM_FUZZ_EXAMPLES", "150"))
KEY = "wk_fuzz"
BUDGET = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

#: Text that has broken parsers before: surrogates, NUL, BOMs, right-to-left marks, huge
#: numbers, far dates.
NASTY = [
    "\ud800", "\x00", "\ufeff", "\u202e", "😀", "", " ", "\n", "'", '"', "\\", "{{", "{%",
    "1e400", "NaN", "-0", "9" * 40, "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
    "2026-11-24T16:03:00Z", "acc_1", "*a", "&a", "<<", "- ", ": ",
]  # fmt: skip
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
    st.sampled_from(NASTY), st.text(max_size=20),
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=30,
)


def _calls() -> st.SearchStrategy[dict[str, Any]]:
    """Track calls: mostly well formed, with any field replaced by anything."""
    base = st.fixed_dictionaries(
        {
            "type": st.sampled_from(["track", "identify", "page"]),
            "event": st.one_of(st.sampled_from(["invite_sent", "x"]), values),
            "messageId": st.one_of(st.text(max_size=10), values),
            "timestamp": st.one_of(st.sampled_from(NASTY), values),
            "properties": st.one_of(
                st.fixed_dictionaries({"account_id": st.one_of(st.just("acc_1"), values)}),
                values,
            ),
        }
    )
    return base


def _deep(depth: int) -> str:
    return '{"batch": [' + '{"a": ' * depth + "1" + "}" * depth + "]}"


@pytest.fixture
def ingest(tmp_path: Path) -> Iterator[TestClient]:
    store = Store(f"sqlite:///{tmp_path / 'state.sqlite'}")
    with TestClient(create_app(Serve(store, [KEY]))) as client:
        yield client
    store.close()


def test_the_ingest_api_answers_any_body_with_success_or_a_clear_400(
    ingest: TestClient,
) -> None:
    seen: Counter[int] = Counter()
    auth = {"authorization": "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()}

    @BUDGET
    @given(
        body=st.one_of(
            st.fixed_dictionaries({"batch": st.lists(_calls(), max_size=4)}),
            _calls(),
            values,
            st.integers(1, 5_000).map(_deep),
            st.binary(max_size=200),
        ),
        route=st.sampled_from(["/v1/batch", "/v1/track"]),
    )
    def call(body: Any, route: str) -> None:
        if isinstance(body, bytes | str):
            raw = body if isinstance(body, bytes) else body.encode()
        else:
            raw = json.dumps(body, ensure_ascii=True).encode()  # lone surrogates as \ud800
        r = ingest.post(route, content=raw, headers=auth | {"content-type": "application/json"})
        seen[r.status_code] += 1
        assert r.status_code in (200, 400, 413), (r.status_code, r.text[:300])
        if r.status_code != 200:
            error = r.json()["error"]
            assert set(error) == {"code", "message", "fix"} and error["message"]

    call()
    print(f"ingest: {sum(seen.values())} bodies, answers {dict(seen)}")
    assert seen[200] and seen[400]  # both kinds were tried


def _check(tmp_path: Path, text: str | bytes, name: str = "playbook.yaml") -> int:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    result = CliRunner().invoke(cli, ["check", str(path)])
    assert "Traceback" not in result.output
    assert result.exit_code in (0, 1), (result.exit_code, text, result.output[-500:])
    if result.exit_code == 1:
        assert result.stderr.startswith("error: "), result.stderr
    return result.exit_code


YAML_PIECES = [
    "name: x\n", "triggers:\n", "  - id: a\n", "    when: \"x > 1\"\n", "    for: 7d\n",
    "a: &a [1, 2]\n", "b: [*a, *a]\n", "c: {d: {e: {f: 1}}}\n", "stage: [\n", "]]\n", "\t",
    "\x00", "\ufeff", "key: 'unterminated\n", "? complex\n", "!!python/object:os.system x\n",
    "- - - -\n", "<<: *a\n", "offer: seats\n", "timing: immediately\n", "%YAML 1.1\n---\n",
]  # fmt: skip


def test_check_answers_any_playbook_with_its_verdict(tmp_path: Path) -> None:
    outcomes: Counter[int] = Counter()

    @BUDGET
    @given(
        text=st.one_of(
            st.lists(st.sampled_from(YAML_PIECES), max_size=12).map("".join),
            st.text(max_size=200),
            st.integers(1, 3_000).map(lambda n: "a: " + "[" * n + "]" * n + "\n"),
        )
    )
    def check(text: str) -> None:
        outcomes[_check(tmp_path, text)] += 1

    check()
    print(f"playbooks: {sum(outcomes.values())} files, exit codes {dict(outcomes)}")
    assert outcomes[1]


def test_a_source_mapping_of_anything_gets_its_verdict(tmp_path: Path) -> None:
    """Mappings go through the same YAML reader as playbooks, then validate: exit 0 or 1."""
    source = tmp_path / "src"
    source.mkdir()
    (source / "subscriptions.csv").write_text(
        "subscription_id,account_id,start_date,mrr\ns1,a1,2024-01-01,10\n"
    )
    codes: Counter[int] = Counter()

    @BUDGET
    @given(text=st.lists(st.sampled_from([*YAML_PIECES, "tables:\n", "  usage_daily:\n",
                                          "    from: x.csv\n", "    columns: {a: b}\n"]),
                         max_size=10).map("".join))  # fmt: skip
    def validate(text: str) -> None:
        mapping = tmp_path / "mapping.yaml"
        mapping.write_text(text)
        result = CliRunner().invoke(
            cli, ["validate", str(source), "--mapping", str(mapping), "--today", "2026-11-01"]
        )
        assert result.exit_code in (0, 1), (text, result.output[-500:])
        assert "Traceback" not in result.output
        codes[result.exit_code] += 1

    validate()
    print(f"mappings: {sum(codes.values())} files, exit codes {dict(codes)}")


JINJA = [
    "{{ account.name }}", "{{ play.why }}", "{{ seat_utilisation | percent }}",
    "{% for i in range(10) %}x{% endfor %}", "{{ 'a' * 10**9 }}", "{{ 2 ** 999 }}",
    "{{ account.__class__ }}", "{{ evidence.nope }}", "{% if x %}", "{% endif %}", "{{",
    "}}", "{{ play.fired_on | day }}", "{{ [1] * 10**8 }}", "{{ 'x' + 'y' * 99999 }}",
    "{% set a = 'a' * 60000 %}{{ a ~ a }}", "\x00", "text ",
]  # fmt: skip


def test_any_template_drafts_a_message_or_says_why_not(tmp_path: Path) -> None:
    outcomes: Counter[str] = Counter()
    play = {"play_id": "p1", "trigger": "t", "offer": "seats", "owner": "csm",
            "fired_on": "2026-03-26", "due_at": "2026-03-27T10:00:00+00:00", "priority": 1,
            "evidence": {"seat_utilisation": 0.9}}  # fmt: skip
    account = {"account_id": "a1", "name": "A"}

    @BUDGET
    @given(body=st.lists(st.sampled_from(JINJA), max_size=6).map("".join))
    def draft(body: str) -> None:
        templates = Templates(None, {"seats.brief.j2": body})
        try:
            message = templates.render("seats.brief.j2", play, account)
        except HeadroomError as exc:
            assert str(exc).startswith("template seats.brief.j2 cannot be drafted")
            outcomes["refused"] += 1
        else:
            assert len(message.body) <= 100_001  # the text, and its closing line break
            outcomes["drafted"] += 1

    draft()
    print(f"templates: {sum(outcomes.values())} drafted or refused: {dict(outcomes)}")
    assert outcomes["refused"] and outcomes["drafted"]
