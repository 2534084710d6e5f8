"""Problems, not rows: the causes a calibration team works on, each with its
exposures.

A *problem* is one cause (`PROBLEM_KINDS`):

- ``drift``: a dither position that steps or drifts over a span (a drift of
  its control chart, `relphot_core.qc.series`);
- ``detector``: a detector flagged in one or more exposures (the worst
  flagged detector of each exposure, `relphot_core.flags.exposure_detector_flag`);
- ``detector-drift``: a detector whose offset steps or drifts over a span,
  too little for any exposure's detector flag (a drift of the detector's
  control chart, `relphot_core.qc.detector_alarms`); its exposures are
  those whose detector is in the drift;
- ``exposure``: one bad exposure (a flag no other cause explains);
- ``observation``: several flagged exposures of one observation that no
  other cause explains (e.g. a set without data);
- ``failure``: a set that could not be processed.

Flags that a cause explains attach to it instead of standing alone
(*collateral*, in the spirit of Alertmanager's inhibition): the exposure-level
shift a bad detector causes on its exposure (a small drift of that dither
position over the detector's span), the opposite shift of the partners of a
drifting dither position, and the WARNs that the partners or the global
solution explain (`relphot_core.crosscheck.collateral_reasons`) go to the
problem of the exposure they name.

`find_problems` is pure: a filter's exposure table in, `Problem` records
out. Each problem carries a *fingerprint* (kind, filter, subject) that stays
the same when the problems are computed again after the next batch, so the
store (`relphot_core.store.Store.update_problems`) keeps its identity, state
and reviews: a new exposure of an ongoing drift joins it, a resolved problem
that comes back regresses (`next_state`).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import PurePath
from typing import cast
import numpy as np
import pandas as pd

from ..config import Control
from ..mjd import mjd_to_day
from ..photometry import MEDIAN_EFFICIENCY, mag_to_flux_ratio
from ..stats import MAD_TO_SIGMA
from ..status import FLAGGED, OUT_OF_LIMITS, Status, status_rank
from .flags import table_bits
from .series import SeriesAlarms, detector_alarms, dither_alarms

PROBLEM_KINDS: tuple[str, ...] = ("drift", "detector", "detector-drift", "exposure", "observation", "failure")
"""The kinds of problems."""

PROBLEM_STATES: tuple[str, ...] = ("open", "acknowledged", "resolved", "ignored", "regressed")
"""``open``: found, nobody has taken it; ``acknowledged``: a lead knows and
follows it; ``resolved``: a lead says it is over (it *regresses* if it comes
back); ``ignored``: not worth following (it stays quiet whatever happens);
``regressed``: resolved, then seen again."""

ACTIVE_STATES: tuple[str, ...] = ("open", "regressed")
"""States of the problems the queue shows (with exposures awaiting review)."""

PROBLEM_FLAG_KIND: Mapping[str, str] = {"drift": "alarm", "detector": "detector", "detector-drift": "detector"}
"""The flag kind (`relphot_core.qc.flags.FlagKind`) a review of a problem is
about; the other kinds keep each exposure's own."""

ONGOING_OBSERVATIONS = 10
"""A problem whose last exposure is among the filter's last this many
observations is ongoing."""

DETECTORS_PER_EXPOSURE = 16
"""Detectors whose sources make up an exposure's factor."""

SERIES_KINDS: tuple[str, ...] = ("drift", "detector", "detector-drift")
"""The kinds of problems about a series (a dither position or a detector) over a span: they say
"ongoing" or "ended"."""

COLLATERAL_SHARE = 2.0
"""A drift of an exposure series is the consequence of a detector fault on
the same exposures when its size is at most this many times the detector's
share of the exposure (its offset over `DETECTORS_PER_EXPOSURE`)."""


