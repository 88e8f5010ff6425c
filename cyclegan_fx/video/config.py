"""Options of a video job. The CLI maps its flags onto these; the library never sees click."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from cyclegan_fx.errors import ConfigError


class Temporal(str, enum.Enum):
    OFF = "off"  # every frame its own statistics (flickers)
    SMOOTH = "smooth"  # statistics carried from frame to frame as a moving average, reset at cuts
    SHOT = "shot"  # one set of statistics per shot (two passes)
    FLOW = "flow"  # smooth, and the previous output carried along the optical flow and blended in


@dataclass(frozen=True)
class TemporalSettings:
    mode: Temporal = Temporal.SMOOTH
    momentum: float = 0.9  # weight of the statistics carried over from earlier frames
    cut_threshold: float = 0.15  # thumbnail difference (0..1) above which a new shot starts
    consistency: float = 0.7  # --temporal flow: weight of the history carried along the flow (0: none)

    def __post_init__(self) -> None:
        if not 0.0 <= self.momentum < 1.0:
            raise ConfigError(f"The smoothing momentum must be at least 0 and below 1, not {self.momentum}.")
        if not 0.0 < self.cut_threshold <= 1.0:
            raise ConfigError(f"The cut threshold must be above 0 and at most 1, not {self.cut_threshold}.")
        if not 0.0 <= self.consistency < 1.0:
            raise ConfigError(f"The consistency must be at least 0 and below 1, not {self.consistency}.")

    def identity(self) -> dict[str, object]:
        """What of these settings changes the output (for --resume): consistency only where flow uses it,
        so work left by versions without flow still resumes."""
        settings = vars(self).copy()
        if self.mode is not Temporal.FLOW:
            del settings["consistency"]
        return settings


@dataclass(frozen=True)
class EncodeSettings:
    codec: str = "auto"  # auto: the input's codec where it can be written, else H.264
    crf: int | None = None  # None: 18 where the codec has a CRF
    preset: str | None = None  # None: the encoder's default speed (medium for x264/x265)
    pix_fmt: str | None = None  # None: the input's chroma layout and bit depth where the codec allows

    @property
    def is_default(self) -> bool:
        return self == EncodeSettings()


@dataclass(frozen=True)
class VideoOptions:
    temporal: TemporalSettings = field(default_factory=TemporalSettings)
    encode: EncodeSettings = field(default_factory=EncodeSettings)
    start: float | None = None  # seconds
    end: float | None = None
    chunk_frames: int = 250  # frames per resumable chunk; each starts with a keyframe
    frame_batch: int = 4  # frames translated together in one runner call
    resume: bool = False
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.chunk_frames < 1:
            raise ConfigError(f"A chunk must hold at least one frame, not {self.chunk_frames}.")
        if self.frame_batch < 1:
            raise ConfigError(f"The frame batch must be at least 1, not {self.frame_batch}.")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ConfigError(f"--end ({self.end:g} s) must come after --start ({self.start:g} s).")


_TIME = re.compile(r"^(?:(?:(\d+):)?(\d+):)?(\d+(?:\.\d*)?|\.\d+)$")


def parse_time(text: str) -> float:
    """Seconds from ``SS[.ms]``, ``MM:SS[.ms]`` or ``HH:MM:SS[.ms]``."""
    match = _TIME.match(text.strip())
    if match is None:
        raise ConfigError(f"{text!r} is not a time; write seconds (12.5) or HH:MM:SS(.ms) (0:01:02.5).")
    hours, minutes, seconds = match.groups()
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds)
