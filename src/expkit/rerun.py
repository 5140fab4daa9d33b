"""Run a run folder again: `reproduce` (a new run from its config snapshot) and `resume` (the same
run continued from `checkpoints/last.ckpt`), each checked before anything is written."""

from __future__ import annotations

import logging
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Sequence

from omegaconf import DictConfig, OmegaConf, open_dict

from expkit.errors import ConfigError, ExpkitError
from expkit.run.folder import RunFolder, process_rank
from expkit.runs.loading import load_checkpoint, override_list

log = logging.getLogger("expkit")

from expkit.composition import hydra_error
from expkit.fitting import RunResult, _fit, fit, validate


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

    from expkit.runs.loading import read_config_file
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
            raise hydra_error(err) from None
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
        plan = validate(cfg, folder.path)
        ckpt = load_checkpoint(last)  # mapped, read once for both checks
        datamodule = check_checkpoint_fits(cfg, last, ckpt)  # first: a mistyped override is the likelier mistake
        check_checkpoint_owner(folder, last, ckpt)
        refuse_nothing_to_train(folder, cfg)
        source = {"run_dir": str(folder.path.resolve()), "command": "resume", "overrides": list(overrides)}
        with folder.records_kept_on_failure():
            # The lock taken above is held through the training.
            result = _fit(cfg, folder.path, overrides=(), ckpt_path=last, source=source, extra_callbacks=(),
                          lock=False, validated=True, plan=plan, datamodule=datamodule)
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
