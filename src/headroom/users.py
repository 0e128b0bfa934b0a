"""The people who use headroom's web app and API: their roles, passwords and API tokens.

Passwords are stored as argon2id hashes (rehashed on login when the parameters change). API
tokens are shown once, when made; the store keeps a SHA-256 of the secret part (a token is 32
random bytes: a slow hash adds nothing to that), and a revoked token is refused from then on.

A user's ``owner`` is the name plays carry for them (the ``csm`` or ``ae`` column of the
accounts, the owner a routing rule picks): what "my accounts" means for a CSM or an AE.

>>> ROLES
('admin', 'manager', 'csm', 'ae')
>>> sees_everything("manager"), sees_everything("csm")
(True, False)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from headroom.config import settings
from headroom.errors import HeadroomError, UnauthorizedError, UsageError
from headroom.store.database import Store, aware
from headroom.store.models import ApiToken, User, WebSession

#: The roles, each seeing what the ones after it see and more.
ROLES = ("admin", "manager", "csm", "ae")
#: The shortest password accepted.
MIN_PASSWORD = 12
LOGIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,199}$")
TOKEN = re.compile(r"^hr_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$")

_hasher = PasswordHasher()


class TooManyAttemptsError(HeadroomError):
    code = "too_many_attempts"
    http_status = 429

    def __init__(self, message: str, *, retry_after: int, fix: str | None = None) -> None:
        super().__init__(message, fix=fix)
        self.retry_after = retry_after


def sees_everything(role: str) -> bool:
    """Whether the role sees every account's plays (else its own, unless it switches)."""
    return role in ("admin", "manager")


@dataclass(frozen=True)
class Person:
    """A user as adapters see them: no password hash."""

    login: str
    role: str
    owner: str
    disabled: bool = False

    @property
    def sees_everything(self) -> bool:
        return sees_everything(self.role)

    @property
    def may_see_all(self) -> bool:
        """Whether they may switch to everyone's plays (HEADROOM_SWITCH_TO_ALL names the roles
        that may besides admins and managers; by default CSMs and AEs)."""
        return self.sees_everything or self.role in settings().switch_to_all


def _person(u: User) -> Person:
    return Person(u.login, u.role, u.owner, u.disabled_at is not None)


def _check_login(login: str) -> None:
    if not LOGIN.match(login):
        raise UsageError(
            f"login {login!r} is not usable",
            fix="use letters, digits and . _ @ + - (an email address works), up to 200",
        )


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise UsageError(f"role {role!r} is not a role", fix=f"use one of {', '.join(ROLES)}")


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UsageError(
            f"the password has {len(password)} characters",
            fix=f"use at least {MIN_PASSWORD} (a passphrase of a few words is easy to type)",
        )


def add_user(
    store: Store, login: str, role: str, password: str, owner: str | None = None
) -> Person:
    """Add a user; ``owner`` defaults to the login."""
    _check_login(login)
    _check_role(role)
    _check_password(password)
    with store.session() as s:
        if s.get(User, login) is not None:
            raise UsageError(
                f"user {login!r} already exists",
                fix="pick another login, or headroom users password to change theirs",
            )
        user = User(
            login=login,
            role=role,
            owner=owner or login,
            password_hash=_hasher.hash(password),
            created_at=_now(),
        )
        s.add(user)
        return _person(user)


def set_password(store: Store, login: str, password: str) -> None:
    """Change a user's password; their sessions end (whoever knew the old one is signed out)."""
    _check_password(password)
    with store.session() as s:
        user = _user(s, login)
        user.password_hash = _hasher.hash(password)
        s.execute(delete(WebSession).where(WebSession.login == login))


def disable_user(store: Store, login: str) -> int:
    """Stop ``login`` at once: no sign-in, their sessions ended and their API tokens revoked
    (how many were live). Their plays stay theirs until reassigned."""
    now = _now()
    with store.session() as s:
        user = _user(s, login)
        if user.disabled_at is None:
            user.disabled_at = now
        s.execute(delete(WebSession).where(WebSession.login == login))
        live = s.scalars(
            select(ApiToken).where(ApiToken.login == login, ApiToken.revoked_at.is_(None))
        ).all()
        for token in live:
            token.revoked_at = now
        return len(live)


def enable_user(store: Store, login: str) -> None:
    """Let a disabled user sign in again (their old tokens stay revoked: make new ones)."""
    with store.session() as s:
        _user(s, login).disabled_at = None


def users(store: Store) -> list[Person]:
    """Every user, by login."""
    with store.session() as s:
        return [_person(u) for u in s.scalars(select(User).order_by(User.login))]


def authenticate(store: Store, login: str, password: str) -> Person:
    """The user whose login and password these are; one message for an unknown login and a
    wrong password, so that the answer does not tell which logins exist."""
    with store.session() as s:
        user = s.get(User, login)
        if user is None:
            _hasher.hash(password)  # as slow as a wrong password: timing tells nothing either
            raise _bad_login()
        try:
            _hasher.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            raise _bad_login() from None
        if user.disabled_at is not None:
            raise UnauthorizedError(
                f"user {login!r} is disabled", fix="an admin can enable it: headroom users enable"
            )
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = _hasher.hash(password)
        return _person(user)


