"""Fetch files on first use into the cache: progress, atomic writes, clear offline errors."""
from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from anime_tf.errors import AnimeTFError
from anime_tf.files import atomic_path

CHUNK = 1 << 16


class DownloadError(AnimeTFError, RuntimeError):
    """A file could not be fetched; the message says where to put it by hand."""


def fetch(url, dest, timeout=60):
    """Download `url` to `dest` (atomically) with a progress bar, unless `dest` exists.

    An existing file is never replaced: checking it is the caller's job, and
    a bad one is reported, not silently fetched again.
    """
    dest = Path(dest)
    if dest.exists():
        return dest
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, atomic_path(dest) as tmp:
            total = int(response.headers.get("Content-Length") or 0) or None
            with open(tmp, "wb") as out, tqdm(
                    total=total, unit="B", unit_scale=True, desc=dest.name, leave=False) as bar:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    bar.update(len(chunk))
            if total is not None and tmp.stat().st_size != total:
                raise DownloadError(f"{url}: got {tmp.stat().st_size} of {total} bytes")
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise DownloadError(
            f"could not download {url} ({getattr(err, 'reason', err)}).\n"
            f"If this machine is offline, download it elsewhere and put it at {dest}") from err
    return dest

