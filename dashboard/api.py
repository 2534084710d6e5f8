"""The read-only JSON API and the download routes, as Flask routes on
``app.server``.

JSON (for scripts)::

    GET /api/observations?filter=NIR_J&status=FAIL&reviewed=no&from=2026-01-01&to=2026-02-01&obs=100-200&limit=100
    GET /api/exposures?<same parameters>
    GET /api/observation/<obs_id>[?filter=NIR_J]
    GET /api/failures[?all=1&obs=1043&filter=NIR_J]   sets that could not be computed (open ones by default)
    GET /api/health                                   {"status": "ok", "cache_warm": true, "open_failures": 0}
    GET /api/compare?before=previous&after=current[&filter=NIR_J&top=20]   two choices of runs compared

The selection parameters (``filter``, ``status``, ``reviewed``, ``from``,
``to``, ``obs``) and their rules are `relphot_core.selection`'s, shared
with the pages and ``relphot export``: ``from`` and ``to`` are UTC days,
both included; ``flagged=1`` (0) keeps the exposures with (without) a
flag, ``awaiting=1`` (0) those (not) awaiting review; the observations
selected are those holding at least one selected exposure. The answers of
the two selection routes say how many the selection holds (``total``) and
whether the ``limit`` cut them (``truncated``). They are counted and
chosen from the pages' cached tables when those are at the store's data
version (`dashboard.selections`: milliseconds at survey size), by the
store otherwise.

Downloads (the exports page links to them)::

    GET /download/product/<obs_id>/<filter>.xml[?run=ID]   the validated XML product
    GET /download/products.zip?<selection>                  products of the selected observations
    GET /download/exposures.csv?<selection>                 the selected exposure table as CSV
    GET /download/exposures.vot?<selection>                 ... as a VOTable

Bad parameters give HTTP 400 with ``{"error": "..."}`` (an unknown
parameter too, except on ``/api/health``, and a reversed ``obs`` range);
unknown ids 404.
"""
from __future__ import annotations

import io
import logging
import json
import math
import re
import threading
import time
import zipfile
from dataclasses import asdict
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
from flask import Flask, Response, request

from relphot_core.config import FILTERS
from relphot_core.errors import RelphotError

from .data import get_store
from relphot_core.selection import PARAMETERS, ExposureSelection, SelectionError

LOG = logging.getLogger(__name__)

MAX_ROWS = 500_000
MAX_ZIP = 2000


def is_number(text: str) -> bool:
    """Whether ``text`` is a whole number that `int` reads and a database
    stores: 1 to 15 ASCII digits (``"²".isdigit()`` is True, but not a
    number ``int`` can read)."""
    return re.fullmatch(r"[0-9]{1,15}", text) is not None


def _jsonable(value):
    if value is None or value is pd.NaT or value is pd.NA:  # NaT is a datetime too: test it first
        return None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (datetime, date, pd.Timestamp)):
        return value.isoformat()
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _json_column(series: pd.Series) -> list:
    """A column's values as JSON-ready Python values (`_jsonable`), whole
    numeric columns at once (a value at a time only for the others)."""
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "biu":
        return series.to_numpy().tolist()
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        values = series.to_numpy()
        out = values.astype(object)
        out[~np.isfinite(values)] = None
        return [None if v is None else float(v) for v in out.tolist()]
    return [_jsonable(v) for v in series.tolist()]


def frame_records(df: pd.DataFrame) -> list[dict]:
    """JSON-ready records (NaN -> null, timestamps -> ISO strings)."""
    columns = [str(name) for name in df.columns]
    values = [_json_column(df.iloc[:, i]) for i in range(df.shape[1])]
    return [dict(zip(columns, row)) for row in zip(*values)] if columns else [{} for _ in range(len(df))]


def _json(payload, status: int = 200) -> Response:
    return Response(json.dumps(payload, allow_nan=False), status=status, mimetype="application/json")


def _error(text: str, status: int = 400) -> Response:
    return _json({"error": text}, status)


FLAG_ARGUMENTS: tuple[str, ...] = ("flagged", "awaiting")
"""``flagged=1`` (0): only exposures with (without) a flag (`relphot_core.qc.flags`);
``awaiting=1`` (0): only those (not) awaiting review."""

