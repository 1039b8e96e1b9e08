"""Fidelity of the exported models on every kind of CPU, from one x86-64 Linux machine.

Exports float32, float16, dynamic, int8 and int8-strict at 256x256, then runs
`anime-tf-edge` on a few shared photos under each CPU below, with XNNPACK
(what users run) and with LiteRT's built-in kernels (`--reference-kernels`,
the same integer results on every x86 CPU), and prints PSNR against the float
Keras model as a Markdown table (PNGs kept in --workdir/out/CPU/MODEL-KERNELS;
the float models see --float-count photos, the INT8 ones --count):

  x86-64, emulated by `qemu-x86_64 -cpu`: SandyBridge,+fma (AVX and FMA, no
      AVX2), Haswell (AVX2 and FMA), and the native CPU;
  arm64, a Debian root made by debootstrap with the edge-only install inside
      (`pip install .`, as on a Raspberry Pi), run with QEMU_CPU=cortex-a72
      (Raspberry Pi 4) and cortex-a76 (Raspberry Pi 5).

Run as root (chroot and bind mounts), from the project folder:

    apt-get install qemu-user qemu-user-static binfmt-support debootstrap
    python benchmarks/check_cpus.py --weights hayao.weights.h5 --workdir /tmp/cpus

The arm64 root (about 400 MB, 5 minutes) is made once in --workdir and
reused; the project is installed into it afresh on every run. Emulation is
slow (about 20 s per INT8 photo, minutes per float photo), so the float
models see --float-count photos and, on emulated CPUs, run with XNNPACK only
(the built-in float kernels run natively). Each result is kept in
--workdir/results.json with the model's sha256: a rerun, say after Ctrl-C,
skips what was measured on the same model bytes. A full run takes about an
hour; `--cpus avx,pi4` picks CPUs. Exit code 1 when a check failed. Mounts are undone on
the way out, also after an error or Ctrl-C.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from anime_tf.files import sha256_of

ROOT = Path(__file__).resolve().parents[1]

SIZE = 256
VARIANTS = {"float32": {}, "float16": {}, "dynamic": {}, "int8": {}, "int8-strict": {"int8_strict": True}}
X86_CPUS = {"avx": ("x86 AVX+FMA (no AVX2)", "SandyBridge,+fma"), "avx2": ("x86 AVX2+FMA", "Haswell"),
            "native": ("x86 native", None)}
# LiteRT reads /proc/cpuinfo, where qemu-user shows the host's x86 one: each ARM CPU gets its own.
ARM_CPUS = {"pi4": ("arm64 Pi 4 (Cortex-A72)", "cortex-a72", "0xd08", "0x0", "3", "fp asimd evtstrm crc32 cpuid"),
            "pi5": ("arm64 Pi 5 (Cortex-A76)", "cortex-a76", "0xd0b", "0x4", "1",
                    "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc "
                    "dcpop asimddp")}
ARM_PACKAGES = "python3,python3-venv,python3-pip,ca-certificates"
KERNELS = {"xnnpack": [], "reference": ["--reference-kernels"]}


def export_models(weights, calibration_dir, folder):
    from anime_tf.export import calibration, tflite
    from anime_tf.export.main import read_photos
    from anime_tf.weights import load_generator

    generator = load_generator(weights)
    samples = calibration.calibration_samples(list(read_photos(calibration_dir).values()), (SIZE, SIZE))
    folder.mkdir(parents=True, exist_ok=True)
    for name, options in VARIANTS.items():
        quantize = name.split("-")[0]
        print(f"exporting {name} ...", flush=True)
        model = tflite.convert(generator, quantize, (SIZE, SIZE), samples if quantize == "int8" else None,
                               **options)
        _write_atomically(folder / f"{name}.tflite", model)  # a run under way may be reading it
    return generator


def prepare_photos(photos, generator, folder):
    """Photos scaled to the models' size (so the runner's fit changes nothing) and Keras' output for each."""
    from anime_tf.imageio import from_model_range, to_model_range

    (folder / "in").mkdir(parents=True, exist_ok=True)
    expected = {}
    for path in photos:
        rgb = Image.open(path).convert("RGB").resize((SIZE, SIZE), Image.Resampling.BICUBIC)
        rgb.save(folder / "in" / f"{path.stem}.png")
        expected[path.stem] = from_model_range(generator(to_model_range(np.asarray(rgb))))
        Image.fromarray(expected[path.stem]).save(folder / "in" / f"{path.stem}.keras.png")
    return expected


