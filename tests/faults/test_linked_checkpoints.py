"""`checkpoints/` as a link to a scratch disk (issue 22): the best checkpoint is recorded relative to
the run folder (`checkpoints/<name>`), so it is still found after the scratch disk moved and the
link was pointed at its new place; a best checkpoint that is missing is an error, never silently
replaced by last.ckpt."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from inprocess import cli, finished_run, refused  # noqa: F401 - finished_run is a fixture

import expkit


@pytest.fixture
def linked_run(finished_run, tmp_path, monkeypatch):
    """A copy of a finished run whose checkpoints/ was moved to scratch1/ckpts and linked, then
    resumed for two more epochs (so the best checkpoint is written through the link)."""
    run_dir = tmp_path / "outputs" / "regression" / "linked"
    shutil.copytree(finished_run, run_dir)
    scratch = tmp_path / "scratch1" / "ckpts"
    scratch.parent.mkdir()
    shutil.move(run_dir / "checkpoints", scratch)
    (run_dir / "checkpoints").symlink_to(scratch)
    resumed = cli("resume", str(run_dir), "trainer.max_epochs=4", cwd=tmp_path, monkeypatch=monkeypatch)
    assert resumed.returncode == 0, resumed.output
    return run_dir


def test_best_checkpoint_is_recorded_relative_through_a_linked_folder(linked_run):
    metrics = json.loads((linked_run / "metrics.json").read_text())
    best = metrics["best_checkpoint"]
    assert best.startswith("checkpoints/best-") and not Path(best).is_absolute(), best
    assert (linked_run / best).is_file()


def test_best_is_found_after_the_scratch_disk_moved(linked_run, tmp_path, monkeypatch):
    best = json.loads((linked_run / "metrics.json").read_text())["best_checkpoint"]
    # The scratch disk is mounted elsewhere; the user points the link at its new place.
    shutil.move(tmp_path / "scratch1", tmp_path / "scratch2")
    (linked_run / "checkpoints").unlink()
    (linked_run / "checkpoints").symlink_to(tmp_path / "scratch2" / "ckpts")
    loaded = expkit.load_run(linked_run)
    assert loaded.checkpoint == linked_run / best
    evaluated = cli("eval", str(linked_run), cwd=tmp_path, monkeypatch=monkeypatch)
    assert evaluated.returncode == 0, evaluated.output


def test_a_missing_best_checkpoint_is_said_not_replaced_by_last(linked_run, tmp_path, monkeypatch):
    best = json.loads((linked_run / "metrics.json").read_text())["best_checkpoint"]
    (linked_run / best).unlink()
    refused(cli("eval", str(linked_run), cwd=tmp_path, monkeypatch=monkeypatch),
            f"the best checkpoint {best} (recorded in metrics.json) is missing",
            f"checkpoints/ is a link to {tmp_path / 'scratch1' / 'ckpts'}, which exists", "--checkpoint last")
    # Asked for by name, last.ckpt is still there to use.
    assert cli("eval", str(linked_run), "--checkpoint", "last", cwd=tmp_path, monkeypatch=monkeypatch).returncode == 0


def test_a_dangling_checkpoints_link_is_named(linked_run, tmp_path, monkeypatch):
    shutil.move(tmp_path / "scratch1", tmp_path / "elsewhere")
    refused(cli("eval", str(linked_run), cwd=tmp_path, monkeypatch=monkeypatch),
            "is missing", "which does not exist (moved or unmounted?)")
