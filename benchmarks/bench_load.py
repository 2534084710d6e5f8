"""The dashboard under load: gunicorn with several workers on loopback.

A store of ``--observations`` observations x 3 filters x 4 exposures (built
with `relphot_core.testing.synth.fill_survey`, plus 16 detector rows per
exposure with `relphot_core.testing.synth.fill_detector_stats` unless
``--no-detectors``) is served by ``gunicorn --workers W dashboard.wsgi:server``
several times in the same run, one after the other:

* baseline: the code of another commit (``--baseline``, default the commit
  this branch started from), unpacked with ``git archive`` and put first on
  the workers' ``PYTHONPATH`` (on a copy of the store when the schema is
  the same, else on a store its own code made);
* with ``--own-tables``: this checkout with ``RELPHOT_SNAPSHOT_DIR=off``
  (every worker builds its own tables);
* relphot: this checkout, the workers sharing the tables through snapshots
  in a new directory, built before the server starts by ``relphot
  snapshot`` (as ``relphot compute --db`` builds them at the end of a
  batch; its time is printed); with ``--cold-start`` not built
  beforehand (the first workers build them).

``--db-url`` serves another store (e.g. PostgreSQL) instead of a SQLite
file: filled as above when it is empty, reused otherwise; no baseline then
(its code could not be given a copy).

For each, and each number of clients N (``--clients``, default 1, 4, 16),
N threads each with its own keep-alive connection send requests for
``--duration`` seconds or ``--requests`` requests in all, whichever comes
first, drawn from a realistic mix (weights in `MIX`): the page shell, the
overview's callback with the controls changing (the client sends back what
its last answer said was drawn, as the browser does), the pages router
(triage queue), ``/api/observations``, ``/api/exposures``, the CSV download,
``/api/health``. Meanwhile a reviewer (another process's store) writes a
review every ``--review-every`` seconds.

Printed: throughput (requests/s), errors, p50 / p95 / p99 per route (ms),
the RSS of every worker over time (start, peak, end) and PSS (the
proportional set size: pages shared by several workers, e.g. mapped
snapshots, counted once in the sum), with the sums over the workers; the
warm-up time of every worker (from its fork until its cache reports warm,
told by a gunicorn hook), at the first start and for a worker restarted
after the levels (one worker stopped; gunicorn starts another); the
time until 12 health checks in a row say the cache is warm; and the
freshness: after a review written by another process, the time until 8
overview callbacks in a row (spread over the workers) show it.

Usage::

    python benchmarks/bench_load.py [--quick] [--observations 40000] [--db /tmp/relphot-load.db]
        [--clients 1,4,16] [--duration 60] [--workers 4] [--threads 1] [--baseline REF | --no-baseline]
        [--own-tables] [--cold-start] [--db-url postgresql+psycopg://...]

The clients run in this process (threads): on a small machine they take
some of the CPU the server would have. Say what else ran on the machine
beside any figure.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import textwrap
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILTERS = ("NIR_Y", "NIR_J", "NIR_H")
ALL = ["OK", "WARN", "FAIL", "NODATA"]

MIX = {
    "page /": 8,
    "overview callback": 34,
    "router /triage": 4,
    "/api/observations": 12,
    "/api/exposures": 12,
    "/download/exposures.csv": 6,
    "/api/health": 4,
}
"""Route -> weight in the requests' mix."""

VIEWS = [
    # filters, statuses, reviewed, from, to, obs, x, trend
    (list(FILTERS), ALL, "any", None, None, None, "time", "NIR_J"),
    (list(FILTERS), ["WARN", "FAIL", "NODATA"], "any", None, None, None, "time", "NIR_J"),
    (list(FILTERS), ALL, "no", None, None, None, "time", "NIR_H"),
    (["NIR_J"], ALL, "any", "2026-01-01", None, None, "time", "NIR_J"),
    (list(FILTERS), ALL, "any", None, None, "100-5000", "obsid", "NIR_Y"),
    (list(FILTERS), ["FAIL"], "any", None, None, None, "time", "NIR_Y"),
]
"""States of the overview's controls a client moves between."""

