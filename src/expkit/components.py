"""Build a run's parts from its composed config, turning config mistakes into clear errors.

Every group is instantiated with Hydra (`hydra.utils.instantiate`); optimizer, scheduler, model
and task are `_partial_` factories completed here once the data module knows the sizes.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

from omegaconf import DictConfig, OmegaConf

from expkit.errors import ConfigError


def _hydra_runtime() -> Any:
    try:
        from hydra.core.hydra_config import HydraConfig

        return HydraConfig.get()
    except (ValueError, ImportError):
        return None


def config_source(key: str) -> str:
    """Where the user can find group `key`: its YAML file, when Hydra composed the config."""
    hydra_cfg = _hydra_runtime()
    choice = hydra_cfg.runtime.choices.get(key) if hydra_cfg is not None else None
    return f"conf/{key}/{choice}.yaml" if choice else f"config key `{key}`"


def source_of_key(full_key: str) -> str:
    """Where the value of `full_key` (e.g. `data.batch_size`) came from: the command line, the
    experiment file that set it, or the group's own YAML file (later sources win in Hydra)."""
    hydra_cfg = _hydra_runtime()
    if hydra_cfg is None:
        return f"config key `{full_key}`"
    choices = hydra_cfg.runtime.choices
    # Unresolved: an override's text may hold `${...}`, which is the user's expression, not a value.
    for override in reversed(OmegaConf.to_container(hydra_cfg.overrides.task, resolve=False)):
        key = override.lstrip("+~").split("=", 1)[0]
        if key != full_key and key in choices:
            continue  # `model=lstm` chose a file; the keys inside came from that file or an experiment
        if key == full_key or full_key.startswith(key + "."):
            # A newline or tab typed into a value is shown escaped: the error stays one line.
            shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in override)
            return f"command line `{shown}`"
    experiment = hydra_cfg.runtime.choices.get("experiment")
    if experiment:
        from expkit.config_files import experiments_dir

        path = experiments_dir() / f"{experiment}.yaml"
        if _yaml_sets(path, full_key):
            return f"experiments/{experiment}.yaml (key `{full_key}`)"
    group = full_key.split(".", 1)[0]
    source = config_source(group)
    return f"{source} (key `{full_key}`)" if source.endswith(".yaml") else f"config key `{full_key}`"


def _yaml_sets(path: Any, full_key: str) -> bool:
    import yaml

    try:
        node = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    for part in full_key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _accepted(func: Any) -> str:
    try:
        return ", ".join(inspect.signature(func).parameters)
    except (TypeError, ValueError):
        return "?"


