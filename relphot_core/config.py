"""Processing configuration: every threshold, column name and keyword.

Each parameter is declared once, here, with its default, its meaning, its
unit and its command-line option (`param`). The rest is derived from these
declarations: the validation (`Config.validate`), the options of the
command line (`relphot_core.cli.common`), the descriptions of the
parameters in the XML product (`relphot_core.products`) and the reference
table of the documentation (`parameter_docs`).

A TOML file overrides the defaults section by section, and the command line
overrides the file::

    [selection]
    min_snr = 10.0
    flags_mask = 0          # sources with FLAGS & ~flags_mask != 0 are dropped
    mag_min = 16.0          # optional magnitude window (AB)
    mag_max = 23.0

    [matching]
    radius_arcsec = 0.5

    [thresholds]
    fail = 0.015
    warn = 0.005

    [columns]
    flux = "FLUX_APER"

    [alerts]
    targets = ["mailto://qc.example.org?to=nisp-qc@example.org"]
    dashboard_url = "https://qc.example.org"

The sections are `Selection`, `Matching`, `Clipping`, `Factors`,
`Thresholds`, `Crosscheck`, `Detectors`, `Control`, `Columns`,
`Keywords` and `Alerts`; ``parameter_docs()`` lists every parameter.
"""
from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .errors import ConfigError

FILTERS: tuple[str, ...] = ("NIR_Y", "NIR_J", "NIR_H")
"""The NISP photometric filters, in wavelength order."""

DETECTORS: tuple[int, ...] = tuple(10 * row + col for row in range(1, 5) for col in range(1, 5))
"""NISP detector numbers 11..44 (row, column of the 4x4 focal plane)."""

UNITS: Mapping[str, str] = {
    "mag": "magnitudes (AB)",
    "arcsec": "seconds of arc on the sky",
    "sigma": "multiples of a standard deviation (an error, a robust scale or a S/N)",
    "fraction": "flux fraction: 0.01 is 1 %, about 11 mmag",
    "fraction or mag": "the unit of the series charted: flux fraction for exposures, mag for detectors",
    "days": "days",
    "hours": "hours",
    "count": "a number of things (sources, matches, exposures, points, iterations)",
}
"""The units a parameter may have, with their meaning. A parameter without a
unit (``None``) is a name, a method, a list of names or a bit mask."""


