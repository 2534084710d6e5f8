"""The tables part of the `~relphot_core.store.api.Store` facade: the
exposure, observation and status-count tables of a selection
(`relphot_core.selection`), a filter's trend with its control charts, and
the detector table (`relphot_core.store.queries` and
`relphot_core.store.detectors` hold their SQL).

The part assumes the facade's ``_read()`` / ``_write(what)`` connection
context managers, ``_writer`` engine and ``url`` (`relphot_core.store.api.Store`).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import pandas as pd

from ..selection import ExposureSelection, select_exposures
from . import queries


class TablesPart:
    """Data frames of the current values (part of `Store`)."""

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

    def detector_table(self, filter: str) -> pd.DataFrame:
        """One row per (observation, dither, detector) of one filter's
        current runs: obs_id, exposure, detector, mjd_obs, offset (detector
        median minus the exposure's mag_offset, mag), error, n, status;
        ordered by detector then time (`relphot_core.store.detectors.detector_table`)."""
        from . import detectors

        with self._read() as conn:
            return detectors.detector_table(conn, filter)
