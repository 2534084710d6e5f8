"""Observation page: ``/observation/<obs_id>?filter=NIR_J`` (all filters of
the observation without ``filter``; ``&run=ID`` for an earlier run).

Per filter: the exposure table with statuses and reviews, the review form,
each factor against 1, the pair matrix, the dm histogram / dm vs mag / sky
plot of a chosen pair, the 4x4 focal plane per exposure, the processing run
and its parameters, and the product download.
"""
from __future__ import annotations

import math

import dash
import pandas as pd
from dash import MATCH, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from relphot_core.config import DETECTORS, FILTERS
from relphot_core.errors import RelphotError
from relphot_core.reviews import ReviewInputError, review_problem, review_states
from relphot_core.status import FLAGGED, OUT_OF_LIMITS, Status

from ..components import (command_block, empty_store_page, exposure_records, exposure_table,
                          fmt_time, message, review_form, status_badge)
from ..api import is_number
from ..data import add_reviews, db_label, get_bands, get_cache, get_store, with_flags
from ..figures import (dm_mag_figure, exposure_factor_figure, focal_plane_figure, pair_histogram_figure,
                       pair_matrix_figure, sky_figure)
from ..style import GRAPH_CONFIG

PAGE = dict(path_template="/observation/<obs_id>", name="Observation",
            title=lambda obs_id=None, **_: f"relphot QC — observation {str(obs_id)[:20]}", order=1)

COLUMNS = [("exposure", "dither"), ("date", "date (UTC)"), ("value", "QPRELEX"), ("error", "QPRELEXE"),
           ("global", "global solution"), ("status", "status"), ("reason", "reason"), ("chart", "other flags"),
           ("n_pairs", "pairs"), ("n_matched", "matched"), ("review", "review"),
           ("review_cause", "cause"), ("review_comment", "review comment")]


def pid(name: str, filter_name: str | None = None):
    """Page-local id; per-filter components get a pattern-matching id."""
    if filter_name is None:
        return f"obs-{name}"
    return {"type": f"obs-{name}", "filter": filter_name}


def not_found(text: str) -> html.Div:
    return html.Div(id="obs-not-found", className="empty-page", children=[
        html.H2("Observation not found"), html.P(text),
        html.P([dcc.Link("Back to the overview", href="/"), " · ", dcc.Link("triage queue", href="/triage")]),
    ])


def control_alarms(result, run_id: int | None = None) -> dict[int, str]:
    """The control-chart alarm of each alarmed dither of a result (its
    reason), from the server's cached table of the filter: current runs
    only, and only with a cache (see `flagged_dithers`)."""
    cache = get_cache()
    if run_id is not None or cache.ttl <= 0:
        return {}
    table = cache.trend(result.filter)
    if table is None or table.empty or "alarmed" not in table or "alarm_reason" not in table:
        return {}
    rows = table[(table["obs_id"].to_numpy() == result.obs_id) & table["alarmed"].to_numpy(dtype=bool)]
    return {int(d): str(r) for d, r in zip(rows["exposure"], rows["alarm_reason"].astype(object))}


def exposure_frame(store, result, run_id: int | None = None) -> pd.DataFrame:
    """The exposures of a result as exposure-table rows, with their latest
    valid review (`relphot_core.reviews.review_states`: a revoked one no
    longer shows) and their control-chart alarm (what a review is about)."""
    reviews = review_states(store, result.obs_id, result.filter)
    alarms = control_alarms(result, run_id)
    rows = []
    for exp in result.exposures:
        review = reviews.get(exp.exposure)
        rows.append({
            "alarmed": exp.exposure in alarms, "alarm_reason": alarms.get(exp.exposure, ""),
            "obs_id": result.obs_id, "filter": result.filter, "exposure": exp.exposure,
            "date_obs": exp.date_obs, "mjd_obs": exp.mjd_obs, "value": exp.value, "error": exp.error,
            "status": exp.status, "reason": exp.reason, "n_pairs": exp.n_pairs, "n_matched": exp.n_matched,
            "global_value": exp.global_value, "detector_flag": exp.detector_flag,
            "detector_reason": exp.detector_reason, "crosscheck": exp.crosscheck, "collateral": exp.collateral,
            "review_decision": review.decision if review else None, "reviewer": review.reviewer if review else None,
            "review_comment": review.comment if review else None, "review_cause": review.cause if review else None,
            "reviewed_at": review.reviewed_at if review else None,
        })
    frame = pd.DataFrame(rows)
    return with_flags(frame) if len(frame) else frame


