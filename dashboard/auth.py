"""Who is asking, on the web server: one identity per request, checked for
every write (`relphot_core.identity` holds the rules).

`install` wires it into the Flask server of a Dash app:

- before each request, the identity of the deployment's mode
  (`relphot_core.identity.AuthMode`): mode ``none`` gives everyone the
  configured role, unauthenticated; ``proxy`` reads the identity headers,
  and only from the trusted proxies (any other address gets 403); in
  ``accounts`` a session (the ``/login`` page, Flask-Login) or an API token
  (``Authorization: Bearer ...``) names the user, and a request without
  one gets 401 (pages redirect to ``/login``);
- a write coming from another site is refused (403): a POST whose
  ``Origin`` is neither this server nor `AuthSettings.allowed_origins`;
- the callbacks that write are marked with `writes` (the action they do):
  the server refuses them (401/403) before they run when the identity may
  not do it, whatever the page shows. Inside, `require` gives the identity
  to sign with (and for a revocation the owner check).

Pages call `current_identity` to show who is signed in and to hide what the
role may not do; hiding is a courtesy, the check is here.
"""
from __future__ import annotations

import html as html_text
import logging
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, has_app_context, has_request_context, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from relphot_core.identity import (
    Action,
    AuthError,
    AuthMode,
    AuthSettings,
    Identity,
    LoginThrottle,
    NotAuthenticated,
    check,
    check_trusted_proxy,
    proxy_identity,
    token_digest,
    verify_password,
)

from .data import get_store

LOG = logging.getLogger(__name__)

SETTINGS_KEY = "RELPHOT_AUTH_SETTINGS"
THROTTLE_KEY = "RELPHOT_LOGIN_THROTTLE"
ACTION_ATTR = "relphot_action"
"""The attribute `writes` sets on a callback (kept by Dash's wrapper)."""

OPEN_PATHS = ("/login", "/api/health", "/assets/")
"""Paths served without an identity in mode accounts (the sign-in page and
its style sheet, the health probe)."""
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

F = TypeVar("F", bound=Callable[..., Any])


def writes(action: Action) -> Callable[[F], F]:
    """Mark a Dash callback as a write doing ``action``: the server refuses
    it before it runs when the request's identity may not (see `install`)."""
    def mark(func: F) -> F:
        setattr(func, ACTION_ATTR, action)
        return func
    return mark


def settings() -> AuthSettings:
    """The deployment's authentication settings (mode none without an app)."""
    if has_request_context() or has_app_context():
        return current_app.config.get(SETTINGS_KEY) or AuthSettings()
    return AuthSettings()


def _nobody(mode: AuthSettings) -> Identity:
    if mode.mode is AuthMode.NONE:
        return Identity("", mode.none_role, AuthMode.NONE, False)
    return Identity("", mode.default_role, mode.mode, False)


def current_identity() -> Identity:
    """The identity of the current request (outside one: the mode's nobody)."""
    if has_request_context() and "relphot_identity" in g:
        return g.relphot_identity
    return _nobody(settings())


def require(action: Action, *, owner: str | None = None) -> Identity:
    """`relphot_core.identity.check` of the current request's identity.

    Raises
    ------
    relphot_core.identity.AuthError
        NotAuthenticated or Forbidden: the message says why.
    """
    return check(current_identity(), action, owner=owner)


def signed_name(identity: Identity, typed: Any) -> str:
    """The name a write is stored with: the signed-in user's, else the typed one."""
    return identity.name if identity.signs_reviews else " ".join(str(typed or "").split())


def callback_action(app: Any, output: str) -> Action | None:
    """The action of the callback writing ``output`` (None: it does not write)."""
    callback = app.callback_map.get(output, {}).get("callback")
    return getattr(callback, ACTION_ATTR, None)


