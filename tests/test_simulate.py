"""Tests of the simulator (relphot_core.simulate) and `relphot simulate`."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from relphot_core.cli import main
from relphot_core.config import DETECTORS
from relphot_core.errors import ConfigError
from relphot_core.simulate import (
    CATALOG_DTYPE,
    NoiseModel,
    deproject,
    dither_offsets,
    expected_factors,
    locate,
    project,
    simulate_observation,
    simulate_season,
    write_observation,
)
from relphot_core.simulate import geometry as geo

COLUMNS = list(CATALOG_DTYPE.names)
FORMATS = {"NUMBER": "J", "ALPHA_J2000": "D", "DELTA_J2000": "D", "X_IMAGE": "E", "Y_IMAGE": "E",
           "FLUX_AUTO": "E", "FLUXERR_AUTO": "E", "MAG_AUTO": "E", "MAGERR_AUTO": "E", "FLAGS": "I",
           "CLASS_STAR": "E", "XWIN_IMAGE": "D", "YWIN_IMAGE": "D", "ERRAWIN_IMAGE": "E", "ERRBWIN_IMAGE": "E",
           "ERRTHETAWIN_IMAGE": "E"}
PRIMARY_TYPES = {"OBS_ID": int, "FILTER": str, "DITHOBS": int, "EXPNUM": int, "PTGID": int, "TOTEXP": int,
                 "MJD-OBS": float, "DATE-OBS": str, "EXPTIME": float, "RA_PNT": float, "DEC_PNT": float,
                 "PA_PNT": float, "TELESCOP": str, "INSTRUME": str}
FACTOR_097 = -2.5 * math.log10(0.97)


@pytest.fixture(scope="module")
def small():
    """A small observation with every kind of fault but a missing exposure."""
    return simulate_observation(4321, "NIR_J", sources_per_detector=60, seed=3, ra=10.0, dec=-30.0, pa=30.0,
                                exposure_offsets={2: FACTOR_097}, detector_offsets={(3, 23): 0.05},
                                variable_fraction=0.05, spurious_fraction=0.05)


def _by_source(exposure):
    """{source_id: (detector, truth row, catalogue row)} of the real sources of an exposure."""
    out = {}
    for det, tru in exposure.truth.items():
        for i in np.flatnonzero(tru["SOURCE_ID"] >= 0):
            out[int(tru["SOURCE_ID"][i])] = (det, tru[i], exposure.catalogs[det][i])
    return out


def _separation_arcsec(ra1, dec1, ra2, dec2):
    v1 = np.stack([np.cos(np.radians(dec1)) * np.cos(np.radians(ra1)),
                   np.cos(np.radians(dec1)) * np.sin(np.radians(ra1)), np.sin(np.radians(dec1))])
    v2 = np.stack([np.cos(np.radians(dec2)) * np.cos(np.radians(ra2)),
                   np.cos(np.radians(dec2)) * np.sin(np.radians(ra2)), np.sin(np.radians(dec2))])
    return np.degrees(2 * np.arcsin(np.linalg.norm(v1 - v2, axis=0) / 2)) * 3600


# --- reproducibility ---------------------------------------------------------------------------------

def test_same_seed_gives_identical_files_other_seed_differs(tmp_path):
    kwargs = dict(sources_per_detector=20, exposure_offsets={2: 0.02}, missing={4})
    paths_a = write_observation(simulate_observation(7, "NIR_H", seed=11, **kwargs), tmp_path / "a")
    paths_b = write_observation(simulate_observation(7, "NIR_H", seed=11, **kwargs), tmp_path / "b")
    other = simulate_observation(7, "NIR_H", seed=12, **kwargs)
    assert [p.name for p in paths_a] == [p.name for p in paths_b] == [
        "000007_NIR_H_D1.cat.fits", "000007_NIR_H_D2.cat.fits", "000007_NIR_H_D3.cat.fits"]
    for a, b in zip(paths_a, paths_b):
        assert a.read_bytes() == b.read_bytes()
    truth = "000007_NIR_H_truth.json"
    assert (tmp_path / "a" / truth).read_bytes() == (tmp_path / "b" / truth).read_bytes()
    with fits.open(paths_a[0]) as hdul:
        assert not np.array_equal(hdul[2].data["FLUX_AUTO"], other.exposures[1].catalogs[11]["FLUX_AUTO"])
    assert not list(tmp_path.glob("*/.*tmp"))  # no temporary file left behind


def test_filters_of_one_observation_share_the_sky():
    j = simulate_observation(5, "NIR_J", sources_per_detector=20, seed=1)
    h = simulate_observation(5, "NIR_H", sources_per_detector=20, seed=1)
    np.testing.assert_array_equal(j.population.u, h.population.u)
    assert not np.array_equal(j.population.mag("NIR_J"), h.population.mag("NIR_H"))


# --- file formats ------------------------------------------------------------------------------------

def _check_primary(header, dither, obs_id=4321, band="NIR_J"):
    for key, kind in PRIMARY_TYPES.items():
        assert isinstance(header[key], kind), key
    assert header["OBS_ID"] == obs_id and header["FILTER"] == band and header["DITHOBS"] == dither
    assert header["TOTEXP"] == 4 and header["EXPTIME"] == 87.2
    assert header["TELESCOP"] == "EUCLID" and header["INSTRUME"] == "NISP"
    assert len(header["DATE-OBS"]) == 23 and header["DATE-OBS"][10] == "T"


def _check_columns(table_hdu, extra=()):
    names = table_hdu.columns.names
    assert names == COLUMNS + list(extra)
    for name in COLUMNS:
        assert table_hdu.columns[name].format == FORMATS[name]
    data = table_hdu.data
    positive = data["FLUX_AUTO"] > 0
    np.testing.assert_allclose(data["MAG_AUTO"][positive], 30 - 2.5 * np.log10(data["FLUX_AUTO"][positive]),
                               atol=1e-4)
    assert np.all(data["MAG_AUTO"][~positive] == 99)


def test_ldac_format(small, tmp_path):
    paths = write_observation(small, tmp_path, fmt="ldac")
    assert [p.name for p in paths] == [f"004321_NIR_J_D{d}.cat.fits" for d in (1, 2, 3, 4)]
    with fits.open(paths[2]) as hdul:
        assert len(hdul) == 1 + 2 * 16
        assert hdul[0].data is None
        _check_primary(hdul[0].header, 3)
        for k, det in enumerate(DETECTORS):
            imhead, objects = hdul[1 + 2 * k], hdul[2 + 2 * k]
            assert imhead.header["EXTNAME"] == "LDAC_IMHEAD" and objects.header["EXTNAME"] == "LDAC_OBJECTS"
            assert imhead.columns.names == ["Field Header Card"] and len(imhead.data) == 1
            text = imhead.data["Field Header Card"][0]
            width = int(imhead.columns[0].format[:-1])  # '<80*ncards>A'; astropy strips trailing blanks
            assert imhead.columns[0].format.endswith("A") and width % 80 == 0 and width - 80 < len(text) <= width
            assert text.endswith("END")
            image = fits.Header.fromstring(text)
            assert image["EXTNAME"] == f"DET{det}.SCI" and image["DETECTOR"] == det
            assert isinstance(image["DETECTOR"], int)
            for key in ("OBS_ID", "FILTER", "DITHOBS", "MJD-OBS", "DATE-OBS", "EXPTIME", "RA_PNT"):
                assert image[key] == hdul[0].header[key]
            _check_columns(objects)
            np.testing.assert_array_equal(objects.data["NUMBER"], np.arange(1, len(objects.data) + 1))
            assert np.all((objects.data["X_IMAGE"] >= 0.5) & (objects.data["X_IMAGE"] <= 2040.5))
            if det == 23:  # the detector's WCS maps pixels onto the catalogue's sky positions
                ra, dec = WCS(image).all_pix2world(objects.data["X_IMAGE"], objects.data["Y_IMAGE"], 1)
                sep = _separation_arcsec(ra, dec, objects.data["ALPHA_J2000"], objects.data["DELTA_J2000"])
                assert sep.max() < 1e-3
    assert json.loads((tmp_path / "004321_NIR_J_truth.json").read_text())["format"] == "ldac"


def test_plain_formats(small, tmp_path):
    per_detector = write_observation(small, tmp_path / "plain", fmt="plain")
    single = write_observation(small, tmp_path / "single", fmt="plain-single")
    assert per_detector[0].name == "004321_NIR_J_D1.fits"
    with fits.open(per_detector[0]) as hdul:
        _check_primary(hdul[0].header, 1)
        assert [h.header["EXTNAME"] for h in hdul[1:]] == [f"DET{d}" for d in DETECTORS]
        assert [h.header["DETECTOR"] for h in hdul[1:]] == list(DETECTORS)
        for hdu in hdul[1:]:
            _check_columns(hdu)
        n = sum(len(h.data) for h in hdul[1:])
    with fits.open(single[0]) as hdul:
        assert len(hdul) == 2 and hdul[1].header["EXTNAME"] == "SOURCES"
        _check_primary(hdul[0].header, 1)
        _check_columns(hdul[1], extra=["DETECTOR"])
        assert hdul[1].columns["DETECTOR"].format == "I"
        assert len(hdul[1].data) == n == small.exposures[1].n_sources
        assert set(hdul[1].data["DETECTOR"]) <= set(DETECTORS)


def test_write_rejects_unknown_format(small, tmp_path):
    with pytest.raises(ConfigError, match="unknown format 'votable'"):
        write_observation(small, tmp_path, fmt="votable")


# --- physics -----------------------------------------------------------------------------------------

def test_injected_offsets_in_true_and_measured_fluxes(small):
    mag = small.population.mag("NIR_J")
    noise = NoiseModel()
    factors = {1: 1.0, 2: 0.97, 3: 1.0, 4: 1.0}
    det_factor = 10 ** (-0.4 * 0.05)
    seen_det23 = 0
    for dither, exposure in small.exposures.items():
        for det, tru in exposure.truth.items():
            real = (tru["SOURCE_ID"] >= 0) & ~tru["IS_VARIABLE"]
            flags = exposure.catalogs[det]["FLAGS"][real]
            clean = (flags & 2) == 0  # blends carry extra flux
            ratio = tru["TRUE_FLUX"][real][clean] / noise.flux(mag[tru["SOURCE_ID"][real][clean]])
            expected = factors[dither] * (det_factor if (dither, det) == (3, 23) else 1.0)
            np.testing.assert_allclose(ratio, expected, rtol=1e-12)
            seen_det23 += (dither, det) == (3, 23) and ratio.size > 0
    assert seen_det23
    # The measured fluxes show it too: bright clean sources of exposure 2 against exposure 1.
    one, two = _by_source(small.exposures[1]), _by_source(small.exposures[2])
    ratios = [two[s][2]["FLUX_AUTO"] / one[s][2]["FLUX_AUTO"] for s in one.keys() & two.keys()
              if one[s][2]["FLAGS"] == 0 and two[s][2]["FLAGS"] == 0 and not one[s][1]["IS_VARIABLE"]
              and one[s][2]["FLUX_AUTO"] / one[s][2]["FLUXERR_AUTO"] > 50]
    assert len(ratios) > 100
    assert abs(np.median(ratios) - 0.97) < 0.003


def test_truth_records_faults(small):
    exposures = {e["dither"]: e for e in small.truth["exposures"]}
    assert exposures[2]["qprelex"] == pytest.approx(0.97, abs=1e-12)
    assert exposures[2]["expected_qprelex"] == pytest.approx(0.97, abs=1e-12)
    assert exposures[1]["expected_qprelex"] == pytest.approx(1.0)
    assert exposures[3]["detector_offsets"] == {"23": {"offset_mag": 0.05, "factor": pytest.approx(0.9550, abs=1e-4)}}
    assert small.truth["dropped"] == []
    mjds = [exposures[d]["mjd_obs"] for d in (1, 2, 3, 4)]
    assert np.allclose(np.diff(mjds) * 86400, 330.0)
    assert exposures[1]["ra_pnt"] == pytest.approx(10.0) and exposures[1]["dec_pnt"] == pytest.approx(-30.0)


def test_expected_factors_median_of_pair_medians():
    assert expected_factors({1: 0.0, 2: FACTOR_097, 3: 0.0, 4: 0.0})[1] == pytest.approx(1.0)
    three = expected_factors({1: 0.0, 2: FACTOR_097, 3: 0.0})
    assert three[1] == pytest.approx(10 ** (-0.4 * -FACTOR_097 / 2))
    assert expected_factors({1: 0.1}) == {1: None}


def test_variables_spurious_and_flags(small):
    one, two = _by_source(small.exposures[1]), _by_source(small.exposures[2])
    common = one.keys() & two.keys()
    variable = [s for s in common if one[s][1]["IS_VARIABLE"]]
    assert len(variable) > 10
    change = np.array([two[s][1]["TRUE_FLUX"] / one[s][1]["TRUE_FLUX"] / 0.97 for s in variable])
    assert 0.1 < np.std(np.log(change)) < 0.6  # tens of per cent
    for exposure in small.exposures.values():
        table = exposure.table()
        truth = np.concatenate([exposure.truth[d] for d in exposure.catalogs])
        spurious = truth["SOURCE_ID"] < 0
        assert 0.02 < spurious.mean() < 0.08
        assert np.any(table["FLUX_AUTO"][spurious] <= 0)
        assert np.all(table["FLAGS"][~spurious][table["MAG_AUTO"][~spurious] < 15.5] & 4)
        assert 0.02 < np.mean(table["FLAGS"] & 2 > 0) < 0.1
        snr = table["FLUX_AUTO"] / table["FLUXERR_AUTO"]
        assert np.all((snr[~spurious] >= 5) | (table["FLAGS"][~spurious] & 4 > 0))


def test_number_counts_rise_with_magnitude():
    sim = simulate_observation(1, "NIR_H", sources_per_detector=150, seed=2, variable_fraction=0, spurious_fraction=0)
    mag = sim.exposures[1].table()["MAG_AUTO"]
    counts, _ = np.histogram(mag, bins=np.arange(18.0, 24.0, 1.0))
    assert np.all(np.diff(counts) > 0)
    slope = np.polyfit(np.arange(18.5, 23.0, 1.0), np.log10(counts), 1)[0]
    assert 0.2 < slope < 0.45


def test_noise_model_anchors():
    noise = NoiseModel()
    assert noise.mag_at_snr(5.0, star=True) == pytest.approx(24.5, abs=1e-6)
    assert noise.mag_at_snr(10.0, star=False) < noise.mag_at_snr(10.0, star=True) < 24.0
    bright = noise.flux(np.array([17.0]))
    assert 0.004 < noise.sigma(bright, np.array([True]))[0] / bright[0] < 0.006


def test_full_density_counts():
    sim = simulate_observation(2, "NIR_H", n_exposures=1, seed=0)
    table = sim.exposures[1].table()
    per_detector = len(table) / 16
    snr10 = np.sum(table["FLUX_AUTO"] / table["FLUXERR_AUTO"] >= 10) / 16
    assert 4500 < per_detector < 7500
    assert 3200 < snr10 < 3900


# --- geometry ----------------------------------------------------------------------------------------

def test_focal_plane_layout_and_gaps():
    det, x, _y = locate(*geo.detector_centre(np.array(DETECTORS)))
    np.testing.assert_array_equal(det, DETECTORS)
    np.testing.assert_allclose(x, 1020.5)
    # The middle of the gap between columns 2 and 3, and between rows 2 and 3, is on no detector.
    assert locate(np.array([0.0]), np.array([0.0]))[0][0] == 0
    assert locate(np.array([geo.PITCH_U * 0.5]), np.array([0.0]))[0][0] == 0
    assert geo.GAP_U == 50 and geo.GAP_V == 100
    np.testing.assert_allclose(dither_offsets(5), [[0, 0], [50, 100], [50, 200], [100, 300], [150, 400]])


def test_source_near_detector_edge_changes_detector_across_dithers():
    # 20" inside the left (-u) edge of detector 23, mid-height: dithers 2 and 3 move it (-50") into
    # the 50" gap, dither 4 (-100") onto detector 22.
    uc, vc = geo.detector_centre(23)
    u0, v0 = uc - geo.DET_SIZE / 2 + 20.0, vc
    dets = [int(locate(np.array([u0 - du]), np.array([v0 - dv]))[0][0]) for du, dv in dither_offsets(4)]
    assert dets == [23, 0, 0, 22]
    # In a simulation: sources seen on two detectors, and sources lost to a gap in some exposure.
    sim = simulate_observation(9, "NIR_H", sources_per_detector=60, seed=4)
    by = [_by_source(sim.exposures[d]) for d in (1, 2, 3, 4)]
    seen = set.union(*(set(b) for b in by))
    detectors = {s: {b[s][0] for b in by if s in b} for s in seen}
    moved = [s for s, dets in detectors.items() if len(dets) > 1]
    assert len(moved) > 0.05 * len(seen)
    lost = set(by[0]) - set(by[1])
    assert len(lost) > 0.02 * len(by[0])


@pytest.mark.parametrize("ra0, dec0", [(0.01, 89.5), (359.99, -89.9), (0.05, 0.0), (180.0, 45.0)])
def test_gnomonic_roundtrip(ra0, dec0):
    rng = np.random.default_rng(0)
    xi, eta = rng.uniform(-3000, 3000, (2, 1000))
    ra, dec = deproject(xi, eta, ra0, dec0)
    assert np.all((ra >= 0) & (ra < 360) & (dec >= -90) & (dec <= 90))
    xi2, eta2 = project(ra, dec, ra0, dec0)
    np.testing.assert_allclose(xi2, xi, atol=1e-6)
    np.testing.assert_allclose(eta2, eta, atol=1e-6)


@pytest.mark.parametrize("ra0, dec0", [(120.0, 89.5), (300.0, 89.9), (0.02, -5.0)])
def test_polar_and_ra_zero_fields_overlap(ra0, dec0):
    sim = simulate_observation(77, "NIR_Y", sources_per_detector=40, seed=5, ra=ra0, dec=dec0, pa=70.0)
    tables = {d: e.table() for d, e in sim.exposures.items()}
    for table in tables.values():
        assert np.all(np.isfinite(table["ALPHA_J2000"]) & np.isfinite(table["DELTA_J2000"]))
        assert np.all((table["ALPHA_J2000"] >= 0) & (table["ALPHA_J2000"] < 360))
        assert np.all(np.abs(table["DELTA_J2000"]) <= 90)
    ra_all = np.concatenate([t["ALPHA_J2000"] for t in tables.values()])
    if dec0 > 89.8:
        assert ra_all.max() - ra_all.min() > 300  # the field surrounds the pole
    elif dec0 > 89:
        assert ra_all.max() - ra_all.min() > 90  # the field spans a wide range of RA
    else:
        assert np.any(ra_all > 359.5) and np.any(ra_all < 0.5)  # straddles RA = 0
    # The same source in two exposures is at the same sky position (to the centroid noise)...
    one, three = _by_source(sim.exposures[1]), _by_source(sim.exposures[3])
    common = sorted(one.keys() & three.keys())
    assert len(common) > 0.6 * len(one)
    a = np.array([(one[s][2]["ALPHA_J2000"], one[s][2]["DELTA_J2000"]) for s in common])
    b = np.array([(three[s][2]["ALPHA_J2000"], three[s][2]["DELTA_J2000"]) for s in common])
    sep = _separation_arcsec(a[:, 0], a[:, 1], b[:, 0], b[:, 1])
    assert np.median(sep) < 0.2 and np.percentile(sep, 99) < 1.0
    # ...and the header pointings are near the field centre.
    for e in sim.truth["exposures"]:
        assert _separation_arcsec(e["ra_pnt"], e["dec_pnt"], ra0, dec0) < 400


def test_missing_and_partial_exposures(tmp_path):
    sim = simulate_observation(3, "NIR_H", sources_per_detector=30, seed=6, missing={2}, partial={3: 0.5, 4: [11, 12]})
    assert sorted(sim.exposures) == [1, 3, 4]
    assert sorted(sim.exposures[4].catalogs) == [11, 12]
    one, three = _by_source(sim.exposures[1]), _by_source(sim.exposures[3])
    overlap = len(one.keys() & three.keys()) / len(one)
    assert 0.3 < overlap < 0.6
    paths = write_observation(sim, tmp_path)
    assert [p.name for p in paths] == ["000003_NIR_H_D1.cat.fits", "000003_NIR_H_D3.cat.fits",
                                       "000003_NIR_H_D4.cat.fits"]
    truth = json.loads((tmp_path / "000003_NIR_H_truth.json").read_text())
    assert truth["dropped"] == [2]
    exposures = {e["dither"]: e for e in truth["exposures"]}
    assert exposures[2]["written"] is False and exposures[2]["file"] is None
    assert exposures[3]["partial"] == 0.5 and exposures[4]["partial"] == [11, 12]
    with fits.open(paths[2]) as hdul:
        assert len(hdul) == 5


@pytest.mark.parametrize("kwargs, message", [
    ({"exposure_offsets": {5: 0.1}}, "dither 5 does not exist"),
    ({"detector_offsets": {(1, 55): 0.1}}, "detector 55 does not exist"),
    ({"missing": {1, 2, 3, 4}}, "cannot drop every exposure"),
    ({"variable_fraction": 2.0}, "variable_fraction must be in"),
    ({"partial": {2: []}}, "partial exposure 2"),
])
def test_bad_parameters(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        simulate_observation(1, "NIR_H", sources_per_detector=10, **kwargs)
    with pytest.raises(ConfigError, match="unknown filter"):
        simulate_observation(1, "NIR_K")


def test_recovered_by_the_method(small):
    from relphot_core.factors import compute_observation

    result = compute_observation(small.to_catalogs())
    values = {e.exposure: e.value for e in result.exposures}
    assert values[2] == pytest.approx(0.97, abs=0.004)
    assert values[1] == pytest.approx(1.0, abs=0.004)


# --- season and CLI ----------------------------------------------------------------------------------

def test_season(tmp_path):
    paths, truth = simulate_season(tmp_path, 4, filters=("NIR_J", "NIR_H"), sources_per_detector=8, seed=3,
                                   bad_exposures=2, drift_per_day=0.001, three_dither_sets=0)
    assert len(paths) == 4 * 2 * 4
    assert json.loads((tmp_path / "truth.json").read_text()) == json.loads(json.dumps(truth))
    observations = truth["observations"]
    ids = [o["obs_id"] for o in observations if o["filter"] == "NIR_H"]
    starts = [o["mjd_start"] for o in observations if o["filter"] == "NIR_H"]
    assert ids == sorted(ids) and starts == sorted(starts) and starts[-1] - starts[0] > 14
    bad = [(o["obs_id"], o["filter"], e["dither"]) for o in observations for e in o["exposures"]
           if abs(e["offset_mag"]) >= 0.02]
    assert len(bad) >= 2
    drift = [e["offset_mag"] for o in observations if o["filter"] == "NIR_H" for e in o["exposures"]
             if e["dither"] == 4]
    assert drift[-1] > 0.01
    det = [(o["obs_id"], e["dither"]) for o in observations for e in o["exposures"] if e["detector_offsets"]]
    assert len(det) == 1


def test_cli_writes_catalogues_and_truth(tmp_path, capsys):
    out = tmp_path / "sim"
    status = main(["simulate", "--out", str(out), "--filters", "NIR_H", "--sources-per-detector", "10",
                   "--offset", "2:x0.97", "--detector-offset", "3:23:0.05", "--missing", "4",
                   "--format", "plain", "--seed", "5", "--obs-id", "42", "-q"])
    assert status == 0
    assert sorted(p.name for p in out.iterdir()) == ["000042_NIR_H_D1.fits", "000042_NIR_H_D2.fits",
                                                    "000042_NIR_H_D3.fits", "000042_NIR_H_truth.json"]
    truth = json.loads((out / "000042_NIR_H_truth.json").read_text())
    assert truth["exposures"][1]["qprelex"] == pytest.approx(0.97)
    assert truth["exposures"][2]["detector_offsets"]["23"]["offset_mag"] == 0.05
    assert truth["dropped"] == [4]
    with fits.open(out / "000042_NIR_H_D2.fits") as hdul:
        assert hdul[0].header["OBS_ID"] == 42 and hdul[1].header["EXTNAME"] == "DET11"


def test_cli_several_observations_and_season(tmp_path, capsys):
    assert main(["simulate", "--out", str(tmp_path / "n"), "-n", "2", "--filters", "NIR_Y,NIR_J",
                 "--sources-per-detector", "5", "-k", "2"]) == 0
    assert len(list((tmp_path / "n").glob("*.cat.fits"))) == 2 * 2 * 2
    assert "wrote 8 catalogues" in capsys.readouterr().out
    assert main(["simulate", "--out", str(tmp_path / "s"), "--season", "-n", "2", "--filters", "NIR_H",
                 "--sources-per-detector", "5", "-q"]) == 0
    assert (tmp_path / "s" / "truth.json").exists()


@pytest.mark.parametrize("args, message", [
    (["--offset", "2:abc"], "relphot simulate: error: --offset: '2:abc': 'abc' is not a number"),
    (["--offset", "9:0.1"], "relphot simulate: error: --offset: dither 9 does not exist (exposures are 1..4)"),
    (["--offset", "2:x-1"], "relphot simulate: error: --offset: '2:x-1': a flux factor must be > 0"),
    (["--detector-offset", "1:99:0.1"], "relphot simulate: error: --detector-offset: '1:99:0.1': detector 99"),
    (["--partial", "3:11,x"], "relphot simulate: error: --partial: '3:11,x': 'x' is not an integer"),
    (["--filters", "NIR_K"], "relphot simulate: error: --filters: unknown filter 'NIR_K'"),
    (["--format", "csv"], "relphot simulate: error: --format: unknown format 'csv'"),
    (["--missing", "1", "--missing", "2", "-k", "2"], "relphot simulate: error: --missing: cannot drop every"),
    (["--season", "--offset", "2:0.1"], "relphot simulate: error: --season: draws its own faults"),
])
def test_cli_bad_options_one_line(tmp_path, capsys, args, message):
    assert main(["simulate", "--out", str(tmp_path / "x"), "--sources-per-detector", "5", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())


def test_unwritable_output_is_one_clear_error(tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a directory")
    assert main(["simulate", "--out", str(blocker / "sub"), "--filters", "NIR_H", "--sources-per-detector", "5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"relphot simulate: error: {blocker / 'sub'}: cannot create directory")
    assert err.count("\n") == 1


def test_command_line_formats_are_the_simulator_formats():
    from relphot_core.cli.simulate import FORMATS as CLI_FORMATS
    from relphot_core.simulate import FORMATS

    assert CLI_FORMATS == FORMATS
