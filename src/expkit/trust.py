"""What expkit builds from a config that came from a file, not from the user's own `conf/`.

A run folder (`.hydra/config.yaml`, `.hydra/resolved.yaml`) or an export (`config.json`) is data
that travels: it is copied, shared and downloaded. Hydra builds whatever a `_target_` names, so a
run folder that says `_target_: builtins.open` with `mode: w` empties a file, and `numpy.load`
with `allow_pickle: true` or `torch.load` with `weights_only: false` runs a pickle. Hydra's own
blocklist stops a few names (`os.system`, `subprocess.call`); a blocklist cannot stop the rest.
So the commands that read such files (`eval`, `predict`, `export`, `reproduce`, `resume`) call
the checks here first, and build only what an allow-list names.

The allow-list (`_FAMILIES`), each a dotted-path prefix plus the base classes a target must have:

- expkit's own component classes: models, tasks, data modules, optimizers, callbacks (classes
  under `expkit` that subclass `torch.nn.Module`, `LightningDataModule`, `torch.optim.Optimizer`,
  `LRScheduler`, a Lightning `Callback`, `Logger` or `CheckpointIO` plugin), and the sweep summary `expkit.runs.sweep.SweepSummary`;
- torch optimizers and LR schedulers (classes under `torch.optim` that subclass `Optimizer` or
  `LRScheduler`; the `Optimizer` base itself is a harmless class and passes);
- the Lightning Trainer and what it is built with: callbacks, loggers, plugins (precision,
  checkpoint IO, cluster environments, layer sync), strategies, accelerators and profilers, under
  `pytorch_lightning` or `lightning.pytorch` (plugins defined in `lightning_fabric` included);
- torchmetrics metrics (`Metric` subclasses and `MetricCollection`);
- torch's layers (classes under `torch.nn` that subclass `torch.nn.Module`), so that
  `_target_: torch.nn.Linear` can be a run's model;
- the user's own modules, named by the user: `--trust-module PKG` on the command line, or a
  top-level `trusted_modules: [PKG]` in `conf/train.yaml`. A file never vouches for itself: its
  own `trusted_modules` key is ignored.

How a target is checked, in this order, so that nothing named by the file is imported or built
before the whole file has passed:

1. Every node is walked (nested dicts and lists, `_args_`, `_partial_` nodes, any depth). Each
   `_target_` must be a plain dotted name (no interpolation, no spaces), under one of the
   prefixes above, matched by whole dotted parts (`torch.optimevil` is not under `torch.optim`).
   Importing a module runs its code, so this string check comes before any import.
2. Only then is each target located exactly as Hydra locates it, and must be a class (not a
   function, a module or an instance) defined under its family's prefix (so an allowed package's
   imported name, `pytorch_lightning.callbacks.model_checkpoint.torch.load`, is refused) that
   subclasses one of the family's base classes (so `expkit.files.write_text_atomic` and the
   functions of `pytorch_lightning.utilities` are refused). A trusted user module passes any class
   or function defined in it.

Hydra's other special keys: `_args_` is walked like any list; `_partial_`, `_convert_` and
`_recursive_` only change how values are passed, not what is called, and since every nested
`_target_` is checked whatever `_recursive_` says, a class cannot be handed an unchecked config to
build later. Two root keys are Hydra's instructions rather than values: `hydra` (callbacks,
launchers, logging handlers, search paths) and `defaults` (which config files to compose). A
snapshot Hydra wrote never holds them, so a file holding them is refused.

Interpolations: an unresolved config resolves them when it is composed or built, and a resolver
is code. `${expkit_stamp:DIR}` creates folders, `oc.create`/`oc.decode` and a `{...}` default of
`oc.select` create new nodes (with a `_target_` that was never walked), `oc.env` copies secrets
into values the run may send out (a download URL). A file may therefore only refer to its own
keys (`${paths.run_dir}`) and use the resolvers in `FILE_RESOLVERS` (`hydra`: the run's own
Hydra settings; `expkit_data`: a file shipped in the package; `expkit_run`: the run folder's name), with no dict or list literal in
their arguments. A config written by expkit passes: its snapshot uses only these.

What this does not judge: the values given to an allowed class (a checkpoint `dirpath` or a
`data_dir` elsewhere on disk, a logger's server URL) are settings, not code.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from expkit.errors import ConfigError, ExpkitError

# Resolvers a config from a file may call: all only read (Hydra's own settings of this run, the
# path of a data file shipped with expkit, the run folder's name for a tracker).
FILE_RESOLVERS = frozenset({"hydra", "expkit_data", "expkit_run"})
# Root keys that are instructions to Hydra, not values of the run.
HYDRA_ROOT_KEYS = ("hydra", "defaults")
# The config key (in the user's conf/train.yaml) that lists the user's own trusted modules.
TRUSTED_MODULES_KEY = "trusted_modules"
# Top-level packages that are not the user's code: a file naming them outside the allow-list was
# edited, and suggesting `--trust-module torch` would hand it everything.
_NEVER_USER_CODE = frozenset({"expkit", "torch", "pytorch_lightning", "lightning", "lightning_fabric", "torchmetrics",
                              "hydra", "omegaconf", "numpy"})
_DOTTED_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")

ALLOWED_SUMMARY = (
    "expkit's component classes, torch optimizers and LR schedulers, Lightning's Trainer, callbacks, loggers "
    "and plugins, torchmetrics metrics, torch.nn layers"
)

MODEL_SUMMARY = "expkit's model classes and torch.nn layers"


class UntrustedConfigError(ExpkitError):
    """A config or export from a file names code that expkit will not run (a `_target_` off the
    allow-list, a Hydra instruction key, or an interpolation that calls a resolver)."""


@dataclass(frozen=True)
class _Family:
    description: str
    path_prefixes: tuple[str, ...]  # where the `_target_` string may point
    module_prefixes: tuple[str, ...]  # where the class it reaches must be defined
    bases: Callable[[], tuple[type, ...]]  # imported only after the string checks passed
    exact: tuple[str, ...] = ()  # classes of the family allowed whatever their base


def _expkit_bases() -> tuple[type, ...]:
    import pytorch_lightning as pl
    import torch
    from pytorch_lightning.plugins import CheckpointIO

    from pytorch_lightning.loggers import Logger

    return (
        torch.nn.Module, pl.LightningDataModule, torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler,
        pl.Callback, Logger, CheckpointIO,
    )


def _torch_optim_bases() -> tuple[type, ...]:
    import torch

    return (torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)


def _lightning_bases() -> tuple[type, ...]:
    bases: list[type] = []
    # `lightning.pytorch` is the same library under the unified package name; either may be installed.
    for root in ("pytorch_lightning", "lightning.pytorch"):
        try:
            pl = importlib.import_module(root)
        except ImportError:
            continue
        sub = lambda name: importlib.import_module(f"{root}.{name}")  # noqa: E731
        plugins = sub("plugins")
        bases += [
            pl.Trainer, pl.Callback, sub("loggers").Logger,
            plugins.Precision, plugins.CheckpointIO, plugins.LayerSync, sub("plugins.environments").ClusterEnvironment,
            sub("strategies").Strategy, sub("accelerators").Accelerator, sub("profilers").Profiler,
        ]
    return tuple(bases)


def _torchmetrics_bases() -> tuple[type, ...]:
    import torchmetrics

    return (torchmetrics.Metric, torchmetrics.MetricCollection)


_LIGHTNING_ROOTS = ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning.fabric")
_FAMILIES = (
    # SweepSummary is a Hydra callback (listed by name: Hydra's Callback base would also admit
    # any other Hydra callback class expkit might grow, which should be a decision, not a side effect).
    _Family("an expkit component class", ("expkit",), ("expkit",), _expkit_bases, exact=("expkit.runs.sweep.SweepSummary",)),
    _Family("a torch optimizer or LR scheduler", ("torch.optim",), ("torch.optim",), _torch_optim_bases),
    _Family("a Lightning Trainer, callback, logger or plugin", _LIGHTNING_ROOTS, _LIGHTNING_ROOTS, _lightning_bases),
    _Family("a torchmetrics metric", ("torchmetrics",), ("torchmetrics",), _torchmetrics_bases),
    # torch's own layers (`_target_: torch.nn.Linear` as a model): building one allocates tensors, nothing more.
    _Family("a torch.nn layer", ("torch.nn",), ("torch.nn",), lambda: (_torch_module(),)),
)
_MODEL_FAMILIES = (
    _Family("an expkit model class", ("expkit.models",), ("expkit.models",), lambda: (_torch_module(),)),
    _Family("a torch.nn layer", ("torch.nn",), ("torch.nn",), lambda: (_torch_module(),)),
)


def _torch_module() -> type:
    import torch

    return torch.nn.Module


# ------------------------------------------------------------------------------------------ API


def check_config_targets(cfg: Any, source: str, trusted_modules: Sequence[str] = ()) -> None:
    """Refuse a config from a file unless everything it would build is on the allow-list.

    `cfg` is the loaded file (a DictConfig, ListConfig, dict or list), unresolved: interpolations
    are judged as written, never resolved. `source` names the file in messages (e.g.
    `outputs/x/2026-01-01_12-00-00/.hydra/config.yaml`). `trusted_modules` are the user's own
    packages (`--trust-module` and `conf/train.yaml`'s `trusted_modules`), never the file's.

    Raises UntrustedConfigError naming the key, the target and how to allow it; ConfigError when
    an allowed name does not exist. Nothing named by the file is imported unless every `_target_`
    string and interpolation has passed.
    """
    trusted = _user_trusted(trusted_modules)
    data = _plain(cfg)
    if isinstance(data, Mapping):
        for key in HYDRA_ROOT_KEYS:
            if key in data:
                raise UntrustedConfigError(
                    f"{source}: the root key `{key}` is an instruction to Hydra ({_ROOT_KEY_ROLE[key]}), which a run's "
                    f"config snapshot never holds; expkit will not take it from a file that may come from elsewhere. "
                    f"Delete the `{key}` key from {source} (Hydra's settings come from conf/hydra/)."
                )
    targets: list[tuple[str, Any]] = []
    for path, key, value in _leaves(data):
        if key == "_target_":
            targets.append((path, value))
        elif isinstance(value, str) and "${" in value:
            _check_interpolation(value, path, source)
    file_trusted = _file_trusted_modules(data)
    pending = []
    for path, target in targets:
        pending.append((path, target, _check_target_name(target, path, source, trusted, file_trusted)))
    for path, target, family in pending:
        _check_target_object(target, path, source, family, trusted)


def check_architecture(name: Any, source: str, trusted_modules: Sequence[str] = (), key: str = "architecture") -> None:
    """An export's `architecture`: an expkit model class (a `torch.nn.Module` under
    `expkit.models`) or a class or function of a trusted module; refused otherwise."""
    trusted = _user_trusted(trusted_modules)
    family = _check_target_name(name, key, source, trusted, (), families=_MODEL_FAMILIES, allowed=MODEL_SUMMARY)
    _check_target_object(name, key, source, family, trusted, allowed=MODEL_SUMMARY)


def check_export_config(config: Mapping[str, Any], source: str, trusted_modules: Sequence[str] = ()) -> None:
    """An export's `config.json`: its `architecture` (see `check_architecture`), and `model_args`
    holding plain values only. Export writes the model's keyword arguments without Hydra's
    `_..._` keys; a nested `_target_` or an interpolation there would be built or resolved when
    the model is."""
    if not isinstance(config, Mapping):
        raise UntrustedConfigError(f"{source} does not hold a JSON object; it is not an expkit export.")
    check_architecture(config.get("architecture"), source, trusted_modules)
    model_args = config.get("model_args", {})
    if not isinstance(model_args, Mapping):
        raise UntrustedConfigError(f"{source}: `model_args` must be an object of keyword arguments, got {model_args!r}.")
    for path, key, value in _leaves(model_args, "model_args"):
        last = str(key)
        if last.startswith("_") and last.endswith("_"):
            raise UntrustedConfigError(
                f"{source}: `{path}` is a Hydra instruction ({last}: {value!r}), which `expkit export` never writes: model "
                f"arguments are plain values. Delete the key, or export the run again with `expkit export`."
            )
        if isinstance(value, str) and "${" in value:
            raise UntrustedConfigError(
                f"{source}: `{path}` holds the interpolation {value!r}, which would be resolved when the model is built; "
                f"`expkit export` writes plain values only. Replace it with its value, or export the run again."
            )


def validate_module_names(names: Iterable[str], source: str, importable: bool = False) -> tuple[str, ...]:
    """Module names the user trusts (`--trust-module`, `trusted_modules`), each a dotted name of
    the user's own code; with `importable`, each must be found on the path (a typo would
    otherwise trust nothing, and the refusal that follows would name the right flag)."""
    if isinstance(names, str):
        names = [names]
    out = []
    for name in names:
        if not isinstance(name, str) or not _DOTTED_NAME.fullmatch(name):
            raise ConfigError(
                f"{source}: {name!r} is not a module name; give an importable package such as `mypkg` or `mypkg.models`."
            )
        top = name.split(".", 1)[0]
        # Trust is for the user's own code. Python's standard library and the frameworks hold the
        # very functions the allow-list exists to stop (`subprocess.run`, `builtins.eval`,
        # `torch.load`): trusting them would let any run folder run code.
        if top in sys.stdlib_module_names or top in ("builtins", "__main__") or top in _NEVER_USER_CODE:
            raise ConfigError(
                f"{source}: {name} is not your own code ({'Python' if top not in _NEVER_USER_CODE else top}'s own "
                "module); trusting it would let a run folder or an export call any of its functions. Trust only your own "
                "package (the one that holds your models or data modules)."
            )
        if importable and importlib.util.find_spec(top) is None:  # finds the package without running its code
            raise ConfigError(
                f"{source}: no module named {top!r} can be imported, so trusting {name} would allow nothing. Check the "
                "spelling, and that your package is installed or on PYTHONPATH (or under --config-dir's parent)."
            )
        out.append(name)
    return tuple(out)


def trusted_modules_from(cfg: Any, source: str) -> tuple[str, ...]:
    """The `trusted_modules` list of a config the USER wrote (their conf/): never call this on a
    config that came from a run folder or an export."""
    data = _plain(cfg)
    value = data.get(TRUSTED_MODULES_KEY) if isinstance(data, Mapping) else None
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ConfigError(f"{source}: `{TRUSTED_MODULES_KEY}` must be a list of module names, e.g. [mypkg], got {value!r}.")
    return validate_module_names(value, f"{source}: {TRUSTED_MODULES_KEY}")


def _user_trusted(trusted_modules: Sequence[str]) -> tuple[str, ...]:
    """The packages the user trusts: `--trust-module` (or the API's `trusted_modules`) and the
    `trusted_modules` list of the user's own conf/train.yaml, each validated."""
    given = validate_module_names(trusted_modules, "--trust-module", importable=True)
    from_conf = tuple(m for m in conf_trusted_modules() if m not in given)
    return (*given, *validate_module_names(from_conf, "conf/train.yaml trusted_modules", importable=True))


def conf_trusted_modules(conf: str | Path | None = None) -> tuple[str, ...]:
    """`trusted_modules` at the top of the user's `conf/train.yaml` (read as written, not composed)."""
    from omegaconf import OmegaConf

    if conf is None:
        from expkit.config_files import conf_dir

        conf = conf_dir()
    primary = Path(conf) / "train.yaml"
    if not primary.is_file():
        return ()
    return trusted_modules_from(OmegaConf.load(primary), str(primary))


def add_trust_argument(parser: Any) -> None:
    """`--trust-module PKG` (repeatable) for the commands that read run folders or exports."""
    parser.add_argument(
        "--trust-module", action="append", default=[], metavar="PKG",
        help="let the run folder or export build classes of your own package PKG (repeatable); "
        "otherwise only expkit's, torch's optimizers, Lightning's and torchmetrics' classes are built",
    )


# -------------------------------------------------------------------------------------- details

_ROOT_KEY_ROLE = {
    "hydra": "callbacks, launchers, logging handlers and search paths",
    "defaults": "which config files to compose",
}


def _plain(cfg: Any) -> Any:
    """Plain dicts and lists with interpolations as written (nothing is resolved)."""
    from omegaconf import OmegaConf

    if OmegaConf.is_config(cfg):
        return OmegaConf.to_container(cfg, resolve=False)
    return cfg


def _leaves(data: Any, root: str = "") -> Iterator[tuple[str, Any, Any]]:
    """(key path, key, value) of every dict entry and list item (key None), depth first in file order.

    Iterative, so a hostile file nested ten thousand levels deep is walked, not a RecursionError.
    Containers are yielded too (a `_target_` may hold one, which is then refused)."""
    stack: list[tuple[str, Any]] = [(root, data)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, Mapping):
            children = [(f"{path}.{k}" if path else str(k), k, v) for k, v in node.items()]
        elif isinstance(node, (list, tuple)):
            children = [(f"{path}[{i}]", None, v) for i, v in enumerate(node)]
        else:
            continue
        yield from children
        stack.extend((p, v) for p, _, v in reversed(children))


def _check_interpolation(value: str, path: str, source: str) -> None:
    from omegaconf import grammar_parser
    from omegaconf.errors import GrammarParseError
    from omegaconf.grammar.gen.OmegaConfGrammarParser import OmegaConfGrammarParser as G

    try:
        tree = grammar_parser.parse(value)
    except GrammarParseError:
        raise UntrustedConfigError(
            f"{source}: `{path}` holds {value!r}, which is not a valid interpolation, and expkit resolves nothing in a "
            "run folder or an export that it cannot check. Replace it with a plain value."
        ) from None
    stack, resolvers, literal = [tree], [], False
    while stack:
        node = stack.pop()
        if isinstance(node, G.ResolverNameContext):
            resolvers.append(node.getText())
        elif isinstance(node, (G.DictContainerContext, G.ListContainerContext)):
            literal = True
        stack.extend(node.getChildren() if hasattr(node, "getChildren") else ())
    bad = [r for r in resolvers if r not in FILE_RESOLVERS]
    if bad or (resolvers and literal):
        what = f"calls the resolver `{bad[0]}`" if bad else "passes a dict or list literal to a resolver"
        raise UntrustedConfigError(
            f"{source}: `{path}` holds {value!r}, which {what}. Resolving runs code (it can create folders, read "
            "environment variables, make config nodes), so in a run folder or an export expkit resolves only references "
            f"to other keys (${{a.b}}) and the resolvers {' and '.join(sorted(FILE_RESOLVERS))}. Replace it with its value, "
            "or give the value as an override on the command line."
        )


def _file_trusted_modules(data: Any) -> tuple[str, ...]:
    """The file's own `trusted_modules` entries, only to explain why they are not honoured."""
    value = data.get(TRUSTED_MODULES_KEY) if isinstance(data, Mapping) else None
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _under(name: str, prefix: str) -> bool:
    """True when `name` is `prefix` or inside it, by whole dotted parts."""
    return name == prefix or name.startswith(prefix + ".")


def _check_target_name(
    target: Any, path: str, source: str, trusted: Sequence[str], file_trusted: Sequence[str],
    families: Sequence[_Family] = _FAMILIES, allowed: str = ALLOWED_SUMMARY,
) -> _Family | None:
    """The family a target string belongs to (None: a trusted user module); refused otherwise.
    Imports nothing."""
    if not isinstance(target, str):
        _refuse(source, path, target, f"a class name must be a string, not {type(target).__name__}", hint=False)
    if "${" in target:
        _refuse(source, path, target, "a class name computed by an interpolation cannot be checked before it is "
                "resolved", hint=False)
    if not _DOTTED_NAME.fullmatch(target):
        _refuse(source, path, target, "that is not a dotted class name (letters, digits, `_` and dots only)", hint=False)
    if "__main__" in target.split("."):
        # A package's `__main__` is a script: locating a name in it imports it, which runs the
        # script (another CLI run with the caller's arguments), before any check of what it holds.
        _refuse(source, path, target, "that names a `__main__` module, a script that runs when imported", hint=False)
    if any(_under(target, m) for m in trusted):
        return None
    for family in families:
        if any(_under(target, p) for p in family.path_prefixes):
            return family
    listed = [m for m in file_trusted if _under(target, m)]
    _refuse(source, path, target, "that is not on the allow-list", file_listed=listed[0] if listed else None,
            allowed=allowed)
    raise AssertionError  # unreachable: _refuse raises


def _check_target_object(
    target: str, path: str, source: str, family: _Family | None, trusted: Sequence[str], allowed: str = ALLOWED_SUMMARY
) -> None:
    """Locate `target` as Hydra will, and check what it is."""
    from hydra._internal.utils import _locate  # the very lookup `hydra.utils.instantiate` uses

    try:
        obj = _locate(target)
    except Exception as err:  # noqa: BLE001 - ImportError, or any error raised while importing
        raise ConfigError(
            f"{source}: `{path}` names {target!r}, which cannot be imported ({type(err).__name__}: "
            f"{str(err).strip().splitlines()[-1] if str(err).strip() else ''}). Check the spelling, and that its package "
            "is installed."
        ) from None
    defined_in = getattr(obj, "__module__", None) if isinstance(obj, type) or callable(obj) else None
    if family is None:  # a trusted user module: its classes and functions, not what it imported
        owner = next(m for m in trusted if _under(target, m))
        if not isinstance(defined_in, str) or not _under(defined_in, owner):
            _refuse(source, path, target, f"that is {_kind(obj)} of {defined_in or 'no module'}, not of the trusted "
                    f"module {owner}", hint=False)
        return
    if not isinstance(obj, type):
        _refuse(source, path, target, f"that is {_kind(obj)}, not a class", allowed=allowed)
    if not (isinstance(defined_in, str) and any(_under(defined_in, p) for p in family.module_prefixes)):
        _refuse(source, path, target, f"that reaches {defined_in}.{obj.__qualname__}, which is not "
                f"{family.description}", allowed=allowed)
    if f"{defined_in}.{obj.__qualname__}" in family.exact:
        return
    bases = family.bases()
    if not issubclass(obj, bases):
        _refuse(source, path, target, f"that class is not {family.description} (it subclasses none of "
                f"{', '.join(b.__name__ for b in bases)})", allowed=allowed)


def _kind(obj: Any) -> str:
    import inspect

    if inspect.ismodule(obj):
        return "a module"
    if isinstance(obj, type):
        return "a class"
    if inspect.isroutine(obj):
        return "a function"
    return f"a {type(obj).__name__} object"


def _refuse(
    source: str, path: str, target: Any, why: str, hint: bool = True, file_listed: str | None = None,
    allowed: str = ALLOWED_SUMMARY,
) -> None:
    message = (
        f"{source}: `{path}` names {target!r}: {why}. From a run folder or an export expkit builds only {allowed}, "
        "and classes of modules you trust, so that a file from elsewhere cannot run code."
    )
    top = target.split(".", 1)[0] if isinstance(target, str) else ""
    if file_listed:
        message += (
            f" The file's own `{TRUSTED_MODULES_KEY}` lists {file_listed}, but a file cannot vouch for itself: if "
            f"{file_listed} is your code, pass --trust-module {file_listed} (or list it under `{TRUSTED_MODULES_KEY}` in "
            "conf/train.yaml)."
        )
    elif hint and top and _DOTTED_NAME.fullmatch(top):
        if top in _NEVER_USER_CODE or top in sys.stdlib_module_names or top == "builtins":
            message += f" No expkit run names {target} here: the file was edited; do not use it."
        else:
            message += (
                f" If {top} is your own code, allow it with --trust-module {top} (or list it under "
                f"`{TRUSTED_MODULES_KEY}` in conf/train.yaml)."
            )
    raise UntrustedConfigError(message)
