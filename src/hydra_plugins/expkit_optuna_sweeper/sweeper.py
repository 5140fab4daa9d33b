"""The Optuna sweeper's logic (Hydra requires plugin classes to live under `hydra_plugins`)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from expkit.run.sweep import OPTUNA_BEST, OPTUNA_PLOTS, refuse_non_sweep_folder

log = logging.getLogger("expkit")

# Keys the sweeper adds to every job so its pruning callback can report to the trial.
TRIAL_KEY = "optuna_trial"
# Significant digits of a sampled float in a trial's folder name (the config keeps every digit).
FOLDER_DIGITS = 4


def display_value(value: Any) -> str:
    """A sampled value as a folder name shows it: floats to FOLDER_DIGITS significant digits
    (`0.09454306819536169` -> `0.09454`), anything else as Hydra writes it."""
    if isinstance(value, float):
        return f"{value:.{FOLDER_DIGITS}g}"
    return str(value)


def quoted(text: str) -> str:
    """`text` as a single-quoted value of a Hydra override (commas and `=` stay literal)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


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

    def _study(self, metric: str, direction: str) -> Any:
        import optuna

        cfg = self.config
        name = self.study_name or f"{cfg.name}"
        storage = self.storage
        if storage is None:
            db = Path(cfg.paths.output_root) / str(cfg.name) / "optuna" / f"{name}.db"
            db.parent.mkdir(parents=True, exist_ok=True)
            storage = f"sqlite:///{db.resolve()}"
        pruner = (
            optuna.pruners.NopPruner()
            if self.pruner_name == "none"
            else optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=self.warmup)
        )
        # Optuna's "Using an existing study" notice: the sweeper's own line says how far the study is.
        verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        from sqlalchemy.exc import SQLAlchemyError

        try:
            study = optuna.create_study(
                study_name=name, storage=storage, pruner=pruner, direction=direction, load_if_exists=True
            )
        except (SQLAlchemyError, optuna.exceptions.OptunaError) as err:
            reason = str(getattr(err, "orig", None) or err).splitlines()[0]
            print(f"error: the Optuna study storage {storage} cannot be used ({reason}). If it is a damaged or foreign "
                  "file, move it away to start a new study there, or give another one with hydra.sweeper.storage=... "
                  "(hydra.sweeper.study_name=... picks a study inside it).", file=sys.stderr)
            raise SystemExit(2) from None
        finally:
            optuna.logging.set_verbosity(verbosity)
        # An existing study keeps its own direction (Optuna ignores the one asked for), and its
        # trials' values are of the metric it was made for: another one would be ranked as if the same.
        was = (study.user_attrs.get("metric", metric), study.direction.name.lower())
        if was != (metric, direction):
            print(f"error: the Optuna study {name!r} in {storage} was made to {was[1]} {was[0]}, but this run's "
                  f"monitor asks to {direction} {metric}: its trials' values do not compare. Give this search its own "
                  "study with hydra.sweeper.study_name=NAME, or set monitor.metric/monitor.mode as the study has them.",
                  file=sys.stderr)
            raise SystemExit(2)
        if "metric" not in study.user_attrs:
            study.set_user_attr("metric", metric)
        # Seeded by the trials already there: a continued study would otherwise draw the same
        # first random samples again (the same seed), repeating its earlier trials.
        seed = self.seed + len(study.trials)
        study.sampler = (
            optuna.samplers.RandomSampler(seed=seed)
            if self.sampler_name == "random"
            else optuna.samplers.TPESampler(seed=seed)
        )
        return study, storage

    def sweep(self, arguments: List[str]) -> Any:
        from optuna.trial import TrialState

        cfg = self.config
        # Optuna is told what the summary ranks by: the monitored metric of each trial's best
        # checkpoint. Another metric or direction here would rank trials two ways.
        metric, direction = cfg.monitor.metric, ("maximize" if cfg.monitor.mode == "max" else "minimize")
        for option, given, used, fix in (("metric", self.metric, metric, f"monitor.metric={self.metric}"),
                                         ("direction", self.direction, direction,
                                          f"monitor.mode={'max' if self.direction == 'maximize' else 'min'}")):
            if given is not None and given != used:
                print(f"error: hydra.sweeper.{option}={given} differs from the run's monitor ({used}): the search "
                      "optimizes the monitored metric of each trial's best checkpoint, which the summary ranks by. Set "
                      f"{fix} instead (it also picks the best checkpoint).", file=sys.stderr)
                raise SystemExit(2)
        if self.n_trials < 1:
            print(f"error: hydra.sweeper.n_trials={self.n_trials}: the number of trials the study should have in all "
                  "must be 1 or more (a continued study runs only the trials it lacks).", file=sys.stderr)
            raise SystemExit(2)
        parser = OverridesParser.create()
        overrides = parser.parse_overrides([f"{k}={v}" for k, v in self.params.items()] + list(arguments))
        space, fixed = {}, []
        for override in overrides:
            key = override.get_key_element()
            if override.is_sweep_override():
                space[key] = to_distribution(override)
            else:
                fixed.append(override)
        if not space:
            raise ValueError("The Optuna sweeper found no search space: set hydra.sweeper.params or give sweep overrides.")

        study, storage = self._study(metric, direction)
        finished = (TrialState.COMPLETE, TrialState.PRUNED)
        done = sum(t.state in finished for t in study.trials)
        if done >= self.n_trials:
            best = ""
            if any(t.state == TrialState.COMPLETE for t in study.trials):
                best = f", best {metric} {study.best_value:.6g} (trial {study.best_trial.number})"
            print(f"Optuna study {study.study_name!r} already has {done} of {self.n_trials} trials{best}; nothing to "
                  f"run: raise hydra.sweeper.n_trials to continue it ({storage}).")
            # Ends the command here: Hydra's end-of-sweep callbacks would resolve hydra.sweep.dir,
            # which claims a new (empty) timestamped sweep folder.
            raise SystemExit(0)
        sweep_dir = Path(cfg.hydra.sweep.dir)
        refuse_non_sweep_folder(sweep_dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        log.info("Optuna study %r (%s): %d of %d trials done; optimizing %s (%s) of the best checkpoint",
                 study.study_name, storage, done, self.n_trials, metric, direction)
        while done < self.n_trials:
            trials = [study.ask(space) for _ in range(min(self.n_jobs, self.n_trials - done))]
            batch = [
                [o.input_line for o in fixed]
                + [f"{k}={v}" for k, v in trial.params.items()]
                + self._folder_override(fixed, trial.params, self.job_idx + i)
                + [f"+{TRIAL_KEY}.storage='{storage}'", f"+{TRIAL_KEY}.study='{study.study_name}'",
                   f"+{TRIAL_KEY}.number={trial.number}", f"+{TRIAL_KEY}.metric='{metric}'",
                   f"+{TRIAL_KEY}.warmup={self.warmup}"]
                for i, trial in enumerate(trials)
            ]
            returns = self.launcher.launch(batch, initial_job_idx=self.job_idx)
            self.job_idx += len(batch)
            for trial, ret in zip(trials, returns):
                self._tell(study, trial, ret)
            done += len(trials)
        return self._write_best(study, metric, direction, sweep_dir)

    def _folder_override(self, fixed: List[Override], params: Dict[str, Any], num: int) -> List[str]:
        """`hydra.sweep.subdir` with the trial's values rounded (Hydra's own `override_dirname`
        would carry 17-digit floats), built as Hydra builds it: the overrides not excluded by
        hydra.job.config.override_dirname, sorted, joined. The job's config keeps the exact values."""
        cfg = self.config
        settings = cfg.hydra.job.config.override_dirname
        subdir = OmegaConf.to_container(cfg.hydra.sweep, resolve=False).get("subdir")
        if not isinstance(subdir, str) or "${hydra.job.override_dirname}" not in subdir:
            return []  # a subdir of the user's own: left as it is
        items = [(o.key_or_group, o.input_line) for o in fixed]
        items += [(key, f"{key}={display_value(value)}") for key, value in params.items()]
        lines = sorted(text for key, text in items if key not in settings.exclude_keys)
        dirname = settings.item_sep.join(lines).replace("=", settings.kv_sep)
        resolved = subdir.replace("${hydra.job.override_dirname}", dirname).replace("${hydra.job.num}", str(num))
        return [f"hydra.sweep.subdir={quoted(resolved)}"]

    @staticmethod
    def _tell(study: Any, trial: Any, ret: Any) -> None:
        from optuna.trial import TrialState

        from expkit.run.table import best_value

        try:
            result = ret.return_value or {}
        except Exception as err:  # noqa: BLE001 - a crashed job is a failed trial, not a failed search
            log.error("Trial %d failed: %s", trial.number, err)
            study.tell(trial, state=TrialState.FAIL)
            return
        run_dir = OmegaConf.select(ret.hydra_cfg, "hydra.runtime.output_dir") if ret.hydra_cfg is not None else None
        if run_dir:  # where the trial's run folder is, for optuna_best.yaml
            trial.set_user_attr("run_dir", str(run_dir))
        status = result.get("status")
        # The value the sweep summary ranks by: best_score (the best checkpoint's monitored value),
        # else the monitored metric's final value (checkpointing off).
        value = best_value(result)
        if status == "pruned":
            study.tell(trial, state=TrialState.PRUNED)
        elif status != "finished" or value is None:
            study.tell(trial, state=TrialState.FAIL)
        else:
            study.tell(trial, value)

    def _write_best(self, study: Any, metric: str, direction: str, sweep_dir: Path) -> dict:
        from optuna.trial import TrialState

        from expkit.run.files import write_text_atomic

        complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
        summary = {
            "study": study.study_name,
            "metric": metric,
            "value_from": "the best checkpoint (best_score in metrics.json)",
            "direction": direction,
            "n_trials": len(study.trials),
            "n_complete": len(complete),
            "n_pruned": sum(t.state == TrialState.PRUNED for t in study.trials),
            "n_failed": sum(t.state == TrialState.FAIL for t in study.trials),
        }
        if complete:
            best = study.best_trial
            summary.update(best_trial=best.number, best_value=best.value, best_params=best.params)
            if best.user_attrs.get("run_dir"):
                summary["best_run_dir"] = best.user_attrs["run_dir"]
        summary["plots"] = write_plots(study, sweep_dir, f"{metric} (best checkpoint)")
        text = OmegaConf.to_yaml(OmegaConf.create(summary))
        write_text_atomic(sweep_dir / OPTUNA_BEST, text)
        log.info("Optuna search done: %s", sweep_dir / OPTUNA_BEST)
        return summary


def write_plots(study: Any, sweep_dir: Path, target_name: str) -> List[str]:
    """Optuna's parallel-coordinate and parameter-importance plots as PNG files in the sweep
    folder (the names of those written). Needs matplotlib; importances need two complete trials
    whose parameters differ."""
    from optuna.trial import TrialState

    try:
        import matplotlib
    except ImportError:
        log.warning("matplotlib is not installed: no Optuna plots (pip install matplotlib)")
        return []
    import warnings

    matplotlib.use("Agg")  # files only: no window, works without a display
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as vis
    from optuna.exceptions import ExperimentalWarning

    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    varying = {k for t in complete for k in t.params if len({repr(u.params.get(k)) for u in complete}) > 1}
    written = []
    for name, function in OPTUNA_PLOTS.items():
        if not complete or (function == "plot_param_importances" and (len(complete) < 2 or not varying)):
            log.info("No %s yet: it needs %s", name, "two complete trials with differing parameters"
                     if function == "plot_param_importances" else "a complete trial")
            continue
        # Optuna's plots switch matplotlib's global style (ggplot): rc_context puts it back.
        with warnings.catch_warnings(), matplotlib.rc_context():
            # Optuna marks its matplotlib backend experimental.
            warnings.filterwarnings("ignore", category=ExperimentalWarning)
            # matplotlib on an axis whose trials all share one value (a single complete trial).
            warnings.filterwarnings("ignore", message="Attempting to set identical low and high", category=UserWarning)
            try:
                axes = getattr(vis, function)(study, target_name=target_name)
                figure = axes.figure
                figure.set_size_inches(10, 6)
                figure.tight_layout()
                figure.savefig(sweep_dir / name, dpi=100)
                plt.close(figure)
            except Exception as err:  # noqa: BLE001 - a plot is an extra: optuna_best.yaml and the summary come after it
                plt.close("all")
                log.warning("No %s: %s: %s", name, type(err).__name__, err)
                continue
        written.append(name)
    return written
