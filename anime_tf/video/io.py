"""Video in and out through PyAV (FFmpeg's libraries, in its wheels). No TensorFlow.

Reading yields every frame upright (rotation metadata applied) with its own
timestamp. Writing is in two steps: `SegmentWriter` encodes frames to H.264
in MP4 with each frame's timestamp kept (variable frame rate too), and
`mux_final` joins the segments without re-encoding them and adds the
input's audio, copied when MP4 can hold its codec and re-encoded to AAC
otherwise (see `anime_tf.video.parts`).
"""
from __future__ import annotations

import dataclasses
import heapq
from fractions import Fraction

import av
import numpy as np

from anime_tf.errors import AnimeTFError

H264_ENCODERS = ("libx264", "libopenh264", "h264_videotoolbox", "h264")  # first one present is used
MP4_AUDIO = {"aac", "mp3", "mp3float", "alac", "opus", "flac", "ac3", "eac3"}  # copied without re-encoding
MAX_SIDE = 4096  # larger frames need --max-side
MIN_SIDE = 32


class VideoError(AnimeTFError, ValueError):
    """A video that cannot be read or written, with the reason."""


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    width: int  # of the frames as yielded: upright, scaled to max_side, even
    height: int
    rate: Fraction  # average frame rate (timestamps are kept frame by frame)
    time_base: Fraction
    frames: int  # as the container says; 0 when it does not
    rotation: int
    pixel_aspect: Fraction | None = None  # of the upright frames; None for square pixels


def open_input(path):
    """(container, video stream), or VideoError naming what is wrong."""
    try:
        container = av.open(str(path))
    except FileNotFoundError:
        raise VideoError(f"{path}: no such file") from None
    except (av.FFmpegError, UnicodeDecodeError) as err:
        raise VideoError(f"{path}: not a readable video ({_reason(err)})") from None
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path}: has no video stream")
    return container, container.streams.video[0]


def probe(container, stream, max_side=None):
    """What the output will be: frame size after rotation and scaling, rate, pixel aspect."""
    first = next(_frames(container, stream), None)
    if first is None:
        raise VideoError(f"{container.name}: has no video frames")
    rotation = int(first.rotation or 0) % 360
    width, height = (first.height, first.width) if rotation in (90, 270) else (first.width, first.height)
    width, height = output_size(width, height, max_side)
    return VideoInfo(width, height, stream.average_rate or Fraction(30), stream.time_base, stream.frames,
                     rotation, pixel_aspect(stream, rotation))


def pixel_aspect(stream, rotation=0):
    """The stream's sample (pixel) aspect ratio as players show it, or None for square pixels.

    Scaling keeps it (both sides scale alike); a quarter turn inverts it.
    """
    sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
    if not sar or sar == 1:
        return None
    return 1 / Fraction(sar) if rotation in (90, 270) else Fraction(sar)


def output_size(width, height, max_side=None):
    """Frame size scaled so the longer side is at most `max_side`, both sides even (for yuv420p)."""
    if max(width, height) > (max_side or MAX_SIDE):
        if not max_side:
            raise VideoError(f"frames of {width}x{height} are larger than {MAX_SIDE} px: give --max-side")
        scale = max_side / max(width, height)
        width, height = round(width * scale), round(height * scale)
    width, height = width // 2 * 2, height // 2 * 2
    if min(width, height) < MIN_SIDE:
        raise VideoError(f"frames of {width}x{height} are too small to stylize (at least {MIN_SIDE} px a side)")
    return width, height


def read(path, info, skip=0):
    """Yield ("video", uint8 RGB frame, pts) in order after the first `skip` frames; ("stop", reason) if cut short."""
    container, stream = open_input(path)
    with container:
        try:
            for index, frame in enumerate(container.decode(stream)):
                if index >= skip:
                    yield "video", upright_rgb(frame, info), frame.pts
        except av.FFmpegError as err:
            yield "stop", _reason(err)


