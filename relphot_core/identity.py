"""Who is asking, and what they may do: roles, actions, identities and the
authentication settings of a deployment.

Roles are ordered, each may do what the one before may:

``viewer``
    pages, the JSON API, downloads (`Action.VIEW`);
``reviewer``
    review exposures, revoke their own batches (`Action.REVIEW`,
    `Action.REVOKE_OWN`);
``lead``
    revoke anyone's batch, change a problem's state (acknowledge, ignore,
    resolve: `Action.CHANGE_PROBLEM`), pin runs (`Action.PIN_RUN`);
``admin``
    manage users and tokens (`Action.MANAGE_USERS`).

Every write asks `check` (or `Identity.may`) with its action: the dashboard
does it on the server for each write callback and route, whatever the page
shows. Nothing here imports Flask or the store; the web side lives in
``dashboard.auth``, the accounts and tokens in the store
(`relphot_core.store.Store.add_user`, ...).

The authentication *mode* is one per deployment (`AuthMode`, read by
`AuthSettings.load` from ``[auth]`` of the configuration file and
``RELPHOT_AUTH_*`` variables):

``none``
    nobody signs in; a reviewer types a name, and every review is marked
    unauthenticated (the demo, ``relphot serve`` on loopback);
``proxy``
    an authenticating proxy (oauth2-proxy, Apache mod_auth_openidc, an
    ingress) passes the user (and optionally groups or a role) in request
    headers, trusted only from the proxy's own addresses (`proxy_identity`);
``accounts``
    users in the store sign in with a password (argon2 hashes,
    `hash_password`); scripts send API tokens (`new_token`).
"""
from __future__ import annotations

import hashlib
import ipaddress
import os
import secrets
import sys
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .errors import ConfigError, RelphotError


class Role(str, Enum):
    """A user's role; later ones may do everything earlier ones may."""

    VIEWER = "viewer"
    REVIEWER = "reviewer"
    LEAD = "lead"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """Position in the order viewer < reviewer < lead < admin."""
        return ROLES.index(self)


ROLES: tuple[Role, ...] = (Role.VIEWER, Role.REVIEWER, Role.LEAD, Role.ADMIN)
"""The roles, least first."""


class Action(str, Enum):
    """What a request may want to do (`MINIMUM_ROLE` says who may)."""

    VIEW = "view"
    """Read pages, the JSON API and downloads."""
    REVIEW = "review"
    """Confirm or overrule flags of exposures."""
    REVOKE_OWN = "revoke own batch"
    """Revoke a review batch one stored oneself."""
    REVOKE_ANY = "revoke any batch"
    """Revoke anyone's review batch."""
    CHANGE_PROBLEM = "change problem state"
    """Acknowledge, ignore or resolve a problem (issue 18's problems call
    ``check(identity, Action.CHANGE_PROBLEM)`` before changing one)."""
    PIN_RUN = "pin run"
    """Pin or unpin the current run of an observation."""
    MANAGE_USERS = "manage users"
    """Add, remove, change the role of users; issue and revoke API tokens."""


MINIMUM_ROLE: Mapping[Action, Role] = {
    Action.VIEW: Role.VIEWER,
    Action.REVIEW: Role.REVIEWER,
    Action.REVOKE_OWN: Role.REVIEWER,
    Action.REVOKE_ANY: Role.LEAD,
    Action.CHANGE_PROBLEM: Role.LEAD,
    Action.PIN_RUN: Role.LEAD,
    Action.MANAGE_USERS: Role.ADMIN,
}
"""The least role that may do each action."""


class AuthMode(str, Enum):
    """How a deployment knows who is asking (one per deployment)."""

    NONE = "none"
    PROXY = "proxy"
    ACCOUNTS = "accounts"


class AuthError(RelphotError):
    """A request that may not go on (``status``: the HTTP status to answer)."""

    status = 403


class NotAuthenticated(AuthError):
    """Nobody (valid) is signed in: HTTP 401."""

    status = 401


