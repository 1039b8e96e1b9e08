"""Distil students on a GPU machine that has PyTorch and no TensorFlow (the lent H200).

A PyTorch port of `anime_tf.models.Generator` (NCHW, the same numbers) and of the distillation step of `anime_tf.train.distill` with
`--context_views --pyramid_weight 1 --block_color_weight 4` (its parity with
Keras is `tests/test_torch_port.py`): L1, Laplacian
pyramid and block-colour terms against the teacher's output, and every
other view rendered, by teacher and student alike, with the layer-norm
moments of the same place at twice the scale. Unlike the CPU run's cache of
fixed views, the teacher renders each batch on the fly, so every step sees
fresh crops (random place, scale and mirroring).

Several students train side by side on one teacher forward pass per batch.
The run is timed, not counted: the learning rate decays (cosine, to 5%)
over `--minutes` of wall time, and every student is written (atomically)
to `OUT/NAME.npz` at each report, so a run killed at its limit keeps its
last report. Weights come and go as `.npz` (`torch_weights.py`, run with
TensorFlow, converts both ways):

    python torch_distill.py --teacher gpu/teacher.npz --photos gpu/train --val gpu/val \
        --student tiny=gpu/tiny.npz:1e-4 --student lite=gpu/lite.npz:1e-4 --minutes 7 --out $OUT
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

LEAKY_SLOPE = 0.2
EPSILON = 1e-12
SCALES = (1.0, 1.125, 1.25)  # shorter side x crop, as anime_tf.train.teacher.DISTILL_SCALES
CONTEXT_SCALE = 2.0
FINAL_LR_FRACTION = 0.05


# --- the generator -------------------------------------------------------------------------------

class Norms:
    """The layer norms' moments for one pass: the input's own (recorded), or given ones, in call order."""

    def __init__(self, given=None):
        self.given, self.recorded = given, []

    def __call__(self, x, gamma, beta):
        if self.given is None:
            variance, mean = torch.var_mean(x, dim=(1, 2, 3), keepdim=True, correction=0)
        else:
            mean, variance = self.given[len(self.recorded)]
        self.recorded.append((mean, variance))
        scale = torch.rsqrt(variance + EPSILON) * gamma.view(1, -1, 1, 1)
        return x * scale + (beta.view(1, -1, 1, 1) - mean * scale)


def reflect(x, top, bottom, left, right):
    return F.pad(x, (left, right, top, bottom), mode="reflect") if top or bottom or left or right else x


def resize_x2_legacy(x):
    """TF1's bilinear x2 (no half-pixel centres): even outputs copy, odd ones average with the next."""
    def along(x, dim):
        following = torch.cat([x.narrow(dim, 1, x.shape[dim] - 1), x.narrow(dim, x.shape[dim] - 1, 1)], dim)
        shape = list(x.shape)
        shape[dim] *= 2
        return torch.stack([x, 0.5 * (x + following)], dim + 1).reshape(shape)
    return along(along(x, 2), 3)


