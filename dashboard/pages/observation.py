"""Observation page: ``/observation/<obs_id>?filter=NIR_J`` (all filters of
the observation without ``filter``, worst first under a summary; ``&run=ID``
for an earlier run; ``&back=<page and query>`` the view it was opened from,
where the breadcrumb leads: the overview, triage queue, detector page).

Per filter: the exposure table with statuses and reviews, the review form,
each factor against 1 (with the bands, zoomed, or as pulls), the pair
matrix (a click on a cell shows that pair), the dm histogram / dm vs mag /
sky plot of a chosen pair, the 4x4 focal plane per exposure (a click on a
detector opens its history), the processing run and its parameters, and
the product download. Navigation: the previous and next observation, the
next flagged one and the next one of the triage queue
(`observation_model`).
"""
from __future__ import annotations

import dataclasses
import math
from urllib.parse import urlencode

import dash
import numpy as np
import pandas as pd
from dash import ALL, MATCH, Input, Output, State, ctx, dcc, html, no_update
from dash.dependencies import Wildcard
from dash.exceptions import PreventUpdate

from relphot_core.wording import plural
from relphot_core.config import DETECTORS, FILTERS
from relphot_core.errors import RelphotError
from relphot_core.identity import Action, AuthError
from relphot_core.mjd import mjd_to_datetime
from relphot_core.qc.flags import exposure_flags, is_flagged, next_flagged
from relphot_core.results import MatchSample, PairStat
from relphot_core.reviews import ReviewInputError, review_problem, review_states
from relphot_core.status import OUT_OF_LIMITS, Status

from ..components import (command_block, empty_store_page, exposure_records, exposure_table, fmt_time, message,
                          refused_message, review_form, status_badge)
from ..api import is_number
from ..auth import current_identity, signed_name, writes
from ..data import add_reviews, db_label, get_bands, get_cache, get_store, table_version
from ..figures import (dm_mag_figure, exposure_factor_figure, focal_plane_figure, pair_histogram_figure,
                       pair_matrix_figure, sky_figure)
from ..figures.observation import FACTOR_VIEWS
from ..query import unknown_parameters
from ..style import GRAPH_CONFIG
from .observation_model import (back_link, filter_summary, next_in_queue, queue_order, with_back,
                                worst_first)

PAGE = dict(path_template="/observation/<obs_id>", name="Observation",
            title=lambda obs_id=None, **_: f"relphot QC — observation {str(obs_id)[:20]}", order=1)

COLUMNS = [("exposure", "dither"), ("date", "date (UTC)"), ("value", "QPRELEX"), ("error", "QPRELEXE"),
           ("global", "global solution"), ("status", "status"), ("reason", "reason"), ("chart", "other flags"),
           ("n_pairs", "pairs"), ("n_matched", "matched"), ("review", "review"),
           ("review_cause", "cause"), ("review_comment", "review comment")]


def pid(name: str, filter_name: str | Wildcard | None = None) -> str | dict[str, str | Wildcard]:
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
            "review_id": review.review_id if review else None,
        })
    frame = pd.DataFrame(rows)
    return exposure_flags(frame) if len(frame) else frame


def flagged_dithers(result, run_id: int | None = None) -> list[int]:
    """The dithers of a result with a flag to review: WARN, FAIL or NODATA,
    a flagged detector, a disagreement with the global solution, or an
    alarm of their dither position's control chart.

    The control-chart alarms come from the server's cached table of the
    filter (current runs): not for an earlier run (``run_id``), and not
    without a cache (``cache_ttl=0``: a survey-size read per page view)."""
    alarms = control_alarms(result, run_id)
    rows = pd.DataFrame({"status": [e.status for e in result.exposures],
                         "detector_flag": [e.detector_flag for e in result.exposures],
                         "crosscheck": [e.crosscheck for e in result.exposures],
                         "alarm": [alarms.get(e.exposure, "") for e in result.exposures]})
    dithers = [e.exposure for e in result.exposures]
    return sorted(d for d, flagged in zip(dithers, is_flagged(rows)) if flagged)