@dataclass(frozen=True)
class Problem:
    """One problem as computed from a filter's exposures.

    Attributes
    ----------
    kind : str
        One of `PROBLEM_KINDS`.
    filter : str
    subject : str
        What it is about: ``dither 4``, ``detector 23``, ``obs 1040 dither
        2``, ``obs 1040``, or the failed set.
    title : str
        A few words, e.g. ``drift of dither 4``.
    reason : str
        The full sentence, with its span and size now.
    first_obs, last_obs : int or None
        Its first and last observation.
    first_mjd, last_mjd : float
    exposures : tuple of (int, int, str)
        ``(obs_id, dither, role)``, role ``primary``, ``collateral`` or
        ``shared`` (an exposure another detector drift holds: it is that
        one's for the exposure's problem id, and this one's too).
    size, size_error : float
        Its size now in ``unit``: the drift's level now, the detector's
        offset, the exposure's ``QPRELEX - 1``.
    slope : float
        For a drift, ``unit`` per day (NaN otherwise).
    unit : str
        ``flux`` (a fraction: -0.005 is 0.5 % faint) or ``mag`` (+ = fainter).
    worst_status : str
        The worst status among its primary exposures.
    ongoing : bool
        Seen among the filter's last `ONGOING_OBSERVATIONS` observations
        (a drift: its series is still in drift).
    """

    kind: str
    filter: str
    subject: str
    title: str
    reason: str
    first_obs: int | None
    last_obs: int | None
    first_mjd: float
    last_mjd: float
    exposures: tuple[tuple[int, int, str], ...] = ()
    size: float = float("nan")
    size_error: float = float("nan")
    slope: float = float("nan")
    unit: str = "flux"
    worst_status: str = ""
    ongoing: bool = False

    @property
    def fingerprint(self) -> str:
        """Its identity across recomputations: ``kind|filter|subject``."""
        return f"{self.kind}|{self.filter}|{self.subject}"

    @property
    def n_collateral(self) -> int:
        return sum(role == "collateral" for *_, role in self.exposures)

    @cached_property
    def severity(self) -> float:
        """Worst first: the worst status (FAIL > WARN > NODATA > other
        flags), then the size in units of its error (capped), a failure
        with the FAILs."""
        rank = {Status.FAIL.value: 3.0, Status.WARN.value: 2.0, Status.NODATA.value: 1.0}.get(self.worst_status, 0.0)
        if self.kind == "failure":
            rank = 3.0
        # plain floats (no numpy error state: a filter has thousands of problems to sort)
        significance = abs(float(self.size)) / float(self.size_error) if self.size_error > 0 else 0.0
        return rank * 1000.0 + (0.0 if significance != significance else min(significance, 999.0))


@dataclass
class _Span:
    """One drift of a series' problem: its rows and how it is described."""

    rows: list[int]
    size: float
    size_error: float
    slope: float
    reason: str
    ongoing: bool


@dataclass
class _Draft:
    kind: str
    subject: str
    title: str
    rows: list[int] = field(default_factory=list)
    collateral: list[int] = field(default_factory=list)
    shared: list[int] = field(default_factory=list)
    """Exposures another detector drift holds, that this one is in too (role ``shared``)."""
    size: float = float("nan")
    size_error: float = float("nan")
    slope: float = float("nan")
    unit: str = "flux"
    reason: str = ""
    ongoing: bool | None = None
    spans: list[_Span] = field(default_factory=list)
    """A series' drifts, in order of start (each judged on its own: `_collateral_drifts`)."""

    def describe(self, span: _Span) -> None:
        """Say the problem as this drift (its latest own one) is now."""
        self.size, self.size_error, self.slope = span.size, span.size_error, span.slope
        self.reason, self.ongoing = span.reason, span.ongoing


def _percent(value: float, error: float | None = None) -> str:
    text = f"{100 * value:+.2f}"
    if error is not None and np.isfinite(error):
        text += f" ± {100 * error:.2f}"
    return text + " %"


def _mmag(value: float, error: float | None = None) -> str:
    text = f"{1000 * value:+.1f}"
    if error is not None and np.isfinite(error):
        text += f" ± {1000 * error:.1f}"
    return text + " mmag"


def _flux_fraction(mag: float) -> float:
    return float(mag_to_flux_ratio(mag) - 1.0)


