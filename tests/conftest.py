"""Shared test helpers: run the real `expkit` CLI in a subprocess and read what it wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

REPO = Path(__file__).resolve().parents[1]

# The suite runs two pytest workers on two cores (pytest -n 2): every torch process keeps to one
# thread, or OpenMP's spinning threads slow each other down by 10x.
THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
os.environ.update(THREAD_ENV)


class CLIResult:
    def __init__(self, proc: subprocess.CompletedProcess, cwd: Path) -> None:
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.cwd = cwd

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def run_dirs(self, experiment: str = "regression") -> list[Path]:
        root = self.cwd / "outputs" / experiment
        return sorted(p for p in root.iterdir() if p.is_dir() and p.name != "multirun") if root.is_dir() else []


def run_cli(*args: str, cwd: Path, timeout: float = 300, env: dict | None = None) -> CLIResult:
    """`python -m expkit ARGS` in `cwd`, as a user would type it."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **THREAD_ENV, **(env or {})}
    full_env.pop("HYDRA_FULL_ERROR", None)
    # pytest's terminal sets COLUMNS for its workers; a piped user command has none (one line a row).
    if "COLUMNS" not in (env or {}):
        full_env.pop("COLUMNS", None)
        full_env.pop("LINES", None)
    proc = subprocess.run(
        [sys.executable, "-m", "expkit", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        stdin=subprocess.DEVNULL,
    )
    return CLIResult(proc, cwd)


# A training run that a test interrupts (signal, deletion, a second command): far more epochs,
# each of 400 small steps, than the test waits for, so whatever it does lands mid-training.
LONG_TRAINING = ["experiment=regression", "trainer=cpu", "callbacks.progress_bar=null", "data.n_samples=2000",
                 "data.batch_size=4", "trainer.max_epochs=100"]


def start_training(args: list[str], cwd: Path, env: dict | None = None, **popen) -> subprocess.Popen:
    """`expkit train ARGS` in the background (one torch thread, unbuffered output)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **THREAD_ENV, **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "expkit", "train", *args], cwd=cwd, env=env,
                            stdin=subprocess.DEVNULL, text=True, **popen)


def has_last_checkpoint(run_dir: Path) -> bool:
    return (run_dir / "checkpoints" / "last.ckpt").is_file()


def wait_for_run(proc: subprocess.Popen, cwd: Path, ready: Callable[[Path], bool] = has_last_checkpoint,
                 timeout: float = 150) -> Path | None:
    """The first run folder under cwd/outputs/<experiment>/ for which `ready` holds (by default:
    its first epoch's last.ckpt is written), while `proc` still runs; None after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        for run_dir in sorted((cwd / "outputs").glob("*/*")):
            if run_dir.is_dir() and ready(run_dir):
                return run_dir
        time.sleep(0.1)
    return None


def read_metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def read_scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar TensorBoard holds for the run: tag -> [(step, value), ...]."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from expkit.run.folder import RunFolder

    acc = EventAccumulator(str(RunFolder(run_dir).tensorboard_dir), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """An empty working directory for one CLI run (outputs/ lands inside it)."""
    return tmp_path


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("session")
