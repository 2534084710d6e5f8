"""Result records of a relative-calibration run: the contract between the
science (`relphot_core.factors`), the store, the XML products and the
dashboard.

All magnitudes are AB magnitude differences; a positive ``median`` of pair
(a, b) means exposure *a* reads fainter than exposure *b*.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np


def _finite_or_none(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass
class PairStat:
    """Sigma-clipped statistics of dm = m_a - m_b over the matched sources."""

    exposure_a: int
    """Dither number (``DITHOBS``) of exposure a (the name is the store's
    column and the JSON key)."""
    exposure_b: int
    """Dither number of exposure b."""
    median: float | None
    """Clipped median of m_a - m_b (mag); None when the pair has no data."""
    error: float | None
    """1-sigma error of the median (mag)."""
    sigma: float | None
    """Robust (MAD-based) width of the kept differences (mag)."""
    n_matched: int
    n_kept: int
    n_rejected: int
    clip_low: float | None = None
    clip_high: float | None = None
    valid: bool = False
    """True when the pair has at least ``factors.min_pair_matches`` kept sources."""


@dataclass
class DetectorStat:
    """Clipped median of the differences of the sources that fell on one
    detector of one exposure, against all the other exposures."""

    exposure: int
    """Dither number (``DITHOBS``) of the exposure."""
    detector: int
    median: float | None
    """Offset of the detector's sources against the other exposures (mag,
    positive = fainter), the exposure's own offset included."""
    error: float | None
    n: int
    status: str = ""
    """OK, WARN, FAIL or NODATA of the detector against its own exposure
    (``median - mag_offset``; `relphot_core.flags.detector_status`); empty
    for runs stored before detector statuses."""


@dataclass
class MatchSample:
    """A subsample of the matched sources of one pair, for the plots."""

    exposure_a: int
    """Dither numbers of the pair's exposures, as in `PairStat`."""
    exposure_b: int
    ra: np.ndarray
    dec: np.ndarray
    mag: np.ndarray
    """Magnitude in exposure a (zero point ``selection.zero_point``)."""
    dm: np.ndarray
    kept: np.ndarray
    """Boolean: kept by the clipping."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (lists of floats rounded to 1e-6)."""
        return {
            "exposure_a": self.exposure_a,
            "exposure_b": self.exposure_b,
            "ra": np.round(self.ra, 7).tolist(),
            "dec": np.round(self.dec, 7).tolist(),
            "mag": np.round(self.mag, 4).tolist(),
            "dm": np.round(self.dm, 5).tolist(),
            "kept": self.kept.astype(bool).tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MatchSample:
        """Inverse of `to_dict`."""
        return cls(
            exposure_a=int(data["exposure_a"]),
            exposure_b=int(data["exposure_b"]),
            ra=np.asarray(data["ra"], dtype=float),
            dec=np.asarray(data["dec"], dtype=float),
            mag=np.asarray(data["mag"], dtype=float),
            dm=np.asarray(data["dm"], dtype=float),
            kept=np.asarray(data["kept"], dtype=bool),
        )


@dataclass
class ExposureFactor:
    """The relative flux factor of one exposure."""

    exposure: int
    """Dither number (``DITHOBS``) of the exposure (the name is the JSON key
    of ``relphot compute --json`` and the XML product's ``Exposure``)."""
    value: float | None
    """QPRELEX = 10**(-0.4 * mag_offset); None when NODATA."""
    error: float | None
    """QPRELEXE, 1-sigma error of ``value``."""
    mag_offset: float | None
    status: str
    """OK, WARN, FAIL or NODATA."""
    reason: str = ""
    n_pairs: int = 0
    """Number of valid pairs the factor is built from."""
    n_matched: int = 0
    """Matched sources over all pairs of this exposure."""
    n_kept: int = 0
    n_sources: int = 0
    """Selected sources in this exposure's catalogue."""
    mjd_obs: float | None = None
    date_obs: str | None = None
    exptime: float | None = None
    file: str | None = None
    global_value: float | None = None
    """The global robust solution's factor (one zero point per exposure fitted
    to all pairs), computed beside the product's value for every run."""
    global_error: float | None = None
    crosscheck: str = ""
    """Why the product's value and the global solution disagree beyond their
    errors; empty when they agree."""
    collateral: str = ""
    """For a WARN or FAIL exposure whose flag comes from flagged partners:
    what its value is without them; empty otherwise."""
    detector_flag: str = ""
    """The worst status of the exposure's detectors against the exposure
    (OK, WARN, FAIL; NODATA when no detector has data; empty: not computed)."""
    detector_reason: str = ""
    """Which detectors are flagged, e.g. ``detector 23: +49.8 ± 2.1 mmag (24 σ) > FAIL limit 16.4 mmag``."""
    detector_worst: int | None = None
    """The worst flagged detector (None when no detector is flagged)."""
    detector_offset: float | None = None
    """Its offset against the exposure (mag, positive = fainter)."""
    detector_offset_error: float | None = None
    """The error of that offset (mag)."""


@dataclass
class ObservationResult:
    """Everything one run computes for one (observation, filter)."""

    obs_id: int
    filter: str
    method: str
    exposures: list[ExposureFactor]
    pairs: list[PairStat] = field(default_factory=list)
    detectors: list[DetectorStat] = field(default_factory=list)
    samples: list[MatchSample] = field(default_factory=list)
    parameters: dict[str, str] = field(default_factory=dict)
    software_version: str = ""
    created: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    mjd_start: float | None = None
    mjd_end: float | None = None
    ra_pointing: float | None = None
    dec_pointing: float | None = None
    pa_pointing: float | None = None
    input_digest: str = ""
    """Hash of the inputs and parameters: identical re-ingests are skipped."""

    def exposure(self, dither: int) -> ExposureFactor:
        """The factor of one dither; KeyError if absent."""
        for item in self.exposures:
            if item.exposure == dither:
                return item
        raise KeyError(dither)

    def to_rows(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per exposure (the ``--json`` output)."""
        rows = []
        for item in self.exposures:
            row = asdict(item)
            row["value"] = _finite_or_none(item.value)
            row["error"] = _finite_or_none(item.error)
            row["mag_offset"] = _finite_or_none(item.mag_offset)
            row["global_value"] = _finite_or_none(item.global_value)
            row["global_error"] = _finite_or_none(item.global_error)
            row = {"obs_id": self.obs_id, "filter": self.filter, "method": self.method, **row}
            rows.append(row)
        return rows
