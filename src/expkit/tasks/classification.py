"""Classification: cross-entropy, accuracy and macro-F1, a confusion matrix at test end."""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix, MulticlassF1Score

from expkit.tasks.base import OptimizerFactory, SchedulerFactory, Task


class ClassificationTask(Task):
    """Trains `net` (inputs..., labels batches) with cross-entropy.

    Logs `train/loss` every logged step, `{val,test}/{loss,acc,f1}` per epoch, and at test end a
    confusion-matrix figure. Predictions are class probabilities.
    """

    task_type = "classification"
    logged_metrics = ("loss", "acc", "f1")

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerFactory,
        num_classes: int,
        scheduler: SchedulerFactory | None = None,
        class_names: Sequence[str] | None = None,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(net, optimizer, scheduler)
        self.num_classes = num_classes
        self.class_names = list(class_names) if class_names else [str(i) for i in range(num_classes)]
        self.label_smoothing = label_smoothing
        self.metrics = nn.ModuleDict(
            {
                f"{stage}_{name}": metric
                for stage in ("val", "test")
                for name, metric in (
                    ("acc", MulticlassAccuracy(num_classes, average="micro")),
                    ("f1", MulticlassF1Score(num_classes, average="macro")),
                )
            }
        )
        self.confusion = MulticlassConfusionMatrix(num_classes)

    def training_step(self, batch: Sequence[torch.Tensor], batch_idx: int) -> torch.Tensor:
        *inputs, labels = batch
        loss = F.cross_entropy(self.net(*inputs), labels, label_smoothing=self.label_smoothing)
        self.log_train_loss(loss, len(labels))
        return loss

    def _evaluate(self, batch: Sequence[torch.Tensor], stage: str) -> torch.Tensor:
        *inputs, labels = batch
        logits = self.net(*inputs)
        n = len(labels)
        # sync_dist: the epoch loss is reduced over the DDP ranks; accuracy and F1 are torchmetrics
        # Metrics, which gather their own states across ranks when computed.
        self.log(f"{stage}/loss", F.cross_entropy(logits, labels), prog_bar=stage == "val", batch_size=n, sync_dist=True)
        for name in ("acc", "f1"):
            metric = self.metrics[f"{stage}_{name}"]
            metric.update(logits, labels)
            self.log(f"{stage}/{name}", metric, prog_bar=stage == "val" and name == "acc", batch_size=n)
        return logits

    def validation_step(self, batch: Sequence[torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: Sequence[torch.Tensor], batch_idx: int) -> None:
        logits = self._evaluate(batch, "test")
        self.confusion.update(logits, batch[-1])

    def on_test_epoch_end(self) -> None:
        matrix = self.confusion.compute().cpu()
        self.confusion.reset()
        writer = self.tensorboard()
        if writer is not None:
            writer.add_figure("test/confusion_matrix", confusion_figure(matrix, self.class_names), self.global_step)

    def predict_outputs(self, *inputs: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(*inputs).float(), dim=-1)

    def describe_predictions(self, outputs: torch.Tensor, top_k: int = 1) -> list[dict[str, Any]]:
        """The `top_k` most likely classes of each row, as {"label", "probability"} pairs."""
        k = max(1, min(top_k, outputs.shape[-1]))
        top = outputs.topk(k, dim=-1)
        return [
            {"predictions": [{"label": self.class_names[i], "probability": round(p, 6)} for p, i in zip(values, indices)]}
            for values, indices in zip(top.values.tolist(), top.indices.tolist())
        ]


def confusion_figure(matrix: torch.Tensor, class_names: Sequence[str]):
    """Row-normalised confusion matrix (rows: true class, columns: predicted class), drawn at the
    size TensorBoard's image card shows (about 500 pixels): a bigger figure is scaled down there
    until its labels cannot be read. Long class names are shortened; counts are written in the
    cells while there are few enough classes for them to fit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = matrix.float()
    rates = counts / counts.sum(dim=1, keepdim=True).clamp(min=1)
    n = len(class_names)
    label_size = 9 if n <= 15 else 7
    fig, ax = plt.subplots(figsize=(5.2, 5.2), dpi=100)
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ticks = range(n)
    names = [name if len(name) <= 12 else name[:11] + "…" for name in class_names]
    ax.set_xticks(ticks, names, rotation=60, ha="right", fontsize=label_size)
    ax.set_yticks(ticks, names, fontsize=label_size)
    if n <= 15:
        for i in ticks:
            for j in ticks:
                if counts[i, j]:
                    ax.text(j, i, int(counts[i, j]), ha="center", va="center", fontsize=8,
                            color="white" if rates[i, j] > 0.5 else "black")
    ax.set(xlabel="predicted", ylabel="true", title="test confusion matrix (rows: true class)")
    fig.tight_layout()
    return fig
