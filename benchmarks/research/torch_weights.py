"""Generator weights to and from `.npz` (arrays by Keras variable path), for `torch_distill.py`.

The lent GPU machine has PyTorch but no TensorFlow, so a distillation there
runs a PyTorch port of the generator (`torch_distill.py`). This script, run
here with TensorFlow, hands it starting weights and takes back what it made:

    # a student to continue (any source `load_generator` takes), or a new one sliced from a wider one
    python benchmarks/research/torch_weights.py to-npz hayao-tiny gpu/tiny.npz
    python benchmarks/research/torch_weights.py to-npz data/from_scratch/hayao.weights.h5 gpu/wide.npz \
        --width 0.55 --blocks 4
    # what the GPU run wrote, as a float16 weights file `anime-tf` loads
    python benchmarks/research/torch_weights.py from-npz runs/gpu/tiny.npz runs/gpu/tiny.weights.h5

Each array keeps Keras' layout (HWIO kernels); the architecture travels as
`__width` and `__blocks`.
"""
from __future__ import annotations

import argparse

import numpy as np

from anime_tf.models import Generator
from anime_tf.train.slicing import slice_teacher
from anime_tf.weights import load_generator, save_generator


def generator_arrays(generator):
    """{variable path: float32 array} plus the architecture."""
    arrays = {v.path: np.asarray(v.numpy(), np.float32) for v in generator.weights}
    return {**arrays, "__width": np.float32(generator.width), "__blocks": np.int32(generator.blocks)}


def generator_from_arrays(arrays):
    """A Generator of the arrays' architecture holding their weights (every variable must be there)."""
    generator = Generator(width=round(float(arrays["__width"]), 4), blocks=int(arrays["__blocks"]))
    generator(np.zeros([1, 32, 32, 3], np.float32))
    missing = [v.path for v in generator.weights if v.path not in arrays]
    if missing:
        raise SystemExit(f"the npz lacks {len(missing)} variables, first {missing[0]}")
    for variable in generator.weights:
        variable.assign(arrays[variable.path])
    return generator


def to_npz(args):
    source = load_generator(args.source)
    if args.width is not None:
        student = Generator(width=args.width, blocks=args.blocks)
        student(np.zeros([1, 32, 32, 3], np.float32))
        slice_teacher(source, student)
        source = student
    np.savez(args.dest, **generator_arrays(source))
    print(f"{args.dest}: width {source.width}, {source.blocks} blocks")


def from_npz(args):
    with np.load(args.source) as arrays:
        generator = generator_from_arrays(dict(arrays))
    save_generator(generator, args.dest, overwrite=args.overwrite, dtype="float16")
    print(f"{args.dest}: width {generator.width}, {generator.blocks} blocks (float16)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("to-npz", help="weights (any source anime-tf loads) to .npz")
    export.add_argument("source")
    export.add_argument("dest")
    export.add_argument("--width", type=float, help="slice a student of this width from the source")
    export.add_argument("--blocks", type=int, default=3, help="the sliced student's blocks")
    export.set_defaults(run=to_npz)
    back = commands.add_parser("from-npz", help=".npz to a float16 .weights.h5")
    back.add_argument("source")
    back.add_argument("dest")
    back.add_argument("--overwrite", action="store_true")
    back.set_defaults(run=from_npz)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
