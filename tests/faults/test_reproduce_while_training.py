"""`reproduce --check` of a run that is still training (issue 22): refused, saying the run is still
training (its folder's lock names the process), instead of "metrics differ" against numbers that
are not final."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import LONG_TRAINING, THREAD_ENV, run_cli, start_training, wait_for_run
from inprocess import cli, finished_run  # noqa: F401 - finished_run is a fixture

from expkit.run.folder import RunFolder


def refused(result, *fragments):
    assert result.returncode == 2, result.output
    assert "Traceback" not in result.output and "metrics differ" not in result.output
    message = result.stderr.strip()
    assert message.startswith("error: ") and "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message


def test_check_while_the_run_holds_its_lock_is_refused(finished_run, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    with RunFolder(run_dir).exclusive("resume"):
        result = cli("reproduce", str(run_dir), "--check", cwd=tmp_path, monkeypatch=monkeypatch)
    refused(result, f"{run_dir} is still training (process {os.getpid()} (resume, since", "Wait for it to end")
    assert not (tmp_path / "outputs").exists(), "a reproduction was trained anyway"
    assert not (run_dir / ".expkit.lock").exists()


def test_check_of_a_run_killed_while_running_is_refused(finished_run, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    (run_dir / "metrics.json").write_text(json.dumps({**metrics, "status": "running"}))
    refused(cli("reproduce", str(run_dir), "--check", cwd=tmp_path, monkeypatch=monkeypatch),
            "says `running` but no process is training it", f"expkit resume {run_dir}")
    assert not (tmp_path / "outputs").exists()


def test_holder_only_looks(finished_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    folder = RunFolder(run_dir)
    assert folder.holder() is None and not (run_dir / ".expkit.lock").exists()
    with folder.exclusive("train"):
        assert folder.holder().startswith(f"process {os.getpid()} (train, since")
    assert folder.holder() is None


@pytest.mark.slow
def test_cli_reproduce_check_while_resume_trains(tmp_path):
    first = run_cli("train", "logger=none", *LONG_TRAINING[:-1], "trainer.max_epochs=1", cwd=tmp_path)
    assert first.returncode == 0, first.output[-3000:]
    (run_dir,) = first.run_dirs()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **THREAD_ENV}
    proc = subprocess.Popen([sys.executable, "-m", "expkit", "resume", str(run_dir), "trainer.max_epochs=100"],
                            cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        training = wait_for_run(proc, tmp_path, ready=lambda d: json.loads((d / "metrics.json").read_text()).get(
            "status") == "running" and (d / ".expkit.lock").exists())
        assert training == run_dir, "the resume did not start training"
        result = run_cli("reproduce", str(run_dir), "--check", cwd=tmp_path)
        assert proc.poll() is None, "the resume ended before the check was tried"
        refused(result, f"is still training (process {proc.pid} (resume, since")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == 143, err[-2000:]
    assert first.run_dirs() == [run_dir], "reproduce made a folder"
