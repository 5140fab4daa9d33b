"""`hydra/sweeper=expkit_optuna`: an Optuna (>= 4) search driven with Hydra's override syntax.

Why not hydra-optuna-sweeper: its last release (1.3.0) pins optuna < 3 (2021). This sweeper is
thin: Optuna does the searching (TPE sampler, median pruner, SQLite storage); the sweeper only
turns Hydra sweep overrides into Optuna distributions and trials into Hydra jobs.
"""

from dataclasses import dataclass, field
from typing import Dict, Optional

from hydra.core.config_store import ConfigStore


@dataclass
class ExpkitOptunaSweeperConf:
    _target_: str = "hydra_plugins.expkit_optuna_sweeper.sweeper.ExpkitOptunaSweeper"
    # The metric to optimize and its direction; default: the run's `monitor.metric` / `monitor.mode`.
    metric: Optional[str] = None
    direction: Optional[str] = None
    # Trials in the study in total: a resumed study only runs the ones still missing.
    n_trials: int = 10
    # Trials launched together (use with a parallel launcher such as hydra/launcher=joblib).
    n_jobs: int = 1
    sampler: str = "tpe"  # tpe | random
    seed: int = 42
    pruner: str = "median"  # median | none
    # Epochs a trial runs before the pruner may stop it.
    pruner_warmup_epochs: int = 1
    # Default: sqlite:///<output_root>/<name>/optuna/<study_name>.db
    storage: Optional[str] = None
    study_name: Optional[str] = None
    # key: search space, in Hydra's sweep syntax: choice(a, b), range(1, 10), interval(0.1, 1),
    # tag(log, interval(1e-4, 1)).
    params: Dict[str, str] = field(default_factory=dict)


ConfigStore.instance().store(
    group="hydra/sweeper", name="expkit_optuna", node=ExpkitOptunaSweeperConf, provider="expkit"
)
