"""Work resolution: translate small, bring the result back to full size with the input's detail."""

from __future__ import annotations

import cv2
import numpy as np


def work_shape(height: int, width: int, long_side: int | None, min_side: int) -> tuple[int, int]:
    """(height, width) at which to translate: the long side capped at ``long_side``, never upscaled,
    and the short side kept at ``min_side`` or more where the input has it."""
    longest, shortest = max(height, width), min(height, width)
    if long_side is None or longest <= long_side:
        return height, width
    scale = max(long_side / longest, min(1.0, min_side / shortest))
    return round(height * scale), round(width * scale)


def downscale(rgb: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Area-average downscale (no aliasing)."""
    return cv2.resize(rgb, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)


def upscale(rgb: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return cv2.resize(rgb, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)


def restore_detail(translated_small: np.ndarray, original: np.ndarray, original_small: np.ndarray) -> np.ndarray:
    """Upscale the translation and add back the high frequencies the downscale removed.

    detail = original - upscale(downscale(original)) is exactly what the
    translation at work resolution could not see; adding it keeps edges and
    texture of the full-resolution input on top of the translated colours.
    """
    shape = original.shape[:2]
    out = upscale(translated_small, shape)
    out += original
    out -= upscale(original_small, shape)
    return out


def blend(original: np.ndarray, translated: np.ndarray, strength: float) -> np.ndarray:
    """``strength`` 1 gives the translation, 0 the input."""
    return original + np.float32(strength) * (translated - original)