FLAG_COLUMNS: tuple[str, ...] = ("flags", "alarm", "alarm_reason", "drift_since", "problem_id", "problem_kind")
"""The flag columns the exposure routes add: the flag bits
(`relphot_core.qc.flags.FLAG_BITS`), the control-chart alarm, its reason,
the drift's start (MJD) and the exposure's current problem."""

FLAG_ORDER: tuple[str, ...] = ("alarm", "alarm_reason", "drift_since", "problem_id", "problem_kind", "flags")
"""`FLAG_COLUMNS` in the order of the exposure routes' columns (after the store's)."""

FEW_OBSERVATIONS = 5000
"""Observations whose rows the exposure routes read one by one (indexed
look-ups); the rows of more are read as the whole selection."""

SELECTION_ARGUMENTS: tuple[str, ...] = (*PARAMETERS, *FLAG_ARGUMENTS, "limit")
"""The query parameters of the selection routes: any other is refused (a
misspelt ``staus=FAIL`` would otherwise select every status)."""


def unknown_parameter(allowed: tuple[str, ...]) -> str | None:
    """The error for the first query parameter not in ``allowed``, or None."""
    unknown = [name for name in request.args if name not in allowed]
    if not unknown:
        return None
    return f"unknown parameter '{unknown[0][:40]}' (choose among {', '.join(allowed)})."


def _selection() -> tuple[ExposureSelection, int | None, str | None]:
    """The selection from the query string, the limit, and an error (or None)."""
    unknown = unknown_parameter(SELECTION_ARGUMENTS)
    if unknown:
        return ExposureSelection(), None, unknown
    try:
        sel = ExposureSelection.from_params(request.args.to_dict())
    except SelectionError as exc:
        return ExposureSelection(), None, exc.reason
    _wanted, flag_error = _flag_arguments()
    if flag_error:
        return sel, None, flag_error
    limit = request.args.get("limit")
    if limit in (None, ""):
        return sel, None, None
    if not is_number(str(limit)) or int(limit) < 1:
        return sel, None, f"'limit' must be a positive whole number, not '{str(limit)[:40]}'."
    return sel, int(limit), None


def with_flag_columns(df: pd.DataFrame) -> pd.DataFrame:
    """An exposure table with `FLAG_COLUMNS`: the control-chart columns from
    the cached trend tables of its filters, the problem from the store."""
    from relphot_core.qc.flags import exposure_flags

    from .data import get_cache

    if df.empty:
        return df.assign(**{c: pd.Series(dtype=object) for c in FLAG_ORDER})
    parts = []
    for name in pd.unique(df["filter"]):
        rows = df[df["filter"] == name]
        trend = get_cache().trend(str(name))
        chart = trend[[c for c in ("obs_id", "exposure", "alarm", "alarm_reason", "drift_since") if c in trend]]
        chart = chart.assign(alarm=chart["alarm"].astype(object), alarm_reason=chart["alarm_reason"].astype(object))
        parts.append(rows.merge(chart, on=["obs_id", "exposure"], how="left"))
    out = _problem_columns(pd.concat(parts, ignore_index=True))
    out["alarm"] = out["alarm"].fillna("")
    out["alarm_reason"] = out["alarm_reason"].fillna("")
    out["flags"] = exposure_flags(out)["flags"].astype(int)
    return out.sort_values(["obs_id", "filter", "exposure"], kind="stable", ignore_index=True)


def _flag_arguments() -> tuple[dict[str, bool], str | None]:
    """``flagged`` / ``awaiting`` from the query string (1 or 0), or an error."""
    wanted = {}
    for name in FLAG_ARGUMENTS:
        value = request.args.get(name)
        if value in (None, ""):
            continue
        if value not in ("0", "1"):
            return {}, f"'{name}' must be 0 or 1, not '{value[:40]}'."
        wanted[name] = value == "1"
    return wanted, None


def _current_tables(sel: ExposureSelection) -> dict[str, pd.DataFrame] | None:
    """The cached tables of the selection's filters when every one is at
    the store's data version now (`dashboard.data.DataCache.current`), else None."""
    from .data import get_cache

    return get_cache().current(sel.filters)


