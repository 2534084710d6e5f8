"""The page of an unknown address."""
from __future__ import annotations

import dash
from dash import dcc, html

PAGE = dict(path="/404", name="Not found", title="relphot QC — not found", order=99)


def layout(**_params) -> html.Div:
    """A friendly 404."""
    return html.Div(className="empty-page", id="page-not-found", children=[
        html.H2("Page not found"),
        html.P("There is no page at this address."),
        html.P([dcc.Link("Go to the overview", href="/")]),
    ])


def register_callbacks(app: dash.Dash) -> None:
    """No callbacks."""
