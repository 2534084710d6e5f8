"""relphot apply: QPRELEX/QPRELEXE/HISTORY into exposure primary headers."""
from __future__ import annotations

import fcntl
import hashlib
import math
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from relphot_core import apply as apply_module
from relphot_core.apply import BLOCK, apply_product, journal_path, plan_apply, recover
from relphot_core.cli import main
from relphot_core.errors import ApplyError
from relphot_core.products import write_product
from relphot_core.results import ExposureFactor, ObservationResult

DETECTORS = [10 * row + col for row in range(1, 5) for col in range(1, 5)]
NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=timezone.utc)


def make_exposure(path: Path, obs_id: int = 1234, band: str = "NIR_J", dither: int = 1,
                  free_cards: int | None = None, size: int = 64) -> Path:
    """A NISP-like exposure: 16 detectors x SCI/RMS/DQ image HDUs.

    ``free_cards=0`` fills the primary header block exactly (no room left).
    """
    primary = fits.PrimaryHDU()
    header = primary.header
    header["OBS_ID"] = obs_id
    header["FILTER"] = band
    header["DITHOBS"] = dither
    header["EXPNUM"] = 3 * (dither - 1) + 1
    header["MJD-OBS"] = 61000.1 + 0.004 * dither
    header["DATE-OBS"] = "2026-01-01T02:24:00.000"
    header["EXPTIME"] = 87.2
    header["RA_PNT"] = 150.0
    header["DEC_PNT"] = 2.0
    header["PA_PNT"] = 10.0
    if free_cards is not None:
        for index in range(36 - 1 - len(header) - free_cards):
            header[f"PAD{index:05d}"] = index
    rng = np.random.default_rng(dither)
    hdus = [primary]
    for det in DETECTORS:
        hdus.append(fits.ImageHDU(rng.normal(size=(size, size)).astype(np.float32), name=f"DET{det}.SCI"))
        hdus.append(fits.ImageHDU(rng.random((size, size)).astype(np.float32), name=f"DET{det}.RMS"))
        hdus.append(fits.ImageHDU(rng.integers(0, 9, (size, size)).astype(np.int16), name=f"DET{det}.DQ"))
    fits.HDUList(hdus).writeto(path)
    return path


def make_product_result() -> ObservationResult:
    return ObservationResult(
        obs_id=1234, filter="NIR_J", method="median",
        exposures=[
            ExposureFactor(1, 0.9981234, 0.0012, -2.5 * math.log10(0.9981234), "OK"),
            ExposureFactor(2, None, None, None, "NODATA", reason="no valid pair"),
            ExposureFactor(3, 0.97, 0.0011, -2.5 * math.log10(0.97), "FAIL"),
            ExposureFactor(4, 1.002, None, -2.5 * math.log10(1.002), "OK"),
        ],
        software_version="0.1.0", created=NOW, mjd_start=61000.1, mjd_end=61000.12,
    )


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def data_digests(path: Path) -> list[tuple[str, str]]:
    """Per-HDU digest of the raw data bytes (as astropy locates them)."""
    with fits.open(path, memmap=False) as hdul:
        out = []
        for hdu in hdul:
            info = hdu.fileinfo()
            with open(path, "rb") as stream:
                stream.seek(info["datLoc"])
                out.append((hdu.name, hashlib.sha256(stream.read(info["datSpan"])).hexdigest()))
        return out


def header_size(path: Path) -> int:
    with fits.open(path) as hdul:
        return hdul[0].fileinfo()["datLoc"]


