"""Write a product's factor into exposure FITS headers.

``QPRELEX`` (the factor), ``QPRELEXE`` (its 1-sigma error) and a ``HISTORY``
card go into the PRIMARY header of each exposure whose ``OBS_ID``, ``FILTER``
and ``DITHOBS`` match the product. Only the primary header's bytes are ever
rewritten; everything after it (every data unit, every extension) is left or
copied byte for byte, and never loaded into memory.

Two ways of writing, chosen per file:

* **In place**, when the primary header's 2880-byte blocks have room for the
  new cards (blank cards, or the blank padding after ``END``). The header
  region keeps its exact length (unused room stays as blank cards), so no
  other byte of the file moves. Before touching the file, an *undo journal*
  ``.NAME.relphot-journal`` holding the old header bytes (with their length
  and SHA-256) is written and fsynced next to it; then the new header is
  written with one ``pwrite`` and fsynced; then the journal is removed.
  Guarantee: if the process is killed, the single small ``pwrite`` has either
  happened or not (the file holds the old or the new header). After a power
  loss or kernel crash the header region may be torn; the journal survives,
  and the next ``relphot apply`` (or `recover`) on that file restores the old
  header from it before doing anything else. The data units are never
  written in this mode.
* **Streamed rewrite**, when the header must grow: a temporary file in the
  same directory receives the new header and a raw chunked copy of the rest
  (``os.copy_file_range``, falling back to `shutil.copyfileobj`), is fsynced,
  checked for its expected size, given the original's permissions, and
  `os.replace`\\ d over the original. Any failure before the rename removes the
  temporary file and leaves the original untouched; a kill leaves at most a
  stray ``.NAME.*.relphot-tmp`` file, which the next ``relphot apply`` to
  that file removes (the temporary file is locked with ``flock`` while written, so
  only one no process holds is removed). (A replaced file is a new inode:
  hard links to the old one keep the old content.)

Before anything is written the file's whole structure is checked (every
header complete, every HDU's data within the file): a truncated or damaged
exposure is refused, untouched.

A file-level ``flock`` keeps two ``relphot apply`` runs off the same file.
"""
from __future__ import annotations

import errno
import fcntl
import glob
import hashlib
import logging
import math
import os
import shutil
import stat
import struct
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from astropy.io.fits import Card, Header

from . import __version__
from .atomic import AtomicFile, remove_stale_temporaries
from .config import Keywords
from .errors import ApplyError
from .fits import (BLANK_CARD, BLOCK, CARD, FitsError, encode_checksum, find_end_card, iter_hdus, mapped,
                   ones_complement_sum, padded, read_primary_header)
from .results import ObservationResult
from .status import Status

logger = logging.getLogger(__name__)

COPY_CHUNK = 16 * 1024 * 1024
JOURNAL_MAGIC = b"RELPHOT-UNDO-1\n"
_END = b"END".ljust(CARD)

COMMENTS = {
    "QPRELEX": "relative flux; corrected flux = flux / QPRELEX",
    "QPRELEXE": "1-sigma error of QPRELEX",
}


@dataclass
class ApplyPlan:
    """What `apply_product` will do (or did) to one file."""

    path: Path
    dither: int
    value: float
    error: float | None
    in_place: bool
    """True: header rewritten in place; False: streamed rewrite of the file."""
    old_header_size: int
    new_header: bytes = field(repr=False)
    changes: list[str]

    def describe(self) -> str:
        """One line: the keyword changes and the way of writing."""
        how = ("in place" if self.in_place else
               f"rewriting the file (header grows {self.old_header_size} -> {len(self.new_header)} bytes)")
        return f"{'; '.join(self.changes)} [{how}]"


def journal_path(path: str | os.PathLike) -> Path:
    """The undo journal of an in-place write to ``path``."""
    path = Path(path)
    return path.with_name(f".{path.name}.relphot-journal")


# ---------------------------------------------------------------- reading

_PRIMARY_REFUSALS = {
    "empty": "not a FITS file (empty file, no primary header)",
    "not-fits": "not a FITS file (no SIMPLE = T card)",
    "truncated-header": "not a FITS file (primary header truncated, no END card)",
}
"""How `apply` words a primary header it cannot read (its own words since
its first release; the other cases take `relphot_core.fits`'s)."""


