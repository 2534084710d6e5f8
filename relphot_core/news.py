"""What is new since a time: the morning's view of a calibration team.

`News` gathers what the store gained after a moment: the batches that ran,
the sets they processed, the exposures that came out FAIL, the processing
failures, the problems opened, grown or regressed, and the coverage of the
new sets (a missing dither, a lone exposure). `Since` is that moment, chosen
as the start of the last batch ("last night"), the last 24 hours, the
signed-in user's previous visit, or a given time.

`relphot_core.store.Store.news` reads it; the overview's headline, the
problem queue, ``relphot news`` and the alerts show it. Pure: nothing
here reads the store.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pandas as pd

from .wording import plural

DITHERS_PER_SET = 4
"""Exposures of a complete NISP dither pattern: a set with fewer misses some."""

SINCE_CHOICES: dict[str, str] = {
    "batch": "the last batch",
    "day": "24 hours ago",
    "visit": "your last visit",
}
"""The named moments `resolve_since` knows (key: label)."""

NEWS_EVENTS = ("regressed", "opened", "grew")
"""The problem events that make a problem news, the most telling first."""


@dataclass(frozen=True)
class Since:
    """The moment news counts from.

    Attributes
    ----------
    key : str
        A key of `SINCE_CHOICES`, or ``"time"`` for a given time.
    at : datetime or None
        UTC; None when there is nothing to count from (no batch yet, a first
        visit): then everything is new.
    label : str
        How to say it, e.g. ``"the last batch (2026-12-05 02:10 UTC)"``.
    """

    key: str
    at: datetime | None
    label: str


def resolve_since(choice: str | None, *, last_batch: datetime | None = None, previous_visit: datetime | None = None,
                  now: datetime | None = None) -> Since:
    """Turn a choice (a key of `SINCE_CHOICES` or an ISO time) into a `Since`.

    Parameters
    ----------
    choice : str or None
        ``"batch"`` (default), ``"day"``, ``"visit"`` or an ISO 8601 time
        (UTC when it has no zone).
    last_batch : datetime, optional
        When the last batch started.
    previous_visit : datetime, optional
        When the user was last seen before this visit.
    now : datetime, optional
        The current time (tests).

    Raises
    ------
    ValueError
        A choice that is neither a known key nor a time.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> t = datetime(2026, 12, 5, 2, 10, tzinfo=timezone.utc)
    >>> resolve_since("batch", last_batch=t).label
    'the last batch (2026-12-05 02:10 UTC)'
    >>> resolve_since("2026-12-04T12:00").at.isoformat()
    '2026-12-04T12:00:00+00:00'
    """
    now = now or datetime.now(timezone.utc)
    key = (choice or "batch").strip()
    if key == "batch":
        label = _label("the last batch", last_batch) if last_batch else "the start (no batch yet)"
        return Since("batch", last_batch, label)
    if key == "day":
        return Since("day", now - timedelta(days=1), SINCE_CHOICES["day"])
    if key == "visit":
        return Since("visit", previous_visit,
                     _label("your last visit", previous_visit) if previous_visit else "the start (your first visit)")
    try:
        at = datetime.fromisoformat(key)
    except ValueError:
        raise ValueError(f"since must be one of {', '.join(SINCE_CHOICES)} or an ISO time, not {choice!r}") from None
    at = at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at.astimezone(timezone.utc)
    return Since("time", at, _label("", at).strip(" ()"))


def _label(text: str, at: datetime) -> str:
    return f"{text} ({at.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC)"


def _empty(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({c: [] for c in columns})


BATCH_COLUMNS = ("id", "started", "finished", "seconds", "command", "host", "software_version", "params_digest",
                 "sets_planned", "sets_computed", "new_runs", "same_runs", "failures", "statuses", "problems",
                 "exit_status")
"""Columns of `relphot_core.store.Store.batches`."""

NEWS_PROBLEM_COLUMNS = ("problem_id", "event", "at", "kind", "filter", "subject", "title", "size", "size_error",
                        "slope", "unit", "worst_status", "n_exposures", "state", "ongoing", "current")
NEW_FAIL_COLUMNS = ("obs_id", "filter", "exposure", "value", "error", "reason", "run_id")
SET_COLUMNS = ("obs_id", "filter", "n_exposures", "run_id")
FAILURE_COLUMNS = ("id", "obs_id", "filter", "kind", "path", "reason", "created")
LONE_KIND = "lone exposure"
"""The failure of a set with one exposure (`relphot_core.inputs.FAILURE_KINDS`): a coverage fact."""


@dataclass
class News:
    """What the store gained after `since` (`relphot_core.store.Store.news`).

    Attributes
    ----------
    since : Since
    batches : pandas.DataFrame
        The batches started since (`BATCH_COLUMNS`), newest first.
    sets : int
        (Observation, filter) sets whose current run was stored since.
    statuses : dict
        Their exposures by status.
    new_fails : pandas.DataFrame
        Their FAIL exposures (`NEW_FAIL_COLUMNS`).
    failures : pandas.DataFrame
        Processing failures first seen since and still open (`FAILURE_COLUMNS`),
        lone exposures aside.
    problems : pandas.DataFrame
        One row per problem opened, grown or regressed since, with its most
        telling event (`NEWS_PROBLEM_COLUMNS`, `NEWS_EVENTS`), worst first.
    missing_dither : pandas.DataFrame
        The new sets with fewer than `DITHERS_PER_SET` exposures (`SET_COLUMNS`).
    lone : pandas.DataFrame
        The new lone exposures: open failures of kind `LONE_KIND`
        (`FAILURE_COLUMNS`; a set of one exposure has no factor).
    """

    since: Since
    batches: pd.DataFrame = field(default_factory=lambda: _empty(BATCH_COLUMNS))
    sets: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    new_fails: pd.DataFrame = field(default_factory=lambda: _empty(NEW_FAIL_COLUMNS))
    failures: pd.DataFrame = field(default_factory=lambda: _empty(FAILURE_COLUMNS))
    problems: pd.DataFrame = field(default_factory=lambda: _empty(NEWS_PROBLEM_COLUMNS))
    missing_dither: pd.DataFrame = field(default_factory=lambda: _empty(SET_COLUMNS))
    lone: pd.DataFrame = field(default_factory=lambda: _empty(FAILURE_COLUMNS))

    def problem_count(self, event: str) -> int:
        """Problems whose most telling event since is ``event`` (`NEWS_EVENTS`)."""
        return int((self.problems["event"] == event).sum()) if not self.problems.empty else 0

    @property
    def counts(self) -> dict[str, int]:
        """The figures of the headline (and of ``/metrics``-like summaries).

        >>> News(Since("batch", None, "the first batch")).counts["new_problems"]
        0
        """
        return {"batches": len(self.batches), "sets": int(self.sets),
                "exposures": int(sum(self.statuses.values())),
                "new_problems": self.problem_count("opened"), "grown_problems": self.problem_count("grew"),
                "regressed_problems": self.problem_count("regressed"), "new_fails": len(self.new_fails),
                "failures": len(self.failures), "missing_dither": len(self.missing_dither), "lone": len(self.lone)}

    @property
    def empty(self) -> bool:
        """Nothing happened since (no batch, no set, no problem event)."""
        counts = self.counts
        return not any(counts[k] for k in ("batches", "sets", "new_problems", "grown_problems",
                                           "regressed_problems", "failures"))

    def summary(self) -> str:
        """One line, e.g. ``"since the last batch (...): 60 sets, 1 new problem,
        1 grown, 0 regressed, 1 new FAIL, 0 failed sets; 1 set with a missing dither"``.
        """
        c = self.counts
        if self.empty:
            return f"Nothing new since {self.since.label}."
        text = (f"Since {self.since.label}: {plural(c['sets'], 'set')} processed, "
                f"{plural(c['new_problems'], 'new problem')}, {c['grown_problems']} grown, "
                f"{c['regressed_problems']} regressed, {plural(c['new_fails'], 'new FAIL')}, "
                f"{plural(c['failures'], 'failed set')}")
        coverage = []
        if c["missing_dither"]:
            coverage.append(f"{plural(c['missing_dither'], 'set')} with a missing dither")
        if c["lone"]:
            coverage.append(f"{plural(c['lone'], 'lone exposure')}")
        return text + ("; " + ", ".join(coverage) if coverage else "") + "."


__all__ = ["BATCH_COLUMNS", "DITHERS_PER_SET", "NEWS_EVENTS", "News", "SINCE_CHOICES", "Since",
           "resolve_since"]
