"""Optuna pruning for a sweep job: a Lightning callback reporting to the job's trial."""

from __future__ import annotations

import logging

import pytorch_lightning as pl

log = logging.getLogger("expkit")


class OptunaPruning(pl.Callback):
    """Reports the monitored metric to an Optuna trial each epoch; stops the run if it is pruned."""

    def __init__(self, storage: str, study: str, number: int, metric: str, warmup: int = 1) -> None:
        import optuna

        from expkit.run.search_algorithms import make_pruner
        from expkit.run.study import open_storage

        loaded = optuna.load_study(study_name=study, storage=open_storage(storage))
        # The pruner the search chose (load_study would give Optuna's default MedianPruner, which
        # judges nothing before five trials have finished).
        chosen = loaded.user_attrs.get("pruner")
        if chosen:
            loaded.pruner = make_pruner(chosen["name"], chosen["args"], chosen["warmup"])
        trial_id = next(t._trial_id for t in loaded.get_trials(deepcopy=False) if t.number == number)
        self.trial = optuna.trial.Trial(loaded, trial_id)
        self.metric, self.warmup = metric, warmup
        self.reporting = True

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        import optuna

        if not self.reporting or trainer.sanity_checking or self.metric not in trainer.callback_metrics:
            return
        epoch = trainer.current_epoch
        try:
            self.trial.report(float(trainer.callback_metrics[self.metric]), step=epoch)
        except optuna.exceptions.UpdateFinishedTrialError:
            # Its search ended the trial (interrupted, it marked it failed; a continued search
            # fails trials a killed one left running): the run goes on, no longer pruned.
            log.warning("Optuna trial %d was ended by its search: this run no longer reports to the study",
                        self.trial.number)
            self.reporting = False
            return
        if epoch + 1 >= self.warmup and self.trial.should_prune():
            raise optuna.TrialPruned(f"trial {self.trial.number} pruned at epoch {epoch + 1}")
