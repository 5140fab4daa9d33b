"""Check a composed config before anything is built or written: values, types, unknown keys.

The checks are derived from the `_target_`s' own signatures and type hints (no second schema to
keep in step with the code): every key of a component must be an argument of its class, and its
value must fit the argument's annotation. Missing values (`???`), broken interpolations and
impossible values are found here too. Each problem is one `ConfigError` naming the key, the file
it came from and the fix.

The classes checked are the config's plan (`expkit.plan`: each `_target_` resolved once), which
`validate` makes and returns for the run to be built from.
"""

from __future__ import annotations

import collections.abc
import difflib
import inspect
import logging
import math
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from expkit.config_files import config_source, source_of_key
from expkit.errors import ConfigError
from expkit.plan import Component, Plan, make_plan

log = logging.getLogger("expkit")


def validate(cfg: DictConfig) -> Plan:
    """Every check of this module, in the order a user would want to hear about problems; returns
    the plan checked (`expkit.plan`)."""
    try:
        # Resolved first: a cycle (`name='${name}'`, `+a='${b}' +b='${a}'`) fails in both, and the
        # resolution error names the key.
        OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or "?"
        raise ConfigError(
            f"{source_of_key(key)}: `{key}` cannot be resolved: {str(err).splitlines()[0]}. Fix the `${{...}}` "
            "expression in that file or on the command line."
        ) from None
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        key = missing[0]
        raise ConfigError(
            f"{source_of_key(key)}: `{key}` has no value (`???`). Set it on the command line, e.g. `{key}=VALUE`"
            + (f" (also missing: {', '.join(missing[1:])})." if len(missing) > 1 else ".")
        )
    for key in ("data", "model", "task", "optimizer", "trainer"):
        if not cfg.get(key):
            raise ConfigError(f"The config has no `{key}` group; add `{key}=<option>` (see `expkit train --help`).")
    plan = make_plan(cfg)
    for component in plan.components.values():
        check_component(component)
    check_tracker_packages(cfg, plan)
    check_tracker_servers(cfg)
    check_values(cfg, plan)
    return plan


def check_tracker_packages(cfg: DictConfig, plan: Plan) -> None:
    """A tracker's optional package is installed (`logger=mlflow` needs `expkit[mlflow]`); said
    before the run starts, not as Lightning's ImportError once the run folder exists."""
    from expkit.trackers import missing_package

    for name, node in (cfg.get("logger") or {}).items():
        if not node:
            continue
        target = plan.target(f"logger.{name}")
        package = missing_package(target) if isinstance(target, type) else None
        if package:
            raise ConfigError(
                f"{config_source('logger')}: logger.{name} needs the {package} package, which is not installed. Install "
                f"it with `pip install 'expkit[{package}]'`, or choose another logger (logger=tensorboard)."
            )


def check_tracker_servers(cfg: DictConfig) -> None:
    """A tracking server named by URL (`logger.mlflow.tracking_uri=http://host:5000`, or
    MLFLOW_TRACKING_URI) answers a connection now: MLflow's client retries a server that is down for
    minutes and then fails with a traceback, after the run folder was made."""
    import os
    import socket
    from urllib.parse import urlsplit

    for name, node in (cfg.get("logger") or {}).items():
        if not node or "tracking_uri" not in node:
            continue
        uri = node.get("tracking_uri") or os.environ.get("MLFLOW_TRACKING_URI")
        parts = urlsplit(str(uri)) if uri else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            continue
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            socket.create_connection((parts.hostname, port), timeout=5).close()
        except OSError as err:
            where = source_of_key(f"logger.{name}.tracking_uri") if node.get("tracking_uri") else "MLFLOW_TRACKING_URI"
            raise ConfigError(
                f"{where}: the tracking server {uri} cannot be reached ({err.strerror or err}). Start it (e.g. "
                f"`mlflow server --host {parts.hostname} --port {port}`), fix the address, or leave "
                f"logger.{name}.tracking_uri unset for a local store under paths.output_root."
            ) from None


