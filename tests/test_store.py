"""The store: runs, current values, reviews, queries, schema versions, bad
input. Each test runs on SQLite and, with $RELPHOT_TEST_PG_URL, PostgreSQL."""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from relphot_core.cli import main
from relphot_core.errors import StoreError
from relphot_core.selection import ExposureSelection
from relphot_core.store import Store
from relphot_core.store import writes
from relphot_core.store.models import Base
from relphot_core.testing.synth import fill_survey, make_result
from store_fixtures import store, store_url  # noqa: F401  (fixtures)

TABLES = [t.name for t in Base.metadata.sorted_tables]


def row_counts(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        return {t: conn.execute(select(func.count()).select_from(Base.metadata.tables[t])).scalar() for t in TABLES}


# ------------------------------------------------------------------ round trip
def test_save_and_load_round_trip(store):
    result = make_result(1000, "NIR_H", values=[1.0, 0.97, None, 1.004], n_detectors=4, n_sample=30)
    run_id = store.save_result(result)
    assert isinstance(run_id, int)
    back = store.load_result(1000, "NIR_H")
    assert (back.obs_id, back.filter, back.method) == (1000, "NIR_H", "median")
    assert [e.exposure for e in back.exposures] == [1, 2, 3, 4]
    assert [e.status for e in back.exposures] == [e.status for e in result.exposures] == ["OK", "FAIL", "NODATA", "OK"]
    assert back.exposures[2].value is None and back.exposures[2].error is None
    for got, want in zip(back.exposures, result.exposures):
        if want.value is not None:
            assert got.value == pytest.approx(want.value, rel=1e-12)
            assert got.error == pytest.approx(want.error)
        assert (got.n_pairs, got.n_matched, got.n_kept, got.n_sources) == (
            want.n_pairs, want.n_matched, want.n_kept, want.n_sources)
        assert (got.mjd_obs, got.date_obs, got.exptime, got.file) == (
            want.mjd_obs, want.date_obs, want.exptime, want.file)
    assert len(back.pairs) == 6 and len(back.detectors) == 16 and len(back.samples) == 6
    assert back.pairs[0].median == pytest.approx(result.pairs[0].median)
    assert back.pairs[0].valid is True
    assert back.samples[0].dm == pytest.approx(result.samples[0].dm, abs=1e-5)
    assert back.samples[0].kept.tolist() == result.samples[0].kept.tolist()
    assert back.parameters == result.parameters
    assert back.software_version == "0.1.0"
    assert back.created.tzinfo is not None
    assert abs((back.created - result.created).total_seconds()) < 1e-3
    assert back.input_digest == result.input_digest
    assert (back.mjd_start, back.ra_pointing) == (result.mjd_start, result.ra_pointing)


def test_nan_values_are_stored_as_missing(store):
    result = make_result(1, values=[1.0, 1.001, 0.999, 1.0])
    result.exposures[1].error = float("nan")
    store.save_result(result)
    assert store.load_result(1, "NIR_J").exposures[1].error is None


def test_load_unknown_raises_key_error(store):
    with pytest.raises(KeyError):
        store.load_result(5, "NIR_Y")
    store.save_result(make_result(5, "NIR_Y"))
    with pytest.raises(KeyError):
        store.load_result(5, "NIR_Y", run_id=999)


def test_match_samples_are_small(store):
    store.save_result(make_result(1, n_sample=500))
    with store.engine.connect() as conn:
        size = conn.execute(text("SELECT max(length(data)) FROM match_sample")).scalar()
    raw = len(__import__("json").dumps(make_result(1, n_sample=500).samples[0].to_dict()))
    assert size < 0.6 * raw


# ---------------------------------------------------------- runs and identity
def test_identical_reingest_stores_nothing(store):
    result = make_result(7)
    first = store.save_result(result)
    before = row_counts(store)
    assert store.save_result(make_result(7)) is None
    assert store.save_results([make_result(7), make_result(7)]) == [None, None]
    assert row_counts(store) == before
    assert store.runs(7, "NIR_J")["run_id"].tolist() == [first]


def test_same_inputs_other_parameters_or_method_is_a_new_run(store):
    store.save_result(make_result(7))
    assert store.save_result(make_result(7, parameters={"clipping.sigma": "2.5"})) is not None
    assert store.save_result(make_result(7, method="global")) is not None
    assert len(store.runs(7, "NIR_J")) == 3


def test_results_without_digest_are_idempotent_on_content(store):
    assert store.save_result(make_result(3, input_digest="")) is not None
    assert store.save_result(make_result(3, input_digest="")) is None
    assert store.save_result(make_result(3, input_digest="", seed=1)) is not None
    assert store.load_result(3, "NIR_J").input_digest == ""


def test_recompute_keeps_earlier_runs_and_reviews(store):
    old = store.save_result(make_result(10, values=[1.0, 0.99, 1.0, 1.0], seed=1))
    batch = store.add_review(10, "NIR_J", [2], "confirmed", "alice", "real dip")
    assert store.review_batches()[["batch_id", "n_reviews"]].values.tolist() == [[batch, 1]]
    new = store.save_result(make_result(10, values=[1.0, 0.991, 1.0, 1.0], seed=2))
    runs = store.runs(10, "NIR_J")
    assert runs["run_id"].tolist() == [old, new]
    assert runs["current"].tolist() == [False, True]
    reviews = store.reviews(10, "NIR_J")
    assert reviews[["exposure", "decision", "reviewer", "comment", "run_id", "status"]].values.tolist() == [
        [2, "confirmed", "alice", "real dip", old, "WARN"]]
    table = store.exposure_table()
    row = table[table["exposure"] == 2].iloc[0]
    assert row["run_id"] == new and row["review_decision"] == "confirmed" and row["reviewer"] == "alice"
    assert row["reviewed"]  # same status (WARN) as the one reviewed
    # The old run is still there in full.
    assert store.load_result(10, "NIR_J", run_id=old).exposures[1].value == pytest.approx(0.99)


def test_status_change_on_recompute_reopens_the_review(store):
    store.save_result(make_result(11, values=[1.0, 0.99, 1.0, 1.0], seed=1))
    store.add_review(11, "NIR_J", [2], "overruled", "bob", "")
    assert store.triage_queue().empty
    store.save_result(make_result(11, values=[1.0, 0.95, 1.0, 1.0], seed=2))  # now FAIL
    queue = store.triage_queue()
    assert queue[["obs_id", "exposure", "status", "review_decision"]].values.tolist() == [
        [11, 2, "FAIL", "overruled"]]


def test_pinned_run_stays_current(store):
    first = store.save_result(make_result(20, seed=1))
    second = store.save_result(make_result(20, seed=2))
    assert store.exposure_table()["run_id"].unique().tolist() == [second]
    store.pin_run(first)
    third = store.save_result(make_result(20, seed=3))
    runs = store.runs(20, "NIR_J").set_index("run_id")
    assert runs.loc[first, "pinned"] and runs.loc[first, "current"] and not runs.loc[third, "current"]
    assert store.load_result(20, "NIR_J").exposures[0].value == pytest.approx(
        make_result(20, seed=1).exposures[0].value)
    store.pin_run(second)
    assert store.runs(20, "NIR_J").set_index("run_id")["pinned"].to_dict() == {first: False, second: True, third: False}
    store.unpin(20, "NIR_J")
    assert store.exposure_table()["run_id"].unique().tolist() == [third]
    with pytest.raises(KeyError):
        store.pin_run(12345)
    with pytest.raises(KeyError):
        store.unpin(21, "NIR_J")


def test_data_version_changes_with_every_write(store):
    versions = [store.data_version()]
    first = store.save_result(make_result(1, seed=1))
    versions.append(store.data_version())
    store.save_result(make_result(1, seed=1))  # identical: nothing stored
    assert store.data_version() == versions[-1]
    store.save_result(make_result(1, seed=2))
    versions.append(store.data_version())
    store.add_review(1, "NIR_J", [1], "confirmed", "x", "")
    versions.append(store.data_version())
    store.pin_run(first)
    versions.append(store.data_version())
    assert len(set(versions)) == len(versions)
    store.unpin(1, "NIR_J")  # back to the same current runs as before the pin
    assert store.data_version() == versions[-2]


def test_older_imported_product_does_not_replace_newer_run(store):
    now = datetime.now(timezone.utc)
    fresh = store.save_result(make_result(30, seed=1, created=now))
    imported = store.save_result(make_result(30, seed=2, created=now - timedelta(days=30)), imported=True)
    runs = store.runs(30, "NIR_J").set_index("run_id")
    assert runs.loc[imported, "imported"] and not runs.loc[fresh, "imported"]
    assert runs.loc[fresh, "current"] and not runs.loc[imported, "current"]
    assert runs.loc[fresh, "parameters"] == make_result(30).parameters


def test_portable_upsert_path(store, monkeypatch):
    """The path for databases without ON CONFLICT gives the same store."""
    monkeypatch.setattr(writes, "_upsert", writes.upsert_portable)
    store.save_result(make_result(1, seed=1, mjd_start=60000.0))
    store.save_result(make_result(1, seed=2, mjd_start=60000.5))
    store.save_results([make_result(2, seed=1), make_result(2, seed=2)])
    counts = row_counts(store)
    assert (counts["observation"], counts["exposure"], counts["processing_run"]) == (2, 8, 4)
    table = store.exposure_table(ExposureSelection(obs_range=(1, 1)))
    assert table["mjd_obs"].min() == pytest.approx(60000.5)  # exposure times follow the newer run


# ------------------------------------------------------- failures, no partials
def test_failure_mid_save_leaves_no_rows(store, monkeypatch):
    store.save_result(make_result(1))
    before = row_counts(store)

    def boom(conn, ids):
        raise OperationalError("UPDATE observation", {}, RuntimeError("disk I/O error (injected)"))

    monkeypatch.setattr(writes, "refresh_current", boom)
    with pytest.raises(StoreError, match=r"cannot save observation 2 NIR_J: nothing written .*injected"):
        store.save_result(make_result(2))
    with pytest.raises(StoreError, match="injected"):
        store.save_results([make_result(3), make_result(4)])
    assert row_counts(store) == before


def test_invalid_result_is_refused_whole(store):
    bad = make_result(2)
    bad.exposures[3].status = "MAYBE"
    with pytest.raises(StoreError, match=r"observation 2 NIR_J: exposure 4: unknown status 'MAYBE'"):
        store.save_result(bad)
    dup = make_result(3)
    dup.exposures[1].exposure = 1
    with pytest.raises(StoreError, match="dither numbers repeat"):
        store.save_result(dup)
    assert store.is_empty()


def test_save_results_batches_and_isolates_a_bad_result(store):
    good = [make_result(i) for i in range(1, 6)]
    bad = make_result(99)
    bad.exposures[0].status = "BAD"
    with pytest.raises(StoreError, match="observation 99 NIR_J"):
        store.save_results(good[:3] + [bad] + good[3:], batch_size=10)
    # As a loop of save_result: before the bad one stored, after it not.
    assert sorted(store.observation_table()["obs_id"]) == [1, 2, 3]
    ids = store.save_results(good + [make_result(i, "NIR_Y") for i in range(1, 6)], batch_size=4)
    assert ids[:3] == [None, None, None] and all(isinstance(i, int) for i in ids[3:])
    assert len(set(ids[3:])) == 7
    assert len(store.observation_table()) == 10


# --------------------------------------------------------------------- queries
@pytest.fixture
def small_survey(store):
    results = [
        make_result(101, "NIR_J", values=[1.0, 1.0, 1.0, 1.0], mjd_start=60001.0),
        make_result(102, "NIR_J", values=[1.0, 0.99, 1.0, 1.0], mjd_start=60002.0),
        make_result(103, "NIR_J", values=[1.0, 1.0, None, 0.97], mjd_start=60003.0),
        make_result(102, "NIR_H", values=[1.0, 1.0, 1.0], mjd_start=60002.5),
        make_result(210, "NIR_Y", values=[1.0, 1.0, 1.0, 1.0], mjd_start=60010.0),
    ]
    store.save_results(results)
    return store


def test_exposure_table_columns_and_filters(small_survey):
    store = small_survey
    table = store.exposure_table()
    assert list(table.columns) == [
        "obs_id", "filter", "exposure", "mjd_obs", "date_obs", "value", "error", "status", "reason",
        "n_pairs", "n_matched", "run_id", "method", "review_decision", "reviewer", "review_comment",
        "review_cause", "reviewed_at", "reviewed", "global_value", "crosscheck", "collateral", "detector_flag",
        "detector_reason", "detector_worst", "detector_offset", "detector_offset_error", "review_id"]
    assert len(table) == 19
    assert table["reviewed"].dtype == bool and not table["reviewed"].any()
    assert math.isnan(table[(table.obs_id == 103) & (table.exposure == 3)]["value"].iloc[0])
    q = ExposureSelection
    assert len(store.exposure_table(q(filters=("NIR_J",)))) == 12
    assert store.exposure_table(q(statuses=("FAIL", "NODATA")))[["obs_id", "exposure"]].values.tolist() == [
        [103, 3], [103, 4]]
    assert set(store.exposure_table(q(obs_range=(100, 199)))["obs_id"]) == {101, 102, 103}  # both ends in
    assert set(store.exposure_table(q(obs_range=(101, 101)))["obs_id"]) == {101}
    assert set(store.exposure_table(q(obs_range=(103, 210)))["obs_id"]) == {103, 210}
    # MJD 60002 is 2023-02-27: 'to' keeps that whole UTC day, not the exposure at 00:00 the day after
    assert set(store.exposure_table(q(date_from="2023-02-27", date_to="2023-02-27"))["obs_id"]) == {102}
    assert set(store.exposure_table(q(date_from="2023-02-27", date_to="2023-02-28"))["obs_id"]) == {102, 103}
    assert len(store.exposure_table(limit=5)) == 5
    store.add_review(102, "NIR_J", [2], "confirmed", "carol", "seen")
    reviewed = store.exposure_table(q(reviewed="yes"))
    assert reviewed[["obs_id", "filter", "exposure", "reviewer", "review_comment"]].values.tolist() == [
        [102, "NIR_J", 2, "carol", "seen"]]
    assert isinstance(reviewed["reviewed_at"].iloc[0], datetime)
    assert len(store.exposure_table(q(reviewed="no"))) == 18


def test_observation_table_and_status_counts(small_survey):
    store = small_survey
    obs = store.observation_table()
    assert list(obs.columns) == ["obs_id", "filter", "mjd_start", "mjd_end", "n_exposures", "worst_status",
                                 "n_ok", "n_warn", "n_fail", "n_nodata", "n_reviewed", "run_id"]
    by_key = obs.set_index(["obs_id", "filter"])
    assert by_key.loc[(103, "NIR_J"), ["n_exposures", "n_ok", "n_fail", "n_nodata"]].tolist() == [4, 2, 1, 1]
    assert by_key["worst_status"].to_dict() == {
        (101, "NIR_J"): "OK", (102, "NIR_H"): "OK", (102, "NIR_J"): "WARN", (103, "NIR_J"): "NODATA",
        (210, "NIR_Y"): "OK"}
    assert by_key.loc[(102, "NIR_H"), "n_exposures"] == 3
    flagged = store.observation_table(ExposureSelection(statuses=("WARN", "FAIL")))
    assert flagged[["obs_id", "filter"]].values.tolist() == [[102, "NIR_J"], [103, "NIR_J"]]
    assert store.observation_table(ExposureSelection(date_from="2023-03-06"))["obs_id"].tolist() == [210]
    store.add_review(102, "NIR_J", None, "confirmed", "dan", "")
    assert store.observation_table(ExposureSelection(reviewed="yes"))["n_reviewed"].tolist() == [4]
    assert len(store.observation_table(ExposureSelection(reviewed="no"))) == 4
    counts = store.status_counts()
    assert list(counts.columns) == ["filter", "status", "n_exposures", "n_observations"]
    got = {(r.filter, r.status): (r.n_exposures, r.n_observations) for r in counts.itertuples()}
    assert got == {("NIR_H", "OK"): (3, 1), ("NIR_J", "FAIL"): (1, 1), ("NIR_J", "NODATA"): (1, 1),
                   ("NIR_J", "OK"): (9, 3), ("NIR_J", "WARN"): (1, 1), ("NIR_Y", "OK"): (4, 1)}


def test_trend_and_triage_queue(store):
    # 40 quiet observations, then one that jumps by 0.8% (OK by threshold? no: WARN)
    results = [make_result(i, values=[1.0 + 0.0003 * ((i + d) % 3 - 1) for d in range(4)],
                           mjd_start=60000.0 + i) for i in range(1, 41)]
    results.append(make_result(41, values=[1.0, 1.0, 1.0, 1.004], mjd_start=60041.0))
    store.save_results(results)
    trend = store.trend("NIR_J")
    assert trend["mjd_obs"].is_monotonic_increasing and len(trend) == 164
    for column in ("running_median", "control_low", "control_high", "alarm", "alarm_reason", "alarmed"):
        assert column in trend
    assert trend["alarmed"].dtype == bool
    alarmed = trend[trend["alarmed"]]
    assert alarmed[["obs_id", "exposure"]].values.tolist() == [[41, 4]]
    assert alarmed["alarm"].tolist() == ["outside control limits"]
    assert alarmed["alarm_reason"].iloc[0].startswith("outside control limits: QPRELEX 1.0040 is +")
    assert trend[trend["obs_id"] == 41]["status"].tolist() == ["OK"] * 4
    queue = store.triage_queue()
    assert queue[["obs_id", "exposure"]].values.tolist() == [[41, 4]]
    store.add_reviews([(41, "NIR_J", 4)], "overruled", "erin", "seeing")
    assert store.triage_queue().empty
    only = store.trend("NIR_J", ExposureSelection(obs_range=(41, 41)))
    assert set(only["obs_id"]) == {41} and bool(only["alarmed"].iloc[3])


def test_reviews_validation_and_bulk(small_survey):
    store = small_survey
    with pytest.raises(ValueError, match="decision"):
        store.add_review(101, "NIR_J", None, "maybe", "x", "")
    with pytest.raises(ValueError, match="reviewer"):
        store.add_review(101, "NIR_J", None, "confirmed", " ", "")
    with pytest.raises(KeyError):
        store.add_review(999, "NIR_J", None, "confirmed", "x", "")
    with pytest.raises(KeyError):
        store.add_review(101, "NIR_J", [1, 9], "confirmed", "x", "")
    with pytest.raises(KeyError):
        store.add_reviews([(101, "NIR_J", 1), (101, "NIR_Y", 1)], "confirmed", "x", "")
    assert store.reviews().empty
    with pytest.raises(ValueError, match="cause"):
        store.add_reviews([(101, "NIR_J", 1)], "confirmed", "x", "", cause="gremlins")
    assert store.add_reviews([], "confirmed", "x") is None
    batch = store.add_reviews([(101, "NIR_J", 1), (103, "NIR_J", 4), (102, "NIR_H", 3), (101, "NIR_J", 1)],
                              "confirmed", "f", "ok")
    assert store.review_batches()[["batch_id", "n_reviews", "reviewer"]].values.tolist() == [[batch, 3, "f"]]
    reviews = store.reviews()
    assert list(reviews.columns) == ["id", "obs_id", "filter", "exposure", "decision", "reviewer", "comment",
                                     "created", "run_id", "status", "cause", "flag_kind", "flag_reason",
                                     "batch_id", "revoked_at", "revoked_by", "auth_mode", "revoked_auth_mode"]
    assert reviews["batch_id"].tolist() == [batch] * 3
    assert reviews[["obs_id", "filter", "exposure", "status"]].values.tolist() == [
        [101, "NIR_J", 1, "OK"], [103, "NIR_J", 4, "FAIL"], [102, "NIR_H", 3, "OK"]]
    store.add_review(103, "NIR_J", [4], "overruled", "g", "second look")
    assert len(store.reviews(103)) == 2
    row = store.exposure_table(ExposureSelection(obs_range=(103, 103), statuses=("FAIL",))).iloc[0]
    assert (row["review_decision"], row["reviewer"]) == ("overruled", "g")  # the latest review shows


def test_neighbours_is_empty_and_iter_results(small_survey):
    store = small_survey
    assert not store.is_empty()
    assert store.neighbours(102) == (101, 103)
    assert store.neighbours(101) == (None, 102)
    assert store.neighbours(102, "NIR_H") == (None, None)
    assert store.neighbours(150) == (103, 210)
    keys = [(r.obs_id, r.filter) for r in store.iter_results()]
    statuses = store.exposure_table().groupby(["obs_id", "filter"])["status"].agg(set).to_dict()
    assert statuses[101, "NIR_J"] == {"OK"} and statuses[102, "NIR_J"] != {"OK"}
    assert store.next_flagged(101, "NIR_J") == 102 and store.next_flagged(102, "NIR_J") == 103
    assert store.next_flagged(103, "NIR_J") is None and store.next_flagged(100, "NIR_Y") is None
    assert store.next_flagged(103, "NIR_J", before=True) == 102
    assert store.next_flagged(102, "NIR_Y", before=True) is None
    assert keys == [(101, "NIR_J"), (102, "NIR_H"), (102, "NIR_J"), (103, "NIR_J"), (210, "NIR_Y")]
    assert [(r.obs_id, r.filter) for r in store.iter_results(obs_ids=[102], filter="NIR_J")] == [(102, "NIR_J")]
    assert len(list(store.iter_results(filter=["NIR_H", "NIR_Y"]))) == 2
    later = datetime.now(timezone.utc) + timedelta(hours=1)
    assert list(store.iter_results(since=later)) == []
    assert len(list(store.iter_results(since="2000-01-01T00:00:00Z"))) == 5
    assert len(list(store.iter_results(since="2000-01-01"))) == 5
    with pytest.raises(StoreError, match="not an ISO 8601 time: 'yesterday'"):
        list(store.iter_results(since="yesterday"))
    # factors only (what products need): the same exposures, no statistics
    full, light = list(store.iter_results()), list(store.iter_results(details=False))
    assert [r.exposures for r in light] == [r.exposures for r in full]
    assert [(r.obs_id, r.filter, r.created, r.parameters) for r in light] == \
        [(r.obs_id, r.filter, r.created, r.parameters) for r in full]
    assert any(r.pairs for r in full) and not any(r.pairs or r.detectors or r.samples for r in light)


def test_fill_survey(store):
    assert fill_survey(store, 50, seed=1) == 600
    table = store.exposure_table(ExposureSelection(filters=("NIR_Y",)))
    assert len(table) == 200 and set(table["status"]) <= {"OK", "WARN", "FAIL", "NODATA"}
    assert len(store.observation_table()) == 150


# ------------------------------------------------------------ schema and URLs
def test_new_database_is_created_at_head(store_url):
    from relphot_core.store.schema import head_revision, schema_state

    with Store.open(store_url) as store:
        assert store.is_empty()
        assert schema_state(store.engine).current == head_revision()


def test_migrations_match_the_models(store):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_newer_schema_is_refused_without_damage(store_url):
    with Store.open(store_url) as store:
        store.save_result(make_result(1))
        with store.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    with pytest.raises(StoreError, match=r"schema is at revision 9999_future, newer than this relphot knows"):
        Store.open(store_url)
    assert main(["db", "upgrade", "--db", store_url]) == 2
    assert main(["db", "current", "--db", store_url]) == 1
    with _raw(store_url) as conn:
        assert conn.execute(text("SELECT count(*) FROM exposure_factor")).scalar() == 4
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "9999_future"


class _raw:
    def __init__(self, url):
        from relphot_core.store.engine import make_engine

        self.engine = make_engine(url)

    def __enter__(self):
        self.conn = self.engine.connect()
        return self.conn

    def __exit__(self, *exc):
        self.conn.close()
        self.engine.dispose()


def test_foreign_database_is_refused(tmp_path):
    import sqlite3

    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE stuff (x)")
    with pytest.raises(StoreError, match="holds tables but no relphot schema version; not a relphot store"):
        Store.open(str(path))


def test_unopenable_urls_are_refused_with_the_url_masked(tmp_path):
    with pytest.raises(StoreError) as err:
        Store.open("postgresql+psycopg://alice:s3cret@127.0.0.1:1/relphot")
    message = str(err.value)
    assert message.startswith("postgresql+psycopg://alice:***@127.0.0.1:1/relphot: cannot open the database (")
    assert "s3cret" not in message
    with pytest.raises(StoreError, match=r"^sqlite:////nonexistent-dir/x\.db: cannot open the database"):
        Store.open("sqlite:////nonexistent-dir/x.db")
    with pytest.raises(StoreError, match=r"^nosuch://u:\*\*\*@h/db: cannot use this database"):
        Store.open("nosuch://u:pw@h/db")
    text_file = tmp_path / "notes.db"
    text_file.write_text("not a database\n")
    with pytest.raises(StoreError, match="file is not a database"):
        Store.open(str(text_file))
    assert text_file.read_text() == "not a database\n"


def test_default_url_from_environment_and_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RELPHOT_DB", raising=False)
    with Store.open() as store:
        store.save_result(make_result(1))
    assert (tmp_path / "relphot.db").exists()
    monkeypatch.setenv("RELPHOT_DB", str(tmp_path / "env.db"))
    with Store.open() as store:
        assert store.is_empty()
    assert (tmp_path / "env.db").exists()


# ------------------------------------------------------------------------ CLI
def test_data_version_reads_pinned_runs_through_their_partial_index(tmp_path):
    # SQLite uses a partial index only when the query's term is the index's
    # own: the statement data_version runs must name ix_run_pinned in its plan
    from sqlalchemy import event

    with Store.open(f"sqlite:///{tmp_path / 'plan.db'}") as store:
        store.save_result(make_result(5, "NIR_J"))
        seen = []
        event.listen(store.engine, "before_cursor_execute",
                     lambda conn, cursor, statement, parameters, context, many: seen.append((statement, parameters)))
        store.data_version()
        statement, parameters = next((s, p) for s, p in seen if "pinned" in s)
        with store.engine.connect() as conn:
            plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}",
                                                                         parameters))
    assert "ix_run_pinned" in plan and "SCAN processing_run\n" not in plan + "\n"


