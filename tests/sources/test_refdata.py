"""Public reference data nobody on the project wrote, read through the shipped example mappings.

The data lives beside the checkout in ``../shared/refdata``; without it these tests skip (and
fail in CI, see :func:`tests.parts.missing`).
"""

from __future__ import annotations

from pathlib import Path

from tests.parts import refdata
from tests.sources.helpers import loaded_files, validate

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "sources"


def test_mrr_playbook_seed_validates_with_its_mapping(workspace: Path) -> None:
    seed = refdata("mrr-playbook")
    run = validate(seed, "--mapping", str(EXAMPLES / "mrr-playbook.yaml"))
    assert run.code == 0
    assert run.err == ""
    assert run.out[:3] == [
        "mrr-playbook: valid, 1 warning",
        "",
        "  subscriptions  subscription_periods.csv                      121 rows",
    ]
    assert run.warnings == [
        "accounts: no accounts table: accounts are taken from the subscriptions' account_id",
        "  what to do: add accounts.csv for segments, time zones, owners and health; without it "
        "routing and reports by segment see every account as unknown",
    ]
    assert len(loaded_files(workspace)) == 1


def test_mrr_playbook_without_its_mapping_says_what_to_map() -> None:
    seed = refdata("mrr-playbook")
    run = validate(seed)
    assert run.code == 1
    assert run.errors == [
        "subscriptions: no subscriptions table in the folder; every source needs one "
        "(subscriptions.csv or subscriptions.parquet, or map your table onto it)"
    ]
    assert "  not read: subscription_periods.csv" in run.out


def test_ravenstack_is_valid_with_counted_warnings(workspace: Path) -> None:
    folder = refdata("ravenstack")
    run = validate(folder, "--mapping", str(EXAMPLES / "ravenstack.yaml"), "--format", "json")
    assert run.code == 0
    report = run.json()
    assert report["valid"] is True
    assert report["errors"] == 0
    assert [(t["table"], t["rows"]) for t in report["tables"]] == [
        ("accounts", 500),
        ("subscriptions", 5_000),
        ("usage_daily", 25_000),
    ]
    problems = {p["code"]: p for p in report["problems"]}
    assert {code: p["count"] for code, p in problems.items()} == {
        "overlapping_subscriptions": 23_771,
        "empty_period": 13,
        "usage_outside_subscription": 14_226,
        "combined_rows": 19,
    }
    assert all(p["severity"] == "warning" for p in problems.values())
    assert problems["overlapping_subscriptions"]["summary"] == (
        "23,771 pairs of subscription rows overlap, in 500 accounts"
    )
    assert problems["usage_outside_subscription"]["summary"] == (
        "14,226 of 25,000 usage rows (57%) fall outside every subscription period of their account"
    )
    assert problems["empty_period"]["summary"] == "13 subscription rows end on the day they start"
    assert problems["combined_rows"]["summary"] == (
        "19 rows repeat an earlier (account_id, date, metric)"
    )
    assert all(len(p["examples"]) == 5 and p["hint"] for p in problems.values())
    assert len(loaded_files(workspace)) == 1


def test_ravenstack_table_report_shows_counts_and_first_examples() -> None:
    folder = refdata("ravenstack")
    run = validate(folder, "--mapping", str(EXAMPLES / "ravenstack.yaml"))
    assert run.code == 0
    assert run.out[0] == "ravenstack: valid, 4 kinds of warning (38,029 rows)"
    warnings = run.warnings
    assert len(warnings) == 4 * 8  # summary, 5 examples, "… and N more", what to do
    # Checked by hand against the files: S-bb1cf1 is on line 39, S-79a9e1 on line 13, both of
    # account A-3a5ad8 and without an end date.
    assert warnings[:2] == [
        "ravenstack_subscriptions.csv: 23,771 pairs of subscription rows overlap, in 500 accounts",
        "  ravenstack_subscriptions.csv, line 39, column subscription_id: subscription "
        "'S-bb1cf1' of account 'A-3a5ad8' overlaps subscription 'S-79a9e1' of line 13; their "
        "MRR is summed while both run",
    ]
    assert "  … and 23,766 more like this (23,771 in all)" in warnings
    assert (
        "  ravenstack_subscriptions.csv, line 171, column end_date: '2024-12-31' equals "
        "start_date, so the period is in force on no day; it adds no MRR"
    ) in warnings
    assert (
        "  ravenstack_feature_usage.csv, line 2311: account_id 'A-90a8c8', date '2023-12-06', "
        "metric 'feature_19' repeats line 2061; combined (sum)"
    ) in warnings
