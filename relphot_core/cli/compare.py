"""``relphot compare``: what a reprocessing changed, between two choices of runs.

``relphot compare`` compares each set's current run with the run before it;
``--before`` and ``--after`` choose other runs (`relphot_core.compare.RunChoice`:
``current``, ``previous``, ``version:V``, ``params:DIGEST``, ``date:ISO``,
``runs:ID,ID``). The summary gives the sets compared, the status
transitions, the ``|delta QPRELEX|`` percentiles in mmag and in units of
QPRELEXE, and the parameters that differ; ``--json`` prints it as JSON,
``--csv`` prints the paired exposures instead.

Exit status: 0 when at least one set was compared, 1 when none was (no set
has a different run under the two choices), 2 on bad input.
"""
from __future__ import annotations

import argparse
import json
import sys

from ..config import FILTERS

from .db import add_db_option


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``relphot compare``."""
    p = subparsers.add_parser(
        "compare", help="compare two runs of each set: status transitions, factor changes, parameters",
        description="Compare two choices of runs exposure by exposure (default: each set's run before its "
                    "current one against the current one). A choice is current, previous, version:V (latest "
                    "run of that software version), params:DIGEST (latest run with that parameter digest, or "
                    "its first characters), date:YYYY-MM-DD[THH:MM] (latest run created before then, UTC) or "
                    "runs:ID,ID (those runs). Exit 1 when no set was compared.")
    add_db_option(p)
    p.add_argument("--before", metavar="CHOICE", default="previous", help="the earlier side (default: previous)")
    p.add_argument("--after", metavar="CHOICE", default="current", help="the later side (default: current)")
    p.add_argument("--filter", metavar="FILTER[,FILTER]", action="append", dest="filters",
                   help="only these filters (NIR_Y, NIR_J, NIR_H; comma-separated or repeated)")
    p.add_argument("--top", metavar="N", type=int, default=10,
                   help="list the N exposures whose factor changed most (default 10; 0: none)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the summary as JSON (fields in docs/cli.rst)")
    out.add_argument("--csv", action="store_true", help="print the paired exposures as CSV instead of a summary")
    p.set_defaults(func=_compare)


def _filters(values: list[str] | None) -> tuple[str, ...]:
    from ..errors import ConfigError

    if not values:
        return FILTERS
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    for name in names:
        if name not in FILTERS:
            raise ConfigError("command line", f"--filter: unknown filter '{name}' (choose among {', '.join(FILTERS)})")
    return tuple(dict.fromkeys(names))


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None or value != value else f"{value:.{digits}f}"


def summary_text(comparison, before, after, top: int = 10) -> str:
    """The human summary of a `relphot_core.compare.RunComparison`."""
    from ..compare import PERCENTILES, STATUSES

    data = comparison.summary()
    total = data["total"]
    lines = [f"before: {before} ({before.describe()})", f"after:  {after} ({after.describe()})",
             f"sets: {total['compared']:,} compared, {total['same_run']:,} with the same run on both sides, "
             f"{total['only_before']:,} with a run before only, {total['only_after']:,} after only; "
             f"{total['exposures']:,} exposures paired ({total['unpaired']:,} in one run only), "
             f"{total['status_changed']:,} changed status", ""]
    heads = " ".join(f"{'p' + format(p, 'g') if p < 100 else 'max':>6}" for p in PERCENTILES)
    lines.append(f"{'filter':7} {'sets':>6} {'exposures':>9} {'changed':>7}  |dQ| mmag: {heads}   "
                 f"|dQ|/QPRELEXE: {heads}")
    for name, part in [*data["filters"].items(), ("all", total)]:
        mmag = " ".join(f"{_fmt(v):>6}" for v in part["abs_delta"]["mmag"].values())
        sigma = " ".join(f"{_fmt(v):>6}" for v in part["abs_delta"]["sigma"].values())
        lines.append(f"{name:7} {part['compared']:>6,} {part['exposures']:>9,} {part['status_changed']:>7,}  "
                     f"{'':11}{mmag}   {'':15}{sigma}")
    lines += ["", "status transitions (exposures; rows: before, columns: after):",
              f"{'':8}" + "".join(f"{s:>8}" for s in STATUSES)]
    for b in STATUSES:
        lines.append(f"{b:8}" + "".join(f"{total['transitions'][b][a]:>8,}" for a in STATUSES))
    lines.append("")
    if not data["parameters"]:
        lines.append("parameters: no set compared")
    for group in data["parameters"]:
        was, now = group["before"], group["after"]
        lines.append(f"parameters of {group['sets']:,} set(s): version {was['software_version']} digest "
                     f"{was['params_digest'][:12]} -> version {now['software_version']} digest "
                     f"{now['params_digest'][:12]}")
        if not group["differ"]:
            lines.append("  no parameter differs")
        for name, (old, new) in group["differ"].items():
            lines.append(f"  {name}: {old} -> {new}")
    largest = comparison.largest(top) if top > 0 else None
    if largest is not None and len(largest):
        lines += ["", "largest changes (|dQ| in mmag, + = now fainter):",
                  f"{'obs_id':>8} {'filter':7} {'dither':>6} {'before':>9} {'after':>9} {'mmag':>8} "
                  f"{'sigma':>7}  status"]
        for row in largest.itertuples(index=False):
            lines.append(f"{row.obs_id:>8} {row.filter:7} {row.exposure:>6} {_fmt(row.value_before, 5):>9} "
                         f"{_fmt(row.value_after, 5):>9} {_fmt(row.delta_mmag):>8} {_fmt(row.delta_sigma, 1):>7}  "
                         f"{row.status_before} -> {row.status_after}")
    return "\n".join(lines)


def _compare(args: argparse.Namespace) -> int:
    from ..compare import RunChoice, compare_runs
    from ..store import Store

    before, after = RunChoice.parse(args.before), RunChoice.parse(args.after)
    filters = _filters(args.filters)
    with Store.open(args.db, create=False) as store:
        factors_before, runs_before = store.choice_factors(before, filters)
        factors_after, runs_after = store.choice_factors(after, filters)
    comparison = compare_runs(factors_before, factors_after, runs_before, runs_after)
    if args.csv:
        comparison.exposures.to_csv(sys.stdout, index=False, float_format="%.8g")
    elif args.json:
        payload = {"before": {"choice": str(before), "meaning": before.describe()},
                   "after": {"choice": str(after), "meaning": after.describe()}, **comparison.summary()}
        print(json.dumps(payload, indent=1, allow_nan=False))
    else:
        print(summary_text(comparison, before, after, top=args.top))
    return 0 if int(comparison.sets["compared"].sum()) else 1
