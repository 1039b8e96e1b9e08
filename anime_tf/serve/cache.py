"""Results by content: the same photo with the same style and options answers at once.

A key is a hash of the decoded image's pixels, the style's weights identity
and every option that changes the output (`cache_key`). Entries are files
under `cache/` plus a row in the jobs database with their size and last use;
the total is kept under a byte budget by evicting the least recently used.
A job's result is a hard link to the cached file (a copy where links are not
possible), so evicting an entry never takes a finished job's result away.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

from anime_tf.files import atomic_path


def pixels_digest(image) -> str:
    """sha256 of a decoded PIL image's mode, size and pixels (not of its file's bytes)."""
    digest = hashlib.sha256(f"{image.mode}:{image.size}".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def cache_key(pixels: str, style_identity: str, options: dict) -> str:
    """The key of a result: pixels, weights and options (JSON with sorted keys)."""
    text = json.dumps({"pixels": pixels, "weights": style_identity, "options": options}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def link_or_copy(src, dest):
    """`dest` becomes the same file as `src` (a hard link, else an atomic copy)."""
    dest = Path(dest)
    with atomic_path(dest, overwrite=True) as tmp:
        tmp.unlink()
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
    return dest


class ResultCache:
    """Cached results in `folder`, at most `max_bytes` in total, least recently used out first."""

    def __init__(self, db, folder, max_bytes):
        self.db, self.folder, self.max_bytes = db, Path(folder), max_bytes
        self.folder.mkdir(parents=True, exist_ok=True)

    def lookup(self, key):
        """The cached file for `key` (its use recorded), or None."""
        if not key:
            return None
        with self.db.cursor() as c:
            row = c.execute("SELECT file FROM cache WHERE key = ?", (key,)).fetchone()
            if row is None:
                return None
            c.execute("UPDATE cache SET used = ? WHERE key = ?", (time.time(), key))
        path = self.folder / row["file"]
        if not path.is_file():  # removed behind our back: forget it
            self.forget(key)
            return None
        return path

    def put(self, key, result):
        """Keep a copy of the finished `result` file under `key`, then evict down to the budget."""
        if not key or self.max_bytes <= 0:
            return
        path = link_or_copy(result, self.folder / f"{key}{Path(result).suffix}")
        with self.db.cursor() as c:
            c.execute("INSERT OR REPLACE INTO cache (key, file, size, used) VALUES (?, ?, ?, ?)",
                      (key, path.name, path.stat().st_size, time.time()))
        self.evict()

    def forget(self, key):
        with self.db.cursor() as c:
            row = c.execute("SELECT file FROM cache WHERE key = ?", (key,)).fetchone()
            c.execute("DELETE FROM cache WHERE key = ?", (key,))
        if row:
            (self.folder / row["file"]).unlink(missing_ok=True)

    def evict(self):
        """Drop least recently used entries until the total is within `max_bytes`."""
        with self.db.cursor() as c:
            total = c.execute("SELECT COALESCE(SUM(size), 0) FROM cache").fetchone()[0]
            doomed = []
            for row in c.execute("SELECT key, file, size FROM cache ORDER BY used").fetchall():
                if total <= self.max_bytes:
                    break
                doomed.append(row["file"])
                total -= row["size"]
                c.execute("DELETE FROM cache WHERE key = ?", (row["key"],))
        for file in doomed:
            (self.folder / file).unlink(missing_ok=True)

    def size(self):
        """(bytes, entries) in the cache."""
        with self.db.cursor() as c:
            return tuple(c.execute("SELECT COALESCE(SUM(size), 0), COUNT(*) FROM cache").fetchone())
