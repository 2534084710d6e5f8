"""``relphot serve`` (the dashboard on a store) and ``relphot demo``
(simulate a season, compute it, store it and serve it).

The dashboard package is imported only when one of these commands runs:
relphot_core itself never imports Dash.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..errors import ConfigError, RelphotError, StoreError


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
    p.set_defaults(func=run_demo)


def _check_port(port: int) -> None:
    if not 1 <= port <= 65535:
        raise ConfigError("--port", f"{port} is not a TCP port (1-65535)")


def serve(store, *, host: str = "127.0.0.1", port: int = 8050) -> None:
    """Run the dashboard with the built-in (threaded) server, debug off."""
    try:
        from dashboard import create_app
    except ImportError as exc:  # pragma: no cover - installed without the dashboard
        raise StoreError(None, f"the dashboard cannot be imported ({exc})") from None
    app = create_app(store, db_label=store.url)
    print(f"relphot dashboard on http://{host}:{port}/  (store {store.url}; Ctrl-C stops)", file=sys.stderr)
    try:
        app.run(host=host, port=port, debug=False)
    except OSError as exc:
        raise ConfigError(f"{host}:{port}", f"cannot listen ({exc.strerror or exc})") from None


def run_serve(args: argparse.Namespace) -> int:
    """``relphot serve``."""
    from ..store import Store

    _check_port(args.port)
    store = Store.open(args.db)
    if store.is_empty():
        print(f"relphot serve: note: {store.url} is empty; the dashboard will say how to fill it "
              "(e.g. `relphot demo`).", file=sys.stderr)
    serve(store, host=args.host, port=args.port)
    return 0


def run_demo(args: argparse.Namespace) -> int:
    """``relphot demo``."""
    from .demo import build_demo

    _check_port(args.port)
    if args.observations < 1:
        raise ConfigError("--observations", "must be at least 1")
    if args.sources_per_detector < 10:
        raise ConfigError("--sources-per-detector", "must be at least 10")
    store = build_demo(args.dir, n_observations=args.observations, seed=args.seed,
                       sources_per_detector=args.sources_per_detector,
                       workers=args.workers or os.cpu_count() or 1)
    if args.no_serve:
        print(f"relphot demo: store ready: {store.url}. Serve it with: relphot serve --db {store.url}",
              file=sys.stderr)
        return 0
    serve(store, host=args.host, port=args.port)
    return 0


__all__ = ["register", "serve", "run_serve", "run_demo", "RelphotError"]
