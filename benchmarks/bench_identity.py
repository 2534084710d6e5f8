"""The cost of knowing who asks: the identity check per request (issue 19,
target p95 < 5 ms).

For each auth mode the dashboard's per-request work is timed on a SQLite
store holding 50 users and 1,000 API tokens: resolving the identity
(`dashboard.auth` before each request: a proxy's headers checked against
the trusted addresses; an accounts session's user read again from the
store; an API token's digest looked up) plus the role check of a write
(`dashboard.auth.require`). Each timing is one request context of the Flask
server (no network), so what is measured is what the check adds to a
request. Wall-clock times include waiting for a core on a loaded machine;
the CPU time of the thread does not.

Usage::

    python benchmarks/bench_identity.py [--requests 2000]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def _timed(app, environ: dict, n: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU (this thread's) milliseconds of ``n`` checks."""
    from dashboard import auth
    from relphot_core.identity import Action

    server = app.server
    wall, cpu = [], []
    for _ in range(n):
        with server.test_request_context("/_dash-update-component", method="POST", **environ):
            start, start_cpu = time.perf_counter(), time.thread_time()
            refused = auth._resolve()
            if refused is None:
                auth.require(Action.REVIEW)
            wall.append((time.perf_counter() - start) * 1000)
            cpu.append((time.thread_time() - start_cpu) * 1000)
            assert refused is None, refused.status
    return wall, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args(argv)

    from dashboard import create_app
    from relphot_core.identity import AuthSettings, hash_password, new_token, token_digest
    from relphot_core.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{Path(tmp) / 'bench.db'}")
        password_hash = hash_password("benchmark password")
        for i in range(50):
            store.add_user(f"user{i:02d}", "reviewer", password_hash)
        tokens = [new_token() for _ in range(1000)]
        for i, token in enumerate(tokens):
            store.add_token(f"user{i % 50:02d}", token_digest(token))
        secret = "b" * 32
        modes = {
            "none": ({}, {}),
            "proxy (header)": ({"mode": "proxy", "trusted_proxies": "127.0.0.1, 10.0.0.0/8",
                                "default_role": "reviewer"},
                               {"headers": {"X-Forwarded-User": "user07"}, "environ_base": {
                                   "REMOTE_ADDR": "127.0.0.1"}}),
            "accounts (API token)": ({"mode": "accounts", "secret_key": secret},
                                     {"headers": {"Authorization": f"Bearer {tokens[500]}"}}),
        }
        print(f"identity check per request, {args.requests} requests per mode: wall clock p50 / p95 / max, "
              "then CPU time p50 / p95 (ms)")
        for label, (values, environ) in modes.items():
            app = create_app(store, cache_ttl=0, warm=False, auth_settings=AuthSettings.from_mapping(values))
            _report(label, *_timed(app, environ, args.requests))
        # a signed-in browser: the session cookie from a real sign-in
        app = create_app(store, cache_ttl=0, warm=False,
                         auth_settings=AuthSettings.from_mapping({"mode": "accounts", "secret_key": secret,
                                                                  "cookie_secure": False}))
        client = app.server.test_client()
        response = client.post("/login", data={"username": "user07", "password": "benchmark password"})
        assert response.status_code == 302, response.status_code
        cookie = client.get_cookie("relphot_session")
        _report("accounts (session)", *_timed(app, {"headers": {"Cookie": f"relphot_session={cookie.value}"}},
                                              args.requests))
        store.close()
    return 0


def _report(label: str, wall: list[float], cpu: list[float]) -> None:
    def p95(values: list[float]) -> float:
        return sorted(values)[int(0.95 * (len(values) - 1))]

    print(f"  {label:<22} {statistics.median(wall):6.3f} / {p95(wall):6.3f} / {max(wall):7.3f}   "
          f"cpu {statistics.median(cpu):6.3f} / {p95(cpu):6.3f}   {'ok' if p95(wall) < 5 else 'wall p95 over 5 ms'}")


if __name__ == "__main__":
    raise SystemExit(main())
