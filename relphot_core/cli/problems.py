"""``relphot problems``: the QC problems of a store.

``relphot problems`` lists the current problems worst first (``--all`` adds
the gone ones, ``--state`` and ``--filter`` narrow, ``--json`` prints them as
JSON); ``relphot problems show ID`` gives one with its exposures and its
life; ``relphot problems update`` computes them again from the stored
factors (``relphot compute --db`` does it after each batch);
``relphot problems acknowledge|resolve|ignore|reopen ID --by NAME`` records
a lead's decision.
"""
from __future__ import annotations

import argparse
import json
import math
from typing import Any

from ..config import FILTERS
from ..errors import StoreError
from .common import add_config_options, config_from_args
from .db import ENV_VAR as ENV_VAR, add_db_option  # ENV_VAR: tested to equal the store's

STATE_COMMANDS: tuple[str, ...] = ("acknowledge", "resolve", "ignore", "reopen")
"""The leads' actions (`relphot_core.qc.problems.STATE_ACTIONS`), repeated: the parser imports no science."""
KINDS: tuple[str, ...] = ("drift", "detector", "detector-drift", "exposure", "observation", "failure")
"""`relphot_core.qc.problems.PROBLEM_KINDS`, repeated (tested to stay equal)."""
STATES: tuple[str, ...] = ("open", "acknowledged", "resolved", "ignored", "regressed")
"""`relphot_core.qc.problems.PROBLEM_STATES`, repeated (tested to stay equal)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``relphot problems``."""
    parser = add_db_option(subparsers.add_parser(
        "problems", help="list, show, update or decide the QC problems of a store",
        description="The QC problems of a store: one cause with its exposures (a drift, a detector, a bad "
                    "exposure or observation, a failed set), with its span, size now and state."))
    parser.add_argument("--filter", action="append", choices=FILTERS, help="only this filter (repeatable)")
    parser.add_argument("--state", action="append", choices=STATES, help="only this state (repeatable)")
    parser.add_argument("--kind", action="append", choices=KINDS, help="only this kind (repeatable)")
    parser.add_argument("--all", action="store_true", help="also the problems no longer found (gone)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=_list)
    sub = parser.add_subparsers(dest="problems_command", metavar="ACTION")
    show = add_db_option(sub.add_parser("show", help="one problem with its exposures and its life",
                              description="One problem with its exposures and its life."))
    show.add_argument("problem_id", metavar="ID", type=int)
    show.add_argument("--json", action="store_true", help="print JSON instead of text")
    show.set_defaults(func=_show)
    update = add_db_option(sub.add_parser("update", help="compute the problems again from the stored factors",
                                description="Compute the problems again from the stored factors, with the "
                                            "control-chart rules of the configuration, keeping their identities."))
    update.add_argument("--filter", action="append", choices=FILTERS, help="only this filter (repeatable)")
    update.add_argument("--from-start", action="store_true",
                        help="compute each filter from its first night, not from the tail of its season")
    add_config_options(update, ("control",))
    update.set_defaults(func=_update)
    for name in STATE_COMMANDS:
        p = add_db_option(sub.add_parser(name, help=f"{name} a problem (a lead's decision, recorded with its author)",
                               description=f"{name.capitalize()} a problem; recorded with its author and time."))
        p.add_argument("problem_id", metavar="ID", type=int)
        p.add_argument("--by", required=True, help="who decides (recorded)")
        p.add_argument("--comment", default="", help="why (recorded)")
        p.add_argument("--version", type=int, help="refuse if the problem changed since this version")
        p.set_defaults(func=_decide, action=name)


def _number(value: Any) -> Any:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return None if math.isnan(number) else (int(number) if number.is_integer() and abs(number) < 2**53 else number)


def _record(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in row.items():
        if hasattr(value, "isoformat"):
            out[key] = None if str(value) == "NaT" else value.isoformat()
        elif isinstance(value, (bool, str)) or value is None:
            out[key] = value
        else:
            out[key] = _number(value)
    return out


def _list(args: argparse.Namespace) -> int:
    from ..qc.problems import describe_span, size_text
    from ..store import Store

    with Store.open(args.db, create=False) as store:
        frame = store.problems(args.filter, states=args.state, kinds=args.kind, current=None if args.all else True)
    if args.json:
        print(json.dumps({"count": len(frame), "problems": [_record(r) for r in frame.to_dict("records")]},
                         indent=1, ensure_ascii=False))
        return 0
    if frame.empty:
        print("no problem")
        return 0
    print(f"{'id':>5}  {'filter':6} {'kind':11} {'what':18} {'span':42} {'size now':30} {'exp':>5} {'await':>5}  state")
    for row in frame.itertuples(index=False):
        span = describe_span(row)
        size = size_text(row.kind, row.unit, row.size, row.size_error, row.slope)
        state = row.state + ("" if row.current else " (gone)") + (" · ongoing" if row.ongoing else "")
        print(f"{row.id:>5}  {row.filter:6} {row.kind:11} {row.subject[:18]:18} {span[:42]:42} {size[:30]:30} "
              f"{row.n_exposures:>5} {row.n_awaiting:>5}  {state}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from ..qc.problems import describe_span, size_text
    from ..store import Store

    with Store.open(args.db, create=False) as store:
        try:
            row = store.problem(args.problem_id)
        except KeyError:
            raise StoreError(store.url, f"no problem {args.problem_id}") from None
        exposures = store.problem_exposures(args.problem_id)
        events = store.problem_events(args.problem_id)
    if args.json:
        print(json.dumps({"problem": _record(row.to_dict()),
                          "exposures": [_record(r) for r in exposures.to_dict("records")],
                          "events": [_record(r) for r in events.to_dict("records")]}, indent=1, ensure_ascii=False))
        return 0
    print(f"problem {row['id']} ({row['filter']}, {row['kind']}): {row['title']}")
    print(f"  {row['reason']}")
    print(f"  span: {describe_span(row)}")
    print(f"  size now: {size_text(row['kind'], row['unit'], row['size'], row['size_error'], row['slope'])}")
    print(f"  state: {row['state']}" + (f" by {row['state_by']}" if row['state_by'] else "")
          + (f" ({row['state_comment']})" if row['state_comment'] else "") + f", version {row['version']}"
          + ("" if row["current"] else ", gone (no longer found)"))
    print(f"  exposures: {row['n_exposures']} ({row['n_collateral']} collateral), {row['n_awaiting']} awaiting review")
    for e in exposures.itertuples(index=False):
        review = f"{e.review_decision} by {e.reviewer}" if e.review_decision else ""
        print(f"    obs {e.obs_id} dither {e.exposure}  {e.role:10} {e.status:6} QPRELEX {e.value:.4f}  {review}")
    print("  life:")
    for ev in events.itertuples(index=False):
        print(f"    {str(ev.at)[:19]}  {ev.event:11} {ev.by}" + (f": {ev.comment}" if ev.comment else ""))
    return 0


def _update(args: argparse.Namespace) -> int:
    from ..store import Store

    control = config_from_args(args).control
    with Store.open(args.db, create=False) as store:
        counts = store.update_problems(args.filter, control=control, from_start=args.from_start)
        waiting = len(store.problems(awaiting=True))
    for band, c in counts.items():
        print(f"{band or 'no filter'}: {c['opened']} new, {c['grew']} grown, {c['regressed']} regressed, "
              f"{c['gone']} gone, {c['back']} back, {c['unchanged']} unchanged")
    print(f"{waiting} problem(s) await review")
    return 0


def _decide(args: argparse.Namespace) -> int:
    from ..store import Store
    from ..store.problems import ProblemStateError

    with Store.open(args.db, create=False) as store:
        try:
            version = store.set_problem_state(args.problem_id, args.action, args.by, comment=args.comment,
                                              expected_version=args.version)
        except KeyError:
            raise StoreError(store.url, f"no problem {args.problem_id}") from None
        except ProblemStateError as exc:
            raise StoreError(store.url, str(exc)) from None
        state = store.problem(args.problem_id)["state"]
    print(f"problem {args.problem_id} is {state} (version {version})")
    return 0
