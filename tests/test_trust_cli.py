"""No code runs from a file that came from elsewhere (issue 9, point 1), through the real CLI.

A real run folder and a real export are made once; each test copies one, plants a payload in
`.hydra/config.yaml`, `.hydra/resolved.yaml` or the export's `config.json`, runs the command that
reads it, and checks: exit code 2, one `error:` line naming the key and the target, no
traceback, and that the payload's side effect did not happen (a canary file is neither emptied
nor created, no run folder appears, the run's records are unchanged).

The payloads are harmless stand-ins for the issue's: a pickle that, when loaded, opens a file of
this test's tmp folder for writing (numpy.load allow_pickle, torch.load weights_only false), and
`builtins.open` in mode w on a canary file.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import textwrap
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from conftest import run_cli
from expkit.trust import check_config_targets, check_export_config

# Every test here starts CLI processes or trains for real.
pytestmark = pytest.mark.slow

SNAPSHOT, RESOLVED = ".hydra/config.yaml", ".hydra/resolved.yaml"
TEXT = "Hornby railway is a train model brand from England."


class _OpenOnUnpickle:
    """Unpickling this calls open(path, "w"): the file appears only if the pickle was loaded."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


class Payload:
    """A `_target_` node whose side effect the test can see, and the check that it did not happen."""

    def __init__(self, kind: str, tmp: Path) -> None:
        self.created = tmp / f"created-by-{kind}.txt"
        self.keep = tmp / "keep.txt"
        self.keep.write_text("keep me\n")
        if kind == "numpy_pickle":
            path = tmp / "payload.npy"
            path.write_bytes(pickle.dumps(_OpenOnUnpickle(self.created)))  # np.load falls back to pickle
            self.target, self.args = "numpy.load", {"file": str(path), "allow_pickle": True}
        elif kind == "torch_pickle":
            import torch

            path = tmp / "payload.pt"
            torch.save(_OpenOnUnpickle(self.created), path)
            self.target, self.args = "torch.load", {"f": str(path), "weights_only": False}
        elif kind == "open_w":
            self.target, self.args = "builtins.open", {"file": str(self.keep), "mode": "w"}
        else:
            raise ValueError(kind)

    @property
    def node(self) -> dict:
        return {"_target_": self.target, **self.args}

    def assert_did_not_run(self) -> None:
        assert not self.created.exists(), "the pickle payload was loaded"
        assert self.keep.read_text() == "keep me\n", "the canary file was opened for writing"


def plant(file: Path, key: str, value) -> None:
    """Set `key` (dotted) in a YAML file, keeping its interpolations as written."""
    cfg = OmegaConf.load(file)
    OmegaConf.update(cfg, key, value, merge=False, force_add=True)
    file.write_text(OmegaConf.to_yaml(cfg))


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_refused(result, key: str, target: str) -> str:
    """Exit 2, one paragraph naming the key and the target, no traceback."""
    assert result.returncode == 2, result.output
    assert "Traceback" not in result.output, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert f"`{key}`" in errors[0] and target in errors[0], errors[0]
    return errors[0]


@pytest.fixture(scope="module")
def regression_run(tmp_path_factory) -> Path:
    cwd = tmp_path_factory.mktemp("trust-regression")
    result = run_cli("train", "experiment=regression", "trainer.max_epochs=1", cwd=cwd)
    assert result.returncode == 0, result.output
    (run_dir,) = result.run_dirs("regression")
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    return run_dir


@pytest.fixture(scope="module")
def text_run(tmp_path_factory) -> tuple[Path, Path]:
    """A briefly trained text classifier and its export."""
    cwd = tmp_path_factory.mktemp("trust-text")
    short = ["trainer.max_epochs=1", "trainer.limit_train_batches=2", "trainer.limit_val_batches=2",
             "trainer.limit_test_batches=2", "paths.cache_dir=cache"]
    result = run_cli("train", *short, cwd=cwd)
    assert result.returncode == 0, result.output
    (run_dir,) = result.run_dirs("dbpedia_sample")
    export = cwd / "export"
    result = run_cli("export", str(run_dir), str(export), cwd=cwd)
    assert result.returncode == 0, result.output
    return run_dir, export


