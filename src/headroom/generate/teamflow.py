"""TeamFlow: a synthetic project-management SaaS whose expansion history has a known cause.

Every account gets a hidden *readiness moment* (or none), planted through one driver: seats
filling up, interest in a gated integration, a growing core of power users, or metered usage
climbing towards its plan limit. The account expands (a new subscription row with more seats or a
higher tier) after a realistic delay: some soon, many late, some never. Other accounts carry
noise that looks like a signal but leads nowhere, and a few expand for no visible reason. The
planted truth is written to ``truth/readiness.csv`` beside the source, so that backtests can be
scored against it. ``docs/generator.md`` describes every planted effect.

All randomness flows from the seed: account attributes from one generator, each chunk of
accounts' daily data from a generator keyed on (seed, chunk), so the files are the same for the
same seed and options. Daily data is computed as (account, day) matrices, a chunk at a time.
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from headroom.errors import UsageError
from headroom.generate.options import Options, Summary
from headroom.generate.population import (
    AES,
    CHUNK,
    CSMS,
    D_FEATURE,
    D_POWER,
    D_SEATS,
    D_USAGE,
    DELAYS,
    DRIVERS,
    FEATURES,
    HEALTH,
    INTEGRATIONS,
    KINDS,
    LIMITS,
    N_INTEREST,
    N_SPIKE,
    NAME_A,
    NAME_B,
    NAME_C,
    NEVER,
    NOISES,
    SEAT_PRICE,
    SEGMENTS,
    TIERS,
    TIMEZONES,
    WANTED_FEATURE,
    Bool,
    Float,
    Int,
    population,
)


class _Sink:
    """One output table, written a batch at a time as CSV or Parquet."""

    def __init__(self, path: Path, schema: pa.Schema, parquet: bool) -> None:
        self.path = path
        self.rows = 0
        self.schema = schema
        self._writer: Any
        if parquet:
            self._writer = pq.ParquetWriter(path.with_suffix(".parquet"), schema)
        else:
            options = pacsv.WriteOptions(quoting_style="needed")
            self._writer = pacsv.CSVWriter(path.with_suffix(".csv"), schema, write_options=options)

    def write(self, columns: dict[str, Any]) -> None:
        table = pa.table(columns, schema=self.schema)
        self.rows += table.num_rows
        if table.num_rows:
            self._writer.write_table(table)

    def close(self) -> None:
        self._writer.close()


def _dates(start: dt.date, days: Int) -> pa.Array:
    epoch = (start - dt.date(1970, 1, 1)).days
    return pa.array((days + epoch).astype(np.int32), pa.date32())


def _date_or_null(start: dt.date, days: Int, valid: Bool) -> pa.Array:
    epoch = (start - dt.date(1970, 1, 1)).days
    return pa.array((days + epoch).astype(np.int32), pa.date32(), mask=~valid)


def _strings(values: tuple[str, ...], index: Int) -> pa.Array:
    return pa.array(values, pa.string()).take(pa.array(index))


def _utc_offsets(start: dt.date, days: int) -> Int:
    """Seconds east of UTC at local noon, per timezone and day (DST-aware)."""
    out = np.zeros((len(TIMEZONES), days), np.int64)
    for z, (name, _) in enumerate(TIMEZONES):
        zone = zoneinfo.ZoneInfo(name)
        for t in range(days):
            noon = dt.datetime.combine(start + dt.timedelta(days=t), dt.time(12), tzinfo=zone)
            offset = noon.utcoffset()
            out[z, t] = int(offset.total_seconds()) if offset else 0
    return out


class _Generator:
    def __init__(self, o: Options, out: Path) -> None:
        self.o = o
        self.out = out
        self.start = o.end - dt.timedelta(days=o.days - 1)
        self.pop = population(o)
        self.offsets = _utc_offsets(self.start, o.days)
        epoch = (self.start - dt.date(1970, 1, 1)).days
        self.weekday = (np.arange(o.days) + epoch + 3) % 7  # 0 = Monday (1970-01-01 a Thursday)
        self.event_seq = 0
        dates = (self.start + dt.timedelta(days=d) for d in range(o.days))
        self.month_starts = np.array([i for i, d in enumerate(dates) if d.day == 1], np.int64)

    # -- account-level tables ---------------------------------------------------------------

    def plans(self, sinks: dict[str, _Sink]) -> None:
        sinks["plans"].write(
            {
                "plan": list(TIERS),
                "rank": [1, 2, 3, 4],
                "seat_price": pa.array(SEAT_PRICE).cast(pa.decimal128(12, 2)),
            }
        )
        metrics = [m for m in LIMITS for _ in TIERS]
        sinks["plan_limits"].write(
            {
                "plan": [t for _ in LIMITS for t in TIERS],
                "metric": metrics,
                "limit": [float(v) for m in LIMITS for v in LIMITS[m][1]],
                "kind": [LIMITS[m][0] for m in metrics],
            }
        )
        sinks["plan_features"].write(
            {
                "plan": [TIERS[t] for t in range(4) for _, lo in FEATURES if lo <= t],
                "feature": [f for t in range(4) for f, lo in FEATURES if lo <= t],
            }
        )

    def accounts(self, sinks: dict[str, _Sink]) -> None:
        p = self.pop
        rng = np.random.default_rng([self.o.seed, 1])
        names = pc.binary_join_element_wise(
            pc.binary_join_element_wise(
                _strings(NAME_A, rng.integers(0, len(NAME_A), p.n)),
                _strings(NAME_B, rng.integers(0, len(NAME_B), p.n)),
                "",
            ),
            _strings(NAME_C, rng.integers(0, len(NAME_C), p.n)),
            " ",
        )
        has_csm = (p.segment > 0) | (rng.random(p.n) < 0.3)
        has_ae = (p.segment == 2) | ((p.segment == 1) & (p.seats0 >= 60))
        csm = _strings(CSMS, rng.integers(0, len(CSMS), p.n))
        ae = _strings(AES, rng.integers(0, len(AES), p.n))
        onboarded_ok = (p.onboarded < NEVER) & (p.onboarded < self.o.days)
        sinks["accounts"].write(
            {
                "account_id": p.ids,
                "name": names,
                "segment": _strings(SEGMENTS, p.segment),
                "timezone": _strings(tuple(z for z, _ in TIMEZONES), p.tz),
                "csm": pc.if_else(pa.array(has_csm), csm, pa.scalar(None, pa.string())),
                "ae": pc.if_else(pa.array(has_ae), ae, pa.scalar(None, pa.string())),
                "onboarded_on": _date_or_null(self.start, p.onboarded, onboarded_ok),
                "health": _strings(HEALTH, p.health),
            }
        )

    def subscriptions(self, sinks: dict[str, _Sink]) -> None:
        """Priced periods: split at expansions, contractions, annual renewals and churn."""
        p, days = self.pop, self.o.days
        # Breakpoints per account: signup, changes, up to four renewals, churn.
        years = np.arange(1, 5)
        renewals = p.signup[:, None] + np.round(years * 365.25).astype(np.int64)[None, :]
        renewals = np.where(p.annual[:, None], renewals, NEVER)
        end = np.minimum(p.churn, NEVER)
        points = np.column_stack([p.signup, p.expand, p.contract_day, renewals, end])
        points = np.where(points > end[:, None], NEVER, points)
        points = np.sort(points, axis=1)
        starts, ends = points[:, :-1], points[:, 1:]
        keep = (starts < ends) & (starts < end[:, None]) & (starts < days)
        acc, col = np.nonzero(keep)
        s, e = starts[acc, col], ends[acc, col]
        expanded = s >= p.expand[acc]
        contracted = s >= p.contract_day[acc]
        tier = np.where(expanded, p.tier1[acc], p.tier0[acc])
        seats = np.where(expanded, p.seats1[acc], p.seats0[acc])
        seats = np.where(contracted, np.maximum(1, np.round(seats * 0.8)), seats).astype(np.int64)
        discount = np.where(p.segment[acc] == 2, 0.85, 1.0)
        mrr = np.round(seats * np.take(SEAT_PRICE, tier) * discount, 2)
        # Win-backs: one monthly row at the first plan and seats, from the return on.
        back = np.nonzero(p.winback < NEVER)[0]
        acc = np.concatenate([acc, back])
        s = np.concatenate([s, p.winback[back]])
        e = np.concatenate([e, np.full(len(back), NEVER)])
        tier = np.concatenate([tier, p.tier0[back]])
        seats = np.concatenate([seats, p.seats0[back]])
        back_mrr = p.seats0[back] * np.take(SEAT_PRICE, p.tier0[back])
        mrr = np.concatenate([mrr, np.round(back_mrr * np.where(p.segment[back] == 2, 0.85, 1), 2)])
        annual = np.concatenate([p.annual[acc[: len(acc) - len(back)]], np.zeros(len(back), bool)])
        order = np.lexsort((s, acc))
        acc, s, e, tier, seats, mrr = (x[order] for x in (acc, s, e, tier, seats, mrr))
        annual = annual[order]
        open_ended = e >= days  # running at the end of the data: no end date yet
        # The contract's next renewal: the next anniversary after the row starts (annual only).
        k = np.floor((s - p.signup[acc]) / 365.25).astype(np.int64) + 1
        renews = p.signup[acc] + np.round(k * 365.25).astype(np.int64)
        renews = np.where(renews <= s, p.signup[acc] + np.round((k + 1) * 365.25), renews)
        renews = renews.astype(np.int64)
        seq = np.arange(1, len(acc) + 1)
        sinks["subscriptions"].write(
            {
                "subscription_id": pc.binary_join_element_wise(
                    "sub_", pa.array(seq).cast(pa.string()), ""
                ),
                "account_id": p.ids.take(pa.array(acc)),
                "start_date": _dates(self.start, s),
                "end_date": _date_or_null(self.start, e, ~open_ended),
                "mrr": pa.array(mrr).cast(pa.decimal128(12, 2)),
                "plan": _strings(TIERS, tier),
                "seats": pa.array(seats),
                "renews_on": _date_or_null(self.start, renews, annual),
            }
        )

    def outcomes(self, sinks: dict[str, _Sink]) -> None:
        """CRM history: some expansions logged as won; some ready accounts that declined."""
        p, days = self.pop, self.o.days
        rng = np.random.default_rng([self.o.seed, 2])
        won = (p.expand < NEVER) & (p.driver > 0) & (rng.random(p.n) < 0.35)
        said_no = (p.delay == 3) & (rng.random(p.n) < 0.3)
        no_day = p.ready + rng.integers(10, 60, p.n)
        said_no &= no_day < np.minimum(p.churn, days)
        contacted = (p.ready < NEVER) & (rng.random(p.n) < 0.2)
        c_day = p.ready + rng.integers(2, 20, p.n)
        contacted &= c_day < np.minimum(np.minimum(p.churn, days), p.expand)
        acc = np.concatenate([np.nonzero(m)[0] for m in (contacted, won, said_no)])
        day = np.concatenate([c_day[contacted], p.expand[won], no_day[said_no]])
        outcome = np.concatenate(
            [
                np.zeros(int(contacted.sum()), np.int64),
                np.ones(int(won.sum()), np.int64),
                np.where(rng.random(int(said_no.sum())) < 0.6, 3, 2),
            ]
        )
        delta = (p.seats1 - p.seats0) * np.take(SEAT_PRICE, p.tier1) + p.seats0 * (
            np.take(SEAT_PRICE, p.tier1) - np.take(SEAT_PRICE, p.tier0)
        )
        amount = np.where(outcome == 1, delta[acc], 0.0)
        answered = (
            "",
            "seat_expansion_proactive",
            "tier_upgrade_feature_interest",
            "tier_upgrade_usage",
            "usage_ceiling",
        )
        order = np.lexsort((acc, day))
        acc, day, outcome, amount = acc[order], day[order], outcome[order], amount[order]
        sinks["outcomes"].write(
            {
                "account_id": p.ids.take(pa.array(acc)),
                "date": _dates(self.start, day),
                "outcome": _strings(("contacted", "won", "lost", "declined"), outcome),
                "trigger": _strings(answered, p.driver[acc]),
                "amount_mrr": pa.array(amount, mask=outcome != 1).cast(pa.decimal128(12, 2)),
            }
        )

    # -- daily tables, a chunk of accounts at a time -----------------------------------------

    def chunk(self, lo: int, hi: int, sinks: dict[str, _Sink]) -> None:
        p, days = self.pop, self.o.days
        rng = np.random.default_rng([self.o.seed, 100 + lo // CHUNK])
        sl = slice(lo, hi)
        n = hi - lo
        t = np.arange(days)[None, :]

        def col(a: Any) -> Any:  # one account attribute as a column against the day axis
            return a[sl][:, None]

        alive = ((t >= col(p.signup)) & (t < col(p.churn))) | (t >= col(p.winback))
        expanded = t >= col(p.expand)
        tier = np.where(expanded, col(p.tier1), col(p.tier0))
        seats = np.where(expanded, col(p.seats1), col(p.seats0)).astype(np.float64)
        seats = np.where(t >= col(p.contract_day), np.maximum(1, np.round(seats * 0.8)), seats)
        back = t >= col(p.winback)  # a returning account starts again on its first plan
        tier = np.where(back, col(p.tier0), tier)
        seats = np.where(back, col(p.seats0), seats)
        tenure = t - col(p.signup)

        # Seat demand as a share of the starting seats: a base level with drift, an onboarding
        # ramp, and for the seat driver a climb that crosses 86% on the readiness day.
        base = col(p.base_util) + col(p.drift) * tenure
        onboarding = np.clip(0.4 + 0.6 * tenure / 30.0, 0.4, 1.0)
        seat_driver = col(p.driver) == D_SEATS
        ready = col(p.ready)
        ramp = col(p.ramp)
        at_ready = col(p.base_util) + col(p.drift) * (ready - col(p.signup))
        slope = (0.86 - at_ready) / ramp
        # The climb stops once the account has bought seats; without them demand tops out.
        climbed = np.clip(np.minimum(t, col(p.expand)) - (ready - ramp), 0, None)
        climb = np.where(seat_driver, slope * climbed, 0.0)
        demand = np.minimum(base * onboarding + climb, 1.15)
        spike = (col(p.noise) == N_SPIKE) & (t >= col(p.noise_day))
        spike &= t < col(p.noise_day) + 2 + (np.arange(lo, hi)[:, None] % 4)
        demand = demand + np.where(spike, 0.3, 0.0)
        people = demand * col(p.seats0) * (1 + rng.normal(0, 0.012, (n, days)))
        active = np.clip(np.round(np.minimum(people, seats)), 0, None)
        blocked = people > seats + 0.5

        # Power users: a small share of actives; the power-user driver grows a core of 3+.
        power_driver = col(p.driver) == D_POWER
        power = rng.poisson(np.clip(0.02 * active, 0, None)).astype(np.float64)
        power = np.where(power_driver & (t < ready), np.minimum(power, 2), power)
        extra = 3 + (np.arange(lo, hi)[:, None] % 3)
        power = np.where(power_driver & (t >= ready), power + extra, power)
        power = np.minimum(power, active)

        # Metered usage per cycle: a share of the tier's limit, weekday-heavy, noisy; the usage
        # driver grows month over month and passes 72% of the limit on the readiness day.
        limit = np.take(LIMITS["automation_runs"][1], tier) / 30.4375
        limit0 = np.take(LIMITS["automation_runs"][1], col(p.tier0)) / 30.4375
        rate = col(p.usage_share) * limit * onboarding
        usage_driver = col(p.driver) == D_USAGE
        # Growth levels off after the upgrade (or five months on, for those who never buy).
        months = (np.minimum(np.minimum(t, col(p.expand)), ready + 150) - ready) / 30.4375
        growth = 0.72 * limit0 * (1 + col(p.growth)) ** months
        rate = np.where(usage_driver, np.maximum(rate, growth), rate)
        season = np.where(self.weekday[None, :] < 5, 1.2, 0.5)
        runs = np.round(rate * season * rng.lognormal(0, 0.25, (n, days)))

        storage_limit0 = np.take(LIMITS["storage_gb"][1], col(p.tier0))
        storage = np.round(
            col(p.storage_share) * storage_limit0 * (1 + np.clip(tenure, 0, None) / 500.0), 1
        )

        self._usage(lo, alive, active, power, runs, storage, sinks["usage_daily"])
        self._events(lo, hi, rng, alive, tier, seats, blocked, sinks["events"])
        self._firmographics(lo, hi, rng, alive, sinks["firmographics"])

    def _usage(
        self,
        lo: int,
        alive: Bool,
        active: Float,
        power: Float,
        runs: Float,
        storage: Float,
        sink: _Sink,
    ) -> None:
        acc, day = np.nonzero(alive)
        metrics = ("active_users", "power_users", "automation_runs", "storage_gb")
        values = np.column_stack(
            [active[acc, day], power[acc, day], runs[acc, day], storage[acc, day]]
        )
        k = len(metrics)
        sink.write(
            {
                "account_id": self.pop.ids.take(pa.array(np.repeat(acc + lo, k))),
                "date": _dates(self.start, np.repeat(day, k)),
                "metric": pa.DictionaryArray.from_arrays(
                    pa.array(np.tile(np.arange(k, dtype=np.int8), len(acc))),
                    pa.array(metrics),
                ),
                "value": pa.array(values.ravel()),
            }
        )

    def _events(
        self,
        lo: int,
        hi: int,
        rng: np.random.Generator,
        alive: Bool,
        tier: Int,
        seats: Float,
        blocked: Bool,
        sink: _Sink,
    ) -> None:
        p, days = self.pop, self.o.days
        sl = slice(lo, hi)
        n = hi - lo
        t = np.arange(days)[None, :]
        live = alive
        ready, expand = p.ready[sl][:, None], p.expand[sl][:, None]
        driver = p.driver[sl][:, None]
        in_motion = (t >= ready) & (t < expand)
        small = tier <= 1

        interest = (driver == D_FEATURE) & (t >= ready) & (t < np.minimum(ready + 45, expand))
        noise_interest = (p.noise[sl][:, None] == N_INTEREST) & (t >= p.noise_day[sl][:, None])
        noise_interest &= t < p.noise_day[sl][:, None] + 10
        rates = {
            "integration_page_view": 0.012 + 0.3 * interest + 0.5 * noise_interest,
            "gated_feature_attempt": small * 0.004 + 0.12 * interest,
            "pricing_page_view": 0.01 + 0.06 * in_motion,
            "upgrade_click": 0.001 + 0.5 * ((t >= expand - 2) & (t <= expand) & (driver > 0)),
            "invite_blocked_seat_limit": 0.15 * blocked,
        }
        names = tuple(rates)
        parts: list[tuple[Int, Int, Int]] = []
        for e, name in enumerate(names):
            lam = np.where(live, np.broadcast_to(rates[name], (n, days)), 0.0)
            counts = rng.poisson(lam)
            acc, day = np.nonzero(counts)
            reps = counts[acc, day]
            parts.append((np.repeat(acc, reps), np.repeat(day, reps), np.full(reps.sum(), e)))
        acc = np.concatenate([a for a, _, _ in parts])
        day = np.concatenate([d for _, d, _ in parts])
        kind = np.concatenate([k for _, _, k in parts])
        m = len(acc)
        # Local business hours in the account's timezone, stored in UTC.
        local = rng.integers(8 * 3600, 19 * 3600, m)
        tz = p.tz[sl][acc]
        epoch = (self.start - dt.date(1970, 1, 1)).days
        ts = (day + epoch).astype(np.int64) * 86400 + local - self.offsets[tz, day]
        order = np.lexsort((kind, ts, acc))
        acc, day, kind, ts = acc[order], day[order], kind[order], ts[order]

        # Properties: each kind's JSON picked from a small table of rendered objects.
        ev_tier = tier[acc, day]
        choice = np.zeros(m, np.int64)
        gated = kind == names.index("gated_feature_attempt")
        choice[gated] = np.take(WANTED_FEATURE, ev_tier[gated])
        page = kind == names.index("integration_page_view")
        choice[page] = rng.integers(0, len(INTEGRATIONS), int(page.sum()))
        click = kind == names.index("upgrade_click")
        choice[click] = np.minimum(ev_tier[click] + 1, 3)
        tables = {
            "gated_feature_attempt": [
                json.dumps({"feature": f, "required_plan": TIERS[lo_]}) for f, lo_ in FEATURES
            ],
            "integration_page_view": [json.dumps({"integration": i}) for i in INTEGRATIONS],
            "upgrade_click": [json.dumps({"target_plan": tier_}) for tier_ in TIERS],
        }
        offset = {name: 0 for name in names}
        rendered: list[str] = [""]
        for name, values in tables.items():
            offset[name] = len(rendered)
            rendered.extend(values)
        index = np.where(
            np.isin(kind, [names.index(k) for k in tables]),
            choice + np.take([offset[name] for name in names], kind),
            0,
        )
        props = pa.array(rendered, pa.string()).take(pa.array(index))
        inv = kind == names.index("invite_blocked_seat_limit")
        seat_json = pc.binary_join_element_wise(
            '{"seats": ', pa.array(seats[acc, day].astype(np.int64)).cast(pa.string()), "}", ""
        )
        props = pc.if_else(pa.array(inv), seat_json, props)

        users = rng.integers(1, np.maximum(seats[acc, day], 1).astype(np.int64) + 1)
        ids = self.pop.ids.take(pa.array(acc + lo))
        seq = np.arange(self.event_seq, self.event_seq + m)
        self.event_seq += m
        sink.write(
            {
                "event_id": pc.binary_join_element_wise(
                    "evt_", pa.array(seq).cast(pa.string()), ""
                ),
                "account_id": ids,
                "user_id": pc.binary_join_element_wise(
                    ids, pa.array(users).cast(pa.string()), "-u"
                ),
                "event": _strings(names, kind),
                "timestamp": pc.strftime(
                    pa.array(ts, pa.timestamp("s", tz="UTC")), format="%Y-%m-%dT%H:%M:%SZ"
                ),
                "properties": props,
            }
        )

    def _firmographics(
        self, lo: int, hi: int, rng: np.random.Generator, alive: Bool, sink: _Sink
    ) -> None:
        """Headcount on the first day of each month; growing companies grow faster."""
        p = self.pop
        sl = slice(lo, hi)
        firsts = self.month_starts
        live = alive[:, firsts]
        acc, j = np.nonzero(live)
        day = firsts[j]
        months = (day - p.signup[sl][acc]) / 30.4375
        rate = np.where(p.driver[sl][acc] == D_SEATS, 0.03, 0.005)
        headcount = p.headcount0[sl][acc] * (1 + rate) ** months
        headcount *= rng.normal(1, 0.02, len(acc))
        sink.write(
            {
                "account_id": p.ids.take(pa.array(acc + lo)),
                "date": _dates(self.start, day),
                "headcount": pa.array(np.maximum(1, np.round(headcount)).astype(np.int64)),
            }
        )

    def truth(self) -> pa.Table:
        p, days = self.pop, self.o.days
        has_ready = p.ready < NEVER
        has_expand = p.expand < NEVER
        return pa.table(
            {
                "account_id": p.ids,
                "segment": _strings(SEGMENTS, p.segment),
                "plan": _strings(TIERS, p.tier0),
                "seats": pa.array(p.seats0),
                "driver": _strings(DRIVERS, p.driver),
                "ready_on": _date_or_null(self.start, p.ready, has_ready),
                "delay": _strings(DELAYS, p.delay),
                "expanded_on": _date_or_null(self.start, p.expand, has_expand),
                "expansion_kind": _strings(KINDS, p.kind),
                "plan_after": _strings(TIERS, p.tier1),
                "seats_after": pa.array(p.seats1),
                "noise": _strings(NOISES, p.noise),
                "noise_on": _date_or_null(self.start, p.noise_day, p.noise_day < days),
                "churned_on": _date_or_null(self.start, p.churn, p.churn < days),
                "returned_on": _date_or_null(self.start, p.winback, p.winback < days),
            }
        )


SCHEMAS: dict[str, pa.Schema] = {
    "plans": pa.schema(
        [("plan", pa.string()), ("rank", pa.int64()), ("seat_price", pa.decimal128(12, 2))]
    ),
    "plan_limits": pa.schema(
        [
            ("plan", pa.string()),
            ("metric", pa.string()),
            ("limit", pa.float64()),
            ("kind", pa.string()),
        ]
    ),
    "plan_features": pa.schema([("plan", pa.string()), ("feature", pa.string())]),
    "accounts": pa.schema(
        [
            ("account_id", pa.string()),
            ("name", pa.string()),
            ("segment", pa.string()),
            ("timezone", pa.string()),
            ("csm", pa.string()),
            ("ae", pa.string()),
            ("onboarded_on", pa.date32()),
            ("health", pa.string()),
        ]
    ),
    "subscriptions": pa.schema(
        [
            ("subscription_id", pa.string()),
            ("account_id", pa.string()),
            ("start_date", pa.date32()),
            ("end_date", pa.date32()),
            ("mrr", pa.decimal128(12, 2)),
            ("plan", pa.string()),
            ("seats", pa.int64()),
            ("renews_on", pa.date32()),
        ]
    ),
    "usage_daily": pa.schema(
        [
            ("account_id", pa.string()),
            ("date", pa.date32()),
            ("metric", pa.dictionary(pa.int8(), pa.string())),
            ("value", pa.float64()),
        ]
    ),
    "events": pa.schema(
        [
            ("event_id", pa.string()),
            ("account_id", pa.string()),
            ("user_id", pa.string()),
            ("event", pa.string()),
            ("timestamp", pa.string()),
            ("properties", pa.string()),
        ]
    ),
    "firmographics": pa.schema(
        [("account_id", pa.string()), ("date", pa.date32()), ("headcount", pa.int64())]
    ),
    "outcomes": pa.schema(
        [
            ("account_id", pa.string()),
            ("date", pa.date32()),
            ("outcome", pa.string()),
            ("trigger", pa.string()),
            ("amount_mrr", pa.decimal128(12, 2)),
        ]
    ),
}


def generate(
    out: Path,
    options: Options | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Summary:
    """Write a TeamFlow source into ``out`` (created if needed) and its truth into ``out/truth``.

    ``progress(done, total)`` is called after each chunk of accounts.

    >>> import tempfile
    >>> s = generate(Path(tempfile.mkdtemp()), Options(accounts=50, days=120, seed=1))
    >>> s.rows["accounts"]
    50
    """
    o = options or Options()
    o.check()
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: exists and is not a folder", fix="choose a folder to write into")
    out.mkdir(parents=True, exist_ok=True)
    for old in list(out.glob("*.csv")) + list(out.glob("*.parquet")):
        if old.stem in SCHEMAS:  # a CSV and a Parquet file of one table would be ambiguous
            old.unlink()
    g = _Generator(o, out)
    sinks = {name: _Sink(out / name, schema, o.parquet) for name, schema in SCHEMAS.items()}
    try:
        g.plans(sinks)
        g.accounts(sinks)
        g.subscriptions(sinks)
        g.outcomes(sinks)
        for lo in range(0, o.accounts, CHUNK):
            hi = min(lo + CHUNK, o.accounts)
            g.chunk(lo, hi, sinks)
            if progress:
                progress(hi, o.accounts)
    finally:
        for sink in sinks.values():
            sink.close()
    (out / "truth").mkdir(exist_ok=True)
    truth = g.truth()
    pacsv.write_csv(
        truth,
        out / "truth" / "readiness.csv",
        write_options=pacsv.WriteOptions(quoting_style="needed"),
    )
    p = g.pop
    return Summary(
        out=out,
        rows={name: sink.rows for name, sink in sinks.items()},
        ready_accounts=int((p.ready < NEVER).sum()),
        expanded_accounts=int((p.expand < NEVER).sum()),
    )
