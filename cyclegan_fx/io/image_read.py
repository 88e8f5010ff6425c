"""Read image files as upright numpy arrays at their own bit depth, with their ICC profile and EXIF."""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import tifffile
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from cyclegan_fx.errors import CycleganFxError, ImageReadError, ImageTooLargeError
from cyclegan_fx.io.image_format import ImageMeta, as_hwc
from cyclegan_fx.io.library_warnings import library_warnings_logged

log = logging.getLogger("cyclegan_fx")

# Only these decoders may run: Pillow's others include risky ones (EPS starts Ghostscript).
_PILLOW_FORMATS = ("JPEG", "PNG", "TIFF", "WEBP", "BMP")
_NOT_AN_IMAGE = "not an image file (supported: JPEG, PNG, TIFF, WebP, BMP)"
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_PNG_GRAY_ALPHA = 4
_ORIENTATION_TAG = 0x0112
# The IFD0 tags of a TIFF that describe the picture rather than how its pixels are stored.
_TIFF_EXIF_TAGS = frozenset({270, 271, 272, 274, 282, 283, 296, 305, 306, 315, 33432, 0x8769, 0x8825})

_ORIENT: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}

_pillow_limit_lock = threading.Lock()


@dataclass(frozen=True)
class LoadedImage:
    """Upright pixels (H x W x C, uint8, uint16 or float32) and their metadata."""

    pixels: np.ndarray
    meta: ImageMeta


@dataclass(frozen=True)
class _Header:
    format: str
    size: tuple[int, int]  # width, height as stored
    orientation: int
    icc: bytes | None
    exif: bytes | None  # orientation already reset to 1
    decoder: Literal["pillow", "opencv", "tifffile"]

    @property
    def upright_size(self) -> tuple[int, int]:
        """Width and height once the EXIF orientation is applied."""
        width, height = self.size
        return (height, width) if self.orientation >= 5 else (width, height)


def image_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """Upright (width, height) of an image, read from its header only."""
    path = Path(path)
    with _reading(path):
        return _read_header(path).upright_size


def load_image(path: str | os.PathLike[str], max_pixels: int = 250_000_000) -> LoadedImage:
    """Decode an image upright, at its own bit depth, refusing more than ``max_pixels`` before decoding."""
    path = Path(path)
    with _reading(path):
        header = _read_header(path)
        _check_pixels(path, header, max_pixels)
        pixels, icc = _DECODERS[header.decoder](path, header)
    return LoadedImage(np.ascontiguousarray(as_hwc(pixels)), ImageMeta(header.format, icc, header.exif))

# --- reading: header -------------------------------------------------------------------------


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Turn whatever opening or decoding raises into one typed, one-sentence error."""
    try:
        yield
    except (CycleganFxError, MemoryError):
        raise
    except Image.DecompressionBombError as exc:  # Pillow's guard, should it ever run outside _open_pillow
        raise ImageTooLargeError(f"{path} has more pixels than Pillow will decode safely.") from exc
    except Exception as exc:  # decoders report bad data with many exception types
        raise ImageReadError(f"Cannot read {path}: {_read_failure(exc)}.") from exc


def _read_failure(exc: Exception) -> str:
    if isinstance(exc, UnidentifiedImageError):
        return _NOT_AN_IMAGE
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return "the image data is truncated" if "truncat" in str(exc).lower() else "the image data is corrupt"


def _read_header(path: Path) -> _Header:
    _check_file(path)
    try:
        with _open_pillow(path) as image:
            return _pillow_header(path, image)
    except UnidentifiedImageError:
        if not _is_tiff(path):
            raise
    return _tifffile_header(path)  # a TIFF layout Pillow does not know (float colour, 16-bit gray+alpha)


def _check_file(path: Path) -> None:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ImageReadError(f"Cannot read {path}: no such file.") from None
    if stat.S_ISDIR(info.st_mode):
        raise ImageReadError(f"Cannot read {path}: it is a folder, not an image file.")
    if info.st_size == 0:
        raise ImageReadError(f"Cannot read {path}: the file is empty.")


def _open_pillow(path: Path) -> Image.Image:
    """Open the header with Pillow's own pixel limit off: ours is checked right after, before decoding."""
    with _pillow_limit_lock:
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            with library_warnings_logged(path):
                return Image.open(path, formats=_PILLOW_FORMATS)
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _pillow_header(path: Path, image: Image.Image) -> _Header:
    with library_warnings_logged(path):  # Pillow warns of damaged tags it skips; the image still reads
        exif, orientation = _exif(image)
    icc = image.info.get("icc_profile") or None
    return _Header(image.format, _stored_size(image), orientation, icc, exif, _decoder_for(path, image))


def _stored_size(image: Image.Image) -> tuple[int, int]:
    """Width and height before orientation (Pillow 13 reports a TIFF's size already turned upright)."""
    if image.format == "TIFF":
        return image.tag_v2[256], image.tag_v2[257]
    return image.size


def _exif(image: Image.Image) -> tuple[bytes | None, int]:
    """The EXIF block with Orientation reset to 1, and the orientation the pixels need."""
    # The base method, because PngImageFile.getexif decodes all pixels to look for EXIF after them.
    exif = Image.Image.getexif(image)
    if image.format == "TIFF":
        for tag in set(exif) - _TIFF_EXIF_TAGS:
            del exif[tag]
    orientation = _orientation(exif.get(_ORIENTATION_TAG))
    if _ORIENTATION_TAG in exif:
        exif[_ORIENTATION_TAG] = 1
    return (exif.tobytes() if exif else None), orientation


