"""Video input and output without a model: colour conversion, probing, decoding, encoder choice, bad files."""

from __future__ import annotations

import fractions
import json

import av
import numpy as np
import pytest
from av.video.reformatter import Colorspace, Interpolation
from clips import BT601, BT709, BT2020, FULL, LIMITED, Clip, corrupt, pan, write_clip

from cyclegan_fx.errors import ConfigError, VideoReadError
from cyclegan_fx.video.colour import ColourTags, yuv_matrix
from cyclegan_fx.video.config import EncodeSettings, parse_time
from cyclegan_fx.video.decode import ResumePoint, Window, decode
from cyclegan_fx.video.encode import choose_encoder, output_muxer
from cyclegan_fx.video.frames import from_rgb, to_rgb
from cyclegan_fx.video.probe import probe
from cyclegan_fx.video.work import ChunkRecord, WorkFolder

FLAGS = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT
SWS = {BT709: Colorspace.ITU709, BT601: Colorspace.SMPTE170M, BT2020: Colorspace.BT2020}


@pytest.fixture(scope="module")
def rgb() -> np.ndarray:
    frame = pan("coffee", 1, size=(48, 64))[0].copy()
    frame[:8, :8] = (255, 0, 0)  # saturated patches, where matrices differ most
    frame[:8, 8:16] = (0, 0, 255)
    frame[8:16, :8] = (255, 255, 255)
    return frame


@pytest.mark.parametrize("matrix", [BT601, BT709, BT2020])
@pytest.mark.parametrize("colour_range", [LIMITED, FULL])
@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv444p10le"])
def test_conversion_matches_ffmpeg_for_each_matrix_and_range(rgb, matrix, colour_range, pix_fmt):
    conversion = yuv_matrix(ColourTags(matrix, colour_range), 64, 48, pix_fmt)
    ours = from_rgb(rgb / 255.0, pix_fmt, conversion)
    ffmpeg = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
        format=pix_fmt, dst_colorspace=SWS[matrix], dst_color_range=colour_range)
    for index, (a, b) in enumerate(zip(ours.planes, ffmpeg.planes)):
        dtype = np.uint16 if "10" in pix_fmt else np.uint8
        difference = np.abs(np.frombuffer(a, dtype).reshape(a.height, -1)[:, : a.width].astype(int)
                            - np.frombuffer(b, dtype).reshape(b.height, -1)[:, : b.width].astype(int))
        assert difference.mean() < 1.0  # FFmpeg rounds a code value or so off, and filters chroma differently
        if index == 0:
            assert difference.max() <= 3
    reference = ffmpeg.reformat(format="rgb24", src_colorspace=SWS[matrix], src_color_range=colour_range,
                                interpolation=FLAGS).to_ndarray()
    decoded = to_rgb(ffmpeg, conversion)
    assert decoded.dtype == np.float32
    assert np.abs(decoded * 255 - reference).mean() < 1.0
    other = yuv_matrix(ColourTags(BT601 if matrix != BT601 else BT709, colour_range), 64, 48, pix_fmt)
    assert np.abs(to_rgb(ffmpeg, other) * 255 - reference).max() > 10  # the test tells the matrices apart


def test_range_ends_are_exact():
    white = np.ones((16, 16, 3), np.float32)
    black = np.zeros((16, 16, 3), np.float32)
    for pix_fmt, colour_range, top, bottom in [("yuv420p", LIMITED, 235, 16), ("yuv420p10le", LIMITED, 940, 64),
                                               ("yuv420p", FULL, 255, 0), ("yuv420p10le", FULL, 1023, 0)]:
        conversion = yuv_matrix(ColourTags(BT709, colour_range), 16, 16, pix_fmt)
        luma = [np.frombuffer(from_rgb(x, pix_fmt, conversion).planes[0], np.uint16 if "10" in pix_fmt else np.uint8)
                for x in (white, black)]
        assert luma[0].max() == top and luma[1].min() == bottom
        assert to_rgb(from_rgb(white, pix_fmt, conversion), conversion).min() > 1 - 1e-5


