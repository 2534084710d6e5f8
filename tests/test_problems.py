"""Problems (relphot_core.qc.problems and the store's problem tables): one
problem per fault on seasons whose faults start and end, more than one at
once with their collateral effects; identity across recomputations,
regression, review as one batch, the leads' states; `relphot problems`."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from relphot_core.cli import main
from relphot_core.qc.problems import find_problems, next_state
from relphot_core.simulate.faults import Fault, FaultSeason, detector_table, ending_faults_season, factor_table
from relphot_core.store.problems import ProblemStateError, StaleProblemError
from relphot_core.testing.synth import make_result

from season_results import season_results as _results
from store_fixtures import store, store_url  # noqa: F401  (fixtures)

FAULTS = {  # the ending-faults season of 160 observations: (kind, subject, first obs, last obs)
    "exposure": ("exposure", "obs 1020 dither 1", 1020, 1020),
    "detector": ("detector", "detector 23", 1030, 1059),
    "step": ("drift", "dither 2", 1060, 1079),
    "permanent": ("drift", "dither 3", 1080, 1159),
    "ramp": ("drift", "dither 4", 1100, 1159),
}


@pytest.mark.parametrize("error", [0.002, 0.0005])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_each_fault_of_an_ending_season_is_one_problem_with_its_span_and_size(error, seed):
    season = ending_faults_season(160)
    table = factor_table(season, error=error, seed=seed)
    problems = find_problems(table, "NIR_J")
    by_subject = {p.subject: p for p in problems}
    assert len(problems) == len(FAULTS), [(p.kind, p.subject) for p in problems]
    for name, (kind, subject, first, last) in FAULTS.items():
        problem = by_subject[subject]
        assert problem.kind == kind
        tolerance = 15 if name == "ramp" else 10  # the onset of a slow ramp is gradual
        assert abs(problem.first_obs - first) <= tolerance, (name, problem.first_obs)
        assert abs(problem.last_obs - last) <= 10, (name, problem.last_obs)
    # sizes now against the truth, within 3 errors (the partners' leak of the median of pair medians aside)
    assert abs(by_subject["dither 2"].size + 0.005) <= 3 * by_subject["dither 2"].size_error + 0.0005
    assert abs(by_subject["detector 23"].size - 0.0331) <= 0.003
    assert abs(by_subject["obs 1020 dither 1"].size + 0.03) <= 3 * error + 0.0005
    ramp = by_subject["dither 4"]
    assert ramp.slope == pytest.approx(-0.001, abs=0.0004) and ramp.ongoing
    assert not by_subject["dither 2"].ongoing and by_subject["dither 3"].ongoing


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_clean_exposures_carry_no_flag_after_their_faults_end(seed):
    """At most 1 in 200 fault-free exposures of the season (more than 10
    observations from a fault's span) is a problem's own, 10 observations
    after the faults end included; the exposures a fault touches through
    its partners are attached to it as collateral."""
    season = ending_faults_season(160)
    table = factor_table(season, error=0.002, seed=seed)
    problems = find_problems(table, "NIR_J")
    members = {(o, d) for p in problems for o, d, role in p.exposures if role == "primary"}
    truth = season.truth()
    faulty = {(season.first_obs_id + i, d + 1) for i in range(season.n) for d in range(4) if truth[i, d] != 1.0}
    # a fault's exposures, and those within the tolerance of its span (a ramp's onset is gradual)
    faulty |= {(season.first_obs_id + i, f.dither) for f in season.faults for i in range(season.n)
               if f.start - (15 if f.kind == "ramp" else 10) <= i < (season.n if f.end is None else f.end + 10)}
    clean = [(o, d) for o, d in zip(table["obs_id"], table["exposure"]) if (o, d) not in faulty]
    flagged_clean = [key for key in clean if key in members]
    assert len(flagged_clean) <= len(clean) / 200, flagged_clean


def test_a_fault_free_season_has_no_problem():
    table = factor_table(FaultSeason(400), error=0.002, seed=5)
    assert find_problems(table, "NIR_J") == []


def test_collateral_drifts_join_their_cause():
    """A 3 % detector fault shifts its exposure by a fraction of a percent
    (a drift of that dither on its span): that drift is the detector
    problem's collateral, not a problem of its own."""
    season = FaultSeason(200, (Fault("detector", 80, 130, 2, -0.05, detector=23),))
    table = factor_table(season, error=0.0005, seed=3)
    problems = find_problems(table, "NIR_J")
    assert [(p.kind, p.subject) for p in problems] == [("detector", "detector 23")]
    assert (problems[0].first_obs, problems[0].last_obs) == (1080, 1129)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_detector_step_too_small_for_a_flag_is_a_detector_drift_problem(seed):
    """Detector 23 0.4 % faint in every exposure over 60 observations (no
    exposure's detector flag: under 0.5 %): one ``detector-drift`` problem,
    its span within 10 observations, its size within 3 errors, ended."""
    season = FaultSeason(300, (Fault("detector-step", 100, 160, 0, -0.004, detector=23),))
    table = factor_table(season, error=0.002, seed=seed)
    assert find_problems(table, "NIR_J") == []  # the exposures alone show nothing
    problems = find_problems(table, "NIR_J", detectors=detector_table(season, error=0.002, seed=seed))
    assert [(p.kind, p.subject) for p in problems] == [("detector-drift", "detector 23")]
    (problem,) = problems
    assert abs(problem.first_obs - 1100) <= 10 and abs(problem.last_obs - 1159) <= 10
    assert abs(problem.size - 0.00436) <= 3 * problem.size_error and problem.unit == "mag"
    assert not problem.ongoing and "drift of detector 23 since" in problem.reason
    assert {d for _, d, _ in problem.exposures} == {1, 2, 3, 4}


def test_a_flagged_detector_seen_in_its_series_is_one_problem():
    """The 3 % fault of detector 23 in one dither also drifts that
    detector's series: the series' drift joins the flag's problem as its
    collateral, so the ending season still has one problem per fault."""
    season = ending_faults_season(160)
    table = factor_table(season, error=0.0005, seed=1)
    problems = find_problems(table, "NIR_J", detectors=detector_table(season, seed=1))
    assert sorted(p.subject for p in problems) == sorted(s for _, s, *_ in FAULTS.values())
    detector = next(p for p in problems if p.subject == "detector 23")
    assert detector.kind == "detector" and detector.n_collateral > 0
    assert (detector.first_obs, detector.last_obs) == (1030, 1059)


def test_next_state_regresses_only_a_resolved_problem_seen_later():
    assert next_state("resolved", 1040, 1041) == "regressed"
    assert next_state("resolved", 1040, 1040) == "resolved"
    for state in ("open", "acknowledged", "ignored", "regressed"):
        assert next_state(state, 1040, 1100) == state


# ------------------------------------------------------------------ store
@pytest.fixture
def season_table():
    return factor_table(ending_faults_season(160), error=0.0005, seed=1)


def test_problems_keep_their_identity_as_the_season_grows_and_regress(store, season_table):
    first = season_table[season_table["obs_id"] < 1135]
    store.save_results(_results(first))
    counts = store.update_problems(["NIR_J"])
    assert counts["NIR_J"]["opened"] == 5
    before = store.problems("NIR_J").set_index("subject")
    ramp_id = int(before.loc["dither 4", "id"])
    step_id = int(before.loc["dither 2", "id"])
    assert before.loc["dither 4", "ongoing"] and not before.loc["dither 2", "ongoing"]
    store.set_problem_state(step_id, "resolve", "lead", comment="fixed the flat")
    # the next batches: the ramp goes on (same problem, grown); the step comes back on obs 1150-1159
    rest = season_table[season_table["obs_id"] >= 1135].copy()
    back = (rest["exposure"] == 2) & (rest["obs_id"] >= 1140)
    rest.loc[back, "value"] *= 0.995
    store.save_results(_results(rest))
    counts = store.update_problems(["NIR_J"])
    assert counts["NIR_J"]["opened"] == 0 and counts["NIR_J"]["regressed"] == 1 and counts["NIR_J"]["grew"] >= 2
    after = store.problems("NIR_J").set_index("id")
    assert after.loc[ramp_id, "last_obs"] == 1159 and after.loc[ramp_id, "n_exposures"] > before.loc["dither 4",
                                                                                                      "n_exposures"]
    assert after.loc[step_id, "state"] == "regressed" and after.loc[step_id, "last_obs"] == 1159
    events = store.problem_events(step_id)["event"].tolist()
    assert events == ["opened", "resolve", "regressed"]
    # the same data again: nothing changes
    assert store.update_problems(["NIR_J"])["NIR_J"]["unchanged"] == 5


def test_a_recomputation_writes_only_what_changed(store, season_table, tmp_path):
    """After a batch, the problems whose values and exposures are as stored
    are not written again (same ``updated`` time), and of the problems that
    grew only their new exposures are written."""
    from sqlalchemy import event

    store.save_results(_results(season_table[season_table["obs_id"] < 1159]))
    store.update_problems(["NIR_J"])
    before = store.problems("NIR_J").set_index("subject")
    statements: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    store.save_results(_results(season_table[season_table["obs_id"] == 1159]))  # the two drifts go on
    event.listen(store.engine, "before_cursor_execute", record)  # the writer's too: it is an option of it
    counts = store.update_problems(["NIR_J"])
    assert counts["NIR_J"]["grew"] == 2 and counts["NIR_J"]["unchanged"] == 3
    after = store.problems("NIR_J").set_index("subject")
    changed = after.index[after["updated"] != before["updated"]]
    assert sorted(changed) == ["dither 3", "dither 4"]
    grown = sorted(after.loc[changed, "id"].tolist())

    def parameter_sets(prefix: str) -> int:
        return sum(len(parameters) if isinstance(parameters, (list, tuple)) and parameters
                   and isinstance(parameters[0], (list, tuple, dict)) else 1
                   for statement, parameters in statements if statement.lstrip().upper().startswith(prefix))

    # of the exposures, only the new ones are written: nothing deleted, nothing rewritten
    added = int((after.loc[changed, "n_exposures"] - before.loc[changed, "n_exposures"]).sum())
    assert added > 0 and parameter_sets("INSERT INTO PROBLEM_EXPOSURE") == added
    assert parameter_sets("DELETE FROM PROBLEM_EXPOSURE") == 0
    updates = [parameters for statement, parameters in statements
               if statement.lstrip().upper().startswith("UPDATE PROBLEM ")]
    assert len(updates) == 1 and len(updates[0]) == len(grown)  # one statement, a parameter set for each
    # what is stored is what a computation from scratch stores
    from relphot_core.store import Store

    with Store.open(f"sqlite:///{tmp_path / 'scratch.db'}") as scratch:
        scratch.save_results(_results(season_table))
        scratch.update_problems(["NIR_J"])
        fresh = scratch.problems("NIR_J").set_index("subject")
        assert sorted(fresh.index) == sorted(after.index)
        for subject in after.index:
            mine = store.problem_exposures(int(after.loc[subject, "id"]))[["obs_id", "exposure", "role"]]
            theirs = scratch.problem_exposures(int(fresh.loc[subject, "id"]))[["obs_id", "exposure", "role"]]
            pd.testing.assert_frame_equal(mine.reset_index(drop=True), theirs.reset_index(drop=True))


def test_the_store_finds_a_detector_drift_from_its_detector_offsets(store):
    season = FaultSeason(200, (Fault("detector-step", 60, 120, 0, -0.004, detector=32),))
    store.save_results(_results(factor_table(season, error=0.002, seed=4),
                                detector_table(season, error=0.002, seed=4)))
    assert store.update_problems(["NIR_J"])["NIR_J"]["opened"] == 1
    (problem,) = store.problems("NIR_J").itertuples(index=False)
    assert (problem.kind, problem.subject, problem.unit) == ("detector-drift", "detector 32", "mag")
    assert abs(problem.first_obs - 1060) <= 10 and abs(problem.last_obs - 1119) <= 10
    exposures = store.problem_exposures(problem.id)
    assert set(exposures["exposure"]) == {1, 2, 3, 4} and (exposures["role"] == "primary").all()


def test_a_problem_is_reviewed_in_one_batch_and_revoking_restores_the_queue(store, season_table):
    store.save_results(_results(season_table))
    store.update_problems(["NIR_J"])
    queue = store.problems("NIR_J", awaiting=True)
    drift = queue[queue["subject"] == "dither 2"].iloc[0]
    batch = store.review_problem(int(drift["id"]), "confirmed", "alice", cause="flat-field")
    reviews = store.reviews(batch_id=batch)
    assert len(reviews) == drift["n_exposures"]
    assert set(reviews["flag_kind"]) == {"alarm"} and reviews["flag_reason"].str.startswith("drift of dither 2").all()
    assert store.review_batches().set_index("batch_id").loc[batch, "problem_id"] == drift["id"]
    after = store.problems("NIR_J", awaiting=True)
    assert drift["id"] not in after["id"].tolist() and len(after) == len(queue) - 1
    store.revoke_review_batch(batch, "alice")
    restored = store.problems("NIR_J", awaiting=True)
    pd.testing.assert_frame_equal(restored[["id", "n_awaiting"]].reset_index(drop=True),
                                  queue[["id", "n_awaiting"]].reset_index(drop=True))


def test_state_changes_are_checked_and_stale_ones_refused(store, season_table):
    store.save_results(_results(season_table))
    store.update_problems(["NIR_J"])
    problem = store.problems("NIR_J").iloc[0]
    pid, version = int(problem["id"]), int(problem["version"])
    new = store.set_problem_state(pid, "acknowledge", "bob", expected_version=version)
    assert new == version + 1 and store.problem(pid)["state"] == "acknowledged"
    with pytest.raises(StaleProblemError, match="acknowledge by bob"):
        store.set_problem_state(pid, "ignore", "carol", expected_version=version)
    with pytest.raises(ProblemStateError, match="cannot be acknowledged"):
        store.set_problem_state(pid, "acknowledge", "carol")
    with pytest.raises(ProblemStateError, match="action must be one of"):
        store.set_problem_state(pid, "delete", "carol")
    with pytest.raises(KeyError):
        store.set_problem_state(10_000, "resolve", "carol")


def test_a_problem_whose_flags_are_gone_is_not_current_and_comes_back(store):
    values = [[1.0, 1.0, 1.0, 1.0]] * 3 + [[1.0, 0.96, 1.0, 1.0]] + [[1.0, 1.0, 1.0, 1.0]] * 3
    store.save_results([make_result(100 + i, values=v, n_detectors=0, n_sample=0, seed=i)
                        for i, v in enumerate(values)])
    store.update_problems(["NIR_J"])
    (pid,) = store.problems("NIR_J")["id"].tolist()
    # reprocessed: the exposure is fine now
    store.save_result(make_result(103, values=[1.0, 1.0, 1.0, 1.0], n_detectors=0, n_sample=0, seed=99))
    assert store.update_problems(["NIR_J"])["NIR_J"]["gone"] == 1
    assert store.problems("NIR_J").empty and not store.problem(pid)["current"]
    store.save_result(make_result(103, values=[1.0, 0.96, 1.0, 1.0], n_detectors=0, n_sample=0, seed=98))
    assert store.update_problems(["NIR_J"])["NIR_J"]["back"] == 1
    assert store.problems("NIR_J")["id"].tolist() == [pid]


def test_relphot_problems_lists_shows_and_decides(tmp_path, capsys, season_table):
    from relphot_core.store import Store

    url = f"sqlite:///{tmp_path / 'p.db'}"
    with Store.open(url) as store:
        store.save_results(_results(season_table))
    assert main(["problems", "update", "--db", url]) == 0
    assert "NIR_J: 5 new" in capsys.readouterr().out
    assert main(["problems", "update", "--from-start", "--db", url]) == 0  # the same problems, all unchanged
    assert "NIR_J: 0 new, 0 grown, 0 regressed, 0 gone, 0 back, 5 unchanged" in capsys.readouterr().out
    assert main(["problems", "--db", url, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["count"] == 5 and {p["kind"] for p in listed["problems"]} == {"exposure", "detector", "drift"}
    pid = next(p["id"] for p in listed["problems"] if p["subject"] == "dither 2")
    assert main(["problems", "show", str(pid), "--db", url]) == 0
    text = capsys.readouterr().out
    assert "drift of dither 2 since" in text and "ended after obs 1079" in text and "opened" in text
    assert main(["problems", "resolve", str(pid), "--by", "lead", "--comment", "flat fixed", "--db", url]) == 0
    assert f"problem {pid} is resolved" in capsys.readouterr().out
    assert main(["problems", "resolve", str(pid), "--by", "lead", "--db", url]) == 2
    assert "cannot be resolved" in capsys.readouterr().err
    assert main(["problems", "show", "999", "--db", url]) == 2
    assert "no problem 999" in capsys.readouterr().err


def test_the_queue_lists_its_worst_problems_and_says_how_many_there_are(tmp_path):
    """A survey's thousands of small problems: the grid ships the worst
    `QUEUE_ROWS` (not megabytes), the heading counts them all."""
    from dashboard import create_app
    from dashboard.pages import triage
    from relphot_core.store import Store
    from relphot_core.testing.synth import fill_survey

    with Store.open(f"sqlite:///{tmp_path / 'many.db'}") as store:
        fill_survey(store, 2500, seed=3)
        store.update_problems()
        waiting = store.problems(awaiting=True)
        assert len(waiting) > triage.QUEUE_ROWS
        for chosen in ({"awaiting": True}, {"current": None}, {"filter": "NIR_J", "kinds": ["drift", "exposure"]}):
            frame = store.problems(**chosen)
            assert store.problem_summary(**chosen) == {"problems": len(frame),
                                                       "awaiting": int(frame["n_awaiting"].sum()),
                                                       "ongoing": int(frame["ongoing"].sum())}
        app = create_app(store, warm=False)
        with app.server.test_request_context("/triage"):
            page = triage.layout()
    grid = next(c for c in _walk(page) if getattr(c, "id", None) == "triage-table")
    assert [row["id"] for row in grid.rowData] == waiting["id"].head(triage.QUEUE_ROWS).tolist()
    heading = next(c for c in _walk(page) if getattr(c, "id", None) == "triage-count")
    assert heading.children.startswith(f"{len(waiting):,} problems await review")
    assert f"The {triage.QUEUE_ROWS} worst are listed" in heading.children


def _walk(component):
    yield component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list) else [children]:
        if child is not None and hasattr(child, "to_plotly_json"):
            yield from _walk(child)


def test_two_detectors_that_drift_at_once_are_two_problems_reviewed_apart(store):
    """Two detectors that step for good, one after the other, over a dither
    drift and a bad exposure: each fault is a problem; the exposures the
    first detector's drift holds are shared with the second one's (one
    problem id per exposure in the tables), and reviewing one detector's
    problem leaves the other waiting until it is reviewed itself."""
    season = FaultSeason(700, (
        Fault("detector-step", 150, None, 1, +0.004, detector=14),
        Fault("detector-step", 300, None, 1, -0.004, detector=41),
        Fault("step", 400, 430, 2, -0.005),
        Fault("exposure", 500, 501, 3, -0.03),
    ))
    table = factor_table(season, error=0.002, seed=4)
    store.save_results(_results(table, detector_table(season, error=0.002, seed=4)))
    store.update_problems(["NIR_J"])
    problems = store.problems("NIR_J").set_index("subject")
    assert {"detector 14", "detector 41", "dither 2", "obs 1500 dither 3"} <= set(problems.index)
    assert (problems.loc[["detector 14", "detector 41"], "kind"] == "detector-drift").all()
    first, second = (int(problems.loc[s, "id"]) for s in ("detector 14", "detector 41"))
    roles = store.problem_exposures(second)["role"].value_counts().to_dict()
    assert roles.get("shared", 0) > 100 and abs(problems.loc["detector 41", "first_obs"] - 1300) <= 10
    owners = store.exposure_problems("NIR_J")
    assert not owners.duplicated(["obs_id", "exposure"]).any()
    assert first in set(owners["problem_id"]) and second not in set(owners["problem_id"])

    def awaiting() -> dict[int, int]:
        queue = store.problems("NIR_J", awaiting=True)
        return dict(zip(queue["id"].tolist(), queue["n_awaiting"].tolist()))

    before = awaiting()
    batch = store.review_problem(first, "confirmed", "alice", cause="instrument")
    after = awaiting()
    assert first not in after and after[second] == before[second]
    store.review_problem(second, "confirmed", "alice", cause="instrument")
    assert first not in awaiting() and second not in awaiting()
    store.revoke_review_batch(batch, "alice")
    assert first in awaiting() and second not in awaiting()
