"""Training: `Trainer` (loop.py) runs a task, AnimeGAN (animegan.py) or distillation (distill.py).

    config.py   `TrainConfig`: every setting, each a flag of train.py (cli.py)
    steps.py    what every task's steps share: strategy, schedule, averaging, optimiser
    data        see `anime_tf.data`; teacher.py renders distillation targets,
                slicing.py starts a student as a slice of its teacher, prepare.py
                prepares anime frames
"""
