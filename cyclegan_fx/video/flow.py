"""``--temporal flow``: the previous output carried along the input's optical flow and blended into the new one.

Flow from each input frame back to the one before it (DIS, on 8-bit luma) says where every
pixel was; the last blended output, sampled there, is the history. The history counts only
where the flow holds: both ways consistent (no occlusion), inside the frame, and where the
input's colour matches its own warped predecessor's (luma alone lets an object of the
background's brightness through); never across a cut. It is clamped to the range of
the new translation's 3x3 neighbourhood, as temporal anti-aliasing does, so that a wrong
vector cannot paint a ghost, and mixed in with weight ``consistency``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import cv2
import numpy as np

from cyclegan_fx.runtime import pixels
from cyclegan_fx.video.inference import Frame
from cyclegan_fx.video.motion import flow_and_mask, luma8, rgb8, warp

_FLOW_SIDE = 640  # flow of larger frames is measured on luma scaled down to this long side (1080p: 9x less work)
_SMALLEST = 16  # DIS refuses frames much smaller (10 x 10): they are blended with nothing
_MATCH = 0.05  # RMS colour difference (0..1) of a frame and its warped predecessor at which trust falls to 1/e
_NEIGHBOURS = np.ones((3, 3), np.uint8)
_MOTION_EDGE = np.ones((5, 5), np.uint8)  # flow is blurred across motion edges: no history within 2 pixels of one
_MEAN_OF_CHANNELS = np.full((1, 3), 1.0 / 3.0, np.float32)
_GUIDE, _HISTORY = "flow.guide", "flow.history"  # the state saved with a chunk


def trust_and_flow(guide: np.ndarray, previous: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flow from the 8-bit RGB frame ``guide`` back to ``previous`` (H x W x 2) and how far history carried
    along it holds (0..1)."""
    flow, consistent = _scaled_flow(luma8(guide), luma8(previous))
    difference = cv2.absdiff(guide.astype(np.float32), warp(previous.astype(np.float32), flow))
    mean_square = cv2.transform(difference * difference, _MEAN_OF_CHANNELS)
    return cv2.exp(mean_square * np.float32(-1.0 / (255.0 * _MATCH) ** 2)) * consistent, flow


def blend(history: np.ndarray, current: np.ndarray, flow: np.ndarray, trust: np.ndarray,
          consistency: float) -> np.ndarray:
    """``current`` (float RGB) mixed with ``history`` carried along ``flow`` and clamped to current's neighbourhood."""
    warped = warp(history, flow)
    clamped = cv2.min(cv2.max(warped, cv2.erode(current, _NEIGHBOURS)), cv2.dilate(current, _NEIGHBOURS))
    weight = (consistency * trust)[..., None]
    return current + weight * (clamped - current)


class FlowBlender:
    """Blends each translated frame, in order, with the history; its state is the last input (guide) and output."""

    def __init__(self, consistency: float, saved: Mapping[str, np.ndarray] | None = None) -> None:
        saved = saved or {}
        self.consistency = consistency
        self.guide: np.ndarray | None = saved.get(_GUIDE)
        self.history: np.ndarray | None = saved.get(_HISTORY)  # float RGB, before rounding to the output's type

    def __call__(self, guide: np.ndarray, cut: bool, result: np.ndarray) -> np.ndarray:
        """The output for the frame whose input is ``guide`` (8-bit RGB; it starts a shot if ``cut``) and whose
        translation is ``result``."""
        rgb, alpha, layout = pixels.split(result)
        current = pixels.to_float(rgb)
        previous, history = self.guide, self.history
        self.guide = guide
        if cut or previous is None or previous.shape != guide.shape or min(guide.shape[:2]) < _SMALLEST:
            self.history = current
            return result
        trust, flow = trust_and_flow(guide, previous)
        self.history = blend(history, current, flow, trust, self.consistency)
        return pixels.join(self.history, alpha, layout)

    def state(self) -> dict[str, np.ndarray]:
        return {} if self.guide is None else {_GUIDE: self.guide, _HISTORY: self.history}


def with_guide(frames: Iterator[Frame]) -> Iterator[Frame]:
    """Frames with their input in 8-bit RGB, kept before the runner frees the input."""
    for frame in frames:
        frame.guide = rgb8(frame.pixels)
        yield frame


def follow_motion(frames: Iterator[Frame], blender: FlowBlender) -> Iterator[Frame]:
    """Translated frames blended with the history; a chunk's last frame gets the blender's state too."""
    for frame in frames:
        frame.result = blender(frame.guide, frame.cut, frame.result)
        frame.guide = None
        if frame.ends_chunk:
            frame.state = {**frame.state, **blender.state()}
        yield frame


def _scaled_flow(luma: np.ndarray, previous: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flow and consistency mask, measured at most _FLOW_SIDE pixels wide."""
    height, width = luma.shape
    scale = min(1.0, _FLOW_SIDE / max(height, width))
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        luma, previous = (cv2.resize(x, size, interpolation=cv2.INTER_AREA) for x in (luma, previous))
    flow, consistent = flow_and_mask(luma, previous)
    consistent = cv2.erode(consistent, _MOTION_EDGE)
    if scale < 1.0:
        flow = cv2.resize(flow, (width, height), interpolation=cv2.INTER_LINEAR) * np.float32(
            [width / flow.shape[1], height / flow.shape[0]])
        consistent = cv2.resize(consistent, (width, height), interpolation=cv2.INTER_NEAREST)
    return flow, consistent

