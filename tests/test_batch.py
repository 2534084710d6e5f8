"""Survey-scale batches: inputs, streaming engines, skipping unchanged sets,
fault isolation, kills and concurrent batches (`relphot compute` end to end)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from store_fixtures import store_url  # noqa: F401  (fixture: SQLite, and PostgreSQL when available)

from relphot_core.cli import main
from relphot_core.config import Config
from relphot_core.inputs import CatalogFile, ExposureSet, form_sets, scan_catalog
from relphot_core.pipeline import LocalEngine, compute_catalogs, plan_batch, process_set, run_batch
from relphot_core.simulate import simulate_observation, write_observation
from relphot_core.store import Store

FILTERS = ("NIR_Y", "NIR_J", "NIR_H")


def _write_sets(directory: Path, n_sets: int, *, first_obs: int = 500, sources: int = 60) -> list[list[Path]]:
    """``n_sets`` small 4-exposure sets, one sub-directory per observation."""
    out = []
    for index in range(n_sets):
        obs_id, band = first_obs + index // 3, FILTERS[index % 3]
        sim = simulate_observation(obs_id, band, sources_per_detector=sources, seed=index,
                                   exposure_offsets={1 + index % 4: 0.01 * (index % 2)})
        out.append(write_observation(sim, directory / f"obs{obs_id}"))
    return out


@pytest.fixture(scope="module")
def ten_sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("ten")
    return root, _write_sets(root, 10)


def _runs(db: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT o.obs_id, o.filter FROM processing_run r "
                            "JOIN observation o ON o.id = r.observation_id").fetchall()


def _compute(capsys, *args):
    code = main(["compute", "-q", *map(str, args)])
    out = capsys.readouterr()
    return code, out.err


# ------------------------------------------------------------------ inputs
def test_directory_list_file_and_stdin_give_the_same_sets(ten_sets, tmp_path, monkeypatch, capsys):
    root, sets = ten_sets
    paths = [p for s in sets for p in s]
    listing = tmp_path / "list.txt"
    listing.write_text("# catalogues\n" + "\n".join(map(str, paths)) + "\n\n")
    by_dir = plan_batch([root])
    by_list = plan_batch([], list_files=[str(listing)])
    monkeypatch.setattr(sys, "stdin", open(listing))  # noqa: SIM115 - closed with the test
    by_stdin = plan_batch([], list_files=["-"])
    keys = [s.key for s in by_dir.to_compute]
    assert len(keys) == 10 and not by_dir.failures
    assert keys == [s.key for s in by_list.to_compute] == [s.key for s in by_stdin.to_compute]
    assert by_dir.n_files == 40 and by_dir.scan_rate > 100


def test_scan_reads_the_identity_from_the_header_alone(ten_sets):
    _, sets = ten_sets
    file = scan_catalog(sets[4][2])
    assert (file.obs_id, file.filter, file.dither) == (501, "NIR_J", 3)
    assert file.size == sets[4][2].stat().st_size and file.sha256 == ""


def test_duplicated_dither_fails_only_its_set():
    files = [CatalogFile(f"/x/{n}", 1, 1, 7, "NIR_J", d) for n, d in (("a", 1), ("b", 2), ("c", 2))]
    files += [CatalogFile(f"/y/{d}", 1, 1, 8, "NIR_J", d) for d in (1, 2)]
    sets, failures = form_sets(files)
    assert [s.key for s in sets] == [(8, "NIR_J")]
    assert failures[0].kind == "duplicated dither" and failures[0].path == "/x/c"
    assert "already given by /x/b" in failures[0].reason and failures[0].files == ("/x/a", "/x/b", "/x/c")


def test_usage_errors_exit_2(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, err = _compute(capsys, empty)
    assert code == 2 and err.strip() == f"relphot compute: error: {empty}: directory holds no catalogue " \
                                        "(no file named *.cat.fits *.ldac.fits *_cat.fits *.cat *.ldac)"
    code, err = _compute(capsys, "--from-file", tmp_path / "nope.txt")
    assert code == 2 and err.strip() == f"relphot compute: error: {tmp_path / 'nope.txt'}: cannot read the " \
                                        "list of catalogues (No such file or directory)"
    code, err = _compute(capsys)
    assert code == 2 and "no catalogue given" in err
    undecodable = tmp_path / "latin1.txt"
    undecodable.write_bytes(b"\xe9toile.cat.fits\n")  # not UTF-8: the error names the file, no crash
    code, err = _compute(capsys, "--from-file", undecodable)
    assert code == 2 and err.strip().startswith(f"relphot compute: error: {undecodable}: cannot read the "
                                                "list of catalogues after 0 line(s) ('utf-8' codec can't decode")


# -------------------------------------------------------- fault isolation
def test_corrupt_catalogue_and_lone_exposure_among_ten_sets(ten_sets, tmp_path, capsys):
    _, sets = ten_sets
    work = tmp_path / "batch"
    for index, files in enumerate(sets):
        for path in files:
            if index == 9 and path.name.endswith(("D2.cat.fits", "D3.cat.fits", "D4.cat.fits")):
                continue  # set 9 keeps one exposure: a lone exposure
            target = work / path.parent.name / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
    corrupt = work / sets[3][1].parent.name / sets[3][1].name
    corrupt.write_bytes(corrupt.read_bytes()[:-5000])  # truncated inside its tables
    db = tmp_path / "batch.db"
    out = tmp_path / "rows.json"
    code, err = _compute(capsys, work, "--db", db, "--json", out, "-j", "2")
    assert code == 1, err
    errors = [line for line in err.splitlines() if line.startswith("relphot compute: error: ")]
    assert len(errors) == 2
    assert any(str(corrupt) in line and "file truncated" in line for line in errors)
    assert any("is the only exposure of observation 503 NIR_Y" in line for line in errors)
    with Store.open(str(db)) as store:
        table = store.exposure_table()
        computed = table[table["status"] != "NODATA"].groupby(["obs_id", "filter"]).size()
        assert len(computed) == 8
        lone = table[(table["obs_id"] == 503) & (table["filter"] == "NIR_Y")]
        assert lone["status"].tolist() == ["NODATA"] and "only one exposure" in lone["reason"].iloc[0]
        failures = store.failures()
        assert sorted(failures["kind"]) == ["lone exposure", "unreadable catalogue"]
        bad = failures[failures["kind"] == "unreadable catalogue"].iloc[0]
        assert bad["path"] == str(corrupt) and bad["obs_id"] == 501 and bad["filter"] == "NIR_Y"
        assert len(bad["files"]) == 4 and "file truncated" in bad["reason"]
    assert len(json.loads(out.read_text())) == 8 * 4 + 1

    # the same command again: the stored sets are skipped, the bad one fails again (counted, not doubled)
    code, err = _compute(capsys, work, "--db", db, "-j", "2")
    assert code == 1 and "stored 0 new run(s), 0 identical run(s) already in the store, 9 unchanged" in err
    with Store.open(str(db)) as store:
        failures = store.failures()
        assert len(failures) == 2
        assert failures.set_index("kind").loc["unreadable catalogue", "attempts"] == 2
    # repaired: the set is computed and its failure resolved
    shutil.copy(sets[3][1], corrupt)
    code, err = _compute(capsys, work, "--db", db)
    assert code == 0 and "stored 1 new run(s)" in err  # the lone exposure, unchanged, is skipped
    with Store.open(str(db)) as store:
        assert store.failures()["kind"].tolist() == ["lone exposure"]  # still alone: still open
        assert len(store.failures(open_only=False)) == 2
    assert len(_runs(db)) == 10


def test_strict_stores_nothing(ten_sets, tmp_path, capsys):
    _, sets = ten_sets
    db = tmp_path / "strict.db"
    junk = tmp_path / "junk.cat.fits"
    junk.write_text("not fits")
    code, err = _compute(capsys, *sets[0], *sets[1], junk, "--db", db, "--strict")
    assert code == 2 and "--strict: nothing computed, nothing stored" in err
    assert _runs(db) == []
    code, err = _compute(capsys, *sets[0], sets[1][0], "--db", db, "--strict")
    assert code == 2 and "--strict: nothing stored" in err and _runs(db) == []
    code, err = _compute(capsys, *sets[0], *sets[1], "--db", db, "--strict")
    assert code == 0 and len(_runs(db)) == 2


def test_run_batch_stores_as_sets_complete_and_strict_stores_nothing(ten_sets, tmp_path):
    from functools import partial

    _, sets = ten_sets
    copy = tmp_path / "three"
    for files in sets[:3]:
        for path in files:
            (copy / path.parent.name).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, copy / path.parent.name / path.name)
    plan = plan_batch([copy])
    broken = plan.to_compute[1].files[2].path
    Path(broken).write_bytes(Path(broken).read_bytes()[:4000])  # unreadable once the worker opens it
    work = partial(process_set, config=Config(), fingerprint_files=True)

    strict_store = Store.open(f"sqlite:///{tmp_path / 'strict.db'}")
    shown = []
    done = run_batch(plan, work, LocalEngine(workers=1), store=strict_store, strict=True, on_result=shown.append)
    assert done.refused and len(done.failures) == 1 and shown == [] and strict_store.is_empty()

    store = Store.open(f"sqlite:///{tmp_path / 'batch.db'}")
    failed, ticks = [], []
    done = run_batch(plan, work, LocalEngine(workers=1), store=store, on_result=shown.append,
                     on_failure=failed.append, on_set=lambda: ticks.append(1))
    assert not done.refused and (done.new_runs, done.same_runs) == (2, 0) and len(ticks) == 3
    assert [f.path for f in failed] == [f.path for f in done.failures] == [broken]
    good = [s.key for s in plan.to_compute if s.files[2].path != broken]
    assert sorted((r.obs_id, r.filter) for r in shown) == sorted(good)
    again = run_batch(plan, work, LocalEngine(workers=1), store=store)
    assert (again.new_runs, again.same_runs) == (0, 2) and len(again.failures) == 1
    nothing = run_batch(replace(plan, to_compute=[]), work, None, store=store)
    assert (nothing.new_runs, nothing.failures, nothing.engine) == (0, [], "")


# ------------------------------------------------------------- incremental
def test_unchanged_sets_are_skipped_touched_checked_by_hash_changed_recomputed(ten_sets, tmp_path, capsys):
    _, sets = ten_sets
    work = tmp_path / "inc"
    work.mkdir()
    copies = []
    for path in sets[0] + sets[1]:
        copies.append(work / path.name)
        shutil.copy(path, copies[-1])
    db = tmp_path / "inc.db"
    assert _compute(capsys, work, "--db", db)[0] == 0
    code, err = _compute(capsys, work, "--db", db)
    assert code == 0 and "2 unchanged set(s) skipped" in err
    os.utime(copies[0], ns=(time.time_ns(), time.time_ns() + 10**9))  # touched, same bytes
    code, err = _compute(capsys, work, "--db", db)
    assert "2 unchanged set(s) skipped" in err
    other = write_observation(simulate_observation(500, "NIR_J", sources_per_detector=60, seed=99), tmp_path / "o")
    shutil.copy(other[0], copies[4])  # set 1's dither 1, measured again: new content
    code, err = _compute(capsys, work, "--db", db)
    assert "1 unchanged set(s) skipped" in err
    code, err = _compute(capsys, work, "--db", db, "--clip-sigma", "2.5")  # new parameters: all recomputed
    assert "stored 2 new run(s)" in err
    code, err = _compute(capsys, work, "--db", db, "--force")
    assert "stored 0 new run(s), 2 identical run(s) already in the store, 0 unchanged" in err


def test_plan_skips_without_reading_tables(ten_sets, tmp_path, monkeypatch):
    _, sets = ten_sets
    db = tmp_path / "skip.db"
    with Store.open(str(db)) as store:
        from relphot_core.store.writes import params_digest

        params = params_digest(Config().parameters())
        plan = plan_batch([p for s in sets[:3] for p in s])
        for exposure_set in plan.to_compute:
            outcome = process_set(exposure_set)
            store.save_set(outcome.result, outcome.files, params)
        recorded = store.recorded_inputs(params)

    def no_scan(*args, **kwargs):
        raise AssertionError("a header was read")

    monkeypatch.setattr("relphot_core.pipeline.scan_catalog", no_scan)
    plan = plan_batch([p for s in sets[:3] for p in s], recorded=recorded)
    assert len(plan.unchanged) == 3 and not plan.to_compute


# ----------------------------------------------------------------- engines
def _values(rows):
    return {(r["obs_id"], r["filter"], r["exposure"]): (r["value"], r["status"]) for r in rows}


def test_local_processes_dask_and_in_memory_give_the_same_factors(ten_sets, tmp_path, capsys):
    pytest.importorskip("distributed")
    _root, sets = ten_sets
    paths = [p for s in sets[:6] for p in s]
    in_memory = [row for result in compute_catalogs(paths, Config()) for row in result.to_rows()]
    results = {}
    for name, extra in (("one", ["-j", "1"]), ("local", ["-j", "2"]),
                        ("dask", ["--scheduler", "local", "--workers", "2"])):
        out = tmp_path / f"{name}.json"
        code = main(["compute", *map(str, paths), "--json", str(out), *extra])  # not quiet: the summary too
        err = capsys.readouterr().err
        assert code == 0, err
        assert "computed 6 set(s) in " in err
        results[name] = _values(json.loads(out.read_text()))
    expected = _values(in_memory)
    assert len(expected) == 24
    for name, values in results.items():
        assert values == expected, name


def test_local_engine_keeps_a_bounded_number_in_flight():
    submitted = []

    def sets():
        for index in range(20):
            submitted.append(index)
            yield ExposureSet(index, "NIR_J", (CatalogFile("/none", 1, 1, index, "NIR_J", 1),))

    engine = LocalEngine(workers=2, in_flight=3)
    seen = 0
    for outcome in engine.run(process_set, sets()):
        seen += 1
        assert len(submitted) - seen <= 3
        assert outcome.failures[0].kind == "unreadable catalogue"
    assert seen == 20


def test_scheduler_that_does_not_answer_is_a_clear_error(ten_sets, capsys):
    pytest.importorskip("distributed")
    _, sets = ten_sets
    start = time.perf_counter()
    code, err = _compute(capsys, *sets[0], "--scheduler", "tcp://127.0.0.1:9", "--connect-timeout", "2")
    assert code == 2 and time.perf_counter() - start < 20
    assert err.strip().splitlines()[-1].startswith(
        "relphot compute: error: tcp://127.0.0.1:9: no Dask scheduler answers within 2 s")


def test_workers_that_cannot_see_the_inputs(tmp_path):
    pytest.importorskip("distributed")
    from relphot_core.errors import RelphotError
    from relphot_core.pipeline import DaskEngine

    engine = DaskEngine("local", workers=1)
    try:
        # no MALLOC_TRIM_THRESHOLD_ in the workers: with it set relphot computes 2x slower
        trim = engine.client.run(os.environ.get, "MALLOC_TRIM_THRESHOLD_")
        assert engine.warnings == [] and set(trim.values()) == {None}
        engine.check_paths([__file__])
        with pytest.raises(RelphotError, match="cannot read this catalogue: the workers must see the inputs"):
            engine.check_paths([str(tmp_path / "only-on-the-client.cat.fits")])
    finally:
        engine.close()


def _slow_process_set(exposure_set):
    time.sleep(0.3)
    return process_set(exposure_set, keep_samples=False)


def test_dask_worker_killed_mid_batch_loses_and_doubles_nothing(ten_sets, tmp_path):
    pytest.importorskip("distributed")
    from relphot_core.pipeline import DaskEngine

    _, sets = ten_sets
    plan = plan_batch([p for s in sets for p in s])
    engine = DaskEngine("local", workers=2, in_flight=4)
    try:
        pids = engine.client.run(os.getpid)
        keys = []
        for outcome in engine.run(_slow_process_set, plan.to_compute):
            keys.append((outcome.obs_id, outcome.filter))
            assert outcome.result is not None and not outcome.failures
            if len(keys) == 2:
                os.kill(next(iter(pids.values())), signal.SIGKILL)  # a worker dies with tasks in hand
    finally:
        engine.close()
    assert sorted(keys) == sorted(s.key for s in plan.to_compute)


# ------------------------------------------------------ kills, concurrency
def _relphot(*args):
    return [sys.executable, "-m", "relphot_core.cli", "compute", "-q", *map(str, args)]


def test_kill_9_half_way_then_the_same_command_finishes_the_rest(tmp_path):
    sets = _write_sets(tmp_path / "cats", 12, first_obs=700, sources=150)
    db = tmp_path / "kill.db"
    command = _relphot(tmp_path / "cats", "--db", db, "-j", "1")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    stored = 0
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
        if db.exists():
            try:
                stored = len(_runs(db))
            except sqlite3.Error:
                continue
            if stored >= 3:
                break
    process.send_signal(signal.SIGKILL)
    process.wait()
    first = len(_runs(db))
    assert 3 <= first < len(sets), "the batch should be killed half-way"
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"{first} unchanged set(s) skipped" in done.stderr
    runs = _runs(db)
    assert len(runs) == len(set(runs)) == len(sets)


def test_two_batches_on_one_store_both_finish(tmp_path, store_url):
    _write_sets(tmp_path / "cats", 6, first_obs=800)
    Store.open(store_url).close()
    processes = [subprocess.Popen(_relphot(tmp_path / "cats", "--db", store_url, "-j", "1"),
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for process in processes:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    with Store.open(store_url) as store, store.engine.connect() as conn:
        runs = conn.exec_driver_sql("SELECT o.obs_id, o.filter FROM processing_run r "
                                    "JOIN observation o ON o.id = r.observation_id").fetchall()
        assert conn.exec_driver_sql("SELECT count(*) FROM input_file").scalar() == 24
    assert len(runs) == len(set(runs)) == 6


def test_an_unexpected_error_is_a_failure_and_its_traceback_is_logged(ten_sets, monkeypatch, caplog):
    import logging

    import relphot_core.factors

    def broken(catalogs, config, keep_samples=True):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(relphot_core.factors, "compute_observation", broken)
    sets, _ = form_sets(scan_catalog(path) for path in ten_sets[1][0])
    with caplog.at_level(logging.ERROR, logger="relphot_core.pipeline"):
        outcome = process_set(sets[0], fingerprint_files=False)
    assert outcome.result is None and [f.kind for f in outcome.failures] == ["computation error"]
    assert outcome.failures[0].reason == "ZeroDivisionError: a bug"
    [record] = caplog.records
    assert record.name == "relphot_core.pipeline" and record.exc_info[0] is ZeroDivisionError
    assert f"observation {sets[0].obs_id} {sets[0].filter}: computation error" in record.getMessage()
