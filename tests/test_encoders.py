"""The C text encoder gives exactly the ids of the pure-Python one (the torchtext-exact reference)."""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path

import numpy as np
import pytest

from expkit.text import encode
from expkit.text.encode import count_tokens, encode_corpus, encode_new_vocabulary, make_encoder
from expkit.text.tokenizer import basic_english, ngrams
from expkit.text.vocab import Vocab

GOLDEN = [json.loads(line) for line in (Path(__file__).parent / "data/golden/basic_english.jsonl").open(encoding="utf-8")]
PURE_PYTHON_CHOSEN = os.environ.get("EXPKIT_TEXT_ENCODER", "").lower() == "python"
BACKENDS = [pytest.param(False, id="python"), pytest.param(True, id="C")]

# Characters that exercise every rule: the rules' own characters, Python's whitespace (which
# str.split uses), case mappings that change length or depend on context, multi-byte UTF-8,
# lone surrogates (str can hold them; argv with undecodable bytes does), NUL.
WHITESPACE = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]
ALPHABET = (
    list("aAbBzZ09'\".,()!?;:<>/ -_#&@") + ["<br />", "<br", " />", "<b\"r />"] + WHITESPACE
    + ["É", "İ", "Σ", "ς", "ΟΔΟΣ", "ß", "ẞ", "ﬁ", "ǅ", "中文", "😀", "\u0301", "\ud800", "\udcff", "\x00", "\u200b"]
)


def random_texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    words = ["the", "The", "CAT", "sat", "abcdefgh", "abcdefghi", "x" * 40, "Ünïcödé", "naïve", "e.g."]
    return ["".join(rng.choice(ALPHABET + words) for _ in range(rng.randint(0, 60))) for _ in range(n)]


def doc_tokens(ids: np.ndarray, offsets: np.ndarray, itos: list[str]) -> list[list[str]]:
    return [[itos[i] for i in ids[offsets[d] : offsets[d + 1]]] for d in range(len(offsets) - 1)]


def require_c() -> None:
    if encode._NativeEncoder is None:
        if PURE_PYTHON_CHOSEN:
            pytest.skip("EXPKIT_TEXT_ENCODER=python")
        pytest.fail(f"expkit's C text encoder is not available: {encode._NATIVE_STATUS}")


def test_the_c_encoder_is_built_and_used() -> None:
    require_c()
    assert encode.ENCODER.startswith("C")


@pytest.mark.parametrize("native", BACKENDS)
def test_golden_torchtext_tokens_and_bigrams(native: bool) -> None:
    if native:
        require_c()
    texts = [case["text"] for case in GOLDEN]
    for n, key in ((1, "tokens"), (2, "ngrams2")):
        ids, offsets, itos = encode_new_vocabulary(texts, n, native=native)
        got = doc_tokens(ids, offsets, itos)
        bad = [i for i, case in enumerate(GOLDEN) if got[i] != case[key]]
        assert not bad, f"{len(bad)} of {len(GOLDEN)} texts differ from torchtext ({key}), first: {GOLDEN[bad[0]]['text']!r}"


@pytest.mark.parametrize("n", [1, 2, 3])
def test_c_matches_python_on_random_unicode(n: int) -> None:
    require_c()
    texts = random_texts(3000, seed=n)
    c_ids, c_offsets, c_itos = encode_new_vocabulary(texts, n, native=True)
    py_ids, py_offsets, py_itos = encode_new_vocabulary(texts, n, native=False)
    assert c_itos == py_itos
    assert np.array_equal(c_ids, py_ids) and np.array_equal(c_offsets, py_offsets)
    assert doc_tokens(c_ids, c_offsets, c_itos)[:500] == [ngrams(basic_english(t), n) for t in texts[:500]]
    vocab = Vocab.from_counts(count_tokens(texts[:1500], n, native=False), min_freq=2, specials=("<pad>", "<unk>"))
    for drop in (True, False):
        c = encode_corpus(texts, vocab, n, drop_unknown=drop, native=True)
        py = encode_corpus(texts, vocab, n, drop_unknown=drop, native=False)
        assert np.array_equal(c[0], py[0]) and np.array_equal(c[1], py[1])


def test_c_matches_python_for_every_code_point() -> None:
    # Each character between two letters: whether it splits, is deleted, is its own token or
    # changes case must agree with Python's str.lower / str.split for all of Unicode.
    require_c()
    texts = [f"x{chr(cp)}Y" for cp in range(sys.maxunicode + 1)]
    c = encode_new_vocabulary(texts, 1, native=True)
    py = encode_new_vocabulary(texts, 1, native=False)
    assert c[2] == py[2]
    assert np.array_equal(c[0], py[0]) and np.array_equal(c[1], py[1])


def test_table_growth_long_tokens_and_long_documents() -> None:
    require_c()
    rng = random.Random(0)
    texts = [" ".join(f"w{rng.randrange(200_000)}" + "q" * rng.randrange(20) for _ in range(50)) for _ in range(2000)]
    texts.append(" ".join(f"t{i}" for i in range(100_000)))  # one document with 100k distinct tokens
    texts.append("z" * 1_000_000)  # one token of a million characters
    c = encode_new_vocabulary(texts, 2, native=True)
    py = encode_new_vocabulary(texts, 2, native=False)
    assert c[2] == py[2] and np.array_equal(c[0], py[0]) and np.array_equal(c[1], py[1])
    assert len(c[2]) > 200_000


