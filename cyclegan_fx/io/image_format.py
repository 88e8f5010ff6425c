"""The image formats cyclegan-fx reads and writes, and the metadata carried from an input to its output."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SUFFIX_FORMATS = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
    ".bmp": "BMP",
}
SUPPORTED_SUFFIXES: frozenset[str] = frozenset(SUFFIX_FORMATS)


@dataclass(frozen=True)
class ImageMeta:
    """Where an image came from and the metadata to carry into its outputs."""

    format: str
    icc_profile: bytes | None
    exif: bytes | None


def as_hwc(pixels: np.ndarray) -> np.ndarray:
    """A gray H x W array as H x W x 1; others unchanged."""
    return pixels[:, :, None] if pixels.ndim == 2 else pixels
