"""Finding catalogues at survey scale and forming (observation, filter) sets
from their headers alone.

A batch may name 350,000 catalogues: more than a command line holds, and
far more than memory holds. So inputs are paths, directories (searched
recursively) and list files, streamed; each catalogue's identity (``OBS_ID``,
``FILTER``, ``DITHOBS``) is read from its first header blocks without
opening its tables (`scan_catalog`), and the sets are formed from those
identities (`form_sets`). Reading the tables is the workers' job, one set
at a time (`relphot_core.pipeline`).

A file is fingerprinted by its size, modification time (ns) and SHA-256
(`file_sha256`): size and time tell cheaply that it has not changed; the
hash tells safely that a touched file still holds the same bytes.
"""
from __future__ import annotations

import fnmatch
import hashlib
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .catalogs import MAX_DITHER, MAX_OBS_ID, check_file
from .config import FILTERS, Keywords
from .errors import CatalogError, MixedKeywordsError, RelphotError
from .fits import FitsError, parse_header_cards, read_primary_header

CATALOG_PATTERNS: tuple[str, ...] = ("*.cat.fits", "*.ldac.fits", "*_cat.fits", "*.cat", "*.ldac")
"""File names taken as catalogues when a directory is searched (case ignored)."""


@dataclass(frozen=True)
class CatalogFile:
    """One catalogue of a batch: where it is, its fingerprint, its identity."""

    path: str
    """Absolute path."""
    size: int
    mtime_ns: int
    obs_id: int
    filter: str
    dither: int
    sha256: str = ""
    """Filled by the worker that reads the file (empty until then)."""


@dataclass(frozen=True)
class ExposureSet:
    """The catalogues of one (observation, filter), sorted by dither."""

    obs_id: int
    filter: str
    files: tuple[CatalogFile, ...]

    @property
    def key(self) -> tuple[int, str]:
        return (self.obs_id, self.filter)

    @property
    def paths(self) -> list[str]:
        return [f.path for f in self.files]

    def label(self) -> str:
        """How messages name the set."""
        return f"observation {self.obs_id} {self.filter}"


@dataclass(frozen=True)
class SetFailure:
    """A set, or a catalogue, that could not be computed: a QC fact."""

    kind: str
    """One of `FAILURE_KINDS`."""
    path: str
    """The file the reason is about."""
    reason: str
    obs_id: int | None = None
    filter: str | None = None
    files: tuple[str, ...] = ()

    def message(self) -> str:
        """One line: the file and the reason."""
        where = f" ({self.label()})" if self.obs_id is not None else ""
        return f"{self.path}: {self.reason}{where}"

    def label(self) -> str:
        return f"observation {self.obs_id} {self.filter}" if self.obs_id is not None else "no observation"


FAILURE_KINDS: tuple[str, ...] = (
    "unreadable catalogue",
    "duplicated dither",
    "lone exposure",
    "mixed keywords",
    "computation error",
    "worker lost",
)
"""Why a set can fail, from the most to the least common."""


# ---------------------------------------------------------------- discovery
def _matches(name: str, patterns: Iterable[str]) -> bool:
    lower = name.lower()
    return any(fnmatch.fnmatchcase(lower, p.lower()) for p in patterns)


def _walk(directory: Path, patterns: tuple[str, ...]) -> Iterator[Path]:
    """Catalogues under a directory, depth first, in name order (reproducible)."""
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as exc:
        raise RelphotError(directory, f"cannot list the directory ({exc.strerror})") from None
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=True):
                yield from _walk(Path(entry.path), patterns)
            elif entry.is_file(follow_symlinks=True) and _matches(entry.name, patterns):
                yield Path(entry.path)
        except OSError:
            continue


