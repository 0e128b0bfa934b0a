"""Where a report ends: at the day asked for, or where the source's data ends, never past it.

A billing export taken on 31 December says nothing of January: counted to today, every
subscription it holds would seem to end, and the months since would read as mass churn. So a
report runs to the source's last day of data unless told otherwise (its latest date, or
``data_through`` in the mapping: see :attr:`headroom.sources.Report.data_through`), and a day
or month asked for past it is refused with the fix.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from headroom.errors import UsageError
from headroom.metrics.revenue import month_start
from headroom.sources import Source


@dataclass(frozen=True)
class End:
    """The last day a report covers, and, when it was not asked for, what chose it."""

    day: dt.date
    chosen: str | None = None  # e.g. "where the data ends (its latest date)"


def data_end(source: Source) -> tuple[dt.date, str] | None:
    """The source's last day of data and what says so (None: it has no dated rows)."""
    report = source.report
    if report.data_through is None:
        return None
    why = {
        "data_through": "data_through in the source's mapping",
        "rows still running": "the day it was loaded: subscription rows are still running",
    }.get(report.data_through_from or "", "the latest date in the source")
    return dt.date.fromisoformat(report.data_through), why


def report_end(source: Source, asked: dt.date | None, option: str, today: dt.date) -> End:
    """The day a report ends: ``asked`` (a day), checked against where the data ends; else
    the data's end, or ``today`` when that comes first (or the source has no dated rows)."""
    end = data_end(source)
    if end is None:
        return End(asked or today)
    last, why = end
    if asked is not None:
        if asked > last:
            raise _past(option, str(asked), last, str(last), why)
        return End(asked)
    if last >= today:
        return End(today)
    return End(last, f"where the data ends ({why})")


def report_month(source: Source, asked: dt.date | None, option: str, today: dt.date) -> End:
    """:func:`report_end` for a month option (``asked``: its first day): a month after the one
    the data ends in is refused; none asked for ends as :func:`report_end` does."""
    end = data_end(source)
    if asked is None or end is None:
        return report_end(source, None, option, today) if asked is None else End(asked)
    last, why = end
    if asked > month_start(last):
        raise _past(option, f"{asked:%Y-%m}", last, f"{last:%Y-%m}", why)
    return End(asked)


def _past(option: str, asked: str, last: dt.date, latest: str, why: str) -> UsageError:
    """A day or month asked for past where the data ends (written as the option takes it)."""
    return UsageError(
        f"{option} {asked} is past where the data ends ({last}, {why})",
        fix=f"pass {option} {latest} or earlier, or set data_through in the source's mapping "
        "if the data runs further",
    )
