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
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import pandas as pd
from sqlalchemy import and_, func, insert, select, tuple_, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ..errors import StoreError
from ..results import ObservationResult
from . import batches, queries
from .engine import make_engine, mask_url, write_engine
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
from .schema import short_error, ensure_current
from .records import build_factor_results, build_result
from .writes import prepare, refresh_current, result_label, save_batch

O = Observation.__table__
E = Exposure.__table__
F = ExposureFactorRow.__table__
R = ProcessingRun.__table__
V = Review.__table__


class Store:
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

    # ----------------------------------------------------------------- write
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
        what = f"cannot save {result_label(result)}"
        for attempt in range(2):
            try:
                with self._writer.begin() as conn:
                    return save_batch(conn, [result], imported=imported)[0]
            except IntegrityError as exc:
                # A concurrent writer stored the same run first (PostgreSQL):
                # look again, the retry finds it and stores nothing.
                if attempt == 0:
                    continue
                raise StoreError(self.url, f"{what}: nothing written ({short_error(exc)})") from None
            except SQLAlchemyError as exc:
                raise StoreError(self.url, f"{what}: nothing written ({short_error(exc)})") from None
        raise AssertionError("unreachable")  # pragma: no cover

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

    # --------------------------------------------------------------- batches
    def recorded_inputs(self, params_digest: str) -> dict[str, "batches.RecordedInput"]:
        """The input files recorded for a parameter set, by absolute path
        (`relphot_core.store.writes.params_digest` of the run parameters)."""
        with self._read() as conn:
            return batches.recorded_inputs(conn, params_digest)

    def save_set(self, result: ObservationResult, files: Sequence[Any], params_digest: str) -> int | None:
        """Store one set's result and the files it was computed from, in one
        transaction, and resolve the set's open processing failures.

        Parameters
        ----------
        result : ObservationResult
        files : sequence
            Objects with ``path``, ``dither``, ``size``, ``mtime_ns`` and
            ``sha256`` (`relphot_core.inputs.CatalogFile`).
        params_digest : str
            The digest the inputs are recorded under.

        Returns
        -------
        int or None
            As `save_result`: None when an identical run was stored before
            (the inputs are recorded all the same).
        """
        return self.save_sets([(result, files)], params_digest)[0]

    def save_sets(self, items: Sequence[tuple[ObservationResult, Sequence[Any]]],
                  params_digest: str) -> list[int | None]:
        """`save_set` for many sets in one transaction: all or nothing."""
        what = "cannot save " + (result_label(items[0][0]) if len(items) == 1 else f"{len(items)} sets")
        for attempt in range(2):
            try:
                with self._writer.begin() as conn:
                    run_ids = save_batch(conn, [result for result, _ in items])
                    for (result, files), run_id in zip(items, run_ids):
                        observation_id = batches.observation_row_id(conn, int(result.obs_id), result.filter)
                        assert observation_id is not None
                        if run_id is None:
                            p = prepare(result)
                            run_id_known = batches.run_of(conn, observation_id, p.method, p.input_digest,
                                                          p.params_digest)
                        else:
                            run_id_known = run_id
                        batches.record_inputs(
                            conn, observation_id, params_digest,
                            [(f.path, int(f.dither), int(f.size), int(f.mtime_ns), f.sha256) for f in files],
                            run_id_known,
                        )
                        batches.resolve_failures(conn, int(result.obs_id), result.filter,
                                                 [f.path for f in files])
                    return run_ids
            except IntegrityError as exc:
                if attempt == 0:  # a concurrent batch stored the same set first: look again
                    continue
                raise StoreError(self.url, f"{what}: nothing written ({short_error(exc)})") from None
            except SQLAlchemyError as exc:
                raise StoreError(self.url, f"{what}: nothing written ({short_error(exc)})") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def touch_inputs(self, params_digest: str, files: Sequence[tuple[str, int, int]]) -> None:
        """Record the new (size, mtime_ns) of files whose content was found
        unchanged, so that the next batch tells it from size and time alone."""
        if files:
            with self._write("cannot update input files") as conn:
                batches.touch_inputs(conn, params_digest, files)

    def record_failure(self, failure: Any, params_digest: str) -> int:
        """Record a processing failure (`relphot_core.inputs.SetFailure`:
        ``kind``, ``path``, ``reason``, ``files``, ``obs_id``, ``filter``).

        The same open failure met again counts one more attempt. Returns
        the failure's id.
        """
        with self._write(f"cannot record the failure of {failure.path}") as conn:
            return batches.record_failure(
                conn, kind=failure.kind, path=str(failure.path), reason=failure.reason,
                files=[str(f) for f in failure.files] or [str(failure.path)], params_digest=params_digest,
                obs_id=failure.obs_id, filter=failure.filter,
            )

    def failures(self, *, open_only: bool = True, obs_id: int | None = None,
                 filter: str | None = None) -> pd.DataFrame:
        """Processing failures, newest first: ``id, obs_id, filter, kind,
        path, files, reason, created, last_seen, attempts, resolved``.

        Parameters
        ----------
        open_only : bool
            Only those not resolved by a later batch (default).
        """
        with self._read() as conn:
            rows = conn.execute(batches.failures_query(open_only=open_only, obs_id=obs_id, filter=filter)).all()
        frame = pd.DataFrame([tuple(r) for r in rows], columns=list(batches.FAILURE_COLUMNS))
        frame["obs_id"] = frame["obs_id"].astype("Int64")
        for column in ("created", "last_seen", "resolved"):
            frame[column] = pd.to_datetime(frame[column], utc=True)
        return frame

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

    def data_version(self) -> str:
        """A token that changes whenever what the read API returns may have
        changed (a run saved, a review added, a pin set or cleared): key
        caches of tables on it."""
        stmt = select(
            select(func.max(R.c.id)).scalar_subquery(),
            select(func.max(V.c.id)).scalar_subquery(),
            select(func.count(R.c.id)).where(R.c.pinned).scalar_subquery(),
            select(func.sum(R.c.id)).where(R.c.pinned).scalar_subquery(),
        )
        with self._read() as conn:
            return ":".join(str(x or 0) for x in conn.execute(stmt).one())

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

    def exposure_table(self, selection: ExposureSelection | None = None, *,
                       limit: int | None = None) -> pd.DataFrame:
        """One row per selected exposure of the current runs (all by
        default; `relphot_core.selection` says which are selected), at most
        ``limit``.

        Columns: obs_id, filter, exposure, mjd_obs, date_obs, value, error,
        status, reason, n_pairs, n_matched, run_id, method, review_decision
        (None/'confirmed'/'overruled'), reviewer, review_comment, reviewed_at,
        reviewed (bool: the latest review was made on the current status).
        Ordered by obs_id, filter, exposure.
        """
        with self._read() as conn:
            return queries.exposure_table(conn, selection or ExposureSelection(), limit=limit)

    def observation_table(self, selection: ExposureSelection | None = None, *,
                          limit: int | None = None) -> pd.DataFrame:
        """One row per selected (obs_id, filter): those holding at least one
        selected exposure (all by default), at most ``limit``.

        Columns: obs_id, filter, mjd_start, mjd_end, n_exposures,
        worst_status (OK < WARN < FAIL < NODATA), n_ok, n_warn, n_fail,
        n_nodata, n_reviewed, run_id; the counts are of all the
        observation's exposures."""
        with self._read() as conn:
            return queries.observation_table(conn, selection or ExposureSelection(), limit=limit)

    def status_counts(self, selection: ExposureSelection | None = None) -> pd.DataFrame:
        """Columns filter, status, n_exposures, n_observations (current runs,
        selected exposures)."""
        with self._read() as conn:
            return queries.status_counts(conn, selection or ExposureSelection())

    def trend(
        self, filter: str, selection: ExposureSelection | None = None, *, window: int | None = None,
        nsigma: float | None = None, control: Any = None,
    ) -> pd.DataFrame:
        """The exposure table of one filter ordered by mjd_obs, with the
        control charts (`relphot_core.store.queries.add_control_chart`:
        running_median, control_low, control_high, alarm, alarm_reason,
        drift_since, alarmed); ``control`` is the rules'
        `relphot_core.config.Control` (default: the defaults).

        The chart is computed over the whole series of the filter (defaults
        from `relphot_core.config.Thresholds`), then ``selection`` (its
        filters aside) selects rows.
        """
        with self._read() as conn:
            df = queries.exposure_table(conn, ExposureSelection(filters=(filter,)), order_by_mjd=True)
        df = queries.add_control_chart(df, window=window, nsigma=nsigma, control=control)
        if selection is not None:
            df = select_exposures(df, replace(selection.criteria(), filters=(filter,))).reset_index(drop=True)
        return df

    def detector_table(self, filter: str) -> pd.DataFrame:
        """One row per (observation, dither, detector) of one filter's
        current runs: obs_id, exposure, detector, mjd_obs, offset (detector
        median minus the exposure's mag_offset, mag), error, n, status;
        ordered by detector then time (`relphot_core.store.detectors.detector_table`)."""
        from . import detectors

        with self._read() as conn:
            return detectors.detector_table(conn, filter)

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

