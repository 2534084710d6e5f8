"""Quality control of the stored factors: the signals across observations
(`relphot_core.qc.series`: control charts of dither positions and detectors,
with their drifts described), one flag model for every exposure
(`relphot_core.qc.flags`), and the problems a calibration team works on
(`relphot_core.qc.problems`).

Pure functions of arrays and tables: no store, no I/O. The status rules of a
single factor are in `relphot_core.status`, the detector statuses in
`relphot_core.flags`, the control rules in `relphot_core.control`.
"""
from __future__ import annotations

from .series import (
    ALARM_KINDS,
    DETECTOR_SERIES,
    DITHER_SERIES,
    SeriesAlarms,
    SeriesDrift,
    SeriesKind,
    detector_alarms,
    dither_alarms,
    pull_width,
    reference_pull_width,
    series_alarms,
)

__all__ = [
    "ALARM_KINDS",
    "DETECTOR_SERIES",
    "DITHER_SERIES",
    "SeriesAlarms",
    "SeriesDrift",
    "SeriesKind",
    "detector_alarms",
    "dither_alarms",
    "pull_width",
    "reference_pull_width",
    "series_alarms",
]
