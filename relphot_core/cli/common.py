"""Helpers shared by the sub-commands: configuration options, atomic writes."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..config import Config, load_config
from ..errors import RelphotError

# (option, section, field, type, help)
_CONFIG_OPTIONS: tuple[tuple[str, str, str, type, str], ...] = (
    ("--method", "factors", "method", str, "median (of pair medians, default) or global (least squares)"),
    ("--min-snr", "selection", "min_snr", float, "minimum S/N of a source (default 10)"),
    ("--flags-mask", "selection", "flags_mask", int, "extraction flags tolerated (bit mask, default 0)"),
    ("--mag-min", "selection", "mag_min", float, "brightest magnitude kept (drop saturated sources)"),
    ("--mag-max", "selection", "mag_max", float, "faintest magnitude kept"),
    ("--radius", "matching", "radius_arcsec", float, "matching radius in arcsec (default 0.5)"),
    ("--clip-sigma", "clipping", "sigma", float, "clipping half-width in robust sigmas (default 3)"),
    ("--min-matches", "factors", "min_pair_matches", int,
     "minimum kept matches for a pair to count (default 20)"),
    ("--fail", "thresholds", "fail", float, "FAIL when |QPRELEX-1| exceeds this (default 0.015)"),
    ("--warn", "thresholds", "warn", float, "WARN when |QPRELEX-1| exceeds this and 3 sigma (default 0.005)"),
    ("--flux-column", "columns", "flux", str, "flux column (default FLUX_AUTO)"),
    ("--flux-err-column", "columns", "flux_err", str, "flux error column (default FLUXERR_AUTO)"),
    ("--ra-column", "columns", "ra", str, "RA column (default ALPHA_J2000)"),
    ("--dec-column", "columns", "dec", str, "Dec column (default DELTA_J2000)"),
    ("--flags-column", "columns", "flags", str, "flags column (default FLAGS)"),
)


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--config`` and the per-option overrides of the configuration."""
    group = parser.add_argument_group("processing parameters (override the --config TOML file)")
    group.add_argument("--config", type=Path, metavar="TOML", help="configuration file")
    for option, _, _, kind, text in _CONFIG_OPTIONS:
        group.add_argument(option, type=kind, default=None, help=text)


def config_from_args(args: argparse.Namespace) -> Config:
    """The configuration: defaults, then ``--config``, then the options."""
    config = load_config(getattr(args, "config", None))
    sections: dict[str, dict[str, object]] = {}
    for option, section, field, _, _ in _CONFIG_OPTIONS:
        value = getattr(args, option.lstrip("-").replace("-", "_"), None)
        if value is not None:
            sections.setdefault(section, {})[field] = value
    return config.replace(**sections) if sections else config


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write a file so that readers see either the old or the whole new one.

    The temporary file ``.NAME.*.tmp`` is locked while written (see
    `relphot_core.products.locked_temporary`), so a later run can remove
    one that a killed run left without touching one being written."""
    from ..products import locked_temporary  # lxml is not imported to build the parser

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = locked_temporary(path.parent, f".{path.name}.", ".tmp")
    except OSError as exc:
        raise RelphotError(path, f"cannot write ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise RelphotError(path, f"cannot write ({exc.strerror})") from None
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """`atomic_write_bytes` for UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))
