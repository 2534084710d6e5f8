"""The dashboard's pages: one module each, with ``PAGE`` (arguments of
`dash.register_page`), ``layout(**url_parameters)`` and
``register_callbacks(app)``; ids are prefixed per page so they never clash."""
from __future__ import annotations

from . import exports, not_found_404, observation, overview, reviews, triage

PAGES = (overview, observation, triage, reviews, exports, not_found_404)

__all__ = ["PAGES"]
