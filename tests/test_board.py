"""`expkit board`: TensorBoard on chosen runs under short names; the Custom Scalars charts."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import THREAD_ENV, run_cli


def test_custom_scalars_one_chart_per_metric_family():
    from expkit.run.tensorboard import custom_scalars_layout

    layout = custom_scalars_layout(["loss", "acc", "f1"])
    curves = layout["Curves"]
    assert list(curves) == ["loss: train and val", "acc: val", "f1: val"]
    tags = ["train/loss", "val/loss", "test/loss", "val/acc", "test/acc", "val/f1", "val/mae", "best/val/acc"]
    matched = {title: [t for t in tags if re.match(chart[1][0], t)] for title, chart in curves.items()}
    assert matched == {"loss: train and val": ["train/loss", "val/loss"], "acc: val": ["val/acc"], "f1: val": ["val/f1"]}
    assert list(layout["Best checkpoint (validation)"]) == ["best/val/loss", "best/val/acc", "best/val/f1"]


def test_board_on_a_folder_without_runs_is_refused(tmp_path, monkeypatch, capsys):
    from expkit.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    for path, says in (("missing", "does not exist"), ("empty", "No runs under empty")):
        assert main(["board", path, "--port", "0"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and says in err and "Traceback" not in err, err


def test_run_names_fall_back_to_the_folder_name(tmp_path):
    from expkit.runs.board import folder_name, run_names
    from expkit.runs.collect import RunRow

    rows = [RunRow(tmp_path / "2026-01-01_10-00-00"), RunRow(tmp_path / "2026-01-01_11-00-00")]
    assert run_names(rows) == ["2026-01-01_10-00-00", "2026-01-01_11-00-00"]  # nothing varies that they record
    assert folder_name("monitor.metric=val/mae") == "monitor.metric=val∕mae"


@pytest.mark.slow
def test_board_names_sweep_jobs_by_what_they_vary(tmp_path):
    sweep = run_cli("train", "-m", "experiment=regression", "optimizer.lr=0.05,0.2", "model=linear,mlp",
                    "trainer.max_epochs=1", "data.n_samples=64", "callbacks.progress_bar=null", cwd=tmp_path)
    assert sweep.returncode == 0, sweep.output
    (sweep_dir,) = (tmp_path / "outputs" / "regression" / "multirun").iterdir()
    env = {**os.environ, **THREAD_ENV, "PYTHONUNBUFFERED": "1"}
    board = subprocess.Popen([sys.executable, "-m", "expkit", "board", str(sweep_dir), "--port", "0"], cwd=tmp_path,
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = board.stdout.readline()
            assert line, board.stderr.read()
            lines.append(line)
            if "TensorBoard on" in line:
                break
        url = re.search(r"(http://\S+/)", lines[-1]).group(1)
        assert "TensorBoard on 4 runs" in lines[-1]
        expected = {f"model={m} optimizer.lr={lr}" for m in ("linear", "mlp") for lr in ("0.05", "0.2")}
        for _ in range(60):  # TensorBoard reads the event files in the background
            runs = set(json.loads(urllib.request.urlopen(url + "data/runs", timeout=10).read()))
            if runs == expected:
                break
            time.sleep(1)
        assert runs == expected
        tags = json.loads(urllib.request.urlopen(url + "data/plugin/scalars/tags", timeout=10).read())
        assert "val/loss" in tags["model=mlp optimizer.lr=0.2"]
    finally:
        board.send_signal(signal.SIGINT)
        assert board.wait(timeout=30) == 0
