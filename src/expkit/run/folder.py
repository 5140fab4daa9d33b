"""`RunFolder`: the one owner of a run folder's layout, file names, statuses and records.

    <output_root>/<name>/<YYYY-MM-DD_HH-MM-SS[-N]>/        one run
    <output_root>/<name>/multirun/<stamp>/<N>_<overrides>/  one job of a sweep
        metrics.json          status + final metrics (atomic rewrites; RunRecord keeps it current)
        .hydra/config.yaml    the composed config, interpolations kept (what reproduce composes)
        .hydra/resolved.yaml  the same, fully resolved (what eval/predict/export build from)
        .hydra/overrides.yaml the command-line overrides of the run
        environment.json      versions, platform, git state (environment.resumed-<step>.json later)
        train.log             the log
        checkpoints/          best-*.ckpt, last.ckpt
        hpc_ckpt_<N>.ckpt     written by Lightning when SLURM sends the requeue signal
        events.out.tfevents.* TensorBoard's event files, in the run folder itself: TensorBoard names
                              a run by its folder's path under --logdir, so `tensorboard --logdir
                              outputs` shows `<name>/<timestamp>` (a sweep job: its folder,
                              `<N>_<overrides>`)

No other module spells these names: they ask this class. Kept free of torch and Lightning so
that listing runs stays fast.
"""

from __future__ import annotations

import json
import math
import os
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator, Sequence

from expkit.errors import ExpkitError, RunFolderGone

# Every status metrics.json can hold, in lifecycle order.
STATUSES = ("running", "finished", "failed", "interrupted", "pruned")
# One format for every timestamp expkit writes or shows (local time).
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# Under DDP, rank 0 puts its run folder here before the Trainer starts the other processes; they
# inherit it and use that folder instead of claiming a timestamp of their own (Hydra #2070).
# The sweep's config, written by Hydra's basic sweeper into the sweep folder.
SWEEP_CONFIG = "multirun.yaml"
RUN_DIR_ENV = "EXPKIT_RUN_DIR"


def process_rank() -> int:
    """This process's global rank in a distributed run (0 when there is none), read from the
    variables Lightning's launcher and SLURM set, in the order Lightning itself reads them."""
    for key in ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK"):
        value = os.environ.get(key)
        if value is not None:
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


def now_text() -> str:
    return datetime.now().strftime(TIME_FORMAT)


