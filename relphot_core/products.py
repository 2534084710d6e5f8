"""The XML data product ``DpdNirRelPhotoExpCalibration``.

One product per (observation, filter): the generic Euclid header, the
correction factor (QPRELEX) and its error (QPRELEXE) of every exposure, one
quality flag per exposure and every processing parameter.

Every product written is validated against
``schemas/DpdNirRelPhotoExpCalibration.xsd`` before it leaves this module, and
every product read is validated before it is believed. Reading is hardened:
a size limit, no DTD (any ``<!DOCTYPE``, hence any entity declaration, is
refused), no entity expansion, no network access.

An exposure without a value (status ``NODATA``) is written as a
``CorrectionFactor`` holding ``<NoData>reason</NoData>`` instead of
``Value``/``Error``, with a flag ``status="NODATA" flagged="true"``: never a
made-up 1.0.
"""
from __future__ import annotations

import math
import os
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
from lxml import etree

from . import __version__
from .atomic import atomic_write_bytes
from .config import Thresholds, parameter_docs
from .errors import ProductError
from .mjd import datetime_to_mjd, mjd_to_datetime
from .photometry import flux_ratio_to_mag
from .results import ExposureFactor, ObservationResult
from .reviews import ReviewState
from .status import OUT_OF_LIMITS, Status

NAMESPACE = "http://euclid.esa.org/schema/dpd/nir/relphotoexpcalibration"
"""Target namespace of the product's root element."""
ROOT = "DpdNirRelPhotoExpCalibration"
SCHEMA_NAME = f"{ROOT}.xsd"
MAX_BYTES = 10 * 1024 * 1024
"""Products larger than this are refused unread."""
EXPIRATION = "9999-12-31T23:59:59.999Z"
PURPOSES: tuple[str, ...] = ("UNKNOWN", "PRODUCTION", "DATA_RELEASE", "REPROCESSING", "TEST",
                             "INTERMEDIATE_DATA_RELEASE", "VALIDATION", "ON_THE_FLY", "QUICK_RELEASE")
"""The header's Purpose enumeration (as in the XSD)."""

_PREFIX = "relphot."
"""Parameter keys written by relphot itself (not processing configuration)."""

# Parameters written by relphot itself: key -> (description, unit). The
# processing parameters are described by their declaration in
# relphot_core.config (`parameter_description`).
_OWN_DESCRIPTIONS: dict[str, tuple[str, str]] = {
    _PREFIX + "method": ("Method that produced the factors", ""),
    _PREFIX + "software_version": ("Version of the relphot software", ""),
    _PREFIX + "input_digest": ("Digest of the inputs and parameters of the run", ""),
    _PREFIX + "ra_pointing": ("Pointing right ascension (RA_PNT)", "deg"),
    _PREFIX + "dec_pointing": ("Pointing declination (DEC_PNT)", "deg"),
    _PREFIX + "pa_pointing": ("Pointing position angle (PA_PNT)", "deg"),
}


@lru_cache(maxsize=1)
def _config_descriptions() -> dict[str, tuple[str, str]]:
    return {doc.key: (doc.doc, doc.unit or "") for doc in parameter_docs()}


def parameter_description(key: str) -> tuple[str, str]:
    """The description and unit a product gives a parameter.

    Parameters
    ----------
    key : str
        ``"section.name"`` of a configuration parameter (its text and unit
        are those declared in `relphot_core.config`, see
        `relphot_core.config.parameter_docs`), or a ``relphot.`` key of the
        run itself.

    Returns
    -------
    (str, str)
        The description and the unit (``""`` when it has none).

    Examples
    --------
    >>> parameter_description("matching.radius_arcsec")
    ('Radius of the one-to-one sky match of the sources of two exposures.', 'arcsec')
    """
    known = _OWN_DESCRIPTIONS.get(key) or _config_descriptions().get(key)
    if known:
        return known
    return "Processing parameter (not in this version's configuration)", ""


