"""Identity over real HTTP (issue 19): every write without an identity is
refused (401/403), the proxy's header only from the proxy's address, API
tokens until revoked, sign-in throttled, cross-site writes refused, and no
secret in the logs."""
from __future__ import annotations

import logging
import subprocess
import sys
from urllib.parse import urlencode

import pytest

from identity_fixtures import (PASSWORD, SECRET, fail_row, revoke_body, serve_mode,  # noqa: F401  (fixture)
                               triage_review_body)
from relphot_core.identity import new_token, token_digest

ACCOUNTS = {"mode": "accounts", "secret_key": SECRET, "max_failures": 3, "lockout_seconds": 60}
PROXY = {"mode": "proxy", "trusted_proxies": "127.0.0.1", "groups_header": "X-Forwarded-Groups",
         "group_roles": "qc=reviewer,qc-leads=lead"}


def test_accounts_every_write_and_read_without_identity_is_refused(serve_mode):
    served = serve_mode(**ACCOUNTS)
    status, headers, _ = served.request("GET", "/triage")
    assert status == 302 and headers["location"].startswith("/login?next=/triage")
    assert served.request("GET", "/api/observations")[0] == 401
    assert served.request("GET", "/download/csv")[0] == 401
    assert served.request("POST", "/_dash-update-component", triage_review_body(served.app, [fail_row()]))[0] == 401
    assert served.request("POST", "/_dash-update-component", revoke_body(served.app, 1))[0] == 401
    assert served.request("GET", "/api/health")[0] == 200
    status, _, page = served.request("GET", "/login")
    assert status == 200 and "id='login-password'" in page
    assert served.store.reviews().empty


def test_accounts_a_viewer_is_refused_a_reviewer_signs_the_review(serve_mode):
    served = serve_mode(**ACCOUNTS)
    status, cookie = served.sign_in("vic")
    assert status == 302 and cookie
    refused = served.request("POST", "/_dash-update-component", triage_review_body(served.app, [fail_row()]),
                             headers={"Cookie": cookie})
    assert refused[0] == 403 and "vic (viewer) may not review" in refused[2]
    assert served.store.reviews().empty
    _, cookie = served.sign_in("alice")
    status, _, text = served.request("POST", "/_dash-update-component",
                                     triage_review_body(served.app, [fail_row()], reviewer="Mallory"),
                                     headers={"Cookie": cookie, "Origin": served.url})
    assert status == 200 and "confirmed by alice" in text
    stored = served.store.reviews().iloc[-1]
    assert (stored["reviewer"], stored["auth_mode"]) == ("alice", "accounts")
    # sign out: the browser's session is emptied, its next page asks to sign in
    status, headers, _ = served.request("POST", "/logout", headers={"Cookie": cookie, "Origin": served.url})
    assert status == 302 and headers["location"].endswith("/login")
    after = next(c for c in headers["set-cookie-all"] if c.startswith("relphot_session=")).split(";")[0]
    assert after != cookie
    assert served.request("GET", "/triage", headers={"Cookie": after})[0] == 302


def test_accounts_session_cookie_is_httponly_samesite_and_secure_when_asked(serve_mode):
    served = serve_mode(**ACCOUNTS, cookie_secure=True)
    status, headers, _ = served.request("POST", "/login", urlencode({"username": "alice", "password": PASSWORD}))
    assert status == 302
    line = next(c for c in headers["set-cookie-all"] if c.startswith("relphot_session="))
    assert "HttpOnly" in line and "SameSite=Lax" in line and "Secure" in line
    assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"


def test_reviewer_cannot_revoke_anothers_batch_a_lead_can(serve_mode):
    served = serve_mode(**ACCOUNTS)
    _, alice = served.sign_in("alice")
    assert served.request("POST", "/_dash-update-component", triage_review_body(served.app, [fail_row()]),
                          headers={"Cookie": alice})[0] == 200
    batch = int(served.store.review_batches()["batch_id"].iloc[-1])
    _, bob = served.sign_in("bob")
    status, _, text = served.request("POST", "/_dash-update-component", revoke_body(served.app, batch),
                                     headers={"Cookie": bob})
    assert status == 200 and "bob (reviewer) may not revoke another's batch (alice's)" in text
    assert served.store.review_batches()["revoked_at"].isna().all()
    _, lea = served.sign_in("lea")
    status, _, text = served.request("POST", "/_dash-update-component", revoke_body(served.app, batch, by="x"),
                                     headers={"Cookie": lea})
    assert status == 200 and f"Revoked batch {batch}" in text
    assert served.store.review_batches()[["revoked_by", "revoked_auth_mode"]].values.tolist() == [["lea",
                                                                                                   "accounts"]]


def test_a_token_works_for_the_api_until_revoked(serve_mode):
    served = serve_mode(**ACCOUNTS)
    token = new_token()
    token_id = served.store.add_token("vic", token_digest(token), "script")
    bearer = {"Authorization": f"Bearer {token}"}
    status, _, text = served.request("GET", "/api/observations", headers=bearer)
    assert status == 200 and "1052" in text
    assert served.request("GET", "/api/observations", headers={"Authorization": f"Bearer {new_token()}"})[0] == 401
    # a viewer's token cannot write either
    assert served.request("POST", "/_dash-update-component", triage_review_body(served.app, [fail_row()]),
                          headers=bearer)[0] == 403
    served.store.revoke_token(token_id)
    assert served.request("GET", "/api/observations", headers=bearer)[0] == 401


