"""relphot_core.atomic: the one way relphot writes a file atomically."""
import errno
import os
import stat

import pytest

from relphot_core.atomic import AtomicFile, atomic_write_bytes, atomic_write_text, remove_stale_temporaries
from relphot_core.errors import ProductError, RelphotError


def _leftovers(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def test_a_write_replaces_the_whole_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "out.txt"  # the directory is created
    assert atomic_write_text(target, "first\n") == target
    atomic_write_bytes(target, b"second\n")
    assert target.read_bytes() == b"second\n"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o644
    assert _leftovers(target.parent) == []


def test_an_exception_in_the_block_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(KeyError), AtomicFile(target, text=True) as stream:
        stream.write("half of the new")
        raise KeyError("interrupted")
    assert target.read_text() == "old" and _leftovers(tmp_path) == []


def test_a_system_error_becomes_one_error_naming_the_file(tmp_path):
    target = tmp_path / "product.xml"
    with pytest.raises(ProductError, match=r"product\.xml: cannot write product \(No space left on device\)$"), \
            AtomicFile(target, error=ProductError, reason="cannot write product"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert not target.exists() and _leftovers(tmp_path) == []


def test_an_unwritable_directory_is_refused_in_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(RelphotError, match=r"file/out\.txt: cannot write \(\w"):
        atomic_write_text(blocker / "out.txt", "x")


def test_a_write_in_progress_keeps_its_temporary_and_a_dead_one_is_removed(tmp_path):
    target = tmp_path / "out.json"
    pending = AtomicFile(target, text=True, suffix=".tmp")
    pending.stream.write("[")
    assert remove_stale_temporaries(tmp_path, ".out.json.*.tmp") == []  # locked: in progress
    dead = tmp_path / ".out.json.killed.tmp"  # what a killed writer leaves: no lock
    dead.write_text("[")
    assert remove_stale_temporaries(tmp_path, ".out.json.*.tmp") == [dead]
    pending.stream.write("]")
    pending.commit()
    assert target.read_text() == "[]" and _leftovers(tmp_path) == []


def test_abandon_leaves_the_target_untouched(tmp_path):
    target = tmp_path / "out.txt"
    pending = AtomicFile(target)
    pending.stream.write(b"never")
    pending.abandon()
    assert not target.exists() and _leftovers(tmp_path) == []
