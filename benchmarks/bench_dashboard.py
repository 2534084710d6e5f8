"""Dashboard at survey size, measured in a real browser.

A store with ~40,000 observations x 3 filters x 4 exposures (480,000
exposure factors, synthesised with `relphot_core.testing.synth.fill_survey`)
is served by the dashboard; headless chromium (selenium) measures

* the first paint of the overview: from the start of the navigation until
  the counts and the trend plot (with its distribution) are drawn, on the page's own
  clock (target: < 2 s), plus the browser's first-contentful-paint;
* the latency of the filter callbacks: from the click on a control (or Enter
  in the date box), timed by the page, until what changed is redrawn (two
  animation frames after the last ``plotly_afterplot``), p50 / p95 (target
  p95 < 300 ms), and the server time of the same requests (Resource Timing).
  The changes cycle through: hide / show OK, another trend tab, drop / add a
  filter, a start date, reviewed "not yet" / "any";
* the time to open the triage queue and an observation page;
* the detector page (`/detectors?filter=NIR_J&detector=23`): its first
  visit until the focal plane and the detector's series are drawn, and the
  latency of a click on another detector of the focal plane until its
  series is redrawn, p50 / p95 (7.7 million detector rows, added to the
  survey by `relphot_core.testing.synth.fill_detector_stats`).

Two apps run on the same store in the same run:

* baseline: the straightforward dashboard: every callback asks the store
  for the whole filter and ships every exposure to the browser as its own
  WebGL point (``create_app(cache_ttl=0, max_points=None)``);
* relphot: per-process cache of the per-filter tables (filled at start-up)
  and server-side aggregation: OK exposures binned, flagged ones drawn one
  by one (the defaults).

Usage::

    python benchmarks/bench_dashboard.py [--observations 40000] [--db /tmp/relphot-bench.db] [--reuse]
        [--repeats 20]
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

SERVE_CODE = """
import sys
from relphot_core.store import Store
from dashboard import create_app
store = Store.open(sys.argv[1])
mode = sys.argv[3]
if mode == "baseline":
    app = create_app(store, cache_ttl=0, max_points=None, warm=False)
else:
    app = create_app(store)
app.run(host="127.0.0.1", port=int(sys.argv[2]), debug=False, threaded=True)
"""

READY_JS = """
const trend = document.querySelector('#ov-trend-graph .js-plotly-plot');
const counts = document.querySelector('#counts-table');
const drawn = counts && trend && trend._fullData && trend._fullData.some(t => (t.name || '').startsWith('OK'));
// ms since the navigation started, read by the page itself
return drawn ? performance.now() : false;
"""

ARM_JS = """
// A change redraws the trend, the counts, or both (what did not change is
// not sent). "Redrawn" is two animation frames after the last
// plotly_afterplot of the trend or change of the counts that follows the
// callback's response; the poll below waits for the response and a quiet
// period before reading it.
window.__relphotDone = false;
window.__relphotStart = false;
if (!window.__relphotListening) {
    // The user's action, timed by the page: a click on a control, or Enter in
    // the date box (selenium's own round trip to the browser is not latency).
    const start = e => { if (window.__relphotStart === false && (e.type === 'click' || e.key === 'Enter')) {
        window.__relphotStart = e.timeStamp; } };
    document.addEventListener('click', start, {capture: true});
    document.addEventListener('keydown', start, {capture: true});
    const drawn = () => requestAnimationFrame(() => requestAnimationFrame(() => {
        window.__relphotDone = performance.now(); }));
    document.querySelector('#ov-trend-graph .js-plotly-plot').on('plotly_afterplot', drawn);
    new MutationObserver(drawn).observe(document.querySelector('#ov-counts'),
                                        {childList: true, subtree: true, characterData: true});
    window.__relphotListening = true;
}
performance.clearResourceTimings();
"""

DONE_JS = """
const responses = performance.getEntriesByType('resource').filter(e => e.name.includes('_dash-update-component'));
const last = Math.max(...responses.map(e => e.responseEnd));
const done = window.__relphotDone;
return responses.length > 0 && done !== false && done > last && performance.now() - done > 250 ? done : false;
"""

PAGES = {
    # page -> script returning the page's clock once its content is drawn
    "triage queue page complete (s)": (
        "/triage", "return document.querySelectorAll('#triage-table .ag-center-cols-container .ag-row').length > 5"
                   " ? performance.now() : false;"),
    "observation page complete (s)": (
        "/observation/{obs}?filter=NIR_J",
        "const gds = document.querySelectorAll('.js-plotly-plot');"
        "return gds.length >= 6 && Array.from(gds).every(gd => gd._fullData) ? performance.now() : false;"),
}

SERVER_JS = """
const entries = performance.getEntriesByType('resource').filter(e => e.name.includes('_dash-update-component'));
return entries.map(e => e.responseEnd - e.requestStart);
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fill(db: Path, n_obs: int, reuse: bool) -> float:
    from relphot_core.store import Store
    from relphot_core.testing.synth import fill_survey

    if reuse and db.exists():
        return fill_detectors(db)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    start = time.perf_counter()
    store = Store.open(f"sqlite:///{db}")
    written = fill_survey(store, n_obs, seed=1)
    elapsed = time.perf_counter() - start
    print(f"filled {db}: {written:,} exposure factors in {elapsed:.1f} s", file=sys.stderr)
    return elapsed + fill_detectors(db)


