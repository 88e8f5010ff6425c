"""`cyclegan-fx video` with containers and codecs of other encoders: WMV/ASF, RealMedia, raw MPEG-1, SWF, FLV.

Clips are tiny (64x48, 6 frames) and made here with PyAV; each run ends with an output or one sentence,
never a traceback, a process abort or files left behind.
"""

from __future__ import annotations

import fractions
import threading

import pytest
from clips import Clip, pan, read_clip, write_clip
from test_video_cli import invoke, leftovers

from cyclegan_fx.video import join
from cyclegan_fx.video.pipeline import in_thread

TIME_BASE = fractions.Fraction(1, 25)  # the H.263 family and MPEG-1 take no 1/90000 time base


def tiny(path, codec: str, audio: str | None):
    clip = Clip(pan("coffee", 6, size=(48, 64)), codec=codec, time_base=TIME_BASE, audio=audio is not None,
                audio_codec=audio or "aac")
    return write_clip(path, clip)


@pytest.mark.parametrize(("name", "codec", "audio", "audio_out"), [
    ("clip.wmv", "wmv2", "wmav2", "aac"),  # mp4 cannot hold WMA: re-encoded
    ("clip.rm", "rv10", "ac3", "ac3"),
    ("clip.flv", "flv", "aac", "aac"),
    ("clip.mkv", "libx264", "mp2", "mp3float"),  # copied; mp4 tags MPEG-1 audio so that it reads back as mp3
])
def test_other_formats_into_mp4(tmp_path, name, codec, audio, audio_out):
    path = tiny(tmp_path / name, codec, audio)
    code, out = invoke(path, "-o", tmp_path / "out.mp4", "--temporal", "off")
    assert code == 0, out
    assert "Traceback" not in out and "--resume" not in out
    result = read_clip(tmp_path / "out.mp4")
    assert len(result.frames) == 6 and result.frames[0].shape == (48, 64, 3)
    assert ("audio", audio_out) in result.streams and result.audio
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(("name", "codec"), [("clip.m1v", "mpeg1video"), ("clip.swf", "flv")])
def test_input_format_that_cannot_be_written_defaults_to_mkv(tmp_path, name, codec):
    path = tiny(tmp_path / name, codec, None)
    code, out = invoke(path, "--temporal", "off")
    assert code == 0, out
    result = read_clip(tmp_path / "clip-vintage-a2b.mkv")
    assert len(result.frames) == 6
    assert leftovers(tmp_path) == []


def test_output_format_that_cannot_be_written_is_refused_in_one_sentence(tmp_path):
    path = tiny(tmp_path / "clip.m1v", "mpeg1video", None)
    code, out = invoke(path, "-o", tmp_path / "out.m1v", "--temporal", "off")
    assert code != 0
    assert "Traceback" not in out and "--resume" not in out
    assert out.strip().splitlines()[-1].startswith("Error: FFmpeg here cannot write out.m1v")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.m1v"]


def test_a_failing_stage_leaves_no_thread_running():
    def failing():
        yield 1
        raise RuntimeError("avcodec_open2 failed")

    with pytest.raises(RuntimeError):
        list(in_thread(failing(), 2, "failing-stage"))
    assert not [t for t in threading.enumerate() if t.name == "failing-stage"]


def test_a_stream_the_muxer_refuses_midway_is_one_sentence(tmp_path, monkeypatch):
    convert = join._Copy.convert

    def backwards(self, packet, span):  # timestamps going back, as some RealMedia files have
        for when, out in convert(self, packet, span):
            out.pts = out.dts = -out.dts
            yield when, out

    monkeypatch.setattr(join._Copy, "convert", backwards)
    path = tiny(tmp_path / "clip.mkv", "libx264", "ac3")
    code, out = invoke(path, "-o", tmp_path / "out.mp4", "--temporal", "off")
    assert code != 0
    assert "Traceback" not in out and "--resume" not in out
    assert out.strip().splitlines()[-1].startswith("Error: Cannot write mp4 output")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mkv"]
