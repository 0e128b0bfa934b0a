"""Holdout experiments through the real interfaces: a run draws accounts into arms by a salted
hash that any rerun repeats, records the held-out ones as controls that are never delivered nor
queued; `headroom experiments` recovers a planted effect exactly, with the intervals and p-value
of plain reference formulas, and says first when the arms are not the configured split."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats
from sqlalchemy import update
from typer.testing import CliRunner

from headroom.cli.main import app
from headroom.playbook.model import load_playbook
from headroom.plays.experiments import newcombe, two_proportion_p
from headroom.signals.registry import types
from headroom.sources import load
from headroom.sources.engines import on_engine
from headroom.store.database import Store
from headroom.store.models import Delivery, Play
from headroom.triggers.decisions import Decision, History
from headroom.triggers.evaluate import evaluate
from headroom.triggers.holdout import draw, drawn
from headroom.users import add_user
from headroom.web.app import create_app
from headroom.web.parts import Serve
from tests import parts
from tests.delivery.helpers import DAY, playbook_with, source
from tests.delivery.receivers import SECRET
from tests.triggers.scenarios import Scenario, days
from tests.web.helpers import HTML, PASSWORD, sign_in

HOOKS = f"""channels:
  hook: {{kind: webhook, url: "http://127.0.0.1:9/", secret: "{SECRET}"}}
send:
  self_serve: {{channel: hook}}
  csm: {{channel: hook}}
  ae: {{channel: hook}}
  ae_alert: {{channel: hook}}
  csm_direct_message: {{channel: hook}}
"""


@given(st.text(max_size=20), st.text(max_size=20), st.text(max_size=20))
def test_the_draw_is_a_number_from_0_to_1_the_same_every_time(e: str, t: str, a: str) -> None:
    assert 0 <= draw(e, t, a) < 1
    assert draw(e, t, a) == draw(e, t, a)


def test_the_draw_holds_out_its_share_and_a_new_experiment_draws_afresh() -> None:
    accounts = [f"acc_{i:05d}" for i in range(20_000)]
    held = {a for a in accounts if drawn("q3", "seats", a, 0.1) == "held_out"}
    assert 0.09 < len(held) / len(accounts) < 0.11
    again = {a for a in accounts if drawn("q4", "seats", a, 0.1) == "held_out"}
    assert 0.005 < len(held & again) / len(accounts) < 0.015  # independent: about 1%
    # a larger share holds out everyone the smaller one did
    assert held <= {a for a in accounts if drawn("q3", "seats", a, 0.2) == "held_out"}


def _salt(arms: dict[str, str]) -> str:
    """An experiment name whose draw gives these accounts these arms (the draw is fixed by
    the names: the test looks for a salt rather than steering the draw)."""
    trigger = {"a1": "seat_expansion_urgent", "a2": "seat_expansion_proactive",
               "a3": "enterprise_expansion"}  # fmt: skip
    for i in range(1000):
        name = f"trial-{i}"
        if all(drawn(name, trigger[a], a, 0.5) == arm for a, arm in arms.items()):
            return name
    raise AssertionError("no salt found")


def test_a_held_out_play_is_recorded_but_never_delivered_queued_nor_won(tmp_path: Path) -> None:
    book = playbook_with(tmp_path / "book", HOOKS)
    salt = _salt({"a1": "treated", "a2": "held_out", "a3": "treated"})
    book.write_text(book.read_text() + f"\nholdout: 50%\nexperiment: {salt}\n")
    src = source(tmp_path / "src")
    run = CliRunner().invoke(
        app, ["run", str(src), "--playbook", str(book), "--as-of", str(DAY), "--format", "json"]
    )
    assert run.exit_code == 0, run.output
    result = json.loads(run.output)
    assert sorted(p["account_id"] for p in result["plays"]) == ["a1", "a3"]
    assert {d["account_id"]: d["action"] for d in result["decisions"]} == {
        "a1": "fired", "a2": "held_out", "a3": "fired"
    }  # fmt: skip
    with Store() as store:
        plays = {p.account_id: p for p in store.plays()}
        with store.session() as s:
            sent = {d.play_id for d in s.query(Delivery)}
    assert {a: (p.status, p.arm, p.experiment) for a, p in plays.items()} == {
        "a1": ("open", "treated", salt),
        "a2": ("held_out", "held_out", salt),
        "a3": ("open", "treated", salt),
    }
    assert plays["a2"].play_id not in sent and plays["a1"].play_id in sent
    listed = CliRunner().invoke(app, ["plays", "list", "--status", "open", "--format", "json"])
    assert "a2" not in {p["account_id"] for p in json.loads(listed.output)}
    won = CliRunner().invoke(app, ["plays", "record", plays["a2"].play_id, "--outcome", "won"])
    assert won.exit_code == 1
    assert won.stderr.strip() == (
        f"error: play {plays['a2'].play_id} is held out: a control of its trigger's "
        "experiment; a held-out account gets no play to win or lose; its expansions count in "
        "headroom experiments"
    )
    # the next day's run does not draw the account again: it is in its (held-out) play
    nxt = CliRunner().invoke(
        app, ["run", str(src), "--playbook", str(book), "--as-of", str(DAY + dt.timedelta(days=1)),
              "--format", "json"],
    )  # fmt: skip
    assert nxt.exit_code == 0, nxt.output
    assert "held_out" not in {d["action"] for d in json.loads(nxt.output)["decisions"]}


# -- the report on a planted effect -------------------------------------------------------------

START = dt.date(2026, 1, 5)
END = START + dt.timedelta(days=120)
PLAYBOOK = """version: 1
name: planted
experiment: spring
triggers:
  - id: grow
    when: "seats > 0"
    offer: seats
    holdout: 20%
