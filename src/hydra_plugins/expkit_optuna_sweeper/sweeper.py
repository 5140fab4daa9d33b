"""The Optuna sweeper's logic (Hydra requires plugin classes to live under `hydra_plugins`)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List, Optional

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger("expkit")

# Keys the sweeper adds to every job so its pruning callback can report to the trial.
TRIAL_KEY = "optuna_trial"


def to_distribution(override: Override) -> Any:
    """A Hydra sweep override (choice/range/interval, optionally tagged `log`) as an Optuna distribution."""
    import optuna.distributions as d

    value = override.value()
    if isinstance(value, ChoiceSweep):
        return d.CategoricalDistribution([v for v in override.sweep_iterator(transformer=lambda x: x)])
    if isinstance(value, RangeSweep):
        start, stop, step = value.start, value.stop, value.step
        if all(isinstance(x, int) for x in (start, stop, step)):
            return d.IntDistribution(int(start), int(stop) - 1, step=int(step))
        # Hydra's range() excludes stop, as Python's does.
        return d.FloatDistribution(float(start), float(stop) - float(step), step=float(step))
    if isinstance(value, IntervalSweep):
        log_scale = "log" in value.tags
        if isinstance(value.start, int) and isinstance(value.end, int):
            return d.IntDistribution(value.start, value.end, log=log_scale)
        return d.FloatDistribution(float(value.start), float(value.end), log=log_scale)
    raise ValueError(f"{override.input_line}: not a sweep the Optuna sweeper understands")


class ExpkitOptunaSweeper(Sweeper):
    def __init__(
        self, metric: Optional[str], direction: Optional[str], n_trials: int, n_jobs: int, sampler: str,
        seed: int, pruner: str, pruner_warmup_epochs: int, storage: Optional[str], study_name: Optional[str],
        params: Optional[Dict[str, str]],
    ) -> None:
        self.metric, self.direction = metric, direction
        self.n_trials, self.n_jobs = n_trials, max(1, n_jobs)
        self.sampler_name, self.seed = sampler, seed
        self.pruner_name, self.warmup = pruner, pruner_warmup_epochs
        self.storage, self.study_name = storage, study_name
        self.params = dict(params or {})
        self.config: Optional[DictConfig] = None
        self.launcher: Any = None
        self.job_idx = 0

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def _study(self, direction: str) -> Any:
        import optuna

        cfg = self.config
        name = self.study_name or f"{cfg.name}"
        storage = self.storage
        if storage is None:
            db = Path(cfg.paths.output_root) / str(cfg.name) / "optuna" / f"{name}.db"
            db.parent.mkdir(parents=True, exist_ok=True)
            storage = f"sqlite:///{db.resolve()}"
        sampler = (
            optuna.samplers.RandomSampler(seed=self.seed)
            if self.sampler_name == "random"
            else optuna.samplers.TPESampler(seed=self.seed)
        )
        pruner = (
            optuna.pruners.NopPruner()
            if self.pruner_name == "none"
            else optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=self.warmup)
        )
        study = optuna.create_study(
            study_name=name, storage=storage, sampler=sampler, pruner=pruner, direction=direction, load_if_exists=True
        )
        return study, storage

    def sweep(self, arguments: List[str]) -> Any:
        import optuna
        from optuna.trial import TrialState

        cfg = self.config
        metric = self.metric or cfg.monitor.metric
        direction = self.direction or ("maximize" if cfg.monitor.mode == "max" else "minimize")
        parser = OverridesParser.create()
        overrides = parser.parse_overrides([f"{k}={v}" for k, v in self.params.items()] + list(arguments))
        space, fixed = {}, []
        for override in overrides:
            key = override.get_key_element()
            if override.is_sweep_override():
                space[key] = to_distribution(override)
            else:
                fixed.append(f"{key}={override.get_value_element_as_str()}")
        if not space:
            raise ValueError("The Optuna sweeper found no search space: set hydra.sweeper.params or give sweep overrides.")

        sweep_dir = Path(cfg.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        study, storage = self._study(direction)
        finished = (TrialState.COMPLETE, TrialState.PRUNED)
        done = sum(t.state in finished for t in study.trials)
        log.info("Optuna study %r (%s): %d of %d trials done; optimizing %s (%s)", study.study_name, storage, done, self.n_trials, metric, direction)
        while done < self.n_trials:
            trials = [study.ask(space) for _ in range(min(self.n_jobs, self.n_trials - done))]
            batch = [
                fixed
                + [f"{k}={v}" for k, v in trial.params.items()]
                + [f"+{TRIAL_KEY}.storage='{storage}'", f"+{TRIAL_KEY}.study='{study.study_name}'",
                   f"+{TRIAL_KEY}.number={trial.number}", f"+{TRIAL_KEY}.metric='{metric}'",
                   f"+{TRIAL_KEY}.warmup={self.warmup}"]
                for trial in trials
            ]
            returns = self.launcher.launch(batch, initial_job_idx=self.job_idx)
            self.job_idx += len(batch)
            for trial, ret in zip(trials, returns):
                self._tell(study, trial, ret, metric)
            done += len(trials)
        return self._write_best(study, metric, direction, sweep_dir)

    @staticmethod
    def _tell(study: Any, trial: Any, ret: Any, metric: str) -> None:
        from optuna.trial import TrialState

        try:
            result = ret.return_value or {}
        except Exception as err:  # noqa: BLE001 - a crashed job is a failed trial, not a failed search
            log.error("Trial %d failed: %s", trial.number, err)
            study.tell(trial, state=TrialState.FAIL)
            return
        status = result.get("status")
        if status == "pruned":
            study.tell(trial, state=TrialState.PRUNED)
        elif status != "finished" or metric not in result:
            study.tell(trial, state=TrialState.FAIL)
        else:
            study.tell(trial, float(result[metric]))

    def _write_best(self, study: Any, metric: str, direction: str, sweep_dir: Path) -> dict:
        from optuna.trial import TrialState

        complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
        summary = {
            "study": study.study_name,
            "metric": metric,
            "direction": direction,
            "n_trials": len(study.trials),
            "n_complete": len(complete),
            "n_pruned": sum(t.state == TrialState.PRUNED for t in study.trials),
            "n_failed": sum(t.state == TrialState.FAIL for t in study.trials),
        }
        if complete:
            summary.update(best_value=study.best_value, best_params=study.best_params, best_trial=study.best_trial.number)
        text = OmegaConf.to_yaml(OmegaConf.create(summary))
        from expkit.run.files import write_text_atomic

        write_text_atomic(sweep_dir / "optuna_best.yaml", text)
        log.info("Optuna search done; best parameters in %s:\n%s", sweep_dir / "optuna_best.yaml", text)
        return summary