def fill_detectors(db: Path) -> float:
    """Add 16 detector rows to each exposure that has none, then compute the
    problems (what ``relphot compute --db`` does after a batch; the queue
    page lists them) when the store has none (seconds taken)."""
    from relphot_core.store import Store
    from relphot_core.testing.synth import fill_detector_stats

    start = time.perf_counter()
    store = Store.open(f"sqlite:///{db}")
    written = fill_detector_stats(store, seed=1)
    if written or store.problems(current=None, limit=1).empty:
        counts = store.update_problems()
        print(f"{sum(c['opened'] for c in counts.values()):,} problems computed", file=sys.stderr)
    elapsed = time.perf_counter() - start
    if written:
        print(f"filled {db}: {written:,} detector rows in {elapsed:.1f} s", file=sys.stderr)
    return elapsed if written else 0.0


def store_read_time(db: Path, method: str) -> float:
    """Seconds of one `Store` read of a filter's table (``trend`` or ``detector_table``, NIR_J)."""
    from relphot_core.store import Store

    store = Store.open(f"sqlite:///{db}")
    start = time.perf_counter()
    frame = getattr(store, method)("NIR_J")
    elapsed = time.perf_counter() - start
    print(f"store.{method}('NIR_J'): {len(frame):,} rows in {elapsed:.2f} s", file=sys.stderr)
    return elapsed


def first_obs(db: Path) -> int:
    """The first observation id of the store (for the observation page)."""
    from relphot_core.selection import ExposureSelection
    from relphot_core.store import Store

    table = Store.open(f"sqlite:///{db}").observation_table(ExposureSelection(filters=("NIR_J",)), limit=1)
    return int(table["obs_id"].iloc[0])


def serve(db: Path, mode: str):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", SERVE_CODE, f"sqlite:///{db}", str(port), mode],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    import urllib.request

    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_dash-layout", timeout=5).read()
            break
        except OSError:
            time.sleep(0.3)
    while mode != "baseline" and time.time() < deadline:
        # the start-up warm-up fills the per-filter cache in the background
        health = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=5).read())
        if health["cache_warm"]:
            break
        time.sleep(0.2)
    return process, f"http://127.0.0.1:{port}"


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options

    options = Options()
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options)
    driver.set_script_timeout(180)
    driver.set_page_load_timeout(180)
    return driver


WAIT_JS = """
// Poll a condition inside the page (every 20 ms, between the page's own
// tasks): polling through WebDriver would take the page's main thread and
// the two cores many times a second, and slow down what it measures.
const [body, timeoutMs, done] = [arguments[0], arguments[1], arguments[arguments.length - 1]];
const check = new Function(body);
const start = performance.now();
(function poll() {
    let result = false;
    try { result = check(); } catch (e) { result = false; }
    if (result) { done(result); }
    else if (performance.now() - start > timeoutMs) { done(false); }
    else { setTimeout(poll, 20); }
})();
"""


def wait(driver, script: str, timeout: float):
    """Wait until ``script`` (a function body run in the page) returns
    something true, and return that (False after ``timeout`` s)."""
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        try:
            return driver.execute_async_script(WAIT_JS, script, 1000 * (end - time.perf_counter()))
        except Exception:  # noqa: BLE001 - the page was replaced while waiting: wait in the new one
            time.sleep(0.05)
    return False


def first_paint(driver, url: str, timeout: float) -> tuple[float, float]:
    """Seconds from the start of the navigation until the overview is
    complete (the page's own clock), and the browser's FCP (s)."""
    driver.get("about:blank")
    driver.get(url + "/")
    done = wait(driver, READY_JS, timeout)
    elapsed = done / 1000 if done else float("inf")
    fcp = driver.execute_script(
        "const p = performance.getEntriesByName('first-contentful-paint')[0]; return p ? p.startTime : null;")
    return elapsed, (fcp or float("nan")) / 1000


