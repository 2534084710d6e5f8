"""What's new: the morning's page of a calibration team (a page per night,
as DESI's Nightwatch has).

What the store gained since a moment (`relphot_core.news.News`, read by
`relphot_core.store.Store.news`): the batches that ran, the problems they
opened, grew or regressed, the new FAIL exposures, the sets that could not
be processed and the coverage of the new sets. The moment is chosen in the
URL (``?since=batch``, the default: the start of the last batch;
``day``: 24 hours ago; ``visit``: the signed-in user's previous visit; or
an ISO time), by links, so every view can be shared.

`news_strip` is the overview's line of the same news. `install_visits`
notes each signed-in user's page loads (`Store.record_visit`): what "your
last visit" means.
"""
from __future__ import annotations

from typing import Any

import pandas as pd
from dash import dcc, html
from dash.development.base_component import Component
from flask import Flask, g, request

from relphot_core.news import SINCE_CHOICES, News
from relphot_core.wording import plural
from relphot_core.qc.problems import size_text

from ..auth import current_identity
from ..components import message
from ..data import get_cache, get_store
from ..query import unknown_parameters

PAGE = dict(path="/news", name="What's new", title="relphot QC — what's new", order=1)

MAX_ROWS = 50
"""Rows shown per list; the rest are counted (the problem queue and the
observation list hold them all)."""

EVENT_TEXT = {"opened": "new", "grew": "grew", "regressed": "regressed"}
EVENT_CLASS = {"opened": "status-FAIL", "grew": "status-WARN", "regressed": "status-regressed"}

SKIPPED_PREFIXES = ("/_dash", "/_reload", "/_favicon", "/assets", "/api/", "/download/", "/metrics", "/login",
                    "/logout")
"""Requests that are not a person opening a page (not a visit)."""


def pid(name: str) -> str:
    """Page-local component id."""
    return f"news-{name}"


def user_name() -> str | None:
    """The signed-in user whose visits count (None: nobody is signed in)."""
    identity = current_identity()
    return identity.name if identity.authenticated and identity.name else None


def read_news(since: str | None, *, filters: list[str] | None = None) -> tuple[News, list[str]]:
    """The news since ``since`` for this request's user, and messages about
    the choice (an unknown one falls back to the last batch)."""
    store = get_store()
    notes: list[str] = []
    choice = since or "batch"
    if choice == "visit" and user_name() is None:
        notes.append("Nobody is signed in: showing what is new since the last batch instead of your last visit.")
        choice = "batch"
    try:
        return store.news(choice, user=user_name(), filters=filters), notes
    except ValueError as exc:
        notes.append(f"{exc}: showing what is new since the last batch.")
        return store.news("batch", filters=filters), notes


def since_links(current: str, *, base: str = "/news", id_prefix: str = "news-since") -> html.Div:
    """The moments to choose from, as links (``visit`` only for a signed-in user)."""
    keys = [k for k in SINCE_CHOICES if k != "visit" or user_name() is not None]
    return html.Div([html.Span("Since:", className="since-label"), *[
        dcc.Link(SINCE_CHOICES[key], href=f"{base}{'&' if '?' in base else '?'}since={key}",
                 id=f"{id_prefix}-{key}",
                 className="pill" + (" pill-active" if key == current else "")) for key in keys]],
        className="pills since-links")


def overview_strip() -> html.Div:
    """`news_strip` of the store's last batch; a store without a logged
    batch (filled before batches were logged, or by imports) says so
    instead of counting everything it holds as new."""
    store = get_store()
    last = store.batches(limit=1)
    if last.empty:
        return html.Div(className="news-strip card", id="news-strip", children=[html.Span(
            "No batch is logged in this store yet (relphot compute --db logs each one): ", id="news-strip-text"),
            dcc.Link("everything it holds →", href="/news?since=batch", id="news-strip-link")])
    # every overview load shows it: read once per data version and state of the last batch
    # (its end is when its problems and failures are in), not per page (~150 ms at survey size)
    key = ("news-strip", store.data_version(), int(last["id"].iloc[0]), str(last["finished"].iloc[0]))
    return news_strip(get_cache().memo(key, lambda: store.news("batch")))


