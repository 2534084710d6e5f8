"""Processing configuration: every threshold, column name and keyword.

Defaults live here, in one place. A TOML file overrides them section by
section, and the command line overrides the file::

    [selection]
    min_snr = 10.0
    flags_mask = 0          # sources with FLAGS & ~flags_mask != 0 are dropped
    mag_min = 16.0          # optional magnitude window (AB)
    mag_max = 23.0

    [matching]
    radius_arcsec = 0.5

    [clipping]
    sigma = 3.0
    max_iters = 20

    [factors]
    min_pair_matches = 20
    method = "median"      # or "global"

    [thresholds]
    fail = 0.015
    warn = 0.005
    warn_nsigma = 3.0

    [detectors]             # per-(exposure, detector) offsets
    fail = 0.015
    warn = 0.005
    nsigma = 5.0
    min_sources = 10

    [control]               # control charts across observations (relphot_core.control)
    outlier_nsigma = 4.0
    cusum_k = 0.5
    cusum_h = 9.0
    cusum_window = 100
    reference_points = 400
    min_reference_points = 50
    max_gap_days = 30.0
    min_sigma = 0.0001

    [columns]
    ra = "ALPHA_J2000"
    ...
"""
from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .errors import ConfigError

FILTERS: tuple[str, ...] = ("NIR_Y", "NIR_J", "NIR_H")
"""The NISP photometric filters, in wavelength order."""

DETECTORS: tuple[int, ...] = tuple(10 * row + col for row in range(1, 5) for col in range(1, 5))
"""NISP detector numbers 11..44 (row, column of the 4x4 focal plane)."""

STATUSES: tuple[str, ...] = ("OK", "WARN", "FAIL", "NODATA")
"""Per-exposure QC statuses, from best to worst (NODATA last)."""


@dataclass(frozen=True)
class Selection:
    """Which sources are reliable enough to compare."""

    min_snr: float = 10.0
    flags_mask: int = 0
    mag_min: float | None = None
    mag_max: float | None = None
    zero_point: float = 30.0
    """Only positions the optional magnitude window: mag = zp - 2.5 log10(flux)."""


@dataclass(frozen=True)
class Matching:
    """One-to-one sky matching of the sources of two exposures."""

    radius_arcsec: float = 0.5


@dataclass(frozen=True)
class Clipping:
    """Robust sigma clipping of the magnitude differences of a pair."""

    sigma: float = 3.0
    max_iters: int = 20


@dataclass(frozen=True)
class Factors:
    """How pair statistics become one factor per exposure."""

    min_pair_matches: int = 20
    method: str = "median"
    """``median`` (median of pair medians, the seed's method) or ``global``."""


@dataclass(frozen=True)
class Thresholds:
    """Status thresholds on |QPRELEX - 1| (DESIGN.md section 3)."""

    fail: float = 0.015
    warn: float = 0.005
    warn_nsigma: float = 3.0
    drift_nsigma: float = 3.0
    drift_window: int = 60
    """Exposures in the trailing window of the control chart (15 observations of 4 dithers)."""


@dataclass(frozen=True)
class Crosscheck:
    """When the product's factor and the global solution's disagree
    (`relphot_core.crosscheck.crosscheck_reasons`)."""

    nsigma: float = 3.0
    """Disagreement needs a difference beyond this many combined errors (sigma)."""
    min_difference: float = 0.002
    """... and beyond this flux fraction (0.2 %), so that dense fields do not flag sub-mmag noise."""


@dataclass(frozen=True)
class Detectors:
    """Status thresholds of the per-(exposure, detector) magnitude offsets
    (`relphot_core.flags.detector_status`).

    The limits are flux fractions, as for the exposures: an offset ``m``
    (mag, positive = fainter) is compared through ``|10**(-0.4 m) - 1|``
    (1.5 % = +16.4 mmag fainter or -16.2 mmag brighter). A detector is
    flagged only when its offset is also significant, so that a detector
    with few sources is not flagged by noise.
    """

    fail: float = 0.015
    """FAIL when ``|10**(-0.4 m) - 1|`` exceeds this (flux fraction) and the offset is significant."""
    warn: float = 0.005
    """WARN when ``|10**(-0.4 m) - 1|`` exceeds this (flux fraction) and the offset is significant."""
    nsigma: float = 5.0
    """Significance needed for WARN and FAIL: ``|m| > nsigma * error``. 5 sigma: ~4 false flags
    per 7.7 million detector rows of pure noise, against 21,000 at 3 sigma."""
    min_sources: int = 10
    """NODATA below this many sources (``DetectorStat.n``)."""