def find_problems(
    table: pd.DataFrame,
    filter_name: str,
    control: Control = Control(),
    *,
    alarms: SeriesAlarms | None = None,
    failures: pd.DataFrame | None = None,
    detectors: pd.DataFrame | None = None,
    detector_series: SeriesAlarms | None = None,
) -> list[Problem]:
    """The problems of one filter.

    Parameters
    ----------
    table : pandas.DataFrame
        Every exposure of the filter's current runs in time order (the
        store's trend table): obs_id, exposure, mjd_obs, value, error,
        status, reason and, when present, detector_flag, detector_worst,
        detector_offset, crosscheck, collateral.
    filter_name : str
    control : Control
        The control charts' rules (used when ``alarms`` is None).
    alarms : SeriesAlarms, optional
        `relphot_core.qc.dither_alarms` of ``table`` when already computed.
    failures : pandas.DataFrame, optional
        Unresolved processing failures (`relphot_core.store.Store.failures`
        rows: id, obs_id, filter, path, reason, created) of this filter.
    detectors : pandas.DataFrame, optional
        The filter's detector offsets (`relphot_core.store.Store.detector_table`:
        obs_id, exposure, detector, mjd_obs, offset, error), whose series'
        drifts are ``detector-drift`` problems; None: none looked for.
    detector_series : SeriesAlarms, optional
        `relphot_core.qc.detector_alarms` of ``detectors`` when already computed.

    Returns
    -------
    list of Problem
        Worst first (`Problem.severity`).
    """
    n = len(table)
    drafts: list[_Draft] = []
    owner = np.full(n, -1, dtype=np.int64)
    role = np.full(n, "", dtype=object)
    if n:
        obs = table["obs_id"].to_numpy(dtype=np.int64)
        dither = table["exposure"].to_numpy(dtype=np.int64)
        mjd = table["mjd_obs"].to_numpy(dtype=float)
        value = table["value"].to_numpy(dtype=float)
        error = table["error"].to_numpy(dtype=float)
        status = table["status"].astype(object).fillna("").to_numpy()
        bits = table_bits(table.assign(alarm="") if "alarm" in table.columns else table)  # alarms: below
        if alarms is None:
            alarms = dither_alarms(obs, dither, mjd, value, error, control)
        flagged = (bits != 0) | (alarms.alarm != "")
        last_obs = np.unique(obs)[-ONGOING_OBSERVATIONS:]
        _drift_drafts(drafts, owner, role, alarms, obs, dither, value, error, status, control)
        _detector_drafts(drafts, owner, role, table, obs, dither, status, last_obs)
        if detectors is not None and len(detectors):
            if detector_series is None:
                detector_series = detector_alarms(
                    detectors["obs_id"].to_numpy(), detectors["detector"].to_numpy(),
                    detectors["mjd_obs"].to_numpy(dtype=float), detectors["offset"].to_numpy(dtype=float),
                    detectors["error"].to_numpy(dtype=float), control)
            _detector_drift_drafts(drafts, owner, role, detector_series, detectors, obs, dither, flagged)
        _collateral_drifts(drafts, owner, role, obs, dither)
        _collateral_flags(drafts, owner, role, table, obs, dither, flagged)
        _lone_drafts(drafts, owner, role, table, obs, dither, value, error, status, flagged, alarms)
    columns = _Columns.of(table) if n else None
    problems = [_problem(d, columns, filter_name) for d in drafts] if columns is not None else []
    problems = [p for p in problems if p.exposures]
    for row in (failures.to_dict("records") if failures is not None and not failures.empty else []):
        path = str(row.get("path") or "")
        where = f"obs {int(row['obs_id'])}" if pd.notna(row.get("obs_id")) else PurePath(path).name
        problems.append(Problem(
            "failure", filter_name, f"{where} ({row.get('kind', 'failure')})", f"{where} could not be processed",
            f"{where} could not be processed ({row.get('kind', 'failure')}, {PurePath(path).name}): "
            f"{row.get('reason', '')}",
            int(row["obs_id"]) if pd.notna(row.get("obs_id")) else None,
            int(row["obs_id"]) if pd.notna(row.get("obs_id")) else None, float("nan"), float("nan"), (),
            worst_status="", ongoing=True))
    problems.sort(key=lambda p: (-p.severity, p.first_obs if p.first_obs is not None else -1, p.subject))
    return problems


def _drift_drafts(drafts, owner, role, alarms: SeriesAlarms, obs, dither, value, error, status, control) -> None:
    """One draft per dither position with drifts: its rows, its latest drift's size."""
    by_series: dict[int, _Draft] = {}
    scale = alarms.scale
    for index, drift in enumerate(alarms.drifts):
        rows = np.flatnonzero(alarms.drift == index)
        # a bad exposure inside a drift stays a problem of its own: far from its neighbours in the drift
        local = pd.Series(value[rows] - 1.0).rolling(9, center=True, min_periods=1).median().to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            far = np.abs(value[rows] - 1.0 - local) > control.outlier_nsigma * scale * error[rows]
        rows = rows[~(far & np.isin(status[rows], [s.value for s in FLAGGED]))]
        label = int(drift.series)  # type: ignore[call-overload]  # the series here are dither numbers
        draft = by_series.get(label)
        if draft is None:
            draft = by_series[label] = _Draft("drift", f"dither {label}", f"drift of dither {label}")
            drafts.append(draft)
        span = _Span(rows.tolist(), drift.level, drift.level_error, drift.slope, str(alarms.reason[drift.end]),
                     drift.end == int(np.flatnonzero(dither == label)[-1]))
        draft.spans.append(span)
        draft.rows.extend(span.rows)
        draft.describe(span)
    for number, draft in enumerate(drafts):
        owner[draft.rows] = number
        role[draft.rows] = "primary"


