"""The plan of a run: for each component of a composed config, the class (or function) its
`_target_` names, the config node it is built from, and where its keys came from.

The pipeline is compose -> plan -> validate -> build -> fit. `make_plan` imports each component's
`_target_` once; `expkit.validation` checks the plan (keys against each class's signature, the
data-model-task contract, the trackers' packages) and `expkit.components` builds from it (Hydra's
`instantiate` still locates the `_target_` it calls, with its own target policy). A `_target_`
that cannot be imported does not stop the plan: its ConfigError is kept with the component and
raised where the target is first needed, so problems are reported in the order they are checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

from omegaconf import DictConfig

from expkit.config_files import config_source, source_of_key
from expkit.errors import ConfigError

# Components whose keys are checked against their class's signature (maps: every entry).
COMPONENT_KEYS = ("data", "model", "task", "optimizer", "scheduler", "trainer")
COMPONENT_MAPS = ("callbacks", "logger")


@dataclass(frozen=True)
class Component:
    """One component: its `key` (`model`, `callbacks.early_stopping`), the config `node` it is
    built from (its arguments, with Hydra's `_target_`, `_partial_`), the `_target_` text
    (`name`), and what that names: `target`, or `problem`, the ConfigError saying why none."""

    key: str
    node: Any
    name: Any = None
    target: Any = None
    problem: ConfigError | None = None

    @property
    def source(self) -> str:
        """Where the component's group comes from (`conf/model/mlp.yaml`), for messages."""
        return config_source(self.key.split(".")[0])

    def source_of(self, name: str) -> str:
        """Where the component's key `name` came from (command line, experiment, group file)."""
        return source_of_key(f"{self.key}.{name}")

    def resolved(self) -> Any:
        """The class or function the `_target_` names; the ConfigError when there is none."""
        if self.problem is not None:
            raise self.problem
        return self.target


@dataclass
class Plan:
    """The components of one composed config, by key, in the order they are checked."""

    components: dict[str, Component] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Component:
        return self.components.get(key) or Component(key, None, problem=needs_target(key, None))

    def target(self, key: str) -> Any:
        """The class or function `key`'s `_target_` names, imported but not called."""
        return self[key].resolved()

    def component_class(self, key: str) -> type:
        """The class `key`'s `_target_` names, imported but not built."""
        target = self.target(key)
        if not isinstance(target, type):
            raise ConfigError(f"{self[key].source_of('_target_')}: {key}._target_={self[key].name!r} is not a class.")
        return target

    def fits(self, cfg: DictConfig) -> bool:
        """Whether this plan was made from a config with `cfg`'s components and `_target_`s."""
        return [(key, _name(node)) for key, node in component_nodes(cfg)] == [
            (c.key, c.name) for c in self.components.values()
        ]


def needs_target(key: str, node: Any) -> ConfigError:
    return ConfigError(
        f"{config_source(key)}: `{key}` needs a `_target_` (the class to build), got {node!r}. "
        f"Choose a config group option with `{key}=<option>` in `expkit train`, or set `{key}._target_`."
    )


def locate(name: str) -> Any:
    """The object the dotted path `name` names, imported as Hydra imports it (None if it cannot be)."""
    from hydra.utils import get_object

    try:
        return get_object(name)
    except Exception:  # noqa: BLE001 - the caller says what cannot be imported
        return None


def component_nodes(cfg: DictConfig) -> Iterator[tuple[str, Any]]:
    """(key, node) of each component `cfg` has: the groups set (not null or empty: `scheduler=none`
    has none), then every entry of `callbacks` and `logger` that is set."""
    for key in COMPONENT_KEYS:
        node = cfg.get(key)
        if node:
            yield key, node
    for group in COMPONENT_MAPS:
        for name, node in (cfg.get(group) or {}).items():
            if node:
                yield f"{group}.{name}", node


def _has_target(node: Any) -> bool:
    return isinstance(node, DictConfig) and "_target_" in node


def _name(node: Any) -> Any:
    return node._target_ if _has_target(node) else None


def make_plan(cfg: DictConfig) -> Plan:
    """Each component of `cfg` with its `_target_` resolved, once."""
    plan = Plan()
    for key, node in component_nodes(cfg):
        if not _has_target(node):
            plan.components[key] = Component(key, node, problem=needs_target(key, node))
            continue
        name = node._target_
        target = locate(name)
        problem = None if target is not None else ConfigError(
            f"{source_of_key(key + '._target_')}: {key}._target_={name!r} cannot be imported. "
            "Check the spelling, and that its package is installed (or on PYTHONPATH / --config-dir's package)."
        )
        plan.components[key] = Component(key, node, name, target, problem)
    return plan


def plan_of(cfg: DictConfig, plan: Plan | None) -> Plan:
    """`plan` when it was made from `cfg`'s components, else a new plan of `cfg`."""
    return plan if plan is not None and plan.fits(cfg) else make_plan(cfg)
