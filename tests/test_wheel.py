"""An install that is not a checkout: the wheel built by the standard build frontend, installed
into a fresh virtual environment with pip, runs ``headroom demo`` there, the TeamFlow playbook
included (its queue and backtest come from the examples the wheel carries).

Slow (it installs every dependency into the new environment), so it runs where it must: under
CI (``HEADROOM_REQUIRE_ALL_PARTS``) or when asked (``HEADROOM_TEST_WHEEL=1``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, f"{args[:3]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.slow
def test_the_built_wheel_installs_into_a_fresh_environment_and_runs_the_demo(
    tmp_path: Path,
) -> None:
    if not (os.environ.get("HEADROOM_REQUIRE_ALL_PARTS") or os.environ.get("HEADROOM_TEST_WHEEL")):
        pytest.skip("slow: set HEADROOM_TEST_WHEEL=1 to build and install the wheel (CI does)")
    # the checkout copied, so that building leaves nothing in it (setuptools writes build/)
    tree = tmp_path / "tree"
    run(["git", "clone", "--quiet", "--no-local", str(ROOT), str(tree)], tmp_path)
    for changed in run(
        ["git", "status", "--porcelain", "--untracked-files=all"], ROOT
    ).splitlines():
        # the working tree as it is: a test run before a commit builds what is being tested
        path = changed[3:]
        if (ROOT / path).is_file():
            (tree / path).parent.mkdir(parents=True, exist_ok=True)
            (tree / path).write_bytes((ROOT / path).read_bytes())
    run([sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path / "dist")], tree)
    (wheel,) = (tmp_path / "dist").glob("headroom-*.whl")
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], tmp_path)
    run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)], tmp_path)
    away = tmp_path / "elsewhere"  # nowhere near a checkout
    away.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEADROOM_", "PYTHON"))}
    env["HEADROOM_WORKSPACE"] = str(away / ".headroom")
    out = run(
        [str(venv / "bin" / "headroom"), "demo", "--accounts", "300", "--days", "500",
         "--format", "json"],
        away, env,
    )  # fmt: skip
    demo = json.loads(out)
    assert demo["validation"] == "teamflow: valid, 0 warnings"
    assert demo["queue"] and demo["backtest"]  # the example playbook came with the wheel
    assert str(venv) not in demo["source"] and str(ROOT) not in json.dumps(demo)
