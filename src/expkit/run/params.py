"""What tells runs apart: the config keys that vary between them, a chosen config group shown as
its option name.

A run's config is flat dotted keys (`model.hidden_sizes`); which option of each config group it
was composed from (`model: mlp`) is Hydra's `hydra.runtime.choices`, in the run's
`.hydra/hydra.yaml`. When two runs chose different options of a group, the group is one
parameter, `model`, valued `linear` or `mlp`: its `_target_` and the keys one option has and the
other lacks are what that choice means, not parameters of their own.

Runs without recorded choices (written before expkit recorded them, or by the Python API) are
compared the same way with the class each group builds standing for its option (`model._target_`
`...MLPRegressor` -> `MLPRegressor`): when one run of an experiment lacks choices, all its runs
are compared by class (`target_choices`), so that `mlp` and `MLPRegressor` never pass for two
values. A key whose values are those of a key before it (`callbacks.model_checkpoint.monitor`
interpolated from `monitor.metric`) says nothing more and is left out.

Varying is judged within an experiment: runs of different experiments differ in almost every key,
and a table of those would say nothing. The keys shown for several experiments are the union of
what varies within each (`varying_params`).
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Sequence

# Groups that are not parameters: Hydra's own, and the experiment (its own column).
NOT_PARAM_GROUPS = ("hydra", "experiment", "hparams_search")


def param_groups(choices: dict[str, Any]) -> dict[str, str]:
    """The run's chosen option of each config group that is a parameter: {"model": "mlp", ...}.
    A group nested in a folder (`data/augment`) is named with dots, as its config keys are."""
    out = {}
    for group, option in choices.items():
        if not isinstance(group, str) or group.split("/", 1)[0] in NOT_PARAM_GROUPS or option is None:
            continue
        out[group.replace("/", ".")] = str(option)
    return out


def comparable(value: Any) -> Any:
    """A hashable stand-in for a config value (lists and dicts by their JSON text)."""
    return json.dumps(value, sort_keys=True) if isinstance(value, (list, dict)) else value


_MISSING = object()


def target_choices(params: dict[str, Any]) -> dict[str, str]:
    """Stand-ins for a run's group choices: the short class name of each top-level node's
    `_target_` ({"model": "MLPRegressor", "optimizer": "SGD"})."""
    out = {}
    for key, value in params.items():
        group, _, rest = key.partition(".")
        if rest == "_target_" and isinstance(value, str):
            out[group] = value.rsplit(".", 1)[-1]
    return out


def comparable_runs(runs: Sequence[tuple[dict[str, str], dict[str, Any]]]) -> list[tuple[dict[str, str], dict[str, Any]]]:
    """`runs` with choices that compare: recorded ones when every run has them, else classes."""
    if all(choices for choices, _ in runs):
        return list(runs)
    return [(target_choices(params), params) for _, params in runs]


def varying_in(runs: Sequence[tuple[dict[str, str], dict[str, Any]]]) -> list[str]:
    """The parameters that differ among `runs` (each a pair: its groups' options, its params),
    in config order: a group whose option differs by its name, the keys under it left out unless
    they also differ among runs of one option; then the keys outside such groups whose value
    differs (present in some runs only counts), except a key whose values repeat those of a key
    before it."""
    if len(runs) < 2:
        return []
    runs = comparable_runs(runs)
    groups = list(dict.fromkeys(g for choices, _ in runs for g in choices))
    chosen = [g for g in groups if len({choices.get(g) for choices, _ in runs}) > 1]
    keys = list(dict.fromkeys(k for _, params in runs for k in params))
    varying = [k for k in keys if len({comparable(params.get(k, _MISSING)) for _, params in runs}) > 1]
    out: list[str] = []
    seen_values: set[tuple] = set()
    for key in varying:
        group = next((g for g in chosen if key == g or key.startswith(g + ".")), None)
        if group is not None:
            if group not in out:
                out.append(group)
            # A key under the group is the option's own unless it also varies among runs of one
            # option (optimizer.lr swept over adam and sgd): then it is a parameter too.
            by_option: dict[Any, set] = {}
            for choices, params in runs:
                by_option.setdefault(choices.get(group), set()).add(comparable(params.get(key, _MISSING)))
            if all(len(values) < 2 for values in by_option.values()):
                continue
        values = tuple(comparable(params.get(key, _MISSING)) for _, params in runs)
        if values in seen_values:
            continue
        seen_values.add(values)
        if key not in out:
            out.append(key)
    # A group whose option differs while no key does (two options with the same values) still varies.
    return out + [g for g in chosen if g not in out]


def varying_params(runs: Iterable[tuple[str, dict[str, str], dict[str, Any]]]) -> list[str]:
    """The union, over experiments, of the parameters that vary within each: `runs` are
    (experiment, groups' options, params) triples."""
    by_experiment: dict[str, list[tuple[dict[str, str], dict[str, Any]]]] = {}
    for experiment, choices, params in runs:
        by_experiment.setdefault(experiment, []).append((choices, params))
    out: list[str] = []
    for members in by_experiment.values():
        out += [k for k in varying_in(members) if k not in out]
    return out


def param_value(choices: dict[str, str], params: dict[str, Any], name: str) -> Any:
    """A run's value of a parameter `varying_in` named: a group's option, else the key's value."""
    if name in choices:
        return choices[name]
    if name not in params and f"{name}._target_" in params:
        return target_choices(params).get(name)
    return params.get(name)
