"""Sphinx directives that render reference tables from the code itself, so
that the documentation cannot drift from it:

``.. relphot-config::``
    The configuration reference, one table per section, from
    `relphot_core.config.parameter_docs` (name, type, default, unit,
    command-line option, meaning).
``.. relphot-schema::``
    The store's tables and columns, from the SQLAlchemy models
    (`relphot_core.store.models.Base.metadata`).
``.. relphot-cli::``
    Every sub-command's ``--help``, exactly as ``relphot`` prints it, from
    the parsers `relphot_core.cli.build_parser` builds (recursively for
    sub-commands of sub-commands, such as ``relphot db upgrade``).
``.. relphot-migrations::``
    The Alembic revisions in ``relphot_core/store/migrations/versions``,
    read from their source (not imported) in revision order.

`package_modules` lists the modules of the API reference by walking the
source tree, without importing anything: some modules do something when
imported (the WSGI entry point opens a store, Alembic's ``env.py`` runs a
migration), and autosummary's ``:recursive:`` imports every module it finds.

It also leaves type aliases such as ``StatusCounts = tuple[...]`` out of
the API reference's classes: autodoc takes a ``types.GenericAlias`` for a
class and fails on its signature (the alias's docstring stays in the source).
"""
from __future__ import annotations

import argparse
import ast
import os
import re
import types
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "relphot_core" / "store" / "migrations" / "versions"

SKIPPED_MODULES = frozenset({"relphot_core.store.migrations", "dashboard.wsgi"})
"""Modules left out of the API reference (with what is under them)."""


def package_modules(packages: tuple[str, ...] = ("relphot_core", "dashboard"),
                    root: Path = ROOT) -> dict[str, list[str]]:
    """``{package: [its public sub-modules and sub-packages]}`` for every
    package under ``packages``, from the files alone (nothing imported)."""
    found: dict[str, list[str]] = {}
    pending = list(packages)
    while pending:
        package = pending.pop(0)
        directory = root.joinpath(*package.split("."))
        children = []
        for entry in sorted(directory.iterdir()):
            name = entry.stem if entry.suffix == ".py" else entry.name
            full = f"{package}.{name}"
            if name.startswith("_") or full in SKIPPED_MODULES:
                continue
            if entry.is_dir() and (entry / "__init__.py").exists():
                children.append(full)
                pending.append(full)
            elif entry.suffix == ".py":
                children.append(full)
        found[package] = children
    return found


_RST_MARKUP = re.compile(r"([\\*`|_\[\]])")


def _cell(text: Any) -> str:
    """One table cell holding plain text, on one line: the characters that
    start reStructuredText markup are escaped (a parameter's doc is plain text,
    shared with the command-line help, e.g. ``|10**(-0.4 m) - 1| > fail``)."""
    if text in (None, ""):
        return "\u2014"
    return _RST_MARKUP.sub(r"\\\1", " ".join(str(text).split()))


def _list_table(header: list[str], rows: list[list[str]], widths: list[int]) -> list[str]:
    lines = [".. list-table::", "   :header-rows: 1", "   :widths: " + " ".join(map(str, widths)), ""]
    for row in [header, *rows]:
        lines.append("   * - " + row[0])
        lines.extend("     - " + cell for cell in row[1:])
    lines.append("")
    return lines


class _GeneratedRst(SphinxDirective):
    """A directive whose content is reStructuredText built by `lines`."""

    has_content = False

    def lines(self) -> list[str]:  # pragma: no cover - overridden
        raise NotImplementedError

    def run(self) -> list[nodes.Node]:
        container = nodes.section()
        container.document = self.state.document
        nested_parse_with_titles(self.state, StringList(self.lines(), source=f"<{self.name}>"), container)
        return container.children


HELP_COLUMNS = "100"
"""Terminal width the help texts are formatted for (argparse reads ``$COLUMNS``)."""


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    for action in parser._actions:  # argparse keeps its sub-parsers only there
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices.items())
    return []


def command_helps(parser: argparse.ArgumentParser, prefix: str = "relphot") -> list[tuple[str, str]]:
    """``[(command, help text)]`` of a parser and of every sub-command under it,
    depth first, in the order the parser lists them."""
    found = [(prefix, parser.format_help())]
    for name, sub in _subcommands(parser):
        found += command_helps(sub, f"{prefix} {name}")
    return found


class CliDirective(_GeneratedRst):
    """One section per command, holding its help text."""

    def lines(self) -> list[str]:
        from relphot_core.cli import build_parser

        previous = os.environ.get("COLUMNS")
        os.environ["COLUMNS"] = HELP_COLUMNS
        try:
            helps = command_helps(build_parser())
        finally:
            if previous is None:
                del os.environ["COLUMNS"]
            else:
                os.environ["COLUMNS"] = previous
        lines: list[str] = []
        for command, text in helps[1:]:  # the top level is the page's introduction
            title = f"``{command}``"
            lines += [f".. _cli-{command.replace(' ', '-')}:", "", title, "~" * len(title), "",
                      ".. code-block:: text", ""]
            lines += ["   " + line if line.strip() else "" for line in text.rstrip().splitlines()]
            lines.append("")
        return lines


