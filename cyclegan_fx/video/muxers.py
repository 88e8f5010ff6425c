"""What an FFmpeg muxer can hold, found out in memory before any work.

Adding a stream is not enough to know: many muxers and encoders refuse only when the file
is started (MPEG-PS takes no AAC, swf no H.264, AMR-NB only 8 kHz mono), so each check
starts a muxer on a buffer with the one stream in question.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable

import av
import av.error


def muxer_accepts(muxer: str, codec: str) -> bool:
    """Whether FFmpeg's ``muxer`` has a stream type for ``codec`` (an encoder or codec name)."""
    container = av.open(os.devnull, "w", format=muxer)
    try:
        container.add_mux_stream(codec)
        return True
    except ValueError:
        return False
    finally:
        container.close()


def starts(muxer: str, add: Callable[[av.container.OutputContainer], object]) -> bool:
    """Whether a ``muxer`` file with the stream that ``add`` puts into it can be started."""
    container = av.open(io.BytesIO(), "w", format=muxer)
    try:
        add(container)
        container.start_encoding()
        return True
    except (ValueError, av.error.FFmpegError):
        return False
    finally:
        _close_quietly(container)


def holds_copy(muxer: str, stream: av.stream.Stream) -> bool:
    """Whether ``muxer`` can hold the packets of the input's ``stream`` as they are."""
    return starts(muxer, lambda container: container.add_stream_from_template(stream))


def writes_audio(muxer: str, encoder: str, rate: int, layout: str) -> bool:
    """Whether ``muxer`` can hold sound that ``encoder`` makes at ``rate`` Hz in ``layout``."""
    return starts(muxer, lambda container: container.add_stream(encoder, rate=rate, layout=layout))


def _close_quietly(container: av.container.OutputContainer) -> None:
    try:
        container.close()
    except (ValueError, av.error.FFmpegError):
        pass  # a container that could not start may not write its trailer either
