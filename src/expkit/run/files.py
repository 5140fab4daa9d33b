"""Atomic file writes (a reader, or a crash, never sees half a file), an inter-process lock, and
reading the YAML a run folder holds without YAML aliases."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterator

log = logging.getLogger(__name__)


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


@contextmanager
def exclusive_lock(path: str | Path, waiting: str) -> Iterator[bool]:
    """Hold an exclusive lock on the file `path` for the block, across processes.

    Another process holding it is waited for; `waiting` is logged once when that happens. The
    operating system drops a lock when its holder exits, also on kill -9, so a stale lock file
    never blocks anyone; on POSIX the holder also deletes the file when done (a waiter that then
    holds the deleted file notices and locks the new one). Yields False (and locks nothing) when
    `path` cannot be created, e.g. in a read-only folder: the caller's own writes would fail there
    anyway, with their own message.
    """
    said = False
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            log.debug("No lock %s (%s); continuing without it", path, exc)
            yield False
            return
        said = _lock_fd(fd, waiting, said)
        try:
            current = os.path.samestat(os.fstat(fd), os.stat(path))
        except OSError:
            current = False
        if current:
            break
        os.close(fd)  # the holder we waited for deleted that file: lock the one now at `path`
    try:
        yield True
    finally:
        if os.name == "posix":
            Path(path).unlink(missing_ok=True)
        os.close(fd)  # releases the lock


def _lock_fd(fd: int, waiting: str, said: bool) -> bool:
    """Block until `fd` is locked; log `waiting` once (unless `said`). Returns whether it was said."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        while True:
            try:
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
                return said
            except OSError:
                if not said:
                    log.info(waiting)
                    said = True
                time.sleep(0.5)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        if not said:
            log.info(waiting)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return True
    return said


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
