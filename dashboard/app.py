"""The Dash application factory.

>>> from relphot_core.store import Store
>>> from dashboard import create_app
>>> app = create_app(Store.open("sqlite:///relphot.db"))   # doctest: +SKIP
>>> app.run(port=8050)                                     # doctest: +SKIP

Pages live in `dashboard.pages` (one module per page: its ``layout`` and a
``register_callbacks(app)``), registered here with `dash.register_page` so
that several apps (tests) can be built in one process. The store is put in
the Flask config; pages and routes reach it through `dashboard.data`.
"""
from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Any

import dash
from dash import dcc, html

from relphot_core.config import FILTERS, Config, Thresholds
from relphot_core.identity import AuthMode, AuthSettings
from relphot_core.snapshot import SnapshotStore

from . import api, auth
from .data import CACHE_KEY, DB_LABEL_KEY, MAX_POINTS_KEY, STORE_KEY, THRESHOLDS_KEY, DataCache
from .detector_cache import DETECTOR_CACHE_KEY, DetectorCache
from .survey_data import context_season
from .pages import PAGES, compare, detectors, news, observations, overview, sky

ASSETS_DIR = Path(__file__).resolve().parent / "assets"
"""The CSS; a symlink to the repository's top-level ``assets/`` (copied into wheels)."""

PLOTLY_CARTESIAN = "vendor/plotly-cartesian-4.1.1.min.js"
"""plotly.js's official cartesian partial bundle (see assets/vendor/README.md)."""

REGENERATOR_RUNTIME = "vendor/regenerator-runtime-0.13.11.js"
"""regenerator-runtime, the one part of @babel/polyfill the Dash bundles use
(see `RelphotDash`)."""

_POLYFILL_TAG = re.compile(r'<script src="[^"]*/polyfill@[^"]*"></script>')

MAX_REQUEST_BYTES = 16 * 1024 * 1024
"""Largest request body accepted (HTTP 413 beyond). The largest real one is
the triage queue's select-all callback, which posts the table three times
(data, virtual and viewport data): 5.0 MB for 5,000 rows of a simulated
survey, measured; 16 MB leaves room for about 15,000 rows."""

SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    # Dash needs inline scripts: only framing is restricted by the CSP.
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

NAV = [("Overview", "/"), ("What's new", "/news"), ("Problems", "/triage"), ("Detectors", "/detectors"),
       ("Reviews", "/reviews"), ("Exports", "/exports"), ("Observations", "/observations"), ("Sky map", "/sky"),
       ("Compare runs", "/compare")]

ALL_PAGES = (*PAGES[:-1], news, detectors, compare, observations, sky, PAGES[-1])
"""`dashboard.pages.PAGES` with the news, detector and survey pages (the 404 page last)."""


def _who() -> html.Span:
    """Who is signed in (and the sign-out button), or that nobody is."""
    identity = auth.current_identity()
    if identity.mode is AuthMode.NONE:
        return html.Span("not signed in", className="nav-user", id="nav-user",
                         title="this dashboard runs without authentication (auth mode none): reviews are marked "
                               "unauthenticated")
    if not identity.authenticated:
        return html.Span("not signed in", className="nav-user", id="nav-user")
    children: list = [html.Span([html.Span(identity.name, id="nav-user-name"), f" · {identity.role.value}"])]
    if identity.mode is AuthMode.ACCOUNTS:
        children.append(html.Form(html.Button("Sign out", type="submit", className="btn btn-small nav-signout",
                                              id="nav-signout"), action="/logout", method="post",
                                  className="nav-signout-form"))
    return html.Span(children, className="nav-user", id="nav-user", title=f"signed in ({identity.mode.value})")


def _navbar(db_label: str) -> html.Header:
    return html.Header(className="navbar", children=[
        html.A([html.Span("relphot", className="brand-name"), html.Span(" QC", className="brand-qc")],
               href="/", className="brand"),
        html.Nav([dcc.Link(label, href=href, className="nav-link",
                           id=f"nav-{label.split()[0].lower().replace(chr(39), '')}")
                  for label, href in NAV], className="nav-links"),
        html.Span(["store: ", html.Code(db_label)], className="nav-db", title="the database this dashboard reads"),
        _who(),
    ])


def _problems_label(_pathname: str | None) -> str:
    """The menu's "Problems" with the number awaiting review, read on each page change."""
    from .data import get_store

    try:
        n = get_store().problem_summary(awaiting=True)["problems"]
    except Exception:  # noqa: BLE001 - the menu never breaks a page
        return "Problems"
    return f"Problems ({n:,})" if n else "Problems"


