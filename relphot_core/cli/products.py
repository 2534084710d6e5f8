"""``relphot export | validate | import | apply``: the XML products and FITS keywords.

Exit status: 0 when every file went through, 1 when some file was refused
(each refusal is one line naming the file and the reason), 2 on an error
that stops the command (a database that cannot be opened, an invalid
product given to ``apply``).
"""
from __future__ import annotations

import argparse
import re
import sys
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ApplyError, ProductError, RelphotError, StoreError

if TYPE_CHECKING:  # pragma: no cover
    from ..selection import ExposureSelection

# lxml and the product schema are imported by the commands, not to build the parser.
PURPOSES: tuple[str, ...] = ("UNKNOWN", "PRODUCTION", "DATA_RELEASE", "REPROCESSING", "TEST",
                             "INTERMEDIATE_DATA_RELEASE", "VALIDATION", "ON_THE_FLY", "QUICK_RELEASE")
"""`relphot_core.products.PURPOSES`, repeated (tested to stay equal)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``export``, ``validate``, ``import`` and ``apply`` sub-commands."""
    p = subparsers.add_parser(
        "export", help="write validated XML products from the store",
        description="Write one validated DpdNirRelPhotoExpCalibration product per (observation, "
                    "filter) from the current runs of the store, atomically. The selection options "
                    "(--filter, --status, --reviewed, --from, --to, --obs) are the dashboard's: a product "
                    "is exported when it holds at least one exposure that meets them all, and the "
                    "exports page shows the command equivalent to its zip.")
    p.add_argument("--db", metavar="URL", help="database URL or SQLite file (default $RELPHOT_DB or relphot.db)")
    p.add_argument("--out", metavar="DIR", type=Path, required=True, help="output directory (created)")
    p.add_argument("--obs-id", metavar="ID", type=int, nargs="+", action="extend", dest="obs_ids",
                   help="only these observations")
    p.add_argument("--filter", metavar="FILTER[,FILTER]", action="append", dest="filters",
                   help="only these filters (NIR_Y, NIR_J, NIR_H; comma-separated or repeated)")
    p.add_argument("--status", metavar="STATUS[,STATUS]", action="append", dest="statuses",
                   help="only products with an exposure of these statuses (OK, WARN, FAIL, NODATA)")
    p.add_argument("--reviewed", metavar="any|yes|no",
                   help="only products with an exposure reviewed (yes) or not (no) at its current status")
    p.add_argument("--from", metavar="YYYY-MM-DD", dest="date_from",
                   help="only products with an exposure taken on or after this day (UTC)")
    p.add_argument("--to", metavar="YYYY-MM-DD", dest="date_to",
                   help="only products with an exposure taken on or before this day (UTC, whole day)")
    p.add_argument("--obs", metavar="ID|LOW-HIGH", dest="obs_range",
                   help="only observation ids in this range (both ends included)")
    p.add_argument("--since", metavar="YYYY-MM-DD", type=_date,
                   help="only runs computed on or after this day (UTC)")
    p.add_argument("--purpose", default="PRODUCTION", choices=PURPOSES, metavar="PURPOSE",
                   help=f"the products' Purpose: {', '.join(PURPOSES)} (default PRODUCTION)")
    p.set_defaults(func=run_export)

    p = subparsers.add_parser(
        "validate", help="check XML products against the XSD",
        description="Print FILE: valid, or FILE: invalid: line N: reason, for each file.")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.set_defaults(func=run_validate)

    p = subparsers.add_parser(
        "import", help="load XML products into the store (as imported runs)",
        description="Validate every file first; the valid ones are stored as runs marked "
                    "imported, the invalid ones refused with their reason (exit 1).")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.add_argument("--db", metavar="URL", help="database URL or SQLite file (default $RELPHOT_DB or relphot.db)")
    p.set_defaults(func=run_import)

    p = subparsers.add_parser(
        "apply", help="write QPRELEX/QPRELEXE of a product into exposure FITS headers",
        description="Write QPRELEX, QPRELEXE and a HISTORY card into the primary header of each "
                    "exposure whose OBS_ID, FILTER and DITHOBS match the product; refuse the others "
                    "(exit 1). Data units are never modified.")
    p.add_argument("product", type=Path, metavar="PRODUCT.xml")
    p.add_argument("exposures", nargs="+", type=Path, metavar="EXPOSURE.fits")
    p.add_argument("--dry-run", action="store_true", help="say what would change, change nothing")
    p.set_defaults(func=run_apply)


def _date(text: str) -> datetime:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)


def _progress(iterable, **kwargs):
    """tqdm on a terminal, the plain iterable otherwise."""
    if not sys.stderr.isatty():
        return iterable
    from tqdm import tqdm
    return tqdm(iterable, file=sys.stderr, leave=False, **kwargs)


def _unexpected(exc: BaseException) -> str:
    """One line for an error no check foresaw (never a traceback)."""
    text = str(exc).strip().splitlines()
    return f"cannot be read ({type(exc).__name__}: {text[0] if text else 'no detail'})"


