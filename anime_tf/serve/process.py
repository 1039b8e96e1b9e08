"""A real `anime-tf serve` process in the background, for the tests, the benchmarks and scripts.

`Server` starts it on a free port, waits until /api/health answers, and
talks to it with an httpx client (httpx is imported only here, when used: the
`test` extra has it).
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time


def httpx():
    import httpx as module

    return module


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Process:
    """A command run in the background, its output kept in a log file; killed at the end."""

    def __init__(self, args, log):
        self.log = log
        with open(log, "wb") as out:  # the child keeps its own copy of the handle
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                         env=os.environ | {"TF_CPP_MIN_LOG_LEVEL": "2"})

    def output(self):
        return self.log.read_text(errors="replace")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def interrupt(self, timeout=30):
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout)


class Server(Process):
    """`anime-tf serve` on a free port; `client` talks to it."""

    def __init__(self, data_dir, log, *flags, port=None):
        self.port = port or free_port()
        self.flags, self.data_dir = flags, data_dir
        super().__init__([sys.executable, "-m", "anime_tf.cli", "serve", "--port", str(self.port),
                          "--data-dir", str(data_dir), *flags], log)
        self.url = f"http://127.0.0.1:{self.port}"
        self.client = httpx().Client(base_url=self.url, timeout=60)
        self.wait_ready()

    def wait_ready(self, timeout=180):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited:\n{self.output()}")
            try:
                if self.client.get("/api/health").status_code == 200:
                    return
            except httpx().TransportError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"the server did not start:\n{self.output()}")

    def restart(self):
        """SIGKILL, then the same command again on the same port and data."""
        self.kill()
        return Server(self.data_dir, self.log.with_suffix(".2.log"), *self.flags, port=self.port)

    def submit(self, files, **form):
        """POST /api/jobs with [(name, bytes)] and form fields; the response."""
        data = {key: str(value).lower() if isinstance(value, bool) else str(value)
                for key, value in form.items() if value is not None}
        return self.client.post("/api/jobs", files=[("files", (name, body)) for name, body in files],
                                data=data)

    def wait(self, job_id, timeout=300):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.client.get(f"/api/jobs/{job_id}").json()
            if job["state"] in ("done", "failed"):
                return job
            time.sleep(0.2)
        raise TimeoutError(f"job {job_id} did not end: {job}")
