"""Running under torchrun: one process per GPU (or CPU process with gloo), DistributedDataParallel."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from cyclegan_fx.runtime.devices import resolve_device


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (rank 0 of 1 without torchrun)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def launched_rank() -> int:
    """The rank torchrun gave this process, 0 without torchrun."""
    return int(os.environ.get("RANK", "0"))


def join_world(device_name: str) -> tuple[World, torch.device]:
    """Join the process group torchrun set up (if any) and pick this process's device."""
    world = World(launched_rank(), int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("LOCAL_RANK", "0")))
    device = resolve_device(device_name)
    if device.type == "cuda":
        # set_device needs an index; a plain "cuda" means the current GPU (this rank's under torchrun).
        index = world.local_rank if world.distributed else device.index
        device = torch.device("cuda", torch.cuda.current_device() if index is None else index)
        torch.cuda.set_device(device)
    if world.distributed and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=dt.timedelta(minutes=30))
    return world, device


def leave_world(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()


def wrap(module: nn.Module, world: World, device: torch.device) -> nn.Module:
    """DistributedDataParallel under torchrun, the module itself otherwise."""
    if not world.distributed:
        return module
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids)


def unwrap(module: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel wrapper."""
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module


def mean_over_ranks(values: torch.Tensor, world: World) -> torch.Tensor:
    if world.distributed:
        values = values.clone()
        dist.all_reduce(values)
        values /= world.size
    return values


def any_rank(flag: bool, world: World, device: torch.device) -> bool:
    """True on every rank if it is true on one (e.g. a stop signal that reached only some processes)."""
    if not world.distributed:
        return flag
    value = torch.tensor([float(flag)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def non_finite_loss(losses: dict[str, torch.Tensor], world: World, device: torch.device) -> str | None:
    """The name of a loss that is no longer a finite number on this rank ("of another process" if it is only on
    another), or None while every rank's losses are finite."""
    finite = torch.isfinite(torch.stack([value.detach().float() for value in losses.values()]))
    if not any_rank(not bool(finite.all()), world, device):
        return None
    return next((name for name, ok in zip(losses, finite.tolist()) if not ok), "of another process")


def gather_to_main(obj: Any, world: World) -> list[Any] | None:
    """Every rank's ``obj`` on rank 0 (None elsewhere)."""
    if not world.distributed:
        return [obj]
    out = [None] * world.size if world.is_main else None
    dist.gather_object(obj, out, dst=0)
    return out


def share_from_main(obj: Any, world: World) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not world.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
