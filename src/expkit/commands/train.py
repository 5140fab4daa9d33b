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


def hydra_overrides(argv: list[str]) -> list[str]:
    """The config overrides among Hydra's arguments (flags and their values left out)."""
    out, skip = [], False
    for item in argv:
        if skip:
            skip = False
            if "=" not in item or item.startswith(("install=", "uninstall=", "query=")):
                continue
        if item.startswith("-"):
            skip = item in VALUE_FLAGS
            continue
        out.append(item)
    return out


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

    print_metrics(f"Final metrics ({result.status})", result.metrics)
    best = result.metrics.get("best_checkpoint")
    log.info("Best checkpoint: %s", result.run_dir / best if best else "none (checkpointing off)")
    log.info("Run folder: %s", result.run_dir)


def exit_code(status: str) -> int:
    """0 for a finished run; 130 interrupted (as for SIGINT); 1 for anything else."""
    return {"finished": 0, "interrupted": 130}.get(status, 1)


def train_once(overrides: list[str], config_dir: str | None) -> int:
    import expkit
    from expkit.report import print_config_tree
    from expkit.run.folder import process_rank

    from expkit.logs import console_logging

    console_logging()
    cfg = expkit.compose(overrides, config_dir=config_dir)
    expkit.api.validate(cfg)
    # The other processes of a DDP run re-run this command; only rank 0 talks to the user.
    rank = process_rank()
    if rank == 0:
        print_config_tree(cfg)
    result = expkit.fit(cfg, overrides=overrides)
    if rank == 0:
        report(result)
    return exit_code(result.status)


def first_job_overrides(overrides: list[str]) -> list[str]:
    """The overrides of a sweep's first job (`a=1,2` -> `a=1`); search spaces (`interval(...)`)
    are left out: their values come from the sweeper."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    out = []
    for text, override in zip(overrides, parsed):
        if not override.is_sweep_override():
            out.append(text)
            continue
        try:
            first = next(iter(override.sweep_string_iterator()))
        except Exception:  # noqa: BLE001 - ranges/intervals of a search space
            continue
        out.append(f"{override.get_key_element()}={first}")
    return out


def check_sweep(argv: list[str], config_dir: str | None) -> None:
    """Compose and validate the sweep's first job before Hydra creates any folder."""
    import expkit
    from hydra.errors import HydraException

    overrides = hydra_overrides(argv)
    try:
        first = first_job_overrides(overrides)
    except HydraException as err:
        from expkit.api import _hydra_error

        raise _hydra_error(err) from None
    plain = [o for o in first if not o.startswith(("hydra.", "hydra/"))]
    cfg = expkit.compose(plain, config_dir=config_dir)
    expkit.api.validate(cfg)
    check_sweep_processes(cfg, overrides)


def check_sweep_processes(cfg: Any, overrides: list[str]) -> None:
    """`-m` with a multi-process trainer runs only where SLURM starts the processes.

    Lightning's `ddp` launcher starts ranks > 0 by re-running the command line, which for a
    sweep is the whole sweep (Lightning #11300); in the jobs of the basic and joblib launchers
    it would start a second sweep, and a later job would find LOCAL_RANK set by the first one
    and wait for processes nobody starts. With `hydra/launcher=slurm`, SLURM starts one task per
    device (tasks_per_node) and Lightning starts none.
    """
    from expkit.errors import ConfigError
    from expkit.validation import is_multi_process

    launcher = next((o.split("=", 1)[1] for o in reversed(overrides) if o.startswith("hydra/launcher=")), "basic")
    if is_multi_process(cfg.trainer) and "slurm" not in launcher:
        raise ConfigError(
            f"-m with trainer.devices={cfg.trainer.get('devices')} (strategy {cfg.trainer.get('strategy')}) is not "
            f"supported with the {launcher} launcher: Lightning starts the other DDP processes by re-running the command, "
            "which would re-run the sweep (Lightning #11300). Sweep on one device per job (trainer.devices=1), run each "
            "multi-device job with its own `expkit train trainer=ddp ...`, or send the sweep to SLURM with "
            "hydra/launcher=slurm, where SLURM starts the processes (hydra.launcher.tasks_per_node=trainer.devices)."
        )


def requeued_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint a job continues from when it runs again in its own folder: a SLURM job
    requeued after a preemption or its time limit (submitit reruns the same job), which left an
    unfinished run with a checkpoint behind. None for a fresh job."""
    from expkit.errors import ExpkitError
    from expkit.run.folder import RunFolder

    folder = RunFolder(run_dir)
    if folder.read_metrics().get("status") in (None, "finished"):
        return None
    try:
        return folder.resume_checkpoint()
    except ExpkitError:  # stopped before its first checkpoint: start again
        return None


def run_job(cfg: Any) -> dict[str, Any]:
    """Hydra's task function for one job of a sweep (or `--cfg`/`--help`, which never get here)."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf, open_dict

    import expkit
    from expkit.errors import ExpkitError
    from expkit.run.record import RunRecord
    from expkit.logs import quiet_third_party
    from expkit.run.sweep import adapt_to_launcher, is_pruned

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
    ckpt_path = requeued_checkpoint(run_dir)
    if ckpt_path is not None:
        log.info("Continuing the requeued job from %s", ckpt_path)
    try:
        result = expkit.fit(cfg, run_dir, overrides=list(hydra_cfg.overrides.task), extra_callbacks=extra_callbacks,
                            ckpt_path=ckpt_path)
    except ExpkitError as err:
        RunRecord(run_dir).fail(err)
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
    return result.metrics


def hydra_entry(argv: list[str], config_dir: str | None) -> None:
    """Run Hydra's main with `argv` as its command line (sweeps and Hydra's own flags)."""
    import hydra

    from expkit.api import workload_overrides
    from expkit.config_files import conf_dir
    from expkit.run.stamp import register_resolvers

    register_resolvers()
    overrides = hydra_overrides(argv)
    added = workload_overrides(overrides)[: -len(overrides) or None] if overrides else []
    extra = ["--config-dir", config_dir] if config_dir else []
    saved = sys.argv
    sys.argv = ["expkit train", *extra, *added, *argv]
    try:
        hydra.main(config_path=str(conf_dir()), config_name="train", version_base="1.3")(run_job)()
    finally:
        sys.argv = saved


def main(argv: list[str]) -> int:
    argv, config_dir = split_config_dir(argv)
    if not any(a in HYDRA_FLAGS or a.split("=", 1)[0] in HYDRA_FLAGS for a in argv):
        return train_once(argv, config_dir)
    if any(a in ("-m", "--multirun") for a in argv) and not any(a in ("--cfg", "-c", "--help", "-h", "--info", "-i") for a in argv):
        check_sweep(argv, config_dir)
    hydra_entry(argv, config_dir)
    return 0
