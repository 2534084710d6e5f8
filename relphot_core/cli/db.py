"""``relphot db``: the store's schema.

``relphot db upgrade --db URL`` creates or migrates the database to this
relphot's schema; ``relphot db current --db URL`` says where it stands
without changing anything.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..store.engine import ENV_VAR, make_engine, mask_url
from ..store.schema import head_revision, schema_state, upgrade


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``relphot db {upgrade,current}``."""
    parser = subparsers.add_parser(
        "db",
        help="create, migrate or inspect the store's database",
        description="The store's schema: Alembic migrations shipped with relphot.",
    )
    sub = parser.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    for name, func, text in (
        ("upgrade", _upgrade, "create the database or migrate it to this relphot's schema"),
        ("current", _current, "show the database's schema revision (changes nothing)"),
    ):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument(
            "--db",
            metavar="URL",
            help=f"SQLAlchemy URL or SQLite file (default: ${ENV_VAR}, else relphot.db)",
        )
        p.set_defaults(func=func)


def _upgrade(args: argparse.Namespace) -> int:
    engine = make_engine(args.db)
    try:
        before = schema_state(engine)
        after = upgrade(engine)
    finally:
        engine.dispose()
    url = mask_url(engine.url)
    if before.current == after.current:
        print(f"{url}: already at revision {after.current} (head)")
    else:
        print(f"{url}: upgraded from {before.current or 'empty'} to {after.current} (head)")
    return 0


def _current(args: argparse.Namespace) -> int:
    engine = make_engine(args.db)
    database = engine.url.database
    if engine.url.get_backend_name() == "sqlite" and database not in (None, "", ":memory:"):
        if not Path(database).exists():
            engine.dispose()
            print(f"{mask_url(engine.url)}: no such database file; head is {head_revision()}")
            return 1
    try:
        state = schema_state(engine)
    finally:
        engine.dispose()
    url = mask_url(engine.url)
    if state.newer:
        print(f"{url}: revision {state.current}, NEWER than this relphot (head {state.head})")
        return 1
    if state.current is None:
        what = "not a relphot store" if state.has_tables else "empty (no schema yet)"
        print(f"{url}: {what}; head is {state.head}")
        return 1
    if state.up_to_date:
        print(f"{url}: revision {state.current} (head, up to date)")
        return 0
    print(f"{url}: revision {state.current}, needs `relphot db upgrade` to {state.head}")
    return 1
