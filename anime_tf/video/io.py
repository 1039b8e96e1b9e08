"""Video in and out through PyAV (FFmpeg's libraries, in its wheels). No TensorFlow.

Reading yields every frame upright (rotation metadata applied) with its own
timestamp, and the audio packets; writing encodes H.264 in MP4 with each
frame's timestamp kept (variable frame rate too) and copies the audio when
MP4 can hold its codec, re-encoding it to AAC otherwise.
"""
from __future__ import annotations

import dataclasses
from fractions import Fraction

import av
import numpy as np

H264_ENCODERS = ("libx264", "libopenh264", "h264_videotoolbox", "h264")  # first one present is used
MP4_AUDIO = {"aac", "mp3", "mp3float", "alac", "opus", "flac", "ac3", "eac3"}  # copied without re-encoding
MAX_SIDE = 4096  # larger frames need --max-side
MIN_SIDE = 32


class VideoError(ValueError):
    """A video that cannot be read or written, with the reason."""


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    width: int  # of the frames as yielded: upright, scaled to max_side, even
    height: int
    rate: Fraction  # average frame rate (timestamps are kept frame by frame)
    time_base: Fraction
    frames: int  # as the container says; 0 when it does not
    rotation: int
    audio: str | None  # codec name


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
    """What the output will be: frame size after rotation and scaling, rate, audio codec."""
    first = next(_frames(container, stream), None)
    if first is None:
        raise VideoError(f"{container.name}: has no video frames")
    rotation = int(first.rotation or 0) % 360
    width, height = (first.height, first.width) if rotation in (90, 270) else (first.width, first.height)
    width, height = output_size(width, height, max_side)
    audio = container.streams.audio[0].codec_context.name if container.streams.audio else None
    return VideoInfo(width, height, stream.average_rate or Fraction(30), stream.time_base, stream.frames,
                     rotation, audio)


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


def read(path, info):
    """Yield ("video", uint8 RGB frame, pts) and ("audio", packet) in file order; ("stop", reason) if cut short."""
    container, stream = open_input(path)
    audio = container.streams.audio[0] if container.streams.audio else None
    with container:
        try:
            for packet in container.demux([s for s in (stream, audio) if s is not None]):
                if packet.stream is audio:
                    if packet.dts is not None:
                        yield "audio", packet
                    continue
                for frame in packet.decode():
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


class Writer:
    """An MP4 with H.264 video (timestamps of the input's) and the input's audio (copied or AAC)."""

    def __init__(self, path, info, audio_source=None, crf=18):
        self.encoder = choose_encoder()
        self.container = av.open(str(path), "w", format="mp4")
        video = self.container.add_stream(self.encoder, rate=info.rate)
        video.width, video.height, video.pix_fmt = info.width, info.height, "yuv420p"
        video.time_base = video.codec_context.time_base = self.time_base = info.time_base
        if self.encoder == "libx264":
            video.options = {"crf": str(crf), "preset": "medium"}
        self.video = video
        self.audio, self._audio_decoder = None, None
        if audio_source is not None:
            self._add_audio(audio_source)

    def _add_audio(self, source):
        if source.codec_context.name in MP4_AUDIO:
            self.audio = self.container.add_stream_from_template(source)
        else:  # decode and encode: MP4 cannot hold this codec
            self.audio = self.container.add_stream("aac", rate=source.codec_context.sample_rate)
            self._audio_decoder = source.codec_context

    @property
    def audio_copied(self):
        return self.audio is not None and self._audio_decoder is None

    def write_frame(self, rgb, pts):
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
        frame.pts, frame.time_base = pts, self.time_base  # the muxer may give the stream another
        self.container.mux(self.video.encode(frame))

    def write_audio(self, packet):
        if self.audio is None:
            return
        if self._audio_decoder is None:
            packet.stream = self.audio
            self.container.mux(packet)
            return
        for frame in self._audio_decoder.decode(packet):
            frame.pts = None  # the encoder numbers its own samples
            self.container.mux(self.audio.encode(frame))

    def close(self):
        """Flush the encoders and write the index."""
        self.container.mux(self.video.encode(None))
        if self._audio_decoder is not None:
            self.container.mux(self.audio.encode(None))
        self.container.close()

    def abort(self):
        self.container.close()


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
