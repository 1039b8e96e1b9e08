"""Helpers for the training tests: a small style folder and photos from ../shared, small configs."""
import numpy as np
from PIL import Image

from anime_tf.train.config import TrainConfig
from anime_tf.train.prepare import prepare_style

SMALL = {"image_size": 64, "batch_size": 2, "steps_per_epoch": 4, "vgg_weights": "none"}


def make_train_data(root, images, reference_model):
    """Shared photos as photos; the reference model's Hayao outputs of other photos as style frames."""
    from anime_tf.edge import EdgeModel, EdgeStylizer

    photos, frames = root / "photos", root / "frames"
    photos.mkdir()
    frames.mkdir()
    all_photos = sorted((images / "photos").glob("*.jpg"))
    for path in all_photos[:5]:
        image = Image.open(path).convert("RGB")
        image.thumbnail((160, 160))
        image.save(photos / path.name)
    reference = EdgeStylizer(EdgeModel(reference_model, threads=2))
    for path in all_photos[5:10]:
        reference.stylize(Image.open(path)).save(frames / f"{path.stem}.png")
    written, failed = prepare_style(frames, root / "Hayao", size=128)
    assert (written, failed) == (5, 0)
    return photos, root / "Hayao"


def config_for(train_data, model_dir, **overrides):
    photos, style = train_data
    return TrainConfig.from_preset("hayao", photo_dir=str(photos), style_dir=str(style),
                                   model_dir=str(model_dir), **{**SMALL, **overrides})


def snapshot(model):
    return [v.numpy().copy() for v in model.variables]


def changed(before, model):
    return [not np.array_equal(a, v.numpy()) for a, v in zip(before, model.variables)]
