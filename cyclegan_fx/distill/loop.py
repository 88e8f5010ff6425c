"""The distillation loop: for each direction, a student learns the teacher's output on cached crops.

The loss is ``l1 + ssim_weight * structure``: the mean absolute difference from the teacher's output (images in
[-1, 1]) plus one minus their SSIM (Gaussian 11 x 11 window, images in [0, 1]); gradients are clipped to a norm of
``clip_grad``, a step whose gradient is not finite is skipped, and a loss that stops being a number ends the run
before it reaches a checkpoint. Which crops make up step s of
direction d depends only on (seed, d, s), so a checkpoint needs no random state and a resumed run equals an
uninterrupted one.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cyclegan_fx.distill.config import DistillConfig
from cyclegan_fx.distill.metrics import ssim_map
from cyclegan_fx.distill.pool import TeacherPool
from cyclegan_fx.distill.precision import autocast
from cyclegan_fx.errors import DeviceError, DivergedError, OutputError
from cyclegan_fx.networks import Generator, generator_from_spec
from cyclegan_fx.runtime.devices import is_out_of_memory
from cyclegan_fx.training import distributed
from cyclegan_fx.training.checkpoint import save_checkpoint
from cyclegan_fx.training.distributed import World
from cyclegan_fx.training.report import LossLayout, LossMeter, Reporter
from cyclegan_fx.training.run import RunFolder
from cyclegan_fx.training.signals import StopRequests

log = logging.getLogger("cyclegan_fx")

DISTILL_LOSSES = LossLayout(("loss", "l1", "structure"),
                            (("pixel (L1)", ("l1",)), ("structure (1 - SSIM)", ("structure",))))
_SAMPLES = 4  # cached crops shown in each sample grid


@dataclass
class Student:
    """One direction's student and what trains it."""

    direction: str
    generator: Generator
    net: nn.Module  # the generator's net, DDP-wrapped under torchrun
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler

    def state_dict(self) -> dict[str, Any]:
        return {"net": self.generator.net.state_dict(), "opt": self.opt.state_dict(), "sched": self.sched.state_dict(),
                "scaler": self.scaler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.net.load_state_dict(state["net"])
        self.opt.load_state_dict(state["opt"])
        self.sched.load_state_dict(state["sched"])
        self.scaler.load_state_dict(state["scaler"])


def make_student(config: DistillConfig, spec: dict[str, Any], direction: str, device: torch.device, world: World,
                 dtype: torch.dtype | None, start: Mapping[str, torch.Tensor] | None = None) -> Student:
    """A student, freshly initialized or from ``start``; Adam with a linear warm-up to ``lr``, then a cosine decay."""
    torch.manual_seed(config.seed + ("a2b", "b2a").index(direction))
    generator = generator_from_spec(spec)
    if start is not None:
        generator.net.load_state_dict(start)
    generator.net.to(device).train()
    opt = torch.optim.Adam(generator.net.parameters(), lr=config.lr, betas=(0.9, 0.999))
    warmup = max(1, round(config.warmup * config.steps))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, config.steps - warmup))))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    return Student(direction, generator, distributed.wrap(generator.net, world, device), opt, sched, scaler)


def distill_step(s: Student, inputs: torch.Tensor, targets: torch.Tensor, config: DistillConfig,
                 dtype: torch.dtype | None) -> dict[str, torch.Tensor]:
    """One optimizer step of the student towards the teacher's outputs; returns the losses."""
    with autocast(inputs.device, dtype):
        outputs = s.net(inputs)
    outputs = outputs.float()
    l1 = F.l1_loss(outputs, targets)
    structure = 1.0 - ssim_map(outputs.add(1).div(2), targets.add(1).div(2)).mean()
    loss = l1 + config.ssim_weight * structure
    s.opt.zero_grad(set_to_none=True)
    s.scaler.scale(loss).backward()
    s.scaler.unscale_(s.opt)
    norm = nn.utils.clip_grad_norm_(s.generator.net.parameters(), config.clip_grad or math.inf)
    # A finite loss can still give an infinite gradient (a 256-pixel crop so flat that a channel before an
    # InstanceNorm is constant did, at step 188 of a width-64 run); one such step would turn every weight
    # into NaN. It is skipped, as the fp16 gradient scaler skips its overflows, and the schedule goes on.
    if torch.isfinite(norm):
        s.scaler.step(s.opt)
    elif not s.scaler.is_enabled():  # the fp16 scaler's overflows are routine, and it lowers its scale
        log.warning("Skipped step %d of the %s student: its gradient is not finite.", s.sched.last_epoch + 1, s.direction)
    s.scaler.update()
    s.sched.step()
    return {"loss": loss, "l1": l1, "structure": structure}


def batch_indices(seed: int, direction: int, step: int, pool: int, batch: int, world: World) -> np.ndarray:
    """This process's crops for one step: a slice of the step's draw, so ranks never share a crop."""
    drawn = np.random.default_rng([seed, direction, step]).integers(pool, size=batch * world.size)
    return drawn[world.rank * batch:(world.rank + 1) * batch]


@torch.no_grad()
def sample_columns(s: Student, pool: TeacherPool, dtype: torch.dtype | None, device: torch.device) -> list[torch.Tensor]:
    """Input | teacher | student for cached crops spread over the pool, so from different views."""
    inputs, targets = pool.batch(np.unique(np.linspace(0, len(pool) - 1, _SAMPLES).round().astype(int)), device)
    net = s.generator.net
    net.eval()
    with autocast(device, dtype):
        outputs = net(inputs).float()
    net.train()
    return [inputs, targets, outputs.clamp(-1, 1)]


@dataclass
class Position:
    direction: int = 0  # index into the run's directions
    step: int = 0  # steps done in that direction


