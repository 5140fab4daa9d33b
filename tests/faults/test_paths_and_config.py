"""Folders a run cannot use and configs that cannot resolve: one paragraph, exit 2, nothing written.

issue 22: a cache folder that is a file or read-only, an output root inside another run (or
depending on the run's own folder), `hydra.run.dir=`, interpolation cycles, control characters
in `name`. The in-process cases run `expkit.cli.main`; the slow ones the real CLI.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from conftest import run_cli
from inprocess import TINY, cli, digests, finished_run, refused, run_folders  # noqa: F401 - finished_run is a fixture

TEXT = ["experiment=dbpedia_sample", "logger=none", "trainer=debug"]


def nothing_written(cwd: Path) -> None:
    assert run_folders(cwd) == []
    assert not (cwd / "None").exists()
    assert not (cwd / "outputs").exists() or not any((cwd / "outputs").rglob("*.json"))


# -- item 6: configs that cannot resolve ----------------------------------------------------------
@pytest.mark.parametrize("overrides, fragments", [
    (["+a=${b}", "+b=${a}"], ["`a` cannot be resolved: Recursive interpolation detected"]),
    (["name=${name}"], ["command line `name=${name}`", "`name` cannot be resolved: Recursive interpolation"]),
    (["+b=${a}"], ["`b` cannot be resolved: Interpolation key 'a' not found"]),
    (["paths.output_root=${paths.run_dir}/y"], ["paths.output_root=${paths.run_dir}/y depends on paths.run_dir"]),
    (["name='a\nb'"], ["name='a\\nb' is not a folder name", "control characters"]),
    (["name='a\tb'"], ["name='a\\tb' is not a folder name"]),
])
def test_unresolvable_configs_are_one_paragraph_naming_the_key(overrides, fragments, tmp_path, monkeypatch):
    refused(cli("train", *TINY, *overrides, cwd=tmp_path, monkeypatch=monkeypatch), *fragments)
    nothing_written(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_sweep_with_an_output_root_depending_on_the_run_is_refused(tmp_path, monkeypatch):
    refused(cli("train", *TINY, "-m", "paths.output_root=${paths.run_dir}/y", "seed=1,2", cwd=tmp_path,
                monkeypatch=monkeypatch), "depends on paths.run_dir")
    assert list(tmp_path.iterdir()) == []


# -- item 1: the cache folder --------------------------------------------------------------------
def test_cache_dir_naming_a_file_is_refused_before_any_folder(tmp_path, monkeypatch):
    (tmp_path / "afile").write_text("mine\n")
    refused(cli("train", *TEXT, "paths.cache_dir=afile", cwd=tmp_path, monkeypatch=monkeypatch),
            "paths.cache_dir=afile names a file, not a folder")
    refused(cli("train", *TEXT, "paths.cache_dir=afile/sub", cwd=tmp_path, monkeypatch=monkeypatch),
            "paths.cache_dir=afile/sub cannot be made", "afile is a file")
    assert (tmp_path / "afile").read_text() == "mine\n"
    nothing_written(tmp_path)


def test_cache_dir_not_used_by_the_data_is_not_checked(tmp_path, monkeypatch):
    # The regression data has no cache: a file named as cache_dir harms nothing there.
    (tmp_path / "afile").write_text("")
    result = cli("train", *TINY, "trainer.max_epochs=1", "paths.cache_dir=afile", cwd=tmp_path, monkeypatch=monkeypatch)
    assert result.returncode == 0, result.output


@pytest.fixture
def read_only_mount(tmp_path):
    """A read-only tmpfs (needs root and a kernel that lets this process mount)."""
    mount = tmp_path / "ro"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here ({done.stderr.strip() or 'mount failed'})")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_cache_dir_on_a_read_only_mount_is_refused(read_only_mount, tmp_path, monkeypatch):
    refused(cli("train", *TEXT, f"paths.cache_dir={read_only_mount}/cache", cwd=tmp_path, monkeypatch=monkeypatch),
            f"paths.cache_dir={read_only_mount}/cache (its nearest existing folder, {read_only_mount}) is on a read-only "
            "file system")
    nothing_written(tmp_path)


def test_cache_dir_not_writable_is_refused(tmp_path, monkeypatch):
    # Without a mount: the check asks the OS for write access (os.access), as for a read-only mount.
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if Path(path) == tmp_path else real_access(path, mode, **kw))
    refused(cli("train", *TEXT, "paths.cache_dir=shared/cache", cwd=tmp_path, monkeypatch=monkeypatch),
            "is not writable by this user")
    nothing_written(tmp_path)


@pytest.mark.slow
def test_cli_cache_dir_naming_a_file(tmp_path):
    (tmp_path / "afile").write_text("")
    result = run_cli("train", *TEXT, "paths.cache_dir=afile", cwd=tmp_path)
    refused(result, "paths.cache_dir=afile names a file")
    nothing_written(tmp_path)
    listed = run_cli("runs", cwd=tmp_path)
    assert "created" not in listed.output


# -- item 3: nesting one run inside another; hydra.run.dir ---------------------------------------
def test_output_root_inside_another_run_is_refused(finished_run, tmp_path, monkeypatch):
    before = digests(finished_run)
    content = sorted(p.relative_to(finished_run) for p in finished_run.rglob("*"))
    for root in (finished_run, finished_run / "checkpoints" / "x"):
        refused(cli("train", *TINY, f"paths.output_root={root}", cwd=tmp_path, monkeypatch=monkeypatch),
                f"paths.output_root={root} ", f"the run folder {finished_run}", "nested inside that run")
    assert digests(finished_run) == before
    assert sorted(p.relative_to(finished_run) for p in finished_run.rglob("*")) == content


def test_hydra_run_dir_is_honoured(tmp_path, monkeypatch):
    import json

    result = cli("train", *TINY, "trainer.max_epochs=1", "hydra.run.dir=mine/${name}_x", cwd=tmp_path,
                 monkeypatch=monkeypatch)
    assert result.returncode == 0, result.output
    run_dir = tmp_path / "mine" / "regression_x"
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "finished"
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert not (tmp_path / "outputs").exists()
    # The same folder again: a run gets a folder of its own.
    again = cli("train", *TINY, "trainer.max_epochs=1", "hydra.run.dir=mine/regression_x", cwd=tmp_path,
                monkeypatch=monkeypatch)
    refused(again, "mine/regression_x exists and is not empty")


def test_hydra_run_dir_refused_inside_a_run_or_for_a_bad_config(finished_run, tmp_path, monkeypatch):
    refused(cli("train", *TINY, f"hydra.run.dir={finished_run}/sub", cwd=tmp_path, monkeypatch=monkeypatch),
            f"lies inside the run folder {finished_run}")
    assert not (finished_run / "sub").exists()
    refused(cli("train", *TINY, "hydra.run.dir=new_run", "data.batch_size=0", cwd=tmp_path, monkeypatch=monkeypatch),
            "data.batch_size=0")
    assert not (tmp_path / "new_run").exists()


@pytest.mark.slow
def test_cli_nesting_refused_and_hydra_run_dir_listed(tmp_path):
    first = run_cli("train", *TINY, "trainer.max_epochs=1", cwd=tmp_path)
    assert first.returncode == 0, first.output
    (run_dir,) = first.run_dirs()
    refused(run_cli("train", *TINY, f"paths.output_root={run_dir}", cwd=tmp_path), "nested inside that run")
    assert first.run_dirs() == [run_dir] and not any(p.is_dir() and p.name == "regression" for p in run_dir.iterdir())
    placed = run_cli("train", *TINY, "trainer.max_epochs=1", "hydra.run.dir=outputs/placed", cwd=tmp_path)
    assert placed.returncode == 0, placed.output
    listed = run_cli("runs", "outputs", cwd=tmp_path)
    assert listed.returncode == 0 and "placed" in listed.output, listed.output


@pytest.mark.slow
@pytest.mark.parametrize("overrides, fragment", [
    (["paths.output_root=${paths.run_dir}/y"], "depends on paths.run_dir"),
    (["+a=${b}", "+b=${a}"], "Recursive interpolation detected"),
    (["name=${name}"], "`name` cannot be resolved"),
    (["name=a\tb"], "is not a folder name"),
])
def test_cli_unresolvable_configs(overrides, fragment, tmp_path):
    refused(run_cli("train", *TINY, *overrides, cwd=tmp_path), fragment)
    assert sorted(os.listdir(tmp_path)) == []


def test_resume_from_inside_the_run_folder_is_not_taken_for_nesting(finished_run, tmp_path, monkeypatch):
    # `cd RUN; expkit resume .`: the run's relative output_root (outputs) now points inside the run,
    # but a resume makes no folder there.
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    result = cli("resume", ".", "trainer.max_epochs=3", cwd=run_dir, monkeypatch=monkeypatch)
    assert result.returncode == 0, result.output
    assert not (run_dir / "outputs").exists()