def _problem_columns(df: pd.DataFrame) -> pd.DataFrame:
    """An exposure table with each exposure's current problem (problem_id,
    problem_kind), the store's problems of its filters remembered per
    version of the problems."""
    from .survey_data import memo

    store = get_store()
    if df.empty:
        return df.assign(problem_id=pd.Series(dtype="Int64"), problem_kind=pd.Series(dtype=object))
    version = store.problems_version()
    parts = []
    for name in pd.unique(df["filter"]):
        def read(name: str = str(name)) -> pd.DataFrame:  # indexed once per version: each join reuses its hash
            return store.exposure_problems(name).set_index(["obs_id", "exposure"])[["problem_id", "problem_kind"]]

        problems = memo()(("exposure-problems", str(name), version), read)
        parts.append(df[df["filter"] == name].join(problems, on=["obs_id", "exposure"]))
    out = pd.concat(parts, ignore_index=True)
    out["problem_id"] = out["problem_id"].astype("Int64")
    return out


def _exposure_rows(sel: ExposureSelection, chosen: pd.DataFrame, limit: int | None, wanted: dict) -> pd.DataFrame:
    """The store's rows of the exposures ``chosen`` from the cached tables
    (`dashboard.selections.choose_exposures`), with their flag columns: the
    rows of the few observations holding them, or, for many, of the whole
    selection."""
    store = get_store()
    keys = list(zip(chosen["obs_id"].tolist(), chosen["filter"].tolist()))
    if len(set(keys)) <= FEW_OBSERVATIONS:
        rows = store.exposure_table(sel.criteria(), observations=keys)
    else:
        rows = store.exposure_table(sel, limit=None if wanted else limit)
    return rows.merge(chosen, on=["obs_id", "filter", "exposure"], how="inner")


def selected_exposures(sel: ExposureSelection, limit: int | None = None) -> tuple[pd.DataFrame, int | None]:
    """The store's exposure table for a selection (`relphot_core.selection`)
    with `FLAG_COLUMNS`, narrowed by the ``flagged`` / ``awaiting`` query
    parameters (`relphot_core.qc.flags`), then cut to ``limit``; and how many
    rows the selection holds without the limit when that is known at no
    cost (None otherwise).

    Chosen from the cached tables when they are at the store's version
    (`dashboard.selections`), else by the store."""
    from relphot_core.qc.flags import awaits_review

    from .selections import choose_exposures

    wanted, _ = _flag_arguments()
    tables = _current_tables(sel)
    if tables is not None:
        chosen = choose_exposures(tables, sel, wanted, limit)
        df = _problem_columns(_exposure_rows(sel, chosen.exposures, limit, wanted))
        df = df[[c for c in df.columns if c not in FLAG_COLUMNS] + list(FLAG_ORDER)]
        df = df.sort_values(["obs_id", "filter", "exposure"], kind="stable", ignore_index=True)
        return df, chosen.n_exposures
    df = get_store().exposure_table(sel.criteria(), limit=None if wanted else limit)
    df = with_flag_columns(df)
    if "flagged" in wanted:
        df = df[(df["flags"] != 0) == wanted["flagged"]]
    if "awaiting" in wanted:
        df = df[awaits_review(df) == wanted["awaiting"]]
    total = len(df) if wanted or limit is None or len(df) < limit else None
    return (df.head(limit) if limit is not None else df.reset_index(drop=True)), total


def selected_observations(sel: ExposureSelection, limit: int | None = None) -> tuple[pd.DataFrame, int | None]:
    """The store's observation table for a selection: the observation
    products holding at least one selected exposure (status, review state,
    dates, obs ids and the ``flagged`` / ``awaiting`` query parameters
    applied to the same exposure, as the pages count them), at most
    ``limit``; and how many the selection holds without the limit when
    that is known at no cost (None otherwise)."""
    from .selections import choose_observations

    store = get_store()
    wanted, _ = _flag_arguments()
    tables = _current_tables(sel) if limit is not None or wanted else None
    if tables is not None:
        keys, total = choose_observations(tables, sel, wanted, limit)
        return store.observation_table(ExposureSelection(filters=sel.filters), observations=keys), total
    if wanted:  # the store's exposures with their flags: the observations holding the selected ones
        exposures, _ = selected_exposures(sel)
        keys = sorted(set(zip(exposures["obs_id"].tolist(), exposures["filter"].tolist())))
        df = store.observation_table(ExposureSelection(filters=sel.filters), observations=keys)
        return (df if limit is None else df.head(limit)), len(df)
    df = store.observation_table(sel.criteria(), limit=limit)
    return df, (len(df) if limit is None or len(df) < limit else None)


