"""Beyond one device on a CPU: `trainer=ddp_cpu` (2 gloo processes), the SLURM launcher's config,
the submitit local launcher, and Lightning's SLURM requeue signal. Every CLI call has a timeout."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import THREAD_ENV, read_metrics, read_scalars, run_cli

DDP = ("trainer=ddp_cpu", "trainer.devices=2")


def only_run_dir(workdir: Path, experiment: str) -> Path:
    root = workdir / "outputs" / experiment
    dirs = [p for p in root.iterdir() if p.is_dir()]
    assert len(dirs) == 1, f"expected one run folder, found {dirs}"
    return dirs[0]


def assert_single_writer(run_dir: Path) -> None:
    """One .hydra/, one checkpoints/ set, TensorBoard's event files in the run folder, nothing from rank 1."""
    assert sorted(p.name for p in (run_dir / ".hydra").iterdir()) == ["config.yaml", "hydra.yaml", "overrides.yaml", "resolved.yaml"]
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir())[-1] == "last.ckpt"
    assert [p.name for p in run_dir.iterdir() if p.is_dir() and p.name not in (".hydra", "checkpoints")] == [], \
        "a TensorBoard version folder"
    assert list(run_dir.glob("events.out.tfevents.*"))
    assert "[rank 1]" not in (run_dir / "train.log").read_text()


@pytest.mark.slow
def test_ddp_cpu_regression_then_resume(workdir: Path) -> None:
    result = run_cli("train", "experiment=regression", "data.batch_size=32", *DDP, "trainer.max_epochs=2", cwd=workdir, timeout=240)
    assert result.returncode == 0, result.output
    run_dir = only_run_dir(workdir, "regression")
    metrics = read_metrics(run_dir)
    assert metrics["status"] == "finished" and metrics["epochs_done"] == 2
    assert {"val/loss", "test/loss", "test/mae"} <= set(metrics)
    assert_single_writer(run_dir)
    # 800 training rows, 32 per batch on each of 2 ranks: 13 steps an epoch (one process: 25).
    assert metrics["global_step"] == 26
    assert "[rank 1]" in result.stdout  # the second process ran, and said whose lines it wrote

    resumed = run_cli("resume", str(run_dir), "trainer.max_epochs=3", cwd=workdir, timeout=240)
    assert resumed.returncode == 0, resumed.output
    assert only_run_dir(workdir, "regression") == run_dir
    metrics = read_metrics(run_dir)
    assert metrics["status"] == "finished" and metrics["epochs_done"] == 3 and metrics["global_step"] == 39
    assert metrics["lineage"][-1]["command"] == "resume"
    steps = [s for s, _ in read_scalars(run_dir)["val/loss"]]
    assert steps == sorted(set(steps)) and len(steps) == 3


@pytest.mark.slow
def test_ddp_cpu_matches_one_process_at_the_same_global_batch_and_reproduces(workdir: Path) -> None:
    """2 processes x 32 rows and 1 process x 64 rows see the same batches in the same order
    (the ranks split each one-process batch), so their final metrics agree within float
    reduction noise (1e-5); `expkit reproduce` of the DDP run starts 2 processes again and
    matches it exactly."""
    two = run_cli("train", "experiment=regression", "data.batch_size=32", *DDP, "trainer.max_epochs=2",
                  "paths.output_root=two", cwd=workdir, timeout=240)
    assert two.returncode == 0, two.output
    one = run_cli("train", "experiment=regression", "data.batch_size=64", "trainer=cpu", "trainer.max_epochs=2",
                  "paths.output_root=one", cwd=workdir, timeout=240)
    assert one.returncode == 0, one.output
    (two_dir,) = (workdir / "two" / "regression").iterdir()
    (one_dir,) = (workdir / "one" / "regression").iterdir()
    a, b = read_metrics(two_dir), read_metrics(one_dir)
    assert a["global_step"] == b["global_step"] == 26
    # Validation and test metrics are reduced over ranks; train/loss is rank 0's own last batch.
    for key in ("val/loss", "val/mae", "test/loss", "test/mae"):
        assert a[key] == pytest.approx(b[key], abs=1e-5), key

    again = run_cli("reproduce", str(two_dir), "--check", cwd=workdir, timeout=240)
    assert again.returncode == 0, again.output
    assert "Traceback" not in again.output and "[rank1]" not in again.output
    runs = sorted(p for p in (workdir / "two" / "regression").iterdir())
    assert len(runs) == 2, "one new run folder for the reproduction, none from rank 1"
    assert read_metrics(runs[1])["source"]["run_dir"] == str(two_dir.resolve())


