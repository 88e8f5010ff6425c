"""The training loop. ``train_step`` is one iteration; ``train`` runs epochs of them, resumable at any iteration."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from cyclegan_fx.errors import DeviceError, DivergedError, OutputError
from cyclegan_fx.runtime.devices import is_out_of_memory
from cyclegan_fx.training import distributed
from cyclegan_fx.training.checkpoint import capture_rng, restore_rng, save_checkpoint
from cyclegan_fx.training.config import TrainConfig
from cyclegan_fx.training.data import TrainingData, make_loader, open_data, work_size
from cyclegan_fx.training.losses import gan_loss, gradient_penalty
from cyclegan_fx.training.model import CycleGAN, build_cyclegan
from cyclegan_fx.training.report import LossMeter, Reporter
from cyclegan_fx.training.run import RunFolder
from cyclegan_fx.training.schedules import end_epoch
from cyclegan_fx.training.seeds import mix_seed, seed_everything
from cyclegan_fx.training.signals import StopRequests

log = logging.getLogger("cyclegan_fx")


def train_step(m: CycleGAN, real_A: torch.Tensor, real_B: torch.Tensor) -> dict[str, torch.Tensor]:
    """Update both generators, then both discriminators; return the losses."""
    c, mode = m.config, m.config.gan_mode

    # Generators: fool the discriminators, cycle back to the input, and leave the other domain's images alone.
    # The frozen discriminators run outside DDP here, which would otherwise wait for their gradients.
    D_A, D_B = distributed.unwrap(m.D_A), distributed.unwrap(m.D_B)
    m.nets.D_A.requires_grad_(False)
    m.nets.D_B.requires_grad_(False)
    with m.autocast():
        fake_B = m.G_A(real_A)
        rec_A = m.G_B(fake_B)
        fake_A = m.G_B(real_B)
        rec_B = m.G_A(fake_A)
        loss_G_A = gan_loss(D_A(fake_B), True, mode)
        loss_G_B = gan_loss(D_B(fake_A), True, mode)
        loss_cycle_A = F.l1_loss(rec_A, real_A) * c.lambda_A
        loss_cycle_B = F.l1_loss(rec_B, real_B) * c.lambda_B
        loss_idt_A = loss_idt_B = torch.zeros((), device=m.device)
        if c.lambda_identity > 0:
            loss_idt_A = F.l1_loss(m.G_A(real_B), real_B) * c.lambda_B * c.lambda_identity
            loss_idt_B = F.l1_loss(m.G_B(real_A), real_A) * c.lambda_A * c.lambda_identity
        loss_G = loss_G_A + loss_G_B + loss_cycle_A + loss_cycle_B + loss_idt_A + loss_idt_B
    m.opt_G.zero_grad(set_to_none=True)
    m.scaler.scale(loss_G).backward()
    m.scaler.step(m.opt_G)

    # Discriminators: real images are real; generated ones, drawn from the history pools, are fake.
    m.nets.D_A.requires_grad_(True)
    m.nets.D_B.requires_grad_(True)
    pooled_fake_B = m.fake_B_pool.query(fake_B)
    pooled_fake_A = m.fake_A_pool.query(fake_A)
    with m.autocast():
        loss_D_A = (gan_loss(m.D_A(real_B), True, mode) + gan_loss(m.D_A(pooled_fake_B), False, mode)) * 0.5
        loss_D_B = (gan_loss(m.D_B(real_A), True, mode) + gan_loss(m.D_B(pooled_fake_A), False, mode)) * 0.5
    if mode == "wgangp":
        loss_D_A = loss_D_A + gradient_penalty(m.nets.D_A, real_B, pooled_fake_B)
        loss_D_B = loss_D_B + gradient_penalty(m.nets.D_B, real_A, pooled_fake_A)
    m.opt_D.zero_grad(set_to_none=True)
    m.scaler.scale(loss_D_A + loss_D_B).backward()
    m.scaler.step(m.opt_D)
    m.scaler.update()

    return {"D_A": loss_D_A, "G_A": loss_G_A, "cycle_A": loss_cycle_A, "idt_A": loss_idt_A,
            "D_B": loss_D_B, "G_B": loss_G_B, "cycle_B": loss_cycle_B, "idt_B": loss_idt_B}


@torch.no_grad()
def translate_samples(m: CycleGAN, samples_a: torch.Tensor, samples_b: torch.Tensor) -> list[torch.Tensor]:
    """Real A, fake B, reconstructed A, real B, fake A, reconstructed B for the held-out images."""
    nets = m.nets
    nets.eval()
    real_A, real_B = m.to_device(samples_a), m.to_device(samples_b)
    fake_B, fake_A = nets.G_A(real_A), nets.G_B(real_B)
    columns = [real_A, fake_B, nets.G_B(fake_B), real_B, fake_A, nets.G_A(fake_A)]
    nets.train()
    return columns


@dataclass
class Position:
    step: int = 0  # iterations done in all
    epoch: int = 0  # the epoch under way, from 0
    batch: int = 0  # iterations done in that epoch


@dataclass(frozen=True)
class TrainResult:
    step: int
    finished: bool  # all epochs or --max-steps done
    stopped_by: int | None  # the signal that stopped it early
    checkpoint: Path | None  # the last checkpoint written (rank 0)


def train(config: TrainConfig, run: RunFolder, resume: dict[str, Any] | None = None) -> TrainResult:
    """Train from scratch, or from the checkpoint ``resume``, until the last epoch, --max-steps or a stop signal."""
    world, device = distributed.join_world(config.device)
    try:
        if not world.is_main:
            log.setLevel(logging.ERROR)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        m = build_cyclegan(config, device, world)
        data = open_data(config, m.nets.granularity, world.size)
        return _run(m, data, run, resume)
    finally:
        distributed.leave_world(world)


def _run(m: CycleGAN, data: TrainingData, run: RunFolder, resume: dict[str, Any] | None) -> TrainResult:
    config, world = m.config, m.world
    steps_per_epoch = data.steps_per_epoch(config.batch_size, world.size)
    last_step = min(config.max_steps or 1 << 62, config.total_epochs * steps_per_epoch)
    pos, epoch_meter, best_cycle = Position(), LossMeter(), float("inf")
    seed_everything(mix_seed(config.seed, world.rank))
    if resume is not None:
        pos, best_cycle = _restore(m, data, resume, epoch_meter, steps_per_epoch)
    if pos.step >= last_step:
        log.info("The run has done %d iterations already; there is nothing left to train.", pos.step)
        return TrainResult(pos.step, True, None, None)
    meta = {"files_a": len(data.files_a), "files_b": len(data.files_b), "world_size": world.size,
            "work_size": work_size(config, data.files_a + data.files_b)}
    reporter = Reporter(run, config.total_epochs, steps_per_epoch, world.is_main, config.tensorboard)
    reporter.resume_at(pos.step)
    log.info("Training %s from iteration %d of %d (%d per epoch) on %s.", config.name, pos.step, last_step, steps_per_epoch, m.device)
    checkpoint, log_meter, checkpoint_meter = None, LossMeter(), LossMeter()

    def save() -> Path | None:
        nonlocal best_cycle
        is_best = checkpoint_meter.cycle() < best_cycle
        best_cycle = min(best_cycle, checkpoint_meter.cycle())
        checkpoint_meter.reset()
        return _save(m, run, pos, epoch_meter, best_cycle, is_best, meta)

    def epochs(stops: StopRequests) -> TrainResult:
        nonlocal checkpoint
        for epoch in range(pos.epoch, config.total_epochs):
            pos.epoch = epoch
            reporter.start_epoch(epoch, pos.batch)
            batches = data.batches(epoch, config.batch_size, world.rank, world.size)[pos.batch :]
            for real_A, real_B in make_loader(data.dataset, batches, config.num_workers, m.device.type == "cuda"):
                losses = _step(m, real_A, real_B)
                _check_finite(losses, m, pos)
                pos.step, pos.batch = pos.step + 1, pos.batch + 1
                for meter in (log_meter, epoch_meter, checkpoint_meter):
                    meter.add(losses)
                reporter.advance()
                if pos.step % config.log_every == 0:
                    reporter.losses(pos.step, epoch, pos.batch, m.lr, log_meter.means())
                    log_meter.reset()
                if _sample_due(config, pos.step) and world.is_main:
                    reporter.samples(pos.step, translate_samples(m, data.samples_a, data.samples_b))
                stop = distributed.any_rank(stops.received is not None, world, m.device)
                if stop or pos.step == last_step or pos.step % config.checkpoint_every == 0:
                    checkpoint = save()
                if stop or pos.step == last_step:
                    return TrainResult(pos.step, not stop, stops.received, checkpoint)
            cycle = float(distributed.mean_over_ranks(torch.tensor(epoch_meter.cycle()), world))
            end_epoch(m.sched_G, cycle)
            end_epoch(m.sched_D, cycle)
            reporter.end_epoch()
            pos.batch = 0
            epoch_meter.reset()
        pos.epoch = config.total_epochs
        return TrainResult(pos.step, True, None, save())

    with StopRequests() as stops:
        try:
            result = epochs(stops)
            _final_artefacts(m, data, reporter, pos, log_meter)
            return result
        finally:
            reporter.close()


def _sample_due(config: TrainConfig, step: int) -> bool:
    return bool(config.sample_every) and step % config.sample_every == 0


def _final_artefacts(m: CycleGAN, data: TrainingData, reporter: Reporter, pos: Position, log_meter: LossMeter) -> None:
    """The last loss record, sample grid and loss curve, however the run ended, so there is always a picture."""
    if log_meter.count:
        epoch = min(pos.epoch, m.config.total_epochs - 1)
        reporter.losses(pos.step, epoch, pos.batch, m.lr, log_meter.means())
    if not _sample_due(m.config, pos.step) and m.world.is_main:
        reporter.samples(pos.step, translate_samples(m, data.samples_a, data.samples_b))
    reporter.end_epoch()


def _step(m: CycleGAN, real_A: torch.Tensor, real_B: torch.Tensor) -> dict[str, torch.Tensor]:
    try:
        return train_step(m, m.to_device(real_A), m.to_device(real_B))
    except RuntimeError as exc:
        if not is_out_of_memory(exc):
            raise
        raise DeviceError(
            f"Out of memory on {m.device} at --batch-size {m.config.batch_size} and --crop-size {m.config.crop_size}; "
            "lower one of them, or use --amp bf16; earlier checkpoints are kept."
        ) from exc


def _check_finite(losses: dict[str, torch.Tensor], m: CycleGAN, pos: Position) -> None:
    """Stop before a diverged model reaches a checkpoint; the earlier ones stay as they were."""
    bad = distributed.non_finite_loss(losses, m.world, m.device)
    if bad is not None:
        raise DivergedError(f"Training diverged at iteration {pos.step + 1} (loss {bad} is no longer a number); "
                            f"checkpoints before it are intact; start a new run with a lower --lr than {m.config.lr:g}.")


def _save(m: CycleGAN, run: RunFolder, pos: Position, epoch_meter: LossMeter, best_cycle: float, is_best: bool,
          meta: dict[str, int]) -> Path | None:
    """Checkpoint on rank 0 with every rank's pools and RNG states; every rank learns whether it worked."""
    ranks = distributed.gather_to_main({"pools": m.pools_state(), "rng": capture_rng(m.device)}, m.world)
    path, error = None, None
    if m.world.is_main:
        state = {"config": m.config.to_dict(), "position": asdict(pos), "model": m.state_dict(), "ranks": ranks,
                 "epoch_meter": epoch_meter.state_dict(), "best_cycle": best_cycle, "data": meta}
        try:
            path = save_checkpoint(state, run.checkpoints, pos.step, m.config.keep_checkpoints, is_best)
        except OutputError as exc:
            error = f"{str(exc).rstrip('.')}; earlier checkpoints in {run.checkpoints} are intact."
    error = distributed.share_from_main(error, m.world)
    if error:
        raise OutputError(error)
    return path