def callbacks(driver, repeats: int, timeout: float) -> tuple[list[float], list[float]]:
    """Click-to-redraw latencies (ms) and server times (ms) of filter changes."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    controls = [
        "//*[@id='ov-statuses']//label[.//span[text()='OK']]//input",    # hide / show OK exposures
        "//*[@id='ov-trend']//label[not(contains(@class, 'selected'))]",  # another filter's trend
        "//*[@id='ov-filters']//label[contains(., 'NIR_Y')]//input",     # drop / add a filter
        "date",                                                          # a new start date
        "//*[@id='ov-reviewed']//label[contains(., 'not yet')]//input",  # only unreviewed
        "date",
        "//*[@id='ov-reviewed']//label[contains(., 'any')]//input",
        "//*[@id='ov-trend']//label[not(contains(@class, 'selected'))]",
    ]
    wall, server = [], []
    for i in range(repeats):
        control = controls[i % len(controls)]
        if control == "date":
            # select and overwrite: WebDriver's clear() blurs the box, which
            # would fire a callback of its own
            element = driver.find_element(By.ID, "ov-from")
            day = 1 + (i * 7) % 27
            text = f"2023-{1 + (i // 4) % 12:02d}-{day:02d}"
        else:
            element = driver.find_element(By.XPATH, control)
        driver.execute_script(ARM_JS)
        if control == "date":
            element.send_keys(Keys.CONTROL, "a")
            element.send_keys(text + Keys.ENTER)
        else:
            element.click()
        done = wait(driver, DONE_JS, timeout)
        if not done:
            wall.append(float("inf"))
            continue
        wall.append(done - driver.execute_script("return window.__relphotStart;"))
        server.extend(driver.execute_script(SERVER_JS))
        time.sleep(0.05)
    return wall, server


def other_pages(driver, url: str, obs_id: int, timeout: float) -> dict[str, float]:
    """Seconds from navigation until each of `PAGES` is drawn (page clock)."""
    times = {}
    for label, (path, ready) in PAGES.items():
        driver.get("about:blank")
        driver.get(url + path.format(obs=obs_id))
        done = wait(driver, ready, timeout)
        times[label] = done / 1000 if done else float("inf")
    return times


DETECTOR_URL = "/detectors?filter=NIR_J&detector=23"

DETECTOR_READY_JS = """
const plane = document.querySelector('#det-plane .js-plotly-plot');
const series = document.querySelector('#det-series .js-plotly-plot');
const drawn = plane && series && plane._fullData && series._fullData && series._fullData.length > 0;
return drawn ? performance.now() : false;
"""

DETECTOR_ARM_JS = """
// A click on a detector of the focal plane redraws its series (and the
// plane's outline): "redrawn" is two animation frames after the last
// plotly_afterplot of the series that follows the callback's response.
window.__relphotDone = false;
window.__relphotStart = false;
if (!window.__relphotDetListening) {
    document.addEventListener('click', e => { if (window.__relphotStart === false) {
        window.__relphotStart = e.timeStamp; } }, {capture: true});
    document.querySelector('#det-series .js-plotly-plot').on('plotly_afterplot', () =>
        requestAnimationFrame(() => requestAnimationFrame(() => { window.__relphotDone = performance.now(); })));
    window.__relphotDetListening = true;
}
performance.clearResourceTimings();
"""

CELL_JS = """
const gd = document.querySelector('#det-plane .js-plotly-plot');
const box = gd.querySelector('.nsewdrag').getBoundingClientRect();
return [box.x + gd._fullLayout.xaxis.l2p(arguments[0]), box.y + gd._fullLayout.yaxis.l2p(arguments[1])];
"""

DETECTOR_CYCLE = (41, 23, 12, 44, 31, 23, 14, 33)


def detector_page(driver, url: str, repeats: int, timeout: float) -> dict[str, float]:
    """First visit of the detector page (page clock, s) and the latency of
    detector changes (a click on a focal-plane cell until the series is
    redrawn, ms, p50 / p95) with their server times."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder

    driver.get("about:blank")
    driver.get(url + DETECTOR_URL)
    done = wait(driver, DETECTOR_READY_JS, timeout)
    first = done / 1000 if done else float("inf")
    wall, server = [], []
    if done:
        driver.execute_script("document.querySelector('#det-plane').scrollIntoView();")
        for i in range(repeats):
            detector = DETECTOR_CYCLE[i % len(DETECTOR_CYCLE)]
            x, y = driver.execute_script(CELL_JS, detector % 10, detector // 10)
            actions = ActionBuilder(driver)
            actions.pointer_action.move_to_location(int(x), int(y))
            actions.pointer_action.pause(0.3)  # plotly clicks what is hovered
            actions.perform()
            driver.execute_script(DETECTOR_ARM_JS)
            actions = ActionBuilder(driver)
            actions.pointer_action.click()
            actions.perform()
            done = wait(driver, DONE_JS, timeout)
            if not done:
                wall.append(float("inf"))
                continue
            wall.append(done - driver.execute_script("return window.__relphotStart;"))
            server.extend(driver.execute_script(SERVER_JS))
            time.sleep(0.05)
    return {"detector_first_visit_s": first,
            "detector_change_p50_ms": statistics.median(wall) if wall else float("nan"),
            "detector_change_p95_ms": p95(wall), "detector_server_p95_ms": p95(server)}


def p95(values: list[float]) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    return values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]


