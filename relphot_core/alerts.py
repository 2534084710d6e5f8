"""Alerts: what a batch brought, sent once to people and chat rooms.

The events (`AlertEvent`) come from the news of a batch
(`relphot_core.news.News`): a problem opened (by kind, and only when its size
now reaches `relphot_core.config.Alerts.min_size`), a resolved problem seen
again (regression), an exposure come out FAIL, a set that could not be
processed; and, from ``relphot alerts check``, no new batch for
`~relphot_core.config.Alerts.no_data_hours`.

Each event has a de-duplication key from its identity: the problem's
fingerprint and the event (a problem is announced once when it opens; it
grows silently; each regression is announced), the exposure, the failure,
the quiet spell. The store records each key once
(`relphot_core.store.Store.record_alerts`), so running again sends nothing.
The new events of a batch are grouped into ONE digest (`digest`), a title
and a Markdown body naming each event with a link to the dashboard, in the
spirit of Alertmanager's grouping.

The functions above the line "edges" are pure. Below it, `deliver` sends a
digest to one target through Apprise, and `alert_batches` / `check` record
and send with a store: each delivery per target with its outcome, retried by
the next run until `~relphot_core.config.Alerts.max_attempts`.
"""
from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from .config import Alerts
from .errors import ConfigError
from .news import News
from .wording import plural

if TYPE_CHECKING:  # pragma: no cover
    from .store import Store

SECTION_TITLES: Mapping[str, str] = {
    "new_problem": "New problems",
    "regression": "Regressions (resolved, seen again)",
    "new_fail": "New FAIL exposures",
    "failure": "Sets that could not be processed",
    "no_data": "No new data",
    "test": "Test",
}
"""The digest's sections, in order (`relphot_core.config.ALERT_EVENTS`)."""

MAX_LINES = 30
"""Events named per section; the rest are counted (the dashboard has them all)."""


@dataclass(frozen=True)
class AlertEvent:
    """One thing worth telling, once.

    Attributes
    ----------
    key : str
        The de-duplication key (its identity: see the module docstring).
    kind : str
        One of `relphot_core.config.ALERT_EVENTS`.
    text : str
        One Markdown line naming it, with a link when the dashboard's
        address is known.
    problem_id : int or None
        The problem it is about.
    """

    key: str
    kind: str
    text: str
    problem_id: int | None = None


@dataclass(frozen=True)
class Links:
    """The dashboard's pages an alert links to (no links without a base)."""

    base: str | None = None

    def _link(self, text: str, path: str) -> str:
        return f"[{text}]({self.base.rstrip('/')}{path})" if self.base else text

    def problem(self, text: str, problem_id: int) -> str:
        """``text`` linked to the problem in the queue."""
        return self._link(text, f"/triage?view=open&problem={int(problem_id)}")

    def observation(self, text: str, obs_id: int, filter_name: str) -> str:
        """``text`` linked to the observation's page in one filter."""
        return self._link(text, f"/observation/{int(obs_id)}?filter={quote(str(filter_name))}")

    def news(self, text: str, since: datetime | None) -> str:
        """``text`` linked to what is new since a moment."""
        if since is None:
            return self._link(text, "/news")
        return self._link(text, f"/news?since={since.astimezone(timezone.utc):%Y-%m-%dT%H:%M:%S}")


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number


def _size_text(row: Any) -> str:
    from .qc.problems import size_text

    return size_text(row.kind, row.unit, _number(row.size), _number(row.size_error), _number(row.slope))


def problem_events(problems: Any, fingerprints: Mapping[int, str], settings: Alerts,
                   links: Links = Links()) -> list[AlertEvent]:
    """The alerts of a news' problems (`relphot_core.news.News.problems`).

    A problem opened is alerted when its kind is in ``settings.kinds`` and
    its size now is at least ``settings.min_size`` (a problem without a size
    always is); a regression when its kind is in ``settings.kinds``; a
    problem that only grew never is.

    Parameters
    ----------
    problems : pandas.DataFrame
        `relphot_core.news.NEWS_PROBLEM_COLUMNS`.
    fingerprints : mapping
        ``problem id -> fingerprint`` (the problem's identity).
    settings : relphot_core.config.Alerts
    links : Links

    Returns
    -------
    list of AlertEvent
    """
    wanted = {"opened": "new_problem", "regressed": "regression"}
    out = []
    for row in problems.itertuples(index=False):
        kind = wanted.get(row.event)
        if kind is None or kind not in settings.events or row.kind not in settings.kinds:
            continue
        size = _number(row.size)
        if kind == "new_problem" and math.isfinite(size) and abs(size) < settings.min_size:
            continue
        fingerprint = fingerprints.get(int(row.problem_id), f"problem {int(row.problem_id)}")
        at = row.at.to_pydatetime() if hasattr(row.at, "to_pydatetime") else row.at
        key = f"{fingerprint} {row.event}" + (f" {at:%Y-%m-%dT%H:%M:%S.%f}" if kind == "regression" else "")
        title = f"{row.title} ({row.filter})" if row.filter else str(row.title)
        measured = _size_text(row) or (str(row.worst_status) if isinstance(row.worst_status, str) else "")
        details = [d for d in (measured, plural(int(row.n_exposures), "exposure"),
                               "ongoing" if row.ongoing else "") if d]
        out.append(AlertEvent(key, kind, f"{links.problem(title, int(row.problem_id))}: {', '.join(details)}",
                              int(row.problem_id)))
    return out


