"""Stop a run whose numbers have stopped meaning anything, or whose folder is gone, before it saves.

A NaN or infinite loss never recovers: every later step and every checkpoint after it holds NaN
weights, and a run that "finishes" that way looks successful in `expkit runs`. The guard stops at
the first non-finite training loss (or validation value of the monitored metric), before the
ModelCheckpoint callback runs (Lightning orders checkpoint callbacks last), so the checkpoints on
disk are the last good ones.
"""

from __future__ import annotations

import math
from typing import Any

import pytorch_lightning as pl

from expkit.errors import ExpkitError


class NonFiniteLoss(ExpkitError):
    """Training produced a NaN or infinite loss; the run is stopped and marked failed."""


def _value(outputs: Any) -> float | None:
    loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
    try:
        return float(loss)
    except (TypeError, ValueError, RuntimeError):
        return None


class FiniteLossGuard(pl.Callback):
    """Raises NonFiniteLoss at the first non-finite training loss or monitored validation value."""

    def __init__(self, monitor: str, last_checkpoint: str) -> None:
        self.monitor = monitor
        self.last_checkpoint = last_checkpoint

    def _stop(self, trainer: pl.Trainer, what: str, value: float, where: str) -> None:
        raise NonFiniteLoss(
            f"{what} is {value} at epoch {trainer.current_epoch + 1}, {where}: training diverged, so the run was "
            f"stopped there. The checkpoints kept are the last good ones ({self.last_checkpoint} if one was saved). "
            "Lower optimizer.lr (or clip gradients with trainer.gradient_clip_val=1.0) and train again."
        )

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        value = _value(outputs)
        if value is not None and not math.isfinite(value):
            self._stop(trainer, "The training loss", value, f"batch {batch_idx + 1} (global step {trainer.global_step})")

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is not None and not math.isfinite(float(value)):
            self._stop(trainer, f"The validation value {self.monitor}", float(value),
                       f"end of the epoch (global step {trainer.global_step})")


class RunFolderGuard(pl.Callback):
    """Stops the run (RunFolderGone) at the first step or epoch end after its folder was deleted,
    before the checkpoint callbacks (ordered last by Lightning) would write into it again and so
    re-create it. One `stat` a step."""

    def __init__(self, folder: Any) -> None:
        self.folder = folder  # a RunFolder

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int) -> None:
        self.folder.require_present()

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.folder.require_present()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.folder.require_present()
