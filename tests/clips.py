"""Small test clips written and read with PyAV, for the video tests."""

import av
import numpy as np
from PIL import Image


def decoded(path):
    """[(uint8 RGB frame, timestamp in seconds as a Fraction)] of a file's video stream."""
    with av.open(str(path)) as container:
        return [(f.to_ndarray(format="rgb24"), f.pts * f.time_base) for f in container.decode(video=0)]


def write_clip(path, frames, stamps, time_base, audio_codec=None, codec="libx264"):
    """A small test clip: the frames at the given timestamps, and a second of tone in `audio_codec`."""
    with av.open(str(path), "w") as container:
        video = container.add_stream(codec, rate=30)
        video.width, video.height, video.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        video.time_base = video.codec_context.time_base = time_base
        audio = container.add_stream(audio_codec, rate=16000, layout="mono") if audio_codec else None
        for rgb, stamp in zip(frames, stamps):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = int(stamp / time_base), time_base
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if audio:
            tone = (np.sin(np.arange(16000) * 2 * np.pi * 440 / 16000) * 8000).astype(np.int16)[None]
            frame = av.AudioFrame.from_ndarray(tone, format="s16", layout="mono")
            frame.sample_rate, frame.pts = 16000, 0
            container.mux(audio.encode(frame))
            container.mux(audio.encode(None))


def moving_frames(count, height=48, width=64):
    """A smooth random scene panning one pixel a frame."""
    coarse = np.random.default_rng(0).integers(0, 255, (6, 16, 3), dtype=np.uint8)
    scene = np.asarray(Image.fromarray(coarse).resize((width * 2, height), Image.Resampling.BICUBIC))
    return [np.ascontiguousarray(scene[:, i:i + width]) for i in range(count)]
