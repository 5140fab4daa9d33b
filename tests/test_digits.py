"""The image workload through the real CLI: experiment=digits, a user's image folder, eval on
another annotated folder, predictions with class names, and bad input."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import read_metrics, run_cli
from expkit.data.labelled import packaged_data_path

# Every test here starts CLI processes or trains for real.
pytestmark = pytest.mark.slow

DIGITS = Path(packaged_data_path("digits/labels.csv")).parent


def digit_rows() -> list[tuple[str, int]]:
    with open(DIGITS / "labels.csv", newline="") as f:
        return [(row["file"], int(row["label"])) for row in csv.DictReader(f)]


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """`expkit train experiment=digits` exactly as documented: the accuracy target's run."""
    cwd = tmp_path_factory.mktemp("digits")
    result = run_cli("train", "experiment=digits", cwd=cwd)
    assert result.returncode == 0, result.output
    (run_dir,) = result.run_dirs("digits")
    return run_dir


def test_digits_reaches_the_accuracy_target(digits_run):
    metrics = read_metrics(digits_run)
    assert metrics["status"] == "finished" and metrics["experiment"] == "digits"
    assert metrics["test/acc"] >= 0.97, metrics
    assert metrics["epochs_done"] == 30 and metrics["monitor"] == "val/loss"
    log = (digits_run / "train.log").read_text()
    assert "Images: read 1500 from" in log and "train 1200, val 150, test 150" in log
    # The checkpoint carries the data module's state: what a run folder alone needs to predict.
    ckpt = torch.load(digits_run / metrics["best_checkpoint"], weights_only=True, map_location="cpu")
    state = ckpt["ImageFolderDataModule"]
    assert state["class_names"] == [str(d) for d in range(10)]
    assert state["channels"] == 1 and state["image_size"] == [8, 8] and len(state["mean"]) == 1


def _predict(run_dir: Path, files: list[str], top_k: int = 1) -> list[dict]:
    """What `expkit predict RUN image.png ...` prints, computed in-process from the run folder
    through the contract: the data module's predict_inputs and the task's describe_predictions."""
    from expkit.runs.loading import load_run

    run = load_run(run_dir)
    with torch.no_grad():
        outputs = run.task.predict_outputs(*run.datamodule.predict_inputs(files))
    return run.task.describe_predictions(outputs, top_k=top_k)


def test_eval_scores_another_annotated_folder(digits_run, tmp_path):
    """`expkit eval RUN data.test_path=OTHER/labels.csv`: an image folder of the user's, with
    labels as class names, in RGB and 4x the size (converted and resized to the run's 8x8 gray)."""
    rows = digit_rows()[::25]  # 60 images, every class
    other = tmp_path / "other"
    (other / "pics").mkdir(parents=True)
    lines = ["file,label"]
    wrong = set(range(0, len(rows), 4))  # a quarter mislabelled: the score must follow the labels
    for i, (file, label) in enumerate(rows):
        big = Image.open(DIGITS / file).convert("RGB").resize((32, 32), Image.Resampling.NEAREST)
        big.save(other / "pics" / f"{i}.png")
        lines.append(f"pics/{i}.png,{(label + 1) % 10 if i in wrong else label}")
    (other / "labels.csv").write_text("\n".join(lines) + "\n")

    result = run_cli("eval", str(digits_run), f"data.test_path={other / 'labels.csv'}", cwd=tmp_path)
    assert result.returncode == 0, result.output
    scored = json.loads((digits_run / "eval.json").read_text())

    predicted = [int(p["predictions"][0]["label"]) for p in _predict(digits_run, [str(other / "pics" / f"{i}.png") for i in range(len(rows))])]
    labels = [(label + 1) % 10 if i in wrong else label for i, (_, label) in enumerate(rows)]
    expected = np.mean([p == y for p, y in zip(predicted, labels)])
    assert scored["test/acc"] == pytest.approx(expected, abs=1e-6)
    assert 0.6 < scored["test/acc"] < 0.8  # ~3/4 right labels, a 97% model


def test_predict_gives_top_k_class_names(digits_run, tmp_path):
    rows = digit_rows()[1::50]  # 30 PNG files as a user would pass them
    described = _predict(digits_run, [str(DIGITS / file) for file, _ in rows], top_k=3)
    assert len(described) == len(rows)
    for row in described:
        labels = [p["label"] for p in row["predictions"]]
        probs = [p["probability"] for p in row["predictions"]]
        assert len(labels) == 3 and set(labels) <= {str(d) for d in range(10)} and len(set(labels)) == 3
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
    correct = sum(int(r["predictions"][0]["label"]) == label for r, (_, label) in zip(described, rows))
    assert correct >= 28, correct


