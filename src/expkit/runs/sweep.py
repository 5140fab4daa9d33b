"""What the jobs of a sweep need: launcher-specific fixes and the sweep summary.

Imported by Hydra at start-up (the summary callback), so it must not import torch or Lightning.
"""

from __future__ import annotations

import logging
import re
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from hydra.experimental.callback import Callback as HydraCallback
from omegaconf import DictConfig, open_dict

from expkit.errors import Terminated
from expkit.run.folder import SWEEP_CONFIG, RunFolder

log = logging.getLogger("expkit")

# Job statuses a continued sweep does not run again: the job reached its end.
DONE_STATUSES = ("finished", "pruned")
# What an Optuna search adds to its sweep folder (hydra_plugins/expkit_optuna_sweeper): the
# study's best trial, and Optuna's plots (file name -> function of optuna.visualization.matplotlib).
OPTUNA_BEST = "optuna_best.yaml"
OPTUNA_PLOTS = {"optuna_parallel_coordinate.png": "plot_parallel_coordinate",
                "optuna_param_importances.png": "plot_param_importances"}
# A search of several objectives: Optuna's plot of its Pareto front, instead of the two above.
OPTUNA_PARETO_PLOT = "optuna_pareto_front.png"


def adapt_to_launcher(cfg: DictConfig, launcher_target: str, job_num: int) -> None:
    """Make a job safe under a parallel launcher.

    joblib runs jobs in worker processes: DataLoader worker processes inside them hang or
    oversubscribe the cores (Hydra issue #964), so data loading stays in the job's process. All
    jobs would also land on GPU 0 (Hydra issue #2757), so jobs are spread over the visible GPUs.
    """
    if "joblib" not in launcher_target.lower():
        return
    with open_dict(cfg):
        if cfg.data.get("num_workers", 0):
            log.info("joblib launcher: data.num_workers %s -> 0 (workers inside joblib workers hang)", cfg.data.num_workers)
            cfg.data.num_workers = 0
        import torch

        if torch.cuda.is_available() and torch.cuda.device_count() > 1 and cfg.trainer.get("accelerator") in ("auto", "gpu", "cuda"):
            device = job_num % torch.cuda.device_count()
            cfg.trainer.devices = [device]
            log.info("joblib launcher: job %d on GPU %d", job_num, device)