def _read_primary_header(path: Path) -> bytes:
    """The raw primary header (whole 2880-byte blocks, END included)."""
    try:
        with open(path, "rb") as stream:
            raw = read_primary_header(stream)
    except FitsError as exc:
        raise ApplyError(path, _PRIMARY_REFUSALS.get(exc.kind, exc.reason)) from None
    except FileNotFoundError:
        raise ApplyError(path, "no such file") from None
    except IsADirectoryError:
        raise ApplyError(path, "is a directory, not a FITS file") from None
    except PermissionError:
        raise ApplyError(path, "permission denied") from None
    except OSError as exc:
        raise ApplyError(path, f"cannot read ({exc.strerror})") from None
    if raw[10:30].strip() != b"T":
        raise ApplyError(path, _PRIMARY_REFUSALS["not-fits"])
    return raw


def check_structure(path: str | os.PathLike) -> int:
    """Check that every HDU of a FITS file is whole: each header has its END
    card and each data unit lies within the file (headers only are read:
    `relphot_core.fits.iter_hdus` on the mapped file).

    Returns
    -------
    int
        The number of HDUs.

    Raises
    ------
    ApplyError
        Naming the HDU and the damage (``not touched``).
    """
    path = Path(path)
    try:
        with mapped(path) as data:
            return sum(1 for _ in iter_hdus(data))
    except FitsError as exc:
        raise ApplyError(path, f"{exc.reason}; not touched") from None
    except (OSError, ValueError) as exc:
        raise ApplyError(path, f"cannot read ({getattr(exc, 'strerror', None) or exc})") from None


def temporary_pattern(path: str | os.PathLike) -> str:
    """Glob of the temporary files a streamed rewrite of ``path`` makes."""
    return f".{glob.escape(Path(path).name)}.*.relphot-tmp"


def _parse(path: Path, raw: bytes) -> Header:
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise ApplyError(path, "primary header is not ASCII") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Header.fromstring(text)
    except Exception as exc:  # noqa: BLE001 - astropy raises several types on a bad header
        raise ApplyError(path, f"primary header cannot be parsed ({exc})") from None


# ---------------------------------------------------------------- planning

def _check_match(path: Path, header: Header, product: ObservationResult, keywords: Keywords):
    obs_key, filter_key, dither_key = keywords.obs_id, keywords.filter, keywords.dither
    for keyword in (obs_key, filter_key, dither_key):
        if keyword not in header:
            raise ApplyError(path, f"primary header has no {keyword} keyword")
    try:
        obs_id = int(str(header[obs_key]).strip())
    except ValueError:
        raise ApplyError(path, f"{obs_key} is {header[obs_key]!r}, not an integer") from None
    if obs_id != product.obs_id:
        raise ApplyError(path, f"{obs_key} is {obs_id}, the product is for observation {product.obs_id}")
    band = str(header[filter_key]).strip()
    if band != product.filter:
        raise ApplyError(path, f"{filter_key} is {band}, the product is for {product.filter}")
    try:
        dither = int(str(header[dither_key]).strip())
    except ValueError:
        raise ApplyError(path, f"{dither_key} is {header[dither_key]!r}, not an integer") from None
    try:
        factor = product.exposure(dither)
    except KeyError:
        known = ", ".join(str(e.exposure) for e in product.exposures)
        raise ApplyError(path, f"{dither_key} is {dither}, the product has no exposure {dither} "
                               f"(it has {known})") from None
    if factor.value is None or factor.status == Status.NODATA:
        reason = f" ({factor.reason})" if factor.reason else ""
        raise ApplyError(path, f"exposure {dither} has no factor in the product: status NODATA{reason}")
    return dither, factor


def _card_images(keyword: str, value, comment: str | None = None) -> list[bytes]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        image = Card(keyword, value, comment).image if comment else Card(keyword, value).image
    data = image.encode("ascii")
    return [data[i:i + CARD] for i in range(0, len(data), CARD)]


