"""`expkit runs`: the table of run folders, from one real run plus folders fabricated from it."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import socket
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml

from conftest import read_metrics, run_cli

# Every test here starts CLI processes or trains for real.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real_run(tmp_path_factory) -> tuple[Path, Path]:
    """One real `expkit train` run (the only slow step of this module): (cwd, run folder)."""
    cwd = tmp_path_factory.mktemp("real")
    result = run_cli("train", "experiment=regression", "trainer=debug", "trainer.max_epochs=2", "trainer.max_steps=-1", cwd=cwd)
    assert result.returncode == 0, result.output
    (run_dir,) = result.run_dirs("regression")
    return cwd, run_dir


def dead_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def make_run(template: Path, root: Path, rel: str, *, metrics: dict | None = None, metrics_text: str | None = None,
             overrides: list[str] | None = None, drop_metrics: bool = False, log: str | None = None) -> Path:
    """Copy the real run folder to `root/rel`, then edit its metrics.json/overrides/train.log."""
    run_dir = root / rel
    shutil.copytree(template, run_dir)
    # A fabricated run is dated by its folder name, not by the template's own start time.
    template_metrics = read_metrics(template)
    template_metrics.pop("started", None)
    (run_dir / "metrics.json").write_text(json.dumps(template_metrics))
    if drop_metrics:
        (run_dir / "metrics.json").unlink()
    elif metrics_text is not None:
        (run_dir / "metrics.json").write_text(metrics_text)
    elif metrics is not None:
        data = {**{k: v for k, v in read_metrics(template).items() if k != "started"}, **metrics}
        data = {k: v for k, v in data.items() if v is not None}
        (run_dir / "metrics.json").write_text(json.dumps(data))
    if overrides is not None:
        (run_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if log is not None:
        (run_dir / "train.log").write_text(log)
    elif drop_metrics:
        (run_dir / "train.log").unlink(missing_ok=True)
    return run_dir


@pytest.fixture(scope="module")
def zoo(real_run, tmp_path_factory) -> Path:
    """A working directory whose outputs/ holds runs of every kind; returns the working directory."""
    _, template = real_run
    cwd = tmp_path_factory.mktemp("zoo")
    out = cwd / "outputs"
    host = socket.gethostname()
    reg = ["experiment=regression", "trainer=debug", "paths.output_root=/elsewhere"]
    make_run(template, out, "regression/2026-01-01_10-00-00", overrides=[*reg, "optimizer.lr=0.01"],
             metrics={"best_score": 0.5, "wall_time_s": 10.0, "epochs_done": 3})
    make_run(template, out, "regression/2026-01-02_10-00-00", overrides=[*reg, "optimizer.lr=0.02"],
             metrics={"best_score": 0.1, "wall_time_s": 30.0, "epochs_done": 5})
    # No best_score: the final value of the monitored metric stands in.
    make_run(template, out, "regression/2026-01-03_10-00-00", overrides=[*reg, "optimizer.lr=0.03"],
             metrics={"status": "failed", "error": "RuntimeError: boom", "best_score": None, "val/loss": 0.3,
                      "wall_time_s": 20.0, "epochs_done": 1})
    make_run(template, out, "classify/2026-01-04_10-00-00", overrides=["experiment=classify"],
             metrics={"experiment": "classify", "monitor": "val/acc", "monitor_mode": "max", "best_score": 0.9,
                      "val/acc": 0.85})
    make_run(template, out, "classify/2026-01-05_10-00-00", overrides=["experiment=classify"],
             metrics={"experiment": "classify", "monitor": "val/acc", "monitor_mode": "max", "best_score": 0.7,
                      "val/acc": 0.7})
    make_run(template, out, "regression/2026-01-06_10-00-00",
             metrics={"status": "running", "pid": dead_pid(), "host": host})
    make_run(template, out, "regression/2026-01-07_10-00-00",
             metrics={"status": "running", "pid": os.getpid(), "host": host})
    make_run(template, out, "regression/2026-01-08_10-00-00",
             metrics={"status": "running", "pid": dead_pid(), "host": host + "-other-machine"})
    make_run(template, out, "regression/2026-01-09_10-00-00", metrics_text='{"status": "finished", "best_')
    make_run(template, out, "regression/2026-01-10_10-00-00", drop_metrics=True,
             log="[10:00:00][INFO] start\nTraceback (most recent call last):\nValueError: bad\n")
    make_run(template, out, "regression/2026-01-11_10-00-00", drop_metrics=True)
    for num, lr in enumerate(("0.1", "0.5")):
        make_run(template, out, f"regression/multirun/2026-01-12_10-00-00/{num}_optimizer.lr={lr}",
                 overrides=["experiment=regression", f"optimizer.lr={lr}", "paths.data_dir=/data"],
                 metrics={"best_score": 0.2 + num, "wall_time_s": 1.0 + num})
    make_run(template, out, "regression/multirun/2026-01-13_10-00-00/0_optimizer.lr=0.3",
             overrides=["experiment=regression", "optimizer.lr=0.3", "+optuna_trial.storage='sqlite:///x.db'",
                        "+optuna_trial.number=0"],
             metrics={"status": "pruned", "best_score": None, "val/loss": 0.8})
    # Inside a run folder: never listed as runs of their own.
    nested = out / "regression" / "2026-01-01_10-00-00" / "checkpoints"
    nested.mkdir(exist_ok=True)
    (nested / "metrics.json").write_text("{}")
    (out / "regression" / "notes").mkdir()
    return cwd


def runs(*args: str, cwd: Path):
    result = run_cli("runs", *args, cwd=cwd, timeout=60)
    assert "Traceback" not in result.output, result.output
    return result


def runs_json(*args: str, cwd: Path) -> list[dict]:
    result = runs(*args, "--format", "json", cwd=cwd)
    assert result.returncode == 0, result.output
    return json.loads(result.stdout)


def by_stamp(rows: list[dict]) -> dict[str, dict]:
    return {Path(row["run_dir"]).name: row for row in rows}


FIELDS = ["experiment", "overrides", "status", "monitor", "best", "epochs", "wall_time_s", "started", "run_dir"]


def test_the_real_run_is_one_row(real_run):
    cwd, run_dir = real_run
    metrics = read_metrics(run_dir)
    (row,) = runs_json(cwd=cwd)
    assert list(row) == FIELDS
    assert row["experiment"] == "regression"
    assert row["overrides"] == "experiment=regression trainer=debug trainer.max_epochs=2 trainer.max_steps=-1"
    assert row["status"] == "finished"
    assert row["monitor"] == "val/loss"
    # trainer=debug writes no checkpoint, hence no best_score: the final val/loss stands in.
    assert "best_score" not in metrics
    assert row["best"] == pytest.approx(metrics["val/loss"])
    assert row["epochs"] == metrics["epochs_done"] == 2
    assert row["wall_time_s"] == pytest.approx(metrics["wall_time_s"])
    # The table shows metrics.json's `started`: when training began, at or a few seconds after
    # the folder (named by its creation time) was made.
    assert row["started"] == metrics["started"]
    created = datetime.strptime(run_dir.name[:19], "%Y-%m-%d_%H-%M-%S")
    started = datetime.strptime(row["started"], "%Y-%m-%d %H:%M:%S")
    assert timedelta(0) <= started - created < timedelta(minutes=2)
    assert row["run_dir"] == f"outputs/regression/{run_dir.name}"


def test_table_format(real_run):
    cwd, run_dir = real_run
    result = runs(cwd=cwd)
    assert result.returncode == 0, result.output
    assert "Runs under outputs (1, experiment regression); run folders relative to outputs/regression" in result.stdout
    # One run: no parameter varies; the metric's header says its name and direction.
    for header in ("status", "val/loss ↓", "epochs", "wall time (s)", "started", "run folder"):
        assert f"┃ {header} " in result.stdout, header
    assert f"│ {run_dir.name} │" in result.stdout  # relative to the folder the title names (piped: one line)
    assert "finished" in result.stdout and "* the best run" in result.stdout


def test_path_argument_and_run_folder_relative_to_cwd(real_run, tmp_path):
    cwd, run_dir = real_run
    rows = runs_json(str(cwd / "outputs"), cwd=tmp_path)
    assert [r["run_dir"] for r in rows] == [str(run_dir.resolve())]  # outside the cwd: absolute
    rows = runs_json(f"outputs/regression/{run_dir.name}", cwd=cwd)  # PATH may be a run folder itself
    assert [r["run_dir"] for r in rows] == [f"outputs/regression/{run_dir.name}"]


def test_every_run_folder_is_found_and_no_deeper(zoo):
    rows = runs_json(cwd=zoo)
    names = sorted(Path(r["run_dir"]).name for r in rows)
    assert names == sorted(
        [f"2026-01-{day:02d}_10-00-00" for day in range(1, 12)]
        + ["0_optimizer.lr=0.1", "1_optimizer.lr=0.5", "0_optimizer.lr=0.3"]
    )
    assert not any("checkpoints" in r["run_dir"] or "tensorboard" in r["run_dir"] for r in rows)


def test_statuses(zoo):
    rows = by_stamp(runs_json(cwd=zoo))
    assert rows["2026-01-01_10-00-00"]["status"] == "finished"
    assert rows["2026-01-03_10-00-00"]["status"] == "failed"
    assert rows["2026-01-06_10-00-00"]["status"] == "interrupted"  # running, but its pid is gone here
    assert rows["2026-01-07_10-00-00"]["status"] == "running"  # its pid (this test process) is alive
    assert rows["2026-01-08_10-00-00"]["status"] == "running"  # another host: cannot tell
    assert rows["2026-01-10_10-00-00"]["status"] == "failed"  # Hydra files, train.log with a Traceback
    assert rows["2026-01-11_10-00-00"]["status"] == "created"  # Hydra files only


def test_damaged_metrics_json_is_unknown(zoo):
    result = runs(cwd=zoo)
    assert result.returncode == 0, result.output
    row = by_stamp(runs_json(cwd=zoo))["2026-01-09_10-00-00"]
    assert row["status"] == "unknown"
    assert row["experiment"] == "regression"  # from .hydra/config.yaml
    assert row["best"] is None and row["epochs"] is None


def test_fields_of_fabricated_runs(zoo):
    rows = by_stamp(runs_json(cwd=zoo))
    failed = rows["2026-01-03_10-00-00"]
    assert failed["best"] == pytest.approx(0.3)  # no best_score: final val/loss
    assert failed["overrides"] == "experiment=regression trainer=debug optimizer.lr=0.03"  # no paths.*
    assert failed["epochs"] == 1 and failed["wall_time_s"] == 20.0
    job = rows["1_optimizer.lr=0.5"]
    assert job["overrides"] == "experiment=regression optimizer.lr=0.5"
    assert job["started"] == "2026-01-12 10:00:00"  # the sweep's stamp
    assert job["run_dir"] == "outputs/regression/multirun/2026-01-12_10-00-00/1_optimizer.lr=0.5"
    pruned = rows["0_optimizer.lr=0.3"]
    assert pruned["status"] == "pruned"
    assert pruned["overrides"] == "experiment=regression optimizer.lr=0.3"  # no +optuna_trial.*
    assert runs_json("--status", "pruned", cwd=zoo) == [pruned]
    assert rows["2026-01-04_10-00-00"]["experiment"] == "classify"
    assert rows["2026-01-04_10-00-00"]["monitor"] == "val/acc"


def test_sort_started_is_newest_first_and_limit(zoo):
    rows = runs_json("--sort", "started", cwd=zoo)
    started = [r["started"] for r in rows]
    assert started == sorted(started, reverse=True)
    assert [Path(r["run_dir"]).name for r in rows[:3]] == [
        "0_optimizer.lr=0.3", "0_optimizer.lr=0.1", "1_optimizer.lr=0.5"]
    limited = runs_json("--sort", "started", "--limit", "3", cwd=zoo)
    assert limited == rows[:3]
    assert runs_json("--sort", "started", "--reverse", cwd=zoo) == rows[::-1]


def test_default_order_is_best_first_per_experiment(zoo):
    rows = runs_json(cwd=zoo)
    assert rows == runs_json("--sort", "metric", cwd=zoo)
    # Experiments in the order of their newest run; within one, best first, then runs without a value.
    order = list(dict.fromkeys(r["experiment"] for r in rows))
    assert [r["experiment"] for r in rows] == sorted((r["experiment"] for r in rows), key=order.index)
    for experiment in order:
        mine = [r for r in rows if r["experiment"] == experiment]
        values = [r["best"] for r in mine]
        known = [v for v in values if v is not None]
        assert values[:len(known)] == known
        mode = {r["monitor"] for r in mine if r["best"] is not None}
        assert known == (sorted(known, reverse=True) if mode == {"val/acc"} else sorted(known))


def test_sort_by_metric_respects_min_and_max(zoo):
    rows = runs_json("--sort", "metric", "--experiment", "regression", "--status", "finished", cwd=zoo)
    bests = [r["best"] for r in rows]
    assert bests == sorted(bests) and bests[0] == pytest.approx(0.1)  # val/loss: min, smallest first
    rows = runs_json("--sort", "metric", "--experiment", "classify", cwd=zoo)
    assert [r["best"] for r in rows] == [0.9, 0.7]  # val/acc: max, largest first
    regression = runs_json("--sort", "metric", "--experiment", "regression", cwd=zoo)
    values = [r["best"] for r in regression]
    first_missing = values.index(None)
    assert all(v is None for v in values[first_missing:])  # runs without a value come last


def test_other_sort_keys(zoo):
    walls = [r["wall_time_s"] for r in runs_json("--sort", "wall_time", "--status", "finished", cwd=zoo)]
    assert walls == sorted(walls, reverse=True)
    epochs = [r["epochs"] for r in runs_json("--sort", "epochs", "--status", "finished", cwd=zoo)]
    assert epochs == sorted(epochs, reverse=True)
    experiments = [r["experiment"] for r in runs_json("--sort", "experiment", cwd=zoo)]
    assert experiments == sorted(experiments)
    statuses = [r["status"] for r in runs_json("--sort", "status", cwd=zoo)]
    assert statuses[0] == "running" and statuses[-1] == "unknown"


def test_filters(zoo):
    assert {r["experiment"] for r in runs_json("--experiment", "classify", cwd=zoo)} == {"classify"}
    assert len(runs_json("--experiment", "class*", cwd=zoo)) == 2
    both = runs_json("--experiment", "classify", "--experiment", "regression", cwd=zoo)
    assert len(both) == len(runs_json(cwd=zoo))
    rows = runs_json("--status", "failed", "--status", "interrupted", cwd=zoo)
    assert sorted(Path(r["run_dir"]).name for r in rows) == [
        "2026-01-03_10-00-00", "2026-01-06_10-00-00", "2026-01-10_10-00-00"]


def test_csv_format(zoo):
    result = runs("--format", "csv", "--sort", "metric", "--experiment", "classify", cwd=zoo)
    assert result.returncode == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == FIELDS
    assert [float(r["best"]) for r in rows] == [0.9, 0.7]
    assert rows[0]["run_dir"] == "outputs/classify/2026-01-04_10-00-00"
    created = runs("--format", "csv", "--status", "created", cwd=zoo).stdout
    (row,) = csv.DictReader(io.StringIO(created))
    assert row["best"] == "" and row["monitor"] == ""  # missing values are empty cells


def test_markdown_format(zoo):
    result = runs("--format", "md", "--experiment", "classify", "--sort", "started", cwd=zoo)
    assert result.returncode == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "| experiment | overrides | status | metric | best | epochs | wall time (s) | started | run folder |"
    assert lines[1] == "|---|---|---|---|---|---|---|---|---|"
    assert len(lines) == 4
    cells = [c.strip() for c in lines[2].strip("|").split("|")]
    assert cells[0] == "classify" and cells[2] == "finished" and cells[3] == "val/acc"
    assert cells[-1] == "outputs/classify/2026-01-05_10-00-00"


def test_no_runs(tmp_path):
    (tmp_path / "outputs").mkdir()
    result = runs(cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout == ""
    assert result.stderr.strip() == "No runs under outputs"


def test_filters_that_match_nothing(zoo):
    result = runs("--experiment", "nothing-like-this", cwd=zoo)
    assert result.returncode == 0
    assert result.stdout == ""
    assert result.stderr.startswith("No runs under outputs")


def test_missing_folder(tmp_path):
    result = runs(cwd=tmp_path)
    assert result.returncode == 2
    assert "outputs does not exist" in result.stderr
    assert "outputs/" in result.stderr and "expkit train" in result.stderr
    result = runs("no/such/place", cwd=tmp_path)
    assert result.returncode == 2 and "no/such/place does not exist" in result.stderr


def test_bad_options(tmp_path):
    assert runs("--sort", "loss", cwd=tmp_path).returncode == 2
    assert runs("--limit", "0", cwd=tmp_path).returncode == 2
    assert runs("--format", "xml", cwd=tmp_path).returncode == 2


def test_listed_in_expkit_help(tmp_path):
    result = run_cli("--help", cwd=tmp_path)
    assert "runs" in result.stdout and "List runs under the outputs root" in result.stdout


def test_table_module_reusable_without_the_cli(zoo):
    """What a sweep summary needs: read job folders, render csv/md with extra metric columns."""
    from expkit.runs import table
    from expkit.runs.collect import read_runs
    from expkit.runs.columns import COLUMNS, metric_column
    from expkit.runs.sorting import sort_rows

    sweep = zoo / "outputs" / "regression" / "multirun" / "2026-01-12_10-00-00"
    rows = sort_rows(read_runs(sweep), key="metric")
    assert [r.run_dir.name for r in rows] == ["0_optimizer.lr=0.1", "1_optimizer.lr=0.5"]
    columns = [*COLUMNS[:3], metric_column("test/loss")]
    parsed = list(csv.DictReader(io.StringIO(table.render_csv(rows, columns))))
    assert list(parsed[0]) == ["experiment", "overrides", "status", "test/loss"]
    assert float(parsed[0]["test/loss"]) == pytest.approx(rows[0].metrics["test/loss"])
    assert table.render_markdown(rows, columns).splitlines()[0] == "| experiment | overrides | status | test/loss |"
