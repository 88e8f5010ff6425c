"""`cyclegan-fx video` with the containers and codecs of other encoders, into .mp4 and into the default output.

Clips are tiny (64x48, 6 frames; H.263 takes 128x96 at the least) and made here with PyAV; each run ends
with an output whose frames, size and sound are checked, or with one sentence, never a traceback, a
process abort, a --resume hint or files left behind.
"""

from __future__ import annotations

import fractions
import threading
from dataclasses import dataclass

import av
import pytest
from clips import AMR_NB, Clip, pan, read_clip, undecodable_theora, write_clip
from test_video_cli import invoke, leftovers

from cyclegan_fx.video import join
from cyclegan_fx.video.pipeline import in_thread

TIME_BASE = fractions.Fraction(1, 25)  # the H.263 family and MPEG-1/2 take no 1/90000 time base
FAST = ("--temporal", "off")


@dataclass(frozen=True)
class Shape:
    """An input clip, and what its sound becomes in .mp4 and in the default output (decoder names)."""

    name: str
    codec: str
    audio: str | None  # the encoder of its sound (AMR_NB: muxed without one)
    into_mp4: str | None
    default: str  # the default output's name
    default_video: str
    default_audio: str | None
    size: tuple[int, int] = (48, 64)
    pix_fmt: str = "yuv420p"
    audio_rate: int = 48000
    audio_layout: str = "stereo"

    def __str__(self) -> str:
        return f"{self.name}:{self.codec}+{self.audio}"


SHAPES = [
    Shape("clip.wmv", "wmv2", "wmav2", "aac", "clip-vintage-a2b.wmv", "h264", "wmav2"),  # mp4 cannot hold WMA
    Shape("clip.asf", "msmpeg4v3", "wmav1", "aac", "clip-vintage-a2b.asf", "h264", "wmav1"),
    Shape("clip.rm", "rv10", "ac3", "ac3", "clip-vintage-a2b.mkv", "h264", "ac3"),  # .rm holds RealVideo only
    # mp4 tags MPEG-1 audio so that it reads back as mp3
    Shape("clip.mpg", "mpeg2video", "mp2", "mp3float", "clip-vintage-a2b.mpg", "h264", "mp2"),
    Shape("clip.m1v", "mpeg1video", None, None, "clip-vintage-a2b.mkv", "h264", None),
    Shape("clip.m2v", "mpeg2video", None, None, "clip-vintage-a2b.mkv", "h264", None),
    Shape("clip.flv", "flv", "aac", "aac", "clip-vintage-a2b.flv", "h264", "aac"),
    Shape("clip.swf", "flv", None, None, "clip-vintage-a2b.mkv", "h264", None),  # swf takes no H.264
    Shape("clip.avi", "mpeg4", "libmp3lame", "mp3float", "clip-vintage-a2b.avi", "h264", "mp3float"),
    Shape("clip.avi", "mpeg4", "ac3", "ac3", "clip-vintage-a2b.avi", "h264", "ac3"),
    Shape("clip.3gp", "h263", AMR_NB, "aac", "clip-vintage-a2b.3gp", "h264", "amrnb",
          size=(96, 128), audio_rate=8000, audio_layout="mono"),
    Shape("clip.ogg", "libvpx", "vorbis", "vorbis", "clip-vintage-a2b.mkv", "h264", "vorbis"),  # Ogg: no H.264
    Shape("clip.webm", "libvpx", "vorbis", "vorbis", "clip-vintage-a2b.webm", "vp9", "vorbis"),
    Shape("clip.mkv", "libx264", "vorbis", "vorbis", "clip-vintage-a2b.mkv", "h264", "vorbis"),
    Shape("clip.mkv", "libx264", "mp2", "mp3float", "clip-vintage-a2b.mkv", "h264", "mp2"),
    Shape("clip.gif", "gif", None, None, "clip-vintage-a2b.mkv", "h264", None, pix_fmt="rgb8"),  # not 256 colours
]
MKV_INSTEAD = "files with a modern video codec; the output is .mkv."


def tiny(path, codec: str, audio: str | None, **settings):
    for encoder in (codec, audio):
        if encoder not in (None, AMR_NB):
            try:
                av.Codec(encoder, "w")
            except ValueError:
                pytest.skip(f"PyAV's FFmpeg here has no {encoder} encoder")
    clip = Clip(pan("coffee", 6, size=settings.pop("size", (48, 64))), codec=codec, time_base=TIME_BASE,
                audio=audio is not None, audio_codec=audio or "aac", **settings)
    return write_clip(path, clip)


