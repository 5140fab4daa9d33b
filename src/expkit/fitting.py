"""Validate a composed config once, then fit it into a run folder: the run's lifecycle (the folder
made, locked, logged to, handed to DDP's other ranks, removed again when nothing was kept)."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from omegaconf import DictConfig, OmegaConf, open_dict

from expkit.errors import ExpkitError
from expkit.run.folder import RUN_DIR_ENV, RunFolder, process_rank
from expkit.runs.loading import override_list

log = logging.getLogger("expkit")

from expkit.composition import check_config_argument

if TYPE_CHECKING:
    from expkit.plan import Plan


@dataclass
class RunResult:
    """What `fit` made: the run folder, its final status and metrics (metrics.json's content)."""

    run_dir: Path
    status: str
    metrics: dict[str, Any]
    config: DictConfig


def validate(cfg: DictConfig, run_dir: str | Path | None = None) -> Plan:
    """Everything that can be checked without reading data; raises ConfigError. Writes nothing.

    Paths inside the run folder are checked as they will be: under `run_dir`, or under a new
    folder `<paths.output_root>/<name>/` when there is none yet. Returns the plan checked
    (`expkit.plan`: each component's `_target_` resolved once), for `fit(..., plan=)`.
    """
    from expkit.config_files import source_of_key
    from expkit.validation import check_contract, check_devices, check_optimizer, check_paths, validate as check_values

    check_config_argument(cfg, "validate")
    cfg = cfg.copy()
    with open_dict(cfg):
        if cfg.get("paths") is not None:
            placeholder = Path(str(cfg.paths.get("output_root", "outputs"))) / str(cfg.get("name", "run")) / "<new run>"
            cfg.paths.run_dir = str(run_dir or placeholder)
    plan = check_values(cfg)
    check_contract(plan)
    check_optimizer(cfg)
    check_devices(cfg)
    check_paths(cfg)
    # A new folder is made under paths.output_root (a resume or a sweep job writes into its own).
    if run_dir is None and cfg.get("paths") is not None:
        RunFolder.refuse_nested(Path(str(cfg.paths.output_root)), "paths.output_root", source_of_key("paths.output_root"))
    # Data modules check their own values in __init__ (their setup() reads the data): building
    # one here reports an impossible value (batch_size=0, fractions over 1) before any folder.
    from expkit.components import build_datamodule

    build_datamodule(cfg)
    return plan


@contextmanager
def run_log(folder: RunFolder) -> Iterator[None]:
    """The run's `train.log`, for the duration of a fit (Hydra already writes it for `-m` jobs)."""
    from expkit.run.folder import TIME_FORMAT

    root = logging.getLogger()
    path = (folder / RunFolder.LOG).resolve()
    if any(getattr(h, "baseFilename", None) == str(path) for h in root.handlers):
        yield
        return
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s", TIME_FORMAT))
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()


def fit(
    cfg: DictConfig,
    run_dir: str | Path | None = None,
    *,
    overrides: Sequence[str] = (),
    ckpt_path: str | Path | None = None,
    source: dict[str, Any] | None = None,
    extra_callbacks: Sequence[Any] = (),
    validated: bool = False,
    plan: Plan | None = None,
) -> RunResult:
    """Validate `cfg`, then train and test it into a run folder; return the folder and metrics.

    `run_dir`: the folder to use (default: a new `<paths.output_root>/<name>/<timestamp>/`).
    `overrides`: recorded in `.hydra/overrides.yaml` (what `expkit runs` shows).
    `ckpt_path`: continue from this checkpoint. `source`: lineage recorded in metrics.json.
    A config that fails validation raises ConfigError before any folder or file is written.
    `validated=True`: the caller has just run `validate(cfg, run_dir)` on this same config (the
    CLI does, to print the config only when it is valid), so it is not checked twice; `plan`: what
    that `validate` returned, so that the run is built from the `_target_`s it resolved.
    """
    return _fit(cfg, run_dir, overrides=overrides, ckpt_path=ckpt_path, source=source,
                extra_callbacks=extra_callbacks, lock=True, validated=validated, plan=plan)


def _fit(
    cfg: DictConfig,
    run_dir: str | Path | None,
    *,
    overrides: Sequence[str],
    ckpt_path: str | Path | None,
    source: dict[str, Any] | None,
    extra_callbacks: Sequence[Any],
    lock: bool,
    validated: bool,
    plan: Plan | None = None,
    datamodule: Any = None,
) -> RunResult:
    """`fit`; `lock=False` when the caller already holds the folder's lock (`resume`);
    `datamodule`: one already built and set up from this config (resume's, whose data is read once)."""
    from contextlib import ExitStack

    from expkit.training import train

    check_config_argument(cfg, "fit")
    overrides = override_list(overrides)
    cfg = cfg.copy()
    if not validated:
        plan = validate(cfg, run_dir)
    rank = process_rank()
    created = run_dir is None and rank == 0
    folder = RunFolder.create(cfg.paths.output_root, str(cfg.name)) if run_dir is None else RunFolder(run_dir)
    if not folder.path.is_dir():
        what = "is not a folder" if folder.path.exists() else "does not exist"
        raise ExpkitError(f"{folder.path} {what}; fit writes into an existing folder or creates a new one (run_dir=None).")
    with ExitStack() as stack:
        if lock and rank == 0:
            # Locked while it trains: a `resume` of it meanwhile is refused, naming this process.
            # DDP's other ranks write into rank 0's folder under rank 0's lock.
            stack.enter_context(folder.exclusive("train"))
        with open_dict(cfg):
            cfg.paths.run_dir = str(folder.path.resolve())  # absolute, as Hydra's output_dir is
        if rank == 0 and not (folder / RunFolder.SNAPSHOT).exists():
            folder.write_snapshot(OmegaConf.to_yaml(cfg), overrides)
        if rank == 0:
            stack.enter_context(run_log(folder))
            stack.enter_context(ddp_handoff(folder))
        log.info("Run folder: %s", folder.path)
        try:
            with writer_threads_of(folder):
                metrics = train(cfg, folder, ckpt_path=str(ckpt_path) if ckpt_path else None,
                                extra_callbacks=list(extra_callbacks), source=source, datamodule=datamodule, plan=plan)
        except BaseException as err:
            if not isinstance(err, KeyboardInterrupt) and (not folder.path.is_dir() or lost_to_deletion(folder, err)):
                # Deleted mid-run: whatever failed first (a logger's writer, a checkpoint save, the
                # record), the cause is the folder; say that, once.
                raise folder.gone() from None
            # Refused, or stopped by Ctrl+C while the data was still being read: the run never
            # started (no metrics.json), so its folder would only be clutter in `expkit runs`.
            if created and isinstance(err, (ExpkitError, KeyboardInterrupt)) and not (folder / RunFolder.METRICS).exists():
                discard_untouched(folder)
            raise
    return RunResult(folder.path, str(metrics.get("status")), metrics, cfg)


def lost_to_deletion(folder: RunFolder, err: BaseException | None) -> bool:
    """Whether `err` is a file error caused by the run folder being deleted: the folder is gone,
    or the error's file lies in it and was not found, or its own folder is gone.

    The error is often seen while `rm -rf` is still at work: it removes the insides first, and a
    checkpoint write can re-create `checkpoints/` meanwhile, so "not found inside the folder"
    counts even when the folder and the file's parent exist at the moment of asking."""
    import errno
    import os

    if not isinstance(err, OSError):
        return False
    if not folder.path.is_dir():
        return True
    name = os.path.abspath(os.fsdecode(err.filename)) if err.filename else ""
    if not name.startswith(str(folder.path.resolve()) + os.sep):
        return False
    return err.errno == errno.ENOENT or not Path(name).parent.is_dir()


@contextmanager
def writer_threads_of(folder: RunFolder) -> Iterator[None]:
    """While the run trains, an exception in a background writer thread (TensorBoard's event
    writer) is not printed as a traceback when the run folder is gone: the run stops with one
    message (RunFolderGone). Other thread exceptions are printed as before."""
    import threading

    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if lost_to_deletion(folder, args.exc_value):
            log.debug("Writer thread %s failed as the run folder was deleted: %s", args.thread, args.exc_value)
            return
        previous(args)

    threading.excepthook = hook
    try:
        yield
    finally:
        # With the folder gone the hook stays: that run's writer threads can still fail after fit
        # has returned (their last flush at exit), and they are the only ones it keeps quiet.
        if folder.path.is_dir():
            threading.excepthook = previous


@contextmanager
def ddp_handoff(folder: RunFolder) -> Iterator[None]:
    """What the processes Lightning's `ddp` launcher starts for ranks > 0 need from rank 0.

    The launcher re-runs this process's command line (`expkit train ...`) with LOCAL_RANK set,
    and copies the environment when the Trainer starts. The run folder goes in RUN_DIR_ENV, so
    they do not claim a timestamp folder of their own (Hydra #2070). When Hydra's config is
    set (`expkit train` composes with it), Lightning adds `hydra.run.dir=<HydraConfig's
    run.dir>` to their command line (Lightning #16694); reading that value would resolve our
    `${expkit_stamp:...}` and claim an empty folder, so it is set to this run's folder first.
    """
    import os

    from hydra.core.hydra_config import HydraConfig
    from omegaconf import read_write

    previous = os.environ.get(RUN_DIR_ENV)
    os.environ[RUN_DIR_ENV] = str(folder.path.resolve())
    if HydraConfig.initialized():
        hydra_cfg = HydraConfig.get()
        with read_write(hydra_cfg):
            hydra_cfg.run.dir = str(folder.path.resolve())
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(RUN_DIR_ENV, None)
        else:
            os.environ[RUN_DIR_ENV] = previous


def discard_untouched(folder: RunFolder) -> None:
    """A run refused before it started leaves no folder behind (config snapshot and log only)."""
    import shutil

    own = {p.name for p in folder.path.iterdir()} if folder.path.is_dir() else set()
    if own <= {RunFolder.HYDRA_DIR, RunFolder.LOG, RunFolder.LOCK}:
        shutil.rmtree(folder.path, ignore_errors=True)
        for parent in (folder.path.parent, folder.path.parent.parent):  # <name>/ and the root, if now empty
            try:
                parent.rmdir()
            except OSError:
                break