def check_component(component: Component) -> None:
    """The component's keys are arguments of its `_target_` and their values fit the type hints."""
    key, node = component.key, component.node
    if not isinstance(node, DictConfig):
        return
    target = component.resolved()
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return
    params = {n: p for n, p in signature.parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    var_kw = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    hints = _type_hints(target)
    values = OmegaConf.to_container(node, resolve=True)
    for name, value in values.items():
        if str(name).startswith("_"):
            continue
        full = f"{key}.{name}"
        if name not in params:
            if var_kw:
                continue
            close = difflib.get_close_matches(str(name), list(params), n=1)
            hint = f" Did you mean `{key}.{close[0]}`?" if close else f" It accepts: {', '.join(params)}."
            raise ConfigError(
                f"{component.source_of(name)}: `{full}` is not an argument of {node._target_} ({component.source}).{hint}"
            )
        hint = hints.get(name, params[name].annotation)
        if not fits(value, hint):
            raise ConfigError(
                f"{component.source_of(name)}: `{full}={_show(value)}` is not {describe(hint)}. Give {describe(hint)}, "
                f"e.g. on the command line `{full}=...`."
            )


def check_contract(plan: Plan) -> None:
    """Data, model and task fit together (expkit.contract), checked from their classes alone."""
    from expkit.contract import check_components, plain_keys

    check_components(
        plan.component_class("data"), plan.component_class("model"), plan.component_class("task"),
        plain_keys(plan["model"].node), plain_keys(plan["task"].node),
        sources={k: plan[k].source for k in ("data", "model", "task")},
    )


def check_values(cfg: DictConfig, plan: Plan) -> None:
    """Values whose type is right but whose meaning is impossible."""
    check_core_keys(cfg)
    monitor = OmegaConf.select(cfg, "monitor.mode")
    if monitor not in ("min", "max"):
        raise ConfigError(f"{source_of_key('monitor.mode')}: monitor.mode={monitor!r}; use `min` or `max`.")
    check_monitor_metric(cfg, plan)
    trainer = cfg.trainer
    max_epochs, max_steps = trainer.get("max_epochs"), trainer.get("max_steps", -1)
    if max_epochs is not None and max_epochs != -1 and max_epochs < 1:
        raise ConfigError(
            f"{source_of_key('trainer.max_epochs')}: trainer.max_epochs={max_epochs}; use a number >= 1 "
            "(or -1 for no limit on epochs, with trainer.max_steps or trainer.max_time to stop the run)."
        )
    if max_epochs == -1 and (max_steps in (None, -1)) and not trainer.get("max_time"):
        raise ConfigError(
            f"{source_of_key('trainer.max_epochs')}: trainer.max_epochs=-1 (no limit) with no trainer.max_steps and no "
            "trainer.max_time would train until you stop it. Set one of them (e.g. trainer.max_time=00:01:00:00), "
            "or give trainer.max_epochs a number."
        )
    check_trainer_counts(trainer, source_of_key)
    threads = cfg.get("torch_threads")
    if threads is not None and not (isinstance(threads, int) and not isinstance(threads, bool) and threads >= 1):
        raise ConfigError(
            f"{source_of_key('torch_threads')}: torch_threads={_show(threads)}; use a whole number >= 1 (threads torch "
            "uses inside one operation), or null for torch's default."
        )
    lr = OmegaConf.select(cfg, "optimizer.lr")
    if lr is not None and not (isinstance(lr, (int, float)) and not isinstance(lr, bool) and lr > 0):
        raise ConfigError(f"{source_of_key('optimizer.lr')}: optimizer.lr={lr!r}; use a positive number.")


def _batches(value: Any) -> bool:
    """A count of batches (whole, >= 1) or a fraction of them (float in (0, 1])."""
    return (_whole(value) and value >= 1) or (isinstance(value, float) and 0 < value <= 1)


# Trainer keys Lightning checks only while it steps, if at all: `check_val_every_n_epoch=0` and
# `accumulate_grad_batches=0` ended in a ZeroDivisionError traceback after the run folder was
# made; `gradient_clip_val=-1` flipped every gradient (clip_grad_norm_ scales by a negative
# factor); `limit_train_batches=0` "finished" a run that never trained. (key, test, what to use)
_TRAINER_COUNTS = (
    ("check_val_every_n_epoch", lambda v: _whole(v) and v >= 1, "a whole number >= 1 (validate every N epochs), or null"),
    ("accumulate_grad_batches", lambda v: _whole(v) and v >= 1, "a whole number >= 1 (batches summed per optimizer step)"),
    ("gradient_clip_val", lambda v: _number(v) and v >= 0, "a number >= 0 (0 or null: no clipping)"),
    ("limit_train_batches", _batches, "a whole number of batches >= 1 or a fraction in (0, 1], or null for all; 0 would "
     "train nothing"),
    ("limit_val_batches", _batches, "a whole number of batches >= 1 or a fraction in (0, 1], or null for all; 0 would "
     "never validate, so the monitored metric and the best checkpoint would not exist"),
    ("limit_test_batches", _batches, "a whole number of batches >= 1 or a fraction in (0, 1], or null for all; 0 would "
     "test nothing"),
    ("val_check_interval", _batches, "a whole number of batches >= 1 or a fraction of the epoch in (0, 1], or null"),
    ("max_steps", lambda v: _whole(v) and (v >= 1 or v == -1), "a whole number >= 1, or -1 or null for no limit on "
     "steps; 0 would train nothing"),
)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_trainer_counts(trainer: Any, source_of_key: Any) -> None:
    for key, ok, use in _TRAINER_COUNTS:
        value = trainer.get(key)
        if value is not None and not ok(value):
            raise ConfigError(f"{source_of_key('trainer.' + key)}: trainer.{key}={_show(value)}; use {use}.")


def check_optimizer(cfg: DictConfig) -> None:
    """Build the optimizer (and scheduler) on one dummy parameter and step the scheduler twice:
    torch checks most values (a negative weight_decay, betas out of range) only when they are
    built, and some (StepLR's step_size=0) only when they step, which in a run is after the first
    epoch."""
    import warnings

    import torch

    from expkit.components import instantiate_node

    factory = instantiate_node(cfg, "optimizer")
    sched_factory = instantiate_node(cfg, "scheduler") if cfg.get("scheduler") else None
    key = "optimizer"
    try:
        optimizer = factory([torch.nn.Parameter(torch.zeros(1))])
        if sched_factory is not None:
            key = "scheduler"
            scheduler = sched_factory(optimizer)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "scheduler.step() before optimizer.step()" and the like
                for _ in range(2):  # the scheduler alone: an optimizer's step may need a closure (LBFGS)
                    scheduler.step()
    except (ValueError, TypeError, RuntimeError, ArithmeticError, KeyError) as err:
        target = OmegaConf.select(cfg, f"{key}._target_")
        raise ConfigError(
            f"{config_source(key)}: {target} refuses these values ({type(err).__name__}: {str(err).strip() or 'no detail'}). "
            f"Fix the `{key}.*` value on the command line or in that file."
        ) from None


# The seeds numpy accepts (Lightning's seed_everything refuses the others with a traceback).
SEED_RANGE = (0, 2**32 - 1)


def check_core_keys(cfg: DictConfig) -> None:
    """The keys of conf/train.yaml itself, which no class signature checks."""
    name = cfg.get("name")
    # `name` is a folder under paths.output_root: a path in it (`../../elsewhere`, `a/b`) would
    # write the run outside the root, or somewhere `expkit runs` does not look.
    # Control characters (a newline or tab pasted into the name) make folders no shell listing shows plainly.
    if (not isinstance(name, str) or not name.strip() or name in (".", "..") or any(c in name for c in "/\\")
            or any(ord(c) < 32 or ord(c) == 127 for c in name)):
        raise ConfigError(
            f"{source_of_key('name')}: name={name!r} is not a folder name; the run is written to "
            "<paths.output_root>/<name>/<timestamp>. Give a plain, non-empty name without / or \\ and without "
            "control characters such as a newline or tab (e.g. name=my_run)."
        )
    check_output_root_expression(cfg)
    seed = cfg.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int) or not SEED_RANGE[0] <= seed <= SEED_RANGE[1]:
        raise ConfigError(
            f"{source_of_key('seed')}: seed={_show(seed)}; use a whole number from {SEED_RANGE[0]} to {SEED_RANGE[1]}."
        )
    for key in ("test_after_fit", "deterministic"):
        value = cfg.get(key)
        if key in cfg and not isinstance(value, bool) and not (key == "deterministic" and value == "warn"):
            allowed = "true or false" + (" (or warn)" if key == "deterministic" else "")
            raise ConfigError(f"{source_of_key(key)}: {key}={_show(value)}; use {allowed}.")


