"""What every experiment tracker gets from a run, decided once here and handed to each logger.

Lightning's loggers (TensorBoard, MLflow, W&B, CSV, any other `conf/logger/*.yaml`) already
receive the task's curves: every `self.log`, including the test metrics. On top of them each
logger gets the same curation, whatever it is:

- the run's name, its folder's name (`${expkit_run:name}`: a run's timestamp, a sweep job's
  `<N>_<overrides>`), and its group, the folder it lies in under `paths.output_root`
  (`${expkit_run:group}`: `regression` for single runs of that experiment,
  `regression/multirun/<timestamp>` for one sweep). The logger YAMLs pass these to the
  constructor's own name arguments, so a new logger needs only its YAML file;
- params: the HPARAMS columns (`expkit.run.hparams.run_hparams`: the headline keys, the swept
  keys and the run's overrides; never a `_target_` or a path), through `log_hyperparams`;
- metrics: `best/val/*`, the validation metrics of the best checkpoint's epoch, logged at that
  epoch's step through `log_metrics`; the final metrics are each curve's last value;
- the resolved config as a file, where the tracker keeps files (`resolved.yaml`);
- the run's identity, metrics.json's `run_id`: a resumed run continues the same tracker run.

The few things Lightning's logger interface cannot say (a file, which run to continue, ending a
run) are told to each tracker class in `_TRACKERS`, the one place that names them. The end-of-run
summary is handed out by `expkit.run.summary.publish`; TensorBoard's HPARAMS come from the
same values (`expkit.run.tensorboard.write_run_summary`).

Below `expkit.components` (which builds the loggers) and free of torch: nothing here imports an
optional tracker package.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

log = logging.getLogger("expkit")

# MLflow tag holding metrics.json's run_id: how a resumed run finds its MLflow run again.
RUN_ID_TAG = "expkit.run_id"


def run_label(which: str, *, _root_: Any) -> str:
    """The `${expkit_run:name}` / `${expkit_run:group}` resolver: the run folder's name, or where
    it lies under the output root (a single run's experiment, a sweep's folder)."""
    run_dir = Path(str(_root_.paths.run_dir)).resolve()
    if which == "name":
        return run_dir.name
    if which == "group":
        try:
            return run_dir.parent.relative_to(Path(str(_root_.paths.output_root)).resolve()).as_posix()
        except ValueError:
            return run_dir.parent.name
    raise ValueError(f"${{expkit_run:{which}}}: use `name` or `group`")


def identity_arguments(logger_cls: type, run_id: str, keys: Mapping[str, Any]) -> dict[str, Any]:
    """Constructor arguments that tie a tracker run to expkit's run (metrics.json's `run_id`),
    given the logger's resolved YAML keys."""
    for base, tracker in _TRACKERS:
        if _is(logger_cls, base):
            return tracker.identity(run_id, keys)
    return {}


def continued(logger: Any, run_id: str) -> dict[str, Any]:
    """For a resumed run: constructor arguments that continue the tracker's run of `run_id`
    ({} when the tracker continues by the identity alone, or has no such run)."""
    for base, tracker in _TRACKERS:
        if _is(type(logger), base):
            return tracker.continued(logger, run_id)
    return {}


def save_file(logger: Any, path: Path) -> None:
    """`path` among the tracker run's files, where the tracker keeps files (nothing for the others)."""
    for base, tracker in _TRACKERS:
        if _is(type(logger), base):
            tracker.save_file(logger, path)


def finish(loggers: Sequence[Any], status: str) -> None:
    """End each tracker's run. W&B keeps one run per process until it is finished: without this
    every job of a Hydra multirun would log into the first job's run."""
    for logger in loggers:
        for base, tracker in _TRACKERS:
            if _is(type(logger), base):
                try:
                    tracker.finish(logger, status)
                except Exception as err:  # noqa: BLE001 - as in publish
                    log.warning("%s could not end its run: %s", type(logger).__name__, err)


def missing_package(logger_cls: type) -> str | None:
    """The optional package (an `expkit[...]` extra) this logger needs and this environment lacks."""
    import importlib.util

    for base, tracker in _TRACKERS:
        if _is(logger_cls, base) and importlib.util.find_spec(tracker.package) is None:
            return tracker.package
    return None


# -- the trackers ---------------------------------------------------------------------------------
def _is(cls: type, dotted: str) -> bool:
    """Whether `cls` subclasses the class named `dotted`, without importing its optional package."""
    return any(f"{c.__module__}.{c.__qualname__}" == dotted for c in cls.__mro__)


class _MLflow:
    package = "mlflow"

    @staticmethod
    def identity(run_id: str, keys: Mapping[str, Any]) -> dict[str, Any]:
        arguments: dict[str, Any] = {"tags": {**dict(keys.get("tags") or {}), RUN_ID_TAG: run_id}}
        uri = str(keys.get("tracking_uri") or "")
        if uri.startswith("sqlite:///") and not keys.get("artifact_location"):
            # A local store keeps a new experiment's files beside its database (MLflow's default is
            # ./mlruns in whatever folder the command ran in); a server keeps them where it is told.
            arguments["artifact_location"] = str(Path(uri[len("sqlite:///"):]).parent.resolve() / "mlartifacts")
        return arguments

    @staticmethod
    def continued(logger: Any, run_id: str) -> dict[str, Any]:
        client = logger._mlflow_client  # the client Lightning made for the logger's tracking_uri
        experiment = client.get_experiment_by_name(logger._experiment_name)
        if experiment is None:
            return {}
        runs = client.search_runs([experiment.experiment_id], filter_string=f"tags.`{RUN_ID_TAG}` = '{run_id}'",
                                  max_results=1)
        return {"run_id": runs[0].info.run_id} if runs else {}

    @staticmethod
    def save_file(logger: Any, path: Path) -> None:
        logger.experiment.log_artifact(logger.run_id, str(path))

    @staticmethod
    def finish(logger: Any, status: str) -> None:
        return None  # Lightning's finalize ends the MLflow run with the fit's status


class _Wandb:
    package = "wandb"

    @staticmethod
    def identity(run_id: str, keys: Mapping[str, Any]) -> dict[str, Any]:
        return {"id": run_id}  # WandbLogger resumes a run of the same id ("allow")

    @staticmethod
    def continued(logger: Any, run_id: str) -> dict[str, Any]:
        return {}

    @staticmethod
    def save_file(logger: Any, path: Path) -> None:
        logger.experiment.save(str(path), base_path=str(path.parent), policy="now")

    @staticmethod
    def finish(logger: Any, status: str) -> None:
        if logger._experiment is not None:
            logger._experiment.finish(exit_code=0 if status == "success" else 1)
            logger._experiment = None


_TRACKERS: tuple[tuple[str, Any], ...] = (
    ("pytorch_lightning.loggers.mlflow.MLFlowLogger", _MLflow),
    ("lightning.pytorch.loggers.mlflow.MLFlowLogger", _MLflow),
    ("pytorch_lightning.loggers.wandb.WandbLogger", _Wandb),
    ("lightning.pytorch.loggers.wandb.WandbLogger", _Wandb),
)

