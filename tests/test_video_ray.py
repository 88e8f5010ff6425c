"""`cyclegan-fx video --ray` on a real local Ray runtime with two CPU actors and the real vintage generator at a
small work size: the output equals the single-process command's (lossless FFV1 frames, pts, sound packets,
colour tags, rotation, metadata) for every temporal mode, and an interrupted job resumes without redoing
its finished chunks."""

from __future__ import annotations

import logging
from pathlib import Path

import helpers
import numpy as np
import pytest
from clips import BT709, LIMITED, Clip, corrupt, pan, psnr, read_clip, write_clip

pytestmark = pytest.mark.heavy  # a real Ray runtime: the quick tier deselects it (-m "not heavy")

ray = pytest.importorskip("ray", reason="the ray extra is not installed")

FAST = ["--device", "cpu", "--backend", "torch", "--work-size", "64", "--codec", "ffv1", "--chunk", "8"]
RAY = ["--ray", "--actors", "2", "--threads", "1"]


@pytest.fixture(scope="module")
def ray_runtime():
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """Two shots (a cut at frame 20, inside a chunk) with sound, subtitles, BT.709 tags, rotation and metadata."""
    frames = pan("coffee", 20, step=(1, 2)) + pan("chelsea", 20, step=(2, 1))
    return write_clip(tmp_path_factory.mktemp("clip") / "harbour.mkv",
                      Clip(frames, matrix=BT709, range=LIMITED, primaries=1, transfer=1, rotation=90,
                           subtitles=True, metadata={"title": "Harbour"}))


def video(*args) -> tuple[int, str]:
    return helpers.invoke("video", *args, *FAST)


def assert_same_video(result: Path, reference: Path) -> None:
    got, want = read_clip(result), read_clip(reference)
    assert len(got.frames) == len(want.frames) == 40
    assert got.pts == want.pts and got.durations == want.durations and got.time_base == want.time_base
    assert got.audio == want.audio and got.subtitles == want.subtitles and got.audio
    assert got.tags == want.tags == (BT709, LIMITED, 1, 1) and got.rotation == want.rotation == 90
    assert got.metadata["title"] == "Harbour" and got.streams == want.streams
    assert min(psnr(a, b) for a, b in zip(got.frames, want.frames)) >= 40


@pytest.mark.parametrize("temporal", ["off", "smooth", "shot", "flow"])
def test_output_equals_the_single_process_command(ray_runtime, clip, tmp_path, temporal):
    # Lead-in 14 frames (for flow's history too): chunks 3 to 5 start after a full one.
    mode = ["--temporal", temporal, "--smoothing", "0.5", *(["--consistency", "0.5"] if temporal == "flow" else [])]
    code, text = video(clip, "-o", tmp_path / "single.mkv", *mode)
    assert code == 0, text
    code, text = video(clip, "-o", tmp_path / "ray.mkv", *mode, *RAY)
    assert code == 0, text
    assert "Translating 5 of 5 chunk(s)" in text
    assert_same_video(tmp_path / "ray.mkv", tmp_path / "single.mkv")
    if temporal in ("off", "shot"):  # the same computation chunk for chunk: the same FFV1 frames
        got, want = read_clip(tmp_path / "ray.mkv"), read_clip(tmp_path / "single.mkv")
        assert all(np.array_equal(a, b) for a, b in zip(got.frames, want.frames))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ray.mkv", "single.mkv"]  # no work folder left


def test_an_interrupted_job_resumes_with_only_the_unfinished_chunks(ray_runtime, clip, tmp_path):
    from cyclegan_fx.errors import CycleganFxError
    from cyclegan_fx.runtime.config import RunOptions
    from cyclegan_fx.scale.video_job import RayPlacement, translate_video_on_ray
    from cyclegan_fx.video import EncodeSettings, Temporal, TemporalSettings, VideoOptions

    code, text = video(clip, "-o", tmp_path / "single.mkv", "--temporal", "off")
    assert code == 0, text
    target = tmp_path / "ray.mkv"
    work = tmp_path / ".ray.mkv.cyclegan-fx-work"
    options = VideoOptions(TemporalSettings(Temporal.OFF), EncodeSettings("ffv1"), chunk_frames=8)

    def run(options: VideoOptions, progress=None):
        return translate_video_on_ray(clip, "vintage", "a2b", "cpu", "auto", "torch", RunOptions(work_size=64),
                                      options, RayPlacement(actors=2, threads=1), target, progress)

    def stop_after_two_chunks(done: int, total: int | None) -> None:
        if done >= 16:
            raise CycleganFxError("Stopped by the test.")

    with pytest.raises(CycleganFxError, match="Stopped by the test"):
        run(options, stop_after_two_chunks)
    assert not target.exists()
    finished = len(list(work.glob("video-*.json")))
    assert 2 <= finished < 5

    seen: list[int] = []
    report = run(VideoOptions(TemporalSettings(Temporal.OFF), EncodeSettings("ffv1"), chunk_frames=8, resume=True),
                 lambda done, total: seen.append(done))
    assert report.frames == 40 and not work.exists()
    assert seen[0] == 8 * finished  # the finished chunks counted at once, never translated again
    assert len(seen) == 1 + 5 - finished  # then one report per chunk translated
    assert_same_video(target, tmp_path / "single.mkv")


def test_a_chunk_that_fails_stops_the_job_in_one_sentence_and_keeps_the_finished_ones(ray_runtime, tmp_path):
    whole = write_clip(tmp_path / "whole.mp4", Clip(pan("rocket", 40), audio=False))
    damaged = corrupt(whole, tmp_path / "damaged.mp4", 26, 3)  # frames lost in chunk 3 (frames 24-31)
    code, text = video(damaged, "-o", tmp_path / "out.mkv", "--temporal", "off", *RAY)
    assert code == 1
    error = next(line for line in text.splitlines() if line.startswith("Error: "))
    assert error.startswith("Error: Frames 24-31 of ") and error.endswith(
        "do not decode where their timestamps say (the file may be damaged); translate it without --ray.")
    assert not (tmp_path / "out.mkv").exists()
    work = tmp_path / ".out.mkv.cyclegan-fx-work"
    assert "--resume" in text and {"video-00000.json", "video-00001.json"} <= {p.name for p in work.iterdir()}