@dataclass(frozen=True)
class Control:
    """Control charts across observations (`relphot_core.control.control_rules`).

    The field names are the keyword parameters of `control_rules`:
    ``control_rules(values, errors, times, groups, **dataclasses.asdict(config.control))``.
    Defaults chosen for a fault-free survey to flag at most one exposure in
    10,000 (measured on noise: 0.6 flagged points and 0.12 alarms per
    10,000), while a 0.5 % step with 2 mmag errors is caught within 6
    observations (median).
    """

    outlier_nsigma: float = 4.5
    """Control limits for single points, in sigma (per-point false-alarm rate 2 Phi(-4.5) = 6.8e-6)."""
    cusum_cap: float = 2.5
    """Where the CUSUM input is winsorised, in sigma: an isolated outlier adds at most ``cusum_cap - cusum_k``
    (2.0) to the statistic, so a drift needs five points far off, not three bad exposures in a row's window."""
    cusum_k: float = 0.5
    """CUSUM reference value (allowance), in sigma; tunes the chart for shifts of 2k sigma."""
    cusum_h: float = 11.0
    """CUSUM decision interval, in sigma (longer in-control runs than 9, the textbook value for ~26,000
    points, because estimated parameters and capped inputs shorten them)."""
    cusum_window: int = 100
    """Memory of the CUSUM, in points: a drift alarm ends at most this many points after the series is back."""
    reference_points: int = 400
    """Finite points of the leading reference window giving each series' in-control level and scale."""
    min_reference_points: int = 50
    """Series with fewer finite points get no control statistic and no alarm."""
    max_gap_days: float = 30.0
    """A gap longer than this (days) between consecutive points of a series restarts the CUSUM."""
    min_sigma: float = 1e-4
    """Floor of the scale of a point, in the units of the series (1e-4: 0.01 % or 0.1 mmag)."""


@dataclass(frozen=True)
class Columns:
    """Catalogue column names."""

    ra: str = "ALPHA_J2000"
    dec: str = "DELTA_J2000"
    flux: str = "FLUX_AUTO"
    flux_err: str = "FLUXERR_AUTO"
    flags: str = "FLAGS"
    detector: str = "DETECTOR"


@dataclass(frozen=True)
class Keywords:
    """Header keywords carrying the exposure's identity and time."""

    obs_id: str = "OBS_ID"
    filter: str = "FILTER"
    dither: str = "DITHOBS"
    mjd: str = "MJD-OBS"
    date: str = "DATE-OBS"
    exptime: str = "EXPTIME"
    ra_pointing: str = "RA_PNT"
    dec_pointing: str = "DEC_PNT"
    pa_pointing: str = "PA_PNT"
    detector: str = "DETECTOR"


READ_TIME_SECTIONS: frozenset[str] = frozenset({"control"})
"""Sections used when the store is read (control charts across
observations), not by a run: left out of a run's parameters and digest."""


