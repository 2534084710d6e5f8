"""The XML product DpdNirRelPhotoExpCalibration: XSD rules, round trip,
hostile input, and the export / validate / import command line."""
from __future__ import annotations

import math
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from relphot_core.cli import main
from relphot_core.config import Config
from relphot_core.errors import ProductError
from relphot_core.products import (
    NAMESPACE,
    mjd_to_timestamp,
    product_bytes,
    product_filename,
    read_product,
    schema_path,
    timestamp_to_mjd,
    validate_product,
    write_product,
)
from relphot_core.results import ExposureFactor, ObservationResult

CREATED = datetime(2026, 3, 4, 5, 6, 7, 891234, tzinfo=timezone.utc)


def make_result(obs_id: int = 1234, band: str = "NIR_J") -> ObservationResult:
    """A hand-built result with every status, a NODATA exposure among them."""
    return ObservationResult(
        obs_id=obs_id, filter=band, method="median",
        exposures=[
            ExposureFactor(1, 0.9981234, 0.0012, -2.5 * math.log10(0.9981234), "OK", n_pairs=3),
            ExposureFactor(2, None, None, None, "NODATA", reason="no valid pair"),
            ExposureFactor(3, 0.97, 0.001, -2.5 * math.log10(0.97), "FAIL", reason="|QPRELEX-1| > 0.015"),
            ExposureFactor(4, 1.00712345678901, None, -2.5 * math.log10(1.00712345678901), "WARN"),
        ],
        parameters=Config().parameters(), software_version="0.1.0", created=CREATED,
        mjd_start=61000.1234567, mjd_end=61000.1456789, ra_pointing=150.125, dec_pointing=2.25,
        pa_pointing=None, input_digest="sha256:abc",
    )


@pytest.fixture
def product(tmp_path: Path) -> Path:
    return write_product(make_result(), tmp_path)


# ------------------------------------------------------------------ writing

def test_round_trip_keeps_values_statuses_and_metadata(tmp_path):
    result = make_result()
    path = tmp_path / "p.xml"
    path.write_bytes(product_bytes(result))
    back = read_product(path)
    assert (back.obs_id, back.filter, back.method) == (1234, "NIR_J", "median")
    assert [e.exposure for e in back.exposures] == [1, 2, 3, 4]
    for got, want in zip(back.exposures, result.exposures):
        assert got.status == want.status
        assert got.value == want.value  # exact: shortest round-trip decimal
        assert got.error == want.error
        if want.value is not None:
            assert got.mag_offset == pytest.approx(want.mag_offset, abs=1e-12)
    assert back.exposure(2).reason == "no valid pair"
    assert back.exposure(3).reason == "|QPRELEX-1| > 0.015"
    assert back.mjd_start == pytest.approx(result.mjd_start, abs=1e-3 / 86400)
    assert back.mjd_end == pytest.approx(result.mjd_end, abs=1e-3 / 86400)
    assert back.parameters == result.parameters
    assert back.software_version == "0.1.0"
    assert back.input_digest == "sha256:abc"
    assert (back.ra_pointing, back.dec_pointing, back.pa_pointing) == (150.125, 2.25, None)
    assert back.created == datetime(2026, 3, 4, 5, 6, 7, 891000, tzinfo=timezone.utc)
    assert back.pairs == back.detectors == back.samples == []


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.tuples(st.floats(1e-9, 1e6, allow_subnormal=False),
                                 st.one_of(st.none(), st.floats(0, 10, allow_subnormal=False)),
                                 st.sampled_from(["OK", "WARN", "FAIL", "NODATA"])),
                       min_size=1, max_size=12),
       obs_id=st.integers(0, 2**31 - 1), band=st.sampled_from(["NIR_Y", "NIR_J", "NIR_H"]))
