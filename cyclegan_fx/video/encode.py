"""Choose and configure the video encoder: codec, pixel format, quality, colour tags.

One function configures every encoder context, both the ones that write chunks and the
one the final file is muxed through, so all of them agree on the stream's parameters.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from cyclegan_fx.errors import ConfigError
from cyclegan_fx.video.colour import RANGE_FULL, ColourTags, YuvMatrix, yuv_matrix
from cyclegan_fx.video.config import EncodeSettings
from cyclegan_fx.video.frames import bit_depth, is_planar_yuv, planar_yuv_name, subsampling
from cyclegan_fx.video.muxers import muxer_accepts, starts
from cyclegan_fx.video.probe import VideoSource

log = logging.getLogger("cyclegan_fx")

# Codec family (FFmpeg's decoder name) -> the encoder that writes it.
ENCODERS = {
    "h264": "libx264",
    "hevc": "libx265",
    "prores": "prores_ks",
    "ffv1": "ffv1",
    "vp9": "libvpx-vp9",
    "av1": "libsvtav1",
}
DEFAULT_CRF = 18
_CRF = {"libx264", "libx265", "libvpx-vp9", "libsvtav1"}
_PRESET = {"libx264": "medium", "libx265": "medium", "libsvtav1": "8"}
_FIXED_OPTIONS = {
    "libx265": {"x265-params": "log-level=none"},
    "libvpx-vp9": {"b": "0", "row-mt": "1"},
    "ffv1": {"level": "3", "slicecrc": "1"},
}
_CHROMA_PREFERENCE = ((2, 2), (2, 1), (1, 1))


@dataclass(frozen=True)
class EncoderSpec:
    """Everything that determines the encoded video stream (the same in every chunk)."""

    encoder: str
    pix_fmt: str
    width: int
    height: int
    time_base: Fraction
    frame_rate: Fraction | None
    options: tuple[tuple[str, str], ...]
    tags: ColourTags

    @property
    def matrix(self) -> YuvMatrix:
        return yuv_matrix(self.tags, self.width, self.height, self.pix_fmt)

    def describe(self) -> dict:
        return {"encoder": self.encoder, "pix_fmt": self.pix_fmt, "options": dict(self.options)}


def choose_encoder(source: VideoSource, settings: EncodeSettings, muxer: str) -> EncoderSpec:
    """The encoder for ``source`` in a ``muxer`` (FFmpeg's name) under the user's settings."""
    encoder = _encoder_name(settings.codec, source.codec, muxer)
    codec = av.Codec(encoder, "w")
    pix_fmt = _pix_fmt(codec, source, settings.pix_fmt)
    if source.bits > 8 and bit_depth(av.VideoFormat(pix_fmt)) <= 8:
        log.warning("The %s encoder here writes 8-bit video only; the %d-bit input becomes 8-bit.",
                    encoder, source.bits)
    tags = source.tags
    if source.matrix.full_range and tags.range != RANGE_FULL:
        tags = ColourTags(tags.matrix, RANGE_FULL, tags.primaries, tags.transfer)
    return EncoderSpec(
        encoder=encoder,
        pix_fmt=pix_fmt,
        width=source.width,
        height=source.height,
        time_base=source.time_base,
        frame_rate=source.frame_rate,
        options=tuple(sorted(_options(encoder, settings, pix_fmt).items())),
        tags=tags,
    )


def output_muxer(path: Path) -> str:
    """FFmpeg's muxer for ``path``'s suffix, or a ConfigError."""
    try:
        container = av.open(os.fspath(path), "w")  # nothing is written before the first packet
    except ValueError:
        raise ConfigError(f"Cannot write {path}: FFmpeg knows no video format for "
                          f"{path.suffix or 'a name without a suffix'}; use .mp4, .mov or .mkv.") from None
    name = container.format.name
    container.close()
    return name


def configure(cc: av.video.codeccontext.VideoCodecContext, spec: EncoderSpec) -> None:
    """Apply ``spec`` to an encoder context that is not open yet."""
    if spec.encoder == "libsvtav1":
        os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints a banner per encoder unless told otherwise
    cc.width, cc.height, cc.pix_fmt = spec.width, spec.height, spec.pix_fmt
    cc.time_base = spec.time_base
    if spec.frame_rate:
        cc.framerate = spec.frame_rate
    cc.options = dict(spec.options)
    cc.color_range = spec.tags.range
    cc.colorspace = spec.tags.matrix
    cc.color_primaries = spec.tags.primaries
    cc.color_trc = spec.tags.transfer
    cc.thread_count = 0


def new_encoder(spec: EncoderSpec, muxer: str) -> av.video.codeccontext.VideoCodecContext:
    """A fresh encoder context for packets bound for ``muxer``; each chunk gets its own, so it opens
    with a keyframe."""
    cc = av.CodecContext.create(spec.encoder, "w")
    configure(cc, spec)
    if av.format.ContainerFormat(muxer, "w").flags & av.format.Flags.global_header.value:
        cc.flags |= av.codec.context.Flags.global_header
    return cc


def codec_family(encoder: str) -> str:
    return next((family for family, name in ENCODERS.items() if name == encoder), encoder)


def muxer_writes(muxer: str, spec: EncoderSpec) -> bool:
    """Whether a ``muxer`` file of ``spec``'s video can be started (swf takes no H.264, mpeg1video wants a
    standard frame rate)."""
    return starts(muxer, lambda container: configure(container.add_stream(spec.encoder).codec_context, spec))


def _encoder_name(requested: str, input_codec: str, muxer: str) -> str:
    if requested == "auto":
        for candidate in (ENCODERS.get(input_codec), "libx264"):
            if candidate and muxer_accepts(muxer, candidate):
                return candidate
        container = av.open(os.devnull, "w", format=muxer)
        default = container.default_video_codec
        container.close()
        return av.Codec(default, "w").name
    encoder = ENCODERS.get(requested, requested)
    if encoder not in ENCODERS.values():
        raise ConfigError(f"Unknown codec {requested!r}; choose auto, {', '.join(ENCODERS)}.")
    if not muxer_accepts(muxer, encoder):
        raise ConfigError(f"The {muxer.split(',')[0]} format cannot hold {codec_family(encoder)} video; choose "
                          "another --codec or an output such as .mkv or .mov.")
    return encoder


def _pix_fmt(codec: av.Codec, source: VideoSource, requested: str | None) -> str:
    supported = [f.name for f in codec.video_formats or ()]
    if requested:
        if requested not in supported:
            raise ConfigError(f"The {codec.name} encoder cannot write {requested}; it writes {', '.join(supported)}.")
        return requested
    depth = 8 if source.bits <= 8 else source.bits
    chromas = [source.chroma] + [c for c in _CHROMA_PREFERENCE if c != source.chroma]
    for chroma in chromas:
        depths = sorted((bit_depth(av.VideoFormat(f)) for f in supported if _planar(f, chroma)),
                        key=lambda d: (d < depth, abs(d - depth)))
        if depths:
            return planar_yuv_name(chroma, depths[0])
    return supported[0]


def _planar(name: str, chroma: tuple[int, int]) -> bool:
    fmt = av.VideoFormat(name)
    return (
        is_planar_yuv(fmt)
        and len(fmt.components) == 3
        and not name.startswith("yuvj")
        and subsampling(fmt) == chroma
        and planar_yuv_name(chroma, bit_depth(fmt)) == name
    )


def _options(encoder: str, settings: EncodeSettings, pix_fmt: str) -> dict[str, str]:
    if settings.crf is not None and encoder not in _CRF:
        raise ConfigError(f"--crf does not apply to {codec_family(encoder)}, which has no CRF quality setting.")
    if settings.preset is not None and encoder not in _PRESET:
        raise ConfigError(f"--preset does not apply to {codec_family(encoder)}.")
    options = dict(_FIXED_OPTIONS.get(encoder, {}))
    if encoder in _CRF:
        options["crf"] = str(DEFAULT_CRF if settings.crf is None else settings.crf)
    if encoder in _PRESET:
        options["preset"] = settings.preset or _PRESET[encoder]
    if encoder == "prores_ks":
        options["profile"] = "4444" if subsampling(av.VideoFormat(pix_fmt)) == (1, 1) else "hq"
    return options
