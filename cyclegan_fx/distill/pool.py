"""The teacher's outputs for a fixed set of crops, computed once into memory-mapped files in the cache folder.

The folder is named by a hash of everything the crops depend on (teacher weights, direction, photos, crop
options, seed), so a resumed run, or a student of another width, reuses the outputs instead of recomputing them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cyclegan_fx.distill.crops import CropPlan
from cyclegan_fx.errors import OutputError
from cyclegan_fx.runtime.config import RunOptions
from cyclegan_fx.runtime.runner import Runner

log = logging.getLogger("cyclegan_fx")
_WHOLE = RunOptions(work_size="full")  # a view is already at its scale
_LAYOUT_VERSION = 2  # 2: crops of the teacher's output on whole views


@dataclass(frozen=True)
class TeacherPool:
    """Crops (uint8, N x H x W x 3) and the teacher's outputs for them (float16 in [-1, 1], N x 3 x H x W)."""

    folder: Path
    inputs: np.ndarray
    targets: np.ndarray
    done: np.ndarray  # 1 where crop i and its output are complete

    def __len__(self) -> int:
        return len(self.done)

    def batch(self, indices: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Crops and teacher outputs as float tensors in [-1, 1] on ``device``."""
        inputs = torch.from_numpy(np.ascontiguousarray(self.inputs[indices])).permute(0, 3, 1, 2)
        targets = torch.from_numpy(np.ascontiguousarray(self.targets[indices]))
        return as_network_input(inputs).to(device), targets.float().to(device)


def as_network_input(crops: torch.Tensor) -> torch.Tensor:
    """uint8 N x 3 x H x W to floats in [-1, 1], as the generators expect."""
    return crops.float().div(127.5).sub(1.0)


def pool_key(plan: CropPlan, count: int, teacher_sha256: str, direction: str, precision: str) -> str:
    """A name for the pool that changes with anything its contents depend on."""
    files = [(str(f.path.resolve()), f.path.stat().st_size, f.path.stat().st_mtime_ns) for f in plan.files]
    described = {"version": _LAYOUT_VERSION, "teacher": teacher_sha256, "direction": direction, "files": files,
                 "size": plan.size, "work_size": plan.work_size, "scales": [plan.min_scale, plan.max_scale],
                 "colour_jitter": plan.colour_jitter, "seed": plan.seed, "crops_per_view": plan.crops_per_view,
                 "count": count, "precision": precision}
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:24]


def open_pool(folder: Path, count: int, size: int) -> TeacherPool:
    """The pool's files, created full of zeros (sparse) if they are not there yet."""
    _make_room(folder, count * 3 * size * size * 3)

    def mapped(name: str, dtype: type, shape: tuple[int, ...]) -> np.ndarray:
        path = folder / name
        mode = "r+" if path.is_file() and path.stat().st_size == np.dtype(dtype).itemsize * int(np.prod(shape)) else "w+"
        return np.memmap(path, dtype=dtype, mode=mode, shape=shape)

    # The done flags are created last and written after the data, so a crash never marks a half-written crop.
    inputs = mapped("inputs.u8", np.uint8, (count, size, size, 3))
    targets = mapped("targets.f16", np.float16, (count, 3, size, size))
    return TeacherPool(folder, inputs, targets, mapped("done.u8", np.uint8, (count,)))


def _make_room(folder: Path, needed: int) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"Cannot create the teacher cache {folder}: {exc.strerror or exc}.") from exc
    present = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    free = shutil.disk_usage(folder).free
    if needed - present > free:
        raise OutputError(f"The teacher cache needs {needed / 2**20:.0f} MB in {folder}, but only "
                          f"{free / 2**20:.0f} MB are free; lower --pool or free some space.")


def fill_pool(pool: TeacherPool, plan: CropPlan, teacher: Runner, rank: int = 0, world: int = 1) -> None:
    """Translate the views of the missing crops that fall to this process (every ``world``-th view) and cut the crops."""
    missing = [i for i in range(len(pool)) if not pool.done[i]]
    views = {view: crops for view, crops in plan.by_view(missing).items() if view % world == rank}
    if not views:
        return
    log.info("Computing the teacher's output for %d of %d crops: %d whole views (cached in %s).",
             sum(map(len, views.values())), len(pool), len(views), pool.folder)
    started, shown = time.monotonic(), time.monotonic()
    for finished, (index, crops) in enumerate(views.items(), 1):
        view = plan.render_view(index)
        output = teacher.run(view, _WHOLE)
        indices = [i for i, _ in crops]
        pool.inputs[indices] = np.stack([plan.cut(view, spec) for _, spec in crops])
        targets = np.stack([plan.cut(output, spec) for _, spec in crops]).transpose(0, 3, 1, 2)
        pool.targets[indices] = (targets.astype(np.float32) / 127.5 - 1.0).astype(np.float16)
        pool.inputs.flush()
        pool.targets.flush()
        pool.done[indices] = 1
        pool.done.flush()
        if time.monotonic() - shown > 30 or finished == len(views):
            rate = finished / (time.monotonic() - started)
            log.info("Teacher outputs: %d/%d views, %.0f s left.", finished, len(views), (len(views) - finished) / rate)
            shown = time.monotonic()
