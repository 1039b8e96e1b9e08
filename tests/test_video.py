"""`anime-tf video`: frames, timestamps and sound kept, the stylize path's pixels, less flicker, bad input."""
from fractions import Fraction

import av
import numpy as np
import pytest
from PIL import Image

from anime_tf.cli import main
from anime_tf.metrics import psnr
from anime_tf.video import io
from anime_tf.video.smooth import FlowSmoother, SceneCuts, flicker, forward_backward_consistency
from clips import decoded, moving_frames, write_clip
from conftest import SHARED

VIDEOS = SHARED / "videos"
CLIPS = ["stage_faces.mp4", "street_bw.mp4", "webcam_face.mkv"]


def clip(name):
    path = VIDEOS / name
    if not path.exists():
        pytest.skip(f"needs {path} (the shared test data beside the project; absent in a user's clone)")
    return path


def input_frames(path, max_side):
    """The input's frames as the pipeline sees them (upright, scaled)."""
    container, stream = io.open_input(path)
    with container:
        info = io.probe(container, stream, max_side)
    return [item[1] for item in io.read(path, info) if item[0] == "video"]


def audio_of(path):
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        end = max(float((p.pts + p.duration) * p.time_base) for p in container.demux(stream) if p.pts is not None)
        return stream.codec_context.name, end


def through_yuv420(rgb):
    """What an H.264 yuv420p file can hold of an RGB frame (chroma at half resolution)."""
    return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p").to_ndarray(format="rgb24")


@pytest.mark.slow
@pytest.mark.parametrize("name", CLIPS)
def test_shared_clips_keep_every_frame_timestamp_and_the_sound(name, hayao_weights, tmp_path):
    source, out = clip(name), tmp_path / "anime.mp4"
    assert main(["video", str(source), "-o", str(out), "--weights", str(hayao_weights), "--max-side", "64",
                 "--no-smooth", "--crf", "0"]) == 0
    written, original = decoded(out), decoded(source)
    assert len(written) == len(original)
    assert [t for _, t in written] == [t for _, t in original]  # exactly, variable rate or not
    assert written[0][0].shape[:2] == ((36, 64) if name != "webcam_face.mkv" else (48, 64))
    audio = audio_of(source)
    if audio is None:
        assert audio_of(out) is None
    else:  # copied: same codec, same length
        codec, end = audio_of(out)
        assert codec == audio[0] and abs(end - audio[1]) < 0.05


def test_each_frame_is_what_stylize_makes_of_it(hayao_weights, tmp_path):
    from anime_tf.inference import Stylizer

    source, out = clip("webcam_face.mkv"), tmp_path / "anime.mp4"
    assert main(["video", str(source), "-o", str(out), "--weights", str(hayao_weights), "--max-side", "96",
                 "--no-smooth", "--crf", "0"]) == 0
    stylizer = Stylizer(str(hayao_weights))
    photos, written = input_frames(source, 96), decoded(out)
    for i in (0, 50, len(photos) - 1):
        expected = through_yuv420(stylizer.stylize_array(photos[i]))
        assert psnr(written[i][0], expected) > 45, i
    assert np.asarray([f for f, _ in written]).std() > 10  # not a grey film


@pytest.mark.slow
def test_smoothing_lowers_flicker_and_stays_close_to_each_frame(hayao_weights, tmp_path):
    source = clip("webcam_face.mkv")
    outputs = {}
    for smooth in ("--smooth", "--no-smooth"):
        out = tmp_path / f"{smooth}.mp4"
        assert main(["video", str(source), "-o", str(out), "--weights", str(hayao_weights), "--max-side", "96",
                     smooth, "--crf", "0"]) == 0
        outputs[smooth] = [f for f, _ in decoded(out)]
    photos = input_frames(source, 96)
    cuts = [SceneCuts()(p) for p in photos[:1]] + [False] * (len(photos) - 1)
    smoothed, plain = flicker(photos, outputs["--smooth"], cuts), flicker(photos, outputs["--no-smooth"], cuts)
    assert smoothed < 0.85 * plain, (smoothed, plain)
    closeness = [psnr(a, b) for a, b in zip(outputs["--smooth"], outputs["--no-smooth"])]
    assert np.median(closeness) > 27, np.median(closeness)


