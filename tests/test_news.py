"""What is new since a time: the batches' log, the users' visits, `News`
(store-level, on SQLite and PostgreSQL), ``relphot compute --db`` logging
its batches, and ``/metrics`` against the store's own counts."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from prometheus_client.parser import text_string_to_metric_families

from relphot_core.inputs import SetFailure
from relphot_core.news import SINCE_CHOICES, News, Since, resolve_since
from relphot_core.qc.problems import ACTIVE_STATES
from relphot_core.store import Store
from relphot_core.testing.synth import make_result
from identity_fixtures import serve_mode  # noqa: F401  (fixture)
from store_fixtures import store, store_url  # noqa: F401

T0 = datetime(2026, 12, 4, 2, 0, tzinfo=timezone.utc)


# ------------------------------------------------------------------ pure
def test_resolve_since_knows_its_moments_and_refuses_others():
    now = T0 + timedelta(hours=30)
    assert resolve_since("batch", last_batch=T0).at == T0
    assert resolve_since(None, last_batch=T0).key == "batch"
    assert resolve_since("day", now=now).at == now - timedelta(days=1)
    assert resolve_since("visit", previous_visit=T0 - timedelta(days=2)).at == T0 - timedelta(days=2)
    assert resolve_since("visit").at is None and "first visit" in resolve_since("visit").label
    assert resolve_since("batch").at is None  # no batch yet: everything is new
    assert resolve_since("2026-12-04T03:30+01:00").at == datetime(2026, 12, 4, 2, 30, tzinfo=timezone.utc)
    with pytest.raises(ValueError, match="since must be one of batch, day, visit"):
        resolve_since("yesterday-ish")
    assert set(SINCE_CHOICES) == {"batch", "day", "visit"}


def test_empty_news_says_nothing_is_new():
    news = News(Since("batch", T0, "the last batch"))
    assert news.empty and news.summary() == "Nothing new since the last batch."
    assert set(news.counts.values()) == {0}


# ------------------------------------------------------------- the store
def _night(store: Store, results_of, *, command: str = "compute") -> int:
    """One logged batch: start, store what ``results_of()`` makes, update the problems, finish."""
    batch = store.start_batch(command=command, host="test")
    results = results_of()
    store.save_results(results)
    problems: dict[str, int] = {}
    for per_filter in store.update_problems(["NIR_J"]).values():
        for key, n in per_filter.items():
            problems[key] = problems.get(key, 0) + n
    store.finish_batch(batch, new_runs=len(results), problems=problems, exit_status=0)
    return batch


def _clean(first: int, n: int) -> list:
    return [make_result(first + i, values=[1.0, 1.0005, 0.9995, 1.0], n_detectors=0, n_sample=0, seed=i,
                        mjd_start=60000.0 + (first + i) * 0.25) for i in range(n)]


def test_news_since_the_last_batch_names_what_it_brought(store):
    _night(store, lambda: _clean(100, 30))
    time.sleep(0.01)

    def tonight():
        return [*_clean(130, 8),
                make_result(138, values=[1.0, 1.04, 1.0, 1.0], n_detectors=0, n_sample=0, seed=1,
                            mjd_start=60000.0 + 138 * 0.25),  # a FAIL
                make_result(139, values=[1.0, 1.0, 1.0], n_detectors=0, n_sample=0, seed=2,
                            mjd_start=60000.0 + 139 * 0.25)]  # a missing dither

    second = _night(store, tonight)
    store.record_failure(SetFailure("lone exposure", "/data/000140_NIR_J_D1.cat.fits", "1 exposure, no partner",
                                    obs_id=140, filter="NIR_J"), "p")
    store.record_failure(SetFailure("unreadable catalogue", "/data/bad.cat.fits", "truncated"), "p")
    news = store.news("batch")
    assert news.since.key == "batch" and news.since.at == store.last_batch_started()
    assert news.batches["id"].tolist() == [second]
    assert news.sets == 10
    assert news.new_fails[["obs_id", "filter", "exposure"]].values.tolist() == [[138, "NIR_J", 2]]
    opened = news.problems[news.problems["event"] == "opened"]
    assert len(opened) >= 1 and "138" in " ".join(opened["subject"])
    assert news.missing_dither["obs_id"].tolist() == [139] and news.lone["obs_id"].tolist() == [140]
    assert news.failures["kind"].tolist() == ["unreadable catalogue"]
    assert news.counts["new_fails"] == 1 and news.counts["failures"] == 1 and news.counts["lone"] == 1
    assert news.summary().endswith("1 new FAIL, 1 failed set; 1 set with a missing dither, 1 lone exposure.")
    # "24 hours ago" holds both nights
    day = store.news("day")
    assert day.sets == 40 and len(day.batches) == 2
    # a moment after everything: nothing new
    later = (datetime.now(timezone.utc) + timedelta(seconds=5)).isoformat()
    assert store.news(later).empty


def test_batches_are_logged_with_their_end_and_counted(store):
    first = store.start_batch(command="compute", host="h", sets_planned=5, sets_computed=4, params_digest="p")
    assert store.batches()["finished"].isna().all()  # running (or died): no end yet
    store.finish_batch(first, new_runs=3, same_runs=1, failures=1, statuses={"OK": 12, "FAIL": 1},
                       problems={"opened": 2}, exit_status=1)
    row = store.batches().iloc[0]
    assert row["exit_status"] == 1 and row["statuses"] == {"OK": 12, "FAIL": 1} and row["seconds"] >= 0
    assert store.batch_totals() == {"batches": 1, "finished": 1, "sets_computed": 4, "new_runs": 3, "failures": 1}
    with pytest.raises(KeyError):
        store.finish_batch(first + 99)


def test_a_visit_lasts_until_an_hour_of_silence(store):
    assert store.record_visit("ann", now=T0) is None  # first visit
    assert store.record_visit("ann", now=T0 + timedelta(minutes=40)) is None  # same visit
    assert store.record_visit("ann", now=T0 + timedelta(hours=3)) == T0 + timedelta(minutes=40)  # a new one
    # within the new visit the answer stays, so the page does not empty itself as one reads
    assert store.record_visit("ann", now=T0 + timedelta(hours=3, minutes=5)) == T0 + timedelta(minutes=40)
    assert store.previous_visit("ann") == T0 + timedelta(minutes=40)
    assert store.previous_visit("bob") is None
    assert store.news("visit", user="ann").since.at == T0 + timedelta(minutes=40)


# ------------------------------------------------------------------ CLI
def test_relphot_compute_logs_each_batch(tmp_path):
    from relphot_core.cli import main
    from relphot_core.simulate import simulate_season

    paths, _ = simulate_season(tmp_path / "cat", 3, filters=("NIR_J",), seed=3, sources_per_detector=60,
                               bad_exposures=0, bad_detector=None, nodata_exposures=0, three_dither_sets=0)
    db = f"sqlite:///{tmp_path / 'r.db'}"
    assert main(["compute", "--db", db, "--quiet", str(tmp_path / "cat")]) == 0
    assert main(["compute", "--db", db, "--quiet", str(tmp_path / "cat")]) == 0  # nothing changed
    with Store.open(db) as store:
        batches = store.batches()
    assert batches["command"].tolist() == ["compute", "compute"]
    second, first = batches.iloc[0], batches.iloc[1]
    assert first["sets_planned"] == 3 and first["sets_computed"] == 3 and first["new_runs"] == 3
    assert sum(first["statuses"].values()) == len(paths) and first["exit_status"] == 0
    assert second["sets_planned"] == 3 and second["sets_computed"] == 0 and second["exit_status"] == 0
    assert first["finished"] <= second["started"]


# --------------------------------------------------------------- /metrics
def test_metrics_parse_and_equal_the_stores_counts(tmp_path):
    from dashboard import create_app

    store = Store.open(f"sqlite:///{tmp_path / 'm.db'}")
    _night(store, lambda: [*_clean(100, 20), make_result(120, values=[1.0, 0.95, 1.0, 1.0], n_detectors=0,
                                                         n_sample=0, seed=5, mjd_start=60030.0)])
    client = create_app(store, warm=False).server.test_client()
    response = client.get("/metrics")
    assert response.status_code == 200 and response.content_type.startswith("text/plain; version=0.0.4")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(response.get_data(as_text=True))
               for s in family.samples}
    counts = store.status_counts()
    for row in counts.itertuples(index=False):
        assert samples[("relphot_exposures", (("filter", row.filter), ("status", row.status)))] == row.n_exposures
    active = store.problems(states=ACTIVE_STATES)
    assert len(active) >= 1
    for (kind, band), n in active.groupby(["kind", "filter"]).size().items():
        assert samples[("relphot_open_problems", (("filter", band), ("kind", kind)))] == n
    assert sum(v for (name, _), v in samples.items() if name == "relphot_open_problems") == len(active)
    batch = store.batches().iloc[0]
    assert samples[("relphot_last_batch_start_timestamp_seconds", ())] == pytest.approx(batch["started"].timestamp())
    assert samples[("relphot_last_batch_exit_status", ())] == 0
    assert samples[("relphot_batches_total", ())] == 1
    store.close()


# ----------------------------------------------------- visits, over HTTP
def test_a_signed_in_page_load_is_a_visit_and_metrics_need_an_identity(serve_mode):
    from identity_fixtures import SECRET

    served = serve_mode(mode="accounts", secret_key=SECRET)
    assert served.request("GET", "/metrics")[0] == 401  # like /api: a token or a session
    status, cookie = served.sign_in("alice")
    assert status == 302 and cookie
    before = datetime.now(timezone.utc)
    assert served.request("GET", "/news", headers={"Cookie": cookie})[0] == 200
    assert served.request("GET", "/api/problems", headers={"Cookie": cookie})[0] == 200
    status, _, text = served.request("GET", "/metrics", headers={"Cookie": cookie})
    assert status == 200 and "relphot_open_problems" in text
    # the page load was noted (the API call and the scrape were not visits of bob's either)
    later = datetime.now(timezone.utc) + timedelta(hours=2)
    seen = served.store.record_visit("alice", now=later)
    assert seen is not None and before - timedelta(seconds=1) <= seen <= datetime.now(timezone.utc)
    assert served.store.previous_visit("bob") is None and served.store.record_visit("bob") is None


def test_relphot_news_prints_and_refuses(tmp_path, capsys):
    import json

    from relphot_core.cli import main

    db = f"sqlite:///{tmp_path / 'n.db'}"
    with Store.open(db) as store:
        _night(store, lambda: _clean(100, 10))
        time.sleep(0.01)
        _night(store, lambda: [make_result(110, values=[1.0, 0.96, 1.0, 1.0], n_detectors=0, n_sample=0, seed=9,
                                           mjd_start=60030.0)])
        expected = store.news("batch")
    assert main(["news", "--db", db]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == expected.summary() and "1 new FAIL" in out[0]
    assert any(line.strip().startswith("FAIL    obs 110 NIR_J dither 2") for line in out)
    assert main(["news", "--db", db, "--json", "--since", "day"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["counts"]["sets"] == 11 and payload["counts"]["batches"] == 2
    assert payload["new_fails"][0]["obs_id"] == 110
    assert main(["news", "--db", db, "--since", "someday"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--since" in err[0] and "someday" in err[0]
    assert main(["news", "--db", str(tmp_path / "missing.db")]) == 2


def test_the_overview_line_of_a_store_without_a_logged_batch_counts_nothing(tmp_path):
    from dashboard import create_app
    from dashboard.pages.news import news_view, overview_strip

    store = Store.open(f"sqlite:///{tmp_path / 'old.db'}")
    store.save_results(_clean(100, 5))  # stored without a batch (an import, an older store)
    app = create_app(store, warm=False)
    with app.server.test_request_context("/"):
        strip = overview_strip()
        assert strip.children[0].children.startswith("No batch is logged in this store yet")
        _night(store, lambda: _clean(105, 2))
        text = str(overview_strip().children[0].children)
        assert text == store.news("batch").summary() and "2 sets processed" in text
        cards = news_view(store.news("day"))
        assert cards[0].children == store.news("day").summary()
    store.close()
