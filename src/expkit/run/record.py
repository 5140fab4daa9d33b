"""`metrics.json`: the run's status and final metrics, always complete on disk.

The file is rewritten atomically at start, after every validation, at the end and on failure,
so a crash leaves the last good state; only the global-zero process writes it.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from pathlib import Path
from typing import Any, Mapping

import pytorch_lightning as pl
from lightning_fabric.utilities.rank_zero import rank_zero_only

from expkit.errors import NoRoom
from expkit.run.folder import RunFolder, now_text

log = logging.getLogger("expkit")


def plain_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Tensor/number metrics as floats, keyed by their logged names."""
    out = {}
    for name, value in metrics.items():
        try:
            out[name] = float(value)
        except (TypeError, ValueError):
            continue
    return out


def interrupting_signal(error: BaseException) -> str | None:
    """The signal (SIGINT or SIGTERM) whose handling raised `error` to end a fit, else None.

    Lightning turns SIGTERM into `SIGTERMException` (a SystemExit) at the next batch boundary, and
    Ctrl+C into KeyboardInterrupt; both reach the callbacks' `on_exception`.
    """
    from pytorch_lightning.utilities.exceptions import SIGTERMException

    if isinstance(error, SIGTERMException):
        return "SIGTERM"
    if isinstance(error, KeyboardInterrupt):
        return "SIGINT"
    return None


class RunRecord:
    """Reads and updates a run folder's metrics.json (its status lifecycle and final metrics)."""

    def __init__(self, folder: RunFolder | str | Path) -> None:
        self.folder = folder if isinstance(folder, RunFolder) else RunFolder(folder)
        self.run_dir = self.folder.path
        self.started = time.time()
        self.data: dict[str, Any] = self.folder.read_metrics()
        # A resumed run keeps counting the time it already spent.
        wall = self.data.get("wall_time_s", 0.0)
        if isinstance(wall, bool) or not isinstance(wall, (int, float)):
            from expkit.errors import ExpkitError

            raise ExpkitError(
                f"{self.folder / RunFolder.METRICS}: wall_time_s={wall!r} is not a number of seconds; the file was "
                "edited or damaged. Restore it from a copy, or fix that value."
            )
        self.previous_wall_time = float(wall)

    def update(self, **fields: Any) -> None:
        """Every rank keeps the record in memory (what `fit` returns, so that a DDP process of
        rank > 0 ends with the same status); only the global-zero process writes it."""
        self.data.update(fields)
        self.data["wall_time_s"] = round(self.previous_wall_time + time.time() - self.started, 3)
        if rank_zero_only.rank == 0:
            self.folder.write_metrics(self.data)

    def start(self, experiment: str, monitor: str, mode: str, source: dict[str, Any] | None = None) -> None:
        """Status `running`. `source` records lineage: the run this one was reproduced from or
        resumed from, with the overrides applied on top."""
        self.data.pop("error", None)
        self.data.pop("signal", None)
        self.data.setdefault("started", now_text())
        # The run's identity, kept by resumes and by a copy of the folder, stamped into every
        # checkpoint: a last.ckpt copied in from another run is told apart before a resume.
        self.data.setdefault(RUN_ID_KEY, uuid.uuid4().hex)
        if source:
            self.add_source(source)
        self.update(
            status="running",
            experiment=experiment,
            monitor=monitor,
            monitor_mode=mode,
            pid=os.getpid(),
            host=socket.gethostname(),
        )

    def add_source(self, source: dict[str, Any]) -> None:
        """Lineage: `source` becomes the run's source and the newest entry of its lineage."""
        self.data.setdefault("lineage", []).append({**source, "at": now_text()})
        self.data["source"] = source

    def fail(self, error: BaseException) -> None:
        """Status `interrupted` (with the signal) for Ctrl+C and SIGTERM, `failed` otherwise."""
        name = interrupting_signal(error)
        if name:
            self.update(status="interrupted", signal=name, error=f"interrupted by {name}")
        else:
            self.update(status="failed", error=f"{type(error).__name__}: {error}".strip())

    def relative(self, path: str | Path | None) -> str | None:
        return self.folder.relative(path)


# In a record's `error`: the signal came once the fit was complete (its checkpoints are whole;
# only the test is missing, which `expkit resume` runs).
AFTER_FIT = "after the fit"

# metrics.json's key, and the checkpoint's, for the run's identity.
RUN_ID_KEY = "run_id"


class RunRecordCallback(pl.Callback):
    """Keeps metrics.json current during training: metrics, epochs done, best checkpoint."""

    def __init__(self, record: RunRecord) -> None:
        self.record = record

    def _best(self, trainer: pl.Trainer) -> dict[str, Any]:
        ckpt = trainer.checkpoint_callback
        if ckpt is None or not getattr(ckpt, "best_model_path", ""):
            return {}
        score = ckpt.best_model_score
        return {
            "best_checkpoint": self.record.relative(ckpt.best_model_path),
            "best_score": None if score is None else float(score),
        }

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        metrics = plain_metrics(trainer.callback_metrics)
        shown = "  ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items()) if "/" in k)
        log.info("epoch %d/%s  %s", trainer.current_epoch + 1, trainer.max_epochs, shown)
        self.record.update(
            **plain_metrics(trainer.callback_metrics),
            epochs_done=trainer.current_epoch + 1,
            global_step=trainer.global_step,
        )

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.record.update(
            **plain_metrics(trainer.callback_metrics),
            **self._best(trainer),
            epochs_done=trainer.current_epoch,
            global_step=trainer.global_step,
        )

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]) -> None:
        if self.record.data.get(RUN_ID_KEY):
            checkpoint[RUN_ID_KEY] = self.record.data[RUN_ID_KEY]

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        from expkit.run.checkpoint_files import CheckpointWriteError, saved_progress

        if is_pruned(exception):
            return
        if isinstance(exception, CheckpointWriteError):
            # The record says what is on disk: the epochs last.ckpt holds, not those trained since.
            kept = saved_progress(self.record.folder / RunFolder.LAST_CHECKPOINT)
            exception.ended_run(self.record.run_dir, kept)
            done, step = kept or (0, 0)
            self.record.data.update(epochs_done=done, global_step=step)
        try:
            self.record.fail(exception)
        except (OSError, NoRoom) as err:  # the disk that refused the checkpoint may refuse the record too
            log.error("Could not record the failure in %s: %s", RunFolder.METRICS, err)


def is_pruned(error: BaseException) -> bool:
    """Whether a run ended because its Optuna trial was pruned (status `pruned`, not `failed`)."""
    try:
        import optuna
    except ImportError:
        return False
    return isinstance(error, optuna.TrialPruned)
