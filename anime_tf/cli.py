"""The `anime-tf` command line. Exit codes are those of `anime_tf.batch`."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from anime_tf import __version__, batch, config
from anime_tf.batch import EXIT_OK, EXIT_UNUSABLE
from anime_tf.errors import AnimeTFError
from anime_tf.serve import cli as serve_cli
from anime_tf.video import cli as video_cli


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] in (["export"], ["train"]):  # absl commands: the scripts' own flags and parsing
        return ABSL_COMMANDS[argv[0]](argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except ModuleNotFoundError as err:  # the edge-only install has no TensorFlow
        if (err.name or "").split(".")[0] not in ("tensorflow", "keras", "cv2", "absl"):
            raise
        _error(f"this command needs TensorFlow ({err.name} is not installed): "
               "pip install 'anime-tf[tf]'; anime-tf-edge runs .tflite models without it")
        return EXIT_UNUSABLE


def build_parser():
    parser = argparse.ArgumentParser(
        prog="anime-tf", description="AnimeGANv2 photo-to-anime in TensorFlow 2 / Keras 3.")
    parser.add_argument("--version", action="version", version=f"anime-tf {__version__}")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    _add_stylize(commands)
    _add_import_weights(commands)
    _add_absl_commands(commands)
    _add_prepare_style(commands)
    _add_prepare_faces(commands)
    _add_styles(commands)
    video_cli.add_command(commands)
    serve_cli.add_commands(commands)
    return parser


def _add_stylize(commands):
    p = commands.add_parser(
        "stylize", help="turn photos into anime-style images",
        description="Stylize image files, folders or glob patterns; outputs keep their names.")
    batch.add_io_arguments(p)
    source = p.add_mutually_exclusive_group()
    source.add_argument("--weights", help="a .weights.h5, .keras or AnimeGANv2 .tflite file, an "
                        "official TF1 checkpoint folder, a training run folder, or a style name")
    source.add_argument("--style", choices=sorted(config.STYLES), help=batch.STYLE_HELP)
    p.add_argument("--tile-size", type=batch.positive_int, default=config.DEFAULT_TILE_SIZE,
                   metavar="N", help="tile edge for images too large to run whole (default: %(default)s)")
    p.add_argument("--tile-overlap", type=batch.positive_int, default=config.DEFAULT_TILE_OVERLAP,
                   metavar="N", help="overlap of neighbouring tiles (default: %(default)s)")
    batch.add_face_arguments(p, f"weights for the face crops, any kind --weights takes "
                             f"({batch.FACE_WEIGHTS_DEFAULT})")
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


def _add_absl_commands(commands):
    """Listed here for --help; `main` hands their arguments to the absl scripts' parsing."""
    commands.add_parser("export", help="export weights to TFLite or ONNX (the flags of export_tflite.py)",
                        add_help=False, description="`anime-tf export --help` lists the flags.")
    commands.add_parser("train", help="train a style or distil a student (the flags of train.py)",
                        add_help=False, description="`anime-tf train --help` lists the flags.")


def _add_prepare_style(commands):
    p = commands.add_parser(
        "prepare-style", help="prepare anime frames for training (style/ and smooth/)",
        description="Scale anime frames to the training size and write edge-smoothed copies.")
    p.add_argument("source", help="folder of anime frames")
    p.add_argument("--out", required=True, type=Path, help="style folder to write, e.g. data/Hayao")
    p.add_argument("--size", type=batch.positive_int, default=256,
                   help="shorter side of the prepared frames (default: %(default)s)")
    p.add_argument("--recursive", action="store_true", help="also read subfolders")
    p.add_argument("--overwrite", action="store_true", help="redo frames already prepared")
    p.set_defaults(run=run_prepare_style)


