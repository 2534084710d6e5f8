"""`relphot compute` end to end on simulated observations, and every bad input."""
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from relphot_core.cli import main
from relphot_core.simulate import simulate_observation, write_observation

FAINT_3PC = -2.5 * math.log10(0.97)


def _compute_json(capsys, *args):
    code = main(["compute", "--json", "-", "-q", *map(str, args)])
    out = capsys.readouterr()
    return code, (json.loads(out.out) if out.out.strip() else None), out.err


@pytest.fixture(scope="module")
def full_size(tmp_path_factory):
    """A full-density observation: one exposure 3% faint, detector 23 of
    exposure 3 5% faint."""
    sim = simulate_observation(4242, "NIR_J", n_exposures=4, sources_per_detector=3500, seed=11,
                               exposure_offsets={2: FAINT_3PC},
                               detector_offsets={(3, 23): -2.5 * math.log10(0.95)})
    return write_observation(sim, tmp_path_factory.mktemp("full"), fmt="ldac")


@pytest.mark.slow
def test_full_size_recovery(full_size, capsys):
    code, rows, err = _compute_json(capsys, *full_size)
    assert code == 0, err
    by_dither = {row["exposure"]: row for row in rows}
    assert by_dither[2]["value"] == pytest.approx(0.97, abs=0.002)
    assert by_dither[2]["status"] == "FAIL"
    for d in (1, 3, 4):
        assert by_dither[d]["value"] == pytest.approx(1.0, abs=0.002)
        assert by_dither[d]["status"] == "OK"
    for row in rows:
        assert {"obs_id", "filter", "exposure", "value", "error", "status", "n_pairs", "n_matched"} <= set(row)
        assert row["obs_id"] == 4242 and row["filter"] == "NIR_J" and row["n_pairs"] == 3
        assert row["n_matched"] > 50_000


@pytest.mark.slow
def test_full_size_bad_detector_shows_in_detector_statistics(full_size):
    from relphot_core.catalogs import read_catalog
    from relphot_core.factors import compute_observation

    result = compute_observation([read_catalog(p) for p in full_size])
    stats = {(d.exposure, d.detector): d for d in result.detectors}
    assert stats[(3, 23)].median == pytest.approx(-2.5 * math.log10(0.95), abs=0.004)
    assert result.exposure(3).status != "FAIL"
    assert result.exposure(3).value == pytest.approx(1.0, abs=0.004)
    others = [s.median for key, s in stats.items() if key != (3, 23) and key[0] != 2]
    assert np.max(np.abs(others)) < 0.01


@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_k_exposures_through_the_cli(k, tmp_path, capsys):
    sim = simulate_observation(7, "NIR_Y", n_exposures=k, sources_per_detector=300, seed=k,
                               exposure_offsets={1: FAINT_3PC})
    code, rows, err = _compute_json(capsys, *write_observation(sim, tmp_path))
    assert code == 0, err
    assert [r["exposure"] for r in rows] == list(range(1, k + 1))
    assert rows[0]["value"] == pytest.approx(0.97, abs=0.004)
    assert all(r["n_pairs"] == k - 1 for r in rows)


@pytest.mark.parametrize("fmt", ["plain", "plain-single"])
def test_plain_layouts_and_global_method(fmt, tmp_path, capsys):
    sim = simulate_observation(8, "NIR_H", sources_per_detector=300, seed=1, exposure_offsets={4: FAINT_3PC})
    code, rows, err = _compute_json(capsys, *write_observation(sim, tmp_path, fmt=fmt), "--method", "global")
    assert code == 0, err
    values = {r["exposure"]: r["value"] for r in rows}
    assert values[4] / values[1] == pytest.approx(0.97, abs=0.004)
    assert all(r["method"] == "global" for r in rows)


def test_json_file_and_summary_table(tmp_path, capsys):
    sim = simulate_observation(9, "NIR_J", sources_per_detector=200, seed=2)
    out = tmp_path / "factors.json"
    code = main(["compute", "--json", str(out), *map(str, write_observation(sim, tmp_path))])
    assert code == 0
    assert len(json.loads(out.read_text())) == 4
    table = capsys.readouterr().out
    assert "QPRELEX" in table and table.count(" OK ") == 4


