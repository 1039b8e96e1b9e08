r"""Train an AnimeGANv2 style or distil a smaller student (`anime-tf train` is the same command).

    python train.py --photo_dir data/train_photo --style_dir data/Hayao --preset hayao \
        --model_dir runs/hayao

`python train.py --help` lists the flags (anime_tf/train/config.py holds them, anime_tf/train/cli.py
turns them into flags).
"""
import sys

from anime_tf.train.cli import main

if __name__ == "__main__":
    sys.exit(main())
