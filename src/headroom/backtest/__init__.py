"""Backtests: replay a playbook over history with no look-ahead, and score what it fired.

>>> from headroom.backtest import backtest  # doctest: +SKIP
>>> result = backtest(source, playbook, start, end, horizon=90)  # doctest: +SKIP
>>> [(s.trigger, s.lift) for s in result.triggers]  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt

from headroom.backtest.accuracy import ALL, Backtest, Score, score
from headroom.backtest.replay import Replay, Replayer
from headroom.playbook.model import Playbook
from headroom.sources import Source

# The replay function stays in its module: exported here, its name would hide the module.
__all__ = ["ALL", "Backtest", "Replay", "Replayer", "Score", "backtest"]


def backtest(
    source: Source, playbook: Playbook, start: dt.date, end: dt.date, horizon: int
) -> Backtest:
    """Replay ``playbook`` on every day from ``start`` to ``end`` and score its firings against
    the expansions that followed within ``horizon`` days."""
    with Replayer(source, playbook, start, end, horizon) as replayer:
        return score(source, replayer.replay())
