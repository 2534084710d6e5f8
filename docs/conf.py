"""Sphinx configuration of the relphot documentation.

Build (no network needed)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html
"""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))            # the package from this tree, not an installed copy
sys.path.insert(0, str(HERE / "_ext"))   # relphot_docs

from relphot_core import __version__  # noqa: E402
from relphot_docs import package_modules  # noqa: E402

project = "relphot"
author = "the relphot developers"
copyright = "the relphot developers, BSD-3-Clause"  # Sphinx's name
version = release = __version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",    # MathJax copied into the build: formulas render offline
    "sphinx.ext.viewcode",
    "numpydoc",
    "relphot_docs",
]

templates_path = ["_templates"]
exclude_patterns = ["_build"]
default_role = "py:obj"          # `name` in docstrings links where it can
nitpicky = False
suppress_warnings: list[str] = []

# The docstrings write the deviation of a factor from 1 as |QPRELEX - 1|,
# which reStructuredText would read as a substitution: print it as written.
rst_prolog = r"""
.. |QPRELEX - 1| replace:: \|QPRELEX - 1\|
"""

# The API reference: one page per module. The modules are found by walking
# the source tree (relphot_docs.package_modules), not by autosummary's
# :recursive:, which imports every module, the WSGI entry point included.
autosummary_generate = True
autosummary_imported_members = False
autosummary_context = {"package_modules": package_modules()}  # the module template's sub-modules
autodoc_default_options = {"members": True, "show-inheritance": False}
autodoc_typehints = "none"        # the numpydoc sections carry the types
autodoc_preserve_defaults = True  # `config=Config()` as written, not its whole repr
autodoc_member_order = "bysource"
autodoc_inherit_docstrings = False  # not SQLAlchemy's or Dash's docstrings on our subclasses
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()

html_theme = "furo"
html_title = f"relphot {version}"
html_static_path: list[str] = []
html_show_sourcelink = False
