#!/usr/bin/env python
"""`make gpu-check`: what expkit does on an NVIDIA GPU, in one call, as one table.

On a machine with a GPU (torch.cuda.is_available()), each check runs the real CLI in a
subprocess, in a temporary folder:

1. the default experiment (dbpedia_sample) with `trainer=gpu`, one epoch;
2. `experiment=digits trainer=gpu`, two epochs;
3. the same with `trainer.precision=bf16-mixed` (skipped, and said so, where the card has no bf16);
4. `expkit predict <digits run> <image> --compile` (torch.compile on the GPU);
5. steady-state training samples/s of experiment=digits under expkit (from its TensorBoard
   `train/loss` events, logged every step, epochs after the first) against a plain PyTorch loop
   over the same LightningModule, data loader and optimizer on the same GPU, in the same call.

It prints one Markdown table (card, driver, torch, Lightning, CUDA; then each check's status,
wall time and numbers) and writes it to benchmarks/results/gpu_check.md. Without a GPU it says
so and exits 0 without a number: nothing is measured on the CPU in its place.

Usage:  python benchmarks/gpu_check.py [--epochs 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "gpu_check.md"


def gpu_or_reason() -> str | None:
    """None when an NVIDIA GPU is usable, else why not."""
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if not torch.cuda.is_available():
        return (f"no NVIDIA GPU visible to torch {torch.__version__} (torch.cuda.is_available() is False; "
                f"CUDA build: {torch.version.cuda or 'none, a CPU-only wheel'})")
    return None


def versions() -> dict[str, str]:
    import pytorch_lightning
    import torch

    props = torch.cuda.get_device_properties(0)
    driver = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                            capture_output=True, text=True).stdout.strip() or "?"
    return {"card": f"{props.name} ({props.total_memory / 2**30:.0f} GiB)", "driver": driver,
            "CUDA": str(torch.version.cuda), "torch": torch.__version__, "Lightning": pytorch_lightning.__version__,
            "bf16": str(torch.cuda.is_bf16_supported())}


def cli(args: list[str], cwd: Path, timeout: int = 900) -> tuple[subprocess.CompletedProcess, float]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    start = time.time()
    proc = subprocess.run([sys.executable, "-m", "expkit", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    return proc, time.time() - start


def run_folder(root: Path, experiment: str) -> Path | None:
    runs = sorted(p for p in (root / "outputs" / experiment).glob("*") if (p / "metrics.json").is_file())
    return runs[-1] if runs else None


def metrics_of(run: Path | None) -> dict:
    import json

    return json.loads((run / "metrics.json").read_text()) if run else {}


def train_check(name: str, args: list[str], experiment: str, key: str, tmp: Path) -> tuple[dict, Path | None]:
    proc, wall = cli(["train", *args], tmp)
    run = run_folder(tmp, experiment) if proc.returncode == 0 else None
    metrics = metrics_of(run)
    shown = f"{key}={metrics[key]:.4f}" if key in metrics else (proc.stderr.strip().splitlines() or ["?"])[-1][:120]
    return {"check": name, "status": metrics.get("status", f"exit {proc.returncode}"), "wall s": f"{wall:.1f}",
            "result": shown}, run


def expkit_samples_per_s(run: Path, batch_size: int) -> float | None:
    """Steps per second between consecutive train/loss events of the epochs after the first."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run), size_guidance={"scalars": 0})
    acc.Reload()
    events = acc.Scalars("train/loss")
    epochs = acc.Scalars("epoch") if "epoch" in acc.Tags()["scalars"] else []
    first_epoch_end = epochs[0].step if epochs else len(events) // 3
    later = [e for e in events if e.step > first_epoch_end]
    if len(later) < 10:
        return None
    steps = later[-1].step - later[0].step
    seconds = later[-1].wall_time - later[0].wall_time
    return steps * batch_size / seconds if seconds > 0 else None


