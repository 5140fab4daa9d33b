"""The GPU code paths that a CPU machine can still check: pinned batches only for a CUDA
Trainer (Lightning then copies them with non_blocking=True), and mixed precision end to end
(bf16-mixed runs under CPU autocast through the same task and optimizer code)."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import expkit
from expkit.data.regression import RegressionDataModule


def datamodule_on(device: str | None) -> RegressionDataModule:
    dm = RegressionDataModule(n_samples=100, data_seed=0, batch_size=10)
    dm.setup()
    if device is not None:
        dm.trainer = SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device(device)))
    return dm


@pytest.mark.parametrize(("device", "pinned"), [("cuda", True), ("cuda:1", True), ("cpu", False), (None, False)])
def test_batches_are_pinned_only_for_a_cuda_trainer(device, pinned):
    dm = datamodule_on(device)
    for loader in (dm.train_dataloader(), dm.val_dataloader(), dm.test_dataloader()):
        assert loader.pin_memory is pinned


def test_lightning_copies_batches_to_cuda_without_blocking():
    """What pinning is for: Lightning's batch transfer passes non_blocking=True to every
    device but the CPU and MPS (checked on its own function, with a tensor that records the call)."""
    from lightning_fabric.utilities.apply_func import move_data_to_device

    calls = []

    class Recording(torch.Tensor):
        def to(self, *args, **kwargs):
            calls.append(kwargs)
            return self

    move_data_to_device(torch.zeros(2).as_subclass(Recording), torch.device("cuda"))
    assert calls and calls[-1].get("non_blocking") is True


@pytest.mark.slow
@pytest.mark.parametrize("workload", [
    ["experiment=regression", "trainer.max_epochs=2"],
    ["trainer=debug"],  # the DBpedia sample: sparse EmbeddingBag + LazyAdam under autocast
])
def test_bf16_mixed_precision_trains_to_finite_metrics(workload, tmp_path: Path):
    overrides = [*workload, "trainer=cpu" if "trainer=debug" not in workload else "trainer.accelerator=cpu",
                 "trainer.precision=bf16-mixed", "callbacks.progress_bar=null", "logger=none",
                 f"paths.output_root={tmp_path / 'outputs'}", f"paths.cache_dir={tmp_path / 'cache'}"]
    result = expkit.fit(expkit.compose(overrides), overrides=overrides)
    assert result.status == "finished"
    losses = {k: v for k, v in result.metrics.items() if k.endswith("/loss")}
    assert losses and all(math.isfinite(v) for v in losses.values()), losses
