"""Deriving independent seeds from the run's seed, and seeding every generator of a process."""

from __future__ import annotations

import random

import numpy as np
import torch


def mix_seed(*numbers: int) -> int:
    """A 63-bit seed that depends on every number."""
    return int(np.random.SeedSequence(list(numbers)).generate_state(1, np.uint64)[0] >> np.uint64(1))


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (CUDA's included)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