class RelphotDash(dash.Dash):
    """Dash without @babel/polyfill 7 in its index page.

    The polyfill (core-js 2, for browsers of 2015) costs ~0.17 s of the
    first visit's main thread, and its feature test, stale since Unicode
    6.3, replaces the browser's ``parseInt``, ``parseFloat`` and
    ``String.prototype.trim`` by regular-expression versions that plotly.js
    then calls for every colour it parses (~50 ms per redraw). The Dash
    bundles use only its regenerator runtime (``regeneratorRuntime``, for
    their compiled async functions): that is loaded in its place.
    """

    def interpolate_index(self, **kwargs: Any) -> str:  # type: ignore[override]  # forwards Dash's keywords
        runtime = f'<script src="{self.get_asset_url(REGENERATOR_RUNTIME)}"></script>'
        kwargs["scripts"] = _POLYFILL_TAG.sub(lambda _: runtime, kwargs.get("scripts", ""), count=1)
        return super().interpolate_index(**kwargs)


def create_app(store, *, config: Config | None = None, thresholds: Thresholds | None = None,
               db_label: str | None = None,
               cache_ttl: float = 1.0, warm: bool = True, max_points: int | None = 3000,
               full_plotly: bool = False, auth_settings: AuthSettings | None = None,
               snapshots: SnapshotStore | None = None) -> dash.Dash:
    """Build the dashboard on a store.

    Parameters
    ----------
    store : relphot_core.store.Store
        Everything the dashboard shows or writes goes through it.
    config : relphot_core.config.Config, optional
        The thresholds (bands) and control-chart rules the pages use
        (default: ``Config()``).
    thresholds : relphot_core.config.Thresholds, optional
        WARN / FAIL bands (default: ``config.thresholds``).
    db_label : str, optional
        The store URL as shown to users in commands (mask passwords).
    cache_ttl : float
        Seconds the per-filter tables are used before the store's data
        version is asked again (one small query; see `dashboard.data`): a
        write made elsewhere shows within about this. 0 disables the cache.
    warm : bool
        Fill that cache in a background thread right away.
    max_points : int or None
        Per filter, OK exposures beyond this many are drawn binned (median
        and envelope) rather than one by one; flagged ones always are
        drawn. None never bins (the benchmark's baseline).
    full_plotly : bool
        Load the full plotly.js (4.8 MB, WebGL traces included) instead of
        the cartesian partial bundle (1.5 MB: scatter, bar, heatmap,
        histogram), which is all the pages draw. Implied when ``max_points``
        is None or beyond what SVG draws well (the figures then use WebGL).
    auth_settings : relphot_core.identity.AuthSettings, optional
        Who may do what (`dashboard.auth`); default: mode none, everyone a
        lead, reviews marked unauthenticated (the demo).
    snapshots : relphot_core.snapshot.SnapshotStore, optional
        Share the per-filter tables with the other processes serving the
        store through snapshots there (`dashboard.data`; several gunicorn
        workers: `dashboard.wsgi` gives one). None: this process builds its
        own tables.

    Returns
    -------
    dash.Dash
        ``app.server`` is the Flask (WSGI) application, with the JSON API
        and the download routes.
    """
    from .figures.trends import SVG_LIMIT

    full_plotly = full_plotly or max_points is None or max_points > SVG_LIMIT
    app = RelphotDash(
        __name__,
        # loaded below and by RelphotDash, each in its place
        assets_ignore=r"^(plotly-.*\.min|regenerator-runtime-.*)\.js$",
        use_pages=True,
        pages_folder="",
        assets_folder=str(ASSETS_DIR),
        title="relphot QC",
        update_title=None,  # type: ignore[arg-type]  # documented: None keeps the tab's title while updating
        suppress_callback_exceptions=True,
    )
    if not full_plotly:
        # External scripts load before the Dash components: dcc.Graph then
        # takes this window.Plotly instead of fetching the full bundle. The
        # URL keeps any path prefix the app is served under.
        app.config.external_scripts.append(app.get_asset_url(PLOTLY_CARTESIAN))
    config = config or Config()
    cache = DataCache(store, ttl=cache_ttl, control=config.control, thresholds=thresholds or config.thresholds,
                      snapshots=snapshots)
    detector_cache = DetectorCache(store, ttl=cache_ttl, control=config.control, thresholds=config.detectors,
                                   snapshots=snapshots)
    app.server.config.update({
        STORE_KEY: store,
        CACHE_KEY: cache,
        DETECTOR_CACHE_KEY: detector_cache,
        THRESHOLDS_KEY: thresholds or config.thresholds,
        DB_LABEL_KEY: db_label or "relphot.db",
        MAX_POINTS_KEY: max_points,
    })
    for module in ALL_PAGES:
        dash.register_page(module.__name__, layout=module.layout, **module.PAGE)
        module.register_callbacks(app)
    def page_frame() -> html.Div:  # per page load: the navbar says who is signed in
        return html.Div([
            _navbar(db_label or "relphot.db"),
            html.Main(dash.page_container, className="container"),
            html.Footer("relphot — relative photometric calibration QC of Euclid NISP exposures · "
                        "status colours: OK green, WARN amber, FAIL vermillion, NODATA grey",
                        className="footer"),
        ])

    app.layout = page_frame
    app.callback(dash.Output("nav-problems", "children"), dash.Input("_pages_location", "pathname"))(_problems_label)
    api.register(app.server)
    auth.install(app.server, auth_settings or AuthSettings())
    news.install_visits(app.server)
    _harden(app)
    api.register_status_codes(app.server, {module.PAGE["path"] for module in ALL_PAGES if "path" in module.PAGE}
                              - {"/404"} | {"/login"})
    if warm and cache_ttl > 0:
        # workers starting together begin with different filters: with
        # shared snapshots, each builds a different one meanwhile
        first = os.getpid() % len(FILTERS)
        order = FILTERS[first:] + FILTERS[:first]

        def draw_default_view() -> None:
            try:
                with app.server.app_context():
                    overview.prewarm()
                    sky.prewarm()  # the observation list too
                    for name in order:  # the observation page's context of the factors
                        context_season(name)
            finally:  # before the cache reports warm: ~6 s per filter at survey size
                detector_cache.warm(order)

        threading.Thread(target=cache.warm, args=(order, draw_default_view), daemon=True).start()
    else:
        cache.warmed.set()
    return app


