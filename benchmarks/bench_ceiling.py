"""How precise can any score be on TeamFlow? The learned readiness score, the hand rules, and a
score that knows each account's hidden readiness moment, side by side on later months.

Not a speed benchmark: a measurement of what the readiness issue's acceptance asks of a score
on this data. TeamFlow plants a readiness moment in some accounts and an expansion a random
delay after it (soon, late or never; nothing in the data tells which). The *planted* score is
the best any score over signals could say on a day: the chance an account so many days after
its moment, and not yet expanded, expands in the horizon (``headroom.generate.planted``),
read from the truth file the generator writes. It is registered as a signal,
``planted_readiness``, as a user's own would be, and replayed as ``readiness`` is: one
trigger, ``planted_readiness > t``, with ``t`` set to fire as often as each hand rule and as
all of them together (``headroom score evaluate``'s comparison). The hand rules are five
triggers: one account can hold a play of each at once, where one trigger holds one.

``python -m benchmarks ceiling [ACCOUNTS]`` (default 2,000; seed 7, 730 days to 2026-09-30;
trained to 2026-01-31 and 2026-03-31, judged to the data's end). In-process, on the source
as ``headroom score evaluate`` loads it.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import ibis
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from headroom.generate import Options, generate
from headroom.generate.planted import planted_chance
from headroom.playbook.expressions import SignalType
from headroom.playbook.model import load_playbook
from headroom.readiness.evaluate import Match, activity_end, evaluate, matches
from headroom.signals.registry import Context, signal, types
from headroom.signals.steps import day_number
from headroom.sources import load

END = dt.date(2026, 9, 30)
THROUGH = (dt.date(2026, 1, 31), dt.date(2026, 3, 31))
HORIZON = 90
PLAYBOOK = Path(__file__).resolve().parents[1] / "examples" / "teamflow" / "playbook.yaml"
SIGNAL = "planted_readiness"
#: The days since a readiness moment the chance is tabled for (further: none).
REACH = 2000


def _planted(truth: Path) -> None:
    """Register ``planted_readiness``: the planted chance of each account on each day."""
    moments = pacsv.read_csv(truth).select(["account_id", "ready_on", "expanded_on"])
    since = np.arange(-REACH, REACH, dtype=np.int64)
    chances = pa.table({"since": since, "chance": planted_chance(since, HORIZON)})

    @signal(SIGNAL, SignalType.number, "the planted chance of expanding (TeamFlow's truth)")
    def planted(ctx: Context) -> ir.Table:
        g = ctx.grid()
        m = ctx.source.small_table("bench_planted_moments", ibis.memtable(moments))
        m = m.select(_account="account_id", _ready="ready_on", _expanded="expanded_on")
        j = g.left_join(m, g.account_id == m._account)
        since = day_number(j.day) - day_number(j._ready)
        # expanded by the day: it has done what the chance is about (no look-ahead: the past)
        done = j._expanded.notnull() & (j._expanded <= j.day)
        j = j.mutate(since=ibis.ifelse(done, ibis.null("int64"), since))
        c = ctx.source.small_table("bench_planted_chances", ibis.memtable(chances))
        c = c.select(_since="since", chance="chance")
        k = j.left_join(c, j.since == c._since)
        return k.select("account_id", "day", **{SIGNAL: k.chance.fill_null(0.0)})


def _row(fired: int, precision: float | None, ratio: float | None) -> str:
    """A score's firings, precision and ratio to the rule's (``Match.ratio``)."""
    times = f"{ratio:.2f}x" if ratio is not None else "-"
    return f"{fired:>5,} {_pct(precision):>6} {times:>6}"


def main(accounts: int = 2000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "teamflow"
        generate(folder, Options(accounts=accounts, seed=7, end=END, days=730, parquet=True))
        _planted(folder / "truth" / "readiness.csv")
        source = load(folder)
        book = load_playbook(PLAYBOOK, types())
        end = activity_end(source, END)
        print(f"ceiling: TeamFlow, {accounts:,} accounts, seed 7, judged to {end}")
        for through in THROUGH:
            learned = evaluate(source, through, end, HORIZON, book)
            first, last = through + dt.timedelta(days=1), end - dt.timedelta(days=HORIZON)
            best = {m.trigger: m for m in matches(source, book, first, last, HORIZON, SIGNAL)}
            print(f"  trained to {through}, judged {first} to {last}")
            print(f"  {'rule':<30} {'fired':>5} {'prec.':>6} | {'readiness':>24} | "
                  f"{'planted (ceiling)':>24}")  # fmt: skip
            for m in learned.matches:
                b: Match = best[m.trigger]
                print(
                    f"  {m.trigger:<30} {m.fired:>5,} {_pct(m.precision):>6} | "
                    f"{_row(m.readiness_fired, m.readiness_precision, m.ratio):>24} | "
                    f"{_row(b.readiness_fired, b.readiness_precision, b.ratio):>24}"
                )


def _pct(value: float | None) -> str:
    return f"{value:.1%}" if value is not None else "-"


if __name__ == "__main__":
    import sys

    main(*(int(a) for a in sys.argv[1:]))
