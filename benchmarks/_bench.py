"""Helpers shared by the benchmark scripts (not a benchmark itself).

Subprocess timing, running a command under a pseudo-terminal, reading TensorBoard event wall
times and metrics.json from an expkit run folder, py-spy profile aggregation, Markdown/JSON
output. Only the standard library at import time; numpy/tensorboard/psutil are imported lazily.
"""

from __future__ import annotations

import json
import os
import platform
import pty
import select
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
PYTHON = sys.executable


# -- environment ---------------------------------------------------------------------------
def expkit_cmd() -> list[str]:
    """The real `expkit` console script of this interpreter's environment."""
    beside = Path(PYTHON).parent / "expkit"
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("expkit")
    if found:
        return [found]
    return [PYTHON, "-m", "expkit"]


def thread_env(threads: int, base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment pinning torch's intra-op pool (OpenMP/MKL) to `threads` threads."""
    env = dict(os.environ if base is None else base)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(threads)
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("HYDRA_FULL_ERROR", None)
    return env


def machine_info(threads: int) -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "threads": threads,
        "loadavg_start": list(os.getloadavg()),
    }
    info["git"] = git_state()
    try:
        import torch

        info["torch"] = torch.__version__
    except ImportError:  # pragma: no cover
        pass
    try:
        import pytorch_lightning

        info["pytorch_lightning"] = pytorch_lightning.__version__
    except ImportError:  # pragma: no cover
        pass
    return info


def git_state() -> dict[str, Any]:
    """The commit measured and which files differ from it (others may be editing the tree)."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=20).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    changed = [line for line in git("status", "--short", "--", "src", "conf", "experiments").splitlines() if line]
    return {"commit": git("rev-parse", "HEAD"), "changed_files": changed}


def busy_processes(min_cpu: float = 20.0) -> list[str]:
    """Other processes using CPU right now (they make timings noisy on a 2-core machine)."""
    try:
        import psutil
    except ImportError:
        return []
    me = os.getpid()
    procs = list(psutil.process_iter(["pid", "name", "cmdline"]))
    for p in procs:
        try:
            p.cpu_percent(None)
        except psutil.Error:
            pass
    time.sleep(0.5)
    out = []
    for p in procs:
        try:
            if p.pid == me:
                continue
            cpu = p.cpu_percent(None)
            if cpu >= min_cpu:
                cmd = " ".join(p.info.get("cmdline") or [p.info.get("name") or "?"])[:80]
                out.append(f"{cpu:.0f}% {cmd}")
        except psutil.Error:
            continue
    return out


# -- running things -------------------------------------------------------------------------
def run_timed(cmd: Sequence[str], cwd: Path | str | None = None, env: dict | None = None,
              timeout: float = 900, check: bool = True) -> dict[str, Any]:
    """Run `cmd` with its output captured; wall time from launch to exit (plus the launch epoch)."""
    launch = time.time()
    t0 = time.perf_counter()
    proc = subprocess.run(list(cmd), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"command failed ({proc.returncode}): {' '.join(cmd)}\n--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}"
        )
    return {"launch": launch, "wall": wall, "returncode": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr}


def run_in_pty(cmd: Sequence[str], cwd: Path | str | None = None, env: dict | None = None,
               timeout: float = 900, columns: int = 120, check: bool = True) -> dict[str, Any]:
    """Run `cmd` with stdin/stdout/stderr on a pseudo-terminal, so `sys.stderr.isatty()` is true.

    expkit keeps its progress bar only on an interactive terminal; this is how a user at a
    terminal runs it. The terminal output is drained continuously (a full pty buffer would stall
    the child) and returned.
    """
    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = dict(os.environ if env is None else env)
    env.setdefault("TERM", "xterm")
    env["COLUMNS"] = str(columns)
    launch = time.time()
    t0 = time.perf_counter()
    proc = subprocess.Popen(list(cmd), cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = t0 + timeout
    try:
        while True:
            if time.perf_counter() > deadline:
                proc.kill()
                raise TimeoutError(f"timed out after {timeout}s: {' '.join(cmd)}")
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child side closed
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                # Drain whatever is left.
                try:
                    while True:
                        r, _, _ = select.select([master], [], [], 0.1)
                        if not r:
                            break
                        data = os.read(master, 65536)
                        if not data:
                            break
                        chunks.append(data)
                except OSError:
                    pass
                break
    finally:
        os.close(master)
    rc = proc.wait()
    wall = time.perf_counter() - t0
    out = b"".join(chunks).decode("utf-8", "replace")
    if check and rc != 0:
        raise RuntimeError(f"command failed ({rc}): {' '.join(cmd)}\n--- terminal\n{out[-4000:]}")
    return {"launch": launch, "wall": wall, "returncode": rc, "stdout": out, "stderr": ""}


# -- expkit run folders ---------------------------------------------------------------------
def run_dirs(output_root: Path, name: str) -> list[Path]:
    root = Path(output_root) / name
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name != "multirun")


def only_run_dir(output_root: Path, name: str | None = None) -> Path:
    """The one run folder under `output_root/<experiment name>/` (any name unless given)."""
    root = Path(output_root)
    names = [name] if name else sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    dirs = [d for n in names for d in run_dirs(root, n)]
    if len(dirs) != 1:
        raise RuntimeError(f"expected one run folder under {root}/{name or '*'}, found {len(dirs)}")
    return dirs[0]


def folder_bytes(folder: Path) -> int:
    """Bytes of the files under `folder`, a hard-linked file once (what `du -sb` counts)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for path in Path(folder).rglob("*"):
        st = path.lstat()
        if path.is_file() and (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    return total


def read_metrics(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "metrics.json").read_text())


