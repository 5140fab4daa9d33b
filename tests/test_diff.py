"""`expkit diff`: config differences, metrics side by side, environment, lineage, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli
from test_runs_table import fake_run

ENV = {"python": "3.11.7", "platform": "Linux-x", "machine": "x86_64", "command": ["expkit", "train"],
       "packages": {"torch": "2.13.0", "numpy": "2.4.6"}, "device": {"cuda_available": False, "threads": 1},
       "git": {"commit": "aaaa", "dirty": False, "diff": ""}}


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> tuple[Path, Path, Path]:
    """cwd and two runs that differ in lr, optimizer class, one key only B has, torch and git."""
    cwd = tmp_path_factory.mktemp("pair")
    out = cwd / "outputs" / "regression"
    a = fake_run(out, "2026-04-01_10-00-00", lr=0.1, seed=1, metrics={"best_score": 0.5, "val/loss": 0.5, "test/loss": 0.6,
                                                                       "started": "2026-04-01 10:00:00"})
    b = fake_run(out, "2026-04-02_10-00-00", lr=0.01, seed=1, model="torch.optim.Adam", extra={"scheduler": {"gamma": 0.9}},
                 metrics={"best_score": 0.25, "val/loss": 0.25, "test/loss": 0.3, "started": "2026-04-02 10:00:00",
                          "source": {"run_dir": str(a), "command": "reproduce", "overrides": ["optimizer=adam"]}})
    (a / "environment.json").write_text(json.dumps(ENV))
    (b / "environment.json").write_text(json.dumps({**ENV, "packages": {"torch": "2.14.0", "numpy": "2.4.6"},
                                                   "git": {"commit": "bbbb", "dirty": True, "diff": "+x\n"}}))
    return cwd, a, b


def diff(*args: str, cwd: Path):
    result = run_cli("diff", *args, cwd=cwd, timeout=60)
    assert "Traceback" not in result.output, result.output
    return result


@pytest.mark.slow
def test_json_lists_what_differs_and_nothing_per_run(pair):
    cwd, a, b = pair
    result = diff(str(a), str(b), "--format", "json", cwd=cwd)
    assert result.returncode == 0, result.output
    data = json.loads(result.stdout)
    assert data["runs"] == [str(a.relative_to(cwd)), str(b.relative_to(cwd))]
    # The run's own folders (paths.run_dir, default_root_dir, dirpath, save_dir) are not differences.
    assert data["config"] == {"optimizer._target_": ["torch.optim.SGD", "torch.optim.Adam"], "optimizer.lr": [0.1, 0.01],
                              "scheduler.gamma": [None, 0.9]}
    assert data["metrics"]["best"] == [0.5, 0.25] and data["metrics"]["test/loss"] == [0.6, 0.3]
    assert data["metrics"]["started"] == ["2026-04-01 10:00:00", "2026-04-02 10:00:00"]
    env = data["environment"]
    assert env["package torch"] == ["2.13.0", "2.14.0"] and env["git commit"] == ["aaaa", "bbbb"]
    assert env["git dirty"] == [False, True] and "package numpy" not in env and "python" not in env
    assert data["source"][0] is None and data["source"][1]["command"] == "reproduce"


@pytest.mark.slow
def test_table_and_markdown(pair):
    cwd, a, b = pair
    table = diff(str(a), str(b), cwd=cwd)
    assert table.returncode == 0, table.output
    assert f"A: {a.relative_to(cwd)}" in table.stdout and "Config differences" in table.stdout
    assert "│ optimizer.lr       │ 0.1" in table.stdout and "(absent)" in table.stdout
    assert "Lineage" in table.stdout and f"reproduce of {a.relative_to(cwd)} with optimizer=adam" in table.stdout
    md = diff(str(a), str(b), "--format", "md", cwd=cwd).stdout
    assert "| optimizer.lr | 0.1 | 0.01 |" in md and "| package torch | 2.13.0 | 2.14.0 |" in md
    assert "| test/loss | 0.6 | 0.3 |" in md


@pytest.mark.slow
def test_same_config_says_so(pair):
    cwd, a, _ = pair
    result = diff(str(a), str(a), cwd=cwd)
    assert result.returncode == 0
    assert "Config: no differences" in result.stdout and "Environment: no differences" in result.stdout


@pytest.mark.slow
def test_not_a_run_folder(pair, tmp_path):
    cwd, a, _ = pair
    result = diff(str(a), str(cwd / "outputs"), cwd=cwd)
    assert result.returncode == 2 and result.stderr.startswith("error: ")
    assert "is not an expkit run folder" in result.stderr and "It holds 2 run folders" in result.stderr
    missing = diff(str(a), "nowhere", cwd=cwd)
    assert missing.returncode == 2 and "nowhere does not exist" in missing.stderr
    assert diff(str(a), cwd=cwd).returncode == 2  # one run: nothing to compare


def test_run_folder_with_missing_or_damaged_config_snapshot(pair, tmp_path):
    import shutil

    from expkit.errors import ExpkitError
    from expkit.runs import compare

    _, a, _ = pair
    lost = shutil.copytree(a, tmp_path / "lost")
    (lost / ".hydra" / "resolved.yaml").unlink()
    # It is a run folder: the old message told the user to pass the very folder they passed.
    with pytest.raises(ExpkitError, match="is a run folder without its config snapshot") as err:
        compare.diff_runs([a, lost])
    assert "e.g. expkit diff" not in str(err.value)
    # A damaged snapshot read as "no config" and listed every key of the other run as differing.
    damaged = shutil.copytree(a, tmp_path / "damaged")
    (damaged / ".hydra" / "resolved.yaml").write_text("optimizer: [unclosed\n")
    with pytest.raises(ExpkitError, match=r"resolved.yaml is damaged"):
        compare.diff_runs([a, damaged])


def test_missing_or_unreadable_environment_records_are_not_no_differences(pair, tmp_path):
    import shutil

    from expkit.runs import compare

    _, a, _ = pair
    lost, damaged = shutil.copytree(a, tmp_path / "lost"), shutil.copytree(a, tmp_path / "damaged")
    (lost / "environment.json").unlink()
    (damaged / "environment.json").write_text("garbage{")
    # Neither has a readable record: this said "Environment: no differences".
    assert compare.diff_runs([lost, damaged]).environment == {"environment.json": ["missing", "unreadable"]}
    both = compare.diff_runs([a, lost]).environment
    assert both["environment.json"] == ["recorded", "missing"] and both["python"] == ["3.11.7", None]
    assert compare.diff_runs([a, a]).environment == {}


def test_tracker_run_names_are_per_run_not_differences():
    from expkit.runs.config_keys import is_per_run_key

    own = ["/x/outputs/regression/multirun/2026-12-06_06-46-37/0_optimizer.lr=0.1"]
    assert is_per_run_key("logger.wandb.name", "0_optimizer.lr=0.1", own)
    assert is_per_run_key("logger.mlflow.experiment_name", "regression/multirun/2026-12-06_06-46-37", own)
    assert not is_per_run_key("logger.wandb.project", "other", own)
    assert not is_per_run_key("name", "regression", ["/x/outputs/regression/2026-12-06_06-46-37"])
