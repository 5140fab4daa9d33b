"""expkit train [OVERRIDES ...]: compose conf/train.yaml, validate, train, test, record.

A single run goes through the Python API (`expkit.compose` + `expkit.fit`): the config is
checked before any folder is made. Sweeps (`-m`) and Hydra's own flags (`--cfg`, `--help`,
`--info`, `-sc`) go through `hydra.main`, which launchers and sweepers need; their jobs call
the same `expkit.fit`, after the sweep's first job's config was validated the same way.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger("expkit")

# Flags that only Hydra's own command line understands.
HYDRA_FLAGS = ("-m", "--multirun", "--cfg", "-c", "--help", "-h", "--hydra-help", "--info", "-i",
               "--shell-completion", "-sc", "--resolve", "--package", "-p", "--run", "-r",
               "--experimental-rerun")
CONFIG_DIR_FLAGS = ("--config-dir", "-cd")
# Hydra flags followed by a value (`--cfg job`, `-sc install=bash`).
VALUE_FLAGS = ("--cfg", "-c", "--package", "-p", "--shell-completion", "-sc", "--experimental-rerun",
               "--config-name", "-cn", "--info", "-i")


def split_hydra_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """(Hydra's flags with their values, the config overrides) of `argv`, each in order."""
    flags, out, skip = [], [], False
    for item in argv:
        if skip:
            skip = False
            if "=" not in item or item.startswith(("install=", "uninstall=", "query=")):
                flags.append(item)
                continue
        if item.startswith("-"):
            skip = item in VALUE_FLAGS
            flags.append(item)
            continue
        out.append(item)
    return flags, out


def hydra_overrides(argv: list[str]) -> list[str]:
    """The config overrides among Hydra's arguments (flags and their values left out)."""
    return split_hydra_args(argv)[1]


def split_config_dir(argv: list[str]) -> tuple[list[str], str | None]:
    """(argv without --config-dir DIR, DIR or None); `--config-dir=DIR` works too."""
    rest, config_dir = [], None
    items = iter(argv)
    for item in items:
        if item in CONFIG_DIR_FLAGS:
            config_dir = next(items, None)
            if config_dir is None:
                from expkit.errors import ConfigError

                raise ConfigError("--config-dir needs a folder: expkit train --config-dir DIR model=NAME")
        elif item.startswith("--config-dir="):
            config_dir = item.split("=", 1)[1]
        else:
            rest.append(item)
    return rest, config_dir


def report(result: Any) -> None:
    from expkit.report import print_metrics
    from expkit.run.folder import RunFolder

    if result.status == "interrupted":
        from expkit.run.record import AFTER_FIT

        signal_name = result.metrics.get("signal", "SIGINT")
        if AFTER_FIT in str(result.metrics.get("error", "")):
            print(f"interrupted by {signal_name} after the fit ({result.metrics.get('epochs_done', 0)} epoch(s), checkpoints "
                  f"complete), before its test finished. Run the test with: expkit resume {result.run_dir}", file=sys.stderr)
            return
        print(f"interrupted by {signal_name} after {result.metrics.get('epochs_done', 0)} epoch(s); "
              f"{RunFolder.LAST_CHECKPOINT} holds the last completed epoch. Continue with: expkit resume {result.run_dir}",
              file=sys.stderr)
        return
    print_metrics(f"Final metrics ({result.status})", result.metrics)
    best = result.metrics.get("best_checkpoint")
    log.info("Best checkpoint: %s", result.run_dir / best if best else "none (checkpointing off)")
    log.info("Run folder: %s", result.run_dir)


def exit_code(status: str, signal_name: str | None = None) -> int:
    """0 for a finished run; 128 + the signal's number when interrupted (130 for Ctrl+C, 143 for
    SIGTERM, as a shell reports them); 1 for anything else."""
    if status == "interrupted":
        return 143 if signal_name == "SIGTERM" else 130
    return 0 if status == "finished" else 1


def result_exit_code(result: Any) -> int:
    return exit_code(result.status, result.metrics.get("signal"))


def train_once(overrides: list[str], config_dir: str | None) -> int:
    import expkit
    from hydra.core.hydra_config import HydraConfig

    from expkit.report import print_config_summary
    from expkit.run.folder import process_rank

    from expkit.logs import console_logging

    console_logging()
    cfg = expkit.compose(overrides, config_dir=config_dir)
    plan = expkit.api.validate(cfg)
    # The other processes of a DDP run re-run this command; only rank 0 talks to the user.
    rank = process_rank()
    launcher = next((o.split("=", 1)[1] for o in reversed(overrides) if o.startswith("hydra/launcher=")), None)
    if launcher and rank == 0:
        log.warning(
            "hydra/launcher=%s launches the jobs of a sweep: without -m this run trains here, in this process. Add -m "
            "to send it to the launcher (a sweep of one job).", launcher)
    # Lightning adds `hydra.run.dir=<rank 0's folder>` to the other ranks' command line; they
    # take rank 0's folder from RUN_DIR_ENV instead (RunFolder.create).
    run_dir = requested_run_dir(overrides) if rank == 0 else None
    if rank == 0:
        # The choices of the composition just made (expkit.compose leaves it in HydraConfig).
        choices = dict(HydraConfig.get().runtime.choices) if HydraConfig.initialized() else {}
        print_config_summary(choices, overrides)
    if run_dir is None:
        result = expkit.fit(cfg, overrides=overrides, validated=True, plan=plan)
    else:
        result = fit_into_requested_folder(cfg, run_dir, overrides, plan)
    if rank == 0:
        record_choices(result.run_dir)
        report(result)
    return result_exit_code(result)


def record_choices(run_dir: Path) -> None:
    """`.hydra/hydra.yaml` with the option chosen for each config group (Hydra's
    `hydra.runtime.choices`, from the composition this command just made), as Hydra writes it for
    a sweep's jobs: the runs table names a swept group by its option (`model=mlp`). Written after
    the fit, when the folder exists; a folder that already has one (Hydra's) keeps it."""
    import yaml
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from expkit.files import write_text_atomic

    path = Path(run_dir) / ".hydra" / "hydra.yaml"
    if path.exists() or not HydraConfig.initialized() or not path.parent.is_dir():
        return
    choices = OmegaConf.to_container(HydraConfig.get().runtime.choices, resolve=True)
    write_text_atomic(path, yaml.safe_dump({"hydra": {"runtime": {"choices": choices}}}, sort_keys=False))


def requested_run_dir(overrides: list[str]) -> Path | None:
    """The folder `hydra.run.dir=DIR` asks a single run to be written to (Hydra's own key, resolved
    as Hydra would: `${name}` and the like work), checked before anything is written: it must be
    new or empty, and not inside another run's folder. None when the key is not given."""
    from hydra.core.hydra_config import HydraConfig

    from expkit.errors import ConfigError
    from expkit.run.folder import RunFolder

    given = [o for o in overrides if o.lstrip("+").split("=", 1)[0] == "hydra.run.dir"]
    if not given:
        return None
    override = given[-1]
    value = HydraConfig.get().run.dir if HydraConfig.initialized() else override.split("=", 1)[1]
    if not value or str(value) == "None":
        raise ConfigError(f"command line `{override}`: give the folder the run is written to, e.g. hydra.run.dir=outputs/my_run.")
    path = Path(str(value))
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        what = "is a file" if not path.is_dir() else "exists and is not empty"
        raise ConfigError(
            f"command line `{override}`: {path} {what}; a run is written into a new (or empty) folder of its own. "
            "Give a new folder, or leave hydra.run.dir out to get <paths.output_root>/<name>/<timestamp>/."
        )
    RunFolder.refuse_nested(path, "hydra.run.dir", f"command line `{override}`", "outputs/my_run")
    return path


def fit_into_requested_folder(cfg: Any, run_dir: Path, overrides: list[str], plan: Any = None) -> Any:
    """`expkit.fit` into the folder `hydra.run.dir` named, made here; a run refused before it
    started (no metrics.json) leaves no folder behind, as one in <paths.output_root> would not."""
    import expkit
    from expkit.fitting import discard_untouched
    from expkit.errors import ExpkitError
    from expkit.run.folder import RunFolder

    created = not run_dir.exists()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ExpkitError(
            f"Cannot create the run folder hydra.run.dir={run_dir}: {err.strerror or err}. Give a writable folder."
        ) from None
    try:
        return expkit.fit(cfg, run_dir, overrides=overrides, validated=True, plan=plan)  # train_once validated it
    except (ExpkitError, KeyboardInterrupt):
        folder = RunFolder(run_dir)
        if created and not (folder / RunFolder.METRICS).exists():
            discard_untouched(folder)
        raise


def previous_attempt(run_dir: Path) -> tuple[Path | None, dict[str, Any] | None]:
    """(checkpoint, lineage) for a job that runs again in its own folder: a sweep continued with
    `hydra.sweep.dir=<its folder>`, or a SLURM job requeued after a preemption or its time limit
    (submitit reruns the same job). Decided by the status the earlier attempt left in metrics.json:

    - none (a new job): (None, None).
    - interrupted, or still `running` (killed, preempted): continue from its newest checkpoint;
      the lineage says it was resumed. Stopped before its first checkpoint: start again.
    - failed: start again from scratch, its outputs removed (the lineage keeps the error); resuming
      would restore the state that failed.

    Finished jobs of a continued sweep never get here: the sweeper (expkit_basic) skips them.
    Launched anyway (another sweeper), they run again from the start, as under plain Hydra.
    """
    from expkit.errors import ExpkitError
    from expkit.run.folder import RunFolder, process_rank
    from expkit.run.requeue import requeue_count

    folder = RunFolder(run_dir)
    previous = folder.read_metrics()
    status = previous.get("status")
    if status is None:
        return None, None
    if status in ("interrupted", "running"):
        try:
            ckpt = folder.resume_checkpoint()
        except ExpkitError:
            ckpt = None
        if ckpt is not None:
            # Slurm counts the requeues of a job (submitit's, after its requeue signal): the
            # lineage says which attempt this is.
            restarts = requeue_count()
            command = {"command": "requeue", "requeue": restarts} if restarts else {"command": "resume"}
            return ckpt, {"run_dir": str(run_dir.resolve()), **command, "overrides": [],
                          "checkpoint": folder.relative(ckpt), "previous_status": status}
    if process_rank() > 0:
        # The other SLURM tasks of a multi-device job: rank 0 may already have started this
        # attempt's record; only rank 0 removes anything.
        return None, None
    folder.discard_attempt()
    source = {"run_dir": str(run_dir.resolve()), "command": "rerun", "overrides": [], "previous_status": status}
    if previous.get("error"):
        source["previous_error"] = previous["error"]
    return None, source


def run_job(cfg: Any) -> dict[str, Any]:
    """Hydra's task function for one job of a sweep (or `--cfg`/`--help`, which never get here)."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf, open_dict

    import expkit
    from expkit.errors import ExpkitError
    from expkit.logs import quiet_third_party
    from expkit.run.record import RunRecord, is_pruned
    from expkit.runs.sweep import adapt_to_launcher, continue_command

    quiet_third_party()  # joblib/submitit workers are processes of their own
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    extra_callbacks = []
    adapt_to_launcher(cfg, str(hydra_cfg.launcher.get("_target_", "")), hydra_cfg.job.num)
    if cfg.get("optuna_trial"):
        from expkit.run.pruning import OptunaPruning

        extra_callbacks.append(OptunaPruning(**cfg.optuna_trial))
    with open_dict(cfg):
        if OmegaConf.is_interpolation(cfg, "name"):
            cfg.name = str(cfg.name)
    requeue_signal = adapt_to_submitit(cfg, hydra_cfg.launcher, extra_callbacks)
    ckpt_path, source = previous_attempt(run_dir)
    if ckpt_path is not None and source.get("command") == "requeue":
        log.info("Requeued by Slurm (restart %d): resuming the %s job from %s", source["requeue"],
                 source["previous_status"], ckpt_path)
    elif ckpt_path is not None:
        log.info("Resuming the %s job from %s", source["previous_status"], ckpt_path)
    elif source is not None:
        log.info("Running the %s job again from the start", source["previous_status"])
    try:
        result = expkit.fit(cfg, run_dir, overrides=list(hydra_cfg.overrides.task), extra_callbacks=extra_callbacks,
                            ckpt_path=ckpt_path, source=source)
    except ExpkitError as err:
        record = RunRecord(run_dir)
        if source and record.data.get("source") != source:  # refused before the record started
            record.add_source(source)
        record.fail(err)
        log.error("Job failed: %s", err)
        return {"status": "failed"}
    except Exception as err:  # noqa: BLE001 - one job's failure must not stop the sweep
        if is_pruned(err):
            record = RunRecord(run_dir)
            record.update(status="pruned")
            log.info("Trial pruned: %s", err)
            return dict(record.data)
        RunRecord(run_dir).fail(err)
        log.exception("Job failed")
        return {"status": "failed"}
    report(result)
    if result.status == "interrupted" and requeue_signal is not None:
        return requeue_after_signal(requeue_signal, run_dir, result)
    if result.status == "interrupted":
        # A signal stops the whole sweep, not just this job: the scheduler wants the process gone.
        if cfg.get("optuna_trial"):
            print("Continue the search: run the same command again (the study continues).", file=sys.stderr)
        else:
            command = continue_command(Path(hydra_cfg.sweep.dir))
            print("Continue the whole sweep (finished jobs are skipped): "
                  + (command or f"the same command with hydra.sweep.dir={hydra_cfg.sweep.dir}"), file=sys.stderr)
        raise SystemExit(result_exit_code(result))
    return result.metrics


def adapt_to_submitit(cfg: Any, launcher: Any, extra_callbacks: list[Any]) -> Any:
    """A job that submitit runs on Slurm: Lightning's own SLURM auto-requeue off, submitit's
    requeue signal handled by `expkit.run.requeue.RequeueSignal` (returned; None elsewhere), and
    trainer.num_nodes from hydra.launcher.nodes when not set by hand (the sweep's check refused a
    different value before submitting)."""
    from omegaconf import open_dict

    from expkit.run.requeue import SUBMITIT_SLURM_ENVIRONMENT, RequeueSignal, submitit_executor

    if submitit_executor() != "slurm":
        return None
    with open_dict(cfg):
        plugins = list(cfg.trainer.get("plugins") or [])
        cfg.trainer.plugins = [*plugins, dict(SUBMITIT_SLURM_ENVIRONMENT)]
        nodes = launcher.get("nodes") if launcher is not None else None
        if nodes and cfg.trainer.get("num_nodes") in (None, 1):
            cfg.trainer.num_nodes = int(nodes)
    signal_callback = RequeueSignal()
    extra_callbacks.append(signal_callback)
    return signal_callback


def requeue_after_signal(requeue_signal: Any, run_dir: Path, result: Any) -> dict[str, Any]:
    """A submitit job's fit was stopped by a signal. Slurm's requeue signal: the record says so
    and submitit requeues the job (it exits here). Any other (scancel's SIGTERM), or a job out of
    requeues: the job returns its record, so that submitit writes its result and the sweep's
    command reports it instead of waiting for it; continuing the sweep resumes it."""
    from expkit.run.folder import process_rank
    from expkit.run.record import RunRecord

    if requeue_signal.received and process_rank() == 0:
        import signal as signals

        name = signals.Signals(requeue_signal.signum).name
        RunRecord(run_dir).update(signal=name, error=f"stopped by Slurm's requeue signal {name} (preemption or time "
                                  "limit); the requeued job continues from checkpoints/last.ckpt")
        try:
            requeue_signal.requeue()  # submitit: checkpoint(), scontrol requeue, exit
        except Exception as err:  # noqa: BLE001 - submitit's UncompletedJobError: out of requeues
            RunRecord(run_dir).update(error=f"{err} Continue it with the sweep's command and hydra.sweep.dir=.")
            log.error("Job not requeued: %s", err)
    return dict(RunRecord(run_dir).data) if process_rank() == 0 else {"status": result.status}


def shell_completion(argv: list[str]) -> int:
    """`expkit -sc query=SHELL`: what the completion script of `expkit train -sc install=SHELL`
    calls on every Tab, with the command line being completed in COMP_LINE. It answers the
    command names for the first word, Hydra's own completion of `expkit train`'s overrides after
    `train`, and nothing after another command (the shell then completes file names).
    `expkit -sc install=SHELL` is `expkit train -sc install=SHELL`."""
    import os
    import re

    from expkit.commands import COMMANDS

    if not any(a.startswith("query=") for a in argv):
        hydra_entry(argv, None)
        return 0
    line = os.environ.get("COMP_LINE", "")
    words = line.split()
    if len(words) < 2 or (len(words) == 2 and not line.endswith(" ")):
        prefix = words[1] if len(words) == 2 else ""
        print(" ".join(name for name in COMMANDS if name.startswith(prefix)))
        return 0
    if words[1] != "train":
        return 0
    # Hydra completes the words after the program's name: drop `train` as if the program were `expkit train`.
    os.environ["COMP_LINE"] = re.sub(r"^\s*\S+\s+train(\s|$)", lambda m: words[0] + m.group(1), line, count=1)
    hydra_entry(argv, None)
    return 0


def hydra_entry(argv: list[str], config_dir: str | None) -> None:
    """Run Hydra's main with `argv` as its command line (sweeps and Hydra's own flags)."""
    import hydra

    from expkit.api import workload_overrides
    from expkit.config_files import conf_dir
    from expkit.run.stamp import register_resolvers

    register_resolvers()
    flags, overrides = split_hydra_args(argv)
    added = workload_overrides(overrides)[: -len(overrides) or None] if overrides else []
    extra = ["--config-dir", config_dir] if config_dir else []
    saved = sys.argv
    # Flags first: Hydra's argparse takes overrides as one positional list, so an override
    # before `-m` and another after it would be "unrecognized arguments".
    # The completion script Hydra installs (`-sc install=bash`) is bound to the program named by
    # argv[0] and calls `<program> -sc query=bash`: `expkit`, whose `shell_completion` answers.
    completion = any(f in ("-sc", "--shell-completion") or f.startswith("--shell-completion=") for f in flags)
    sys.argv = ["expkit" if completion else "expkit train", *extra, *flags, *added, *overrides]
    try:
        hydra.main(config_path=str(conf_dir()), config_name="train", version_base="1.3")(run_job)()
    finally:
        sys.argv = saved


def main(argv: list[str]) -> int:
    argv, config_dir = split_config_dir(argv)
    # A search (`hparams_search=...`) sets hydra.mode=MULTIRUN in its file: it is a sweep too.
    search = any(a.split("=", 1)[0] == "hparams_search" for a in argv)
    modes = ("-m", "--multirun", "--cfg", "-c", "--info", "-i", "-sc", "--shell-completion", "--run", "-r",
             "--help", "-h", "--hydra-help")
    if search and not any(a in modes or a.split("=", 1)[0] in modes for a in argv):
        argv = ["-m", *argv]
    if not any(a in HYDRA_FLAGS or a.split("=", 1)[0] in HYDRA_FLAGS for a in argv):
        return train_once(argv, config_dir)
    if any(a in ("-m", "--multirun") for a in argv) and not any(a in ("--cfg", "-c", "--help", "-h", "--info", "-i") for a in argv):
        from expkit.commands.sweep_checks import check_sweep

        check_sweep(hydra_overrides(argv), config_dir)
    hydra_entry(argv, config_dir)
    return 0
