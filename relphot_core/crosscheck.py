"""Checks of a set's factors against each other: the global solution beside
the median of pair medians, and flags that come from flagged partners.

With K = 3 exposures the median of an exposure's two pair medians is their
mean, so one exposure off by x moves both others by x / 2: their WARN is
collateral, not their own. The global solution (one zero point per exposure
fitted to all pairs, robustly) does not leak that way, so where the two
disagree beyond their errors the exposure says so (`crosscheck_reasons`).
And a flagged exposure says whether its flag holds against its unflagged
partners alone (`collateral_reasons`).

Pure functions of dicts keyed by dither; magnitudes (positive = fainter).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from .config import Config, Thresholds
from .flags import detector_status, exposure_detector_flag, exposure_status
from .photometry import mag_error_to_ratio_error, mag_to_flux_ratio, ratio_error_to_mag_error
from .solve import exposure_offsets_global, median_of_few
from .status import OUT_OF_LIMITS, Status

if TYPE_CHECKING:
    from .results import ObservationResult


def crosscheck_reasons(
    dithers: Sequence[int],
    offset: Mapping[int, float],
    error: Mapping[int, float],
    global_offset: Mapping[int, float],
    global_error: Mapping[int, float],
    *,
    nsigma: float = 3.0,
    min_difference: float = 0.002,
) -> dict[int, str]:
    """Where the product's factor and the global solution's disagree.

    Disagreement: the factors differ by more than ``min_difference`` and by
    more than ``nsigma`` times the errors combined in quadrature (the two
    are computed from the same pairs, so this is conservative).

    Parameters
    ----------
    dithers : sequence of int
    offset, error : mapping
        The median-of-pair-medians magnitude offsets and errors (mag).
    global_offset, global_error : mapping
        The global solution's (mag).
    nsigma, min_difference : float
        How far apart (in sigmas, and as a flux fraction) counts.

    Returns
    -------
    dict
        ``{dither: reason}`` for the exposures that disagree only.

    Examples
    --------
    >>> crosscheck_reasons([1, 2], {1: 0.0126, 2: 0.0}, {1: 0.001, 2: 0.001},
    ...                    {1: 0.0004, 2: 0.0}, {1: 0.001, 2: 0.001})[1]
    'QPRELEX 0.9885 ≠ global solution 0.9996 ± 0.0009 (8.6 σ)'
    """
    out: dict[int, str] = {}
    for d in dithers:
        if d not in offset or d not in global_offset:
            continue
        value, other = mag_to_flux_ratio(offset[d]), mag_to_flux_ratio(global_offset[d])
        other_error = mag_error_to_ratio_error(other, global_error.get(d, 0.0))
        sigma = math.hypot(mag_error_to_ratio_error(value, error.get(d, 0.0)), other_error)
        difference = abs(value - other)
        if difference > min_difference and difference > nsigma * sigma:
            sigmas = difference / sigma if sigma > 0 else math.inf
            out[d] = (f"QPRELEX {value:.4f} ≠ global solution {other:.4f} ± "
                      f"{other_error:.4f} ({sigmas:.1f} σ)")
    return out


def collateral_reasons(
    dithers: Sequence[int],
    statuses: Mapping[int, str],
    pair_median: Mapping[tuple[int, int], float],
    pair_error: Mapping[tuple[int, int], float],
    global_statuses: Mapping[int, str],
    thresholds: Thresholds = Thresholds(),
) -> dict[int, str]:
    """For each WARN or FAIL exposure whose flag comes from flagged partners,
    say so.

    The exposure's factor is recomputed from its valid pairs with unflagged
    (OK) partners only. If that factor is OK, the flag is collateral. With
    no unflagged partner, the global solution decides: if it finds the
    exposure OK, the flag is collateral too. When every exposure is flagged
    the offsets cannot tell which exposures are off, and the reason says
    that instead.

    Parameters
    ----------
    dithers : sequence of int
    statuses : mapping
        The product's status of each exposure.
    pair_median, pair_error : mapping
        ``{(a, b): mu_ab}`` of the valid pairs, a < b (mag).
    global_statuses : mapping
        The status of each exposure in the global solution.
    thresholds : Thresholds

    Returns
    -------
    dict
        ``{dither: reason}`` for the flagged exposures whose flag is
        collateral (or cannot be attributed).

    Examples
    --------
    >>> pm = {(1, 2): 0.0, (1, 3): -0.026, (2, 3): -0.026}
    >>> pe = {k: 0.001 for k in pm}
    >>> collateral_reasons([1, 2, 3], {1: "WARN", 2: "WARN", 3: "FAIL"}, pm, pe,
    ...                    {1: "OK", 2: "OK", 3: "FAIL"})[1]
    'collateral: every partner is flagged (dither 2 WARN, dither 3 FAIL); the global solution finds it OK and ...'
    """
    out: dict[int, str] = {}
    flagged = {d for d in dithers if statuses.get(d) in OUT_OF_LIMITS}
    for a in sorted(flagged):
        partners = [b for b in dithers if b != a and ((a, b) in pair_median or (b, a) in pair_median)]
        clean = [b for b in partners if statuses.get(b) == Status.OK]
        named = ", ".join(f"dither {b} {statuses.get(b, '?')}" for b in partners if b not in clean)
        if clean:
            values = [pair_median[(a, b)] if (a, b) in pair_median else -pair_median[(b, a)] for b in clean]
            errors = [pair_error[(a, b)] if (a, b) in pair_error else pair_error[(b, a)] for b in clean]
            mu = median_of_few(values)
            err = math.sqrt(float(np.mean(np.square(errors))))
            value = mag_to_flux_ratio(mu)
            status = str(exposure_status([value], [mag_error_to_ratio_error(value, err)], thresholds)[0])
            if status == Status.OK:
                out[a] = (f"collateral: against its unflagged partner{'s' if len(clean) > 1 else ''} "
                          f"({', '.join(f'dither {b}' for b in clean)}) alone QPRELEX = {value:.4f} (OK); "
                          f"the flag comes from {named}")
        elif partners:
            blamed = [d for d in dithers if global_statuses.get(d) in OUT_OF_LIMITS]
            if global_statuses.get(a) == Status.OK and blamed:
                out[a] = (f"collateral: every partner is flagged ({named}); the global solution finds it OK "
                          f"and puts the offset on {', '.join(f'dither {d}' for d in blamed)}")
            elif not blamed or len(blamed) == len(dithers):
                out[a] = (f"every partner is flagged ({named}) and the global solution flags "
                          f"{'none' if not blamed else 'all'}: the offsets cannot tell which exposures are off")
    return out


def annotate(result: ObservationResult, config: Config | None = None) -> ObservationResult:
    """Add the cross-checks to a computed result, in place, and return it.

    - every exposure gets the global solution's factor and error beside its
      own (``global_value``, ``global_error``; the zero points fitted to
      every pair at once, normalised so that their median is 0, as the
      median of pair medians is: with K = 3 and one exposure off, the
      sum-zero normalisation would move the good ones by a third of the
      offset), and, with the median method,
      ``crosscheck`` when the two disagree beyond their errors;
    - a WARN or FAIL exposure whose flag comes from flagged partners gets
      ``collateral`` (`collateral_reasons`);
    - every detector statistic gets its status against its own exposure
      (``median - mag_offset``: a bad detector is a flat-field problem, not
      a bad exposure; `relphot_core.flags.detector_status`), and every
      exposure its ``detector_flag`` and ``detector_reason``
      (`relphot_core.flags.exposure_detector_flag`).

    Parameters
    ----------
    result : ObservationResult
        As `relphot_core.factors.compute_observation` makes it.
    config : Config, optional
        Thresholds (``thresholds``, ``detectors``, ``crosscheck``).
    """
    config = config or Config()
    valid = [p for p in result.pairs if p.valid and p.median is not None and p.error is not None]
    pair_median = {(p.exposure_a, p.exposure_b): float(p.median) for p in valid if p.median is not None}
    pair_error = {(p.exposure_a, p.exposure_b): float(p.error) for p in valid if p.error is not None}
    dithers = [e.exposure for e in result.exposures]
    g_offset, g_error, _ = exposure_offsets_global(dithers, pair_median, pair_error)
    if g_offset:  # normalised as the median of pair medians is: the median exposure at 1, not the mean
        level = median_of_few(list(g_offset.values()))
        g_offset = {d: value - level for d, value in g_offset.items()}
    offset: dict[int, float] = {}
    error: dict[int, float] = {}
    for item in result.exposures:
        d = item.exposure
        item.crosscheck = item.collateral = ""  # annotate again: with these thresholds only
        if d in g_offset:
            item.global_value = mag_to_flux_ratio(g_offset[d])
            item.global_error = mag_error_to_ratio_error(item.global_value, g_error[d])
        if item.mag_offset is not None and item.value is not None and item.error is not None:
            offset[d] = float(item.mag_offset)
            error[d] = ratio_error_to_mag_error(float(item.value), float(item.error))
    if result.method == "median":
        check = config.crosscheck
        for d, text in crosscheck_reasons(dithers, offset, error, g_offset, g_error, nsigma=check.nsigma,
                                          min_difference=check.min_difference).items():
            result.exposure(d).crosscheck = text
    statuses = {e.exposure: e.status for e in result.exposures}
    global_values = [np.nan if e.global_value is None else e.global_value for e in result.exposures]
    global_errors = [np.nan if e.global_error is None else e.global_error for e in result.exposures]
    global_statuses = dict(zip(dithers, exposure_status(global_values, global_errors, config.thresholds).tolist()))
    for d, text in collateral_reasons(dithers, statuses, pair_median, pair_error, global_statuses,
                                      config.thresholds).items():
        result.exposure(d).collateral = text

    by_dither: dict[int, list] = {}
    for stat in result.detectors:
        by_dither.setdefault(stat.exposure, []).append(stat)
    for item in result.exposures:
        stats = by_dither.get(item.exposure, [])
        own = offset.get(item.exposure, np.nan)
        relative = np.array([np.nan if s.median is None else s.median - own for s in stats], dtype=float)
        errors = np.array([np.nan if s.error is None else s.error for s in stats], dtype=float)
        counts = np.array([s.n for s in stats], dtype=float)
        for stat, status in zip(stats, detector_status(relative, errors, counts, config.detectors).tolist()):
            stat.status = status
        flag = exposure_detector_flag([s.detector for s in stats], relative, errors, counts, config.detectors)
        item.detector_flag = flag.kind
        item.detector_reason = flag.reason if flag.kind in OUT_OF_LIMITS else ""
        flagged = flag.kind in OUT_OF_LIMITS
        item.detector_worst = flag.worst if flagged else None
        item.detector_offset = flag.offset if flagged else None
        item.detector_offset_error = flag.error if flagged else None
    return result