def flagged_dithers(result, run_id: int | None = None) -> list[int]:
    """The dithers of a result with a flag to review: WARN, FAIL or NODATA,
    a flagged detector, a disagreement with the global solution, or an
    alarm of their dither position's control chart.

    The control-chart alarms come from the server's cached table of the
    filter (current runs): not for an earlier run (``run_id``), and not
    without a cache (``cache_ttl=0``: a survey-size read per page view)."""
    flagged = {e.exposure for e in result.exposures
               if e.status in FLAGGED or e.detector_flag in OUT_OF_LIMITS or e.crosscheck}
    cache = get_cache()
    if run_id is None and cache.ttl > 0:
        table = cache.trend(result.filter)
        if table is not None and not table.empty and "flag" in table:
            rows = table[table["obs_id"].to_numpy() == result.obs_id]
            flagged |= {int(d) for d in rows.loc[rows["flag"].to_numpy(dtype=bool), "exposure"]}
    return sorted(flagged)


def _pair_options(result) -> list[dict]:
    return [{"label": f"dither {p.exposure_a} − dither {p.exposure_b} ({p.n_kept} kept)",
             "value": f"{p.exposure_a}-{p.exposure_b}"} for p in result.pairs]


def default_pair(result) -> str | None:
    """The pair shown first: the one with the largest ``|median|`` among the
    valid pairs (the one showing the flagged exposure), else the first."""
    pairs = [p for p in result.pairs if p.valid and p.median is not None] or list(result.pairs)
    if not pairs:
        return None
    worst = max(pairs, key=lambda p: abs(p.median) if p.median is not None else -1.0)
    return f"{worst.exposure_a}-{worst.exposure_b}"


def _pair(result, value: str | None):
    if not value:
        return None, None
    try:
        a, b = (int(v) for v in str(value).split("-"))
    except ValueError:
        return None, None
    pair = next((p for p in result.pairs if (p.exposure_a, p.exposure_b) == (a, b)), None)
    sample = next((s for s in result.samples if (s.exposure_a, s.exposure_b) == (a, b)), None)
    return pair, sample


def _run_block(store, result, run_id) -> html.Div:
    runs = store.runs(result.obs_id, result.filter)
    rows = []
    for run in runs.to_dict("records"):
        label = f"run {run['run_id']}"
        link = dcc.Link(label, href=f"/observation/{result.obs_id}?filter={result.filter}&run={run['run_id']}")
        flags = [t for t, on in (("current", run.get("current")), ("pinned", run.get("pinned")),
                                 ("imported", run.get("imported"))) if on]
        rows.append(html.Tr([html.Td(link), html.Td(fmt_time(run.get("created"))), html.Td(str(run.get("method"))),
                             html.Td(str(run.get("software_version") or "")), html.Td(", ".join(flags))]))
    params = sorted((result.parameters or {}).items())
    return html.Div(className="run-block", children=[
        html.H4("Processing runs"),
        html.Table([html.Tr([html.Th(h) for h in ("run", "created", "method", "software", "")])] + rows,
                   className="plain-table"),
        html.Details([
            html.Summary(f"Parameters of the run shown ({len(params)})"),
            html.Table([html.Tr([html.Td(k), html.Td(str(v))]) for k, v in params], className="plain-table params"),
        ], open=False),
    ])