API = ["?limit=100", "?status=FAIL&limit=100", "?filter=NIR_J&limit=500", "?reviewed=no&status=WARN,FAIL&limit=200",
       "?from=2026-01-01&limit=100"]
CSV = ["?filter=NIR_J&status=FAIL", "?filter=NIR_H&limit=2000", "?status=WARN&obs=1-2000"]


# ------------------------------------------------------------------ store

def fill(db: Path, n_obs: int, detectors: bool) -> None:
    """Build the store (reused when it exists with the same size)."""
    from relphot_core.store import Store
    from relphot_core.testing.synth import fill_detector_stats
    from relphot_core.testing.synth import fill_survey

    marker = Path(f"{db}.size")
    wanted = f"{n_obs}:{int(detectors)}:problems"
    if db.exists() and marker.exists() and marker.read_text() == wanted:
        return
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    start = time.perf_counter()
    store = Store.open(f"sqlite:///{db}")
    written = fill_survey(store, n_obs, seed=1)
    if detectors:
        fill_detector_stats(store, seed=1)
    store.update_problems()  # as relphot compute --db does after a batch: the queue has its problems
    store.close()
    marker.write_text(wanted)
    print(f"filled {db}: {written:,} exposure factors in {time.perf_counter() - start:.0f} s", file=sys.stderr)


def fill_url(url: str, n_obs: int, detectors: bool) -> None:
    """Fill the store at ``url`` (`fill`'s content) unless it holds runs already."""
    from relphot_core.store import Store
    from relphot_core.testing.synth import fill_detector_stats, fill_survey

    store = Store.open(url)
    try:
        if not store.is_empty():
            print(f"reusing {store.url}: it holds runs already", file=sys.stderr)
            return
        start = time.perf_counter()
        written = fill_survey(store, n_obs, seed=1)
        if detectors:
            fill_detector_stats(store, seed=1)
        store.update_problems()
        print(f"filled {store.url}: {written:,} exposure factors in {time.perf_counter() - start:.0f} s",
              file=sys.stderr)
    finally:
        store.close()


def fill_with(code: Path, db: Path, n_obs: int, detectors: bool) -> None:
    """`fill` by the code of another commit (a baseline older than a schema
    migration cannot open a store this checkout made: it gets its own)."""
    script = (f"import sys; sys.path.insert(0, {str(code)!r}); sys.path.insert(1, {str(Path(__file__).parent)!r}); "
              f"import bench_load; from pathlib import Path; "
              f"bench_load.fill(Path({str(db)!r}), {int(n_obs)}, {bool(detectors)})")
    subprocess.run([sys.executable, "-c", script], check=True, cwd=str(code),
                   env={**os.environ, "PYTHONPATH": str(code)})


def same_schema(ref: str) -> bool:
    """Whether commit ``ref`` has this checkout's store migrations (then a copy of the store serves it)."""
    return subprocess.run(["git", "-C", str(ROOT), "diff", "--quiet", ref, "--", "relphot_core/store/migrations"],
                          capture_output=True).returncode == 0


def unpack(ref: str, into: Path) -> Path:
    """The code of commit ``ref`` (``git archive``), for the baseline server."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "dashboard", "relphot_core"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


# ------------------------------------------------------------------ server

WARM_HOOK = textwrap.dedent("""
    # gunicorn configuration of the load benchmark: every worker says on
    # stderr how long after its fork its cache reported warm
    import os, sys, threading, time

    def post_fork(server, worker):
        worker.bench_forked = time.monotonic()

    def post_worker_init(worker):
        def report():
            worker.wsgi.config["RELPHOT_CACHE"].warmed.wait()
            print(f"bench-warm pid={os.getpid()} seconds={time.monotonic() - worker.bench_forked:.2f}",
                  file=sys.stderr, flush=True)
        threading.Thread(target=report, daemon=True).start()
