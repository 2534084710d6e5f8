"""``relphot news``: what is new in a store since a moment.

The morning's view in a terminal or a script (`relphot_core.news.News`): the
batches that ran since the last batch started (``--since batch``, the
default), 24 hours ago (``day``) or a time, the problems they opened, grew or
regressed, the new FAIL exposures, the failed sets and the coverage of the
new sets. ``--json`` prints it for scripts.
"""
from __future__ import annotations

import argparse
import json
import math
from typing import Any

from ..config import FILTERS

from .db import add_db_option


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``relphot news``."""
    parser = subparsers.add_parser(
        "news", help="what is new in a store since the last batch, a day or a time",
        description="What the store gained since a moment, by processing time: the batches that ran, the "
                    "problems they opened, grew or regressed, the new FAIL exposures, the sets that could not "
                    "be processed and the new sets that miss a dither.")
    add_db_option(parser)
    parser.add_argument("--since", default="batch", metavar="WHEN",
                        help="'batch' (the start of the last batch, default), 'day' (24 hours ago) or an ISO "
                             "time such as 2026-12-04T18:00 (UTC unless it says)")
    parser.add_argument("--filter", action="append", choices=FILTERS, help="only this filter (repeatable)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(func=run)


def _plain(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _records(frame: Any) -> list[dict[str, Any]]:
    return [{k: _plain(v) for k, v in row.items()} for row in frame.to_dict("records")]


def as_json(news: Any) -> dict[str, Any]:
    """The news as plain JSON values (``relphot news --json``)."""
    return {"since": {"key": news.since.key, "at": _plain(news.since.at), "label": news.since.label},
            "summary": news.summary(), "counts": news.counts, "statuses": news.statuses,
            "problems": _records(news.problems), "new_fails": _records(news.new_fails),
            "failures": _records(news.failures), "missing_dither": _records(news.missing_dither),
            "lone": _records(news.lone), "batches": _records(news.batches)}


def run(args: argparse.Namespace) -> int:
    """Execute ``relphot news``."""
    from ..errors import RelphotError
    from ..wording import plural
    from ..qc.problems import size_text
    from ..store import Store

    if args.since == "visit":
        raise RelphotError(None, "--since visit is the dashboard's (a signed-in user's); use batch, day or a time")
    with Store.open(args.db, create=False) as store:
        try:
            news = store.news(args.since, filters=args.filter)
        except ValueError as exc:
            raise RelphotError(None, f"--since: {exc}") from None
    if args.json:
        print(json.dumps(as_json(news), indent=1, ensure_ascii=False))
        return 0
    print(news.summary())
    for p in news.problems.itertuples(index=False):
        size = size_text(p.kind, p.unit, p.size, p.size_error, p.slope if p.slope is not None else float("nan"))
        print(f"  problem {p.problem_id:>5} {p.event:9} {p.filter:6} {p.title}: {size or p.worst_status or ''} "
              f"({plural(int(p.n_exposures), 'exposure')}, {p.state})")
    for f in news.new_fails.itertuples(index=False):
        print(f"  FAIL    obs {f.obs_id} {f.filter} dither {f.exposure}: {f.reason}")
    for f in news.failures.itertuples(index=False):
        print(f"  failed  {f.kind}: {f.path}: {f.reason}")
    for s in news.missing_dither.itertuples(index=False):
        print(f"  missing obs {s.obs_id} {s.filter}: {plural(int(s.n_exposures), 'exposure')}")
    return 0
