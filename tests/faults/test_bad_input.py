"""Bad values, bad data and bad paths: one paragraph on stderr, exit 2, no folder left behind.

In-process (`expkit.cli.main`): each case is the CLI's whole path minus the interpreter start.
"""

from __future__ import annotations

import csv
import json
import logging
import os

import pytest

from inprocess import TINY, cli, digests, finished_run, refused, run_folders  # noqa: F401 - finished_run is a fixture
from expkit.data.labelled import packaged_data_path

TEXT = ["experiment=dbpedia_sample", "logger=none", "trainer=debug", "paths.cache_dir=cache"]


@pytest.fixture(scope="module")
def csv_rows():
    with open(packaged_data_path("dbpedia_sample/sample.csv"), encoding="utf-8", newline="") as f:
        return list(csv.reader(f))[:200]


def write_csv(path, rows):
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f, quoting=csv.QUOTE_ALL).writerows(rows)
    return path


# -- values that are not values -----------------------------------------------------------------
@pytest.mark.parametrize("override, fragment", [
    ("optimizer.lr=???", "`optimizer.lr` has no value"),
    ("trainer.max_epochs=-1", "would train until you stop it"),
    ("trainer.max_epochs=abc", "`trainer.max_epochs=abc` is not a whole number"),
    ("+trainer.max_epoch=3", "Did you mean `trainer.max_epochs`?"),
    ("model=nope", "Could not find 'model/nope'"),
    ("paths.output_root=output_root_is_a_file/x", "Cannot create a run folder"),
    ("hparams_search=regression_optna", "there is no hparams_search/regression_optna.yaml. Available: "),
    ("data.weight=[日本]", "non-ASCII characters only inside quotes"),
    # Lightning divides by these while it steps (a ZeroDivisionError traceback after the folder was made).
    ("trainer.check_val_every_n_epoch=0", "trainer.check_val_every_n_epoch=0; use a whole number >= 1"),
    ("trainer.accumulate_grad_batches=0", "trainer.accumulate_grad_batches=0; use a whole number >= 1"),
    ("trainer.gradient_clip_val=-1", "trainer.gradient_clip_val=-1; use a number >= 0"),
    ("trainer.limit_train_batches=0", "0 would train nothing"),
    ("trainer.val_check_interval=0", "trainer.val_check_interval=0; use a whole number of batches >= 1"),
    ("trainer.limit_val_batches=0", "0 would never validate"),
    ("trainer.max_steps=0", "trainer.max_steps=0; use a whole number >= 1, or -1"),
])
def test_bad_values_are_refused_up_front(override, fragment, tmp_path, monkeypatch):
    (tmp_path / "output_root_is_a_file").write_text("")
    refused(cli("train", *TINY, override, cwd=tmp_path, monkeypatch=monkeypatch), fragment)
    assert run_folders(tmp_path) == []


@pytest.mark.parametrize("overrides", [["-m", "+trainer.max_epoch=3"], ["-m", "model=linear,nope"],
                                       ["model=linear,nope", "-m"]])
def test_sweep_composition_errors_exit_2_like_single_runs(overrides, tmp_path, monkeypatch):
    refused(cli("train", *TINY, *overrides, cwd=tmp_path, monkeypatch=monkeypatch))
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize("max_epochs", ["-1", "null"])
def test_no_limit_on_epochs_is_said_once_at_the_start(max_epochs, tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.WARNING, "expkit")
    result = cli("train", *TINY, "trainer=debug", f"trainer.max_epochs={max_epochs}", cwd=tmp_path, monkeypatch=monkeypatch)
    assert result.returncode == 0, result.output
    said = [r.getMessage() for r in caplog.records if "no limit on epochs" in r.getMessage()]
    assert len(said) == 1 and "trainer.max_steps=2 will stop the run" in said[0], said


def test_what_stops_a_run_without_an_epoch_number():
    from omegaconf import OmegaConf

    from expkit.validation import epoch_limit_notice

    def notice(**trainer):
        return epoch_limit_notice(OmegaConf.create({"max_steps": -1, **trainer}))

    assert notice(max_epochs=10) is None
    assert "1000 epochs" in notice(max_epochs=None)  # Lightning's default when nothing else stops it
    assert "trainer.max_time=00:01:00:00 will stop the run" in notice(max_epochs=None, max_time="00:01:00:00")
    assert "trainer.max_steps=5 or trainer.max_time=00:01:00:00" in notice(max_epochs=-1, max_steps=5, max_time="00:01:00:00")


