"""The survey pages at survey size, measured in a real browser: the
observation list (``/observations``) and the sky map (``/sky``).

A store with ~40,000 observations x 3 filters x 4 exposures (480,000
exposure factors, 120,000 (observation, filter) rows, each with its own
pointing; `relphot_core.testing.synth.fill_survey`) is served by the
dashboard as ``relphot serve`` does (cache warmed at start-up); headless
chromium measures, on the page's own clock:

* the first visit of each page: from the start of the navigation until the
  list's first rows and count, or the map's markers, are drawn (target
  < 2 s);
* the latency of a change, p50 / p95 (target p95 < 300 ms): in the list, a
  worst-status filter typed into the grid (FAIL, WARN, NODATA, OK in turn:
  filtered and sorted on the server, the first block of rows sent back)
  until the new count is shown; on the map, a click on another filter or
  colouring until the new map is drawn (two animation frames after
  ``plotly_afterplot``).

Usage::

    python benchmarks/bench_survey_pages.py [--observations 40000] [--db /tmp/relphot-bench-survey.db] [--reuse]
        [--repeats 20]
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_dashboard import browser, p95, serve, wait

LIST_READY_JS = """
const count = document.querySelector('#obslist-count');
const link = document.querySelector('#obslist-grid .ag-row a');
return count && count.textContent && link ? performance.now() : false;
"""

MAP_READY_JS = """
const gd = document.querySelector('#sky-map .js-plotly-plot');
return gd && gd._fullData && gd._fullData.some(t => /^(OK|WARN|FAIL) /.test(t.name || '')) ? performance.now() : false;
"""

LIST_CHANGE_JS = """
// set the worst-status filter through the grid's API, timed from here until the count changes
const [status, done] = [arguments[0], arguments[arguments.length - 1]];
const api = dash_ag_grid.getApi('obslist-grid');
const count = document.querySelector('#obslist-count');
const before = count.textContent;
const start = performance.now();
api.setColumnFilterModel('worst', {filterType: 'text', type: 'equals', filter: status})
    .then(() => api.onFilterChanged());
(function poll() {
    if (count.textContent !== before && count.textContent.includes(' of ')) {
        requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now() - start)));
    } else if (performance.now() - start > 60000) { done(-1); }
    else { setTimeout(poll, 5); }
})();
"""

MAP_CHANGE_JS = """
// click a tab of the map's controls, timed from the click until the new map is drawn
const [selector, done] = [arguments[0], arguments[arguments.length - 1]];
const gd = document.querySelector('#sky-map .js-plotly-plot');
const before = gd.layout.title.text;
let last = null;
gd.on('plotly_afterplot', () => { last = performance.now(); });
const start = performance.now();
document.querySelector(selector).click();
(function poll() {
    if (gd.layout.title.text !== before && last !== null && performance.now() - last > 50) {
        requestAnimationFrame(() => requestAnimationFrame(() => done(last - start)));
    } else if (performance.now() - start > 60000) { done(-1); }
    else { setTimeout(poll, 5); }
})();
"""


def fill(db: Path, n_obs: int, reuse: bool) -> float:
    from relphot_core.store import Store
    from relphot_core.testing.synth import fill_survey

    if reuse and db.exists():
        return 0.0
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    start = time.perf_counter()
    written = fill_survey(Store.open(f"sqlite:///{db}"), n_obs, seed=1)
    elapsed = time.perf_counter() - start
    print(f"filled {db}: {written:,} exposure factors in {elapsed:.1f} s", file=sys.stderr)
    return elapsed


def first_visit(driver, url: str, ready: str, timeout: float) -> float:
    driver.get("about:blank")
    driver.get(url)
    done = wait(driver, ready, timeout)
    return done / 1000 if done else float("inf")


def measure(db: Path, repeats: int, timeout: float) -> dict:
    process, url = serve(db, "relphot")
    driver = browser()
    out: dict = {}
    try:
        out["list_first_visit_s"] = first_visit(driver, url + "/observations", LIST_READY_JS, timeout)
        out["list_again_s"] = first_visit(driver, url + "/observations", LIST_READY_JS, timeout)
        times = []
        statuses = ["FAIL", "WARN", "NODATA", "OK"]
        for i in range(repeats):
            times.append(driver.execute_async_script(LIST_CHANGE_JS, statuses[i % len(statuses)]))
        times = [t for t in times if t >= 0]
        out.update(list_change_p50_ms=statistics.median(times) if times else float("nan"),
                   list_change_p95_ms=p95(times))
        out["map_first_visit_s"] = first_visit(driver, url + "/sky", MAP_READY_JS, timeout)
        out["map_again_s"] = first_visit(driver, url + "/sky", MAP_READY_JS, timeout)
        tabs = ["#sky-filter label:nth-child(3)", "#sky-colour label:nth-child(2)", "#sky-filter label:nth-child(1)",
                "#sky-colour label:nth-child(1)", "#sky-filter label:nth-child(4)"]
        times = []
        for i in range(repeats):
            times.append(driver.execute_async_script(MAP_CHANGE_JS, tabs[i % len(tabs)]))
        times = [t for t in times if t >= 0]
        out.update(map_change_p50_ms=statistics.median(times) if times else float("nan"),
                   map_change_p95_ms=p95(times))
        out["map_summary"] = driver.find_element("css selector", "#sky-summary").text
    finally:
        driver.quit()
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--observations", type=int, default=40_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/relphot-bench-survey.db"))
    parser.add_argument("--reuse", action="store_true", help="reuse an existing --db")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args(argv)
    fill_s = fill(args.db, args.observations, args.reuse)
    figures = measure(args.db, args.repeats, args.timeout)
    print(f"\nSurvey pages, {args.observations:,} observations x 3 filters x 4 exposures "
          f"({12 * args.observations:,} factors, {3 * args.observations:,} pointings)"
          + (f"; fill {fill_s:.0f} s" if fill_s else ""))
    rows = [("observation list first visit (s)", "list_first_visit_s", "{:.2f}", "< 2"),
            ("observation list again (s)", "list_again_s", "{:.2f}", "< 2"),
            ("list filter change p50 (ms)", "list_change_p50_ms", "{:.0f}", ""),
            ("list filter change p95 (ms)", "list_change_p95_ms", "{:.0f}", "< 300"),
            ("sky map first visit (s)", "map_first_visit_s", "{:.2f}", "< 2"),
            ("sky map again (s)", "map_again_s", "{:.2f}", "< 2"),
            ("sky map change p50 (ms)", "map_change_p50_ms", "{:.0f}", ""),
            ("sky map change p95 (ms)", "map_change_p95_ms", "{:.0f}", "< 300")]
    print(f"{'metric':40} {'relphot':>10} {'target':>7}")
    for label, key, fmt, target in rows:
        print(f"{label:40} {fmt.format(figures[key]):>10} {target:>7}")
    print(figures["map_summary"])
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