def test_untagged_video_follows_players():
    assert yuv_matrix(ColourTags(), 1920, 1080, "yuv420p").matrix == BT709
    assert yuv_matrix(ColourTags(), 640, 480, "yuv420p").describe() == "BT.601 limited range"
    assert yuv_matrix(ColourTags(), 640, 480, "yuvj420p").full_range


def test_probe_and_decode_keep_variable_frame_timing(tmp_path):
    pts = [0, 3000, 4500, 9000, 12000, 12600, 18000, 21000]
    clip = write_clip(tmp_path / "vfr.mp4", Clip(pan("chelsea", 8), pts=pts, matrix=BT709, primaries=1, transfer=1,
                                                  rotation=90, metadata={"title": "VFR"}))
    source = probe(clip)
    assert (source.width, source.height, source.codec, source.bits) == (96, 64, "h264", 8)
    assert source.time_base == fractions.Fraction(1, 90000)
    assert source.tags == ColourTags(BT709, LIMITED, 1, 1)
    assert source.rotation == 90 and source.metadata["title"] == "VFR"
    decoded = list(decode(source))
    assert [d.pts for d in decoded] == pts
    assert [d.duration for d in decoded[:-1]] == list(np.diff(pts))
    assert [d.index for d in decoded] == list(range(8))
    window = list(decode(source, Window(0.05, 0.15)))
    assert [d.pts for d in window] == [p for p in pts if 4500 <= p < 13500]
    resumed = list(decode(source, resume=ResumePoint(4, after_pts=9000)))
    assert [(d.index, d.pts) for d in resumed] == [(4, 12000), (5, 12600), (6, 18000), (7, 21000)]


def test_encoder_choice(tmp_path):
    ten_bit = probe(write_clip(tmp_path / "hevc10.mkv", Clip(pan("rocket", 3), codec="libx265",
                                                             pix_fmt="yuv420p10le", audio=False)))
    spec = choose_encoder(ten_bit, EncodeSettings(), output_muxer(tmp_path / "out.mkv"))
    assert (spec.encoder, spec.pix_fmt) == ("libx265", "yuv420p10le")
    assert dict(spec.options)["crf"] == "18"
    spec = choose_encoder(ten_bit, EncodeSettings(codec="h264", crf=23, preset="fast"), "matroska")
    assert (spec.encoder, spec.pix_fmt, dict(spec.options)["preset"]) == ("libx264", "yuv420p10le", "fast")
    spec = choose_encoder(ten_bit, EncodeSettings(codec="prores"), "mov")
    assert (spec.encoder, spec.pix_fmt) == ("prores_ks", "yuv422p10le")
    eight_bit = probe(write_clip(tmp_path / "clip.mp4", Clip(pan("rocket", 3), audio=False)))
    assert choose_encoder(eight_bit, EncodeSettings(), "webm").encoder == "libvpx-vp9"  # webm holds no H.264
    with pytest.raises(ConfigError, match="cannot hold prores"):
        choose_encoder(eight_bit, EncodeSettings(codec="prores"), output_muxer(tmp_path / "out.mp4"))
    with pytest.raises(ConfigError, match="--crf does not apply to ffv1"):
        choose_encoder(eight_bit, EncodeSettings(codec="ffv1", crf=10), "matroska")
    with pytest.raises(ConfigError, match="cannot write yuv444p"):
        choose_encoder(eight_bit, EncodeSettings(codec="av1", pix_fmt="yuv444p"), "matroska")
    with pytest.raises(ConfigError, match="Unknown codec"):
        choose_encoder(eight_bit, EncodeSettings(codec="cinepak2000"), "matroska")
    with pytest.raises(ConfigError, match="no video format"):
        output_muxer(tmp_path / "out.notavideo")


