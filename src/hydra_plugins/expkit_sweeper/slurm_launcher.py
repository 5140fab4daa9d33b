"""hydra/launcher=slurm: hydra-submitit-launcher's SlurmLauncher, waiting on the jobs with squeue.

submitit waits for a job's result file and asks `sacct` how the job is doing. On clusters without
accounting (many small ones) every poll logs `Bypassing sacct error ... status may be inaccurate`,
and a job that ended without writing its result (cancelled, killed past its KillWait, out of
memory, node lost) is waited for forever. Here one `squeue` call per poll follows the whole
sweep: a line when its state changes (`2 running, 1 pending, 1 done`), and a job that Slurm has
ended without a result is recorded in its run folder (`interrupted` when it had started, so
continuing the sweep resumes it from its last.ckpt; `failed` otherwise) and reported in the
summary, while the others go on. Interrupted while it waits (Ctrl-C, SIGTERM), the command cancels
the jobs it is waiting for (`scancel`): they stop as for any scancel, `interrupted` with their
last.ckpt, and the same command resumes them; no job runs on unwatched (an Optuna search has
marked those trials failed: their results would go nowhere).

Submission, the job's callable and its `checkpoint()` (a requeued job runs the same callable with
the same arguments, so in the same run folder) are submitit's and hydra-submitit-launcher's.
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from omegaconf import OmegaConf

from hydra_plugins.expkit_sweeper.sweeper import job_subdir

try:
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher
except ImportError:  # without expkit[sweep]: Hydra's plugin scan imports this module all the same
    SlurmLauncher = object  # type: ignore[misc,assignment]

log = logging.getLogger("expkit")

# squeue states of a job that will not run again (it may still be listed for MinJobAge seconds).
ENDED_STATES = {"COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL",
                "DEADLINE", "PREEMPTED", "SPECIAL_EXIT", "REVOKED"}
# squeue's reasons for a pending job that Slurm will never start as it was asked (more nodes,
# CPUs, memory or time than the partition allows; an account or QOS it does not know): the job
# is cancelled and recorded failed, instead of the sweep waiting for ever.
NEVER_STARTS = {"PartitionNodeLimit", "PartitionTimeLimit", "PartitionConfig", "BadConstraints", "InvalidAccount",
                "InvalidQOS", "AssocMaxNodesPerJobLimit", "AssocMaxCpuPerJobLimit", "QOSMaxNodePerJobLimit",
                "QOSMaxCpuPerJobLimit", "QOSMaxMemoryPerJob"}
# A job gone from the queue gets this long to show its result file (a shared file system's delay).
RESULT_GRACE_S = 30.0


class ExpkitSlurmLauncher(SlurmLauncher):
    """SlurmLauncher whose sweep waits with squeue (see the module's docstring)."""

    poll_s: float = 5.0

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        assert self.config is not None and self.hydra_context is not None
        executor = self._executor()
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        log.info("Submitting %d job(s) to Slurm; sweep folder %s", len(job_overrides), sweep_dir)
        job_params: List[Any] = []
        folders: List[Path] = []
        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            log.info("\t#%d : %s", idx, " ".join(filter_overrides(overrides)))
            job_params.append((list(overrides), "hydra.sweep.dir", idx, f"job_id_for_{idx}", Singleton.get_state()))
            folders.append(sweep_dir / job_subdir(self.hydra_context, self.config, overrides, idx))
        from submitit.core.utils import FailedJobError

        try:
            jobs = executor.map_array(self, *zip(*job_params))
        except FailedJobError as err:  # sbatch's refusal, said as such
            refused(err)
        return SweepWait(jobs, job_overrides, folders, self.poll_s, after_cancel=lambda: self._after_cancel(sweep_dir)).wait()

    def _after_cancel(self, sweep_dir: Path) -> str:
        """What to do after an interrupted sweep's jobs were cancelled (said with their ids)."""
        from expkit.runs.sweep import how_to_continue, is_optuna_search

        if is_optuna_search(self.config):
            return ("their trials are failed ones in the Optuna study; the same command continues the study with "
                    "new trials")
        return ("continue the sweep (finished jobs are skipped, the others resume from their last.ckpt): "
                + how_to_continue(sweep_dir))

    def _executor(self) -> Any:
        """submitit's executor with this launcher's parameters (as SlurmLauncher.launch builds it)."""
        import submitit
        from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

        init_keys = {"max_num_timeout", "submitit_folder"}
        executor = submitit.AutoExecutor(cluster=self._EXECUTOR, folder=self.params["submitit_folder"],
                                         slurm_max_num_timeout=self.params["max_num_timeout"])
        base = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(**{k if k in base else f"{self._EXECUTOR}_{k}": v
                                      for k, v in self.params.items() if k not in init_keys})
        return executor


def scancel(job_ids: Sequence[str]) -> Optional[str]:
    """Cancel the Slurm jobs; None when scancel did, else why it did not."""
    try:
        subprocess.run(["scancel", *job_ids], capture_output=True, text=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError) as err:
        return str(err)
    return None


class SweepWait:
    """Waits for a sweep's Slurm jobs: result files, and one squeue call per poll."""

    def __init__(self, jobs: Sequence[Any], overrides: Sequence[Sequence[str]], folders: Sequence[Path],
                 poll_s: float, after_cancel: Callable[[], str] = lambda: "the same command resumes them") -> None:
        self.jobs, self.overrides, self.folders, self.poll_s = list(jobs), overrides, list(folders), poll_s
        self.after_cancel = after_cancel  # what to do next, said only when the sweep is interrupted
        self.results: Dict[int, JobReturn] = {}
        self.gone_since: Dict[int, float] = {}
        self.lost: set = set()

    def wait(self) -> List[JobReturn]:
        try:
            return self._wait()
        except BaseException:
            self._cancel_unfinished()
            raise

    def _cancel_unfinished(self) -> None:
        ids = [job.job_id for i, job in enumerate(self.jobs) if i not in self.results]
        if not ids:
            return
        failure = scancel(ids)
        if failure:
            log.error("The sweep was interrupted; cancelling its Slurm jobs %s failed (%s): cancel them with "
                      "scancel %s", " ".join(ids), failure, " ".join(ids))
            return
        log.warning("The sweep was interrupted: its Slurm job(s) %s cancelled (each records `interrupted` "
                    "with what it saved); %s", " ".join(ids), self.after_cancel())

    def _wait(self) -> List[JobReturn]:
        shown = ""
        while len(self.results) < len(self.jobs):
            states = queue_states({job.job_id.split("_")[0] for job in self.jobs})
            counts: Counter = Counter()
            for i, job in enumerate(self.jobs):
                state = None if states is None else states.get(job.job_id)
                if i not in self.results:
                    self._check(i, job, state, queue_known=states is not None)
                counts[self._shown_state(i, state)] += 1
            line = ", ".join(f"{counts[k]} {k}" for k in ("running", "pending", "requeued", "done", "lost") if counts[k])
            if line != shown:
                log.info("Slurm: %s", line)
                shown = line
            if len(self.results) < len(self.jobs):
                time.sleep(self.poll_s)
        return [self.results[i] for i in range(len(self.jobs))]

    def _shown_state(self, i: int, state: Optional[str]) -> str:
        if i in self.results:
            return "lost" if i in self.lost else "done"
        if state in ("PENDING", "CONFIGURING"):
            return "pending"
        if state in ("REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED"):
            return "requeued"
        return "running"

    def _check(self, i: int, job: Any, state: Optional[str], queue_known: bool) -> None:
        tasks = [job.task(t) for t in range(job.num_tasks)] if job.num_tasks > 1 else [job]
        if all(task.paths.result_pickle.exists() for task in tasks):
            self.results[i] = self._collect(i, job)
            return
        if state is not None and state.startswith("PENDING:"):
            self.results[i] = self._never_starts(i, job, state.split(":", 1)[1])
            return
        if not queue_known or (state is not None and state not in ENDED_STATES):
            # Queued, running, requeued; or squeue did not answer (slurmctld restarting).
            self.gone_since.pop(i, None)
            return
        first_seen = self.gone_since.setdefault(i, time.monotonic())
        if time.monotonic() - first_seen >= RESULT_GRACE_S:
            self.results[i] = self._lost(i, job, state)

    def _collect(self, i: int, job: Any) -> JobReturn:
        """The job's JobReturn, or a completed one saying `failed` when its process raised (its
        record says why): one job's failure is reported in the summary, not raised here."""
        try:
            return job.results()[0]
        except Exception as err:  # noqa: BLE001 - submitit's FailedJobError carries the job's traceback
            log.error("Slurm job %s (%s) failed:\n%s", job.job_id, self.folders[i].name, err)
            return self._return(i, {"status": "failed"})

    def _never_starts(self, i: int, job: Any, reason: str) -> JobReturn:
        """A job Slurm keeps pending for a reason that cannot clear: cancelled, recorded failed."""
        from expkit.run.record import RunRecord

        failure = scancel([job.job_id])
        message = (f"Slurm job {job.job_id} can never start as asked (squeue's reason: {reason}, e.g. more nodes, "
                   "CPUs, memory or time than the partition allows): cancelled. Ask for what `sinfo` shows the "
                   "partition has (hydra.launcher.nodes, cpus_per_task, mem_gb, timeout_min, partition)")
        if failure:
            message = message.replace(": cancelled.", f": cancelling it failed ({failure}); cancel it with scancel {job.job_id}.")
        folder = self.folders[i]
        folder.mkdir(parents=True, exist_ok=True)
        RunRecord(folder).update(status="failed", error=message, slurm_state=f"PENDING ({reason})")
        log.error("%s; recorded failed in %s", message, folder)
        self.lost.add(i)
        return self._return(i, {"status": "failed"})

    def _lost(self, i: int, job: Any, state: Optional[str]) -> JobReturn:
        from expkit.errors import ExpkitError
        from expkit.run.record import RunRecord

        ended = state or "gone from the queue"
        folder = self.folders[i]
        message = (f"Slurm job {job.job_id} ended ({ended}) without reporting a result; its output: "
                   f"{job.paths.stdout}")
        try:
            record = RunRecord(folder)
        except ExpkitError as err:  # a damaged metrics.json: left as it is, the job counted failed
            log.error("%s; %s", message, err)
            self.lost.add(i)
            return self._return(i, {"status": "failed"})
        status = record.data.get("status")
        if status not in ("finished", "pruned", "failed"):
            # Started: keep what it saved (continuing the sweep resumes it from last.ckpt). Never
            # started: a record all the same, so that the summary lists the job.
            status = "interrupted" if status in ("running", "interrupted") else "failed"
            folder.mkdir(parents=True, exist_ok=True)
            record.update(status=status, error=message, slurm_state=ended)
        log.error("%s; recorded %s in %s", message, status, folder)
        self.lost.add(i)
        return self._return(i, {"status": status})

    def _return(self, i: int, value: Dict[str, Any]) -> JobReturn:
        ret = JobReturn(overrides=list(self.overrides[i]), status=JobStatus.COMPLETED, _return_value=value)
        ret.working_dir = str(self.folders[i])
        return ret


def queue_states(array_ids: set) -> Optional[Dict[str, str]]:
    """`<array>_<task>` -> squeue's state for the given job arrays' tasks (`PENDING:<reason>` for a
    job Slurm will never start as asked, NEVER_STARTS); None when squeue does not answer (the next
    poll asks again; result files are checked regardless)."""
    try:
        out = subprocess.run(["squeue", "-h", "-r", "-t", "all", "-o", "%i %T %r", "-j", ",".join(sorted(array_ids))],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        log.debug("squeue: %s", err)
        return None
    if out.returncode != 0:
        # Ids that slurmctld has forgotten (MinJobAge after they ended) are refused: all ended.
        return {} if "Invalid job id" in out.stderr else None
    states = {}
    for line in out.stdout.splitlines():
        parts = line.split(None, 2)
        if len(parts) >= 2:
            reason = parts[2].strip() if len(parts) == 3 else ""
            never = parts[1] == "PENDING" and reason in NEVER_STARTS
            states[parts[0]] = f"PENDING:{reason}" if never else parts[1]
    return states


def refused(err: Exception) -> None:
    """sbatch refused the sweep's jobs (a partition, size or option Slurm does not take): one
    paragraph with Slurm's own words, exit 2; nothing was submitted."""
    import sys

    said = " ".join(line.strip() for line in str(err).splitlines() if "error" in line.lower()) or str(err)
    print(f"error: Slurm refused the sweep's jobs, nothing was submitted: {said.strip()[:600]} Check the "
          "hydra.launcher.* keys (partition, nodes, tasks_per_node, cpus_per_task, mem_gb, timeout_min, signal_delay_s, "
          "additional_parameters) against what the cluster offers (`sinfo`).", file=sys.stderr)
    raise SystemExit(2)
