"""basic_english and ngrams against golden output of torchtext 0.18.0 (tests/data/golden/)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from expkit.text.tokenizer import basic_english, kgrams, ngrams

GOLDEN_FILE = Path(__file__).parent / "data" / "golden" / "basic_english.jsonl"


def load_golden() -> list[dict]:
    with open(GOLDEN_FILE, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


GOLDEN = load_golden()


def torchtext_regex_reference(line: str) -> list[str]:
    """torchtext's own regex implementation, to cross-check strings the golden file lacks."""
    rules = [
        (r"\'", " '  "), (r"\"", ""), (r"\.", " . "), (r"<br \/>", " "), (r",", " , "), (r"\(", " ( "),
        (r"\)", " ) "), (r"\!", " ! "), (r"\?", " ? "), (r"\;", " "), (r"\:", " "), (r"\s+", " "),
    ]
    line = line.lower()
    for pattern, replacement in rules:
        line = re.sub(pattern, replacement, line)
    return line.split()


def test_golden_file_is_complete() -> None:
    assert len(GOLDEN) == 1020
    assert {"text", "tokens", "ngrams2"} <= set(GOLDEN[0])


def mismatches(compute, field: str) -> list[str]:
    """One readable line per golden case where compute(case) differs from case[field]."""
    out = []
    for line, case in enumerate(GOLDEN, start=1):
        got = compute(case)
        if got != case[field]:
            out.append(f"line {line}: text={case['text']!r}\n  expected {case[field]!r}\n  got      {got!r}")
    return out


def test_basic_english_matches_golden() -> None:
    bad = mismatches(lambda case: basic_english(case["text"]), "tokens")
    assert not bad, f"{len(bad)} golden lines differ; first ones:\n" + "\n".join(bad[:5])


def test_bigrams_match_golden() -> None:
    bad = mismatches(lambda case: ngrams(case["tokens"], 2), "ngrams2")
    assert not bad, f"{len(bad)} golden lines differ; first ones:\n" + "\n".join(bad[:5])


def test_bigrams_of_tokenized_text_match_golden() -> None:
    bad = mismatches(lambda case: ngrams(basic_english(case["text"]), 2), "ngrams2")
    assert not bad, f"{len(bad)} golden lines differ; first ones:\n" + "\n".join(bad[:5])


@pytest.mark.parametrize(
    "text",
    [
        'a<br "/>b',  # removing '"' creates "<br />", which torchtext then replaces
        "x<br;/>y z<br:/>w",  # ";" and ":" become spaces only after the "<br />" rule
        "a\x1cb\x1dc\x1ed\x1fe\x85f\u2028g\u3000h\u200bi\ufeffj",  # whitespace per str.isspace / re's \s
        "ΣΑΣ Σ. ΌΣ'",  # final sigma depends on context
        "\u212a\u0130",  # Kelvin sign and dotted capital I lower-case to ASCII-ish sequences
    ],
)
def test_basic_english_matches_torchtext_regexes(text: str) -> None:
    assert basic_english(text) == torchtext_regex_reference(text)


def test_ngrams_order_unigrams_first() -> None:
    tokens = ["here", "we", "are", "now"]
    assert ngrams(tokens, 1) == tokens
    assert ngrams(tokens, 2) == tokens + ["here we", "we are", "are now"]
    assert ngrams(tokens, 3) == tokens + ["here we", "we are", "are now", "here we are", "we are now"]
    assert ngrams(["one"], 3) == ["one"]
    assert ngrams([], 2) == []


def test_ngrams_returns_a_new_list() -> None:
    tokens = ["a", "b"]
    out = ngrams(tokens, 1)
    out.append("c")
    assert tokens == ["a", "b"]


def test_kgrams_and_invalid_n() -> None:
    assert kgrams(["a", "b", "c"], 3) == ["a b c"]
    assert kgrams(["a", "b"], 3) == []
    with pytest.raises(ValueError):
        ngrams(["a"], 0)
    with pytest.raises(ValueError):
        kgrams(["a"], 0)


def test_split_whitespace_equals_regex_whitespace() -> None:
    # basic_english drops torchtext's `\s+` -> " " step; that is exact only while re's `\s`
    # and str.split() agree on every code point.
    everything = "".join(map(chr, range(0x110000)))
    assert re.findall(r"\s", everything) == [c for c in everything if c.isspace()]
