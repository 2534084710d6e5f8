"""Comparing two runs of each set: `relphot_core.compare`, the store's
choices of runs and ``relphot compare``, on a real SQLite store holding two
runs of each set computed with one changed parameter."""
from __future__ import annotations

import io
import json
import math
from datetime import datetime, timezone

import pandas as pd
import pytest

from relphot_core.cli import main
from relphot_core.compare import ChoiceError, RunChoice, compare_runs, parameter_differences
from relphot_core.store import Store
from relphot_core.store.writes import params_digest
from survey_fixtures import NEW, OLD, fill_two_runs

@pytest.fixture
def two_runs(tmp_path) -> str:
    """`survey_fixtures.fill_two_runs` in a fresh SQLite file."""
    url = f"sqlite:///{tmp_path / 'two_runs.db'}"
    fill_two_runs(url).close()
    return url


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["compare", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_choices_parse_and_refuse():
    assert RunChoice.parse(" Previous ") == RunChoice("previous")
    assert RunChoice.parse("runs: 3, 4") == RunChoice("runs", "3,4")
    assert RunChoice.parse("runs:3,4").run_ids == [3, 4]
    assert RunChoice.parse("params:ABC").value == "abc"
    assert RunChoice.parse("date:2026-03-02").time == datetime(2026, 3, 2, tzinfo=timezone.utc)
    for bad in ("latest", "version:", "runs:1,x", "date:yesterday", "params:xyz", "current:3"):
        with pytest.raises(ChoiceError, match="choice of runs"):
            RunChoice.parse(bad)


def test_parameter_differences_names_each_change():
    assert parameter_differences(OLD, NEW) == {"clipping.sigma": ["3.0", "2.5"]}
    assert parameter_differences({"a": 1}, {"b": 2}) == {"a": [1, None], "b": [None, 2]}


def test_compare_runs_empty_sides():
    empty = pd.DataFrame({c: [] for c in ("obs_id", "filter", "exposure", "run_id", "value", "error", "status")})
    result = compare_runs(empty, empty)
    assert len(result.exposures) == 0
    assert result.summary()["total"]["compared"] == 0
    assert result.percentiles()["mmag"]["p50"] is None


def test_store_previous_and_current_choices(two_runs):
    with Store.open(two_runs) as store:
        before, runs_before = store.choice_factors(RunChoice("previous"))
        after, runs_after = store.choice_factors(RunChoice("current"))
        by_date, _ = store.choice_factors(RunChoice.parse("date:2026-03-01T12:00"))
        by_digest, _ = store.choice_factors(RunChoice("params", params_digest(OLD)[:8]))
        listed, _ = store.choice_factors(RunChoice("runs", "1,2"), ["NIR_J"])
    assert len(before) == 40 and len(after) == 44  # the lone set has no previous run
    assert set(runs_before["params_digest"]) == {params_digest(OLD)}
    assert set(runs_after["params_digest"]) == {params_digest(NEW)}
    assert by_date.sort_values(["obs_id", "filter", "exposure"]).reset_index(drop=True).equals(
        before.sort_values(["obs_id", "filter", "exposure"]).reset_index(drop=True))
    assert set(by_digest["run_id"]) == set(before["run_id"])
    assert sorted(set(listed["run_id"])) == [1]  # run 2 is NIR_H


def test_relphot_compare_json_counts_and_transitions_exact(two_runs, capsys):
    code, out, err = run_cli(capsys, "--db", two_runs, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["before"]["choice"] == "previous" and data["after"]["choice"] == "current"
    total = data["total"]
    assert (total["compared"], total["same_run"], total["only_before"], total["only_after"]) == (10, 0, 0, 1)
    assert (total["exposures"], total["unpaired"], total["status_changed"]) == (40, 0, 3)
    moves = {(b, a): n for b, row in total["transitions"].items() for a, n in row.items() if n}
    assert moves == {("OK", "OK"): 37, ("OK", "FAIL"): 1, ("OK", "NODATA"): 1, ("WARN", "OK"): 1}
    j, h = data["filters"]["NIR_J"], data["filters"]["NIR_H"]
    assert (j["compared"], j["only_after"], j["exposures"], j["status_changed"]) == (5, 1, 20, 2)
    assert h["transitions"]["OK"]["NODATA"] == 1 and h["status_changed"] == 1
    small = 2500 * math.log10(1 / 1.0005)  # every other exposure moved by +0.0005
    assert total["abs_delta"]["mmag"]["p50"] == pytest.approx(abs(small))
    assert total["abs_delta"]["mmag"]["p100"] == pytest.approx(2500 * math.log10(1 / 0.97))
    assert total["abs_delta"]["sigma"]["p50"] == pytest.approx(0.5)
    assert data["parameters"] == [{
        "sets": 10,
        "before": {"software_version": "0.1.0", "params_digest": params_digest(OLD)},
        "after": {"software_version": "0.1.0", "params_digest": params_digest(NEW)},
        "differ": {"clipping.sigma": ["3.0", "2.5"]},
    }]


def test_relphot_compare_summary_and_csv(two_runs, capsys):
    code, out, _ = run_cli(capsys, "--db", two_runs, "--filter", "NIR_J")
    assert code == 0
    assert "sets: 5 compared" in out and "1 after only" in out
    assert "clipping.sigma: 3.0 -> 2.5" in out
    assert "1001 NIR_J        2" in out and "OK -> FAIL" in out
    code, out, _ = run_cli(capsys, "--db", two_runs, "--csv")
    assert code == 0
    table = pd.read_csv(io.StringIO(out))
    assert len(table) == 40
    row = table[(table.obs_id == 1002) & (table["filter"] == "NIR_H") & (table.exposure == 1)].iloc[0]
    assert (row.status_before, row.status_after) == ("OK", "NODATA") and math.isnan(row.delta_mmag)


def test_relphot_compare_nothing_compared_and_bad_input(two_runs, capsys, tmp_path):
    code, out, _ = run_cli(capsys, "--db", two_runs, "--before", "current", "--after", "current")
    assert code == 1 and "0 compared, 11 with the same run" in out
    code, _, err = run_cli(capsys, "--db", two_runs, "--before", "latest")
    assert code == 2 and err.count("\n") == 1 and "choice of runs 'latest'" in err
    code, _, err = run_cli(capsys, "--db", two_runs, "--filter", "NIR_X")
    assert code == 2 and "unknown filter 'NIR_X'" in err
    code, _, err = run_cli(capsys, "--db", str(tmp_path / "missing.db"))
    assert code == 2 and "no such store" in err and not (tmp_path / "missing.db").exists()