def _add_prepare_faces(commands):
    p = commands.add_parser(
        "prepare-faces", help="cut aligned face crops from photos, to tune the face pass's weights on",
        description="Find every face in the photos and write its aligned crop (as the face pass cuts it) "
        "and jittered copies: rotation, scale, shift, colour.")
    p.add_argument("sources", nargs="+", help="photos or folders of photos")
    p.add_argument("--out", required=True, type=Path, help="folder to write the crops to")
    p.add_argument("--size", type=batch.positive_int, default=config.FACE_CROP_SIZE,
                   help="edge of the crops (default: %(default)s, the face pass's)")
    p.add_argument("--augment", type=batch.whole_number, default=3,
                   help="jittered copies per face (default: %(default)s)")
    p.add_argument("--min-face", type=batch.positive_int, default=config.FACE_TRAINING_MIN, metavar="PX",
                   help="leave out faces smaller than this in the photo (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the jitter (default: %(default)s)")
    p.add_argument("--face-model", help="MediaPipe face_landmarker.task (default: fetched on first use)")
    p.add_argument("--recursive", action="store_true", help="also read subfolders")
    p.add_argument("--overwrite", action="store_true", help="redo crops already written")
    p.set_defaults(run=run_prepare_faces)


def _add_styles(commands):
    p = commands.add_parser(
        "styles", help="list the named styles: their cost and where their weights come from",
        description="Every name --style and --weights take, with its GFLOPs for one 256 x 256 image "
        "and where its weights come from.")
    p.set_defaults(run=run_styles)


def run_styles(args):
    print(f"{'style':<12} {'GFLOPs 256':>10} {'x hayao':>8}  weights")
    for style in config.STYLES.values():
        print(f"{style.name:<12} {style.gflops:>10.2f} {style.gflops / config.TEACHER_GFLOPS_256:>8.3f}  "
              f"{style.origin()}")
    return EXIT_OK


def run_prepare_style(args):
    from anime_tf.train.prepare import prepare_style

    written, failed = prepare_style(args.source, args.out, args.size, args.overwrite, args.recursive)
    print(f"prepared {written} frames in {args.out}" + (f"; {failed} failed" if failed else ""),
          file=sys.stderr)
    if written == 0 and failed:
        return EXIT_UNUSABLE
    return batch.EXIT_SOME_FAILED if failed else EXIT_OK


def run_prepare_faces(args):
    from anime_tf.face.crops import prepare_faces

    written, kept, failed = prepare_faces(args.sources, args.out, size=args.size, augment=args.augment,
                                          seed=args.seed, min_face=args.min_face, face_model=args.face_model,
                                          overwrite=args.overwrite, recursive=args.recursive)
    print(f"wrote {written} face crops to {args.out}" + (f" ({kept} already there)" if kept else "")
          + (f"; {failed} photos failed" if failed else ""), file=sys.stderr)
    if written + kept == 0 and failed:
        return EXIT_UNUSABLE
    return batch.EXIT_SOME_FAILED if failed else EXIT_OK


def run_export(argv):
    from anime_tf.export.main import main as export_main

    return export_main(argv, prog="anime-tf export")


def run_train(argv):
    from anime_tf.train.cli import main as train_main

    return train_main(argv, prog="anime-tf train")


ABSL_COMMANDS = {"export": run_export, "train": run_train}


def _error(message):
    batch.report("anime-tf", message)


def run_import_weights(args):
    from anime_tf import weights

    try:
        generator = weights.load_generator(args.source)
        weights.save_generator(generator, args.output, overwrite=args.overwrite)
    except AnimeTFError as err:
        _error(err)
        return EXIT_UNUSABLE
    print(f"wrote {args.output} ({generator.count_params():,} parameters)")
    return EXIT_OK


def run_stylize(args):
    if not args.inputs:
        _error("give at least one INPUT (file, folder or glob)")
        return EXIT_UNUSABLE
    return batch.stylize_files_from(args, lambda: _load_stylizer(args), "anime-tf")


def _load_stylizer(args):
    from anime_tf.inference import Stylizer

    def stylizer(weights):
        return Stylizer(weights, keep_brightness=args.keep_brightness, max_side=args.max_side,
                        tile_size=args.tile_size, tile_overlap=args.tile_overlap, progress=True)

    weights = args.weights or args.style or "hayao"
    try:
        whole = stylizer(weights)
        face_weights = batch.face_weights_from(args, weights)
        faces = stylizer(face_weights) if face_weights else None
        return batch.face_pass_from(args, whole, faces)
    except AnimeTFError as err:
        _error(err)
        return None


if __name__ == "__main__":
    sys.exit(main())