def test_round_trip_is_exact_for_any_values(tmp_path_factory, values, obs_id, band):
    result = make_result(obs_id, band)
    result.exposures = [ExposureFactor(k + 1, None if status == "NODATA" else value,
                                       None if status == "NODATA" else error, None, status)
                        for k, (value, error, status) in enumerate(values)]
    path = tmp_path_factory.mktemp("rt") / "p.xml"
    path.write_bytes(product_bytes(result))
    back = read_product(path)
    assert (back.obs_id, back.filter) == (obs_id, band)
    assert [(e.exposure, e.value, e.error, e.status) for e in back.exposures] == [
        (e.exposure, e.value, e.error, e.status) for e in result.exposures]


def test_nodata_exposure_has_no_value_and_a_flag():
    root = etree.fromstring(product_bytes(make_result()))
    factors = root.findall("Data/CorrectionFactorList/CorrectionFactor")
    assert len(factors) == 4
    nodata = factors[1]
    assert nodata.find("Value") is None and nodata.find("Error") is None
    assert nodata.findtext("NoData") == "no valid pair"
    flags = root.findall("QualityFlags/CorrectionFactorFlag")
    assert [(f.get("exposure"), f.get("status"), f.get("flagged")) for f in flags] == [
        ("1", "OK", "false"), ("2", "NODATA", "true"), ("3", "FAIL", "true"), ("4", "WARN", "true")]
    assert flags[0].get("minLimit") == "0.985" and flags[0].get("maxLimit") == "1.015"
    assert root.findtext("Header/AutomatedValidationStatus") == "INVALID"
    assert root.findtext("Header/ProductNotifiedToBeChecked") == "TOBECHECKED"


def test_header_fields_in_order_and_parameters_complete():
    root = etree.fromstring(product_bytes(make_result(), purpose="TEST", header={"ProdSDC": "SDC-FR"}))
    assert root.tag == f"{{{NAMESPACE}}}DpdNirRelPhotoExpCalibration"
    assert [child.tag for child in root] == ["Header", "Data", "QualityFlags", "Parameters"]
    header = root.find("Header")
    assert [c.tag for c in header] == [
        "ProductId", "ProductType", "SoftwareName", "SoftwareRelease", "EuclidPipelineSoftwareRelease",
        "ProdSDC", "DataSetRelease", "Purpose", "PlanId", "PPOId", "PipelineDefinitionId", "PpoStatus",
        "ManualValidationStatus", "ProductNotifiedToBeChecked", "AutomatedValidationStatus",
        "ExpirationDate", "ToBePublished", "Published", "Curator", "CreationDate"]
    assert header.findtext("Purpose") == "TEST" and header.findtext("ProdSDC") == "SDC-FR"
    assert header.findtext("CreationDate") == "2026-03-04T05:06:07.891Z"
    keys = {p.findtext("Key"): p for p in root.iter("Parameter")}
    assert set(Config().parameters()) <= set(keys)
    assert keys["relphot.method"].findtext("StringValue") == "median"
    assert keys["relphot.software_version"].findtext("StringValue") == "0.1.0"
    assert keys["matching.radius_arcsec"].findtext("Unit") == "arcsec"
    assert all(p.findtext("Description") for p in keys.values())


def test_all_ok_product_is_valid_and_not_to_be_checked():
    result = make_result()
    result.exposures = [e for e in result.exposures if e.status == "OK"]
    root = etree.fromstring(product_bytes(result))
    assert root.findtext("Header/AutomatedValidationStatus") == "VALID"
    assert root.findtext("Header/ProductNotifiedToBeChecked") == "NOTTOBECHECKED"


def test_write_product_names_the_file_and_leaves_no_temporary(tmp_path):
    path = write_product(make_result(), tmp_path)
    assert path.name == "EUC_NIR_RELPHOT_001234_NIR_J_20260304T050607.xml" == product_filename(make_result())
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]
    validate_product(path)
    explicit = write_product(make_result(), tmp_path / "chosen.xml")
    assert explicit == tmp_path / "chosen.xml" and explicit.read_bytes() == path.read_bytes()