def test_where_the_photo_holds_still_the_previous_output_is_not_moved():
    """Flow on a still, grainy shot jitters; following it would shift the brush texture (shimmer)."""
    rng = np.random.default_rng(0)
    scene = np.asarray(Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).resize((128, 96)))
    photos = [np.clip(scene + rng.normal(0, 3, scene.shape), 0, 255).astype(np.uint8) for _ in range(2)]
    outputs = [rng.integers(0, 256, scene.shape, dtype=np.uint8) for _ in range(2)]

    def outside_the_two_outputs(smoother):
        smoother(photos[0], outputs[0], True)
        result = smoother(photos[1], outputs[1], False).astype(int)
        low, high = np.minimum(*outputs).astype(int) - 1, np.maximum(*outputs).astype(int) + 1
        return np.mean((result < low) | (result > high))

    assert outside_the_two_outputs(FlowSmoother()) == 0  # each pixel blends the same pixel of both
    assert outside_the_two_outputs(FlowSmoother(still_change=1e-6)) > 0.01  # the raw flow moves them


def test_the_forward_backward_check_trusts_a_round_trip_and_nothing_else():
    shift = np.zeros((40, 50, 2), np.float32)
    shift[..., 0] = 3.0
    agrees = forward_backward_consistency(shift, -shift)
    assert agrees[:, :40].min() == 1.0  # inside the frame, going 3 px right and back is exact
    assert agrees[:, -2:].max() == 0.0  # pointing out of the frame: nothing to come back from
    assert forward_backward_consistency(shift, shift).max() == 0.0  # "back" goes further: an occlusion


def test_where_the_flow_fails_its_round_trip_each_pixel_keeps_its_own_stylization():
    rng = np.random.default_rng(1)
    first = rng.integers(0, 128, (48, 64, 3), dtype=np.uint8)
    photos = [first, first + 128]  # every pixel changed: the flow is followed everywhere
    outputs = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(2)]
    shift = np.zeros((48, 64, 2), np.float32)
    shift[..., 0] = 2.0

    def second_frame(backward, check):
        smoother = FlowSmoother(reliable_error=1e9, consistency_check=check)  # the warping error trusts all
        calls = iter([shift, backward])
        smoother._flow = type("Flow", (), {"calc": lambda self, a, b, c: next(calls)})()
        smoother(photos[0], outputs[0], True)
        return smoother(photos[1], outputs[1], False)

    np.testing.assert_array_equal(second_frame(shift, 1.0), outputs[1])  # inconsistent: the frame's own
    assert np.abs(second_frame(shift, 0.0).astype(int) - outputs[1]).mean() > 20  # unchecked: blended in
    assert np.abs(second_frame(-shift, 1.0)[:, :56].astype(int) - outputs[1][:, :56]).mean() > 20  # consistent


def test_kept_change_lets_a_new_stroke_through_and_still_blends_small_changes():
    rng = np.random.default_rng(2)
    photo = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    before = np.full((48, 64, 3), 128, np.uint8)
    now = before.copy()
    now[:, :32] = 138  # a small change of tone: smoothed away
    now[20:24, 40:60] = 0  # a stroke this frame draws

    def smoothed(kept_change):
        smoother = FlowSmoother(kept_change=kept_change)
        smoother(photo, before, True)
        return smoother(photo, now, False).astype(int)  # a still photo: each pixel blends the same pixel

    plain, keeping = smoothed(0.0), smoothed(40.0)
    assert plain[22, 50, 0] > 100  # the running blend all but hides the new stroke
    assert keeping[22, 50, 0] < 10  # kept as this frame drew it
    assert abs(keeping[10, 10, 0] - 129) <= 2  # the small change is still blended


