"""`anime-tf video IN -o OUT`: a clip to anime, with its sound, timing and frame count kept."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from anime_tf import batch, config
from anime_tf.batch import EXIT_OK, EXIT_SOME_FAILED, EXIT_UNUSABLE

DEFAULT_BATCH = 4


def add_command(commands):
    p = commands.add_parser(
        "video", help="turn a video into anime, sound and timing kept",
        description="Stylize a video (anything FFmpeg reads: MP4, MKV, MOV, WebM; H.264, H.265, VP9...) "
        "into an MP4 with H.264 video and the input's audio. Every frame and its timestamp is kept; "
        "rotation is applied, so the output is upright as players show the input. Exit codes: 0 written, "
        "1 written up to where the input could be decoded, 2 nothing written.")
    p.add_argument("input", type=Path, metavar="IN", help="the video to stylize")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT", help="the MP4 to write")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--weights", help="any weights `anime-tf stylize --weights` takes")
    source.add_argument("--style", choices=sorted(config.STYLES),
                        help="official weights by name, fetched on first use (default: hayao)")
    p.add_argument("--max-side", type=batch.positive_int, metavar="N",
                   help="scale frames down so the longer side is at most N pixels (needed above 4096)")
    add_encoding_arguments(p, "remove flicker: layer-norm statistics carried across frames (restarted at "
                           "scene cuts) and textures that follow the motion")
    p.add_argument("--batch-size", type=batch.positive_int, default=DEFAULT_BATCH, metavar="N",
                   help="frames per model call (default: %(default)s)")
    p.add_argument("--keep-brightness", action=argparse.BooleanOptionalAction, default=True,
                   help="match each frame's brightness to the input's, as `stylize` does (default: on)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    batch.add_face_arguments(p, "weights for the face crops (default: those of the whole frame)")
    p.set_defaults(run=run_video)


def add_encoding_arguments(p, smooth_help):
    """The flags `anime-tf video` and `anime-tf-edge --video` share."""
    p.add_argument("--crf", type=int, default=18, metavar="Q",
                   help="H.264 quality, 0 (lossless) to 51; lower is better and larger (default: %(default)s)")
    p.add_argument("--smooth", action=argparse.BooleanOptionalAction, default=True,
                   help=f"{smooth_help} (default: on; --no-smooth for frame by frame)")
    p.add_argument("--resume", action=argparse.BooleanOptionalAction, default=None,
                   help="frames are encoded in segments kept in OUT.parts/ until OUT is complete; a run "
                   "with the same input and settings continues after the last one (default: when "
                   "OUT.parts/ holds such a run; --no-resume deletes it and starts over)")


def run_video(args):
    problem = check_output(args)
    if problem:
        return _fail(problem)
    loaded = _frame_model(args)
    if loaded is None:
        return EXIT_UNUSABLE
    return write_video(args, *loaded, prog="anime-tf video", batch_size=args.batch_size)


def check_output(args):
    """What is wrong with OUT or --crf before any model is loaded, or None."""
    if args.output.suffix.lower() != ".mp4":
        return f"{args.output}: the output is an MP4 file; name it .mp4"
    if args.output.exists() and not args.overwrite:
        return f"{args.output} exists; --overwrite replaces it"
    if not 0 <= args.crf <= 51:
        return f"--crf must be from 0 to 51, not {args.crf}"
    return None


def write_video(args, frame_model, settings, prog, batch_size=DEFAULT_BATCH):
    """Stylize args.input into args.output; the exit code."""
    from anime_tf.files import OutputExistsError
    from anime_tf.video.io import VideoError
    from anime_tf.video.pipeline import stylize_video

    try:
        result = stylize_video(args.input, args.output, frame_model, batch_size=batch_size,
                               max_side=args.max_side, crf=args.crf, smooth=args.smooth,
                               overwrite=args.overwrite, settings=settings, resume=args.resume)
    except (VideoError, OutputExistsError) as err:
        return _fail(err, prog)
    return report(args, result)


def report(args, result):
    """Say what was written; the exit code (1 when decoding stopped early)."""
    resumed = f" ({result.resumed} from the earlier run)" if result.resumed else ""
    print(f"wrote {args.output}: {result.frames} frames{resumed}, video {result.encoder}, audio {result.audio}")
    if result.stopped:
        print(f"{args.input}: decoding stopped after {result.frames} frames ({result.stopped}); "
              "the output holds those", file=sys.stderr)
        return EXIT_SOME_FAILED
    return EXIT_OK


def with_faces(args, frame_model, stylizer, face_stylizer, settings, crop_size=None):
    """`frame_model` followed by the face pass with smoothed landmarks when --faces is given.

    Returns (frame model, settings); raises FaceModelError.
    """
    if not args.faces:
        return frame_model, settings
    from anime_tf.video.faces import FaceFrames

    painter = batch.with_face_pass(args, stylizer, face_stylizer, crop_size)
    settings = {**settings, "faces": True, "face_weights": str(args.face_weights),
                "face_crop_size": painter.crop_size}
    return FaceFrames(frame_model, painter), settings


def _frame_model(args):
    from anime_tf.download import DownloadError
    from anime_tf.inference import Stylizer
    from anime_tf.video.frames import KerasFrames
    from anime_tf.weights import WeightsError

    from anime_tf.weights import weights_identity

    from anime_tf.face.landmarks import FaceModelError

    weights = args.weights or args.style or "hayao"
    try:
        stylizer = Stylizer(weights, keep_brightness=args.keep_brightness)
        face_stylizer = Stylizer(args.face_weights, keep_brightness=args.keep_brightness) if args.face_weights else None
        settings = {"weights": weights_identity(weights), "keep_brightness": args.keep_brightness}
        return with_faces(args, KerasFrames(stylizer, smooth=args.smooth), stylizer, face_stylizer, settings)
    except (FileNotFoundError, WeightsError, DownloadError, ValueError, FaceModelError) as err:
        _fail(err)
        return None


def _fail(message, prog="anime-tf video"):
    print(f"{prog}: {message}", file=sys.stderr)
    return EXIT_UNUSABLE
