"""Fresh everywhere: a review made by another process shows in every
process's cached tables within the cache's ttl, by applying the reviews
written since (no reload), and what the browser has drawn stays valid
whichever process answers (the tables' versions are digests of their
content)."""
from __future__ import annotations

import time

import pytest
from dashboard_fixtures import BAD, WARN, fill_small_store

from dashboard.data import DataCache, table_version
from dashboard.pages.overview_model import Controls, overview_view
from relphot_core.store import Store
from relphot_core.testing.synth import make_result


class CountingReads:
    """A real store, with its whole-table reads counted."""

    def __init__(self, store: Store) -> None:
        self.store, self.trend_reads = store, 0

    def trend(self, *args, **kwargs):
        self.trend_reads += 1
        return self.store.trend(*args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self.store, name)


@pytest.fixture()
def db(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    fill_small_store(url).close()
    return url


def row(frame, key):
    return frame[(frame["obs_id"] == key[0]) & (frame["exposure"] == key[2])].iloc[0]


def test_reviews_since_gives_the_new_latest_reviews_or_none_when_more_changed(db):
    store = Store.open(db)
    before = store.data_version()
    now, same = store.reviews_since(before, "NIR_J")
    assert now == before and same is not None and same.empty
    store.add_reviews([BAD], "confirmed", "Ada", "3 % faint")
    store.add_reviews([BAD, WARN], "overruled", "Bo", "seen")
    now, reviews = store.reviews_since(before, "NIR_J")
    assert now == store.data_version() != before
    # BAD's first review is superseded: only its latest is given
    assert reviews[["obs_id", "filter", "exposure", "decision", "reviewer", "status"]].values.tolist() == [
        [BAD[0], "NIR_J", BAD[2], "overruled", "Bo", "FAIL"]]
    assert store.reviews_since(before)[1]["filter"].tolist() == ["NIR_J", "NIR_H"]
    assert store.reviews_since(now, "NIR_J")[1].empty
    store.revoke_review_batch(int(store.reviews()["batch_id"].max()), "Cy")
    assert store.reviews_since(now)[1] is None  # a revocation: read again
    after_revoke = store.data_version()
    store.save_results([make_result(1100, "NIR_J", mjd_start=60800)])
    assert store.reviews_since(after_revoke)[1] is None  # a new run: read again
    assert store.reviews_since("not a version")[1] is None


def test_a_review_made_elsewhere_shows_in_every_worker_within_the_ttl_without_a_reload(db):
    workers = [CountingReads(Store.open(db)) for _ in range(2)]
    caches = [DataCache(store, ttl=0.5) for store in workers]
    first = [cache.trend("NIR_J") for cache in caches]
    assert not row(first[0], BAD)["reviewed"]
    assert table_version(first[0]) == table_version(first[1]) != ""  # same content, same version

    Store.open(db).add_reviews([BAD], "confirmed", "Ada", "3 % faint")  # a third process
    written = time.monotonic()
    shown = [None, None]
    while time.monotonic() - written < 5 and None in shown:
        for i, cache in enumerate(caches):
            if shown[i] is None and row(cache.trend("NIR_J"), BAD)["reviewed"]:
                shown[i] = time.monotonic() - written
        time.sleep(0.02)
    assert None not in shown and max(shown) < 1.0, shown  # ttl 0.5 s
    frames = [cache.trend("NIR_J") for cache in caches]
    assert [store.trend_reads for store in workers] == [1, 1]  # caught up, not read again
    assert row(frames[0], BAD)["review_decision"] == "confirmed" and row(frames[1], BAD)["reviewer"] == "Ada"
    # the same version as a table read whole now, in every worker
    fresh = DataCache(Store.open(db), ttl=60).trend("NIR_J")
    assert table_version(frames[0]) == table_version(frames[1]) == table_version(fresh) != table_version(first[0])
    assert (frames[0]["reviewed"].to_numpy() == fresh["reviewed"].to_numpy()).all()
    # other filters: no change, same version, nothing read
    assert table_version(caches[0].trend("NIR_H")) == table_version(caches[1].trend("NIR_H"))


def test_an_unchanged_figure_is_not_resent_by_another_worker(db):
    caches = [DataCache(Store.open(db), ttl=0.2) for _ in range(2)]
    controls = Controls(["NIR_Y", "NIR_J", "NIR_H"], None, None, None, None, None, None, "NIR_J")

    def draw(cache, drawn=None):
        tables = {name: cache.trend(name) for name in ("NIR_Y", "NIR_J", "NIR_H")}
        return overview_view(controls, tables, warn=0.005, fail=0.01, max_points=3000, drawn=drawn)

    shown = draw(caches[0])
    assert shown.figure is not None and shown.counts is not None
    again = draw(caches[1], shown.drawn)  # the next callback lands on another worker
    assert again.figure is None and again.counts is None
    Store.open(db).add_reviews([BAD], "confirmed", "Ada", "3 % faint")
    time.sleep(0.5)
    changed = draw(caches[1], again.drawn)
    assert changed.figure is not None  # the table changed: drawn again
    assert draw(caches[0], changed.drawn).figure is None  # and the first worker agrees
