"""The `Store`: the one door to the database for the CLI, the products and
the dashboard. No SQL outside this package.

Current value
    The current run of an (obs_id, filter) is the pinned one, else the latest
    by ``created`` (ties: the last saved). Recomputing adds a run; runs and
    reviews are never deleted.
Reviews
    Hang on the exposure (a review of a whole observation is expanded to one
    row per exposure) and record the run, status and flag they were made on.
    Each action is one batch; a revoked batch stays but no longer counts.
Transactions
    Every write is one transaction: a failure leaves nothing behind.

The facade gathers per-entity parts: results and runs
(`relphot_core.store.results_api`), input files and failures
(`relphot_core.store.inputs_api`), the tables of a selection
(`relphot_core.store.tables_api`), choices of runs and pointings
(`relphot_core.store.survey_api`); pins and reviews are here.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pandas as pd
from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ..errors import StoreError
from ..qc.flags import awaits_review
from ..reviews import StaleReviewError, check_review
from . import problems as problem_rows, queries, review_rows
from .engine import make_engine, mask_url, missing_sqlite_file, write_engine
from .inputs_api import InputsPart
from .models import (
    Exposure,
    ExposureFactorRow,
    Observation,
    ProcessingRun,
    Review,
)
from ..selection import ExposureSelection, select_exposures
from .results_api import ResultsPart
from .survey_api import SurveyPart
from .schema import short_error, ensure_current
from .tables_api import TablesPart
from .users_api import UsersPart
from .writes import refresh_current

O = Observation.__table__
E = Exposure.__table__
F = ExposureFactorRow.__table__
R = ProcessingRun.__table__
V = Review.__table__


def _refuse_stale(conn: Connection, known: Mapping, expected: Mapping | None) -> None:
    """Raise `StaleReviewError` when an exposure's latest review is not the expected one."""
    if expected is None:
        return
    wanted = {(int(o), str(f), int(d)): (None if r is None else int(r)) for (o, f, d), r in expected.items()}
    changes = review_rows.stale_changes(conn, known, wanted)
    if changes:
        raise StaleReviewError(changes)


