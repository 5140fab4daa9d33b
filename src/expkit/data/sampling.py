"""Batches of row indices, shuffled so that a resumed run repeats them exactly."""

from __future__ import annotations

from typing import Iterator, Sequence

import torch
from torch.utils.data import BatchSampler, Dataset, Sampler, SequentialSampler


class EpochShuffleSampler(Sampler[int]):
    """A random permutation per epoch, drawn from (seed, epoch) alone.

    torch's RandomSampler draws from the global RNG, whose state a checkpoint does not restore,
    so a resumed run would see other batches than an uninterrupted one. Lightning calls
    `set_epoch` before every epoch.
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


class IndexBatchSampler(BatchSampler):
    """Lists of row indices, a batch at a time; passes Lightning's `set_epoch` to its sampler.

    Used as a DataLoader's `sampler` with `batch_size=None`, so the dataset receives a whole
    batch of indices and gathers it with one indexing operation instead of collating rows.
    """

    def __init__(self, n: int, batch_size: int, shuffle: bool) -> None:
        super().__init__(EpochShuffleSampler(n) if shuffle else SequentialSampler(range(n)), batch_size, drop_last=False)

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)


class TensorBatches(Dataset):
    """Tensors of equal length whose `dataset[list_of_rows]` is a whole batch."""

    def __init__(self, *tensors: torch.Tensor) -> None:
        self.tensors = tensors

    def __len__(self) -> int:
        return len(self.tensors[0])

    def __getitem__(self, rows: Sequence[int]) -> tuple[torch.Tensor, ...]:
        index = torch.as_tensor(rows)
        return tuple(t[index] for t in self.tensors)