def _orientation(value: object) -> int:
    """The EXIF orientation 1..8; a missing or malformed tag means upright."""
    return int(value) if isinstance(value, int) and value in _ORIENT else 1


def _decoder_for(path: Path, image: Image.Image) -> Literal["pillow", "opencv", "tifffile"]:
    """Pillow reduces 16-bit colour to 8 bits, so deep colour goes to OpenCV (PNG) or tifffile (TIFF)."""
    if image.format == "PNG":
        with path.open("rb") as f:
            head = f.read(26)
        return "opencv" if head[24] == 16 and head[25] in (2, 4, 6) else "pillow"
    if image.format == "TIFF":
        bits = np.atleast_1d(image.tag_v2.get(258, 8))
        return "tifffile" if image.tag_v2.get(277, 1) > 1 and bits.max() > 8 else "pillow"
    return "pillow"


def _is_tiff(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(4) in _TIFF_MAGIC


def _tifffile_header(path: Path) -> _Header:
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        orientation = _orientation(page.tags.valueof(_ORIENTATION_TAG))
        return _Header("TIFF", (page.imagewidth, page.imagelength), orientation, page.iccprofile, None, "tifffile")


def _check_pixels(path: Path, header: _Header, max_pixels: int) -> None:
    width, height = header.upright_size
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"{path} is {width}x{height} ({_mp(width * height)} MP), over the {_mp(max_pixels)} MP limit; "
            "raise it with --max-pixels."
        )


def _mp(pixels: int) -> str:
    return f"{pixels / 1e6:.3g}"


# --- reading: pixels -------------------------------------------------------------------------


def _pillow_pixels(path: Path, header: _Header) -> tuple[np.ndarray, bytes | None]:
    with _open_pillow(path) as image:
        image.load()
        with library_warnings_logged(path):
            ImageOps.exif_transpose(image, in_place=True)  # a no-op where Pillow's load turned it upright already
        if image.mode == "CMYK":
            return _cmyk_to_rgb(image, header.icc)
        mode = _target_mode(image)
        try:
            converted = image if mode == image.mode else image.convert(mode)
        except ValueError as exc:
            raise ImageReadError(f"Cannot read {path}: its colour mode {image.mode} is not supported.") from exc
        return _normalized(np.asarray(converted)), header.icc


def _target_mode(image: Image.Image) -> str:
    mode = image.mode
    if mode in ("RGB", "RGBA", "L", "LA", "I", "F") or mode.startswith("I;16"):
        return mode
    if mode in ("PA", "RGBa") or mode == "P" and image.has_transparency_data:
        return "RGBA"
    return {"1": "L", "La": "LA"}.get(mode, "RGB")


def _cmyk_to_rgb(image: Image.Image, icc: bytes | None) -> tuple[np.ndarray, bytes | None]:
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            rgb = ImageCms.profileToProfile(image, source, _srgb(), outputMode="RGB")
            return np.asarray(rgb), _srgb().tobytes()
        except ImageCms.PyCMSError as exc:
            log.warning("The ICC profile of a CMYK image is unusable (%s); converting without it.", exc)
    return np.asarray(image.convert("RGB")), None


@functools.cache
def _srgb() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _opencv_pixels(path: Path, header: _Header) -> tuple[np.ndarray, bytes | None]:
    data = np.fromfile(path, np.uint8)
    pixels = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise ImageReadError(f"Cannot read {path}: the image data is truncated or corrupt.")
    if data[25] == _PNG_GRAY_ALPHA:
        pixels = pixels[:, :, [0, 3]]  # OpenCV expands gray+alpha to BGRA
    else:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB if pixels.shape[2] == 3 else cv2.COLOR_BGRA2RGBA)
    return _ORIENT[header.orientation](pixels), header.icc


def _tifffile_pixels(path: Path, header: _Header) -> tuple[np.ndarray, bytes | None]:
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        if page.photometric not in (tifffile.PHOTOMETRIC.MINISBLACK, tifffile.PHOTOMETRIC.RGB):
            raise ImageReadError(f"Cannot read {path}: its colour layout ({page.photometric.name}) is not supported.")
        pixels = page.asarray()
        if page.axes.startswith("S"):
            pixels = np.moveaxis(pixels, 0, -1)  # planar storage: one plane per channel
    channels = as_hwc(pixels).shape[2]
    if channels > 4:
        raise ImageReadError(f"Cannot read {path}: it has {channels} channels; at most 4 are supported.")
    return _ORIENT[header.orientation](_normalized(pixels)), header.icc


_DECODERS = {"pillow": _pillow_pixels, "opencv": _opencv_pixels, "tifffile": _tifffile_pixels}


def _normalized(pixels: np.ndarray) -> np.ndarray:
    """uint8, native uint16 or float32: floats become float32, other integers are clipped to uint16."""
    if pixels.dtype.kind == "f":
        return pixels.astype(np.float32, copy=False)
    if pixels.dtype in (np.uint8, np.uint16):  # big-endian uint16 is not equal, so it is converted below
        return pixels
    return np.clip(pixels, 0, 65535).astype(np.uint16)
