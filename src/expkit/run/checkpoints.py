"""Checkpoints that cost little and are always whole.

Two Lightning pieces, wired in conf/callbacks/default.yaml and conf/trainer/default.yaml:

- `BestAndLastCheckpoint` (a ModelCheckpoint): `last.ckpt` after every epoch, with the optimizer
  and loop state a resume needs, always under that one name; the best epoch as a weights-only file
  (a third of the bytes: no Adam moments), which is all that `test`, `eval`, `predict` and
  `export` read.
- `BackgroundCheckpointIO` (a CheckpointIO plugin): the training thread only snapshots the
  tensors; a writer thread serialises them into a temp file beside the target and renames it into
  place (`AtomicCheckpointIO`), so a killed process leaves the previous checkpoint whole and, at
  worst, a temp file that the next start removes.

When the fit ends with the best epoch being the last one, the best checkpoint becomes a hard link
of `last.ckpt` (one file on disk instead of two); a later resume turns it back into a weights-only
file before it writes a new `last.ckpt`.

This module holds the callback; the atomic file IO is expkit.run.checkpoint_files, the writer
thread expkit.run.checkpoint_writer.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from pytorch_lightning.callbacks import ModelCheckpoint
from expkit.run.checkpoint_files import is_local, link_atomically, remove_stray_temp_files, unlink_from_last
from expkit.run.checkpoint_writer import BackgroundCheckpointIO

# The plugins' old home: the config snapshots of earlier run folders name them here
# (`_target_: expkit.run.checkpoints.BackgroundCheckpointIO`), and a resume or reproduce of such a
# run must still build them.
from expkit.run.checkpoint_files import AtomicCheckpointIO  # noqa: F401

__all__ = ["AtomicCheckpointIO", "BackgroundCheckpointIO", "BestAndLastCheckpoint"]

log = logging.getLogger("expkit")


class BestAndLastCheckpoint(ModelCheckpoint):
    """ModelCheckpoint whose `last.ckpt` always holds the last completed epoch.

    - In this Lightning version `save_last=True` writes `last.ckpt` only in an epoch that also
      saved a top-k checkpoint; a resume then restarted from the best epoch, not the last one.
      Here every epoch that saved no top-k checkpoint still writes `last.ckpt`.
    - `last.ckpt` keeps its name: no version counter (a copied run folder resumed twice wrote
      `last-v1.ckpt`), and a checkpoint's paths move with a copied run folder.
    - `best_weights_only`: the top-k checkpoints hold the model, the data module's state
      (vocabulary) and the epoch, not the optimizer state: the best is evaluated, never resumed.
    - When a fit ends normally with the best saved at the same step as `last.ckpt` (the last
      epoch is the best), the best becomes a hard link of `last.ckpt`: one file on disk, and
      evaluating it reads the same weights. When a fit starts, such a link is turned back into
      a weights-only file (a resumed fit is about to replace `last.ckpt`).
    - When a fit starts, temp files of writes killed midway are removed.
    - `{epoch}` in a file name counts from 1, as the log and the progress bar do: the best of
      the third epoch is `best-epoch003.ckpt` (Lightning's count from 0 named it `epoch002`).
      Run folders written before keep their names; resume and eval read the recorded paths.
    """

    def __init__(
        self, *, save_last: bool = True, best_weights_only: bool = True, enable_version_counter: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(save_last=save_last, enable_version_counter=enable_version_counter, **kwargs)
        self.best_weights_only = best_weights_only
        self._saved_at: dict[str, int] = {}  # path -> global step it was last saved at, this process

    def format_checkpoint_name(self, metrics: dict[str, Any], filename: str | None = None, ver: int | None = None,
                               prefix: str | None = None) -> str:
        if "epoch" in metrics:
            metrics = {**metrics, "epoch": metrics["epoch"] + 1}
        return super().format_checkpoint_name(metrics, filename=filename, ver=ver, prefix=prefix)

    @property
    def state_key(self) -> str:
        # ModelCheckpoint's key: runs checkpointed before this class existed resume with their
        # best checkpoint known, and the class can be swapped back without losing it.
        return super().state_key.replace(type(self).__qualname__, ModelCheckpoint.__qualname__, 1)

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        if trainer.is_global_zero and stage == "fit" and self.dirpath and is_local(self.dirpath):
            remove_stray_temp_files(self.dirpath)
            unlink_from_last(Path(self.dirpath), self.CHECKPOINT_NAME_LAST + self.FILE_EXTENSION)

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        # Lightning has waited for the background writes (strategy teardown) before this hook.
        super().on_fit_end(trainer, pl_module)
        best, last = self.best_model_path, self.last_model_path
        if not (trainer.is_global_zero and best and last and best != last and is_local(best)):
            return
        step = self._saved_at.get(last)
        if step is None or self._saved_at.get(best) != step:
            return
        best_path, last_path = Path(best), Path(last)
        if best_path.is_file() and last_path.is_file() and not os.path.samefile(best_path, last_path):
            link_atomically(last_path, best_path)
            log.info("The best epoch is the last one: %s is now a hard link of %s.", best_path.name, last_path.name)

    def _save_checkpoint(self, trainer: Any, filepath: str) -> None:
        is_last = filepath == self.last_model_path  # _save_last_checkpoint sets it before saving
        weights_only = self.save_weights_only or (self.best_weights_only and not is_last)
        trainer.save_checkpoint(filepath, weights_only)
        self._saved_at[filepath] = trainer.global_step
        self._last_global_step_saved = trainer.global_step
        self._last_checkpoint_saved = filepath
        if trainer.is_global_zero:
            from weakref import proxy

            for logger in trainer.loggers:
                logger.after_save_checkpoint(proxy(self))

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        # A write that failed in the background stops the run at the next step, not at the next
        # save an epoch later (the epochs between would be trained and recorded, never saved).
        io = trainer.strategy.checkpoint_io
        if isinstance(io, BackgroundCheckpointIO):
            io.raise_write_error()

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_missed(trainer)

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_missed(trainer)

    def _save_last_if_missed(self, trainer: Any) -> None:
        # "skip" is also true when the parent already saved at this step (and then `last` with it).
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        old = state_dict.get("dirpath")
        if old and self.dirpath and str(old) != str(self.dirpath):
            state_dict = _moved(state_dict, str(old), str(self.dirpath))
        super().load_state_dict(state_dict)


def _moved(state: dict[str, Any], old_dir: str, new_dir: str) -> dict[str, Any]:
    """The callback's state with paths inside `old_dir` moved to `new_dir` (a copied run folder)."""

    def move(path: Any) -> Any:
        if isinstance(path, str) and path and os.path.dirname(path) == old_dir:
            return os.path.join(new_dir, os.path.basename(path))
        return path

    state = dict(state, dirpath=new_dir)
    for key in ("best_model_path", "kth_best_model_path", "last_model_path"):
        if key in state:
            state[key] = move(state[key])
    if "best_k_models" in state:
        state["best_k_models"] = {move(k): v for k, v in state["best_k_models"].items()}
    return state
