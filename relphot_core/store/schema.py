"""Schema versions: the Alembic migrations shipped inside the package, run
programmatically (no alembic.ini needed).

A database is in one of four states: empty (migrated on first use), behind
this code's head revision (upgraded), at the head (used as is), or at a
revision this code does not know, i.e. written by a newer relphot (refused
with a clear `StoreError`, untouched).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import inspect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from ..errors import StoreError
from .engine import mask_url, write_engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(url: str | None = None) -> Config:
    """An Alembic `Config` pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest schema revision this code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def known_revisions() -> set[str]:
    """Every revision of the packaged migrations."""
    script = ScriptDirectory.from_config(alembic_config())
    return {rev.revision for rev in script.walk_revisions()}


@dataclass(frozen=True)
class SchemaState:
    """Where a database stands relative to this code's migrations."""

    current: str | None
    """The database's revision (None: never migrated)."""
    head: str
    """This code's newest revision."""
    has_tables: bool
    """Whether the database holds any table at all."""

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head

    @property
    def newer(self) -> bool:
        """The database is at a revision this code does not know."""
        return self.current is not None and self.current not in known_revisions()


def _state(conn: Connection) -> SchemaState:
    heads = MigrationContext.configure(conn).get_current_heads()
    current = heads[0] if len(heads) == 1 else (",".join(heads) if heads else None)
    has_tables = bool(inspect(conn).get_table_names())
    return SchemaState(current=current, head=head_revision(), has_tables=has_tables)


def schema_state(engine: Engine) -> SchemaState:
    """Read the database's schema revision without changing anything.

    Raises
    ------
    StoreError
        If the database cannot be opened or read.
    """
    try:
        with engine.connect() as conn:
            state = _state(conn)
            conn.rollback()
            return state
    except SQLAlchemyError as exc:
        raise StoreError(mask_url(engine.url), f"cannot open the database ({short_error(exc)})") from None


def _check(state: SchemaState, engine: Engine) -> None:
    if state.newer:
        raise StoreError(
            mask_url(engine.url),
            f"database schema is at revision {state.current}, newer than this relphot knows "
            f"(head {state.head}); upgrade relphot to use it (nothing was changed)",
        )
    if state.current is None and state.has_tables:
        raise StoreError(
            mask_url(engine.url),
            "the database holds tables but no relphot schema version; not a relphot store "
            "(nothing was changed)",
        )


def upgrade(engine: Engine) -> SchemaState:
    """Bring the database to this code's head revision.

    Reading the revision and migrating happen in one write transaction (and
    under an advisory lock on PostgreSQL), so concurrent first uses are safe.

    Returns
    -------
    SchemaState
        The state after the upgrade.

    Raises
    ------
    StoreError
        If the database cannot be opened, is at a newer revision, is not a
        relphot store, or a migration fails (the database is left as it was).
    """
    state = schema_state(engine)
    _check(state, engine)
    if state.up_to_date:
        return state
    config = alembic_config()
    try:
        with write_engine(engine).begin() as conn:
            state = _state(conn)
            _check(state, engine)
            if not state.up_to_date:
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
    except (SQLAlchemyError, CommandError) as exc:
        raise StoreError(mask_url(engine.url), f"schema migration failed ({short_error(exc)})") from None
    return schema_state(engine)


def ensure_current(engine: Engine, *, migrate: bool = True) -> SchemaState:
    """Check the schema revision and, if ``migrate``, upgrade an older one.

    Raises
    ------
    StoreError
        As `upgrade`; also when ``migrate`` is false and the schema is old.
    """
    state = schema_state(engine)
    _check(state, engine)
    if state.up_to_date:
        return state
    if not migrate:
        raise StoreError(
            mask_url(engine.url),
            f"database schema is at revision {state.current or 'none'}, this relphot needs "
            f"{state.head}; run `relphot db upgrade`",
        )
    return upgrade(engine)


def short_error(exc: BaseException) -> str:
    """The first line of an exception's message, without SQLAlchemy's links."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