def scalar_events(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """tag -> [(step, wall_time), ...] from every TensorBoard event file of the run, by wall time.

    The wall time of a scalar event is `time.time()` when Lightning's logger wrote it, i.e. at
    the end of the training batch that logged it: a sub-second clock inside the run.
    Also returns the key "_first_event" -> [(0, wall time of the first event of the fit file)].
    """
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    out: dict[str, list[tuple[int, float]]] = {}
    files = sorted(Path(run_dir).glob("**/events.out.tfevents.*"))
    firsts = []
    for file in files:
        for i, event in enumerate(EventFileLoader(str(file)).Load()):
            if i == 0:
                firsts.append(event.wall_time)
            for value in event.summary.value:
                out.setdefault(value.tag, []).append((int(event.step), float(event.wall_time)))
    for events in out.values():
        events.sort(key=lambda e: e[1])
    if firsts:
        out["_first_event"] = [(0, min(firsts))]
    return out


def in_epoch_rate(events: list[tuple[int, float]], steps_per_epoch: int,
                  batch_rows: Callable[[int], int] | None = None) -> dict[str, float]:
    """Training speed from consecutive `train/loss` events that lie in the same epoch.

    An event at step s was written at the end of batch s (0-based global batch index). Two
    consecutive events (s1, t1), (s2, t2) of one epoch bracket batches s1+1..s2 and nothing else
    (no validation, checkpointing or start-up), so summing their spans over all such pairs gives a
    steady-state time per training step that includes everything the trainer does per step
    (logging, progress bar, callbacks, data loading).
    """
    steps = 0
    seconds = 0.0
    rows = 0
    for (s1, t1), (s2, t2) in zip(events, events[1:]):
        if s2 <= s1 or s1 // steps_per_epoch != s2 // steps_per_epoch:
            continue
        steps += s2 - s1
        seconds += t2 - t1
        if batch_rows is not None:
            rows += sum(batch_rows(s % steps_per_epoch) for s in range(s1 + 1, s2 + 1))
    if not steps:
        raise RuntimeError("no pair of train/loss events inside one epoch; log more often")
    result = {"steps": steps, "seconds": seconds, "s_per_step": seconds / steps}
    if batch_rows is not None:
        result["rows"] = rows
        result["rows_per_s"] = rows / seconds
    return result


# -- statistics and output ------------------------------------------------------------------
def median(values: Iterable[float]) -> float:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")


def spread(values: Iterable[float]) -> str:
    values = sorted(v for v in values if v is not None)
    if not values:
        return "-"
    return f"{fmt(values[0])}-{fmt(values[-1])}"


def fmt(value: Any, digits: int = 3) -> str:
    """Numbers for a table: thousands separators, about `digits` significant digits."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:
            return "-"
        if abs(value) >= 10 ** digits:
            return f"{value:,.0f}"
        return f"{value:.{digits}g}" if abs(value) < 1 else f"{value:#.{digits}g}".rstrip(".")
    return str(value)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = lambda vals: "| " + " | ".join(v.ljust(w) for v, w in zip(vals, widths)) + " |"  # noqa: E731
    out = [line(headers), "| " + " | ".join("-" * w for w in widths) + " |"]
    out += [line(r) for r in cells]
    return "\n".join(out)


def write_results(name: str, payload: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path


def log(msg: str) -> None:
    """Progress notes go to stderr; stdout carries only the tables."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- py-spy profiles ------------------------------------------------------------------------
def find_py_spy() -> str | None:
    beside = Path(PYTHON).parent / "py-spy"
    if beside.is_file():
        return str(beside)
    return shutil.which("py-spy")


# (category, markers), by priority: a sample goes to the first category with a marker in any of
# its frames. Frames look like "func (path/file.py:line)". Samples that match none go to the
# owner (OWNERS) of their innermost frame that has one: so Lightning's own code that runs inside
# the optimizer's closure counts as Lightning, not as the optimizer.
STEP_CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("progress bar (tqdm refresh, metrics dict)", ("TQDMProgressBar", "tqdm/", "Tqdm.", "ProgressBar.")),
    ("logger write (TensorBoard add_scalar)", ("TensorBoardLogger", "SummaryWriter", "EventFileWriter", "tensorboard/")),
    ("self.log / result collection / metric sync (.item, apply_to_collection)",
     ("LightningModule.log", "_ResultCollection", "_ResultMetric", "_LoggerConnector", "apply_to_collection",
      "metrics_to_scalars", "convert_tensors_to_scalars")),
    ("checkpoint / other callbacks' batch hooks", ("ModelCheckpoint", "LearningRateMonitor", "LearningRateLogger", "RunRecordCallback")),
    ("gradient clipping", ("clip_grad_norm", "clip_grad_value", "configure_gradient_clipping", "_clip_gradients")),
    ("backward", ("Tensor.backward", "_engine_run_backward")),
    ("optimizer.zero_grad", ("zero_grad",)),
    ("forward + loss", ("EmbeddingBag.forward", "Linear.forward", "cross_entropy", "mse_loss", "EmbeddingBagClassifier.forward",
                        "LinearRegressor.forward", "Module._call_impl")),
    ("data loading / batch collation", ("_DataFetcher", "_BaseDataLoaderIter", "EncodedDataset", "EncodedDocs.select",
                                        "gather_batch", "DataLoader", "_MultiProcessingDataLoaderIter", "CombinedLoader")),
]
EPOCH_CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("checkpoint saving (ModelCheckpoint, torch.save)", ("ModelCheckpoint", "save_checkpoint", "torch/serialization.py",
                                                         "_atomic_save", "dump_checkpoint")),
    ("metrics.json update (RunRecord)", ("expkit/run/record.py", "expkit/files.py")),
    ("LR monitor + logger writes", ("LearningRateMonitor", "LearningRateLogger", "TensorBoardLogger", "SummaryWriter", "tensorboard/")),
    ("progress bar", ("TQDMProgressBar", "tqdm/", "Tqdm.", "ProgressBar.")),
    ("scheduler step", ("lr_scheduler.py", "_update_learning_rates")),
    ("validation: forward + metrics (torchmetrics, self.log)", ("_EvaluationLoop", "validation_step", "evaluate (")),
    ("data loader / sampler (re)start", ("_DataFetcher", "DataLoader", "CombinedLoader", "_BaseDataLoaderIter", "Sampler")),
]
OWNERS: list[tuple[str, tuple[str, ...]]] = [
    ("optimizer.step (parameter update)", ("torch/optim/", "expkit/optimizers.py")),
    ("Lightning loop / hook dispatch (other)", ("pytorch_lightning/", "lightning_fabric/", "lightning_utilities/")),
]
OTHER = "other (python / torch glue)"