def score(expected, out):
    from anime_tf.metrics import psnr

    scores = [psnr(np.asarray(Image.open(out / f"{name}.png").convert("RGB")), want)
              for name, want in expected.items() if (out / f"{name}.png").exists()]
    return float(np.mean(scores)), float(np.min(scores))


class Results:
    """Scores by (CPU, model, kernels) with the model's sha256, kept in a JSON file.

    A rerun skips what was measured on the same model bytes, so an interrupted
    run picks up where it stopped and a new export is checked afresh.
    """

    def __init__(self, path):
        self.path = path

    def _load(self):
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def get(self, cpu, model, kernels, photos):
        entry = self._load().get(f"{cpu}|{model.stem}|{kernels}")
        same = entry and entry["sha256"] == sha256_of(model) and entry.get("photos") == [p.name for p in photos]
        return tuple(entry["psnr"]) if same else None

    def put(self, cpu, model, kernels, photos, psnr):
        data = self._load()  # as it is now: an x86 and an arm64 run may share the file
        data[f"{cpu}|{model.stem}|{kernels}"] = {"sha256": sha256_of(model), "photos": [p.name for p in photos],
                                                 "psnr": list(psnr)}
        _write_atomically(self.path, json.dumps(data, indent=1).encode())


def _write_atomically(path, data):
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_bytes(data)
    tmp.replace(path)


def cells(cpu, models):
    """(model, kernels) to run on `cpu`. Float models take minutes per photo under emulation, and
    the built-in float kernels round alike on every CPU: emulated CPUs run them with XNNPACK only."""
    for model in models:
        for kernels in KERNELS:
            if cpu == "native" or "int8" in model.stem or kernels == "xnnpack":
                yield model, kernels


def check_x86(cpus, models, photos, expected, workdir, results, float_count):
    for key in cpus:
        label, qemu_cpu = X86_CPUS[key]
        for model, kernels in cells(key, models):
            inputs = photos_for(model, photos, float_count)
            if results.get(key, model, kernels, inputs):
                continue
            out = workdir / "out" / key / f"{model.stem}-{kernels}"
            shutil.rmtree(out, ignore_errors=True)
            prefix = ["qemu-x86_64", "-cpu", qemu_cpu] if qemu_cpu else []
            command = prefix + [sys.executable, "-m", "anime_tf.edge.cli", "--model", str(model),
                                *map(str, inputs), "-o", str(out), "--threads", "2", "--no-keep-brightness",
                                *KERNELS[kernels]]
            if _run(command, label, model.stem, kernels):
                results.put(key, model, kernels, inputs, score(expected, out))


def photos_for(model, photos, float_count):
    """Float models take minutes per photo under emulation: on every CPU they see the first few."""
    return photos if "int8" in model.stem else photos[:float_count]


@contextlib.contextmanager
def mounted(*mounts):
    """Mount each (args, target) in order; unmount all in reverse on the way out."""
    done = []
    try:
        for args, target in mounts:
            subprocess.run(["mount", *args, str(target)], check=True)
            done.append(target)
        yield
    finally:
        for target in reversed(done):
            subprocess.run(["umount", "-l", str(target)], check=False)


def arm_root(workdir):
    """A Debian arm64 root with Python, made once; the project is installed into it afresh."""
    root = workdir / "arm64-root"
    if not (root / "usr/bin/python3").exists():
        print("debootstrap arm64 (once, about 5 minutes) ...", flush=True)
        subprocess.run(["debootstrap", "--arch=arm64", "--variant=minbase", f"--include={ARM_PACKAGES}",
                        "bookworm", str(root), "http://deb.debian.org/debian"], check=True)
    shutil.copy("/etc/resolv.conf", root / "etc/resolv.conf")
    # pip in the root trusts what the host trusts (a proxy's own CA, for one).
    shutil.copy("/etc/ssl/certs/ca-certificates.crt", root / "etc/ssl/certs/ca-certificates.crt")
    source = root / "opt/anime-tf"
    shutil.rmtree(source, ignore_errors=True)
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", "__pycache__", "*.egg-info",
                                                                  "build", "out", ".venv", "venv"))
    with mounted((["-t", "proc", "proc"], root / "proc"), (["--bind", "/dev"], root / "dev")):
        _chroot(root, None, ["sh", "-c", "test -x /opt/venv/bin/pip || python3 -m venv /opt/venv"])
        _chroot(root, None, ["/opt/venv/bin/pip", "install", "--quiet", "/opt/anime-tf"])
    return root


