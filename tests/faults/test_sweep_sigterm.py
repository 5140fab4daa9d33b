"""SIGTERM to the process of a joblib sweep: the message says what each job kept and how to
continue, and continuing resumes the jobs from their last.ckpt.

The fault (issue 22): the sweep's process said "before training started; nothing was kept"
while two jobs had 4-7 epochs saved."""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
import time

import pytest

from conftest import LONG_TRAINING, read_metrics, start_training


@pytest.mark.slow
def test_sigterm_to_a_joblib_sweep_says_what_each_job_kept(tmp_path):
    sweep = tmp_path / "sweep"
    args = ["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "logger=none", *LONG_TRAINING,
            "seed=1,2", f"hydra.sweep.dir={sweep}"]
    proc = start_training(args, tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while len(list(sweep.glob("*/checkpoints/last.ckpt"))) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert len(list(sweep.glob("*/checkpoints/last.ckpt"))) == 2, "both jobs should have saved an epoch"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 143, err[-3000:]
    assert "Traceback" not in err and "nothing was kept" not in err
    (line,) = [line for line in err.splitlines() if line.startswith("interrupted by SIGTERM")]
    assert f"the sweep {sweep} stopped; kept: " in line, line
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert len(jobs) == 2 and ",seed=1," in jobs[0].name and ",seed=2," in jobs[1].name
    for job in jobs:
        said = int(re.search(rf"{re.escape(job.name)} \((\d+) epoch\(s\) done, checkpoints/last.ckpt kept\)", line).group(1))
        assert said >= 1 and read_metrics(job)["epochs_done"] >= said
    command = line.split("Continue it (finished jobs are skipped, the others resume from last.ckpt): ", 1)[1]
    words = shlex.split(command)
    assert words[:3] == ["expkit", "train", "-m"] and f"hydra.sweep.dir={sweep}" in words and "seed=1,2" in words


def test_the_message_says_per_job_what_continuing_will_do(tmp_path):
    """Finished jobs are skipped, interrupted ones resume from last.ckpt, failed ones and ones
    without a checkpoint start again; the continue command is the sweep's own (multirun.yaml)."""
    import json

    import yaml

    from expkit.runs.sweep import SWEEP_CONFIG, sweep_kept_message

    sweep = tmp_path / "sweep"
    jobs = {"0_lr=1": ("finished", 3, True), "1_lr=2": ("running", 4, True), "2_lr=3": ("failed", 2, True),
            "10_lr=4": ("running", 0, False)}
    for name, (status, epochs, checkpoint) in jobs.items():
        (sweep / name / "checkpoints").mkdir(parents=True)
        (sweep / name / "metrics.json").write_text(json.dumps({"status": status, "epochs_done": epochs}))
        if checkpoint:
            (sweep / name / "checkpoints" / "last.ckpt").write_bytes(b"")
    (sweep / SWEEP_CONFIG).write_text(yaml.safe_dump({"hydra": {"overrides": {"hydra": ["hydra.mode=MULTIRUN"],
                                                                              "task": ["lr=1,2,3,4"]}}}))
    assert sweep_kept_message(sweep) == (
        f"the sweep {sweep} stopped; kept: 0_lr=1 finished; 1_lr=2 (4 epoch(s) done, checkpoints/last.ckpt kept); "
        f"starting again: 2_lr=3, 10_lr=4. Continue it (finished jobs are skipped, the others resume from last.ckpt): "
        f"expkit train -m lr=1,2,3,4 hydra.sweep.dir={sweep}"
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    assert sweep_kept_message(empty).startswith(f"the sweep {empty} stopped; no job had saved a checkpoint. Continue it")
