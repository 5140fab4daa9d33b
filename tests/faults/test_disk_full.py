"""Disk full while a checkpoint is written (issue 22): the run stops there and says "disk full"
(ENOSPC, not torch's `unexpected pos`), the record's epochs are those last.ckpt holds, the best
checkpoint already written stays, and the run can be resumed once there is room.

The CLI case fills a real small tmpfs (needs root and mount rights: skipped, with the reason,
where this process cannot mount); the in-process case injects the ENOSPC into the checkpoint
writer's file and always runs.
"""

from __future__ import annotations

import errno
import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from conftest import THREAD_ENV, read_metrics, run_cli, start_training, wait_for_run
from inprocess import TINY, cli

import expkit.run.checkpoint_files as checkpoint_files
import expkit.run.checkpoint_writer as checkpoint_writer


def last_checkpoint_progress(run_dir: Path) -> tuple[int, int]:
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    return ckpt["epoch"] + 1, ckpt["global_step"]


def assert_disk_full_reported(output: str, stderr: str) -> None:
    assert "Traceback" not in output and "unexpected pos" not in output, output[-3000:]
    message = stderr.strip().splitlines()[-1]
    assert message.startswith("error: Could not write the checkpoint "), message
    assert "the disk is full (ENOSPC: No space left on device)" in message, message
    assert "expkit resume " in message


def assert_record_matches_disk(run_dir: Path) -> dict:
    metrics = read_metrics(run_dir)
    assert metrics["status"] == "failed", metrics
    assert "ENOSPC" in metrics["error"], metrics
    assert (metrics["epochs_done"], metrics["global_step"]) == last_checkpoint_progress(run_dir), metrics
    assert not list((run_dir / "checkpoints").glob(".*.tmp")), "a temp file of the failed write was left"
    return metrics


# -- in-process: ENOSPC injected into the writer's file -------------------------------------------
class FillingFile(io.FileIO):
    """A checkpoint file on a disk that fills up: once `budget` checkpoint files were written, the
    next one gets part of its first write, then ENOSPC (what a real disk does)."""

    files_left = 0

    def __init__(self, path, mode="wb", buffering=0):
        super().__init__(path, "wb")
        self.full = FillingFile.files_left <= 0
        FillingFile.files_left -= 1
        self.partial_done = False

    def write(self, data):
        if not self.full:
            return super().write(data)
        if not self.partial_done and len(data) > 1:
            self.partial_done = True
            return super().write(memoryview(data)[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")


# Background writes (the default): the failure is seen at the first step or save after the
# writer met it, so at most the epoch then running is trained on. Written by the training thread
# (max_copy_mb=0, as for checkpoints too big to copy): the run stops at the failed save itself.
@pytest.mark.parametrize("writes, last_epoch_trained", [([], 3), (["trainer.plugins.0.max_copy_mb=0"], 2)],
                         ids=["background", "training-thread"])
def test_a_checkpoint_write_hitting_a_full_disk_stops_the_run_in_process(writes, last_epoch_trained, tmp_path,
                                                                         monkeypatch):
    # Epoch 1 writes its best checkpoint and last.ckpt; every write after them finds the disk full.
    FillingFile.files_left = 2
    monkeypatch.setattr(checkpoint_files, "open", FillingFile, raising=False)
    # Every save is written, in order: on a loaded machine the writer may not have started epoch
    # 1's last.ckpt when epoch 2's arrives, and would drop it (tested elsewhere), shifting the
    # budget above by an epoch.
    monkeypatch.setattr(checkpoint_writer.BackgroundCheckpointIO, "_drop_superseded", lambda self, path: None)
    result = cli("train", *TINY, "trainer.max_epochs=6", "optimizer.lr=0.05", *writes, cwd=tmp_path,
                 monkeypatch=monkeypatch)
    assert result.returncode == 2, result.output
    assert_disk_full_reported(result.output, result.stderr)
    (run_dir,) = (tmp_path / "outputs" / "regression").iterdir()
    metrics = assert_record_matches_disk(run_dir)
    assert metrics["epochs_done"] == 1
    # Epoch 1's best checkpoint (whatever its name's epoch count) is still there.
    assert len(list((run_dir / "checkpoints").glob("best-*.ckpt"))) == 1, "the only best checkpoint was removed"
    # Stopped at the failure: epoch 2's save failed.
    log = (run_dir / "train.log").read_text()
    assert "epoch 2/6" in log and f"epoch {last_epoch_trained + 1}/6" not in log, log


def test_the_writer_reports_enospc_not_torchs_unexpected_pos(tmp_path, monkeypatch):
    FillingFile.files_left = 0
    monkeypatch.setattr(checkpoint_files, "open", FillingFile, raising=False)
    target = tmp_path / "last.ckpt"
    target.write_bytes(b"previous")
    with pytest.raises(checkpoint_files.CheckpointWriteError) as caught:
        checkpoint_files.AtomicCheckpointIO().save_checkpoint({"w": torch.zeros(100_000)}, target)
    assert caught.value.error.errno == errno.ENOSPC
    assert "the disk is full (ENOSPC" in str(caught.value)
    assert target.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


# -- the CLI on a real small disk -----------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    """An 8 MiB tmpfs, unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or 'mount failed'}); "
                    "test_a_checkpoint_write_hitting_a_full_disk_stops_the_run_in_process covers the contract")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path, leave: int) -> Path:
    """Fill `disk` to the last byte, then give back `leave` bytes (room for metrics.json and the log)."""
    filler = disk / "filler"
    with open(filler, "wb") as f:
        block = b"\0" * (1 << 16)
        try:
            while True:
                f.write(block)
                f.flush()
        except OSError as err:
            assert err.errno == errno.ENOSPC
    with open(filler, "r+b") as f:
        f.truncate(max(0, filler.stat().st_size - leave))
    return filler