# What paths.run_dir is replaced by to see whether paths.output_root depends on it.
_RUN_DIR_PROBE = "\0expkit-run-dir\0"


def check_output_root_expression(cfg: DictConfig) -> None:
    """paths.output_root does not depend on paths.run_dir: the run folder is made under the root,
    so the root cannot come from it (`${paths.run_dir}/y` resolved to `None/y` before the folder
    existed, and the run trained into ./None/y/)."""
    import copy

    from omegaconf import open_dict

    if not isinstance(cfg.get("paths"), DictConfig) or "output_root" not in cfg.paths:
        return
    probe = copy.deepcopy(cfg)
    with open_dict(probe):
        probe.paths.run_dir = _RUN_DIR_PROBE
    if _RUN_DIR_PROBE in str(OmegaConf.select(probe, "paths.output_root")):
        raw = OmegaConf.to_container(cfg.paths, resolve=False)["output_root"]
        raise ConfigError(
            f"{source_of_key('paths.output_root')}: paths.output_root={raw} depends on paths.run_dir, the run's own "
            "folder, which is made under paths.output_root: the root cannot come from the folder inside it. Give "
            "a folder that does not name the run, e.g. paths.output_root=outputs/y."
        )


def check_paths(cfg: DictConfig) -> None:
    """The cache folder is a folder this user can write, checked before any folder is made (the
    run folder's root: `RunFolder.refuse_nested`). Looks at the file system; writes nothing."""
    cache = OmegaConf.select(cfg, "data.cache_dir")
    if cache is not None:
        # data.cache_dir is `${paths.cache_dir}` in the packaged configs: name the key users set.
        key = "paths.cache_dir" if cache == OmegaConf.select(cfg, "paths.cache_dir") else "data.cache_dir"
        check_writable_folder(Path(str(cache)), key, source_of_key(key), "the encoded-text cache")


