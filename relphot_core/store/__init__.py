"""The relphot store: runs, factors, statistics and reviews in SQL.

Default: an embedded SQLite file (WAL); any SQLAlchemy URL, PostgreSQL in
particular, for a shared deployment. Schema changes through the Alembic
migrations in ``migrations/``, applied on first use and by
``relphot db upgrade``.

>>> from relphot_core.store import Store, ExposureSelection
>>> store = Store.open("sqlite://")            # in memory
>>> store.is_empty()
True
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import StoreError

if TYPE_CHECKING:
    from .api import Store
    from ..selection import ExposureSelection


def __getattr__(name: str):
    # Imported on first use (PEP 562): `relphot_core.store.engine` and the
    # command line's parser then load without pandas and the ORM layer.
    if name == "Store":
        from .api import Store

        return Store
    if name == "ExposureSelection":
        from ..selection import ExposureSelection

        return ExposureSelection
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["Store", "ExposureSelection", "StoreError"]
