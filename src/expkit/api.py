"""expkit from Python: compose a config, fit it, open a run. Every `expkit` command is built on this.

    import expkit

    cfg = expkit.compose(["experiment=regression", "trainer.max_epochs=5"])
    result = expkit.fit(cfg)                       # a new run folder under paths.output_root
    run = expkit.load_run(result.run_dir)
    run.evaluate()                                 # test metrics
    run.predict(["0.5", "0.25"])                   # [{"prediction": 0.65}, ...]

Nothing here keeps state between calls: each function takes what it needs and returns what it
made. Hydra's `hydra.main` is only used by the CLI for sweeps (`-m`) and Hydra's own flags.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from omegaconf import DictConfig, OmegaConf, open_dict

from expkit.errors import ConfigError, ExpkitError
from expkit.run.folder import RUN_DIR_ENV, RunFolder, process_rank
from expkit.run.loading import LoadedRun, load_checkpoint, load_run, override_list

__all__ = ["compose", "fit", "load_run", "reproduce", "resume", "RunResult", "LoadedRun", "workload_overrides"]

log = logging.getLogger("expkit")

# Choosing one of these groups without `experiment=` means another workload: the default
# experiment preset (which sets data, model, task and their keys together) is then dropped, so
# none of its keys (say, the DBpedia sample's `data.ngrams`) leak into the chosen data or task.
# Choosing only `model=` keeps the default experiment: same workload, another network.
WORKLOAD_GROUPS = ("data", "task")


@dataclass
class RunResult:
    """What `fit` made: the run folder, its final status and metrics (metrics.json's content)."""

    run_dir: Path
    status: str
    metrics: dict[str, Any]
    config: DictConfig


# Groups the primary config lists as `optional`: Hydra skips a misspelled option of these without a
# word, so `hparams_search=dbpedia_optna` would run one plain job instead of the search.
OPTIONAL_GROUPS = ("hparams_search",)


def check_optional_choices(overrides: Sequence[str], config_dirs: Sequence[Path]) -> None:
    """An option chosen for an optional group exists in one of the config folders."""
    for override in overrides:
        key, _, value = override.lstrip("+").partition("=")
        if key not in OPTIONAL_GROUPS or value in ("", "null") or "," in value or "(" in value:
            continue
        found = [d / key for d in config_dirs if (d / key / f"{value}.yaml").is_file()]
        if not found:
            options = sorted({p.stem for d in config_dirs for p in (d / key).glob("*.yaml")})
            raise ConfigError(
                f"command line `{override}`: there is no {key}/{value}.yaml. Available: {', '.join(options) or 'none'}."
            )


def check_config_argument(cfg: Any, what: str) -> None:
    if not isinstance(cfg, DictConfig):
        raise ConfigError(
            f"{what}: cfg must be the config `expkit.compose([...])` returns (a DictConfig), got {type(cfg).__name__}."
        )


def workload_overrides(overrides: Sequence[str]) -> list[str]:
    """`overrides`, plus `~experiment` when a workload group is chosen without an experiment."""
    keys = {o.lstrip("+~").split("=", 1)[0] for o in overrides if not o.startswith("-")}
    if "experiment" not in keys and keys & set(WORKLOAD_GROUPS):
        return ["~experiment", *overrides]
    return list(overrides)


def _hydra_error(err: Exception) -> ConfigError:
    import yaml

    text = " ".join(str(err).split())
    if isinstance(err, yaml.YAMLError):  # the message names the file, line and column
        return ConfigError(f"config file: {text}. Fix the YAML there.")
    if isinstance(err, UnicodeDecodeError):
        return ConfigError(f"config file: a YAML file of the config folders is not UTF-8 text ({err.reason} at byte "
                           f"{err.start}); save it as UTF-8.")
    if "LexerNoViableAlt" in text and any(ord(c) > 127 for c in text):
        return ConfigError(
            f"config: {text}. Hydra's override grammar takes non-ASCII characters only inside quotes: "
            "'key=\"välue\"' (the outer quotes are for the shell)."
        )
    return ConfigError(
        f"config: {text}. Check the override's spelling: `group=option` picks a file of conf/<group>/ "
        "(`expkit train --help` lists them), `key=value` sets an existing key, `+key=value` adds one."
    )


def compose(
    overrides: Sequence[str] = (), config_dir: str | Path | None = None, config_name: str = "train"
) -> DictConfig:
    """The config `expkit train OVERRIDES` would run, composed with Hydra's compose API.

    `config_dir` adds a folder of your own config groups (and a `train.yaml` there replaces
    expkit's primary config only if `config_name` names it). Nothing is written.
    """
    import yaml
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from expkit.config_files import conf_dir
    from expkit.run.stamp import register_resolvers

    register_resolvers()
    overrides = workload_overrides(override_list(overrides))
    if config_dir is not None:
        folder = Path(config_dir).resolve()
        if not folder.is_dir():
            raise ConfigError(f"--config-dir {config_dir}: no such folder.")
    check_optional_choices(overrides, [conf_dir()] + ([Path(config_dir)] if config_dir is not None else []))
    if config_dir is not None:
        overrides = [*overrides, f"hydra.searchpath=[file://{folder}]"]
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3", job_name="train"):
            cfg = hydra_compose(config_name, overrides=list(overrides), return_hydra_config=True)
    except (HydraException, OmegaConfBaseException, ValueError, yaml.YAMLError) as err:
        raise _hydra_error(err) from None
    finally:
        GlobalHydra.instance().clear()
    # `${hydra:...}` in the job config (the run's name) resolves against this composition, and
    # error messages name the files the choices came from.
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        if OmegaConf.is_interpolation(cfg, "name"):
            try:
                cfg.name = str(cfg.name)
            except OmegaConfBaseException as err:  # `name='${name}'`: a cycle
                from expkit.components import source_of_key

                raise ConfigError(
                    f"{source_of_key('name')}: `name` cannot be resolved: {str(err).splitlines()[0]}. Give the "
                    "run a plain name (name=my_run) or an expression that does not lead back to `name`."
                ) from None
        del cfg["hydra"]
    return cfg


def validate(cfg: DictConfig, run_dir: str | Path | None = None) -> None:
    """Everything that can be checked without reading data; raises ConfigError. Writes nothing.

    Paths inside the run folder are checked as they will be: under `run_dir`, or under a new
    folder `<paths.output_root>/<name>/` when there is none yet.
    """
    from expkit.components import check_contract
    from expkit.validation import check_devices, check_optimizer, check_paths, validate as check_values

    check_config_argument(cfg, "validate")
    cfg = cfg.copy()
    with open_dict(cfg):
        if cfg.get("paths") is not None:
            placeholder = Path(str(cfg.paths.get("output_root", "outputs"))) / str(cfg.get("name", "run")) / "<new run>"
            cfg.paths.run_dir = str(run_dir or placeholder)
    check_values(cfg)
    check_contract(cfg)
    check_optimizer(cfg)
    check_devices(cfg)
    check_paths(cfg)
    # A new folder is made under paths.output_root (a resume or a sweep job writes into its own).
    if run_dir is None and cfg.get("paths") is not None:
        from expkit.components import source_of_key

        RunFolder.refuse_nested(Path(str(cfg.paths.output_root)), "paths.output_root", source_of_key("paths.output_root"))
    # Data modules check their own values in __init__ (their setup() reads the data): building
    # one here reports an impossible value (batch_size=0, fractions over 1) before any folder.
    from expkit.components import build_datamodule

    build_datamodule(cfg)


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
) -> RunResult:
    """Validate `cfg`, then train and test it into a run folder; return the folder and metrics.

    `run_dir`: the folder to use (default: a new `<paths.output_root>/<name>/<timestamp>/`).
    `overrides`: recorded in `.hydra/overrides.yaml` (what `expkit runs` shows).
    `ckpt_path`: continue from this checkpoint. `source`: lineage recorded in metrics.json.
    A config that fails validation raises ConfigError before any folder or file is written.
    `validated=True`: the caller has just run `validate(cfg, run_dir)` on this same config (the
    CLI does, to print the config only when it is valid), so it is not checked twice.
    """
    return _fit(cfg, run_dir, overrides=overrides, ckpt_path=ckpt_path, source=source,
                extra_callbacks=extra_callbacks, lock=True, validated=validated)


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
        validate(cfg, run_dir)
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
                                extra_callbacks=list(extra_callbacks), source=source, datamodule=datamodule)
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


