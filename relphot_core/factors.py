"""The relative factors of the exposures of one (observation, filter).

The method (that of the seed's ``NIR_calculate_relative_exposures``):

1. select reliable sources in each exposure (`select_sources`);
2. match every pair of exposures one-to-one on the sky and take
   dm = m_a - m_b = -2.5 log10(f_a / f_b) of each matched source;
3. sigma-clip each pair's dm around the median with a MAD-based width;
4. give each exposure the median of its pair medians,
   mu_a = median_{b != a} mu_ab, and QPRELEX = 10**(-0.4 mu_a)
   (`relphot_core.solve`, `relphot_core.photometry`).

The error: the pair medians of one exposure share that exposure's noise.
For one source, dm_ab and dm_ac correlate by 1/2 (equal noise); for their
medians the correlation is that of the signs, (2/pi) arcsin(1/2) = 1/3
(`PAIR_MEDIAN_CORRELATION`). With n valid pairs of errors e_ab, the median of
n values correlated by rho has variance e^2 (rho + (1 - rho) v(n)), v(n) the
variance of the median of n unit normals. Checked by Monte Carlo in the
tests: the pulls have unit width for K = 2..5.

``method="global"`` solves instead for one zero point per exposure over
all valid pairs at once (weighted least squares, sum of zero points 0,
pairs with large normalised residuals down-weighted iteratively); its
errors follow the same noise model.

Everything here is pure: catalogues in, `ObservationResult` out.
"""
from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from . import __version__
from .catalogs import ExposureCatalog
from .config import Config
from .errors import GroupingError
from .crosscheck import annotate
from .flags import exposure_status, flag_reason
from .matching import build_tree, match_mutual
from .photometry import flux_ratio_to_mag, flux_to_mag, mag_error_to_ratio_error, mag_to_flux_ratio
from .results import DetectorStat, ExposureFactor, MatchSample, ObservationResult, PairStat
from .solve import PAIR_MEDIAN_CORRELATION, exposure_offsets_global, exposure_offsets_median, median_of_few
from .stats import ClippedStats, clip_sorted_segments, clipped_median_order, median_variance_factor
from .status import Status

SAMPLE_SIZE = 1500
"""Matched sources per pair kept in the result for the plots."""


def select_sources(catalog: ExposureCatalog, config: Config = Config()) -> np.ndarray:
    """Mask of the reliable sources of a catalogue.

    Finite coordinates, finite positive flux and flux error, S/N at least
    ``selection.min_snr``, no extraction flag outside ``selection.flags_mask``
    and, if set, the magnitude window.

    Returns
    -------
    numpy.ndarray of bool
    """
    sel = config.selection
    with np.errstate(invalid="ignore", divide="ignore"):
        snr = catalog.flux / catalog.flux_err
        mask = (
            np.isfinite(catalog.ra) & np.isfinite(catalog.dec)
            & np.isfinite(catalog.flux) & (catalog.flux > 0)
            & np.isfinite(catalog.flux_err) & (catalog.flux_err > 0)
            & (snr >= sel.min_snr)
            & ((catalog.flags & ~np.int64(sel.flags_mask)) == 0)
        )
        if sel.mag_min is not None or sel.mag_max is not None:
            mag = flux_to_mag(catalog.flux, sel.zero_point)
            if sel.mag_min is not None:
                mask &= mag >= sel.mag_min
            if sel.mag_max is not None:
                mask &= mag <= sel.mag_max
    return mask


@dataclass
class _Selected:
    catalog: ExposureCatalog
    index: np.ndarray  # rows of the catalogue that passed the selection

    @property
    def n(self) -> int:
        return int(self.index.size)


@dataclass
class _PairData:
    stat: PairStat
    dm: np.ndarray
    kept: np.ndarray
    rows_a: np.ndarray
    rows_b: np.ndarray
    order: np.ndarray  # indices of the finite dm, by increasing value


def _pair(a: _Selected, b: _Selected, trees: dict, config: Config) -> _PairData:
    ia, ib, _ = match_mutual(trees[a.catalog.dither], trees[b.catalog.dither], config.matching.radius_arcsec)
    rows_a, rows_b = a.index[ia], b.index[ib]
    dm = flux_ratio_to_mag(a.catalog.flux[rows_a] / b.catalog.flux[rows_b])
    clip, order = clipped_median_order(dm, sigma=config.clipping.sigma, max_iters=config.clipping.max_iters)

    def finite(x: float) -> float | None:
        return x if math.isfinite(x) else None

    stat = PairStat(
        exposure_a=a.catalog.dither,
        exposure_b=b.catalog.dither,
        median=finite(clip.median),
        error=finite(clip.error),
        sigma=finite(clip.sigma),
        n_matched=int(dm.size),
        n_kept=clip.n_kept,
        n_rejected=clip.n_rejected,
        clip_low=finite(clip.low),
        clip_high=finite(clip.high),
        valid=clip.n_kept >= config.factors.min_pair_matches and math.isfinite(clip.error),
    )
    return _PairData(stat, dm, clip.kept, rows_a, rows_b, order)