class TorchGenerator(torch.nn.Module):
    """`anime_tf.models.Generator` of any width and blocks, its variables named by their Keras paths."""

    def __init__(self, arrays):
        super().__init__()
        self.names = [k for k in arrays if not k.startswith("__")]
        self.blocks = int(arrays["__blocks"])
        self.params = torch.nn.ParameterDict()
        for path in self.names:
            self.params[path.replace("/", "__")] = torch.nn.Parameter(torch.from_numpy(to_torch(path, arrays[path])))

    def p(self, path):
        return self.params[f"generator/{path}".replace("/", "__")]

    def cnl(self, name, x, norms, strides=1):
        kernel = self.p(f"{name}/conv/kernel")
        size = kernel.shape[-1]
        if size > 1:
            x = reflect(x, 0, 1, 0, 1) if strides == 2 else reflect(x, *(size // 2,) * 4)
        x = F.conv2d(x, kernel, stride=strides)
        return F.leaky_relu(norms(x, self.p(f"{name}/norm/gamma"), self.p(f"{name}/norm/beta")), LEAKY_SLOPE)

    def block(self, name, x, norms):
        y = self.cnl(f"{name}/expand", x, norms)
        kernel = self.p(f"{name}/depthwise/kernel")
        y = F.conv2d(reflect(y, 1, 1, 1, 1), kernel, self.p(f"{name}/depthwise/bias"), groups=kernel.shape[0])
        y = F.leaky_relu(norms(y, self.p(f"{name}/depthwise_norm/gamma"), self.p(f"{name}/depthwise_norm/beta")),
                         LEAKY_SLOPE)
        y = F.conv2d(y, self.p(f"{name}/project/kernel"))
        y = norms(y, self.p(f"{name}/project_norm/gamma"), self.p(f"{name}/project_norm/beta"))
        return x + y if y.shape[1] == x.shape[1] else y

    def forward(self, x, moments=None):
        """NCHW images in [-1, 1] (sides multiples of 4) -> (output, the moments every layer norm used)."""
        norms = Norms(moments)
        x = self.cnl("A1", x, norms)
        x = self.cnl("A2", x, norms, strides=2)
        x = self.cnl("A3", x, norms)
        x = self.cnl("B1", x, norms, strides=2)
        x = self.cnl("B2", x, norms)
        x = self.cnl("C1", x, norms)
        for i in range(1, self.blocks + 1):
            x = self.block(f"C_r{i}", x, norms)
        x = resize_x2_legacy(self.cnl("C2", x, norms))
        x = resize_x2_legacy(self.cnl("D2", self.cnl("D1", x, norms), norms))
        x = self.cnl("E3", self.cnl("E2", self.cnl("E1", x, norms), norms), norms)
        return torch.tanh(F.conv2d(x, self.p("out_layer/kernel"))), norms.recorded

    def arrays(self, template):
        """The weights back in Keras layout, with `template`'s architecture entries."""
        out = {k: template[k] for k in template if k.startswith("__")}
        for path in self.names:
            out[path] = to_keras(path, self.params[path.replace("/", "__")].detach().float().cpu().numpy())
        return out


def to_torch(path, array):
    """A Keras array as PyTorch wants it: HWIO conv kernels to OIHW, HWC1 depthwise to C1HW."""
    array = np.asarray(array, np.float32)
    if array.ndim == 4 and "depthwise" in path:
        return np.ascontiguousarray(array.transpose(2, 3, 0, 1))
    if array.ndim == 4:
        return np.ascontiguousarray(array.transpose(3, 2, 0, 1))
    return array.copy()


def to_keras(path, array):
    if array.ndim == 4 and "depthwise" in path:
        return array.transpose(2, 3, 0, 1)
    if array.ndim == 4:
        return array.transpose(2, 3, 1, 0)
    return array


def load_generator(path, device):
    with np.load(path) as arrays:
        arrays = dict(arrays)
    return TorchGenerator(arrays).to(device).to(memory_format=torch.channels_last), arrays


# --- losses (anime_tf.losses) --------------------------------------------------------------------

def per_example_mean(x):
    return x.mean(dim=(1, 2, 3))


def pyramid(images, levels=4):
    bands = []
    for _ in range(levels):
        low = F.avg_pool2d(images, 2)
        bands.append(images - F.interpolate(low, size=images.shape[2:], mode="bilinear", align_corners=False))
        images = low
    return bands + [images]


def pyramid_loss(target, images, levels=4, floor=1e-4):
    total = 0.0
    for t, s in zip(pyramid(target, levels), pyramid(images, levels)):
        total = total + per_example_mean((s - t) ** 2) / (per_example_mean(t ** 2) + floor)
    return total / (levels + 1)


def block_color_loss(target, images, sizes=(8, 32)):
    difference = target - images
    return sum(per_example_mean(F.avg_pool2d(difference, s).abs()) for s in sizes) / len(sizes)


def distill_loss(teacher, student, pyramid_weight=1.0, block_color_weight=4.0):
    """anime_tf.train.distill's total with --pyramid_weight 1 --block_color_weight 4."""
    return (per_example_mean((teacher - student).abs()) + pyramid_weight * pyramid_loss(teacher, student)
            + block_color_weight * block_color_loss(teacher, student)).mean()


# --- data ----------------------------------------------------------------------------------------

def read_rgb(path):
    with Image.open(path) as image:
        return image.convert("RGB")


def scaled(image, shorter):
    scale = shorter / min(image.size)
    size = max(shorter, round(image.size[0] * scale)), max(shorter, round(image.size[1] * scale))
    return image.resize(size, Image.Resampling.LANCZOS)


class Views:
    """Random crop x crop views of the photos at SCALES, each with its context (the same place at
    CONTEXT_SCALE, or the view itself on every other view), as NCHW tensors in [-1, 1]."""

    def __init__(self, folder, crop, device, seed):
        self.crop, self.device = crop, device
        self.rng = np.random.default_rng(seed)
        self.photos = []  # [(scaled, context-scaled) uint8 HWC tensors, one per scale]
        for path in sorted(Path(folder).iterdir()):
            try:
                image = read_rgb(path)
            except OSError as err:
                print(f"skipping {path}: {err}", file=sys.stderr)
                continue
            for scale in SCALES:
                view = scaled(image, round(scale * crop))
                larger = view.resize([round(CONTEXT_SCALE * n) for n in view.size], Image.Resampling.LANCZOS)
                self.photos.append(tuple(torch.from_numpy(np.array(a)).to(device) for a in (view, larger)))
        if not self.photos:
            raise SystemExit(f"no photo could be read in {folder}")

    def batch(self, size):
        views, contexts = [], []
        for i in range(size):
            view, larger = self.photos[self.rng.integers(len(self.photos))]
            y, x = (int(self.rng.integers(0, n - self.crop + 1)) for n in view.shape[:2])
            cut = view[y:y + self.crop, x:x + self.crop]
            if i % 2:
                cy, cx = (int(np.clip(round(CONTEXT_SCALE * (c + self.crop / 2) - self.crop / 2), 0, n - self.crop))
                          for c, n in zip((y, x), larger.shape[:2]))
                context = larger[cy:cy + self.crop, cx:cx + self.crop]
            else:
                context = cut
            mirror = self.rng.random() < 0.5
            views.append(cut.flip(1) if mirror else cut)
            contexts.append(context.flip(1) if mirror else context)
        return to_model(torch.stack(views)), to_model(torch.stack(contexts))


def to_model(uint8_nhwc):
    x = uint8_nhwc.permute(0, 3, 1, 2).float() / 127.5 - 1.0
    return x.contiguous(memory_format=torch.channels_last)


def to_uint8(x):
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def val_images(folder, device):
    """The held-out photos at 256x256, bicubic, as bench_student.py's `at_256`."""
    photos = [np.asarray(read_rgb(p).resize((256, 256), Image.Resampling.BICUBIC)) for p in sorted(Path(folder).iterdir())]
    return to_model(torch.from_numpy(np.stack(photos)).to(device))


def psnr(a, b):
    error = ((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean(axis=(1, 2, 3))
    return 10 * np.log10(255.0 ** 2 / np.maximum(error, 1e-10))


@torch.no_grad()
def render(generator, x, chunk=16):
    return np.concatenate([to_uint8(generator(x[i:i + chunk])[0]) for i in range(0, len(x), chunk)])


# --- the run -------------------------------------------------------------------------------------

class Student:
    def __init__(self, spec, device):
        name, rest = spec.split("=", 1)
        path, lr = rest.rsplit(":", 1)
        self.name, self.base_lr = name, float(lr)
        self.model, self.template = load_generator(path, device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.base_lr, eps=1e-7)
        self.steps = 0

    def step(self, photo, context, target, lr, clip_norm):
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        _, moments = self.model(context)
        output, _ = self.model(photo, moments)
        loss = distill_loss(target, output)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip_norm)
        self.optimizer.step()
        self.steps += 1
        return loss.detach()

    def save(self, folder):
        path = Path(folder) / f"{self.name}.npz"
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **self.model.arrays(self.template))
        os.replace(tmp, path)


def train(args):
    device = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = args.tf32
    torch.backends.cudnn.benchmark = device.type == "cuda"
    torch.manual_seed(args.seed)
    teacher, _ = load_generator(args.teacher, device)
    teacher.requires_grad_(False)
    students = [Student(spec, device) for spec in args.student]
    views = Views(args.photos, args.crop, device, args.seed)
    val = val_images(args.val, device) if args.val else None
    val_teacher = render(teacher, val) if val is not None else None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def report(step, elapsed, losses):
        line = [f"step {step} {elapsed:6.0f}s"]
        for student, loss in zip(students, losses):
            text = f"{student.name} loss {'-' if loss is None else f'{loss:.4f}'}"
            if val is not None:
                scores = psnr(render(student.model, val), val_teacher)
                text += f" val256 {scores.mean():.2f}/{scores.min():.2f}"
            student.save(out)
            line.append(text)
        print(" | ".join(line), flush=True)

    start, step, last_report, reported = time.time(), 0, time.time(), 0
    totals = [0.0] * len(students)  # loss sums since the last report (tensors: no sync per step)
    budget = args.minutes * 60
    while (elapsed := time.time() - start) < budget:
        fraction = elapsed / budget
        decay = FINAL_LR_FRACTION + (1 - FINAL_LR_FRACTION) * 0.5 * (1 + math.cos(math.pi * fraction))
        photo, context = views.batch(args.batch_size)
        with torch.no_grad():
            _, teacher_moments = teacher(context)
            target, _ = teacher(photo, teacher_moments)
        for i, student in enumerate(students):
            loss = student.step(photo, context, target, student.base_lr * decay, args.clip_norm)
            totals[i] = totals[i] + loss
        step += 1
        if step == 20 or time.time() - last_report > args.report_seconds:
            report(step, time.time() - start, [float(t) / (step - reported) for t in totals])
            totals, last_report, reported = [0.0] * len(students), time.time(), step
    report(step, time.time() - start, [float(t) / (step - reported) if step > reported else None for t in totals])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", required=True, help="the teacher's .npz")
    parser.add_argument("--student", action="append", required=True, help="NAME=START.npz:LEARNING_RATE (repeatable)")
    parser.add_argument("--photos", required=True, help="folder of training photos")
    parser.add_argument("--val", help="folder of held-out photos, scored against the teacher at each report")
    parser.add_argument("--out", default="torch_distill_out", help="where NAME.npz files are written")
    parser.add_argument("--minutes", type=float, default=5.0, help="wall time of the run (the schedule's length)")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--clip_norm", type=float, default=1.0)
    parser.add_argument("--report_seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--no_tf32", dest="tf32", action="store_false", help="full float32 convolutions")
    args = parser.parse_args()
    train(args)


if __name__ == "__main__":
    main()