def _restore(m: CycleGAN, data: TrainingData, state: dict[str, Any], epoch_meter: LossMeter,
             steps_per_epoch: int) -> tuple[Position, float]:
    """Load a checkpoint into ``m``; every generator continues where it was."""
    world, meta = m.world, state["data"]
    m.load_state_dict(state["model"])
    ranks = state["ranks"]
    mine = ranks[world.rank % len(ranks)]
    m.load_pools_state(mine["pools"])
    restore_rng(mine["rng"], m.device)
    epoch_meter.load_state_dict(state["epoch_meter"], m.device)
    pos = Position(**state["position"])
    if (meta["files_a"], meta["files_b"]) != (len(data.files_a), len(data.files_b)):
        log.warning("The training folders hold %d and %d images now, %d and %d when the checkpoint was written; "
                    "training goes on, but not exactly as it would have.", len(data.files_a), len(data.files_b),
                    meta["files_a"], meta["files_b"])
    if meta["world_size"] != world.size:
        log.warning("Resuming with %d processes a run checkpointed with %d; training goes on, but not exactly.",
                    world.size, meta["world_size"])
        pos.batch = pos.batch * meta["world_size"] // world.size
    pos.batch = min(pos.batch, steps_per_epoch)
    return pos, state["best_cycle"]
