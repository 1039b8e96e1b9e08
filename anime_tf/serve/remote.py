"""Jobs through Redis: `anime-tf serve --broker` queues them, `anime-tf worker` processes run them.

RQ carries each job (the upload's bytes, the style, the options) to any
worker on any machine; the worker runs the same `render` as the embedded
workers and returns the encoded result, which the server's collector thread
stores, caches and serves. The server's SQLite store stays the record of
every job, so a restarted server picks up results finished while it was
down, and puts back in the queue any job Redis no longer knows.
"""
from __future__ import annotations

import contextvars
import dataclasses
import tempfile
import threading
from pathlib import Path

from anime_tf.errors import AnimeTFError
from anime_tf.files import atomic_path
from anime_tf.imageio import ImageError, load_image, save_image
from anime_tf.serve.uploads import client_message
from anime_tf.serve.work import Models, complete, fail, progress_reporter

QUEUE = "anime-tf"
JOB_TIMEOUT = 3600  # seconds one photo may take
KEEP_SECONDS = 7 * 24 * 3600  # results wait this long in Redis for a server that is down
POLL_SECONDS = 0.3


class BrokerError(AnimeTFError, ConnectionError):
    """Redis cannot be reached."""


def connect(url):
    from redis import Redis
    from redis.exceptions import RedisError

    try:
        connection = Redis.from_url(url)
        connection.ping()
    except (RedisError, ValueError) as err:
        raise BrokerError(f"cannot reach the broker at {url}: {err}") from err
    return connection


# --- the worker side -------------------------------------------------------------------------

@dataclasses.dataclass
class WorkerContext:
    """What a worker process loaded once: the models, and a face landmarker when one is needed."""

    models: Models
    landmarker: object = None

    def face_landmarker(self):
        if self.landmarker is None:
            self.landmarker = self.models.new_landmarker()
        return self.landmarker


# RQ calls a job's function by its import path; the worker hands it its context through this.
_CONTEXT = contextvars.ContextVar("anime_tf_worker_context")


def stylize_remote(data, style, identity, options, max_pixels):
    """Run on a worker: the upload's bytes to {"result": encoded image} or {"error": why}."""
    from rq import get_current_job

    context = _CONTEXT.get()
    if context.models.identities.get(style) != identity:
        return {"error": f"the worker's weights for style {style!r} differ from the server's; "
                "start both with the same --style/--weights"}
    job = get_current_job()

    def report(fraction, stage):
        job.meta.update(progress=fraction, stage=stage)
        job.save_meta()

    with tempfile.TemporaryDirectory(prefix="anime-tf-") as folder:
        source = Path(folder) / "upload"
        source.write_bytes(data)
        try:
            image = load_image(source, max_pixels=max_pixels)
        except ImageError as err:
            return {"error": client_message(err, source, "the upload")}
        landmarker = context.face_landmarker() if options.get("faces") else None
        result = context.models.render(style, image, options, landmarker, progress_reporter(options, report))
        return {"result": save_image(result, Path(folder) / f"result.{options['format']}").read_bytes()}


def work(settings, burst=False):
    """`anime-tf worker`: load the styles, then run jobs from Redis until stopped."""
    from rq import Queue, SimpleWorker

    class StylizeWorker(SimpleWorker):
        """Runs jobs in this process (no fork), where the models are already loaded."""

        def execute_job(self, job, queue):
            token = _CONTEXT.set(context)
            try:
                return super().execute_job(job, queue)
            finally:
                _CONTEXT.reset(token)

    connection = connect(settings.broker)
    models = Models(settings)
    models.load_all()
    context = WorkerContext(models)
    worker = StylizeWorker([Queue(QUEUE, connection=connection)], connection=connection)
    print(f"anime-tf worker: ready for {', '.join(models.identities)} jobs from {settings.broker}",
          flush=True)
    try:
        worker.work(burst=burst, logging_level="WARNING")
    finally:
        if context.landmarker is not None:
            context.landmarker.close()


# --- the server side -------------------------------------------------------------------------

class RedisDispatcher:
    """Queues jobs in Redis and collects their progress and results into the server's store."""

    def __init__(self, service):
        from rq import Queue

        self.service = service
        self.connection = connect(service.settings.broker)
        self.queue = Queue(QUEUE, connection=self.connection)
        self._stopping = threading.Event()
        self._thread = None

    def start(self):
        self._thread = threading.Thread(target=self._collect, name="anime-tf-collector", daemon=True)
        self._thread.start()

    def stop(self, timeout=5.0):
        self._stopping.set()
        if self._thread:
            self._thread.join(timeout)

    def submit(self, jobs):
        for job in jobs:
            self._enqueue(job)

    def _enqueue(self, job):
        from rq import Retry

        upload = self.service.files.input(job["id"])
        if not upload.is_file():
            fail(self.service.store, self.service.files, job, "the upload was lost; send it again")
            return
        self.queue.enqueue(
            stylize_remote, upload.read_bytes(), job["style"], self.service.identities[job["style"]],
            job["options"], self.service.settings.max_pixels, job_id=job["id"],
            job_timeout=JOB_TIMEOUT, result_ttl=KEEP_SECONDS, failure_ttl=KEEP_SECONDS,
            retry=Retry(max=2))

    def _collect(self):
        while not self._stopping.wait(POLL_SECONDS):
            try:
                self.poll()
            except Exception as err:  # noqa: BLE001 - Redis down for a moment: keep collecting
                print(f"anime-tf serve: broker: {err}", flush=True)
                self._stopping.wait(2.0)

    def poll(self):
        """Bring every unfinished job's state up to date with Redis."""
        from rq.job import Job, JobStatus

        active = self.service.store.active()
        if not active:
            return
        found = Job.fetch_many([job["id"] for job in active], connection=self.connection)
        for job, queued in zip(active, found):
            if queued is None:  # Redis lost it, or it was never sent: send it (again)
                self._enqueue(job)
                continue
            status = queued.get_status(refresh=False)
            if status == JobStatus.STARTED:
                self.service.store.mark_running(job["id"])
                if "progress" in queued.meta:
                    self.service.store.set_progress(job["id"], queued.meta["progress"], queued.meta["stage"])
            elif status == JobStatus.FINISHED:
                self._finish(job, queued.return_value() or {"error": "the worker returned nothing"})
                queued.delete()
            elif status in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
                fail(self.service.store, self.service.files, job, _last_line(queued))
                queued.delete()

    def _finish(self, job, answer):
        if "error" in answer:
            fail(self.service.store, self.service.files, job, answer["error"])
            return
        dest = self.service.files.result(job)
        with atomic_path(dest, overwrite=True) as tmp:
            tmp.write_bytes(answer["result"])
        complete(self.service.store, self.service.cache, self.service.files, job, dest)


def _last_line(queued):
    result = queued.latest_result()
    text = (getattr(result, "exc_string", None) or "").strip().splitlines()
    return f"stylizing failed on the worker: {text[-1] if text else 'no reason given'}"
