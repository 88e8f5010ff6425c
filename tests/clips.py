"""Make small test clips with PyAV and read them back, independently of cyclegan_fx.video.

Clips are moving crops of the sample photos (a camera pan), encoded with FFmpeg's own
RGB -> YUV conversion for the matrix and range asked for, with a sine-wave track (AAC unless
asked otherwise) and, on request, subtitles. Reading back decodes with FFmpeg's conversion for the file's tags.
"""

from __future__ import annotations

import fractions
import struct
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import Colorspace, Interpolation
from helpers import DATA
from PIL import Image

# AMR-NB needs no encoder here: it is muxed from made-up frames (FFmpeg builds without libopencore, such as
# PyAV 18.1.1's, cannot encode it, and phone clips carry it).
AMR_NB = "amr_nb"
BT709, BT601, BT2020 = 1, 6, 9  # AVColorSpace
LIMITED, FULL = 1, 2
_SWS = {BT709: Colorspace.ITU709, BT601: Colorspace.SMPTE170M, 2: Colorspace.SMPTE170M, BT2020: Colorspace.BT2020}
_FLAGS = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT
_FLAGS_DEEP = Interpolation.BILINEAR | Interpolation.ACCURATE_RND  # FULL_CHR_H_INT zeroes 10-bit -> rgb48 here


def photo(name: str) -> np.ndarray:
    return np.asarray(Image.open(DATA / f"{name}.jpg").convert("RGB"))


def pan(name: str, count: int, size: tuple[int, int] = (64, 96), step: tuple[int, int] = (1, 2),
        origin: tuple[int, int] = (20, 20), noise: float = 0.0, seed: int = 0) -> list[np.ndarray]:
    """``count`` crops of ``size`` (h, w) moving by ``step`` pixels a frame: a camera pan."""
    image = photo(name).astype(np.float32)
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(count):
        y, x = origin[0] + i * step[0], origin[1] + i * step[1]
        crop = image[y : y + size[0], x : x + size[1]]
        if noise:
            crop = crop + rng.normal(0.0, noise, crop.shape)
        frames.append(np.clip(crop + 0.5, 0, 255).astype(np.uint8))
    return frames


@dataclass
class Clip:
    frames: list[np.ndarray]
    codec: str = "libx264"
    pix_fmt: str = "yuv420p"
    time_base: fractions.Fraction = fractions.Fraction(1, 90000)
    pts: list[int] | None = None  # None: constant 25 fps
    matrix: int = BT601
    range: int = LIMITED
    primaries: int = 6
    transfer: int = 6
    rotation: int = 0
    metadata: dict[str, str] = field(default_factory=dict)
    audio: bool = True
    audio_codec: str = "aac"
    audio_rate: int = 48000
    audio_layout: str = "stereo"
    subtitles: bool = False

    def timestamps(self) -> list[int]:
        if self.pts is not None:
            return self.pts
        step = int(1 / (25 * self.time_base))
        return [i * step for i in range(len(self.frames))]


