"""Face-structure error of plain stylization against the face pass (face2paint).

    python benchmarks/bench_faces.py --weights hayao.weights.h5 --images ../shared/images/faces \
        --face_model ../shared/models/face_landmarker.task [--face_weights faces.weights.h5] \
        --edge_model ../shared/models/animeganv2_hayao_256x256_integer_quant.tflite --out /tmp/faces

For each photo the Face Landmarker runs on the photo and on each stylized
output; faces are matched by centre, and per matched face the mean distance
over the 478 landmarks is divided by the photo's inter-ocular distance and
capped at 0.1 (`anime_tf.metrics`). Reported per image and in total: the
median error over matched faces, faces no longer found, the stylization
strength inside the face boxes (mean absolute difference to the photo, 0-255)
and its ratio to plain full-resolution stylization's and to the same run
without the face pass, the PSNR against that run outside the face boxes (what
the face pass must leave alone), and seconds per image. The face pass runs
at --max-side and at full resolution, its crops stylized by --face_weights
(default: --weights) at each face's own size (or --crop_size).
With --face_weights, the photos without faces are stylized by both weights at
full resolution: the face weights' PSNR against the style's shows that the
fine-tune kept the look (the face pass never uses them there).
With --out, each face also gets a sheet: the photo, then each stylized run in
the table's order, cut around the face, to look at eyes, mouths and hair.
The photo saved as JPEG at quality 50, and the photo itself scaled to
--max-side, show the metric's floor at full and at reduced size.
"""
import argparse
import io
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image

from anime_tf.face import FaceLandmarker, FacePainter
from anime_tf.metrics import face_box, face_structure, psnr, psnr_outside_faces, rescaled, stylization_strength
from anime_tf.imageio import find_images, load_image, shrink_to, split_alpha, stylize_image


FULL = "plain, full resolution"
FLOORS = ("JPEG q50", "photo at")  # runs that show the metric's floor, not a stylization


def jpeg_copy(image, quality=50):
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return Image.open(buffer).convert("RGB")


def face_sheet(photo, outputs, face, height=320, margin=0.35):
    """One row: the face's box, widened by `margin` for hair and chin, cut from the photo and each output.

    Every cut is resized to `height` so that eyes, mouths and hair edges line up across runs.
    """
    x0, y0, x1, y1 = face_box(face, *photo.size)
    pad_x, pad_y = margin * (x1 - x0), margin * (y1 - y0)
    box = (max(0, x0 - pad_x), max(0, y0 - pad_y), min(photo.width, x1 + pad_x), min(photo.height, y1 + pad_y))
    width = round(height * (box[2] - box[0]) / (box[3] - box[1]))
    cuts = [image.resize((width, height), Image.Resampling.LANCZOS,
                         box=tuple(v * image.width / photo.width if i % 2 == 0 else v * image.height / photo.height
                                   for i, v in enumerate(box)))
            for image in [photo, *outputs]]
    sheet = Image.new("RGB", (len(cuts) * (width + 4), height), "white")
    for i, cut in enumerate(cuts):
        sheet.paste(cut, (i * (width + 4), 0))
    return sheet


def stylizers(args):
    """The style's stylizer and the face crops' (the same one without --face_weights)."""
    from anime_tf.inference import Stylizer

    keras = Stylizer(args.weights)
    return keras, (Stylizer(args.face_weights) if args.face_weights else keras)