def _detector_drafts(drafts, owner, role, table, obs, dither, status, last_obs) -> None:
    """One draft per flagged detector: the exposures whose worst flagged detector it is."""
    if "detector_worst" not in table.columns or "detector_flag" not in table.columns:
        return
    worst = table["detector_worst"].to_numpy(dtype=float)
    on = np.isin(table["detector_flag"].astype(object).fillna("").to_numpy(), [s.value for s in OUT_OF_LIMITS])
    offset = table["detector_offset"].to_numpy(dtype=float) if "detector_offset" in table.columns else None
    offset_error = (table["detector_offset_error"].to_numpy(dtype=float) if "detector_offset_error" in table.columns
                    else np.full(len(table), np.nan))
    for detector in np.unique(worst[on & np.isfinite(worst)]).astype(int).tolist():
        rows = np.flatnonzero(on & (worst == detector))
        draft = _Draft("detector", f"detector {detector}", f"detector {detector}", unit="mag")
        number = len(drafts)
        drafts.append(draft)
        # a detector flag outranks a drift's claim: the exposure's shift is the detector's doing
        draft.rows = rows.tolist()
        owner[rows], role[rows] = number, "primary"
        if offset is not None:
            good = np.isfinite(offset[rows])
            values = offset[rows][good]
            if values.size == 1:
                draft.size, draft.size_error = float(values[0]), float(offset_error[rows][good][0])
            elif values.size:
                # the robust error of a median, from the scatter of the offsets themselves
                draft.size = float(np.median(values))
                spread = MAD_TO_SIGMA * float(np.median(np.abs(values - draft.size)))
                draft.size_error = MEDIAN_EFFICIENCY * spread / np.sqrt(values.size)
        span = f"obs {obs[rows].min()}" + (f"-{obs[rows].max()}" if obs[rows].max() != obs[rows].min() else "")
        dithers = ", ".join(str(d) for d in sorted(set(dither[rows].tolist())))
        draft.reason = (f"detector {detector} flagged in {rows.size} exposure{'s' if rows.size != 1 else ''} "
                        f"({span}, dither {dithers})" + (f": median {_mmag(draft.size, draft.size_error)}"
                                                         if np.isfinite(draft.size) else ""))
        draft.ongoing = bool(np.isin(obs[rows], last_obs).any())


