"""The `Store`: the one door to the database for the CLI, the products and
the dashboard. No SQL outside this package.

Current value
    The current run of an (obs_id, filter) is the pinned one, else the latest
    by ``created`` (ties: the last saved). Recomputing adds a run; runs and
    reviews are never deleted.
Reviews
    Hang on the exposure (a review of a whole observation is expanded to one
    row per exposure) and record the run and status they were made on.
Transactions
    Every write is one transaction: a failure leaves nothing behind.

The facade gathers per-entity parts: results and runs
(`relphot_core.store.results_api`), input files and failures
(`relphot_core.store.inputs_api`), the tables of a selection
(`relphot_core.store.tables_api`); pins and reviews are here.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pandas as pd
from sqlalchemy import and_, func, insert, select, tuple_, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from ..errors import StoreError
from . import queries
from .engine import make_engine, mask_url, write_engine
from .inputs_api import InputsPart
from .models import (
    DECISION_VALUES,
    Exposure,
    ExposureFactorRow,
    Observation,
    ProcessingRun,
    Review,
    utcnow,
)
from ..selection import ExposureSelection, select_exposures
from .results_api import ResultsPart
from .schema import short_error, ensure_current
from .tables_api import TablesPart
from .writes import refresh_current

O = Observation.__table__
E = Exposure.__table__
F = ExposureFactorRow.__table__
R = ProcessingRun.__table__
V = Review.__table__


class Store(ResultsPart, InputsPart, TablesPart):
    """Runs, factors and reviews of relphot in a SQL database.

    Use `Store.open`; close with `close` or a ``with`` block.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = write_engine(engine)

    # ------------------------------------------------------------------ life
    @classmethod
    def open(cls, url: str | None = None, *, migrate: bool = True) -> "Store":
        """Open (and on first use create or migrate) a store.

        Parameters
        ----------
        url : str or None
            SQLAlchemy URL (e.g. ``sqlite:///relphot.db``,
            ``postgresql+psycopg://user:pw@host/db``) or a file path; None means
            ``$RELPHOT_DB``, else ``relphot.db`` in the working directory.
        migrate : bool
            Upgrade an older schema (default). If false, refuse it.

        Raises
        ------
        StoreError
            If the database cannot be opened (the message names the URL, password
            masked), holds a newer schema than this code knows, or is not a
            relphot store. Nothing is changed in those cases.
        """
        engine = make_engine(url)
        try:
            ensure_current(engine, migrate=migrate)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    @property
    def url(self) -> str:
        """The database URL, password masked."""
        return mask_url(self.engine.url)

    def close(self) -> None:
        """Release the connections."""
        self.engine.dispose()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(self.url, f"cannot read the database ({short_error(exc)})") from None

    @contextmanager
    def _write(self, what: str) -> Iterator[Connection]:
        try:
            with self._writer.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(self.url, f"{what}: nothing written ({short_error(exc)})") from None

    def pin_run(self, run_id: int) -> None:
        """Make a run the current one of its observation until `unpin`.

        Raises
        ------
        KeyError
            If there is no such run.
        """
        with self._write(f"cannot pin run {run_id}") as conn:
            observation_id = conn.execute(select(R.c.observation_id).where(R.c.id == int(run_id))).scalar()
            if observation_id is None:
                raise KeyError(f"no run {run_id}")
            conn.execute(
                update(R).where(R.c.observation_id == observation_id).values(pinned=R.c.id == int(run_id))
            )
            refresh_current(conn, [observation_id])

    def unpin(self, obs_id: int, filter: str) -> None:
        """Return (obs_id, filter) to "latest run is current".

        Raises
        ------
        KeyError
            If the observation is not in the store.
        """
        with self._write(f"cannot unpin observation {obs_id} {filter}") as conn:
            observation_id = self._observation_id(conn, obs_id, filter)
            conn.execute(update(R).where(R.c.observation_id == observation_id).values(pinned=False))
            refresh_current(conn, [observation_id])

    def add_review(
        self,
        obs_id: int,
        filter: str,
        exposures: Sequence[int] | None,
        decision: str,
        reviewer: str,
        comment: str = "",
    ) -> int:
        """Record a reviewer's decision on exposures of one observation.

        Parameters
        ----------
        exposures : sequence of int or None
            Dither numbers; None = every exposure of the observation.
        decision : {'confirmed', 'overruled'}
        reviewer, comment : str

        Returns
        -------
        int
            The number of review rows written (one per exposure).

        Raises
        ------
        KeyError
            Unknown observation or exposure. ValueError: bad decision or no reviewer.
        """
        self._check_review(decision, reviewer)
        with self._write(f"cannot review observation {obs_id} {filter}") as conn:
            known = self._review_targets(conn, [(int(obs_id), str(filter))])
            if not known:
                raise KeyError(f"no observation {obs_id} {filter}")
            if exposures is None:
                targets = list(known.values())
            else:
                targets = []
                for dither in exposures:
                    key = (int(obs_id), str(filter), int(dither))
                    if key not in known:
                        raise KeyError(f"no exposure {dither} in observation {obs_id} {filter}")
                    targets.append(known[key])
            return self._insert_reviews(conn, targets, decision, reviewer, comment)

    def add_reviews(
        self, keys: Sequence[tuple[int, str, int]], decision: str, reviewer: str, comment: str = ""
    ) -> int:
        """Record one decision on many exposures ``(obs_id, filter, dither)``
        in one transaction; returns the number of reviews written."""
        self._check_review(decision, reviewer)
        wanted = [(int(o), str(f), int(d)) for o, f, d in keys]
        if not wanted:
            return 0
        with self._write("cannot save reviews") as conn:
            known = self._review_targets(conn, sorted({(o, f) for o, f, _ in wanted}))
            missing = [key for key in wanted if key not in known]
            if missing:
                raise KeyError(f"no exposure {missing[0]}")
            targets = [known[key] for key in dict.fromkeys(wanted)]
            return self._insert_reviews(conn, targets, decision, reviewer, comment)

    @staticmethod
    def _check_review(decision: str, reviewer: str) -> None:
        if decision not in DECISION_VALUES:
            raise ValueError(f"decision must be one of {DECISION_VALUES}, not {decision!r}")
        if not reviewer or not str(reviewer).strip():
            raise ValueError("a review needs a reviewer")

    @staticmethod
    def _review_targets(
        conn: Connection, pairs: Sequence[tuple[int, str]]
    ) -> dict[tuple[int, str, int], dict[str, Any]]:
        targets: dict[tuple[int, str, int], dict[str, Any]] = {}
        for start in range(0, len(pairs), 400):
            chunk = pairs[start : start + 400]
            stmt = (
                select(O.c.obs_id, O.c.filter, E.c.dither, O.c.id, E.c.id, O.c.current_run_id, F.c.status)
                .select_from(O)
                .join(E, E.c.observation_id == O.c.id)
                .outerjoin(F, and_(F.c.run_id == O.c.current_run_id, F.c.exposure_id == E.c.id))
                .where(tuple_(O.c.obs_id, O.c.filter).in_(chunk))
            )
            for obs_id, filt, dither, oid, eid, run_id, status in conn.execute(stmt):
                targets[(obs_id, filt, dither)] = {
                    "observation_id": oid,
                    "exposure_id": eid,
                    "run_id": run_id,
                    "status": status,
                }
        return targets

    @staticmethod
    def _insert_reviews(
        conn: Connection, targets: list[dict[str, Any]], decision: str, reviewer: str, comment: str
    ) -> int:
        if not targets:
            return 0
        now = utcnow()
        rows = [
            {**t, "decision": decision, "reviewer": str(reviewer).strip(), "comment": comment or "", "created": now}
            for t in targets
        ]
        ids = conn.execute(insert(V).returning(V.c.id, V.c.exposure_id), rows).all()
        latest = select(func.max(V.c.id)).where(V.c.exposure_id == E.c.id).scalar_subquery()
        exposure_ids = sorted({e for _, e in ids})
        for start in range(0, len(exposure_ids), 500):
            chunk = exposure_ids[start : start + 500]
            conn.execute(update(E).where(E.c.id.in_(chunk)).values(latest_review_id=latest))
        return len(ids)

    # ------------------------------------------------------------------ read
    @staticmethod
    def _observation_id(conn: Connection, obs_id: int, filter: str) -> int:
        oid = conn.execute(
            select(O.c.id).where(O.c.obs_id == int(obs_id), O.c.filter == str(filter))
        ).scalar()
        if oid is None:
            raise KeyError(f"no observation {obs_id} {filter}")
        return oid

    def triage_queue(self, selection: ExposureSelection | None = None, *, control: Any = None) -> pd.DataFrame:
        """Exposure rows (with the control-chart columns of `trend`) whose
        status is WARN/FAIL/NODATA, or that drift on the control chart, and
        that are not reviewed at their current status; ``selection`` (its
        review state aside) narrows them. Ordered by obs_id, filter,
        exposure."""
        selection = (selection or ExposureSelection()).criteria()
        parts = []
        with self._read() as conn:
            for band in selection.filters:
                light = queries.add_control_chart(queries.series(conn, band), control=control)
                chosen = light[queries.awaits_review(light)]
                rows = queries.exposure_table(
                    conn, ExposureSelection(), observation_ids=chosen["observation_pk"].tolist()
                )
                chart_cols = [c for c in queries.CHART_COLUMNS if c in light]
                rows = rows.merge(chosen[["obs_id", "filter", "exposure", *chart_cols]],
                                  on=["obs_id", "filter", "exposure"], how="inner")
                parts.append(rows)
        if not parts:
            return queries.frame([], queries.EXPOSURE_COLUMNS)
        df = pd.concat(parts, ignore_index=True).sort_values(["obs_id", "filter", "exposure"])
        return select_exposures(df, replace(selection, reviewed="any")).reset_index(drop=True)

    def reviews(self, obs_id: int | None = None, filter: str | None = None) -> pd.DataFrame:
        """Every review: id, obs_id, filter, exposure, decision, reviewer,
        comment, created, run_id, status (the status reviewed). Oldest first."""
        stmt = (
            select(
                V.c.id, O.c.obs_id, O.c.filter, E.c.dither.label("exposure"), V.c.decision, V.c.reviewer,
                V.c.comment, V.c.created, V.c.run_id, V.c.status,
            )
            .select_from(V)
            .join(O, O.c.id == V.c.observation_id)
            .join(E, E.c.id == V.c.exposure_id)
            .order_by(V.c.id)
        )
        if obs_id is not None:
            stmt = stmt.where(O.c.obs_id == int(obs_id))
        if filter is not None:
            stmt = stmt.where(O.c.filter == str(filter))
        with self._read() as conn:
            rows = conn.execute(stmt).all()
        return queries.frame(
            rows,
            {"id": "int64", "obs_id": "int64", "filter": "object", "exposure": "int64", "decision": "object",
             "reviewer": "object", "comment": "object", "created": "datetime", "run_id": "float64",
             "status": "object"},
        )

