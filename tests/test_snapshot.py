"""Snapshots of the per-filter tables shared by the dashboard's processes
(`relphot_core.snapshot`, used by `dashboard.data.DataCache` and
`dashboard.detector_cache.DetectorCache`)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard.data import DataCache, table_version
from dashboard.detector_cache import DetectorCache, prepare
from relphot_core.config import Control
from relphot_core.snapshot import SnapshotError, SnapshotStore, default_snapshot_dir, snapshot_dir, version_key
from relphot_core.store import Store
from relphot_core.testing.synth import fill_detector_stats, fill_survey

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def survey(tmp_path) -> tuple[Store, Path]:
    """A store of 200 observations x 3 filters x 4 exposures with detector rows."""
    path = tmp_path / "survey.db"
    store = Store.open(f"sqlite:///{path}")
    fill_survey(store, 200, seed=5)
    fill_detector_stats(store, seed=5)
    yield store, path
    store.close()


def links(snapshot_path: Path) -> dict[str, int]:
    """Hard-link count of each column file of a snapshot."""
    return {p.name: p.stat().st_nlink for p in snapshot_path.glob("c*.npy")}


def test_round_trip_gives_the_tables_of_the_direct_build(survey, tmp_path):
    store, _ = survey
    snapshots = SnapshotStore(tmp_path / "snapshots")
    shared, direct = DataCache(store, ttl=60, snapshots=snapshots), DataCache(store, ttl=60)
    for name in ("NIR_Y", "NIR_J", "NIR_H"):
        mapped, built = shared.trend(name), direct.trend(name)
        pd.testing.assert_frame_equal(mapped, built)
        assert table_version(mapped) == table_version(built)  # the figures drawn from one hold for the other
        assert not mapped["value"].to_numpy().flags.writeable  # a read-only map, not a copy
    again = DataCache(store, ttl=60, snapshots=snapshots).trend("NIR_J")  # another process: maps, same content
    pd.testing.assert_frame_equal(again, direct.trend("NIR_J"))
    # other control-chart rules: other tables, never the snapshot of these
    strict = Control(min_reference_points=5)
    other = DataCache(store, ttl=60, control=strict, snapshots=snapshots)
    assert other.snapshot_kind("NIR_J") != shared.snapshot_kind("NIR_J")
    pd.testing.assert_frame_equal(other.trend("NIR_J"), DataCache(store, ttl=60, control=strict).trend("NIR_J"))

    series = DetectorCache(store, ttl=60, snapshots=snapshots).series("NIR_H")
    built = prepare("NIR_H", store.detector_table("NIR_H"), Control())
    assert series.bounds == built.bounds and list(series.columns) == list(built.columns)
    for column, values in built.columns.items():
        np.testing.assert_array_equal(np.asarray(series.columns[column]), np.asarray(values), err_msg=column)
    rows = series.detector_rows(11, None, None)
    assert rows["status"].tolist() == built.detector_rows(11, None, None)["status"].tolist()


def test_a_snapshot_of_categories_numbers_and_flags_round_trips(tmp_path):
    snapshots = SnapshotStore(tmp_path)
    columns = {"n": np.arange(5, dtype=np.int16), "x": np.array([0.5, np.nan, 1, 2, 3]),
               "ok": np.array([True, False, True, True, False]),
               "word": pd.Categorical(["a", None, "b", "a", "c"]),
               "band": pd.Categorical([3, 1, 3, 2, 1])}
    written = snapshots.write("kind", "7:1", columns, {"note": "x"})
    read = snapshots.read("kind", "7:1")
    assert read is not None and read.attrs == {"note": "x"} and read.version == "7:1"
    pd.testing.assert_frame_equal(read.frame(), pd.DataFrame(columns))
    assert written.path == read.path and snapshots.read("kind", "7:2") is None
    with pytest.raises(SnapshotError, match="Python objects"):
        snapshots.write("kind", "8", {"s": np.array(["a", "b"], dtype=object)})
    with pytest.raises(SnapshotError, match="unequal lengths"):
        snapshots.write("kind", "8", {"a": np.zeros(2), "b": np.zeros(3)})
    assert snapshots.latest("kind").version == "7:1"  # the failed writes left nothing


BUILDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from dashboard.data import DataCache, table_version
    from relphot_core.snapshot import SnapshotStore
    from relphot_core.store import Store

    db, root, log = sys.argv[1:4]

    class Logged:
        def __init__(self, store):
            self.store = store
        def trend(self, *args, **kwargs):
            with open(log, "a") as out:
                out.write("build\\n")
            time.sleep(1.0)  # long enough for the other process to ask meanwhile
            return self.store.trend(*args, **kwargs)
        def __getattr__(self, name):
            return getattr(self.store, name)

    cache = DataCache(Logged(Store.open(f"sqlite:///{db}")), ttl=60, snapshots=SnapshotStore(root))
    print(table_version(cache.trend("NIR_J")))
""")


