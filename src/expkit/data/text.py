"""Text classification data: CSV rows -> basic_english tokens -> ids, encoded once and cached.

Encoding happens in two steps. Step 1 (slow, cached on disk under `cache_dir`, keyed by a digest
of the file and the tokenizer settings) turns every document of a file into ids of a
*corpus dictionary* (every distinct token of that file). Step 2 (fast, numpy, every run) builds
the vocabulary from the train split's counts (`min_freq`, `max_size`, specials) and maps the
corpus ids onto it, dropping unknown tokens (fastText's way) or mapping them to `<unk>`.
Changing the split, seed or vocabulary settings therefore never re-tokenizes, and every job of a
sweep reuses the same cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from expkit.data.base import DataModule
from expkit.data.labelled import read_class_names, stratified_fold_split, stratified_split
from expkit.data.text_files import read_labeled_csv, require_data_file
from expkit.errors import ConfigError, DataError
from expkit.files import atomic_open
from expkit.text.encode import ENCODER, encode_corpus, encode_new_vocabulary
from expkit.text.vocab import Vocab

log = logging.getLogger("expkit")

# Bump when step 1's output format or the tokenizer changes, so old caches are not reused.
CACHE_VERSION = 1
BATCH_FORMATS = ("bag", "padded")


@dataclass
class EncodedDocs:
    """Documents as one flat id array plus offsets: doc i is ids[offsets[i]:offsets[i+1]]."""

    ids: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def select(self, rows: np.ndarray) -> "EncodedDocs":
        """The documents `rows`, in that order, as a new compact EncodedDocs."""
        lengths = self.offsets[rows + 1] - self.offsets[rows]
        new_offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=new_offsets[1:])
        if len(rows) > 1024 and np.all(np.diff(rows) > 0):
            # A whole split (sorted rows): a boolean token mask costs 1 byte a token where
            # gather positions would cost 16, which decides peak memory on the full dataset.
            doc_mask = np.zeros(len(self), dtype=bool)
            doc_mask[rows] = True
            ids = self.ids[np.repeat(doc_mask, np.diff(self.offsets))]
        else:
            starts = self.offsets[rows]
            positions = np.repeat(starts - new_offsets[:-1], lengths) + np.arange(new_offsets[-1])
            ids = self.ids[positions]
        return EncodedDocs(ids, new_offsets, self.labels[rows])


@dataclass
class EncodedCorpus:
    """Step 1's result for one file: corpus-dictionary ids of every document, and the labels."""

    docs: EncodedDocs
    itos: list[str]


