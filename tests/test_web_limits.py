"""The web server's limits, status codes and headers (Flask test client)."""
from __future__ import annotations

import pytest

from dashboard import create_app
from dashboard.app import MAX_REQUEST_BYTES, SECURITY_HEADERS
from relphot_core.store import Store


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    store = Store.open(f"sqlite:///{tmp_path_factory.mktemp('web') / 'relphot.db'}")
    return create_app(store, warm=False, cache_ttl=0).server.test_client()


def test_security_headers_on_pages_api_and_errors(client):
    for path in ("/", "/api/health", "/no/such/page", "/_dash-component-suites/nope/x.js"):
        response = client.get(path)
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name) == value, (path, name)
    assert "frame-ancestors 'none'" in SECURITY_HEADERS["Content-Security-Policy"]
    assert "script-src" not in SECURITY_HEADERS["Content-Security-Policy"]  # Dash's inline scripts still run


def test_oversized_post_is_413_unread(client):
    response = client.post("/_dash-update-component", data=b"x" * (MAX_REQUEST_BYTES + 1),
                           content_type="application/json")
    assert response.status_code == 413


@pytest.mark.parametrize("body", [
    b"{", b"", b"[]", b"null", b'"text"', b'{"output": 1}', b'{"output": "no.such"}',
    b'{"output": "no.such", "inputs": [], "changedPropIds": []}',
    b'{"output": "ov-dummy.children", "inputs": [], "changedPropIds": []}',  # a browser-side callback
    b"[" * 200_000 + b"]" * 200_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    b"\xff\xfe not utf-8",
])
def test_malformed_callback_posts_are_400(client, body):
    response = client.post("/_dash-update-component", data=body, content_type="application/json")
    assert response.status_code == 400


def test_a_well_formed_callback_request_reaches_dash(client):
    deps = client.get("/_dash-dependencies").get_json()
    dep = next(d for d in deps if d["inputs"] and not d["state"] and not d.get("clientside_function"))
    inputs = [{"id": i["id"], "property": i["property"], "value": None} for i in dep["inputs"]]
    body = {"output": dep["output"], "outputs": [], "inputs": inputs,
            "changedPropIds": [], "state": []}
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code != 400  # passed the guard (the callback's answer to null inputs is its own)


@pytest.mark.parametrize("path", [
    "/_dash-component-suites/nope/x.js", "/_dash-component-suites/dash/nope.js",
    "/_dash-component-suites/dash/dcc/nope.v1_0_0m1.js", "/_dash-component-suites/dash/..%2F..%2Fetc%2Fpasswd",
])
def test_unknown_component_suite_files_are_404(client, path):
    assert client.get(path).status_code == 404
