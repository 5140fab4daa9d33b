"""Atomic file writes (a reader, or a crash, never sees half a file), an inter-process lock, and
reading the YAML a run folder holds without YAML aliases."""

from __future__ import annotations

import errno
import json
import logging
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable, Iterator

if TYPE_CHECKING:
    from filelock import BaseFileLock

log = logging.getLogger(__name__)

# Write errors that mean "no room on the disk": said as such (a full disk under a checkpoint
# write otherwise reads as torch's "unexpected pos").
NO_ROOM = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
           errno.EFBIG: "the file is larger than the file system allows"}


def no_room_reason(error: OSError) -> str:
    """'the disk is full (ENOSPC: No space left on device)' for an error of NO_ROOM."""
    name = errno.errorcode.get(error.errno, str(error.errno))
    return f"{NO_ROOM.get(error.errno, 'it failed')} ({name}: {error.strerror})"


@contextmanager
def atomic_open(path: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file beside `path`; on success fsync it and rename it over `path`.

    On any error the temporary file is removed and `path` keeps its previous content.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates 0600 files; run files are as readable as any other file the user writes.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_open(path) as f:
        f.write(text)


def write_json_atomic(path: str | Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: str | Path) -> dict[str, Any]:
    """A JSON object from `path`; a damaged file is an ExpkitError naming it."""
    from expkit.errors import ExpkitError

    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ExpkitError(f"{path} is damaged ({err}); restore it or delete it.") from None
    if not isinstance(data, dict):
        raise ExpkitError(f"{path} does not hold a JSON object; restore it or delete it.")
    return data


def file_lock(path: str | Path, on_acquired: Callable[[int], None] | None = None) -> BaseFileLock:
    """An inter-process lock on the file `path` (filelock's flock-based lock, not yet held).

    The operating system drops the lock when its holder exits, also on kill -9, so a stale lock
    file never blocks anyone. `on_acquired(fd)` runs once the lock is held (e.g. to write who holds
    it into the file). Release it with `release_and_remove`.
    """
    from filelock import FileLock

    # No soft (existence-file) fallback on filesystems without flock: removing the file, as
    # release_and_remove does, would release such a lock early. Those filesystems get an OSError.
    return FileLock(path, fallback_to_soft=False, on_acquired=on_acquired)


def release_and_remove(lock: BaseFileLock) -> None:
    """Release `lock`, deleting its file first so a finished holder leaves no file behind.

    The file is deleted while still held: a waiter that had opened it then locks a file without a
    name, which filelock notices (no link left) and retries on the file now at the path. Windows
    cannot delete an open file; filelock removes it there after the release.
    """
    if os.name == "posix":
        Path(lock.lock_file).unlink(missing_ok=True)
    lock.release()


@contextmanager
def exclusive_lock(path: str | Path, waiting: str) -> Iterator[bool]:
    """Hold an exclusive lock on the file `path` for the block, across processes.

    Another process holding it is waited for; `waiting` is logged once when that happens. Yields
    False (and locks nothing) when `path` cannot be created, e.g. in a read-only folder: the
    caller's own writes would fail there anyway, with their own message.
    """
    from filelock import Timeout

    lock = file_lock(path)
    try:
        try:
            lock.acquire(blocking=False)
        except Timeout:
            log.info(waiting)
            lock.acquire()
    except OSError as exc:
        log.debug("No lock %s (%s); continuing without it", path, exc)
        yield False
        return
    try:
        yield True
    finally:
        release_and_remove(lock)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine (a folder's writer that left its pid
    in a file's name or contents: still writing, or gone and its leftovers removable)."""
    if pid <= 0:
        return False  # 0 and negative ids name process groups: os.kill would signal those
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except (PermissionError, OSError):
        return True  # it exists but belongs to someone else (or we cannot tell)
    return True


def safe_load_yaml(text: str) -> Any:
    """`yaml.safe_load` that refuses YAML aliases (`*name`), raising a yaml.YAMLError at the alias.

    Nothing expkit or Hydra writes into a run folder holds an alias, and aliases let a 2 KB file
    stand for billions of values ("billion laughs": nine levels of ten aliases each): loading it
    into OmegaConf, or walking it, then ran for minutes and ate memory. Run-folder YAML is read
    through this; the user's own conf/ is not."""
    import yaml

    class NoAliasLoader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise yaml.composer.ComposerError(
                    None, None, f"found the YAML alias *{event.anchor}, which no file expkit writes holds (an alias can "
                    "make a small file stand for billions of values)", event.start_mark)
            return super().compose_node(parent, index)

    return yaml.load(text, Loader=NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
