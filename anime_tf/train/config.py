"""Training configuration: one dataclass, and the official per-style presets."""
from __future__ import annotations

import dataclasses

from anime_tf.errors import ConfigError

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


def option(default=dataclasses.MISSING, help="", *, choices=None, preset=False, flag=True):
    """A config field with what its train.py flag says: `help`, `choices`, and whether the preset sets it.

    `flag=False` keeps a field out of the command line (set it in Python).
    """
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices, "preset": preset,
                                                        "flag": flag})


@dataclasses.dataclass(kw_only=True)
class TrainConfig:
    """Everything a run needs; defaults are the official schedule (Hayao weights).

    Each field is a flag of train.py (`anime_tf.train.cli`), its help written here once.
    """

    # --- data and run folder ---
    photo_dir: str = option(help="Folder of photos (the content domain).")
    model_dir: str = option(help="Run folder: checkpoints, logs, generator.weights.h5.")
    style_dir: str | None = option(None, "Style folder with style/ and smooth/ (anime-tf prepare-style); "
                                   "needed unless --teacher.")
    preset: str = option("hayao", "Official loss weights and schedule.", choices=tuple(PRESETS))
    init_from: str | None = option(None, "Generator weights to start from (fine-tuning): any source anime-tf "
                                   "loads (.weights.h5, .tflite, checkpoint folder, style name); a "
                                   "distilled student from a wider one starts as its slice.")
    init_discriminator_from: str | None = option(None, "Discriminator weights to start from (a run's "
                                                 "discriminator.weights.h5): with --init_from, continues "
                                                 "an adversarial phase another run began.")
    # --- schedule ---
    image_size: int = option(256, "Training crop size.")
    # Small crops (fast steps on a CPU) cut from images scaled as a 256 run would scale them see
    # the same strokes and shading, and so learn what a 256 run learns, per pixel.
    view_size: int | None = option(None, "Crops of --image_size are cut from photos and frames scaled to a "
                                   "shorter side of 1-1.25x this (default: --image_size), so small crops "
                                   "see lines and shading at a larger run's scale.")
    batch_size: int = option(12, "Global batch size, split across replicas.")
    init_epochs: int = option(10, "Epochs of the init phase (generator only, content loss).")
    epochs: int = option(101, "Epochs in all, the init epochs included (as the official code counts).")
    steps_per_epoch: int | None = option(None, "Steps per epoch (default: photos // batch size).")
    init_lr: float = option(2e-4, "Init-phase learning rate.")
    g_lr: float = option(2e-5, "Generator learning rate.")
    d_lr: float = option(4e-5, "Discriminator learning rate.")
    # Adversarial-phase steps that train the discriminator alone, the generator held (a
    # fine-tune starts with an untrained discriminator; docs/notes has what it changed).
    d_warmup_steps: int = option(0, "Steps at the start of the adversarial phase that train the "
                                 "discriminator alone, the generator held; for fine-tunes, whose "
                                 "discriminator starts untrained.")
    # --- loss weights ---
    g_adv_weight: float = option(300.0, "Generator adversarial weight.")
    d_adv_weight: float = option(300.0, "Discriminator adversarial weight.")
    content_weight: float = option(1.5, "Content loss weight (VGG19 conv4_4).", preset=True)
    style_weight: float = option(2.5, "Style loss weight (Gram matrices).", preset=True)
    color_weight: float = option(15.0, "Colour loss weight (YUV).", preset=True)
    tv_weight: float = option(1.0, "Total variation weight.", preset=True)
    d_weights: tuple = option((1.2, 1.2, 1.2, 0.8), "Discriminator terms: real, fake, gray, smoothed.",
                              preset=True, flag=False)
    # Fine-tune: weight of `losses.pyramid_loss` between the generator's output and the
    # `init_from` model's own output on the same photo. It holds the starting model's line art
    # and colour against the other terms' pull, which a fresh discriminator does not; 1e4 keeps
    # Hayao's detail over 100 steps (docs/notes/fine-tuning.md).
    keep_weight: float = option(0.0, "Fine-tune: how strongly each output is held to the --init_from model's "
                                "own output on the same photo, line art as much as colour (0: off; 1e4 "
                                "keeps the start's detail).")
    # --- checkpoints and logs ---
    save_every_steps: int = option(500, "Checkpoint and export the generator every N steps.")
    sample_every_steps: int = option(500, "TensorBoard sample grid every N steps.")
    log_every_steps: int = option(10, "TensorBoard scalars every N steps.")
    vgg_weights: str | None = option("imagenet", "VGG19 weights: imagenet (downloaded by Keras and cached), "
                                     "a path to vgg19 notop weights, or none (random; tests and offline "
                                     "smoke runs).")
    # --- devices ---
    strategy: str = option("default", "tf.distribute strategy: one device, all local GPUs, or workers from "
                           "TF_CONFIG.", choices=("default", "mirrored", "multiworker"))
    mixed_precision: bool = option(False, "mixed_bfloat16 compute (Ampere or newer GPUs, TPUs; layer norms "
                                   "stay float32; no loss scaling needed).")
    clip_norm: float | None = option(None, "Clip gradients to this global norm.")
    seed: int = option(0, "Seed for weight initialisation, data order and augmentation.")
    # --- faces (anime_tf.face): landmarks cached beside the photos, face-priority sampling,
    # and a content loss on crops around eyes, nose and mouth ---
    faces: bool = option(False, "Keep faces: find the photos' face landmarks once (cached beside them), draw "
                         "--face_share of each batch from photos with faces, and add a content loss on "
                         "eyes, nose and mouth (needs MediaPipe).")
    face_weight: float = option(1.0, "Weight of the local face loss with --faces.")
    face_share: float = option(0.3, "Share of each batch drawn from photos with faces, with --faces.")
    face_model: str | None = option(None, "MediaPipe face_landmarker.task (default: fetched on first use "
                                    "into the cache and checked).")
    face_cache: str | None = option(None, "Landmark cache file (default: .anime_tf_faces.json in --photo_dir).")
    # --- the generator's size (anime_tf.models.generator): the official one, or a student's ---
    width: float = option(1.0, "Scale every channel count by this (1.0: the official generator; 0.5 has "
                          "about a quarter of its FLOPs).")
    blocks: int = option(4, "Inverted residual blocks (4: the official generator).")
    # --- distillation (anime_tf.train.distill): the student learns `teacher`'s outputs, rendered
    # once per view into `teacher_cache` ---
    teacher: str | None = option(None, "Distil: train the generator (--width, --blocks) to reproduce these "
                                 "weights' output on the photos, instead of training a style (no --style_dir).")
    teacher_cache: str | None = option(None, "Where the teacher's outputs are kept (default: "
                                       "MODEL_DIR/teacher_cache); they are rendered once per view.")
    # Views are image_size crops of photos scaled to a shorter side of 1-1.25 x teacher_size, so
    # small crops (fast steps) still see photos at the scale they are used at.
    teacher_size: int | None = option(None, "Distil: views of --image_size are cropped from photos scaled to "
                                      "a shorter side of 1-1.25x this (default: --image_size); the teacher "
                                      "renders each view.")
    pixel_weight: float = option(1.0, "Distil: weight of L1 against the teacher's pixels; --content_weight is "
                                 "VGG conv4_4 against the teacher's, --style_weight, --color_weight and "
                                 "--tv_weight the teacher's style terms (all 0 by default: pixels only).")
    pyramid_weight: float = option(0.0, "Distil: weight of each Laplacian band's relative error against the "
                                   "teacher, which holds its line art where pixel L1 lets it soften.")
    block_color_weight: float = option(0.0, "Distil: weight of L1 between 8 and 32 px block means against the "
                                       "teacher: the colour of walls, skies and skin, which the pixel and "
                                       "pyramid terms weigh little.")
    feature_weight: float = option(0.0, "Distil: weight of L1 between the teacher's activations at the end of "
                                   "each stage and the student's, mapped to the teacher's channels by 1x1 "
                                   "convolutions trained with it (anime_tf.train.features); runs the "
                                   "teacher on every step.")
    context_views: bool = option(False, "Distil: every other view is rendered, by teacher and student, with "
                                 "the layer-norm moments of the same place at twice the scale, so the "
                                 "student answers to a picture's statistics as the teacher does (the "
                                 "colours of large photos).")
    distill_lr: float = option(5e-4, "Distil: learning rate, decayed (cosine) to 5% over the run.")
    student_init: str = option("slice", "Distil: start the student as a slice of the teacher (its most "
                               "important channels and first blocks) or from random weights.",
                               choices=STUDENT_INITS)

    def __post_init__(self):
        if not 0.0 <= self.face_share <= 1.0:
            raise ConfigError(f"face_share must be between 0 and 1, not {self.face_share}")
        from anime_tf.models.generator import check_architecture  # the one check, in one place

        check_architecture(self.width, self.blocks)
        if self.teacher_size is not None and self.teacher_size < self.image_size:
            raise ConfigError(f"teacher_size ({self.teacher_size}) must be at least "
                              f"image_size ({self.image_size})")
        if self.view_size is not None and self.view_size < self.image_size:
            raise ConfigError(f"view_size ({self.view_size}) must be at least image_size ({self.image_size})")
        if self.student_init not in STUDENT_INITS:
            raise ConfigError(f"student_init must be one of {', '.join(STUDENT_INITS)}, not {self.student_init!r}")
        if self.keep_weight and not self.init_from:
            raise ConfigError("keep_weight holds the look of the --init_from model: give --init_from")
        if self.teacher is None and self.style_dir is None:
            raise ConfigError("a style folder is needed (--style_dir), or a --teacher to distil")

    @property
    def vgg_weights_path(self):
        """What `VGGFeatures` takes: "imagenet", a path, or None for random weights."""
        return None if self.vgg_weights in (None, "none") else self.vgg_weights

    @classmethod
    def from_preset(cls, preset="hayao", **overrides):
        """The preset's weights, then every explicit override (None means: keep the preset's)."""
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        distill = DISTILL_DEFAULTS if overrides.get("teacher") else {}
        values = {**PRESETS[preset], **distill, **{k: v for k, v in overrides.items() if v is not None}}
        return cls(preset=preset, **values)