""")
"""A gunicorn configuration file (``-c``): the warm-up time of every worker."""


class Server:
    """``gunicorn dashboard.wsgi:server`` with the code of ``code`` (None: this
    checkout), the environment ``extra`` added."""

    def __init__(self, url: str, port: int, workers: int, code: Path | None, threads: int = 1,
                 extra: dict[str, str] | None = None, hook: Path | None = None) -> None:
        gunicorn = shutil.which("gunicorn") or str(Path(sys.executable).with_name("gunicorn"))
        env = {**os.environ, "RELPHOT_DB": url, **(extra or {})}
        if code is not None:
            env["PYTHONPATH"] = str(code) + os.pathsep + env.get("PYTHONPATH", "")
        self.port = port
        self.started = time.monotonic()
        self.warm: dict[int, float] = {}
        """pid -> seconds from its fork until its cache was warm."""
        self.log: list[str] = []
        self.process = subprocess.Popen(
            [gunicorn, "--workers", str(workers), "--threads", str(threads), "--bind", f"127.0.0.1:{port}",
             "--timeout", "120", *(["-c", str(hook)] if hook else []), "dashboard.wsgi:server"],
            cwd=str(code or ROOT), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True)
        threading.Thread(target=self._read_log, daemon=True).start()

    def _read_log(self) -> None:
        """Read the server's stderr as it comes (a full pipe would stop it)."""
        assert self.process.stderr is not None
        for raw in self.process.stderr:
            line = raw.decode(errors="replace")
            self.log = self.log[-200:] + [line]
            found = re.search(r"bench-warm pid=(\d+) seconds=([\d.]+)", line)
            if found:
                self.warm[int(found.group(1))] = float(found.group(2))

    def restart_one(self, timeout: float) -> tuple[int, float] | None:
        """Stop one worker (gunicorn starts another) and wait until the new
        one is warm: its pid and warm-up seconds (None past ``timeout``)."""
        before = set(self.workers())
        if not before:
            return None
        os.kill(min(before), signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            new = [pid for pid in self.warm if pid not in before]
            if new:
                return new[0], self.warm[new[0]]
            time.sleep(0.2)
        return None

    def workers(self) -> list[int]:
        try:
            with open(f"/proc/{self.process.pid}/task/{self.process.pid}/children") as children:
                return sorted(int(p) for p in children.read().split())
        except OSError:
            return []

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):  # pragma: no cover
            os.killpg(self.process.pid, signal.SIGKILL)