def test_cli_db_upgrade_and_current(tmp_path, capsys):
    from relphot_core.store.schema import head_revision

    head = head_revision()
    path = tmp_path / "cli.db"
    url = f"sqlite:///{path}"
    assert main(["db", "current", "--db", str(path)]) == 1
    assert capsys.readouterr().out == f"{url}: no such database file; head is {head}\n"
    assert not path.exists()
    assert main(["db", "upgrade", "--db", str(path)]) == 0
    assert capsys.readouterr().out == f"{url}: upgraded from empty to {head} (head)\n"
    assert main(["db", "upgrade", "--db", url]) == 0
    assert capsys.readouterr().out == f"{url}: already at revision {head} (head)\n"
    assert main(["db", "current", "--db", url]) == 0
    assert capsys.readouterr().out == f"{url}: revision {head} (head, up to date)\n"


def test_older_schema_is_migrated_keeping_data(store_url, capsys):
    from alembic import command
    from sqlalchemy import inspect

    from relphot_core.store.engine import make_engine, write_engine
    from relphot_core.store.schema import alembic_config, head_revision

    engine = make_engine(store_url)
    config = alembic_config()
    with write_engine(engine).begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.execute(text("INSERT INTO observation (obs_id, filter) VALUES (77, 'NIR_Y')"))
    engine.dispose()
    assert main(["db", "current", "--db", store_url]) == 1
    assert "revision 0001, needs `relphot db upgrade`" in capsys.readouterr().out
    with pytest.raises(StoreError, match="run `relphot db upgrade`"):
        Store.open(store_url, migrate=False)
    with Store.open(store_url) as store:
        from relphot_core.store.schema import schema_state

        assert schema_state(store.engine).current == head_revision()
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT obs_id FROM observation")).scalar() == 77
            indexes = {ix["name"] for ix in inspect(conn).get_indexes("observation")}
            run_indexes = {ix["name"] for ix in inspect(conn).get_indexes("processing_run")}
        assert "ix_observation_current_run" in indexes
        assert "ix_run_pinned" in run_indexes
        store.save_result(make_result(77, "NIR_Y"))
        assert store.observation_table()["obs_id"].tolist() == [77]


