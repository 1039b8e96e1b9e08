"""Fidelity of the exported models on every kind of CPU, from one x86-64 Linux machine.

Exports float32, float16, dynamic, int8 and int8-strict at 256x256, then runs
`anime-tf-edge` on a few shared photos under each CPU below, once with XNNPACK
(what users run) and once with LiteRT's built-in kernels (`--reference-kernels`,
the same integer arithmetic everywhere), and prints PSNR against the float
Keras model as a Markdown table (PNGs kept in --workdir/out/CPU/MODEL-KERNELS):

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
slow (about 20 s per INT8 photo, two minutes per float photo), so the float
models see only --float-count photos there; a run takes about an hour. Mounts are undone on
the way out, also after an error or Ctrl-C.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZE = 256
VARIANTS = {"float32": {}, "float16": {}, "dynamic": {}, "int8": {}, "int8-strict": {"int8_strict": True}}
X86_CPUS = {"x86 AVX+FMA (no AVX2)": "SandyBridge,+fma", "x86 AVX2+FMA": "Haswell", "x86 native": None}
# LiteRT reads /proc/cpuinfo, where qemu-user shows the host's x86 one: each ARM CPU gets its own.
ARM_CPUS = {"arm64 Pi 4 (Cortex-A72)": ("cortex-a72", "0xd08", "0x0", "3", "fp asimd evtstrm crc32 cpuid"),
            "arm64 Pi 5 (Cortex-A76)": ("cortex-a76", "0xd0b", "0x4", "1",
                                        "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp "
                                        "asimdhp cpuid asimdrdm lrcpc dcpop asimddp")}
ARM_PACKAGES = "python3,python3-venv,python3-pip,ca-certificates"
KERNELS = {"xnnpack": [], "reference": ["--reference-kernels"]}


def export_models(weights, calibration_dir, folder, reuse=False):
    from anime_tf.export import calibration, tflite
    from anime_tf.export.main import _read_photos
    from anime_tf.weights import load_generator

    generator = load_generator(weights)
    samples = calibration.calibration_samples(list(_read_photos(calibration_dir).values()), (SIZE, SIZE))
    folder.mkdir(parents=True, exist_ok=True)
    for name, options in VARIANTS.items():
        quantize = name.split("-")[0]
        if reuse and (folder / f"{name}.tflite").exists():
            continue
        print(f"exporting {name} ...", flush=True)
        model = tflite.convert(generator, quantize, (SIZE, SIZE), samples if quantize == "int8" else None,
                               **options)
        (folder / f"{name}.tflite").write_bytes(model)
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


def run_x86(cpu, model, inputs, out, extra):
    prefix = ["qemu-x86_64", "-cpu", cpu] if cpu else []
    return prefix + [sys.executable, "-m", "anime_tf.edge.cli", "--model", str(model), *inputs,
                     "-o", str(out), "--threads", "2", "--no-keep-brightness", "--overwrite", *extra]


def score(expected, out):
    from anime_tf.export.report import psnr

    scores = [psnr(np.asarray(Image.open(out / f"{name}.png").convert("RGB")), want)
              for name, want in expected.items() if (out / f"{name}.png").exists()]
    return float(np.mean(scores)), float(np.min(scores))


def photos_for(model, photos, float_count):
    """Float models take minutes per photo under emulation: they see the first `float_count`."""
    return photos if "int8" in model.stem else photos[:float_count]


def check_x86(models, photos, expected, workdir, float_count):
    table = {}
    for label, cpu in X86_CPUS.items():
        for model in models:
            for kernels, extra in KERNELS.items():
                out = workdir / "out" / _slug(label) / f"{model.stem}-{kernels}"
                shutil.rmtree(out, ignore_errors=True)
                inputs = [str(p) for p in photos_for(model, photos, float_count if cpu else len(photos))]
                _run(run_x86(cpu, model, inputs, out, extra), label, model.stem, kernels)
                table[label, model.stem, kernels] = score(expected, out)
    return table


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


def check_arm(root, models, photos, expected, workdir, float_count):
    table = {}
    inside = root / "work"
    shutil.rmtree(inside, ignore_errors=True)
    for path in models:
        inside.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, inside / path.name)
        (inside / f"in-{path.stem}").mkdir()
        for photo in photos_for(path, photos, float_count):
            shutil.copy(photo, inside / f"in-{path.stem}" / photo.name)
    for label, (cpu, part, variant, revision, features) in ARM_CPUS.items():
        cpuinfo = workdir / f"cpuinfo-{cpu}"
        cpuinfo.write_text("".join(
            f"processor\t: {i}\nBogoMIPS\t: 108.00\nFeatures\t: {features}\nCPU implementer\t: 0x41\n"
            f"CPU architecture: 8\nCPU variant\t: {variant}\nCPU part\t: {part}\nCPU revision\t: {revision}\n\n"
            for i in range(2)))
        with mounted((["-t", "proc", "proc"], root / "proc"), (["--bind", "/dev"], root / "dev"),
                     (["--bind", str(cpuinfo)], root / "proc/cpuinfo")):
            for model in models:
                for kernels, extra in KERNELS.items():
                    out = f"/work/out/{model.stem}-{kernels}"
                    command = ["/opt/venv/bin/anime-tf-edge", "--model", f"/work/{model.name}", f"/work/in-{model.stem}",
                               "-o", out, "--threads", "2", "--no-keep-brightness", "--overwrite", *extra]
                    _run(_chroot_command(root, cpu, command), label, model.stem, kernels)
                    kept = workdir / "out" / _slug(label) / f"{model.stem}-{kernels}"
                    shutil.rmtree(kept, ignore_errors=True)
                    shutil.copytree(root / out.lstrip("/"), kept)
                    table[label, model.stem, kernels] = score(expected, kept)
    return table


def _chroot_command(root, cpu, command):
    """`command` in the arm64 root with a clean environment; QEMU_CPU picks the emulated CPU."""
    env = {"PATH": "/usr/bin:/bin", "HOME": "/root", "LANG": "C.UTF-8", **({"QEMU_CPU": cpu} if cpu else {})}
    variables = [f"{k}={v}" for k, v in env.items()]
    return ["env", *variables, shutil.which("chroot"), str(root), "/usr/bin/env", "-i", *variables, *command]


def _chroot(root, cpu, command):
    subprocess.run(_chroot_command(root, cpu, command), check=True)


def _run(command, label, model, kernels):
    print(f"{label}: {model} ({kernels}) ...", flush=True)
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{label} {model} {kernels} failed:\n{result.stderr[-2000:]}")


def _slug(label):
    return "".join(c if c.isalnum() else "-" for c in label).strip("-").lower()


def format_table(table, cpus):
    lines = ["| model | kernels | " + " | ".join(cpus) + " |", "| --- | --- |" + " --- |" * len(cpus)]
    for model in VARIANTS:
        for kernels in KERNELS:
            cells = [f"{table[c, model, kernels][0]:.2f} ({table[c, model, kernels][1]:.1f})"
                     if (c, model, kernels) in table else "-" for c in cpus]
            lines.append(f"| {model} | {kernels} | " + " | ".join(cells) + " |")
    gaps = [table[c, m, "reference"][0] - table[c, m, "xnnpack"][0] for c in cpus for m in VARIANTS
            if (c, m, "xnnpack") in table]
    lines.append(f"\nPSNR in dB against the float Keras model: mean (min) over the photos. Largest "
                 f"shortfall of XNNPACK against the reference kernels: {max(gaps):.2f} dB.")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    shared = ROOT.parent / "shared"
    parser.add_argument("--weights", default=str(shared / "models/animeganv2_hayao_256x256_integer_quant.tflite"),
                        help="generator weights to export (default: the shared Hayao model)")
    parser.add_argument("--calibration_dir", default=str(shared / "images/faces"), help="INT8 calibration photos")
    parser.add_argument("--photos", default=str(shared / "images/photos"), help="folder of photos to stylize")
    parser.add_argument("--count", type=int, default=3, help="how many of them (default: %(default)s)")
    parser.add_argument("--float-count", type=int, default=1,
                        help="photos for the float models on emulated CPUs, which take minutes each "
                        "(default: %(default)s)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/anime-tf-cpus"))
    parser.add_argument("--reuse", action="store_true", help="keep models already exported in --workdir")
    parser.add_argument("--only", choices=["x86", "arm"], help="check one family only")
    args = parser.parse_args(argv)
    if args.only != "x86" and os.geteuid() != 0:
        parser.error("the arm64 check needs root (chroot, mount); run as root or with --only x86")

    generator = export_models(args.weights, args.calibration_dir, args.workdir, args.reuse)
    models = [args.workdir / f"{name}.tflite" for name in VARIANTS]
    photos = sorted(Path(args.photos).glob("*.jpg"))[:args.count]
    expected = prepare_photos(photos, generator, args.workdir)
    inputs = [args.workdir / "in" / f"{p.stem}.png" for p in photos]
    table = {}
    if args.only != "arm":
        table.update(check_x86(models, inputs, expected, args.workdir, args.float_count))
    if args.only != "x86":
        table.update(check_arm(arm_root(args.workdir), models, inputs, expected, args.workdir, args.float_count))
    cpus = [c for c in [*X86_CPUS, *ARM_CPUS] if any(key[0] == c for key in table)]
    print(format_table(table, cpus))


if __name__ == "__main__":
    main()
