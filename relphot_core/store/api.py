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

`Store` owns the engine, the connections and the transactions (``_read``,
``_write``, ``_write_retrying``); each method opens one and hands it to a
per-entity module of functions taking a `~sqlalchemy.engine.Connection`:
results and runs (`relphot_core.store.result_rows`, saving in
`relphot_core.store.writes`), input files and failures
(`relphot_core.store.batches`), reviews (`relphot_core.store.review_rows`),
problems (`relphot_core.store.problems`), the tables of a selection
(`relphot_core.store.queries`, `relphot_core.store.detectors`), choices of
runs and pointings (`relphot_core.store.survey_rows`), users
(`relphot_core.store.user_rows`), the batches' log and news
(`relphot_core.store.batch_log`) and the alerts' digests and deliveries
(`relphot_core.store.alert_rows`).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ..compare import RunChoice
from ..config import FILTERS
from ..errors import StoreError
from ..identity import Role, parse_role
from ..qc.flags import awaits_review
from ..results import ObservationResult
from ..reviews import check_review
from ..selection import ExposureSelection, select_exposures
from . import (
    alert_rows,
    batch_log,
    batches,
    problems as problem_rows,
    queries,
    result_rows,
    review_rows,
    survey_rows,
    user_rows,
)
from .engine import make_engine, mask_url, missing_sqlite_file, write_engine
from .models import utcnow
from .schema import ensure_current, short_error
from .user_rows import UserRecord
from .writes import result_label, save_batch