def categorize_stack(frames: Sequence[str], categories: Sequence[tuple[str, tuple[str, ...]]] = STEP_CATEGORIES,
                     owners: Sequence[tuple[str, tuple[str, ...]]] = OWNERS) -> str:
    """The first category (by priority) with a marker in any frame, else the innermost owner.

    The order matters: the progress bar reads logged metrics through Lightning's result
    collection, and the optimizer's step runs the closure (forward, backward, clipping), so the
    more specific categories come first.
    """
    for category, markers in categories:
        if any(m in frame for frame in frames for m in markers):
            return category
    for frame in reversed(frames):
        for category, markers in owners:
            if any(m in frame for m in markers):
                return category
    return OTHER


def aggregate_profile(raw_file: Path, in_loop: Callable[[Sequence[str]], bool],
                      categories: Sequence[tuple[str, tuple[str, ...]]] = STEP_CATEGORIES) -> dict[str, Any]:
    """Collapse a py-spy `--format raw` file: samples per category among stacks where in_loop."""
    counts: dict[str, int] = {}
    leaves: dict[str, int] = {}
    total = 0
    for line in Path(raw_file).read_text(errors="replace").splitlines():
        if not line.strip() or " " not in line:
            continue
        stack, n = line.rsplit(" ", 1)
        try:
            n = int(n)
        except ValueError:
            continue
        frames = stack.split(";")
        if not in_loop(frames):
            continue
        total += n
        cat = categorize_stack(frames, categories)
        counts[cat] = counts.get(cat, 0) + n
        leaf = frames[-1]
        leaves[leaf] = leaves.get(leaf, 0) + n
    top_leaves = sorted(leaves.items(), key=lambda kv: -kv[1])[:12]
    return {"samples": total, "categories": counts, "top_leaves": top_leaves}


