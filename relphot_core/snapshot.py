"""Snapshots of plain tables on disk, shared by processes through memory maps.

A snapshot is one table (named columns of equal length: numpy arrays, or
`pandas.Categorical` for strings) with a few attributes, written once for
a version of the data (e.g. the store's
`~relphot_core.store.Store.data_version`) and then read by any number of
processes: every column is a ``.npy`` file opened with
``numpy.load(mmap_mode="r")``, so the processes share one copy in the page
cache and reading a snapshot costs milliseconds whatever its size.

Layout of a `SnapshotStore` (its root directory)::

    ROOT/KIND.lock                 one lock file per kind (fcntl.flock)
    ROOT/KIND/VERSIONKEY/          one snapshot: manifest.json, c000.npy, ...
    ROOT/KIND/.tmp-PID-XXXX/       a snapshot being written (never read)

A snapshot is written in a temporary directory and renamed into place once
every file is written and flushed (`SnapshotStore.write`): a crash leaves
a temporary directory that readers ignore and the next writer removes, never
a half snapshot. A snapshot derived from another (a few columns changed)
hard-links the columns it shares with it. `SnapshotStore.get_or_build`
holds the kind's lock while it builds, so that of several processes asking
at once one builds and the others wait and map its result.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

LOG = logging.getLogger(__name__)

Column: TypeAlias = np.ndarray | pd.Categorical
"""A snapshot's column: a numpy array of a numeric or boolean dtype, or a
`pandas.Categorical` (strings and other objects)."""

MANIFEST = "manifest.json"
FORMAT = 1
"""Version of the on-disk layout, in every manifest (another is not read)."""

STALE_TEMPORARY = 3600.0
"""Seconds after which a temporary directory whose writer cannot be asked
(another host) is taken for the remains of a crash."""


class SnapshotError(Exception):
    """A table that cannot be written as a snapshot (a column of Python objects, unequal lengths)."""


@dataclass
class Snapshot:
    """One snapshot as read: its columns memory-mapped read-only."""

    kind: str
    version: str
    path: Path
    columns: dict[str, Column]
    """Columns in their written order (numpy memory maps, or categoricals of memory-mapped codes)."""
    attrs: dict[str, Any] = field(default_factory=dict)
    """What the writer stored beside the columns (JSON values)."""
    written: float = 0.0
    """When it was written (seconds since the epoch)."""

    def frame(self) -> pd.DataFrame:
        """The columns as a `pandas.DataFrame` without copying them."""
        return pd.DataFrame(self.columns, copy=False)


def version_key(version: str) -> str:
    """A directory name for a data version: its safe characters and a digest
    of it (two versions never share a name)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "-", version)[:80]
    return f"v{safe}-{hashlib.blake2b(version.encode(), digest_size=6).hexdigest()}"


def table_columns(frame: pd.DataFrame) -> dict[str, Column]:
    """A frame's columns as a snapshot's (no copy): categorical columns as
    `pandas.Categorical`, the others as numpy arrays."""
    out: dict[str, Column] = {}
    for name in frame.columns:
        series = frame[name]
        out[str(name)] = series.array if isinstance(series.dtype, pd.CategoricalDtype) else series.to_numpy()
    return out


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's: alive
        return True
    return True


def _save(path: Path, values: np.ndarray) -> None:
    """One ``.npy`` file, flushed to disk."""
    with open(path, "wb") as out:
        np.save(out, np.ascontiguousarray(values), allow_pickle=False)
        out.flush()
        os.fsync(out.fileno())


