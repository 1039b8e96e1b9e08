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
weights); `anime-tf train` takes the same flags. Exit codes: 0 done, 2 bad
arguments or data, 3 a loss diverged (the last good checkpoint is kept).
"""
from __future__ import annotations

import dataclasses
import os
import sys

from absl import flags

from anime_tf.errors import AnimeTFError
from anime_tf.train.config import DISTILL_DEFAULTS, PRESETS, TrainConfig

EXIT_OK, EXIT_USAGE, EXIT_DIVERGED = 0, 2, 3
DEFINE = {"str": flags.DEFINE_string, "int": flags.DEFINE_integer, "float": flags.DEFINE_float,
          "bool": flags.DEFINE_bool}


def config_fields():
    """The `TrainConfig` fields that are flags."""
    return [field for field in dataclasses.fields(TrainConfig) if field.metadata.get("flag", True)]


def define_flags(fv):
    """One flag per config field, on the FlagValues `fv`: its help and choices from the field's metadata.

    Every flag defaults to None, "keep the config's value" (the preset's, for
    the loss weights), and its help says what that value is.
    """
    for field in config_fields():
        help = field.metadata["help"] + _default_note(field)
        if field.metadata["choices"]:
            flags.DEFINE_enum(field.name, None, list(field.metadata["choices"]), help, flag_values=fv)
        else:
            DEFINE[field.type.split(" | ")[0]](field.name, None, help, flag_values=fv)
    required = [field.name for field in config_fields() if field.default is dataclasses.MISSING]
    flags.mark_flags_as_required(required, flag_values=fv)


def _default_note(field):
    if field.metadata["preset"]:
        presets = ", ".join(f"{name} {values[field.name]}" for name, values in PRESETS.items())
        distill = f"; distilling: {DISTILL_DEFAULTS[field.name]}" if field.name in DISTILL_DEFAULTS else ""
        return f" (default: the preset's: {presets}{distill})"
    if field.default is dataclasses.MISSING or field.default is None:
        return ""
    distill = f"; distilling: {DISTILL_DEFAULTS[field.name]}" if field.name in DISTILL_DEFAULTS else ""
    return f" (default: {field.default}{distill})"


def config_from(fv):
    """The `TrainConfig` the parsed flags ask for; raises ConfigError."""
    values = {field.name: fv[field.name].value for field in config_fields()}
    return TrainConfig.from_preset(values.pop("preset") or "hayao", **values)


def main(argv=None, prog="train.py"):
    """train.py and `anime-tf train`: flags to a run; the exit code (0 done, 2 bad input, 3 diverged)."""
    from anime_tf import absl_app

    fv, code = absl_app.parse(define_flags, argv, prog, __doc__, __name__)
    if fv is None:
        return code
    try:
        config = config_from(fv)
        return train(config)
    except AnimeTFError as err:
        from anime_tf.train.loop import TrainingDiverged

        print(f"{prog}: {err}" if isinstance(err, TrainingDiverged) else f"{prog}: error: {err}", file=sys.stderr)
        return EXIT_DIVERGED if isinstance(err, TrainingDiverged) else EXIT_USAGE


def train(config):
    """Run `config` to the end of its schedule (resuming if its run folder has checkpoints); exit code 0."""
    import keras

    from anime_tf.train.loop import Trainer

    keras.utils.set_random_seed(config.seed)  # the same initial weights on every worker and every run
    step = Trainer(config).fit()
    print(f"done at step {step}; generator weights in {os.path.join(config.model_dir, 'generator.weights.h5')}")
    return EXIT_OK