def news_events(news: News, fingerprints: Mapping[int, str], settings: Alerts,
                links: Links = Links()) -> list[AlertEvent]:
    """Every alert of a batch's news: its problems (`problem_events`), new
    FAIL exposures (key: the exposure) and processing failures (key: the
    failure's record), as ``settings.events`` asks.

    Examples
    --------
    >>> from relphot_core.news import News, Since
    >>> news_events(News(Since("batch", None, "the start")), {}, Alerts())
    []
    """
    out = problem_events(news.problems, fingerprints, settings, links)
    if "new_fail" in settings.events:
        for r in news.new_fails.itertuples(index=False):
            name = links.observation(f"obs {r.obs_id} {r.filter} dither {r.exposure}", r.obs_id, r.filter)
            value = _number(r.value)
            measured = f"QPRELEX {value:.4f} ± {_number(r.error):.4f}" if math.isfinite(value) else "no factor"
            out.append(AlertEvent(f"FAIL obs {r.obs_id} {r.filter} dither {r.exposure}", "new_fail",
                                  f"{name}: {measured}" + (f" — {r.reason}" if r.reason else "")))
    if "failure" in settings.events:
        for r in news.failures.itertuples(index=False):
            where = f"obs {r.obs_id} {r.filter} · " if math.isfinite(_number(r.obs_id)) else ""
            out.append(AlertEvent(f"failure {int(r.id)}", "failure", f"**{r.kind}** · {where}{r.path}: {r.reason}"))
    return out


def no_data_event(last_started: datetime | None, now: datetime, settings: Alerts,
                  links: Links = Links()) -> AlertEvent | None:
    """The "no new data" alert when the last batch started more than
    ``settings.no_data_hours`` before ``now``; None otherwise (and before the
    first batch: nothing to count from). Its key is the last batch's start:
    one alert per quiet spell.

    Examples
    --------
    >>> t = datetime(2026, 12, 5, 2, 0, tzinfo=timezone.utc)
    >>> no_data_event(t, t + timedelta(hours=30), Alerts()) is None
    True
    >>> no_data_event(t, t + timedelta(hours=40), Alerts()).key
    'no data after 2026-12-05T02:00:00+00:00'
    """
    if last_started is None or "no_data" not in settings.events:
        return None
    last_started = last_started.astimezone(timezone.utc)
    quiet = now - last_started
    if quiet <= timedelta(hours=settings.no_data_hours):
        return None
    hours = quiet.total_seconds() / 3600
    return AlertEvent(f"no data after {last_started.isoformat()}", "no_data",
                      f"No batch for {hours:.0f} hours: the last one started {last_started:%Y-%m-%d %H:%M} UTC "
                      f"(alert after {settings.no_data_hours:g} hours). Is the nightly "
                      f"`relphot compute --db` running? {links.news('What is new', last_started)}")


@dataclass(frozen=True)
class Digest:
    """One message: a title and a Markdown body."""

    title: str
    body: str


