"""The `expkit` command itself: help, unknown commands, error reporting."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import run_cli

# Every test here starts CLI processes or trains for real.
pytestmark = pytest.mark.slow


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


def test_shell_completion_completes_commands_and_train_overrides(workdir):
    """The script `expkit train -sc install=bash` prints, sourced into bash and asked as bash asks
    on Tab: it calls `expkit -sc query=bash` (an `expkit` program on PATH, here this checkout's)."""
    import os
    import shutil
    from pathlib import Path

    if shutil.which("bash") is None:
        import pytest

        pytest.skip("bash is not installed")
    bin_dir = workdir / "bin"
    bin_dir.mkdir()
    program = bin_dir / "expkit"
    program.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m expkit "$@"\n')
    program.chmod(0o755)
    script = run_cli("train", "-sc", "install=bash", cwd=workdir)
    assert script.returncode == 0, script.output
    assert script.stdout.rstrip().endswith("-F hydra_bash_completion expkit"), "bound to `expkit`, not to `train`"

    def complete(line: str) -> list[str]:
        words = line.split() + ([""] if line.endswith(" ") else [])
        shell = (f'source "{workdir / "completion.bash"}"; COMP_LINE="{line}"; COMP_POINT=${{#COMP_LINE}}; '
                 f'COMP_WORDS=({" ".join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}; '
                 'hydra_bash_completion; printf "%s\\n" "${COMPREPLY[@]}"')
        env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1] / "src"),
                                                          os.environ.get("PYTHONPATH")]))}
        out = subprocess.run(["bash", "-c", shell], cwd=workdir, capture_output=True, text=True, env=env, timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout.split()

    (workdir / "completion.bash").write_text(script.stdout)
    assert complete("expkit tr") == ["train"]
    assert complete("expkit train optimizer.l") == ["optimizer.lr="]
    assert {"model=mlp", "model=linear"} <= set(complete("expkit train experiment=regression model="))
    assert not (workdir / "outputs").exists(), "completing wrote nothing"


@pytest.mark.parametrize("command", ["resume", "reproduce", "eval", "export"])
def test_options_may_come_after_the_run_folder_and_among_the_overrides(workdir, command):
    """`expkit resume RUN --trust-module PKG key=value`, as one types it: the options are read
    wherever they stand (argparse's intermixed parsing), not refused as `unrecognized arguments`."""
    result = run_cli(command, str(workdir / "nowhere"), "--trust-module", "mypkg", "trainer.max_epochs=3", cwd=workdir)
    assert result.returncode == 2
    assert "unrecognized arguments" not in result.stderr, result.stderr
    assert "does not exist" in result.stderr and "Traceback" not in result.output


def test_after_a_double_dash_everything_is_literal(workdir):
    """`--` still ends the options, also before the first positional (argparse's intermixed parsing
    would read `--check` after it as the option): `reproduce -- RUN --check` passes `--check` on
    as an override, it does not switch the check on."""
    result = run_cli("reproduce", "--", str(workdir / "nowhere"), "--check", cwd=workdir)
    assert result.returncode == 2 and "does not exist" in result.stderr, result.output
    from expkit.commands import parse_command_line
    from expkit.commands.reproduce import parser

    args = parse_command_line(parser(), ["--", "RUN", "--check"])
    assert args.check is False and args.overrides == ["--check"]