@dataclass(frozen=True)
class _Check:
    """The range and the choices allowed for one parameter."""

    above: float | None = None      # value > above
    at_least: float | None = None   # value >= at_least
    below: float | None = None      # value < below
    choices: tuple[str, ...] = ()

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is out of range, or None."""
        if self.choices and value not in self.choices:
            return "must be one of " + ", ".join(repr(choice) for choice in self.choices)
        if isinstance(value, str):
            return None if value.strip() else "must not be empty"
        if value is None:
            return None
        if isinstance(value, float) and not math.isfinite(value):
            return "must be a finite number"
        if self.above is not None and not value > self.above:
            return f"must be > {self.above:g}"
        if self.at_least is not None and not value >= self.at_least:
            return f"must be >= {self.at_least:g}"
        if self.below is not None and not value < self.below:
            return f"must be < {self.below:g}"
        return None


def param(default: Any, *, doc: str, option: str, unit: str | None = None, above: float | None = None,
          at_least: float | None = None, below: float | None = None,
          choices: tuple[str, ...] = ()) -> Any:
    """Declare one configuration parameter: its default, meaning, unit,
    command-line option and allowed range, in one place.

    Parameters
    ----------
    default : object
        The default value.
    doc : str
        What the parameter does, in one or two sentences (shown in the
        command-line help, the product and the documentation).
    option : str
        The command-line option that sets it, e.g. ``"--min-snr"``.
    unit : str, optional
        One of `UNITS`; ``None`` for names, methods and bit masks.
    above, at_least, below : float, optional
        Allowed range: value > ``above``, value >= ``at_least``,
        value < ``below``. Floats must also be finite; strings non-empty.
    choices : tuple of str, optional
        The allowed values of a string parameter (of each item of a list).

    Returns
    -------
    dataclasses.Field
        A dataclass field carrying the above in its ``metadata``.
    """
    if unit is not None and unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r}")
    check = _Check(above=above, at_least=at_least, below=below, choices=tuple(choices))
    return field(default=default, metadata={"doc": doc, "unit": unit, "option": option, "check": check})


@dataclass(frozen=True)
class Selection:
    """Which sources are reliable enough to compare."""

    min_snr: float = param(10.0, unit="sigma", option="--min-snr", at_least=0,
                           doc="Minimum signal-to-noise ratio (flux / flux error) of a selected source.")
    flags_mask: int = param(0, option="--flags-mask", at_least=0,
                            doc="Extraction flags tolerated in a selected source, as a bit mask: a source with "
                                "FLAGS & ~flags_mask != 0 is dropped (0: only unflagged sources).")
    mag_min: float | None = param(None, unit="mag", option="--mag-min",
                                  doc="Bright end of the magnitude window, to drop saturated sources "
                                      "(None: no limit).")
    mag_max: float | None = param(None, unit="mag", option="--mag-max",
                                  doc="Faint end of the magnitude window (None: no limit).")
    zero_point: float = param(30.0, unit="mag", option="--zero-point",
                              doc="Zero point that only positions the magnitude window: "
                                  "mag = zero_point - 2.5 log10(flux).")


@dataclass(frozen=True)
class Matching:
    """One-to-one sky matching of the sources of two exposures."""

    radius_arcsec: float = param(0.5, unit="arcsec", option="--radius", above=0,
                                 doc="Radius of the one-to-one sky match of the sources of two exposures.")


@dataclass(frozen=True)
class Clipping:
    """Robust sigma clipping of the magnitude differences of a pair."""

    sigma: float = param(3.0, unit="sigma", option="--clip-sigma", above=0,
                         doc="Half-width of the clipping of a pair's magnitude differences around their median, "
                             "in robust (MAD-based) sigmas.")
    max_iters: int = param(20, unit="count", option="--clip-iters", at_least=1,
                           doc="Maximum number of clipping iterations.")


@dataclass(frozen=True)
class Factors:
    """How pair statistics become one factor per exposure."""

    min_pair_matches: int = param(20, unit="count", option="--min-matches", at_least=1,
                                  doc="Minimum kept (matched and unclipped) sources for a pair of exposures "
                                      "to count.")
    method: str = param("median", option="--method", choices=("median", "global"),
                        doc="How pair statistics become one factor per exposure: 'median' (median of the "
                            "pair medians) or 'global' (weighted least squares over all pairs).")


@dataclass(frozen=True)
class Thresholds:
    """Status thresholds of the exposures, on the flux fraction |QPRELEX - 1|,
    and the exposure control chart of the store."""

    fail: float = param(0.015, unit="fraction", option="--fail", above=0, below=1,
                        doc="FAIL when |QPRELEX - 1| exceeds this.")
    warn: float = param(0.005, unit="fraction", option="--warn", above=0, below=1,
                        doc="WARN when |QPRELEX - 1| exceeds this and is significant (see warn_nsigma).")
    warn_nsigma: float = param(3.0, unit="sigma", option="--warn-nsigma", at_least=0,
                               doc="WARN also needs |QPRELEX - 1| beyond this many errors (QPRELEXE).")
    drift_nsigma: float = param(3.0, unit="sigma", option="--drift-nsigma", above=0,
                                doc="Drift chart: a point is off when it is more than this many robust sigmas "
                                    "from the running median.")
    drift_window: int = param(60, unit="count", option="--drift-window", at_least=1,
                              doc="Drift chart: exposures in the trailing window (60: 15 observations of "
                                  "4 dithers).")


@dataclass(frozen=True)
class Crosscheck:
    """When the product's factor and the global solution's disagree
    (`relphot_core.crosscheck.crosscheck_reasons`)."""

    nsigma: float = param(3.0, unit="sigma", option="--crosscheck-nsigma", above=0,
                          doc="The two factors disagree only beyond this many combined errors.")
    min_difference: float = param(0.002, unit="fraction", option="--crosscheck-min-difference", at_least=0, below=1,
                                  doc="The two factors disagree only beyond this flux fraction too (0.2 %), so "
                                      "that dense fields do not flag sub-mmag noise.")


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

    fail: float = param(0.015, unit="fraction", option="--detector-fail", above=0, below=1,
                        doc="A detector is FAIL when |10**(-0.4 m) - 1| of its offset m exceeds this and "
                            "the offset is significant.")
    warn: float = param(0.005, unit="fraction", option="--detector-warn", above=0, below=1,
                        doc="A detector is WARN when |10**(-0.4 m) - 1| of its offset m exceeds this and "
                            "the offset is significant.")
    nsigma: float = param(5.0, unit="sigma", option="--detector-nsigma", at_least=0,
                          doc="Significance a detector's WARN or FAIL needs: |m| > nsigma * error (5: about "
                              "4 false flags per 7.7 million detector rows of pure noise, 21,000 at 3).")
    min_sources: int = param(10, unit="count", option="--detector-min-sources", at_least=1,
                             doc="A detector with fewer sources than this is NODATA.")


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

    outlier_nsigma: float = param(4.5, unit="sigma", option="--outlier-nsigma", above=0,
                                  doc="Control limits of single points (per-point false-alarm rate "
                                      "2 Phi(-4.5) = 6.8e-6).")
    cusum_cap: float = param(2.5, unit="sigma", option="--cusum-cap", above=0,
                             doc="Where the CUSUM input is winsorised: an isolated outlier adds at most "
                                 "cusum_cap - cusum_k to the statistic, so a drift needs several points far off.")
    cusum_k: float = param(0.5, unit="sigma", option="--cusum-k", at_least=0,
                           doc="CUSUM reference value (allowance); tunes the chart for shifts of 2 cusum_k sigma.")
    cusum_h: float = param(11.0, unit="sigma", option="--cusum-h", above=0,
                           doc="CUSUM decision interval (longer than the textbook 9 because estimated "
                               "parameters and capped inputs shorten in-control runs).")
    cusum_window: int = param(100, unit="count", option="--cusum-window", at_least=1,
                              doc="Memory of the CUSUM in points: without the return test, a drift alarm ends "
                                  "at most this many points after the series is back.")
    end_h: float = param(4.0, unit="sigma", option="--end-h", above=0,
                         doc="Decision interval of the return test: a drift alarm ends, and the CUSUM restarts, "
                             "once the points after it are back at the in-control level (about 3 points after "
                             "a 0.5 % step ends, 8 after a 1-sigma one).")
    reference_points: int = param(400, unit="count", option="--reference-points", at_least=2,
                                  doc="Finite points of the leading reference window that gives each series its "
                                      "in-control level and scale.")
    min_reference_points: int = param(50, unit="count", option="--min-reference-points", at_least=2,
                                      doc="A series with fewer finite points gets no control statistic and "
                                          "no alarm.")
    max_gap_days: float = param(30.0, unit="days", option="--max-gap-days", above=0,
                                doc="A gap longer than this between consecutive points of a series restarts "
                                    "the CUSUM.")
    min_sigma: float = param(1e-4, unit="fraction or mag", option="--min-sigma", above=0,
                             doc="Floor of the scale of a point, in the unit of the series (1e-4: 0.01 % for "
                                 "exposures, 0.1 mmag for detectors).")


@dataclass(frozen=True)
class Columns:
    """Catalogue column names."""

    ra: str = param("ALPHA_J2000", option="--ra-column", doc="Catalogue column of the right ascension (deg).")
    dec: str = param("DELTA_J2000", option="--dec-column", doc="Catalogue column of the declination (deg).")
    flux: str = param("FLUX_AUTO", option="--flux-column", doc="Catalogue column of the flux.")
    flux_err: str = param("FLUXERR_AUTO", option="--flux-err-column",
                          doc="Catalogue column of the flux error (same unit as the flux).")
    flags: str = param("FLAGS", option="--flags-column", doc="Catalogue column of the extraction flags.")
    detector: str = param("DETECTOR", option="--detector-column",
                          doc="Catalogue column of the detector number (11..44), for single-table catalogues.")


@dataclass(frozen=True)
class Keywords:
    """Header keywords carrying the exposure's identity and time."""

    obs_id: str = param("OBS_ID", option="--obs-id-keyword", doc="Header keyword of the observation id.")
    filter: str = param("FILTER", option="--filter-keyword", doc="Header keyword of the filter (NIR_Y, NIR_J, NIR_H).")
    dither: str = param("DITHOBS", option="--dither-keyword", doc="Header keyword of the dither number.")
    mjd: str = param("MJD-OBS", option="--mjd-keyword", doc="Header keyword of the exposure's start (MJD).")
    date: str = param("DATE-OBS", option="--date-keyword",
                      doc="Header keyword of the exposure's start (ISO date), used when the MJD is missing.")
    exptime: str = param("EXPTIME", option="--exptime-keyword", doc="Header keyword of the exposure time.")
    ra_pointing: str = param("RA_PNT", option="--ra-pointing-keyword",
                             doc="Header keyword of the pointing's right ascension.")
    dec_pointing: str = param("DEC_PNT", option="--dec-pointing-keyword",
                              doc="Header keyword of the pointing's declination.")
    pa_pointing: str = param("PA_PNT", option="--pa-pointing-keyword",
                             doc="Header keyword of the pointing's position angle.")
    detector: str = param("DETECTOR", option="--detector-keyword",
                          doc="Header keyword of the detector number of a catalogue extension.")


