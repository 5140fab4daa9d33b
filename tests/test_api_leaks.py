"""`expkit.fit` called again and again in one process (a notebook, a sweep's process) leaves no
thread and no open file behind.

The fault (issue 22): each call left TensorBoard's event-writer thread running (and its event
file open): expkit writes the HPARAMS summary after Lightning has closed the writer, which opened
it again."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

import expkit
from conftest import read_scalars

TINY = ["experiment=regression", "data.n_samples=64", "trainer.max_epochs=1", "trainer=cpu", "callbacks.progress_bar=null"]


def open_files() -> set[str]:
    """What this process's file descriptors point at (Linux /proc)."""
    fds = Path("/proc/self/fd")
    out = set()
    for fd in fds.iterdir():
        try:
            out.add(os.readlink(fd))
        except OSError:  # closed while listing (the listing's own descriptor)
            continue
    return out


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads /proc/self/fd")
def test_repeated_fit_leaves_no_thread_and_no_open_file(tmp_path):
    def fit(n: int, *extra: str):
        cfg = expkit.compose([*TINY, f"paths.output_root={tmp_path / str(n)}", *extra])
        return expkit.fit(cfg)

    before = set(threading.enumerate())
    first = fit(0)  # also imports and sets up what a first fit loads once per process
    assert first.status == "finished"
    assert set(threading.enumerate()) == before, [t.name for t in set(threading.enumerate()) - before]
    files = open_files()
    results = [fit(1), fit(2, "test_after_fit=false")]
    assert [r.status for r in results] == ["finished", "finished"]
    assert set(threading.enumerate()) == before, [t.name for t in set(threading.enumerate()) - before]
    leaked = {f for f in open_files() - files if str(tmp_path) in f}
    assert not leaked, leaked
    # The writer was closed after the HPARAMS summary, not before it: the summary is on disk.
    scalars = read_scalars(results[0].run_dir)
    assert "best/val/loss" in scalars and "val/loss" in scalars, sorted(scalars)


def test_fit_puts_back_a_sweeps_sigterm_handler(tmp_path):
    """A fit hands the sweep process's raising SIGTERM handler over to Lightning; the next job of
    an in-process sweep must find it again (not the default action, which kills silently)."""
    import signal

    from expkit.runs.sweep import SweepTerminatedHandler

    from omegaconf import OmegaConf

    handler = SweepTerminatedHandler(OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}}))
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        cfg = expkit.compose([*TINY, "logger=none", f"paths.output_root={tmp_path}"])
        assert expkit.fit(cfg).status == "finished"
        assert signal.getsignal(signal.SIGTERM) is handler
    finally:
        signal.signal(signal.SIGTERM, previous)