@dataclass(frozen=True)
class Config:
    """The whole processing configuration."""

    selection: Selection = field(default_factory=Selection)
    matching: Matching = field(default_factory=Matching)
    clipping: Clipping = field(default_factory=Clipping)
    factors: Factors = field(default_factory=Factors)
    thresholds: Thresholds = field(default_factory=Thresholds)
    detectors: Detectors = field(default_factory=Detectors)
    crosscheck: Crosscheck = field(default_factory=Crosscheck)
    control: Control = field(default_factory=Control)
    columns: Columns = field(default_factory=Columns)
    keywords: Keywords = field(default_factory=Keywords)

    def replace(self, **sections: dict[str, Any]) -> "Config":
        """Return a copy with some fields of some sections replaced.

        ``config.replace(thresholds={"fail": 0.02})``. Unknown sections or
        fields raise `ConfigError`; ``None`` values are ignored so that unset
        command-line options leave the configuration alone.
        """
        return _merge(self, sections, source="options")

    def parameters(self) -> dict[str, str]:
        """Flatten to ``{"section.field": "value"}`` for runs and products."""
        flat: dict[str, str] = {}
        for section in dataclasses.fields(self):
            if section.name in READ_TIME_SECTIONS:
                continue
            values = getattr(self, section.name)
            for item in dataclasses.fields(values):
                flat[f"{section.name}.{item.name}"] = str(getattr(values, item.name))
        return flat

    def validate(self, source: str | Path | None = None) -> "Config":
        """Check ranges; raise `ConfigError` on the first problem, naming
        ``source`` (the file or the options the values came from)."""
        checks = [
            (self.matching.radius_arcsec > 0, "matching.radius_arcsec must be > 0"),
            (self.clipping.sigma > 0, "clipping.sigma must be > 0"),
            (self.clipping.max_iters >= 1, "clipping.max_iters must be >= 1"),
            (self.factors.min_pair_matches >= 1, "factors.min_pair_matches must be >= 1"),
            (self.factors.method in ("median", "global"), "factors.method must be 'median' or 'global'"),
            (0 < self.thresholds.warn <= self.thresholds.fail, "need 0 < thresholds.warn <= thresholds.fail"),
            (self.thresholds.warn_nsigma >= 0, "thresholds.warn_nsigma must be >= 0"),
            (self.thresholds.drift_nsigma > 0, "thresholds.drift_nsigma must be > 0"),
            (self.thresholds.drift_window >= 1, "thresholds.drift_window must be >= 1"),
            (self.selection.min_snr >= 0, "selection.min_snr must be >= 0"),
            (0 < self.detectors.warn <= self.detectors.fail < 1, "need 0 < detectors.warn <= detectors.fail < 1"),
            (self.detectors.nsigma >= 0, "detectors.nsigma must be >= 0"),
            (self.crosscheck.nsigma > 0, "crosscheck.nsigma must be > 0"),
            (0 <= self.crosscheck.min_difference < 1, "need 0 <= crosscheck.min_difference < 1"),
            (self.detectors.min_sources >= 1, "detectors.min_sources must be >= 1"),
            (self.control.outlier_nsigma > 0, "control.outlier_nsigma must be > 0"),
            (self.control.cusum_k >= 0, "control.cusum_k must be >= 0"),
            (self.control.cusum_cap > self.control.cusum_k, "control.cusum_cap must be > control.cusum_k"),
            (self.control.cusum_h > 0, "control.cusum_h must be > 0"),
            (self.control.cusum_window >= 1, "control.cusum_window must be >= 1"),
            (self.control.min_reference_points >= 2, "control.min_reference_points must be >= 2"),
            (self.control.reference_points >= self.control.min_reference_points,
             "control.reference_points must be >= control.min_reference_points"),
            (self.control.max_gap_days > 0, "control.max_gap_days must be > 0"),
            (self.control.min_sigma > 0, "control.min_sigma must be > 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(source, message)
        return self


def _merge(config: Config, sections: dict[str, Any], source: str) -> Config:
    updates: dict[str, Any] = {}
    known = {f.name for f in dataclasses.fields(config)}
    for name, values in sections.items():
        if name not in known:
            raise ConfigError(source, f"unknown configuration section [{name}]")
        if not isinstance(values, dict):
            raise ConfigError(source, f"[{name}] must be a table")
        current = getattr(config, name)
        allowed = {f.name: f for f in dataclasses.fields(current)}
        changes = {}
        for key, value in values.items():
            if key not in allowed:
                raise ConfigError(source, f"unknown option {name}.{key}")
            if value is None:
                continue
            default = getattr(current, key)
            if isinstance(default, bool) or (default is not None and not isinstance(value, type(default))
                                              and not (isinstance(default, float) and isinstance(value, int))):
                if default is not None:
                    raise ConfigError(source, f"{name}.{key} must be of type {type(default).__name__}")
            changes[key] = float(value) if isinstance(default, float) else value
        updates[name] = dataclasses.replace(current, **changes)
    return dataclasses.replace(config, **updates).validate(source)


def load_config(path: str | Path | None = None) -> Config:
    """Read a TOML configuration file over the defaults.

    Parameters
    ----------
    path : str or Path, optional
        The TOML file. ``None`` gives the defaults.

    Returns
    -------
    Config

    Raises
    ------
    ConfigError
        If the file cannot be read, is not TOML, or names unknown options.
    """
    if path is None:
        return Config()
    try:
        with open(path, "rb") as stream:
            data = tomllib.load(stream)
    except OSError as exc:
        raise ConfigError(path, f"cannot read configuration ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, f"not valid TOML ({exc})") from None
    return _merge(Config(), data, source=str(path))