def instantiate_node(cfg: DictConfig, key: str, drop: tuple[str, ...] = (), **kwargs: Any) -> Any:
    """Instantiate `cfg[key]`, without its keys named in `drop` (expkit's own, not the class's);
    raise ConfigError naming the file and key on any mistake."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    node = OmegaConf.select(cfg, key)
    if not isinstance(node, DictConfig) or "_target_" not in node:
        raise ConfigError(
            f"{config_source(key)}: `{key}` needs a `_target_` (the class to build), got {node!r}. "
            f"Choose a config group option with `{key}=<option>` in `expkit train`, or set `{key}._target_`."
        )
    if any(k in node for k in drop):
        from omegaconf import open_dict

        node = node.copy()  # a shallow copy keeps the interpolations pointing at the whole config
        with open_dict(node):
            for k in drop:
                node.pop(k, None)
    try:
        obj = instantiate(node, _convert_="all", **kwargs)
    except InstantiationException as err:
        cause = err.__cause__ or err
        raise ConfigError(
            f"{config_source(key)}: could not build `{key}` ({node._target_}): {cause}. "
            f"Fix or remove the offending key; it accepts: {_accepted(_target(node))}."
        ) from None
    if isinstance(obj, functools.partial):
        try:
            inspect.signature(obj.func).bind_partial(*obj.args, **obj.keywords)
        except TypeError as err:
            raise ConfigError(
                f"{config_source(key)}: {node._target_} does not take these keys ({err}); "
                f"it accepts: {_accepted(obj.func)}."
            ) from None
    return obj


def _target(node: DictConfig) -> Any:
    from hydra.utils import get_object

    try:
        return get_object(node._target_)
    except Exception:  # noqa: BLE001 - only used to enrich an error message
        return None


def build_datamodule(cfg: DictConfig) -> Any:
    return instantiate_node(cfg, "data")


def component_target(cfg: DictConfig, key: str) -> Any:
    """The class or function `cfg[key]._target_` names, imported but not called."""
    node = OmegaConf.select(cfg, key)
    if not isinstance(node, DictConfig) or "_target_" not in node:
        raise ConfigError(
            f"{config_source(key)}: `{key}` needs a `_target_` (the class to build), got {node!r}. "
            f"Choose a config group option with `{key}=<option>` in `expkit train`, or set `{key}._target_`."
        )
    target = _target(node)
    if target is None:
        raise ConfigError(
            f"{source_of_key(key + '._target_')}: {key}._target_={node._target_!r} cannot be imported. "
            "Check the spelling, and that its package is installed (or on PYTHONPATH / --config-dir's package)."
        )
    return target


def component_class(cfg: DictConfig, key: str) -> type:
    """The class `cfg[key]._target_` names, imported but not built."""
    target = component_target(cfg, key)
    if not isinstance(target, type):
        node = OmegaConf.select(cfg, key)
        raise ConfigError(f"{source_of_key(key + '._target_')}: {key}._target_={node._target_!r} is not a class.")
    return target


def check_contract(cfg: DictConfig) -> None:
    """Data, model and task fit together (expkit.contract), checked from their classes alone."""
    from expkit.contract import check_components, node_keys

    check_components(
        component_class(cfg, "data"), component_class(cfg, "model"), component_class(cfg, "task"),
        node_keys(cfg, "model"), node_keys(cfg, "task"),
        sources={k: config_source(k) for k in ("data", "model", "task")},
    )


def build_task(cfg: DictConfig, datamodule: Any) -> Any:
    """The LightningModule: the network sized by the data, plus optimizer/scheduler factories."""
    from expkit.contract import INPUT_FORMAT_KEY, model_arguments, model_input_format, task_arguments

    model_factory = instantiate_node(cfg, "model", drop=(INPUT_FORMAT_KEY,))
    net = model_factory(**model_arguments(datamodule, model_factory.func, model_factory.keywords))
    datamodule.set_input_format(model_input_format(
        type(datamodule), type(net), OmegaConf.select(cfg, f"model.{INPUT_FORMAT_KEY}"), config_source("model")))
    optimizer = instantiate_node(cfg, "optimizer")
    check_sparse_support(net, optimizer)
    scheduler = instantiate_node(cfg, "scheduler") if cfg.get("scheduler") else None
    task_factory = instantiate_node(cfg, "task")
    return task_factory(
        net=net, optimizer=optimizer, scheduler=scheduler, **task_arguments(datamodule, task_factory.func)
    )


def check_sparse_support(net: Any, optimizer: functools.partial) -> None:
    """Sparse embedding gradients need an optimizer that takes them; say so before training."""
    import torch

    sparse = [name for name, m in net.named_modules() if getattr(m, "sparse", False)]
    capable = (torch.optim.SGD, torch.optim.SparseAdam, torch.optim.Adagrad)
    func = optimizer.func
    takes_sparse = isinstance(func, type) and (issubclass(func, capable) or getattr(func, "supports_sparse_gradients", False))
    if sparse and not takes_sparse:
        raise ConfigError(
            f"{config_source('model')}: the model's {', '.join(sparse)} has sparse gradients (model.sparse=true), "
            f"which {func.__name__} cannot update. Use optimizer=lazy_adam or optimizer=sgd, or set model.sparse=false "
            "(dense gradients are much slower with a large vocabulary)."
        )


def build_loggers(cfg: DictConfig, resume_step: int | None = None, run_id: str | None = None) -> list[Any]:
    """The configured loggers, each tied to the run's identity `run_id` (metrics.json's) so that a
    resumed run (`resume_step` given) continues the same tracker run (`expkit.trackers`). A
    resumed run's TensorBoard writer purges what the interrupted run logged after its checkpoint
    (`purge_step`), so the curves have no duplicated steps."""
    from pytorch_lightning.loggers import TensorBoardLogger

    from expkit.trackers import continued, identity_arguments

    loggers = []
    for name, node in (cfg.get("logger") or {}).items():
        if not node:
            continue
        key = f"logger.{name}"
        logger_cls = component_target(cfg, key)
        keys = OmegaConf.to_container(node, resolve=True)
        kwargs = identity_arguments(logger_cls, run_id, keys) if run_id and isinstance(logger_cls, type) else {}
        if resume_step is not None and isinstance(logger_cls, type) and issubclass(logger_cls, TensorBoardLogger):
            kwargs["purge_step"] = resume_step
        logger = instantiate_node(cfg, key, **kwargs)
        if resume_step is not None and run_id:
            more = continued(logger, run_id)
            if more:
                logger = instantiate_node(cfg, key, **kwargs, **more)
        loggers.append(logger)
    return loggers


def build_callbacks(cfg: DictConfig, with_logger: bool, interactive: bool | None = None) -> list[Any]:
    """The configured callbacks that fit this trainer.

    A progress bar is only kept on an interactive terminal: redirected to a file or CI log it
    would write a line per refresh; there the per-epoch log lines say the same.
    """
    import sys

    from pytorch_lightning.callbacks import LearningRateMonitor, ModelCheckpoint, ProgressBar

    if interactive is None:
        interactive = sys.stderr.isatty()

    callbacks = []
    for name, node in (cfg.get("callbacks") or {}).items():
        if not node:
            continue
        callback = instantiate_node(cfg, f"callbacks.{name}")
        # Lightning refuses a ModelCheckpoint when checkpointing is off, and an LR monitor
        # without a logger; the debug trainer and `logger=none` switch those off on purpose.
        if isinstance(callback, ModelCheckpoint) and not cfg.trainer.get("enable_checkpointing", True):
            continue
        if isinstance(callback, LearningRateMonitor) and not with_logger:
            continue
        if isinstance(callback, ProgressBar) and not interactive:
            continue
        callbacks.append(callback)
    return callbacks
