"""The dashboard's shared tables built before it starts: at the end of
``relphot compute --db`` and by ``relphot snapshot``; a fresh server process
maps them without reading the store."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from relphot_core.cli import main
from relphot_core.simulate import simulate_observation, write_observation
from relphot_core.store import Store

FRESH_PROCESS = textwrap.dedent("""
    # a dashboard process started on the store: which tables it had to read from the store
    import json, sys
    from relphot_core.store import Store
    from relphot_core.snapshot import SnapshotStore
    from dashboard import create_app

    reads = []
    for name in ("trend", "detector_table", "context_tables"):
        def counted(*args, _name=name, _real=getattr(Store, name), **kwargs):
            reads.append(_name)
            return _real(*args, **kwargs)
        setattr(Store, name, counted)
    store = Store.open(sys.argv[1], create=False)
    app = create_app(store, snapshots=SnapshotStore(sys.argv[2]), warm=False)
    from dashboard.detector_cache import get_detector_cache
    from dashboard.survey_data import context_season
    with app.server.app_context():
        sizes = {}
        for name in ("NIR_Y", "NIR_J", "NIR_H"):
            sizes[name] = [len(app.server.config["RELPHOT_CACHE"].trend(name)),
                           len(get_detector_cache().series(name)), len(context_season(name))]
    print(json.dumps({"reads": reads, "version": store.data_version(), "sizes": sizes}))
""")


@pytest.fixture(scope="module")
def catalogues(tmp_path_factory):
    """Two observations' catalogues (NIR_J), in two directories: two batches."""
    root = tmp_path_factory.mktemp("catalogues")
    out = []
    for obs_id, seed in ((12, 5), (13, 6)):
        sim = simulate_observation(obs_id, "NIR_J", sources_per_detector=100, seed=seed)
        out.append([str(p) for p in write_observation(sim, root / str(obs_id))])
    return out


def fresh_process(db: Path, snapshots: Path) -> dict:
    """What a new dashboard process on the store reads (`FRESH_PROCESS`)."""
    env = {**os.environ, "RELPHOT_SNAPSHOT_DIR": str(snapshots)}
    done = subprocess.run([sys.executable, "-c", FRESH_PROCESS, f"sqlite:///{db}", str(snapshots)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def versions(snapshots: Path) -> set[str]:
    """The data versions the trend snapshots of NIR_J hold."""
    kinds = [p for p in snapshots.iterdir() if p.is_dir() and p.name.startswith("trend-NIR_J-")]
    return {json.loads((v / "manifest.json").read_text())["version"] for kind in kinds for v in kind.iterdir()
            if not v.name.startswith(".")}


def test_compute_builds_the_snapshots_and_a_new_server_maps_them(catalogues, tmp_path, capsys, monkeypatch):
    db, snapshots = tmp_path / "relphot.db", tmp_path / "snapshots"
    monkeypatch.setenv("RELPHOT_SNAPSHOT_DIR", str(snapshots))
    assert main(["compute", *catalogues[0], "--db", str(db)]) == 0
    err = capsys.readouterr().err
    line = next(x for x in err.splitlines() if "snapshots of data version" in x)
    assert line.startswith("relphot compute: dashboard 9 snapshots of data version ") and "9 written" in line
    first = fresh_process(db, snapshots)
    assert first["reads"] == []  # every table mapped, none read from the store
    assert first["sizes"]["NIR_J"][0] == 4 and first["sizes"]["NIR_J"][1] > 0 and first["sizes"]["NIR_Y"][0] == 0
    assert versions(snapshots) == {first["version"]}

    # a new batch: the snapshots of the new version are built at its end, and mapped
    assert main(["compute", "-q", *catalogues[1], "--db", str(db)]) == 0
    assert "snapshot" not in capsys.readouterr().err  # -q: nothing said
    second = fresh_process(db, snapshots)
    assert second["reads"] == [] and second["version"] != first["version"]
    assert second["sizes"]["NIR_J"][0] == 8 and versions(snapshots) == {first["version"], second["version"]}


def test_snapshot_command_refreshes_stale_snapshots(catalogues, tmp_path, capsys, monkeypatch):
    db, snapshots = tmp_path / "relphot.db", tmp_path / "snapshots"
    assert main(["compute", "-q", "--no-snapshots", *catalogues[0], "--db", str(db)]) == 0
    assert not snapshots.exists()
    assert main(["snapshot", "--db", str(db), "--snapshot-dir", str(snapshots)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 10 and all("written" in line for line in out[:9])
    assert {line.split()[0].split("-")[0] for line in out[:9]} == {"trend", "detectors", "context"}
    assert out[-1].startswith("9 snapshots of data version ") and out[-1].endswith(" s]")
    assert main(["snapshot", "--db", str(db), "--snapshot-dir", str(snapshots)]) == 0
    assert "0 written, 9 already there" in capsys.readouterr().out

    # stale: a review, then a new batch without snapshots; each refresh writes the version now
    store = Store.open(f"sqlite:///{db}")
    store.add_reviews([(12, "NIR_J", 1)], "confirmed", "ann", "fine")
    assert main(["snapshot", "-q", "--db", str(db), "--snapshot-dir", str(snapshots)]) == 0
    assert capsys.readouterr().out == ""
    reviewed = fresh_process(db, snapshots)
    assert reviewed["reads"] == []
    assert main(["compute", "-q", "--no-snapshots", *catalogues[1], "--db", str(db)]) == 0
    stale = fresh_process(db, snapshots)
    assert set(stale["reads"]) == {"trend", "detector_table", "context_tables"}  # built by the server itself
    assert main(["compute", "-q", "--no-snapshots", *catalogues[1], "--db", str(db), "--force",
                 "--clip-sigma", "2.5"]) == 0  # new runs again
    assert main(["snapshot", "--db", str(db), "--snapshot-dir", str(snapshots)]) == 0
    assert "9 written" in capsys.readouterr().out
    assert fresh_process(db, snapshots)["reads"] == []
    assert len(versions(snapshots)) == 3  # the newest three of each kind kept


def test_a_failed_snapshot_is_a_warning_not_a_lost_batch(catalogues, tmp_path, capsys, monkeypatch):
    db, blocked = tmp_path / "relphot.db", tmp_path / "a-file"
    blocked.write_text("not a directory")
    monkeypatch.setenv("RELPHOT_SNAPSHOT_DIR", str(blocked))
    assert main(["compute", "-q", *catalogues[0], "--db", str(db)]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "snapshot" in line]
    assert len(warnings) == 1 and warnings[0].startswith("relphot compute: warning: dashboard snapshots not built (")
    assert warnings[0].endswith("relphot snapshot retries")
    store = Store.open(f"sqlite:///{db}", create=False)
    assert len(store.exposure_table()) == 4 and store.batches()["exit_status"].tolist() == [0]


def test_snapshot_command_refuses_what_it_cannot_do(tmp_path, capsys):
    assert main(["snapshot", "--db", str(tmp_path / "missing.db")]) == 2
    assert capsys.readouterr().err.startswith("relphot snapshot: error: ")
    empty = tmp_path / "empty.db"
    Store.open(f"sqlite:///{empty}").close()
    assert main(["snapshot", "--db", str(empty)]) == 0
    assert "is empty: nothing to build" in capsys.readouterr().err
    assert not Path(f"{empty}.snapshots").exists()