class Forbidden(AuthError):
    """Signed in, but the role does not allow the action (or the request
    came from where it may not): HTTP 403."""

    status = 403


def parse_role(value: Any, source: str | None = None) -> Role:
    """A `Role` from its name (case and blanks ignored).

    Raises
    ------
    ConfigError
        Not one of ``viewer``, ``reviewer``, ``lead``, ``admin``.
    """
    if isinstance(value, Role):
        return value
    text = str(value or "").strip().lower()
    try:
        return Role(text)
    except ValueError:
        raise ConfigError(source, f"role must be one of {', '.join(r.value for r in ROLES)}, not {value!r}") from None


@dataclass(frozen=True)
class Identity:
    """Who makes a request.

    Attributes
    ----------
    name : str
        The user name ("" when nobody is signed in, e.g. mode ``none``:
        the reviewer then types a name, stored unauthenticated).
    role : Role
    mode : AuthMode
        The deployment's mode, recorded with each review.
    authenticated : bool
        Whether ``name`` was verified (a session, a token, a trusted proxy).
    """

    name: str
    role: Role
    mode: AuthMode
    authenticated: bool

    def may(self, action: Action) -> bool:
        """Whether the role allows ``action``."""
        return self.role.rank >= MINIMUM_ROLE[action].rank

    @property
    def signs_reviews(self) -> bool:
        """Whether reviews take this identity's name (proxy, accounts) rather
        than a typed one (mode none)."""
        return self.authenticated and bool(self.name)


ANONYMOUS = Identity("", Role.VIEWER, AuthMode.NONE, False)
"""Nobody: what a request without a valid identity is, in any mode."""


def check(identity: Identity | None, action: Action, *, owner: str | None = None) -> Identity:
    """Refuse an action the identity may not do; return the identity.

    Parameters
    ----------
    identity : Identity or None
        Who asks (None: nobody).
    action : Action
    owner : str, optional
        For `Action.REVOKE_OWN`: who stored the batch. Another's batch
        needs `Action.REVOKE_ANY` (in mode ``none`` names are typed, not
        verified: there the configured role decides).

    Returns
    -------
    Identity

    Raises
    ------
    NotAuthenticated
        Nobody is signed in where the mode needs it.
    Forbidden
        The role does not allow the action.

    Examples
    --------
    >>> alice = Identity("alice", Role.REVIEWER, AuthMode.ACCOUNTS, True)
    >>> check(alice, Action.REVIEW).name
    'alice'
    >>> check(alice, Action.REVOKE_OWN, owner="bob")
    Traceback (most recent call last):
    ...
    relphot_core.identity.Forbidden: alice (reviewer) may not revoke another's batch (bob's): a lead may
    """
    if identity is None or (identity.mode is not AuthMode.NONE and not identity.authenticated):
        raise NotAuthenticated(None, f"sign in to {action.value}")
    if action is Action.REVOKE_OWN and owner is not None and identity.authenticated and owner != identity.name:
        if not identity.may(Action.REVOKE_ANY):
            raise Forbidden(None, f"{identity.name} ({identity.role.value}) may not revoke another's batch "
                                  f"({owner}'s): a {MINIMUM_ROLE[Action.REVOKE_ANY].value} may")
        return identity
    if not identity.may(action):
        who = identity.name or "this page"
        raise Forbidden(None, f"{who} ({identity.role.value}) may not {action.value}: "
                              f"a {MINIMUM_ROLE[action].value} may")
    return identity


# ------------------------------------------------------------ settings
def _networks(values: Iterable[str], source: str | None) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    out = []
    for value in values:
        text = str(value).strip()
        if not text:
            continue
        try:
            out.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ConfigError(source, f"auth.trusted_proxies: {text!r} is not an address or network") from None
    return tuple(out)


def _words(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.replace(";", ",").split(",") if part.strip())
    return tuple(str(part).strip() for part in value or () if str(part).strip())


