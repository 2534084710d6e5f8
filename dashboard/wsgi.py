"""WSGI entry point for production servers::

    RELPHOT_DB=postgresql+psycopg://user:pw@host/relphot \\
        gunicorn --workers 4 --bind 127.0.0.1:8050 dashboard.wsgi:server

The store URL comes from ``$RELPHOT_DB`` (default: ``relphot.db`` in the
working directory); ``$RELPHOT_CONFIG`` names an optional TOML
configuration (bands and control-chart rules, and ``[auth]``); the
authentication mode and its settings come from its ``[auth]`` section and
``$RELPHOT_AUTH``, ``$RELPHOT_AUTH_*``, ``$RELPHOT_SECRET_KEY``
(`relphot_core.identity.AuthSettings.load`). gunicorn's bind address is
not known here: mode none (the default) must be bound to loopback.

The workers share the per-filter tables through snapshots
(`relphot_core.snapshot`) in ``$RELPHOT_SNAPSHOT_DIR`` (default: beside a
SQLite file, ``relphot.db.snapshots``; for PostgreSQL in
``~/.cache/relphot/snapshots/``; ``off``: every worker builds its own).
"""
from __future__ import annotations

import logging
import os

from relphot_core.config import JUDGED_PARAMETERS, judged_mismatches, judged_refusal, load_config
from relphot_core.errors import ConfigError
from relphot_core.identity import AuthMode, AuthSettings
from relphot_core.snapshot import SnapshotStore, snapshot_dir
from relphot_core.store import Store

from .app import create_app

# what the dashboard logs (failed background reloads, ...) goes to gunicorn's error log
_gunicorn = logging.getLogger("gunicorn.error")
if _gunicorn.handlers:
    for _name in ("dashboard", "relphot_core"):
        logging.getLogger(_name).handlers = _gunicorn.handlers
        logging.getLogger(_name).setLevel(_gunicorn.level)

_url = os.environ.get("RELPHOT_DB") or None
store = Store.open(_url)
config = load_config(os.environ.get("RELPHOT_CONFIG") or None).validate()
for _key, _value, _stored in judged_mismatches(config, store.current_parameter_values(JUDGED_PARAMETERS))[:1]:
    # as relphot serve: bands at other limits than the stored statuses' would contradict them
    raise ConfigError(f"{_key} = {_value} ({os.environ.get('RELPHOT_CONFIG') or 'the default'})",
                      judged_refusal(_key, _stored))
auth_settings = AuthSettings.load(os.environ.get("RELPHOT_CONFIG") or None)
if auth_settings.mode is AuthMode.NONE:
    logging.getLogger("dashboard").warning("auth mode none: nobody signs in and anyone reaching this server may "
                                           "review; bind it to loopback or set RELPHOT_AUTH=proxy or accounts")
_snapshots = snapshot_dir(store.url)
app = create_app(store, db_label=store.url, config=config, auth_settings=auth_settings,
                 snapshots=None if _snapshots is None else SnapshotStore(_snapshots))
server = app.server
"""The Flask application (WSGI callable)."""
