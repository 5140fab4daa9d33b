"""Checkpoint files that are always whole: atomic saves and loads, and the files beside them.

`AtomicCheckpointIO` (a CheckpointIO plugin) writes a checkpoint into a temp file beside the
target and renames it into place, so a killed process leaves the previous checkpoint whole and,
at worst, a temp file that the next start removes (`remove_stray_temp_files`). Here too: the
error of a write that found its disk full (`CheckpointWriteError`), what a checkpoint holds
(`saved_progress`, a weights-only load), and the hard link of the best checkpoint to
`last.ckpt` (`link_atomically`, `unlink_from_last`).

The writer thread that takes the writes off the training thread is expkit.run.checkpoint_writer;
the Lightning callback that decides what is saved is expkit.run.checkpoints.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from pathlib import Path
from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from expkit.errors import NoRoom
from expkit.files import NO_ROOM, no_room_reason
from expkit.run.folder import RunFolder

log = logging.getLogger("expkit")

class CheckpointWriteError(NoRoom):
    """A checkpoint could not be written because its disk has no room (ENOSPC, EDQUOT, EFBIG).

    The run stops at once: training on would add epochs that no checkpoint holds. The file it
    was writing keeps its previous version (the write goes to a temp file first). `run_dir` is
    filled in by the run's record, which also sets epochs_done to what last.ckpt holds.
    """

    def __init__(self, path: Path, error: OSError) -> None:
        self.path, self.error = path, error
        self.kept = saved_progress(path)  # the previous version of this file, left whole
        self.run_dir: Path | None = None
        super().__init__(str(path))

    def ended_run(self, run_dir: Path, last_kept: tuple[int, int] | None) -> None:
        """Said by the run's record: which run stopped, and what its last.ckpt holds."""
        self.run_dir, self.path_kept = run_dir, (RunFolder.LAST_CHECKPOINT, last_kept)

    def __str__(self) -> str:
        file, kept = getattr(self, "path_kept", (self.path.name, self.kept))
        kept = (f"{file} holds the run as it was after epoch {kept[0]} (step {kept[1]}), whole" if kept
                else f"there is no earlier {file}")
        where = f"`expkit resume {self.run_dir}`" if self.run_dir else "`expkit resume RUN_FOLDER`"
        return (f"Could not write the checkpoint {self.path}: {no_room_reason(self.error)}. The run was "
                f"stopped there, so no epoch goes unsaved; {kept}. Free space on that disk (or give the run another "
                f"one: paths.output_root=DIR, or checkpoints/ as a link to a disk with room), then continue with {where}.")


