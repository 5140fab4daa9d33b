"""In-process CLI for the fault tests: one import of torch for a whole module, a tiny shared run."""

from __future__ import annotations

import contextlib
import hashlib
import io
import sys
from pathlib import Path

import pytest


# A regression run of a few seconds: 64 rows, 2 epochs, checkpoints on, no TensorBoard.
TINY = ["experiment=regression", "data.n_samples=64", "trainer.max_epochs=2", "logger=none", "trainer=cpu",
        "callbacks.progress_bar=null"]
RECORDS = ("metrics.json", ".hydra/config.yaml", ".hydra/resolved.yaml", ".hydra/overrides.yaml")


class InProcess:
    """`expkit ARGS` run by `expkit.cli.main` in this process: exit code, stdout and stderr."""

    def __init__(self, code: int, out: str, err: str) -> None:
        self.returncode, self.stdout, self.stderr = code, out, err

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def cli(*args: str, cwd: Path, monkeypatch: pytest.MonkeyPatch) -> InProcess:
    from expkit.cli import main

    monkeypatch.chdir(cwd)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    return InProcess(code, out.getvalue(), err.getvalue())


def refused(result: InProcess, *fragments: str) -> None:
    """The CLI refused: exit 2, one line `error: ...` holding every fragment, no traceback."""
    assert result.returncode == 2, result.output
    assert "Traceback" not in result.output
    message = result.stderr.strip()
    assert message.startswith("error: ") and "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message


def digests(run_dir: Path) -> dict[str, str]:
    return {name: hashlib.sha256((run_dir / name).read_bytes()).hexdigest() for name in RECORDS}


def run_folders(root: Path) -> list[Path]:
    """Every run folder under root/outputs (metrics.json or .hydra inside), sweeps included."""
    out = root / "outputs"
    return sorted({p.parent for p in out.rglob("*") if p.name in ("metrics.json", ".hydra")}) if out.is_dir() else []


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny regression run with last.ckpt (trained once per module)."""
    from expkit.cli import main

    cwd = tmp_path_factory.mktemp("finished")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd)
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["train", *TINY]) == 0
    (run_dir,) = (cwd / "outputs" / "regression").iterdir()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    return run_dir
