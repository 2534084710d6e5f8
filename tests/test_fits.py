"""relphot_core.fits, the FITS byte layer, against astropy.io.fits's reading and writing."""
import io
import re
import string

import numpy as np
import pytest
from astropy.io import fits as afits
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from relphot_core.fits import (BLOCK, CARD, MAX_HEADER_BLOCKS, FitsError, data_size, encode_checksum,
                               find_end_card, iter_hdus, ones_complement_sum, parse_header_cards,
                               read_primary_header)


def _file_bytes(*hdus: afits.hdu.base._BaseHDU, checksum: bool = False) -> bytes:
    out = io.BytesIO()
    afits.HDUList(list(hdus)).writeto(out, checksum=checksum)
    return out.getvalue()


def _three_hdus() -> bytes:
    primary = afits.PrimaryHDU(np.arange(12, dtype=">i2").reshape(3, 4))
    primary.header["OBS_ID"] = 1234
    table = afits.BinTableHDU.from_columns(
        [afits.Column(name="FLUX", format="E", array=np.arange(700, dtype=np.float32)),
         afits.Column(name="NAME", format="8A", array=np.array(["a"] * 700))], name="DET11")
    image = afits.ImageHDU(np.zeros((5, 7), dtype=">f8"), name="SCI")
    return _file_bytes(primary, table, image)


# ---------------------------------------------------------------- cards

keywords = st.text(alphabet=string.ascii_uppercase + string.digits + "_-", min_size=1, max_size=8).filter(
    lambda k: k not in ("END", "COMMENT", "HISTORY", "CONTINUE", "HIERARCH") and k.strip() == k)
values = st.one_of(
    st.booleans(),
    st.integers(min_value=-10**18, max_value=10**18),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.text(alphabet=string.printable[:95], max_size=60),
)


@settings(max_examples=300, deadline=None)
@given(cards=st.dictionaries(keywords, values, min_size=1, max_size=12))
def test_header_written_by_astropy_reads_back(cards):
    header = afits.Header()
    for key, value in cards.items():
        header[key] = value
    text = header.tostring()
    assert len(text) % BLOCK == 0
    read = {card.keyword: card.value for card in afits.Header.fromstring(text).cards}
    # Strings lose their trailing blanks (FITS: not significant); numbers as
    # astropy formats and reads them. (Strings are compared with what was
    # written: astropy 8 itself reads the card of "'/" back as "'".)
    expected = {key: value.rstrip() if isinstance(value, str) else read[key] for key, value in cards.items()}
    assert parse_header_cards(text) == expected
    assert parse_header_cards(text.encode("ascii")) == expected
    assert parse_header_cards([text[i:i + CARD] for i in range(0, len(text), CARD)]) == expected


def test_parse_stops_at_end_and_skips_cards_without_value():
    cards = ["A       =                    1", "COMMENT not a value", "HISTORY x", "B       = 'x''y'",
             "END", "C       =                    3"]
    assert parse_header_cards(cards) == {"A": 1, "B": "x'y"}


def test_find_end_card_only_at_a_card_boundary():
    header = b"X       = 'END     '".ljust(CARD) + b"END".ljust(CARD)
    assert find_end_card(header) == CARD
    assert find_end_card(b" " * 5 + b"END     " + b" " * 67) == -1
    assert find_end_card(b"A".ljust(CARD), 0) == -1


# ---------------------------------------------------------------- primary header

def test_primary_header_is_astropys():
    raw = _three_hdus()
    head = read_primary_header(io.BytesIO(raw))
    assert len(head) % BLOCK == 0 and raw.startswith(head)
    assert parse_header_cards(head)["OBS_ID"] == 1234
    assert len(head) == afits.PrimaryHDU(np.arange(12, dtype=">i2").reshape(3, 4)).header.tostring().__len__()


@pytest.mark.parametrize("data,kind", [
    (b"", "empty"),
    (b"hello" * 1000, "not-fits"),
    (b"SIMPLE  =                    T".ljust(CARD) * 10, "truncated-header"),
    (b"SIMPLE  =                    T".ljust(BLOCK) * (MAX_HEADER_BLOCKS + 1), "long-header"),
])
def test_primary_header_refusals(data, kind):
    with pytest.raises(FitsError) as info:
        read_primary_header(io.BytesIO(data))
    assert info.value.kind == kind and "\n" not in str(info.value)


# ---------------------------------------------------------------- HDU walk

