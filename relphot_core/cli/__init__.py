"""The ``relphot`` command line.

Each sub-command lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a
function ``(args) -> int`` (the exit status). Errors derived from
`relphot_core.errors.RelphotError` become one line on stderr and exit 2.
"""
from __future__ import annotations

import argparse
import atexit
import gc
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from .. import __version__
from ..errors import RelphotError

# Sub-command modules, in the order --help lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "simulate",
    "compute",
    "db",
    "problems",
    "news",
    "alerts",
    "compare",
    "products",
    "serve",
    "snapshot",
    "users",
)


COMMAND_MODULE: dict[str, str] = {
    "simulate": "simulate", "compute": "compute", "db": "db", "problems": "problems", "news": "news",
    "alerts": "alerts", "compare": "compare",
    "export": "products", "validate": "products", "import": "products", "apply": "products",
    "serve": "serve", "demo": "serve", "snapshot": "snapshot", "users": "users",
}
"""The module of each sub-command (tested against what the modules register)."""


class OneLineParser(argparse.ArgumentParser):
    """An `argparse.ArgumentParser` whose usage errors are one line (the
    command, the problem, where to read the options) and exit 2, like every
    other bad input; its sub-parsers are of the same class."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser with every available sub-command.

    Parameters
    ----------
    command : str, optional
        Only this sub-command's module is imported and registered (the
        command line names it first: the other modules are not needed).
    """
    parser = OneLineParser(
        prog="relphot",
        description="Relative photometric calibration QC of Euclid NISP exposures.",
    )
    parser.add_argument("--version", action="version", version=f"relphot {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = (COMMAND_MODULE[command],) if command in COMMAND_MODULE else COMMAND_MODULES
    for name in modules:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{name}":
                continue  # sub-command not built yet
            raise
        module.register(subparsers)
    return parser


_EXIT_HOOK: list[bool] = []


def _freeze_at_exit() -> None:
    """At interpreter exit, move every object out of the garbage collector's
    reach: the collections of the shutdown then skip them (~20 ms of a 0.4 s
    `relphot compute`). Registered as the command starts, it runs after the
    exit handlers the command registers (they run as usual); nothing is
    lost: an object alive at exit is not guaranteed a finaliser anyway, and
    relphot closes its files explicitly."""
    if not _EXIT_HOOK:
        atexit.register(gc.freeze)
        _EXIT_HOOK.append(True)


def _configure_logging(command: str) -> None:
    """Warnings and errors the library logs (e.g. a dashboard's failed
    background reload) as lines on stderr, like the command's own."""
    import logging

    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(f"relphot {command}: %(levelname)s: %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``relphot`` console script."""
    _freeze_at_exit()
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    _configure_logging(args.command)
    try:
        return int(args.func(args) or 0)
    except RelphotError as exc:
        print(f"relphot {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"relphot {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