def test_two_processes_asking_at_once_build_once(survey, tmp_path):
    _store, path = survey
    log = tmp_path / "builds.log"
    command = [sys.executable, "-c", BUILDER, str(path), str(tmp_path / "snapshots"), str(log)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                 for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], [err[-800:] for _, err in outputs]
    assert log.read_text().count("build") == 1  # one read of the store; the other process mapped it
    versions = {out.strip() for out, _ in outputs}
    assert len(versions) == 1 and versions != {""}
    kind = DataCache(_store, ttl=60).snapshot_kind("NIR_J")
    assert len(list((tmp_path / "snapshots" / kind).iterdir())) == 1


def test_a_review_elsewhere_derives_a_new_snapshot_and_a_new_run_rebuilds_it(survey, tmp_path):
    store, path = survey
    snapshots = SnapshotStore(tmp_path / "snapshots")
    cache = DataCache(store, ttl=0.01, snapshots=snapshots)
    kind = cache.snapshot_kind("NIR_J")
    before = cache.trend("NIR_J")
    first = snapshots.latest(kind)
    detectors = DetectorCache(store, ttl=60, snapshots=snapshots)
    built = detectors.series("NIR_J")
    row = before[(before["status"] == "FAIL") & ~before["reviewed"]].iloc[0]

    with Store.open(f"sqlite:///{path}") as elsewhere:  # another process's review
        elsewhere.add_reviews([(int(row.obs_id), "NIR_J", int(row.exposure))], "confirmed", "ada", "seen")
    time.sleep(0.3)  # past the version memo
    after = cache.trend("NIR_J", fresh=True)
    reviewed = after[(after["obs_id"] == row.obs_id) & (after["exposure"] == row.exposure)]
    assert reviewed["review_decision"].tolist() == ["confirmed"] and reviewed["reviewed"].all()
    derived = snapshots.latest(kind)
    assert derived.version == store.data_version() != first.version
    pd.testing.assert_frame_equal(after, DataCache(store, ttl=60).trend("NIR_J"))  # as a direct build
    count = links(derived.path)
    assert sum(n == 2 for n in count.values()) == len(count) - 4  # only the review columns written again
    # a process starting now maps the detector tables built before the review (reviews do not change them)
    restarted = DetectorCache(store, ttl=60, snapshots=snapshots).series("NIR_J")
    relinked = snapshots.latest(detectors.snapshot_kind("NIR_J"))
    assert relinked.version == derived.version and set(links(relinked.path).values()) == {2}
    assert restarted.version == built.version  # its figures are those drawn before

    with Store.open(f"sqlite:///{path}") as elsewhere:  # a new batch: new runs
        fill_survey(elsewhere, 10, seed=6, first_obs_id=5000)
    time.sleep(0.3)
    cache.reload("NIR_J")
    rebuilt = snapshots.latest(kind)
    assert rebuilt.version == store.data_version() and set(links(rebuilt.path).values()) == {1}
    assert len(cache.trend("NIR_J")) == len(before) + 40
    pd.testing.assert_frame_equal(cache.trend("NIR_J"), DataCache(store, ttl=60).trend("NIR_J"))


CRASHER = textwrap.dedent("""
    import os, sys
    import numpy as np
    import relphot_core.snapshot as snapshot

    saved = []
    real = snapshot._save

    def dies_after_one(path, values):
        real(path, values)
        saved.append(path)
        if len(saved) == 2:
            os._exit(9)  # killed mid-write

    snapshot._save = dies_after_one
    store = snapshot.SnapshotStore(sys.argv[1])
    store.write("trend-NIR_J", "1:0", {name: np.arange(1000.0) for name in "abcd"})
""")


