"""Measure flicker the standard way: the warping error of Lai et al. (ECCV 2018).

Optical flow between consecutive input frames (OpenCV's DIS) carries output frame t+1 onto
frame t; pixels that fail a forward-backward consistency check (occlusions, flow errors)
are masked out; the error is the mean squared difference (RGB in [0, 1]) over the rest,
averaged over the frame pairs. The input's own warping error is the floor that a
temporally stable output can reach.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

from cyclegan_fx.video.motion import as_float_rgb, flow_and_mask, luma8, warp


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
        flow, mask = flow_and_mask(luma8(inputs[t]), luma8(inputs[t + 1]))
        now, following = as_float_rgb(outputs[t]), as_float_rgb(outputs[t + 1])
        warped = warp(following, flow)
        squared = np.sum((now - warped) ** 2, axis=2)
        errors.append(float(np.sum(squared * mask) / max(np.sum(mask), 1.0)))
    return float(np.mean(errors))
