"""Video frames <-> float RGB, with the stream's own matrix and range.

Planar YUV (any chroma subsampling, 8 to 16 bits) is converted here with exact float
matrices, so decoding yields float32 RGB without rounding and encoding rounds once, to
the output's bit depth (FFmpeg's scaler is off by a code value or two at the range ends).
Other layouts are first repacked by FFmpeg into a planar one, without colour arithmetic.
"""

from __future__ import annotations

import av
import cv2
import numpy as np

from cyclegan_fx.video.colour import YuvMatrix

_DEPTH_SUFFIX = {8: "", 9: "9le", 10: "10le", 12: "12le", 14: "14le", 16: "16le"}


def is_planar_yuv(fmt: av.VideoFormat) -> bool:
    """Y, Cb and Cr each in a plane of their own, little-endian, at most 16 bits."""
    comps = fmt.components
    return (
        not fmt.is_rgb
        and fmt.is_planar
        and not fmt.is_big_endian
        and len(comps) >= 3
        and [c.plane for c in comps[:3]] == [0, 1, 2]
        and comps[0].is_luma
        and comps[0].bits <= 16
    )


def bit_depth(fmt: av.VideoFormat) -> int:
    return max((c.bits for c in fmt.components), default=8)


def subsampling(fmt: av.VideoFormat) -> tuple[int, int]:
    """Horizontal and vertical chroma subsampling factors (2, 2 for 4:2:0)."""
    probe = 1024
    return probe // fmt.chroma_width(probe), probe // fmt.chroma_height(probe)


def planar_yuv_name(sub: tuple[int, int], bits: int) -> str:
    """The planar YUV pixel format with this subsampling and depth, e.g. yuv420p10le."""
    chroma = {(1, 1): "444", (2, 1): "422", (2, 2): "420", (1, 2): "440", (4, 1): "411", (4, 4): "410"}[sub]
    return f"yuv{chroma}p{_DEPTH_SUFFIX[bits]}"


def to_rgb(frame: av.VideoFrame, matrix: YuvMatrix) -> np.ndarray:
    """H x W x 3 float32 RGB in [0, 1]."""
    fmt = frame.format
    if not is_planar_yuv(fmt):
        if fmt.is_rgb or len(fmt.components) < 3:
            return _rgb_via_ffmpeg(frame)
        frame = frame.reformat(format=planar_yuv_name(subsampling(fmt), _nearest_depth(bit_depth(fmt))))
        fmt = frame.format
    bits = bit_depth(fmt)
    y = _plane(frame, 0)
    height, width = y.shape
    channels = [y.astype(np.float32)]
    for index in (1, 2):
        chroma = _plane(frame, index).astype(np.float32)
        if chroma.shape != y.shape:
            sx, sy = subsampling(fmt)
            chroma = cv2.resize(chroma, (chroma.shape[1] * sx, chroma.shape[0] * sy), interpolation=cv2.INTER_LINEAR)
            chroma = chroma[:height, :width]
        channels.append(chroma)
    rgb = cv2.transform(cv2.merge(channels), matrix.to_rgb(bits))
    return np.clip(rgb, 0.0, 1.0, out=rgb)


def from_rgb(rgb: np.ndarray, pix_fmt: str, matrix: YuvMatrix) -> av.VideoFrame:
    """A frame of ``pix_fmt`` from H x W x 3 float RGB (values outside [0, 1] are clipped)."""
    rgb = np.clip(rgb, 0.0, 1.0, dtype=np.float32)
    height, width = rgb.shape[:2]
    frame = av.VideoFrame(width, height, pix_fmt)
    fmt = frame.format
    if not is_planar_yuv(fmt):
        rgb16 = np.rint(rgb * 65535.0).astype(np.uint16)
        return av.VideoFrame.from_ndarray(rgb16, format="rgb48le").reformat(format=pix_fmt)
    bits = bit_depth(fmt)
    top = float(2**bits - 1)
    yuv = cv2.transform(rgb, matrix.from_rgb(bits).astype(np.float32))
    sx, sy = subsampling(fmt)
    for index in range(3):
        values = yuv[:, :, index]
        if index and (sx, sy) != (1, 1):
            values = _downsample(values, sx, sy)
        _plane(frame, index)[...] = np.clip(np.rint(values), 0.0, top)
    frame.colorspace = matrix.matrix
    frame.color_range = 2 if matrix.full_range else 1
    return frame


def _plane(frame: av.VideoFrame, index: int) -> np.ndarray:
    """A writable view of one plane's pixels (without the row padding)."""
    plane = frame.planes[index]
    dtype = np.uint16 if bit_depth(frame.format) > 8 else np.uint8
    rows = np.frombuffer(plane, dtype).reshape(plane.height, -1)
    return rows[:, : plane.width]


def _downsample(values: np.ndarray, sx: int, sy: int) -> np.ndarray:
    """Average sx x sy blocks; odd edges are padded by repeating the last row or column."""
    height, width = values.shape
    pad_h, pad_w = -height % sy, -width % sx
    if pad_h or pad_w:
        values = cv2.copyMakeBorder(values, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE)
    return cv2.resize(values, (values.shape[1] // sx, values.shape[0] // sy), interpolation=cv2.INTER_AREA)


def _nearest_depth(bits: int) -> int:
    return min(d for d in _DEPTH_SUFFIX if d >= bits) if bits <= 16 else 16


def _rgb_via_ffmpeg(frame: av.VideoFrame) -> np.ndarray:
    """RGB and gray layouts carry no matrix: FFmpeg only repacks them."""
    deep = bit_depth(frame.format) > 8
    array = frame.to_ndarray(format="rgb48le" if deep else "rgb24")
    return array.astype(np.float32) * np.float32(1.0 / (65535.0 if deep else 255.0))
