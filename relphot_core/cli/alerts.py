"""``relphot alerts``: the notifications of a store (`relphot_core.alerts`).

``relphot alerts check`` is for cron: it records the events of the batches
not looked at yet, raises "no new data" once per quiet spell, and sends what
is pending or failed before; ``relphot alerts list`` shows the recent
events and deliveries; ``relphot alerts test`` sends a test message to each
target. The targets and events are the ``[alerts]`` section of the
configuration (``--config``) or its options.
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone

from ..errors import ConfigError, RelphotError
from .common import ALERT_SECTIONS, add_config_options, config_from_args
from .db import add_db_option
from .problems import _record


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``relphot alerts``."""
    parser = subparsers.add_parser(
        "alerts", help="send, retry, list or test the alerts (e-mail, chat, webhooks)",
        description="The alerts of a store: one digest per batch naming its new problems, regressions, new FAIL "
                    "exposures and failed sets, sent through Apprise to the [alerts] targets; 'no new data' when "
                    "no batch ran for a while.")
    sub = parser.add_subparsers(dest="alerts_command", metavar="ACTION")
    check = add_db_option(sub.add_parser(
        "check", help="record what the batches brought, raise 'no new data', send and retry (for cron)",
        description="Record the events of the batches not looked at yet, raise 'no new data' when the last batch "
                    "started more than alerts.no_data_hours ago (once per quiet spell), and send every pending or "
                    "failed delivery. Exit status 1 when a delivery failed (it is retried next time), 2 for a bad "
                    "configuration."))
    check.add_argument("--now", metavar="ISO", help="take this time as now (UTC when it has no zone; for replays "
                                                    "and tests)")
    add_config_options(check, ALERT_SECTIONS)
    check.set_defaults(func=_check)
    listing = add_db_option(sub.add_parser("list", help="the recent alert events and deliveries",
                                 description="The recent alert events and deliveries, newest first."))
    listing.add_argument("--limit", type=int, default=20, help="rows of each (default 20)")
    listing.add_argument("--json", action="store_true", help="print JSON instead of tables")
    listing.set_defaults(func=_list)
    test = sub.add_parser("test", help="send a test message to each target",
                          description="Send a test message to each alert target (nothing is recorded). Exit "
                                      "status 1 when a target did not take it.")
    add_config_options(test, ALERT_SECTIONS)
    test.set_defaults(func=_test)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)


def _err(message: str) -> None:
    print(f"relphot alerts: {message}", file=sys.stderr)


def _settings(args: argparse.Namespace):  # -> relphot_core.config.Alerts
    settings = config_from_args(args).alerts
    if not settings.targets:
        raise ConfigError(getattr(args, "config", None) or "command line",
                          "no alert target: set [alerts] targets or give --alert-target URL")
    return settings


def _now(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise RelphotError("--now", f"not an ISO time: {text!r}") from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def _report(report) -> int:  # relphot_core.alerts.AlertReport
    for label, outcome, error in report.failed:
        _err(f"warning: alert to {label} not delivered ({error})"
             + ("; given up" if outcome == "given_up" else "; retried next time"))
    print(report.summary())
    return 1 if report.failed else 0


def _check(args: argparse.Namespace) -> int:
    from ..alerts import check
    from ..store import Store

    settings = _settings(args)
    now = _now(args.now)
    with Store.open(args.db, create=False) as store:
        return _report(check(store, settings, now=now))


def _list(args: argparse.Namespace) -> int:
    from ..store import Store

    with Store.open(args.db, create=False) as store:
        events = store.alert_events(limit=args.limit)
        deliveries = store.alert_deliveries(limit=args.limit)
    if args.json:
        print(json.dumps({"events": [_record(r) for r in events.to_dict("records")],
                          "deliveries": [_record(r) for r in deliveries.to_dict("records")]},
                         indent=1, ensure_ascii=False))
        return 0
    print(f"events ({len(events)} most recent):" if not events.empty else "no alert event")
    for e in events.itertuples(index=False):
        print(f"  {e.created:%Y-%m-%d %H:%M}  {e.kind:11} digest {e.digest_id:<4} {e.text[:100]}")
    print(f"deliveries ({len(deliveries)} most recent):" if not deliveries.empty else "no delivery")
    for d in deliveries.itertuples(index=False):
        when = "" if str(d.last_attempt) == "NaT" else f"{d.last_attempt:%Y-%m-%d %H:%M}"
        error = f"  {d.last_error[:80]}" if d.last_error else ""
        print(f"  digest {d.digest_id:<4} {d.outcome:9} {d.attempts} attempt(s) {when:16}  {d.target}{error}")
    return 0


def _test(args: argparse.Namespace) -> int:
    from ..alerts import AlertEvent, deliver, digest, targets

    settings = _settings(args)
    message = digest([AlertEvent("test", "test", "A test message of relphot's alerts: this target works.")],
                     about="test")
    failed = 0
    for target in targets(settings.targets):
        error = deliver(target, message.title, message.body)
        if error is None:
            print(f"sent to {target.label}")
        else:
            failed += 1
            _err(f"warning: test message to {target.label} not delivered ({error})")
    return 1 if failed else 0
