"""One training run: build the parts from the config, fit, test, record the results."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from expkit.components import build_callbacks, build_datamodule, build_loggers, build_task, check_config, check_contract
from expkit.run.files import write_json_atomic, write_text_atomic
from expkit.run.record import RunRecord, RunRecordCallback, plain_metrics

log = logging.getLogger("expkit")

from expkit.run.loading import RESOLVED_CONFIG
ENVIRONMENT_FILE = "environment.json"


def train(
    cfg: DictConfig, run_dir: Path, ckpt_path: str | None = None, extra_callbacks: list[Any] | None = None
) -> dict[str, Any]:
    """Train and test the run described by `cfg` into `run_dir`; return its final metrics.

    `ckpt_path` continues from a checkpoint (Lightning restores weights, optimizer, loops).
    """
    import pytorch_lightning as pl
    from hydra.utils import instantiate
    from lightning_fabric.utilities.rank_zero import rank_zero_only

    check_config(cfg)
    check_contract(cfg)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = build_datamodule(cfg)
    if rank_zero_only.rank == 0:  # downloads happen once, as Lightning's own prepare_data would
        datamodule.prepare_data()
    datamodule.setup("fit")
    task = build_task(cfg, datamodule)
    loggers = build_loggers(cfg, resume_step=checkpoint_step(ckpt_path))
    record = RunRecord(run_dir)
    callbacks = [*build_callbacks(cfg, with_logger=bool(loggers)), RunRecordCallback(record), *(extra_callbacks or [])]
    from pytorch_lightning.callbacks import ProgressBar

    with_bar = any(isinstance(c, ProgressBar) for c in callbacks)
    trainer = instantiate(
        cfg.trainer, logger=loggers or False, callbacks=callbacks, enable_progress_bar=with_bar, _convert_="all"
    )

    if rank_zero_only.rank == 0:
        resolved_yaml = OmegaConf.to_yaml(cfg, resolve=True)
        write_text_atomic(run_dir / RESOLVED_CONFIG, resolved_yaml)
        _log_config_text(loggers, resolved_yaml)
        from expkit.run.environment import environment_record

        env_file = run_dir / ENVIRONMENT_FILE
        if ckpt_path and env_file.exists():  # a resumed run keeps its original record
            env_file = run_dir / f"environment.resumed-{checkpoint_step(ckpt_path)}.json"
        write_json_atomic(env_file, environment_record())
    record.start(experiment=str(cfg.name), monitor=cfg.monitor.metric, mode=cfg.monitor.mode)

    trainer.fit(task, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    if trainer.interrupted:
        return dict(record.data)
    metrics = plain_metrics(trainer.callback_metrics)
    if cfg.get("test_after_fit", True):
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        results = trainer.test(task, datamodule=datamodule, ckpt_path=best or None, weights_only=True, verbose=False)
        metrics.update(plain_metrics(results[0] if results else {}))
    record.update(status="finished", **metrics)
    _log_hparams(task, cfg, metrics)
    return dict(record.data)


def checkpoint_step(ckpt_path: str | None) -> int | None:
    """The global step a checkpoint was saved at (where a resumed run's curves continue)."""
    if not ckpt_path:
        return None
    from expkit.run.loading import load_checkpoint

    return int(load_checkpoint(Path(ckpt_path)).get("global_step", 0))


def _log_config_text(loggers: list[Any], resolved_yaml: str) -> None:
    """The composed config in TensorBoard's TEXT tab (indented: rendered as a code block)."""
    from pytorch_lightning.loggers import TensorBoardLogger

    text = "\n".join("    " + line for line in resolved_yaml.splitlines())
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_text("config", text, global_step=0)


def _log_hparams(task: Any, cfg: DictConfig, metrics: dict[str, float]) -> None:
    from expkit.run.hparams import flatten_config, write_hparams

    from lightning_fabric.utilities.rank_zero import rank_zero_only

    writer = task.tensorboard()
    if rank_zero_only.rank == 0 and writer is not None and metrics:
        write_hparams(writer, flatten_config(cfg), metrics)
