"""What a run prints (issue "Reviewing runs at a glance", item 5): the config in a few lines, the
model in one, no library hints that do not apply, epochs counted alike in the bar, the log and the
checkpoint names, and log lines that never land on the progress bar's line."""

from __future__ import annotations

import os
import re
import stat

import pytest

from conftest import read_metrics, run_cli


@pytest.mark.slow
def test_a_run_prints_little_and_counts_epochs_alike(tmp_path):
    # A machine with Slurm installed (an `srun` on PATH) but a run outside any Slurm job: Lightning
    # would print its "prepend srun" hint twice.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    srun = bin_dir / "srun"
    srun.write_text("#!/bin/sh\nexit 0\n")
    srun.chmod(srun.stat().st_mode | stat.S_IEXEC)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "COLUMNS": "100"}
    env.update({k: "" for k in os.environ if k.startswith("SLURM_")})
    result = run_cli("train", "experiment=regression", "model=mlp", "trainer.max_epochs=2", "data.n_samples=200",
                     "callbacks.progress_bar.refresh_rate=1", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.output
    out = result.output
    assert "srun" not in out and "FLOPs" not in out and "model summary callbacks" not in out
    # The config: the chosen options and the overrides, not the whole tree.
    lines = out.splitlines()
    (config,) = [line for line in lines if line.startswith("Config: ")]
    assert "model=mlp" in config and "experiment=regression" in config and "hydra" not in config
    assert "Overrides: experiment=regression model=mlp trainer.max_epochs=2 data.n_samples=200" in out
    assert "_target_" not in out and "None/checkpoints" not in out
    assert len([line for line in out.replace("\r", "\n").splitlines() if line.strip() and "it/s]" not in line
                and "Epoch " not in line]) < 40
    assert re.search(r"Model: MLPRegressor, [\d.]+( K)? parameters \([\d.]+( K)? trainable\)", out), out
    assert "epoch 2/2" in out
    (run_dir,) = result.run_dirs()
    # The best checkpoint is named by the log's count: the epoch it holds (Lightning's, from 0) + 1.
    import torch

    best = read_metrics(run_dir)["best_checkpoint"]
    epoch = torch.load(run_dir / best, map_location="cpu", weights_only=True)["epoch"]
    assert best == f"checkpoints/best-epoch{epoch + 1:03d}.ckpt"
    assert f"epoch {epoch + 1}/2" in out


def test_the_bar_counts_epochs_from_one():
    from types import SimpleNamespace

    from expkit.run.console import epoch_label

    assert epoch_label(SimpleNamespace(current_epoch=0, max_epochs=5)) == "Epoch 1/5"
    assert epoch_label(SimpleNamespace(current_epoch=4, max_epochs=5)) == "Epoch 5/5"  # the log's `epoch 5/5`
    assert epoch_label(SimpleNamespace(current_epoch=2, max_epochs=-1)) == "Epoch 3"  # open-ended


def drawn_over(text: str, message: str) -> tuple[str, str]:
    """(what was on the terminal line just before `message` was written, what was last drawn
    on that line before it), from a stream's raw text with its carriage returns."""
    line = next(line for line in text.split("\n") if message in line)
    pieces = line.split("\r")
    index = next(i for i, p in enumerate(pieces) if message in p)
    same_piece = pieces[index].split(message)[0]  # drawn and not wiped: the message follows it
    return (same_piece or (pieces[index - 1] if index else "")), "".join(pieces[:index]) + same_piece


def test_log_lines_never_land_on_the_bars_line():
    import io
    import logging

    from tqdm import tqdm

    from expkit.logs import BarAwareHandler

    for handler_class, clean in ((BarAwareHandler, True), (logging.StreamHandler, False)):
        stream = io.StringIO()
        bar = tqdm(total=10, file=stream, desc="Epoch 1/3", ncols=60)
        bar.update(3)
        handler = handler_class(stream)
        handler.setFormatter(logging.Formatter("[%(levelname)s] %(message)s"))
        logger = logging.getLogger(f"expkit.test.{handler_class.__name__}")
        logger.propagate = False
        logger.addHandler(handler)
        logger.warning("epoch 1/3 val/loss=0.5")
        bar.close()
        just_before, line_before = drawn_over(stream.getvalue(), "[WARNING] epoch 1/3")
        if clean:
            # The bar was drawn on that line, then wiped with spaces; the log line starts afresh.
            assert "Epoch 1/3" in line_before and just_before.strip() == "" and len(just_before) >= 30
        else:  # what a plain handler does: the log line lands at the end of the bar's
            assert "Epoch 1/3" in just_before
