"""The continuing sweeper's logic (Hydra requires plugin classes to live under `hydra_plugins`)."""

from __future__ import annotations

import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any, List, Sequence

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.utils import JobReturn, JobStatus
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

log = logging.getLogger("expkit")


class ExpkitBasicSweeper(BasicSweeper):
    """Hydra's basic sweeper whose launcher skips the jobs that already finished in the sweep folder."""

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        super().setup(hydra_context=hydra_context, task_function=task_function, config=config)
        self.launcher = ContinuingLauncher(self.launcher, hydra_context, config)

    def sweep(self, arguments: List[str]) -> Any:
        from expkit.runs.sweep import refuse_non_sweep_folder, sweep_lock

        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        # Checked before Hydra writes multirun.yaml into the folder.
        refuse_non_sweep_folder(sweep_dir)
        with sweep_lock(sweep_dir):
            return super().sweep(arguments)


class ContinuingLauncher:
    """Wraps the configured launcher (basic, joblib, submitit): a job whose folder already holds a
    finished (or pruned) run is not launched, and its recorded metrics stand in for its return
    value. The others are launched with their own job numbers, so they land in their own folders.

    A job is its number and its overrides, as its folder name `<N>_<overrides>` says. A folder
    with job N's number but other overrides means the command changed: refused before anything
    runs, since continuing would mix two sweeps in one folder.
    """

    def __init__(self, launcher: Any, hydra_context: HydraContext, config: DictConfig) -> None:
        self.launcher, self.hydra_context, self.config = launcher, hydra_context, config

    def job_folder_name(self, overrides: Sequence[str], num: int) -> str:
        """The folder Hydra will give job `num` (hydra.sweep.subdir resolved as the launcher does)."""
        return job_subdir(self.hydra_context, self.config, overrides, num)

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from expkit.errors import ExpkitError
        from expkit.run.folder import RunFolder
        from expkit.runs.sweep import DONE_STATUSES
        from expkit.runs.collect import effective_status

        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        existing = [p.name for p in sweep_dir.iterdir() if p.is_dir()] if sweep_dir.is_dir() else []
        if not existing:  # a new sweep: nothing to skip, no job config composed twice
            return self.launcher.launch(job_overrides, initial_job_idx=initial_job_idx)
        results: List[Any] = [None] * len(job_overrides)
        todo: List[int] = []
        for i, overrides in enumerate(job_overrides):
            num = initial_job_idx + i
            name = self.job_folder_name(overrides, num)
            other = [n for n in existing if n.split("_", 1)[0] == str(num) and n != name]
            if other:
                print(f"error: {sweep_dir} holds job {num} as {other[0]}, but this command's job {num} is {name}: the "
                      "sweep arguments changed. Continue a sweep with the command that started it (the same values in "
                      "the same order; values added at the end become new jobs), or start a new sweep without "
                      "hydra.sweep.dir.", file=sys.stderr)
                raise SystemExit(2)
            try:
                # A job folder of a user's hydra.sweep.subdir may be nested (`lr${optimizer.lr}/seed${seed}`).
                metrics = RunFolder(sweep_dir / name).read_metrics() if (sweep_dir / name).is_dir() else {}
            except ExpkitError as err:  # a damaged metrics.json: whether the job finished is unknown
                print(f"error: {err} (Continuing a sweep reads each job's status; deleting the job's folder runs "
                      "the job again.)", file=sys.stderr)
                raise SystemExit(2) from None
            if effective_status(metrics) == "running" and metrics.get("host") == socket.gethostname():
                # Its process is alive here: another `expkit train -m` is running this sweep.
                print(f"error: job {num} ({sweep_dir / name}) is still running (process {metrics.get('pid')}); wait "
                      "for that sweep to end, or stop it, before continuing the sweep.", file=sys.stderr)
                raise SystemExit(2)
            if metrics.get("status") in DONE_STATUSES:
                log.info("\t#%d : %s already %s: skipped", num, name, metrics["status"])
                results[i] = JobReturn(overrides=list(overrides), working_dir=os.getcwd(), status=JobStatus.COMPLETED,
                                       _return_value=metrics)
            else:
                todo.append(i)
        # Consecutive jobs go to the launcher together (a parallel launcher runs them side by side).
        groups: List[List[int]] = []
        for i in todo:
            if groups and groups[-1][-1] == i - 1:
                groups[-1].append(i)
            else:
                groups.append([i])
        for group in groups:
            returns = self.launcher.launch([job_overrides[i] for i in group], initial_job_idx=initial_job_idx + group[0])
            for i, ret in zip(group, returns):
                results[i] = ret
        return results


def job_subdir(hydra_context: HydraContext, config: DictConfig, overrides: Sequence[str], num: int) -> str:
    """`hydra.sweep.subdir` of job `num` with `overrides`, resolved as Hydra's launchers resolve it."""
    cfg = hydra_context.config_loader.load_sweep_config(config, list(overrides))
    with open_dict(cfg):
        cfg.hydra.job.id = num
        cfg.hydra.job.num = num
    return str(OmegaConf.select(cfg, "hydra.sweep.subdir"))