def shaped(folder, shape: Shape):
    return tiny(folder / shape.name, shape.codec, shape.audio, size=shape.size, pix_fmt=shape.pix_fmt,
                audio_rate=shape.audio_rate, audio_layout=shape.audio_layout)


def check_output(path, size: tuple[int, int], video: str, audio: str | None) -> None:
    result = read_clip(path)
    assert len(result.frames) == 6 and result.frames[0].shape == (*size, 3)
    assert result.codec == video
    if audio is None:
        assert [kind for kind, _ in result.streams] == ["video"]
    else:
        assert ("audio", audio) in result.streams and result.audio


def succeeded(code: int, out: str) -> None:
    assert code == 0, out
    assert "Traceback" not in out and "--resume" not in out
    assert "damaged" not in out and "truncated" not in out  # an AVI's dropped frame is neither


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_every_shape_into_mp4(tmp_path, shape):
    path = shaped(tmp_path, shape)
    code, out = invoke(path, "-o", tmp_path / "out.mp4", *FAST)
    succeeded(code, out)
    check_output(tmp_path / "out.mp4", shape.size, "h264", shape.into_mp4)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([shape.name, "out.mp4"])


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_every_shape_into_the_default_output(tmp_path, shape):
    path = shaped(tmp_path, shape)
    code, out = invoke(path, *FAST)
    succeeded(code, out)
    check_output(tmp_path / shape.default, shape.size, shape.default_video, shape.default_audio)
    assert (MKV_INSTEAD in out) == (path.suffix != ".mkv" and shape.default.endswith(".mkv"))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([shape.name, shape.default])


def test_a_format_the_sound_needs_another_codec_for_gets_one_it_holds(tmp_path):
    path = tiny(tmp_path / "clip.mkv", "libx264", "aac")
    code, out = invoke(path, "-o", tmp_path / "out.mpg", *FAST)  # MPEG-PS takes no AAC; it only says so when started
    succeeded(code, out)
    assert "A mpeg file cannot hold stream 1 (audio, aac); it is re-encoded to mp2." in out
    check_output(tmp_path / "out.mpg", (48, 64), "h264", "mp2")
    assert leftovers(tmp_path) == []


def test_an_avi_cut_short_is_still_reported_as_truncated(tmp_path):
    whole = write_clip(tmp_path / "whole.avi", Clip(pan("coffee", 24, size=(48, 64), noise=20), codec="mpeg4",
                                                    time_base=TIME_BASE, audio=False))
    cut = tmp_path / "cut.avi"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 6 // 10])
    code, out = invoke(cut, *FAST)
    assert code == 0, out
    assert f"{cut} announces 24 frames but only " in out and "(it may be truncated)" in out


@pytest.mark.parametrize(("name", "codec", "output", "encoder"), [
    ("clip.m1v", "mpeg1video", "out.m1v", "mpeg1video"),  # wants a standard frame rate and time base
    ("clip.mkv", "libx264", "out.m2v", "mpeg2video"),
    ("clip.mkv", "libx264", "out.ogg", "libx264"),  # Ogg takes no H.264
])
def test_output_format_that_cannot_be_written_is_refused_in_one_sentence(tmp_path, name, codec, output, encoder):
    path = tiny(tmp_path / name, codec, None)
    code, out = invoke(path, "-o", tmp_path / output, *FAST)
    assert code != 0
    assert "Traceback" not in out and "--resume" not in out
    assert out.strip().splitlines()[-1] == (f"Error: FFmpeg here cannot write {output} with {encoder} video; "
                                            "use an output such as .mkv or .mp4.")
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


@pytest.mark.parametrize("output", [("-o", "out.mp4"), ()], ids=["mp4", "default"])
def test_a_stream_ffmpeg_cannot_decode_is_refused_with_what_to_do(tmp_path, output):
    path = undecodable_theora(tmp_path / "clip.ogv")
    code, out = invoke(path, *[tmp_path / a if a.endswith(".mp4") else a for a in output], *FAST)
    assert code != 0
    assert "Traceback" not in out and "--resume" not in out
    assert out.strip().splitlines()[-1] == (
        f"Error: Cannot read {path}: FFmpeg here cannot decode its theora video (operation not permitted); "
        "convert it to MP4 or MKV with another program (for example ffmpeg -i clip.ogv clip.mp4) and translate that.")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.ogv"]


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
    code, out = invoke(path, "-o", tmp_path / "out.mp4", *FAST)
    assert code != 0
    assert "Traceback" not in out and "--resume" not in out
    assert out.strip().splitlines()[-1].startswith("Error: Cannot write mp4 output")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mkv"]
