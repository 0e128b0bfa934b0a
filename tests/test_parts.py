"""A missing part skips a test on a user's machine and fails it in CI."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import parts


def test_a_missing_part_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HEADROOM_REQUIRE_ALL_PARTS", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"^no Java runtime$"):
        parts.missing("no Java runtime")


def test_a_missing_part_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADROOM_REQUIRE_ALL_PARTS", "1")
    with pytest.raises(
        pytest.fail.Exception, match=r"^required part missing in CI: no Java runtime$"
    ):
        parts.missing("no Java runtime")
    monkeypatch.delenv("HEADROOM_TEST_DATABASE_URL", raising=False)
    with pytest.raises(pytest.fail.Exception, match="HEADROOM_TEST_DATABASE_URL"):
        parts.database_url()


def test_reference_data_is_looked_for_beside_the_checkout() -> None:
    checkout = Path(__file__).resolve().parents[1]
    assert checkout.parent / "shared" / "refdata" == parts.REFDATA
