"""Where an Optuna search keeps its study, and who may write it.

The default storage is Optuna's journal file (`<output_root>/<name>/optuna/<study>.journal`),
not SQLite: a search's trials may run as processes on several nodes (hydra/launcher=slurm or
joblib), each reporting epochs to the study for pruning, and SQLite's locking is unreliable on
network file systems (its FAQ says so), while the journal file takes its lock by creating a link,
which NFS does atomically. A study made earlier in SQLite (`<study>.db`) is used where it is.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, ContextManager, Iterator

JOURNAL_SUFFIX = ".journal"
# The lock one search holds on its study (next to the study's file).
SEARCH_LOCK_SUFFIX = ".search-lock"


def default_storage(output_root: str | Path, name: str, study: str) -> str:
    """The study's storage under the experiment's folder: its journal file, or the SQLite file a
    search of an earlier expkit made there (continued as it is)."""
    folder = Path(output_root) / name / "optuna"
    sqlite = folder / f"{study}.db"
    journal = folder / f"{study}{JOURNAL_SUFFIX}"
    if sqlite.is_file() and not journal.exists():
        return f"sqlite:///{sqlite.resolve()}"
    return str(journal.resolve())


def is_url(storage: str) -> bool:
    """An Optuna RDB URL (sqlite:///..., postgresql://...), as opposed to a journal file's path."""
    return "://" in storage


def open_storage(storage: str) -> Any:
    """The Optuna storage a study string names: an RDB URL as Optuna takes it, any other string a
    journal file (made with its folder when missing)."""
    if is_url(storage):
        return storage
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    Path(storage).parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(storage))


def check_journal(path: Path) -> None:
    """Raises ValueError naming the first record of the journal file that Optuna could not read:
    a last line cut off (a process killed while writing it) or a line that is not a record.
    Optuna would read the records before it, append new ones after the broken line and fail
    later, burying the damage mid-file. Checked while no trial of the study runs (a reader beside
    a writer may see a last line half written)."""
    import json

    if not path.is_file():
        return
    lines = path.read_bytes().split(b"\n")
    count = len(lines) - 1  # the text after the last newline is no line of its own
    for number, line in enumerate(lines[:-1], start=1):
        try:
            json.loads(line)
        except ValueError:
            raise ValueError(f"line {number} of its {count} lines is not an Optuna journal record ({line[:60]!r}); "
                             f"keep a copy, then delete that line to keep the study's other records") from None
    if lines[-1].strip():
        raise ValueError(f"its last record (line {count + 1}) is cut off, as a process killed while writing it leaves it; "
                         f"keep a copy, then delete that last line (`sed -i '$ d' {path}`) to keep the study's other "
                         "records")


def storage_file(storage: str) -> Path | None:
    """The file a storage keeps its study in (a journal file, a SQLite database), None for a server."""
    if not is_url(storage):
        return Path(storage)
    if storage.startswith("sqlite:///"):
        return Path(storage[len("sqlite:///"):])
    return None


def search_lock(storage: str, study: str) -> ContextManager[None]:
    """Held while a search runs trials of `study`: a second search of the same study is refused
    (exit 2) rather than run beside it, since each would ask for the trials the study lacks and
    together they would run more than n_trials, and a new study's file could be read half made.
    Trials side by side are one search with hydra.sweeper.n_jobs and a parallel launcher.
    A study on a database server is not locked (several searches there are Optuna's own
    distributed mode)."""
    path = storage_file(storage)
    return _locked(path.with_name(f"{path.name}.{study}{SEARCH_LOCK_SUFFIX}"), storage, study) if path else nullcontext()


@contextmanager
def _locked(lock_path: Path, storage: str, study: str) -> Iterator[None]:
    # filelock's lock is the kernel's (flock): it ends with the process however it ends, so a
    # killed search leaves no stale lock.
    from filelock import FileLock, Timeout

    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        print(f"error: another search is running the Optuna study {study!r} in {storage} (it holds {lock_path}): "
              "two searches of one study would each run the trials it lacks. Wait for it to end and run this command "
              "again to continue the study, give this search a study of its own with hydra.sweeper.study_name=NAME, "
              "or run trials side by side in one search (hydra.sweeper.n_jobs=N with a parallel launcher such as "
              "hydra/launcher=joblib or slurm).", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        yield
    finally:
        lock.release()
