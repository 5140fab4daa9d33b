"""Synthetic linear-regression data: y = w·x + b + noise·ε."""

from __future__ import annotations

from typing import Any, Sequence

import torch

from expkit.data.base import DataModule
from expkit.data.sampling import TensorBatches
from expkit.errors import ConfigError, DataError


class RegressionDataModule(DataModule):
    """Seeded synthetic data for a linear relation, split into train/val/test.

    With `n_features=1`, `weight=0.7`, `bias=0.3` and x in [0, 1) it is the PyTorch course's
    straight line; `weight` may be a list to give each feature its own weight. `batch_size=None`
    trains full-batch (one step per epoch), as the course does.
    """

    task_type = "regression"
    input_formats = ("features",)
    model_dims_keys = ("in_features",)

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
        super().__init__(batch_size=batch_size, num_workers=num_workers)
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
        self.n_samples, self.n_features = n_samples, n_features
        self.weights, self.bias, self.noise = weights, float(bias), float(noise)
        self.x_low, self.x_high = x_low, x_high
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.data_seed = data_seed

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

    def predict_inputs(self, items: Sequence[str]) -> tuple[torch.Tensor]:
        """Feature rows from text: each item is one row of `n_features` numbers separated by
        commas or spaces (`"0.5"`, `"0.1,0.2"`)."""
        import math

        rows = []
        for n, item in enumerate(items, 1):
            text = str(item)
            # Commas separate fields, so "1," has an empty second field (a missing value, not one value).
            fields = [f.strip() for f in text.split(",")] if "," in text else text.split()
            if "" in fields:
                raise DataError(f"input {n} ({item!r}) has an empty field; give {self.n_features} number(s) per row.")
            try:
                values = [float(f) for f in fields]
            except ValueError:
                raise DataError(f"input {n} ({item!r}) is not a row of numbers; give {self.n_features} number(s) per row.") from None
            # float32 is what the model computes in: 1e39 is as infinite there as "inf" is.
            if not all(math.isfinite(v) and abs(v) <= 3.4e38 for v in values):
                raise DataError(f"input {n} ({item!r}) holds a value that is not a finite number (nan, inf, or beyond "
                                "float32's range); give finite numbers.")
            if len(values) != self.n_features:
                raise DataError(
                    f"input {n} ({item!r}) has {len(values)} number(s); this model takes {self.n_features} feature(s) per row."
                )
            rows.append(values)
        return (torch.tensor(rows, dtype=torch.float32).reshape(len(rows), self.n_features),)

    def state_dict(self) -> dict[str, Any]:
        return {"n_features": self.n_features}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.n_features = int(state.get("n_features", self.n_features))
