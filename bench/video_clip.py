"""The benchmark clips: a camera moving over a photo (pan, slight zoom and turn), sensor noise, then a cut;
and objects crossing over a panning photo (occlusions), then a cut.

Made with PyAV (H.264 CRF 12, BT.709 limited range) from the example photos, so the
benchmarks need nothing but the repository.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = (ROOT / "examples" / "images" / "coffee.jpg", ROOT / "examples" / "images" / "chelsea.jpg")


def camera_frames(width: int, height: int, count: int, cut: int, noise: float = 3.0, seed: int = 0) -> list[np.ndarray]:
    """``count`` RGB frames; frame ``cut`` starts the second shot."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(count):
        shot, t = (0, i) if i < cut else (1, i - cut)
        photo = cv2.cvtColor(cv2.imread(str(PHOTOS[shot])), cv2.COLOR_BGR2RGB)
        frames.append(_view(photo, width, height, t, direction=1 if shot == 0 else -1))
    noisy = [np.clip(f + rng.normal(0.0, noise, f.shape), 0, 255).astype(np.uint8) for f in frames]
    return noisy


def crossing_frames(width: int, height: int, count: int, cut: int, noise: float = 3.0, seed: int = 0) -> list[np.ndarray]:
    """``count`` RGB frames: two textured objects crossing over a slowly panning photo (one hides the other and
    both hide and uncover the background), then at ``cut`` a second shot of the other photo."""
    rng = np.random.default_rng(seed)
    first, second = (cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in PHOTOS[::-1])
    disc = _patch(first, height // 2)
    block = cv2.resize(second, (width // 3, height // 3), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(count):
        if i >= cut:
            frames.append(_view(second, width, height, i - cut, direction=-1))
            continue
        frame = _view(first, width, height, i, direction=1)
        travel = i / max(cut - 1, 1)
        _paste(frame, block, round(width * (0.9 - 0.8 * travel)) - block.shape[1] // 2, height // 5)
        _paste(frame, disc, round(width * (0.1 + 0.8 * travel)) - disc.shape[1] // 2, height // 3, round_mask=True)
        frames.append(frame)
    return [np.clip(f + rng.normal(0.0, noise, f.shape), 0, 255).astype(np.uint8) for f in frames]


def _patch(photo: np.ndarray, side: int) -> np.ndarray:
    """A square of ``side`` pixels from the middle of ``photo``, turned upside down so it differs from the view."""
    ph, pw = photo.shape[:2]
    square = photo[ph // 2 - ph // 4 : ph // 2 + ph // 4, pw // 2 - ph // 4 : pw // 2 + ph // 4]
    return cv2.resize(square[::-1], (side, side), interpolation=cv2.INTER_AREA)


def _paste(frame: np.ndarray, patch: np.ndarray, x: int, y: int, round_mask: bool = False) -> None:
    """Draw ``patch`` with its top left corner at (x, y), as a disc with ``round_mask``, clipped to the frame."""
    ph, pw = patch.shape[:2]
    yy, xx = np.mgrid[0:ph, 0:pw]
    inside = ((yy - ph / 2 + 0.5) ** 2 + (xx - pw / 2 + 0.5) ** 2 <= (ph / 2) ** 2) if round_mask else np.ones((ph, pw), bool)
    top, left = max(y, 0), max(x, 0)
    bottom, right = min(y + ph, frame.shape[0]), min(x + pw, frame.shape[1])
    if bottom <= top or right <= left:
        return
    part = inside[top - y : bottom - y, left - x : right - x]
    frame[top:bottom, left:right][part] = patch[top - y : bottom - y, left - x : right - x][part]


def _view(photo: np.ndarray, width: int, height: int, t: int, direction: int) -> np.ndarray:
    """What a camera sees at time ``t``: a window moving across the photo, slowly zooming and turning."""
    ph, pw = photo.shape[:2]
    scale = 0.6 * min(pw / width, ph / height) * (1.0 - 0.004 * t)
    cx = pw / 2 + direction * (t * 0.006 - 0.1) * pw
    cy = ph / 2 + 0.02 * t * ph / 10
    angle = 0.15 * t * direction
    matrix = cv2.getRotationMatrix2D((cx, cy), angle, 1.0 / scale)
    matrix[:, 2] += (width / 2 - cx, height / 2 - cy)
    return cv2.warpAffine(photo, matrix, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


def write_clip(path: Path, frames: list[np.ndarray], fps: int = 25) -> Path:
    """A video-only H.264 file, tagged BT.709 limited range."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"crf": "12"})
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        cc = stream.codec_context
        cc.colorspace = cc.color_primaries = cc.color_trc = 1
        cc.color_range = 1
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
                format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path
