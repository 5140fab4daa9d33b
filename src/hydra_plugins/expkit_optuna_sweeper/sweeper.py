"""The Optuna sweeper's logic (Hydra requires plugin classes to live under `hydra_plugins`)."""

from __future__ import annotations

import logging
import math
import signal
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from expkit.runs.sweep import OPTUNA_BEST, SWEEP_CONFIG, refuse_non_sweep_folder
from expkit.run.search_algorithms import ChoiceError, make_pruner, make_sampler
from hydra_plugins.expkit_optuna_sweeper.plots import write_plots
from hydra_plugins.expkit_optuna_sweeper.search_space import SearchSpaceError, grid_space, to_distribution

log = logging.getLogger("expkit")

# Keys the sweeper adds to every job so its pruning callback can report to the trial.
TRIAL_KEY = "optuna_trial"
# Significant digits of a sampled float in a trial's folder name (the config keeps every digit).
FOLDER_DIGITS = 4
DIRECTIONS = ("minimize", "maximize")


class SearchConfigError(ValueError):
    """A search setting that cannot work, said for the person who set it (exit 2, before any trial)."""


class UnusableResult(ValueError):
    """A trial's result the search cannot turn into objective values (exit 2 after that trial)."""


def display_value(value: Any) -> str:
    """A sampled value as a folder name shows it: floats to FOLDER_DIGITS significant digits
    (`0.09454306819536169` -> `0.09454`), anything else as Hydra writes it."""
    if isinstance(value, float):
        return f"{value:.{FOLDER_DIGITS}g}"
    return str(value)


