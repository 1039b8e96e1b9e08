"""`anime-tf-edge`: stylize with an exported .tflite or .onnx model, without TensorFlow.

Exit codes are those of `anime_tf.batch`: 0 all written, 1 some inputs
failed, 2 nothing could be done.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from anime_tf import batch
from anime_tf.errors import AnimeTFError
from anime_tf.video.cli import add_encoding_arguments

PROG = "anime-tf-edge"


def build_parser():
    parser = argparse.ArgumentParser(
        prog=PROG, description="Stylize photos with an exported AnimeGANv2 model: .tflite (LiteRT) "
        "or .onnx (ONNX Runtime, the onnx extra); no TensorFlow.")
    parser.add_argument("--model", required=True, help="the .tflite or .onnx model")
    batch.add_io_arguments(parser)
    parser.add_argument("--threads", type=batch.positive_int, default=os.cpu_count(),
                        help="CPU threads for the runtime (default: all, %(default)s)")
    parser.add_argument("--provider", metavar="NAME",
                        help=".onnx models: the ONNX Runtime execution provider, e.g. openvino, cuda, "
                        "tensorrt, coreml or a full provider name (default: CPU)")
    parser.add_argument("--tile", action="store_true",
                        help="fixed-size models: run tiles of the model's size over the full image "
                        "instead of scaling the image to fit the model (tiles are normalised "
                        "separately, so tone can vary between them)")
    parser.add_argument("--tile-overlap", type=batch.positive_int, default=32, metavar="N",
                        help="overlap of neighbouring tiles with --tile (default: %(default)s)")
    parser.add_argument("--reference-kernels", action="store_true",
                        help=".tflite models: run LiteRT's built-in kernels instead of XNNPACK: slower, but with "
                        "nearly the same integer results on every CPU; for checking a new board")
    batch.add_face_arguments(parser, "a .tflite or .onnx model for the face crops (default: --model)")
    parser.add_argument("--benchmark", type=batch.positive_int, metavar="N",
                        help="print the model's median latency over N runs after warm-up")
    video = parser.add_argument_group("video (needs PyAV and OpenCV: pip install 'anime-tf[video]')")
    video.add_argument("--video", type=Path, metavar="IN",
                       help="stylize this video into the MP4 -o OUT, sound and timing kept, as `anime-tf "
                       "video` does (exit 1 when decoding stopped early)")
    add_encoding_arguments(video, "remove flicker: textures follow the motion")
    return parser


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # MediaPipe loads parts of TensorFlow if present
    args = build_parser().parse_args(argv)
    from anime_tf.edge import EdgeStylizer, benchmark, open_model

    if not args.inputs and not args.benchmark and not args.video:
        batch.report(PROG, "give INPUT images, --video IN, --benchmark N, or a mix")
        return batch.EXIT_UNUSABLE
    if args.video and (args.inputs or args.tile):
        batch.report(PROG, "--video takes no INPUT images or --tile")
        return batch.EXIT_UNUSABLE
    if args.video:
        from anime_tf.video.cli import check_output

        problem = check_output(args.output, args.overwrite, args.crf)
        if problem:
            batch.report(PROG, problem)
            return batch.EXIT_UNUSABLE
    try:
        def load(path):
            return open_model(path, threads=args.threads, xnnpack=not args.reference_kernels,
                              provider=args.provider)

        model = load(args.model)
        face_model = load(args.face_weights) if args.faces and args.face_weights else model
    except AnimeTFError as err:
        batch.report(PROG, err)
        return batch.EXIT_UNUSABLE
    if args.benchmark:
        size = model.fixed_size or (256, 256)
        ms = benchmark(model, args.benchmark)
        print(f"{args.model}: {size[1]}x{size[0]}, {args.threads} threads, median {ms:.1f} ms "
              f"over {args.benchmark} runs ({1000 / ms:.2f} images/s)")
        if not args.inputs:
            return batch.EXIT_OK
    stylizer = EdgeStylizer(model, tile=args.tile, tile_overlap=args.tile_overlap,
                            max_side=args.max_side, keep_brightness=args.keep_brightness)
    if args.video:
        return _video(args, stylizer, face_model)
    if args.faces:
        faces = EdgeStylizer(face_model, keep_brightness=args.keep_brightness)
        try:  # a fixed-size model stylizes crops of its own size
            stylizer = batch.face_pass_from(args, stylizer, faces, min(face_model.fixed_size or (0,)) or None)
        except AnimeTFError as err:
            batch.report(PROG, err)
            return batch.EXIT_UNUSABLE
    return batch.stylize_files_from(args, lambda: stylizer, PROG)


def _video(args, stylizer, face_model):
    from anime_tf.edge import EdgeStylizer
    from anime_tf.files import sha256_of
    from anime_tf.video.cli import encoding_options, faces_from, write_video
    from anime_tf.video.exported import ExportedFrames

    settings = {"model": sha256_of(args.model), "keep_brightness": args.keep_brightness}
    faces = EdgeStylizer(face_model, keep_brightness=args.keep_brightness)
    try:
        frame_model, settings = faces_from(args, ExportedFrames(stylizer), stylizer, faces, settings,
                                           min(face_model.fixed_size or (0,)) or None)
    except AnimeTFError as err:
        batch.report(PROG, err)
        return batch.EXIT_UNUSABLE
    return write_video(args.video, args.output, frame_model, settings, PROG, **encoding_options(args))


if __name__ == "__main__":
    sys.exit(main())
