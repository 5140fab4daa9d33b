"""kill -9 while a checkpoint is being written: nothing unloadable, and the next start cleans up."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import torch

from conftest import THREAD_ENV, read_metrics, run_cli
from expkit.run.checkpoint_files import TEMP_PATTERN

# Every test here starts CLI processes or trains for real.
pytestmark = pytest.mark.slow

# The DBpedia sample's checkpoints hold ~100 MB (embedding + Adam moments): each write takes
# long enough for the poll below to see its temp file and kill the process in the middle of it.
EPOCHS = 3


def _kill_during_a_write(cwd, deadline_s: float = 240):
    """Start `expkit train`, wait for last.ckpt, then SIGKILL it while a later write is under way."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **THREAD_ENV}
    proc = subprocess.Popen(
        [sys.executable, "-m", "expkit", "train", f"trainer.max_epochs={EPOCHS}", "callbacks.progress_bar=null"],
        cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + deadline_s
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            dirs = list(cwd.glob("outputs/*/*/checkpoints"))
            if dirs and (dirs[0] / "last.ckpt").exists() and list(dirs[0].glob(TEMP_PATTERN)):
                proc.kill()
                proc.wait(timeout=30)
                return dirs[0].parent
            time.sleep(0.001)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    pytest.fail(f"no checkpoint write was caught before the run ended (exit {proc.returncode}): "
                f"{proc.stderr.read().decode()[-2000:]}")


def test_kill_during_a_checkpoint_write_leaves_loadable_checkpoints_and_no_temp_after_restart(tmp_path):
    run_dir = _kill_during_a_write(tmp_path)
    ckpt_dir = run_dir / "checkpoints"
    strays = list(ckpt_dir.glob(TEMP_PATTERN))
    assert strays, "the kill was meant to land while a temp file was being written"
    # Every checkpoint under its real name is whole: the partial write is only in the temp file.
    for path in ckpt_dir.glob("*.ckpt"):
        torch.load(path, map_location="cpu", weights_only=True)
    killed_epoch = torch.load(ckpt_dir / "last.ckpt", map_location="cpu", weights_only=True)["epoch"]

    resumed = run_cli("resume", str(run_dir), cwd=tmp_path, timeout=300)
    assert resumed.returncode == 0, resumed.output
    assert not list(ckpt_dir.glob(TEMP_PATTERN)), "the next start removes the killed write's temp file"
    assert "killed before it finished" in resumed.output
    last = torch.load(ckpt_dir / "last.ckpt", map_location="cpu", weights_only=True)
    assert killed_epoch < EPOCHS - 1 == last["epoch"]
    metrics = read_metrics(run_dir)
    assert metrics["status"] == "finished" and metrics["epochs_done"] == EPOCHS
    assert (run_dir / metrics["best_checkpoint"]).is_file()