def digest(events: Sequence[AlertEvent], *, about: str = "", since: datetime | None = None,
           links: Links = Links()) -> Digest:
    """Group events into one message naming each, by section.

    Parameters
    ----------
    events : sequence of AlertEvent
    about : str
        What the events come from, e.g. ``"batch 12, 2026-12-05 02:10 UTC"``.
    since : datetime, optional
        The batch's start: the body links to what is new since then.
    links : Links

    Examples
    --------
    >>> d = digest([AlertEvent("k", "new_fail", "obs 1040 NIR_J dither 2: QPRELEX 0.9500 ± 0.0010")],
    ...            about="batch 3")
    >>> d.title
    'relphot QC: 1 new FAIL exposure (batch 3)'
    >>> print(d.body)
    **relphot QC, batch 3**
    <BLANKLINE>
    **New FAIL exposures (1)**
    <BLANKLINE>
    - obs 1040 NIR_J dither 2: QPRELEX 0.9500 ± 0.0010
    """
    by_kind: dict[str, list[AlertEvent]] = {}
    for event in events:
        by_kind.setdefault(event.kind, []).append(event)
    counts = {"new_problem": "new problem", "regression": "regression", "new_fail": "new FAIL exposure",
              "failure": "failed set", "no_data": "no new data", "test": "test message"}
    parts = [plural(len(by_kind[k]), counts[k]) if k not in ("no_data", "test") else counts[k]
             for k in SECTION_TITLES if k in by_kind]
    title = f"relphot QC: {', '.join(parts)}" + (f" ({about})" if about else "")
    lines = [f"**relphot QC, {about}**" if about else "**relphot QC**"]
    for kind, heading in SECTION_TITLES.items():
        chosen = by_kind.get(kind, [])
        if not chosen:
            continue
        lines += ["", f"**{heading} ({len(chosen)})**", ""]
        lines += [f"- {e.text}" for e in chosen[:MAX_LINES]]
        if len(chosen) > MAX_LINES:
            lines.append(f"- … and {len(chosen) - MAX_LINES} more")
    if since is not None and links.base:
        lines += ["", links.news("Everything new since this batch", since)]
    return Digest(title, "\n".join(lines))


def target_id(url: str) -> str:
    """A target's identity in the store: a digest of its URL (which holds
    secrets), so that its deliveries are retried to the same target.

    >>> target_id("json://127.0.0.1/x") == target_id("json://127.0.0.1/x")
    True
    """
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:32]


# ---------------------------------------------------------------- edges
@dataclass(frozen=True)
class Target:
    """A configured target: its URL, identity and masked form."""

    url: str = field(repr=False)
    id: str
    label: str


def targets(urls: Sequence[str], source: str | None = "configuration") -> list[Target]:
    """The targets of ``[alerts] targets``, each checked by Apprise.

    Raises
    ------
    ConfigError
        A URL Apprise does not know (named by its number and scheme, not
        whole: it may hold a password).
    """
    import apprise

    out = []
    for number, url in enumerate(urls, 1):
        with _apprise_log():
            plugin = apprise.Apprise.instantiate(url)
        if plugin is None:
            raise ConfigError(source, f"alerts.targets: target {number} ({url.split(':')[0][:20]}://...) is not "
                                      "a URL Apprise can send to (see Apprise's list of services)")
        out.append(Target(url, target_id(url), unquote(plugin.url(privacy=True).split("?")[0])))
    return out