def test_regression_task_on_text_data_is_refused(tmp_path, monkeypatch):
    refused(cli("train", "task=regression", "trainer=debug", cwd=tmp_path, monkeypatch=monkeypatch),
            "the task is regression", "is for classification")
    assert run_folders(tmp_path) == []


# -- a loss that is not a number ------------------------------------------------------------------
def test_non_finite_loss_stops_the_run(tmp_path, monkeypatch):
    # Batches of 8 (experiment=regression is full-batch): the second batch's loss is the first non-finite one.
    result = cli("train", *TINY, "data.batch_size=8", "optimizer.lr=1e30", cwd=tmp_path, monkeypatch=monkeypatch)
    refused(result, "at epoch 1, batch", "global step", "Lower optimizer.lr")
    (run_dir,) = run_folders(tmp_path)
    text = (run_dir / "metrics.json").read_text()
    metrics = json.loads(text, parse_constant=lambda c: pytest.fail(f"metrics.json holds {c}"))
    assert metrics["status"] == "failed" and "NonFiniteLoss" in metrics["error"]
    assert not list(run_dir.glob("checkpoints/*.ckpt")), "no checkpoint of NaN weights"


def test_non_finite_loss_keeps_the_last_good_checkpoint(finished_run, tmp_path, monkeypatch):
    import shutil

    import torch

    run_dir = tmp_path / "copy"
    shutil.copytree(finished_run, run_dir)
    # Resuming restores the optimizer's own state, lr included: set a diverging lr there.
    last = run_dir / "checkpoints" / "last.ckpt"
    ckpt = torch.load(last, weights_only=True)
    ckpt["optimizer_states"][0]["param_groups"][0]["lr"] = 1e30
    torch.save(ckpt, last)
    good = ckpt["state_dict"]
    result = cli("resume", str(run_dir), "trainer.max_epochs=4", cwd=tmp_path, monkeypatch=monkeypatch)
    refused(result, "at epoch 3")
    kept = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert all(torch.equal(kept[k], good[k]) for k in good)
    # Nothing new was saved, so the run's records are put back as they were (as for any failed resume).
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "finished" and metrics["epochs_done"] == 2


# -- data that is not data ------------------------------------------------------------------------
def test_all_empty_texts_are_refused(csv_rows, tmp_path, monkeypatch):
    path = write_csv(tmp_path / "empty.csv", [[r[0], "", " "] for r in csv_rows])
    refused(cli("train", *TEXT, f"data.train_path={path}", cwd=tmp_path, monkeypatch=monkeypatch),
            "the text of all 200 rows is empty")
    assert run_folders(tmp_path) == []


def test_unclosed_quote_is_an_error_at_its_line(csv_rows, tmp_path, monkeypatch):
    path = write_csv(tmp_path / "quote.csv", csv_rows)
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[9] = lines[9][:-1]  # row 10's last field loses its closing quote
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    refused(cli("train", *TEXT, f"data.train_path={path}", cwd=tmp_path, monkeypatch=monkeypatch), "quote.csv:10:")


def test_runaway_field_gives_its_line_and_a_long_document_loads(csv_rows, tmp_path, monkeypatch, caplog):
    huge = [list(r) for r in csv_rows]
    huge[4][2] = "x" * (10 * 1024 * 1024)
    refused(cli("train", *TEXT, f"data.train_path={write_csv(tmp_path / 'huge.csv', huge)}", cwd=tmp_path,
                monkeypatch=monkeypatch), "huge.csv:5:")
    long = [list(r) for r in csv_rows]
    long[4][2] = "a long article " * 20000  # 300,000 characters: over csv's default limit
    caplog.set_level(logging.INFO, "expkit")
    result = cli("train", *TEXT, f"data.train_path={write_csv(tmp_path / 'long.csv', long)}", cwd=tmp_path,
                 monkeypatch=monkeypatch)
    assert result.returncode == 0, result.output
    assert "long.csv: 200 rows read, 0 blank lines skipped, 0 refused" in caplog.text


