"""How a stream's YUV code values map to RGB: the tags it carries and the exact matrices they imply.

Tags are kept as FFmpeg's enum values so they can be written back unchanged. Where a
stream leaves the matrix or range unspecified, the conversion follows what players do
(BT.709 for HD sizes, BT.601 below; limited range unless the pixel format is a JPEG one),
and the output is left unspecified too, so players read both files the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# AVColorSpace (libavutil/pixfmt.h)
MATRIX_BT709, MATRIX_UNSPECIFIED, MATRIX_FCC, MATRIX_BT470BG, MATRIX_SMPTE170M = 1, 2, 4, 5, 6
MATRIX_SMPTE240M, MATRIX_BT2020_NCL, MATRIX_BT2020_CL = 7, 9, 10
# AVColorRange
RANGE_UNSPECIFIED, RANGE_LIMITED, RANGE_FULL = 0, 1, 2
# AVColorPrimaries / AVColorTransferCharacteristic
PRIMARIES_UNSPECIFIED = TRANSFER_UNSPECIFIED = 2

# Kr and Kb of each matrix: Y = Kr R + (1 - Kr - Kb) G + Kb B.
_LUMA_WEIGHTS = {
    MATRIX_BT709: (0.2126, 0.0722),
    MATRIX_FCC: (0.30, 0.11),
    MATRIX_BT470BG: (0.299, 0.114),
    MATRIX_SMPTE170M: (0.299, 0.114),
    MATRIX_SMPTE240M: (0.212, 0.087),
    MATRIX_BT2020_NCL: (0.2627, 0.0593),
    MATRIX_BT2020_CL: (0.2627, 0.0593),
}
_NAMES = {MATRIX_BT709: "BT.709", MATRIX_FCC: "FCC", MATRIX_BT470BG: "BT.601", MATRIX_SMPTE170M: "BT.601",
          MATRIX_SMPTE240M: "SMPTE 240M", MATRIX_BT2020_NCL: "BT.2020", MATRIX_BT2020_CL: "BT.2020"}


@dataclass(frozen=True)
class ColourTags:
    """A stream's colour description, as FFmpeg enum values (2 or 0 where unspecified)."""

    matrix: int = MATRIX_UNSPECIFIED
    range: int = RANGE_UNSPECIFIED
    primaries: int = PRIMARIES_UNSPECIFIED
    transfer: int = TRANSFER_UNSPECIFIED


@dataclass(frozen=True)
class YuvMatrix:
    """The YUV <-> RGB conversion of one stream: luma weights and code-value range."""

    kr: float
    kb: float
    full_range: bool
    matrix: int  # the AVColorSpace it stands for

    def describe(self) -> str:
        return f"{_NAMES.get(self.matrix, 'BT.601')} {'full' if self.full_range else 'limited'} range"

    def to_rgb(self, bits: int) -> np.ndarray:
        """3 x 4 affine map from (Y, Cb, Cr) code values to RGB in [0, 1]."""
        return np.linalg.inv(np.vstack([self.from_rgb(bits), [0.0, 0.0, 0.0, 1.0]]))[:3].astype(np.float32)

    def from_rgb(self, bits: int) -> np.ndarray:
        """3 x 4 affine map from RGB in [0, 1] to (Y, Cb, Cr) code values at ``bits``."""
        kr, kb = self.kr, self.kb
        kg = 1.0 - kr - kb
        analog = np.array([
            [kr, kg, kb],
            [-kr / (2 * (1 - kb)), -kg / (2 * (1 - kb)), 0.5],
            [0.5, -kg / (2 * (1 - kr)), -kb / (2 * (1 - kr))],
        ])
        if self.full_range:
            top = float(2**bits - 1)
            scale, offset = [top, top, top], [0.0, 2.0 ** (bits - 1), 2.0 ** (bits - 1)]
        else:
            step = 2.0 ** (bits - 8)
            scale, offset = [219 * step, 224 * step, 224 * step], [16 * step, 128 * step, 128 * step]
        return np.hstack([analog * np.array(scale)[:, None], np.array(offset)[:, None]]).astype(np.float64)


def yuv_matrix(tags: ColourTags, width: int, height: int, pix_fmt: str) -> YuvMatrix:
    """The conversion a player applies to a stream with these tags, size and pixel format."""
    matrix = tags.matrix if tags.matrix in _LUMA_WEIGHTS else default_matrix(width, height)
    full = tags.range == RANGE_FULL or (tags.range == RANGE_UNSPECIFIED and pix_fmt.startswith("yuvj"))
    kr, kb = _LUMA_WEIGHTS[matrix]
    return YuvMatrix(kr, kb, full, matrix)


def default_matrix(width: int, height: int) -> int:
    """BT.709 for HD and larger, BT.601 below, as players assume for untagged video."""
    return MATRIX_BT709 if width >= 1280 or height >= 720 else MATRIX_SMPTE170M
