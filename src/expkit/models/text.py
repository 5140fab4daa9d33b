"""Text classifiers from the torchtext tutorial and the course: bag of embeddings, LSTM, MLP.

Each declares its `input_format` (see `expkit.contract`): "bag" models take (flat ids, offsets)
as built for EmbeddingBag; "padded" models take (padded ids, lengths). The data module batches
accordingly.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class EmbeddingBagClassifier(nn.Module):
    """The torchtext tutorial's model: EmbeddingBag(mean) + Linear, with two optional additions.

    `sparse=True` gives the embedding sparse gradients: at DBpedia's vocabulary size they are
    ~80x faster than dense ones (use SGD, or an optimizer that accepts sparse gradients).

    `token_weights=True` learns one positive weight per vocabulary entry (exp of a log-weight
    that starts at 0, so every token starts at weight 1) and the bag becomes the weighted mean
    of its tokens' embeddings: a learned, idf-like importance, so frequent uninformative tokens
    ("the", "is a") can fade without a count from the data. The weights are an
    `Embedding(vocab_size, 1)` with the same `sparse` setting, so a step still touches only the
    batch's rows.

    `token_dropout=p` drops each token of a training batch with probability p (the mean is over
    the tokens kept); evaluation uses every token. It regularizes the 100k+ bigram rows that the
    4,000-row DBpedia sample sees only a few times each.

    `members=N` (N > 1) is an ensemble inside one run: N such bags, each with its own initial
    weights, token weights and token-dropout masks, whose logits are averaged (the loss is taken
    on the average, so they train jointly, in one optimizer, N times the cost of one). With N = 1
    the module is the single bag above, with the same parameter names as before the option.
    """

    input_format = "bag"

    def __init__(
        self, vocab_size: int, num_classes: int, embed_dim: int = 64, sparse: bool = True,
        init_range: float = 0.5, token_weights: bool = False, token_dropout: float = 0.0, members: int = 1,
    ) -> None:
        super().__init__()
        if not 0.0 <= token_dropout < 1.0:
            raise ValueError(f"token_dropout must be in [0, 1), got {token_dropout}")
        if isinstance(members, bool) or not isinstance(members, int) or members < 1:
            raise ValueError(f"members must be a whole number >= 1 (1: one bag, N: the mean of N bags), got {members!r}")
        self.ensemble = None
        if members > 1:
            one = dict(vocab_size=vocab_size, num_classes=num_classes, embed_dim=embed_dim, sparse=sparse,
                       init_range=init_range, token_weights=token_weights, token_dropout=token_dropout)
            self.ensemble = nn.ModuleList(EmbeddingBagClassifier(**one) for _ in range(members))
            return
        self.embedding = nn.EmbeddingBag(vocab_size, embed_dim, mode="mean", sparse=sparse)
        self.fc = nn.Linear(embed_dim, num_classes)
        self.embedding.weight.data.uniform_(-init_range, init_range)
        self.fc.weight.data.uniform_(-init_range, init_range)
        self.fc.bias.data.zero_()
        self.token_log_weight = nn.Embedding(vocab_size, 1, sparse=sparse) if token_weights else None
        if self.token_log_weight is not None:
            self.token_log_weight.weight.data.zero_()
        self.token_dropout = token_dropout

    def forward(self, ids: Tensor, offsets: Tensor) -> Tensor:
        if self.ensemble is not None:
            return torch.stack([member(ids, offsets) for member in self.ensemble]).mean(0)
        weights = None
        if self.training and self.token_dropout:
            weights = (torch.rand(ids.shape, device=ids.device) >= self.token_dropout).to(self.fc.weight.dtype)
        if self.token_log_weight is not None:
            learned = self.token_log_weight(ids).squeeze(1).exp()
            weights = learned if weights is None else learned * weights
        if weights is None:
            return self.fc(self.embedding(ids, offsets))
        return self.fc(self.weighted_mean(ids, offsets, weights))

    def weighted_mean(self, ids: Tensor, offsets: Tensor, weights: Tensor) -> Tensor:
        """sum(w_i * e_i) / sum(w_i) per bag; an empty bag (or one with every token dropped) gives 0s.

        EmbeddingBag takes per-token weights only with mode="sum", so the sum is divided here.
        """
        total = nn.functional.embedding_bag(
            ids, self.embedding.weight, offsets, mode="sum", per_sample_weights=weights, sparse=self.embedding.sparse
        )
        lengths = torch.diff(offsets, append=offsets.new_tensor([len(ids)]))
        bag = torch.repeat_interleave(torch.arange(len(offsets), device=ids.device), lengths)
        norm = torch.zeros(len(offsets), dtype=weights.dtype, device=ids.device).index_add_(0, bag, weights)
        return total / norm.clamp_min(torch.finfo(weights.dtype).tiny).unsqueeze(1)


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
