"""The survey at a glance: one summary row per (observation, filter), and
the sky: an equal-area all-sky projection and HEALPix cells.

`observation_summary` reduces an exposure table (the store's trend tables)
to one row per (observation, filter): its dithers, worst status, largest
``|QPRELEX - 1|``, the flags beyond the status and the review state.
`exposure_context` gives each factor's context (sources matched, fraction
clipped, pair dispersion). `hammer_xy` projects (RA, Dec) on the Hammer equal-area projection;
`healpix_index` and `cell_summary` aggregate pointings on HEALPix cells
(`astropy_healpix`, nested order), so that a survey's 87,000 pointings
draw as a few thousand cells.

Pure functions of arrays and data frames, no I/O.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .qc.flags import FLAG_BITS, FlagKind, awaits_review, is_flagged, table_bits
from .status import STATUS_ORDER

STATUSES: tuple[str, ...] = tuple(s.value for s in STATUS_ORDER)
"""The statuses from best to worst (`relphot_core.status.STATUS_ORDER`)."""

SUMMARY_COLUMNS: tuple[str, ...] = (
    "obs_id", "filter", "mjd_start", "n_dithers", "worst_status", "max_offset", "n_flagged", "n_detector",
    "n_crosscheck", "n_alarm", "n_awaiting", "run_id",
)
"""The columns of `observation_summary`."""


def status_rank(status: pd.Series) -> np.ndarray:
    """Position of each status in `STATUSES` (0 = OK); unknown -> last."""
    codes = pd.Categorical(status.astype(object), categories=list(STATUSES)).codes.astype(np.int16)
    return np.where(codes < 0, len(STATUSES) - 1, codes)


def observation_summary(exposures: pd.DataFrame) -> pd.DataFrame:
    """One row per (obs_id, filter) of an exposure table.

    Parameters
    ----------
    exposures : pandas.DataFrame
        Exposure rows with obs_id, filter, exposure, mjd_obs, value, status
        and, when present, detector_flag, crosscheck, alarmed, reviewed and
        run_id (the store's trend table, or its cached form).

    Returns
    -------
    pandas.DataFrame
        `SUMMARY_COLUMNS`: the first exposure's MJD, the number of dithers,
        the worst status (`STATUSES`), the largest ``|QPRELEX - 1|`` (NaN
        when no exposure has a value), the exposures with a flagged status
        (WARN, FAIL, NODATA), a WARN/FAIL detector, a disagreement with the
        global solution, a control-chart alarm, the flagged ones not
        reviewed at their current status (`relphot_core.reviews.awaits_review`)
        and the run (-1 when unknown). Ordered by obs_id, filter.

    Examples
    --------
    >>> table = pd.DataFrame({"obs_id": [7, 7], "filter": ["NIR_J"] * 2, "exposure": [1, 2],
    ...                       "mjd_obs": [60000.1, 60000.2], "value": [1.0, 0.97], "status": ["OK", "FAIL"],
    ...                       "reviewed": [False, False]})
    >>> row = observation_summary(table).iloc[0]
    >>> int(row.n_dithers), row.worst_status, round(float(row.max_offset), 3), int(row.n_awaiting)
    (2, 'FAIL', 0.03, 1)
    """
    if exposures.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in SUMMARY_COLUMNS})
    df = exposures
    n = len(df)

    bits = table_bits(df)  # the flag model's answer, once

    def flag(kind: FlagKind) -> np.ndarray:
        return (bits & FLAG_BITS[kind]) != 0

    value = df["value"].to_numpy(dtype=float)
    work = pd.DataFrame({
        "obs_id": df["obs_id"].to_numpy(), "filter": df["filter"].astype(str).to_numpy(),
        "mjd": df["mjd_obs"].to_numpy(dtype=float), "rank": status_rank(df["status"]),
        "offset": np.abs(value - 1.0),
        "flagged": flag(FlagKind.STATUS), "detector": flag(FlagKind.DETECTOR),
        "crosscheck": flag(FlagKind.CROSSCHECK), "alarm": flag(FlagKind.ALARM),
        "awaiting": awaits_review(df) if "reviewed" in df.columns else is_flagged(df),
        "run_id": df["run_id"].to_numpy(dtype=np.int64) if "run_id" in df.columns else np.full(n, -1),
    })
    grouped = work.groupby(["obs_id", "filter"], sort=True)
    out = grouped.agg(mjd_start=("mjd", "min"), n_dithers=("rank", "size"), worst=("rank", "max"),
                      max_offset=("offset", "max"), n_flagged=("flagged", "sum"), n_detector=("detector", "sum"),
                      n_crosscheck=("crosscheck", "sum"), n_alarm=("alarm", "sum"), n_awaiting=("awaiting", "sum"),
                      run_id=("run_id", "max")).reset_index()
    out["worst_status"] = np.asarray(STATUSES, dtype=object)[out.pop("worst").to_numpy()]
    for name in ("n_dithers", "n_flagged", "n_detector", "n_crosscheck", "n_alarm", "n_awaiting", "run_id"):
        out[name] = out[name].astype(np.int64)
    return out[list(SUMMARY_COLUMNS)]


def hammer_xy(ra: np.ndarray, dec: np.ndarray, *, centre: float = 180.0) -> tuple[np.ndarray, np.ndarray]:
    """The Hammer equal-area projection of (RA, Dec) in degrees.

    RA increases to the left (as the sky is seen), ``centre`` is the RA at
    the middle; x spans [-2√2, 2√2], y [-√2, √2].

    >>> x, y = hammer_xy(np.array([180.0, 90.0]), np.array([0.0, 90.0]))
    >>> np.abs(np.round(x, 6)).tolist(), np.round(y, 6).tolist()
    ([0.0, 0.0], [0.0, 1.414214])
    """
    lon = np.radians(((np.asarray(ra, dtype=float) - centre + 180.0) % 360.0) - 180.0)
    lat = np.radians(np.asarray(dec, dtype=float))
    scale = np.sqrt(2.0) / np.sqrt(1.0 + np.cos(lat) * np.cos(lon / 2.0))
    return -2.0 * np.cos(lat) * np.sin(lon / 2.0) * scale, np.sin(lat) * scale


def hammer_radec(x: np.ndarray, y: np.ndarray, *, centre: float = 180.0) -> tuple[np.ndarray, np.ndarray]:
    """The inverse of `hammer_xy` (NaN outside the projection's ellipse)."""
    x = -np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    inside = (x / 2.0) ** 2 + y ** 2 <= 2.0
    z = np.sqrt(np.clip(1.0 - (x / 4.0) ** 2 - (y / 2.0) ** 2, 0.0, None))
    lon = 2.0 * np.arctan2(z * x, 2.0 * (2.0 * z ** 2 - 1.0))
    lat = np.arcsin(np.clip(z * y, -1.0, 1.0))
    ra = (np.degrees(lon) + centre) % 360.0
    return np.where(inside, ra, np.nan), np.where(inside, np.degrees(lat), np.nan)


def healpix_index(ra: np.ndarray, dec: np.ndarray, nside: int) -> np.ndarray:
    """The nested HEALPix cell of each (RA, Dec) in degrees (-1 where either is NaN)."""
    import astropy.units as u
    from astropy_healpix import lonlat_to_healpix

    ra = np.asarray(ra, dtype=float)
    dec = np.asarray(dec, dtype=float)
    good = np.isfinite(ra) & np.isfinite(dec)
    out = np.full(ra.shape, -1, dtype=np.int64)
    if good.any():
        out[good] = lonlat_to_healpix(ra[good] * u.deg, np.clip(dec[good], -90, 90) * u.deg, int(nside),
                                      order="nested")
    return out


def cell_centres(index: np.ndarray, nside: int) -> tuple[np.ndarray, np.ndarray]:
    """RA and Dec (degrees) of the centres of nested HEALPix cells."""
    from astropy_healpix import healpix_to_lonlat

    lon, lat = healpix_to_lonlat(np.asarray(index, dtype=np.int64), int(nside), order="nested")
    return np.asarray(lon.deg, dtype=float), np.asarray(lat.deg, dtype=float)


def cell_summary(ra: np.ndarray, dec: np.ndarray, worst_rank: np.ndarray, offset: np.ndarray,
                 nside: int) -> pd.DataFrame:
    """Pointings aggregated on nested HEALPix cells.

    Parameters
    ----------
    ra, dec : numpy.ndarray
        Pointings (degrees); pointings without both are left out.
    worst_rank : numpy.ndarray
        Each pointing's worst status as its position in `STATUSES`.
    offset : numpy.ndarray
        Each pointing's largest ``|QPRELEX - 1|`` (NaN: none).
    nside : int
        HEALPix resolution (a power of 2).

    Returns
    -------
    pandas.DataFrame
        One row per non-empty cell: cell, ra, dec (its centre), count,
        worst_status, n_flagged (pointings whose worst status is not OK),
        max_offset.

    >>> cells = cell_summary(np.array([10.0, 10.1, 200.0]), np.array([5.0, 5.1, -30.0]),
    ...                      np.array([0, 2, 1]), np.array([0.001, 0.02, 0.007]), nside=8)
    >>> cells["count"].tolist(), cells["worst_status"].tolist()
    ([2, 1], ['FAIL', 'WARN'])
    """
    index = healpix_index(ra, dec, nside)
    good = index >= 0
    work = pd.DataFrame({"cell": index[good], "rank": np.asarray(worst_rank)[good],
                         "offset": np.asarray(offset, dtype=float)[good]})
    work["flagged"] = work["rank"] > 0
    out = work.groupby("cell", sort=True).agg(count=("rank", "size"), worst=("rank", "max"),
                                              n_flagged=("flagged", "sum"), max_offset=("offset", "max"))
    out = out.reset_index()
    centre_ra, centre_dec = cell_centres(out["cell"].to_numpy(), nside)
    out.insert(1, "ra", centre_ra)
    out.insert(2, "dec", centre_dec)
    out["worst_status"] = np.asarray(STATUSES, dtype=object)[out.pop("worst").to_numpy()]
    out["n_flagged"] = out["n_flagged"].astype(np.int64)
    return out[["cell", "ra", "dec", "count", "worst_status", "n_flagged", "max_offset"]]




CONTEXT_COLUMNS: tuple[str, ...] = ("obs_id", "exposure", "mjd_obs", "matched", "clipped_fraction",
                                    "pair_dispersion")
"""The columns of `exposure_context`."""


def exposure_context(factors: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """The context of each exposure's factor: how many sources were matched,
    what fraction the clipping rejected, how wide its pairs' dm were.

    Parameters
    ----------
    factors : pandas.DataFrame
        One row per exposure: obs_id, exposure, mjd_obs, n_matched, n_kept.
    pairs : pandas.DataFrame
        One row per pair of the same runs: obs_id, exposure_a, exposure_b,
        sigma (the pair's clipped dm dispersion, mag).

    Returns
    -------
    pandas.DataFrame
        `CONTEXT_COLUMNS`, in the order of ``factors``: ``matched`` (n_matched),
        ``clipped_fraction`` (1 - n_kept / n_matched; NaN without matches),
        ``pair_dispersion`` (the median sigma of the exposure's pairs, mmag;
        NaN without pairs).

    >>> f = pd.DataFrame({"obs_id": [1, 1, 1], "exposure": [1, 2, 3], "mjd_obs": [0.0, 0.1, 0.2],
    ...                   "n_matched": [100, 200, 0], "n_kept": [90, 190, 0]})
    >>> p = pd.DataFrame({"obs_id": [1, 1, 1], "exposure_a": [1, 1, 2], "exposure_b": [2, 3, 3],
    ...                   "sigma": [0.010, 0.020, 0.030]})
    >>> out = exposure_context(f, p)
    >>> out["clipped_fraction"].round(3).tolist(), out["pair_dispersion"].round(1).tolist()
    ([0.1, 0.05, nan], [15.0, 20.0, 25.0])
    """
    matched = factors["n_matched"].to_numpy(dtype=float)
    kept = factors["n_kept"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        clipped = np.where(matched > 0, 1.0 - kept / matched, np.nan)
    ends = pd.concat([pairs[["obs_id", "exposure_a", "sigma"]].rename(columns={"exposure_a": "exposure"}),
                      pairs[["obs_id", "exposure_b", "sigma"]].rename(columns={"exposure_b": "exposure"})],
                     ignore_index=True)
    dispersion = ends.groupby(["obs_id", "exposure"])["sigma"].median().rename("pair_dispersion") * 1000.0
    out = pd.DataFrame({"obs_id": factors["obs_id"].to_numpy(), "exposure": factors["exposure"].to_numpy(),
                        "mjd_obs": factors["mjd_obs"].to_numpy(dtype=float), "matched": matched.astype(np.int64),
                        "clipped_fraction": clipped})
    out = out.merge(dispersion.reset_index(), on=["obs_id", "exposure"], how="left")
    out["pair_dispersion"] = out["pair_dispersion"].astype(float)
    return out[list(CONTEXT_COLUMNS)]


__all__ = ["STATUSES", "SUMMARY_COLUMNS", "CONTEXT_COLUMNS", "observation_summary", "exposure_context", "status_rank",
           "hammer_xy", "hammer_radec", "healpix_index", "cell_centres", "cell_summary"]