def plain_samples_per_s(overrides: list[str], epochs: int) -> float:
    """The same LightningModule, data and optimizer in a plain loop on the GPU: forward through
    training_step, backward, step; timed over the epochs after the first (CUDA synchronized)."""
    import torch

    import expkit
    from expkit.components import build_datamodule, build_task

    cfg = expkit.compose(overrides)
    dm = build_datamodule(cfg)
    dm.prepare_data()
    dm.setup("fit")
    task = build_task(cfg, dm).cuda()
    optimizers = task.configure_optimizers()
    optimizer = optimizers["optimizer"] if isinstance(optimizers, dict) else (
        optimizers[0][0] if isinstance(optimizers, tuple) else optimizers[0] if isinstance(optimizers, list) else optimizers)
    loader = dm.train_dataloader()
    samples, seconds = 0, 0.0
    for epoch in range(epochs):
        torch.cuda.synchronize()
        start = time.perf_counter()
        count = 0
        for i, batch in enumerate(loader):
            batch = [t.cuda(non_blocking=True) if torch.is_tensor(t) else t for t in batch]
            loss = task.training_step(batch, i)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            count += len(batch[0])
        torch.cuda.synchronize()
        if epoch > 0:
            samples, seconds = samples + count, seconds + time.perf_counter() - start
    return samples / seconds


def first_image(tmp: Path) -> Path | None:
    images = sorted(p for p in tmp.rglob("*.png"))
    return images[0] if images else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    reason = gpu_or_reason()
    if reason:
        print(f"gpu-check: {reason}. Nothing was measured; run `make gpu-check` on a machine with an NVIDIA GPU.")
        return 0
    info = versions()
    rows = []
    with tempfile.TemporaryDirectory(prefix="expkit-gpu-") as name:
        tmp = Path(name)
        cache = [f"paths.cache_dir={tmp / 'cache'}"]
        row, _ = train_check("default experiment, trainer=gpu", ["trainer=gpu", "trainer.max_epochs=1", *cache],
                             "dbpedia_sample", "val/acc", tmp)
        rows.append(row)
        digits = ["experiment=digits", "trainer=gpu", f"trainer.max_epochs={args.epochs}",
                  "trainer.log_every_n_steps=1", *cache]
        row, digits_run = train_check("experiment=digits, trainer=gpu", digits, "digits", "val/acc", tmp)
        rows.append(row)
        if info["bf16"] == "True":
            row, _ = train_check("experiment=digits, bf16-mixed", [*digits, "trainer.precision=bf16-mixed"], "digits",
                                 "val/acc", tmp)
        else:
            row = {"check": "experiment=digits, bf16-mixed", "status": "skipped", "wall s": "",
                   "result": "this card has no bf16"}
        rows.append(row)
        image = first_image(tmp / "cache")
        if digits_run is not None and image is not None:
            proc, wall = cli(["predict", str(digits_run), str(image), "--compile"], tmp)
            rows.append({"check": "predict --compile (digits)", "status": "ok" if proc.returncode == 0 else
                         f"exit {proc.returncode}", "wall s": f"{wall:.1f}",
                         "result": (proc.stdout.strip().splitlines() or proc.stderr.strip().splitlines() or ["?"])[-1][:120]})
        else:
            rows.append({"check": "predict --compile (digits)", "status": "not run", "wall s": "",
                         "result": "no digits run or no image in the cache"})
        if digits_run is not None:
            import yaml

            resolved = yaml.safe_load((digits_run / ".hydra" / "resolved.yaml").read_text())
            batch = int(resolved["data"]["batch_size"])
            ours = expkit_samples_per_s(digits_run, batch)
            plain = plain_samples_per_s(["experiment=digits", *cache], args.epochs)
            ratio = f"{ours / plain:.2f}x the plain loop" if ours else "too few steps to time"
            rows.append({"check": "digits samples/s: expkit vs plain loop", "status": "ok", "wall s": "",
                         "result": f"{ours or 0:,.0f} vs {plain:,.0f} ({ratio})"})
    lines = [" | ".join(f"{k}: {v}" for k, v in info.items()), "",
             "| check | status | wall s | result |", "|---|---|---|---|"]
    lines += [f"| {r['check']} | {r['status']} | {r['wall s']} | {r['result']} |" for r in rows]
    text = "\n".join(lines)
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text + "\n")
    return 0 if all(r["status"] in ("finished", "ok", "skipped") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
