"""Training crops of the user's photos: crop i is a pure function of the seed and i, so a resumed run needs no state."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image

from cyclegan_fx.training.data import ImageFile, load_rgb

# RGB to YIQ: hue turns and saturation scales act on the I and Q chroma axes and leave luma alone.
_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_RGB = np.linalg.inv(_YIQ)


@dataclass(frozen=True)
class CropSpec:
    """Where crop i comes from: a square box of one photo (upright pixels), a mirror flag and a colour matrix."""

    file: int
    box: tuple[float, float, float, float]  # left, top, right, bottom
    flip: bool
    colour: np.ndarray  # 3 x 3, applied to RGB in [0, 1]


@dataclass(frozen=True)
class CropPlan:
    files: list[ImageFile]
    size: int  # side of a crop in pixels
    work_size: int | None  # the teacher's long side; None: full resolution
    min_scale: float
    max_scale: float
    colour_jitter: float
    seed: int

    def spec(self, index: int) -> CropSpec:
        rng = np.random.default_rng([self.seed, index])
        file = int(rng.integers(len(self.files)))
        width, height = self.files[file].size
        base = 1.0 if self.work_size is None else min(1.0, self.work_size / max(width, height))
        scale = base * math.exp(rng.uniform(math.log(self.min_scale), math.log(self.max_scale)))
        side = min(self.size / scale, width, height)  # the box in photo pixels; never larger than the photo
        left, top = rng.uniform(0, width - side), rng.uniform(0, height - side)
        flip = bool(rng.random() < 0.5)
        return CropSpec(file, (left, top, left + side, top + side), flip, self._colour(rng))

    def _colour(self, rng: np.random.Generator) -> np.ndarray:
        """A random hue turn, saturation scale and per-channel gain, shrunk towards identity by the jitter."""
        j = self.colour_jitter
        angle = rng.uniform(-math.pi, math.pi) * j
        saturation = math.exp(rng.uniform(-0.5, 0.5) * j)
        gains = np.exp(rng.uniform(-0.2, 0.2, 3) * j)
        c, s = math.cos(angle) * saturation, math.sin(angle) * saturation
        turn = np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
        return np.diag(gains) @ _RGB @ turn @ _YIQ

    def render(self, indices: list[int]) -> Iterator[tuple[int, np.ndarray]]:
        """Crops as uint8 H x W x 3 arrays, decoding each photo once however many crops come from it."""
        specs = {i: self.spec(i) for i in indices}
        for file in sorted({s.file for s in specs.values()}):
            photo = load_rgb(self.files[file].path)
            for i, spec in specs.items():
                if spec.file == file:
                    yield i, self._cut(photo, spec)

    def _cut(self, photo: Image.Image, spec: CropSpec) -> np.ndarray:
        # Pillow filters with a support widened by the reduction, so a downscaled crop is antialiased.
        crop = np.asarray(photo.resize((self.size, self.size), Image.Resampling.BICUBIC, box=spec.box), np.float64) / 255
        if spec.flip:
            crop = crop[:, ::-1]
        coloured = np.clip(crop @ spec.colour.T, 0.0, 1.0)
        return np.round(coloured * 255).astype(np.uint8)
