"""Section 6 of benchmarks/dbpedia.py: K-fold cross-validated accuracy over the whole 5,000-row sample.

The 500-row test split of the default run is too small to see 0.3 points (one row is 0.2 points,
a seed moves it ~0.7). Here every row of the sample is a test row once: fold i of K
(`data.cv_folds=K data.cv_fold=i`, expkit.data.labelled.stratified_fold_split: stratified,
seeded by the data's split_seed) is the test split, val is the data's val_fraction of the other
folds' rows, the rest is train. Per fold, on exactly those rows:

* expkit: `expkit train data.cv_folds=K data.cv_fold=i seed=S VARIANT` through the real CLI (a
  subprocess), its test/acc from metrics.json (the checkpoint best on val/acc, as in any run);
  the row indices are checked against the data module's splits (labels and sizes) first.
* TF-IDF + LinearSVC (sublinear tf, words + bigrams), C in SVM_C picked on the fold's val rows
  (ties: the smaller C), refitted on nothing else; two tokenizations, as in section 1.

Reported: per system the mean test accuracy over folds and its spread (standard deviation over
folds, min-max), per seed for expkit, and the paired difference per fold against the best peer
(the peer with the best mean): the same 1,000 test rows on both sides, so fold-to-fold
difficulty cancels. "SE" is the standard deviation of the per-fold differences / sqrt(K).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import _bench as B

SVM_C = [0.1, 0.3, 1.0, 3.0, 10.0, 30.0]


def fold_rows(data_cfg, folds: int) -> tuple[list[str], "object", list[dict]]:
    """(texts, labels, [{train, val, test} row indices per fold]) verified against the data module."""
    import numpy as np
    from hydra.utils import instantiate

    from expkit.data.labelled import stratified_fold_split
    from expkit.data.text_files import read_labeled_csv

    out = []
    labels = texts = None
    for fold in range(folds):
        dm = instantiate(data_cfg, cv_folds=folds, cv_fold=fold, _convert_="all")
        dm.setup("fit")
        if labels is None:
            labels, texts = read_labeled_csv(dm.train_path, len(dm.class_names), dm.text_fields)
        parts = stratified_fold_split(labels, folds, fold, dm.val_fraction, dm.split_seed)
        rows = dict(zip(["train", "val", "test"], parts))
        for name, idx in rows.items():
            docs = dm.splits[name]
            assert len(docs) == len(idx) and np.array_equal(docs.labels, labels[idx]), f"fold {fold} {name}: rows differ"
        out.append(rows)
    every = np.sort(np.concatenate([r["test"] for r in out]))
    assert np.array_equal(every, np.arange(len(labels))), "the folds' test rows must cover every row once"
    return texts, labels, out


def svm_fold(texts, labels, rows: dict, analyzer: dict) -> dict:
    """TF-IDF + LinearSVC on one fold, C picked on its val rows."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    x = {n: [texts[r] for r in idx] for n, idx in rows.items()}
    y = {n: labels[idx] for n, idx in rows.items()}
    grid = []
    for c in SVM_C:
        t0 = time.perf_counter()
        vectorizer = TfidfVectorizer(sublinear_tf=True, **analyzer)
        svm = LinearSVC(C=c).fit(vectorizer.fit_transform(x["train"]), y["train"])
        fit_s = time.perf_counter() - t0
        acc = {n: float((svm.predict(vectorizer.transform(x[n])) == y[n]).mean()) for n in ("val", "test")}
        grid.append({"C": c, "val_acc": acc["val"], "test_acc": acc["test"], "fit_s": fit_s})
    return max(grid, key=lambda g: (g["val_acc"], -g["C"]))


def analyzers() -> dict[str, dict]:
    from expkit.text.tokenizer import basic_english, ngrams

    return {
        "TF-IDF + LinearSVC, basic_english + bigrams (expkit's tokens)": dict(analyzer=lambda t: ngrams(basic_english(t), 2)),
        "TF-IDF + LinearSVC, sklearn default analyzer, ngram_range (1, 2)": dict(ngram_range=(1, 2)),
    }


def expkit_fold(tmp: Path, tag: str, folds: int, fold: int, seed: int, variant: str, env: dict) -> dict:
    cwd = tmp / tag
    cwd.mkdir(parents=True)
    overrides = [f"data.cv_folds={folds}", f"data.cv_fold={fold}", f"seed={seed}", *variant.split()]
    cmd = [*B.expkit_cmd(), "train", f"paths.output_root={cwd / 'out'}", f"paths.cache_dir={tmp / 'cache'}", *overrides]
    res = B.run_timed(cmd, cwd=cwd, env=env)
    m = B.read_metrics(B.only_run_dir(cwd / "out"))
    B.log(f"cv: expkit {variant or '(default)'} seed {seed} fold {fold}: test {m.get('test/acc')} ({res['wall']:.0f} s)")
    return {"fold": fold, "seed": seed, "test_acc": m.get("test/acc"), "val_acc": m.get("best_score") if m.get("best_score") is not None else m.get("val/acc"),
            "process_s": res["wall"]}


