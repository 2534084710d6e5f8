"""The QC status of an exposure factor: one type, its order, and the one
table of rules that gives both a factor's status and the reason for it.

A status is a `Status` (a `str`, so ``Status.FAIL == "FAIL"``: the store,
the XML product, the JSON rows and the dashboard's URLs keep their plain
strings). `STATUS_ORDER` runs from best to worst, ``NODATA`` last;
`FLAGGED` holds the statuses that call for a look.

The status of a factor ``QPRELEX`` with error ``QPRELEXE`` is given by the
first rule of `EXPOSURE_RULES` that holds (``OK`` when none does):

======  ================  ====================================================
status  rule              holds when
======  ================  ====================================================
NODATA  no QPRELEX value  ``QPRELEX`` is missing (NaN or not finite)
FAIL    FAIL limit        ``|QPRELEX - 1| > fail``
WARN    WARN limit        ``|QPRELEX - 1| > warn`` and ``> warn_nsigma * QPRELEXE``
======  ================  ====================================================

(a missing error counts as an infinitely precise value). The thresholds are
`relphot_core.config.Thresholds`. Pure functions, no I/O.
"""
from __future__ import annotations

import enum
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - config imports nothing from here, but keep the import graph flat
    from .config import Thresholds


class Status(str, enum.Enum):
    """A QC status. A `str`: ``Status.WARN == "WARN"`` and ``f"{Status.WARN}"``
    is ``WARN``.

    Examples
    --------
    >>> Status("FAIL") is Status.FAIL, Status.FAIL == "FAIL", Status.FAIL.is_flagged
    (True, True, True)
    >>> sorted(["NODATA", "OK", "FAIL"], key=status_rank)
    ['OK', 'FAIL', 'NODATA']
    """

    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"
    NODATA = "NODATA"

    __str__ = str.__str__

    def __format__(self, format_spec: str) -> str:
        return str.__format__(self, format_spec)

    @property
    def rank(self) -> int:
        """Position in `STATUS_ORDER` (0 = ``OK``, best)."""
        return STATUS_ORDER.index(self)

    @property
    def is_flagged(self) -> bool:
        """The status calls for a look (``WARN``, ``FAIL`` or ``NODATA``)."""
        return self in FLAGGED


STATUS_ORDER: tuple[Status, ...] = (Status.OK, Status.WARN, Status.FAIL, Status.NODATA)
"""Every status, from best to worst (``NODATA``, no factor at all, last)."""

FLAGGED: frozenset[Status] = frozenset({Status.WARN, Status.FAIL, Status.NODATA})
"""The statuses that flag an exposure."""

OUT_OF_LIMITS: tuple[Status, ...] = (Status.WARN, Status.FAIL)
"""The statuses of a value beyond a limit (a flagged detector is one of these:
a detector without data does not flag its exposure)."""


def status_rank(status: Any) -> int:
    """Position of ``status`` (a `Status` or its string) in `STATUS_ORDER`;
    ``len(STATUS_ORDER)`` for anything else (an empty or unknown status sorts
    after every real one)."""
    try:
        return Status(status).rank
    except ValueError:
        return len(STATUS_ORDER)


def is_flagged(status: Any) -> bool:
    """Whether ``status`` (a `Status` or its string) is in `FLAGGED`."""
    return status in FLAGGED


def worst(statuses: Iterable[Any]) -> Status | None:
    """The worst of ``statuses`` in `STATUS_ORDER` (None when there is none).

    Examples
    --------
    >>> worst(["OK", "WARN", "OK"])
    <Status.WARN: 'WARN'>
    """
    known = [Status(s) for s in statuses if s in STATUS_ORDER]
    return max(known, key=STATUS_ORDER.index) if known else None


@dataclass(frozen=True)
class Rule:
    """One rule of `EXPOSURE_RULES`.

    Attributes
    ----------
    status : Status
        The status the rule gives.
    name : str
        What the rule checks, as its reason names it.
    holds : callable
        ``holds(deviation, error, thresholds)`` -> bool array: the rule
        applies, for ``deviation = |QPRELEX - 1|`` (NaN: no value) and the
        error ``QPRELEXE`` (NaN: none), arrays of one shape.
    limit : callable or None
        ``limit(thresholds)``: the threshold the deviation passed (None for a
        rule without one).
    """

    status: Status
    name: str
    holds: Callable[[np.ndarray, np.ndarray, Thresholds], np.ndarray]
    limit: Callable[[Thresholds], float] | None = None

    def reason(self, deviation: float, error: float, thresholds: Thresholds) -> str:
        """The reason this rule gives for one factor, e.g.
        ``|QPRELEX − 1| = 0.0258 > FAIL limit 0.015 (43 σ)``."""
        if self.limit is None:
            return self.name
        text = f"|QPRELEX − 1| = {deviation:.4f} > {self.name} {self.limit(thresholds):g}"
        sigmas = deviation / abs(error) if math.isfinite(error) and error != 0 else math.nan
        return text + (f" ({sigmas:.0f} σ)" if math.isfinite(sigmas) else "")


def _significant(deviation: np.ndarray, error: np.ndarray, nsigma: float) -> np.ndarray:
    # a missing error is an infinitely precise value: any deviation is significant
    return ~(deviation <= nsigma * np.nan_to_num(error, nan=0.0))