def saved_progress(path: Path) -> tuple[int, int] | None:
    """(epochs done, global step) of the checkpoint at `path`, None when there is none readable.
    Lightning stores the 0-based epoch it was saved in; expkit saves at the end of an epoch."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - absent or unreadable: nothing is kept
        return None
    return int(checkpoint.get("epoch", -1)) + 1, int(checkpoint.get("global_step", 0))

# `.last.ckpt.<pid>.tmp`: hidden, never matched by `*.ckpt`, and tied to the writer's process.
TEMP_SUFFIX = ".tmp"
TEMP_PATTERN = ".*.ckpt.*" + TEMP_SUFFIX


def temp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}{TEMP_SUFFIX}")


def remove_stray_temp_files(dirpath: str | Path) -> list[Path]:
    """Delete the temp files of checkpoint writes that were killed before their rename.

    Called when a fit starts, before this process writes any: a temp file there can only be
    left over from a dead process (two fits writing into one checkpoint folder at once are not
    supported; `expkit resume` refuses a second resume of a running run).
    """
    removed = []
    for path in sorted(Path(dirpath).glob(TEMP_PATTERN)):
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            continue
        log.warning("Removed %s (%.1f MB): a checkpoint write that was killed before it finished.", path, size / 1e6)
        removed.append(path)
    return removed


def is_local(path: Any) -> bool:
    """Whether `path` is a file on this machine (a plain path or `file://`), not another fsspec URL."""
    text = str(path)
    return "://" not in text or text.startswith("file://")


class AtomicCheckpointIO(TorchCheckpointIO):
    """`torch.save` into a temp file in the target's folder, fsync, then `os.replace`.

    Lightning's own save goes through an fsspec transaction that writes the temp file into the
    system temp folder (left there, up to the checkpoint's size, when the process is killed) and
    falls back to a non-atomic copy when that folder is on another device. Here the rename never
    crosses a file system, so a reader sees the old checkpoint or the new one, never a part.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None or not is_local(path):
            return super().save_checkpoint(checkpoint, path, storage_options=storage_options)
        path = Path(str(path).removeprefix("file://"))
        # The checkpoint folder only (ModelCheckpoint made it at setup): never its parents, so a
        # write that races the run folder's deletion fails instead of re-creating a ghost folder.
        path.parent.mkdir(exist_ok=True)
        tmp = temp_path(path)
        try:
            _save_without_crc32(checkpoint, tmp)
            os.replace(tmp, path)
        except BaseException as err:
            tmp.unlink(missing_ok=True)
            if isinstance(err, OSError) and err.errno in NO_ROOM:
                raise CheckpointWriteError(path, err) from None
            raise
        _fsync_dir(path.parent)

    def load_checkpoint(
        self, path: Any, map_location: Any | None = lambda storage, loc: storage, weights_only: bool | None = None
    ) -> dict[str, Any]:
        """torch.load with `mmap=True` for local files: a tensor's bytes are read when used.

        `trainer.test` on a best checkpoint that is a hard link of `last.ckpt` then reads the
        weights, not the optimizer moments beside them (the real-sized DBpedia vocabulary: 0.65 GB
        not read, which had set the run's peak memory). Files torch cannot map (saved in the old
        non-zip format) are read whole, as Lightning does.
        """
        local = Path(str(path).removeprefix("file://")) if is_local(path) else None
        if local is None or not local.is_file():
            return super().load_checkpoint(path, map_location=map_location, weights_only=weights_only)
        try:
            return torch.load(local, map_location=map_location, weights_only=weights_only, mmap=True)
        except RuntimeError as err:
            if "mmap" not in str(err):
                raise
            return super().load_checkpoint(path, map_location=map_location, weights_only=weights_only)


_CRC32_LOCK = threading.Lock()


def _save_without_crc32(checkpoint: dict[str, Any], path: Path) -> None:
    """torch.save into an unbuffered file, without the zip records' CRC32, then fsync.

    - A file object, not a path: given a path, torch writes each tensor from C++ while holding
      the GIL (a 34 MB embedding blocked the training thread for ~50 ms per tensor, ~0.2-0.5 s
      per 100 MB checkpoint on the DBpedia sample); through a raw file object each tensor is one
      `write` call, which releases the GIL, so the writer thread no longer stalls training.
    - No CRC32: a third of the CPU time of a 100 MB save. torch.load never checks those CRCs
      (a flipped byte in a tensor loads silently), so they protect nothing expkit reads; torn
      files are prevented by the rename instead. The switch is torch's process-wide one, hence
      the lock and the restore.
    - fsync before the caller's rename: after a power cut the name must not point at unwritten
      blocks (the GIL is released while it waits).
    """
    from torch.serialization import get_crc32_options, set_crc32_options

    with open(path, "wb", buffering=0) as f:
        writer = _WholeWrites(f)
        with _CRC32_LOCK:
            before = get_crc32_options()
            set_crc32_options(False)
            try:
                torch.save(checkpoint, writer)
            except RuntimeError:
                if writer.error is not None:  # torch says "unexpected pos"; the OSError says why
                    raise writer.error from None
                raise
            finally:
                set_crc32_options(before)
        os.fsync(f.fileno())


class _WholeWrites:
    """The raw file torch.save writes into, each `write` written whole, its OSError kept.

    A raw file's write may write part of the bytes (a disk that fills up mid-write does), and
    torch turns both that and an OSError into `RuntimeError: [enforce fail at
    inline_container.cc] unexpected pos`, which no longer says the disk is full."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.error: OSError | None = None

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        done = 0
        try:
            while done < len(view):
                written = self.raw.write(view[done:])
                if not written:  # 0 bytes: the file system takes no more
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self.raw.name)
                done += written
        except OSError as err:
            self.error = err
            raise
        return done

    def flush(self) -> None:
        self.raw.flush()


def _fsync_dir(dirpath: Path) -> None:
    """Make the rename itself durable (not supported on every platform, hence best effort)."""
    try:
        fd = os.open(dirpath, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def link_atomically(target: Path, link: Path) -> None:
    """Make `link` a hard link of `target`, replacing what `link` was in one rename.

    The link is made under a temp name first (removed by the next start if a kill lands between
    the two calls), so `link` is at every moment either its old file or `target`'s.
    """
    tmp = temp_path(link)
    tmp.unlink(missing_ok=True)
    os.link(target, tmp)
    try:
        os.replace(tmp, link)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(link.parent)


# What `trainer.save_checkpoint(path, weights_only=True)` leaves out of a full checkpoint (the
# bytes are in the optimizer moments).
TRAINING_ONLY_KEYS = ("optimizer_states", "lr_schedulers", "callbacks")


def unlink_from_last(dirpath: Path, last_name: str = "last.ckpt") -> list[Path]:
    """Turn checkpoints that are hard links of `last_name` back into files of their own, weights-only.

    A best checkpoint linked to `last.ckpt` at the end of a fit would otherwise keep the whole
    old `last.ckpt` (optimizer moments: 3x the bytes) once a resumed fit replaces `last.ckpt`.
    """
    last = dirpath / last_name
    if not last.is_file():
        return []
    done = []
    for path in sorted(dirpath.glob("*.ckpt")):
        if path.name == last_name or not path.is_file() or not os.path.samefile(path, last):
            continue
        # mmap: the tensors are written straight from the page cache, not read into memory first.
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        for key in TRAINING_ONLY_KEYS:
            checkpoint.pop(key, None)
        AtomicCheckpointIO().save_checkpoint(checkpoint, path)
        log.info("%s was a hard link of %s; now a weights-only file of its own.", path.name, last_name)
        done.append(path)
    return done