class SnapshotStore:
    """The snapshots under one directory, per kind (e.g. one per filter).

    Parameters
    ----------
    root : path
        Created when missing.
    keep : int
        Snapshots kept per kind after a write (the newest; older ones are
        removed: a process that mapped one keeps it until it lets it go).
    lock_timeout : float
        Seconds `get_or_build` waits for another process's build.
    """

    def __init__(self, root: str | os.PathLike, keep: int = 3, lock_timeout: float = 900.0) -> None:
        self.root = Path(root)
        self.keep = max(1, int(keep))
        self.lock_timeout = lock_timeout

    def _kind_dir(self, kind: str) -> Path:
        if not re.fullmatch(r"[A-Za-z0-9._-]+", kind) or kind.startswith("."):
            raise ValueError(f"snapshot kind {kind!r}: letters, digits, '.', '_' and '-' only")
        return self.root / kind

    # ------------------------------------------------------------ reading

    def read(self, kind: str, version: str) -> Snapshot | None:
        """The snapshot of ``kind`` written for ``version`` (None when there is none)."""
        return self._open(self._kind_dir(kind) / version_key(version), kind)

    def latest(self, kind: str) -> Snapshot | None:
        """The snapshot of ``kind`` written last (None when there is none)."""
        for path in self._by_age(kind):
            snapshot = self._open(path, kind)
            if snapshot is not None:
                return snapshot
        return None

    def _by_age(self, kind: str) -> list[Path]:
        """The kind's snapshot directories, newest first."""
        directory = self._kind_dir(kind)
        try:
            names = [p for p in directory.iterdir() if not p.name.startswith(".")]
        except FileNotFoundError:
            return []
        dated = []
        for path in names:
            try:
                dated.append((json.loads((path / MANIFEST).read_text())["written"], path))
            except (OSError, ValueError, KeyError):
                continue
        return [path for _, path in sorted(dated, reverse=True)]

    @staticmethod
    def _open(path: Path, kind: str) -> Snapshot | None:
        try:
            manifest = json.loads((path / MANIFEST).read_text())
            if manifest.get("format") != FORMAT:
                return None
            columns: dict[str, Column] = {}
            for entry in manifest["columns"]:
                # a plain ndarray view of the map (the map lives as long as the view)
                values = np.load(path / entry["file"], mmap_mode="r", allow_pickle=False).view(np.ndarray)
                if "categories" in entry:
                    if entry.get("categories_file"):
                        categories = pd.Index(np.load(path / entry["categories"], allow_pickle=False))
                    else:
                        categories = pd.Index(entry["categories"], dtype=entry.get("dtype"))
                    values = pd.Categorical.from_codes(values, categories, ordered=bool(entry.get("ordered")))
                columns[entry["name"]] = values
        except FileNotFoundError:  # removed meanwhile (pruned): as if absent
            return None
        return Snapshot(kind, manifest["version"], path, columns, manifest.get("attrs", {}),
                        float(manifest.get("written", 0.0)))

    # ------------------------------------------------------------ writing

    def write(self, kind: str, version: str, columns: Mapping[str, Column], attrs: Mapping[str, Any] | None = None,
              *, base: Snapshot | None = None) -> Snapshot:
        """Write a snapshot of ``kind`` for ``version`` and return it as read.

        Written in a temporary directory, renamed into place when complete
        (a reader never sees part of one). Columns that are the very objects
        of ``base``'s columns are hard-linked from it (copied where links
        are not possible). A snapshot already there for ``version`` is kept
        and returned (it was written from the same data).

        Raises
        ------
        SnapshotError
            A column of Python objects (make it a `pandas.Categorical`), or
            columns of unequal lengths.
        """
        directory = self._kind_dir(kind)
        final = directory / version_key(version)
        lengths = {len(values) for values in columns.values()}
        if len(lengths) > 1:
            raise SnapshotError(f"snapshot {kind}: columns of unequal lengths {sorted(lengths)}")
        directory.mkdir(parents=True, exist_ok=True)
        temporary = Path(_mkdtemp(directory))
        try:
            entries = [self._write_column(temporary, f"c{i:03d}", str(name), values, base)
                       for i, (name, values) in enumerate(columns.items())]
            manifest = {"format": FORMAT, "kind": kind, "version": version, "written": time.time(),
                        "rows": lengths.pop() if lengths else 0, "columns": entries, "attrs": dict(attrs or {})}
            with open(temporary / MANIFEST, "w") as out:
                json.dump(manifest, out)
                out.flush()
                os.fsync(out.fileno())
            try:
                os.rename(temporary, final)
            except OSError:  # written meanwhile by another writer: the same data
                if not (final / MANIFEST).exists():
                    raise
                shutil.rmtree(temporary, ignore_errors=True)
            _fsync_dir(directory)
        except BaseException:
            shutil.rmtree(temporary, ignore_errors=True)
            raise
        self.prune(kind)
        snapshot = self._open(final, kind)
        if snapshot is None:  # pragma: no cover - pruned at once by another writer
            raise SnapshotError(f"snapshot {kind} {version} vanished after it was written")
        return snapshot

    @staticmethod
    def _write_column(directory: Path, stem: str, name: str, values: Column, base: Snapshot | None) -> dict:
        entry: dict[str, Any] = {"name": name, "file": f"{stem}.npy"}
        if isinstance(values, pd.Categorical):
            categories = values.categories
            entry["ordered"] = bool(values.ordered)
            if categories.dtype == object or isinstance(categories.dtype, pd.StringDtype):
                if not all(isinstance(c, str) for c in categories):
                    raise SnapshotError(f"column {name!r}: categories other than strings must share one numpy dtype")
                entry["categories"] = list(categories)
                entry["dtype"] = str(categories.dtype)
            else:
                entry["categories"] = f"{stem}.categories.npy"
                entry["categories_file"] = True
                _save(directory / entry["categories"], categories.to_numpy())
            codes = values.codes
        else:
            codes = np.asarray(values)
            if codes.dtype == object:
                raise SnapshotError(f"column {name!r} holds Python objects: make it a pandas.Categorical")
        shared = base is not None and base.columns.get(name) is values
        if shared:
            assert base is not None
            source = next(e for e in _manifest(base.path)["columns"] if e["name"] == name)
            _link_or_copy(base.path / source["file"], directory / entry["file"])
            if source.get("categories_file"):
                _link_or_copy(base.path / source["categories"], directory / entry["categories"])
        else:
            _save(directory / entry["file"], codes)
        return entry

    def prune(self, kind: str) -> None:
        """Remove all but the `keep` newest snapshots of ``kind``, and the
        temporary directories of writers that died."""
        for path in self._by_age(kind)[self.keep:]:
            shutil.rmtree(path, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            for path in self._kind_dir(kind).glob(".tmp-*"):
                parts = path.name.split("-")
                pid = int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else -1
                host = parts[2] if len(parts) > 3 else ""
                here = host == _host()
                with contextlib.suppress(OSError):
                    age = time.time() - path.stat().st_mtime
                    if (here and pid != os.getpid() and not _pid_alive(pid)) or age > STALE_TEMPORARY:
                        shutil.rmtree(path, ignore_errors=True)

    # ------------------------------------------------------------ sharing

    @contextlib.contextmanager
    def lock(self, kind: str, *, blocking: bool = True, timeout: float | None = None) -> Iterator[bool]:
        """Hold the lock of ``kind`` (an advisory ``flock`` on ``ROOT/KIND.lock``).

        Yields whether it is held: False when ``blocking`` is False and
        another process holds it, or after ``timeout`` seconds (default
        `lock_timeout`) of waiting."""
        self._kind_dir(kind)
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f"{kind}.lock", "a+") as handle:
            deadline = time.monotonic() + (self.lock_timeout if timeout is None else timeout)
            while True:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if not blocking or time.monotonic() >= deadline:
                        yield False
                        return
                    time.sleep(0.05)
            try:
                yield True
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def get_or_build(self, kind: str, version: Callable[[], str],
                     build: Callable[[], tuple[str, Mapping[str, Column], Mapping[str, Any]]] | None,
                     update: Callable[[Snapshot], tuple[str, Mapping[str, Column], Mapping[str, Any]] | None]
                     | None = None, *, blocking: bool = True) -> Snapshot | None:
        """The snapshot of ``kind`` for the data version now, built once
        whichever process asks.

        Parameters
        ----------
        version : callable
            The data version now (asked again once the lock is held).
        build : callable or None
            Reads the whole table: returns the data version read *before*
            reading it, the columns and the attributes. None: never build
            (return None when no snapshot can be had otherwise).
        update : callable, optional
            Given the latest snapshot of the kind (another version), returns
            the table of the version now derived from it (e.g. a few
            columns changed; the unchanged columns must be that snapshot's
            own objects, they are linked), or None when it cannot be
            derived (then ``build``).
        blocking : bool
            Wait for another process building this kind; False: return None
            at once instead.

        Returns
        -------
        Snapshot or None
        """
        found = self.read(kind, version())
        if found is not None:
            return found
        with self.lock(kind, blocking=blocking) as held:
            if not held:
                return None
            now = version()
            found = self.read(kind, now)  # built by the process we waited for
            if found is not None:
                return found
            base = self.latest(kind)
            if base is not None and update is not None:
                derived = update(base)
                if derived is not None:
                    return self.write(kind, derived[0], derived[1], derived[2], base=base)
            if build is None:
                return None
            built_version, columns, attrs = build()
            return self.write(kind, built_version, columns, attrs)