def test_detail_sigma_keeps_a_moving_pixels_fine_stroke_and_still_blends_its_tone():
    stylized = np.full((32, 32, 3), 138.0, np.float32)
    stylized[:, 16] = 0.0  # a one-pixel stroke this frame draws
    past = np.full((32, 32, 3), 128, np.uint8)  # the warped previous output: flat, 10 darker
    weight = np.full((32, 32), 0.9, np.float32)

    def blended(detail_sigma, moving):
        return FlowSmoother(detail_sigma=detail_sigma)._blend(stylized, past, weight, np.full((32, 32), moving))

    plain, moving, still = blended(0.0, 1.0), blended(2.0, 1.0), blended(2.0, 0.0)
    assert plain[8, 16, 0] > 100  # averaged with the past, the stroke all but goes
    assert moving[8, 16, 0] < 60  # moving: the stroke stays this frame's
    assert abs(int(moving[8, 4, 0]) - 129) <= 1  # and the tone away from it is still the past's
    assert np.array_equal(still, plain)  # still pixels blend detail and all, as before


def test_scene_cuts_are_found_where_the_shot_changes():
    a, b = moving_frames(3), [255 - f for f in moving_frames(3)]
    cuts = SceneCuts()
    assert [cuts(f) for f in a + b] == [True, False, False, True, False, False]


def test_variable_frame_rate_and_audio_that_mp4_cannot_hold(hayao_weights, tmp_path):
    source, out = tmp_path / "vfr.mkv", tmp_path / "anime.mp4"
    stamps = [Fraction(n, 1000) for n in (0, 33, 50, 120, 400, 433, 700, 1000)]
    write_clip(source, moving_frames(len(stamps)), stamps, Fraction(1, 1000), audio_codec="pcm_s16le")
    assert main(["video", str(source), "-o", str(out), "--weights", str(hayao_weights)]) == 0
    assert [t for _, t in decoded(out)] == stamps
    codec, end = audio_of(out)
    assert codec == "aac" and abs(end - 1.0) < 0.1  # re-encoded, a second long


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_bytes(b"not a video at all" * 100), "not a readable video"),
    (lambda p: p.write_bytes(b""), "not a readable video"),
    (lambda p: None, "no such file"),
])
def test_unreadable_inputs_exit_2_and_write_nothing(make, message, random_weights, tmp_path, capsys):
    source, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make(source)
    assert main(["video", str(source), "-o", str(out), "--weights", str(random_weights)]) == 2
    assert message in capsys.readouterr().err and not out.exists()
    assert not list(tmp_path.glob(".out*"))  # no temporary file left behind


