"""One training run: build the parts from a validated config, fit, test, record the results.

Called by `expkit.api.fit`, which validates the config and owns the run folder first.
"""

from __future__ import annotations

import logging
import uuid
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

from omegaconf import DictConfig, OmegaConf

from expkit.components import build_callbacks, build_datamodule, build_loggers, build_task, instantiate_node
from expkit.plan import Plan
from expkit.run.folder import RunFolder
from expkit.run.guards import FiniteLossGuard, RunFolderGuard
from expkit.run.record import AFTER_FIT, RUN_ID_KEY, RunRecord, RunRecordCallback, plain_metrics
from expkit.run.tensorboard import BestValidationMetrics
from expkit.trackers import finish as finish_trackers
from expkit.torch_threads import torch_threads

log = logging.getLogger("expkit")


def train(
    cfg: DictConfig,
    folder: RunFolder,
    ckpt_path: str | None = None,
    extra_callbacks: list[Any] | None = None,
    source: dict[str, Any] | None = None,
    datamodule: Any = None,
    plan: Plan | None = None,
) -> dict[str, Any]:
    """Train and test the run described by `cfg` into `folder`; return its metrics.json content.

    `ckpt_path` continues from a checkpoint (Lightning restores weights, optimizer, loops).
    `datamodule`: built from `cfg` already (its setup() keeps the data it has read).
    `plan`: `cfg`'s, from its validation (`expkit.plan`); the loggers make one when not given.
    """
    with torch_threads(cfg.get("torch_threads")), sigterm_handler_kept(), ExitStack() as closing:
        return _train(cfg, folder, ckpt_path, extra_callbacks, source, datamodule, plan, closing)


@contextmanager
def sigterm_handler_kept() -> Iterator[None]:
    """The SIGTERM handler in place before the run, put back after it: the fit hands a raising
    handler over to Lightning, whose teardown leaves the default action, which would kill the
    next job of an in-process sweep silently while it reads its data. Not the single-run CLI's
    handler: its message says training had not started."""
    import signal
    import threading

    from expkit.errors import raise_terminated

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.getsignal(signal.SIGTERM)
    try:
        yield
    finally:
        if before is not None and before is not raise_terminated:
            signal.signal(signal.SIGTERM, before)


def _train(
    cfg: DictConfig,
    folder: RunFolder,
    ckpt_path: str | None,
    extra_callbacks: list[Any] | None,
    source: dict[str, Any] | None,
    datamodule: Any,
    plan: Plan | None,
    closing: ExitStack,
) -> dict[str, Any]:
    import pytorch_lightning as pl
    from lightning_fabric.utilities.rank_zero import rank_zero_only

    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    if datamodule is None:
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
    loggers = build_loggers(cfg, resume_step=resume_step, run_id=record.data[RUN_ID_KEY], plan=plan)
    closing.callback(close_writers, loggers)
    try:
        return _fit(cfg, folder, ckpt_path, extra_callbacks, source, datamodule, task, loggers, record, resume_step)
    finally:
        finish_trackers(loggers, "success" if record.data.get("status") == "finished" else "failed")


def _fit(cfg: DictConfig, folder: RunFolder, ckpt_path: str | None, extra_callbacks: list[Any] | None,
         source: dict[str, Any] | None, datamodule: Any, task: Any, loggers: list[Any], record: RunRecord,
         resume_step: int | None) -> dict[str, Any]:
    from lightning_fabric.utilities.rank_zero import rank_zero_only
    from pytorch_lightning.callbacks import ModelSummary, ProgressBar

    from expkit.run.requeue import DeferredSlurmRequeue

    guard = FiniteLossGuard(cfg.monitor.metric, RunFolder.LAST_CHECKPOINT)
    best_epoch = BestValidationMetrics(cfg.monitor.metric, cfg.monitor.mode)
    callbacks = [guard, RunFolderGuard(folder), *build_callbacks(cfg, with_logger=bool(loggers)), RunRecordCallback(record),
                 best_epoch, DeferredSlurmRequeue(), *(extra_callbacks or [])]
    if cfg.trainer.get("enable_model_summary", True) and not any(isinstance(c, ModelSummary) for c in callbacks):
        from expkit.run.console import ParameterSummary

        callbacks.append(ParameterSummary())  # one line, instead of a table with FLOPs 0
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
        _describe_run(loggers, resolved_yaml, getattr(task, "logged_metrics", ()))
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
    # Between the phases Lightning's SIGTERM handler is gone (its teardown put the default back,
    # which would kill the process with the record saying `running`): a SIGTERM is noted here
    # instead, and a run whose test has not run yet ends `interrupted` (the CLI exits 143).
    testing = cfg.get("test_after_fit", True)
    with sigterm_noted() as sigterm:
        sigterm.received |= trainer.received_sigterm  # arrived as the fit's last batch ended
        if testing and sigterm.received:
            record.update(status="interrupted", signal="SIGTERM", error=f"interrupted by SIGTERM {AFTER_FIT}, before the test")
            return dict(record.data)
        if testing:
            best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
            try:
                results = trainer.test(task, datamodule=datamodule, ckpt_path=best or None, weights_only=True, verbose=False)
            except SystemExit:
                # SIGTERMException mid-test, or Lightning's sys.exit(1) after Ctrl+C: on_exception
                # recorded the signal and the caller exits 143 / 130 for it.
                if record.data.get("status") != "interrupted":
                    raise
                record.update(error=f"{record.data.get('error', 'interrupted')} {AFTER_FIT}, during the test")
                return dict(record.data)
            metrics.update(plain_metrics(results[0] if results else {}))
        # From here the run is complete: a SIGTERM now changes nothing that was asked for.
        record.update(status="finished", **metrics)
        _publish_summary(loggers, cfg, folder, metrics, best_epoch)
    return dict(record.data)


