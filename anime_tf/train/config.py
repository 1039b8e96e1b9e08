"""Training configuration: one dataclass, and the official per-style presets."""
from __future__ import annotations

import dataclasses

# Loss weights of the official code (main.py comments, tools/ops.py for the D terms).
PRESETS = {
    "hayao": {"content_weight": 1.5, "style_weight": 2.5, "color_weight": 15.0, "tv_weight": 1.0,
              "d_weights": (1.2, 1.2, 1.2, 0.8)},
    "paprika": {"content_weight": 2.0, "style_weight": 0.6, "color_weight": 50.0, "tv_weight": 0.1,
                "d_weights": (1.0, 1.0, 1.0, 0.005)},
    "shinkai": {"content_weight": 1.2, "style_weight": 2.0, "color_weight": 10.0, "tv_weight": 1.0,
                "d_weights": (1.7, 1.7, 1.7, 1.0)},
}
# Distillation (`teacher` set) learns the teacher's output, not a style: its own loss
# weights replace the preset's, and a learning rate for training from scratch.
DISTILL_DEFAULTS = {"content_weight": 0.0, "style_weight": 0.0, "color_weight": 0.0, "tv_weight": 0.0,
                    "init_epochs": 0}
STUDENT_INITS = ("slice", "random")


@dataclasses.dataclass(kw_only=True)
class TrainConfig:
    """Everything a run needs; defaults are the official schedule (Hayao weights)."""

    photo_dir: str
    model_dir: str
    style_dir: str | None = None  # holds style/ and smooth/ (see `anime-tf prepare-style`); not to distil
    preset: str = "hayao"
    image_size: int = 256
    batch_size: int = 12  # global batch, split across replicas
    init_epochs: int = 10  # generator only, content loss
    epochs: int = 101  # in all, the init epochs included (as the official code counts)
    steps_per_epoch: int | None = None  # default: photos // batch size
    init_lr: float = 2e-4
    g_lr: float = 2e-5
    d_lr: float = 4e-5
    g_adv_weight: float = 300.0
    d_adv_weight: float = 300.0
    content_weight: float = 1.5
    style_weight: float = 2.5
    color_weight: float = 15.0
    tv_weight: float = 1.0
    d_weights: tuple = (1.2, 1.2, 1.2, 0.8)
    # Adversarial-phase steps that train the discriminator alone, the generator held (a
    # fine-tune starts with an untrained discriminator; BENCHMARKS.md has what it changed).
    d_warmup_steps: int = 0
    # Fine-tune: weight of `losses.pyramid_loss` between the generator's output and the
    # `init_from` model's own output on the same photo. It holds the starting model's line art
    # and colour against the other terms' pull, which a fresh discriminator does not
    # (BENCHMARKS.md, fine-tuning check); 1e4 keeps Hayao's detail over 100 steps.
    keep_weight: float = 0.0
    save_every_steps: int = 500
    sample_every_steps: int = 500
    log_every_steps: int = 10
    vgg_weights: str | None = "imagenet"  # a path, or None for random weights (tests)
    init_from: str | None = None  # generator weights to start from (fine-tuning)
    strategy: str = "default"  # default, mirrored, multiworker
    mixed_precision: bool = False
    clip_norm: float | None = None
    seed: int = 0
    # Faces (anime_tf.face): landmarks cached beside the photos, face-priority
    # sampling, and a content loss on crops around eyes, nose and mouth.
    faces: bool = False
    face_weight: float = 1.0
    face_share: float = 0.3  # of each batch drawn from photos with faces
    face_model: str | None = None  # face_landmarker.task; default: fetched into the cache
    face_cache: str | None = None  # default: .anime_tf_faces.json in photo_dir
    # The generator's size (anime_tf.models.generator): the official one, or a student's.
    width: float = 1.0
    blocks: int = 4
    # Distillation (anime_tf.train.distill): the student learns `teacher`'s outputs, which are
    # rendered once per view into `teacher_cache` (default: model_dir/teacher_cache).
    teacher: str | None = None
    teacher_cache: str | None = None
    # Views are image_size crops of photos scaled to a shorter side of 1-1.25 x teacher_size
    # (default: image_size), so small crops (fast steps) still see photos at the scale they
    # are used at; the teacher renders each view itself.
    teacher_size: int | None = None
    pixel_weight: float = 1.0  # L1 on pixels against the teacher; content_weight is VGG conv4_4
    pyramid_weight: float = 0.0  # losses.pyramid_loss against the teacher: its outlines, not just its colours
    distill_lr: float = 5e-4  # cosine decay to 5% over the run
    # How a student starts: "slice" (the teacher's most important channels and first blocks,
    # anime_tf.train.slicing) or "random".
    student_init: str = "slice"

    def __post_init__(self):
        if not 0.0 <= self.face_share <= 1.0:
            raise ValueError(f"face_share must be between 0 and 1, not {self.face_share}")
        from anime_tf.models.generator import check_architecture  # the one check, in one place

        check_architecture(self.width, self.blocks)
        if self.teacher_size is not None and self.teacher_size < self.image_size:
            raise ValueError(f"teacher_size ({self.teacher_size}) must be at least image_size ({self.image_size})")
        if self.student_init not in STUDENT_INITS:
            raise ValueError(f"student_init must be one of {', '.join(STUDENT_INITS)}, not {self.student_init!r}")
        if self.keep_weight and not self.init_from:
            raise ValueError("keep_weight holds the look of the --init_from model: give --init_from")
        if self.teacher is None and self.style_dir is None:
            raise ValueError("a style folder is needed (--style_dir), or a --teacher to distil")

    @property
    def vgg_weights_path(self):
        """What `VGGFeatures` takes: "imagenet", a path, or None for random weights."""
        return None if self.vgg_weights in (None, "none") else self.vgg_weights

    @classmethod
    def from_preset(cls, preset="hayao", **overrides):
        """The preset's weights, then every explicit override (None means: keep the preset's)."""
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        distill = DISTILL_DEFAULTS if overrides.get("teacher") else {}
        values = {**PRESETS[preset], **distill, **{k: v for k, v in overrides.items() if v is not None}}
        return cls(preset=preset, **values)