def _detector_links(result) -> html.Div:
    """A link per detector to its history on the detector page (flagged ones marked)."""
    flagged = {s.detector for s in result.detectors if s.status in OUT_OF_LIMITS}
    return html.Div(className="detector-links", id=f"obs-detector-links-{result.filter}", children=[
        html.Span(f"Detector history in {result.filter}: ", className="muted")] + [
        dcc.Link(str(d) + (" !" if d in flagged else ""), href=f"/detectors?filter={result.filter}&detector={d}",
                 className="pill" + (" pill-flagged" if d in flagged else ""),
                 title=f"detector {d} over time" + (" (flagged in this observation)" if d in flagged else ""))
        for d in DETECTORS])


def _section(store, result, run_id) -> html.Div:
    f = result.filter
    bands = get_bands()
    df = exposure_frame(store, result, run_id)
    dithers = [e.exposure for e in result.exposures]
    options = _pair_options(result)
    first = default_pair(result)
    pair, sample = _pair(result, first)
    statuses = [e.status for e in result.exposures]
    flagged = flagged_dithers(result, run_id)
    # one colour scale on every observation: 1.5 x the FAIL level, in mmag
    scale = 1.5 * 2500 * math.log10(1 + bands.fail)
    summary = [html.Span([status_badge(s), f" ×{statuses.count(s)}"], className="status-count")
               for s in (Status.FAIL, Status.WARN, Status.NODATA, Status.OK) if s in statuses]
    command = f"relphot export --db {db_label()} --out DIR --obs-id {result.obs_id} --filter {f}"
    return html.Section(className="obs-section card", id=f"obs-section-{f}", children=[
        html.Div(className="card-head", children=[
            html.H2([f, " "] + summary),
            html.Span(f"{result.method} method · {len(dithers)} exposures"
                      + (f" · showing run {run_id}" if run_id else ""), className="muted"),
        ]),
        dcc.Store(id=pid("key", f), data={"obs_id": result.obs_id, "filter": f, "run": run_id}),
        exposure_table(pid("table", f), df, columns=COLUMNS, link=False, selectable=True, height=None,
                       bands=bands),
        html.Div(className="review-box", children=[
            html.H4("Review"),
            dcc.RadioItems(id=pid("scope", f), value="selected", inline=True, className="radio",
                           options=[{"label": "the exposures ticked in the table", "value": "selected"},
                                    {"label": "every flagged exposure of the observation (dither "
                                     + ", ".join(map(str, flagged)) + ")", "value": "all"}]),
            review_form(lambda name: pid(f"review-{name}", f), what="these exposures"),
        ] if flagged else [
            html.H4("Review"),
            html.P("No exposure of this observation is flagged (no WARN, FAIL, NODATA, control alarm, "
                   "detector or cross-check flag): there is nothing to review.", className="muted",
                   id=f"obs-nothing-to-review-{f}"),
        ]),
        html.Div(className="grid-2", children=[
            dcc.Graph(figure=exposure_factor_figure(result.exposures, warn=bands.warn, fail=bands.fail),
                      config=GRAPH_CONFIG),
            dcc.Graph(figure=pair_matrix_figure(result.pairs, dithers, limit=scale), config=GRAPH_CONFIG),
        ]),
        html.Div(className="pair-select", children=[
            html.Label("Pair: "),
            dcc.Dropdown(id=pid("pair", f), options=options, value=first, clearable=False,
                         className="dropdown-pair"),
        ]),
        html.Div(className="grid-3", children=[
            dcc.Graph(id=pid("hist", f), figure=pair_histogram_figure(sample, pair), config=GRAPH_CONFIG),
            dcc.Graph(id=pid("dmmag", f), figure=dm_mag_figure(sample, pair), config=GRAPH_CONFIG),
            dcc.Graph(id=pid("sky", f), figure=sky_figure(sample, pair), config=GRAPH_CONFIG),
        ]),
        # four 4x4 panels stay legible: below ~900 px the card scrolls sideways
        html.Div(dcc.Graph(figure=focal_plane_figure(result.detectors, dithers, limit=scale), config=GRAPH_CONFIG,
                           className="focal-plane-graph"), className="focal-plane"),
        _detector_links(result),
        html.Div(className="grid-2", children=[
            _run_block(store, result, run_id),
            html.Div(className="export-block", children=[
                html.H4("Export"),
                html.A("Download the validated XML product", className="btn btn-link",
                       id=f"obs-download-{f}", href=f"/download/product/{result.obs_id}/{f}.xml"
                       + (f"?run={run_id}" if run_id else ""), target="_blank", download=""),
                html.P("Equivalent command:", className="muted"), command_block(command),
            ]),
        ]),
    ])


