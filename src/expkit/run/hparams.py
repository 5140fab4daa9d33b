"""Hyperparameters for TensorBoard's HPARAMS tab: the whole resolved config, flattened."""

from __future__ import annotations

from typing import Any, Mapping

from omegaconf import DictConfig, OmegaConf


def flatten_config(cfg: DictConfig | Mapping[str, Any]) -> dict[str, Any]:
    """`{"optimizer/lr": 0.1, "model/_target_": "...", ...}` with plain TensorBoard-safe values."""
    container = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(f"{prefix}/{k}" if prefix else str(k), v)
        elif isinstance(value, bool) or isinstance(value, (int, float, str)):
            flat[prefix] = value
        else:  # None, lists: TensorBoard only takes numbers, strings and booleans
            flat[prefix] = str(value)

    walk("", container)
    return flat


def write_hparams(writer: Any, params: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
    """Write the hparams session summary; metric values come from the scalars already logged."""
    from torch.utils.tensorboard.summary import hparams

    exp, ssi, sei = hparams(dict(params), dict(metrics))
    file_writer = writer._get_file_writer()
    for summary in (exp, ssi, sei):
        file_writer.add_summary(summary)
    writer.flush()