def _pair_options(result) -> list[dict]:
    """Each pair in both orientations (a click on either triangle of the
    matrix chooses the one its cell shows): the stored one first."""
    def option(p: PairStat, a: int, b: int) -> dict:
        return {"label": f"dither {a} − dither {b} ({p.n_kept} kept)", "value": f"{a}-{b}"}

    return ([option(p, p.exposure_a, p.exposure_b) for p in result.pairs]
            + [option(p, p.exposure_b, p.exposure_a) for p in result.pairs])


def reversed_pair(pair: PairStat | None, sample: MatchSample | None) -> tuple[PairStat | None, MatchSample | None]:
    """A pair and its sample seen the other way round: dm = m(b) - m(a)."""
    def negated(value: float | None) -> float | None:
        return None if value is None else -value

    if pair is not None:
        pair = dataclasses.replace(pair, exposure_a=pair.exposure_b, exposure_b=pair.exposure_a,
                                   median=negated(pair.median), clip_low=negated(pair.clip_high),
                                   clip_high=negated(pair.clip_low))
    if sample is not None:
        sample = dataclasses.replace(sample, exposure_a=sample.exposure_b, exposure_b=sample.exposure_a,
                                     dm=-np.asarray(sample.dm))
    return pair, sample


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
    if pair is None and sample is None:  # the stored pair b-a, seen as a-b
        pair = next((p for p in result.pairs if (p.exposure_a, p.exposure_b) == (b, a)), None)
        sample = next((s for s in result.samples if (s.exposure_a, s.exposure_b) == (b, a)), None)
        return reversed_pair(pair, sample)
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


def _context(result) -> html.Div:
    """The context of the factors (sources matched, fraction clipped, pair
    dispersion) against the filter's season (current runs)."""
    from ..figures.context import context_figure
    from ..survey_data import context_season

    figure = context_figure(context_season(result.filter), result.obs_id,
                            title=f"Context of the factors: this observation against the {result.filter} season")
    return html.Div([
        html.P("A factor far from 1 with few matched sources, much clipped or wide pairs points to the data "
               "(crowding, a bad catalogue) rather than the photometry. (Current runs.)", className="muted"),
        dcc.Graph(id=pid("context", result.filter), figure=figure, config=GRAPH_CONFIG)], className="obs-context")


