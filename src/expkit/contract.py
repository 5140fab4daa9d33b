"""The contract between a data module, a model and a task: written down here, checked here, once.

A run joins three components that are chosen independently in the config (`data=`, `model=`,
`task=`). They meet only through what this module describes.

**Data module** (a `LightningDataModule`; `expkit.data.base.DataModule` implements the plumbing).
Class attributes, read before any data is loaded:

- `task_type`: the task it feeds, one of `TASK_TYPES` (`"classification"`, `"regression"`), or
  `ANY_TASK` for a module whose config decides (`data=dataset`; its instance says which).
- `input_formats`: the batch layouts it can build, e.g. `("bag", "padded")` for text,
  `("image",)` for images, `("features",)` for tabular rows. The first is its default.
- `model_dims_keys`: the names of the sizes `model_dims()` returns (`"num_classes"`, ...).
- `task_facts_keys`: the names of the facts `task_facts()` returns (`"class_names"`, ...).

Methods, valid after `setup()` or after `load_state_dict()` (a checkpoint's state):

- `model_dims() -> dict`: the sizes a network needs (vocabulary size, input features, ...).
- `task_facts() -> dict`: what the task needs to know (number of classes, class names, ...).
- `set_input_format(name)`: called with the model's `input_format` before any loader is made.
- `predict_inputs(items) -> tuple[Tensor, ...]`: model inputs for raw items given on the command
  line or in a file (texts, image paths, rows of numbers), in the model's input format.
- `state_dict()` / `load_state_dict()`: plain containers only (checkpoints load with
  `weights_only=True`); enough to answer `model_dims()`, `task_facts()` and `predict_inputs()`
  without the training data.
- Loaders yield batches `(*inputs, target)`; the model receives `*inputs`.

**Model** (any `torch.nn.Module`, nothing from expkit needed): the batch layout it takes is, in
this order, the `_input_format_` key of its YAML (read by expkit, not passed to the class: for
classes nobody can edit, `torch.nn.Linear`), its class attribute `input_format`, or, when the data
builds one layout only, that one. `forward(*inputs)` returns logits `[batch, num_classes]` (classification) or
predictions `[batch, outputs]` (regression). Its `__init__` receives its config keys plus the
`model_dims()` entries its signature names (and all of them if it takes `**kwargs`).

**Task** (a `LightningModule`, `expkit.tasks.base.Task`): a class attribute `task_type`; its
`__init__` receives `net`, `optimizer`, `scheduler`, its config keys, and the `task_facts()`
entries its signature names.

`check_components` checks all of this from the classes alone, before data is read;
`model_arguments` and `task_arguments` check the values once the data module is set up.
Every failure is one `ConfigError` naming the class, what is missing and how to add it.
"""

from __future__ import annotations

import inspect
from typing import Any, Mapping

from omegaconf import DictConfig

from expkit.errors import ConfigError

TASK_TYPES = ("classification", "regression")
# A data module that feeds either task, decided by its config (`data=dataset`); its instance's
# `task_type` says which once it is built, and is checked against the task then.
ANY_TASK = "any"
DATA_ATTRIBUTES = ("task_type", "input_formats", "model_dims_keys", "task_facts_keys")
DATA_METHODS = ("model_dims", "task_facts", "set_input_format", "predict_inputs", "state_dict", "load_state_dict")
# Arguments the framework itself passes to every task.
TASK_BUILT_IN = ("net", "optimizer", "scheduler")

HOW_TO_ADD = "See docs/own-components.md for a complete example."
# The model YAML's key naming the batch layout the model takes; expkit reads it and does not pass
# it to the class (Hydra would: it is not one of Hydra's own keys), so any class can be a model.
INPUT_FORMAT_KEY = "_input_format_"


