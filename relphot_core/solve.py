"""Solving for the exposures' magnitude offsets from their pairs' medians.

Two solvers, both pure functions of dicts keyed by dither (magnitudes,
positive = fainter), used by `relphot_core.factors` (the product's method)
and `relphot_core.crosscheck` (the global solution beside it):

- `exposure_offsets_median`: each exposure gets the median of its pair
  medians, mu_a = median_{b != a} mu_ab (the seed's method);
- `exposure_offsets_global`: one zero point per exposure fitted to all valid
  pairs at once (robust weighted least squares, zero points summing to 0).

Both give errors from the same noise model: the pair medians of one exposure
share that exposure's noise and correlate by `PAIR_MEDIAN_CORRELATION`.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .stats import median_variance_factor

PAIR_MEDIAN_CORRELATION = 1.0 / 3.0
"""Correlation of two pair medians sharing one exposure: (2/pi) arcsin(1/2)."""


def median_of_few(values: Sequence[float]) -> float:
    """``float(np.median(values))`` of a short list, bit for bit, without
    np.median's overhead and its import of numpy.ma (~8 ms per process).

    >>> median_of_few([3.0, 1.0, 2.0, 10.0]), median_of_few([])
    (2.5, nan)
    """
    ordered = sorted(values)
    n = len(ordered)
    if n == 0 or any(math.isnan(v) for v in ordered):
        return math.nan
    middle = n // 2
    return float(ordered[middle]) if n % 2 else float((ordered[middle - 1] + ordered[middle]) / 2.0)


def exposure_offsets_median(
    dithers: Sequence[int],
    pair_median: dict[tuple[int, int], float],
    pair_error: dict[tuple[int, int], float],
) -> tuple[dict[int, float], dict[int, float], dict[int, int]]:
    """Median of pair medians: each exposure's magnitude offset and error.

    With n valid pairs of errors e_ab, the median of n values correlated by
    rho has variance e^2 (rho + (1 - rho) v(n)), v(n) the variance of the
    median of n unit normals (`relphot_core.stats.median_variance_factor`).

    Parameters
    ----------
    dithers : sequence of int
        The exposures.
    pair_median, pair_error : dict
        ``{(a, b): mu_ab}`` and its error, for the valid pairs only, with
        a < b (mu_ba = -mu_ab is implied).

    Returns
    -------
    offset, error, n_pairs : dict
        Keyed by dither; exposures without a valid pair are absent from
        ``offset`` and ``error``.

    Examples
    --------
    >>> offset, error, n = exposure_offsets_median([1, 2, 3], {(1, 2): 0.03, (1, 3): 0.03, (2, 3): 0.0},
    ...                                            {(1, 2): 0.001, (1, 3): 0.001, (2, 3): 0.001})
    >>> offset, n
    ({1: 0.03, 2: -0.015, 3: -0.015}, {1: 2, 2: 2, 3: 2})
    """
    rho = PAIR_MEDIAN_CORRELATION
    offsets: dict[int, float] = {}
    errors: dict[int, float] = {}
    counts: dict[int, int] = {}
    for a in dithers:
        values, variances = [], []
        for b in dithers:
            if (a, b) in pair_median:
                values.append(pair_median[(a, b)])
                variances.append(pair_error[(a, b)] ** 2)
            elif (b, a) in pair_median:
                values.append(-pair_median[(b, a)])
                variances.append(pair_error[(b, a)] ** 2)
        counts[a] = len(values)
        if values:
            offsets[a] = median_of_few(values)
            factor = rho + (1.0 - rho) * median_variance_factor(len(values))
            errors[a] = math.sqrt(float(np.mean(variances)) * factor)
    return offsets, errors, counts


def exposure_offsets_global(
    dithers: Sequence[int],
    pair_median: dict[tuple[int, int], float],
    pair_error: dict[tuple[int, int], float],
    *,
    nsigma: float = 3.0,
    max_iters: int = 10,
) -> tuple[dict[int, float], dict[int, float], dict[int, int]]:
    """Global robust least squares: one zero point per exposure.

    Minimises sum w_ab (mu_ab - (z_a - z_b))^2 over the valid pairs with
    sum z = 0 over the connected exposures; pairs whose residual exceeds
    ``nsigma`` errors are down-weighted (Huber weights) and the fit repeated.

    Returns
    -------
    offset, error, n_pairs : dict
        As `exposure_offsets_median`.

    Examples
    --------
    >>> offset, error, n = exposure_offsets_global([1, 2, 3], {(1, 2): 0.03, (1, 3): 0.03, (2, 3): 0.0},
    ...                                            {(1, 2): 0.001, (1, 3): 0.001, (2, 3): 0.001})
    >>> {d: round(v, 4) for d, v in offset.items()}
    {1: 0.02, 2: -0.01, 3: -0.01}
    """
    connected = sorted({d for key in pair_median for d in key})
    counts = {d: sum(d in key for key in pair_median) for d in dithers}
    if len(connected) < 2:
        return {}, {}, counts
    position = {d: i for i, d in enumerate(connected)}
    keys = sorted(pair_median)
    k = len(connected)
    design = np.zeros((len(keys), k))
    for row, (a, b) in enumerate(keys):
        design[row, position[a]], design[row, position[b]] = 1.0, -1.0
    mu = np.array([pair_median[key] for key in keys])
    err = np.array([pair_error[key] for key in keys])
    robust = np.ones_like(mu)
    for _ in range(max_iters):
        weights = robust / err**2
        normal = design.T @ (weights[:, None] * design)
        system = np.block([[normal, np.ones((k, 1))], [np.ones((1, k)), np.zeros((1, 1))]])
        solution = np.linalg.lstsq(system, np.r_[design.T @ (weights * mu), 0.0], rcond=None)[0]
        zero_points = solution[:k]
        residual = np.abs(mu - design @ zero_points) / err
        new_robust = np.where(residual > nsigma, nsigma / np.maximum(residual, 1e-12), 1.0)
        if np.allclose(new_robust, robust):
            break
        robust = new_robust
    # z = M mu: propagate the covariance of the pair medians, which share
    # their exposures' noise (correlation +-rho for pairs with a common member).
    estimator = np.linalg.pinv(system)[:k, :k] @ design.T @ np.diag(weights)
    shared = design @ design.T  # +1 / -1 where two pairs share an exposure
    covariance = PAIR_MEDIAN_CORRELATION * shared * np.outer(err, err)
    np.fill_diagonal(covariance, err**2)
    variance = np.diag(estimator @ covariance @ estimator.T)
    offsets = {d: float(zero_points[position[d]]) for d in connected}
    errors = {d: float(math.sqrt(max(variance[position[d]], 0.0))) for d in connected}
    return offsets, errors, counts
