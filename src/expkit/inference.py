"""Class probabilities for new texts, from a run folder or an exported model folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from expkit.errors import ExpkitError

EXPORT_CONFIG = "config.json"
EXPORT_WEIGHTS = "model.safetensors"
EXPORT_VOCAB = "vocab.txt"


class TextClassifier:
    """A trained text classifier: its network, its text pipeline and its class names."""

    def __init__(self, net: nn.Module, encoder: Any, class_names: Sequence[str], device: Any = "cpu") -> None:
        self.net = net.to(device).eval()
        self.encoder = encoder  # a TextClassificationDataModule with its vocabulary loaded
        self.class_names = list(class_names)
        self._forward = self.net

    @classmethod
    def from_path(cls, path: str | Path, map_location: Any = "cpu") -> "TextClassifier":
        """A run folder (`.hydra/resolved.yaml` + checkpoint) or an `expkit export` folder."""
        path = Path(path)
        if (path / EXPORT_CONFIG).is_file() and (path / EXPORT_WEIGHTS).is_file():
            return cls.from_export(path, map_location)
        from expkit.run.loading import load_run

        run = load_run(path, map_location=map_location)
        if not hasattr(run.datamodule, "encode_texts"):
            raise ExpkitError(f"{path} is not a text-classification run; `predict` needs one (e.g. experiment=dbpedia_sample).")
        return cls(run.task.net, run.datamodule, run.datamodule.class_names, device=map_location)

    @classmethod
    def from_export(cls, folder: Path, map_location: Any = "cpu") -> "TextClassifier":
        from hydra.utils import instantiate
        from safetensors.torch import load_file

        from expkit.data.text import TextClassificationDataModule
        from expkit.text.vocab import Vocab

        config = json.loads((folder / EXPORT_CONFIG).read_text(encoding="utf-8"))
        vocab = Vocab.load(folder / EXPORT_VOCAB)
        encoder = TextClassificationDataModule(train_path=None, classes_path=None, **config["text_pipeline"])
        encoder.load_state_dict(
            {"vocab": vocab.to_state(), "class_names": config["class_names"], "ngrams": config["text_pipeline"]["ngrams"],
             "drop_unknown": config["text_pipeline"]["drop_unknown"], "batch_format": config["batch_format"]}
        )
        net = instantiate({"_target_": config["architecture"], **config["model_args"]})
        device = torch.device(map_location) if isinstance(map_location, str) else map_location
        net.load_state_dict(load_file(folder / EXPORT_WEIGHTS, device=str(device)))
        return cls(net, encoder, config["class_names"], device=device)

    def compile(self) -> None:
        """Run the network under `torch.compile` from now on."""
        self._forward = torch.compile(self.net, dynamic=True)

    @torch.inference_mode()
    def predict_proba(self, texts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
        """[len(texts), num_classes] probabilities."""
        device = next(self.net.parameters()).device
        out = []
        for start in range(0, len(texts), batch_size):
            inputs = self.encoder.encode_texts(texts[start : start + batch_size])
            out.append(torch.softmax(self._forward(*(t.to(device) for t in inputs)), dim=-1).cpu())
        return torch.cat(out) if out else torch.empty(0, len(self.class_names))
