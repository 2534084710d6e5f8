"""The FITS byte layer: blocks, header cards, the HDU walk and the checksum.

Every reader of FITS bytes in relphot goes through this module: the
catalogue reader (`relphot_core.catalogs`: its direct FITS_LDAC path and the
structure check before fitsio), the batch header scan
(`relphot_core.inputs`) and the header writer (`relphot_core.apply`).

Damage is raised as `FitsError`, whose message is the reason without the
file; each caller turns it into its own error type naming the file
(``CatalogError``, ``ApplyError``). Its `~FitsError.kind` tells what went
wrong, for a caller that words some cases its own way.

Examples
--------
>>> header = parse_header_cards("NAXIS   =                    0".ljust(80) + "END".ljust(80))
>>> header
{'NAXIS': 0}
>>> parse_card_value("EXPTIME =                 87.2 / seconds")
87.2
"""
from __future__ import annotations

import functools
import math
import mmap
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

BLOCK = 2880
"""Bytes in a FITS block: every header and data unit fills whole blocks."""
CARD = 80
"""Bytes in a header card."""
MAX_HEADER_BLOCKS = 1000
"""A header longer than this many blocks (36,000 cards, 2.9 MB) is refused
as not FITS: no reader searches further for its END card."""
END_KEYWORD = b"END     "
"""The first 8 bytes of the card that ends a header."""
BLANK_CARD = b" " * CARD
BITPIX_VALUES = frozenset((8, 16, 32, 64, -32, -64))
"""The values BITPIX may take."""