@dataclass(frozen=True)
class DistillResult:
    finished: bool  # every step, or --max-steps, done
    stopped_by: int | None
    checkpoint: Path | None


def distill(config: DistillConfig, run: RunFolder, students: list[Student], pools: list[TeacherPool], world: World,
            device: torch.device, dtype: torch.dtype | None, resume: dict[str, Any] | None) -> DistillResult:
    """Train each student in turn until its last step, --max-steps or a stop signal."""
    pos, log_meter = Position(), LossMeter(DISTILL_LOSSES.names)
    if resume is not None:
        pos = Position(**resume["position"])
        for student, state in zip(students, resume["students"]):
            student.load_state_dict(state)
        log_meter.load_state_dict(resume["log_meter"], device)
    total = len(students) * config.steps
    stop_at = min(total, config.max_steps or total)
    reporter = Reporter(run, len(students), config.steps, world.is_main, False, DISTILL_LOSSES, phase="direction")
    reporter.resume_at(_global(pos, config))
    checkpoint = None

    def save() -> Path | None:
        return _save(config, run, pos, students, log_meter, world)

    def directions(stops: StopRequests) -> DistillResult:
        nonlocal checkpoint
        while pos.direction < len(students):
            s, pool = students[pos.direction], pools[pos.direction]
            log.info("Distilling %s: step %d of %d on %s.", s.direction, pos.step, config.steps, device)
            reporter.start_epoch(pos.direction, pos.step)
            while pos.step < config.steps:
                indices = batch_indices(config.seed, pos.direction, pos.step, len(pool), config.batch_size, world)
                losses = _step(s, pool, indices, config, dtype, device)
                _check_finite(losses, s, pos, config, world, device)
                log_meter.add(losses)
                pos.step += 1
                reporter.advance()
                step = _global(pos, config)
                if step % config.log_every == 0:
                    reporter.losses(step, pos.direction, pos.step, s.sched.get_last_lr()[0], log_meter.means())
                    log_meter.reset()
                if config.sample_every and step % config.sample_every == 0 and world.is_main:
                    reporter.samples(step, sample_columns(s, pool, dtype, device))
                stop = distributed.any_rank(stops.received is not None, world, device)
                if stop or step == stop_at or step % config.checkpoint_every == 0 or pos.step == config.steps:
                    checkpoint = save()
                if stop or step == stop_at:
                    return DistillResult(not stop, stops.received, checkpoint)
            reporter.end_epoch()
            pos.direction, pos.step = pos.direction + 1, 0
        return DistillResult(True, None, checkpoint)

    with StopRequests() as stops:
        try:
            if _global(pos, config) >= stop_at:
                log.info("The run has done %d steps already; there is nothing left to distill.", _global(pos, config))
                return DistillResult(True, None, None)
            result = directions(stops)
            _final_artefacts(config, reporter, students, pools, pos, log_meter, dtype, device, world)
            return result
        finally:
            reporter.close()


def _global(pos: Position, config: DistillConfig) -> int:
    return pos.direction * config.steps + pos.step


def _step(s: Student, pool: TeacherPool, indices: np.ndarray, config: DistillConfig, dtype: torch.dtype | None,
          device: torch.device) -> dict[str, torch.Tensor]:
    inputs, targets = pool.batch(indices, device)
    try:
        return distill_step(s, inputs, targets, config, dtype)
    except RuntimeError as exc:
        if not is_out_of_memory(exc):
            raise
        raise DeviceError(f"Out of memory on {device} at --batch-size {config.batch_size} and --crop-size "
                          f"{config.crop_size}; lower one of them; earlier checkpoints are kept.") from exc


def _check_finite(losses: dict[str, torch.Tensor], s: Student, pos: Position, config: DistillConfig, world: World,
                  device: torch.device) -> None:
    """Stop before a diverged student reaches a checkpoint; the earlier ones stay as they were."""
    if distributed.non_finite_loss(losses, world, device) is not None:
        raise DivergedError(f"The {s.direction} student diverged at step {pos.step + 1} (its loss is no longer a "
                            f"number); checkpoints before it are intact; start a new run with a lower --lr than "
                            f"{config.lr:g} or a lower --clip-grad than {config.clip_grad:g}.")


def _final_artefacts(config: DistillConfig, reporter: Reporter, students: list[Student], pools: list[TeacherPool],
                     pos: Position, log_meter: LossMeter, dtype: torch.dtype | None, device: torch.device,
                     world: World) -> None:
    """The last loss record, sample grid and loss curve, however the run ended, so there is always a picture."""
    index = min(pos.direction, len(students) - 1)
    step = _global(pos, config)
    if log_meter.count:
        lr = students[index].sched.get_last_lr()[0]
        reporter.losses(step, index, pos.step, lr, log_meter.means())
    if world.is_main:
        reporter.samples(step, sample_columns(students[index], pools[index], dtype, device))
    reporter.end_epoch()


def _save(config: DistillConfig, run: RunFolder, pos: Position, students: list[Student], log_meter: LossMeter,
          world: World) -> Path | None:
    """Checkpoint on rank 0; every rank learns whether it worked."""
    path, error = None, None
    if world.is_main:
        state = {"config": config.to_dict(), "position": asdict(pos), "students": [s.state_dict() for s in students],
                 "directions": [s.direction for s in students],
                 "specs": [s.generator.spec() for s in students], "log_meter": log_meter.state_dict(),
                 "world_size": world.size}
        try:
            path = save_checkpoint(state, run.checkpoints, _global(pos, config), config.keep_checkpoints, best=False)
        except OutputError as exc:
            error = f"{str(exc).rstrip('.')}; earlier checkpoints in {run.checkpoints} are intact."
    error = distributed.share_from_main(error, world)
    if error:
        raise OutputError(error)
    return path
