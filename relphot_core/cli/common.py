"""The configuration options of the sub-commands.

The options are derived from the declarations of `relphot_core.config`:
every parameter of the sections a command uses has its own option (the
``option`` of its `relphot_core.config.ParameterDoc`), grouped by section in
the help, with its meaning, unit and default. Values are read with the
parameter's type and validated like those of a TOML file; an error names the
parameter and "command line".
"""
from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Iterable
from pathlib import Path

from ..config import READ_TIME_SECTIONS, Config, ParameterDoc, load_config, parameter_docs

__all__ = ["ALERT_SECTIONS", "RUN_SECTIONS", "SERVE_SECTIONS", "add_config_options", "config_from_args"]

RUN_SECTIONS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Config)
                                      if f.name not in READ_TIME_SECTIONS)
"""The sections a computation uses (``relphot compute``)."""

SERVE_SECTIONS: tuple[str, ...] = ("thresholds", "detectors", "control")
"""The sections the dashboard uses: the status bands and the control-chart rules."""

ALERT_SECTIONS: tuple[str, ...] = ("alerts",)
"""The sections of ``relphot alerts`` (``relphot compute --db`` reads them from its ``--config`` file)."""

COMMAND_LINE = "command line"
"""The source named by errors in values given as options."""

_SECTIONS_ATTRIBUTE = "_config_sections"


def _dest(doc: ParameterDoc) -> str:
    return f"config:{doc.key}"


def _kind(doc: ParameterDoc) -> type:
    return {"float": float, "int": int}.get(doc.type.replace(" | None", ""), str)


def _read(doc: ParameterDoc, text: object) -> object:
    """An option's text as the parameter's type; text that is not one is
    passed on as it is, for the configuration's check to refuse in one line
    naming the parameter and the value (argparse would print its usage)."""
    kind = _kind(doc)
    if kind is str or not isinstance(text, str):
        return text
    try:
        return kind(text)
    except ValueError:
        return text


def _is_list(doc: ParameterDoc) -> bool:
    return doc.type.startswith("tuple")


def _help(doc: ParameterDoc) -> str:
    default = "none" if doc.default is None else f"{doc.default:g}" if isinstance(doc.default, float) \
        else (", ".join(doc.default) or "none") if _is_list(doc) else str(doc.default)
    unit = f"{doc.unit}; " if doc.unit else ""
    return f"{doc.doc.rstrip('.')} ({unit}default {default}; {doc.key}).".replace("%", "%%")


def _section_title(section: str) -> str:
    cls = next(f.default_factory for f in dataclasses.fields(Config) if f.name == section)
    summary = " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())
    return f"[{section}] {summary.replace('`', '').rstrip('.')}"


def add_config_options(parser: argparse.ArgumentParser, sections: Iterable[str] = RUN_SECTIONS, *,
                       config_help: str = "configuration file (TOML, one table per section)") -> None:
    """Add ``--config`` and one option per parameter of ``sections``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The sub-command's parser.
    sections : iterable of str, optional
        The configuration sections the command uses (default
        `RUN_SECTIONS`).
    config_help : str, optional
        The help of ``--config``.
    """
    sections = tuple(sections)
    group = parser.add_argument_group(
        "configuration",
        "Defaults, overridden by the --config file, overridden by the options below: every parameter of the "
        "sections this command uses has an option. Values out of range are refused naming the parameter.")
    group.add_argument("--config", type=Path, metavar="TOML", help=config_help)
    by_section: dict[str, list[ParameterDoc]] = {}
    for doc in parameter_docs():
        by_section.setdefault(doc.section, []).append(doc)
    for section in sections:
        group = parser.add_argument_group(_section_title(section))
        for doc in by_section[section]:
            kind = _kind(doc)
            metavar = {float: "X", int: "N"}.get(kind, "NAME" if doc.section in ("columns", "keywords") else "TEXT")
            group.add_argument(doc.option, dest=_dest(doc), default=None, metavar=metavar,
                               action="append" if _is_list(doc) else "store",
                               help=_help(doc) + (" Repeatable." if _is_list(doc) else ""))
    parser.set_defaults(**{_SECTIONS_ATTRIBUTE: sections})


def config_from_args(args: argparse.Namespace) -> Config:
    """The configuration: defaults, then ``--config``, then the options.

    Raises
    ------
    relphot_core.errors.ConfigError
        A value of the file or of the options is invalid (the error names
        the parameter and the file or "command line").
    """
    config = load_config(getattr(args, "config", None))
    wanted = set(getattr(args, _SECTIONS_ATTRIBUTE, ()))
    sections: dict[str, dict[str, object]] = {}
    for doc in parameter_docs():
        value = getattr(args, _dest(doc), None)
        if doc.section in wanted and value is not None:
            sections.setdefault(doc.section, {})[doc.name] = _read(doc, value)
    return config.override(sections, source=COMMAND_LINE) if sections else config
