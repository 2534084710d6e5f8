"""Typed ORM of the relphot store.

Tables
------
observation
    One row per (obs_id, filter), with its time span and pointing.
    ``current_run_id`` is a denormalised pointer to the current run (the
    pinned one, else the latest by ``created``); the store keeps it up to date
    on every save, pin and unpin, so "current values" are a join, not a
    subquery.
exposure
    One row per dither of an observation. ``latest_review_id`` points at the
    latest review of the exposure (denormalised, kept up to date by the store).
processing_run
    One computation (or import) of an observation: software version, method,
    every parameter, input digest, time. Runs are never deleted.
exposure_factor, pair_stat, detector_stat, match_sample
    What a run computed. Pairs, detectors and samples name exposures by their
    dither number within the run's observation.
input_file
    The catalogues an (observation, filter) set was last processed from,
    per parameter set: path, size, modification time and SHA-256. A batch
    skips a set whose files and parameters are unchanged without reading
    its tables.
processing_failure
    A set (or a catalogue) that could not be computed: when, which files,
    why. A QC fact, shown in the triage queue and the JSON API; resolved
    when a later batch processes it.
review
    A reviewer's decision on one exposure (a review of a whole observation is
    expanded to one row per exposure). Reviews hang on the exposure, not on
    the run, so a recomputation never loses them; ``run_id``, ``status``,
    ``flag_kind`` and ``flag_reason`` record what was reviewed, ``cause`` the
    reviewer's cause (`relphot_core.reviews.CAUSES`). A revoked review
    (``revoked_at`` set) stays but no longer counts: ``latest_review_id``
    skips it.
review_batch
    The reviews stored by one action (one exposure, an observation, or a
    bulk review of the triage queue): who, when, the decision, comment and
    cause, how many, how the reviewer was known (``auth_mode``), and the
    problem it reviewed when it was one. Revoking a batch revokes its reviews.
app_user
    The users of the dashboard's accounts mode: name, role (viewer,
    reviewer, lead, admin) and argon2 password hash
    (`relphot_core.identity`).
api_token
    The API tokens of scripts, stored as SHA-256 digests (the token is
    shown once), with their user and label; a revoked token stays, refused.
problem
    One QC problem: a cause with its exposures (`relphot_core.qc.problems`),
    its span, size now, state (open, acknowledged, resolved, ignored,
    regressed) with who and when, and its version. Identified across
    recomputations by ``fingerprint`` (kind, filter, subject).
problem_exposure
    The exposures of each problem and their role in it: ``primary`` or
    ``collateral``.
problem_event
    The life of each problem: opened, grew, regressed, gone, back, and the
    leads' actions, with who and when.
problem_chart
    Per filter, where its control charts may start again (the tail of the
    season, `relphot_core.qc.resume`) and the runs it was computed from: the
    next batch that only adds observations computes the problems from there.
batch
    The log of the batches, one row each (``relphot compute --db``, the
    demo's two), written when it starts and completed when it ends (duration, sets,
    runs, failures, exposures by status, problems found, exit status). What
    "since the last batch", the alerts' "no new data" and ``/metrics`` read.
user_visit
    When each signed-in user was last seen and when their previous visit
    ended: what "since your last visit" counts from.
alert_digest
    One message of the alerts, the events a batch brought (or a "no new
    data"), with its title and body as sent (`relphot_core.alerts`). A
    batch the alerts have looked at has one, even when it brought nothing.
alert_event
    Each event alerted, once: its de-duplication key (a problem's
    fingerprint and the event, an exposure, a failure), kind and text.
alert_delivery
    The sending of a digest to one target: the target's masked URL and
    digest (never its password), outcome (pending, sent, failed, given up),
    attempts, last error and time.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ..reviews import DECISIONS

DECISION_VALUES: tuple[str, ...] = DECISIONS


class UTCDateTime(TypeDecorator):
    """A timestamp stored as naive UTC and read back timezone-aware (UTC)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    """Declarative base of the store's tables."""

    # Every model here is mapped to one Table (no other FromClause): insert,
    # update and delete accept it.
    __table__: ClassVar[Table]


