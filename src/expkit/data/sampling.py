"""Batches of row indices, shuffled so that a resumed run repeats them exactly."""

from __future__ import annotations

import math
from typing import Iterator, Sequence

import torch
from torch.utils.data import BatchSampler, Dataset, Sampler, SequentialSampler


class EpochShuffleSampler(Sampler[int]):
    """A random permutation per epoch, drawn from (seed, epoch) alone; under DDP, rank `rank`'s share.

    torch's RandomSampler draws from the global RNG, whose state a checkpoint does not restore,
    so a resumed run would see other batches than an uninterrupted one. Lightning calls
    `set_epoch` before every epoch.

    Every rank draws the same permutation and takes every `world_size`-th row of it, starting at
    its rank: batch k of each rank then comes from the same `world_size * batch_size` rows as
    batch k of one process with a `world_size` times larger batch, so DDP's averaged gradient is
    that process's gradient. The permutation is padded with its first rows to a multiple of
    `world_size` (as torch's DistributedSampler does): every rank gets as many rows, hence as
    many batches, or the gradient all-reduce of the longer rank would wait forever.
    """

    def __init__(self, n: int, seed: int | None = None, rank: int = 0, world_size: int = 1) -> None:
        self.n = n
        self.seed = torch.initial_seed() if seed is None else seed
        self.epoch = 0
        self.rank, self.world_size = rank, world_size
        self.rows_per_rank = math.ceil(n / world_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        gen = torch.Generator().manual_seed((self.seed * 1_000_003 + self.epoch) % (2**63))
        order = torch.randperm(self.n, generator=gen)
        total = self.rows_per_rank * self.world_size
        if total > self.n:
            order = order.repeat(math.ceil(total / self.n))[:total]
        return iter(order[self.rank :: self.world_size].tolist())

    def __len__(self) -> int:
        return self.rows_per_rank


class IndexBatchSampler(BatchSampler):
    """Lists of row indices, a batch at a time; passes Lightning's `set_epoch` to its sampler.

    Used as a DataLoader's `sampler` with `batch_size=None`, so the dataset receives a whole
    batch of indices and gathers it with one indexing operation instead of collating rows.

    Under DDP (`world_size` > 1) each rank gets a disjoint share of the rows (`shuffle`: see
    EpochShuffleSampler; evaluation: every `world_size`-th row, not padded, so that metrics
    reduced with `sync_dist` count every row once). Lightning cannot put a DistributedSampler
    in these loaders (it would wrap the batches and lose the (seed, epoch) order), so the
    trainer configs set `use_distributed_sampler: false`.
    """

    def __init__(self, n: int, batch_size: int, shuffle: bool, rank: int = 0, world_size: int = 1) -> None:
        if shuffle:
            sampler: Sampler[int] | list[int] = EpochShuffleSampler(n, rank=rank, world_size=world_size)
        elif world_size > 1:
            sampler = list(range(rank, n, world_size))
        else:
            sampler = SequentialSampler(range(n))
        super().__init__(sampler, batch_size, drop_last=False)

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)


def distributed_rank() -> tuple[int, int]:
    """(rank, world size) of this process's torch.distributed group, or (0, 1) outside one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class TensorBatches(Dataset):
    """Tensors of equal length whose `dataset[list_of_rows]` is a whole batch."""

    def __init__(self, *tensors: torch.Tensor) -> None:
        self.tensors = tensors

    def __len__(self) -> int:
        return len(self.tensors[0])

    def __getitem__(self, rows: Sequence[int]) -> tuple[torch.Tensor, ...]:
        index = torch.as_tensor(rows)
        return tuple(t[index] for t in self.tensors)
