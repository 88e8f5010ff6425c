"""Join the finished chunks into the output file, with the input's other streams copied packet for packet.

Audio, subtitle and data packets are copied byte for byte with their timestamps. Where the
output's format cannot hold a stream, audio is re-encoded to the format's own audio codec (else AAC) and
anything else is dropped, each with a one-line warning. Packets of all streams are written
in time order, so the muxer never holds more than a few in memory.
"""

from __future__ import annotations

import heapq
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error

from cyclegan_fx.errors import CycleganFxError, OutputError
from cyclegan_fx.video.chunks import read_packets
from cyclegan_fx.video.encode import EncoderSpec, configure
from cyclegan_fx.video.muxers import holds_copy, writes_audio
from cyclegan_fx.video.probe import VideoSource, open_input
from cyclegan_fx.video.work import ChunkRecord, WorkFolder

log = logging.getLogger("cyclegan_fx")

# Tags a muxer writes itself; copying them would describe the input's encoding, not the output's.
_OWN_TAGS = {"encoder", "major_brand", "minor_version", "compatible_brands", "vendor_id", "duration",
             "bps", "number_of_frames", "number_of_bytes"}
_MAX_DURATION = 2**31 - 1  # muxers refuse a packet duration beyond an int
_USUAL_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


@dataclass(frozen=True)
class Span:
    """The part of the input the output covers, in seconds; ``shift`` moves it to start at zero."""

    start: float
    end: float
    shift: float  # 0 for a whole clip


def join(
    work: WorkFolder, records: Sequence[ChunkRecord], source: VideoSource, spec: EncoderSpec,
    muxer: str, target: Path, span: Span | None,
) -> None:
    """Write the output to ``target`` (a temporary name the caller renames)."""
    try:
        with open_input(source.path) as inputs, av.open(os.fspath(target), "w", format=muxer) as out:
            out.metadata.update(_tags(inputs.metadata))
            if span is None:
                _copy_chapters(inputs, out)
            video = _video_stream(out, spec, source, inputs)
            copies = [_Copy.plan(out, stream) for stream in inputs.streams if stream.index != source.stream_index]
            copies = [c for c in copies if c is not None]
            out.start_encoding()
            _check_extradata(video, records)
            ordered = heapq.merge(
                _video_packets(work, records, video, source.time_base, span),
                _copied_packets(inputs, copies, span),
                key=lambda item: item[0],
            )
            for _, packet in ordered:
                out.mux(packet)
            for copy in copies:
                out.mux(copy.flush())
    except av.error.FFmpegError as exc:  # e.g. timestamps the muxer refuses, while muxing or in the trailer
        raise _cannot_write(muxer, exc) from exc


def _cannot_write(muxer: str, exc: av.error.FFmpegError) -> OutputError:
    return OutputError(f"Cannot write {muxer.split(',')[0]} output: {exc.strerror or exc}.")


def _video_stream(out, spec: EncoderSpec, source: VideoSource, inputs) -> av.video.stream.VideoStream:
    stream = out.add_stream(spec.encoder)
    configure(stream.codec_context, spec)
    stream.time_base = spec.time_base
    original = inputs.streams[source.stream_index]
    stream.metadata.update(_tags(original.metadata))
    stream.disposition = original.disposition
    if source.rotation:
        stream.set_display_rotation(source.rotation)
    return stream


def _check_extradata(video, records: Sequence[ChunkRecord]) -> None:
    """Chunks are muxed through a stream whose header must be the one they were encoded with."""
    header = bytes(video.codec_context.extradata or b"").hex()
    if any(r.extradata != header for r in records):
        raise CycleganFxError(
            "The finished chunks were encoded with other settings than this run; "
            "run again without --resume to start afresh."
        )


def _video_packets(work, records, stream, time_base: Fraction, span: Span | None) -> Iterator[tuple[float, av.Packet]]:
    offset = round(span.shift / time_base) if span else 0
    for record_index, _ in enumerate(records):
        for stored in read_packets(work, record_index):
            packet = av.Packet(stored.data)
            packet.pts, packet.dts = stored.pts - offset, stored.dts - offset
            packet.duration = stored.duration
            packet.time_base = time_base
            packet.is_keyframe = stored.keyframe
            packet.stream = stream
            yield float(packet.dts * time_base), packet


def _copied_packets(inputs, copies: Sequence[_Copy], span: Span | None) -> Iterator[tuple[float, av.Packet]]:
    """The other streams' packets in file order (nearly time order; the muxer interleaves the rest)."""
    by_index = {copy.source.index: copy for copy in copies}
    if not by_index:
        return
    for packet in inputs.demux([copy.source for copy in copies]):
        copy = by_index.get(packet.stream.index)
        if copy is not None and packet.size:
            yield from copy.convert(packet, span)