# A model whose last.ckpt (~0.8 MB) and best checkpoint (~0.3 MB) do not fit in what `fill` leaves.
BIG_CHECKPOINTS = ["experiment=regression", "model=mlp", "model.hidden_sizes=[256,256]", "optimizer=adam",
                   "optimizer.lr=0.001", "data.n_samples=1000", "data.batch_size=4", "trainer=cpu",
                   "callbacks.progress_bar=null", "logger=none", "trainer.max_epochs=6"]


@pytest.mark.slow
def test_disk_full_on_a_real_tmpfs_stops_the_run_and_resume_continues(small_disk):
    proc = start_training(BIG_CHECKPOINTS, small_disk, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        run_dir = wait_for_run(proc, small_disk)
        assert run_dir is not None, "no checkpoint after the first epoch"
        filler = fill(small_disk, leave=64 * 1024)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == 2, (out + err)[-3000:]
    assert_disk_full_reported(out + err, err)
    metrics = assert_record_matches_disk(run_dir)
    assert 1 <= metrics["epochs_done"] < 6
    log = (run_dir / "train.log").read_text()
    assert f"epoch {metrics['epochs_done'] + 2}/6" not in log, "training went on after the failed write"
    assert list((run_dir / "checkpoints").glob("best-*.ckpt")), "the best checkpoint written before was removed"
    # Room again: the run continues from what last.ckpt holds and finishes.
    filler.unlink()
    resumed = run_cli("resume", str(run_dir), cwd=small_disk, env=THREAD_ENV)
    assert resumed.returncode == 0, resumed.output[-3000:]
    final = read_metrics(run_dir)
    assert final["status"] == "finished" and final["epochs_done"] == 6, final


def test_a_full_disk_under_metrics_json_is_said_as_such(tmp_path, monkeypatch):
    import expkit.files as files

    real_write = files.write_json_atomic
    writes = []

    def filling(path, obj):
        if Path(path).name == "metrics.json":
            writes.append(obj.get("status"))
            if len(writes) > 1:  # the start record fits; the first epoch's update finds the disk full
                raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_write(path, obj)

    monkeypatch.setattr(files, "write_json_atomic", filling)
    result = cli("train", *TINY, "trainer.max_epochs=3", cwd=tmp_path, monkeypatch=monkeypatch)
    assert result.returncode == 2, result.output
    assert "Traceback" not in result.output
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("error: Could not write ") and "metrics.json: the disk is full (ENOSPC" in message, message
    (run_dir,) = (tmp_path / "outputs" / "regression").iterdir()
    # What could be written stays whole: the start record.
    assert read_metrics(run_dir)["status"] == "running"
