"""Video: pipeline frame rate against the model alone on the same frames, and flicker with and without smoothing.

    python benchmarks/bench_video.py --weights hayao.weights.h5 --videos ../shared/videos \
        --int8 hayao_int8_dynamic.tflite

Speed: the first --frames frames of a clip, scaled to 360p and 720p (written
to a lossless temporary clip first), through `stylize_video` (decode, model,
smoothing, encode in their threads) and through the frame model alone
(`KerasFrames` on the frames already decoded, no smoothing, no I/O),
interleaved for --rounds rounds; medians. With --int8, the same for an
exported model through the edge runner (`ExportedFrames`, as
`anime-tf-edge --video` runs it). Flicker: the first --flicker-frames frames
of every shared clip at --flicker-side (0: full size), frame by frame and
smoothed: mean |output change| / mean |photo change| between consecutive
frames (cuts left out), and the PSNR of each smoothed frame against the
unsmoothed one. With --face-model, the landmark jitter of the --faces pass on
webcam_face.mkv (one frontal face throughout): the mean second difference of
the landmarks over frames, raw and smoothed, in inter-ocular distances, and
the smoothed landmarks' mean distance from the raw ones (lag).
"""
import argparse
import statistics
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from anime_tf.metrics import psnr
from anime_tf.inference import Stylizer
from anime_tf.video import io
from anime_tf.video.exported import ExportedFrames
from anime_tf.video.frames import KerasFrames
from anime_tf.video.pipeline import stylize_video
from anime_tf.video.smooth import SceneCuts, flicker

SIZES = {"360p": (640, 360), "720p": (1280, 720)}


def scaled_clip(source, size, frames, folder):
    """The first `frames` frames of `source` resized to `size` (None: as it is), as a near-lossless MP4."""
    path = Path(folder) / f"{source.stem}_{size[1] if size else 'full'}p.mp4"
    with av.open(str(source)) as inp, av.open(str(path), "w") as out:
        first = inp.streams.video[0].codec_context
        size = size or (first.width, first.height)
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


def speed(make_model, clip, rounds, batch, folder):
    """(frames, {"model" | "pipeline" | "pipeline --no-smooth": median seconds}); make_model(smooth)."""
    photos = decoded_frames(clip)
    cuts = [True] + [False] * (len(photos) - 1)
    models = {smooth: make_model(smooth) for smooth in (False, True)}
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


def flicker_figures(stylizer, clip, side, frames, folder):
    clip = scaled_clip(clip, None, frames, folder)
    outputs = {}
    for smooth in (False, True):
        out = Path(folder) / f"flicker_{smooth}.mp4"
        stylize_video(clip, out, KerasFrames(stylizer, smooth=smooth), max_side=side or None, crf=0,
                      smooth=smooth, overwrite=True, progress=False)
        with av.open(str(out)) as container:
            outputs[smooth] = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    photos = decoded_frames(clip, side or None)
    scene_cuts = SceneCuts()
    cuts = [scene_cuts(p) for p in photos]
    plain, smoothed = (flicker(photos, outputs[s], cuts) for s in (False, True))
    closeness = [psnr(a, b) for a, b, cut in zip(outputs[True], outputs[False], cuts) if not cut]
    return plain, smoothed, np.median(closeness), min(closeness), sum(cuts) - 1


def face_jitter(face_model, clip):
    """(raw jitter, smoothed jitter, lag) of the largest face's landmarks over the clip's frames."""
    from anime_tf.face.landmarks import FaceLandmarker, inter_ocular
    from anime_tf.video.faces import LandmarkSmoother, jitter

    with FaceLandmarker(face_model) as landmarker:
        raw = [faces[0] for faces in map(landmarker.detect, decoded_frames(clip)) if faces]
    smoother = LandmarkSmoother()
    smoothed = [smoother([face])[0] for face in raw]
    lag = np.mean([np.linalg.norm(a - b, axis=1).mean() / inter_ocular(a) for a, b in zip(raw, smoothed)])
    return jitter(raw), jitter(smoothed), float(lag), len(raw)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", required=True)
    parser.add_argument("--videos", type=Path, required=True, help="folder with the shared clips")
    parser.add_argument("--frames", type=int, default=24, help="frames of the speed clips")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--face-model", help="face_landmarker.task: measure the face pass's landmark jitter")
    parser.add_argument("--int8", type=Path, help="an exported .tflite or .onnx (any size) for the edge rows")
    parser.add_argument("--flicker-side", type=int, default=256, help="longest side; 0 for full size")
    parser.add_argument("--flicker-frames", type=int, default=100000, help="0 to skip the flicker figures")
    parser.add_argument("--sizes", default="360p,720p", help="speed clip sizes (360p, 720p); none to skip")
    args = parser.parse_args()
    stylizer = Stylizer(args.weights)
    models = {"Keras": lambda smooth: KerasFrames(stylizer, smooth=smooth)}
    int8_size = None
    if args.int8:
        from anime_tf.edge import EdgeStylizer, open_model

        edge = EdgeStylizer(open_model(args.int8, threads=2))
        models[f"{args.int8.name}, edge runner"] = lambda smooth: ExportedFrames(edge)
        int8_size = edge.model.fixed_size  # (height, width), or None for any size
    clips = sorted(p for p in args.videos.iterdir() if p.suffix in (".mp4", ".mkv"))
    if args.face_model:
        raw, smoothed, lag, count = face_jitter(args.face_model, args.videos / "webcam_face.mkv")
        print(f"Landmark jitter on webcam_face.mkv ({count} frames with the face): raw {raw:.4f}, smoothed "
              f"{smoothed:.4f} ({smoothed / raw:.2f}x), lag {lag:.4f} inter-ocular distances\n", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        print("| size | model | frames | model alone (frames/s) | pipeline, smoothed | pipeline, frame by frame "
              "| pipeline / model (smoothed) |")
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
        for name, size in SIZES.items():
            if name not in args.sizes.split(","):
                continue
            clip = scaled_clip(clips[0], size, args.frames, folder)
            for model_name, make_model in models.items():
                if model_name != "Keras" and int8_size and int8_size != size[::-1]:
                    continue  # a fixed-size export runs at its own size only
                count, seconds = speed(make_model, clip, args.rounds, args.batch_size, folder)
                fps = {k: count / v for k, v in seconds.items()}
                print(f"| {name} | {model_name} | {count} | {fps['model']:.2f} | {fps['pipeline']:.2f} | "
                      f"{fps['pipeline --no-smooth']:.2f} | {100 * fps['pipeline'] / fps['model']:.0f}% |",
                      flush=True)
        if not args.flicker_frames:
            return
        side = f"{args.flicker_side} px" if args.flicker_side else "full size"
        print(f"\nFlicker at {side}, first {args.flicker_frames} frames "
              "(output change / photo change; lower is steadier)")
        print("| clip | cuts | frame by frame | smoothed | less flicker | PSNR smoothed vs frame by frame, "
              "median / min (dB) |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for clip in clips:
            plain, smoothed, median, low, cuts = flicker_figures(stylizer, clip, args.flicker_side,
                                                                 args.flicker_frames, folder)
            print(f"| {clip.name} | {cuts} | {plain:.3f} | {smoothed:.3f} | {100 * (1 - smoothed / plain):.0f}% | "
                  f"{median:.1f} / {low:.1f} |", flush=True)


if __name__ == "__main__":
    main()
