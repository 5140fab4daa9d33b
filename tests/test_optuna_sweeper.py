"""The Optuna sweeper in-process: its search space, samplers and pruners, and searches of plain
Hydra apps (a task function returning numbers), as with Hydra's own Optuna plugin."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser

from expkit.run.search_algorithms import PRUNERS, SAMPLERS, make_pruner, make_sampler
from hydra_plugins.expkit_optuna_sweeper.search_space import grid_values, to_distribution
from hydra_plugins.expkit_optuna_sweeper.sweeper import ExpkitOptunaSweeper

# Hydra scans (and re-imports) hydra_plugins modules: errors are matched by text, not class.
pytestmark = pytest.mark.usefixtures("hydra_restore_singletons")


@pytest.mark.parametrize("sweep", ["range(0,1,step=0.3)", "range(0.01,0.1,step=0.02)", "range(1,10,step=3)",
                                   "range(10,0,step=-3)", "range(5)", "range(0.5,2.5,step=0.5)"])
def test_a_range_holds_every_value_hydras_basic_sweeper_runs(sweep):
    override = OverridesParser.create().parse_override(f"x={sweep}")
    hydra_values = list(override.sweep_iterator())
    distribution = to_distribution(override)
    assert all(distribution._contains(v) for v in hydra_values), (distribution, hydra_values)
    # ... and nothing else: the grid of the range is Hydra's list (to float precision).
    grid = grid_values("x", distribution)
    assert sorted(grid) == pytest.approx(sorted(hydra_values))
    assert max(grid) == pytest.approx(max(hydra_values)) and min(grid) == pytest.approx(min(hydra_values))


def test_interval_is_continuous_and_tag_log_is_log_scale_as_before():
    parse = OverridesParser.create().parse_override
    assert to_distribution(parse("x=interval(0.1,1)")).log is False
    log_scale = to_distribution(parse("x=tag(log,interval(0.0001,1))"))
    assert log_scale.log and log_scale.low == 0.0001 and log_scale.step is None
    with pytest.raises(ValueError, match="an interval has no list of values"):
        grid_values("x", log_scale)
    with pytest.raises(ValueError, match="holds no value"):
        to_distribution(parse("x=range(3,3)"))


def sweeper(**options):
    defaults = dict(metric=None, direction=None, n_trials=4, n_jobs=1, sampler="tpe", sampler_args={}, seed=1,
                    pruner="median", pruner_args={}, pruner_warmup_epochs=1, max_failure_rate=0.0, storage=None,
                    study_name=None, custom_search_space=None, params={})
    return ExpkitOptunaSweeper(**{**defaults, **options})


def test_a_key_given_on_the_command_line_leaves_the_search_space():
    search = sweeper(params={"optimizer": "choice(sgd, adam)", "data.batch_size": "choice(16, 32, 64)",
                             "optimizer.lr": "tag(log, interval(0.001, 0.5))"})
    space, fixed = search.search_space(["optimizer=adam", "data.batch_size=32", "model.hidden=8,16"])
    assert set(space) == {"optimizer.lr", "model.hidden"}
    assert [o.input_line for o in fixed] == ["optimizer=adam", "data.batch_size=32"]


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_each_sampler_is_made_by_its_name_with_the_seed(name):
    import optuna

    sampler = make_sampler(name, {}, 7, {"x": [1, 2]} if name == "grid" else None)
    assert isinstance(sampler, optuna.samplers.BaseSampler) and type(sampler).__name__.lower().startswith(
        {"tpe": "tpe", "random": "random", "grid": "grid", "cmaes": "cmaes", "qmc": "qmc", "nsga2": "nsgaii"}[name])


@pytest.mark.parametrize("name", list(PRUNERS))
def test_each_pruner_is_made_by_its_name(name):
    import optuna

    assert isinstance(make_pruner(name, {}, warmup=1), optuna.pruners.BasePruner)


def test_unknown_names_and_arguments_are_refused_with_what_is_accepted():
    with pytest.raises(ValueError, match="sampler=grdi is not one of .*: tpe, random, grid, cmaes, qmc, nsga2"):
        make_sampler("grdi", {}, 1, None)
    with pytest.raises(ValueError, match="pruner=hyperbnd .*: median, percentile, successive_halving, hyperband, none"):
        make_pruner("hyperbnd", {}, 1)
    with pytest.raises(ValueError, match="sampler_args.n_startup_trails: TPESampler .* accepts: .*n_startup_trials"):
        make_sampler("tpe", {"n_startup_trails": 3}, 1, None)
    with pytest.raises(ValueError, match="pruner=percentile: PercentilePruner refused its arguments"):
        make_pruner("percentile", {"percentile": 250.0}, 1)


# -- searches of a plain Hydra app (Hydra's test app: foo=10, bar=100) ------------------------

def search(hydra_sweep_runner, tmp_path, task, *overrides):
    return hydra_sweep_runner(calling_file=None, calling_module="hydra.test_utils.a_module", task_function=task,
                              config_path="configs", config_name="compose.yaml", temp_dir=str(tmp_path),
                              overrides=["hydra/sweeper=expkit_optuna", *overrides])


def square(cfg):
    return (cfg.x - 0.3) ** 2 + cfg.y


def test_a_plain_app_returning_a_float_is_searched_and_the_seed_repeats_the_search(hydra_sweep_runner, tmp_path):
    runs = []
    for folder in ("a", "b"):
        with search(hydra_sweep_runner, tmp_path / folder, square, "hydra.sweeper.n_trials=5", "+x=interval(-1,1)",
                    "+y=range(0,1,step=0.3)") as sweep:
            runs.append(sweep.returns)
            best = yaml.safe_load((Path(sweep.temp_dir) / "optuna_best.yaml").read_text())
            assert best["best_value"] == sweep.returns["best_value"]
            assert (Path(sweep.temp_dir) / "multirun.yaml").is_file()
    first, second = runs
    assert first["n_trials"] == 5 and first["n_complete"] == 5 and first["direction"] == "minimize"
    assert first["best_params"] == second["best_params"] and first["best_value"] == second["best_value"]


def test_several_objectives_give_the_pareto_front(hydra_sweep_runner, tmp_path):
    def two(cfg):
        return [cfg.x ** 2, (cfg.x - 1) ** 2]

    with search(hydra_sweep_runner, tmp_path, two, "hydra.sweeper.n_trials=6", "+x=interval(-1,2)",
                "hydra.sweeper.direction=[minimize,minimize]") as sweep:
        result = sweep.returns
    assert result["directions"] == ["minimize", "minimize"] and "best_trial" not in result
    front = result["pareto_front"]
    assert front and all(set(point["values"]) == {"value 0", "value 1"} for point in front)
    # No point of the front is beaten on both objectives by another trial's values.
    values = [tuple(p["values"].values()) for p in front]
    assert not any(all(o < v for o, v in zip(other, point)) for point in values for other in values)


def test_a_failed_trial_stops_the_search_unless_the_failure_budget_allows_it(hydra_sweep_runner, tmp_path, capsys):
    def fails_above_half(cfg):
        if cfg.x > 0.5:
            raise RuntimeError("diverged")
        return cfg.x

    storage = tmp_path / "study.journal"
    with pytest.raises(SystemExit) as stopped:
        with search(hydra_sweep_runner, tmp_path / "strict", fails_above_half, "+x=range(0,1,step=0.25)",
                    "hydra.sweeper.sampler=grid", f"hydra.sweeper.storage={storage}", "hydra.sweeper.study_name=s"):
            pass
    assert stopped.value.code == 1
    err = capsys.readouterr().err
    assert "more than hydra.sweeper.max_failure_rate=0.0 allows: the search stopped" in err
    import optuna

    from expkit.run.study import open_storage

    trials = optuna.load_study(study_name="s", storage=open_storage(str(storage))).trials
    assert trials[-1].state == optuna.trial.TrialState.FAIL and trials[-1].params["+x"] > 0.5
    assert sum(t.state == optuna.trial.TrialState.FAIL for t in trials) == 1

    with search(hydra_sweep_runner, tmp_path / "lenient", fails_above_half, "+x=range(0,1,step=0.25)",
                "hydra.sweeper.sampler=grid", "hydra.sweeper.max_failure_rate=0.5") as sweep:
        result = sweep.returns
    assert result["n_trials"] == 4 and result["n_failed"] == 1 and result["n_complete"] == 3


def test_a_return_value_the_search_cannot_use_is_one_paragraph(hydra_sweep_runner, tmp_path, capsys):
    with pytest.raises(SystemExit) as refused:
        with search(hydra_sweep_runner, tmp_path, lambda cfg: "good", "+x=interval(0,1)"):
            pass
    assert refused.value.code == 2
    (line,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert "trial 0: the task function returned 'good' (str); the Optuna sweeper needs a number" in line


def test_an_interrupted_trial_is_failed_in_the_study_and_the_search_continues(hydra_sweep_runner, tmp_path):
    import optuna

    from expkit.run.study import open_storage

    storage = str(tmp_path / "study.journal")
    calls = []

    def interrupted_second(cfg):
        calls.append(cfg.x)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return cfg.x

    options = ["+x=interval(0,1)", "hydra.sweeper.n_trials=3", f"hydra.sweeper.storage={storage}",
               "hydra.sweeper.study_name=s"]
    with pytest.raises(KeyboardInterrupt):
        with search(hydra_sweep_runner, tmp_path / "first", interrupted_second, *options):
            pass
    study = optuna.load_study(study_name="s", storage=open_storage(storage))
    assert [t.state.name for t in study.trials] == ["COMPLETE", "FAIL"]
    # What a trial's own process builds its pruner from (OptunaPruning).
    assert study.user_attrs["pruner"] == {"name": "median", "args": {}, "warmup": 1}
    with search(hydra_sweep_runner, tmp_path / "again", interrupted_second, *options) as sweep:
        assert sweep.returns["n_complete"] == 3 and sweep.returns["n_failed"] == 1


def test_a_trial_left_running_by_a_killed_search_is_failed_when_the_study_continues(hydra_sweep_runner, tmp_path):
    import optuna

    from expkit.run.study import open_storage

    storage = str(tmp_path / "study.journal")
    study = optuna.create_study(study_name="s", storage=open_storage(storage))
    study.ask()  # as kill -9 leaves it: RUNNING, with nobody running it
    with search(hydra_sweep_runner, tmp_path / "sweep", square, "+x=interval(0,1)", "+y=0",
                "hydra.sweeper.n_trials=2", f"hydra.sweeper.storage={storage}", "hydra.sweeper.study_name=s"):
        pass
    states = [t.state.name for t in optuna.load_study(study_name="s", storage=open_storage(storage)).trials]
    assert states == ["FAIL", "COMPLETE", "COMPLETE"]


def test_a_custom_search_space_function_adds_conditional_parameters(hydra_sweep_runner, tmp_path):
    with search(hydra_sweep_runner, tmp_path, lambda cfg: cfg.x + cfg.get("z", 0), "+x=choice(0,1)",
                "hydra.sweeper.n_trials=4",
                f"hydra.sweeper.custom_search_space={__name__}.z_when_x_is_one") as sweep:
        result = sweep.returns
    assert result["n_complete"] == 4


def z_when_x_is_one(cfg, trial):
    if trial.params["+x"] == 1:  # the params are named by the override's key
        trial.suggest_float("+z", 0.0, 1.0)


def test_job_folder_names_stay_one_valid_path_component():
    from expkit.run.job_folder import MAX_NAME_BYTES, job_folder_name

    assert job_folder_name("0_monitor.metric=val/mae") == "0_monitor.metric=val%2Fmae"
    assert job_folder_name("3_lr=0.1") == "3_lr=0.1"
    long = "12_" + ",".join(f"key{i}=välue/{i}" for i in range(60))
    name = job_folder_name(long)
    assert len(name.encode()) <= MAX_NAME_BYTES and name.startswith("12_key0=") and "/" not in name
    assert name == job_folder_name(long) and name != job_folder_name(long + "x")
    (Path("/tmp") / name).mkdir(exist_ok=True)  # the file system takes it
    (Path("/tmp") / name).rmdir()


def test_a_trials_own_process_prunes_with_the_pruner_its_search_chose(tmp_path):
    """The pruning callback runs in the job's process (another node with hydra/launcher=slurm):
    it must judge with the search's pruner, not the MedianPruner() that load_study gives, which
    waits for five finished trials."""
    import optuna

    from expkit.run.pruning import OptunaPruning
    from expkit.run.study import open_storage

    storage = str(tmp_path / "study.journal")
    study = optuna.create_study(study_name="s", storage=open_storage(storage))
    study.set_user_attr("pruner", {"name": "percentile", "args": {"percentile": 40.0}, "warmup": 3})
    for value in (1.0, 2.0):  # two finished trials: enough for expkit's percentile pruner
        trial = study.ask()
        trial.report(value, step=0)
        study.tell(trial, value)
    study.ask()
    callback = OptunaPruning(storage, "s", number=2, metric="val/loss", warmup=1)
    pruner = callback.trial.study.pruner
    assert isinstance(pruner, optuna.pruners.PercentilePruner)
    assert pruner._percentile == 40.0 and pruner._n_startup_trials == 2 and pruner._n_warmup_steps == 3
    callback.trial.report(5.0, step=0)
    assert not callback.trial.should_prune()  # step 0 < 3 warm-up steps


@pytest.mark.parametrize("damage, said", [
    (lambda text: text[:-20], "its last record (line 6) is cut off"),
    (lambda text: text + "this is not json {{{\n", "line 7 of its 7 lines is not an Optuna journal record"),
])
def test_a_damaged_journal_is_refused_and_left_as_it_is(hydra_sweep_runner, tmp_path, capsys, damage, said):
    storage = tmp_path / "study.journal"
    options = ["+x=interval(0,1)", f"hydra.sweeper.storage={storage}", "hydra.sweeper.study_name=s"]
    with search(hydra_sweep_runner, tmp_path / "first", lambda cfg: cfg.x, *options, "hydra.sweeper.n_trials=1"):
        pass
    assert len(storage.read_text().splitlines()) == 6  # the study made, one trial's records
    damaged = damage(storage.read_text())
    storage.write_text(damaged)
    with pytest.raises(SystemExit) as refused:
        with search(hydra_sweep_runner, tmp_path / "again", lambda cfg: cfg.x, *options, "hydra.sweeper.n_trials=3"):
            pass
    assert refused.value.code == 2
    err = capsys.readouterr().err
    assert said in err and "cannot be used" in err, err
    assert storage.read_text() == damaged
