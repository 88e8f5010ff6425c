"""Measure flicker the standard way: the warping error of Lai et al. (ECCV 2018).

Optical flow between consecutive input frames (OpenCV's DIS) carries output frame t+1 onto
frame t; pixels that fail a forward-backward consistency check (occlusions, flow errors)
are masked out; the error is the mean squared difference (RGB in [0, 1]) over the rest,
averaged over the frame pairs. The input's own warping error is the floor that a
temporally stable output can reach.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import cv2
import numpy as np

from cyclegan_fx.runtime import pixels


def warping_error(inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray], skip: Collection[int] = ()) -> float:
    """Mean masked squared difference between output frame t and output t+1 warped onto it.

    ``skip`` holds the indexes t of pairs (t, t+1) to leave out, e.g. across a scene cut.
    """
    if len(inputs) != len(outputs) or len(inputs) < 2:
        raise ValueError("warping error needs two or more input frames and as many output frames")
    errors = []
    for t in range(len(inputs) - 1):
        if t in skip:
            continue
        flow, mask = flow_and_mask(inputs[t], inputs[t + 1])
        now, following = _float(outputs[t]), _float(outputs[t + 1])
        warped = _warp(following, flow)
        squared = np.sum((now - warped) ** 2, axis=2)
        errors.append(float(np.sum(squared * mask) / max(np.sum(mask), 1.0)))
    return float(np.mean(errors))


def flow_and_mask(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flow from ``first`` to ``second`` (H x W x 2) and the mask of pixels where it is consistent."""
    a, b = _gray(first), _gray(second)
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    forward = dis.calc(a, b, None)
    backward = dis.calc(b, a, None)
    back_at_target = _warp(backward, forward)
    # Sundaram et al.: |f + b(p + f)|^2 < 0.01 (|f|^2 + |b(p + f)|^2) + 0.5
    mismatch = np.sum((forward + back_at_target) ** 2, axis=2)
    magnitude = np.sum(forward**2, axis=2) + np.sum(back_at_target**2, axis=2)
    consistent = mismatch < 0.01 * magnitude + 0.5
    height, width = a.shape
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    inside = (xs + forward[..., 0] >= 0) & (xs + forward[..., 0] <= width - 1)
    inside &= (ys + forward[..., 1] >= 0) & (ys + forward[..., 1] <= height - 1)
    return forward, (consistent & inside).astype(np.float32)


def _warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``image`` sampled at p + flow(p): the frame after, carried back onto the frame before."""
    height, width = flow.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return cv2.remap(image, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _float(image: np.ndarray) -> np.ndarray:
    rgb, _, _ = pixels.split(image)
    return np.ascontiguousarray(pixels.to_float(rgb), dtype=np.float32)


def _gray(image: np.ndarray) -> np.ndarray:
    rgb = _float(image)
    return np.clip(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) * 255.0 + 0.5, 0, 255).astype(np.uint8)
