"""SCAMP as a peer: the simulated catalogues are what SCAMP reads, and its
flux scales agree with relphot's factors.

The SCAMP run is skipped when `scamp` is not on PATH (Debian package
`scamp`, installed by tests/run.sh).
"""
import math

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from relphot_core.catalogs import read_catalog
from relphot_core.factors import compute_observation
from relphot_core.simulate import simulate_observation, write_observation
from relphot_core.simulate.scamp import (read_flxscale, relative_factors, run_scamp, scamp_executable,
                                         write_reference)

FAINT = -2.5 * math.log10(0.97)


@pytest.fixture(scope="module")
def observation(tmp_path_factory):
    sim = simulate_observation(2024, "NIR_H", sources_per_detector=300, seed=11, ra=0.02, dec=-12.0, pa=20.0,
                               exposure_offsets={3: FAINT})
    return write_observation(sim, tmp_path_factory.mktemp("scamp"), fmt="ldac")


def test_catalogues_carry_what_scamp_reads(observation):
    with fits.open(observation[1]) as hdul:
        for imhead, objects in zip(hdul[1::2], hdul[2::2]):
            raw = imhead.data.tobytes()
            assert b"\0" not in raw and len(raw) % 80 == 0  # blank-padded 80-character cards
            header = fits.Header.fromstring(imhead.data["Field Header Card"][0])
            assert header["NAXIS1"] == header["NAXIS2"] == 2040 and header["CTYPE1"] == "RA---TAN"
            data = objects.data
            for name, form in (("XWIN_IMAGE", "D"), ("YWIN_IMAGE", "D"), ("ERRAWIN_IMAGE", "E"),
                               ("ERRBWIN_IMAGE", "E"), ("ERRTHETAWIN_IMAGE", "E"), ("FLUX_AUTO", "E"),
                               ("FLUXERR_AUTO", "E"), ("FLAGS", "I")):
                assert objects.columns[name].format == form, name
            assert np.all(data["ERRAWIN_IMAGE"] > 0) and np.all(data["ERRBWIN_IMAGE"] == data["ERRAWIN_IMAGE"])
            # Pixel and sky positions agree through the detector's WCS (to 1 mas).
            ra, dec = WCS(header).all_pix2world(data["XWIN_IMAGE"], data["YWIN_IMAGE"], 1)
            cos = np.cos(np.radians(data["DELTA_J2000"]))
            dra = ((ra - data["ALPHA_J2000"] + 180.0) % 360.0 - 180.0) * cos
            assert np.hypot(dra, dec - data["DELTA_J2000"]).max() * 3600.0 < 1e-3


def test_reference_catalogue(observation, tmp_path):
    path = write_reference(observation[0], tmp_path / "ref.cat")
    with fits.open(path) as hdul:
        assert [h.name for h in hdul[1:]] == ["LDAC_IMHEAD", "LDAC_OBJECTS"]
        data = hdul[2].data
        assert len(data) > 1000 and np.all(data["ERRA_WORLD"] > 0)
        assert set(data.columns.names) >= {"ALPHA_J2000", "DELTA_J2000", "ERRA_WORLD", "MAG_AUTO", "MAGERR_AUTO"}


@pytest.mark.skipif(scamp_executable() is None, reason="SCAMP is not installed (`scamp` not on PATH; "
                                                       "Debian package scamp)")
def test_scamp_flux_scales_agree_with_relphot(observation, tmp_path):
    reference = write_reference(observation[0], tmp_path / "ref.cat")
    run_scamp(observation, reference, cwd=tmp_path)
    scales = [read_flxscale(path) for path in observation]
    for per_detector in scales:  # MOSAIC_TYPE UNCHANGED: one scale per exposure
        assert per_detector.size == 16 and np.ptp(per_detector) <= 1e-9 * per_detector.mean()
    scamp = relative_factors([s.mean() for s in scales])

    result = compute_observation([read_catalog(p) for p in observation])
    qprelex = np.array([e.value for e in result.exposures])
    qprelex /= qprelex.mean()

    assert np.argmin(scamp) == 2 and scamp[2] / np.delete(scamp, 2).mean() == pytest.approx(0.97, abs=0.002)
    difference_mmag = 2500.0 * np.abs(np.log10(qprelex / scamp))
    assert difference_mmag.max() < 3.0, difference_mmag
