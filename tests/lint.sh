#!/usr/bin/env bash
# The project's lint step (CI runs it before the tests):
#   bash tests/lint.sh
# Installs the [lint] extra (ruff, mypy and type stubs) into .venv, editable (a
# checkout being worked on stays the code .venv runs), and runs
# ruff (rules in pyproject.toml's [tool.ruff]) over the repository, then mypy
# ([tool.mypy]: relphot_core and dashboard).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/pip install -q -e ".[lint]" 2>&1 | grep -v "^WARNING: Location" || true

.venv/bin/ruff check .
.venv/bin/mypy
