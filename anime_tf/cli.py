"""The `anime-tf` command line.

Exit codes, for scripts: 0 everything done; 1 some inputs failed (each is
reported, the rest were written); 2 nothing could be done (bad arguments, no
inputs, unusable weights).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from anime_tf import __version__, config

EXIT_OK, EXIT_SOME_FAILED, EXIT_UNUSABLE = 0, 1, 2


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def build_parser():
    parser = argparse.ArgumentParser(
        prog="anime-tf", description="AnimeGANv2 photo-to-anime in TensorFlow 2 / Keras 3.")
    parser.add_argument("--version", action="version", version=f"anime-tf {__version__}")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    _add_stylize(commands)
    _add_import_weights(commands)
    return parser


def _add_stylize(commands):
    p = commands.add_parser(
        "stylize", help="turn photos into anime-style images",
        description="Stylize image files, folders or glob patterns; outputs keep their names.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or glob patterns")
    p.add_argument("-o", "--output", default="out", type=Path,
                   help="output folder (default: %(default)s)")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--weights", help="a .weights.h5, .keras or AnimeGANv2 .tflite file, an "
                        "official TF1 checkpoint folder, or a training run folder")
    source.add_argument("--style", choices=sorted(config.STYLES),
                        help="official weights by name, fetched on first use (default: hayao)")
    p.add_argument("--format", choices=["png", "jpg", "webp"], default="png",
                   help="output format (default: %(default)s); png and webp keep transparency")
    p.add_argument("--quality", type=int, default=95, help="jpg/webp quality (default: %(default)s)")
    p.add_argument("--recursive", action="store_true",
                   help="also stylize images in subfolders (output keeps the folder structure)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--max-side", type=_positive_int, metavar="N",
                   help="scale images down so the longer side is at most N pixels")
    p.add_argument("--tile-size", type=_positive_int, default=config.DEFAULT_TILE_SIZE, metavar="N",
                   help="tile edge for images too large to run whole (default: %(default)s)")
    p.add_argument("--tile-overlap", type=_positive_int, default=config.DEFAULT_TILE_OVERLAP,
                   metavar="N", help="overlap of neighbouring tiles (default: %(default)s)")
    p.add_argument("--keep-brightness", action=argparse.BooleanOptionalAction, default=True,
                   help="match the output's mean brightness to the input's, as the official "
                   "inference does (default: on)")
    p.set_defaults(run=run_stylize)


def _add_import_weights(commands):
    p = commands.add_parser(
        "import-weights", help="convert official or TFLite weights to a Keras file",
        description="Read an official TF1 checkpoint, an AnimeGANv2 .tflite file or a named style, "
        "and save the generator as .weights.h5 (or .keras).")
    p.add_argument("source", help="checkpoint folder or prefix, .tflite file, or style name")
    p.add_argument("-o", "--output", required=True, type=Path,
                   help="output file ending in .weights.h5 or .keras")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.set_defaults(run=run_import_weights)


def _positive_int(text):
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, not {text}")
    return value


def _error(message):
    print(f"anime-tf: error: {message}", file=sys.stderr)


def run_import_weights(args):
    from anime_tf import weights
    from anime_tf.download import DownloadError
    from anime_tf.files import OutputExistsError

    try:
        generator = weights.load_generator(args.source)
        weights.save_generator(generator, args.output, overwrite=args.overwrite)
    except (FileNotFoundError, weights.WeightsError, DownloadError, OutputExistsError) as err:
        _error(err)
        return EXIT_UNUSABLE
    print(f"wrote {args.output} ({generator.count_params():,} parameters)")
    return EXIT_OK


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


def run_stylize(args):
    from tqdm import tqdm

    from anime_tf.imageio import find_images

    pairs, problems = find_images(args.inputs, recursive=args.recursive)
    plan, clashes = plan_outputs(pairs, args.output, f".{args.format}")
    problems += clashes
    for problem in problems:
        _error(problem)
    if not plan:
        _error("no images to stylize")
        return EXIT_UNUSABLE
    todo = [(src, dest) for src, dest in plan if args.overwrite or not dest.exists()]
    for src, dest in plan:
        if (src, dest) not in todo:
            print(f"skipped {src}: {dest} exists (--overwrite to replace it)", file=sys.stderr)
    if not todo:
        return EXIT_SOME_FAILED if problems else EXIT_OK

    stylizer = _load_stylizer(args)
    if stylizer is None:
        return EXIT_UNUSABLE
    failed = 0
    with tqdm(todo, desc="stylize", unit="img", file=sys.stderr) as bar:
        for src, dest in bar:
            error = _stylize_file(stylizer, src, dest, args)
            if error:
                failed += 1
                bar.write(f"anime-tf: error: {error}", file=sys.stderr)
    print(f"wrote {len(todo) - failed} of {len(todo)} images to {args.output}"
          + (f"; {failed} failed" if failed else ""), file=sys.stderr)
    return EXIT_SOME_FAILED if failed or problems else EXIT_OK


def _load_stylizer(args):
    from anime_tf.download import DownloadError
    from anime_tf.inference import Stylizer
    from anime_tf.weights import WeightsError

    try:
        return Stylizer(args.weights or args.style or "hayao", keep_brightness=args.keep_brightness,
                        max_side=args.max_side, tile_size=args.tile_size,
                        tile_overlap=args.tile_overlap, progress=True)
    except (FileNotFoundError, WeightsError, DownloadError, ValueError) as err:
        _error(err)
        return None


def _stylize_file(stylizer, src, dest, args):
    """Stylize one file; return an error message instead of raising for bad inputs."""
    from anime_tf.files import OutputExistsError
    from anime_tf.imageio import ImageError, load_image, save_image

    try:
        result = stylizer.stylize(load_image(src))
        save_image(result, dest, overwrite=args.overwrite, quality=args.quality)
    except (ImageError, OutputExistsError, MemoryError) as err:
        return str(err)
    return None


if __name__ == "__main__":
    sys.exit(main())
