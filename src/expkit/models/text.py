"""Text classifiers from the torchtext tutorial and the course: bag of embeddings, LSTM, MLP.

Each declares its `input_format` (see `expkit.contract`): "bag" models take (flat ids, offsets)
as built for EmbeddingBag; "padded" models take (padded ids, lengths). The data module batches
accordingly.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class EmbeddingBagClassifier(nn.Module):
    """The torchtext tutorial's model: EmbeddingBag(mean) + Linear.

    `sparse=True` gives the embedding sparse gradients: at DBpedia's vocabulary size they are
    ~80x faster than dense ones (use SGD, or an optimizer that accepts sparse gradients).
    """

    input_format = "bag"

    def __init__(
        self, vocab_size: int, num_classes: int, embed_dim: int = 64, sparse: bool = True,
        init_range: float = 0.5,
    ) -> None:
        super().__init__()
        self.embedding = nn.EmbeddingBag(vocab_size, embed_dim, mode="mean", sparse=sparse)
        self.fc = nn.Linear(embed_dim, num_classes)
        self.embedding.weight.data.uniform_(-init_range, init_range)
        self.fc.weight.data.uniform_(-init_range, init_range)
        self.fc.bias.data.zero_()

    def forward(self, ids: Tensor, offsets: Tensor) -> Tensor:
        return self.fc(self.embedding(ids, offsets))


class MeanMLPClassifier(nn.Module):
    """Mean of word embeddings -> Linear(hidden) -> ReLU -> Linear."""

    input_format = "bag"

    def __init__(
        self, vocab_size: int, num_classes: int, embed_dim: int = 64, hidden_size: int = 128,
        dropout: float = 0.0, sparse: bool = True,
    ) -> None:
        super().__init__()
        self.embedding = nn.EmbeddingBag(vocab_size, embed_dim, mode="mean", sparse=sparse)
        self.head = nn.Sequential(
            nn.Linear(embed_dim, hidden_size), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden_size, num_classes)
        )

    def forward(self, ids: Tensor, offsets: Tensor) -> Tensor:
        return self.head(self.embedding(ids, offsets))


class LSTMClassifier(nn.Module):
    """Embedding -> multi-layer LSTM over the packed sequence -> last hidden state -> Linear."""

    input_format = "padded"

    def __init__(
        self, vocab_size: int, num_classes: int, padding_idx: int = 1, embed_dim: int = 64,
        hidden_size: int = 128, num_layers: int = 2, dropout: float = 0.0, bidirectional: bool = False,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=padding_idx)
        self.lstm = nn.LSTM(
            embed_dim, hidden_size, num_layers=num_layers, batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0, bidirectional=bidirectional,
        )
        self.fc = nn.Linear(hidden_size * (2 if bidirectional else 1), num_classes)

    def forward(self, ids: Tensor, lengths: Tensor) -> Tensor:
        packed = nn.utils.rnn.pack_padded_sequence(
            self.embedding(ids), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        _, (hidden, _) = self.lstm(packed)
        last = torch.cat([hidden[-2], hidden[-1]], dim=1) if self.lstm.bidirectional else hidden[-1]
        return self.fc(last)