def _detector_stats(
    selected: dict[int, _Selected], pairs: list[_PairData], offsets: dict[int, float], config: Config
) -> list[DetectorStat]:
    """Per (exposure, detector), the method of the exposures one level down.

    For each partner exposure b, the clipped median of dm_ab - mu_ab over
    the sources that fell on detector d of exposure a; then the median over
    the partners, plus the exposure's own offset mu_a. A detector that reads
    faint in exposure a shows its offset; its sources, seen on some detector
    of another exposure, only shift one of that detector's partner medians,
    which the median over partners ignores (as for exposures).
    """
    # Each (exposure, detector, partner) group is one side of one pair: the
    # pair's dm, sorted once, then stably by detector (a radix sort), gives
    # every group's values already sorted; all groups are clipped at once.
    chunks, labels, bounds = [], [], []
    offset = 0
    for pair in pairs:
        if not pair.stat.valid:
            continue
        a, b = pair.stat.exposure_a, pair.stat.exposure_b
        for dither, partner, sign, rows in ((a, b, 1.0, pair.rows_a), (b, a, -1.0, pair.rows_b)):
            if dither not in offsets or pair.order.size == 0:
                continue
            order = pair.order if sign > 0 else pair.order[::-1]  # values increasing either way
            values = sign * (pair.dm[order] - pair.stat.median)
            detector = selected[dither].catalog.detector[rows[order]]
            by_det = np.argsort(detector, kind="stable")
            values, detector = values[by_det], detector[by_det]
            cuts = np.flatnonzero(detector[1:] != detector[:-1]) + 1
            firsts = np.r_[0, cuts]
            chunks.append(values)
            labels += [(dither, int(det), partner) for det in detector[firsts].tolist()]
            bounds.append(np.column_stack((firsts, np.r_[cuts, detector.size])) + offset)
            offset += values.size
    if not chunks:
        return []
    bounds_all = np.concatenate(bounds)
    group_stats = clip_sorted_segments(np.concatenate(chunks), bounds_all[:, 0], bounds_all[:, 1],
                                       sigma=config.clipping.sigma, max_iters=config.clipping.max_iters)
    by_detector: dict[tuple[int, int], list[tuple[int, ClippedStats]]] = {}
    for (dither, det, partner), stat in zip(labels, group_stats):
        if stat.n_kept >= 2 and math.isfinite(stat.error):
            by_detector.setdefault((dither, det), []).append((partner, stat))
    out = []
    for (dither, detector), by_partner in sorted(by_detector.items()):
        partner_stats = [stat for _, stat in sorted(by_partner, key=lambda item: item[0])]
        medians = [s.median for s in partner_stats]
        variance = float(np.mean([s.error**2 for s in partner_stats]))
        factor = PAIR_MEDIAN_CORRELATION + (1 - PAIR_MEDIAN_CORRELATION) * median_variance_factor(len(medians))
        out.append(DetectorStat(
            exposure=dither,
            detector=detector,
            median=median_of_few(medians) + offsets[dither],
            error=math.sqrt(variance * factor),
            n=sum(s.n_kept for s in partner_stats),
        ))
    return out


def _sample(pair: _PairData, selected: dict[int, _Selected], config: Config) -> MatchSample:
    a = selected[pair.stat.exposure_a].catalog
    rng = np.random.default_rng(pair.stat.exposure_a * 1000 + pair.stat.exposure_b)
    pick = np.arange(pair.dm.size)
    if pick.size > SAMPLE_SIZE:
        pick = np.sort(rng.choice(pick, SAMPLE_SIZE, replace=False))
    rows = pair.rows_a[pick]
    return MatchSample(
        exposure_a=a.dither,
        exposure_b=pair.stat.exposure_b,
        ra=a.ra[rows],
        dec=a.dec[rows],
        mag=flux_to_mag(a.flux[rows], config.selection.zero_point),
        dm=pair.dm[pick],
        kept=pair.kept[pick],
    )


def input_digest(catalogs: Sequence[ExposureCatalog], config: Config) -> str:
    """Hash of the catalogues' contents and the parameters."""
    hasher = hashlib.sha256()
    for catalog in sorted(catalogs, key=lambda c: c.dither):
        hasher.update(catalog.digest().encode())
    for key, value in sorted(config.parameters().items()):
        hasher.update(f"{key}={value}".encode())
    return hasher.hexdigest()