class SweepSummary(HydraCallback):
    """At the end of a sweep: a table sorted by the monitored metric, as summary.csv and summary.md.

    Its columns are the swept parameters (the config keys that differ between jobs), then
    status, metric, best value, test metrics, epochs, wall time, start time and job folder. When
    `seed` is among the swept keys, a second table gives count, mean, std, min and max over
    seeds of each other setting (of the best value and of the monitored metric's test
    counterpart), also written as summary_seeds.csv and summary_seeds.md.
    """

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """From here a SIGTERM to the sweep's process says what the sweep has kept (its jobs
        may be training in other processes: joblib's workers, SLURM)."""
        import signal
        import threading

        from expkit.errors import raises_terminated

        # Only where the CLI's own handler is in place: a caller's handler is left alone.
        if threading.current_thread() is threading.main_thread() and raises_terminated(signal.getsignal(signal.SIGTERM)):
            signal.signal(signal.SIGTERM, SweepTerminatedHandler(config))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from expkit.files import write_text_atomic
        from expkit.runs import grouping, table
        from expkit.runs.collect import read_runs, varying_keys
        from expkit.runs.columns import screen_columns
        from expkit.runs.sorting import sort_rows

        sweep_dir = Path(config.hydra.sweep.dir)
        rows = sort_rows(read_runs(sweep_dir), "metric") if sweep_dir.is_dir() else []
        if not rows:
            return
        columns = summary_columns(rows)
        write_text_atomic(sweep_dir / "summary.csv", table.render_csv(rows, columns))
        write_text_atomic(sweep_dir / "summary.md", table.render_markdown(rows, columns))
        failed_rows = [row for row in rows if row.status == "failed"]
        failed = [str(row.run_dir) for row in failed_rows]
        # On screen the job folders are relative to the sweep folder the title names.
        tests = [c.key for c in columns if c.key.startswith("test/")]
        shown, notes = screen_columns(rows, sweep_dir, metrics=tests)
        table.print_rich_table(f"Sweep summary ({sweep_dir}), best first; job folders relative to it", rows, shown,
                               fit_by_dropping=True, notes=notes)
        if "seed" in varying_keys(rows):
            keys = grouping.group_keys(["params"], rows)
            groups = grouping.sort_groups(grouping.group_rows(rows, keys))
            # The test counterpart of the monitored metric (val/loss -> test/loss), as one headline.
            tests = {row.monitor.replace("val/", "test/", 1) for row in rows if row.monitor}
            metrics = grouping.aggregated_metrics([c for c in columns if c.key in tests])
            grouped = grouping.group_columns(keys, metrics)
            write_text_atomic(sweep_dir / "summary_seeds.csv", table.render_csv(groups, grouped))
            write_text_atomic(sweep_dir / "summary_seeds.md", table.render_markdown(groups, grouped))
            table.print_rich_table(f"Over seeds ({len(groups)} setting{'s' if len(groups) != 1 else ''}), best mean first",
                                   groups, grouping.group_columns(keys, metrics, compact=True), fit_by_dropping=True)
        best = optuna_best_lines(sweep_dir)
        if best:
            with open(sweep_dir / "summary.md", "a", encoding="utf-8") as f:
                f.write("\n" + "\n\n".join(best) + "\n")
            print("\n".join(best))
        log.info("Sweep summary: %s (%d jobs, %d failed)", sweep_dir / "summary.md", len(rows), len(failed))
        # Jobs stopped from outside (scancel, a time limit past its requeues): they reach the
        # summary only with a launcher whose jobs are processes of their own (Slurm).
        stopped = [str(row.run_dir) for row in rows if row.status == "interrupted"]
        if failed:
            # The sweep's exit status: `expkit train -m` ends with 1 when a job failed. Each with
            # the first line of its recorded error: a job of a Slurm sweep logs it on its node only.
            print(f"error: {len(failed)} job(s) of the sweep failed: {', '.join(failed)}", file=sys.stderr)
            for row in failed_rows:
                why = (row.error or "").strip().splitlines()
                if why:
                    print(f"  {Path(row.run_dir).name.split('_', 1)[0]}: {why[0][:300]}", file=sys.stderr)
        if stopped and is_optuna_search(config):
            # The study has these trials as failed: continuing the search runs new trials.
            print(f"error: {len(stopped)} trial(s) of the search were stopped before the end: {', '.join(stopped)}. "
                  "They are failed trials in the Optuna study (their folders keep what they saved); the same command "
                  "continues the study with new trials.", file=sys.stderr)
        elif stopped:
            print(f"error: {len(stopped)} job(s) of the sweep were stopped before the end: {', '.join(stopped)}. "
                  "Continue the sweep (finished jobs are skipped, stopped ones resume from their last.ckpt): "
                  + how_to_continue(sweep_dir), file=sys.stderr)
        if failed or stopped:
            raise SystemExit(1)


class SweepTerminatedHandler:
    """A sweep process's SIGTERM handler: raises `SweepTerminated` for its sweep folder.

    `hydra.sweep.dir` is resolved only when the signal comes: resolving `${expkit_stamp:...}`
    claims a timestamped folder, and a sweep that ends before it starts (a finished Optuna study)
    must not leave an empty one. By then the sweeper has claimed it, and the claim is reused."""

    raises_terminated = True  # a job's fit in this process hands SIGTERM over to Lightning

    def __init__(self, config: DictConfig) -> None:
        self.config = config

    def __call__(self, signum: int, frame: object) -> None:
        raise SweepTerminated(Path(str(self.config.hydra.sweep.dir)))


class SweepTerminated(Terminated):
    """SIGTERM to a sweep's process; its message says what each job kept and how to continue."""

    def __init__(self, sweep_dir: Path) -> None:
        super().__init__(str(sweep_dir))
        self.sweep_dir = sweep_dir

    def __str__(self) -> str:
        return sweep_kept_message(self.sweep_dir)