def _detector_drift_drafts(drafts, owner, role, found: SeriesAlarms, detectors: pd.DataFrame, obs,
                           dither, exposure_flagged) -> None:
    """One draft per detector whose offsets drift: the exposures whose
    detector is in one of its drifts, its latest drift's size. A drift over
    the span of the same detector's flagged exposures is that fault seen in
    its series (the flagged exposure's shift leaks into the detector's
    series): its exposures join the flag's problem as collateral."""
    if not found.drifts:
        return
    key = obs * 64 + dither  # an exposure row of the filter's table from (obs_id, dither)
    order = np.argsort(key, kind="stable")
    det_key = (detectors["obs_id"].to_numpy(dtype=np.int64) * 64
               + detectors["exposure"].to_numpy(dtype=np.int64))
    place = np.minimum(np.searchsorted(key, det_key, sorter=order), max(key.size - 1, 0))
    exposure_row = np.where(key[order][place] == det_key, order[place], -1) if key.size else np.full(det_key.size, -1)
    detector = detectors["detector"].to_numpy()
    flagged = {d.subject: i for i, d in enumerate(drafts) if d.kind == "detector"}
    detector_obs = detectors["obs_id"].to_numpy(dtype=np.int64)
    labels = [int(cast(int, drift.series)) for drift in found.drifts]  # detector numbers
    for label in sorted(set(labels)):
        parent = flagged.get(f"detector {label}")
        parent_obs = np.unique(obs[np.asarray(drafts[parent].rows, dtype=np.int64)]) if parent is not None else None
        own: list[np.ndarray] = []
        spans: list[_Span] = []
        latest = None
        for index, drift in enumerate(found.drifts):
            if labels[index] != label:
                continue
            in_drift = np.flatnonzero(found.drift == index)
            rows = np.unique(exposure_row[in_drift][exposure_row[in_drift] >= 0])
            # judged on its own detector rows (one per exposure, in the table or not): a drift over the span
            # of the detector's flagged exposures is that fault seen in its series
            # (a drift carried into the tail of the season counts its rows before it too)
            carry = drift.carried
            before, flagged_before = (carry.rows_before, carry.flagged_before) if carry is not None else (0, 0)
            if parent_obs is not None and (flagged_before + np.isin(detector_obs[in_drift], parent_obs).sum()
                                           >= 0.5 * (before + in_drift.size)):
                loose = rows[owner[rows] < 0]
                drafts[parent].collateral.extend(loose.tolist())
                owner[loose], role[loose] = parent, "collateral"
                continue
            own.append(rows)
            latest = drift
            spans.append(_Span(rows.tolist(), drift.level, drift.level_error, drift.slope,
                               str(found.reason[drift.end]), False))
        if latest is None:
            continue
        rows = np.unique(np.concatenate(own))
        draft = _Draft("detector-drift", f"detector {label}", f"drift of detector {label}", unit="mag")
        draft.size, draft.size_error, draft.slope = latest.level, latest.level_error, latest.slope
        draft.reason = str(found.reason[latest.end])
        draft.ongoing = latest.end == int(np.flatnonzero(detector == detector[latest.end])[-1])
        # the exposures no other problem holds, and not flagged: a dither drift keeps its own
        # (`_collateral_drifts` then gives the ones this drift explains to it) and a flagged exposure is
        # judged on its own, so a detector that steps for good hides no later fault; the exposures of
        # another detector's drift are shared (two detectors that drift at once are two problems)
        unflagged = rows[~exposure_flagged[rows]]
        mine = unflagged[owner[unflagged] < 0]
        held = unflagged[np.isin(owner[unflagged], [i for i, d in enumerate(drafts) if d.kind == "detector-drift"])]
        if mine.size == 0 and held.size == 0:
            continue
        draft.rows = mine.tolist()
        draft.shared = held.tolist()
        draft.spans = spans
        owner[mine], role[mine] = len(drafts), "primary"
        drafts.append(draft)


def _collateral_drifts(drafts, owner, role, obs, dither) -> None:
    """Drifts that another problem explains become its collateral: the
    shift of an exposure series over a detector fault's span (no larger than
    the detector's share of the exposure), and the opposite, smaller shift
    of a drifting position's partners.

    Each drift is judged on its own against the faults as found (each drift
    of a series with its own observations and size, before any is given
    away): no verdict depends on the order the drifts are judged in, nor on
    drifts outside its span, nor on later data (so the tail of a season
    gives the verdicts the whole season gives, `relphot_core.qc.resume`)."""
    found: list[tuple[int, np.ndarray, float, str]] = []  # (draft, observations, size, unit) of each fault
    for j, cause in enumerate(drafts):
        if cause.kind not in SERIES_KINDS or not (cause.rows or cause.shared):
            continue
        for rows, size in ([(span.rows, span.size) for span in cause.spans] or [(cause.rows, cause.size)]):
            if rows and np.isfinite(size):  # a series' drifts each with its own size
                found.append((j, np.unique(obs[np.asarray(rows, dtype=np.int64)]), size, cause.unit))
    found.sort(key=lambda c: -abs(c[2] if c[3] == "flux" else _flux_fraction(c[2])))
    for i, draft in enumerate(drafts):
        if draft.kind != "drift" or not draft.rows:
            continue
        kept: list[int] = []
        latest: _Span | None = None
        for span in draft.spans:  # each drift on its own: one that another fault explains is that fault's
            claimed = np.asarray(span.rows, dtype=np.int64)
            rows = claimed[owner[claimed] == i]  # a detector's flagged exposures are the detector's
            cause_of = _explaining_cause(found, i, span.size, obs[claimed]) if claimed.size else None
            if cause_of is None:
                kept.extend(rows.tolist())
                latest = span
            else:
                drafts[cause_of].collateral.extend(rows.tolist())
                owner[rows], role[rows] = cause_of, "collateral"
        draft.rows = kept
        if latest is not None:
            draft.describe(latest)


