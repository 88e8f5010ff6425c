"""What only a CUDA GPU can check: the runner in fp32/fp16/bf16 on CUDA, the auto choices there,
and mixed-precision training with resume. Skipped with a reason where no GPU is usable."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers import SMALL, cpu_runner, invoke, psnr, small_generator

from cyclegan_fx.models.resolve import checkpoint_model
from cyclegan_fx.networks import load_generator
from cyclegan_fx.runners.factory import open_runner
from cyclegan_fx.runtime.config import RunOptions
from cyclegan_fx.runtime.runner import Runner
from cyclegan_fx.runtime.torch_backend import TorchBackend
from cyclegan_fx.training.checkpoint import load_latest
from cyclegan_fx.training.report import read_losses

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; none is usable here"),
]
CUDA = torch.device("cuda")
TINY = ["--netG", "resnet_6blocks", "--ngf", "8", "--ndf", "8", "--preprocess", "crop", "--crop-size", "32",
        "--sample-every", "0", "--log-every", "1", "--checkpoint-every", "2", "--no-auto-export", "--num-workers", "0",
        "--device", "cuda"]


@pytest.fixture(scope="module")
def rgb(photo) -> np.ndarray:
    return photo[:312, :470].astype(np.float32) / 255


@pytest.fixture(scope="module")
def reference(vintage_path, rgb) -> np.ndarray:
    """One whole-image fp32 pass on the CPU."""
    return cpu_runner(vintage_path).run(rgb, RunOptions(tile=0))


@pytest.mark.parametrize("dtype,floor", [(torch.float32, 50), (torch.float16, 40), (torch.bfloat16, 40)])
def test_exact_tiles_on_cuda_match_the_cpu_reference(vintage_path, rgb, reference, dtype, floor):
    generator = load_generator(vintage_path)  # a backend takes its generator over
    runner = Runner(generator, TorchBackend(generator, CUDA, dtype))
    assert psnr(runner.run(rgb, RunOptions(tile=96, batch=4)), reference, 1.0) >= floor


@pytest.mark.parametrize("name", sorted(SMALL))
def test_every_architecture_tiles_on_cuda_in_fp16_as_it_runs_whole_in_fp32_on_the_cpu(name, rgb):
    cpu = Runner(small_generator(name), TorchBackend(small_generator(name), torch.device("cpu"), torch.float32))
    cuda = Runner(small_generator(name), TorchBackend(small_generator(name), CUDA, torch.float16))
    crop = np.ascontiguousarray(rgb[:256, :384])
    expected = cpu.run(crop, RunOptions(work_size="full", tile=0))
    assert psnr(cuda.run(crop, RunOptions(work_size="full", tile=128, batch=4)), expected, 1.0) >= 35


def test_frames_batched_on_cuda_equal_one_call_per_frame(vintage_path, photo):
    generator = load_generator(vintage_path)
    runner = Runner(generator, TorchBackend(generator, CUDA, torch.float16))
    frames = [photo[y : y + 200, x : x + 300] for y, x in ((0, 0), (100, 150), (200, 300))]
    for options in (RunOptions(work_size="full", tile=96, batch=6), RunOptions(work_size="full", tile=0)):
        together = runner.run_batch(frames, options)
        for frame, out in zip(frames, together):
            assert psnr(out, runner.run(frame, options), 255.0) >= 40  # cuDNN may pick other fp16 kernels per batch


def test_auto_on_a_gpu_is_pytorch_fp16_without_an_engine(vintage_path):
    runner = open_runner(checkpoint_model(vintage_path), "a2b", device="auto", precision="auto", backend="auto")
    assert runner.backend.device.type == "cuda" and runner.backend.dtype == torch.float16
    assert runner.backend.name == "torch-cuda"


@pytest.mark.parametrize("amp", ["fp16", "bf16"])
def test_mixed_precision_training_runs_and_resumes(dataset, tmp_path, amp):
    def train(runs, *extra):
        code, out = invoke("train", dataset, "--name", "g", "--runs-dir", runs, *TINY, "--amp", amp, "--seed", "3", *extra)
        assert code == 0, out
        return load_latest(runs / "g" / "checkpoints")[1]

    straight = train(tmp_path / "straight", "--max-steps", "4")
    halfway = train(tmp_path / "split", "--max-steps", "2")
    code, out = invoke("train", "--resume", tmp_path / "split" / "g", "--max-steps", "4")
    assert code == 0, out
    split = load_latest(tmp_path / "split" / "g" / "checkpoints")[1]
    assert split["position"]["step"] == straight["position"]["step"] == 4
    assert straight["model"]["nets"].keys() == split["model"]["nets"].keys()
    # Some CUDA kernels (reflection-pad backward, cuDNN's chosen algorithms) are not bitwise deterministic,
    # and Adam turns tiny gradient differences into whole-step differences, so on a GPU the resumed run is
    # checked against how far the two resumed steps moved the weights: a resume that lost the optimizer,
    # scaler or data position moves them elsewhere. The CPU test checks resuming bit for bit.
    moved = _distance(straight["model"]["nets"], halfway["model"]["nets"])
    assert _distance(straight["model"]["nets"], split["model"]["nets"]) <= 0.25 * moved
    rows = read_losses(tmp_path / "straight" / "g" / "losses.csv")
    assert rows and all(math.isfinite(v) for row in rows for v in row.values())


def _distance(a: dict, b: dict) -> float:
    """Euclidean distance between two state dicts' floating-point tensors."""
    squares = (float((v.float().cpu() - b[k].float().cpu()).square().sum()) for k, v in a.items()
               if v.is_floating_point())
    return math.sqrt(sum(squares))
