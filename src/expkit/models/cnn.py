"""Image classifier: the course's small convolutional network."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from expkit.errors import ConfigError


class CNNClassifier(nn.Module):
    """Three 3x3 convolutions (padding 1; `num_channels`, x2, x4 channels), each followed by ReLU
    and 2x2 max-pooling, then two fully connected layers (`hidden_size`, then `num_classes`).

    `in_channels`, `image_size` and `num_classes` come from the data module. Pooling rounds up
    (`ceil_mode`), so any image size works: 8x8 digits pool to 4, 2, 1; 64x64 images to 8x8.
    """

    input_format = "image"

    def __init__(
        self,
        in_channels: int,
        image_size: int | Sequence[int],
        num_classes: int,
        num_channels: int = 16,
        hidden_size: int = 64,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if not isinstance(num_channels, int) or num_channels < 1:
            raise ConfigError(f"model.num_channels={num_channels!r}: use a whole number >= 1.")
        if not isinstance(hidden_size, int) or hidden_size < 1:
            raise ConfigError(f"model.hidden_size={hidden_size!r}: use a whole number >= 1.")
        if not 0 <= dropout < 1:
            raise ConfigError(f"model.dropout={dropout!r}: use a probability in [0, 1).")
        height, width = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        layers: list[nn.Module] = []
        width_in = in_channels
        for multiple in (1, 2, 4):
            layers += [
                nn.Conv2d(width_in, num_channels * multiple, kernel_size=3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2, ceil_mode=True),
            ]
            width_in = num_channels * multiple
        self.features = nn.Sequential(*layers)
        # The flattened size follows from the image size; measuring it avoids re-deriving pooling arithmetic.
        with torch.no_grad():
            flat = self.features(torch.zeros(1, in_channels, height, width)).numel()
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat, hidden_size),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_size, num_classes),
        )

    def forward(self, images: Tensor) -> Tensor:
        return self.classifier(self.features(images))
