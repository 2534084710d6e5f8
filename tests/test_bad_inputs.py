"""Hostile inputs: each kind is refused with one line naming the file and the
problem, the documented exit status, no traceback, nothing written."""
from __future__ import annotations

import gzip
import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relphot_core.catalogs import MAX_OBS_ID, read_catalog
from relphot_core.cli import main
from relphot_core.errors import CatalogError, ProductError
from relphot_core.products import read_product, write_product
from relphot_core.simulate.observation import simulate_observation
from relphot_core.simulate.writers import write_observation

sys.path.insert(0, str(Path(__file__).parent))
from test_apply import make_exposure
from test_products import make_result

RELPHOT = [sys.executable, "-m", "relphot_core.cli"]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def hdu_offsets(data: bytes) -> list[tuple[int, int, int]]:
    """(header start, data start, data end) of every HDU of a FITS file's bytes."""
    out, offset = [], 0
    while offset < len(data):
        end = offset
        while data[end:end + 8] != b"END     ":
            end += 80
        text = data[offset:end].decode()
        cards = {text[i:i + 8].strip(): text[i + 10:i + 80].split("/")[0].strip() for i in range(0, len(text), 80)}
        start = offset + (end + 80 - offset + 2879) // 2880 * 2880
        naxis = int(cards.get("NAXIS", 0))
        size = 0
        if naxis:
            size = int(np.prod([int(cards[f"NAXIS{i}"]) for i in range(1, naxis + 1)]))
            size = (size + int(cards.get("PCOUNT", 0))) * abs(int(cards["BITPIX"])) // 8
        out.append((offset, start, start + size))
        offset = start + (size + 2879) // 2880 * 2880
    return out


def set_card(data: bytes, keyword: str, value: str, hdu: int = 0) -> bytes:
    h0, d0, _ = hdu_offsets(data)[hdu]
    for i in range(h0, d0, 80):
        if data[i:i + 8].decode().strip() == keyword:
            return data[:i] + f"{keyword:<8}= {value:>20}".ljust(80).encode() + data[i + 80:]
    raise KeyError(keyword)


def with_column(src: Path, dst: Path, name: str, fmt: str, convert) -> Path:
    with fits.open(src) as hdul:
        hdus = [hdul[0].copy()]
        for hdu in hdul[1:]:
            if hdu.name != "LDAC_OBJECTS":
                hdus.append(hdu.copy())
                continue
            cols = [fits.Column(name=c.name, format=fmt if c.name == name else c.format,
                                array=convert(hdu.data[c.name]) if c.name == name else hdu.data[c.name])
                    for c in hdu.columns]
            hdus.append(fits.BinTableHDU.from_columns(cols, name="LDAC_OBJECTS"))
        fits.HDUList(hdus).writeto(dst)
    return dst


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> list[Path]:
    sim = simulate_observation(1000, "NIR_H", sources_per_detector=50, seed=1)
    return write_observation(sim, tmp_path_factory.mktemp("good"), "ldac", truth=False)