# -- configs that come from a run folder ------------------------------------------------------------
def snapshot_config(
    folder: RunFolder, overrides: Sequence[str] = (), trusted_modules: Sequence[str] = ()
) -> DictConfig:
    """The run's config snapshot (`.hydra/config.yaml`: interpolations kept, so changed `conf/`
    files do not change it) composed with `overrides` by Hydra (`+key`, `~key` work)."""
    import tempfile

    import yaml
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from expkit.run.loading import read_config_file
    from expkit.run.stamp import register_resolvers
    from expkit.trust import check_config_targets

    register_resolvers()
    snapshot_path = folder / RunFolder.SNAPSHOT
    snapshot = read_config_file(snapshot_path, "run")
    resolved = read_config_file(folder / RunFolder.RESOLVED, "run")
    check_config_targets(snapshot, str(snapshot_path), trusted_modules)
    check_config_targets(resolved, str(folder / RunFolder.RESOLVED), trusted_modules)
    for key in SWEEP_ONLY_KEYS:
        snapshot.pop(key, None)
    name = resolved.get("name", folder.path.parent.name)
    if not isinstance(name, str):
        raise ExpkitError(f"{folder / RunFolder.RESOLVED}: name={name!r} is not a run name (a string); restore the file.")
    with open_dict(snapshot):
        snapshot.name = name  # it was an experiment choice
        snapshot.pop("hydra", None)
    bad = [o for o in overrides if o.startswith(("hydra.", "hydra/", "-"))]
    if bad:
        raise ConfigError(f"{bad}: Hydra options and flags do not apply here; give config overrides (key=value).")
    GlobalHydra.instance().clear()
    with tempfile.TemporaryDirectory(prefix="expkit-snapshot-") as tmp:
        (Path(tmp) / "snapshot.yaml").write_text(OmegaConf.to_yaml(snapshot), encoding="utf-8")
        try:
            with initialize_config_dir(config_dir=tmp, version_base="1.3", job_name="train"):
                cfg = hydra_compose("snapshot", overrides=list(overrides))
        except (HydraException, OmegaConfBaseException, ValueError, yaml.YAMLError) as err:
            raise _hydra_error(err) from None
        finally:
            GlobalHydra.instance().clear()
    check_config_targets(cfg, f"{snapshot_path} with overrides {list(overrides)}", trusted_modules)
    return cfg


