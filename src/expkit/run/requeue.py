"""A sweep job under submitit on Slurm: its requeue signal stops the fit cleanly, then submitit requeues.

The one story (docs/cluster.md): submitit owns preemption and time limits. It asks Slurm for its
signal (USR2, `signal_delay_s` before the time limit; `scancel --signal=USR2` or a preemption
sends the same) and, from its handler, calls the job callable's `checkpoint()` (the same job
again, so the same run folder), runs `scontrol requeue` and exits. Called as is, that handler
raises SystemExit in the middle of a training step: the run was recorded `failed` and its rerun
started over. Here the signal first stops the fit as SIGTERM does (at the next batch boundary,
record `interrupted`, last.ckpt as of the last finished epoch), and submitit's handler runs after
the fit has ended; the requeued job resumes from last.ckpt (expkit.commands.train.previous_attempt).
Lightning's own SLURM auto-requeue (SIGUSR1, hpc_ckpt_N.ckpt, its own `scontrol requeue`) is
turned off in these jobs, so that only one of the two requeues a job.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType
from typing import Any, Callable

import pytorch_lightning as pl

log = logging.getLogger("expkit")

# The cluster environment of a job that submitit runs on Slurm: ranks from Slurm's variables, as
# Lightning detects by itself, but no SIGUSR1 handler of Lightning's (see the module's docstring).
SUBMITIT_SLURM_ENVIRONMENT = {"_target_": "lightning_fabric.plugins.environments.SLURMEnvironment", "auto_requeue": False}


def submitit_executor() -> str | None:
    """`slurm` or `local` in a job that submitit started, else None."""
    if not os.environ.get("SUBMITIT_FOLDER"):
        return None
    return os.environ.get("SUBMITIT_EXECUTOR") or "slurm"


def requeue_count() -> int:
    """How many times Slurm requeued this job (0 for its first run)."""
    try:
        return int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)
    except ValueError:
        return 0


class RequeueSignal(pl.Callback):
    """During the fit, submitit's requeue signal asks Lightning to stop as for SIGTERM; `requeue()`
    afterwards hands the signal to submitit's own handler (checkpoint(), scontrol requeue, exit)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.received = False
        self._submitit_handler: Callable[..., Any] | int | None = None
        self._trainer: pl.Trainer | None = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit" or threading.current_thread() is not threading.main_thread():
            return
        signum = submitit_signal()
        if signum is None:
            return
        self.signum, self._trainer = signum, trainer
        self._submitit_handler = signal.signal(signum, self._stop_fit)

    def _stop_fit(self, signum: int, frame: FrameType | None) -> None:
        log.warning("Received %s (Slurm's requeue signal: preemption or time limit): stopping at the next batch, "
                    "then requeueing", signal.Signals(signum).name)
        self.received = True
        if self._trainer is not None:
            # What Lightning's own SIGTERM handler sets: the loops raise SIGTERMException at the
            # next batch boundary, on every rank (rank 0 broadcasts it), and the run is recorded
            # `interrupted`.
            self._trainer._signal_connector.received_sigterm = True

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage == "fit" and self.signum is not None and self._submitit_handler is not None:
            signal.signal(self.signum, self._submitit_handler)
        self._trainer = None

    def requeue(self) -> None:
        """Run submitit's handler for the signal received during the fit: it dumps the job's
        `checkpoint()` submission, runs `scontrol requeue` and exits (SystemExit), or raises
        submitit's UncompletedJobError when the job timed out more than max_num_timeout times."""
        handler = self._submitit_handler
        if self.received and callable(handler):
            handler(self.signum, None)


class DeferredSlurmRequeue(pl.Callback):
    """Lightning's own SLURM auto-requeue (a job run with `srun`/`sbatch` outside submitit) runs
    at the next batch boundary instead of inside the signal handler.

    Lightning handles the requeue signal (SIGUSR1 unless configured) inside the handler: it
    flushes the loggers, saves `hpc_ckpt_<N>.ckpt` and runs `scontrol requeue`. A signal arrives
    between any two bytecodes; when it lands while the training thread holds a lock that this work
    needs (TensorBoard's writer lock, mid `add_scalar` or `flush`), the handler waits for it
    forever: the job hangs until Slurm kills it at the time limit, without its checkpoint (found
    on a loaded machine: 4 hangs in 27 signals). Here the handler only notes the signal; the
    handler Lightning installed runs, unchanged, after the current batch (with several ranks:
    after the current training batch, on every rank at the same one; ranks agree through the
    strategy), or as the stage ends.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self.received = False
        self._lightning_handler: Callable[..., Any] | None = None

    def _take_over(self, trainer: pl.Trainer) -> None:
        from lightning_fabric.plugins.environments import SLURMEnvironment

        # Where Lightning's signal connector looks (a single-device strategy has no environment).
        environment = getattr(trainer._accelerator_connector, "cluster_environment", None)
        if (not isinstance(environment, SLURMEnvironment) or not environment.auto_requeue
                or threading.current_thread() is not threading.main_thread()):
            return
        from pytorch_lightning.trainer.connectors.signal_connector import _HandlersCompose

        signum = environment.requeue_signal or signal.SIGUSR1
        installed = signal.getsignal(signum)
        if not isinstance(installed, _HandlersCompose):  # Lightning's; not a handler of the user's own
            return
        self.signum, self._lightning_handler = int(signum), installed
        signal.signal(signum, self._note)

    def _note(self, signum: int, frame: FrameType | None) -> None:
        log.warning("Received %s (Slurm's requeue signal): saving the hpc checkpoint and requeueing after this batch",
                    signal.Signals(signum).name)
        self.received = True

    def _run_if_received(self, trainer: pl.Trainer) -> None:
        if self._lightning_handler is None:
            return
        received = self.received
        if trainer.world_size > 1:
            received = trainer.strategy.reduce_boolean_decision(received, all=False)
        if received:
            self.received = False  # a later signal is handled again, after its own batch
            self._lightning_handler(self.signum, None)

    def on_sanity_check_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._take_over(trainer)  # Lightning installs its handlers after on_fit_start

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._take_over(trainer)

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        self._run_if_received(trainer)

    def on_validation_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        # With several ranks, agreeing costs a collective each batch: done once per training
        # batch only, and a signal during validation or the test waits for the next one (or
        # the stage's end).
        if not trainer.sanity_checking and trainer.world_size == 1:
            self._run_if_received(trainer)

    def on_sanity_check_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._run_if_received(trainer)

    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._take_over(trainer)

    def on_test_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if trainer.world_size == 1:
            self._run_if_received(trainer)

    def _give_back(self, trainer: pl.Trainer) -> None:
        # A signal after the stage's last batch (the last epoch's checkpoint, its end) is handled
        # now: the job may not live through what comes next (the test). Then Lightning's handler
        # goes back in place for its teardown to restore what was there before.
        self._run_if_received(trainer)
        if self._lightning_handler is not None and self.signum is not None:
            signal.signal(self.signum, self._lightning_handler)
        self._lightning_handler, self.received = None, False

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._give_back(trainer)

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._give_back(trainer)


def submitit_signal() -> int | None:
    """The signal submitit's job handles as "preempted or timed out" (USR2 unless configured)."""
    if submitit_executor() != "slurm":
        return None
    try:
        from submitit.core.job_environment import JobEnvironment

        return int(JobEnvironment()._usr_sig())
    except Exception:  # noqa: BLE001 - not a submitit job after all
        return None