class Store:
    """Runs, factors and reviews of relphot in a SQL database.

    Use `Store.open`; close with `close` or a ``with`` block.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = write_engine(engine)

    # ------------------------------------------------------------------ life
    @classmethod
    def open(cls, url: str | None = None, *, migrate: bool = True, create: bool = True) -> Store:
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

    def __enter__(self) -> Store:
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

    # ------------------------------------------------------ results and runs
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
            return result_rows.data_version(conn)

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
            return result_rows.reviews_since(conn, version, filter)

    def is_empty(self) -> bool:
        """True when no run is stored."""
        with self._read() as conn:
            return result_rows.is_empty(conn)

    def load_result(self, obs_id: int, filter: str, run_id: int | None = None) -> ObservationResult:
        """One run of (obs_id, filter), by default the current one, in full.

        Raises
        ------
        KeyError
            If the observation has no such run.
        """
        with self._read() as conn:
            return result_rows.load_result(conn, obs_id, filter, run_id)

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
        stmt = result_rows.current_observations(obs_ids, filter, since, selection)
        with self._read() as conn:
            observations = conn.execute(stmt).all()
        chunk = 500 if not details else 1
        for start in range(0, len(observations), chunk):
            with self._read() as conn:
                results = result_rows.current_results(conn, observations[start:start + chunk], details=details)
            yield from results

    def runs(self, obs_id: int, filter: str) -> pd.DataFrame:
        """The runs of (obs_id, filter), oldest first: run_id, created, method,
        software_version, imported, pinned, parameters (dict), input_digest,
        current (bool). Empty if the observation is unknown."""
        with self._read() as conn:
            return result_rows.runs(conn, obs_id, filter)

    def neighbours(self, obs_id: int, filter: str | None = None) -> tuple[int | None, int | None]:
        """The previous and next observation ids (with a current run, in the
        filter if given) around ``obs_id``."""
        with self._read() as conn:
            return result_rows.neighbours(conn, obs_id, filter)

    def next_flagged(self, obs_id: int, filter: str, *, before: bool = False, control: Any = None) -> int | None:
        """The next observation id after ``obs_id`` (the previous one with
        ``before``) of a filter with a flagged exposure in its current run, by
        the flag model (`relphot_core.qc.flags.next_flagged`: status, detector,
        cross-check and control-chart alarm, the latter over the filter's
        series with ``control``). Reads the filter's whole trend: a page with
        the table at hand asks `relphot_core.qc.flags.next_flagged` itself."""
        from ..qc.flags import next_flagged

        return next_flagged(self.trend(filter, control=control), obs_id, before=before)

    # --------------------------------------------------- inputs and failures
    def recorded_inputs(self, params_digest: str) -> dict[str, batches.RecordedInput]:
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
        # a concurrent batch may store the same set first: the retry finds it
        return self._write_retrying(what, partial(batches.save_sets, items=items, params_digest=params_digest),
                                    attempts=2)

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
            return batches.failures(conn, open_only=open_only, obs_id=obs_id, filter=filter)

    # ---------------------------------------------------------------- tables
    def exposure_table(self, selection: ExposureSelection | None = None, *,
                       limit: int | None = None,
                       observations: Sequence[tuple[int, str]] | None = None) -> pd.DataFrame:
        """One row per selected exposure of the current runs (all by
        default; `relphot_core.selection` says which are selected), at most
        ``limit``; ``observations``: of those (obs_id, filter) only (each
        an indexed look-up: a few hundred cost milliseconds).

        Columns: obs_id, filter, exposure, mjd_obs, date_obs, value, error,
        status, reason, n_pairs, n_matched, run_id, method, review_decision
        (None/'confirmed'/'overruled'), reviewer, review_comment, reviewed_at,
        reviewed (bool: the latest review was made on the current status).
        Ordered by obs_id, filter, exposure.
        """
        with self._read() as conn:
            return queries.exposure_table(conn, selection or ExposureSelection(), limit=limit,
                                          observations=observations)

    def observation_table(self, selection: ExposureSelection | None = None, *,
                          limit: int | None = None,
                          observations: Sequence[tuple[int, str]] | None = None) -> pd.DataFrame:
        """One row per selected (obs_id, filter): those holding at least one
        selected exposure (all by default), at most ``limit``;
        ``observations``: among those (obs_id, filter) only.

        Columns: obs_id, filter, mjd_start, mjd_end, n_exposures,
        worst_status (OK < WARN < FAIL < NODATA), n_ok, n_warn, n_fail,
        n_nodata, n_reviewed, run_id; the counts are of all the
        observation's exposures."""
        with self._read() as conn:
            return queries.observation_table(conn, selection or ExposureSelection(), limit=limit,
                                             observations=observations)

    def exposure_count(self, selection: ExposureSelection | None = None) -> int:
        """How many rows `exposure_table` gives without a limit."""
        with self._read() as conn:
            return queries.exposure_count(conn, selection or ExposureSelection())

    def observation_count(self, selection: ExposureSelection | None = None) -> int:
        """How many rows `observation_table` gives without a limit."""
        with self._read() as conn:
            return queries.observation_count(conn, selection or ExposureSelection())

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

    def detector_table(self, filter: str, since: Mapping[int, float] | None = None) -> pd.DataFrame:
        """One row per (observation, dither, detector) of one filter's
        current runs: obs_id, exposure, detector, mjd_obs, offset (detector
        median minus the exposure's mag_offset, mag), error, n, status;
        ordered by detector then time (`relphot_core.store.detectors.detector_table`;
        ``since``: ``{detector: MJD}``, only those detectors from those times on)."""
        from . import detectors

        with self._read() as conn:
            return detectors.detector_table(conn, filter, since)

    # ---------------------------------------------------------------- survey
    def choice_factors(self, choice: RunChoice, filters: Iterable[str] = FILTERS) -> tuple[pd.DataFrame,
                                                                                            pd.DataFrame]:
        """The factors and runs of a choice of runs.

        Returns
        -------
        factors : pandas.DataFrame
            One row per exposure of each chosen run: obs_id, filter,
            exposure, run_id, value, error, status.
        runs : pandas.DataFrame
            The chosen runs' run_id, software_version, params_digest,
            parameters (dict), created.
        """
        with self._read() as conn:
            return survey_rows.choice_factors(conn, choice, filters)

    def current_parameter_values(self, keys: Sequence[str]) -> dict[str, set[str]]:
        """The values of run parameters (``"thresholds.warn"``, ...) the
        current runs were computed with: ``key -> {value, ...}`` (a key no
        current run records is absent; `relphot_core.store.survey_rows.current_parameter_values`)."""
        with self._read() as conn:
            return survey_rows.current_parameter_values(conn, keys)

    def pointings(self) -> pd.DataFrame:
        """The pointing of every (obs_id, filter) with a current run: obs_id,
        filter, ra, dec (degrees, NaN when the catalogues did not give it),
        mjd_start; ordered by obs_id, filter."""
        with self._read() as conn:
            return survey_rows.pointings(conn)

    def context_tables(self, filter: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The context of one filter's current factors, for
        `relphot_core.survey.exposure_context`.

        Returns
        -------
        factors : pandas.DataFrame
            obs_id, exposure, mjd_obs, n_matched, n_kept; by mjd_obs.
        pairs : pandas.DataFrame
            obs_id, exposure_a, exposure_b, sigma (mag) of the same runs.
        """
        with self._read() as conn:
            return survey_rows.context_tables(conn, filter)

    # ----------------------------------------------------------------- users
    def add_user(self, name: str, role: Role | str, password_hash: str | None = None) -> None:
        """Add a user.

        Raises
        ------
        ValueError
            A bad name or role, or a user of that name exists.
        """
        name, role = user_rows.clean_name(name), parse_role(role)
        with self._write(f"cannot add user {name}") as conn:
            user_rows.add_user(conn, name, role, password_hash)

    def remove_user(self, name: str) -> None:
        """Remove a user and their tokens (their reviews keep their name).

        Raises
        ------
        KeyError
            No such user.
        """
        with self._write(f"cannot remove user {name}") as conn:
            user_rows.remove_user(conn, name)

    def set_user_role(self, name: str, role: Role | str) -> None:
        """Change a user's role (their next request has it)."""
        role = parse_role(role)
        with self._write(f"cannot change the role of {name}") as conn:
            user_rows.set_user_role(conn, name, role)

    def set_user_password(self, name: str, password_hash: str) -> None:
        """Replace a user's password hash."""
        with self._write(f"cannot change the password of {name}") as conn:
            user_rows.set_user_password(conn, name, password_hash)

    def user(self, name: str) -> UserRecord | None:
        """A user by name (None if there is none)."""
        with self._read() as conn:
            return user_rows.user(conn, name)

    def users(self) -> pd.DataFrame:
        """Every user: name, role, created, has_password, active_tokens (no hash)."""
        with self._read() as conn:
            return user_rows.users(conn)

    def add_token(self, name: str, digest: str, label: str = "") -> int:
        """Store an API token's digest for a user; returns the token id."""
        with self._write(f"cannot add a token for {name}") as conn:
            return user_rows.add_token(conn, name, digest, label)

    def revoke_token(self, token_id: int) -> None:
        """Revoke an API token (kept, no longer accepted).

        Raises
        ------
        KeyError
            No such token. ValueError: revoked already.
        """
        with self._write(f"cannot revoke token {token_id}") as conn:
            user_rows.revoke_token(conn, token_id)

    def tokens(self, name: str | None = None) -> pd.DataFrame:
        """API tokens (id, user, label, created, revoked_at; never the digest)."""
        with self._read() as conn:
            return user_rows.tokens(conn, name)

    def token_user(self, digest: str) -> UserRecord | None:
        """The user of a valid (not revoked) token digest, or None."""
        with self._read() as conn:
            return user_rows.token_user(conn, digest)

    def user_by_id(self, user_id: int) -> UserRecord | None:
        """A user by id (the session's), or None."""
        with self._read() as conn:
            return user_rows.user_by_id(conn, user_id)

    # ------------------------------------------------------ pins and reviews
    def pin_run(self, run_id: int) -> None:
        """Make a run the current one of its observation until `unpin`.

        Raises
        ------
        KeyError
            If there is no such run.
        """
        with self._write(f"cannot pin run {run_id}") as conn:
            result_rows.pin_run(conn, run_id)

    def unpin(self, obs_id: int, filter: str) -> None:
        """Return (obs_id, filter) to "latest run is current".

        Raises
        ------
        KeyError
            If the observation is not in the store.
        """
        with self._write(f"cannot unpin observation {obs_id} {filter}") as conn:
            result_rows.unpin(conn, obs_id, filter)

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
            return review_rows.add_review(conn, obs_id, filter, exposures, decision, reviewer, comment, cause,
                                          about, expected, auth_mode)

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
            return review_rows.add_reviews(conn, wanted, decision, reviewer, comment, cause, about, expected,
                                           auth_mode)

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
                        by: str = "relphot", from_start: bool = False) -> dict[str, dict[str, int]]:
        """Compute the problems of each filter from its current runs and
        its detectors' offsets (`relphot_core.qc.resume.filter_problems`,
        with the control charts ``control``) and keep them (`relphot_core.store.problems.sync`:
        identities, states and events), one transaction per filter.

        After a filter's first computation, a batch that only adds
        observations after its last one is computed from the tail of the
        season, where its control charts may start again (what the store
        keeps of each filter's charts, `relphot_core.qc.resume`); anything
        else (a reprocessed or removed observation, other control
        parameters, ``from_start``) computes the filter from its first night.

        Returns
        -------
        dict
            Per filter, the counts of problems opened, grown, regressed,
            gone, back and unchanged.
        """
        import json

        from ..config import FILTERS, Control
        from ..qc import resume
        from ..qc.problems import find_problems

        control = control or Control()
        key = resume.control_key(control)
        failures = self.failures()
        out: dict[str, dict[str, int]] = {}
        for band in (filters or FILTERS):
            start = None
            with self._read() as conn:
                chart = None if from_start else problem_rows.read_chart(conn, band)
                runs = problem_rows.current_runs(conn, band, int(chart.max_run) if chart is not None else 0)
                if (chart is not None and chart.control_key == key and chart.exposure_since is not None
                        and problem_rows.only_appended(conn, band, chart, runs)):
                    start = resume.ChartStart(float(chart.exposure_since),
                                              {int(d): float(t) for d, t in json.loads(chart.detector_since).items()},
                                              chart.dither_scale, chart.detector_scale,
                                              resume.ChartStart.carried_from_json(chart.detector_carried))
                table = queries.problem_input(conn, band, since=start.exposure_since if start else None,
                                              before=problem_rows.flagged_detector_exposures(band))
                n_runs, run_sum, max_run, *_ = runs
            own = failures[failures["filter"].astype(object) == band] if not failures.empty else None
            if table.empty and (own is None or own.empty) and not self._has_problems(band):
                continue
            # the detectors' series: their drifts too little for a flag (no detector rows: nothing to read)
            detectors = None
            if len(table) and (start is None or start.detector_since):
                detectors = self.detector_table(band, since=start.detector_since if start else None)
            found = resume.filter_problems(table, band, control, start, failures=own, detectors=detectors)
            tail = table[table["mjd_obs"] >= start.exposure_since] if start is not None else table
            ids = dict(zip(zip(tail["obs_id"].tolist(), tail["exposure"].tolist()), tail["exposure_pk"].tolist()))
            following = found.next_start
            chart_row = None if following is None else {
                "filter": band, "control_key": key, "dither_scale": following.dither_scale,
                "detector_scale": following.detector_scale, "exposure_since": following.exposure_since,
                "detector_since": json.dumps({str(d): t for d, t in sorted(following.detector_since.items())}),
                "detector_carried": following.carried_json(),
                "last_mjd": float(table["mjd_obs"].max()), "n_runs": n_runs, "run_sum": run_sum,
                "max_run": max_run, "computed_at": utcnow()}

            def store_them(conn: Connection, band: str = band, found: Any = found, ids: Any = ids,
                           since: float | None = start.exposure_since if start else None,
                           chart_row: dict[str, Any] | None = chart_row) -> dict[str, int]:
                counts = problem_rows.sync(conn, band, found.problems, by=by, exposure_ids=ids,
                                           frozen_before=since)
                if chart_row is not None:
                    problem_rows.write_chart(conn, chart_row)
                else:
                    problem_rows.forget_chart(conn, band)
                return counts

            out[band] = self._write_retrying(f"cannot store the problems of {band}", store_them)
        loose = failures[failures["filter"].isna()] if not failures.empty else failures
        if not loose.empty or self._has_problems(""):
            found_loose = find_problems(loose.iloc[0:0].reindex(columns=["obs_id", "exposure", "mjd_obs", "value",
                                                                        "error", "status", "reason"]), "", control,
                                        failures=loose)
            out[""] = self._write_retrying("cannot store the problems of failed catalogues",
                                           lambda conn: problem_rows.sync(conn, "", found_loose, by=by))
        self._analyze(("review", "problem_exposure"))
        return out

    def _analyze(self, tables: Sequence[str]) -> None:
        """Refresh SQLite's statistics of small, fast-changing tables, so that
        its planner walks the few reviews rather than the problems' hundreds
        of thousands of exposures (`relphot_core.store.problems.read`: 0.5 s
        -> 5 ms at 480,000 factors). PostgreSQL's autovacuum does this itself."""
        if self.engine.dialect.name != "sqlite":
            return
        with self._write("cannot refresh the statistics") as conn:
            for table in tables:
                conn.exec_driver_sql(f"ANALYZE {table}")

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

    def problem_summary(self, filter: str | Sequence[str] | None = None, *, states: Sequence[str] | None = None,
                        kinds: Sequence[str] | None = None, current: bool | None = True,
                        awaiting: bool | None = None) -> dict[str, int]:
        """How many problems `problems` gives for the same arguments
        (``problems``), their exposures awaiting review (``awaiting``) and
        how many are ongoing (``ongoing``), without reading them."""
        filters = [filter] if isinstance(filter, str) else (list(filter) if filter is not None else None)
        with self._read() as conn:
            return problem_rows.summary(conn, filters=filters, states=states, kinds=kinds, current=current,
                                        awaiting=awaiting)

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
            review_rows.refuse_stale(conn, known, expected)
            kind = PROBLEM_FLAG_KIND.get(str(row["kind"]))
            about = {key: (kind or known[key]["flag_kind"], f"{row['title']}: {row['reason']}") for key in keys}
            return review_rows.insert_batch(conn, [known[k] for k in keys], keys, decision, reviewer, comment,
                                            cause, about, auth_mode, problem_id=int(problem_id))

    # ------------------------------------------------------------------ read
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


    # ------------------------------------------------ batches, visits, news
    def start_batch(self, **values: Any) -> int:
        """Record a batch that starts now (`relphot_core.store.batch_log.start`:
        command, host, software_version, params_digest, sets_planned,
        sets_computed); returns its id for `finish_batch`."""
        with self._write("cannot record the batch") as conn:
            return batch_log.start(conn, **values)

    def finish_batch(self, batch_id: int, **values: Any) -> None:
        """Complete a batch's record (`relphot_core.store.batch_log.finish`:
        new_runs, same_runs, failures, statuses, problems, exit_status)."""
        with self._write(f"cannot record the end of batch {batch_id}") as conn:
            batch_log.finish(conn, int(batch_id), **values)

    def batches(self, *, since: Any = None, limit: int | None = None, finished_only: bool = False) -> pd.DataFrame:
        """The batches, newest first (`relphot_core.news.BATCH_COLUMNS`)."""
        with self._read() as conn:
            return batch_log.read(conn, since=since, limit=limit, finished_only=finished_only)

    def batch_totals(self) -> dict[str, int]:
        """Counts over every batch (`relphot_core.store.batch_log.totals`)."""
        with self._read() as conn:
            return batch_log.totals(conn)

    def last_batch_started(self) -> Any:
        """When the latest batch started (a UTC datetime, None before the first)."""
        with self._read() as conn:
            return batch_log.last_started(conn)

    def record_visit(self, name: str, *, now: Any = None) -> Any:
        """Note that ``name`` is here; returns when their previous visit
        ended (None on a first visit; `relphot_core.store.batch_log.record_visit`)."""
        with self._write(f"cannot record the visit of {name}") as conn:
            return batch_log.record_visit(conn, name, now=now)

    def previous_visit(self, name: str) -> Any:
        """When ``name``'s previous visit ended (None: first visit), without recording one."""
        with self._read() as conn:
            return batch_log.previous_visit(conn, name)

    def news(self, since: str | None = "batch", *, user: str | None = None, filters: Sequence[str] | None = None,
             now: Any = None) -> Any:
        """What is new since a moment (`relphot_core.news.News`).

        Parameters
        ----------
        since : str
            ``"batch"`` (the start of the last batch), ``"day"``, ``"visit"``
            (``user``'s previous visit) or an ISO time
            (`relphot_core.news.resolve_since`).
        user : str, optional
            Whose visit ``"visit"`` means.
        filters : sequence of str, optional
            Only these filters.

        Raises
        ------
        ValueError
            An unknown ``since``.
        """
        from ..news import resolve_since

        with self._read() as conn:
            moment = resolve_since(since, last_batch=batch_log.last_started(conn),
                                   previous_visit=batch_log.previous_visit(conn, user) if user else None, now=now)
            return batch_log.news(conn, moment, filters=list(filters) if filters else None)

    # ---------------------------------------------------------------- alerts
    def alert_batches_to_scan(self) -> list[tuple[int, datetime]]:
        """The finished batches the alerts have not looked at, oldest first,
        as ``(id, started)`` (`relphot_core.store.alert_rows.batches_to_scan`)."""
        with self._read() as conn:
            return alert_rows.batches_to_scan(conn)

    def record_alerts(self, events: Sequence[Any], digest: Callable[[list[Any]], tuple[str, str]],
                      targets: Sequence[tuple[str, str]], *, batch_id: int | None = None,
                      now: datetime | None = None) -> tuple[int, list[Any]]:
        """Record the events not alerted yet as one digest, with a pending
        delivery per target.

        Parameters
        ----------
        events : sequence of relphot_core.alerts.AlertEvent
            Candidates (``key``, ``kind``, ``text``, ``problem_id``); those
            whose key is already recorded are left out.
        digest : callable
            ``digest(new_events) -> (title, body)``.
        targets : sequence of (target_id, masked URL)
        batch_id : int, optional
            The batch the events come from (marks it looked at).

        Returns
        -------
        (int, list)
            The digest's id and the new events (none: no delivery recorded).
        """
        when = now or utcnow()
        return self._write_retrying("cannot record the alerts", lambda conn: alert_rows.record(
            conn, events, digest, targets, batch_id=batch_id, now=when))

    def pending_alert_deliveries(self, target_ids: Sequence[str]) -> list[alert_rows.PendingDelivery]:
        """Deliveries still to send (pending or failed) to these targets, oldest first."""
        with self._read() as conn:
            return alert_rows.pending(conn, target_ids)

    def claim_alert_delivery(self, delivery: alert_rows.PendingDelivery, *, now: datetime | None = None) -> bool:
        """Take a delivery before sending it: count the attempt, unless
        another process took it since it was read (then False: do not send
        it twice). A process that dies while sending leaves it to the next run."""
        when = now or utcnow()
        return bool(self._write_retrying(f"cannot take alert delivery {delivery.id}",
                                         lambda conn: alert_rows.claim(conn, delivery, now=when)))

    def record_alert_delivery(self, delivery_id: int, error: str | None, *, max_attempts: int,
                              now: datetime | None = None) -> str:
        """Note the outcome of a delivery's sending (after
        `claim_alert_delivery`): ``error`` None when the target took it.
        Returns its outcome: sent, failed, or given_up once
        ``max_attempts`` sendings failed."""
        when = now or utcnow()
        return str(self._write_retrying(f"cannot record alert delivery {delivery_id}", lambda conn: (
            alert_rows.record_delivery(conn, delivery_id, error, max_attempts=max_attempts, now=when))))

    def alert_deliveries(self, *, failed_only: bool = False, since: datetime | None = None,
                         limit: int | None = 100) -> pd.DataFrame:
        """Deliveries, newest first (`relphot_core.store.alert_rows.DELIVERY_COLUMNS`).

        Parameters
        ----------
        failed_only : bool
            Only those not sent (failed, given up): what the dashboard shows.
        since : datetime, optional
            Only those tried (or recorded) after this moment.
        limit : int, optional
        """
        with self._read() as conn:
            return alert_rows.deliveries(conn, failed_only=failed_only, since=since, limit=limit)

    def alert_events(self, *, limit: int | None = 100) -> pd.DataFrame:
        """The events alerted, newest first (`relphot_core.store.alert_rows.EVENT_COLUMNS`)."""
        with self._read() as conn:
            return alert_rows.events(conn, limit=limit)