def check_callback(app: Any, output: str) -> None:
    """Refuse (HTTP 401/403) a write callback the request's identity may not run."""
    from flask import abort

    action = callback_action(app, output)
    if action is None:
        return
    try:
        require(action)
    except AuthError as exc:
        LOG.warning("refused %s by %s from %s: %s", action.value, current_identity().name or "nobody",
                    request.remote_addr, exc)
        abort(exc.status, str(exc))


# ------------------------------------------------------------ identity per request
def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _token_identity(token: str, mode: AuthMode) -> Identity:
    user = get_store().token_user(token_digest(token))
    if user is None:
        raise NotAuthenticated(None, "unknown or revoked API token")
    return Identity(user.name, user.role, mode, True)


def _session_identity() -> Identity | None:
    from flask_login import current_user

    if current_user is not None and getattr(current_user, "is_authenticated", False):
        return Identity(current_user.name, current_user.role, AuthMode.ACCOUNTS, True)
    return None


def _origin_allowed(config: AuthSettings) -> bool:
    """A browser's write comes from this server's pages (or an allowed origin)."""
    if request.headers.get("Sec-Fetch-Site", "") == "cross-site":
        return False
    origin = request.headers.get("Origin")
    if origin is None:  # not a browser's cross-site request (browsers send Origin with every POST)
        return True
    own = f"{request.scheme}://{request.host}"
    parts = urlsplit(origin)
    return origin.rstrip("/") in (own, *config.allowed_origins) or (
        parts.netloc == request.host and parts.scheme in ("http", "https"))


def _refuse(status: int, text: str) -> Response:
    if request.path.startswith("/api/") or request.method != "GET":
        return Response(text + "\n", status=status, mimetype="text/plain")
    return Response(_page("Not allowed", f"<p>{html_text.escape(text)}</p>"), status=status, mimetype="text/html")


def _resolve() -> BaseResponse | None:
    """Set ``g.relphot_identity``, or answer the request with a refusal."""
    config: AuthSettings = current_app.config[SETTINGS_KEY]
    if request.method in UNSAFE_METHODS and not _origin_allowed(config):
        return _refuse(403, "cross-site write refused (its Origin is not this dashboard)")
    if config.mode is AuthMode.NONE:
        g.relphot_identity = _nobody(config)
        return None
    token = _bearer()
    try:
        if config.mode is AuthMode.PROXY:
            if request.path == "/api/health":
                g.relphot_identity = _nobody(config)
                return None
            if token:  # a script's token, through the proxy like everything else
                check_trusted_proxy(config, request.remote_addr)
                g.relphot_identity = _token_identity(token, AuthMode.PROXY)
            else:
                g.relphot_identity = proxy_identity(config, request.remote_addr, request.headers)
            return None
        found = _token_identity(token, AuthMode.ACCOUNTS) if token else _session_identity()
    except AuthError as exc:
        LOG.warning("refused %s %s from %s: %s", request.method, request.path, request.remote_addr, exc)
        return _refuse(exc.status, str(exc))
    g.relphot_identity = found or _nobody(config)
    if found is None and not request.path.startswith(OPEN_PATHS):
        if request.method == "GET" and not request.path.startswith(("/api/", "/download/", "/_dash", "/metrics")):
            return redirect(f"/login?next={request.full_path.rstrip('?')}")
        return _refuse(401, "sign in first (or send an API token: Authorization: Bearer ...)")
    return None


# ------------------------------------------------------------ accounts: sign in and out
class _User:
    """What Flask-Login keeps of a signed-in user (read again each request:
    a changed role or a removed user takes effect at once)."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, user_id: int, name: str, role: Any) -> None:
        self.id, self.name, self.role = user_id, name, role

    def get_id(self) -> str:
        return str(self.id)


def _page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>relphot QC — {title}</title>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            "<link rel='stylesheet' href='/assets/style.css'></head><body>"
            "<header class='navbar'><a class='brand' href='/'><span class='brand-name'>relphot</span>"
            "<span class='brand-qc'> QC</span></a></header>"
            f"<main class='container'><div class='card login-card'><h1>{title}</h1>{body}</div></main>"
            "</body></html>")


def _login_form(message: str = "", name: str = "", next_url: str = "/") -> str:
    note = f"<p class='msg msg-error' id='login-error'>{html_text.escape(message)}</p>" if message else ""
    return _page("Sign in", f"""{note}
