"""Run an exported AnimeGANv2 model without TensorFlow, for a Raspberry Pi or any CPU.

.tflite files run with LiteRT, .onnx files with ONNX Runtime (`edge.onnx_runner`,
the `onnx` extra); `open_model` picks by the file name.

Any generator model works: ours (float32, float16, dynamic-range, INT8 with
float or integer I/O; fixed or dynamic size) and third-party AnimeGANv2
conversions with the same [-1, 1] NHWC convention, such as the reference INT8
model. A fixed-size model sees each image scaled to fit and reflect-padded
(`fit`), or, with `tile=True`, tiles of its size across the full image.
"""
from __future__ import annotations

import os
import statistics
import time

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType
from PIL import Image

from anime_tf.imageio import from_model_range, match_brightness, stylize_image, to_model_range
from anime_tf.tiling import TileBlender, tile_boxes

SIZE_MULTIPLE = 4  # the generator's strides; dynamic models pad to it inside


def open_model(path, threads=None, xnnpack=True, provider=None):
    """An `EdgeModel` for a .tflite file, an `OnnxModel` for a .onnx file.

    `xnnpack` applies to LiteRT only, `provider` (an ONNX Runtime execution
    provider such as "openvino" or "cuda") to ONNX Runtime only.
    """
    if str(path).lower().endswith(".onnx"):
        from anime_tf.edge.onnx_runner import OnnxModel

        return OnnxModel(path, threads=threads, provider=provider)
    if provider:
        raise ValueError(f"--provider is for .onnx models; {path} runs with LiteRT")
    return EdgeModel(path, threads=threads, xnnpack=xnnpack)


class ImageModel:
    """What the edge stylizer needs of a model: a call on 1xHxWx3 floats in [-1, 1], and
    `fixed_size`, the (height, width) it takes, or None for any size."""

    fixed_size = None

    def __call__(self, x):
        raise NotImplementedError

    def benchmark(self, runs, size=None, warmup=2):
        """Median milliseconds per run on a mid-grey image, after warm-up runs."""
        height, width = self.fixed_size or size or (256, 256)
        x = np.zeros((1, height, width, 3), np.float32)
        for _ in range(warmup):
            self(x)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            self(x)
            times.append(time.perf_counter() - start)
        return 1000 * statistics.median(times)


class EdgeModel(ImageModel):
    """One .tflite generator: float in [-1, 1] (1xHxWx3) to float in [-1, 1].

    `xnnpack=False` runs LiteRT's built-in kernels instead of XNNPACK: slower,
    but their integer results are the same on every x86 CPU (and within 0.1 dB on
    ARM), which makes them the reference to check a board's XNNPACK results against.
    """

    def __init__(self, path, threads=None, xnnpack=True):
        resolver = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        try:
            self.interpreter = Interpreter(model_path=str(path), num_threads=threads or os.cpu_count(),
                                           experimental_op_resolver_type=resolver)
        except (ValueError, RuntimeError) as err:
            raise ValueError(f"{path} is not a readable TFLite model: {err}") from err
        self.interpreter.allocate_tensors()
        self._input = self.interpreter.get_input_details()[0]
        signature = self._input["shape_signature"]
        if len(signature) != 4 or signature[-1] != 3:
            raise ValueError(f"{path}: expected an image model with input 1xHxWx3, got {list(signature)}")
        dynamic = signature[1] < 0 or signature[2] < 0
        self.fixed_size = None if dynamic else (int(signature[1]), int(signature[2]))

    def __call__(self, x):
        interpreter, details = self.interpreter, self._input
        if tuple(details["shape"]) != x.shape:
            interpreter.resize_tensor_input(details["index"], list(x.shape))
            interpreter.allocate_tensors()
            self._input = details = interpreter.get_input_details()[0]
        interpreter.set_tensor(details["index"], _quantize(x, details))
        interpreter.invoke()
        output = interpreter.get_output_details()[0]
        return _dequantize(interpreter.get_tensor(output["index"]), output)

def _quantize(x, details):
    if details["dtype"] == np.float32:
        return x.astype(np.float32)
    scale, zero = details["quantization"]
    info = np.iinfo(details["dtype"])
    return np.clip(np.round(x / scale + zero), info.min, info.max).astype(details["dtype"])


def _dequantize(y, details):
    if y.dtype == np.float32:
        return y
    scale, zero = details["quantization"]
    return (y.astype(np.float32) - zero) * scale


class EdgeStylizer:
    """Photo to anime with an `EdgeModel` or `OnnxModel`; the same image handling as `anime_tf.Stylizer`."""

    def __init__(self, model, *, tile=False, tile_overlap=32, max_side=None, keep_brightness=True):
        self.model = model
        self.tile = tile
        self.tile_overlap = tile_overlap
        self.max_side = max_side
        self.keep_brightness = keep_brightness

    def stylize(self, image):
        """PIL image (any mode, EXIF-rotated or not) to stylized PIL image; alpha is kept."""
        return stylize_image(image, self.stylize_array, self.max_side)

    def stylize_array(self, pixels):
        """uint8 RGB array to stylized uint8 RGB (at the fitted size for fixed-size models)."""
        if self.model.fixed_size and not self.tile:
            pixels = np.asarray(_fit_inside(Image.fromarray(pixels), self.model.fixed_size))
        out = from_model_range(self._run(to_model_range(pixels)))
        return match_brightness(out, pixels) if self.keep_brightness else out

    def _run(self, x):
        height, width = x.shape[1:3]
        if self.model.fixed_size is None:
            return self.model(x)
        tile_h, tile_w = self.model.fixed_size
        padded = _reflect_pad_to(x, max(height, tile_h), max(width, tile_w))
        if padded.shape[1:3] == (tile_h, tile_w):
            return self.model(padded)[:, :height, :width]
        blender = TileBlender(padded.shape[1], padded.shape[2], 3, self.tile_overlap)
        boxes = tile_boxes(padded.shape[1], padded.shape[2], (tile_h, tile_w), self.tile_overlap, SIZE_MULTIPLE)
        for top, left, h, w in boxes:
            blender.add((top, left, h, w), self.model(padded[:, top:top + h, left:left + w])[0])
        return blender.result()[None, :height, :width]


def _fit_inside(image, size):
    """Scale so the image just fits the model's (height, width), keeping its aspect ratio."""
    height, width = size
    scale = min(height / image.height, width / image.width)
    new = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(new, Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BICUBIC)


def _reflect_pad_to(x, height, width):
    """Pad bottom/right to (height, width) by reflection, as the generator pads."""
    pad_h, pad_w = height - x.shape[1], width - x.shape[2]
    if not (pad_h or pad_w):
        return x
    return np.pad(x, [(0, 0), (0, pad_h), (0, pad_w), (0, 0)], mode="reflect")
