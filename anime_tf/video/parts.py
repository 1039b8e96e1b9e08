"""A run's finished segments, kept beside OUT so that a killed run continues where it stopped.

`anime-tf video IN -o OUT` encodes into `OUT.parts/`: segment files of
`SEGMENT_FRAMES` frames, each with the smoothing state at its end, and
`job.json`, which names the input (path, size, modification time), the
settings and the segments done. A segment is renamed into place only when
complete, and `job.json` is replaced atomically after it, so a kill at any
moment leaves a folder that says exactly what is done. When OUT is complete
(the segments joined with the audio, `anime_tf.video.io.mux_final`) the
folder is removed.

A later run with the same input and settings skips the frames done and
restores the smoothing state, so the output is the one an uninterrupted
run writes.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from anime_tf.files import atomic_path
from anime_tf.video.io import VideoError

SEGMENT_FRAMES = 240  # 8-10 s of video: what a kill can cost
JOB = "job.json"
VERSION = 1


def parts_folder(dest):
    return Path(dest).with_name(Path(dest).name + ".parts")


def job_of(source, settings):
    """What a run is: its input file as it is now, and every setting that changes the output."""
    stat = Path(source).stat()
    return {"version": VERSION, "input": {"path": str(Path(source).resolve()), "size": stat.st_size,
                                          "mtime_ns": stat.st_mtime_ns}, "settings": settings}


class Parts:
    """The segments folder of one output: what is done, adding a segment, the state to resume from."""

    def __init__(self, folder, job, segments=()):
        self.folder, self.job, self.segments = Path(folder), job, list(segments)

    @classmethod
    def open(cls, dest, job, resume=None):
        """The folder for `dest`: continued when it holds this job (unless `resume` is False), else new.

        A folder of another job (other input or settings) is an error unless
        `resume` is False, which starts over.
        """
        folder = parts_folder(dest)
        if folder.exists() and resume is not False:
            saved = _read_job(folder)
            if saved is not None and {k: v for k, v in saved.items() if k != "segments"} == job:
                for stale in [*folder.glob("*.tmp.mp4"), *folder.glob(".*")]:  # being written at a kill
                    stale.unlink()
                return cls(folder, job, saved.get("segments", []))
            raise VideoError(f"{folder} holds a partial run of {_difference(saved, job)}; "
                             "--no-resume deletes it and starts over")
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir()
        parts = cls(folder, job)
        parts._write_job()
        return parts

    @property
    def frames_done(self):
        return sum(self.segments)

    def segment_path(self, index):
        return self.folder / f"{index:05d}.mp4"

    def segment_files(self):
        return [self.segment_path(i) for i in range(len(self.segments))]

    def new_segment(self):
        """Where to write the next segment (renamed into place by `add`)."""
        return self.folder / f"{len(self.segments):05d}.tmp.mp4"

    def add(self, frames, state):
        """Record the segment just written at `new_segment()`: `frames` frames, `state` ({name: array}) at its end."""
        index = len(self.segments)
        with atomic_path(self.folder / f"{index:05d}.state.npz", overwrite=True) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **state)
        os.replace(self.new_segment(), self.segment_path(index))
        self.segments.append(frames)
        self._write_job()

    def state(self):
        """The smoothing state at the end of the last segment ({name: array}), or None at the start."""
        if not self.segments:
            return None
        with np.load(self.folder / f"{len(self.segments) - 1:05d}.state.npz") as saved:
            return dict(saved)

    def remove(self):
        shutil.rmtree(self.folder, ignore_errors=True)

    def _write_job(self):
        with atomic_path(self.folder / JOB, overwrite=True) as tmp:
            Path(tmp).write_text(json.dumps({**self.job, "segments": self.segments}, indent=1) + "\n")


def _read_job(folder):
    try:
        return json.loads((folder / JOB).read_text())
    except (OSError, ValueError):
        return None


def _difference(saved, job):
    """A few words on why a saved job is not this one."""
    if saved is None:
        return "unknown content (no readable job.json)"
    if saved.get("input") != job["input"]:
        return f"another input ({saved.get('input', {}).get('path')}, or that file has changed)"
    changed = sorted(k for k in set(saved.get("settings", {})) | set(job["settings"])
                     if saved.get("settings", {}).get(k) != job["settings"].get(k))
    return f"other settings ({', '.join(changed) or 'version'})"
