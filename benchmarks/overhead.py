#!/usr/bin/env python
"""Overhead of `expkit train experiment=regression` against the course's plain PyTorch loop.

Both sides train the same thing: the regression toy's data (made by
`expkit.data.regression.RegressionDataModule(...).setup()` from conf/data/regression.yaml, saved
with torch.save and loaded by the plain loop, so the rows are identical), a Linear(1, 1), MSE,
SGD lr 0.1, batch 32, shuffled, a validation pass every epoch, the same number of epochs, and
the same number of intra-op threads (`--threads`, default 1: OMP/MKL_NUM_THREADS in both
children's environment plus `torch.set_num_threads` in the plain loop; on a 2-core machine that
other jobs share, two OpenMP threads make step times swing several-fold).

expkit runs as the real CLI in a subprocess, in a temporary working directory, with
`paths.output_root=<tmp>`. The plain loop runs as a subprocess of this script (`--worker`) that
imports only torch. Runs are done in pairs, alternating which side goes first; the tables show
medians over the pairs (and the spread).

How the numbers are taken
-------------------------
(a) Start-up = wall time from the subprocess launch (time.time() in this script just before
    Popen) to the end of the first training step.
    * expkit: the run is started with `trainer.max_epochs=1 trainer.log_every_n_steps=1`, so
      Lightning's TensorBoard logger writes `train/loss` at the end of the very first batch; the
      wall time stored in that TensorBoard event (time.time() in the child, sub-second) minus the
      launch time is the start-up. The first event of the events file (written when the logger is
      first used, at the start of `Trainer.fit`) splits it into "launch -> fit starts" and
      "fit starts -> first step done" (sanity-check validation, hooks, first step).
      No callback or code is added to expkit.
    * plain loop: the worker records time.time() after its first optimizer step.
    * references: `python -c "import torch"` and `python -c "import pytorch_lightning"`, whole
      process wall time, measured in the same pairs.
    Goal: expkit's start-up <= bare `import pytorch_lightning` + 1.5 s.
(b) Seconds per 1,000 training steps, with `data.n_samples` rows (default 64,000: 51,200 train
    rows = 1,600 steps per epoch) and `--epochs` epochs (default 2).
    * expkit: `train/loss` TensorBoard events (every 10 steps, the default log_every_n_steps);
      consecutive events within one epoch bracket only training batches, so the summed spans /
      steps is the steady-state cost of a step with everything the trainer does per step
      (logging, callbacks, data loading), free of start-up, validation and checkpointing.
    * plain loop: perf_counter around each epoch's training loop, epochs after the first.
    Goal: expkit per-step cost <= 1.5x the plain loop's.
(c) Time to the course's target, val/loss < 0.001, trained full-batch (one step per epoch, as
    the course trains the toy): `expkit train experiment=regression data.batch_size=null
    optimizer.lr=0.5 trainer.max_epochs=100` against the plain loop doing the same (whole train
    split as one batch, SGD lr 0.5, a validation pass every epoch). Plain SGD on this line is
    stable for lr < ~0.79 (the largest Hessian eigenvalue of the MSE is ~2.5); lr 0.5 reached the
    target in 5-32 epochs over 20 initialisation seeds and had w and b within 0.001 of 0.7 and
    0.3 after 100 epochs for all of them (lr 0.6: at most 26 epochs; 0.75: 17-31; 0.8 diverges or
    crawls). The two sides initialise the Linear(1, 1) from different RNG states, so the epochs
    each needed are shown too.
    * expkit: wall time of the first `val/loss` TensorBoard event below the target, minus the
      launch time (whole process) or minus the first event (from Trainer.fit's start).
    * plain loop: time.time() after the first validation pass below the target, minus the
      launch time, or minus the start of its first epoch.
Also shown: whole-process wall time of `expkit train experiment=regression` on mini-batches
(1,000 rows, 30 epochs, batch 32, lr 0.1) against the plain script doing the same 30 epochs.
(a) and (b) pin `data.batch_size=32 optimizer.lr=0.1` too: the experiment's default is full-batch.

Usage:  python benchmarks/overhead.py [--pairs 3] [--threads 1] [--n-samples 64000] [--epochs 2]
Prints Markdown tables; writes benchmarks/results/overhead.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _bench as B  # noqa: E402

STARTUP_GOAL_S = 1.5
STEP_GOAL_RATIO = 1.5
LR = 0.1
BATCH = 32
TARGET = 1e-3
FULL_BATCH_LR = 0.5
FULL_BATCH_EPOCHS = 100
FULL_BATCH = ["data.batch_size=null", f"optimizer.lr={FULL_BATCH_LR}", f"trainer.max_epochs={FULL_BATCH_EPOCHS}"]
# experiment=regression trains full-batch by default; the per-step comparisons pin the plain
# loop's mini-batch settings.
MINI_BATCH = [f"data.batch_size={BATCH}", f"optimizer.lr={LR}"]


# -- the plain loop (runs in its own process, imports torch only) --------------------------------
def worker(args: argparse.Namespace) -> None:
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    torch.set_num_threads(args.threads)
    data = torch.load(args.worker, weights_only=True)
    x_train, y_train, x_val, y_val = data["x_train"], data["y_train"], data["x_val"], data["y_val"]
    torch.manual_seed(42)
    model = nn.Linear(x_train.shape[1], 1)
    loss_fn = nn.MSELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=FULL_BATCH_LR if args.full_batch else LR)
    # Full batch: the whole split as one batch, so one step per epoch.
    batch, val_batch = (len(x_train), len(x_val)) if args.full_batch else (BATCH, BATCH)
    train_loader = DataLoader(TensorDataset(x_train, y_train), batch_size=batch, shuffle=True)
    val_loader = DataLoader(TensorDataset(x_val, y_val), batch_size=val_batch, shuffle=False)

    first_step = None
    train_start = time.time()
    target_at, target_epoch = None, None
    epoch_train_s = []
    steps = 0
    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        n, first = train_one_epoch(model, loss_fn, optimizer, train_loader)
        epoch_train_s.append(time.perf_counter() - t0)
        steps += n
        first_step = first_step or first
        model.eval()
        with torch.inference_mode():
            val_loss = sum(loss_fn(model(xb), yb).item() * len(xb) for xb, yb in val_loader) / len(x_val)
        if target_at is None and val_loss < TARGET:
            target_at, target_epoch = time.time(), epoch + 1
    print(json.dumps({
        "train_start": train_start, "target_at": target_at, "target_epoch": target_epoch,
        "first_step": first_step, "epoch_train_s": epoch_train_s, "steps": steps,
        "steps_per_epoch": len(train_loader), "val_loss": val_loss,
        "weight": model.weight.detach().flatten().tolist(), "bias": model.bias.item(),
        "threads": torch.get_num_threads(),
    }))


def train_one_epoch(model, loss_fn, optimizer, train_loader) -> tuple[int, float]:
    """The course's training loop; returns (steps, time.time() after the first step)."""
    model.train()
    first = None
    steps = 0
    for xb, yb in train_loader:
        loss = loss_fn(model(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        steps += 1
        if first is None:
            first = time.time()
    return steps, first


# -- data -----------------------------------------------------------------------------------------
def make_data(n_samples: int, path: Path) -> dict[str, int]:
    """The regression experiment's data module, as conf/data/regression.yaml builds it."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf
    import torch

    from expkit.config_files import conf_dir

    cfg = OmegaConf.load(conf_dir() / "data" / "regression.yaml")
    cfg.n_samples = n_samples
    dm = instantiate(cfg)
    dm.setup("fit")
    (x_train, y_train), (x_val, y_val) = dm.splits["train"].tensors, dm.splits["val"].tensors
    torch.save({"x_train": x_train, "y_train": y_train, "x_val": x_val, "y_val": y_val}, path)
    assert cfg.batch_size == BATCH, f"conf/data/regression.yaml batch_size is {cfg.batch_size}, expected {BATCH}"
    return {"train": len(x_train), "val": len(x_val), "batch_size": int(cfg.batch_size)}


# -- one measurement each -------------------------------------------------------------------------
def first_below(run: Path, tag: str, target: float) -> tuple[int, float] | None:
    """(index among the tag's events, wall time) of the first `tag` value below `target`, by wall time.

    The raw event loader returns scalars either as simple_value or as a tensor proto (what
    Lightning's TensorBoard logger writes here), so both are read.
    """
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.util.tensor_util import make_ndarray

    def value(v) -> float:
        return v.simple_value if v.HasField("simple_value") else float(make_ndarray(v.tensor))

    events = sorted((e.wall_time, value(v)) for f in Path(run).glob("**/events.out.tfevents.*")
                    for e in EventFileLoader(str(f)).Load() for v in e.summary.value if v.tag == tag)
    return next(((k, t) for k, (t, value) in enumerate(events) if value < target), None)


def steps_per_epoch_of(ev: dict) -> int | None:
    """Global steps between the first two val/loss events: 1 when each epoch is one batch."""
    steps = [s for s, _ in ev.get("val/loss", [])]
    return steps[1] - steps[0] if len(steps) > 1 else None



def expkit_run(tmp: Path, tag: str, overrides: list[str], env: dict) -> tuple[dict, Path]:
    cwd = tmp / tag
    cwd.mkdir(parents=True)
    cmd = [*B.expkit_cmd(), "train", "experiment=regression", f"paths.output_root={cwd / 'out'}", *overrides]
    res = B.run_timed(cmd, cwd=cwd, env=env)
    return res, B.only_run_dir(cwd / "out", "regression")


def plain_run(data_file: Path, epochs: int, threads: int, env: dict, full_batch: bool = False) -> dict:
    res = B.run_timed([B.PYTHON, __file__, "--worker", str(data_file), "--epochs", str(epochs), "--threads", str(threads),
                       *(["--full-batch"] if full_batch else [])], env=env)
    out = json.loads(res["stdout"].strip().splitlines()[-1])
    out["wall"] = res["wall"]
    out["launch"] = res["launch"]
    out["startup"] = out["first_step"] - res["launch"]
    later = out["epoch_train_s"][1:] or out["epoch_train_s"]
    out["s_per_step"] = sum(later) / (out["steps_per_epoch"] * len(later))
    return out


def measure(args: argparse.Namespace) -> dict:
    env = B.thread_env(args.threads)
    info = B.machine_info(args.threads)
    info["busy_processes_at_start"] = B.busy_processes()
    pairs = []
    with tempfile.TemporaryDirectory(prefix="expkit-overhead-") as tmpname:
        tmp = Path(tmpname)
        small, big = tmp / "data_default.pt", tmp / "data_big.pt"
        sizes_small = make_data(1000, small)
        sizes_big = make_data(args.n_samples, big)
        steps_per_epoch_big = math.ceil(sizes_big["train"] / BATCH)
        B.log(f"data: default {sizes_small}, big {sizes_big} ({steps_per_epoch_big} steps/epoch)")

        for i in range(args.pairs):
            p: dict = {}
            order = ["expkit", "plain"] if i % 2 == 0 else ["plain", "expkit"]
            for side in order:
                if side == "expkit":
                    B.log(f"pair {i + 1}: expkit start-up run")
                    res, run = expkit_run(tmp, f"startup{i}", [*MINI_BATCH, "trainer.max_epochs=1", "trainer.log_every_n_steps=1"], env)
                    ev = B.scalar_events(run)
                    first_step = ev["train/loss"][0][1]
                    p["expkit_startup"] = first_step - res["launch"]
                    p["expkit_to_fit"] = ev["_first_event"][0][1] - res["launch"]
                    p["expkit_fit_to_step"] = first_step - ev["_first_event"][0][1]
                    B.log(f"pair {i + 1}: expkit per-step run ({args.n_samples} rows, {args.epochs} epochs)")
                    res, run = expkit_run(tmp, f"steps{i}", [*MINI_BATCH, f"data.n_samples={args.n_samples}", f"trainer.max_epochs={args.epochs}"], env)
                    rate = B.in_epoch_rate(B.scalar_events(run)["train/loss"], steps_per_epoch_big)
                    p["expkit_s_per_step"] = rate["s_per_step"]
                    p["expkit_steps_measured"] = rate["steps"]
                    p["expkit_big_wall"] = res["wall"]
                    env_json = json.loads((run / "environment.json").read_text()) if (run / "environment.json").exists() else {}
                    p["expkit_threads"] = env_json.get("device", {}).get("threads")
                    B.log(f"pair {i + 1}: expkit mini-batch run (1,000 rows, 30 epochs, batch {BATCH})")
                    res, run = expkit_run(tmp, f"default{i}", [*MINI_BATCH, "trainer.max_epochs=30"], env)
                    p["expkit_default_wall"] = res["wall"]
                    p["expkit_default_val_loss"] = B.read_metrics(run).get("val/loss")
                    B.log(f"pair {i + 1}: expkit full-batch run ({' '.join(FULL_BATCH)})")
                    res, run = expkit_run(tmp, f"fullbatch{i}", FULL_BATCH, env)
                    ev = B.scalar_events(run)
                    hit = first_below(run, "val/loss", TARGET)
                    p["expkit_full_wall"] = res["wall"]
                    p["expkit_full_steps_per_epoch"] = steps_per_epoch_of(ev)
                    p["expkit_ttt_launch"] = hit[1] - res["launch"] if hit else None
                    p["expkit_ttt_fit"] = hit[1] - ev["_first_event"][0][1] if hit else None
                    p["expkit_ttt_epochs"] = hit[0] + 1 if hit else None
                else:
                    B.log(f"pair {i + 1}: plain loop runs")
                    d = plain_run(small, 30, args.threads, env)
                    p["plain_startup"] = d["startup"]
                    p["plain_default_wall"] = d["wall"]
                    p["plain_default_val_loss"] = d["val_loss"]
                    d = plain_run(big, args.epochs, args.threads, env)
                    p["plain_s_per_step"] = d["s_per_step"]
                    p["plain_big_wall"] = d["wall"]
                    p["plain_threads"] = d["threads"]
                    d = plain_run(small, FULL_BATCH_EPOCHS, args.threads, env, full_batch=True)
                    p["plain_full_wall"] = d["wall"]
                    p["plain_full_steps_per_epoch"] = d["steps_per_epoch"]
                    p["plain_ttt_launch"] = d["target_at"] - d["launch"] if d["target_at"] else None
                    p["plain_ttt_fit"] = d["target_at"] - d["train_start"] if d["target_at"] else None
                    p["plain_ttt_epochs"] = d["target_epoch"]
            # Bare imports, alternated too.
            for rep in range(args.import_reps):
                for mod in (["torch", "pytorch_lightning"] if (i + rep) % 2 == 0 else ["pytorch_lightning", "torch"]):
                    p.setdefault(f"import_{mod}_all", []).append(B.run_timed([B.PYTHON, "-c", f"import {mod}"], env=env)["wall"])
            for mod in ("torch", "pytorch_lightning"):
                p[f"import_{mod}"] = B.median(p[f"import_{mod}_all"])
            B.log(f"pair {i + 1}: {json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in p.items()})}")
            pairs.append(p)
        profile = None
        if args.profile and B.find_py_spy():
            profile = profile_steps(tmp, small, big, steps_per_epoch_big, args, env)
        elif args.profile:
            B.log("py-spy not found: no profile (pip install py-spy)")
    info["loadavg_end"] = list(os.getloadavg())
    return {"profile": profile, "machine": info, "settings": vars(args) | {"steps_per_epoch": steps_per_epoch_big,
                                                      "train_rows": sizes_big["train"]}, "pairs": pairs}


def profile_steps(tmp: Path, small: Path, big: Path, steps_per_epoch: int, args: argparse.Namespace, env: dict) -> dict:
    """py-spy (sampling, non-blocking) over one per-step run of each side; time per step by category."""
    rate = args.profile_rate
    B.log("profile: expkit per-step run under py-spy")
    cwd = tmp / "profile_expkit"
    cwd.mkdir()
    raw_e = tmp / "expkit.raw"
    B.py_spy_record([*B.expkit_cmd(), "train", "experiment=regression", f"paths.output_root={cwd / 'out'}", *MINI_BATCH,
                     f"data.n_samples={args.n_samples}", f"trainer.max_epochs={args.epochs}"], raw_e, cwd=cwd, env=env, rate=rate)
    B.log("profile: plain per-step run under py-spy")
    raw_p = tmp / "plain.raw"
    B.py_spy_record([B.PYTHON, __file__, "--worker", str(big), "--epochs", str(args.epochs), "--threads", str(args.threads)],
                    raw_p, env=env, rate=rate)
    in_expkit = lambda fr: any("_TrainingEpochLoop.advance" in f for f in fr) and not any("_EvaluationLoop" in f for f in fr)  # noqa: E731
    in_plain = lambda fr: any(f.startswith("train_one_epoch ") for f in fr)  # noqa: E731
    profiles = {"plain loop": B.aggregate_profile(raw_p, in_plain), "expkit": B.aggregate_profile(raw_e, in_expkit)}
    steps = {"plain loop": steps_per_epoch * args.epochs, "expkit": steps_per_epoch * args.epochs}
    table, detail = B.profile_table(profiles, steps, rate)
    return {"table": table, "rate_hz": rate, **detail}


# -- report ---------------------------------------------------------------------------------------
def report(data: dict) -> tuple[str, dict]:
    pairs = data["pairs"]
    med = lambda key: B.median(p[key] for p in pairs)  # noqa: E731

    sp = lambda key: B.spread(p[key] for p in pairs)  # noqa: E731
    s = data["settings"]

    startup_excess = med("expkit_startup") - med("import_pytorch_lightning")
    startup_ok = startup_excess <= STARTUP_GOAL_S
    ratio = med("expkit_s_per_step") / med("plain_s_per_step")
    step_ok = ratio <= STEP_GOAL_RATIO

    t1 = B.markdown_table(
        ["measurement", "median s", "range s", "note"],
        [
            ["`python -c \"import torch\"` (whole process)", med("import_torch"), sp("import_torch"), "reference"],
            ["`python -c \"import pytorch_lightning\"` (whole process)", med("import_pytorch_lightning"), sp("import_pytorch_lightning"), "reference"],
            ["plain loop: launch -> first step done", med("plain_startup"), sp("plain_startup"), "imports torch only"],
            ["expkit train: launch -> first step done", med("expkit_startup"), sp("expkit_startup"), "first train/loss TB event"],
            ["  of which launch -> Trainer.fit starts", med("expkit_to_fit"), sp("expkit_to_fit"), "first TB event"],
            ["  of which fit start -> first step done", med("expkit_fit_to_step"), sp("expkit_fit_to_step"), "sanity val + first step"],
            ["expkit start-up minus bare `import pytorch_lightning`", startup_excess, "-",
             f"goal <= {STARTUP_GOAL_S} s: {'MET' if startup_ok else 'NOT MET'}"],
        ],
    )
    t2 = B.markdown_table(
        ["system", "s / 1,000 steps (median)", "range", "ratio vs plain", f"goal <= {STEP_GOAL_RATIO}x"],
        [
            ["plain PyTorch loop", 1000 * med("plain_s_per_step"), B.spread(1000 * p["plain_s_per_step"] for p in pairs), 1.0, "-"],
            ["expkit train", 1000 * med("expkit_s_per_step"), B.spread(1000 * p["expkit_s_per_step"] for p in pairs), ratio,
             "MET" if step_ok else "NOT MET"],
        ],
    )
    t3 = B.markdown_table(
        ["run", "plain loop s", "expkit train s", "ratio", "final val/loss plain / expkit"],
        [
            ["toy on mini-batches: 1,000 rows, 30 epochs, batch 32, whole process", med("plain_default_wall"), med("expkit_default_wall"),
             med("expkit_default_wall") / med("plain_default_wall"),
             f"{med('plain_default_val_loss'):.2e} / {med('expkit_default_val_loss'):.2e}"],
            [f"{s['n_samples']:,} rows, {s['epochs']} epochs, whole process", med("plain_big_wall"), med("expkit_big_wall"),
             med("expkit_big_wall") / med("plain_big_wall"), "-"],
        ],
    )
    full = [p for p in pairs if "expkit_ttt_launch" in p]
    t4 = None
    if full:
        fmed = lambda key: B.median(p[key] for p in full)  # noqa: E731
        fsp = lambda key: B.spread(p[key] for p in full)  # noqa: E731
        ratio = lambda a, b: fmed(a) / fmed(b) if fmed(a) == fmed(a) and fmed(b) else None  # noqa: E731
        t4 = B.markdown_table(
            ["time to val/loss < 0.001 (full batch)", "plain loop s", "range", "expkit train s", "range", "ratio expkit / plain"],
            [
                ["from launch (whole process)", fmed("plain_ttt_launch"), fsp("plain_ttt_launch"),
                 fmed("expkit_ttt_launch"), fsp("expkit_ttt_launch"), ratio("expkit_ttt_launch", "plain_ttt_launch")],
                ["from the start of training (plain: first epoch; expkit: Trainer.fit)", fmed("plain_ttt_fit"), fsp("plain_ttt_fit"),
                 fmed("expkit_ttt_fit"), fsp("expkit_ttt_fit"), ratio("expkit_ttt_fit", "plain_ttt_fit")],
                ["epochs needed (= steps: one batch per epoch)", fmed("plain_ttt_epochs"), fsp("plain_ttt_epochs"),
                 fmed("expkit_ttt_epochs"), fsp("expkit_ttt_epochs"), "-"],
                [f"whole process, {FULL_BATCH_EPOCHS} epochs", fmed("plain_full_wall"), fsp("plain_full_wall"),
                 fmed("expkit_full_wall"), fsp("expkit_full_wall"), ratio("expkit_full_wall", "plain_full_wall")],
            ],
        )
        t4 += (f"\n\nexpkit: `expkit train experiment=regression {' '.join(FULL_BATCH)}` "
               f"(steps per epoch seen: {full[0].get('expkit_full_steps_per_epoch')}); plain loop: full-batch SGD lr {FULL_BATCH_LR} "
               f"(steps per epoch: {full[0].get('plain_full_steps_per_epoch')}). A side that never reached the target shows '-'.")
    m = data["machine"]
    text = "\n".join([
        "## expkit overhead vs the plain PyTorch loop (regression toy)",
        "",
        f"{len(pairs)} alternating pairs, medians; threads={s['threads']} (torch reports expkit "
        f"{pairs[0].get('expkit_threads')}, plain {pairs[0].get('plain_threads')}); "
        f"{m['cpus']} CPUs, load average {m['loadavg_start'][0]:.2f} at start, {m['loadavg_end'][0]:.2f} at end; "
        f"torch {m.get('torch')}, pytorch_lightning {m.get('pytorch_lightning')}.",
        "",
        f"Measured on commit {m.get('git', {}).get('commit', '?')[:10]}"
        + (f" plus uncommitted changes to: {', '.join(line.split()[-1] for line in m['git']['changed_files'])}."
           if m.get("git", {}).get("changed_files") else " (src/, conf/, experiments/ clean)."),
        "",
        "### (a) Start-up",
        "",
        t1,
        "",
        f"### (b) Training step cost ({s['train_rows']:,} train rows, batch {BATCH}, {s['steps_per_epoch']:,} steps/epoch, {s['epochs']} epochs)",
        "",
        t2,
        "",
        "### Whole runs (for context)",
        "",
        t3,
        "",
        *(["### (c) Time to the course's target, full batch (one step per epoch)", "", t4, ""] if t4 else []),
    ])
    if data.get("profile"):
        text += "\n".join([
            "",
            f"### Where a training step's time goes (py-spy, {data['profile']['rate_hz']} Hz, one {s['epochs']}-epoch run each)",
            "",
            data["profile"]["table"],
            "",
        ])
    summary = {
        "startup_excess_s": startup_excess, "startup_goal_met": startup_ok,
        "step_ratio": ratio, "step_goal_met": step_ok,
        "expkit_s_per_1000_steps": 1000 * med("expkit_s_per_step"), "plain_s_per_1000_steps": 1000 * med("plain_s_per_step"),
        "expkit_startup_s": med("expkit_startup"), "import_pytorch_lightning_s": med("import_pytorch_lightning"),
        "import_torch_s": med("import_torch"), "plain_startup_s": med("plain_startup"),
    }
    return text, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=3, help="alternating expkit/plain pairs (default 3)")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads for both sides (default 1)")
    parser.add_argument("--n-samples", type=int, default=64000, help="rows for the per-step runs (default 64000)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of the per-step runs (default 2)")
    parser.add_argument("--import-reps", type=int, default=2, help="bare-import timings per pair (default 2)")
    parser.add_argument("--profile", action=argparse.BooleanOptionalAction, default=True,
                        help="also profile one per-step run of each side with py-spy, if installed (default on)")
    parser.add_argument("--profile-rate", type=int, default=100, help="py-spy samples per second (default 100)")
    parser.add_argument("--name", default="overhead", help="results file benchmarks/results/NAME.json")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--full-batch", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    t0 = time.perf_counter()
    data = measure(args)
    text, summary = report(data)
    data["summary"] = summary
    data["markdown"] = text
    data["elapsed_s"] = time.perf_counter() - t0
    path = B.write_results(args.name, data)
    print(text)
    print(f"Results: {path} (benchmark took {data['elapsed_s']:.0f} s)")


if __name__ == "__main__":
    main()
