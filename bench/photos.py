"""Photos that registry packages ship, split into distillation data and held-out photos.

    python bench/photos.py OUT   # OUT/train (scikit-image, OpenCV's samples), OUT/heldout (scikit-learn, matplotlib, scikit-image)

The held-out photos are never used for distillation; tests and benchmarks evaluate on them.
The training photos are scikit-image's colour photos and textures and 24 colour photos of OpenCV's samples, taken
from the opencv-python source archive on PyPI (95 MB, fetched once and checked against its SHA-256).
Needs ``pip install scikit-image scikit-learn`` (matplotlib is a dependency already).
"""

from __future__ import annotations

import hashlib
import io
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

# scikit-image's bundled photos and textures (the grey camera, moon and page photos left out); chelsea and coffee
# are left out because examples/images holds them.
TRAIN = ("astronaut", "rocket", "hubble_deep_field", "immunohistochemistry", "retina", "brick", "grass", "gravel",
         "coins")
OPENCV_ARCHIVE = ("https://files.pythonhosted.org/packages/4a/e7/b70a2d9ab205110d715906fc8ec83fbb00404aeb3a37a0654fdb68eb0c8c/"
                  "opencv-python-4.10.0.84.tar.gz")
OPENCV_SHA256 = "72d234e4582e9658ffea8e9cae5b63d488ad06994ef12d81dc303b17472f3526"
OPENCV_SAMPLES = ("HappyFish.jpg", "aero1.jpg", "aero3.jpg", "aloeL.jpg", "apple.jpg", "baboon.jpg", "board.jpg",
                  "building.jpg", "butterfly.jpg", "ela_original.jpg", "fruits.jpg", "graf1.png", "home.jpg", "left.jpg",
                  "leuvenA.jpg", "licenseplate_motion.jpg", "messi5.jpg", "orange.jpg", "pic1.png", "rubberwhale1.png",
                  "smarties.png", "squirrel_cls.jpg", "starry_night.jpg", "stuff.jpg")


def training_photos() -> dict[str, np.ndarray]:
    import skimage.data

    photos = {name: getattr(skimage.data, name)() for name in TRAIN}
    left, _, _ = skimage.data.stereo_motorcycle()
    return {**photos, "motorcycle_left": left, **opencv_samples()}


def opencv_samples() -> dict[str, np.ndarray]:
    """The colour photos in opencv-python's source archive (samples/data), by file name without extension."""
    with tempfile.TemporaryFile() as archive:
        with urllib.request.urlopen(OPENCV_ARCHIVE, timeout=300) as response:
            digest = hashlib.sha256()
            while chunk := response.read(2**20):
                digest.update(chunk)
                archive.write(chunk)
        if digest.hexdigest() != OPENCV_SHA256:
            raise SystemExit(f"{OPENCV_ARCHIVE} does not have the expected SHA-256; not using it.")
        archive.seek(0)
        with tarfile.open(fileobj=archive, mode="r:gz") as tar:
            members = {Path(m.name).name: m for m in tar if "/samples/data/" in m.name and Path(m.name).name in OPENCV_SAMPLES}
            return {Path(name).stem: np.asarray(Image.open(io.BytesIO(tar.extractfile(member).read())).convert("RGB"))
                    for name, member in sorted(members.items())}


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


def check_packages() -> None:
    """Stop with one sentence before anything is fetched or written if a package that ships photos is missing."""
    import importlib.util

    missing = [pip for module, pip in (("skimage", "scikit-image"), ("sklearn", "scikit-learn"))
               if importlib.util.find_spec(module) is None]
    if missing:
        raise SystemExit(f"The photos come from packages that are not installed; run: pip install {' '.join(missing)}")


def main(out: Path) -> None:
    check_packages()
    write(out / "train", training_photos())
    write(out / "heldout", heldout_photos())


if __name__ == "__main__":
    main(Path(sys.argv[1]))