def quoted(text: str) -> str:
    """`text` as a single-quoted value of a Hydra override (commas and `=` stay literal)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def as_list(value: Any) -> Optional[List[Any]]:
    if value is None:
        return None
    if OmegaConf.is_config(value):
        value = OmegaConf.to_container(value)
    return list(value) if isinstance(value, (list, tuple)) else [value]


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def objective_values(result: Any, metrics: Optional[List[str]], n_objectives: int) -> Tuple[str, Optional[List[float]]]:
    """What a trial's job returned, as (state, values): state "complete", "pruned" or "failed".

    An expkit job returns its run record (metrics.json): a finished run's value of the monitored
    metric is its best checkpoint's (best_score, what the sweep summary ranks by); another metric's
    is its last value in the record. A plain Hydra app returns a number, or one number per
    objective. Anything else raises UnusableResult."""
    from expkit.runs.collect import best_value

    if isinstance(result, dict):
        status = result.get("status")
        if status == "pruned":
            return "pruned", None
        if status != "finished":
            return "failed", None
        values: List[Optional[float]] = []
        for metric in metrics or [result.get("monitor")]:
            if metric == result.get("monitor"):
                values.append(best_value(result))
            elif is_number(result.get(metric)):
                values.append(float(result[metric]))
            else:
                known = ", ".join(sorted(k for k, v in result.items() if "/" in k and is_number(v)))
                raise UnusableResult(f"the run's metrics.json has no metric {metric!r} (hydra.sweeper.metric); it has: "
                                     f"{known or 'no metrics'}.")
    elif is_number(result) and n_objectives == 1:
        values = [float(result)]
    elif isinstance(result, (list, tuple)) and len(result) == n_objectives and all(is_number(v) for v in result):
        values = [float(v) for v in result]
    else:
        want = "a number" if n_objectives == 1 else f"a list of {n_objectives} numbers (one per direction)"
        raise UnusableResult(f"the task function returned {result!r} ({type(result).__name__}); the Optuna sweeper "
                             f"needs {want}, or an expkit run's record.")
    if any(v is None or not math.isfinite(v) for v in values):
        return "failed", None
    return "complete", values  # type: ignore[return-value]


class ExpkitOptunaSweeper(Sweeper):
    def __init__(
        self, metric: Any, direction: Any, n_trials: int, n_jobs: int, sampler: str, sampler_args: Dict[str, Any],
        seed: Optional[int], pruner: str, pruner_args: Dict[str, Any], pruner_warmup_epochs: int,
        max_failure_rate: float, storage: Optional[str], study_name: Optional[str],
        custom_search_space: Optional[str], params: Optional[Dict[str, str]],
    ) -> None:
        self.metric, self.direction = as_list(metric), as_list(direction)
        self.n_trials, self.n_jobs = n_trials, n_jobs
        self.sampler_name, self.sampler_args, self.seed = str(sampler), dict(sampler_args or {}), seed
        self.pruner_name, self.warmup = str(pruner), pruner_warmup_epochs
        # Plain values: the study keeps them (a user attribute) for the trials' own processes.
        self.pruner_args = OmegaConf.to_container(pruner_args) if OmegaConf.is_config(pruner_args) else dict(pruner_args or {})
        self.max_failure_rate = max_failure_rate
        self.storage, self.study_name = storage, study_name
        self.custom_search_space = custom_search_space
        self.params = dict(params or {})
        self.config: Optional[DictConfig] = None
        self.launcher: Any = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    # -- what the search is asked to do, checked before anything is written ------------------

    def is_expkit_job(self) -> bool:
        """Whether the jobs are expkit runs (they return a run record and can report epochs for
        pruning), or a plain Hydra app's (they return numbers)."""
        return OmegaConf.select(self.config, "monitor.metric", default=None) is not None

    def objectives(self) -> Tuple[Optional[List[str]], List[str]]:
        """(metrics, directions): one each per objective; metrics None for a plain app (its
        return values are the objectives)."""
        metrics, directions = self.metric, self.direction
        if directions is not None and any(d not in DIRECTIONS for d in directions):
            raise SearchConfigError(f"hydra.sweeper.direction={self.direction}: each direction is minimize or maximize.")
        if not self.is_expkit_job():
            directions = directions or ["minimize"] * len(metrics or [None])
            if metrics is not None and len(metrics) != len(directions):
                raise SearchConfigError(f"hydra.sweeper.metric={metrics} and direction={directions}: give one "
                                        "direction per metric.")
            return metrics, directions
        monitor = str(self.config.monitor.metric)
        mode = "maximize" if self.config.monitor.mode == "max" else "minimize"
        if (metrics is None or len(metrics) == 1) and directions is not None and len(directions) > 1:
            raise SearchConfigError(
                f"hydra.sweeper.direction={list(directions)} gives {len(directions)} directions for one metric "
                f"({(metrics or [monitor])[0]}): several objectives are a list of metrics with one direction each, "
                f"e.g. hydra.sweeper.metric=[{monitor},val/other] hydra.sweeper.direction=[{','.join(directions)}].")
        if metrics is None or len(metrics) == 1:
            # Optuna is told what the summary ranks by: the monitored metric of each trial's best
            # checkpoint. Another metric or direction here would rank trials two ways.
            fix = {"metric": f"monitor.metric={(metrics or [''])[0]}",
                   "direction": f"monitor.mode={'max' if directions == ['maximize'] else 'min'}"}
            for option, given, used in (("metric", metrics, monitor), ("direction", directions, mode)):
                if given is not None and given != [used]:
                    raise SearchConfigError(
                        f"hydra.sweeper.{option}={given[0]} differs from the run's monitor ({used}): the search "
                        "optimizes the monitored metric of each trial's best checkpoint, which the summary ranks by. "
                        f"Set {fix[option]} instead (it also picks the best checkpoint); several objectives are "
                        "a list of metrics with a list of directions.")
            return [monitor], [mode]
        if directions is None or len(directions) != len(metrics):
            raise SearchConfigError(f"hydra.sweeper.metric={metrics}: several objectives need one direction each, "
                                    f"e.g. hydra.sweeper.direction=[{','.join(['minimize'] * len(metrics))}].")
        return [str(m) for m in metrics], directions

    def search_space(self, arguments: List[str]) -> Tuple[Dict[str, Any], List[Override]]:
        """(key -> Optuna distribution, the fixed overrides). A key given on the command line
        replaces the params' entry for it (a value pins it, a sweep searches it), as in Hydra's
        basic sweeper."""
        parser = OverridesParser.create()
        by_key: Dict[str, Override] = {}
        for override in parser.parse_overrides([f"{k}={v}" for k, v in self.params.items()] + list(arguments)):
            by_key.pop(override.get_key_element(), None)  # the later one wins, in the order given
            by_key[override.get_key_element()] = override
        space = {key: to_distribution(o) for key, o in by_key.items() if o.is_sweep_override()}
        fixed = [o for o in by_key.values() if not o.is_sweep_override()]
        if not space and not self.custom_search_space:
            raise SearchConfigError("the Optuna sweeper found no search space: set hydra.sweeper.params (an "
                                    "hparams_search file), give sweep overrides (key=interval(0.1,1), key=a,b), or "
                                    "hydra.sweeper.custom_search_space.")
        return space, fixed

    def custom_space_function(self) -> Any:
        if not self.custom_search_space:
            return None
        from hydra.utils import get_method

        try:
            return get_method(self.custom_search_space)
        except Exception as err:  # noqa: BLE001 - Hydra wraps every import failure its own way
            raise SearchConfigError(f"hydra.sweeper.custom_search_space={self.custom_search_space}: no such function "
                                    f"({err}). Give it as package.module.function, importable from here.") from None

    def check(self, arguments: List[str]) -> Tuple[Any, ...]:
        if self.n_trials < 1:
            raise SearchConfigError(f"hydra.sweeper.n_trials={self.n_trials}: the number of trials the study should "
                                    "have in all must be 1 or more (a continued study runs only the trials it lacks).")
        if self.n_jobs < 1:
            raise SearchConfigError(f"hydra.sweeper.n_jobs={self.n_jobs}: the number of trials launched together must be "
                                    "1 or more (with hydra/launcher=joblib or slurm they run at once; there is no "
                                    "`-1` for all cores: give the number).")
        if not 0 <= self.max_failure_rate <= 1:
            raise SearchConfigError(f"hydra.sweeper.max_failure_rate={self.max_failure_rate}: a share of trials, "
                                    "from 0 (stop at the first failed trial) to 1 (never stop).")
        metrics, directions = self.objectives()
        space, fixed = self.search_space(arguments)
        custom = self.custom_space_function()
        grid = grid_space(space) if self.sampler_name == "grid" else None
        if grid is not None and custom is not None:
            raise SearchConfigError("hydra.sweeper.sampler=grid runs a fixed list of values: it cannot take the "
                                    "parameters of hydra.sweeper.custom_search_space.")
        pruner = "none" if len(directions) > 1 else self.pruner_name
        make_sampler(self.sampler_name, self.sampler_args, self.seed, grid)  # an unknown name or argument: now
        return metrics, directions, space, fixed, custom, grid, make_pruner(pruner, self.pruner_args, self.warmup)

    # -- the search ---------------------------------------------------------------------------

    def sweep(self, arguments: List[str]) -> Any:
        from optuna.trial import TrialState

        from expkit.run.study import default_storage, search_lock

        cfg = self.config
        try:
            metrics, directions, space, fixed, custom, grid, pruner = self.check(arguments)
        except (SearchConfigError, SearchSpaceError, ChoiceError) as err:
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(2) from None
        if len(directions) > 1 and self.pruner_name != "none":
            log.info("%d objectives: no pruning (Optuna prunes single-objective studies only); hydra.sweeper.pruner=%s "
                     "is not used", len(directions), self.pruner_name)
        expkit_job = self.is_expkit_job()
        name = self.study_name or (str(cfg.name) if expkit_job else "optuna")
        storage = self.storage or (default_storage(cfg.paths.output_root, str(cfg.name), name) if expkit_job else None)
        with search_lock(storage, name) if storage else nullcontext():
            study = self._study(name, storage, metrics, directions, pruner)
            self._fail_left_running(study, storage)
            study.sampler = make_sampler(self.sampler_name, self.sampler_args, self._seed(study), grid)
            finished = (TrialState.COMPLETE, TrialState.PRUNED)
            done = sum(t.state in finished for t in study.trials)
            target = self.n_trials
            if grid is not None:
                size = math.prod(len(values) for values in grid.values())
                if size < target:
                    log.info("The grid has %d points: the search runs %d trials, not n_trials=%d", size, size, target)
                    target = size
            if done >= target:
                print(f"Optuna study {study.study_name!r} already has {done} of {target} trials{best_text(study, metrics)}; "
                      f"nothing to run: raise hydra.sweeper.n_trials to continue it ({storage or 'in memory'}).")
                # Ends the command here: Hydra's end-of-sweep callbacks would resolve hydra.sweep.dir,
                # which claims a new (empty) timestamped sweep folder.
                raise SystemExit(0)
            # The trials' jobs judge themselves (their pruning callback, in processes of their own,
            # on other nodes with hydra/launcher=slurm): they build the study's pruner from this.
            pruning = {"name": "none" if len(directions) > 1 else self.pruner_name, "args": self.pruner_args,
                       "warmup": self.warmup}
            if study.user_attrs.get("pruner") != pruning:
                study.set_user_attr("pruner", pruning)
            sweep_dir = Path(cfg.hydra.sweep.dir)
            refuse_non_sweep_folder(sweep_dir)
            from expkit.runs.sweep import sweep_lock

            with sweep_lock(sweep_dir):
                OmegaConf.save(cfg, sweep_dir / SWEEP_CONFIG)
                log.info("Optuna study %r (%s): %d of %d trials done; %s", study.study_name, storage or "in memory",
                         done, target, objectives_text(metrics, directions, expkit_job))
                stopped = self._run_trials(study, storage, metrics, directions, space, fixed, custom, done, target)
                summary = self._write_best(study, metrics, directions, sweep_dir)
        if stopped:
            print(f"error: {stopped}", file=sys.stderr)
            try:
                if expkit_job:  # the sweep summary still comes, as Hydra would call it after the sweep
                    from expkit.runs.sweep import SweepSummary

                    SweepSummary().on_multirun_end(config=cfg)
            finally:
                raise SystemExit(1)  # noqa: B012 - the search's exit status, whatever the summary found
        return summary

    def _seed(self, study: Any) -> Optional[int]:
        # Seeded by the trials already there: a continued study would otherwise draw the same
        # first random samples again (the same seed), repeating its earlier trials.
        return None if self.seed is None else self.seed + len(study.trials)

    def _run_trials(self, study: Any, storage: Optional[str], metrics: Optional[List[str]], directions: List[str],
                    space: Dict[str, Any], fixed: List[Override], custom: Any, done: int, target: int) -> str:
        """Ask, launch and tell trials until the study has `target` finished ones. Returns why it
        stopped early ("" when it did not): more failures than max_failure_rate allows."""
        from optuna.trial import TrialState

        cfg = self.config
        ran: List[int] = []
        failed: List[int] = []
        while done < target:
            trials = [study.ask(space) for _ in range(min(self.n_jobs, target - done))]
            told: set = set()
            try:
                if custom is not None:
                    for trial in trials:
                        custom(cfg, trial)
                # A job is numbered by its trial (folder `<trial number>_...`): a continued study's
                # trials, in the same sweep folder or a new one, are told apart from the earlier ones.
                batch = [self._job_overrides(trial, fixed, storage, metrics, directions, trial.number)
                         for trial in trials]
                returns = self.launcher.launch(batch, initial_job_idx=trials[0].number)
                for trial, ret in zip(trials, returns):
                    state = self._tell(study, trial, ret, metrics, len(directions))
                    told.add(trial.number)
                    ran.append(trial.number)
                    if state == "failed":
                        failed.append(trial.number)
            except UnusableResult as err:
                print(f"error: trial {trials[len(told)].number}: {err}", file=sys.stderr)
                raise SystemExit(2) from None
            except BaseException:
                # Interrupted (a signal, Ctrl-C) or broken: the trials asked for are not left
                # RUNNING in the study for good; a rerun continues with new ones. A second Ctrl-C
                # waits until they are marked.
                signals = {signal.SIGINT, signal.SIGTERM}
                blocked = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
                try:
                    states = {t.number: t.state for t in study.get_trials(deepcopy=False)}
                    for trial in trials:
                        if trial.number not in told and states.get(trial.number) == TrialState.RUNNING:
                            tell(study, trial, state=TrialState.FAIL)
                            log.warning("Trial %d did not finish: marked failed in the study", trial.number)
                finally:
                    signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
                raise
            done += len(trials)
            if failed and len(failed) / len(ran) > self.max_failure_rate:
                return (f"{len(failed)} of the {len(ran)} trials this search ran failed (trial "
                        f"{', '.join(map(str, failed))}), more than hydra.sweeper.max_failure_rate="
                        f"{self.max_failure_rate} allows: the search stopped. Raise it (1 never stops) to let a search "
                        "go on past failed trials; run the command again to continue the study.")
        return ""

    def _job_overrides(self, trial: Any, fixed: List[Override], storage: Optional[str], metrics: Optional[List[str]],
                       directions: List[str], num: int) -> List[str]:
        overrides = [o.input_line for o in fixed] + [f"{k}={v}" for k, v in trial.params.items()]
        overrides += self._folder_override(fixed, trial.params, num)
        # The pruning callback reports epochs to the trial; a multi-objective trial cannot be
        # pruned, and a plain app has no callback (nor, in memory, a storage to reach).
        if self.is_expkit_job() and storage and len(directions) == 1:
            overrides += [f"+{TRIAL_KEY}.storage={quoted(storage)}", f"+{TRIAL_KEY}.study={quoted(trial.study.study_name)}",
                          f"+{TRIAL_KEY}.number={trial.number}", f"+{TRIAL_KEY}.metric={quoted(metrics[0])}",
                          f"+{TRIAL_KEY}.warmup={self.warmup}"]
        return overrides

    def _folder_override(self, fixed: List[Override], params: Dict[str, Any], num: int) -> List[str]:
        """`hydra.sweep.subdir` with the trial's values rounded (Hydra's own `override_dirname`
        would carry 17-digit floats), built as Hydra builds it: the overrides not excluded by
        hydra.job.config.override_dirname, sorted, joined. The job's config keeps the exact values."""
        from expkit.run.job_folder import DEFAULT_SUBDIR, job_folder_name

        cfg = self.config
        settings = cfg.hydra.job.config.override_dirname
        subdir = OmegaConf.to_container(cfg.hydra.sweep, resolve=False).get("subdir")
        if subdir not in (DEFAULT_SUBDIR, "${hydra.job.num}_${hydra.job.override_dirname}"):
            return []  # a subdir of the user's own: left as it is
        items = [(o.key_or_group, o.input_line) for o in fixed]
        items += [(key, f"{key}={display_value(value)}") for key, value in params.items()]
        lines = sorted(text for key, text in items if key not in settings.exclude_keys)
        dirname = settings.item_sep.join(lines).replace("=", settings.kv_sep)
        return [f"hydra.sweep.subdir={quoted(job_folder_name(f'{num}_{dirname}'))}"]

    def _study(self, name: str, storage: Optional[str], metrics: Optional[List[str]], directions: List[str],
               pruner: Any) -> Any:
        import optuna
        from sqlalchemy.exc import SQLAlchemyError

        from expkit.run.study import check_journal, is_url, open_storage

        # Optuna's "Using an existing study" notice: the sweeper's own line says how far the study is.
        verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        try:
            if storage and not is_url(storage):
                check_journal(Path(storage))
            opened = open_storage(storage) if storage else None
            try:
                # Loaded when it is there: create_study(load_if_exists=True) would first append a
                # "create" record to a journal file, changing a study nothing is run on.
                study = optuna.load_study(study_name=name, storage=opened, pruner=pruner)
            except KeyError:
                study = optuna.create_study(study_name=name, storage=opened, pruner=pruner, directions=directions)
        except (SQLAlchemyError, optuna.exceptions.OptunaError, ValueError, OSError) as err:
            reason = str(getattr(err, "orig", None) or err).splitlines()[0]
            print(f"error: the Optuna study storage {storage} cannot be used ({reason}). If it is a damaged or foreign "
                  "file, move it away to start a new study there, or give another one with hydra.sweeper.storage=... "
                  "(hydra.sweeper.study_name=... picks a study inside it).", file=sys.stderr)
            raise SystemExit(2) from None
        finally:
            optuna.logging.set_verbosity(verbosity)
        # An existing study keeps its own directions (Optuna ignores those asked for), and its
        # trials' values are of the metrics it was made for: others would be ranked as if the same.
        was_metrics = study.user_attrs.get("metrics") or ([study.user_attrs["metric"]] if "metric" in study.user_attrs
                                                          else metrics)
        was = (was_metrics, [d.name.lower() for d in study.directions])
        if was != (metrics, directions):
            said = " and ".join(f"{d} {m}" for m, d in zip(was[0] or ["the value"] * len(was[1]), was[1]))
            asked = " and ".join(f"{d} {m}" for m, d in zip(metrics or ["the value"] * len(directions), directions))
            print(f"error: the Optuna study {name!r} in {storage} was made to {said}, but this search asks to "
                  f"{asked}: its trials' values do not compare. Give this search its own study with "
                  "hydra.sweeper.study_name=NAME, or set monitor.metric/monitor.mode (hydra.sweeper.metric/direction "
                  "for several objectives) as the study has them.", file=sys.stderr)
            raise SystemExit(2)
        if metrics is not None and "metrics" not in study.user_attrs:
            study.set_user_attr("metrics", metrics)
            if len(metrics) == 1:
                study.set_user_attr("metric", metrics[0])  # as expkit before multi-objective searches wrote it
        return study

    @staticmethod
    def _fail_left_running(study: Any, storage: Optional[str]) -> None:
        """Trials a killed search left RUNNING (kill -9, a lost node): with the study's lock held no
        other search runs them, so they are failed trials, not trials in flight."""
        from optuna.trial import TrialState

        from expkit.run.study import storage_file

        if storage is None or storage_file(storage) is None:  # a server's study may be another search's
            return
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING)):
            study.tell(trial.number, state=TrialState.FAIL)
            log.warning("Trial %d was left running by a search that was killed: marked failed in the study",
                        trial.number)

    @staticmethod
    def _tell(study: Any, trial: Any, ret: Any, metrics: Optional[List[str]] = None, n_objectives: int = 1) -> str:
        """Tell the study how a trial's job ended; returns the state ("complete", "pruned", "failed").
        A result the search cannot use is told as failed, then raised (UnusableResult)."""
        from optuna.trial import TrialState

        try:
            result = ret.return_value
        except Exception as err:  # noqa: BLE001 - a crashed job is a failed trial, not a failed search
            log.error("Trial %d failed: %s: %s", trial.number, type(err).__name__, err)
            tell(study, trial, state=TrialState.FAIL)
            return "failed"
        run_dir = OmegaConf.select(ret.hydra_cfg, "hydra.runtime.output_dir") if ret.hydra_cfg is not None else None
        if run_dir:  # where the trial's run folder is, for optuna_best.yaml
            trial.set_user_attr("run_dir", str(run_dir))
        try:
            state, values = objective_values(result, metrics, n_objectives)
        except UnusableResult:
            tell(study, trial, state=TrialState.FAIL)
            raise
        if state == "pruned":
            tell(study, trial, state=TrialState.PRUNED)
        elif state == "failed":
            tell(study, trial, state=TrialState.FAIL)
        else:
            tell(study, trial, values)
        return state

    def _write_best(self, study: Any, metrics: Optional[List[str]], directions: List[str], sweep_dir: Path) -> dict:
        from optuna.trial import TrialState

        from expkit.files import write_text_atomic

        complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
        names = metrics or [f"value {i}" for i in range(len(directions))]
        summary: Dict[str, Any] = {"study": study.study_name}
        if len(directions) == 1:
            summary.update(metric=names[0], direction=directions[0])
        else:
            summary.update(metrics=names, directions=directions)
        if self.is_expkit_job():
            summary["value_from"] = "the best checkpoint (best_score in metrics.json) for the monitored metric"
        summary.update(n_trials=len(study.trials), n_complete=len(complete),
                       n_pruned=sum(t.state == TrialState.PRUNED for t in study.trials),
                       n_failed=sum(t.state == TrialState.FAIL for t in study.trials))
        if complete and len(directions) == 1:
            best = study.best_trial
            summary.update(best_trial=best.number, best_value=best.value, best_params=best.params)
            if best.user_attrs.get("run_dir"):
                summary["best_run_dir"] = best.user_attrs["run_dir"]
        elif complete:
            # Several objectives have no single best: the trials no other trial beats on every one.
            summary["pareto_front"] = [
                {"trial": t.number, "values": dict(zip(names, t.values)), "params": t.params,
                 **({"run_dir": t.user_attrs["run_dir"]} if t.user_attrs.get("run_dir") else {})}
                for t in sorted(study.best_trials, key=lambda t: t.number)
            ]
        summary["plots"] = write_plots(study, sweep_dir, names if len(directions) > 1 else f"{names[0]}"
                                       + (" (best checkpoint)" if self.is_expkit_job() else ""))
        text = OmegaConf.to_yaml(OmegaConf.create(summary))
        write_text_atomic(sweep_dir / OPTUNA_BEST, text)
        log.info("Optuna search done: %s", sweep_dir / OPTUNA_BEST)
        return summary


def tell(study: Any, trial: Any, values: Any = None, state: Any = None) -> None:
    """study.tell, for a search that asks and tells: the grid sampler calls study.stop() after
    the last grid point, which Optuna allows only inside study.optimize (the trial is told by then;
    the search itself stops at the grid's size)."""
    try:
        study.tell(trial, values, state=state)
    except RuntimeError as err:
        if "Study.stop" not in str(err):
            raise


def objectives_text(metrics: Optional[List[str]], directions: List[str], expkit_job: bool) -> str:
    names = metrics or ["the task's return value"] * len(directions)
    text = " and ".join(f"{d} {m}" for m, d in zip(names, directions))
    return text + (" (the monitored metric: of the best checkpoint)" if expkit_job else "")


def best_text(study: Any, metrics: Optional[List[str]]) -> str:
    from optuna.trial import TrialState

    if not any(t.state == TrialState.COMPLETE for t in study.trials):
        return ""
    if len(study.directions) > 1:
        return f", {len(study.best_trials)} on the Pareto front"
    return f", best {(metrics or ['value'])[0]} {study.best_value:.6g} (trial {study.best_trial.number})"