class Store(ResultsPart, InputsPart, TablesPart, SurveyPart, UsersPart):
    """Runs, factors and reviews of relphot in a SQL database.

    Use `Store.open`; close with `close` or a ``with`` block.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = write_engine(engine)

    # ------------------------------------------------------------------ life
    @classmethod
    def open(cls, url: str | None = None, *, migrate: bool = True, create: bool = True) -> "Store":
        """Open (and on first use create or migrate) a store.

        Parameters
        ----------
        url : str or None
            SQLAlchemy URL (e.g. ``sqlite:///relphot.db``,
            ``postgresql+psycopg://user:pw@host/db``) or a file path; None means
            ``$RELPHOT_DB``, else ``relphot.db`` in the working directory.
        migrate : bool
            Upgrade an older schema (default). If false, refuse it.
        create : bool
            Create a missing SQLite file (default). If false, refuse it: a
            command that only reads (``relphot export``) given a misspelt
            path must not answer from a new, empty store.

        Raises
        ------
        StoreError
            If the database cannot be opened (the message names the URL, password
            masked), holds a newer schema than this code knows, or is not a
            relphot store. Nothing is changed in those cases.
        """
        if not create:
            missing = missing_sqlite_file(url)
            if missing is not None:
                raise StoreError(missing, "no such store (relphot compute or relphot demo creates one)")
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

    def _write_retrying(self, what: str, work: Any, attempts: int = 3) -> Any:
        """``work(conn)`` in one transaction, again when a concurrent writer
        inserted the same unique row first (PostgreSQL: two batches at once);
        the next attempt sees that row. Other errors: `StoreError`, nothing written."""
        for attempt in range(attempts):
            try:
                with self._writer.begin() as conn:
                    return work(conn)
            except IntegrityError as exc:
                if attempt + 1 < attempts:
                    continue
                raise StoreError(self.url, f"{what}: nothing written ({short_error(exc)})") from None
            except SQLAlchemyError as exc:
                raise StoreError(self.url, f"{what}: nothing written ({short_error(exc)})") from None
        raise AssertionError("unreachable")  # pragma: no cover

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
        *,
        cause: str = "",
        about: Mapping[tuple[int, str, int], tuple[str, str]] | None = None,
        expected: Mapping[tuple[int, str, int], int | None] | None = None,
        auth_mode: str | None = None,
    ) -> int | None:
        """Record a reviewer's decision on exposures of one observation, as one batch.

        Parameters
        ----------
        exposures : sequence of int or None
            Dither numbers; None = every exposure of the observation.
        decision : {'confirmed', 'overruled'}
        reviewer, comment : str
        cause : str, optional
            One of `relphot_core.reviews.CAUSES`, or empty.
        about : mapping, optional
            ``(obs_id, filter, dither) -> (flag kind, reason)``: the flag each
            decision was about, as the reviewer saw it; by default the
            exposure's own (`relphot_core.reviews.flag_about` of its status,
            detector flag and cross-check).
        expected : mapping, optional
            ``(obs_id, filter, dither) -> review id`` (None: no review): the
            latest valid review each decision was made against (the
            ``review_id`` of `exposure_table`). If one changed since, nothing
            is stored (`relphot_core.reviews.StaleReviewError`).
        auth_mode : str, optional
            How the reviewer was known (`relphot_core.identity.AuthMode`:
            ``none`` is a typed, unauthenticated name).

        Returns
        -------
        int or None
            The batch id (`revoke_review_batch` undoes it); None when
            ``exposures`` is empty (nothing stored).

        Raises
        ------
        KeyError
            Unknown observation or exposure. ValueError: bad decision, cause or no reviewer.
        StaleReviewError
            An exposure's latest review is no longer ``expected``.
        """
        check_review(decision, reviewer, comment, cause, reason_required=False)
        with self._write(f"cannot review observation {obs_id} {filter}") as conn:
            known = review_rows.targets(conn, [(int(obs_id), str(filter))], lock=expected is not None)
            if not known:
                raise KeyError(f"no observation {obs_id} {filter}")
            if exposures is None:
                keys = sorted(known)
            else:
                keys = []
                for dither in exposures:
                    key = (int(obs_id), str(filter), int(dither))
                    if key not in known:
                        raise KeyError(f"no exposure {dither} in observation {obs_id} {filter}")
                    keys.append(key)
                keys = list(dict.fromkeys(keys))
            _refuse_stale(conn, known, expected)
            return review_rows.insert_batch(conn, [known[k] for k in keys], keys, decision, reviewer, comment,
                                            cause, about, auth_mode)

    def add_reviews(
        self,
        keys: Sequence[tuple[int, str, int]],
        decision: str,
        reviewer: str,
        comment: str = "",
        *,
        cause: str = "",
        about: Mapping[tuple[int, str, int], tuple[str, str]] | None = None,
        expected: Mapping[tuple[int, str, int], int | None] | None = None,
        auth_mode: str | None = None,
    ) -> int | None:
        """Record one decision on many exposures ``(obs_id, filter, dither)``
        in one transaction, as one batch (see `add_review` for ``cause``,
        ``about``, ``expected`` and ``auth_mode``); returns the batch id
        (None when ``keys`` is empty)."""
        check_review(decision, reviewer, comment, cause, reason_required=False)
        wanted = [(int(o), str(f), int(d)) for o, f, d in keys]
        if not wanted:
            return None
        with self._write("cannot save reviews") as conn:
            known = review_rows.targets(conn, sorted({(o, f) for o, f, _ in wanted}), lock=expected is not None)
            missing = [key for key in wanted if key not in known]
            if missing:
                raise KeyError(f"no exposure {missing[0]}")
            unique = list(dict.fromkeys(wanted))
            _refuse_stale(conn, known, expected)
            return review_rows.insert_batch(conn, [known[k] for k in unique], unique, decision, reviewer, comment,
                                            cause, about, auth_mode)

    def review_batch_owner(self, batch_id: int) -> str:
        """Who stored a review batch (KeyError: no such batch)."""
        with self._read() as conn:
            return review_rows.batch_owner(conn, int(batch_id))

    def revoke_review_batch(self, batch_id: int, by: str, *, auth_mode: str | None = None) -> int:
        """Revoke a batch of reviews: they stay in the audit trail (with who
        revoked them and when) but no longer count, so each exposure is
        reviewed as it was before the batch.

        Returns
        -------
        int
            The number of reviews revoked.

        Raises
        ------
        KeyError
            No such batch. ValueError: revoked already, or no name given.
        """
        with self._write(f"cannot revoke review batch {batch_id}") as conn:
            return review_rows.revoke_batch(conn, int(batch_id), by, auth_mode)

    # -------------------------------------------------------------- problems
    def update_problems(self, filters: Sequence[str] | None = None, *, control: Any = None,
                        by: str = "relphot") -> dict[str, dict[str, int]]:
        """Compute the problems of each filter from its current runs and
        its detectors' offsets (`relphot_core.qc.problems.find_problems`,
        with the control charts ``control``) and keep them (`relphot_core.store.problems.sync`:
        identities, states and events), one transaction per filter.

        Returns
        -------
        dict
            Per filter, the counts of problems opened, grown, regressed,
            gone, back and unchanged.
        """
        from ..config import FILTERS, Control
        from ..qc.problems import find_problems

        control = control or Control()
        failures = self.failures()
        out: dict[str, dict[str, int]] = {}
        for band in (filters or FILTERS):
            with self._read() as conn:  # the control charts are find_problems' own: no trend needed
                table = queries.problem_input(conn, band)
            own = failures[failures["filter"].astype(object) == band] if not failures.empty else None
            if table.empty and (own is None or own.empty) and not self._has_problems(band):
                continue
            # the detectors' series: their drifts too little for a flag (no detector rows: nothing to read)
            detectors = self.detector_table(band) if len(table) else None
            found = find_problems(table, band, control, failures=own, detectors=detectors)
            ids = dict(zip(zip(table["obs_id"].tolist(), table["exposure"].tolist()), table["exposure_pk"].tolist()))
            out[band] = self._write_retrying(f"cannot store the problems of {band}", lambda conn: problem_rows.sync(
                conn, band, found, by=by, exposure_ids=ids))
        loose = failures[failures["filter"].isna()] if not failures.empty else failures
        if not loose.empty or self._has_problems(""):
            found = find_problems(loose.iloc[0:0].reindex(columns=["obs_id", "exposure", "mjd_obs", "value", "error",
                                                                  "status", "reason"]), "", control, failures=loose)
            out[""] = self._write_retrying("cannot store the problems of failed catalogues",
                                           lambda conn: problem_rows.sync(conn, "", found, by=by))
        return out

    def _has_problems(self, filter: str) -> bool:
        with self._read() as conn:
            return bool(conn.execute(select(func.count()).select_from(problem_rows.P)
                                     .where(problem_rows.P.c.filter == filter)).scalar())

    def problems(self, filter: str | Sequence[str] | None = None, *, states: Sequence[str] | None = None,
                 kinds: Sequence[str] | None = None, current: bool | None = True, awaiting: bool | None = None,
                 limit: int | None = None) -> pd.DataFrame:
        """Stored problems, worst first (`relphot_core.store.problems.PROBLEM_COLUMNS`
        with ``n_awaiting`` and ``n_reviewed``: its exposures awaiting review
        and reviewed at their current status).

        Parameters
        ----------
        filter : str or sequence of str, optional
        states, kinds : sequence of str, optional
            `relphot_core.qc.problems.PROBLEM_STATES` / ``PROBLEM_KINDS``.
        current : bool or None
            Found by the latest computation (default), not (gone), or both (None).
        awaiting : bool or None
            Only those with (True) or without (False) exposures awaiting review.
        limit : int, optional
        """
        filters = [filter] if isinstance(filter, str) else (list(filter) if filter is not None else None)
        with self._read() as conn:
            return problem_rows.read(conn, filters=filters, states=states, kinds=kinds, current=current,
                                     awaiting=awaiting, limit=limit)

    def problem(self, problem_id: int) -> pd.Series:
        """One problem (a row of `problems`, current or not).

        Raises
        ------
        KeyError
            No such problem.
        """
        with self._read() as conn:
            frame = problem_rows.read(conn, problem_id=int(problem_id), current=None)
        if frame.empty:
            raise KeyError(f"no problem {problem_id}")
        return frame.iloc[0]

    def problem_exposures(self, problem_id: int) -> pd.DataFrame:
        """The exposures of a problem with their role and review state
        (`relphot_core.store.problems.exposures`)."""
        with self._read() as conn:
            return problem_rows.exposures(conn, int(problem_id))

    def problem_events(self, problem_id: int | None = None, *, since: Any = None) -> pd.DataFrame:
        """The life of the problems (or of one): opened, grew, regressed,
        gone, back and the leads' actions, oldest first."""
        with self._read() as conn:
            return problem_rows.events(conn, problem_id, since=since)

    def exposure_problems(self, filter: str) -> pd.DataFrame:
        """The current problem of each exposure of a filter that has one:
        obs_id, exposure, problem_id, problem_kind, role."""
        with self._read() as conn:
            return problem_rows.exposure_problems(conn, filter)

    def observation_problems(self) -> pd.DataFrame:
        """The current problems (neither resolved nor ignored) of each
        (observation, filter): obs_id, filter, problems (titles, worst
        first), n_problems (`relphot_core.store.problems.observation_problems`)."""
        with self._read() as conn:
            return problem_rows.observation_problems(conn)

    def problems_version(self) -> int:
        """Changes with every problem event: key caches of problems on it."""
        with self._read() as conn:
            return problem_rows.version(conn)

    def set_problem_state(self, problem_id: int, action: str, by: str, *, comment: str = "",
                          expected_version: int | None = None) -> int:
        """Acknowledge, resolve, ignore or reopen a problem
        (`relphot_core.store.problems.set_state`); returns its new version.
        Who may is the caller's check (a lead)."""
        with self._write(f"cannot change problem {problem_id}") as conn:
            return problem_rows.set_state(conn, int(problem_id), action, by, comment=comment,
                                          expected_version=expected_version)

    def review_problem(self, problem_id: int, decision: str, reviewer: str, comment: str = "", *,
                       cause: str = "", auth_mode: str | None = None,
                       expected: Mapping[tuple[int, str, int], int | None] | None = None) -> int | None:
        """Confirm or overrule a problem: one review batch over all its
        exposures, each recorded as about the problem (its flag kind and
        reason), with how the reviewer was known (``auth_mode``), refused
        (`relphot_core.reviews.StaleReviewError`) when an exposure's latest
        review is not the ``expected`` one the page showed. Revoking
        the batch (`revoke_review_batch`) restores the queue as it was.
        Returns the batch id (None: no exposure).

        Raises
        ------
        KeyError
            No such problem. ValueError: bad decision, cause or no reviewer.
        """
        from ..qc.problems import PROBLEM_FLAG_KIND

        check_review(decision, reviewer, comment, cause, reason_required=False)
        row = self.problem(problem_id)
        with self._write(f"cannot review problem {problem_id}") as conn:
            keys = problem_rows.review_keys(conn, int(problem_id))
            if not keys:
                return None
            known = review_rows.targets(conn, sorted({(o, f) for o, f, _ in keys}))
            _refuse_stale(conn, known, expected)
            kind = PROBLEM_FLAG_KIND.get(str(row["kind"]))
            about = {key: (kind or known[key]["flag_kind"], f"{row['title']}: {row['reason']}") for key in keys}
            return review_rows.insert_batch(conn, [known[k] for k in keys], keys, decision, reviewer, comment,
                                            cause, about, auth_mode, problem_id=int(problem_id))

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
                chosen = light[awaits_review(light)]
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

    def reviews(self, obs_id: int | None = None, filter: str | None = None, *, search: str | None = None,
                batch_id: int | None = None, include_revoked: bool = True) -> pd.DataFrame:
        """Every review, oldest first: id, obs_id, filter, exposure, decision,
        reviewer, comment, created, run_id, status (the status reviewed),
        cause, flag_kind and flag_reason (the flag the decision was about),
        batch_id, revoked_at, revoked_by.

        ``search`` keeps the reviews whose comment, cause, reviewer, flag
        reason or obs id contains every word (case-insensitive);
        ``include_revoked`` False leaves revoked reviews out."""
        with self._read() as conn:
            return review_rows.review_rows(conn, obs_id, filter, search=search, batch_id=batch_id,
                                           include_revoked=include_revoked)

    def review_batches(self) -> pd.DataFrame:
        """Every review batch, oldest first: batch_id, created, reviewer,
        decision, comment, cause, n_reviews, revoked_at, revoked_by."""
        with self._read() as conn:
            return review_rows.batch_rows(conn)

