"""One flag model: what makes an exposure flagged, and why, decided once.

An exposure carries a flag of each kind that applies (`FlagKind`):

- ``status``: a ``WARN``, ``FAIL`` or ``NODATA`` status (`relphot_core.status`);
- ``detector``: a flagged detector (its ``detector_flag`` is ``WARN`` or ``FAIL``);
- ``crosscheck``: the global solution disagrees with the factor;
- ``alarm``: a control-chart alarm of its dither position (outside the
  control limits, or inside a drift: `relphot_core.qc.series`).

A processing failure (``failure``) is a flag of a set that has no factors.

`exposure_flags` gives every row of an exposure table its flags as a bit
field (`FLAG_BITS`), with the reasons; `is_flagged`, `awaits_review`,
`flag_about` and `next_flagged` are the one answer to "is it flagged", "is
it waiting for a reviewer", "what would a review be about" and "which
observation is the next flagged one", for the triage queue, the observation
page, the counts, the exports, the API and the products alike.

Pure functions of data frames and arrays: no store, no I/O.
"""
from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any

import numpy as np
import pandas as pd

from ..status import FLAGGED, OUT_OF_LIMITS


class FlagKind(str, Enum):
    """The kinds of flags (stored as their values)."""

    STATUS = "status"
    DETECTOR = "detector"
    CROSSCHECK = "crosscheck"
    ALARM = "alarm"
    FAILURE = "failure"

    def __str__(self) -> str:
        return self.value


FLAG_KINDS: tuple[str, ...] = tuple(kind.value for kind in FlagKind)
"""Every flag kind, in the order a row shows them."""

FLAG_BITS: dict[FlagKind, int] = {FlagKind.STATUS: 1, FlagKind.DETECTOR: 2, FlagKind.CROSSCHECK: 4,
                                  FlagKind.ALARM: 8}
"""The bit of each exposure flag kind in the ``flags`` column."""


def _text(values: Any, n: int) -> np.ndarray:
    """An object array of strings ("" for None / NaN), length ``n``."""
    if values is None:
        return np.full(n, "", dtype=object)
    series = pd.Series(values, copy=False).astype(object)
    return series.where(series.notna(), "").astype(str).to_numpy(dtype=object)


def flag_bits(status: Any, detector_flag: Any = None, crosscheck: Any = None, alarm: Any = None) -> np.ndarray:
    """The flags of each exposure as a bit field (`FLAG_BITS`).

    Parameters
    ----------
    status : array_like of str
        Exposure statuses.
    detector_flag, crosscheck, alarm : array_like of str, optional
        The detector flag (``WARN``/``FAIL`` flag), the cross-check reason
        and the control-chart alarm (non-empty flags); None: no such flag.

    Returns
    -------
    numpy.ndarray of uint8

    Examples
    --------
    >>> flag_bits(["OK", "FAIL", "OK", "OK"], ["OK", "OK", "FAIL", "OK"], ["", "", "", ""],
    ...           ["", "outside control limits", "", "drift"]).tolist()
    [0, 9, 2, 8]
    """
    status = _text(status, len(status))
    n = status.size
    bits = np.where(np.isin(status, [s.value for s in FLAGGED]), FLAG_BITS[FlagKind.STATUS], 0).astype(np.uint8)
    if detector_flag is not None:
        bits |= np.where(np.isin(_text(detector_flag, n), [s.value for s in OUT_OF_LIMITS]),
                         FLAG_BITS[FlagKind.DETECTOR], 0).astype(np.uint8)
    if crosscheck is not None:
        bits |= np.where(_text(crosscheck, n) != "", FLAG_BITS[FlagKind.CROSSCHECK], 0).astype(np.uint8)
    if alarm is not None:
        bits |= np.where(_text(alarm, n) != "", FLAG_BITS[FlagKind.ALARM], 0).astype(np.uint8)
    return bits


def _column(frame: pd.DataFrame, name: str) -> Any:
    if name == "alarm" and name not in frame.columns and "alarmed" in frame.columns:
        return np.where(frame["alarmed"].fillna(False).to_numpy(dtype=bool), "alarm", "")  # a boolean column only
    return frame[name] if name in frame.columns else None


def table_bits(frame: pd.DataFrame) -> np.ndarray:
    """`flag_bits` of an exposure table (its ``flags`` column when it has one)."""
    if "flags" in frame.columns:
        return frame["flags"].to_numpy(dtype=np.uint8)
    return flag_bits(frame["status"], _column(frame, "detector_flag"), _column(frame, "crosscheck"),
                     _column(frame, "alarm"))