def run_validate(args: argparse.Namespace) -> int:
    """``relphot validate FILE...``."""
    from ..products import read_product

    bad = 0
    for path in args.files:
        try:
            read_product(path)
        except ProductError as exc:
            bad += 1
            print(f"{path}: invalid: {exc.reason}")
        except Exception as exc:  # noqa: BLE001 - every file gets its verdict, whatever the others do
            bad += 1
            print(f"{path}: invalid: {_unexpected(exc)}")
        else:
            print(f"{path}: valid")
    return 1 if bad else 0


def export_selection(args: argparse.Namespace) -> ExposureSelection:
    """The selection the ``export`` options give.

    Raises
    ------
    SelectionError
        Naming every option value that cannot be read.
    """
    from ..selection import ExposureSelection, SelectionError

    def joined(values: list[str] | None) -> str | None:
        return None if not values else ",".join(values)

    params = {"filter": joined(args.filters), "status": joined(args.statuses), "reviewed": args.reviewed,
              "from": args.date_from, "to": args.date_to, "obs": args.obs_range}
    for name in ("filter", "status"):
        if params[name] is not None and not params[name].strip(", "):
            params[name] = "(empty)"  # an empty list is a mistake, not "all"
    try:
        return ExposureSelection.from_params(params)
    except SelectionError as exc:  # the parameters are the options: name them as such
        raise SelectionError(None, re.sub(r"'(filter|status|reviewed|from|to|obs)'", r"--\1", exc.reason)) from None


def run_export(args: argparse.Namespace) -> int:
    """``relphot export --db URL --out DIR [...]``."""
    from ..store import Store
    from ..products import write_product

    from ..atomic import remove_stale_temporaries
    from ..products import TEMPORARY_PRODUCTS
    from ..reviews import all_review_states

    selection = export_selection(args)
    written = refused = 0
    # an export only reads: a misspelt --db is refused, not created empty (and nothing is written)
    with Store.open(args.db, create=False) as store:
        try:
            args.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ProductError(args.out, f"cannot create the output directory ({exc.strerror})") from None
        for stale in remove_stale_temporaries(args.out, TEMPORARY_PRODUCTS):
            print(f"relphot export: removed {stale}, left by an interrupted export", file=sys.stderr)
        reviewed = all_review_states(store)  # each product carries its exposures' reviews
        results = store.iter_results(obs_ids=args.obs_ids, since=args.since, selection=selection, details=False)
        for result in _progress(results, desc="export", unit="product"):
            try:
                path = write_product(result, args.out, purpose=args.purpose,
                                     reviews=reviewed.get((result.obs_id, result.filter)))
            except ProductError as exc:  # one bad run does not stop the others
                refused += 1
                print(f"refused: {exc}", file=sys.stderr)
                continue
            print(path)
            written += 1
    print(f"{written} product{'s' if written != 1 else ''} written to {args.out}"
          + (f", {refused} refused" if refused else ""), file=sys.stderr)
    return 1 if refused else 0


def run_import(args: argparse.Namespace) -> int:
    """``relphot import FILE... --db URL``: validate all, then store the valid ones."""
    from ..products import read_product

    good = []
    refused = 0
    for path in args.files:
        try:
            good.append((path, read_product(path)))
        except ProductError as exc:
            refused += 1
            print(f"{path}: refused: {exc.reason}", file=sys.stderr)
        except Exception as exc:  # noqa: BLE001 - every file gets its verdict
            refused += 1
            print(f"{path}: refused: {_unexpected(exc)}", file=sys.stderr)
    if good:
        from ..store import Store

        with Store.open(args.db) as store:
            for path, result in _progress(good, desc="import", unit="product"):
                try:
                    run_id = store.save_result(result, imported=True)
                except StoreError as exc:
                    refused += 1
                    print(f"{path}: refused: {exc.reason}", file=sys.stderr)
                    continue
                except (ArithmeticError, ValueError, TypeError) as exc:  # a value the database cannot hold
                    refused += 1
                    print(f"{path}: refused: {_unexpected(exc)} (nothing stored)", file=sys.stderr)
                    continue
                if run_id is None:
                    print(f"{path}: already stored (identical run), skipped")
                else:
                    print(f"{path}: imported as run {run_id}")
    return 1 if refused else 0


def run_apply(args: argparse.Namespace) -> int:
    """``relphot apply PRODUCT.xml EXPOSURE.fits... [--dry-run]``."""
    from ..apply import apply_product
    from ..products import read_product

    product = read_product(args.product)  # an invalid product stops everything (exit 2)
    refused = 0
    for path in args.exposures:
        try:
            plan = apply_product(product, path, product_name=args.product.name, dry_run=args.dry_run)
        except ApplyError as exc:
            refused += 1
            print(f"{path}: refused: {exc.reason}", file=sys.stderr)
            continue
        except RelphotError as exc:  # pragma: no cover - defensive
            refused += 1
            print(f"{path}: refused: {exc.reason}", file=sys.stderr)
            continue
        except (ArithmeticError, ValueError, TypeError, OSError) as exc:  # every file gets its verdict
            refused += 1
            print(f"{path}: refused: {_unexpected(exc)}", file=sys.stderr)
            continue
        verb = "would set" if args.dry_run else "set"
        print(f"{path}: {verb} {plan.describe()}")
    return 1 if refused else 0
