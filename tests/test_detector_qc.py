"""Per-(filter, detector) control charts and the per-detector summary
(relphot_core.detector_qc), and the store's detector table."""
from __future__ import annotations

import re

import numpy as np
import pytest

from relphot_core.config import DETECTORS, Control, Detectors
from relphot_core.control import DRIFT, OUTSIDE_LIMITS
from relphot_core.detector_qc import detector_summary
from relphot_core.qc import detector_alarms, reference_pull_width
from relphot_core.store import Store
from relphot_core.store.detectors import DETECTOR_COLUMNS
from relphot_core.testing.synth import fill_detector_stats, make_result

from store_fixtures import store, store_url  # noqa: F401  (fixtures)


def season(n_exposures: int = 300, seed: int = 0, noise: float = 0.002):
    """Every detector of one filter, rows in time order (detectors interleaved)."""
    rng = np.random.default_rng(seed)
    detector = np.tile(np.array(DETECTORS), n_exposures)
    exposure_index = np.repeat(np.arange(n_exposures), len(DETECTORS))
    mjd = 60000.0 + exposure_index * 0.5
    obs_id = 1000 + exposure_index // 4
    error = np.full(detector.size, noise)
    offset = rng.normal(0.0, noise, detector.size)
    return obs_id, detector, mjd, offset, error, exposure_index


def test_a_two_percent_step_of_one_detector_is_its_drift_and_named():
    obs_id, detector, mjd, offset, error, index = season()
    step = (detector == 23) & (index >= 200)
    offset[step] += 0.02
    found = detector_alarms(obs_id, detector, mjd, offset, error)
    alarmed = found.alarm != ""
    assert set(detector[alarmed].tolist()) == {23}
    rows = np.flatnonzero(step)
    assert (found.alarm[rows[3:]] != "").all()  # the CUSUM's floor: 3 points at most
    assert (found.alarm[rows[10:]] == DRIFT).all()
    assert not alarmed[(detector == 23) & (index < 200)].any()
    reason = found.reason[rows[10]]
    assert reason.startswith("drift of detector 23 since ")
    assert re.search(r": now \+(1[5-9]|2[0-5])\.\d ± \d\.\d mmag", reason)
    # the change point (CUSUM estimate): within two exposures of the step
    start_obs = int(re.search(r"\(obs (\d+)\)", reason).group(1))
    assert abs(start_obs - obs_id[rows[0]]) <= 1
    assert abs(found.drift_since[rows[10]] - mjd[rows[0]]) <= 1.0
    assert 0.8 < found.scale < 1.2  # the other detectors keep the width calibrated


def test_noise_gives_no_alarm():
    obs_id, detector, mjd, offset, error, _ = season(seed=5)
    found = detector_alarms(obs_id, detector, mjd, offset, error)
    assert (found.alarm == "").all() and (found.reason == "").all()
    assert np.isnan(found.drift_since).all()


def test_one_wild_offset_is_outside_control_limits():
    obs_id, detector, mjd, offset, error, index = season(seed=2)
    wild = np.flatnonzero((detector == 41) & (index == 250))[0]
    offset[wild] = 0.03
    found = detector_alarms(obs_id, detector, mjd, offset, error)
    assert found.alarm[wild] == OUTSIDE_LIMITS
    assert "detector 41" in found.reason[wild] and "+30.0 mmag" in found.reason[wild]
    assert (found.alarm != "").sum() == 1


def test_nan_rows_and_short_series():
    obs_id, detector, mjd, offset, error, index = season(seed=4)
    offset[::7] = np.nan
    error[3::11] = np.nan
    offset[(detector == 44) & (index == 150)] = 0.04
    found = detector_alarms(obs_id, detector, mjd, offset, error)
    assert len(found.alarm) == offset.size
    missing = np.isnan(offset) | np.isnan(error)
    assert (found.alarm[missing] == "").all()
    assert found.alarm[(detector == 44) & (index == 150)][0] == OUTSIDE_LIMITS
    assert (found.alarm != "").sum() <= 2  # noise: ~1e-4 false alarms per point
    # too short to know the width: no alarm, even for a big offset
    short = detector_alarms([1, 1, 2], [23, 23, 23], [60000.0, 60000.1, 60001.0], [0.0, 0.05, np.nan],
                            [0.002, 0.002, 0.002])
    assert short.alarm.tolist() == ["", "", ""]
    empty = detector_alarms([], [], [], [], [])
    assert empty.alarm.size == 0 and empty.scale == 1.0
    assert reference_pull_width([np.nan], [0.1], [1], 10) == 1.0


def test_control_parameters_are_used():
    obs_id, detector, mjd, offset, error, index = season(seed=6)
    offset[(detector == 32) & (index == 100)] = 0.007  # 3.5 sigma
    assert (detector_alarms(obs_id, detector, mjd, offset, error).alarm == "").all()
    strict = detector_alarms(obs_id, detector, mjd, offset, error, Control(outlier_nsigma=3.0, cusum_h=30))
    assert OUTSIDE_LIMITS in set(strict.alarm[detector == 32].tolist())