def _catalogue_cases(good: list[Path], out: Path) -> dict[str, tuple[Path, str]]:
    """name -> (damaged copy of dither 1, expected words of the reason)."""
    src = good[0]
    raw = src.read_bytes()
    offsets = hdu_offsets(raw)
    cases: dict[str, tuple[Path, str]] = {}

    def put(name: str, data: bytes, words: str) -> None:
        path = out / f"{name}.cat.fits"
        path.write_bytes(data)
        cases[name] = (path, words)

    for name, fmt, convert, words in [
        ("text_flux", "8A", lambda a: np.array([f"x{v:.3f}"[:8] for v in a]), "column FLUX_AUTO is text"),
        ("vector_flux", "3E", lambda a: np.repeat(a[:, None], 3, 1), "FLUX_AUTO is a vector of 3 values"),
        ("complex_flux", "C", lambda a: a.astype(np.complex64), "FLUX_AUTO is complex"),
        ("text_flags", "4A", lambda a: np.array(["ab"] * len(a)), "column FLAGS is text"),
        ("float_flags", "E", lambda a: a + 0.5, "FLAGS holds non-integer values"),
    ]:
        path = with_column(src, out / f"{name}.cat.fits", name.split("_")[1].upper().replace("FLUX", "FLUX_AUTO"),
                           fmt, convert)
        cases[name] = (path, words)
    for keyword, value, words in [
        ("OBS_ID", "100000000000000000000000", "out of range"), ("OBS_ID", "1E23", "not a valid obs_id"),
        ("OBS_ID", str(MAX_OBS_ID + 1), "out of range"), ("OBS_ID", "-1", "out of range"),
        ("DITHOBS", "100000000000000000000000", "out of range"), ("DITHOBS", "0", "out of range"),
        ("DITHOBS", "'one'", "not a valid dither"),
    ]:
        put(f"kw_{keyword}_{value[:6]}", set_card(raw, keyword, value), words)
    put("cut_last_header", raw[:offsets[-1][0] + 1000], "truncated inside the header of HDU")
    put("cut_first_header", raw[:1000], "truncated inside its primary header")
    put("cut_data", raw[:offsets[-1][1] + 100], "file truncated: HDU")
    h0, d0, _ = offsets[10]
    put("tform_q", raw[:h0] + raw[h0:d0].replace(b"TFORM4  = 'E       '", b"TFORM4  = '1Q      '") + raw[d0:],
        "unreadable format TFORM4 = '1Q'")
    put("naxis1_wrong", set_card(raw, "NAXIS1", "77", hdu=4), "NAXIS1 says 77")
    put("gzip", gzip.compress(raw), "gzip-compressed")
    (out / "gz.cat.gz").write_bytes(gzip.compress(raw))
    cases["gzip_named_gz"] = (out / "gz.cat.gz", "gzip-compressed")
    put("empty", b"", "is empty")
    put("garbage", b"\0" * 5760, "not a FITS file")
    put("trailing_junk", raw + b"junk" * 720, "are not an extension")
    (out / "dir.cat").mkdir()
    cases["directory"] = (out / "dir.cat", "is a directory")
    os.mkfifo(out / "fifo.cat")
    cases["fifo"] = (out / "fifo.cat", "not a regular file")
    return cases


@pytest.fixture(scope="module")
def catalogue_cases(good, tmp_path_factory):
    return _catalogue_cases(good, tmp_path_factory.mktemp("bad"))


def test_every_bad_catalogue_is_one_catalog_error(catalogue_cases):
    for name, (path, words) in catalogue_cases.items():
        with pytest.raises(CatalogError) as info:
            read_catalog(path)
        assert info.value.source == str(path), name
        assert words in info.value.reason, (name, info.value.reason)
        assert "\n" not in str(info.value), name


def test_compute_reports_each_bad_set_and_stores_nothing_of_it(good, catalogue_cases, tmp_path, capsys):
    db = tmp_path / "relphot.db"
    names = [name for name, (path, _) in catalogue_cases.items() if path.is_file()]  # every damaged file
    assert len(names) >= 20
    for name in names:
        path, words = catalogue_cases[name]
        work = tmp_path / name
        work.mkdir()
        files = [work / p.name for p in good]
        for src, dst in zip(good, files):
            dst.write_bytes(src.read_bytes())
        files[0].write_bytes(path.read_bytes())
        if name in ("text_flux", "gzip"):  # and through a whole process once: no traceback on stderr
            run = subprocess.run([*RELPHOT, "compute", *map(str, files), "--db", str(db)],
                                 capture_output=True, text=True, timeout=300)
            code, err = run.returncode, run.stderr
            assert "Traceback" not in err, (name, err)
        else:
            code = main(["compute", *map(str, files), "--db", str(db)])
            err = capsys.readouterr().err
        assert code in (1, 2), (name, err)
        lines = [line for line in err.splitlines() if "error" in line]
        assert any(line.startswith("relphot compute: error: ") and str(files[0]) in line and words in line
                   for line in lines), (name, err)
    with sqlite3.connect(db) as conn:  # nothing of a refused file is stored: no other observation appears
        assert {row[0] for row in conn.execute("SELECT obs_id FROM observation")} <= {1000}
        assert conn.execute("SELECT count(*) FROM processing_failure").fetchone()[0] >= 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.one_of(st.integers(min_value=-10**30, max_value=10**30).map(str),
                       st.floats(allow_nan=True, allow_infinity=True).map(repr),
                       st.text(alphabet="0123456789eE+-. 'x", min_size=1, max_size=20).map(lambda t: f"'{t}'")),
       keyword=st.sampled_from(["OBS_ID", "DITHOBS"]))