def test_inconsistent_result_is_refused_and_nothing_written(tmp_path):
    result = make_result()
    result.exposures[0].value = None  # status OK without a value
    with pytest.raises(ProductError, match=r"observation 1234 NIR_J: exposure 1 has status OK but no positive"):
        write_product(result, tmp_path)
    result = make_result()
    result.exposures[0].value = float("nan")
    with pytest.raises(ProductError, match="no positive finite value"):
        write_product(result, tmp_path)
    result = make_result()
    result.mjd_start = result.mjd_end = None
    with pytest.raises(ProductError, match="time span is unknown"):
        write_product(result, tmp_path)
    result = make_result(band="NIR_K")  # the schema refuses it before writing
    with pytest.raises(ProductError, match="product does not validate"):
        write_product(result, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_time_span_falls_back_to_the_exposures():
    result = make_result()
    result.mjd_start = result.mjd_end = None
    for k, item in enumerate(result.exposures):
        item.mjd_obs, item.exptime = 61000.0 + k * 0.01, 86.4
    root = etree.fromstring(product_bytes(result))
    assert root.findtext("Data/ValidityRange/TimestampStart") == mjd_to_timestamp(61000.0)
    assert root.findtext("Data/ValidityRange/TimestampEnd") == mjd_to_timestamp(61000.031)


def test_timestamps():
    assert mjd_to_timestamp(51544.5) == "2000-01-01T12:00:00.000Z"
    assert timestamp_to_mjd("2000-01-01T12:00:00.000Z") == 51544.5
    assert mjd_to_timestamp(60000.0 + 0.0006 / 86400) == "2023-02-25T00:00:00.001Z"
    assert mjd_to_timestamp(60000.0 - 0.0004 / 86400) == "2023-02-25T00:00:00.000Z"


def test_schema_is_installed_with_the_package():
    path = schema_path()  # the package's copy (a link to schemas/ in the source tree, a file when installed)
    assert path.is_file()
    assert path.read_bytes() == (Path(__file__).parents[1] / "schemas" / path.name).read_bytes()


# ------------------------------------------------------------------ the XSD, one rule per test

def _mutated(tmp_path: Path, old: str, new: str, count: int = 1) -> Path:
    text = product_bytes(make_result()).decode()
    assert old in text, old
    path = tmp_path / "broken.xml"
    path.write_text(text.replace(old, new, count))
    return path


def _lines_of(path: Path, needle: str) -> list[int]:
    return [number for number, line in enumerate(path.read_text().splitlines(), 1) if needle in line]


def _line_of(path: Path, needle: str) -> int:
    return _lines_of(path, needle)[0]


RULES = [
    # (id, old, new, marker line text, expected message fragment)
    ("wrong-namespace", NAMESPACE, "http://example.org/other", "DpdNirRelPhotoExpCalibration",
     "No matching global declaration available for the validation root"),
    ("bad-filter", "<Filter>NIR_J</Filter>", "<Filter>NIR_K</Filter>", "<Filter>",
     "Element 'Filter': [facet 'enumeration'] The value 'NIR_K' is not an element of the set"),
    ("negative-value", "<Value>0.97</Value>", "<Value>-0.97</Value>", "<Value>-0.97",
     "Element 'Value': [facet 'minExclusive'] The value '-0.97' must be greater than '0'"),
    ("zero-value", "<Value>0.97</Value>", "<Value>0</Value>", "<Value>0<",
     "Element 'Value': [facet 'minExclusive']"),
    ("exponent-value", "<Value>0.97</Value>", "<Value>9.7e-1</Value>", "<Value>9.7e-1",
     "Element 'Value': '9.7e-1' is not a valid value of the atomic type"),
    ("negative-error", "<Error>0.001</Error>", "<Error>-0.001</Error>", "<Error>-0.001",
     "Element 'Error': [facet 'minInclusive']"),
    ("exposure-zero", "<Exposure>3</Exposure>", "<Exposure>0</Exposure>", "<Exposure>0",
     "Element 'Exposure': '0' is not a valid value of the atomic type"),
    ("timestamp-no-z", "<TimestampStart>", "<TimestampStart>X", "<TimestampStart>",
     "Element 'TimestampStart'"),
    ("timestamp-no-millis", ".891Z</CreationDate>", "Z</CreationDate>", "<CreationDate>",
     "Element 'CreationDate': [facet 'pattern']"),
    ("timestamp-offset", ".891Z</CreationDate>", ".891+01:00</CreationDate>", "<CreationDate>",
     "Element 'CreationDate': [facet 'pattern']"),
    ("bad-purpose", "<Purpose>PRODUCTION</Purpose>", "<Purpose>FUN</Purpose>", "<Purpose>",
     "Element 'Purpose': [facet 'enumeration']"),
    ("bad-manual-validation", "<ManualValidationStatus>UNKNOWN<", "<ManualValidationStatus>MAYBE<",
     "<ManualValidationStatus>", "Element 'ManualValidationStatus': [facet 'enumeration']"),
    ("bad-notified", "<ProductNotifiedToBeChecked>TOBECHECKED<", "<ProductNotifiedToBeChecked>YES<",
     "<ProductNotifiedToBeChecked>", "Element 'ProductNotifiedToBeChecked': [facet 'enumeration']"),
    ("bad-product-type", "<ProductType>DpdNirRelPhotoExpCalibration<", "<ProductType>DpdOther<",
     "<ProductType>", "Element 'ProductType': [facet 'enumeration']"),
    ("negative-obs-id", "<ObservationId>1234<", "<ObservationId>-1234<", "<ObservationId>",
     "Element 'ObservationId': '-1234' is not a valid value"),
    ("bad-status", 'status="FAIL"', 'status="BAD"', 'status="BAD"',
     "attribute 'status': [facet 'enumeration']"),
    ("bad-flagged", 'flagged="false"', 'flagged="maybe"', 'flagged="maybe"',
     "attribute 'flagged': 'maybe' is not a valid value"),
    ("duplicate-exposure", "<Exposure>3</Exposure>", "<Exposure>1</Exposure>", "<Exposure>1</Exposure>",
     "Duplicate key-sequence ['1'] in key identity-constraint"),
    ("flag-without-factor", 'exposure="4"', 'exposure="5"', 'exposure="5"',
     "No match found for key-sequence ['5'] of keyref"),
    ("duplicate-parameter", "<Key>clipping.sigma</Key>", "<Key>matching.radius_arcsec</Key>",
     "<Key>matching.radius_arcsec</Key>", "Duplicate key-sequence ['matching.radius_arcsec']"),
    ("unknown-element", "<Curator>", "<Unexpected/><Curator>", "<Unexpected/>",
     "Element 'Unexpected': This element is not expected. Expected is ( Curator )"),
]


@pytest.mark.parametrize("old,new,marker,message", [r[1:] for r in RULES], ids=[r[0] for r in RULES])
def test_xsd_rule(tmp_path, old, new, marker, message):
    path = _mutated(tmp_path, old, new)
    with pytest.raises(ProductError) as info:
        validate_product(path)
    text = str(info.value)
    assert text.startswith(f"{path}: line ")
    assert message in text
    if marker != "DpdNirRelPhotoExpCalibration":
        # the line of the offending element (identity constraints: the start tag of the
        # element the selector picked, a few lines above the offending field)
        line = int(text.split("line ")[1].split(":")[0])
        assert any(0 <= marked - line <= 3 for marked in _lines_of(path, marker)), (line, text)


def _remove(tmp_path: Path, xpath: str) -> Path:
    root = etree.fromstring(product_bytes(make_result()))
    element = root.find(xpath)
    element.getparent().remove(element)
    path = tmp_path / "broken.xml"
    path.write_bytes(etree.tostring(root, pretty_print=True, xml_declaration=True, encoding="UTF-8"))
    return path


@pytest.mark.parametrize("xpath,message", [
    ("Header", "Element 'Data': This element is not expected. Expected is ( Header )"),
    ("Data/Filter", "Element 'ValidityRange': This element is not expected. Expected is ( Filter )"),
    ("Data/CorrectionFactorList/CorrectionFactor/Exposure", "Missing child element(s). Expected is ( Exposure )"),
    ("QualityFlags/CorrectionFactorFlag", "No match found for key-sequence ['1'] of keyref 'factorOfFlag'"),
    ("Parameters", "Missing child element(s). Expected is ( Parameters )"),
    ("Header/CreationDate", "Missing child element(s). Expected is ( CreationDate )"),
], ids=["missing-header", "missing-filter", "missing-exposure", "missing-flag", "missing-parameters",
        "missing-creation-date"])
def test_xsd_missing_element(tmp_path, xpath, message):
    path = _remove(tmp_path, xpath)
    with pytest.raises(ProductError, match=r"broken.xml: line \d+: ") as info:
        validate_product(path)
    assert message in str(info.value)


def test_xsd_wrong_order(tmp_path):
    root = etree.fromstring(product_bytes(make_result()))
    flags = root.find("QualityFlags")
    root.remove(flags)
    root.insert(1, flags)  # QualityFlags before Data
    path = tmp_path / "broken.xml"
    path.write_bytes(etree.tostring(root, pretty_print=True))
    with pytest.raises(ProductError, match=r"line 24: Element 'QualityFlags': This element is not expected. "
                                           r"Expected is \( Data \)"):
        validate_product(path)


def test_value_and_nodata_together_is_refused(tmp_path):
    path = _mutated(tmp_path, "<NoData>no valid pair</NoData>", "<Value>1</Value><NoData>x</NoData>")
    with pytest.raises(ProductError, match="Element 'NoData': This element is not expected"):
        validate_product(path)


def test_nodata_with_a_non_nodata_status_is_refused(tmp_path):
    path = _mutated(tmp_path, 'exposure="2" status="NODATA"', 'exposure="2" status="OK"')
    with pytest.raises(ProductError, match=r"line \d+: exposure 2 has no value but status OK"):
        read_product(path)
    path = _mutated(tmp_path, 'exposure="1" status="OK"', 'exposure="1" status="NODATA"')
    with pytest.raises(ProductError, match=r"exposure 1 has a value but status NODATA"):
        read_product(path)


def test_validity_range_reversed_is_refused(tmp_path):
    text = product_bytes(make_result()).decode()
    start = text.split("<TimestampStart>")[1].split("<")[0]
    end = text.split("<TimestampEnd>")[1].split("<")[0]
    text = text.replace(f"<TimestampStart>{start}", f"<TimestampStart>{end}").replace(
        f"<TimestampEnd>{end}", f"<TimestampEnd>{start}")
    path = tmp_path / "reversed.xml"
    path.write_text(text)
    with pytest.raises(ProductError, match="ValidityRange ends before it starts"):
        read_product(path)


# ------------------------------------------------------------------ hostile and broken files

def test_xxe_external_entity_is_refused_and_nothing_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    text = product_bytes(make_result()).decode().replace("<?xml version='1.0' encoding='UTF-8'?>", "")
    text = (f'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'
            + text.replace("<Curator>UNKNOWN</Curator>", "<Curator>&xxe;</Curator>"))
    path = tmp_path / "xxe.xml"
    path.write_text(text)
    with pytest.raises(ProductError) as info:
        read_product(path)
    assert "DOCTYPE/entity declarations are not allowed" in str(info.value)
    assert "TOP-SECRET" not in str(info.value)


def test_external_dtd_is_refused(tmp_path):
    text = product_bytes(make_result()).decode().replace(
        "<?xml version='1.0' encoding='UTF-8'?>",
        '<?xml version="1.0"?>\n<!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd">')
    path = tmp_path / "dtd.xml"
    path.write_text(text)
    with pytest.raises(ProductError, match="DOCTYPE/entity declarations are not allowed"):
        read_product(path)


def test_billion_laughs_is_refused_quickly(tmp_path):
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    path = tmp_path / "bomb.xml"
    path.write_text('<?xml version="1.0"?>\n<!DOCTYPE lolz [' + "".join(entities) + ']>\n<lolz>&lol9;</lolz>\n')
    start = time.perf_counter()
    with pytest.raises(ProductError, match=r"bomb.xml: line \d+: "):
        read_product(path)
    assert time.perf_counter() - start < 1.0


def test_huge_file_is_refused_unread(tmp_path, monkeypatch):
    path = tmp_path / "huge.xml"
    with open(path, "wb") as stream:
        stream.write(product_bytes(make_result()))
        stream.truncate(50 * 1024 * 1024)  # sparse: 50 MB without writing them
    import lxml.etree as lxml_etree

    def no_parse(*args, **kwargs):  # pragma: no cover - must not be reached
        raise AssertionError("a huge file was parsed")

    monkeypatch.setattr(lxml_etree, "fromstring", no_parse)
    with pytest.raises(ProductError, match=r"huge.xml: file is 52428800 bytes, over the 10485760 byte limit"):
        read_product(path)


@pytest.mark.parametrize("content,message", [
    (b"", "line 1: empty file"),
    (b"<a><b></a>", "line 1: not well-formed XML: Opening and ending tag mismatch"),
    (b"\x89PNG\r\n\x1a\n", "line 1: not well-formed XML"),
    (b"<?xml version='1.0'?>\n<x/>",
     "line 2: Element 'x': No matching global declaration available for the validation root"),
])
def test_broken_files(tmp_path, content, message):
    path = tmp_path / "bad.xml"
    path.write_bytes(content)
    with pytest.raises(ProductError) as info:
        validate_product(path)
    assert str(info.value).startswith(f"{path}: {message}")


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ProductError, match=r"nope.xml: no such file"):
        read_product(tmp_path / "nope.xml")
    with pytest.raises(ProductError, match="is a directory"):
        read_product(tmp_path)