def fitsverify(path: Path) -> str:
    if shutil.which("fitsverify") is None:
        pytest.skip("fitsverify is not installed")
    run = subprocess.run(["fitsverify", "-q", str(path)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


@pytest.fixture
def product(tmp_path: Path) -> Path:
    return write_product(make_product_result(), tmp_path)


@pytest.fixture
def exposure(tmp_path: Path) -> Path:
    return make_exposure(tmp_path / "exp1.fits")


@pytest.fixture
def full_exposure(tmp_path: Path) -> Path:
    path = make_exposure(tmp_path / "exp3.fits", dither=3, free_cards=0)
    assert header_size(path) == BLOCK
    return path


# ------------------------------------------------------------------ the good path

def test_in_place_keywords_written_data_unchanged(product, exposure, capsys):
    digests, size, rest = data_digests(exposure), exposure.stat().st_size, exposure.read_bytes()[BLOCK:]
    assert main(["apply", str(product), str(exposure)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{exposure}: set QPRELEX = 0.9981234 (new); QPRELEXE = 0.0012 (new); HISTORY ")
    assert out.rstrip().endswith("[in place]")
    header = fits.getheader(exposure)
    assert header["QPRELEX"] == 0.9981234 and header["QPRELEXE"] == 0.0012
    assert header.comments["QPRELEX"] == "relative flux; corrected flux = flux / QPRELEX"
    assert header.comments["QPRELEXE"] == "1-sigma error of QPRELEX"
    history = list(header["HISTORY"])
    assert history[0].startswith("relphot ") and history[0].endswith("set QPRELEX/QPRELEXE on " + history[0][-20:])
    assert history[1] == f"from product {product.name}"
    assert header["OBS_ID"] == 1234 and header["PA_PNT"] == 10.0
    assert exposure.stat().st_size == size and exposure.read_bytes()[BLOCK:] == rest
    assert data_digests(exposure) == digests
    assert not journal_path(exposure).exists()
    fitsverify(exposure)


def test_full_header_grows_by_streamed_rewrite(product, full_exposure, capsys):
    digests, rest = data_digests(full_exposure), full_exposure.read_bytes()[BLOCK:]
    mode = 0o640
    full_exposure.chmod(mode)
    assert main(["apply", str(product), str(full_exposure)]) == 0
    assert "[rewriting the file (header grows 2880 -> 5760 bytes)]" in capsys.readouterr().out
    header = fits.getheader(full_exposure)
    assert header["QPRELEX"] == 0.97 and header["QPRELEXE"] == 0.0011
    assert header_size(full_exposure) == 2 * BLOCK
    assert full_exposure.read_bytes()[2 * BLOCK:] == rest
    assert data_digests(full_exposure) == digests
    assert full_exposure.stat().st_mode & 0o777 == mode
    assert sorted(p.name for p in full_exposure.parent.iterdir()) == sorted(
        [full_exposure.name, product.name])  # no temporary left
    fitsverify(full_exposure)


def test_reapply_updates_instead_of_duplicating(product, exposure):
    apply_product(make_product_result(), exposure, product_name=product.name, now=NOW)
    other = make_product_result()
    other.exposures[0].value, other.exposures[0].error = 1.01, None
    plan = apply_product(other, exposure, product_name="second.xml", now=NOW)
    assert plan.changes[:2] == ["QPRELEX 0.9981234 -> 1.01", "QPRELEXE removed (the product has no error)"]
    header = fits.getheader(exposure)
    assert header["QPRELEX"] == 1.01 and "QPRELEXE" not in header
    assert list(header.keys()).count("QPRELEX") == 1
    assert len(header["HISTORY"]) == 4 and header["HISTORY"][3] == "from product second.xml"
    fitsverify(exposure)


def test_dry_run_changes_nothing(product, exposure, full_exposure, capsys):
    before = sha(exposure), sha(full_exposure)
    assert main(["apply", str(product), str(exposure), str(full_exposure), "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{exposure}: would set QPRELEX = 0.9981234 (new); QPRELEXE = 0.0012 (new)")
    assert out[0].endswith("[in place]")
    assert out[1].startswith(f"{full_exposure}: would set QPRELEX = 0.97 (new)")
    assert out[1].endswith("[rewriting the file (header grows 2880 -> 5760 bytes)]")
    assert (sha(exposure), sha(full_exposure)) == before


def test_exposure_without_error_gets_no_qprelexe(tmp_path, product):
    path = make_exposure(tmp_path / "exp4.fits", dither=4)
    plan = apply_product(make_product_result(), path, product_name=product.name)
    assert plan.error is None
    header = fits.getheader(path)
    assert header["QPRELEX"] == 1.002 and "QPRELEXE" not in header


# ------------------------------------------------------------------ refusals

@pytest.mark.parametrize("kwargs,reason", [
    ({"obs_id": 999}, "OBS_ID is 999, the product is for observation 1234"),
    ({"band": "NIR_H"}, "FILTER is NIR_H, the product is for NIR_J"),
    ({"dither": 7}, "DITHOBS is 7, the product has no exposure 7 (it has 1, 2, 3, 4)"),
    ({"dither": 2}, "exposure 2 has no factor in the product: status NODATA (no valid pair)"),
], ids=["obs-id", "filter", "dither", "nodata"])
def test_mismatched_exposure_is_refused(tmp_path, product, exposure, capsys, kwargs, reason):
    bad = make_exposure(tmp_path / "bad.fits", **kwargs)
    before = sha(bad)
    assert main(["apply", str(product), str(exposure), str(bad)]) == 1
    captured = capsys.readouterr()
    assert captured.err == f"{bad}: refused: {reason}\n"
    assert captured.out.startswith(f"{exposure}: set QPRELEX")  # the good one still done
    assert sha(bad) == before


def test_missing_keyword_is_refused(tmp_path, product):
    path = make_exposure(tmp_path / "nokw.fits")
    with fits.open(path, mode="update") as hdul:
        del hdul[0].header["DITHOBS"]
    with pytest.raises(ApplyError, match=r"nokw.fits: primary header has no DITHOBS keyword"):
        apply_product(make_product_result(), path, product_name=product.name)


def test_read_only_file_is_refused(product, exposure, capsys):
    exposure.chmod(0o444)
    before = sha(exposure)
    assert main(["apply", str(product), str(exposure)]) == 1
    assert capsys.readouterr().err == f"{exposure}: refused: file is read-only\n"
    assert sha(exposure) == before


@pytest.mark.parametrize("content,reason", [
    (None, "no such file"),
    (b"", "not a FITS file (empty file, no primary header)"),
    (b"hello world\n" * 300, "not a FITS file (no SIMPLE = T card)"),
    (b"SIMPLE  =                    T" + b" " * 50, "not a FITS file (primary header truncated, no END card)"),
], ids=["missing", "empty", "text", "truncated"])
def test_unusable_files_are_refused(tmp_path, product, capsys, content, reason):
    path = tmp_path / "x.fits"
    if content is not None:
        path.write_bytes(content)
    assert main(["apply", str(product), str(path)]) == 1
    assert capsys.readouterr().err == f"{path}: refused: {reason}\n"
    assert main(["apply", str(product), str(path), "--dry-run"]) == 1
    assert capsys.readouterr().err == f"{path}: refused: {reason}\n"


def test_invalid_product_stops_apply(tmp_path, exposure, capsys):
    bad = tmp_path / "bad.xml"
    bad.write_text("<x/>")
    before = sha(exposure)
    assert main(["apply", str(bad), str(exposure)]) == 2
    assert capsys.readouterr().err.startswith(f"relphot apply: error: {bad}: line 1: Element 'x': No matching")
    assert sha(exposure) == before


def test_file_locked_by_another_process_is_refused(product, exposure):
    with open(exposure, "rb") as other:
        fcntl.flock(other.fileno(), fcntl.LOCK_EX)
        with pytest.raises(ApplyError, match="being modified by another process"):
            apply_product(make_product_result(), exposure, product_name=product.name)


# ------------------------------------------------------------------ interrupted writes

def test_failed_streamed_copy_leaves_original_intact(product, full_exposure, monkeypatch):
    before = sha(full_exposure)
    real = apply_module._copy_rest

    def half_then_fail(src, dst, offset, count):
        real(src, dst, offset, count // 2)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(apply_module, "_copy_rest", half_then_fail)
    with pytest.raises(ApplyError, match=r"exp3.fits: write failed, original left intact \(No space left"):
        apply_product(make_product_result(), full_exposure, product_name=product.name)
    assert sha(full_exposure) == before
    assert not [p for p in full_exposure.parent.iterdir() if p.name.endswith(".relphot-tmp")]


def test_interrupt_during_copy_leaves_original_intact(product, full_exposure, monkeypatch):
    before = sha(full_exposure)

    def interrupted(src, dst, offset, count):
        raise KeyboardInterrupt

    monkeypatch.setattr(apply_module, "_copy_rest", interrupted)
    with pytest.raises(KeyboardInterrupt):
        apply_product(make_product_result(), full_exposure, product_name=product.name)
    assert sha(full_exposure) == before
    assert not [p for p in full_exposure.parent.iterdir() if p.name.endswith(".relphot-tmp")]


def test_failed_in_place_write_restores_header(product, exposure, monkeypatch):
    before = sha(exposure)

    def torn(fd, data):
        os.pwrite(fd, data[:1000], 0)
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(apply_module, "_pwrite_header", torn)
    with pytest.raises(ApplyError, match="write failed, original header restored"):
        apply_product(make_product_result(), exposure, product_name=product.name)
    assert sha(exposure) == before
    assert not journal_path(exposure).exists()


_KILLED_CHILD = textwrap.dedent("""
    import os, signal, sys, time
    from pathlib import Path
    from relphot_core import apply as m
    from relphot_core.products import read_product
    product, exposure, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    if mode == "copy":
        real = m._copy_rest
        def slow(src, dst, offset, count):
            real(src, dst, offset, count // 2)
            dst.flush()
            Path(str(exposure) + ".halfway").touch()
            time.sleep(60)
        m._copy_rest = slow
    else:
        def torn(fd, data):  # half the new header reaches the disk, then the machine dies
            os.pwrite(fd, data[:1500], 0)
            os.kill(os.getpid(), signal.SIGKILL)
        m._pwrite_header = torn
    m.apply_product(read_product(product), exposure, product_name=product.name)
""")


def _run_child(product: Path, exposure: Path, mode: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1]))
    return subprocess.Popen([sys.executable, "-c", _KILLED_CHILD, str(product), str(exposure), mode], env=env)


def test_process_killed_during_streamed_rewrite_leaves_original_intact(product, full_exposure):
    before = sha(full_exposure)
    child = _run_child(product, full_exposure, "copy")
    marker = Path(str(full_exposure) + ".halfway")
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.05)
    assert marker.exists(), "the child never reached the copy"
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert sha(full_exposure) == before
    leftovers = [p for p in full_exposure.parent.iterdir() if p.name.endswith(".relphot-tmp")]
    assert len(leftovers) == 1  # a stray temporary, never the original
    # and the file still takes the keywords afterwards
    apply_product(make_product_result(), full_exposure, product_name=product.name)
    assert fits.getheader(full_exposure)["QPRELEX"] == 0.97


def test_torn_in_place_write_is_rolled_back_from_the_journal(product, exposure):
    before = sha(exposure)
    child = _run_child(product, exposure, "torn")
    assert child.wait(timeout=60) == -signal.SIGKILL
    assert sha(exposure) != before  # the header is torn...
    assert journal_path(exposure).exists()  # ...but the undo journal is there
    assert recover(exposure) is True
    assert sha(exposure) == before
    assert not journal_path(exposure).exists()
    assert recover(exposure) is False


def test_next_apply_recovers_first(product, exposure):
    digests = data_digests(exposure)
    child = _run_child(product, exposure, "torn")
    child.wait(timeout=60)
    plan = apply_product(make_product_result(), exposure, product_name=product.name)
    assert plan.changes[0] == "QPRELEX = 0.9981234 (new)"  # rolled back, then applied once
    header = fits.getheader(exposure)
    assert header["QPRELEX"] == 0.9981234 and len(header["HISTORY"]) == 2
    assert data_digests(exposure) == digests
    fitsverify(exposure)


def test_incomplete_journal_is_discarded(exposure):
    before = sha(exposure)
    journal_path(exposure).write_bytes(b"RELPHOT-UNDO-1\n\x00\x00")  # crash while writing the journal
    assert recover(exposure) is False
    assert sha(exposure) == before and not journal_path(exposure).exists()


def test_plan_is_pure(product, exposure):
    before = sha(exposure)
    plan = plan_apply(make_product_result(), exposure, product_name="p.xml", now=NOW)
    assert plan.in_place and plan.dither == 1 and len(plan.new_header) == BLOCK
    assert "HISTORY 'relphot" in plan.changes[-1]
    assert plan.changes[-1].endswith("on 2026-11-25T12:00:00Z from product p.xml'")
    assert sha(exposure) == before


@pytest.mark.parametrize("free_cards,in_place", [(None, True), (2, False)], ids=["in-place", "grows"])
def test_checksum_is_kept_valid(tmp_path, product, free_cards, in_place):
    import warnings

    raw = make_exposure(tmp_path / "raw.fits", free_cards=free_cards)
    path = tmp_path / "sum.fits"
    with fits.open(raw) as hdul:
        hdul.writeto(path, checksum=True)  # adds CHECKSUM and DATASUM to every HDU
    old = fits.getheader(path)["CHECKSUM"]
    digests = data_digests(path)
    plan = apply_product(make_product_result(), path, product_name=product.name)
    assert plan.in_place is in_place and "CHECKSUM updated" in plan.changes
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # astropy warns on a checksum mismatch
        with fits.open(path, checksum=True) as hdul:
            assert hdul[0].header["CHECKSUM"] != old and hdul[0].header["QPRELEX"] == 0.9981234
    assert data_digests(path) == digests
    fitsverify(path)


def test_duplicate_keywords_are_collapsed_and_odd_names_survive(tmp_path):
    path = make_exposure(tmp_path / "dup.fits")
    with fits.open(path, mode="update") as hdul:
        hdul[0].header.append(("QPRELEX", 0.5, "stale"))
        hdul[0].header.append(("QPRELEX", 0.6, "stale too"))
    plan = apply_product(make_product_result(), path, product_name="prodüct.xml")
    assert plan.changes[0] == "QPRELEX 0.5 -> 0.9981234"
    header = fits.getheader(path)
    assert list(header.keys()).count("QPRELEX") == 1 and header["QPRELEX"] == 0.9981234
    assert header["HISTORY"][1] == "from product prod?ct.xml"
    fitsverify(path)


def test_symlinked_exposure_is_updated_through_the_link(tmp_path, product):
    real = make_exposure(tmp_path / "real3.fits", dither=3, free_cards=0)  # forces the streamed rewrite
    link = tmp_path / "link3.fits"
    link.symlink_to(real)
    owner = (1234, 5678) if os.geteuid() == 0 else (real.stat().st_uid, real.stat().st_gid)
    os.chown(real, *owner)
    plan = apply_product(make_product_result(), link, product_name=product.name)
    assert not plan.in_place
    assert link.is_symlink() and fits.getheader(real)["QPRELEX"] == 0.97
    assert (real.stat().st_uid, real.stat().st_gid) == owner  # the rewritten file keeps its owner


def test_identity_keywords_come_from_the_configuration(tmp_path):
    import dataclasses

    from relphot_core.config import Keywords

    path = make_exposure(tmp_path / "renamed.fits")
    with fits.open(path, mode="update") as hdul:
        header = hdul[0].header
        header.rename_keyword("OBS_ID", "OBSID")
        header.rename_keyword("DITHOBS", "DITHER")
    keywords = Keywords(obs_id="OBSID", dither="DITHER")
    plan = plan_apply(make_product_result(), path, product_name="p.xml", now=NOW, keywords=keywords)
    assert plan.dither == 1 and plan.value == 0.9981234
    with pytest.raises(ApplyError, match="primary header has no OBS_ID keyword"):
        plan_apply(make_product_result(), path, product_name="p.xml", now=NOW)
    with pytest.raises(ApplyError, match=r"DITHER is 1, the product has no exposure 1"):
        plan_apply(dataclasses.replace(make_product_result(), exposures=[]), path, product_name="p.xml", now=NOW,
                   keywords=keywords)
