"""Running jobs: each style's model loaded once, a bounded pool of worker threads, never the event loop.

`render` is the one code path from an uploaded image to a result: the
`Stylizer` (and `FacePainter`) of `anime-tf stylize` with the same options,
so the server's pixels are the command's. The embedded `LocalWorkers` take
jobs from the store; `anime_tf.serve.remote` runs the same `render` on other
machines.
"""
from __future__ import annotations

import functools
import threading
from pathlib import Path

from anime_tf.imageio import ImageError, load_image, save_image, stylize_image
from anime_tf.serve.cache import link_or_copy
from anime_tf.serve.uploads import client_message


class Models:
    """The offered styles' stylizers, each loaded once on first use and shared by all threads."""

    def __init__(self, settings):
        self.settings = settings
        self._stylizers = {}
        self._lock = threading.Lock()
        self.identities = {style.name: style.identity() for style in settings.styles}
        if settings.faces:  # fetched and checked now, not at the first job that needs it
            from anime_tf.face.landmarks import face_model_path

            face_model_path(settings.face_model)

    def stylizer(self, name, weights=None):
        """Style `name`'s stylizer (of `weights` when given, such as its face weights), loaded once."""
        weights = weights or self.settings.style(name).weights
        with self._lock:  # TensorFlow's start-up and tracing are not worth racing for
            if weights not in self._stylizers:
                from anime_tf.inference import Stylizer

                self._stylizers[weights] = Stylizer(weights).warm_up()
            return self._stylizers[weights]

    def face_stylizer(self, name):
        """The stylizer of the style's face crops, or None where its own weights stylize them."""
        face_weights = self.settings.style(name).face_weights
        return self.stylizer(name, face_weights) if face_weights else None

    def render(self, name, image, options, landmarker=None, on_progress=None):
        """`render` with style `name`'s stylizers."""
        face_stylizer = self.face_stylizer(name) if options.get("faces") else None
        return render(self.stylizer(name), image, options, landmarker, on_progress, face_stylizer)

    def load_all(self):
        for style in self.settings.styles:
            self.stylizer(style.name)
            if self.settings.faces:
                self.face_stylizer(style.name)

    def new_landmarker(self):
        """A Face Landmarker for one thread (MediaPipe's graphs are not shared between threads)."""
        from anime_tf.face.landmarks import FaceLandmarker

        return FaceLandmarker(self.settings.face_model)


def render(stylizer, image, options, landmarker=None, on_progress=None, face_stylizer=None):
    """A PIL image stylized with `options` (max_side, faces) exactly as `anime-tf stylize` does
    (`face_stylizer`: what stylizes the face crops, as --face-weights)."""
    max_side = options.get("max_side")
    if options.get("faces"):
        from anime_tf.face.paint import FacePainter

        painter = FacePainter(stylizer, landmarker, face_stylizer=face_stylizer, max_side=max_side)
        return stylize_image(image, functools.partial(painter.stylize_array, on_progress=on_progress))
    return stylize_image(image, functools.partial(stylizer.stylize_array, on_progress=on_progress),
                         max_side)


def progress_reporter(options, report):
    """on_progress(done, total) that calls report(fraction, words) in the page's terms."""
    def on_progress(done, total):
        if options.get("faces"):
            report(done / total, f"{done - 1} of {total - 1} faces")
        else:
            report(done / total, f"{done} of {total} tiles")
    return on_progress


class JobFiles:
    """Where a job's upload and result live: named by the job's random id, never by the client."""

    def __init__(self, data_dir):
        self.inputs = Path(data_dir) / "inputs"
        self.results = Path(data_dir) / "results"
        self.inputs.mkdir(parents=True, exist_ok=True)
        self.results.mkdir(parents=True, exist_ok=True)

    def input(self, job_id):
        return self.inputs / job_id

    def result(self, job):
        return self.results / f"{job['id']}.{job['options']['format']}"


def result_from_cache(cache, files, job):
    """Put the cached result for `job` in place (its upload is then dropped); its file name, or None."""
    cached = cache.lookup(job.get("cache_key"))
    if cached is None:
        return None
    link_or_copy(cached, files.result(job))
    files.input(job["id"]).unlink(missing_ok=True)
    return files.result(job).name


def complete_from_cache(store, cache, files, job):
    """Finish `job` with a cached result if there is one; True if it was."""
    result = result_from_cache(cache, files, job)
    if result is not None:
        store.finish(job["id"], result, cached=True)
    return result is not None


def complete(store, cache, files, job, result_path):
    """Record a freshly made result (already at `result_path`) and keep it in the cache."""
    cache.put(job.get("cache_key"), result_path)
    store.finish(job["id"], Path(result_path).name)
    files.input(job["id"]).unlink(missing_ok=True)


def fail(store, files, job, error):
    store.fail(job["id"], error)
    files.input(job["id"]).unlink(missing_ok=True)


class LocalWorkers:
    """`count` threads that take queued jobs from the store and run them in this process."""

    def __init__(self, store, cache, files, models, count=1):
        self.store, self.cache, self.files, self.models = store, cache, files, models
        self.count = count
        self._wake = threading.Condition()
        self._stopping = threading.Event()
        self._threads = []

    def start(self):
        """Load the models, requeue what was running when the server died, start the threads."""
        self.models.load_all()
        self.store.requeue_running()
        for index in range(self.count):
            thread = threading.Thread(target=self._loop, name=f"anime-tf-worker-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def submit(self, jobs):
        with self._wake:
            self._wake.notify_all()

    def stop(self, timeout=5.0):
        self._stopping.set()
        with self._wake:
            self._wake.notify_all()
        for thread in self._threads:
            thread.join(timeout)

    def _loop(self):
        landmarker = None
        try:
            while not self._stopping.is_set():
                job = self.store.claim()
                if job is None:
                    with self._wake:
                        self._wake.wait(1.0)
                    continue
                if job["options"].get("faces") and landmarker is None:
                    landmarker = self.models.new_landmarker()
                self.run(job, landmarker)
        finally:
            if landmarker is not None:
                landmarker.close()

    def run(self, job, landmarker=None):
        """One job from upload to result; every failure ends as the job's error, in words."""
        if complete_from_cache(self.store, self.cache, self.files, job):
            return
        try:
            image = load_image(self.files.input(job["id"]), max_pixels=self.models.settings.max_pixels)
            report = functools.partial(self.store.set_progress, job["id"])
            result = self.models.render(job["style"], image, job["options"], landmarker,
                                        progress_reporter(job["options"], report))
            dest = save_image(result, self.files.result(job), overwrite=True)
        except ImageError as err:
            fail(self.store, self.files, job, client_message(err, self.files.input(job["id"]), job["name"]))
            return
        except MemoryError:
            fail(self.store, self.files, job, "not enough memory for this image; try a smaller output size")
            return
        except Exception as err:  # noqa: BLE001 - a bug in one job must not kill the worker
            fail(self.store, self.files, job, f"stylizing failed: {type(err).__name__}: {err}")
            return
        complete(self.store, self.cache, self.files, job, dest)
