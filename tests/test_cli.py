"""The `expkit` command itself: help, unknown commands, error reporting."""

from __future__ import annotations

import subprocess
import sys

from conftest import run_cli


def test_help_lists_subcommands_without_importing_torch(workdir):
    code = "import sys, expkit.cli; expkit.cli.main(['--help']); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "train" in out and "usage: expkit" in out
    assert out.strip().endswith("False"), "expkit --help imported torch"


def test_unknown_command_is_an_error(workdir):
    result = run_cli("trian", cwd=workdir)
    assert result.returncode == 2
    assert "unknown command 'trian'" in result.stderr
    assert "Traceback" not in result.output


def test_train_help_shows_config_groups(workdir):
    result = run_cli("train", "--help", cwd=workdir)
    assert result.returncode == 0
    for group in ("data", "model", "optimizer", "scheduler", "trainer", "logger", "experiment"):
        assert f"{group}:" in result.stdout, group
    assert not (workdir / "outputs").exists()
