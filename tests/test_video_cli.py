"""`cyclegan-fx video` end to end on the real vintage generator at a small work size.

Clips are made here with PyAV and read back: frame counts, timestamps, audio and subtitle
packets, colour tags, rotation and metadata are compared with the input, and every output
frame with the runner's own translation of the input frame.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import helpers
import numpy as np
import pytest
from clips import BT601, BT709, FULL, LIMITED, Clip, corrupt, pan, psnr, read_clip, write_clip
from PIL import Image

from cyclegan_fx.cli.video import video
from cyclegan_fx.io.image_read import load_image
from cyclegan_fx.models import resolve_model
from cyclegan_fx.runners.factory import open_runner
from cyclegan_fx.runtime.config import RunOptions

ROOT = Path(__file__).resolve().parent.parent
WORK_SIZE = 64
FAST = ["--device", "cpu", "--backend", "torch", "--work-size", str(WORK_SIZE)]


def invoke(*args) -> tuple[int, str]:
    return helpers.invoke("video", *args, *FAST)


@pytest.fixture(scope="module")
def runner():
    return open_runner(resolve_model("vintage"), "a2b", "cpu", "auto", "torch")


def leftovers(folder: Path) -> list[str]:
    """Temporary files and work folders left behind."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def translated_psnr(runner, frames: list[np.ndarray], output) -> float:
    """Mean PSNR of the output frames against the runner's translation of ``frames``."""
    expected = [np.clip(runner.run(frame, RunOptions(work_size=WORK_SIZE)), 0, 1) for frame in frames]
    return float(np.mean([psnr(a, b) for a, b in zip(expected, output.frames, strict=True)]))


def test_clip_keeps_timing_sound_colour_rotation_and_metadata(tmp_path, runner):
    pts = np.cumsum([0] + [3000, 3600, 4500, 3000] * 6)[:24].tolist()  # variable frame rate
    clip = Clip(pan("coffee", 24, step=(2, 3)), pts=pts, matrix=BT709, range=LIMITED, primaries=1, transfer=1,
                rotation=90, metadata={"title": "Harbour", "creation_time": "2024-05-06T07:08:09.000000Z"})
    path = write_clip(tmp_path / "harbour.mp4", clip)
    code, out = invoke(path, "--temporal", "off", "--chunk", "10")
    assert code == 0, out
    assert "damaged" not in out and "truncated" not in out
    result = tmp_path / "harbour-vintage-a2b.mp4"
    source, output = read_clip(path), read_clip(result)
    assert leftovers(tmp_path) == []
    assert len(output.frames) == 24 and output.pts == source.pts and output.time_base == source.time_base
    assert output.audio == source.audio  # every packet, byte for byte, at the same pts
    assert output.tags == source.tags == (BT709, LIMITED, 1, 1)
    assert output.rotation == 90
    assert output.metadata["title"] == "Harbour"
    assert output.metadata["creation_time"] == "2024-05-06T07:08:09.000000Z"
    assert output.codec == "h264" and output.pix_fmt == "yuv420p"
    translated = translated_psnr(runner, source.frames, output)
    assert translated > 30  # CRF 18 on small grainy frames
    copied = np.mean([psnr(a, b) for a, b in zip(output.frames, source.frames)])
    assert copied < translated - 4  # it is the translation, not a copy of the input


@pytest.mark.parametrize("matrix, colour_range, suffix", [(BT709, FULL, ".mkv"), (BT601, LIMITED, ".mov")])
def test_each_matrix_and_range_reaches_the_model_and_the_output(tmp_path, runner, matrix, colour_range, suffix):
    frames = pan("astronaut", 8, step=(1, 1))
    for frame in frames:
        frame[:12, :12] = (230, 20, 20)  # saturated red, where the matrices differ most
    path = write_clip(tmp_path / f"clip{suffix}", Clip(frames, matrix=matrix, range=colour_range, audio=False))
    code, out = invoke(path, "--temporal", "off", "--crf", "4")
    assert code == 0, out
    source, output = read_clip(path), read_clip(tmp_path / f"clip-vintage-a2b{suffix}")
    assert output.tags[:2] == (matrix, colour_range)
    right = translated_psnr(runner, source.frames, output)
    assert right > 34
    wrong = translated_psnr(runner, [_decode_as_other_matrix(f, matrix) for f in source.frames], output)
    assert wrong < right - 2  # the check tells a wrong matrix apart


