"""Write numpy arrays as image files in the format their suffix names, embedding ICC profile and EXIF."""

from __future__ import annotations

import functools
import logging
import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import tifffile
from PIL import Image

from cyclegan_fx.errors import OutputError
from cyclegan_fx.io.atomic import atomic_output
from cyclegan_fx.io.image_format import SUFFIX_FORMATS, SUPPORTED_SUFFIXES, ImageMeta, as_hwc

log = logging.getLogger("cyclegan_fx")

_PNG_IHDR_END = 33  # 8-byte signature, then the IHDR chunk: length, type, 13 data bytes, CRC


def save_image(
    path: str | os.PathLike[str],
    pixels: np.ndarray,
    meta: ImageMeta | None = None,
    overwrite: bool = False,
) -> None:
    """Write ``pixels`` in the format its suffix names, embedding ICC and EXIF where the format allows."""
    path = Path(path)
    fmt = _output_format(path)
    image = _checked_pixels(path, pixels)
    icc, exif = (meta.icc_profile, meta.exif) if meta else (None, None)
    with atomic_output(path, overwrite) as tmp:
        if fmt == "TIFF" and image.dtype != np.uint8:
            _write_tifffile(tmp, image, icc)
        elif fmt == "PNG" and image.dtype == np.uint16:
            tmp.write_bytes(_png16(image, icc, exif))
        else:
            _write_pillow(tmp, _fit_channels(_to_8bit(image, fmt), fmt), fmt, icc, exif)


def _output_format(path: Path) -> str:
    fmt = SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise OutputError(f"Cannot write {path}: the file name must end in one of {supported}.")
    return fmt


def _checked_pixels(path: Path, pixels: np.ndarray) -> np.ndarray:
    """``pixels`` as H x W x C with C in 1..4 and dtype uint8, uint16 or float32."""
    if not isinstance(pixels, np.ndarray) or pixels.ndim not in (2, 3) or pixels.size == 0 or as_hwc(pixels).shape[2] > 4:
        shape = getattr(pixels, "shape", None)
        raise OutputError(f"Cannot write {path}: pixels must be an H x W x C array with C from 1 to 4, not {shape}.")
    if pixels.dtype.kind == "f":
        return as_hwc(pixels.astype(np.float32, copy=False))
    native = pixels.dtype.newbyteorder("=")
    if native not in (np.uint8, np.uint16):
        raise OutputError(f"Cannot write {path}: pixels of type {pixels.dtype} are not uint8, uint16 or float32.")
    return as_hwc(pixels.astype(native, copy=False))


def _to_8bit(image: np.ndarray, fmt: str) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    _warn_once(f"{fmt} stores 8 bits per channel; {image.dtype} results are rounded to 8 bits.")
    if image.dtype == np.uint16:
        return ((image.astype(np.uint32) + 128) // 257).astype(np.uint8)  # round(x / 257)
    return np.rint(np.clip(np.nan_to_num(image), 0.0, 1.0) * 255.0).astype(np.uint8)


def _fit_channels(image: np.ndarray, fmt: str) -> np.ndarray:
    """Adapt the channels to what the format stores: JPEG and BMP keep no alpha, WebP has no gray."""
    channels = image.shape[2]
    if fmt in ("JPEG", "BMP") and channels in (2, 4):
        _warn_once(f"{fmt} keeps no alpha channel; the alpha of the results is dropped.")
        return image[:, :, : channels - 1]
    if fmt == "WEBP" and channels <= 2:
        return _gray_to_rgb(image)
    return image


def _gray_to_rgb(image: np.ndarray) -> np.ndarray:
    return np.concatenate([np.repeat(image[:, :, :1], 3, axis=2), image[:, :, 1:]], axis=2)


@functools.cache
def _warn_once(message: str) -> None:
    log.warning(message)


def _write_pillow(tmp: Path, image: np.ndarray, fmt: str, icc: bytes | None, exif: bytes | None) -> None:
    options: dict[str, object] = {
        "JPEG": {"quality": 95, "subsampling": 0},
        "WEBP": {"quality": 95},
        "TIFF": {"compression": "tiff_adobe_deflate"},
    }.get(fmt, {})
    if fmt != "BMP":
        options |= {key: value for key, value in (("icc_profile", icc), ("exif", exif)) if value}
    picture = Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image)
    picture.save(tmp, format=fmt, **options)


def _write_tifffile(tmp: Path, image: np.ndarray, icc: bytes | None) -> None:
    channels = image.shape[2]
    tifffile.imwrite(
        tmp,
        image[:, :, 0] if channels == 1 else image,
        photometric="rgb" if channels >= 3 else "minisblack",
        extrasamples=["unassalpha"] if channels in (2, 4) else None,
        iccprofile=icc,
        compression="zlib",
        predictor=image.dtype == np.uint16,  # tifffile's float predictor needs imagecodecs
        metadata=None,
    )


def _png16(image: np.ndarray, icc: bytes | None, exif: bytes | None) -> bytes:
    """A 16-bit PNG from OpenCV, with iCCP and eXIf chunks added after IHDR (OpenCV writes neither)."""
    if image.shape[2] == 2:
        image = _gray_to_rgb(image)  # OpenCV cannot write gray+alpha; RGBA keeps every value
    if image.shape[2] >= 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR if image.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise OSError("OpenCV could not encode the PNG")
    data = encoded.tobytes()
    chunks = b""
    if icc:
        chunks += _png_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc))
    if exif:
        chunks += _png_chunk(b"eXIf", exif.removeprefix(b"Exif\x00\x00"))
    return data[:_PNG_IHDR_END] + chunks + data[_PNG_IHDR_END:]


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
