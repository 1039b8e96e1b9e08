"""The HTTP API and the page (FastAPI). No TensorFlow here: the models live in the workers.

Handlers never run a model; decoding an upload (to check it and to key the
cache) runs in Starlette's thread pool, so the event loop stays free to
answer while a 4K photo is being stylized.
"""
from __future__ import annotations

import math
import re
import secrets
from importlib import resources
from typing import Annotated

from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from anime_tf import __version__, config
from anime_tf.serve import schemas, streams
from anime_tf.serve.cache import cache_key
from anime_tf.serve.settings import JOB_ID_BYTES, OUTPUT_FORMATS, PAGE_SIZES
from anime_tf.serve.uploads import display_name, result_name, save_and_check
from anime_tf.serve.work import result_from_cache

ID = re.compile(r"[0-9a-f]{32}")
MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}
PAGE_CSP = ("default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
            "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
            "frame-ancestors 'none'")
# /docs and /redoc are FastAPI's pages, which load Swagger UI / ReDoc from a CDN with inline script.
DOCS_CSP = ("default-src 'self'; img-src 'self' data: https:; style-src 'self' 'unsafe-inline' "
            "https://cdn.jsdelivr.net; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            "worker-src blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


def new_id():
    return secrets.token_hex(JOB_ID_BYTES)


def create_app(service):
    """The FastAPI app over a `server.Service` (settings, store, cache, files, dispatcher)."""
    settings = service.settings
    app = FastAPI(title="anime-tf", version=__version__,
                  description="Photos to anime (AnimeGANv2): upload, follow, download.")

    @app.middleware("http")
    async def security_headers(request, call_next):
        response = await call_next(request)
        docs = request.url.path in ("/docs", "/redoc", "/docs/oauth2-redirect")
        response.headers["Content-Security-Policy"] = DOCS_CSP if docs else PAGE_CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        return response

    too_large = f"the upload is larger than this server's limit of {settings.max_upload_mb:g} MB"

    @app.middleware("http")
    async def refuse_large_uploads(request, call_next):
        """A declared length over the limit is refused before a byte is read (the route's own
        limit catches bodies that do not declare it)."""
        length = request.headers.get("content-length", "")
        if request.method == "POST" and length.isdigit() and int(length) > settings.max_upload_bytes:
            return JSONResponse({"detail": too_large}, 413, headers={"Connection": "close"})
        return await call_next(request)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, exc):
        detail = too_large if exc.status_code == 413 and exc.detail == "Content Too Large" else exc.detail
        return JSONResponse({"detail": detail}, exc.status_code, headers=exc.headers)

    static = resources.files("anime_tf.serve") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page():
        return HTMLResponse((static / "index.html").read_text(encoding="utf-8"))

    @app.get("/api/health", response_model=schemas.Health, summary="Is the server up, and how busy")
    def health():
        entries_bytes, entries = service.cache.size()
        return {"status": "ok", **service.store.counts(), "cache_bytes": entries_bytes,
                "cache_entries": entries}

    @app.get("/api/styles", response_model=schemas.Styles, summary="Styles, options and limits")
    def styles():
        return {"styles": [{"name": s.name, "default": i == 0} for i, s in enumerate(settings.styles)],
                "faces": settings.faces, "sizes": list(PAGE_SIZES), "formats": list(OUTPUT_FORMATS),
                "max_upload_mb": settings.max_upload_mb, "max_pixels": settings.max_pixels,
                "max_files": settings.max_files}

    @app.post("/api/jobs", status_code=202, response_model=schemas.Submitted,
              max_body_size=settings.max_upload_bytes, summary="Upload photos: one job per file",
              responses={400: {}, 404: {}, 413: {}, 429: {}})
    async def submit(
            request: Request,
            files: Annotated[list[UploadFile], File(description="one or more images")],
            style: Annotated[str | None, Form(description="a name from /api/styles")] = None,
            faces: Annotated[bool, Form(description="also stylize faces from aligned crops")] = False,
            max_side: Annotated[int | None, Form(description="longer side of the output", gt=0)] = None,
            format: Annotated[str, Form(description="png, jpg or webp")] = "png",
            batch: Annotated[str | None, Form(description="add to this batch")] = None):
        style = style or settings.styles[0].name
        options = check_options(settings, style, faces, max_side, format, len(files))
        if batch is not None and not (ID.fullmatch(batch) and service.store.batch(batch)):
            raise HTTPException(404, "no such batch")
        client = request.client.host if request.client else "unknown"
        check_client_quota(service, client, len(files))
        jobs = [await run_in_threadpool(accept_file, service, file, style, options, client)
                for file in files]
        too_large = [job.pop("too_large") for job in jobs]
        if all(too_large):
            raise HTTPException(413, "; ".join(job["error"] for job in jobs))
        batch = batch or new_id()
        for job in jobs:
            job["batch"] = batch
        service.store.add(jobs)
        await run_in_threadpool(service.dispatcher.submit, [job for job in jobs if job["state"] == "queued"])
        return {"batch": batch, "jobs": [public(service, service.store.get(job["id"])) for job in jobs]}

    @app.get("/api/jobs/{job_id}", response_model=schemas.JobStatus, summary="A job's state",
             responses={404: {}})
    def job_status(job_id: str):
        return public(service, find_job(service, job_id))

    @app.get("/api/jobs/{job_id}/events", summary="A job's state as Server-Sent Events until it ends",
             response_class=StreamingResponse, responses={404: {}})
    def job_events(job_id: str, request: Request):
        find_job(service, job_id)
        return streams.event_stream(request, lambda: [public(service, service.store.get(job_id))],
                                    service.stopping, service.notifier)

    @app.get("/api/jobs/{job_id}/result", summary="The stylized image", response_class=FileResponse,
             responses={404: {}, 409: {}})
    def job_result(job_id: str, download: bool = False):
        job = find_job(service, job_id)
        if job["state"] != "done":
            raise HTTPException(409, f"the job is {job['state']}" + (f": {job['error']}" if job["error"] else ""))
        path = service.files.results / job["result"]
        if not path.is_file():
            raise HTTPException(404, "the result has expired")
        fmt = job["options"]["format"]
        return FileResponse(path, media_type=MEDIA_TYPES[fmt], filename=result_name(job["name"], fmt),
                            content_disposition_type="attachment" if download else "inline")

    @app.get("/api/batches/{batch_id}.zip", summary="A batch's finished results as a zip",
             response_class=StreamingResponse, responses={404: {}, 409: {}})
    async def batch_zip(batch_id: str):
        jobs = find_batch(service, batch_id)
        done = [(service.files.results / job["result"], result_name(job["name"], job["options"]["format"]))
                for job in jobs if job["state"] == "done"]
        if not done:
            raise HTTPException(409, "no finished results in this batch yet")
        archive = await run_in_threadpool(streams.zip_of, done)
        return StreamingResponse(streams.file_chunks(archive), media_type="application/zip",
                                 headers={"Content-Disposition": f'attachment; filename="anime-{batch_id[:8]}.zip"'})

    @app.get("/api/batches/{batch_id}", response_model=schemas.Batch, summary="A batch's jobs",
             responses={404: {}})
    def batch_status(batch_id: str):
        jobs = find_batch(service, batch_id)
        return {"batch": batch_id, "jobs": [public(service, job) for job in jobs],
                "zip_url": f"/api/batches/{batch_id}.zip"}

    @app.get("/api/batches/{batch_id}/events", summary="Every job of a batch as Server-Sent Events",
             response_class=StreamingResponse, responses={404: {}})
    def batch_events(batch_id: str, request: Request):
        find_batch(service, batch_id)
        return streams.event_stream(
            request, lambda: [public(service, job) for job in service.store.batch(batch_id)],
            service.stopping, service.notifier)

    return app


