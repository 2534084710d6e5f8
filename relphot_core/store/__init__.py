"""The relphot store: runs, factors, statistics and reviews in SQL.

Default: an embedded SQLite file (WAL); any SQLAlchemy URL, PostgreSQL in
particular, for a shared deployment. Schema changes through the Alembic
migrations in ``migrations/``, applied on first use and by
``relphot db upgrade``.

>>> from relphot_core.store import Store, ExposureQuery
>>> store = Store.open("sqlite://")            # in memory
>>> store.is_empty()
True
"""
from __future__ import annotations

from ..errors import StoreError
from .api import Store
from .queries import ExposureQuery

__all__ = ["Store", "ExposureQuery", "StoreError"]
