"""Database URL -> SQLAlchemy engine, with the SQLite settings relphot needs.

SQLite (the default, an embedded file) is opened in WAL mode with foreign
keys on and a busy timeout; a file holding tables but no relphot schema
version is left in its own journal mode, so that refusing it changes no
byte of it. pysqlite's implicit transactions are switched off
(``isolation_level = None``) and every transaction is begun explicitly:
``BEGIN IMMEDIATE`` for writes (so that two processes writing at once queue
up instead of losing updates or failing with "database is locked") and a
plain deferred ``BEGIN`` for reads (WAL readers never block). This is
SQLAlchemy's documented pysqlite recipe ("Serializable isolation /
Savepoints / Transactional DDL" in its SQLite dialect documentation).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from ..errors import StoreError

DEFAULT_DB_FILE = "relphot.db"
"""The SQLite file used when no URL is given and $RELPHOT_DB is unset."""

ENV_VAR = "RELPHOT_DB"

WRITE_OPTION = "relphot_write"
"""Execution option that makes a SQLite transaction begin IMMEDIATE."""

SQLITE_BUSY_TIMEOUT_MS = 60_000


def resolve_url(url: str | None = None) -> str:
    """The database URL to use.

    Parameters
    ----------
    url : str or None
        A SQLAlchemy URL, or a plain file path (taken as a SQLite file), or
        None for ``$RELPHOT_DB``, else ``relphot.db`` in the working directory.

    Returns
    -------
    str
        A SQLAlchemy URL.
    """
    if not url:
        url = os.environ.get(ENV_VAR) or DEFAULT_DB_FILE
    if "://" not in url:
        url = f"sqlite:///{Path(url).expanduser().resolve()}"
    return url


def missing_sqlite_file(url: str | None = None) -> str | None:
    """The path of the SQLite file ``url`` names when that file does not
    exist (None for an existing file, an in-memory database or another
    database server)."""
    try:
        parsed = make_url(resolve_url(url))
    except ArgumentError:
        return None  # not a URL: `make_engine` says so
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    if parsed.database.startswith("file:") or parsed.query.get("mode") == "memory":
        return None
    return None if Path(parsed.database).exists() else parsed.database


def mask_url(url: str | URL) -> str:
    """The URL as text with its password replaced by ``***``."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except (ArgumentError, ValueError):
        text = str(url)
        # Best effort on an unparsable URL: hide what looks like user:password@.
        if "@" in text and "://" in text:
            scheme, rest = text.split("://", 1)
            creds, host = rest.rsplit("@", 1)
            user = creds.split(":", 1)[0]
            return f"{scheme}://{user}:***@{host}"
        return text
    return parsed.render_as_string(hide_password=True)


def _sqlite_connect(dbapi_connection: Any, connection_record: Any) -> None:
    # Take transaction control away from pysqlite (see module docstring).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if _may_switch_to_wal(cursor):
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def _may_switch_to_wal(cursor: Any) -> bool:
    """Whether the file is empty or a relphot store: switching to WAL writes
    the file's header, and a database that is not ours must stay byte for
    byte as it was when it is refused (`relphot_core.store.schema`). Reading
    ``sqlite_master`` writes nothing."""
    cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    tables = {row[0] for row in cursor.fetchall()}
    return not tables or "alembic_version" in tables


def _sqlite_begin(conn: Any) -> None:
    if conn.get_execution_options().get(WRITE_OPTION):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def make_engine(url: str | None = None) -> Engine:
    """Create the engine of a database URL (nothing is connected yet).

    Parameters
    ----------
    url : str or None
        See `resolve_url`.

    Returns
    -------
    sqlalchemy.engine.Engine

    Raises
    ------
    StoreError
        If the URL is malformed or its driver is not installed; the message
        names the URL with its password masked.
    """
    text = resolve_url(url)
    try:
        parsed = make_url(text)
    except (ArgumentError, ValueError) as exc:
        raise StoreError(mask_url(text), f"not a valid database URL ({exc})") from None
    kwargs: dict[str, Any] = {}
    is_sqlite = parsed.get_backend_name() == "sqlite"
    if is_sqlite:
        memory = parsed.database in (None, "", ":memory:")
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        if memory:
            kwargs["poolclass"] = StaticPool
    else:
        kwargs["pool_pre_ping"] = True
        if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
            kwargs["connect_args"] = {"connect_timeout": 10}
    try:
        engine = create_engine(parsed, **kwargs)
    except (NoSuchModuleError, ImportError, ArgumentError) as exc:
        raise StoreError(mask_url(parsed), f"cannot use this database ({exc})") from None
    if is_sqlite:
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def write_engine(engine: Engine) -> Engine:
    """A view of ``engine`` whose transactions take the write lock at once."""
    return engine.execution_options(**{WRITE_OPTION: True})
