"""Several processes on one store: writers saving runs while this process
reads through the API. No error, no lost run (SQLite file; PostgreSQL too
with $RELPHOT_TEST_PG_URL)."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import time

from relphot_core.selection import ExposureSelection
from relphot_core.store import Store
from relphot_core.testing.synth import make_result
from store_fixtures import store_url  # noqa: F401  (fixture)

WRITER = textwrap.dedent(
    """
    import sys
    from relphot_core.store import Store
    from relphot_core.testing.synth import make_result

    url, first, count, recompute = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
    store = Store.open(url)
    for obs_id in range(first, first + count):
        assert store.save_result(make_result(obs_id, n_detectors=4, n_sample=20, seed=obs_id)) is not None
        if recompute:  # a second run of an observation another writer created
            store.save_result(make_result(obs_id - first + 1, n_detectors=4, n_sample=0, seed=10_000 + obs_id))
        if obs_id % 10 == 0:
            store.add_reviews([(obs_id, "NIR_J", 1)], "confirmed", f"writer{first}", "")
    store.close()
    """
)


def _writer(url: str, first: int, count: int, recompute: bool = False) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, url, str(first), str(count), "1" if recompute else "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_writers_and_reader_at_once(store_url):
    n = 60
    with Store.open(store_url) as store:  # schema created here
        writers = [_writer(store_url, 1, n), _writer(store_url, 1001, n, recompute=True)]
        reads = 0
        seen_rows = 0
        while any(w.poll() is None for w in writers):
            table = store.exposure_table(ExposureSelection(filters=("NIR_J",)))
            seen_rows = max(seen_rows, len(table))
            store.observation_table()
            store.status_counts()
            store.triage_queue()
            if len(table):
                obs_id = int(table["obs_id"].iloc[-1])
                assert store.load_result(obs_id, "NIR_J").obs_id == obs_id
            reads += 1
        for w in writers:
            _out, err = w.communicate()
            assert w.returncode == 0, err
        assert reads > 3 and seen_rows > 0
        obs = store.observation_table()
        assert len(obs) == 2 * n
        # Every run of both writers is there: n + n first runs, n recomputations.
        with store.engine.connect() as conn:
            from sqlalchemy import text

            assert conn.execute(text("SELECT count(*) FROM processing_run")).scalar() == 3 * n
            assert conn.execute(text("SELECT count(*) FROM review")).scalar() == 12
        runs = store.runs(1, "NIR_J")
        assert len(runs) == 2 and runs["current"].tolist() == [False, True]


OPENER = textwrap.dedent(
    """
    import sys
    from relphot_core.store import Store
    from relphot_core.testing.synth import make_result
    store = Store.open(sys.argv[1])
    store.save_result(make_result(int(sys.argv[2])))
    """
)


def test_first_use_by_several_processes_at_once(store_url):
    procs = [
        subprocess.Popen([sys.executable, "-c", OPENER, store_url, str(i)], stderr=subprocess.PIPE, text=True)
        for i in range(1, 4)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    with Store.open(store_url) as store:
        assert sorted(store.observation_table()["obs_id"]) == [1, 2, 3]


def test_many_threads_reading_while_writing(store_url):
    import threading

    errors: list[BaseException] = []
    with Store.open(store_url) as store:
        store.save_result(make_result(1))

        def read() -> None:
            try:
                for _ in range(20):
                    store.exposure_table()
                    store.load_result(1, "NIR_J")
            except BaseException as exc:  # noqa: BLE001 - reported below  # pragma: no cover
                errors.append(exc)

        threads = [threading.Thread(target=read) for _ in range(3)]
        for t in threads:
            t.start()
        t0 = time.perf_counter()
        for i in range(2, 40):
            store.save_result(make_result(i, n_sample=0))
        for t in threads:
            t.join()
        assert not errors, errors
        assert len(store.observation_table()) == 39
        assert time.perf_counter() - t0 < 60


SAME = textwrap.dedent(
    """
    import sys
    from relphot_core.store import Store
    from relphot_core.testing.synth import make_result
    store = Store.open(sys.argv[1])
    new = sum(store.save_result(make_result(i, n_sample=0)) is not None for i in range(1, 41))
    print(new)
    """
)


def test_two_processes_saving_the_same_runs_store_each_once(store_url):
    Store.open(store_url).close()
    procs = [
        subprocess.Popen([sys.executable, "-c", SAME, store_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
        for _ in range(2)
    ]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        outs.append(int(out))
    assert sum(outs) == 40  # each run stored by exactly one of them
    with Store.open(store_url) as store, store.engine.connect() as conn:
        from sqlalchemy import text

        assert conn.execute(text("SELECT count(*) FROM processing_run")).scalar() == 40