def test_non_utf8_byte_in_csv_and_classes_file_gives_its_line(csv_rows, tmp_path, monkeypatch):
    path = write_csv(tmp_path / "latin1.csv", csv_rows)
    lines = path.read_bytes().split(b"\n")
    lines[6] = lines[6][:12] + b"\xe9" + lines[6][12:]
    path.write_bytes(b"\n".join(lines))
    refused(cli("train", *TEXT, f"data.train_path={path}", cwd=tmp_path, monkeypatch=monkeypatch),
            "latin1.csv:7: not UTF-8", "column 13")
    classes = tmp_path / "classes.txt"
    classes.write_bytes(open(packaged_data_path("dbpedia_sample/classes.txt"), "rb").read().replace(b"Artist", b"Artist\xe9"))
    refused(cli("train", *TEXT, f"data.classes_path={classes}", cwd=tmp_path, monkeypatch=monkeypatch),
            "classes.txt:3: not UTF-8")
    assert run_folders(tmp_path) == []


def test_nul_byte_and_one_class_csv_are_refused(csv_rows, tmp_path, monkeypatch):
    rows = [list(r) for r in csv_rows[:60]]
    rows[6][2] = "a text\x00with a NUL"
    nul = write_csv(tmp_path / "nul.csv", rows)
    refused(cli("train", *TEXT, f"data.train_path={nul}", cwd=tmp_path, monkeypatch=monkeypatch), "nul.csv:7: a NUL byte")
    one = write_csv(tmp_path / "one.csv", [r for r in csv_rows if r[0] == "3"])
    refused(cli("train", *TEXT, f"data.train_path={one}", cwd=tmp_path, monkeypatch=monkeypatch),
            "one.csv: every row has the label of", "at least 2 of the 14 classes")
    assert run_folders(tmp_path) == []


@pytest.mark.parametrize("edit, fragment", [
    (lambda names: names[:3] + [""] + names[3:], "classes.txt:4: a blank line among the class names"),
    (lambda names: names[:-1] + [names[0]], "classes.txt:14: the class name 'Company' is also on line 1"),
])
def test_classes_file_that_would_shift_labels_is_refused(edit, fragment, tmp_path, monkeypatch):
    names = open(packaged_data_path("dbpedia_sample/classes.txt"), encoding="utf-8").read().splitlines()
    classes = tmp_path / "classes.txt"
    classes.write_text("\n".join(edit(names)) + "\n\n")  # trailing blank lines are fine
    refused(cli("train", *TEXT, f"data.classes_path={classes}", cwd=tmp_path, monkeypatch=monkeypatch), fragment)
    assert run_folders(tmp_path) == []


@pytest.mark.parametrize("make, fragment", [
    (lambda p: os.mkfifo(p), "is a FIFO (named pipe), not a regular file"),
    (lambda p: os.symlink(p.name, p), "cannot be reached (Too many levels of symbolic links)"),
    (lambda p: os.symlink("gone.csv", p), "is a broken symbolic link (to gone.csv)"),
])
@pytest.mark.parametrize("key", ["data.train_path", "data.classes_path"])
def test_a_path_that_is_not_a_regular_file_is_named_for_what_it_is(make, fragment, key, tmp_path, monkeypatch):
    # A FIFO would block the read forever; "does not exist" would send the user looking for a typo.
    path = tmp_path / "data.csv"
    make(path)
    refused(cli("train", *TEXT, f"{key}={path}", cwd=tmp_path, monkeypatch=monkeypatch), f"{path} {fragment}")
    assert run_folders(tmp_path) == []


def test_leaked_test_rows_and_unused_classes_are_warned(csv_rows, tmp_path, monkeypatch, caplog):
    few = write_csv(tmp_path / "five.csv", [r for r in csv_rows if int(r[0]) <= 5])
    caplog.set_level(logging.WARNING, "expkit")
    result = cli("train", *TEXT, f"data.train_path={few}", f"data.test_path={few}", cwd=tmp_path,
                 monkeypatch=monkeypatch)
    assert result.returncode == 0, result.output
    n = sum(int(r[0]) <= 5 for r in csv_rows)
    assert f"of {n} test rows have the same text (tokens) as a training row" in caplog.text
    assert "has 14 class names but" in caplog.text and "uses only 5 of them" in caplog.text


