"""Regression networks: a linear layer and a small MLP."""

from __future__ import annotations

from typing import Sequence

from torch import Tensor, nn

from expkit.errors import ConfigError

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "silu": nn.SiLU}


class LinearRegressor(nn.Module):
    """y = Wx + b: the course's linear regression model."""

    input_format = "features"

    def __init__(self, in_features: int, out_features: int = 1) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x)


class MLPRegressor(nn.Module):
    """Fully connected layers with an activation between them."""

    input_format = "features"

    def __init__(
        self,
        in_features: int,
        hidden_sizes: Sequence[int] = (64, 64),
        activation: str = "relu",
        out_features: int = 1,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ConfigError(
                f"model.activation={activation!r} is not known; use one of {', '.join(ACTIVATIONS)}."
            )
        layers: list[nn.Module] = []
        width = in_features
        for size in hidden_sizes:
            layers += [nn.Linear(width, int(size)), ACTIVATIONS[activation]()]
            width = int(size)
        layers.append(nn.Linear(width, out_features))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)
