"""The API's JSON shapes, for validation and for the OpenAPI page at /docs."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

State = Literal["queued", "running", "done", "failed"]


class JobStatus(BaseModel):
    id: str = Field(description="random 128-bit id: the only way to reach the job and its result")
    name: str = Field(description="the uploaded file's name (text only)")
    state: State
    progress: float = Field(description="0 to 1 while running; 1 when done")
    stage: str | None = Field(None, description="what is being done, e.g. '3 of 8 tiles'")
    queue_position: int | None = Field(None, description="1 for the next job to run; null unless queued")
    cached: bool = Field(description="the result came from the cache, without running the model")
    error: str | None = Field(None, description="why the job failed, in words")
    result_url: str | None = Field(None, description="where the image is, once done")
    style: str
    faces: bool
    max_side: int | None
    format: str


class Submitted(BaseModel):
    batch: str = Field(description="id of the batch: its zip is at /api/batches/{batch}.zip")
    jobs: list[JobStatus]


class Batch(BaseModel):
    batch: str
    jobs: list[JobStatus]
    zip_url: str


class Style(BaseModel):
    name: str
    default: bool


class Styles(BaseModel):
    styles: list[Style]
    faces: bool = Field(description="whether this server offers the face pass")
    sizes: list[int | None] = Field(description="output sizes the page offers (longer side; null keeps it)")
    formats: list[str]
    max_upload_mb: float
    max_pixels: int
    max_files: int


class Health(BaseModel):
    status: Literal["ok"]
    queued: int
    running: int
    done: int
    failed: int
    cache_bytes: int
    cache_entries: int
