"""The face pass (face2paint): faces painted from aligned full-resolution crops, through the Python API,
the CLI, the edge runner, named styles' face weights, the web app, and `anime-tf prepare-faces`."""
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from PIL import Image

from anime_tf import metrics as metric
from anime_tf.face import align
from test_faces import load_rgb


# --- face2paint ---------------------------------------------------------------------------------

def test_a_face_takes_the_whole_images_colours_and_keeps_its_own_detail(landmarker, shared_images):
    """Whole image: the photo tinted and blurred; face crops: the photo itself. The faces come out
    tinted (the colours beneath) and sharp (the crop's detail); a brightness match alone would not tint."""
    from anime_tf.face import FacePainter

    class Tinted(_Blur):
        def stylize_array(self, rgb):
            return np.clip(super().stylize_array(rgb) * np.array([1.25, 0.8, 0.8]), 0, 255).astype(np.uint8)

    photo = np.asarray(Image.open(shared_images / "faces" / "portrait_1.jpg").convert("RGB"))
    whole = Tinted(4)
    out = FacePainter(whole, landmarker, face_stylizer=_Blur(0)).stylize_array(photo).astype(float)
    tinted = whole.stylize_array(photo).astype(float)
    for face in landmarker.detect(photo):
        x0, y0, x1, y1 = metric.face_box(face, photo.shape[1], photo.shape[0])
        box = np.s_[y0:y1, x0:x1]
        red_over_green = out[box][..., 0].mean() / out[box][..., 1].mean()
        assert red_over_green == pytest.approx(tinted[box][..., 0].mean() / tinted[box][..., 1].mean(), rel=0.05)
        sharpness = lambda a: np.abs(cv2.Laplacian(a[box].mean(axis=2).astype(np.float32), cv2.CV_32F)).mean()
        assert sharpness(out) > 2 * sharpness(tinted)
        assert sharpness(out) > 0.7 * sharpness(photo.astype(float))


@pytest.fixture(scope="module")
def keras_stylizer(hayao_generator):
    from anime_tf.inference import Stylizer
    return Stylizer(hayao_generator)


def test_face_pass_changes_faces_only(keras_stylizer, landmarker, shared_images):
    from anime_tf.face import FacePainter
    from anime_tf.imageio import stylize_image

    image = Image.open(shared_images / "faces" / "group_classroom.jpg")
    painter = FacePainter(keras_stylizer, landmarker, crop_size=256, max_side=300)
    painted = np.asarray(painter.stylize(image)).astype(int)
    plain = np.asarray(stylize_image(image, keras_stylizer.stylize_array, 300)).astype(int)
    assert painted.shape == plain.shape == (300, 300, 3)
    rgb = np.asarray(image.convert("RGB"))
    scale = 300 / rgb.shape[1]
    yy, xx = np.mgrid[:300, :300]
    near = np.zeros((300, 300), bool)
    for face in landmarker.detect(rgb):
        matrix = align.alignment_matrix(face, 256)
        reach = 256 / np.sqrt(np.linalg.det(matrix[:, :2])) * scale * 0.75  # half the crop's diagonal
        centre = align.invert(matrix) @ [128, 128, 1] * scale
        near |= np.hypot(xx - centre[0], yy - centre[1]) < reach + 2
        x0, y0, x1, y1 = (np.array(metric.face_box(face, rgb.shape[1], rgb.shape[0])) * scale).astype(int)
        assert np.abs(painted[y0:y1, x0:x1] - plain[y0:y1, x0:x1]).mean() > 3  # the face was re-painted
    assert near.mean() < 0.9
    assert (painted[~near] == plain[~near]).all()


def test_face_pass_without_faces_equals_plain(keras_stylizer, landmarker, shared_images):
    from anime_tf.face import FacePainter
    from anime_tf.imageio import stylize_image

    image = Image.open(shared_images / "photos" / "scene_10.jpg")
    painted = FacePainter(keras_stylizer, landmarker, max_side=200).stylize(image)
    plain = stylize_image(image, keras_stylizer.stylize_array, 200)
    assert np.array_equal(np.asarray(painted), np.asarray(plain))


