"""The TeamFlow generator: deterministic, valid, and carrying the truth it claims to plant.

The truth checks read the written files with plain DuckDB SQL, independent of headroom's own
loading code, so a generator bug cannot hide behind a matching reader bug.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from headroom.cli.main import app
from headroom.generate import Options, generate

ACCOUNTS, DAYS = 600, 500
END = dt.date(2026, 9, 30)


@pytest.fixture(scope="module")
def teamflow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("teamflow")
    generate(out, Options(accounts=ACCOUNTS, days=DAYS, seed=11))
    return out


@pytest.fixture(scope="module")
def db(teamflow: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    for f in teamflow.glob("*.csv"):
        con.execute(f"create view {f.stem} as select * from read_csv_auto('{f}', header=true)")
    con.execute(
        "create view truth as select * from "
        f"read_csv_auto('{teamflow / 'truth' / 'readiness.csv'}', header=true)"
    )
    yield con
    con.close()


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_same_seed_same_files_other_seed_other_files(tmp_path: Path) -> None:
    small = Options(accounts=120, days=90, seed=3)
    generate(tmp_path / "a", small)
    generate(tmp_path / "b", small)
    generate(tmp_path / "c", Options(accounts=120, days=90, seed=4))
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert (
        _digest(tmp_path / "a")["subscriptions.csv"] != _digest(tmp_path / "c")["subscriptions.csv"]
    )


def test_generated_source_validates_clean(teamflow: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["validate", str(teamflow), "--today", "2026-10-01", "--format", "json"],
        env={"HEADROOM_WORKSPACE": str(tmp_path)},
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["problems"] == []
    rows = {t["table"]: t["rows"] for t in report["tables"]}
    assert rows["accounts"] == ACCOUNTS


def test_parquet_output_validates_and_matches_csv(tmp_path: Path) -> None:
    options = Options(accounts=80, days=90, seed=2)
    generate(tmp_path / "csv", options)
    generate(tmp_path / "pq", Options(accounts=80, days=90, seed=2, parquet=True))
    assert sorted(p.name for p in (tmp_path / "pq").glob("*.parquet")) == sorted(
        p.stem + ".parquet" for p in (tmp_path / "csv").glob("*.csv")
    )
    result = CliRunner().invoke(
        app,
        ["validate", str(tmp_path / "pq"), "--today", "2026-10-01"],
        env={"HEADROOM_WORKSPACE": str(tmp_path / "ws")},
    )
    assert result.exit_code == 0, result.output
    con = duckdb.connect()
    diff = con.execute(
        f"select count(*) from (select subscription_id, mrr, seats from "
        f"read_csv_auto('{tmp_path / 'csv' / 'subscriptions.csv'}') except "
        f"select subscription_id, mrr, seats from '{tmp_path / 'pq' / 'subscriptions.parquet'}')"
    ).fetchone()
    assert diff == (0,)


def test_tiers_prices_limits_and_features(db: duckdb.DuckDBPyConnection) -> None:
    plans = db.execute("select plan, rank, seat_price from plans order by rank").fetchall()
    assert [(p, r, float(s)) for p, r, s in plans] == [
        ("Starter", 1, 10.0),
        ("Professional", 2, 20.0),
        ("Business", 3, 35.0),
        ("Enterprise", 4, 60.0),
    ]
    kinds = dict(db.execute("select distinct metric, kind from plan_limits").fetchall())
    assert kinds == {"automation_runs": "per_cycle", "storage_gb": "gauge"}
    # Each tier has every feature of the tiers below it.
    missing = db.execute(
        "select count(*) from plan_features f join plans p using (plan) join plans q "
        "on q.rank > p.rank left join plan_features g on g.plan = q.plan and g.feature = f.feature "
        "where g.feature is null"
    ).fetchone()
    assert missing == (0,)


def test_accounts_cover_segments_timezones_and_owners(db: duckdb.DuckDBPyConnection) -> None:
    segments = {s for (s,) in db.execute("select distinct segment from accounts").fetchall()}
    assert segments == {"smb", "mid_market", "enterprise"}
    zones = db.execute("select count(distinct timezone) from accounts").fetchone()
    assert zones is not None and zones[0] >= 6
    owners = db.execute(
        "select count(*) filter (where segment = 'enterprise' and ae is null), "
        "count(*) filter (where csm is not null) from accounts"
    ).fetchone()
    assert owners is not None
    assert owners[0] == 0  # every enterprise account has an AE
    assert owners[1] > ACCOUNTS / 3


def test_every_planted_expansion_is_a_subscription_change(db: duckdb.DuckDBPyConnection) -> None:
    """An expanded account has a row starting that day with more seats or a higher tier."""
    rows = db.execute(
        """
        with rows as (
          select s.account_id, s.start_date, s.seats, p.rank, s.mrr,
                 lag(s.seats) over w as prev_seats, lag(p.rank) over w as prev_rank,
                 lag(s.mrr) over w as prev_mrr
          from subscriptions s join plans p using (plan)
          window w as (partition by s.account_id order by s.start_date)
        )
        select t.account_id, t.expansion_kind, r.seats > r.prev_seats, r.rank > r.prev_rank,
               r.mrr > r.prev_mrr
        from truth t left join rows r
          on r.account_id = t.account_id and r.start_date = t.expanded_on
        where t.expanded_on is not null
        """
    ).fetchall()
    assert len(rows) > ACCOUNTS / 10
    for account, kind, more_seats, higher_tier, more_mrr in rows:
        assert more_mrr, account
        assert more_seats if kind == "seats" else higher_tier, (account, kind)


def test_no_expansion_without_a_cause(db: duckdb.DuckDBPyConnection) -> None:
    """Accounts with neither readiness nor an organic expansion never grow their MRR."""
    grew = db.execute(
        """
        with rows as (
          select account_id, mrr, lag(mrr) over (partition by account_id order by start_date) prev
          from subscriptions
        )
        select count(distinct r.account_id) from rows r join truth t using (account_id)
        where r.mrr > r.prev and t.driver = 'none' and t.noise <> 'organic_expansion'
        """
    ).fetchone()
    assert grew == (0,)


def test_delays_are_soon_late_or_never(db: duckdb.DuckDBPyConnection) -> None:
    shares = dict(
        db.execute(
            "select delay, count(*) / sum(count(*)) over () from truth where driver <> 'none' "
            "group by delay"
        ).fetchall()
    )
    assert set(shares) == {"soon", "late", "never"}
    assert shares["soon"] == pytest.approx(0.25, abs=0.08)
    assert shares["late"] == pytest.approx(0.55, abs=0.08)
    assert shares["never"] == pytest.approx(0.20, abs=0.08)
    soon = db.execute(
        "select max(expanded_on - ready_on), min(expanded_on - ready_on) from truth "
        "where delay = 'soon' and expanded_on is not null"
    ).fetchone()
    assert soon is not None
    assert soon[1] >= 3
    assert soon[0] <= 30


def _seat_runs(db: duckdb.DuckDBPyConnection) -> str:
    """First day of each account's first run of 7+ consecutive days above 85% of its seats."""
    return """
        with seats as (
          select a.account_id, u.date, u.value / s.seats as util
          from usage_daily u join subscriptions s
            on s.account_id = u.account_id and s.start_date <= u.date
           and (s.end_date is null or u.date < s.end_date)
          join accounts a on a.account_id = u.account_id
          where u.metric = 'active_users' and s.seats > 0
        ), flagged as (
          select *, date - cast(row_number() over (partition by account_id order by date)
                                as integer) as grp
          from seats where util > 0.85
        ), runs as (
          select account_id, min(date) as first_day, count(*) as days from flagged
          group by account_id, grp having count(*) >= 7
        )
        select account_id, min(first_day) + 6 as fires_on from runs group by account_id
    """


