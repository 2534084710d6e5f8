"""The load benchmark (benchmarks/bench_load.py), run tiny: gunicorn with two
workers, the baseline commit and this checkout, real HTTP."""
from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_bench_load_runs_tiny(tmp_path):
    if not (shutil.which("gunicorn") or Path(sys.executable).with_name("gunicorn").exists()):
        pytest.skip("gunicorn is not installed")
    if subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True).returncode:
        pytest.skip("not a git checkout (the baseline is a commit)")
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_load.py"), "--observations", "120", "--no-detectors",
         "--duration", "2", "--requests", "60", "--clients", "1,3", "--workers", "2", "--probes", "1",
         "--review-every", "0.5", "--db", str(tmp_path / "load.db"), "--port", str(free_port()),
         "--baseline", "HEAD"],
        capture_output=True, text=True, timeout=400, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert out.count("== baseline (") == 1 and out.count("== relphot (this checkout), shared snapshots ==") == 1
    assert len(re.findall(r"snapshots built before the start \(relphot snapshot\): [\d.]+ s", out)) == 1
    levels = re.findall(r"N = (\d+): (\d+) requests in [\d.]+ s = [\d.]+ requests/s, (\d+) errors", out)
    assert [n for n, _, _ in levels] == ["1", "3", "1", "3"]
    assert all(0 < int(count) <= 60 and errors == "0" for _, count, errors in levels), levels
    for route in ("overview callback", "/api/observations", "/api/exposures", "/download/exposures.csv"):
        assert re.search(rf"{re.escape(route)}\s+\d+\s+\d+\s+\d+\s+\d+", out), route
    fresh = re.findall(r"shown by 8 overview callbacks in a row after: ([\d.]+) s", out)
    assert len(fresh) == 2 and all(float(f) < 60 for f in fresh), out
    assert len(re.findall(r"worker \d+: \d+ -> \d+ -> \d+ over \d+ s; PSS \d+", out)) >= 4
    warm = re.findall(r"warm-up per worker \(fork to warm cache\), all starting at once: ([\d., ]+) s", out)
    assert len(warm) == 2 and all(len(w.split(",")) == 2 for w in warm), out  # both workers, both servers
    assert len(re.findall(r"a worker restarted after the levels \(pid \d+\): warm [\d.]+ s after its fork", out)) == 2
    assert len(re.findall(r"workers alive at the end: RSS sum \d+ MiB, PSS sum \d+ MiB", out)) == 2