def encode_file_to_corpus(texts: Sequence[str], labels: np.ndarray, ngrams: int) -> EncodedCorpus:
    """Tokenize every text and number each distinct token in order of first appearance."""
    ids, offsets, itos = encode_new_vocabulary(texts, ngrams)
    return EncodedCorpus(EncodedDocs(ids, offsets, labels), itos)


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(require_data_file(path), "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class CorpusCache:
    """Step-1 results as `.npz` files in `cache_dir`, written atomically (tmp file + rename)."""

    def __init__(self, cache_dir: str | Path) -> None:
        self.cache_dir = Path(cache_dir)

    def key(self, path: Path, settings: dict[str, Any]) -> str:
        payload = json.dumps({"file": file_digest(path), "v": CACHE_VERSION, **settings}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:24]

    def load_or_encode(self, path: Path, num_classes: int, text_fields: Sequence[str], ngrams: int) -> EncodedCorpus:
        settings = {"tokenizer": "basic_english", "ngrams": ngrams, "text_fields": list(text_fields), "num_classes": num_classes}
        file = self.cache_dir / f"{path.stem}-{self.key(path, settings)}.npz"
        if file.is_file():
            try:
                corpus = self._read(file)
                log.info("Encoded-text cache hit: %s (%d documents)", file, len(corpus.docs))
                return corpus
            except (OSError, ValueError, KeyError) as err:  # a damaged file is rebuilt, never trusted
                log.warning("Encoded-text cache %s is unreadable (%s); re-encoding.", file, err)
        log.info("Encoded-text cache miss: tokenizing %s with the %s encoder ...", path, ENCODER)
        labels, texts = read_labeled_csv(path, num_classes, text_fields)
        corpus = encode_file_to_corpus(texts, labels, ngrams)
        self._write(file, corpus)
        log.info("Encoded %d documents, %d distinct tokens; cached in %s", len(texts), len(corpus.itos), file)
        return corpus

    @staticmethod
    def _read(file: Path) -> EncodedCorpus:
        with np.load(file, allow_pickle=False) as z:
            itos = z["itos"].tobytes().decode("utf-8").split("\n") if z["itos"].size else []
            docs = EncodedDocs(z["ids"], z["offsets"], z["labels"])
        if docs.offsets[-1] != len(docs.ids) or len(docs.offsets) != len(docs.labels) + 1:
            raise ValueError("inconsistent arrays")
        return EncodedCorpus(docs, itos)

    def _write(self, file: Path, corpus: EncodedCorpus) -> None:
        itos = np.frombuffer("\n".join(corpus.itos).encode("utf-8"), dtype=np.uint8)
        # Concurrent jobs may both encode; each renames a complete file into place.
        with atomic_open(file, "wb") as f:
            np.savez(f, ids=corpus.docs.ids, offsets=corpus.docs.offsets, labels=corpus.docs.labels, itos=itos)


def corpus_counts(corpus: EncodedCorpus, rows: np.ndarray) -> dict[str, int]:
    """How often each corpus token occurs in the documents `rows`."""
    ids = corpus.docs.select(rows).ids
    counts = np.bincount(ids, minlength=len(corpus.itos))
    present = np.flatnonzero(counts)
    return {corpus.itos[i]: int(counts[i]) for i in present}


# Documents hashed per chunk in doc_signatures: its uint64 temporaries (8 bytes a token, several
# at once) stay ~100 MB instead of growing with the split (over 1 GB for 448k DBpedia documents).
_SIGNATURE_CHUNK_DOCS = 65536


def doc_signatures(corpus: EncodedCorpus, rows: np.ndarray) -> np.ndarray:
    """A 64-bit signature of each document `rows` from its tokens' text and order, comparable
    between two corpora of one process (token ids are per corpus, so the token strings are hashed)."""
    token_hash = np.fromiter((hash(t) for t in corpus.itos), dtype=np.int64, count=len(corpus.itos)).view(np.uint64)
    rows = np.asarray(rows, dtype=np.int64)
    out = np.zeros(len(rows), dtype=np.uint64)
    for start in range(0, len(rows), _SIGNATURE_CHUNK_DOCS):
        docs = corpus.docs.select(rows[start : start + _SIGNATURE_CHUNK_DOCS])
        lengths = np.diff(docs.offsets)
        position = np.arange(len(docs.ids), dtype=np.uint64) - np.repeat(docs.offsets[:-1], lengths).astype(np.uint64)
        # Position-weighted (odd multipliers), so reordered tokens give another signature; uint64 wraps.
        with np.errstate(over="ignore"):
            position *= np.uint64(2)
            position += np.uint64(0x9E3779B97F4A7C15 | 1)
            weighted = token_hash[docs.ids]
            weighted *= position
            del position
            nonempty = lengths > 0
            if nonempty.any():
                chunk = out[start : start + len(lengths)]
                chunk[nonempty] = np.add.reduceat(weighted, docs.offsets[:-1][nonempty]) + lengths[nonempty].astype(np.uint64)
    return out


def count_shared_docs(train: EncodedCorpus, train_rows: np.ndarray, test: EncodedCorpus, test_rows: np.ndarray) -> int:
    """How many of the test documents have exactly the tokens of some training document."""
    if not len(train_rows) or not len(test_rows):
        return 0
    return int(np.isin(doc_signatures(test, test_rows), doc_signatures(train, train_rows)).sum())


def map_to_vocab(corpus: EncodedCorpus, vocab: Vocab, drop_unknown: bool) -> EncodedDocs:
    """Corpus-dictionary ids -> vocabulary ids; unknown tokens dropped or sent to `<unk>`."""
    stoi = vocab.stoi
    missing = -1 if drop_unknown else vocab.unk_index
    remap = np.fromiter((stoi.get(t, missing) for t in corpus.itos), dtype=np.int32, count=len(corpus.itos))
    docs = corpus.docs
    ids = remap[docs.ids] if len(remap) else np.empty(0, dtype=np.int32)
    if not drop_unknown:
        return EncodedDocs(ids, docs.offsets, docs.labels)
    keep = ids >= 0
    # Kept tokens per document, summed over each document's span; empty documents keep 0.
    lengths = np.diff(docs.offsets)
    kept = np.zeros(len(lengths), dtype=np.int64)
    nonempty = lengths > 0
    if nonempty.any():
        kept[nonempty] = np.add.reduceat(keep, docs.offsets[:-1][nonempty], dtype=np.int64)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(kept, out=offsets[1:])
    return EncodedDocs(ids[keep], offsets, docs.labels)


class EncodedDataset(Dataset):
    """A split that returns whole batches: `dataset[list_of_rows]` -> model inputs + labels.

    Used with a BatchSampler and `batch_size=None`, so a batch is gathered with a few numpy
    operations instead of collating one tensor per document.
    """

    def __init__(self, docs: EncodedDocs, batch_format: str, pad_index: int, max_length: int) -> None:
        self.docs, self.batch_format = docs, batch_format
        self.pad_index, self.max_length = pad_index, max_length

    def __len__(self) -> int:
        return len(self.docs)

    def __getitem__(self, rows: list[int]) -> tuple[torch.Tensor, ...]:
        batch = self.docs.select(np.asarray(rows, dtype=np.int64))
        return to_batch(batch, self.batch_format, self.pad_index, self.max_length)


def to_batch(docs: EncodedDocs, batch_format: str, pad_index: int, max_length: int) -> tuple[torch.Tensor, ...]:
    """(ids, offsets, labels) for EmbeddingBag models or (padded ids, lengths, labels) for RNNs."""
    labels = torch.from_numpy(docs.labels)
    if batch_format == "bag":
        # EmbeddingBag wants ids and offsets of one dtype; ids are stored as int32 to halve memory.
        return torch.from_numpy(docs.ids.astype(np.int64)), torch.from_numpy(docs.offsets[:-1]), labels
    lengths = np.minimum(np.diff(docs.offsets), max_length)
    width = max(int(lengths.max(initial=0)), 1)
    padded = np.full((len(lengths), width), pad_index, dtype=np.int64)
    for row, (start, n) in enumerate(zip(docs.offsets[:-1], lengths)):
        padded[row, :n] = docs.ids[start : start + n]
    # An empty document still needs one step for pack_padded_sequence: it reads one <pad>.
    return torch.from_numpy(padded), torch.from_numpy(np.maximum(lengths, 1)), labels


def check_cv_keys(cv_folds: Any, cv_fold: Any, test_path: str | None) -> None:
    """ConfigError unless `data.cv_folds` and `data.cv_fold` are both unset, or name one fold."""
    if cv_folds is None and cv_fold is None:
        return
    if cv_folds is None or cv_fold is None:
        given, missing = ("data.cv_folds", "data.cv_fold") if cv_fold is None else ("data.cv_fold", "data.cv_folds")
        raise ConfigError(
            f"{given} is set but {missing} is not; cross-validation needs both: data.cv_folds=K (how many folds) "
            "and data.cv_fold=I (which fold is the test split, 0 to K-1), e.g. data.cv_folds=5 data.cv_fold=0."
        )
    if isinstance(cv_folds, bool) or not isinstance(cv_folds, int) or cv_folds < 2:
        raise ConfigError(f"data.cv_folds={cv_folds!r}: use a whole number of folds >= 2 (5 or 10 is usual).")
    if isinstance(cv_fold, bool) or not isinstance(cv_fold, int) or not 0 <= cv_fold < cv_folds:
        raise ConfigError(
            f"data.cv_fold={cv_fold!r}: with data.cv_folds={cv_folds} use a fold number 0 to {cv_folds - 1} "
            f"(a sweep over all of them: -m data.cv_fold=range(0,{cv_folds}))."
        )
    if test_path:
        raise ConfigError(
            f"data.cv_folds={cv_folds} with data.test_path={test_path!r}: a cross-validation fold is the test split, "
            "so a test file would be ignored; remove data.test_path (or data.cv_folds and data.cv_fold)."
        )


class TextClassificationDataModule(DataModule):
    """Labeled texts from CSV files in the `label,"title","content"` layout (DBpedia, AG News).

    Splits: `train_path` is split into train/val(/test) by seeded, stratified fractions; with a
    `test_path` the test split is that file instead (and `test_fraction` is ignored). With
    `cv_folds=K, cv_fold=I` the test split is fold I of K stratified, `split_seed`-seeded folds of
    `train_path` (`stratified_fold_split`) and val is `val_fraction` of the other folds' rows;
    `test_fraction` is ignored. The
    vocabulary is built from the train split only, and saved in the checkpoint (`state_dict`) so
    that a run folder alone can predict.
    """

    task_type = "classification"
    input_formats = BATCH_FORMATS
    model_dims_keys = ("vocab_size", "num_classes", "padding_idx")
    task_facts_keys = ("num_classes", "class_names")

    def __init__(
        self,
        train_path: str | None,
        classes_path: str | None,
        test_path: str | None = None,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        split_seed: int = 42,
        text_fields: Sequence[str] = ("title", "content"),
        ngrams: int = 1,
        min_freq: int = 1,
        max_size: int | None = None,
        specials: Sequence[str] = ("<unk>", "<pad>"),
        drop_unknown: bool = True,
        batch_size: int = 64,
        eval_batch_size: int | None = None,
        max_length: int = 128,
        num_workers: int = 0,
        cache_dir: str = ".cache/expkit",
        cv_folds: int | None = None,
        cv_fold: int | None = None,
    ) -> None:
        super().__init__(batch_size=batch_size, eval_batch_size=eval_batch_size, num_workers=num_workers)
        if not 1 <= ngrams <= 3:
            raise ConfigError(f"data.ngrams={ngrams}: use 1 (words), 2 (plus bigrams) or 3.")
        if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
            raise ConfigError(
                f"data.val_fraction={val_fraction} and data.test_fraction={test_fraction} must be in [0, 1) "
                "and leave rows to train on (sum < 1)."
            )
        if "<unk>" not in specials:
            raise ConfigError(f"data.specials={list(specials)} must contain '<unk>'.")
        if not isinstance(min_freq, int) or min_freq < 1:
            raise ConfigError(f"data.min_freq={min_freq!r}: use a whole number >= 1.")
        check_cv_keys(cv_folds, cv_fold, test_path)
        self.cv_folds, self.cv_fold = cv_folds, cv_fold
        self.train_path, self.classes_path, self.test_path = train_path, classes_path, test_path
        self.val_fraction, self.test_fraction, self.split_seed = val_fraction, test_fraction, split_seed
        self.text_fields, self.ngrams = list(text_fields), ngrams
        self.min_freq, self.max_size, self.specials = min_freq, max_size, list(specials)
        self.drop_unknown = drop_unknown
        self.max_length = max_length
        self.cache = CorpusCache(cache_dir)
        self.vocab: Vocab | None = None
        self.class_names: list[str] = []

    # -- files ---------------------------------------------------------------------------
    def data_files(self) -> tuple[Path, Path | None, Path]:
        """(train CSV, test CSV or None, classes file); subclasses may fetch them first."""
        if not self.train_path or not self.classes_path:
            raise ConfigError("data.train_path and data.classes_path must be set to a CSV and a classes.txt.")
        test = Path(self.test_path) if self.test_path else None
        return Path(self.train_path), test, Path(self.classes_path)

    # -- Lightning hooks -------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        train_file, test_file, classes_file = self.data_files()
        self.class_names = read_class_names(classes_file)
        encode = lambda path: self.cache.load_or_encode(path, len(self.class_names), self.text_fields, self.ngrams)  # noqa: E731
        corpus = encode(train_file)
        rows = dict(zip(["train", "val", "test"], self.split_rows(corpus.docs.labels, has_test_file=test_file is not None)))
        vocab = Vocab.from_counts(
            corpus_counts(corpus, rows["train"]), min_freq=self.min_freq, max_size=self.max_size, specials=self.specials
        )
        if self.vocab is None:
            self.vocab = vocab
        elif self.vocab != vocab:
            # Resuming or evaluating: the checkpoint's vocabulary wins over a rebuilt one.
            log.warning("The vocabulary built from the data differs from the checkpoint's; using the checkpoint's.")
        if len(vocab) <= len(set(self.specials)):
            raise DataError(
                f"{train_file}: the training rows hold no tokens (the vocabulary would be the specials "
                f"{self.specials} alone). Check the file's text columns and data.text_fields={self.text_fields}."
            )
        unused = sorted(set(range(len(self.class_names))) - set(np.unique(corpus.docs.labels).tolist()))
        if len(self.class_names) - len(unused) < 2:
            # One class: every prediction is that class and every metric is trivially perfect.
            only = self.class_names[next(i for i in range(len(self.class_names)) if i not in unused)]
            raise DataError(
                f"{train_file}: every row has the label of {only!r}; a classifier learns nothing from one class (its "
                f"accuracy would be 1.0 whatever it does). Give rows of at least 2 of the {len(self.class_names)} classes "
                f"in {classes_file}."
            )
        if unused:
            log.warning(
                "%s has %d class names but %s uses only %d of them; never seen: %s. The model still predicts all %d.",
                classes_file, len(self.class_names), train_file, len(self.class_names) - len(unused),
                ", ".join(self.class_names[i] for i in unused[:5]) + (" ..." if len(unused) > 5 else ""), len(self.class_names),
            )
        mapped = map_to_vocab(corpus, self.vocab, self.drop_unknown)
        self.splits = {name: mapped.select(idx) for name, idx in rows.items()}
        del mapped  # the splits are copies: 4 bytes a token less while the leak check below runs
        test_corpus, test_rows = corpus, rows.get("test", np.empty(0, dtype=np.int64))
        if test_file is not None:
            test_corpus = encode(test_file)
            test_rows = np.arange(len(test_corpus.docs))
            self.splits["test"] = map_to_vocab(test_corpus, self.vocab, self.drop_unknown)
        leaked = count_shared_docs(corpus, rows["train"], test_corpus, test_rows)
        if leaked:
            log.warning(
                "%d of %d test rows have the same text (tokens) as a training row: test metrics overstate how the "
                "model does on new texts. Remove them from %s.",
                leaked, len(test_rows), test_file or f"{train_file} (duplicated rows)",
            )
        sizes = ", ".join(f"{name} {len(docs)}" for name, docs in self.splits.items())
        log.info("Data: %s rows; vocabulary %d tokens (ngrams=%d)", sizes, len(self.vocab), self.ngrams)

    def split_rows(self, labels: np.ndarray, has_test_file: bool) -> list[np.ndarray]:
        """[train, val(, test)] row indices of the train file: a cross-validation fold, or the fractions."""
        if self.cv_folds is not None:
            if has_test_file:  # a subclass that always brings its own test file (DBpediaDataModule)
                raise ConfigError(
                    f"data.cv_folds={self.cv_folds}: this data module tests on its own test file, so it has no "
                    "folds to rotate; remove data.cv_folds and data.cv_fold."
                )
            if self.cv_folds > len(labels):
                raise DataError(
                    f"{self.train_path}: data.cv_folds={self.cv_folds} folds of {len(labels)} rows would leave folds "
                    f"without a test row; use at most {len(labels)} folds (5 or 10 is usual)."
                )
            return stratified_fold_split(labels, self.cv_folds, self.cv_fold, self.val_fraction, self.split_seed)
        fractions = [self.val_fraction] if has_test_file else [self.val_fraction, self.test_fraction]
        return stratified_split(labels, fractions, self.split_seed)

    def batches(self, split: str) -> Dataset:
        return EncodedDataset(self.splits[split], self.input_format, self.pad_index, self.max_length)

    # -- what the model and task need --------------------------------------------------------
    @property
    def pad_index(self) -> int:
        assert self.vocab is not None
        return self.vocab["<pad>"] if "<pad>" in self.vocab else self.vocab.unk_index

    def model_dims(self) -> dict[str, int]:
        if self.vocab is None:
            raise RuntimeError("model_dims() needs the vocabulary: call setup() or load_state_dict() first")
        return {"vocab_size": len(self.vocab), "num_classes": len(self.class_names), "padding_idx": self.pad_index}

    def task_facts(self) -> dict[str, Any]:
        return {"num_classes": len(self.class_names), "class_names": list(self.class_names)}

    def predict_inputs(self, texts: Sequence[str]) -> tuple[torch.Tensor, ...]:
        """Model inputs for new texts, with this run's vocabulary (no labels)."""
        ids, offsets = encode_corpus(list(texts), self.vocab, self.ngrams, self.drop_unknown)
        # A text none of whose tokens the vocabulary knows reaches the model as an empty bag (or
        # unknowns only): its "prediction" is the model's bias, not a reading of the text.
        running = np.concatenate([[0], np.cumsum(ids != self.vocab.unk_index)])
        known = running[offsets[1:]] - running[offsets[:-1]]  # tokens other than <unk>, per text
        unread = [n for n in range(len(texts)) if known[n] == 0]
        if unread:
            shown = ", ".join(str(n + 1) for n in unread[:10]) + (", ..." if len(unread) > 10 else "")
            log.warning(
                "%d of %d inputs hold no word this model's vocabulary knows (input %s): their predictions reflect only the "
                "model's bias, not the text.", len(unread), len(texts), shown,
            )
        docs = EncodedDocs(ids, offsets, np.zeros(len(texts), dtype=np.int64))
        return to_batch(docs, self.input_format, self.pad_index, self.max_length)[:-1]

    # -- checkpoint --------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Plain containers only (checkpoints load with weights_only=True)."""
        return {
            "vocab": self.vocab.to_state() if self.vocab else None,
            "class_names": list(self.class_names),
            "ngrams": self.ngrams,
            "drop_unknown": self.drop_unknown,
            "input_format": self.input_format,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.vocab = Vocab.from_state(state["vocab"]) if state.get("vocab") else None
        self.class_names = list(state["class_names"])
        self.ngrams = state["ngrams"]
        self.drop_unknown = state["drop_unknown"]
        self.input_format = state.get("input_format", state.get("batch_format", self.input_format))


class DBpediaDataModule(TextClassificationDataModule):
    """The full DBpedia-14 dataset: `data_dir/dbpedia_csv/` or its archive, downloaded if missing."""

    def __init__(self, data_dir: str, url: str, md5: str | None, test_path: str | None = None, **kwargs: Any) -> None:
        super().__init__(train_path=None, classes_path=None, test_path=test_path, **kwargs)
        self.data_dir, self.url, self.md5 = data_dir, url, md5
        self.test_fraction = 0.0

    def prepare_data(self) -> None:
        from expkit.data.dbpedia_files import ensure_dbpedia

        ensure_dbpedia(self.data_dir, url=self.url, md5=self.md5)

    def data_files(self) -> tuple[Path, Path | None, Path]:
        from expkit.data.dbpedia_files import ensure_dbpedia

        folder = ensure_dbpedia(self.data_dir, url=self.url, md5=self.md5)
        test = Path(self.test_path) if self.test_path else folder / "test.csv"
        return folder / "train.csv", test, folder / "classes.txt"
