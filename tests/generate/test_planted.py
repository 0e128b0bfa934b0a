"""The planted chance: what TeamFlow's truth lets a score know, checked by hand and against the
generator's own draws."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from headroom.generate import Options
from headroom.generate.planted import planted_chance
from headroom.generate.population import NEVER, population


def test_the_chance_by_hand() -> None:
    # on the moment: every soon wait (3-30 days) and 60 of the 210 late ones (31-90)
    assert planted_chance(np.array([0]))[0] == 0.25 + 0.55 * 60 / 210
    # 150 days on: the late waits of 151-240 days, of what is still waiting (late or never)
    waiting = 0.55 * 90 / 210 + 0.20
    assert abs(planted_chance(np.array([150]))[0] - 0.55 * 90 / 210 / waiting) < 1e-12
    # past the longest wait, or a horizon and more before the moment: nothing
    assert planted_chance(np.array([240, 500, -91])).tolist() == [0.0, 0.0, 0.0]
    # a shorter horizon: only the soon waits fit in 30 days of the moment
    assert abs(planted_chance(np.array([0]), horizon=30)[0] - 0.25) < 1e-12


@given(st.lists(st.integers(-1000, 1000), min_size=1, max_size=50), st.integers(1, 400))
def test_the_chance_is_a_probability_that_grows_with_the_horizon(
    since: list[int], horizon: int
) -> None:
    k = np.array(since, dtype=np.int64)
    p = planted_chance(k, horizon)
    assert ((p >= 0) & (p <= 1 + 1e-12)).all()
    assert (planted_chance(k, horizon + 1) >= p - 1e-12).all()


def test_the_chance_is_what_the_generator_draws() -> None:
    pop = population(Options(accounts=20_000, days=730, seed=3))
    # ready accounts that neither churn nor run out of data before their longest wait
    seen = (pop.ready < NEVER) & (pop.churn == NEVER) & (pop.ready + 241 < 730)
    wait = np.where(pop.expand < NEVER, pop.expand - pop.ready, NEVER)[seen]
    assert len(wait) > 2000
    for k in (0, 30, 100, 170):
        still = wait > k
        share = float(((wait[still] > k) & (wait[still] <= k + 90)).mean())
        expected = float(planted_chance(np.array([k]))[0])
        se = (expected * (1 - expected) / int(still.sum())) ** 0.5
        assert abs(share - expected) < 4 * se, (k, share, expected)
