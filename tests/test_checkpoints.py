"""Checkpoints: last.ckpt holds the last epoch, the weights-only best evaluates, writes are atomic."""

from __future__ import annotations

import json
import shutil
import threading
from collections import OrderedDict, namedtuple
from pathlib import Path

import pytest
import torch

from conftest import read_metrics, run_cli
from expkit.run.checkpoint_files import (
    AtomicCheckpointIO,
    link_atomically,
    remove_stray_temp_files,
    temp_path,
    unlink_from_last,
)
from expkit.run.checkpoint_writer import BackgroundCheckpointIO, snapshot
from expkit.run.checkpoints import BestAndLastCheckpoint

# Monitoring val/loss for its *maximum* makes epoch 0 the best while the loss goes down: the
# last epoch is then never the best one.
EARLY_BEST = ["train", "experiment=regression", "trainer.max_epochs=4", "monitor.mode=max"]


def _load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def early_best_run(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("early_best")
    result = run_cli(*EARLY_BEST, cwd=cwd)
    assert result.returncode == 0, result.output
    (run_dir,) = result.run_dirs()
    return cwd, run_dir


@pytest.mark.slow
def test_last_ckpt_holds_the_last_epoch_when_it_is_not_the_best(early_best_run):
    _, run_dir = early_best_run
    ckpt_dir = run_dir / "checkpoints"
    assert sorted(p.name for p in ckpt_dir.iterdir()) == ["best-epoch001.ckpt", "last.ckpt"]
    last = _load(ckpt_dir / "last.ckpt")
    metrics = read_metrics(run_dir)
    assert last["epoch"] == 3 and last["global_step"] == metrics["global_step"]
    assert last["optimizer_states"] and last["loops"], "last.ckpt must resume with optimizer and loop state"
    assert metrics["best_checkpoint"] == "checkpoints/best-epoch001.ckpt"


@pytest.mark.slow
def test_best_checkpoint_is_weights_only_and_smaller(early_best_run):
    _, run_dir = early_best_run
    best = _load(run_dir / "checkpoints" / "best-epoch001.ckpt")
    assert best["epoch"] == 0
    assert "optimizer_states" not in best and "callbacks" not in best
    assert set(best["state_dict"]) == set(_load(run_dir / "checkpoints" / "last.ckpt")["state_dict"])


@pytest.mark.slow
def test_weights_only_best_evaluates_through_the_cli(early_best_run):
    cwd, run_dir = early_best_run
    result = run_cli("eval", str(run_dir), "--out", str(cwd / "best.json"), cwd=cwd)
    assert result.returncode == 0, result.output
    on_best = json.loads((cwd / "best.json").read_text())
    assert on_best["checkpoint"].endswith("best-epoch001.ckpt")
    # The run's own test pass (trainer.test on the best checkpoint) and `expkit eval` agree.
    assert on_best["test/loss"] == pytest.approx(read_metrics(run_dir)["test/loss"], rel=1e-6)
    last = run_cli("eval", str(run_dir), "--checkpoint", "last", "--out", str(cwd / "last.json"), cwd=cwd)
    assert last.returncode == 0, last.output
    assert json.loads((cwd / "last.json").read_text())["test/loss"] != on_best["test/loss"]


@pytest.mark.slow
def test_copied_run_folder_resumed_twice_keeps_last_ckpt(early_best_run, tmp_path):
    _, run_dir = early_best_run
    original = {p.name: p.read_bytes() for p in (run_dir / "checkpoints").iterdir()}
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    for epochs in (5, 6):
        result = run_cli("resume", str(copy), f"trainer.max_epochs={epochs}", cwd=tmp_path)
        assert result.returncode == 0, result.output
        assert sorted(p.name for p in (copy / "checkpoints").iterdir()) == ["best-epoch001.ckpt", "last.ckpt"]
        assert _load(copy / "checkpoints" / "last.ckpt")["epoch"] == epochs - 1
    # The copy's records point into the copy, and the original folder was not touched.
    assert read_metrics(copy)["best_checkpoint"] == "checkpoints/best-epoch001.ckpt"
    state = next(v for k, v in _load(copy / "checkpoints" / "last.ckpt")["callbacks"].items() if "Checkpoint" in k)
    assert state["best_model_path"] == str((copy / "checkpoints" / "best-epoch001.ckpt").resolve())
    assert {p.name: p.read_bytes() for p in (run_dir / "checkpoints").iterdir()} == original


# The regression toy's val/loss goes down every epoch: with the default mode (min) the last epoch
# is the best, and the fit ends with best and last saved at the same step.
LAST_BEST = ["train", "experiment=regression", "trainer.max_epochs=3"]


@pytest.mark.slow
def test_best_that_is_the_last_epoch_is_a_hard_link_and_unlinks_on_resume(tmp_path):
    result = run_cli(*LAST_BEST, cwd=tmp_path)
    assert result.returncode == 0, result.output
    (run_dir,) = result.run_dirs()
    ckpt_dir = run_dir / "checkpoints"
    best = run_dir / read_metrics(run_dir)["best_checkpoint"]
    assert best.name == "best-epoch003.ckpt"
    assert best.samefile(ckpt_dir / "last.ckpt"), "one file on disk for the best and the last epoch"
    assert sorted(p.name for p in ckpt_dir.iterdir()) == ["best-epoch003.ckpt", "last.ckpt"]
    on_best = run_cli("eval", str(run_dir), "--out", str(tmp_path / "best.json"), cwd=tmp_path)
    assert on_best.returncode == 0, on_best.output
    assert json.loads((tmp_path / "best.json").read_text())["test/loss"] == pytest.approx(
        read_metrics(run_dir)["test/loss"], rel=1e-6)

    # A resumed fit replaces last.ckpt: the old best must not keep the optimizer moments with it.
    resumed = run_cli("resume", str(run_dir), "trainer.max_epochs=4", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.output
    assert "best-epoch003.ckpt was a hard link of last.ckpt; now a weights-only file of its own" in resumed.output
    last = _load(ckpt_dir / "last.ckpt")
    assert last["epoch"] == 3 and "optimizer_states" in last
    for path in ckpt_dir.glob("best-*.ckpt"):
        kept = _load(path)
        if path.name == "best-epoch003.ckpt":  # still the best only if epoch 4 did not improve
            assert kept["epoch"] == 2 and "optimizer_states" not in kept
    assert not list(ckpt_dir.glob(".*"))


def test_unlink_from_last_makes_a_weights_only_file(tmp_path):
    full = {"epoch": 2, "global_step": 6, "state_dict": {"w": torch.arange(3.0)},
            "optimizer_states": [{"state": {0: {"exp_avg": torch.ones(3)}}}], "lr_schedulers": [], "callbacks": {}}
    io = AtomicCheckpointIO()
    io.save_checkpoint(full, tmp_path / "last.ckpt")
    link_atomically(tmp_path / "last.ckpt", tmp_path / "best-epoch002.ckpt")
    io.save_checkpoint({"epoch": 0, "state_dict": {"w": torch.zeros(3)}}, tmp_path / "best-epoch000.ckpt")
    assert (tmp_path / "best-epoch002.ckpt").samefile(tmp_path / "last.ckpt")

    assert unlink_from_last(tmp_path) == [tmp_path / "best-epoch002.ckpt"]
    best = _load(tmp_path / "best-epoch002.ckpt")
    assert not (tmp_path / "best-epoch002.ckpt").samefile(tmp_path / "last.ckpt")
    assert set(best) == {"epoch", "global_step", "state_dict"} and torch.equal(best["state_dict"]["w"], torch.arange(3.0))
    assert "optimizer_states" in _load(tmp_path / "last.ckpt")
    assert _load(tmp_path / "best-epoch000.ckpt")["epoch"] == 0  # not a link: untouched
    assert unlink_from_last(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best-epoch000.ckpt", "best-epoch002.ckpt", "last.ckpt"]


# -- in-process: the pieces -------------------------------------------------------------------
def test_snapshot_copies_tensors_and_containers():
    Pair = namedtuple("Pair", "a b")
    weight = torch.zeros(3)
    state = {"sd": OrderedDict(w=weight), "opt": [{"step": torch.tensor(1.0)}], "pair": Pair(weight, 2),
             "itos": ["<unk>", "a"], "n": 4}
    copied = snapshot(state)
    weight += 1
    state["itos"].append("b")
    assert type(copied["sd"]) is OrderedDict and torch.equal(copied["sd"]["w"], torch.zeros(3))
    assert isinstance(copied["pair"], Pair) and torch.equal(copied["pair"].a, torch.zeros(3))
    assert copied["itos"] == ["<unk>", "a"] and copied["n"] == 4


def test_atomic_save_failure_keeps_the_old_checkpoint_and_no_temp_file(tmp_path):
    target = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"epoch": 1, "w": torch.ones(2)}, target)
    with pytest.raises(Exception):
        io.save_checkpoint({"epoch": 2, "bad": lambda: None}, target)  # a lambda cannot be pickled
    assert _load(target)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


class _GatedIO(AtomicCheckpointIO):
    """Writes only once the test opens the gate, so saves pile up behind the first."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.saved: list[tuple[str, int]] = []

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        self.gate.wait(timeout=30)
        self.saved.append((Path(path).name, checkpoint["epoch"]))
        super().save_checkpoint(checkpoint, path, storage_options)


def test_background_writes_snapshot_the_state_drop_stale_saves_and_keep_order(tmp_path):
    gated = _GatedIO()
    io = BackgroundCheckpointIO(gated)
    weight = torch.zeros(4)
    io.save_checkpoint({"epoch": 0, "w": weight}, tmp_path / "best-epoch000.ckpt")  # the writer blocks on it
    for epoch in (1, 2, 3):
        weight += 1  # training goes on while the writer waits
        io.save_checkpoint({"epoch": epoch, "w": weight}, tmp_path / "last.ckpt")
    io.remove_checkpoint(tmp_path / "best-epoch000.ckpt")
    gated.gate.set()
    io.teardown()
    # Epochs 1 and 2 waited behind the blocked write and were replaced by epoch 3; the removal
    # ran after the write it followed.
    assert gated.saved == [("best-epoch000.ckpt", 0), ("last.ckpt", 3)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]
    assert torch.equal(_load(tmp_path / "last.ckpt")["w"], torch.full((4,), 3.0))


class _RecordingIO(AtomicCheckpointIO):
    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.received: list[dict] = []

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        self.gate.wait(timeout=30)
        self.received.append(checkpoint)
        super().save_checkpoint(checkpoint, path, storage_options)


def test_saves_of_one_step_share_their_copies_until_a_tensor_changes(tmp_path):
    recording = _RecordingIO()
    io = BackgroundCheckpointIO(recording)
    weight, moment = torch.zeros(4), torch.ones(4)
    io.save_checkpoint({"epoch": 0, "global_step": 5, "w": weight}, tmp_path / "best-epoch000.ckpt")
    io.save_checkpoint({"epoch": 0, "global_step": 5, "w": weight, "m": moment}, tmp_path / "last.ckpt")
    moment += 1  # changed in place after the snapshot: the next save of this step copies it again
    io.save_checkpoint({"epoch": 0, "global_step": 5, "m": moment}, tmp_path / "other.ckpt")
    weight += 7  # the next step's save gets its own copy
    io.save_checkpoint({"epoch": 1, "global_step": 10, "w": weight}, tmp_path / "next.ckpt")
    recording.gate.set()
    io.teardown()
    best, last, other, after = recording.received
    assert best["w"] is last["w"], "one copy of the weights for the best and the last checkpoint"
    assert last["m"] is not other["m"] and after["w"] is not best["w"]
    assert torch.equal(_load(tmp_path / "best-epoch000.ckpt")["w"], torch.zeros(4))
    assert torch.equal(_load(tmp_path / "last.ckpt")["m"], torch.ones(4))
    assert torch.equal(_load(tmp_path / "other.ckpt")["m"], torch.full((4,), 2.0))
    assert torch.equal(_load(tmp_path / "next.ckpt")["w"], torch.full((4,), 7.0))


def test_a_checkpoint_over_max_copy_mb_is_written_before_save_returns_without_a_copy(tmp_path):
    recording = _RecordingIO()
    recording.gate.set()
    io = BackgroundCheckpointIO(recording, max_copy_mb=1e-5)  # 10 bytes: every tensor here is bigger
    weight = torch.zeros(4)
    io.save_checkpoint({"epoch": 0, "w": weight}, tmp_path / "last.ckpt")
    assert recording.received[0]["w"] is weight, "no copy: the training thread waited for the write"
    weight += 1
    assert torch.equal(_load(tmp_path / "last.ckpt")["w"], torch.zeros(4))
    io.teardown()
    small = BackgroundCheckpointIO(_RecordingIO(), max_copy_mb=1)
    small.checkpoint_io.gate.set()
    small.save_checkpoint({"epoch": 0, "w": weight}, tmp_path / "small.ckpt")
    small.teardown()
    assert small.checkpoint_io.received[0]["w"] is not weight


def test_background_write_errors_reach_the_training_thread(tmp_path):
    io = BackgroundCheckpointIO()
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OSError):  # from this call when the writer was quick, else from teardown
        io.save_checkpoint({"epoch": 0}, blocker / "last.ckpt")
        io.teardown()


def test_stray_temp_files_are_removed(tmp_path):
    (tmp_path / "last.ckpt").write_bytes(b"kept")
    stray = temp_path(tmp_path / "last.ckpt")
    stray.write_bytes(b"PK\x03\x04 partial")
    other = tmp_path / "notes.tmp"  # not a checkpoint temp file
    other.write_text("kept")
    assert remove_stray_temp_files(tmp_path) == [stray]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt", "notes.tmp"]


def test_callback_state_moves_with_a_copied_folder(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    callback = BestAndLastCheckpoint(dirpath=new, monitor="val/loss")
    best = str(old / "best-epoch002.ckpt")
    callback.load_state_dict({
        "monitor": "val/loss", "best_model_score": torch.tensor(0.5), "best_model_path": best,
        "current_score": torch.tensor(0.7), "dirpath": str(old), "best_k_models": {best: torch.tensor(0.5)},
        "kth_best_model_path": best, "kth_value": torch.tensor(0.5), "last_model_path": str(old / "last.ckpt"),
    })
    assert callback.best_model_path == str(new / "best-epoch002.ckpt")
    assert callback.last_model_path == str(new / "last.ckpt")
    assert list(callback.best_k_models) == [str(new / "best-epoch002.ckpt")]


@pytest.mark.parametrize("target", ["expkit.run.checkpoints.BackgroundCheckpointIO",
                                    "expkit.run.checkpoints.AtomicCheckpointIO",
                                    "expkit.run.checkpoints.BestAndLastCheckpoint"])
def test_run_folders_written_before_the_split_still_name_importable_classes(target):
    # The config snapshots of earlier runs name the plugins by their old module: a resume or
    # reproduce of such a run passes the allow-list and builds them.
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from expkit.trust import check_config_targets

    cfg = OmegaConf.create({"trainer": {"plugins": [{"_target_": target}]}})
    check_config_targets(cfg, "an old .hydra/config.yaml")
    assert type(instantiate(cfg.trainer.plugins[0])).__name__ == target.rsplit(".", 1)[1]
