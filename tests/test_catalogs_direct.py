"""FITS_LDAC read straight from the bytes gives exactly what the fitsio path gives.

`read_catalog` reads plain FITS_LDAC files itself and falls back to fitsio
for anything else; both must give identical catalogues (arrays, dtypes,
headers, digest), and every unusual file must take the fitsio path.
"""
import gzip
import shutil

import numpy as np
import pytest
from astropy.io import fits

from relphot_core import catalogs
from relphot_core.catalogs import read_catalog
from relphot_core.config import Columns
from relphot_core.simulate import simulate_observation, write_observation

FIELDS = ("obs_id", "filter", "dither", "mjd_obs", "date_obs", "exptime", "ra_pointing", "dec_pointing",
          "pa_pointing", "file")
ARRAYS = ("ra", "dec", "flux", "flux_err", "flags", "detector")


@pytest.fixture(scope="module")
def ldac(tmp_path_factory):
    sim = simulate_observation(31, "NIR_Y", n_exposures=2, sources_per_detector=50, seed=4, ra=359.99, dec=-60.0,
                               partial={2: [11, 12, 44]})
    return write_observation(sim, tmp_path_factory.mktemp("ldac"), fmt="ldac")


def _via_fitsio(monkeypatch, path, **kwargs):
    with monkeypatch.context() as m:
        m.setattr(catalogs, "_read_ldac_direct", lambda *a: None)
        return read_catalog(path, **kwargs)


def _assert_same(a, b):
    for name in FIELDS:
        assert getattr(a, name) == getattr(b, name), name
    for name in ARRAYS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and np.array_equal(x, y, equal_nan=True), name
    assert a.digest() == b.digest()


def test_direct_read_equals_fitsio(ldac, monkeypatch):
    for path in ldac:
        assert catalogs._read_ldac_direct(path, Columns(), catalogs.Keywords()) is not None
        _assert_same(read_catalog(path), _via_fitsio(monkeypatch, path))


def test_other_columns_and_overrides(ldac, monkeypatch):
    columns = Columns(flux="FLUX_AUTO", flux_err="MAGERR_AUTO", flags="NUMBER", ra="XWIN_IMAGE", dec="Y_IMAGE")
    overrides = {"obs_id": 5, "dither": 3}
    _assert_same(read_catalog(ldac[1], columns=columns, overrides=overrides),
                 _via_fitsio(monkeypatch, ldac[1], columns=columns, overrides=overrides))


def test_extra_hdus_and_nan_values(ldac, tmp_path, monkeypatch):
    path = tmp_path / "extra.cat.fits"
    with fits.open(ldac[0]) as hdul:
        hdul[2].data["FLUX_AUTO"][:3] = np.nan
        hdul.insert(3, fits.ImageHDU(np.zeros((3, 5), dtype=np.float32), name="SOMETHING"))
        hdul.append(fits.BinTableHDU.from_columns([fits.Column("X", "J", array=[1, 2])], name="OTHER"))
        hdul.writeto(path)
    assert catalogs._read_ldac_direct(path, Columns(), catalogs.Keywords()) is not None
    _assert_same(read_catalog(path), _via_fitsio(monkeypatch, path))
    assert np.isnan(read_catalog(path).flux[:3]).all()


def test_unusual_files_take_the_fitsio_path(ldac, tmp_path, monkeypatch):
    scaled = tmp_path / "scaled.cat.fits"
    with fits.open(ldac[0]) as hdul:
        objects = hdul[2]
        cols = [fits.Column(c.name, c.format, array=objects.data[c.name]) for c in objects.columns
                if c.name != "FLAGS"]
        cols.append(fits.Column("FLAGS", "I", bzero=32768, array=objects.data["FLAGS"].astype(np.uint16)))
        hdul[2] = fits.BinTableHDU.from_columns(cols, name="LDAC_OBJECTS")
        hdul.writeto(scaled)
    gz = tmp_path / "packed.cat.fits.gz"
    with open(ldac[0], "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    for path in (scaled, gz):
        assert catalogs._read_ldac_direct(path, Columns(), catalogs.Keywords()) is None
    assert read_catalog(scaled).flags.dtype == np.int64
    np.testing.assert_array_equal(read_catalog(scaled).flags, read_catalog(ldac[0]).flags)  # TZERO applied