def rss_mib(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def pss_mib(pid: int) -> float | None:
    """The proportional set size (shared pages divided among their processes), MiB."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class MemoryLog(threading.Thread):
    """Every worker's RSS and PSS every ``every`` seconds: pid -> [(t, RSS MiB, PSS MiB)]."""

    def __init__(self, server: Server, every: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.server, self.every = server, every
        self.samples: dict[int, list[tuple[float, float, float]]] = {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            now = time.monotonic() - self.server.started
            for pid in self.server.workers():
                value, shared = rss_mib(pid), pss_mib(pid)
                if value is not None:
                    self.samples.setdefault(pid, []).append((now, value, shared if shared is not None else value))
            self.done.wait(self.every)


# ------------------------------------------------------------------ clients

class Client:
    """One keep-alive connection, with what its overview shows."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.drawn = None
        self.view = 0

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        for attempt in range(2):
            try:
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, OSError):
                self.connection.close()
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                if attempt:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover


def overview_payload(view, drawn) -> bytes:
    names = ["filters", "statuses", "reviewed", "from", "to", "obs", "x", "trend", "by", "yrange"]
    values = list(view) + [None, None]
    outputs = ["messages.children", "counts.children", "trend-graph.figure", "trend.options", "trend.value",
               "search.data", "url-messages.children", "drawn.data"]
    return json.dumps({
        "output": ".." + "...".join(f"ov-{o}" for o in outputs) + "..",
        "outputs": [{"id": f"ov-{o.split('.')[0]}", "property": o.split(".")[1]} for o in outputs],
        "inputs": [{"id": f"ov-{n}", "property": "value", "value": v} for n, v in zip(names, values)],
        "changedPropIds": ["ov-statuses.value"],
        "state": [{"id": "ov-drawn", "property": "data", "value": drawn}],
    }).encode()


def router_payload(path: str) -> bytes:
    return json.dumps({
        "output": ".._pages_content.children..._pages_store.data..",
        "outputs": [{"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}],
        "inputs": [{"id": "_pages_location", "property": "pathname", "value": path},
                   {"id": "_pages_location", "property": "search", "value": ""}],
        "changedPropIds": ["_pages_location.pathname"], "state": [],
    }).encode()


def one_request(client: Client, route: str, rng: random.Random) -> tuple[int, int]:
    """Send one request of ``route``; returns (status, bytes)."""
    if route == "page /":
        status, body = client.request("GET", "/")
    elif route == "overview callback":
        if rng.random() < 0.5:
            client.view = rng.randrange(len(VIEWS))
        status, body = client.request("POST", "/_dash-update-component",
                                      overview_payload(VIEWS[client.view], client.drawn))
        if status == 200:
            client.drawn = json.loads(body)["response"]["ov-drawn"]["data"]
    elif route == "router /triage":
        status, body = client.request("POST", "/_dash-update-component", router_payload("/triage"))
    elif route == "/download/exposures.csv":
        status, body = client.request("GET", route + rng.choice(CSV))
    elif route.startswith("/api/") and route != "/api/health":
        status, body = client.request("GET", route + rng.choice(API))
    else:
        status, body = client.request("GET", route)
    return status, len(body)


@dataclass
class Level:
    clients: int
    seconds: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: int = 0
    sent_bytes: dict[str, int] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.latencies.values())


def run_level(port: int, clients: int, duration: float, max_requests: int, seed: int) -> Level:
    level = Level(clients)
    lock = threading.Lock()
    budget = [max_requests]
    routes, weights = list(MIX), list(MIX.values())
    deadline = time.monotonic() + duration

    def work(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        client = Client(port)
        while time.monotonic() < deadline:
            with lock:
                if budget[0] <= 0:
                    return
                budget[0] -= 1
            route = rng.choices(routes, weights)[0]
            start = time.perf_counter()
            try:
                status, size = one_request(client, route, rng)
            except (OSError, http.client.HTTPException, ValueError, KeyError):
                status, size = 0, 0
            elapsed = time.perf_counter() - start
            with lock:
                level.latencies.setdefault(route, []).append(elapsed)
                level.sent_bytes[route] = level.sent_bytes.get(route, 0) + size
                if status != 200:
                    level.errors += 1

    start = time.monotonic()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    level.seconds = time.monotonic() - start
    return level


# ------------------------------------------------------------------ probes

def wait_warm(port: int, timeout: float, in_a_row: int = 12, server: Server | None = None) -> tuple[float, float]:
    """Seconds from now until the first answer, and until ``in_a_row``
    health checks in a row report a warm cache (a server that exits is an
    error at once, with the end of its log)."""
    start = time.monotonic()
    first, row = None, 0
    while time.monotonic() - start < timeout:
        if server is not None and server.process.poll() is not None:
            log = server.process.stderr.read().decode(errors="replace") if server.process.stderr else ""
            raise SystemExit(f"the server on port {port} exited ({server.process.returncode}): {log[-1500:]}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("GET", "/api/health")
            response = connection.getresponse()
            body = response.read()
            connection.close()
        except OSError:
            time.sleep(0.2)
            continue
        if first is None:
            first = time.monotonic() - start
        row = row + 1 if response.status == 200 and json.loads(body).get("cache_warm") else 0
        if row >= in_a_row:
            return first, time.monotonic() - start
        time.sleep(0.05)
    raise SystemExit(f"the server on port {port} was not warm within {timeout:.0f} s")


def unreviewed_fail(url: str, rng: random.Random) -> tuple[int, list[tuple[int, str, int]]]:
    """An observation with FAIL exposures none of which is reviewed, and those exposures."""
    from relphot_core.selection import ExposureSelection
    from relphot_core.store import Store

    store = Store.open(url)
    table = store.exposure_table(ExposureSelection(statuses=("FAIL",)))
    reviewed = table.groupby("obs_id")["reviewed"].transform("any")
    candidates = sorted(set(table.loc[~reviewed, "obs_id"]))
    obs = rng.choice(candidates)
    rows = table[table["obs_id"] == obs]
    store.close()
    return obs, [(int(r.obs_id), str(r.filter), int(r.exposure)) for r in rows.itertuples()]


def selected_count(client: Client, obs: int) -> int | None:
    view = (list(FILTERS), ["FAIL"], "no", None, None, f"{obs}-{obs}", "time", "NIR_J")
    status, body = client.request("POST", "/_dash-update-component", overview_payload(view, None))
    found = re.search(r"([\d,]+) exposures? selected", body.decode(errors="replace")) if status == 200 else None
    return int(found.group(1).replace(",", "")) if found else None


def freshness(url: str, port: int, rng: random.Random, timeout: float = 60.0, in_a_row: int = 8) -> float | None:
    """Seconds from a review written by another process until ``in_a_row``
    overview callbacks in a row (any worker) show it; None past ``timeout``."""
    from relphot_core.store import Store

    obs, keys = unreviewed_fail(url, rng)
    clients = [Client(port) for _ in range(4)]  # several connections: several workers answer
    if selected_count(clients[0], obs) != len(keys):
        return None
    store = Store.open(url)
    store.add_reviews(keys, "confirmed", "load benchmark", "freshness probe")
    store.close()
    written = time.monotonic()
    row = 0
    while time.monotonic() - written < timeout:
        row = row + 1 if selected_count(clients[row % len(clients)], obs) == 0 else 0
        if row >= in_a_row:
            return time.monotonic() - written
        time.sleep(0.02)
    return None


class Reviewer(threading.Thread):
    """Another process's reviews: one every ``every`` seconds."""

    def __init__(self, url: str, every: float, seed: int) -> None:
        super().__init__(daemon=True)
        self.url, self.every, self.rng = url, every, random.Random(seed)
        self.done = threading.Event()
        self.count = 0

    def run(self) -> None:
        from relphot_core.store import Store

        while not self.done.wait(self.every):
            _obs, keys = unreviewed_fail(self.url, self.rng)
            store = Store.open(self.url)
            store.add_reviews(keys[:1], "confirmed", "load benchmark", "load")
            store.close()
            self.count += 1


# ------------------------------------------------------------------ report

def quantiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        v = values[0] if values else float("nan")
        return v, v, v
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return statistics.median(values), cuts[94], cuts[98]


def store_url(args) -> str:
    """The URL of the store served: ``--db-url``, else the SQLite file ``--db``."""
    return args.db_url or f"sqlite:///{args.db}"


def prebuild(args, snapshots: Path) -> float:
    """Build the snapshots with ``relphot snapshot`` (this checkout) before
    the server starts, as a deployment does; returns its seconds."""
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "relphot_core.cli", "snapshot", "-q", "--db", store_url(args),
                    "--snapshot-dir", str(snapshots)], check=True, cwd=str(ROOT))
    return time.monotonic() - start


def measure(name: str, args, code: Path | None, extra: dict[str, str] | None = None,
            prebuilt: float | None = None) -> dict:
    """Start a server, warm it, run every level, probe freshness, restart a
    worker, stop it (``prebuilt``: the seconds its snapshots took to build
    before, printed)."""
    hook = Path(tempfile.mkdtemp(prefix="relphot-load-hook-")) / "gunicorn_warm.py"
    hook.write_text(WARM_HOOK)
    url = store_url(args)
    server = Server(url, args.port, args.workers, code, args.threads, extra, hook)
    memory = MemoryLog(server)
    memory.start()
    out: dict = {"name": name, "levels": [], "restart": None, "prebuilt_s": prebuilt}
    try:
        out["first_answer_s"], out["warm_s"] = wait_warm(args.port, args.warm_timeout, server=server)
        deadline = time.monotonic() + args.warm_timeout
        while len(server.warm) < args.workers and time.monotonic() < deadline:
            time.sleep(0.2)
        out["worker_warm_s"] = dict(server.warm)
        out["warm_memory"] = {pid: samples[-1] for pid, samples in memory.samples.items()}
        rng = random.Random(args.seed)
        for clients in args.clients:
            reviewer = Reviewer(url, args.review_every, args.seed + clients)
            reviewer.start()
            level = run_level(args.port, clients, args.duration, args.requests, args.seed + clients)
            reviewer.done.set()
            reviewer.join()
            out["levels"].append((level, reviewer.count))
        out["fresh_s"] = [freshness(url, args.port, rng) for _ in range(args.probes)]
        if args.restart:
            out["restart"] = server.restart_one(args.warm_timeout)
    finally:
        memory.done.set()
        memory.join()
        server.stop()
        shutil.rmtree(hook.parent, ignore_errors=True)
    out["memory"] = memory.samples
    return out


def report(results: list[dict]) -> None:
    for result in results:
        print(f"\n== {result['name']} ==")
        if result.get("prebuilt_s") is not None:
            print(f"snapshots built before the start (relphot snapshot): {result['prebuilt_s']:.1f} s")
        print(f"first answer {result['first_answer_s']:.1f} s, every worker warm (12 health checks in a row) "
              f"{result['warm_s']:.1f} s after start")
        warm = sorted(result["worker_warm_s"].values())
        if warm:
            print(f"warm-up per worker (fork to warm cache), all starting at once: "
                  f"{', '.join(f'{w:.1f}' for w in warm)} s (max {max(warm):.1f} s)")
        if result["warm_memory"]:
            at_warm = result["warm_memory"].values()
            print(f"memory when every worker was warm: RSS sum {sum(v[1] for v in at_warm):.0f} MiB, "
                  f"PSS sum {sum(v[2] for v in at_warm):.0f} MiB")
        if result["restart"] is not None:
            print(f"a worker restarted after the levels (pid {result['restart'][0]}): warm "
                  f"{result['restart'][1]:.1f} s after its fork")
        for level, reviews in result["levels"]:
            print(f"-- N = {level.clients}: {level.count} requests in {level.seconds:.1f} s = "
                  f"{level.count / level.seconds:.1f} requests/s, {level.errors} errors, "
                  f"{reviews} reviews written meanwhile")
            print(f"   {'route':28s} {'n':>6s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s} {'kB/req':>8s}")
            for route in MIX:
                values = level.latencies.get(route, [])
                if not values:
                    continue
                p50, p95, p99 = quantiles(values)
                size = level.sent_bytes.get(route, 0) / len(values) / 1000
                print(f"   {route:28s} {len(values):6d} {p50 * 1000:8.0f} {p95 * 1000:8.0f} {p99 * 1000:8.0f} "
                      f"{size:8.1f}")
        fresh = ", ".join("> 60" if f is None else f"{f:.1f}" for f in result["fresh_s"])
        print(f"a review by another process shown by 8 overview callbacks in a row after: {fresh} s")
        print("RSS per worker (MiB): start -> peak -> end (samples every second); PSS at the end")
        for pid, samples in sorted(result["memory"].items()):
            values = [v for _, v, _ in samples]
            print(f"   worker {pid}: {values[0]:.0f} -> {max(values):.0f} -> {values[-1]:.0f} "
                  f"over {samples[-1][0] - samples[0][0]:.0f} s; PSS {samples[-1][2]:.0f}")
        last = max((samples[-1][0] for samples in result["memory"].values()), default=0.0)
        alive = [samples[-1] for samples in result["memory"].values() if samples[-1][0] >= last - 1.5]
        print(f"   the {len(alive)} workers alive at the end: RSS sum {sum(v[1] for v in alive):.0f} MiB, "
              f"PSS sum {sum(v[2] for v in alive):.0f} MiB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small store and short levels (a few minutes)")
    parser.add_argument("--observations", type=int, default=None)
    parser.add_argument("--no-detectors", action="store_true", help="no detector rows in the store")
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--duration", type=float, default=None, help="seconds per level")
    parser.add_argument("--requests", type=int, default=None, help="requests per level at most")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="threads per worker (gunicorn's gthread when > 1)")
    parser.add_argument("--review-every", type=float, default=5.0)
    parser.add_argument("--probes", type=int, default=2, help="freshness probes after the levels")
    parser.add_argument("--port", type=int, default=int(os.environ.get("RELPHOT_TEST_DASH_PORT", "59300")))
    parser.add_argument("--baseline", default=None, help="git commit of the baseline (default: merge-base with main)")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--cold-start", action="store_true",
                        help="do not build the snapshots before the server starts (its first workers build them)")
    parser.add_argument("--db-url", default=None,
                        help="serve this store (e.g. postgresql+psycopg://...; filled when empty) instead of a "
                             "SQLite file; implies --no-baseline")
    parser.add_argument("--own-tables", action="store_true",
                        help="also this checkout without snapshots (every worker builds its own tables)")
    parser.add_argument("--no-restart", dest="restart", action="store_false",
                        help="do not restart a worker after the levels")
    parser.add_argument("--warm-timeout", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    args.observations = args.observations or (3000 if args.quick else 40000)
    args.duration = args.duration or (12.0 if args.quick else 60.0)
    args.requests = args.requests or (3000 if args.quick else 20000)
    args.clients = [int(n) for n in args.clients.split(",")]
    args.db = args.db or Path(tempfile.gettempdir()) / f"relphot-load-{args.observations}.db"
    detectors = not args.no_detectors
    if args.db_url:
        args.no_baseline = True
        fill_url(args.db_url, args.observations, detectors)
    else:
        fill(args.db, args.observations, detectors)

    results = []
    with tempfile.TemporaryDirectory(prefix="relphot-baseline-") as tmp:
        if not args.no_baseline:
            ref = args.baseline or subprocess.run(["git", "-C", str(ROOT), "merge-base", "main", "HEAD"],
                                                  check=True, capture_output=True, text=True).stdout.strip()
            print(f"baseline: {ref[:12]}", file=sys.stderr)
            code = unpack(ref, Path(tmp) / "code")
            mine = args.db
            args.db = Path(tmp) / "baseline.db"
            if same_schema(ref):  # a copy: the same store for both
                shutil.copyfile(mine, args.db)
            else:  # made by the baseline's own code (its schema)
                fill_with(code, args.db, args.observations, detectors)
            results.append(measure(f"baseline ({ref[:12]})", args, code))
            args.db.unlink()
            args.db = mine
        if args.own_tables:
            results.append(measure("relphot, every worker its own tables (RELPHOT_SNAPSHOT_DIR=off)", args, None,
                                   {"RELPHOT_SNAPSHOT_DIR": "off"}))
        snapshots = Path(tmp) / "snapshots"
        built = None if args.cold_start else prebuild(args, snapshots)
        results.append(measure("relphot (this checkout), shared snapshots", args, None,
                               {"RELPHOT_SNAPSHOT_DIR": str(snapshots)}, built))
    print(f"\nstore: {args.db_url.split('@')[-1] if args.db_url else 'SQLite'}, "
          f"{args.observations:,} observations x 3 filters x 4 exposures"
          f"{', 16 detector rows each' if detectors else ''}; "
          f"gunicorn --workers {args.workers} --threads {args.threads}; "
          f"{os.cpu_count()} cores; clients in this process")
    report(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
