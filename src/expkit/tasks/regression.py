"""Regression: MSE or L1 loss, MAE, and a predictions-vs-truth figure."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from expkit.errors import ConfigError
from expkit.tasks.base import OptimizerFactory, SchedulerFactory, Task

LOSSES = {"mse": F.mse_loss, "l1": F.l1_loss}


class RegressionTask(Task):
    """Trains `net` to predict y from x; logs `{train,val,test}/loss` and `{val,test}/mae`."""

    task_type = "regression"
    logged_metrics = ("loss", "mae")

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        loss: str = "mse",
    ) -> None:
        super().__init__(net, optimizer, scheduler)
        if loss not in LOSSES:
            raise ConfigError(f"task.loss={loss!r} is not known; use one of {', '.join(LOSSES)}.")
        self.loss_fn = LOSSES[loss]

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = self.loss_fn(self.net(x), y)
        self.log_train_loss(loss, len(x))
        return loss

    def _evaluate(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> None:
        x, y = batch
        pred = self.net(x)
        # sync_dist: under DDP the epoch value is the row-weighted mean over every rank's rows
        # (one all-reduce at epoch end; nothing when there is one process).
        self.log(f"{stage}/loss", self.loss_fn(pred, y), prog_bar=stage == "val", batch_size=len(x), sync_dist=True)
        self.log(f"{stage}/mae", F.l1_loss(pred, y), batch_size=len(x), sync_dist=True)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def describe_predictions(self, outputs: torch.Tensor, top_k: int = 1) -> list[dict[str, Any]]:
        """{"prediction": value} per row (a list when the model has several outputs)."""
        rows = outputs.detach().float().cpu().reshape(len(outputs), -1).tolist()
        return [{"prediction": row[0] if len(row) == 1 else row} for row in rows]

    def on_train_end(self) -> None:
        writer = self.tensorboard()
        datamodule = self.trainer.datamodule
        if writer is None or datamodule is None or "val" not in getattr(datamodule, "splits", {}):
            return
        x, y = datamodule.splits["val"].tensors
        with torch.no_grad():
            pred = self.net(x.to(self.device)).cpu()
        writer.add_figure("val/predictions", predictions_figure(x, y, pred), self.global_step)


def predictions_figure(x: torch.Tensor, y: torch.Tensor, pred: torch.Tensor):
    """Predicted vs true y (and, for one feature, both against x)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    one_feature = x.shape[1] == 1
    fig, axes = plt.subplots(1, 2 if one_feature else 1, figsize=(10 if one_feature else 5, 4))
    axes = list(axes) if one_feature else [axes]
    lo, hi = float(min(y.min(), pred.min())), float(max(y.max(), pred.max()))
    axes[0].scatter(y.squeeze(-1), pred.squeeze(-1), s=8, alpha=0.6)
    axes[0].plot([lo, hi], [lo, hi], "k--", linewidth=1)
    axes[0].set(xlabel="true y", ylabel="predicted y", title="predictions vs truth")
    if one_feature:
        axes[1].scatter(x[:, 0], y[:, 0], s=8, label="true", alpha=0.6)
        axes[1].scatter(x[:, 0], pred[:, 0], s=8, label="predicted", alpha=0.6)
        axes[1].set(xlabel="x", ylabel="y", title="validation data")
        axes[1].legend()
    fig.tight_layout()
    return fig