def exposure_flags(frame: pd.DataFrame) -> pd.DataFrame:
    """An exposure table with its flags.

    Adds ``flags`` (`flag_bits`), ``flag`` (a flag beyond the status: a
    detector, cross-check or alarm flag, which the trend marks on top of the
    status colour) and ``flag_reason`` (the reasons of the flags beyond the
    status, one a line, then the collateral note when there is one).

    Parameters
    ----------
    frame : pandas.DataFrame
        Exposure rows with ``status`` and, when present, ``detector_flag``,
        ``detector_reason``, ``crosscheck``, ``alarm``, ``alarm_reason``
        and ``collateral``.

    Returns
    -------
    pandas.DataFrame
        A new frame.

    Examples
    --------
    >>> rows = pd.DataFrame({"status": ["OK", "WARN"], "detector_flag": ["FAIL", "OK"],
    ...                      "detector_reason": ["detector 23: +31.5 mmag", ""], "alarm": ["", ""],
    ...                      "alarm_reason": ["", ""], "crosscheck": ["", ""],
    ...                      "collateral": ["", "collateral: the flag comes from dither 1 FAIL"]})
    >>> out = exposure_flags(rows)
    >>> out["flags"].tolist(), out["flag"].tolist(), out["flag_reason"].tolist()
    ([2, 1], [True, False], ['detector 23: +31.5 mmag', 'collateral: the flag comes from dither 1 FAIL'])
    """
    n = len(frame)
    bits = table_bits(frame.drop(columns="flags", errors="ignore"))
    parts = []
    for kind, column in ((FlagKind.ALARM, "alarm_reason"), (FlagKind.DETECTOR, "detector_reason"),
                         (FlagKind.CROSSCHECK, "crosscheck")):
        if column in frame.columns:
            parts.append(np.where(bits & FLAG_BITS[kind], _text(frame[column], n), ""))
    if "collateral" in frame.columns:
        parts.append(_text(frame["collateral"], n))
    joined = np.full(n, "", dtype=object)
    for part in parts:
        joined = np.where((joined != "") & (part != ""), joined + "\n" + part, np.where(joined != "", joined, part))
    beyond = (bits & ~np.uint8(FLAG_BITS[FlagKind.STATUS])) != 0
    return frame.assign(flags=bits, flag=beyond, flag_reason=joined.astype(object))


def is_flagged(frame: pd.DataFrame) -> np.ndarray:
    """Which rows of an exposure table carry any flag (`exposure_flags`).

    Examples
    --------
    >>> is_flagged(pd.DataFrame({"status": ["OK", "NODATA", "OK"], "alarm": ["", "", "drift"]})).tolist()
    [False, True, True]
    """
    return table_bits(frame) != 0


def awaits_review(frame: pd.DataFrame) -> np.ndarray:
    """Which rows belong in the triage queue: flagged (`is_flagged`) and not
    reviewed at their current status (``reviewed``: the latest valid review
    was made on it)."""
    return is_flagged(frame) & ~frame["reviewed"].to_numpy(dtype=bool)


def _row_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value)


def flag_about(row: Mapping[str, Any]) -> tuple[str, str]:
    """The flag a reviewer of this exposure row decides on: its kind
    (`FlagKind` value) and the reason shown.

    The status comes first (a WARN, FAIL or NODATA is what the row shows
    first), then a flagged detector, a disagreement with the global
    solution, a control-chart alarm; an exposure with none of these is
    reviewed on its (OK) status.

    Parameters
    ----------
    row : mapping
        An exposure row: ``status`` and ``reason``, and when present
        ``detector_flag``/``detector_reason``, ``crosscheck``,
        ``alarm``/``alarm_reason`` (or the boolean ``alarmed``).

    Returns
    -------
    tuple of str
        ``(kind, reason)``, e.g. ``("status", "FAIL: |QPRELEX - 1| = 0.031 > 0.02")``.

    Examples
    --------
    >>> flag_about({"status": "OK", "alarm": "drift", "alarm_reason": "drift of dither 4 since 2025-02-04"})
    ('alarm', 'drift of dither 4 since 2025-02-04')
    """
    status = _row_text(row.get("status")) or "NODATA"
    if status in FLAGGED:
        reason = _row_text(row.get("reason"))
        return FlagKind.STATUS.value, f"{status}: {reason}" if reason else status
    if _row_text(row.get("detector_flag")) in OUT_OF_LIMITS:
        text = f"detector {row.get('detector_flag')}: {_row_text(row.get('detector_reason'))}".rstrip(": ")
        return FlagKind.DETECTOR.value, text
    if _row_text(row.get("crosscheck")):
        return FlagKind.CROSSCHECK.value, _row_text(row.get("crosscheck"))
    alarmed = row.get("alarmed")
    if (isinstance(alarmed, (bool, np.bool_)) and alarmed) or _row_text(row.get("alarm")):
        return FlagKind.ALARM.value, _row_text(row.get("alarm_reason")) or _row_text(row.get("alarm"))
    reason = _row_text(row.get("reason"))
    return FlagKind.STATUS.value, f"{status}: {reason}" if reason else status


def next_flagged(table: pd.DataFrame | None, obs_id: int, *, before: bool = False) -> int | None:
    """The nearest observation after ``obs_id`` (before it with ``before``)
    with a flagged exposure (`is_flagged`) in an exposure table, or None.

    Examples
    --------
    >>> rows = pd.DataFrame({"obs_id": [1, 2, 3, 4], "status": ["FAIL", "OK", "OK", "WARN"]})
    >>> next_flagged(rows, 1), next_flagged(rows, 4, before=True), next_flagged(rows, 4)
    (4, 1, None)
    """
    if table is None or table.empty:
        return None
    obs = table["obs_id"].to_numpy()
    wanted = is_flagged(table) & ((obs < obs_id) if before else (obs > obs_id))
    if not wanted.any():
        return None
    return int(obs[wanted].max() if before else obs[wanted].min())