def test_predict_refuses_empty_input_and_says_when_top_k_is_capped(csv_rows, tmp_path, monkeypatch, caplog):
    path = write_csv(tmp_path / "small.csv", csv_rows)
    trained = cli("train", "experiment=dbpedia_sample", "logger=none", "trainer=cpu", "trainer.max_epochs=1",
                  "callbacks.progress_bar=null", "paths.cache_dir=cache", f"data.train_path={path}",
                  cwd=tmp_path, monkeypatch=monkeypatch)
    assert trained.returncode == 0, trained.output
    (run_dir,) = run_folders(tmp_path)
    refused(cli("predict", str(run_dir), "", cwd=tmp_path, monkeypatch=monkeypatch), "input 1 is empty")
    refused(cli("predict", str(run_dir), "a band", "   ", cwd=tmp_path, monkeypatch=monkeypatch), "input 2 is empty")
    capped = cli("predict", str(run_dir), "a band from Texas", "--top-k", "50", cwd=tmp_path, monkeypatch=monkeypatch)
    assert capped.returncode == 0, capped.output
    assert "--top-k 50 capped at 14" in capped.stderr
    assert len(capped.stdout.strip().split("\t")) == 15  # 14 classes + the input
    # A text of words the vocabulary never saw is predicted, with a warning that says so.
    with caplog.at_level(logging.WARNING, logger="expkit"):
        unknown = cli("predict", str(run_dir), "zzqqxx qqzzxx", "a band from Texas", cwd=tmp_path, monkeypatch=monkeypatch)
    assert unknown.returncode == 0, unknown.output
    assert "1 of 2 inputs hold no word this model's vocabulary knows (input 1)" in caplog.text


# -- paths that cannot be used ------------------------------------------------------------------
def test_eval_out_folder_and_export_onto_a_file_are_refused(finished_run, tmp_path, monkeypatch):
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("keep me")
    refused(cli("eval", str(finished_run), "--out", "folder", cwd=tmp_path, monkeypatch=monkeypatch), "is a folder")
    refused(cli("export", str(finished_run), "file", cwd=tmp_path, monkeypatch=monkeypatch), "is a file")
    assert (tmp_path / "file").read_text() == "keep me" and not any((tmp_path / "folder").iterdir())


@pytest.mark.parametrize("out", ["metrics.json", ".hydra/config.yaml", "checkpoints/last.ckpt", "checkpoints/new.json",
                                 "link.json", "train.log"])
def test_eval_out_onto_a_runs_own_files_is_refused(out, finished_run, tmp_path, monkeypatch):
    # `--out RUN/metrics.json` replaced the run's record with eval's JSON; `eval` on it then failed.
    before = digests(finished_run)
    link = finished_run / "link.json"
    link.symlink_to("metrics.json")  # a link to a record is that record
    try:
        refused(cli("eval", str(finished_run), "--out", str(finished_run / out), cwd=tmp_path, monkeypatch=monkeypatch),
                "is inside the run folder", "Give another file name")
    finally:
        link.unlink()
    assert digests(finished_run) == before and not (finished_run / "checkpoints" / "new.json").exists()


def test_eval_out_may_be_a_new_file_at_the_top_of_the_run_folder(finished_run, tmp_path, monkeypatch):
    out = finished_run / "eval-again.json"
    result = cli("eval", str(finished_run), "--out", str(out), cwd=tmp_path, monkeypatch=monkeypatch)
    assert result.returncode == 0, result.output
    assert json.loads(out.read_text())["checkpoint"]
    out.unlink()


@pytest.mark.parametrize("damage", ["missing", "damaged"])
@pytest.mark.parametrize("command", ["reproduce", "resume"])
def test_missing_or_broken_config_snapshot(command, damage, finished_run, tmp_path, monkeypatch):
    import shutil

    run_dir = tmp_path / "copy"
    shutil.copytree(finished_run, run_dir)
    snapshot = run_dir / ".hydra" / "config.yaml"
    if damage == "missing":
        snapshot.unlink()
    else:
        snapshot.write_text("data: [unclosed\n")
    before = (run_dir / "metrics.json").read_bytes()
    refused(cli(command, str(run_dir), cwd=tmp_path, monkeypatch=monkeypatch), "config.yaml is " + damage)
    assert (run_dir / "metrics.json").read_bytes() == before
    assert not (tmp_path / "outputs").exists()


