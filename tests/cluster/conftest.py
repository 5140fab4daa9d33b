"""The real two-node Slurm cluster of .ci/slurm/start-cluster.sh, for the tests of this folder.

Started once per session (idempotently: a cluster already up is used as it is). Without root or
Debian's slurm-wlm + munge these tests skip and say why; under CI=true they fail instead, since CI
installs the packages (.ci/run) and a skipped cluster test would prove nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _share_top_helpers() -> None:
    """Test modules import helpers with `from conftest import ...`, and pytest keeps one module
    named `conftest`: the last one it imported, this one for the folders collected after it. So
    this module also offers tests/conftest.py's helpers (not its fixtures, which pytest already
    has), loaded from its file under another name."""
    import importlib.util
    import inspect

    spec = importlib.util.spec_from_file_location("expkit_test_helpers", Path(__file__).parents[1] / "conftest.py")
    top = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(top)
    for name, value in vars(top).items():
        is_fixture = hasattr(value, "_pytestfixturefunction") or type(value).__name__ == "FixtureFunctionDefinition"
        if not name.startswith("_") and name not in globals() and not is_fixture and not inspect.ismodule(value):
            globals()[name] = value


_share_top_helpers()

REPO = Path(__file__).resolve().parents[2]
START = REPO / ".ci" / "slurm" / "start-cluster.sh"

# Small jobs on a machine of two cores: one CPU each, little memory (slurm.conf declares 8 GB a node).
SMALL_JOB = ["hydra/launcher=slurm", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1"]


def _unavailable_reason() -> str | None:
    if os.name != "posix" or os.geteuid() != 0:
        return "the test cluster needs root (slurmd runs the jobs)"
    missing = [tool for tool in ("slurmctld", "slurmd", "munged", "sbatch") if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} not installed (apt-get install slurm-wlm munge)"
    try:
        import hydra_plugins.hydra_submitit_launcher  # noqa: F401
    except ImportError:
        return "hydra-submitit-launcher not installed (pip install expkit[sweep])"
    return None


@pytest.fixture(scope="session")
def slurm_cluster() -> str:
    """The cluster's partition name, once `sinfo` shows both nodes idle."""
    in_ci = os.environ.get("CI", "").lower() == "true"
    reason = _unavailable_reason()
    if reason:
        if in_ci:
            pytest.fail(f"CI=true but the Slurm test cluster cannot run: {reason}")
        pytest.skip(reason)
    started = subprocess.run([str(START)], capture_output=True, text=True, timeout=180)
    if started.returncode != 0:
        message = f"{START} failed:\n{started.stdout}{started.stderr}"
        if in_ci:
            pytest.fail(message)
        pytest.skip(message)
    return "debug"


def squeue(*args: str) -> list[str]:
    """squeue's lines (no header) for the given arguments."""
    out = subprocess.run(["squeue", "-h", *args], capture_output=True, text=True, timeout=30, check=True)
    return [line for line in out.stdout.splitlines() if line.strip()]


def release_held(job_ids: set[str]) -> set[str]:
    """Slurm holds a requeued job for about two minutes (BeginTime in the future, reason
    BeginTime): start the given jobs now. Returns the job ids released."""
    released = set()
    for line in squeue("-t", "PENDING", "-o", "%i %r"):
        job, reason = line.split(None, 1)
        if job in job_ids and "BeginTime" in reason:
            subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], check=False, timeout=30)
            released.add(job)
    return released


def job_ids_of(sweep_dir: Path) -> list[str]:
    """The Slurm job ids of the jobs submitted from the sweep folder, from their submitit folders
    (`.submitit/<array>_<task>/`, or `.submitit/<id>/` for a submission of one job, which submitit
    does not send as an array), in submission order: for a new sweep, index = Hydra job number."""
    found = []
    for folder in (sweep_dir / ".submitit").glob("*"):
        match = re.fullmatch(r"(\d+)(?:_(\d+))?", folder.name)
        # `<array>/` itself holds the array's submission script, no job's log.
        if match and (folder / f"{folder.name}_0_log.out").is_file():
            found.append(((int(match.group(1)), int(match.group(2) or 0)), folder.name))
    return [name for _, name in sorted(found)]


def wait_until(condition, timeout: float, proc: subprocess.Popen | None = None, every: float = 1.0):
    """condition()'s first true value within `timeout` seconds (None if never; stops early if
    `proc` exits)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            return condition() or None
        time.sleep(every)
    return None


def python_env() -> dict[str, str]:
    """The environment a job inherits from the submitting shell (sbatch exports it): this
    checkout's expkit first on the path (and this folder, for slow_steps.py), one torch thread."""
    path = os.pathsep.join(p for p in [str(REPO / "src"), str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")] if p)
    return {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def start_sweep(args: list[str], cwd: Path) -> subprocess.Popen:
    """`expkit train -m ARGS` in the background, output captured."""
    return subprocess.Popen([sys.executable, "-m", "expkit", "train", "-m", *args], cwd=cwd, env=python_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)


def running_jobs(submitted_from: Path) -> list[str]:
    """The ids of the jobs Slurm runs now (state RUNNING, array tasks one by one) that were
    submitted from the folder `submitted_from` (a test's tmp_path: its own jobs only)."""
    lines = [line.split("|") for line in squeue("-r", "-t", "RUNNING", "-o", "%i|%Z")]
    return [job for job, workdir in lines if Path(workdir) == submitted_from]


def watch_running(proc: subprocess.Popen, submitted_from: Path) -> tuple[str, int, list[str]]:
    """Waits for the sweep command `proc`, asking squeue twice a second which of its jobs run.
    Returns its output, the most jobs seen running at once, and every job id seen running (in
    the order first seen)."""
    seen: list[str] = []
    most = 0
    try:
        while proc.poll() is None:
            running = running_jobs(submitted_from)
            most = max(most, len(running))
            seen += [job for job in running if job not in seen]
            try:
                proc.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                pass
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return out, most, seen