class FitsError(ValueError):
    """FITS bytes that cannot be read; the message is the reason, without the file.

    Parameters
    ----------
    reason : str
        One line saying what is wrong (e.g. ``file truncated: HDU 3 ends
        beyond the end of the file (at byte 9000 of 8640)``).
    kind : str
        One of ``empty``, ``not-fits``, ``truncated-header``, ``long-header``,
        ``not-extension``, ``bad-size``, ``truncated-data``.
    """

    def __init__(self, reason: str, kind: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


# ------------------------------------------------------------------ cards

def parse_card_value(card: str) -> Any:
    """Value of one header card with a value indicator.

    Strings are unquoted (``''`` read as ``'``) with trailing blanks removed,
    ``T``/``F`` become booleans, integers and reals (``D`` exponents too)
    numbers; anything else is returned as its text.

    Parameters
    ----------
    card : str
        The card (80 characters, or fewer: the rest is taken as blank).

    Returns
    -------
    str, bool, int, float

    Examples
    --------
    >>> parse_card_value("FILTER  = 'NIR_H   '           / band")
    'NIR_H'
    >>> parse_card_value("OBJECT  = 'it''s'")
    "it's"
    >>> parse_card_value("SIMPLE  =                    T")
    True
    >>> parse_card_value("GAIN    =               2.0D+0")
    2.0
    """
    text = card[10:]
    if text.lstrip().startswith("'"):
        body = text.lstrip()[1:]
        end = body.find("'")
        while end != -1 and body[end + 1:end + 2] == "'":
            end = body.find("'", end + 2)
        return body[:end].replace("''", "'").rstrip() if end != -1 else body.rstrip()
    value = text.split("/", 1)[0].strip()
    if value in ("T", "F"):
        return value == "T"
    for convert in (int, float):
        try:
            return convert(value.replace("D", "E") if convert is float else value)
        except ValueError:
            continue
    return value


_END = ("END", None)


@functools.lru_cache(maxsize=8192)
def _parse_card(card: str) -> tuple[str, Any] | None:
    """(KEYWORD, value) of one card, `_END` for END, None without a value
    (cached: most cards repeat over the detectors and exposures)."""
    key = card[:8].strip().upper()
    if key == "END":
        return _END
    if key and card[8:10] == "= ":
        return key, parse_card_value(card.ljust(CARD))
    return None


def parse_header_cards(cards: Iterable[str | bytes] | str | bytes) -> dict[str, Any]:
    """Keyword values of FITS header cards (a header, or the cards of an ``LDAC_IMHEAD``).

    Parameters
    ----------
    cards : str, bytes or iterable of str or bytes
        Either one string of concatenated 80-character cards, or the cards.
        Reading stops at the END card.

    Returns
    -------
    dict
        ``{KEYWORD: value}`` for cards with a value indicator (``'= '``),
        keywords upper case; a repeated keyword keeps its last value.

    Examples
    --------
    >>> parse_header_cards(["OBS_ID  =                 1234 / id", "COMMENT hello", "END"])
    {'OBS_ID': 1234}
    """
    if isinstance(cards, (str, bytes)):
        text = cards.decode("ascii", "replace") if isinstance(cards, bytes) else cards
        cards = [text[i:i + CARD] for i in range(0, len(text), CARD)]
    header: dict[str, Any] = {}
    for card in cards:
        card = card.decode("ascii", "replace") if isinstance(card, bytes) else str(card)
        parsed = _parse_card(card)
        if parsed is _END:
            break
        if parsed is not None:
            header[parsed[0]] = parsed[1]
    return header


def find_end_card(data: Any, start: int = 0, stop: int | None = None) -> int:
    """Offset of the END card of the header starting at ``start``, or -1.

    Parameters
    ----------
    data : bytes-like
        The file's bytes (bytes, bytearray or mmap).
    start : int
        Where the header starts (a card boundary).
    stop : int, optional
        Search no further (default: `MAX_HEADER_BLOCKS` blocks after
        ``start``, or the end of ``data``).

    Examples
    --------
    >>> find_end_card(b"SIMPLE  =                    T".ljust(80) + b"END".ljust(80))
    80
    """
    if stop is None:
        stop = start + MAX_HEADER_BLOCKS * BLOCK
    stop = min(stop, len(data))
    end = data.find(END_KEYWORD, start, stop)
    while end != -1 and (end - start) % CARD:
        end = data.find(END_KEYWORD, end + 1, stop)
    return end


def padded(size: int) -> int:
    """``size`` rounded up to whole blocks.

    >>> padded(0), padded(1), padded(2880), padded(2881)
    (0, 2880, 2880, 5760)
    """
    return -(-size // BLOCK) * BLOCK


# ---------------------------------------------------------- primary header

def read_primary_header(stream: BinaryIO) -> bytes:
    """The raw primary header: whole blocks from the start of the file, END included.

    Only the header's blocks are read (at most `MAX_HEADER_BLOCKS`).

    Parameters
    ----------
    stream : binary file
        Open for reading, at its start.

    Raises
    ------
    FitsError
        ``empty``, ``not-fits`` (no ``SIMPLE =`` card first),
        ``truncated-header`` (the file ends before END) or ``long-header``.
    OSError
        When the file cannot be read.
    """
    chunks: list[bytes] = []
    for number in range(MAX_HEADER_BLOCKS):
        block = stream.read(BLOCK)
        if number == 0:
            if not block:
                raise FitsError("not a FITS file (empty file, no primary header)", "empty")
            if not block.startswith(b"SIMPLE  ="):
                raise FitsError("not a FITS file (no SIMPLE card at the start)", "not-fits")
        if len(block) < BLOCK:
            raise FitsError(_TRUNCATED_PRIMARY, "truncated-header")
        chunks.append(block)
        if find_end_card(block) != -1:
            return b"".join(chunks)
    raise FitsError(f"not a FITS file (no END card in the first {MAX_HEADER_BLOCKS} blocks)", "long-header")


_TRUNCATED_PRIMARY = "file truncated inside its primary header, or not FITS (no END card before the end of the file)"


# ---------------------------------------------------------------- HDU walk

@dataclass(frozen=True)
class Hdu:
    """Where one header-data unit lies in a file, and its header's values."""

    index: int
    """Number of the HDU, from 0 (the primary), as fitsio and astropy count."""
    header: dict[str, Any]
    """Keyword values (`parse_header_cards`)."""
    header_start: int
    """Offset of the header's first byte."""
    data_start: int
    """Offset of the data unit (the header's blocks end there)."""
    data_size: int
    """Bytes of data, without the padding to whole blocks."""

    @property
    def data_end(self) -> int:
        """Offset just after the last byte of data."""
        return self.data_start + self.data_size

    @property
    def next_start(self) -> int:
        """Offset of the next HDU (the data padded to whole blocks)."""
        return self.data_start + padded(self.data_size)

    @property
    def extname(self) -> str:
        """``EXTNAME``, stripped and upper case ('' without one)."""
        return str(self.header.get("EXTNAME", "")).strip().upper()

    @property
    def xtension(self) -> str:
        """``XTENSION`` (``BINTABLE``, ``IMAGE``...), '' for the primary HDU."""
        return str(self.header.get("XTENSION", "")).strip().upper()


def data_size(header: dict[str, Any], index: int = 0) -> int:
    """Bytes of an HDU's data unit from its header (FITS standard, eq. 2).

    Raises
    ------
    FitsError
        ``bad-size``: a size keyword missing, not a non-negative integer, or
        BITPIX not one of `BITPIX_VALUES`.

    Examples
    --------
    >>> data_size({"BITPIX": 8, "NAXIS": 2, "NAXIS1": 20, "NAXIS2": 3, "PCOUNT": 0, "GCOUNT": 1})
    60
    """
    try:
        bitpix = header["BITPIX"]
        naxis = header["NAXIS"]
        axes = [header[f"NAXIS{i}"] for i in range(1, naxis + 1)] if type(naxis) is int and naxis <= 999 else []
        pcount, gcount = header.get("PCOUNT", 0), header.get("GCOUNT", 1)
    except KeyError as exc:
        raise FitsError(f"damaged FITS structure: HDU {index} lacks its {exc.args[0]} keyword", "bad-size") from None
    values = [naxis, pcount, gcount, *axes]
    if bitpix not in BITPIX_VALUES or not all(type(v) is int and v >= 0 for v in values) or naxis > 999:
        shown = ", ".join(f"{key} {value if type(value) is int else repr(value)}" for key, value in
                          (("BITPIX", bitpix), ("NAXIS", naxis), ("PCOUNT", pcount), ("GCOUNT", gcount)))
        raise FitsError(f"damaged FITS structure: HDU {index} has an impossible size ({shown})", "bad-size")
    return abs(bitpix) // 8 * gcount * (pcount + (math.prod(axes) if naxis else 0))


def iter_hdus(data: Any) -> Iterator[Hdu]:
    """Walk the HDUs of a FITS file's bytes, checking its structure on the way.

    Checked: every header has its END card (within `MAX_HEADER_BLOCKS`
    blocks), its size keywords are possible, every data unit lies within the
    file, and nothing but blank or zero padding follows the last HDU. The
    data are never read.

    Parameters
    ----------
    data : bytes-like
        The whole file (bytes, or an `mmap` of it: only headers are touched).

    Yields
    ------
    Hdu
        In file order, the primary first. Each is yielded once its header
        and its data's extent are checked; damage further on is raised when
        the walk gets there.

    Raises
    ------
    FitsError
        Naming the HDU and the damage.

    Examples
    --------
    >>> primary = (b"SIMPLE  =                    T".ljust(80) + b"BITPIX  =                    8".ljust(80)
    ...            + b"NAXIS   =                    0".ljust(80) + b"END".ljust(80)).ljust(BLOCK)
    >>> [(hdu.index, hdu.data_start, hdu.data_size) for hdu in iter_hdus(primary)]
    [(0, 2880, 0)]
    """
    size = len(data)
    offset = index = 0
    while offset < size:
        if index and data[offset:offset + 9] != b"XTENSION=":
            if not data[offset:size].strip(b"\0 "):
                return  # trailing blank or zero padding
            raise FitsError(f"damaged FITS structure: {size - offset} bytes after HDU {index - 1} are not an "
                            "extension (no XTENSION card)", "not-extension")
        end = find_end_card(data, offset)
        if end == -1:
            if size - offset > MAX_HEADER_BLOCKS * BLOCK:
                raise FitsError(f"damaged FITS structure: HDU {index} has no END card in {MAX_HEADER_BLOCKS} "
                                "blocks", "long-header")
            raise FitsError(_TRUNCATED_PRIMARY if index == 0 else
                            f"file truncated inside the header of HDU {index} (no END card before the end of "
                            "the file)", "truncated-header")
        header = parse_header_cards(data[offset:end + CARD].decode("ascii", "replace"))
        start = offset + padded(end + CARD - offset)
        length = data_size(header, index)
        if start + length > size:
            raise FitsError(f"file truncated: HDU {index} ends beyond the end of the file "
                            f"(at byte {start + length} of {size})", "truncated-data")
        yield Hdu(index=index, header=header, header_start=offset, data_start=start, data_size=length)
        offset = start + padded(length)
        index += 1


@contextmanager
def mapped(path: str | os.PathLike[str]) -> Iterator[mmap.mmap]:
    """The file's bytes, memory-mapped read-only (nothing is read until used).

    Raises
    ------
    OSError
        When the file cannot be opened.
    ValueError
        When it is empty (an empty file cannot be mapped).
    """
    with open(path, "rb") as stream:
        data = mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        yield data
    finally:
        try:
            data.close()
        except BufferError:  # a numpy view still alive (an error path): closed when collected
            pass


# ---------------------------------------------------------------- checksum

def ones_complement_sum(data: bytes, start: int = 0) -> int:
    """32-bit ones' complement sum of big-endian words (FITS checksum
    convention, standard appendix J); ``data`` whole blocks (or any multiple
    of 4 bytes).

    Examples
    --------
    >>> hex(ones_complement_sum(b"\\xff\\xff\\xff\\xff\\x00\\x00\\x00\\x02"))
    '0x2'
    """
    total = start + int(np.frombuffer(data, dtype=">u4").sum(dtype=np.uint64))
    while total >> 32:
        total = (total & 0xFFFFFFFF) + (total >> 32)
    return total


_EXCLUDED = frozenset(range(0x3A, 0x41)) | frozenset(range(0x5B, 0x61))
"""Punctuation between digits and letters, never used in the encoding."""


def encode_checksum(value: int) -> str:
    """The 16-character ASCII encoding of a 32-bit checksum (FITS standard,
    appendix J), as written in a ``CHECKSUM`` card: the card's value is
    ``encode_checksum(~sum & 0xFFFFFFFF)`` so that the HDU then sums to -0.

    Examples
    --------
    >>> encode_checksum(0)
    '0000000000000000'
    """
    asc = [0] * 16
    for i in range(4):
        byte = (value >> (24 - 8 * i)) & 0xFF
        quotient, remainder = byte // 4 + 0x30, byte % 4
        ch = [quotient + remainder, quotient, quotient, quotient]
        check = True
        while check:
            check = False
            for j in (0, 2):
                while ch[j] in _EXCLUDED or ch[j + 1] in _EXCLUDED:
                    ch[j] += 1
                    ch[j + 1] -= 1
                    check = True
        for j in range(4):
            asc[4 * j + i] = ch[j]
    return "".join(chr(asc[(i + 15) % 16]) for i in range(16))