def check_arm(cpus, root, models, photos, expected, workdir, results, float_count):
    inside = root / "work"
    shutil.rmtree(inside, ignore_errors=True)
    for model in models:
        (inside / f"in-{model.stem}").mkdir(parents=True)
        shutil.copy(model, inside / model.name)
        for photo in photos_for(model, photos, float_count):
            shutil.copy(photo, inside / f"in-{model.stem}" / photo.name)
    for model in sorted(models, key=lambda m: "int8" not in m.stem):  # the INT8 checks first: they matter most
        for key in cpus:
            todo = [(m, kernels) for m, kernels in cells(key, [model])
                    if not results.get(key, m, kernels, photos_for(m, photos, float_count))]
            if todo:
                with arm_cpu(root, key, workdir):
                    for _, kernels in todo:
                        run_arm(key, root, model, kernels, photos, expected, workdir, results, float_count)


@contextlib.contextmanager
def arm_cpu(root, key, workdir):
    """The root's /proc, /dev and /sys, with this ARM CPU's /proc/cpuinfo bound over QEMU's x86 one.

    XNNPACK reads both /proc/cpuinfo and /sys/devices/system/cpu: without them it does not start,
    and LiteRT quietly runs its built-in kernels instead.
    """
    _, qemu_cpu, part, variant, revision, features = ARM_CPUS[key]
    cpuinfo = workdir / f"cpuinfo-{qemu_cpu}"
    cpuinfo.write_text("".join(
        f"processor\t: {i}\nBogoMIPS\t: 108.00\nFeatures\t: {features}\nCPU implementer\t: 0x41\n"
        f"CPU architecture: 8\nCPU variant\t: {variant}\nCPU part\t: {part}\nCPU revision\t: {revision}\n\n"
        for i in range(2)))
    with mounted((["-t", "proc", "proc"], root / "proc"), (["--bind", "/dev"], root / "dev"),
                 (["--bind", "/sys"], root / "sys"), (["--bind", str(cpuinfo)], root / "proc/cpuinfo")):
        yield


def run_arm(key, root, model, kernels, photos, expected, workdir, results, float_count):
    label, qemu_cpu = ARM_CPUS[key][:2]
    out = f"/work/out/{key}/{model.stem}-{kernels}"
    command = ["/opt/venv/bin/anime-tf-edge", "--model", f"/work/{model.name}", f"/work/in-{model.stem}",
               "-o", out, "--threads", "2", "--no-keep-brightness", *KERNELS[kernels]]
    if _run(_chroot_command(root, qemu_cpu, command), label, model.stem, kernels):
        kept = workdir / "out" / key / f"{model.stem}-{kernels}"
        shutil.rmtree(kept, ignore_errors=True)
        shutil.copytree(root / out.lstrip("/"), kept)
        results.put(key, model, kernels, photos_for(model, photos, float_count), score(expected, kept))


def _chroot_command(root, cpu, command):
    """`command` in the arm64 root with a clean environment; QEMU_CPU picks the emulated CPU."""
    env = {"PATH": "/usr/bin:/bin", "HOME": "/root", "LANG": "C.UTF-8", **({"QEMU_CPU": cpu} if cpu else {})}
    variables = [f"{k}={v}" for k, v in env.items()]
    return ["env", *variables, shutil.which("chroot"), str(root), "/usr/bin/env", "-i", *variables, *command]


def _chroot(root, cpu, command):
    subprocess.run(_chroot_command(root, cpu, command), check=True)


