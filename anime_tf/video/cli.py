"""`anime-tf video IN -o OUT`: a clip to anime, with its sound, timing and frame count kept."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from anime_tf import batch, config
from anime_tf.batch import EXIT_OK, EXIT_SOME_FAILED, EXIT_UNUSABLE
from anime_tf.errors import AnimeTFError

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
    source.add_argument("--style", choices=sorted(config.STYLES), help=batch.STYLE_HELP)
    p.add_argument("--max-side", type=batch.positive_int, metavar="N",
                   help="scale frames down so the longer side is at most N pixels (needed above 4096)")
    add_encoding_arguments(p, "remove flicker: layer-norm statistics carried across frames (restarted at "
                           "scene cuts) and textures that follow the motion")
    p.add_argument("--batch-size", type=batch.positive_int, default=DEFAULT_BATCH, metavar="N",
                   help="frames per model call (default: %(default)s)")
    p.add_argument("--keep-brightness", action=argparse.BooleanOptionalAction, default=True,
                   help="match each frame's brightness to the input's, as `stylize` does (default: on)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    batch.add_face_arguments(p, f"weights for the face crops ({batch.FACE_WEIGHTS_DEFAULT})")
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
    problem = check_output(args.output, args.overwrite, args.crf)
    if problem:
        return _fail(problem)
    loaded = _frame_model(args)
    if loaded is None:
        return EXIT_UNUSABLE
    return write_video(args.input, args.output, *loaded, prog="anime-tf video", batch_size=args.batch_size,
                       **encoding_options(args))


def check_output(output, overwrite=False, crf=18):
    """What is wrong with OUT or --crf before any model is loaded, or None."""
    if output.suffix.lower() != ".mp4":
        return f"{output}: the output is an MP4 file; name it .mp4"
    if output.exists() and not overwrite:
        return f"{output} exists; --overwrite replaces it"
    if not 0 <= crf <= 51:
        return f"--crf must be from 0 to 51, not {crf}"
    return None


def encoding_options(args):
    """`write_video`'s options from the flags of `add_encoding_arguments` (and --max-side, --overwrite)."""
    return {"max_side": args.max_side, "crf": args.crf, "smooth": args.smooth, "overwrite": args.overwrite,
            "resume": args.resume}


def write_video(input, output, frame_model, settings, prog, *, batch_size=DEFAULT_BATCH, max_side=None,
                crf=18, smooth=True, overwrite=False, resume=None):
    """Stylize the video `input` into the MP4 `output`; the exit code (see `anime-tf video --help`)."""
    from anime_tf.video.pipeline import stylize_video

    try:
        result = stylize_video(input, output, frame_model, batch_size=batch_size, max_side=max_side, crf=crf,
                               smooth=smooth, overwrite=overwrite, settings=settings, resume=resume)
    except AnimeTFError as err:
        return _fail(err, prog)
    return report(input, output, result)


def report(input, output, result):
    """Say what was written; the exit code (1 when decoding stopped early)."""
    resumed = f" ({result.resumed} from the earlier run)" if result.resumed else ""
    print(f"wrote {output}: {result.frames} frames{resumed}, video {result.encoder}, audio {result.audio}")
    if result.stopped:
        print(f"{input}: decoding stopped after {result.frames} frames ({result.stopped}); "
              "the output holds those", file=sys.stderr)
        return EXIT_SOME_FAILED
    return EXIT_OK


def with_faces(frame_model, stylizer, face_stylizer, settings, *, face_weights=None, face_model=None,
               crop_size=None, max_side=None):
    """`frame_model` followed by the face pass, with landmarks smoothed over time.

    Returns (frame model, settings, which now name the face pass); raises FaceModelError.
    """
    from anime_tf.video.faces import FaceFrames

    painter = batch.with_face_pass(stylizer, face_model=face_model, face_stylizer=face_stylizer,
                                   crop_size=crop_size, max_side=max_side)
    settings = {**settings, "faces": True, "face_weights": str(face_weights),
                "face_crop_size": painter.crop_size, "face_pass": config.face_pass_rule()}
    return FaceFrames(frame_model, painter), settings


def faces_from(args, frame_model, stylizer, face_stylizer, settings, crop_size=None, face_weights=None):
    """`with_faces` when --faces is given (the flags of `batch.add_face_arguments`), else unchanged."""
    if not args.faces:
        return frame_model, settings
    return with_faces(frame_model, stylizer, face_stylizer, settings,
                      face_weights=face_weights or args.face_weights,
                      face_model=args.face_model, crop_size=args.face_crop_size or crop_size,
                      max_side=args.max_side)


def _frame_model(args):
    from anime_tf.inference import Stylizer
    from anime_tf.video.frames import KerasFrames
    from anime_tf.weights import weights_identity

    weights = args.weights or args.style or "hayao"
    try:
        stylizer = Stylizer(weights, keep_brightness=args.keep_brightness)
        face_weights = batch.face_weights_from(args, weights)
        face_stylizer = Stylizer(face_weights, keep_brightness=args.keep_brightness) if face_weights else None
        settings = {"weights": weights_identity(weights), "keep_brightness": args.keep_brightness}
        return faces_from(args, KerasFrames(stylizer, smooth=args.smooth), stylizer, face_stylizer, settings,
                          face_weights=face_weights)
    except AnimeTFError as err:
        _fail(err)
        return None


def _fail(message, prog="anime-tf video"):
    print(f"{prog}: {message}", file=sys.stderr)
    return EXIT_UNUSABLE