def py_spy_record(cmd: Sequence[str], out_raw: Path, cwd: Path | str | None = None, env: dict | None = None,
                  rate: int = 100, tty: bool = False, timeout: float = 900) -> dict[str, Any]:
    """Run `cmd` under `py-spy record --format raw --nonblocking` (sampling, the process is never paused)."""
    spy = find_py_spy()
    if spy is None:
        raise FileNotFoundError("py-spy not found (pip install py-spy)")
    full = [spy, "record", "--nonblocking", "--rate", str(rate), "--format", "raw", "--output", str(out_raw), "--", *cmd]
    runner = run_in_pty if tty else run_timed
    return runner(full, cwd=cwd, env=env, timeout=timeout)


def profile_table(profiles: dict[str, dict[str, Any]], steps: dict[str, int], rate: int,
                  categories: Sequence[tuple[str, tuple[str, ...]]] = STEP_CATEGORIES, unit: str = "step",
                  title: str = "where a training step's time goes") -> tuple[str, dict[str, Any]]:
    """Markdown table: ms per `unit` (training step, epoch) by category for each profiled system.

    ms per unit of a category = its samples / sampling rate / units run.
    """
    cats = [c for c, _ in categories] + [c for c, _ in OWNERS] + [OTHER]
    names = list(profiles)
    rows = []
    per_step: dict[str, dict[str, float]] = {n: {} for n in names}
    for cat in cats:
        vals = []
        for n in names:
            ms = 1000 * profiles[n]["categories"].get(cat, 0) / rate / max(steps[n], 1)
            per_step[n][cat] = ms
            vals.append(ms)
        if any(v >= 0.005 for v in vals):
            rows.append([cat, *vals])
    rows.sort(key=lambda r: -max(r[1:]))
    totals = [1000 * profiles[n]["samples"] / rate / max(steps[n], 1) for n in names]
    rows.append(["**total (sampled)**", *totals])
    headers = [title, *[f"{n} ms/{unit}" for n in names]]
    return markdown_table(headers, rows), {f"ms_per_{unit}": per_step, "totals_ms": dict(zip(names, totals)),
                                           "top_leaves": {n: profiles[n]["top_leaves"] for n in names}}
