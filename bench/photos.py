"""Photos that registry packages ship, split into distillation data and held-out photos.

    python bench/photos.py OUT   # OUT/train (scikit-image), OUT/heldout (scikit-learn, matplotlib, scikit-image)

The held-out photos are never used for distillation; tests and benchmarks evaluate on them.
Needs ``pip install scikit-image scikit-learn`` (matplotlib is a dependency already).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

# scikit-image's bundled photos and textures; chelsea and coffee are left out because examples/images holds them.
TRAIN = ("astronaut", "rocket", "hubble_deep_field", "immunohistochemistry",
         "retina", "camera", "brick", "grass", "gravel", "coins", "moon", "page")


def training_photos() -> dict[str, np.ndarray]:
    import skimage.data

    photos = {name: getattr(skimage.data, name)() for name in TRAIN}
    left, right, _ = skimage.data.stereo_motorcycle()
    return {**photos, "motorcycle_left": left, "motorcycle_right": right}


def heldout_photos() -> dict[str, np.ndarray]:
    import skimage.data
    from matplotlib import cbook
    from sklearn.datasets import load_sample_image

    with cbook.get_sample_data("grace_hopper.jpg") as f:
        hopper = np.asarray(Image.open(f).convert("RGB"))
    return {"china": load_sample_image("china.jpg"), "flower": load_sample_image("flower.jpg"),
            "grace_hopper": hopper, "chelsea": skimage.data.chelsea(), "coffee": skimage.data.coffee()}


def write(folder: Path, photos: dict[str, np.ndarray]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, pixels in photos.items():
        Image.fromarray(np.asarray(pixels, dtype=np.uint8)).convert("RGB").save(folder / f"{name}.png")


def main(out: Path) -> None:
    write(out / "train", training_photos())
    write(out / "heldout", heldout_photos())


if __name__ == "__main__":
    main(Path(sys.argv[1]))