def news_strip(news: News) -> html.Div:
    """The overview's line: what is new since the last batch, with links to
    the page and to the queue's "new" view."""
    links: list[Any] = [dcc.Link("What's new →", href=f"/news?since={news.since.key}", id="news-strip-link")]
    if not news.problems.empty:
        links = [dcc.Link("its problems in the queue", href="/triage?view=new"), " · ", *links]
    others = [key for key in SINCE_CHOICES if key != news.since.key and (key != "visit" or user_name())]
    links += [" (since ", *[part for i, key in enumerate(others) for part in
                            ([" · "] if i else []) + [dcc.Link(SINCE_CHOICES[key], href=f"/news?since={key}")]], ")"]
    return html.Div(className="news-strip card", id="news-strip", children=[
        html.Span(news.summary(), id="news-strip-text"), " ", *links])


def _batches(frame: pd.DataFrame) -> Component:
    if frame.empty:
        return html.P("No batch ran.", className="muted")
    rows = []
    for b in frame.head(MAX_ROWS).itertuples(index=False):
        finished = "still running, or died" if pd.isna(b.finished) else f"{b.seconds:,.1f} s"
        problems = b.problems or {}
        rows.append(html.Tr([
            html.Td(f"{b.started:%Y-%m-%d %H:%M:%S}"), html.Td(b.command), html.Td(finished),
            html.Td(f"{b.sets_computed:,}"), html.Td(f"{b.new_runs:,}"), html.Td(f"{b.failures:,}"),
            html.Td(", ".join(f"{n:,} {s}" for s, n in (b.statuses or {}).items()) or "—"),
            html.Td(f"{problems.get('opened', 0)} new, {problems.get('grew', 0)} grew, "
                    f"{problems.get('regressed', 0)} regressed" if problems else "—"),
            html.Td("—" if pd.isna(b.exit_status) else str(int(b.exit_status))),
        ]))
    head = html.Tr([html.Th(t) for t in ("started (UTC)", "command", "took", "sets computed", "new runs",
                                         "failures", "exposures", "problems", "exit")])
    return html.Div(html.Table([html.Thead(head), html.Tbody(rows)], className="table table-compact"),
                    className="table-scroll")


def _problems(frame: pd.DataFrame) -> Component:
    if frame.empty:
        return html.P("No problem opened, grew or regressed.", className="muted", id=pid("no-problems"))
    items = []
    for p in frame.head(MAX_ROWS).itertuples(index=False):
        size = (size_text(p.kind, p.unit, p.size, p.size_error, p.slope if p.slope is not None else float("nan"))
                if p.size is not None and not pd.isna(p.size) else "")
        items.append(html.Li([
            html.Span(EVENT_TEXT[p.event], className=f"badge {EVENT_CLASS[p.event]}"), " ",
            dcc.Link(f"{p.title} ({p.filter})" if p.filter else p.title,
                     href=f"/triage?view=open&problem={p.problem_id}"),
            f": {size}" if size else (f": {p.worst_status}" if p.worst_status else ""),
            f" · {plural(int(p.n_exposures), 'exposure')} · {p.state}" + ("" if p.current else " · gone"),
        ], className="news-problem"))
    return html.Div([html.Ul(items, id=pid("problems"), className="news-list"), _more(frame)])


def _new_fails(frame: pd.DataFrame) -> Component:
    if frame.empty:
        return html.P("No new FAIL exposure.", className="muted")
    items = [html.Li([dcc.Link(f"obs {r.obs_id} {r.filter} dither {r.exposure}",
                               href=f"/observation/{r.obs_id}?filter={r.filter}"),
                      f": QPRELEX {r.value:.4f} ± {r.error:.4f}" if not pd.isna(r.value) else "", " — ", r.reason])
             for r in frame.head(MAX_ROWS).itertuples(index=False)]
    return html.Div([html.Ul(items, id=pid("fails"), className="news-list"), _more(frame)])


def _failures(frame: pd.DataFrame) -> Component:
    if frame.empty:
        return html.P("Every set was processed.", className="muted")
    items = [html.Li([html.Strong(r.kind), f" · obs {r.obs_id} {r.filter}" if not pd.isna(r.obs_id) else "",
                      f" · {r.path}: {r.reason}"]) for r in frame.head(MAX_ROWS).itertuples(index=False)]
    return html.Div([html.Ul(items, id=pid("failures"), className="news-list"), _more(frame)])