def plan_apply(product: ObservationResult, path: str | os.PathLike, *, product_name: str,
               now: datetime | None = None, keywords: Keywords = Keywords()) -> ApplyPlan:
    """Check one exposure against the product and compute its new header.

    Parameters
    ----------
    product : ObservationResult
        The product, as `relphot_core.products.read_product` returns it.
    path : path
        The exposure's main FITS file.
    product_name : str
        The product's file name, for the HISTORY card.
    now : datetime, optional
        Time stamp of the HISTORY card (default: now, UTC).
    keywords : Keywords, optional
        Header keywords of the exposure's identity (``OBS_ID``, ``FILTER``,
        ``DITHOBS`` by default).

    Returns
    -------
    ApplyPlan

    Raises
    ------
    ApplyError
        Missing, unreadable, read-only or non-FITS file; a header whose
        OBS_ID, FILTER or DITHOBS does not match the product; an exposure
        without a factor (NODATA).
    """
    path = Path(path)
    raw = _read_primary_header(path)
    header = _parse(path, raw)
    dither, factor = _check_match(path, header, product, keywords)
    check_structure(path)

    end = find_end_card(raw)
    cards = [raw[i:i + CARD] for i in range(0, end, CARD)]
    while cards and cards[-1] == BLANK_CARD:
        cards.pop()  # free room at the end of the header
    changes: list[str] = []

    def keyword_of(card: bytes) -> str:
        return card[:8].decode("ascii").rstrip()

    def set_card(keyword: str, value) -> None:
        new = _card_images(keyword, value, COMMENTS[keyword])
        where = [i for i, card in enumerate(cards) if keyword_of(card) == keyword]
        if where:
            changes.append(f"{keyword} {header[keyword]} -> {value}")
            for index in reversed(where[1:]):  # duplicates of the keyword go
                del cards[index]
            cards[where[0]:where[0] + 1] = new
        else:
            changes.append(f"{keyword} = {value} (new)")
            cards.extend(new)

    value = float(factor.value)
    error = None if factor.error is None or not math.isfinite(factor.error) else float(factor.error)
    set_card("QPRELEX", value)
    if error is not None:
        set_card("QPRELEXE", error)
    elif any(keyword_of(card) == "QPRELEXE" for card in cards):
        cards[:] = [card for card in cards if keyword_of(card) != "QPRELEXE"]
        changes.append("QPRELEXE removed (the product has no error)")
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    name = product_name.encode("ascii", "replace").decode("ascii")
    history = [f"relphot {__version__} set QPRELEX/QPRELEXE on {stamp}", f"from product {name}"]
    for line in history:
        cards.extend(_card_images("HISTORY", line))
    changes.append("HISTORY '" + " ".join(history) + "'")

    needed = (len(cards) + 1) * CARD
    in_place = needed <= len(raw)
    size = len(raw) if in_place else padded(needed)
    blocks = padded(needed)
    if blocks < size:
        # fewer blocks needed than the header has: keep the length, the spare
        # whole blocks stay as blank cards before END
        cards.extend([BLANK_CARD] * ((size - blocks) // CARD))
    new_header = b"".join(cards) + _END
    new_header += b" " * (size - len(new_header))
    if "CHECKSUM" in header:
        new_header = _update_checksum(path, header, raw, new_header)
        changes.append("CHECKSUM updated")
    check = _parse(path, new_header)
    if check["QPRELEX"] != value or len(new_header) % BLOCK:
        raise ApplyError(path, "internal error: the new header does not read back")  # pragma: no cover
    return ApplyPlan(path=path, dither=dither, value=value, error=error, in_place=in_place,
                     old_header_size=len(raw), new_header=new_header, changes=changes)


# ---------------------------------------------------------------- FITS checksum

def _update_checksum(path: Path, header: Header, old: bytes, new: bytes) -> bytes:
    """Recompute the primary HDU's CHECKSUM card for the new header bytes.

    The data are unchanged, so their sum is DATASUM when present (0 for an
    empty primary data unit); otherwise it is derived from the old header
    and its CHECKSUM, which only holds if that checksum was valid.
    """
    if "DATASUM" in header:
        try:
            datasum = int(str(header["DATASUM"]).strip())
        except ValueError:
            raise ApplyError(path, f"DATASUM is {header['DATASUM']!r}, not an integer") from None
    elif int(header.get("NAXIS", 0)) == 0:
        datasum = 0
    else:
        datasum = ~ones_complement_sum(old) & 0xFFFFFFFF
    where = next(i for i in range(0, len(new), CARD) if new[i:i + 8] == b"CHECKSUM")
    card = new[where:where + CARD]
    quote = card.index(b"'")
    zero = card[:quote + 1] + b"0" * 16 + card[quote + 17:]
    if card[quote + 17:quote + 18] != b"'":
        raise ApplyError(path, "CHECKSUM card is not a 16-character string; cannot update it")
    new = new[:where] + zero + new[where + CARD:]
    total = ones_complement_sum(new, datasum)
    encoded = encode_checksum(~total & 0xFFFFFFFF).encode("ascii")
    new = new[:where] + zero[:quote + 1] + encoded + zero[quote + 17:] + new[where + CARD:]
    if ones_complement_sum(new, datasum) != 0xFFFFFFFF:  # pragma: no cover - self-check
        raise ApplyError(path, "internal error: the new CHECKSUM does not verify")
    return new


# ---------------------------------------------------------------- writing

def _writable(path: Path) -> None:
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ApplyError(path, "no such file") from None
    if not stat.S_ISREG(mode):
        raise ApplyError(path, "not a regular file")
    if not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(path, os.W_OK):
        raise ApplyError(path, "file is read-only")


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_rest(src, dst, offset: int, count: int) -> None:
    """Copy ``count`` bytes of ``src`` from ``offset`` to the current end of ``dst``."""
    src.seek(offset)
    dst.flush()
    copied = 0
    try:
        while copied < count:
            n = os.copy_file_range(src.fileno(), dst.fileno(), min(COPY_CHUNK, count - copied))
            if n == 0:
                break
            copied += n
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP) or copied:
            raise
        src.seek(offset)
        dst.seek(0, os.SEEK_END)
        shutil.copyfileobj(src, dst, COPY_CHUNK)
        return
    if copied != count:
        raise OSError(errno.EIO, f"short copy ({copied} of {count} bytes)")


def _copy_owner_and_mode(source: Path, fd: int) -> None:
    info = os.stat(source)
    try:
        os.fchown(fd, info.st_uid, info.st_gid)
    except PermissionError:
        pass  # not allowed to give the file away: it stays ours, with the original mode
    os.fchmod(fd, stat.S_IMODE(info.st_mode))


def _rewrite(plan: ApplyPlan, stream) -> None:
    path = plan.path
    size = os.fstat(stream.fileno()).st_size
    with AtomicFile(path, suffix=".relphot-tmp", fsync_directory=True, error=ApplyError,
                    reason="write failed, original left intact") as out:
        out.write(plan.new_header)
        _copy_rest(stream, out, plan.old_header_size, size - plan.old_header_size)
        out.flush()
        expected = size - plan.old_header_size + len(plan.new_header)
        if os.fstat(out.fileno()).st_size != expected:
            raise OSError(errno.EIO, "the rewritten file has an unexpected size")
        _copy_owner_and_mode(path, out.fileno())


def _write_in_place(plan: ApplyPlan, stream) -> None:
    path = plan.path
    old = os.pread(stream.fileno(), plan.old_header_size, 0)
    journal = journal_path(path)
    record = (JOURNAL_MAGIC + struct.pack(">QQ", plan.old_header_size, os.fstat(stream.fileno()).st_size)
              + hashlib.sha256(old).digest() + old)
    try:
        fd = os.open(journal, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise ApplyError(path, f"cannot create the journal {journal.name} ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(record)
            out.flush()
            os.fsync(out.fileno())
        _fsync_dir(path.parent)
    except OSError as exc:
        journal.unlink(missing_ok=True)
        raise ApplyError(path, f"cannot write the journal ({exc.strerror}); file untouched") from None
    try:
        _pwrite_header(stream.fileno(), plan.new_header)
        os.fsync(stream.fileno())
    except OSError as exc:
        _restore(stream.fileno(), old)
        journal.unlink(missing_ok=True)
        raise ApplyError(path, f"write failed, original header restored ({exc.strerror})") from None
    journal.unlink()
    _fsync_dir(path.parent)


def _pwrite_header(fd: int, data: bytes) -> None:
    written = os.pwrite(fd, data, 0)
    if written != len(data):
        raise OSError(errno.EIO, "short write")


def _restore(fd: int, old: bytes) -> None:
    os.pwrite(fd, old, 0)
    os.fsync(fd)


def recover(path: str | os.PathLike) -> bool:
    """Roll back an interrupted in-place write from its undo journal.

    Returns
    -------
    bool
        True when the original header was restored from a journal; False
        when there was no journal, or only an incomplete one (written before
        the file was touched), which is then removed.
    """
    path = Path(path)
    journal = journal_path(path)
    try:
        record = journal.read_bytes()
    except FileNotFoundError:
        return False
    head = len(JOURNAL_MAGIC) + 16 + 32
    if len(record) >= head and record.startswith(JOURNAL_MAGIC):
        length, size = struct.unpack(">QQ", record[len(JOURNAL_MAGIC):len(JOURNAL_MAGIC) + 16])
        digest, old = record[head - 32:head], record[head:]
        if len(old) == length and hashlib.sha256(old).digest() == digest:
            try:
                if os.stat(path).st_size != size:
                    raise ApplyError(path, f"journal {journal.name} does not fit the file (size changed); "
                                           "not recovered, remove the journal by hand")
                fd = os.open(path, os.O_WRONLY)
            except OSError as exc:
                raise ApplyError(path, f"cannot recover from {journal.name} ({exc.strerror})") from None
            try:
                _restore(fd, old)
            finally:
                os.close(fd)
            journal.unlink()
            _fsync_dir(path.parent)
            logger.info("%s: interrupted apply rolled back from %s", path, journal.name)
            return True
    journal.unlink()  # incomplete journal: the file was never written
    return False


def apply_product(product: ObservationResult, path: str | os.PathLike, *, product_name: str,
                  dry_run: bool = False, now: datetime | None = None,
                  keywords: Keywords = Keywords()) -> ApplyPlan:
    """Check one exposure and write QPRELEX, QPRELEXE and HISTORY into it.

    Parameters
    ----------
    product : ObservationResult
    path : path
        The exposure FITS file.
    product_name : str
        The product file name (for the HISTORY card).
    dry_run : bool, optional
        Only check and plan; the file is not touched.
    now : datetime, optional
        Time stamp of the HISTORY card.
    keywords : Keywords, optional
        Header keywords of the exposure's identity.

    Returns
    -------
    ApplyPlan
        What was (or would be) changed.

    Raises
    ------
    ApplyError
        The file is refused (see `plan_apply`) or cannot be written; the
        original file is then intact.
    """
    path = Path(path)
    if dry_run:
        plan = plan_apply(product, path, product_name=product_name, now=now, keywords=keywords)
        if journal_path(path).exists():
            plan.changes.insert(0, f"the interrupted apply recorded in {journal_path(path).name} "
                                   "will be rolled back first")
        return plan
    if path.is_symlink():  # write the file the link points to, never replace the link itself
        path = Path(os.path.realpath(path))
    _writable(path)
    try:
        stream = open(path, "r+b")  # noqa: SIM115 - the `with stream:` below closes it
    except PermissionError:
        raise ApplyError(path, "file is read-only") from None
    except OSError as exc:
        raise ApplyError(path, f"cannot open ({exc.strerror})") from None
    with stream:
        try:
            fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ApplyError(path, "file is being modified by another process") from None
        recover(path)
        # Holding the file's lock: no other apply writes a temporary copy of it now.
        remove_stale_temporaries(path.parent, temporary_pattern(path))
        plan = plan_apply(product, path, product_name=product_name, now=now, keywords=keywords)
        if plan.in_place:
            _write_in_place(plan, stream)
        else:
            _rewrite(plan, stream)
    logger.info("%s: %s", path, plan.describe())
    return plan
