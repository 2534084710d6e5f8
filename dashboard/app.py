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

import re
import threading
from pathlib import Path

import dash
from dash import dcc, html

from relphot_core.config import FILTERS, Config, Thresholds

from . import api
from .data import CACHE_KEY, DB_LABEL_KEY, MAX_POINTS_KEY, STORE_KEY, THRESHOLDS_KEY, DataCache
from .pages import PAGES, overview

ASSETS_DIR = Path(__file__).resolve().parent / "assets"
"""The CSS; a symlink to the repository's top-level ``assets/`` (copied into wheels)."""

PLOTLY_CARTESIAN = "vendor/plotly-cartesian-4.1.1.min.js"
"""plotly.js's official cartesian partial bundle (see assets/vendor/README.md)."""

REGENERATOR_RUNTIME = "vendor/regenerator-runtime-0.13.11.js"
"""regenerator-runtime, the one part of @babel/polyfill the Dash bundles use
(see `RelphotDash`)."""

_POLYFILL_TAG = re.compile(r'<script src="[^"]*/polyfill@[^"]*"></script>')

NAV = [("Overview", "/"), ("Triage queue", "/triage"), ("Reviews", "/reviews"), ("Exports", "/exports")]


def _navbar(db_label: str) -> html.Header:
    return html.Header(className="navbar", children=[
        html.A([html.Span("relphot", className="brand-name"), html.Span(" QC", className="brand-qc")],
               href="/", className="brand"),
        html.Nav([dcc.Link(label, href=href, className="nav-link", id=f"nav-{label.split()[0].lower()}")
                  for label, href in NAV], className="nav-links"),
        html.Span(["store: ", html.Code(db_label)], className="nav-db", title="the database this dashboard reads"),
    ])


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

    def interpolate_index(self, **kwargs) -> str:
        runtime = f'<script src="{self.get_asset_url(REGENERATOR_RUNTIME)}"></script>'
        kwargs["scripts"] = _POLYFILL_TAG.sub(lambda _: runtime, kwargs.get("scripts", ""), count=1)
        return super().interpolate_index(**kwargs)


def create_app(store, *, config: Config | None = None, thresholds: Thresholds | None = None,
               db_label: str | None = None,
               cache_ttl: float = 20.0, warm: bool = True, max_points: int | None = 3000,
               full_plotly: bool = False) -> dash.Dash:
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
        Seconds the per-filter tables are cached (see `dashboard.data`);
        0 disables the cache.
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
        update_title=None,
        suppress_callback_exceptions=True,
    )
    if not full_plotly:
        # External scripts load before the Dash components: dcc.Graph then
        # takes this window.Plotly instead of fetching the full bundle. The
        # URL keeps any path prefix the app is served under.
        app.config.external_scripts.append(app.get_asset_url(PLOTLY_CARTESIAN))
    config = config or Config()
    cache = DataCache(store, ttl=cache_ttl, control=config.control)
    app.server.config.update({
        STORE_KEY: store,
        CACHE_KEY: cache,
        THRESHOLDS_KEY: thresholds or config.thresholds,
        DB_LABEL_KEY: db_label or "relphot.db",
        MAX_POINTS_KEY: max_points,
    })
    for module in PAGES:
        dash.register_page(module.__name__, layout=module.layout, **module.PAGE)
        module.register_callbacks(app)
    app.layout = html.Div([
        _navbar(db_label or "relphot.db"),
        html.Main(dash.page_container, className="container"),
        html.Footer("relphot — relative photometric calibration QC of Euclid NISP exposures · "
                    "status colours: OK green, WARN amber, FAIL vermillion, NODATA grey",
                    className="footer"),
    ])
    api.register(app.server)
    api.register_status_codes(app.server, {module.PAGE["path"] for module in PAGES if "path" in module.PAGE}
                              - {"/404"})
    if warm and cache_ttl > 0:
        def draw_default_view() -> None:
            with app.server.app_context():
                overview.prewarm()

        threading.Thread(target=cache.warm, args=(FILTERS, draw_default_view), daemon=True).start()
    else:
        cache.warmed.set()
    return app
