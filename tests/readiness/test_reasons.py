"""A play fired on the learned score says why in words a CSM reads, from the figures that
raised it most: asserted on hand-made accounts scored by a model trained on hand-made rows."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pytest

from headroom.playbook.model import load_playbook
from headroom.readiness.train import Examples, fit
from headroom.signals.readiness import Feature, Model, reasons_words, using
from headroom.signals.registry import Context, signal_table, types
from headroom.sources import load
from headroom.triggers.decisions import History
from headroom.triggers.evaluate import evaluate
from headroom.triggers.evidence import describe
from tests.triggers.scenarios import Scenario, days

DAY = dt.date(2026, 3, 31)
FEATURES = (
    Feature("seat_utilisation", +1),
    Feature("power_users"),
    Feature("segment", 0, ("mid_market", "smb")),
)


@pytest.fixture(scope="module")
def model() -> Model:
    """Expansion follows seat utilisation past 85% and nothing else: power users and the
    segment are drawn apart from the outcome."""
    rng = np.random.default_rng(1)
    n = 20_000
    util = rng.uniform(0, 1.1, n)
    x = np.column_stack([util, rng.integers(0, 6, n), rng.integers(0, 2, n)]).astype(float)
    y = (rng.random(n) < 1 / (1 + np.exp(-12 * (util - 0.85)))).astype(np.int8)
    day = np.repeat(np.arange(20_000, 20_040), n // 40)
    return fit(Examples(FEATURES, x, y, day), "hand-made", DAY, 90, version=1)


def source(folder: Path) -> Path:
    s = Scenario(folder)
    for account, active in (("full", 93), ("quiet", 20)):
        s.account(account, seats=100, start="2025-06-01")
        s.daily(account, "active_users", [(d, active) for d in days(dt.date(2026, 3, 1), DAY)])
        s.daily(account, "power_users", [(d, 2) for d in days(dt.date(2026, 3, 1), DAY)])
    return s.write()


PLAYBOOK = """\
name: ready
stage:
  entry: "paying"
triggers:
  - id: ready
    when: "readiness > 0.5"
    offer: seats
"""


def test_a_play_fired_on_the_score_says_which_figures_raised_it(
    model: Model, tmp_path: Path
) -> None:
    folder = source(tmp_path / "s")
    (tmp_path / "playbook.yaml").write_text(PLAYBOOK)
    book = load_playbook(tmp_path / "playbook.yaml", types())
    src = load(folder, today=dt.date(2027, 12, 31))
    try:
        with using(model):
            with Context(src, DAY) as ctx:
                rows = signal_table(ctx, {"readiness", "readiness_reasons"}).to_pyarrow()
            decisions = evaluate(src, book, DAY, History())
    finally:
        src.close()
    scored = {r["account_id"]: r for r in rows.to_pylist()}
    full, quiet = scored["full"], scored["quiet"]
    assert full["readiness"] > 0.5 > quiet["readiness"]
    fired = {d.account_id: d.play for d in decisions if d.play is not None}
    assert set(fired) == {"full"}
    evidence = fired["full"].evidence
    assert list(evidence) == ["readiness", "readiness_reasons"]
    # the figure that raised it, in the words the evidence uses for it, with its share
    why = describe(evidence)
    assert re.fullmatch(
        r"readiness (\d+)%, because seat utilisation 93% \(\+(0\.\d\d)\)(, .*)?", why
    ), why
    # the shares are the probability over the base rate, shared out: seat utilisation holds
    # nearly all of it; the figures drawn apart from the outcome, next to nothing, are not
    # named unless they moved it by half a point
    bias = model.booster.predict(np.array([[0.93, 2.0, 1.0]]), pred_contrib=True)[0][-1]
    a, b = model.card.platt
    p0 = 1 / (1 + np.exp(-(a * bias + b)))
    shares = [float(part.rsplit("@", 1)[1]) for part in evidence["readiness_reasons"].split(";")]
    assert shares[0] > 0.9 * (full["readiness"] - p0)
    assert all(0.005 <= s < 0.05 for s in shares[1:])


def test_reasons_name_a_text_signals_value_and_a_missing_one() -> None:
    said = reasons_words("segment=smb@0.05;seats=@0.01")
    assert said == "segment smb (+0.05), seats unknown (+0.01)"
    assert reasons_words(None) is None