def write_clip(path: Path, clip: Clip) -> Path:
    pts = clip.timestamps()
    rate = fractions.Fraction(len(pts) - 1, 1) / ((pts[-1] - pts[0]) * clip.time_base) if len(pts) > 1 else 25
    with av.open(str(path), "w") as out:
        out.metadata.update(clip.metadata)
        video = out.add_stream(clip.codec, rate=fractions.Fraction(rate).limit_denominator(1000),
                               options={"crf": "12"} if clip.codec in ("libx264", "libx265") else {})
        if clip.codec == "libx265":
            video.codec_context.options = {"crf": "12", "x265-params": "log-level=none"}
        height, width = clip.frames[0].shape[:2]
        video.width, video.height, video.pix_fmt = width, height, clip.pix_fmt
        video.time_base = video.codec_context.time_base = clip.time_base
        cc = video.codec_context
        cc.colorspace, cc.color_range = clip.matrix, clip.range
        cc.color_primaries, cc.color_trc = clip.primaries, clip.transfer
        if clip.rotation:
            video.set_display_rotation(clip.rotation)
        audio = _audio_stream(out, clip) if clip.audio else None
        subtitles = out.add_mux_stream("subrip") if clip.subtitles else None
        if subtitles is not None:
            subtitles.time_base = fractions.Fraction(1, 1000)
            subtitles.metadata["language"] = "eng"
        for rgb, stamp in zip(clip.frames, pts):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
                format=clip.pix_fmt, dst_colorspace=_SWS[clip.matrix], dst_color_range=clip.range, interpolation=_FLAGS)
            frame.pts, frame.time_base = stamp, clip.time_base
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        seconds = float((pts[-1] + pts[1] - pts[0]) * clip.time_base) if len(pts) > 1 else 0.04
        if audio is not None and clip.audio_codec == AMR_NB:
            _amr_nb(out, audio, seconds)
        elif audio is not None:
            _sine(out, audio, seconds, clip.audio_rate)
        if subtitles is not None:
            for i, start in enumerate(np.arange(0.0, seconds, 0.4)):
                packet = av.Packet(f"Line {i}".encode())
                packet.pts = packet.dts = int(start * 1000)
                packet.duration, packet.time_base, packet.stream = 300, fractions.Fraction(1, 1000), subtitles
                out.mux(packet)
    return path


def _audio_stream(out, clip: Clip):
    if clip.audio_codec == AMR_NB:
        return out.add_mux_stream(AMR_NB, rate=8000)
    audio = out.add_stream(clip.audio_codec, rate=clip.audio_rate, layout=clip.audio_layout, bit_rate=128000)
    if audio.codec_context.codec.experimental:  # FFmpeg's own Vorbis encoder
        audio.codec_context.options = {"strict": "experimental"}
    return audio


def _amr_nb(out, audio, seconds: float) -> None:
    """AMR-NB frames at 12.2 kbit/s (a mode byte, then 31 bytes) of random bits: any bits decode, as noise."""
    rng = np.random.default_rng(0)
    for i in range(round(seconds * 50)):  # 20 ms, 160 samples at 8 kHz, each
        packet = av.Packet(bytes([0x3C]) + rng.integers(0, 256, 31, dtype=np.uint8).tobytes())
        packet.pts = packet.dts = i * 160
        packet.duration, packet.time_base, packet.stream = 160, fractions.Fraction(1, 8000), audio
        out.mux(packet)


def _sine(out, audio, seconds: float, rate: int) -> None:
    samples = int(seconds * rate)
    wave = (0.3 * np.sin(2 * np.pi * 440 * np.arange(samples) / rate)).astype(np.float32)
    cc = audio.codec_context
    layout = cc.layout.name
    resampler = av.AudioResampler(cc.format.name, layout, rate, frame_size=cc.frame_size or None)
    for start in range(0, samples, 1024):
        chunk = np.ascontiguousarray(np.stack([wave[start : start + 1024]] * cc.layout.nb_channels))
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
        frame.sample_rate, frame.pts = rate, start
        for resampled in resampler.resample(frame):
            out.mux(audio.encode(resampled))
    for resampled in resampler.resample(None):
        out.mux(audio.encode(resampled))
    out.mux(audio.encode(None))


@dataclass
class ReadBack:
    frames: list[np.ndarray]  # float RGB in [0, 1], decoded by FFmpeg with the file's tags
    pts: list[int]
    durations: list[int]
    time_base: fractions.Fraction
    codec: str
    pix_fmt: str
    tags: tuple[int, int, int, int]  # matrix, range, primaries, transfer
    rotation: int
    metadata: dict[str, str]
    streams: list[tuple[str, str]]  # (type, codec) of every stream
    audio: list[tuple[bytes, float]]  # packets of the first audio stream: data and time in seconds
    subtitles: list[tuple[bytes, float]]