def _explaining_cause(causes: list[tuple[int, np.ndarray, float, str]], me: int, size: float,
                      span_obs: np.ndarray) -> int | None:
    """The series fault (``(draft index, its observations, size, unit)``,
    largest first) that explains a drift of size ``size`` over the
    observations ``span_obs``, or None."""
    if not np.isfinite(size) or span_obs.size == 0:
        return None
    first, last = span_obs.min(), span_obs.max()
    for j, cause_obs, cause_size, unit in causes:
        # (cause_obs is sorted: a cause outside the span's observations is skipped before counting)
        if j == me or cause_obs[-1] < first or cause_obs[0] > last or np.isin(span_obs, cause_obs).mean() < 0.5:
            continue
        if unit == "mag":  # a detector's (flagged or drifting): its share of the exposure
            explained = abs(size) <= COLLATERAL_SHARE * abs(_flux_fraction(cause_size)) / DETECTORS_PER_EXPOSURE
        else:
            explained = size * cause_size < 0 and abs(size) < abs(cause_size) / 2
        if explained:
            return j
    return None


def _collateral_flags(drafts, owner, role, table, obs, dither, flagged) -> None:
    """Flags whose reason says they come from a flagged partner join that
    partner's problem."""
    if "collateral" not in table.columns:
        return
    text = table["collateral"].astype(object).fillna("").to_numpy()
    for r in np.flatnonzero((text != "") & (owner < 0) & flagged).tolist():
        partners = np.flatnonzero((obs == obs[r]) & (dither != dither[r]) & (owner >= 0) & (role == "primary"))
        if partners.size:
            j = int(owner[partners[0]])
            drafts[j].collateral.append(r)
            owner[r], role[r] = j, "collateral"


def _lone_drafts(drafts, owner, role, table, obs, dither, value, error, status, flagged, alarms) -> None:
    """What is left: one problem per observation, of one exposure (with the
    partners' collateral flags it explains) or of several."""
    left = np.flatnonzero(flagged & (owner < 0))

    def text(name: str) -> np.ndarray:
        if name not in table.columns:
            return np.full(len(table), "", dtype=object)
        return table[name].to_numpy(dtype=object, na_value="")

    collateral = text("collateral") != ""
    reason_of, detector_reason, crosscheck = text("reason"), text("detector_reason"), text("crosscheck")
    order = np.argsort(obs[left], kind="stable")
    left = left[order]
    groups, starts = np.unique(obs[left], return_index=True)
    for obs_id, rows in zip(groups.tolist(), np.split(left, starts[1:])):
        primary = rows[~collateral[rows]]
        explained = rows[collateral[rows]]
        if primary.size == 0:
            primary, explained = rows, rows[:0]
        if primary.size == 1:
            r = int(primary[0])
            draft = _Draft("exposure", f"obs {obs_id} dither {dither[r]}", f"exposure {obs_id} dither {dither[r]}")
            draft.size, draft.size_error = value[r] - 1.0, error[r]
            reasons = [f"{status[r]}: {reason_of[r]}".rstrip(": ") if status[r] in FLAGGED else "",
                       str(alarms.reason[r]), str(detector_reason[r]), str(crosscheck[r])]
            draft.reason = f"exposure {obs_id} dither {dither[r]}: " + "; ".join(x for x in reasons if x)
        else:
            draft = _Draft("observation", f"obs {obs_id}", f"observation {obs_id}")
            listed = ", ".join(f"dither {dither[r]} {status[r]}" for r in primary)
            draft.reason = f"observation {obs_id}: {primary.size} exposures flagged ({listed})"
            worst = primary[np.nanargmax(np.nan_to_num(np.abs(value[primary] - 1.0), nan=-1.0))]
            draft.size, draft.size_error = value[worst] - 1.0, error[worst]
        if explained.size:
            draft.reason += f"; {explained.size} partner flag{'s' if explained.size != 1 else ''} it explains"
        draft.rows, draft.collateral = primary.tolist(), explained.tolist()
        draft.ongoing = False
        owner[primary], role[primary] = len(drafts), "primary"
        owner[explained], role[explained] = len(drafts), "collateral"
        drafts.append(draft)


