"""What a run shows in TensorBoard, beyond the metrics the task logs.

- `RunTensorBoardLogger`: Lightning's TensorBoardLogger writing into the run folder itself (so
  `tensorboard --logdir outputs` names the run `<name>/<timestamp>`), without Lightning's own
  hparams (`hp_metric`, `hparams.yaml`) or `epoch` scalar, with a copy of each loss curve under
  `Loss/` so that the Time Series tab opens on them.
- `LearningRateLogger`: the learning rate as one tag, `train/lr`, whatever the optimizer.
- `BestValidationMetrics`: the validation metrics of the best checkpoint's epoch (`best/val/*`).
- `write_layout`: the Custom Scalars tab's charts, one per metric family (train and val loss together), and lr.
- `write_run_summary`: HPARAMS (`expkit.run.hparams` says what it holds) at the end of a run.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import pytorch_lightning as pl
from lightning_fabric.utilities.rank_zero import rank_zero_only
from pytorch_lightning.loggers import TensorBoardLogger

from expkit.run.folder import RunFolder
from expkit.run.record import plain_metrics

LR_TAG = "train/lr"
# Time Series sorts its groups by name, capitals and digits before lower case, and opens only the
# first two: the `Loss` group (`Loss/train`, `Loss/val`, `Loss/test`, copies of `<split>/loss`)
# comes first, so the loss curves are what the tab shows when it opens. The task's own names stay
# `<split>/loss`, as in metrics.json.
LOSS_GROUP = "Loss"


def custom_scalars_layout(metric_names: Sequence[str]) -> dict[str, dict[str, list]]:
    """The Custom Scalars tab: one chart per metric family (`loss`: train and val together;
    `acc`, `mae`, ...: val), so no chart mixes units (accuracy with MAE on one axis) and a sweep's
    chart holds one or two series per run. Tags are regular expressions matched by TensorBoard's
    server; it merges the layouts of all runs in a log dir (charts of the same title once), so
    runs of different tasks each add their families."""
    names = list(dict.fromkeys(["loss", *metric_names]))
    curves = {
        (f"{name}: train and val" if name == "loss" else f"{name}: val"):
            ["Multiline", [rf"^(train|val)/{name}$" if name == "loss" else rf"^val/{name}$"]]
        for name in names
    }
    best = {f"best/val/{name}": ["Multiline", [rf"^best/val/{name}$"]] for name in names}
    return {"Curves": curves, "Best checkpoint (validation)": best, "Learning rate": {LR_TAG: ["Multiline", [rf"^{LR_TAG}$"]]}}


def logged_step(trainer: pl.Trainer) -> int:
    """The step Lightning's own `self.log` values are written at now (its logger connector's step,
    which at the end-of-epoch validation is one behind `global_step`), so that values expkit
    writes line up with the task's curves."""
    loop = getattr(trainer.fit_loop, "epoch_loop", None)
    return int(getattr(loop, "_batches_that_stepped", trainer.global_step))


class RunTensorBoardLogger(TensorBoardLogger):
    """Lightning's TensorBoardLogger, writing the event files into the run folder `save_dir`.

    TensorBoard names a run by the path of the folder holding its event files relative to
    --logdir; with the files in the run folder itself (`RunFolder.tensorboard_dir`), a run shows
    as `<name>/<timestamp>` and a sweep job by its folder, `<N>_<overrides>`. expkit writes HPARAMS
    itself at the end of the run (`write_run_summary`), so Lightning's `log_hyperparams` (which
    would add `hp_metric` and an `hparams.yaml`) does nothing. Other keyword arguments go to
    Lightning's logger (`flush_secs`, `purge_step`, ...).
    """

    def __init__(self, save_dir: str | Path, **kwargs: Any) -> None:
        super().__init__(save_dir=str(RunFolder(save_dir).tensorboard_dir), name="", version="",
                         default_hp_metric=False, **kwargs)

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        # Lightning adds its `epoch` counter to every call; the x axis is the step, and the epoch
        # count is in metrics.json. Each `<split>/loss` is also written as `Loss/<split>`.
        shown = {k: v for k, v in metrics.items() if k != "epoch"}
        for name, value in list(shown.items()):
            split, _, quantity = name.partition("/")
            if quantity == "loss":
                shown[f"{LOSS_GROUP}/{split}"] = value
        if shown:
            super().log_metrics(shown, step)

    @rank_zero_only
    def log_hyperparams(self, params: Any, metrics: Any = None, step: int | None = None) -> None:
        """Nothing: HPARAMS is written once the run's results are known (`write_run_summary`)."""

    @rank_zero_only
    def save(self) -> None:
        self.experiment.flush()  # without Lightning's hparams.yaml beside the run's own records


