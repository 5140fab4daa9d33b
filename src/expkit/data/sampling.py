"""Shuffling that a resumed run repeats exactly."""

from __future__ import annotations

from typing import Iterator

import torch
from torch.utils.data import Sampler


class EpochShuffleSampler(Sampler[int]):
    """A random permutation per epoch, drawn from (seed, epoch) alone.

    torch's RandomSampler draws from the global RNG, whose state a checkpoint does not restore,
    so a resumed run would see other batches than an uninterrupted one. Lightning calls
    `set_epoch` on samplers before every epoch.
    """

    def __init__(self, n: int, seed: int | None = None) -> None:
        self.n = n
        self.seed = torch.initial_seed() if seed is None else seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        gen = torch.Generator().manual_seed((self.seed * 1_000_003 + self.epoch) % (2**63))
        return iter(torch.randperm(self.n, generator=gen).tolist())

    def __len__(self) -> int:
        return self.n