_HEADER_DEFAULTS: dict[str, str] = {
    "EuclidPipelineSoftwareRelease": "UNKNOWN",
    "ProdSDC": "UNKNOWN",
    "DataSetRelease": "UNKNOWN",
    "PlanId": "UNKNOWN",
    "PPOId": "UNKNOWN",
    "PipelineDefinitionId": "UNKNOWN",
    "PpoStatus": "UNKNOWN",
    "ManualValidationStatus": "UNKNOWN",
    "ToBePublished": "false",
    "Published": "false",
    "Curator": "UNKNOWN",
}


# ---------------------------------------------------------------- time stamps

def mjd_to_timestamp(mjd: float) -> str:
    """MJD (UTC, no leap-second smearing) -> ``YYYY-MM-DDThh:mm:ss.fffZ``."""
    return datetime_to_timestamp(mjd_to_datetime(mjd))


def timestamp_to_mjd(text: str) -> float:
    """Inverse of `mjd_to_timestamp` (millisecond precision)."""
    return datetime_to_mjd(_parse_timestamp(text))


def datetime_to_timestamp(moment: datetime) -> str:
    """A datetime (naive means UTC) -> ISO 8601 UTC with milliseconds and Z."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    moment = moment.astimezone(timezone.utc)
    millis = round(moment.microsecond / 1000)
    moment = moment.replace(microsecond=0) + timedelta(milliseconds=millis)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _parse_timestamp(text: str) -> datetime:
    """``YYYY-MM-DDThh:mm:ss.fffZ`` -> UTC datetime; ``T24:00:00.000Z`` (which
    xs:dateTime allows) is midnight of the next day.

    Raises
    ------
    ValueError
        Not such a time stamp, or beyond the year 9999.
    """
    day, sep, time = text.partition("T")
    if sep and time in ("24:00:00Z", "24:00:00.000Z"):
        try:
            return datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=timezone.utc) + timedelta(days=1)
        except OverflowError:
            raise ValueError(f"time stamp {text!r} is beyond the year 9999") from None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def _decimal(value: float) -> str:
    """Shortest exact positional (never exponential) form, as xs:decimal wants."""
    return np.format_float_positional(float(value), unique=True, trim="-")


# ---------------------------------------------------------------- the schema

def schema_path() -> Path:
    """Path of the installed XSD (``relphot_core/schemas`` -> ``schemas/``)."""
    return Path(str(resources.files("relphot_core") / "schemas" / SCHEMA_NAME))


@lru_cache(maxsize=1)
def _schema() -> etree.XMLSchema:
    path = schema_path()
    try:
        return etree.XMLSchema(etree.parse(str(path), _parser()))
    except (OSError, etree.XMLSyntaxError, etree.XMLSchemaParseError) as exc:
        raise ProductError(path, f"cannot load the product schema ({exc})") from None


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           huge_tree=False, remove_blank_text=True)


# ---------------------------------------------------------------- writing

def product_filename(result: ObservationResult) -> str:
    """``EUC_NIR_RELPHOT_{obs_id:06d}_{filter}_{run time yyyymmddThhmmss}.xml``."""
    created = _utc(result.created)
    return f"EUC_NIR_RELPHOT_{result.obs_id:06d}_{result.filter}_{created:%Y%m%dT%H%M%S}.xml"


def product_bytes(result: ObservationResult, *, purpose: str = "PRODUCTION",
                  header: Mapping[str, str] | None = None,
                  thresholds: Thresholds | None = None,
                  reviews: Mapping[int, ReviewState] | None = None) -> bytes:
    """Serialise one observation's result as a validated XML product.

    Parameters
    ----------
    result : ObservationResult
        The run to write. ``created`` becomes the CreationDate (so exporting
        the same run twice gives the same bytes).
    purpose : str, optional
        The header's Purpose (an enumeration of the schema).
    header : mapping, optional
        Overrides of other generic-header fields (e.g. ``{"ProdSDC": "SDC-FR"}``).
    thresholds : Thresholds, optional
        Gives the flags' FAIL band when ``result.parameters`` lacks
        ``thresholds.fail``; default `relphot_core.config.Thresholds`.
    reviews : mapping, optional
        Dither -> its latest valid review (`relphot_core.reviews.review_states`):
        written in the exposure's QualityFlags flag (``reviewDecision``,
        ``reviewer``, ``reviewCause``, ``reviewedAt``, ``reviewedStatus``).

    Returns
    -------
    bytes
        UTF-8 XML with declaration.

    Raises
    ------
    ProductError
        If the result is inconsistent (a value without a status, a NODATA
        exposure with a value...) or the product does not validate.
    """
    root = product_tree(result, purpose=purpose, header=header, thresholds=thresholds, reviews=reviews)
    schema = _schema()
    if not schema.validate(root):
        error = schema.error_log[0]
        raise ProductError(f"observation {result.obs_id} {result.filter}",
                           f"product does not validate: {error.message}")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def product_tree(result: ObservationResult, *, purpose: str = "PRODUCTION",
                 header: Mapping[str, str] | None = None,
                 thresholds: Thresholds | None = None,
                 reviews: Mapping[int, ReviewState] | None = None) -> etree._Element:
    """The product's XML tree, not yet validated against the XSD (the
    parameters and errors of `product_bytes`, which validates and
    serialises it; the benchmarks time the two apart)."""
    source = f"observation {result.obs_id} {result.filter}"
    root = etree.Element(etree.QName(NAMESPACE, ROOT), nsmap={"dpd": NAMESPACE})
    _add_header(root, result, purpose, header or {})
    _add_data(root, result, source)
    _add_flags(root, result, thresholds or Thresholds(), source, reviews or {})
    _add_parameters(root, result)
    return root


def write_product(result: ObservationResult, destination: str | os.PathLike, **options) -> Path:
    """Write a validated product atomically (temporary file, fsync, rename).

    Parameters
    ----------
    result : ObservationResult
    destination : path
        An existing directory (the name is `product_filename`) or a file path.
    **options
        Passed to `product_bytes`.

    Returns
    -------
    Path
        The file written.
    """
    destination = Path(destination)
    path = destination / product_filename(result) if destination.is_dir() else destination
    data = product_bytes(result, **options)
    return atomic_write_bytes(path, data, error=ProductError, reason="cannot write product")


TEMPORARY_PRODUCTS = ".EUC_*.xml.*.tmp"
"""Name pattern of `write_product`'s temporary files (see `remove_stale_temporaries`)."""


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrib: str) -> etree._Element:
    element = etree.SubElement(parent, tag, attrib)
    if text is not None:
        element.text = text
    return element


