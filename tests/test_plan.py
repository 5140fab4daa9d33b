"""The plan (`expkit.plan`): each component's `_target_` is resolved once per run, by validation,
and the run is built from that plan. (Hydra's `instantiate` still locates the `_target_` it
calls, under its own target policy; what is counted here is expkit's own resolution.)"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

import expkit
import expkit.plan

RUN = ["experiment=regression", "trainer.max_epochs=1", "callbacks.progress_bar=null", "test_after_fit=false"]


@pytest.fixture
def located(monkeypatch: pytest.MonkeyPatch) -> Counter:
    counts: Counter = Counter()
    real = expkit.plan.locate

    def counting(name: str):
        counts[name] += 1
        return real(name)

    monkeypatch.setattr(expkit.plan, "locate", counting)
    return counts


def test_validate_then_fit_resolves_each_target_once(tmp_path: Path, located: Counter):
    cfg = expkit.compose([*RUN, f"paths.output_root={tmp_path}"])
    plan = expkit.api.validate(cfg)
    assert set(plan.components) >= {"data", "model", "task", "optimizer", "trainer", "logger.tensorboard"}
    assert isinstance(plan.target("model"), type)
    result = expkit.fit(cfg, validated=True, plan=plan)  # as `expkit train` does
    assert result.status == "finished"
    assert located and set(located.values()) == {1}, located
    assert set(located) == {c.name for c in plan.components.values()}


@pytest.mark.slow
def test_fit_validates_and_builds_from_one_plan(tmp_path: Path, located: Counter):
    result = expkit.fit(expkit.compose([*RUN, f"paths.output_root={tmp_path}"]))
    assert result.status == "finished"
    assert located and set(located.values()) == {1}, located