def _decode_as_other_matrix(rgb: np.ndarray, matrix: int) -> np.ndarray:
    """The frame as a decoder with the other matrix (601 <-> 709) would show it."""
    weights = {BT709: (0.2126, 0.0722), BT601: (0.299, 0.114)}

    def to_yuv(kr, kb):
        kg = 1 - kr - kb
        return np.array([[kr, kg, kb], [-kr / (2 - 2 * kb), -kg / (2 - 2 * kb), 0.5],
                         [0.5, -kg / (2 - 2 * kr), -kb / (2 - 2 * kr)]])

    right = to_yuv(*weights[matrix])
    other = to_yuv(*weights[BT601 if matrix == BT709 else BT709])
    return np.clip(rgb @ (np.linalg.inv(other) @ right).T, 0, 1).astype(np.float32)


def test_ten_bit_hevc_stays_ten_bit_hevc(tmp_path, runner):
    path = write_clip(tmp_path / "deep.mkv", Clip(pan("rocket", 8), codec="libx265", pix_fmt="yuv420p10le",
                                                  matrix=BT709, primaries=1, transfer=1, audio=False))
    code, out = invoke(path, "--temporal", "off", "--crf", "4")
    assert code == 0, out
    source, output = read_clip(path), read_clip(tmp_path / "deep-vintage-a2b.mkv")
    assert (output.codec, output.pix_fmt) == ("hevc", "yuv420p10le")
    assert output.pts == source.pts
    assert translated_psnr(runner, source.frames, output) > 34


def test_other_streams_are_copied_or_converted_with_a_warning(tmp_path):
    path = write_clip(tmp_path / "talk.mkv", Clip(pan("chelsea", 16), subtitles=True))
    code, out = invoke(path, "--temporal", "off")
    assert code == 0, out
    source, output = read_clip(path), read_clip(tmp_path / "talk-vintage-a2b.mkv")
    assert [t for t, _ in output.streams] == ["video", "audio", "subtitle"]
    assert output.audio == source.audio and output.subtitles == source.subtitles
    assert len(source.subtitles) >= 2

    code, out = invoke(path, "-o", tmp_path / "talk.mp4", "--temporal", "off")
    assert code == 0, out
    assert "cannot hold stream 2 (subtitle, srt); it is left out" in out
    as_mp4 = read_clip(tmp_path / "talk.mp4")
    assert [t for t, _ in as_mp4.streams] == ["video", "audio"]
    assert [data for data, _ in as_mp4.audio] == [data for data, _ in source.audio]
    assert np.allclose([t for _, t in as_mp4.audio], [t for _, t in source.audio], atol=0.001)

    code, out = invoke(path, "-o", tmp_path / "talk.webm", "--temporal", "off")
    assert code == 0, out
    assert "cannot hold stream 1 (audio, aac); it is re-encoded to libopus" in out
    as_webm = read_clip(tmp_path / "talk.webm")
    assert as_webm.streams[:2] == [("video", "vp9"), ("audio", "opus")]
    assert len(as_webm.frames) == 16


def test_start_and_end_cut_video_and_sound_alike(tmp_path):
    path = write_clip(tmp_path / "long.mp4", Clip(pan("coffee", 40)))  # 25 fps, 1.6 s
    code, out = invoke(path, "--start", "0.4", "--end", "00:00:01", "--temporal", "off")
    assert code == 0, out
    source, output = read_clip(path), read_clip(tmp_path / "long-vintage-a2b.mp4")
    first = source.pts.index(int(0.4 * 90000))
    assert len(output.frames) == 15
    assert output.pts == [p - source.pts[first] for p in source.pts[first : first + 15]]
    audio_start, audio_end = output.audio[0][1], output.audio[-1][1]
    assert -0.03 < audio_start < 0.03 and 0.55 < audio_end < 0.62
    assert {data for data, _ in output.audio} <= {data for data, _ in source.audio}


