"""User-facing errors: each carries one sentence that the CLI prints as it is."""

from __future__ import annotations


class CycleganFxError(Exception):
    """Base of every error caused by what the user asked for or gave us."""


class ImageReadError(CycleganFxError):
    """An input file is missing, empty, truncated or not an image."""


class VideoReadError(CycleganFxError):
    """A video input is missing, not a video, has no video stream, or has no decodable frames."""


class ImageTooLargeError(CycleganFxError):
    """An image has more pixels than the configured limit."""


class ImageTooSmallError(CycleganFxError):
    """An image is smaller than the network can process."""


class OutputError(CycleganFxError):
    """An output cannot be written: it exists already or its folder is not writable."""


class StorageError(CycleganFxError):
    """A file or folder on an object store cannot be looked up, listed, read, or (a job's output, whose finished
    work is kept for --resume) written: the network or the credentials may be to blame."""


class ModelNotFoundError(CycleganFxError):
    """A model name, bundle or file does not exist."""


class CheckpointError(CycleganFxError):
    """A weights file is corrupt, unsafe, or of a layout no architecture matches."""


class UnsafeCheckpointError(CheckpointError):
    """A weights or checkpoint file holds pickled objects other than tensors: code that loading it would run."""


class DirectionError(CycleganFxError):
    """A model lacks the translation direction that was asked for."""


class ConfigError(CycleganFxError):
    """An option value is invalid or options contradict each other."""


class DivergedError(CycleganFxError):
    """Training went numerically wrong (a loss that is no longer a finite number)."""


class DeviceError(CycleganFxError):
    """The requested device or precision is not available here."""


class NotEnoughMemoryError(DeviceError):
    """An image needs more memory than the device or the host has free, even in the smallest pieces."""


class RequestError(CycleganFxError):
    """A request to the local service is malformed: bad JSON, wrong fields, sizes or types."""


class JobCancelled(CycleganFxError):
    """A job was cancelled by whoever started it."""


class ServiceError(CycleganFxError):
    """The local service cannot start, or another one is running already."""


class MissingExtraError(CycleganFxError):
    """An optional dependency is not installed; the sentence names the extra that brings it."""


class DownloadError(CycleganFxError):
    """A download failed: the host is unreachable, answered with an HTTP error, or the transfer broke off."""