def test_cli_db_bad_url(capsys):
    assert main(["db", "upgrade", "--db", "postgresql+psycopg://bob:hunter2@127.0.0.1:1/x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("relphot db: error: postgresql+psycopg://bob:***@127.0.0.1:1/x: cannot open the database (")
    assert "hunter2" not in err and err.count("\n") == 1


# ------------------------------------------------------- review batches
def test_a_revoked_batch_leaves_the_queue_as_before(small_survey):
    store = small_survey
    first = store.add_reviews([(102, "NIR_J", 2)], "confirmed", "ann", "dip", cause="flat-field")
    before = store.triage_queue()[["obs_id", "filter", "exposure"]].values.tolist()
    table_before = store.exposure_table()
    bulk = store.add_reviews([(102, "NIR_J", 2), (103, "NIR_J", 3), (103, "NIR_J", 4)], "overruled", "bob",
                             "", cause="satellite trail")
    assert store.triage_queue().empty
    row = store.exposure_table(ExposureSelection(obs_range=(103, 103), statuses=("FAIL",))).iloc[0]
    assert (row["review_decision"], row["review_cause"]) == ("overruled", "satellite trail")
    version = store.data_version()
    assert store.revoke_review_batch(bulk, "carol") == 3
    assert store.data_version() != version
    assert store.triage_queue()[["obs_id", "filter", "exposure"]].values.tolist() == before
    after = store.exposure_table()
    for column in ("review_decision", "reviewer", "review_cause", "reviewed"):
        assert after[column].tolist() == table_before[column].tolist()
    # kept in the audit trail, marked revoked; the earlier batch counts again
    reviews = store.reviews()
    assert len(reviews) == 4
    revoked = reviews[reviews["batch_id"] == bulk]
    assert revoked["revoked_by"].tolist() == ["carol"] * 3 and revoked["revoked_at"].notna().all()
    assert len(store.reviews(include_revoked=False)) == 1
    batches = store.review_batches().set_index("batch_id")
    assert batches.loc[bulk, "revoked_by"] == "carol" and batches.loc[first, "revoked_by"] is None
    with pytest.raises(ValueError, match="revoked already"):
        store.revoke_review_batch(bulk, "carol")
    with pytest.raises(KeyError):
        store.revoke_review_batch(99999, "carol")
    with pytest.raises(ValueError, match="name"):
        store.revoke_review_batch(first, "  ")


def test_a_review_records_the_flag_it_was_about_and_is_found_by_its_words(small_survey):
    store = small_survey
    store.add_reviews([(103, "NIR_J", 4)], "confirmed", "ann", "bright streak", cause="satellite trail")
    store.add_review(102, "NIR_J", [1], "overruled", "bob", "fine",
                     about={(102, "NIR_J", 1): ("alarm", "outside control limits: QPRELEX 1.0040")})
    with pytest.raises(ValueError, match="flag kind"):
        store.add_review(102, "NIR_J", [1], "confirmed", "bob", about={(102, "NIR_J", 1): ("mood", "")})
    reviews = store.reviews()
    assert reviews["flag_kind"].tolist() == ["status", "alarm"]
    assert reviews["flag_reason"].iloc[0].startswith("FAIL")
    assert reviews["flag_reason"].iloc[1] == "outside control limits: QPRELEX 1.0040"
    assert store.reviews(search="SATELLITE")["exposure"].tolist() == [4]
    assert store.reviews(search="control limits")["reviewer"].tolist() == ["bob"]
    assert store.reviews(search="ann streak")["obs_id"].tolist() == [103]
    assert store.reviews(search="100%_x").empty  # LIKE wildcards are literal
    assert store.reviews(search="103 nir_j")["reviewer"].tolist() == ["ann"]  # obs id and filter together
    assert store.reviews(search="overruled")["reviewer"].tolist() == ["bob"]


def test_migration_0006_keeps_reviews_and_goes_back(store_url):
    from alembic import command
    from sqlalchemy import inspect

    from relphot_core.store.engine import make_engine, write_engine
    from relphot_core.store.schema import alembic_config

    engine = make_engine(store_url)
    config = alembic_config()
    with write_engine(engine).begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0005")
        # a 0005 store with a review, written the way 0005 did
        conn.execute(text("INSERT INTO observation (obs_id, filter) VALUES (5, 'NIR_J')"))
        oid = conn.execute(text("SELECT id FROM observation")).scalar()
        conn.execute(text("INSERT INTO exposure (observation_id, dither) VALUES (:o, 1)"), {"o": oid})
        eid = conn.execute(text("SELECT id FROM exposure")).scalar()
        conn.execute(text("INSERT INTO review (observation_id, exposure_id, decision, reviewer, comment, created, "
                          "status) VALUES (:o, :e, 'confirmed', 'old', 'kept', '2026-01-01 00:00:00', 'FAIL')"),
                     {"o": oid, "e": eid})
        rid = conn.execute(text("SELECT id FROM review")).scalar()
        conn.execute(text("UPDATE exposure SET latest_review_id = :r"), {"r": rid})
        config.attributes["connection"] = conn
        command.upgrade(config, "0006")
    with engine.connect() as conn:
        row = conn.execute(text("SELECT comment, cause, flag_kind, flag_reason, batch_id, revoked_at FROM review"
                                )).one()
        assert tuple(row) == ("kept", "", None, "", None, None)
        assert "review_batch" in inspect(conn).get_table_names()
    with write_engine(engine).begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0005")
    with engine.connect() as conn:
        assert "review_batch" not in inspect(conn).get_table_names()
        columns = {c["name"] for c in inspect(conn).get_columns("review")}
        assert "cause" not in columns and "batch_id" not in columns
        assert conn.execute(text("SELECT comment FROM review")).scalar() == "kept"
        assert conn.execute(text("SELECT latest_review_id FROM exposure")).scalar() == rid
    engine.dispose()
