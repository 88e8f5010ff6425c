"""``serve.json`` in the project's home folder: how clients find the running service and its token."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from cyclegan_fx.errors import OutputError
from cyclegan_fx.io.atomic import atomic_output

SERVE_FILE = "serve.json"


@dataclass(frozen=True)
class Endpoint:
    url: str
    token: str
    pid: int


def serve_file(home: Path) -> Path:
    return home / SERVE_FILE


def read_endpoint(home: Path) -> Endpoint | None:
    """The endpoint a service recorded, or None when there is no readable record."""
    try:
        data = json.loads(serve_file(home).read_text())
        return Endpoint(str(data["url"]), str(data["token"]), int(data["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_endpoint(home: Path, endpoint: Endpoint) -> None:
    """Record the endpoint atomically, readable by the user alone (it holds the token)."""
    try:
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"Cannot create the home folder {home}: {exc.strerror or exc}.") from exc
    with atomic_output(serve_file(home), overwrite=True) as tmp:
        descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as f:
            json.dump(asdict(endpoint), f)
            f.write("\n")


def remove_endpoint(home: Path, endpoint: Endpoint) -> None:
    """Remove the record if it is still ours (a later service may have replaced it)."""
    if read_endpoint(home) == endpoint:
        with contextlib.suppress(FileNotFoundError):
            serve_file(home).unlink()