def test_a_crash_mid_write_leaves_no_half_snapshot(tmp_path):
    root = tmp_path / "snapshots"
    crashed = subprocess.run([sys.executable, "-c", CRASHER, str(root)], capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert crashed.returncode == 9, crashed.stderr
    snapshots = SnapshotStore(root)
    leftovers = list((root / "trend-NIR_J").glob(".tmp-*"))
    assert len(leftovers) == 1 and snapshots.latest("trend-NIR_J") is None
    assert snapshots.read("trend-NIR_J", "1:0") is None
    written = snapshots.write("trend-NIR_J", "1:0", {"a": np.arange(3.0)})  # the next writer cleans up
    assert not list((root / "trend-NIR_J").glob(".tmp-*"))
    assert snapshots.read("trend-NIR_J", "1:0").path == written.path


def test_old_snapshots_are_pruned_and_a_mapped_one_stays_readable(tmp_path):
    snapshots = SnapshotStore(tmp_path, keep=2)
    first = snapshots.write("k", "1", {"a": np.arange(4.0)})
    for version in ("2", "3", "4"):
        snapshots.write("k", version, {"a": np.arange(4.0) * int(version)})
    assert [p.name for p in (tmp_path / "k").iterdir()].__len__() == 2
    assert snapshots.read("k", "1") is None and snapshots.latest("k").version == "4"
    assert first.columns["a"].tolist() == [0.0, 1.0, 2.0, 3.0]  # removed from disk, still mapped here


def test_the_lock_is_held_by_one_holder_at_a_time(tmp_path):
    snapshots = SnapshotStore(tmp_path)
    with snapshots.lock("k") as held:
        assert held
        holder = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
            from relphot_core.snapshot import SnapshotStore
            with SnapshotStore({str(tmp_path)!r}).lock("k", blocking=False) as held:
                print(held)
        """)], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert holder.stdout.strip() == "False", holder.stderr
    with snapshots.lock("k", blocking=False) as held:
        assert held
    with pytest.raises(ValueError, match="kind"), snapshots.lock("../k"):
        pass


def test_where_snapshots_live(tmp_path, monkeypatch):
    monkeypatch.delenv("RELPHOT_SNAPSHOT_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default_snapshot_dir(f"sqlite:///{tmp_path}/relphot.db") == tmp_path / "relphot.db.snapshots"
    assert default_snapshot_dir("sqlite://") is None
    shared = default_snapshot_dir("postgresql+psycopg://u:secret@host/relphot")
    assert shared.parent == tmp_path / "cache" / "relphot" / "snapshots"
    assert shared == default_snapshot_dir("postgresql+psycopg://u:other@host/relphot")  # not keyed on secrets
    monkeypatch.setenv("RELPHOT_SNAPSHOT_DIR", str(tmp_path / "here"))
    assert snapshot_dir(f"sqlite:///{tmp_path}/relphot.db") == tmp_path / "here"
    assert snapshot_dir(f"sqlite:///{tmp_path}/relphot.db", "off") is None
    assert version_key("12:3:0:0:1") != version_key("12:3:0:0:1 ") and "/" not in version_key("a/b")


def test_the_context_of_the_factors_is_shared_and_kept_through_reviews(survey, tmp_path):
    from dashboard.app import create_app
    from dashboard.survey_data import context_season
    from relphot_core.survey import exposure_context

    store, path = survey
    snapshots = SnapshotStore(tmp_path / "snapshots")
    app = create_app(store, warm=False, snapshots=snapshots)
    with app.server.app_context():
        shared = context_season("NIR_Y")
    pd.testing.assert_frame_equal(shared, exposure_context(*store.context_tables("NIR_Y")))
    first = snapshots.latest("context-NIR_Y")
    assert first is not None and first.version == store.data_version()

    table = store.trend("NIR_Y")
    row = table[table["status"] == "FAIL"].iloc[0]
    with Store.open(f"sqlite:///{path}") as elsewhere:
        elsewhere.add_reviews([(int(row.obs_id), "NIR_Y", int(row.exposure))], "confirmed", "ada", "seen")
    restarted = create_app(store, warm=False, snapshots=snapshots)  # another worker
    with restarted.server.app_context():
        again = context_season("NIR_Y")
    pd.testing.assert_frame_equal(again, shared)
    relinked = snapshots.latest("context-NIR_Y")
    assert relinked.version == store.data_version() != first.version
    assert set(links(relinked.path).values()) == {2}  # the same files: reviews do not change it


def test_a_snapshot_directory_that_cannot_be_written_falls_back_to_the_store(survey, tmp_path, caplog):
    store, _ = survey
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the snapshots should go")
    cache = DataCache(store, ttl=60, snapshots=SnapshotStore(blocked))
    pd.testing.assert_frame_equal(cache.trend("NIR_J"), DataCache(store, ttl=60).trend("NIR_J"))
    assert "the shared snapshot of NIR_J failed; reading the store" in caplog.text
    series = DetectorCache(store, ttl=60, snapshots=SnapshotStore(blocked)).series("NIR_J")
    assert len(series) == len(store.detector_table("NIR_J"))