class ConfigDirective(_GeneratedRst):
    """The configuration parameters, one table per section."""

    def lines(self) -> list[str]:
        from relphot_core import config

        parameter_docs = getattr(config, "parameter_docs", None)
        if parameter_docs is None:
            raise ExtensionError(
                "relphot-config: relphot_core.config has no parameter_docs(): the configuration "
                "reference is rendered from it (ParameterDoc rows: section, name, default, type, unit, "
                "doc, option); add it to relphot_core/config.py")
        sections: dict[str, list[Any]] = {}
        for item in parameter_docs():
            sections.setdefault(item.section, []).append(item)
        if not sections:
            raise ExtensionError("relphot-config: relphot_core.config.parameter_docs() returned no parameter")
        out: list[str] = []
        for section, items in sections.items():
            title = f"[{section}]"
            out += [title, "-" * len(title), ""]
            rows = [[f"``{p.name}``", _cell(p.type), f"``{p.default!r}``", _cell(p.unit),
                     f"``{p.option}``" if p.option else "\u2014", _cell(p.doc)] for p in items]
            out += _list_table(["name", "type", "default", "unit", "option", "meaning"], rows,
                               [14, 8, 10, 8, 14, 46])
        return out


def table_descriptions(docstring: str) -> dict[str, str]:
    """``{table: what it holds}`` from the "Tables" section of a module
    docstring: names unindented (several separated by commas share one
    description), the description indented under them."""
    found: dict[str, str] = {}
    lines = docstring.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Tables") + 2
    except StopIteration:
        return found
    names: list[str] = []
    for line in lines[start:]:
        if line and not line[0].isspace():
            if not re.fullmatch(r"[a-z_]+(, [a-z_]+)*", line.strip()):
                break
            names = [name.strip() for name in line.split(",")]
            for name in names:
                found[name] = ""
        elif line.strip() and names:
            for name in names:
                found[name] = (found[name] + " " + line.strip()).strip()
    return found


class SchemaDirective(_GeneratedRst):
    """The store's tables, one table of columns each, with what each holds
    (from the "Tables" section of the models' module docstring)."""

    def lines(self) -> list[str]:
        from relphot_core.store import models

        described = table_descriptions(models.__doc__ or "")
        out: list[str] = []
        for table in models.Base.metadata.sorted_tables:
            out += [f"``{table.name}``", "~" * (len(table.name) + 4), ""]
            if described.get(table.name):
                out += [described[table.name], ""]
            rows = []
            for column in table.columns:
                notes = []
                if column.primary_key:
                    notes.append("primary key")
                notes += [f"references ``{fk.target_fullname}``" for fk in column.foreign_keys]
                if column.nullable and not column.primary_key:
                    notes.append("may be NULL")
                rows.append([f"``{column.name}``", f"``{column.type}``", "; ".join(notes) or "\u2014"])
            out += _list_table(["column", "type", "notes"], rows, [30, 20, 50])
            constraints = [c for c in table.constraints if c.__class__.__name__ == "UniqueConstraint"]
            for constraint in constraints:
                names = ", ".join(f"``{c.name}``" for c in constraint.columns)
                out += [f"Unique: {names}.", ""]
        return out


def migration_revisions(directory: Path = MIGRATIONS) -> list[dict[str, str]]:
    """The Alembic revisions of a versions folder, oldest first: revision,
    down_revision and the first line of the script's docstring."""
    found: dict[str, dict[str, str]] = {}
    for path in sorted(directory.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        values: dict[str, Any] = {}
        for node in tree.body:
            if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                    and node.targets[0].id in ("revision", "down_revision")):
                values[node.targets[0].id] = ast.literal_eval(node.value)
        if "revision" not in values:
            continue
        doc = (ast.get_docstring(tree) or "").split("\n\n")[0]
        found[str(values["revision"])] = {"revision": str(values["revision"]),
                                          "down": str(values.get("down_revision") or ""),
                                          "file": path.name, "doc": doc}
    ordered, current = [], ""
    while True:
        nxt = [r for r in found.values() if r["down"] == current]
        if not nxt:
            break
        current = nxt[0]["revision"]
        ordered.append(nxt[0])
    if len(ordered) != len(found):
        raise ExtensionError(f"relphot-migrations: the revisions in {directory} do not form one chain")
    return ordered


class MigrationsDirective(_GeneratedRst):
    """The Alembic revisions, oldest first."""

    def lines(self) -> list[str]:
        rows = [[f"``{r['revision']}``", f"``{r['file']}``", _cell(r["doc"])] for r in migration_revisions()]
        return _list_table(["revision", "script", "what it does"], rows, [10, 30, 60])


def _skip_type_aliases(app: Sphinx, what: str, name: str, obj: Any, skip: bool, options: Any) -> bool | None:
    if isinstance(obj, types.GenericAlias):
        return True
    return None


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("relphot-cli", CliDirective)
    app.add_directive("relphot-config", ConfigDirective)
    app.add_directive("relphot-schema", SchemaDirective)
    app.add_directive("relphot-migrations", MigrationsDirective)
    app.connect("autodoc-skip-member", _skip_type_aliases)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
