"""Run tables for people and programs: width, --columns, --group-by, started, lineage.

Most tests build run folders by hand (metrics.json + .hydra/resolved.yaml + overrides.yaml +
environment.json) and drive `expkit runs`; one trains a real 2-seed sweep for its summary."""

from __future__ import annotations

import csv
import io
import json
import statistics
from pathlib import Path

import pytest
import yaml

from conftest import read_metrics, run_cli

LONG = "a_rather_long_experiment_folder_name_that_will_never_fit_in_eighty_columns"


def fake_run(root: Path, rel: str, *, lr: float, seed: int, metrics: dict, model: str = "torch.optim.SGD",
             extra: dict | None = None) -> Path:
    """A run folder as `expkit train` leaves it, with its own per-run paths in the config."""
    run_dir = root / rel
    (run_dir / ".hydra").mkdir(parents=True)
    config = {
        "name": "regression",
        "seed": seed,
        "data": {"_target_": "expkit.data.regression.RegressionDataModule", "batch_size": 32},
        "optimizer": {"_target_": model, "_partial_": True, "lr": lr},
        "trainer": {"max_epochs": 2, "default_root_dir": str(run_dir)},
        "logger": {"tensorboard": {"_target_": "pytorch_lightning.loggers.TensorBoardLogger", "save_dir": str(run_dir)}},
        "callbacks": {"model_checkpoint": {"_target_": "pytorch_lightning.callbacks.ModelCheckpoint",
                                           "dirpath": f"{run_dir}/checkpoints"}},
        "paths": {"output_root": "outputs", "run_dir": str(run_dir)},
        **(extra or {}),
    }
    (run_dir / ".hydra" / "resolved.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    overrides = ["experiment=regression", f"optimizer.lr={lr}", f"seed={seed}", "data.batch_size=32", "trainer.max_epochs=2"]
    (run_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    data = {"status": "finished", "experiment": "regression", "monitor": "val/loss", "monitor_mode": "min",
            "wall_time_s": 1.5, "epochs_done": 2, **metrics}
    (run_dir / "metrics.json").write_text(json.dumps(data))
    return run_dir


@pytest.fixture(scope="module")
def grid(tmp_path_factory) -> Path:
    """cwd whose outputs/ holds 2 learning rates x 3 seeds, in a folder with a long name."""
    cwd = tmp_path_factory.mktemp("grid")
    sweep = cwd / "outputs" / LONG / "multirun" / "2026-02-01_09-00-00"
    job = 0
    for lr in (0.1, 0.01):
        for seed in (1, 2, 3):
            loss = lr * seed
            fake_run(sweep, f"{job}_optimizer.lr={lr},seed={seed},data.batch_size=32,trainer.max_epochs=2", lr=lr, seed=seed,
                     metrics={"best_score": loss, "val/loss": loss, "test/loss": loss + 1,
                              "started": f"2026-02-01 09:0{job}:30"})
            job += 1
    return cwd


def runs(*args: str, cwd: Path, env: dict | None = None):
    result = run_cli("runs", *args, cwd=cwd, timeout=60, env=env)
    assert "Traceback" not in result.output, result.output
    return result


def column_index(stdout: str, header: str) -> int:
    """Which column of the first rich table has this header (headers may wrap over lines)."""
    lines = [line.split("┃")[1:-1] for line in stdout.splitlines() if line.startswith("┃")]
    headers = [" ".join(line[i].strip() for line in lines).strip() for i in range(len(lines[0]))]
    return headers.index(header)


def column_text(stdout: str, index: int) -> str:
    """The cells of one column of a rich table, every line's piece joined (the wrapped text)."""
    pieces = []
    for line in stdout.splitlines():
        if line.startswith("│"):
            pieces.append(line.split("│")[index + 1].strip())
    return "".join(pieces)


def table_rows(stdout: str) -> list[list[str]]:
    """The body rows of the first rich table, each a list of its stripped cells."""
    return [[cell.strip() for cell in line.split("│")[1:-1]] for line in stdout.splitlines() if line.startswith("│")]


@pytest.mark.slow
def test_table_is_one_line_per_run_at_100_columns(grid):
    result = runs(cwd=grid, env={"COLUMNS": "100"})
    assert result.returncode == 0, result.output
    table_lines = [line for line in result.stdout.splitlines() if line[:1] in "┏┃┡│└"]
    assert table_lines and all(len(line) <= 100 for line in table_lines), result.stdout
    assert all(line[-1] in "┓┃┩│┘" for line in table_lines), "every line keeps the right border"
    rows = table_rows(result.stdout)
    assert len(rows) == 6, "one line per run"
    # The run folders are whole, one cell each, relative to the folder the title names.
    sweep = grid / "outputs" / LONG / "multirun" / "2026-02-01_09-00-00"
    assert f"run folders relative to {sweep.relative_to(grid)}" in result.stdout
    folder = column_index(result.stdout, "run folder")
    assert sorted(row[folder] for row in rows) == sorted(p.name for p in sweep.iterdir())
    # The metric says its name and direction; best first, and the best run marked.
    metric = column_index(result.stdout, "val/loss ↓")
    assert [float(row[metric]) for row in rows] == pytest.approx(sorted(lr * s for lr in (0.1, 0.01) for s in (1, 2, 3)))
    assert [row[0] for row in rows] == ["*", "", "", "", "", ""] and rows[0][folder].startswith("3_optimizer.lr=0.01,seed=1")
    assert "* the best run of its experiment" in result.stdout and "Status of all 6 runs: finished." in result.stdout
    assert "Not shown at 100 columns: wall time (s), epochs, started" in result.stdout


@pytest.mark.slow
def test_narrow_terminal_keeps_run_folders_whole(grid):
    result = runs(cwd=grid, env={"COLUMNS": "60"})
    rows = table_rows(result.stdout)
    folder = column_index(result.stdout, "run folder")
    sweep = grid / "outputs" / LONG / "multirun" / "2026-02-01_09-00-00"
    assert len(rows) == 6 and sorted(row[folder] for row in rows) == sorted(p.name for p in sweep.iterdir())
    assert column_index(result.stdout, "val/loss ↓") == 1  # the metric stays; the rest is named under the table
    assert "Not shown at 60 columns:" in result.stdout and "optimizer.lr" in result.stdout.split("Not shown")[1]


@pytest.mark.slow
def test_wide_shows_every_column_and_values_are_cut_with_an_ellipsis(grid):
    wide = runs("--wide", cwd=grid, env={"COLUMNS": "60"})
    rows = table_rows(wide.stdout)
    for header in ("seed", "optimizer.lr", "epochs", "wall time (s)", "started"):
        column_index(wide.stdout, header)
    assert "Not shown" not in wide.stdout and len(rows) == 6
    seed, lr = column_index(wide.stdout, "seed"), column_index(wide.stdout, "optimizer.lr")
    assert {(row[seed], row[lr]) for row in rows} == {(str(s), str(lr)) for lr in (0.1, 0.01) for s in (1, 2, 3)}
    # A column chosen by name is shortened with an ellipsis, never broken over lines.
    cut = runs("--columns", "overrides", cwd=grid, env={"COLUMNS": "100"})
    rows = table_rows(cut.stdout)
    assert len(rows) == 6 and all(len(line) <= 100 for line in cut.stdout.splitlines() if line[:1] in "┏┃┡│└")
    full = {r["overrides"] for r in json.loads(runs("--format", "json", cwd=grid).stdout)}
    cells = [row[0] for row in rows]
    assert all(c.endswith("…") for c in cells), cut.stdout
    assert all(any(f.startswith(c[:-1]) for f in full) for c in cells)


@pytest.mark.slow
def test_piped_output_is_one_line_per_run(grid):
    result = runs(cwd=grid, env={"COLUMNS": ""})
    rows = [line for line in result.stdout.splitlines() if line.startswith("│")]
    assert len(rows) == 6  # no limit when not a terminal: nothing wraps
    assert "started" in result.stdout and "Not shown" not in result.stdout


@pytest.mark.slow
def test_columns_params_and_config_keys_same_in_every_format(grid):
    records = json.loads(runs("--columns", "params,best,test/loss,optimizer._target_", "--format", "json", cwd=grid).stdout)
    # params: what varies among the runs; not paths, run dirs, _partial_ or logger/callback classes.
    assert list(records[0]) == ["seed", "optimizer.lr", "best", "test/loss", "optimizer._target_", "run_dir"]
    assert {(r["optimizer.lr"], r["seed"]) for r in records} == {(lr, s) for lr in (0.1, 0.01) for s in (1, 2, 3)}
    for r in records:
        assert r["test/loss"] == pytest.approx(r["optimizer.lr"] * r["seed"] + 1)
        assert r["optimizer._target_"] == "torch.optim.SGD"
    rows = list(csv.DictReader(io.StringIO(runs("--columns", "params,best,test/loss,optimizer._target_", "--format", "csv",
                                                cwd=grid).stdout)))
    assert list(rows[0]) == list(records[0]) and [r["run_dir"] for r in rows] == [r["run_dir"] for r in records]
    md = runs("--columns", "params,best,test/loss,optimizer._target_", "--format", "md", cwd=grid).stdout.splitlines()
    assert md[0] == "| seed | optimizer.lr | best | test/loss | optimizer._target_ | run folder |"
    table = runs("--columns", "params,best,test/loss", cwd=grid, env={"COLUMNS": ""}).stdout
    assert "┃ seed ┃ optimizer.lr ┃ best" in table


@pytest.mark.slow
def test_unknown_column_is_a_clear_error(grid):
    result = runs("--columns", "optimizer.momentum", cwd=grid)
    assert result.returncode == 2
    assert "Unknown column 'optimizer.momentum'" in result.stderr and "optimizer.lr" in result.stderr


@pytest.mark.slow
def test_each_job_shows_its_own_start_time(grid):
    records = json.loads(runs("--format", "json", "--sort", "started", "--reverse", cwd=grid).stdout)
    assert [r["started"] for r in records] == [f"2026-02-01 09:0{job}:30" for job in range(6)]


@pytest.mark.slow
def test_group_by_params_gives_statistics_over_seeds(grid):
    groups = json.loads(runs("--group-by", "params", "--columns", "test/loss", "--format", "json", cwd=grid).stdout)
    assert [g["optimizer.lr"] for g in groups] == [0.01, 0.1]  # best (smallest val/loss) mean first
    for group in groups:
        losses = [group["optimizer.lr"] * s for s in (1, 2, 3)]
        assert group["runs"] == 3 and group["seeds"] == "1,2,3" and group["status"] == "3 finished"
        assert group["best mean"] == pytest.approx(statistics.fmean(losses))
        assert group["best std"] == pytest.approx(statistics.stdev(losses))
        assert (group["best min"], group["best max"]) == pytest.approx((min(losses), max(losses)))
        assert group["test/loss mean"] == pytest.approx(statistics.fmean(losses) + 1)
    by_key = json.loads(runs("--group-by", "seed", "--format", "json", cwd=grid).stdout)
    assert sorted(g["seed"] for g in by_key) == [1, 2, 3] and all(g["runs"] == 2 for g in by_key)
    bad = runs("--group-by", "optimizer.nope", cwd=grid)
    assert bad.returncode == 2 and "--group-by optimizer.nope" in bad.stderr


@pytest.mark.slow
def test_source_column_shows_lineage(tmp_path):
    out = tmp_path / "outputs"
    original = fake_run(out, "regression/2026-03-01_10-00-00", lr=0.1, seed=1, metrics={"best_score": 0.2})
    copy = fake_run(out, "regression/2026-03-02_10-00-00", lr=0.1, seed=1, metrics={"best_score": 0.2})
    data = read_metrics(copy)
    data["source"] = {"run_dir": str(original), "command": "reproduce", "overrides": ["trainer.max_epochs=4"]}
    (copy / "metrics.json").write_text(json.dumps(data))
    records = json.loads(runs("--columns", "source", "--format", "json", cwd=tmp_path).stdout)
    assert records[0]["source"] == data["source"] and records[1]["source"] is None
    (row,) = [r for r in csv.DictReader(io.StringIO(runs("--columns", "source", "--format", "csv", cwd=tmp_path).stdout))
              if r["source"]]
    assert row["source"] == "reproduce of outputs/regression/2026-03-01_10-00-00 with trainer.max_epochs=4"


def test_renderer_shortens_cells_and_never_a_whole_column(capsys):
    from expkit.report import TableColumn, print_fitted_table

    path = "outputs/regression/multirun/2026-11-23_00-06-14/1_seed=2,trainer.max_epochs=2"
    words = "experiment=regression trainer.max_epochs=2 seed=2 optimizer.lr=0.05"
    columns = [TableColumn("notes", [words, "short"]), TableColumn("run folder", [path, "x"], whole=True),
               TableColumn("epochs", ["5", "12"], drop_rank=0, numeric=True)]
    print_fitted_table("t", columns, width=200)
    lines = capsys.readouterr().out.splitlines()
    assert any(words in line and path in line and line.endswith(" 5 │") for line in lines)  # fits: nothing cut
    print_fitted_table("t", columns, width=110)  # the note is cut with an ellipsis, the path is not
    out = capsys.readouterr().out
    body = [line for line in out.splitlines() if line.startswith("│")]
    assert len(body) == 2 and all(len(line) <= 110 for line in out.splitlines() if line[:1] in "┏┃┡│└")
    assert path in body[0] and body[0].endswith(" 5 │") and words not in body[0]
    note = body[0].split("│")[1].strip()
    assert note.endswith("…") and words.startswith(note[:-1]) and len(note) > 10
    for width in (100, 50):  # too narrow for a readable note and the path: epochs goes, the path stays whole
        print_fitted_table("t", columns, width=width)
        out = capsys.readouterr().out
        assert f"Not shown at {width} columns: epochs" in out and path in out
        assert len([line for line in out.splitlines() if line.startswith("│")]) == 2


@pytest.mark.slow
def test_sweep_over_seeds_summarises_them(tmp_path):
    result = run_cli("train", "-m", "experiment=regression", "data.n_samples=200", "trainer.max_epochs=1",
                     "seed=1,2", cwd=tmp_path, env={"COLUMNS": "100"})
    assert result.returncode == 0, result.output
    (sweep,) = (tmp_path / "outputs" / "regression" / "multirun").iterdir()
    assert "Over seeds (1 setting)" in result.stdout
    with open(sweep / "summary.csv") as f:
        jobs = list(csv.DictReader(f))
    assert list(jobs[0])[:2] == ["seed", "status"]  # the swept key leads (trainer.max_epochs etc. do not vary)
    (group,) = list(csv.DictReader(io.StringIO((sweep / "summary_seeds.csv").read_text())))
    bests = [float(j["best"]) for j in jobs]
    assert group["runs"] == "2" and group["seeds"] == "1,2"
    assert float(group["best mean"]) == pytest.approx(statistics.fmean(bests))
    assert float(group["test/loss mean"]) == pytest.approx(statistics.fmean(float(j["test/loss"]) for j in jobs))
    table_lines = [line for line in result.stdout.splitlines() if line[:1] in "┏┃┡│└"]
    assert all(len(line) <= 100 for line in table_lines)


def test_group_statistics_say_how_many_runs_they_cover(tmp_path):
    from expkit.runs import grouping
    from expkit.runs.collect import read_runs

    # Three seeds, one diverged: the mean over the other two must not pass for a mean over three.
    out = tmp_path / "outputs"
    for seed, best in ((1, 0.2), (2, 0.4), (3, float("nan"))):
        fake_run(out, f"regression/2026-05-0{seed}_10-00-00", lr=0.1, seed=seed, metrics={"best_score": best})
    rows = read_runs(out)
    groups = grouping.group_rows(rows, grouping.group_keys(["params"], rows))
    (group,) = groups
    metrics = grouping.aggregated_metrics([])
    full = {c.key: c.get(group) for c in grouping.group_columns([], metrics)}
    assert full["runs"] == 3 and full["best n"] == 2 and full["best mean"] == pytest.approx(0.3)
    shown = {c.key: c.get(group) for c in grouping.group_columns([], metrics, compact=True)}
    assert shown["best mean ± std"] == "0.3 ± 0.14 (2 of 3)"


def test_a_column_named_twice_is_shown_once(tmp_path):
    from expkit.runs.collect import read_runs
    from expkit.runs.columns import resolve_columns

    run = fake_run(tmp_path / "outputs", "regression/2026-06-01_10-00-00", lr=0.1, seed=1, metrics={"best_score": 0.2})
    rows = read_runs(run)
    # csv and md showed `best` twice while json (one object key) showed it once.
    names = [c.key for c in resolve_columns(["best", "best", "optimizer.lr", "default", "status"], rows)]
    assert names == list(dict.fromkeys(names)) and names[:2] == ["best", "optimizer.lr"]


def with_choices(run_dir: Path, **choices: str) -> Path:
    """Add the `.hydra/hydra.yaml` Hydra writes, with its runtime choices of config groups."""
    base = {"paths": "default", "logger": "tensorboard", "trainer": "default", "optimizer": "sgd",
            "hydra/launcher": "basic", "experiment": "regression"}
    hydra = {"hydra": {"runtime": {"choices": {**base, **choices}}}}
    (run_dir / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump(hydra))
    return run_dir


def model_sweep(root: Path) -> list[Path]:
    """A 2x2 sweep over model=linear,mlp and optimizer.lr, as its job folders hold it: the model
    options differ in their class and in keys one has (hidden_sizes) and the other lacks."""
    jobs = []
    sweep = root / "regression" / "multirun" / "2026-07-01_10-00-00"
    for job, (model, lr) in enumerate((("linear", 0.05), ("mlp", 0.05), ("linear", 0.2), ("mlp", 0.2))):
        node = ({"_target_": "expkit.models.regression.LinearRegressor"} if model == "linear" else
                {"_target_": "expkit.models.regression.MLPRegressor", "hidden_sizes": [64, 64], "activation": "relu"})
        loss = {"linear": 0.08, "mlp": 0.02}[model] * (1 if lr == 0.2 else 2)
        run = fake_run(sweep, f"{job}_model={model},optimizer.lr={lr}", lr=lr, seed=42,
                       metrics={"best_score": loss, "val/loss": loss, "started": f"2026-07-01 10:0{job}:00"},
                       extra={"model": node})
        jobs.append(with_choices(run, model=model))
    return jobs


@pytest.mark.slow
def test_a_swept_group_shows_as_its_option_name(tmp_path):
    from expkit.runs.collect import read_runs, varying_keys

    model_sweep(tmp_path / "outputs")
    rows = read_runs(tmp_path / "outputs")
    assert varying_keys(rows) == ["optimizer.lr", "model"] or varying_keys(rows) == ["model", "optimizer.lr"]
    result = runs(cwd=tmp_path, env={"COLUMNS": "100"})
    assert "_target_" not in result.stdout and "hidden_sizes" not in result.stdout and "activation" not in result.stdout
    body = table_rows(result.stdout)
    model, lr = column_index(result.stdout, "model"), column_index(result.stdout, "optimizer.lr")
    # Best first (val/loss, lower is better) and marked: mlp at lr 0.2.
    assert [(row[model], row[lr]) for row in body] == [("mlp", "0.2"), ("mlp", "0.05"), ("linear", "0.2"), ("linear", "0.05")]
    assert [row[0] for row in body] == ["*", "", "", ""]
    assert all(len(line) <= 100 for line in result.stdout.splitlines()[1:])  # the title names a folder whole
    csv_rows = list(csv.DictReader(io.StringIO(runs("--columns", "params,best", "--format", "csv", cwd=tmp_path).stdout)))
    assert {r["model"] for r in csv_rows} == {"linear", "mlp"}
    # The diff names the option too, not the classes; json keeps every differing key.
    jobs = sorted((tmp_path / "outputs").glob("regression/multirun/*/*"))
    diff = run_cli("diff", str(jobs[0]), str(jobs[1]), cwd=tmp_path, env={"COLUMNS": "100"}, timeout=60)
    assert diff.returncode == 0 and "│ model " in diff.stdout and "linear" in diff.stdout and "mlp" in diff.stdout
    assert "_target_" not in diff.stdout and "hidden_sizes" not in diff.stdout
    data = json.loads(run_cli("diff", str(jobs[0]), str(jobs[1]), "--format", "json", cwd=tmp_path, timeout=60).stdout)
    assert data["choices"] == {"model": ["linear", "mlp"]} and "model.hidden_sizes" in data["config"]


def test_runs_without_recorded_choices_name_groups_by_class(tmp_path):
    from expkit.runs.collect import read_runs, varying_keys

    jobs = model_sweep(tmp_path / "outputs")
    (jobs[0] / ".hydra" / "hydra.yaml").unlink()  # a run of an older expkit
    rows = read_runs(tmp_path / "outputs")
    assert "model" in varying_keys(rows)
    assert {row.param("model") for row in rows} == {"LinearRegressor", "MLPRegressor"}


@pytest.mark.slow
def test_grouping_by_params_across_experiments(tmp_path):
    out = tmp_path / "outputs"
    model_sweep(out)
    for seed in (1, 2):  # a second experiment, whose keys differ from the first's in almost everything
        run = fake_run(out, f"digits/2026-07-02_10-00-0{seed}", lr=0.003, seed=seed,
                       metrics={"best_score": 0.9 + seed / 100, "started": f"2026-07-02 10:00:0{seed}"},
                       extra={"name": "digits", "data": {"_target_": "expkit.data.digits.DigitsDataModule", "batch_size": 64},
                              "model": {"_target_": "expkit.models.cnn.CNNClassifier", "channels": 16}})
        data = read_metrics(run)
        data.update(experiment="digits", monitor="val/acc", monitor_mode="max")
        (run / "metrics.json").write_text(json.dumps(data))
        with_choices(run, model="cnn", experiment="digits")
    groups = json.loads(runs("--group-by", "params", "--format", "json", cwd=tmp_path).stdout)
    # The keys that vary within each experiment, not every key of the two: the seeds of digits
    # make one group of two; the four regression jobs are four groups of one.
    assert [k for k in groups[0] if k not in ("runs", "status", "seeds", "monitor") and not k.startswith("best")] == \
        ["experiment", "optimizer.lr", "model"]
    assert sorted((g["experiment"], g["runs"]) for g in groups) == [("digits", 2)] + [("regression", 1)] * 4
    table_out = runs("--group-by", "params", cwd=tmp_path, env={"COLUMNS": "100"})
    lines = table_out.stdout.splitlines()
    assert all(len(line) <= 100 for line in lines[1:]) and len(table_rows(table_out.stdout)) == 5
    spread = column_index(table_out.stdout, "best min … max")
    cells = {row[column_index(table_out.stdout, "experiment")]: row[spread] for row in table_rows(table_out.stdout)}
    assert cells["digits"] == "0.91 … 0.92" and cells["regression"] == ""  # a group of one is no spread
    assert "val/acc ↑" in table_out.stdout and "val/loss ↓" in table_out.stdout
    # The runs table: each experiment best first in its own direction, the best of each marked.
    listed = runs(cwd=tmp_path, env={"COLUMNS": "160"})
    body = table_rows(listed.stdout)
    folder = column_index(listed.stdout, "run folder")
    assert [row[folder] for row in body][:2] == ["digits/2026-07-02_10-00-02", "digits/2026-07-02_10-00-01"]
    assert [row[0] for row in body] == ["*", "", "*", "", "", ""]


@pytest.mark.slow
def test_runs_are_found_through_linked_folders(tmp_path):
    scratch = tmp_path / "scratch"
    model_sweep(scratch)
    out = tmp_path / "outputs"
    out.mkdir()
    (out / "regression").symlink_to(scratch / "regression", target_is_directory=True)
    (scratch / "regression" / "loop").symlink_to(out, target_is_directory=True)  # a cycle: entered once
    records = json.loads(runs("--format", "json", cwd=tmp_path).stdout)
    assert len(records) == 4 and all(r["run_dir"].startswith("outputs/regression/multirun/") for r in records)
    shown = runs(cwd=tmp_path, env={"COLUMNS": "100"})
    assert shown.returncode == 0 and len(table_rows(shown.stdout)) == 4 and "No runs" not in shown.stderr


def test_a_key_swept_across_options_of_a_varying_group_stays_a_parameter():
    # optimizer=adam,sgd x optimizer.lr=0.1,0.2: the option does not determine lr, so lr is a
    # column (and a grouping key) of its own; a key each option sets alike stays folded in.
    from expkit.run.params import varying_in

    runs = [({"optimizer": opt}, {"optimizer._target_": opt.upper(), "optimizer.lr": lr, "seed": 1})
            for opt in ("adam", "sgd") for lr in (0.1, 0.2)]
    assert varying_in(runs) == ["optimizer", "optimizer.lr"]
    fixed = [({"optimizer": "adam"}, {"optimizer._target_": "A", "optimizer.lr": 0.001}),
             ({"optimizer": "sgd"}, {"optimizer._target_": "S", "optimizer.lr": 0.1})]
    assert varying_in(fixed) == ["optimizer"]


def test_damaged_records_are_read_through_run_folder_without_stopping_the_listing(tmp_path):
    from expkit.runs.collect import read_run, read_runs

    good = fake_run(tmp_path / "outputs", "regression/2026-08-01_10-00-00", lr=0.1, seed=1, metrics={"best_score": 0.2})
    bad = fake_run(tmp_path / "outputs", "regression/2026-08-02_10-00-00", lr=0.2, seed=1, metrics={"best_score": 0.3})
    (bad / ".hydra" / "overrides.yaml").write_text("[unclosed")
    (bad / "metrics.json").write_text('{"status": "finished", "best_')
    row = read_run(bad)
    assert row.overrides == [] and row.status == "unknown" and row.best is None
    assert row.error.startswith("unreadable metrics.json: ")
    assert row.experiment == "regression"  # from the folder's place: no readable record says it
    assert [r.run_dir for r in read_runs(tmp_path / "outputs")] == [good, bad]
    assert read_run(good).overrides[:2] == ["experiment=regression", "optimizer.lr=0.1"]
