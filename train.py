r"""Train an AnimeGANv2 style: init phase (content only), then the adversarial phase.

    anime-tf prepare-style path/to/anime_frames --out data/Hayao
    python train.py --photo_dir data/train_photo --style_dir data/Hayao --preset hayao \
        --model_dir runs/hayao
    python train.py ... --model_dir runs/hayao     # again: resumes where it stopped
    tensorboard --logdir runs/hayao

Distil a smaller, faster generator of the same family from a trained one
(photos only; the teacher's outputs are rendered once and cached):

    python train.py --photo_dir data/train_photo --teacher hayao --width 0.5 --blocks 2 \
        --model_dir runs/student --image_size 256 --batch_size 8 --epochs 40
    anime-tf stylize photo.jpg --weights runs/student    # width and blocks travel with the weights

Flags left unset take the preset's values (the official schedule and loss
weights). Exit codes: 0 done, 2 bad arguments or data, 3 a loss diverged (the
last good checkpoint is kept).
"""
import os
import sys

from absl import app, flags

from anime_tf.train.config import STUDENT_INITS

FLAGS = flags.FLAGS
flags.DEFINE_string("photo_dir", None, "Folder of photos (the content domain).")
flags.DEFINE_string("style_dir", None, "Style folder with style/ and smooth/ (anime-tf prepare-style); "
                    "needed unless --teacher.")
flags.DEFINE_string("model_dir", None, "Run folder: checkpoints, logs, generator.weights.h5.")
flags.DEFINE_enum("preset", "hayao", ["hayao", "paprika", "shinkai"], "Official loss weights and schedule.")
flags.DEFINE_string("init_from", None, "Generator weights to start from (fine-tuning): any source "
                    "anime-tf loads (.weights.h5, .tflite, checkpoint folder, style name).")
flags.DEFINE_integer("image_size", None, "Training crop size (preset: 256).")
flags.DEFINE_integer("batch_size", None, "Global batch size, split across replicas (preset: 12).")
flags.DEFINE_integer("init_epochs", None, "Epochs of the init phase (preset: 10).")
flags.DEFINE_integer("epochs", None, "Epochs in all, init epochs included (preset: 101).")
flags.DEFINE_integer("steps_per_epoch", None, "Steps per epoch (default: photos // batch size).")
flags.DEFINE_integer("save_every_steps", None, "Checkpoint and export the generator every N steps (500).")
flags.DEFINE_integer("sample_every_steps", None, "TensorBoard sample grid every N steps (500).")
flags.DEFINE_string("vgg_weights", None, "VGG19 weights: imagenet (downloaded by Keras and cached), a "
                    "path to vgg19 notop weights, or none (random; tests and offline smoke runs).")
flags.DEFINE_integer("d_warmup_steps", None, "Steps at the start of the adversarial phase that train "
                     "the discriminator alone, the generator held (0); for fine-tunes, whose "
                     "discriminator starts untrained.")
flags.DEFINE_float("keep_weight", None, "Fine-tune: how strongly each output is held to the --init_from "
                   "model's own output on the same photo, line art as much as colour (0: off; 1e4 keeps "
                   "the start's detail, see BENCHMARKS.md).")
flags.DEFINE_float("init_lr", None, "Init-phase learning rate (2e-4).")
flags.DEFINE_float("g_lr", None, "Generator learning rate (2e-5).")
flags.DEFINE_float("d_lr", None, "Discriminator learning rate (4e-5).")
flags.DEFINE_float("content_weight", None, "Content loss weight (preset).")
flags.DEFINE_float("style_weight", None, "Style loss weight (preset).")
flags.DEFINE_float("color_weight", None, "Colour loss weight (preset).")
flags.DEFINE_float("tv_weight", None, "Total variation weight (preset).")
flags.DEFINE_float("g_adv_weight", None, "Generator adversarial weight (300).")
flags.DEFINE_float("d_adv_weight", None, "Discriminator adversarial weight (300).")
flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multiworker"],
                  "tf.distribute strategy: one device, all local GPUs, or workers from TF_CONFIG.")
flags.DEFINE_bool("mixed_precision", False, "mixed_bfloat16 compute (Ampere or newer GPUs, TPUs; "
                  "layer norms stay float32; no loss scaling needed).")
flags.DEFINE_float("clip_norm", None, "Clip gradients to this global norm.")
flags.DEFINE_integer("seed", 0, "Seed for weight initialisation, data order and augmentation.")
flags.DEFINE_bool("faces", False, "Keep faces: find the photos' face landmarks once (cached beside "
                  "them), draw --face_share of each batch from photos with faces, and add a content "
                  "loss on eyes, nose and mouth (needs MediaPipe).")