ALERT_EVENTS: tuple[str, ...] = ("new_problem", "regression", "new_fail", "failure", "no_data")
"""The events an alert can be about (`relphot_core.alerts`): a problem
opened, a resolved problem seen again, an exposure come out FAIL, a set that
could not be processed, no batch for `Alerts.no_data_hours`."""

ALERT_PROBLEM_KINDS: tuple[str, ...] = ("drift", "detector", "detector-drift", "exposure", "observation", "failure")
"""`relphot_core.qc.problems.PROBLEM_KINDS`, repeated (that module imports
this one; tested to stay equal)."""


@dataclass(frozen=True)
class Alerts:
    """Notifications of what a batch brought (`relphot_core.alerts`): where
    they go, which events, and the links they carry.

    Not a processing parameter: runs and products do not record it. The
    targets are Apprise URLs and may hold passwords: they are never stored
    or shown whole (the store keeps a digest and a masked form).
    """

    targets: tuple[str, ...] = param((), option="--alert-target",
                                     doc="Apprise URLs the digests are sent to (mailto://, json://, slack://, "
                                         "mmost://, msteams://, ...); none: no alert is sent.")
    events: tuple[str, ...] = param(ALERT_EVENTS, option="--alert-event", choices=ALERT_EVENTS,
                                    doc="The events that are alerted: new_problem, regression, new_fail, "
                                        "failure (a set not processed) and no_data.")
    kinds: tuple[str, ...] = param(ALERT_PROBLEM_KINDS[:-1], option="--alert-kind", choices=ALERT_PROBLEM_KINDS,
                                   doc="Kinds of problems whose opening or regression is alerted (a failed set "
                                       "comes as the failure event).")
    min_size: float = param(0.0, unit="fraction or mag", option="--alert-min-size", at_least=0,
                            doc="A new problem is alerted only when its size now is at least this (0: every "
                                "one; a problem without a size always is).")
    no_data_hours: float = param(36.0, unit="hours", option="--no-data-hours", above=0,
                                 doc="The no_data alert is raised (once, by relphot alerts check) when the "
                                     "last batch started longer ago than this.")
    dashboard_url: str | None = param(None, option="--dashboard-url",
                                      doc="The dashboard's address (https://qc.example.org) the digests link to "
                                          "(None: no links).")
    max_attempts: int = param(5, unit="count", option="--alert-attempts", at_least=1,
                              doc="Sendings of a digest to a target (the next relphot compute --db or relphot "
                                  "alerts check retries) before it is given up.")


