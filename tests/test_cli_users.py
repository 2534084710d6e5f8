"""``relphot users``: accounts and tokens from the command line, no secret echoed."""
from __future__ import annotations

import subprocess
import sys

from relphot_core.identity import token_digest, verify_password
from relphot_core.store import Store

PASSWORD = "correct horse battery staple"


def relphot(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "relphot_core.cli", *args], input=stdin, capture_output=True,
                          text=True, timeout=120)


def test_users_add_role_list_token_revoke(tmp_path):
    db = f"sqlite:///{tmp_path / 'store.db'}"
    Store.open(db).close()
    added = relphot("users", "add", "alice", "--role", "reviewer", "--password-stdin", "--db", db,
                    stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert relphot("users", "add", "bot", "--role", "viewer", "--no-password", "--db", db).returncode == 0
    again = relphot("users", "add", "alice", "--role", "lead", "--password-stdin", "--db", db, stdin=PASSWORD)
    assert again.returncode == 2 and "user alice exists already" in again.stderr
    short = relphot("users", "add", "carol", "--role", "lead", "--password-stdin", "--db", db, stdin="short\n")
    assert short.returncode == 2 and "at least 10 characters" in short.stderr
    assert relphot("users", "role", "alice", "lead", "--db", db).returncode == 0
    listed = relphot("users", "list", "--db", db)
    assert "alice" in listed.stdout and "lead" in listed.stdout and "bot" in listed.stdout
    token_run = relphot("users", "token", "bot", "--label", "nightly", "--db", db)
    assert token_run.returncode == 0
    token = token_run.stdout.strip()
    assert token.startswith("relphot_") and "shown once" in token_run.stderr
    with Store.open(db) as store:
        assert verify_password(store.user("alice").password_hash, PASSWORD)
        assert store.token_user(token_digest(token)).name == "bot"
        token_id = int(store.tokens()["id"].iloc[0])
    tokens = relphot("users", "tokens", "--db", db)
    assert "nightly" in tokens.stdout and "active" in tokens.stdout and token not in tokens.stdout
    assert relphot("users", "revoke-token", str(token_id), "--db", db).returncode == 0
    assert "revoked" in relphot("users", "tokens", "--db", db).stdout
    twice = relphot("users", "revoke-token", str(token_id), "--db", db)
    assert twice.returncode == 2 and "revoked already" in twice.stderr
    assert relphot("users", "remove", "bot", "--db", db).returncode == 0
    missing = relphot("users", "role", "bot", "viewer", "--db", db)
    assert missing.returncode == 2 and "no user bot" in missing.stderr
    everything = "".join(r.stdout + r.stderr for r in (added, again, short, listed, tokens, twice))
    assert PASSWORD not in everything and "argon2" not in everything and token_digest(token) not in everything