@contextmanager
def _apprise_log() -> Iterator[list[str]]:
    """Apprise's warnings and errors of a block, kept (not printed)."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    logger = logging.getLogger("apprise")
    handler, propagate = Keep(logging.WARNING), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def deliver(target: Target, title: str, body: str) -> str | None:
    """Send a message to one target through Apprise.

    Returns
    -------
    str or None
        None when the target took it, else why not (Apprise's last warning).
    """
    import apprise

    notifier = apprise.Apprise()
    with _apprise_log() as lines:
        if not notifier.add(target.url):
            return lines[-1] if lines else "Apprise cannot use this URL"
        try:
            ok = bool(notifier.notify(title=title, body=body, body_format=apprise.NotifyFormat.MARKDOWN))
        except Exception as exc:  # noqa: BLE001 - a plugin's bug must not stop the others
            return f"{type(exc).__name__}: {exc}"
    return None if ok else (" ".join(lines[-1].split()) if lines else "not delivered")


@dataclass
class AlertReport:
    """What a run of the alerts did."""

    events: list[AlertEvent] = field(default_factory=list)
    """The new events recorded (each in one digest)."""
    digests: int = 0
    """Digests with events recorded."""
    sent: list[str] = field(default_factory=list)
    """Targets (masked) a digest was delivered to."""
    failed: list[tuple[str, str, str]] = field(default_factory=list)
    """(target, outcome, error) of the deliveries that failed."""

    def summary(self) -> str:
        """One line, e.g. ``"3 new events in 1 digest; 2 sent, 1 failed"``."""
        return (f"{plural(len(self.events), 'new event')} in {plural(self.digests, 'digest')}; "
                f"{len(self.sent)} sent, {len(self.failed)} failed")


Sender = Callable[[Target, str, str], "str | None"]


def _batch_label(started: datetime | None, batch_id: int) -> str:
    return f"batch {batch_id}" + (f", {started.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC" if started else "")


def record_batches(store: Store, settings: Alerts, configured: Sequence[Target],
                   chosen: Sequence[tuple[int, datetime]] | None = None, *, now: datetime | None = None,
                   report: AlertReport | None = None) -> AlertReport:
    """Record the new events of batches, one digest each, with a pending
    delivery per configured target (nothing is sent here).

    Parameters
    ----------
    chosen : sequence of (batch id, started), optional
        The batches; default those not looked at yet
        (`relphot_core.store.Store.alert_batches_to_scan`).
    """
    report = report or AlertReport()
    links = Links(settings.dashboard_url)
    chosen = store.alert_batches_to_scan() if chosen is None else chosen
    fingerprints: dict[int, str] = {}
    if chosen:
        problems = store.problems(current=None)
        fingerprints = dict(zip(problems["id"].astype(int), problems["fingerprint"]))
    for batch_id, started in chosen:
        events = news_events(store.news(started.isoformat()), fingerprints, settings, links)
        grouped = partial(_message, about=_batch_label(started, batch_id), since=started, links=links)
        _digest_id, new = store.record_alerts(events, grouped, [(t.id, t.label) for t in configured],
                                              batch_id=batch_id, now=now)
        report.events += new
        report.digests += bool(new)
    return report


def alert_batches(store: Store, settings: Alerts, *, now: datetime | None = None,
                  send: Sender = deliver) -> AlertReport:
    """What ``relphot compute --db`` does at its end: record the new events
    of the batches not looked at yet (its own), then send every pending or
    failed delivery.

    Parameters
    ----------
    store : relphot_core.store.Store
    settings : relphot_core.config.Alerts
    now : datetime, optional
        The current time (tests).
    send : callable
        `deliver`.
    """
    configured = targets(settings.targets)
    report = record_batches(store, settings, configured, now=now)
    return send_pending(store, settings, configured, report, now=now, send=send)


def _message(events: Sequence[AlertEvent], **how: Any) -> tuple[str, str]:
    """``(title, body)`` of `digest`, as `relphot_core.store.Store.record_alerts` takes it."""
    message = digest(events, **how)
    return message.title, message.body


def send_pending(store: Store, settings: Alerts, configured: Sequence[Target], report: AlertReport, *,
                 now: datetime | None = None, send: Sender = deliver) -> AlertReport:
    """Send every pending or failed delivery to a configured target, and
    record each outcome (a target no longer configured keeps its deliveries
    as they are: its URL is not stored)."""
    by_id = {t.id: t for t in configured}
    for delivery in store.pending_alert_deliveries(list(by_id)):
        if not store.claim_alert_delivery(delivery, now=now):
            continue  # another run (a batch's end, a cron check) is sending it
        target = by_id[delivery.target_id]
        error = send(target, delivery.title, delivery.body)
        outcome = store.record_alert_delivery(delivery.id, error, max_attempts=settings.max_attempts, now=now)
        if error is None:
            report.sent.append(target.label)
        else:
            report.failed.append((target.label, outcome, error))
    return report


def check(store: Store, settings: Alerts, *, now: datetime | None = None, send: Sender = deliver) -> AlertReport:
    """What ``relphot alerts check`` does (for cron): the batches not looked
    at yet, "no new data" once per quiet spell, and the retries.

    Parameters
    ----------
    store : relphot_core.store.Store
    settings : relphot_core.config.Alerts
    now : datetime, optional
        The current time (tests inject it; default: now).
    send : callable
        `deliver`.
    """
    now = now or datetime.now(timezone.utc)
    configured = targets(settings.targets)
    report = record_batches(store, settings, configured, now=now)
    links = Links(settings.dashboard_url)
    quiet = no_data_event(store.last_batch_started(), now, settings, links)
    if quiet is not None:
        _digest_id, new = store.record_alerts([quiet], partial(_message, links=links),
                                              [(t.id, t.label) for t in configured], now=now)
        report.events += new
        report.digests += bool(new)
    return send_pending(store, settings, configured, report, now=now, send=send)


__all__ = ["AlertEvent", "AlertReport", "Digest", "Links", "Target", "alert_batches", "check", "deliver", "digest",
           "news_events", "no_data_event", "problem_events", "record_batches", "send_pending", "target_id", "targets"]
