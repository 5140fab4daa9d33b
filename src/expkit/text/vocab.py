"""Token <-> index mapping with torchtext's `build_vocab_from_iterator` + `Vocab` semantics."""

from __future__ import annotations

import operator
from collections import Counter
from itertools import repeat
from os import PathLike
from typing import Any, Iterable, Iterator, Mapping, Sequence


class Vocab:
    """An ordered list of unique tokens; unknown tokens look up to the index of `unk_token`.

    `itos` and `stoi` are the live internal containers (no copy per access): do not mutate them.
    """

    def __init__(self, itos: Iterable[str], unk_token: str = "<unk>") -> None:
        self._itos: list[str] = list(itos)
        self._stoi: dict[str, int] = {token: i for i, token in enumerate(self._itos)}
        if len(self._stoi) != len(self._itos):
            dupes = [token for token, n in Counter(self._itos).items() if n > 1]
            raise ValueError(f"Vocabulary tokens must be unique; repeated: {dupes[:10]}")
        for token in self._itos:
            if not isinstance(token, str):
                raise TypeError(f"Vocabulary tokens must be str, got {type(token).__name__}: {token!r}")
        if unk_token not in self._stoi:
            raise ValueError(f"unk_token {unk_token!r} is not in the vocabulary")
        self._unk_token = unk_token
        self._unk_index = self._stoi[unk_token]
        self._packed: str | bool | None = None  # to_state's joined tokens, or False: a token holds "\n"

    # -- building ------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        token_lists: Iterable[Sequence[str]],
        min_freq: int = 1,
        max_size: int | None = None,
        specials: Sequence[str] = ("<unk>",),
        unk_token: str = "<unk>",
    ) -> Vocab:
        """Count the tokens of every list and build like torchtext's `build_vocab_from_iterator`."""
        counts: Counter[str] = Counter()
        for tokens in token_lists:
            if isinstance(tokens, str):  # Counter would silently count its characters
                raise TypeError("token_lists must yield lists of tokens, not strings")
            counts.update(tokens)
        return cls.from_counts(counts, min_freq=min_freq, max_size=max_size, specials=specials, unk_token=unk_token)

    @classmethod
    def from_counts(
        cls,
        counts: Mapping[str, int],
        min_freq: int = 1,
        max_size: int | None = None,
        specials: Sequence[str] = ("<unk>",),
        unk_token: str = "<unk>",
    ) -> Vocab:
        """Vocabulary from token counts: specials first, then tokens by count desc, ties by token.

        Tokens counted fewer than `min_freq` times are dropped. `max_size` caps the size including
        the specials (torchtext's `max_tokens`). As in torchtext, the cap is applied to the ranked
        counts *before* specials are removed from them, so a special that also occurs in the
        counts uses up one of the slots (the vocabulary then has fewer than `max_size` tokens).
        """
        specials = list(specials)
        if len(set(specials)) != len(specials):
            raise ValueError(f"specials must be unique, got {specials}")
        if unk_token not in specials:
            raise ValueError(f"unk_token {unk_token!r} must be one of the specials {specials}")
        # torchtext's order: sort by token, then stable sort by count descending.
        ranked = sorted(counts.items())
        ranked.sort(key=operator.itemgetter(1), reverse=True)
        if max_size is not None:
            if max_size <= len(specials):
                raise ValueError(f"max_size={max_size} leaves no room beside the {len(specials)} specials")
            ranked = ranked[: max_size - len(specials)]
        special_set = set(specials)
        tokens = [token for token, count in ranked if count >= min_freq and token not in special_set]
        return cls(specials + tokens, unk_token=unk_token)

    # -- lookups -------------------------------------------------------------------------
    @property
    def itos(self) -> list[str]:
        """Index -> token (read-only)."""
        return self._itos

    @property
    def stoi(self) -> dict[str, int]:
        """Token -> index, without the unknown fallback (read-only)."""
        return self._stoi

    @property
    def unk_token(self) -> str:
        return self._unk_token

    @property
    def unk_index(self) -> int:
        """The default index returned for tokens not in the vocabulary."""
        return self._unk_index

    def __len__(self) -> int:
        return len(self._itos)

    def __contains__(self, token: object) -> bool:
        return token in self._stoi

    def __iter__(self) -> Iterator[str]:
        return iter(self._itos)

    def __getitem__(self, token: str) -> int:
        """Index of `token`, or `unk_index` if it is unknown."""
        return self._stoi.get(token, self._unk_index)

    def index_of(self, token: str) -> int:
        """Index of a token that must be present (e.g. "<pad>"); KeyError otherwise."""
        try:
            return self._stoi[token]
        except KeyError:
            raise KeyError(f"{token!r} is not in the vocabulary") from None

    def lookup_indices(self, tokens: Iterable[str]) -> list[int]:
        """Indices of `tokens`; unknown tokens map to `unk_index`."""
        return list(map(self._stoi.get, tokens, repeat(self._unk_index)))

    def lookup_tokens(self, indices: Iterable[int]) -> list[str]:
        """Tokens at `indices` (ints or numpy integers); IndexError when out of range."""
        itos, size = self._itos, len(self._itos)
        out = []
        for i in indices:
            i = operator.index(i)
            if not 0 <= i < size:  # a negative index would silently wrap around
                raise IndexError(f"index {i} out of range for a vocabulary of {size} tokens")
            out.append(itos[i])
        return out

    # -- persistence ---------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """Plain containers only, so checkpoints load with `torch.load(weights_only=True)`.

        The tokens are one string joined by "\n" (`itos_text`), not a list: every checkpoint
        holds this state, and for DBpedia's 132k tokens a list cost 0.06 s to pickle, 0.5 s to
        load with `weights_only=True` (torch's pure-Python unpickler, one call per string) and
        1.2 MB more; one string costs milliseconds. A vocabulary with a token that holds "\n"
        (never one from basic_english, which splits on whitespace) keeps the list (`itos`).
        """
        return {**self._packed_tokens(), "unk_token": self._unk_token}

    def _packed_tokens(self) -> dict[str, Any]:
        # Cached (a str is immutable; the vocabulary never changes): a checkpoint is written
        # every epoch. A vocabulary always holds its unk_token, so split("\n") is exact.
        if self._packed is None:
            text = "\n".join(self._itos)
            self._packed = text if text.count("\n") == len(self._itos) - 1 else False
        if self._packed is False:
            return {"itos": list(self._itos)}
        return {"itos_text": self._packed}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Vocab:
        """Inverse of `to_state`; also reads the `itos` list that checkpoints before `itos_text` hold."""
        if "unk_token" not in state or ("itos" not in state and "itos_text" not in state):
            raise ValueError(
                f"Vocab state has keys {sorted(state)}; expected 'unk_token' and 'itos_text' (or 'itos', a list)"
            )
        if "itos_text" in state:
            text = state["itos_text"]
            if not isinstance(text, str):
                raise TypeError(f"Vocab state 'itos_text' must be a str, got {type(text).__name__}")
            itos: Iterable[str] = text.split("\n")
        else:
            itos = state["itos"]
        return cls(itos, unk_token=state["unk_token"])

    def save(self, path: str | PathLike[str]) -> None:
        """Write the tokens to a UTF-8 text file, one per line, in index order."""
        for token in self._itos:
            if "\n" in token:
                raise ValueError(f"Token {token!r} contains a newline and cannot be saved one per line")
        # newline="" writes "\n" untranslated so load() reads back exactly these tokens.
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write("".join(token + "\n" for token in self._itos))

    @classmethod
    def load(cls, path: str | PathLike[str], unk_token: str = "<unk>") -> Vocab:
        """Read a file written by `save`."""
        # Split on "\n" only: splitlines() would also split tokens holding e.g. "\x1c" or "\u2028".
        with open(path, encoding="utf-8", newline="") as f:
            text = f.read()
        if not text:
            return cls([], unk_token=unk_token)  # raises: no unk_token
        if text.endswith("\n"):
            text = text[:-1]
        return cls(text.split("\n"), unk_token=unk_token)

    # -- comparison ----------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocab):
            return NotImplemented
        return self._unk_token == other._unk_token and self._itos == other._itos


    def __repr__(self) -> str:
        head = ", ".join(map(repr, self._itos[:5]))
        more = ", ..." if len(self._itos) > 5 else ""
        return f"Vocab({len(self._itos)} tokens: [{head}{more}], unk_token={self._unk_token!r})"