def test_audio_only_and_huge_inputs_exit_2(random_weights, tmp_path, capsys):
    audio_only = tmp_path / "tone.mka"
    with av.open(str(audio_only), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    assert main(["video", str(audio_only), "-o", str(tmp_path / "a.mp4"), "--weights", str(random_weights)]) == 2
    assert "has no video stream" in capsys.readouterr().err
    huge = tmp_path / "huge.mp4"
    write_clip(huge, [np.zeros((2312, 4112, 3), np.uint8)] * 2, [0, Fraction(1, 30)], Fraction(1, 30))
    assert main(["video", str(huge), "-o", str(tmp_path / "h.mp4"), "--weights", str(random_weights)]) == 2
    assert "give --max-side" in capsys.readouterr().err and not (tmp_path / "h.mp4").exists()
    assert main(["video", str(huge), "-o", str(tmp_path / "h.mp4"), "--weights", str(random_weights),
                 "--max-side", "40"]) == 2
    assert "too small to stylize" in capsys.readouterr().err
    assert main(["video", str(huge), "-o", str(tmp_path / "h.mp4"), "--weights", str(random_weights),
                 "--max-side", "256"]) == 0
    assert decoded(tmp_path / "h.mp4")[0][0].shape[:2] == (144, 256)


def test_truncated_input_keeps_what_decodes_and_exits_1(random_weights, tmp_path, capsys):
    whole = tmp_path / "whole.mkv"  # Matroska: readable up to where it was cut
    write_clip(whole, moving_frames(60), [Fraction(n, 30) for n in range(60)], Fraction(1, 1000))
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    out = tmp_path / "out.mp4"
    code = main(["video", str(cut), "-o", str(out), "--weights", str(random_weights)])
    frames = len(decoded(out))
    assert 5 < frames < 60
    assert code in (0, 1)  # 1 when FFmpeg reports the damage, 0 when the file just ends early
    assert f"{frames} frames" in capsys.readouterr().out


def test_existing_output_is_kept_unless_overwrite(random_weights, tmp_path, capsys):
    source, out = tmp_path / "in.mkv", tmp_path / "out.mp4"
    write_clip(source, moving_frames(4), [Fraction(n, 30) for n in range(4)], Fraction(1, 1000))
    out.write_bytes(b"keep me")
    assert main(["video", str(source), "-o", str(out), "--weights", str(random_weights)]) == 2
    assert out.read_bytes() == b"keep me" and "--overwrite" in capsys.readouterr().err
    assert main(["video", str(source), "-o", str(out), "--weights", str(random_weights), "--overwrite"]) == 0
    assert len(decoded(out)) == 4
    assert main(["video", str(source), "-o", str(tmp_path / "out.avi"), "--weights", str(random_weights)]) == 2


class Killed(Exception):
    """Stands for the process being killed mid-run."""


class DiesAfter:
    """A frame model that dies after `frames` frames, as a killed run would."""

    def __init__(self, model, frames):
        self.model, self.left = model, frames

    def __call__(self, frames, cuts):
        self.left -= len(frames)
        if self.left < 0:
            raise Killed
        return self.model(frames, cuts)

    def __getattr__(self, name):
        return getattr(self.model, name)


@pytest.mark.slow
def test_a_killed_run_resumes_after_its_last_segment_with_the_same_frames(hayao_weights, tmp_path):
    from anime_tf.inference import Stylizer
    from anime_tf.video.frames import KerasFrames
    from anime_tf.video.parts import parts_folder
    from anime_tf.video.pipeline import stylize_video

    source = tmp_path / "in.mkv"
    frames = moving_frames(30)
    write_clip(source, frames, [Fraction(n, 30) for n in range(30)], Fraction(1, 1000), audio_codec="aac")
    stylizer = Stylizer(hayao_weights)
    run = dict(batch_size=4, crf=0, settings={"weights": "hayao"}, progress=False, segment_frames=8)
    whole = stylize_video(source, tmp_path / "whole.mp4", KerasFrames(stylizer), **run)
    assert whole.frames == 30 and whole.resumed == 0 and not parts_folder(tmp_path / "whole.mp4").exists()

    out = tmp_path / "out.mp4"
    with pytest.raises(Killed):
        stylize_video(source, out, DiesAfter(KerasFrames(stylizer), 22), **run)
    parts = parts_folder(out)
    assert not out.exists() and sorted(p.name for p in parts.glob("?????.mp4")) == ["00000.mp4", "00001.mp4"]
    (parts / "00002.tmp.mp4").write_bytes(b"half a segment")  # what a SIGKILL leaves
    with pytest.raises(io.VideoError, match="other settings .crf"):  # another job is not mixed in
        stylize_video(source, out, KerasFrames(stylizer), **{**run, "crf": 10})

    resumed = stylize_video(source, out, KerasFrames(stylizer), **run)
    assert resumed.frames == 30 and resumed.resumed == 16 and not parts.exists()
    assert [t for _, t in decoded(out)] == [t for _, t in decoded(tmp_path / "whole.mp4")]
    for (a, _), (b, _) in zip(decoded(out), decoded(tmp_path / "whole.mp4")):
        assert psnr(a, b) > 50  # the smoothing state was carried over: the frames an unbroken run makes
    assert audio_of(out) == audio_of(tmp_path / "whole.mp4")


def test_pixel_aspect_is_kept(random_weights, tmp_path):
    source, out = tmp_path / "anamorphic.mkv", tmp_path / "out.mp4"
    with av.open(str(source), "w") as container:
        video = container.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        video.codec_context.sample_aspect_ratio = Fraction(4, 3)
        for n, rgb in enumerate(moving_frames(3)):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts = n
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
    assert main(["video", str(source), "-o", str(out), "--weights", str(random_weights)]) == 0
    with av.open(str(out)) as container:
        assert container.streams.video[0].sample_aspect_ratio == Fraction(4, 3)


def synthetic_face(x=0.0):
    """478 landmarks of a face 100 px between the outer eye corners, shifted by x."""
    face = np.random.default_rng(1).uniform(0, 100, (478, 2)).astype(np.float32)
    face[33], face[263] = (0, 50), (100, 50)
    return face + np.float32([x, 0])


def test_landmark_smoothing_holds_a_still_face_follows_a_moving_one_and_restarts_at_cuts():
    from anime_tf.video.faces import LandmarkSmoother, jitter

    rng = np.random.default_rng(0)
    still = [synthetic_face() + rng.normal(0, 1.5, (478, 2)).astype(np.float32) for _ in range(30)]
    smoother = LandmarkSmoother()
    assert jitter([smoother([f])[0] for f in still]) < 0.6 * jitter(still)
    moving = [synthetic_face(10.0 * t) for t in range(30)]  # 10 px a frame: a tenth of the face
    smoother = LandmarkSmoother()
    followed = [smoother([f])[0] for f in moving]
    assert np.abs(followed[-1] - moving[-1]).mean() < 1.0
    elsewhere = synthetic_face(30.0)
    assert np.array_equal(smoother([elsewhere], cut=True)[0], elsewhere)


@pytest.mark.slow
def test_faces_on_video_repaint_the_faces_and_keep_the_rest(hayao_weights, face_model, tmp_path):
    source = tmp_path / "webcam.mkv"
    frames = decoded(clip("webcam_face.mkv"))[:2]
    write_clip(source, [f for f, _ in frames], [t for _, t in frames], Fraction(1, 1000))
    base = ["video", str(source), "--weights", str(hayao_weights), "--crf", "0",
            "--no-smooth"]
    assert main(base + ["-o", str(tmp_path / "plain.mp4")]) == 0
    assert main(base + ["-o", str(tmp_path / "faces.mp4"), "--faces", "--face-model", str(face_model)]) == 0
    plain, faces = decoded(tmp_path / "plain.mp4"), decoded(tmp_path / "faces.mp4")
    assert len(faces) == 2
    for (a, _), (b, _) in zip(plain, faces):
        change = np.abs(a.astype(float) - b).mean(axis=2)
        assert change.max() > 40  # the face was painted from its own aligned crop
        assert np.mean(change > 8) < 0.25  # and only the face: the rest is the frame's own stylization


def test_landmark_smoothing_halves_the_jitter_of_a_real_face(landmarker):
    from anime_tf.face.landmarks import inter_ocular
    from anime_tf.video.faces import LandmarkSmoother, jitter

    raw = [landmarker.detect(f)[0] for f, _ in decoded(clip("webcam_face.mkv"))[:40]]
    smoother = LandmarkSmoother()
    smoothed = [smoother([f])[0] for f in raw]
    assert jitter(smoothed) < 0.7 * jitter(raw)
    lag = np.mean([np.linalg.norm(a - b, axis=1).mean() / inter_ocular(a) for a, b in zip(raw, smoothed)])
    assert lag < 0.03  # within 3% of the eye distance of where MediaPipe puts the face


def test_a_video_with_faces_resumes_only_under_the_same_face_pass(random_weights, face_model, tmp_path,
                                                                  monkeypatch):
    """Segments painted by an earlier face pass (another crop or tone rule) are never joined to this one's."""
    from anime_tf import config
    from anime_tf.inference import Stylizer
    from anime_tf.video.cli import with_faces
    from anime_tf.video.parts import Parts, job_of

    stylizer, source, out = Stylizer(random_weights), tmp_path / "in.mkv", tmp_path / "out.mp4"
    source.write_bytes(b"a clip")

    def job():
        frames, settings = with_faces(None, stylizer, None, {"weights": "w"}, face_model=face_model)
        frames.close()  # only its settings are needed: MediaPipe's graph goes
        return job_of(source, settings)

    Parts.open(out, job())
    assert Parts.open(out, job()).job == job()  # the same face pass resumes
    monkeypatch.setattr(config, "FACE_TONE_BLUR", config.FACE_TONE_BLUR / 2)
    with pytest.raises(io.VideoError, match=r"other settings \(face_pass\)"):
        Parts.open(out, job())
