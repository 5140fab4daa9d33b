"""`DataModule`: the data side of expkit's contract (see `expkit.contract`) plus shared loaders.

A subclass fills `self.splits` ("train", "val", "test") in `setup()` with datasets whose
`dataset[list_of_rows]` returns a whole batch `(*inputs, target)`, and implements
`model_dims()`, `task_facts()` and `predict_inputs()`. The loaders, the batch sampler (shuffles
drawn from (seed, epoch), so resumed runs see the same batches) and the input-format switch
live here once.
"""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from expkit.data.sampling import IndexBatchSampler, distributed_rank
from expkit.errors import ConfigError


class DataModule(pl.LightningDataModule):
    """Base class of expkit's data modules; see `expkit.contract` for what each member means."""

    task_type: ClassVar[str]
    input_formats: ClassVar[tuple[str, ...]]
    model_dims_keys: ClassVar[tuple[str, ...]] = ()
    task_facts_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(self, batch_size: int | None = 32, eval_batch_size: int | None = None, num_workers: int = 0) -> None:
        super().__init__()
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
            raise ConfigError(f"data.batch_size={batch_size!r}: use a whole number >= 1, or null for full-batch training.")
        if eval_batch_size is not None and (not isinstance(eval_batch_size, int) or eval_batch_size < 1):
            raise ConfigError(f"data.eval_batch_size={eval_batch_size!r}: use a whole number >= 1, or null.")
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ConfigError(f"data.num_workers={num_workers!r}: use a whole number >= 0.")
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.num_workers = num_workers
        self.input_format = self.input_formats[0]
        self.splits: dict[str, Dataset] = {}

    # -- the contract's defaults ---------------------------------------------------------------
    def task_facts(self) -> dict[str, Any]:
        return {}

    def set_input_format(self, name: str) -> None:
        if name not in self.input_formats:
            raise ConfigError(
                f"{type(self).__name__} builds {list(self.input_formats)} batches, not {name!r}; choose a model made for this data."
            )
        self.input_format = name

    def predict_inputs(self, items: Sequence[str]) -> tuple[torch.Tensor, ...]:
        raise NotImplementedError(f"{type(self).__name__} does not implement predict_inputs()")

    # -- loaders -------------------------------------------------------------------------------
    def batch_rows(self, split: str, train: bool, world_size: int = 1) -> int:
        """Rows per batch (per process under DDP): `batch_size` for training (None: the whole
        split, full-batch training); for evaluation `eval_batch_size`, else the larger of
        batch_size and 256."""
        n = -(-len(self.splits[split]) // world_size)  # this process's share of the split
        if train:
            size = self.batch_size or n
        else:
            size = self.eval_batch_size or (max(self.batch_size, 256) if self.batch_size else n)
        return max(1, min(size, n) if n else size)

    def batches(self, split: str) -> Dataset:
        """The split as a dataset whose `dataset[list_of_rows]` is a whole batch `(*inputs, target)`;
        override when `splits` holds another representation (the text module's encoded documents)."""
        return self.splits[split]

    def loader(self, split: str, train: bool = False) -> DataLoader:
        if split not in self.splits:
            raise ConfigError(f"{type(self).__name__} has no {split!r} split (it has {sorted(self.splits)}); call setup() first.")
        dataset = self.batches(split)
        # Lightning asks for the loaders after it has set up the process group: each rank then
        # gets its share of the rows, and batch_size stays per process (as in Lightning).
        rank, world_size = distributed_rank()
        sampler = IndexBatchSampler(len(dataset), self.batch_rows(split, train, world_size), shuffle=train,
                                    rank=rank, world_size=world_size)
        return DataLoader(
            dataset, sampler=sampler, batch_size=None, num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0, pin_memory=self.pins_memory(),
        )

    def pins_memory(self) -> bool:
        """Page-locked batches when the Trainer trains on a CUDA device: Lightning then copies
        them to the GPU with `non_blocking=True` (it does so for every non-CPU device), which
        overlaps the copy with the previous step's work. Never on the CPU, where pinning only costs."""
        trainer = getattr(self, "trainer", None)
        try:
            device = trainer.strategy.root_device if trainer is not None else None
        except (AttributeError, RuntimeError):  # a strategy not set up yet
            return False
        return device is not None and device.type == "cuda"

    def train_dataloader(self) -> DataLoader:
        return self.loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self.loader("val")

    def test_dataloader(self) -> DataLoader:
        return self.loader("test")

    def predict_dataloader(self) -> DataLoader:
        return self.loader("test")
