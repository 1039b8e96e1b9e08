"""Atomic file writes: a reader never sees half a file, and nothing is clobbered by accident."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


class OutputExistsError(FileExistsError):
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
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.stem}.", suffix="".join(dest.suffixes) or ".tmp")
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        if overwrite:
            os.replace(tmp, dest)
        else:
            _link_no_clobber(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


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
