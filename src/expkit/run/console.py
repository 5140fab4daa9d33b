"""What a run shows on the console while it trains: epochs counted from 1, as the log and the
checkpoint names count them, and one line about the model instead of Lightning's summary table.

- `EpochProgressBar`: Lightning's TQDMProgressBar whose bar reads `Epoch 3/5` for the third of
  five epochs (Lightning's says `Epoch 2`, counting from 0, while the log says `epoch 3/5`).
- `ParameterSummary`: Lightning's ModelSummary as one log line (`Model: CNNClassifier, 28.1 K
  parameters (28.1 K trainable), 0.11 MB`). Lightning's own summary table has a FLOPs column
  that reads 0 for every model without an `example_input_array`.
"""

from __future__ import annotations

import logging
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelSummary, TQDMProgressBar
from pytorch_lightning.utilities.model_summary import get_human_readable_count

log = logging.getLogger("expkit")


def epoch_label(trainer: pl.Trainer) -> str:
    """`Epoch 3/5` during the third of five epochs; `Epoch 3` when the number of epochs is open."""
    current = trainer.current_epoch + 1
    total = trainer.max_epochs
    return f"Epoch {current}/{total}" if total is not None and total > 0 else f"Epoch {current}"


class EpochProgressBar(TQDMProgressBar):
    """TQDMProgressBar counting epochs from 1 (`refresh_rate` and the rest as Lightning's)."""

    def on_train_epoch_start(self, trainer: pl.Trainer, *args: Any) -> None:
        super().on_train_epoch_start(trainer, *args)
        self.train_progress_bar.set_description(epoch_label(trainer))


class ParameterSummary(ModelSummary):
    """The model's size in one log line, instead of Lightning's summary table."""

    @staticmethod
    def summarize(summary_data: list[tuple[str, list[str]]], total_parameters: int, trainable_parameters: int,
                  model_size: float, total_training_modes: dict[str, int], *args: Any, **kwargs: Any) -> None:
        names = dict(summary_data)
        # The first row at depth 1 is the network the task wraps (`net`); its type names the model.
        model = names.get("Type", ["?"])[0]
        log.info("Model: %s, %s parameters (%s trainable), %.2f MB", model,
                 get_human_readable_count(total_parameters).strip(),
                 get_human_readable_count(trainable_parameters).strip(), model_size)
