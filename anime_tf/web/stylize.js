// Photo to anime in the browser with onnxruntime-web (WASM): the same maths as anime-tf-edge.
// Pixels to [-1, 1], the model, back with floor(v + 0.5), brightness kept by the mean-luma ratio.
// Images above the whole-image budget go through anime_tf/tiling.py's tiles and feathered blend,
// every tile normalised with the layer-norm moments of a scaled-down copy, as anime-tf stylize does.
import * as ort from "./ort/ort.wasm.min.mjs";

const SIZE_MULTIPLE = 4;  // tiles start on multiples of it (the generator's sampling grid)
const LUMA = [0.299, 0.587, 0.114];

export async function loadModel(site) {
  ort.env.wasm.wasmPaths = new URL("./ort/", import.meta.url).href;
  // Threads need SharedArrayBuffer, which browsers give only to cross-origin isolated pages.
  ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
  const options = { executionProviders: ["wasm"] };
  const session = await ort.InferenceSession.create(site.model, options);
  return { session, site, threads: ort.env.wasm.numThreads, tiles: null, options };
}

// The two tile models, loaded on the first photo that needs them.
async function tileSessions(model) {
  model.tiles ??= Promise.all([model.site.measure, model.site.tile]
    .map((file) => ort.InferenceSession.create(file, model.options)));
  return model.tiles;
}

async function runModel(session, x, height, width, moments) {
  const feeds = { image: new ort.Tensor("float32", x, [1, height, width, 3]) };
  if (moments) feeds.moments = moments;
  const result = await session.run(feeds);
  return result[session.outputNames[0]];
}

// ---- tiles: anime_tf/tiling.py ------------------------------------------------------------

function roundUp(n) {
  return Math.ceil(n / SIZE_MULTIPLE) * SIZE_MULTIPLE;
}

function reflect(i, n) {
  return i < n ? i : 2 * n - 2 - i;
}

function reflectPad(x, height, width, toHeight, toWidth) {
  const out = new Float32Array(toHeight * toWidth * 3);
  for (let y = 0; y < toHeight; y++) {
    const sy = reflect(y, height);
    for (let xx = 0; xx < toWidth; xx++) {
      const from = (sy * width + reflect(xx, width)) * 3, to = (y * toWidth + xx) * 3;
      out[to] = x[from]; out[to + 1] = x[from + 1]; out[to + 2] = x[from + 2];
    }
  }
  return out;
}

export function tileStarts(length, tile, overlap, align = SIZE_MULTIPLE) {
  if (length <= tile) return [0];
  const step = Math.floor((tile - overlap) / align) * align;
  const starts = [];
  for (let s = 0; s < length - tile; s += step) starts.push(s);
  starts.push(length - tile);
  return starts;
}

function ramp(size, overlap, rise, fall) {
  const weights = new Float32Array(size).fill(1);
  const n = Math.min(overlap, size);
  for (let i = 0; i < n; i++) {
    const w = (i + 0.5) / overlap;
    if (rise) weights[i] = Math.min(weights[i], w);
    if (fall) weights[size - 1 - i] = Math.min(weights[size - 1 - i], w);
  }
  return weights;
}

function crop(x, width, top, left, h, w) {
  const out = new Float32Array(h * w * 3);
  for (let y = 0; y < h; y++) out.set(x.subarray(((top + y) * width + left) * 3, ((top + y) * width + left + w) * 3), y * w * 3);
  return out;
}

// PIL's BOX resize of a line of RGB pixels (anime_tf.tiling.downscaled scales with it): each output
// pixel is the mean of the input pixels whose centres fall inside it.
function boxLine(line, length, outLength) {
  const out = new Float32Array(outLength * 3);
  const scale = length / outLength;
  for (let i = 0; i < outLength; i++) {
    const center = (i + 0.5) * scale;
    const first = Math.max(Math.trunc(center - scale / 2 + 0.5), 0);
    const last = Math.min(Math.trunc(center + scale / 2 + 0.5), length);
    for (let c = 0; c < 3; c++) {
      let sum = 0;
      for (let k = first; k < last; k++) sum += line[k * 3 + c];
      out[i * 3 + c] = sum / (last - first);
    }
  }
  return out;
}

// x (height x width RGB) scaled down to at most maxPixels, keeping its aspect ratio: rows, then columns.
function downscaled(x, height, width, maxPixels) {
  const scale = Math.min(1, Math.sqrt(maxPixels / (height * width)));
  if (scale === 1) return [x, height, width];
  const w = Math.max(8, Math.round(width * scale)), h = Math.max(8, Math.round(height * scale));
  const rows = new Float32Array(height * w * 3);
  for (let y = 0; y < height; y++) rows.set(boxLine(x.subarray(y * width * 3, (y + 1) * width * 3), width, w), y * w * 3);
  const out = new Float32Array(h * w * 3), column = new Float32Array(height * 3);
  for (let xx = 0; xx < w; xx++) {
    for (let y = 0; y < height; y++) column.set(rows.subarray((y * w + xx) * 3, (y * w + xx) * 3 + 3), y * 3);
    const scaled = boxLine(column, height, h);
    for (let y = 0; y < h; y++) out.set(scaled.subarray(y * 3, y * 3 + 3), (y * w + xx) * 3);
  }
  return [out, h, w];
}