AUTH_SECTION = "auth"
"""The section of a configuration file read by
`relphot_core.identity.AuthSettings.load` (who may do what on the
dashboard), not part of the processing configuration."""

JUDGED_PARAMETERS: tuple[str, ...] = (
    "thresholds.fail", "thresholds.warn", "thresholds.warn_nsigma",
    "detectors.fail", "detectors.warn", "detectors.nsigma", "detectors.min_sources")
"""The parameters the statuses (exposures and detectors) are judged with
when the factors are computed: they are stored with each run, and a
dashboard that painted other bands would contradict the statuses it shows
(`judged_mismatches`)."""


def judged_mismatches(config: Config, stored: Mapping[str, set[str]]) -> list[tuple[str, str, list[str]]]:
    """The `JUDGED_PARAMETERS` whose value in ``config`` is not the one
    the stored statuses were judged with.

    Parameters
    ----------
    config : Config
    stored : mapping
        ``"section.name" -> {value, ...}`` of the current runs
        (`relphot_core.store.Store.current_parameter_values`); a key absent
        is not checked (no run records it).

    Returns
    -------
    list of (key, value, stored values)

    Examples
    --------
    >>> judged_mismatches(Config(), {"thresholds.warn": {"0.004"}, "thresholds.fail": {"0.015"}})
    [('thresholds.warn', '0.005', ['0.004'])]
    """
    out = []
    for key in JUDGED_PARAMETERS:
        section, name = key.split(".")
        value = str(getattr(getattr(config, section), name))
        if key in stored and set(stored[key]) != {value}:
            out.append((key, value, sorted(stored[key])))
    return out


