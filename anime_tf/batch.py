"""The batch loop shared by `anime-tf stylize` and `anime-tf-edge` (no TensorFlow here).

Inputs are expanded and checked before any model loads; each output is
planned so that no two inputs write one file and nothing is overwritten
unless asked; a bad input is reported in one line and skipped, and the rest
are still written.

Exit codes, for scripts: 0 everything done; 1 some inputs failed (each is
reported, the rest were written); 2 nothing could be done (bad arguments, no
inputs, unusable model or weights).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from anime_tf import config
from anime_tf.files import OutputExistsError
from anime_tf.imageio import ImageError, find_images, load_image, save_image

EXIT_OK, EXIT_SOME_FAILED, EXIT_UNUSABLE = 0, 1, 2


STYLE_HELP = ("a style by name (default: hayao): official weights are fetched on first use, "
              "students ship in the package; `anime-tf styles` lists them")


def add_io_arguments(parser):
    """The input and output flags both stylizing commands share."""
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="image files, folders or glob patterns")
    parser.add_argument("-o", "--output", default="out", type=Path, help="output folder (default: %(default)s)")
    parser.add_argument("--format", choices=["png", "jpg", "webp"], default="png",
                        help="output format (default: %(default)s); png and webp keep transparency")
    parser.add_argument("--quality", type=int, default=95, help="jpg/webp quality (default: %(default)s)")
    parser.add_argument("--recursive", action="store_true",
                        help="also stylize images in subfolders (output keeps the folder structure)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.add_argument("--max-side", type=positive_int, metavar="N",
                        help="scale images down so the longer side is at most N pixels")
    parser.add_argument("--keep-brightness", action=argparse.BooleanOptionalAction, default=True,
                        help="match the output's mean brightness to the input's, as the official "
                        "inference does (default: on)")


FACE_WEIGHTS_DEFAULT = ("default: the style's face-tuned weights where it has them, such as hayao-faces for "
                        "hayao; else the whole image's")


def add_face_arguments(parser, weights_help):
    """The face-pass flags both stylizing commands share (`anime_tf.face`)."""
    group = parser.add_argument_group("faces (need MediaPipe: pip install 'anime-tf[faces]')")
    group.add_argument("--faces", action="store_true",
                       help="also stylize each face from an upright, aligned crop of the "
                       "full-resolution photo and blend it in (face2paint), so eyes, nose and "
                       "mouth keep their shape; helps most with --max-side or small models")
    group.add_argument("--face-weights", "--face_weights", dest="face_weights", metavar="W",
                       help=weights_help)
    group.add_argument("--face-model", "--face_model", dest="face_model", metavar="PATH",
                       help="MediaPipe's face_landmarker.task (default: fetched on first use into "
                       "the cache and checked against its sha256)")
    group.add_argument("--face-crop-size", type=positive_int, metavar="N",
                       help="edge of the aligned face crops (default: the face's own size in the photo, "
                       f"from {config.FACE_CROP_SIZE} to {config.FACE_CROP_MAX}, or a fixed-size model's own "
                       "size); smaller crops keep more of the stylization's detail, larger ones the face's shape")


def with_face_pass(stylizer, *, face_model=None, face_stylizer=None, crop_size=None, max_side=None):
    """`stylizer` wrapped in a `FacePainter` (the face pass); raises FaceModelError.

    `face_model`: MediaPipe's face_landmarker.task (default: fetched into the
    cache); `face_stylizer`: what stylizes the crops (default: `stylizer`);
    `crop_size`: the face crops' edge (default: each face's own size, see `FacePainter`).
    """
    from anime_tf.face.landmarks import FaceLandmarker, FaceModelError

    try:
        from anime_tf.face.paint import FacePainter
    except ImportError as err:
        raise FaceModelError(f"--faces needs MediaPipe and OpenCV ({err.name} is missing): "
                             "pip install 'anime-tf[faces]'") from err
    return FacePainter(stylizer, FaceLandmarker(face_model), face_stylizer=face_stylizer,
                       crop_size=crop_size, max_side=max_side)


def positive_int(text):
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, not {text}")
    return value


def whole_number(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or a positive whole number, not {text}")
    return value


def report(prog, message):
    print(f"{prog}: error: {message}", file=sys.stderr)


def plan_outputs(pairs, out_dir, suffix):
    """[(input, output)] and a list of problems (two inputs that would write one output)."""
    plan, seen, problems = [], {}, []
    for path, relative in pairs:
        dest = out_dir / relative.with_suffix(suffix)
        if dest in seen:
            problems.append(f"{path}: skipped, it would write {dest} like {seen[dest]}")
            continue
        seen[dest] = path
        plan.append((path, dest))
    return plan, problems


def stylize_files(inputs, output_dir, load_stylizer, prog, *, fmt="png", quality=95, recursive=False,
                  overwrite=False):
    """Stylize image files, folders or globs `inputs` into `output_dir`; returns the exit code.

    `load_stylizer()` is called only when there is work to do; it returns an
    object with `stylize(PIL image) -> PIL image`, or None after reporting why
    it could not.
    """
    output_dir = Path(output_dir)
    pairs, problems = find_images(inputs, recursive=recursive)
    plan, clashes = plan_outputs(pairs, output_dir, f".{fmt}")
    problems += clashes
    for problem in problems:
        report(prog, problem)
    if not plan:
        report(prog, "no images to stylize")
        return EXIT_UNUSABLE
    todo = [(src, dest) for src, dest in plan if overwrite or not dest.exists()]
    for src, dest in plan:
        if (src, dest) not in todo:
            print(f"skipped {src}: {dest} exists (--overwrite to replace it)", file=sys.stderr)
    if not todo:
        return EXIT_SOME_FAILED if problems else EXIT_OK
    stylizer = load_stylizer()
    if stylizer is None:
        return EXIT_UNUSABLE
    failed = 0
    with tqdm(todo, desc="stylize", unit="img", file=sys.stderr) as bar:
        for src, dest in bar:
            try:
                save_image(stylizer.stylize(load_image(src)), dest, overwrite=overwrite, quality=quality)
            except (ImageError, OutputExistsError, MemoryError) as err:
                failed += 1
                bar.write(f"{prog}: error: {err}", file=sys.stderr)
    if hasattr(stylizer, "close"):
        stylizer.close()
    print(f"wrote {len(todo) - failed} of {len(todo)} images to {output_dir}"
          + (f"; {failed} failed" if failed else ""), file=sys.stderr)
    return EXIT_SOME_FAILED if failed or problems else EXIT_OK


def stylize_files_from(args, load_stylizer, prog):
    """`stylize_files` with the flags of `add_io_arguments`."""
    return stylize_files(args.inputs, args.output, load_stylizer, prog, fmt=args.format, quality=args.quality,
                         recursive=args.recursive, overwrite=args.overwrite)


def face_weights_from(args, weights):
    """What stylizes the face crops with --faces: --face-weights, else the style's face-tuned weights
    (`config.face_style_for`), else None (the whole image's model)."""
    if not args.faces:
        return None
    return args.face_weights or config.face_style_for(weights)


def face_pass_from(args, stylizer, face_stylizer=None, crop_size=None):
    """`stylizer` with the face pass when --faces is given (the flags of `add_face_arguments`)."""
    if not args.faces:
        return stylizer
    return with_face_pass(stylizer, face_model=args.face_model, face_stylizer=face_stylizer,
                          crop_size=args.face_crop_size or crop_size, max_side=args.max_side)
