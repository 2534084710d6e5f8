"""Catalogue readers: every layout reads the same sources; bad files fail clearly."""
import numpy as np
import pytest
from astropy.io import fits

from relphot_core.catalogs import group_exposures, parse_header_cards, read_catalog
from relphot_core.config import Columns
from relphot_core.errors import CatalogError, GroupingError
from relphot_core.simulate import simulate_observation, write_observation


@pytest.fixture(scope="module")
def simulated():
    return simulate_observation(77, "NIR_H", n_exposures=2, sources_per_detector=40, seed=3)


@pytest.fixture(scope="module")
def written(simulated, tmp_path_factory):
    out = {}
    for fmt in ("ldac", "plain", "plain-single"):
        directory = tmp_path_factory.mktemp(fmt)
        out[fmt] = write_observation(simulated, directory, fmt=fmt)
    return out


def test_every_layout_reads_the_same_sources(written):
    ref = read_catalog(written["ldac"][0])
    assert (ref.obs_id, ref.filter, ref.dither) == (77, "NIR_H", 1)
    assert sorted(set(ref.detector.tolist())) == [10 * r + c for r in range(1, 5) for c in range(1, 5)]
    for fmt in ("plain", "plain-single"):
        other = read_catalog(written[fmt][0])
        order_ref = np.lexsort((ref.dec, ref.ra))
        order = np.lexsort((other.dec, other.ra))
        for name in ("ra", "dec", "flux", "flux_err", "flags", "detector"):
            assert np.array_equal(getattr(ref, name)[order_ref], getattr(other, name)[order]), (fmt, name)
        assert (other.mjd_obs, other.date_obs, other.exptime) == (ref.mjd_obs, ref.date_obs, ref.exptime)


def test_time_and_pointing_come_from_the_headers(written, simulated):
    cat = read_catalog(written["ldac"][1])
    truth = simulated.truth["exposures"][1]
    assert cat.dither == 2
    assert cat.mjd_obs == pytest.approx(truth["mjd_obs"])
    assert cat.ra_pointing == pytest.approx(truth["ra_pnt"])
    assert cat.exptime == pytest.approx(87.2)


def test_overrides_replace_header_values(written):
    cat = read_catalog(written["plain"][0], overrides={"obs_id": 5, "filter": "NIR_Y", "dither": 9})
    assert (cat.obs_id, cat.filter, cat.dither) == (5, "NIR_Y", 9)


def test_keywords_found_in_the_ldac_imhead_when_the_primary_lacks_them(written, tmp_path):
    path = tmp_path / "noprimary.fits"
    with fits.open(written["ldac"][0]) as hdul:
        for key in ("OBS_ID", "FILTER", "DITHOBS"):
            del hdul[0].header[key]
        hdul.writeto(path)
    cat = read_catalog(path)
    assert (cat.obs_id, cat.filter, cat.dither) == (77, "NIR_H", 1)


def test_parse_header_cards():
    cards = "".join(card.ljust(80) for card in [
        "OBS_ID  =                 1234 / id", "FILTER  = 'NIR_J   '", "MJD-OBS =       60700.5",
        "FLAG    =                    T", "EXTNAME = 'DET23.SCI'", "END"])
    header = parse_header_cards(cards)
    assert header == {"OBS_ID": 1234, "FILTER": "NIR_J", "MJD-OBS": 60700.5, "FLAG": True, "EXTNAME": "DET23.SCI"}


def _table_file(path, columns, primary=None):
    hdu0 = fits.PrimaryHDU()
    for key, value in (primary or {"OBS_ID": 1, "FILTER": "NIR_J", "DITHOBS": 1}).items():
        hdu0.header[key] = value
    table = fits.BinTableHDU.from_columns(
        [fits.Column(name=name, format="D", array=np.asarray(values, float)) for name, values in columns.items()],
        name="DET11")
    table.header["DETECTOR"] = 11
    fits.HDUList([hdu0, table]).writeto(path)
    return path


GOOD = {"ALPHA_J2000": [1.0], "DELTA_J2000": [2.0], "FLUX_AUTO": [10.0], "FLUXERR_AUTO": [1.0], "FLAGS": [0]}


def test_configurable_columns(tmp_path):
    columns = dict(GOOD, FLUX_APER=[20.0], FLUXERR_APER=[2.0])
    path = _table_file(tmp_path / "aper.fits", columns)
    cat = read_catalog(path, columns=Columns(flux="FLUX_APER", flux_err="FLUXERR_APER"))
    assert cat.flux.tolist() == [20.0]


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"SIMPLE  = this is not FITS at all" * 100, "truncated inside its primary header, or not FITS"),
    (b"\x00" * 5760, "not a FITS file"),
])
def test_non_fits_files(tmp_path, content, message):
    path = tmp_path / "bad.fits"
    path.write_bytes(content)
    with pytest.raises(CatalogError, match=message):
        read_catalog(path)


def test_missing_file(tmp_path):
    with pytest.raises(CatalogError, match="no such file"):
        read_catalog(tmp_path / "absent.fits")


def test_truncated_file(written, tmp_path):
    data = written["ldac"][0].read_bytes()
    path = tmp_path / "cut.fits"
    path.write_bytes(data[: len(data) - 5000])
    with pytest.raises(CatalogError, match=r"cut.fits: file truncated: HDU \d+ ends beyond the end of the file"):
        read_catalog(path)


def test_missing_column(tmp_path):
    columns = {k: v for k, v in GOOD.items() if k != "FLUXERR_AUTO"}
    path = _table_file(tmp_path / "nocol.fits", columns)
    with pytest.raises(CatalogError, match=r"nocol.fits: HDU DET11 lacks column\(s\) FLUXERR_AUTO"):
        read_catalog(path)


def test_missing_keyword(tmp_path):
    path = _table_file(tmp_path / "nokey.fits", GOOD, primary={"OBS_ID": 1, "FILTER": "NIR_J"})
    with pytest.raises(CatalogError, match=r"nokey\.fits: missing header keyword DITHOBS"):
        read_catalog(path)


def test_unknown_filter(tmp_path):
    path = _table_file(tmp_path / "vis.fits", GOOD, primary={"OBS_ID": 1, "FILTER": "VIS", "DITHOBS": 1})
    with pytest.raises(CatalogError, match="filter 'VIS' is not one of NIR_Y, NIR_J, NIR_H"):
        read_catalog(path)


def test_grouping_sorts_and_refuses_duplicates(written):
    a, b = (read_catalog(p) for p in written["ldac"])
    groups = group_exposures([b, a])
    assert list(groups) == [(77, "NIR_H")] and [c.dither for c in groups[(77, "NIR_H")]] == [1, 2]
    with pytest.raises(GroupingError, match="claims dither 1 of observation 77 NIR_H"):
        group_exposures([a, a])