@dataclass(frozen=True)
class AuthSettings:
    """The authentication of a deployment (``[auth]`` of the configuration
    file, overridden by ``RELPHOT_AUTH_*`` variables; see `load`)."""

    mode: AuthMode = AuthMode.NONE
    none_role: Role = Role.LEAD
    """Mode none: what everyone may do (a lead: review and revoke, as the
    demo always allowed; ``viewer`` makes a read-only dashboard)."""
    allow_remote_none: bool = False
    """Mode none: serve on a non-loopback address anyway (anyone who
    reaches it may write)."""
    user_header: str = "X-Forwarded-User"
    """Mode proxy: the header holding the user name."""
    groups_header: str = ""
    """Mode proxy: a header of comma-separated groups (empty: none read)."""
    role_header: str = ""
    """Mode proxy: a header holding the role itself (empty: none read)."""
    group_roles: Mapping[str, Role] = field(default_factory=dict)
    """Mode proxy: ``group -> role``; a user gets the highest of their groups'."""
    default_role: Role = Role.VIEWER
    """Mode proxy: the role of a user no group or role header names."""
    trusted_proxies: tuple[Any, ...] = ()
    """Mode proxy: addresses or networks the identity headers are accepted from."""
    secret_key: str = ""
    """Mode accounts: the key signing session cookies (same for every worker)."""
    cookie_secure: bool = True
    """Mode accounts: session cookies only over HTTPS (turn off for plain
    HTTP on loopback only)."""
    max_failures: int = 5
    """Wrong passwords for one user name or one address before sign-in is
    refused for `lockout_seconds`."""
    lockout_seconds: float = 300.0
    allowed_origins: tuple[str, ...] = ()
    """Origins (``https://qc.example.org``) a cross-origin write may come
    from besides the server's own (e.g. when a proxy rewrites Host)."""

    ENV_PREFIX = "RELPHOT_AUTH_"

    @classmethod
    def load(cls, path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> AuthSettings:
        """Settings from ``[auth]`` of a TOML file, then the environment.

        Variables: ``RELPHOT_AUTH`` (the mode), ``RELPHOT_AUTH_USER_HEADER``,
        ``RELPHOT_AUTH_GROUPS_HEADER``, ``RELPHOT_AUTH_ROLE_HEADER``,
        ``RELPHOT_AUTH_GROUP_ROLES`` (``group=role,group=role``),
        ``RELPHOT_AUTH_DEFAULT_ROLE``, ``RELPHOT_AUTH_TRUSTED_PROXIES``
        (comma-separated), ``RELPHOT_AUTH_NONE_ROLE``,
        ``RELPHOT_AUTH_ALLOW_REMOTE_NONE``, ``RELPHOT_AUTH_COOKIE_SECURE``,
        ``RELPHOT_AUTH_MAX_FAILURES``, ``RELPHOT_AUTH_LOCKOUT_SECONDS``,
        ``RELPHOT_AUTH_ALLOWED_ORIGINS``, and ``RELPHOT_SECRET_KEY``.

        Raises
        ------
        ConfigError
            A value of the wrong kind, naming it and where it came from.
        """
        values: dict[str, Any] = {}
        if path is not None:
            try:
                with open(path, "rb") as stream:
                    values.update(tomllib.load(stream).get("auth", {}))
            except OSError as exc:
                raise ConfigError(path, f"cannot read configuration ({exc.strerror})") from None
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(path, f"not valid TOML ({exc})") from None
        env = os.environ if environ is None else environ
        if env.get("RELPHOT_AUTH"):
            values["mode"] = env["RELPHOT_AUTH"]
        if env.get("RELPHOT_SECRET_KEY"):
            values["secret_key"] = env["RELPHOT_SECRET_KEY"]
        for name in (f.name for f in cls.__dataclass_fields__.values()):
            variable = cls.ENV_PREFIX + name.upper()
            if variable in env:
                values[name] = env[variable]
        return cls.from_mapping(values, str(path) if path else "environment")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], source: str | None = None) -> AuthSettings:
        """Settings from plain values (strings as in the environment, or
        TOML types), checked.

        Raises
        ------
        ConfigError
            Unknown key, bad mode, role, address, number or flag.
        """
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(source, f"unknown option auth.{unknown[0]}")
        out: dict[str, Any] = {}
        for key, value in values.items():
            if key == "mode":
                try:
                    out[key] = AuthMode(str(value).strip().lower())
                except ValueError:
                    raise ConfigError(source, f"auth.mode must be one of none, proxy, accounts, not {value!r}") \
                        from None
            elif key in ("none_role", "default_role"):
                out[key] = parse_role(value, source)
            elif key == "group_roles":
                pairs = value.items() if isinstance(value, Mapping) else (
                    part.split("=", 1) for part in _words(value))
                roles = {}
                for pair in pairs:
                    if len(pair) != 2 or not str(pair[0]).strip():
                        raise ConfigError(source, f"auth.group_roles: {'='.join(pair)!r} is not group=role")
                    roles[str(pair[0]).strip()] = parse_role(pair[1], source)
                out[key] = roles
            elif key == "trusted_proxies":
                out[key] = _networks(_words(value), source)
            elif key == "allowed_origins":
                out[key] = tuple(origin.rstrip("/") for origin in _words(value))
            elif key in ("allow_remote_none", "cookie_secure"):
                out[key] = _flag(value, key, source)
            elif key in ("max_failures", "lockout_seconds"):
                try:
                    number = int(value) if key == "max_failures" else float(value)
                except (TypeError, ValueError):
                    raise ConfigError(source, f"auth.{key} must be a number, not {value!r}") from None
                if number <= 0:
                    raise ConfigError(source, f"auth.{key} must be > 0 (got {value!r})")
                out[key] = number
            else:
                out[key] = str(value).strip()
        return cls(**out)

    def problem(self) -> str | None:
        """Why these settings cannot serve (None when they can): proxy mode
        without trusted proxies or user header, accounts mode without a
        secret key."""
        if self.mode is AuthMode.PROXY:
            if not self.trusted_proxies:
                return ("auth mode proxy needs trusted_proxies (RELPHOT_AUTH_TRUSTED_PROXIES): the addresses "
                        "the identity headers are accepted from")
            if not self.user_header:
                return "auth mode proxy needs a user_header"
        if self.mode is AuthMode.ACCOUNTS and len(self.secret_key) < 16:
            return ("auth mode accounts needs a secret key of at least 16 characters (RELPHOT_SECRET_KEY) to "
                    "sign session cookies; e.g. python -c 'import secrets; print(secrets.token_hex(32))'")
        return None

    def with_mode(self, mode: AuthMode | str) -> AuthSettings:
        """A copy in another mode (the command line's ``--auth``)."""
        return replace(self, mode=AuthMode(mode))


