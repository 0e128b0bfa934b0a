"""The contract's rules across rows and tables, checked after each table's own: a
subscription's dates in order, one account's periods not overlapping, usage only while an
account has a subscription, and every account with one.

Each is an ibis expression over whole tables, reported through the :class:`Validator`.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from headroom.sources.billing import LARGEST_AMOUNT, exclusive_end, one_off
from headroom.sources.cells import FAR_FUTURE, parsed, quote
from headroom.sources.currency import currencies, rate_on_start
from headroom.sources.readers import LINE, PART
from headroom.sources.report import Example, Problem
from headroom.sources.schema import TABLES
from headroom.sources.stored import typed
from headroom.sources.validate import UNIT, RowCheck, Validator, plural


def _end(v: Validator, t: ir.Table) -> ir.DateValue:
    """Each subscription row's first day out (empty: still running), whatever the export's
    convention (see :mod:`headroom.sources.billing`)."""
    if "end_date" not in t.columns:
        return ibis.null("date")
    return exclusive_end(parsed(TABLES["subscriptions"].column("end_date"), t.end_date), v.billing)


def _paying(v: Validator, t: ir.Table) -> ir.BooleanValue:
    """The rows that pay for a period (per-period sources: not one-off charges)."""
    if "end_date" not in t.columns:
        return ibis.literal(not v.billing.per_period)
    spec = TABLES["subscriptions"]
    start = parsed(spec.column("start_date"), t.start_date)
    return ~one_off(start, parsed(spec.column("end_date"), t.end_date), v.billing)


def subscription_checks(v: Validator) -> None:
    if "subscriptions" not in v.tables:
        return
    spec = TABLES["subscriptions"]
    t = v.tables["subscriptions"]
    start = parsed(spec.column("start_date"), t.start_date)
    if "end_date" not in t.columns:
        if v.billing.per_period:
            v.run_checks("subscriptions", [_one_offs(t.start_date.notnull())])
        return
    end = parsed(spec.column("end_date"), t.end_date)
    inclusive = v.billing.inclusive_end
    checks = [
        RowCheck(
            "end_before_start",
            "end_date",
            end < start,
            lambda r: (
                f"{quote(r['end_date'])} is before start_date {quote(r['start_date'])}; "
                + (
                    "end_date is the period's last day (end: inclusive), on or after start_date"
                    if inclusive
                    else "end_date is the first day the period is no longer in force, "
                    "after start_date"
                )
            ),
            fields=("start_date",),
        )
    ]
    if v.billing.per_period:
        checks.append(_one_offs(one_off(start, end, v.billing)))
        amount = parsed(spec.column("mrr"), t.mrr)
        checks.append(
            RowCheck(
                "amount_out_of_range",
                "mrr",
                amount.abs() > LARGEST_AMOUNT,
                lambda r: (
                    f"{quote(r['mrr'])} is larger than any invoice line headroom spreads "
                    f"(at most {LARGEST_AMOUNT:,} either way); check the export's amount column"
                ),
            )
        )
    elif not inclusive:  # written inclusively, a period ending as it starts is one day long
        checks.append(
            RowCheck(
                "empty_period",
                "end_date",
                end == start,
                lambda r: (
                    f"{quote(r['end_date'])} equals start_date, so the period is in force on "
                    "no day; it adds no MRR"
                ),
                severity="warning",
                summary=lambda n: plural(
                    n,
                    "subscription row ends on the day it starts",
                    "subscription rows end on the day they start",
                ),
                hint="end_date is exclusive: a one-day period ends the day after it starts",
            )
        )
    v.run_checks("subscriptions", checks)


def _one_offs(bad: ir.BooleanValue) -> RowCheck:
    return RowCheck(
        "one_off_charge",
        "mrr",
        bad,
        lambda r: (
            f"{quote(r['mrr'])} on {r['start_date']} pays for no period (no end_date, or one "
            "ending the day it starts): a one-off charge, left out of MRR"
        ),
        severity="warning",
        fields=("start_date",),
        summary=lambda n: plural(
            n,
            "row is a one-off charge (no billing period), left out of MRR",
            "rows are one-off charges (no billing period), left out of MRR",
        ),
        hint="MRR counts recurring amounts only; these rows are listed here, not lost",
    )


def inclusive_end_gaps(v: Validator) -> None:
    """Rows that start the day after the account's earlier rows all ended: one day in which the
    account paid nothing. Once is a lapse; as a pattern it is the mark of an export that writes
    the period's last day as its end (``end: inclusive``), read here as a churn every month."""
    if "subscriptions" not in v.tables or v.billing.inclusive_end:
        return
    t = v.tables["subscriptions"]
    if "end_date" not in t.columns:
        return
    spec = TABLES["subscriptions"]
    rows = t.mutate(
        _start=parsed(spec.column("start_date"), t.start_date),
        _end=_end(v, t).fill_null(FAR_FUTURE),
    ).filter(_paying(v, t))
    rows = rows.filter(rows._start.notnull() & rows._end.notnull())
    order = {"group_by": "account_id", "order_by": ["_start", LINE]}
    so_far = rows.mutate(_so_far=rows._end.max().over(ibis.window(**order, following=0)))
    # the latest end of the rows before this one
    before = so_far.mutate(_before=so_far._so_far.lag().over(ibis.window(**order)))
    gaps = before.filter(before._start == before._before + ibis.interval(days=1))
    gaps = gaps.select(
        "subscription_id", "account_id", "start_date", LINE,
        *([PART] if PART in gaps.columns else []), _ended=gaps._before,
    )  # fmt: skip
    v.run_checks(
        "subscriptions",
        [
            RowCheck(
                "one_day_gap",
                "start_date",
                None,
                lambda r: (
                    f"{quote(r['start_date'])}: the rows of account {quote(r['account_id'])} "
                    f"before it ended on {r['_ended']}, so it paid nothing on the day between"
                ),
                severity="warning",
                fields=("account_id", "_ended"),
                summary=lambda n: plural(
                    n,
                    "subscription row starts one day after the account's rows before it end",
                    "subscription rows start one day after the account's rows before them end",
                ),
                hint=(
                    "the mark of end dates written inclusively (the period's last day): if "
                    "your export writes them so, add end: inclusive under tables: "
                    "subscriptions in the source's mapping; otherwise each is a one-day lapse"
                ),
            )
        ],
        base=gaps,
    )


