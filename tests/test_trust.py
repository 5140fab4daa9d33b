"""expkit.trust: what a config from a run folder or an export may build (issue 9, point 1).

In-process and fast: each case is one call of the check. The CLI-level tests, which plant the
same payloads into a real run folder and export, are in test_trust_cli.py.
"""

from __future__ import annotations

import importlib
import itertools
import sys
import textwrap
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from expkit.config_files import conf_dir, experiments_dir
from expkit.errors import ConfigError, ExpkitError
from expkit.run.stamp import register_resolvers
from expkit.trust import (
    UntrustedConfigError,
    check_architecture,
    check_config_targets,
    check_export_config,
    conf_trusted_modules,
    trusted_modules_from,
    validate_module_names,
)

SOURCE = "outputs/regression/2026-01-01_00-00-00/.hydra/config.yaml"

# The issue's three payloads, and other ways of running code through a `_target_`.
PAYLOADS = {
    "numpy.load": {"file": "/tmp/payload.npy", "allow_pickle": True},
    "torch.load": {"f": "/tmp/payload.pt", "weights_only": False},
    "builtins.open": {"file": "/tmp/canary.txt", "mode": "w"},
    "builtins.print": {"_args_": ["ran"]},
    "builtins.eval": {"_args_": ["1"]},
    "builtins.exec": {"_args_": ["x = 1"]},
    "builtins.__import__": {"_args_": ["os"]},
    "os.system": {"_args_": ["true"]},
    "posix.system": {"_args_": ["true"]},  # the name os.system has on Linux, which Hydra also knows
    "subprocess.call": {"args": ["true"]},
    "subprocess.Popen": {"args": ["true"]},
    "importlib.import_module": {"name": "os"},
    "operator.attrgetter": {"_args_": ["system"]},
    "_operator.attrgetter": {"_args_": ["system"]},
    "functools.partial": {"_args_": []},
    "pickle.loads": {"_args_": [""]},
    "shutil.rmtree": {"path": "/tmp/x"},
    "hydra.utils.instantiate": {"config": {"_target_": "torch.optim.SGD"}},
    "hydra.utils.get_method": {"path": "os.system"},
    "expkit.files.write_text_atomic": {"path": "/tmp/x", "text": ""},
}


def _payload(target: str) -> dict:
    return {"_target_": target, **PAYLOADS[target]}


