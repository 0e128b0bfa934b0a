"""How good a probability is: ranking (AUC, average precision) and calibration (Brier score,
reliability by decile, calibration error), on plain arrays.

>>> import numpy as np
>>> auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]))
0.75
>>> average_precision(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]))
0.8333333333333333
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

#: Rows per reliability bin: deciles of the score (equal counts: with most scores near the
#: base rate, equal-width bins would put nearly every row in the first and hide a miss).
BINS = 10


def auc(p: np.ndarray, y: np.ndarray) -> float | None:
    """The chance a random positive scores above a random negative (ties count half): the
    Mann-Whitney statistic over its maximum."""
    pos = int(y.sum())
    neg = len(y) - pos
    if pos == 0 or neg == 0:
        return None
    ranks = rankdata(p)
    return float((ranks[y == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def average_precision(p: np.ndarray, y: np.ndarray) -> float | None:
    """The mean of the precision at each positive, rows taken by falling score (tied scores
    taken together, as one threshold)."""
    pos = int(y.sum())
    if pos == 0:
        return None
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order]
    hits = np.cumsum(ys)
    seen = np.arange(1, len(ys) + 1)
    # at a tie, every row of it is taken at once: the precision at the tie's last row
    last = np.r_[ps[1:] != ps[:-1], True]
    idx = np.flatnonzero(last)
    prec = hits[idx] / seen[idx]
    gained = np.diff(np.r_[0, hits[idx]])
    return float((prec * gained).sum() / pos)


def brier(p: np.ndarray, y: np.ndarray) -> float | None:
    """The mean squared gap between the probability and what happened."""
    return float(np.mean((p - y) ** 2)) if len(y) else None


@dataclass(frozen=True)
class Bin:
    """One decile of the score: how many rows, the mean score, the share that expanded."""

    rows: int
    low: float
    high: float
    predicted: float
    observed: float


def reliability(p: np.ndarray, y: np.ndarray, bins: int = BINS) -> list[Bin]:
    """The rows by score decile: predicted against observed."""
    if len(p) == 0:
        return []
    order = np.argsort(p, kind="stable")
    out: list[Bin] = []
    for part in np.array_split(order, min(bins, len(p))):
        if len(part) == 0:
            continue
        ps, ys = p[part], y[part]
        out.append(
            Bin(len(part), float(ps.min()), float(ps.max()), float(ps.mean()), float(ys.mean()))
        )
    return out


def calibration_error(p: np.ndarray, y: np.ndarray, bins: int = BINS) -> float | None:
    """The expected calibration error: the rows-weighted mean gap between predicted and
    observed over the deciles of :func:`reliability`."""
    table = reliability(p, y, bins)
    if not table:
        return None
    n = sum(b.rows for b in table)
    return float(sum(b.rows * abs(b.predicted - b.observed) for b in table) / n)
