"""`anime-tf serve` and `anime-tf worker`: flags, and turning them into `Settings`."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from anime_tf.batch import EXIT_OK, EXIT_UNUSABLE, positive_int, report
from anime_tf.errors import ConfigError
from anime_tf.serve.settings import Settings, parse_style

DEFAULTS = Settings()


def add_commands(commands):
    _add_serve(commands)
    _add_worker(commands)


def _add_style_flags(parser):
    parser.add_argument("--style", action="append", default=[], metavar="NAME",
                        help="offer a style by name, as `anime-tf styles` lists them (repeatable; "
                        "default: hayao when no --weights is given)")
    parser.add_argument("--weights", action="append", default=[], metavar="[NAME=]PATH",
                        help="offer a style from weights (any kind `anime-tf stylize --weights` takes; "
                        "repeatable); NAME defaults to the file's name")


def _add_serve(commands):
    p = commands.add_parser(
        "serve", help="start the web app: a page to stylize batches of photos, and its HTTP API",
        description="Serve a page (and an HTTP API, documented at /docs) where photos are uploaded, "
        "queued, stylized and downloaded. Jobs, results and the cache are kept in --data-dir and "
        "survive restarts.")
    _add_style_flags(p)
    p.add_argument("--host", default=DEFAULTS.host, help="address to listen on (default: %(default)s; "
                   "0.0.0.0 for every interface)")
    p.add_argument("--port", type=int, default=DEFAULTS.port, help="port (default: %(default)s)")
    p.add_argument("--faces", action="store_true", help="offer the face pass (needs MediaPipe)")
    p.add_argument("--face-model", metavar="PATH", help="MediaPipe's face_landmarker.task "
                   "(default: fetched on first use into the cache)")
    p.add_argument("--workers", type=positive_int, default=DEFAULTS.workers, metavar="N",
                   help="inference threads (default: %(default)s; each uses all cores, so more "
                   "helps only on big machines)")
    p.add_argument("--data-dir", type=Path, default=DEFAULTS.data_dir, metavar="DIR",
                   help="jobs, results and the cache (default: ./%(default)s)")
    p.add_argument("--max-upload-mb", type=float, default=DEFAULTS.max_upload_mb, metavar="MB",
                   help="largest request body (default: %(default)g)")
    p.add_argument("--max-pixels", type=positive_int, default=DEFAULTS.max_pixels, metavar="N",
                   help="largest image, in pixels (default: %(default)s)")
    p.add_argument("--max-files", type=positive_int, default=DEFAULTS.max_files, metavar="N",
                   help="most files in one upload (default: %(default)s)")
    p.add_argument("--max-queued-per-client", type=positive_int, default=DEFAULTS.max_queued_per_client,
                   metavar="N", help="most unfinished jobs one client address may have "
                   "(default: %(default)s)")
    p.add_argument("--retention-hours", type=float, default=DEFAULTS.retention_hours, metavar="H",
                   help="finished jobs and their results are deleted after this (default: %(default)g)")
    p.add_argument("--cache-mb", type=float, default=DEFAULTS.cache_mb, metavar="MB",
                   help="results kept for repeat requests, least recently used out first "
                   "(default: %(default)g; 0 turns the cache off)")
    p.add_argument("--broker", metavar="redis://HOST:PORT",
                   help="queue jobs in Redis for `anime-tf worker` processes on any machines, "
                   "instead of running them in this process")
    p.set_defaults(run=run_serve)


def _add_worker(commands):
    p = commands.add_parser(
        "worker", help="run jobs queued in Redis by `anime-tf serve --broker`",
        description="Take jobs from Redis and stylize them; start as many as you like, on any "
        "machines that reach Redis. Offer the same styles (same weights) as the server.")
    _add_style_flags(p)
    p.add_argument("--broker", required=True, metavar="redis://HOST:PORT", help="the server's Redis")
    p.add_argument("--faces", action="store_true", help="run the face pass for jobs that ask for it")
    p.add_argument("--face-model", metavar="PATH", help="MediaPipe's face_landmarker.task")
    p.add_argument("--burst", action="store_true", help="stop when the queue is empty")
    p.set_defaults(run=run_worker)


def styles_from(args):
    specs = [parse_style(name, named=True) for name in args.style]
    specs += [parse_style(text) for text in args.weights]
    return tuple(specs) or DEFAULTS.styles


def worker_settings(args):
    """What serve and worker share: the styles, the face pass and the broker."""
    styles = styles_from(args)
    names = [style.name for style in styles]
    if len(set(names)) != len(names):
        raise ConfigError(f"two styles share a name ({', '.join(names)}); name them with NAME=PATH")
    return Settings(styles=styles, faces=args.faces, face_model=args.face_model, broker=args.broker)


def server_settings(args):
    return dataclasses.replace(
        worker_settings(args), host=args.host, port=args.port, data_dir=args.data_dir,
        workers=args.workers, max_upload_mb=args.max_upload_mb, max_pixels=args.max_pixels,
        max_files=args.max_files, max_queued_per_client=args.max_queued_per_client,
        retention_hours=args.retention_hours, cache_mb=args.cache_mb)


def _startup_errors():
    from anime_tf.download import DownloadError
    from anime_tf.face.landmarks import FaceModelError
    from anime_tf.weights import WeightsError

    return (OSError, ValueError, WeightsError, DownloadError, FaceModelError)


def run_serve(args):
    from anime_tf.serve.server import serve

    try:
        settings = server_settings(args)
        if not serve(settings):
            report("anime-tf serve", f"could not listen on {settings.host}:{settings.port} "
                   "(in use? try --port)")
            return EXIT_UNUSABLE
    except _startup_errors() as err:
        report("anime-tf serve", err)
        return EXIT_UNUSABLE
    return EXIT_OK


def run_worker(args):
    from anime_tf.serve.remote import work

    try:
        work(worker_settings(args), burst=args.burst)
    except _startup_errors() as err:
        report("anime-tf worker", err)
        return EXIT_UNUSABLE
    return EXIT_OK