async function runTiled(model, x, height, width, onProgress) {
  const { tile_size: tile, tile_overlap: overlap } = model.site;
  const [measure, tileModel] = await tileSessions(model);
  const [small, smallHeight, smallWidth] = downscaled(x, height, width, model.site.moments_pixels);
  const moments = await runModel(measure, small, smallHeight, smallWidth);  // the whole photo's layer norms
  const H = roundUp(height), W = roundUp(width);
  const padded = reflectPad(x, height, width, H, W);
  const th = Math.min(tile, H), tw = Math.min(tile, W);
  const boxes = [];
  for (const top of tileStarts(H, th, overlap)) for (const left of tileStarts(W, tw, overlap)) boxes.push([top, left]);
  const total = new Float32Array(H * W * 3), weight = new Float32Array(H * W);
  for (const [index, [top, left]] of boxes.entries()) {
    const out = (await runModel(tileModel, crop(padded, W, top, left, th, tw), th, tw, moments)).data;
    const wy = ramp(th, overlap, top > 0, top + th < H), wx = ramp(tw, overlap, left > 0, left + tw < W);
    for (let y = 0; y < th; y++) for (let xx = 0; xx < tw; xx++) {
      const k = wy[y] * wx[xx], p = (top + y) * W + left + xx, q = (y * tw + xx) * 3;
      total[p * 3] += out[q] * k; total[p * 3 + 1] += out[q + 1] * k; total[p * 3 + 2] += out[q + 2] * k;
      weight[p] += k;
    }
    onProgress?.((index + 1) / boxes.length, `${index + 1} of ${boxes.length} tiles`);
  }
  const result = new Float32Array(height * width * 3);
  for (let y = 0; y < height; y++) for (let xx = 0; xx < width; xx++) {
    const p = y * W + xx, q = (y * width + xx) * 3, k = Math.max(weight[p], 1e-8);
    result[q] = total[p * 3] / k; result[q + 1] = total[p * 3 + 1] / k; result[q + 2] = total[p * 3 + 2] / k;
  }
  return result;
}

// ---- pixels ------------------------------------------------------------------------------

export function fittedSize(width, height, maxSide) {
  if (!maxSide || Math.max(width, height) <= maxSide) return [width, height];
  const scale = maxSide / Math.max(width, height);
  return [Math.max(1, Math.round(width * scale)), Math.max(1, Math.round(height * scale))];
}

// RGBA (alpha composited on white, as anime_tf.imageio.split_alpha does) to model range.
function toModelRange(rgba, count) {
  const x = new Float32Array(count * 3);
  for (let i = 0; i < count; i++) {
    const a = rgba[i * 4 + 3] / 255;
    for (let c = 0; c < 3; c++) {
      const v = a === 1 ? rgba[i * 4 + c] : Math.round(rgba[i * 4 + c] * a + 255 * (1 - a));
      x[i * 3 + c] = v / 127.5 - 1;
    }
  }
  return x;
}

function meanLuma(data, stride, count) {
  let sum = 0;
  for (let i = 0; i < count; i++) sum += LUMA[0] * data[i * stride] + LUMA[1] * data[i * stride + 1] + LUMA[2] * data[i * stride + 2];
  return sum / count;
}

// Model output to RGBA with the photo's alpha; brightness matched like anime_tf.imageio.match_brightness.
function toPixels(y, source, rgba, count, keepBrightness) {
  const out = new Uint8ClampedArray(count * 4);
  const rgb = new Float32Array(count * 3);
  for (let i = 0; i < count * 3; i++) rgb[i] = Math.min(255, Math.max(0, Math.floor((y[i] + 1) * 127.5 + 0.5)));
  let ratio = 1;
  if (keepBrightness) {
    const photo = new Float32Array(count * 3);
    for (let i = 0; i < count * 3; i++) photo[i] = (source[i] + 1) * 127.5;
    const result = meanLuma(rgb, 3, count);
    if (result > 0) ratio = meanLuma(photo, 3, count) / result;
  }
  for (let i = 0; i < count; i++) {
    for (let c = 0; c < 3; c++) out[i * 4 + c] = Math.min(255, Math.max(0, Math.floor(rgb[i * 3 + c] * ratio + 0.5)));
    out[i * 4 + 3] = rgba[i * 4 + 3];
  }
  return out;
}

// A decoded photo (ImageBitmap, EXIF rotation applied) to stylized ImageData at most maxSide px.
export async function stylizeBitmap(model, bitmap, { maxSide, keepBrightness = true, onProgress } = {}) {
  const [width, height] = fittedSize(bitmap.width, bitmap.height, maxSide);
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.imageSmoothingQuality = "high";
  context.drawImage(bitmap, 0, 0, width, height);
  const rgba = context.getImageData(0, 0, width, height).data;
  const count = width * height;
  const x = toModelRange(rgba, count);
  const y = count <= model.site.max_whole_pixels
    ? (await runModel(model.session, x, height, width)).data
    : await runTiled(model, x, height, width, onProgress);
  return new ImageData(toPixels(y, x, rgba, count, keepBrightness), width, height);
}