def test_flow_follows_start_and_end_and_its_consistency(tmp_path):
    path = write_clip(tmp_path / "long.mp4", Clip(pan("coffee", 40, noise=4.0), audio=False))
    window = ["--start", "0.4", "--end", "1", "--codec", "ffv1"]
    outputs = {}
    for name, temporal in (("smooth", ["--temporal", "smooth"]), ("flow", ["--temporal", "flow", "--consistency", "0.8"])):
        code, out = invoke(path, "-o", tmp_path / f"{name}.mkv", *window, *temporal)
        assert code == 0, out
        outputs[name] = read_clip(tmp_path / f"{name}.mkv").frames
    assert len(outputs["flow"]) == len(outputs["smooth"]) == 15
    assert np.array_equal(outputs["flow"][0], outputs["smooth"][0])  # the part starts without history
    assert not np.array_equal(outputs["flow"][5], outputs["smooth"][5])
    assert min(psnr(a, b) for a, b in zip(outputs["flow"], outputs["smooth"])) > 30
    code, out = invoke(path, "--temporal", "flow", "--consistency", "1")
    assert code != 0 and "--consistency" in out


def test_damage_in_the_middle_is_reported_and_the_rest_translated(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", Clip(pan("rocket", 24), audio=False))
    damaged = corrupt(clip, tmp_path / "damaged.mp4", 10, 3)
    code, out = invoke(damaged, "--temporal", "off")
    assert code == 0, out
    assert re.search(r"is damaged: 3 packets could not be decoded; the \d+ frames that could were translated", out)
    output = read_clip(tmp_path / "damaged-vintage-a2b.mp4")
    assert 12 <= len(output.frames) <= 21
    assert set(output.pts) <= set(read_clip(clip).pts)


def test_bad_input_is_one_sentence_and_leaves_nothing(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", Clip(pan("coffee", 6)))
    (tmp_path / "notes.mp4").write_text("not a video\n" * 100)
    (tmp_path / "cut.mp4").write_bytes(clip.read_bytes()[:3000])
    corrupt(clip, tmp_path / "hollow.mp4", 0, 6)
    (tmp_path / "blocker").write_text("a file where a folder should be")
    cases = [
        (["notes.mp4"], "not a video file"),
        (["cut.mp4"], "damaged or truncated"),
        (["hollow.mp4"], "has no decodable video frames"),
        (["clip.mp4", "-o", tmp_path / "blocker" / "out.mp4"], "Cannot create output folder"),
        (["clip.mp4", "--codec", "prores", "-o", tmp_path / "out.mp4"], "cannot hold prores video"),
        (["clip.mp4", "--start", "5"], "no frames to translate between --start and --end"),
    ]
    before = sorted(p.name for p in tmp_path.iterdir())
    for args, message in cases:
        code, out = invoke(*[tmp_path / a if isinstance(a, str) and a.endswith(".mp4") else a for a in args])
        assert code != 0, out
        lines = [line for line in out.splitlines() if line.startswith("Error:")]
        assert len(lines) == 1 and message in lines[0], out
        assert "Traceback" not in out
        assert sorted(p.name for p in tmp_path.iterdir()) == before, args


def test_existing_output_needs_overwrite(tmp_path):
    path = write_clip(tmp_path / "clip.mp4", Clip(pan("chelsea", 4), audio=False))
    target = tmp_path / "clip-vintage-a2b.mp4"
    target.write_bytes(b"precious")
    code, out = invoke(path, "--temporal", "off")
    assert code != 0 and "exists already; pass --overwrite" in out
    assert target.read_bytes() == b"precious"
    code, out = invoke(path, "--temporal", "off", "--overwrite")
    assert code == 0, out
    assert len(read_clip(target).frames) == 4
    (tmp_path / "renders").mkdir()
    code, out = invoke(path, "--temporal", "off", "-o", tmp_path / "renders")  # a folder: the default name inside
    assert code == 0, out
    assert [p.name for p in (tmp_path / "renders").iterdir()] == ["clip-vintage-a2b.mp4"]


def test_image_sequence_keeps_names_formats_and_bit_depths(tmp_path):
    folder = tmp_path / "shots"
    folder.mkdir()
    frames = pan("coffee", 5) + pan("astronaut", 5)  # with a cut
    for i, frame in enumerate(frames, start=1):  # f1 .. f10: natural order matters
        if i % 2:
            Image.fromarray(frame).save(folder / f"f{i}.jpg", quality=95)
        else:  # 16-bit PNG
            cv2.imwrite(str(folder / f"f{i}.png"), cv2.cvtColor(frame.astype(np.uint16) * 257, cv2.COLOR_RGB2BGR))
    (folder / "f11.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"broken" * 20)  # a damaged frame
    code, out = invoke(folder)
    assert code == 0, out
    assert "1 frame of" in out and "could not be read and was left out; the other 10 were translated" in out
    result = tmp_path / "shots-vintage-a2b"
    assert sorted(p.name for p in result.iterdir()) == sorted(p.name for p in folder.iterdir() if p.name != "f11.png")
    for name in ("f1.jpg", "f2.png", "f10.png"):
        original, translated = load_image(folder / name), load_image(result / name)
        assert translated.meta.format == original.meta.format
        assert translated.pixels.dtype == original.pixels.dtype and translated.pixels.shape == original.pixels.shape
    assert load_image(result / "f2.png").pixels.dtype == np.uint16
    assert leftovers(tmp_path) == []
    code, out = invoke(f"{folder}/*.jpg", "-o", tmp_path / "odd", "--temporal", "off")
    assert code == 0, out
    assert sorted(p.name for p in (tmp_path / "odd").iterdir()) == [f"f{i}.jpg" for i in (1, 3, 5, 7, 9)]


def test_chunk_is_documented_and_the_former_segment_option_and_variable_still_work(monkeypatch):
    code, out = helpers.invoke("video", "--help")
    assert code == 0 and "--chunk INTEGER" in out and "--segment" not in out
    assert video.make_context("video", ["clip.mp4", "--segment", "7"]).params["chunk_frames"] == 7
    assert video.make_context("video", ["clip.mp4", "--chunk", "6"]).params["chunk_frames"] == 6
    monkeypatch.setenv("CYCLEGAN_FX_VIDEO_SEGMENT_FRAMES", "9")
    assert video.make_context("video", ["clip.mp4"]).params["chunk_frames"] == 9
    monkeypatch.setenv("CYCLEGAN_FX_VIDEO_CHUNK_FRAMES", "5")
    assert video.make_context("video", ["clip.mp4"]).params["chunk_frames"] == 5
    assert video.make_context("video", ["clip.mp4", "--segment", "7"]).params["chunk_frames"] == 7


def test_resume_after_a_kill_gives_the_uninterrupted_result(tmp_path):
    # Lossless video, so that the comparison sees the translation, not x264 magnifying last-bit differences
    # of the inference between processes.
    path = write_clip(tmp_path / "clip.mkv", Clip(pan("chelsea", 32, step=(1, 1)), audio=True))
    args = [sys.executable, "-m", "cyclegan_fx", "video", str(path), *FAST, "--temporal", "off", "--chunk", "8",
            "--codec", "ffv1"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    whole = tmp_path / "whole.mkv"
    subprocess.run([*args, "-o", str(whole)], env=env, check=True, capture_output=True, timeout=600)

    target = tmp_path / "resumed.mkv"
    work = tmp_path / f".{target.name}.cyclegan-fx-work"
    process = subprocess.Popen([*args, "-o", str(target)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (work / "video-00001.json").exists():
        assert process.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not target.exists()
    finished = len(list(work.glob("video-*.json")))
    assert 2 <= finished < 4

    result = subprocess.run([*args, "-o", str(target), "--resume"], env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    assert re.search(rf"\b{finished * 8}/\d+ frames", result.stderr)  # it went on after the finished chunks
    assert not work.exists()
    resumed, uninterrupted = read_clip(target), read_clip(whole)
    assert resumed.pts == uninterrupted.pts and resumed.audio == uninterrupted.audio
    assert min(psnr(a, b) for a, b in zip(resumed.frames, uninterrupted.frames)) > 45