def overlap_checks(v: Validator) -> None:
    # Invoices of one account overlap by nature (line items, a plan change mid-period with its
    # credit note): their amounts are summed, as the mapping says.
    if "subscriptions" not in v.tables or v.billing.per_period:
        return
    spec = TABLES["subscriptions"]
    t = v.tables["subscriptions"]
    # Without an end_date column every row runs on: they all overlap one another.
    end = _end(v, t).fill_null(FAR_FUTURE)
    periods = t.select(
        t.account_id,
        t.subscription_id,
        t[LINE],
        _start=parsed(spec.column("start_date"), t.start_date),
        _end=end,
    ).filter(ibis._["_start"].notnull() & (ibis._["_end"] > ibis._["_start"]))
    a = periods
    b = periods.view()
    pairs = a.join(
        b,
        [
            a.account_id == b.account_id,
            a[LINE] < b[LINE],
            a._start < b._end,
            b._start < a._end,
        ],
    ).select(
        account_id=a.account_id,
        subscription_id=b.subscription_id,
        _line=b[LINE],
        _other=a.subscription_id,
        _other_line=a[LINE],
    )

    def accounts() -> int:  # asked only when some pair overlaps
        return int(pairs.account_id.nunique().to_pyarrow().as_py())

    v.run_checks(
        "subscriptions",
        [
            RowCheck(
                "overlapping_subscriptions",
                "subscription_id",
                None,
                lambda r: (
                    f"subscription {quote(r['subscription_id'])} of account "
                    f"{quote(r['account_id'])} overlaps subscription "
                    f"{quote(r['_other'])} of {r[UNIT]} "
                    f"{r['_other_line']}; their MRR is summed while both run"
                ),
                severity="warning",
                fields=("account_id", "_other_line", "_other"),
                summary=lambda n: (
                    plural(
                        n,
                        "pair of subscription rows overlaps",
                        "pairs of subscription rows overlap",
                    )
                    + ", in "
                    + plural(accounts(), "account", "accounts")
                ),
                hint=(
                    "when a new row replaces an old one (an upgrade, a renewal), end the old "
                    "row on the new row's start_date; rows that really run side by side "
                    "(add-ons) can stay"
                ),
            )
        ],
        base=pairs,
    )


