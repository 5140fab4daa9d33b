"""The regression toy through the real CLI: run folder, checkpoints, TensorBoard, learning."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from conftest import read_metrics, read_scalars, run_cli


@pytest.fixture(scope="module")
def course_run(tmp_path_factory):
    """`expkit train experiment=regression` with no further overrides: the course's case."""
    cwd = tmp_path_factory.mktemp("course")
    result = run_cli("train", "experiment=regression", cwd=cwd)
    assert result.returncode == 0, result.output
    (run_dir,) = result.run_dirs("regression")
    return result, run_dir


@pytest.mark.slow
def test_run_folder_layout(course_run):
    result, run_dir = course_run
    for name in (".hydra/config.yaml", ".hydra/overrides.yaml", ".hydra/resolved.yaml",
                 "checkpoints/last.ckpt", "metrics.json", "train.log", "environment.json"):
        assert (run_dir / name).is_file(), name
    assert list(run_dir.glob("events.out.tfevents.*")), "TensorBoard's event files, in the run folder itself"
    assert not (run_dir / "hparams.yaml").exists() and not (run_dir / "tensorboard").exists()
    # The folder name is a timestamp: YYYY-MM-DD_HH-MM-SS
    assert len(run_dir.name) == 19 and run_dir.name[4] == "-" and run_dir.name[10] == "_"
    assert str(run_dir) in result.stdout + result.stderr
    assert "val/loss" in result.stdout  # the final metrics table


@pytest.mark.slow
def test_metrics_json(course_run):
    _, run_dir = course_run
    metrics = read_metrics(run_dir)
    assert metrics["status"] == "finished"
    assert metrics["experiment"] == "regression"
    assert metrics["wall_time_s"] > 0
    best = metrics["best_checkpoint"]
    assert not best.startswith("/"), "paths in metrics.json are relative to the run folder"
    assert (run_dir / best).is_file()
    assert metrics["epochs_done"] == 100
    for key in ("train/loss", "val/loss", "test/loss", "val/mae", "test/mae"):
        assert isinstance(metrics[key], float), key


@pytest.mark.slow
def test_course_case_recovers_weight_and_bias(course_run):
    _, run_dir = course_run
    metrics = read_metrics(run_dir)
    assert metrics["val/loss"] < 0.001
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")["state_dict"]
    assert abs(state["net.linear.weight"].item() - 0.7) < 0.01
    assert abs(state["net.linear.bias"].item() - 0.3) < 0.01


@pytest.mark.slow
def test_checkpoint_is_plain_and_loads_into_the_task(course_run):
    from expkit.data.regression import RegressionDataModule
    from expkit.models.regression import LinearRegressor
    from expkit.tasks.regression import RegressionTask

    _, run_dir = course_run
    metrics = read_metrics(run_dir)
    ckpt = torch.load(run_dir / metrics["best_checkpoint"], weights_only=True, map_location="cpu")
    task = RegressionTask(LinearRegressor(in_features=1), optimizer=torch.optim.SGD)
    task.load_state_dict(ckpt["state_dict"])
    dm = RegressionDataModule(n_samples=1000, data_seed=42)
    dm.setup()
    x, y = dm.splits["test"].tensors
    with torch.no_grad():
        loss = torch.nn.functional.mse_loss(task(x), y).item()
    assert loss == pytest.approx(metrics["test/loss"], rel=1e-4, abs=1e-7)


@pytest.mark.slow
def test_tensorboard_curves_match_metrics_json(course_run):
    _, run_dir = course_run
    scalars = read_scalars(run_dir)
    metrics = read_metrics(run_dir)
    val = scalars["val/loss"]
    assert len(val) == 100, "one val/loss point per epoch"
    assert len({step for step, _ in val}) == 100
    train = scalars["train/loss"]
    # Full batch: 800 train rows in one step an epoch, 100 steps, each logged.
    assert [s for s, _ in train] == list(range(100))
    assert [s for s, _ in train] == sorted(s for s, _ in train)
    assert metrics["val/loss"] == pytest.approx(val[-1][1], rel=1e-6)
    assert metrics["test/loss"] == pytest.approx(scalars["test/loss"][-1][1], rel=1e-6)