# ------------------------------------------------------------------ command line

def test_cli_validate(tmp_path, product, capsys):
    bad = _mutated(tmp_path, "<Filter>NIR_J</Filter>", "<Filter>NIR_K</Filter>")
    assert main(["validate", str(product)]) == 0
    assert capsys.readouterr().out == f"{product}: valid\n"
    assert main(["validate", str(product), str(bad), str(tmp_path / "missing.xml")]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{product}: valid"
    assert out[1].startswith(f"{bad}: invalid: line {_line_of(bad, '<Filter>')}: Element 'Filter': [facet "
                             "'enumeration'] The value 'NIR_K' is not an element of the set")
    assert out[2] == f"{tmp_path / 'missing.xml'}: invalid: no such file"


def test_cli_hostile_files_are_refused_with_their_reason(tmp_path, capsys):
    xxe = tmp_path / "xxe.xml"
    xxe.write_text('<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<r>&x;</r>\n')
    huge = tmp_path / "huge.xml"
    with open(huge, "wb") as stream:
        stream.truncate(50 * 1024 * 1024)
    assert main(["validate", str(xxe), str(huge)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{xxe}: invalid: line 1: DOCTYPE/entity declarations are not allowed in a product",
        f"{huge}: invalid: file is 52428800 bytes, over the 10485760 byte limit; not read",
    ]
    url = f"sqlite:///{tmp_path / 'h.db'}"
    assert main(["import", str(xxe), str(huge), "--db", url]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [f"{xxe}: refused: line 1: DOCTYPE/entity declarations are not allowed in a product",
                   f"{huge}: refused: file is 52428800 bytes, over the 10485760 byte limit; not read"]
    assert not (tmp_path / "h.db").exists()


@pytest.fixture
def store_module():
    """relphot_core.store (skips the test when the store is not built)."""
    return pytest.importorskip("relphot_core.store")


def _compare(a: ObservationResult, b: ObservationResult) -> None:
    assert (a.obs_id, a.filter, a.method) == (b.obs_id, b.filter, b.method)
    assert [(e.exposure, e.status) for e in a.exposures] == [(e.exposure, e.status) for e in b.exposures]
    for x, y in zip(a.exposures, b.exposures):
        assert x.value == pytest.approx(y.value, rel=1e-12) if x.value is not None else y.value is None
        assert x.error == pytest.approx(y.error, rel=1e-12) if x.error is not None else y.error is None


def test_cli_import_refuses_bad_files_and_imports_good_ones(store_module, tmp_path, product, capsys):
    bad = tmp_path / "bad.xml"
    bad.write_text("<x/>")
    url = f"sqlite:///{tmp_path / 'b.db'}"
    assert main(["import", str(product), str(bad), "--db", url]) == 1
    captured = capsys.readouterr()
    assert captured.err == (f"{bad}: refused: line 1: Element 'x': No matching global declaration available for "
                            "the validation root.\n")
    assert captured.out == f"{product}: imported as run 1\n"
    with store_module.Store.open(url) as store:
        (got,) = list(store.iter_results())
    _compare(got, make_result())
    # the same product again: recognised, nothing added
    assert main(["import", str(product), "--db", url]) == 0
    assert "already stored" in capsys.readouterr().out


def test_cli_import_nothing_stored_when_all_refused(tmp_path, capsys):
    bad = tmp_path / "bad.xml"
    bad.write_text("<x/>")
    url = f"sqlite:///{tmp_path / 'none.db'}"
    assert main(["import", str(bad), "--db", url]) == 1
    assert not (tmp_path / "none.db").exists()


def test_cli_export_import_round_trip(store_module, tmp_path, capsys):
    first, second = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    results = [make_result(1234, "NIR_J"), make_result(1234, "NIR_H"), make_result(1300, "NIR_Y")]
    with store_module.Store.open(first) as store:
        for result in results:
            assert store.save_result(result) is not None
    out = tmp_path / "out"
    assert main(["export", "--db", first, "--out", str(out)]) == 0
    files = sorted(out.iterdir())
    assert [f.name for f in files] == sorted(product_filename(r) for r in results)
    assert main(["validate", *map(str, files)]) == 0
    assert main(["import", *map(str, files), "--db", second]) == 0
    with store_module.Store.open(second) as store:
        back = {(r.obs_id, r.filter): r for r in store.iter_results()}
    for result in results:
        _compare(back[result.obs_id, result.filter], result)
    # filters of export
    capsys.readouterr()
    assert main(["export", "--db", first, "--out", str(tmp_path / "o2"), "--obs-id", "1300"]) == 0
    assert [p.name for p in (tmp_path / "o2").iterdir()] == [product_filename(results[2])]
    assert main(["export", "--db", first, "--out", str(tmp_path / "o3"), "--filter", "NIR_H"]) == 0
    assert [p.name for p in (tmp_path / "o3").iterdir()] == [product_filename(results[1])]
    assert main(["export", "--db", first, "--out", str(tmp_path / "o4"), "--since", "2999-01-01"]) == 0
    assert list((tmp_path / "o4").iterdir()) == []


def test_cli_export_refuses_a_run_without_time_span_and_goes_on(store_module, tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    good, bad = make_result(1234), make_result(1235)
    bad.mjd_start = bad.mjd_end = None
    with store_module.Store.open(url) as store:
        store.save_result(good)
        store.save_result(bad)
    out = tmp_path / "out"
    assert main(["export", "--db", url, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "refused: observation 1235 NIR_J: cannot write a product: the observation's time span is unknown" in err
    assert err.rstrip().endswith("1 product written to " + str(out) + ", 1 refused")
    assert [p.name for p in out.iterdir()] == [product_filename(good)]


def test_cli_export_bad_database_url(store_module, tmp_path, capsys):
    code = main(["export", "--db", "nosuchdriver://x/y", "--out", str(tmp_path / "o")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("relphot export: error: ") and "nosuchdriver" in err


def test_end_to_end_simulate_compute_store_export_import(store_module, tmp_path, capsys):
    simulate = pytest.importorskip("relphot_core.simulate")
    paths, _ = simulate.simulate_season(tmp_path / "sim", n_observations=2, filters=("NIR_J",),
                                        sources_per_detector=300, bad_exposures=1)
    first, second = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    assert main(["compute", *map(str, paths), "--db", first, "--quiet", "--jobs", "1", "--no-samples"]) == 0
    out = tmp_path / "out"
    assert main(["export", "--db", first, "--out", str(out)]) == 0
    files = sorted(out.iterdir())
    assert len(files) == 2
    assert main(["validate", *map(str, files)]) == 0
    assert main(["import", *map(str, files), "--db", second]) == 0
    with store_module.Store.open(first) as a, store_module.Store.open(second) as b:
        original = {(r.obs_id, r.filter): r for r in a.iter_results()}
        copied = {(r.obs_id, r.filter): r for r in b.iter_results()}
    assert original.keys() == copied.keys()
    for key in original:
        _compare(copied[key], original[key])
        assert copied[key].parameters == original[key].parameters


def test_purposes_match_the_schema():
    from relphot_core.products import PURPOSES

    schema = etree.parse(str(schema_path()))
    xs = "{http://www.w3.org/2001/XMLSchema}"
    purpose = schema.find(f"{xs}simpleType[@name='purpose']")
    assert tuple(e.get("value") for e in purpose.iter(f"{xs}enumeration")) == PURPOSES


def test_review_state_goes_into_the_quality_flags_and_old_products_stay_valid(tmp_path):
    from relphot_core.reviews import ReviewState

    plain = product_bytes(make_result())
    assert b"reviewDecision" not in plain  # a product without reviews is what it was
    state = ReviewState("overruled", "ann smith", "satellite trail",
                        datetime(2026, 5, 6, 7, 8, 9, tzinfo=timezone.utc), "NODATA")
    data = product_bytes(make_result(), reviews={2: state})
    root = etree.fromstring(data)
    flags = {f.get("exposure"): f for f in root.findall("QualityFlags/CorrectionFactorFlag")}
    assert {k: flags["2"].get(k) for k in ("reviewDecision", "reviewer", "reviewCause", "reviewedAt",
                                           "reviewedStatus")} == {
        "reviewDecision": "overruled", "reviewer": "ann smith", "reviewCause": "satellite trail",
        "reviewedAt": "2026-05-06T07:08:09.000Z", "reviewedStatus": "NODATA"}
    assert flags["1"].get("reviewDecision") is None
    path = tmp_path / "p.xml"
    path.write_bytes(data)
    validate_product(path)
    _compare(read_product(path), make_result())  # a review is not part of the result read back
    path.write_bytes(data.replace(b'reviewDecision="overruled"', b'reviewDecision="maybe"'))
    with pytest.raises(ProductError, match="reviewDecision"):
        validate_product(path)


def test_cli_export_carries_the_review_and_drops_it_once_revoked(store_module, tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    with store_module.Store.open(url) as store:
        store.save_result(make_result(1234, "NIR_J"))
        batch = store.add_reviews([(1234, "NIR_J", 2)], "confirmed", "ann", "", cause="persistence")

    def flag_of_2(out) -> etree._Element:
        assert main(["export", "--db", url, "--out", str(out)]) == 0
        (path,) = out.iterdir()
        root = etree.parse(str(path)).getroot()
        return root.find("QualityFlags/CorrectionFactorFlag[@exposure='2']")

    flag = flag_of_2(tmp_path / "o1")
    assert (flag.get("reviewDecision"), flag.get("reviewer"), flag.get("reviewCause")) == (
        "confirmed", "ann", "persistence")
    with store_module.Store.open(url) as store:
        store.revoke_review_batch(batch, "bob")
    assert flag_of_2(tmp_path / "o2").get("reviewDecision") is None


def test_product_tree_is_what_product_bytes_validates_and_the_benchmark_runs(tmp_path):
    from relphot_core.products import product_tree

    result = make_result()
    tree = product_tree(result)
    assert etree.tostring(tree, xml_declaration=True, encoding="UTF-8", pretty_print=True) == product_bytes(result)
    # the products benchmark builds its unvalidated baseline with product_tree: it must keep running
    bench = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_products.py"
    run = subprocess.run([sys.executable, str(bench), "--products", "2", "--skip-apply"], capture_output=True,
                         text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "baseline A: build + serialise, unvalidated" in run.stdout


def test_cli_export_refuses_a_missing_store_and_writes_nothing(tmp_path, capsys):
    typo = tmp_path / "relphto.db"
    out = tmp_path / "out"
    assert main(["export", "--db", str(typo), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"relphot export: error: {typo}: no such store (relphot compute or relphot demo creates one)"]
    assert not typo.exists() and not out.exists()  # neither an empty store nor an output directory
    assert main(["export", "--db", f"sqlite:///{typo}", "--out", str(out)]) == 2
    assert not typo.exists() and not out.exists()
