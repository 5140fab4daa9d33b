"""The run folder deleted while the run trains: one paragraph, a non-zero exit, no ghost folder."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import LONG_TRAINING, start_training, wait_for_run


def finished_an_epoch(run_dir: Path) -> bool:
    try:
        return json.loads((run_dir / "metrics.json").read_text()).get("epochs_done", 0) >= 1
    except (OSError, ValueError):  # not written yet, or read while being replaced
        return False


@pytest.mark.slow
def test_deleting_the_run_folder_mid_run_stops_it_without_recreating_it(tmp_path):
    # TensorBoard on (its writer thread is one of the things that fail first), many more epochs
    # than the test waits for: the deletion lands mid-training.
    proc = start_training(LONG_TRAINING, tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        run_dir = wait_for_run(proc, tmp_path, ready=finished_an_epoch)
        assert run_dir is not None, "the run never finished an epoch"
        # As `rm -rf` run again would: a checkpoint being written meanwhile can make one pass fail
        # with "Directory not empty".
        for _ in range(50):
            shutil.rmtree(run_dir, ignore_errors=True)
            if not run_dir.exists():
                break
            time.sleep(0.05)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == 2, out[-2000:] + err[-2000:]
    assert "Traceback" not in err, err[-3000:]
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "was deleted (or moved) while the run was using it" in errors[0], err[-2000:]
    assert not run_dir.exists(), f"re-created: {sorted(p.name for p in run_dir.rglob('*'))}"


def test_a_file_error_seen_while_rm_is_still_at_work_is_put_down_to_the_deletion(tmp_path):
    # The race behind the test above: a checkpoint write fails with "not found" while `rm -rf`
    # has removed only the insides, and another write has re-created checkpoints/ meanwhile.
    import errno

    from expkit.fitting import lost_to_deletion
    from expkit.run.folder import RunFolder

    folder = RunFolder(tmp_path / "run")
    (folder.path / "checkpoints").mkdir(parents=True)
    inside = str(folder.path.resolve() / "checkpoints" / ".best-epoch000.ckpt.5189.tmp")
    assert lost_to_deletion(folder, FileNotFoundError(errno.ENOENT, "No such file or directory", inside))
    # Not put down to it: errors of other kinds, of files elsewhere, and no file error at all.
    assert not lost_to_deletion(folder, PermissionError(errno.EACCES, "Permission denied", inside))
    assert not lost_to_deletion(folder, FileNotFoundError(errno.ENOENT, "No such file", str(tmp_path / "data.csv")))
    assert not lost_to_deletion(folder, ValueError("bad value"))
    # The folder gone: any file error is put down to it.
    import shutil

    shutil.rmtree(folder.path)
    assert lost_to_deletion(folder, PermissionError(errno.EACCES, "Permission denied", inside))