def test_stylize_faces_cli_reports_bad_files_and_writes_the_rest(hayao_weights, face_model, shared_images,
                                                                 tmp_path, capsys):
    from anime_tf.cli import main

    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("faces/portrait_1.jpg", "photos/scene_10.jpg"):
        Image.open(shared_images / name).save(inputs / os.path.basename(name))
    (inputs / "broken.jpg").write_bytes((shared_images / "faces" / "portrait_0.jpg").read_bytes()[:3000])
    code = main(["stylize", str(inputs), "--weights", str(hayao_weights), "--faces", "--face_model",
                 str(face_model), "--face-crop-size", "256", "--max-side", "256", "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["portrait_1.png", "scene_10.png"]
    assert "broken.jpg: cannot decode" in err and "wrote 2 of 3 images" in err
    assert max(Image.open(tmp_path / "out" / "portrait_1.png").size) == 256


def test_stylize_faces_without_a_face_model_exits_2(hayao_weights, shared_images, tmp_path, capsys):
    from anime_tf.cli import main

    code = main(["stylize", str(shared_images / "faces" / "portrait_1.jpg"), "--weights", str(hayao_weights),
                 "--faces", "-o", str(tmp_path / "out")])
    assert code == 2
    assert "put it at" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_edge_runner_faces_without_tensorflow(hayao_tflite, face_model, landmarker, shared_images, tmp_path):
    from tests.test_edge import NO_TENSORFLOW

    photo = shared_images / "faces" / "group_classroom.jpg"
    result = subprocess.run([sys.executable, "-c", NO_TENSORFLOW, "--model", str(hayao_tflite), str(photo),
                             "--faces", "--face_model", str(face_model), "-o", str(tmp_path), "--threads", "2"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    painted = np.asarray(Image.open(tmp_path / "group_classroom.png")).astype(int)
    from anime_tf.edge import EdgeModel, EdgeStylizer
    plain = np.asarray(EdgeStylizer(EdgeModel(hayao_tflite, threads=2)).stylize(Image.open(photo))).astype(int)
    assert painted.shape == plain.shape == (256, 256, 3)
    rgb = load_rgb(photo)
    for face in landmarker.detect(rgb):
        x0, y0, x1, y1 = metric.face_box(face * 256 / rgb.shape[1], 256, 256)
        assert np.abs(painted[y0:y1, x0:x1] - plain[y0:y1, x0:x1]).mean() > 5  # faces re-painted
    assert (painted[-40:] == plain[-40:]).all()  # the bottom of the photo has no faces


class _Blur:
    """A stand-in stylizer: a blurred copy (or, with radius 0, the input itself)."""

    def __init__(self, radius):
        self.radius = radius

    def stylize_array(self, rgb):
        from PIL import ImageFilter
        return np.asarray(Image.fromarray(rgb).filter(ImageFilter.GaussianBlur(self.radius)))


def test_face_crops_come_from_the_face_stylizer_at_full_resolution(landmarker, shared_images):
    from anime_tf.face import FacePainter
    from anime_tf.imageio import stylize_image

    photo = Image.open(shared_images / "faces" / "portrait_1.jpg").convert("RGB")
    painter = FacePainter(_Blur(3), landmarker, face_stylizer=_Blur(0), max_side=256)
    out = np.asarray(painter.stylize(photo)).astype(float)
    blurred = np.asarray(stylize_image(photo, _Blur(3).stylize_array, 256)).astype(float)
    assert out.shape == blurred.shape and max(out.shape[:2]) == 256
    small = np.asarray(photo.resize(out.shape[1::-1], Image.Resampling.LANCZOS)).astype(float)
    sharpness = lambda a, box: np.abs(cv2.Laplacian(a[box].mean(axis=2).astype(np.float32), cv2.CV_32F)).mean()
    for face in landmarker.detect(np.asarray(photo)):
        x0, y0, x1, y1 = metric.face_box(metric.rescaled([face], photo.size, (256, 256))[0], 256, 256)
        box = np.s_[y0:y1, x0:x1]
        # faces have the detail of full-resolution crops (the face stylizer's), the rest as the whole pass left it
        assert sharpness(out, box) > 0.7 * sharpness(small, box)
        assert sharpness(out, box) > 4 * sharpness(blurred, box)
    assert (out[-20:] == blurred[-20:]).all()


def test_stylize_faces_with_missing_face_weights_exits_2(hayao_weights, face_model, shared_images, tmp_path,
                                                         capsys):
    from anime_tf.cli import main

    code = main(["stylize", str(shared_images / "faces" / "portrait_1.jpg"), "--weights", str(hayao_weights),
                 "--faces", "--face_weights", str(tmp_path / "missing.weights.h5"), "--face_model",
                 str(face_model), "-o", str(tmp_path / "out")])
    assert code == 2
    assert "weights not found" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_edge_runner_faces_without_mediapipe_says_what_to_install(hayao_tflite, shared_images, tmp_path):
    """The edge-only install has neither MediaPipe nor OpenCV: --faces names the extra to install."""
    from tests.test_edge import NO_TENSORFLOW

    script = NO_TENSORFLOW.replace('("tensorflow", "keras")', '("tensorflow", "keras", "cv2", "mediapipe")')
    result = subprocess.run([sys.executable, "-c", script, "--model", str(hayao_tflite),
                             str(shared_images / "faces" / "portrait_1.jpg"), "--faces", "-o", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "pip install 'anime-tf[faces]'" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


class _Recording(_Blur):
    """The identity stylizer that notes the size of every crop it is given."""

    def __init__(self):
        super().__init__(0)
        self.sizes = []

    def stylize_array(self, rgb):
        self.sizes.append(rgb.shape[:2])
        return super().stylize_array(rgb)


def test_face_crops_have_the_faces_own_resolution_in_the_photo(landmarker, shared_images):
    """A large face is never stylized from fewer pixels than full resolution gives it, even in a small
    output; a small face from 512."""
    from anime_tf import config
    from anime_tf.face import FacePainter
    from anime_tf.face.align import alignment_matrix, source_side

    photo = Image.open(shared_images / "faces" / "portrait_1.jpg").convert("RGB")
    photo = np.asarray(photo.resize((photo.width * 3, photo.height * 3), Image.Resampling.NEAREST))  # a phone's size
    face = landmarker.detect(photo)[0]
    own = source_side(alignment_matrix(face, 1))
    assert own > config.FACE_CROP_SIZE * 1.2, "this face should be larger than a 512 crop"
    crops = _Recording()
    full = FacePainter(_Blur(0), landmarker, face_stylizer=crops).paint_faces(photo, photo.copy(), [face])
    assert crops.sizes == [(min(round(own), config.FACE_CROP_MAX),) * 2]
    fixed = FacePainter(_Blur(0), landmarker, face_stylizer=_Blur(0), crop_size=config.FACE_CROP_SIZE)
    at_512 = fixed.paint_faces(photo, photo.copy(), [face])
    x0, y0, x1, y1 = metric.face_box(face, photo.shape[1], photo.shape[0])
    # through its own-size crop the face comes back as it was; through 512 it loses its detail
    own_psnr, psnr_512 = (metric.psnr(out[y0:y1, x0:x1], photo[y0:y1, x0:x1]) for out in (full, at_512))
    assert own_psnr > psnr_512 + 3, (own_psnr, psnr_512)
    in_small_output = _Recording()
    small_out = np.asarray(Image.fromarray(photo).resize((256, 256)))
    FacePainter(_Blur(0), landmarker, face_stylizer=in_small_output).paint_faces(photo, small_out.copy(), [face])
    assert in_small_output.sizes == crops.sizes
    small_face = np.asarray(Image.fromarray(photo).resize((photo.shape[1] // 6, photo.shape[0] // 6)))
    small = _Recording()
    FacePainter(_Blur(0), landmarker, face_stylizer=small).stylize(Image.fromarray(small_face))
    assert small.sizes and all(size == (config.FACE_CROP_SIZE,) * 2 for size in small.sizes)


def test_a_style_with_face_weights_stylizes_its_crops_with_them_by_default(monkeypatch, random_weights,
                                                                           shared_images, face_model, landmarker,
                                                                           tmp_path):
    """`--faces` with a named style uses its face-tuned style for the crops; --face-weights overrides it."""
    import dataclasses

    from anime_tf import config
    from anime_tf.cli import main

    styles = {**config.STYLES, "faces-test": config.Style("faces-test", 1.0, packaged=str(random_weights)),
              "hayao-tiny": dataclasses.replace(config.STYLES["hayao-tiny"], face_style="faces-test")}
    monkeypatch.setattr(config, "STYLES", styles)
    assert config.face_style_for("hayao-tiny") == "faces-test"
    assert config.face_style_for("hayao-lite") is None and config.face_style_for(str(random_weights)) is None
    photo = tmp_path / "portrait_1.png"
    Image.fromarray(load_rgb(shared_images / "faces" / "portrait_1.jpg", 480)).save(photo)
    base = ["stylize", str(photo), "--style", "hayao-tiny", "--faces", "--face_model", str(face_model)]
    assert main(base + ["-o", str(tmp_path / "default")]) == 0
    assert main(base + ["--face-weights", "hayao-tiny", "-o", str(tmp_path / "own")]) == 0
    default, own = (np.asarray(Image.open(tmp_path / d / "portrait_1.png")).astype(int) for d in ("default", "own"))
    import cv2

    rgb = load_rgb(photo)
    footprint = np.zeros(rgb.shape[:2], np.uint8)
    for face in landmarker.detect(rgb):
        x0, y0, x1, y1 = metric.face_box(face, rgb.shape[1], rgb.shape[0])
        assert np.abs(default - own)[y0:y1, x0:x1].mean() > 5, "the face-tuned weights did not paint the face"
        corners = cv2.transform(np.array([[[0, 0], [1, 0], [1, 1], [0, 1]]], np.float64),
                                align.invert(align.alignment_matrix(face, 1)))
        cv2.fillConvexPoly(footprint, np.round(corners[0]).astype(np.int32), 1)
    footprint = cv2.dilate(footprint, np.ones((5, 5), np.uint8))  # the warp's interpolation at the edges
    assert 0 < footprint.mean() < 0.9
    np.testing.assert_array_equal(default[footprint == 0], own[footprint == 0])  # the rest is the style's own


def test_the_server_paints_a_styles_faces_with_its_face_weights(monkeypatch, random_weights, face_model,
                                                                 shared_images):
    """Served jobs take the same face weights as the command, and their cache keys change with them."""
    import dataclasses

    from anime_tf import config
    from anime_tf.serve.settings import Settings, StyleSpec
    from anime_tf.serve.work import Models, render
    from anime_tf.weights import weights_identity

    plain = StyleSpec("tiny", "hayao-tiny")
    before = plain.identity()
    styles = {**config.STYLES, "faces-test": config.Style("faces-test", 1.0, packaged=str(random_weights)),
              "hayao-tiny": dataclasses.replace(config.STYLES["hayao-tiny"], face_style="faces-test")}
    monkeypatch.setattr(config, "STYLES", styles)
    assert plain.face_weights == "faces-test"
    assert plain.identity() == f"{before}+{weights_identity(str(random_weights))}" != before
    models = Models(Settings(styles=(plain, StyleSpec("lite", "hayao-lite")), faces=True,
                             face_model=str(face_model)))
    assert models.face_stylizer("lite") is None
    face_generator = models.face_stylizer("tiny").generator
    assert face_generator.width == 1.0 and models.stylizer("tiny").generator.width == 0.4
    image = Image.fromarray(load_rgb(shared_images / "faces" / "portrait_1.jpg", 320))
    landmarker = models.new_landmarker()
    try:
        painted = np.asarray(models.render("tiny", image, {"faces": True}, landmarker)).astype(int)
        own = np.asarray(render(models.stylizer("tiny"), image, {"faces": True}, landmarker)).astype(int)
        plain = np.asarray(models.render("tiny", image, {}, landmarker)).astype(int)
    finally:
        landmarker.close()
    assert painted.shape == own.shape == plain.shape == (*np.asarray(image).shape[:2], 3)
    assert np.abs(painted - own).mean() > 1, "the face crops were not painted by the face weights"
    assert np.abs(own - plain).mean() > 0.1  # and both differ from no face pass at all


def test_prepare_faces_writes_each_faces_aligned_crop_and_jittered_copies(shared_images, face_model, landmarker,
                                                                           tmp_path, capsys):
    from anime_tf.cli import main
    from anime_tf.face.crops import found_again

    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.fromarray(load_rgb(shared_images / "faces" / "portrait_1.jpg", 480)).save(inputs / "portrait_1.png")
    Image.fromarray(load_rgb(shared_images / "photos" / "scene_10.jpg", 480)).save(inputs / "scene_10.png")
    (inputs / "broken.jpg").write_bytes((shared_images / "faces" / "portrait_0.jpg").read_bytes()[:3000])
    base = ["prepare-faces", str(inputs), "--out", str(tmp_path / "out"), "--augment", "2",
            "--face-model", str(face_model)]
    assert main(base) == 1  # the broken photo is reported, the others are prepared
    err = capsys.readouterr().err
    assert "broken.jpg" in err and "wrote 6 face crops" in err
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == [f"portrait_1.f{f}.{c}.png" for f in (0, 1) for c in (0, 1, 2)]  # scene_10 has no face
    for face in (0, 1):
        own, *copies = (np.asarray(Image.open(tmp_path / "out" / f"portrait_1.f{face}.{c}.png")) for c in (0, 1, 2))
        assert own.shape == (512, 512, 3)
        (found,) = [f for f in landmarker.detect(own) if np.abs(f.mean(axis=0) - 256).max() < 128]
        right, left = found[list(align.RIGHT_EYE_CORNERS)].mean(axis=0), found[list(align.LEFT_EYE_CORNERS)].mean(axis=0)
        assert abs(right[1] - left[1]) < 0.03 * 512, "the crop is upright: the eyes are level"
        assert 0.15 * 512 < left[0] - right[0] < 0.4 * 512, "the face is about half the crop's width"
        for copy in copies:
            assert np.abs(copy.astype(int) - own).mean() > 3 and found_again(landmarker, copy)
    assert not found_again(landmarker, load_rgb(shared_images / "photos" / "scene_10.jpg", 512)[:512, :512])
    assert main(base) == 1
    assert "wrote 0 face crops" in (err := capsys.readouterr().err) and "(6 already there)" in err, err