def test_any_identity_keyword_is_read_or_refused_in_one_line(good, tmp_path_factory, keyword, value):
    path = tmp_path_factory.mktemp("kw") / "k.cat.fits"
    path.write_bytes(set_card(good[0].read_bytes(), keyword, value[:20]))
    try:
        catalog = read_catalog(path)
    except CatalogError as exc:
        assert exc.source == str(path) and "\n" not in exc.reason
    else:
        assert 0 <= catalog.obs_id <= MAX_OBS_ID and 1 <= catalog.dither <= 2**31 - 1


# ------------------------------------------------------------------ products

@pytest.fixture
def product(tmp_path) -> Path:
    return write_product(make_result(), tmp_path / "good.xml")


def _mutated(product: Path, name: str, old: str, new: str) -> Path:
    text = product.read_text()
    assert old in text
    path = product.with_name(name)
    path.write_text(text.replace(old, new, 1))
    return path


XML_CASES = [
    ("underflow.xml", "<Value>0.9981234</Value>", "<Value>0." + "0" * 400 + "1</Value>", "reads as 0.0"),
    ("overflow.xml", "<Value>0.9981234</Value>", "<Value>1" + "0" * 400 + "</Value>", "reads as inf"),
    ("error_overflow.xml", "<Error>0.0012</Error>", "<Error>1" + "0" * 400 + "</Error>", "reads as inf"),
    ("global_overflow.xml", 'status="OK"', 'status="OK" globalValue="1' + "0" * 400 + '"', "globalValue"),
    ("y9999.xml", "<CreationDate>2026-03-04T05:06:07.891Z", "<CreationDate>9999-12-31T24:00:00.000Z",
     "beyond the year 9999"),
]