def layout(obs_id=None, filter=None, run=None, **_ignored) -> html.Div:  # noqa: A002 - URL parameter name
    """The page of one observation (one or all of its filters)."""
    store = get_store()
    if get_cache().is_empty():
        return empty_store_page()
    text = str(obs_id or "")[:40]
    if not is_number(text):
        return not_found(f"'{text}' is not an observation id: ids are whole numbers, e.g. /observation/1001.")
    obs = int(text)
    problems = []
    filters = list(FILTERS)
    if filter not in (None, ""):
        if str(filter) in FILTERS:
            filters = [str(filter)]
        else:
            problems.append(f"Unknown filter '{str(filter)[:40]}' (choose among {', '.join(FILTERS)}); "
                            "showing every filter.")
    run_id = None
    if run not in (None, ""):
        if is_number(str(run)) and len(filters) == 1:
            run_id = int(str(run))
        else:
            problems.append(f"'run' must be a run number together with one filter, not '{str(run)[:40]}'; "
                            "showing the current run.")
    results = []
    for name in filters:
        try:
            results.append(store.load_result(obs, name, run_id=run_id))
        except KeyError:
            continue
    if not results:
        if run_id is not None:
            return not_found(f"Observation {obs} has no run {run_id} in {filters[0]}.")
        return not_found(f"No observation {obs} in this store"
                         + (f" for filter {filters[0]}." if len(filters) == 1 else "."))
    prev_id, next_id = store.neighbours(obs, filters[0] if len(filters) == 1 else None)
    suffix = f"?filter={filters[0]}" if len(filters) == 1 else ""
    nav = html.Div(className="obs-nav", children=[
        dcc.Link(f"← observation {prev_id}", href=f"/observation/{prev_id}{suffix}", id="obs-prev")
        if prev_id is not None else html.Span("first observation", className="muted"),
        html.Span([dcc.Link(name, href=f"/observation/{obs}?filter={name}",
                            className="pill" + (" pill-active" if filters == [name] else ""))
                   for name in FILTERS] + [dcc.Link("all filters", href=f"/observation/{obs}",
                                                    className="pill" + (" pill-active" if len(filters) > 1
                                                                        else ""))], className="pills"),
        dcc.Link(f"observation {next_id} →", href=f"/observation/{next_id}{suffix}", id="obs-next")
        if next_id is not None else html.Span("last observation", className="muted"),
    ])
    first = results[0]
    span = ""
    starts = [r.mjd_start for r in results if r.mjd_start is not None]
    if starts:  # over every filter shown
        ends = [r.mjd_end if r.mjd_end is not None else r.mjd_start for r in results if r.mjd_start is not None]
        span = f"MJD {min(starts):.5f} – {max(ends):.5f}"
    pointing = ""
    if first.ra_pointing is not None and first.dec_pointing is not None:
        pointing = f" · pointing RA {first.ra_pointing:.4f}°, Dec {first.dec_pointing:.4f}°"
    return html.Div([
        html.Div([dcc.Link("Overview", href="/"), " / observation"], className="breadcrumb"),
        html.H1(f"Observation {obs}", id="obs-title"),
        html.P(span + pointing, className="lead"),
        nav,
        html.Div([message(p, "warning") for p in problems]),
        html.Div([message(f"Processing failure ({row.kind}, last seen {fmt_time(row.last_seen)}): "
                          f"{row.path}: {row.reason}", "error")
                  for name in filters
                  for row in store.failures(obs_id=obs, filter=name).itertuples(index=False)]),
    ] + [_section(store, result, run_id) for result in results])


