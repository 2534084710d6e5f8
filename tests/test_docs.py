"""The documentation builds with warnings as errors, and its generated
reference pages cover what the code has (sub-commands, tables, migrations,
configuration parameters)."""
from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "_ext"))

import relphot_docs  # noqa: E402


def _text(page: Path) -> str:
    """The visible text of an HTML page, entities decoded, Sphinx's smart
    quotes back to ASCII."""
    text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))
    return text.translate(str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'}))


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("docs-html")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("RELPHOT_DB", None)
    stores_before = set(ROOT.glob("relphot.db*"))
    run = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(out / ".doctrees"), str(DOCS), str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, f"sphinx failed:\n{run.stdout}\n{run.stderr}"
    assert set(ROOT.glob("relphot.db*")) == stores_before, "the build opened a store (imported dashboard.wsgi?)"
    return out


@pytest.mark.slow  # the Sphinx build
def test_build_has_every_page(built):
    for page in ("index", "method", "qc", "inputs", "products", "store", "cli", "configuration",
                 "dashboard", "deployment", "operations", "extending", "developer", "benchmarks", "glossary", "api"):
        assert (built / f"{page}.html").is_file(), page
    assert (built / "generated" / "relphot_core.factors.html").is_file()
    assert (built / "_static" / "mathjax" / "tex-chtml.js").is_file()  # formulas render offline


@pytest.mark.slow  # the Sphinx build
def test_cli_page_has_every_command_help(built):
    from relphot_core.cli import build_parser

    text = _text(built / "cli.html")
    helps = relphot_docs.command_helps(build_parser())
    assert len(helps) > 10
    for command, help_text in helps[1:]:
        assert command in text, command
        usage = " ".join(help_text.split("\n\n")[0].split())  # the usage paragraph, as argparse wrapped it
        assert usage in " ".join(text.split()), command


@pytest.mark.slow  # the Sphinx build
def test_store_page_has_every_table_column_and_migration(built):
    from relphot_core.store import models
    from relphot_core.store.schema import head_revision

    text = _text(built / "store.html")
    described = relphot_docs.table_descriptions(models.__doc__)
    for table in models.Base.metadata.sorted_tables:
        assert table.name in text
        assert described.get(table.name), f"{table.name}: say what it holds in the models' Tables docstring"
        assert " ".join(described[table.name].split()[:6]) in " ".join(text.split())
        for column in table.columns:
            assert column.name in text, f"{table.name}.{column.name}"
    revisions = relphot_docs.migration_revisions()
    assert revisions[-1]["revision"] == head_revision()
    for revision in revisions:
        assert revision["file"] in text


@pytest.mark.slow  # the Sphinx build
def test_configuration_page_has_every_parameter(built):
    from relphot_core.config import parameter_docs

    text = _text(built / "configuration.html")
    for item in parameter_docs():
        assert f"[{item.section}]" in text
        assert item.name in text
        if item.option:
            assert item.option in text


@pytest.mark.slow  # the Sphinx build
def test_sign_convention_is_stated(built):
    for page in ("method", "products"):
        text = " ".join(_text(built / f"{page}.html").split())
        assert "QPRELEX = 0.97" in text or "Value 0.97" in text, page
        assert "flux / QPRELEX" in text or "flux / Value" in text, page


def test_migration_revisions_form_one_chain(tmp_path):
    revisions = relphot_docs.migration_revisions()
    assert [r["down"] for r in revisions[1:]] == [r["revision"] for r in revisions[:-1]]
    assert revisions[0]["down"] == ""
    (tmp_path / "a.py").write_text('"""First."""\nrevision = "1"\ndown_revision = None\n')
    (tmp_path / "b.py").write_text('"""Second."""\nrevision = "2"\ndown_revision = "1"\n')
    (tmp_path / "c.py").write_text('"""Branch."""\nrevision = "3"\ndown_revision = "1"\n')
    with pytest.raises(Exception, match="one chain"):
        relphot_docs.migration_revisions(tmp_path)


def test_api_walk_leaves_out_modules_that_act_on_import():
    modules = relphot_docs.package_modules()
    listed = {name for children in modules.values() for name in children}
    assert {"relphot_core.factors", "relphot_core.store.models", "dashboard.pages.overview"} <= listed
    assert "dashboard.wsgi" not in listed  # would open a store
    assert not any(name.startswith("relphot_core.store.migrations") for name in listed)
    assert not any(name.rsplit(".", 1)[-1].startswith("_") for name in listed)


def test_cell_escapes_markup():
    assert relphot_docs._cell("|10**(-0.4 m) - 1| > fail") == r"\|10\*\*(-0.4 m) - 1\| > fail"
    assert relphot_docs._cell(None) == "\u2014"
    assert relphot_docs._cell("two\n   lines") == "two lines"
