"""The score's measures against plain references: AUC is the Mann-Whitney statistic, average
precision the mean precision at each positive, Platt scaling finds the line it was drawn from."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import mannwhitneyu

from headroom.readiness import measures
from headroom.readiness.train import platt

# scores on a coarse grid, so that ties (the hard part) are common
scored = st.lists(
    st.tuples(st.integers(0, 20).map(lambda k: k / 20), st.booleans()), min_size=2, max_size=80
).filter(lambda rows: 0 < sum(y for _, y in rows) < len(rows))


def arrays(rows: list[tuple[float, bool]]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([p for p, _ in rows]), np.array([int(y) for _, y in rows])


@settings(max_examples=200)
@given(rows=scored)
def test_auc_is_the_mann_whitney_statistic(rows: list[tuple[float, bool]]) -> None:
    p, y = arrays(rows)
    u = mannwhitneyu(p[y == 1], p[y == 0]).statistic
    assert measures.auc(p, y) == pytest.approx(u / (y.sum() * (len(y) - y.sum())))


def reference_average_precision(p: np.ndarray, y: np.ndarray) -> float:
    """Step through each distinct score, highest first: the recall it adds times the precision
    of everything scored at or above it."""
    total, out, before = int(y.sum()), 0.0, 0.0
    for t in sorted(set(p.tolist()), reverse=True):
        taken = p >= t
        recall = y[taken].sum() / total
        out += (recall - before) * y[taken].mean()
        before = recall
    return out


@settings(max_examples=200)
@given(rows=scored)
def test_average_precision_steps_through_each_score(rows: list[tuple[float, bool]]) -> None:
    p, y = arrays(rows)
    assert measures.average_precision(p, y) == pytest.approx(reference_average_precision(p, y))


def test_nothing_to_rank_is_said_not_guessed() -> None:
    p = np.array([0.2, 0.4])
    assert measures.auc(p, np.array([1, 1])) is None
    assert measures.average_precision(p, np.array([0, 0])) is None
    assert measures.brier(np.array([]), np.array([])) is None
    assert measures.calibration_error(np.array([]), np.array([])) is None


def test_calibration_error_is_the_gap_by_decile() -> None:
    # ten deciles of 10 rows: the score says 0.1, 0.2, ... and so many expand in each
    p = np.repeat(np.arange(1, 11) / 10, 10)
    y = np.concatenate([np.r_[np.ones(k), np.zeros(10 - k)] for k in range(1, 11)])
    assert measures.calibration_error(p, y) == pytest.approx(0.0)
    table = measures.reliability(p, y)
    assert [b.rows for b in table] == [10] * 10
    assert [b.observed for b in table] == pytest.approx(list(np.arange(1, 11) / 10))
    # every row five points too doubtful
    assert measures.calibration_error(p - 0.05, y) == pytest.approx(0.05)
    assert measures.brier(p, y) == pytest.approx(float(np.mean((p - y) ** 2)))


def test_platt_scaling_finds_the_line_the_outcomes_were_drawn_from() -> None:
    rng = np.random.default_rng(3)
    margin = rng.normal(0, 2, 40_000)
    y = (rng.random(40_000) < 1 / (1 + np.exp(-(0.6 * margin - 1.5)))).astype(float)
    a, b = platt(margin, y)
    assert a == pytest.approx(0.6, abs=0.03)
    assert b == pytest.approx(-1.5, abs=0.05)
