"""Alembic environment of the relphot store.

Run programmatically by `relphot_core.store.schema` (no alembic.ini): the
caller passes an open connection in ``config.attributes["connection"]``,
already inside a write transaction, so that reading the current revision and
migrating are one atomic step. Standalone use (``alembic -x`` style) falls
back to ``sqlalchemy.url`` of the config.
"""
from __future__ import annotations

from alembic import context
from sqlalchemy import text

from relphot_core.store.models import Base

config = context.config
target_metadata = Base.metadata

PG_LOCK_KEY = 7_265_108_351  # arbitrary: serialises concurrent migrations on PostgreSQL


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"SELECT pg_advisory_xact_lock({PG_LOCK_KEY})"))
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from relphot_core.store.engine import make_engine, write_engine

    engine = write_engine(make_engine(config.get_main_option("sqlalchemy.url")))
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
