"""Atomic file writes: a reader sees the old file or the whole new one.

Every file relphot must never leave half-written (XML products, JSON
outputs, FITS headers rewritten by ``relphot apply``, simulated catalogues)
is written through `AtomicFile`: the content goes to a temporary file in
the target's directory, created under an exclusive lock
(`locked_temporary`), then flushed, fsynced and renamed over the target with
`os.replace`. A failure before the rename removes the temporary file and
leaves the target as it was. A process killed mid-write leaves its
temporary file unlocked, so a later run can remove it
(`remove_stale_temporaries`) without touching one being written.
"""
from __future__ import annotations

import errno
import fcntl
import logging
import os
import stat
import tempfile
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal

from .errors import RelphotError

__all__ = ["AtomicFile", "atomic_write_bytes", "atomic_write_text", "locked_temporary",
           "remove_stale_temporaries"]

logger = logging.getLogger(__name__)


class AtomicFile:
    """A file written in full or not at all.

    Use it as a context manager: the block writes to the temporary file
    (the value of the ``with``), a normal exit commits it (fsync, rename),
    an exception abandons it (the target is untouched). For a file written
    over a longer time, call `commit` or `abandon` yourself.

    Parameters
    ----------
    path : str or Path
        The file to create or replace. Its directory is created if needed.
    text : bool, optional
        Open the temporary file in UTF-8 text mode (default: binary).
    suffix : str, optional
        End of the temporary file's name ``.NAME.XXXXXXXX<suffix>``, so that
        `remove_stale_temporaries` can find those of a killed process.
    fsync : bool, optional
        fsync the file before the rename (default), so that a crash cannot
        leave a renamed but empty file. Only data that can be recomputed at
        once (simulations) should skip it.
    fsync_directory : bool, optional
        Also fsync the directory after the rename, so that the rename
        itself survives a crash (default False).
    permissions : int, optional
        Mode of the new file (default 0o644; the temporary file starts as
        0o600). The block may change it through the descriptor.
    error : type of RelphotError, optional
        The exception raised, naming ``path``, when the file system refuses.
    reason : str, optional
        Its message, followed by the system's reason in parentheses.

    Raises
    ------
    RelphotError
        (``error``) The temporary file cannot be created, written, synced
        or renamed; also for an `OSError` raised inside the block.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as directory:
    ...     target = Path(directory) / "out.json"
    ...     with AtomicFile(target, text=True) as stream:
    ...         _ = stream.write("[]\\n")
    ...     target.read_text()
    '[]\\n'
    """

    def __init__(self, path: str | os.PathLike, *, text: bool = False, suffix: str = ".tmp", fsync: bool = True,
                 fsync_directory: bool = False, permissions: int = 0o644,
                 error: type[RelphotError] = RelphotError, reason: str = "cannot write") -> None:
        self.path = Path(path)
        self._fsync = fsync
        self._fsync_directory = fsync_directory
        self._error = error
        self._reason = reason
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, temporary = locked_temporary(self.path.parent, f".{self.path.name}.", suffix)
        except OSError as exc:
            raise self._failure(exc) from None
        self.temporary = Path(temporary)
        """The temporary file, renamed over `path` by `commit`."""
        try:
            os.fchmod(fd, permissions)
            self.stream: IO[Any] = os.fdopen(fd, "w", encoding="utf-8") if text else os.fdopen(fd, "wb")
            """The open temporary file."""
        except OSError as exc:
            os.close(fd)
            self.temporary.unlink(missing_ok=True)
            raise self._failure(exc) from None

    def _failure(self, exc: OSError) -> RelphotError:
        return self._error(self.path, f"{self._reason} ({exc.strerror or exc})")

    def commit(self) -> Path:
        """Flush, fsync and close the temporary file, then rename it over
        the target. On failure the temporary file is removed.

        Returns
        -------
        Path
            The target.
        """
        try:
            self.stream.flush()
            if self._fsync:
                os.fsync(self.stream.fileno())
            self.stream.close()
            os.replace(self.temporary, self.path)
        except OSError as exc:
            self.abandon()
            raise self._failure(exc) from None
        if self._fsync_directory:
            _fsync_directory(self.path.parent)
        return self.path

    def abandon(self) -> None:
        """Close and remove the temporary file; the target is untouched."""
        try:
            self.stream.close()
        except OSError:
            pass  # the write failed already: the file goes anyway
        self.temporary.unlink(missing_ok=True)

    def __enter__(self) -> IO[Any]:
        return self.stream

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> Literal[False]:
        if kind is None:
            self.commit()
            return False
        self.abandon()
        if isinstance(exc, OSError):
            raise self._failure(exc) from None
        return False


def atomic_write_bytes(path: str | os.PathLike, data: bytes, **options: Any) -> Path:
    """Write ``data`` to ``path`` atomically (see `AtomicFile`, whose
    keyword ``options`` it takes).

    Returns
    -------
    Path
        The file written.
    """
    with AtomicFile(path, **options) as stream:
        stream.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, **options: Any) -> Path:
    """`atomic_write_bytes` for UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"), **options)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a directory: the rename is done all the same
    finally:
        os.close(fd)


def locked_temporary(directory: str | os.PathLike, prefix: str, suffix: str) -> tuple[int, str]:
    """`tempfile.mkstemp` holding an exclusive ``flock`` on the new file.

    The lock lives as long as the descriptor (it follows the inode through
    `os.replace`), so `remove_stale_temporaries` can tell the temporary file
    of a running write (locked) from one a killed process left (not).

    Returns
    -------
    (int, str)
        The open descriptor and the file's path.

    Raises
    ------
    OSError
        The file cannot be created.
    """
    for _ in range(5):
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=suffix)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.stat(tmp, follow_symlinks=False).st_ino == os.fstat(fd).st_ino:
                return fd, tmp
        except OSError:
            pass  # a cleaner took it between its creation and our lock: make another
        os.close(fd)
    raise OSError(errno.EAGAIN, "cannot create and lock a temporary file")


def remove_stale_temporaries(directory: str | os.PathLike, pattern: str) -> list[Path]:
    """Remove the temporary files matching ``pattern`` in ``directory`` that
    an interrupted (killed) write left, i.e. those no process holds locked.

    Only regular files are considered and only ones that can be locked at
    once (see `locked_temporary`): a write in progress keeps its file.

    Returns
    -------
    list of Path
        The files removed.
    """
    removed: list[Path] = []
    try:
        candidates = sorted(Path(directory).glob(pattern))
    except OSError:
        return removed
    for candidate in candidates:
        try:
            fd = os.open(candidate, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # held: a write in progress
            try:
                if os.stat(candidate, follow_symlinks=False).st_ino != info.st_ino:
                    continue  # renamed or replaced meanwhile
                candidate.unlink()
            except OSError:
                continue
            removed.append(candidate)
            logger.info("removed %s, left by an interrupted write", candidate)
        finally:
            os.close(fd)
    return removed