@pytest.mark.parametrize("native", BACKENDS)
def test_encoder_interface_and_errors(native: bool) -> None:
    if native:
        require_c()
    encoder = make_encoder(["<unk>", "the", "cat"], 1, native=native)
    assert len(encoder) == 3 and encoder.tokens() == ["<unk>", "the", "cat"] and encoder.tokens(2) == ["cat"]
    ids, lengths = encoder.encode(["The cat", "dog"], 0, False)
    assert np.frombuffer(ids, np.int64).tolist() == [1, 2, 0] and np.frombuffer(lengths, np.int64).tolist() == [2, 1]
    ids, lengths = encoder.encode(["The dog", "dog cat"], -1, True)
    assert np.frombuffer(ids, np.int64).tolist() == [1, 3, 3, 2] and encoder.tokens(3) == ["dog"]
    with pytest.raises(TypeError, match=r"texts\[1\] must be str"):
        encoder.encode(["a", b"b"], -1, False)
    with pytest.raises(ValueError, match="unknown id 9"):
        encoder.encode(["a"], 9, False)
    with pytest.raises(ValueError, match="repeats"):
        make_encoder(["a", "b", "a"], 1, native=native)
    with pytest.raises(TypeError, match=r"tokens\[0\] must be str"):
        make_encoder([1], 1, native=native)
    with pytest.raises(ValueError, match="ngrams must be >= 1"):
        make_encoder([], 0, native=native)
    with pytest.raises(TypeError, match="not a single string"):
        encode_corpus("one text", Vocab(["<unk>"]), native=native)


@pytest.mark.slow
def test_pure_python_can_be_chosen_by_environment(tmp_path: Path) -> None:
    import subprocess

    code = "from expkit.text.encode import ENCODER; print(ENCODER)"
    env = {**os.environ, "EXPKIT_TEXT_ENCODER": "python"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.startswith("pure Python (EXPKIT_TEXT_ENCODER=python)")


# ---- hostile inputs (found by an ASAN/UBSan review of the C encoder) --------------------------


class Shouting(str):
    """A str whose lower() is overridden: basic_english calls text.lower(), so both encoders must."""

    def lower(self) -> str:
        return "overridden, " + str.lower(self)


@pytest.mark.parametrize("native", BACKENDS)
def test_str_subclasses_use_their_own_lower(native: bool) -> None:
    if native:
        require_c()
    ids, offsets, itos = encode_new_vocabulary([Shouting("Hello World"), Shouting("Héllo")], 1, native=native)
    assert doc_tokens(ids, offsets, itos) == [["overridden", ",", "hello", "world"], ["overridden", ",", "héllo"]]


def test_texts_changed_by_lower_during_encoding_are_safe() -> None:
    require_c()
    texts: list[str] = []

    class Clearing(str):
        def lower(self) -> str:
            texts.clear()  # the caller's list shrinks while the encoder walks it
            return str.lower(self)

    original = [Clearing("é x")] + [f"w{i}" for i in range(100)]
    results = []
    for native in (True, False):
        texts[:] = original
        encoder = make_encoder([], 1, native=native)
        ids, lengths = encoder.encode(texts, -1, True)
        results.append((np.frombuffer(ids, np.int64).tolist(), np.frombuffer(lengths, np.int64).tolist(), encoder.tokens()))
    assert results[0] == results[1] and len(results[0][1]) == 101


@pytest.mark.parametrize("native", BACKENDS)
def test_failed_encoding_adds_no_tokens(native: bool) -> None:
    if native:
        require_c()

    class Failing(str):
        def lower(self) -> str:
            raise RuntimeError("lower failed")

    encoder = make_encoder(["a"], 1, native=native)
    with pytest.raises(TypeError):
        encoder.encode(["new token", 5], -1, True)
    with pytest.raises(RuntimeError, match="lower failed"):
        encoder.encode(["more new tokens", Failing("x")], -1, True)
    assert len(encoder) == 1 and encoder.tokens() == ["a"]
    ids, _ = encoder.encode(["b a"], -1, True)  # still usable, ids continue from the table
    assert np.frombuffer(ids, np.int64).tolist() == [1, 0] and encoder.tokens() == ["a", "b"]
    with pytest.raises(ValueError, match="start must be in"):
        encoder.tokens(3)


def test_c_encoder_refuses_use_after_a_failed_init() -> None:
    require_c()
    from expkit.text._basic_english import Encoder

    encoder = Encoder.__new__(Encoder)
    with pytest.raises(RuntimeError, match="not initialized"):
        encoder.encode(["a"], -1, True)
    with pytest.raises(TypeError):
        encoder.__init__(5, 2)
    with pytest.raises(ValueError, match="repeats"):
        encoder.__init__(["a", "b", "a"], 1)
    with pytest.raises(RuntimeError, match="not initialized"):
        encoder.encode(["a"], -1, True)
    with pytest.raises(RuntimeError, match="not initialized"):
        encoder.tokens()
    encoder.__init__(["a", "b"], 1)  # a failed init leaves nothing behind: it can be retried
    assert encoder.tokens() == ["a", "b"]


def test_c_encoder_with_huge_ngrams_only_makes_the_ngrams_a_text_has() -> None:
    require_c()
    encoder = make_encoder([], 2**31 - 1, native=True)
    ids, lengths = encoder.encode(["a b", ""], -1, True)
    assert encoder.tokens() == ["a", "b", "a b"] and np.frombuffer(lengths, np.int64).tolist() == [3, 0]