def test_seat_driver_crosses_85_percent_at_readiness(db: duckdb.DuckDBPyConnection) -> None:
    near, total = db.execute(
        f"""
        with fires as ({_seat_runs(db)})
        select count(*) filter (where abs(f.fires_on - t.ready_on) <= 21), count(*)
        from truth t left join fires f using (account_id) where t.driver = 'seats'
        """
    ).fetchone() or (0, 0)
    assert total > 50
    assert near / total > 0.8


def test_seat_signal_is_rare_without_readiness(db: duckdb.DuckDBPyConnection) -> None:
    """Short spikes are noise by design: they never last the 7 days a proactive rule needs."""
    fired, total = db.execute(
        f"""
        with fires as ({_seat_runs(db)})
        select count(f.account_id), count(*)
        from truth t left join fires f using (account_id) where t.driver = 'none'
        """
    ).fetchone() or (0, 0)
    assert fired / total < 0.15


def test_feature_interest_shows_as_integration_page_views(db: duckdb.DuckDBPyConnection) -> None:
    shares = db.execute(
        """
        with views as (
          select t.account_id, t.driver, count(e.event_id) filter (
            where cast(e.timestamp as date) between t.ready_on and t.ready_on + 30) as n
          from truth t left join events e
            on e.account_id = t.account_id and e.event = 'integration_page_view'
          where t.driver in ('feature_interest', 'seats') group by all
        )
        select driver, avg(case when n > 3 then 1 else 0 end) from views group by driver
        """
    ).fetchall()
    share = dict(shares)
    assert share["feature_interest"] > 0.8
    assert share["seats"] < 0.2