<form method='post' action='/login' class='login-form'>
<input type='hidden' name='next' value='{html_text.escape(next_url)}'>
<label>User name <input type='text' name='username' id='login-username' autocomplete='username' required
 value='{html_text.escape(name)}' maxlength='128'></label>
<label>Password <input type='password' name='password' id='login-password' autocomplete='current-password'
 required></label>
<button type='submit' class='btn btn-confirm' id='login-submit'>Sign in</button>
</form>
<p class='muted'>Accounts are made by an administrator: <code>relphot users add NAME --role reviewer</code>.</p>""")


def _safe_next(value: str | None) -> str:
    value = str(value or "/")
    return value if value.startswith("/") and not value.startswith("//") else "/"


def _install_accounts(server: Flask, config: AuthSettings) -> None:
    from flask_login import LoginManager, login_user, logout_user

    server.secret_key = config.secret_key
    server.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                         SESSION_COOKIE_SECURE=config.cookie_secure, SESSION_COOKIE_NAME="relphot_session",
                         PERMANENT_SESSION_LIFETIME=12 * 3600)
    manager = LoginManager()
    manager.init_app(server)
    throttle = server.config[THROTTLE_KEY] = LoginThrottle(config.max_failures, config.lockout_seconds)

    @manager.user_loader
    def load_user(user_id: str) -> _User | None:
        try:
            user = get_store().user_by_id(int(user_id))
        except (TypeError, ValueError):
            return None
        return None if user is None else _User(user.id, user.name, user.role)

    def sign_in() -> BaseResponse:
        next_url = _safe_next(request.values.get("next"))
        if request.method == "GET":
            return Response(_login_form(next_url=next_url), mimetype="text/html")
        name = " ".join(str(request.form.get("username") or "").split())[:128]
        password = str(request.form.get("password") or "")
        keys = (f"user:{name.lower()}", f"addr:{request.remote_addr}")
        wait = throttle.wait(keys)
        if wait > 0:
            LOG.warning("sign-in throttled for %r from %s", name, request.remote_addr)
            return Response(_login_form(f"Too many failed sign-ins: try again in {int(wait) + 1} s.", name,
                                        next_url), status=429, mimetype="text/html")
        user = get_store().user(name) if name else None
        if user is None or not verify_password(user.password_hash, password):
            throttle.failed(keys)
            LOG.warning("failed sign-in for %r from %s", name, request.remote_addr)
            return Response(_login_form("Wrong user name or password.", name, next_url), status=401,
                            mimetype="text/html")
        throttle.succeeded(keys)
        from flask import session

        session.clear()  # no session fixation: a fresh session for the signed-in user
        session.permanent = True
        login_user(_User(user.id, user.name, user.role))
        LOG.info("%s signed in from %s", user.name, request.remote_addr)
        return redirect(next_url)

    def sign_out() -> BaseResponse:
        logout_user()
        from flask import session

        session.clear()
        return redirect("/login")

    server.add_url_rule("/login", "relphot_login", sign_in, methods=["GET", "POST"])
    server.add_url_rule("/logout", "relphot_logout", sign_out, methods=["POST"])


def install(server: Flask, config: AuthSettings) -> None:
    """Resolve an identity for every request of ``server`` in the mode of
    ``config`` and refuse cross-site writes (see the module's docstring).

    Raises
    ------
    relphot_core.errors.ConfigError
        Settings that cannot serve (`AuthSettings.problem`).
    """
    from relphot_core.errors import ConfigError

    problem = config.problem()
    if problem:
        raise ConfigError("auth", problem)
    server.config[SETTINGS_KEY] = config
    server.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    if config.mode is AuthMode.ACCOUNTS:
        _install_accounts(server, config)
    server.before_request(_resolve)