def test_summary_of_a_bad_detector():
    _obs_id, detector, _mjd, offset, error, index = season(seed=7)
    offset[detector == 23] += 0.02
    n = np.full(offset.size, 100)
    flagged = (detector == 23) & (index % 2 == 0)
    summary = detector_summary(detector, offset, error, n, flagged)
    assert summary["detector"].tolist() == list(DETECTORS)
    bad = summary.set_index("detector").loc[23]
    assert bad["status"] == "FAIL" and bad["median_mmag"] == pytest.approx(20, abs=0.5)
    # robust standard error of the median: 1.2533 * sigma / sqrt(n)
    assert bad["error_mmag"] == pytest.approx(1.2533 * 2 / np.sqrt(300), rel=0.25)
    assert bad["count"] == 300 and bad["flagged"] == 150
    others = summary[summary["detector"] != 23]
    assert (others["status"] == "OK").all() and (others["flagged"] == 0).all()
    # a detector without offsets is NODATA; one offset keeps its own error
    alone = detector_summary([11], [0.001], [0.004], [50], [False], Detectors())
    assert alone.set_index("detector").loc[11, "error_mmag"] == pytest.approx(4.0)
    assert alone.set_index("detector").loc[12, "status"] == "NODATA"


def test_store_detector_table(tmp_path):
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    store.save_result(make_result(1, "NIR_J", values=[1.0, 0.98, None, 1.0], mjd_start=60010.0, seed=1))
    store.save_result(make_result(2, "NIR_J", mjd_start=60000.0, seed=2))
    store.save_result(make_result(2, "NIR_H", mjd_start=60000.0, seed=3))
    table = store.detector_table("NIR_J")
    assert list(table.columns) == list(DETECTOR_COLUMNS)
    assert len(table) == 2 * 4 * 16
    # ordered by detector then time: each detector's series contiguous and in time order
    assert (np.diff(table["detector"].to_numpy().astype(int)) >= 0).all()
    first = table[table["detector"] == 11]
    assert first["obs_id"].tolist()[:4] == [2, 2, 2, 2] and (np.diff(first["mjd_obs"]) >= 0).all()
    result = store.load_result(1, "NIR_J")
    stat = next(d for d in result.detectors if d.exposure == 2 and d.detector == 23)
    exposure = next(e for e in result.exposures if e.exposure == 2)
    row = table[(table["obs_id"] == 1) & (table["exposure"] == 2) & (table["detector"] == 23)].iloc[0]
    assert row["offset"] == pytest.approx(stat.median - exposure.mag_offset)
    assert row["error"] == pytest.approx(stat.error) and row["n"] == stat.n
    assert row["mjd_obs"] == pytest.approx(exposure.mjd_obs)
    # NODATA exposure (no mag_offset): NaN offset, the error kept
    nodata = table[(table["obs_id"] == 1) & (table["exposure"] == 3)]
    assert len(nodata) == 16 and nodata["offset"].isna().all() and nodata["error"].notna().all()
    assert store.detector_table("NIR_Y").empty
    assert list(store.detector_table("NIR_Y").columns) == list(DETECTOR_COLUMNS)
    # recomputing replaces: only the current run's rows
    store.save_result(make_result(1, "NIR_J", mjd_start=60010.0, seed=9, input_digest="again"))
    assert len(store.detector_table("NIR_J")) == 2 * 4 * 16


def test_fill_detector_stats_adds_rows_with_statuses(tmp_path):
    from relphot_core.testing.synth import fill_survey

    store = Store.open(f"sqlite:///{tmp_path / 'f.db'}")
    fill_survey(store, 60, seed=1)
    written = fill_detector_stats(store, seed=1, bad=("NIR_J", 23, 0.03, 0.0, 0.5), step=None)
    assert written == 60 * 3 * 4 * 16
    assert fill_detector_stats(store) == 0  # only exposures without detector rows
    table = store.detector_table("NIR_J")
    assert len(table) == 60 * 4 * 16
    bad = table[table["detector"] == 23]
    assert (bad["status"] == "FAIL").sum() > 50
    assert set(table.loc[table["detector"] != 23, "status"].astype(str)) <= {"OK", "NODATA", "WARN"}


def test_detector_table_with_survey_sized_run_ids(store):
    """Run ids of a survey (> 65,536) overflow a 32-bit integer once packed
    with the dither, detector and status: the key is computed in 64 bits
    (PostgreSQL's INTEGER arithmetic raised "integer out of range")."""
    from sqlalchemy import text

    with store.engine.begin() as conn:
        if store.engine.dialect.name == "postgresql":
            conn.execute(text("ALTER SEQUENCE processing_run_id_seq RESTART WITH 3000000"))
        else:  # the next rowid follows the largest
            store_run_id = 2_999_999
            conn.execute(text("INSERT INTO observation (id, obs_id, filter) VALUES (999999, 999999, 'NIR_Y')"))
            conn.execute(text("INSERT INTO processing_run (id, observation_id, created, software_version, method, "
                              "parameters, input_digest, params_digest, imported, pinned) VALUES "
                              f"({store_run_id}, 999999, '2026-01-01', 'x', 'median', '{{}}', 'x', 'x', 0, 0)"))
    store.save_result(make_result(7, "NIR_J", mjd_start=60000.0, seed=7))
    table = store.detector_table("NIR_J")
    assert len(table) == 4 * 16 and set(table["obs_id"]) == {7}
    assert store.detector_table("NIR_J", since={23: 59999.0})["detector"].unique().tolist() == [23]