class _Copy:
    """One of the input's other streams, copied as it is, or re-encoded where the format cannot hold it."""

    def __init__(self, source_stream, target, reencode: bool = False) -> None:
        self.source = source_stream
        self.target = target
        self.reencode = reencode
        self.resampler: av.AudioResampler | None = None  # made once the encoder is open

    @classmethod
    def plan(cls, out, stream) -> _Copy | None:
        label = f"stream {stream.index} ({stream.type}, {_codec_name(stream)})"
        fmt = out.format.name.split(",")[0]
        if holds_copy(out.format.name, stream):
            target = out.add_stream_from_template(stream)
            target.metadata.update(_tags(stream.metadata))
            target.disposition = stream.disposition
            return cls(stream, target)
        encoder = _audio_encoder(out, stream) if stream.type == "audio" else None
        if encoder is not None:
            log.warning("A %s file cannot hold %s; it is re-encoded to %s.", fmt, label, encoder.codec_context.name)
            return cls(stream, encoder, reencode=True)
        log.warning("A %s file cannot hold %s; it is left out.", fmt, label)
        return None

    def convert(self, packet: av.Packet, span: Span | None) -> Iterator[tuple[float, av.Packet]]:
        """The packet (or, re-encoded, the packets) to write for one input packet."""
        time_base = self.source.time_base or Fraction(1, 1000)
        if not _inside(packet, time_base, span):
            return
        offset = round(span.shift / time_base) if span else 0
        if self.reencode:
            yield from self._reencode(packet, offset)
            return
        if packet.pts is not None:
            packet.pts -= offset
        if packet.dts is not None:
            packet.dts -= offset
        if not 0 <= packet.duration <= _MAX_DURATION:  # Ogg trims the last Vorbis packet with a wrapped-around one
            packet.duration = 0
        packet.stream = self.target
        yield _when(packet, time_base), packet

    def flush(self) -> list[av.Packet]:
        if not self.reencode:
            return []
        rest = self.resampler.resample(None) if self.resampler is not None else []
        return [p for frame in rest for p in self.target.encode(frame)] + self.target.encode(None)

    def _reencode(self, packet: av.Packet, offset: int) -> Iterator[tuple[float, av.Packet]]:
        try:
            frames = packet.decode()
        except av.error.InvalidDataError:
            return
        if self.resampler is None:
            cc = self.target.codec_context
            self.resampler = av.AudioResampler(cc.format.name, cc.layout.name, cc.sample_rate,
                                               frame_size=cc.frame_size or None)
        for frame in frames:
            if frame.pts is not None:
                frame.pts -= offset
            for resampled in self.resampler.resample(frame):
                for out_packet in self.target.encode(resampled):
                    yield _when(out_packet, out_packet.time_base or self.target.time_base), out_packet


def _audio_encoder(out, stream) -> av.audio.stream.AudioStream | None:
    """A stream of ``out`` that re-encodes ``stream``: in the format's own audio codec, else AAC."""
    rate, layout = stream.codec_context.sample_rate, _ordered_layout(stream.codec_context.layout)
    for encoder in dict.fromkeys((out.default_audio_codec, "aac")):
        if encoder not in ("none", "") and writes_audio(out.format.name, encoder, rate, layout):
            return out.add_stream(encoder, rate=rate, layout=layout)
    return None


def _ordered_layout(layout: av.AudioLayout) -> str:
    """The layout itself, or FFmpeg's usual one for its channel count: encoders refuse unordered ones ("2 channels")."""
    if " channels" not in layout.name:
        return layout.name
    return _USUAL_LAYOUTS.get(layout.nb_channels, layout.name)


def _codec_name(stream) -> str:
    if stream.codec_context is not None:
        return stream.codec_context.name
    return getattr(stream, "codec_tag", "") or "data"


def _inside(packet: av.Packet, time_base: Fraction, span: Span | None) -> bool:
    if span is None or packet.pts is None:
        return True
    start = float(packet.pts * time_base)
    end = start + float((packet.duration or 0) * time_base)
    return end > span.start and start < span.end


def _when(packet: av.Packet, time_base: Fraction) -> float:
    stamp = packet.dts if packet.dts is not None else packet.pts
    return float(stamp * time_base) if stamp is not None else 0.0


def _tags(metadata: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in metadata.items() if k.lower() not in _OWN_TAGS and not k.startswith("_STATISTICS")}


def _copy_chapters(inputs, out) -> None:
    chapters = inputs.chapters()
    if chapters:
        out.set_chapters(chapters)