@dataclass(frozen=True)
class _Columns:
    """The columns a problem is described from, as arrays (read once)."""

    obs: np.ndarray
    dither: np.ndarray
    mjd: np.ndarray
    status: np.ndarray
    detector_flag: np.ndarray

    @classmethod
    def of(cls, table: pd.DataFrame) -> _Columns:
        def text(name: str) -> np.ndarray:
            if name not in table.columns:
                return np.full(len(table), "", dtype=object)
            return table[name].to_numpy(dtype=object, na_value="")

        return cls(table["obs_id"].to_numpy(dtype=np.int64), table["exposure"].to_numpy(dtype=np.int64),
                   table["mjd_obs"].to_numpy(dtype=float), text("status"), text("detector_flag"))


def _problem(draft: _Draft, columns: _Columns, filter_name: str) -> Problem:
    own = set(draft.rows)
    shared = set(draft.shared) - own
    rows = sorted(own | shared | set(draft.collateral))
    if not rows:
        return Problem(draft.kind, filter_name, draft.subject, draft.title, draft.reason, None, None, np.nan, np.nan)
    primary = sorted(own)
    exposures = tuple(zip(columns.obs[rows].tolist(), columns.dither[rows].tolist(),
                          ["primary" if r in own else "shared" if r in shared else "collateral" for r in rows]))
    status = columns.detector_flag if draft.kind == "detector" else columns.status
    ranked = [s for s in status[primary] if s]
    worst = max(ranked, key=status_rank) if ranked else ""
    span = primary or sorted(shared) or rows  # collateral flags follow the cause: they do not make its span
    obs, mjd = columns.obs[span], columns.mjd[span]
    return Problem(draft.kind, filter_name, draft.subject, draft.title, draft.reason or draft.title,
                   int(obs.min()), int(obs.max()), float(np.nanmin(mjd)), float(np.nanmax(mjd)),
                   exposures, float(draft.size), float(draft.size_error), float(draft.slope), draft.unit, str(worst),
                   bool(draft.ongoing))


def next_state(state: str, resolved_obs: int | None, last_obs: int | None) -> str:
    """The state of a stored problem after a recomputation found it again
    with ``last_obs`` as its last observation: a resolved problem seen
    after the observation it was resolved at regresses; any other state
    stays.

    Examples
    --------
    >>> next_state("resolved", 1040, 1052), next_state("resolved", 1040, 1040), next_state("ignored", 1040, 1052)
    ('regressed', 'resolved', 'ignored')
    """
    if state == "resolved" and last_obs is not None and (resolved_obs is None or last_obs > resolved_obs):
        return "regressed"
    return state


STATE_ACTIONS: Mapping[str, tuple[str, ...]] = {
    "acknowledge": ("open", "regressed"),
    "resolve": ("open", "acknowledged", "regressed", "ignored"),
    "ignore": ("open", "acknowledged", "regressed", "resolved"),
    "reopen": ("acknowledged", "resolved", "ignored"),
}
"""What a lead may do to a problem, and from which states."""

ACTION_STATE: Mapping[str, str] = {"acknowledge": "acknowledged", "resolve": "resolved", "ignore": "ignored",
                                   "reopen": "open"}
"""The state each action leads to."""


def describe_span(problem: Problem) -> str:
    """``obs 1040-1059 (2025-01-28 .. 2025-01-30)``."""
    if problem.first_obs is None or problem.last_obs is None or pd.isna(problem.first_obs):
        return ""
    first_obs, last_obs = int(problem.first_obs), int(problem.last_obs)
    obs = f"obs {first_obs}" + (f"-{last_obs}" if last_obs != first_obs else "")
    if problem.first_mjd is None or not np.isfinite(problem.first_mjd):
        return obs
    first, last = mjd_to_day(problem.first_mjd), mjd_to_day(problem.last_mjd)
    return f"{obs} ({first}" + (f" .. {last})" if last != first else ")")


def size_text(kind: str, unit: str, size: float, size_error: float, slope: float = float("nan")) -> str:
    """The size now, for a table cell: ``-0.60 ± 0.02 %, -0.092 %/day`` / ``+31.5 ± 1.6 mmag``."""
    if size is None or not np.isfinite(size):
        return ""
    text = _mmag(size, size_error) if unit == "mag" else _percent(size, size_error)
    if slope is not None and np.isfinite(slope):
        text += f", {100 * slope:+.3f} %/day" if unit == "flux" else f", {1000 * slope:+.2f} mmag/day"
    return text