def check_writable_folder(path: Path, key: str, where: str, use: str) -> None:
    """A ConfigError when `path` cannot be a folder this process writes into: it names a file, a
    file stands where a parent folder would be made, or the nearest existing folder is read-only."""
    import os

    absolute = Path(os.path.abspath(path))
    if absolute.exists() and not absolute.is_dir():
        raise ConfigError(
            f"{where}: {key}={path} names a file, not a folder; {use} is written into a folder. Give a folder "
            f"(e.g. {key}=.cache/expkit), or move the file away."
        )
    existing = absolute
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(
            f"{where}: {key}={path} cannot be made: {existing} is a file, not a folder. Give another folder for {use}."
        )
    read_only = bool(os.statvfs(existing).f_flag & os.ST_RDONLY)
    if read_only or not os.access(existing, os.W_OK | os.X_OK):
        why = "is on a read-only file system" if read_only else "is not writable by this user"
        named = f"{key}={path}" if existing == absolute else f"{key}={path} (its nearest existing folder, {existing})"
        raise ConfigError(
            f"{where}: {named} {why}; {use} is written there. Give a writable folder, e.g. {key}=.cache/expkit or "
            "one under your home folder."
        )


def check_monitor_metric(cfg: DictConfig, plan: Plan) -> None:
    """`monitor.metric` is one the task logs (Lightning would only say so after the first epoch,
    with the run already started). Tasks that list their `logged_metrics` are checked."""
    metric = OmegaConf.select(cfg, "monitor.metric")
    try:
        task = plan.target("task")
    except ConfigError:
        return  # reported with its own message by the task's check
    logged = getattr(task, "logged_metrics", None)
    if not logged:
        return
    names = [f"{stage}/{m}" for stage in ("val", "train") for m in logged if stage == "val" or m == "loss"]
    if metric not in names:
        close = difflib.get_close_matches(str(metric), names, n=1)
        hint = f" Did you mean `{close[0]}`?" if close else ""
        raise ConfigError(
            f"{source_of_key('monitor.metric')}: monitor.metric={_show(metric)} is not a metric this task logs "
            f"({task.__name__} logs {', '.join(names)}).{hint} It picks the best checkpoint and early stopping."
        )


def is_multi_process(trainer: Any) -> bool:
    """Whether this trainer config starts several training processes (DDP on N devices or nodes)."""
    devices = trainer.get("devices", 1)
    strategy = str(trainer.get("strategy", "auto")).lower()
    if int(trainer.get("num_nodes", 1) or 1) > 1:
        return True
    if isinstance(devices, (list, ListConfig)):
        return len(devices) > 1
    if str(devices) in ("-1", "auto"):
        return strategy.startswith("ddp")
    try:
        return int(devices) > 1
    except (TypeError, ValueError):
        return "," in str(devices)


