"""The generator architectures this project knows: how to detect, build and describe each."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from cyclegan_fx.networks import compact, resnet, unet
from cyclegan_fx.networks.program import Program


@dataclass(frozen=True)
class Architecture:
    name: str
    config_type: type
    build: Callable[[Any], nn.Module]
    detect: Callable[[Mapping[str, torch.Tensor]], Any]
    tileable: bool  # False where the receptive field spans the whole training crop (U-Net)


ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in (
        Architecture("resnet", resnet.ResnetConfig, resnet.ResnetGenerator, resnet.detect, tileable=True),
        Architecture("unet", unet.UnetConfig, unet.UnetGenerator, unet.detect, tileable=False),
        Architecture("compact", compact.CompactConfig, compact.CompactGenerator, compact.detect, tileable=True),
    )
}

# The official ``--netG`` names.
GENERATOR_NAMES: dict[str, tuple[str, dict[str, int]]] = {
    "resnet_9blocks": ("resnet", {"n_blocks": 9}),
    "resnet_6blocks": ("resnet", {"n_blocks": 6}),
    "unet_256": ("unet", {"num_downs": 8}),
    "unet_128": ("unet", {"num_downs": 7}),
}


@dataclass(frozen=True, eq=False)
class Generator:
    """A built generator and its contract: what any backend must honour to run it."""

    arch: Architecture
    config: Any
    net: nn.Module
    program: Program

    @property
    def granularity(self) -> int:
        return self.program.granularity

    @property
    def radius(self) -> int:
        return self.program.radius()

    @property
    def min_size(self) -> int:
        return self.program.min_size

    @property
    def tileable(self) -> bool:
        return self.arch.tileable

    @property
    def in_channels(self) -> int:
        return self.program.in_channels

    @property
    def out_channels(self) -> int:
        return self.program.out_channels

    def spec(self) -> dict[str, Any]:
        """Architecture name and parameters, as stored in model.json."""
        return {"name": self.arch.name, "params": asdict(self.config)}


def build_generator(arch_name: str, config: Any | None = None) -> Generator:
    """A freshly initialized generator of a registered architecture."""
    arch = ARCHITECTURES[arch_name]
    config = config if config is not None else arch.config_type()
    net = arch.build(config)
    return Generator(arch, config, net, Program.of(net, config.input_nc))


def generator_from_spec(spec: Mapping[str, Any]) -> Generator:
    """Build the generator a model.json ``architecture`` entry describes."""
    arch = ARCHITECTURES[spec["name"]]
    return build_generator(arch.name, arch.config_type(**spec["params"]))


def generator_from_name(net_g: str, **params: Any) -> Generator:
    """Build an official ``--netG`` generator (``resnet_9blocks``, ``unet_256``, ...)."""
    arch_name, fixed = GENERATOR_NAMES[net_g]
    return build_generator(arch_name, ARCHITECTURES[arch_name].config_type(**fixed, **params))


def detect_architecture(state: Mapping[str, torch.Tensor]) -> tuple[Architecture, Any] | None:
    """The first registered architecture whose detector accepts these keys and shapes."""
    for arch in ARCHITECTURES.values():
        config = arch.detect(state)
        if config is not None:
            return arch, config
    return None
