"""Modified Julian Dates: one epoch for the whole package.

MJD 0 is 1858-11-17T00:00 UTC. The store keeps times as MJD (``MJD-OBS``);
products, pages and reasons show them as UTC dates.
"""
from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone

MJD_EPOCH = datetime(1858, 11, 17, tzinfo=timezone.utc)
"""MJD 0, timezone-aware UTC."""

MJD_EPOCH_DATE: date = MJD_EPOCH.date()
"""MJD 0 as a calendar date (for whole-day arithmetic)."""


def mjd_to_datetime(mjd: float) -> datetime:
    """The UTC moment of an MJD (timezone-aware).

    Examples
    --------
    >>> mjd_to_datetime(60700.5).isoformat()
    '2025-01-25T12:00:00+00:00'
    """
    return MJD_EPOCH + timedelta(days=float(mjd))


def datetime_to_mjd(moment: datetime) -> float:
    """The MJD of a moment (naive datetimes are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - MJD_EPOCH) / timedelta(days=1)


def mjd_to_day(mjd: float | None) -> str:
    """``YYYY-MM-DD`` (UTC) of an MJD; empty for None or NaN.

    Examples
    --------
    >>> mjd_to_day(60700.0), mjd_to_day(float("nan"))
    ('2025-01-25', '')
    """
    if mjd is None or not math.isfinite(mjd):
        return ""
    return mjd_to_datetime(mjd).strftime("%Y-%m-%d")
