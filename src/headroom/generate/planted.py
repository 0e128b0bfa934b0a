"""What TeamFlow's planted truth lets anyone know about an account's next expansion.

A ready account expands a planted delay after its readiness moment: soon, late or never
(:data:`~headroom.generate.population.DELAY_SHARE`), the days drawn evenly. Nothing the
account does tells the delay, so the best any score can say on a day is the chance that a
ready account, so many days after its moment and not yet expanded, expands within the horizon.
A score that knew every account's hidden moment exactly, and this chance, is the ceiling of
what a score over signals can reach (``python -m benchmarks ceiling``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from headroom.generate.population import DELAY_SHARE, WAIT_LATE, WAIT_SOON

Int = np.ndarray[Any, np.dtype[np.int64]]
Float = np.ndarray[Any, np.dtype[np.float64]]


def _expanded_by(days: Int) -> Float:
    """P(wait <= days): the chance a ready account has expanded ``days`` after its moment."""
    soon, late, _ = DELAY_SHARE
    out = np.zeros(days.shape, dtype=np.float64)
    for share, (low, high) in ((soon, WAIT_SOON), (late, WAIT_LATE)):
        # waits are whole days drawn evenly from [low, high)
        out += share * np.clip(days - low + 1, 0, high - low) / (high - low)
    return out


def planted_chance(since: Int, horizon: int = 90) -> Float:
    """Per entry of ``since`` (days since the account's readiness moment; negative: before
    it), the chance it expands in the ``horizon`` days after that day, if it has not yet.

    >>> planted_chance(np.array([-200, 0, 30, 150, 240]))
    array([0.        , 0.40714286, 0.31428571, 0.54098361, 0.        ])
    """
    k = np.asarray(since, dtype=np.int64)
    waiting = 1.0 - _expanded_by(np.maximum(k, 0))  # still to expand, or never will
    ahead = _expanded_by(k + horizon) - _expanded_by(np.maximum(k, 0))
    return np.where(waiting > 0, ahead / np.where(waiting > 0, waiting, 1.0), 0.0)