def _add_header(root, result: ObservationResult, purpose: str, overrides: Mapping[str, str]) -> None:
    created = _utc(result.created)
    statuses = {item.status for item in result.exposures}
    fields = dict(_HEADER_DEFAULTS)
    fields.update(
        ProductId=f"EUC_NIR_RELPHOT_{result.obs_id:06d}_{result.filter}_{created:%Y%m%dT%H%M%S.%f}"[:-3],
        ProductType=ROOT,
        SoftwareName="relphot",
        SoftwareRelease=result.software_version or __version__,
        Purpose=purpose,
        ProductNotifiedToBeChecked="NOTTOBECHECKED" if statuses <= {Status.OK} else "TOBECHECKED",
        AutomatedValidationStatus="INVALID" if statuses & {Status.FAIL, Status.NODATA} else "VALID",
        ExpirationDate=EXPIRATION,
        CreationDate=datetime_to_timestamp(created),
    )
    fields.update({key: str(value) for key, value in overrides.items()})
    header = _sub(root, "Header")
    for name in ("ProductId", "ProductType", "SoftwareName", "SoftwareRelease",
                 "EuclidPipelineSoftwareRelease", "ProdSDC", "DataSetRelease", "Purpose", "PlanId",
                 "PPOId", "PipelineDefinitionId", "PpoStatus", "ManualValidationStatus",
                 "ProductNotifiedToBeChecked", "AutomatedValidationStatus", "ExpirationDate",
                 "ToBePublished", "Published", "Curator", "CreationDate"):
        _sub(header, name, fields[name])


