"""``relphot serve`` (the dashboard on a store) and ``relphot demo``
(simulate a season, compute it, store it and serve it).

The dashboard package is imported only when one of these commands runs:
relphot_core itself never imports Dash.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import sys
from pathlib import Path

from ..errors import ConfigError
from ..identity import AuthMode, AuthSettings, is_loopback
from .common import SERVE_SECTIONS, add_config_options, config_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``serve`` and ``demo`` sub-commands."""
    p = subparsers.add_parser(
        "serve", help="serve the QC dashboard on a store",
        description="Serve the QC dashboard (Dash) on a store. Binds to loopback by default; debug is off. "
                    "For production use gunicorn: gunicorn -w 4 -b 127.0.0.1:8050 dashboard.wsgi:server "
                    "(store URL in $RELPHOT_DB).")
    p.add_argument("--db", metavar="URL", help="database URL or SQLite file (default $RELPHOT_DB or relphot.db)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8050, help="port (default 8050)")
    p.add_argument("--auth", choices=[mode.value for mode in AuthMode],
                   help="who may do what: none (nobody signs in; reviews marked unauthenticated; loopback only), "
                        "proxy (the user from an authenticating proxy's header), accounts (users of "
                        "relphot users sign in); default $RELPHOT_AUTH, else [auth] mode of --config, else none")
    p.add_argument("--allow-remote-none", action="store_true",
                   help="with auth none, serve on a non-loopback --host anyway (anyone reaching it may review)")
    add_config_options(p, SERVE_SECTIONS,
                       config_help="configuration file: the status bands ([thresholds], [detectors]; they must "
                                   "be those the stored statuses were computed with) and the control-chart "
                                   "rules ([control]) the dashboard shows")
    p.set_defaults(func=run_serve)

    p = subparsers.add_parser(
        "demo", help="simulate a season, compute it, store it and serve the dashboard",
        description="Simulate a season of NISP observations (with injected bad exposures, a bad detector and a "
                    "slow drift), compute the relative factors, store them in DIR/relphot.db and serve the "
                    "dashboard on it.")
    p.add_argument("--dir", type=Path, default=Path("relphot-demo"), help="working directory (default relphot-demo)")
    p.add_argument("--observations", type=int, default=100, help="observations per filter (default 100)")
    p.add_argument("--sources-per-detector", type=int, default=150,
                   help="simulated sources per detector (default 150: fast)")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8050)
    p.add_argument("--no-serve", action="store_true", help="stop after filling the store")
    p.add_argument("--fresh", action="store_true",
                   help="rebuild DIR/relphot.db when it exists (its reviews are lost); without it an existing "
                        "demo store is refused, not overwritten (reopen it with relphot serve --db DIR/relphot.db)")
    p.set_defaults(func=run_demo)


def _check_port(port: int) -> None:
    if not 1 <= port <= 65535:
        raise ConfigError("--port", f"{port} is not a TCP port (1-65535)")


def _check_host(host: str, port: int) -> None:
    """Refuse a host that does not resolve, naming it (the server's own
    error, "Name or service not known", does not)."""
    import socket

    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError):
        raise ConfigError(host, "not a valid host name or address") from None


def _check_free(host: str, port: int) -> None:
    """Refuse, before any work, an address another server holds (one line
    naming it and ``--port``)."""
    import socket

    _check_host(host, port)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"{host}:{port}", f"cannot listen ({exc.strerror or exc}); is another server "
                                                "running there? choose another port with --port") from None


DASHBOARD_MODULES: tuple[str, ...] = ("dash", "dash_ag_grid", "plotly")
"""What the dashboard needs beyond the core: the ``[dashboard]`` extra."""