def _coverage(missing: pd.DataFrame, lone: pd.DataFrame) -> Component:
    if missing.empty and lone.empty:
        return html.P("Every new set has its 4 dithers.", className="muted")
    items = [html.Li([dcc.Link(f"obs {r.obs_id} {r.filter}", href=f"/observation/{r.obs_id}?filter={r.filter}"),
                      f": {plural(int(r.n_exposures), 'exposure')}"])
             for r in missing.head(MAX_ROWS).itertuples(index=False)]
    items += [html.Li([f"obs {r.obs_id} {r.filter}" if not pd.isna(r.obs_id) else "", f" · lone exposure {r.path}"])
              for r in lone.head(MAX_ROWS).itertuples(index=False)]
    return html.Div([html.P(f"{plural(len(missing), 'set')} with a missing dither, "
                            f"{plural(len(lone), 'lone exposure')} (a set of one: no factor)."),
                     html.Ul(items, id=pid("coverage"), className="news-list"), _more(missing), _more(lone)])


def _more(frame: pd.DataFrame) -> html.Span | str:
    return html.Span(f"… and {len(frame) - MAX_ROWS:,} more.", className="muted") if len(frame) > MAX_ROWS else ""


def alert_failures(frame: pd.DataFrame) -> html.Div | None:
    """The card of the alerts not delivered (`Store.alert_deliveries`), or
    None when every one was."""
    if frame.empty:
        return None
    items = [html.Li([html.Strong(d.target), f": {d.title or 'digest ' + str(d.digest_id)} — ",
                      "given up" if d.outcome == "given_up" else "retried by the next run",
                      f" after {plural(int(d.attempts), 'attempt')}" + (f" ({d.last_error})" if d.last_error else "")])
             for d in frame.itertuples(index=False)]
    return html.Div(className="card", id=pid("alert-failures"), children=[
        html.H3(f"Alerts not delivered ({len(frame)})"), html.Ul(items, className="news-list")])


def news_view(news: News) -> list[Any]:
    """The page's cards for ``news`` (a plain function: tests call it)."""
    counts = news.counts
    return [
        html.P(news.summary(), className="lead", id=pid("summary")),
        html.Div(className="card", children=[html.H3(f"Problems ({counts['new_problems']} new, "
                                                    f"{counts['grown_problems']} grew, "
                                                    f"{counts['regressed_problems']} regressed)"),
                                            _problems(news.problems)]),
        html.Div(className="card", children=[html.H3(f"New FAIL exposures ({counts['new_fails']})"),
                                            _new_fails(news.new_fails)]),
        html.Div(className="card", children=[html.H3(f"Sets that could not be processed ({counts['failures']})"),
                                            _failures(news.failures)]),
        html.Div(className="card", children=[html.H3(f"Coverage of the {plural(counts['sets'], 'new set')}"),
                                            _coverage(news.missing_dither, news.lone)]),
        html.Div(className="card", children=[html.H3(f"Batches ({counts['batches']})"), _batches(news.batches)]),
    ]


def layout(since: str | None = None, **_params: Any) -> html.Div:
    """What is new since the moment the URL names."""
    news, notes = read_news(since)
    return html.Div([
        html.H1("What's new"),
        html.P("What the store gained since a moment, by processing time: the batches that ran, the problems "
               "they opened, grew or regressed, the exposures that came out FAIL, the sets that could not be "
               "processed, and the new sets that miss a dither.", className="muted"),
        since_links(news.since.key),
        *[message(note, "warning") for note in [*unknown_parameters(_params, ("since",)), *notes]],
        alert_failures(get_store().alert_deliveries(failed_only=True, since=news.since.at, limit=MAX_ROWS)),
        html.Div(news_view(news), id=pid("body")),
    ])


def register_callbacks(app: Any) -> None:
    """No callbacks: the moments are links."""


def install_visits(server: Flask) -> None:
    """Note the page loads of signed-in users (`Store.record_visit`), after
    the identity is known (`dashboard.auth.install` runs first)."""

    def note_visit() -> None:
        if request.method != "GET" or request.path.startswith(SKIPPED_PREFIXES):
            return
        name = user_name()
        if name is not None and "relphot_visit" not in g:
            g.relphot_visit = get_store().record_visit(name)

    server.before_request(note_visit)