@pytest.mark.slow
def test_ddp_cpu_dbpedia_sample_builds_the_cache_once(workdir: Path) -> None:
    result = run_cli("train", *DDP, "trainer.max_epochs=1", "trainer.limit_train_batches=4",
                     f"paths.cache_dir={workdir / 'cache'}", cwd=workdir, timeout=240)
    assert result.returncode == 0, result.output
    run_dir = only_run_dir(workdir, "dbpedia_sample")
    metrics = read_metrics(run_dir)
    assert metrics["status"] == "finished"
    assert {"val/acc", "test/acc", "test/f1"} <= set(metrics)
    assert_single_writer(run_dir)
    # Rank 0 encodes before the Trainer starts rank 1, which finds the cache.
    lines = result.stdout.splitlines()
    assert len([line for line in lines if "cache miss" in line]) == 1
    assert any("[rank 1]" in line and "cache hit" in line for line in lines)


@pytest.mark.slow
def test_multirun_with_ddp_is_refused_up_front(workdir: Path) -> None:
    result = run_cli("train", "-m", "experiment=regression", *DDP, "optimizer.lr=0.1,0.2", cwd=workdir, timeout=120)
    assert result.returncode == 2, result.output
    assert "Lightning #11300" in result.stderr and "hydra/launcher=slurm" in result.stderr
    assert "Traceback" not in result.output
    assert not (workdir / "outputs").exists()


@pytest.mark.slow
def test_ddp_spawn_is_refused(workdir: Path) -> None:
    result = run_cli("train", "experiment=regression", "trainer.strategy=ddp_spawn", "trainer.devices=2",
                     "trainer.accelerator=cpu", cwd=workdir, timeout=120)
    assert result.returncode == 2 and "ddp_spawn is not supported" in result.stderr, result.output
    assert not (workdir / "outputs").exists()


@pytest.mark.parametrize("world_size", [2, 3])
def test_rank_shards_are_one_process_batches_split(world_size: int) -> None:
    """Rank r's batch k holds rows of one process's batch k at world_size x the batch size;
    shards are disjoint, equally long, and follow (seed, epoch)."""
    from expkit.data.sampling import IndexBatchSampler

    n, per_rank = 101, 4
    one = IndexBatchSampler(n, per_rank * world_size, shuffle=True)
    ranks = [IndexBatchSampler(n, per_rank, shuffle=True, rank=r, world_size=world_size) for r in range(world_size)]
    for sampler in (one, *ranks):
        sampler.sampler.seed = 7
        sampler.set_epoch(3)
    batches = [list(s) for s in ranks]
    assert len({len(b) for b in batches}) == 1  # as many steps on every rank
    for k, global_batch in enumerate(one):
        assert set().union(*(set(b[k]) for b in batches)) >= set(global_batch)
    rows = [row for b in batches for batch in b for row in batch]
    assert set(rows) == set(range(n)) and len(rows) == world_size * -(-n // world_size)  # padded, not more
    ranks[0].set_epoch(4)
    assert list(ranks[0]) != batches[0]
    evaluation = [list(IndexBatchSampler(n, 8, shuffle=False, rank=r, world_size=world_size)) for r in range(world_size)]
    seen = sorted(row for b in evaluation for batch in b for row in batch)
    assert seen == list(range(n))  # evaluation counts every row once


def test_slurm_launcher_config_composes_with_its_keys() -> None:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from expkit.config_files import conf_dir
    from expkit.run.stamp import register_resolvers

    register_resolvers()
    GlobalHydra.instance().clear()
    overrides = ["hydra/launcher=slurm", "trainer=ddp_cpu", "trainer.devices=4", "hydra.launcher.partition=gpu",
                 "hydra.launcher.gpus_per_node=4", "hydra.launcher.cpus_per_task=8", "hydra.launcher.mem_gb=64",
                 "hydra.launcher.timeout_min=60", "hydra.launcher.account=proj", "hydra.launcher.qos=high",
                 "+hydra.launcher.additional_parameters.reservation=r1"]
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    GlobalHydra.instance().clear()
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.partition, launcher.gpus_per_node, launcher.tasks_per_node) == ("gpu", 4, 4)
    assert (launcher.cpus_per_task, launcher.mem_gb, launcher.timeout_min) == (8, 64, 60)
    assert (launcher.account, launcher.qos, dict(launcher.additional_parameters)) == ("proj", "high", {"reservation": "r1"})


@pytest.mark.slow
def test_submitit_local_sweep(workdir: Path) -> None:
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    result = run_cli("train", "-m", "experiment=regression", "hydra/launcher=submitit_local", "trainer.max_epochs=2",
                     "optimizer.lr=0.05,0.1", cwd=workdir, timeout=300)
    assert result.returncode == 0, result.output
    sweeps = list((workdir / "outputs" / "regression" / "multirun").iterdir())
    assert len(sweeps) == 1
    jobs = sorted(p for p in sweeps[0].iterdir() if p.is_dir() and not p.name.startswith("."))
    assert [p.name.split("_", 1)[0] for p in jobs] == ["0", "1"]
    assert all(read_metrics(job)["status"] == "finished" for job in jobs)
    summary = (sweeps[0] / "summary.csv").read_text().splitlines()
    assert len(summary) == 3 and all("finished" in line for line in summary[1:])


