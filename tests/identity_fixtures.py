"""A real dashboard server per auth mode, for the identity tests (HTTP and
browser): a small store with a FAIL exposure to review, users of each
role, and plain HTTP requests from a chosen loopback address."""
from __future__ import annotations

import http.client
import itertools
import json
import os
import threading
from dataclasses import dataclass
from http.cookies import SimpleCookie

import pytest

from relphot_core.identity import AuthSettings, hash_password
from relphot_core.store import Store
from relphot_core.testing.synth import make_result

PASSWORD = "a long enough password"
USERS = {"alice": "reviewer", "bob": "reviewer", "lea": "lead", "vic": "viewer", "ada": "admin"}
SECRET = "test-secret-key-" + "0" * 32
_ports = itertools.count()


def next_port() -> int:
    """A port of this checkout's range (RELPHOT_TEST_DASH_PORT + 60 to + 79: above the dash_duo servers of
    the suite), else any free one."""
    base = os.environ.get("RELPHOT_TEST_DASH_PORT")
    return int(base) + 60 + next(_ports) % 20 if base else 0


def fill_store(url: str) -> Store:
    store = Store.open(url)
    store.save_results([make_result(1052, "NIR_H", values=[1.0, 1.0, 0.974, 1.0], mjd_start=60001.0),
                        make_result(1053, "NIR_H", values=[1.0, 1.0, 1.0, 0.97], mjd_start=60002.0)])
    password_hash = hash_password(PASSWORD)  # one hash for all: argon2 is slow on purpose
    for name, role in USERS.items():
        store.add_user(name, role, password_hash)
    store.update_problems()  # as relphot compute --db does: a problem per bad exposure
    return store


@dataclass
class Served:
    app: object
    store: Store
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def request(self, method: str, path: str, body: object = None, *, headers: dict | None = None,
                source: str | None = None) -> tuple[int, dict, str]:
        """One HTTP request (from ``source``, a loopback address); status, headers, text."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30,
                                          source_address=(source, 0) if source else None)
        data = None
        headers = dict(headers or {})
        if isinstance(body, (dict, list)):
            data = json.dumps(body)
            headers.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            data = body
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        text = response.read().decode("utf-8", "replace")
        out = {k.lower(): v for k, v in response.getheaders()}
        out["set-cookie-all"] = response.msg.get_all("Set-Cookie") or []
        conn.close()
        return response.status, out, text

    def sign_in(self, name: str, password: str = PASSWORD) -> tuple[int, str | None]:
        """Sign in through /login; the status and the session cookie (name=value)."""
        from urllib.parse import urlencode

        status, headers, _ = self.request("POST", "/login", urlencode({"username": name, "password": password}))
        cookie = None
        for line in headers["set-cookie-all"]:
            jar = SimpleCookie(line)
            if "relphot_session" in jar:
                cookie = f"relphot_session={jar['relphot_session'].value}"
        return status, cookie


def serve_app(app, store: Store, host: str = "127.0.0.1"):
    from werkzeug.serving import make_server

    server = make_server(host, next_port(), app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, Served(app, store, host, server.server_port)


@pytest.fixture
def serve_mode(tmp_path):
    """``serve_mode(**auth settings)`` -> a running `Served` dashboard."""
    from dashboard import create_app

    servers = []

    def start(**values) -> Served:
        store = fill_store(f"sqlite:///{tmp_path / f'store{len(servers)}.db'}")
        values.setdefault("cookie_secure", False)  # plain HTTP on loopback in tests
        settings = AuthSettings.from_mapping(values)
        app = create_app(store, cache_ttl=0, warm=False, auth_settings=settings)
        server, served = serve_app(app, store)
        servers.append((server, store))
        return served

    yield start
    for server, store in servers:
        server.shutdown()
        server.server_close()
        store.close()


def callback_body(app, output_part: str, inputs: list[dict], state: list[dict], changed: str) -> dict:
    """A ``/_dash-update-component`` body for the callback whose output key
    contains ``output_part`` (as the browser sends it, outputs left to Dash)."""
    output = next(key for key in app.callback_map if output_part in key)
    outputs = [dict(zip(("id", "property"), part.split("@")[0].rsplit(".", 1)))
               for part in output.strip(".").split("...")]
    return {"output": output, "outputs": outputs if len(outputs) > 1 else outputs[0], "inputs": inputs,
            "state": state, "changedPropIds": [changed]}


def triage_review_body(app, rows: list[dict], decision: str = "confirmed", reviewer: str = "") -> dict:
    """The problem queue's review callback: ``decision`` on the problem of
    the first of ``rows`` (exposure rows with the ``review_id`` the page
    showed), as the page sends it."""
    from dashboard.data import STORE_KEY

    button = "triage-confirm" if decision == "confirmed" else "triage-overrule"
    store = app.server.config[STORE_KEY]
    first = rows[0]
    problem = next(int(pid) for pid in store.problems(current=None)["id"]
                   if ((first["obs"], first["filter"], first["exposure"])
                       in set(map(tuple, store.problem_exposures(int(pid))[["obs_id", "filter", "exposure"]]
                                  .values.tolist()))))
    seen = {f"{r['obs']}|{r['filter']}|{r['exposure']}": r.get("review_id") for r in rows}
    return callback_body(app, "triage-changed.data..", [
        {"id": "triage-confirm", "property": "n_clicks", "value": 1 if decision == "confirmed" else 0},
        {"id": "triage-overrule", "property": "n_clicks", "value": 1 if decision == "overruled" else 0},
    ], [
        {"id": "triage-reviewer", "property": "value", "value": reviewer},
        {"id": "triage-comment", "property": "value", "value": "seen"},
        {"id": "triage-cause", "property": "value", "value": "satellite trail"},
        {"id": "triage-chosen", "property": "data", "value": problem},
        {"id": "triage-expected", "property": "data", "value": seen},
    ], f"{button}.n_clicks")


def fail_row(review_id: int | None = None) -> dict:
    """The triage grid's row of 1052 NIR_H dither 3 (FAIL), as the page sends it."""
    return {"id": "1052|NIR_H|3", "obs": 1052, "filter": "NIR_H", "exposure": 3, "flag_kind": "status",
            "flag_reason": "FAIL", "review_id": review_id}


def revoke_body(app, batch: int, by: str = "") -> dict:
    """The reviews page's revoke callback for ``batch`` (confirmed)."""
    return callback_body(app, "reviews-batch.options", [
        {"id": "reviews-confirm", "property": "submit_n_clicks", "value": 1},
    ], [
        {"id": "reviews-batch", "property": "value", "value": batch},
        {"id": "reviews-by", "property": "value", "value": by},
        {"id": "reviews-search", "property": "value", "value": ""},
    ], "reviews-confirm.submit_n_clicks")