def test_config_file_and_thresholds(tmp_path, capsys):
    sim = simulate_observation(10, "NIR_J", sources_per_detector=300, seed=3, exposure_offsets={2: FAINT_3PC})
    config = tmp_path / "relphot.toml"
    config.write_text("[thresholds]\nfail = 0.05\nwarn = 0.01\n")
    code, rows, _ = _compute_json(capsys, *write_observation(sim, tmp_path), "--config", config)
    assert code == 0 and rows[1]["status"] == "WARN"


def test_missing_exposure_and_partial_overlap(tmp_path, capsys):
    sim = simulate_observation(11, "NIR_J", sources_per_detector=300, seed=4, missing={3}, partial={4: 0.5})
    code, rows, _ = _compute_json(capsys, *write_observation(sim, tmp_path))
    assert code == 0
    assert [r["exposure"] for r in rows] == [1, 2, 4]
    assert rows[2]["status"] == "OK" and rows[2]["n_matched"] < rows[0]["n_matched"]


# --- bad input: one line naming the file and the problem; the other sets go on,
# exit 1 (--strict: nothing stored, exit 2) ----------------------------------

@pytest.fixture(scope="module")
def small(tmp_path_factory):
    sim = simulate_observation(12, "NIR_J", sources_per_detector=100, seed=5)
    return write_observation(sim, tmp_path_factory.mktemp("small"))


def _error_lines(capsys, *args):
    """Exit code, the error lines, and the closing count line (if any)."""
    code = main(["compute", "-q", *map(str, args)])
    lines = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in lines if line.startswith("relphot compute: error: ")]
    return code, errors, [line for line in lines if "failure(s)" in line]


def test_error_not_fits(small, tmp_path, capsys):
    bad = tmp_path / "junk.fits"
    bad.write_text("hello")
    code, err, count = _error_lines(capsys, bad, *small)
    assert code == 1
    assert err == [f"relphot compute: error: {bad}: not a FITS file (no SIMPLE card at the start)"]
    assert count == ["relphot compute: 1 failure(s): 1 unreadable catalogue"]
    code, err, _ = _error_lines(capsys, bad, *small, "--strict")
    assert code == 2 and err == [f"relphot compute: error: {bad}: not a FITS file (no SIMPLE card at the start)"]


def test_error_truncated(small, tmp_path, capsys):
    cut = tmp_path / "cut.fits"
    cut.write_bytes(small[0].read_bytes()[:-3000])
    code, err, _ = _error_lines(capsys, cut, *small[1:])
    assert code == 1 and len(err) == 1
    assert err[0].startswith(f"relphot compute: error: {cut}: file truncated: HDU ")
    assert err[0].endswith("(observation 12 NIR_J)")


def test_error_missing_column(small, capsys):
    code, err, _ = _error_lines(capsys, *small, "--flux-column", "FLUX_APER")
    assert code == 1 and len(err) == 1  # the set fails at its first catalogue
    assert err[0] == (f"relphot compute: error: {small[0]}: HDU LDAC_OBJECTS lacks column(s) FLUX_APER "
                      "(observation 12 NIR_J)")


def test_error_same_dither_twice(small, tmp_path, capsys):
    copy = tmp_path / "copy_of_dither_1.cat.fits"
    copy.write_bytes(small[0].read_bytes())
    code, err, _ = _error_lines(capsys, small[0], copy, *small[1:])
    assert code == 1
    first, second = sorted([str(small[0]), str(copy)])
    assert err == [f"relphot compute: error: {second}: claims dither 1 of observation 12 NIR_J, "
                   f"already given by {first}; the set is not computed (observation 12 NIR_J)"]
    # the same file named twice is read once
    code, _, _ = _error_lines(capsys, small[0], *small)
    assert code == 0


def test_error_mixed_filters(small, tmp_path, capsys):
    other = write_observation(simulate_observation(12, "NIR_H", sources_per_detector=100, seed=5), tmp_path)
    code, err, _ = _error_lines(capsys, *small[:3], other[3])
    assert code == 1
    assert err == [f"relphot compute: error: {other[3]}: is the only exposure of observation 12 NIR_H given: "
                   "stored as NODATA (were the other dithers' catalogues left out?) (observation 12 NIR_H)"]
    code, err, _ = _error_lines(capsys, *small[:3], other[3], "--strict")
    assert code == 2 and len(err) == 1


