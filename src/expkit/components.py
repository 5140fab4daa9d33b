"""Build a run's parts from its composed config, turning config mistakes into clear errors.

Every group is instantiated with Hydra (`hydra.utils.instantiate`); optimizer, scheduler, model
and task are `_partial_` factories completed here once the data module knows the sizes. The
classes expkit itself needs to know (the loggers') come from the run's plan (`expkit.plan`),
whose `_target_`s validation resolved and checked.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

from omegaconf import DictConfig, OmegaConf

from expkit.config_files import config_source
from expkit.errors import ConfigError
from expkit.plan import Plan, locate, needs_target, plan_of


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
        raise needs_target(key, node)
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
            f"Fix or remove the offending key; it accepts: {_accepted(locate(node._target_))}."
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


def build_datamodule(cfg: DictConfig) -> Any:
    return instantiate_node(cfg, "data")


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


def build_loggers(
    cfg: DictConfig, resume_step: int | None = None, run_id: str | None = None, plan: Plan | None = None
) -> list[Any]:
    """The configured loggers, each tied to the run's identity `run_id` (metrics.json's) so that a
    resumed run (`resume_step` given) continues the same tracker run (`expkit.trackers`). A
    resumed run's TensorBoard writer purges what the interrupted run logged after its checkpoint
    (`purge_step`), so the curves have no duplicated steps. `plan`: `cfg`'s (`expkit.plan`), whose
    logger classes are used; made here when not given."""
    from pytorch_lightning.loggers import TensorBoardLogger

    from expkit.trackers import continued, identity_arguments

    plan = plan_of(cfg, plan)
    loggers = []
    for name, node in (cfg.get("logger") or {}).items():
        if not node:
            continue
        key = f"logger.{name}"
        logger_cls = plan.target(key)
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
