"""What every task shares: a network, optimizer/scheduler factories, sparse-aware clipping."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

import pytorch_lightning as pl
import torch
from torch import nn
from torch.optim import Optimizer

OptimizerFactory = Callable[[Iterable[nn.Parameter]], Optimizer]
SchedulerFactory = Callable[[Optimizer], Any]


def clip_grad_norm(parameters: Iterable[nn.Parameter], max_norm: float) -> torch.Tensor:
    """`torch.nn.utils.clip_grad_norm_` that also accepts sparse gradients.

    torch's version (and so Lightning's `gradient_clip_val`) raises on the sparse gradients of an
    `EmbeddingBag(sparse=True)`; the norm of a sparse gradient is the norm of its coalesced values.
    """
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    norms = []
    for g in grads:
        values = g.coalesce().values() if g.is_sparse else g
        norms.append(torch.linalg.vector_norm(values.detach(), 2))
    total = torch.linalg.vector_norm(torch.stack(norms), 2)
    coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for g in grads:
        g.mul_(coef)
    return total


def clip_grad_value(parameters: Iterable[nn.Parameter], clip_value: float) -> None:
    """Clamp every gradient entry to [-clip_value, clip_value], dense or sparse."""
    for p in parameters:
        if p.grad is None:
            continue
        if p.grad.is_sparse:
            p.grad = p.grad.coalesce()
            p.grad.values().clamp_(-clip_value, clip_value)
        else:
            p.grad.clamp_(-clip_value, clip_value)


class Task(pl.LightningModule):
    """A LightningModule around `net`; optimizer and scheduler arrive as `_partial_` factories.

    Subclasses define the steps and metrics. The factories are completed in
    `configure_optimizers` with this module's parameters, so the task never names a concrete
    optimizer and any `torch.optim` class (or scheduler) can be swapped in from the config.
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__()
        self.net = net
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler

    # The kind of data this task trains on (`expkit.contract.TASK_TYPES`); subclasses set it.
    task_type: str
    # The metrics logged as `val/<name>` and `test/<name>` (`train/loss` too): what
    # `monitor.metric` may name, checked before a run starts. Empty: not checked.
    logged_metrics: tuple[str, ...] = ()

    def forward(self, *args: Any) -> torch.Tensor:
        return self.net(*args)

    def predict_outputs(self, *inputs: torch.Tensor) -> torch.Tensor:
        """What a prediction is for this task (probabilities, values), from model inputs."""
        return self.net(*inputs)

    def predict_step(self, batch: Sequence[torch.Tensor], batch_idx: int) -> torch.Tensor:
        """Batches are `(*inputs, target)` (the contract's layout); the target is not used."""
        *inputs, _target = batch
        return self.predict_outputs(*inputs)

    def describe_predictions(self, outputs: torch.Tensor, top_k: int = 1) -> list[dict[str, Any]]:
        """One plain dict per row of `predict_outputs`, for people and JSON."""
        raise NotImplementedError

    def log_train_loss(self, loss: torch.Tensor, batch_size: int) -> None:
        """Log `train/loss` on the steps the logger writes (every `trainer.log_every_n_steps`).

        `self.log` costs about a millisecond a call in Lightning's result collection, more than
        a whole step of a small model; values logged on other steps would be discarded anyway.
        """
        trainer = self.trainer
        if (self.global_step + 1) % trainer.log_every_n_steps == 0 or trainer.should_stop:
            self.log("train/loss", loss, on_step=True, on_epoch=False, prog_bar=True, batch_size=batch_size)

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}

    def configure_gradient_clipping(
        self,
        optimizer: Optimizer,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        if not gradient_clip_val:
            return
        if gradient_clip_algorithm == "value":
            clip_grad_value(self.parameters(), gradient_clip_val)
        else:
            clip_grad_norm(self.parameters(), gradient_clip_val)

    def tensorboard(self) -> Any | None:
        """The TensorBoard SummaryWriter of this run, or None when TensorBoard is not logging."""
        from pytorch_lightning.loggers import TensorBoardLogger

        for logger in self.loggers:
            if isinstance(logger, TensorBoardLogger):
                return logger.experiment
        return None