@pytest.mark.slow
def test_slurm_requeue_signal_checkpoints_and_resume_continues(workdir: Path) -> None:
    """SIGUSR1 as SLURM sends it before the time limit (`#SBATCH --signal=USR1@90`): Lightning's
    SLURMEnvironment saves hpc_ckpt_1.ckpt in the run folder and calls `scontrol requeue`
    (a script on PATH here); `expkit resume` continues from that checkpoint."""
    bin_dir = workdir / "bin"
    bin_dir.mkdir()
    calls = workdir / "scontrol.calls"
    # Like SLURM, `scontrol requeue` ends the running job (its caller, Lightning's signal handler).
    (bin_dir / "scontrol").write_text(f'#!/bin/sh\necho "$@" >> {calls}\nkill -KILL $PPID\n')
    (bin_dir / "scontrol").chmod(0o755)
    slurm = {"SLURM_JOB_ID": "4242", "SLURM_NTASKS": "1", "SLURM_JOB_NAME": "expkit", "SLURM_PROCID": "0",
             "SLURM_LOCALID": "0", "SLURM_NODEID": "0", "SLURM_NODELIST": "localhost"}
    env = {**os.environ, **THREAD_ENV, **slurm, "PYTHONUNBUFFERED": "1", "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    output = (workdir / "train.out").open("w")  # a file, not a pipe nobody reads while the test waits
    proc = subprocess.Popen(
        [sys.executable, "-m", "expkit", "train", "experiment=regression", "data.batch_size=32", "trainer=cpu", "trainer.max_epochs=100000"],
        cwd=workdir, env=env, stdout=output, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 180
        run_dir = None
        while time.monotonic() < deadline and proc.poll() is None:
            found = list((workdir / "outputs" / "regression").glob("*/checkpoints/last.ckpt"))
            if found:
                run_dir = found[0].parents[1]
                break
            time.sleep(0.5)
        assert run_dir is not None, "no epoch finished"
        proc.send_signal(signal.SIGUSR1)
        assert proc.wait(timeout=180) == -signal.SIGKILL, (workdir / "train.out").read_text()[-3000:]
        assert (run_dir / "hpc_ckpt_1.ckpt").is_file()
        assert calls.read_text().split() == ["requeue", "4242"]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        output.close()
    step = torch.load(run_dir / "hpc_ckpt_1.ckpt", map_location="cpu", weights_only=False)["global_step"]
    assert read_metrics(run_dir)["status"] != "finished"

    # The restarted job (here outside SLURM): continues from the hpc checkpoint, not from scratch.
    resumed = run_cli("resume", str(run_dir), "trainer.max_epochs=" + str(step // 25 + 2), cwd=workdir, timeout=240)
    assert resumed.returncode == 0, resumed.output
    assert "from hpc_ckpt_1.ckpt" in resumed.stdout
    metrics = read_metrics(run_dir)
    assert metrics["status"] == "finished" and metrics["global_step"] > step
    assert metrics["lineage"][-1]["command"] == "resume"


def test_slurm_requeue_signal_is_handled_after_the_batch_not_inside_the_handler(tmp_path: Path, monkeypatch) -> None:
    """Lightning's SLURM handler flushes TensorBoard, saves hpc_ckpt_1.ckpt and runs `scontrol
    requeue`. Run inside the signal handler it hung the job whenever the signal landed while the
    training thread held TensorBoard's writer lock (4 of 27 signals on a loaded machine). expkit
    runs it after the batch in which the signal arrived: the checkpoint holds that batch's step."""
    import pytorch_lightning as pl

    import expkit

    calls = tmp_path / "scontrol.calls"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "scontrol").write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    (bin_dir / "scontrol").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    for key, value in {"SLURM_JOB_ID": "4242", "SLURM_NTASKS": "1", "SLURM_JOB_NAME": "expkit", "SLURM_PROCID": "0",
                       "SLURM_LOCALID": "0", "SLURM_NODEID": "0", "SLURM_NODELIST": "localhost"}.items():
        monkeypatch.setenv(key, value)

    class SignalDuringStep(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            if trainer.global_step in (3, 7):
                signal.raise_signal(signal.SIGUSR1)  # its handler runs now, before the step's work

        def on_train_epoch_end(self, trainer, pl_module) -> None:
            signal.raise_signal(signal.SIGUSR1)  # after the last batch: handled as the fit ends

    before = signal.getsignal(signal.SIGUSR1)
    overrides = ["experiment=regression", "data.batch_size=32", "trainer=cpu", "trainer.max_epochs=1", "callbacks.progress_bar=null",
                 f"paths.output_root={tmp_path / 'outputs'}"]
    result = expkit.fit(expkit.compose(overrides), extra_callbacks=[SignalDuringStep()])
    steps = [torch.load(Path(result.run_dir) / f"hpc_ckpt_{n}.ckpt", map_location="cpu", weights_only=False)["global_step"]
             for n in (1, 2, 3)]
    assert steps[:2] == [4, 8]  # inside the handler: steps 3 and 7
    assert steps[2] == read_metrics(Path(result.run_dir))["global_step"]  # the epoch's last step
    assert calls.read_text().split() == ["requeue", "4242"] * 3
    assert signal.getsignal(signal.SIGUSR1) == before
