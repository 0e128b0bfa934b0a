"""``--by`` means the same in every command that offers it: csm is the CSM alone, owner the CSM
else the AE (an account with neither is ``(none)``)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from headroom.cli.main import app
from tests.sources.helpers import write_source

SUBSCRIPTIONS = (
    "subscription_id,account_id,start_date,end_date,mrr,plan,seats\n"
    "s1,a1,2025-01-01,2025-03-01,100,Starter,5\ns2,a1,2025-03-01,,150,Starter,8\n"
    "s3,a2,2025-01-01,,100,Starter,5\ns4,a3,2025-01-01,,100,Starter,5\n"
)
# a1 has a CSM and an AE, a2 only an AE, a3 neither; only a1 expands (100 -> 150 in March)
ACCOUNTS = "account_id,segment,csm,ae\na1,smb,ana,bo\na2,smb,,bo\na3,smb,,\n"


def _json(*args: str) -> object:
    result = CliRunner().invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_csm_and_owner_group_alike_in_nrr_and_expansions(tmp_path: Path) -> None:
    source = str(write_source(tmp_path, {"subscriptions.csv": SUBSCRIPTIONS,
                                         "accounts.csv": ACCOUNTS}))  # fmt: skip
    nrr = ["nrr", source, "--start", "2025-01", "--end", "2025-04", "--by"]
    by_csm = _json(*nrr, "csm")
    by_owner = _json(*nrr, "owner")
    assert isinstance(by_csm, dict) and isinstance(by_owner, dict)
    assert {g["group"]: (g["accounts"], g["nrr"]) for g in by_csm["groups"]} == {
        "(none)": (2, 1.0), "ana": (1, 1.5)
    }  # fmt: skip
    assert {g["group"]: (g["accounts"], g["nrr"]) for g in by_owner["groups"]} == {
        "(none)": (1, 1.0), "ana": (1, 1.5), "bo": (1, 1.0)
    }  # fmt: skip
    expansions = ["expansions", source, "--through", "2025-06-01", "--by"]
    for by in ("csm", "owner"):
        assert _json(*expansions, by) == [
            {"group": "ana", "expansions": 1, "accounts": 1, "expansion_mrr": 50,
             "expansion_arr": 600}
        ]  # fmt: skip