def variants(args, landmarker, keras, faces):
    """[(name, PIL image -> PIL image, the same run without the face pass or None)]."""
    runs = [(FULL, keras.stylize, None),
            ("full resolution --faces",
             FacePainter(keras, landmarker, face_stylizer=faces, crop_size=args.crop_size).stylize, FULL),
            ("JPEG q50 of the photo", jpeg_copy, None),
            (f"photo at --max-side {args.max_side}", lambda image: shrink_to(image.convert("RGB"), args.max_side),
             None),
            (f"plain, --max-side {args.max_side}",
             lambda image: stylize_image(image, keras.stylize_array, args.max_side), None),
            (f"--max-side {args.max_side} --faces",
             FacePainter(keras, landmarker, face_stylizer=faces, crop_size=args.crop_size,
                         max_side=args.max_side).stylize, f"plain, --max-side {args.max_side}")]
    if args.edge_model:
        from anime_tf.edge import EdgeModel, EdgeStylizer

        edge = EdgeStylizer(EdgeModel(args.edge_model, threads=args.threads))
        crop = min(edge.model.fixed_size or (args.crop_size,))
        runs += [("edge model, fit", edge.stylize, None),
                 ("edge model, fit --faces", FacePainter(edge, landmarker, crop_size=crop).stylize,
                  "edge model, fit")]
    return runs


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", required=True, help="generator weights (e.g. hayao.weights.h5)")
    parser.add_argument("--images", required=True, help="folder of photos with faces")
    parser.add_argument("--face_model", help="face_landmarker.task (default: the cached copy)")
    parser.add_argument("--edge_model", help="also measure a .tflite model with the edge runner")
    parser.add_argument("--max-side", type=int, default=512)
    parser.add_argument("--face_weights", help="weights for the face crops (default: --weights)")
    parser.add_argument("--crop_size", type=int, help="face crops' edge (default: each face's own size)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, help="save every output here as PNG, to look at")
    args = parser.parse_args()

    photos = [path for path, _ in find_images([args.images])[0]]
    with FaceLandmarker(args.face_model) as landmarker:
        keras, faces = stylizers(args)
        runs = variants(args, landmarker, keras, faces)
        totals = {name: {"errors": [], "lost": 0, "strength": [], "seconds": [], "outside": []}
                  for name, _, _ in runs}
        print(f"{'image':<18} {'run':<28} {'faces':>5} {'median err':>10} {'lost':>4} {'strength':>8} "
              f"{'vs full':>7} {'vs plain':>8} {'outside dB':>10} {'s/img':>6}")
        skipped, look = [], []
        for path in photos:
            image = load_image(path)
            photo = np.asarray(split_alpha(image)[0])
            reference = landmarker.detect(photo)
            if not reference:  # nothing to measure; the face pass leaves such a photo exactly as it was
                skipped.append(path.name)
                if faces is not keras:
                    look.append(psnr(np.asarray(faces.stylize(image).convert("RGB")),
                                     np.asarray(keras.stylize(image).convert("RGB"))))
                continue
            strengths, outputs = {}, {}
            for name, run, baseline in runs:
                start = time.perf_counter()
                output = run(image).convert("RGB")
                seconds = time.perf_counter() - start
                if args.out:
                    args.out.mkdir(parents=True, exist_ok=True)
                    output.save(args.out / f"{path.stem} {name.replace('/', '')}.png")
                found = rescaled(landmarker.detect(np.asarray(output)), output.size, image.size)
                result = face_structure(reference, found)
                strength = stylization_strength(photo, output, rescaled(reference, image.size, output.size))
                strengths[name], outputs[name] = strength, output
                outside = (psnr_outside_faces(output, outputs[baseline], rescaled(reference, image.size, output.size))
                           if baseline else float("nan"))
                full = strength / strengths[FULL]
                ratio = strength / strengths[baseline] if baseline else float("nan")
                total = totals[name]
                total["errors"] += result["errors"]
                total["lost"] += result["lost"]
                total["strength"].append(strength)
                total["seconds"].append(seconds)
                total["outside"].append(outside)
                error = statistics.median(result["errors"]) if result["errors"] else float("nan")
                print(f"{path.stem:<18} {name:<28} {len(reference):>5} {error:10.4f} {result['lost']:>4} "
                      f"{strength:8.1f} {full:7.2f} {ratio:8.2f} {outside:10.1f} {seconds:6.2f}")
            if args.out:
                stylized = [outputs[name] for name, _, _ in runs if not name.startswith(FLOORS)]
                for number, face in enumerate(reference):
                    face_sheet(split_alpha(image)[0].convert("RGB"), stylized, face).save(
                        args.out / f"{path.stem} face {number} sheet.png")
    print(f"\nTotal over the {len(photos) - len(skipped)} photos with faces ({len(skipped)} without faces left "
          "out); median over all matched faces; outside dB: the worst photo")
    print(f"{'run':<28} {'faces':>5} {'median err':>10} {'lost':>4} {'strength':>8} {'vs full':>7} "
          f"{'vs plain':>8} {'outside dB':>10} {'s/img':>6}")
    mean_strength = {name: float(np.nanmean(total["strength"])) for name, total in totals.items()}
    for name, _, baseline in runs:
        total = totals[name]
        strength = mean_strength[name]
        full = strength / mean_strength[FULL]
        ratio = strength / mean_strength[baseline] if baseline else float("nan")
        error = statistics.median(total["errors"]) if total["errors"] else float("nan")
        print(f"{name:<28} {len(total['errors']):>5} {error:10.4f} {total['lost']:>4} {strength:8.1f} "
              f"{full:7.2f} {ratio:8.2f} {np.nanmin(total['outside'] + [np.inf]):10.1f} "
              f"{statistics.median(total['seconds']):6.2f}")
    if look:
        print(f"\nLook kept: --face_weights against --weights on the {len(look)} photos without faces, "
              f"PSNR mean {np.mean(look):.2f} dB, min {np.min(look):.2f} dB")


if __name__ == "__main__":
    main()
