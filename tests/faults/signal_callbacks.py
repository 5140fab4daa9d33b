"""A callback that sends this process SIGTERM at a chosen point of a run, as a scheduler would:
the signal arrives between or inside phases exactly where a test wants it.

Used as `+callbacks.sigterm._target_=signal_callbacks.SigtermAt +callbacks.sigterm.at=HOOK`
(tests/faults on the Python path)."""

from __future__ import annotations

import os
import signal

import pytorch_lightning as pl


class SigtermAt(pl.Callback):
    """`at`: `train_end` (the fit's last hook, before the test) or `test_batch` (the test's
    first batch, so the test cannot finish). `signal_name`: SIGTERM, or SIGINT (Ctrl+C)."""

    def __init__(self, at: str, signal_name: str = "SIGTERM") -> None:
        if at not in ("train_end", "test_batch"):
            raise ValueError(f"at={at!r}")
        self.at, self.signum = at, getattr(signal, signal_name)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.at == "train_end":
            os.kill(os.getpid(), self.signum)

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        if self.at == "test_batch" and batch_idx == 0:
            os.kill(os.getpid(), self.signum)
