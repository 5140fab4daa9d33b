"""Checkpoints that cost little and are always whole.

Two Lightning pieces, wired in conf/callbacks/default.yaml and conf/trainer/default.yaml:

- `BestAndLastCheckpoint` (a ModelCheckpoint): `last.ckpt` after every epoch, with the optimizer
  and loop state a resume needs, always under that one name; the best epoch as a weights-only file
  (a third of the bytes: no Adam moments), which is all that `test`, `eval`, `predict` and
  `export` read.
- `BackgroundCheckpointIO` (a CheckpointIO plugin): the training thread only snapshots the
  tensors; a writer thread serialises them into a temp file beside the target and renames it into
  place (`AtomicCheckpointIO`), so a killed process leaves the previous checkpoint whole and, at
  worst, a temp file that the next start removes.

When the fit ends with the best epoch being the last one, the best checkpoint becomes a hard link
of `last.ckpt` (one file on disk instead of two); a later resume turns it back into a weights-only
file before it writes a new `last.ckpt`.
"""

from __future__ import annotations

import copy
import errno
import fnmatch
import logging
import os
import threading
from concurrent.futures import Future, wait
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.plugins.io import AsyncCheckpointIO
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


def _is_local(path: Any) -> bool:
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
        if storage_options is not None or not _is_local(path):
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
        local = Path(str(path).removeprefix("file://")) if _is_local(path) else None
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


_NESTED = (torch.Tensor, dict, list, tuple)


def snapshot(obj: Any, copy_tensor: Callable[[torch.Tensor], torch.Tensor] = lambda t: t.detach().clone()) -> Any:
    """A copy of `obj` whose tensors are copied (`copy_tensor`) and whose containers are new.

    Lightning's `apply_to_collection` does the same but calls several checks per item: on the
    vocabulary's 132k-string list it took 0.9 s per checkpoint, more than the write it hides.
    A list of plain values is copied here in one step, after one C-level pass over its types.
    """
    if isinstance(obj, torch.Tensor):
        return copy_tensor(obj)
    if isinstance(obj, dict):
        out = copy.copy(obj)  # keeps OrderedDict and friends
        for key, value in obj.items():
            if isinstance(value, _NESTED):
                out[key] = snapshot(value, copy_tensor)
        return out
    if isinstance(obj, (list, tuple)):
        if not any(issubclass(kind, _NESTED) for kind in set(map(type, obj))):
            return list(obj) if isinstance(obj, list) else obj
        items = [snapshot(value, copy_tensor) for value in obj]
        if isinstance(obj, list):
            return items
        return type(obj)(*items) if hasattr(obj, "_fields") else type(obj)(items)
    return obj


