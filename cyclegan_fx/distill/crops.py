"""Training crops of the user's photos, cut from views that the teacher translates whole.

A view is one photo resized to a random scale around the teacher's work size, mirrored or not and colour-jittered;
the teacher translates the whole view, as ``apply`` would, so its norm statistics are those of the photo and not
of a crop (through the ResNet's InstanceNorm, vintage's output on a 256-pixel crop alone is only 28.4 dB PSNR from
the same crop of its output on the photo: a ceiling for a student that learned from crops). Crops are then cut from
a view and its output at the same pixels. View j and crop i are pure functions of the seed and their index, so a
resumed run needs no state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from cyclegan_fx.training.data import ImageFile, load_rgb

# RGB to YIQ: hue turns and saturation scales act on the I and Q chroma axes and leave luma alone.
_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_RGB = np.linalg.inv(_YIQ)


@dataclass(frozen=True)
class ViewSpec:
    """One photo at one scale: its size in pixels, a mirror flag and a colour matrix."""

    file: int
    size: tuple[int, int]  # width, height of the resized photo
    flip: bool
    colour: np.ndarray  # 3 x 3, applied to RGB in [0, 1]


@dataclass(frozen=True)
class CropSpec:
    """Where crop i comes from: a square of a view, in the view's pixels."""

    view: int
    left: int
    top: int


@dataclass(frozen=True)
class CropPlan:
    files: list[ImageFile]
    size: int  # side of a crop in pixels
    work_size: int | None  # the teacher's long side; None: full resolution
    min_scale: float
    max_scale: float
    colour_jitter: float
    seed: int
    crops_per_view: int

    def view(self, index: int) -> ViewSpec:
        rng = np.random.default_rng([self.seed, 0, index])
        file = int(rng.integers(len(self.files)))
        width, height = self.files[file].size
        base = 1.0 if self.work_size is None else min(1.0, self.work_size / max(width, height))
        scale = base * math.exp(rng.uniform(math.log(self.min_scale), math.log(self.max_scale)))
        scale = max(scale, self.size / min(width, height))  # every view holds a whole crop
        size = (max(self.size, round(width * scale)), max(self.size, round(height * scale)))
        return ViewSpec(file, size, bool(rng.random() < 0.5), self._colour(rng))

    def spec(self, index: int) -> CropSpec:
        view = index // self.crops_per_view
        width, height = self.view(view).size
        rng = np.random.default_rng([self.seed, 1, index])
        return CropSpec(view, int(rng.integers(width - self.size + 1)), int(rng.integers(height - self.size + 1)))

    def _colour(self, rng: np.random.Generator) -> np.ndarray:
        """A random hue turn, saturation scale and per-channel gain, shrunk towards identity by the jitter."""
        j = self.colour_jitter
        angle = rng.uniform(-math.pi, math.pi) * j
        saturation = math.exp(rng.uniform(-0.5, 0.5) * j)
        gains = np.exp(rng.uniform(-0.2, 0.2, 3) * j)
        c, s = math.cos(angle) * saturation, math.sin(angle) * saturation
        turn = np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
        return np.diag(gains) @ _RGB @ turn @ _YIQ

    def by_view(self, indices: list[int]) -> dict[int, list[tuple[int, CropSpec]]]:
        """The given crops grouped by the view they come from, views in order."""
        groups: dict[int, list[tuple[int, CropSpec]]] = {}
        for i in indices:
            spec = self.spec(i)
            groups.setdefault(spec.view, []).append((i, spec))
        return dict(sorted(groups.items()))

    def render_view(self, index: int) -> np.ndarray:
        """View ``index`` as uint8 H x W x 3."""
        spec = self.view(index)
        # Pillow filters with a support widened by the reduction, so a downscaled view is antialiased.
        photo = load_rgb(self.files[spec.file].path)
        pixels = np.asarray(photo.resize(spec.size, Image.Resampling.BICUBIC), np.float64) / 255
        if spec.flip:
            pixels = pixels[:, ::-1]
        coloured = np.clip(pixels @ spec.colour.T, 0.0, 1.0)
        return np.round(coloured * 255).astype(np.uint8)

    def cut(self, image: np.ndarray, spec: CropSpec) -> np.ndarray:
        """Crop ``spec`` of a view or of the teacher's output for it (H x W x C)."""
        return image[spec.top:spec.top + self.size, spec.left:spec.left + self.size]
