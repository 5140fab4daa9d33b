"""Fast corpus encoding for EmbeddingBag-style batches: texts -> (flat ids, offsets).

Two encoders with one interface do the work: the C `Encoder` of `expkit/text/_basic_english.c`
(compiled when expkit is installed; several times faster) and `PythonEncoder`, built on the
reference tokenizer in `tokenizer.py`. Both give identical ids: the tests compare them on the
golden torchtext texts and on random unicode. `ENCODER` says which one this process uses;
`EXPKIT_TEXT_ENCODER=python` forces the pure-Python one.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from itertools import chain, islice, repeat
from typing import Iterable, Iterator, Protocol, Sequence

import numpy as np

from expkit.text.tokenizer import basic_english, ngrams as make_ngrams
from expkit.text.vocab import Vocab

# Documents are encoded a chunk at a time so that memory stays bounded for streamed corpora.
_CHUNK_DOCS = 4096


class TokenEncoder(Protocol):
    """A token table (ids 0..len-1) that turns texts into the ids of their basic_english n-grams."""

    def encode(self, texts: Sequence[str], unknown: int, grow: bool) -> tuple[np.ndarray | bytes, np.ndarray | bytes]:
        """(ids, lengths) as int64: each text's tokens, then its 2-grams, ... n-grams.

        A token not in the table gets the next id and joins the table when `grow`; otherwise
        it gets the id `unknown`, or is dropped when `unknown` < 0.
        """
        ...

    def tokens(self, start: int = 0) -> list[str]:
        """The table's tokens from id `start` on, in id order."""
        ...

    def __len__(self) -> int: ...


class PythonEncoder:
    """The pure-Python `TokenEncoder`: `ngrams(basic_english(text), n)` and a dict."""

    def __init__(self, tokens: Sequence[str], ngrams: int) -> None:
        if ngrams < 1:
            raise ValueError(f"ngrams must be >= 1, got {ngrams}")
        self.ngrams = ngrams
        self.index: defaultdict[str, int] = defaultdict()
        for i, token in enumerate(tokens):
            if not isinstance(token, str):
                raise TypeError(f"tokens[{i}] must be str, not {type(token).__name__}")
            if token in self.index:
                raise ValueError(f"tokens[{i}] ({token!r}) repeats tokens[{self.index[token]}]")
            self.index[token] = i
        # With `grow`, a missing token gets the next id: the factory runs before the key is inserted.
        self.index.default_factory = self.index.__len__  # type: ignore[assignment]

    def _tokens_of(self, texts: Sequence[str]) -> list[list[str]]:
        texts = list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"texts[{i}] must be str, not {type(text).__name__}")
        tokens = list(map(basic_english, texts))
        if self.ngrams > 1:
            tokens = [make_ngrams(doc_tokens, self.ngrams) for doc_tokens in tokens]
        return tokens

    def encode(self, texts: Sequence[str], unknown: int, grow: bool) -> tuple[np.ndarray, np.ndarray]:
        if not grow and unknown >= len(self.index):
            raise ValueError(f"unknown id {unknown} is not a token id (the table has {len(self.index)} tokens)")
        docs = self._tokens_of(texts)
        lengths = np.fromiter(map(len, docs), dtype=np.int64, count=len(docs))
        tokens = chain.from_iterable(docs)
        total = int(lengths.sum())
        if grow:
            return np.fromiter(map(self.index.__getitem__, tokens), dtype=np.int64, count=total), lengths
        # map(dict.get, ...) straight into fromiter: no per-token bytecode, no temporary list.
        ids = np.fromiter(map(self.index.get, tokens, repeat(unknown)), dtype=np.int64, count=total)
        if unknown < 0:  # drop unknown tokens and shorten each document's span
            known = ids >= 0
            kept_before = np.zeros(len(ids) + 1, dtype=np.int64)
            np.cumsum(known, out=kept_before[1:])
            lengths = np.diff(kept_before[np.cumsum(lengths)], prepend=0)
            ids = ids[known]
        return ids, lengths

    def tokens(self, start: int = 0) -> list[str]:
        if not 0 <= start <= len(self.index):
            raise ValueError(f"start must be in [0, {len(self.index)}], got {start}")
        return list(islice(self.index, start, None))

    def __len__(self) -> int:
        return len(self.index)


