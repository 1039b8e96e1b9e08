"""Helpers for the web app's tests: a redis-server, test photos; the server process is the package's."""
from __future__ import annotations

import io
import shutil
import socket
import time

import numpy as np
from PIL import Image

from anime_tf.serve.process import Process, Server, free_port  # noqa: F401 (the tests import them here)


def redis_server(tmp_path):
    """A throwaway redis-server on a free port, or None when Debian's redis-server is not installed."""
    binary = shutil.which("redis-server")
    if binary is None:
        return None, None
    port = free_port()
    process = Process([binary, "--port", str(port), "--save", "", "--appendonly", "no",
                       "--dir", str(tmp_path)], tmp_path / "redis.log")
    for _ in range(100):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process, f"redis://127.0.0.1:{port}/0"
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"redis-server did not start: {process.output()}")


def photo_bytes(seed, size=(96, 72), fmt="PNG", **save):
    """A small smooth test picture (distinct per seed) encoded as `fmt`."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
    image = Image.fromarray(small).resize(size, Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save)
    return buffer.getvalue()


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0
