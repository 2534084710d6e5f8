"""``relphot serve`` and ``relphot demo`` from the command line."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from relphot_core.cli import main
from relphot_core.store import Store

RELPHOT = [sys.executable, "-m", "relphot_core.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_help_mentions_loopback_and_gunicorn(capsys):
    try:
        main(["serve", "--help"])
    except SystemExit:
        pass
    out = capsys.readouterr().out
    assert "127.0.0.1" in out and "gunicorn" in out


def test_bad_port_and_bad_store_are_one_line_errors(capsys, tmp_path):
    assert main(["serve", "--db", f"sqlite:///{tmp_path}/x.db", "--port", "70000"]) == 2
    assert "not a TCP port" in capsys.readouterr().err
    assert main(["serve", "--db", "nosuchdriver://user:secret@host/db"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "secret" not in err


def test_demo_fills_a_store_with_injected_problems(tmp_path):
    assert main(["demo", "--dir", str(tmp_path / "demo"), "--observations", "4", "--sources-per-detector", "60",
                 "--workers", "1", "--no-serve"]) == 0
    store = Store.open(f"sqlite:///{tmp_path / 'demo' / 'relphot.db'}")
    observations = store.observation_table()
    assert len(observations) == 12  # 4 observations x 3 filters
    # one set lost a dither (the K = 3 case the cross-check is for), one exposure overlaps nothing
    assert sorted(observations["n_exposures"]).count(3) == 1 and set(observations["n_exposures"]) == {3, 4}
    assert (observations["n_nodata"] > 0).sum() == 1
    assert (tmp_path / "demo" / "catalogs" / "truth.json").exists()


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_serve_answers_on_loopback(tmp_path, command):
    db = tmp_path / "served.db"
    Store.open(f"sqlite:///{db}")
    port = free_port()
    args = (["serve", "--db", f"sqlite:///{db}"] if command == "serve" else
            ["demo", "--dir", str(tmp_path / "demo"), "--observations", "3", "--sources-per-detector", "30",
             "--workers", "1"])
    process = subprocess.Popen(RELPHOT + args + ["--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 60
        while True:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=5).read()
                break
            except OSError:
                assert process.poll() is None, process.stdout.read().decode()
                assert time.time() < deadline, "relphot serve did not answer"
                time.sleep(0.3)
        assert b'"ok"' in body
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read()
        assert b"relphot QC" in page
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


def test_impossible_rule_parameters_are_refused_at_start(tmp_path, capsys):
    config = tmp_path / "rules.toml"
    config.write_text("[control]\ncusum_h = 0\n")
    assert main(["serve", "--db", str(tmp_path / "x.db"), "--config", str(config), "--port", str(free_port())]) == 2
    assert capsys.readouterr().err.strip() == f"relphot serve: error: {config}: control.cusum_h must be > 0 (got 0.0)"
    assert not (tmp_path / "x.db").exists()  # refused before anything was opened


def test_the_dashboard_uses_the_configured_rules(tmp_path):
    from dashboard import create_app
    from relphot_core.config import Config
    from relphot_core.testing.synth import make_result

    store = Store.open(f"sqlite:///{tmp_path / 'rules.db'}")
    store.save_results([make_result(i, values=[1.0, 1.0, 1.0, 1.004 if i >= 60 else 1.0], mjd_start=60000.0 + i)
                        for i in range(1, 121)])
    for config, alarmed in ((Config(), True), (Config().replace(control={"cusum_h": 1e6, "outlier_nsigma": 1e3}),
                                                False)):
        app = create_app(store, config=config, warm=False)
        with app.server.app_context():
            table = app.server.config["RELPHOT_CACHE"].trend("NIR_J")
        assert bool(table["alarmed"].any()) is alarmed


def test_a_taken_port_is_one_line_before_any_work_and_a_demo_store_is_never_overwritten(tmp_path, capsys):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        start = time.perf_counter()
        assert main(["demo", "--dir", str(tmp_path / "demo"), "--port", str(port)]) == 2
        assert time.perf_counter() - start < 5
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"relphot demo: error: 127.0.0.1:{port}: cannot listen")
        assert "--port" in err[0] and not (tmp_path / "demo").exists()
        assert main(["serve", "--db", str(tmp_path / "s.db"), "--port", str(port)]) == 2
        assert "choose another port with --port" in capsys.readouterr().err
    args = ["demo", "--dir", str(tmp_path / "d"), "--observations", "2", "--sources-per-detector", "20",
            "--workers", "1", "--no-serve"]
    assert main(args) == 0
    store = tmp_path / "d" / "relphot.db"
    before = store.read_bytes()
    capsys.readouterr()
    assert main(args) == 2
    assert capsys.readouterr().err.strip() == (f"relphot demo: error: {store}: a demo store is there already, with "
                                               f"its reviews: reopen it with `relphot serve --db {store}`, or "
                                               "rebuild it with --fresh")
    assert store.read_bytes() == before
    assert main(args + ["--fresh"]) == 0


def test_serve_refuses_a_missing_sqlite_store_in_one_line(tmp_path, capsys):
    missing = tmp_path / "typo.db"
    assert main(["serve", "--db", str(missing), "--port", str(free_port())]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such store" in err[0] and str(missing) in err[0]
    assert not missing.exists()


def test_status_thresholds_other_than_the_stored_ones_are_refused_on_serve(tmp_path, capsys):
    """relphot serve cannot judge the stored statuses again: a status or
    detector threshold (option or --config) other than the one the current
    runs were computed with is refused in one line naming it and the stored
    value; the same values are accepted (the bands then match the statuses)."""
    from relphot_core.config import Config
    from relphot_core.testing.synth import make_result

    db = tmp_path / "judged.db"
    computed = {k: v for k, v in Config().replace(thresholds={"warn": 0.004}).parameters().items()}
    with Store.open(f"sqlite:///{db}") as store:
        store.save_results([make_result(i, parameters=computed, seed=i) for i in range(1, 4)])
    port = str(free_port())
    assert main(["serve", "--db", str(db), "--warn", "0.006", "--port", port]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("relphot serve: error: --warn 0.006 (command line): the store's statuses were judged with "
                   "thresholds.warn = 0.004 by relphot compute; the dashboard shows them as stored and cannot "
                   "judge them again: serve with the thresholds they were computed with, or recompute them "
                   "(relphot compute --db)")
    config = tmp_path / "serve.toml"
    config.write_text("[detectors]\nfail = 0.02\n[thresholds]\nwarn = 0.004\n")
    assert main(["serve", "--db", str(db), "--config", str(config), "--port", port]) == 2
    assert f"detectors.fail = 0.02 ({config}): the store's statuses were judged with detectors.fail = 0.015" \
        in capsys.readouterr().err
    assert main(["serve", "--db", str(db), "--port", port]) == 2  # the default 0.005 is not what they were judged with
    assert "thresholds.warn = 0.005 (the default)" in capsys.readouterr().err
    from relphot_core.cli import build_parser
    from relphot_core.cli.common import config_from_args
    from relphot_core.cli.serve import check_judged

    args = build_parser().parse_args(["serve", "--db", str(db), "--warn", "0.004"])
    with Store.open(f"sqlite:///{db}") as store:
        check_judged(config_from_args(args), store, args)  # the values they were judged with: served
    # the WSGI entry point (gunicorn) refuses the same, before serving anything
    import os
    import subprocess
    import sys

    env = dict(os.environ, RELPHOT_DB=f"sqlite:///{db}", RELPHOT_CONFIG=str(config))
    done = subprocess.run([sys.executable, "-c", "import dashboard.wsgi"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0
    assert (f"detectors.fail = 0.02 ({config}): the store's statuses were judged with detectors.fail = 0.015"
            in done.stderr)