Built: TypeAlias = tuple[str, Mapping[str, Column], Mapping[str, Any]]
"""What a build gives: the data version it read, its columns and attributes."""


def kept_through_reviews(store: Any) -> Callable[[Snapshot], Built | None]:
    """An ``update`` for `SnapshotStore.get_or_build` of a table reviews do
    not change (detector rows, the context of the factors): the latest
    snapshot, its files linked under the data version now, when only reviews
    were written since (`relphot_core.store.Store.reviews_since`); None
    otherwise (then it is built again)."""

    def update(base: Snapshot) -> Built | None:
        try:
            version, reviews = store.reviews_since(base.version)
        except Exception:
            LOG.warning("cannot read the reviews written since %s", base.version, exc_info=True)
            return None
        return None if reviews is None else (version, base.columns, base.attrs)

    return update


def rules_key(*rules: object) -> str:
    """A short digest of the rules a table is computed with (their ``repr``):
    put in a kind's name, processes with other rules never share its snapshots."""
    return hashlib.blake2b(repr(rules).encode(), digest_size=4).hexdigest()


def _manifest(path: Path) -> dict:
    return json.loads((path / MANIFEST).read_text())


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9]", "", os.uname().nodename)[:32] or "host"


def _mkdtemp(directory: Path) -> str:
    import tempfile

    return tempfile.mkdtemp(prefix=f".tmp-{os.getpid()}-{_host()}-", dir=directory)


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # a file system without hard links
        shutil.copyfile(source, target)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


