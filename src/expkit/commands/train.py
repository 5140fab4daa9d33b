"""expkit train [OVERRIDES ...]: compose conf/train.yaml with Hydra, train, test, record.

Everything after `train` goes to Hydra verbatim: `key=value` overrides, `group=option`,
`-m/--multirun` sweeps, `--cfg job`, `--help`, `--info`.
"""

from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path
from typing import Any

from expkit.run.stamp import register_resolvers

log = logging.getLogger("expkit")

# Set by `expkit resume` before it starts Hydra: the checkpoint the (single) run continues from.
RESUME_CHECKPOINT: list[str] = []
# The last run's folder and final metrics, for commands that run Hydra and then report.
LAST_RESULT: dict[str, Any] = {}

# Registered on import so that joblib/submitit workers (which import this module to unpickle
# the job function) can resolve the run-folder names too.
register_resolvers()


def run_job(cfg: Any) -> dict[str, Any]:
    """Hydra's task function: one run (or one job of a sweep) in Hydra's output folder."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from omegaconf.errors import OmegaConfBaseException

    from expkit.errors import ConfigError, ExpkitError
    from expkit.report import print_config_tree, print_metrics
    from expkit.run.record import RunRecord
    from expkit.training import train

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    log.info("Run folder: %s", run_dir)
    try:
        if not multirun:
            print_config_tree(cfg)
        extra_callbacks = []
        if multirun:
            from expkit.run.pruning import OptunaPruning
            from expkit.run.sweep import adapt_to_launcher

            adapt_to_launcher(cfg, str(hydra_cfg.launcher.get("_target_", "")), hydra_cfg.job.num)
            if cfg.get("optuna_trial"):
                extra_callbacks.append(OptunaPruning(**cfg.optuna_trial))
        ckpt_path = RESUME_CHECKPOINT[0] if RESUME_CHECKPOINT and not multirun else None
        metrics = train(cfg, run_dir, ckpt_path=ckpt_path, extra_callbacks=extra_callbacks)
    except (ExpkitError, OmegaConfBaseException) as err:
        if not isinstance(err, ExpkitError):  # a bad ${...} or a missing ??? value
            err = ConfigError(f"config: {str(err).splitlines()[0]}. Fix the key on the command line or in its YAML file.")
        if multirun:
            RunRecord(run_dir).fail(err)
            log.error("Job failed: %s", err)
            return {"status": "failed"}
        _discard_if_untouched(run_dir)
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    except Exception as err:
        from expkit.run.sweep import is_pruned

        if is_pruned(err):
            record = RunRecord(run_dir)
            record.update(status="pruned")
            log.info("Trial pruned: %s", err)
            return dict(record.data)
        RunRecord(run_dir).fail(err)
        if multirun:
            log.exception("Job failed")
            return {"status": "failed"}
        raise
    from omegaconf import OmegaConf

    LAST_RESULT.update(run_dir=run_dir, metrics=metrics, config_yaml=OmegaConf.to_yaml(cfg))
    print_metrics(f"Final metrics ({metrics.get('status')})", metrics)
    best = metrics.get("best_checkpoint")
    log.info("Best checkpoint: %s", run_dir / best if best else "none (checkpointing off)")
    log.info("Run folder: %s", run_dir)
    return metrics


def _discard_if_untouched(run_dir: Path) -> None:
    """A run refused before it started leaves no folder behind (Hydra's files only)."""
    own = {p.name for p in run_dir.iterdir()} if run_dir.is_dir() else set()
    if own <= {".hydra", "train.log"}:
        shutil.rmtree(run_dir, ignore_errors=True)


def hydra_entry(argv: list[str], config_path: str, config_name: str, prog: str = "expkit train") -> None:
    """Run Hydra's main with `argv` as its command line."""
    import hydra

    saved = sys.argv
    sys.argv = [prog, *argv]
    try:
        hydra.main(config_path=config_path, config_name=config_name, version_base="1.3")(run_job)()
    finally:
        sys.argv = saved


def main(argv: list[str]) -> int:
    from expkit.config_files import conf_dir

    from expkit.run.sweep import FAILED_JOBS

    hydra_entry(argv, str(conf_dir()), "train")
    if FAILED_JOBS:
        print(f"error: {len(FAILED_JOBS)} job(s) of the sweep failed: {', '.join(FAILED_JOBS)}", file=sys.stderr)
        return 1
    return 0