def test_blocked_invites_only_when_seats_are_full(db: duckdb.DuckDBPyConnection) -> None:
    rows = db.execute(
        """
        select count(*), count(*) filter (where u.value < s.seats)
        from events e
        join usage_daily u on u.account_id = e.account_id and u.metric = 'active_users'
          and u.date = cast(e.timestamp as date)
        join subscriptions s on s.account_id = e.account_id and s.start_date <= u.date
          and (s.end_date is null or u.date < s.end_date)
        where e.event = 'invite_blocked_seat_limit'
        """
    ).fetchone()
    assert rows is not None
    blocked, with_free_seats = rows
    assert blocked > 0
    # The event's day is its UTC day; local and UTC days differ for a few late events.
    assert with_free_seats / blocked < 0.05


def test_events_fall_in_local_business_hours_across_dst(db: duckdb.DuckDBPyConnection) -> None:
    outside = db.execute(
        """
        select count(*) filter (where h < 8 or h >= 19), count(*) from (
          select hour(timezone(a.timezone, cast(e.timestamp as timestamptz))) as h
          from events e join accounts a using (account_id)
        )
        """
    ).fetchone()
    assert outside is not None and outside[1] > 1000
    assert outside[0] == 0


def test_usage_has_weekly_seasonality_and_gated_features_name_a_plan(
    db: duckdb.DuckDBPyConnection,
) -> None:
    weekday, weekend = db.execute(
        "select avg(value) filter (where isodow(date) <= 5), avg(value) filter (where "
        "isodow(date) > 5) from usage_daily where metric = 'automation_runs'"
    ).fetchone() or (0, 0)
    assert weekday > 1.8 * weekend
    bad = db.execute(
        "select count(*) from events e left join plans p "
        "on p.plan = json_extract_string(e.properties, '$.required_plan') "
        "where e.event = 'gated_feature_attempt' and p.plan is null"
    ).fetchone()
    assert bad == (0,)


def test_generate_command(tmp_path: Path) -> None:
    out = tmp_path / "tf"
    result = CliRunner().invoke(
        app,
        [
            "generate",
            "teamflow",
            str(out),
            "--accounts",
            "40",
            "--days",
            "90",
            "--seed",
            "1",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["tables"]["accounts"] == 40
    assert (out / "truth" / "readiness.csv").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--days", "10"],
            "error: --days 10 is too short; ask for at least 60 days: "
            "readiness builds up over weeks\n",
        ),
        (["--accounts", "0"], "error: --accounts 0 is too small; ask for at least 1 account\n"),
        (["--seed", "-1"], "error: --seed -1 is negative; use a seed >= 0\n"),
        (
            ["--end", "2026-13-01"],
            "error: --end '2026-13-01' is not a date; write it YYYY-MM-DD, e.g. --end 2026-03-31\n",
        ),
    ],
)
def test_generate_rejects_bad_options(tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["generate", "teamflow", str(tmp_path / "x"), *args])
    assert result.exit_code == 1
    assert result.stderr == message
    assert not (tmp_path / "x").exists()