def usage_outside_checks(v: Validator) -> None:
    if "usage_daily" not in v.tables or "subscriptions" not in v.tables:
        return
    subs = v.tables["subscriptions"]
    sspec = TABLES["subscriptions"]
    periods = subs.filter(_paying(v, subs)).select(
        _acc=subs.account_id,
        _start=parsed(sspec.column("start_date"), subs.start_date),
        _end=_end(v, subs).fill_null(FAR_FUTURE),
    )
    u = v.tables["usage_daily"]
    day = parsed(TABLES["usage_daily"].column("date"), u.date)
    usage = u.mutate(_day=day).filter(ibis._["_day"].notnull())
    # one anti join, its range conditions checked beside the account match
    outside = usage.anti_join(
        periods,
        [
            usage.account_id == periods._acc,
            usage._day >= periods._start,
            usage._day < periods._end,
        ],
    )
    if "accounts" in v.tables:  # unknown accounts are reported on their own
        known = v.tables["accounts"].select(_a=v.tables["accounts"].account_id)
        outside = outside.semi_join(known, outside.account_id == known._a)
    outside = outside.select(
        "account_id", "date", "metric", LINE, *([PART] if PART in outside.columns else [])
    )
    total = v.totals.get("usage_daily", v.raw["usage_daily"].rows)
    v.run_checks(
        "usage_daily",
        [
            RowCheck(
                "usage_outside_subscription",
                None,
                None,
                lambda r: (
                    f"account {quote(r['account_id'])}, {r['metric']} on {r['date']}: "
                    "no subscription of this account is in force that day"
                ),
                severity="warning",
                fields=("account_id", "date", "metric"),
                summary=lambda n: (
                    f"{n:,} of {plural(total, 'usage row', 'usage rows')} "
                    f"({n / max(total, 1):.0%}) {'falls' if n == 1 else 'fall'} outside "
                    "every subscription period of their account"
                ),
                hint=(
                    "usage outside paid periods is kept for signals but earns no MRR; if the "
                    "account was paying then, fix the subscription dates"
                ),
            )
        ],
        base=outside,
    )


def accounts_without_subscriptions(v: Validator) -> None:
    if "accounts" not in v.tables or "subscriptions" not in v.tables:
        return
    a = v.tables["accounts"]
    s = v.tables["subscriptions"].select(_acc=v.tables["subscriptions"].account_id)
    lonely = a.anti_join(s, a.account_id == s._acc)
    v.run_checks(
        "accounts",
        [
            RowCheck(
                "account_without_subscription",
                "account_id",
                None,
                lambda r: f"{quote(r['account_id'])} has no subscription rows",
                severity="warning",
                summary=lambda n: (
                    plural(n, "account has", "accounts have") + " no subscription rows"
                ),
                hint=("prospects and trials without a priced period earn no MRR; that may be fine"),
            )
        ],
        base=lonely.filter(lonely.account_id != ""),
    )


def currency_checks(v: Validator) -> None:
    """Subscriptions in several currencies need rates and a reporting currency, and every row
    outside it a rate in force on the day its period starts (see
    :mod:`headroom.sources.currency`)."""
    if "subscriptions" not in v.tables:
        return
    t = v.tables["subscriptions"]
    named = currencies(t)
    if "exchange_rates" in v.tables:  # what the rows are stored in (see stored_table)
        v.reporting_currency = v.currency or (named[0] if named else None)
    if not named or (len(named) == 1 and v.currency in (None, named[0])):
        return
    raw = v.raw["subscriptions"]
    listed = ", ".join(named)

    def refuse(message: str, fix: str) -> None:
        example = Example("", None, message)
        v.report.add(Problem("error", "currencies", "subscriptions", raw.label, None, 1,
                             [example], hint=fix))  # fmt: skip

    if "exchange_rates" not in v.tables:
        refuse(
            f"subscriptions hold amounts in {len(named)} currencies ({listed}) and the source "
            "has no exchange rates to convert them with",
            "add an exchange_rates table (currency, date, rate: the reporting currency per "
            "unit, from that day) and name the reporting currency at the top of the source's "
            "mapping (currency: USD), or export the amounts in one currency",
        )
        return
    if v.currency is None:
        refuse(
            f"subscriptions hold amounts in {len(named)} currencies ({listed}) and the source's "
            "mapping does not say which to report in",
            f"add currency: {named[0]} (or another) at the top of the source's mapping",
        )
        return
    spec = TABLES["subscriptions"]
    start = parsed(spec.column("start_date"), t.start_date)
    rates = typed("exchange_rates", v.tables["exchange_rates"])
    rated = rate_on_start(t, rates.filter(rates.date.notnull()), v.currency, start)
    reporting = v.currency
    v.run_checks(
        "subscriptions",
        [
            RowCheck(
                "no_exchange_rate",
                "currency",
                None,
                lambda r: (
                    f"{quote(r['currency'])} on {r['start_date']}: no exchange rate of it "
                    f"into {reporting} is in force that day"
                ),
                fields=("start_date",),
                hint=(
                    "add a rate for this currency dated on or before the period's start to "
                    "exchange_rates"
                ),
            )
        ],
        base=rated.filter(rated._rate.isnull() & start.notnull()),
    )
