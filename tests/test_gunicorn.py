"""The documented production start: gunicorn serving ``dashboard.wsgi:server``
on a store named by ``$RELPHOT_DB``; every page, the API and a download are
fetched from it."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from dashboard_fixtures import BAD, fill_small_store

pytestmark = pytest.mark.slow  # starts gunicorn and its workers

GUNICORN = shutil.which("gunicorn") or str(Path(sys.executable).with_name("gunicorn"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fetch(url: str, data: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not Path(GUNICORN).exists():
        pytest.skip("gunicorn is not installed")
    db = tmp_path_factory.mktemp("gunicorn") / "served.db"
    fill_small_store(f"sqlite:///{db}")
    port = free_port()
    env = {**os.environ, "RELPHOT_DB": f"sqlite:///{db}"}
    process = subprocess.Popen(
        [GUNICORN, "--workers", "2", "--bind", f"127.0.0.1:{port}", "--timeout", "60", "dashboard.wsgi:server"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            if process.poll() is not None:
                raise AssertionError("gunicorn exited: " + process.stdout.read().decode(errors="replace"))
            try:
                if fetch(base + "/api/observations?limit=1")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.3)
        else:
            raise AssertionError("gunicorn did not answer within 60 s")
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:  # pragma: no cover
            os.killpg(process.pid, signal.SIGKILL)


def render(base: str, path: str, search: str = "") -> str:
    """Ask the server for a page's content the way the browser does (the
    pages router callback), and return it as JSON text."""
    status, body = fetch(base + "/_dash-dependencies")
    assert status == 200
    router = next(c for c in json.loads(body) if "_pages_content.children" in c["output"])
    payload = {
        "output": router["output"],
        "outputs": [{"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}],
        "inputs": [{"id": "_pages_location", "property": "pathname", "value": path},
                   {"id": "_pages_location", "property": "search", "value": search}],
        "changedPropIds": ["_pages_location.pathname"],
        "state": [],
    }
    status, body = fetch(base + "/_dash-update-component", json.dumps(payload).encode())
    assert status == 200, body[:500]
    return body.decode()


@pytest.mark.parametrize("path, search, expected, code", [
    ("/", "", "Relative calibration of NISP exposures", 200),
    ("/", "?filter=NIR_Q&from=2025-13-01", "Unknown filter 'NIR_Q'", 200),
    (f"/observation/{BAD[0]}", f"?filter={BAD[1]}", f"Observation {BAD[0]}", 200),
    (f"/observation/{BAD[0]}", "", "Processing runs", 200),
    ("/observation/99999", "", "Observation not found", 404),
    ("/observation/%3Cscript%3E", "", "not an observation id", 404),
    ("/triage", "", "await review", 200),
    ("/reviews", "", "No review yet", 200),
    ("/exports", "?filter=NIR_J", "One observation", 200),
    ("/nowhere", "", "Page not found", 404),
])
def test_every_page_under_gunicorn(server, path, search, expected, code):
    # the one Dash page in every case; an unknown address or observation
    # with status 404 for scripts and link checkers
    status, html = fetch(server + path + search)
    assert status == code and b"dash-renderer" in html
    assert expected in render(server, path, search)


def test_assets_api_and_download_under_gunicorn(server, tmp_path):
    from relphot_core.products import read_product

    status, html = fetch(server + "/")
    css = [part.split('"')[0] for part in html.decode().split('href="') if part.startswith("/assets/")]
    assert css, "the stylesheet is linked"
    assert fetch(server + css[0])[0] == 200
    status, body = fetch(server + "/api/observations?status=FAIL")
    assert status == 200 and json.loads(body)["observations"][0]["obs_id"] == BAD[0]
    assert fetch(server + "/api/observation/99999")[0] == 404
    status, body = fetch(server + f"/download/product/{BAD[0]}/{BAD[1]}.xml")
    assert status == 200
    path = tmp_path / "p.xml"
    path.write_bytes(body)
    assert read_product(path).exposure(BAD[2]).status == "FAIL"
