"""Tokenization identical to torchtext 0.18's `get_tokenizer("basic_english")` and `ngrams_iterator`."""

from __future__ import annotations

from typing import Sequence


def basic_english(text: str) -> list[str]:
    """Lower-case `text` and split it into tokens exactly like torchtext's "basic_english"."""
    # torchtext applies these as regexes, in this order; every pattern is a literal, so
    # str.replace is equivalent and ~2x faster. Order matters: removing '"' can create "<br />".
    # torchtext's final `\s+` -> " " is dropped: re's `\s` and str.split() use the same
    # whitespace set (str.isspace), so split() alone gives the same tokens.
    return (
        text.lower()
        .replace("'", " '  ")
        .replace('"', "")
        .replace(".", " . ")
        .replace("<br />", " ")
        .replace(",", " , ")
        .replace("(", " ( ")
        .replace(")", " ) ")
        .replace("!", " ! ")
        .replace("?", " ? ")
        .replace(";", " ")
        .replace(":", " ")
        .split()
    )


def kgrams(tokens: Sequence[str], k: int) -> list[str]:
    """All contiguous k-grams of `tokens` in order, each joined by a single space."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if k == 1:
        return list(tokens)
    return list(map(" ".join, zip(*[tokens[i:] for i in range(k)])))


def ngrams(tokens: Sequence[str], n: int) -> list[str]:
    """torchtext's `ngrams_iterator(tokens, n)` as a list: all unigrams, then bigrams, ... n-grams."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    out = list(tokens)
    for k in range(2, n + 1):
        out += kgrams(tokens, k)
    return out
