"""The DBpedia data pipeline: splits, vocabulary from train only, the encoded-text cache, batching."""

from __future__ import annotations

import multiprocessing as mp
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from expkit.data.text import TextClassificationDataModule, encode_file_to_corpus, map_to_vocab
from expkit.data.labelled import packaged_data_path
from expkit.data.text_files import read_labeled_csv
from expkit.errors import DataError
from expkit.text.tokenizer import basic_english
from expkit.text.vocab import Vocab

SAMPLE = packaged_data_path("dbpedia_sample/sample.csv")
CLASSES = packaged_data_path("dbpedia_sample/classes.txt")


def make_dm(tmp_path: Path, **kwargs) -> TextClassificationDataModule:
    args = dict(train_path=SAMPLE, classes_path=CLASSES, cache_dir=str(tmp_path / "cache"))
    args.update(kwargs)
    dm = TextClassificationDataModule(**args)
    dm.setup("fit")
    return dm


def test_sample_is_the_shared_rows_with_provenance():
    readme = (Path(SAMPLE).parent / "README.md").read_text()
    assert "License" in readme and "Zhang" in readme
    labels, texts = read_labeled_csv(SAMPLE, 14)
    assert len(texts) == 5000 and set(labels.tolist()) == set(range(14))


def test_split_sizes_stratification_and_determinism(tmp_path):
    dm = make_dm(tmp_path)
    sizes = {name: len(docs) for name, docs in dm.splits.items()}
    assert sum(sizes.values()) == 5000
    assert abs(sizes["val"] - 500) <= 14 and abs(sizes["test"] - 500) <= 14
    all_labels = Counter(read_labeled_csv(SAMPLE, 14)[0].tolist())
    for split in ("val", "test"):
        counts = Counter(dm.splits[split].labels.tolist())
        for c, n in all_labels.items():
            assert abs(counts[c] - n * 0.1) <= 1, (split, c)
    again = make_dm(tmp_path)
    for name in dm.splits:
        assert np.array_equal(dm.splits[name].labels, again.splits[name].labels)
        assert np.array_equal(dm.splits[name].ids, again.splits[name].ids)
    other = make_dm(tmp_path, split_seed=7)
    assert not np.array_equal(dm.splits["val"].ids, other.splits["val"].ids)


def test_vocabulary_comes_from_the_train_split_only(tmp_path):
    dm = make_dm(tmp_path, drop_unknown=False)
    labels, texts = read_labeled_csv(SAMPLE, 14)
    corpus = encode_file_to_corpus(texts, labels, 1)
    train_tokens = set(dm.vocab.lookup_tokens(dm.splits["train"].ids.tolist()))
    assert "<unk>" not in train_tokens  # every train token is in the vocabulary
    val_tokens = dm.vocab.lookup_tokens(dm.splits["val"].ids.tolist())
    assert "<unk>" in val_tokens, "words seen only outside train map to <unk>"
    assert dm.vocab.itos[:2] == ["<unk>", "<pad>"]
    assert len(corpus.itos) > len(dm.vocab) - 2


def test_drop_unknown_removes_out_of_vocabulary_tokens(tmp_path):
    keep = make_dm(tmp_path, drop_unknown=False)
    drop = make_dm(tmp_path, drop_unknown=True)
    unk = keep.vocab.unk_index
    assert (keep.splits["val"].ids == unk).sum() > 0
    assert (drop.splits["val"].ids == unk).sum() == 0
    assert len(drop.splits["val"].ids) == len(keep.splits["val"].ids) - (keep.splits["val"].ids == unk).sum()


def test_min_freq_max_size_and_bigrams(tmp_path):
    base = make_dm(tmp_path)
    small = make_dm(tmp_path, min_freq=3)
    capped = make_dm(tmp_path, max_size=1000)
    bigrams = make_dm(tmp_path, ngrams=2)
    assert len(small.vocab) < len(base.vocab)
    assert len(capped.vocab) == 1000
    assert any(" " in t for t in bigrams.vocab.itos) and not any(" " in t for t in base.vocab.itos)


def test_cache_hit_and_invalidation(tmp_path, caplog):
    import logging

    csv = tmp_path / "data.csv"
    lines = Path(SAMPLE).read_text(encoding="utf-8").splitlines()[:300]
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="expkit"):
        make_dm(tmp_path, train_path=str(csv))
        assert "cache miss" in caplog.text
        caplog.clear()
        make_dm(tmp_path, train_path=str(csv), min_freq=2, split_seed=3)  # vocab/split settings: still a hit
        assert "cache hit" in caplog.text
        caplog.clear()
        make_dm(tmp_path, train_path=str(csv), ngrams=2)  # tokenizer setting: a miss
        assert "cache miss" in caplog.text
        caplog.clear()
        csv.write_text("\n".join(lines[:250]) + "\n", encoding="utf-8")  # changed file: a miss
        make_dm(tmp_path, train_path=str(csv))
        assert "cache miss" in caplog.text
    assert not list((tmp_path / "cache").glob(".*tmp*")), "no temporary files left behind"


