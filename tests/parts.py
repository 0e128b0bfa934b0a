"""Parts a test may need that a user's machine can lack: skip there, fail in CI.

CI (``.ci/run``) sets ``HEADROOM_REQUIRE_ALL_PARTS``: there a missing part is a failure, so a
test meant to run in CI can never pass by skipping.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REFDATA = Path(__file__).resolve().parents[1].parent / "shared" / "refdata"


def missing(reason: str) -> None:
    """Skip with ``reason`` on a user's machine; fail with it in CI."""
    if os.environ.get("HEADROOM_REQUIRE_ALL_PARTS"):
        pytest.fail(f"required part missing in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def refdata(name: str) -> Path:
    """A folder of the shared public reference data."""
    folder = REFDATA / name
    if not folder.is_dir():
        missing(f"the shared reference data ({name}) is not next to this checkout")
    return folder


def database_url() -> str:
    """The PostgreSQL server for tests, from HEADROOM_TEST_DATABASE_URL."""
    url = os.environ.get("HEADROOM_TEST_DATABASE_URL")
    if not url:
        missing("no PostgreSQL server: set HEADROOM_TEST_DATABASE_URL to run this test")
    assert url is not None
    return url


def spark() -> None:
    """Java and pyspark, for a local Spark session."""
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        missing("no Java runtime for Spark: install Java 17 to run this test")
    try:
        import pyspark  # noqa: F401
    except ImportError:
        missing("pyspark is not installed (the spark extra)")


def chromium() -> str:
    """Debian's chromium, for the browser tests (Playwright drives it by its path)."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        missing("no chromium: install Debian's chromium package to run the browser tests")
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing("playwright is not installed (the dev extra)")
    assert path is not None
    return path
