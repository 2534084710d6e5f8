"""The results and runs part of the `~relphot_core.store.api.Store`
facade: saving results as runs, reading them back (one, or the current
ones), the runs of an observation, its neighbours and the data version.

The part assumes the facade's ``_read()`` / ``_write(what)`` connection
context managers, ``_write_retrying(what, work)``, ``_writer`` engine and ``url``
(`relphot_core.store.api.Store`).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from ..errors import StoreError
from ..results import ObservationResult
from ..selection import ExposureSelection
from . import queries, review_rows
from .models import ExposureFactorRow, Observation, ProcessingRun, Review
from .records import build_factor_results, build_result
from .writes import result_label, save_batch

O = Observation.__table__
F = ExposureFactorRow.__table__
R = ProcessingRun.__table__
V = Review.__table__


class ResultsPart:
    """Results, runs and the data version (part of `Store`)."""

    def save_result(self, result: ObservationResult, *, imported: bool = False) -> int | None:
        """Store one result as a new run, in one transaction.

        Returns
        -------
        int or None
            The new run id; None if a run with the same method, input digest and
            parameters already exists for that (obs_id, filter) (nothing stored).

        Raises
        ------
        StoreError
            If the result is invalid or cannot be written; nothing is stored.
        """
        # A concurrent writer may store the same run first (PostgreSQL): the
        # retry finds it and stores nothing.
        return self._write_retrying(f"cannot save {result_label(result)}",
                                    lambda conn: save_batch(conn, [result], imported=imported)[0], attempts=2)

    def save_results(
        self, results: Iterable[ObservationResult], *, imported: bool = False, batch_size: int = 200
    ) -> list[int | None]:
        """Store many results, each all-or-nothing.

        Results are written ``batch_size`` at a time in one transaction (fast).
        If a batch fails, it is rolled back and its results are saved one
        transaction each, so the outcome is that of calling `save_result` in
        a loop: every result before a failing one is stored, the failing one
        raises `StoreError` and those after it are not attempted.

        Returns
        -------
        list of int or None
            As `save_result`, one per result, in order.
        """
        out: list[int | None] = []
        batch: list[ObservationResult] = []

        def flush() -> None:
            try:
                with self._writer.begin() as conn:
                    out.extend(save_batch(conn, batch, imported=imported))
            except (SQLAlchemyError, StoreError):
                for result in batch:
                    out.append(self.save_result(result, imported=imported))
            batch.clear()

        for result in results:
            batch.append(result)
            if len(batch) >= max(1, int(batch_size)):
                flush()
        if batch:
            flush()
        return out

    def data_version(self) -> str:
        """A token that changes whenever what the read API returns may have
        changed (a run saved, a review added or revoked, a pin set or cleared): key
        caches of tables on it."""
        with self._read() as conn:
            return ":".join(str(x or 0) for x in conn.execute(self._version_statement()).one())

    def reviews_since(self, version: str, filter: str | None = None) -> tuple[str, pd.DataFrame | None]:
        """What changed since the data version ``version`` when it is reviews only.

        Returns the data version now and, when the only writes since
        ``version`` added reviews (no run saved, no pin set or cleared, no
        review revoked), those reviews that are their exposure's latest
        (optionally of one ``filter``): obs_id, filter, exposure, decision,
        reviewer, status (the status reviewed). Otherwise (or when
        ``version`` is not a version of this store) None in place of the
        table: a cached table must be read again. Read in one transaction,
        so the reviews are exactly those up to the version returned."""
        with self._read() as conn:
            now = ":".join(str(x or 0) for x in conn.execute(self._version_statement()).one())
            before, after = version.split(":"), now.split(":")
            if len(before) != len(after) or not all(p.isdigit() for p in before):
                return now, None
            if before == after:
                return now, review_rows.latest_reviews(conn, 0, 0, filter)
            # the parts: last run id, last review id, pins (count, sum), revocations
            if before[:1] + before[2:] != after[:1] + after[2:] or int(after[1]) < int(before[1]):
                return now, None
            return now, review_rows.latest_reviews(conn, int(before[1]), int(after[1]), filter)

    @staticmethod
    def _version_statement():
        return select(
            select(func.max(R.c.id)).scalar_subquery(),
            select(func.max(V.c.id)).scalar_subquery(),
            select(func.count(R.c.id)).where(R.c.pinned).scalar_subquery(),
            select(func.sum(R.c.id)).where(R.c.pinned).scalar_subquery(),
            review_rows.revocations(),
        )

    def is_empty(self) -> bool:
        """True when no run is stored."""
        with self._read() as conn:
            return conn.execute(select(R.c.id).limit(1)).first() is None

    def load_result(self, obs_id: int, filter: str, run_id: int | None = None) -> ObservationResult:
        """One run of (obs_id, filter), by default the current one, in full.

        Raises
        ------
        KeyError
            If the observation has no such run.
        """
        with self._read() as conn:
            obs = conn.execute(select(O).where(O.c.obs_id == int(obs_id), O.c.filter == str(filter))).first()
            if obs is None:
                raise KeyError(f"no observation {obs_id} {filter}")
            wanted = obs.current_run_id if run_id is None else int(run_id)
            run = conn.execute(select(R).where(R.c.id == wanted, R.c.observation_id == obs.id)).first()
            if run is None:
                raise KeyError(f"no run {run_id} of observation {obs_id} {filter}")
            return build_result(conn, obs, run)

    def iter_results(
        self,
        obs_ids: Iterable[int] | None = None,
        filter: str | Iterable[str] | None = None,
        since: datetime | str | None = None,
        *,
        selection: ExposureSelection | None = None,
        details: bool = True,
    ) -> Iterator[ObservationResult]:
        """The current runs, in (obs_id, filter) order.

        Parameters
        ----------
        obs_ids : iterable of int or None
        filter : str or iterable of str or None
        since : datetime or ISO 8601 str or None
            Only runs created at or after this time (UTC if naive).
        selection : ExposureSelection or None
            Only the observations holding at least one selected exposure
            (the selected observation products, as `observation_table`).
        details : bool
            Also load the pair and detector statistics and the match samples
            (False: the exposure factors only, what a product needs).
        """
        stmt = select(O).join(R, R.c.id == O.c.current_run_id).order_by(O.c.obs_id, O.c.filter)
        if obs_ids is not None:
            stmt = stmt.where(O.c.obs_id.in_([int(x) for x in obs_ids]))
        if filter is not None:
            stmt = stmt.where(O.c.filter.in_([filter] if isinstance(filter, str) else list(filter)))
        if since is not None:
            if isinstance(since, str):
                try:
                    since = datetime.fromisoformat(since.strip().replace("Z", "+00:00"))
                except ValueError:
                    raise StoreError(None, f"not an ISO 8601 time: {since!r}") from None
            if since.tzinfo is None:
                since = since.replace(tzinfo=timezone.utc)
            stmt = stmt.where(R.c.created >= since)
        if selection is not None and not selection.selects_everything:
            stmt = stmt.where(O.c.id.in_(queries.selected_observations(selection)))
        with self._read() as conn:
            observations = conn.execute(stmt).all()
        chunk = 500 if not details else 1
        for start in range(0, len(observations), chunk):
            part = observations[start:start + chunk]
            with self._read() as conn:
                runs = {run.id: run for run in conn.execute(
                    select(R).where(R.c.id.in_([obs.current_run_id for obs in part])))}
                found = [(obs, runs[obs.current_run_id]) for obs in part if obs.current_run_id in runs]
                if details:
                    results = [build_result(conn, obs, run) for obs, run in found]
                else:
                    results = build_factor_results(conn, found)
            yield from results

    def runs(self, obs_id: int, filter: str) -> pd.DataFrame:
        """The runs of (obs_id, filter), oldest first: run_id, created, method,
        software_version, imported, pinned, parameters (dict), input_digest,
        current (bool). Empty if the observation is unknown."""
        stmt = (
            select(
                R.c.id, R.c.created, R.c.method, R.c.software_version, R.c.imported, R.c.pinned,
                R.c.parameters, R.c.input_digest, (R.c.id == O.c.current_run_id).label("current"),
            )
            .join(O, O.c.id == R.c.observation_id)
            .where(O.c.obs_id == int(obs_id), O.c.filter == str(filter))
            .order_by(R.c.created, R.c.id)
        )
        with self._read() as conn:
            rows = conn.execute(stmt).all()
        return queries.frame(
            rows,
            {"run_id": "int64", "created": "datetime", "method": "object", "software_version": "object",
             "imported": "bool", "pinned": "bool", "parameters": "object", "input_digest": "object",
             "current": "bool"},
        )

    def neighbours(self, obs_id: int, filter: str | None = None) -> tuple[int | None, int | None]:
        """The previous and next observation ids (with a current run, in the
        filter if given) around ``obs_id``."""
        base = select(O.c.obs_id).where(O.c.current_run_id.is_not(None))
        if filter is not None:
            base = base.where(O.c.filter == str(filter))
        with self._read() as conn:
            prev = conn.execute(
                base.where(O.c.obs_id < int(obs_id)).order_by(O.c.obs_id.desc()).limit(1)
            ).scalar()
            nxt = conn.execute(base.where(O.c.obs_id > int(obs_id)).order_by(O.c.obs_id).limit(1)).scalar()
        return prev, nxt

    def next_flagged(self, obs_id: int, filter: str, *, before: bool = False, control: Any = None) -> int | None:
        """The next observation id after ``obs_id`` (the previous one with
        ``before``) of a filter with a flagged exposure in its current run, by
        the flag model (`relphot_core.qc.flags.next_flagged`: status, detector,
        cross-check and control-chart alarm, the latter over the filter's
        series with ``control``). Reads the filter's whole trend: a page with
        the table at hand asks `relphot_core.qc.flags.next_flagged` itself."""
        from ..qc.flags import next_flagged

        return next_flagged(self.trend(filter, control=control), obs_id, before=before)
