"""What the web app costs on top of the model: `anime-tf serve` against `anime-tf stylize`'s path.

    python benchmarks/bench_serve.py --weights hayao.weights.h5 --photos ../shared/images/bsds500/val

For each output size, in interleaved rounds: the photos one at a time
through a running server (upload, follow its events, download the result;
the cache is off, so the model runs every time) and through the code path
of `anime-tf stylize` in this process (load, stylize, save). Prints the
median time per image of the latter, the server's p50/p95 latency and its
throughput on a whole batch, and the server's overhead per image as a
share of the model path.
"""
import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from anime_tf.imageio import load_image, save_image
from anime_tf.inference import Stylizer
from anime_tf.serve.process import Server


def through_server(server, photo, size):
    """Seconds from the upload to the downloaded result."""
    started = time.perf_counter()
    job = server.submit([(photo.name, photo.read_bytes())], max_side=size).json()["jobs"][0]
    with server.client.stream("GET", f"/api/jobs/{job['id']}/events") as events:
        for line in events.iter_lines():
            if line.startswith("event: end"):
                break
    assert server.client.get(f"/api/jobs/{job['id']}/result").status_code == 200
    return time.perf_counter() - started


def batch_through_server(server, photos, size):
    """Images per second for all photos sent as one batch."""
    started = time.perf_counter()
    answer = server.submit([(p.name, p.read_bytes()) for p in photos], max_side=size).json()
    with server.client.stream("GET", f"/api/batches/{answer['batch']}/events") as events:
        for line in events.iter_lines():
            if line.startswith("event: end"):
                break
    return len(photos) / (time.perf_counter() - started)


def through_cli_path(stylizer, photo, out):
    started = time.perf_counter()
    save_image(stylizer.stylize(load_image(photo)), out / f"{photo.stem}.png", overwrite=True)
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", required=True)
    parser.add_argument("--photos", type=Path, default=Path("../shared/images/bsds500/val"))
    parser.add_argument("--count", type=int, default=6, help="photos per round")
    parser.add_argument("--sizes", default="512,1024")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    photos = sorted(args.photos.glob("*.jpg"))[:args.count]
    sizes = [int(s) for s in args.sizes.split(",")]
    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    server = Server(work / "data", work / "server.log", "--weights", f"bench={args.weights}", "--cache-mb", "0")
    stylizers = {size: Stylizer(args.weights, max_side=size) for size in sizes}
    times = {size: {"server": [], "cli": [], "batch": []} for size in sizes}
    try:
        for size in sizes:  # warm both paths (tracing, first allocations)
            through_server(server, photos[0], size)
            through_cli_path(stylizers[size], photos[0], work)
        for round_ in range(args.rounds):
            for size in sizes:
                times[size]["server"] += [through_server(server, p, size) for p in photos]
                times[size]["cli"] += [through_cli_path(stylizers[size], p, work) for p in photos]
                times[size]["batch"].append(batch_through_server(server, photos, size))
            print(f"round {round_ + 1} of {args.rounds} done", file=sys.stderr)
    finally:
        server.kill()
    results = {}
    print("| size | stylize path s/img (median) | server p50 | server p95 | server batch img/s | "
          "overhead p50 |\n| --- | --- | --- | --- | --- | --- |")
    for size in sizes:
        cli = statistics.median(times[size]["cli"])
        served = np.percentile(times[size]["server"], [50, 95])
        batch = statistics.median(times[size]["batch"])
        overhead = (served[0] - cli) / cli
        results[size] = {"cli": cli, "p50": served[0], "p95": served[1], "batch_ips": batch,
                         "overhead": overhead}
        print(f"| {size} | {cli:.3f} | {served[0]:.3f} | {served[1]:.3f} | {batch:.2f} | {overhead:+.1%} |")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
