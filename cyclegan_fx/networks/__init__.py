"""Generators, discriminators, their traced programs, and checkpoint import."""

from cyclegan_fx.networks.checkpoint import generator_from_state_dict, load_generator, read_state_dict
from cyclegan_fx.networks.compact import CompactConfig, CompactGenerator
from cyclegan_fx.networks.discriminators import DiscriminatorConfig, build_discriminator
from cyclegan_fx.networks.init import init_weights
from cyclegan_fx.networks.program import Op, OpKind, Program
from cyclegan_fx.networks.registry import (
    ARCHITECTURES,
    GENERATOR_NAMES,
    Generator,
    build_generator,
    generator_from_name,
    generator_from_spec,
)
from cyclegan_fx.networks.resnet import ResnetConfig, ResnetGenerator
from cyclegan_fx.networks.unet import UnetConfig, UnetGenerator

__all__ = [
    "ARCHITECTURES",
    "GENERATOR_NAMES",
    "CompactConfig",
    "CompactGenerator",
    "DiscriminatorConfig",
    "Generator",
    "Op",
    "OpKind",
    "Program",
    "ResnetConfig",
    "ResnetGenerator",
    "UnetConfig",
    "UnetGenerator",
    "build_discriminator",
    "build_generator",
    "generator_from_name",
    "generator_from_spec",
    "generator_from_state_dict",
    "init_weights",
    "load_generator",
    "read_state_dict",
]
