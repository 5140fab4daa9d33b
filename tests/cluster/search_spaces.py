"""A search space whose trials are good until two have completed, then bad: the median pruner
(two finished trials before it judges) then prunes every later trial at its first epoch, from what
other Slurm jobs reported to the study. Imported by the search through conftest.python_env()."""

from __future__ import annotations


def good_then_bad(cfg, trial) -> None:
    from optuna.trial import TrialState

    completed = trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(completed) < 2:
        trial.suggest_float("optimizer.lr", 0.05, 0.1)
    else:
        trial.suggest_float("optimizer.lr", 1e-7, 2e-7)
