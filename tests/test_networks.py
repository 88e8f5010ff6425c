"""Generators and discriminators: official layouts, detection from keys, traced geometry."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
import torch

from cyclegan_fx.networks import (
    ARCHITECTURES,
    GENERATOR_NAMES,
    DiscriminatorConfig,
    build_discriminator,
    generator_from_name,
    generator_from_state_dict,
    init_weights,
)
from cyclegan_fx.networks.registry import detect_architecture

SMALL = {"ngf": 8}


@pytest.mark.parametrize(
    "net_g,norm,dropout", list(itertools.product(GENERATOR_NAMES, ["instance", "batch", "none"], [False, True]))
)
def test_every_generator_variant_is_detected_from_its_own_state_dict(net_g, norm, dropout):
    generator = generator_from_name(net_g, norm=norm, dropout=dropout, **SMALL)
    arch, config = detect_architecture(generator.net.state_dict())
    expected = generator.config if arch.name == "resnet" else replace(generator.config, dropout=False)
    assert arch is generator.arch
    assert config == expected


@pytest.mark.parametrize("net_g", GENERATOR_NAMES)
def test_generators_keep_image_size_and_range(net_g):
    generator = generator_from_name(net_g, **SMALL)
    init_weights(generator.net, "normal", 0.02)
    side = max(generator.granularity, 64)
    x = torch.rand(2, 3, side, side + generator.granularity) * 2 - 1
    with torch.no_grad():
        y = generator.net.eval()(x)
    assert y.shape == x.shape
    assert y.abs().max() <= 1.0


def test_resnet_9blocks_has_the_official_keys_and_parameter_count():
    net = generator_from_name("resnet_9blocks").net
    keys = list(net.state_dict())
    expected = [f"model.{i}.{p}" for i in (1, 4, 7) for p in ("weight", "bias")]
    expected += [f"model.{b}.conv_block.{c}.{p}" for b in range(10, 19) for c in (1, 5) for p in ("weight", "bias")]
    expected += [f"model.{i}.{p}" for i in (19, 22, 26) for p in ("weight", "bias")]
    assert keys == expected
    assert len(keys) == 48
    assert sum(p.numel() for p in net.parameters()) == 11_378_179
    assert net.state_dict()["model.19.weight"].shape == (256, 128, 3, 3)  # ConvTranspose: [in, out, k, k]


def test_resnet_6blocks_parameter_count():
    assert sum(p.numel() for p in generator_from_name("resnet_6blocks").net.parameters()) == 7_837_699


def test_dropout_moves_the_second_block_conv_to_index_6():
    keys = generator_from_name("resnet_9blocks", dropout=True).net.state_dict()
    assert "model.10.conv_block.6.weight" in keys and "model.10.conv_block.5.weight" not in keys


def test_patchgan_matches_the_official_layout():
    net = build_discriminator(DiscriminatorConfig())
    convs = sorted({int(k.split(".")[1]) for k in net.state_dict()})
    assert convs == [0, 2, 5, 8, 11]
    assert sum(p.numel() for p in net.parameters()) == 2_764_737
    assert net(torch.zeros(1, 3, 256, 256)).shape == (1, 1, 30, 30)


@pytest.mark.parametrize("kind,n_layers", [("basic", 3), ("n_layers", 2), ("n_layers", 5), ("pixel", 3)])
def test_discriminators_score_every_patch(kind, n_layers):
    net = build_discriminator(DiscriminatorConfig(kind=kind, n_layers=n_layers, ndf=8))
    out = net(torch.rand(2, 3, 128, 128))
    assert out.shape[:2] == (2, 1) and out.shape[2] > 0


@pytest.mark.parametrize("init_type", ["normal", "xavier", "kaiming", "orthogonal"])
def test_init_types_set_weights_and_zero_biases(init_type):
    net = generator_from_name("resnet_6blocks", norm="batch", **SMALL).net
    init_weights(net, init_type, 0.02)
    conv = net.model[1]
    bn = net.model[2]
    assert conv.weight.std() > 0
    assert net.model[-2].bias.abs().max() == 0
    assert (bn.weight - 1).abs().max() < 0.2


def test_unknown_init_type_is_refused():
    with pytest.raises(ValueError):
        init_weights(generator_from_name("resnet_6blocks", **SMALL).net, "uniform")


@pytest.mark.parametrize(
    "net_g,radius,granularity,min_size",
    [("resnet_9blocks", 87, 4, 8), ("resnet_6blocks", 63, 4, 8), ("unet_256", 1020, 256, 256), ("unet_128", 508, 128, 128)],
)
def test_geometry_is_computed_from_the_layers(net_g, radius, granularity, min_size):
    generator = generator_from_name(net_g, **SMALL)
    assert (generator.radius, generator.granularity, generator.min_size) == (radius, granularity, min_size)


@pytest.mark.parametrize("net_g", ["resnet_6blocks", "resnet_9blocks"])
def test_receptive_radius_bounds_the_true_influence(net_g):
    """The input pixels one output pixel depends on lie within the computed radius, and reach close to it.

    With positive weights every ReLU passes and nothing saturates, so the gradient is
    non-zero exactly on the receptive field.
    """
    generator = generator_from_name(net_g, norm="none", ngf=4)
    net = generator.net.double().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(p.abs() * 0.01)
    x = torch.rand(1, 3, 256, 256, dtype=torch.float64, generator=torch.Generator().manual_seed(0), requires_grad=True)
    net(x)[0, :, 128, 128].sum().backward()
    ys, xs = torch.nonzero(x.grad.abs().sum(1)[0] > 0, as_tuple=True)
    reach = max((ys - 128).abs().max().item(), (xs - 128).abs().max().item())
    assert generator.radius - 8 < reach <= generator.radius


def test_architectures_are_registered_with_their_tiling_contract():
    assert ARCHITECTURES["resnet"].tileable and not ARCHITECTURES["unet"].tileable


def test_generator_from_state_dict_round_trips_every_architecture():
    for net_g in GENERATOR_NAMES:
        source = generator_from_name(net_g, **SMALL)
        init_weights(source.net, "normal", 0.02)
        loaded = generator_from_state_dict(source.net.state_dict())
        x = torch.rand(1, 3, max(source.granularity, 64), max(source.granularity, 64))
        with torch.no_grad():
            assert torch.equal(loaded.net(x), source.net.eval()(x))