"""


def planted(folder: Path, n: int = 500) -> tuple[Path, dict[str, str]]:
    """``n`` accounts that all fire ``grow`` on START. Of the treated, 3 in 10 add 50 MRR 30
    days later; of the held out, 1 in 10 (in account order): +20 points, caused by the play."""
    s = Scenario(folder)
    arms: dict[str, str] = {
        f"a{i:04d}": drawn("spring", "grow", f"a{i:04d}", 0.2) for i in range(n)
    }
    counts = {"treated": 0, "held_out": 0}
    for account, arm in arms.items():
        s.account(account, start="2025-06-01")
        k = counts[arm]
        counts[arm] += 1
        if k % 10 < (3 if arm == "treated" else 1):
            s.subs.append(f"x_{account},{account},{START + dt.timedelta(days=30)},,50,Starter,2,")
        # a usage row a day to the end: where the data ends
    s.daily("a0000", "active_users", [(d, 5) for d in days(START, END)])
    return s.write(), arms


def test_experiments_recover_a_planted_effect_with_the_reference_intervals(
    tmp_path: Path,
) -> None:
    folder, arms = planted(tmp_path / "src")
    book = tmp_path / "playbook.yaml"
    book.write_text(PLAYBOOK)
    run = CliRunner().invoke(
        app, ["run", str(folder), "--playbook", str(book), "--as-of", str(START)]
    )
    assert run.exit_code == 0, run.output
    got = CliRunner().invoke(
        app, ["experiments", str(folder), "--playbook", str(book), "--through", str(END),
              "--format", "json"],
    )  # fmt: skip
    assert got.exit_code == 0, got.output
    report = json.loads(got.stdout)
    (grow,) = report["triggers"]
    n_t = sum(a == "treated" for a in arms.values())
    n_c = len(arms) - n_t
    x_t = sum(k % 10 < 3 for k in range(n_t))
    x_c = sum(k % 10 < 1 for k in range(n_c))
    assert (grow["treated"], grow["held_out"], grow["pending"]) == (n_t, n_c, 0)
    assert grow["rate_treated"] == pytest.approx(x_t / n_t)
    assert grow["rate_held_out"] == pytest.approx(x_c / n_c)
    d, low, high = newcombe(x_t, n_t, x_c, n_c)
    assert [grow["uplift"], grow["uplift_low"], grow["uplift_high"]] == pytest.approx(
        [d, low, high]
    )
    assert 0 < grow["uplift_low"] < 0.2 < grow["uplift_high"]  # covers the planted +20 points
    assert grow["p_value"] == pytest.approx(two_proportion_p(x_t, n_t, x_c, n_c))
    arr = 12 * 50 * (x_t / n_t - x_c / n_c) * n_t
    assert grow["incremental_arr"] == pytest.approx(arr)
    assert grow["incremental_arr_low"] < arr < grow["incremental_arr_high"]
    assert grow["sample_ratio_mismatch"] is False and report["sample_ratio_mismatch"] == []

    # docs/experiments.md works this example through: its numbers are these
    docs = (Path(__file__).resolve().parents[2] / "docs" / "experiments.md").read_text()
    docs = " ".join(docs.split())
    for said in (
        f"The draw gives {n_t} treated and {n_c} held out",
        f"p-value is {grow['srm_p_value']:.3f}: no mismatch",
        f"({x_t} of {n_t})",
        f"({x_c} of {n_c})",
        f"+{d * 100:.1f} points, 95% interval +{low * 100:.1f} to +{high * 100:.1f} "
        f"(Newcombe), p = {grow['p_value']:.2g}",
        f"12 x ({50 * x_t / n_t:.2f} - {50 * x_c / n_c:.2f}) x {n_t} = "
        f"{grow['incremental_arr']:,.0f}",
        f"needs {grow['planned_held_out']} accounts",
    ):
        assert said in docs, said

    # a tampered store: 60 treated accounts relabelled held out
    with Store() as store, store.session() as s:
        ids = [p.play_id for p in s.query(Play).filter(Play.arm == "treated").limit(60)]
        s.execute(update(Play).where(Play.play_id.in_(ids)).values(arm="held_out"))
    table = CliRunner().invoke(
        app, ["experiments", str(folder), "--playbook", str(book), "--through", str(END)]
    )
    assert table.exit_code == 0, table.output
    first = table.stdout.strip().splitlines()[0]
    assert first.startswith("sample ratio mismatch: grow's arms are not its configured split")


@given(
    x1=st.integers(0, 200), n1=st.integers(1, 200), x2=st.integers(0, 200), n2=st.integers(1, 200)
)
def test_the_p_value_is_the_chi_squared_tests_without_correction(
    x1: int, n1: int, x2: int, n2: int
) -> None:
    x1, x2 = min(x1, n1), min(x2, n2)
    if x1 + x2 in (0, n1 + n2):
        assert two_proportion_p(x1, n1, x2, n2) == 1.0
        return
    table = [[x1, n1 - x1], [x2, n2 - x2]]
    p = stats.chi2_contingency(table, correction=False).pvalue
    assert two_proportion_p(x1, n1, x2, n2) == pytest.approx(p, rel=1e-6, abs=1e-12)


# -- the page and the API -----------------------------------------------------------------------


def test_the_experiments_page_and_api_show_the_same_numbers(tmp_path: Path) -> None:
    folder, arms = planted(tmp_path / "src", n=300)
    book = tmp_path / "playbook.yaml"
    book.write_text(PLAYBOOK)
    run = CliRunner().invoke(
        app, ["run", str(folder), "--playbook", str(book), "--as-of", str(START)]
    )
    assert run.exit_code == 0, run.output
    store = Store()
    add_user(store, "boss", "manager", PASSWORD)
    source = load(folder, today=END)
    serve = Serve(store, [], source=source, as_of=END, playbook=load_playbook(book, types()))
    try:
        with TestClient(create_app(serve)) as client:
            assert client.get("/api/v1/experiments").status_code == 401
            sign_in(client, "boss")
            api = client.get("/api/v1/experiments").json()
            page = client.get("/experiments", headers=HTML)
            bad = client.get("/api/v1/experiments?horizon_days=ninety")
    finally:
        source.close()
        store.close()
    (grow,) = api["triggers"]
    n_t = sum(a == "treated" for a in arms.values())
    assert (grow["treated"], grow["held_out"]) == (n_t, len(arms) - n_t)
    assert [c["month"] for c in api["cumulative"]] == ["2026-01-01"]
    assert api["cumulative"][0]["incremental_arr"] == pytest.approx(grow["incremental_arr"])
    assert page.status_code == 200
    row = re.search(r'<table class="queue" id="experiments">.*?</table>', page.text, re.S)
    assert row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(0), re.S)
    assert cells[:3] == ["grow", f"{n_t:,}", f"{len(arms) - n_t:,}"]
    assert f"{grow['uplift'] * 100:+.1f} pts" in cells[5]
    assert bad.status_code == 400
    assert bad.json()["error"]["message"] == "horizon_days 'ninety' is not a whole number of days"


@pytest.mark.spark
@pytest.mark.xdist_group("spark")
def test_the_draw_is_the_same_on_spark(tmp_path: Path) -> None:
    parts.spark()
    folder, arms = planted(tmp_path / "src", n=120)
    book_file = tmp_path / "playbook.yaml"
    book_file.write_text(PLAYBOOK)
    book = load_playbook(book_file, types())
    source = load(folder, today=END)
    try:
        on_duckdb = evaluate(source, book, START, History())
        on_spark = evaluate(on_engine(source, "spark"), book, START, History())
    finally:
        source.close()

    def drawn_arms(decisions: list[Decision]) -> dict[str, tuple[str, str | None]]:
        return {d.account_id: (d.action, d.play.arm if d.play else None) for d in decisions}

    assert drawn_arms(on_spark) == drawn_arms(on_duckdb)
    assert {a: arm for a, (_, arm) in drawn_arms(on_duckdb).items()} == arms


def test_a_changed_split_is_recorded_and_each_account_expected_at_its_own(
    tmp_path: Path,
) -> None:
    # 400 accounts drawn at 20% on START; then the split goes to 40%, and 400 accounts that
    # start paying later are drawn at that
    s = Scenario(tmp_path / "src")
    for i in range(400):
        s.account(f"a{i:04d}", start="2025-06-01")
        s.account(f"b{i:04d}", start=str(START + dt.timedelta(days=5)))
    s.daily("a0000", "active_users", [(d, 5) for d in days(START, END)])
    folder = s.write()
    book = tmp_path / "playbook.yaml"
    for share, day in (("20%", START), ("40%", START + dt.timedelta(days=10))):
        book.write_text(PLAYBOOK.replace("holdout: 20%", f"holdout: {share}"))
        run = CliRunner().invoke(
            app, ["run", str(folder), "--playbook", str(book), "--as-of", str(day)]
        )
        assert run.exit_code == 0, run.output
    got = CliRunner().invoke(
        app, ["experiments", str(folder), "--playbook", str(book), "--through", str(END),
              "--format", "json"],
    )  # fmt: skip
    report = json.loads(got.stdout)
    assert [(d["first_fired"], d["plays"], d["holdouts"]) for d in report["designs"]] == [
        (str(START), 400, {"grow": 0.2}),
        (str(START + dt.timedelta(days=10)), 400, {"grow": 0.4}),
    ]
    (grow,) = report["triggers"]
    held = sum(drawn("spring", "grow", f"a{i:04d}", 0.2) == "held_out" for i in range(400))
    held += sum(drawn("spring", "grow", f"b{i:04d}", 0.4) == "held_out" for i in range(400))
    assert grow["held_out"] == held  # nobody drawn twice: the first 400 kept their arms
    assert grow["sample_ratio_mismatch"] is False, grow["srm_p_value"]


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("    holdout: ten\n", "8:14: triggers.0.holdout: 'ten' is not a share from 0% to 50%"),
        ("    holdout: 60%\n", "8:14: triggers.0.holdout: '60%' is not a share from 0% to 50%"),
    ],
)
def test_a_bad_holdout_is_refused_where_it_is_written(tmp_path: Path, line: str, said: str) -> None:
    book = tmp_path / "playbook.yaml"
    book.write_text(PLAYBOOK.replace("    holdout: 20%\n", line))
    run = CliRunner().invoke(app, ["check", str(book)])
    assert run.exit_code == 1
    assert run.stderr.strip() == f"error: playbook.yaml:{said}, e.g. 10%"