def require_dashboard() -> None:
    """Refuse, in one line and before any work, to serve without the
    ``[dashboard]`` extra (the core installs without Dash and Plotly)."""
    missing = [name for name in DASHBOARD_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(None, f"the dashboard needs {', '.join(missing)}, not installed: install the "
                                "[dashboard] extra, e.g. pip install '.[dashboard]' in relphot's directory")


def check_auth(settings: AuthSettings, host: str) -> None:
    """Refuse settings that cannot serve, and mode none on an address other
    machines reach unless explicitly allowed (anyone there could review
    under any name)."""
    problem = settings.problem()
    if problem:
        raise ConfigError("auth", problem)
    if settings.mode is AuthMode.NONE and not is_loopback(host) and not settings.allow_remote_none:
        raise ConfigError(host, "auth mode none serves only on loopback (anyone reaching the dashboard could "
                                "review under any name): use --auth proxy or --auth accounts, or "
                                "--allow-remote-none to serve it anyway")


def check_judged(config, store, args: argparse.Namespace) -> None:
    """Refuse status or detector thresholds (``--warn``, ``--fail``,
    ``--warn-nsigma``, ``--detector-*``, or the same in ``--config``)
    other than those the store's current statuses were judged with
    (`relphot_core.config.judged_mismatches`): the dashboard shows the
    stored statuses and counts, and cannot judge them again, so bands
    painted at other limits would contradict them. One line naming the
    option (or the file) and the stored value."""
    from ..config import JUDGED_PARAMETERS, judged_mismatches, judged_refusal, parameter_docs
    from .common import COMMAND_LINE, _dest

    mismatches = judged_mismatches(config, store.current_parameter_values(JUDGED_PARAMETERS))
    if not mismatches:
        return
    key, value, stored = mismatches[0]
    doc = next(d for d in parameter_docs() if d.key == key)
    if getattr(args, _dest(doc), None) is not None:
        where = f"{doc.option} {value} ({COMMAND_LINE})"
    elif getattr(args, "config", None) is not None:
        where = f"{key} = {value} ({args.config})"
    else:
        where = f"{key} = {value} (the default)"
    raise ConfigError(where, judged_refusal(key, stored))


def serve(store, *, host: str = "127.0.0.1", port: int = 8050, config=None,
          auth_settings: AuthSettings | None = None) -> None:
    """Run the dashboard with the built-in (threaded) server, debug off
    (``config``: the `relphot_core.config.Config` of its bands and rules;
    ``auth_settings``: who may do what, default mode none on loopback).
    The address is printed once the server listens."""
    auth_settings = auth_settings or AuthSettings()
    _check_port(port)
    _check_host(host, port)
    require_dashboard()
    check_auth(auth_settings, host)
    from werkzeug.serving import make_server

    from dashboard import create_app

    from ..snapshot import SnapshotStore, snapshot_dir

    shared = snapshot_dir(store.url)  # those `relphot compute --db` and `relphot snapshot` build
    app = create_app(store, db_label=store.url, config=config, auth_settings=auth_settings,
                     snapshots=None if shared is None else SnapshotStore(shared))
    try:
        server = make_server(host, port, app.server, threaded=True)
    except (OSError, SystemExit) as exc:  # werkzeug exits when the port is taken
        raise ConfigError(f"{host}:{port}", f"cannot listen ({getattr(exc, 'strerror', None) or exc}); "
                                            "choose another port with --port") from None
    print(f"relphot dashboard on http://{host}:{port}/  (store {store.url}; auth {auth_settings.mode.value}; "
          "Ctrl-C stops)", file=sys.stderr)
    try:
        server.serve_forever()
    finally:
        server.server_close()


def run_serve(args: argparse.Namespace) -> int:
    """``relphot serve``."""
    from ..store import Store

    _check_port(args.port)
    require_dashboard()
    config = config_from_args(args)  # impossible rule parameters: refused before anything starts
    auth_settings = AuthSettings.load(getattr(args, "config", None))
    if args.auth:
        auth_settings = auth_settings.with_mode(args.auth)
    if args.allow_remote_none:
        auth_settings = dataclasses.replace(auth_settings, allow_remote_none=True)
    _check_host(args.host, args.port)  # an unresolvable host is named before anything else
    check_auth(auth_settings, args.host)
    _check_free(args.host, args.port)
    store = Store.open(args.db, create=False)  # a misspelt --db is refused, not served empty
    check_judged(config, store, args)
    if store.is_empty():
        print(f"relphot serve: note: {store.url} is empty; the dashboard will say how to fill it "
              "(e.g. `relphot demo`).", file=sys.stderr)
    serve(store, host=args.host, port=args.port, config=config, auth_settings=auth_settings)
    return 0


def run_demo(args: argparse.Namespace) -> int:
    """``relphot demo``."""
    _check_port(args.port)
    if args.observations < 1:
        raise ConfigError("--observations", "must be at least 1")
    if args.sources_per_detector < 10:
        raise ConfigError("--sources-per-detector", "must be at least 10")
    if not args.no_serve:
        require_dashboard()
        _check_host(args.host, args.port)
        check_auth(AuthSettings(), args.host)  # the demo runs in mode none
        _check_free(args.host, args.port)  # before a minute of work, not after
    db = Path(args.dir) / "relphot.db"
    if db.exists() and not args.fresh:
        raise ConfigError(db, f"a demo store is there already, with its reviews: reopen it with "
                              f"`relphot serve --db {db}`, or rebuild it with --fresh")
    from ..demo import build_demo

    store = build_demo(args.dir, n_observations=args.observations, seed=args.seed,
                       sources_per_detector=args.sources_per_detector,
                       workers=args.workers or os.cpu_count() or 1,
                       progress=lambda text: print(f"relphot demo: {text}", file=sys.stderr))
    if args.no_serve:
        print(f"relphot demo: store ready: {store.url}. Serve it with: relphot serve --db {store.url}",
              file=sys.stderr)
        return 0
    serve(store, host=args.host, port=args.port)
    return 0


__all__ = ["register", "require_dashboard", "serve", "run_serve", "run_demo"]