def _section(store, result, run_id) -> html.Section:
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
    beyond = [d for d in flagged if next(e for e in result.exposures if e.exposure == d).status == Status.OK]
    if beyond:  # an OK status with another flag (a detector, an alarm, a cross-check): say so in the header
        summary.append(html.Span(f" · {len(beyond)} flagged (dither {', '.join(map(str, beyond))})",
                                 className="status-count flag-count", id=f"obs-flag-count-{f}",
                                 title="exposures whose status is OK but which carry another flag: a detector, "
                                       "a control-chart alarm or a cross-check"))
    command = f"relphot export --db {db_label()} --out DIR --obs-id {result.obs_id} --filter {f}"
    return html.Section(className="obs-section card", id=f"obs-section-{f}", children=[
        html.Div(className="card-head", children=[
            html.H2([f, " "] + summary),
            html.Span(f"{result.method} method · {plural(len(dithers), 'exposure')}"
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
            html.Div([
                html.Label("Factor plot: ", className="muted", style={"marginRight": "0.5em"}),
                dcc.RadioItems(id=pid("factor-view", f), value="bands", inline=True, className="radio factor-view",
                               style={"display": "inline-block"},
                               options=[{"label": label, "value": value}
                                        for value, label in (("bands", "with the bands"), ("zoom", "zoomed"),
                                                             ("pull", "pull (σ)"))]),
                dcc.Graph(id=pid("factors", f), config=GRAPH_CONFIG,
                          figure=exposure_factor_figure(result.exposures, warn=bands.warn, fail=bands.fail)),
            ]),
            dcc.Graph(id=pid("matrix", f), figure=pair_matrix_figure(result.pairs, dithers, limit=scale),
                      config=GRAPH_CONFIG),
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
        html.Div(dcc.Graph(id=pid("focal", f), figure=focal_plane_figure(result.detectors, dithers, limit=scale),
                           config=GRAPH_CONFIG, className="focal-plane-graph"), className="focal-plane"),
        _detector_links(result),
        _context(result),
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


def _next_flagged(store, obs: int, filters: list[str]) -> int | None:
    """The next observation with a flag in the filters shown: from the
    server's cached tables (control-chart alarms included), else the store."""
    cache = get_cache()
    found = []
    for name in filters:
        if cache.ttl > 0:
            found.append(next_flagged(cache.trend(name), obs))
        else:
            found.append(store.next_flagged(obs, name))
    known = [f for f in found if f is not None]
    return min(known) if known else None


def _queue(store) -> list[tuple[int, str]]:
    """The triage queue's observations in its order (`observation_model.queue_order`)."""
    cache = get_cache()
    if cache.ttl > 0:
        tables = {name: cache.trend(name) for name in FILTERS}
        key = ("obs-queue",) + tuple(table_version(t) for t in tables.values())
        return cache.memo(key, lambda: queue_order(tables))
    queue = store.triage_queue()
    return queue_order({name: rows for name, rows in queue.groupby("filter")}) if len(queue) else []


def _navigation(store, obs: int, filters: list[str], back: str | None) -> html.Div:
    """Previous / next observation, next flagged, next in the queue, and the filter pills."""
    single = filters[0] if len(filters) == 1 else None
    prev_id, next_id = store.neighbours(obs, single)

    def href(obs_id: int, filter_name: str | None = single) -> str:
        return with_back(f"/observation/{obs_id}" + (f"?filter={filter_name}" if filter_name else ""), back)

    flagged = _next_flagged(store, obs, filters)
    queue = _queue(store)
    queued = next_in_queue(queue, obs, single)
    jumps = [
        dcc.Link(f"next flagged: {flagged} →", href=href(flagged), id="obs-next-flagged",
                 title="the next observation" + (f" of {single}" if single else "") + " with a flagged exposure")
        if flagged is not None else html.Span("no flagged observation after this one", className="muted",
                                              id="obs-next-flagged"),
        dcc.Link(f"next in the queue: {queued[0]} {queued[1]} →", href=href(*queued), id="obs-next-queued",
                 title="the next observation of the triage queue (worst first) awaiting review")
        if queued is not None else html.Span("nothing else awaits review" if queue else "the triage queue is empty",
                                             className="muted", id="obs-next-queued"),
    ]
    return html.Div(className="obs-nav", style={"flexWrap": "wrap"}, children=[
        dcc.Link(f"← observation {prev_id}", href=href(prev_id), id="obs-prev")
        if prev_id is not None else html.Span("first observation", className="muted"),
        html.Span([dcc.Link(name, href=with_back(f"/observation/{obs}?filter={name}", back),
                            className="pill" + (" pill-active" if filters == [name] else ""))
                   for name in FILTERS] + [dcc.Link("all filters", href=with_back(f"/observation/{obs}", back),
                                                    className="pill" + (" pill-active" if len(filters) > 1
                                                                        else ""))], className="pills"),
        dcc.Link(f"observation {next_id} →", href=href(next_id), id="obs-next")
        if next_id is not None else html.Span("last observation", className="muted"),
        html.Span(jumps, className="obs-jumps", style={"display": "inline-flex", "gap": "1.5em"}),
    ])


def _summary(results, back: str | None) -> html.Div:
    """The "all filters" view's head: per filter its status counts and its
    worst exposure, worst filter first, each a link to its section."""
    rows = [html.Tr([html.Th(h) for h in ("filter", "exposures", "worst exposure", "")])]
    for result in results:
        summary = filter_summary(result)
        counts = [html.Span([status_badge(status), f" ×{summary.counts[status]}"], className="status-count")
                  for status in (Status.FAIL, Status.WARN, Status.NODATA, Status.OK) if status in summary.counts]
        worst = "—" if summary.worst_dither is None else (
            f"dither {summary.worst_dither}: " + ("no value" if summary.worst_value is None
                                                   else f"QPRELEX {summary.worst_value:.4f}"))
        rows.append(html.Tr([
            html.Td(html.A(result.filter, href=f"#obs-section-{result.filter}")), html.Td(counts),
            html.Td([status_badge(summary.worst), " ", worst]),
            html.Td(dcc.Link("this filter only", href=with_back(
                f"/observation/{result.obs_id}?filter={result.filter}", back))),
        ]))
    return html.Div(className="card obs-summary", id="obs-summary", children=[
        html.H3("Filters of this observation, worst first"), html.Table(rows, className="plain-table")])


def layout(obs_id=None, filter=None, run=None, back=None, **_params) -> html.Div:  # URL parameter
    """The page of one observation (one or all of its filters).

    ``back``: the page it was opened from (overview, triage queue, ...)
    with its query string, where the breadcrumb leads."""
    store = get_store()
    if get_cache().is_empty():
        return empty_store_page()
    back_label, back_href = back_link(back)
    back = back_href if back_href != "/" else None
    text = str(obs_id or "")[:40]
    if not is_number(text):
        return not_found(f"'{text}' is not an observation id: ids are whole numbers, e.g. /observation/1001.")
    obs = int(text)
    problems = unknown_parameters(_params, ("filter", "run", "back"))
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
    results = worst_first(results)
    nav = _navigation(store, obs, filters, back)
    first = results[0]
    span = ""
    starts = [r.mjd_start for r in results if r.mjd_start is not None]
    if starts:  # over every filter shown
        ends = [r.mjd_end if r.mjd_end is not None else r.mjd_start for r in results if r.mjd_start is not None]
        span = (f"{mjd_to_datetime(min(starts)):%Y-%m-%d %H:%M} UTC · MJD {min(starts):.5f} – {max(ends):.5f}")
    pointing = ""
    if first.ra_pointing is not None and first.dec_pointing is not None:
        pointing = f" · pointing RA {first.ra_pointing:.4f}°, Dec {first.dec_pointing:.4f}°"
    return html.Div([
        html.Div([dcc.Link(back_label, href=back_href, id="obs-back"), " / observation"], className="breadcrumb"),
        html.H1(f"Observation {obs}", id="obs-title"),
        html.P(span + pointing, className="lead"),
        nav,
        html.Div([message(p, "warning") for p in problems]),
        html.Div([message(f"Processing failure ({row.kind}, last seen {fmt_time(row.last_seen)}): "
                          f"{row.path}: {row.reason}", "error")
                  for name in filters
                  for row in store.failures(obs_id=obs, filter=name).itertuples(index=False)]),
        _summary(results, back) if len(results) > 1 else None,
        dcc.Location(id=pid("goto"), refresh="callback-nav"),
    ] + [_section(store, result, run_id) for result in results])


def pair_from_click(click_data) -> str | None:
    """The pair (``"a-b"``) of a clicked pair-matrix cell (None: the diagonal or no cell)."""
    try:
        key = click_data["points"][0].get("customdata")
    except (TypeError, KeyError, IndexError, AttributeError):
        return None
    return key if isinstance(key, str) and key else None


def detector_from_click(click_data) -> int | None:
    """The detector (11..44) of a clicked focal-plane cell."""
    try:
        point = click_data["points"][0]
        custom = point.get("customdata")
        detector = int(custom[3]) if isinstance(custom, (list, tuple)) and len(custom) > 3 else \
            10 * int(point["y"]) + int(point["x"])
    except (TypeError, KeyError, IndexError, ValueError, AttributeError):
        return None
    return detector if detector in DETECTORS else None


def select_pair(click_data, current):
    """A click on a pair-matrix cell shows that pair's plots."""
    pair = pair_from_click(click_data)
    if pair is None or pair == current:
        raise PreventUpdate
    return pair


def open_detector(clicks):
    """A click on a detector of the focal plane opens its history on the detector page."""
    trigger = ctx.triggered_id
    if not trigger:
        raise PreventUpdate
    filter_name = trigger["filter"]
    click = next((item.get("value") for item in ctx.inputs_list[0] if item["id"] == trigger), None)
    detector = detector_from_click(click)
    if detector is None or filter_name not in FILTERS:
        raise PreventUpdate
    return f"/detectors?{urlencode({'filter': filter_name, 'detector': detector})}"


def update_factor_view(view, key):
    """Redraw the factor plot in the view chosen (bands, zoomed, pull)."""
    if not key or view not in FACTOR_VIEWS:
        raise PreventUpdate
    result = get_store().load_result(int(key["obs_id"]), key["filter"], run_id=key.get("run"))
    bands = get_bands()
    return exposure_factor_figure(result.exposures, warn=bands.warn, fail=bands.fail, view=view)


def update_pair(value, key):
    """Redraw the three per-pair plots for the chosen pair."""
    if not value or not key:
        raise PreventUpdate
    result = get_store().load_result(int(key["obs_id"]), key["filter"], run_id=key.get("run"))
    pair, sample = _pair(result, value)
    return pair_histogram_figure(sample, pair), dm_mag_figure(sample, pair), sky_figure(sample, pair)


@writes(Action.REVIEW)
def review(n_confirm, n_overrule, reviewer, comment, cause, scope, selected_rows, rows, key):
    """Store a review of the ticked exposures or of every flagged one, as one
    batch, against the reviews the table showed."""
    if not ctx.triggered_id or not (n_confirm or n_overrule):
        raise PreventUpdate
    decision = "confirmed" if ctx.triggered_id["type"].endswith("confirm") else "overruled"
    identity = current_identity()
    reviewer = signed_name(identity, reviewer)
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
    expected = {(result.obs_id, result.filter, d): shown[d].get("review_id") for d in exposures if d in shown}
    try:
        batch = add_reviews(keys, decision, reviewer, comment, cause=cause or "", about=about, identity=identity,
                            expected=expected)
    except (ReviewInputError, AuthError) as exc:
        return refused_message(exc), no_update
    except (KeyError, ValueError, RelphotError) as exc:
        return message(f"Not stored: {exc}", "error"), no_update
    what = "dither " + ", ".join(str(d) for d in exposures)
    records = exposure_records(exposure_frame(store, result, key.get("run")), link=False, bands=get_bands())
    name = " ".join(str(reviewer).split())
    return message(f"Stored: {decision} by {name} for {what} (review batch {batch}).", "success"), records


def register_callbacks(app: dash.Dash) -> None:
    """Attach the observation page's callbacks to an app."""
    app.callback(
        Output(pid("pair", MATCH), "value"),
        Input(pid("matrix", MATCH), "clickData"),
        State(pid("pair", MATCH), "value"),
        prevent_initial_call=True,
    )(select_pair)
    app.callback(
        Output(pid("factors", MATCH), "figure"),
        Input(pid("factor-view", MATCH), "value"),
        State(pid("key", MATCH), "data"),
        prevent_initial_call=True,
    )(update_factor_view)
    app.callback(
        Output(pid("goto"), "href"),
        Input(pid("focal", ALL), "clickData"),
        prevent_initial_call=True,
    )(open_detector)
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

