"""Users, passwords and API tokens, through ``headroom users`` and the core, on SQLite and
PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from headroom import users
from headroom.cli.main import app
from headroom.errors import UnauthorizedError
from headroom.store.database import Store
from headroom.store.models import User

PASSWORD = "correct horse battery"


def invoke(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_users_are_added_listed_and_sign_in(store_url: str) -> None:
    code, out, err = invoke(
        "users", "add", "ana@example.com", "--role", "csm", "--owner", "Ana Lima",
        "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert code == 0, err
    assert out.strip() == "added ana@example.com (csm, owner Ana Lima)"
    assert invoke("users", "add", "boss", "--role", "manager", "--password-stdin",
                  stdin="another long passphrase\n")[0] == 0  # fmt: skip
    code, out, _ = invoke("users", "list", "--format", "json")
    assert json.loads(out) == [
        {"login": "ana@example.com", "role": "csm", "owner": "Ana Lima", "disabled": False},
        {"login": "boss", "role": "manager", "owner": "boss", "disabled": False},
    ]
    store = Store()
    try:
        with store.session() as s:
            stored = s.get(User, "ana@example.com")
            assert stored is not None
            assert stored.password_hash.startswith("$argon2id$")  # never the password itself
            assert PASSWORD not in stored.password_hash
        ana = users.authenticate(store, "ana@example.com", PASSWORD)
        assert (ana.role, ana.owner, ana.sees_everything) == ("csm", "Ana Lima", False)
        assert users.authenticate(store, "boss", "another long passphrase").sees_everything
        for login, password in (("ana@example.com", "wrong password!"), ("nobody", PASSWORD)):
            with pytest.raises(UnauthorizedError) as bad:
                users.authenticate(store, login, password)
            # one message for both: the answer does not tell which logins exist
            assert str(bad.value) == (
                "the login or the password is wrong; check both; an admin can reset a password"
            )
    finally:
        store.close()
    code, _, err = invoke("users", "password", "ana@example.com", "--password-stdin",
                          stdin="a brand new passphrase\n")  # fmt: skip
    assert code == 0, err
    store = Store()
    try:
        assert users.authenticate(store, "ana@example.com", "a brand new passphrase").login
        with pytest.raises(UnauthorizedError):
            users.authenticate(store, "ana@example.com", PASSWORD)
    finally:
        store.close()


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["ana", "--role", "cfo"], PASSWORD, "invalid value for '--role': 'cfo' is not one "
         "of 'admin', 'manager', 'csm', 'ae'; see 'headroom users add --help'"),
        (["ana", "--role", "csm"], "short", "the password has 5 characters; use at least 12 (a "
         "passphrase of a few words is easy to type)"),
        (["ana smith", "--role", "csm"], PASSWORD, "login 'ana smith' is not usable; use "
         "letters, digits and . _ @ + - (an email address works), up to 200"),
        (["taken", "--role", "csm"], PASSWORD, "user 'taken' already exists; pick another "
         "login, or headroom users password to change theirs"),
    ],
)  # fmt: skip
def test_bad_users_are_refused_saying_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], stdin: str, message: str
) -> None:
    monkeypatch.setenv("HEADROOM_DATABASE_URL", f"sqlite:///{tmp_path / 's.sqlite'}")
    store = Store()
    try:
        users.add_user(store, "taken", "ae", PASSWORD)
    finally:
        store.close()
    code, _, err = invoke("users", "add", *args, "--password-stdin", stdin=stdin + "\n")
    assert code != 0
    assert message in " ".join(err.split())


def test_api_tokens_are_shown_once_kept_hashed_and_revocable(store_url: str) -> None:
    store = Store()
    try:
        users.add_user(store, "ana", "csm", PASSWORD, owner="Ana Lima")
    finally:
        store.close()
    code, token, err = invoke("users", "token", "ana", "--name", "crm sync")
    assert code == 0, err
    token = token.strip()
    code, out, _ = invoke("users", "tokens", "--format", "json")
    (listed,) = json.loads(out)
    assert (listed["login"], listed["name"], listed["revoked_at"]) == ("ana", "crm sync", None)
    assert token.startswith(f"hr_{listed['token_id']}_")
    assert token.split("_", 2)[2] not in out  # the secret is never listed
    store = Store()
    try:
        assert users.token_user(store, token).owner == "Ana Lima"
        forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        for bad in (forged, "hr_nope", "", token + "x"):
            with pytest.raises(UnauthorizedError):
                users.token_user(store, bad)
    finally:
        store.close()
    assert invoke("users", "revoke", listed["token_id"])[0] == 0
    store = Store()
    try:
        with pytest.raises(UnauthorizedError) as refused:
            users.token_user(store, token)
        assert str(refused.value) == (
            "the API token is unknown or revoked; make a new one with headroom users token"
        )
    finally:
        store.close()
    code, _, err = invoke("users", "revoke", "000000000000")
    assert code != 0
    assert "no API token '000000000000'; headroom users tokens lists the token ids" in err


def test_failed_logins_are_throttled_per_key_until_the_window_passes() -> None:
    now = [1000.0]
    throttle = users.LoginThrottle(attempts=3, window=60, clock=lambda: now[0])
    for _ in range(3):
        throttle.check("ana", "10.0.0.1")
        throttle.failed("ana", "10.0.0.1")
    with pytest.raises(users.TooManyAttemptsError) as stopped:
        throttle.check("ana", "10.0.0.9")  # the login is spent, whichever address asks
    assert stopped.value.retry_after == 61
    assert str(stopped.value) == (
        "too many failed logins; try again in 61 s; wait, or ask an admin to reset the password"
    )
    throttle.check("bob", "10.0.0.9")  # other logins and addresses are not held up
    now[0] += 60
    throttle.check("ana", "10.0.0.1")  # the failures have left the window
    throttle.failed("ana")
    throttle.succeeded("ana")
    throttle.check("ana")
