"""Atomic file writes: a reader never sees half a file, and nothing is clobbered by accident."""
from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from pathlib import Path

from anime_tf.errors import AnimeTFError


def sha256_of(path):
    """Hex sha256 of a file's bytes, read in blocks (weights and models can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class OutputExistsError(AnimeTFError, FileExistsError):
    """The destination exists and overwriting was not asked for."""

    def __init__(self, path):
        super().__init__(f"{path} exists (pass --overwrite to replace it)")
        self.path = Path(path)


@contextlib.contextmanager
def atomic_path(dest, overwrite=False):
    """Yield a temporary path beside `dest`; on success it becomes `dest` in one step.

    The temporary name keeps `dest`'s suffixes, because some writers (Keras,
    Pillow) choose the format from them. On error the temporary file is removed
    and `dest` is untouched. Without `overwrite`, an existing `dest` raises
    `OutputExistsError`, also when it appeared while we were writing.
    """
    dest = Path(dest)
    if dest.exists() and not overwrite:
        raise OutputExistsError(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_file_beside(dest)
    try:
        yield tmp
        if overwrite:
            os.replace(tmp, dest)
        else:
            _link_no_clobber(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _new_file_beside(dest):
    """A new empty file next to `dest`, with `dest`'s suffixes and the usual permissions.

    Created as `open()` creates files (0666 less the umask), because the rename
    keeps the temporary file's mode and `tempfile.mkstemp`'s 0600 would make
    every output private to its owner.
    """
    suffix = "".join(dest.suffixes) or ".tmp"
    while True:
        tmp = dest.parent / f".{dest.stem}.{secrets.token_hex(6)}{suffix}"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:  # a name already taken: draw another
            continue


def _link_no_clobber(tmp, dest):
    """Move tmp to dest unless dest exists; a hard link makes the check and the move one step."""
    try:
        os.link(tmp, dest)
    except FileExistsError:
        raise OutputExistsError(dest) from None
    except OSError:  # file systems without hard links
        if dest.exists():
            raise OutputExistsError(dest) from None
        os.replace(tmp, dest)