def test_damaged_cache_is_rebuilt(tmp_path, caplog):
    import logging

    make_dm(tmp_path)
    (cache_file,) = list((tmp_path / "cache").glob("*.npz"))
    cache_file.write_bytes(b"garbage")
    with caplog.at_level(logging.INFO, logger="expkit"):
        dm = make_dm(tmp_path)
    assert "unreadable" in caplog.text and len(dm.splits["train"]) > 0


def _encode_in_process(args):
    cache_dir, seed = args
    dm = TextClassificationDataModule(train_path=SAMPLE, classes_path=CLASSES, cache_dir=cache_dir, split_seed=seed)
    dm.setup("fit")
    return int(dm.splits["train"].ids.sum()) if seed == 42 else len(dm.vocab)


def test_concurrent_jobs_share_the_cache_safely(tmp_path):
    cache_dir = str(tmp_path / "cache")
    with mp.get_context("spawn").Pool(2) as pool:
        results = pool.map(_encode_in_process, [(cache_dir, 42)] * 4)
    assert len(set(results)) == 1
    files = list(Path(cache_dir).iterdir())
    assert len([f for f in files if f.suffix == ".npz" and not f.name.startswith(".")]) == 1
    assert not [f for f in files if f.name.startswith(".")], "no half-written files"