def _time_span(result: ObservationResult, source: str) -> tuple[float, float]:
    start, end = result.mjd_start, result.mjd_end
    mjds = [e.mjd_obs for e in result.exposures if e.mjd_obs is not None and math.isfinite(e.mjd_obs)]
    if start is None and mjds:
        start = min(mjds)
    if end is None and mjds:
        end = max(e.mjd_obs + (e.exptime or 0.0) / 86400.0 for e in result.exposures
                  if e.mjd_obs is not None and math.isfinite(e.mjd_obs))
    if start is None or end is None or not (math.isfinite(start) and math.isfinite(end)):
        raise ProductError(source, "cannot write a product: the observation's time span is unknown")
    if end < start:
        raise ProductError(source, f"time span ends (MJD {end}) before it starts (MJD {start})")
    return start, end


def _add_data(root, result: ObservationResult, source: str) -> None:
    start, end = _time_span(result, source)
    data = _sub(root, "Data")
    _sub(data, "Filter", result.filter)
    validity = _sub(data, "ValidityRange")
    _sub(validity, "Name", f"OBS_{result.obs_id}_{result.filter}")
    _sub(validity, "Type", "OBSERVATION")
    _sub(validity, "TimestampStart", mjd_to_timestamp(start))
    _sub(validity, "TimestampEnd", mjd_to_timestamp(end))
    _sub(data, "ObservationId", str(result.obs_id))
    factors = _sub(data, "CorrectionFactorList")
    for item in sorted(result.exposures, key=lambda e: e.exposure):
        factor = _sub(factors, "CorrectionFactor")
        if item.status == Status.NODATA:
            _sub(factor, "NoData", item.reason or "no valid pair")
        else:
            if item.value is None or not math.isfinite(item.value) or item.value <= 0:
                raise ProductError(source, f"exposure {item.exposure} has status {item.status} "
                                           f"but no positive finite value ({item.value})")
            _sub(factor, "Value", _decimal(item.value))
            if item.error is not None and math.isfinite(item.error):
                if item.error < 0:
                    raise ProductError(source, f"exposure {item.exposure} has a negative error")
                _sub(factor, "Error", _decimal(item.error))
        _sub(factor, "Exposure", str(item.exposure))


def is_flagged_factor(item: ExposureFactor) -> bool:
    """Whether an exposure factor carries a flag: a status other than OK,
    a flagged detector, or a disagreement with the global solution."""
    return item.status != Status.OK or item.detector_flag in OUT_OF_LIMITS or bool(item.crosscheck)


def _review_attributes(state: ReviewState | None) -> dict[str, str]:
    """The QualityFlags attributes of an exposure's latest valid review."""
    if state is None:
        return {}
    attrib = {"reviewDecision": state.decision, "reviewer": " ".join(state.reviewer.split())[:256]}
    if state.cause:
        attrib["reviewCause"] = state.cause
    if state.reviewed_at is not None:
        attrib["reviewedAt"] = datetime_to_timestamp(state.reviewed_at)
    if state.status:
        attrib["reviewedStatus"] = state.status
    return attrib


def _add_flags(root, result: ObservationResult, thresholds: Thresholds, source: str,
               reviews: Mapping[int, ReviewState]) -> None:
    try:
        fail = float(result.parameters.get("thresholds.fail", thresholds.fail))
    except ValueError:
        raise ProductError(source, "parameter thresholds.fail is not a number") from None
    flags = _sub(root, "QualityFlags")
    for item in sorted(result.exposures, key=lambda e: e.exposure):
        attrib = {
            "xpath": f"Data/CorrectionFactorList/CorrectionFactor[Exposure={item.exposure}]/Value",
            "minLimit": _decimal(1.0 - fail),
            "maxLimit": _decimal(1.0 + fail),
            "flagged": "true" if is_flagged_factor(item) else "false",
            "exposure": str(item.exposure),
            "status": item.status,
        }
        if item.reason:
            attrib["reason"] = item.reason
        if item.global_value is not None and math.isfinite(item.global_value) and item.global_value > 0:
            attrib["globalValue"] = _decimal(item.global_value)
        for name, value in (("crosscheck", item.crosscheck), ("collateral", item.collateral),
                            ("detectorFlag", item.detector_flag), ("detectorReason", item.detector_reason)):
            if value:
                attrib[name] = value
        attrib.update(_review_attributes(reviews.get(item.exposure)))
        _sub(flags, "CorrectionFactorFlag", **attrib)


