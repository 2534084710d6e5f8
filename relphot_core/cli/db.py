"""``relphot db``: the store's schema and its runs.

``relphot db upgrade --db URL`` creates or migrates the database to this
relphot's schema; ``relphot db current --db URL`` says where it stands
without changing anything. ``relphot db runs OBS_ID FILTER`` lists the
processing runs of an observation, ``relphot db pin RUN_ID`` makes an
earlier run the current one, ``relphot db unpin OBS_ID FILTER`` returns to
"the latest run is current".
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..config import FILTERS
from ..errors import StoreError

# The store (SQLAlchemy, Alembic) is imported by the actions, not to build
# the command line's parser.
ENV_VAR = "RELPHOT_DB"
"""`relphot_core.store.engine.ENV_VAR`, repeated (tested to stay equal)."""


def add_db_option(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the store's ``--db`` option (every sub-command reading a store); returns ``parser``."""
    parser.add_argument("--db", metavar="URL",
                        help=f"SQLAlchemy URL or SQLite file (default: ${ENV_VAR}, else relphot.db)")
    return parser


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
        add_db_option(sub.add_parser(name, help=text, description=text)).set_defaults(func=func)

    for name, func, text in (
        ("runs", _runs, "list the processing runs of an observation and filter (current one marked)"),
        ("pin", _pin, "make a run the current one of its observation, whatever runs come later"),
        ("unpin", _unpin, "make the latest run of an observation and filter the current one again"),
    ):
        p = add_db_option(sub.add_parser(name, help=text, description=text))
        if name == "pin":
            p.add_argument("run_id", metavar="RUN_ID", type=int, help="run id (see `relphot db runs`)")
        else:
            p.add_argument("obs_id", metavar="OBS_ID", type=int, help="observation id")
            p.add_argument("filter", metavar="FILTER", choices=FILTERS, help=" | ".join(FILTERS))
        p.set_defaults(func=func)


def _upgrade(args: argparse.Namespace) -> int:
    from ..store.engine import make_engine, mask_url
    from ..store.schema import schema_state, upgrade

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
    from ..store.engine import make_engine, mask_url
    from ..store.schema import head_revision, schema_state

    engine = make_engine(args.db)
    database = engine.url.database
    if (engine.url.get_backend_name() == "sqlite" and database not in (None, "", ":memory:")
            and not Path(database).exists()):
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


def _runs(args: argparse.Namespace) -> int:
    from ..store import Store

    with Store.open(args.db) as store:
        runs = store.runs(args.obs_id, args.filter)
        if runs.empty:
            raise StoreError(store.url, f"no observation {args.obs_id} {args.filter}")
    print(f"{'run':>6}  {'created (UTC)':19}  {'method':7} {'software':9} note")
    for row in runs.itertuples(index=False):
        notes = [w for w, on in (("current", row.current), ("pinned", row.pinned), ("imported", row.imported)) if on]
        created = str(row.created)[:19].replace("T", " ")
        print(f"{row.run_id:>6}  {created:19}  {row.method:7} {row.software_version:9} {', '.join(notes)}")
    return 0


def _pin(args: argparse.Namespace) -> int:
    from ..store import Store

    with Store.open(args.db) as store:
        try:
            store.pin_run(args.run_id)
        except KeyError:
            raise StoreError(store.url, f"no run {args.run_id}") from None
    print(f"run {args.run_id} pinned: it is the current run of its observation until `relphot db unpin`")
    return 0


def _unpin(args: argparse.Namespace) -> int:
    from ..store import Store

    with Store.open(args.db) as store:
        try:
            store.unpin(args.obs_id, args.filter)
        except KeyError:
            raise StoreError(store.url, f"no observation {args.obs_id} {args.filter}") from None
    print(f"observation {args.obs_id} {args.filter}: the latest run is current again")
    return 0