SNAPSHOT_DIR_ENV = "RELPHOT_SNAPSHOT_DIR"
"""Environment variable naming the snapshot directory (``off``: none)."""


def snapshot_dir(url: str, setting: str | None = None) -> Path | None:
    """The snapshot directory of the store at ``url``: ``setting``, else
    ``$RELPHOT_SNAPSHOT_DIR``, else `default_snapshot_dir`; None when that
    says ``off`` (or the store is in memory)."""
    chosen = setting if setting is not None else os.environ.get(SNAPSHOT_DIR_ENV)
    if chosen is not None and chosen.strip():
        return None if chosen.strip().lower() in ("off", "none", "no", "0") else Path(chosen).expanduser()
    return default_snapshot_dir(url)


def default_snapshot_dir(url: str) -> Path | None:
    """Where the snapshots of a store live by default: beside a SQLite file
    (``relphot.db`` -> ``relphot.db.snapshots``), else in the user's cache
    directory (``$XDG_CACHE_HOME/relphot/snapshots/<digest of the URL>``);
    None for an in-memory store."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if not database or database == ":memory:" or database.startswith("file::memory:"):
            return None
        return Path(database).resolve().with_name(Path(database).name + ".snapshots")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    digest = hashlib.blake2b(parsed.render_as_string(hide_password=True).encode(), digest_size=8).hexdigest()
    return cache / "relphot" / "snapshots" / digest