def check_options(settings, style, faces, max_side, fmt, count):
    """The options that change the output, or a 400 that says what is wrong."""
    if settings.style(style) is None:
        names = ", ".join(s.name for s in settings.styles)
        raise HTTPException(400, f"unknown style {style!r}; this server offers {names}")
    if faces and not settings.faces:
        raise HTTPException(400, "this server does not offer the face pass (start it with --faces)")
    if fmt not in OUTPUT_FORMATS:
        raise HTTPException(400, f"format must be one of {', '.join(OUTPUT_FORMATS)}")
    if not 1 <= count <= settings.max_files:
        raise HTTPException(400, f"send between 1 and {settings.max_files} files at a time")
    return {"faces": bool(faces), "max_side": max_side, "format": fmt}


def check_client_quota(service, client, count):
    """429, with a Retry-After guessed from recent run times, when a client has too much queued."""
    limit = service.settings.max_queued_per_client
    active = service.store.active_count(client)
    if active + count > limit:
        seconds = service.store.mean_seconds() or 5.0
        retry = max(1, min(3600, math.ceil(seconds * max(1, active + count - limit))))
        raise HTTPException(429, f"you have {active} photos waiting; at most {limit} may be queued "
                            "at once, try again when some are done", headers={"Retry-After": str(retry)})


def keyed_options(options):
    """The options a cached result is keyed by: with faces, also the face pass's own rule, so that
    results an earlier version painted are not served after an upgrade."""
    return {**options, "face_pass": config.face_pass_rule()} if options.get("faces") else options


def accept_file(service, upload, style, options, client):
    """A job for one uploaded file: failed (with the reason), done from the cache, or queued."""
    name = display_name(upload.filename)
    job = {"id": new_id(), "name": name, "client": client, "style": style, "options": options,
           "state": "queued", "too_large": False}
    checked = save_and_check(upload.file, service.files.input(job["id"]), name,
                             service.settings.max_pixels)
    if checked.error:
        return job | {"state": "failed", "error": checked.error, "too_large": checked.too_large}
    job["cache_key"] = cache_key(checked.pixels, service.identities[style], keyed_options(options))
    result = result_from_cache(service.cache, service.files, job)
    if result is not None:
        return job | {"state": "done", "cached": True, "result": result}
    return job


def find_job(service, job_id):
    job = service.store.get(job_id) if ID.fullmatch(job_id) else None
    if job is None:
        raise HTTPException(404, "no such job (it may have expired)")
    return job


def find_batch(service, batch_id):
    jobs = service.store.batch(batch_id) if ID.fullmatch(batch_id) else []
    if not jobs:
        raise HTTPException(404, "no such batch (it may have expired)")
    return jobs


def public(service, job):
    """A job as the API shows it (no client address, no file names on disk)."""
    options = job["options"]
    return {"id": job["id"], "name": job["name"], "state": job["state"],
            "progress": round(job["progress"], 3), "stage": job["stage"] if job["state"] == "running" else None,
            "queue_position": service.store.queue_position(job), "cached": job["cached"],
            "error": job["error"], "style": job["style"], "faces": options["faces"],
            "max_side": options["max_side"], "format": options["format"],
            "result_url": f"/api/jobs/{job['id']}/result" if job["state"] == "done" else None}
