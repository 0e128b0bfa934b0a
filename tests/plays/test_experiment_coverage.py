"""The experiment's intervals against a known truth: 30 generated TeamFlow histories, each with
the example playbook's triggers holding out 30% and its plays replayed over the history
(:mod:`headroom.usecases.simulate`). With a planted effect, the overall 95% interval of the
uplift must cover the effect the draw really had in at least 26 of the 30; with none, at most 3
of the 30 may be significant at 5% (about 1.5 expected)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from headroom.generate import Options, generate
from headroom.playbook.model import load_playbook
from headroom.plays.experiments import experiments
from headroom.signals.registry import types
from headroom.sources import load
from headroom.store.database import Store
from headroom.usecases.simulate import simulate_holdouts

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "teamflow" / "playbook.yaml"
SEEDS = range(1, 31)


def one(folder: Path, seed: int, effect: float) -> tuple[float, float, float, float]:
    """(truth, low, high, p) of the overall row for one generated history."""
    book_file = folder / "playbook.yaml"
    folder.mkdir(parents=True)
    book_file.write_text(EXAMPLE.read_text() + "\nholdout: 30%\n")
    book = load_playbook(book_file, types())
    src_dir = folder / "src"
    options = Options(accounts=300, days=400, seed=seed)
    generate(src_dir, options)
    store = Store(f"sqlite:///{folder / 'state.sqlite'}")
    try:
        sim = simulate_holdouts(src_dir, book, store, effect, seed)
        source = load(src_dir, today=options.end + dt.timedelta(days=1))
        try:
            result = experiments(book, store.plays(), source, options.end)
        finally:
            source.close()
    finally:
        store.close()
    o = result.overall
    assert o is not None and o.uplift_low is not None and o.uplift_high is not None
    assert o.p_value is not None
    return sim.overall_uplift, o.uplift_low, o.uplift_high, o.p_value


@pytest.mark.slow
@pytest.mark.parametrize("effect", [0.2, 0.0], ids=["planted", "none"])
def test_intervals_cover_the_planted_effect_and_no_effect_is_rarely_significant(
    tmp_path: Path, effect: float
) -> None:
    runs = [one(tmp_path / f"seed{seed}", seed, effect) for seed in SEEDS]
    covered = sum(low <= truth <= high for truth, low, high, _ in runs)
    significant = sum(p < 0.05 for *_, p in runs)
    if effect:
        assert covered >= 26, runs
        assert all(truth > 0 for truth, *_ in runs)  # the effect was planted in every one
    else:
        assert all(truth == 0 for truth, *_ in runs)
        assert significant <= 3, runs