def _base() -> dict:
    """A config shaped like a run's snapshot, every `_target_` in it allowed."""
    return {
        "data": {"_target_": "expkit.data.regression.RegressionDataModule", "n_samples": 10},
        "model": {"_target_": "expkit.models.regression.LinearRegressor", "_partial_": True},
        "optimizer": {"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.1},
        "trainer": {"_target_": "pytorch_lightning.Trainer", "max_epochs": 1, "plugins": [
            {"_target_": "pytorch_lightning.plugins.environments.LightningEnvironment"}]},
        "callbacks": {"model_checkpoint": {"_target_": "pytorch_lightning.callbacks.ModelCheckpoint"}},
        "logger": {"csv": {"_target_": "pytorch_lightning.loggers.CSVLogger", "save_dir": "x"}},
    }


# Where a payload is planted, and the key path the refusal must name.
def _at_group(cfg, node):
    cfg["data"] = node
    return "data._target_"


def _at_callback(cfg, node):
    cfg["callbacks"]["evil"] = node
    return "callbacks.evil._target_"


def _at_logger(cfg, node):
    cfg["logger"]["evil"] = node
    return "logger.evil._target_"


def _at_plugin_list(cfg, node):
    cfg["trainer"]["plugins"].append(node)
    return "trainer.plugins[1]._target_"


def _at_args(cfg, node):
    cfg["optimizer"]["_args_"] = [node]
    return "optimizer._args_[0]._target_"


def _at_partial_kwarg(cfg, node):
    cfg["model"]["activation"] = {**node, "_partial_": True}
    return "model.activation._target_"


def _deep(cfg, node):
    cfg["model"]["blocks"] = [{"inner": [[{"deeper": node}]]}]
    return "model.blocks[0].inner[0][0].deeper._target_"


PLACES = [_at_group, _at_callback, _at_logger, _at_plugin_list, _at_args, _at_partial_kwarg, _deep]


def refusal(cfg, trusted=(), source=SOURCE) -> str:
    with pytest.raises(UntrustedConfigError) as err:
        check_config_targets(cfg, source, trusted)
    message = str(err.value)
    assert "\n" not in message  # one paragraph
    assert message.startswith(source)
    return message


def test_the_refusal_is_an_expkit_error():
    # The CLI prints ExpkitErrors as one paragraph and exits 2, without a traceback.
    assert issubclass(UntrustedConfigError, ExpkitError)


@pytest.mark.parametrize("target,place", list(itertools.product(PAYLOADS, PLACES)),
                         ids=[f"{t}-{p.__name__}" for t, p in itertools.product(PAYLOADS, PLACES)])
def test_payloads_refused_at_any_depth(target, place):
    cfg = _base()
    key = place(cfg, _payload(target))
    message = refusal(cfg)
    assert f"`{key}`" in message and repr(target) in message


@pytest.mark.parametrize("target", ["numpy.load", "torch.load", "builtins.open"])
def test_issue_payloads_refused_in_a_dictconfig(target):
    cfg = OmegaConf.create(_base())
    cfg.data = _payload(target)
    assert "`data._target_`" in refusal(cfg)


@pytest.mark.parametrize("target", [
    "torch.optimevil.X", "torch.optim_x.SGD", "expkitx.Model", "expkit_evil.models.Net",
    "pytorch_lightning_evil.X", "torchmetricsx.Accuracy", "lightning_fabricx.X", "lightningx.pytorch.Trainer",
])
def test_near_miss_module_names_refused(target):
    cfg = _base()
    cfg["model"] = {"_target_": target}
    # Refused by the string check (a missing module would otherwise be "cannot be imported").
    assert "not on the allow-list" in refusal(cfg)


@pytest.mark.parametrize("target", [
    " torch.optim.SGD", "torch.optim.SGD ", "torch.optim..SGD", ".torch.optim.SGD", "torch.optim.SGD()",
    "torch/optim/SGD", "", "torch.optim.SGD\nimport os",
])
def test_malformed_names_refused(target):
    message = refusal({"optimizer": {"_target_": target}})
    assert "not a dotted class name" in message


@pytest.mark.parametrize("target", ["expkit.__main__.main", "expkit.__main__", "expkit.models.__main__.X"])
def test_a_main_module_is_refused_before_it_is_imported(target, monkeypatch):
    # Importing a package's __main__ runs it: `expkit.__main__` would run the CLI again with this
    # process's argv (here --version, which would exit). Refused on the string, before any import.
    monkeypatch.setattr(sys, "argv", ["expkit", "--version"])
    sys.modules.pop("expkit.__main__", None)
    assert "`__main__` module" in refusal({"optimizer": {"_target_": target}})
    assert "expkit.__main__" not in sys.modules


def test_importing_expkits_main_module_does_not_run_the_cli(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["expkit", "--version"])
    sys.modules.pop("expkit.__main__", None)
    importlib.import_module("expkit.__main__")  # would raise SystemExit if it ran the CLI
    sys.modules.pop("expkit.__main__", None)


@pytest.mark.parametrize("value", [5, None, ["torch.optim.SGD"], {"_target_": "torch.optim.SGD"}, True])
def test_a_target_that_is_not_a_string_is_refused(value):
    assert "must be a string" in refusal({"optimizer": {"_target_": value}})


@pytest.mark.parametrize("target,why", [
    # Functions and methods under allowed prefixes: only classes are built.
    ("expkit.files.write_text_atomic", "a function"),
    ("expkit.files.atomic_open", "a function"),
    ("expkit.runs.loading.load_checkpoint", "a function"),
    ("pytorch_lightning.utilities.rank_zero.rank_zero_only", "a function"),
    ("pytorch_lightning.seed_everything", "a function"),
    ("pytorch_lightning.LightningModule.load_from_checkpoint", "a function"),
    ("torchmetrics.functional.accuracy", "a function"),
    ("torch.optim.Adam.__init__", "a function"),
    ("torch.optim.Optimizer.zero_grad", "a function"),
    # Another package's names, reached through an allowed module's imports.
    ("pytorch_lightning.callbacks.model_checkpoint.torch.load", "a function"),
    ("expkit.models.text.torch.load", "a function"),
    ("expkit.run.stamp.os.makedirs", "a function"),
    ("expkit.components.functools.partial", "not an expkit component class"),
    ("expkit.models.regression.nn.Module", "not an expkit component class"),
    ("pytorch_lightning.callbacks.model_checkpoint.torch.optim.SGD", "not a Lightning"),
    ("torch.optim.Optimizer.__class__", "not a torch optimizer"),
    ("expkit.runs.sweep.Path", "not an expkit component class"),
    # Classes of the right package that are not components.
    ("expkit.text.vocab.Vocab", "subclasses none of"),
    ("expkit.data.sampling.EpochShuffleSampler", "subclasses none of"),
    ("torch.optim.swa_utils.AveragedModel", "subclasses none of"),
    ("pytorch_lightning.LightningModule", "subclasses none of"),
    ("torchmetrics.utilities.data.Tensor", "not a torchmetrics"),
    # Modules and plain values.
    ("torch.optim.sgd", "a module"),
    ("expkit.models.regression.ACTIVATIONS", "a dict object"),
])
def test_allowed_prefix_but_not_a_component_is_refused(target, why):
    message = refusal({"callbacks": {"x": {"_target_": target}}})
    assert "`callbacks.x._target_`" in message and why in message


@pytest.mark.parametrize("target", [
    "torch.optim.SGD", "torch.optim.sgd.SGD", "torch.optim.AdamW", "torch.optim.Optimizer",
    "torch.optim.lr_scheduler.StepLR", "torch.optim.lr_scheduler.ReduceLROnPlateau", "torch.optim.lr_scheduler.LambdaLR",
    "pytorch_lightning.Trainer", "pytorch_lightning.trainer.trainer.Trainer", "pytorch_lightning.callbacks.EarlyStopping",
    "pytorch_lightning.callbacks.ModelCheckpoint", "pytorch_lightning.loggers.TensorBoardLogger",
    "pytorch_lightning.loggers.CSVLogger", "pytorch_lightning.plugins.environments.SLURMEnvironment",
    "pytorch_lightning.plugins.precision.DoublePrecision", "pytorch_lightning.plugins.TorchCheckpointIO",
    "pytorch_lightning.strategies.SingleDeviceStrategy", "pytorch_lightning.profilers.SimpleProfiler",
    "torchmetrics.classification.MulticlassAccuracy", "torchmetrics.MeanSquaredError", "torchmetrics.MetricCollection",
    "expkit.optimizers.LazyAdam", "expkit.run.pruning.OptunaPruning", "expkit.runs.sweep.SweepSummary",
    "expkit.data.text.TextClassificationDataModule", "expkit.data.text.DBpediaDataModule",
    "expkit.tasks.classification.ClassificationTask", "expkit.models.text.LSTMClassifier",
])
def test_components_pass(target):
    cfg = _base()
    cfg["callbacks"]["x"] = {"_target_": target, "_partial_": True}
    cfg["trainer"]["plugins"].append({"_target_": target})
    check_config_targets(cfg, SOURCE)


def test_nothing_is_imported_before_every_target_string_passed(tmp_path, monkeypatch):
    # A trusted module that writes a file when imported: it must not be imported when a later key
    # of the same file is refused (the string checks come first, the imports after).
    pkg = tmp_path / "trust_canary_pkg"
    pkg.mkdir()
    canary = tmp_path / "imported.txt"
    (pkg / "__init__.py").write_text(f"open({str(canary)!r}, 'w').close()\nclass Net:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = {"model": {"_target_": "trust_canary_pkg.Net"}, "callbacks": {"evil": {"_target_": "builtins.open"}}}
    assert "`callbacks.evil._target_`" in refusal(cfg, trusted=["trust_canary_pkg"])
    assert not canary.exists() and "trust_canary_pkg" not in sys.modules
    check_config_targets({"model": {"_target_": "trust_canary_pkg.Net"}}, SOURCE, ["trust_canary_pkg"])
    assert canary.exists()  # trusted: imported once everything passed
    sys.modules.pop("trust_canary_pkg")


def test_an_unknown_name_under_an_allowed_prefix_is_a_config_error():
    with pytest.raises(ConfigError, match=r"`optimizer._target_` names 'torch.optim.NoSuchOptimizer', which cannot be imported"):
        check_config_targets({"optimizer": {"_target_": "torch.optim.NoSuchOptimizer"}}, SOURCE)


# --------------------------------------------------------------------------- the user's modules


@pytest.fixture
def user_pkg(tmp_path, monkeypatch):
    """A user's package `trustpkg_user` with a model class, a builder function and an `import os`."""
    pkg = tmp_path / "trustpkg_user"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "models.py").write_text(textwrap.dedent("""
        import os
        from torch import nn

        class Net(nn.Module):
            def __init__(self, width=2):
                super().__init__()
                self.fc = nn.Linear(width, 1)

        def build(width=2):
            return Net(width)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "trustpkg_user"
    for name in [m for m in sys.modules if m.startswith("trustpkg_user")]:
        sys.modules.pop(name)


def test_user_module_refused_unless_trusted(user_pkg):
    cfg = {"model": {"_target_": "trustpkg_user.models.Net", "_partial_": True}}
    message = refusal(cfg)
    assert "--trust-module trustpkg_user" in message
    check_config_targets(cfg, SOURCE, trusted_modules=["trustpkg_user"])
    check_config_targets(cfg, SOURCE, trusted_modules=["trustpkg_user.models"])
    check_config_targets({"model": {"_target_": "trustpkg_user.models.build"}}, SOURCE, ["trustpkg_user"])


def test_a_module_trusted_by_the_users_conf_is_allowed(user_pkg, tmp_path, monkeypatch):
    """`trusted_modules` in the user's own conf/train.yaml counts as --trust-module for every
    command that reads a run folder or an export."""
    import expkit.config_files

    cfg = {"model": {"_target_": "trustpkg_user.models.Net", "_partial_": True}}
    conf = tmp_path / "userconf"
    conf.mkdir()
    (conf / "train.yaml").write_text("trusted_modules: [trustpkg_user]\n")
    monkeypatch.setattr(expkit.config_files, "conf_dir", lambda: conf)
    check_config_targets(cfg, SOURCE)
    check_architecture("trustpkg_user.models.Net", SOURCE)
    (conf / "train.yaml").write_text("trusted_modules: []\n")
    assert "--trust-module trustpkg_user" in refusal(cfg)


def test_trusting_a_module_does_not_trust_what_it_imported(user_pkg):
    message = refusal({"model": {"_target_": "trustpkg_user.models.os.system"}}, trusted=["trustpkg_user"])
    assert "not of the trusted module trustpkg_user" in message


def test_trusting_a_module_does_not_trust_a_near_miss(user_pkg):
    refusal({"model": {"_target_": "trustpkg_userx.models.Net"}}, trusted=["trustpkg_user"])
    refusal({"model": {"_target_": "trustpkg_user.modelsx.Net"}}, trusted=["trustpkg_user.models"])


def test_a_file_cannot_trust_its_own_modules(user_pkg):
    cfg = {"trusted_modules": ["trustpkg_user"], "model": {"_target_": "trustpkg_user.models.Net"}}
    message = refusal(cfg)
    assert "cannot vouch for itself" in message and "--trust-module trustpkg_user" in message
    assert "trustpkg_user" not in sys.modules


@pytest.mark.parametrize("name", ["", "a b", "../mypkg", "mypkg.", ".mypkg", "my-pkg", "mypkg;rm", 3])
def test_bad_trusted_module_names_refused(name):
    with pytest.raises(ConfigError):
        validate_module_names([name], "--trust-module")


def test_trusted_modules_from_the_users_conf(tmp_path):
    (tmp_path / "train.yaml").write_text("defaults:\n  - _self_\ntrusted_modules: [mypkg, other.models]\nseed: 1\n")
    assert conf_trusted_modules(tmp_path) == ("mypkg", "other.models")
    assert trusted_modules_from({"seed": 1}, "conf/train.yaml") == ()
    assert conf_trusted_modules(conf_dir()) == ()  # the repository's own conf/ trusts nothing extra
    with pytest.raises(ConfigError, match="must be a list"):
        trusted_modules_from({"trusted_modules": "mypkg"}, "conf/train.yaml")


# ------------------------------------------------------------- Hydra's keys and interpolations


@pytest.mark.parametrize("key,value", [
    ("hydra", {"callbacks": {"evil": {"_target_": "expkit.runs.sweep.SweepSummary"}}}),
    ("hydra", {"searchpath": ["file:///tmp"]}),
    ("hydra", {"job_logging": {"handlers": {"evil": {"()": "builtins.open"}}}}),
    ("defaults", ["_self_", {"override hydra/launcher": "joblib"}]),
])
def test_hydra_instruction_keys_refused(key, value):
    cfg = _base()
    cfg[key] = value
    assert f"root key `{key}`" in refusal(cfg)


def test_convert_and_recursive_do_not_hide_a_nested_target():
    cfg = _base()
    cfg["model"] = {"_target_": "expkit.models.regression.LinearRegressor", "_recursive_": False, "_convert_": "all",
                    "inner": {"_target_": "builtins.open", "file": "x", "mode": "w"}}
    assert "`model.inner._target_`" in refusal(cfg)


@pytest.mark.parametrize("value,resolver", [
    ("${expkit_stamp:/tmp/expkit-trust-stamp}", "expkit_stamp"),
    ("${oc.env:HOME}", "oc.env"),
    ("https://example.org/?k=${oc.env:SECRET,x}", "oc.env"),
    ("${oc.decode:'{_target_: builtins.print}'}", "oc.decode"),
    ("${oc.create:{_target_:builtins.print}}", "oc.create"),
    ("${oc.select:missing,{_target_:builtins.print}}", "oc.select"),
    ("${now:%H}", "now"),
    ("${expkit_data:${oc.env:X}}", "oc.env"),
    ("${my_custom_resolver:1}", "my_custom_resolver"),
])
def test_resolvers_refused(value, resolver):
    message = refusal({"paths": {"data_dir": value}})
    assert "`paths.data_dir`" in message and f"`{resolver}`" in message


def test_a_dict_literal_passed_to_an_allowed_resolver_is_refused():
    assert "dict or list literal" in refusal({"x": "${hydra:runtime,{_target_:builtins.print}}"})


@pytest.mark.parametrize("where", ["list", "args"])
def test_interpolations_in_lists_are_checked(where):
    cfg = _base()
    if where == "list":
        cfg["data"]["paths"] = ["ok", "${oc.env:HOME}"]
        key = "data.paths[1]"
    else:
        cfg["optimizer"]["_args_"] = ["${oc.env:HOME}"]
        key = "optimizer._args_[0]"
    assert f"`{key}`" in refusal(cfg)


def test_an_interpolated_target_is_refused():
    cfg = {"name": "builtins.print", "model": {"_target_": "${name}"}}
    assert "computed by an interpolation" in refusal(cfg)


def test_an_unparsable_interpolation_is_refused():
    assert "not a valid interpolation" in refusal({"x": "${oc.env:HOME"})


def test_stamp_resolver_not_resolved_by_the_check(tmp_path):
    register_resolvers()
    folder = tmp_path / "stamped"
    cfg = OmegaConf.create({"paths": {"output_root": f"${{expkit_stamp:{folder}}}"}})
    refusal(cfg)
    assert not folder.exists()


@pytest.mark.parametrize("value", [
    "${paths.run_dir}/checkpoints", "${hydra:runtime.output_dir}", "${expkit_data:dbpedia_sample/sample.csv}",
    "${..x}", "${monitor.metric}", "\\${oc.env:HOME}", "plain $ text {x}",
])
def test_key_references_and_file_resolvers_pass(value):
    check_config_targets({"paths": {"x": value}}, SOURCE)


def test_a_deeply_nested_payload_is_found():
    node: dict = {"_target_": "builtins.open", "file": "x", "mode": "w"}
    for _ in range(5000):
        node = {"a": [node]}
    assert "builtins.open" in refusal({"model": node})


# -------------------------------------------------------------------------------------- exports

EXPORT = {
    "library_name": "expkit",
    "architecture": "expkit.models.text.EmbeddingBagClassifier",
    "model_args": {"embed_dim": 8, "sparse": True, "init_range": 0.5, "vocab_size": 10, "num_classes": 3, "padding_idx": 1},
    "class_names": ["a", "b", "c"],
}


def export_refusal(config, trusted=()) -> str:
    with pytest.raises(UntrustedConfigError) as err:
        check_export_config(config, "export/config.json", trusted)
    assert "\n" not in str(err.value) and str(err.value).startswith("export/config.json")
    return str(err.value)


def test_an_export_of_an_expkit_model_passes():
    check_export_config(EXPORT, "export/config.json")
    check_architecture("expkit.models.regression.MLPRegressor", "export/config.json")


@pytest.mark.parametrize("architecture", [
    "builtins.print", "builtins.open", "torch.load", "numpy.load", "os.system",
    "expkit.tasks.classification.ClassificationTask",  # a task, not a model
    "expkit.data.text.TextClassificationDataModule", "torch.optim.SGD", "pytorch_lightning.Trainer",
    "expkit.models.text.torch.load", "expkit.models.text.nn.Linear", "expkit.modelsx.Net", None, 3,
])
def test_an_export_architecture_off_the_list_is_refused(architecture):
    message = export_refusal({**EXPORT, "architecture": architecture})
    assert "`architecture`" in message and repr(architecture) in message


def test_an_export_architecture_of_a_trusted_module(user_pkg):
    config = {**EXPORT, "architecture": "trustpkg_user.models.Net", "model_args": {"width": 2}}
    assert "--trust-module trustpkg_user" in export_refusal(config)
    check_export_config(config, "export/config.json", ["trustpkg_user"])


@pytest.mark.parametrize("model_args,key", [
    ({"embed_dim": {"_target_": "builtins.open", "file": "x", "mode": "w"}}, "model_args.embed_dim._target_"),
    ({"_target_": "builtins.print"}, "model_args._target_"),
    ({"_partial_": True}, "model_args._partial_"),
    ({"_args_": [1]}, "model_args._args_"),
    ({"layers": [{"_recursive_": False}]}, "model_args.layers[0]._recursive_"),
    ({"embed_dim": "${oc.env:HOME}"}, "model_args.embed_dim"),
    ({"embed_dim": "${vocab_size}"}, "model_args.embed_dim"),
])
def test_an_export_model_args_hold_plain_values(model_args, key):
    assert f"`{key}`" in export_refusal({**EXPORT, "model_args": model_args})


# ------------------------------------------------------------------- every real config passes

GROUPS = sorted(p.name for p in conf_dir().iterdir() if p.is_dir() and p.name != "hydra")
OPTIONS = [(group, f.stem) for group in GROUPS for f in sorted((conf_dir() / group).glob("*.yaml"))]
EXPERIMENTS = sorted(f.stem for f in experiments_dir().glob("*.yaml"))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_option_of_every_experiment_passes(tmp_path, experiment):
    """The snapshot form (unresolved, `${hydra:...}` and `${expkit_data:...}` kept) and the
    resolved form of every experiment with every option of every group."""
    register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        for group, option in OPTIONS:
            choice = f"{group}={option}"
            cfg = compose("train", overrides=[f"experiment={experiment}", choice])
            check_config_targets(cfg, f"{experiment} + {choice}")
            # What `train` writes to resolved.yaml (`name` and the run folder come from Hydra at run time).
            cfg.name, cfg.paths.run_dir = "test", str(tmp_path)
            OmegaConf.resolve(cfg)
            check_config_targets(OmegaConf.create(OmegaConf.to_yaml(cfg)), f"{experiment} + {choice} (resolved)")
    GlobalHydra.instance().clear()


def test_the_repository_conf_files_pass_one_by_one():
    # Each building block as written (the defaults lists of conf/ are the user's own).
    for path in sorted(conf_dir().rglob("*.yaml")) + sorted(experiments_dir().glob("*.yaml")):
        # conf/hydra/** (launchers too) and the searches configure Hydra itself: never a run's snapshot.
        inside_conf = path.relative_to(conf_dir()).parts if path.is_relative_to(conf_dir()) else ()
        if inside_conf[:1] in (("hydra",), ("hparams_search",)) or path.name == "train.yaml":
            continue
        cfg = OmegaConf.load(path)
        cfg.pop("defaults", None)
        check_config_targets(cfg, str(path))
