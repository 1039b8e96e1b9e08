"""A video through a frame model: decode, stylize in batches and encode at once, in three threads.

    decode thread ──frames──▶ model (caller's thread) ──▶ encode thread ──▶ OUT.parts/ ──▶ OUT

The queues between the stages are bounded, so memory stays flat and the
model, the slowest stage, never waits for the others. Frames are encoded in
segments kept in `OUT.parts/` (`anime_tf.video.parts`), so a killed run
continues from its last segment; the finished segments are joined with the
input's audio into a temporary file beside OUT, renamed when complete.
No TensorFlow here: the frame model is any `(frames, cuts) -> frames`, with
`state()` and `load_state(state)` for what it carries from frame to frame.
"""
from __future__ import annotations

import dataclasses
import queue
import sys
import threading
from pathlib import Path

from tqdm import tqdm

from anime_tf.files import OutputExistsError, atomic_path
from anime_tf.video import io
from anime_tf.video.parts import SEGMENT_FRAMES, Parts, job_of
from anime_tf.video.smooth import FlowSmoother, SceneCuts

QUEUE_BATCHES = 2  # batches that may wait between two stages
_END = object()


@dataclasses.dataclass
class VideoResult:
    frames: int
    encoder: str
    audio: str  # "copied (aac)", "re-encoded to AAC (pcm_s16le)" or "none"
    stopped: str | None = None  # why decoding ended before the end of the file
    resumed: int = 0  # frames taken from an earlier, killed run


def stylize_video(source, dest, frame_model, *, batch_size=4, max_side=None, crf=18, smooth=True,
                  overwrite=False, progress=True, settings=None, resume=None,
                  segment_frames=SEGMENT_FRAMES):
    """Stylize `source` into the MP4 `dest`; returns a `VideoResult`. Raises `VideoError`.

    `settings` (what else changes the output, such as the weights' sha256)
    identify the run with the input; `resume`: None continues a killed run
    of the same job if `dest.parts` holds one, False starts over, True is
    the same as None (nothing to resume is not an error).
    """
    if Path(dest).exists() and not overwrite:
        raise OutputExistsError(dest)
    container, stream = io.open_input(source)
    with container:
        info = io.probe(container, stream, max_side)
    job = job_of(source, {**(settings or {}), "max_side": max_side, "crf": crf, "smooth": smooth,
                          "segment_frames": segment_frames})
    parts = Parts.open(dest, job, resume)
    state, resumed = parts.state(), parts.frames_done
    if state is not None:
        frame_model.load_state(_prefixed(state, "model."))
    encoder = io.choose_encoder()
    stages = _Stages(frame_model, smooth, state, segment_frames)
    frames, stopped = _run(source, info, parts, stages, batch_size, crf, progress)
    if frames == 0:
        parts.remove()
        raise io.VideoError(f"{source}: no frame could be decoded ({stopped or 'empty'})")
    with atomic_path(dest, overwrite=overwrite) as tmp:
        audio = io.mux_final(tmp, parts.segment_files(), source)
    parts.remove()
    return VideoResult(frames, encoder, audio, stopped, resumed)


class _Stages:
    """What the stages carry from frame to frame: scene cuts, the model's state, the flow smoother."""

    def __init__(self, frame_model, smooth, state, segment_frames):
        self.frame_model, self.segment_frames = frame_model, segment_frames
        self.cuts, self.smoother = SceneCuts(), FlowSmoother() if smooth else None
        if state is not None:
            self.cuts.load_state(_prefixed(state, "cuts."))
            if self.smoother:
                self.smoother.load_state(_prefixed(state, "smoother."))


def _prefixed(state, prefix):
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def _with_prefix(state, prefix):
    return {prefix + k: v for k, v in state.items()}


def _run(source, info, parts, stages, batch_size, crf, progress):
    """Stylize the frames not yet in `parts` into new segments; (frames in all, why decoding stopped)."""
    decoded, stylized = (queue.Queue(maxsize=QUEUE_BATCHES * batch_size) for _ in range(2))
    failure, stop = [], threading.Event()
    done = parts.frames_done
    threads = [threading.Thread(target=_guard(_decode, failure, stop), args=(source, info, done, decoded, stop)),
               threading.Thread(target=_guard(_encode, failure, stop), args=(parts, info, crf, stages, stylized, stop))]
    for thread in threads:
        thread.start()
    bar = tqdm(total=info.frames or None, initial=done, unit="frame", desc="video", disable=not progress,
               smoothing=0.1)
    frames, stopped = done, None
    try:
        frames, stopped = _stylize_stream(decoded, stylized, stop, stages, done, batch_size, bar)
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
    return frames, stopped


def _stylize_stream(decoded, stylized, stop, stages, done, batch_size, bar):
    """Frames in batches through the model, a segment's end marked after the batch that completes it.

    Returns (frames in all, why decoding stopped or None).
    """
    batch, frames, in_segment = [], done, 0
    while (item := _get(decoded, stop)) is not _END and item[0] != "stop":
        _, photo, pts = item
        batch.append((photo, pts, stages.cuts(photo)))
        if len(batch) == batch_size:
            frames += _stylize_batch(batch, stages.frame_model, stylized, stop, bar)
            in_segment += len(batch)
            batch = []
            if in_segment >= stages.segment_frames:
                _end_segment(stages, stylized, stop)
                in_segment = 0
    if batch:
        frames += _stylize_batch(batch, stages.frame_model, stylized, stop, bar)
        in_segment += len(batch)
    if in_segment:
        _end_segment(stages, stylized, stop)
    return frames, None if item is _END else item[1]


def _end_segment(stages, stylized, stop):
    """Mark a segment's end, with the state after its last frame of the stages ahead of the encoder."""
    state = {**_with_prefix(stages.frame_model.state(), "model."), **_with_prefix(stages.cuts.state(), "cuts.")}
    _put(stylized, ("end", state), stop)


def _stylize_batch(batch, frame_model, stylized, stop, bar):
    photos, stamps, cuts = zip(*batch)
    for photo, output, pts, cut in zip(photos, frame_model(list(photos), list(cuts)), stamps, cuts):
        _put(stylized, ("video", photo, output, pts, cut), stop)
    bar.update(len(batch))
    return len(batch)


def _decode(source, info, skip, decoded, stop):
    for item in io.read(source, info, skip):
        _put(decoded, item, stop)
    _put(decoded, _END, stop)


def _encode(parts, info, crf, stages, stylized, stop):
    """Frames into segment files; at each end marker the segment is closed and recorded with its state."""
    writer, count = None, 0
    try:
        while (item := _get(stylized, stop)) is not _END:
            if item[0] == "end":
                writer.close()
                smoother = stages.smoother.state() if stages.smoother else {}
                parts.add(count, {**item[1], **_with_prefix(smoother, "smoother.")})
                writer, count = None, 0
                continue
            _, photo, output, pts, cut = item
            writer = writer or io.SegmentWriter(parts.new_segment(), info, crf)
            writer.write_frame(stages.smoother(photo, output, cut) if stages.smoother else output, pts)
            count += 1
    finally:
        if writer is not None:
            writer.abort()  # the unfinished segment is not recorded; a resumed run writes it again


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
