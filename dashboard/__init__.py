"""The relphot QC dashboard (Dash + Plotly).

It reads and writes only through `relphot_core.store.Store`: no SQL, no
science here. `create_app(store)` builds the app; `dashboard.wsgi:server`
is the WSGI entry for gunicorn (store URL in ``$RELPHOT_DB``).
"""
from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