def test_bad_fluxes_and_empty_catalogue_give_nodata_not_a_value(small, tmp_path, capsys):
    from astropy.io import fits

    broken = tmp_path / "broken.fits"
    with fits.open(small[1]) as hdul:
        for hdu in hdul:
            if hdu.name == "LDAC_OBJECTS":
                flux = hdu.data["FLUX_AUTO"]
                flux[0::3], flux[1::3], flux[2::3] = np.nan, 0.0, -5.0
        hdul.writeto(broken)
    code, rows, err = _compute_json(capsys, small[0], broken, small[2], small[3])
    assert code == 0
    assert rows[1]["status"] == "NODATA" and rows[1]["value"] is None and rows[1]["error"] is None
    assert f"{broken}: NODATA: no reliable source in the catalogue" in err
    assert rows[0]["status"] == "OK"


def test_exposures_that_do_not_overlap(tmp_path, capsys):
    a = simulate_observation(13, "NIR_J", n_exposures=2, sources_per_detector=100, seed=6, ra=10.0)
    b = simulate_observation(13, "NIR_J", n_exposures=2, sources_per_detector=100, seed=6, ra=40.0)
    paths = [write_observation(a, tmp_path / "a")[0], write_observation(b, tmp_path / "b")[1]]
    code, rows, _err = _compute_json(capsys, *paths)
    assert code == 0
    assert [r["status"] for r in rows] == ["NODATA", "NODATA"]
    assert "the exposures may not overlap" in rows[0]["reason"]
    assert all(r["value"] is None for r in rows)


def test_bad_configuration_file(small, tmp_path, capsys):
    config = tmp_path / "bad.toml"
    config.write_text("[thresholds]\nfial = 0.02\n")
    code, err, _ = _error_lines(capsys, *small, "--config", config)
    assert code == 2 and err == [f"relphot compute: error: {config}: unknown option thresholds.fial"]


def test_console_script_runs_and_fails_cleanly(tmp_path):
    done = subprocess.run([sys.executable, "-m", "relphot_core.cli", "compute", str(tmp_path / "none.fits")],
                          capture_output=True, text=True)
    assert done.returncode == 1
    lines = [line for line in done.stderr.strip().splitlines() if "scanned" not in line]
    assert lines == [f"relphot compute: error: {tmp_path / 'none.fits'}: no such file",
                                                "relphot compute: 1 failure(s): 1 unreadable catalogue"]
    assert "Traceback" not in done.stderr


def test_db_runs_pin_and_unpin(small, tmp_path, capsys):
    db = str(tmp_path / "runs.db")
    assert main(["compute", "-q", *map(str, small), "--db", db]) == 0
    assert main(["compute", "-q", *map(str, small), "--db", db, "--clip-sigma", "2.5"]) == 0
    capsys.readouterr()
    assert main(["db", "runs", "12", "NIR_J", "--db", db]) == 0
    lines = capsys.readouterr().out.strip().splitlines()[1:]
    assert len(lines) == 2 and lines[1].rstrip().endswith("current") and "current" not in lines[0]
    first = lines[0].split()[0]
    assert main(["db", "pin", first, "--db", db]) == 0
    assert main(["db", "runs", "12", "NIR_J", "--db", db]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-2].split()[0] == first and out[-2].rstrip().endswith("current, pinned")
    assert main(["db", "unpin", "12", "NIR_J", "--db", db]) == 0
    assert main(["db", "runs", "12", "NIR_J", "--db", db]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].rstrip().endswith("current")
    assert main(["db", "pin", "999", "--db", db]) == 2
    assert capsys.readouterr().err.strip() == f"relphot db: error: sqlite:///{db}: no run 999"
    assert main(["db", "runs", "13", "NIR_J", "--db", db]) == 2
    assert capsys.readouterr().err.strip() == f"relphot db: error: sqlite:///{db}: no observation 13 NIR_J"
