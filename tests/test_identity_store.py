"""Who reviews, in the store: users and tokens, reviews signed by an
identity and checked against the state they were made on, the 0007
migration (SQLite, and PostgreSQL when $RELPHOT_TEST_PG_URL is set)."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import inspect, text

from relphot_core import reviews
from relphot_core.identity import (Action, AuthMode, Forbidden, Identity, Role, check, hash_password, new_token,
                                   token_digest, verify_password)
from relphot_core.reviews import StaleReviewError
from relphot_core.store import Store
from relphot_core.testing.synth import make_result
from store_fixtures import store, store_url  # noqa: F401  (fixtures)

KEY = (1052, "NIR_H", 3)


@pytest.fixture
def survey(store):
    store.save_results([make_result(1052, "NIR_H", values=[1.0, 1.0, 0.974, 1.0], mjd_start=60001.0)])
    return store


def test_users_roles_and_no_hash_listed(store):
    store.add_user("alice", "reviewer", hash_password("alice's long password"))
    store.add_user(" bob  lead ", Role.LEAD)
    with pytest.raises(ValueError, match="user alice exists already"):
        store.add_user("alice", "viewer")
    with pytest.raises(Exception, match="role must be one of"):
        store.add_user("carol", "boss")
    alice = store.user("alice")
    assert alice.role is Role.REVIEWER and verify_password(alice.password_hash, "alice's long password")
    store.set_user_role("alice", "lead")
    assert store.user("alice").role is Role.LEAD and store.user_by_id(alice.id).name == "alice"
    users = store.users()
    assert users[["name", "role", "has_password"]].values.tolist() == [["alice", "lead", True],
                                                                       ["bob lead", "lead", False]]
    assert "argon2" not in users.to_csv()
    store.remove_user("bob lead")
    assert store.user("bob lead") is None
    with pytest.raises(KeyError, match="no user nobody"):
        store.set_user_role("nobody", "viewer")


def test_tokens_work_until_revoked(store):
    store.add_user("script", "viewer")
    token = new_token()
    token_id = store.add_token("script", token_digest(token), "nightly export")
    assert store.token_user(token_digest(token)).name == "script"
    assert store.token_user(token_digest(new_token())) is None
    listed = store.tokens("script")
    assert listed[["id", "user", "label"]].values.tolist() == [[token_id, "script", "nightly export"]]
    assert token not in listed.to_csv() and token_digest(token) not in listed.to_csv()
    store.revoke_token(token_id)
    assert store.token_user(token_digest(token)) is None
    with pytest.raises(ValueError, match="revoked already"):
        store.revoke_token(token_id)
    assert store.users()["active_tokens"].tolist() == [0]


def test_a_review_is_signed_by_the_identity_with_its_mode(survey):
    alice = Identity("alice", Role.REVIEWER, AuthMode.ACCOUNTS, True)
    batch = reviews.submit(survey, [KEY], "confirmed", "Mallory", identity=alice)
    row = survey.reviews().iloc[-1]
    assert (row["reviewer"], row["auth_mode"], row["batch_id"]) == ("alice", "accounts", batch)
    typed = Identity("", Role.LEAD, AuthMode.NONE, False)
    reviews.submit(survey, [(1052, "NIR_H", 1)], "confirmed", "Anyone", identity=typed)
    assert survey.reviews().iloc[-1][["reviewer", "auth_mode"]].tolist() == ["Anyone", "none"]
    viewer = Identity("vic", Role.VIEWER, AuthMode.PROXY, True)
    with pytest.raises(Forbidden, match="vic \\(viewer\\) may not review"):
        reviews.submit(survey, [KEY], "confirmed", "vic", identity=viewer)
    assert len(survey.reviews()) == 2


def test_a_reviewer_revokes_only_their_batch_a_lead_anyones(survey):
    alice = Identity("alice", Role.REVIEWER, AuthMode.PROXY, True)
    bob = Identity("bob", Role.REVIEWER, AuthMode.PROXY, True)
    lead = Identity("lea", Role.LEAD, AuthMode.PROXY, True)
    first = reviews.submit(survey, [KEY], "confirmed", "", identity=alice)
    with pytest.raises(Forbidden, match="bob \\(reviewer\\) may not revoke another's batch \\(alice's\\)"):
        reviews.revoke(survey, first, "", identity=bob)
    assert reviews.revoke(survey, first, "typed", identity=lead) == 1
    batches = survey.review_batches()
    assert batches[["revoked_by", "revoked_auth_mode"]].values.tolist() == [["lea", "proxy"]]
    second = reviews.submit(survey, [KEY], "confirmed", "", identity=bob)
    assert reviews.revoke(survey, second, "", identity=bob) == 1
    with pytest.raises(ValueError, match="revoked already by bob at"):
        reviews.revoke(survey, second, "", identity=lead)


def test_a_review_made_on_a_stale_state_is_refused_naming_who_changed_it(survey):
    seen = int(survey.exposure_table().set_index(["obs_id", "filter", "exposure"])["review_id"].isna().sum())
    assert seen == 4  # nothing reviewed yet: every review_id is missing
    alice = Identity("alice", Role.REVIEWER, AuthMode.ACCOUNTS, True)
    bob = Identity("bob", Role.REVIEWER, AuthMode.ACCOUNTS, True)
    batch = reviews.submit(survey, [KEY], "confirmed", "", identity=alice, expected={KEY: None})
    with pytest.raises(StaleReviewError,
                       match=r"1052 NIR_H dither 3 was confirmed by alice at 20[-0-9 :]+ UTC\. Reload"):
        reviews.submit(survey, [KEY], "overruled", "", "not a FAIL", identity=bob, expected={KEY: None})
    latest = int(survey.exposure_table()["review_id"].max())
    assert survey.reviews()["reviewer"].tolist() == ["alice"]
    # made against alice's review: accepted
    reviews.submit(survey, [KEY], "overruled", "", "trail", identity=bob, expected={KEY: latest})
    # a revocation in between is named too
    shown = int(survey.exposure_table()["review_id"].max())
    reviews.revoke(survey, int(survey.review_batches()["batch_id"].max()), "", identity=bob)
    with pytest.raises(StaleReviewError, match="the review shown was revoked by bob"):
        reviews.submit(survey, [KEY], "confirmed", "", identity=alice, expected={KEY: shown})
    assert batch == 1


def test_two_simultaneous_contradictory_confirmations_the_second_is_refused(survey, store_url):
    stores = [Store.open(store_url) for _ in range(2)]
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def decide(store: Store, name: str, decision: str) -> None:
        barrier.wait()
        try:
            reviews.submit(store, [KEY], decision, "", "why", identity=Identity(name, Role.REVIEWER,
                                                                                  AuthMode.PROXY, True),
                           expected={KEY: None})
            outcomes.append("stored")
        except StaleReviewError as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=decide, args=(s, n, d)) for s, n, d in
               zip(stores, ("alice", "bob"), ("confirmed", "overruled"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for opened in stores:
        opened.close()
    assert sorted(outcomes)[-1] == "stored" and "changed since this page was loaded" in sorted(outcomes)[0]
    assert len(survey.reviews()) == 1


def test_problems_have_their_action():
    """The problems of issue 18 call this action to acknowledge, ignore or resolve."""
    lead = Identity("lea", Role.LEAD, AuthMode.ACCOUNTS, True)
    assert check(lead, Action.CHANGE_PROBLEM) is lead
    with pytest.raises(Forbidden):
        check(Identity("rev", Role.REVIEWER, AuthMode.ACCOUNTS, True), Action.CHANGE_PROBLEM)


def test_migration_0008_adds_users_and_goes_back(store_url):
    from alembic import command

    from relphot_core.store.engine import make_engine, write_engine
    from relphot_core.store.schema import alembic_config

    engine = make_engine(store_url)
    config = alembic_config()
    with write_engine(engine).begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0006")
        conn.execute(text("INSERT INTO review_batch (created, reviewer, decision, comment, cause, n_reviews) "
                          "VALUES ('2026-01-01 00:00:00', 'old', 'confirmed', '', '', 0)"))
        command.upgrade(config, "0008")
    with engine.connect() as conn:
        assert {"app_user", "api_token"} <= set(inspect(conn).get_table_names())
        assert conn.execute(text("SELECT reviewer, auth_mode FROM review_batch")).one() == ("old", None)
    with write_engine(engine).begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0006")
    with engine.connect() as conn:
        assert "app_user" not in inspect(conn).get_table_names()
        assert "auth_mode" not in {c["name"] for c in inspect(conn).get_columns("review_batch")}
        assert conn.execute(text("SELECT reviewer FROM review_batch")).scalar() == "old"
    engine.dispose()