def test_products_out_of_double_range_are_invalid_in_one_line(product, capsys):
    paths = [_mutated(product, name, old, new) for name, old, new, _ in XML_CASES]
    t24 = _mutated(product, "t24.xml", "<CreationDate>2026-03-04T05:06:07.891Z",
                   "<CreationDate>2026-03-04T24:00:00.000Z")
    assert read_product(t24).created.isoformat().startswith("2026-03-05T00:00:00")
    assert main(["validate", str(product), *map(str, paths), str(t24)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(paths) + 2  # every file its verdict
    assert lines[0] == f"{product}: valid" and lines[-1] == f"{t24}: valid"
    for line, path, (_, _, _, words) in zip(lines[1:], paths, XML_CASES):
        assert line.startswith(f"{path}: invalid: line ") and words in line, line


def test_import_and_apply_refuse_overflowing_products(product, tmp_path, capsys):
    bad = _mutated(product, "overflow.xml", "<Value>0.9981234</Value>", "<Value>1" + "0" * 400 + "</Value>")
    db = tmp_path / "s.db"
    assert main(["import", str(bad), "--db", str(db)]) == 1
    assert "reads as inf" in capsys.readouterr().err
    exposure = make_exposure(tmp_path / "e.fits", dither=1)
    before = sha(exposure)
    assert main(["apply", str(bad), str(exposure)]) == 2
    assert f"{bad}: line" in capsys.readouterr().err
    assert sha(exposure) == before


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(st.decimals(allow_nan=False, allow_infinity=False).map(lambda d: format(d, "f")),
                      st.integers(0, 500).map(lambda n: "0." + "0" * n + "1"),
                      st.integers(0, 500).map(lambda n: "1" + "0" * n)))
def test_any_decimal_value_is_read_finite_or_refused(tmp_path_factory, text):
    product = write_product(make_result(), tmp_path_factory.mktemp("x") / "p.xml")
    path = _mutated(product, "v.xml", "<Value>0.9981234</Value>", f"<Value>{text}</Value>")
    try:
        result = read_product(path)
    except ProductError as exc:
        assert exc.source == str(path) and "\n" not in exc.reason
    else:
        value = result.exposure(1).value
        assert np.isfinite(value) and value > 0


# ------------------------------------------------------------------ apply, store

def test_apply_refuses_a_truncated_exposure_untouched(product, tmp_path, capsys):
    exposure = make_exposure(tmp_path / "e.fits", dither=1)
    raw = exposure.read_bytes()
    for name, data in (("cut.fits", raw[:len(raw) * 6 // 10]), ("cuthdr.fits", raw[:2880 * 3 + 100])):
        path = tmp_path / name
        path.write_bytes(data)
        before = sha(path)
        assert main(["apply", str(product), str(path)]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"{path}: refused: file truncated") and "not touched" in err
        assert sha(path) == before
        assert not list(tmp_path.glob(".*relphot*"))


def test_a_foreign_sqlite_database_stays_byte_identical(product, tmp_path, capsys):
    db = tmp_path / "foreign.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.execute("INSERT INTO t VALUES (1)")
    before = sha(db)
    assert main(["import", str(product), "--db", str(db)]) == 2
    assert "not a relphot store (nothing was changed)" in capsys.readouterr().err
    assert sha(db) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["foreign.db", "good.xml"]


def test_serve_refuses_an_unresolvable_host_naming_it(tmp_path):
    run = subprocess.run([*RELPHOT, "serve", "--host", "256.300.1.1", "--db", str(tmp_path / "s.db")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert run.stderr.splitlines()[-1] == "relphot serve: error: 256.300.1.1: not a valid host name or address"


# ------------------------------------------------------------------ leftovers after a kill

KILL_REWRITE = textwrap.dedent("""
    import os, signal, sys
    from relphot_core import apply
    from relphot_core.products import read_product
    original = apply._copy_rest
    def copy_then_die(src, dst, offset, count):
        original(src, dst, offset, count // 2)
        dst.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    apply._copy_rest = copy_then_die
    apply.apply_product(read_product(sys.argv[1]), sys.argv[2], product_name="p.xml")
""")


def test_a_killed_streamed_rewrite_is_cleaned_by_the_next_apply(product, tmp_path, capsys):
    exposure = make_exposure(tmp_path / "e.fits", dither=1, free_cards=0)
    before = sha(exposure)
    run = subprocess.run([sys.executable, "-c", KILL_REWRITE, str(product), str(exposure)], timeout=120)
    assert run.returncode == -signal.SIGKILL
    assert sha(exposure) == before
    assert len(list(tmp_path.glob(".e.fits.*.relphot-tmp"))) == 1
    assert main(["apply", str(product), str(exposure)]) == 0
    assert not list(tmp_path.glob(".e.fits.*"))
    assert fits.getheader(exposure)["QPRELEX"] == pytest.approx(0.9981234)


KILL_EXPORT = textwrap.dedent("""
    import os, signal, sys
    from relphot_core import products
    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)
    os.fsync = die
    products.write_product(products.read_product(sys.argv[1]), sys.argv[2])
""")


def test_a_killed_export_is_cleaned_by_the_next_export(product, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    run = subprocess.run([sys.executable, "-c", KILL_EXPORT, str(product), str(out)], timeout=120)
    assert run.returncode == -signal.SIGKILL
    stale = list(out.glob(".EUC_*.xml.*.tmp"))
    assert len(stale) == 1
    held = out / ".EUC_NIR_RELPHOT_000001_NIR_J_20260101T000000.xml.held.tmp"
    import fcntl
    with open(held, "wb") as stream:  # a running export's file: locked, kept
        fcntl.flock(stream.fileno(), fcntl.LOCK_EX)
        from relphot_core.store import Store

        Store.open(str(tmp_path / "empty.db")).close()  # an export reads an existing store only
        run = subprocess.run([*RELPHOT, "export", "--db", str(tmp_path / "empty.db"), "--out", str(out)],
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        assert f"removed {stale[0]}" in run.stderr
        assert not stale[0].exists() and held.exists()


# Every element and attribute type of the product, at and beyond its limits:
# (what to replace in a good product, the template of the replacement)
XML_SLOTS = [
    ("<Value>0.9981234</Value>", "<Value>{}</Value>"),
    ("<Error>0.0012</Error>", "<Error>{}</Error>"),
    ("<Exposure>1</Exposure>", "<Exposure>{}</Exposure>"),
    ("<ObservationId>1234</ObservationId>", "<ObservationId>{}</ObservationId>"),
    ("<Filter>NIR_J</Filter>", "<Filter>{}</Filter>"),
    ("<TimestampStart>2025-11-21T02:57:46.659Z</TimestampStart>", "<TimestampStart>{}</TimestampStart>"),
    ("<CreationDate>2026-03-04T05:06:07.891Z</CreationDate>", "<CreationDate>{}</CreationDate>"),
    ("<Purpose>PRODUCTION</Purpose>", "<Purpose>{}</Purpose>"),
    ("<ToBePublished>false</ToBePublished>", "<ToBePublished>{}</ToBePublished>"),
    ("<ProdSDC>UNKNOWN</ProdSDC>", "<ProdSDC>{}</ProdSDC>"),
    ("<StringValue>10.0</StringValue>", "<StringValue>{}</StringValue>"),
    ("<Key>selection.min_snr</Key>", "<Key>{}</Key>"),
    ('minLimit="0.985"', 'minLimit="{}"'),
    ('flagged="false"', 'flagged="{}"'),
    ('exposure="1" status="OK"', 'exposure="{}" status="OK"'),
    ('status="OK"', 'status="{}"'),
    ('status="OK"', 'status="OK" detectorFlag="{}"'),
    ('status="OK"', 'status="OK" crosscheck="{}"'),
]

_LIMIT_TEXTS = st.one_of(
    st.sampled_from(["", " ", "0", "-1", "1e400", "-0", "0.000", "NaN", "INF", "2147483647", "2147483648",
                     "99999999999999999999999", "1." + "0" * 300, "0001-01-01T00:00:00.000Z",
                     "9999-12-31T23:59:59.999Z", "2026-02-30T00:00:00.000Z", "2026-01-01T24:00:00.000Z",
                     "2026-01-01T00:00:60.000Z", "true", "1", "NIR_K", "nir_j", "x" * 300, "é" * 10,
                     "&amp;lt;", "OK", "FAIL", "NODATA"]),
    st.decimals(allow_nan=False, allow_infinity=False).map(lambda d: format(d, "f")),
    st.integers(-10**25, 10**25).map(str),
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=40).map(
        lambda t: t.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(slot=st.sampled_from(XML_SLOTS), text=_LIMIT_TEXTS)
def test_any_element_or_attribute_at_its_limits_is_read_or_refused_in_one_line(tmp_path_factory, slot, text):
    product = write_product(make_result(), tmp_path_factory.mktemp("slot") / "p.xml")
    old, template = slot
    path = _mutated(product, "slot.xml", old, template.format(text))
    try:
        result = read_product(path)
    except ProductError as exc:
        assert exc.source == str(path) and exc.reason and "\n" not in exc.reason
        assert "Traceback" not in exc.reason
    else:
        for item in result.exposures:
            for number in (item.value, item.error, item.global_value):
                assert number is None or (np.isfinite(number) and number >= 0)
        assert 0 <= result.obs_id <= MAX_OBS_ID and result.filter in ("NIR_Y", "NIR_J", "NIR_H")
