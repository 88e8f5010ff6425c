"""``--temporal flow`` on synthetic frames: the flow of a pan, cuts, occlusions, and the blender's state.

The "translations" here are the input frames with noise of their own in every frame, as a
generator answers sensor noise: the history carried along the flow must calm that noise where
the flow holds and leave the current translation alone where it does not.
"""

from __future__ import annotations

import numpy as np
from clips import pan, photo

from cyclegan_fx.video.flow import FlowBlender, trust_and_flow
from cyclegan_fx.video.motion import rgb8, warp


def boiling(frame: np.ndarray, seed: int, noise: float = 0.03) -> np.ndarray:
    """A stand-in translation: the frame in float RGB with noise that differs from frame to frame."""
    rng = np.random.default_rng(seed)
    return np.clip(frame.astype(np.float32) / 255 + rng.normal(0.0, noise, frame.shape), 0, 1).astype(np.float32)


def test_the_history_of_a_pan_lines_up_to_within_a_pixel():
    frames = pan("astronaut", 2, size=(64, 96), step=(1, 2))  # the view moves 2 right and 1 down a frame
    trust, flow = trust_and_flow(rgb8(frames[1]), rgb8(frames[0]))
    trusted = trust > 0.5
    assert trusted.mean() > 0.85  # all but the strip that came into view and the flow's edges
    assert np.abs(flow[trusted] - [2.0, 1.0]).max() < 1.0
    carried = warp(frames[0].astype(np.float32), flow)
    interior = (slice(4, -4), slice(4, -4))
    unmoved = np.abs(frames[0].astype(np.float32) - frames[1])[interior].mean()
    assert unmoved > 5.0  # of 255: the motion is real
    assert np.abs(carried - frames[1])[interior].mean() < 0.1 * unmoved


def test_history_calms_the_noise_of_a_pan_and_starts_afresh_at_a_cut():
    frames = pan("astronaut", 8, size=(64, 96), step=(1, 2)) + pan("coffee", 2, size=(64, 96))
    blender = FlowBlender(0.7)
    errors = {"translation": [], "blended": []}
    for i, frame in enumerate(frames):
        translation = boiling(frame, seed=i)
        out = blender(rgb8(frame), i in (0, 8), translation)
        if i in (0, 8):
            assert np.array_equal(out, translation)  # nothing carried into a new shot
        else:
            assert out.dtype == translation.dtype and out.shape == translation.shape
        if 4 <= i < 8:
            truth = frame.astype(np.float32) / 255
            errors["translation"].append(np.abs(translation - truth)[8:-8, 8:-8].mean())
            errors["blended"].append(np.abs(out - truth)[8:-8, 8:-8].mean())
    assert np.mean(errors["blended"]) < 0.8 * np.mean(errors["translation"])


def test_a_moving_object_leaves_no_ghost_trail():
    """A magenta square slides over a still photo: where it was, the output is the current translation."""
    background = photo("coffee")[100:164, 100:196]
    blender = FlowBlender(0.9)
    for i in range(10):
        frame = background.copy()
        x = 8 + 6 * i
        frame[20:44, x : x + 24] = (255, 0, 255)
        translation = boiling(frame, seed=i)
        out = blender(rgb8(frame), i == 0, translation)
        if i == 0:
            continue
        uncovered = np.zeros(frame.shape[:2], bool)
        uncovered[20:44, x - 6 : x] = True  # under the square one frame ago, background now
        truth = frame.astype(np.float32) / 255
        assert np.abs(truth - [1.0, 0.0, 1.0]).max(axis=2)[uncovered].min() > 0.3  # a ghost would show
        assert np.abs(out - truth).max(axis=2)[uncovered].max() < 0.15  # the translation's noise, no more
        still = np.zeros_like(uncovered)
        still[50:, :] = True  # never covered: there the history holds
        assert np.abs(out - translation)[still].mean() > 0.01


def test_consistency_zero_keeps_the_translation_and_the_state_restores():
    frames = pan("rocket", 4, size=(48, 64), step=(1, 1))
    translations = [boiling(f, seed=i) for i, f in enumerate(frames)]
    off = FlowBlender(0.0)
    for i, (frame, translation) in enumerate(zip(frames, translations)):
        assert np.array_equal(off(rgb8(frame), i == 0, translation), translation)

    whole = FlowBlender(0.7)
    expected = [whole(rgb8(f), i == 0, t) for i, (f, t) in enumerate(zip(frames, translations))]
    first = FlowBlender(0.7)
    for i in range(2):
        first(rgb8(frames[i]), i == 0, translations[i])
    resumed = FlowBlender(0.7, first.state())
    for i in range(2, 4):
        assert np.array_equal(resumed(rgb8(frames[i]), False, translations[i]), expected[i])


def test_frames_keep_their_type_gray_and_alpha():
    frames = [(f.astype(np.uint16) * 257) for f in pan("rocket", 2, size=(48, 64), step=(1, 1))]
    blender = FlowBlender(0.7)
    for i, frame in enumerate(frames):
        gray_alpha = np.dstack([frame[..., 0], np.full(frame.shape[:2], 1234, np.uint16)])
        out = blender(rgb8(frame), i == 0, gray_alpha)
        assert out.dtype == np.uint16 and out.shape == gray_alpha.shape
        assert np.array_equal(out[..., 1], gray_alpha[..., 1])  # alpha is the translation's own
        assert np.abs(out[..., 0].astype(int) - gray_alpha[..., 0]).mean() < 2000


def test_frames_too_small_for_flow_are_left_as_they_are():
    blender = FlowBlender(0.7)
    for i in range(2):
        translation = np.full((9, 9, 3), 0.1 * (i + 1), np.float32)
        assert np.array_equal(blender(np.full((9, 9, 3), 40 * i, np.uint8), False, translation), translation)
