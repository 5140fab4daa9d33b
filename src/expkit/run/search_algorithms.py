"""Optuna's samplers and pruners by the names `hydra.sweeper.sampler=` and `pruner=` take.

Each name is one Optuna class; `hydra.sweeper.sampler_args` / `pruner_args` are its constructor's
arguments (Optuna's documentation lists them), given as they are. An unknown name or argument
stops the search before any trial, with the list of what is accepted.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, List, Optional

# name -> the class's path in optuna (imported when chosen: CmaEsSampler needs the `cmaes`
# package, QMCSampler scipy).
SAMPLERS = {
    "tpe": "optuna.samplers.TPESampler",
    "random": "optuna.samplers.RandomSampler",
    "grid": "optuna.samplers.GridSampler",
    "cmaes": "optuna.samplers.CmaEsSampler",
    "qmc": "optuna.samplers.QMCSampler",
    "nsga2": "optuna.samplers.NSGAIISampler",
}
PRUNERS = {
    "median": "optuna.pruners.MedianPruner",
    "percentile": "optuna.pruners.PercentilePruner",
    "successive_halving": "optuna.pruners.SuccessiveHalvingPruner",
    "hyperband": "optuna.pruners.HyperbandPruner",
    "none": "optuna.pruners.NopPruner",
}
# What a bare name means in expkit (sampler_args/pruner_args override it): the median and
# percentile pruners judge a trial once two others have finished (Optuna waits for five, too
# many for a search of ten), after the warm-up epochs hydra.sweeper.pruner_warmup_epochs.
PRUNER_DEFAULTS: Dict[str, Callable[[int], Dict[str, Any]]] = {
    "median": lambda warmup: {"n_startup_trials": 2, "n_warmup_steps": warmup},
    "percentile": lambda warmup: {"percentile": 25.0, "n_startup_trials": 2, "n_warmup_steps": warmup},
}


class ChoiceError(ValueError):
    """A sampler or pruner that cannot be made, said for the person who chose it."""


def _class(table: Dict[str, str], kind: str, name: str) -> Any:
    from hydra.utils import get_class

    if name not in table:
        raise ChoiceError(f"hydra.sweeper.{kind}={name} is not one of Optuna's {kind}s expkit knows: "
                          f"{', '.join(table)}.")
    return get_class(table[name])


def _make(cls: Any, kind: str, name: str, args: Dict[str, Any]) -> Any:
    accepted = [p for p in inspect.signature(cls).parameters if p not in ("self", "args", "kwargs")]
    unknown = sorted(set(args) - set(accepted))
    if unknown:
        raise ChoiceError(f"hydra.sweeper.{kind}_args.{unknown[0]}: {cls.__name__} ({kind} {name}) takes no such "
                          f"argument; it accepts: {', '.join(accepted)}.")
    try:
        return cls(**args)
    except ImportError as err:
        raise ChoiceError(f"hydra.sweeper.{kind}={name} needs a package that is not installed ({err}); "
                          "pip install cmaes (or the package named) and run again.") from None
    except (TypeError, ValueError) as err:
        raise ChoiceError(f"hydra.sweeper.{kind}={name}: {cls.__name__} refused its arguments {args}: {err}") from None


def make_sampler(name: str, args: Dict[str, Any], seed: Optional[int], grid: Optional[Dict[str, List[Any]]]) -> Any:
    """The sampler `name` with `args`; `seed` unless args give one; the grid sampler gets `grid`."""
    cls = _class(SAMPLERS, "sampler", name)
    given = dict(args)
    if "seed" in inspect.signature(cls).parameters and seed is not None:
        given.setdefault("seed", seed)
    if name == "grid":
        given.setdefault("search_space", grid)
    return _make(cls, "sampler", name, given)


def make_pruner(name: str, args: Dict[str, Any], warmup: int) -> Any:
    cls = _class(PRUNERS, "pruner", name)
    given = {**PRUNER_DEFAULTS.get(name, lambda _: {})(warmup), **args}
    return _make(cls, "pruner", name, given)