# Keys of a sweep job that belong to its sweep, not to the run.
SWEEP_ONLY_KEYS = ("optuna_trial",)


def reproduce(
    run_dir: str | Path, overrides: Sequence[str] = (), trusted_modules: Sequence[str] = ()
) -> RunResult:
    """Train the run's saved config again (plus `overrides`) into a new folder; lineage recorded."""
    folder = RunFolder.open(run_dir)
    overrides = override_list(overrides)
    cfg = snapshot_config(folder, overrides, trusted_modules)
    source = {"run_dir": str(folder.path.resolve()), "command": "reproduce", "overrides": list(overrides)}
    original = folder.read_overrides()
    return fit(cfg, overrides=merge_overrides(original, overrides), source=source)


def merge_overrides(previous: Sequence[str], new: Sequence[str]) -> list[str]:
    """The run's overrides with `new` replacing those of the same key."""
    key = lambda o: o.split("=", 1)[0].lstrip("+~")  # noqa: E731
    replaced = {key(o) for o in new}
    return [o for o in previous if key(o) not in replaced] + list(new)


def resume(
    run_dir: str | Path, overrides: Sequence[str] = (), trusted_modules: Sequence[str] = ()
) -> RunResult:
    """Continue a run from `checkpoints/last.ckpt` in its own folder (overrides extend it, e.g.
    `trainer.max_epochs=20`). Everything is checked before the folder is touched: the config, the
    checkpoint against the composed model; and the folder is locked against a second resume."""
    folder = RunFolder.open(run_dir)
    overrides = override_list(overrides)
    # A DDP run's other processes re-run this command while rank 0 holds the lock.
    with folder.exclusive("resume") if process_rank() == 0 else nullcontext():
        last = folder.resume_checkpoint()
        previous_overrides = folder.read_overrides()  # read now: a damaged file is refused before training
        cfg = snapshot_config(folder, overrides, trusted_modules)
        with open_dict(cfg):
            cfg.paths.run_dir = str(folder.path)
        validate(cfg, folder.path)
        ckpt = load_checkpoint(last)  # mapped, read once for both checks
        datamodule = check_checkpoint_fits(cfg, last, ckpt)  # first: a mistyped override is the likelier mistake
        check_checkpoint_owner(folder, last, ckpt)
        refuse_nothing_to_train(folder, cfg)
        source = {"run_dir": str(folder.path.resolve()), "command": "resume", "overrides": list(overrides)}
        with folder.records_kept_on_failure():
            # The lock taken above is held through the training.
            result = _fit(cfg, folder.path, overrides=(), ckpt_path=last, source=source, extra_callbacks=(),
                          lock=False, validated=True, datamodule=datamodule)
        if overrides and result.status == "finished" and process_rank() == 0:
            # The snapshot becomes the config the run now has; overrides.yaml lists the run's
            # overrides with the new ones replacing old ones.
            folder.write_snapshot(OmegaConf.to_yaml(cfg), merge_overrides(previous_overrides, overrides))
        return result