def test_predict_and_export_through_the_cli(digits_run, tmp_path):
    """`expkit predict RUN a.png b.png --top-k 2` and the same from an `expkit export` folder."""
    rows = digit_rows()[3:6]
    files = [str(DIGITS / file) for file, _ in rows]
    result = run_cli("predict", str(digits_run), *files, "--top-k", "2", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [line["input"] for line in lines] == files
    assert all(len(line["predictions"]) == 2 for line in lines)
    assert [line["predictions"][0]["label"] for line in lines] == [r["predictions"][0]["label"] for r in _predict(digits_run, files)]
    exported = run_cli("export", str(digits_run), str(tmp_path / "export"), cwd=tmp_path)
    assert exported.returncode == 0, exported.output
    config = json.loads((tmp_path / "export" / "config.json").read_text())
    assert config["architecture"] == "expkit.models.cnn.CNNClassifier" and config["id2label"]["3"] == "3"
    again = run_cli("predict", str(tmp_path / "export"), *files, "--top-k", "2", "--json", cwd=tmp_path)
    assert again.returncode == 0, again.output
    assert [json.loads(line) for line in again.stdout.splitlines() if line.startswith("{")] == lines


def test_a_users_class_folders_train_through_the_cli(tmp_path):
    """data=image_folder on a folder with one subfolder per class, RGB images of mixed sizes."""
    root = tmp_path / "shapes"
    rng = np.random.default_rng(0)
    for name, rgb in {"red": (230, 20, 20), "green": (20, 220, 20), "blue": (20, 20, 230)}.items():
        (root / name).mkdir(parents=True)
        for i in range(10):
            noise = rng.integers(-15, 16, (12 + i, 10, 3))
            Image.fromarray(np.clip(np.array(rgb) + noise, 0, 255).astype(np.uint8)).save(root / name / f"{i}.jpg")
    result = run_cli(
        "train", "experiment=digits", "data=image_folder", f"data.train_path={root}", "data.image_size=16",
        "data.channels=3", "data.batch_size=8", "data.augment_flip=true", "data.augment_shift=2",
        "trainer.max_epochs=15", cwd=tmp_path,
    )
    assert result.returncode == 0, result.output
    (run_dir,) = result.run_dirs("digits")
    metrics = read_metrics(run_dir)
    assert metrics["status"] == "finished" and metrics["test/acc"] == 1.0  # three flat colours
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["ImageFolderDataModule"]
    assert state["class_names"] == ["blue", "green", "red"] and state["image_size"] == [16, 16]
    assert len(state["mean"]) == 3


def test_bad_image_data_is_one_paragraph(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(DIGITS / "images", data / "images")
    (data / "labels.csv").write_text("file,label\nimages/0001.png,1\nimages/9999.png,3\n")
    result = run_cli("train", "experiment=digits", f"data.train_path={data / 'labels.csv'}", cwd=tmp_path)
    assert result.returncode == 2, result.output
    assert "labels.csv:3: image file" in result.stderr and "9999.png does not exist" in result.stderr
    assert "Traceback" not in result.output


def test_reproduce_is_exact_and_resume_extends(tmp_path):
    """With augmentation on, a reproduced run gives the same metrics, and resume continues the run."""
    args = ["experiment=digits", "deterministic=true", "trainer=cpu", "trainer.max_epochs=2", "data.augment_shift=1"]
    first = run_cli("train", *args, cwd=tmp_path)
    assert first.returncode == 0, first.output
    (run_dir,) = first.run_dirs("digits")
    again = run_cli("reproduce", str(run_dir), "--check", cwd=tmp_path)
    assert again.returncode == 0, again.output
    original, reproduced = (read_metrics(d) for d in first.run_dirs("digits"))
    for key in ("train/loss", "val/loss", "val/acc", "test/loss", "test/acc"):
        assert original[key] == reproduced[key], key
    extended = run_cli("resume", str(run_dir), "trainer.max_epochs=3", cwd=tmp_path)
    assert extended.returncode == 0, extended.output
    metrics = read_metrics(run_dir)
    assert metrics["status"] == "finished" and metrics["epochs_done"] == 3