def update_pair(value, key):
    """Redraw the three per-pair plots for the chosen pair."""
    if not value or not key:
        raise PreventUpdate
    result = get_store().load_result(int(key["obs_id"]), key["filter"], run_id=key.get("run"))
    pair, sample = _pair(result, value)
    return pair_histogram_figure(sample, pair), dm_mag_figure(sample, pair), sky_figure(sample, pair)


def review(n_confirm, n_overrule, reviewer, comment, cause, scope, selected_rows, rows, key):
    """Store a review of the ticked exposures or of every flagged one, as one batch."""
    if not ctx.triggered_id or not (n_confirm or n_overrule):
        raise PreventUpdate
    decision = "confirmed" if ctx.triggered_id["type"].endswith("confirm") else "overruled"
    problem = review_problem(decision, reviewer, comment, cause)
    if problem:
        return message(problem, "error"), no_update
    store = get_store()
    result = store.load_result(int(key["obs_id"]), key["filter"], run_id=key.get("run"))
    flagged = flagged_dithers(result, key.get("run"))
    if scope == "all":
        exposures = flagged
        if not exposures:
            return message("No exposure of this observation is flagged: there is no flag to confirm or overrule.",
                           "error"), no_update
    else:
        ticked = selected_rows if isinstance(selected_rows, list) else []
        if not ticked:
            return message("Tick one or more exposures in the table first, or choose every flagged exposure.",
                           "error"), no_update
        exposures = sorted({int(r["exposure"]) for r in ticked})
        unflagged = [d for d in exposures if d not in flagged]
        if unflagged:
            return message(f"Dither {', '.join(map(str, unflagged))} {'is' if len(unflagged) == 1 else 'are'} "
                           "not flagged (OK, no control alarm, detector or cross-check flag): only a flag can be "
                           "confirmed or overruled.", "error"), no_update
    keys = [(result.obs_id, result.filter, d) for d in exposures]
    shown = {int(r["exposure"]): r for r in (rows or [])}  # the flag each decision is about, as shown
    about = {(result.obs_id, result.filter, d): (shown[d].get("flag_kind") or "status", shown[d].get("flag_reason")
                                                 or "") for d in exposures if d in shown}
    try:
        batch = add_reviews(keys, decision, reviewer, comment, cause=cause or "", about=about)
    except ReviewInputError as exc:
        return message(str(exc), "error"), no_update
    except (KeyError, ValueError, RelphotError) as exc:
        return message(f"Not stored: {exc}", "error"), no_update
    what = "dither " + ", ".join(str(d) for d in exposures)
    records = exposure_records(exposure_frame(store, result, key.get("run")), link=False, bands=get_bands())
    name = " ".join(str(reviewer).split())
    return message(f"Stored: {decision} by {name} for {what} (review batch {batch}).", "success"), records


def register_callbacks(app: dash.Dash) -> None:
    """Attach the observation page's callbacks to an app."""
    app.callback(
        Output(pid("hist", MATCH), "figure"),
        Output(pid("dmmag", MATCH), "figure"),
        Output(pid("sky", MATCH), "figure"),
        Input(pid("pair", MATCH), "value"),
        State(pid("key", MATCH), "data"),
        prevent_initial_call=True,
    )(update_pair)
    app.callback(
        Output(pid("review-result", MATCH), "children"),
        Output(pid("table", MATCH), "rowData"),
        Input(pid("review-confirm", MATCH), "n_clicks"),
        Input(pid("review-overrule", MATCH), "n_clicks"),
        State(pid("review-reviewer", MATCH), "value"),
        State(pid("review-comment", MATCH), "value"),
        State(pid("review-cause", MATCH), "value"),
        State(pid("scope", MATCH), "value"),
        State(pid("table", MATCH), "selectedRows"),
        State(pid("table", MATCH), "rowData"),
        State(pid("key", MATCH), "data"),
        prevent_initial_call=True,
    )(review)

