"""Each loss term's curve from a training run's TensorBoard logs, as a table.

    python benchmarks/research/loss_curves.py runs/ft --points 8

Every scalar `train.py` logged, averaged over windows of equal length
(`--points` of them), so a curve reads at a glance in a terminal or in
a note; the last column is the change from the first window to the last.
"""
import argparse
import statistics
from pathlib import Path

import tensorflow as tf


def read_scalars(logdir):
    """{tag: [(step, value)]} from every event file under `logdir`."""
    scalars = {}
    for path in sorted(Path(logdir).rglob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "scalars":
                    number = float(tf.make_ndarray(value.tensor))
                    scalars.setdefault(value.tag, []).append((event.step, number))
    return {tag: sorted(points) for tag, points in scalars.items()}


def windows(points, count):
    """(last step, mean value) of `count` consecutive windows of `points`."""
    bounds = [round(i * len(points) / count) for i in range(count + 1)]
    chunks = [points[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]
    return [(chunk[-1][0], statistics.fmean(v for _, v in chunk)) for chunk in chunks]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a train.py --model_dir (its logs/ are read)")
    parser.add_argument("--points", type=int, default=8, help="windows per curve")
    args = parser.parse_args()
    scalars = read_scalars(args.run / "logs" if (args.run / "logs").is_dir() else args.run)
    if not scalars:
        raise SystemExit(f"no scalars under {args.run}")
    steps = [step for step, _ in windows(next(iter(scalars.values())), args.points)]
    print("| loss | " + " | ".join(f"to step {s}" for s in steps) + " | last / first |")
    print("| --- |" + " ---: |" * (len(steps) + 1))
    for tag, points in scalars.items():
        means = [value for _, value in windows(points, args.points)]
        ratio = means[-1] / means[0] if means[0] else float("nan")
        print(f"| {tag} | " + " | ".join(f"{m:.4g}" for m in means) + f" | {ratio:.2f} |")


if __name__ == "__main__":
    main()