def upright_rgb(frame, info):
    """The frame as uint8 RGB of the output size, rotated as players show it."""
    width, height = (info.height, info.width) if info.rotation in (90, 270) else (info.width, info.height)
    rgb = frame.to_ndarray(format="rgb24", width=width, height=height, interpolation="AREA")
    return np.ascontiguousarray(np.rot90(rgb, k=info.rotation // 90)) if info.rotation else rgb


def _frames(container, stream):
    try:
        yield from container.decode(stream)
    except av.FFmpegError:
        return


class SegmentWriter:
    """H.264 video in MP4 with the input's timestamps: one segment of the output."""

    def __init__(self, path, info, crf=18):
        self.encoder = choose_encoder()
        self.container = av.open(str(path), "w", format="mp4")
        video = self.container.add_stream(self.encoder, rate=info.rate)
        video.width, video.height, video.pix_fmt = info.width, info.height, "yuv420p"
        video.time_base = video.codec_context.time_base = self.time_base = info.time_base
        if info.pixel_aspect:
            video.codec_context.sample_aspect_ratio = info.pixel_aspect
        if self.encoder == "libx264":
            video.options = {"crf": str(crf), "preset": "medium"}
        self.video = video

    def write_frame(self, rgb, pts):
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
        frame.pts, frame.time_base = pts, self.time_base  # the muxer may give the stream another
        self.container.mux(self.video.encode(frame))

    def close(self):
        """Flush the encoder and write the index."""
        self.container.mux(self.video.encode(None))
        self.container.close()

    def abort(self):
        self.container.close()


def mux_final(dest, segments, source):
    """Join the segment files' video (not re-encoded) and `source`'s audio into the MP4 `dest`.

    Returns how the audio went: "copied (aac)", "re-encoded to AAC (pcm_s16le)" or "none".
    """
    inputs = [av.open(str(path)) for path in segments]
    audio_in = av.open(str(source))
    try:
        with av.open(str(dest), "w", format="mp4") as out:
            video = out.add_stream_from_template(inputs[0].streams.video[0])
            audio = _Audio(out, audio_in.streams.audio[0]) if audio_in.streams.audio else None
            streams = [_video_packets(inputs, video)] + ([audio.packets()] if audio else [])
            for _, _, packet in heapq.merge(*streams):  # in time order, as players read them
                out.mux(packet)
            if audio:
                audio.flush()
        return audio.description if audio else "none"
    finally:
        for container in inputs + [audio_in]:
            container.close()


def _video_packets(inputs, stream):
    """(seconds, 0, packet) of every segment's video, decode timestamps kept increasing across joins."""
    last = None
    for container in inputs:
        for packet in container.demux(container.streams.video[0]):
            if packet.size == 0:
                continue
            if last is not None and packet.dts is not None and packet.dts <= last:
                packet.dts = last + 1  # a new encoder's first frames start its own reorder delay
            last = packet.dts
            packet.stream = stream
            yield float((packet.dts if packet.dts is not None else packet.pts) * packet.time_base), 0, packet


class _Audio:
    """The input's audio in the output: packets copied, or decoded and encoded to AAC."""

    def __init__(self, out, source):
        self.source, self.name = source, source.codec_context.name
        self.copy = self.name in MP4_AUDIO
        if self.copy:
            self.stream = out.add_stream_from_template(source)
        else:  # MP4 cannot hold this codec
            self.stream = out.add_stream("aac", rate=source.codec_context.sample_rate)
        self.description = f"copied ({self.name})" if self.copy else f"re-encoded to AAC ({self.name})"

    def packets(self):
        """(seconds, 1, packet) in order; stops quietly where the input is damaged."""
        try:
            for packet in self.source.container.demux(self.source):
                if packet.dts is None:
                    continue
                for out in [packet] if self.copy else self._encode(packet):
                    out.stream = self.stream
                    yield float((out.dts if out.dts is not None else 0) * out.time_base), 1, out
        except av.FFmpegError:
            return

    def _encode(self, packet):
        for frame in self.source.codec_context.decode(packet):
            frame.pts = None  # the encoder numbers its own samples
            yield from self.stream.encode(frame)

    def flush(self):
        if not self.copy:
            for packet in self.stream.encode(None):
                self.stream.container.mux(packet)


def choose_encoder():
    """The first H.264 encoder this FFmpeg has, or VideoError naming the video encoders it has."""
    for name in H264_ENCODERS:
        try:
            av.codec.Codec(name, "w")
            return name
        except (av.codec.codec.UnknownCodecError, ValueError):
            continue
    available = sorted(n for n in av.codecs_available if _is_video_encoder(n))
    raise VideoError(f"no H.264 encoder in this FFmpeg build; its video encoders: {', '.join(available)}")


def _is_video_encoder(name):
    try:
        return av.codec.Codec(name, "w").type == "video"
    except Exception:  # not an encoder
        return False


def _reason(err):
    return getattr(err, "strerror", None) or str(err)