def copy_run(run_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "runs" / run_dir.name
    shutil.copytree(run_dir, copy)
    return copy


# ---------------------------------------------------------------- what expkit writes passes


def test_a_real_run_and_export_pass_the_checks(regression_run, text_run):
    for run_dir in (regression_run, text_run[0]):
        for name in (SNAPSHOT, RESOLVED):
            check_config_targets(OmegaConf.load(run_dir / name), str(run_dir / name))
    config = text_run[1] / "config.json"
    check_export_config(json.loads(config.read_text()), str(config))


# ---------------------------------------------------- payloads in run folders, per command


@pytest.mark.parametrize("kind,key", [
    ("numpy_pickle", "data"),
    ("open_w", "callbacks.evil"),
    ("torch_pickle", "optimizer"),
])
def test_eval_refuses_a_payload_in_resolved_yaml(regression_run, tmp_path, kind, key):
    run = copy_run(regression_run, tmp_path)
    payload = Payload(kind, tmp_path)
    plant(run / RESOLVED, key, payload.node)
    result = run_cli("eval", str(run), cwd=tmp_path)
    assert_refused(result, f"{key}._target_", payload.target)
    payload.assert_did_not_run()
    assert not (run / "eval.json").exists()


@pytest.mark.parametrize("kind,key", [("open_w", "data"), ("numpy_pickle", "model")])
def test_predict_refuses_a_payload_in_a_run_folder(text_run, tmp_path, kind, key):
    run = copy_run(text_run[0], tmp_path)
    payload = Payload(kind, tmp_path)
    plant(run / RESOLVED, key, payload.node)
    result = run_cli("predict", str(run), TEXT, cwd=tmp_path)
    assert_refused(result, f"{key}._target_", payload.target)
    payload.assert_did_not_run()


@pytest.mark.parametrize("file,kind,key,value_key", [
    (SNAPSHOT, "torch_pickle", "trainer.plugins[0]._target_", "trainer.plugins"),
    (SNAPSHOT, "numpy_pickle", "data._target_", "data"),
    (SNAPSHOT, "open_w", "model._args_[0]._target_", "model._args_"),
    (RESOLVED, "open_w", "logger.evil._target_", "logger.evil"),
])
def test_reproduce_refuses_a_payload(regression_run, tmp_path, file, kind, key, value_key):
    run = copy_run(regression_run, tmp_path)
    payload = Payload(kind, tmp_path)
    node = [payload.node] if value_key.endswith(("plugins", "_args_")) else payload.node
    plant(run / file, value_key, node)
    result = run_cli("reproduce", str(run), cwd=tmp_path)
    assert_refused(result, key, payload.target)
    payload.assert_did_not_run()
    assert not (tmp_path / "outputs").exists(), "reproduce made a run folder"


@pytest.mark.parametrize("file,kind,key", [
    (SNAPSHOT, "open_w", "callbacks.evil"),
    (SNAPSHOT, "torch_pickle", "task.loss_fn"),
    (RESOLVED, "numpy_pickle", "data"),
])
def test_resume_refuses_a_payload_and_leaves_the_run_as_it_was(regression_run, tmp_path, file, kind, key):
    run = copy_run(regression_run, tmp_path)
    payload = Payload(kind, tmp_path)
    plant(run / file, key, payload.node)
    before = files_of(run)
    result = run_cli("resume", str(run), "trainer.max_epochs=2", cwd=tmp_path)
    assert_refused(result, f"{key}._target_", payload.target)
    payload.assert_did_not_run()
    assert files_of(run) == before, "resume changed the run's files"


def test_reproduce_refuses_hydra_settings_in_a_snapshot(regression_run, tmp_path):
    # Hydra callbacks, launchers and logging handlers run code; a snapshot never holds them.
    run = copy_run(regression_run, tmp_path)
    payload = Payload("open_w", tmp_path)
    plant(run / SNAPSHOT, "hydra", {"callbacks": {"evil": payload.node}})
    result = run_cli("reproduce", str(run), cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.output, result.output
    assert "`hydra`" in result.stderr
    payload.assert_did_not_run()
    assert not (tmp_path / "outputs").exists()


def test_reproduce_refuses_a_resolver_that_creates_folders(regression_run, tmp_path):
    run = copy_run(regression_run, tmp_path)
    stamped = tmp_path / "stamped"
    plant(run / SNAPSHOT, "paths.data_dir", f"${{expkit_stamp:{stamped}}}")
    result = run_cli("reproduce", str(run), cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.output, result.output
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "`paths.data_dir`" in error and "expkit_stamp" in error
    assert not stamped.exists(), "the resolver ran"
    assert not (tmp_path / "outputs").exists()


# ------------------------------------------------------------------------- payloads in exports


def copy_export(export: Path, tmp_path: Path, **changes) -> Path:
    copy = tmp_path / "export"
    shutil.copytree(export, copy)
    config = json.loads((copy / "config.json").read_text())
    config.update(changes)
    (copy / "config.json").write_text(json.dumps(config))
    return copy


def test_predict_on_an_untouched_export_works(text_run, tmp_path):
    result = run_cli("predict", str(copy_export(text_run[1], tmp_path)), TEXT, cwd=tmp_path)
    assert result.returncode == 0, result.output


def test_predict_refuses_builtins_print_as_architecture(text_run, tmp_path):
    export = copy_export(text_run[1], tmp_path, architecture="builtins.print", model_args={"end": "PAYLOAD-RAN"})
    result = run_cli("predict", str(export), TEXT, cwd=tmp_path)
    assert_refused(result, "architecture", "builtins.print")
    assert "PAYLOAD-RAN" not in result.output


@pytest.mark.parametrize("kind", ["open_w", "torch_pickle"])
def test_predict_refuses_a_payload_as_architecture(text_run, tmp_path, kind):
    payload = Payload(kind, tmp_path)
    export = copy_export(text_run[1], tmp_path, architecture=payload.target, model_args=payload.args)
    result = run_cli("predict", str(export), TEXT, cwd=tmp_path)
    assert_refused(result, "architecture", payload.target)
    payload.assert_did_not_run()


def test_predict_refuses_a_payload_nested_in_model_args(text_run, tmp_path):
    payload = Payload("open_w", tmp_path)
    config = json.loads((text_run[1] / "config.json").read_text())
    export = copy_export(text_run[1], tmp_path, model_args={**config["model_args"], "embed_dim": payload.node})
    result = run_cli("predict", str(export), TEXT, cwd=tmp_path)
    assert_refused(result, "model_args.embed_dim._target_", "builtins.open")
    payload.assert_did_not_run()


# ----------------------------------------------------------------- the user's own modules


@pytest.fixture(scope="module")
def user_run(tmp_path_factory) -> tuple[Path, dict]:
    """A run whose model is a class of the user's own package `trustpkg_cli`."""
    cwd = tmp_path_factory.mktemp("trust-user")
    pkg = cwd / "src" / "trustpkg_cli"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "models.py").write_text(textwrap.dedent("""
        from expkit.models.regression import LinearRegressor

        class Line(LinearRegressor):
            \"\"\"The user's own model (a linear layer).\"\"\"
    """))
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(cwd / "src"), os.environ.get("PYTHONPATH")]))}
    result = run_cli("train", "experiment=regression", "trainer.max_epochs=1", "model._target_=trustpkg_cli.models.Line",
                     cwd=cwd, env=env)
    assert result.returncode == 0, result.output
    (run_dir,) = result.run_dirs("regression")
    return run_dir, env


def test_a_users_module_needs_trust_module(user_run, tmp_path):
    run_dir, env = user_run
    result = run_cli("eval", str(run_dir), "--out", str(tmp_path / "eval.json"), cwd=tmp_path, env=env)
    error = assert_refused(result, "model._target_", "trustpkg_cli.models.Line")
    assert "--trust-module trustpkg_cli" in error
    result = run_cli("eval", str(run_dir), "--trust-module", "trustpkg_cli", "--out", str(tmp_path / "eval.json"),
                     cwd=tmp_path, env=env)
    assert result.returncode == 0, result.output
    assert (tmp_path / "eval.json").is_file()


def test_a_run_folder_cannot_trust_its_own_modules(user_run, tmp_path):
    run_dir, env = user_run
    run = copy_run(run_dir, tmp_path)
    plant(run / RESOLVED, "trusted_modules", ["trustpkg_cli"])
    result = run_cli("eval", str(run), cwd=tmp_path, env=env)
    error = assert_refused(result, "model._target_", "trustpkg_cli.models.Line")
    assert "cannot vouch for itself" in error
