"""Learning-rate schedules of the official CycleGAN, stepped once per epoch."""

from __future__ import annotations

from torch.optim import Optimizer, lr_scheduler

from cyclegan_fx.training.config import TrainConfig


def make_scheduler(optimizer: Optimizer, config: TrainConfig) -> lr_scheduler.LRScheduler | lr_scheduler.ReduceLROnPlateau:
    """linear: constant for n_epochs, then to zero over n_epochs_decay; step, plateau, cosine as officially."""
    if config.lr_policy == "linear":
        def factor(epoch: int) -> float:
            return 1.0 - max(0, epoch + 1 - config.n_epochs) / float(config.n_epochs_decay + 1)

        return lr_scheduler.LambdaLR(optimizer, factor)
    if config.lr_policy == "step":
        return lr_scheduler.StepLR(optimizer, step_size=config.lr_decay_iters, gamma=0.1)
    if config.lr_policy == "plateau":
        return lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.2, threshold=0.01, patience=5)
    return lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, config.n_epochs), eta_min=0)


def end_epoch(scheduler: lr_scheduler.LRScheduler | lr_scheduler.ReduceLROnPlateau, cycle_loss: float) -> None:
    """Step the schedule; the plateau policy watches the epoch's mean cycle loss."""
    if isinstance(scheduler, lr_scheduler.ReduceLROnPlateau):
        scheduler.step(cycle_loss)
    else:
        scheduler.step()