def sweep_kept_message(sweep_dir: Path) -> str:
    """What a stopped sweep kept, job by job, and the command that continues it. Continuing
    skips finished (and pruned) jobs, resumes the others from their last.ckpt, and runs failed
    jobs and jobs without a checkpoint again from the start (`commands.train.previous_attempt`)."""
    from expkit.errors import ExpkitError

    kept, again = [], []
    jobs = sorted((p for p in sweep_dir.iterdir() if p.is_dir() and JOB_FOLDER.match(p.name)),
                  key=lambda p: int(p.name.split("_", 1)[0])) if sweep_dir.is_dir() else []
    for job in jobs:
        folder = RunFolder(job)
        try:
            metrics = folder.read_metrics()
        except ExpkitError:
            metrics = {}
        status = metrics.get("status")
        if status in DONE_STATUSES:
            kept.append(f"{job.name} {status}")
        elif status != "failed" and (folder / RunFolder.LAST_CHECKPOINT).is_file():
            # epochs_done is the record's; last.ckpt may be one epoch behind it when the job was
            # killed between the two writes, which is why the checkpoint is named, not counted.
            kept.append(f"{job.name} ({metrics.get('epochs_done', 0)} epoch(s) done, {RunFolder.LAST_CHECKPOINT} kept)")
        else:
            again.append(job.name)
    said = f"the sweep {sweep_dir} stopped; " + ("kept: " + "; ".join(kept) if kept else "no job had saved a checkpoint")
    if again:
        said += f"; starting again: {', '.join(again)}"
    return said + ". Continue it (finished jobs are skipped, the others resume from last.ckpt): " + how_to_continue(sweep_dir)


# A job folder's name (hydra.sweep.subdir in conf/hydra/default.yaml): `<N>_<overrides>`, or `<N>`.
JOB_FOLDER = re.compile(r"\d+(_|$)")


def refuse_non_sweep_folder(sweep_dir: Path) -> None:
    """Exit 2 when hydra.sweep.dir names a folder that holds runs other than a sweep's jobs (a
    single run's folder, outputs/, a folder of several sweeps): the jobs would be written among
    them and the summary, which lists every run under the folder, would mix them in."""
    from expkit.runs.collect import find_run_dirs

    if not sweep_dir.is_dir():
        return
    if (sweep_dir / SWEEP_CONFIG).is_file() and not RunFolder.is_run_dir(sweep_dir):
        # A sweep wrote this folder: its job folders are named by its hydra.sweep.subdir, whatever that is.
        return
    strays = [r for r in find_run_dirs(sweep_dir) if r.parent != sweep_dir or not JOB_FOLDER.match(r.name)]
    if strays:
        what = "is itself a run folder" if strays[0] == sweep_dir else f"holds {strays[0]}, which is not a job of a sweep"
        print(f"error: hydra.sweep.dir={sweep_dir} is not a sweep folder: it {what}. hydra.sweep.dir continues a "
              "sweep: pass the folder an earlier `expkit train -m` wrote (its job folders are named <N>_<overrides>), "
              "or a new or empty folder to start a sweep there.", file=sys.stderr)
        raise SystemExit(2)


# The lock file one sweep process holds in its sweep folder (src/hydra_plugins/*/sweeper.py).
SWEEP_LOCK = ".expkit-sweep.lock"