def qualified_name(cls: Any) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def parameters(cls: Any) -> tuple[dict[str, inspect.Parameter], bool]:
    """(named parameters of `cls.__init__` except self, whether it also takes **kwargs)."""
    try:
        sig = inspect.signature(cls)
    except (TypeError, ValueError):
        return {}, True
    named = {
        n: p for n, p in sig.parameters.items()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    var_kw = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    return named, var_kw


def required(params: Mapping[str, inspect.Parameter]) -> list[str]:
    return [n for n, p in params.items() if p.default is inspect.Parameter.empty]


def model_input_format(data_cls: type, model_cls: type, chosen: Any = None, where: str = "config key `model`") -> str:
    """The batch layout the model takes: `chosen` (the model YAML's `_input_format_`), else the
    model class's `input_format` attribute, else the data's only layout. A layout the data cannot
    build, or no layout where the data builds several, is a ConfigError."""
    layouts = list(data_cls.input_formats)
    model_name, data_name = qualified_name(model_cls), qualified_name(data_cls)
    if chosen is not None and not isinstance(chosen, str):
        raise ConfigError(f"{where}: {INPUT_FORMAT_KEY}={chosen!r} is not a layout's name: give one of {layouts} "
                          f"(model.{INPUT_FORMAT_KEY}={layouts[0]}).")
    fmt = chosen if chosen is not None else getattr(model_cls, "input_format", None)
    if fmt is None:
        if len(layouts) == 1:
            return layouts[0]
        raise ConfigError(
            f"{where}: data module {data_name} builds several batch layouts ({layouts}) and model {model_name} does "
            f"not say which it takes. Add `{INPUT_FORMAT_KEY}: {layouts[0]}` (one of {layouts}) to the model's YAML, or "
            f"a class attribute `input_format = \"{layouts[0]}\"` to the model. {HOW_TO_ADD}"
        )
    if fmt not in layouts:
        said = f"its YAML's {INPUT_FORMAT_KEY}" if chosen is not None else "its class attribute input_format"
        raise ConfigError(
            f"{where}: model {model_name} takes {fmt!r} batches ({said}), but data module {data_name} builds only "
            f"{layouts}: {INPUT_FORMAT_KEY} is one of {layouts}. Choose a model made for this data (or data for this "
            f"model), or, if the model takes the data's batches as they are, set `model.{INPUT_FORMAT_KEY}={layouts[0]}`."
        )
    return str(fmt)


def check_data_class(cls: type) -> None:
    """The data module's class declares the contract's attributes and has its methods."""
    missing = [a for a in DATA_ATTRIBUTES if not hasattr(cls, a)]
    missing += [f"{m}()" for m in DATA_METHODS if not callable(getattr(cls, m, None))]
    if missing:
        raise ConfigError(
            f"Data module {qualified_name(cls)} does not follow expkit's data contract: it lacks "
            f"{', '.join(missing)}. Subclass expkit.data.base.DataModule (it provides the loaders and "
            "defaults) and set task_type, input_formats, model_dims_keys and task_facts_keys, then "
            f"implement model_dims(), task_facts() and predict_inputs(). {HOW_TO_ADD}"
        )
    if cls.task_type not in TASK_TYPES and cls.task_type != ANY_TASK:
        raise ConfigError(
            f"{qualified_name(cls)}.task_type = {cls.task_type!r}; use one of {', '.join(TASK_TYPES)}."
        )
    if isinstance(cls.input_formats, str) or not cls.input_formats:
        raise ConfigError(
            f"{qualified_name(cls)}.input_formats = {cls.input_formats!r}; give a tuple of batch layout "
            "names such as ('image',)."
        )


def check_components(
    data_cls: type, model_cls: type, task_cls: type,
    model_keys: Mapping[str, Any], task_keys: Mapping[str, Any],
    sources: Mapping[str, str] | None = None,
) -> None:
    """Do these three classes fit together? Checked from the classes and config keys alone.

    `model_keys`/`task_keys` are the config keys given to the model and task (without `_target_`
    and the like); `sources` maps `data`/`model`/`task` to the file each came from (for messages).
    """
    sources = dict(sources or {})
    where = lambda key: sources.get(key, f"config key `{key}`")  # noqa: E731
    check_data_class(data_cls)
    data_name, model_name, task_name = map(qualified_name, (data_cls, model_cls, task_cls))

    model_input_format(data_cls, model_cls, model_keys.get(INPUT_FORMAT_KEY), where("model"))
    task_type = getattr(task_cls, "task_type", None)
    if task_type is None:
        raise ConfigError(
            f"{where('task')}: task {task_name} has no `task_type` class attribute; set it to one of "
            f"{', '.join(TASK_TYPES)}. {HOW_TO_ADD}"
        )
    if task_type != data_cls.task_type and data_cls.task_type != ANY_TASK:
        raise ConfigError(
            f"{where('task')}: the task is {task_type} ({task_name}) but the data ({data_name}, {where('data')}) is "
            f"for {data_cls.task_type}. Use task={data_cls.task_type} with this data, or an experiment that sets "
            "data, model and task together (experiment=NAME)."
        )

    params, var_kw = parameters(model_cls)
    given = set(model_keys) | set(data_cls.model_dims_keys)
    missing = [n for n in required(params) if n not in given]
    if missing:
        raise ConfigError(
            f"{where('model')}: model {model_name} needs {', '.join(missing)}, which neither its config nor the data "
            f"module {data_name} gives (the data gives {list(data_cls.model_dims_keys) or 'nothing'}). Add the "
            f"key{'s' if len(missing) > 1 else ''} to the model's YAML, or return {'them' if len(missing) > 1 else 'it'} "
            "from the data module's model_dims() and list it in model_dims_keys."
        )
    unknown = [k for k in model_keys if k not in params and k != INPUT_FORMAT_KEY and not var_kw]
    if unknown:
        raise ConfigError(
            f"{where('model')}: model {model_name} has no argument {', '.join(map(repr, unknown))}; it accepts "
            f"{', '.join(params) or 'none'}. Fix the key's spelling or remove it."
        )

    params, var_kw = parameters(task_cls)
    given = set(task_keys) | set(data_cls.task_facts_keys) | set(TASK_BUILT_IN)
    missing = [n for n in required(params) if n not in given]
    if missing:
        raise ConfigError(
            f"{where('task')}: task {task_name} needs {', '.join(missing)}, which the data module {data_name} does not "
            f"give (its task_facts_keys are {list(data_cls.task_facts_keys) or 'empty'}). Return "
            f"{', '.join(missing)} from {data_cls.__name__}.task_facts() and list {'them' if len(missing) > 1 else 'it'} "
            f"in task_facts_keys. {HOW_TO_ADD}"
        )
    unknown = [k for k in task_keys if k not in params and not var_kw]
    if unknown:
        raise ConfigError(
            f"{where('task')}: task {task_name} has no argument {', '.join(map(repr, unknown))}; it accepts "
            f"{', '.join(p for p in params if p not in TASK_BUILT_IN) or 'none'}. Fix the key's spelling or remove it."
        )


def _declared(datamodule: Any, method: str, keys_attr: str) -> dict[str, Any]:
    values = getattr(datamodule, method)()
    declared = tuple(getattr(datamodule, keys_attr))
    name = qualified_name(type(datamodule))
    if not isinstance(values, Mapping):
        raise ConfigError(f"{name}.{method}() returned {type(values).__name__}; it must return a dict.")
    if set(values) != set(declared):
        raise ConfigError(
            f"{name}.{method}() returned {sorted(values)} but {keys_attr} declares {sorted(declared)}; make them "
            "agree (the declaration is what is checked before the data is read)."
        )
    return dict(values)


def model_arguments(datamodule: Any, model_cls: type, model_keys: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The `model_dims()` entries this model's signature takes (all of them with **kwargs).
    `model_keys` (the YAML's keys, when known) lets a size the data turned out not to give be
    reported here rather than as a TypeError from the class."""
    dims = _declared(datamodule, "model_dims", "model_dims_keys")
    params, var_kw = parameters(model_cls)
    if model_keys is not None:
        missing = [n for n in required(params) if n not in dims and n not in model_keys]
        if missing:
            raise ConfigError(
                f"model {qualified_name(model_cls)} needs {', '.join(missing)}, which this data does not give (it gives "
                f"{sorted(dims) or 'nothing'}). Add the value to the model's YAML (model.{missing[0]}=...) or, for "
                "data=dataset, to data.sizes."
            )
    return dims if var_kw else {k: v for k, v in dims.items() if k in params}


def task_arguments(datamodule: Any, task_cls: type) -> dict[str, Any]:
    """The `task_facts()` entries this task's signature takes (all of them with **kwargs)."""
    data_type, task_type = getattr(datamodule, "task_type", None), getattr(task_cls, "task_type", None)
    if type(datamodule).task_type == ANY_TASK and task_type is not None and data_type != task_type:
        raise ConfigError(
            f"the data is for {data_type} ({qualified_name(type(datamodule))}: "
            f"{'it has classes' if data_type == 'classification' else 'no classes given or found'}) but the task is "
            f"{task_type} ({qualified_name(task_cls)}). Use task={data_type}, or "
            f"{'set data.classes to the class names' if task_type == 'classification' else 'set data.classes=null'}."
        )
    facts = _declared(datamodule, "task_facts", "task_facts_keys")
    params, var_kw = parameters(task_cls)
    return facts if var_kw else {k: v for k, v in facts.items() if k in params}


def plain_keys(node: DictConfig | Mapping[str, Any] | None) -> dict[str, Any]:
    """A component's config keys without Hydra's `_target_`, `_partial_`, ... entries (expkit's
    own `_input_format_` is kept: the contract reads it)."""
    if node is None:
        return {}
    items = node.items_ex(resolve=False) if isinstance(node, DictConfig) else node.items()
    return {str(k): v for k, v in items if not str(k).startswith("_") or str(k) == INPUT_FORMAT_KEY}
