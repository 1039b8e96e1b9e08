"""A video through a frame model: decode, stylize in batches and encode at once, in three threads.

    decode thread ──(frames, audio)──▶ model (caller's thread) ──▶ encode thread ──▶ OUT

The queues between the stages are bounded, so memory stays flat and the
model, the slowest stage, never waits for the others. The output is written
to a temporary file beside OUT and renamed when complete (`files.atomic_path`).
No TensorFlow here: the frame model is any `(frames, cuts) -> frames`.
"""
from __future__ import annotations

import dataclasses
import queue
import sys
import threading

from tqdm import tqdm

from anime_tf.files import atomic_path
from anime_tf.video import io
from anime_tf.video.smooth import FlowSmoother, SceneCuts

QUEUE_BATCHES = 2  # batches that may wait between two stages
_END = object()


@dataclasses.dataclass
class VideoResult:
    frames: int
    encoder: str
    audio: str  # "copied (aac)", "re-encoded to AAC (pcm_s16le)" or "none"
    stopped: str | None = None  # why decoding ended before the end of the file


def stylize_video(source, dest, frame_model, *, batch_size=4, max_side=None, crf=18, smooth=True,
                  overwrite=False, progress=True):
    """Stylize `source` into the MP4 `dest`; returns a `VideoResult`. Raises `VideoError`."""
    container, stream = io.open_input(source)
    with container:
        info = io.probe(container, stream, max_side)
        audio_stream = container.streams.audio[0] if container.streams.audio else None
        with atomic_path(dest, overwrite=overwrite) as tmp:
            writer = io.Writer(tmp, info, audio_stream, crf)
            try:
                result = _run(source, info, writer, frame_model, batch_size, smooth, progress)
            except BaseException:
                writer.abort()
                raise
            writer.close()
            if result.frames == 0:
                raise io.VideoError(f"{source}: no frame could be decoded ({result.stopped or 'empty'})")
    return result


def _run(source, info, writer, frame_model, batch_size, smooth, progress):
    decoded, stylized = (queue.Queue(maxsize=QUEUE_BATCHES * batch_size) for _ in range(2))
    failure, stop = [], threading.Event()
    threads = [threading.Thread(target=_guard(_decode, failure, stop), args=(source, info, decoded, stop)),
               threading.Thread(target=_guard(_encode, failure, stop), args=(writer, stylized, smooth, stop))]
    for thread in threads:
        thread.start()
    bar = tqdm(total=info.frames or None, unit="frame", desc="video", disable=not progress, smoothing=0.1)
    frames, stopped = 0, None
    try:
        frames, stopped = _stylize_stream(decoded, stylized, stop, frame_model, batch_size, bar)
        _put(stylized, _END, stop)
    except _Stopped:
        pass  # a thread failed: its exception is raised below
    finally:
        if failure or sys.exc_info()[0] is not None:
            stop.set()
        for thread in threads:
            thread.join()
        bar.close()
    if failure:
        raise failure[0]
    audio = "none"
    if writer.audio is not None:
        audio = f"copied ({info.audio})" if writer.audio_copied else f"re-encoded to AAC ({info.audio})"
    return VideoResult(frames, writer.encoder, audio, stopped)


def _stylize_stream(decoded, stylized, stop, frame_model, batch_size, bar):
    """Frames in batches through the model, audio passed on in order; (frames done, why decoding stopped)."""
    cuts, batch, frames = SceneCuts(), [], 0
    while (item := _get(decoded, stop)) is not _END and item[0] != "stop":
        if item[0] == "audio":
            _put(stylized, item, stop)
            continue
        _, photo, pts = item
        batch.append((photo, pts, cuts(photo)))
        if len(batch) == batch_size:
            frames += _stylize_batch(batch, frame_model, stylized, stop, bar)
            batch = []
    if batch:
        frames += _stylize_batch(batch, frame_model, stylized, stop, bar)
    return frames, None if item is _END else item[1]


def _stylize_batch(batch, frame_model, stylized, stop, bar):
    photos, stamps, cuts = zip(*batch)
    for photo, output, pts, cut in zip(photos, frame_model(list(photos), list(cuts)), stamps, cuts):
        _put(stylized, ("video", photo, output, pts, cut), stop)
    bar.update(len(batch))
    return len(batch)


def _decode(source, info, decoded, stop):
    for item in io.read(source, info):
        _put(decoded, item, stop)
    _put(decoded, _END, stop)


def _encode(writer, stylized, smooth, stop):
    smoother = FlowSmoother() if smooth else None
    while (item := _get(stylized, stop)) is not _END:
        if item[0] == "audio":
            writer.write_audio(item[1])
            continue
        _, photo, output, pts, cut = item
        writer.write_frame(smoother(photo, output, cut) if smoother else output, pts)


def _guard(work, failure, stop):
    """`work` in a thread: its exception is kept for the caller, and the other stages are told to stop."""
    def run(*args):
        try:
            work(*args)
        except _Stopped:
            pass
        except BaseException as err:  # handed to the caller's thread
            failure.append(err)
            stop.set()
    return run


def _put(q, item, stop):
    while not stop.is_set():
        try:
            q.put(item, timeout=0.2)
            return
        except queue.Full:
            continue
    raise _Stopped


def _get(q, stop):
    while True:
        try:
            return q.get(timeout=0.2)
        except queue.Empty:
            if stop.is_set():
                raise _Stopped from None


class _Stopped(Exception):
    """Another stage failed; its exception is the one reported."""