@contextmanager
def sweep_lock(sweep_dir: Path) -> Iterator[None]:
    """Held while a sweep process runs jobs in `sweep_dir`: a second `expkit train -m` into the
    same folder (the same command started twice, or a continuation while the first still runs)
    would train the same jobs and write into each other's job folders, so it exits 2.

    filelock's lock is the kernel's (flock): it ends with the process, however it ends, so a
    killed sweep leaves no stale lock behind. On NFS it needs NFSv4 (or v3 with lockd), as
    SQLite does."""
    from filelock import FileLock, Timeout

    try:
        sweep_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        what = "is a file" if sweep_dir.exists() else f"cannot be made ({err.strerror or err})"
        print(f"error: hydra.sweep.dir={sweep_dir} {what}: a sweep writes its job folders into a folder. Give a new or "
              "empty folder, an earlier sweep's folder to continue it, or leave hydra.sweep.dir out.", file=sys.stderr)
        raise SystemExit(2) from None
    lock = FileLock(str(sweep_dir / SWEEP_LOCK), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        print(f"error: another sweep process is running in {sweep_dir} (it holds {sweep_dir / SWEEP_LOCK}): two "
              "processes would train the same jobs. Wait for it to end (or stop it), then run this command again "
              "to continue the sweep; or start this sweep in a folder of its own (leave out hydra.sweep.dir).",
              file=sys.stderr)
        raise SystemExit(2) from None
    try:
        yield
    finally:
        lock.release()


def is_sweep_folder(path: Path) -> bool:
    """A sweep's folder: it holds multirun.yaml, or (that file deleted) job folders `<N>_<overrides>`
    and is not itself a run."""
    if (path / SWEEP_CONFIG).is_file():
        return True
    if not path.is_dir() or RunFolder.is_run_dir(path):
        return False
    return any(JOB_FOLDER.match(p.name) and RunFolder.is_run_dir(p) for p in path.iterdir() if p.is_dir())


def is_optuna_search(config: Any) -> bool:
    """Whether the sweep is an Optuna search (its sweeper, expkit's Optuna plugin): its stopped
    trials are failed trials of the study, and the same command continues it with new trials."""
    return "optuna" in str(config.hydra.sweeper.get("_target_", ""))


def how_to_continue(sweep_dir: Path) -> str:
    """The command that continues the sweep (`continue_command`), or the words for it when its
    multirun.yaml cannot be read."""
    return continue_command(sweep_dir) or f"the same command with hydra.sweep.dir={sweep_dir}"


def continue_command(sweep_dir: Path) -> str | None:
    """The command that continues the sweep in `sweep_dir`: `expkit train -m` with the sweep's
    own arguments, as Hydra's basic sweeper recorded them in multirun.yaml, and
    `hydra.sweep.dir=<sweep_dir>`. None when the folder has no readable multirun.yaml."""
    import shlex

    import yaml
    from expkit.files import safe_load_yaml

    try:
        recorded = safe_load_yaml((sweep_dir / SWEEP_CONFIG).read_text(encoding="utf-8"))
        overrides = recorded["hydra"]["overrides"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return None
    hydra_args = [o for o in overrides.get("hydra") or [] if not o.startswith(("hydra.sweep.dir=", "hydra.mode="))]
    args = [*hydra_args, *(overrides.get("task") or []), f"hydra.sweep.dir={sweep_dir}"]
    return "expkit train -m " + " ".join(shlex.quote(str(a)) for a in args)


def optuna_best_lines(sweep_dir: Path) -> list[str]:
    """An Optuna search's best trial, from its OPTUNA_BEST file, as lines for the summary: the
    study, the trial, its value and its exact parameters, its run folder and the plots. [] for
    other sweeps. The best trial may come from an earlier sweep folder of a continued study."""
    import yaml
    from expkit.files import safe_load_yaml

    path = sweep_dir / OPTUNA_BEST
    try:
        best = safe_load_yaml(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, yaml.YAMLError):
        return []
    if not isinstance(best, dict):
        return []
    counts = f"{best.get('n_complete', 0)} complete, {best.get('n_pruned', 0)} pruned, {best.get('n_failed', 0)} failed"
    lines = [f"Optuna study {best.get('study')!r}: {best.get('n_trials', 0)} trials ({counts})."]
    if "best_trial" in best:
        params = " ".join(f"{k}={v}" for k, v in (best.get("best_params") or {}).items())
        value = best.get("best_value")
        value = f"{value:.6g}" if isinstance(value, (int, float)) else str(value)
        lines.append(f"Best trial {best['best_trial']}: {best.get('metric')} {value} (best checkpoint), with {params}")
        run_dir = best.get("best_run_dir")
        if isinstance(run_dir, str) and run_dir:
            inside = Path(run_dir).is_relative_to(sweep_dir.resolve())
            lines.append(f"Its run folder: {Path(run_dir).relative_to(sweep_dir.resolve()) if inside else run_dir}")
    front = best.get("pareto_front")
    if isinstance(front, list) and front:
        directions = " and ".join(f"{d} {m}" for m, d in zip(best.get("metrics") or [], best.get("directions") or []))
        lines.append(f"Pareto front ({directions}): {len(front)} trial{'s' if len(front) != 1 else ''} no other beats "
                     "on every objective:")
        for point in front:
            values = ", ".join(f"{k} {v:.6g}" if isinstance(v, (int, float)) else f"{k} {v}"
                               for k, v in (point.get("values") or {}).items())
            params = " ".join(f"{k}={v}" for k, v in (point.get("params") or {}).items())
            lines.append(f"  trial {point.get('trial')}: {values}, with {params}")
    if best.get("plots"):
        lines.append(f"Plots: {', '.join(best['plots'])}. Details: {OPTUNA_BEST}.")
    return lines


def summary_columns(rows: list) -> list:
    """The sweep's parameters, the run facts, the test metrics any job has, the job folder."""
    from expkit.runs.columns import resolve_columns

    tests = sorted({m for row in rows for m in row.metrics if m.startswith("test/")})
    names = ["params", "status", "monitor", "best", *tests, "epochs", "wall_time_s", "started", "run_dir"]
    return resolve_columns(names, rows)