def read_path_list(list_file: str) -> Iterator[Path]:
    """Paths from a list file, one a line (``-``: standard input).

    Blank lines and lines starting with ``#`` are skipped.

    Raises
    ------
    RelphotError
        If the list file cannot be read (naming it).
    """
    if list_file == "-":
        stream = sys.stdin
        close = False
    else:
        try:
            stream = open(list_file, encoding="utf-8")  # noqa: SIM115 - closed in the finally below
        except OSError as exc:
            raise RelphotError(list_file, f"cannot read the list of catalogues ({exc.strerror})") from None
        close = True
    number = 0  # lines read so far
    try:
        for number, line in enumerate(stream, 1):  # noqa: B007 - `number` is named in the error below
            text = line.strip()
            if text and not text.startswith("#"):
                yield Path(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise RelphotError(list_file, f"cannot read the list of catalogues after {number} line(s) ({exc})") from None
    finally:
        if close:
            stream.close()


def discover(
    paths: Iterable[str | Path],
    *,
    list_files: Iterable[str] = (),
    patterns: tuple[str, ...] = CATALOG_PATTERNS,
) -> Iterator[Path]:
    """Every catalogue named by files, directories and list files.

    Files are taken as given (a missing one is reported when scanned);
    directories are searched recursively for names matching ``patterns``;
    list files give one path a line (each may itself be a directory).
    A path named twice is given once.

    Raises
    ------
    RelphotError
        For a directory holding no catalogue, or an unreadable list file.
    """
    seen: set[str] = set()

    def sources() -> Iterator[Path]:
        yield from (Path(p) for p in paths)
        for list_file in list_files:
            yield from read_path_list(list_file)

    for path in sources():
        if path.is_dir():
            found = 0
            for item in _walk(path, patterns):
                found += 1
                key = os.path.abspath(item)
                if key not in seen:
                    seen.add(key)
                    yield item
            if not found:
                raise RelphotError(path, f"directory holds no catalogue (no file named {' '.join(patterns)})")
        else:
            key = os.path.abspath(path)
            if key not in seen:
                seen.add(key)
                yield path


# ------------------------------------------------------------------ headers
def _identity_from(
    path: Path, headers: list[Mapping[str, Any]], keywords: Keywords, overrides: Mapping[str, Any]
) -> tuple[int, str, int] | None:
    """(obs_id, filter, dither) from the first header that has them, or None."""
    values: dict[str, Any] = {}
    for name, key in (("obs_id", keywords.obs_id), ("filter", keywords.filter), ("dither", keywords.dither)):
        if overrides.get(name) is not None:
            values[name] = overrides[name]
            continue
        found = [h[key.upper()] for h in headers if h.get(key.upper()) not in (None, "")]
        if not found:
            return None
        distinct = {str(v).strip().upper() for v in found}
        if len(distinct) > 1:
            raise MixedKeywordsError(path, f"mixed keywords: {key} reads {' and '.join(sorted(distinct))} in "
                                     "different headers of the file")
        values[name] = found[0]
    try:
        obs_id = int(str(values["obs_id"]).strip())
    except ValueError:
        raise CatalogError(path, f"header keyword {keywords.obs_id} = {values['obs_id']!r} is not a valid "
                                 "obs_id") from None
    try:
        dither = int(str(values["dither"]).strip())
    except ValueError:
        raise CatalogError(path, f"header keyword {keywords.dither} = {values['dither']!r} is not a valid "
                                 "dither") from None
    if not (0 <= obs_id <= MAX_OBS_ID):
        raise CatalogError(path, f"observation id {obs_id} is out of range (0 to {MAX_OBS_ID})")
    if not (1 <= dither <= MAX_DITHER):
        raise CatalogError(path, f"dither number {dither} is out of range (1 to {MAX_DITHER})")
    band = str(values["filter"]).strip().upper()
    if band in ("Y", "J", "H"):
        band = f"NIR_{band}"
    if band not in FILTERS:
        raise CatalogError(path, f"filter {band!r} is not one of {', '.join(FILTERS)}")
    return obs_id, band, dither


def _first_detector_header(path: Path) -> dict[str, Any]:
    """The first LDAC_IMHEAD's cards, or the first table HDU's header (fitsio)."""
    import fitsio  # only for catalogues whose primary header lacks the identity

    try:
        with fitsio.FITS(str(path)) as fits:
            for hdu in fits[1:]:
                name = hdu.get_extname().upper()
                if name == "LDAC_IMHEAD":
                    table = hdu.read()
                    cards = table[table.dtype.names[0]].ravel()
                    return parse_header_cards(cards[0] if cards.size == 1 else cards.tolist())
                if hdu.get_exttype() in ("BINARY_TBL", "ASCII_TBL"):
                    header = hdu.read_header()
                    return {key.upper(): header[key] for key in header if key}
    except Exception as exc:  # noqa: BLE001 - fitsio raises OSError/ValueError on damaged files
        text = str(exc).strip().splitlines()
        raise CatalogError(path, f"damaged FITS structure ({text[0] if text else type(exc).__name__})") from None
    return {}


def scan_catalog(
    path: str | Path,
    *,
    keywords: Keywords = Keywords(),
    overrides: Mapping[str, Any] | None = None,
) -> CatalogFile:
    """A catalogue's fingerprint and identity, from its headers alone.

    The primary header is parsed from the file's first blocks; only when it
    lacks the identity is the first detector header read (``LDAC_IMHEAD``
    cards or the first table HDU's header). No table is read.

    Parameters
    ----------
    path : str or Path
    keywords : Keywords, optional
        Header keywords of the identity.
    overrides : mapping, optional
        ``obs_id``, ``filter`` and ``dither`` that replace the header's.

    Returns
    -------
    CatalogFile
        With an empty ``sha256`` (the reader hashes the file).

    Raises
    ------
    CatalogError
        For a missing, unreadable, compressed, truncated or non-FITS file,
        a missing or invalid keyword, or keywords that disagree between
        the file's headers.
    """
    path = Path(path)
    overrides = dict(overrides or {})
    info = check_file(path)  # missing, not a regular file, empty, compressed, not FITS: the reader's words
    try:
        with open(path, "rb") as stream:
            primary = parse_header_cards(read_primary_header(stream))
    except FitsError as exc:
        raise CatalogError(path, exc.reason) from None
    except OSError as exc:
        raise CatalogError(path, f"cannot read ({exc.strerror})") from None
    headers: list[Mapping[str, Any]] = [primary]
    identity = _identity_from(path, headers, keywords, overrides)
    if identity is None:
        headers.append(_first_detector_header(path))
        identity = _identity_from(path, headers, keywords, overrides)
    if identity is None:
        missing = [k for k in (keywords.obs_id, keywords.filter, keywords.dither)
                   if all(h.get(k.upper()) in (None, "") for h in headers)]
        raise CatalogError(path, f"missing header keyword {', '.join(missing)} (give it on the command "
                                 "line to override)")
    obs_id, band, dither = identity
    return CatalogFile(path=os.path.abspath(path), size=int(info.st_size), mtime_ns=int(info.st_mtime_ns),
                       obs_id=obs_id, filter=band, dither=dither)


def file_sha256(path: str | Path, *, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    hasher = hashlib.sha256()
    with open(path, "rb") as stream:
        while True:
            block = stream.read(chunk)
            if not block:
                break
            hasher.update(block)
    return hasher.hexdigest()


def fingerprint(file: CatalogFile) -> CatalogFile:
    """The file's current size, modification time and SHA-256.

    Raises
    ------
    CatalogError
        If the file cannot be read.
    """
    try:
        info = os.stat(file.path)
        digest = file_sha256(file.path)
    except OSError as exc:
        raise CatalogError(file.path, f"cannot read ({exc.strerror})") from None
    return replace(file, size=int(info.st_size), mtime_ns=int(info.st_mtime_ns), sha256=digest)


# --------------------------------------------------------------------- sets
def form_sets(files: Iterable[CatalogFile]) -> tuple[list[ExposureSet], list[SetFailure]]:
    """Group catalogues into (observation, filter) sets.

    A set in which two files claim the same dither cannot be computed (which
    one is right?): it becomes a ``duplicated dither`` failure naming both
    files, and the other sets go on.

    Returns
    -------
    sets : list of ExposureSet
        Sorted by (obs_id, filter); files sorted by dither.
    failures : list of SetFailure
    """
    groups: dict[tuple[int, str], list[CatalogFile]] = {}
    for file in files:
        groups.setdefault((file.obs_id, file.filter), []).append(file)
    sets: list[ExposureSet] = []
    failures: list[SetFailure] = []
    for (obs_id, band), members in sorted(groups.items()):
        members.sort(key=lambda f: (f.dither, f.path))
        by_dither: dict[int, CatalogFile] = {}
        duplicate: tuple[CatalogFile, CatalogFile] | None = None
        for member in members:
            if member.dither in by_dither and duplicate is None:
                duplicate = (by_dither[member.dither], member)
            by_dither.setdefault(member.dither, member)
        paths = tuple(m.path for m in members)
        if duplicate is not None:
            first, second = duplicate
            failures.append(SetFailure(
                kind="duplicated dither", path=second.path, obs_id=obs_id, filter=band, files=paths,
                reason=f"claims dither {second.dither} of observation {obs_id} {band}, already given by "
                       f"{first.path}; the set is not computed",
            ))
            continue
        sets.append(ExposureSet(obs_id, band, tuple(members)))
    return sets, failures