@pytest.mark.slow
def test_resolved_config_loads_without_hydra(course_run):
    _, run_dir = course_run
    resolved = yaml.safe_load((run_dir / ".hydra" / "resolved.yaml").read_text())
    assert "${" not in json.dumps(resolved)
    assert resolved["optimizer"]["_target_"] == "torch.optim.SGD"
    assert resolved["paths"]["run_dir"] == str(run_dir)


@pytest.mark.slow
def test_overrides_change_what_they_claim(workdir):
    result = run_cli(
        "train", "experiment=regression", "model=mlp", "model.hidden_sizes=[8]", "optimizer=adam",
        "optimizer.lr=0.01", "trainer.max_epochs=2", "seed=7", "data.n_samples=200", cwd=workdir,
    )
    assert result.returncode == 0, result.output
    (run_dir,) = result.run_dirs()
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    # Adam keeps first and second moments for every parameter; SGD without momentum keeps none.
    state = ckpt["optimizer_states"][0]
    assert set(next(iter(state["state"].values()))) >= {"exp_avg", "exp_avg_sq"}
    assert state["param_groups"][0]["lr"] == 0.01
    assert ckpt["state_dict"]["net.layers.0.weight"].shape == (8, 1)
    resolved = yaml.safe_load((run_dir / ".hydra" / "resolved.yaml").read_text())
    assert resolved["seed"] == 7 and resolved["optimizer"]["_target_"] == "torch.optim.Adam"
    assert read_metrics(run_dir)["epochs_done"] == 2


@pytest.mark.slow
def test_debug_trainer_writes_no_checkpoints(workdir):
    result = run_cli("train", "experiment=regression", "trainer=debug", "logger=csv", cwd=workdir)
    assert result.returncode == 0, result.output
    (run_dir,) = result.run_dirs()
    assert not (run_dir / "checkpoints").exists()
    assert (run_dir / "csv" / "metrics.csv").is_file()
    assert read_metrics(run_dir)["status"] == "finished"


@pytest.mark.slow
@pytest.mark.parametrize(
    "override,expected",
    [
        ("optimizer.lr=-1", "optimizer.lr=-1"),
        ("+model.hiden=3", "conf/model/linear.yaml"),
        ("data.val_fraction=0.95", "data.val_fraction"),
    ],
)
def test_bad_config_is_one_clear_error_and_writes_nothing(workdir, override, expected):
    result = run_cli("train", "experiment=regression", override, cwd=workdir)
    assert result.returncode == 2, result.output
    assert expected in result.stderr
    assert "Traceback" not in result.output
    assert result.run_dirs() == [], "a refused run leaves no folder"


def test_run_folder_names_are_unique_within_a_second(tmp_path):
    from expkit.run.stamp import claim_stamp, _claimed

    import os

    first = claim_stamp(tmp_path)
    _claimed.clear()  # as if a second process started in the same second
    for key in [k for k in os.environ if k.startswith("EXPKIT_STAMP_")]:
        del os.environ[key]
    second = claim_stamp(tmp_path)
    assert first != second
    assert (tmp_path / first).is_dir() and (tmp_path / second).is_dir()


def test_null_batch_size_makes_each_split_one_batch():
    from expkit.data.regression import RegressionDataModule

    dm = RegressionDataModule(n_samples=1000, data_seed=42, batch_size=None)
    dm.setup()
    train = list(dm.train_dataloader())
    assert len(train) == 1 and train[0][0].shape == (800, 1)
    assert sorted(train[0][0].flatten().tolist()) == sorted(dm.splits["train"].tensors[0].flatten().tolist())
    assert [len(x) for x, _ in dm.val_dataloader()] == [100]
