"""Who TeamFlow's accounts are, and what is planted in them: the world's constants (tiers,
prices, limits, features, segments, owners, drivers, delays, noise) and the account-level draw
(:func:`population`), all from the seed. :mod:`headroom.generate.teamflow` turns a population
into daily data and writes the source.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from headroom.generate.options import Options

Int = np.ndarray[Any, np.dtype[np.int64]]
Float = np.ndarray[Any, np.dtype[np.float64]]
Bool = np.ndarray[Any, np.dtype[np.bool_]]

#: Accounts per chunk of daily data: fixed, so that output never depends on memory settings.
CHUNK = 1000
NEVER = 1 << 30  # a day index that is never reached

TIERS = ("Starter", "Professional", "Business", "Enterprise")
SEAT_PRICE = (10.0, 20.0, 35.0, 60.0)
#: metric -> (kind, limit per tier)
LIMITS: dict[str, tuple[str, tuple[float, ...]]] = {
    "automation_runs": ("per_cycle", (1_000, 6_000, 30_000, 250_000)),
    "storage_gb": ("gauge", (20, 100, 500, 5_000)),
}
FEATURES = (
    ("tasks", 0),
    ("boards", 0),
    ("comments", 0),
    ("integrations", 1),
    ("timeline", 1),
    ("guest_access", 1),
    ("sso", 2),
    ("advanced_automation", 2),
    ("audit_log", 2),
    ("sandbox", 3),
    ("custom_roles", 3),
    ("data_residency", 3),
)
#: The gated feature an account of a tier reaches for first (index into FEATURES).
WANTED_FEATURE = (3, 7, 9, 9)
INTEGRATIONS = ("slack", "github", "salesforce", "jira", "google_drive", "zapier")

SEGMENTS = ("smb", "mid_market", "enterprise")
SEGMENT_SHARE = (0.6, 0.3, 0.1)
#: Starting tier shares per segment.
TIER_SHARE = ((0.7, 0.3, 0.0, 0.0), (0.2, 0.5, 0.3, 0.0), (0.0, 0.2, 0.5, 0.3))
#: Median starting seats and spread per segment, and bounds.
SEATS = ((8.0, 0.5, 3, 40), (35.0, 0.5, 12, 200), (150.0, 0.6, 50, 2000))
ANNUAL_SHARE = (0.2, 0.7, 1.0)
TIMEZONES = (
    ("America/New_York", 0.25),
    ("America/Chicago", 0.12),
    ("America/Los_Angeles", 0.15),
    ("Europe/London", 0.14),
    ("Europe/Berlin", 0.14),
    ("Asia/Kolkata", 0.06),
    ("Asia/Tokyo", 0.06),
    ("Australia/Sydney", 0.08),
)
HEALTH = ("healthy", "neutral", "at_risk")
HEALTH_SHARE = (0.65, 0.25, 0.10)
#: Monthly churn hazard by health, scaled by segment.
CHURN_HAZARD = (0.006, 0.015, 0.05)
CHURN_SEGMENT = (1.5, 0.8, 0.4)
CSMS = tuple(f"{n}@teamflow.example" for n in ("ana", "ben", "chloe", "dev", "eli", "fatima"))
AES = tuple(f"{n}@teamflow.example" for n in ("gus", "hana", "ivan", "jo"))
NAME_A = ("Blue", "North", "Bright", "Iron", "Silver", "Red", "Clear", "Swift", "Green", "Stone")
NAME_B = ("lane", "field", "wave", "works", "forge", "path", "stack", "point", "harbor", "leaf")
NAME_C = ("Labs", "Inc", "Studio", "Group", "Systems", "Co", "Partners", "Digital")

DRIVERS = ("none", "seats", "feature_interest", "power_users", "usage_ceiling")
D_NONE, D_SEATS, D_FEATURE, D_POWER, D_USAGE = range(5)
DELAYS = ("none", "soon", "late", "never")
#: How long after its readiness moment a ready account expands: the share of each delay
#: (soon, late, never) and the days each waits, drawn evenly from [low, high).
DELAY_SHARE = (0.25, 0.55, 0.20)
WAIT_SOON = (3, 31)
WAIT_LATE = (31, 241)
NOISES = ("none", "seat_spike", "interest_spike", "organic_expansion", "contraction")
N_NONE, N_SPIKE, N_INTEREST, N_ORGANIC, N_CONTRACTION = range(5)
KINDS = ("none", "seats", "tier")


@dataclass
class Population:
    """Account-level attributes of every account (one entry per account)."""

    n: int
    ids: pa.Array
    segment: Int
    tz: Int
    signup: Int  # day index; negative = before the window
    tier0: Int
    seats0: Int
    annual: Bool
    onboarded: Int  # day index, NEVER if not onboarded
    health: Int
    churn: Int  # first day no longer a customer, NEVER if not churned
    winback: Int  # day a churned account comes back (monthly, its first plan), NEVER if not
    driver: Int
    ready: Int  # day index of the planted readiness moment, NEVER if none
    delay: Int  # index into DELAYS
    expand: Int  # day of the planted (or organic) expansion, NEVER if none
    kind: Int  # index into KINDS
    tier1: Int  # tier after the expansion
    seats1: Int  # seats after the expansion
    noise: Int  # index into NOISES
    noise_day: Int
    contract_day: Int  # day of a contraction, NEVER if none
    base_util: Float
    drift: Float
    ramp: Float  # days over which seat demand climbs to the threshold
    usage_share: Float
    growth: Float  # monthly growth of metered usage for the usage driver
    storage_share: Float
    headcount0: Float


def population(o: Options) -> Population:
    rng = np.random.default_rng([o.seed, 0])
    n, days = o.accounts, o.days
    width = max(5, len(str(n)))
    ids = pa.array([f"acc_{i:0{width}d}" for i in range(1, n + 1)], pa.string())
    segment = rng.choice(3, n, p=SEGMENT_SHARE)
    tz = rng.choice(len(TIMEZONES), n, p=[w for _, w in TIMEZONES])
    signup = rng.integers(-365, days - 45, n)
    tier0 = np.zeros(n, np.int64)
    seats0 = np.zeros(n, np.int64)
    for s in range(3):
        m = segment == s
        tier0[m] = rng.choice(4, int(m.sum()), p=TIER_SHARE[s])
        median, spread, lo, hi = SEATS[s]
        seats0[m] = np.clip(np.round(rng.lognormal(np.log(median), spread, int(m.sum()))), lo, hi)
    annual = rng.random(n) < np.take(ANNUAL_SHARE, segment)
    onboarded = signup + rng.integers(7, 46, n)
    onboarded[rng.random(n) < 0.06] = NEVER
    health = rng.choice(3, n, p=HEALTH_SHARE)
    hazard = np.take(CHURN_HAZARD, health) * np.take(CHURN_SEGMENT, segment)
    months = rng.geometric(hazard)
    months = np.where(annual, np.ceil(months / 12) * 12, months).astype(np.int64)
    churn = signup + np.round(months * 30.4375).astype(np.int64)
    churn[churn >= days] = NEVER
    # Some churned accounts come back a few months later: reactivations in the MRR history.
    winback = np.where(
        (churn < NEVER) & (rng.random(n) < 0.12), churn + rng.integers(60, 241, n), NEVER
    )
    winback[winback >= days] = NEVER

    # The planted readiness moment: after onboarding and a month in the stage, before the end.
    earliest = np.maximum(np.maximum(signup, 0), np.where(onboarded < NEVER, onboarded, 0)) + 30
    latest = np.minimum(churn - 30, days - 20)
    can = (onboarded < NEVER) & (earliest < latest)
    is_ready = can & (rng.random(n) < 0.45)
    ready = np.where(
        is_ready, earliest + (rng.random(n) * (latest - earliest)).astype(np.int64), NEVER
    )
    small = tier0 <= 1
    pick = rng.choice(4, n, p=(0.4, 0.2, 0.2, 0.2)) + 1
    driver = np.where(is_ready, np.where(small, pick, D_SEATS), D_NONE)

    delay = np.where(is_ready, rng.choice(3, n, p=DELAY_SHARE) + 1, 0)
    wait = np.where(delay == 1, rng.integers(*WAIT_SOON, n), rng.integers(*WAIT_LATE, n))
    expand = np.where((delay == 1) | (delay == 2), ready + wait, NEVER)

    # Noise on accounts without a readiness moment.
    noise = np.where(~is_ready, rng.choice(5, n, p=(0.71, 0.12, 0.08, 0.05, 0.04)), N_NONE)
    first = np.maximum(signup, 0) + 40
    span = np.maximum(np.minimum(churn, days) - 20 - first, 0)
    noise_day = np.where(noise > 0, first + (rng.random(n) * span).astype(np.int64), NEVER)
    noise[(noise > 0) & (span <= 0)] = N_NONE
    noise_day[noise == N_NONE] = NEVER
    expand = np.where(noise == N_ORGANIC, noise_day, expand)
    contract_day = np.where(noise == N_CONTRACTION, noise_day, NEVER)
    expand[expand >= np.minimum(churn, days)] = NEVER

    # What the expansion buys: seats for the seat driver, a tier for the others.
    to_tier = (driver >= D_FEATURE) | ((driver == D_SEATS) & (tier0 == 2) & (rng.random(n) < 0.4))
    kind = np.where(expand < NEVER, np.where(to_tier, 2, 1), 0)
    tier1 = np.where(kind == 2, np.minimum(tier0 + 1, 3), tier0)
    grow = np.where(kind == 2, rng.uniform(1.0, 1.2, n), rng.uniform(1.25, 1.6, n))
    seats1 = np.where(kind > 0, np.ceil(seats0 * grow + (kind == 1) * 2), seats0).astype(np.int64)

    return Population(
        n=n,
        ids=ids,
        segment=segment,
        tz=tz,
        signup=signup,
        tier0=tier0,
        seats0=seats0,
        annual=annual,
        onboarded=onboarded,
        health=health,
        churn=churn,
        winback=winback,
        driver=driver,
        ready=ready,
        delay=delay,
        expand=expand,
        kind=kind,
        tier1=tier1,
        seats1=seats1,
        noise=noise,
        noise_day=noise_day,
        contract_day=contract_day,
        base_util=rng.uniform(0.45, 0.72, n),
        drift=rng.normal(0.0, 0.05, n) / 365.0,
        ramp=rng.uniform(40, 120, n),
        usage_share=rng.uniform(0.08, 0.45, n),
        growth=rng.uniform(0.08, 0.15, n),
        storage_share=rng.uniform(0.03, 0.25, n),
        headcount0=seats0 * rng.uniform(1.3, 3.0, n),
    )