def _native_encoder_class() -> tuple[type | None, str]:
    if os.environ.get("EXPKIT_TEXT_ENCODER", "").lower() == "python":
        return None, "EXPKIT_TEXT_ENCODER=python"
    try:
        from expkit.text._basic_english import Encoder
    except ImportError as err:
        return None, f"the C encoder is not built ({err}); reinstall expkit with a C compiler to get it"
    return Encoder, "C"


_NativeEncoder, _NATIVE_STATUS = _native_encoder_class()
# Which encoder this process uses, for logs and benchmarks.
ENCODER = "C (expkit.text._basic_english)" if _NativeEncoder else f"pure Python ({_NATIVE_STATUS})"


def make_encoder(tokens: Sequence[str], ngrams: int, native: bool | None = None) -> TokenEncoder:
    """A `TokenEncoder` whose ids are positions in `tokens`: the C one when built (or `native`)."""
    if native is None:
        native = _NativeEncoder is not None
    if native:
        if _NativeEncoder is None:
            raise RuntimeError(f"expkit's C text encoder is unavailable: {_NATIVE_STATUS}")
        return _NativeEncoder(list(tokens), ngrams)
    return PythonEncoder(tokens, ngrams)


def _chunks(texts: Iterable[str]) -> Iterator[list[str]]:
    if isinstance(texts, str):  # would silently encode every character as a document
        raise TypeError("texts must be an iterable of strings, not a single string")
    it = iter(texts)
    while chunk := list(islice(it, _CHUNK_DOCS)):
        yield chunk


def _encode_all(
    encoder: TokenEncoder, texts: Iterable[str], unknown: int, grow: bool, dtype: type = np.int64
) -> tuple[np.ndarray, np.ndarray]:
    id_parts: list[np.ndarray] = []
    length_parts: list[np.ndarray] = []
    for chunk in _chunks(texts):
        ids, lengths = encoder.encode(chunk, unknown, grow)
        id_parts.append(np.frombuffer(ids, dtype=np.int64).astype(dtype, copy=False))
        length_parts.append(np.frombuffer(lengths, dtype=np.int64))
    offsets = np.zeros(sum(map(len, length_parts)) + 1, dtype=np.int64)
    if length_parts:
        np.cumsum(np.concatenate(length_parts), out=offsets[1:])
    ids = np.concatenate(id_parts) if id_parts else np.empty(0, dtype=dtype)
    return ids, offsets


def encode_corpus(
    texts: Iterable[str], vocab: Vocab, ngrams: int = 1, drop_unknown: bool = True, native: bool | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Encode documents as (ids, offsets): document i is `ids[offsets[i]:offsets[i + 1]]`.

    A document's tokens are `ngrams(basic_english(text), ngrams)`, in that order. Tokens not in
    `vocab` are dropped (fastText's way) or, with `drop_unknown=False`, mapped to `vocab.unk_index`.
    Both arrays are int64; `offsets` has one entry more than there are documents, and an empty
    document is an empty span.
    """
    encoder = make_encoder(vocab.itos, ngrams, native)
    return _encode_all(encoder, texts, -1 if drop_unknown else vocab.unk_index, grow=False)


def encode_new_vocabulary(
    texts: Iterable[str], ngrams: int = 1, native: bool | None = None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Encode documents while numbering every distinct token in order of first appearance.

    Returns (ids, offsets, itos) with `itos[ids[k]]` the k-th token and int32 ids: a lossless
    encoding of the corpus from which any vocabulary (counts of any subset of documents,
    `min_freq`, `max_size`) can be derived later with numpy alone, without tokenizing again.
    """
    encoder = make_encoder([], ngrams, native)
    ids, offsets = _encode_all(encoder, texts, -1, grow=True, dtype=np.int32)
    return ids, offsets, encoder.tokens()


def count_tokens(texts: Iterable[str], ngrams: int = 1, native: bool | None = None) -> Counter[str]:
    """How often each token of `ngrams(basic_english(text), ngrams)` occurs over all `texts`.

    Feed the result to `Vocab.from_counts` to build a vocabulary with the same tokens
    `encode_corpus` will look up.
    """
    ids, _, itos = encode_new_vocabulary(texts, ngrams, native)
    counts = np.bincount(ids, minlength=len(itos))
    return Counter(dict(zip(itos, counts.tolist())))
