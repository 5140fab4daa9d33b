"""MLflow and Weights & Biases as a user turns them on (`logger=mlflow`, `logger=wandb`,
`logger=[tensorboard,mlflow]`), read back with each tracker's own library: MLflow's
`MlflowClient` (a local SQLite store, and a real `mlflow server` started by the test), and W&B's
offline run file (its records are W&B's protobuf messages)."""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_cli

mlflow = pytest.importorskip("mlflow")
TINY = ["experiment=regression", "trainer=cpu", "data.n_samples=200", "trainer.max_epochs=2"]
# The HPARAMS columns of a TINY run: the headline keys, and the overrides (data.n_samples).
PARAMS = {"model", "optimizer", "optimizer.lr", "data.batch_size", "seed", "trainer.max_epochs", "data.n_samples"}


def mlflow_client(uri: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


def only_run(client, experiment: str):
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, [e.name for e in client.search_experiments()]
    (run,) = client.search_runs([exp.experiment_id])
    return run


@pytest.mark.slow
def test_mlflow_with_tensorboard_gets_the_curation_and_a_resume_continues_the_run(workdir):
    result = run_cli("train", *TINY, "logger=[tensorboard,mlflow]", "optimizer.lr=0.3", cwd=workdir)
    assert result.returncode == 0, result.output
    (run_dir,) = result.run_dirs("regression")
    record = json.loads((run_dir / "metrics.json").read_text())
    client = mlflow_client(f"sqlite:///{workdir}/outputs/mlflow.db")
    run = only_run(client, "regression")  # single runs of an experiment share one MLflow experiment

    assert run.info.run_name == run_dir.name and run.info.status == "FINISHED"
    assert run.data.tags["expkit.run_id"] == record["run_id"]
    # The HPARAMS columns: the headline keys and the overrides, never a _target_ or a path.
    assert set(run.data.params) == PARAMS
    assert run.data.params["optimizer.lr"] == "0.3" and run.data.params["model"] == "LinearRegressor"
    metrics = run.data.metrics
    assert metrics["test/loss"] == pytest.approx(record["test/loss"])
    assert metrics["val/loss"] == pytest.approx(record["val/loss"])
    assert metrics["best/val/loss"] == pytest.approx(record["best_score"])
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val/loss")] == [0, 1]
    (artifact,) = client.list_artifacts(run.info.run_id)
    config = Path(client.download_artifacts(run.info.run_id, artifact.path, str(workdir)))
    assert config.read_text() == (run_dir / ".hydra" / "resolved.yaml").read_text()
    # TensorBoard, the other logger, still has its event files with HPARAMS in the run folder.
    assert list(run_dir.glob("events.out.tfevents.*"))

    resumed = run_cli("resume", str(run_dir), "trainer.max_epochs=3", cwd=workdir)
    assert resumed.returncode == 0, resumed.output
    again = only_run(client, "regression")
    assert again.info.run_id == run.info.run_id and again.info.status == "FINISHED"
    assert len(client.get_metric_history(run.info.run_id, "val/loss")) == 3
    # `expkit runs` reads the run folder whatever the logger.
    listed = run_cli("runs", cwd=workdir)
    assert listed.returncode == 0 and run_dir.name in listed.output, listed.output


@pytest.mark.slow
def test_mlflow_sweep_is_one_experiment_with_a_run_per_job(workdir):
    result = run_cli("train", "-m", *TINY, "logger=mlflow", "optimizer.lr=0.1,0.4", cwd=workdir)
    assert result.returncode == 0, result.output
    (sweep_dir,) = (workdir / "outputs" / "regression" / "multirun").iterdir()
    jobs = sorted(p.name for p in sweep_dir.iterdir() if (p / "metrics.json").is_file())
    client = mlflow_client(f"sqlite:///{workdir}/outputs/mlflow.db")
    exp = client.get_experiment_by_name(f"regression/multirun/{sweep_dir.name}")
    runs = client.search_runs([exp.experiment_id])
    assert sorted(r.info.run_name for r in runs) == jobs and len(jobs) == 2
    assert sorted(r.data.params["optimizer.lr"] for r in runs) == ["0.1", "0.4"]
    assert all(r.info.status == "FINISHED" and "best/val/loss" in r.data.metrics for r in runs)
    # `expkit diff` reads the run folders, whatever the logger.
    compared = run_cli("diff", *(str(sweep_dir / job) for job in jobs), cwd=workdir)
    assert compared.returncode == 0 and "optimizer.lr" in compared.output, compared.output


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_mlflow_tracking_server(workdir):
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{workdir}/server.db", "--artifacts-destination", str(workdir / "artifacts")],
        cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "mlflow server did not start"
                time.sleep(0.5)
        result = run_cli("train", *TINY, "logger=mlflow", f"logger.mlflow.tracking_uri={uri}", cwd=workdir)
        assert result.returncode == 0, result.output
        (run_dir,) = result.run_dirs("regression")
        run = only_run(mlflow_client(uri), "regression")
        assert run.info.run_name == run_dir.name and set(run.data.params) == PARAMS
        assert "best/val/loss" in run.data.metrics and "test/loss" in run.data.metrics
        assert [a.path for a in mlflow_client(uri).list_artifacts(run.info.run_id)] == ["resolved.yaml"]
        assert list((workdir / "artifacts").rglob("resolved.yaml"))  # the server stored the file
    finally:
        import os
        import signal

        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


# -- Weights & Biases -----------------------------------------------------------------------------------
def wandb_records(run_file: Path):
    """The records of a W&B run file: W&B's protobuf `Record`s in a LevelDB-style log (a 7-byte
    header `:W&B` + magic + version, then 32 KiB blocks of chunks: crc32, length, type)."""
    from wandb.proto import wandb_internal_pb2

    data = run_file.read_bytes()
    assert data[:4] == b":W&B"
    pos, block, pending = 7, 32768, b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a chunk header is padding
            pos += block - pos % block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if length == 0 and kind == 0:
            break
        pending += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a full record, or the last chunk of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record


def read_wandb_run(run_dir: Path) -> dict:
    (run_file,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")  # one W&B run for the job
    out: dict = {"config": {}, "summary": {}, "files": [], "runs": [], "exit": None}
    for record in wandb_records(run_file):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            out["runs"].append((record.run.run_id, record.run.display_name, record.run.run_group, record.run.project))
        elif kind == "config":
            out["config"].update({i.key: json.loads(i.value_json) for i in record.config.update})
        elif kind == "history":
            out["summary"].update({i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in record.history.item})
        elif kind == "files":
            out["files"] += [f.path for f in record.files.files]
        elif kind == "exit":
            out["exit"] = record.exit.exit_code
    return out


@pytest.mark.slow
def test_wandb_offline_sweep_has_one_finished_run_per_job(workdir):
    pytest.importorskip("wandb")
    result = run_cli("train", "-m", *TINY, "logger=wandb", "optimizer.lr=0.1,0.4", cwd=workdir,
                     env={"WANDB_API_KEY": "", "WANDB_MODE": ""})
    assert result.returncode == 0, result.output
    (sweep_dir,) = (workdir / "outputs" / "regression" / "multirun").iterdir()
    job_dirs = sorted(p for p in sweep_dir.iterdir() if (p / "metrics.json").is_file())
    assert len(job_dirs) == 2
    ids = set()
    for job_dir, lr in zip(job_dirs, (0.1, 0.4)):
        record = json.loads((job_dir / "metrics.json").read_text())
        run = read_wandb_run(job_dir)
        # One W&B run per job (W&B would reuse the first job's run unless each job finishes its own).
        assert {r[0] for r in run["runs"]} == {record["run_id"]}
        run_id, name, group, project = run["runs"][0]
        assert name == job_dir.name and group == f"regression/multirun/{sweep_dir.name}" and project == "regression"
        ids.add(run_id)
        assert set(run["config"]) == PARAMS and run["config"]["optimizer.lr"] == lr
        assert run["summary"]["best/val/loss"] == pytest.approx(record["best_score"])
        assert run["summary"]["test/loss"] == pytest.approx(record["test/loss"])
        assert "resolved.yaml" in run["files"] and run["exit"] == 0
    assert len(ids) == 2

    # A resumed job continues its W&B run: the same run id, in a second offline run folder.
    resumed = run_cli("resume", str(job_dirs[0]), "trainer.max_epochs=3", cwd=workdir)
    assert resumed.returncode == 0, resumed.output
    files = sorted(job_dirs[0].glob("wandb/offline-run-*/run-*.wandb"))
    assert len(files) == 2 and all(f.stem == "run-" + json.loads((job_dirs[0] / "metrics.json").read_text())["run_id"]
                                   for f in files)


def test_a_tracking_server_that_does_not_answer_is_refused_before_the_run(tmp_path, monkeypatch):
    # MLflow's client retries a server that is down for minutes, then fails with a traceback.
    import socket

    import expkit
    from expkit.errors import ConfigError

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.chdir(tmp_path)
    cfg = expkit.compose(["experiment=regression", "logger=mlflow", f"logger.mlflow.tracking_uri=http://127.0.0.1:{port}"])
    with pytest.raises(ConfigError, match=rf"tracking server http://127.0.0.1:{port} cannot be reached"):
        expkit.api.validate(cfg)
    assert not (tmp_path / "outputs").exists()
