"""Convert user pixel arrays (any bit depth, gray or colour, with or without alpha) to and from float RGB."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cyclegan_fx.errors import ConfigError

_RANGE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601, as Pillow's "L"


@dataclass(frozen=True)
class Layout:
    """What an input array looked like, so the output can look the same."""

    dtype: np.dtype
    ndim: int
    channels: int  # 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA

    @property
    def gray(self) -> bool:
        return self.channels <= 2

    @property
    def has_alpha(self) -> bool:
        return self.channels in (2, 4)


def split(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, Layout]:
    """RGB in the input's own dtype (gray repeated; no float copy of a large image yet),
    the untouched alpha, and the layout."""
    layout = _layout(pixels)
    image = pixels if pixels.ndim == 3 else pixels[:, :, None]
    colour_channels = 1 if layout.gray else 3
    colour = image[:, :, :colour_channels]
    alpha = image[:, :, colour_channels] if layout.has_alpha else None
    if layout.gray:
        colour = np.repeat(colour, 3, axis=2)
    return np.ascontiguousarray(colour), alpha, layout


def value_range(dtype: np.dtype) -> float:
    """The value that means full intensity: 255, 65535, or 1 for floats."""
    return _RANGE.get(np.dtype(dtype), 1.0)


def join(rgb: np.ndarray, alpha: np.ndarray | None, layout: Layout) -> np.ndarray:
    """Back to the input's channels and dtype: gray by luma, alpha re-attached unchanged."""
    colour = rgb @ _LUMA if layout.gray else rgb
    colour = colour[:, :, None] if colour.ndim == 2 else colour
    out = _from_float(colour, layout.dtype)
    if alpha is not None:
        out = np.concatenate([out, alpha[:, :, None]], axis=2)
    if layout.ndim == 2:
        out = out[:, :, 0]
    return np.ascontiguousarray(out)


def _layout(pixels: np.ndarray) -> Layout:
    if not isinstance(pixels, np.ndarray) or pixels.ndim not in (2, 3):
        raise ConfigError("An image must be a 2-D or 3-D array (height, width[, channels]).")
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    if channels not in (1, 2, 3, 4):
        raise ConfigError(f"An image must have 1 to 4 channels, not {channels}.")
    if pixels.dtype not in _RANGE and pixels.dtype.kind != "f":
        raise ConfigError(f"Pixels of type {pixels.dtype} are not supported; use uint8, uint16 or float.")
    return Layout(pixels.dtype, pixels.ndim, channels)


def to_float(values: np.ndarray) -> np.ndarray:
    """Float32 in [0, 1] for integer pixels; float pixels are kept as they are."""
    return values.astype(np.float32) * np.float32(1.0 / value_range(values.dtype))


def _from_float(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    scale = _RANGE.get(dtype)
    if scale is None:
        return values.astype(dtype)
    return np.rint(np.clip(values, 0.0, 1.0) * scale).astype(dtype)