def _flag(value: Any, key: str, source: str | None) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(source, f"auth.{key} must be true or false, not {value!r}")


def is_loopback(host: str) -> bool:
    """Whether a bind address only this machine reaches (``localhost``,
    127.x, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# ------------------------------------------------------------ proxy
def check_trusted_proxy(settings: AuthSettings, remote_addr: str | None) -> None:
    """Refuse a request that did not come from one of the trusted proxies.

    Raises
    ------
    Forbidden
        ``remote_addr`` (the TCP peer) is not in `AuthSettings.trusted_proxies`.
    """
    try:
        peer = ipaddress.ip_address(str(remote_addr or "").split("%")[0])
    except ValueError:
        peer = None
    if peer is None or not any(peer in network for network in settings.trusted_proxies):
        raise Forbidden(remote_addr, "not a trusted proxy: identity headers are accepted only from "
                                     "auth.trusted_proxies")


class HeaderLookup(Protocol):
    """A request's headers as `proxy_identity` reads them (Werkzeug's
    `Headers`, or a mapping)."""

    def get(self, key: str, /) -> str | None: ...


def proxy_identity(settings: AuthSettings, remote_addr: str | None, headers: HeaderLookup) -> Identity:
    """The identity an authenticating proxy passes, checked.

    Parameters
    ----------
    settings : AuthSettings
        Mode proxy: its headers, roles and trusted proxies.
    remote_addr : str
        The address the request came from (the TCP peer, not a header).
    headers : mapping
        The request's headers (case-insensitive lookup, as Werkzeug's).

    Returns
    -------
    Identity

    Raises
    ------
    Forbidden
        The request did not come from a trusted proxy (whether or not it
        carries the headers: the app must only be reached through it).
    NotAuthenticated
        It came from the proxy without a user.
    """
    check_trusted_proxy(settings, remote_addr)
    name = " ".join(str(headers.get(settings.user_header) or "").split())[:128]
    if not name:
        raise NotAuthenticated(None, f"the proxy passed no user ({settings.user_header})")
    role = settings.default_role
    if settings.role_header and headers.get(settings.role_header):
        role = parse_role(headers.get(settings.role_header), settings.role_header)
    if settings.groups_header and settings.group_roles:
        for group in _words(str(headers.get(settings.groups_header) or "")):
            granted = settings.group_roles.get(group)
            if granted is not None and granted.rank > role.rank:
                role = granted
    return Identity(name, role, AuthMode.PROXY, True)


# ------------------------------------------------------------ secrets
def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher()


MIN_PASSWORD = 10
"""Characters a password needs at least."""


def hash_password(password: str) -> str:
    """An argon2id hash of a password (argon2-cffi's defaults, salted).

    Raises
    ------
    ValueError
        A password shorter than `MIN_PASSWORD` characters.
    """
    if len(password or "") < MIN_PASSWORD:
        raise ValueError(f"a password needs at least {MIN_PASSWORD} characters")
    return _hasher().hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches an argon2 hash (False for no hash, a
    wrong password or a malformed hash)."""
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    if not stored_hash:
        _hasher().hash("not a user: same cost either way")  # no timing hint of unknown users
        return False
    try:
        return _hasher().verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


TOKEN_PREFIX = "relphot_"


def new_token() -> str:
    """A new API token: 256 random bits, shown once, stored as `token_digest`."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """The stored form of a token: SHA-256 hex (a random 256-bit token needs
    no slow hash: it cannot be guessed from a dictionary)."""
    return hashlib.sha256(str(token).encode()).hexdigest()


class LoginThrottle:
    """Refuse sign-in after `AuthSettings.max_failures` wrong passwords for
    a user name or from an address within `AuthSettings.lockout_seconds`
    (per process: each server worker counts its own).

    Examples
    --------
    >>> throttle = LoginThrottle(max_failures=2, window=60.0)
    >>> for _ in range(2):
    ...     throttle.failed(("alice", "10.0.0.1"), now=0.0)
    >>> throttle.wait(("alice", "10.0.0.9"), now=1.0)
    59.0
    """

    def __init__(self, max_failures: int = 5, window: float = 300.0) -> None:
        self.max_failures = int(max_failures)
        self.window = float(window)
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def wait(self, keys: Iterable[str], now: float | None = None) -> float:
        """Seconds before any of ``keys`` may try again (0: now)."""
        now = time.monotonic() if now is None else now
        longest = 0.0
        for key in keys:
            times = self._recent(key, now)
            if len(times) >= self.max_failures:
                longest = max(longest, times[-self.max_failures] + self.window - now)
        return longest

    def failed(self, keys: Iterable[str], now: float | None = None) -> None:
        """Count a wrong password against every key."""
        now = time.monotonic() if now is None else now
        for key in keys:
            self._failures.setdefault(key, deque(maxlen=self.max_failures * 4)).append(now)

    def succeeded(self, keys: Iterable[str]) -> None:
        """Forget the failures of a user who signed in."""
        for key in keys:
            self._failures.pop(key, None)
