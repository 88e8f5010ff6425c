"""The service's wire format: a translate request is one JSON line, a newline, then raw pixels.

Pixels travel as a C-order array of ``shape`` (height, width[, channels]) in little-endian ``dtype``;
the answer has the same layout. Nothing here opens a file: a model is a store name.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from cyclegan_fx.config_fields import checked
from cyclegan_fx.errors import ConfigError, RequestError
from cyclegan_fx.models.store import check_name
from cyclegan_fx.runtime.config import ModelChoice, RunOptions, WorkSize

DTYPES = {"uint8": np.dtype("<u1"), "uint16": np.dtype("<u2"), "float32": np.dtype("<f4")}
MAX_HEADER = 64 * 1024
_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_FIELDS = {"model", "direction", "shape", "dtype", "strength", "work_size", "job"}


@dataclass(frozen=True)
class TranslateRequest:
    model: str
    direction: str
    shape: tuple[int, ...]  # (height, width) or (height, width, channels)
    dtype: str
    strength: float | None = None  # None: the service's default
    work_size: WorkSize | None = None  # None: the service's default
    job: str | None = None

    @property
    def pixels(self) -> int:
        return self.shape[0] * self.shape[1]

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * DTYPES[self.dtype].itemsize

    def options(self, defaults: RunOptions) -> RunOptions:
        """The service's run options with the strength and work size this request gives."""
        given = {"strength": self.strength, "work_size": self.work_size}
        return replace(defaults, **{k: v for k, v in given.items() if v is not None})


def parse_header(line: bytes) -> TranslateRequest:
    """Validate the JSON line of a translate request; every problem is a RequestError sentence."""
    try:
        data = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestError(f"The request header is not valid JSON ({exc}).") from None
    if not isinstance(data, dict):
        raise RequestError("The request header must be a JSON object.")
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise RequestError(f"Unknown request field {unknown[0]!r}; known: {', '.join(sorted(_FIELDS))}.")
    return TranslateRequest(
        model=_model(data.get("model")),
        direction=_field(ModelChoice, "direction", data.get("direction", "a2b")),
        shape=_shape(data.get("shape")),
        dtype=_choice(data.get("dtype"), "dtype", tuple(DTYPES)),
        strength=_field(RunOptions, "strength", data.get("strength"), optional=True),
        work_size=_field(RunOptions, "work_size", data.get("work_size"), optional=True),
        job=_job(data.get("job")),
    )


def decode_pixels(request: TranslateRequest, body: bytes | bytearray | memoryview) -> np.ndarray:
    """The request's pixels as an array (a view of ``body``), after checking size and values."""
    if len(body) != request.nbytes:
        raise RequestError(
            f"The body holds {len(body)} bytes of pixels but shape {list(request.shape)} of {request.dtype} "
            f"needs {request.nbytes}."
        )
    pixels = np.frombuffer(body, dtype=DTYPES[request.dtype]).reshape(request.shape)
    if request.dtype == "float32" and not np.isfinite(pixels).all():
        raise RequestError("The float32 pixels contain NaN or infinity.")
    return pixels


def encode_pixels(pixels: np.ndarray, dtype: str) -> memoryview:
    """``pixels`` as little-endian bytes of ``dtype`` (a view: no copy where the array is already so)."""
    return memoryview(np.ascontiguousarray(pixels, dtype=DTYPES[dtype])).cast("B")


def response_header(request: TranslateRequest, job: str, seconds: float) -> bytes:
    header = {"shape": list(request.shape), "dtype": request.dtype, "job": job, "seconds": round(seconds, 3)}
    return json.dumps(header).encode() + b"\n"


def _model(value: Any) -> str:
    if not isinstance(value, str):
        raise RequestError("The request needs 'model': the name of an installed model.")
    try:
        return check_name(value)
    except ConfigError as exc:
        raise RequestError(str(exc)) from None


def _choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices or not isinstance(value, str):
        raise RequestError(f"'{name}' must be one of {', '.join(choices)}, not {value!r}.")
    return value


def _field(schema: type, name: str, value: Any, optional: bool = False) -> Any:
    """Field ``name`` of the request held to the rule of that field of ``schema``; an ``optional`` one may be None."""
    if optional and value is None:
        return None
    try:
        return checked(schema, {name: value}, label=repr)[name]
    except ConfigError as exc:
        raise RequestError(str(exc)) from None


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _shape(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or len(value) not in (2, 3) or not all(_integer(v) for v in value):
        raise RequestError("'shape' must be [height, width] or [height, width, channels] of whole numbers.")
    if value[0] < 1 or value[1] < 1:
        raise RequestError(f"'shape' {value} has no pixels.")
    if len(value) == 3 and value[2] not in (1, 2, 3, 4):
        raise RequestError(f"An image must have 1 to 4 channels, not {value[2]}.")
    return tuple(value)


def _job(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _JOB_ID.match(value):
        raise RequestError("'job' must be 1 to 64 letters, digits, '-' or '_'.")
    return value
