"""Checkpoints: everything needed to continue a run exactly, written atomically; the last N and the best kept."""

from __future__ import annotations

import io
import logging
import os
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cyclegan_fx.errors import CheckpointError, UnsafeCheckpointError
from cyclegan_fx.io.atomic import atomic_output
from cyclegan_fx.networks.checkpoint import load_weights_only

log = logging.getLogger("cyclegan_fx")

FORMAT = "cyclegan-fx-checkpoint"
FORMAT_VERSION = 1
BEST = "best.pt"
_STEP_FILE = re.compile(r"^step_(\d+)\.pt$")


def step_checkpoints(folder: Path) -> list[Path]:
    """Checkpoint files of a run's checkpoint folder, oldest first."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _STEP_FILE.match(p.name))]
    return [p for _, p in sorted(found)]


def save_checkpoint(state: dict[str, Any], folder: Path, step: int, keep: int, best: bool) -> Path:
    """Write ``state`` as step_<step>.pt under a temporary name, then drop all but the newest ``keep``.

    A failed write (a full disk, say) leaves every earlier checkpoint as it was.
    """
    path = folder / f"step_{step:08d}.pt"
    buffer = io.BytesIO()  # torch.save reports a full disk as a bare RuntimeError; a plain write says ENOSPC
    torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, **state}, buffer)
    with atomic_output(path, overwrite=True) as tmp:
        tmp.write_bytes(buffer.getbuffer())
    if best:
        _link_as(path, folder / BEST)
    for old in step_checkpoints(folder)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def _link_as(source: Path, target: Path) -> None:
    """Make ``target`` the same file as ``source`` (a hard link, else a copy), atomically."""
    with atomic_output(target, overwrite=True) as tmp:
        try:
            os.link(source, tmp)
        except OSError:
            tmp.write_bytes(source.read_bytes())


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint's contents on the CPU, or a CheckpointError saying what is wrong with the file."""
    try:
        state = load_weights_only(path)
    except FileNotFoundError as exc:
        raise CheckpointError(f"Checkpoint {path} does not exist.") from exc
    except UnsafeCheckpointError:
        raise
    except Exception as exc:  # torch.load raises many types for damaged files
        raise CheckpointError(f"Checkpoint {path} is damaged ({str(exc).splitlines()[0]}).") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT or state.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path} is not a cyclegan-fx training checkpoint of a known version.")
    return state


def load_latest(folder: Path) -> tuple[Path, dict[str, Any]]:
    """The newest checkpoint that loads; damaged newer ones are reported and passed over."""
    candidates = step_checkpoints(folder)
    if not candidates:
        raise CheckpointError(f"No checkpoint in {folder}; nothing to resume or export.")
    for path in reversed(candidates):
        try:
            return path, load_checkpoint(path)
        except UnsafeCheckpointError:
            raise  # not damaged but tampered with: resuming from an older one would hide that
        except CheckpointError as exc:
            log.warning("%s Trying the one before it.", exc)
    raise CheckpointError(f"Every checkpoint in {folder} is damaged; the run cannot be continued.")


def capture_rng(device: torch.device) -> dict[str, Any]:
    """Python, NumPy, torch and CUDA random states of this process."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": pos,
                  "has_gauss": has_gauss, "gauss": gauss},
        "torch": torch.get_rng_state(),
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_rng(state: dict[str, Any], device: torch.device) -> None:
    """Undo ``capture_rng``: every generator continues where it was."""
    random.setstate(_as_tuples(state["python"]))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _as_tuples(value: Any) -> Any:
    """random.setstate wants the nested tuples that a round trip through torch.load may have made lists."""
    return tuple(_as_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value