class BackgroundCheckpointIO(AsyncCheckpointIO):
    """Lightning's AsyncCheckpointIO over `AtomicCheckpointIO`: the writes leave the training thread.

    The training thread copies the checkpoint's tensors (the parameters and optimizer moments go
    on changing) and hands the copy to one writer thread, in order with the removals of earlier
    best checkpoints. Differences from Lightning's plugin, each measured on the DBpedia sample:

    - The copies go into buffers kept from earlier checkpoints once their write is done: copying
      100 MB into fresh memory took 3x as long as into memory already touched.
    - Saves of one training step share their copies: when an epoch improves the best, the
      weights-only best and `last.ckpt` hold the same weights, copied once (a tensor is copied
      again if its `_version` says it changed in place since).
    - A save still waiting for the writer is dropped when a newer one to the same path arrives
      (when the disk is slower than the epochs, `last.ckpt` gets the newest state, not a queue
      of stale copies each holding 100 MB). At most `max_pending` jobs wait; then training waits.
    - Lightning waits for every write when the fit ends (`teardown`), so `trainer.test` and the
      next command see every file.
    - A checkpoint whose tensors hold more than `max_copy_mb` is written by the training thread
      itself, after the writes queued before it, without a copy: a copy would double the
      memory of the weights and optimizer moments (the DBpedia run with a real-sized 830k
      vocabulary: 640 MB more, past 2 GiB), and a model that big trains epochs long enough for
      a synchronous write to cost a few percent. `null`: always copy.
    """

    def __init__(self, checkpoint_io: Any | None = None, max_pending: int = 3, max_copy_mb: float | None = 256) -> None:
        super().__init__(checkpoint_io if checkpoint_io is not None else AtomicCheckpointIO())
        if max_copy_mb is not None and max_copy_mb < 0:
            raise ValueError(f"max_copy_mb must be >= 0 or None, got {max_copy_mb}")
        self.max_pending = max_pending
        self.max_copy_mb = max_copy_mb
        self._jobs: list[tuple[Future, str | None, list[torch.Tensor]]] = []  # (future, saved path, buffers)
        self._free: dict[tuple, list[torch.Tensor]] = {}
        self._users: dict[int, int] = {}  # id(buffer) -> pending jobs that write it
        # Copies of this training step: source tensor's identity -> (its _version, buffer).
        self._step: tuple | None = None
        self._shared: dict[tuple, tuple[int, torch.Tensor]] = {}
        self._lock = threading.Lock()
        self._error_raised = False

    def _release(self, buffers: Sequence[torch.Tensor]) -> None:
        with self._lock:
            for buf in buffers:
                left = self._users.get(id(buf), 1) - 1
                if left > 0:
                    self._users[id(buf)] = left
                    continue
                self._users.pop(id(buf), None)
                # A free buffer will be overwritten: it can no longer stand for this step's copy.
                self._shared = {k: v for k, v in self._shared.items() if v[1] is not buf}
                self._free.setdefault(_buffer_key(buf), []).append(buf)

    def _drop_superseded(self, path: str) -> None:
        kept = []
        for future, saved, buffers in self._jobs:
            if saved == path and future.cancel():  # not started yet: a newer state replaces it
                self._release(buffers)
            elif not future.done():
                kept.append((future, saved, buffers))
        self._jobs = kept
        while len(self._jobs) >= self.max_pending:
            wait([self._jobs[0][0]])
            self._jobs = [job for job in self._jobs if not job[0].done()]

    def _submit(self, fn: Any, args: tuple, saved: str | None = None, buffers: list[torch.Tensor] | None = None) -> None:
        buffers = buffers or []

        def run() -> None:
            try:
                if self._error is not None:
                    # After a failed write nothing more is done: a queued removal of the previous
                    # best would delete the only best checkpoint there is.
                    return
                fn(*args)
            except BaseException as err:  # raised on the training thread by the next call or teardown
                self._error = err
            finally:
                self._release(buffers)

        assert self._executor is not None
        self._jobs.append((self._executor.submit(run), saved, buffers))
        self.raise_write_error()

    def raise_write_error(self) -> None:
        """Raise, on the calling (training) thread, the error of a write that failed in the
        writer thread; once: the teardown after the failed fit does not raise it again."""
        if self._error is not None and not self._error_raised:
            self._error_raised = True
            raise self._error

    def _copy(self, tensor: torch.Tensor, taken: list[torch.Tensor]) -> torch.Tensor:
        tensor = tensor.detach()
        if tensor.layout != torch.strided or not tensor.is_contiguous():
            return tensor.clone()
        source = (tensor.data_ptr(), tuple(tensor.shape), tensor.dtype, tensor.device)
        with self._lock:
            version, buf = self._shared.get(source, (None, None))
            if buf is None or version != tensor._version:
                free = self._free.get(_buffer_key(tensor))
                buf = free.pop() if free else None
                fresh = True
            else:
                fresh = False
            if buf is not None:
                self._users[id(buf)] = self._users.get(id(buf), 0) + 1
        if buf is None:
            buf = torch.empty_like(tensor)
            with self._lock:
                self._users[id(buf)] = self._users.get(id(buf), 0) + 1
        if fresh:
            buf.copy_(tensor)
            with self._lock:
                self._shared[source] = (tensor._version, buf)
        taken.append(buf)
        return buf

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        self._ensure_setup()
        if fnmatch.fnmatch(Path(str(path)).name, RunFolder.HPC_CHECKPOINT_GLOB):
            # Lightning's SLURM handler saves this from a signal handler and then runs `scontrol
            # requeue`, which ends the process: write it now, and touch neither the queue nor its
            # lock (the interrupted main thread may hold the lock, which the writer needs: waiting
            # for the writer here deadlocked). A queued write cut off by the kill leaves only a
            # temp file, removed at the next start.
            self.checkpoint_io.save_checkpoint(checkpoint, path, storage_options)
            return
        self._drop_superseded(str(path))
        # Too large to copy: written by the training thread, after the writes already queued.
        if self.max_copy_mb is not None and tensor_bytes(checkpoint) > self.max_copy_mb * 1e6:
            self._wait_all()
            self.checkpoint_io.save_checkpoint(checkpoint, path, storage_options)
            return
        step = (checkpoint.get("epoch"), checkpoint.get("global_step"))
        if step != self._step or None in step:
            with self._lock:
                self._step, self._shared = step, {}
        taken: list[torch.Tensor] = []
        copied = snapshot(checkpoint, lambda t: self._copy(t, taken))
        self._submit(self.checkpoint_io.save_checkpoint, (copied, path, storage_options), str(path), taken)

    def _wait_all(self) -> None:
        wait([future for future, _, _ in self._jobs])
        self._jobs = []
        self.raise_write_error()

    def remove_checkpoint(self, path: Any) -> None:
        self._ensure_setup()
        self._submit(self.checkpoint_io.remove_checkpoint, (path,))

    def teardown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)  # waits for the writes
            self._executor = None
        self._jobs = []
        self._free, self._users, self._shared, self._step = {}, {}, {}, None
        self.raise_write_error()


