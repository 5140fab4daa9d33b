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

The keys that vary within a sweep (`swept_keys`: its overrides with more than one value, and the
sweeper's search space) are marked as differing (`HParamInfo.differs`), so TensorBoard lists them
first; a single run varies nothing.

Values are the resolved config's (the exact values, not the rounded ones of folder names):
floats, strings and booleans, as TensorBoard takes them; a whole number as its text (`42`:
TensorBoard shows every number with three decimals, `42.000`); None is "null", a list its text,
and a config group (`model=mlp`) the short class name of what it builds.

Metric columns (`hparams_metrics`): `best/val/<monitor>` first (what a sweep ranks by), then the
other `best/val/*` (the validation metrics of the epoch the best checkpoint was saved at), then
the run's final metrics (`test/*`, which the test split gives for the best checkpoint,
`train/loss`, the last epoch's `val/*`). Never the learning rate, `epoch` or Lightning's
`hp_metric`. TensorBoard takes the metric columns of one run's summary for the whole log
folder, so each run also lists the metrics of the other experiments' runs under its output root
(`other_metric_names`, given them by the trainer): a digits run's `val/acc` keeps its column beside a regression run's
`val/mae`. The whole resolved config is in the TEXT tab (`config`).

Trial names (`session_name`, HPARAMS' "Trial ID", of which TensorBoard shows the first
characters): a sweep job by its folder (its overrides first); a single run by its start time,
experiment and own overrides, so two runs of one day differ in the first characters.

Kept free of torch: `write_hparams` imports TensorBoard's summary code when it writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from omegaconf import DictConfig, ListConfig, OmegaConf

from expkit.run.stamp import STAMP_FORMAT

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
    if isinstance(node, int) and not isinstance(node, bool):
        return True, str(node)  # a whole number, shown as one (TensorBoard writes 42 as 42.000)
    if isinstance(node, (bool, float, str)):
        return True, node
    return True, str(node)


def swept_keys(sweep_overrides: Sequence[str]) -> list[str]:
    """The keys of `sweep_overrides` (a sweep's command line and search space, Hydra's syntax)
    that take more than one value: `optimizer.lr=0.1,0.2`, `model=choice(linear,mlp)`,
    `optimizer.lr=tag(log,interval(0.001,0.5))`; not `trainer.max_epochs=3`."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    swept = []
    for item in sweep_overrides:
        try:
            (override,) = parser.parse_overrides([item])
        except Exception:  # noqa: BLE001 - a record Hydra wrote; one unreadable item leaves the others
            continue
        if not override.is_sweep_override():
            continue
        try:
            if len(list(override.sweep_string_iterator())) < 2:
                continue
        except Exception:  # noqa: BLE001 - intervals and ranges have no list of values: they vary
            pass
        swept += [k for k in override_keys([f"{override.get_key_element()}=x"]) if k not in swept]
    return swept


def sweep_overrides(run_dir: Path) -> list[str]:
    """The sweep overrides and search space of the sweep `run_dir` is a job of ([] for a single
    run): from Hydra's `multirun.yaml` in the sweep folder, else (a sweeper that writes none) from
    the search space in this job's Hydra config."""
    import yaml
    from expkit.files import safe_load_yaml

    from expkit.run.folder import SWEEP_CONFIG

    record = run_dir.parent / SWEEP_CONFIG
    hydra_cfg: Any = None
    if record.is_file():
        try:
            hydra_cfg = (safe_load_yaml(record.read_text(encoding="utf-8")) or {}).get("hydra") or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            hydra_cfg = None
    if hydra_cfg is None:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
            return []
        hydra_cfg = OmegaConf.to_container(HydraConfig.get(), resolve=False)
        if Path(str(hydra_cfg.get("runtime", {}).get("output_dir", ""))).resolve() != run_dir.resolve():
            return []
        hydra_cfg = {"sweeper": hydra_cfg.get("sweeper")}
    task = (hydra_cfg.get("overrides") or {}).get("task") or []
    params = (hydra_cfg.get("sweeper") or {}).get("params") or {}
    return [*map(str, task), *(f"{k}={v}" for k, v in params.items())]


def run_hparams(cfg: DictConfig, overrides: Sequence[str], swept: Sequence[str] = ()) -> dict[str, Any]:
    """The HPARAMS columns of a run: the headline keys, the keys swept by its sweep, then the
    keys its overrides set."""
    params: dict[str, Any] = {}
    for key in (*HEADLINE, *swept, *override_keys(overrides)):
        found, value = hparam_value(cfg, key)
        if found and key not in params:
            params[key] = value
    return params


def is_metric(name: str) -> bool:
    """A logged scalar that is a result of the task (`val/acc`), not the learning rate or a counter."""
    return "/" in name and name not in NOT_METRICS and not name.startswith(("lr-", "train/lr/"))


def hparams_metrics(final: Mapping[str, float], best: Mapping[str, float], monitor: str | None = None,
                    others: Sequence[str] = ()) -> dict[str, float]:
    """The metric columns, in order: the best checkpoint's `monitor` under `best/`, its other
    metrics under `best/`, the final metrics (test first), then the names in `others` this run
    lacks (other experiments' metrics; TensorBoard reads every value from the runs' scalars,
    never from here, so those are NaN)."""
    metrics = {BEST_PREFIX + k: float(v) for k, v in sorted(best.items(), key=lambda kv: (kv[0] != monitor, kv[0]))
               if is_metric(k)}
    metrics.update({k: float(v) for k, v in sorted(final.items(), key=lambda kv: (not kv[0].startswith("test/"), kv[0]))
                    if is_metric(k)})
    metrics.update({name: float("nan") for name in others if name not in metrics})
    return metrics


def other_metric_names(runs: Iterable[tuple[str | None, Iterable[str]]]) -> list[str]:
    """The HPARAMS metric columns of other runs, each given as (its monitored metric, the metric
    names of its metrics.json): `best/val/<monitor>` of each, then their other metrics, sorted."""
    firsts: list[str] = []
    rest: set[str] = set()
    for monitor, metric_names in runs:
        names = [m for m in metric_names if is_metric(m)]
        if monitor:
            firsts.append(BEST_PREFIX + monitor)
        rest.update(names)
        rest.update(BEST_PREFIX + m for m in names if m.startswith("val/"))
    firsts = list(dict.fromkeys(firsts))
    return firsts + sorted(rest - set(firsts), key=lambda n: (not n.startswith(BEST_PREFIX), n))


def session_name(run_dir: Path, output_root: str | Path, overrides: Sequence[str] = ()) -> str:
    """The run's name in HPARAMS' "Trial ID" column, which shows its first characters, unique per
    run folder so that TensorBoard groups no two runs together. A sweep job: its folder's name
    first (its overrides), then where it lies under the output root:
    `0_optimizer.lr=0.1 (regression/multirun/2026-11-23_02-44-26)`. A single run: its start time,
    its experiment folder and its own overrides, then its folder's name:
    `06:14:28 digits trainer.max_epochs=3 (2026-12-06_06-14-28)`."""
    from datetime import datetime

    folder = Path(run_dir).resolve()
    try:
        parent = folder.parent.relative_to(Path(output_root).resolve())
    except ValueError:
        parent = folder.parent
    try:  # Hydra's run folder name, `2026-12-06_04-10-00` (then `-2` for a second in the same second)
        stamp = datetime.strptime(folder.name[:19], STAMP_FORMAT)
    except ValueError:
        return f"{folder.name} ({parent})"
    suffix = folder.name[len(stamp.strftime(STAMP_FORMAT)):]  # `-2` when two started in one second
    own = [o for o in overrides if not o.lstrip("+").startswith(("experiment=", "paths.", "hydra"))]
    return " ".join([stamp.strftime("%H:%M:%S") + suffix, str(parent), *own]) + f" ({folder.name})"


def write_hparams(writer: Any, params: Mapping[str, Any], metrics: Mapping[str, float],
                  varying: Sequence[str] = (), name: str = "") -> None:
    """Write the hparams plugin's experiment, session start and session end summaries into the
    run's event file, the columns of `varying` marked as differing and the session named `name`
    (TensorBoard's session group; the run's path when empty). TensorBoard shows a metric column's
    value from the run's scalar of the same tag, so each metric must also be logged as a scalar
    (Lightning did; `best/*` the caller does)."""
    from tensorboard.plugins.hparams import plugin_data_pb2
    from torch.utils.tensorboard.summary import hparams

    exp, ssi, sei = hparams(dict(params), dict(metrics))
    for summary, edit in ((exp, "experiment"), (ssi, "session")):
        plugin_data = summary.value[0].metadata.plugin_data
        content = plugin_data_pb2.HParamsPluginData.FromString(plugin_data.content)
        if edit == "experiment":
            for info in content.experiment.hparam_infos:
                info.differs = info.name in varying
        else:
            content.session_start_info.group_name = name
        plugin_data.content = content.SerializeToString()
    file_writer = writer._get_file_writer()
    for summary in (exp, ssi, sei):
        file_writer.add_summary(summary)
    writer.flush()