def check_devices(cfg: DictConfig) -> None:
    """A GPU asked for on a machine without one is refused before the data is read, and so
    are the DDP strategies that start processes other than by re-running the command."""
    strategy = str(cfg.trainer.get("strategy", "auto")).lower()
    if any(word in strategy for word in ("spawn", "fork", "notebook")):
        raise ConfigError(
            f"{source_of_key('trainer.strategy')}: trainer.strategy={strategy} is not supported: it trains in "
            "processes started from this one, so the run's record and test would not see their results. Use "
            "trainer=ddp (GPUs) or trainer=ddp_cpu (strategy ddp: Lightning re-runs the command for each rank)."
        )
    accelerator = str(cfg.trainer.get("accelerator", "auto")).lower()
    if accelerator in ("gpu", "cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(
                f"{source_of_key('trainer.accelerator')}: trainer.accelerator={accelerator} but this machine has no "
                "CUDA GPU that torch can use. Use trainer=cpu (or trainer=default, which picks a GPU only when there is one)."
            )
        devices = cfg.trainer.get("devices", 1)
        wanted = devices if isinstance(devices, int) else len(devices) if isinstance(devices, (list, ListConfig)) else None
        if wanted is not None and wanted > torch.cuda.device_count():
            raise ConfigError(
                f"{source_of_key('trainer.devices')}: trainer.devices={devices} but this machine has "
                f"{torch.cuda.device_count()} GPU(s). Lower trainer.devices."
            )


# -- type hints ----------------------------------------------------------------------------------
def _type_hints(target: Any) -> dict[str, Any]:
    func = target.__init__ if isinstance(target, type) else target
    try:
        return typing.get_type_hints(func)
    except Exception:  # noqa: BLE001 - unresolvable forward references: fall back to raw annotations
        return {}


def fits(value: Any, hint: Any) -> bool:
    """Whether a plain config value can be passed where `hint` is annotated (lenient on unknowns)."""
    if hint is inspect.Parameter.empty or hint is Any or isinstance(hint, (str, typing.ForwardRef)):
        return True
    if isinstance(value, dict) and "_target_" in value:
        return True  # a nested component, built by instantiate
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is Union or (hasattr(types, "UnionType") and isinstance(hint, types.UnionType)):
        return any(fits(value, a) for a in args)
    if hint is type(None) or hint is None:
        return value is None
    if origin is Literal:
        return value in args
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin in (list, tuple, collections.abc.Sequence, collections.abc.Iterable, set, frozenset):
        if not isinstance(value, (list, tuple)):
            return False
        element = args[0] if args and (origin is not tuple or len(args) == 2 and args[1] is Ellipsis or len(args) == 1) else Any
        return all(fits(v, element) for v in value)
    if origin in (dict, collections.abc.Mapping):
        return isinstance(value, dict)
    if isinstance(hint, type):
        if hint in (collections.abc.Sequence, collections.abc.Iterable):
            return isinstance(value, (list, tuple))
        return isinstance(value, hint)
    return True


def describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is Union or (hasattr(types, "UnionType") and isinstance(hint, types.UnionType)):
        parts = [describe(a) for a in args if a is not type(None)]
        text = " or ".join(dict.fromkeys(p for p in parts if p))
        return text + (" or null" if type(None) in args else "")
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    names = {bool: "true/false", int: "a whole number", float: "a number", str: "a string", type(None): "null"}
    if hint in names:
        return names[hint]
    if origin in (list, tuple, collections.abc.Sequence):
        return "a list" + (f" of {describe(args[0])}" if args and args[0] is not Ellipsis else "")
    if origin in (dict, collections.abc.Mapping):
        return "a mapping"
    return getattr(hint, "__name__", str(hint))


def _show(value: Any) -> str:
    return "null" if value is None else str(value)


def epoch_limit_notice(trainer: DictConfig) -> str | None:
    """What will stop a run whose trainer.max_epochs sets no number (-1 or null), said once when
    training starts (validate() has refused -1 with nothing else to stop it); None otherwise."""
    max_epochs, max_steps = trainer.get("max_epochs"), trainer.get("max_steps", -1)
    if max_epochs not in (None, -1):
        return None
    limits = [f"trainer.max_steps={max_steps}"] if max_steps not in (None, -1) else []
    limits += [f"trainer.max_time={trainer.get('max_time')}"] if trainer.get("max_time") else []
    if max_epochs == -1:
        return f"trainer.max_epochs=-1: no limit on epochs; {' or '.join(limits)} will stop the run."
    # Lightning's rule: no max_epochs means 1000 epochs, or no limit when max_steps or max_time is set.
    stop = f"no limit on epochs; {' or '.join(limits)} will stop the run" if limits else "Lightning's default of 1000 epochs applies"
    return f"trainer.max_epochs=null: {stop}. Give trainer.max_epochs a number to say how long to train."