def test_bad_rows_name_file_and_line(tmp_path):
    csv = tmp_path / "bad.csv"
    csv.write_text('1,"","fine row"\n99,"","label out of range"\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.csv:2: label 99 is outside 1..14"):
        read_labeled_csv(csv, 14)
    csv.write_text('1,"only two columns"\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.csv:1: expected 3 columns"):
        read_labeled_csv(csv, 14)


def test_titles_are_joined_with_content(tmp_path):
    csv = tmp_path / "titled.csv"
    csv.write_text('3,"Ada Lovelace","An English mathematician."\n', encoding="utf-8")
    _, texts = read_labeled_csv(csv, 14)
    assert texts == ["Ada Lovelace An English mathematician."]
    _, content_only = read_labeled_csv(csv, 14, text_fields=["content"])
    assert content_only == ["An English mathematician."]


def test_bag_and_padded_batches(tmp_path):
    dm = make_dm(tmp_path, batch_size=8)
    ids, offsets, labels = next(iter(dm.train_dataloader()))
    assert offsets.shape == labels.shape == (8,) and offsets[0] == 0 and ids.dtype == torch.int64
    dm.set_input_format("padded")
    padded, lengths, labels = next(iter(dm.train_dataloader()))
    assert padded.shape[0] == 8 and padded.shape[1] == int(lengths.max())
    assert (padded[lengths.argmin(), int(lengths.min()):] == dm.pad_index).all()


def test_encode_texts_matches_the_tokenizer(tmp_path):
    dm = make_dm(tmp_path, drop_unknown=False)
    ids, offsets = dm.predict_inputs(["The album was released.", "Zzyzxqq"])
    assert offsets.tolist() == [0, len(basic_english("The album was released."))]
    assert dm.vocab.lookup_tokens(ids[:5].tolist()) == ["the", "album", "was", "released", "."]
    assert ids[-1].item() == dm.vocab.unk_index


@pytest.mark.parametrize("model_name", ["EmbeddingBagClassifier", "MeanMLPClassifier", "LSTMClassifier"])
def test_each_model_forward_backward(tmp_path, model_name):
    import expkit.models.text as models

    dm = make_dm(tmp_path, batch_size=16)
    from expkit.contract import model_arguments

    cls = getattr(models, model_name)
    net = cls(**model_arguments(dm, cls))
    dm.set_input_format(net.input_format)
    *inputs, labels = next(iter(dm.train_dataloader()))
    logits = net(*inputs)
    assert logits.shape == (16, 14)
    torch.nn.functional.cross_entropy(logits, labels).backward()
    assert all(p.grad is not None for p in net.parameters())


def test_embedding_bag_token_weights_and_dropout():
    from expkit.models.text import EmbeddingBagClassifier

    torch.manual_seed(0)
    ids, offsets = torch.randint(0, 30, (20,)), torch.tensor([0, 6, 6, 13])  # bag 1 is empty
    net = EmbeddingBagClassifier(30, 3, embed_dim=4, token_weights=True, token_dropout=0.5)
    net.eval()
    # Weights start at 1 and evaluation keeps every token: the plain mean, an empty bag's fc(0).
    torch.testing.assert_close(net(ids, offsets), net.fc(net.embedding(ids, offsets)))
    with torch.no_grad():
        net.token_log_weight.weight[ids[0]] = 50.0  # one token outweighs the rest of bag 0
    assert net.token_log_weight.weight[ids[:6]].ne(50.0).any()
    torch.testing.assert_close(net.weighted_mean(ids, offsets, net.token_log_weight(ids).squeeze(1).exp())[0],
                               net.embedding.weight[ids[0]])
    net.train()
    first, second = net(ids, offsets), net(ids, offsets)
    assert not torch.equal(first, second)  # training drops different tokens each call
    second.sum().backward()
    assert net.embedding.weight.grad.is_sparse and net.token_log_weight.weight.grad.is_sparse
    with pytest.raises(ValueError, match="token_dropout"):
        EmbeddingBagClassifier(30, 3, token_dropout=1.0)


def test_sparse_aware_gradient_clipping():
    from expkit.tasks.base import clip_grad_norm

    emb = torch.nn.EmbeddingBag(50, 4, sparse=True)
    fc = torch.nn.Linear(4, 2)
    out = fc(emb(torch.tensor([1, 2, 2, 3]), torch.tensor([0, 2])))
    out.sum().backward()
    assert emb.weight.grad.is_sparse
    params = list(emb.parameters()) + list(fc.parameters())
    total = clip_grad_norm(params, 0.1)
    assert total > 0.1
    norms = [p.grad.coalesce().values().norm() if p.grad.is_sparse else p.grad.norm() for p in params]
    assert torch.linalg.vector_norm(torch.stack(norms)).item() == pytest.approx(0.1, rel=1e-3)


def test_vocab_state_round_trips_through_a_checkpoint(tmp_path):
    dm = make_dm(tmp_path)
    state = dm.state_dict()
    torch.save({"dm": state}, tmp_path / "x.ckpt")
    loaded = torch.load(tmp_path / "x.ckpt", weights_only=True)["dm"]
    fresh = TextClassificationDataModule(train_path=None, classes_path=None)
    fresh.load_state_dict(loaded)
    assert fresh.vocab == dm.vocab and fresh.class_names == dm.class_names
    assert isinstance(fresh.vocab, Vocab)
    docs = map_to_vocab(encode_file_to_corpus(["a film"], np.zeros(1, dtype=np.int64), 1), fresh.vocab, True)
    assert len(docs.ids) == 2


def test_corpus_encoding_is_lossless():
    from expkit.text.encode import encode_new_vocabulary
    from expkit.text.tokenizer import ngrams

    texts = ["Hello, world! Hello again.", "", "A (small) test; of: things."]
    ids, offsets, itos = encode_new_vocabulary(texts, ngrams=2)
    for i, text in enumerate(texts):
        tokens = [itos[j] for j in ids[offsets[i]:offsets[i + 1]]]
        assert tokens == ngrams(basic_english(text), 2)
    assert len(itos) == len(set(itos))


def test_split_selection_and_unknown_dropping_handle_empty_documents():
    from expkit.data.text import EncodedDocs

    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 5, size=3000)
    lengths[[0, 1, -1]] = 0  # empty documents at both ends
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    docs = EncodedDocs(rng.integers(0, 50, size=offsets[-1]).astype(np.int32), offsets, np.arange(3000))
    rows = np.sort(rng.choice(3000, size=2000, replace=False))
    by_mask = docs.select(rows)  # a large sorted selection takes the token-mask path
    by_position = EncodedDocs(docs.ids, docs.offsets, docs.labels).select(rows[::-1])  # positions
    for i, row in enumerate(rows):
        expected = docs.ids[offsets[row]:offsets[row + 1]].tolist()
        assert by_mask.ids[by_mask.offsets[i]:by_mask.offsets[i + 1]].tolist() == expected
        j = len(rows) - 1 - i
        assert by_position.ids[by_position.offsets[j]:by_position.offsets[j + 1]].tolist() == expected

    vocab = Vocab(["<unk>", "<pad>"] + [str(i) for i in range(0, 50, 2)])  # odd ids are unknown
    from expkit.data.text import EncodedCorpus

    mapped = map_to_vocab(EncodedCorpus(docs, [str(i) for i in range(50)]), vocab, drop_unknown=True)
    for i in range(3000):
        kept = [t for t in docs.ids[offsets[i]:offsets[i + 1]].tolist() if t % 2 == 0]
        assert vocab.lookup_tokens(mapped.ids[mapped.offsets[i]:mapped.offsets[i + 1]].tolist()) == [str(t) for t in kept]


def test_csv_quirks_are_accepted_or_reported(tmp_path):
    csv = tmp_path / "quirks.csv"
    csv.write_bytes('\ufeff1,"","A company."\n\n2,"","A school."\n'.encode("utf-8"))
    labels, texts = read_labeled_csv(csv, 14)  # BOM and a blank line are fine
    assert labels.tolist() == [0, 1] and texts == ["A company.", "A school."]
    csv.write_bytes(b'1,"","caf\xe9"\n')
    with pytest.raises(DataError, match="not UTF-8"):
        read_labeled_csv(csv, 14)