def judged_refusal(key: str, stored: Sequence[str]) -> str:
    """Why a server refuses a threshold the stored statuses were not judged
    with (`judged_mismatches`): the words ``relphot serve`` and the WSGI
    entry point both say."""
    return (f"the store's statuses were judged with {key} = {' / '.join(stored)} by relphot compute; the "
            "dashboard shows them as stored and cannot judge them again: serve with the thresholds they were "
            "computed with, or recompute them (relphot compute --db)")


READ_TIME_SECTIONS: frozenset[str] = frozenset({"control", "alerts"})
"""Sections not used by a run: the control charts across observations (used
when the store is read) and the alerts (sent after a batch); left out of a
run's parameters and digest."""


@dataclass(frozen=True)
class ParameterDoc:
    """The documentation of one configuration parameter (see `parameter_docs`)."""

    section: str
    """The TOML section, e.g. ``"selection"``."""
    name: str
    """The field of the section, e.g. ``"min_snr"``."""
    default: Any
    """The default value."""
    type: str
    """The value's type as declared: ``"float"``, ``"int"``, ``"str"``, ``"float | None"``."""
    unit: str | None
    """One of `UNITS`, or None for names, methods and bit masks."""
    doc: str
    """What the parameter does, in one or two sentences."""
    option: str
    """The command-line option that sets it, e.g. ``"--min-snr"``."""

    @property
    def key(self) -> str:
        """``"section.name"``, the key of the parameter in runs and products."""
        return f"{self.section}.{self.name}"


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
    alerts: Alerts = field(default_factory=Alerts)

    def replace(self, **sections: Mapping[str, Any]) -> Config:
        """Return a copy with some fields of some sections replaced.

        ``config.replace(thresholds={"fail": 0.02})``. Unknown sections or
        fields, wrong types and values out of range raise `ConfigError`;
        ``None`` values are ignored so that unset command-line options leave
        the configuration alone.
        """
        return self.override(sections, source="options")

    def override(self, sections: Mapping[str, Mapping[str, Any]], source: str | Path | None) -> Config:
        """`replace` with the values' origin named in errors.

        Parameters
        ----------
        sections : mapping
            ``{"section": {"name": value}}``; ``None`` values are ignored.
        source : str or Path or None
            Where the values come from (a file, ``"command line"``), named
            by the `ConfigError` a bad value raises.

        Returns
        -------
        Config
            The new, validated configuration.
        """
        return _merge(self, sections, source)

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

    def validate(self, source: str | Path | None = None) -> Config:
        """Check every field's type and range, then the relations between
        fields; raise `ConfigError` on the first problem, naming the
        parameter and ``source`` (the file or the options the values came
        from)."""
        for section in dataclasses.fields(self):
            values = getattr(self, section.name)
            for item in dataclasses.fields(values):
                _checked(section.name, item, getattr(values, item.name), source)
        selection, control = self.selection, self.control
        thresholds, detectors = self.thresholds, self.detectors
        relations = [
            (selection.mag_min is None or selection.mag_max is None or selection.mag_min < selection.mag_max,
             "selection.mag_min must be < selection.mag_max", (selection.mag_min, selection.mag_max),
             "; the bright end is the smaller magnitude"),
            (thresholds.warn <= thresholds.fail, "thresholds.warn must be <= thresholds.fail",
             (thresholds.warn, thresholds.fail), ""),
            (detectors.warn <= detectors.fail, "detectors.warn must be <= detectors.fail",
             (detectors.warn, detectors.fail), ""),
            (control.cusum_cap > control.cusum_k, "control.cusum_cap must be > control.cusum_k",
             (control.cusum_cap, control.cusum_k), ""),
            (control.reference_points >= control.min_reference_points,
             "control.reference_points must be >= control.min_reference_points",
             (control.reference_points, control.min_reference_points), ""),
        ]
        for ok, message, (first, second), why in relations:
            if not ok:
                raise ConfigError(source, f"{message} (got {first!r} and {second!r}{why})")
        alerts = self.alerts
        if alerts.dashboard_url is not None and not alerts.dashboard_url.startswith(("http://", "https://")):
            raise ConfigError(source, f"alerts.dashboard_url must start with http:// or https:// "
                                      f"(got {_shown(alerts.dashboard_url)})")
        for number, url in enumerate(alerts.targets, 1):
            if "://" not in url:  # quoted only up to its scheme: a target may hold a password
                raise ConfigError(source, f"alerts.targets: target {number} is not a URL such as "
                                          f"mailto://... or json://... (got {url.split(':')[0][:20]!r}...)")
        return self