def test_paths_under_a_file_or_unwritable_are_refused(finished_run, tmp_path, monkeypatch):
    (tmp_path / "file").write_text("keep me")
    refused(cli("eval", str(finished_run), "--out", "file/eval.json", cwd=tmp_path, monkeypatch=monkeypatch),
            "file is a file, so no file can be written under it")
    refused(cli("export", str(finished_run), "file/export", cwd=tmp_path, monkeypatch=monkeypatch),
            "Cannot create file/export: Not a directory")
    refused(cli("export", str(finished_run), "/proc/expkit-export", cwd=tmp_path, monkeypatch=monkeypatch),
            "Cannot create /proc/expkit-export")
    assert (tmp_path / "file").read_text() == "keep me"


@pytest.mark.parametrize("content, fragment", [
    (b"", "EOFError, an empty or cut-off file"),
    (b"label,title,content\n1,a,b\n", "It is damaged or was not written by expkit"),
])
def test_damaged_checkpoint_file_is_one_paragraph(content, fragment, finished_run, tmp_path, monkeypatch):
    (tmp_path / "bad.ckpt").write_bytes(content)
    refused(cli("eval", str(finished_run), "--checkpoint", "bad.ckpt", "--out", "e.json", cwd=tmp_path,
                monkeypatch=monkeypatch), "Cannot load checkpoint bad.ckpt", fragment)
    refused(cli("eval", str(finished_run), "--checkpoint", str(tmp_path), cwd=tmp_path, monkeypatch=monkeypatch),
            "is a folder")
    assert not (tmp_path / "e.json").exists()


EDITED_RECORDS = [
    ("overrides.yaml", "{a: 1}\n", "does not hold a list of overrides"),
    ("overrides.yaml", "- : : [\n", "overrides.yaml is damaged"),
    ("resolved.yaml", None, "name=[1, 2] is not a run name"),
]


@pytest.mark.parametrize("command, name, content, fragment", [
    *[("reproduce", *case) for case in EDITED_RECORDS],
    *[("resume", *case) for case in EDITED_RECORDS],
    # Only resume continues the original's record (its wall time).
    ("resume", "metrics.json", '{"status": "finished", "wall_time_s": "abc"}', "wall_time_s='abc' is not a number"),
])
def test_edited_run_records_are_refused_before_anything_is_written(command, name, content, fragment, finished_run,
                                                                   tmp_path, monkeypatch):
    import shutil

    from inprocess import digests

    run_dir = tmp_path / "copy"
    shutil.copytree(finished_run, run_dir)
    path = run_dir / (name if name == "metrics.json" else f".hydra/{name}")
    if content is None:  # the run's name, edited into a list
        text = path.read_text()
        path.write_text("name: [1, 2]\n" + "\n".join(line for line in text.splitlines() if not line.startswith("name:")))
    else:
        path.write_text(content)
    before = digests(run_dir)
    args = ["trainer.max_epochs=3"] if command == "resume" else []
    refused(cli(command, str(run_dir), *args, cwd=tmp_path, monkeypatch=monkeypatch), fragment)
    assert digests(run_dir) == before
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize("module, fragment", [
    ("subprocess", "is not your own code"),
    ("builtins", "is not your own code"),
    ("torch", "is not your own code"),
    ("no_such_package_xyz", "no module named 'no_such_package_xyz' can be imported"),
])
def test_trust_module_is_only_for_your_own_importable_code(module, fragment, finished_run, tmp_path, monkeypatch):
    refused(cli("eval", str(finished_run), "--trust-module", module, "--out", "e.json", cwd=tmp_path,
                monkeypatch=monkeypatch), f"--trust-module: ", fragment)
    assert not (tmp_path / "e.json").exists()


@pytest.mark.parametrize("row, fragment", [
    ("nan", "not a finite number"),
    ("1e400", "not a finite number"),
    ("1e39", "beyond float32's range"),
    ("1,", "has an empty field"),
])
def test_predict_refuses_numbers_that_are_not_numbers(row, fragment, finished_run, tmp_path, monkeypatch):
    refused(cli("predict", str(finished_run), "0.5", row, cwd=tmp_path, monkeypatch=monkeypatch), "input 2", fragment)


