"""A hand-made source of usage whose growth is planted: regimes of steady growth that change
speed now and then, with autocorrelated noise on top. Every account is on Starter (storage_gb:
a 20 GB gauge; automation_runs: 1,000 a cycle, with a weekly pattern: busier on weekdays), so
the day each one reaches its limit follows from the numbers written, and a forecast's interval
can be held to the share of crossings it claims."""

from __future__ import annotations

import datetime as dt
import math
import random
from pathlib import Path

from tests.triggers.scenarios import Scenario

#: Weekday factors of automation runs, Monday first: a working week, a quiet weekend.
WEEK = (1.2, 1.2, 1.15, 1.1, 1.0, 0.65, 0.7)


def series(rng: random.Random, days: int, start: float, median_slope: float) -> list[float]:
    """``days`` values from ``start``: growth whose speed is redrawn every 30 to 120 days (a
    log-normal around ``median_slope`` a day, now and then falling), plus AR(1) noise."""
    out: list[float] = []
    level, noise = start, 0.0
    left = 0
    slope = 0.0
    for _ in range(days):
        if left == 0:
            left = rng.randint(30, 120)
            slope = median_slope * math.exp(rng.gauss(0, 0.7))
            if rng.random() < 0.15:
                slope = -slope / 3
        left -= 1
        level = max(0.0, level + slope)
        noise = 0.8 * noise + rng.gauss(0, 0.04 * (1 + level))
        out.append(max(0.0, level + noise))
    return out


def planted(folder: Path, *, accounts: int, first: dt.date, last: dt.date, seed: int) -> Path:
    """Write the source: ``accounts`` accounts starting on days spread over the first half of
    ``first`` to ``last``, each reporting both metrics every day to ``last``."""
    rng = random.Random(seed)
    s = Scenario(folder)
    span = (last - first).days + 1
    for i in range(accounts):
        account = f"p{i:04d}"
        begins = first + dt.timedelta(days=rng.randrange(span // 2))
        s.account(account, start=begins.isoformat())
        days = (last - begins).days + 1
        dates = [begins + dt.timedelta(days=k) for k in range(days)]
        storage = series(rng, days, rng.uniform(2, 12), 0.03)
        stored = [(d, round(v, 3)) for d, v in zip(dates, storage, strict=True)]
        s.daily(account, "storage_gb", stored)
        rate = series(rng, days, rng.uniform(4, 22), 0.05)
        runs = [round(v * WEEK[d.weekday()]) for d, v in zip(dates, rate, strict=True)]
        s.daily(account, "automation_runs", list(zip(dates, map(float, runs), strict=True)))
    return s.write()
