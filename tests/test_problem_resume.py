"""Problems computed from the tail of a season (relphot_core.qc.resume):
night after night, on a season whose faults start and end, several at
once, with a flagged detector and a detector drift, the problems computed
from each night's tail are those a computation from the first night gives
(the same problems, spans, sizes, exposures and roles)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from relphot_core.qc.resume import Margins, common_start, quiet_rows
from relphot_core.simulate.faults import Fault, FaultSeason, detector_table, factor_table
from relphot_core.store import Store
from relphot_core.store.models import ProblemChart

from season_results import season_results
from store_fixtures import store, store_url  # noqa: F401  (fixtures)

SEASON = FaultSeason(1100, (
    Fault("exposure", 150, 151, 1, -0.03),
    Fault("step", 250, 270, 1, -0.005),
    Fault("exposure", 640, 641, 3, -0.03),
    Fault("detector", 660, 690, 2, -0.03, detector=23),
    Fault("step", 720, 740, 2, -0.005),
    Fault("detector-step", 780, 840, 4, -0.004, detector=32),
    Fault("step", 900, None, 3, +0.005),
    Fault("ramp", 980, None, 4, -0.001),
    Fault("detector-step", 300, None, 1, +0.004, detector=14),   # never ends: its chart starts again inside it
    Fault("detector-step", 420, None, 1, -0.002, detector=41),
))
FIRST_NIGHT = 620
NIGHT = 40


def _problems(store: Store) -> dict[str, dict[str, object]]:
    out = {}
    frame = store.problems("NIR_J", current=None)
    for row in frame.to_dict("records"):
        members = store.problem_exposures(int(row["id"]))
        out[f"{row['kind']}|{row['subject']}"] = {
            **{k: row[k] for k in ("first_obs", "last_obs", "n_exposures", "n_collateral", "reason", "ongoing",
                                   "current", "state", "worst_status")},
            **{k: round(float(row[k]), 9) if pd.notna(row[k]) else None for k in ("size", "size_error", "slope")},
            "exposures": sorted(zip(members["obs_id"].tolist(), members["exposure"].tolist(),
                                    members["role"].tolist()))}
    return out


def _carried(store: Store) -> dict[str, dict[str, float]]:
    with store.engine.connect() as conn:
        row = conn.execute(select(ProblemChart.__table__.c.detector_carried)
                           .where(ProblemChart.__table__.c.filter == "NIR_J")).first()
    return {} if row is None else json.loads(row[0])


def _chart_since(store: Store) -> float | None:
    with store.engine.connect() as conn:
        row = conn.execute(select(ProblemChart.__table__.c.exposure_since)
                           .where(ProblemChart.__table__.c.filter == "NIR_J")).first()
    return None if row is None else row[0]


@pytest.mark.parametrize(("error", "seed"), [(0.002, 1), (0.002, 5), (0.001, 2)])
def test_problems_from_the_tail_are_those_from_the_first_night(tmp_path, error, seed):
    with Store.open(f"sqlite:///{tmp_path / 'tail.db'}") as tail:
        _night_after_night(tmp_path, tail, error, seed)


def test_the_tail_computation_on_each_database(tmp_path, store):
    _night_after_night(tmp_path, store, 0.002, 3)


def _night_after_night(tmp_path, tail: Store, error: float, seed: int) -> None:
    table = factor_table(SEASON, error=error, seed=seed)
    detectors = detector_table(SEASON, error=error, seed=seed)
    obs_ids = sorted(table["obs_id"].unique())
    with Store.open(f"sqlite:///{tmp_path / 'whole.db'}") as whole:
        resumed = 0
        carried: dict[str, dict[str, float]] = {}
        cut = FIRST_NIGHT
        batches = [obs_ids[:cut]] + [obs_ids[i:i + NIGHT] for i in range(cut, len(obs_ids), NIGHT)]
        for night, batch in enumerate(batches):
            rows = table[table["obs_id"].isin(batch)]
            details = detectors[detectors["obs_id"].isin(batch)]
            for store in (tail, whole):
                store.save_results(season_results(rows, details))
            since = _chart_since(tail)
            tail.update_problems(["NIR_J"])
            whole.update_problems(["NIR_J"], from_start=True)
            resumed += bool(night and since is not None)
            assert _problems(tail) == _problems(whole), f"night {night}"
            carried.update(_carried(tail))
        assert resumed == len(batches) - 1
        # the detectors that step for good are read from inside their drifts, not from before them
        assert "14" in set(carried)
        assert all(c["warm_since"] > SEASON.mjd(400) and c["start_mjd"] < c["warm_since"] for c in carried.values())
        # the last nights start after the first faults (the faults around obs 660-740 and the drifts that go
        # on from obs 900 hold the start before them)
        assert SEASON.mjd(500) < _chart_since(tail) < SEASON.mjd(900)
        found = {key.split("|")[0] + "|" + key.split("|")[1] for key in _problems(tail)}
        # every fault, the detectors that drift at once too (they share exposures), and the bad exposures
        # under the detector drifts
        assert {"drift|dither 1", "drift|dither 2", "drift|dither 3", "drift|dither 4", "detector|detector 23",
                "detector-drift|detector 14", "detector-drift|detector 32", "detector-drift|detector 41",
                "exposure|obs 1150 dither 1", "exposure|obs 1640 dither 3"} <= found


def test_a_reprocessed_observation_computes_the_filter_from_its_first_night(tmp_path):
    table = factor_table(SEASON, error=0.002, seed=3)
    early = table[table["obs_id"] < SEASON.first_obs_id + 700]
    with Store.open(f"sqlite:///{tmp_path / 's.db'}") as store:
        store.save_results(season_results(early))
        store.update_problems(["NIR_J"])
        assert _chart_since(store) is not None
        # observation 1100 again (an early one): its new run changes what the tail cannot see
        again = early[early["obs_id"] == SEASON.first_obs_id + 100].copy()
        again.loc[again["exposure"] == 2, "value"] *= 0.97
        (result,) = season_results(again)
        result.input_digest = "reprocessed"  # another run of the same observation
        assert store.save_results([result]) != [None]
        store.update_problems(["NIR_J"])
        subjects = set(store.problems("NIR_J")["subject"])
        assert "obs 1100 dither 2" in subjects  # found: the filter was computed from its first night


def test_quiet_rows_and_common_start():
    margins = Margins(before=5, after=10, keep=20)
    drift = np.zeros(100, dtype=bool)
    drift[40:50] = True
    ok = quiet_rows(drift, margins)
    assert not ok[30:55].any() and ok[29] and ok[55] and ok[79] and not ok[80]
    t = np.arange(100.0)
    late = np.zeros(100, dtype=bool)
    late[76:78] = True  # quiet up to 65 (and from 88, too close to the end)
    assert common_start({1: t, 2: t + 0.1}, {1: ok, 2: quiet_rows(late, margins)}) == pytest.approx(65.1)
    # the first row of series 1 after 65.1 is in its drift's margin: back to its latest quiet row before
    early = np.zeros(100, dtype=bool)
    early[60:65] = True
    assert common_start({1: t, 2: t + 0.1}, {1: quiet_rows(early, margins), 2: quiet_rows(late, margins)}) == 49.0
    assert common_start({1: t}, {1: np.zeros(100, dtype=bool)}) is None