def observation_detail(obs_id: int, filters) -> dict | None:
    """Everything about one observation (current runs), or None if unknown."""
    store = get_store()
    out: dict[str, Any] = {"obs_id": obs_id, "filters": {}}
    for name in filters:
        try:
            result = store.load_result(obs_id, name)
        except KeyError:
            continue
        reviews = store.reviews(obs_id=obs_id, filter=name)
        runs = store.runs(obs_id, name)
        out["filters"][name] = {
            "method": result.method,
            "software_version": result.software_version,
            "created": _jsonable(result.created),
            "mjd_start": _jsonable(result.mjd_start), "mjd_end": _jsonable(result.mjd_end),
            "exposures": [_jsonable(asdict(e)) for e in result.exposures],
            "pairs": [_jsonable(asdict(p)) for p in result.pairs],
            "detectors": [_jsonable(asdict(d)) for d in result.detectors],
            "parameters": dict(result.parameters),
            "runs": frame_records(runs.drop(columns=[c for c in ("parameters",) if c in runs])),
            "reviews": frame_records(reviews),
        }
    return out if out["filters"] else None


def votable_bytes(df: pd.DataFrame) -> bytes:
    """An exposure table as VOTable bytes (astropy)."""
    from astropy.table import Table

    table = Table()
    for column in df.columns:
        series = df[column]
        if series.dtype == object or str(series.dtype).startswith(("string", "str")):
            table[column] = np.array(["" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
                                      for v in series], dtype=str)
        elif series.dtype == bool:
            table[column] = series.to_numpy(dtype=bool)
        else:
            table[column] = pd.to_numeric(series, errors="coerce").to_numpy()
    table.meta["description"] = "relphot exposure table (QPRELEX per exposure)"
    buffer = io.BytesIO()
    table.write(buffer, format="votable")
    return buffer.getvalue()


