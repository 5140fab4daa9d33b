"""Hydra's sweep overrides as Optuna distributions, with Hydra's own meaning of each.

`choice(a, b)` and `shuffle(...)`: the values as given. `range(start, stop, step)`: the values
Hydra's basic sweeper runs (stop excluded, floats included: `range(0, 1, step=0.3)` is 0, 0.3,
0.6, 0.9). `interval(a, b)`: every value between; `tag(log, interval(a, b))` on a log scale.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Dict, List

from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep


class SearchSpaceError(ValueError):
    """A search-space entry Optuna cannot search, said for the person who wrote it."""


def to_distribution(override: Override) -> Any:
    """A Hydra sweep override (choice/range/interval, optionally tagged `log`) as an Optuna distribution."""
    import optuna.distributions as d

    value = override.value()
    line = override.input_line
    if isinstance(value, ChoiceSweep) or (isinstance(value, RangeSweep) and value.shuffle):
        return d.CategoricalDistribution(list(override.sweep_iterator(transformer=lambda x: x)))
    if isinstance(value, RangeSweep):
        values = list(override.sweep_iterator(transformer=lambda x: x))
        if not values:
            raise SearchSpaceError(f"{line}: the range holds no value (Hydra's range excludes its stop).")
        step = abs(value.step)
        if all(isinstance(x, int) for x in (value.start, value.stop, value.step)):
            return d.IntDistribution(min(values), max(values), step=int(step))
        # The last value computed in decimal, as Optuna checks (high - low) against the step:
        # Hydra's own running sum (0.8999999999999999 for range(0, 1, step=0.3)) would make Optuna
        # drop the last value with a warning.
        start, dstep = Decimal(str(value.start)), Decimal(str(step))
        ends = [float(start), float(start + (len(values) - 1) * dstep * (1 if value.step > 0 else -1))]
        return d.FloatDistribution(min(ends), max(ends), step=float(step))
    if isinstance(value, IntervalSweep):
        log_scale = "log" in value.tags
        if isinstance(value.start, int) and isinstance(value.end, int):
            return d.IntDistribution(value.start, value.end, log=log_scale)
        return d.FloatDistribution(float(value.start), float(value.end), log=log_scale)
    raise SearchSpaceError(f"{line}: not a sweep the Optuna sweeper understands: use choice(...), range(...) or "
                           "interval(...), optionally tag(log, interval(...)).")


def grid_values(key: str, distribution: Any) -> List[Any]:
    """Every value of a distribution, for the grid sampler: choices, or the steps of a range."""
    import optuna.distributions as d

    if isinstance(distribution, d.CategoricalDistribution):
        return list(distribution.choices)
    if isinstance(distribution, d.IntDistribution) and not distribution.log:
        return list(range(distribution.low, distribution.high + 1, distribution.step))
    if isinstance(distribution, d.FloatDistribution) and distribution.step is not None:
        low, step = Decimal(str(distribution.low)), Decimal(str(distribution.step))
        count = int((Decimal(str(distribution.high)) - low) / step) + 1
        return [float(low + i * step) for i in range(count)]
    raise SearchSpaceError(f"{key}: the grid sampler runs every value of each key, and an interval has no list of "
                           "values: give it as choice(...) or range(start, stop, step=...).")


def grid_space(space: Dict[str, Any]) -> Dict[str, List[Any]]:
    return {key: grid_values(key, distribution) for key, distribution in space.items()}