def test_broken_yaml_in_your_config_dir_names_its_file_and_line(tmp_path, monkeypatch):
    (tmp_path / "mine" / "model").mkdir(parents=True)
    (tmp_path / "mine" / "model" / "broken.yaml").write_text("_target_: x.Y\nwidth: [1, 2\n")
    refused(cli("train", "--config-dir", "mine", *TINY, "model=broken", cwd=tmp_path, monkeypatch=monkeypatch),
            "broken.yaml\", line 2", "Fix the YAML there")
    assert run_folders(tmp_path) == []


# Nine levels of ten aliases: 10**9 values from a 1 KB file (OmegaConf.load ran for minutes on it).
ALIAS_BOMB = "\n".join(["l0: &a0 [x, x, x, x, x, x, x, x, x, x]"] + [
    f"l{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]) + "\n"


# `runs` lists a run whose config cannot be read without its config; the others do not read these files.
UNREAD = {("eval", "config.yaml"), ("eval", "overrides.yaml"), ("diff", "config.yaml"), ("diff", "overrides.yaml"),
          *(("runs", name) for name in ("config.yaml", "resolved.yaml", "overrides.yaml"))}


@pytest.mark.parametrize("name", ["config.yaml", "resolved.yaml", "overrides.yaml"])
@pytest.mark.parametrize("command", ["eval", "resume", "reproduce", "diff", "runs"])
def test_yaml_alias_bomb_in_a_run_folder_is_refused_at_once(command, name, finished_run, tmp_path, monkeypatch):
    import shutil

    run_dir = tmp_path / "outputs" / "regression" / "copy"
    shutil.copytree(finished_run, run_dir)
    path = run_dir / ".hydra" / name
    path.write_text(ALIAS_BOMB + ("" if name == "overrides.yaml" else path.read_text()))
    before = digests(run_dir)
    args = {"eval": [str(run_dir), "--out", str(tmp_path / "e.json")], "resume": [str(run_dir), "trainer.max_epochs=3"],
            "reproduce": [str(run_dir)], "diff": [str(run_dir), str(finished_run)], "runs": ["outputs"]}[command]
    result = cli(command, *args, cwd=tmp_path, monkeypatch=monkeypatch)
    assert "Traceback" not in result.output
    if result.returncode == 0:  # only a command that does not read the file goes on
        assert (command, name) in UNREAD, result.output
    else:
        refused(result, "copy/.hydra/")
        assert "found the YAML alias *a" in result.stderr or "is damaged" in result.stderr, result.stderr
    assert digests(run_dir) == before
    assert [p.name for p in (tmp_path / "outputs" / "regression").iterdir()] == ["copy"]


@pytest.mark.parametrize("sweep, says", [
    ("optimizer.lr=range(0.01,0.05,step=0.0)", "the range gives no values Hydra can sweep"),
    ("optimizer.lr=range(0.05,0.01,step=0.01)", "optimizer.lr sweeps no value at all"),
])
def test_a_range_that_sweeps_nothing_is_one_paragraph(sweep, says, tmp_path, monkeypatch):
    refused(cli("train", "-m", *TINY, sweep, cwd=tmp_path, monkeypatch=monkeypatch), says)
    assert run_folders(tmp_path) == []


def test_several_directions_for_one_metric_are_named(tmp_path, monkeypatch):
    refused(cli("train", *TINY, "hparams_search=regression_optuna", "hydra.sweeper.direction=[minimize,maximize]",
                cwd=tmp_path, monkeypatch=monkeypatch), "gives 2 directions for one metric (val/loss)")


@pytest.mark.parametrize("value, says", [
    ("[features]", "_input_format_=['features'] is not a layout's name: give one of ['features']"),
    ("nonsense", "takes 'nonsense' batches (its YAML's _input_format_), but data module"),
])
def test_a_wrong_input_format_names_the_layouts(value, says, tmp_path, monkeypatch):
    refused(cli("train", *TINY, "model=torch_linear", f"model._input_format_={value}", cwd=tmp_path,
                monkeypatch=monkeypatch), says, "model._input_format_=features")
    assert run_folders(tmp_path) == []