EXPOSURE_RULES: tuple[Rule, ...] = (
    Rule(Status.NODATA, "no QPRELEX value", lambda dev, err, t: np.isnan(dev)),
    Rule(Status.FAIL, "FAIL limit", lambda dev, err, t: dev > t.fail, lambda t: t.fail),
    Rule(Status.WARN, "WARN limit",
         lambda dev, err, t: (dev > t.warn) & _significant(dev, err, t.warn_nsigma), lambda t: t.warn),
)
"""The exposure status rules, in the order they are tried (the first that
holds decides; ``OK`` when none does)."""

_RULE_OF: dict[Status, Rule] = {rule.status: rule for rule in EXPOSURE_RULES}


def _as_arrays(value: Any, error: Any) -> tuple[np.ndarray, np.ndarray]:
    value = np.atleast_1d(np.asarray(value, dtype=float))
    error = np.atleast_1d(np.asarray(error, dtype=float))
    deviation = np.abs(value - 1.0)
    deviation[~np.isfinite(value)] = np.nan
    return deviation, np.broadcast_to(error, deviation.shape)


def fired_rules(value: Any, error: Any, thresholds: Thresholds) -> np.ndarray:
    """Index in `EXPOSURE_RULES` of the rule that decides each factor's
    status (-1: none holds, the factor is ``OK``).

    Parameters
    ----------
    value, error : array_like
        QPRELEX and QPRELEXE (NaN where missing).
    thresholds : relphot_core.config.Thresholds

    Returns
    -------
    numpy.ndarray of int
    """
    deviation, error = _as_arrays(value, error)
    fired = np.full(deviation.shape, -1)
    with np.errstate(invalid="ignore"):
        for index in range(len(EXPOSURE_RULES) - 1, -1, -1):  # the earlier rules win: write them last
            fired[EXPOSURE_RULES[index].holds(deviation, error, thresholds)] = index
    return fired


def exposure_statuses(value: Any, error: Any, thresholds: Thresholds) -> np.ndarray:
    """Status of each factor (array of plain ``str``, see `EXPOSURE_RULES`).

    Examples
    --------
    >>> from relphot_core.config import Thresholds
    >>> exposure_statuses([1.0, 0.97, 1.007, 1.007, np.nan], [0.001, 0.001, 0.001, 0.004, np.nan],
    ...                   Thresholds()).tolist()
    ['OK', 'FAIL', 'WARN', 'OK', 'NODATA']
    """
    names = np.array([rule.status.value for rule in EXPOSURE_RULES] + [Status.OK.value], dtype="<U6")
    return names[fired_rules(value, error, thresholds)]


@dataclass(frozen=True)
class Verdict:
    """The status of one factor, with the rule that gave it and its reason
    (``rule`` None and ``reason`` empty for ``OK``)."""

    status: Status
    rule: Rule | None
    reason: str


def judge(value: Any, error: Any, thresholds: Thresholds) -> Verdict:
    """The status of one factor and why.

    Parameters
    ----------
    value, error : float or None
        QPRELEX and QPRELEXE (None or NaN where missing).
    thresholds : relphot_core.config.Thresholds

    Returns
    -------
    Verdict

    Examples
    --------
    >>> from relphot_core.config import Thresholds
    >>> judge(0.9742, 0.0006, Thresholds()).reason
    '|QPRELEX − 1| = 0.0258 > FAIL limit 0.015 (43 σ)'
    >>> judge(1.002, 0.001, Thresholds()).status
    <Status.OK: 'OK'>
    """
    value, error = _float(value), _float(error)
    index = int(fired_rules(value, error, thresholds)[0])
    if index < 0:
        return Verdict(Status.OK, None, "")
    rule = EXPOSURE_RULES[index]
    return Verdict(rule.status, rule, rule.reason(abs(value - 1.0), error, thresholds))


def reason_for(status: Any, value: Any, error: Any, thresholds: Thresholds | None) -> str:
    """The reason the rule of ``status`` gives for this factor, if that rule
    holds for it; empty otherwise (``OK``, an unknown status, no thresholds,
    or a status given with other thresholds: no wrong claim).

    Examples
    --------
    >>> from relphot_core.config import Thresholds
    >>> reason_for("WARN", 1.008, None, Thresholds())
    '|QPRELEX − 1| = 0.0080 > WARN limit 0.005'
    >>> reason_for("FAIL", 1.008, None, Thresholds())
    ''
    """
    try:
        rule = _RULE_OF[Status(status)]
    except (ValueError, KeyError):
        return ""
    if thresholds is None:
        return ""
    value, error = _float(value), _float(error)
    deviation, errors = _as_arrays(value, error)
    with np.errstate(invalid="ignore"):
        if not bool(rule.holds(deviation, errors, thresholds)[0]):
            return ""
    return rule.reason(abs(value - 1.0), error, thresholds)


def _float(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


__all__ = ["Status", "STATUS_ORDER", "FLAGGED", "OUT_OF_LIMITS", "status_rank", "is_flagged", "worst", "Rule",
           "EXPOSURE_RULES", "fired_rules", "exposure_statuses", "Verdict", "judge", "reason_for"]
