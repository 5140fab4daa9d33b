#!/usr/bin/env python
"""How expkit's cost grows with the data: encode time, time per epoch and peak RSS for 56k-560k docs.

Data: DBpedia-like CSVs made by resampling the 5,000 rows of the shipped DBpedia sample with
replacement (numpy seed 0), at 56,000, 140,000, 280,000 and 560,000 rows (`--rows`); 560,000 is
the real DBpedia-14 training set's size. Each CSV is trained for one epoch by the real CLI,
`expkit train experiment=dbpedia_sample data.train_path=CSV trainer.max_epochs=1` (fresh cache, so
the run tokenizes and encodes the file), under GNU `/usr/bin/time -v` for the peak RSS (psutil
polling of the process tree every 0.1 s where GNU time is missing).

Columns:
* encode s: the data module's cache step (read the CSV, tokenize, number every distinct token
  and bigram), from the CLI's own log lines "Encoded-text cache miss" -> "Encoded N documents",
  timestamped here as they arrive on the child's stdout (sub-second; train.log keeps only
  whole seconds).
* vocab s: "Encoded" -> "Data:" (split, train-split counts, vocabulary, mapping ids).
* epoch s: one epoch's training steps, train rows / the steady-state rate from the TensorBoard
  `train/loss` events (benchmarks/_bench.py in_epoch_rate): no start-up, validation or checkpoint.
* fit s: Trainer.fit from its first TensorBoard event to the val/acc event (sanity check, the
  epoch, validation, checkpoint).
* peak RSS: the whole process, encode included.
Each is also shown as a ratio to the first (56k) row, next to the ratio of the rows, so linear
growth reads as equal ratios. Goal: peak RSS at 560k <= 2 GiB.

Vocabulary caveat. Resampled rows repeat the sample's documents (each about rows/5,000 times),
so every size has the sample's ~158k distinct tokens + bigrams (each seen many times, so
`data.min_freq: 2` keeps nearly all of them): the embedding, its LazyAdam
moments and the checkpoints stay the size of the 5,000-row run, and no token is rare. Real
DBpedia-14's 560,000 training documents hold about 830k distinct tokens with bigrams pruned (far
more unpruned), most of them seen once or twice. So the largest size is also run with the
vocabulary padded to `--real-vocab` (default 830,000): synthetic unique words (letters only, so
basic_english keeps each as one token) are appended to the content of a seeded random share of
the rows, each adding one unigram and one bigram to the vocabulary, the share computed from the
unpadded run's vocabulary so the train split's vocabulary lands near the target. This measures
the memory and step cost of a real-sized embedding (and its optimizer state and checkpoint) with
a realistic long tail of once-seen tokens; the injected words carry no signal. The default
experiment drops tokens seen once (`data.min_freq: 2`), which would drop every injected word, so
the padded run keeps them with `data.min_freq=1`: its vocabulary then has the size of real
DBpedia's pruned one, which is what the run is there to measure.

Usage:  python benchmarks/scale.py [--rows 56000 140000 280000 560000] [--real-vocab 830000] [--threads 1]
Prints a Markdown table; writes benchmarks/results/scale.json. About 6-10 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _bench as B  # noqa: E402

RSS_GOAL_BYTES = 2 * 1024**3
DEFAULT_ROWS = [56_000, 140_000, 280_000, 560_000]
REAL_VOCAB = 830_000
# The padded run keeps its once-seen synthetic words (the default's min_freq 2 would drop them all).
PADDED_OVERRIDES = ("data.min_freq=1",)


def synthetic_word(i: int) -> str:
    """A unique lowercase letters-only word for i (basic_english keeps it as one token)."""
    letters = []
    i += 26**3  # at least four letters, so no collision with short real words
    while i:
        i, r = divmod(i, 26)
        letters.append(chr(ord("a") + r))
    return "zq" + "".join(letters)


def write_resampled_csv(src: Path, dest: Path, rows: int, pad_share: float = 0.0, seed: int = 0) -> dict:
    """`rows` rows drawn with replacement from `src`; a `pad_share` of them get one unique word appended."""
    import numpy as np

    t0 = time.perf_counter()
    with open(src, encoding="utf-8", newline="") as f:
        sample = list(csv.reader(f))
    pick = np.random.default_rng(seed).integers(0, len(sample), size=rows)
    padded = np.random.default_rng(seed + 1).random(rows) < pad_share
    injected = 0
    with open(dest, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
        for i, pad in zip(pick, padded):
            label, title, content = sample[i]
            if pad:
                content = f"{content} {synthetic_word(injected)}"
                injected += 1
            writer.writerow([int(label), title, content])
    return {"csv_write_s": time.perf_counter() - t0, "injected_words": injected, "bytes": dest.stat().st_size}


def run_with_line_times(cmd: list[str], cwd: Path, env: dict, timeout: float) -> dict:
    """Run `cmd` (stdout and stderr merged); every output line with the time.time() it arrived."""
    use_gnu = Path("/usr/bin/time").is_file() and subprocess.run(["/usr/bin/time", "-v", "true"], capture_output=True).returncode == 0
    full = ["/usr/bin/time", "-v", *cmd] if use_gnu else cmd
    t0 = time.perf_counter()
    proc = subprocess.Popen(full, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    box: dict = {}
    poller = None
    if not use_gnu:
        poller = threading.Thread(target=lambda: box.setdefault("peak", peak_rss_psutil(proc.pid, lambda: proc.poll() is not None)))
        poller.start()
    lines = []
    deadline = time.time() + timeout
    for line in proc.stdout:
        lines.append((time.time(), line.rstrip("\n")))
        if time.time() > deadline:
            proc.kill()
            raise TimeoutError(f"timed out after {timeout}s: {' '.join(cmd)}")
    rc = proc.wait()
    wall = time.perf_counter() - t0
    if poller is not None:
        poller.join()
    text = "\n".join(line for _, line in lines)
    if rc != 0:
        raise RuntimeError(f"command failed ({rc}): {' '.join(cmd)}\n{text[-4000:]}")
    if use_gnu:
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
        peak, method = (int(m[1]) * 1024 if m else None), "GNU time -v"
    else:
        peak, method = box.get("peak"), "psutil, process tree, every 0.1 s"
    return {"lines": lines, "wall": wall, "peak_rss_bytes": peak, "rss_method": method}


def peak_rss_psutil(pid: int, stop) -> int:
    import psutil

    peak = 0
    try:
        root = psutil.Process(pid)
    except psutil.Error:
        return 0
    while not stop():
        try:
            peak = max(peak, sum(p.memory_info().rss for p in [root, *root.children(recursive=True)]))
        except psutil.Error:
            pass
        time.sleep(0.1)
    return peak


def line_time(lines: list[tuple[float, str]], pattern: str) -> tuple[float, str] | tuple[None, None]:
    for t, line in lines:
        if re.search(pattern, line):
            return t, line
    return None, None


def measure(csv_path: Path, work: Path, env: dict, timeout: float, overrides: tuple[str, ...] = ()) -> dict:
    """One epoch of the default experiment (plus `overrides`) on `csv_path` by the real CLI; see the module docstring."""
    from omegaconf import OmegaConf

    work.mkdir(parents=True)
    out_root = work / "out"
    cmd = [*B.expkit_cmd(), "train", "experiment=dbpedia_sample", f"data.train_path={csv_path}", "trainer.max_epochs=1",
           f"paths.cache_dir={work / 'cache'}", f"paths.output_root={out_root}", *overrides]
    res = run_with_line_times(cmd, work, env, timeout)
    lines = res["lines"]
    t_miss, _ = line_time(lines, r"Encoded-text cache miss")
    t_encoded, _ = line_time(lines, r"\] Encoded \d+ documents")
    t_data, data_line = line_time(lines, r"\] Data: train \d+")
    if None in (t_miss, t_encoded, t_data):
        raise RuntimeError("the run's log lines (cache miss / Encoded / Data:) were not found on its output:\n"
                           + "\n".join(line for _, line in lines[-40:]))
    n_train, n_val, n_test, vocab = map(int, re.search(r"Data: train (\d+), val (\d+), test (\d+) rows; vocabulary (\d+)", data_line).groups())
    run = B.only_run_dir(out_root)
    batch = int(OmegaConf.load(run / ".hydra" / "config.yaml").data.batch_size)
    steps = math.ceil(n_train / batch)
    last = n_train - (steps - 1) * batch
    ev = B.scalar_events(run)
    rate = B.in_epoch_rate(ev["train/loss"], steps, lambda i: batch if i < steps - 1 else last)
    fit_s = ev["val/acc"][-1][1] - ev["_first_event"][0][1] if "val/acc" in ev and "_first_event" in ev else None
    ckpt_bytes = B.folder_bytes(run / "checkpoints")  # a best hard-linked to last.ckpt counts once
    return {"train": n_train, "val": n_val, "test": n_test, "vocab": vocab, "batch": batch,
            "encode_s": t_encoded - t_miss, "vocab_s": t_data - t_encoded, "epoch_s": n_train / rate["rows_per_s"],
            "train_rows_per_s": rate["rows_per_s"], "fit_s": fit_s, "process_s": res["wall"],
            "peak_rss_bytes": res["peak_rss_bytes"], "rss_method": res["rss_method"], "checkpoint_bytes": ckpt_bytes}


def report(res: dict) -> str:
    rows_out = []
    base = res["runs"][0]
    gib = lambda b: b / 1024**3 if b else None  # noqa: E731
    ratio = lambda r, k: r[k] / base[k] if r.get(k) and base.get(k) else None  # noqa: E731
    for r in res["runs"]:
        rows_out.append([
            f"{r['rows']:,}" + (" (vocab padded)" if r.get("padded") else ""), r["rows"] / base["rows"], r["vocab"],
            r["encode_s"], ratio(r, "encode_s"), r["epoch_s"], ratio(r, "epoch_s"), r["fit_s"],
            gib(r["peak_rss_bytes"]), ratio(r, "peak_rss_bytes"), gib(r["checkpoint_bytes"]),
            ("MET" if r["peak_rss_bytes"] <= RSS_GOAL_BYTES else "NOT MET") if r["peak_rss_bytes"] else "-",
        ])
    m = res["machine"]
    git = m.get("git") or {}
    changed = [line.split()[-1] for line in git.get("changed_files", [])]
    pad = next((r for r in res["runs"] if r.get("padded")), None)
    out = [
        "## Scale: one epoch of the default experiment on resampled DBpedia-like data", "",
        f"threads={m['threads']}; {m['cpus']} CPUs; load average {m['loadavg_start'][0]:.2f} at start, "
        f"{m['loadavg_end'][0]:.2f} at end; torch {m.get('torch')}. Commit {git.get('commit', '?')[:10]}"
        + (f" plus uncommitted changes to: {', '.join(changed)}." if changed else "."), "",
        B.markdown_table(["docs", "x rows", "vocab", "encode s", "x", "epoch s (train steps)", "x", "fit s",
                          "peak RSS GiB", "x", "ckpt GiB", "RSS <= 2 GiB"], rows_out), "",
        "x: ratio to the first row (linear growth: equal to `x rows`). encode s: tokenize + encode (the cache step); "
        "epoch s: train rows / steady-state training rate; fit s: sanity check + epoch + validation + checkpoint; "
        f"peak RSS: whole process ({base['rss_method']}); ckpt: the run's checkpoint files.", "",
        "Resampled rows repeat the sample's documents, so the vocabulary stays the sample's "
        f"(~{base['vocab']:,} tokens + bigrams) at every size and no token is rare; real DBpedia-14 has about "
        "830k distinct tokens with bigrams pruned.",
    ]
    if pad:
        out[-1] += (f" The padded row appends {pad['injected_words']:,} unique synthetic words (one each to a seeded "
                    f"{pad['pad_share']:.0%} of the rows), bringing the train split's vocabulary to {pad['vocab']:,}: "
                    "a real-sized embedding and optimizer state with a long tail of once-seen tokens "
                    f"(run with {' '.join(pad.get('overrides', []))}, so the once-seen words are kept).")
    return "\n".join(out + [""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=DEFAULT_ROWS, help=f"CSV sizes (default {DEFAULT_ROWS})")
    parser.add_argument("--real-vocab", type=int, default=REAL_VOCAB,
                        help="vocabulary to pad the largest size to (default 830000; 0 skips the padded run)")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per run (default 1800)")
    parser.add_argument("--name", default="scale", help="results file benchmarks/results/NAME.json")
    args = parser.parse_args()
    from expkit.data.labelled import packaged_data_path

    t_start = time.perf_counter()
    env = B.thread_env(args.threads)
    res: dict = {"machine": B.machine_info(args.threads), "settings": vars(args), "runs": []}
    res["machine"]["busy_processes_at_start"] = B.busy_processes()
    src = Path(packaged_data_path("dbpedia_sample/sample.csv"))
    with tempfile.TemporaryDirectory(prefix="expkit-scale-") as tmpname:
        tmp = Path(tmpname)
        sizes = sorted(args.rows)
        for rows in sizes:
            csv_path = tmp / f"train-{rows}.csv"
            B.log(f"{rows:,} rows: writing the CSV")
            made = write_resampled_csv(src, csv_path, rows)
            B.log(f"{rows:,} rows: expkit train, one epoch")
            r = {"rows": rows, **made, **measure(csv_path, tmp / f"run-{rows}", env, args.timeout)}
            csv_path.unlink()
            B.log(f"{rows:,} rows: encode {r['encode_s']:.1f} s, epoch {r['epoch_s']:.1f} s, "
                  f"peak RSS {r['peak_rss_bytes'] / 1024**3 if r['peak_rss_bytes'] else float('nan'):.2f} GiB, vocab {r['vocab']:,}")
            res["runs"].append(r)
        last = res["runs"][-1]
        if args.real_vocab > last["vocab"]:
            # Each injected word adds itself and one bigram (previous word + it) to the train split's vocabulary.
            share = min(1.0, (args.real_vocab - last["vocab"]) / (2 * last["train"]))
            rows = sizes[-1]
            csv_path = tmp / f"train-{rows}-padded.csv"
            B.log(f"{rows:,} rows, vocabulary padded towards {args.real_vocab:,}: writing the CSV ({share:.1%} of rows get a word)")
            made = write_resampled_csv(src, csv_path, rows, pad_share=share)
            B.log(f"{rows:,} rows, padded: expkit train, one epoch")
            r = {"rows": rows, "padded": True, "pad_share": share, **made, **measure(csv_path, tmp / f"run-{rows}-padded", env, args.timeout, PADDED_OVERRIDES),
                 "overrides": list(PADDED_OVERRIDES)}
            B.log(f"padded: encode {r['encode_s']:.1f} s, epoch {r['epoch_s']:.1f} s, vocab {r['vocab']:,}")
            res["runs"].append(r)
    res["machine"]["loadavg_end"] = list(os.getloadavg())
    res["elapsed_s"] = time.perf_counter() - t_start
    path = B.write_results(args.name, res)
    text = report(res)
    res["markdown"] = text
    path = B.write_results(args.name, res)
    print(text)
    print(f"Results: {path} (benchmark took {res['elapsed_s']:.0f} s)")


if __name__ == "__main__":
    main()