def test_bad_inputs_are_one_sentence(tmp_path):
    (tmp_path / "text.mp4").write_text("not a video at all\n" * 50)
    (tmp_path / "empty.mov").write_bytes(b"")
    clip = write_clip(tmp_path / "clip.mp4", Clip(pan("coffee", 6)))
    (tmp_path / "truncated.mp4").write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    with av.open(str(tmp_path / "sound.m4a"), "w") as out:
        audio = out.add_stream("aac", rate=48000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 48000, 0
        out.mux(audio.encode(frame))
        out.mux(audio.encode(None))
    corrupt(clip, tmp_path / "noframes.mp4", 0, 6)
    expected = {
        "text.mp4": "not a video file, or it is damaged or truncated",
        "empty.mov": "the file is empty",
        "truncated.mp4": "not a video file, or it is damaged or truncated",
        "sound.m4a": "has no video stream",
        "noframes.mp4": "has no decodable video frames",
        "missing.mp4": "no such file",
    }
    for name, message in expected.items():
        with pytest.raises(VideoReadError, match=message) as caught:
            probe(tmp_path / name)
        assert "\n" not in str(caught.value) and str(caught.value).endswith(".")


def test_times():
    assert parse_time("12.5") == 12.5
    assert parse_time("1:02.5") == 62.5
    assert parse_time("01:00:01") == 3601
    with pytest.raises(ConfigError, match="is not a time"):
        parse_time("ten seconds")


def test_work_folder_refuses_another_jobs_work(tmp_path):
    output = tmp_path / "out.mp4"
    work = WorkFolder.prepare(output, {"input": "a", "crf": 18}, resume=False)
    work.finish("video", 0, ChunkRecord(frames=3, damage=0, last_key=2), {"thumb": np.zeros((2, 2, 3), np.float32)})
    again = WorkFolder.prepare(output, {"input": "a", "crf": 18}, resume=True)
    assert again.finished("video") == [ChunkRecord(frames=3, damage=0, last_key=2)]
    with pytest.raises(ConfigError, match="belongs to another job"):
        WorkFolder.prepare(output, {"input": "a", "crf": 20}, resume=True)
    fresh = WorkFolder.prepare(output, {"input": "a", "crf": 20}, resume=False)
    assert fresh.finished("video") == []
    assert fresh.path.name.startswith(".")  # hidden from folder watchers and globs


# Chunk records as the code before ChunkRecord wrote them, key for key (video, first pass of --temporal shot, sequence).
EARLIER_RECORDS = {
    "video": {"first_index": 8, "frames": 8, "first_pts": 24000, "last_key": 45000, "last_duration": 3000, "damage": 1,
              "extradata": "01640016ffe1"},
    "stats": {"frames": 8, "cuts": [9, 13], "damage": 0, "last_key": 45000},
    "frames": {"frames": 8, "damage": 2, "last_key": 17},
}


@pytest.mark.parametrize("kind", EARLIER_RECORDS)
def test_chunk_records_read_and_write_the_json_of_earlier_versions(tmp_path, kind):
    work = WorkFolder.prepare(tmp_path / "out.mp4", {"input": "a"}, resume=False)
    work.file(kind, 0, ".json").write_text(json.dumps(EARLIER_RECORDS[kind], indent=1))
    [record] = work.finished(kind)
    assert (record.frames, record.last_key) == (8, EARLIER_RECORDS[kind]["last_key"])
    work.finish(kind, 1, record, {"thumb": np.zeros((2, 2, 3), np.float32)})
    assert json.loads(work.file(kind, 1, ".json").read_text()) == EARLIER_RECORDS[kind]
    assert [r.extradata for r in work.finished(kind)] == [EARLIER_RECORDS[kind].get("extradata")] * 2


@pytest.mark.parametrize("record", [
    ChunkRecord(frames=4, damage=0, last_key=3),
    ChunkRecord(frames=4, damage=1, last_key=3, cuts=()),  # a first-pass chunk without cuts keeps its empty list
    ChunkRecord(frames=4, damage=0, last_key=9000, cuts=(2,), first_index=0, first_pts=0, last_duration=3000,
                extradata=""),
])
def test_chunk_record_round_trips_through_json(record):
    data = json.loads(json.dumps(record.to_json()))
    assert ChunkRecord.from_json(data) == record
    assert ("cuts" in data) == (record.cuts is not None)
