"""Wiring and start-up of `anime-tf serve`: store, cache, workers (or Redis), the app, uvicorn."""
from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

from anime_tf.serve.cache import ResultCache
from anime_tf.serve.store import Database, JobStore
from anime_tf.serve.streams import Notifier
from anime_tf.serve.work import JobFiles

JANITOR_SECONDS = 600.0


@dataclasses.dataclass
class Service:
    """Everything the routes need; built once per server."""

    settings: object
    store: JobStore
    cache: ResultCache
    files: JobFiles
    identities: dict
    dispatcher: object = None
    stopping: threading.Event = dataclasses.field(default_factory=threading.Event)
    notifier: Notifier = dataclasses.field(default_factory=Notifier)


def build_service(settings):
    """Open (or create) the data folder and choose embedded workers or Redis."""
    data = Path(settings.data_dir).expanduser()
    data.mkdir(parents=True, exist_ok=True)
    db = Database(data / "jobs.sqlite3")
    notifier = Notifier()
    service = Service(settings, JobStore(db, on_change=notifier),
                      ResultCache(db, data / "cache", settings.cache_bytes), JobFiles(data),
                      identities={}, notifier=notifier)
    if settings.broker:
        from anime_tf.serve.remote import RedisDispatcher

        service.identities = {s.name: s.identity() for s in settings.styles}
        service.dispatcher = RedisDispatcher(service)
    else:
        from anime_tf.serve.work import LocalWorkers, Models

        models = Models(settings)
        service.identities = models.identities
        service.dispatcher = LocalWorkers(service.store, service.cache, service.files, models,
                                          settings.workers)
    return service


def expire_old_jobs(service):
    """Delete jobs (and their results) that ended more than the retention period ago."""
    before = time.time() - service.settings.retention_hours * 3600
    for result in service.store.expire(before):
        (service.files.results / result).unlink(missing_ok=True)


def start_janitor(service):
    def loop():
        while True:
            expire_old_jobs(service)
            if service.stopping.wait(JANITOR_SECONDS):
                return
    thread = threading.Thread(target=loop, name="anime-tf-janitor", daemon=True)
    thread.start()
    return thread


def serve(settings, log_level="warning"):
    """Run the server until Ctrl-C (or SIGTERM); jobs in flight are picked up again on the next start."""
    import uvicorn

    from anime_tf.serve.app import create_app

    service = build_service(settings)
    app = create_app(service)
    service.dispatcher.start()
    start_janitor(service)
    server = uvicorn.Server(uvicorn.Config(app, host=settings.host, port=settings.port,
                                           log_level=log_level, timeout_graceful_shutdown=3))
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    print(f"anime-tf: serving on http://{host}:{settings.port}/ (Ctrl-C to stop; data in "
          f"{Path(settings.data_dir).resolve()})", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C once it has shut down: the normal way to stop
        print("anime-tf: stopped", flush=True)
    except SystemExit:  # uvicorn exits when it cannot bind
        return False
    finally:
        service.stopping.set()
        service.dispatcher.stop()
        service.store.db.close()
    return server.started