def check_splits(datamodule: Any, cfg: DictConfig) -> None:
    """No split the run needs is empty. Lightning would skip an empty validation split without a
    word, and the run would "finish" with no val metric, no best checkpoint and no test."""
    from expkit.config_files import config_source
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

    from expkit.runs.loading import load_checkpoint

    return int(load_checkpoint(Path(ckpt_path)).get("global_step", 0))


def _describe_run(loggers: list[Any], resolved_yaml: str, metric_names: Sequence[str]) -> None:
    """The composed config in TensorBoard's TEXT tab (indented: rendered as a code block), and
    the Custom Scalars tab's layout."""
    from pytorch_lightning.loggers import TensorBoardLogger

    from expkit.run.tensorboard import write_layout

    text = "\n".join("    " + line for line in resolved_yaml.splitlines())
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_text("config", text, global_step=0)
            write_layout(logger.experiment, metric_names)


def _publish_summary(loggers: list[Any], cfg: DictConfig, folder: RunFolder, metrics: dict[str, float],
                     best: BestValidationMetrics) -> None:
    """Every logger's summary of the run (`expkit.trackers`): the run's headline keys, the keys
    its sweep varies and its overrides (`.hydra/overrides.yaml`, which a sweep job's Hydra overrides
    and a reproduced run's merged overrides are written to), with its final and best-checkpoint
    metrics (`expkit.run.hparams`) and the resolved config."""
    from lightning_fabric.utilities.rank_zero import rank_zero_only

    from expkit.run.hparams import other_metric_names, run_hparams, session_name, swept_keys, sweep_overrides
    from expkit.run.summary import RunSummary, publish

    if rank_zero_only.rank != 0 or not loggers or not metrics:
        return
    swept = swept_keys(sweep_overrides(folder.path))
    overrides = folder.read_overrides()
    others = other_metric_names(_other_runs_metrics(Path(cfg.paths.output_root), folder.path))
    publish(loggers, RunSummary(
        params=run_hparams(cfg, overrides, swept), final=metrics, best=dict(best.metrics), best_step=best.step,
        varying=swept, name=session_name(folder.path, cfg.paths.output_root, overrides), monitor=best.monitor,
        others=others, config_file=folder / RunFolder.RESOLVED,
    ))


def _other_runs_metrics(output_root: Path, run_dir: Path) -> list[tuple[str | None, list[str]]]:
    """(monitored metric, metric names) of every other run under the output root, for the
    HPARAMS metric columns (TensorBoard shows one run's list for the whole log folder)."""
    from expkit.runs.collect import read_runs

    if not output_root.is_dir():
        return []
    own = run_dir.resolve()
    return [(row.monitor, list(row.metrics)) for row in read_runs(output_root) if row.run_dir.resolve() != own]


def close_writers(loggers: list[Any]) -> None:
    """Close TensorBoard's writer however the run ended. Lightning closes it at the end of each
    phase, but expkit writes the HPARAMS summary after the test, which opens it again: each run
    left an event-writer thread and an open file behind in the process (a notebook, a sweep)."""
    from pytorch_lightning.loggers import TensorBoardLogger

    for logger in loggers:
        if isinstance(logger, TensorBoardLogger) and logger._experiment is not None:  # never opened: nothing to close
            logger.experiment.close()


def _hand_sigterm_to_lightning() -> None:
    """From here on Lightning handles SIGTERM (it saves `last.ckpt` and stops at a batch
    boundary, and the record says `interrupted`). Lightning also calls the handler it finds
    installed; the CLI's `raise_terminated` would then stop the fit mid-batch, so it goes."""
    import signal
    import threading

    from expkit.errors import raises_terminated

    if threading.current_thread() is threading.main_thread() and raises_terminated(signal.getsignal(signal.SIGTERM)):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


class NotedSignal:
    """Whether a signal arrived while `sigterm_noted` was in force."""

    received: bool = False


@contextmanager
def sigterm_noted() -> Iterator[NotedSignal]:
    """SIGTERM sets `.received` instead of killing the process, for the block (main thread only:
    elsewhere signals cannot be handled and the block runs as it is). Lightning's own handler,
    installed while it tests, calls this one too and stops the test at a batch boundary."""
    import signal
    import threading

    noted = NotedSignal()
    if threading.current_thread() is not threading.main_thread():
        yield noted
        return

    def note(signum: int, frame: object) -> None:
        noted.received = True

    previous = signal.signal(signal.SIGTERM, note)
    try:
        yield noted
    finally:
        signal.signal(signal.SIGTERM, previous)
