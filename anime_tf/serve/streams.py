"""Long answers: Server-Sent Events that follow jobs until they end, and zips of results."""
from __future__ import annotations

import asyncio
import json
import tempfile
import time
import zipfile

from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

POLL_SECONDS = 1.0  # a fallback: streams wake as soon as the store reports a change
KEEPALIVE_SECONDS = 15.0
ENDED = ("done", "failed")
CHUNK = 1 << 16


class Notifier:
    """Wakes every waiting event stream when a job changes; call it from any thread.

    `ticket()` (taken before reading the store) and `wait(ticket)` make sure
    a change between the read and the wait is not missed.
    """

    def __init__(self):
        self._loop = None
        self._event = None

    def __call__(self):
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._fire)

    def _fire(self):
        self._event.set()
        self._event = asyncio.Event()

    def ticket(self):
        if self._loop is None:
            self._loop, self._event = asyncio.get_running_loop(), asyncio.Event()
        return self._event

    async def wait(self, ticket, timeout):
        try:
            await asyncio.wait_for(ticket.wait(), timeout)
        except asyncio.TimeoutError:
            pass


def event_stream(request, read, stopping, notifier):
    """SSE of `read()` (a list of job states): one `status` event per job whenever it changes.

    Ends when every job has ended, when the client goes away, or when the
    server is stopping; a comment line every 15 s keeps proxies from closing it.
    """
    async def events():
        last, quiet_since = {}, time.monotonic()
        while not stopping.is_set():
            ticket = notifier.ticket()
            jobs = await run_in_threadpool(read)
            for job in jobs:
                if last.get(job["id"]) != job:
                    last[job["id"]] = job
                    quiet_since = time.monotonic()
                    yield f"event: status\nid: {job['id']}\ndata: {json.dumps(job)}\n\n"
            if all(job["state"] in ENDED for job in jobs):
                yield "event: end\ndata: {}\n\n"
                return
            if time.monotonic() - quiet_since > KEEPALIVE_SECONDS:
                quiet_since = time.monotonic()
                yield ": keep-alive\n\n"
            if await request.is_disconnected():
                return
            await notifier.wait(ticket, POLL_SECONDS)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def unique_names(names):
    """Names made unique for a zip: a second `photo.png` becomes `photo (2).png`."""
    seen, unique = set(), []
    for name in names:
        stem, dot, suffix = name.rpartition(".")
        candidate, n = name, 1
        while candidate.lower() in seen:
            n += 1
            candidate = f"{stem} ({n}).{suffix}" if dot else f"{name} ({n})"
        seen.add(candidate.lower())
        unique.append(candidate)
    return unique


def zip_of(files):
    """A zip (in a temporary file, rewound) of [(path, name in the zip)]; images are not recompressed."""
    archive = tempfile.SpooledTemporaryFile(max_size=64 << 20)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zipped:
        for (path, _), name in zip(files, unique_names([name for _, name in files])):
            if path.is_file():
                zipped.write(path, name)
    archive.seek(0)
    return archive


async def file_chunks(file):
    try:
        while chunk := await run_in_threadpool(file.read, CHUNK):
            yield chunk
    finally:
        file.close()
