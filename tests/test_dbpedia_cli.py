"""DBpedia through the real CLI: train on the sample, eval on a CSV, predict, export."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from conftest import read_metrics, read_scalars, run_cli

# Every test here starts CLI processes or trains for real.
pytestmark = pytest.mark.slow

SHORT = ["trainer.max_epochs=2", "trainer.limit_train_batches=20"]


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    """The default experiment (the embedded sample), shortened."""
    cwd = tmp_path_factory.mktemp("dbpedia")
    result = run_cli("train", *SHORT, "paths.cache_dir=cache", cwd=cwd)
    assert result.returncode == 0, result.output
    (run_dir,) = result.run_dirs("dbpedia_sample")
    return cwd, run_dir, result


def test_default_experiment_is_the_dbpedia_sample(sample_run):
    cwd, run_dir, result = sample_run
    metrics = read_metrics(run_dir)
    assert metrics["status"] == "finished" and metrics["experiment"] == "dbpedia_sample"
    for key in ("train/loss", "val/loss", "val/acc", "val/f1", "test/acc", "test/f1", "test/loss"):
        assert key in metrics, key
    assert metrics["test/acc"] > 0.3, "two short epochs already beat chance (1/14) by far"
    assert "cache miss" in result.output
    if os.environ.get("EXPKIT_TEXT_ENCODER", "").lower() != "python":  # the C encoder was built and used
        assert "with the C (expkit.text._basic_english) encoder" in result.output
        assert json.loads((run_dir / "environment.json").read_text())["text_encoder"].startswith("C")


def test_tensorboard_has_classification_curves_and_confusion_matrix(sample_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, run_dir, _ = sample_run
    scalars = read_scalars(run_dir)
    assert len(scalars["val/acc"]) == 2 and len(scalars["val/loss"]) == 2
    assert "test/acc" in scalars
    acc = EventAccumulator(str(run_dir), size_guidance={"images": 0})
    acc.Reload()
    assert "test/confusion_matrix" in acc.Tags()["images"]


def test_second_run_hits_the_cache(sample_run):
    cwd, _, _ = sample_run
    result = run_cli("train", "trainer=debug", "paths.cache_dir=cache", cwd=cwd)
    assert result.returncode == 0, result.output
    assert "cache hit" in result.output and "cache miss" not in result.output


def test_eval_on_a_given_csv(sample_run, tmp_path):
    cwd, run_dir, _ = sample_run
    csv = tmp_path / "my_test.csv"
    csv.write_text(
        '1,"Acme Corp","Acme Corp is an American company that makes widgets and sells them worldwide."\n'
        '13,"The Big Film","The Big Film is a 1999 American comedy film directed by John Smith."\n',
        encoding="utf-8",
    )
    out = tmp_path / "eval.json"
    result = run_cli("eval", str(run_dir), f"data.test_path={csv}", "--out", str(out), cwd=cwd)
    assert result.returncode == 0, result.output
    metrics = json.loads(out.read_text())
    assert {"test/acc", "test/loss", "test/f1"} <= set(metrics)
    assert metrics["test/acc"] in (0.0, 0.5, 1.0)  # two rows
    assert "test/acc" in result.stdout


def test_eval_default_reproduces_the_runs_test_metrics(sample_run):
    cwd, run_dir, _ = sample_run
    result = run_cli("eval", str(run_dir), cwd=cwd)
    assert result.returncode == 0, result.output
    metrics = json.loads((run_dir / "eval.json").read_text())
    assert metrics["test/acc"] == pytest.approx(read_metrics(run_dir)["test/acc"], abs=1e-6)


def test_predict_gives_class_names(sample_run, tmp_path):
    cwd, run_dir, _ = sample_run
    texts = tmp_path / "texts.txt"
    texts.write_text("The album was released in 1994 by the band.\nA species of flowering plant in the family.\n")
    result = run_cli("predict", str(run_dir), "--file", str(texts), "--top-k", "2", "--json", cwd=cwd)
    assert result.returncode == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    classes = Path(run_dir)  # noqa: F841
    names = {"Company", "EducationalInstitution", "Artist", "Athlete", "OfficeHolder", "MeanOfTransportation",
             "Building", "NaturalPlace", "Village", "Animal", "Plant", "Album", "Film", "WrittenWork"}
    assert len(lines) == 2
    for line in lines:
        assert len(line["predictions"]) == 2
        assert {p["label"] for p in line["predictions"]} <= names
        assert 0 <= line["predictions"][1]["probability"] <= line["predictions"][0]["probability"] <= 1


def test_export_then_predict_gives_identical_outputs(sample_run, tmp_path):
    cwd, run_dir, _ = sample_run
    out_dir = tmp_path / "export"
    result = run_cli("export", str(run_dir), str(out_dir), cwd=cwd)
    assert result.returncode == 0, result.output
    for name in ("model.safetensors", "config.json", "preprocessing.json", "README.md"):
        assert (out_dir / name).is_file(), name
    config = json.loads((out_dir / "config.json").read_text())
    assert config["id2label"]["0"] == "Company" and len(config["id2label"]) == 14
    assert config["label2id"]["Company"] == 0 and config["task_type"] == "classification"
    assert "test/acc" in (out_dir / "README.md").read_text()
    text = "Kinshasa magazine established in the 1990s by a priest."
    from_run = run_cli("predict", str(run_dir), text, "--json", "--top-k", "3", cwd=cwd)
    from_export = run_cli("predict", str(out_dir), text, "--json", "--top-k", "3", cwd=cwd)
    assert from_run.returncode == from_export.returncode == 0, from_export.output
    assert from_run.stdout == from_export.stdout
    # Exporting into a non-empty folder is refused and changes nothing.
    before = (out_dir / "model.safetensors").read_bytes()
    again = run_cli("export", str(run_dir), str(out_dir), cwd=cwd)
    assert again.returncode == 2 and "not empty" in again.stderr
    assert (out_dir / "model.safetensors").read_bytes() == before


def test_push_without_token_is_a_clear_error(sample_run, tmp_path):
    cwd, run_dir, _ = sample_run
    result = run_cli("export", str(run_dir), str(tmp_path / "e"), "--push", "someone/model", cwd=cwd,
                     env={"HF_TOKEN": "", "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 2
    assert "token" in result.stderr.lower() and "Traceback" not in result.output
    assert (tmp_path / "e" / "model.safetensors").is_file()


def test_checkpoint_loads_with_weights_only_and_map_location(sample_run):
    _, run_dir, _ = sample_run
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True, map_location=torch.device("cpu"))
    state = ckpt["TextClassificationDataModule"]
    itos = state["vocab"]["itos_text"].split("\n")
    assert itos[:2] == ["<unk>", "<pad>"]
    assert ckpt["state_dict"]["net.embedding.weight"].shape[0] == len(itos)


@pytest.mark.parametrize("model", ["lstm", "mean_mlp"])
def test_other_models_train(tmp_path, model):
    # The LSTM reads words in order: no bigrams appended to its sequences.
    result = run_cli("train", f"model={model}", "trainer=debug", "paths.cache_dir=cache",
                     *(["optimizer=adam", "data.ngrams=1"] if model == "lstm" else []), cwd=tmp_path)
    assert result.returncode == 0, result.output
    (run_dir,) = result.run_dirs("dbpedia_sample")
    assert read_metrics(run_dir)["status"] == "finished"


def test_sparse_model_with_adam_is_refused_clearly(tmp_path):
    result = run_cli("train", "optimizer=adam", "trainer=debug", cwd=tmp_path)
    assert result.returncode == 2
    assert "sparse gradients" in result.stderr and "optimizer=sgd" in result.stderr
    assert "Traceback" not in result.output
    assert result.run_dirs("dbpedia_sample") == []


def test_predict_compiled(sample_run):
    cwd, run_dir, _ = sample_run
    plain = run_cli("predict", str(run_dir), "A village in Poland.", "--json", cwd=cwd)
    compiled = run_cli("predict", str(run_dir), "A village in Poland.", "--json", "--compile", cwd=cwd, timeout=600)
    assert compiled.returncode == 0, compiled.output
    a = json.loads(plain.stdout.splitlines()[-1])["predictions"][0]
    b = json.loads(compiled.stdout.splitlines()[-1])["predictions"][0]
    assert a["label"] == b["label"] and a["probability"] == pytest.approx(b["probability"], abs=1e-4)


def test_full_dataset_experiment_downloads_from_a_local_server(tmp_path):
    """experiment=dbpedia end to end: download (127.0.0.1), verify, extract, train, test."""
    import functools
    import hashlib
    import http.server
    import tarfile
    import threading

    from expkit.data.labelled import packaged_data_path

    rows = Path(packaged_data_path("dbpedia_sample/sample.csv")).read_text(encoding="utf-8").splitlines()
    src = tmp_path / "src" / "dbpedia_csv"
    src.mkdir(parents=True)
    (src / "train.csv").write_text("\n".join(rows[:1500]) + "\n", encoding="utf-8")
    (src / "test.csv").write_text("\n".join(rows[1500:1800]) + "\n", encoding="utf-8")
    (src / "classes.txt").write_text(Path(packaged_data_path("dbpedia_sample/classes.txt")).read_text())
    served = tmp_path / "served"
    served.mkdir()
    archive = served / "dbpedia_csv.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src, arcname="dbpedia_csv")
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/dbpedia_csv.tar.gz"
        result = run_cli("train", "experiment=dbpedia", f"data.url={url}", f"data.md5={md5}", "trainer=debug",
                         "paths.data_dir=data", "paths.cache_dir=cache", cwd=tmp_path)
    finally:
        server.shutdown()
    assert result.returncode == 0, result.output
    assert (tmp_path / "data" / "dbpedia_csv" / "train.csv").is_file()
    (run_dir,) = result.run_dirs("dbpedia")
    assert read_metrics(run_dir)["status"] == "finished"
    # A stratified 95/5 split of train.csv; test.csv is the test split.
    assert "Data: train 1426, val 74, test 300 rows" in result.output