def compute_observation(
    catalogs: Sequence[ExposureCatalog],
    config: Config = Config(),
    *,
    keep_samples: bool = True,
) -> ObservationResult:
    """QPRELEX and QPRELEXE of every exposure of one (observation, filter).

    Parameters
    ----------
    catalogs : sequence of ExposureCatalog
        The exposures (K >= 1; with K = 1 the exposure gets NODATA).
    config : Config, optional
        Selection, matching, clipping, minimum counts, method, thresholds.
    keep_samples : bool, optional
        Keep a subsample of each pair's matched sources for the plots.

    Returns
    -------
    ObservationResult
        One `ExposureFactor` per input catalogue (never dropped: an exposure
        without a valid pair gets ``NODATA`` and the reason), the pair and
        per-detector statistics.

    Raises
    ------
    GroupingError
        If the catalogues mix observations or filters or repeat a dither.
    """
    if not catalogs:
        raise GroupingError(None, "no catalogue given")
    first = catalogs[0]
    seen: dict[int, ExposureCatalog] = {}
    for catalog in catalogs:
        if (catalog.obs_id, catalog.filter) != (first.obs_id, first.filter):
            raise GroupingError(catalog.file, f"is observation {catalog.obs_id} {catalog.filter}, but "
                                              f"{first.file} is observation {first.obs_id} {first.filter}")
        if catalog.dither in seen:
            raise GroupingError(catalog.file, f"claims dither {catalog.dither}, already given by "
                                              f"{seen[catalog.dither].file}")
        seen[catalog.dither] = catalog
    ordered = [seen[d] for d in sorted(seen)]
    dithers = [c.dither for c in ordered]

    selected = {c.dither: _Selected(c, np.flatnonzero(select_sources(c, config))) for c in ordered}
    trees = {d: build_tree(s.catalog.ra[s.index], s.catalog.dec[s.index]) for d, s in selected.items()}
    pairs = [_pair(selected[a], selected[b], trees, config) for a, b in combinations(dithers, 2)]

    valid = [p.stat for p in pairs if p.stat.valid]
    # a valid pair has its median and error
    pair_median = {(p.exposure_a, p.exposure_b): p.median for p in valid if p.median is not None}
    pair_error = {(p.exposure_a, p.exposure_b): p.error for p in valid if p.error is not None}
    solve = exposure_offsets_global if config.factors.method == "global" else exposure_offsets_median
    offsets, errors, n_pairs = solve(dithers, pair_median, pair_error)

    exposures = []
    for catalog in ordered:
        d = catalog.dither
        own_pairs = [p.stat for p in pairs if d in (p.stat.exposure_a, p.stat.exposure_b)]
        if d in offsets:
            value = mag_to_flux_ratio(offsets[d])
            error = mag_error_to_ratio_error(value, errors[d])
            reason = ""
        else:
            value = error = math.nan
            reason = _nodata_reason(selected[d], own_pairs, len(ordered), config)
        exposures.append(ExposureFactor(
            exposure=d,
            value=value if math.isfinite(value) else None,
            error=error if math.isfinite(error) else None,
            mag_offset=offsets.get(d),
            status=Status.NODATA.value,  # until the rules below decide
            reason=reason,
            n_pairs=n_pairs.get(d, 0),
            n_matched=sum(p.n_matched for p in own_pairs),
            n_kept=sum(p.n_kept for p in own_pairs if p.valid),
            n_sources=selected[d].n,
            mjd_obs=catalog.mjd_obs,
            date_obs=catalog.date_obs,
            exptime=catalog.exptime,
            file=catalog.file,
        ))
    statuses = exposure_status([np.nan if e.value is None else e.value for e in exposures],
                               [np.nan if e.error is None else e.error for e in exposures],
                               config.thresholds)
    for item, status in zip(exposures, statuses):
        item.status = str(status)
        item.reason = item.reason or flag_reason(item.status, item.value, item.error, config.thresholds)

    starts = [c.mjd_obs for c in ordered if c.mjd_obs is not None]
    ends = [c.mjd_obs + (c.exptime or 0.0) / 86400.0 for c in ordered if c.mjd_obs is not None]
    result = ObservationResult(
        obs_id=first.obs_id,
        filter=first.filter,
        method=config.factors.method,
        exposures=exposures,
        pairs=[p.stat for p in pairs],
        detectors=_detector_stats(selected, pairs, offsets, config),
        samples=[_sample(p, selected, config) for p in pairs if p.dm.size] if keep_samples else [],
        parameters=config.parameters(),
        software_version=__version__,
        mjd_start=min(starts) if starts else None,
        mjd_end=max(ends) if ends else None,
        ra_pointing=first.ra_pointing,
        dec_pointing=first.dec_pointing,
        pa_pointing=first.pa_pointing,
        input_digest=input_digest(ordered, config),
    )
    return annotate(result, config)  # global solution beside, collateral flags, detector statuses


def _nodata_reason(selected: _Selected, own_pairs: list[PairStat], n_exposures: int, config: Config) -> str:
    if n_exposures < 2:
        return "only one exposure in this observation and filter: nothing to compare with"
    if selected.n == 0:
        return (f"no reliable source in the catalogue ({selected.catalog.n_sources} sources, none with finite "
                f"positive flux, S/N >= {config.selection.min_snr:g} and clean flags)")
    best = max((p.n_kept for p in own_pairs), default=0)
    return (f"no pair with at least {config.factors.min_pair_matches} matched sources after clipping "
            f"(best pair: {best}); the exposures may not overlap")
