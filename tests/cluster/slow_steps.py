"""A callback that sleeps after every training step, so that a job's length in seconds does not
depend on how fast the machine trains: the requeue tests need a job still running when its signal
comes (a machine twice as fast as this one finished in one attempt what was meant to need three).
The jobs import it from this folder, on the PYTHONPATH of conftest.python_env(); sleeping changes no metric."""

from __future__ import annotations

import time

from pytorch_lightning import Callback


class SleepEachStep(Callback):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        time.sleep(self.seconds)


def slow_steps(seconds: float) -> list[str]:
    """The overrides that add the callback to a run."""
    return ["+callbacks.slow_steps._target_=slow_steps.SleepEachStep", f"+callbacks.slow_steps.seconds={seconds}"]