def test_repeated_wrong_passwords_are_throttled_and_the_logs_hold_no_secret(serve_mode, caplog):
    served = serve_mode(**ACCOUNTS)
    token = new_token()
    served.store.add_token("alice", token_digest(token))
    caplog.set_level(logging.DEBUG)
    for attempt in range(3):
        assert served.sign_in("alice", f"wrong password {attempt}")[0] == 401
    status, cookie = served.sign_in("alice")  # the right password, too late
    assert status == 429 and cookie is None
    assert served.sign_in("lea")[0] == 429  # the same address is throttled too
    served.request("GET", "/api/observations", headers={"Authorization": f"Bearer {token}"})
    served.request("GET", "/api/observations", headers={"Authorization": "Bearer relphot_not-a-token"})
    logs = caplog.text
    assert "failed sign-in for 'alice'" in logs and "throttled" in logs
    for secret in (PASSWORD, "wrong password", token, token_digest(token), "argon2", SECRET, "not-a-token"):
        assert secret not in logs


def test_proxy_identity_only_from_the_trusted_address(serve_mode):
    served = serve_mode(**PROXY)
    alice = {"X-Forwarded-User": "alice", "X-Forwarded-Groups": "qc"}
    status, _, _ = served.request("GET", "/api/observations", headers=alice, source="127.0.0.1")
    assert status == 200
    status, _, text = served.request("GET", "/api/observations", headers=alice, source="127.0.0.2")
    assert status == 403 and "not a trusted proxy" in text
    assert served.request("GET", "/triage", source="127.0.0.2")[0] == 403
    assert served.request("GET", "/api/observations", source="127.0.0.1")[0] == 401  # the proxy passed nobody
    # writes: untrusted address, no user, a viewer: refused; a reviewer's is signed with the header's user
    body = triage_review_body(served.app, [fail_row()], reviewer="Mallory")
    assert served.request("POST", "/_dash-update-component", body, headers=alice, source="127.0.0.2")[0] == 403
    assert served.request("POST", "/_dash-update-component", body, source="127.0.0.1")[0] == 401
    assert served.request("POST", "/_dash-update-component", body,
                          headers={"X-Forwarded-User": "vic"})[0] == 403
    status, _, text = served.request("POST", "/_dash-update-component", body, headers=alice)
    assert status == 200 and "confirmed by alice" in text
    assert served.store.reviews()[["reviewer", "auth_mode"]].values.tolist() == [["alice", "proxy"]]
    # a script's token goes through the proxy too
    token = new_token()
    served.store.add_token("vic", token_digest(token))
    bearer = {"Authorization": f"Bearer {token}"}
    assert served.request("GET", "/api/observations", headers=bearer, source="127.0.0.1")[0] == 200
    assert served.request("GET", "/api/observations", headers=bearer, source="127.0.0.2")[0] == 403


def test_cross_site_writes_are_refused(serve_mode):
    served = serve_mode()  # mode none: anyone may review, but not from another site's page
    body = triage_review_body(served.app, [fail_row()], reviewer="carol")
    status, _, text = served.request("POST", "/_dash-update-component", body,
                                     headers={"Origin": "http://evil.example"})
    assert status == 403 and "cross-site" in text
    assert served.request("POST", "/_dash-update-component", body, headers={"Sec-Fetch-Site": "cross-site"})[0] \
        == 403
    assert served.store.reviews().empty
    status, _, text = served.request("POST", "/_dash-update-component", body, headers={"Origin": served.url})
    assert status == 200 and "confirmed by carol" in text
    assert served.store.reviews()[["reviewer", "auth_mode"]].values.tolist() == [["carol", "none"]]


def test_a_stale_review_is_refused_naming_who_changed_it(serve_mode):
    served = serve_mode(**PROXY)
    alice = {"X-Forwarded-User": "alice", "X-Forwarded-Groups": "qc"}
    bob = {"X-Forwarded-User": "bob", "X-Forwarded-Groups": "qc"}
    assert served.request("POST", "/_dash-update-component", triage_review_body(served.app, [fail_row()]),
                          headers=alice)[0] == 200
    # bob's page was loaded before alice's review: it shows no review
    status, _, text = served.request("POST", "/_dash-update-component",
                                     triage_review_body(served.app, [fail_row(None)], "overruled"), headers=bob)
    assert status == 200 and "was confirmed by alice at" in text and "Reload the page" in text
    assert served.store.reviews()["reviewer"].tolist() == ["alice"]


@pytest.mark.parametrize("host", ["0.0.0.0", "10.11.12.13"])
def test_serve_refuses_mode_none_off_loopback(host, tmp_path):
    db = tmp_path / "s.db"
    from relphot_core.store import Store

    Store.open(f"sqlite:///{db}").close()
    result = subprocess.run([sys.executable, "-m", "relphot_core.cli", "serve", "--db", str(db), "--host", host,
                             "--port", "1"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "auth mode none serves only on loopback" in result.stderr and len(result.stderr.splitlines()) == 1
    result = subprocess.run([sys.executable, "-m", "relphot_core.cli", "serve", "--db", str(db), "--auth", "proxy"],
                            capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin"})
    assert result.returncode == 2 and "needs trusted_proxies" in result.stderr
