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


def config_source(key: str) -> str:
    """Where the user can find group `key`: its YAML file, when Hydra is running."""
    try:
        from hydra.core.hydra_config import HydraConfig

        choice = HydraConfig.get().runtime.choices.get(key)
    except (ValueError, ImportError):
        choice = None
    return f"conf/{key}/{choice}.yaml" if choice else f"config key `{key}`"


def _accepted(func: Any) -> str:
    try:
        return ", ".join(inspect.signature(func).parameters)
    except (TypeError, ValueError):
        return "?"


def instantiate_node(cfg: DictConfig, key: str, **kwargs: Any) -> Any:
    """Instantiate `cfg[key]`; raise ConfigError naming the file and key on any mistake."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    node = OmegaConf.select(cfg, key)
    if not isinstance(node, DictConfig) or "_target_" not in node:
        raise ConfigError(
            f"{config_source(key)}: `{key}` needs a `_target_` (the class to build), got {node!r}. "
            f"Choose a config group option with `{key}=<option>` in `expkit train`, or set `{key}._target_`."
        )
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


def component_class(cfg: DictConfig, key: str) -> type:
    """The class `cfg[key]._target_` names, imported but not built."""
    node = OmegaConf.select(cfg, key)
    if not isinstance(node, DictConfig) or "_target_" not in node:
        raise ConfigError(
            f"{config_source(key)}: `{key}` needs a `_target_` (the class to build), got {node!r}. "
            f"Choose a config group option with `{key}=<option>` in `expkit train`, or set `{key}._target_`."
        )
    cls = _target(node)
    if not isinstance(cls, type):
        raise ConfigError(
            f"{config_source(key)}: {key}._target_={node._target_!r} is not an importable class. "
            "Check the spelling, and that its package is installed (or on PYTHONPATH)."
        )
    return cls


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
    from expkit.contract import model_arguments, task_arguments

    model_factory = instantiate_node(cfg, "model")
    net = model_factory(**model_arguments(datamodule, model_factory.func))
    datamodule.set_input_format(type(net).input_format)
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


def build_loggers(cfg: DictConfig, resume_step: int | None = None) -> list[Any]:
    """The configured loggers. A resumed run's TensorBoard writer purges what the interrupted
    run logged after its checkpoint (`purge_step`), so the curves have no duplicated steps."""
    from pytorch_lightning.loggers import TensorBoardLogger

    loggers = []
    for name, node in (cfg.get("logger") or {}).items():
        if not node:
            continue
        logger = instantiate_node(cfg, f"logger.{name}")
        if resume_step is not None and isinstance(logger, TensorBoardLogger):
            logger = instantiate_node(cfg, f"logger.{name}", purge_step=resume_step)
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


def check_config(cfg: DictConfig) -> None:
    """Checks that need no instantiation, done before anything is built or written."""
    for key in ("data", "model", "task", "optimizer", "trainer"):
        if not cfg.get(key):
            raise ConfigError(f"The config has no `{key}` group; add `{key}=<option>` (see `expkit train --help`).")
    mode = OmegaConf.select(cfg, "monitor.mode")
    if mode not in ("min", "max"):
        raise ConfigError(f"monitor.mode={mode!r}: use `min` or `max`.")
    max_epochs = cfg.trainer.get("max_epochs")
    if max_epochs is not None and max_epochs != -1 and max_epochs < 1:
        raise ConfigError(f"{config_source('trainer')}: trainer.max_epochs={max_epochs}; use a number >= 1 (or -1 for no limit).")
    lr = OmegaConf.select(cfg, "optimizer.lr")
    if lr is not None and not (isinstance(lr, (int, float)) and lr > 0):
        raise ConfigError(f"{config_source('optimizer')}: optimizer.lr={lr!r}; use a positive number.")
