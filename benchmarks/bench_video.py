"""Video: pipeline frame rate against the model alone on the same frames, and flicker with and without smoothing.

    python benchmarks/bench_video.py --weights hayao.weights.h5 --videos ../shared/videos

Speed: the first --frames frames of a clip, scaled to 360p and 720p (written
to a lossless temporary clip first), through `stylize_video` (decode, model,
smoothing, encode in their threads) and through the frame model alone
(`KerasFrames` on the frames already decoded, no smoothing, no I/O),
interleaved for --rounds rounds; medians. Flicker: every shared clip whole
at --flicker-side, frame by frame and smoothed: mean |output change| / mean
|photo change| between consecutive frames (cuts left out), and the PSNR of
each smoothed frame against the unsmoothed one.
"""
import argparse
import statistics
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from anime_tf.export.report import psnr
from anime_tf.inference import Stylizer
from anime_tf.video import io
from anime_tf.video.frames import KerasFrames
from anime_tf.video.pipeline import stylize_video
from anime_tf.video.smooth import SceneCuts, flicker

SIZES = {"360p": (640, 360), "720p": (1280, 720)}


def scaled_clip(source, size, frames, folder):
    """The first `frames` frames of `source` resized to `size`, as a near-lossless MP4."""
    path = Path(folder) / f"{source.stem}_{size[1]}p.mp4"
    with av.open(str(source)) as inp, av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30, options={"crf": "4"})
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        for i, frame in enumerate(inp.decode(video=0)):
            if i == frames:
                break
            frame = frame.reformat(width=size[0], height=size[1], format="yuv420p")
            frame.pts, frame.time_base = i, Fraction(1, 30)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def decoded_frames(path, max_side=None):
    container, stream = io.open_input(path)
    with container:
        info = io.probe(container, stream, max_side)
    return [item[1] for item in io.read(path, info) if item[0] == "video"]


def speed(stylizer, clip, rounds, batch, folder):
    photos = decoded_frames(clip)
    cuts = [True] + [False] * (len(photos) - 1)
    models = {smooth: KerasFrames(stylizer, smooth=smooth) for smooth in (False, True)}
    for model in models.values():  # warm-up: tracing is not per-frame work
        model(photos[:batch], cuts[:batch])
    times = {"model": [], "pipeline": [], "pipeline --no-smooth": []}
    for r in range(rounds):
        start = time.perf_counter()
        for i in range(0, len(photos), batch):
            models[False](photos[i:i + batch], cuts[i:i + batch])
        times["model"].append(time.perf_counter() - start)
        for name, smooth in (("pipeline", True), ("pipeline --no-smooth", False)):
            start = time.perf_counter()
            stylize_video(clip, Path(folder) / "out.mp4", models[smooth], batch_size=batch, smooth=smooth,
                          overwrite=True, progress=False)
            times[name].append(time.perf_counter() - start)
    return len(photos), {name: statistics.median(t) for name, t in times.items()}


def flicker_figures(stylizer, clip, side, folder):
    outputs = {}
    for smooth in (False, True):
        out = Path(folder) / f"flicker_{smooth}.mp4"
        stylize_video(clip, out, KerasFrames(stylizer, smooth=smooth), max_side=side, crf=0, smooth=smooth,
                      overwrite=True, progress=False)
        with av.open(str(out)) as container:
            outputs[smooth] = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    photos = decoded_frames(clip, side)
    scene_cuts = SceneCuts()
    cuts = [scene_cuts(p) for p in photos]
    plain, smoothed = (flicker(photos, outputs[s], cuts) for s in (False, True))
    closeness = [psnr(a, b) for a, b, cut in zip(outputs[True], outputs[False], cuts) if not cut]
    return plain, smoothed, np.median(closeness), min(closeness), sum(cuts) - 1


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", required=True)
    parser.add_argument("--videos", type=Path, required=True, help="folder with the shared clips")
    parser.add_argument("--frames", type=int, default=24, help="frames of the speed clips")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--flicker-side", type=int, default=256, help="0 to skip the flicker figures")
    parser.add_argument("--sizes", default="360p,720p", help="speed clip sizes (360p, 720p); none to skip")
    args = parser.parse_args()
    stylizer = Stylizer(args.weights)
    clips = sorted(p for p in args.videos.iterdir() if p.suffix in (".mp4", ".mkv"))
    with tempfile.TemporaryDirectory() as folder:
        print("| size | frames | model alone (frames/s) | pipeline, smoothed | pipeline, frame by frame "
              "| pipeline / model (smoothed) |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for name, size in SIZES.items():
            if name not in args.sizes.split(","):
                continue
            clip = scaled_clip(clips[0], size, args.frames, folder)
            count, seconds = speed(stylizer, clip, args.rounds, args.batch_size, folder)
            fps = {k: count / v for k, v in seconds.items()}
            print(f"| {name} | {count} | {fps['model']:.2f} | {fps['pipeline']:.2f} | "
                  f"{fps['pipeline --no-smooth']:.2f} | {100 * fps['pipeline'] / fps['model']:.0f}% |", flush=True)
        if not args.flicker_side:
            return
        print(f"\nFlicker at {args.flicker_side} px (output change / photo change; lower is steadier)")
        print("| clip | cuts | frame by frame | smoothed | less flicker | PSNR smoothed vs frame by frame, "
              "median / min (dB) |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for clip in clips:
            plain, smoothed, median, low, cuts = flicker_figures(stylizer, clip, args.flicker_side, folder)
            print(f"| {clip.name} | {cuts} | {plain:.3f} | {smoothed:.3f} | {100 * (1 - smoothed / plain):.0f}% | "
                  f"{median:.1f} / {low:.1f} |", flush=True)


if __name__ == "__main__":
    main()