def _attachment(data: bytes, filename: str, mimetype: str) -> Response:
    return Response(data, mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def observation_exists(obs_id: int, filter_name: str | None = None, run: str | None = None) -> bool:
    """Whether the store has the observation (in ``filter_name``, or in any
    filter when it is None or not a filter; with the run ``run`` when it is
    a run number and the filter is given)."""
    store = get_store()
    names = [filter_name] if filter_name in FILTERS else list(FILTERS)
    for name in names:
        runs = store.runs(obs_id, name)
        if runs.empty:
            continue
        if run is None or len(names) > 1 or not is_number(run):
            return True
        return int(run) in set(runs["run_id"].tolist())
    return False


def register_status_codes(server: Flask, page_paths: set[str]) -> None:
    """Serve the page of an unknown address or observation with HTTP 404.

    Dash answers every address with its one HTML page, which then shows
    "not found"; the status is for scripts and link checkers (GET and
    HEAD). When the store cannot be asked, the page keeps its 200: the
    page itself reports the problem."""
    @server.after_request
    def not_found_status(response):
        if request.method not in ("GET", "HEAD") or response.status_code != 200 or response.mimetype != "text/html":
            return response
        path = request.path.rstrip("/") or "/"
        if path.startswith("/observation/"):
            obs_id = path[len("/observation/"):]
            try:
                missing = not is_number(obs_id) or not observation_exists(
                    int(obs_id), request.args.get("filter"), request.args.get("run"))
            except Exception:  # a status code is not worth a failed page
                LOG.exception("cannot tell whether %s exists; answering 200", path)
                missing = False
            if missing:
                response.status_code = 404
        elif path not in page_paths:
            response.status_code = 404
        return response


METRICS_TTL = 10.0
"""Seconds a ``/metrics`` exposition is served again before the store is
read anew: a scrape reads about 2 s at survey size (480,000 factors,
15,000 problems), and several Prometheus servers may scrape each worker."""

_metrics_lock = threading.Lock()
METRICS_CACHE_KEY = "relphot.metrics_cache"


def _metrics_exposition() -> tuple[bytes, str]:
    """`relphot_core.metrics.exposition` of this app's store, at most `METRICS_TTL` old."""
    from flask import current_app

    from relphot_core.metrics import exposition

    with _metrics_lock:  # one reader at a time: concurrent scrapes wait for its answer
        cached = current_app.config.get(METRICS_CACHE_KEY)
        if cached is not None and time.monotonic() - cached[0] < METRICS_TTL:
            return cached[1], cached[2]
        body, content_type = exposition(get_store())
        current_app.config[METRICS_CACHE_KEY] = (time.monotonic(), body, content_type)
        return body, content_type


def register(server: Flask) -> None:
    """Add the JSON API and the download routes to the Flask server."""

    @server.route("/api/health")
    def api_health():
        from .data import get_cache

        return _json({"status": "ok", "cache_warm": get_cache().warmed.is_set(),
                      "open_failures": len(get_store().failures())})

    @server.route("/metrics")
    def metrics():
        body, content_type = _metrics_exposition()
        return Response(body, mimetype=None, content_type=content_type)

    @server.route("/api/failures")
    def api_failures():
        if unknown := unknown_parameter(("all", "obs", "filter")):
            return _error(unknown)
        obs, name, every = request.args.get("obs"), request.args.get("filter"), request.args.get("all", "")
        if obs not in (None, "") and not is_number(obs):
            return _error(f"'obs' must be an observation id (a whole number), not '{obs[:40]}'.")
        if name not in (None, "") and name not in FILTERS:
            return _error(f"unknown filter '{name[:40]}' (choose among {', '.join(FILTERS)}).")
        if every not in ("", "0", "1"):
            return _error("'all' must be 0 or 1.")
        df = get_store().failures(open_only=every != "1", obs_id=int(obs) if obs else None, filter=name or None)
        return _json({"count": len(df), "failures": frame_records(df)})

    @server.route("/api/compare")
    def api_compare():
        from relphot_core.compare import ChoiceError, RunChoice

        from .survey_data import run_comparison

        if unknown := unknown_parameter(("before", "after", "filter", "top")):
            return _error(unknown)
        name, top = request.args.get("filter") or None, request.args.get("top", "20")
        if name is not None and name not in FILTERS:
            return _error(f"unknown filter '{name[:40]}' (choose among {', '.join(FILTERS)}).")
        if not is_number(top) or int(top) > 10_000:
            return _error(f"'top' must be a whole number up to 10000, not '{top[:40]}'.")
        try:
            before = RunChoice.parse(request.args.get("before", "previous"))
            after = RunChoice.parse(request.args.get("after", "current"))
        except ChoiceError as exc:
            return _error(str(exc))
        comparison = run_comparison(before, after)
        summary = comparison.summary()
        if name is not None:
            summary["filters"] = {k: v for k, v in summary["filters"].items() if k == name}
        return _json({"before": {"choice": str(before), "meaning": before.describe()},
                      "after": {"choice": str(after), "meaning": after.describe()}, **summary,
                      "largest": frame_records(comparison.largest(int(top), name))})

    @server.route("/api/observations")
    def api_observations():
        sel, limit, problem = _selection()
        if problem:
            return _error(problem)
        df, total = selected_observations(sel, limit)
        if total is None:
            total = get_store().observation_count(sel.criteria())
        return _json({"count": len(df), "total": total, "truncated": total > len(df),
                      "observations": frame_records(df)})

    @server.route("/api/exposures")
    def api_exposures():
        sel, limit, problem = _selection()
        if problem:
            return _error(problem)
        df, total = selected_exposures(sel, limit)
        if total is None:
            total = get_store().exposure_count(sel.criteria())
        return _json({"count": len(df), "total": total, "truncated": total > len(df),
                      "exposures": frame_records(df)})

    @server.route("/api/problems")
    def api_problems():
        from relphot_core.qc.problems import PROBLEM_KINDS, PROBLEM_STATES

        if unknown := unknown_parameter(("filter", "state", "kind", "current", "awaiting")):
            return _error(unknown)
        filters = request.args.getlist("filter")
        states = request.args.getlist("state")
        kinds = request.args.getlist("kind")
        for name, values, allowed in (("filter", filters, FILTERS), ("state", states, PROBLEM_STATES),
                                      ("kind", kinds, PROBLEM_KINDS)):
            bad = [v for v in values if v not in allowed]
            if bad:
                return _error(f"unknown {name} '{bad[0][:40]}' (choose among {', '.join(allowed)}).")
        flags = {}
        for name in ("current", "awaiting"):
            value = request.args.get(name)
            if value not in (None, "", "0", "1", "any"):
                return _error(f"'{name}' must be 0, 1 or any, not '{value[:40]}'.")
            flags[name] = None if value in ("any",) else (value == "1" if value not in (None, "") else None)
        current = True if request.args.get("current") in (None, "") else flags["current"]
        df = get_store().problems(filters or None, states=states or None, kinds=kinds or None, current=current,
                                  awaiting=flags["awaiting"])
        return _json({"count": len(df), "problems": frame_records(df)})

    @server.route("/api/problems/<problem_id>")
    def api_problem(problem_id: str):
        if not is_number(problem_id):
            return _error(f"'{problem_id[:40]}' is not a problem id (a whole number).")
        if unknown := unknown_parameter(()):
            return _error(unknown)
        store = get_store()
        try:
            row = store.problem(int(problem_id))
        except KeyError:
            return _error(f"problem {problem_id} not found", 404)
        return _json({"problem": frame_records(row.to_frame().T)[0],
                      "exposures": frame_records(store.problem_exposures(int(problem_id))),
                      "events": frame_records(store.problem_events(int(problem_id)))})

    @server.route("/api/observation/<obs_id>")
    def api_observation(obs_id: str):
        if not is_number(obs_id):
            return _error(f"'{obs_id[:40]}' is not an observation id (a whole number).")
        if unknown := unknown_parameter(("filter",)):
            return _error(unknown)
        name = request.args.get("filter")
        if name not in (None, "") and name not in FILTERS:
            return _error(f"unknown filter '{name[:40]}' (choose among {', '.join(FILTERS)}).")
        detail = observation_detail(int(obs_id), [name] if name else FILTERS)
        if detail is None:
            return _error(f"observation {obs_id} not found" + (f" in {name}" if name else ""), 404)
        return _json(detail)

    @server.route("/download/product/<obs_id>/<name>.xml")
    def download_product(obs_id: str, name: str):
        from relphot_core.products import product_bytes, product_filename

        if unknown := unknown_parameter(("run",)):
            return _error(unknown)
        run = request.args.get("run")
        if not is_number(obs_id) or name not in FILTERS or (run not in (None, "") and not is_number(str(run))):
            return _error("use /download/product/<obs id>/<NIR_Y|NIR_J|NIR_H>.xml[?run=ID]")
        try:
            result = get_store().load_result(int(obs_id), name, run_id=int(run) if run else None)
        except KeyError:
            return _error(f"observation {obs_id} {name} not found", 404)
        from relphot_core.reviews import review_states

        try:
            data = product_bytes(result, reviews=review_states(get_store(), result.obs_id, result.filter))
        except RelphotError as exc:
            return _error(f"cannot write the product: {exc}", 500)
        return _attachment(data, product_filename(result), "application/xml")

    @server.route("/download/products.zip")
    def download_zip():
        from relphot_core.products import product_bytes, product_filename

        sel, _limit, problem = _selection()
        if problem:
            return _error(problem)
        n_obs = len(selected_observations(sel, MAX_ZIP + 1)[0])
        if n_obs > MAX_ZIP:
            return _error(f"the selection holds more than {MAX_ZIP:,} observation products: "
                          "narrow it, or use `relphot export`.", 413)
        from relphot_core.reviews import all_review_states

        store = get_store()
        reviewed = all_review_states(store)  # each product carries its exposures' reviews
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            # the same products, chosen by the same query, as `relphot export` with this selection
            for result in store.iter_results(selection=sel.criteria(), details=False):
                archive.writestr(product_filename(result),
                                 product_bytes(result, reviews=reviewed.get((result.obs_id, result.filter))))
        return _attachment(buffer.getvalue(), "relphot_products.zip", "application/zip")

    @server.route("/download/exposures.csv")
    def download_csv():
        sel, limit, problem = _selection()
        if problem:
            return _error(problem)
        df, _total = selected_exposures(sel, limit or MAX_ROWS)
        return _attachment(df.to_csv(index=False).encode(), "relphot_exposures.csv", "text/csv")

    @server.route("/download/exposures.vot")
    def download_votable():
        sel, limit, problem = _selection()
        if problem:
            return _error(problem)
        df, _total = selected_exposures(sel, limit or MAX_ROWS)
        return _attachment(votable_bytes(df), "relphot_exposures.vot", "application/x-votable+xml")