def _add_parameters(root, result: ObservationResult) -> None:
    entries = {key: str(value) for key, value in result.parameters.items()}
    entries[_PREFIX + "method"] = result.method
    entries[_PREFIX + "software_version"] = result.software_version or __version__
    if result.input_digest:
        entries[_PREFIX + "input_digest"] = result.input_digest
    for name in ("ra_pointing", "dec_pointing", "pa_pointing"):
        value = getattr(result, name)
        if value is not None and math.isfinite(value):
            entries[_PREFIX + name] = repr(float(value))
    parameters = _sub(root, "Parameters")
    for key, value in entries.items():
        description, unit = parameter_description(key)
        parameter = _sub(parameters, "Parameter")
        _sub(parameter, "Key", key)
        _sub(parameter, "Description", description)
        _sub(parameter, "StringValue", value)
        _sub(parameter, "Unit", unit)


# ---------------------------------------------------------------- reading

def _load(path: str | os.PathLike) -> etree._ElementTree:
    """Read, size-check, parse (hardened) and schema-validate one product."""
    path = Path(path)
    try:
        with open(path, "rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            if size > MAX_BYTES:
                raise ProductError(path, f"file is {size} bytes, over the {MAX_BYTES} byte limit; not read")
            data = stream.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ProductError(path, "no such file") from None
    except IsADirectoryError:
        raise ProductError(path, "is a directory, not a product") from None
    except OSError as exc:
        raise ProductError(path, f"cannot read ({exc.strerror})") from None
    if len(data) > MAX_BYTES:
        raise ProductError(path, f"file is over the {MAX_BYTES} byte limit; not read")
    if not data.strip():
        raise ProductError(path, "line 1: empty file")
    try:
        tree = etree.ElementTree(etree.fromstring(data, _parser()))
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno else 1
        message = exc.msg.split(", line ")[0] if exc.msg else "not well-formed XML"
        raise ProductError(path, f"line {line}: not well-formed XML: {message}") from None
    docinfo = tree.docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise ProductError(path, "line 1: DOCTYPE/entity declarations are not allowed in a product")
    schema = _schema()
    if not schema.validate(tree):
        error = schema.error_log[0]
        raise ProductError(path, f"line {error.line}: {_clean(error.message)}")
    return tree


def _clean(message: str) -> str:
    """Drop the namespace noise lxml puts in schema messages."""
    return message.replace("{" + NAMESPACE + "}", "")


def validate_product(path: str | os.PathLike) -> None:
    """Check one product file against the XSD and relphot's consistency rules.

    Raises
    ------
    ProductError
        ``"FILE: line N: message"`` with the first error found.
    """
    read_product(path)


def read_product(path: str | os.PathLike) -> ObservationResult:
    """Read a validated product back into an `ObservationResult`.

    Pairs, detectors and samples are not in a product: empty lists.
    ``mag_offset`` is recomputed from the value. Exposure times and counts are
    not carried (None / 0).

    Raises
    ------
    ProductError
        If the file is missing, too large, hostile, not well formed, invalid
        against the schema or internally inconsistent.
    """
    path = Path(path)
    root = _load(path).getroot()
    try:
        return _result_of(path, root)
    except ProductError:
        raise
    except (ArithmeticError, ValueError, TypeError, KeyError, AttributeError) as exc:
        # The schema was met, yet a value cannot be used: still one line, never a traceback.
        raise ProductError(path, f"cannot be read: {type(exc).__name__}: {exc}") from None


def _timestamp(path: Path, element: etree._Element, name: str) -> datetime:
    child = element.find(name)
    try:
        return _parse_timestamp(child.text or "")
    except (ValueError, OverflowError) as exc:
        raise ProductError(path, f"line {child.sourceline}: {name} {child.text!r} is not a usable time "
                                 f"({exc})") from None


def _positive(path: Path, element: etree._Element, text: str, what: str, *, zero: bool = False) -> float:
    """A decimal of the product as a float, refused when it is not finite
    and positive (or >= 0 with ``zero``) in double precision: xs:decimal has
    no bounds, so ``0.000...01`` would underflow to 0 and ``1000...0`` overflow."""
    value = float(text)
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        shown = text if len(text) <= 24 else f"{text[:12]}...{text[-8:]} ({len(text)} characters)"
        kind = "non-negative" if zero else "positive"
        raise ProductError(path, f"line {element.sourceline}: {what} {shown} is not a {kind} finite "
                                 f"number in double precision (it reads as {value})")
    return value


def _result_of(path: Path, root: etree._Element) -> ObservationResult:
    """`read_product` on a schema-valid document."""
    data = root.find("Data")
    validity = data.find("ValidityRange")
    start = datetime_to_mjd(_timestamp(path, validity, "TimestampStart"))
    end = datetime_to_mjd(_timestamp(path, validity, "TimestampEnd"))
    if end < start:
        raise ProductError(path, f"line {validity.sourceline}: ValidityRange ends before it starts")
    flags = {int(flag.get("exposure")): flag for flag in root.find("QualityFlags")}
    exposures = []
    for element in data.find("CorrectionFactorList"):
        dither = int(element.findtext("Exposure"))
        flag = flags[dither]  # the schema's keyrefs guarantee one flag per factor
        status = flag.get("status")
        nodata = element.find("NoData")
        if (nodata is not None) != (status == Status.NODATA):
            raise ProductError(path, f"line {element.sourceline}: exposure {dither} has "
                                     f"{'no value' if nodata is not None else 'a value'} but status {status}")
        value = error = offset = None
        if nodata is None:
            value = _positive(path, element.find("Value"), element.findtext("Value"), f"exposure {dither}: Value")
            text = element.findtext("Error")
            error = None if text is None else _positive(path, element.find("Error"), text,
                                                        f"exposure {dither}: Error", zero=True)
            offset = flux_ratio_to_mag(value)
        reason = flag.get("reason") or (nodata.text if nodata is not None and nodata.text else "")
        global_text = flag.get("globalValue")
        if global_text is not None:
            _positive(path, flag, global_text, f"exposure {dither}: globalValue")
        exposures.append(ExposureFactor(exposure=dither, value=value, error=error, mag_offset=offset,
                                        status=status, reason=reason,
                                        global_value=None if global_text is None else float(global_text),
                                        crosscheck=flag.get("crosscheck") or "",
                                        collateral=flag.get("collateral") or "",
                                        detector_flag=flag.get("detectorFlag") or "",
                                        detector_reason=flag.get("detectorReason") or ""))
    parameters = {p.findtext("Key"): p.findtext("StringValue") or "" for p in root.find("Parameters")}
    own = {key[len(_PREFIX):]: parameters.pop(key) for key in list(parameters) if key.startswith(_PREFIX)}
    header = root.find("Header")
    return ObservationResult(
        obs_id=int(data.findtext("ObservationId")),
        filter=data.findtext("Filter"),
        method=own.get("method", "unknown"),
        exposures=exposures,
        parameters=parameters,
        software_version=own.get("software_version") or header.findtext("SoftwareRelease"),
        created=_timestamp(path, header, "CreationDate"),
        mjd_start=start,
        mjd_end=end,
        ra_pointing=_float_or_none(own.get("ra_pointing")),
        dec_pointing=_float_or_none(own.get("dec_pointing")),
        pa_pointing=_float_or_none(own.get("pa_pointing")),
        input_digest=own.get("input_digest", ""),
    )


def _float_or_none(text: str | None) -> float | None:
    try:
        return None if text is None else float(text)
    except ValueError:
        return None