def read_clip(path: Path) -> ReadBack:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        cc = video.codec_context
        tags = (cc.colorspace, cc.color_range, cc.color_primaries, cc.color_trc)
        frames, pts, rotation = [], [], 0
        deep = "10" in (cc.pix_fmt or "")
        for frame in container.decode(video):
            rotation = frame.rotation
            rgb = frame.reformat(format="rgb48le" if deep else "rgb24", src_colorspace=_SWS.get(tags[0], 5),
                                 src_color_range=tags[1] or LIMITED,
                                 interpolation=_FLAGS_DEEP if deep else _FLAGS).to_ndarray()
            frames.append(rgb.astype(np.float32) / (65535.0 if deep else 255.0))
            pts.append(frame.pts)
        streams = [(s.type, s.codec_context.name if s.codec_context else "") for s in container.streams]
        metadata = dict(container.metadata)
        time_base, pix_fmt, codec = video.time_base, cc.pix_fmt, cc.name
    durations = {p.pts: p.duration for p in _demuxed(path, "video")}  # reopened: FLV cannot seek back to 0
    return ReadBack(frames, pts, [durations.get(p) for p in pts], time_base, codec, pix_fmt, tags, rotation,
                    metadata, streams, _packets(path, "audio"), _packets(path, "subtitle"))


def _packets(path: Path, kind: str) -> list[tuple[bytes, float]]:
    return [(bytes(p), float(p.pts * p.time_base)) for p in _demuxed(path, kind)]


def _demuxed(path: Path, kind: str) -> list[av.Packet]:
    """The packets of the first stream of ``kind``, in file order."""
    with av.open(str(path)) as container:
        streams = [s for s in container.streams if s.type == kind]
        return [p for p in container.demux(streams[0]) if p.size] if streams else []


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def corrupt(path: Path, target: Path, first: int, count: int, seed: int = 0) -> Path:
    """A copy of ``path`` with the payload of video packets first..first+count-1 (file order) overwritten."""
    data = bytearray(path.read_bytes())
    with av.open(str(path)) as container:
        packets = [(p.pos, p.size) for p in container.demux(container.streams.video[0]) if p.size]
    rng = np.random.default_rng(seed)
    for pos, size in packets[first : first + count]:
        data[pos + 4 : pos + size] = rng.integers(0, 256, size - 4, dtype=np.uint8).tobytes()
    target.write_bytes(bytes(data))
    return target


def undecodable_theora(path: Path, size: tuple[int, int] = (48, 64), count: int = 6) -> Path:
    """An Ogg Theora clip, written page by page, whose setup header FFmpeg's Theora decoder rejects.

    No Theora encoder is needed: the identification and comment headers are valid, so the
    demuxer finds a 64x48 25 fps Theora stream, but the decoder cannot be opened.
    """
    height, width = size
    ident = b"\x80theora" + bytes([3, 2, 1]) + struct.pack(">HH", width // 16, height // 16)
    ident += width.to_bytes(3, "big") + height.to_bytes(3, "big") + bytes([0, 0]) + struct.pack(">II", 25, 1)
    ident += (1).to_bytes(3, "big") * 2 + bytes([0]) + (0).to_bytes(3, "big")
    ident += bytes([32 << 2, 6 << 5])  # quality 32, keyframe granule shift 6
    comment = b"\x81theora" + struct.pack("<II", 0, 0)
    setup = b"\x82theora" + bytes(range(1, 64))
    pages = [_ogg_page([ident], 0, 0, _OGG_FIRST), _ogg_page([comment, setup], 1, 0, 0)]
    for i in range(count):
        frame = bytes([0x00 if i == 0 else 0x40]) + bytes(20)
        pages.append(_ogg_page([frame], 2 + i, i, _OGG_LAST if i == count - 1 else 0))
    path.write_bytes(b"".join(pages))
    return path


_OGG_FIRST, _OGG_LAST = 2, 4


def _ogg_page(packets: list[bytes], sequence: int, granule: int, flags: int) -> bytes:
    lacing = b"".join(bytes([255] * (len(p) // 255) + [len(p) % 255]) for p in packets)
    page = b"OggS" + bytes([0, flags]) + struct.pack("<qII", granule, 1, sequence) + bytes(4)
    page += bytes([len(lacing)]) + lacing + b"".join(packets)
    return page[:22] + struct.pack("<I", _ogg_crc(page)) + page[26:]


def _ogg_crc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7 if crc & 0x80000000 else crc << 1) & 0xFFFFFFFF
    return crc