def _run(command, label, model, kernels):
    """Run one check; a failure (a crash under emulation, say) is printed and left out of the table."""
    print(f"{label}: {model} ({kernels}) ...", flush=True)
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        print(f"  failed (exit {result.returncode}):\n{result.stderr[-2000:]}", flush=True)
    elif kernels == "xnnpack" and "XNNPACK delegate" not in result.stderr:
        print(f"  failed: XNNPACK did not start, LiteRT ran its built-in kernels:\n{result.stderr[-1000:]}")
        return False
    return result.returncode == 0


def format_table(results, cpus, models, photos, float_count):
    labels = [{**X86_CPUS, **ARM_CPUS}[key][0] for key in cpus]
    lines = ["| model | kernels | " + " | ".join(labels) + " |", "| --- | --- |" + " --- |" * len(cpus)]
    gaps = []
    for model in models:
        for kernels in KERNELS:
            row = []
            for key in cpus:
                seen = photos_for(model, photos, float_count)
                psnr = results.get(key, model, kernels, seen)
                planned = (model, kernels) in set(cells(key, [model]))
                row.append(f"{psnr[0]:.2f} ({psnr[1]:.1f})" if psnr else "failed" if planned else "native only")
                reference = (results.get(key, model, "reference", seen)
                             or results.get("native", model, "reference", seen))
                if psnr and kernels == "xnnpack" and reference:
                    gaps.append(reference[0] - psnr[0])
            lines.append(f"| {model.stem} | {kernels} | " + " | ".join(row) + " |")
    lines.append("\nPSNR in dB against the float Keras model: mean (min) over the photos. Largest "
                 f"shortfall of XNNPACK against the reference kernels: {max(gaps, default=float('nan')):.2f} dB.")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    shared = ROOT.parent / "shared"
    parser.add_argument("--weights", default=str(shared / "models/animeganv2_hayao_256x256_integer_quant.tflite"),
                        help="generator weights to export (default: the shared Hayao model)")
    parser.add_argument("--calibration-dir", default=str(shared / "images/faces"), help="INT8 calibration photos")
    parser.add_argument("--photos", default=str(shared / "images/photos"), help="folder of photos to stylize")
    parser.add_argument("--count", type=int, default=3, help="how many of them (default: %(default)s)")
    parser.add_argument("--float-count", type=int, default=1,
                        help="photos for the float models on emulated CPUs (default: %(default)s)")
    parser.add_argument("--cpus", default=",".join([*X86_CPUS, *ARM_CPUS]),
                        help="which CPUs, comma-separated (default: %(default)s)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/anime-tf-cpus"),
                        help="exports, PNGs, the arm64 root and results.json (default: %(default)s)")
    args = parser.parse_args(argv)
    cpus = args.cpus.split(",")
    if unknown := set(cpus) - {*X86_CPUS, *ARM_CPUS}:
        parser.error(f"unknown CPU {', '.join(unknown)}; choose from {', '.join([*X86_CPUS, *ARM_CPUS])}")
    if set(cpus) & set(ARM_CPUS) and os.geteuid() != 0:
        parser.error("the arm64 checks need root (chroot, mount)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unmount on kill, too

    generator = export_models(args.weights, args.calibration_dir, args.workdir)
    models = [args.workdir / f"{name}.tflite" for name in VARIANTS]
    photos = sorted(Path(args.photos).glob("*.jpg"))[:args.count]
    expected = prepare_photos(photos, generator, args.workdir)
    inputs = [args.workdir / "in" / f"{p.stem}.png" for p in photos]
    results = Results(args.workdir / "results.json")
    check_x86([c for c in cpus if c in X86_CPUS], models, inputs, expected, args.workdir, results,
              args.float_count)
    if arm := [c for c in cpus if c in ARM_CPUS]:
        check_arm(arm, arm_root(args.workdir), models, inputs, expected, args.workdir, results, args.float_count)
    print(format_table(results, cpus, models, inputs, args.float_count))
    done = all(results.get(c, m, k, photos_for(m, inputs, args.float_count))
               for c in cpus for m, k in cells(c, models))
    return 0 if done else 1  # 1: some check failed


if __name__ == "__main__":
    sys.exit(main())
