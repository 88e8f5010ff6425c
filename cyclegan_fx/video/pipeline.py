"""Stages in threads joined by bounded queues: decode || translate || encode."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")

_END = object()
_POLL_S = 0.1


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def in_thread(items: Iterator[T], maxsize: int, name: str) -> Iterator[T]:
    """Run the iterator ``items`` in a thread of its own and hand its items over, at most ``maxsize`` ahead.

    An exception in the thread is raised here, in the consumer; when the consumer stops early, the
    thread stops at its next item and closes ``items``.
    """
    handover: queue.Queue = queue.Queue(maxsize)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if not _put(handover, item, stop):
                    return
            _put(handover, _END, stop)
        except BaseException as exc:  # handed to the consumer, which raises it
            _put(handover, _Failure(exc), stop)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = handover.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        stop.set()
        thread.join()  # a thread left running in native code aborts the process at exit


def _put(handover: queue.Queue, item: object, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            handover.put(item, timeout=_POLL_S)
            return True
        except queue.Full:
            continue
    return False