def strict_json(value: Any) -> Any:
    """`value` with NaN and infinities replaced by None: metrics.json stays strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    return value


class RunFolder:
    """A run folder on disk: its paths, and reading and writing its records."""

    METRICS = "metrics.json"
    SNAPSHOT = ".hydra/config.yaml"
    RESOLVED = ".hydra/resolved.yaml"
    OVERRIDES = ".hydra/overrides.yaml"
    HYDRA_DIR = ".hydra"
    ENVIRONMENT = "environment.json"
    LOG = "train.log"
    CHECKPOINTS = "checkpoints"
    LAST_CHECKPOINT = "checkpoints/last.ckpt"
    HPC_CHECKPOINT_GLOB = "hpc_ckpt_*.ckpt"  # Lightning's name; it writes them into default_root_dir
    # TensorBoard's event files lie in the run folder itself (see `tensorboard_dir`).
    EVENTS_GLOB = "events.out.tfevents.*"
    CSV_LOG = "csv"  # logger=csv's folder (conf/logger/csv.yaml)
    EVAL = "eval.json"
    LOCK = ".expkit.lock"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    # -- finding and creating ----------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path) -> "RunFolder":
        """An existing run folder; an ExpkitError that says what to pass otherwise."""
        if not isinstance(path, (str, os.PathLike)):
            raise ExpkitError(f"A run folder is a path (str or pathlib.Path), got {type(path).__name__} {path!r:.80}.")
        folder = cls(path)
        if not folder.path.is_dir():
            raise ExpkitError(f"{path} does not exist. Pass a run folder such as outputs/<experiment>/<timestamp>/ (`expkit runs` lists them).")
        if not (folder / cls.RESOLVED).is_file():
            raise ExpkitError(
                f"{path} is not an expkit run folder (no {cls.RESOLVED}). Pass a folder such as "
                "outputs/<experiment>/<timestamp>/ (`expkit runs` lists them)."
            )
        return folder

    @classmethod
    def create(cls, output_root: str | Path, name: str) -> "RunFolder":
        """A new, uniquely named folder `<output_root>/<name>/<timestamp>` (claimed with mkdir,
        so two processes starting in the same second get different names).

        A DDP process of rank > 0 creates nothing: it gets the folder rank 0 created (RUN_DIR_ENV).
        """
        from expkit.run.stamp import new_stamp_dir

        if process_rank() > 0:
            inherited = os.environ.get(RUN_DIR_ENV)
            if not inherited or not Path(inherited).is_dir():
                raise ExpkitError(
                    f"This process has rank {process_rank()} of a distributed run but was not given its run folder "
                    f"({RUN_DIR_ENV} is {'unset' if not inherited else 'not a folder: ' + inherited}). Start multi-device "
                    "runs with one `expkit train trainer=ddp ...` (Lightning starts the other processes), or on SLURM "
                    "through the submitit launcher (`-m hydra/launcher=slurm`), not with `srun expkit train`."
                )
            return cls(inherited)
        parent = Path(output_root) / name
        try:
            return cls(new_stamp_dir(parent))
        except OSError as err:
            raise ExpkitError(
                f"Cannot create a run folder under {parent}: {err.strerror or err}. Choose a writable folder with "
                "paths.output_root=DIR."
            ) from None

    @classmethod
    def refuse_nested(cls, path: Path, key: str, where: str, example: str = "outputs") -> None:
        """A ConfigError when `path` (a folder new runs are made in, named by config key `key`,
        set at `where`) is a run folder or lies inside one: a run made there would be nested
        inside another run (and missing from `expkit runs` of their common root)."""
        from expkit.errors import ConfigError

        absolute = Path(path).resolve()
        for folder in (absolute, *absolute.parents):
            # A record and the config folder: a stray metrics.json of another tool is not a run.
            if cls.is_run_dir(folder) and (folder / cls.HYDRA_DIR).is_dir():
                inside = "is" if folder == absolute else "lies inside"
                raise ConfigError(
                    f"{where}: {key}={path} {inside} the run folder {folder}; a new run written there would be nested "
                    "inside that run (its files mixed with the run's own, and hidden from `expkit runs` of the folder "
                    f"above). Give a folder outside every run folder, e.g. {key}={example}."
                )

    def require_present(self) -> None:
        """Raise RunFolderGone when the folder no longer exists: a record written then would
        re-create it (a ghost folder holding only that record)."""
        if not self.path.is_dir():
            raise self.gone()

    def gone(self) -> RunFolderGone:
        return RunFolderGone(
            f"The run folder {self.path} was deleted (or moved) while the run was using it, so the run was stopped; "
            "nothing was written back and no folder was re-created. Start the run again (or move the folder back "
            "and `expkit resume` it)."
        )

    @staticmethod
    def is_run_dir(path: Path) -> bool:
        """True for a folder holding `metrics.json` or `.hydra/overrides.yaml`."""
        return (path / RunFolder.METRICS).is_file() or (path / RunFolder.OVERRIDES).is_file()

    # -- records -------------------------------------------------------------------------------
    def read_metrics(self) -> dict[str, Any]:
        """metrics.json ({} when absent); a damaged file is an ExpkitError naming it."""
        from expkit.files import read_json

        path = self / self.METRICS
        return read_json(path) if path.is_file() else {}

    def write_metrics(self, data: dict[str, Any]) -> None:
        from expkit.errors import NoRoom
        from expkit.files import NO_ROOM, no_room_reason, write_json_atomic

        self.require_present()
        try:
            write_json_atomic(self / self.METRICS, strict_json(data))
        except OSError as err:
            if err.errno not in NO_ROOM:
                raise
            raise NoRoom(
                f"Could not write {self / self.METRICS}: {no_room_reason(err)}. The run was stopped; the file keeps "
                f"its previous content. Free space on that disk, then continue with `expkit resume {self.path}`."
            ) from None

    def read_overrides(self) -> list[str]:
        """The run's command-line overrides ([] when the file is absent); a damaged file is an
        ExpkitError naming it, as they become part of a reproduced or resumed run's record."""
        import yaml
        from expkit.files import safe_load_yaml

        path = self / self.OVERRIDES
        if not path.is_file():
            return []
        try:
            data = safe_load_yaml(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise ExpkitError(f"{path} is damaged ({reason}); restore it from a copy of the run folder.") from None
        if data is None:
            return []
        if not isinstance(data, list) or not all(isinstance(item, str) for item in data):
            raise ExpkitError(
                f"{path} does not hold a list of overrides (key=value strings, one a line); restore it from a copy of the run folder."
            )
        return data

    def write_snapshot(self, config_yaml: str, overrides: Sequence[str]) -> None:
        """`.hydra/config.yaml` and `.hydra/overrides.yaml`, as Hydra writes them for its runs."""
        from expkit.files import write_text_atomic
        import yaml

        self.require_present()
        write_text_atomic(self / self.SNAPSHOT, config_yaml)
        write_text_atomic(self / self.OVERRIDES, yaml.safe_dump(list(overrides), default_flow_style=False))

    def write_resolved(self, resolved_yaml: str) -> None:
        from expkit.files import write_text_atomic

        self.require_present()
        write_text_atomic(self / self.RESOLVED, resolved_yaml)

    def write_environment(self, record: dict[str, Any], resumed_step: int | None = None) -> None:
        """environment.json; a resumed run keeps its original and adds environment.resumed-<step>.json."""
        from expkit.files import write_json_atomic

        self.require_present()
        path = self / self.ENVIRONMENT
        if resumed_step is not None and path.exists():
            path = self / f"environment.resumed-{resumed_step}.json"
        write_json_atomic(path, record)

    def read_environment(self) -> dict[str, Any]:
        from expkit.files import read_json

        path = self / self.ENVIRONMENT
        return read_json(path) if path.is_file() else {}

    def relative(self, path: str | Path | None) -> str | None:
        """A path inside the folder, stored relative to it so that a moved folder still works.

        `checkpoints/` may be a link to a scratch disk, and Lightning gives its files by their
        real path (under the link's target): such a file is stored as `checkpoints/<name>`, so
        the record still holds when the scratch disk is mounted elsewhere and the link changed."""
        if not path:
            return None
        real = Path(path).resolve()
        for inside, prefix in ((self.path, Path()), (self.checkpoint_dir, Path(self.CHECKPOINTS))):
            try:
                return str(prefix / real.relative_to(inside.resolve()))
            except (ValueError, OSError):
                continue
        return str(path)

    # -- TensorBoard -----------------------------------------------------------------------------
    @property
    def tensorboard_dir(self) -> Path:
        """Where the run's TensorBoard event files go: the run folder itself, because TensorBoard
        names a run by the path of the folder that holds its event files, relative to --logdir."""
        return self.path

    def event_files(self) -> list[Path]:
        return sorted(self.tensorboard_dir.glob(self.EVENTS_GLOB))

    # -- checkpoints ---------------------------------------------------------------------------
    @property
    def checkpoint_dir(self) -> Path:
        return self / self.CHECKPOINTS

    def checkpoint(self, which: str = "best") -> Path:
        """`best` (metrics.json's best_checkpoint, else last), `last`, or a checkpoint file path."""
        if which not in ("best", "last"):
            path = Path(which)
            if not path.is_file():
                what = "is a folder" if path.is_dir() else "does not exist"
                raise ExpkitError(f"Checkpoint {path} {what}; use best, last, or the path of a .ckpt file.")
            return path
        if which == "best":
            best = self.read_metrics().get("best_checkpoint")
            if isinstance(best, str) and (self / best).is_file():
                return self / best
            if isinstance(best, str) and best:
                raise self.best_missing(best)
        last = self / self.LAST_CHECKPOINT
        if not last.is_file():
            raise ExpkitError(
                f"{self.path} has no checkpoint ({self.LAST_CHECKPOINT} is missing): the run wrote none "
                "(trainer=debug or enable_checkpointing=false) or stopped before its first epoch ended."
            )
        return last

    def best_missing(self, best: str) -> ExpkitError:
        """The error for a recorded best checkpoint that is not there: using `last.ckpt` instead
        would give another epoch's numbers under the best one's name."""
        link = self.checkpoint_dir
        where = ""
        if link.is_symlink():
            target = os.readlink(link)
            state = "which exists" if link.exists() else "which does not exist (moved or unmounted?)"
            where = f" {self.CHECKPOINTS}/ is a link to {target}, {state}."
        return ExpkitError(
            f"{self.path}: the best checkpoint {best} (recorded in {self.METRICS}) is missing.{where} Nothing else "
            f"is used in its place: put the file (or the disk {self.CHECKPOINTS}/ links to) back, or point "
            f"{self.CHECKPOINTS}/ at its new place (ln -sfn NEW_DIR {self / self.CHECKPOINTS}); or choose "
            "--checkpoint last to use last.ckpt knowingly."
        )

    def resume_checkpoint(self) -> Path:
        """The checkpoint a resume continues from: the newer of `last.ckpt` and the newest
        `hpc_ckpt_<N>.ckpt`, which Lightning writes into the run folder when SLURM sends the
        requeue signal (SLURMEnvironment's auto-requeue) and which may be mid-epoch."""
        hpc = [p for p in self.path.glob(self.HPC_CHECKPOINT_GLOB) if p.stem.rsplit("_", 1)[-1].isdigit()]
        newest_hpc = max(hpc, key=lambda p: int(p.stem.rsplit("_", 1)[-1]), default=None)
        last = self / self.LAST_CHECKPOINT
        if newest_hpc is not None and (not last.is_file() or newest_hpc.stat().st_mtime >= last.stat().st_mtime):
            return newest_hpc
        return self.checkpoint("last")

    def discard_attempt(self) -> None:
        """Remove what an earlier attempt of this run wrote while it trained (record, checkpoints,
        curves, environment, evaluation): a job that failed runs again from the start in its own
        folder. Its config snapshot and log stay (the log keeps the failure's story)."""
        import shutil

        for name in (self.CHECKPOINTS, self.CSV_LOG):
            shutil.rmtree(self / name, ignore_errors=True)
        for path in (self / self.METRICS, self / self.EVAL, *self.path.glob("environment*.json"),
                     *self.path.glob(self.HPC_CHECKPOINT_GLOB), *self.event_files()):
            path.unlink(missing_ok=True)

    # -- undoing a command that failed before it changed anything ---------------------------------
    RECORDS = (METRICS, SNAPSHOT, RESOLVED, OVERRIDES, ENVIRONMENT)

    @contextmanager
    def records_kept_on_failure(self) -> Iterator[None]:
        """On an exception in the block that saved no new checkpoint (`last.ckpt` untouched), put
        the run's records back byte for byte and remove files the block added beside them: a
        failed resume leaves a finished run exactly as it was. Progress that was saved stays."""
        def stamp(path: Path) -> tuple[int, int] | None:
            try:
                st = path.stat()
                return (st.st_mtime_ns, st.st_size)
            except OSError:
                return None

        kept = {name: (self / name).read_bytes() for name in self.RECORDS if (self / name).is_file()}
        top = {p.name for p in self.path.iterdir()}
        last_before = stamp(self / self.LAST_CHECKPOINT)
        try:
            yield
        except BaseException:
            if stamp(self / self.LAST_CHECKPOINT) == last_before and self.path.is_dir():
                from expkit.files import atomic_open

                for name, content in kept.items():
                    if (self / name).is_file() and (self / name).read_bytes() == content:
                        continue
                    with atomic_open(self / name, "wb") as f:
                        f.write(content)
                for path in self.path.iterdir():
                    if path.is_file() and path.name not in top and path.name.startswith("environment."):
                        path.unlink(missing_ok=True)
            raise

    # -- one writer at a time ------------------------------------------------------------------
    @contextmanager
    def exclusive(self, what: str) -> Iterator[None]:
        """Hold the folder's lock for the block; refuse (ExpkitError) when another process does.

        The operating system drops the lock when its holder exits, also on kill -9, so a stale
        lock file never blocks anyone. The holder's pid and command are written in the file for
        the message another process shows.
        """
        from filelock import Timeout

        from expkit.files import file_lock, release_and_remove

        path = self / self.LOCK
        holder = json.dumps({"pid": os.getpid(), "command": what, "since": now_text()}).encode()

        def write_holder(fd: int) -> None:
            os.ftruncate(fd, 0)
            os.pwrite(fd, holder, 0)

        lock = file_lock(path, on_acquired=write_holder)
        try:
            lock.acquire(blocking=False)
        except Timeout:
            try:
                raw = path.read_bytes()
            except OSError:  # the holder ended (and removed its file) meanwhile
                raw = b""
            raise ExpkitError(
                f"{self.path} is in use by {describe_holder(raw)}; wait for it to end (or stop it) before you {what} this run."
            ) from None
        except OSError as err:
            raise ExpkitError(f"Cannot lock {self.path} for {what}: {err.strerror or err}.") from None
        try:
            yield
        finally:  # the holder removes its lock file: the folder is left as it was
            release_and_remove(lock)

    def holder(self) -> str | None:
        """Who holds the folder's lock ('process 123 (train, since ...)'), None when nobody does.
        Only looks: the lock file is not created, and a lock left by a dead process is free."""
        import fcntl

        try:
            fd = os.open(self / self.LOCK, os.O_RDONLY)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return describe_holder(os.pread(fd, 4096, 0))
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)


def describe_holder(raw: bytes) -> str:
    """'process 123 (resume, since 2026-01-01 12:00:00)' from a lock file's content."""
    try:
        data = json.loads(raw.decode("utf-8"))
        return f"process {data['pid']} ({data['command']}, since {data['since']})"
    except (ValueError, KeyError, TypeError):
        return "another process"