class LearningRateLogger(pl.Callback):
    """Logs `train/lr` at the start of every training epoch to every logger: the learning rate of
    the first parameter group of the first optimizer, whatever the optimizer or scheduler.

    Lightning's LearningRateMonitor names the tag after the optimizer class (`lr-SGD`,
    `lr-LazyAdam`), which gives a sweep over optimizers one column per optimizer; the tasks have
    one optimizer with one parameter group. The schedulers step once an epoch, so one value per
    epoch is the whole curve."""

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.loggers or not trainer.optimizers:
            return
        lr = float(trainer.optimizers[0].param_groups[0]["lr"])
        for logger in trainer.loggers:
            logger.log_metrics({LR_TAG: lr}, step=logged_step(trainer))


class BestValidationMetrics(pl.Callback):
    """The validation metrics of the epoch with the best `monitor` value: the epoch the best
    checkpoint comes from (ModelCheckpoint keeps the first epoch of a tie, as this does).

    Its state is saved in `last.ckpt`, so a resumed run still knows the best epoch before it."""

    def __init__(self, monitor: str, mode: str) -> None:
        self.monitor = monitor
        self.mode = mode
        self.metrics: dict[str, float] = {}
        self.step = 0

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        metrics = plain_metrics(trainer.callback_metrics)
        value = metrics.get(self.monitor)
        if value is None or not math.isfinite(value):
            return
        best = self.metrics.get(self.monitor)
        if best is None or (value < best if self.mode == "min" else value > best):
            self.metrics = {k: v for k, v in metrics.items() if k.startswith("val/") or k == self.monitor}
            self.step = logged_step(trainer)

    def state_dict(self) -> dict[str, Any]:
        return {"metrics": dict(self.metrics), "step": self.step}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.metrics = {str(k): float(v) for k, v in state_dict.get("metrics", {}).items()}
        self.step = int(state_dict.get("step", 0))


def write_layout(writer: Any, metric_names: Sequence[str]) -> None:
    """The Custom Scalars tab's layout for a task logging `metric_names` (`val/<name>`)."""
    writer.add_custom_scalars(custom_scalars_layout(metric_names))


def write_run_summary(writer: Any, params: Mapping[str, Any], final: Mapping[str, float],
                      best: Mapping[str, float], best_step: int = 0, varying: Sequence[str] = (), name: str = "",
                      monitor: str | None = None, others: Sequence[str] = ()) -> None:
    """HPARAMS for a finished run (`best`: the best epoch's validation metrics, logged at
    `best_step`; `varying`: the columns its sweep varies; `name`: its trial name; `monitor`: the
    metric whose best value is the first column; `others`: other runs' metric columns,
    expkit.run.hparams.other_metric_names), and the `best/*` scalars its metric columns read."""
    from expkit.run.hparams import BEST_PREFIX, hparams_metrics, write_hparams

    for metric, value in sorted(best.items()):
        writer.add_scalar(BEST_PREFIX + metric, value, best_step)
    write_hparams(writer, params, hparams_metrics(final, best, monitor, others), varying, name)