class Observation(Base):
    __tablename__ = "observation"
    __table_args__ = (
        UniqueConstraint("obs_id", "filter", name="uq_observation_obs_filter"),
        Index("ix_observation_filter_mjd", "filter", "mjd_start"),
        Index("ix_observation_current_run", "current_run_id"),
        # a filter's current runs counted and the new ones found from the index alone (after each batch)
        Index("ix_observation_filter_run", "filter", "current_run_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    obs_id: Mapped[int] = mapped_column(Integer)
    filter: Mapped[str] = mapped_column(String(16))
    mjd_start: Mapped[float | None] = mapped_column(Float)
    mjd_end: Mapped[float | None] = mapped_column(Float)
    ra_pointing: Mapped[float | None] = mapped_column(Float)
    dec_pointing: Mapped[float | None] = mapped_column(Float)
    pa_pointing: Mapped[float | None] = mapped_column(Float)
    current_run_id: Mapped[int | None] = mapped_column(
        Integer,
        ForeignKey("processing_run.id", use_alter=True, name="fk_observation_current_run"),
    )


class Exposure(Base):
    __tablename__ = "exposure"
    __table_args__ = (
        UniqueConstraint("observation_id", "dither", name="uq_exposure_obs_dither"),
        Index("ix_exposure_mjd", "mjd_obs"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    observation_id: Mapped[int] = mapped_column(ForeignKey("observation.id"))
    dither: Mapped[int] = mapped_column(Integer)
    mjd_obs: Mapped[float | None] = mapped_column(Float)
    date_obs: Mapped[str | None] = mapped_column(String(32))
    exptime: Mapped[float | None] = mapped_column(Float)
    file: Mapped[str | None] = mapped_column(Text)
    latest_review_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("review.id", use_alter=True, name="fk_exposure_latest_review")
    )


class ProcessingRun(Base):
    __tablename__ = "processing_run"
    __table_args__ = (
        UniqueConstraint(
            "observation_id", "method", "input_digest", "params_digest", name="uq_run_identity"
        ),
        Index("ix_run_observation_created", "observation_id", "created"),
        # partial: the few pinned runs, read by `Store.data_version` (which
        # otherwise scans every run, ~60 ms at survey size, on every check)
        # (each dialect's condition as SQLAlchemy writes ``R.c.pinned`` there:
        # SQLite uses a partial index only for the very same term)
        Index("ix_run_pinned", "id", sqlite_where=text("pinned = 1"), postgresql_where=text("pinned")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    observation_id: Mapped[int] = mapped_column(ForeignKey("observation.id"))
    created: Mapped[datetime] = mapped_column(UTCDateTime())
    software_version: Mapped[str] = mapped_column(String(64), default="")
    method: Mapped[str] = mapped_column(String(32))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    input_digest: Mapped[str] = mapped_column(String(128))
    params_digest: Mapped[str] = mapped_column(String(64))
    imported: Mapped[bool] = mapped_column(Boolean, default=False)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)


class ExposureFactorRow(Base):
    __tablename__ = "exposure_factor"
    __table_args__ = (
        UniqueConstraint("run_id", "exposure_id", name="uq_factor_run_exposure"),
        CheckConstraint(
            "status IN ('OK', 'WARN', 'FAIL', 'NODATA')", name="ck_factor_status"
        ),
        Index("ix_factor_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("processing_run.id"))
    exposure_id: Mapped[int] = mapped_column(ForeignKey("exposure.id"))
    value: Mapped[float | None] = mapped_column(Float)
    error: Mapped[float | None] = mapped_column(Float)
    mag_offset: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(Text, default="")
    n_pairs: Mapped[int] = mapped_column(Integer, default=0)
    n_matched: Mapped[int] = mapped_column(Integer, default=0)
    n_kept: Mapped[int] = mapped_column(Integer, default=0)
    n_sources: Mapped[int] = mapped_column(Integer, default=0)
    global_value: Mapped[float | None] = mapped_column(Float)
    """The global robust solution's factor, beside the product's value."""
    global_error: Mapped[float | None] = mapped_column(Float)
    crosscheck: Mapped[str] = mapped_column(Text, default="")
    """Why the value and the global solution disagree beyond their errors (empty: they agree)."""
    collateral: Mapped[str] = mapped_column(Text, default="")
    """Why a WARN/FAIL comes from flagged partners (empty: its own)."""
    detector_flag: Mapped[str | None] = mapped_column(String(8))
    """Worst detector status against the exposure (None: not computed)."""
    detector_reason: Mapped[str] = mapped_column(Text, default="")
    detector_worst: Mapped[int | None] = mapped_column(Integer)
    """The worst flagged detector (None when none is flagged)."""
    detector_offset: Mapped[float | None] = mapped_column(Float)
    """Its offset against the exposure (mag, positive = fainter)."""
    detector_offset_error: Mapped[float | None] = mapped_column(Float)


class PairStatRow(Base):
    __tablename__ = "pair_stat"
    __table_args__ = (Index("ix_pair_run", "run_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("processing_run.id"))
    exposure_a: Mapped[int] = mapped_column(Integer)
    exposure_b: Mapped[int] = mapped_column(Integer)
    median: Mapped[float | None] = mapped_column(Float)
    error: Mapped[float | None] = mapped_column(Float)
    sigma: Mapped[float | None] = mapped_column(Float)
    n_matched: Mapped[int] = mapped_column(Integer)
    n_kept: Mapped[int] = mapped_column(Integer)
    n_rejected: Mapped[int] = mapped_column(Integer)
    clip_low: Mapped[float | None] = mapped_column(Float)
    clip_high: Mapped[float | None] = mapped_column(Float)
    valid: Mapped[bool] = mapped_column(Boolean)


class DetectorStatRow(Base):
    __tablename__ = "detector_stat"
    __table_args__ = (Index("ix_detector_run", "run_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("processing_run.id"))
    exposure: Mapped[int] = mapped_column(Integer)
    detector: Mapped[int] = mapped_column(Integer)
    median: Mapped[float | None] = mapped_column(Float)
    error: Mapped[float | None] = mapped_column(Float)
    n: Mapped[int] = mapped_column(Integer)
    status: Mapped[str | None] = mapped_column(String(8))
    """Against its own exposure: OK, WARN, FAIL, NODATA (None: not computed)."""


class MatchSampleRow(Base):
    __tablename__ = "match_sample"
    __table_args__ = (Index("ix_sample_run", "run_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("processing_run.id"))
    exposure_a: Mapped[int] = mapped_column(Integer)
    exposure_b: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    """`relphot_core.store.samples.encode_sample`: compressed fixed-point arrays."""


class Review(Base):
    __tablename__ = "review"
    __table_args__ = (
        CheckConstraint("decision IN ('confirmed', 'overruled')", name="ck_review_decision"),
        Index("ix_review_exposure", "exposure_id"),
        Index("ix_review_batch", "batch_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    observation_id: Mapped[int] = mapped_column(ForeignKey("observation.id"))
    exposure_id: Mapped[int] = mapped_column(ForeignKey("exposure.id"))
    decision: Mapped[str] = mapped_column(String(16))
    reviewer: Mapped[str] = mapped_column(String(128))
    comment: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[datetime] = mapped_column(UTCDateTime())
    run_id: Mapped[int | None] = mapped_column(ForeignKey("processing_run.id"))
    """The run that was current when the review was made."""
    status: Mapped[str | None] = mapped_column(String(8))
    """The exposure's status in that run (what the reviewer confirmed or overruled)."""
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("review_batch.id", name="fk_review_batch"))
    """The action that stored it (None: stored before batches were kept)."""
    cause: Mapped[str] = mapped_column(String(32), default="", server_default="")
    """`relphot_core.reviews.CAUSES`, or empty."""
    flag_kind: Mapped[str | None] = mapped_column(String(16))
    """`relphot_core.reviews.FLAG_KINDS`: the flag the decision was about (None: before it was kept)."""
    flag_reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    """That flag's reason as shown to the reviewer."""
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by: Mapped[str | None] = mapped_column(String(128))


class ReviewBatch(Base):
    __tablename__ = "review_batch"
    __table_args__ = (
        CheckConstraint("decision IN ('confirmed', 'overruled')", name="ck_review_batch_decision"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime())
    reviewer: Mapped[str] = mapped_column(String(128))
    decision: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(Text, default="")
    cause: Mapped[str] = mapped_column(String(32), default="", server_default="")
    n_reviews: Mapped[int] = mapped_column(Integer)
    """How many exposures it reviewed."""
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by: Mapped[str | None] = mapped_column(String(128))
    problem_id: Mapped[int | None] = mapped_column(Integer, index=True)
    """The problem reviewed (`Problem.id`), when the batch reviewed a problem."""
    auth_mode: Mapped[str | None] = mapped_column(String(16))
    """How ``reviewer`` was known (`relphot_core.identity.AuthMode`): ``none``
    (typed, unauthenticated), ``proxy`` or ``accounts`` (signed in); None:
    stored before it was recorded (or by a script without an identity)."""
    revoked_auth_mode: Mapped[str | None] = mapped_column(String(16))
    """The same for ``revoked_by``."""


class AppUser(Base):
    __tablename__ = "app_user"
    __table_args__ = (
        UniqueConstraint("name", name="uq_app_user_name"),
        CheckConstraint("role IN ('viewer', 'reviewer', 'lead', 'admin')", name="ck_app_user_role"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    """`relphot_core.identity.Role`."""
    password_hash: Mapped[str | None] = mapped_column(Text)
    """argon2 hash (`relphot_core.identity.hash_password`); None: tokens only."""
    created: Mapped[datetime] = mapped_column(UTCDateTime())


class ApiToken(Base):
    __tablename__ = "api_token"
    __table_args__ = (UniqueConstraint("digest", name="uq_api_token_digest"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", name="fk_api_token_user"))
    digest: Mapped[str] = mapped_column(String(64))
    """`relphot_core.identity.token_digest` of the token (the token itself is shown once, never stored)."""
    label: Mapped[str] = mapped_column(String(128), default="", server_default="")
    created: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class InputFile(Base):
    __tablename__ = "input_file"
    __table_args__ = (
        UniqueConstraint("observation_id", "params_digest", "path", name="uq_input_obs_params_path"),
        Index("ix_input_params_path", "params_digest", "path"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    observation_id: Mapped[int] = mapped_column(ForeignKey("observation.id"))
    params_digest: Mapped[str] = mapped_column(String(64))
    """`relphot_core.store.writes.params_digest` of the parameters the set was computed with."""
    path: Mapped[str] = mapped_column(Text)
    """Absolute path of the catalogue."""
    dither: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("processing_run.id"))
    """The run these files gave (an identical earlier run when nothing new was stored)."""
    recorded: Mapped[datetime] = mapped_column(UTCDateTime())


class ProcessingFailure(Base):
    __tablename__ = "processing_failure"
    __table_args__ = (
        Index("ix_failure_open", "resolved"),
        Index("ix_failure_obs", "obs_id", "filter"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    obs_id: Mapped[int | None] = mapped_column(BigInteger)
    """None when the catalogue's header could not be read."""
    filter: Mapped[str | None] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(32))
    """`relphot_core.pipeline.FAILURE_KINDS`: unreadable catalogue, duplicated dither, ..."""
    path: Mapped[str] = mapped_column(Text)
    """The file the reason is about."""
    files: Mapped[list[str]] = mapped_column(JSON)
    """Every file of the set."""
    reason: Mapped[str] = mapped_column(Text)
    params_digest: Mapped[str] = mapped_column(String(64))
    created: Mapped[datetime] = mapped_column(UTCDateTime())
    """When the failure was first seen."""
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    """Batches that met the same failure (same path, kind and reason)."""
    resolved: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """When a later batch processed the set (or the file) successfully."""


class Problem(Base):
    """One QC problem: a cause with its exposures (`relphot_core.qc.problems`).

    Identified across recomputations by its ``fingerprint`` (kind, filter
    and subject: a dither position, a detector, an exposure, an
    observation, a failed set)."""

    __tablename__ = "problem"
    __table_args__ = (
        UniqueConstraint("fingerprint", name="uq_problem_fingerprint"),
        Index("ix_problem_filter_state", "filter", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    """`relphot_core.qc.problems.PROBLEM_KINDS`."""
    filter: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(120))
    """What it is about, e.g. ``dither 4``, ``detector 23``, ``obs 1040 dither 2``."""
    title: Mapped[str] = mapped_column(Text, default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    first_obs: Mapped[int | None] = mapped_column(BigInteger)
    last_obs: Mapped[int | None] = mapped_column(BigInteger)
    first_mjd: Mapped[float | None] = mapped_column(Float)
    last_mjd: Mapped[float | None] = mapped_column(Float)
    n_exposures: Mapped[int] = mapped_column(Integer, default=0)
    n_collateral: Mapped[int] = mapped_column(Integer, default=0)
    size: Mapped[float | None] = mapped_column(Float)
    """Its size now, in ``unit`` (a flux fraction, or mag for a detector)."""
    size_error: Mapped[float | None] = mapped_column(Float)
    slope: Mapped[float | None] = mapped_column(Float)
    """For a drift: ``unit`` per day."""
    unit: Mapped[str] = mapped_column(String(8), default="flux")
    worst_status: Mapped[str | None] = mapped_column(String(8))
    severity: Mapped[float] = mapped_column(Float, default=0.0)
    """Orders the queue, worst first (`relphot_core.qc.problems.Problem.severity`)."""
    ongoing: Mapped[bool] = mapped_column(Boolean, default=False)
    current: Mapped[bool] = mapped_column(Boolean, default=True)
    """Found by the latest computation (False: its flags are gone, e.g. after a reprocessing)."""
    state: Mapped[str] = mapped_column(String(16), default="open")
    """`relphot_core.qc.problems.PROBLEM_STATES`."""
    state_by: Mapped[str | None] = mapped_column(String(128))
    state_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    state_comment: Mapped[str] = mapped_column(Text, default="")
    resolved_obs: Mapped[int | None] = mapped_column(BigInteger)
    """The last observation it had when it was resolved: a later one makes it regress."""
    version: Mapped[int] = mapped_column(Integer, default=1)
    """Incremented by every change of state or of exposures (a stale action is refused)."""
    created: Mapped[datetime] = mapped_column(UTCDateTime())
    updated: Mapped[datetime] = mapped_column(UTCDateTime())
    grew_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """When it last gained exposures."""


class ProblemExposure(Base):
    """An exposure of a problem: ``primary`` (the problem's own flag),
    ``collateral`` (a flag the problem explains) or ``shared`` (an exposure
    another detector drift holds, that this detector drift is in too)."""

    __tablename__ = "problem_exposure"
    __table_args__ = (Index("ix_problem_exposure_exposure", "exposure_id"),)

    problem_id: Mapped[int] = mapped_column(ForeignKey("problem.id", ondelete="CASCADE"), primary_key=True)
    exposure_id: Mapped[int] = mapped_column(ForeignKey("exposure.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(12), default="primary")


class ProblemEvent(Base):
    """The life of a problem: opened, grew, regressed, gone, and every state
    change with who and when (the audit trail of the problem queue)."""

    __tablename__ = "problem_event"
    __table_args__ = (Index("ix_problem_event_problem", "problem_id"), Index("ix_problem_event_at", "at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problem.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    event: Mapped[str] = mapped_column(String(16))
    by: Mapped[str] = mapped_column(String(128), default="")
    comment: Mapped[str] = mapped_column(Text, default="")
    n_exposures: Mapped[int] = mapped_column(Integer, default=0)



class ProblemChart(Base):
    """Where the next computation of a filter's problems may start its
    control charts (`relphot_core.qc.resume`), and the data it was computed
    from: a batch that only appends observations is computed from the
    tail; anything else (a reprocessed observation, other control
    parameters) from the first night."""

    __tablename__ = "problem_chart"

    filter: Mapped[str] = mapped_column(String(16), primary_key=True)
    control_key: Mapped[str] = mapped_column(String(64))
    """A digest of the control charts' parameters."""
    dither_scale: Mapped[float | None] = mapped_column(Float)
    detector_scale: Mapped[float | None] = mapped_column(Float)
    exposure_since: Mapped[float | None] = mapped_column(Float)
    """MJD from which the exposures (and the dither series) are read next time; None: from the first."""
    detector_since: Mapped[str] = mapped_column(Text, default="{}")
    """JSON ``{detector: MJD}``: where each detector's series starts next time."""
    detector_carried: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")
    """JSON ``{detector: {...}}``: the drifts its series start inside of
    (`relphot_core.qc.series.CarriedDrift`'s fields)."""
    last_mjd: Mapped[float | None] = mapped_column(Float)
    """The latest exposure computed: a batch that adds anything earlier is computed from the first."""
    n_runs: Mapped[int] = mapped_column(Integer, default=0)
    run_sum: Mapped[int] = mapped_column(BigInteger, default=0)
    max_run: Mapped[int] = mapped_column(Integer, default=0)
    """The current runs of the filter's observations (count, sum of ids, largest id) when computed."""
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Batch(Base):
    """One batch of ``relphot compute --db`` (or of the demo): when it ran,
    how long, what it computed and what it found. The "since the last
    batch" views, the alerts and ``/metrics`` read it."""

    __tablename__ = "batch"
    __table_args__ = (Index("ix_batch_started", "started"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started: Mapped[datetime] = mapped_column(UTCDateTime())
    finished: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """None while it runs (or when it died before it could say)."""
    seconds: Mapped[float | None] = mapped_column(Float)
    command: Mapped[str] = mapped_column(String(32), default="compute")
    host: Mapped[str] = mapped_column(String(128), default="")
    software_version: Mapped[str] = mapped_column(String(64), default="")
    params_digest: Mapped[str] = mapped_column(String(64), default="")
    sets_planned: Mapped[int] = mapped_column(Integer, default=0)
    """Sets found in the catalogues (computed and unchanged)."""
    sets_computed: Mapped[int] = mapped_column(Integer, default=0)
    new_runs: Mapped[int] = mapped_column(Integer, default=0)
    same_runs: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    statuses: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    """Exposures computed, by status."""
    problems: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    """What the problems' update found: opened, grew, regressed, gone."""
    exit_status: Mapped[int | None] = mapped_column(Integer)


class UserVisit(Base):
    """When a user was last seen, and the end of their visit before this
    one: what "since my last visit" counts from."""

    __tablename__ = "user_visit"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    seen: Mapped[datetime] = mapped_column(UTCDateTime())
    previous: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AlertDigest(Base):
    """One message of the alerts: the new events of a batch (or a "no new
    data"), as sent to every target (`relphot_core.alerts`)."""

    __tablename__ = "alert_digest"
    __table_args__ = (Index("ix_alert_digest_batch", "batch_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime())
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batch.id", ondelete="SET NULL"))
    """The batch whose news it gives (None: a "no new data" or a test)."""
    title: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    """Markdown."""
    n_events: Mapped[int] = mapped_column(Integer, default=0)
    """0: the batch was looked at and brought nothing to send."""


class AlertEvent(Base):
    """An event alerted once, de-duplicated by ``key`` (`relphot_core.alerts.AlertEvent`)."""

    __tablename__ = "alert_event"
    __table_args__ = (UniqueConstraint("key", name="uq_alert_event_key"),
                      Index("ix_alert_event_digest", "digest_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    """`relphot_core.config.ALERT_EVENTS`."""
    digest_id: Mapped[int] = mapped_column(ForeignKey("alert_digest.id", ondelete="CASCADE"))
    problem_id: Mapped[int | None] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[datetime] = mapped_column(UTCDateTime())


class AlertDelivery(Base):
    """The sending of a digest to one target, retried until sent or given up."""

    __tablename__ = "alert_delivery"
    __table_args__ = (UniqueConstraint("digest_id", "target_id", name="uq_alert_delivery_target"),
                      Index("ix_alert_delivery_outcome", "outcome"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest_id: Mapped[int] = mapped_column(ForeignKey("alert_digest.id", ondelete="CASCADE"))
    target_id: Mapped[str] = mapped_column(String(64))
    """A digest of the target's URL: which configured target it is, without its secrets."""
    target: Mapped[str] = mapped_column(String(255))
    """The target's URL with its password masked."""
    outcome: Mapped[str] = mapped_column(String(12), default="pending")
    """pending, sent, failed (retried) or given_up."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    last_attempt: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent: Mapped[datetime | None] = mapped_column(UTCDateTime())
