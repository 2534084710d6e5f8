"""Roles, actions, identities and authentication settings (relphot_core.identity)."""
from __future__ import annotations

import doctest

import pytest

import relphot_core.identity as identity_module
from relphot_core.config import load_config
from relphot_core.errors import ConfigError
from relphot_core.identity import (
    ANONYMOUS,
    MINIMUM_ROLE,
    ROLES,
    Action,
    AuthMode,
    AuthSettings,
    Forbidden,
    Identity,
    LoginThrottle,
    NotAuthenticated,
    Role,
    check,
    hash_password,
    is_loopback,
    new_token,
    proxy_identity,
    token_digest,
    verify_password,
)


def who(role: Role, name: str = "alice", mode: AuthMode = AuthMode.ACCOUNTS) -> Identity:
    return Identity(name, role, mode, True)


def test_the_examples_run():
    assert doctest.testmod(identity_module, optionflags=doctest.ELLIPSIS).failed == 0


@pytest.mark.parametrize("action, allowed", [
    (Action.VIEW, {Role.VIEWER, Role.REVIEWER, Role.LEAD, Role.ADMIN}),
    (Action.REVIEW, {Role.REVIEWER, Role.LEAD, Role.ADMIN}),
    (Action.REVOKE_OWN, {Role.REVIEWER, Role.LEAD, Role.ADMIN}),
    (Action.REVOKE_ANY, {Role.LEAD, Role.ADMIN}),
    (Action.CHANGE_PROBLEM, {Role.LEAD, Role.ADMIN}),
    (Action.PIN_RUN, {Role.LEAD, Role.ADMIN}),
    (Action.MANAGE_USERS, {Role.ADMIN}),
])
def test_each_role_may_do_its_actions_and_no_more(action, allowed):
    for role in ROLES:
        if role in allowed:
            assert check(who(role), action).role is role
        else:
            with pytest.raises(Forbidden, match=f"may not {action.value}: a {MINIMUM_ROLE[action].value} may"):
                check(who(role), action)


def test_revoking_another_reviewers_batch_needs_a_lead():
    assert check(who(Role.REVIEWER), Action.REVOKE_OWN, owner="alice").name == "alice"
    with pytest.raises(Forbidden, match="another's batch \\(bob's\\): a lead may"):
        check(who(Role.REVIEWER), Action.REVOKE_OWN, owner="bob")
    assert check(who(Role.LEAD), Action.REVOKE_OWN, owner="bob").name == "alice"


def test_nobody_signed_in_is_401_where_the_mode_needs_it():
    with pytest.raises(NotAuthenticated) as caught:
        check(None, Action.REVIEW)
    assert caught.value.status == 401
    with pytest.raises(NotAuthenticated):
        check(Identity("", Role.ADMIN, AuthMode.PROXY, False), Action.VIEW)
    # mode none: the configured role decides, typed names are not owners
    typed = Identity("", Role.LEAD, AuthMode.NONE, False)
    assert check(typed, Action.REVOKE_OWN, owner="bob") is typed
    with pytest.raises(Forbidden) as caught:
        check(ANONYMOUS, Action.REVIEW)
    assert caught.value.status == 403


def test_settings_from_the_environment_over_the_file(tmp_path):
    path = tmp_path / "relphot.toml"
    path.write_text('[thresholds]\nfail = 0.02\n[auth]\nmode = "proxy"\ntrusted_proxies = ["10.0.0.0/8"]\n'
                    'groups_header = "X-Forwarded-Groups"\ngroup_roles = { qc-leads = "lead" }\n')
    settings = AuthSettings.load(path, environ={"RELPHOT_AUTH_TRUSTED_PROXIES": "127.0.0.1, ::1"})
    assert settings.mode is AuthMode.PROXY
    assert [str(n) for n in settings.trusted_proxies] == ["127.0.0.1/32", "::1/128"]
    assert settings.group_roles == {"qc-leads": Role.LEAD}
    assert settings.problem() is None
    assert load_config(path).thresholds.fail == 0.02  # the processing configuration skips [auth]
    assert AuthSettings.load(None, environ={}).mode is AuthMode.NONE
    env = {"RELPHOT_AUTH": "accounts", "RELPHOT_SECRET_KEY": "k" * 32, "RELPHOT_AUTH_GROUP_ROLES": "a=admin,b=viewer"}
    loaded = AuthSettings.load(None, environ=env)
    assert loaded.mode is AuthMode.ACCOUNTS and loaded.problem() is None
    assert loaded.group_roles == {"a": Role.ADMIN, "b": Role.VIEWER}