def _valid_callback_body(app: dash.Dash, body) -> bool:
    """Whether a ``/_dash-update-component`` body has the shape Dash reads."""
    if not isinstance(body, dict) or not isinstance(body.get("output"), str):
        return False
    if "callback" not in app.callback_map.get(body["output"], {}):  # unknown, or run in the browser
        return False
    for key in ("inputs", "state", "changedPropIds"):
        if not isinstance(body.get(key, []), list):
            return False
    items = [*body.get("inputs", []), *body.get("state", [])]
    flat = [x for item in items for x in (item if isinstance(item, list) else [item])]
    return all(isinstance(x, dict) and "id" in x and isinstance(x.get("property"), str) for x in flat)


def _harden(app: dash.Dash) -> None:
    """Limits, status codes and headers of the web server: a request body
    over `MAX_REQUEST_BYTES` is 413, a callback request Dash cannot read (bad
    JSON, nested too deep, wrong shape, unknown output) is 400, a write
    callback the request's identity may not run 401 or 403
    (`dashboard.auth.check_callback`), and an unknown component-suite file
    404, instead of Dash's 500; every response carries `SECURITY_HEADERS`."""
    from flask import abort, request
    from werkzeug.exceptions import HTTPException

    server = app.server
    server.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES

    def wrap(suffix: str, guard) -> None:
        for rule in server.url_map.iter_rules():
            if rule.rule.endswith(suffix):
                server.view_functions[rule.endpoint] = guard(server.view_functions[rule.endpoint])

    def callbacks(view):
        def checked(*args, **kwargs):
            try:
                body = request.get_json(force=True)  # cached: Dash reads this parse
            except RecursionError:
                abort(400, "callback request nested too deep")
            if not _valid_callback_body(app, body):
                abort(400, "not a callback request of this dashboard")
            auth.check_callback(app, body["output"])  # a write the identity may not do: 401/403
            return view(*args, **kwargs)
        return checked

    def suites(view):
        def checked(*args, **kwargs):
            try:
                return view(*args, **kwargs)
            except HTTPException:
                raise
            except Exception:  # noqa: BLE001 - Dash raises several types for a file it does not serve
                abort(404)
        return checked

    wrap("/_dash-update-component", callbacks)
    wrap("/_dash-component-suites/<string:package_name>/<path:fingerprinted_path>", suites)

    @server.after_request
    def security_headers(response):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response