def refuse_nothing_to_train(folder: RunFolder, cfg: DictConfig) -> None:
    """An ExpkitError when the run finished all the epochs `cfg` asks for: Lightning would train
    nothing, and the resume would test again and log a second HPARAMS session to the run."""
    metrics = folder.read_metrics()
    done, wanted = metrics.get("epochs_done"), cfg.trainer.get("max_epochs")
    unlimited_steps = cfg.trainer.get("max_steps") in (None, -1)
    if (metrics.get("status") == "finished" and isinstance(done, int) and isinstance(wanted, int)
            and 0 < wanted <= done and unlimited_steps):
        raise ExpkitError(
            f"{folder.path} already finished its {done} epochs (trainer.max_epochs={wanted}): resuming would train "
            f"nothing. To train more, give the new total: expkit resume {folder.path} trainer.max_epochs={done + 10}, "
            "for example."
        )


def check_checkpoint_owner(folder: RunFolder, ckpt_file: Path, ckpt: dict[str, Any]) -> None:
    """An ExpkitError when `ckpt_file` was written by another run than `folder`'s (the run ids
    in the checkpoint and in metrics.json differ): a last.ckpt copied in from another run of the
    same model fits it, and the resume would silently go on from that run's epoch and weights.
    Checkpoints and records written before run ids existed pass."""
    from expkit.run.record import RUN_ID_KEY

    owner = ckpt.get(RUN_ID_KEY)
    run_id = folder.read_metrics().get(RUN_ID_KEY)
    if isinstance(owner, str) and isinstance(run_id, str) and owner != run_id:
        raise ExpkitError(
            f"{ckpt_file} was written by another run (run id {owner}), not by {folder.path} (run id {run_id} in its "
            f"{RunFolder.METRICS}); resuming would go on from that run's epochs and weights. Nothing was changed. Put "
            "this run's own last.ckpt back, or resume the run that wrote it."
        )


def check_checkpoint_fits(cfg: DictConfig, ckpt_file: Path, ckpt: dict[str, Any]) -> Any:
    """The checkpoint's weights (`ckpt`, loaded from `ckpt_file`) load into the model `cfg`
    builds (shapes and names), else an ExpkitError: checked before a resume writes anything.
    Returns the data module it set up, so that the resumed fit reads the data only once."""
    from expkit.components import build_datamodule, build_task

    # Built as `training.train` builds it, from the config and its data (not from the
    # checkpoint's data state): that is the model the checkpoint must load into.
    datamodule = build_datamodule(cfg)
    datamodule.setup("fit")
    task = build_task(cfg, datamodule)
    try:
        task.load_state_dict(ckpt.get("state_dict", {}))
    except RuntimeError as err:
        first = str(err).splitlines()
        detail = "; ".join(line.strip() for line in first[1:3]) or first[0]
        raise ExpkitError(
            f"{ckpt_file} does not fit the model this config builds ({detail}). An override changed the model or the "
            "data's sizes, or the checkpoint belongs to another run; nothing was changed. Resume with the run's own "
            "settings, or start a new run with `expkit train`."
        ) from None
    return datamodule
