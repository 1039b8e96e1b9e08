"""Tune the flow smoother: flicker and closeness of `FlowSmoother` settings on cached frame-by-frame outputs.

    python benchmarks/tune_smoothing.py --weights hayao.weights.h5 --videos ../shared/videos \
        --cache runs/flicker_cache --settings "" "still_change=1e-6" "blend=0.95"

Each clip's frame-by-frame Keras outputs (the `--no-smooth` frames of
`anime-tf video`, layer-norm moments not carried) are rendered once at
--side (0: full size) for --frames frames and kept in --cache; every
setting (keyword arguments of `FlowSmoother`, "" for the defaults) then
smooths them in a few seconds per clip. Printed per clip: how much less
flicker than frame by frame (the figure of `bench_video.py`, cuts left out)
and the smoothed frames' PSNR against the unsmoothed ones, min / 5th percentile / median,
the detail they keep (mean |Laplacian| over the unsmoothed frame's, 5th percentile / median),
and the smoother's own time per frame.
bench_video.py measures the pipeline itself; this is for choosing its settings.
"""
import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from anime_tf.metrics import psnr
from anime_tf.video.smooth import FlowSmoother, SceneCuts, flicker
from bench_video import decoded_frames, scaled_clip

CLIPS = ["stage_faces.mp4", "street_bw.mp4", "webcam_face.mkv"]


def frame_by_frame(weights, clip, side, frames, cache):
    """(photos, outputs, cuts) of a clip, from `cache` or rendered into it."""
    path = Path(cache) / f"{clip.stem}_{side}_{frames}.npz"
    if not path.exists():
        from anime_tf.inference import Stylizer
        from anime_tf.video.frames import KerasFrames

        with tempfile.TemporaryDirectory() as folder:
            photos = decoded_frames(scaled_clip(clip, None, frames, folder), side or None)
        scene_cuts = SceneCuts()
        cuts = [scene_cuts(p) for p in photos]
        model, outputs = KerasFrames(Stylizer(weights), smooth=False), []
        for i in range(0, len(photos), 4):
            outputs += model(photos[i:i + 4], cuts[i:i + 4])
            print(f"{clip.name}: {len(outputs)}/{len(photos)} frames", flush=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, photos=np.stack(photos), outputs=np.stack(outputs), cuts=np.array(cuts))
    saved = np.load(path)
    return list(saved["photos"]), list(saved["outputs"]), list(saved["cuts"])


def strided(clip_frames, stride):
    """Every `stride`th frame of (photos, outputs, cuts); a cut anywhere in between cuts there."""
    photos, outputs, cuts = clip_frames
    cut_at = [any(cuts[max(0, i - stride + 1):i + 1]) for i in range(0, len(cuts), stride)]
    return photos[::stride], outputs[::stride], cut_at


def evaluate(clip_frames, settings):
    """'N% less flicker, min / 5th percentile / median dB' for one clip smoothed with `settings`."""
    photos, outputs, cuts = clip_frames
    smoother = FlowSmoother(**settings)
    start = time.perf_counter()
    smoothed = [smoother(p, o, cut) for p, o, cut in zip(photos, outputs, cuts)]
    milliseconds = 1000 * (time.perf_counter() - start) / len(photos)
    less = 1.0 - flicker(photos, smoothed, cuts) / flicker(photos, outputs, cuts)
    closeness = [psnr(a, b) for a, b, cut in zip(smoothed, outputs, cuts) if not cut]
    kept = [detail(a) / max(detail(b), 1e-6) for a, b, cut in zip(smoothed, outputs, cuts) if not cut]
    return (f"{100 * less:4.1f}%, {min(closeness):.1f} / {np.percentile(closeness, 5):.1f} / "
            f"{np.median(closeness):.1f} dB, detail {np.percentile(kept, 5):.2f} / {np.median(kept):.2f}, "
            f"{milliseconds:.0f} ms/frame")


def detail(rgb):
    """Mean |Laplacian| of the grey image: outlines and texture, what blurring takes away."""
    import cv2

    return float(np.abs(cv2.Laplacian(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32), cv2.CV_32F)).mean())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", required=True)
    parser.add_argument("--videos", required=True, type=Path)
    parser.add_argument("--cache", required=True, type=Path, help="where frame-by-frame outputs are kept")
    parser.add_argument("--side", type=int, default=0, help="longest side; 0 for full size")
    parser.add_argument("--frames", type=int, default=100000, help="first N frames of each clip")
    parser.add_argument("--stride", type=int, default=1,
                        help="keep every Nth frame: N times the motion between frames (a harder clip)")
    parser.add_argument("--settings", nargs="+", default=[""],
                        help='FlowSmoother keyword arguments, such as "blend=0.9, still_change=2" ("" for the defaults)')
    args = parser.parse_args()
    clips = {name: strided(frame_by_frame(args.weights, args.videos / name, args.side, args.frames, args.cache),
                           args.stride) for name in CLIPS}
    print("| settings | " + " | ".join(CLIPS) + " |")
    print("| --- |" + " --- |" * len(CLIPS))
    for text in args.settings:
        settings = {k.strip(): float(v) for k, v in (pair.split("=") for pair in text.split(",") if pair.strip())}
        print(f"| {text or 'defaults'} | " + " | ".join(evaluate(clips[n], settings) for n in CLIPS) + " |",
              flush=True)


if __name__ == "__main__":
    main()
