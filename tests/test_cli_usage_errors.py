"""A usage error of any sub-command (an option argparse itself refuses) is
one line on stderr and exit 2, like every other bad input."""
from __future__ import annotations

import pytest

from relphot_core.cli import main


@pytest.mark.parametrize("argv, line", [
    (["export", "--db", "x.db", "--out", "o", "--since", "2025-13-01"],
     "relphot export: error: argument --since: '2025-13-01' is not a date YYYY-MM-DD (see relphot export --help)"),
    (["export", "--db", "x.db", "--out", "o", "--obs-id", "x"],
     "relphot export: error: argument --obs-id: invalid int value: 'x' (see relphot export --help)"),
    (["export", "--db", "x.db"],
     "relphot export: error: the following arguments are required: --out (see relphot export --help)"),
    (["serve", "--port", "abc"],
     "relphot serve: error: argument --port: invalid int value: 'abc' (see relphot serve --help)"),
    (["frobnicate"], "relphot: error: argument COMMAND: invalid choice: 'frobnicate'"),
])
def test_a_usage_error_is_one_line_and_exit_2(argv, line, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(line), err
    assert captured.out == "" and not list(tmp_path.iterdir())  # nothing written
