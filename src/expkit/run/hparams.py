"""What TensorBoard's HPARAMS tab holds for a run: the few columns that tell runs apart.

Hyperparameter columns, named as you would override them on the command line:

- the headline keys, for every run (`HEADLINE`): `model` and `optimizer` (the short class name
  of their `_target_`, `MLPRegressor`, `SGD`), `optimizer.lr`, `data.batch_size`, `seed` and
  `trainer.max_epochs`;
- every key the run's own overrides set (`.hydra/overrides.yaml`). A sweep job's overrides are
  the sweep's fixed overrides plus its own values of the swept keys (an Optuna trial's sampled
  values too), so the parameters that vary within a sweep are always columns. Overrides that
  only say where or how a run is written or launched (`IGNORED_OVERRIDES`: `hydra...`, `paths.*`,
  `logger`, `callbacks`, the `trainer` preset, `experiment`, `hparams_search`, `optuna_trial.*`)
  are left out: the run's name already says its experiment.

Values are the resolved config's (the exact values, not the rounded ones of folder names):
numbers, strings and booleans, as TensorBoard takes them; None is "null", a list its text, and a
config group (`model=mlp`) the short class name of what it builds.

Metric columns (`hparams_metrics`): the run's final metrics (`train/loss`, the last epoch's
`val/*`, and `test/*`, which the test split gives for the best checkpoint) and `best/val/*` (the
validation metrics of the epoch the best checkpoint was saved at). Never the learning rate,
`epoch` or Lightning's `hp_metric`. The whole resolved config is in the TEXT tab (`config`).

Kept free of torch: `write_hparams` imports TensorBoard's summary code when it writes.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from omegaconf import DictConfig, ListConfig, OmegaConf

# The columns every run has, in this order.
HEADLINE = ("model", "optimizer", "optimizer.lr", "data.batch_size", "seed", "trainer.max_epochs")
# Override keys that are not hyperparameters (a key matches itself and the keys under it;
# `trainer` only itself: `trainer.max_epochs=5` is a hyperparameter, `trainer=gpu` the hardware).
IGNORED_OVERRIDES = ("hydra", "paths", "logger", "callbacks", "experiment", "hparams_search", "optuna_trial")
IGNORED_EXACT = ("trainer",)
# The prefix of the best checkpoint's validation metrics (`best/val/loss`).
BEST_PREFIX = "best/"
# Scalars that are not results: the learning rate, Lightning's epoch counter and its default hp_metric.
NOT_METRICS = ("train/lr", "epoch", "hp_metric")


def override_keys(overrides: Sequence[str]) -> list[str]:
    """The config keys `overrides` set, in order, without Hydra's `+`/`++` and `@package` parts;
    deletions (`~key`) and the keys of `IGNORED_OVERRIDES` are left out."""
    keys: list[str] = []
    for item in overrides:
        if item.startswith("~") or "=" not in item:
            continue
        key = item.split("=", 1)[0].lstrip("+").split("@", 1)[0]
        first = key.replace("/", ".").split(".", 1)[0]
        if first in IGNORED_OVERRIDES or key in IGNORED_EXACT or key in keys:
            continue
        keys.append(key)
    return keys


def class_short_name(node: Any) -> str | None:
    """`MLPRegressor` for a node whose `_target_` is `expkit.models.regression.MLPRegressor`."""
    if isinstance(node, DictConfig) and "_target_" in node:
        return str(node["_target_"]).rsplit(".", 1)[-1]
    return None


def hparam_value(cfg: DictConfig, key: str) -> tuple[bool, Any]:
    """(found, TensorBoard-safe value) of `key` in the resolved `cfg`."""
    node = OmegaConf.select(cfg, key.replace("/", "."), default=KeyError)
    if node is KeyError:
        return False, None
    if node is None:
        return True, "null"
    if isinstance(node, DictConfig):
        name = class_short_name(node)
        return (name is not None), name
    if isinstance(node, ListConfig):
        return True, str(OmegaConf.to_container(node, resolve=True))
    if isinstance(node, (bool, int, float, str)):
        return True, node
    return True, str(node)


def run_hparams(cfg: DictConfig, overrides: Sequence[str]) -> dict[str, Any]:
    """The HPARAMS columns of a run: the headline keys, then the keys its overrides set."""
    params: dict[str, Any] = {}
    for key in (*HEADLINE, *override_keys(overrides)):
        found, value = hparam_value(cfg, key)
        if found and key not in params:
            params[key] = value
    return params


def is_metric(name: str) -> bool:
    """A logged scalar that is a result of the task (`val/acc`), not the learning rate or a counter."""
    return "/" in name and name not in NOT_METRICS and not name.startswith(("lr-", "train/lr/"))


def hparams_metrics(final: Mapping[str, float], best: Mapping[str, float]) -> dict[str, float]:
    """The metric columns: the final metrics, then the best checkpoint's under `best/`."""
    metrics = {k: float(v) for k, v in sorted(final.items()) if is_metric(k)}
    metrics.update({BEST_PREFIX + k: float(v) for k, v in sorted(best.items()) if is_metric(k)})
    return metrics


def write_hparams(writer: Any, params: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
    """Write the hparams plugin's experiment, session start and session end summaries into the
    run's event file. TensorBoard shows a metric column's value from the run's scalar of the same
    tag, so each metric must also be logged as a scalar (Lightning did; `best/*` the caller does)."""
    from torch.utils.tensorboard.summary import hparams

    exp, ssi, sei = hparams(dict(params), dict(metrics))
    file_writer = writer._get_file_writer()
    for summary in (exp, ssi, sei):
        file_writer.add_summary(summary)
    writer.flush()
