"""Optical flow between frames (OpenCV's DIS), its forward-backward check, and warping along it."""

from __future__ import annotations

import functools

import cv2
import numpy as np

from cyclegan_fx.runtime import pixels

MEDIUM = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM


def rgb8(image: np.ndarray) -> np.ndarray:
    """8-bit RGB from a frame of any dtype and layout (a copy, even where it is 8-bit RGB already)."""
    if image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3:
        return image.copy()  # the float round trip below gives the same values, at several times the cost
    return np.clip(as_float_rgb(image) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def luma8(image: np.ndarray) -> np.ndarray:
    """The 8-bit luma that DIS flow is measured on, from a frame of any dtype and layout."""
    return cv2.cvtColor(rgb8(image), cv2.COLOR_RGB2GRAY)


def as_float_rgb(image: np.ndarray) -> np.ndarray:
    """Float32 RGB in [0, 1], contiguous (alpha dropped, gray repeated)."""
    rgb, _, _ = pixels.split(image)
    return np.ascontiguousarray(pixels.to_float(rgb), dtype=np.float32)


def flow_and_mask(first: np.ndarray, second: np.ndarray, preset: int = MEDIUM) -> tuple[np.ndarray, np.ndarray]:
    """Flow from the 8-bit luma ``first`` to ``second`` (H x W x 2) and the mask (float32, 0 or 1) of the pixels
    where it is consistent both ways and points inside the frame."""
    dis = cv2.DISOpticalFlow_create(preset)
    forward = dis.calc(first, second, None)
    backward = dis.calc(second, first, None)
    back_at_target = warp(backward, forward)
    # Sundaram et al.: |f + b(p + f)|^2 < 0.01 (|f|^2 + |b(p + f)|^2) + 0.5
    mismatch = np.sum((forward + back_at_target) ** 2, axis=2)
    magnitude = np.sum(forward**2, axis=2) + np.sum(back_at_target**2, axis=2)
    consistent = mismatch < 0.01 * magnitude + 0.5
    height, width = first.shape
    target = _grid(height, width) + forward
    inside = np.all((target >= 0) & (target <= np.float32([width - 1, height - 1])), axis=2)
    return forward, (consistent & inside).astype(np.float32)


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``image`` sampled at p + flow(p): the frame that the flow points into, carried onto the one it starts from."""
    height, width = flow.shape[:2]
    return cv2.remap(image, _grid(height, width) + flow, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


@functools.lru_cache(maxsize=4)
def _grid(height: int, width: int) -> np.ndarray:
    """The (x, y) of every pixel, H x W x 2 float32 (read-only: shared by every caller)."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    grid = np.dstack([xs, ys])
    grid.flags.writeable = False
    return grid