_TYPES: dict[str, type] = {"float": float, "int": int, "str": str, "tuple[str,...]": tuple}
_KINDS: dict[type, str] = {float: "a number", int: "a whole number", str: "text", tuple: "a list of text"}


def value_type(item: dataclasses.Field) -> tuple[type, bool]:
    """The Python type of a parameter's values and whether it may be None.

    Parameters
    ----------
    item : dataclasses.Field
        A field of a configuration section.

    Returns
    -------
    (type, bool)
        ``float``, ``int``, ``str`` or ``tuple`` (a list of text), and
        True for ``X | None``.
    """
    declared = str(item.type).replace(" ", "")
    optional = declared.endswith("|None")
    return _TYPES[declared.removesuffix("|None")], optional


def _checked(section: str, item: dataclasses.Field, value: Any, source: str | Path | None) -> Any:
    """``value`` for ``section.item`` converted to the field's type (int ->
    float), or `ConfigError` naming the parameter and ``source``."""
    kind, optional = value_type(item)
    key = f"{section}.{item.name}"
    if value is None:
        if optional:
            return None
        raise ConfigError(source, f"{key} must be {_KINDS[kind]}, not empty")
    if kind is tuple:
        return _checked_list(key, item, value, source)
    accepted = (int, float) if kind is float else (kind,)
    if isinstance(value, bool) or not isinstance(value, accepted):
        raise ConfigError(source, f"{key} must be {_KINDS[kind]} (got {_shown(value)})")
    if kind is float and isinstance(value, (int, float)):  # checked above: the same as `if kind is float`
        value = float(value)
    problem = item.metadata["check"].problem(value)
    if problem:
        raise ConfigError(source, f"{key} {problem} (got {_shown(value)})")
    return value


def _checked_list(key: str, item: dataclasses.Field, value: Any, source: str | Path | None) -> tuple[str, ...]:
    """A list of text (one text is a list of one) as a tuple, each item
    checked against the parameter's choices."""
    values = (value,) if isinstance(value, str) else value
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, str) for v in values):
        raise ConfigError(source, f"{key} must be a list of text (got {_shown(value)})")
    check = item.metadata["check"]
    for text in values:
        problem = check.problem(text)
        if problem:
            raise ConfigError(source, f"{key}: each item {problem} (got {_shown(text)})")
    return tuple(values)


def _shown(value: Any) -> str:
    """A bad value as an error message quotes it: its repr, cut to 40 characters."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _merge(config: Config, sections: Mapping[str, Any], source: str | Path | None) -> Config:
    updates: dict[str, Any] = {}
    known = {f.name for f in dataclasses.fields(config)}
    for name, values in sections.items():
        if name not in known:
            raise ConfigError(source, f"unknown configuration section [{name}]")
        if not isinstance(values, Mapping):
            raise ConfigError(source, f"[{name}] must be a table")
        current = getattr(config, name)
        allowed = {f.name: f for f in dataclasses.fields(current)}
        changes = {}
        for key, value in values.items():
            if key not in allowed:
                raise ConfigError(source, f"unknown option {name}.{key}")
            if value is not None:
                changes[key] = _checked(name, allowed[key], value, source)
        updates[name] = dataclasses.replace(current, **changes)
    return dataclasses.replace(config, **updates).validate(source)


def parameter_docs() -> list[ParameterDoc]:
    """Every configuration parameter with its default, type, unit, meaning
    and command-line option, in the order of the sections and fields.

    Returns
    -------
    list of ParameterDoc

    Examples
    --------
    >>> docs = {doc.key: doc for doc in parameter_docs()}
    >>> docs["matching.radius_arcsec"].unit, docs["matching.radius_arcsec"].option
    ('arcsec', '--radius')
    """
    docs = []
    for section in dataclasses.fields(Config):
        # each section's default is made by its dataclass
        for item in dataclasses.fields(cast("type[Any]", section.default_factory)):
            docs.append(ParameterDoc(section=section.name, name=item.name, default=item.default,
                                     type=str(item.type), unit=item.metadata["unit"], doc=item.metadata["doc"],
                                     option=item.metadata["option"]))
    return docs


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
        If the file cannot be read, is not TOML, names unknown options or
        holds a value of the wrong type or out of range.
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
    data.pop(AUTH_SECTION, None)  # the deployment's authentication: relphot_core.identity.AuthSettings
    return _merge(Config(), data, source=str(path))
