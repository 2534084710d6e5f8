"""The command line stays light: building the parser imports no heavy
library, and the constants repeated to that end stay equal to their source."""
import subprocess
import sys

HEAVY = ("sqlalchemy", "alembic", "lxml", "scipy", "astropy", "pandas", "dash", "fitsio", "tqdm")


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint(' '.join(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True).stdout.split()
    return {name.split(".")[0] for name in out}


def test_building_the_parser_imports_no_heavy_library():
    loaded = _modules_after("from relphot_core.cli import build_parser\nbuild_parser()")
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_repeated_constants_stay_equal():
    from relphot_core.cli.db import ENV_VAR
    from relphot_core.cli.products import PURPOSES
    from relphot_core.products import PURPOSES as PRODUCT_PURPOSES
    from relphot_core.store.engine import ENV_VAR as STORE_ENV_VAR

    assert ENV_VAR == STORE_ENV_VAR
    assert PURPOSES == PRODUCT_PURPOSES
    from relphot_core.cli import problems as cli_problems
    from relphot_core.qc import problems

    assert cli_problems.KINDS == problems.PROBLEM_KINDS and cli_problems.STATES == problems.PROBLEM_STATES
    assert set(cli_problems.STATE_COMMANDS) == set(problems.STATE_ACTIONS) and cli_problems.ENV_VAR == ENV_VAR


def test_command_module_map_matches_the_registrations():
    import argparse
    import importlib

    from relphot_core.cli import COMMAND_MODULE, COMMAND_MODULES, build_parser

    def commands(parser):
        action = next(a for a in parser._actions if a.dest == "command")
        return set(action.choices)

    registered = {}
    for module in COMMAND_MODULES:
        subparsers = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(f"relphot_core.cli.{module}").register(subparsers)
        registered.update({name: module for name in subparsers.choices})
    assert registered == COMMAND_MODULE
    assert commands(build_parser()) == set(COMMAND_MODULE)
    for name, module in COMMAND_MODULE.items():
        assert commands(build_parser(name)) == {n for n, m in COMMAND_MODULE.items() if m == module}
    assert commands(build_parser("no-such-command")) == set(COMMAND_MODULE)