def cross_validate(tmp: Path, env: dict, data_cfg, folds: int, seeds: list[int], variants: list[str],
                   peers: bool = True) -> dict:
    """Every system on every fold; expkit once per (variant, seed, fold)."""
    texts, labels, rows = fold_rows(data_cfg, folds)
    res: dict = {"folds": folds, "seeds": seeds, "sizes": [{n: len(v) for n, v in r.items()} for r in rows],
                 "peers": {}, "expkit": {}}
    if peers:
        for name, analyzer in analyzers().items():
            res["peers"][name] = [svm_fold(texts, labels, r, analyzer) for r in rows]
            B.log(f"cv: {name}: " + ", ".join(f"{f['test_acc']:.3f} (C={f['C']})" for f in res["peers"][name]))
    for v, variant in enumerate(variants):
        variant = variant.strip()
        res["expkit"][variant] = {
            seed: [expkit_fold(tmp, f"cv{v}-s{seed}-f{fold}", folds, fold, seed, variant, env) for fold in range(folds)]
            for seed in seeds
        }
    return res


def _mean_sd(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else float("nan"))


def _paired(accs: list[float], peer: list[float], k: int) -> list[str]:
    """Mean per-fold difference (points) and its SE (sd of the differences / sqrt(k))."""
    d = [a - p for a, p in zip(accs, peer)]
    mean, sd = _mean_sd(d)
    return [f"{mean * 100:+.2f}", f"{sd / k ** 0.5 * 100:.2f}"]


def report(cv: dict) -> str:
    """The Markdown of section 6: per system and seed, mean/sd over folds and paired differences."""
    k = cv["folds"]
    peers = {name: [f["test_acc"] for f in per_fold] for name, per_fold in cv["peers"].items()}
    ranked = sorted(peers, key=lambda n: -statistics.fmean(peers[n]))
    rows = []
    for name in ranked:
        mean, sd = _mean_sd(peers[name])
        cs = ", ".join(f"{f['C']:g}" for f in cv["peers"][name])
        rows.append([name + (" (best peer)" if name == ranked[0] else ""), f"C on val: {cs}", f"{mean:.4f}", f"{sd:.4f}",
                     " ".join(f"{a:.3f}" for a in peers[name]), *["-"] * (2 * len(ranked))])
    for variant, by_seed in cv["expkit"].items():
        label = f"expkit {variant or '(default)'}"
        per_seed = {seed: [f["test_acc"] for f in per_fold] for seed, per_fold in by_seed.items()}
        lines = [(f"seed {seed}", accs) for seed, accs in per_seed.items()]
        if len(per_seed) > 1:
            lines.append((f"mean of {len(per_seed)} seeds", [statistics.fmean(col) for col in zip(*per_seed.values())]))
        for setting, accs in lines:
            mean, sd = _mean_sd(accs)
            paired = [cell for name in ranked for cell in _paired(accs, peers[name], k)]
            rows.append([label, setting, f"{mean:.4f}", f"{sd:.4f}", " ".join(f"{a:.3f}" for a in accs), *paired])
    sizes = cv["sizes"][0]
    headers = ["system", "setting", "mean test acc", "sd over folds", f"per fold 0..{k - 1}"]
    for i, name in enumerate(ranked):
        tag = "best peer" if i == 0 else f"peer {i + 1}"
        headers += [f"diff vs {tag}, points", "SE"]
    out = [f"### 6. Cross-validated accuracy ({k} folds over all {sum(sizes.values()):,} rows; fold 0: train "
           f"{sizes['train']:,} / val {sizes['val']:,} / test {sizes['test']:,})", "",
           B.markdown_table(headers, rows), ""]
    if ranked:
        named = "; ".join(f"{'best peer' if i == 0 else f'peer {i + 1}'} = {n}" for i, n in enumerate(ranked))
        out.append(f"Paired differences: expkit's test accuracy minus the peer's on the same fold's test rows, mean over "
                   f"the {k} folds, in points (0.01 accuracy = 1 point); SE = sd of the {k} differences / sqrt({k}). "
                   f"{named}.")
    return "\n".join(out)
