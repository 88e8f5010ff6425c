"""The four networks, their optimizers and schedules, and how they run (device, precision, layout, DDP)."""

from __future__ import annotations

import contextlib
import itertools
import logging
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from cyclegan_fx.errors import DeviceError
from cyclegan_fx.networks import DiscriminatorConfig, Generator, build_discriminator, generator_from_name, init_weights
from cyclegan_fx.training import distributed
from cyclegan_fx.training.config import TrainConfig
from cyclegan_fx.training.distributed import World
from cyclegan_fx.training.pool import ImagePool
from cyclegan_fx.training.schedules import make_scheduler
from cyclegan_fx.training.seeds import mix_seed

log = logging.getLogger("cyclegan_fx")


def make_generator(config: TrainConfig) -> Generator:
    """An untrained generator of the configured architecture (CycleGAN generators use no dropout)."""
    return generator_from_name(config.netG, ngf=config.ngf, norm=config.norm, dropout=False)


def make_discriminator(config: TrainConfig) -> nn.Module:
    return build_discriminator(DiscriminatorConfig(config.netD, 3, config.ndf, config.n_layers_D, config.norm))


class Nets(nn.Module):
    """G_A: A -> B, G_B: B -> A; D_A judges domain B, D_B judges domain A (the official naming)."""

    def __init__(self, config: TrainConfig) -> None:
        super().__init__()
        generator = make_generator(config)
        self.granularity = generator.granularity  # image sides must be multiples of this
        self.G_A = generator.net
        self.G_B = make_generator(config).net
        self.D_A = make_discriminator(config)
        self.D_B = make_discriminator(config)
        for net in (self.G_A, self.G_B, self.D_A, self.D_B):
            init_weights(net, config.init_type, config.init_gain)


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast precision, or None for plain fp32."""
    if amp == "auto":
        return torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else None
    if amp == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise DeviceError("This GPU does not support bf16; use --amp fp16 or --amp off.")
    if amp == "fp16" and device.type == "cpu":
        log.warning("fp16 on the CPU is usually slower than fp32; bf16 is the CPU's mixed precision.")
    return {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}[amp]


@dataclass
class CycleGAN:
    """What one training step touches. G_A..D_B are the callables to train with (compiled, DDP-wrapped)."""

    config: TrainConfig
    device: torch.device
    world: World
    nets: Nets
    G_A: nn.Module
    G_B: nn.Module
    D_A: nn.Module
    D_B: nn.Module
    opt_G: torch.optim.Optimizer
    opt_D: torch.optim.Optimizer
    sched_G: Any
    sched_D: Any
    scaler: torch.amp.GradScaler
    fake_A_pool: ImagePool
    fake_B_pool: ImagePool
    precision: torch.dtype | None
    memory_format: torch.memory_format

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.precision is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.precision)

    def to_device(self, images: torch.Tensor) -> torch.Tensor:
        return images.to(self.device, non_blocking=True, memory_format=self.memory_format)

    @property
    def lr(self) -> float:
        return self.opt_G.param_groups[0]["lr"]

    def state_dict(self) -> dict[str, Any]:
        """The state every rank shares: networks, optimizers, schedules, gradient scaler."""
        return {
            "nets": self.nets.state_dict(),
            "opt_G": self.opt_G.state_dict(),
            "opt_D": self.opt_D.state_dict(),
            "sched_G": self.sched_G.state_dict(),
            "sched_D": self.sched_D.state_dict(),
            "scaler": self.scaler.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.nets.load_state_dict(state["nets"])
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        self.sched_G.load_state_dict(state["sched_G"])
        self.sched_D.load_state_dict(state["sched_D"])
        self.scaler.load_state_dict(state["scaler"])

    def pools_state(self) -> dict[str, Any]:
        return {"fake_A": self.fake_A_pool.state_dict(), "fake_B": self.fake_B_pool.state_dict()}

    def load_pools_state(self, state: dict[str, Any]) -> None:
        self.fake_A_pool.load_state_dict(state["fake_A"], self.device)
        self.fake_B_pool.load_state_dict(state["fake_B"], self.device)


def build_cyclegan(config: TrainConfig, device: torch.device, world: World = World()) -> CycleGAN:
    """Networks initialized from ``config.seed`` (the same on every rank), ready to train on ``device``."""
    torch.manual_seed(config.seed)
    nets = Nets(config).to(device)
    memory_format = torch.channels_last if config.channels_last and device.type == "cuda" else torch.contiguous_format
    nets = nets.to(memory_format=memory_format)
    precision = amp_dtype(config.amp, device)
    G_A, G_B, D_A, D_B = (_for_training(net, config, world, device) for net in (nets.G_A, nets.G_B, nets.D_A, nets.D_B))
    fused = True if device.type == "cuda" else None
    betas = (config.beta1, 0.999)
    opt_G = torch.optim.Adam(itertools.chain(nets.G_A.parameters(), nets.G_B.parameters()), config.lr, betas, fused=fused)
    opt_D = torch.optim.Adam(itertools.chain(nets.D_A.parameters(), nets.D_B.parameters()), config.lr, betas, fused=fused)
    return CycleGAN(
        config, device, world, nets, G_A, G_B, D_A, D_B, opt_G, opt_D,
        make_scheduler(opt_G, config), make_scheduler(opt_D, config),
        torch.amp.GradScaler(device.type, enabled=precision == torch.float16),
        ImagePool(config.pool_size, mix_seed(config.seed, world.rank, 0)),
        ImagePool(config.pool_size, mix_seed(config.seed, world.rank, 1)),
        precision, memory_format,
    )


def _for_training(net: nn.Module, config: TrainConfig, world: World, device: torch.device) -> nn.Module:
    if config.compile:
        net = torch.compile(net)
    return distributed.wrap(net, world, device)