flags.DEFINE_float("face_weight", None, "Weight of the local face loss with --faces (1.0).")
flags.DEFINE_float("face_share", None, "Share of each batch drawn from photos with faces, with --faces (0.3).")
flags.DEFINE_string("face_model", None, "MediaPipe face_landmarker.task (default: fetched on first use "
                    "into the cache and checked).")
flags.DEFINE_string("face_cache", None, "Landmark cache file (default: .anime_tf_faces.json in --photo_dir).")
flags.DEFINE_float("width", None, "Scale every channel count by this (1.0: the official generator; "
                   "0.5 has about a quarter of its FLOPs).")
flags.DEFINE_integer("blocks", None, "Inverted residual blocks (4: the official generator).")
flags.DEFINE_string("teacher", None, "Distil: train the generator (--width, --blocks) to reproduce these "
                    "weights' output on the photos, instead of training a style (no --style_dir).")
flags.DEFINE_string("teacher_cache", None, "Where the teacher's outputs are kept (default: "
                    "MODEL_DIR/teacher_cache); they are rendered once per view.")
flags.DEFINE_integer("teacher_size", None, "Distil: views of --image_size are cropped from photos scaled to "
                     "a shorter side of 1-1.25x this (default: --image_size); the teacher renders each view.")
flags.DEFINE_float("pixel_weight", None, "Distil: weight of L1 against the teacher's pixels (1.0); "
                   "--content_weight is VGG conv4_4 against the teacher's, --style_weight, "
                   "--color_weight and --tv_weight the teacher's style terms (all 0: pixels only).")
flags.DEFINE_float("pyramid_weight", None, "Distil: weight of each Laplacian band's relative error against "
                   "the teacher, which holds its line art where pixel L1 lets it soften (0).")
flags.DEFINE_float("distill_lr", None, "Distil: learning rate, decayed to 5% over the run (5e-4).")
flags.DEFINE_enum("student_init", None, list(STUDENT_INITS), "Distil: start the student as a slice of the "
                  "teacher (its most important channels and first blocks; the default) or from random weights.")
flags.mark_flags_as_required(["photo_dir", "model_dir"])

OVERRIDABLE = ["init_from", "image_size", "batch_size", "init_epochs", "epochs", "steps_per_epoch",
               "save_every_steps", "sample_every_steps", "d_warmup_steps", "keep_weight", "vgg_weights",
               "init_lr", "g_lr", "d_lr", "content_weight", "style_weight", "color_weight", "tv_weight",
               "g_adv_weight", "d_adv_weight", "clip_norm", "face_weight", "face_share", "face_model",
               "face_cache", "width", "blocks", "teacher", "teacher_cache", "teacher_size", "pixel_weight",
               "pyramid_weight", "distill_lr", "student_init"]


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    from anime_tf.data import DataError
    from anime_tf.face.landmarks import FaceModelError
    from anime_tf.train.config import TrainConfig
    from anime_tf.train.loop import Trainer, TrainingDiverged
    from anime_tf.weights import WeightsError

    try:
        config = TrainConfig.from_preset(
            FLAGS.preset, photo_dir=FLAGS.photo_dir, style_dir=FLAGS.style_dir, model_dir=FLAGS.model_dir,
            strategy=FLAGS.strategy, mixed_precision=FLAGS.mixed_precision, seed=FLAGS.seed,
            faces=FLAGS.faces, **{name: FLAGS[name].value for name in OVERRIDABLE})
    except ValueError as err:
        print(f"train.py: error: {err}", file=sys.stderr)
        return 2
    import keras

    keras.utils.set_random_seed(config.seed)  # the same initial weights on every worker and every run
    try:
        if config.teacher:
            from anime_tf.train.distill import Distiller

            step = Distiller(config).fit()
        else:
            step = Trainer(config).fit()
    except (DataError, WeightsError, FaceModelError, FileNotFoundError, ValueError) as err:
        print(f"train.py: error: {err}", file=sys.stderr)
        return 2
    except TrainingDiverged as err:
        print(f"train.py: {err}", file=sys.stderr)
        return 3
    print(f"done at step {step}; generator weights in {os.path.join(config.model_dir, 'generator.weights.h5')}")
    return 0


if __name__ == "__main__":
    from anime_tf import absl_app

    absl_app.run(main, sys.modules[__name__])
