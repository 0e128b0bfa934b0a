"""Monthly MRR per account and its movements, as ibis expressions over all accounts.

An account's MRR on day d is the sum of ``mrr`` over its subscription rows in force that day
(DATA.md). Its MRR for a month depends on the *month convention*:

``first_day`` (the default, DATA.md)
    the MRR on the first day of the month. A period from 2022-12-14 to 2023-04-12 counts in
    January, February, March and April: it is in force on their first days.
``start_month``
    a period counts from the month it starts in through the month before the month it ends in,
    and always in its start month. The same period counts in December, January, February and
    March; a period from 2019-01-02 to 2019-01-06 counts in January. This is how many billing
    exports and the course_advanced_dbt fixtures read mid-month periods.
``any_day``
    the highest daily MRR of the month: a period counts in every month it touches, and when one
    row replaces another mid-month the month gets the larger, never the sum.

Movements (CLI.md): one row per account per month, from its first active month (MRR > 0) to
the month after its last active month, gap months included, each classified by the first rule
that matches: new, churn, reactivation, expansion, contraction, or none.
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from headroom.errors import UsageError
from headroom.metrics.options import MonthConvention as MonthConvention  # its old home

MOVEMENTS = ("new", "expansion", "reactivation", "contraction", "churn")


def account_owner(accounts: ir.Table) -> ir.Value:
    """The account's owner: its CSM, else its AE, else ``(none)`` (``--by owner``)."""
    return ibis.coalesce(accounts.csm.nullif(""), accounts.ae.nullif(""), ibis.literal("(none)"))


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def add_months(month: dt.date, n: int) -> dt.date:
    k = month.year * 12 + month.month - 1 + n
    return dt.date(k // 12, k % 12 + 1, 1)


def parse_month(value: str, option: str) -> dt.date:
    """A YYYY-MM option, as the month's first day. A day is refused, not cut to its month: a
    person who wrote one may have meant the month before or after.

    >>> parse_month("2026-03", "--start")
    datetime.date(2026, 3, 1)
    """
    if len(value) == len("YYYY-MM-DD"):
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            pass
        else:
            raise UsageError(
                f"{option} {value!r} is a day; {option} takes a month",
                fix=f"write it YYYY-MM, e.g. {option} {day:%Y-%m}",
            )
    try:
        if len(value) != len("YYYY-MM"):
            raise ValueError(value)
        return dt.date.fromisoformat(f"{value}-01")
    except ValueError:
        raise UsageError(
            f"{option} {value!r} is not a month", fix=f"write it YYYY-MM, e.g. {option} 2026-03"
        ) from None


def month_spine(first: dt.date, last: dt.date) -> ir.Table:
    """Months from ``first`` to ``last`` (both month starts, inclusive) with a running index.

    The spine is tiny (one row a month), so it is built here and shipped to the engine; the
    index turns "the next month" into integer arithmetic that every engine does the same way.
    """
    months: list[dt.date] = []
    m = month_start(first)
    while m <= last:
        months.append(m)
        m = add_months(m, 1)
    return ibis.memtable(
        {
            "month": months,
            "month_end": [add_months(x, 1) for x in months],
            "month_index": list(range(len(months))),
        },
        schema={"month": "date", "month_end": "date", "month_index": "int64"},
    )


def _first_month(subscriptions: ir.Table) -> dt.date | None:
    first = subscriptions.start_date.min().to_pyarrow().as_py()
    return None if first is None else month_start(first)


def account_month_mrr(
    subscriptions: ir.Table,
    spine: ir.Table,
    convention: MonthConvention = MonthConvention.first_day,
) -> ir.Table:
    """MRR per account and month for the months of ``spine`` where the account has any row.

    Columns: account_id, month, month_index, mrr (the sum of the rows that count that month).
    """
    s, m = subscriptions, spine
    open_end = s.end_date.isnull()
    if convention == MonthConvention.first_day:
        cond = (s.start_date <= m.month) & (open_end | (s.end_date > m.month))
    elif convention == MonthConvention.start_month:
        start_m = s.start_date.truncate("M")
        end_m = s.end_date.truncate("M")
        # A period counts at least in its start month, even if it ends within it.
        last_excl = ibis.greatest(end_m, start_m + ibis.interval(months=1))
        cond = (start_m <= m.month) & (open_end | (m.month < last_excl))
    else:
        return _peak_month_mrr(subscriptions, spine)
    joined = s.inner_join(m, cond)
    return joined.group_by(["account_id", "month", "month_index"]).aggregate(mrr=joined.mrr.sum())


def _peak_month_mrr(subscriptions: ir.Table, spine: ir.Table) -> ir.Table:
    """The highest daily MRR of each month (the any_day convention).

    Daily MRR changes only on the days rows start or end, so the peak of a month is found among
    its first day and the days rows start within it.
    """
    s, m = subscriptions, spine
    touch = s.inner_join(
        m, (s.start_date < m.month_end) & (s.end_date.isnull() | (s.end_date > m.month))
    )
    starts_inside = touch.filter(touch.start_date > touch.month).select(
        "account_id", "month", "month_index", day=touch.start_date
    )
    firsts = touch.select("account_id", "month", "month_index", day=touch.month)
    days = starts_inside.union(firsts, distinct=True)
    rows = s.select(
        s.account_id.name("r_account"),
        s.start_date.name("r_start"),
        s.end_date.name("r_end"),
        s.mrr.name("r_mrr"),
    )
    on_day = days.inner_join(
        rows,
        (days.account_id == rows.r_account)
        & (rows.r_start <= days.day)
        & (rows.r_end.isnull() | (rows.r_end > days.day)),
    )
    daily = on_day.group_by(["account_id", "month", "month_index", "day"]).aggregate(
        mrr=on_day.r_mrr.sum()
    )
    return daily.group_by(["account_id", "month", "month_index"]).aggregate(mrr=daily.mrr.max())


def mrr_movements(
    subscriptions: ir.Table,
    through: dt.date,
    convention: MonthConvention = MonthConvention.first_day,
    first: dt.date | None = None,
) -> ir.Table:
    """One row per account per month with its MRR movement, through the month of ``through``.

    Columns: account_id, month, mrr, previous_mrr, mrr_change, movement (null when none).
    ``first`` is the first month of the spine (default: the month of the earliest start_date).
    """
    through_m = month_start(through)
    first_m = first or _first_month(subscriptions) or through_m
    spine = month_spine(min(first_m, through_m), through_m)
    per_month = account_month_mrr(subscriptions, spine, convention)
    active = per_month.filter(per_month.mrr > 0)
    span = active.group_by("account_id").aggregate(
        first_index=active.month_index.min(), last_index=active.month_index.max()
    )
    # From the first active month to the month after the last one (if the spine reaches it).
    grid = span.inner_join(
        spine,
        (spine.month_index >= span.first_index) & (spine.month_index <= span.last_index + 1),
    )
    zero = ibis.literal(0).cast(per_month.mrr.type())
    amounts = per_month.select(
        per_month.account_id.name("p_account"),
        per_month.month_index.name("p_index"),
        per_month.mrr,
    )
    joined = grid.left_join(
        amounts,
        (grid.account_id == amounts.p_account) & (grid.month_index == amounts.p_index),
    )
    full = joined.select(
        "account_id",
        "month",
        "month_index",
        "first_index",
        mrr=ibis.coalesce(joined.mrr, zero),
    )
    w = ibis.window(group_by=full.account_id, order_by=full.month_index)
    with_prev = full.mutate(previous_mrr=ibis.coalesce(full.mrr.lag().over(w), zero))
    change = with_prev.mrr - with_prev.previous_mrr
    movement = ibis.cases(
        (with_prev.month_index == with_prev.first_index, "new"),
        ((with_prev.mrr <= 0) & (with_prev.previous_mrr > 0), "churn"),
        ((with_prev.mrr > 0) & (with_prev.previous_mrr <= 0), "reactivation"),
        (change > 0, "expansion"),
        (change < 0, "contraction"),
        else_=ibis.null("string"),
    )
    return with_prev.select(
        "account_id",
        "month",
        "mrr",
        "previous_mrr",
        mrr_change=change,
        movement=movement,
    )


def mrr_bridge(movements: ir.Table) -> ir.Table:
    """Per month: starting MRR, each movement's MRR, ending MRR, paying accounts, quick ratio.

    ``starting_mrr + new + expansion + reactivation - contraction - churn = ending_mrr``;
    ``quick_ratio = (new + expansion + reactivation) / (contraction + churn)``.
    """
    t = movements
    zero = ibis.literal(0).cast(t.mrr.type())

    def part(kind: str) -> ir.Value:
        return ibis.cases((t.movement == kind, t.mrr_change), else_=zero).sum()

    bridge = t.group_by("month").aggregate(
        starting_mrr=t.previous_mrr.sum(),
        new=part("new"),
        expansion=part("expansion"),
        reactivation=part("reactivation"),
        contraction=-part("contraction"),
        churn=-part("churn"),
        ending_mrr=t.mrr.sum(),
        accounts=(t.mrr > 0).sum(),
    )
    # Quick ratio: MRR gained per MRR lost; undefined in a month that lost nothing.
    gained = bridge.new + bridge.expansion + bridge.reactivation
    lost = bridge.contraction + bridge.churn
    ratio = ibis.cases((lost > 0, (gained / lost).cast("float64").round(4)), else_=None)
    return bridge.mutate(quick_ratio=ratio).order_by("month")
