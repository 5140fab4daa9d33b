"""SIGTERM while the data is still being read (before Lightning's own handler exists): one line,
exit 143, no run folder left behind. The default action killed the process silently and left a
folder holding only .hydra/, train.log and the lock."""

from __future__ import annotations

import os
import signal

from inprocess import cli, run_folders


def test_sigterm_while_reading_the_data(tmp_path, monkeypatch):
    import expkit.data.text as text

    read = text.read_labeled_csv

    def read_then_terminated(*args, **kwargs):
        # Deterministic: the signal lands while the CSV is being read, as a scheduler's would.
        os.kill(os.getpid(), signal.SIGTERM)
        return read(*args, **kwargs)

    monkeypatch.setattr(text, "read_labeled_csv", read_then_terminated)
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # as in a fresh process: the CLI installs its own
    try:
        result = cli("train", "experiment=dbpedia_sample", "logger=none", "trainer=debug", "paths.cache_dir=cache",
                     cwd=tmp_path, monkeypatch=monkeypatch)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert result.returncode == 143, result.output
    assert result.stderr.strip().splitlines()[-1] == "interrupted by SIGTERM before training started; nothing was kept"
    assert "Traceback" not in result.output
    assert run_folders(tmp_path) == [] and not (tmp_path / "cache").exists()