def measure(db: Path, mode: str, repeats: int, timeout: float) -> dict:
    process, url = serve(db, mode)
    driver = browser()
    try:
        cold, _fcp = first_paint(driver, url, timeout)
        payload = driver.execute_script(
            "return Array.from(document.querySelectorAll('#ov-trend-graph .js-plotly-plot'))"
            ".map(gd => gd._fullData.reduce((n, t) => n + (t.x ? t.x.length : 0), 0));")
        warm, fcp_warm = first_paint(driver, url, timeout)
        wall, server = callbacks(driver, repeats, timeout) if warm != float("inf") else ([], [])
        pages = other_pages(driver, url, first_obs(db), timeout)
        pages.update(detector_page(driver, url, repeats, timeout))
    finally:
        driver.quit()
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    return {"first_paint_s": cold, "first_paint_again_s": warm, "fcp_s": fcp_warm,
            "callback_p50_ms": statistics.median(wall) if wall else float("nan"),
            "callback_p95_ms": p95(wall), "server_p95_ms": p95(server), "points_drawn": sum(payload or []),
            **pages}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--observations", type=int, default=40_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/relphot-bench-dashboard.db"))
    parser.add_argument("--reuse", action="store_true", help="reuse an existing --db")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--baseline-repeats", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args(argv)
    fill_s = fill(args.db, args.observations, args.reuse)
    trend_s = store_read_time(args.db, "trend")
    detector_s = store_read_time(args.db, "detector_table")
    base = measure(args.db, "baseline", args.baseline_repeats, args.timeout)
    ours = measure(args.db, "relphot", args.repeats, args.timeout)
    rows = [
        ("overview first paint (s), first visit", "first_paint_s", "{:.2f}", "< 2"),
        ("overview first paint (s), again", "first_paint_again_s", "{:.2f}", "< 2"),
        ("first contentful paint (s)", "fcp_s", "{:.2f}", ""),
        ("filter callback p50 (ms), click to redraw", "callback_p50_ms", "{:.0f}", ""),
        ("filter callback p95 (ms), click to redraw", "callback_p95_ms", "{:.0f}", "< 300"),
        ("filter callback p95 (ms), server", "server_p95_ms", "{:.0f}", ""),
        ("points sent to the browser", "points_drawn", "{:,.0f}", ""),
        *[(label, label, "{:.2f}", "") for label in PAGES],
        ("detector page first visit (s)", "detector_first_visit_s", "{:.2f}", "< 2"),
        ("detector change p50 (ms), click to redraw", "detector_change_p50_ms", "{:.0f}", ""),
        ("detector change p95 (ms), click to redraw", "detector_change_p95_ms", "{:.0f}", "< 300"),
        ("detector change p95 (ms), server", "detector_server_p95_ms", "{:.0f}", ""),
    ]
    print(f"\nDashboard, {args.observations:,} observations x 3 filters x 4 exposures "
          f"({3 * 4 * args.observations:,} factors); store.trend of one filter {trend_s:.2f} s, "
          f"store.detector_table {detector_s:.2f} s"
          + (f"; fill {fill_s:.0f} s" if fill_s else ""))
    print(f"{'metric':46} {'baseline':>10} {'relphot':>10} {'ratio':>7} {'target':>7}")
    for label, key, fmt, target in rows:
        b, o = base[key], ours[key]
        ratio = b / o if o and o == o and o != float("inf") else float("nan")
        print(f"{label:46} {fmt.format(b):>10} {fmt.format(o):>10} {ratio:>6.1f}x {target:>7}")
    if args.json:
        args.json.write_text(json.dumps({"baseline": base, "relphot": ours, "store_trend_s": trend_s,
                                          "store_detector_table_s": detector_s}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