def _bad_login() -> UnauthorizedError:
    return UnauthorizedError(
        "the login or the password is wrong", fix="check both; an admin can reset a password"
    )


def create_token(store: Store, login: str, name: str = "") -> tuple[str, str]:
    """A new API token for ``login``: ``(token_id, token)``. The token is shown only now."""
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    with store.session() as s:
        _user(s, login)
        s.add(
            ApiToken(
                token_id=token_id,
                login=login,
                name=name,
                secret_sha256=_sha256(secret),
                created_at=_now(),
            )
        )
    return token_id, f"hr_{token_id}_{secret}"


def revoke_token(store: Store, token_id: str) -> None:
    """Refuse the token from now on."""
    with store.session() as s:
        token = s.get(ApiToken, token_id)
        if token is None:
            raise UsageError(
                f"no API token {token_id!r}", fix="headroom users tokens lists the token ids"
            )
        if token.revoked_at is None:
            token.revoked_at = _now()


def tokens(store: Store) -> list[ApiToken]:
    """Every token (ids, owners, names and dates; never the secret)."""
    with store.session() as s:
        return list(s.scalars(select(ApiToken).order_by(ApiToken.login, ApiToken.created_at)))


def token_user(store: Store, token: str) -> Person:
    """The user an API token (``Authorization: Bearer hr_...``) is for."""
    m = TOKEN.match(token)
    refused = UnauthorizedError(
        "the API token is unknown or revoked", fix="make a new one with headroom users token"
    )
    if m is None:
        raise refused
    with store.session() as s:
        row = s.get(ApiToken, m.group(1))
        if row is None or row.revoked_at is not None:
            raise refused
        if not hmac.compare_digest(row.secret_sha256, _sha256(m.group(2))):
            raise refused
        user = _user(s, row.login)
        if user.disabled_at is not None:
            raise refused
        return _person(user)


#: How long a session lasts from sign-in.
SESSION_HOURS = 12


@dataclass(frozen=True)
class SignedIn:
    """A session: the person, and the token every form of theirs must carry."""

    person: Person
    csrf: str


def start_session(store: Store, person: Person) -> tuple[str, SignedIn]:
    """A new session for ``person``: ``(cookie value, session)``. Sessions that have expired
    are removed on the way."""
    cookie = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = _now()
    with store.session() as s:
        s.execute(delete(WebSession).where(WebSession.expires_at < now))
        s.add(
            WebSession(
                id_sha256=_sha256(cookie),
                login=person.login,
                csrf=csrf,
                created_at=now,
                expires_at=now + dt.timedelta(hours=SESSION_HOURS),
            )
        )
    return cookie, SignedIn(person, csrf)


def session_user(store: Store, cookie: str) -> SignedIn | None:
    """The session a cookie names, if it is live."""
    if not cookie or len(cookie) > 100:
        return None
    with store.session() as s:
        row = s.get(WebSession, _sha256(cookie))
        if row is None or aware(row.expires_at) <= _now():
            return None
        user = s.get(User, row.login)
        if user is None or user.disabled_at is not None:
            return None
        return SignedIn(_person(user), row.csrf)


def end_session(store: Store, cookie: str) -> None:
    """Sign out: the cookie opens nothing from now on."""
    with store.session() as s:
        s.execute(delete(WebSession).where(WebSession.id_sha256 == _sha256(cookie)))


def _user(s: Session, login: str) -> User:
    user = s.get(User, login)
    if user is None:
        raise UsageError(f"no user {login!r}", fix="headroom users list shows the logins")
    return user


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class LoginThrottle:
    """At most ``attempts`` failed logins per login (and per client address) in ``window``
    seconds; further attempts are refused until the oldest failure leaves the window.

    Kept in the process: a restart forgets, which costs an attacker nothing they could not get
    by waiting, and needs no table written on every failed login.
    """

    def __init__(
        self, attempts: int = 5, window: float = 900.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.attempts, self.window = attempts, window
        self._now = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, *keys: str) -> None:
        """Raise :class:`TooManyAttemptsError` if any key has spent its attempts."""
        now = self._now()
        with self._lock:
            for key in keys:
                q = self._failures.get(key)
                while q and q[0] <= now - self.window:
                    q.popleft()
                if q is not None and len(q) >= self.attempts:
                    wait = int(q[0] + self.window - now) + 1
                    raise TooManyAttemptsError(
                        f"too many failed logins; try again in {wait} s",
                        retry_after=wait,
                        fix="wait, or ask an admin to reset the password",
                    )

    def failed(self, *keys: str) -> None:
        now = self._now()
        with self._lock:
            for key in keys:
                self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)
