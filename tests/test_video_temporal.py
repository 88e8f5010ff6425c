"""Normalization statistics and the flow blend across frames: the hooks, scene cuts, batching, resuming with
state, and flicker.

The flicker test runs the real vintage generator on a panning, noisy clip with a cut and
measures the warping error (Lai et al.) of each --temporal mode.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from clips import Clip, pan, psnr, read_clip, write_clip
from helpers import tiny_generator
from PIL import Image

from cyclegan_fx import __version__
from cyclegan_fx.io.image_read import load_image
from cyclegan_fx.models import resolve_model
from cyclegan_fx.runners.factory import open_runner
from cyclegan_fx.runtime.backend import NormStats
from cyclegan_fx.runtime.config import RunOptions
from cyclegan_fx.runtime.runner import OWN, Runner
from cyclegan_fx.runtime.statistics import AdjustedStats
from cyclegan_fx.runtime.torch_backend import TorchBackend
from cyclegan_fx.video import ModelRef, Temporal, TemporalSettings, VideoOptions, translate_video
from cyclegan_fx.video.config import EncodeSettings
from cyclegan_fx.video.flicker import warping_error
from cyclegan_fx.video.inference import Frame, PerFrame, PerShot, translate
from cyclegan_fx.video.scenecut import CutDetector, thumbnail
from cyclegan_fx.video.sequence import sequence_files, translate_sequence
from cyclegan_fx.video.temporal import (
    ShotRecorder,
    Smoother,
    pooled,
    shots_from_arrays,
    shots_to_arrays,
    stats_from_arrays,
    stats_to_arrays,
)

WORK = RunOptions(work_size=64)
MODEL = ModelRef("vintage", "a2b", "test")


def stats(*values: float) -> NormStats:
    return NormStats(torch.tensor(values, dtype=torch.float64), torch.tensor(values, dtype=torch.float64) ** 2)


def test_smoother_is_a_moving_average_restarted_at_cuts():
    smoother = Smoother(0.75)
    hook = smoother.hook([True, False, False])
    out = hook(3, [stats(4.0), stats(8.0), stats(0.0)])
    assert [float(s.mean) for s in out] == [4.0, 5.0, 3.75]
    assert [float(s.var) for s in out] == [16.0, 28.0, 21.0]
    assert hook(3, [stats(4.0), stats(8.0), stats(0.0)]) == out  # a repeated norm gets the same answer
    out = smoother.hook([False, True])(3, [stats(8.0), stats(1.0)])
    assert [float(s.mean) for s in out] == [4.8125, 1.0]  # carried over from the batch before; reset at the cut


def test_smoothing_frame_by_frame_equals_smoothing_a_batch():
    measured = [stats(float(v), float(-v)) for v in (1, 5, 2, 9)]
    together = Smoother(0.5).hook([False] * 4)(7, measured)
    one_by_one = Smoother(0.5)
    apart = [one_by_one.hook([False])(7, [m])[0] for m in measured]
    assert all(torch.equal(a.mean, b.mean) and torch.equal(a.var, b.var) for a, b in zip(together, apart))
    restored = Smoother(0.5, stats_from_arrays(stats_to_arrays(one_by_one.state)))
    assert torch.equal(restored.state[7].mean, one_by_one.state[7].mean)


def test_shot_statistics_average_the_frames_of_each_shot():
    recorder = ShotRecorder()
    hook = recorder.hook([0, 0, 1])
    assert hook(2, [stats(1.0), stats(3.0), stats(10.0)])[1].mean == 3.0  # frames keep their own in pass one
    assert recorder.shots == {}  # nothing counts before the batch is committed
    recorder.commit()
    first_chunk = recorder.shots
    recorder.shots = {}
    recorder.hook([1])(2, [stats(20.0)])
    recorder.commit()
    shots = pooled([shots_from_arrays(shots_to_arrays(first_chunk)), recorder.shots])
    assert float(shots[0][2].mean) == 2.0 and float(shots[0][2].var) == 5.0
    assert float(shots[1][2].mean) == 15.0 and float(shots[1][2].var) == 250.0


def test_cuts_are_found_between_shots_and_not_in_a_pan():
    frames = pan("astronaut", 12, step=(3, 4)) + pan("coffee", 8, step=(2, -3), origin=(40, 240))
    detector = CutDetector(TemporalSettings().cut_threshold)
    starts = [i for i, frame in enumerate(frames) if detector(thumbnail(frame))]
    assert starts == [0, 12]
    detector = CutDetector(TemporalSettings().cut_threshold, previous=thumbnail(frames[11]))  # as restored on resume
    assert detector(thumbnail(frames[12])) and not detector(thumbnail(frames[13]))


class Spy:
    """The real runner, remembering the size of every batch it was given."""

    def __init__(self, runner: Runner) -> None:
        self.runner, self.batches = runner, []

    def run_batch(self, images, options, statistics=OWN):
        self.batches.append(len(images))
        return self.runner.run_batch(images, options, statistics=statistics)


def test_batches_stop_at_chunks_and_shots_and_equal_single_runs():
    generator = tiny_generator(seed=3)
    runner = Runner(generator, TorchBackend(generator, torch.device("cpu"), torch.float32))
    images = [f.astype(np.float32) / 255 for f in pan("rocket", 11, size=(32, 48))]

    def frames():
        return (Frame(i, image, np.zeros(1), cut=i in (0, 6)) for i, image in enumerate(images))

    spy = Spy(runner)
    out = list(translate(frames(), spy, RunOptions(work_size="full"), PerFrame(), frame_batch=4, chunk_frames=5))
    assert spy.batches == [4, 1, 4, 1, 1]  # chunks of 5 frames, then the last one
    assert [f.ends_chunk for f in out] == [i in (4, 9, 10) for i in range(11)]
    for frame, image in zip(out, images):
        assert np.abs(frame.result - runner.run(image, RunOptions(work_size="full"))).max() < 1e-5
    spy = Spy(runner)
    per_shot = PerShot([0, 6], {0: _stats_of(runner, images[0]), 1: _stats_of(runner, images[6])})
    list(translate(frames(), spy, RunOptions(work_size="full"), per_shot, frame_batch=4, chunk_frames=100))
    assert spy.batches == [4, 2, 4, 1]  # a batch never mixes two shots


def _stats_of(runner: Runner, image: np.ndarray) -> dict[int, NormStats]:
    seen = {}

    def record(position, measured):
        seen[position] = measured[0]
        return measured

    runner.run(image, RunOptions(work_size="full"), statistics=AdjustedStats(record))
    return seen


@pytest.fixture(scope="module")
def vintage_runner() -> Runner:
    return open_runner(resolve_model("vintage"), "a2b", "cpu", "auto", "torch")


@pytest.fixture(scope="module")
def flickering_clip(tmp_path_factory) -> Path:
    """A fast, noisy pan and a cut: per-frame statistics pump from frame to frame."""
    frames = pan("astronaut", 16, step=(3, 4), noise=4.0, seed=1) + pan("coffee", 8, step=(2, -3), origin=(40, 240),
                                                                        noise=4.0, seed=2)
    return write_clip(tmp_path_factory.mktemp("flicker") / "pan.mkv",
                      Clip(frames, codec="ffv1", pix_fmt="yuv444p", audio=False))


def _translate(clip: Path, runner, mode: Temporal, output: Path, **kwargs) -> list[np.ndarray]:
    options = VideoOptions(TemporalSettings(mode), EncodeSettings(codec="ffv1"), **kwargs)
    translate_video(clip, runner, WORK, options, MODEL, output)
    return read_clip(output).frames


def test_smoothed_statistics_and_flow_lower_the_warping_error(flickering_clip, vintage_runner, tmp_path):
    source = read_clip(flickering_clip).frames
    errors, outputs = {}, {}
    for mode in Temporal:
        outputs[mode] = _translate(flickering_clip, vintage_runner, mode, tmp_path / f"{mode.value}.mkv")
        errors[mode] = warping_error(source, outputs[mode], skip={15})
    floor = warping_error(source, source, skip={15})
    assert errors[Temporal.SMOOTH] < 0.8 * errors[Temporal.OFF]
    assert errors[Temporal.SHOT] < 0.8 * errors[Temporal.OFF]
    assert floor < errors[Temporal.SMOOTH]
    assert errors[Temporal.FLOW] < 0.9 * errors[Temporal.SMOOTH]
    smooth, flow = outputs[Temporal.SMOOTH], outputs[Temporal.FLOW]
    assert np.array_equal(flow[0], smooth[0]) and np.array_equal(flow[16], smooth[16])  # no history into a shot
    assert not np.array_equal(flow[17], smooth[17])
    assert min(psnr(a, b) for a, b in zip(flow, smooth)) > 30  # the style is kept


@pytest.mark.parametrize("mode", [Temporal.SMOOTH, Temporal.SHOT, Temporal.FLOW])
def test_an_interrupted_run_resumes_with_its_statistics(flickering_clip, vintage_runner, tmp_path, mode):
    whole = _translate(flickering_clip, vintage_runner, mode, tmp_path / "whole.mkv", chunk_frames=6)

    def interrupt(done: int, total: int | None) -> None:
        if done == (24 if mode is Temporal.SHOT else 0) + 14:
            raise KeyboardInterrupt

    target = tmp_path / "resumed.mkv"
    options = VideoOptions(TemporalSettings(mode), EncodeSettings(codec="ffv1"), chunk_frames=6)
    with pytest.raises(KeyboardInterrupt):
        translate_video(flickering_clip, vintage_runner, WORK, options, MODEL, target, interrupt)
    assert not target.exists()
    resumed_options = VideoOptions(TemporalSettings(mode), EncodeSettings(codec="ffv1"), chunk_frames=6, resume=True)
    seen = []
    translate_video(flickering_clip, vintage_runner, WORK, resumed_options, MODEL, target,
                    lambda done, total: seen.append(done))
    assert seen[:2] == ([24, 36] if mode is Temporal.SHOT else [12, 13])  # it went on after finished chunks
    resumed = read_clip(target).frames
    assert len(resumed) == len(whole) == 24
    assert min(psnr(a, b) for a, b in zip(resumed, whole)) > 45


def test_a_sequence_resumes_from_the_work_folder_of_earlier_versions(vintage_runner, tmp_path):
    """The work folder written here by hand as the code before the chunk rename wrote it: job.json with its
    ``segment_frames`` key, the first chunk's record, arrays and (marked) frames; the run goes on after it."""
    folder = tmp_path / "shots"
    folder.mkdir()
    frames = pan("coffee", 5)
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"f{i}.png")
    files = sequence_files(str(folder))
    options = VideoOptions(TemporalSettings(Temporal.OFF), chunk_frames=2)
    whole = tmp_path / "whole"
    translate_sequence(str(folder), files, vintage_runner, WORK, options, MODEL, whole)

    target = tmp_path / "resumed"
    work = tmp_path / ".resumed.cyclegan-fx-work"
    (work / "frames").mkdir(parents=True)
    listing = [(str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    before_flow = {k: v for k, v in vars(options.temporal).items() if k != "consistency"}  # as versions wrote it
    job = {"version": __version__, "frames": hashlib.sha256(json.dumps(listing).encode()).hexdigest(),
           "model": MODEL.identity, "run": vars(WORK), "temporal": before_flow, "segment_frames": 2}
    (work / "job.json").write_text(json.dumps(job, default=str, indent=1))
    marker = np.full_like(frames[0], 7)  # no translation gives this: it shows the finished chunk was kept
    for i in range(2):
        Image.fromarray(marker).save(work / "frames" / f"f{i}.png")
    np.savez(work / "frames-00000.npz", thumb=thumbnail(frames[1]))
    (work / "frames-00000.json").write_text(json.dumps({"frames": 2, "damage": 0, "last_key": 1}, indent=1))
    seen = []
    resumed_options = VideoOptions(TemporalSettings(Temporal.OFF), chunk_frames=2, resume=True)
    translate_sequence(str(folder), files, vintage_runner, WORK, resumed_options, MODEL, target,
                       lambda done, total: seen.append(done))
    assert seen[:2] == [2, 3]  # it went on after the finished chunk
    assert not work.exists()
    for i in range(5):
        resumed = load_image(target / f"f{i}.png").pixels.astype(int)
        expected = marker if i < 2 else load_image(whole / f"f{i}.png").pixels
        assert np.abs(resumed - expected).max() <= 1


def test_flow_on_a_16_bit_sequence_is_the_same_in_batches_and_chunks(vintage_runner, tmp_path):
    folder = tmp_path / "shots"
    folder.mkdir()
    for i, frame in enumerate(pan("rocket", 7, step=(1, 2)) + pan("coffee", 3)):
        cv2.imwrite(str(folder / f"f{i}.png"), cv2.cvtColor(frame.astype(np.uint16) * 257, cv2.COLOR_RGB2BGR))
    files = sequence_files(str(folder))
    outputs = []
    for batch, chunk in ((1, 250), (3, 4)):
        options = VideoOptions(TemporalSettings(Temporal.FLOW), frame_batch=batch, chunk_frames=chunk)
        target = tmp_path / f"out-{batch}-{chunk}"
        translate_sequence(str(folder), files, vintage_runner, WORK, options, MODEL, target)
        outputs.append([load_image(target / f"f{i}.png").pixels for i in range(10)])
    assert all(frame.dtype == np.uint16 for frame in outputs[0])
    for one, other in zip(*outputs):
        assert np.abs(one.astype(int) - other).max() <= 2