def tensor_bytes(obj: Any) -> int:
    """Bytes of the tensors in a nested checkpoint dict, each storage counted once."""
    seen: set[tuple] = set()
    total = 0

    def visit(value: Any) -> None:
        nonlocal total
        if isinstance(value, torch.Tensor):
            key = (value.device, value.untyped_storage().data_ptr()) if value.layout == torch.strided else (id(value),)
            if key not in seen:
                seen.add(key)
                total += value.untyped_storage().nbytes() if value.layout == torch.strided else value.element_size() * value.numel()
        elif isinstance(value, dict):
            for item in value.values():
                if isinstance(item, _NESTED):
                    visit(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                if isinstance(item, _NESTED):
                    visit(item)

    visit(obj)
    return total


def _buffer_key(tensor: torch.Tensor) -> tuple:
    return (tuple(tensor.shape), tensor.dtype, tensor.device)


class BestAndLastCheckpoint(ModelCheckpoint):
    """ModelCheckpoint whose `last.ckpt` always holds the last completed epoch.

    - In this Lightning version `save_last=True` writes `last.ckpt` only in an epoch that also
      saved a top-k checkpoint; a resume then restarted from the best epoch, not the last one.
      Here every epoch that saved no top-k checkpoint still writes `last.ckpt`.
    - `last.ckpt` keeps its name: no version counter (a copied run folder resumed twice wrote
      `last-v1.ckpt`), and a checkpoint's paths move with a copied run folder.
    - `best_weights_only`: the top-k checkpoints hold the model, the data module's state
      (vocabulary) and the epoch, not the optimizer state: the best is evaluated, never resumed.
    - When a fit ends normally with the best saved at the same step as `last.ckpt` (the last
      epoch is the best), the best becomes a hard link of `last.ckpt`: one file on disk, and
      evaluating it reads the same weights. When a fit starts, such a link is turned back into
      a weights-only file (a resumed fit is about to replace `last.ckpt`).
    - When a fit starts, temp files of writes killed midway are removed.
    - `{epoch}` in a file name counts from 1, as the log and the progress bar do: the best of
      the third epoch is `best-epoch003.ckpt` (Lightning's count from 0 named it `epoch002`).
      Run folders written before keep their names; resume and eval read the recorded paths.
    """

    def __init__(
        self, *, save_last: bool = True, best_weights_only: bool = True, enable_version_counter: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(save_last=save_last, enable_version_counter=enable_version_counter, **kwargs)
        self.best_weights_only = best_weights_only
        self._saved_at: dict[str, int] = {}  # path -> global step it was last saved at, this process

    def format_checkpoint_name(self, metrics: dict[str, Any], filename: str | None = None, ver: int | None = None,
                               prefix: str | None = None) -> str:
        if "epoch" in metrics:
            metrics = {**metrics, "epoch": metrics["epoch"] + 1}
        return super().format_checkpoint_name(metrics, filename=filename, ver=ver, prefix=prefix)

    @property
    def state_key(self) -> str:
        # ModelCheckpoint's key: runs checkpointed before this class existed resume with their
        # best checkpoint known, and the class can be swapped back without losing it.
        return super().state_key.replace(type(self).__qualname__, ModelCheckpoint.__qualname__, 1)

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        if trainer.is_global_zero and stage == "fit" and self.dirpath and _is_local(self.dirpath):
            remove_stray_temp_files(self.dirpath)
            unlink_from_last(Path(self.dirpath), self.CHECKPOINT_NAME_LAST + self.FILE_EXTENSION)

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        # Lightning has waited for the background writes (strategy teardown) before this hook.
        super().on_fit_end(trainer, pl_module)
        best, last = self.best_model_path, self.last_model_path
        if not (trainer.is_global_zero and best and last and best != last and _is_local(best)):
            return
        step = self._saved_at.get(last)
        if step is None or self._saved_at.get(best) != step:
            return
        best_path, last_path = Path(best), Path(last)
        if best_path.is_file() and last_path.is_file() and not os.path.samefile(best_path, last_path):
            link_atomically(last_path, best_path)
            log.info("The best epoch is the last one: %s is now a hard link of %s.", best_path.name, last_path.name)

    def _save_checkpoint(self, trainer: Any, filepath: str) -> None:
        is_last = filepath == self.last_model_path  # _save_last_checkpoint sets it before saving
        weights_only = self.save_weights_only or (self.best_weights_only and not is_last)
        trainer.save_checkpoint(filepath, weights_only)
        self._saved_at[filepath] = trainer.global_step
        self._last_global_step_saved = trainer.global_step
        self._last_checkpoint_saved = filepath
        if trainer.is_global_zero:
            from weakref import proxy

            for logger in trainer.loggers:
                logger.after_save_checkpoint(proxy(self))

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        # A write that failed in the background stops the run at the next step, not at the next
        # save an epoch later (the epochs between would be trained and recorded, never saved).
        io = trainer.strategy.checkpoint_io
        if isinstance(io, BackgroundCheckpointIO):
            io.raise_write_error()

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_missed(trainer)

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_missed(trainer)

    def _save_last_if_missed(self, trainer: Any) -> None:
        # "skip" is also true when the parent already saved at this step (and then `last` with it).
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        old = state_dict.get("dirpath")
        if old and self.dirpath and str(old) != str(self.dirpath):
            state_dict = _moved(state_dict, str(old), str(self.dirpath))
        super().load_state_dict(state_dict)


def _moved(state: dict[str, Any], old_dir: str, new_dir: str) -> dict[str, Any]:
    """The callback's state with paths inside `old_dir` moved to `new_dir` (a copied run folder)."""

    def move(path: Any) -> Any:
        if isinstance(path, str) and path and os.path.dirname(path) == old_dir:
            return os.path.join(new_dir, os.path.basename(path))
        return path

    state = dict(state, dirpath=new_dir)
    for key in ("best_model_path", "kth_best_model_path", "last_model_path"):
        if key in state:
            state[key] = move(state[key])
    if "best_k_models" in state:
        state["best_k_models"] = {move(k): v for k, v in state["best_k_models"].items()}
    return state
