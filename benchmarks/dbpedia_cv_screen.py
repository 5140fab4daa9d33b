"""In-process screen of recipe ideas on the cross-validation folds of section 6 (issue 21).

Section 6 of dbpedia.py runs expkit through the real CLI, one process per (seed, fold): right for
the final table, slow for trying ideas. This screen builds the same folds in one process
(`TextClassificationDataModule(cv_folds=5, cv_fold=i)`, words + bigrams, min_freq 2, unknown tokens
dropped, as experiments/dbpedia_sample.yaml), trains with the default's loop (LazyAdam lr 0.02,
batch 128, 10 epochs, cross-entropy, one thread) and tests the last epoch, as the default does.
The default network run here scored 0.9632 / 0.9624 at seeds 42 / 1 (the CLI: 0.9626 / 0.9602).

A variant is a JSON object of knobs (see VARIANT_KNOBS); a run with several "members" trains each
on its own loss (the sum of the members' cross-entropies) and predicts the mean of their softmax
probabilities. `--tokens w2` swaps basic_english for scikit-learn's default token pattern
(`\\b\\w\\w+\\b` on the lower-cased text) in the pure-Python encoder: a screening hack to see
whether the tokens that help TF-IDF + LinearSVC help the bag too, not an expkit option.
`--svm` prints TF-IDF + LinearSVC (C on val) on the same folds for the token variants instead.

    OMP_NUM_THREADS=1 python benchmarks/dbpedia_cv_screen.py --seeds 42,1 \\
        '{"bag": {}, "bag + tf-idf member": {"members": ["bag", "tfidf"], "tfidf_scale": 10, "tfidf_wd": 1e-3}}'
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

VARIANT_KNOBS = dict(
    members=["bag"],  # "bag": the default EmbeddingBag (learned token weights); "tfidf": a TF-IDF-weighted linear bag
    epochs=10, lr=0.02, weight_decay=0.0, embed_dim=64, token_dropout=0.3, label_smoothing=0.0,
    tfidf_scale=1.0,  # the TF-IDF rows are L2-normalised; the scale multiplies them (Adam: an lr for that member)
    tfidf_wd=0.0,  # weight decay of the TF-IDF member alone (dense Adam, so every row decays each step)
    tfidf_dense=True,
)
SKLEARN_TOKEN = re.compile(r"(?u)\b\w\w+\b")


def sklearn_tokens(text: str) -> list[str]:
    return SKLEARN_TOKEN.findall(text.lower())


def fold_data(fold: int, ngrams: int, tokens: str):
    from expkit.data.text import TextClassificationDataModule

    folder = os.path.join(os.path.dirname(__file__), "..", "src", "expkit", "data", "dbpedia_sample")
    dm = TextClassificationDataModule(
        os.path.join(folder, "sample.csv"), os.path.join(folder, "classes.txt"), ngrams=ngrams, min_freq=2,
        drop_unknown=True, batch_size=128, cache_dir=f".cache/cv_screen_{tokens}", cv_folds=5, cv_fold=fold,
    )
    dm.setup("fit")
    return dm


def tfidf_weights(ids: torch.Tensor, offsets: torch.Tensor, idf: torch.Tensor) -> torch.Tensor:
    """Per-occurrence weights whose per-bag sum is sklearn's TfidfVectorizer(sublinear_tf=True) row.

    A token seen c times in a document gets (1 + log c) * idf in total, split over its c
    occurrences; the row is L2-normalised over the document's distinct tokens.
    """
    lengths = torch.diff(offsets, append=offsets.new_tensor([len(ids)]))
    bag = torch.repeat_interleave(torch.arange(len(offsets)), lengths)
    _, inverse, counts = torch.unique(bag * idf.numel() + ids, return_inverse=True, return_counts=True)
    c = counts[inverse].to(torch.float32)
    value = (1 + torch.log(c)) * idf[ids]
    norm_sq = torch.zeros(len(offsets)).index_add_(0, bag, value**2 / c)
    return value / c / norm_sq.sqrt().clamp_min(1e-12)[bag]


class TfidfLinear(nn.Module):
    """A linear classifier on TF-IDF rows: EmbeddingBag(mode="sum") of per-class weights."""

    def __init__(self, vocab_size: int, num_classes: int, idf: torch.Tensor, scale: float, sparse: bool) -> None:
        super().__init__()
        self.weight = nn.EmbeddingBag(vocab_size, num_classes, mode="sum", sparse=sparse)
        self.weight.weight.data.zero_()
        self.bias = nn.Parameter(torch.zeros(num_classes))
        self.register_buffer("idf", idf)
        self.scale = scale

    def forward(self, ids: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        return self.weight(ids, offsets, per_sample_weights=tfidf_weights(ids, offsets, self.idf) * self.scale) + self.bias


def train_idf(dm) -> torch.Tensor:
    """sklearn's smooth idf, log((1 + n) / (1 + df)) + 1, from the train split's documents."""
    docs, v = dm.splits["train"], len(dm.vocab)
    bag = np.repeat(np.arange(len(docs)), np.diff(docs.offsets))
    df = np.bincount(np.unique(bag.astype(np.int64) * v + docs.ids) % v, minlength=v)
    return torch.tensor(np.log((1 + len(docs)) / (1 + df)) + 1, dtype=torch.float32)


def as_batch(docs, rows):
    part = docs.select(np.asarray(rows, dtype=np.int64))
    return torch.from_numpy(part.ids.astype(np.int64)), torch.from_numpy(part.offsets[:-1]), torch.from_numpy(part.labels)


def run(knobs: dict, dm, seed: int) -> dict:
    from expkit.models.text import EmbeddingBagClassifier
    from expkit.optimizers import LazyAdam

    torch.manual_seed(seed)
    v, c = len(dm.vocab), len(dm.class_names)
    members = nn.ModuleList()
    for kind in knobs["members"]:
        if kind == "bag":
            members.append(EmbeddingBagClassifier(v, c, embed_dim=knobs["embed_dim"], init_range=0.2, token_weights=True,
                                                  token_dropout=knobs["token_dropout"]))
        else:
            members.append(TfidfLinear(v, c, train_idf(dm), knobs["tfidf_scale"], sparse=not knobs["tfidf_dense"]))
    tfidf = [p for m in members if isinstance(m, TfidfLinear) for p in m.parameters()]
    other = [p for m in members if not isinstance(m, TfidfLinear) for p in m.parameters()]
    groups = [dict(params=other, weight_decay=knobs["weight_decay"])]
    if tfidf:
        groups.append(dict(params=tfidf, weight_decay=knobs["tfidf_wd"]))
    optimizer = LazyAdam(groups, lr=knobs["lr"])
    train, order = dm.splits["train"], torch.Generator().manual_seed(seed)
    for _ in range(knobs["epochs"]):
        members.train()
        perm = torch.randperm(len(train), generator=order).numpy()
        for start in range(0, len(perm), 128):
            ids, offsets, labels = as_batch(train, perm[start : start + 128])
            loss = sum(F.cross_entropy(m(ids, offsets), labels, label_smoothing=knobs["label_smoothing"]) for m in members)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    members.eval()
    out = {}
    with torch.no_grad():
        for split in ("val", "test"):
            ids, offsets, labels = as_batch(dm.splits[split], np.arange(len(dm.splits[split])))
            logits = [m(ids, offsets) for m in members]
            prob = torch.stack([F.softmax(z, 1) for z in logits]).mean(0)
            out[split] = float((prob.argmax(1) == labels).float().mean())
            out[f"{split}_members"] = [float((z.argmax(1) == labels).float().mean()) for z in logits]
    return out


def svm_screen() -> None:
    """TF-IDF + LinearSVC (C on val) on the folds with token variants: which tokens help the SVM."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    from expkit.data.labelled import stratified_fold_split
    from expkit.data.text_files import read_labeled_csv
    from expkit.text.tokenizer import basic_english, ngrams

    folder = os.path.join(os.path.dirname(__file__), "..", "src", "expkit", "data", "dbpedia_sample")
    labels, texts = read_labeled_csv(os.path.join(folder, "sample.csv"), 14, ["title", "content"])
    folds = [stratified_fold_split(labels, 5, f, 0.1, 42) for f in range(5)]
    two_chars = re.compile(r"\w\w")
    variants = {
        "basic_english + bigrams": lambda t: ngrams(basic_english(t), 2),
        "basic_english, n-grams holding a token without 2 word chars dropped": lambda t: [
            g for g in ngrams(basic_english(t), 2) if all(two_chars.search(p) for p in g.split(" "))],
        "basic_english, tokens without 2 word chars dropped before bigrams": lambda t: ngrams(
            [x for x in basic_english(t) if two_chars.search(x)], 2),
        "\\w+ tokens + bigrams": lambda t: ngrams(re.findall(r"\w+", t.lower()), 2),
        "\\b\\w\\w+\\b tokens (sklearn's) + bigrams": lambda t: ngrams(sklearn_tokens(t), 2),
    }
    for name, analyzer in variants.items():
        accs = []
        for train, val, test in folds:
            best = None
            for c in (0.3, 1, 3, 10, 30):
                vec = TfidfVectorizer(sublinear_tf=True, analyzer=analyzer)
                svm = LinearSVC(C=c).fit(vec.fit_transform([texts[i] for i in train]), labels[train])
                val_acc, test_acc = ((svm.predict(vec.transform([texts[i] for i in r])) == labels[r]).mean() for r in (val, test))
                if best is None or val_acc > best[0]:
                    best = (val_acc, test_acc)
            accs.append(best[1])
        print(f"SVM {name}: mean {np.mean(accs):.4f} | " + " ".join(f"{a:.3f}" for a in accs), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variants", nargs="?", default='{"default": {}}', help="JSON: {name: {knob: value}}")
    parser.add_argument("--seeds", default="42,1")
    parser.add_argument("--ngrams", type=int, default=2)
    parser.add_argument("--tokens", choices=["basic_english", "w2"], default="basic_english")
    parser.add_argument("--svm", action="store_true", help="only the TF-IDF + LinearSVC token screen")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.svm:
        return svm_screen()
    if args.tokens == "w2":
        os.environ["EXPKIT_TEXT_ENCODER"] = "python"
        import expkit.text.encode as encode

        encode._NativeEncoder = None  # the pure-Python encoder reads the module's basic_english
        encode.basic_english = sklearn_tokens
    data = {fold: fold_data(fold, args.ngrams, args.tokens) for fold in range(5)}
    for name, given in json.loads(args.variants).items():
        unknown = set(given) - set(VARIANT_KNOBS)
        if unknown:
            raise SystemExit(f"unknown knobs {sorted(unknown)}; known: {sorted(VARIANT_KNOBS)}")
        knobs = {**VARIANT_KNOBS, **given}
        for seed in (int(s) for s in args.seeds.split(",")):
            t0 = time.perf_counter()
            res = [run(knobs, data[fold], seed) for fold in range(5)]
            test = [r["test"] for r in res]
            members = np.mean([r["test_members"] for r in res], 0)
            print(f"{name} | seed {seed} | test {np.mean(test):.4f} | val {np.mean([r['val'] for r in res]):.4f} | "
                  + " ".join(f"{a:.3f}" for a in test) + " | members " + " ".join(f"{m:.4f}" for m in members)
                  + f" | {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
