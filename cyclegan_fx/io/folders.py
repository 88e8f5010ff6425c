"""Output folders: created when needed and checked for writing before any work starts."""

from __future__ import annotations

import os
from pathlib import Path

from cyclegan_fx.errors import OutputError


def writable_folder(folder: Path, role: str = "output") -> None:
    """Create ``folder`` if needed and check that files can be written there; ``role`` names it in errors."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"Cannot create {role} folder {folder}: {exc.strerror or exc}.") from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"Cannot write into {role} folder {folder}: it is not writable.")
