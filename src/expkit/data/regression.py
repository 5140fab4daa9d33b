"""Synthetic linear-regression data: y = w·x + b + noise·ε."""

from __future__ import annotations

from typing import Sequence

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from expkit.data.sampling import IndexBatchSampler, TensorBatches
from expkit.errors import ConfigError


class RegressionDataModule(pl.LightningDataModule):
    """Seeded synthetic data for a linear relation, split into train/val/test.

    With `n_features=1`, `weight=0.7`, `bias=0.3` and x in [0, 1) it is the PyTorch course's
    straight line; `weight` may be a list to give each feature its own weight.
    `batch_size=None` makes each split one batch (full-batch gradient descent, as the course
    trains the toy: one step per epoch).
    """

    def __init__(
        self,
        n_samples: int = 1000,
        n_features: int = 1,
        weight: float | Sequence[float] = 0.7,
        bias: float = 0.3,
        noise: float = 0.0,
        x_low: float = 0.0,
        x_high: float = 1.0,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        batch_size: int | None = 32,
        num_workers: int = 0,
        data_seed: int = 0,
    ) -> None:
        super().__init__()
        weights = [float(weight)] * n_features if isinstance(weight, (int, float)) else list(weight)
        if n_features < 1:
            raise ConfigError(f"data.n_features must be >= 1, got {n_features}.")
        if len(weights) != n_features:
            raise ConfigError(
                f"data.weight has {len(weights)} values but data.n_features is {n_features}: "
                "give one number for every feature or a single number for all of them."
            )
        if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
            raise ConfigError(
                f"data.val_fraction ({val_fraction}) and data.test_fraction ({test_fraction}) must be "
                "in [0, 1) and sum to less than 1, leaving rows to train on."
            )
        n_train = n_samples - round(n_samples * val_fraction) - round(n_samples * test_fraction)
        if n_train < 1:
            raise ConfigError(f"data.n_samples={n_samples} leaves no training rows; raise it.")
        if batch_size is not None and batch_size < 1:
            raise ConfigError(f"data.batch_size must be >= 1 or null (the whole split), got {batch_size}.")
        self.n_samples, self.n_features = n_samples, n_features
        self.weights, self.bias, self.noise = weights, float(bias), float(noise)
        self.x_low, self.x_high = x_low, x_high
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.batch_size, self.num_workers, self.data_seed = batch_size, num_workers, data_seed
        self.splits: dict[str, TensorBatches] = {}

    def model_dims(self) -> dict[str, int]:
        """Sizes the network needs: the number of input features."""
        return {"in_features": self.n_features}

    def make_tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All samples, in a fixed order decided by `data_seed` alone."""
        gen = torch.Generator().manual_seed(self.data_seed)
        x = torch.rand(self.n_samples, self.n_features, generator=gen) * (self.x_high - self.x_low) + self.x_low
        y = x @ torch.tensor(self.weights).unsqueeze(1) + self.bias
        if self.noise:
            y = y + self.noise * torch.randn(y.shape, generator=gen)
        return x, y

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        x, y = self.make_tensors()
        n_val = round(self.n_samples * self.val_fraction)
        n_test = round(self.n_samples * self.test_fraction)
        n_train = self.n_samples - n_val - n_test
        bounds = {"train": (0, n_train), "val": (n_train, n_train + n_val), "test": (n_train + n_val, self.n_samples)}
        self.splits = {name: TensorBatches(x[a:b], y[a:b]) for name, (a, b) in bounds.items()}

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        dataset = self.splits[split]
        return DataLoader(
            dataset,
            sampler=IndexBatchSampler(len(dataset), self.batch_size or max(len(dataset), 1), shuffle),
            batch_size=None,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