@pytest.mark.parametrize("env, message", [
    ({"RELPHOT_AUTH": "ldap"}, "auth.mode must be one of none, proxy, accounts"),
    ({"RELPHOT_AUTH_DEFAULT_ROLE": "boss"}, "role must be one of viewer, reviewer, lead, admin"),
    ({"RELPHOT_AUTH_TRUSTED_PROXIES": "10.0.0.300"}, "is not an address or network"),
    ({"RELPHOT_AUTH_MAX_FAILURES": "0"}, "auth.max_failures must be > 0"),
    ({"RELPHOT_AUTH_COOKIE_SECURE": "maybe"}, "auth.cookie_secure must be true or false"),
])
def test_bad_settings_are_refused_naming_them(env, message):
    with pytest.raises(ConfigError, match=message):
        AuthSettings.load(None, environ=env)


def test_modes_that_cannot_serve_say_why():
    assert "trusted_proxies" in AuthSettings(mode=AuthMode.PROXY).problem()
    assert "RELPHOT_SECRET_KEY" in AuthSettings(mode=AuthMode.ACCOUNTS).problem()
    assert AuthSettings().problem() is None


def test_loopback_addresses():
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "10.1.2.3", "example.org", "::"))


def test_proxy_identity_only_from_trusted_addresses():
    settings = AuthSettings.from_mapping({
        "mode": "proxy", "trusted_proxies": "127.0.0.1", "groups_header": "X-Forwarded-Groups",
        "group_roles": "qc=reviewer,qc-leads=lead", "role_header": "X-Relphot-Role"})
    alice = proxy_identity(settings, "127.0.0.1", {"X-Forwarded-User": " alice ", "X-Forwarded-Groups": "x, qc"})
    assert alice == Identity("alice", Role.REVIEWER, AuthMode.PROXY, True)
    lead = proxy_identity(settings, "127.0.0.1", {"X-Forwarded-User": "bo", "X-Forwarded-Groups": "qc,qc-leads"})
    assert lead.role is Role.LEAD
    assert proxy_identity(settings, "127.0.0.1", {"X-Forwarded-User": "c", "X-Relphot-Role": "admin"}).role \
        is Role.ADMIN
    assert proxy_identity(settings, "127.0.0.1", {"X-Forwarded-User": "d"}).role is Role.VIEWER
    with pytest.raises(Forbidden, match="not a trusted proxy"):
        proxy_identity(settings, "127.0.0.2", {"X-Forwarded-User": "alice"})
    with pytest.raises(NotAuthenticated, match="no user"):
        proxy_identity(settings, "127.0.0.1", {})


def test_passwords_are_argon2_hashes():
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$") and "correct" not in stored
    assert verify_password(stored, "correct horse battery")
    assert not verify_password(stored, "wrong horse battery")
    assert not verify_password(None, "anything at all")
    assert not verify_password("not a hash", "anything at all")
    with pytest.raises(ValueError, match="at least 10 characters"):
        hash_password("short")


def test_tokens_are_random_and_stored_as_digests():
    first, second = new_token(), new_token()
    assert first != second and len(first) > 40
    assert token_digest(first) == token_digest(first) != token_digest(second)
    assert first not in token_digest(first)


def test_throttle_counts_failures_per_key_and_forgets_them():
    throttle = LoginThrottle(max_failures=3, window=100.0)
    keys = ("user:alice", "addr:10.0.0.1")
    for t in range(3):
        assert throttle.wait(keys, now=float(t)) == 0.0
        throttle.failed(keys, now=float(t))
    assert throttle.wait(("user:alice",), now=10.0) == pytest.approx(90.0)
    assert throttle.wait(("addr:10.0.0.1", "user:bob"), now=10.0) == pytest.approx(90.0)
    assert throttle.wait(("user:bob",), now=10.0) == 0.0
    assert throttle.wait(keys, now=101.0) == 0.0  # the window has passed
    throttle.failed(keys, now=200.0)
    throttle.succeeded(keys)
    assert throttle.wait(keys, now=200.0) == 0.0
