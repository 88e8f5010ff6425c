"""Scene cuts, found by comparing small thumbnails of consecutive frames."""

from __future__ import annotations

import cv2
import numpy as np

from cyclegan_fx.runtime import pixels

THUMBNAIL_SIDE = 48  # long side: small enough to ignore noise and fine motion, large enough to see a new scene


def thumbnail(image: np.ndarray) -> np.ndarray:
    """A small float32 RGB copy of a frame (any dtype, gray or colour, alpha ignored)."""
    rgb, _, _ = pixels.split(image)
    height, width = rgb.shape[:2]
    scale = THUMBNAIL_SIDE / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return pixels.to_float(small)


def difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two thumbnails, 0 (same) to 1 (black against white)."""
    return float(np.mean(np.abs(a - b)))


class CutDetector:
    """Says, frame by frame in order, whether a frame starts a new shot."""

    def __init__(self, threshold: float, previous: np.ndarray | None = None) -> None:
        self.threshold = threshold
        self.previous = previous  # the last frame's thumbnail: saved with a chunk, restored on resume

    def __call__(self, thumb: np.ndarray) -> bool:
        previous, self.previous = self.previous, thumb
        if previous is None or previous.shape != thumb.shape:
            return True
        return difference(previous, thumb) > self.threshold
