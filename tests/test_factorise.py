"""Factorising a trained ResNet's convolutions by truncated SVD: exact at full rank, the best approximation below."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import psnr, tiny_generator

from cyclegan_fx.models import resolve_model
from cyclegan_fx.networks.factorise import factorise, max_rank
from cyclegan_fx.runtime.config import RunOptions
from cyclegan_fx.runtime.runner import Runner
from cyclegan_fx.runtime.torch_backend import TorchBackend

CPU = torch.device("cpu")


def test_at_full_rank_the_factorised_generator_is_its_teacher():
    teacher = tiny_generator(seed=1)
    student = factorise(teacher, max_rank(teacher.config)).net.eval()
    teacher = teacher.net
    x = torch.rand(2, 3, 48, 64) * 2 - 1
    with torch.no_grad():
        assert (student(x) - teacher(x)).abs().max() < 1e-4


@pytest.mark.parametrize("rank", [1, 5, 12])
def test_each_factorised_convolution_is_the_best_approximation_of_its_rank(rank):
    """Eckart-Young: the factors' product misses the weights by exactly the singular values left out."""
    teacher = tiny_generator(seed=2)
    student = factorise(teacher, rank).net
    conv, (first, second) = teacher.net.model[10].conv_block[1], student.model[10].conv_block[1]
    with torch.no_grad():
        weights = conv.weight.reshape(conv.out_channels, -1).double()
        product = second.weight.reshape(conv.out_channels, rank).double() @ first.weight.reshape(rank, -1).double()
        missed, dropped = torch.linalg.norm(weights - product), torch.linalg.norm(torch.linalg.svdvals(weights)[rank:])
    assert missed.item() == pytest.approx(dropped.item(), rel=1e-4)
    assert torch.equal(second.bias, conv.bias)


def test_a_lower_rank_costs_fewer_multiply_adds_and_keeps_the_teachers_other_layers():
    teacher = tiny_generator(seed=3)
    costs = [factorise(teacher, rank).program.macs_per_pixel() for rank in (2, 8, 16)]
    assert costs == sorted(costs) and costs[-1] < teacher.program.macs_per_pixel()
    student, layers = factorise(teacher, 8).net.model, teacher.net.model
    for index in (1, 2, len(layers) - 2):  # the 7x7 convolutions and a norm are copied as they are
        for a, b in zip(layers[index].state_dict().values(), student[index].state_dict().values()):
            assert torch.equal(a, b)


@pytest.mark.parametrize("rank", [0, 33])
def test_a_rank_outside_the_teachers_width_is_refused(rank):
    with pytest.raises(ValueError, match="rank must be from 1 to 32"):
        factorise(tiny_generator(), rank)


def test_the_real_vintage_model_factorised_stays_close_to_itself(photo):
    """Before any training, rank 32 of vintage is within 22 dB of its teacher and rank 4 far from it; both tile exactly."""
    teacher = resolve_model("vintage").generator("a2b")
    students = {rank: factorise(teacher, rank) for rank in (4, 32)}
    image = np.ascontiguousarray(photo[:192, :256])
    options = RunOptions(work_size="full", tile=0)
    expected = Runner(teacher, TorchBackend(teacher, CPU, torch.float32)).run(image, options)
    scores = {}
    for rank, student in students.items():
        runner = Runner(student, TorchBackend(student, CPU, torch.float32))
        whole = runner.run(image, options)
        assert psnr(runner.run(image, RunOptions(work_size="full", tile=96)), whole, 255) >= 50
        scores[rank] = psnr(whole, expected, 255)
    assert scores[32] >= 22 and scores[4] <= scores[32] - 8, scores
