"""One training run: build the parts from a validated config, fit, test, record the results.

Called by `expkit.api.fit`, which validates the config and owns the run folder first.
"""

from __future__ import annotations

import logging
import uuid
from contextlib import contextmanager
from typing import Any, Iterator

from omegaconf import DictConfig, OmegaConf

from expkit.components import build_callbacks, build_datamodule, build_loggers, build_task, instantiate_node
from expkit.run.folder import RunFolder
from expkit.run.guards import FiniteLossGuard, RunFolderGuard
from expkit.run.record import RUN_ID_KEY, RunRecord, RunRecordCallback, plain_metrics
from expkit.trackers import finish as finish_trackers
from expkit.run.tensorboard import BestValidationMetrics

log = logging.getLogger("expkit")


def train(
    cfg: DictConfig,
    folder: RunFolder,
    ckpt_path: str | None = None,
    extra_callbacks: list[Any] | None = None,
    source: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train and test the run described by `cfg` into `folder`; return its metrics.json content.

    `ckpt_path` continues from a checkpoint (Lightning restores weights, optimizer, loops).
    """
    with torch_threads(cfg.get("torch_threads")):
        return _train(cfg, folder, ckpt_path, extra_callbacks, source)


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """torch's intra-op thread count set to `count` (config key `torch_threads`) for the block,
    then put back: in a notebook or a sweep, one run's setting does not leak into the next.
    None keeps the current count."""
    import torch

    if count is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(int(count))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _train(
    cfg: DictConfig,
    folder: RunFolder,
    ckpt_path: str | None,
    extra_callbacks: list[Any] | None,
    source: dict[str, Any] | None,
) -> dict[str, Any]:
    import pytorch_lightning as pl
    from lightning_fabric.utilities.rank_zero import rank_zero_only

    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = build_datamodule(cfg)
    if rank_zero_only.rank == 0:  # downloads happen once, as Lightning's own prepare_data would
        datamodule.prepare_data()
    datamodule.setup("fit")
    check_splits(datamodule, cfg)
    task = build_task(cfg, datamodule)
    resume_step = checkpoint_step(ckpt_path)
    record = RunRecord(folder)
    # The run's identity (kept by a resume) exists before the loggers: each tracker's run is tied to it.
    record.data.setdefault(RUN_ID_KEY, uuid.uuid4().hex)
    loggers = build_loggers(cfg, resume_step=resume_step, run_id=record.data[RUN_ID_KEY])
    try:
        return _fit(cfg, folder, ckpt_path, extra_callbacks, source, datamodule, task, loggers, record, resume_step)
    finally:
        finish_trackers(loggers, "success" if record.data.get("status") == "finished" else "failed")


def _fit(cfg: DictConfig, folder: RunFolder, ckpt_path: str | None, extra_callbacks: list[Any] | None,
         source: dict[str, Any] | None, datamodule: Any, task: Any, loggers: list[Any], record: RunRecord,
         resume_step: int | None) -> dict[str, Any]:
    from lightning_fabric.utilities.rank_zero import rank_zero_only
    from pytorch_lightning.callbacks import ProgressBar

    guard = FiniteLossGuard(cfg.monitor.metric, RunFolder.LAST_CHECKPOINT)
    best_epoch = BestValidationMetrics(cfg.monitor.metric, cfg.monitor.mode)
    callbacks = [guard, RunFolderGuard(folder), *build_callbacks(cfg, with_logger=bool(loggers)), RunRecordCallback(record),
                 best_epoch, *(extra_callbacks or [])]
    with_bar = any(isinstance(c, ProgressBar) for c in callbacks)
    # Lightning checks some values only here (devices=0, an accelerator it lacks): a ConfigError
    # naming conf/trainer/, before the run's record starts (so the refused run leaves no folder).
    trainer = instantiate_node(cfg, "trainer", logger=loggers or False, callbacks=callbacks, enable_progress_bar=with_bar)

    if rank_zero_only.rank == 0:
        from expkit.run.environment import environment_record
        from expkit.validation import epoch_limit_notice

        notice = epoch_limit_notice(cfg.trainer)
        if notice:
            log.warning(notice)

        resolved_yaml = OmegaConf.to_yaml(cfg, resolve=True)
        folder.write_resolved(resolved_yaml)
        _describe_run(loggers, resolved_yaml)
        folder.write_environment(environment_record(), resumed_step=resume_step)
    record.start(experiment=str(cfg.name), monitor=cfg.monitor.metric, mode=cfg.monitor.mode, source=source)

    _hand_sigterm_to_lightning()
    try:
        trainer.fit(task, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    except SystemExit:
        # Lightning ends an interrupted fit with SystemExit: sys.exit(1) after Ctrl+C, and
        # SIGTERMException after SIGTERM. The record already says `interrupted` (RunRecordCallback
        # saw the signal); the caller reports it and exits as for that signal.
        if record.data.get("status") != "interrupted":
            raise
    if trainer.interrupted:
        return dict(record.data)
    metrics = plain_metrics(trainer.callback_metrics)
    if cfg.get("test_after_fit", True):
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        results = trainer.test(task, datamodule=datamodule, ckpt_path=best or None, weights_only=True, verbose=False)
        metrics.update(plain_metrics(results[0] if results else {}))
    record.update(status="finished", **metrics)
    _publish_summary(loggers, cfg, folder, metrics, best_epoch)
    return dict(record.data)


def check_splits(datamodule: Any, cfg: DictConfig) -> None:
    """No split the run needs is empty. Lightning would skip an empty validation split without a
    word, and the run would "finish" with no val metric, no best checkpoint and no test."""
    from expkit.components import config_source
    from expkit.errors import DataError

    splits = getattr(datamodule, "splits", None)
    if not isinstance(splits, dict):
        return
    sizes = {}
    for name, split in splits.items():
        try:
            sizes[name] = len(split)
        except TypeError:
            continue
    needed = ["train", "val"] + (["test"] if cfg.get("test_after_fit", True) else [])
    empty = [name for name in needed if sizes.get(name) == 0]
    if empty:
        shown = ", ".join(f"{k} {v}" for k, v in sizes.items())
        raise DataError(
            f"{config_source('data')}: the {' and '.join(empty)} split{'s are' if len(empty) > 1 else ' is'} empty "
            f"(rows: {shown}), so the run would have nothing to {'validate' if 'val' in empty else 'train or test'} on. "
            "Give more data, or raise data.val_fraction / data.test_fraction."
        )


def checkpoint_step(ckpt_path: str | None) -> int | None:
    """The global step a checkpoint was saved at (where a resumed run's curves continue)."""
    if not ckpt_path:
        return None
    from pathlib import Path

    from expkit.run.loading import load_checkpoint

    return int(load_checkpoint(Path(ckpt_path)).get("global_step", 0))


def _describe_run(loggers: list[Any], resolved_yaml: str) -> None:
    """The composed config in TensorBoard's TEXT tab (indented: rendered as a code block), and
    the Custom Scalars tab's layout."""
    from pytorch_lightning.loggers import TensorBoardLogger

    from expkit.run.tensorboard import write_layout

    text = "\n".join("    " + line for line in resolved_yaml.splitlines())
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_text("config", text, global_step=0)
            write_layout(logger.experiment)


def _publish_summary(loggers: list[Any], cfg: DictConfig, folder: RunFolder, metrics: dict[str, float],
                     best: BestValidationMetrics) -> None:
    """Every logger's summary of the run (`expkit.trackers`): the run's headline keys, the keys
    its sweep varies and its overrides (`.hydra/overrides.yaml`, which a sweep job's Hydra overrides
    and a reproduced run's merged overrides are written to), with its final and best-checkpoint
    metrics (`expkit.run.hparams`) and the resolved config."""
    from lightning_fabric.utilities.rank_zero import rank_zero_only

    from expkit.run.hparams import run_hparams, session_name, swept_keys, sweep_overrides
    from expkit.run.summary import RunSummary, publish

    if rank_zero_only.rank != 0 or not loggers or not metrics:
        return
    swept = swept_keys(sweep_overrides(folder.path))
    publish(loggers, RunSummary(
        params=run_hparams(cfg, folder.read_overrides(), swept), final=metrics, best=dict(best.metrics),
        best_step=best.step, varying=swept, name=session_name(folder.path, cfg.paths.output_root),
        config_file=folder / RunFolder.RESOLVED,
    ))


def _hand_sigterm_to_lightning() -> None:
    """From here on Lightning handles SIGTERM (it saves `last.ckpt` and stops at a batch
    boundary, and the record says `interrupted`). Lightning also calls the handler it finds
    installed; the CLI's `raise_terminated` would then stop the fit mid-batch, so it goes."""
    import signal
    import threading

    from expkit.errors import raise_terminated

    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is raise_terminated:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
