"""`hydra/sweeper=expkit_optuna`: an Optuna (>= 4) search driven with Hydra's override syntax.

Why not hydra-optuna-sweeper: its last release (1.3.0) pins optuna < 3 (2021). This sweeper keeps
its options and their meaning (sampler, direction, n_trials, n_jobs, max_failure_rate,
custom_search_space, params) and is thin: Optuna does the searching (its samplers and pruners,
chosen by name), the sweeper only turns Hydra sweep overrides into Optuna distributions and trials
into Hydra jobs. docs/sweeps.md has the whole list.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, Optional

from hydra.core.config_store import ConfigStore


@dataclass
class ExpkitOptunaSweeperConf:
    _target_: str = "hydra_plugins.expkit_optuna_sweeper.sweeper.ExpkitOptunaSweeper"
    # The metric to optimize and its direction (minimize | maximize); default: the run's
    # `monitor.metric` / `monitor.mode`. Several objectives: a list of metrics and a list of
    # directions, one each (the study then has a Pareto front, and no pruning).
    metric: Any = None
    direction: Any = None
    # Trials in the study in total: a resumed study only runs the ones still missing.
    n_trials: int = 10
    # Trials launched together (use with a parallel launcher such as hydra/launcher=joblib).
    n_jobs: int = 1
    # tpe | random | grid | cmaes | qmc | nsga2, with the Optuna class's arguments in sampler_args.
    sampler: str = "tpe"
    sampler_args: Dict[str, Any] = field(default_factory=dict)
    # The sampler's seed: the same command on a new study runs the same trials. null: unseeded.
    seed: Optional[int] = 42
    # median | percentile | successive_halving | hyperband | none, arguments in pruner_args.
    pruner: str = "median"
    pruner_args: Dict[str, Any] = field(default_factory=dict)
    # Epochs a trial runs before the pruner may stop it.
    pruner_warmup_epochs: int = 1
    # The share of this search's trials that may fail before the search stops (0: the first
    # failure stops it, as in Hydra's Optuna plugin; 1: never).
    max_failure_rate: float = 0.0
    # Default: <output_root>/<name>/optuna/<study_name>.journal (Optuna's journal file); an Optuna
    # RDB URL (sqlite:///..., postgresql://...) is used as it is.
    storage: Optional[str] = None
    study_name: Optional[str] = None
    # `package.module.function`: called as function(cfg, trial) for each trial, to suggest
    # parameters that depend on others (trial.suggest_*); what it suggests becomes overrides.
    custom_search_space: Optional[str] = None
    # key: search space, in Hydra's sweep syntax: choice(a, b), range(1, 10), interval(0.1, 1),
    # tag(log, interval(1e-4, 1)). A key also given on the command line takes that value instead.
    params: Dict[str, str] = field(default_factory=dict)


ConfigStore.instance().store(
    group="hydra/sweeper", name="expkit_optuna", node=ExpkitOptunaSweeperConf, provider="expkit"
)
