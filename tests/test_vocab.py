"""Vocab (torchtext build_vocab_from_iterator semantics) and encode_corpus."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from expkit.text.encode import count_tokens, encode_corpus
from expkit.text.tokenizer import basic_english, ngrams
from expkit.text.vocab import Vocab

TRAIN = [
    "The cat sat on the mat.",
    "The dog sat on the log!",
    "A cat and a dog.",
]


def test_order_specials_then_count_then_token() -> None:
    vocab = Vocab.build([["b", "a", "c", "b", "a", "d", "b"]], specials=("<unk>", "<pad>"))
    # b:3, then a:2, then c and d (1 each) in lexicographic order.
    assert vocab.itos == ["<unk>", "<pad>", "b", "a", "c", "d"]
    assert vocab.stoi == {t: i for i, t in enumerate(vocab.itos)}


def test_ties_are_lexicographic_by_code_point() -> None:
    vocab = Vocab.build([["b", "B", "é", "a", "_"]])
    assert vocab.itos == ["<unk>", "B", "_", "a", "b", "é"]


def test_min_freq() -> None:
    vocab = Vocab.build([["a", "a", "b", "b", "c"]], min_freq=2)
    assert vocab.itos == ["<unk>", "a", "b"]
    assert vocab["c"] == vocab.unk_index


def test_max_size_counts_the_specials() -> None:
    tokens = [["a"] * 4 + ["b"] * 3 + ["c"] * 2 + ["d"]]
    vocab = Vocab.build(tokens, max_size=4, specials=("<unk>", "<pad>"))
    assert vocab.itos == ["<unk>", "<pad>", "a", "b"]
    assert len(vocab) == 4
    assert len(Vocab.build(tokens, max_size=100)) == 5
    with pytest.raises(ValueError):
        Vocab.build(tokens, max_size=2, specials=("<unk>", "<pad>"))


def test_special_in_the_counts_appears_once_and_keeps_its_place() -> None:
    vocab = Vocab.build([["<pad>", "<pad>", "<pad>", "x", "<unk>"]], specials=("<unk>", "<pad>"))
    assert vocab.itos == ["<unk>", "<pad>", "x"]
    # As in torchtext, max_size is applied to the ranked counts before specials are removed:
    # here "<pad>" (most frequent) takes the one free slot, so "x" does not make it.
    capped = Vocab.build([["<pad>", "<pad>", "x"]], max_size=3, specials=("<unk>", "<pad>"))
    assert capped.itos == ["<unk>", "<pad>"]


def test_invalid_specials() -> None:
    with pytest.raises(ValueError):
        Vocab.build([["a"]], specials=("<pad>",))  # no unk token
    with pytest.raises(ValueError):
        Vocab.build([["a"]], specials=("<unk>", "<unk>"))
    with pytest.raises(TypeError):
        Vocab.build(["not", "token", "lists"])
    with pytest.raises(ValueError):
        Vocab(["<unk>", "a", "a"])


def test_custom_unk_token_and_its_position() -> None:
    vocab = Vocab.build([["a"]], specials=("<pad>", "[UNK]"), unk_token="[UNK]")
    assert vocab.itos == ["<pad>", "[UNK]", "a"]
    assert vocab.unk_index == 1
    assert vocab["zzz"] == 1


def test_lookups() -> None:
    vocab = Vocab.build([["a", "a", "b"]], specials=("<unk>", "<pad>"))
    assert vocab.unk_index == 0
    assert vocab["a"] == 2 and vocab["b"] == 3
    assert vocab["never seen"] == vocab.unk_index
    assert "a" in vocab and "never seen" not in vocab and "<pad>" in vocab
    assert vocab.index_of("<pad>") == 1
    with pytest.raises(KeyError):
        vocab.index_of("<bos>")
    assert vocab.lookup_indices(["b", "zzz", "a", "<pad>"]) == [3, 0, 2, 1]
    assert vocab.lookup_tokens([3, 0, np.int64(2)]) == ["b", "<unk>", "a"]
    with pytest.raises(IndexError):
        vocab.lookup_tokens([4])
    with pytest.raises(IndexError):
        vocab.lookup_tokens([-1])
    assert list(vocab) == vocab.itos and len(vocab) == 4


def test_state_round_trip_uses_plain_containers() -> None:
    vocab = Vocab.build([basic_english(t) for t in TRAIN], specials=("<unk>", "<pad>"))
    state = vocab.to_state()
    # One string, not a list of strings: what a checkpoint pickles and loads every epoch.
    assert state == {"itos_text": "\n".join(vocab.itos), "unk_token": "<unk>"}
    assert type(state["itos_text"]) is str
    assert Vocab.from_state(vocab.to_state()) == vocab
    assert Vocab.from_state(vocab.to_state()).itos == vocab.itos
    with pytest.raises(ValueError):
        Vocab.from_state({"itos_text": "a\nb"})  # no unk_token
    with pytest.raises(ValueError):
        Vocab.from_state({"itos_text": "a\nb", "unk_token": "<unk>"})  # <unk> not among the tokens
    with pytest.raises(ValueError):
        Vocab.from_state({"unk_token": "<unk>"})


def test_state_of_checkpoints_before_the_joined_form_still_loads() -> None:
    vocab = Vocab(["<unk>", "<pad>", "a", ""])
    old_state = {"itos": ["<unk>", "<pad>", "a", ""], "unk_token": "<unk>"}
    assert Vocab.from_state(old_state) == vocab
    assert Vocab.from_state(vocab.to_state()) == vocab  # an empty token survives the join


def test_state_of_tokens_with_a_newline_keeps_the_list() -> None:
    vocab = Vocab(["<unk>", "two\nlines", "x"])
    state = vocab.to_state()
    assert state == {"itos": ["<unk>", "two\nlines", "x"], "unk_token": "<unk>"}
    state["itos"].append("mutating the state does not touch the vocab")
    assert Vocab.from_state(vocab.to_state()) == vocab and len(vocab) == 3


def test_state_loads_from_a_weights_only_checkpoint(tmp_path) -> None:
    torch = pytest.importorskip("torch")
    vocab = Vocab.build([basic_english(t) for t in TRAIN], specials=("<unk>", "<pad>"))
    torch.save({"vocab": vocab.to_state()}, tmp_path / "v.ckpt")
    assert Vocab.from_state(torch.load(tmp_path / "v.ckpt", weights_only=True)["vocab"]) == vocab


def test_equality() -> None:
    a = Vocab(["<unk>", "x"])
    assert a == Vocab(["<unk>", "x"])
    assert a != Vocab(["<unk>", "y"])
    assert a != Vocab(["x", "<unk>"])
    assert a != Vocab(["<unk>", "x"], unk_token="x")  # same tokens, other default index
    assert a != ["<unk>", "x"]


def test_save_load_round_trip(tmp_path: Path) -> None:
    odd = ["<unk>", "<pad>", "é", "日本", "😀", "a\rb", "tab\tin", "\u2028", "\x1c", "", "end"]
    vocab = Vocab(odd)
    path = tmp_path / "vocab.txt"
    vocab.save(path)
    assert path.read_bytes().decode("utf-8").split("\n")[:3] == ["<unk>", "<pad>", "é"]
    loaded = Vocab.load(path)
    assert loaded == vocab and loaded.itos == odd
    built = Vocab.build([basic_english(t) for t in TRAIN])
    built.save(path)
    assert Vocab.load(path) == built


def test_save_rejects_newlines(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="newline"):
        Vocab(["<unk>", "two\nlines"]).save(tmp_path / "vocab.txt")


def test_build_from_train_only_unknowns_map_to_unk() -> None:
    vocab = Vocab.from_counts(count_tokens(TRAIN), specials=("<unk>", "<pad>"))
    # "the" occurs 4 times; ".", "a", "cat", ... twice each, so "." (0x2e) comes first.
    assert vocab.itos[:5] == ["<unk>", "<pad>", "the", ".", "a"]
    test_tokens = basic_english("The zebra sat.")
    assert vocab.lookup_indices(test_tokens) == [vocab["the"], vocab.unk_index, vocab["sat"], vocab["."]]
    assert "zebra" not in vocab


def test_count_tokens_matches_per_document_ngrams() -> None:
    for n in (1, 2, 3):
        expected = Counter()
        for text in TRAIN:
            expected.update(ngrams(basic_english(text), n))
        assert count_tokens(TRAIN, n) == expected
        assert Vocab.from_counts(count_tokens(TRAIN, n)) == Vocab.build(ngrams(basic_english(t), n) for t in TRAIN)


def spans(ids: np.ndarray, offsets: np.ndarray) -> list[list[int]]:
    return [ids[offsets[i] : offsets[i + 1]].tolist() for i in range(len(offsets) - 1)]


def test_encode_drop_unknown() -> None:
    vocab = Vocab.from_counts(count_tokens(TRAIN), specials=("<unk>", "<pad>"))
    texts = ["the cat sat", "zebra!", "", "unknown words only", "A DOG."]
    ids, offsets = encode_corpus(texts, vocab)
    assert ids.dtype == np.int64 and offsets.dtype == np.int64
    assert offsets[0] == 0 and offsets[-1] == len(ids) and len(offsets) == len(texts) + 1
    assert spans(ids, offsets) == [
        vocab.lookup_indices(["the", "cat", "sat"]),
        [vocab["!"]],
        [],
        [],
        vocab.lookup_indices(["a", "dog", "."]),
    ]


def test_encode_unknown_to_unk() -> None:
    vocab = Vocab.from_counts(count_tokens(TRAIN), specials=("<pad>", "<unk>"))
    ids, offsets = encode_corpus(["the zebra", "", "zebra"], vocab, drop_unknown=False)
    assert vocab.unk_index == 1
    assert spans(ids, offsets) == [[vocab["the"], 1], [], [1]]


def test_encode_bigrams_keep_ngrams_order() -> None:
    vocab = Vocab.from_counts(count_tokens(TRAIN, ngrams=2))
    assert "the cat" in vocab and "cat sat" in vocab
    ids, offsets = encode_corpus(["The cat sat here", "the", "zebra cat sat"], vocab, ngrams=2)
    assert spans(ids, offsets) == [
        vocab.lookup_indices(["the", "cat", "sat", "the cat", "cat sat"]),  # "here", "sat here" unknown
        [vocab["the"]],
        vocab.lookup_indices(["cat", "sat", "cat sat"]),
    ]
    ids, offsets = encode_corpus(["zebra cat sat"], vocab, ngrams=2, drop_unknown=False)
    unk = vocab.unk_index
    assert spans(ids, offsets) == [[unk, vocab["cat"], vocab["sat"], unk, vocab["cat sat"]]]


def test_encode_empty_inputs() -> None:
    vocab = Vocab.build([["a"]])
    ids, offsets = encode_corpus([], vocab)
    assert ids.tolist() == [] and offsets.tolist() == [0]
    ids, offsets = encode_corpus(["", "  ", "!!"], vocab, ngrams=2)
    assert ids.tolist() == [] and offsets.tolist() == [0, 0, 0, 0]
    with pytest.raises(ValueError):
        encode_corpus(["a"], vocab, ngrams=0)


def test_encode_matches_naive_on_many_documents() -> None:
    # More documents than one encoding chunk, and a generator input.
    texts = [f"doc {i} " + TRAIN[i % 3] + (" zebra" if i % 7 == 0 else "") for i in range(2500)]
    texts[1234] = ""
    for n in (1, 2):
        vocab = Vocab.from_counts(count_tokens(texts[:1500], n), min_freq=2)
        for drop in (True, False):
            ids, offsets = encode_corpus((t for t in texts), vocab, ngrams=n, drop_unknown=drop)
            expected = [
                [vocab[t] for t in ngrams(basic_english(text), n) if not drop or t in vocab] for text in texts
            ]
            assert spans(ids, offsets) == expected


def test_encode_rejects_a_single_string() -> None:
    with pytest.raises(TypeError):
        encode_corpus("one text, not a list", Vocab.build([["a"]]))
    with pytest.raises(TypeError):
        count_tokens("one text")
