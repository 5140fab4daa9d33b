"""A failed resume leaves a finished run exactly as it was, and `expkit eval` still works on it."""

from __future__ import annotations

import contextlib
import io
import os
import shutil

import torch

from inprocess import TINY, cli, digests, finished_run  # noqa: F401 - finished_run is a fixture


def assert_untouched(run_dir, before, tmp_path, monkeypatch):
    assert digests(run_dir) == before, "the run's records changed"
    evaluated = cli("eval", str(run_dir), "--out", str(tmp_path / "eval.json"), cwd=tmp_path, monkeypatch=monkeypatch)
    assert evaluated.returncode == 0, evaluated.output


def test_mistyped_override_is_refused_before_anything_is_written(finished_run, tmp_path, monkeypatch):
    before = digests(finished_run)
    result = cli("resume", str(finished_run), "data.n_features=2", cwd=tmp_path, monkeypatch=monkeypatch)
    assert result.returncode == 2, result.output
    assert "does not fit the model" in result.stderr and "nothing was changed" in result.stderr
    assert "Traceback" not in result.output
    assert_untouched(finished_run, before, tmp_path, monkeypatch)


def test_checkpoint_of_another_model_is_refused(finished_run, tmp_path, monkeypatch):
    # Another model's weights (an MLP's) copied over last.ckpt; the folder is a copy, so the
    # shared finished run stays intact for the other tests.
    run_dir = tmp_path / "copy"
    shutil.copytree(finished_run, run_dir)
    last = run_dir / "checkpoints" / "last.ckpt"
    ckpt = torch.load(last, weights_only=True)
    ckpt["state_dict"] = {"net.layers.0.weight": torch.zeros(8, 1), "net.layers.0.bias": torch.zeros(8)}
    torch.save(ckpt, last)
    before = digests(run_dir)
    result = cli("resume", str(run_dir), "trainer.max_epochs=3", cwd=tmp_path, monkeypatch=monkeypatch)
    assert result.returncode == 2, result.output
    assert "last.ckpt does not fit the model" in result.stderr
    assert digests(run_dir) == before
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(p.name for p in finished_run.iterdir())


def test_second_resume_is_refused_naming_the_first(finished_run, tmp_path, monkeypatch):
    from expkit.run.folder import RunFolder

    before = digests(finished_run)
    # The first resume holds the folder's lock (flock: a second open of the file, even in this
    # process, cannot take it), as a resume running in another process would.
    with RunFolder(finished_run).exclusive("resume"):
        result = cli("resume", str(finished_run), "trainer.max_epochs=3", cwd=tmp_path, monkeypatch=monkeypatch)
    assert result.returncode == 2, result.output
    assert f"in use by process {os.getpid()} (resume" in result.stderr
    assert_untouched(finished_run, before, tmp_path, monkeypatch)


def test_last_checkpoint_of_another_run_of_the_same_model_is_refused(finished_run, tmp_path, monkeypatch):
    # Same model, same shapes: the weights fit, so only the run id tells that the checkpoint is
    # another run's (the resume went on from that run's epoch and weights).
    from expkit.cli import main

    monkeypatch.chdir(tmp_path)
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["train", *TINY, "seed=3", "name=other"]) == 0
    (other,) = (tmp_path / "outputs" / "other").iterdir()
    run_dir = tmp_path / "copy"
    shutil.copytree(finished_run, run_dir)
    last = run_dir / "checkpoints" / "last.ckpt"
    last.unlink()  # it may be a hard link of the best: replace the name, not the shared file
    shutil.copyfile(other / "checkpoints" / "last.ckpt", last)
    before = digests(run_dir)
    result = cli("resume", str(run_dir), "trainer.max_epochs=3", cwd=tmp_path, monkeypatch=monkeypatch)
    assert result.returncode == 2, result.output
    assert "last.ckpt was written by another run" in result.stderr and "Nothing was changed" in result.stderr
    assert digests(run_dir) == before


def test_a_copied_run_folder_still_resumes(finished_run, tmp_path, monkeypatch):
    run_dir = tmp_path / "copy"
    shutil.copytree(finished_run, run_dir)
    result = cli("resume", str(run_dir), "trainer.max_epochs=3", cwd=tmp_path, monkeypatch=monkeypatch)
    assert result.returncode == 0, result.output