def test_walk_finds_astropys_hdus():
    raw = _three_hdus()
    hdus = list(iter_hdus(raw))
    with afits.open(io.BytesIO(raw)) as hdul:
        expected = [(info["hdrLoc"], info["datLoc"], info["datSpan"]) for info in (h.fileinfo() for h in hdul)]
        assert [h.extname for h in hdus] == ["", "DET11", "SCI"]
        assert [h.xtension for h in hdus] == ["", "BINTABLE", "IMAGE"]
    assert [(h.header_start, h.data_start, -(-h.data_size // BLOCK) * BLOCK) for h in hdus] == expected
    assert [h.index for h in hdus] == [0, 1, 2]
    assert hdus[1].data_size == 700 * 12 and hdus[-1].next_start == len(raw)


def test_walk_accepts_trailing_padding_and_refuses_junk():
    raw = _three_hdus()
    assert len(list(iter_hdus(raw + b"\0" * BLOCK))) == 3
    with pytest.raises(FitsError, match=r"^damaged FITS structure: 8 bytes after HDU 2 are not an extension"):
        list(iter_hdus(raw + b"junkjunk"))


def test_walk_names_the_truncated_hdu():
    raw = _three_hdus()
    hdus = list(iter_hdus(raw))
    with pytest.raises(FitsError, match=r"^file truncated: HDU 1 ends beyond the end of the file") as info:
        list(iter_hdus(raw[:hdus[1].data_start + 10]))
    assert info.value.kind == "truncated-data"
    with pytest.raises(FitsError, match=r"^file truncated inside the header of HDU 2"):
        list(iter_hdus(raw[:hdus[2].header_start + 200]))
    with pytest.raises(FitsError, match=r"^file truncated inside its primary header"):
        list(iter_hdus(raw[:400]))


@pytest.mark.parametrize("header,words", [
    ({"NAXIS": 0}, "lacks its BITPIX keyword"),
    ({"BITPIX": 8, "NAXIS": 1}, "lacks its NAXIS1 keyword"),
    ({"BITPIX": 12, "NAXIS": 0}, "impossible size (BITPIX 12"),
    ({"BITPIX": 8, "NAXIS": 1, "NAXIS1": -3}, "impossible size"),
    ({"BITPIX": 8, "NAXIS": 1, "NAXIS1": 2.5}, "impossible size"),
    ({"BITPIX": 8, "NAXIS": 1000}, "impossible size"),
    ({"BITPIX": "\n 16", "NAXIS": 0}, "impossible size (BITPIX '\\n 16', NAXIS 0, PCOUNT 0, GCOUNT 1)"),
])
def test_impossible_sizes(header, words):
    with pytest.raises(FitsError, match=re.escape(words)) as info:
        data_size(header, 4)
    assert info.value.kind == "bad-size" and "HDU 4" in str(info.value) and "\n" not in str(info.value)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cut=st.integers(min_value=1, max_value=20000), junk=st.binary(max_size=40))
@example(cut=90, junk=b"\x00\n")  # BITPIX reads "\n  16": the reason still one line
def test_any_damaged_file_is_walked_or_refused_as_fits_error(cut, junk):
    raw = _three_hdus()
    damaged = raw[:cut] + junk + raw[cut + len(junk):] if cut < len(raw) else raw + junk
    try:
        hdus = list(iter_hdus(damaged))
    except FitsError as exc:
        assert "\n" not in exc.reason and exc.kind
    else:
        assert all(h.data_end <= len(damaged) for h in hdus)


# ---------------------------------------------------------------- checksum

def test_checksum_of_astropy_written_hdus():
    raw = _file_bytes(afits.PrimaryHDU(np.arange(100, dtype=">i4")),
                      afits.ImageHDU(np.ones((3, 3), dtype=">f4")), checksum=True)
    for hdu in iter_hdus(raw):
        unit = raw[hdu.header_start:hdu.next_start]
        assert ones_complement_sum(unit) == 0xFFFFFFFF  # -0: the HDU verifies
        stored = hdu.header["CHECKSUM"]
        where = unit.index(b"CHECKSUM= '") + 11
        zeroed = unit[:where] + b"0" * 16 + unit[where + 16:]
        assert encode_checksum(~ones_complement_sum(zeroed) & 0xFFFFFFFF) == stored


@given(value=st.integers(min_value=0, max_value=2**32 - 1))
def test_checksum_encoding_is_printable_and_sums_back(value):
    encoded = encode_checksum(value)
    assert len(encoded) == 16 and all(c.isalnum() for c in encoded)
    # Unrotated by one character, its 4 big-endian words add up to the value
    # plus the ASCII offset 0x30 in each of the 4 bytes of each word (appendix J).
    total = value + 4 * 0x30303030
    while total >> 32:
        total = (total & 0xFFFFFFFF) + (total >> 32)
    assert ones_complement_sum((encoded[1:] + encoded[0]).encode("ascii")) == total
